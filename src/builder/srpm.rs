//! What brt reads from a source RPM's header, natively, before anything
//! runs: its build dependencies, whether it generates more at build time,
//! and the architectures it builds for.

use std::io::BufReader;
use std::path::Path;

use rpm::{Dependency, DependencyFlags, IndexTag, PackageMetadata};

use super::BuildError;
use crate::repo::rpmmd::{RpmDep, RpmPackage};
use crate::version::rpm::{Evr, Flags};

/// The rpmlib feature a source package requires when its spec has
/// `%generate_buildrequires`.
const DYNAMIC: &str = "rpmlib(DynamicBuildRequires)";

#[derive(Debug, Clone)]
pub struct SourceRpm {
    /// `name-version-release`
    pub nvr: String,
    /// `BuildRequires` (the source package's `Requires`), without the
    /// `rpmlib(…)` features, which rpm itself provides.
    pub build_requires: Vec<RpmDep>,
    /// The spec has `%generate_buildrequires`.
    pub dynamic: bool,
    pub exclusive_arch: Vec<String>,
    pub exclude_arch: Vec<String>,
    /// The spec file's name in the payload.
    pub spec: String,
}

impl SourceRpm {
    /// Reads and checks (header and payload digests) a source package.
    pub fn read(path: &Path) -> Result<SourceRpm, BuildError> {
        let file = fs_err::File::open(path).map_err(|source| BuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let metadata = crate::unpack::rpm::check(&mut BufReader::new(file), None).map_err(|e| {
            BuildError::BadInput {
                path: path.to_path_buf(),
                source: Box::new(e),
            }
        })?;
        if !metadata.is_source_package() {
            return Err(BuildError::NotSource {
                path: path.to_path_buf(),
                what: "source package (`.src.rpm`)",
            });
        }
        Self::from_metadata(&metadata).map_err(|e| BuildError::BadInput {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn from_metadata(m: &PackageMetadata) -> Result<SourceRpm, rpm::Error> {
        let nvr = format!(
            "{}-{}-{}",
            m.get_name()?,
            m.get_version()?,
            m.get_release()?
        );
        let requires = m.get_requires()?;
        let dynamic = requires.iter().any(|d| d.name == DYNAMIC);
        let strings = |tag| {
            m.header
                .get_entry_data_as_string_array(tag)
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        let spec = m
            .get_file_entries()?
            .into_iter()
            .map(|f| f.path().to_string_lossy().into_owned())
            .find(|p| p.ends_with(".spec"))
            .unwrap_or_else(|| format!("{}.spec", m.get_name().unwrap_or("package")));
        Ok(SourceRpm {
            nvr,
            build_requires: build_requires(&requires),
            dynamic,
            exclusive_arch: strings(IndexTag::RPMTAG_EXCLUSIVEARCH),
            exclude_arch: strings(IndexTag::RPMTAG_EXCLUDEARCH),
            spec: spec.trim_start_matches('/').to_string(),
        })
    }

    /// Why the package does not build for `arch`, if it does not.
    pub fn excludes(&self, arch: &str) -> Option<String> {
        if !self.exclusive_arch.is_empty() && !self.exclusive_arch.iter().any(|a| a == arch) {
            return Some(format!(
                "its ExclusiveArch is {}",
                self.exclusive_arch.join(" ")
            ));
        }
        self.exclude_arch
            .iter()
            .any(|a| a == arch)
            .then(|| format!("its ExcludeArch is {}", self.exclude_arch.join(" ")))
    }
}

/// A binary package built earlier in a `--chain`, as the resolver takes
/// it; fetched from the host by a `file://` URL.
pub fn local_package(path: &Path) -> Result<RpmPackage, BuildError> {
    let bad = |e: rpm::Error| BuildError::BadInput {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let m = PackageMetadata::open(path).map_err(bad)?;
    let sha256 = super::sha256_file(path).map_err(|source| BuildError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let deps = |d: Result<Vec<Dependency>, rpm::Error>| -> Vec<RpmDep> {
        d.map(|d| build_requires(&d)).unwrap_or_default()
    };
    let epoch = m.get_epoch().ok().map(u64::from);
    Ok(RpmPackage {
        name: m.get_name().map_err(bad)?.to_string(),
        arch: m.get_arch().map_err(bad)?.to_string(),
        evr: Evr::new(epoch, m.get_version().map_err(bad)?, m.get_release().ok()),
        repo: 0,
        location: format!("file://{}", path.display()),
        size: fs_err::metadata(path).map(|md| md.len()).unwrap_or(0),
        sha256,
        provides: deps(m.get_provides()),
        requires: deps(m.get_requires()),
        conflicts: deps(m.get_conflicts()),
        obsoletes: deps(m.get_obsoletes()),
        recommends: deps(m.get_recommends()),
        suggests: Vec::new(),
        supplements: deps(m.get_supplements()),
        enhances: Vec::new(),
        files: m
            .get_file_paths()
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    })
}

/// A package's `Requires` as the resolver takes them, without rpmlib
/// features.
pub fn build_requires(requires: &[Dependency]) -> Vec<RpmDep> {
    requires
        .iter()
        .filter(|d| !d.flags.contains(DependencyFlags::RPMLIB) && !d.name.starts_with("rpmlib("))
        .map(to_dep)
        .collect()
}

fn to_dep(d: &Dependency) -> RpmDep {
    let f = d.flags;
    let flags = match (
        f.contains(DependencyFlags::LESS),
        f.contains(DependencyFlags::GREATER),
        f.contains(DependencyFlags::EQUAL),
    ) {
        (true, false, true) => Some(Flags::Le),
        (true, false, false) => Some(Flags::Lt),
        (false, true, true) => Some(Flags::Ge),
        (false, true, false) => Some(Flags::Gt),
        (false, false, true) => Some(Flags::Eq),
        _ => None,
    };
    let evr = (flags.is_some() && !d.version.is_empty()).then(|| Evr::parse(&d.version));
    RpmDep {
        name: d.name.clone(),
        flags: evr.as_ref().and(flags),
        evr,
        pre: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, flags: DependencyFlags, version: &str) -> Dependency {
        Dependency {
            name: name.into(),
            flags,
            version: version.into(),
        }
    }

    #[test]
    fn rpmlib_features_are_not_build_requires_and_versions_are_kept() {
        let deps = build_requires(&[
            dep(
                "rpmlib(CompressedFileNames)",
                DependencyFlags::RPMLIB | DependencyFlags::LE,
                "3.0.4-1",
            ),
            dep("gcc", DependencyFlags::ANY, ""),
            dep("make", DependencyFlags::GE, "1:4.3"),
            dep("(foo or bar)", DependencyFlags::ANY, ""),
        ]);
        let names: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["gcc", "make", "(foo or bar)"]);
        assert_eq!(deps[1].flags, Some(Flags::Ge));
        assert_eq!(deps[1].evr, Some(Evr::parse("1:4.3")));
        assert!(deps[2].is_rich() && deps[2].flags.is_none());
    }

    #[test]
    fn arch_lists() {
        let mut s = SourceRpm {
            nvr: "x-1-1".into(),
            build_requires: Vec::new(),
            dynamic: false,
            exclusive_arch: Vec::new(),
            exclude_arch: Vec::new(),
            spec: "x.spec".into(),
        };
        assert_eq!(s.excludes("aarch64"), None);
        s.exclusive_arch = vec!["x86_64".into(), "ppc64le".into()];
        assert_eq!(
            s.excludes("aarch64").as_deref(),
            Some("its ExclusiveArch is x86_64 ppc64le")
        );
        assert_eq!(s.excludes("x86_64"), None);
        s.exclusive_arch.clear();
        s.exclude_arch = vec!["aarch64".into()];
        assert!(s.excludes("aarch64").is_some());
    }
}
