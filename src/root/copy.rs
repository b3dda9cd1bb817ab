//! `copyin` and `copyout`: files between the host and a root, like `cp -R`.
//!
//! If DEST is an existing directory, each SRC is copied into it under its
//! own name; otherwise there must be exactly one SRC, copied to DEST. A SRC
//! that is a symlink is copied as what it points to (`cp -H`); symlinks below
//! it are copied as symlinks. Paths inside the root are resolved by a process
//! confined to it, so a symlink in the root, absolute or with `..`, resolves
//! inside the root and never leads to the host.
//!
//! copyin: brt tars the host SRCs into a pipe, the confined process unpacks
//! them at DEST. copyout: the confined process tars the SRCs, brt unpacks
//! them on the host, refusing to write through symlinks below DEST.

use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Layout;
use super::archive::{ArchiveError, Ownership, TarWriter, Unpacker};
use super::confined::{self, StreamError};

const STREAM_BUF: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot copy `{path}`")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` has no name to copy it under")]
    NoName { path: PathBuf },
    #[error("copying several files needs DEST to be an existing directory, and `{path}` is not")]
    NotADir { path: PathBuf },
    #[error("`{path}` does not exist")]
    NoDest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy into root `{name}`")]
    In {
        name: String,
        #[source]
        source: StreamError<ArchiveError>,
    },
    #[error("cannot copy out of root `{name}`")]
    Out {
        name: String,
        #[source]
        source: StreamError<ArchiveError>,
    },
}

/// Errors about paths inside the root, found by the confined process.
#[derive(Debug, thiserror::Error)]
enum InRoot {
    #[error("`{path}` does not exist in root `{name}`")]
    Missing {
        path: PathBuf,
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` in root `{name}` has no name to copy it under")]
    NoName { path: PathBuf, name: String },
    #[error(
        "copying several files needs DEST to be an existing directory, \
         and `{path}` in root `{name}` is not"
    )]
    NotADir { path: PathBuf, name: String },
}

/// Copy host `srcs` into the root at `dest`. Without [`Ownership::Preserve`]
/// the copies belong to root inside.
pub fn copy_in(
    layout: &Layout,
    srcs: &[PathBuf],
    dest: &Path,
    ownership: Ownership,
) -> Result<(), CopyError> {
    let mut named = Vec::new();
    for src in srcs {
        fs_err::metadata(src).map_err(|source| CopyError::Source {
            path: src.clone(),
            source,
        })?;
        let name = copy_name(src).ok_or_else(|| CopyError::NoName { path: src.clone() })?;
        named.push((src.clone(), name));
    }
    let (name, dest, count) = (layout.name.clone(), dest.to_path_buf(), srcs.len());
    let stream_err = |source| CopyError::In {
        name: layout.name.clone(),
        source,
    };
    let (child, pipe) = confined::spawn_reader(&layout.root(), move |pipe| {
        let unpacker = match target(&dest, count) {
            Target::Into(dir) => Unpacker::in_root(dir, ownership),
            Target::As(parent, file) => Unpacker::in_root(parent, ownership).rename_top(file),
            Target::Missing(path, source) => {
                return Err(InRoot::Missing { path, name, source }.into());
            }
            Target::NoName(path) => return Err(InRoot::NoName { path, name }.into()),
            Target::NotADir(path) => return Err(InRoot::NotADir { path, name }.into()),
        };
        unpacker.unpack(BufReader::with_capacity(STREAM_BUF, pipe))?;
        Ok(())
    })
    .map_err(|e| stream_err(StreamError::Child(e)))?;
    let mut out = BufWriter::with_capacity(STREAM_BUF, pipe);
    let host = (|| {
        let mut w = TarWriter::new(&mut out);
        for (src, name) in &named {
            w.append_tree(src, Path::new(name), true)?;
        }
        w.finish()?;
        out.flush().map_err(|source| ArchiveError::Write {
            member: "(end of archive)".to_string(),
            source,
        })
    })();
    drop(out);
    confined::settle(child, host, false).map_err(stream_err)
}

/// Copy `srcs` from the root to host `dest`. Without [`Ownership::Preserve`]
/// the copies belong to whoever runs brt.
pub fn copy_out(
    layout: &Layout,
    srcs: &[PathBuf],
    dest: &Path,
    ownership: Ownership,
) -> Result<(), CopyError> {
    let unpacker = match target(dest, srcs.len()) {
        Target::Into(dir) => Unpacker::on_host(dir, ownership),
        Target::As(parent, file) => Unpacker::on_host(parent, ownership).rename_top(file),
        Target::Missing(path, source) => return Err(CopyError::NoDest { path, source }),
        Target::NoName(path) => return Err(CopyError::NoName { path }),
        Target::NotADir(path) => return Err(CopyError::NotADir { path }),
    };
    let (name, srcs) = (layout.name.clone(), srcs.to_vec());
    let stream_err = |source| CopyError::Out {
        name: layout.name.clone(),
        source,
    };
    let (child, pipe) = confined::spawn_writer(&layout.root(), move |pipe| {
        let mut named = Vec::new();
        for src in &srcs {
            fs_err::metadata(src).map_err(|source| InRoot::Missing {
                path: src.clone(),
                name: name.clone(),
                source,
            })?;
            let file = copy_name(src).ok_or_else(|| InRoot::NoName {
                path: src.clone(),
                name: name.clone(),
            })?;
            named.push((src, file));
        }
        let mut out = BufWriter::with_capacity(STREAM_BUF, pipe);
        let mut w = TarWriter::new(&mut out);
        for (src, file) in named {
            w.append_tree(src, Path::new(&file), true)?;
        }
        w.finish()?;
        out.flush()?;
        Ok(())
    })
    .map_err(|e| stream_err(StreamError::Child(e)))?;
    let host = unpacker.unpack(BufReader::with_capacity(STREAM_BUF, pipe));
    confined::settle(child, host, true).map_err(stream_err)
}

/// Where copies go, decided as `cp` does.
#[derive(Debug)]
enum Target {
    /// DEST is a directory: each SRC goes in it under its own name.
    Into(PathBuf),
    /// The one SRC becomes DEST: this name in this directory.
    As(PathBuf, OsString),
    Missing(PathBuf, io::Error),
    NoName(PathBuf),
    NotADir(PathBuf),
}

fn target(dest: &Path, count: usize) -> Target {
    let trailing_slash = dest.as_os_str().as_bytes().ends_with(b"/");
    match fs_err::metadata(dest) {
        Ok(md) if md.is_dir() => return Target::Into(dest.to_path_buf()),
        Ok(_) if trailing_slash => return Target::NotADir(dest.to_path_buf()),
        Ok(_) if count > 1 => return Target::NotADir(dest.to_path_buf()),
        Err(e) if trailing_slash || count > 1 => return Target::Missing(dest.to_path_buf(), e),
        _ => {}
    }
    let Some(file) = dest.file_name() else {
        return Target::NoName(dest.to_path_buf());
    };
    let parent = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("/"),
    };
    match fs_err::metadata(parent) {
        Ok(md) if md.is_dir() => Target::As(parent.to_path_buf(), file.to_os_string()),
        Ok(_) => Target::NotADir(parent.to_path_buf()),
        Err(e) => Target::Missing(parent.to_path_buf(), e),
    }
}

/// The name a copy of `src` gets: its last component, or for `.`, `..` and
/// the like the name of the directory they stand for.
fn copy_name(src: &Path) -> Option<OsString> {
    match src.file_name() {
        Some(name) => Some(name.to_os_string()),
        None => fs_err::canonicalize(src)
            .ok()?
            .file_name()
            .map(|n| n.to_os_string()),
    }
}
