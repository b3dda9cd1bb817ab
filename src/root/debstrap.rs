//! `init` for Debian-family roots (docs/design.md §4): metadata and resolution
//! natively, parallel verified downloads into the package cache, every
//! `.deb` unpacked natively by one process confined to the staging root,
//! which also writes dpkg's database as dpkg's own unpack phase would. Only
//! the last step runs the root's own code under emulation: the maintainer
//! scripts (`preinst install` in dependency order, then
//! `dpkg --configure -a`). The root is moved into place and marked ready at
//! the very end.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::archive::{ArchiveError, Ownership, Unpacker};
use super::confined::{self, ConfinedError};
use super::staging::{Staging, StagingError, rfc3339};
use super::transaction::{Action, Step, Transaction};
use super::{Layout, State};
use crate::config::{Config, RepoKind};
use crate::fetch::{Download, DownloadError, Expected, Fetcher, PackageCache, Reporter};
use crate::repo::apt::metadata::{self, AptIndex, AptSource, MetadataError};
use crate::repo::apt::{DebPackage, decompressor};
use crate::resolve::deb::{DebRequest, ResolveError, resolve};
use crate::sandbox::{self, SandboxError, Spec};
use crate::unpack::deb::{ReadDebError, read_deb};
use crate::unpack::dpkg::DpkgDb;

/// How a run is set up; filled in by the command line.
pub struct Options<'a> {
    pub cachedir: PathBuf,
    pub offline: bool,
    /// Downloads at once.
    pub parallel: usize,
    /// Host interpreters to bind into the root (binfmt entries without `F`).
    pub interpreters: Vec<PathBuf>,
    pub reporter: &'a dyn Reporter,
    /// One line per phase, for the user.
    pub say: &'a dyn Fn(&str),
    /// `--accel` (`None`: the config's, else the command's default).
    pub accel: Option<crate::config::AccelMode>,
    /// Use the root cache (`init --no-cache`: no).
    pub root_cache: bool,
    /// Only work out what would change (`--dry-run`): nothing is
    /// downloaded, installed or written but repository metadata.
    pub dry_run: bool,
    /// RPM roots: a requested package may remove installed ones it
    /// conflicts with (`install --allowerasing`, as dnf; always in build
    /// roots, which are thrown away).
    pub allow_erasing: bool,
}

impl Options<'_> {
    /// The accel mode in force: the command line's, the config's, or
    /// `default` (the command's own).
    pub fn accel_mode(
        &self,
        config: &Config,
        default: crate::config::AccelMode,
    ) -> crate::config::AccelMode {
        self.accel.or(config.accel.mode).unwrap_or(default)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("config `{name}` has no enabled apt repository")]
    NoRepo { name: String },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("cannot resolve the package set")]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error("cannot open the cached package `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A step run by a process confined to the root; `what` says which.
    #[error("cannot {what}")]
    Confined {
        what: &'static str,
        #[source]
        source: ConfinedError,
    },
    #[error("cannot run the root's dpkg")]
    Sandbox(#[from] SandboxError),
    #[error("{step} failed in the root (exit status {code}); the log is `{}`", log.display())]
    Configure {
        step: String,
        code: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot write `{}`", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    RpmMetadata(#[from] crate::repo::rpmmd::metadata::MetadataError),
    #[error("cannot resolve the package set")]
    RpmResolve(#[from] crate::resolve::rpm::ResolveError),
    #[error("config `{name}`: {problem}")]
    Request { name: String, problem: String },
    #[error("repository `{repo}`: cannot load the key `{url}`")]
    Key {
        repo: String,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("package `{package}` is refused")]
    Package {
        package: String,
        #[source]
        source: crate::unpack::rpm::RpmError,
    },
    #[error("installing {requested} would remove the installed {installed}: they conflict")]
    WouldErase {
        requested: String,
        installed: String,
    },
    #[error("interrupted")]
    Interrupted,
}

impl InitError {
    /// What the user can do about it, where that is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            InitError::Metadata(e) => e.hint(),
            InitError::RpmMetadata(e) => e.hint(),
            InitError::Key { url, .. } if url.contains("distribution-gpg-keys") => Some(
                "on Fedora or EPEL hosts: `dnf install distribution-gpg-keys`; elsewhere put the distribution's key file in place and point `gpgkey` at it (or set `gpgcheck = false` to skip verification)"
                    .into(),
            ),
            InitError::Package { .. } => Some(
                "the package in the cache was checked against the repository and its signature; \
                 a signature problem means the repository's `gpgkey` list does not hold the key that signed it"
                    .into(),
            ),
            InitError::Download(e) => e.source.hint(),
            InitError::Configure { .. } => {
                Some("the root was not changed; the whole output is in the log".into())
            }
            InitError::WouldErase { .. } => Some(
                "nothing was changed; add `--allowerasing` to remove them (as dnf would)".into(),
            ),
            _ => None,
        }
    }
}

/// Where `install` puts packages: a root (the ready one, or a build's
/// overlay of it) and the log its package manager writes to.
#[derive(Debug, Clone)]
pub struct Target {
    pub root: PathBuf,
    pub log: PathBuf,
    /// Native helpers for the commands run in the root.
    pub helpers: crate::accel::Accel,
}

impl Target {
    /// Appends `brt: TEXT` to the target's log (a step that ran nothing
    /// still leaves a line there).
    pub fn note(&self, text: &str) {
        if let Ok(mut f) = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
        {
            let _ = writeln!(f, "brt: {text}");
        }
    }

    /// The ready root itself, logging to `result/root.log`.
    pub fn ready_root(layout: &Layout) -> Result<Target, InitError> {
        let dir = layout.result_dir();
        fs_err::create_dir_all(&dir).map_err(|source| InitError::Log {
            path: dir.clone(),
            source,
        })?;
        Ok(Target {
            root: layout.root(),
            log: dir.join("root.log"),
            helpers: Default::default(),
        })
    }
}

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
pub(crate) struct Timer {
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

/// Every repository's packages as one list for the resolver, and which
/// repository each came from.
pub(crate) struct Universe {
    pub packages: Vec<DebPackage>,
    /// `base[i]`: which of `urls` `packages[i]` comes from.
    base: Vec<usize>,
    urls: Vec<String>,
}

impl Universe {
    /// Moves the packages out of `indexes` (nothing else reads them).
    pub(crate) fn new(indexes: &mut [AptIndex]) -> Universe {
        let mut u = Universe {
            packages: Vec::new(),
            base: Vec::new(),
            urls: indexes.iter().map(|i| i.url.clone()).collect(),
        };
        for (i, index) in indexes.iter_mut().enumerate() {
            u.base.extend(std::iter::repeat_n(i, index.packages.len()));
            u.packages.append(&mut index.packages);
        }
        u
    }

    /// `packages[i]` as a transaction step (`names`: the repositories'
    /// names, in order; nothing to download when the cache has it).
    pub(crate) fn step(
        &self,
        i: usize,
        action: Action,
        from: Option<String>,
        names: &[String],
        cache: &PackageCache,
    ) -> Step {
        let p = &self.packages[i];
        Step {
            action,
            name: p.name.clone(),
            arch: p.architecture.clone(),
            version: p.version.to_string(),
            epoch: None,
            release: None,
            from,
            repo: names
                .get(self.base[i])
                .cloned()
                .unwrap_or_else(|| self.urls[self.base[i]].clone()),
            size: if cache.contains(&p.sha256) { 0 } else { p.size },
        }
    }

    /// What to fetch for `packages[i]`.
    pub(crate) fn download(&self, i: usize) -> Download {
        let p = &self.packages[i];
        Download {
            label: format!("{} {}", p.name, p.version),
            urls: vec![format!("{}/{}", self.urls[self.base[i]], p.filename)],
            expected: Expected {
                size: Some(p.size),
                sha256: p.sha256.clone(),
            },
        }
    }
}

/// Bootstraps `config` into `layout` (the caller holds the exclusive lock
/// and has checked that the root is not ready).
pub fn init(layout: &Layout, config: &Config, opts: &Options) -> Result<Report, InitError> {
    run_init(layout, config, |run| init_steps(layout, config, opts, run))
}

/// What the steps of one init share: the phase timer and the root log.
pub(crate) struct InitRun {
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
    opts: &Options,
    run: &mut InitRun,
    key: &str,
    packages: impl FnOnce() -> Vec<String>,
) -> Result<Option<Staged>, InitError> {
    let cache = super::rootcache::RootCache::new(&opts.cachedir);
    if !opts.root_cache || !cache.contains(key) {
        return Ok(None);
    }
    let staging = Staging::create(layout, "init")?;
    let how = cache
        .restore(key, &staging.root())
        .map_err(|source| InitError::Log {
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
    opts: &Options,
    run: &mut InitRun,
    key: &str,
    staging: &Staging,
) -> Option<String> {
    if !opts.root_cache {
        return None;
    }
    let cache = super::rootcache::RootCache::new(&opts.cachedir);
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
    steps: impl FnOnce(&mut InitRun) -> Result<Staged, InitError>,
) -> Result<Report, InitError> {
    let result = run_init_staged(layout, config, steps);
    if result.is_err() && layout.root().symlink_metadata().is_err() {
        let _ = fs_err::remove_file(layout.state_file());
    }
    result
}

fn run_init_staged(
    layout: &Layout,
    config: &Config,
    steps: impl FnOnce(&mut InitRun) -> Result<Staged, InitError>,
) -> Result<Report, InitError> {
    let result_dir = layout.result_dir();
    let log_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Log { path, source }
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
    opts: &Options,
) -> Result<u64, InitError> {
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
    opts: &Options,
) -> Result<u64, InitError> {
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
        return Err(InitError::Interrupted);
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

/// What an init of a config installs, from its repositories' metadata.
struct InitPlan {
    fetcher: Fetcher,
    indexes: Vec<AptIndex>,
    universe: Universe,
    chosen: Vec<usize>,
}

/// Steps 1 and 2 of an init: the metadata, then the package set
/// (`lap` ends each phase).
fn plan_init(
    config: &Config,
    opts: &Options,
    lap: &mut dyn FnMut(&'static str),
) -> Result<InitPlan, InitError> {
    (opts.say)("fetching repository metadata");
    let fetcher = Fetcher::new(opts.offline);
    let mut indexes = fetch_metadata(&fetcher, config, &opts.cachedir, false)?;
    let universe = Universe::new(&mut indexes);
    lap("metadata");
    let mut packages = config.install.packages.clone();
    // brt makes /usr merged itself (as debootstrap and mmdebstrap do), so
    // the package that says so goes in, not `usrmerge` (which converts a
    // root and pulls in perl), unless the config asks for `usrmerge`.
    if universe.packages.iter().any(|p| p.name == "usr-is-merged")
        && !packages.iter().any(|p| p == "usrmerge")
    {
        packages.push("usr-is-merged".into());
    }
    let request = DebRequest {
        arch: config.arch.deb,
        essential: true,
        required: true,
        packages,
        relations: Vec::new(),
        recommends: config.install.weak_deps,
        favored: Vec::new(),
    };
    let chosen = resolve(&universe.packages, &request)?;
    Ok(InitPlan {
        fetcher,
        indexes,
        universe,
        chosen,
    })
}

/// `init --dry-run`: what an init would install, downloading and writing
/// nothing but repository metadata into the cache.
pub fn dry_run(config: &Config, opts: &Options) -> Result<Transaction, InitError> {
    let plan = plan_init(config, opts, &mut |_| {})?;
    let cache = PackageCache::new(&opts.cachedir);
    let names = deb_repo_names(config);
    let packages = plan
        .chosen
        .iter()
        .map(|&i| plan.universe.step(i, Action::Install, None, &names, &cache))
        .collect();
    Ok(Transaction { packages })
}

/// The names of the enabled apt repositories, in the order of their indexes.
pub(crate) fn deb_repo_names(config: &Config) -> Vec<String> {
    config
        .repos
        .iter()
        .filter(|r| r.enabled && matches!(r.kind, RepoKind::Deb(_)))
        .map(|r| r.name.clone())
        .collect()
}

fn init_steps(
    layout: &Layout,
    config: &Config,
    opts: &Options,
    run: &mut InitRun,
) -> Result<Staged, InitError> {
    // 1. Metadata, 2. resolve.
    let InitPlan {
        fetcher,
        indexes,
        universe,
        chosen: chosen_ids,
    } = plan_init(config, opts, &mut |phase| run.timer.lap(phase))?;
    let arch = config.arch.deb;
    let chosen: Vec<&DebPackage> = chosen_ids.iter().map(|&i| &universe.packages[i]).collect();
    let _ = writeln!(run.root_log, "resolved {} packages:", chosen.len());
    for p in &chosen {
        let _ = writeln!(
            run.root_log,
            "  {} {} {}",
            p.name, p.version, p.architecture
        );
    }
    run.timer.lap("resolve");
    let state_packages = || {
        chosen
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
            .collect()
    };
    let key = super::rootcache::RootCache::key(
        config,
        &chosen
            .iter()
            .map(|p| format!("{} {} {} {}", p.name, p.version, p.architecture, p.sha256))
            .collect::<Vec<_>>(),
    );
    if let Some(staged) = from_root_cache(layout, opts, run, &key, state_packages)? {
        return Ok(staged);
    }

    // 3. Download.
    let cache = PackageCache::new(&opts.cachedir);
    let wanted: Vec<Download> = chosen_ids.iter().map(|&i| universe.download(i)).collect();
    let downloaded = fetch_packages(fetcher, &cache, &wanted, opts)?;
    run.timer.lap("download");

    // 4. Unpack natively.
    (opts.say)(&format!("unpacking {} packages", chosen.len()));
    let staging = Staging::create(layout, "init")?;
    let debs = chosen
        .iter()
        .map(|c| {
            let path = cache.path(&c.sha256);
            fs_err::File::open(&path)
                .map(|f| (format!("{} {}", c.name, c.version), File::from(f)))
                .map_err(|source| InitError::Cache { path, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let apt = AptSetup::new(config, &indexes)?;
    let arch_owned = arch.to_string();
    confined::run(&staging.root(), move || {
        unpack_all(debs, &arch_owned)?;
        apt.write()?;
        Ok(())
    })
    .map_err(|source| InitError::Confined {
        what: "unpack the packages into the new root",
        source,
    })?;
    run.timer.lap("unpack");
    if confined::interrupted() {
        return Err(InitError::Interrupted);
    }

    // 5. Configure under emulation with the root's own dpkg, arch-neutral
    // programs native where they can be.
    let emulated =
        crate::arch::native(crate::arch::Arch::host(), config.arch) != crate::arch::Native::Yes;
    let mode = opts.accel_mode(config, crate::config::AccelMode::Auto);
    // The root's dpkg status says "unpacked" yet: what is installed is the
    // resolved set.
    let accel = crate::accel::unneeded(mode, emulated).unwrap_or_else(|| {
        let installed = chosen
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        let mut indexes = crate::accel::Indexes::default();
        crate::accel::deb::prepare(
            config,
            mode,
            &staging.root(),
            &installed,
            opts,
            &mut indexes,
        )
    });
    run.timer.lap("accel");
    accel.log(&mut run.root_log, opts.say, emulated);
    (opts.say)("running maintainer scripts with the root's dpkg");
    let order = preinst_order(&chosen, arch);
    let _ = run.root_log.flush();
    configure(
        &staging.root(),
        arch,
        &order,
        opts,
        &run.root_log_path,
        &accel,
    )?;
    run.timer.lap("configure");
    if confined::interrupted() {
        return Err(InitError::Interrupted);
    }
    let cache_key = to_root_cache(layout, opts, run, &key, &staging);

    Ok(Staged {
        staging,
        packages: state_packages(),
        downloaded,
        cache_key,
    })
}

/// `state.json` says bootstrapping while no root is in place, so `brt list`
/// and a killed init's successor both see a root that is not ready.
pub(crate) fn mark_bootstrapping(layout: &Layout, config: &Config) -> Result<(), InitError> {
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
    super::staging::write_atomic(&layout.state_file(), text.as_bytes(), 0o644).map_err(|source| {
        InitError::Log {
            path: layout.state_file(),
            source,
        }
    })
}

pub(crate) fn fetch_metadata(
    fetcher: &Fetcher,
    config: &Config,
    cachedir: &Path,
    refresh: bool,
) -> Result<Vec<AptIndex>, InitError> {
    fetch_metadata_for(fetcher, config, cachedir, refresh, config.arch.deb)
}

/// The config's repositories' metadata for the Debian architecture `arch`
/// (the root's, or the host's for the native helpers).
pub(crate) fn fetch_metadata_for(
    fetcher: &Fetcher,
    config: &Config,
    cachedir: &Path,
    refresh: bool,
    arch: &str,
) -> Result<Vec<AptIndex>, InitError> {
    let mut indexes = Vec::new();
    for repo in config.repos.iter().filter(|r| r.enabled) {
        let RepoKind::Deb(deb) = &repo.kind else {
            continue;
        };
        let source = AptSource {
            name: &repo.name,
            url: &deb.url,
            suite: &deb.suite,
            components: &deb.components,
            keyring: &deb.keyring,
            gpgcheck: repo.gpgcheck,
            refresh,
        };
        indexes.push(metadata::load(fetcher, cachedir, &source, arch)?);
    }
    if indexes.is_empty() {
        return Err(InitError::NoRepo {
            name: config.name.clone(),
        });
    }
    Ok(indexes)
}

/// Debian's merged /usr: the top-level directories are symlinks into /usr
/// before any package is unpacked (what debootstrap and mmdebstrap do for
/// bookworm and later). The list is debootstrap's.
fn merged_usr_links(arch: &str) -> Vec<&'static str> {
    let mut dirs = vec!["bin", "sbin", "lib"];
    dirs.extend_from_slice(match arch {
        "amd64" => &["lib32", "lib64", "libx32"][..],
        "i386" => &["lib64", "libx32"],
        "ppc64el" | "powerpc" => &["lib64"],
        "s390x" => &["lib32"],
        "mips64el" => &["lib32", "lib64", "libo32"],
        _ => &[],
    });
    dirs
}

/// Runs confined to the new root: unpack every package and write dpkg's
/// database.
fn unpack_all(debs: Vec<(String, File)>, arch: &str) -> confined::ChildResult {
    let root = Path::new("/");
    for dir in merged_usr_links(arch) {
        fs_err::create_dir_all(root.join("usr").join(dir))?;
        std::os::unix::fs::symlink(format!("usr/{dir}"), root.join(dir))?;
    }
    let mut db = DpkgDb::new(root)?;
    let unpacker = Unpacker::in_root(root, Ownership::Preserve);
    for (label, file) in debs {
        let unpacked = read_deb(
            io::BufReader::with_capacity(1 << 20, file),
            |control, data| unpack_data(&unpacker, control.conffiles(), data),
        );
        let (control, paths) = unpacked.map_err(|e| UnpackError {
            package: label.clone(),
            source: e,
        })?;
        db.add(&control, &paths).map_err(|e| UnpackError {
            package: label.clone(),
            source: ReadDebError::Data(ArchiveError::Read { source: e }),
        })?;
    }
    db.finish()?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot unpack `{package}`")]
struct UnpackError {
    package: String,
    #[source]
    source: ReadDebError<ArchiveError>,
}

/// Unpacks one data archive; returns its member paths. Conffiles go to
/// `NAME.dpkg-new` (dpkg renames them when it configures the package). A
/// member that passes through a symlink the same package made is refused:
/// that is how a package would write where its own file list says it does
/// not.
fn unpack_data(
    unpacker: &Unpacker,
    conffiles: Vec<String>,
    data: &mut dyn io::Read,
) -> Result<Vec<PathBuf>, ArchiveError> {
    let conffiles: HashSet<PathBuf> = conffiles
        .iter()
        .map(|c| PathBuf::from(c.trim_start_matches('/')))
        .collect();
    let mut paths = Vec::new();
    let mut links: Vec<PathBuf> = Vec::new();
    unpacker.unpack_observed(data, &mut |rel, kind| {
        if let Some(link) = links
            .iter()
            .find(|l| rel.starts_with(l) && rel != l.as_path())
        {
            return Err(io::Error::other(format!(
                "it passes through `/{}`, a symlink in the same package",
                link.display()
            )));
        }
        paths.push(rel.to_path_buf());
        if kind == tar::EntryType::Symlink {
            links.push(rel.to_path_buf());
        }
        Ok(conffiles.contains(rel).then(|| {
            let mut new = rel.as_os_str().to_owned();
            new.push(".dpkg-new");
            PathBuf::from(new)
        }))
    })?;
    Ok(paths)
}

/// apt's configuration in the new root: sources from the config, the
/// keyring that verified them, and the verified index files as apt's
/// lists, so apt works at once without `apt-get update`.
pub(crate) struct AptSetup {
    sources: String,
    keyrings: Vec<(String, Vec<u8>)>,
    /// apt list name, open cached file, whether to decompress.
    lists: Vec<(String, File, String)>,
}

impl AptSetup {
    pub(crate) fn new(config: &Config, indexes: &[AptIndex]) -> Result<AptSetup, InitError> {
        let mut sources =
            String::from("# Written by brt from its config; `brt -r NAME config` shows it.\n");
        let mut keyrings = Vec::new();
        let deb_repos = config
            .repos
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| match &r.kind {
                RepoKind::Deb(d) => Some((r, d)),
                RepoKind::Rpm(_) => None,
            });
        let mut lists = Vec::new();
        for ((repo, deb), index) in deb_repos.zip(indexes) {
            let options = match &index.keyring {
                Some(k) => {
                    let name = format!("brt-{}.gpg", repo.name);
                    let bytes = fs_err::read(k).map_err(|source| InitError::Cache {
                        path: k.clone(),
                        source,
                    })?;
                    keyrings.push((name.clone(), bytes));
                    format!("[signed-by=/etc/apt/keyrings/{name}] ")
                }
                None => "[trusted=yes] ".to_string(),
            };
            let _ = writeln!(
                sources,
                "deb {options}{} {} {}",
                deb.url,
                deb.suite,
                deb.components.join(" ")
            );
            for (path, local) in &index.files {
                let plain = path
                    .strip_suffix(".xz")
                    .or_else(|| path.strip_suffix(".gz"))
                    .unwrap_or(path);
                let name = metadata::apt_list_name(&index.url, &index.suite, plain);
                let file = fs_err::File::open(local).map_err(|source| InitError::Cache {
                    path: local.clone(),
                    source,
                })?;
                lists.push((name, File::from(file), path.clone()));
            }
        }
        Ok(AptSetup {
            sources,
            keyrings,
            lists,
        })
    }

    /// Runs confined to the root.
    pub(crate) fn write(self) -> io::Result<()> {
        let root = Path::new("/");
        fs_err::create_dir_all(root.join("etc/apt/keyrings"))?;
        fs_err::write(root.join("etc/apt/sources.list"), &self.sources)?;
        for (name, bytes) in &self.keyrings {
            fs_err::write(root.join("etc/apt/keyrings").join(name), bytes)?;
        }
        let lists = root.join("var/lib/apt/lists");
        fs_err::create_dir_all(lists.join("partial"))?;
        for (name, file, path) in self.lists {
            let mut out = fs_err::File::create(lists.join(&name))?;
            io::copy(&mut decompressor(&path, io::BufReader::new(file)), &mut out)?;
        }
        Ok(())
    }
}

/// Packages in an order where each comes after what it (pre-)depends on,
/// as far as cycles allow; names as dpkg knows them (`name:arch` for
/// `Multi-Arch: same`).
fn preinst_order(chosen: &[&DebPackage], arch: &str) -> Vec<String> {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, c) in chosen.iter().enumerate() {
        by_name.insert(&c.name, i);
        for p in c.provides.iter().flatten() {
            by_name.entry(&p.name).or_insert(i);
        }
    }
    let mut order = Vec::with_capacity(chosen.len());
    let mut state = vec![0u8; chosen.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        chosen: &[&DebPackage],
        by_name: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        let pkg = chosen[i];
        for group in pkg.pre_depends.iter().chain(&pkg.depends) {
            if let Some(&j) = group.iter().find_map(|d| by_name.get(d.name.as_str())) {
                visit(j, chosen, by_name, state, order);
            }
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..chosen.len() {
        visit(i, chosen, &by_name, &mut state, &mut order);
    }
    order
        .into_iter()
        .map(|i| {
            let p = chosen[i];
            let a = if p.architecture == "all" {
                arch
            } else {
                &p.architecture
            };
            DpkgDb::info_name(
                &p.name,
                a,
                p.multi_arch == crate::repo::apt::MultiArch::Same,
            )
        })
        .collect()
}

/// The script the root's shell runs: preinst scripts in dependency order
/// (dpkg would have run them before unpacking), then dpkg configures
/// everything in its own order and runs the triggers.
const CONFIGURE: &str = r#"set -e
echo "brt: preinst scripts"
for p in "$@"; do
    script="/var/lib/dpkg/info/$p.preinst"
    [ -x "$script" ] || continue
    echo "brt: $p.preinst install"
    DPKG_MAINTSCRIPT_PACKAGE="${p%%:*}" DPKG_MAINTSCRIPT_NAME=preinst \
        "$script" install
done
echo "brt: dpkg --configure -a"
dpkg --log=/var/log/dpkg.log --configure -a
"#;

fn configure(
    root: &Path,
    arch: &str,
    order: &[String],
    opts: &Options,
    log: &Path,
    accel: &crate::accel::Accel,
) -> Result<(), InitError> {
    let argv = sandbox::sh(CONFIGURE, order.iter().cloned());
    run_logged(
        root,
        arch,
        "dpkg --configure -a",
        argv,
        accel.binds(),
        opts.interpreters.clone(),
        log,
    )
}

/// Runs a package-manager command in `root` under its emulation, without
/// network, with its output appended to `log`; a failure names the step
/// and the package dpkg reports, with the log's tail.
pub(crate) fn run_logged(
    root: &Path,
    arch: &str,
    step: &str,
    argv: Vec<String>,
    binds: Vec<sandbox::Bind>,
    interpreters: Vec<PathBuf>,
    log: &Path,
) -> Result<(), InitError> {
    let log_file = fs_err::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .map_err(|source| InitError::Log {
            path: log.to_path_buf(),
            source,
        })?;
    let mut spec = Spec::new(root.to_path_buf(), argv);
    spec.env.extend(
        [
            ("DEBIAN_FRONTEND", "noninteractive"),
            ("DEBCONF_NONINTERACTIVE_SEEN", "true"),
            ("LC_ALL", "C"),
            ("LANGUAGE", "C"),
            ("LANG", "C"),
            ("DPKG_ROOT", ""),
            ("DPKG_ADMINDIR", "/var/lib/dpkg"),
            ("DPKG_MAINTSCRIPT_ARCH", arch),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    spec.interpreters = interpreters;
    spec.binds = binds;
    spec.output = Some(log_file.as_raw_fd());
    // What a failed step wrote is thrown away; a finished root is synced
    // once (init before it is marked ready, `install` when it is done).
    spec.nosync = true;
    let code = sandbox::run(&spec)?;
    if code != 0 {
        let tail = tail(log, 25);
        let failed = failed_package(&tail);
        return Err(InitError::Configure {
            step: match failed {
                Some(p) => format!("`{step}` (package `{p}`)"),
                None => format!("`{step}`"),
            },
            code,
            log: log.to_path_buf(),
            tail,
        });
    }
    Ok(())
}

/// Runs the root's package manager through `script` in `target`, with the
/// package cache bound: `$1` is what to remove first (space-separated),
/// then come the package files; `packages` are (sha256, label). A failure
/// names the packages, not their cache paths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_installer(
    target: &Target,
    arch: &str,
    step: &str,
    script: &str,
    remove: &[String],
    packages: &[(String, String)],
    cache: &PackageCache,
    opts: &Options,
) -> Result<(), InitError> {
    let mut args = vec![remove.join(" ")];
    let mut labels = Vec::new();
    for (sha256, label) in packages {
        let path = format!("{CACHE_IN_ROOT}/{}", sha256.to_ascii_lowercase());
        labels.push((path.clone(), label.clone()));
        args.push(path);
    }
    let mut binds = vec![cache_bind(cache)];
    binds.extend(target.helpers.binds());
    run_logged(
        &target.root,
        arch,
        step,
        sandbox::sh(script, args),
        binds,
        opts.interpreters.clone(),
        &target.log,
    )
    .map_err(|e| relabel(e, &labels))
}

/// A failed step's message and log tail with cache paths replaced by the
/// packages they hold (`labels`: path, label).
pub(crate) fn relabel(e: InitError, labels: &[(String, String)]) -> InitError {
    match e {
        InitError::Configure {
            mut step,
            code,
            log,
            mut tail,
        } => {
            for (path, label) in labels {
                step = step.replace(path, label);
                tail = tail.replace(path, label);
            }
            InitError::Configure {
                step,
                code,
                log,
                tail,
            }
        }
        other => other,
    }
}

/// The package dpkg names in `dpkg: error processing package NAME (...)`,
/// or the last preinst brt started.
fn failed_package(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| {
            if let Some(rest) = l.strip_prefix("brt: scriptlet failed: ") {
                return Some(rest.split(" (exit").next().unwrap_or(rest).to_string());
            }
            l.strip_prefix("dpkg: error processing package ")
                .or_else(|| l.strip_prefix("dpkg: error processing archive "))
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        })
        .or_else(|| {
            log.lines().rev().find_map(|l| {
                l.strip_prefix("brt: ")
                    .and_then(|r| r.strip_suffix(".preinst install"))
                    .map(str::to_string)
            })
        })
}

/// The last `lines` lines of a log.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs_err::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
