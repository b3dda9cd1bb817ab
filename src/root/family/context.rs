//! What every package operation of both families runs with: the context
//! the command line fills in, where packages go, and the one error type of
//! package operations (init, install, update, remove, build dependencies).

use std::io::{self, Write};
use std::path::PathBuf;

use crate::config::Config;
use crate::error::Explain;
use crate::fetch::{DownloadError, Reporter};
use crate::root::Layout;
use crate::root::confined::ConfinedError;
use crate::root::staging::StagingError;
use crate::sandbox::SandboxError;

/// How a package operation runs; filled in by the command line.
pub struct Context<'a> {
    pub cachedir: PathBuf,
    pub offline: bool,
    /// Downloads at once.
    pub parallel: usize,
    /// Host interpreters to bind into the root (binfmt entries without `F`).
    pub interpreters: Vec<PathBuf>,
    pub reporter: &'a dyn Reporter,
    /// One line per phase, for the user.
    pub say: &'a dyn Fn(&str),
    /// `--accel` (`None`: the config's, else the command's default).
    pub accel: Option<crate::config::AccelMode>,
    /// Use the root cache (`init --no-cache`: no).
    pub root_cache: bool,
    /// Only work out what would change (`--dry-run`): nothing is
    /// downloaded, installed or written but repository metadata.
    pub dry_run: bool,
    /// RPM roots: a requested package may remove installed ones it
    /// conflicts with (`install --allowerasing`, as dnf; always in build
    /// roots, which are thrown away).
    pub allow_erasing: bool,
}

impl Context<'_> {
    /// The accel mode in force: the command line's, the config's, or
    /// `default` (the command's own).
    pub fn accel_mode(
        &self,
        config: &Config,
        default: crate::config::AccelMode,
    ) -> crate::config::AccelMode {
        self.accel.or(config.accel.mode).unwrap_or(default)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("config `{name}` has no enabled apt repository")]
    NoRepo { name: String },
    #[error(transparent)]
    Metadata(#[from] crate::repo::apt::metadata::MetadataError),
    #[error("cannot resolve the package set")]
    Resolve(#[from] crate::resolve::deb::ResolveError),
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error("cannot open the cached package `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A step run by a process confined to the root; `what` says which.
    #[error("cannot {what}")]
    Confined {
        what: &'static str,
        #[source]
        source: ConfinedError,
    },
    #[error("cannot run the root's dpkg")]
    Sandbox(#[from] SandboxError),
    #[error("{step} failed in the root (exit status {code}); the log is `{}`", log.display())]
    Configure {
        step: String,
        code: i32,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot write `{}`", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    RpmMetadata(#[from] crate::repo::rpmmd::metadata::MetadataError),
    #[error("cannot resolve the package set")]
    RpmResolve(#[from] crate::resolve::rpm::ResolveError),
    #[error("config `{name}`: {problem}")]
    Request { name: String, problem: String },
    #[error("repository `{repo}`: cannot load the key `{url}`")]
    Key {
        repo: String,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("package `{package}` is refused")]
    Package {
        package: String,
        #[source]
        source: crate::unpack::rpm::RpmError,
    },
    #[error("installing {requested} would remove the installed {installed}: they conflict")]
    WouldErase {
        requested: String,
        installed: String,
    },
    #[error("interrupted")]
    Interrupted,
}

impl Explain for PackageError {
    /// What the user can do about it, where that is known.
    fn hint(&self) -> Option<String> {
        match self {
            PackageError::Metadata(e) => e.hint(),
            PackageError::RpmMetadata(e) => e.hint(),
            PackageError::Key { url, .. } if url.contains("distribution-gpg-keys") => Some(
                "on Fedora or EPEL hosts: `dnf install distribution-gpg-keys`; elsewhere put the distribution's key file in place and point `gpgkey` at it (or set `gpgcheck = false` to skip verification)"
                    .into(),
            ),
            PackageError::Package { .. } => Some(
                "the package in the cache was checked against the repository and its signature; \
                 a signature problem means the repository's `gpgkey` list does not hold the key that signed it"
                    .into(),
            ),
            PackageError::Download(e) => e.source.hint(),
            PackageError::Configure { .. } => {
                Some("the root was not changed; the whole output is in the log".into())
            }
            PackageError::WouldErase { .. } => Some(
                "nothing was changed; add `--allowerasing` to remove them (as dnf would)".into(),
            ),
            _ => None,
        }
    }
}

/// Where `install` puts packages: a root (the ready one, or a build's
/// overlay of it) and the log its package manager writes to.
#[derive(Debug, Clone)]
pub struct Target {
    pub root: PathBuf,
    pub log: PathBuf,
    /// Native helpers for the commands run in the root.
    pub helpers: crate::accel::Accel,
}

impl Target {
    /// Appends `brt: TEXT` to the target's log (a step that ran nothing
    /// still leaves a line there).
    pub fn note(&self, text: &str) {
        if let Ok(mut f) = fs_err::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
        {
            let _ = writeln!(f, "brt: {text}");
        }
    }

    /// The ready root itself, logging to `result/root.log`.
    pub fn ready_root(layout: &Layout) -> Result<Target, PackageError> {
        let dir = layout.result_dir();
        fs_err::create_dir_all(&dir).map_err(|source| PackageError::Log {
            path: dir.clone(),
            source,
        })?;
        Ok(Target {
            root: layout.root(),
            log: dir.join("root.log"),
            helpers: Default::default(),
        })
    }
}
