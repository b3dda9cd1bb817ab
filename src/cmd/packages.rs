//! `brt -r NAME install PKG... | remove PKG... | update` on a ready root.

use anyhow::Result;

use super::progress::Bar;
use super::shell::emulation;
use super::{Settings, exit, lock_waiting};
use crate::cli::{PackagesArgs, UpdateArgs};
use brt::config::Config;
use brt::root::confined;
use brt::root::family::{self, Changes, Context, PackageError, Target};
use brt::root::lock::RootLock;
use brt::root::{Layout, RootState, human_size};

pub fn install(settings: &Settings, args: PackagesArgs) -> Result<i32> {
    let layout = Layout::new(&settings.basedir, &settings.config()?.name);
    if !args.dry.dry_run
        && let Some(code) = super::init::ensure_ready(settings, &layout, args.parallel, args.accel)?
    {
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
            dry_run: args.dry.dry_run,
            ..Knobs::default()
        },
        |layout, config, opts| {
            let target = Target::ready_root(layout)?;
            let changes =
                family::of(config).install(&target, config, Some(&args.packages), opts)?;
            Ok(match args.dry.dry_run {
                true => dry_run_report(config, "install", &changes.transaction, args.dry.json),
                false => summary(&changes),
            })
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
            dry_run: args.dry.dry_run,
            ..Knobs::default()
        },
        |layout, config, opts| {
            let target = Target::ready_root(layout)?;
            let changes = family::of(config).install(&target, config, None, opts)?;
            Ok(match args.dry.dry_run {
                true => dry_run_report(config, "update", &changes.transaction, args.dry.json),
                false => summary(&changes),
            })
        },
    )
}

pub fn remove(settings: &Settings, args: PackagesArgs) -> Result<i32> {
    if args.dry.dry_run || args.allowerasing {
        return Err(super::UsageError::Unsupported(
            "`remove` takes neither `--dry-run` nor `--allowerasing` (`brt shell -- apt-get -s remove …` or `rpm -e --test …` simulate a removal)".into(),
        )
        .into());
    }
    change(
        settings,
        "remove",
        Needs::Ready,
        Knobs {
            parallel: 1,
            ..Knobs::default()
        },
        |layout, config, opts| {
            family::of(config).remove(layout, config, &args.packages, opts)?;
            Ok(format!("removed {}", args.packages.join(" ")))
        },
    )
}

/// A dry run's transaction: as JSON on stdout (`json`), else as lines;
/// returns what to say on stderr.
pub(super) fn dry_run_report(
    config: &Config,
    what: &str,
    tx: &brt::root::transaction::Transaction,
    json: bool,
) -> String {
    if json {
        let out = serde_json::json!({
            "root": config.name,
            "command": what,
            "packages": tx.packages,
            "download_size": tx.download_size(),
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    }
    if tx.packages.is_empty() {
        return format!("dry run of `{what}`: nothing to do");
    }
    let mut text = format!(
        "dry run of `{what}`: {} packages, {} to download; nothing was changed",
        tx.packages.len(),
        human_size(tx.download_size())
    );
    if !json {
        for line in tx.lines() {
            text.push_str("\n  ");
            text.push_str(&line);
        }
    }
    text
}

fn summary(changes: &Changes) -> String {
    let lines = changes.lines();
    if lines.is_empty() {
        return "nothing to do".into();
    }
    format!(
        "{} packages changed, {} downloaded:\n  {}",
        lines.len(),
        human_size(changes.downloaded_bytes),
        lines.join("\n  ")
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
    /// `--dry-run`.
    pub dry_run: bool,
}

impl Default for Knobs {
    fn default() -> Knobs {
        Knobs {
            parallel: 8,
            accel: None,
            root_cache: true,
            allow_erasing: false,
            dry_run: false,
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
    f: impl FnOnce(&Layout, &Config, &Context) -> Result<String, PackageError>,
) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    confined::catch_interrupts()?;
    // A dry run only reads: the root's lock shared, and none at all (so no
    // root dir is made) for `init`.
    let waiting = lock_waiting(settings, &config.name);
    let lock = match (knobs.dry_run, needs) {
        (true, Needs::NotReady) => None,
        (true, Needs::Ready) => Some(RootLock::shared(&layout, waiting)),
        (false, _) => Some(RootLock::exclusive(&layout, waiting)),
    };
    let _lock = match lock.transpose() {
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
    // Before any download: the last step must be able to run the root's
    // code (a dry init runs none, and changes nothing on the host).
    let interpreters = if knobs.dry_run && needs == Needs::NotReady {
        Vec::new()
    } else {
        emulation(&config)?
    };
    let bar = Bar::new(settings.progress);
    let say = |msg: &str| settings.info(format!("  {msg}"));
    let opts = Context {
        cachedir: settings.cachedir.clone(),
        offline: settings.offline,
        parallel: knobs.parallel,
        interpreters,
        reporter: &bar,
        say: &say,
        accel: knobs.accel,
        root_cache: knobs.root_cache,
        allow_erasing: knobs.allow_erasing,
        dry_run: knobs.dry_run,
    };
    match f(&layout, &config, &opts) {
        Ok(msg) => {
            // The root's package manager ran without fsync: one syncfs
            // makes the changed root durable (init syncs its staging root).
            if needs == Needs::Ready && !knobs.dry_run {
                brt::root::sync_root(&layout.root())?;
            }
            settings.info(msg);
            Ok(exit::OK)
        }
        Err(e) if matches!(e, PackageError::Interrupted) || confined::interrupted() => {
            eprintln!(
                "error: {what} interrupted: root `{}` is {}",
                config.name,
                layout.state()
            );
            Ok(exit::INTERRUPTED)
        }
        Err(e) => {
            if let PackageError::Configure { tail, .. } = &e {
                eprintln!("--- last lines of the log ---\n{tail}\n---");
            }
            Err(e.into())
        }
    }
}
