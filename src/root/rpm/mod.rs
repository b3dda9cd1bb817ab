//! The RPM family: bootstrap (`bootstrap`), and install, update and
//! remove on a ready root (`install`), on the neutral core of
//! `root::family`.

pub mod bootstrap;
pub mod install;

use crate::config::Config;
use crate::root::Layout;
use crate::root::family::exec::Manager;
use crate::root::family::{Changes, Context, Family, PackageError, Report, Target};
use crate::root::transaction::Transaction;

/// The RPM family: rpm roots (Fedora, CentOS Stream, and the like).
pub struct Rpm;

impl Family for Rpm {
    fn bootstrap(
        &self,
        layout: &Layout,
        config: &Config,
        cx: &Context,
    ) -> Result<Report, PackageError> {
        bootstrap::init(layout, config, cx)
    }

    fn plan_bootstrap(&self, config: &Config, cx: &Context) -> Result<Transaction, PackageError> {
        bootstrap::dry_run(config, cx)
    }

    fn install(
        &self,
        target: &Target,
        config: &Config,
        packages: Option<&[String]>,
        cx: &Context,
    ) -> Result<Changes, PackageError> {
        install::install_into(target, config, packages, install::Extra::default(), cx)
    }

    fn remove(
        &self,
        layout: &Layout,
        _config: &Config,
        packages: &[String],
        cx: &Context,
    ) -> Result<(), PackageError> {
        install::remove(layout, packages, cx)
    }
}

/// rpm and its scriptlets as brt runs them: the C locale, root's home.
pub(crate) fn manager() -> Manager {
    Manager {
        env: [
            ("LC_ALL", "C"),
            ("LANGUAGE", "C"),
            ("LANG", "C"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
        failed_package,
    }
}

/// The package whose scriptlet brt's driver reports as failed
/// (`brt: scriptlet failed: NEVRA (exit N)`).
fn failed_package(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        l.strip_prefix("brt: scriptlet failed: ")
            .map(|rest| rest.split(" (exit").next().unwrap_or(rest).to_string())
    })
}
