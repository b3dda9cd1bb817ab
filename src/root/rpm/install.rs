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

use super::bootstrap::{RepoSetup, Universe, check_all, load_keys};
use crate::config::Config;
use crate::fetch::{Fetcher, PackageCache};
use crate::repo::rpmmd::{RpmDep, RpmPackage};
use crate::resolve::rpm::{RpmRequest, resolve};
use crate::root::Layout;
use crate::root::confined;
use crate::root::family::exec::{run_installer, run_logged};
use crate::root::family::pipeline::fill_cache;
use crate::root::family::{Changes, Context, Install, PackageError, Target};
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

/// Asks the root's rpm (under emulation) what is installed; the keys
/// (`gpg-pubkey`) are not packages and are left out.
pub fn installed(target: &Target, opts: &Context) -> Result<Vec<Installed>, PackageError> {
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

/// Installs `packages` (`None`: updates everything) and what `extra`
/// asks for into `target`.
pub fn install_into(
    target: &Target,
    config: &Config,
    packages: Option<&[String]>,
    extra: Extra,
    opts: &Context,
) -> Result<Changes, PackageError> {
    let root = &target.root;
    let arch = config.arch.rpm;
    let have = installed(target, opts)?;

    let fetcher = Fetcher::new(opts.offline);
    let update = packages.is_none();
    let mut universe = Universe::load(&fetcher, config, &opts.cachedir, update)?;
    // Local packages come from no configured repository: no key checks them.
    universe
        .packages
        .extend(extra.local.into_iter().map(|p| RpmPackage {
            repo: config.repos.len(),
            ..p
        }));
    let requires = extra.requires;
    let (keys, armored) = load_keys(&fetcher, config)?;
    let all = &universe.packages;
    // Installed packages no repository has (installed by hand) are left to rpm.
    let known: HashSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let held: Vec<Installed> = have
        .iter()
        .filter(|h| known.contains(h.name.as_str()))
        .cloned()
        .collect();
    let wanted = universe.expand(config, packages.unwrap_or_default(), opts.say)?;
    let request = |installed: &[Installed]| RpmRequest {
        arch,
        packages: wanted.clone(),
        requires: requires.clone(),
        weak_deps: config.install.weak_deps,
        installed: installed
            .iter()
            .map(|h| (h.name.clone(), h.arch.clone(), h.evr.clone()))
            .collect(),
        upgrade: update,
    };
    // If a requested package conflicts with installed ones, those are no
    // longer held (and go first).
    let chosen = match resolve(all, &request(&held)) {
        Ok(chosen) => chosen,
        Err(first) if !update => {
            let alone = resolve(all, &request(&[])).map_err(|_| first)?;
            let displaced = displaced(all, &alone, &held);
            if !opts.allow_erasing && !displaced.is_empty() {
                let mut gone: Vec<&str> = displaced.iter().copied().collect();
                gone.sort_unstable();
                let quote = |v: Vec<&str>| {
                    v.iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(PackageError::WouldErase {
                    requested: quote(
                        packages
                            .unwrap_or_default()
                            .iter()
                            .map(String::as_str)
                            .collect(),
                    ),
                    installed: quote(gone),
                });
            }
            let kept: Vec<Installed> = held
                .iter()
                .filter(|h| !displaced.contains(h.name.as_str()))
                .cloned()
                .collect();
            resolve(all, &request(&kept))?
        }
        Err(e) => return Err(e.into()),
    };
    let chosen_names: HashSet<&str> = chosen.iter().map(|&i| all[i].name.as_str()).collect();
    let mut remove: Vec<String> = held
        .iter()
        .filter(|h| !chosen_names.contains(h.name.as_str()))
        .map(|h| h.name.clone())
        .collect();
    remove.sort();
    remove.dedup();

    // Once rpm -U succeeds: the chosen set, and what no repository knows.
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
    let cache = PackageCache::new(&opts.cachedir);
    for &i in &chosen {
        let p = &all[i];
        let step = match have.iter().find(|h| h.name == p.name && h.arch == p.arch) {
            Some(h) if h.evr == p.evr => continue,
            Some(h) => universe.step(config, i, Action::Upgrade, Some(h.evr.to_string()), &cache),
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
    if opts.dry_run {
        return Ok(changes);
    }
    let downloads: Vec<_> = new.iter().map(|&i| universe.download(i)).collect();
    changes.downloaded_bytes = fill_cache(fetcher, &cache, &downloads, opts)?;
    let checked = check_all(&universe, &new, &cache, &keys, opts.parallel.min(4))?;
    if update {
        let setup = RepoSetup::new(config, &armored);
        confined::run(root, move || Ok(setup.write()?)).map_err(|source| {
            PackageError::Confined {
                what: "write the repository files into the root",
                source,
            }
        })?;
    }
    if checked.is_empty() && remove.is_empty() {
        target.note("nothing to install: what was asked for is installed");
        return Ok(changes);
    }
    (opts.say)(&format!(
        "installing {} packages with the root's rpm",
        checked.len()
    ));
    let packages: Vec<(String, String)> = checked
        .iter()
        .map(|c| (c.sha256.clone(), c.nevra.clone()))
        .collect();
    run_installer(
        target,
        &super::manager(),
        "rpm -U",
        INSTALL,
        &remove,
        &packages,
        &cache,
        opts,
    )?;
    Ok(changes)
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
    universe: &[crate::repo::rpmmd::RpmPackage],
    new: &[usize],
    have: &'a [Installed],
) -> HashSet<&'a str> {
    let mut out = HashSet::new();
    for h in have {
        let provided: Vec<&str> = universe
            .iter()
            .filter(|p| p.name == h.name && p.evr == h.evr)
            .flat_map(|p| p.provides.iter().map(|d| d.name.as_str()))
            .chain([h.name.as_str()])
            .collect();
        let hit = new.iter().map(|&i| &universe[i]).any(|q| {
            q.name != h.name
                && q.conflicts
                    .iter()
                    .chain(&q.obsoletes)
                    .any(|d| provided.contains(&d.name.as_str()))
        });
        if hit {
            out.insert(h.name.as_str());
        }
    }
    out
}

impl Install for super::Rpm {
    fn install(
        &self,
        target: &Target,
        config: &Config,
        packages: Option<&[String]>,
        cx: &Context,
    ) -> Result<Changes, PackageError> {
        install_into(target, config, packages, Extra::default(), cx)
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
