//! `install`, `update` and `remove` on a ready Debian-family root.
//!
//! `install` and `update` use init's machinery: brt reads the root's dpkg
//! status, resolves natively (installed packages stay, at their versions for
//! `install`, newest for `update`), downloads into the shared package cache,
//! and hands only the new or changed `.deb` files to the root's own
//! `dpkg --install` under emulation, which unpacks, runs the maintainer
//! scripts and handles conffiles and upgrades as on any Debian system. No
//! dependency solving runs emulated. `remove` is the root's own
//! `apt-get remove`: apt knows what else has to go, and removal downloads
//! nothing, so there is nothing for brt to speed up.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use super::bootstrap::{AptSetup, Universe, deb_repo_names, fetch_metadata};
use crate::config::Config;
use crate::fetch::{Fetcher, PackageCache};
use crate::repo::apt::DebPackage;
use crate::repo::apt::deb822::Paragraphs;
use crate::repo::apt::metadata::AptIndex;
use crate::resolve::deb::{DebRequest, resolve};
use crate::root::Layout;
use crate::root::confined;
use crate::root::family;
use crate::root::family::exec::run_logged;
use crate::root::family::{
    Changes, Context, Install, InstallPlan, Installer, PackageError, Target,
};
use crate::root::transaction::{Action, Step};
use crate::version::deb::DebVersion;

/// Removes what the new packages displace, then installs them.
const INSTALL: &str = r#"set -e
remove=$1
shift
if [ -n "$remove" ]; then
    echo "brt: dpkg --remove --force-depends $remove"
    dpkg --remove --force-depends $remove
fi
echo "brt: dpkg --install"
dpkg --install "$@"
"#;

/// An installed package, from `/var/lib/dpkg/status`.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    pub version: DebVersion,
    pub arch: String,
}

/// Reads the root's dpkg status from a process confined to it (the file
/// is the root's: a symlink in it must not make brt read a host file).
pub fn installed(root: &Path) -> Result<Vec<Installed>, PackageError> {
    let status_err = |source| PackageError::Confined {
        what: "read the root's dpkg status",
        source,
    };
    let (child, mut pipe) = confined::spawn_writer(root, |mut out| {
        let mut f = fs_err::File::open("/var/lib/dpkg/status")?;
        std::io::copy(&mut f, &mut out)?;
        Ok(())
    })
    .map_err(status_err)?;
    let mut text = String::new();
    let read = pipe.read_to_string(&mut text);
    child.wait().map_err(status_err)?;
    read.map_err(|source| PackageError::Log {
        path: root.join("var/lib/dpkg/status"),
        source,
    })?;
    let mut out = Vec::new();
    for para in Paragraphs::new(&text).flatten() {
        let installed = para
            .get("Status")
            .is_some_and(|s| s.split_whitespace().last() == Some("installed"));
        let (Some(name), Some(version)) = (para.get("Package"), para.get("Version")) else {
            continue;
        };
        if let (true, Ok(version)) = (installed, version.parse::<DebVersion>()) {
            out.push(Installed {
                name: name.to_string(),
                version,
                arch: para.get("Architecture").unwrap_or_default().to_string(),
            });
        }
    }
    Ok(out)
}

/// Installed packages that a package of `new` conflicts with (or breaks),
/// by name or through what they provide.
fn displaced<'a>(
    universe: &'a [DebPackage],
    new: &[usize],
    have: &'a [Installed],
) -> HashSet<&'a str> {
    let installed: Vec<(&str, Vec<&str>)> = have
        .iter()
        .map(|h| {
            let provides = universe
                .iter()
                .filter(|p| p.name == h.name && p.version == h.version)
                .flat_map(|p| p.provides.iter().flatten().map(|d| d.name.as_str()));
            (h.name.as_str(), provides.chain([h.name.as_str()]).collect())
        })
        .collect();
    let new: Vec<(&str, Vec<&str>)> = new
        .iter()
        .map(|&i| &universe[i])
        .map(|q| {
            let against = q.conflicts.iter().chain(&q.breaks).flatten();
            (q.name.as_str(), against.map(|d| d.name.as_str()).collect())
        })
        .collect();
    family::install::displaced(&installed, &new)
}

/// The package set after installing `packages` (`None`: upgrading
/// everything), and the installed packages to remove first.
///
/// Everything installed stays, if possible; those no repository has any
/// more (installed by hand) are left to dpkg. If a requested package
/// conflicts with an installed one (a second mail transport agent), the
/// installed packages it conflicts with are no longer held: dpkg removes
/// such a package when the new one declares `Conflicts` + `Replaces` and
/// nothing breaks, as apt would have it, or refuses with its own message.
fn resolve_install(
    all: &[DebPackage],
    config: &Config,
    have: &[Installed],
    packages: Option<&[String]>,
) -> Result<(Vec<usize>, Vec<String>), PackageError> {
    let update = packages.is_none();
    let known: HashSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let mut wanted: Vec<String> = have
        .iter()
        .filter(|p| known.contains(p.name.as_str()))
        .map(|p| p.name.clone())
        .collect();
    wanted.extend(packages.unwrap_or_default().iter().cloned());
    let request = DebRequest {
        arch: config.arch.deb,
        essential: false,
        required: false,
        packages: wanted,
        relations: Vec::new(),
        recommends: config.install.weak_deps,
        favored: if update {
            Vec::new()
        } else {
            have.iter()
                .map(|p| (p.name.clone(), p.version.clone()))
                .collect()
        },
    };
    let first = match resolve(all, &request) {
        Ok(chosen) => return Ok((chosen, Vec::new())),
        Err(e) if update => return Err(e.into()),
        Err(first) => first,
    };
    let alone = DebRequest {
        packages: packages.unwrap_or_default().to_vec(),
        ..request.clone()
    };
    let new = resolve(all, &alone).map_err(|_| first)?;
    let displaced = displaced(all, &new, have);
    let narrow = DebRequest {
        packages: request
            .packages
            .iter()
            .filter(|p| !displaced.contains(p.as_str()))
            .cloned()
            .collect(),
        ..request.clone()
    };
    let chosen = resolve(all, &narrow)?;
    let mut remove: Vec<String> = displaced
        .iter()
        .filter(|d| !chosen.iter().any(|&i| all[i].name == **d))
        .map(|d| d.to_string())
        .collect();
    remove.sort();
    Ok((chosen, remove))
}

impl Install for super::Deb {
    /// Packages from a local repository (`build --local-repo`).
    type Extra = Option<Local>;
    /// The indexes, for apt's lists after `update`.
    type Plan = Vec<AptIndex>;
    type Installed = Installed;

    fn installed(&self, target: &Target, _: &Context) -> Result<Vec<Installed>, PackageError> {
        installed(&target.root)
    }

    /// A package may also be a relation (`a | b (>= 2)`), as a source
    /// package's `Build-Depends` gives them.
    fn plan_install(
        &self,
        have: Vec<Installed>,
        config: &Config,
        packages: Option<&[String]>,
        local: Option<Local>,
        fetcher: &Fetcher,
        cx: &Context,
    ) -> Result<InstallPlan<Vec<AptIndex>>, PackageError> {
        let update = packages.is_none();
        let mut indexes = fetch_metadata(fetcher, config, &cx.cachedir, update)?;
        let mut universe = Universe::new(&mut indexes);
        if let Some(local) = local {
            universe.add(local.url, local.packages);
        }
        let (chosen, remove) = resolve_install(&universe.packages, config, &have, packages)?;
        let all = &universe.packages;
        let mut changes = Changes::default();
        let mut downloads = Vec::new();
        let cache = PackageCache::new(&cx.cachedir);
        let names = deb_repo_names(config);
        for &i in &chosen {
            let p = &all[i];
            let step = match have.iter().find(|h| h.name == p.name) {
                Some(h) if h.version == p.version => continue,
                Some(h) => universe.step(
                    i,
                    Action::Upgrade,
                    Some(h.version.to_string()),
                    &names,
                    &cache,
                ),
                None => universe.step(i, Action::Install, None, &names, &cache),
            };
            changes.transaction.packages.push(step);
            downloads.push(universe.download(i));
        }
        for r in &remove {
            if let Some(h) = have.iter().find(|h| &h.name == r) {
                changes.transaction.packages.push(Step {
                    action: Action::Remove,
                    name: h.name.clone(),
                    arch: h.arch.clone(),
                    version: h.version.to_string(),
                    epoch: None,
                    release: None,
                    from: None,
                    repo: String::new(),
                    size: 0,
                });
            }
        }
        Ok(InstallPlan {
            changes,
            downloads,
            remove,
            family: indexes,
        })
    }

    /// apt's lists follow the metadata brt just verified.
    fn write_sources(
        &self,
        indexes: &Vec<AptIndex>,
        config: &Config,
        root: &Path,
    ) -> Result<(), PackageError> {
        let apt = AptSetup::new(config, indexes)?;
        confined::run(root, move || Ok(apt.write()?)).map_err(|source| PackageError::Confined {
            what: "write apt's sources and lists into the root",
            source,
        })
    }

    /// Displaced packages go first (their dependents are satisfied again
    /// once the new packages are in), then dpkg installs the rest.
    fn installer(&self, config: &Config) -> Installer {
        Installer {
            manager: super::manager(config.arch.deb),
            step: "dpkg --install",
            script: INSTALL,
            tool: "dpkg",
        }
    }

    /// `apt-get remove` in the root.
    fn remove(
        &self,
        layout: &Layout,
        config: &Config,
        packages: &[String],
        opts: &Context,
    ) -> Result<(), PackageError> {
        let mut argv = vec![
            "apt-get".to_string(),
            "-y".into(),
            "remove".into(),
            "--".into(),
        ];
        argv.extend(packages.iter().cloned());
        run_logged(
            &layout.root(),
            &super::manager(config.arch.deb),
            "apt-get remove",
            argv,
            Vec::new(),
            opts.interpreters.clone(),
            &layout.result_dir().join("root.log"),
        )
    }
}

/// A local repository's packages: a `Packages` index in a directory (what
/// earlier builds of a `rebuild` made); `url` is `file://DIR`.
#[derive(Debug, Clone)]
pub struct Local {
    pub url: String,
    pub packages: Vec<crate::repo::apt::DebPackage>,
}
