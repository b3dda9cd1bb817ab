use brt::arch::{ARCHES, Arch};

use crate::common::{BinfmtSnapshot, Brt, require_root, run_probe, stderr, stdout};

fn aarch64() -> &'static Arch {
    Arch::find("aarch64").unwrap()
}

#[test]
fn ensure_registers_an_f_entry_when_the_hosts_is_removed() {
    require_root();
    let snap = BinfmtSnapshot::take();
    snap.clear_arch(aarch64());
    let brt = Brt::new();
    assert!(
        !run_probe(brt.tmp.path(), aarch64()),
        "aarch64 ran with no entry"
    );

    let out = brt.run(&["binfmt", "ensure", "aarch64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("registered `brt-qemu-aarch64`"),
        "{}",
        stderr(&out)
    );

    let entry = snap
        .fs
        .entries()
        .unwrap()
        .into_iter()
        .find(|e| e.name == "brt-qemu-aarch64")
        .expect("brt's entry is registered");
    assert!(entry.enabled);
    assert!(entry.has_flag('F'), "flags: {}", entry.flags);
    assert!(
        run_probe(brt.tmp.path(), aarch64()),
        "aarch64 binary did not run"
    );

    // Idempotent: a second ensure finds the entry and changes nothing.
    let before = snap.texts();
    let out = brt.run(&["binfmt", "ensure", "arm64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("already handled"), "{}", stderr(&out));
    assert_eq!(snap.texts(), before);

    let out = brt.run(&["binfmt", "status", "aarch64"]);
    assert!(stdout(&out).contains("emulated"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("works in any root"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_foreign_arch_runs_after_ensure() {
    require_root();
    let snap = BinfmtSnapshot::take();
    let brt = Brt::new();
    for arch in ARCHES {
        snap.clear_arch(arch);
        let out = brt.run(&["binfmt", "ensure", arch.deb]);
        assert!(out.status.success(), "{arch}: {}", stderr(&out));
        assert!(run_probe(brt.tmp.path(), arch), "{arch} probe did not run");
    }
}

#[test]
fn ensure_never_overwrites_a_host_entry() {
    require_root();
    let snap = BinfmtSnapshot::take();
    snap.clear_arch(aarch64());
    // A host-managed entry, disabled by the admin: brt must leave it disabled
    // and add its own instead.
    let mut host = brt::binfmt::brt_entry(
        aarch64(),
        std::path::Path::new("/usr/bin/qemu-aarch64-static"),
    );
    host.name = format!("qemu-aarch64-hosttest-{}", std::process::id());
    snap.fs.register(&host).unwrap();
    snap.fs.set_enabled(&host.name, false).unwrap();

    let brt = Brt::new();
    let out = brt.run(&["binfmt", "status", "aarch64"]);
    assert!(stdout(&out).contains("disabled"), "{}", stdout(&out));
    let out = brt.run(&["binfmt", "ensure", "aarch64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = fs_err::read_to_string(snap.fs.dir.join(&host.name)).unwrap();
    assert!(
        text.starts_with("disabled"),
        "host entry was touched: {text}"
    );

    // `binfmt remove` removes only brt's own entries.
    let out = brt.run(&["binfmt", "remove", "aarch64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(snap.fs.dir.join(&host.name).exists());
    assert!(!snap.fs.dir.join("brt-qemu-aarch64").exists());
}

#[test]
fn status_explains_an_entry_without_the_f_flag() {
    require_root();
    let snap = BinfmtSnapshot::take();
    snap.clear_arch(aarch64());
    let mut entry = brt::binfmt::brt_entry(
        aarch64(),
        std::path::Path::new("/usr/bin/qemu-aarch64-static"),
    );
    entry.name = format!("brt-test-nof-{}", std::process::id());
    entry.flags = String::new();
    snap.fs.register(&entry).unwrap();

    let brt = Brt::new();
    let out = brt.run(&["binfmt", "status", "aarch64"]);
    let text = stdout(&out);
    assert!(text.contains("flags none"), "{text}");
    assert!(text.contains("lacks the F flag"), "{text}");
    assert!(text.contains("bind-mounts"), "{text}");
    snap.fs.remove(&entry.name).unwrap();

    // Same without F but with a dynamically linked interpreter (Fedora's
    // qemu-user-binfmt case): it cannot work inside a root, and status says why.
    entry.interpreter = std::env::current_exe().unwrap();
    snap.fs.register(&entry).unwrap();
    let out = brt.run(&["binfmt", "status", "aarch64", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["status"], "emulated");
    assert_eq!(row["interpreter_static"], false);
    assert!(
        row["in_root"]
            .as_str()
            .unwrap()
            .contains("dynamically linked"),
        "{row}"
    );
    assert!(
        row["fix"].as_str().unwrap().contains("lacks the F flag"),
        "{row}"
    );
}

#[test]
fn missing_qemu_names_the_package() {
    require_root();
    let snap = BinfmtSnapshot::take();
    snap.clear_arch(aarch64());
    let brt = Brt::new();
    let empty = brt.tmp.path().join("no-qemu-here");
    fs_err::create_dir_all(&empty).unwrap();
    let out = brt
        .cmd()
        .env("BRT_QEMU_PATH", &empty)
        .args(["binfmt", "ensure", "aarch64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no qemu-user emulator for aarch64"), "{err}");
    assert!(err.contains("apt-get install -y qemu-user-static"), "{err}");
    assert!(!snap.fs.dir.join("brt-qemu-aarch64").exists());
}

/// brt's own `F` entry and another enabled entry without `F` for the same
/// arch: the kernel tries the newest first and /proc does not say which
/// that is, so a root must work either way. brt binds the other entry's
/// (static) interpreter into the sandbox and changes no host entry. Both
/// registration orders.
#[test]
fn two_matching_entries_work_in_a_root_whichever_the_kernel_tries_first() {
    require_root();
    let snap = BinfmtSnapshot::take();
    let brt = Brt::new();
    brt.with_arm64_root("debian-bookworm-arm64");
    // An interpreter at a path that no root has.
    let qemu = brt.tmp.path().join("other-qemu-aarch64");
    fs_err::copy("/usr/bin/qemu-aarch64-static", &qemu).unwrap();
    let mut other = brt::binfmt::brt_entry(aarch64(), &qemu);
    other.name = format!("brt-test-other-{}", std::process::id());
    other.flags = String::new();
    let own = brt::binfmt::brt_entry(
        aarch64(),
        std::path::Path::new("/usr/bin/qemu-aarch64-static"),
    );
    for order in [[&own, &other], [&other, &own]] {
        snap.clear_arch(aarch64());
        for e in order {
            snap.fs.register(e).unwrap();
        }
        let before = snap.texts();
        let out = brt.run(&["-r", "debian-bookworm-arm64", "shell", "--", "uname", "-m"]);
        assert!(
            out.status.success(),
            "{} first: {}",
            order[1].name,
            stderr(&out)
        );
        assert_eq!(stdout(&out), "aarch64\n");
        let out = brt.run(&["binfmt", "status", "aarch64"]);
        assert!(stdout(&out).contains("also matching: "), "{}", stdout(&out));
        // The kernel tries the newest entry first; a test binary in a
        // root tells which it is.
        let used = if order[1].has_flag('F') {
            "the kernel uses: an entry with the F flag".to_string()
        } else {
            format!("the kernel uses: `{}` (no F flag)", other.name)
        };
        assert!(stdout(&out).contains(&used), "{}", stdout(&out));
        assert!(
            stdout(&out).contains(&qemu.display().to_string()),
            "{}",
            stdout(&out)
        );
        assert_eq!(snap.texts(), before, "a host entry changed");
    }
}

#[test]
fn binfmt_misc_disabled_host_wide_is_exit_4_and_left_disabled() {
    require_root();
    let snap = BinfmtSnapshot::take();
    /// Turns binfmt_misc back on, whatever the test did (before the
    /// snapshot restores the entries).
    struct Enable(std::path::PathBuf);
    impl Drop for Enable {
        fn drop(&mut self) {
            let _ = fs_err::write(&self.0, "1");
        }
    }
    let status = snap.fs.dir.join("status");
    let _enable = Enable(status.clone());
    fs_err::write(&status, "0").unwrap();
    let brt = Brt::new();
    let out = brt.run(&["binfmt", "ensure", "aarch64"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("disabled host-wide"), "{err}");
    assert!(err.contains("echo 1 >"), "{err}");
    // brt never turns the host setting on by itself.
    assert_eq!(fs_err::read_to_string(&status).unwrap().trim(), "disabled");
}
