//! New roots are built in a staging dir next to the roots
//! (`BASEDIR/.NAME.KIND-PID/root`), then moved into place and only then
//! marked ready, so a failed or interrupted build never leaves a root marked
//! ready. Shared by `import` and `init`. Callers hold the root's exclusive
//! lock.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fs_err::os::unix::fs::OpenOptionsExt;
use serde::Serialize;

use super::Layout;

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("cannot prepare the staging dir `{path}`")]
    Prepare {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot put the new root `{name}` in place at `{path}`")]
    Install {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// `BASEDIR/.NAME.KIND-PID`: holds the new `root/` while it is made and, on
/// replace, the old one while it is removed. Removed on drop.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    fn prefix(layout: &Layout, kind: &str) -> OsString {
        format!(".{}.{kind}-", layout.name).into()
    }

    /// Removes this root's staging dirs left by killed commands (under the
    /// exclusive lock none is in use), then makes a new one.
    pub fn create(layout: &Layout, kind: &str) -> Result<Staging, StagingError> {
        remove_stale(layout, kind)?;
        let basedir = layout.dir.parent().unwrap_or(Path::new("/"));
        let mut name = Staging::prefix(layout, kind);
        name.push(std::process::id().to_string());
        let dir = basedir.join(name);
        let err = |source| StagingError::Prepare {
            path: dir.clone(),
            source,
        };
        fs_err::create_dir_all(basedir).map_err(err)?;
        // Nobody else looks into a half-made root.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(err)?;
        let staging = Staging { dir };
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(staging.root())
            .map_err(|source| StagingError::Prepare {
                path: staging.root(),
                source,
            })?;
        Ok(staging)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// A file next to the new root, outside it (logs).
    pub fn side_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Moves the staged root into place, then writes `state` as
    /// `state.json`. A replaced root is first unmarked (no `state.json`: not
    /// ready), then moved into the staging dir, which is removed with it.
    pub fn install(self, layout: &Layout, state: &impl Serialize) -> Result<(), StagingError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StagingError::Install {
                name: layout.name.clone(),
                path,
                source,
            }
        };
        // The new tree reaches the disk before anything points at it.
        let dir = File::from(fs_err::File::open(self.root()).map_err(err(&self.root()))?);
        nix::unistd::syncfs(dir.as_raw_fd()).map_err(|e| err(&self.root())(e.into()))?;

        fs_err::create_dir_all(&layout.dir).map_err(err(&layout.dir))?;
        match fs_err::remove_file(layout.state_file()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(err(&layout.state_file())(e));
            }
            _ => {}
        }
        if layout.root().symlink_metadata().is_ok() {
            fs_err::rename(layout.root(), self.dir.join("old-root"))
                .map_err(err(&layout.root()))?;
        }
        fs_err::rename(self.root(), layout.root()).map_err(err(&layout.root()))?;
        let mut text = serde_json::to_string_pretty(state).expect("state serializes");
        text.push('\n');
        write_atomic(&layout.state_file(), text.as_bytes(), 0o644)
            .map_err(err(&layout.state_file()))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // remove_dir_all never follows symlinks, so a hostile tree in here
        // cannot make it delete anything outside.
        let _ = fs_err::remove_dir_all(&self.dir);
    }
}

fn remove_stale(layout: &Layout, kind: &str) -> Result<(), StagingError> {
    let Some(basedir) = layout.dir.parent() else {
        return Ok(());
    };
    let Ok(entries) = fs_err::read_dir(basedir) else {
        return Ok(());
    };
    let prefix = Staging::prefix(layout, kind);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .as_encoded_bytes()
            .starts_with(prefix.as_encoded_bytes())
        {
            fs_err::remove_dir_all(entry.path()).map_err(|source| StagingError::Prepare {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Write a small file atomically: temp file, fsync, rename, fsync the dir.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(name);
    let result = (|| {
        let mut f = fs_err::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs_err::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&temp);
    }
    sync_parent(path);
    result
}

/// Best effort: make a rename in `path`'s directory durable.
pub fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = fs_err::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

/// `2024-05-01T12:34:56Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
