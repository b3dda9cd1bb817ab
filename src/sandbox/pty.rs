//! The interactive shell's terminal: a pty whose slave side is the
//! command's controlling terminal, relayed to brt's own terminal in raw
//! mode, so Ctrl-C, Ctrl-Z and window resizes reach the shell, not brt.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::termios::{self, SetArg, Termios};

use super::sys;

pub struct Pty {
    pub master: OwnedFd,
}

static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::Relaxed);
}

/// Restores the terminal's mode when dropped, whatever happens.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSAFLUSH, &self.saved);
    }
}

impl Pty {
    /// A pty sized like brt's terminal, and its slave side for pid 1 (the
    /// parent closes its copy once the sandbox runs).
    pub fn open() -> nix::Result<(Pty, OwnedFd)> {
        let stdin = std::io::stdin();
        let ws = sys::window_size(stdin.as_fd()).map(|w| nix::pty::Winsize {
            ws_row: w.ws_row,
            ws_col: w.ws_col,
            ws_xpixel: w.ws_xpixel,
            ws_ypixel: w.ws_ypixel,
        });
        let r = nix::pty::openpty(ws.as_ref(), None)?;
        for fd in [&r.master, &r.slave] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
        }
        Ok((Pty { master: r.master }, r.slave))
    }

    /// Copy bytes both ways until the command's side of the pty is closed.
    pub fn relay(&self) -> std::io::Result<()> {
        let stdin = std::io::stdin();
        let stdin_fd = stdin.as_fd();
        let _raw = termios::tcgetattr(stdin_fd).ok().map(|saved| {
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin_fd, SetArg::TCSANOW, &raw);
            RawMode {
                fd: stdin_fd,
                saved,
            }
        });
        sys::set_handler(Signal::SIGWINCH, on_winch);
        let mut stdin_open = true;
        let mut buf = [0u8; 16 * 1024];
        let result = loop {
            if RESIZED.swap(false, Ordering::Relaxed)
                && let Some(ws) = sys::window_size(stdin_fd)
            {
                sys::set_window_size(self.master.as_fd(), &ws);
            }
            let mut fds = vec![PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => break Err(e.into()),
            }
            let master_ready = fds[0].revents().unwrap_or(PollFlags::empty());
            let stdin_ready = fds
                .get(1)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty());
            if !master_ready.is_empty() {
                match nix::unistd::read(self.master.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(nix::Error::EIO) => break Ok(()),
                    Ok(n) => write_all(std::io::stdout().as_fd(), &buf[..n])?,
                    Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                    Err(e) => break Err(e.into()),
                }
            }
            if !stdin_ready.is_empty() {
                match nix::unistd::read(stdin_fd.as_raw_fd(), &mut buf) {
                    Ok(0) => stdin_open = false,
                    Ok(n) => write_all(self.master.as_fd(), &buf[..n])?,
                    Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                    Err(_) => stdin_open = false,
                }
            }
        };
        sys::set_disposition(Signal::SIGWINCH, false);
        result
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
