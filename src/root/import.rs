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
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fs_err::os::unix::fs::OpenOptionsExt;
use serde::Serialize;

use super::archive::{ArchiveError, Ownership, TarWriter, Unpacker, open_archive};
use super::confined::{self, Interruptible, StreamError};
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
    #[error("cannot prepare the staging dir `{path}`")]
    Staging {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot unpack `{from}` into root `{name}`")]
    Unpack {
        name: String,
        from: PathBuf,
        #[source]
        source: StreamError<ArchiveError>,
    },
    #[error("interrupted by a signal")]
    Interrupted,
    #[error("cannot put the new root `{name}` in place at `{path}`")]
    Install {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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

    remove_stale_staging(layout)?;
    let staging = Staging::create(layout)?;
    unpack(&staging.root(), input, &layout.name, arch).map_err(|source| ImportError::Unpack {
        name: layout.name.clone(),
        from: from.clone(),
        source,
    })?;
    if confined::interrupted() {
        // Caught between unpacking and installing: the staging dir goes.
        return Err(ImportError::Interrupted);
    }
    install(layout, &staging, &from)?;
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

/// `BASEDIR/.NAME.import-PID`: holds the new `root/` while it is unpacked
/// and, on replace, the old one while it is removed. Removed on drop.
struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn prefix(layout: &Layout) -> OsString {
        format!(".{}.import-", layout.name).into()
    }

    fn create(layout: &Layout) -> Result<Staging, ImportError> {
        let basedir = layout.dir.parent().unwrap_or(Path::new("/"));
        let mut name = Staging::prefix(layout);
        name.push(std::process::id().to_string());
        let dir = basedir.join(name);
        let err = |source| ImportError::Staging {
            path: dir.clone(),
            source,
        };
        fs_err::create_dir_all(basedir).map_err(err)?;
        // Nobody else looks into a half-made root.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(err)?;
        let staging = Staging { dir };
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(staging.root())
            .map_err(|source| ImportError::Staging {
                path: staging.root(),
                source,
            })?;
        Ok(staging)
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // remove_dir_all never follows symlinks, so a hostile tree in here
        // cannot make it delete anything outside.
        let _ = fs_err::remove_dir_all(&self.dir);
    }
}

/// Staging dirs of this root left by a killed import. Under the root's
/// exclusive lock no other import of it is running, so all are stale.
fn remove_stale_staging(layout: &Layout) -> Result<(), ImportError> {
    let Some(basedir) = layout.dir.parent() else {
        return Ok(());
    };
    let Ok(entries) = fs_err::read_dir(basedir) else {
        return Ok(());
    };
    let prefix = Staging::prefix(layout);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .as_encoded_bytes()
            .starts_with(prefix.as_encoded_bytes())
        {
            fs_err::remove_dir_all(entry.path()).map_err(|source| ImportError::Staging {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Move the staged root into place, then mark it ready. A replaced root is
/// first unmarked (no `state.json`: not ready), then moved into the staging
/// dir, which is removed with it.
fn install(layout: &Layout, staging: &Staging, from: &Path) -> Result<(), ImportError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Install {
            name: layout.name.clone(),
            path,
            source,
        }
    };
    // The new tree reaches the disk before anything points at it.
    let dir = File::from(fs_err::File::open(staging.root()).map_err(err(&staging.root()))?);
    nix::unistd::syncfs(dir.as_raw_fd()).map_err(|e| err(&staging.root())(e.into()))?;

    fs_err::create_dir_all(&layout.dir).map_err(err(&layout.dir))?;
    match fs_err::remove_file(layout.state_file()) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err(&layout.state_file())(e)),
        _ => {}
    }
    if layout.root().symlink_metadata().is_ok() {
        fs_err::rename(layout.root(), staging.dir.join("old-root")).map_err(err(&layout.root()))?;
    }
    fs_err::rename(staging.root(), layout.root()).map_err(err(&layout.root()))?;

    let state = ImportedState {
        status: State::Ready,
        imported_from: from,
        imported_at: rfc3339(SystemTime::now()),
    };
    let mut text = serde_json::to_string_pretty(&state).expect("state serializes");
    text.push('\n');
    write_atomic(&layout.state_file(), text.as_bytes(), 0o644).map_err(err(&layout.state_file()))
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

/// Write a small file atomically: temp file, fsync, rename, fsync the dir.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let result = (|| {
        let mut f = fs_err::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs_err::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&temp);
    }
    sync_parent(path);
    result
}

/// Best effort: make a rename in `path`'s directory durable.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = fs_err::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
}

/// `2024-05-01T12:34:56Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

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
