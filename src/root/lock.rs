//! The per-root lock (`BASEDIR/NAME/lock`): one writer, or many readers.
//!
//! flock(2) locks belong to the open file description, so they vanish when
//! the holder dies, even by `kill -9`: a stale lock is impossible. Who holds
//! it is read from `/proc/locks`, so a blocked command can say whom it waits for.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

use super::Layout;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// A process holding a root's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub exclusive: bool,
    /// Its command line, space-joined (empty when unreadable).
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if !self.command.is_empty() {
            write!(f, " (`{}`)", self.command)?;
        }
        Ok(())
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct RootLock {
    _lock: Flock<std::fs::File>,
}

impl RootLock {
    /// For commands that change the root. Blocks while others hold it,
    /// calling `waiting` once with the holders first.
    pub fn exclusive(
        layout: &Layout,
        waiting: impl FnOnce(&[Holder]),
    ) -> Result<RootLock, LockError> {
        Self::take(layout, true, waiting)
    }

    /// For commands that only use the root (shells, export): many at once.
    pub fn shared(layout: &Layout, waiting: impl FnOnce(&[Holder])) -> Result<RootLock, LockError> {
        Self::take(layout, false, waiting)
    }

    fn take(
        layout: &Layout,
        exclusive: bool,
        waiting: impl FnOnce(&[Holder]),
    ) -> Result<RootLock, LockError> {
        let path = layout.lock_file();
        let open_err = |source| LockError::Open {
            path: path.clone(),
            source,
        };
        fs_err::create_dir_all(&layout.dir).map_err(open_err)?;
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(open_err)?;
        let ino = file.metadata().map_err(open_err)?.ino();
        let file = file.into_parts().0;
        let (now, blocking) = if exclusive {
            (FlockArg::LockExclusiveNonblock, FlockArg::LockExclusive)
        } else {
            (FlockArg::LockSharedNonblock, FlockArg::LockShared)
        };
        let lock_err = |source| LockError::Lock {
            path: path.clone(),
            source,
        };
        match Flock::lock(file, now) {
            Ok(l) => Ok(RootLock { _lock: l }),
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
                waiting(&holders(ino));
                Flock::lock(file, blocking)
                    .map(|l| RootLock { _lock: l })
                    .map_err(|(_, e)| lock_err(e))
            }
            Err((_, e)) => Err(lock_err(e)),
        }
    }
}

/// Who holds a flock on inode `ino`, from `/proc/locks`.
fn holders(ino: u64) -> Vec<Holder> {
    let text = fs_err::read_to_string("/proc/locks").unwrap_or_default();
    parse_proc_locks(&text, ino)
        .into_iter()
        .map(|(pid, exclusive)| Holder {
            pid,
            exclusive,
            command: fs_err::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF` → (1234, true) for inode 5678.
/// Blocked waiters (`->` lines) are not holders.
fn parse_proc_locks(text: &str, ino: u64) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`
        if f.len() < 6 || f[1] != "FLOCK" {
            continue;
        }
        let Some(line_ino) = f[5].rsplit(':').next().and_then(|i| i.parse::<u64>().ok()) else {
            continue;
        };
        if line_ino != ino {
            continue;
        }
        if let Ok(pid) = f[4].parse() {
            out.push((pid, f[3] == "WRITE"));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines() {
        let text = "\
1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF
1: -> FLOCK  ADVISORY  WRITE 999 00:2a:5678 0 EOF
2: FLOCK  ADVISORY  READ 42 fd:01:5678 0 EOF
3: POSIX  ADVISORY  WRITE 77 00:2a:5678 0 EOF
4: FLOCK  ADVISORY  WRITE 55 00:2a:1111 0 EOF
";
        assert_eq!(
            parse_proc_locks(text, 5678),
            vec![(42, false), (1234, true)]
        );
    }

    #[test]
    fn shared_locks_coexist_and_exclusive_waits() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "r");
        let a = RootLock::shared(&layout, |_| panic!("shared must not wait")).unwrap();
        let b = RootLock::shared(&layout, |_| panic!("shared must not wait")).unwrap();
        let me = std::process::id();
        let (tx, rx) = std::sync::mpsc::channel();
        let l2 = layout.clone();
        let t = std::thread::spawn(move || {
            RootLock::exclusive(&l2, |holders| {
                tx.send(holders.to_vec()).unwrap();
            })
            .unwrap()
        });
        let holders = rx.recv().unwrap();
        assert!(
            holders.iter().any(|h| h.pid == me && !h.exclusive),
            "{holders:?}"
        );
        drop((a, b));
        drop(t.join().unwrap());
    }
}
