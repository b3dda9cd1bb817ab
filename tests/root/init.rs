//! `init`, `install`, `remove` of Debian roots: against the real Debian
//! mirror (CI reaches it), and against local apt repositories on 127.0.0.1
//! that `scripts/fixtures/apt-repo` generates, for every kind of bad input.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{BinfmtSnapshot, Brt, apt_fixture, mounts_below, require_root, stderr, stdout};
use crate::initkit::{
    assert_fails, assert_ok, assert_settled, config, kill_init_when, shell, state, state_packages,
};

const DEBIAN: &str = "http://deb.debian.org/debian";

/// A config with the real bookworm arm64 repository, and optionally a
/// fixture repository on top.
fn bookworm_with(brt: &Brt, name: &str, packages: &[&str], fixture_repo: Option<&str>) -> String {
    let mut text = format!(
        "arch = \"arm64\"\n[distro]\nfamily = \"deb\"\nname = \"debian\"\nrelease = \"bookworm\"\n\
         [install]\npackages = {packages:?}\n\
         [[repo]]\nname = \"debian\"\nurl = \"{DEBIAN}\"\nsuite = \"bookworm\"\ncomponents = [\"main\"]\n\
         keyring = [\"/usr/share/keyrings/debian-archive-keyring.gpg\"]\n"
    );
    if let Some(repo) = fixture_repo {
        text.push_str(&fixture_repo_toml(repo));
    }
    config(brt, name, &text)
}

fn fixture_repo_toml(repo: &str) -> String {
    let (dir, server) = apt_fixture();
    format!(
        "[[repo]]\nname = \"fixture\"\nurl = \"{}\"\nsuite = \"stable\"\ncomponents = [\"main\"]\n\
         keyring = [\"{}\"]\n",
        server.url(&format!("repos/{repo}")),
        dir.join("keyring.gpg").display()
    )
}

/// A config with only a fixture repository.
fn fixture_only(brt: &Brt, name: &str, repo: &str, packages: &[&str]) -> String {
    let text = format!(
        "arch = \"arm64\"\n[distro]\nfamily = \"deb\"\nname = \"debian\"\nrelease = \"stable\"\n\
         [install]\npackages = {packages:?}\n{}",
        fixture_repo_toml(repo)
    );
    config(brt, name, &text)
}

/// The shipped `debian-bookworm-arm64` (essential + required +
/// build-essential) from the real mirror, checked as a user would.
#[test]
fn debian_bookworm_arm64_from_the_mirror() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = "debian-bookworm-arm64";
    let out = brt.run(&["-r", r, "init"]);
    assert_ok(&out, "init");
    assert!(state(&brt, r).contains("\"ready\""));

    let out = shell(&brt, r, "uname -m; dpkg --audit; echo audit-done");
    assert_ok(&out, "shell");
    assert_eq!(
        stdout(&out),
        "aarch64\naudit-done\n",
        "dpkg --audit must print nothing"
    );

    // Every package brt resolved is installed (`ii`), and nothing else.
    let state: serde_json::Value = serde_json::from_str(&state(&brt, r)).unwrap();
    let mut resolved: Vec<String> = state["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().split(' ').next().unwrap().to_string())
        .collect();
    resolved.sort();
    assert!(
        resolved.iter().any(|p| p == "gcc-12"),
        "build-essential's gcc"
    );
    let out = shell(
        &brt,
        r,
        "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n'",
    );
    assert_ok(&out, "dpkg-query");
    let mut listed = Vec::new();
    for line in stdout(&out).lines() {
        // `${db:Status-Abbrev}` is three columns wide: `ii ` then the name.
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("ii"), "{line}");
        listed.push(words.next().unwrap().to_string());
    }
    listed.sort();
    assert_eq!(listed, resolved);

    let out = shell(&brt, r, "apt-get check");
    assert_ok(&out, "apt-get check");
    // apt works with the lists brt wrote, and fetches from the mirror.
    let out = brt.run(&[
        "-r",
        r,
        "shell",
        "--enable-network",
        "--",
        "sh",
        "-c",
        "apt-get install -y hello >/dev/null && hello",
    ]);
    assert_ok(&out, "apt-get install hello");
    assert_eq!(stdout(&out), "Hello, world!\n");

    // A second init is a no-op and downloads nothing.
    let cache = brt.cachedir().join("packages-v1");
    let before = fs_err::read_dir(&cache).unwrap().count();
    let started = Instant::now();
    let out = brt.run(&["-r", r, "init"]);
    assert_ok(&out, "second init");
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fs_err::read_dir(&cache).unwrap().count(), before);
    assert!(mounts_below(brt.tmp.path()).is_empty());
}

/// The real essential set from the mirror plus the fixture repository's
/// packages: dependencies across repositories, versions, virtual packages,
/// conffiles and maintainer scripts; then `install`, `remove` and a second
/// root from the warm cache.
#[test]
fn debian_and_fixture_repos_together() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = bookworm_with(
        &brt,
        "mixed",
        &["brt-hello", "brt-conffile", "brt-mailer", "brt-zstd"],
        Some("good"),
    );
    let out = brt.run(&["-r", &r, "init"]);
    assert_ok(&out, "init");
    // A .deb with zstd members (Ubuntu's default) unpacks natively.
    let out = shell(&brt, &r, "cat /usr/share/brt-zstd/note");
    assert_eq!(stdout(&out), "unpacked from zstd members\n");
    let out = shell(
        &brt,
        &r,
        "cat /usr/share/brt-hello/greeting /usr/share/doc/brt-libgreet/version; \
         dpkg-query -W -f '${Package} ${Version}\\n' brt-libgreet brt-mta-a brt-mta-b 2>/dev/null; \
         ls /etc/brt-conffile.conf*; cat /var/lib/brt-conffile/preinst-ran /var/lib/brt-conffile/configured",
    );
    // The scripts echo their arguments: `configure ""` (no previous version).
    assert_eq!(
        stdout(&out),
        "hello from brt-hello 1.0\n2.0\nbrt-libgreet 2.0\nbrt-mta-b 1.0\n\
         /etc/brt-conffile.conf\ninstall\nconfigure \n",
        "{}",
        stderr(&out)
    );
    // dpkg finds nothing half-done, and the conffile is registered with
    // the hash of the file in place (not `newconffile`).
    let out = shell(
        &brt,
        &r,
        "dpkg --audit && dpkg-query -W -f '${Conffiles}\\n' brt-conffile && \
         md5sum /etc/brt-conffile.conf",
    );
    assert_ok(&out, "dpkg --audit, dpkg-query");
    let text = stdout(&out);
    let md5 = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim() == format!("/etc/brt-conffile.conf {md5}")),
        "conffiles are registered with their hashes: {text}"
    );

    // install: the conflicting provider replaces the other one.
    let out = brt.run(&["-r", &r, "install", "brt-mta-a"]);
    assert_ok(&out, "install");
    let out = shell(
        &brt,
        &r,
        "dpkg-query -W -f '${db:Status-Abbrev}${Package}\\n' 'brt-mta-*'",
    );
    let text = stdout(&out);
    assert!(text.contains("ii brt-mta-a"), "{text}");
    assert!(!text.contains("ii brt-mta-b"), "{text}");

    // update: the repository now has brt-hello 1.1, which replaces 1.0.
    let updated = fs_err::read_to_string(&r)
        .unwrap()
        .replace("repos/good", "repos/updated");
    config(&brt, "mixed", &updated);
    let out = brt.run(&["-r", &r, "update"]);
    assert_ok(&out, "update");
    assert!(
        stderr(&out).contains("brt-hello 1.0 -> 1.1"),
        "{}",
        stderr(&out)
    );
    let out = shell(
        &brt,
        &r,
        "cat /usr/share/brt-hello/greeting; dpkg-query -W -f '${Version}' brt-hello",
    );
    assert_eq!(stdout(&out), "hello from brt-hello 1.1\n1.1");

    let out = brt.run(&["-r", &r, "remove", "brt-hello"]);
    assert_ok(&out, "remove");
    let out = shell(
        &brt,
        &r,
        "test -e /usr/share/brt-hello/greeting || echo gone",
    );
    assert_eq!(stdout(&out), "gone\n");

    // A second root of the same packages from the warm caches, offline:
    // restored from the root cache, nothing downloaded, the same packages.
    let packages = brt.cachedir().join("packages-v1");
    let cached = fs_err::read_dir(&packages).unwrap().count();
    let second = bookworm_with(
        &brt,
        "mixed2",
        &["brt-hello", "brt-conffile", "brt-mailer", "brt-zstd"],
        Some("good"),
    );
    let out = brt.run(&["--offline", "-r", &second, "init"]);
    assert_ok(&out, "init --offline from the warm cache");
    assert!(
        stderr(&out).contains("restored from the root cache"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs_err::read_dir(&packages).unwrap().count(), cached);
    assert_eq!(
        state_packages(&brt, "mixed2"),
        state_packages(&brt, "mixed")
    );
    let out = shell(&brt, &second, "cat /usr/share/brt-hello/greeting");
    assert_eq!(stdout(&out), "hello from brt-hello 1.0\n");
}

#[test]
fn bad_repositories_are_refused() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    for (repo, expect) in [
        ("badsig", &["not signed by a trusted key", "hint:"][..]),
        ("tampered", &["not signed by a trusted key"]),
        ("unsigned", &["Release.gpg", "404"]),
        ("badindex", &["Packages.xz", "SHA-256"]),
        ("expired", &["its Release file expired (Valid-Until)"]),
        (
            "othersuite",
            &["is for suite `oldstable`", "asks for `stable`"],
        ),
    ] {
        let r = fixture_only(&brt, repo, repo, &["brt-hello"]);
        assert_fails(&brt, &r, expect);
    }
    // A Release file that was refused is not kept.
    let metadata = brt.cachedir().join("metadata-v1");
    for repo in ["badsig", "tampered", "unsigned", "expired", "othersuite"] {
        let dirs: Vec<_> = fs_err::read_dir(&metadata)
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains(&format!("repos_{repo}_"))
            })
            .collect();
        assert_eq!(dirs.len(), 1, "{repo}: {dirs:?}");
        for f in ["InRelease", "Release", "Release.gpg"] {
            assert!(!dirs[0].path().join(f).exists(), "{repo}: {f} kept");
        }
    }
    // Offline, with nothing cached: the error says how to fill the cache.
    let r = fixture_only(&brt, "never-fetched", "good", &["brt-hello"]);
    let out = Brt::new().run(&["--offline", "-r", &r, "init"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("run once without `--offline`"),
        "{}",
        stderr(&out)
    );
    // A keyring that is not there names the package that ships keyrings.
    let text = fs_err::read_to_string(fixture_only(&brt, "nokey", "good", &["brt-hello"]))
        .unwrap()
        .replace("keyring.gpg", "missing-keyring.gpg");
    let r = config(&brt, "nokey", &text);
    assert_fails(
        &brt,
        &r,
        &[
            "needs a keyring",
            "missing-keyring.gpg",
            "apt-get install debian-archive-keyring",
        ],
    );
}

#[test]
fn bad_packages_are_refused_and_nothing_escapes() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let escapes = ["/tmp/brt-escape-dotdot", "/tmp/brt-escape-dir"];
    for e in escapes {
        let _ = fs_err::remove_dir_all(e);
        let _ = fs_err::remove_file(e);
    }
    for (pkg, expect) in [
        (
            "brt-badsum",
            &["cannot download brt-badsum 1.0", "SHA-256"][..],
        ),
        (
            "brt-truncated",
            &["cannot unpack `brt-truncated 1.0`", "truncated"],
        ),
        ("brt-needs-missing", &["brt-does-not-exist"]),
        (
            "brt-evil-dotdot",
            &["cannot unpack `brt-evil-dotdot 1.0`", ".."],
        ),
        (
            "brt-evil-symlink",
            &[
                "cannot unpack `brt-evil-symlink 1.0`",
                "passes through `/usr/share/brt-evil`",
            ],
        ),
        (
            "brt-evil-symlink-rel",
            &["cannot unpack `brt-evil-symlink-rel 1.0`", "passes through"],
        ),
        ("brt-no-such-package", &["brt-no-such-package"]),
    ] {
        let r = fixture_only(&brt, pkg, "good", &[pkg]);
        assert_fails(&brt, &r, expect);
        for e in escapes {
            assert!(!Path::new(e).exists(), "{pkg} wrote {e}");
        }
    }
    // A corrupt package never enters the cache under its hash.
    let cache = brt.cachedir().join("packages-v1");
    for entry in fs_err::read_dir(&cache).unwrap().flatten() {
        let sum = brt::fetch::sha256_file(&entry.path()).unwrap();
        assert_eq!(entry.file_name().to_string_lossy(), sum);
    }
}

/// kill -9 during the download, then during dpkg's step: no mounts or
/// processes are left, the root is not ready, and the next init completes.
#[test]
fn killed_init_is_redone() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = bookworm_with(&brt, "killed", &[], None);
    let root_log = brt.basedir().join("killed/result/root.log");
    let cache = brt.cachedir().join("packages-v1");

    let kill_when = |ready: &dyn Fn() -> bool| kill_init_when(&brt, &r, "killed", "2", ready);
    kill_when(&|| {
        fs_err::read_dir(&cache)
            .map(|d| d.count() >= 3)
            .unwrap_or(false)
    });
    kill_when(&|| fs_err::read_to_string(&root_log).is_ok_and(|l| l.contains("Setting up")));

    // SIGTERM while the maintainer scripts run: exit 130, said as such,
    // and nothing half-made (no root, no state, no staging dir).
    fs_err::remove_file(&root_log).unwrap();
    let child = brt
        .cmd()
        .args(["-r", &r, "init"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !fs_err::read_to_string(&root_log).is_ok_and(|l| l.contains("Setting up")) {
        assert!(Instant::now() < deadline, "init did not reach configure");
        std::thread::sleep(Duration::from_millis(5));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert_settled(&brt);
    let dir = brt.basedir().join("killed");
    assert!(!dir.join("root").exists());
    assert!(!dir.join("state.json").exists());
    let staging: Vec<_> = fs_err::read_dir(brt.basedir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    assert!(staging.is_empty(), "left behind: {staging:?}");

    let out = brt.run(&["-r", &r, "init"]);
    assert_ok(&out, "init after the kills");
    let out = shell(&brt, &r, "dpkg --audit && echo clean");
    assert_eq!(stdout(&out), "clean\n");
}

/// brt resolves exactly what mmdebstrap installs for `--variant=minbase`
/// (Essential, apt and `Priority: required`), names and versions, both
/// from the mirror. apt takes the first alternative of init-system-helpers'
/// `usrmerge | usr-is-merged`; brt merges /usr itself and takes
/// `usr-is-merged` unless the config asks for `usrmerge`, as it does here.
#[test]
fn the_minbase_set_is_mmdebstraps() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    assert_ok(&brt.run(&["binfmt", "ensure", "aarch64"]), "binfmt ensure");
    let dir = brt.tmp.path().join("mmdebstrap");
    let out = std::process::Command::new("mmdebstrap")
        .args(["--variant=minbase", "--arch=arm64", "bookworm"])
        .arg(&dir)
        .arg(DEBIAN)
        .output()
        .unwrap();
    assert_ok(&out, "mmdebstrap");
    let out = std::process::Command::new("chroot")
        .arg(&dir)
        .args(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"])
        .output()
        .unwrap();
    assert_ok(&out, "dpkg-query in mmdebstrap's root");
    let theirs: std::collections::BTreeSet<String> =
        stdout(&out).lines().map(str::to_string).collect();

    let r = bookworm_with(&brt, "minbase", &["usrmerge"], None);
    let out = brt.run(&["-r", &r, "init", "--dry-run", "--json"]);
    assert_ok(&out, "init --dry-run");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: std::collections::BTreeSet<String> = plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert!(theirs.len() > 80, "{theirs:?}");
    assert_eq!(ours, theirs);
}
