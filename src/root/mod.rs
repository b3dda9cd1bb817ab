//! Roots on disk (docs/design.md §3): layout under the base dir and the state file.

pub mod archive;
pub mod confined;
pub mod copy;
pub mod deb;
pub mod family;
pub mod import;
pub mod lock;
pub mod overlay;
pub mod rootcache;
pub mod rpm;
pub mod scrub;
pub mod staging;
mod state;
pub mod transaction;

pub use state::{RootState, State, StateFile};

use crate::error::{ErrorClass, Explain};
use std::path::{Path, PathBuf};

/// Where one root lives: `BASEDIR/NAME/`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(basedir: &Path, name: &str) -> Layout {
        Layout {
            name: name.to_string(),
            dir: basedir.join(name),
        }
    }

    /// The tree one chroots into.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Default result dir; `clean` never deletes it.
    pub fn result_dir(&self) -> PathBuf {
        self.dir.join("result")
    }

    /// Current state, derived from what is on disk.
    pub fn state(&self) -> RootState {
        State::read(self)
    }

    /// Ok when the root exists and is ready to use.
    pub fn require_ready(&self) -> Result<(), RootError> {
        match self.state() {
            RootState::Ready => Ok(()),
            RootState::Absent => Err(RootError::Missing {
                name: self.name.clone(),
            }),
            state => Err(RootError::NotReady {
                name: self.name.clone(),
                state,
            }),
        }
    }
}

/// A root that cannot be used as asked.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("root `{name}` does not exist")]
    Missing { name: String },
    #[error("root `{name}` is {state}, not ready")]
    NotReady { name: String, state: RootState },
}

impl Explain for RootError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            RootError::Missing { name } => format!(
                "create it with `brt -r {name} init`, or from a rootfs tarball or directory with `brt -r {name} import ROOTFS.tar`"
            ),
            RootError::NotReady { name, .. } => format!(
                "an earlier command was interrupted; `brt -r {name} init` starts over (or `brt -r {name} import --replace ROOTFS.tar`)"
            ),
        })
    }

    fn class(&self) -> ErrorClass {
        ErrorClass::Root
    }
}

/// Disk usage of a tree in bytes (allocated blocks, hard links counted once,
/// not crossing into other filesystems).
pub fn disk_usage(path: &Path) -> u64 {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = fs_err::symlink_metadata(path) else {
        return 0;
    };
    let dev = top.dev();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(md) = fs_err::symlink_metadata(&p) else {
            continue;
        };
        if md.dev() != dev {
            continue;
        }
        if md.nlink() > 1 && !md.is_dir() && !seen.insert(md.ino()) {
            continue;
        }
        total += md.blocks() * 512;
        if md.is_dir()
            && let Ok(rd) = fs_err::read_dir(&p)
        {
            stack.extend(rd.flatten().map(|e| e.path()));
        }
    }
    total
}

/// Flushes the filesystem holding `root` to disk (`syncfs(2)`): what ran
/// in the root did so without fsync.
pub fn sync_root(root: &Path) -> std::io::Result<()> {
    let dir = fs_err::File::open(root)?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)).map_err(std::io::Error::from)
}

/// `12.3 MiB` style.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        for (n, s) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (5 * 1024 * 1024 + 512 * 1024, "5.5 MiB"),
        ] {
            assert_eq!(human_size(n), s);
        }
    }
}
