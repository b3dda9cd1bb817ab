//! `brt shell` in a real arm64 root: emulation, exit statuses, isolation,
//! and that nothing leaks onto the host.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brt::arch::Arch;

use crate::common::{BinfmtSnapshot, Brt, require_root, stderr, stdout};

const ROOT: &str = "debian-bookworm-arm64";

fn setup() -> (BinfmtSnapshot, Brt) {
    require_root();
    let snap = BinfmtSnapshot::take();
    let brt = Brt::new();
    brt.with_arm64_root(ROOT);
    (snap, brt)
}

fn shell(brt: &Brt, args: &[&str]) -> std::process::Output {
    let mut all = vec!["-r", ROOT, "shell"];
    all.extend_from_slice(args);
    brt.cmd().args(all).stdin(Stdio::null()).output().unwrap()
}

fn mountinfo() -> String {
    fs_err::read_to_string("/proc/self/mountinfo").unwrap()
}

#[test]
fn uname_says_aarch64_inside() {
    let (_snap, brt) = setup();
    let out = shell(&brt, &["--", "uname", "-m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "aarch64\n");
}

#[test]
fn exit_status_and_signals_pass_through() {
    let (_snap, brt) = setup();
    let out = shell(&brt, &["--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = shell(&brt, &["--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
    let out = shell(&brt, &["--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("cannot run `no-such-command` inside the root"),
        "{}",
        stderr(&out)
    );
}

/// `shell` on a missing root bootstraps it first (the headline command);
/// when that fails, it says why, and no root is left.
#[test]
fn shell_on_a_missing_root_runs_init_first() {
    require_root();
    let brt = Brt::new();
    let config = brt.tmp.path().join("gone.toml");
    fs_err::write(
        &config,
        "include = \"debian-bookworm-arm64.toml\"\n[[repo]]\nname = \"debian\"\nurl = \"http://127.0.0.1:9/debian\"\nsuite = \"bookworm\"\ngpgcheck = false\n",
    )
    .unwrap();
    let out = brt.run(&["-r", config.to_str().unwrap(), "shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("root `gone` is absent: running `init` first"),
        "{err}"
    );
    assert!(err.contains("cannot fetch its Release file"), "{err}");
    assert!(!brt.basedir().join("gone/root").exists());
    assert!(!brt.basedir().join("gone/state.json").exists());
}

#[test]
fn the_sandbox_is_isolated_and_has_a_minimal_dev() {
    let (_snap, brt) = setup();
    let script = "echo pid=$$; hostname 2>/dev/null || cat /proc/sys/kernel/hostname; \
                  ls /dev | tr '\\n' ' '; echo; ls /sys/class/net | tr '\\n' ' '; echo; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-ro; \
                  n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n";
    let out = shell(&brt, &["--", "bash", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "pid=2", "{text}");
    assert_eq!(lines[1], ROOT);
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd",
    ] {
        assert!(
            lines[2].split(' ').any(|n| n == node),
            "/dev lacks {node}: {}",
            lines[2]
        );
    }
    assert!(
        !lines[2].contains("sda") && !lines[2].contains("kmsg"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3].trim(), "lo", "network is off by default");
    assert_eq!(lines[4], "sys-ro");
    // pid 1 (brt's init), bash, ls: nothing from the host.
    assert!(lines[5].parse::<u32>().unwrap() <= 4, "{text}");
}

#[test]
fn network_is_off_by_default_and_on_when_asked() {
    let (_snap, brt) = setup();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let out = shell(&brt, &["--", "bash", "-c", &probe]);
    assert!(
        !out.status.success(),
        "reached the host's loopback: {}",
        stdout(&out)
    );
    let out = shell(&brt, &["--enable-network", "--", "bash", "-c", &probe]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "connected\n");
    // With the network on, the host's resolver config is visible.
    let host = fs_err::read_to_string("/etc/resolv.conf").unwrap();
    assert!(
        host.contains("nameserver"),
        "the host has no resolver: {host}"
    );
    let out = shell(&brt, &["--enable-network", "--", "cat", "/etc/resolv.conf"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), host);
}

#[test]
fn user_cwd_and_binds() {
    let (_snap, brt) = setup();
    let host_dir = brt.tmp.path().join("shared");
    fs_err::create_dir_all(&host_dir).unwrap();
    fs_err::write(host_dir.join("in.txt"), "from host\n").unwrap();
    let rw = format!("{}:/mnt/rw", host_dir.display());
    let ro = format!("{}:/mnt/ro:ro", host_dir.display());
    let out = shell(
        &brt,
        &[
            "--bind",
            &rw,
            "--bind",
            &ro,
            "--cwd",
            "/mnt/rw",
            "--",
            "sh",
            "-c",
            "cat in.txt; echo out > out.txt; echo x > /mnt/ro/y 2>/dev/null || echo ro-refused; pwd",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from host\nro-refused\n/mnt/rw\n");
    assert_eq!(
        fs_err::read_to_string(host_dir.join("out.txt")).unwrap(),
        "out\n"
    );

    let out = brt
        .cmd()
        .env("SUDO_UID", "4321")
        .env("SUDO_GID", "4322")
        .args(["-r", ROOT, "shell", "--user", "--", "id", "-u"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "4321\n", "{}", stderr(&out));
}

#[test]
fn the_environment_is_a_known_set() {
    let (_snap, brt) = setup();
    let out = brt
        .cmd()
        .env("SECRET_TOKEN", "leak")
        .env("http_proxy", "http://proxy.example:3128")
        .args(["-r", ROOT, "shell", "--", "env"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let env = stdout(&out);
    assert!(!env.contains("SECRET_TOKEN"), "{env}");
    assert!(
        env.contains("http_proxy=http://proxy.example:3128"),
        "{env}"
    );
    assert!(
        env.contains("PS1=<brt:debian-bookworm-arm64> \\s-\\v\\$ "),
        "{env}"
    );
    assert!(env.contains("HOME=/root"), "{env}");
}

#[test]
fn the_host_mount_table_is_unchanged_after_a_normal_run_and_after_kill_9() {
    let (_snap, brt) = setup();
    let before = mountinfo();
    let out = shell(&brt, &["--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mountinfo(), before);

    // A duration no other process uses: `pgrep` finds exactly this sleep.
    let marker = format!("sleep 300.{}", std::process::id());
    let mut child = brt
        .cmd()
        .args([
            "-r",
            ROOT,
            "shell",
            "--",
            "sh",
            "-c",
            &format!("echo started; exec {marker}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 8];
    let n = child.stdout.as_mut().unwrap().read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"started\n");
    let running = || {
        Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .unwrap()
    };
    assert!(running().status.success(), "`{marker}` is not running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    // No process may keep running in the root. (Generous: with a build
    // using both cores, the kill has been seen to take more than 5 s.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = running();
        if !left.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "left running: {}", stdout(&left));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mountinfo(), before);
}

#[test]
fn an_entry_without_f_works_through_the_interpreter_bind() {
    let (snap, brt) = setup();
    let aarch64 = Arch::find("aarch64").unwrap();
    // Disable every entry that claims aarch64 (restored on drop), then
    // register one without F: the kernel must find the interpreter inside the root.
    snap.clear_arch(aarch64);
    let mut entry = brt::binfmt::brt_entry(
        aarch64,
        std::path::Path::new("/usr/bin/qemu-aarch64-static"),
    );
    entry.name = format!("brt-test-nof-{}", std::process::id());
    entry.flags = String::new();
    snap.fs.register(&entry).unwrap();

    let root = brt.basedir().join(ROOT).join("root");
    assert!(!root.join("usr/bin/qemu-aarch64-static").exists());
    let out = shell(&brt, &["--", "uname", "-m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "aarch64\n");

    // Dynamically linked interpreter: refused with the reason.
    snap.fs.remove(&entry.name).unwrap();
    entry.interpreter = std::env::current_exe().unwrap();
    snap.fs.register(&entry).unwrap();
    let out = shell(&brt, &["--", "uname", "-m"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dynamically linked"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("lacks the F flag"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_interactive_shell_gets_a_pty_with_brts_prompt() {
    let (_snap, brt) = setup();
    // `script` gives brt a terminal, as a user's would be.
    let mut child = Command::new("script")
        .args(["-qfec"])
        .arg(format!("{} -r {ROOT} shell", env!("CARGO_BIN_EXE_brt")))
        .arg("/dev/null")
        .envs(
            brt.cmd()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // What the terminal shows, read as it comes; type once the prompt is there.
    let mut shown = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = shown.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let prompt = "<brt:debian-bookworm-arm64> bash-5.2# ";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(prompt) {
        assert!(Instant::now() < deadline, "no prompt");
        std::thread::sleep(Duration::from_millis(20));
    }
    stdin.write_all(b"tty; uname -m; exit 3\n").unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(text.contains("/dev/console"), "{text}");
    assert!(text.contains("aarch64"), "{text}");
    assert_eq!(status.code(), Some(3), "{text}");
}

#[test]
fn a_blocked_shell_says_who_holds_the_root_and_shells_run_together() {
    let (_snap, brt) = setup();
    let layout = brt::root::Layout::new(&brt.basedir(), ROOT);
    // Two shells at once: shared locks do not wait for each other.
    let first = brt
        .cmd()
        .args(["-r", ROOT, "shell", "--", "sleep", "3"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // The first shell holds the root (shared) before the second starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::OpenOptions::new()
        .write(true)
        .open(layout.lock_file())
        .is_ok_and(|f| {
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
        })
        || !layout.lock_file().exists()
    {
        assert!(
            Instant::now() < deadline,
            "the first shell did not take the root"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    let out = shell(&brt, &["--", "true"]);
    assert!(out.status.success());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "second shell waited for the first"
    );
    drop(first);

    // A writer holds the root: the shell waits and names it.
    let lock = brt::root::lock::RootLock::exclusive(&layout, |_| {}).unwrap();
    let child = brt
        .cmd()
        .args(["-r", ROOT, "shell", "--", "true"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("locked by pid {}", std::process::id())),
        "{err}"
    );
}

#[test]
fn a_sandbox_that_cannot_be_set_up_is_exit_6() {
    let (_snap, brt) = setup();
    // A root whose /dev is a file: the sandbox cannot mount its /dev there.
    let root = brt.basedir().join(ROOT).join("root");
    fs_err::remove_dir_all(root.join("dev")).unwrap();
    fs_err::write(root.join("dev"), "not a directory\n").unwrap();
    let out = shell(&brt, &["--", "true"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}
