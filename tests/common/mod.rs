//! Helpers shared by the integration test binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use brt::binfmt::{BinfmtMisc, Entry};

/// `brt` with a private base and cache dir, and no user config dirs.
pub struct Brt {
    pub tmp: tempfile::TempDir,
}

impl Brt {
    pub fn new() -> Brt {
        Brt {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn basedir(&self) -> PathBuf {
        self.tmp.path().join("lib")
    }

    pub fn cachedir(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    /// HOME for the child, so `~/.config/brt` is the test's own.
    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_brt"));
        c.env("BRT_BASEDIR", self.basedir())
            .env("BRT_CACHEDIR", self.cachedir())
            .env("HOME", self.home())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("BRT_QEMU_PATH");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `brt ARGS` (split at spaces) with a terminal on stdout and stderr
    /// (`script`), as a user's would be; what was drawn is the stdout.
    pub fn on_a_terminal(&self, args: &str) -> Output {
        let envs = self.cmd();
        Command::new("script")
            .arg("-qfec")
            .arg(format!("{} {args}", env!("CARGO_BIN_EXE_brt")))
            .arg("/dev/null")
            .envs(
                envs.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Root-only tests need root; the suite is meant to run as root (CI is).
pub fn require_root() {
    assert!(
        is_root(),
        "this test needs root (a real kernel, mounts, binfmt_misc): run the suite as root"
    );
}

static BINFMT_LOCK: Mutex<()> = Mutex::new(());

/// Exclusive use of the host's binfmt_misc for one test. On drop, the host's
/// entries are put back exactly as they were: removed ones re-registered,
/// enabled state restored, and entries the test added removed.
pub struct BinfmtSnapshot {
    pub fs: BinfmtMisc,
    before: Vec<(Entry, String)>,
    _thread: MutexGuard<'static, ()>,
    _file: nix::fcntl::Flock<std::fs::File>,
}

impl BinfmtSnapshot {
    pub fn take() -> BinfmtSnapshot {
        let thread = BINFMT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // Other test binaries may run concurrently under nextest: lock across processes.
        let file = fs_err::File::create("/tmp/brt-tests-binfmt.lock")
            .unwrap()
            .into_parts()
            .0;
        let file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).unwrap();
        let fs = BinfmtMisc::default();
        fs.mount().unwrap();
        let before = fs
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| {
                let text = fs_err::read_to_string(fs.dir.join(&e.name)).unwrap();
                (e, text)
            })
            .collect();
        BinfmtSnapshot {
            fs,
            before,
            _thread: thread,
            _file: file,
        }
    }

    /// Texts of all entries, for comparing before/after.
    pub fn texts(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .fs
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| {
                let t = fs_err::read_to_string(self.fs.dir.join(&e.name)).unwrap();
                (e.name, t)
            })
            .collect();
        v.sort();
        v
    }

    pub fn before_texts(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .before
            .iter()
            .map(|(e, t)| (e.name.clone(), t.clone()))
            .collect();
        v.sort();
        v
    }

    /// Remove every entry (host's included, restored on drop) that claims `arch`.
    pub fn clear_arch(&self, arch: &brt::arch::Arch) {
        for e in self.fs.entries().unwrap() {
            if e.matches_arch(arch) {
                self.fs.remove(&e.name).unwrap();
            }
        }
    }

    fn restore(&self) {
        let now = self.fs.entries().unwrap_or_default();
        for e in &now {
            if !self.before.iter().any(|(b, _)| b.name == e.name) {
                let _ = self.fs.remove(&e.name);
            }
        }
        for (b, text) in &self.before {
            let path = self.fs.dir.join(&b.name);
            match fs_err::read_to_string(&path) {
                Ok(t) if &t == text => continue,
                Ok(_) => {
                    let _ = self.fs.remove(&b.name);
                }
                Err(_) => {}
            }
            let mut e = b.clone();
            e.enabled = true;
            self.fs.register(&e).expect("restore a host binfmt entry");
            if !b.enabled {
                self.fs.set_enabled(&b.name, false).unwrap();
            }
        }
    }
}

impl Drop for BinfmtSnapshot {
    fn drop(&mut self) {
        self.restore();
        let after = self.texts();
        let before = self.before_texts();
        if !std::thread::panicking() {
            assert_eq!(after, before, "host binfmt entries changed by the test");
        }
    }
}

/// Write `arch`'s probe ELF to `dir` and run it; true when it exits 42.
pub fn run_probe(dir: &Path, arch: &brt::arch::Arch) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(format!("probe-{}", arch.rpm));
    fs_err::write(&p, arch.probe_elf()).unwrap();
    fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Without a handler the kernel refuses the exec (ENOEXEC); any other
    // failure is not what a test of the handlers asks about.
    match Command::new(&p).status() {
        Ok(status) => status.code() == Some(42),
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => false,
        Err(e) => panic!("cannot run the {} probe: {e}", arch.rpm),
    }
}

/// A real Debian arm64 tree (bash, coreutils, busybox, libc from the
/// mirror), made once by `scripts/fixtures/arm64-rootfs` and cached.
pub fn arm64_rootfs() -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
    fs_err::create_dir_all(&fixtures).unwrap();
    let out = fixtures.join("arm64-rootfs");
    let lock = fs_err::File::create(fixtures.join("lock"))
        .unwrap()
        .into_parts()
        .0;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let status =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fixtures/arm64-rootfs"))
            .arg(&out)
            .status()
            .unwrap();
    assert!(status.success(), "fixture script failed");
    out.join("root")
}

impl Brt {
    /// Install the arm64 fixture as the ready root `name` in this basedir.
    pub fn with_arm64_root(&self, name: &str) -> PathBuf {
        let src = arm64_rootfs();
        let dir = self.basedir().join(name);
        fs_err::create_dir_all(&dir).unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(dir.join("root"))
            .status()
            .unwrap();
        assert!(status.success());
        fs_err::write(dir.join("state.json"), r#"{"status":"ready"}"#).unwrap();
        dir.join("root")
    }
}

/// A static file server on 127.0.0.1 for fixture repositories: GET and
/// HEAD, `Content-Length`, 404 for what is missing. Lives as long as the
/// test process.
pub struct FileServer {
    pub port: u16,
}

impl FileServer {
    pub fn start(dir: PathBuf) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut request = String::new();
                        if reader.read_line(&mut request).unwrap_or(0) == 0 {
                            return;
                        }
                        // Headers up to the blank line.
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                        }
                        let mut parts = request.split_whitespace();
                        let method = parts.next().unwrap_or("");
                        let path = parts.next().unwrap_or("/");
                        let rel = path.trim_start_matches('/');
                        let file = dir.join(rel);
                        let body = if rel.split('/').any(|c| c == "..") {
                            None
                        } else {
                            fs_err::read(&file).ok().filter(|_| file.is_file())
                        };
                        let ok = match body {
                            Some(body) => {
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                );
                                stream.write_all(head.as_bytes()).is_ok()
                                    && (method == "HEAD" || stream.write_all(&body).is_ok())
                            }
                            None => stream
                                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                                .is_ok(),
                        };
                        if !ok {
                            return;
                        }
                    }
                });
            }
        });
        FileServer { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

/// The local apt repositories made by `scripts/fixtures/apt-repo` (cached
/// in target/fixtures), served on 127.0.0.1.
pub fn apt_fixture() -> (PathBuf, &'static FileServer) {
    static SERVER: std::sync::OnceLock<(PathBuf, FileServer)> = std::sync::OnceLock::new();
    let (dir, server) = SERVER.get_or_init(|| {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/apt-repo");
        fs_err::create_dir_all(out.parent().unwrap()).unwrap();
        let status =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fixtures/apt-repo"))
                .arg(&out)
                .status()
                .unwrap();
        assert!(status.success(), "apt-repo fixture script failed");
        (out.clone(), FileServer::start(out))
    });
    (dir.clone(), server)
}

/// The local rpm-md repositories `scripts/fixtures/rpm-repo` generates
/// (Debian arm64 packages repackaged as RPMs, plus edge cases), built once
/// and served over HTTP on 127.0.0.1 for the whole test run.
pub fn rpm_fixture() -> (PathBuf, &'static FileServer) {
    static SERVER: std::sync::OnceLock<(PathBuf, FileServer)> = std::sync::OnceLock::new();
    let (dir, server) = SERVER.get_or_init(|| {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/rpm-repo");
        fs_err::create_dir_all(out.parent().unwrap()).unwrap();
        let status =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fixtures/rpm-repo"))
                .arg(&out)
                .status()
                .unwrap();
        assert!(status.success(), "rpm-repo fixture script failed");
        (out.clone(), FileServer::start(out))
    });
    (dir.clone(), server)
}

/// Mount points below `dir` in this mount namespace.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    fs_err::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// Processes whose root directory is below `dir` (left-over sandboxes).
pub fn processes_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(root) = fs_err::read_link(entry.path().join("root"))
            && root.starts_with(dir)
        {
            let cmdline = fs_err::read(entry.path().join("cmdline")).unwrap_or_default();
            out.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    out
}
