//! Run code in a child process that has chrooted into a root.
//!
//! Every host-side write into a root goes through here (STYLE.md "Files inside
//! a root"): after `chroot(root)` and `chdir("/")`, an absolute symlink or a
//! `..` found in the root resolves inside the root, so nothing a root contains
//! can lead a read or a write outside it. Data crosses between the host and
//! the child through a pipe ([`spawn_reader`], [`spawn_writer`]); a failure in
//! the child comes back as text, one cause per record, and is rebuilt into an
//! error chain in the parent ([`RemoteError`]).
//!
//! The parent must be single-threaded when it forks: the child of a
//! multi-threaded process may only call async-signal-safe functions, and the
//! closure allocates. Start threads (compression) only after the fork, in
//! whichever process needs them.

use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, chdir, chroot, fork, getpid, getppid, pipe2};

/// What the confined closure returns; the error's chain is sent to the parent.
pub type ChildResult = Result<(), Box<dyn Error>>;

/// Separates the causes of a child's error on the report pipe.
const SEP: char = '\0';

/// Longest report a child writes: it must fit the pipe's buffer, because the
/// parent only reads it after the child has exited.
const MAX_REPORT: usize = 16 * 1024;

/// Pipe buffer asked for data pipes (the default 64 KiB costs many more
/// context switches when streaming a root).
const PIPE_SIZE: i32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error(
        "cannot fork a process confined to `{root}`: brt is running {threads} threads \
         (a bug in brt: it must fork before starting threads)"
    )]
    Threaded { root: PathBuf, threads: usize },
    #[error("cannot create a pipe to a process confined to `{root}`")]
    Pipe {
        root: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot start a process confined to `{root}`")]
    Fork {
        root: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot wait for the process confined to `{root}`")]
    Wait {
        root: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("the process confined to `{root}` was killed by {signal}")]
    Killed { root: PathBuf, signal: Signal },
    /// The closure failed (or the child could not enter the root): its error.
    #[error(transparent)]
    Failed(RemoteError),
    /// The closure failed writing to or reading from a pipe whose other end,
    /// in brt, was closed: brt's side failed first, and its error says why.
    #[error("the process confined to `{root}` lost its pipe to brt")]
    BrokenPipe { root: PathBuf },
}

/// Exit status of a child whose error was a broken pipe.
const EXIT_BROKEN_PIPE: i32 = 3;

/// A stream between brt and a confined child failed: the side that explains it.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E: Error + 'static> {
    #[error(transparent)]
    Child(ConfinedError),
    #[error(transparent)]
    Host(E),
}

/// Wait for `child` once brt's side of a stream with it ended in `host`, and
/// pick the error that explains a failure: when one side fails the other
/// sees a broken pipe or a cut stream, which says nothing. A broken pipe is
/// never the cause when the other side has an error; otherwise the producer's
/// error is (the consumer only saw its stream end early).
pub fn settle<E: Error + 'static>(
    child: Child,
    host: Result<(), E>,
    child_produces: bool,
) -> Result<(), StreamError<E>> {
    match (child.wait(), host) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(c), Ok(())) => Err(StreamError::Child(c)),
        (Ok(()), Err(h)) => Err(StreamError::Host(h)),
        (Err(c), Err(h)) => {
            let child_broken = matches!(c, ConfinedError::BrokenPipe { .. });
            if child_broken || (!is_broken_pipe(&h) && !child_produces) {
                Err(StreamError::Host(h))
            } else {
                Err(StreamError::Child(c))
            }
        }
    }
}

/// Whether an error was caused by writing to a pipe with no reader.
fn is_broken_pipe(err: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(c) = cause {
        if c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An error reported by a confined child: its message and its causes.
#[derive(Debug)]
pub struct RemoteError {
    message: String,
    source: Option<Box<RemoteError>>,
}

impl RemoteError {
    /// Rebuild a chain from the report text (`SEP`-separated messages).
    fn parse(text: &str) -> Option<RemoteError> {
        text.split(SEP)
            .filter(|m| !m.is_empty())
            .rev()
            .fold(None, |source, message| {
                Some(RemoteError {
                    message: message.to_string(),
                    source: source.map(Box::new),
                })
            })
    }

    /// The report text for an error and its causes.
    fn format(err: &dyn Error) -> String {
        let mut text = String::new();
        let mut cause = Some(err);
        while let Some(c) = cause {
            text.push_str(&c.to_string().replace(SEP, " "));
            text.push(SEP);
            cause = c.source();
        }
        if text.len() > MAX_REPORT {
            let mut end = MAX_REPORT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for RemoteError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// A running confined child. Dropping it without [`Child::wait`] kills it.
#[derive(Debug)]
pub struct Child {
    pid: Option<Pid>,
    report: File,
    root: PathBuf,
}

impl Child {
    /// Wait for the child; its error, if it reported one.
    pub fn wait(mut self) -> Result<(), ConfinedError> {
        let pid = self.pid.take().expect("a child is waited for once");
        let status = loop {
            match waitpid(pid, None) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        let status = status.map_err(|source| ConfinedError::Wait {
            root: self.root.clone(),
            source,
        })?;
        let mut report = Vec::new();
        // The child has exited: its end of the pipe is closed, so this ends.
        let _ = self.report.read_to_end(&mut report);
        let report = String::from_utf8_lossy(&report);
        match status {
            WaitStatus::Exited(_, 0) => Ok(()),
            WaitStatus::Exited(_, EXIT_BROKEN_PIPE) => Err(ConfinedError::BrokenPipe {
                root: self.root.clone(),
            }),
            WaitStatus::Exited(_, code) => Err(ConfinedError::Failed(
                RemoteError::parse(&report).unwrap_or_else(|| RemoteError {
                    message: format!(
                        "the process confined to `{}` exited with status {code}",
                        self.root.display()
                    ),
                    source: None,
                }),
            )),
            WaitStatus::Signaled(_, signal, _) => Err(ConfinedError::Killed {
                root: self.root.clone(),
                signal,
            }),
            other => unreachable!("waitpid without WUNTRACED returned {other:?}"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            while let Err(Errno::EINTR) = waitpid(pid, None) {}
        }
    }
}

/// Run `f` confined to `root` and wait for it.
pub fn run<F>(root: &Path, f: F) -> Result<(), ConfinedError>
where
    F: FnOnce() -> ChildResult,
{
    spawn(root, None, f)?.wait()
}

/// Start `f` confined to `root`, reading from a pipe; the parent gets the
/// pipe's write end. Close it (drop) before [`Child::wait`], so `f` sees the
/// end of its input.
pub fn spawn_reader<F>(root: &Path, f: F) -> Result<(Child, File), ConfinedError>
where
    F: FnOnce(File) -> ChildResult,
{
    let (read, write) = data_pipe(root)?;
    let child = spawn(root, Some(&write), move || f(File::from(read)))?;
    Ok((child, File::from(write)))
}

/// Start `f` confined to `root`, writing into a pipe; the parent gets the
/// pipe's read end, which ends when `f` returns.
pub fn spawn_writer<F>(root: &Path, f: F) -> Result<(Child, File), ConfinedError>
where
    F: FnOnce(File) -> ChildResult,
{
    let (read, write) = data_pipe(root)?;
    let child = spawn(root, Some(&read), move || f(File::from(write)))?;
    Ok((child, File::from(read)))
}

fn data_pipe(root: &Path) -> Result<(OwnedFd, OwnedFd), ConfinedError> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(|source| ConfinedError::Pipe {
        root: root.to_path_buf(),
        source,
    })?;
    // Best effort: a smaller pipe only costs speed.
    let _ = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    Ok((read, write))
}

/// Fork; the child closes `parents_end`, enters `root` and runs `f`.
fn spawn<F>(root: &Path, parents_end: Option<&OwnedFd>, f: F) -> Result<Child, ConfinedError>
where
    F: FnOnce() -> ChildResult,
{
    let threads = thread_count();
    if threads > 1 {
        return Err(ConfinedError::Threaded {
            root: root.to_path_buf(),
            threads,
        });
    }
    let (report_read, report_write) =
        pipe2(OFlag::O_CLOEXEC).map_err(|source| ConfinedError::Pipe {
            root: root.to_path_buf(),
            source,
        })?;
    let parent = getpid();
    // SAFETY: brt is single-threaded here (checked just above), so the child
    // is a full copy of the only thread and may allocate, lock and unwind like
    // any program. It never returns into the caller's stack: `child_main`
    // ends with `_exit`, which skips destructors and atexit handlers that
    // belong to the parent.
    match unsafe { fork() } {
        Err(source) => Err(ConfinedError::Fork {
            root: root.to_path_buf(),
            source,
        }),
        Ok(ForkResult::Child) => {
            drop(report_read);
            if let Some(fd) = parents_end {
                // The parent's end must not stay open here, or a reader in
                // this process would never see the end of its input.
                let _ = nix::unistd::close(fd.as_raw_fd());
            }
            child_main(parent, root, File::from(report_write), f)
        }
        Ok(ForkResult::Parent { child }) => Ok(Child {
            pid: Some(child),
            report: File::from(report_read),
            root: root.to_path_buf(),
        }),
        // `f` (and the child's pipe end it captured) is dropped here, in the
        // parent, closing the parent's copy.
    }
}

fn child_main<F>(parent: Pid, root: &Path, mut report: File, f: F) -> !
where
    F: FnOnce() -> ChildResult,
{
    let result = catch_unwind(AssertUnwindSafe(|| -> ChildResult {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for signal in INTERRUPTS {
            // SAFETY: restoring the default action installs no handler.
            unsafe { sigaction(signal, &default) }?;
        }
        // Die with brt: a killed brt must not leave a writer in the root.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        if getppid() != parent {
            return Err("brt exited before the confined process started".into());
        }
        enter(root)?;
        f()
    }));
    let code = match result {
        Ok(Ok(())) => 0,
        Ok(Err(err)) => {
            let _ = report.write_all(RemoteError::format(err.as_ref()).as_bytes());
            if is_broken_pipe(err.as_ref()) {
                EXIT_BROKEN_PIPE
            } else {
                1
            }
        }
        Err(_) => {
            let _ = report.write_all(b"the confined process panicked (a bug in brt)");
            101
        }
    };
    // SAFETY: `_exit` is always safe to call; it ends this forked copy
    // without running the parent's destructors or flushing its buffers twice.
    unsafe { libc::_exit(code) }
}

/// `chroot(root)` then `chdir("/")`: from here, every path resolves in the root.
#[derive(Debug, thiserror::Error)]
#[error("cannot enter the root `{root}`")]
struct EnterError {
    root: PathBuf,
    #[source]
    source: Errno,
}

fn enter(root: &Path) -> Result<(), EnterError> {
    let err = |source| EnterError {
        root: root.to_path_buf(),
        source,
    };
    chroot(root).map_err(err)?;
    // Without this the working directory would still be the host's, outside
    // the chroot, and relative paths would resolve there.
    chdir("/").map_err(err)
}

/// Threads in this process; 1 when it cannot be told (no /proc).
fn thread_count() -> usize {
    fs_err::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// Signals that end a command, caught by [`catch_interrupts`].
const INTERRUPTS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP set a flag instead of killing brt:
/// streams wrapped in [`Interruptible`] then fail, and the command cleans up
/// (staging dirs, temp files) on its way out. Confined children get the
/// default actions back, so a Ctrl-C still stops them at once.
pub fn catch_interrupts() -> Result<(), Errno> {
    let action = SigAction::new(
        SigHandler::Handler(note_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in INTERRUPTS {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// Whether a signal caught by [`catch_interrupts`] arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A reader or writer that fails once brt was interrupted.
pub struct Interruptible<T>(pub T);

fn interrupted_error() -> io::Error {
    io::Error::other("interrupted by a signal")
}

impl<T: Read> Read for Interruptible<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if interrupted() {
            return Err(interrupted_error());
        }
        self.0.read(buf)
    }
}

impl<T: Write> Write for Interruptible<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if interrupted() {
            return Err(interrupted_error());
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_as_an_error_chain() {
        let inner = io::Error::other("No such file or directory (os error 2)");
        let outer = ConfinedError::Wait {
            root: PathBuf::from("/r"),
            source: Errno::ENOENT,
        };
        let text = RemoteError::format(&outer);
        let back = RemoteError::parse(&text).unwrap();
        assert_eq!(
            back.to_string(),
            "cannot wait for the process confined to `/r`"
        );
        assert_eq!(
            back.source().unwrap().to_string(),
            Errno::ENOENT.to_string()
        );
        assert!(back.source().unwrap().source().is_none());

        let text = RemoteError::format(&inner);
        assert_eq!(
            RemoteError::parse(&text).unwrap().to_string(),
            inner.to_string()
        );
        assert!(RemoteError::parse("").is_none());
    }

    #[test]
    fn a_long_report_is_cut_on_a_char_boundary() {
        let long = io::Error::other("é".repeat(MAX_REPORT));
        let text = RemoteError::format(&long);
        assert!(text.len() <= MAX_REPORT);
    }
}
