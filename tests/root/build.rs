//! `build`, `buildsrpm`, `shell --build` and `clean` in real foreign roots:
//! an aarch64 root from the rpm fixture (Debian arm64 binaries repackaged
//! as RPMs, with gcc and rpmbuild), and an arm64 Debian root from the
//! mirror building `hello` from the mirror's sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BinfmtSnapshot, Brt, mounts_below, require_root, rpm_fixture, stderr, stdout};
use crate::initkit::{assert_ok, assert_settled, config, shell, state_packages};

/// An aarch64 root with `@buildsys-build` from the fixture's `good` repo.
fn rpm_root(brt: &Brt) -> String {
    let (dir, server) = rpm_fixture();
    let text = format!(
        "arch = \"aarch64\"\n[distro]\nfamily = \"rpm\"\nname = \"brtfix\"\nrelease = \"1\"\n\
         [install]\npackages = [\"@buildsys-build\"]\n\
         [[repo]]\nname = \"good\"\nbaseurl = [\"{}\"]\ngpgcheck = true\ngpgkey = [\"file://{}\"]\n\
         [macros]\n\"%_smp_mflags\" = \"-j2\"\n",
        server.url("repos/good/"),
        dir.join("RPM-GPG-KEY-brt").display()
    );
    config(brt, "fix", &text)
}

/// Every path below `dir` with its size and mtime, not following links.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs_err::read_dir(&d).unwrap().flatten() {
            let md = e.path().symlink_metadata().unwrap();
            if md.is_dir() {
                todo.push(e.path());
            }
            out.insert(e.path(), (md.size(), md.mtime()));
        }
    }
    out
}

/// `rpm -qp --qf FORMAT FILE` on the host.
fn rpm_query(file: &Path, format: &str) -> String {
    let out = Command::new("rpm")
        .args(["-qp", "--nosignature", "--qf", format])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The ELF machine of `path` inside the package `rpm`, read with the rpm crate.
fn elf_machine(rpm: &Path, path: &str) -> u16 {
    let package = rpm::Package::open(rpm).unwrap();
    for entry in package.files().unwrap() {
        let file = entry.unwrap();
        if file.metadata.path() != Path::new(path) {
            continue;
        }
        let bytes = file.content().expect("the file has content");
        assert_eq!(&bytes[..4], b"\x7fELF", "{path} is not an ELF file");
        return u16::from_le_bytes([bytes[18], bytes[19]]);
    }
    panic!("{path} is not in {}", rpm.display());
}

/// The content of `path` inside the package `rpm`, read with the rpm crate.
fn file_in(rpm: &Path, path: &str) -> String {
    let package = rpm::Package::open(rpm).unwrap();
    for entry in package.files().unwrap() {
        let file = entry.unwrap();
        if file.metadata.path() == Path::new(path) {
            return String::from_utf8(file.content().unwrap().to_vec()).unwrap();
        }
    }
    panic!("{path} is not in {}", rpm.display());
}

const EM_AARCH64: u16 = 183;

/// A spec written by the test, made into an SRPM by `buildsrpm`.
fn srpm(brt: &Brt, root: &str, name: &str, spec: &str) -> PathBuf {
    let dir = brt.tmp.path().join("specs");
    fs_err::create_dir_all(dir.join("sources")).unwrap();
    let path = dir.join(format!("{name}.spec"));
    fs_err::write(&path, spec).unwrap();
    let out_dir = brt.tmp.path().join("srpms");
    let out = brt.run(&[
        "-r",
        root,
        "buildsrpm",
        "--spec",
        path.to_str().unwrap(),
        "--sources",
        dir.join("sources").to_str().unwrap(),
        "--resultdir",
        out_dir.to_str().unwrap(),
    ]);
    assert_ok(&out, "buildsrpm");
    let found = fs_err::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(name) && n.ends_with(".src.rpm")
        });
    found.unwrap_or_else(|| panic!("buildsrpm made no {name} SRPM"))
}

/// Records the interfaces `%build` sees; `%generate_buildrequires` asks
/// for `brt-hello`, which the root does not have.
const NET_SPEC: &str = r#"Name: brt-net
Version: 1
Release: 1
Summary: records the network a build sees
License: MIT
%description
net
%generate_buildrequires
echo brt-hello
%build
echo "brt-net: interfaces: $(ls /sys/class/net | tr '\n' ' ')"
echo "brt-net: uid $(id -u) $(id -un)"
rpm -q brt-hello
%install
mkdir -p %{buildroot}/usr/share/brt-net
%files
/usr/share/brt-net
"#;

const CHAIN_A: &str = r#"Name: brt-chain-a
Version: 1
Release: 1
Summary: first link
License: MIT
BuildArch: noarch
%description
a
%install
mkdir -p %{buildroot}/usr/share/brt-chain-a
echo made-by-chain-a > %{buildroot}/usr/share/brt-chain-a/marker
%files
/usr/share/brt-chain-a
"#;

const CHAIN_B: &str = r#"Name: brt-chain-b
Version: 1
Release: 1
Summary: second link
License: MIT
BuildRequires: brt-chain-a
%description
b
%build
cat /usr/share/brt-chain-a/marker
%files
"#;

const X86_ONLY: &str = r#"Name: brt-x86only
Version: 1
Release: 1
Summary: x86_64 only
License: MIT
ExclusiveArch: x86_64
%description
x
%files
"#;

/// The user's view of RPM builds in an aarch64 root: a C program's SRPM
/// gives an aarch64 package whose binary runs in the root; a compile error
/// gives the build's exit class, the log tail and a build.log; the root is
/// never changed; `%build` has no network unless asked; dynamic build
/// dependencies, `--keep` + `shell --build`, `--chain`, `--json`,
/// ExclusiveArch; nothing is left mounted.
#[test]
fn rpm_builds_in_an_aarch64_root() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = rpm_root(&brt);
    assert_ok(&brt.run(&["-r", &r, "init"]), "init");
    let root = brt.basedir().join("fix/root");
    let listing = |brt: &Brt| {
        stdout(&shell(brt, &r, "rpm -qa | sort"))
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let packages_before = listing(&brt);
    let tree_before = tree(&root);
    let (fixture, _) = rpm_fixture();
    let result = brt.tmp.path().join("result");

    // A C program: an aarch64 package, checked as a packager would.
    let greet = fixture.join("srpms/brt-greet-1.0-1.src.rpm");
    let out = brt
        .cmd()
        .args(["-r", &r, "build", "--json", "--resultdir"])
        .arg(&result)
        .arg(&greet)
        .output()
        .unwrap();
    assert_ok(&out, "build brt-greet");
    let rpm = result.join("brt-greet-1.0-1.aarch64.rpm");
    assert_eq!(rpm_query(&rpm, "%{ARCH}"), "aarch64");
    assert_eq!(elf_machine(&rpm, "/usr/bin/brt-greet"), EM_AARCH64);
    assert!(result.join("brt-greet-1.0-1.src.rpm").exists());
    for log in ["build.log", "root.log", "state.log", "installed_pkgs.log"] {
        assert!(result.join(log).exists(), "{log} missing");
    }
    // gcc and make are in @buildsys-build: the step still leaves its line.
    let root_log = fs_err::read_to_string(result.join("root.log")).unwrap();
    assert!(root_log.contains("brt: nothing to install"), "{root_log}");
    // `-v` shows build.log as it is written.
    let live = brt.tmp.path().join("result-live");
    let verbose = brt
        .cmd()
        .args(["-v", "-r", &r, "build", "--resultdir"])
        .arg(&live)
        .arg(&greet)
        .output()
        .unwrap();
    assert_ok(&verbose, "build -v");
    let shown = stderr(&verbose);
    assert!(shown.contains("Executing(%build)"), "{shown}");
    assert!(shown.contains("Wrote: "), "{shown}");
    // On a terminal without `-v`: one line with the step and the log's
    // last line, cleared at the end.
    let viewed = brt.tmp.path().join("result-view");
    let term = brt.on_a_terminal(&format!(
        "-r {r} build --resultdir {} {}",
        viewed.display(),
        greet.display()
    ));
    let shown = stdout(&term);
    assert!(term.status.success(), "{shown}");
    assert!(shown.contains("brt-greet-1.0-1: rpmbuild · "), "{shown}");
    let log = fs_err::read_to_string(viewed.join("build.log")).unwrap();
    assert!(
        log.lines()
            .filter(|l| !l.trim().is_empty())
            .any(|l| shown.contains(&format!(" · {}", l.chars().take(8).collect::<String>()))),
        "no line of build.log in the view: {shown}"
    );
    let after = shown.rsplit("\r\x1b[2K").next().unwrap_or_default();
    assert!(
        after.trim().is_empty(),
        "the line was left on screen: {after:?}"
    );
    // rpmbuild's options reach it; without them, the spec's defaults.
    let options = fixture.join("srpms/brt-options-1.0-1.src.rpm");
    let plain = brt.tmp.path().join("result-plain");
    let built = brt
        .cmd()
        .args(["-r", &r, "build", "--resultdir"])
        .arg(&plain)
        .arg(&options)
        .output()
        .unwrap();
    assert_ok(&built, "build brt-options");
    assert_eq!(
        file_in(
            &plain.join("brt-options-1.0-1.aarch64.rpm"),
            "/usr/share/brt-options/options.txt"
        ),
        "greeting=hello\ndoc=on\ncheck=ran\n"
    );
    let chosen = brt.tmp.path().join("result-options");
    let built = brt
        .cmd()
        .args(["-r", &r, "build", "--resultdir"])
        .arg(&chosen)
        .args(["--define", "greeting hi-from-brt", "--with", "extra"])
        .args(["--without", "doc", "--nocheck", "--target", "noarch"])
        .arg(&options)
        .output()
        .unwrap();
    assert_ok(&built, "build brt-options with options");
    assert_eq!(
        file_in(
            &chosen.join("brt-options-1.0-1.noarch.rpm"),
            "/usr/share/brt-options/options.txt"
        ),
        "greeting=hi-from-brt\nextra=on\n"
    );
    let installed = fs_err::read_to_string(result.join("installed_pkgs.log")).unwrap();
    assert!(
        installed.lines().any(|l| l.starts_with("gcc-12-")),
        "{installed}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["exit_class"], "success");
    assert_eq!(summary["emulated"], true);
    // The fixture's x86_64 tools at the root's versions ran natively...
    let accel = &summary["builds"][0]["accel"];
    assert_eq!(accel["mode"], "tools", "{accel}");
    let native: Vec<&str> = accel["native"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for program in ["/usr/bin/sed", "/usr/bin/grep", "/usr/bin/cat"] {
        assert!(native.contains(&program), "{program} not native: {accel}");
    }
    assert!(!native.iter().any(|p| p.ends_with("/uname")), "{accel}");
    // ... and the package is the one an all-emulated build makes: the same
    // files with the same digests, modes and sizes.
    let off = brt.tmp.path().join("result-off");
    let built = brt
        .cmd()
        .args(["-r", &r, "build", "--accel", "off", "--resultdir"])
        .arg(&off)
        .arg(&greet)
        .output()
        .unwrap();
    assert_ok(&built, "build brt-greet --accel off");
    let payload = "[%{FILENAMES} %{FILEDIGESTS} %{FILEMODES} %{FILESIZES}\\n]";
    let rpms = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs_err::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".aarch64.rpm"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(rpms(&off), rpms(&result));
    for name in rpms(&off) {
        assert_eq!(
            rpm_query(&result.join(&name), payload),
            rpm_query(&off.join(&name), payload),
            "{name}"
        );
    }
    // Nothing of the helpers is left in the ready root.
    assert!(!root.join("dev/.brt-accel").exists());
    assert_eq!(summary["root"]["arch"], "aarch64");
    // What a rebuild record needs: the emulator, the package set's digest,
    // the input's and each output's SHA-256.
    let qemu = summary["qemu"].as_str().unwrap();
    assert!(qemu.starts_with("qemu-aarch64 version "), "{qemu}");
    let sha256 = |bytes: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let packages: Vec<String> = state_packages(&brt, "fix").into_iter().collect();
    assert_eq!(
        summary["root"]["packages_sha256"],
        sha256(packages.join("\n").as_bytes())
    );
    assert_eq!(summary["root"]["packages"], packages.len());
    let b = &summary["builds"][0];
    assert_eq!(b["build_status"], 0);
    assert_eq!(b["input"]["sha256"], sha256(&fs_err::read(&greet).unwrap()));
    for o in b["outputs"].as_array().unwrap() {
        let path = o["path"].as_str().unwrap();
        assert_eq!(o["sha256"], sha256(&fs_err::read(path).unwrap()), "{path}");
    }
    let outputs: Vec<&str> = b["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert!(
        outputs
            .iter()
            .any(|p| p.ends_with("brt-greet-1.0-1.aarch64.rpm"))
    );
    let phases: Vec<&str> = b["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "build-root",
            "read",
            "install",
            "unpack",
            "build",
            "collect"
        ]
    );

    // A compile error: the exit class, the log's tail, the compiler's words.
    let broken = fixture.join("srpms/brt-broken-1.0-1.src.rpm");
    let out = brt
        .cmd()
        .args(["-r", &r, "build", "--keep", "--resultdir"])
        .arg(&result)
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("failed in %build"), "{err}");
    assert!(err.contains("expected ';'"), "no log tail:\n{err}");
    let log = fs_err::read_to_string(result.join("build.log")).unwrap();
    assert!(log.contains("error: expected ';'"), "{log}");
    // The kept build root holds the failed build, as the build user left it.
    assert!(err.contains("shell --build 1"), "{err}");
    let out = brt.run(&[
        "-r",
        &r,
        "shell",
        "--build",
        "1",
        "--",
        "/bin/sh",
        "-c",
        "ls /builddir/build/BUILD/brt-broken-1.0",
    ]);
    assert_ok(&out, "shell --build");
    assert!(stdout(&out).contains("greet.c"), "{}", stdout(&out));
    // `clean --build ID` removes that build root; an unknown id is an error.
    let out = brt.run(&["-r", &r, "clean", "--build", "9"]);
    assert!(!out.status.success(), "clean --build of an unknown id");
    assert_ok(
        &brt.run(&["-r", &r, "clean", "--build", "1"]),
        "clean --build 1",
    );
    assert!(!brt.basedir().join("fix/builds/1").exists());
    assert_ok(&brt.run(&["-r", &r, "clean", "--builds"]), "clean");

    // Network: only loopback in %build unless asked; dynamic build
    // dependencies are installed round by round.
    // Run through sudo by user 4321: the build runs as that uid (named
    // after config `build.user`) and the results are theirs.
    let net = srpm(&brt, &r, "brt-net", NET_SPEC);
    let out = brt
        .cmd()
        .env("SUDO_UID", "4321")
        .env("SUDO_GID", "4321")
        .args(["-r", &r, "build"])
        .arg(&net)
        .output()
        .unwrap();
    assert_ok(&out, "build brt-net");
    let result_dir = brt.basedir().join("fix/result");
    let log = fs_err::read_to_string(result_dir.join("build.log")).unwrap();
    assert!(log.contains("brt-net: interfaces: lo \n"), "{log}");
    assert!(log.contains("brt-net: uid 4321 brt\n"), "{log}");
    {
        use std::os::unix::fs::MetadataExt;
        for f in ["brt-net-1-1.aarch64.rpm", "build.log", "state.log", ""] {
            let md = fs_err::metadata(result_dir.join(f)).unwrap();
            assert_eq!((md.uid(), md.gid()), (4321, 4321), "owner of `{f}`");
        }
    }
    assert!(log.contains("brt-hello-1.0-1.aarch64"), "{log}");
    let out = brt.run(&["-r", &r, "build", "--enable-network", net.to_str().unwrap()]);
    assert_ok(&out, "build brt-net with network");
    let log = fs_err::read_to_string(brt.basedir().join("fix/result/build.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.starts_with("brt-net: interfaces:"))
        .unwrap();
    assert_ne!(
        line, "brt-net: interfaces: lo ",
        "the network was not given"
    );

    // A chain: the second package build-requires what the first makes.
    let a = srpm(&brt, &r, "brt-chain-a", CHAIN_A);
    let b = srpm(&brt, &r, "brt-chain-b", CHAIN_B);
    let out = brt.run(&["-r", &r, "build", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(stderr(&out).contains("brt-chain-a"), "{}", stderr(&out));
    // On another filesystem than the build root (tmpfs): results are copied.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let chain = shm.path().join("chain");
    let out = brt.run(&[
        "-r",
        &r,
        "build",
        "--chain",
        "--resultdir",
        chain.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_ok(&out, "build --chain");
    assert!(
        chain
            .join("brt-chain-a-1-1/brt-chain-a-1-1.noarch.rpm")
            .exists()
    );
    assert!(
        chain
            .join("brt-chain-b-1-1/brt-chain-b-1-1.aarch64.rpm")
            .exists()
    );
    let log = fs_err::read_to_string(chain.join("brt-chain-b-1-1/build.log")).unwrap();
    assert!(log.contains("made-by-chain-a"), "{log}");

    // Two builds at once, each in its own build root; a third into a result
    // dir in use waits for it.
    let spawn = |dir: &Path| {
        brt.cmd()
            .args(["-r", &r, "build", "--resultdir"])
            .arg(dir)
            .arg(&greet)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (brt.tmp.path().join("p1"), brt.tmp.path().join("p2"));
    let builds = [spawn(&p1), spawn(&p2), spawn(&p1)];
    let outs: Vec<_> = builds
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert_ok(o, "concurrent build");
    }
    let said: String = outs.iter().map(stderr).collect();
    assert!(
        said.contains("build root 1") && said.contains("build root 2"),
        "{said}"
    );
    assert!(said.contains("waiting: another build writes to"), "{said}");
    assert!(p1.join("brt-greet-1.0-1.aarch64.rpm").exists());
    assert!(p2.join("brt-greet-1.0-1.aarch64.rpm").exists());

    // An architecture the package excludes: refused before anything runs.
    let x86 = srpm(&brt, &r, "brt-x86only", X86_ONLY);
    let out = brt.run(&["-r", &r, "build", x86.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not build for aarch64: its ExclusiveArch is x86_64"),
        "{}",
        stderr(&out)
    );
    // Not a source package.
    let out = brt.run(&["-r", &r, "build", rpm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a source package"),
        "{}",
        stderr(&out)
    );

    // The ready root is as it was: not one file changed, same packages.
    let tree_after = tree(&root);
    let changed: Vec<_> = tree_after
        .iter()
        .filter(|(p, v)| tree_before.get(*p) != Some(v))
        .map(|(p, _)| p)
        .chain(tree_before.keys().filter(|p| !tree_after.contains_key(*p)))
        .collect();
    assert!(changed.is_empty(), "the ready root changed: {changed:?}");
    assert_eq!(listing(&brt), packages_before);
    assert!(mounts_below(brt.tmp.path()).is_empty());
    let builds: Vec<_> = fs_err::read_dir(brt.basedir().join("fix/builds"))
        .unwrap()
        .collect();
    assert!(builds.is_empty(), "{builds:?}");

    // The package runs in the root once installed there.
    assert_ok(
        &brt.cmd()
            .args(["-r", &r, "copyin"])
            .arg(&rpm)
            .arg("/tmp/")
            .output()
            .unwrap(),
        "copyin",
    );
    let out = shell(
        &brt,
        &r,
        "rpm -i /tmp/brt-greet-1.0-1.aarch64.rpm 2>/dev/null && brt-greet",
    );
    assert_ok(&out, "brt-greet");
    assert_eq!(stdout(&out), "hello from brt-greet\n");
}

/// `build` of a root that does not exist yet bootstraps it; kill -9 or
/// Ctrl-C in the middle of the build: nothing stays mounted, no process is
/// left in the build root, the next build removes the leftover and works.
#[test]
fn killed_build_leaves_nothing_mounted() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = rpm_root(&brt);
    let (fixture, _) = rpm_fixture();
    let greet = fixture.join("srpms/brt-greet-1.0-1.src.rpm");
    let log = brt.basedir().join("fix/result/build.log");
    // No init first: `build` bootstraps the root itself, as mock does.
    let mut child = brt
        .cmd()
        .args(["-r", &r, "build"])
        .arg(&greet)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_build_step(&log);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_settled(&brt);
    assert!(brt.basedir().join("fix/builds/1").exists());

    assert_ok(
        &brt.run(&["-r", &r, "build", greet.to_str().unwrap()]),
        "build",
    );
    // The leftover was removed; the new build took its place and went.
    let left: Vec<_> = fs_err::read_dir(brt.basedir().join("fix/builds"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Ctrl-C, as a terminal sends it (to the whole process group): exit
    // 130, said as such, and the build root is gone.
    use std::os::unix::process::CommandExt;
    fs_err::remove_file(&log).unwrap();
    let child = brt
        .cmd()
        .args(["-r", &r, "build"])
        .arg(&greet)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_build_step(&log);
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("was interrupted"), "{}", stderr(&out));
    assert!(mounts_below(brt.tmp.path()).is_empty());
    let left: Vec<_> = fs_err::read_dir(brt.basedir().join("fix/builds"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Waits (up to 2 min) until `log` shows that rpmbuild runs `%build`.
fn wait_for_build_step(log: &Path) {
    let started = Instant::now();
    while !fs_err::read_to_string(log).is_ok_and(|l| l.contains("Executing(%build)")) {
        assert!(started.elapsed() < Duration::from_secs(120), "no %build");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const DEBIAN_POOL: &str = "http://deb.debian.org/debian/pool/main/h/hello";

/// `hello` from the mirror's sources (the `.dsc` and the files it lists).
/// The build dirs of a root (kept or left over).
fn overlay_builds(brt: &Brt, r: &str) -> Vec<String> {
    fs_err::read_dir(brt.basedir().join(r).join("builds"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The packages of a `--dry-run --json` transaction, each as `key` makes it.
fn dry_run_set(
    out: &std::process::Output,
    key: impl Fn(&serde_json::Value) -> String,
) -> std::collections::BTreeSet<String> {
    let tx: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    tx["packages"].as_array().unwrap().iter().map(key).collect()
}

/// After an accelerated init and builds, the root is what an emulated init
/// makes: `dpkg -V` finds nothing changed, its programs are its own arch's,
/// nothing of the helpers is in it, and a root made with `--accel off` from
/// the same packages lists the same packages (`before`).
fn accelerated_root_is_clean(brt: &Brt, r: &str, before: &str) {
    let out = shell(brt, r, "dpkg -V; echo status $?");
    assert_eq!(stdout(&out), "status 0\n", "{}", stderr(&out));
    let root = brt.basedir().join(r).join("root");
    for program in ["usr/bin/sed", "usr/bin/dash", "usr/bin/ls"] {
        let bin = fs_err::read(root.join(program)).unwrap();
        assert_eq!(
            u16::from_le_bytes([bin[18], bin[19]]),
            EM_AARCH64,
            "{program}"
        );
    }
    assert!(!root.join("dev/.brt-accel").exists());
    assert!(!root.join("usr/lib/x86_64-linux-gnu").exists());
    let off = brt.tmp.path().join("off.toml");
    if !off.exists() {
        fs_err::write(&off, "include = \"debian-bookworm-arm64.toml\"\n").unwrap();
        // Not from the root cache, which holds the accelerated root.
        let out = brt.run(&[
            "-r",
            off.to_str().unwrap(),
            "init",
            "--accel",
            "off",
            "--no-cache",
        ]);
        assert_ok(&out, "init --accel off");
        assert!(stderr(&out).contains("accel off"), "{}", stderr(&out));
    }
    let listed = stdout(&shell(brt, off.to_str().unwrap(), "dpkg-query -W | sort"));
    assert_eq!(listed, before);
}

fn hello_source(dir: &Path) -> PathBuf {
    fs_err::create_dir_all(dir).unwrap();
    let client = reqwest::blocking::Client::new();
    let get = |name: &str| {
        let bytes = client
            .get(format!("{DEBIAN_POOL}/{name}"))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.bytes())
            .unwrap_or_else(|e| panic!("cannot fetch {name}: {e}"));
        fs_err::write(dir.join(name), &bytes).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let dsc = "hello_2.10-3.dsc";
    let text = get(dsc);
    let files: Vec<String> = text
        .split("Checksums-Sha256:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    assert!(!files.is_empty());
    for f in &files {
        get(f);
    }
    dir.join(dsc)
}

/// A real Debian source package built in the arm64 root from the mirror:
/// the `.deb` says `Architecture: arm64`, its binary is an aarch64 ELF and
/// runs in the root; `.buildinfo`, `.changes` and the logs are in the
/// result dir; the root is unchanged; a `.dsc` whose files do not match
/// is refused before anything runs.
#[test]
fn debian_hello_from_the_mirror() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = "debian-bookworm-arm64";
    let out = brt.run(&["-r", r, "build", "--chain", "a.dsc", "b.dsc"]);
    assert!(
        stderr(&out).contains("`--chain` works for RPM roots only"),
        "{}",
        stderr(&out)
    );
    // A dry run lists exactly what init then installs.
    let out = brt.run(&["-r", r, "init", "--dry-run", "--json"]);
    assert_ok(&out, "init --dry-run");
    let planned = dry_run_set(&out, |p| {
        format!(
            "{} {} {}",
            p["name"].as_str().unwrap(),
            p["version"].as_str().unwrap(),
            p["arch"].as_str().unwrap()
        )
    });
    assert!(!brt.basedir().join(r).exists());
    // init runs its maintainer scripts with native helpers (accel auto).
    let out = brt.run(&["-r", r, "init"]);
    assert_ok(&out, "init");
    assert!(
        stderr(&out).contains("accel auto: ") && stderr(&out).contains(" programs native"),
        "{}",
        stderr(&out)
    );
    // bookworm's x86_64 cross gcc is built from gcc-12 12.2.0-14, the
    // root's gcc-12 is 12.2.0-14+deb12u1: the toolchain tier is refused,
    // with both versions named (unless a point release makes them equal).
    let root_log = fs_err::read_to_string(brt.basedir().join(r).join("result/root.log")).unwrap();
    let refused = root_log
        .lines()
        .find(|l| l.contains("no native cross toolchain"));
    match refused {
        Some(line) => assert!(
            line.contains("is built from gcc-12 12.2.0-14,")
                && line.contains("the root has gcc-12 12.2.0-14+deb12u1"),
            "{line}"
        ),
        None => assert!(root_log.contains(" cc1 "), "{root_log}"),
    }
    assert_eq!(planned, state_packages(&brt, r));
    let dsc = hello_source(&brt.tmp.path().join("src"));
    let before = stdout(&shell(&brt, r, "dpkg-query -W | sort"));
    accelerated_root_is_clean(&brt, r, &before);
    // What the build will install, without building.
    let out = brt
        .cmd()
        .args(["-r", r, "build", "--dry-run", "--json"])
        .arg(&dsc)
        .output()
        .unwrap();
    assert_ok(&out, "build --dry-run");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let build_deps: std::collections::BTreeSet<String> = plan["builds"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(build_deps.contains("debhelper"), "{plan}");
    assert!(
        overlay_builds(&brt, r).is_empty(),
        "a dry run made a build root"
    );
    let result = brt.tmp.path().join("result");
    let out = brt
        .cmd()
        .args(["-r", r, "build", "--resultdir"])
        .arg(&result)
        .arg(&dsc)
        .output()
        .unwrap();
    assert_ok(&out, "build hello");
    // Builds use the native tools by default; the build log says which.
    let log = fs_err::read_to_string(result.join("build.log")).unwrap();
    assert!(log.contains("brt: accel tools: "), "{log}");
    for program in [" sed ", " grep ", " m4 ", " dash "] {
        assert!(log.contains(program), "{program} not native: {log}");
    }
    let names: Vec<String> = fs_err::read_dir(&result)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let deb = result.join("hello_2.10-3_arm64.deb");
    assert!(deb.exists(), "{names:?}");
    for n in [
        "hello_2.10-3_arm64.buildinfo",
        "hello_2.10-3_arm64.changes",
        "build.log",
        "root.log",
        "state.log",
        "installed_pkgs.log",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let field = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Architecture")
        .output()
        .unwrap();
    assert_eq!(stdout(&field), "arm64\n");
    let x = brt.tmp.path().join("x");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&x)
        .status()
        .unwrap();
    assert!(status.success());
    let bin = fs_err::read(x.join("usr/bin/hello")).unwrap();
    assert_eq!(u16::from_le_bytes([bin[18], bin[19]]), EM_AARCH64);
    let installed = fs_err::read_to_string(result.join("installed_pkgs.log")).unwrap();
    assert!(installed.contains("debhelper "), "{installed}");
    // Exactly what the dry run said was installed.
    let ready: std::collections::BTreeSet<&str> = before
        .lines()
        .filter_map(|l| l.split(['\t', ':']).next()) // `dpkg-query -W` says `name:arch` for Multi-Arch: same
        .collect();
    let added: std::collections::BTreeSet<String> = installed
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|n| !ready.contains(n))
        .map(str::to_string)
        .collect();
    assert_eq!(added, build_deps);

    // Fidelity: the same build with everything emulated gives the same
    // packages, byte for byte.
    let off = brt.tmp.path().join("result-off");
    let out = brt
        .cmd()
        .args(["-r", r, "build", "--accel", "off", "--resultdir"])
        .arg(&off)
        .arg(&dsc)
        .output()
        .unwrap();
    assert_ok(&out, "build hello --accel off");
    assert!(stderr(&out).contains("accel off: everything emulated"));
    for deb in ["hello_2.10-3_arm64.deb", "hello-dbgsym_2.10-3_arm64.deb"] {
        let (a, b) = (
            fs_err::read(result.join(deb)).unwrap(),
            fs_err::read(off.join(deb)).unwrap(),
        );
        assert!(a == b, "{deb} differs between --accel tools and off");
    }

    // The ready root did not get the build dependencies, nor a helper.
    assert_eq!(stdout(&shell(&brt, r, "dpkg-query -W | sort")), before);
    accelerated_root_is_clean(&brt, r, &before);
    assert!(mounts_below(brt.tmp.path()).is_empty());

    // It runs in the root once installed.
    assert_ok(
        &brt.cmd()
            .args(["-r", r, "copyin"])
            .arg(&deb)
            .arg("/tmp/")
            .output()
            .unwrap(),
        "copyin",
    );
    let out = shell(
        &brt,
        r,
        "dpkg -i /tmp/hello_2.10-3_arm64.deb >/dev/null && hello",
    );
    assert_ok(&out, "hello");
    assert_eq!(stdout(&out), "Hello, world!\n");

    // A source file that does not match the .dsc: refused, nothing built.
    let orig = dsc.with_file_name("hello_2.10-3.debian.tar.xz");
    let mut bytes = fs_err::read(&orig).unwrap();
    bytes[100] ^= 0xff;
    fs_err::write(&orig, bytes).unwrap();
    let out = brt.run(&["-r", r, "build", dsc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not match its SHA-256"),
        "{}",
        stderr(&out)
    );

    // rebuild in a Debian root: B build-depends on what A makes, which
    // comes from the local repository (a `Packages` index brt writes).
    let src = brt.tmp.path().join("deb-src");
    let b = deb_source(
        &src,
        "brt-deb-b",
        "brt-deb-a",
        "test -f /usr/share/brt-deb-a/marker",
    );
    let a = deb_source(&src, "brt-deb-a", "", "true");
    let rebuilt = brt.tmp.path().join("rebuilt");
    let out = brt.run(&[
        "-r",
        r,
        "rebuild",
        "--jobs",
        "2",
        "--json",
        "--resultdir",
        rebuilt.to_str().unwrap(),
        b.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert_ok(&out, "rebuild");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["order"],
        serde_json::json!(["brt-deb-a_1.0", "brt-deb-b_1.0"])
    );
    let index = fs_err::read_to_string(rebuilt.join("repo/Packages")).unwrap();
    for p in [
        "Package: brt-deb-a",
        "Package: brt-deb-b",
        "Filename: ./brt-deb-b_1.0_all.deb",
    ] {
        assert!(index.contains(p), "{p}:\n{index}");
    }
}

/// A native Debian source package made on the host (`dpkg-source -b`),
/// without debhelper: its `binary` target runs `check`, then makes an
/// `Architecture: all` package with a marker file.
fn deb_source(dir: &Path, name: &str, build_depends: &str, check: &str) -> PathBuf {
    let tree = dir.join(name);
    fs_err::create_dir_all(tree.join("debian/source")).unwrap();
    let bd = if build_depends.is_empty() {
        String::new()
    } else {
        format!("Build-Depends: {build_depends}\n")
    };
    let files = [
        ("debian/source/format", "3.0 (native)\n".to_string()),
        (
            "debian/control",
            format!(
                "Source: {name}\nSection: misc\nPriority: optional\nMaintainer: brt <brt@example.invalid>\n\
                 {bd}Rules-Requires-Root: no\n\nPackage: {name}\nArchitecture: all\nDescription: rebuild test\n test\n"
            ),
        ),
        (
            "debian/changelog",
            format!(
                "{name} (1.0) unstable; urgency=medium\n\n  * Test.\n\n -- brt <brt@example.invalid>  Thu, 01 Jan 2026 00:00:00 +0000\n"
            ),
        ),
        (
            "debian/rules",
            format!(
                "#!/usr/bin/make -f\nbuild build-arch build-indep:\n\ttrue\n\
                 binary binary-arch binary-indep:\n\t{check}\n\
                 \tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/{name}\n\
                 \techo {name} > debian/tmp/usr/share/{name}/marker\n\
                 \tdpkg-gencontrol -p{name}\n\tdpkg-deb --build debian/tmp ..\n\
                 clean:\n\trm -rf debian/tmp debian/files\n"
            ),
        ),
    ];
    for (path, text) in files {
        fs_err::write(tree.join(path), text).unwrap();
    }
    fs_err::set_permissions(
        tree.join("debian/rules"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = Command::new("dpkg-source")
        .arg("-b")
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("dpkg-source (scripts/install-deps installs dpkg-dev)");
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join(format!("{name}_1.0.dsc"))
}

/// A small native Debian source package with C and C++ code, made with the
/// host's `dpkg-source`: what the toolchain tier compiles and links.
fn cc_source(dir: &Path) -> PathBuf {
    let src = dir.join("brt-cc-1.0");
    let files = [
        (
            "hello.c",
            "#include <stdio.h>\nint twice(int);\nstatic int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nint main(void) { printf(\"brt-cc %d %d\\n\", fib(20), twice(21)); return 0; }\n",
        ),
        (
            "util.cc",
            "#include <vector>\n#include <numeric>\nextern \"C\" int twice(int x) { std::vector<int> v(2, x); return std::accumulate(v.begin(), v.end(), 0); }\n",
        ),
        (
            "Makefile",
            "all: brt-cc\nbrt-cc: hello.o util.o\n\t$(CXX) $(LDFLAGS) -o $@ hello.o util.o\nhello.o: hello.c\n\t$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<\nutil.o: util.cc\n\t$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c -o $@ $<\ninstall:\n\tinstall -D -m755 brt-cc $(DESTDIR)/usr/bin/brt-cc\n",
        ),
        (
            "debian/control",
            "Source: brt-cc\nSection: misc\nPriority: optional\nMaintainer: brt <brt@example.org>\nBuild-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\n\nPackage: brt-cc\nArchitecture: any\nDepends: ${shlibs:Depends}, ${misc:Depends}\nDescription: brt toolchain test\n A C and C++ program built by brt's tests.\n",
        ),
        ("debian/rules", "#!/usr/bin/make -f\n%:\n\tdh $@\n"),
        (
            "debian/changelog",
            "brt-cc (1.0) unstable; urgency=medium\n\n  * Test package.\n\n -- brt <brt@example.org>  Sat, 05 Dec 2026 00:00:00 +0000\n",
        ),
        ("debian/source/format", "3.0 (native)\n"),
    ];
    for (name, text) in files {
        let path = src.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, text).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(
        src.join("debian/rules"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = Command::new("dpkg-source")
        .args(["-b", "brt-cc-1.0"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-source: {}", stderr(&out));
    dir.join("brt-cc_1.0.dsc")
}

/// The toolchain tier where the distribution's x86_64 cross compiler is
/// built from exactly the root's gcc (Debian trixie arm64): cc1, cc1plus,
/// as and ld run natively, and the package is the one an all-emulated
/// build makes, byte for byte.
#[test]
fn debian_toolchain_tier_is_byte_identical() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = "debian-trixie-arm64";
    let dsc = cc_source(brt.tmp.path());
    let build = |mode: &str| {
        let result = brt.tmp.path().join(format!("result-{mode}"));
        let out = brt
            .cmd()
            .args(["-r", r, "build", "--accel", mode, "--resultdir"])
            .arg(&result)
            .arg(&dsc)
            .output()
            .unwrap();
        assert_ok(&out, &format!("build --accel {mode}"));
        let log = fs_err::read_to_string(result.join("build.log")).unwrap();
        (result, log)
    };
    let (auto, log) = build("auto");
    let native = log
        .lines()
        .find_map(|l| l.strip_prefix("brt: native: "))
        .unwrap_or_else(|| panic!("no native programs: {log}"));
    let native: Vec<&str> = native.split(' ').collect();
    for program in [
        "cc1",
        "cc1plus",
        "aarch64-linux-gnu-as",
        "aarch64-linux-gnu-ld.bfd",
    ] {
        assert!(native.contains(&program), "{program} not native: {log}");
    }
    let (off, _) = build("off");
    for deb in ["brt-cc_1.0_arm64.deb", "brt-cc-dbgsym_1.0_arm64.deb"] {
        let (a, b) = (
            fs_err::read(auto.join(deb)).unwrap(),
            fs_err::read(off.join(deb)).unwrap(),
        );
        assert!(a == b, "{deb} differs between --accel auto and off");
    }
    // The package works in the root.
    let out = brt
        .cmd()
        .args(["-r", r, "copyin"])
        .arg(auto.join("brt-cc_1.0_arm64.deb"))
        .arg("/tmp/")
        .output()
        .unwrap();
    assert_ok(&out, "copyin");
    let out = shell(
        &brt,
        r,
        "dpkg -i /tmp/brt-cc_1.0_arm64.deb >/dev/null && brt-cc",
    );
    assert_eq!(stdout(&out), "brt-cc 6765 42\n", "{}", stderr(&out));
}

/// The headline command from nothing: `shell` on an absent root bootstraps
/// it (saying so), then runs the command in it; `install` does the same.
#[test]
fn shell_goes_from_nothing_to_a_prompt() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = rpm_root(&brt);
    // A dry run says what init would install, and makes nothing.
    let out = brt.run(&["-r", &r, "init", "--dry-run", "--json"]);
    assert_ok(&out, "init --dry-run");
    let planned = dry_run_set(&out, |p| {
        format!(
            "{}-{}:{}-{}.{}",
            p["name"].as_str().unwrap(),
            p["epoch"],
            p["version"].as_str().unwrap(),
            p["release"].as_str().unwrap(),
            p["arch"].as_str().unwrap()
        )
    });
    assert!(!brt.basedir().join("fix").exists());
    let out = brt.run(&["-r", &r, "shell", "--", "uname", "-m"]);
    assert_ok(&out, "shell on an absent root");
    assert_eq!(stdout(&out), "aarch64\n");
    assert!(
        stderr(&out).contains("root `fix` is absent: running `init` first"),
        "{}",
        stderr(&out)
    );
    // Ready now: no second init.
    let out = brt.run(&["-r", &r, "shell", "--", "rpm", "-q", "bash"]);
    assert_ok(&out, "shell on a ready root");
    assert!(!stderr(&out).contains("running `init` first"));
    assert_eq!(planned, state_packages(&brt, "fix"));
    // brt-mailer needs an MTA: two packages to install, none installed.
    let out = brt.run(&["-r", &r, "install", "--dry-run", "--json", "brt-mailer"]);
    assert_ok(&out, "install --dry-run");
    let tx: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"brt-mailer"), "{tx}");
    assert!(names.iter().any(|n| n.starts_with("brt-mta-")), "{tx}");
    assert!(
        tx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["action"] == "install" && p["epoch"].is_u64()),
        "{tx}"
    );
    let out = brt.run(&["-r", &r, "shell", "--", "rpm", "-q", "brt-mailer"]);
    assert!(!out.status.success(), "the dry run installed brt-mailer");

    // The root cache: the same package set comes back from it, whole.
    let state = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &fs_err::read_to_string(brt.basedir().join(name).join("state.json")).unwrap(),
        )
        .unwrap()
    };
    let qa = |root: &str| {
        stdout(&brt.run(&[
            "-r",
            root,
            "shell",
            "--",
            "sh",
            "-c",
            "rpm -qa | sort; rpm -Va | sort",
        ]))
    };
    let first = (state("fix")["packages"].clone(), qa(&r));
    assert_ok(&brt.run(&["-r", &r, "clean"]), "clean");
    let out = brt.run(&["-r", &r, "init"]);
    assert_ok(&out, "warm init");
    assert!(
        stderr(&out).contains("restored from the root cache by "),
        "{}",
        stderr(&out)
    );
    let log = fs_err::read_to_string(brt.basedir().join("fix/result/state.log")).unwrap();
    assert!(log.contains("restored from the root cache by "), "{log}");
    assert_eq!((state("fix")["packages"].clone(), qa(&r)), first);
    assert_ok(&brt.run(&["-r", &r, "clean"]), "clean");
    let out = brt.run(&["-r", &r, "init", "--no-cache"]);
    assert_ok(&out, "init --no-cache");
    assert!(!stderr(&out).contains("root cache"), "{}", stderr(&out));

    let other = brt.tmp.path().join("other.toml");
    fs_err::copy(&r, &other).unwrap();
    let out = brt.run(&["-r", other.to_str().unwrap(), "install", "brt-mailer"]);
    assert_ok(&out, "install on an absent root");
    assert!(
        stderr(&out).contains("running `init` first"),
        "{}",
        stderr(&out)
    );
    let out = brt.run(&[
        "-r",
        other.to_str().unwrap(),
        "shell",
        "--",
        "rpm",
        "-q",
        "brt-mailer",
    ]);
    assert_ok(&out, "the installed package");

    // scrub empties what it is asked to, and says what it freed.
    let count = |dir: &str| {
        fs_err::read_dir(brt.cachedir().join(dir))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(count("roots-v1") > 0 && count("packages-v1") > 0);
    let out = brt.run(&["scrub", "roots-cache", "packages"]);
    assert_ok(&out, "scrub");
    assert!(
        stderr(&out).contains("roots-cache: freed "),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("packages: freed "),
        "{}",
        stderr(&out)
    );
    assert_eq!((count("roots-v1"), count("packages-v1")), (0, 0));
    assert!(count("metadata-v1") > 0);
    // The roots themselves are untouched.
    assert_ok(
        &brt.run(&["-r", &r, "shell", "--", "true"]),
        "shell after scrub",
    );

    // `clean` of a whole root waits for a command using it, then removes
    // the root and keeps the result dir.
    let shell = brt
        .cmd()
        .args(["-r", &r, "shell", "--", "sleep", "3"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let layout = brt::root::Layout::new(&brt.basedir(), "fix");
    let locked = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(layout.lock_file())
            .is_ok_and(|f| {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
            })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !locked() {
        assert!(Instant::now() < deadline, "the shell did not take the root");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = brt.run(&["-r", &r, "clean"]);
    let mut shell = shell;
    assert!(
        shell.try_wait().unwrap().is_some(),
        "clean did not wait for the shell"
    );
    assert_ok(&out, "clean");
    assert!(
        stderr(&out).contains("waiting: root `fix` is locked by"),
        "{}",
        stderr(&out)
    );
    assert!(!layout.root().exists());
    assert!(layout.result_dir().exists());
}
