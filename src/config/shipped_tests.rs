//! The configs shipped in `configs/`: every one is listed, loads, and
//! expands to the URLs of its arch; names find them in either arch spelling.

use super::*;

fn embedded_only() -> ConfigDirs {
    ConfigDirs::new(None, None)
}

pub(super) const SHIPPED: &[&str] = &[
    "centos-stream-10-aarch64",
    "centos-stream-10-ppc64le",
    "centos-stream-10-s390x",
    "centos-stream-10-x86_64",
    "debian-bookworm-amd64",
    "debian-bookworm-arm64",
    "debian-bookworm-armhf",
    "debian-bookworm-ppc64el",
    "debian-bookworm-s390x",
    "debian-trixie-amd64",
    "debian-trixie-arm64",
    "debian-trixie-armhf",
    "debian-trixie-ppc64el",
    "debian-trixie-riscv64",
    "debian-trixie-s390x",
    "fedora-43-aarch64",
    "fedora-43-ppc64le",
    "fedora-43-s390x",
    "fedora-43-x86_64",
    "fedora-rawhide-aarch64",
    "fedora-rawhide-ppc64le",
    "fedora-rawhide-riscv64",
    "fedora-rawhide-s390x",
    "fedora-rawhide-x86_64",
    "ubuntu-noble-amd64",
    "ubuntu-noble-arm64",
];

#[test]
fn list_shows_exactly_the_shipped_configs_without_templates() {
    let names: Vec<String> = list(&embedded_only()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, SHIPPED);
}

#[test]
fn every_shipped_config_loads_with_its_arch_in_the_family_spelling() {
    for name in SHIPPED {
        let config = load(name, &embedded_only()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.name, *name);
        // The name ends in the family's own spelling of the arch.
        assert!(
            name.ends_with(&format!("-{}", config.arch_name())),
            "{name}"
        );
        assert!(!config.repos.is_empty(), "{name}");
        assert_eq!(
            config.sources.last(),
            Some(&Origin::Embedded(format!("{name}.toml")))
        );
        let text = config.to_toml();
        assert!(
            !text.contains("${"),
            "{name} has unexpanded variables:\n{text}"
        );
        for repo in config.repos.iter().filter(|r| r.enabled) {
            match (&repo.kind, config.distro.family) {
                (RepoKind::Rpm(rpm), Family::Rpm) => {
                    let urls: Vec<&String> = rpm
                        .baseurl
                        .iter()
                        .chain(&rpm.metalink)
                        .chain(&rpm.mirrorlist)
                        .collect();
                    assert!(
                        urls.iter().all(|u| u.contains(config.arch.rpm)),
                        "{name}: {urls:?}"
                    );
                    assert!(!repo.gpgcheck || !rpm.gpgkey.is_empty(), "{name}");
                }
                (RepoKind::Deb(deb), Family::Deb) => {
                    assert!(deb.url.starts_with("http://"), "{name}");
                    assert!(deb.suite.starts_with(&config.distro.release), "{name}");
                    assert!(
                        deb.keyring
                            .iter()
                            .all(|k| k.starts_with("/usr/share/keyrings/"))
                    );
                }
                (kind, family) => panic!("{name}: {family} config with {kind:?}"),
            }
        }
    }
}

#[test]
fn shipped_configs_expand_to_the_right_urls() {
    let cases: &[(&str, &str)] = &[
        (
            "fedora-rawhide-aarch64",
            "https://mirrors.fedoraproject.org/metalink?repo=rawhide&arch=aarch64",
        ),
        (
            "fedora-43-ppc64le",
            "https://mirrors.fedoraproject.org/metalink?repo=updates-released-f43&arch=ppc64le",
        ),
        (
            "fedora-43-s390x",
            "file:///usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-43-primary",
        ),
        (
            "fedora-rawhide-riscv64",
            "https://riscv-koji.fedoraproject.org/repos/rawhide/latest/riscv64/",
        ),
        (
            "centos-stream-10-x86_64",
            "https://mirrors.centos.org/metalink?repo=centos-crb-10-stream&arch=x86_64&protocol=https,http",
        ),
        ("debian-bookworm-arm64", "suite = \"bookworm\""),
        ("debian-bookworm-arm64", "arch = \"arm64\""),
        (
            "debian-bookworm-arm64",
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        ),
        ("debian-trixie-riscv64", "http://deb.debian.org/debian"),
        ("ubuntu-noble-amd64", "http://archive.ubuntu.com/ubuntu"),
        ("ubuntu-noble-arm64", "http://ports.ubuntu.com/ubuntu-ports"),
        ("ubuntu-noble-arm64", "suite = \"noble-security\""),
    ];
    for (name, needle) in cases {
        let text = load(name, &embedded_only()).unwrap().to_toml();
        assert!(text.contains(needle), "{name} lacks {needle}:\n{text}");
    }
    let ubuntu = load("ubuntu-noble-arm64", &embedded_only()).unwrap();
    assert!(!ubuntu.to_toml().contains("archive.ubuntu.com"));
}

#[test]
fn either_arch_spelling_finds_the_config() {
    let cases = [
        ("debian-bookworm-aarch64", "debian-bookworm-arm64"),
        ("debian-trixie-x86_64", "debian-trixie-amd64"),
        ("debian-trixie-ppc64le", "debian-trixie-ppc64el"),
        ("debian-bookworm-armv7hl", "debian-bookworm-armhf"),
        ("fedora-rawhide-arm64", "fedora-rawhide-aarch64"),
        ("centos-stream-10-amd64", "centos-stream-10-x86_64"),
        ("fedora-43-ppc64el", "fedora-43-ppc64le"),
        ("fedora-rawhide-aarch64", "fedora-rawhide-aarch64"),
    ];
    for (asked, found) in cases {
        let config = load(asked, &embedded_only()).unwrap_or_else(|e| panic!("{asked}: {e}"));
        assert_eq!(config.name, found, "{asked}");
    }
}

#[test]
fn unknown_names_suggest_close_ones() {
    let cases: [(&str, &[&str]); 5] = [
        ("fedora-rawhid-aarch64", &["fedora-rawhide-aarch64"]),
        // `arm` is armv7hl, which Fedora no longer ships.
        (
            "fedora-rawhide-arm",
            &["fedora-rawhide-aarch64", "fedora-rawhide-s390x"],
        ),
        (
            "fedora-rawhide",
            &[
                "fedora-rawhide-aarch64",
                "fedora-rawhide-ppc64le",
                "fedora-rawhide-riscv64",
            ],
        ),
        ("debian-bookwrm-arm64", &["debian-bookworm-arm64"]),
        ("gentoo", &[]),
    ];
    for (name, expected) in cases {
        match load(name, &embedded_only()) {
            Err(ConfigError::NotFound { suggestions, .. }) => {
                assert_eq!(suggestions, expected, "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let err = load("fedora-rawhid-aarch64", &embedded_only()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("did you mean `fedora-rawhide-aarch64`?"),
        "{err}"
    );
}
