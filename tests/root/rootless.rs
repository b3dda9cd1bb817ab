//! brt run by an unprivileged user the tests create (with subordinate id
//! ranges): roots in the user's own dirs, owners as in a root-mode root,
//! builds, exit codes, kill -9, and the host's binfmt_misc left alone.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BinfmtSnapshot, Brt, require_root, rpm_fixture, stderr, stdout};
use crate::initkit::assert_ok;

const USER: &str = "brt-rootless";

/// The test user: made once, with subordinate ranges; its home is fresh
/// for each test (`home`), and brt is copied where it can run it.
struct User {
    name: &'static str,
    uid: u32,
    home: PathBuf,
    brt: PathBuf,
}

impl User {
    fn new(dir: &Path) -> User {
        let exists = Command::new("id")
            .arg(USER)
            .output()
            .unwrap()
            .status
            .success();
        if !exists {
            let out = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/bin/sh", USER])
                .output()
                .unwrap();
            assert!(out.status.success(), "useradd: {}", stderr(&out));
        }
        // usermod adds ranges only to files that exist.
        for f in ["/etc/subuid", "/etc/subgid"] {
            if !Path::new(f).exists() {
                fs_err::write(f, "").unwrap();
            }
        }
        let subuid = fs_err::read_to_string("/etc/subuid").unwrap_or_default();
        if !subuid.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            let out = Command::new("usermod")
                .args([
                    "--add-subuids",
                    "600000-665535",
                    "--add-subgids",
                    "600000-665535",
                    USER,
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "usermod: {}", stderr(&out));
        }
        let uid: u32 = stdout(&Command::new("id").args(["-u", USER]).output().unwrap())
            .trim()
            .parse()
            .unwrap();
        // Everything the user reads lives below `dir`, reachable by it.
        fs_err::create_dir_all(dir).unwrap();
        let mut d = dir.to_path_buf();
        while d != Path::new("/") {
            let mode = fs_err::metadata(&d).unwrap().permissions().mode();
            fs_err::set_permissions(&d, std::fs::Permissions::from_mode(mode | 0o055)).unwrap();
            if !d.pop() {
                break;
            }
        }
        let home = dir.join("home");
        fs_err::create_dir_all(&home).unwrap();
        let brt = dir.join("brt");
        fs_err::copy(env!("CARGO_BIN_EXE_brt"), &brt).unwrap();
        fs_err::set_permissions(&brt, std::fs::Permissions::from_mode(0o755)).unwrap();
        chown(&home, uid);
        User {
            name: USER,
            uid,
            home,
            brt,
        }
    }

    /// A file for the user (its own).
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.home.join(name);
        fs_err::write(&p, data).unwrap();
        chown(&p, self.uid);
        p
    }

    /// `brt ARGS` as the user, with a clean environment.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg("PATH=/usr/sbin:/usr/bin:/sbin:/bin")
            .arg(&self.brt)
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn basedir(&self) -> PathBuf {
        self.home.join(".local/share/brt")
    }
}

fn chown(p: &Path, uid: u32) {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(p)
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// The processes running as `uid` on the host, with their command lines.
fn user_processes(uid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let status = fs_err::read_to_string(entry.path().join("status")).unwrap_or_default();
        let owner = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok());
        if owner == Some(uid) {
            let cmdline = fs_err::read(entry.path().join("cmdline")).unwrap_or_default();
            out.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    out
}

/// The fixture config (`@buildsys-build`), its key in the user's home.
fn fixture_config(user: &User, name: &str) -> PathBuf {
    let (dir, server) = rpm_fixture();
    let key = user.write(
        "RPM-GPG-KEY-brt",
        &fs_err::read(dir.join("RPM-GPG-KEY-brt")).unwrap(),
    );
    let text = format!(
        "arch = \"aarch64\"\n[distro]\nfamily = \"rpm\"\nname = \"brtfix\"\nrelease = \"1\"\n\
         [install]\npackages = [\"@buildsys-build\"]\n\
         [[repo]]\nname = \"good\"\nbaseurl = [\"{}\"]\ngpgcheck = true\ngpgkey = [\"file://{}\"]\n",
        server.url("repos/good/"),
        key.display()
    );
    user.write(&format!("{name}.toml"), text.as_bytes())
}

/// Owner, group and mode of every file of a root, as its shell sees them
/// (the mount points `/proc`, `/sys` and `/dev` left out).
fn owners(run: impl Fn(&[&str]) -> Output) -> BTreeSet<String> {
    let out = run(&[
        "shell",
        "--",
        "/bin/sh",
        "-c",
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -printf '%u:%g %m %p\\n'",
    ]);
    assert_ok(&out, "find");
    stdout(&out)
        .lines()
        .filter(|l| !l.ends_with(" /proc") && !l.ends_with(" /sys") && !l.ends_with(" /dev"))
        .map(str::to_string)
        .collect()
}

#[test]
fn rootless_rpm_root_builds_and_leaves_the_host_alone() {
    require_root();
    let binfmt = BinfmtSnapshot::take();
    // The host runs no aarch64 binary: what rootless brt runs, it
    // registered in its own namespace.
    binfmt.clear_arch(brt::arch::Arch::find("aarch64").unwrap());
    let host_entries = binfmt.texts();
    let brt = Brt::new();
    let user = User::new(&brt.tmp.path().join("rootless"));
    let r = fixture_config(&user, "fix");
    let r = r.to_str().unwrap();

    let out = user.run(&["-r", r, "init"]);
    assert_ok(&out, "rootless init");
    assert!(
        user.basedir().join("fix/state.json").exists(),
        "{}",
        stderr(&out)
    );
    let out = user.run(&["-r", r, "shell", "--", "uname", "-m"]);
    assert_ok(&out, "uname");
    assert_eq!(stdout(&out), "aarch64\n");
    let out = user.run(&["-r", r, "shell", "--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // rpm -Va is clean (the mount points /proc and /sys belong to the
    // host's root, which the namespace does not map).
    let out = user.run(&[
        "-r",
        r,
        "shell",
        "--",
        "/bin/sh",
        "-c",
        "rpm -Va; echo done",
    ]);
    let report = stdout(&out);
    let bad: Vec<&str> = report
        .lines()
        .filter(|l| *l != "done" && !l.ends_with(" /proc") && !l.ends_with(" /sys"))
        .collect();
    assert!(bad.is_empty(), "rpm -Va:\n{report}");
    // On disk the files are the user's or its subordinate ids'.
    let shadow = fs_err::metadata(user.basedir().join("fix/root/etc/shadow")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&shadow), user.uid);

    // The host's binfmt_misc is as it was (still without aarch64).
    assert_eq!(binfmt.texts(), host_entries);

    // The same owners as in a root-mode root of the same config (whose
    // init registers qemu on the host, as root mode does).
    let rooted = Brt::new();
    let out = rooted.run(&["-r", r, "init"]);
    assert_ok(&out, "root-mode init");
    let ours = owners(|a| {
        let mut v = vec!["-r", r];
        v.extend(a);
        user.run(&v)
    });
    let theirs = owners(|a| {
        let mut v = vec!["-r", r];
        v.extend(a);
        rooted.run(&v)
    });
    let differ: Vec<&String> = ours.symmetric_difference(&theirs).take(10).collect();
    assert!(differ.is_empty(), "owners differ: {differ:?}");

    // A build: the package, owned by the user.
    let (fixture, _) = rpm_fixture();
    let srpm = user.write(
        "brt-greet-1.0-1.src.rpm",
        &fs_err::read(fixture.join("srpms/brt-greet-1.0-1.src.rpm")).unwrap(),
    );
    let result = user.home.join("result");
    let out = user.run(&[
        "-r",
        r,
        "build",
        "--resultdir",
        result.to_str().unwrap(),
        srpm.to_str().unwrap(),
    ]);
    assert_ok(&out, "rootless build");
    let rpm = result.join("brt-greet-1.0-1.aarch64.rpm");
    let md = fs_err::metadata(&rpm).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), user.uid);
    let arch = Command::new("rpm")
        .args(["-qp", "--nosignature", "--qf", "%{ARCH}"])
        .arg(&rpm)
        .output()
        .unwrap();
    assert_eq!(stdout(&arch), "aarch64");

    // kill -9 of brt during a shell: nothing of it is left running.
    let mut shell = user
        .cmd(&["-r", r, "shell", "--", "sleep", "300"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The sandbox's processes run as the user on the host (its pid and
    // mount namespaces hide their root): wait for the sleep, then kill -9
    // the brt the user started.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !user_processes(user.uid)
        .iter()
        .any(|p| p.contains("sleep 300"))
    {
        assert!(Instant::now() < deadline, "the shell never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let outer = stdout(
        &Command::new("pgrep")
            .args(["-P", &shell.id().to_string()])
            .output()
            .unwrap(),
    );
    for pid in outer.split_whitespace() {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    let _ = shell.wait();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !user_processes(user.uid).is_empty() {
        if Instant::now() > deadline {
            let left = user_processes(user.uid);
            let _ = Command::new("pkill")
                .args(["-9", "-U", &user.uid.to_string()])
                .status();
            panic!("left running: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rootless_debian_init_from_the_mirror() {
    require_root();
    let binfmt = BinfmtSnapshot::take();
    let host_entries = binfmt.texts();
    let brt = Brt::new();
    let user = User::new(&brt.tmp.path().join("rootless"));
    let r = user.write(
        "minbase.toml",
        b"include = \"debian-bookworm-arm64.toml\"\n[install]\npackages = []\n",
    );
    let r = r.to_str().unwrap();
    let out = user.run(&["-r", r, "init"]);
    assert_ok(&out, "rootless Debian init");
    let out = user.run(&[
        "-r",
        r,
        "shell",
        "--",
        "/bin/sh",
        "-c",
        "uname -m; dpkg -V; echo status $?",
    ]);
    assert_ok(&out, "dpkg -V");
    assert_eq!(stdout(&out), "aarch64\nstatus 0\n", "{}", stderr(&out));
    assert_eq!(binfmt.texts(), host_entries);
}
