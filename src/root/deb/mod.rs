//! The Debian family: bootstrap (`bootstrap`), and install, update and
//! remove on a ready root (`install`), on the neutral core of
//! `root::family`.

pub mod bootstrap;
pub mod install;

use crate::root::family::exec::Manager;

/// The Debian family: dpkg and apt roots.
pub struct Deb;

/// dpkg and its maintainer scripts as brt runs them: no questions, the C
/// locale, dpkg's admin dir and the root's architecture.
pub(crate) fn manager(arch: &str) -> Manager {
    Manager {
        env: [
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
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
        failed_package,
    }
}

/// The package dpkg names in `dpkg: error processing package NAME (...)`,
/// or the last preinst brt started.
fn failed_package(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| {
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
