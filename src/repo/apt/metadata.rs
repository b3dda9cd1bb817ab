//! Fetching an apt repository's metadata into the cache: `InRelease` (or
//! `Release` + `Release.gpg`) verified against the config's keyring, then the
//! `Packages` index of each component for the root's architecture, each
//! checked against the signed checksums.
//!
//! Cache layout: `CACHEDIR/metadata-v1/HOST_PATH_SUITE/` holds the files under
//! their path below `dists/SUITE/`. A cached `InRelease` younger than
//! [`FRESH_FOR`] is used without asking the server; an index file whose hash
//! matches the signed `Release` is never fetched again.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{
    DebPackage, IndexFile, PackagesError, Release, ReleaseError, decompressor, read_packages,
};
use crate::error::Explain;
use crate::fetch::{Expected, FetchError, Fetcher, sha256_file, write_atomic};
use crate::repo::openpgp::{Keyring, VerifyError};

/// How long fetched `InRelease` files are used without checking the server.
pub const FRESH_FOR: Duration = Duration::from_secs(60 * 60);

/// One repository as the config describes it.
#[derive(Debug, Clone)]
pub struct AptSource<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub suite: &'a str,
    pub components: &'a [String],
    /// Candidates; the first that exists is used.
    pub keyring: &'a [String],
    pub gpgcheck: bool,
    /// Ask the server even when the cached `InRelease` is fresh (`update`).
    pub refresh: bool,
}

/// The verified metadata of one repository.
#[derive(Debug)]
pub struct AptIndex {
    /// `URL` without a trailing slash.
    pub url: String,
    pub suite: String,
    pub release: Release,
    pub packages: Vec<DebPackage>,
    /// Cached files under their path below `dists/SUITE/` (`InRelease`,
    /// `main/binary-arm64/Packages.xz`), for apt's lists in the root.
    pub files: Vec<(String, PathBuf)>,
    /// The keyring used, if any.
    pub keyring: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("repository `{repo}` needs a keyring and none of {candidates} exists")]
    NoKeyring { repo: String, candidates: String },
    #[error("repository `{repo}`: cannot fetch its Release file")]
    Fetch {
        repo: String,
        #[source]
        source: FetchError,
    },
    #[error("repository `{repo}`: `{path}` is not signed by a trusted key")]
    Signature {
        repo: String,
        path: String,
        #[source]
        source: VerifyError,
    },
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(
        "repository `{repo}`: its Release file is for suite `{found}`, the config asks for `{wanted}`"
    )]
    WrongSuite {
        repo: String,
        wanted: String,
        found: String,
    },
    #[error("repository `{repo}`: its Release file expired (Valid-Until) {ago} ago")]
    Expired { repo: String, ago: String },
    #[error("repository `{repo}` has no `{component}/binary-{arch}/Packages` index")]
    NoIndex {
        repo: String,
        component: String,
        arch: String,
    },
    #[error("repository `{repo}`: cannot fetch `{path}`")]
    Index {
        repo: String,
        path: String,
        #[source]
        source: FetchError,
    },
    #[error(transparent)]
    Packages(#[from] PackagesError),
    #[error(transparent)]
    Cache(#[from] crate::repo::CacheError),
}

impl Explain for MetadataError {
    /// What the user can do about it, where that is known.
    fn hint(&self) -> Option<String> {
        match self {
            MetadataError::NoKeyring { candidates, .. } => Some(format!(
                "install the package that ships it ({}), or set `gpgcheck = false` on the repo to skip verification",
                keyring_package(candidates)
            )),
            MetadataError::Signature { .. } => Some(
                "the keyring in the config does not match the key that signed the repository; check `keyring` in `brt -r NAME config`".into(),
            ),
            MetadataError::Expired { .. } => Some(
                "the mirror is stale or the clock is wrong; fetch again without --offline or pick another mirror".into(),
            ),
            _ => None,
        }
    }
}

fn keyring_package(candidates: &str) -> &'static str {
    if candidates.contains("ubuntu") {
        "apt-get install ubuntu-keyring"
    } else {
        "apt-get install debian-archive-keyring"
    }
}

/// Fetches (or reuses from the cache) and verifies one repository's
/// metadata, and parses its packages for `arch` (and `all`).
pub fn load(
    fetcher: &Fetcher,
    cachedir: &Path,
    source: &AptSource,
    arch: &str,
) -> Result<AptIndex, MetadataError> {
    let url = source.url.trim_end_matches('/').to_string();
    let dir = cachedir
        .join("metadata-v1")
        .join(crate::repo::cache_id(&url, source.suite));
    fs_err::create_dir_all(&dir).map_err(cache_err(&dir))?;
    let dists = format!("{url}/dists/{}", source.suite);
    let repo = source.name.to_string();
    let keyring = keyring(source)?;
    let keys = keyring
        .as_ref()
        .map(|k| Keyring::load(std::slice::from_ref(k)))
        .transpose()
        .map_err(|e| MetadataError::Signature {
            repo: repo.clone(),
            path: "keyring".into(),
            source: e,
        })?;
    let (release, mut files) = verified_release(fetcher, &dir, &dists, source, keys.as_ref())?;

    let mut arches = vec![arch.to_string()];
    if !release.all_in_arch_packages {
        arches.push("all".to_string());
    }
    let mut packages = Vec::new();
    for component in source.components {
        for a in &arches {
            let base = format!("{component}/binary-{a}/Packages");
            let pick = ["xz", "gz"]
                .iter()
                .map(|ext| format!("{base}.{ext}"))
                .chain([base.clone()])
                .find_map(|p| release.file(&p).cloned());
            let Some(entry) = pick else {
                if a == "all" {
                    continue; // optional
                }
                return Err(MetadataError::NoIndex {
                    repo,
                    component: component.clone(),
                    arch: a.clone(),
                });
            };
            let local = fetch_index(fetcher, &dir, &dists, &repo, &release, &entry)?;
            let file = fs_err::File::open(&local).map_err(cache_err(&local))?;
            let origin = format!("{dists}/{}", entry.path);
            packages.extend(
                read_packages(
                    decompressor(&entry.path, std::io::BufReader::new(file)),
                    &origin,
                )?
                .into_iter()
                .filter(|p| p.architecture == *arch || p.architecture == "all"),
            );
            files.push((entry.path.clone(), local));
        }
    }
    Ok(AptIndex {
        url,
        suite: source.suite.to_string(),
        release,
        packages,
        files,
        keyring,
    })
}

/// An error about the metadata cache at `path`.
fn cache_err(path: &Path) -> impl FnOnce(std::io::Error) -> MetadataError + use<> {
    let at = crate::repo::CacheError::at(path);
    move |source| MetadataError::Cache(at(source))
}

/// The first keyring of the source's list that exists (`None` without
/// `gpgcheck`); none there is an error naming them.
fn keyring(source: &AptSource) -> Result<Option<PathBuf>, MetadataError> {
    if !source.gpgcheck {
        return Ok(None);
    }
    let found = source
        .keyring
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    match found {
        Some(p) => Ok(Some(p)),
        None => Err(MetadataError::NoKeyring {
            repo: source.name.to_string(),
            candidates: source
                .keyring
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The suite's `InRelease` (or `Release` + `Release.gpg`), verified with
/// `keys`, parsed, for the suite asked for and not expired; and the files
/// it came from. A Release file that is refused is not kept in the cache:
/// the next run asks again.
fn verified_release(
    fetcher: &Fetcher,
    dir: &Path,
    dists: &str,
    source: &AptSource,
    keys: Option<&Keyring>,
) -> Result<(Release, Vec<(String, PathBuf)>), MetadataError> {
    let checked = release_text(fetcher, dir, dists, source.name, keys, source.refresh)
        .and_then(|(text, files)| Ok((checked_release(&text, dists, source)?, files)));
    if checked.is_err() && !fetcher.offline() {
        for f in ["InRelease", "Release", "Release.gpg"] {
            let _ = fs_err::remove_file(dir.join(f));
        }
    }
    checked
}

/// The verified `text` of the suite's Release file, parsed: for the suite
/// the source asks for, and not expired.
fn checked_release(text: &str, dists: &str, source: &AptSource) -> Result<Release, MetadataError> {
    let repo = source.name.to_string();
    let release = Release::parse(text, &format!("{dists}/InRelease"))?;
    let found_suite = [&release.suite, &release.codename]
        .into_iter()
        .flatten()
        .any(|s| s == source.suite);
    if !found_suite && (release.suite.is_some() || release.codename.is_some()) {
        return Err(MetadataError::WrongSuite {
            repo,
            wanted: source.suite.to_string(),
            found: release
                .codename
                .clone()
                .or(release.suite.clone())
                .unwrap_or_default(),
        });
    }
    let now = unix_now();
    if release.expired_at(now) {
        let ago = now - release.valid_until.unwrap_or(now);
        return Err(MetadataError::Expired {
            repo,
            ago: format!("{} h", ago / 3600),
        });
    }
    Ok(release)
}

/// The index file `entry` of the release in the cache, downloaded (by
/// hash where the release offers it) unless the cached copy has its
/// SHA-256.
fn fetch_index(
    fetcher: &Fetcher,
    dir: &Path,
    dists: &str,
    repo: &str,
    release: &Release,
    entry: &IndexFile,
) -> Result<PathBuf, MetadataError> {
    let local = dir.join(&entry.path);
    let cached =
        local.is_file() && sha256_file(&local).is_ok_and(|h| h.eq_ignore_ascii_case(&entry.sha256));
    if cached {
        return Ok(local);
    }
    let remote = release
        .by_hash_path(&entry.path)
        .unwrap_or(entry.path.clone());
    let expected = Expected {
        size: Some(entry.size),
        sha256: entry.sha256.clone(),
    };
    let index_err = |source| MetadataError::Index {
        repo: repo.to_string(),
        path: format!("{dists}/{}", entry.path),
        source,
    };
    let get = |path: &str| {
        fetcher.download(
            &format!("{dists}/{path}"),
            &local,
            &expected,
            &crate::fetch::Silent,
        )
    };
    match get(&remote) {
        Ok(()) => {}
        // A mirror without by-hash for this file: the plain path.
        Err(FetchError::Status { status: 404, .. }) if remote != entry.path => {
            get(&entry.path).map_err(index_err)?
        }
        Err(e) => return Err(index_err(e)),
    }
    Ok(local)
}

/// The verified Release text, from the cache while fresh, else from the
/// server (`InRelease`, or `Release` + `Release.gpg`).
fn release_text(
    fetcher: &Fetcher,
    dir: &Path,
    dists: &str,
    repo: &str,
    keys: Option<&Keyring>,
    refresh: bool,
) -> Result<(String, Vec<(String, PathBuf)>), MetadataError> {
    let inrelease = dir.join("InRelease");
    let release = dir.join("Release");
    let gpg = dir.join("Release.gpg");
    let fresh = |p: &Path| {
        fs_err::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < FRESH_FOR)
    };
    let use_cache = fetcher.offline()
        || (!refresh && fresh(&inrelease))
        || (!refresh && fresh(&release) && (keys.is_none() || fresh(&gpg)));
    if !use_cache {
        fetch_release_files(fetcher, dir, dists, repo, keys.is_some())?;
    }
    let read = |p: &Path| {
        fs_err::read(p).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound if fetcher.offline() => MetadataError::Fetch {
                repo: repo.to_string(),
                source: FetchError::Offline {
                    url: format!("{dists}/InRelease"),
                },
            },
            _ => cache_err(p)(source),
        })
    };
    if inrelease.is_file() {
        let text = String::from_utf8_lossy(&read(&inrelease)?).into_owned();
        let signed = verified_inrelease(&text, dists, repo, keys)?;
        return Ok((signed, vec![("InRelease".into(), inrelease)]));
    }
    let bytes = read(&release)?;
    let mut files = vec![("Release".into(), release.clone())];
    if let Some(keys) = keys {
        let sig = read(&gpg)?;
        keys.verify_detached(&bytes, &sig, &format!("{dists}/Release"))
            .map_err(|source| MetadataError::Signature {
                repo: repo.to_string(),
                path: format!("{dists}/Release.gpg"),
                source,
            })?;
        files.push(("Release.gpg".into(), gpg));
    }
    Ok((String::from_utf8_lossy(&bytes).into_owned(), files))
}

/// Fetches the suite's `InRelease` into `dir`, or where the repository
/// has none, `Release` (and `Release.gpg` when `signed`); the other kind
/// is removed from the cache.
fn fetch_release_files(
    fetcher: &Fetcher,
    dir: &Path,
    dists: &str,
    repo: &str,
    signed: bool,
) -> Result<(), MetadataError> {
    let (inrelease, release) = (dir.join("InRelease"), dir.join("Release"));
    let write = |path: &Path, bytes: &[u8]| write_atomic(path, bytes).map_err(cache_err(path));
    let fetch_err = |source| MetadataError::Fetch {
        repo: repo.to_string(),
        source,
    };
    match fetcher.get(&format!("{dists}/InRelease")) {
        Ok(bytes) => {
            write(&inrelease, &bytes)?;
            let _ = fs_err::remove_file(&release);
        }
        Err(FetchError::Status { status: 404, .. }) => {
            let bytes = fetcher
                .get(&format!("{dists}/Release"))
                .map_err(fetch_err)?;
            write(&release, &bytes)?;
            if signed {
                let sig = fetcher
                    .get(&format!("{dists}/Release.gpg"))
                    .map_err(fetch_err)?;
                write(&dir.join("Release.gpg"), &sig)?;
            }
            let _ = fs_err::remove_file(&inrelease);
        }
        Err(e) => return Err(fetch_err(e)),
    }
    Ok(())
}

/// The text `InRelease` signs, verified with `keys` (or, without
/// `gpgcheck`, as written). Exactly what was signed is parsed: the strict
/// splitter also refuses any text outside the signed part.
fn verified_inrelease(
    text: &str,
    dists: &str,
    repo: &str,
    keys: Option<&Keyring>,
) -> Result<String, MetadataError> {
    let origin = format!("{dists}/InRelease");
    let Some(keys) = keys else {
        return Ok(super::split_clearsigned(text, &origin)?.text);
    };
    let sig_err = |source| MetadataError::Signature {
        repo: repo.to_string(),
        path: origin.clone(),
        source,
    };
    let verified = keys.verify_cleartext(text, &origin).map_err(sig_err)?;
    let split = super::split_clearsigned(text, &origin)?;
    if canonical(&split.text) != canonical(&verified) {
        return Err(sig_err(VerifyError::BadSignature {
            origin: origin.clone(),
            keyrings: "(signed text differs from the file's text)".into(),
        }));
    }
    Ok(verified)
}

/// Line ends and trailing blanks as OpenPGP's text canonicalisation leaves them.
fn canonical(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// apt's name for a list file: `deb.debian.org_debian_dists_bookworm_InRelease`.
pub fn apt_list_name(url: &str, suite: &str, path: &str) -> String {
    let bare = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{bare}/dists/{suite}/{path}").replace('/', "_")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            crate::repo::cache_id("http://deb.debian.org/debian/", "bookworm"),
            "deb.debian.org_debian_bookworm"
        );
        assert_eq!(
            apt_list_name(
                "http://deb.debian.org/debian",
                "bookworm",
                "main/binary-arm64/Packages"
            ),
            "deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages"
        );
        assert_eq!(
            crate::repo::cache_id("http://127.0.0.1:8080/repos/good", "stable"),
            "127.0.0.1_8080_repos_good_stable"
        );
    }
}
