//! Repository metadata: fetched index files parsed into package models.
//!
//! Pure parsing lives here; downloading and caching are `fetch`'s job.

pub mod apt;
pub mod openpgp;
pub mod rpmmd;

use std::io::Read;

/// A reader that decompresses a metadata file according to its name's
/// suffix (`.xz`, `.gz`, `.zst`, `.bz2`; anything else is read as is).
pub fn decompressor<'a>(file_name: &str, reader: impl Read + 'a) -> Box<dyn Read + 'a> {
    if file_name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader))
    } else if file_name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if file_name.ends_with(".zst") {
        match zstd::stream::read::Decoder::new(reader) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        }
    } else if file_name.ends_with(".bz2") {
        Box::new(bzip2::read::MultiBzDecoder::new(reader))
    } else {
        Box::new(reader)
    }
}

/// A reader whose first read reports an error found while setting it up.
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::ErrorKind::Other.into()))
    }
}

/// The metadata cache's folder for a repository: readable and unique per
/// URL and suite (`deb.debian.org_debian_bookworm`; RPM repositories have
/// no suite).
pub fn cache_id(url: &str, suite: &str) -> String {
    let bare = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    let mut id: String = format!("{bare}/{suite}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.truncate(200);
    id
}

/// The metadata cache (a folder below `CACHEDIR/metadata-v1`) cannot be
/// used, for either family's metadata.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the metadata cache `{}`", path.display())]
pub struct CacheError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl CacheError {
    /// An error about `path`, for `map_err`.
    pub fn at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CacheError + use<> {
        let path = path.to_path_buf();
        move |source| CacheError { path, source }
    }
}
