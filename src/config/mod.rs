//! Config files: schema, discovery, includes and expansion (docs/design.md §2).
//!
//! A root spec is either a name, looked up in the user's config dir, then
//! `/etc/brt`, then the set embedded in the binary (see [`ConfigDirs`]), or a
//! path (it contains `/` or ends in `.toml`). A file may `include` others,
//! relative to itself; included files are merged first, in order, then the
//! file itself on top. Tables merge key by key; arrays replace. After merging,
//! `${arch}` (in the family's spelling), `${release}` and `${name}` are
//! expanded in every string value outside `arch` and `[distro]`; `$$` is a
//! literal `$`.

mod discover;
mod error;
mod merge;
mod schema;

use std::path::{Path, PathBuf};

use toml::Value;

pub(crate) use discover::levenshtein;
pub use discover::{ConfigDirs, list};
pub use error::{ConfigError, Origin};
pub use schema::{
    Accel, AccelMode, Build, Config, DebRepo, Distro, Family, Install, Repo, RepoKind, RpmRepo,
};

use schema::RawFile;

/// Load and resolve the config named by `spec` (a name or a path).
pub fn load(spec: &str, dirs: &ConfigDirs) -> Result<Config, ConfigError> {
    let (name, origin) = if is_path(spec) {
        let path = PathBuf::from(spec);
        let name = Path::new(spec)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string());
        (name, Origin::File(path))
    } else {
        discover::find(spec, dirs)?
    };
    resolve(&name, origin)
}

impl Config {
    /// The same config with `${arch}` expanded for `arch` instead (the
    /// host's: where the native helpers' packages are); its own `arch`
    /// stays the root's.
    pub fn with_arch_vars(&self, arch: &'static crate::arch::Arch) -> Result<Config, ConfigError> {
        let Some(origin) = self.sources.last().cloned() else {
            return Ok(self.clone());
        };
        let (mut table, sources) = merge::resolve(origin)?;
        let mut vars = typed(&self.name, table.clone())?.vars(&self.name, &sources)?;
        vars.arch = arch;
        merge::expand_table(&mut table, &vars, &self.name)?;
        typed(&self.name, table)?.into_config(&self.name, sources)
    }
}

/// Does `-r SPEC` name a file rather than a config?
pub fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".toml")
}

/// Merge `origin` with its includes, expand variables, check the result.
fn resolve(name: &str, origin: Origin) -> Result<Config, ConfigError> {
    let (mut table, sources) = merge::resolve(origin)?;
    let vars = typed(name, table.clone())?.vars(name, &sources)?;
    merge::expand_table(&mut table, &vars, name)?;
    typed(name, table)?.into_config(name, sources)
}

/// The merged table as the raw schema. Every file was already validated on
/// its own, so this only fails if merging broke a type, which it cannot.
fn typed(name: &str, table: toml::Table) -> Result<RawFile, ConfigError> {
    Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid {
            config: name.to_string(),
            key: "(merged)".to_string(),
            problem: e.message().to_string(),
        })
}

#[cfg(test)]
mod shipped_tests;
#[cfg(test)]
mod tests;
