//! The family-neutral core of package operations (docs/design.md §4, §8):
//! the context a command runs with, the frame of a bootstrap (phases, logs,
//! root cache, downloads, the staged root made ready), running a root's own
//! package manager, and what an install changed. The Debian family
//! (`root::deb`) and the RPM family (`root::rpm`) build on it and never
//! on each other.

pub mod changes;
pub mod context;
pub mod exec;
pub mod install;
pub mod pipeline;

pub use changes::Changes;
pub use context::{Context, PackageError, Target};
pub use exec::tail;
pub use install::{Install, InstallPlan, Installer};
pub use pipeline::{Phase, Report};

use crate::config::Config;
use crate::root::Layout;
use crate::root::transaction::Transaction;

/// One package family's operations, as the commands call them (mock's
/// package-manager classes). Each family implements [`Bootstrap`] and
/// [`Install`]; this interface follows from them, and [`of`] is the one
/// place that picks a family.
pub trait Family: Sync {
    /// Bootstraps `config` into `layout` (the caller holds the exclusive
    /// lock and has checked that the root is not ready).
    fn bootstrap(
        &self,
        layout: &Layout,
        config: &Config,
        cx: &Context,
    ) -> Result<Report, PackageError>;

    /// What a bootstrap would install (`init --dry-run`), downloading and
    /// writing nothing but repository metadata into the cache.
    fn plan_bootstrap(&self, config: &Config, cx: &Context) -> Result<Transaction, PackageError>;

    /// Installs `packages` into `target`, or with `None` upgrades
    /// everything (`update`); with `cx.dry_run`, only says what would change.
    fn install(
        &self,
        target: &Target,
        config: &Config,
        packages: Option<&[String]>,
        cx: &Context,
    ) -> Result<Changes, PackageError>;

    /// Removes `packages` from the ready root with the root's own tools.
    fn remove(
        &self,
        layout: &Layout,
        config: &Config,
        packages: &[String],
        cx: &Context,
    ) -> Result<(), PackageError>;
}

/// A family's steps of a bootstrap; [`pipeline::bootstrap`] runs them
/// inside the frame both families share (resolve, root cache, download,
/// then these, then the root cache again).
pub trait Bootstrap: Sync {
    /// What the resolution leaves for the later steps.
    type Plan;
    /// What unpacking leaves for the finish.
    type Unpacked;

    /// Steps 1 and 2: the repositories' metadata (ending the phase with
    /// `lap("metadata")`), then the package set in install order.
    fn plan(
        &self,
        config: &Config,
        cx: &Context,
        fetcher: &crate::fetch::Fetcher,
        lap: &mut dyn FnMut(&'static str),
    ) -> Result<(pipeline::Resolved, Self::Plan), PackageError>;

    /// Step 4: every downloaded package checked and unpacked natively into
    /// `staging` (phases end with `run.timer.lap`).
    fn unpack(
        &self,
        config: &Config,
        plan: &Self::Plan,
        cache: &crate::fetch::PackageCache,
        staging: &crate::root::staging::Staging,
        run: &mut pipeline::InitRun,
        cx: &Context,
    ) -> Result<Self::Unpacked, PackageError>;

    /// Step 5: the root's own package manager finishes the root under its
    /// emulation (maintainer scripts, scriptlets, its database).
    fn finish(
        &self,
        config: &Config,
        plan: Self::Plan,
        unpacked: Self::Unpacked,
        staging: &crate::root::staging::Staging,
        run: &mut pipeline::InitRun,
        cx: &Context,
    ) -> Result<(), PackageError>;
}

impl<F: Bootstrap + Install> Family for F {
    fn bootstrap(
        &self,
        layout: &Layout,
        config: &Config,
        cx: &Context,
    ) -> Result<Report, PackageError> {
        pipeline::bootstrap(self, layout, config, cx)
    }

    fn plan_bootstrap(&self, config: &Config, cx: &Context) -> Result<Transaction, PackageError> {
        (cx.say)("fetching repository metadata");
        let fetcher = crate::fetch::Fetcher::new(cx.offline);
        Ok(self.plan(config, cx, &fetcher, &mut |_| {})?.0.transaction)
    }

    fn install(
        &self,
        target: &Target,
        config: &Config,
        packages: Option<&[String]>,
        cx: &Context,
    ) -> Result<Changes, PackageError> {
        install::install(self, target, config, packages, Default::default(), cx)
    }

    fn remove(
        &self,
        layout: &Layout,
        config: &Config,
        packages: &[String],
        cx: &Context,
    ) -> Result<(), PackageError> {
        Install::remove(self, layout, config, packages, cx)
    }
}

/// The family of `config`'s root.
pub fn of(config: &Config) -> &'static dyn Family {
    match config.distro.family {
        crate::config::Family::Deb => &crate::root::deb::Deb,
        crate::config::Family::Rpm => &crate::root::rpm::Rpm,
    }
}
