//! What an install, update or build-dependency step changed.

use crate::root::transaction::{Action, Step, Transaction};

/// What changed (or, with `--dry-run`, would change).
#[derive(Debug, Default)]
pub struct Changes {
    /// One step per package: installs and upgrades in the order chosen,
    /// then removals.
    pub transaction: Transaction,
    pub downloaded_bytes: u64,
    /// What is installed afterwards, sorted (`name-evr.arch`; filled in by
    /// the RPM installer, whose builds log it).
    pub installed: Vec<String>,
}

impl Changes {
    /// One line per changed package: `name old -> new`, `name new` or
    /// `name removed`.
    pub fn lines(&self) -> Vec<String> {
        self.transaction
            .packages
            .iter()
            .map(|s| match (&s.action, &s.from) {
                (Action::Remove, _) => format!("{} removed", s.name),
                (Action::Upgrade, Some(from)) => {
                    format!("{} {from} -> {}", s.name, short_version(s))
                }
                _ => format!("{} {}", s.name, short_version(s)),
            })
            .collect()
    }
}

/// A step's version as its package manager prints it: RPM's epoch only
/// when it is not 0.
fn short_version(s: &Step) -> String {
    match (s.epoch, &s.release) {
        (Some(0) | None, Some(r)) => format!("{}-{r}", s.version),
        _ => s.display_version(),
    }
}
