//! Writing a tree as a tar stream.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;
use tar::{EntryType, Header};

use super::{ArchiveError, PAX_XATTR, SELINUX_XATTR};

/// Longest name that fits a tar header's own name and link fields.
const NAME_FIELD: usize = 100;

/// Writes trees into a tar stream: GNU headers (numeric fields of any size),
/// numeric owners only, PAX records for xattrs and long names.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    /// First member written for each multiply-linked inode, by (dev, ino).
    links: HashMap<(u64, u64), Vec<u8>>,
    one_file_system: bool,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
            one_file_system: false,
        }
    }

    /// Do not descend into directories on another filesystem than the tree's
    /// top (the mount point itself is still archived, empty), as
    /// `tar --one-file-system`.
    pub fn one_file_system(mut self, yes: bool) -> TarWriter<W> {
        self.one_file_system = yes;
        self
    }

    /// Archive `path` as member `name` (empty: the archive's own root, `./`)
    /// and, when it is a directory, everything below it. With `follow`,
    /// `path` itself is resolved if it is a symlink, as `cp -H` does for its
    /// arguments; symlinks below it are always archived as symlinks.
    pub fn append_tree(
        &mut self,
        path: &Path,
        name: &Path,
        follow: bool,
    ) -> Result<(), ArchiveError> {
        let resolved;
        let path = if follow {
            resolved = fs_err::canonicalize(path).map_err(|source| walk_err(path, source))?;
            &resolved
        } else {
            path
        };
        let md = fs_err::symlink_metadata(path).map_err(|source| walk_err(path, source))?;
        self.append_one(path, name, &md)?;
        if md.is_dir() {
            self.append_children(path, name, md.dev())?;
        }
        Ok(())
    }

    /// End the archive and hand back the stream.
    pub fn finish(self) -> Result<W, ArchiveError> {
        self.builder
            .into_inner()
            .map_err(|source| ArchiveError::Write {
                member: "(end of archive)".to_string(),
                source,
            })
    }

    fn append_children(&mut self, dir: &Path, name: &Path, dev: u64) -> Result<(), ArchiveError> {
        let mut children = fs_err::read_dir(dir)
            .and_then(|rd| {
                rd.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<OsString>>>()
            })
            .map_err(|source| walk_err(dir, source))?;
        // Sorted, so the same tree always gives the same archive.
        children.sort();
        for child in children {
            let path = dir.join(&child);
            let member = name.join(&child);
            let md = fs_err::symlink_metadata(&path).map_err(|source| walk_err(&path, source))?;
            self.append_one(&path, &member, &md)?;
            if md.is_dir() && !(self.one_file_system && md.dev() != dev) {
                self.append_children(&path, &member, dev)?;
            }
        }
        Ok(())
    }

    fn append_one(&mut self, path: &Path, name: &Path, md: &Metadata) -> Result<(), ArchiveError> {
        let ft = md.file_type();
        let mut name = name.as_os_str().as_bytes().to_vec();
        if name.is_empty() {
            name = b"./".to_vec();
        } else if ft.is_dir() {
            name.push(b'/');
        }
        let mut header = Header::new_gnu();
        header.set_mode(md.mode() & 0o7777);
        header.set_uid(md.uid().into());
        header.set_gid(md.gid().into());
        header.set_mtime(md.mtime().max(0) as u64);
        header.set_size(0);

        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                header.set_entry_type(EntryType::Link);
                return self.emit(header, &name, Some(&first), Vec::new(), io::empty());
            }
            self.links.insert(key, name.clone());
        }
        let xattrs = read_xattrs(path).map_err(|source| walk_err(path, source))?;
        if ft.is_file() {
            header.set_entry_type(EntryType::Regular);
            let file = File::from(
                fs_err::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(|source| walk_err(path, source))?,
            );
            let size = md.len();
            header.set_size(size);
            let data = Exact {
                inner: file.take(size),
                left: size,
                path,
            };
            self.emit(header, &name, None, xattrs, data)
        } else if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            self.emit(header, &name, None, xattrs, io::empty())
        } else if ft.is_symlink() {
            header.set_entry_type(EntryType::Symlink);
            let target = fs_err::read_link(path).map_err(|source| walk_err(path, source))?;
            let target = target.as_os_str().as_bytes();
            self.emit(header, &name, Some(target), xattrs, io::empty())
        } else if ft.is_char_device() || ft.is_block_device() {
            header.set_entry_type(if ft.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            });
            let rdev = md.rdev();
            let field = |n: u64| u32::try_from(n).map_err(io::Error::other);
            let set = |h: &mut Header| -> io::Result<()> {
                h.set_device_major(field(nix::sys::stat::major(rdev))?)?;
                h.set_device_minor(field(nix::sys::stat::minor(rdev))?)
            };
            set(&mut header).map_err(|source| walk_err(path, source))?;
            self.emit(header, &name, None, xattrs, io::empty())
        } else if ft.is_fifo() {
            header.set_entry_type(EntryType::Fifo);
            self.emit(header, &name, None, xattrs, io::empty())
        } else {
            // A socket: it belongs to a running program, and GNU tar skips it too.
            Ok(())
        }
    }

    /// Write one member: a PAX header first when it has xattrs or a name or
    /// link target too long for the header, then the header and the data.
    fn emit(
        &mut self,
        mut header: Header,
        name: &[u8],
        link: Option<&[u8]>,
        xattrs: Vec<(String, Vec<u8>)>,
        data: impl Read,
    ) -> Result<(), ArchiveError> {
        let member = String::from_utf8_lossy(name).into_owned();
        let err = |source| ArchiveError::Write {
            member: member.clone(),
            source,
        };
        let mut pax: Vec<(String, Vec<u8>)> = xattrs
            .into_iter()
            .map(|(k, v)| (format!("{PAX_XATTR}{k}"), v))
            .collect();
        if name.len() > NAME_FIELD {
            pax.push(("path".to_string(), name.to_vec()));
        }
        if let Some(link) = link.filter(|l| l.len() > NAME_FIELD) {
            pax.push(("linkpath".to_string(), link.to_vec()));
        }
        set_field(&mut header.as_old_mut().name, name);
        if let Some(link) = link {
            set_field(&mut header.as_old_mut().linkname, link);
        }
        header.set_cksum();
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(err)?;
        }
        self.builder.append(&header, data).map_err(err)
    }
}

/// Fill a fixed-size header field; a longer value is cut (its full text is
/// in a PAX record, which readers prefer).
fn set_field(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// The extended attributes of `path` (not following a symlink), sorted, minus
/// the SELinux label. A filesystem without xattrs has none.
fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        let Some(key) = name.to_str() else { continue };
        if key == SELINUX_XATTR {
            continue;
        }
        if let Some(value) = xattr::get(path, &name)? {
            out.push((key.to_string(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// A file's data of exactly the size its header announced: a file that
/// shrank while being read is an error, not a corrupt archive.
struct Exact<'a> {
    inner: io::Take<File>,
    left: u64,
    path: &'a Path,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "`{}` shrank while it was being archived",
                    self.path.display()
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn walk_err(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Walk {
        path: PathBuf::from(path),
        source,
    }
}
