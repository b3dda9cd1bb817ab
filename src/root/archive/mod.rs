//! Tar archives of whole trees, with everything a root needs to work again
//! after a round trip: numeric ownership, modes with setuid/setgid/sticky,
//! mtimes, hard links, symlinks, device nodes, fifos and extended attributes
//! (PAX `SCHILY.xattr.*` records, as GNU tar and libarchive write them, so
//! `security.capability` on `ping` survives).
//!
//! [`TarWriter`] walks a tree and writes it; [`Unpacker`] reads a tar stream
//! and recreates it, refusing member names that are absolute or contain `..`
//! (never rewriting them). Neither knows about roots: callers run them inside
//! a process confined to the root (`super::confined`), which is what keeps
//! symlinks in a root from leading outside it.

mod unpack;
mod write;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

pub(crate) use unpack::Meta;
pub use unpack::{Ownership, Unpacker};
pub use write::TarWriter;

/// The xattr that names a file's SELinux label. It describes the host that
/// wrote it, is meaningless elsewhere and may be refused by the host that
/// reads it, so it is neither archived nor restored.
const SELINUX_XATTR: &str = "security.selinux";

/// The PAX record prefix for extended attributes (GNU tar, libarchive, star).
const PAX_XATTR: &str = "SCHILY.xattr.";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot archive `{path}`")]
    Walk {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the tar stream at `{member}`")]
    Write {
        member: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the tar stream")]
    Read {
        #[source]
        source: io::Error,
    },
    #[error("member `{member}` has an absolute name: refusing to unpack it")]
    Absolute { member: String },
    #[error("member `{member}` has `..` in its name: refusing to unpack it")]
    ParentDir { member: String },
    #[error(
        "hard link `{member}` points at `{target}`, which is absolute or has `..`: \
         refusing to unpack it"
    )]
    LinkOutside { member: String, target: String },
    #[error("member `{member}` has no link target")]
    NoLinkTarget { member: String },
    #[error("member `{member}` is of a type brt cannot unpack (`{kind}`)")]
    Unsupported { member: String, kind: char },
    #[error("cannot unpack member `{member}` to `{path}`")]
    Unpack {
        member: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("member `{member}` would be written through the symlink `{path}`: refusing")]
    ThroughSymlink { member: String, path: PathBuf },
    #[error("`{path}` is compressed with {format}, which brt does not read")]
    UnsupportedCompression { path: PathBuf, format: &'static str },
    #[error("`{path}` is neither a tar archive nor compressed with gzip, xz or zstd")]
    UnknownFormat { path: PathBuf },
    #[error("cannot read `{path}`")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// How a tar stream is compressed, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// Bytes read to tell the format: a whole tar header block.
const MAGIC_LEN: usize = 512;

impl Compression {
    /// The compression of a stream starting with `head`, `Ok(None)` when it
    /// is not a tar stream at all, or the name of a known but unsupported one.
    pub fn detect(head: &[u8]) -> Result<Option<Compression>, &'static str> {
        let starts = |magic: &[u8]| head.starts_with(magic);
        if starts(&[0x1f, 0x8b]) {
            Ok(Some(Compression::Gzip))
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Ok(Some(Compression::Xz))
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(Some(Compression::Zstd))
        } else if starts(b"BZh") {
            Err("bzip2")
        } else if starts(&[0x04, 0x22, 0x4d, 0x18]) {
            Err("lz4")
        } else if starts(&[0x5d, 0x00, 0x00]) {
            Err("lzma")
        } else if is_tar_header(head) {
            Ok(Some(Compression::None))
        } else {
            Ok(None)
        }
    }
}

/// A ustar/GNU magic, or an old-style header whose checksum is right.
fn is_tar_header(head: &[u8]) -> bool {
    if head.len() < MAGIC_LEN {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let field = String::from_utf8_lossy(&head[148..156]);
    let Ok(stored) = u32::from_str_radix(field.trim_matches(|c| c == ' ' || c == '\0'), 8) else {
        return false;
    };
    let sum: u32 = head
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == stored
}

/// Open a tar archive, plain or compressed, as a stream of tar bytes.
pub fn open_archive(path: &Path) -> Result<Box<dyn Read>, ArchiveError> {
    let open = |source| ArchiveError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::from(fs_err::File::open(path).map_err(open)?);
    let mut head = Vec::with_capacity(MAGIC_LEN);
    (&mut file)
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .map_err(open)?;
    let compression = match Compression::detect(&head) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(ArchiveError::UnknownFormat {
                path: path.to_path_buf(),
            });
        }
        Err(format) => {
            return Err(ArchiveError::UnsupportedCompression {
                path: path.to_path_buf(),
                format,
            });
        }
    };
    let stream = io::Cursor::new(head).chain(file);
    Ok(match compression {
        Compression::None => Box::new(stream),
        // Several concatenated members (pigz, `cat a.gz b.gz`) are one stream.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(stream)),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(stream).map_err(open)?;
            // Accept archives made with `zstd --long` (windows up to 2 GiB).
            decoder.window_log_max(31).map_err(open)?;
            Box::new(decoder)
        }
    })
}

/// A member name as it is shown in messages.
fn display_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Why a member name cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadName {
    Absolute,
    ParentDir,
}

/// The relative path a member name stands for (`./a/./b` is `a/b`; `./` is
/// empty, the directory unpacked into), or why it is refused. Never rewrites
/// an unsafe name into a safe one.
fn member_path(raw: &[u8]) -> Result<PathBuf, BadName> {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err(BadName::Absolute),
            Component::ParentDir => return Err(BadName::ParentDir),
            Component::CurDir => {}
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_checked_not_rewritten() {
        for (name, want) in [
            ("etc/passwd", Ok("etc/passwd")),
            ("./etc/./passwd", Ok("etc/passwd")),
            ("./", Ok("")),
            (".", Ok("")),
            ("usr/bin/", Ok("usr/bin")),
            ("/etc/passwd", Err(BadName::Absolute)),
            ("//etc", Err(BadName::Absolute)),
            ("../escape", Err(BadName::ParentDir)),
            ("a/../../escape", Err(BadName::ParentDir)),
            ("a/..", Err(BadName::ParentDir)),
            ("a/..b", Ok("a/..b")),
        ] {
            let got = member_path(name.as_bytes());
            assert_eq!(got, want.map(PathBuf::from), "{name}");
        }
    }

    #[test]
    fn compression_is_told_by_magic_bytes() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        for (head, want) in [
            (&[0x1f, 0x8b, 8, 0][..], Ok(Some(Compression::Gzip))),
            (
                &[0xfd, b'7', b'z', b'X', b'Z', 0, 0][..],
                Ok(Some(Compression::Xz)),
            ),
            (
                &[0x28, 0xb5, 0x2f, 0xfd, 0][..],
                Ok(Some(Compression::Zstd)),
            ),
            (b"BZh91AY", Err("bzip2")),
            (&tar[..], Ok(Some(Compression::None))),
            (b"hello world", Ok(None)),
        ] {
            assert_eq!(Compression::detect(head), want);
        }
    }

    #[test]
    fn an_old_tar_header_is_recognised_by_its_checksum() {
        let mut h = tar::Header::new_old();
        h.set_path("file").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(is_tar_header(h.as_bytes()));
        let mut bad = *h.as_bytes();
        bad[0] = b'x';
        assert!(!is_tar_header(&bad));
    }
}
