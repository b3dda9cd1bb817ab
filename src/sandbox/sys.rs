//! The syscalls the sandbox performs, behind a trait so the executor's order
//! can be tested without root, and the only `unsafe` in brt's sandbox.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};

/// What the executor needs from the kernel.
pub trait Sys {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    /// chdir(root); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/").
    fn pivot_root(&mut self, root: &Path) -> nix::Result<()>;
    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64, mode: u32) -> nix::Result<()>;
    fn symlink(&mut self, target: &Path, link: &Path) -> nix::Result<()>;
    /// Create `path` and its parents as directories, if missing.
    fn mkdir_all(&mut self, path: &Path) -> nix::Result<()>;
    /// Create an empty file at `path` (and its parent dirs), if missing.
    fn touch(&mut self, path: &Path) -> nix::Result<()>;
    /// Clone the mount at a host path into a
    /// detached mount tree (open_tree(2) with `OPEN_TREE_CLONE`), so it can
    /// be attached after the pivot has made the host unreachable. Returns the
    /// tree and whether it is a directory.
    fn clone_tree(&mut self, path: &Path) -> nix::Result<(OwnedFd, bool)>;
    /// Attach a detached tree at `target` (move_mount(2)).
    fn attach_tree(&mut self, tree: &OwnedFd, target: &Path) -> nix::Result<()>;
    /// A new detached mount of `fstype` (fsopen, fsconfig, fsmount) with
    /// `MOUNT_ATTR_*` flags: made while the host's mounts of that type
    /// are still visible, as the kernel requires of proc and sysfs in a
    /// user namespace.
    fn new_tree(&mut self, fstype: &str, attrs: u64) -> nix::Result<OwnedFd>;
    fn loopback_up(&mut self) -> nix::Result<()>;
}

/// `MOUNT_ATTR_*` of mount_setattr(2)/fsmount(2).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// The real kernel.
pub struct RealSys;

impl Sys for RealSys {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn pivot_root(&mut self, root: &Path) -> nix::Result<()> {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it leaves only the new root, with no directory needed
        // inside it for the old one (pivot_root(2), "NOTES").
        nix::unistd::chdir(root)?;
        nix::unistd::pivot_root(".", ".")?;
        nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?;
        nix::unistd::chdir("/")
    }

    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64, mode: u32) -> nix::Result<()> {
        let dev = nix::sys::stat::makedev(major, minor);
        nix::sys::stat::mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(mode), dev)?;
        // mknod honours the umask; the nodes must be world-usable.
        nix::sys::stat::fchmodat(
            None,
            path,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> nix::Result<()> {
        nix::unistd::symlinkat(target, None, link)
    }

    fn mkdir_all(&mut self, path: &Path) -> nix::Result<()> {
        fs_err::create_dir_all(path)
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }

    fn touch(&mut self, path: &Path) -> nix::Result<()> {
        if let Some(parent) = path.parent() {
            self.mkdir_all(parent)?;
        }
        match nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => nix::unistd::close(fd),
            Err(e) => Err(e),
        }
    }

    fn clone_tree(&mut self, path: &Path) -> nix::Result<(OwnedFd, bool)> {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| nix::Error::EINVAL)?;
        let dirfd = libc::AT_FDCWD;
        let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint;
        // SAFETY: open_tree reads the NUL-terminated path we own and returns
        // a new fd or -1; it writes no memory of ours.
        let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
        if fd < 0 {
            return Err(nix::Error::last());
        }
        // SAFETY: the kernel just returned this fd and nothing else owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as RawFd) };
        let is_dir = nix::sys::stat::fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        Ok((fd, is_dir))
    }

    fn attach_tree(&mut self, tree: &OwnedFd, target: &Path) -> nix::Result<()> {
        let target = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
            .map_err(|_| nix::Error::EINVAL)?;
        let empty = std::ffi::CString::default();
        // SAFETY: move_mount reads the two NUL-terminated strings we own.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if r < 0 {
            return Err(nix::Error::last());
        }
        Ok(())
    }

    fn new_tree(&mut self, fstype: &str, attrs: u64) -> nix::Result<OwnedFd> {
        const FSOPEN_CLOEXEC: libc::c_uint = 1;
        const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
        const FSMOUNT_CLOEXEC: libc::c_uint = 1;
        let name = std::ffi::CString::new(fstype).map_err(|_| nix::Error::EINVAL)?;
        // SAFETY: fsopen reads the NUL-terminated name we own; returns a
        // new fd or -1.
        let fs = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        if fs < 0 {
            return Err(nix::Error::last());
        }
        // SAFETY: the kernel just returned this fd and nothing else owns it.
        let fs = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fs as RawFd) };
        // SAFETY: CMD_CREATE takes no key or value (NULL, 0).
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        if r < 0 {
            return Err(nix::Error::last());
        }
        // SAFETY: fsmount takes the configured context fd and flags.
        let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
        if m < 0 {
            return Err(nix::Error::last());
        }
        // SAFETY: as above, a new fd of ours.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(m as RawFd) })
    }

    fn loopback_up(&mut self) -> nix::Result<()> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
        let sock = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        // SAFETY: ifreq is plain old data; zeroed is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
        unsafe {
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
                return Err(nix::Error::last());
            }
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
                return Err(nix::Error::last());
            }
        }
        Ok(())
    }
}

/// Make `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_tty(fd: RawFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// The window size of terminal `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> Option<libc::winsize> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills the one we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0).then_some(ws)
    }
}

pub fn set_window_size(fd: BorrowedFd<'_>, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads the winsize we pass.
    unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws);
    }
}

/// Create the sandbox's first process (pid 1 of new namespaces) running `f`.
///
/// Uses clone(2) rather than fork+unshare so that brt itself stays in the
/// host's namespaces and the child is pid 1 of the new pid namespace at once.
pub fn clone_pid1(
    flags: nix::sched::CloneFlags,
    f: &mut dyn FnMut() -> isize,
) -> nix::Result<nix::unistd::Pid> {
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: without CLONE_VM the child gets a copy-on-write copy of our
    // memory, like fork; brt is single-threaded here (downloads and other
    // threads are finished before any sandbox starts), so no lock can be
    // held by a thread that does not exist in the child. The stack outlives
    // the call in the parent, and the child has its own copy.
    unsafe { nix::sched::clone(Box::new(f), &mut stack, flags, Some(libc::SIGCHLD)) }
}

/// fork(2) for pid 1 starting the command.
pub fn fork() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: pid 1 is single-threaded (it was just cloned from a
    // single-threaded brt), so the child may allocate and run normal code.
    unsafe { nix::unistd::fork() }
}

/// Exit now, without running destructors or flushing std's buffers that
/// belong to the parent's copy of memory.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// Install `handler` for `sig` without SA_RESTART, so blocking calls in
/// the parent (poll) return EINTR and the loop can act on it. Returns the
/// action it replaced, for [`restore`].
pub fn set_handler(
    sig: nix::sys::signal::Signal,
    handler: extern "C" fn(libc::c_int),
) -> Option<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handlers brt installs only touch atomics and call kill(2),
    // both async-signal-safe.
    unsafe { sigaction(sig, &action) }.ok()
}

/// Ignore `sig`; returns the action it replaced, for [`restore`].
pub fn ignore(sig: nix::sys::signal::Signal) -> Option<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let action = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN is not a function; nothing can run unsafely.
    unsafe { sigaction(sig, &action) }.ok()
}

/// Put back an action that [`set_handler`] or [`ignore`] replaced (brt's
/// own interrupt handler, say), so it holds again after the sandbox.
pub fn restore(sig: nix::sys::signal::Signal, old: &nix::sys::signal::SigAction) {
    // SAFETY: `old` was installed before, by brt or by default.
    let _ = unsafe { nix::sys::signal::sigaction(sig, old) };
}

/// Set `sig` to ignored or default.
pub fn set_disposition(sig: nix::sys::signal::Signal, ignore: bool) {
    use nix::sys::signal::{SigHandler, signal};
    let h = if ignore {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    // SAFETY: SIG_IGN/SIG_DFL are not functions; nothing can run unsafely.
    let _ = unsafe { signal(sig, h) };
}

/// Installs a seccomp filter on the calling process (inherited by its
/// children and kept across exec). Needs CAP_SYS_ADMIN in the process's
/// user namespace (brt is root there), so no `no_new_privs` is set and
/// setuid programs in the root keep working.
pub fn install_seccomp(prog: &[libc::sock_filter]) -> nix::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel
    // copies the program.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog as libc::c_ulong,
            0,
            0,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}
