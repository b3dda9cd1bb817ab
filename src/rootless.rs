//! Rootless brt (issue 14): a user who is not root runs brt in a user
//! namespace of its own, where it is root.
//!
//! - **Identities**: the namespace maps root to the user and uids/gids
//!   1…N to the user's subordinate ranges (`/etc/subuid`, `/etc/subgid`),
//!   through the setuid `newuidmap`/`newgidmap` (package uidmap), so
//!   packages can own files as any user or group they need.
//! - **Mounts**: a mount namespace of its own, which dies with brt; the
//!   host's mounts are never changed.
//! - **Emulation**: a binfmt_misc instance of the namespace's own (Linux ≥
//!   6.7) is mounted over `/proc/sys/fs/binfmt_misc` in that mount
//!   namespace; brt registers its qemu entry there (flag `F`) for the life
//!   of the command. The host's entries are neither read nor changed.
//!
//! [`enter`] forks: the parent maps the child's namespace, then waits for
//! it and exits with its status (a signal that kills the parent takes the
//! child along: `PR_SET_PDEATHSIG`); the child returns and runs the
//! command as root of the namespace.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, User, fork, pipe};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static OWN_BINFMT: AtomicBool = AtomicBool::new(false);

/// Whether brt's namespace has a binfmt_misc instance of its own.
pub fn own_binfmt() -> bool {
    OWN_BINFMT.load(Ordering::Relaxed)
}

/// Whether brt runs in its own user namespace (rootless).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("user `{user}` has no subordinate {kind} range in `{file}`")]
    NoRange {
        user: String,
        kind: &'static str,
        file: &'static str,
    },
    #[error("`{tool}` is not installed")]
    NoTool { tool: &'static str },
    #[error("cannot create a user namespace")]
    Unshare(#[source] nix::Error),
    #[error("`{tool}` failed: {text}")]
    Map { tool: &'static str, text: String },
    #[error("cannot set up the user namespace")]
    Setup(#[source] nix::Error),
}

impl crate::error::Explain for RootlessError {
    fn hint(&self) -> Option<String> {
        match self {
            RootlessError::NoRange { user, .. } => Some(format!(
                "as root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}` (any free range of 65536), or run brt as root"
            )),
            RootlessError::NoTool { .. } => Some(
                "apt-get install uidmap / dnf install shadow-utils (newuidmap and newgidmap, setuid root)"
                    .into(),
            ),
            RootlessError::Unshare(_) => Some(
                "unprivileged user namespaces are off on this host (sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0), or run brt as root"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A subordinate range: first id and count.
fn range(
    file: &'static str,
    user: &str,
    uid: u32,
    kind: &'static str,
) -> Result<(u64, u64), RootlessError> {
    let text = fs_err::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            (who == user || who == uid.to_string())
                .then(|| Some((start.parse().ok()?, count.parse().ok()?)))
                .flatten()
        })
        .find(|&(_, count): &(u64, u64)| count > 0)
        .ok_or(RootlessError::NoRange {
            user: user.to_string(),
            kind,
            file,
        })
}

fn tool(name: &'static str) -> Result<PathBuf, RootlessError> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or(RootlessError::NoTool { tool: name })
}

/// Enters brt's user and mount namespace (see the module doc). Returns in
/// the child; the parent returns only an error of mapping the namespace,
/// and otherwise exits with the child's status.
pub fn enter() -> Result<(), RootlessError> {
    let uid = Uid::current();
    let gid = Gid::current();
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let (uid_start, uid_count) = range("/etc/subuid", &user, uid.as_raw(), "uid")?;
    let (gid_start, gid_count) = range("/etc/subgid", &user, uid.as_raw(), "gid")?;
    private_tmp();
    let newuidmap = tool("newuidmap")?;
    let newgidmap = tool("newgidmap")?;
    let (ready_r, ready_w) = pipe().map_err(RootlessError::Setup)?;
    let (go_r, go_w) = pipe().map_err(RootlessError::Setup)?;
    // SAFETY: brt is single-threaded here (main, before anything else).
    match unsafe { fork() }.map_err(RootlessError::Setup)? {
        ForkResult::Child => {
            drop(ready_r);
            drop(go_w);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            let unshared = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS);
            let mut w = std::fs::File::from(ready_w);
            let _ = w.write_all(if unshared.is_ok() { b"1" } else { b"0" });
            drop(w);
            unshared.map_err(RootlessError::Unshare)?;
            let mut answer = [0u8; 1];
            let mut r = std::fs::File::from(go_r);
            if r.read_exact(&mut answer).is_err() || answer[0] != b'1' {
                // The parent said why; it exits with that.
                std::process::exit(1);
            }
            become_root()?;
            ACTIVE.store(true, Ordering::Relaxed);
            Ok(())
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(go_r);
            let mut r = std::fs::File::from(ready_r);
            let mut state = [0u8; 1];
            let unshared = r.read_exact(&mut state).is_ok() && state[0] == b'1';
            let mut go = std::fs::File::from(go_w);
            let mapped = if unshared {
                map(
                    &newuidmap,
                    "newuidmap",
                    child.as_raw(),
                    uid.as_raw(),
                    uid_start,
                    uid_count,
                )
                .and_then(|()| {
                    map(
                        &newgidmap,
                        "newgidmap",
                        child.as_raw(),
                        gid.as_raw(),
                        gid_start,
                        gid_count,
                    )
                })
            } else {
                Ok(())
            };
            let _ = go.write_all(if unshared && mapped.is_ok() {
                b"1"
            } else {
                b"0"
            });
            drop(go);
            // Ctrl-C reaches both (one process group); the child cleans up
            // and its status is the answer. Termination is passed on.
            for s in [Signal::SIGINT, Signal::SIGQUIT] {
                // SAFETY: SIG_IGN installs no handler code.
                let _ = unsafe { signal(s, SigHandler::SigIgn) };
            }
            let code = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
                    Err(nix::Error::EINTR) | Ok(_) => continue,
                    Err(_) => break 1,
                }
            };
            // A child that could not unshare said why itself.
            mapped?;
            std::process::exit(code);
        }
    }
}

/// Points `TMPDIR` at `~/.cache/brt/tmp` when the temporary directory is
/// not writable by the user (some hosts keep `/tmp` for root).
fn private_tmp() {
    let tmp = std::env::temp_dir();
    if nix::unistd::access(&tmp, nix::unistd::AccessFlags::W_OK).is_ok() {
        return;
    }
    let (_, cache) = user_dirs();
    let dir = cache.join("tmp");
    if fs_err::create_dir_all(&dir).is_ok() {
        // SAFETY: brt is single-threaded here (before the fork in `enter`).
        unsafe { std::env::set_var("TMPDIR", &dir) };
    }
}

/// `newuidmap PID 0 ID 1 1 START COUNT`: root is the user, 1… the range.
fn map(
    tool_path: &Path,
    name: &'static str,
    pid: i32,
    id: u32,
    start: u64,
    count: u64,
) -> Result<(), RootlessError> {
    let out = Command::new(tool_path)
        .arg(pid.to_string())
        .args([
            "0",
            &id.to_string(),
            "1",
            "1",
            &start.to_string(),
            &count.to_string(),
        ])
        .output()
        .map_err(|e| RootlessError::Map {
            tool: name,
            text: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(RootlessError::Map {
            tool: name,
            text: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// In the mapped namespace: root, `/` private, binfmt_misc of its own.
fn become_root() -> Result<(), RootlessError> {
    let root = Uid::from_raw(0);
    let group = Gid::from_raw(0);
    nix::unistd::setgroups(&[]).map_err(RootlessError::Setup)?;
    nix::unistd::setresgid(group, group, group).map_err(RootlessError::Setup)?;
    nix::unistd::setresuid(root, root, root).map_err(RootlessError::Setup)?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(RootlessError::Setup)?;
    // Best effort: before Linux 6.7 there is no binfmt_misc per user
    // namespace, and the host's entries (with `F`) are what runs.
    let own = nix::mount::mount(
        Some("binfmt_misc"),
        crate::binfmt::DEFAULT_DIR,
        Some("binfmt_misc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    OWN_BINFMT.store(own.is_ok(), Ordering::Relaxed);
    Ok(())
}

/// brt's own directories for a user who is not root, as XDG says:
/// `$XDG_DATA_HOME/brt` (`~/.local/share/brt`) for roots and
/// `$XDG_CACHE_HOME/brt` (`~/.cache/brt`) for the cache.
pub fn user_dirs() -> (PathBuf, PathBuf) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/".into());
    let xdg = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(default))
            .join("brt")
    };
    (
        xdg("XDG_DATA_HOME", ".local/share"),
        xdg("XDG_CACHE_HOME", ".cache"),
    )
}
