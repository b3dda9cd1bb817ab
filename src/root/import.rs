//! Whole roots in and out: [`import`] makes a ready root from a rootfs tarball
//! or directory, [`export`] writes a root as a multi-threaded zstd tarball
//! that imports back into the same tree.
//!
//! An import is built in a staging dir next to the roots
//! (`BASEDIR/.NAME.import-PID/root`), unpacked there by a process confined to
//! it, and only then moved into place and marked ready: a failed or
//! interrupted import never leaves a root marked ready. Callers hold the
//! root's lock (exclusive for import, shared for export).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fs_err::os::unix::fs::OpenOptionsExt;
use serde::Serialize;

use super::archive::{ArchiveError, Ownership, TarWriter, Unpacker, open_archive};
use super::confined::{self, Interruptible, StreamError};
use super::staging::{Staging, StagingError, rfc3339, sync_parent};
use super::{Layout, RootState, State};
use crate::arch::{ARCHES, Arch};

/// Buffer for tar streams through pipes.
const STREAM_BUF: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "root `{name}` already exists ({state}): add `--replace` to replace it (its result dir is kept)"
    )]
    Exists { name: String, state: RootState },
    #[error("cannot import `{path}`")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot import `{path}`")]
    Archive {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error("cannot import `{path}`: it contains brt's own roots, in `{basedir}`")]
    ContainsBasedir { path: PathBuf, basedir: PathBuf },
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error("cannot unpack `{from}` into root `{name}`")]
    Unpack {
        name: String,
        from: PathBuf,
        #[source]
        source: StreamError<ArchiveError>,
    },
    #[error("interrupted by a signal")]
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write `{path}`")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot export root `{name}`")]
    Stream {
        name: String,
        #[source]
        source: StreamError<ArchiveError>,
    },
}

/// The rootfs holds binaries for another architecture than the root's config.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{path}` in the rootfs is built for {found}, but root `{name}` is for {expected}: \
     import it under a config for {found}"
)]
pub struct WrongArch {
    pub path: String,
    pub name: String,
    pub found: String,
    pub expected: &'static Arch,
}

/// Binaries every rootfs has one of, to tell its architecture by.
const ARCH_WITNESSES: &[&str] = &["/bin/sh", "/usr/bin/sh", "/usr/bin/env", "/bin/busybox"];

/// Inside the new root: the first witness binary must be for `arch`. A tree
/// with none (or a script) is not checked.
fn check_arch(name: &str, arch: &'static Arch) -> Result<(), WrongArch> {
    for path in ARCH_WITNESSES {
        let mut head = Vec::with_capacity(64);
        let Ok(file) = fs_err::File::open(path) else {
            continue;
        };
        if file.take(64).read_to_end(&mut head).is_err() || !head.starts_with(b"\x7fELF") {
            continue;
        }
        if arch.matches_elf(&head) {
            return Ok(());
        }
        let found = ARCHES
            .iter()
            .find(|a| a.matches_elf(&head))
            .map_or_else(|| "another architecture".to_string(), |a| a.to_string());
        return Err(WrongArch {
            path: path.to_string(),
            name: name.to_string(),
            found,
            expected: arch,
        });
    }
    Ok(())
}

/// What `state.json` says after an import.
#[derive(Serialize)]
struct ImportedState<'a> {
    status: State,
    imported_from: &'a Path,
    imported_at: String,
}

/// Where an import reads from.
enum Input {
    Dir(PathBuf),
    Archive(Box<dyn Read>),
}

/// Make `layout` a ready root from `source`, a directory or a tar archive
/// (plain, gzip, xz or zstd), whose binaries must be for `arch`. An existing
/// root is refused unless `replace`, which swaps it for the new one (keeping
/// `result/`). The caller holds the root's exclusive lock. Returns the
/// absolute path imported from.
pub fn import(
    layout: &Layout,
    src: &Path,
    arch: &'static Arch,
    replace: bool,
) -> Result<PathBuf, ImportError> {
    let src_err = |source| ImportError::Source {
        path: src.to_path_buf(),
        source,
    };
    let from = fs_err::canonicalize(src).map_err(src_err)?;
    let input = if fs_err::metadata(&from).map_err(src_err)?.is_dir() {
        // Walking it would also walk the staging dir as it fills up.
        let basedir = layout
            .dir
            .parent()
            .and_then(|b| fs_err::canonicalize(b).ok());
        if let Some(basedir) = basedir.filter(|b| b.starts_with(&from)) {
            return Err(ImportError::ContainsBasedir {
                path: from,
                basedir,
            });
        }
        Input::Dir(from.clone())
    } else {
        // Opened (and its format told) before anything is made on disk.
        Input::Archive(open_archive(&from).map_err(|source| ImportError::Archive {
            path: from.clone(),
            source,
        })?)
    };
    let exists = layout.root().symlink_metadata().is_ok() || layout.state_file().exists();
    if exists && !replace {
        return Err(ImportError::Exists {
            name: layout.name.clone(),
            state: layout.state(),
        });
    }

    let staging = Staging::create(layout, "import")?;
    unpack(&staging.root(), input, &layout.name, arch).map_err(|source| ImportError::Unpack {
        name: layout.name.clone(),
        from: from.clone(),
        source,
    })?;
    if confined::interrupted() {
        // Caught between unpacking and installing: the staging dir goes.
        return Err(ImportError::Interrupted);
    }
    let state = ImportedState {
        status: State::Ready,
        imported_from: &from,
        imported_at: rfc3339(SystemTime::now()),
    };
    staging.install(layout, &state)?;
    Ok(from)
}

/// Stream `input` as tar into a process confined to `root`, which unpacks
/// it and checks that it is for `arch`.
fn unpack(
    root: &Path,
    input: Input,
    name: &str,
    arch: &'static Arch,
) -> Result<(), StreamError<ArchiveError>> {
    let (child, pipe) = confined::spawn_reader(root, |pipe| {
        Unpacker::in_root("/", Ownership::Preserve)
            .unpack(BufReader::with_capacity(STREAM_BUF, pipe))?;
        check_arch(name, arch)?;
        Ok(())
    })
    .map_err(StreamError::Child)?;
    let mut out = BufWriter::with_capacity(STREAM_BUF, Interruptible(pipe));
    let host = match input {
        Input::Dir(dir) => (|| {
            let mut w = TarWriter::new(&mut out).one_file_system(true);
            w.append_tree(&dir, Path::new(""), true)?;
            w.finish()?;
            Ok(())
        })(),
        Input::Archive(mut stream) => pass_on(&mut stream, &mut out),
    }
    .and_then(|()| out.flush().map_err(write_err));
    drop(out);
    confined::settle(child, host, false)
}

/// Copy a decompressed archive into the pipe, telling read errors (a corrupt
/// archive) from write errors (the unpacking side stopped).
fn pass_on(from: &mut dyn Read, to: &mut impl Write) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; STREAM_BUF];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted && !confined::interrupted() => {
                continue;
            }
            Err(source) => return Err(ArchiveError::Read { source }),
        };
        to.write_all(&buf[..n]).map_err(write_err)?;
    }
}

fn write_err(source: io::Error) -> ArchiveError {
    ArchiveError::Write {
        member: "(stream)".to_string(),
        source,
    }
}

/// Write the root as a tar stream compressed with zstd at `level` on all
/// cores, to `file` atomically. The tar is made by a process confined to the
/// root (so its symlinks resolve inside it) and compressed by brt. Returns
/// the size written.
pub fn export(layout: &Layout, file: &Path, level: i32) -> Result<u64, ExportError> {
    let out_err = |source| ExportError::Output {
        path: file.to_path_buf(),
        source,
    };
    let temp = TempFile::create(file).map_err(out_err)?;
    let (child, pipe) = confined::spawn_writer(&layout.root(), |pipe| {
        let mut out = BufWriter::with_capacity(STREAM_BUF, pipe);
        let mut w = TarWriter::new(&mut out).one_file_system(true);
        w.append_tree(Path::new("/"), Path::new(""), false)?;
        w.finish()?;
        out.flush()?;
        Ok(())
    })
    .map_err(|source| ExportError::Stream {
        name: layout.name.clone(),
        source: StreamError::Child(source),
    })?;
    // Threads start now, after the fork.
    let host = temp
        .file()
        .and_then(|out| compress(pipe, out, level))
        .map_err(|source| ArchiveError::Write {
            member: format!("(zstd stream to `{}`)", file.display()),
            source,
        });
    confined::settle(child, host, true).map_err(|source| ExportError::Stream {
        name: layout.name.clone(),
        source,
    })?;
    temp.persist().map_err(out_err)
}

/// zstd with one worker per core; the pipe's read end is dropped when done.
fn compress(pipe: File, out: File, level: i32) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let mut encoder =
        zstd::stream::write::Encoder::new(BufWriter::with_capacity(STREAM_BUF, out), level)?;
    encoder.multithread(workers)?;
    encoder.include_checksum(true)?;
    io::copy(
        &mut BufReader::with_capacity(STREAM_BUF, Interruptible(pipe)),
        &mut encoder,
    )?;
    let out = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()
}

/// A new file next to its final path, renamed over it by [`TempFile::persist`]
/// and removed on drop otherwise.
struct TempFile {
    temp: PathBuf,
    path: PathBuf,
    done: bool,
}

impl TempFile {
    fn create(path: &Path) -> io::Result<TempFile> {
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the output needs a file name")
        })?;
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".brt-{}", std::process::id()));
        let temp = path.with_file_name(temp_name);
        // 0666 less the umask, as any new file.
        fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&temp)?;
        Ok(TempFile {
            temp,
            path: path.to_path_buf(),
            done: false,
        })
    }

    fn file(&self) -> io::Result<File> {
        Ok(File::from(
            fs_err::OpenOptions::new().write(true).open(&self.temp)?,
        ))
    }

    fn persist(mut self) -> io::Result<u64> {
        let size = fs_err::metadata(&self.temp)?.len();
        fs_err::rename(&self.temp, &self.path)?;
        self.done = true;
        sync_parent(&self.path);
        Ok(size)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs_err::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_file_is_removed_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar.zst");
        let t = TempFile::create(&path).unwrap();
        fs_err::write(&t.temp, b"x").unwrap();
        drop(t);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
        let t = TempFile::create(&path).unwrap();
        fs_err::write(&t.temp, b"xyz").unwrap();
        assert_eq!(t.persist().unwrap(), 3);
        assert_eq!(fs_err::read(&path).unwrap(), b"xyz");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }
}
