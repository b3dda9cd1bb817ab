//! Downloads: one HTTP client with timeouts and retries, checksums checked
//! while streaming, and a content-addressed package cache filled by a bounded
//! pool of download threads.
//!
//! `http://`, `https://` and `file://` URLs work alike, so a repository can
//! be local. Progress goes through [`Reporter`]; only the command line knows
//! how it is drawn.

mod cache;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Explain;
use sha2::{Digest, Sha256};

pub use cache::{Download, DownloadError, PackageCache};

/// How many times a request is tried before its error is reported.
const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot fetch `{url}`")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot fetch `{url}`: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("the connection broke off while reading `{url}`")]
    Body {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read `{url}`")]
    File {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{url}` is {actual} bytes, the index says {expected}")]
    Size {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("`{url}` has SHA-256 {actual}, the index says {expected}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{url}` is not in the cache and --offline forbids downloading it")]
    Offline { url: String },
    #[error("interrupted")]
    Interrupted,
}

/// The config keys that make a repository's URLs, told by the URL: an apt
/// repository's (`dists/`, `.deb`) or an rpm-md one's (`repodata/`, `.rpm`).
fn repo_keys(url: &str) -> &'static str {
    if url.contains("/dists/") || url.ends_with(".deb") || url.contains("/pool/") {
        "`url` and `suite`"
    } else if url.contains("/repodata/") || url.ends_with(".rpm") {
        "`baseurl`, `metalink` or `mirrorlist`"
    } else {
        "the repository's address (`url` and `suite` for Debian roots, `baseurl`, `metalink` or `mirrorlist` for RPM roots)"
    }
}

impl FetchError {
    /// Whether trying again may help (network trouble, server errors), as
    /// opposed to a definite answer (404, a wrong checksum).
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Http { .. } | FetchError::Body { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429,
            FetchError::Size { .. } => true, // a connection cut short
            _ => false,
        }
    }
}

impl Explain for FetchError {
    /// What the user can do about it, where that is known.
    fn hint(&self) -> Option<String> {
        match self {
            FetchError::Offline { .. } => {
                Some("run once without `--offline` to fill the cache".into())
            }
            FetchError::Status { status: 404, url } => Some(format!(
                "the mirror does not have it: check {} in `brt -r NAME config`, or the metadata is older than the mirror (run again)",
                repo_keys(url)
            )),
            FetchError::Checksum { .. } | FetchError::Size { .. } => Some(
                "the file differs from what the signed metadata promises: a broken mirror or proxy, or tampering".into(),
            ),
            _ => None,
        }
    }
}

/// What a download must turn out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// Progress of downloads, in bytes. Implementations must be cheap: `advance`
/// is called for every chunk read.
pub trait Reporter: Sync {
    fn start(&self, _what: &str, _total_bytes: u64, _count: usize) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// A reporter that shows nothing.
pub struct Silent;
impl Reporter for Silent {}

/// The HTTP client. Drop it before forking: its runtime runs in a thread.
pub struct Fetcher {
    client: reqwest::blocking::Client,
    offline: bool,
}

impl Fetcher {
    pub fn new(offline: bool) -> Fetcher {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("brt/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            // The blocking client applies this to each read of the body: a
            // stalled connection fails, a large package that keeps flowing
            // does not.
            .timeout(Duration::from_secs(60))
            .build()
            .expect("the TLS backend initialises");
        Fetcher { client, offline }
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Fetches a small file into memory, retrying transient failures.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if self.offline {
            return Err(FetchError::Offline {
                url: url.to_string(),
            });
        }
        retry(|| {
            let mut out = Vec::new();
            self.stream(url, &mut out, &Silent)?;
            Ok(out)
        })
    }

    /// Fetches `url` to `dest` atomically (a temporary file next to it,
    /// renamed once size and checksum are right), retrying transient failures.
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        expected: &Expected,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        if self.offline {
            return Err(FetchError::Offline {
                url: url.to_string(),
            });
        }
        let dir = dest.parent().expect("a file path");
        let write_err = |source| FetchError::Write {
            path: dest.to_path_buf(),
            source,
        };
        fs_err::create_dir_all(dir).map_err(write_err)?;
        retry(|| {
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
            let mut sink = HashingWriter::new(tmp.as_file_mut());
            let size = self.stream(url, &mut sink, reporter)?;
            let sha256 = sink.finish();
            check(url, expected, size, &sha256)?;
            tmp.as_file().sync_data().map_err(write_err)?;
            tmp.persist(dest).map_err(|e| write_err(e.error))?;
            Ok(())
        })
    }

    /// Copies the body of `url` into `out`; returns the number of bytes.
    fn stream(
        &self,
        url: &str,
        out: &mut dyn Write,
        reporter: &dyn Reporter,
    ) -> Result<u64, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let file_err = |source| FetchError::File {
                url: url.to_string(),
                source,
            };
            let mut file = fs_err::File::open(path).map_err(file_err)?;
            return copy(&mut file, out, reporter, file_err);
        }
        let mut response = self
            .client
            .get(url)
            .send()
            .map_err(|source| FetchError::Http {
                url: url.to_string(),
                source,
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        copy(&mut response, out, reporter, |source| FetchError::Body {
            url: url.to_string(),
            source,
        })
    }
}

/// Copies `from` into `to`, reporting progress; a read error goes through
/// `read_err`.
fn copy(
    from: &mut dyn Read,
    to: &mut dyn Write,
    reporter: &dyn Reporter,
    read_err: impl Fn(std::io::Error) -> FetchError,
) -> Result<u64, FetchError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        to.write_all(&buf[..n])
            .map_err(|source| FetchError::Write {
                path: PathBuf::from("(download)"),
                source,
            })?;
        total += n as u64;
        reporter.advance(n as u64);
    }
}

/// Checks a finished download against what the index promised.
fn check(url: &str, expected: &Expected, size: u64, sha256: &str) -> Result<(), FetchError> {
    if let Some(want) = expected.size
        && want != size
    {
        return Err(FetchError::Size {
            url: url.to_string(),
            expected: want,
            actual: size,
        });
    }
    if !sha256.eq_ignore_ascii_case(&expected.sha256) {
        return Err(FetchError::Checksum {
            url: url.to_string(),
            expected: expected.sha256.clone(),
            actual: sha256.to_string(),
        });
    }
    Ok(())
}

fn retry<T>(mut attempt: impl FnMut() -> Result<T, FetchError>) -> Result<T, FetchError> {
    let mut delay = Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if e.is_transient() && tries < ATTEMPTS => {
                std::thread::sleep(delay);
                delay *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Hex SHA-256 of a file.
/// An error and its causes on one line: `a: b: c`.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// so that readers see the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("a file path");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_url(path: &Path) -> String {
        format!("file://{}", path.display())
    }

    #[test]
    fn a_404_hint_names_the_keys_of_the_repository_family() {
        let hint = |url: &str| {
            FetchError::Status {
                url: url.into(),
                status: 404,
            }
            .hint()
            .unwrap()
        };
        let deb = hint("http://deb.debian.org/debian/dists/bookworm/InRelease");
        assert!(
            deb.contains("`url` and `suite`") && !deb.contains("baseurl"),
            "{deb}"
        );
        let rpm = hint("http://127.0.0.1:1/repo/repodata/repomd.xml");
        assert!(
            rpm.contains("`baseurl`") && !rpm.contains("`suite`"),
            "{rpm}"
        );
        let pkg = hint("http://127.0.0.1:1/repo/Packages/a/a-1.0-1.aarch64.rpm");
        assert!(pkg.contains("`baseurl`"), "{pkg}");
    }

    #[test]
    fn download_checks_size_and_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs_err::write(&src, b"payload").unwrap();
        let good = Expected {
            size: Some(7),
            sha256: sha256_bytes(b"payload"),
        };
        let fetcher = Fetcher::new(false);
        let dest = dir.path().join("out/dest");
        fetcher
            .download(&file_url(&src), &dest, &good, &Silent)
            .unwrap();
        assert_eq!(fs_err::read(&dest).unwrap(), b"payload");

        let dest2 = dir.path().join("out/dest2");
        let wrong_sum = Expected {
            size: Some(7),
            sha256: "0".repeat(64),
        };
        let err = fetcher
            .download(&file_url(&src), &dest2, &wrong_sum, &Silent)
            .unwrap_err();
        assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
        let wrong_size = Expected {
            size: Some(8),
            ..good
        };
        let err = fetcher
            .download(&file_url(&src), &dest2, &wrong_size, &Silent)
            .unwrap_err();
        assert!(matches!(err, FetchError::Size { .. }), "{err}");
        assert!(!dest2.exists(), "a failed download leaves no file");
        // No temporary files left behind either.
        assert_eq!(fs_err::read_dir(dir.path().join("out")).unwrap().count(), 1);
    }

    #[test]
    fn offline_refuses_to_fetch() {
        let err = Fetcher::new(true).get("http://127.0.0.1:9/x").unwrap_err();
        assert!(matches!(err, FetchError::Offline { .. }), "{err}");
    }

    #[test]
    fn missing_file_is_not_retried_forever() {
        let err = Fetcher::new(false)
            .get("file:///nonexistent/x")
            .unwrap_err();
        assert!(matches!(err, FetchError::File { .. }), "{err}");
    }
}
