//! Fetching an rpm-md repository's metadata into the cache, verified.
//!
//! - Where from: the config's `metalink` (mirrormanager: the mirrors by
//!   preference and the hashes `repomd.xml` must have), `mirrorlist` (one
//!   base URL per line) or `baseurl` list, tried in order.
//! - `repomd.xml` is checked against the metalink's SHA-256/512 when there
//!   is one; every file it lists (`primary`, comps, `filelists`) is checked
//!   against the SHA-256 repomd gives.
//! - Cache: `CACHEDIR/metadata-v1/rpm-ID/` holds `repomd.xml`, `mirrors`
//!   (the base URLs found, for package downloads and `--offline`), and the
//!   data files under their own names. A `repomd.xml` younger than
//!   [`FRESH_FOR`] is used without asking a server; a data file whose hash
//!   matches is never fetched again. Files no longer listed are removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::comps::{Group, read_comps};
use super::metalink::{Metalink, parse_mirrorlist};
use super::primary::{read_filelists, read_primary};
use super::repomd::{DataFile, Repomd};
use super::{RpmPackage, XmlError};
use crate::error::Explain;
use crate::fetch::{Expected, FetchError, Fetcher, Silent, sha256_file, write_atomic};

/// How long a fetched `repomd.xml` is used without checking the server.
pub const FRESH_FOR: Duration = Duration::from_secs(60 * 60);

/// One repository as the config describes it.
#[derive(Debug, Clone)]
pub struct RpmSource<'a> {
    pub name: &'a str,
    pub baseurl: &'a [String],
    pub metalink: Option<&'a str>,
    pub mirrorlist: Option<&'a str>,
    /// Ask the server even when the cached `repomd.xml` is fresh (`update`).
    pub refresh: bool,
}

/// The verified metadata of one repository.
#[derive(Debug)]
pub struct RpmIndex {
    pub name: String,
    /// The repository's position in the config.
    pub repo: usize,
    /// Base URLs (ending in `/`), the one `repomd.xml` came from first.
    pub mirrors: Vec<String>,
    pub repomd: Repomd,
    pub packages: Vec<RpmPackage>,
    pub groups: Vec<Group>,
    /// The cache directory of this repository.
    pub dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("repository `{repo}` has no `baseurl`, `metalink` or `mirrorlist`")]
    NoSource { repo: String },
    #[error("repository `{repo}`: cannot fetch its {what} `{url}`")]
    Fetch {
        repo: String,
        what: &'static str,
        url: String,
        #[source]
        source: Box<FetchError>,
    },
    #[error("repository `{repo}`: no mirror has a usable `repomd.xml`:\n{tried}")]
    NoMirror { repo: String, tried: String },
    #[error(
        "repository `{repo}`: `repomd.xml` is not in the cache and --offline forbids fetching it"
    )]
    Offline { repo: String },
    #[error(
        "repository `{repo}`: `{what}` is listed with a `{kind}` checksum; brt verifies SHA-256 only"
    )]
    Checksum {
        repo: String,
        what: String,
        kind: String,
    },
    #[error("repository `{repo}` has no `primary` metadata")]
    NoPrimary { repo: String },
    #[error("repository `{repo}`: cannot fetch `{path}` (from {mirrors} mirror(s))")]
    Data {
        repo: String,
        path: String,
        mirrors: usize,
        #[source]
        source: Box<FetchError>,
    },
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error(transparent)]
    Cache(#[from] crate::repo::CacheError),
}

impl Explain for MetadataError {
    fn hint(&self) -> Option<String> {
        match self {
            MetadataError::Offline { .. } => {
                Some("run once without `--offline` to fill the cache".into())
            }
            MetadataError::NoMirror { .. } => Some(
                "check the repo's URLs with `brt -r NAME config`; a metalink's hash mismatch means every mirror is stale or the metalink is wrong".into(),
            ),
            _ => None,
        }
    }
}

/// Fetches (or reuses from the cache) and verifies one repository's
/// metadata; keeps the packages whose arch `keep` accepts. `index` is the
/// repository's position in the config, recorded in each package.
pub fn load(
    fetcher: &Fetcher,
    cachedir: &Path,
    source: &RpmSource,
    index: usize,
    keep: &dyn Fn(&str) -> bool,
) -> Result<RpmIndex, MetadataError> {
    let repo = source.name.to_string();
    let id = source
        .metalink
        .or(source.mirrorlist)
        .or(source.baseurl.first().map(String::as_str))
        .ok_or_else(|| MetadataError::NoSource { repo: repo.clone() })?;
    let dir = cachedir
        .join("metadata-v1")
        .join(format!("rpm-{}", crate::repo::cache_id(id, "")));
    fs_err::create_dir_all(&dir).map_err(cache_err(&dir))?;
    let (repomd_bytes, mirrors) = repomd(fetcher, source, &dir)?;
    let origin = format!(
        "{}repodata/repomd.xml",
        mirrors.first().map_or("", String::as_str)
    );
    let repomd = Repomd::parse(repomd_bytes.as_slice(), &origin)?;

    let mut loaded = RpmIndex {
        name: repo.clone(),
        repo: index,
        mirrors,
        repomd,
        packages: Vec::new(),
        groups: Vec::new(),
        dir,
    };
    let primary = loaded
        .repomd
        .get("primary")
        .cloned()
        .ok_or(MetadataError::NoPrimary { repo: repo.clone() })?;
    let path = loaded.data_file(fetcher, &primary)?;
    loaded.packages = read_primary(
        open(&path, &primary.href)?,
        &format!("{}{}", loaded.mirrors[0], primary.href),
        index,
        keep,
    )?;
    let group = ["group_zst", "group_xz", "group_gz", "group"]
        .iter()
        .find_map(|k| loaded.repomd.get(k))
        .cloned();
    let mut keep_files = vec![
        "repomd.xml".to_string(),
        "mirrors".into(),
        file_name(&primary.href),
    ];
    if let Some(group) = group {
        let path = loaded.data_file(fetcher, &group)?;
        // `group` (plain) is named `…-comps.xml` and read as is.
        loaded.groups = read_comps(
            open(&path, &group.href)?,
            &format!("{}{}", loaded.mirrors[0], group.href),
        )?;
        keep_files.push(file_name(&group.href));
    }
    if let Some(f) = loaded.repomd.get("filelists") {
        keep_files.push(file_name(&f.href));
    }
    remove_unlisted(&loaded.dir, &keep_files);
    Ok(loaded)
}

/// An error about the metadata cache at `path`.
fn cache_err(path: &Path) -> impl FnOnce(std::io::Error) -> MetadataError + use<> {
    let at = crate::repo::CacheError::at(path);
    move |source| MetadataError::Cache(at(source))
}

/// `repomd.xml` and the mirrors it came from: from the cache in `dir` when
/// it is fresh (or offline), else fetched and cached.
fn repomd(
    fetcher: &Fetcher,
    source: &RpmSource,
    dir: &Path,
) -> Result<(Vec<u8>, Vec<String>), MetadataError> {
    let repomd_path = dir.join("repomd.xml");
    let mirrors_path = dir.join("mirrors");
    let fresh = fs_err::metadata(&repomd_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < FRESH_FOR)
        && mirrors_path.is_file();
    if fetcher.offline() || (fresh && !source.refresh) {
        let bytes = match fs_err::read(&repomd_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MetadataError::Offline {
                    repo: source.name.to_string(),
                });
            }
            Err(e) => return Err(cache_err(&repomd_path)(e)),
        };
        let mirrors = fs_err::read_to_string(&mirrors_path)
            .map_err(cache_err(&mirrors_path))?
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>();
        return Ok((bytes, mirrors));
    }
    let (bytes, mirrors) = fetch_repomd(fetcher, source)?;
    write_atomic(&repomd_path, &bytes).map_err(cache_err(&repomd_path))?;
    write_atomic(&mirrors_path, mirrors.join("\n").as_bytes()).map_err(cache_err(&mirrors_path))?;
    Ok((bytes, mirrors))
}

/// Removes old metadata the repository no longer lists from `dir`.
fn remove_unlisted(dir: &Path, keep: &[String]) {
    if let Ok(entries) = fs_err::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && !name.starts_with('.') {
                let _ = fs_err::remove_file(entry.path());
            }
        }
    }
}

impl RpmIndex {
    /// Adds every file of this repository's `filelists.xml` to the packages
    /// of `packages` it lists, matched by checksum (for file dependencies
    /// `primary` does not cover).
    pub fn load_filelists(
        &self,
        fetcher: &Fetcher,
        packages: &mut [RpmPackage],
    ) -> Result<(), MetadataError> {
        let Some(f) = self.repomd.get("filelists").cloned() else {
            return Ok(());
        };
        let path = self.data_file(fetcher, &f)?;
        read_filelists(
            open(&path, &f.href)?,
            &format!("{}{}", self.mirrors[0], f.href),
            packages,
        )?;
        Ok(())
    }

    /// The cached copy of `data`, fetched from the mirrors in order unless
    /// its hash already matches.
    fn data_file(&self, fetcher: &Fetcher, data: &DataFile) -> Result<PathBuf, MetadataError> {
        if data.checksum.0 != "sha256" {
            return Err(MetadataError::Checksum {
                repo: self.name.clone(),
                what: data.href.clone(),
                kind: data.checksum.0.clone(),
            });
        }
        let local = self.dir.join(file_name(&data.href));
        if local.is_file() && sha256_file(&local).is_ok_and(|h| h == data.checksum.1) {
            return Ok(local);
        }
        let expected = Expected {
            size: data.size,
            sha256: data.checksum.1.clone(),
        };
        let mut last = None;
        for base in &self.mirrors {
            match fetcher.download(&format!("{base}{}", data.href), &local, &expected, &Silent) {
                Ok(()) => return Ok(local),
                Err(e @ (FetchError::Offline { .. } | FetchError::Interrupted)) => {
                    last = Some(e);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        Err(MetadataError::Data {
            repo: self.name.clone(),
            path: data.href.clone(),
            mirrors: self.mirrors.len(),
            source: Box::new(last.unwrap_or(FetchError::Offline {
                url: data.href.clone(),
            })),
        })
    }
}

/// `repomd.xml` from the first source that has a good one, and the base
/// URLs to use, that one first.
fn fetch_repomd(
    fetcher: &Fetcher,
    source: &RpmSource,
) -> Result<(Vec<u8>, Vec<String>), MetadataError> {
    let repo = source.name.to_string();
    let fetch_err = |what: &'static str, url: &str| {
        let (repo, url) = (repo.clone(), url.to_string());
        move |source| MetadataError::Fetch {
            repo,
            what,
            url,
            source: Box::new(source),
        }
    };
    let mut metalink = None;
    let candidates: Vec<String> = if let Some(url) = source.metalink {
        let bytes = fetcher.get(url).map_err(fetch_err("metalink", url))?;
        let m = Metalink::parse(bytes.as_slice(), url)?;
        let bases = m
            .urls
            .iter()
            .filter_map(|(u, _)| u.strip_suffix("repodata/repomd.xml").map(str::to_string))
            .collect();
        metalink = Some(m);
        bases
    } else if let Some(url) = source.mirrorlist {
        let bytes = fetcher.get(url).map_err(fetch_err("mirrorlist", url))?;
        parse_mirrorlist(&String::from_utf8_lossy(&bytes))
    } else {
        source.baseurl.to_vec()
    };
    let bases: Vec<String> = candidates
        .into_iter()
        .map(|b| if b.ends_with('/') { b } else { format!("{b}/") })
        .collect();
    let mut tried = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let url = format!("{base}repodata/repomd.xml");
        match fetcher.get(&url) {
            Ok(bytes) => {
                if let Some(m) = &metalink
                    && !m.verifies(&bytes)
                {
                    tried.push(format!("  {url}: its hash is not one the metalink lists"));
                    continue;
                }
                let mut mirrors = vec![base.clone()];
                // With a metalink, only mirrors it lists; the verified one first.
                mirrors.extend(
                    bases
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, b)| b.clone()),
                );
                return Ok((bytes, mirrors));
            }
            Err(e @ FetchError::Interrupted) => {
                return Err(fetch_err("repomd.xml", &url)(e));
            }
            Err(e) => tried.push(format!("  {url}: {}", crate::fetch::describe(&e))),
        }
    }
    if tried.is_empty() {
        tried.push("  (no http, https or file URLs)".into());
    }
    Err(MetadataError::NoMirror {
        repo,
        tried: tried.join("\n"),
    })
}

fn open(
    path: &Path,
    href: &str,
) -> Result<std::io::BufReader<Box<dyn std::io::Read>>, MetadataError> {
    let file = fs_err::File::open(path).map_err(|source| {
        MetadataError::Cache(crate::repo::CacheError {
            path: path.to_path_buf(),
            source,
        })
    })?;
    Ok(std::io::BufReader::with_capacity(
        1 << 16,
        crate::repo::decompressor(href, std::io::BufReader::new(file)),
    ))
}

fn file_name(href: &str) -> String {
    href.rsplit('/').next().unwrap_or(href).to_string()
}
