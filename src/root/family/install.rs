//! The install pipeline both families share (`install`, `update`, and a
//! build's dependencies): the family resolves against what the root has,
//! then brt downloads what is new into the package cache, the family
//! checks it, and the root's own package manager installs it under
//! emulation, with the native helpers a replaced package's files are not
//! bound over.

use std::collections::HashSet;
use std::path::Path;

use super::exec::{Manager, run_installer};
use super::pipeline::fill_cache;
use super::{Changes, Context, PackageError, Target};
use crate::config::Config;
use crate::fetch::{Download, Fetcher, PackageCache};
use crate::root::transaction::Action;

/// What a family's resolution of an install leaves for the shared steps.
pub struct InstallPlan<P> {
    /// The steps (installs and upgrades in order, then removals), and for
    /// RPM roots what is installed afterwards.
    pub changes: Changes,
    /// The new and changed packages, in the order of the steps.
    pub downloads: Vec<Download>,
    /// Installed packages the new ones displace: removed first.
    pub remove: Vec<String>,
    /// The family's own.
    pub family: P,
}

/// How the root's package manager installs: its environment, the step's
/// name for logs and errors, the script (`$1`: what to remove first, then
/// the package files), and its name for the user.
pub struct Installer {
    pub manager: Manager,
    pub step: &'static str,
    pub script: &'static str,
    pub tool: &'static str,
}

/// A family's changes to a ready root (or a build's overlay of it).
pub trait Install: Sync {
    /// What a build adds to a request besides package names.
    type Extra: Default;
    /// What the resolution keeps for the later steps.
    type Plan;
    /// An installed package, as the root's package database lists it.
    type Installed;

    /// What `target` has. It is read by a confined or sandboxed child, so
    /// before brt starts any thread (the HTTP client's).
    fn installed(
        &self,
        target: &Target,
        cx: &Context,
    ) -> Result<Vec<Self::Installed>, PackageError>;

    /// The repositories' metadata (refreshed for `update`, `packages` =
    /// `None`), and the resolution against what is installed (`have`):
    /// installed packages stay (at their versions, unless `update`).
    fn plan_install(
        &self,
        have: Vec<Self::Installed>,
        config: &Config,
        packages: Option<&[String]>,
        extra: Self::Extra,
        fetcher: &Fetcher,
        cx: &Context,
    ) -> Result<InstallPlan<Self::Plan>, PackageError>;

    /// The downloaded packages, checked, as (sha256, label) for the
    /// installer. By default they are as the download checked them (its
    /// SHA-256 from signed metadata).
    fn verify(
        &self,
        plan: &InstallPlan<Self::Plan>,
        _cache: &PackageCache,
        _cx: &Context,
    ) -> Result<Vec<(String, String)>, PackageError> {
        Ok(plan
            .downloads
            .iter()
            .map(|d| (d.expected.sha256.clone(), d.label.clone()))
            .collect())
    }

    /// After `update`: the root's own repository configuration follows the
    /// metadata brt just verified.
    fn write_sources(
        &self,
        plan: &Self::Plan,
        config: &Config,
        root: &Path,
    ) -> Result<(), PackageError>;

    /// The root's package manager as it installs.
    fn installer(&self, config: &Config) -> Installer;

    /// Removes `packages` from the ready root with the root's own tools.
    fn remove(
        &self,
        layout: &crate::root::Layout,
        config: &Config,
        packages: &[String],
        cx: &Context,
    ) -> Result<(), PackageError>;
}

/// Installs `packages` (`None`: upgrades everything) and what `extra` asks
/// for into `target` with `family`; with `cx.dry_run`, only says what would
/// change.
pub fn install<F: Install + ?Sized>(
    family: &F,
    target: &Target,
    config: &Config,
    packages: Option<&[String]>,
    extra: F::Extra,
    cx: &Context,
) -> Result<Changes, PackageError> {
    let have = family.installed(target, cx)?;
    let fetcher = Fetcher::new(cx.offline);
    let plan = family.plan_install(have, config, packages, extra, &fetcher, cx)?;
    if cx.dry_run {
        return Ok(plan.changes);
    }
    let cache = PackageCache::new(&cx.cachedir);
    let downloaded = fill_cache(fetcher, &cache, &plan.downloads, cx)?;
    let checked = family.verify(&plan, &cache, cx)?;
    if packages.is_none() {
        family.write_sources(&plan.family, config, &target.root)?;
    }
    let InstallPlan {
        mut changes,
        remove,
        ..
    } = plan;
    changes.downloaded_bytes = downloaded;
    if checked.is_empty() && remove.is_empty() {
        target.note("nothing to install: what was asked for is installed");
        return Ok(changes);
    }
    let installer = family.installer(config);
    (cx.say)(&format!(
        "installing {} packages with the root's {}",
        checked.len(),
        installer.tool
    ));
    // The package manager cannot replace a file a native helper is bound
    // over: helpers of replaced and removed packages are left out.
    let replaced: Vec<&str> = changes
        .transaction
        .packages
        .iter()
        .filter(|s| matches!(s.action, Action::Install | Action::Upgrade))
        .map(|s| s.name.as_str())
        .chain(remove.iter().map(String::as_str))
        .collect();
    let target = Target {
        helpers: target.helpers.without(&replaced),
        ..target.clone()
    };
    run_installer(
        &target,
        &installer.manager,
        installer.step,
        installer.script,
        &remove,
        &checked,
        &cache,
        cx,
    )?;
    Ok(changes)
}

/// The installed packages that a new package conflicts with: `installed`
/// holds each installed package's name and every name it is known by (its
/// own and what it provides), `new` each new package's name and the names
/// it conflicts with (Debian: `Conflicts`, `Breaks`; RPM: `Conflicts`,
/// `Obsoletes`). A package never displaces one of its own name.
pub(crate) fn displaced<'a>(
    installed: &[(&'a str, Vec<&str>)],
    new: &[(&str, Vec<&str>)],
) -> HashSet<&'a str> {
    installed
        .iter()
        .filter(|(name, known_by)| {
            new.iter().any(|(new_name, conflicts)| {
                new_name != name && conflicts.iter().any(|c| known_by.contains(c))
            })
        })
        .map(|(name, _)| *name)
        .collect()
}
