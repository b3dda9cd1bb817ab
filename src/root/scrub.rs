//! `scrub`: emptying brt's caches, and the lock that keeps it from pulling
//! them from under a running command.
//!
//! Every command that reads or fills the cache (init, install, update,
//! remove, build) holds `CACHEDIR/.lock` shared for its whole run; `scrub`
//! takes it exclusively, so it waits for them (and says so), and they wait
//! for it.

use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{Layout, disk_usage, overlay};

/// What `scrub` can empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Downloaded packages (`packages-v1`).
    Packages,
    /// Repository metadata (`metadata-v1`).
    Metadata,
    /// Finished roots (`roots-v1`).
    RootsCache,
    /// Native helper layers (`accel-v1`).
    Helpers,
    /// Kept build roots of every root under the base dir.
    Builds,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Packages,
        Part::Metadata,
        Part::RootsCache,
        Part::Helpers,
        Part::Builds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Packages => "packages",
            Part::Metadata => "metadata",
            Part::RootsCache => "roots-cache",
            Part::Helpers => "helpers",
            Part::Builds => "builds",
        }
    }

    /// The cache folder this part is, if it is one.
    fn dir(self, cachedir: &Path) -> Option<PathBuf> {
        let name = match self {
            Part::Packages => "packages-v1",
            Part::Metadata => "metadata-v1",
            Part::RootsCache => super::rootcache::CACHE_DIR,
            Part::Helpers => crate::accel::CACHE_DIR,
            Part::Builds => return None,
        };
        Some(cachedir.join(name))
    }
}

/// The cache's lock, held while it is used (shared) or scrubbed.
pub struct CacheLock {
    _lock: Flock<std::fs::File>,
}

impl CacheLock {
    fn open(cachedir: &Path) -> io::Result<std::fs::File> {
        fs_err::create_dir_all(cachedir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cachedir.join(".lock"))
    }

    fn take(cachedir: &Path, arg: FlockArg, waiting: impl FnOnce()) -> io::Result<CacheLock> {
        let nonblocking = match arg {
            FlockArg::LockShared => FlockArg::LockSharedNonblock,
            _ => FlockArg::LockExclusiveNonblock,
        };
        let file = match Flock::lock(CacheLock::open(cachedir)?, nonblocking) {
            Ok(lock) => return Ok(CacheLock { _lock: lock }),
            Err((file, nix::Error::EWOULDBLOCK)) => file,
            Err((_, e)) => return Err(e.into()),
        };
        waiting();
        Flock::lock(file, arg)
            .map(|lock| CacheLock { _lock: lock })
            .map_err(|(_, e)| e.into())
    }

    /// For a command that uses the cache; waits while it is scrubbed.
    pub fn shared(cachedir: &Path, waiting: impl FnOnce()) -> io::Result<CacheLock> {
        CacheLock::take(cachedir, FlockArg::LockShared, waiting)
    }

    /// For `scrub`; waits for the commands using the cache.
    pub fn exclusive(cachedir: &Path, waiting: impl FnOnce()) -> io::Result<CacheLock> {
        CacheLock::take(cachedir, FlockArg::LockExclusive, waiting)
    }
}

/// What scrubbing one part freed.
#[derive(Debug)]
pub struct Freed {
    pub part: Part,
    pub bytes: u64,
    /// Entries removed (files, roots, layers, build roots).
    pub entries: usize,
    /// Kept build roots still in use, left alone.
    pub busy: Vec<String>,
}

/// Empties `part` (the caller holds the cache lock exclusively).
pub fn scrub(part: Part, cachedir: &Path, basedir: &Path) -> io::Result<Freed> {
    let mut freed = Freed {
        part,
        bytes: 0,
        entries: 0,
        busy: Vec::new(),
    };
    if let Some(dir) = part.dir(cachedir) {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            return Ok(freed);
        };
        for e in entries.flatten() {
            let path = e.path();
            freed.bytes += disk_usage(&path);
            if path.symlink_metadata()?.is_dir() {
                fs_err::remove_dir_all(&path)?;
            } else {
                fs_err::remove_file(&path)?;
            }
            freed.entries += 1;
        }
        return Ok(freed);
    }
    // Kept build roots of every root (each root's dir has `builds/`).
    let Ok(roots) = fs_err::read_dir(basedir) else {
        return Ok(freed);
    };
    for r in roots.flatten() {
        let name = r.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !r.path().join("builds").is_dir() {
            continue;
        }
        let layout = Layout::new(basedir, &name);
        let before = disk_usage(&overlay::builds_dir(&layout));
        freed.entries += overlay::sweep_builds(&layout, true);
        freed.bytes += before.saturating_sub(disk_usage(&overlay::builds_dir(&layout)));
        freed.busy.extend(
            overlay::kept(&layout)
                .into_iter()
                .map(|id| format!("{name}:{id}")),
        );
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_a_part_empties_only_its_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        for (dir, file) in [("packages-v1", "ab"), ("metadata-v1", "x/InRelease")] {
            let path = cache.join(dir).join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, vec![1u8; 10_000]).unwrap();
        }
        let _lock = CacheLock::exclusive(&cache, || panic!("nobody holds it")).unwrap();
        let freed = scrub(Part::Packages, &cache, &tmp.path().join("lib")).unwrap();
        assert_eq!(freed.entries, 1);
        assert!(freed.bytes >= 10_000);
        assert!(cache.join("packages-v1").exists());
        assert_eq!(
            fs_err::read_dir(cache.join("packages-v1")).unwrap().count(),
            0
        );
        assert!(cache.join("metadata-v1/x/InRelease").exists());
        let none = scrub(Part::RootsCache, &cache, &tmp.path().join("lib")).unwrap();
        assert_eq!((none.entries, none.bytes), (0, 0));
    }
}
