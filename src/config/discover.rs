//! Where configs live and how a name finds one: the search directories, the
//! embedded set, arch-spelling aliases and "did you mean" suggestions.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::error::{ConfigError, Origin};
use crate::arch::Arch;

/// The repo's `configs/` folder. Cargo rebuilds when a file in it changes;
/// after adding or removing a file, touch this source file (the
/// `embedded_set_matches_the_configs_folder` test catches a stale build).
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/configs");

/// The text of an embedded file, by its path inside `configs/`.
pub(crate) fn embedded_file(rel: &str) -> Option<&'static str> {
    EMBEDDED.get_file(rel).and_then(|f| f.contents_utf8())
}

/// The directories searched for `NAME.toml` before the embedded set, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDirs {
    user: Option<PathBuf>,
    system: Option<PathBuf>,
}

impl ConfigDirs {
    /// `$XDG_CONFIG_HOME/brt` (or `$HOME/.config/brt`), then `/etc/brt`.
    pub fn from_env() -> Self {
        let user = user_dir(
            std::env::var_os("XDG_CONFIG_HOME"),
            std::env::var_os("HOME"),
        );
        ConfigDirs::new(user, Some(PathBuf::from("/etc/brt")))
    }

    /// Explicit directories (tests, or a caller with its own policy).
    /// `None` skips that level; the embedded set is always searched last.
    pub fn new(user: Option<PathBuf>, system: Option<PathBuf>) -> Self {
        ConfigDirs { user, system }
    }

    pub fn user(&self) -> Option<&Path> {
        self.user.as_deref()
    }

    pub fn system(&self) -> Option<&Path> {
        self.system.as_deref()
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.user
            .iter()
            .chain(self.system.iter())
            .map(PathBuf::as_path)
    }

    fn describe(&self) -> Vec<String> {
        self.dirs()
            .map(|d| format!("`{}`", d.display()))
            .chain(["the embedded configs".to_string()])
            .collect()
    }
}

/// The XDG rule: `$XDG_CONFIG_HOME` if set and absolute, else `$HOME/.config`.
fn user_dir(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".config"))
    })?;
    Some(base.join("brt"))
}

/// Find the config `name`, trying the other spellings of a trailing arch
/// component when the name itself is nowhere. Returns the canonical name (the
/// found file's stem) and where it is.
pub(crate) fn find(name: &str, dirs: &ConfigDirs) -> Result<(String, Origin), ConfigError> {
    if !name.is_empty() {
        for candidate in spellings(name) {
            if let Some(origin) = find_exact(&candidate, dirs) {
                return Ok((candidate, origin));
            }
        }
    }
    let known: Vec<String> = list(dirs).into_iter().map(|(n, _)| n).collect();
    Err(ConfigError::NotFound {
        name: name.to_string(),
        searched: dirs.describe(),
        suggestions: suggestions(name, &known),
    })
}

fn find_exact(name: &str, dirs: &ConfigDirs) -> Option<Origin> {
    let file = format!("{name}.toml");
    dirs.dirs()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .map(Origin::File)
        .or_else(|| embedded_file(&file).map(|_| Origin::Embedded(file)))
}

/// `name` first, then `name` with its last `-` component replaced by every
/// other spelling of that arch (`x-arm64` → `x-aarch64`).
fn spellings(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    let Some((stem, last)) = name.rsplit_once('-') else {
        return out;
    };
    let Some(arch) = Arch::find(last) else {
        return out;
    };
    for spelling in arch.spellings() {
        let candidate = format!("{stem}-{spelling}");
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// Every loadable config: `*.toml` directly in a search dir or at the top of
/// the embedded set (templates live in subfolders and are not listed). Earlier
/// levels shadow later ones. Sorted by name.
pub fn list(dirs: &ConfigDirs) -> Vec<(String, Origin)> {
    let mut found: BTreeMap<String, Origin> = BTreeMap::new();
    for dir in dirs.dirs() {
        // A missing or unreadable directory simply holds no configs.
        let Ok(entries) = fs_err::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match config_name(&path) {
                Some(name) if path.is_file() => {
                    found.entry(name).or_insert(Origin::File(path));
                }
                _ => {}
            }
        }
    }
    for file in EMBEDDED.files() {
        if let Some(name) = config_name(file.path()) {
            let rel = file.path().to_string_lossy().into_owned();
            found.entry(name).or_insert(Origin::Embedded(rel));
        }
    }
    found.into_iter().collect()
}

/// `NAME` for a visible `NAME.toml`.
fn config_name(path: &Path) -> Option<String> {
    if path.extension()? != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_string())
}

/// Up to three known names closest to `name` by edit distance (counting the
/// best arch spelling), best first. A name missing only its arch
/// (`fedora-rawhide`) counts as one edit away from each arch's config.
fn suggestions(name: &str, known: &[String]) -> Vec<String> {
    let tries = spellings(name);
    let prefix = format!("{name}-");
    let distance = |k: &String| {
        if k.starts_with(&prefix) {
            return 1;
        }
        tries
            .iter()
            .map(|t| levenshtein(t, k))
            .min()
            .unwrap_or(usize::MAX)
    };
    let mut scored: Vec<(usize, &String)> = known.iter().map(|k| (distance(k), k)).collect();
    scored.sort();
    let limit = (name.chars().count() / 3).max(2);
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored
        .into_iter()
        .filter(|(d, _)| *d <= limit && *d <= best + 1)
        .take(3)
        .map(|(_, k)| k.clone())
        .collect()
}

/// Edit distance in characters (insert, delete, substitute).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits() {
        let cases = [
            ("", "", 0),
            ("abc", "", 3),
            ("", "ab", 2),
            ("kitten", "sitting", 3),
            ("fedora-rawhide", "fedora-rawhid", 1),
            ("flaw", "lawn", 2),
            ("é", "e", 1),
        ];
        for (a, b, d) in cases {
            assert_eq!(levenshtein(a, b), d, "{a} / {b}");
            assert_eq!(levenshtein(b, a), d, "{b} / {a}");
        }
    }

    #[test]
    fn user_dir_follows_xdg() {
        let cases: [(Option<&str>, Option<&str>, Option<&str>); 5] = [
            (Some("/x"), Some("/home/u"), Some("/x/brt")),
            (None, Some("/home/u"), Some("/home/u/.config/brt")),
            // Relative XDG paths are ignored, as the spec says.
            (Some("rel"), Some("/home/u"), Some("/home/u/.config/brt")),
            (Some(""), Some("/home/u"), Some("/home/u/.config/brt")),
            (None, None, None),
        ];
        for (xdg, home, expected) in cases {
            assert_eq!(
                user_dir(xdg.map(Into::into), home.map(Into::into)),
                expected.map(PathBuf::from),
                "{xdg:?} {home:?}"
            );
        }
    }

    #[test]
    fn spellings_try_every_name_of_a_trailing_arch() {
        let cases: [(&str, &[&str]); 5] = [
            (
                "debian-bookworm-aarch64",
                &["debian-bookworm-aarch64", "debian-bookworm-arm64"],
            ),
            (
                "fedora-rawhide-arm64",
                &["fedora-rawhide-arm64", "fedora-rawhide-aarch64"],
            ),
            ("x-ppc64el", &["x-ppc64el", "x-ppc64le"]),
            ("debian-trixie-s390x", &["debian-trixie-s390x"]),
            ("no-arch-here", &["no-arch-here"]),
        ];
        for (name, expected) in cases {
            assert_eq!(spellings(name), expected, "{name}");
        }
    }

    #[test]
    fn suggestions_are_the_closest_few() {
        let known: Vec<String> = [
            "fedora-rawhide-aarch64",
            "fedora-rawhide-x86_64",
            "fedora-43-aarch64",
            "debian-trixie-arm64",
            "ubuntu-noble-amd64",
        ]
        .map(String::from)
        .to_vec();
        let cases: [(&str, &[&str]); 6] = [
            ("fedora-rawhid-aarch64", &["fedora-rawhide-aarch64"]),
            (
                "fedora-rawhide",
                &["fedora-rawhide-aarch64", "fedora-rawhide-x86_64"],
            ),
            // The arch spelling does not count against a name.
            ("fedora-rawhid-arm64", &["fedora-rawhide-aarch64"]),
            ("fedora-42-aarch64", &["fedora-43-aarch64"]),
            ("debian-trixie-aarch64", &["debian-trixie-arm64"]),
            ("gentoo", &[]),
        ];
        for (name, expected) in cases {
            assert_eq!(suggestions(name, &known), expected, "{name}");
        }
    }

    #[test]
    fn config_names_are_visible_toml_files() {
        let cases = [
            ("/etc/brt/a.toml", Some("a")),
            ("/etc/brt/a.toml.bak", None),
            ("/etc/brt/.hidden.toml", None),
            ("/etc/brt/README", None),
        ];
        for (path, expected) in cases {
            assert_eq!(config_name(Path::new(path)).as_deref(), expected, "{path}");
        }
    }

    /// Adding a file to `configs/` does not rebuild the embedded set by
    /// itself; this catches a binary that ships a stale set.
    #[test]
    fn embedded_set_matches_the_configs_folder() {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in fs_err::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded = Vec::new();
        fn walk_embedded(dir: &Dir<'_>, out: &mut Vec<String>) {
            for f in dir.files() {
                out.push(f.path().to_string_lossy().into_owned());
            }
            for d in dir.dirs() {
                walk_embedded(d, out);
            }
        }
        walk_embedded(&EMBEDDED, &mut embedded);
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "touch src/config/discover.rs to re-embed configs/"
        );
        for rel in &embedded {
            assert_eq!(
                embedded_file(rel).map(str::len),
                Some(fs_err::read_to_string(root.join(rel)).unwrap().len()),
                "{rel} is stale: touch src/config/discover.rs"
            );
        }
    }
}
