//! Debian source control files (`.dsc`): the files a source package is
//! made of, checked against their SHA-256, its architectures and its build
//! dependencies, reduced for one architecture as `dpkg-checkbuilddeps` does.

use std::path::{Path, PathBuf};

use super::{BuildError, sha256_file};
use crate::repo::apt::deb822::Paragraphs;

#[derive(Debug, Clone)]
pub struct Dsc {
    /// `source_version`
    pub name: String,
    /// `Architecture:` (`any`, `all`, `linux-any`, `amd64 arm64`, …).
    pub architectures: Vec<String>,
    /// `Build-Depends`, `-Arch` and `-Indep`, comma-separated relations.
    pub build_depends: Vec<String>,
    /// The files the `.dsc` lists, next to it on the host, checked.
    pub files: Vec<PathBuf>,
}

impl Dsc {
    /// Reads `path` and checks every file it lists against its SHA-256.
    pub fn read(path: &Path) -> Result<Dsc, BuildError> {
        let bad = |why: String| BuildError::BadInput {
            path: path.to_path_buf(),
            source: why.into(),
        };
        let text = fs_err::read_to_string(path).map_err(|source| BuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = strip_signature(&text);
        let para = Paragraphs::new(&text)
            .flatten()
            .next()
            .ok_or_else(|| bad("it has no fields".into()))?;
        let field = |name: &str| para.get(name).map(str::trim);
        let (Some(source), Some(version)) = (field("Source"), field("Version")) else {
            return Err(BuildError::NotSource {
                path: path.to_path_buf(),
                what: "Debian source control file (no `Source` and `Version`)",
            });
        };
        let sums = field("Checksums-Sha256")
            .ok_or_else(|| bad("it has no `Checksums-Sha256` field".into()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut files = Vec::new();
        for line in sums.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut f = line.split_whitespace();
            let (Some(sum), Some(_size), Some(name), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad(format!("bad `Checksums-Sha256` line `{line}`")));
            };
            if name.contains('/') || name.starts_with('.') {
                return Err(bad(format!(
                    "it lists the file `{name}`, which is not a plain name"
                )));
            }
            let file = dir.join(name);
            let got = sha256_file(&file).map_err(|source| BuildError::Read {
                path: file.clone(),
                source,
            })?;
            if !got.eq_ignore_ascii_case(sum) {
                return Err(bad(format!(
                    "`{name}` does not match its SHA-256 in the .dsc (got {got})"
                )));
            }
            files.push(file);
        }
        let version = version.split_once(':').map_or(version, |(_, v)| v);
        Ok(Dsc {
            name: format!("{source}_{version}"),
            architectures: field("Architecture")
                .unwrap_or("any")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            build_depends: ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"]
                .iter()
                .filter_map(|f| field(f))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect(),
            files,
        })
    }

    /// Whether the package builds anything for `arch`.
    pub fn builds_for(&self, arch: &str) -> bool {
        self.architectures
            .iter()
            .any(|a| a == "all" || arch_matches(a, arch))
    }

    /// The build dependencies for `arch` with no build profile active: one
    /// relation (`a | b (>= 1)`) per entry, as the resolver takes them.
    pub fn relations(&self, arch: &str) -> Vec<String> {
        self.build_depends
            .iter()
            .flat_map(|field| field.split(','))
            .filter_map(|rel| reduce(rel, arch))
            .collect()
    }
}

/// The signed text of a clearsigned file, or the file as it is.
fn strip_signature(text: &str) -> String {
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return text.to_string();
    }
    let body = text.split_once("\n\n").map_or("", |(_, b)| b);
    body.lines()
        .take_while(|l| !l.starts_with("-----BEGIN PGP SIGNATURE-----"))
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Does the Debian architecture wildcard or name `pattern` match `arch`?
/// `any`, `linux-any`, `any-arm64`, and plain names.
pub fn arch_matches(pattern: &str, arch: &str) -> bool {
    match pattern {
        "any" | "linux-any" => true,
        p => p == arch || p.strip_prefix("any-") == Some(arch),
    }
}

/// One relation with its alternatives reduced for `arch`: alternatives
/// restricted to other architectures (`[amd64]`, `[!arm64]`) or to active
/// build profiles (`<nocheck>`, no profile being active) dropped, and
/// `:any`/`:native` qualifiers removed. `None` when nothing is left.
fn reduce(relation: &str, arch: &str) -> Option<String> {
    let mut kept = Vec::new();
    for alt in relation.split('|') {
        let alt = alt.trim();
        if alt.is_empty() {
            continue;
        }
        let mut text = alt.to_string();
        if let (Some(open), Some(close)) = (text.find('['), text.find(']')) {
            let list: Vec<&str> = text[open + 1..close].split_whitespace().collect();
            let negated = list.iter().all(|a| a.starts_with('!'));
            let hit = list
                .iter()
                .any(|a| arch_matches(a.trim_start_matches('!'), arch));
            if negated == hit {
                continue;
            }
            text.replace_range(open..=close, "");
        }
        // `<!nocheck> <cross>`: one term list per `<…>`; the alternative
        // stays when any list holds with no profile active, i.e. when a
        // list has only negated terms.
        if let Some(start) = text.find('<') {
            let lists = &text[start..];
            let holds = lists
                .split('<')
                .filter_map(|l| l.split('>').next())
                .filter(|l| !l.trim().is_empty())
                .any(|l| l.split_whitespace().all(|t| t.starts_with('!')));
            if !holds {
                continue;
            }
            text.truncate(start);
        }
        let text = text
            .replace(":any", "")
            .replace(":native", "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        kept.push(text);
    }
    (!kept.is_empty()).then(|| kept.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_are_reduced_for_the_arch_with_no_profile() {
        let dsc = Dsc {
            name: "x_1".into(),
            architectures: vec!["any".into()],
            build_depends: vec![
                "debhelper-compat (= 13), libfoo-dev [amd64], libbar-dev [!amd64 !i386], \
                 python3:any, check <!nocheck>, cross-thing <cross>, a | b [arm64] | c [amd64]"
                    .into(),
                "texinfo".into(),
            ],
            files: Vec::new(),
        };
        assert_eq!(
            dsc.relations("arm64"),
            [
                "debhelper-compat (= 13)",
                "libbar-dev",
                "python3",
                "check",
                "a | b",
                "texinfo"
            ]
        );
        assert!(dsc.relations("amd64").contains(&"libfoo-dev".to_string()));
        assert!(!dsc.relations("amd64").contains(&"libbar-dev".to_string()));
    }

    #[test]
    fn architectures() {
        assert!(arch_matches("linux-any", "arm64"));
        assert!(arch_matches("any-arm64", "arm64"));
        assert!(!arch_matches("any-amd64", "arm64"));
        let mut dsc = Dsc {
            name: "x_1".into(),
            architectures: vec!["amd64".into(), "i386".into()],
            build_depends: Vec::new(),
            files: Vec::new(),
        };
        assert!(!dsc.builds_for("arm64"));
        dsc.architectures.push("all".into());
        assert!(dsc.builds_for("arm64"));
    }

    #[test]
    fn clearsigned_text_is_unwrapped() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nFormat: 3.0 (quilt)\nSource: hello\n- -dash\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            strip_signature(text),
            "Format: 3.0 (quilt)\nSource: hello\n-dash"
        );
    }
}
