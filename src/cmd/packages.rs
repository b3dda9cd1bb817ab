//! `brt -r NAME install PKG... | remove PKG... | update` on a ready root.

use anyhow::Result;

use super::progress::Bar;
use super::shell::emulation;
use super::{Settings, exit, lock_waiting};
use crate::cli::{PackagesArgs, UpdateArgs};
use brt::config::{Config, Family};
use brt::root::confined;
use brt::root::debstrap::{InitError, Options};
use brt::root::lock::RootLock;
use brt::root::{Layout, RootState, human_size};
use brt::root::{debinstall, rpminstall};

pub fn install(settings: &Settings, args: PackagesArgs) -> Result<i32> {
    let layout = Layout::new(&settings.basedir, &settings.config()?.name);
    if let Some(code) = super::init::ensure_ready(settings, &layout, args.parallel, args.accel)? {
        return Ok(code);
    }
    change(
        settings,
        "install",
        Needs::Ready,
        Knobs {
            parallel: usize::from(args.parallel),
            accel: args.accel,
            allow_erasing: args.allowerasing,
            ..Knobs::default()
        },
        |layout, config, opts| {
            let changes = match config.distro.family {
                Family::Deb => debinstall::install(layout, config, Some(&args.packages), opts)?,
                Family::Rpm => rpminstall::install(layout, config, Some(&args.packages), opts)?,
            };
            Ok(summary(&changes))
        },
    )
}

pub fn update(settings: &Settings, args: UpdateArgs) -> Result<i32> {
    change(
        settings,
        "update",
        Needs::Ready,
        Knobs {
            parallel: usize::from(args.parallel),
            accel: args.accel,
            ..Knobs::default()
        },
        |layout, config, opts| {
            let changes = match config.distro.family {
                Family::Deb => debinstall::install(layout, config, None, opts)?,
                Family::Rpm => rpminstall::install(layout, config, None, opts)?,
            };
            Ok(summary(&changes))
        },
    )
}

pub fn remove(settings: &Settings, args: PackagesArgs) -> Result<i32> {
    change(
        settings,
        "remove",
        Needs::Ready,
        Knobs {
            parallel: 1,
            ..Knobs::default()
        },
        |layout, config, opts| {
            match config.distro.family {
                Family::Deb => debinstall::remove(layout, config, &args.packages, opts)?,
                Family::Rpm => rpminstall::remove(layout, config, &args.packages, opts)?,
            }
            Ok(format!("removed {}", args.packages.join(" ")))
        },
    )
}

fn summary(changes: &debinstall::Changes) -> String {
    if changes.lines.is_empty() {
        return "nothing to do".into();
    }
    format!(
        "{} packages changed, {} downloaded:\n  {}",
        changes.lines.len(),
        human_size(changes.downloaded_bytes),
        changes.lines.join("\n  ")
    )
}

/// How a package command runs (the command line's options).
pub(super) struct Knobs {
    /// Downloads at once.
    pub parallel: usize,
    /// `--accel`.
    pub accel: Option<brt::config::AccelMode>,
    /// Use the root cache (init).
    pub root_cache: bool,
    /// `install --allowerasing`.
    pub allow_erasing: bool,
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            parallel: 8,
            accel: None,
            root_cache: true,
            allow_erasing: false,
        }
    }
}

/// The cache's lock, shared: `scrub` waits for this command, and it for
/// a running `scrub`.
pub(super) fn cache_lock(settings: &Settings) -> Result<brt::root::scrub::CacheLock> {
    Ok(brt::root::scrub::CacheLock::shared(
        &settings.cachedir,
        || settings.info("waiting: `brt scrub` is emptying the cache"),
    )?)
}

/// What a package command needs of the root before it starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Needs {
    /// A ready root (install, remove, update).
    Ready,
    /// Any root but a ready one, which makes the command a no-op (init).
    NotReady,
}

/// Lock the root, check it, set up emulation, run `f`, report: the frame
/// shared by `init`, `install`, `remove` and `update`. `what` names the
/// command in messages.
pub(super) fn change(
    settings: &Settings,
    what: &str,
    needs: Needs,
    knobs: Knobs,
    f: impl FnOnce(&Layout, &Config, &Options) -> Result<String, InitError>,
) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    confined::catch_interrupts()?;
    let _lock = match RootLock::exclusive(&layout, lock_waiting(settings, &config.name)) {
        Ok(lock) => lock,
        Err(_) if confined::interrupted() => return Ok(exit::INTERRUPTED),
        Err(e) => return Err(e.into()),
    };
    match needs {
        Needs::Ready => layout.require_ready()?,
        Needs::NotReady if layout.state() == RootState::Ready => {
            settings.info(format!(
                "root `{}` is ready at `{}`; nothing to do",
                config.name,
                layout.root().display()
            ));
            return Ok(exit::OK);
        }
        Needs::NotReady => {}
    }
    let _cache = cache_lock(settings)?;
    // Before any download: the last step must be able to run the root's code.
    let interpreter = emulation(&config)?;
    let bar = Bar::new(settings.progress);
    let say = |msg: &str| settings.info(format!("  {msg}"));
    let opts = Options {
        cachedir: settings.cachedir.clone(),
        offline: settings.offline,
        parallel: knobs.parallel,
        interpreter,
        reporter: &bar,
        say: &say,
        accel: knobs.accel,
        root_cache: knobs.root_cache,
        allow_erasing: knobs.allow_erasing,
    };
    match f(&layout, &config, &opts) {
        Ok(msg) => {
            // The root's package manager ran without fsync: one syncfs
            // makes the changed root durable (init syncs its staging root).
            if needs == Needs::Ready {
                brt::root::sync_root(&layout.root())?;
            }
            settings.info(msg);
            Ok(exit::OK)
        }
        Err(e) if matches!(e, InitError::Interrupted) || confined::interrupted() => {
            eprintln!(
                "error: {what} interrupted: root `{}` is {}",
                config.name,
                layout.state()
            );
            Ok(exit::INTERRUPTED)
        }
        Err(e) => {
            if let InitError::Configure { tail, .. } = &e {
                eprintln!("--- last lines of the log ---\n{tail}\n---");
            }
            Err(e.into())
        }
    }
}
