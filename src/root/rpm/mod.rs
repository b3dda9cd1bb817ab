//! The RPM family: bootstrap (`bootstrap`), and install, update and
//! remove on a ready root (`install`), on the neutral core of
//! `root::family`.

pub mod bootstrap;
pub mod install;
pub mod rpmdb;

use crate::root::family::exec::Manager;

/// The RPM family: rpm roots (Fedora, CentOS Stream, and the like).
pub struct Rpm;

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
        .into_iter()
        .chain(source_date_epoch().map(|t| ("SOURCE_DATE_EPOCH".to_string(), t.to_string())))
        .collect(),
        failed_package,
    }
}

/// brt's `SOURCE_DATE_EPOCH`, which the root's rpm gets too: it dates the
/// rpmdb's install times (native or not) instead of the clock.
pub(crate) fn source_date_epoch() -> Option<u32> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// The package whose scriptlet brt's driver reports as failed
/// (`brt: scriptlet failed: NEVRA (exit N)`).
fn failed_package(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        l.strip_prefix("brt: scriptlet failed: ")
            .map(|rest| rest.split(" (exit").next().unwrap_or(rest).to_string())
    })
}
