//! Build roots (docs/design.md §7): an overlay on the ready root, so that every
//! build starts from the pristine root in O(1) and the root itself is never
//! written.
//!
//! ```text
//! BASEDIR/NAME/builds/ID/
//!     upper/   what the build changed (whole files, whiteouts for deletions)
//!     work/    overlayfs's scratch dir
//!     merged/  the overlay's mount point: the build root
//!     lock     flock held while a brt process uses the build
//!     kept     present when `--keep` asked to keep it
//! ```
//!
//! The overlay is mounted in a mount namespace private to the brt process
//! ([`private_namespace`]), never on the host: when brt exits, however it
//! exits (kill -9 included), the kernel unmounts it. A build dir left by a
//! killed brt has no `kept` marker and no lock holder; the next build
//! removes it ([`sweep`]).

use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use super::Layout;

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(
        "cannot give brt its own mount namespace for the build root (brt is running {threads} threads)"
    )]
    Namespace {
        threads: usize,
        #[source]
        source: nix::Error,
    },
    #[error("cannot create the build dir `{}`", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot mount the build root overlay at `{}`", merged.display())]
    Mount {
        merged: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("the overlay cannot name `{}`: it contains `,`, `:` or `\\`", path.display())]
    Unmountable { path: PathBuf },
    #[error("root `{name}` has no kept build `{id}`{known}")]
    NoSuchBuild {
        name: String,
        id: String,
        known: String,
    },
    #[error("build `{id}` of root `{name}` is in use by another brt")]
    Busy { name: String, id: String },
}

/// Gives this process a mount namespace of its own, with `/` private, so
/// that the overlays it mounts are seen by it and its children only and
/// vanish with it. Must run before brt starts any thread.
pub fn private_namespace() -> Result<(), OverlayError> {
    let fail = |source| OverlayError::Namespace {
        threads: threads(),
        source,
    };
    unshare(CloneFlags::CLONE_NEWNS).map_err(fail)?;
    // A copied namespace keeps the host's shared propagation: without this,
    // the overlay would appear on the host too.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(fail)
}

fn threads() -> usize {
    fs_err::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One build root.
#[derive(Debug)]
pub struct BuildRoot {
    pub id: String,
    pub dir: PathBuf,
    _lock: Flock<std::fs::File>,
    mounted: bool,
}

/// Where a root's builds live.
pub fn builds_dir(layout: &Layout) -> PathBuf {
    layout.dir.join("builds")
}

impl BuildRoot {
    /// A new, empty build dir with the lowest free number as its id; left
    /// over builds of killed brt processes are removed first.
    pub fn create(layout: &Layout) -> Result<BuildRoot, OverlayError> {
        let builds = builds_dir(layout);
        let create = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OverlayError::Create { path, source }
        };
        fs_err::create_dir_all(&builds).map_err(create(&builds))?;
        sweep_builds(layout, false);
        for n in 1.. {
            let dir = builds.join(n.to_string());
            match fs_err::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(create(&dir)(e)),
            }
            for sub in ["upper", "work", "merged"] {
                fs_err::create_dir(dir.join(sub)).map_err(create(&dir.join(sub)))?;
            }
            let lock = lock(&dir.join("lock"), false)
                .map_err(create(&dir.join("lock")))?
                .expect("a new build's lock is free");
            return Ok(BuildRoot {
                id: n.to_string(),
                dir,
                _lock: lock,
                mounted: false,
            });
        }
        unreachable!("build ids are unbounded")
    }

    /// A build kept with `--keep`, to enter again.
    pub fn open_kept(layout: &Layout, id: &str) -> Result<BuildRoot, OverlayError> {
        let dir = builds_dir(layout).join(id);
        let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        if !valid || !dir.join("kept").exists() {
            let known = kept(layout);
            return Err(OverlayError::NoSuchBuild {
                name: layout.name.clone(),
                id: id.to_string(),
                known: if known.is_empty() {
                    " (it has none)".into()
                } else {
                    format!(" (kept: {})", known.join(", "))
                },
            });
        }
        let path = dir.join("lock");
        let lock = lock(&path, true)
            .map_err(|source| OverlayError::Create { path, source })?
            .ok_or_else(|| OverlayError::Busy {
                name: layout.name.clone(),
                id: id.to_string(),
            })?;
        Ok(BuildRoot {
            id: id.to_string(),
            dir,
            _lock: lock,
            mounted: false,
        })
    }

    /// The build root, once mounted.
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// Mounts the overlay of `lower` (the ready root) at [`Self::merged`].
    /// The caller must be in its [`private_namespace`].
    pub fn mount(&mut self, lower: &Path) -> Result<(), OverlayError> {
        let upper = self.upper();
        let work = self.dir.join("work");
        let merged = self.merged();
        for p in [lower, &upper, &work] {
            let text = p.to_string_lossy();
            if text.contains([',', ':', '\\']) {
                return Err(OverlayError::Unmountable {
                    path: p.to_path_buf(),
                });
            }
        }
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        // In brt's user namespace (rootless) overlayfs may not use the
        // `trusted.` xattrs; it keeps its own in `user.`.
        if crate::rootless::active() {
            data.push_str(",userxattr");
        }
        mount(
            Some("brt-build"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|source| OverlayError::Mount {
            merged: merged.clone(),
            source,
        })?;
        self.mounted = true;
        Ok(())
    }

    /// Keeps the build for `shell --build ID`; returns its id.
    pub fn keep(mut self) -> String {
        self.unmount();
        let _ = fs_err::write(self.dir.join("kept"), b"");
        self.id.clone()
    }

    /// Removes everything the build wrote.
    pub fn discard(mut self) {
        self.unmount();
        remove(&self.dir);
    }

    fn unmount(&mut self) {
        if std::mem::take(&mut self.mounted) {
            let _ = umount2(&self.merged(), MntFlags::MNT_DETACH);
        }
    }
}

impl Drop for BuildRoot {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// Ids of the kept builds of a root, in order.
pub fn kept(layout: &Layout) -> Vec<String> {
    let mut ids: Vec<u64> = fs_err::read_dir(builds_dir(layout))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("kept").exists())
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.iter().map(u64::to_string).collect()
}

/// Removes the builds that are neither kept nor in use (left by a killed
/// brt). `all` also removes the kept ones that are not in use.
pub fn sweep_builds(layout: &Layout, all: bool) -> usize {
    let mut removed = 0;
    let Ok(entries) = fs_err::read_dir(builds_dir(layout)) else {
        return 0;
    };
    for e in entries.flatten() {
        let dir = e.path();
        if !all && dir.join("kept").exists() {
            continue;
        }
        let free = match lock(&dir.join("lock"), true) {
            Ok(held) => held.is_some(),
            // No lock file: a build being set up right now, or one killed
            // before it took its lock; only an old one is left over.
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60),
        };
        if free {
            remove(&dir);
            removed += 1;
        }
    }
    removed
}

/// Takes the lock at `path` without waiting; `None` when another process
/// holds it. `existing`: do not create the file.
fn lock(path: &Path, existing: bool) -> io::Result<Option<Flock<std::fs::File>>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(!existing)
        .truncate(false)
        .open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::Error::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// Removes a build dir. Its `merged` may still be a mount point in this
/// namespace only if unmounting failed; the removal then stops there.
fn remove(dir: &Path) {
    let _ = umount2(&dir.join("merged"), MntFlags::MNT_DETACH);
    let _ = fs_err::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_over_builds_are_swept_kept_and_busy_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "r");
        let a = BuildRoot::create(&layout).unwrap();
        let b = BuildRoot::create(&layout).unwrap();
        let c = BuildRoot::create(&layout).unwrap();
        assert_eq!(
            (a.id.as_str(), b.id.as_str(), c.id.as_str()),
            ("1", "2", "3")
        );
        // `a` is kept, `b` is left as a killed brt leaves it, `c` is in use.
        assert_eq!(a.keep(), "1");
        drop(b);
        assert_eq!(sweep_builds(&layout, false), 1);
        assert!(!builds_dir(&layout).join("2").exists());
        assert!(c.dir.exists());
        assert_eq!(kept(&layout), ["1"]);

        let again = BuildRoot::open_kept(&layout, "1").unwrap();
        assert!(matches!(
            BuildRoot::open_kept(&layout, "1"),
            Err(OverlayError::Busy { .. })
        ));
        match BuildRoot::open_kept(&layout, "3") {
            Err(e @ OverlayError::NoSuchBuild { .. }) => {
                assert_eq!(e.to_string(), "root `r` has no kept build `3` (kept: 1)")
            }
            other => panic!("{other:?}"),
        }
        assert!(BuildRoot::open_kept(&layout, "../1").is_err());
        // The lowest free id is taken again.
        let d = BuildRoot::create(&layout).unwrap();
        assert_eq!(d.id, "2");
        drop(again);
        assert_eq!(sweep_builds(&layout, true), 1);
        assert!(kept(&layout).is_empty());
        d.discard();
        c.discard();
        assert_eq!(fs_err::read_dir(builds_dir(&layout)).unwrap().count(), 0);
    }
}
