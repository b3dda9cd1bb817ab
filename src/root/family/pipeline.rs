//! The frame every bootstrap and install shares: phases timed into
//! `state.log`, the root log, the root cache, downloads into the package
//! cache, and the staged root moved into place and marked ready.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::context::{Context, PackageError};
use crate::config::Config;
use crate::fetch::{Download, Fetcher, PackageCache};
use crate::root::confined;
use crate::root::staging::{Staging, rfc3339};
use crate::root::{Layout, State};
use crate::sandbox;

/// One timed phase, for `state.json` and `state.log`.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct InitState<'a> {
    pub status: State,
    pub config: &'a str,
    pub arch: &'a str,
    pub created_at: String,
    /// `name version arch` (Debian) or `name-evr.arch` (rpm), sorted.
    pub packages: Vec<String>,
    pub phases: &'a [Phase],
    /// The root cache entry this root was made from or stored as (the
    /// cache's size cap never evicts it while this root exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_cache_key: Option<String>,
}

/// What an init did.
#[derive(Debug)]
pub struct Report {
    pub packages: usize,
    pub downloaded_bytes: u64,
    pub phases: Vec<Phase>,
}

/// Phases and their durations, each logged to `state.log` as it ends.
pub struct Timer {
    pub phases: Vec<Phase>,
    started: Instant,
    log: fs_err::File,
}

impl Timer {
    /// Starts timing now; `log` is `state.log`.
    pub(crate) fn new(log: fs_err::File, started: Instant) -> Timer {
        Timer {
            phases: Vec::new(),
            started,
            log,
        }
    }

    /// A line in `state.log` that is not a phase.
    pub(crate) fn note(&mut self, text: &str) {
        let _ = writeln!(self.log, "{} {text}", rfc3339(std::time::SystemTime::now()));
    }

    pub(crate) fn lap(&mut self, name: &'static str) {
        let seconds = self.started.elapsed().as_secs_f64();
        let _ = writeln!(
            self.log,
            "{} {name} {seconds:.3}s",
            rfc3339(std::time::SystemTime::now())
        );
        self.phases.push(Phase { name, seconds });
        self.started = Instant::now();
    }
}

/// What the steps of one init share: the phase timer and the root log.
pub struct InitRun {
    pub timer: Timer,
    pub root_log: fs_err::File,
    pub root_log_path: PathBuf,
}

/// What a family's init steps leave: the staged root, its packages as
/// state.json lists them, and the bytes downloaded.
pub(crate) struct Staged {
    pub staging: Staging,
    pub packages: Vec<String>,
    pub downloaded: u64,
    /// The root cache key of this package set, when the cache is used.
    pub cache_key: Option<String>,
}

/// A root from the root cache, when it has one with `key` and the cache is
/// on: restored into a new staging dir, with `packages` for state.json. The
/// restore and its way (reflink or copy) are logged.
pub(crate) fn from_root_cache(
    layout: &Layout,
    opts: &Context,
    run: &mut InitRun,
    key: &str,
    packages: impl FnOnce() -> Vec<String>,
) -> Result<Option<Staged>, PackageError> {
    let cache = crate::root::rootcache::RootCache::new(&opts.cachedir);
    if !opts.root_cache || !cache.contains(key) {
        return Ok(None);
    }
    let staging = Staging::create(layout, "init")?;
    let how = cache
        .restore(key, &staging.root())
        .map_err(|source| PackageError::Log {
            path: staging.root(),
            source,
        })?;
    let line = format!(
        "restored from the root cache by {} (key {})",
        how.describe(),
        &key[..16]
    );
    let _ = writeln!(run.root_log, "brt: {line}");
    run.timer.note(&line);
    (opts.say)(&line);
    run.timer.lap("restore");
    Ok(Some(Staged {
        staging,
        packages: packages(),
        downloaded: 0,
        cache_key: Some(key.to_string()),
    }))
}

/// Keeps the finished `staging` root in the root cache under `key`; a
/// failure costs a line, not the init.
pub(crate) fn to_root_cache(
    layout: &Layout,
    opts: &Context,
    run: &mut InitRun,
    key: &str,
    staging: &Staging,
) -> Option<String> {
    if !opts.root_cache {
        return None;
    }
    let cache = crate::root::rootcache::RootCache::new(&opts.cachedir);
    let stored = match cache.store(key, &staging.root()) {
        Ok(()) => {
            run.timer
                .note(&format!("kept in the root cache (key {})", &key[..16]));
            Some(key.to_string())
        }
        Err(e) => {
            (opts.say)(&format!("could not keep the root in the root cache: {e}"));
            None
        }
    };
    let basedir = layout.dir.parent().unwrap_or(Path::new("/"));
    for line in cache.evict_over_cap(basedir, key) {
        run.timer.note(&line);
        (opts.say)(&line);
    }
    run.timer.lap("cache");
    stored
}

/// The frame of every init: `result/state.log` and `root.log`, state.json
/// saying bootstrapping, the family's `steps`, then the staged root moved
/// into place and marked ready. A failure that leaves no root in place also
/// removes `state.json`, so the root reads as absent; only a killed init
/// leaves it saying `bootstrapping`.
pub(crate) fn run_init(
    layout: &Layout,
    config: &Config,
    steps: impl FnOnce(&mut InitRun) -> Result<Staged, PackageError>,
) -> Result<Report, PackageError> {
    let result = run_init_staged(layout, config, steps);
    if result.is_err() && layout.root().symlink_metadata().is_err() {
        let _ = fs_err::remove_file(layout.state_file());
    }
    result
}

fn run_init_staged(
    layout: &Layout,
    config: &Config,
    steps: impl FnOnce(&mut InitRun) -> Result<Staged, PackageError>,
) -> Result<Report, PackageError> {
    let result_dir = layout.result_dir();
    let log_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Log { path, source }
    };
    fs_err::create_dir_all(&result_dir).map_err(log_err(&result_dir))?;
    let state_log_path = result_dir.join("state.log");
    let state_log = fs_err::File::create(&state_log_path).map_err(log_err(&state_log_path))?;
    let root_log_path = result_dir.join("root.log");
    let root_log = fs_err::File::create(&root_log_path).map_err(log_err(&root_log_path))?;
    mark_bootstrapping(layout, config)?;
    let mut run = InitRun {
        timer: Timer::new(state_log, Instant::now()),
        root_log,
        root_log_path,
    };
    let Staged {
        staging,
        mut packages,
        downloaded,
        cache_key,
    } = steps(&mut run)?;
    packages.sort();
    run.timer.lap("install");
    let phases = run.timer.phases;
    let state = InitState {
        status: State::Ready,
        config: &config.name,
        arch: config.distro.family.arch_name(config.arch),
        created_at: rfc3339(std::time::SystemTime::now()),
        packages: packages.clone(),
        phases: &phases,
        root_cache_key: cache_key,
    };
    staging.install(layout, &state)?;
    Ok(Report {
        packages: packages.len(),
        downloaded_bytes: downloaded,
        phases,
    })
}

/// Downloads `wanted` into the cache (saying how many are missing), then
/// drops the HTTP client: no threads may run when brt forks afterwards.
pub(crate) fn fetch_packages(
    fetcher: Fetcher,
    cache: &PackageCache,
    wanted: &[Download],
    opts: &Context,
) -> Result<u64, PackageError> {
    let missing = wanted
        .iter()
        .filter(|d| !cache.contains(&d.expected.sha256))
        .count();
    (opts.say)(&format!(
        "{} packages, {} to download",
        wanted.len(),
        missing
    ));
    fill_cache(fetcher, cache, wanted, opts)
}

/// [`fetch_packages`] without the message (`install` lists its changes
/// instead): downloads what the cache lacks, then drops the HTTP client.
pub(crate) fn fill_cache(
    fetcher: Fetcher,
    cache: &PackageCache,
    wanted: &[Download],
    opts: &Context,
) -> Result<u64, PackageError> {
    let downloaded = if wanted.is_empty() {
        0
    } else {
        cache.fill(
            &fetcher,
            wanted,
            opts.parallel,
            opts.reporter,
            &confined::interrupted,
        )?
    };
    drop(fetcher);
    if confined::interrupted() {
        return Err(PackageError::Interrupted);
    }
    Ok(downloaded)
}

/// Where the package cache appears inside a root while its package
/// manager installs from it.
pub(crate) const CACHE_IN_ROOT: &str = "/run/brt-packages";

/// The package cache, read-only at [`CACHE_IN_ROOT`].
pub(crate) fn cache_bind(cache: &PackageCache) -> sandbox::Bind {
    sandbox::Bind {
        source: cache.dir().to_path_buf(),
        target: PathBuf::from(CACHE_IN_ROOT),
        readonly: true,
    }
}

/// `state.json` says bootstrapping while no root is in place, so `brt list`
/// and a killed init's successor both see a root that is not ready.
pub(crate) fn mark_bootstrapping(layout: &Layout, config: &Config) -> Result<(), PackageError> {
    let state = InitState {
        status: State::Bootstrapping,
        config: &config.name,
        arch: config.distro.family.arch_name(config.arch),
        created_at: rfc3339(std::time::SystemTime::now()),
        packages: Vec::new(),
        phases: &[],
        root_cache_key: None,
    };
    let mut text = serde_json::to_string_pretty(&state).expect("state serializes");
    text.push('\n');
    crate::root::staging::write_atomic(&layout.state_file(), text.as_bytes(), 0o644).map_err(
        |source| PackageError::Log {
            path: layout.state_file(),
            source,
        },
    )
}

/// What a resolution gives the shared frame of a bootstrap.
pub struct Resolved {
    /// One line per package for `root.log`, in install order.
    pub lines: Vec<String>,
    /// What identifies each package in the root cache key (with its
    /// checksum).
    pub entries: Vec<String>,
    /// The packages as `state.json` lists them.
    pub packages: Vec<String>,
    pub downloads: Vec<Download>,
    /// The same as steps, for `--dry-run`.
    pub transaction: crate::root::transaction::Transaction,
}

/// A bootstrap of `config` into `layout` by `family`: 1. metadata and
/// 2. resolution (the family's plan), a restore from the root cache when it
/// has this package set, else 3. the downloads, 4. the family's unpack and
/// 5. finish, and the finished root kept in the root cache; all inside
/// [`run_init`]'s frame.
pub fn bootstrap<B: super::Bootstrap + ?Sized>(
    family: &B,
    layout: &Layout,
    config: &Config,
    cx: &Context,
) -> Result<Report, PackageError> {
    run_init(layout, config, |run| {
        (cx.say)("fetching repository metadata");
        let fetcher = Fetcher::new(cx.offline);
        let (resolved, plan) =
            family.plan(config, cx, &fetcher, &mut |phase| run.timer.lap(phase))?;
        let Resolved {
            lines,
            entries,
            packages,
            downloads,
            ..
        } = resolved;
        let _ = writeln!(run.root_log, "resolved {} packages:", lines.len());
        for line in &lines {
            let _ = writeln!(run.root_log, "  {line}");
        }
        run.timer.lap("resolve");
        let key = crate::root::rootcache::RootCache::key(config, &entries);
        if let Some(staged) = from_root_cache(layout, cx, run, &key, || packages.clone())? {
            return Ok(staged);
        }

        let cache = PackageCache::new(&cx.cachedir);
        let downloaded = fetch_packages(fetcher, &cache, &downloads, cx)?;
        run.timer.lap("download");

        let staging = Staging::create(layout, "init")?;
        let unpacked = family.unpack(config, &plan, &cache, &staging, run, cx)?;
        if confined::interrupted() {
            return Err(PackageError::Interrupted);
        }
        family.finish(config, plan, unpacked, &staging, run, cx)?;
        if confined::interrupted() {
            return Err(PackageError::Interrupted);
        }
        let cache_key = to_root_cache(layout, cx, run, &key, &staging);
        Ok(Staged {
            staging,
            packages,
            downloaded,
            cache_key,
        })
    })
}
