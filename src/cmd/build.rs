//! `brt -r NAME build PKG...`, `buildsrpm --spec F --sources DIR`, and
//! `clean` of kept build roots.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use super::progress::{Bar, Indicator};
use super::shell::{build_user_ids, emulation_support};
use super::{Settings, UsageError, exit, lock_waiting};
use crate::cli::{BuildArgs, BuildCommon, BuildsrpmArgs, CleanArgs};
use brt::binfmt::Support;
use brt::builder::{self, BuildError, BuildOptions, Class, Input, Output, Report, RpmFlags};
use brt::config::{Config, Family};
use brt::error::Explain;
use brt::fetch::Reporter;
use brt::root::family::{Context, PackageError, Phase};
use brt::root::lock::RootLock;
use brt::root::overlay::{self, BuildRoot};
use brt::root::{Layout, confined};

pub fn build(settings: &Settings, args: BuildArgs) -> Result<i32> {
    let inputs = args.packages.into_iter().map(Input::Package).collect();
    let more = More {
        chain: args.chain,
        local_repo: args.local_repo,
        root_image: args.root_image,
    };
    run(settings, inputs, more, args.common)
}

/// What only `build` has.
#[derive(Default)]
struct More {
    /// `--chain`.
    chain: bool,
    /// `--local-repo DIR`.
    local_repo: Option<PathBuf>,
    /// `--root-image FILE`.
    root_image: Option<PathBuf>,
}

pub fn buildsrpm(settings: &Settings, args: BuildsrpmArgs) -> Result<i32> {
    let config = settings.config()?;
    if config.distro.family != Family::Rpm {
        return Err(UsageError::Unsupported(format!(
            "`buildsrpm` makes source RPMs; root `{}` is of the Debian family",
            config.name
        ))
        .into());
    }
    let input = Input::Spec {
        spec: args.spec,
        sources: args.sources,
    };
    run(settings, vec![input], More::default(), args.common)
}

/// Removes the root and its kept build roots, or only build roots.
pub fn clean(settings: &Settings, args: CleanArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    if let Some(id) = args.build {
        BuildRoot::open_kept(&layout, &id)?.discard();
        settings.info(format!("removed build `{id}` of root `{}`", config.name));
        return Ok(exit::OK);
    }
    if args.builds {
        let n = overlay::sweep_builds(&layout, true);
        let busy = overlay::kept(&layout);
        settings.info(format!(
            "removed {n} build roots of root `{}`{}",
            config.name,
            if busy.is_empty() {
                String::new()
            } else {
                format!(" ({} in use: {})", busy.len(), busy.join(", "))
            }
        ));
        return Ok(exit::OK);
    }
    if !layout.dir.exists() {
        settings.info(format!(
            "root `{}` does not exist; nothing to do",
            config.name
        ));
        return Ok(exit::OK);
    }
    // Nobody may be using the root or one of its builds.
    let _lock = RootLock::exclusive(&layout, lock_waiting(settings, &config.name))?;
    overlay::sweep_builds(&layout, true);
    let busy = overlay::kept(&layout);
    if !busy.is_empty() {
        bail!(
            "root `{}` has build roots in use ({}); try again when they are done",
            config.name,
            busy.join(", ")
        );
    }
    for gone in [overlay::builds_dir(&layout), layout.root()] {
        if gone.symlink_metadata().is_ok() {
            fs_err::remove_dir_all(&gone)?;
        }
    }
    let _ = fs_err::remove_file(layout.state_file());
    settings.info(format!(
        "removed root `{}`; its result dir `{}` stays",
        config.name,
        layout.result_dir().display()
    ));
    Ok(exit::OK)
}

fn run(settings: &Settings, inputs: Vec<Input>, more: More, common: BuildCommon) -> Result<i32> {
    let config = settings.config()?;
    let deb = config.distro.family == Family::Deb;
    let chain = more.chain || (more.local_repo.is_some() && !deb);
    if more.chain && deb {
        return Err(UsageError::Unsupported(format!(
            "`--chain` works for RPM roots only, and root `{}` is of the Debian family (`--local-repo DIR` works for both)",
            config.name
        ))
        .into());
    }
    let layout = Layout::new(&settings.basedir, &config.name);
    if let Some(image) = &more.root_image
        && layout.state() != brt::root::RootState::Ready
    {
        let code = super::import::run(
            settings,
            crate::cli::ImportArgs {
                path: image.clone(),
                replace: true,
            },
        )?;
        if code != exit::OK {
            return Ok(code);
        }
    }
    confined::catch_interrupts()?;
    // Before any thread: the overlays live in brt's own mount namespace.
    overlay::private_namespace()?;
    // A dry run bootstraps nothing (the root must be ready).
    if !common.dry_run
        && let Some(code) =
            super::init::ensure_ready(settings, &layout, common.parallel, common.accel)?
    {
        return Ok(code);
    }
    let _lock = match RootLock::shared(&layout, lock_waiting(settings, &config.name)) {
        Ok(lock) => lock,
        Err(_) if confined::interrupted() => return Ok(exit::INTERRUPTED),
        Err(e) => return Err(e.into()),
    };
    layout.require_ready()?;
    let _cache = super::packages::cache_lock(settings)?;
    let (interpreters, support) = emulation_support(&config)?;
    if common.dry_run {
        return dry_run(settings, &config, &layout, &inputs, &common, interpreters);
    }
    let emulated = matches!(support, Support::Emulated { .. });
    // `-v` shows the log itself; otherwise one line shows where a build is,
    // downloads included.
    let view = Indicator::new(settings.progress && settings.verbosity == 0);
    let bar = Bar::new(settings.progress && settings.verbosity != 0);
    let reporter: &dyn Reporter = if settings.verbosity == 0 { &view } else { &bar };
    let say = |msg: &str| view.step(msg, |m| settings.text(format!("  {m}")));
    let resultdir = common.resultdir.clone().unwrap_or(layout.result_dir());
    let owner = build_user_ids_if_sudo();

    let mut reports: Vec<Report> = Vec::new();
    let mut chained: Vec<PathBuf> = match &more.local_repo {
        Some(dir) if !deb => brt::rebuild::repo::packages_in(dir).map_err(|e| {
            anyhow::anyhow!("cannot read the local repository `{}`: {e}", dir.display())
        })?,
        _ => Vec::new(),
    };
    for input in &inputs {
        let dir = if inputs.len() > 1 {
            resultdir.join(stem(input.path()))
        } else {
            resultdir.clone()
        };
        let opts = BuildOptions {
            install: install_options(
                settings,
                &common,
                interpreters.clone(),
                reporter,
                &say,
                false,
            ),
            resultdir: dir,
            user: build_user_ids(),
            owner,
            network: common.enable_network || config.build.network,
            keep: common.keep,
            emulated,
            nocheck: common.nocheck,
            rpm: RpmFlags {
                defines: common.defines.clone(),
                with: common.with.clone(),
                without: common.without.clone(),
                target: common.target.clone(),
            },
            chain: if chain { chained.clone() } else { Vec::new() },
            local_repo: more.local_repo.clone().filter(|_| deb),
            live: settings.verbosity > 0,
        };
        view.suspend(|| {
            settings.info(format!(
                "building `{}` in root `{}`",
                input.path().display(),
                config.name
            ))
        });
        view.watch(&[
            opts.resultdir.join("build.log"),
            opts.resultdir.join("root.log"),
        ]);
        let report = builder::run(&layout, &config, input, &opts);
        view.suspend(|| tell(settings, &config, &report));
        let class = report.class();
        if let (Some(dir), Class::Success) = (&more.local_repo, class) {
            let built: Vec<PathBuf> = report.outputs.iter().map(|o| o.path.clone()).collect();
            brt::rebuild::repo::publish(dir, &built).map_err(|e| {
                anyhow::anyhow!("cannot add the packages to `{}`: {e}", dir.display())
            })?;
        }
        chained.extend(report.outputs.iter().map(|o| o.path.clone()));
        reports.push(report);
        if class == Class::Interrupted || (chain && class != Class::Success) {
            break;
        }
    }
    drop(view);
    // Builds stop early only after a failure, which then decides.
    let class = reports
        .iter()
        .map(Report::class)
        .find(|&c| c != Class::Success)
        .unwrap_or(Class::Success);
    if common.json {
        let summary = summary(&layout, &config, &support, class, &reports);
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(code(class))
}

/// How a build installs its build dependencies: build roots are thrown
/// away, so conflicting packages may be removed.
fn install_options<'a>(
    settings: &Settings,
    common: &BuildCommon,
    interpreters: Vec<PathBuf>,
    reporter: &'a dyn Reporter,
    say: &'a dyn Fn(&str),
    dry_run: bool,
) -> Context<'a> {
    Context {
        cachedir: settings.cachedir.clone(),
        offline: settings.offline,
        parallel: usize::from(common.parallel),
        interpreters,
        reporter,
        say,
        accel: common.accel,
        root_cache: true,
        allow_erasing: true,
        dry_run,
    }
}

/// `build --dry-run`: each input's build dependencies as a transaction
/// against the ready root (whose lock the caller holds shared).
fn dry_run(
    settings: &Settings,
    config: &Config,
    layout: &Layout,
    inputs: &[Input],
    common: &BuildCommon,
    interpreters: Vec<PathBuf>,
) -> Result<i32> {
    let bar = Bar::new(settings.progress);
    let say = |msg: &str| settings.info(format!("  {msg}"));
    let opts = install_options(settings, common, interpreters, &bar, &say, true);
    let mut all = Vec::new();
    for input in inputs {
        let tx = match builder::dry_run(layout, config, input.path(), &opts) {
            Ok(tx) => tx,
            Err(e) => {
                let class = e.class();
                super::print_error(&e, e.hint());
                return Ok(code(class));
            }
        };
        if !common.json {
            let what = format!("build {}", input.path().display());
            settings.info(super::packages::dry_run_report(config, &what, &tx, false));
        }
        all.push(serde_json::json!({
            "input": input.path(),
            "packages": tx.packages,
            "download_size": tx.download_size(),
        }));
    }
    if common.json {
        let out = serde_json::json!({ "root": config.name, "command": "build", "builds": all });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(exit::OK)
}

/// Says what one build made, or what went wrong and where to look.
fn tell(settings: &Settings, config: &Config, r: &Report) {
    match &r.result {
        Ok(()) => {
            settings.info(format!(
                "built `{}` in {:.1}s: {}",
                r.input.display(),
                r.phases.iter().map(|p| p.seconds).sum::<f64>(),
                r.resultdir.display()
            ));
            for o in &r.outputs {
                settings.info(format!(
                    "  {}",
                    o.path.file_name().unwrap_or_default().to_string_lossy()
                ));
            }
        }
        Err(BuildError::Interrupted) => {
            eprintln!(
                "error: the build of `{}` was interrupted; its build root was removed{}",
                r.input.display(),
                if r.kept.is_some() {
                    " (but --keep kept it)"
                } else {
                    ""
                }
            );
        }
        Err(e) => {
            let tail = match e {
                BuildError::Failed { tail, .. } => Some(tail),
                BuildError::Dependencies { source, .. } => match &**source {
                    PackageError::Configure { tail, .. } => Some(tail),
                    _ => None,
                },
                _ => None,
            };
            if let Some(tail) = tail {
                eprintln!("--- last lines of the log ---\n{tail}\n---");
            }
            super::print_error(e, e.hint());
        }
    }
    if let Some(id) = &r.kept {
        settings.info(format!(
            "kept build root {id}: `brt -r {} shell --build {id}` enters it, `brt -r {} clean --build {id}` removes it",
            config.name, config.name
        ));
    }
}

fn code(class: Class) -> i32 {
    match class {
        Class::Success => exit::OK,
        Class::Input => exit::BUILD_INPUT,
        Class::Dependencies => exit::BUILD_DEPS,
        Class::Build => exit::BUILD_FAILED,
        Class::Error => exit::ERROR,
        Class::Interrupted => exit::INTERRUPTED,
    }
}

/// The invoking user (through sudo), who gets the results.
fn build_user_ids_if_sudo() -> Option<(u32, u32)> {
    std::env::var("SUDO_UID")
        .ok()
        .and_then(|u| u.parse::<u32>().ok())
        .filter(|&u| u != 0)
        .map(|_| build_user_ids())
}

/// The emulator's version, when the root's binaries are emulated.
fn qemu_version(support: &Support) -> Option<String> {
    let Support::Emulated { entry, .. } = support else {
        return None;
    };
    // Debian's `aarch64-binfmt-P` is a link that only runs from binfmt_misc.
    let qemu = fs_err::canonicalize(&entry.interpreter).unwrap_or(entry.interpreter.clone());
    let version = std::process::Command::new(&qemu)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        });
    version.or(Some(entry.interpreter.display().to_string()))
}

/// `NAME-V-R.src.rpm` → `NAME-V-R`; `NAME_V.dsc` → `NAME_V`.
fn stem(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    [".src.rpm", ".nosrc.rpm", ".dsc", ".spec"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(&name)
        .to_string()
}

#[derive(Serialize)]
struct Summary<'a> {
    root: RootSummary<'a>,
    emulated: bool,
    qemu: Option<String>,
    builds: Vec<BuildSummary<'a>>,
    exit_class: Class,
    exit_code: i32,
}

#[derive(Serialize)]
struct RootSummary<'a> {
    name: &'a str,
    family: &'a str,
    arch: &'a str,
    /// SHA-256 of the ready root's package list (state.json), one per line.
    packages_sha256: String,
    packages: usize,
}

#[derive(Serialize)]
struct BuildSummary<'a> {
    input: FileSummary<'a>,
    resultdir: &'a Path,
    phases: &'a [Phase],
    outputs: &'a [Output],
    build_status: Option<i32>,
    exit_class: Class,
    exit_code: i32,
    error: Option<String>,
    kept_build: Option<&'a str>,
    accel: AccelSummary<'a>,
}

/// What ran natively in the build step.
#[derive(Serialize)]
struct AccelSummary<'a> {
    /// `auto`, `tools` or `off`; null when the build did not get that far.
    mode: Option<brt::config::AccelMode>,
    /// Paths in the root of the programs that ran natively.
    native: Vec<&'a Path>,
    /// The host-arch packages they came from (`name version`).
    packages: &'a [String],
    /// Why anything stayed emulated.
    notes: &'a [String],
}

#[derive(Serialize)]
struct FileSummary<'a> {
    path: &'a Path,
    sha256: &'a str,
}

fn summary<'a>(
    layout: &Layout,
    config: &'a Config,
    support: &Support,
    class: Class,
    reports: &'a [Report],
) -> Summary<'a> {
    let state = brt::root::StateFile::read(&layout.state_file()).unwrap_or_default();
    let builds: Vec<BuildSummary> = reports
        .iter()
        .map(|r| BuildSummary {
            input: FileSummary {
                path: &r.input,
                sha256: &r.input_sha256,
            },
            resultdir: &r.resultdir,
            phases: &r.phases,
            outputs: &r.outputs,
            build_status: r.build_status,
            exit_class: r.class(),
            exit_code: code(r.class()),
            error: r.result.as_ref().err().map(|e| {
                let mut text = e.to_string();
                let mut cause = std::error::Error::source(e);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                text
            }),
            kept_build: r.kept.as_deref(),
            accel: AccelSummary {
                mode: r.accel.mode,
                native: r
                    .accel
                    .layer
                    .iter()
                    .flat_map(|l| l.programs.iter().map(|p| p.path.as_path()))
                    .collect(),
                packages: r.accel.layer.as_ref().map_or(&[], |l| &l.packages),
                notes: &r.accel.notes,
            },
        })
        .collect();
    Summary {
        root: RootSummary {
            name: &config.name,
            family: match config.distro.family {
                Family::Rpm => "rpm",
                Family::Deb => "deb",
            },
            arch: config.distro.family.arch_name(config.arch),
            packages_sha256: state.packages_sha256(),
            packages: state.packages.len(),
        },
        emulated: matches!(support, Support::Emulated { .. }),
        qemu: qemu_version(support),
        builds,
        exit_class: class,
        exit_code: code(class),
    }
}
