//! The root cache: a finished root (after the emulated finish step, before
//! any user change) kept under `CACHEDIR/roots-v1/KEY/root`, so that the
//! next `init` of the same package set restores it instead of unpacking
//! and running every maintainer script again.
//!
//! KEY hashes what makes the root what it is: brt's root format version,
//! the family and arch, the resolved package set with each package's
//! SHA-256, and the config that the finish step reads (the repositories,
//! written into the root as apt's sources or yum's repo file). Acceleration
//! is not part of it: it changes no byte of the root.
//!
//! Restoring copies with `cp -a`, reflinked where the filesystem can
//! (btrfs, xfs): the cheapest copy on the machine, and a copy at all
//! because a root is changed in place afterwards (`install`), which must
//! never reach the cached one. An entry is complete only once its
//! `complete` marker exists; entries are made in a temporary dir and
//! renamed into place.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use crate::config::Config;

/// The cache folder, versioned with the format of what it holds.
pub const CACHE_DIR: &str = "roots-v1";

/// How a root came back from the cache, for `state.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    Reflink,
    Copy,
}

impl Restore {
    pub fn describe(self) -> &'static str {
        match self {
            Restore::Reflink => "reflinks",
            Restore::Copy => "a copy (`cp -a`; this filesystem has no reflinks)",
        }
    }
}

/// The root cache of one cache dir.
#[derive(Debug, Clone)]
pub struct RootCache {
    dir: PathBuf,
}

impl RootCache {
    pub fn new(cachedir: &Path) -> RootCache {
        RootCache {
            dir: cachedir.join(CACHE_DIR),
        }
    }

    /// The key of a root of `config` made of `packages` (`label sha256`
    /// lines, in any order).
    pub fn key(config: &Config, packages: &[String]) -> String {
        let mut sorted = packages.to_vec();
        sorted.sort();
        let mut h = sha2::Sha256::new();
        h.update(format!(
            "{CACHE_DIR}\n{}\n{}\n{:?}\n",
            config.distro.family,
            config.arch_name(),
            config.repos
        ));
        for p in &sorted {
            h.update(p.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..32.min(key.len())])
    }

    /// Whether a complete root with `key` is cached.
    pub fn contains(&self, key: &str) -> bool {
        self.entry(key).join("complete").exists()
    }

    /// Copies the cached root into `dest` (an empty dir).
    pub fn restore(&self, key: &str, dest: &Path) -> io::Result<Restore> {
        let src = self.entry(key).join("root");
        let how = if reflinks(&self.dir, dest) {
            Restore::Reflink
        } else {
            Restore::Copy
        };
        copy_tree(&src, dest)?;
        // Marks the entry as used (for eviction by age).
        let _ = fs_err::write(self.entry(key).join("used"), b"");
        Ok(how)
    }

    /// Keeps a copy of the finished root `src` under `key`.
    pub fn store(&self, key: &str, src: &Path) -> io::Result<()> {
        let entry = self.entry(key);
        if entry.join("complete").exists() {
            return Ok(());
        }
        fs_err::create_dir_all(&self.dir)?;
        let tmp = self
            .dir
            .join(format!(".{}.tmp-{}", &key[..32], std::process::id()));
        let _ = fs_err::remove_dir_all(&tmp);
        fs_err::create_dir_all(tmp.join("root"))?;
        let made = copy_tree(src, &tmp.join("root"))
            .and_then(|()| fs_err::write(tmp.join("key"), key))
            .and_then(|()| fs_err::write(tmp.join("complete"), b""))
            .and_then(|()| {
                let _ = fs_err::remove_dir_all(&entry);
                fs_err::rename(&tmp, &entry)
            });
        if made.is_err() {
            let _ = fs_err::remove_dir_all(&tmp);
        }
        made
    }
}

/// `cp -a --reflink=auto SRC/. DEST`: owners, modes, times, links, xattrs,
/// hard links and device nodes kept; symlinks copied as symlinks.
fn copy_tree(src: &Path, dest: &Path) -> io::Result<()> {
    let out = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg("--")
        .arg(src.join("."))
        .arg(dest)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`cp -a {}/. {}` failed: {}",
            src.display(),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether a file in `a` can be reflinked into `b` (same filesystem, one
/// that shares extents).
fn reflinks(a: &Path, b: &Path) -> bool {
    let probe = a.join(format!(".reflink-probe-{}", std::process::id()));
    let copy = b.join(".brt-reflink-probe");
    let ok = fs_err::write(&probe, b"brt").is_ok()
        && Command::new("cp")
            .arg("--reflink=always")
            .arg(&probe)
            .arg(&copy)
            .output()
            .is_ok_and(|o| o.status.success());
    let _ = fs_err::remove_file(&probe);
    let _ = fs_err::remove_file(&copy);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_roots_come_back_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs_err::create_dir_all(root.join("usr/bin")).unwrap();
        fs_err::write(root.join("usr/bin/tool"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        let cache = RootCache::new(&tmp.path().join("cache"));
        let key = "ab".repeat(32);
        assert!(!cache.contains(&key));
        cache.store(&key, &root).unwrap();
        assert!(cache.contains(&key));
        let dest = tmp.path().join("dest");
        fs_err::create_dir_all(&dest).unwrap();
        cache.restore(&key, &dest).unwrap();
        assert_eq!(fs_err::read(dest.join("bin/tool")).unwrap(), b"x");
        assert!(dest.join("bin").symlink_metadata().unwrap().is_symlink());
    }
}
