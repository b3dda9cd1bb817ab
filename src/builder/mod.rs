//! Builds (docs/design.md §7): a source package built in a pristine overlay of
//! the ready root, its build dependencies installed natively, the build
//! itself run by the root's own tools as the unprivileged build user
//! without network; packages and logs collected into a result dir.
//!
//! The frame is shared by both families ([`run`]): the result dir and its
//! logs, the overlay, the build user, the phases and what a failure leaves.
//! `rpm.rs` and `deb.rs` supply the steps.

pub mod deb;
pub mod dsc;
pub mod rpm;
pub mod srpm;

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::Digest;

use crate::accel::Accel;
use crate::config::{AccelMode, Config, Family};
use crate::error::Explain;
use crate::root::Layout;
use crate::root::confined::{self, ConfinedError};
use crate::root::deb::Deb;
use crate::root::family::install::install;
use crate::root::family::pipeline::Timer;
use crate::root::family::{Context, PackageError, Phase, Target, tail};
use crate::root::overlay::{BuildRoot, OverlayError};
use crate::root::rpm::Rpm;
use crate::sandbox::{self, Bind, SandboxError, Spec};

/// Where the build user's home and the build tree are, inside the root.
pub const BUILDDIR: &str = "/builddir";
/// Where the result dir's staging dir appears inside the root.
const RESULT_IN_ROOT: &str = "/builddir/result";
/// Where the input files appear inside the root (read-only).
const INPUT_IN_ROOT: &str = "/builddir/originals";

/// How builds run; filled in by the command line.
pub struct BuildOptions<'a> {
    /// Downloads, emulation and messages, as for `install`.
    pub install: Context<'a>,
    pub resultdir: PathBuf,
    /// The build user's uid and gid inside the root.
    pub user: (u32, u32),
    /// Who gets the results (the user who ran sudo), if not root.
    pub owner: Option<(u32, u32)>,
    pub network: bool,
    /// Keep the build root after the build (for `shell --build ID`).
    pub keep: bool,
    /// Whether the root's binaries run under emulation.
    pub emulated: bool,
    /// Skip the package's tests (`--nocheck`: rpmbuild's `--nocheck`,
    /// Debian's `nocheck` build profile and `DEB_BUILD_OPTIONS`).
    pub nocheck: bool,
    /// rpmbuild's own options: `--define`, `--with`, `--without`, `--target`.
    pub rpm: RpmFlags,
    /// Earlier results of this run form a local repository (`--chain`).
    pub chain: Vec<PathBuf>,
    /// Debian roots: a local repository (`Packages` index) build
    /// dependencies may also come from (`--local-repo`).
    pub local_repo: Option<PathBuf>,
    /// Show `build.log` on stderr as it is written (`build -v`).
    pub live: bool,
}

/// rpmbuild's options from the command line.
#[derive(Debug, Clone, Default)]
pub struct RpmFlags {
    /// `NAME VALUE`
    pub defines: Vec<String>,
    pub with: Vec<String>,
    pub without: Vec<String>,
    pub target: Option<String>,
}

/// What to build.
#[derive(Debug, Clone)]
pub enum Input {
    /// A source package: `.src.rpm` or `.dsc`.
    Package(PathBuf),
    /// A spec file and the directory holding its sources (`buildsrpm`).
    Spec { spec: PathBuf, sources: PathBuf },
}

impl Input {
    /// The file that names the build (package or spec).
    pub fn path(&self) -> &Path {
        match self {
            Input::Package(p) | Input::Spec { spec: p, .. } => p,
        }
    }
}

/// What went wrong, by class: each has its exit code and JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Success,
    /// The input cannot be built here: unreadable, corrupt, not a source
    /// package, or its architecture list excludes the root's.
    Input,
    /// The build dependencies cannot be resolved, fetched or installed.
    Dependencies,
    /// The build itself failed (`rpmbuild`, `dpkg-buildpackage`).
    Build,
    /// Anything else (sandbox, overlay, results).
    Error,
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is refused", path.display())]
    BadInput {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{}` is not a {what}", path.display())]
    NotSource { path: PathBuf, what: &'static str },
    #[error("`{package}` does not build for {arch}: {why}")]
    Excluded {
        package: String,
        arch: String,
        why: String,
    },
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error("cannot install the build dependencies of `{package}`")]
    Dependencies {
        package: String,
        #[source]
        source: Box<PackageError>,
    },
    #[error(
        "`{package}`: the dynamic build dependencies still change after {rounds} rounds of `rpmbuild -br`"
    )]
    DynamicLoop { package: String, rounds: usize },
    #[error("cannot run the build in the root")]
    Sandbox(#[from] SandboxError),
    #[error("cannot {what} in the build root")]
    Confined {
        what: &'static str,
        #[source]
        source: ConfinedError,
    },
    #[error("the build of `{package}` failed{step} (exit status {code}); the log is `{}`", log.display())]
    Failed {
        package: String,
        /// ` in %build`, or empty when the log does not say.
        step: String,
        code: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot write the result `{}`", path.display())]
    Result {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

impl BuildError {
    pub fn class(&self) -> Class {
        match self {
            BuildError::Read { .. }
            | BuildError::BadInput { .. }
            | BuildError::NotSource { .. }
            | BuildError::Excluded { .. } => Class::Input,
            BuildError::Dependencies { source, .. }
                if matches!(**source, PackageError::Interrupted) =>
            {
                Class::Interrupted
            }
            BuildError::Dependencies { .. } | BuildError::DynamicLoop { .. } => Class::Dependencies,
            BuildError::Failed { .. } => Class::Build,
            BuildError::Interrupted => Class::Interrupted,
            _ => Class::Error,
        }
    }
}

impl Explain for BuildError {
    fn hint(&self) -> Option<String> {
        match self {
            BuildError::Dependencies { source, .. } => source.hint(),
            BuildError::Failed { .. } => Some(
                "the root was not changed; a build run with `--keep` can be entered with `shell --build ID`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// One file a build produced, in the result dir.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub path: PathBuf,
    pub sha256: String,
}

/// What one build did, succeeded or not.
#[derive(Debug)]
pub struct Report {
    pub input: PathBuf,
    pub input_sha256: String,
    pub resultdir: PathBuf,
    pub phases: Vec<Phase>,
    pub outputs: Vec<Output>,
    /// The build root's id, when it was kept.
    pub kept: Option<String>,
    /// The build tool's exit status, when it ran.
    pub build_status: Option<i32>,
    /// The native helpers of the build step.
    pub accel: Accel,
    pub result: Result<(), BuildError>,
}

impl Report {
    pub fn class(&self) -> Class {
        match &self.result {
            Ok(()) => Class::Success,
            Err(e) => e.class(),
        }
    }
}

/// The state of one build, passed to the family's steps.
pub(crate) struct Build<'a> {
    pub config: &'a Config,
    pub opts: &'a BuildOptions<'a>,
    pub root: BuildRoot,
    /// Host files bound read-only into [`INPUT_IN_ROOT`] under their names:
    /// the input first and, for a `.dsc`, the files it lists.
    pub inputs: Vec<PathBuf>,
    /// The result dir's staging dir, bound at [`RESULT_IN_ROOT`].
    pub staging: PathBuf,
    /// `root.log`: what the package manager printed.
    pub target: Target,
    pub build_log: PathBuf,
    /// The phases, logged to `state.log`.
    timer: Timer,
    /// Held for the whole build: one build at a time writes a result dir.
    _result_lock: nix::fcntl::Flock<std::fs::File>,
    pub build_status: Option<i32>,
    /// The native helpers of the build step.
    pub accel: Accel,
    /// The host-arch indexes the helpers came from, for the next ask.
    indexes: crate::accel::Indexes,
}

impl Build<'_> {
    /// The native helpers for the build root as it is now, said to the user
    /// and in `log`.
    pub(crate) fn helpers(&mut self, log: &Path) -> Accel {
        let mode = self.opts.install.accel_mode(self.config, AccelMode::Tools);
        let accel = crate::accel::for_root(
            self.config,
            mode,
            &self.root.merged(),
            self.opts.emulated,
            &self.opts.install,
            &mut self.indexes,
        );
        if let Ok(mut f) = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            accel.log(&mut f, self.opts.install.say, self.opts.emulated);
        }
        accel
    }

    /// Ends the current phase: logged to `state.log` with its duration.
    pub(crate) fn lap(&mut self, name: &'static str) {
        self.timer.lap(name);
    }

    /// The input file on the host (`.src.rpm`, `.dsc`, or the spec).
    pub(crate) fn input(&self) -> &Path {
        &self.inputs[0]
    }

    /// Where the build root is mounted.
    pub(crate) fn merged(&self) -> PathBuf {
        self.root.merged()
    }

    /// A command run as the build user in the build root, without network
    /// unless asked, with the input dir and the result staging dir bound.
    pub(crate) fn user_spec(&self, argv: Vec<String>, cwd: &str) -> Spec {
        let mut spec = Spec::new(self.merged(), argv);
        spec.user = Some(self.opts.user);
        spec.network = self.opts.network;
        spec.interpreters = self.opts.install.interpreters.clone();
        spec.cwd = cwd.into();
        spec.hostname = self.hostname();
        // The build root is thrown away; results are synced as collected.
        spec.nosync = true;
        spec.binds = self
            .inputs
            .iter()
            .map(|p| Bind {
                source: p.clone(),
                target: Path::new(INPUT_IN_ROOT).join(p.file_name().unwrap_or_default()),
                readonly: true,
            })
            .collect();
        spec.binds.push(Bind {
            source: self.staging.clone(),
            target: RESULT_IN_ROOT.into(),
            readonly: false,
        });
        spec.binds.extend(self.accel.binds());
        let user = self.config.build.user.clone();
        spec.env = [
            ("PATH", sandbox::DEFAULT_PATH),
            ("HOME", BUILDDIR),
            ("USER", &user),
            ("LOGNAME", &user),
            ("LANG", "C.UTF-8"),
            ("TERM", "dumb"),
            ("SHELL", "/bin/sh"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        spec
    }

    /// The build root's hostname, which its `/etc/hosts` resolves.
    fn hostname(&self) -> String {
        format!("brt-{}", self.root.id)
    }

    /// Runs `spec` with its output appended to `build.log`; its status.
    pub(crate) fn run_logged(&self, mut spec: Spec) -> Result<i32, BuildError> {
        let _follow = self
            .opts
            .live
            .then(|| Follow::start(&self.build_log))
            .flatten();
        let log = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.build_log)
            .map_err(|source| BuildError::Result {
                path: self.build_log.clone(),
                source,
            })?;
        spec.output = Some(std::os::fd::AsRawFd::as_raw_fd(&log));
        Ok(sandbox::run(&spec)?)
    }

    /// `installed_pkgs.log` in the result dir (brt's own dir, never the
    /// staging dir the build user can put links in).
    pub(crate) fn write_installed(&self, packages: &[String]) -> Result<(), BuildError> {
        let path = self.opts.resultdir.join("installed_pkgs.log");
        let mut text = packages.join("\n");
        text.push('\n');
        fs_err::write(&path, text).map_err(|source| BuildError::Result { path, source })
    }

    /// The build itself (`spec`): its status kept for the report, the
    /// phase `build` ended, a failure with the log's tail.
    pub(crate) fn run_build(&mut self, package: &str, spec: Spec) -> Result<(), BuildError> {
        let code = self.run_logged(spec)?;
        self.build_status = Some(code);
        self.lap("build");
        match code {
            0 => Ok(()),
            code => Err(self.failed(package, code)),
        }
    }

    /// A failed build step, with the tail of `build.log`.
    pub(crate) fn failed(&self, package: &str, code: i32) -> BuildError {
        // Ctrl-C reaches the build directly (same process group) while brt
        // waits, as with system(3): a build killed by SIGINT was interrupted.
        if code == 128 + libc::SIGINT {
            return BuildError::Interrupted;
        }
        let tail = tail(&self.build_log, 30);
        BuildError::Failed {
            package: package.to_string(),
            step: failed_step(&tail)
                .map(|s| format!(" in {s}"))
                .unwrap_or_default(),
            code,
            log: self.build_log.clone(),
            tail,
        }
    }

    /// Writes the build user's account and home into the build root:
    /// `/etc/passwd` and `/etc/group` entries (unless the ids exist),
    /// `/builddir` and `extra` files in it, all owned by the user; and the
    /// hostname in `/etc/hosts` (rpmbuild looks it up for `BUILDHOST`).
    pub(crate) fn prepare_user(&self, extra: Vec<(String, String)>) -> Result<(), BuildError> {
        let (uid, gid) = self.opts.user;
        let name = self.config.build.user.clone();
        let hostname = self.hostname();
        confined::run(&self.merged(), move || {
            add_account(&name, uid, gid)?;
            let mut hosts = fs_err::OpenOptions::new()
                .append(true)
                .create(true)
                .open("/etc/hosts")?;
            writeln!(hosts, "127.0.0.1 {hostname}")?;
            for dir in [
                "/builddir",
                "/builddir/build",
                RESULT_IN_ROOT,
                INPUT_IN_ROOT,
            ] {
                fs_err::create_dir_all(dir)?;
                nix::unistd::chown(dir, Some(uid.into()), Some(gid.into()))?;
            }
            for (path, text) in &extra {
                fs_err::write(path, text)?;
                nix::unistd::chown(path.as_str(), Some(uid.into()), Some(gid.into()))?;
            }
            Ok(())
        })
        .map_err(|source| BuildError::Confined {
            what: "create the build user",
            source,
        })
    }
}

/// `build -v`: what is appended to a log is copied to stderr while a step
/// runs, by `tail -f` (which also stops when brt is gone, kill -9 included).
/// When the step is done, tail gets a moment to print the rest (it is
/// woken by inotify, and polls every 0.1 s), then is stopped.
struct Follow {
    tail: std::process::Child,
}

impl Follow {
    fn start(log: &Path) -> Option<Follow> {
        use std::os::fd::AsFd;
        use std::process::{Command, Stdio};
        let offset = fs_err::metadata(log).map_or(0, |m| m.len());
        let stderr = io::stderr().as_fd().try_clone_to_owned().ok()?;
        let tail = Command::new("tail")
            .args(["-s", "0.1", "-f", "-c"])
            .arg(format!("+{}", offset + 1))
            .arg(format!("--pid={}", std::process::id()))
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stderr))
            .spawn()
            .ok()?;
        Some(Follow { tail })
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = self.tail.kill();
        let _ = self.tail.wait();
    }
}

/// Adds `name` (uid, gid) to the root's passwd and group files, unless the
/// uid (or gid) already has an entry.
fn add_account(name: &str, uid: u32, gid: u32) -> io::Result<()> {
    let has_id = |text: &str, id: u32| {
        text.lines()
            .any(|l| l.split(':').nth(2) == Some(id.to_string().as_str()))
    };
    let group = fs_err::read_to_string("/etc/group").unwrap_or_default();
    if !has_id(&group, gid) {
        let mut f = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open("/etc/group")?;
        writeln!(f, "{name}:x:{gid}:")?;
    }
    let passwd = fs_err::read_to_string("/etc/passwd").unwrap_or_default();
    if !has_id(&passwd, uid) {
        let mut f = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open("/etc/passwd")?;
        writeln!(f, "{name}:x:{uid}:{gid}:brt build user:{BUILDDIR}:/bin/sh")?;
    }
    Ok(())
}

/// The step rpmbuild names in `error: Bad exit status from … (%build)`.
fn failed_step(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let rest = l.split("Bad exit status from ").nth(1)?;
        let open = rest.rfind('(')?;
        Some(rest[open + 1..].trim_end_matches(')').to_string())
    })
}

/// `build --dry-run`: the build dependencies of `input` that a build would
/// install into a fresh build root, worked out against the ready root
/// (read only: nothing is downloaded, mounted or written but repository
/// metadata). Dynamic build dependencies (`%generate_buildrequires`) need
/// the build itself and are not in it.
pub fn dry_run(
    layout: &Layout,
    config: &Config,
    input: &Path,
    opts: &Context,
) -> Result<crate::root::transaction::Transaction, BuildError> {
    let target = Target {
        root: layout.root(),
        log: PathBuf::from("/dev/null"),
        helpers: Accel::default(),
    };
    let deps = |package: String| {
        move |source| BuildError::Dependencies {
            package,
            source: Box::new(source),
        }
    };
    let changes = match config.distro.family {
        Family::Deb => {
            let dsc = dsc::Dsc::read(input)?;
            let mut relations: Vec<String> = deb::IMPLICIT.iter().map(|s| s.to_string()).collect();
            relations.extend(dsc.relations(config.arch.deb));
            install(&Deb, &target, config, Some(&relations), None, opts).map_err(deps(dsc.name))?
        }
        Family::Rpm => {
            let srpm = srpm::SourceRpm::read(input)?;
            let extra = crate::root::rpm::install::Extra {
                requires: srpm.build_requires,
                local: Vec::new(),
            };
            install(&Rpm, &target, config, Some(&[]), extra, opts).map_err(deps(srpm.nvr))?
        }
    };
    Ok(changes.transaction)
}

/// Builds `input` in a fresh overlay of the ready root. Always returns a
/// report, so that a rebuild system gets one for a failure too.
pub fn run(layout: &Layout, config: &Config, input: &Input, opts: &BuildOptions) -> Report {
    let input_sha256 = sha256_file(input.path()).unwrap_or_default();
    let mut report = Report {
        input: fs_err::canonicalize(input.path()).unwrap_or(input.path().to_path_buf()),
        input_sha256,
        resultdir: opts.resultdir.clone(),
        phases: Vec::new(),
        outputs: Vec::new(),
        kept: None,
        build_status: None,
        accel: Accel::default(),
        result: Ok(()),
    };
    let mut build = match start(layout, config, input, opts, Instant::now()) {
        Ok(b) => b,
        Err(e) => {
            report.result = Err(e);
            return report;
        }
    };
    let result = match (input, config.distro.family) {
        (Input::Spec { .. }, _) => rpm::build_srpm(&mut build),
        (Input::Package(_), Family::Rpm) => rpm::build(&mut build),
        (Input::Package(_), Family::Deb) => deb::build(&mut build),
    };
    // Ctrl-C reaches the build tool too, which then fails: say why.
    let result = if confined::interrupted() {
        Err(BuildError::Interrupted)
    } else {
        result
    };
    let collected = collect(&build);
    build.lap("collect");
    report.build_status = build.build_status;
    report.accel = std::mem::take(&mut build.accel);
    report.phases = std::mem::take(&mut build.timer.phases);
    let staging = build.staging.clone();
    match collected {
        Ok(outputs) => report.outputs = outputs,
        Err(e) if result.is_ok() => report.result = Err(e),
        Err(_) => {}
    }
    let _ = fs_err::remove_dir_all(&staging);
    if report.result.is_ok() {
        report.result = result;
    }
    if opts.keep {
        report.kept = Some(build.root.keep());
    } else {
        build.root.discard();
    }
    // What the build user made becomes the invoking user's (or root's).
    let (uid, gid) = opts.owner.unwrap_or((0, 0));
    give(&opts.resultdir, uid, gid);
    report
}

/// The result dir with fresh logs, the overlay mounted, the build user in it.
fn start<'a>(
    layout: &Layout,
    config: &'a Config,
    input: &Input,
    opts: &'a BuildOptions<'a>,
    started: Instant,
) -> Result<Build<'a>, BuildError> {
    let canonical = |p: &Path| {
        fs_err::canonicalize(p).map_err(|source| BuildError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let inputs = match input {
        Input::Package(p) => vec![canonical(p)?],
        Input::Spec { spec, sources } => vec![canonical(spec)?, canonical(sources)?],
    };
    let result_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Result { path, source }
    };
    let dir = &opts.resultdir;
    fs_err::create_dir_all(dir).map_err(result_err(dir))?;
    let result_lock = lock_result_dir(dir, opts.install.say)?;
    let open = |name: &str| {
        let path = dir.join(name);
        fs_err::File::create(&path).map_err(result_err(&path))
    };
    let state_log = open("state.log")?;
    open("root.log")?;
    open("build.log")?;
    let _ = fs_err::remove_file(dir.join("installed_pkgs.log"));
    let mut root = BuildRoot::create(layout)?;
    let staging = root.dir.join("result");
    fs_err::create_dir(&staging).map_err(result_err(&staging))?;
    nix::unistd::chown(&staging, Some(opts.user.0.into()), Some(opts.user.1.into())).map_err(
        |e| BuildError::Result {
            path: staging.clone(),
            source: e.into(),
        },
    )?;
    root.mount(&layout.root())?;
    let merged = root.merged();
    let mut build = Build {
        config,
        opts,
        root,
        inputs,
        staging,
        target: Target {
            root: merged,
            log: dir.join("root.log"),
            helpers: Default::default(),
        },
        build_log: dir.join("build.log"),
        timer: Timer::new(state_log, started),
        _result_lock: result_lock,
        build_status: None,
        accel: Accel::default(),
        indexes: Default::default(),
    };
    build.lap("build-root");
    Ok(build)
}

/// Locks `dir/.lock`: two builds into one result dir would mix their logs,
/// so the second waits, and says so.
fn lock_result_dir(
    dir: &Path,
    say: &dyn Fn(&str),
) -> Result<nix::fcntl::Flock<std::fs::File>, BuildError> {
    use nix::fcntl::{Flock, FlockArg};
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| BuildError::Result {
            path: path.clone(),
            source,
        })?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(lock),
        Err((file, nix::Error::EWOULDBLOCK)) => file,
        Err((_, e)) => {
            return Err(BuildError::Result {
                path,
                source: e.into(),
            });
        }
    };
    say(&format!(
        "waiting: another build writes to `{}`",
        dir.display()
    ));
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| match e {
        nix::Error::EINTR => BuildError::Interrupted,
        e => BuildError::Result {
            path,
            source: e.into(),
        },
    })
}

/// Moves what the build left in the staging dir into the result dir:
/// regular files only (the build user wrote that dir).
fn collect(build: &Build) -> Result<Vec<Output>, BuildError> {
    let mut outputs = Vec::new();
    let Ok(entries) = fs_err::read_dir(&build.staging) else {
        return Ok(outputs);
    };
    let mut names: Vec<_> = entries.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        if !md.is_file() || md.nlink() != 1 {
            continue;
        }
        let name = e.file_name();
        let dest = build.opts.resultdir.join(&name);
        move_file(&e.path(), &dest)
            .and_then(|()| fs_err::File::open(&dest)?.sync_all())
            .map_err(|source| BuildError::Result {
                path: dest.clone(),
                source,
            })?;
        if name.to_string_lossy() == "installed_pkgs.log" {
            continue;
        }
        let sha256 = sha256_file(&dest).map_err(|source| BuildError::Result {
            path: dest.clone(),
            source,
        })?;
        outputs.push(Output { path: dest, sha256 });
    }
    Ok(outputs)
}

/// Renames, or copies when `dest` is on another filesystem.
fn move_file(src: &Path, dest: &Path) -> io::Result<()> {
    match fs_err::rename(src, dest) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let tmp = dest.with_extension("brt-part");
            fs_err::copy(src, &tmp)?;
            fs_err::rename(&tmp, dest)
        }
        r => r,
    }
}

/// Gives the result dir and the files in it to `uid`:`gid`.
fn give(dir: &Path, uid: u32, gid: u32) {
    let _ = nix::unistd::chown(dir, Some(uid.into()), Some(gid.into()));
    if let Ok(entries) = fs_err::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().symlink_metadata().is_ok_and(|m| m.is_file()) {
                let _ = nix::unistd::chown(&e.path(), Some(uid.into()), Some(gid.into()));
            }
        }
    }
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = fs_err::File::open(path)?;
    let mut h = sha2::Sha256::new();
    io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_step_is_read_from_rpmbuilds_message() {
        let log = "gcc -o x x.c\nx.c:1: error: expected ';'\nerror: Bad exit status from /var/tmp/rpm-tmp.Ab12 (%build)\n\nRPM build errors:\n    Bad exit status from /var/tmp/rpm-tmp.Ab12 (%build)\n";
        assert_eq!(failed_step(log).as_deref(), Some("%build"));
        assert_eq!(failed_step("make: *** [all] Error 2"), None);
    }
}
