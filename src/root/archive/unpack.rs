//! Unpacking a tar stream into a directory.
//!
//! Member names that are absolute or contain `..` are refused, as are hard
//! link targets that are. What is already at a member's path is replaced, not
//! written through: a symlink in the way is removed, never followed. Inside a
//! confined process ([`Unpacker::in_root`]) a directory of the path may still
//! be a symlink, which the chroot keeps inside the root; on the host
//! ([`Unpacker::on_host`]) a member whose path passes through a symlink below
//! the destination is refused.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt;
use nix::fcntl::AtFlags;
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, futimens, mknod, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};
use tar::EntryType;

use super::{ArchiveError, BadName, PAX_XATTR, SELINUX_XATTR, display_name, member_path};

/// Whose files the unpacked ones are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The numeric owner, group and xattrs recorded in the archive.
    Preserve,
    /// Whoever unpacks (root, for brt), like `cp` without `-p`: setuid and
    /// setgid bits are dropped from files, and xattrs are not restored.
    Unpacker,
}

/// Unpacks tar streams into one directory.
#[derive(Debug, Clone)]
pub struct Unpacker {
    dest: PathBuf,
    rename_top: Option<OsString>,
    ownership: Ownership,
    /// Refuse paths through symlinks below `dest` (host side).
    no_symlinks: bool,
}

/// Metadata of one member, applied after its content.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: TimeSpec,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Unpacker {
    /// Unpack into `dest` from inside a process confined to the root, where
    /// symlinks cannot lead outside it.
    pub fn in_root(dest: impl Into<PathBuf>, ownership: Ownership) -> Unpacker {
        Unpacker {
            dest: dest.into(),
            rename_top: None,
            ownership,
            no_symlinks: false,
        }
    }

    /// Unpack into `dest` on the host: no member may pass through a symlink
    /// below `dest`, whether it was there before or came from the archive.
    pub fn on_host(dest: impl Into<PathBuf>, ownership: Ownership) -> Unpacker {
        Unpacker {
            no_symlinks: true,
            ..Unpacker::in_root(dest, ownership)
        }
    }

    /// Replace the first component of every member name (and hard link
    /// target) with `name`: how `cp SRC DEST` names a copy `DEST`.
    pub fn rename_top(mut self, name: impl Into<OsString>) -> Unpacker {
        self.rename_top = Some(name.into());
        self
    }

    /// Unpack every member of `input`, then read it to its end (so a writer
    /// on the other side of a pipe never sees it closed early).
    pub fn unpack(&self, input: impl Read) -> Result<(), ArchiveError> {
        self.unpack_observed(input, &mut |_, _| Ok(None))
    }

    /// [`Unpacker::unpack`], showing each member's checked path (relative
    /// to the destination) and type to `observe` first. A non-directory
    /// member is written to the path `observe` returns instead, if any (dpkg
    /// writes conffiles as `NAME.dpkg-new`); an error from `observe` stops
    /// the unpacking before the member is written.
    pub fn unpack_observed(
        &self,
        input: impl Read,
        observe: &mut dyn FnMut(&Path, EntryType) -> io::Result<Option<PathBuf>>,
    ) -> Result<(), ArchiveError> {
        let mut archive = tar::Archive::new(input);
        let read_err = |source| ArchiveError::Read { source };
        let mut dirs = Vec::new();
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let member = display_name(&raw);
            let rel = self.checked(&raw, |bad| match bad {
                BadName::Absolute => ArchiveError::Absolute {
                    member: member.clone(),
                },
                BadName::ParentDir => ArchiveError::ParentDir {
                    member: member.clone(),
                },
            })?;
            // Old tars mark directories only by a trailing slash.
            let is_dir =
                kind == EntryType::Directory || (kind == EntryType::Regular && raw.ends_with(b"/"));
            let observed = observe(&rel, if is_dir { EntryType::Directory } else { kind });
            let rel = match observed {
                Ok(Some(other)) if !is_dir => other,
                Ok(_) => rel,
                Err(source) => {
                    return Err(ArchiveError::Unpack {
                        member: member.clone(),
                        path: self.dest.join(&rel),
                        source,
                    });
                }
            };
            let path = self.dest.join(&rel);
            if self.no_symlinks {
                self.refuse_symlinks(&rel, &member)?;
            }
            let err = |source| ArchiveError::Unpack {
                member: member.clone(),
                path: path.clone(),
                source,
            };
            let meta = self.meta(&mut entry).map_err(err)?;
            if is_dir {
                if self.make_dir(&path).map_err(err)? {
                    dirs.push((path.clone(), member.clone(), meta));
                }
                continue;
            }
            if rel.as_os_str().is_empty() {
                return Err(err(io::Error::other(
                    "only a directory can stand for the destination itself",
                )));
            }
            match kind {
                EntryType::Regular | EntryType::Continuous => {
                    self.write_file(&path, &mut entry, &meta)
                }
                EntryType::Link => {
                    let target = link_target(&entry, &member)?;
                    let target_rel = self.checked(&target, |_| ArchiveError::LinkOutside {
                        member: member.clone(),
                        target: display_name(&target),
                    })?;
                    self.hard_link(&self.dest.join(target_rel), &path)
                }
                EntryType::Symlink => {
                    let target = link_target(&entry, &member)?;
                    self.symlink(OsStr::from_bytes(&target), &path, &meta)
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    self.special(&path, kind, &entry, &meta)
                }
                other => {
                    return Err(ArchiveError::Unsupported {
                        member,
                        kind: char::from(other.as_byte()),
                    });
                }
            }
            .map_err(err)?;
        }
        // Directories last, deepest first: creating their content would
        // change their mtime, and a read-only mode would stop it.
        for (path, member, meta) in dirs.iter().rev() {
            self.apply_path(path, meta, true)
                .map_err(|source| ArchiveError::Unpack {
                    member: member.clone(),
                    path: path.clone(),
                    source,
                })?;
        }
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
        Ok(())
    }

    /// A member name (or hard link target) as a path relative to `dest`.
    fn checked(
        &self,
        raw: &[u8],
        bad: impl Fn(BadName) -> ArchiveError,
    ) -> Result<PathBuf, ArchiveError> {
        let rel = member_path(raw).map_err(bad)?;
        Ok(match &self.rename_top {
            Some(top) => {
                let mut parts = rel.components();
                if parts.next().is_none() {
                    return Ok(rel);
                }
                let mut path = PathBuf::from(top);
                // `join("")` would add a trailing slash: a file is not a dir.
                if !parts.as_path().as_os_str().is_empty() {
                    path.push(parts.as_path());
                }
                path
            }
            None => rel,
        })
    }

    /// Refuse a member whose parent directories below `dest` include a symlink.
    fn refuse_symlinks(&self, rel: &Path, member: &str) -> Result<(), ArchiveError> {
        let mut path = self.dest.clone();
        let parents = rel.parent().map(|p| p.components().count()).unwrap_or(0);
        for c in rel.components().take(parents) {
            path.push(c);
            match fs_err::symlink_metadata(&path) {
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(ArchiveError::ThroughSymlink {
                        member: member.to_string(),
                        path,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
        let h = entry.header();
        let mut meta = Meta {
            mode: h.mode()? & 0o7777,
            uid: id(h.uid()?)?,
            gid: id(h.gid()?)?,
            mtime: TimeSpec::new(i64::try_from(h.mtime()?).unwrap_or(i64::MAX), 0),
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions()? {
            for record in pax {
                let record = record?;
                let key = record.key_bytes();
                let value = record.value_bytes();
                let text = || String::from_utf8_lossy(value).into_owned();
                match key {
                    b"uid" => meta.uid = id(parse_u64(&text())?)?,
                    b"gid" => meta.gid = id(parse_u64(&text())?)?,
                    b"mtime" => meta.mtime = parse_time(&text())?,
                    _ => {
                        if let Some(name) = key.strip_prefix(PAX_XATTR.as_bytes())
                            && name != SELINUX_XATTR.as_bytes()
                        {
                            meta.xattrs
                                .push((OsStr::from_bytes(name).to_owned(), value.to_vec()));
                        }
                    }
                }
            }
        }
        if self.ownership == Ownership::Unpacker {
            meta.xattrs.clear();
        }
        Ok(meta)
    }

    /// Make sure a directory is at `path`. False when it is a symlink to a
    /// directory that is kept (inside a root: `/bin -> usr/bin`), whose
    /// metadata is then left alone.
    pub(crate) fn make_dir(&self, path: &Path) -> io::Result<bool> {
        match fs_err::symlink_metadata(path) {
            Ok(md) if md.is_dir() => return Ok(true),
            Ok(md) if md.file_type().is_symlink() && !self.no_symlinks && path.is_dir() => {
                return Ok(false);
            }
            Ok(_) => remove(path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.make_parent(path)?,
            Err(e) => return Err(e),
        }
        // Private until its own mode is applied at the end.
        std::fs::DirBuilder::new().mode(0o700).create(path)?;
        Ok(true)
    }

    fn make_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => fs_err::create_dir_all(parent),
            _ => Ok(()),
        }
    }

    /// Clear the way for a new non-directory at `path`.
    fn clear(&self, path: &Path) -> io::Result<()> {
        match fs_err::symlink_metadata(path) {
            Ok(_) => remove(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.make_parent(path),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn write_file<R: Read>(
        &self,
        path: &Path,
        data: &mut R,
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear(path)?;
        let mut file = File::from(
            fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)?,
        );
        io::copy(data, &mut file)?;
        let fd = file.as_raw_fd();
        // Order matters: chown clears setuid/setgid and file capabilities,
        // so the mode comes after it and the xattrs after both.
        if self.ownership == Ownership::Preserve {
            fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )?;
        }
        fchmod(fd, Mode::from_bits_truncate(self.file_mode(meta.mode)))?;
        for (name, value) in &meta.xattrs {
            xattr::FileExt::set_xattr(&file, name, value).map_err(|e| xattr_err(name, e))?;
        }
        futimens(fd, &meta.mtime, &meta.mtime)?;
        Ok(())
    }

    pub(crate) fn hard_link(&self, target: &Path, path: &Path) -> io::Result<()> {
        self.clear(path)?;
        // linkat without AT_SYMLINK_FOLLOW: a link to a symlink stays one.
        fs_err::hard_link(target, path)
    }

    /// The member's owner, when preserved, set on `path` itself (never
    /// through a symlink).
    fn chown_by_path(&self, path: &Path, meta: &Meta) -> io::Result<()> {
        if self.ownership == Ownership::Preserve {
            fchownat(
                None,
                path,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        Ok(())
    }

    pub(crate) fn symlink(&self, target: &OsStr, path: &Path, meta: &Meta) -> io::Result<()> {
        self.clear(path)?;
        fs_err::os::unix::fs::symlink(target, path)?;
        self.chown_by_path(path, meta)?;
        for (name, value) in &meta.xattrs {
            // Linux refuses user.* xattrs on symlinks; nothing can have set one.
            if let Err(e) = xattr::set(path, name, value)
                && e.raw_os_error() != Some(libc::EPERM)
            {
                return Err(xattr_err(name, e));
            }
        }
        utimensat(
            None,
            path,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )?;
        Ok(())
    }

    fn special<R: Read>(
        &self,
        path: &Path,
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
    ) -> io::Result<()> {
        let (flag, dev) = match kind {
            EntryType::Fifo => (SFlag::S_IFIFO, 0),
            _ => {
                let h = entry.header();
                let major = h.device_major()?.unwrap_or(0);
                let minor = h.device_minor()?.unwrap_or(0);
                let flag = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (flag, nix::sys::stat::makedev(major.into(), minor.into()))
            }
        };
        self.node(path, flag, dev, meta)
    }

    /// A device node or fifo (`flag`) at `path`.
    pub(crate) fn node(
        &self,
        path: &Path,
        flag: SFlag,
        dev: libc::dev_t,
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear(path)?;
        mknod(path, flag, Mode::from_bits_truncate(0o600), dev)?;
        self.apply_path(path, meta, false)
    }

    /// Owner, mode, xattrs and mtime of a directory, device node or fifo, by
    /// path (opening a device or fifo could block or have side effects).
    pub(crate) fn apply_path(&self, path: &Path, meta: &Meta, is_dir: bool) -> io::Result<()> {
        // A directory's metadata comes at the end, and a later member may
        // have replaced it (an empty one) by something else: leave that be,
        // chmod would follow a symlink.
        if is_dir && !fs_err::symlink_metadata(path)?.is_dir() {
            return Ok(());
        }
        self.chown_by_path(path, meta)?;
        let mode = if is_dir {
            meta.mode
        } else {
            self.file_mode(meta.mode)
        };
        // The path was made by this unpacker and is not a symlink.
        fchmodat(
            None,
            path,
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        )?;
        for (name, value) in &meta.xattrs {
            xattr::set(path, name, value).map_err(|e| xattr_err(name, e))?;
        }
        utimensat(
            None,
            path,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )?;
        Ok(())
    }

    /// A non-directory's mode: without the owner preserved, setuid and setgid
    /// would grant root's rights to whatever the file is, so they go.
    fn file_mode(&self, mode: u32) -> u32 {
        match self.ownership {
            Ownership::Preserve => mode,
            Ownership::Unpacker => mode & !(libc::S_ISUID | libc::S_ISGID),
        }
    }
}

/// Remove what is at `path` to make way for a member: a non-directory, or an
/// empty directory (a non-empty one is an error, as with GNU tar).
fn remove(path: &Path) -> io::Result<()> {
    match fs_err::symlink_metadata(path)? {
        md if md.is_dir() => fs_err::remove_dir(path),
        _ => fs_err::remove_file(path),
    }
}

fn xattr_err(name: &OsStr, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot set xattr `{}`: {e}", name.to_string_lossy()),
    )
}

fn id(n: u64) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other(format!("owner or group id {n} is too large")))
}

fn parse_u64(s: &str) -> io::Result<u64> {
    s.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("bad number `{s}` in a PAX record")))
}

/// A PAX time: decimal seconds, maybe negative, maybe with a fraction.
fn parse_time(s: &str) -> io::Result<TimeSpec> {
    let bad = || io::Error::other(format!("bad time `{s}` in a PAX record"));
    let (secs, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().map_err(|_| bad())?;
    // `-1.5` is 1.5 s before the epoch: -2 s plus 0.5 s.
    if s.trim().starts_with('-') && nanos > 0 {
        return Ok(TimeSpec::new(secs - 1, 1_000_000_000 - nanos));
    }
    Ok(TimeSpec::new(secs, nanos))
}

/// The target of a hard link or symlink member.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, member: &str) -> Result<Vec<u8>, ArchiveError> {
    entry
        .link_name_bytes()
        .map(|t| t.into_owned())
        .ok_or_else(|| ArchiveError::NoLinkTarget {
            member: member.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_their_fraction() {
        assert_eq!(
            parse_time("1700000000").unwrap(),
            TimeSpec::new(1700000000, 0)
        );
        assert_eq!(
            parse_time("1700000000.5").unwrap(),
            TimeSpec::new(1700000000, 500_000_000)
        );
        assert_eq!(
            parse_time("1.0123456789").unwrap(),
            TimeSpec::new(1, 12_345_678)
        );
        assert_eq!(parse_time("-1.5").unwrap(), TimeSpec::new(-2, 500_000_000));
        assert!(parse_time("12x").is_err());
        assert!(parse_time("1.2e3").is_err());
    }

    #[test]
    fn renaming_the_top_keeps_the_rest() {
        let u = Unpacker::in_root("/dest", Ownership::Preserve).rename_top("new");
        let bad = |_| ArchiveError::NoLinkTarget {
            member: String::new(),
        };
        assert_eq!(
            u.checked(b"old/a/b", bad).unwrap(),
            PathBuf::from("new/a/b")
        );
        assert_eq!(u.checked(b"old", bad).unwrap().as_os_str(), "new");
        assert_eq!(u.checked(b"./old/", bad).unwrap(), PathBuf::from("new"));
        assert!(u.checked(b"../old", bad).is_err());
    }

    #[test]
    fn without_the_owner_setuid_and_setgid_go() {
        let u = Unpacker::in_root("/", Ownership::Unpacker);
        assert_eq!(u.file_mode(0o6755), 0o755);
        assert_eq!(u.file_mode(0o1777), 0o1777);
        let u = Unpacker::in_root("/", Ownership::Preserve);
        assert_eq!(u.file_mode(0o4755), 0o4755);
    }
}
