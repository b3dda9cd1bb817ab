//! `install`, `update` and `remove` on a ready RPM-family root.
//!
//! `install` and `update` use init's machinery: brt asks the root's rpm
//! what is installed, resolves natively (installed packages stay, at their
//! versions for `install`, newest for `update`), downloads into the shared
//! cache, checks digests and signatures, and hands only the new or changed
//! packages to the root's own `rpm -U` under emulation, which checks the
//! dependencies again, replaces old versions, keeps changed config files
//! (`.rpmnew`) and runs the scriptlets and triggers as on any RPM system.
//! A requested package that conflicts with an installed one displaces it
//! (`rpm -e --nodeps` first), as dnf would with `--allowerasing`. `remove`
//! is the root's `rpm -e`, which refuses to break what still needs the
//! package.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::bootstrap::{RepoSetup, Universe, Verifiers, check_all, load_keys};
use crate::config::Config;
use crate::fetch::{Fetcher, PackageCache};
use crate::repo::rpmmd::{RpmDep, RpmPackage};
use crate::resolve::rpm::{RpmRequest, resolve};
use crate::root::Layout;
use crate::root::confined;
use crate::root::family;
use crate::root::family::exec::run_logged;
use crate::root::family::{
    Changes, Context, Install, InstallPlan, Installer, PackageError, Target,
};
use crate::root::transaction::{Action, Step};
use crate::sandbox::{self, Spec};
use crate::version::rpm::Evr;

/// One installed package, as the root's rpm lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub arch: String,
    pub evr: Evr,
}

/// What is installed in the root, read natively from its rpmdb (with
/// `--accel off`, or when brt cannot read it, the root's `rpm -qa` under
/// emulation says); the keys (`gpg-pubkey`) are not packages and are left
/// out.
pub fn installed(target: &Target, opts: &Context) -> Result<Vec<Installed>, PackageError> {
    if opts.accel != Some(crate::config::AccelMode::Off) {
        let read =
            super::rpmdb::installed(&target.root, "").map_err(|source| PackageError::Confined {
                what: "read the rpmdb",
                source,
            })?;
        match read {
            Ok(all) => {
                return Ok(all
                    .into_iter()
                    .filter(|p| p.name != "gpg-pubkey")
                    .map(|p| Installed {
                        evr: p.evr(),
                        name: p.name,
                        arch: p.arch,
                    })
                    .collect());
            }
            Err(why) => target.note(&format!(
                "the root's rpm lists the installed packages: {why}"
            )),
        }
    }
    installed_by_rpm(target, opts)
}

/// Asks the root's rpm (under emulation) what is installed.
fn installed_by_rpm(target: &Target, opts: &Context) -> Result<Vec<Installed>, PackageError> {
    let out = tempfile::tempfile().map_err(|source| PackageError::Log {
        path: std::env::temp_dir(),
        source,
    })?;
    let mut spec = Spec::new(
        target.root.clone(),
        vec![
            "rpm".into(),
            "-qa".into(),
            "--qf".into(),
            "%{NAME} %{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n".into(),
        ],
    );
    spec.env.push(("LC_ALL".into(), "C".into()));
    spec.interpreters = opts.interpreters.clone();
    spec.output = Some(out.as_raw_fd());
    let code = sandbox::run(&spec)?;
    let mut out = out;
    let mut text = String::new();
    out.rewind()
        .and_then(|_| out.read_to_string(&mut text))
        .map_err(|source| PackageError::Log {
            path: std::env::temp_dir(),
            source,
        })?;
    if code != 0 {
        return Err(PackageError::Configure {
            step: "`rpm -qa`".into(),
            code,
            log: target.log.clone(),
            tail: text,
        });
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (name, arch, evr) = (f.next()?, f.next()?, f.next()?);
            (name != "gpg-pubkey" && !name.is_empty()).then(|| Installed {
                name: name.into(),
                arch: arch.into(),
                evr: Evr::parse(evr),
            })
        })
        .collect())
}

/// What a build adds to an install: its build dependencies, and the
/// packages earlier builds of a chain made (unsigned, from the host).
#[derive(Debug, Default)]
pub struct Extra {
    pub requires: Vec<RpmDep>,
    /// Read from each package's header; `location` is a `file://` URL.
    pub local: Vec<RpmPackage>,
}

/// Erases what the new packages displace, then installs them in one
/// transaction.
const INSTALL: &str = r#"set -e
remove=$1
shift
if [ -n "$remove" ]; then
    echo "brt: rpm -e --nodeps $remove"
    rpm -e --nodeps $remove
fi
if [ "$#" -gt 0 ]; then
    echo "brt: rpm -U"
    rpm -U --replacepkgs --oldpackage "$@"
fi
"#;

/// Installed packages that a package of `new` conflicts with or obsoletes,
/// by name or through what they provide.
fn displaced<'a>(
    universe: &[RpmPackage],
    new: &[usize],
    have: &'a [Installed],
) -> HashSet<&'a str> {
    let known_by = |h: &'a Installed| -> (&'a str, Vec<&str>) {
        let provides = universe
            .iter()
            .filter(|p| p.name == h.name && p.evr == h.evr)
            .flat_map(|p| p.provides.iter().map(|d| d.name.as_str()));
        (&h.name, provides.chain([h.name.as_str()]).collect())
    };
    let installed: Vec<_> = have.iter().map(known_by).collect();
    let new: Vec<(&str, Vec<&str>)> = new
        .iter()
        .map(|&i| &universe[i])
        .map(|q| {
            let names = q.conflicts.iter().chain(&q.obsoletes);
            (q.name.as_str(), names.map(|d| d.name.as_str()).collect())
        })
        .collect();
    family::install::displaced(&installed, &new)
}

/// The package set after installing `wanted` and `requires` (`packages`
/// `None`: updating everything), and the installed packages to erase
/// first. Installed packages no repository has (installed by hand) are
/// left to rpm. If a requested package conflicts with installed ones,
/// those are no longer held (and go first), with `--allowerasing` only.
fn resolve_install(
    all: &[RpmPackage],
    config: &Config,
    have: &[Installed],
    wanted: Vec<String>,
    requires: Vec<RpmDep>,
    packages: Option<&[String]>,
    cx: &Context,
) -> Result<(Vec<usize>, Vec<String>), PackageError> {
    let update = packages.is_none();
    let known: HashSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let held: Vec<Installed> = have
        .iter()
        .filter(|h| known.contains(h.name.as_str()))
        .cloned()
        .collect();
    let request = |installed: &[Installed]| RpmRequest {
        arch: config.arch.rpm,
        packages: wanted.clone(),
        requires: requires.clone(),
        weak_deps: config.install.weak_deps,
        installed: installed
            .iter()
            .map(|h| (h.name.clone(), h.arch.clone(), h.evr.clone()))
            .collect(),
        upgrade: update,
    };
    let chosen = match resolve(all, &request(&held)) {
        Ok(chosen) => chosen,
        Err(e) if update => return Err(e.into()),
        Err(first) => {
            let alone = resolve(all, &request(&[])).map_err(|_| first)?;
            let displaced = displaced(all, &alone, &held);
            if !cx.allow_erasing && !displaced.is_empty() {
                return Err(would_erase(packages.unwrap_or_default(), &displaced));
            }
            let kept: Vec<Installed> = held
                .iter()
                .filter(|h| !displaced.contains(h.name.as_str()))
                .cloned()
                .collect();
            resolve(all, &request(&kept))?
        }
    };
    let chosen_names: HashSet<&str> = chosen.iter().map(|&i| all[i].name.as_str()).collect();
    let mut remove: Vec<String> = held
        .iter()
        .filter(|h| !chosen_names.contains(h.name.as_str()))
        .map(|h| h.name.clone())
        .collect();
    remove.sort();
    remove.dedup();
    Ok((chosen, remove))
}

/// The refusal to erase `displaced` for `requested` without `--allowerasing`.
fn would_erase(requested: &[String], displaced: &HashSet<&str>) -> PackageError {
    let quote = |mut v: Vec<&str>| {
        v.sort_unstable();
        v.iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    PackageError::WouldErase {
        requested: quote(requested.iter().map(String::as_str).collect()),
        installed: quote(displaced.iter().copied().collect()),
    }
}

/// What the RPM install keeps for checking the packages and for `update`.
pub struct RpmInstallPlan {
    universe: Universe,
    /// The new packages (indices into the universe), in order.
    new: Vec<usize>,
    keys: Verifiers,
    armored: Vec<Vec<u8>>,
}

impl Install for super::Rpm {
    type Extra = Extra;
    type Plan = RpmInstallPlan;
    type Installed = Installed;

    fn installed(&self, target: &Target, cx: &Context) -> Result<Vec<Installed>, PackageError> {
        installed(target, cx)
    }

    fn plan_install(
        &self,
        have: Vec<Installed>,
        config: &Config,
        packages: Option<&[String]>,
        extra: Extra,
        fetcher: &Fetcher,
        cx: &Context,
    ) -> Result<InstallPlan<RpmInstallPlan>, PackageError> {
        let update = packages.is_none();
        let mut universe = Universe::load(fetcher, config, &cx.cachedir, update)?;
        // Local packages come from no configured repository: no key checks them.
        universe
            .packages
            .extend(extra.local.into_iter().map(|p| RpmPackage {
                repo: config.repos.len(),
                ..p
            }));
        let (keys, armored) = if cx.dry_run {
            Default::default()
        } else {
            load_keys(fetcher, config)?
        };
        let wanted = universe.expand(config, packages.unwrap_or_default(), cx.say)?;
        let (chosen, remove) = resolve_install(
            &universe.packages,
            config,
            &have,
            wanted,
            extra.requires,
            packages,
            cx,
        )?;
        let all = &universe.packages;
        // Once rpm -U succeeds: the chosen set, and what no repository knows.
        let known: HashSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
        let mut installed: Vec<String> = chosen.iter().map(|&i| all[i].nevra()).collect();
        installed.extend(
            have.iter()
                .filter(|h| !known.contains(h.name.as_str()))
                .map(|h| format!("{}-{}.{}", h.name, h.evr, h.arch)),
        );
        installed.sort();
        let mut changes = Changes {
            installed,
            ..Changes::default()
        };
        let mut new = Vec::new();
        let cache = PackageCache::new(&cx.cachedir);
        for &i in &chosen {
            let p = &all[i];
            let step = match have.iter().find(|h| h.name == p.name && h.arch == p.arch) {
                Some(h) if h.evr == p.evr => continue,
                Some(h) => {
                    universe.step(config, i, Action::Upgrade, Some(h.evr.to_string()), &cache)
                }
                None => universe.step(config, i, Action::Install, None, &cache),
            };
            changes.transaction.packages.push(step);
            new.push(i);
        }
        for r in &remove {
            for h in have.iter().filter(|h| &h.name == r) {
                changes.transaction.packages.push(Step {
                    action: Action::Remove,
                    name: h.name.clone(),
                    arch: h.arch.clone(),
                    version: h.evr.version.clone(),
                    epoch: Some(h.evr.epoch.unwrap_or(0)),
                    release: Some(h.evr.release.clone().unwrap_or_default()),
                    from: None,
                    repo: String::new(),
                    size: 0,
                });
            }
        }
        Ok(InstallPlan {
            changes,
            downloads: new.iter().map(|&i| universe.download(i)).collect(),
            remove,
            family: RpmInstallPlan {
                universe,
                new,
                keys,
                armored,
            },
        })
    }

    /// Header and payload digests, and the signature where the repository
    /// asks for it.
    fn verify(
        &self,
        plan: &InstallPlan<RpmInstallPlan>,
        cache: &PackageCache,
        cx: &Context,
    ) -> Result<Vec<(String, String)>, PackageError> {
        let p = &plan.family;
        let checked = check_all(&p.universe, &p.new, cache, &p.keys, cx.parallel.min(4))?;
        Ok(checked.into_iter().map(|c| (c.sha256, c.nevra)).collect())
    }

    fn write_sources(
        &self,
        plan: &RpmInstallPlan,
        config: &Config,
        root: &Path,
    ) -> Result<(), PackageError> {
        let setup = RepoSetup::new(config, &plan.armored);
        confined::run(root, move || Ok(setup.write()?)).map_err(|source| PackageError::Confined {
            what: "write the repository files into the root",
            source,
        })
    }

    fn installer(&self, _config: &Config) -> Installer {
        Installer {
            manager: super::manager(),
            step: "rpm -U",
            script: INSTALL,
            tool: "rpm",
        }
    }

    /// `rpm -e` in the root.
    fn remove(
        &self,
        layout: &Layout,
        _config: &Config,
        packages: &[String],
        opts: &Context,
    ) -> Result<(), PackageError> {
        let mut argv = vec!["rpm".to_string(), "-e".into(), "--".into()];
        argv.extend(packages.iter().cloned());
        run_logged(
            &layout.root(),
            &super::manager(),
            "rpm -e",
            argv,
            Vec::new(),
            opts.interpreters.clone(),
            &layout.result_dir().join("root.log"),
        )
    }
}
