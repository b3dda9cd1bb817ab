//! Inside the sandbox: pid 1 sets up the mounts, starts the command and
//! then acts as init — it reaps every child and forwards signals — until
//! the command exits. When pid 1 exits the kernel kills everything left in
//! the pid namespace, and the mount namespace (with every mount made here)
//! goes away with its last process.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::plan::Step;
use super::sys::{self, RealSys};
use super::{Spec, status};

/// pid 1 reports setup failures with this status (and a message on the error pipe).
pub const SETUP_FAILED: i32 = 125;

/// The fds pid 1 inherits from brt.
pub struct ChildIo {
    /// Write end of the error pipe (close-on-exec).
    pub errors: OwnedFd,
    /// Read end of the life pipe: EOF means brt is gone.
    pub life: OwnedFd,
    /// The pty's slave side, when the command gets a terminal.
    pub pty_slave: Option<OwnedFd>,
}

fn fail(errors: &OwnedFd, code: i32, msg: &str) -> ! {
    let mut f = std::fs::File::from(errors.try_clone().expect("dup error pipe"));
    let _ = f.write_all(msg.as_bytes());
    sys::exit_now(code)
}

/// Signals pid 1 forwards to the command.
fn forwarded(pty: bool) -> Vec<Signal> {
    let mut v = vec![
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCONT,
    ];
    if pty {
        // Without a pty the command shares brt's terminal and process group
        // and already got the keyboard's SIGINT/SIGQUIT: do not double them.
        v.extend([Signal::SIGINT, Signal::SIGQUIT]);
    }
    v
}

/// pid 1's whole life. Never returns.
pub fn pid1(spec: &Spec, steps: &[Step], io: &ChildIo) -> ! {
    // If brt dies (even by SIGKILL), so do we, and with us the namespace.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // brt may have died before prctl: its end of the life pipe is then closed.
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&io.life),
        nix::poll::PollFlags::POLLIN,
    )];
    if nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap_or(0) > 0 {
        sys::exit_now(SETUP_FAILED);
    }

    if let Err(e) = nix::unistd::sethostname(&spec.hostname) {
        fail(&io.errors, SETUP_FAILED, &format!("set hostname: {e}"));
    }
    let slave = io.pty_slave.as_ref().map(|f| f.as_raw_fd());
    let slave_path = io
        .pty_slave
        .as_ref()
        .and_then(|f| nix::unistd::ttyname(f).ok());
    if let Err(e) = super::exec::execute(&mut RealSys, steps, slave_path.as_deref()) {
        fail(&io.errors, SETUP_FAILED, &e.to_string());
    }

    let mut all = SigSet::empty();
    all.add(Signal::SIGCHLD);
    for s in forwarded(true) {
        all.add(s);
    }
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old));
    if !spec.pty {
        sys::set_disposition(Signal::SIGINT, true);
        sys::set_disposition(Signal::SIGQUIT, true);
    }

    let child = match sys::fork() {
        Ok(ForkResult::Child) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            sys::set_disposition(Signal::SIGINT, false);
            sys::set_disposition(Signal::SIGQUIT, false);
            command(spec, io, slave)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => fail(&io.errors, SETUP_FAILED, &format!("fork the command: {e}")),
    };

    let forward = forwarded(spec.pty);
    loop {
        let Ok(sig) = all.wait() else { continue };
        if sig != Signal::SIGCHLD {
            if forward.contains(&sig) {
                let _ = nix::sys::signal::kill(child, sig);
            }
            continue;
        }
        // Reap everything: orphans in the namespace are re-parented to us.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) if ws.pid() == Some(child) => sys::exit_now(status::code(ws)),
                Ok(_) => {}
            }
        }
    }
}

/// The command's process: terminal, identity, directory, environment, exec.
fn command(spec: &Spec, io: &ChildIo, slave: Option<RawFd>) -> ! {
    if let Some(fd) = slave {
        let _ = nix::unistd::setsid();
        if let Err(e) = sys::set_controlling_tty(fd) {
            fail(
                &io.errors,
                SETUP_FAILED,
                &format!("set the controlling terminal: {e}"),
            );
        }
        for target in 0..=2 {
            let _ = nix::unistd::dup2(fd, target);
        }
        if fd > 2 {
            let _ = nix::unistd::close(fd);
        }
    }
    if let Some(fd) = spec.output {
        // dup2 clears close-on-exec on the copies.
        let _ = nix::unistd::dup2(fd, 1);
        let _ = nix::unistd::dup2(fd, 2);
        if let Ok(null) = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY,
            nix::sys::stat::Mode::empty(),
        ) {
            let _ = nix::unistd::dup2(null, 0);
            let _ = nix::unistd::close(null);
        }
    }
    // Before dropping privileges: installing a filter needs CAP_SYS_ADMIN.
    if spec.nosync
        && let Err(e) = sys::install_seccomp(&super::nosync::program())
    {
        fail(
            &io.errors,
            SETUP_FAILED,
            &format!("install the nosync filter: {e}"),
        );
    }
    if let Some((uid, gid)) = spec.user {
        let gid = nix::unistd::Gid::from_raw(gid);
        let r = nix::unistd::setgroups(&[gid])
            .and_then(|_| nix::unistd::setgid(gid))
            .and_then(|_| nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)));
        if let Err(e) = r {
            fail(&io.errors, SETUP_FAILED, &format!("drop to uid {uid}: {e}"));
        }
    }
    if let Err(e) = nix::unistd::chdir(&spec.cwd) {
        fail(
            &io.errors,
            SETUP_FAILED,
            &format!(
                "working directory `{}` inside the root: {e}",
                spec.cwd.display()
            ),
        );
    }
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).unwrap_or_default())
        .collect();
    // execvpe searches the PATH of the environment we pass, inside the root.
    let path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(super::DEFAULT_PATH);
    let err = exec_in_path(&argv, &env, path);
    let code = if err == nix::Error::ENOENT { 127 } else { 126 };
    fail(
        &io.errors,
        code,
        &format!(
            "cannot run `{}` inside the root: {}",
            spec.argv[0],
            err.desc()
        ),
    )
}

/// Like execvpe, but with an explicit PATH (libc's uses the caller's env).
fn exec_in_path(argv: &[CString], env: &[CString], path: &str) -> nix::Error {
    let name = argv[0].to_bytes();
    if name.contains(&b'/') {
        return nix::unistd::execve(&argv[0], argv, env).unwrap_err();
    }
    let mut last = nix::Error::ENOENT;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let mut full = dir.as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        let Ok(full) = CString::new(full) else {
            continue;
        };
        let e = nix::unistd::execve(&full, argv, env).unwrap_err();
        if e != nix::Error::ENOENT && e != nix::Error::ENOTDIR {
            last = e;
        }
    }
    last
}
