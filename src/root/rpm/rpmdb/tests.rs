//! The native rpmdb against the host's rpm (rpm 4.18 on Debian 12, as
//! `scripts/install-deps` installs it): the same packages registered by
//! `rpm -i --justdb --noorder` and by brt give the same stored headers and
//! the same index rows.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const EPOCH: u32 = 1_700_000_000;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps installs rpm)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two packages with every kind of indexed tag: rich and install-only
/// requirements, triggers (one name twice: rpm indexes it once), file triggers, weak
/// dependencies, a relocatable one (its prefix becomes INSTPREFIXES).
fn build(dir: &Path) -> Vec<PathBuf> {
    let spec = r#"
Name: brt-dbtest
Version: 1.0
Release: 1
Summary: test
License: MIT
Group: Development/Tools
BuildArch: noarch
Prefix: /opt
Requires: (brt-a if brt-b else brt-c)
Requires: (brt-x or perl(Foo::Bar))
Requires(pre): /bin/sh
Requires(pre,preun): coreutils
Requires: brt-plain >= 1.0
Provides: brt-cap = 1.0
Conflicts: (brt-bad with brt-worse)
Obsoletes: brt-old < 1.0
Recommends: (brt-rec if brt-cond)
Suggests: brt-sug
Supplements: (brt-sup and brt-sup2)
Enhances: brt-enh

%description
test

%package two
Summary: second
Group: System/Base
Requires: brt-dbtest = %{version}-%{release}

%description two
second

%install
mkdir -p %{buildroot}/opt/a/b %{buildroot}/opt/c
echo x > %{buildroot}/opt/a/b/same
echo y > %{buildroot}/opt/c/same
echo z > %{buildroot}/opt/c/two

%triggerin -- brt-t1
true
%triggerun -- brt-t1
true
%triggerin -- brt-t2
true
%filetriggerin -- /opt/c
true
%transfiletriggerin -- /usr/lib
true

%files
/opt/a
/opt/c/same

%files two
/opt/c/two
"#;
    fs_err::write(dir.join("t.spec"), spec).unwrap();
    run(Command::new("rpmbuild")
        .args(["-bb", "--quiet"])
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg("--define")
        .arg(format!("_rpmdir {}", dir.join("out").display()))
        .arg("--define")
        .arg(format!("_dbpath {}", dir.join("hostdb").display()))
        .arg("--define")
        .arg("_build_name_fmt %%{NAME}.rpm")
        .arg(dir.join("t.spec")));
    ["brt-dbtest.rpm", "brt-dbtest-two.rpm"]
        .iter()
        .map(|f| dir.join("out").join(f))
        .collect()
}

fn dump(db: &Path) -> Vec<String> {
    let db = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut lines = Vec::new();
    let mut q = db
        .prepare("SELECT hnum, hex(blob) FROM 'Packages' ORDER BY hnum")
        .unwrap();
    let blobs = q
        .query_map([], |r| {
            Ok(format!(
                "Packages {} {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .unwrap();
    lines.extend(blobs.map(Result::unwrap));
    for t in TABLES {
        let mut q = db
            .prepare(&format!(
                "SELECT typeof(key), hex(key), hnum, idx FROM '{}' ORDER BY rowid",
                t.name
            ))
            .unwrap();
        let rows = q
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {} {} {}",
                    t.name,
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
fn the_database_is_what_rpm_writes() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = build(dir.path());
    let theirs = dir.path().join("theirs");
    run(Command::new("rpm")
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .arg("--root")
        .arg(&theirs)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--justdb",
            "--noorder",
            "--nodeps",
        ])
        .args(["--noscripts", "--notriggers", "--nosignature", "--nodigest"])
        .args(["--ignoresize", "--replacefiles", "--replacepkgs"])
        .args(&pkgs));
    let ours = dir.path().join("ours");
    let named: Vec<(String, PathBuf)> = pkgs
        .iter()
        .map(|p| (p.display().to_string(), p.clone()))
        .collect();
    let reg = Registration::prepare(
        Location {
            dbpath: "/var/lib/rpm".into(),
            color: 3,
        },
        &named,
        Clock {
            tid: EPOCH,
            step: 1,
        },
    )
    .unwrap();
    write_at(&ours, &reg).unwrap();

    let (a, b) = (
        dump(&theirs.join("var/lib/rpm/rpmdb.sqlite")),
        dump(&ours.join("var/lib/rpm/rpmdb.sqlite")),
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
    // The rich and install-only cases are in there.
    let rows = a.join("\n");
    for key in [
        "(brt-a if brt-b else brt-c)",
        "!brt-b",
        "brt-x",
        "brt-t2",
        "/opt/c",
    ] {
        assert!(rows.contains(&hex::encode_upper(key)), "{key}");
    }

    // The host's rpm reads brt's database: what -qa lists, and -V.
    let out = Command::new("rpm")
        .arg("--root")
        .arg(&ours)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-qa",
            "--qf",
            "%{NAME} %{INSTALLTIME}\\n",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("brt-dbtest {EPOCH}\nbrt-dbtest-two {}\n", EPOCH + 1)
    );
    let listed = read_here_at(&ours, &reg.location).unwrap();
    let names: Vec<String> = listed
        .iter()
        .map(|n| format!("{}-{}", n.name, n.evr()))
        .collect();
    assert_eq!(names, ["brt-dbtest-0:1.0-1", "brt-dbtest-two-0:1.0-1"]);
}

#[test]
fn bad_packages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = build(dir.path());
    let bytes = fs_err::read(&pkgs[0]).unwrap();
    let location = Location {
        dbpath: "/var/lib/rpm".into(),
        color: 3,
    };
    let clock = Clock { tid: 1, step: 0 };
    for (what, cut) in [
        ("a cut package", bytes[..200].to_vec()),
        ("not a package", b"hello world".repeat(20)),
        ("a huge count", {
            let mut b = bytes.clone();
            // The signature header's entry count.
            b[104..108].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
            b
        }),
    ] {
        let path = dir.path().join("bad.rpm");
        fs_err::write(&path, &cut).unwrap();
        let err = Registration::prepare(location.clone(), &[("bad".into(), path.clone())], clock)
            .err()
            .unwrap_or_else(|| panic!("{what} was accepted"));
        assert!(err.starts_with("bad: "), "{what}: {err}");
    }
}
