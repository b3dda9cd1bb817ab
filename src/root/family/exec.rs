//! Running a root's own package manager under its emulation: output
//! appended to a log, a failure named by the step and the package the
//! family's log names, with the log's tail.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::context::{Context, PackageError, Target};
use super::pipeline::{CACHE_IN_ROOT, cache_bind};
use crate::fetch::PackageCache;
use crate::sandbox::{self, Spec};

/// What differs between the families' package managers when brt runs
/// them: their environment, and how their log names a failed package.
pub struct Manager {
    pub env: Vec<(String, String)>,
    pub failed_package: fn(&str) -> Option<String>,
}

/// Runs a package-manager command in `root` under its emulation, without
/// network, with its output appended to `log`; a failure names the step
/// and the package the manager's log names, with the log's tail.
pub(crate) fn run_logged(
    root: &Path,
    manager: &Manager,
    step: &str,
    argv: Vec<String>,
    binds: Vec<sandbox::Bind>,
    interpreters: Vec<PathBuf>,
    log: &Path,
) -> Result<(), PackageError> {
    let log_file = fs_err::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .map_err(|source| PackageError::Log {
            path: log.to_path_buf(),
            source,
        })?;
    let mut spec = Spec::new(root.to_path_buf(), argv);
    spec.env.extend(manager.env.iter().cloned());
    spec.interpreters = interpreters;
    spec.binds = binds;
    spec.output = Some(log_file.as_raw_fd());
    // What a failed step wrote is thrown away; a finished root is synced
    // once (init before it is marked ready, `install` when it is done).
    spec.nosync = true;
    let code = sandbox::run(&spec)?;
    if code != 0 {
        let tail = tail(log, 25);
        let failed = (manager.failed_package)(&tail);
        return Err(PackageError::Configure {
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
    manager: &Manager,
    step: &str,
    script: &str,
    remove: &[String],
    packages: &[(String, String)],
    cache: &PackageCache,
    opts: &Context,
) -> Result<(), PackageError> {
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
        manager,
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
pub(crate) fn relabel(e: PackageError, labels: &[(String, String)]) -> PackageError {
    match e {
        PackageError::Configure {
            mut step,
            code,
            log,
            mut tail,
        } => {
            for (path, label) in labels {
                step = step.replace(path, label);
                tail = tail.replace(path, label);
            }
            PackageError::Configure {
                step,
                code,
                log,
                tail,
            }
        }
        other => other,
    }
}

/// The last `lines` lines of a log.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs_err::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
