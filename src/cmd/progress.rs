//! Download progress and a build's one-line view on the terminal
//! (indicatif), hidden without one, with `-q` or `--no-progress`.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use brt::fetch::Reporter;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(visible: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes} {binary_bytes_per_sec:>12} {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bar { bar }
    }
}

impl Reporter for Bar {
    fn start(&self, what: &str, total_bytes: u64, _count: usize) {
        self.bar.set_message(what.to_string());
        self.bar.set_length(total_bytes);
        self.bar.set_position(0);
        self.bar.reset_eta();
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The one-line view of a build on a terminal without `-v`: a spinner, the
/// time since the build started, the step brt last announced (or the
/// download), and the last line written to the build's logs (`build.log`,
/// or `root.log` while build dependencies are installed).
///
/// brt forks confined children and must not start threads of its own, so
/// the line is drawn by a helper process (`brt __indicator`) that reads
/// commands from a pipe: `W` a new build's logs, `L` a label, `P` a line to
/// print above, `H` hide the line until `S` (it answers on its stdout once
/// the line is cleared, so brt can print). It ends when the pipe closes
/// (also when brt is killed), after clearing its line.
pub struct Indicator {
    child: Option<Mutex<Helper>>,
    /// Bytes so far and in all of the current download.
    download: Mutex<(u64, u64, String)>,
}

impl Indicator {
    /// Starts the helper if `visible` (and it can be started; if not,
    /// messages are printed as they would be without a terminal).
    pub fn new(visible: bool) -> Indicator {
        use std::process::{Command, Stdio};
        let child = visible
            .then(|| {
                let mut child = Command::new("/proc/self/exe")
                    .arg("__indicator")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .ok()?;
                let pipe = child.stdin.take()?;
                let answers = std::io::BufReader::new(child.stdout.take()?);
                Some(Mutex::new(Helper {
                    child,
                    pipe,
                    answers,
                }))
            })
            .flatten();
        Indicator {
            child,
            download: Mutex::new((0, 0, String::new())),
        }
    }

    fn send(&self, kind: char, text: &str) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        let Ok(mut child) = child.lock() else {
            return false;
        };
        let line: String = text
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        writeln!(child.pipe, "{kind}{line}").is_ok()
    }

    /// Runs `f` (which prints) with the line cleared, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let hidden = self
            .child
            .as_ref()
            .and_then(|c| c.lock().ok())
            .map(|mut c| {
                let mut answer = String::new();
                writeln!(c.pipe, "H").is_ok()
                    && c.answers.read_line(&mut answer).is_ok_and(|n| n > 0)
            });
        let result = f();
        if hidden == Some(true) {
            self.send('S', "");
        }
        result
    }

    /// A new build: its logs, and the clock restarted.
    pub fn watch(&self, logs: &[PathBuf]) {
        let list: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
        self.send('W', &list.join("\t"));
    }

    /// A step: printed above the line by `print` (as `settings.info` would,
    /// so `-q` still silences it), and the line's label.
    pub fn step(&self, msg: &str, print: impl FnOnce(&str) -> Option<String>) {
        match print(msg) {
            Some(text) if self.send('P', &text) => {}
            Some(text) => eprintln!("{text}"),
            None => {}
        }
        // The log's path was printed; the line has no room for it.
        self.send('L', msg.split(" (log: ").next().unwrap_or(msg).trim());
    }
}

/// The helper process and its two pipes.
struct Helper {
    child: std::process::Child,
    pipe: std::process::ChildStdin,
    answers: std::io::BufReader<std::process::ChildStdout>,
}

impl Reporter for Indicator {
    fn start(&self, what: &str, total_bytes: u64, _count: usize) {
        if let Ok(mut d) = self.download.lock() {
            *d = (0, total_bytes, what.to_string());
        }
        self.send('L', what);
    }

    fn advance(&self, bytes: u64) {
        let label = match self.download.lock() {
            Ok(mut d) => {
                d.0 += bytes;
                format!(
                    "{} {}/{}",
                    d.2,
                    indicatif::BinaryBytes(d.0),
                    indicatif::BinaryBytes(d.1)
                )
            }
            Err(_) => return,
        };
        self.send('L', &label);
    }

    fn finish(&self) {}
}

impl Drop for Indicator {
    /// Closes the pipe and waits until the helper has cleared its line, so
    /// what brt prints next is not drawn over.
    fn drop(&mut self) {
        if let Some(helper) = self.child.take()
            && let Ok(Helper {
                mut child, pipe, ..
            }) = helper.into_inner()
        {
            drop(pipe);
            let _ = child.wait();
        }
    }
}

/// `brt __indicator`: draws the line for the brt whose pipe is stdin, until
/// the pipe closes. Ctrl-C is for the build (brt reports it); the line goes
/// when brt does.
pub fn serve() -> anyhow::Result<i32> {
    // The helper outlives the Ctrl-C its brt handles.
    brt::sandbox::ignore_signal(nix::sys::signal::Signal::SIGINT);
    let line = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    line.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix} · {wide_msg}")
            .expect("a valid template"),
    );
    line.enable_steady_tick(Duration::from_millis(120));
    let logs: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (line, logs, stop) = (line.clone(), logs.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let paths = logs.lock().map(|l| l.clone()).unwrap_or_default();
                if let Some(text) = last_line(&paths) {
                    line.set_message(text);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let mut commands = std::io::stdin().lock().lines();
    while let Some(command) = commands.next() {
        let command = command?;
        let Some(kind) = command.chars().next() else {
            continue;
        };
        let text = &command[kind.len_utf8()..];
        match kind {
            'W' => {
                if let Ok(mut l) = logs.lock() {
                    *l = text.split('\t').map(PathBuf::from).collect();
                }
                line.reset_elapsed();
                line.set_prefix("");
                line.set_message("");
            }
            'L' => line.set_prefix(text.to_string()),
            'P' => line.println(text),
            'H' => line.suspend(|| {
                let mut out = std::io::stdout().lock();
                if writeln!(out, "hidden").and_then(|()| out.flush()).is_ok() {
                    for command in commands.by_ref() {
                        if command.is_ok_and(|c| c.starts_with('S')) {
                            break;
                        }
                    }
                }
            }),
            _ => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    line.finish_and_clear();
    Ok(0)
}
/// The last non-empty line of the most recently written of `paths`, with
/// control characters (a build's colours, carriage returns) dropped.
fn last_line(paths: &[PathBuf]) -> Option<String> {
    let newest = paths
        .iter()
        .filter_map(|p| Some((fs_err::metadata(p).ok()?.modified().ok()?, p)))
        .max()?
        .1;
    let mut file = fs_err::File::open(newest).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(2048))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).collect())
}
