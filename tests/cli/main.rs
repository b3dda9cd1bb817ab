//! The command line without root: configs, list, docs, errors and exit codes.

#[path = "../common/mod.rs"]
mod common;

use common::{Brt, stderr, stdout};

const SHIPPED: &[&str] = &[
    "fedora-rawhide-x86_64",
    "fedora-rawhide-aarch64",
    "fedora-rawhide-ppc64le",
    "fedora-rawhide-s390x",
    "fedora-rawhide-riscv64",
    "fedora-43-x86_64",
    "fedora-43-aarch64",
    "fedora-43-ppc64le",
    "fedora-43-s390x",
    "centos-stream-10-x86_64",
    "centos-stream-10-aarch64",
    "centos-stream-10-ppc64le",
    "centos-stream-10-s390x",
    "debian-bookworm-amd64",
    "debian-bookworm-arm64",
    "debian-bookworm-armhf",
    "debian-bookworm-ppc64el",
    "debian-bookworm-s390x",
    "debian-trixie-amd64",
    "debian-trixie-arm64",
    "debian-trixie-armhf",
    "debian-trixie-ppc64el",
    "debian-trixie-s390x",
    "debian-trixie-riscv64",
    "ubuntu-noble-amd64",
    "ubuntu-noble-arm64",
];

#[test]
fn list_shows_every_shipped_config() {
    let brt = Brt::new();
    let out = brt.run(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for name in SHIPPED {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        assert!(line.contains("absent"), "{line}");
    }
    assert!(!text.contains("error:"), "{text}");
    assert!(
        !text.contains("templates"),
        "templates are not configs:\n{text}"
    );

    let out = brt.run(&["list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), SHIPPED.len());
    let arm = rows
        .iter()
        .find(|r| r["name"] == "debian-bookworm-arm64")
        .unwrap();
    assert_eq!(arm["distro"], "debian");
    assert_eq!(arm["release"], "bookworm");
    assert_eq!(arm["arch"], "arm64");
    assert_eq!(arm["state"], "absent");
}

#[test]
fn list_shows_root_state_and_size() {
    let brt = Brt::new();
    let dir = brt.basedir().join("debian-bookworm-arm64");
    fs_err::create_dir_all(dir.join("root")).unwrap();
    fs_err::write(dir.join("root/blob"), vec![7u8; 1 << 20]).unwrap();
    fs_err::write(dir.join("state.json"), r#"{"status":"ready"}"#).unwrap();
    fs_err::create_dir_all(brt.basedir().join("fedora-43-s390x/root")).unwrap();
    let out = brt.run(&["list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let get = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(get("debian-bookworm-arm64")["state"], "ready");
    assert!(get("debian-bookworm-arm64")["size_bytes"].as_u64().unwrap() >= 1 << 20);
    // A directory without a state file is an interrupted or foreign root.
    assert_eq!(get("fedora-43-s390x")["state"], "broken");
    let text = stdout(&brt.run(&["list"]));
    let line = text
        .lines()
        .find(|l| l.starts_with("debian-bookworm-arm64"))
        .unwrap();
    assert!(line.contains("ready") && line.contains("MiB"), "{line}");
}

#[test]
fn config_resolves_either_arch_spelling() {
    let brt = Brt::new();
    for (asked, found, url_arch) in [
        (
            "fedora-rawhide-arm64",
            "fedora-rawhide-aarch64",
            "arch=aarch64",
        ),
        (
            "debian-bookworm-aarch64",
            "debian-bookworm-arm64",
            "arch = \"arm64\"",
        ),
        ("fedora-43-amd64", "fedora-43-x86_64", "arch=x86_64"),
    ] {
        let out = brt.run(&["-r", asked, "config"]);
        assert!(out.status.success(), "{asked}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with(&format!("# {found}:")), "{asked}: {text}");
        assert!(text.contains(url_arch), "{asked}: {text}");
        assert!(text.contains("embedded:configs/templates/"), "{text}");
    }
    let out = brt.run(&["-r", "debian-bookworm-aarch64", "config", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "debian-bookworm-arm64");
    assert_eq!(v["config"]["distro"]["family"], "deb");
    let sources = v["sources"].as_array().unwrap();
    assert_eq!(
        sources.last().unwrap(),
        "embedded:configs/debian-bookworm-arm64.toml"
    );
}

#[test]
fn a_typo_in_a_key_names_file_line_and_column() {
    let brt = Brt::new();
    let path = brt.tmp.path().join("typo.toml");
    fs_err::write(
        &path,
        "include = \"templates/debian.toml\"\narch = \"arm64\"\n\n[install]\npakages = [\"vim\"]\n",
    )
    .unwrap();
    let out = brt.run(&["-r", path.to_str().unwrap(), "config"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:5:1", path.display())), "{err}");
    assert!(err.contains("pakages"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn an_include_cycle_is_reported_not_looped() {
    let brt = Brt::new();
    let dir = brt.home().join(".config/brt");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(
        dir.join("loop-a.toml"),
        "include = \"loop-b.toml\"\narch = \"s390x\"\n",
    )
    .unwrap();
    fs_err::write(dir.join("loop-b.toml"), "include = \"loop-a.toml\"\n").unwrap();
    let out = brt.run(&["-r", "loop-a", "config"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("loop-a.toml") && err.contains("loop-b.toml"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("cycle"), "{err}");
}

#[test]
fn a_user_config_shadows_the_embedded_one_and_can_include_templates() {
    let brt = Brt::new();
    let dir = brt.home().join(".config/brt");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(
        dir.join("debian-bookworm-arm64.toml"),
        "include = \"templates/debian-bookworm.toml\"\narch = \"aarch64\"\n[install]\npackages = [\"devscripts\"]\n",
    )
    .unwrap();
    let out = brt.run(&["-r", "debian-bookworm-arm64", "config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("devscripts"), "{text}");
    assert!(
        text.contains(&dir.join("debian-bookworm-arm64.toml").display().to_string()),
        "{text}"
    );
}

#[test]
fn an_unknown_name_suggests_close_ones() {
    let brt = Brt::new();
    let out = brt.run(&["-r", "fedora-rawhid-aarch64", "config"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("fedora-rawhide-aarch64"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let brt = Brt::new();
    let out = brt.run(&["config"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("-r NAME"), "{}", stderr(&out));
    let out = brt.run(&["binfmt", "status", "sparc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("aarch64 (arm64)"), "{}", stderr(&out));
    let out = brt.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let brt = Brt::new();
    let out = brt.run(&["completions", "bash"]);
    assert!(out.status.success());
    let script = stdout(&out);
    assert!(script.contains("binfmt") && script.contains("--basedir"));
    let dir = brt.tmp.path().join("man");
    let out = brt.run(&["manpages", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = fs_err::read_to_string(dir.join("brt.1")).unwrap();
    assert!(page.contains(".TH brt"), "{page}");
    assert!(dir.join("brt-binfmt-ensure.1").exists());
}

#[test]
fn scrub_waits_for_commands_using_the_cache() {
    use std::time::{Duration, Instant};
    let brt = Brt::new();
    let packages = brt.cachedir().join("packages-v1/debian");
    fs_err::create_dir_all(&packages).unwrap();
    fs_err::write(packages.join("a.deb"), vec![0u8; 4096]).unwrap();
    // A command using the cache holds its lock shared (as init does).
    let lock = brt::root::scrub::CacheLock::shared(&brt.cachedir(), || {}).unwrap();
    let child = brt
        .cmd()
        .args(["scrub", "packages"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        assert!(packages.join("a.deb").exists(), "scrub did not wait");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("waiting: commands are using the cache"),
        "{err}"
    );
    assert!(
        err.contains("packages: freed ") && err.contains("(1 removed)"),
        "{err}"
    );
    assert!(!packages.join("a.deb").exists());
}
