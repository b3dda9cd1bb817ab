//! `init`, `install`, `remove`, `update` of RPM roots, against the local
//! rpm-md repositories `scripts/fixtures/rpm-repo` generates from Debian
//! arm64 packages repackaged as RPMs (Fedora mirrors are not reachable
//! here), and hostile packages built by the tests with the `rpm` crate.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common::{BinfmtSnapshot, Brt, require_root, rpm_fixture, stderr, stdout};
use crate::initkit::{assert_fails, assert_ok, config, kill_init_when, shell, state};

/// What the end-to-end root asks for: the build group and every edge case.
const EVERYTHING: &[&str] = &[
    "@buildsys-build",
    "brt-hello",
    "brt-user",
    "brt-scripts",
    "brt-doc",
    "brt-lua",
    "brt-rich",
    "brt-filedep",
    "brt-filedep-deep",
    "brt-old",
    "brt-mailer",
    "brt-multi",
];

fn head(packages: &[&str]) -> String {
    format!(
        "arch = \"aarch64\"\n[distro]\nfamily = \"rpm\"\nname = \"brtfix\"\nrelease = \"1\"\n\
         [install]\npackages = {packages:?}\n"
    )
}

/// A repository of the fixture by `baseurl`, checked with its key.
fn repo(name: &str, key: &str) -> String {
    let (dir, server) = rpm_fixture();
    format!(
        "[[repo]]\nname = \"{name}\"\nbaseurl = [\"{}\"]\ngpgcheck = true\ngpgkey = [\"file://{}\"]\n",
        server.url(&format!("repos/{name}/")),
        dir.join(key).display()
    )
}

/// The `good` repository through a metalink whose most preferred mirror
/// does not exist, so brt must verify repomd.xml and fail over.
fn metalink_repo(brt: &Brt) -> String {
    let (dir, server) = rpm_fixture();
    let text = fs_err::read_to_string(dir.join("metalink.xml"))
        .unwrap()
        .replace("@BASE@", server.url("").trim_end_matches('/'));
    let path = brt.tmp.path().join("metalink.xml");
    fs_err::write(&path, text).unwrap();
    format!(
        "[[repo]]\nname = \"good\"\nmetalink = \"file://{}\"\ngpgcheck = true\ngpgkey = [\"file://{}\"]\n",
        path.display(),
        dir.join("RPM-GPG-KEY-brt").display()
    )
}

/// The packages brt resolved (state.json), as `name-epoch:version-release.arch`.
fn resolved(brt: &Brt, name: &str) -> BTreeSet<String> {
    crate::initkit::state_packages(brt, name)
}

fn cache_files(brt: &Brt) -> BTreeSet<String> {
    fs_err::read_dir(brt.cachedir().join("packages-v1"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The whole fixture distribution in an aarch64 root, checked as a user
/// would: the arch, the rpmdb against the resolved set, `rpm -Va`, the user
/// a `%pre` made, every kind of scriptlet, the resolver's edge cases; then
/// a warm-cache init, install refused over a conflict then allowed to
/// erase (`--allowerasing`), remove, update.
#[test]
fn fixture_distribution_aarch64_end_to_end() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = config(&brt, "fix", &(head(EVERYTHING) + &metalink_repo(&brt)));
    let out = brt.run(&["-r", &r, "init"]);
    assert_ok(&out, "init");
    assert!(state(&brt, "fix").contains("\"ready\""));

    let out = shell(&brt, &r, "uname -m");
    assert_ok(&out, "uname");
    assert_eq!(stdout(&out), "aarch64\n");

    // The rpmdb lists exactly what brt resolved.
    let want = resolved(&brt, "fix");
    let out = shell(
        &brt,
        &r,
        "rpm -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n' | grep -v '^gpg-pubkey-'",
    );
    assert_ok(&out, "rpm -qa");
    let listed: BTreeSet<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(listed, want);
    // The key brt verified with is in the rpmdb, as dnf would leave it.
    let out = shell(&brt, &r, "rpm -q gpg-pubkey >/dev/null && echo key");
    assert_eq!(stdout(&out), "key\n");

    // No file missing, no digest, size, owner or mode different.
    let out = shell(&brt, &r, "rpm -Va; echo done");
    let report = stdout(&out);
    let bad: Vec<&str> = report
        .lines()
        .filter(|l| *l != "done")
        .filter(|l| {
            let flags = l.split_whitespace().next().unwrap_or("");
            l.starts_with("missing") || flags.contains(['5', 'S', 'U', 'G', 'M'])
        })
        .collect();
    assert!(bad.is_empty(), "rpm -Va:\n{report}");

    // The user from brt-user's %pre, and the directory it owns.
    let out = shell(
        &brt,
        &r,
        "getent passwd brtsvc | cut -d: -f1; stat -c '%U:%G %a' /var/lib/brtsvc",
    );
    assert_ok(&out, "getent");
    assert_eq!(stdout(&out), "brtsvc\nbrtsvc:brtsvc 750\n");

    // Every kind of scriptlet ran.
    let out = shell(
        &brt,
        &r,
        "cd /var/lib/brt-scripts && cat post; cat trigger; test -e posttrans && echo posttrans; \
         grep -c '^/usr/share/brt-doc/[ab].txt$' filetrigger; cat /var/lib/brt-lua/post >/dev/null && echo lua",
    );
    assert_ok(&out, "scriptlet results");
    assert_eq!(stdout(&out), "1\n1 1\nposttrans\n2\nlua\n");

    // The resolver's edge cases, as rpm and dnf decide them.
    let names: Vec<String> = want.iter().map(|n| n.to_string()).collect();
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    assert!(
        has("brt-multi-0:2.0^post1-1.noarch"),
        "newest with ^: {names:?}"
    );
    assert!(!has("brt-old-"), "brt-old is obsoleted by brt-new");
    assert!(has("brt-new-0:2.0-1"));
    assert!(has("brt-rich-a-") || has("brt-rich-b-"));
    assert!(has("brt-rich-c-"), "(brt-rich-c if brt-hello)");
    assert!(has("brt-rich-d-"), "(brt-rich-d unless brt-rich-e)");
    assert!(has("brt-tool-") && has("brt-data-"), "file dependencies");
    assert!(has("brt-mta-a-") != has("brt-mta-b-"), "exactly one MTA");
    assert!(has("bash-") && has("rpm-") && has("gcc-12-"));

    // A second root from the same repositories downloads nothing.
    let before = cache_files(&brt);
    let r2 = config(&brt, "fix2", &(head(EVERYTHING) + &metalink_repo(&brt)));
    let started = Instant::now();
    let out = brt.run(&["-r", &r2, "init"]);
    assert_ok(&out, "warm init");
    assert_eq!(cache_files(&brt), before, "the warm init downloaded");
    eprintln!("warm init: {:?}", started.elapsed());
    assert_eq!(resolved(&brt, "fix2"), want);

    // install displaces the conflicting MTA; remove; update has nothing to do.
    let (other, gone) = if has("brt-mta-a-") {
        ("brt-mta-b", "brt-mta-a")
    } else {
        ("brt-mta-a", "brt-mta-b")
    };
    // As dnf: refused, naming both, unless --allowerasing.
    let out = brt.run(&["-r", &r, "install", other]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "installing `{other}` would remove the installed `{gone}`"
        )) && stderr(&out).contains("--allowerasing"),
        "{}",
        stderr(&out)
    );
    let out = shell(&brt, &r, &format!("rpm -q {gone}"));
    assert_ok(&out, "the installed MTA is still there");
    let out = brt.run(&["-r", &r, "install", "--allowerasing", other]);
    assert_ok(&out, "install");
    let out = shell(
        &brt,
        &r,
        &format!(
            "rpm -q {other} >/dev/null && ! rpm -q {gone} >/dev/null && rpm -q brt-mailer >/dev/null && echo swapped"
        ),
    );
    assert_eq!(stdout(&out), "swapped\n", "{}", stderr(&out));
    let out = brt.run(&["-r", &r, "remove", "brt-lua"]);
    assert_ok(&out, "remove");
    let out = shell(&brt, &r, "rpm -q brt-lua || true");
    assert!(stdout(&out).contains("not installed"), "{}", stdout(&out));
    let out = brt.run(&["-r", &r, "update"]);
    assert_ok(&out, "update");
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
}

/// A hostile package built with the rpm crate, in its own rpm-md repo
/// (createrepo_c), unsigned.
fn hostile_repo(brt: &Brt, name: &str, build: impl Fn(&mut rpm::PackageBuilder)) -> String {
    let dir = brt.tmp.path().join(format!("hostile-{name}"));
    fs_err::create_dir_all(&dir).unwrap();
    let mut b = rpm::PackageBuilder::new(name, "1.0", "MIT", "noarch", "hostile");
    b.release("1");
    build(&mut b);
    let pkg = b.build().unwrap();
    pkg.write_file(dir.join(format!("{name}-1.0-1.noarch.rpm")))
        .unwrap();
    let status = Command::new("createrepo_c")
        .args(["--quiet"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    format!(
        "[[repo]]\nname = \"hostile\"\nbaseurl = [\"file://{}\"]\ngpgcheck = false\n",
        dir.display()
    )
}

#[test]
fn bad_rpm_input_is_refused_and_nothing_escapes() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let good = || repo("good", "RPM-GPG-KEY-brt");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unsigned",
            head(&["brt-unsigned"]) + &good() + &repo("unsigned", "RPM-GPG-KEY-brt"),
            vec!["brt-unsigned", "not signed"],
        ),
        (
            "badsig",
            head(&["brt-badsig"]) + &good() + &repo("badsig", "RPM-GPG-KEY-brt"),
            vec!["brt-badsig", "signature does not verify"],
        ),
        (
            "badsum",
            head(&["brt-badsum"]) + &good() + &repo("badsum", "RPM-GPG-KEY-brt"),
            vec!["cannot download brt-badsum", "SHA-256"],
        ),
        (
            "truncated",
            head(&["brt-truncated"]) + &good() + &repo("truncated", "RPM-GPG-KEY-brt"),
            vec!["brt-truncated"],
        ),
        (
            "badprimary",
            head(&["brt-hello2"]) + &repo("badprimary", "RPM-GPG-KEY-brt"),
            vec!["badprimary", "primary.xml", "the index says"],
        ),
        (
            "missing",
            head(&["brt-needs-missing"]) + &good(),
            vec!["brt-does-not-exist"],
        ),
        (
            "unknown",
            head(&["brt-helo"]) + &good(),
            vec!["brt-helo", "brt-hello"],
        ),
        (
            "nogroup",
            head(&["@buildsys-bild"]) + &good(),
            vec!["@buildsys-bild", "did you mean `@buildsys-build`"],
        ),
    ];
    for (name, text, expect) in &cases {
        let r = config(&brt, name, text);
        assert_fails(&brt, &r, expect);
    }

    // Payloads that try to write outside the root.
    let escapes = ["/tmp/brt-rpm-escape-dotdot", "/tmp/brt-rpm-escape-dir"];
    for e in escapes {
        let _ = fs_err::remove_dir_all(e);
        let _ = fs_err::remove_file(e);
    }
    let dotdot = hostile_repo(&brt, "brt-evil-dotdot", |b| {
        b.with_file_contents(
            "x",
            rpm::FileOptions::new("/usr/share/../../../../../../tmp/brt-rpm-escape-dotdot"),
        )
        .unwrap();
    });
    let through = hostile_repo(&brt, "brt-evil-symlink", |b| {
        b.with_symlink(rpm::FileOptions::symlink(
            "/usr/share/brt-evil",
            "/tmp/brt-rpm-escape-dir",
        ))
        .unwrap();
        b.with_file_contents("x", rpm::FileOptions::new("/usr/share/brt-evil/file"))
            .unwrap();
    });
    for (name, hostile, expect) in [
        ("dotdot", dotdot, &["brt-evil-dotdot", ".."][..]),
        (
            "through",
            through,
            &["brt-evil-symlink", "passes through `/usr/share/brt-evil`"],
        ),
    ] {
        let pkg = format!(
            "brt-evil-{}",
            if name == "dotdot" {
                "dotdot"
            } else {
                "symlink"
            }
        );
        let r = config(&brt, name, &(head(&[&pkg]) + &good() + &hostile));
        assert_fails(&brt, &r, expect);
        for e in escapes {
            assert!(!Path::new(e).exists(), "{name} wrote {e}");
        }
    }
    // A corrupt package never enters the cache under its hash.
    for entry in fs_err::read_dir(brt.cachedir().join("packages-v1"))
        .unwrap()
        .flatten()
    {
        let sum = brt::fetch::sha256_file(&entry.path()).unwrap();
        assert_eq!(entry.file_name().to_string_lossy(), sum);
    }
}

/// kill -9 during the rpm step: no mounts or processes are left, the root
/// is not ready, and the next init completes.
#[test]
fn killed_rpm_init_is_redone() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = config(
        &brt,
        "killed",
        &(head(&["bash", "brt-user", "brt-scripts"]) + &repo("good", "RPM-GPG-KEY-brt")),
    );
    let root_log = brt.basedir().join("killed/result/root.log");
    let cache = brt.cachedir().join("packages-v1");
    let kill_when = |ready: &dyn Fn() -> bool| kill_init_when(&brt, &r, "killed", "1", ready);
    // During the download (the local server is fast: the kill may land a
    // little later, which tests the same thing).
    kill_when(&|| {
        fs_err::read_dir(&cache)
            .map(|d| d.count() >= 2)
            .unwrap_or(false)
    });
    // During the root's rpm step.
    kill_when(&|| fs_err::read_to_string(&root_log).is_ok_and(|l| l.contains("brt: %pre(")));

    let out = brt.run(&["-r", &r, "init"]);
    assert_ok(&out, "init after the kill");
    let out = shell(
        &brt,
        &r,
        "rpm -V bash brt-user && getent passwd brtsvc >/dev/null && echo clean",
    );
    assert_eq!(stdout(&out), "clean\n", "{}", stderr(&out));
}

/// The rpmdb as brt reads it for comparing: every stored header and every
/// index row with its storage class, in order.
fn rpmdb_dump(root: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open_with_flags(
        root.join("var/lib/rpm/rpmdb.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tables.len(), 19, "{tables:?}");
    let mut lines = Vec::new();
    for t in tables {
        let select = if t == "Packages" {
            "SELECT 'blob', hex(blob), hnum, 0 FROM 'Packages' ORDER BY hnum".to_string()
        } else {
            format!("SELECT typeof(key), hex(key), hnum, idx FROM '{t}' ORDER BY rowid")
        };
        let mut q = db.prepare(&select).unwrap();
        let rows = q
            .query_map([], |r| {
                Ok(format!(
                    "{t} {} {} {} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?
                ))
            })
            .unwrap();
        lines.extend(rows.map(Result::unwrap));
    }
    lines
}

#[test]
fn native_rpmdb_is_the_one_rpm_writes() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let packages = [
        "brt-hello",
        "brt-user",
        "brt-scripts",
        "brt-doc",
        "brt-lua",
        "brt-rich",
        "brt-filedep",
    ];
    let text = head(&packages) + &metalink_repo(&brt);
    // rpm dates the database by SOURCE_DATE_EPOCH, and brt passes it on:
    // both databases carry the same install times.
    let init = |name: &str, extra: &[&str]| {
        let r = config(&brt, name, &text);
        let mut args = vec!["-r", r.as_str(), "init", "--no-cache"];
        args.extend(extra);
        let out = brt
            .cmd()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(&args)
            .output()
            .unwrap();
        assert_ok(&out, name);
        (r, stderr(&out))
    };
    let (_, said) = init("emulated", &["--accel", "off"]);
    assert!(!said.contains("brt writes the rpmdb"), "{said}");
    let started = Instant::now();
    let (r, said) = init("native", &[]);
    eprintln!("native rpmdb init: {:?}", started.elapsed());
    assert!(said.contains("brt writes the rpmdb"), "{said}");
    let log = fs_err::read_to_string(brt.basedir().join("native/result/root.log")).unwrap();
    assert!(
        !log.contains("rpm -i --justdb"),
        "the root's rpm registered them:\n{log}"
    );
    assert!(
        fs_err::read_to_string(brt.basedir().join("native/result/state.log"))
            .unwrap()
            .contains("rpmdb"),
        "state.log names the phase"
    );

    // Byte for byte: every stored header and every index row.
    let root = |name: &str| brt.basedir().join(name).join("root");
    let (theirs, ours) = (rpmdb_dump(&root("emulated")), rpmdb_dump(&root("native")));
    for (a, b) in theirs.iter().zip(&ours) {
        assert_eq!(a, b);
    }
    assert_eq!(theirs.len(), ours.len());
    // `(brt-rich-c if brt-hello)` is indexed under `!brt-hello` too.
    let negated = format!("Requirename text {} ", hex::encode_upper("!brt-hello"));
    assert!(
        ours.iter().any(|l| l.starts_with(&negated)),
        "rich dependencies"
    );

    // The root's own rpm accepts it: -qa, -Va clean, a rebuild that changes
    // nothing, and an erase.
    let qa = "rpm -qa --qf '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n'";
    let out = shell(&brt, &r, qa);
    assert_ok(&out, "rpm -qa");
    let mut want: Vec<String> = resolved(&brt, "native").into_iter().collect();
    let mut listed: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey-"))
        .map(str::to_string)
        .collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);
    let out = shell(&brt, &r, "rpm -Va; echo done");
    assert_eq!(
        stdout(&out).trim_end(),
        "done",
        "rpm -Va:\n{}",
        stdout(&out)
    );
    let before = rpmdb_dump(&root("native"));
    let out = shell(&brt, &r, "rpmdb --rebuilddb && echo rebuilt");
    assert_eq!(stdout(&out), "rebuilt\n", "{}", stderr(&out));
    let blobs = |d: &[String]| -> Vec<String> {
        d.iter()
            .filter(|l| l.starts_with("Packages "))
            .cloned()
            .collect()
    };
    assert_eq!(blobs(&rpmdb_dump(&root("native"))), blobs(&before));
    let out = shell(
        &brt,
        &r,
        "rpm -e brt-filedep && ! rpm -q brt-filedep >/dev/null && echo erased",
    );
    assert_eq!(stdout(&out), "erased\n", "{}", stderr(&out));

    // brt reads it natively too: an install after the erase puts it back.
    let out = brt.run(&["-r", &r, "install", "brt-filedep"]);
    assert_ok(&out, "install");
    let out = shell(&brt, &r, "rpm -q brt-filedep >/dev/null && echo back");
    assert_eq!(stdout(&out), "back\n");
}
