//! Run a command inside a root (docs/design.md §6): new mount, pid, uts and ipc
//! namespaces (and net unless the network is on), a private `/`, the root
//! bound and pivoted into, fresh proc, read-only sys, a minimal /dev, binds,
//! then the command under a small pid 1 that reaps and forwards signals.
//!
//! Nothing leaks: the mounts live in a namespace that dies with its last
//! process, pid 1 dies with brt (PDEATHSIG), and everything in the pid
//! namespace dies with pid 1.

mod exec;
mod init;
mod nosync;
pub mod plan;
mod pty;
mod status;
mod sys;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;

pub use init::SETUP_FAILED;
pub use sys::ignore as ignore_signal;

/// PATH inside a root unless the caller sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `/bin/sh -c SCRIPT sh ARGS...`: a script run by the root's shell with
/// its arguments in `"$@"`.
pub fn sh(script: &str, args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut argv = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        script.into(),
        "sh".into(),
    ];
    argv.extend(args);
    argv
}

/// A host path mounted into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    /// Path inside the root.
    pub target: PathBuf,
    pub readonly: bool,
}

/// Everything that defines one sandboxed command.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The tree to enter (host path).
    pub root: PathBuf,
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory inside the root.
    pub cwd: PathBuf,
    /// Drop to this uid/gid before exec (`None`: stay root).
    pub user: Option<(u32, u32)>,
    pub hostname: String,
    pub network: bool,
    pub binds: Vec<Bind>,
    /// Host interpreters to bind at their own paths (binfmt entries
    /// without `F`: every one the kernel may pick).
    pub interpreters: Vec<PathBuf>,
    /// Give the command a pseudo-terminal relayed to brt's own.
    pub pty: bool,
    /// Send the command's stdout and stderr to this open file (a log)
    /// instead of brt's, and give it `/dev/null` as stdin.
    pub output: Option<std::os::fd::RawFd>,
    /// Make `fsync` and its kin succeed without syncing (init, install,
    /// builds: what they write is thrown away if they fail).
    pub nosync: bool,
    /// brt runs in its own user namespace: device nodes are the host's,
    /// bound (a user namespace may not make them), and so is `/sys` when
    /// the network namespace is the host's.
    pub rootless: bool,
}

impl Spec {
    pub fn new(root: PathBuf, argv: Vec<String>) -> Spec {
        Spec {
            root,
            argv,
            env: vec![("PATH".into(), DEFAULT_PATH.into())],
            cwd: "/".into(),
            user: None,
            hostname: "brt".into(),
            network: false,
            binds: Vec::new(),
            interpreters: Vec::new(),
            pty: false,
            output: None,
            nosync: false,
            rootless: crate::rootless::active(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create the sandbox's {what}")]
    Prepare {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("cannot start the sandbox for `{}`", root.display())]
    Clone {
        root: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot wait for the sandbox of `{}`", root.display())]
    Wait {
        root: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("sandbox setup failed in `{}`: {message}", root.display())]
    Setup { root: PathBuf, message: String },
    /// The command could not be executed (status 126/127).
    #[error("{message}")]
    Exec { message: String, code: i32 },
}

impl crate::error::Explain for SandboxError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Sandbox
    }
}

/// pid 1's host pid, for the parent's signal handlers.
static PID1: AtomicI32 = AtomicI32::new(0);

/// The last signal forwarded to pid 1 during a run (0: none).
static FORWARDED: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_to_pid1(sig: libc::c_int) {
    FORWARDED.store(sig, Ordering::Relaxed);
    let pid = PID1.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Run `spec`; returns the command's exit status (128+N for signal N).
pub fn run(spec: &Spec) -> Result<i32, SandboxError> {
    let prepare = |what| move |source| SandboxError::Prepare { what, source };
    let steps = plan::plan(spec);
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(prepare("error pipe"))?;
    let (life_r, life_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(prepare("life pipe"))?;
    let (pty, pty_slave) = if spec.pty {
        let (pty, slave) = pty::Pty::open().map_err(prepare("pseudo-terminal"))?;
        (Some(pty), Some(slave))
    } else {
        (None, None)
    };

    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if !spec.network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let io = init::ChildIo {
        errors: err_w,
        life: life_r,
        pty_slave,
    };
    let mut child_fn = || -> isize {
        drop_in_child(&life_w, pty.as_ref().map(|p| &p.master));
        init::pid1(spec, &steps, &io)
    };
    let pid = sys::clone_pid1(flags, &mut child_fn).map_err(|source| SandboxError::Clone {
        root: spec.root.clone(),
        source,
    })?;
    // Closes the parent's copies of the pipe ends and the pty slave.
    drop(io);
    PID1.store(pid.as_raw(), Ordering::Relaxed);

    // What brt had before (its interrupt handler, or the defaults) comes
    // back once the command is done.
    let mut replaced = Vec::new();
    for sig in [Signal::SIGTERM, Signal::SIGHUP] {
        replaced.extend(sys::set_handler(sig, forward_to_pid1).map(|old| (sig, old)));
    }
    match &pty {
        Some(p) => {
            // The relay ends when the command's side closes; if brt's own
            // terminal fails first, hang up as a closed terminal would.
            if p.relay().is_err() {
                let _ = nix::sys::signal::kill(pid, Signal::SIGHUP);
            }
        }
        None => {
            // Like system(3): the keyboard's SIGINT/SIGQUIT reach the command
            // directly (same process group); brt waits for it to decide.
            for sig in [Signal::SIGINT, Signal::SIGQUIT] {
                replaced.extend(sys::ignore(sig).map(|old| (sig, old)));
            }
        }
    }
    let waited = loop {
        match waitpid(pid, None) {
            Ok(ws) => break Ok(ws),
            Err(nix::Error::EINTR) => continue,
            Err(source) => {
                break Err(SandboxError::Wait {
                    root: spec.root.clone(),
                    source,
                });
            }
        }
    };
    PID1.store(0, Ordering::Relaxed);
    for (sig, old) in &replaced {
        sys::restore(*sig, old);
    }
    // A SIGTERM or SIGHUP was meant for brt as much as for the command:
    // where brt catches it (its interrupt flag), it is raised again now, so
    // the command that ran this one stops and cleans up.
    let forwarded = FORWARDED.swap(0, Ordering::Relaxed);
    if let Some((sig, _)) = replaced.iter().find(|(sig, old)| {
        *sig as i32 == forwarded
            && matches!(old.handler(), nix::sys::signal::SigHandler::Handler(_))
    }) {
        let _ = nix::sys::signal::raise(*sig);
    }
    let ws = waited?;
    drop(life_w);

    let code = status::code(ws);
    let mut message = String::new();
    let _ = std::fs::File::from(err_r).read_to_string(&mut message);
    if !message.is_empty() {
        if code == SETUP_FAILED {
            return Err(SandboxError::Setup {
                root: spec.root.clone(),
                message,
            });
        }
        return Err(SandboxError::Exec { message, code });
    }
    Ok(code)
}

/// Whether a tiny static `arch` binary runs inside a root (an empty one,
/// made for the test) with `interpreters` bound as for a real root: which
/// binfmt entry the kernel uses shows here, since one without `F` whose
/// interpreter is not bound fails.
pub fn runs_in_a_root(arch: &crate::arch::Arch, interpreters: &[PathBuf]) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    for sub in ["proc", "sys", "dev", "tmp"] {
        fs_err::create_dir_all(root.join(sub))?;
    }
    let probe = dir.path().join("probe");
    fs_err::write(&probe, arch.probe_elf())?;
    fs_err::set_permissions(&probe, std::fs::Permissions::from_mode(0o755))?;
    let mut spec = Spec::new(root, vec!["/probe".into()]);
    spec.binds = vec![Bind {
        source: probe,
        target: "/probe".into(),
        readonly: true,
    }];
    spec.interpreters = interpreters.to_vec();
    let null = fs_err::File::create("/dev/null")?;
    spec.output = Some(null.as_raw_fd());
    Ok(matches!(run(&spec), Ok(42)))
}

/// In pid 1: close brt's ends of the pipes and the pty master.
fn drop_in_child(life_w: &OwnedFd, master: Option<&OwnedFd>) {
    let _ = nix::unistd::close(life_w.as_raw_fd());
    if let Some(m) = master {
        let _ = nix::unistd::close(m.as_raw_fd());
    }
}
