//! One binary package of an rpm-md repository, as `primary.xml` describes it.

use crate::version::rpm::{Evr, Flags};

/// One package from `primary.xml` (plus `filelists.xml` when it was needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    /// `aarch64`, `x86_64`, `noarch`, … (source packages are never listed).
    pub arch: String,
    pub evr: Evr,
    /// Index of the repository (in config order) the package comes from.
    pub repo: usize,
    /// `location href`: path relative to the repository's base URL.
    pub location: String,
    /// Size of the `.rpm` file in bytes (`size package`).
    pub size: u64,
    /// Lowercase hex SHA-256 of the `.rpm` file (`checksum type="sha256"`).
    pub sha256: String,
    pub provides: Vec<RpmDep>,
    pub requires: Vec<RpmDep>,
    pub conflicts: Vec<RpmDep>,
    pub obsoletes: Vec<RpmDep>,
    pub recommends: Vec<RpmDep>,
    pub suggests: Vec<RpmDep>,
    pub supplements: Vec<RpmDep>,
    pub enhances: Vec<RpmDep>,
    /// File paths the package owns, as far as the metadata lists them:
    /// `primary.xml` lists only `/etc/*`, `*bin/*` and `/usr/lib/sendmail`;
    /// after `filelists.xml` was read, every file and directory.
    pub files: Vec<String>,
}

/// One dependency entry (`rpm:entry`). A rich (boolean) dependency such as
/// `(foo >= 2 or bar)` is kept whole in `name`, with `flags` and `evr`
/// `None`; it always starts with `(`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RpmDep {
    pub name: String,
    pub flags: Option<Flags>,
    pub evr: Option<Evr>,
    /// `pre="1"`: `Requires(pre)` and friends; needed before the package's
    /// scriptlets run, so it orders installation.
    pub pre: bool,
}

impl RpmDep {
    /// An unversioned dependency on `name`.
    pub fn plain(name: &str) -> RpmDep {
        RpmDep {
            name: name.to_string(),
            flags: None,
            evr: None,
            pre: false,
        }
    }

    /// A rich (boolean) dependency: `(a or b)`.
    pub fn is_rich(&self) -> bool {
        self.name.starts_with('(')
    }
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`, as rpm and dnf print it.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr, self.arch)
    }
}
