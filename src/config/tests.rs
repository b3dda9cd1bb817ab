//! Loader tests: lookup, includes, errors with positions, the shipped configs.

use std::path::{Path, PathBuf};

use super::shipped_tests::SHIPPED;
use super::*;

/// Search dirs with nothing on disk: only the embedded set.
fn embedded_only() -> ConfigDirs {
    ConfigDirs::new(None, None)
}

/// A temp dir holding `files` (relative path, contents).
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, text).unwrap();
    }
    dir
}

fn load_path(path: &Path) -> Result<Config, ConfigError> {
    load(path.to_str().unwrap(), &embedded_only())
}

const RPM_BASE: &str = r#"
[distro]
family = "rpm"
name = "fedora"
release = "rawhide"

[install]
packages = ["a", "b"]
weak-deps = true

[[repo]]
name = "base"
baseurl = "https://example.org/${release}/${arch}/"
gpgcheck = false
"#;

#[test]
fn user_and_system_dirs_shadow_embedded_configs_in_order() {
    let user = tree(&[(
        "fedora-rawhide-aarch64.toml",
        "include = \"templates/fedora-rawhide.toml\"\narch = \"arm64\"\n",
    )]);
    let system = tree(&[
        ("fedora-rawhide-aarch64.toml", "this is not read"),
        ("mine.toml", &format!("arch = \"x86_64\"\n{RPM_BASE}")),
        ("templates/hidden.toml", RPM_BASE),
        ("notes.txt", "x"),
    ]);
    let dirs = ConfigDirs::new(Some(user.path().into()), Some(system.path().into()));
    let config = load("fedora-rawhide-arm64", &dirs).unwrap();
    let mine = user.path().join("fedora-rawhide-aarch64.toml");
    assert_eq!(config.name, "fedora-rawhide-aarch64");
    assert_eq!(config.sources.last(), Some(&Origin::File(mine.clone())));

    let listed = list(&dirs);
    let find = |name: &str| {
        listed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o.clone())
    };
    assert_eq!(find("fedora-rawhide-aarch64"), Some(Origin::File(mine)));
    assert_eq!(
        find("mine"),
        Some(Origin::File(system.path().join("mine.toml")))
    );
    assert_eq!(find("hidden"), None);
    assert_eq!(find("notes"), None);
    assert_eq!(
        find("debian-trixie-arm64"),
        Some(Origin::Embedded("debian-trixie-arm64.toml".into()))
    );
    let names: Vec<&String> = listed.iter().map(|(n, _)| n).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
}

#[test]
fn a_user_file_can_include_an_embedded_template() {
    let dir = tree(&[(
        "my.toml",
        "include = \"templates/fedora-rawhide.toml\"\narch = \"aarch64\"\n[build]\nnetwork = true\n",
    )]);
    let config = load_path(&dir.path().join("my.toml")).unwrap();
    assert_eq!(config.name, "my");
    assert!(config.build.network);
    assert_eq!(
        config.sources,
        vec![
            Origin::Embedded("templates/rpm.toml".into()),
            Origin::Embedded("templates/fedora.toml".into()),
            Origin::Embedded("templates/fedora-rawhide.toml".into()),
            Origin::File(dir.path().join("my.toml")),
        ]
    );
    // A file next to it wins over the embedded one.
    let dir = tree(&[
        (
            "my.toml",
            "include = \"templates/fedora-rawhide.toml\"\narch = \"aarch64\"\n",
        ),
        ("templates/fedora-rawhide.toml", RPM_BASE),
    ]);
    let config = load_path(&dir.path().join("my.toml")).unwrap();
    assert_eq!(config.repos[0].name, "base");
}

#[test]
fn includes_merge_in_order_with_the_including_file_on_top() {
    let dir = tree(&[
        ("base.toml", RPM_BASE),
        // mid replaces the package list but keeps weak-deps from base.
        (
            "sub/mid.toml",
            "include = \"../base.toml\"\n[install]\npackages = [\"c\"]\n[macros]\n\"%a\" = \"mid\"\n\"%b\" = \"mid\"\n",
        ),
        (
            "extra.toml",
            "[macros]\n\"%b\" = \"extra\"\n[[repo]]\nname = \"r1\"\nbaseurl = [\"https://x/${name}\"]\ngpgcheck = false\n",
        ),
        (
            "top.toml",
            "include = [\"sub/mid.toml\", \"extra.toml\"]\narch = \"aarch64\"\n[macros]\n\"%c\" = \"top-${arch}\"\n",
        ),
    ]);
    let config = load_path(&dir.path().join("top.toml")).unwrap();
    let d = dir.path();
    assert_eq!(
        config.sources,
        vec![
            Origin::File(d.join("sub/../base.toml")),
            Origin::File(d.join("sub/mid.toml")),
            Origin::File(d.join("extra.toml")),
            Origin::File(d.join("top.toml")),
        ]
    );
    assert_eq!(config.install.packages, ["c"]);
    assert!(config.install.weak_deps);
    // extra's repo list replaced base's entirely.
    let names: Vec<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r1"]);
    assert_eq!(config.repos[0].rpm().unwrap().baseurl, ["https://x/fedora"]);
    let macros: Vec<(&str, &str)> = config
        .macros
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        macros,
        [("%a", "mid"), ("%b", "extra"), ("%c", "top-aarch64")]
    );
}

#[test]
fn include_cycles_are_errors_naming_the_chain() {
    let dir = tree(&[
        ("a.toml", "include = \"b.toml\"\n"),
        ("b.toml", "include = \"./a.toml\"\n"),
        ("self.toml", "include = \"self.toml\"\n"),
        ("top.toml", "include = \"a.toml\"\n"),
    ]);
    let d = dir.path();
    let cases: [(&str, Vec<PathBuf>); 3] = [
        (
            "a.toml",
            vec![d.join("a.toml"), d.join("b.toml"), d.join("./a.toml")],
        ),
        ("self.toml", vec![d.join("self.toml"), d.join("self.toml")]),
        (
            "top.toml",
            vec![d.join("a.toml"), d.join("b.toml"), d.join("./a.toml")],
        ),
    ];
    for (start, expected) in cases {
        match load_path(&d.join(start)) {
            Err(ConfigError::IncludeCycle { chain }) => {
                assert_eq!(
                    chain,
                    expected.into_iter().map(Origin::File).collect::<Vec<_>>(),
                    "{start}"
                );
            }
            other => panic!("{start}: {other:?}"),
        }
    }
    let err = load_path(&d.join("a.toml")).unwrap_err().to_string();
    assert!(err.starts_with("include cycle: `"), "{err}");
    assert_eq!(err.matches(" → ").count(), 2, "{err}");
}

#[test]
fn a_missing_include_names_what_was_tried() {
    let dir = tree(&[("x.toml", "include = \"templates/nope.toml\"\n")]);
    let err = load_path(&dir.path().join("x.toml")).unwrap_err();
    assert!(
        matches!(err, ConfigError::IncludeNotFound { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&dir.path().join("templates/nope.toml").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains("embedded:configs/templates/nope.toml"),
        "{text}"
    );
}

#[test]
fn schema_errors_point_at_file_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        // Unknown key, in a table.
        (
            "arch = \"x86_64\"\n\n[distro]\nfamily = \"rpm\"\n\n[install]\npakages = [\"x\"]\n",
            (7, 1),
            "unknown field `pakages`, expected `packages` or `weak-deps`",
        ),
        // Unknown top-level key.
        (
            "arch = \"x86_64\"\nrepos = []\n",
            (2, 1),
            "unknown field `repos`",
        ),
        // Unknown key inside [[repo]].
        (
            "[[repo]]\nname = \"a\"\n  base-url = \"x\"\n",
            (3, 3),
            "unknown field `base-url`",
        ),
        // Wrong type.
        (
            "[install]\nweak-deps = \"yes\"\n",
            (2, 13),
            "invalid type: string \"yes\", expected a boolean",
        ),
        (
            "[[repo]]\nname = \"a\"\nbaseurl = 3\n",
            (3, 11),
            "expected a string or a list of strings",
        ),
        (
            "arch = \"x86_64\"\n\n[[repo]]\nbaseurl = \"x\"\n",
            (3, 1),
            "missing field `name`",
        ),
        (
            "include = 5\n",
            (1, 11),
            "expected a string or a list of strings",
        ),
        (
            "[macros]\n\"%x\" = 1\n",
            (2, 8),
            "invalid type: integer `1`, expected a string",
        ),
        // Values checked on their own.
        ("arch = \"sparc\"\n", (1, 8), "unknown architecture `sparc`"),
        (
            "[distro]\nfamily = \"pacman\"\n",
            (2, 10),
            "unknown variant `pacman`, expected `rpm` or `deb`",
        ),
        // TOML syntax.
        ("arch = \"x86_64\"\n[distro\nname = \"x\"\n", (2, 8), ""),
        ("a = 1\nb = \n", (2, 5), ""),
    ];
    for (text, (line, column), message) in cases {
        let dir = tree(&[("bad.toml", text)]);
        let path = dir.path().join("bad.toml");
        let err = load_path(&path).unwrap_err();
        let shown = err.to_string();
        let prefix = format!("{}:{line}:{column}: ", path.display());
        assert!(shown.starts_with(&prefix), "{text:?}: {shown}");
        assert!(shown.contains(message), "{text:?}: {shown}");
    }
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = tree(&[
        (
            "top.toml",
            "include = \"inc/base.toml\"\narch = \"x86_64\"\n",
        ),
        (
            "inc/base.toml",
            "[distro]\nfamily = \"rpm\"\n\n[build]\nuser = \"u\"\nnetwrk = true\n",
        ),
    ]);
    let err = load_path(&dir.path().join("top.toml"))
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}:6:1: unknown field `netwrk`",
        dir.path().join("inc/base.toml").display()
    );
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn merged_configs_must_be_complete_and_consistent() {
    let missing: &[(&str, &str)] = &[
        (RPM_BASE, "arch"),
        ("arch = \"x86_64\"\n", "distro"),
        (
            "arch = \"x86_64\"\n[distro]\nname = \"a\"\nrelease = \"1\"\n",
            "distro.family",
        ),
        (
            "arch = \"x86_64\"\n[distro]\nfamily = \"deb\"\nrelease = \"1\"\n",
            "distro.name",
        ),
        (
            "arch = \"x86_64\"\n[distro]\nfamily = \"deb\"\nname = \"a\"\n",
            "distro.release",
        ),
        (
            "arch = \"x86_64\"\n[distro]\nfamily = \"deb\"\nname = \"a\"\nrelease = \"1\"\n",
            "[[repo]]",
        ),
    ];
    for (text, key) in missing {
        let dir = tree(&[("c.toml", text)]);
        match load_path(&dir.path().join("c.toml")) {
            Err(ConfigError::Missing {
                config, key: got, ..
            }) => {
                assert_eq!((config.as_str(), got.as_str()), ("c", *key), "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    let deb =
        "arch = \"arm64\"\n[distro]\nfamily = \"deb\"\nname = \"debian\"\nrelease = \"trixie\"\n";
    let rpm = "arch = \"aarch64\"\n[distro]\nfamily = \"rpm\"\nname = \"fedora\"\nrelease = \"rawhide\"\n";
    let invalid: &[(&str, &str, &str)] = &[
        (
            rpm,
            "[[repo]]\nname = \"r\"\nurl = \"http://x\"\n",
            "repo[0].url",
        ),
        (rpm, "[[repo]]\nname = \"r\"\ngpgcheck = false\n", "repo[0]"),
        (
            rpm,
            "[[repo]]\nname = \"r\"\nmetalink = \"https://m\"\n",
            "repo[0].gpgkey",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nurl = \"http://x\"\nkeyring = [\"k\"]\n",
            "repo[0].suite",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nsuite = \"s\"\nkeyring = [\"k\"]\n",
            "repo[0].url",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nurl = \"u\"\nsuite = \"s\"\n",
            "repo[0].keyring",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nurl = \"u\"\nsuite = \"s\"\nbaseurl = \"b\"\ngpgcheck = false\n",
            "repo[0].baseurl",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nurl = \"u\"\nsuite = \"s\"\ngpgcheck = false\n[[repo]]\nname = \"r\"\nurl = \"u\"\nsuite = \"t\"\ngpgcheck = false\n",
            "repo[1].name",
        ),
        (
            deb,
            "[[repo]]\nname = \"r\"\nurl = \"u\"\nsuite = \"s\"\ncomponents = []\ngpgcheck = false\n",
            "repo[0].components",
        ),
    ];
    for (head, repos, key) in invalid {
        let dir = tree(&[("c.toml", &format!("{head}{repos}"))]);
        match load_path(&dir.path().join("c.toml")) {
            Err(ConfigError::Invalid { key: got, .. }) => assert_eq!(got, *key, "{repos}"),
            other => panic!("{repos}: {other:?}"),
        }
    }
}

#[test]
fn deb_repos_default_to_main_and_defaults_apply() {
    let text = "arch = \"aarch64\"\n[distro]\nfamily = \"deb\"\nname = \"debian\"\nrelease = \"trixie\"\n\
                [[repo]]\nname = \"d\"\nurl = \"http://deb/${name}\"\nsuite = \"${release}\"\nkeyring = \"/k-${arch}\"\n";
    let dir = tree(&[("d.toml", text)]);
    let config = load_path(&dir.path().join("d.toml")).unwrap();
    let repo = &config.repos[0];
    assert!(repo.enabled && repo.gpgcheck);
    let deb = repo.deb().unwrap();
    assert_eq!(
        (
            deb.url.as_str(),
            deb.suite.as_str(),
            deb.components.as_slice(),
            deb.keyring.as_slice()
        ),
        (
            "http://deb/debian",
            "trixie",
            &["main".to_string()][..],
            &["/k-arm64".to_string()][..]
        )
    );
    assert_eq!(config.build, Build::default());
    assert_eq!(config.install, Install::default());
    assert!(config.macros.is_empty());
}

#[test]
fn expansion_errors_name_config_and_key() {
    let text = format!(
        "arch = \"x86_64\"\n{RPM_BASE}\n[[repo]]\nname = \"x\"\nbaseurl = [\"ok\", \"${{basearch}}\"]\ngpgcheck = false\n"
    );
    let dir = tree(&[("e.toml", &text)]);
    let err = load_path(&dir.path().join("e.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("config `e`: `repo[1].baseurl[1]`: unknown variable `${basearch}`"),
        "{err}"
    );
}

#[test]
fn to_toml_round_trips() {
    let tricky = format!(
        "arch = \"arm64\"\n{RPM_BASE}\n[macros]\n\"%lit\" = \"$${{arch}} costs $$5 in $HOME\"\n\"%q\" = \"a \\\"quoted\\\" value\"\n"
    );
    let dir = tree(&[("tricky.toml", &tricky)]);
    let mut configs = vec![load_path(&dir.path().join("tricky.toml")).unwrap()];
    assert_eq!(configs[0].macros["%lit"], "${arch} costs $5 in $HOME");
    for name in SHIPPED {
        configs.push(load(name, &embedded_only()).unwrap());
    }
    for config in configs {
        let text = config.to_toml();
        assert!(!text.contains("include"), "{text}");
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join(format!("{}.toml", config.name));
        fs_err::write(&path, &text).unwrap();
        let again = load_path(&path).unwrap_or_else(|e| panic!("{}: {e}\n{text}", config.name));
        assert_eq!(again.sources, vec![Origin::File(path)]);
        assert_eq!(
            Config {
                sources: vec![],
                ..again
            },
            Config {
                sources: vec![],
                ..config
            },
            "{text}"
        );
    }
}

#[test]
fn paths_and_names_are_told_apart() {
    let cases = [
        ("fedora-rawhide-aarch64", false),
        ("./x.toml", true),
        ("x.toml", true),
        ("/etc/brt/x", true),
        ("sub/x", true),
    ];
    for (spec, path) in cases {
        assert_eq!(is_path(spec), path, "{spec}");
    }
    let err = load("/nonexistent/brt/x.toml", &embedded_only()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Read { path, .. } if path == Path::new("/nonexistent/brt/x.toml")),
        "{err:?}"
    );
}
