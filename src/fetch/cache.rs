//! The content-addressed package cache (`CACHEDIR/packages-v1/SHA256`),
//! shared by all roots, and the parallel downloader that fills it.
//!
//! A file is only ever renamed into the cache after its checksum matched, so
//! a file present under its hash is trusted without re-reading it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Expected, FetchError, Fetcher, Reporter};

/// One package to have in the cache.
#[derive(Debug, Clone)]
pub struct Download {
    /// Shown in errors: `libc6 2.36-9+deb12u10`.
    pub label: String,
    /// Mirrors to try in order.
    pub urls: Vec<String>,
    pub expected: Expected,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot download {label}")]
pub struct DownloadError {
    pub label: String,
    #[source]
    pub source: FetchError,
}

pub struct PackageCache {
    dir: PathBuf,
}

impl PackageCache {
    pub fn new(cachedir: &Path) -> PackageCache {
        PackageCache {
            dir: cachedir.join("packages-v1"),
        }
    }

    /// `CACHEDIR/packages-v1`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file with this SHA-256 lives (whether or not it is there).
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256.to_ascii_lowercase())
    }

    pub fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Downloads whatever of `wanted` is missing, `parallel` at a time;
    /// returns the number of bytes fetched. The first failure stops the
    /// others and is returned; files already complete stay in the cache.
    /// `cancelled` is polled between files (Ctrl-C).
    pub fn fill(
        &self,
        fetcher: &Fetcher,
        wanted: &[Download],
        parallel: usize,
        reporter: &dyn Reporter,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<u64, DownloadError> {
        let missing: Vec<&Download> = wanted
            .iter()
            .filter(|d| !self.contains(&d.expected.sha256))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        if fetcher.offline() {
            let d = missing[0];
            return Err(DownloadError {
                label: d.label.clone(),
                source: FetchError::Offline {
                    url: d.urls.first().cloned().unwrap_or_default(),
                },
            });
        }
        let total: u64 = missing.iter().filter_map(|d| d.expected.size).sum();
        reporter.start("downloading", total, missing.len());
        let queue = Mutex::new(missing.iter());
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<DownloadError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..parallel.clamp(1, missing.len()) {
                scope.spawn(|| {
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let Some(d) = queue.lock().expect("queue lock").next() else {
                            return;
                        };
                        let result = if cancelled() {
                            Err(FetchError::Interrupted)
                        } else {
                            self.fetch_one(fetcher, d, reporter)
                        };
                        if let Err(source) = result {
                            failed.store(true, Ordering::Relaxed);
                            first_error
                                .lock()
                                .expect("error lock")
                                .get_or_insert(DownloadError {
                                    label: d.label.clone(),
                                    source,
                                });
                            return;
                        }
                    }
                });
            }
        });
        reporter.finish();
        match first_error.into_inner().expect("error lock") {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Tries each mirror in turn; a checksum mismatch is not a mirror
    /// problem, so it fails at once.
    fn fetch_one(
        &self,
        fetcher: &Fetcher,
        d: &Download,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        let dest = self.path(&d.expected.sha256);
        let mut last = None;
        for url in &d.urls {
            match fetcher.download(url, &dest, &d.expected, reporter) {
                Ok(()) => return Ok(()),
                Err(e @ FetchError::Checksum { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(FetchError::Offline {
            url: format!("{} (no URL)", d.label),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Silent, sha256_bytes};
    use super::*;

    #[test]
    fn fills_from_the_second_mirror_and_skips_cached_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.deb");
        fs_err::write(&src, b"deb bytes").unwrap();
        let cache = PackageCache::new(&dir.path().join("cache"));
        let want = vec![Download {
            label: "a 1.0".into(),
            urls: vec![
                "file:///nonexistent/a.deb".into(),
                format!("file://{}", src.display()),
            ],
            expected: Expected {
                size: Some(9),
                sha256: sha256_bytes(b"deb bytes"),
            },
        }];
        let fetcher = Fetcher::new(false);
        let never = || false;
        assert_eq!(cache.fill(&fetcher, &want, 4, &Silent, &never).unwrap(), 9);
        assert!(cache.contains(&want[0].expected.sha256));
        // Second time: nothing to do, even offline.
        let offline = Fetcher::new(true);
        assert_eq!(cache.fill(&offline, &want, 4, &Silent, &never).unwrap(), 0);
    }

    #[test]
    fn a_checksum_mismatch_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.deb");
        fs_err::write(&src, b"deb bytes").unwrap();
        let cache = PackageCache::new(&dir.path().join("cache"));
        let want = vec![Download {
            label: "a 1.0".into(),
            urls: vec![format!("file://{}", src.display())],
            expected: Expected {
                size: None,
                sha256: "1".repeat(64),
            },
        }];
        let err = cache
            .fill(&Fetcher::new(false), &want, 2, &Silent, &|| false)
            .unwrap_err();
        assert_eq!(err.label, "a 1.0");
        assert!(matches!(err.source, FetchError::Checksum { .. }));
        assert!(!cache.contains(&"1".repeat(64)));
    }
}
