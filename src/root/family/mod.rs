//! The family-neutral core of package operations (docs/design.md §4, §8):
//! the context a command runs with, the frame of a bootstrap (phases, logs,
//! root cache, downloads, the staged root made ready), running a root's own
//! package manager, and what an install changed. The Debian family
//! (`root::deb`) and the RPM family (`root::rpm`) build on it and never
//! on each other.

pub mod changes;
pub mod context;
pub(crate) mod exec;
pub mod pipeline;

pub use changes::Changes;
pub use context::{Context, PackageError, Target};
pub use exec::tail;
pub use pipeline::{Phase, Report};

use crate::config::Config;
use crate::root::Layout;
use crate::root::transaction::Transaction;

/// One package family's operations, as the commands call them (mock's
/// package-manager classes): the Debian family and the RPM family each
/// implement it once, and [`of`] is the one place that picks.
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

/// The family of `config`'s root.
pub fn of(config: &Config) -> &'static dyn Family {
    match config.distro.family {
        crate::config::Family::Deb => &crate::root::deb::Deb,
        crate::config::Family::Rpm => &crate::root::rpm::Rpm,
    }
}
