//! The config schema: the raw, per-file form (every key optional, unknown keys
//! rejected) and the resolved, typed form the rest of brt uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{ConfigError, Origin};
use super::merge::escape;
use crate::arch::{ARCHES, Arch};

// ---------------------------------------------------------------------------
// Resolved config
// ---------------------------------------------------------------------------

/// A fully resolved config: includes merged, variables expanded, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Canonical name: the stem of the file it was loaded from.
    pub name: String,
    pub arch: &'static Arch,
    pub distro: Distro,
    pub install: Install,
    pub repos: Vec<Repo>,
    pub build: Build,
    /// Native helpers for emulated roots.
    pub accel: Accel,
    /// rpm macros for builds, sorted by name.
    pub macros: BTreeMap<String, String>,
    /// Every file merged into this config, in merge order (the named file
    /// last; a file included twice appears twice).
    pub sources: Vec<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    pub family: Family,
    pub name: String,
    pub release: String,
}

/// Which installer and build tool a root uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Rpm,
    Deb,
}

impl Family {
    /// The arch in this family's spelling: `aarch64` for rpm, `arm64` for deb.
    pub fn arch_name(&self, arch: &Arch) -> &'static str {
        match self {
            Family::Rpm => arch.rpm,
            Family::Deb => arch.deb,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Rpm => "rpm",
            Family::Deb => "deb",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Install {
    /// What `init` installs; `@group` is a comps group (rpm).
    pub packages: Vec<String>,
    pub weak_deps: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub name: String,
    pub enabled: bool,
    pub gpgcheck: bool,
    pub kind: RepoKind,
}

/// Where a repo's packages come from; the variant always matches the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoKind {
    Rpm(RpmRepo),
    Deb(DebRepo),
}

/// An rpm-md repository: at least one of `baseurl`, `metalink`, `mirrorlist`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmRepo {
    pub baseurl: Vec<String>,
    pub metalink: Option<String>,
    pub mirrorlist: Option<String>,
    /// Key URLs (`file:///…` or `https://…`).
    pub gpgkey: Vec<String>,
}

/// An apt repository (one suite of one archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebRepo {
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Keyring files; the first that exists on the host is used.
    pub keyring: Vec<String>,
}

impl Repo {
    pub fn rpm(&self) -> Option<&RpmRepo> {
        match &self.kind {
            RepoKind::Rpm(r) => Some(r),
            RepoKind::Deb(_) => None,
        }
    }

    pub fn deb(&self) -> Option<&DebRepo> {
        match &self.kind {
            RepoKind::Deb(r) => Some(r),
            RepoKind::Rpm(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Unprivileged user inside the root.
    pub user: String,
    /// Whether builds get network access.
    pub network: bool,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            user: "brt".to_string(),
            network: false,
        }
    }
}

/// How much of an emulated root's work runs natively (`[accel] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelMode {
    /// Everything emulated, as the root's own programs.
    Off,
    /// Arch-neutral programs native.
    Tools,
    /// Tools, plus a native cross toolchain where its version equals the
    /// root's compiler's exactly.
    Auto,
}

impl std::str::FromStr for AccelMode {
    type Err = String;
    fn from_str(s: &str) -> Result<AccelMode, String> {
        match s {
            "off" => Ok(AccelMode::Off),
            "tools" => Ok(AccelMode::Tools),
            "auto" => Ok(AccelMode::Auto),
            other => Err(format!(
                "unknown accel mode `{other}`, expected `auto`, `tools` or `off`"
            )),
        }
    }
}

impl fmt::Display for AccelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccelMode::Off => "off",
            AccelMode::Tools => "tools",
            AccelMode::Auto => "auto",
        })
    }
}

/// `[accel]`: which programs of an emulated root run natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accel {
    /// `None`: each command's default (`auto` for init and install,
    /// `tools` for builds).
    pub mode: Option<AccelMode>,
    /// Packages whose programs run natively (host-arch builds of the same
    /// version).
    pub tools: Vec<String>,
    /// Program names that stay emulated although their package is listed:
    /// what they print depends on the machine.
    pub keep_emulated: Vec<String>,
}

impl Accel {
    /// The documented defaults: arch-neutral programs whose output does not
    /// depend on the machine they run on. Not `bash` (`$HOSTTYPE`), `make`
    /// (`$(MAKE_HOST)`), `perl` (`%Config`), compilers, `dpkg` or `rpm`.
    pub fn default_for(family: Family) -> Accel {
        let tools: &[&str] = match family {
            Family::Deb => &[
                "dash",
                "coreutils",
                "sed",
                "grep",
                "mawk",
                "gawk",
                "findutils",
                "diffutils",
                "tar",
                "gzip",
                "xz-utils",
                "bzip2",
                "patch",
                "m4",
            ],
            Family::Rpm => &[
                "coreutils",
                "sed",
                "grep",
                "gawk",
                "findutils",
                "diffutils",
                "tar",
                "gzip",
                "xz",
                "bzip2",
                "patch",
                "m4",
            ],
        };
        Accel {
            mode: None,
            tools: tools.iter().map(|s| s.to_string()).collect(),
            keep_emulated: [
                "uname", "arch", "nproc", "hostid", "who", "users", "pinky", "stdbuf",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

impl Config {
    /// The arch in the distro family's own spelling.
    pub fn arch_name(&self) -> &'static str {
        self.distro.family.arch_name(self.arch)
    }

    /// The resolved config as TOML, with no `include`: loading it as a file
    /// gives this same config back (apart from `sources`).
    pub fn to_toml(&self) -> String {
        let e = |s: &String| escape(s);
        let list = |v: &[String]| Some(StringList(v.iter().map(e).collect()));
        let repos = self
            .repos
            .iter()
            .map(|r| {
                let mut raw = RawRepo {
                    name: e(&r.name),
                    enabled: Some(r.enabled),
                    gpgcheck: Some(r.gpgcheck),
                    ..RawRepo::default()
                };
                match &r.kind {
                    RepoKind::Rpm(rpm) => {
                        if !rpm.baseurl.is_empty() {
                            raw.baseurl = list(&rpm.baseurl);
                        }
                        raw.metalink = rpm.metalink.as_ref().map(e);
                        raw.mirrorlist = rpm.mirrorlist.as_ref().map(e);
                        raw.gpgkey = list(&rpm.gpgkey);
                    }
                    RepoKind::Deb(deb) => {
                        raw.url = Some(e(&deb.url));
                        raw.suite = Some(e(&deb.suite));
                        raw.components = list(&deb.components);
                        raw.keyring = list(&deb.keyring);
                    }
                }
                raw
            })
            .collect();
        let raw = RawFile {
            include: None,
            arch: Some(ArchName {
                arch: self.arch,
                spelling: self.arch_name().to_string(),
            }),
            // `distro` values define the variables and are never expanded.
            distro: Some(RawDistro {
                family: Some(self.distro.family),
                name: Some(self.distro.name.clone()),
                release: Some(self.distro.release.clone()),
            }),
            install: Some(RawInstall {
                packages: Some(self.install.packages.iter().map(e).collect()),
                weak_deps: Some(self.install.weak_deps),
            }),
            repo: Some(repos),
            build: Some(RawBuild {
                user: Some(e(&self.build.user)),
                network: Some(self.build.network),
            }),
            accel: Some(RawAccel {
                mode: self.accel.mode,
                tools: Some(self.accel.tools.iter().map(e).collect()),
                keep_emulated: Some(self.accel.keep_emulated.iter().map(e).collect()),
            }),
            // Keys are never expanded, so only values are escaped.
            macros: (!self.macros.is_empty())
                .then(|| self.macros.iter().map(|(k, v)| (k.clone(), e(v))).collect()),
        };
        toml::to_string(&raw).expect("a config always serializes to TOML")
    }
}

// ---------------------------------------------------------------------------
// Raw, per-file form
// ---------------------------------------------------------------------------

/// One config file as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<StringList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<ArchName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distro: Option<RawDistro>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<RawInstall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<Vec<RawRepo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<RawBuild>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accel: Option<RawAccel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macros: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawDistro {
    pub family: Option<Family>,
    pub name: Option<String>,
    pub release: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawInstall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weak_deps: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawRepo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpgcheck: Option<bool>,
    // rpm family
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseurl: Option<StringList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metalink: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirrorlist: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpgkey: Option<StringList>,
    // deb family
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<StringList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyring: Option<StringList>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBuild {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawAccel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AccelMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_emulated: Option<Vec<String>>,
}

/// A string or a list of strings; always a list once read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<StringList, E> {
                Ok(StringList(vec![s.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(StringList(out))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for StringList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// An `arch` value: any known spelling, kept as written.
#[derive(Debug, Clone)]
pub(crate) struct ArchName {
    pub arch: &'static Arch,
    pub spelling: String,
}

impl<'de> Deserialize<'de> for ArchName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spelling = String::deserialize(d)?;
        match Arch::find(&spelling) {
            Some(arch) => Ok(ArchName { arch, spelling }),
            None => {
                let known: Vec<String> = ARCHES
                    .iter()
                    .flat_map(|a| [a.rpm, a.deb])
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|s| format!("`{s}`"))
                    .collect();
                Err(serde::de::Error::custom(format!(
                    "unknown architecture `{spelling}`, expected one of {}",
                    known.join(", ")
                )))
            }
        }
    }
}

impl Serialize for ArchName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.spelling)
    }
}

// ---------------------------------------------------------------------------
// Merged raw form → resolved config
// ---------------------------------------------------------------------------

/// The values `${…}` variables expand to, taken from the merged files.
pub(crate) struct Vars {
    pub arch: &'static Arch,
    pub family: Family,
    pub name: String,
    pub release: String,
}

impl RawFile {
    /// Check the keys every config must set and return the variables.
    pub(crate) fn vars(&self, config: &str, sources: &[Origin]) -> Result<Vars, ConfigError> {
        let missing = |key: &str| ConfigError::Missing {
            config: config.to_string(),
            key: key.to_string(),
            sources: sources.to_vec(),
        };
        let arch = self.arch.as_ref().ok_or_else(|| missing("arch"))?.arch;
        let distro = self.distro.as_ref().ok_or_else(|| missing("distro"))?;
        let family = distro.family.ok_or_else(|| missing("distro.family"))?;
        let name = distro.name.clone().ok_or_else(|| missing("distro.name"))?;
        let release = distro
            .release
            .clone()
            .ok_or_else(|| missing("distro.release"))?;
        match &self.repo {
            Some(repos) if !repos.is_empty() => {}
            _ => return Err(missing("[[repo]]")),
        }
        Ok(Vars {
            arch,
            family,
            name,
            release,
        })
    }

    /// Turn the merged, expanded raw config into a checked [`Config`].
    pub(crate) fn into_config(
        self,
        config: &str,
        sources: Vec<Origin>,
    ) -> Result<Config, ConfigError> {
        let vars = self.vars(config, &sources)?;
        let invalid = |key: String, problem: String| ConfigError::Invalid {
            config: config.to_string(),
            key,
            problem,
        };
        let mut repos = Vec::new();
        let mut names = BTreeSet::new();
        for (i, raw) in self.repo.unwrap_or_default().into_iter().enumerate() {
            let at = format!("repo[{i}]");
            if raw.name.is_empty() {
                return Err(invalid(
                    format!("{at}.name"),
                    "repo names must not be empty".into(),
                ));
            }
            if !names.insert(raw.name.clone()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!("a repo named `{}` is already defined", raw.name),
                ));
            }
            repos
                .push(repo(raw, vars.family, &at).map_err(|(key, problem)| invalid(key, problem))?);
        }
        let install = self.install.unwrap_or_default();
        let build = self.build.unwrap_or_default();
        let user = build.user.unwrap_or_else(|| Build::default().user);
        if user.is_empty() {
            return Err(invalid("build.user".into(), "must not be empty".into()));
        }
        Ok(Config {
            name: config.to_string(),
            arch: vars.arch,
            distro: Distro {
                family: vars.family,
                name: vars.name,
                release: vars.release,
            },
            install: Install {
                packages: install.packages.unwrap_or_default(),
                weak_deps: install.weak_deps.unwrap_or(false),
            },
            repos,
            build: Build {
                user,
                network: build.network.unwrap_or(false),
            },
            accel: {
                let raw = self.accel.unwrap_or_default();
                let default = Accel::default_for(vars.family);
                Accel {
                    mode: raw.mode,
                    tools: raw.tools.unwrap_or(default.tools),
                    keep_emulated: raw.keep_emulated.unwrap_or(default.keep_emulated),
                }
            },
            macros: self.macros.unwrap_or_default(),
            sources,
        })
    }
}

/// Check one repo against its family; errors are `(key, problem)`.
fn repo(raw: RawRepo, family: Family, at: &str) -> Result<Repo, (String, String)> {
    let (foreign, own): (&[(&str, bool)], &str) = match family {
        Family::Rpm => (
            &[
                ("url", raw.url.is_some()),
                ("suite", raw.suite.is_some()),
                ("components", raw.components.is_some()),
                ("keyring", raw.keyring.is_some()),
            ],
            "baseurl, metalink, mirrorlist, gpgkey",
        ),
        Family::Deb => (
            &[
                ("baseurl", raw.baseurl.is_some()),
                ("metalink", raw.metalink.is_some()),
                ("mirrorlist", raw.mirrorlist.is_some()),
                ("gpgkey", raw.gpgkey.is_some()),
            ],
            "url, suite, components, keyring",
        ),
    };
    if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
        return Err((
            format!("{at}.{key}"),
            format!(
                "not a key of {family} repos (distro.family is `{family}`; {family} repos use {own})"
            ),
        ));
    }
    let gpgcheck = raw.gpgcheck.unwrap_or(true);
    let kind = match family {
        Family::Rpm => {
            let rpm = RpmRepo {
                baseurl: raw.baseurl.unwrap_or_default().0,
                metalink: raw.metalink,
                mirrorlist: raw.mirrorlist,
                gpgkey: raw.gpgkey.unwrap_or_default().0,
            };
            if rpm.baseurl.is_empty() && rpm.metalink.is_none() && rpm.mirrorlist.is_none() {
                return Err((
                    at.to_string(),
                    format!(
                        "rpm repo `{}` needs `baseurl`, `metalink` or `mirrorlist`",
                        raw.name
                    ),
                ));
            }
            if gpgcheck && rpm.gpgkey.is_empty() {
                return Err((
                    format!("{at}.gpgkey"),
                    format!(
                        "repo `{}` has gpgcheck on but no `gpgkey` (set `gpgcheck = false` to accept unsigned packages)",
                        raw.name
                    ),
                ));
            }
            RepoKind::Rpm(rpm)
        }
        Family::Deb => {
            let need = |v: Option<String>, key: &str| {
                v.ok_or_else(|| {
                    (
                        format!("{at}.{key}"),
                        format!("deb repo `{}` needs `{key}`", raw.name),
                    )
                })
            };
            let deb = DebRepo {
                url: need(raw.url, "url")?,
                suite: need(raw.suite, "suite")?,
                components: raw
                    .components
                    .map_or_else(|| vec!["main".to_string()], |c| c.0),
                keyring: raw.keyring.unwrap_or_default().0,
            };
            if deb.components.is_empty() {
                return Err((format!("{at}.components"), "must not be empty".into()));
            }
            if gpgcheck && deb.keyring.is_empty() {
                return Err((
                    format!("{at}.keyring"),
                    format!(
                        "repo `{}` has gpgcheck on but no `keyring` (set `gpgcheck = false` to accept unsigned packages)",
                        raw.name
                    ),
                ));
            }
            RepoKind::Deb(deb)
        }
    };
    Ok(Repo {
        name: raw.name,
        enabled: raw.enabled.unwrap_or(true),
        gpgcheck,
        kind,
    })
}
