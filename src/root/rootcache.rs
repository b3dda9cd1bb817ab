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

impl RootCache {
    /// The cached entries: (key prefix, dir, last use, size in bytes).
    fn entries(&self) -> Vec<(String, PathBuf, std::time::SystemTime, u64)> {
        let Ok(dir) = fs_err::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|e| e.path().join("complete").exists())
            .map(|e| {
                let path = e.path();
                let used = ["used", "complete"]
                    .iter()
                    .filter_map(|f| path.join(f).metadata().and_then(|m| m.modified()).ok())
                    .max()
                    .unwrap_or(std::time::UNIX_EPOCH);
                let size = super::disk_usage(&path);
                let name = e.file_name().to_string_lossy().into_owned();
                (name, path, used, size)
            })
            .collect()
    }

    /// With a size cap (`BRT_CACHE_MAX`: bytes, or with K, M, G, T), removes
    /// the least recently used roots until the cache fits, never `keep` nor
    /// one that a root under `basedir` was made from. Returns what it said.
    pub fn evict_over_cap(&self, basedir: &Path, keep: &str) -> Vec<String> {
        let Some(cap) = std::env::var("BRT_CACHE_MAX")
            .ok()
            .and_then(|v| parse_size(&v))
        else {
            return Vec::new();
        };
        let referenced = referenced_keys(basedir);
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|e| e.3).sum();
        entries.sort_by_key(|e| e.2);
        let mut said = Vec::new();
        for (name, path, _, size) in entries {
            if total <= cap {
                break;
            }
            if keep.starts_with(&name) || referenced.iter().any(|k| k.starts_with(&name)) {
                continue;
            }
            if fs_err::remove_dir_all(&path).is_ok() {
                total = total.saturating_sub(size);
                said.push(format!(
                    "root cache over BRT_CACHE_MAX: removed the least recently used root {name} ({})",
                    super::human_size(size)
                ));
            }
        }
        said
    }
}

/// The root cache keys that the roots under `basedir` were made from.
fn referenced_keys(basedir: &Path) -> Vec<String> {
    let Ok(dir) = fs_err::read_dir(basedir) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| super::StateFile::read(&e.path().join("state.json"))?.root_cache_key)
        .collect()
}

/// `123`, `500M`, `20G`, `1T` (powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_mul(1 << shift)
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
    fn sizes_read_as_the_cap_is_written() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("20G"), Some(20 << 30));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("1t"), Some(1 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5X"), None);
    }

    #[test]
    fn the_least_recently_used_unreferenced_root_goes_first() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = RootCache::new(&tmp.path().join("cache"));
        let root = tmp.path().join("root");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(root.join("big"), vec![7u8; 1 << 20]).unwrap();
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        for k in [&a, &b, &c] {
            cache.store(k, &root).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // `a` is the oldest but a root was made from it; `c` was just made.
        let basedir = tmp.path().join("lib");
        fs_err::create_dir_all(basedir.join("r")).unwrap();
        fs_err::write(
            basedir.join("r/state.json"),
            format!("{{\"root_cache_key\": \"{a}\"}}"),
        )
        .unwrap();
        // SAFETY of the test: no other test reads BRT_CACHE_MAX.
        unsafe { std::env::set_var("BRT_CACHE_MAX", "2M") };
        let said = cache.evict_over_cap(&basedir, &c);
        unsafe { std::env::remove_var("BRT_CACHE_MAX") };
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(cache.contains(&a) && !cache.contains(&b) && cache.contains(&c));
    }

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
