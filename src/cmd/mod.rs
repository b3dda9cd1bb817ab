//! One module per subcommand; this file holds what they share: settings
//! built from the command line and environment, output helpers, and the
//! mapping from errors to exit codes.

mod binfmt;
mod build;
mod config;
mod copy;
mod docs;
mod export;
mod import;
mod init;
mod list;
mod packages;
mod progress;
mod rebuild;
mod scrub;
mod shell;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{Cli, Command, GlobalArgs};
use brt::config::{self as brt_config, ConfigDirs};

/// Exit codes (documented in the README; keep both in sync).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// An error not covered below.
    pub const ERROR: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// A config could not be found, parsed or resolved.
    pub const CONFIG: i32 = 3;
    /// The host cannot run the root's architecture (binfmt_misc/qemu).
    pub const EMULATION: i32 = 4;
    /// The root does not exist or is not ready.
    pub const ROOT: i32 = 5;
    /// The sandbox could not be set up (mounts, namespaces).
    pub const SANDBOX: i32 = 6;
    /// The input cannot be built here (unreadable, corrupt, not a source
    /// package, its architectures exclude the root's).
    pub const BUILD_INPUT: i32 = 10;
    /// The build dependencies could not be resolved, fetched or installed.
    pub const BUILD_DEPS: i32 = 11;
    /// The build itself failed (rpmbuild, dpkg-buildpackage).
    pub const BUILD_FAILED: i32 = 12;
    /// Interrupted (Ctrl-C, SIGTERM) and cleaned up: 128 + SIGINT, as a shell reports it.
    pub const INTERRUPTED: i32 = 130;
}

/// Whether `command` works on roots (rootless: in brt's user namespace);
/// the others only read configs or the host.
fn needs_root(command: &Command) -> bool {
    !matches!(
        command,
        Command::List(_)
            | Command::Config(_)
            | Command::Binfmt(_)
            | Command::Completions(_)
            | Command::Manpages(_)
            | Command::Indicator
    )
}

/// A command line that parses but cannot work.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("this command works on a root: add `-r NAME` (see `brt list`) or `-r PATH.toml`")]
    NoRoot,
    #[error("bad --bind `{text}`: expected SRC:DST or SRC:DST:ro, with DST absolute")]
    BadBind { text: String },
    #[error("unknown architecture `{name}`; brt knows {known}")]
    UnknownArch { name: String, known: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Everything a command needs, with the command line, config directories and
/// environment already applied. Nothing below `cmd/` sees clap.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: Option<String>,
    pub basedir: PathBuf,
    /// Package and metadata cache.
    pub cachedir: PathBuf,
    pub verbosity: i8,
    /// Whether progress bars may be drawn.
    pub progress: bool,
    /// Cache only, no network.
    pub offline: bool,
    pub config_dirs: ConfigDirs,
}

impl Settings {
    fn new(g: GlobalArgs) -> Settings {
        use std::io::IsTerminal;
        let verbosity = if g.quiet { -1 } else { g.verbose as i8 };
        // Rootless (the user's own dirs) unless brt runs as root on the host.
        let (base, cache) = if nix::unistd::Uid::current().is_root() && !brt::rootless::active() {
            (
                PathBuf::from("/var/lib/brt"),
                PathBuf::from("/var/cache/brt"),
            )
        } else {
            brt::rootless::user_dirs()
        };
        Settings {
            root: g.root,
            basedir: g.basedir.unwrap_or(base),
            cachedir: g.cachedir.unwrap_or(cache),
            offline: g.offline,
            verbosity,
            progress: !g.no_progress && !g.quiet && std::io::stderr().is_terminal(),
            config_dirs: ConfigDirs::from_env(),
        }
    }

    /// The config named by `-r`, or an error saying `-r` is needed.
    pub fn config(&self) -> Result<brt_config::Config> {
        let spec = self.root.as_deref().ok_or(UsageError::NoRoot)?;
        Ok(brt_config::load(spec, &self.config_dirs)?)
    }

    /// `msg` as a status line, unless `-q`.
    pub fn text(&self, msg: impl std::fmt::Display) -> Option<String> {
        (self.verbosity >= 0).then(|| msg.to_string())
    }

    /// A status line on stderr, unless `-q`.
    pub fn info(&self, msg: impl std::fmt::Display) {
        if self.verbosity >= 0 {
            eprintln!("{msg}");
        }
    }
}

pub fn run(cli: Cli) -> Result<i32> {
    // A user who is not root works in a user namespace of its own.
    if !nix::unistd::Uid::effective().is_root() && needs_root(&cli.command) {
        brt::rootless::enter()?;
    }
    let settings = Settings::new(cli.global);
    match cli.command {
        Command::List(args) => list::run(&settings, args),
        Command::Config(args) => config::run(&settings, args),
        Command::Binfmt(args) => binfmt::run(&settings, args),
        Command::Init(args) => init::run(&settings, args),
        Command::Install(args) => packages::install(&settings, args),
        Command::Remove(args) => packages::remove(&settings, args),
        Command::Update(args) => packages::update(&settings, args),
        Command::Shell(args) => shell::run(&settings, args),
        Command::Build(args) => build::build(&settings, args),
        Command::Buildsrpm(args) => build::buildsrpm(&settings, args),
        Command::Rebuild(args) => rebuild::run(&settings, args),
        Command::Clean(args) => build::clean(&settings, args),
        Command::Scrub(args) => scrub::run(&settings, args),
        Command::Copyin(args) => copy::copy_in(&settings, args),
        Command::Copyout(args) => copy::copy_out(&settings, args),
        Command::Import(args) => import::run(&settings, args),
        Command::Export(args) => export::run(&settings, args),
        Command::Completions(args) => docs::completions(args),
        Command::Manpages(args) => docs::manpages(args),
        Command::Indicator => progress::serve(),
    }
}

/// The exit code for an error: a usage error's, else that of the first
/// cause whose class the library knows.
fn exit_code(err: &anyhow::Error) -> i32 {
    use brt::error::ErrorClass;
    if err.chain().any(|c| c.is::<UsageError>()) {
        return exit::USAGE;
    }
    match brt::error::class(err.as_ref()) {
        ErrorClass::Config => exit::CONFIG,
        ErrorClass::Emulation => exit::EMULATION,
        ErrorClass::Root => exit::ROOT,
        ErrorClass::Sandbox => exit::SANDBOX,
        ErrorClass::Other => exit::ERROR,
    }
}

/// Print `error: …`, each cause, and a hint; return the exit code.
pub fn report(err: &anyhow::Error) -> i32 {
    // A closed stdout (`brt list | head`) is not an error.
    if err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return exit::OK;
    }
    print_error(err.as_ref(), brt::error::hint(err.as_ref()));
    exit_code(err)
}

/// `error: …`, each cause as `  caused by: …`, then the hint.
pub fn print_error(err: &(dyn std::error::Error + 'static), hint: Option<String>) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    let mut cause = err.source();
    while let Some(c) = cause {
        let _ = writeln!(stderr, "  caused by: {c}");
        cause = c.source();
    }
    if let Some(h) = hint {
        let _ = writeln!(stderr, "hint: {h}");
    }
}

/// For `RootLock`: say who holds root `name`'s lock while a command waits.
pub fn lock_waiting<'a>(
    settings: &'a Settings,
    name: &'a str,
) -> impl FnOnce(&[brt::root::lock::Holder]) + 'a {
    move |holders| {
        for h in holders {
            settings.info(format!("waiting: root `{name}` is locked by {h}"));
        }
    }
}

/// Resolve an arch argument, either spelling.
pub fn parse_arch(name: &str) -> Result<&'static brt::arch::Arch> {
    let known = || {
        brt::arch::ARCHES
            .iter()
            .map(|a| format!("{} ({})", a.rpm, a.deb))
            .collect::<Vec<_>>()
            .join(", ")
    };
    brt::arch::Arch::find(name).ok_or_else(|| {
        UsageError::UnknownArch {
            name: name.to_string(),
            known: known(),
        }
        .into()
    })
}
