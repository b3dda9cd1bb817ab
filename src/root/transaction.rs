//! What a package operation would do (`--dry-run`), the same for both
//! families: one step per package, with its repository and download size.

use serde::Serialize;

/// What happens to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Install,
    Upgrade,
    Remove,
}

/// One package of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: Action,
    pub name: String,
    pub arch: String,
    /// Debian: the whole version; RPM: the version without epoch and
    /// release (those are in [`Step::epoch`] and [`Step::release`]).
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The installed version an upgrade replaces, as [`Step::display_version`] shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The repository it comes from (empty for a removal).
    pub repo: String,
    /// Bytes to download (0 when cached or removed).
    pub size: u64,
}

impl Step {
    /// `version` (Debian) or `epoch:version-release` (RPM).
    pub fn display_version(&self) -> String {
        match (&self.epoch, &self.release) {
            (Some(e), Some(r)) => format!("{e}:{}-{r}", self.version),
            (None, Some(r)) => format!("{}-{r}", self.version),
            _ => self.version.clone(),
        }
    }
}

/// What a command would change, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Transaction {
    pub packages: Vec<Step>,
}

impl Transaction {
    /// Bytes to download in all.
    pub fn download_size(&self) -> u64 {
        self.packages.iter().map(|s| s.size).sum()
    }

    /// One line per step, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        self.packages
            .iter()
            .map(|s| {
                let what = match (&s.action, &s.from) {
                    (Action::Upgrade, Some(from)) => {
                        format!("{from} -> {}", s.display_version())
                    }
                    _ => s.display_version(),
                };
                let action = match s.action {
                    Action::Install => "install",
                    Action::Upgrade => "upgrade",
                    Action::Remove => "remove",
                };
                let source = if s.repo.is_empty() {
                    String::new()
                } else {
                    format!("  {}  {}", s.repo, super::human_size(s.size))
                };
                format!("{action:8} {} {what} {}{source}", s.name, s.arch)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_versions_show_epoch_and_release_debian_ones_as_they_are() {
        let step = |epoch, release: Option<&str>| Step {
            action: Action::Upgrade,
            name: "p".into(),
            arch: "aarch64".into(),
            version: "1.2".into(),
            epoch,
            release: release.map(str::to_string),
            from: Some("0:1.1-1".into()),
            repo: "fedora".into(),
            size: 2048,
        };
        assert_eq!(step(Some(0), Some("3")).display_version(), "0:1.2-3");
        assert_eq!(step(None, None).display_version(), "1.2");
        let tx = Transaction {
            packages: vec![step(Some(2), Some("1.fc43"))],
        };
        assert_eq!(tx.download_size(), 2048);
        assert_eq!(
            tx.lines(),
            ["upgrade  p 0:1.1-1 -> 2:1.2-1.fc43 aarch64  fedora  2.0 KiB"]
        );
    }
}
