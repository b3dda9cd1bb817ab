//! `init` for RPM-family roots (docs/design.md §4): rpm-md metadata, resolution
//! with rpm's semantics, parallel verified downloads, each package's digests
//! and signature checked, and every payload written natively by one process
//! confined to the staging root. Only the end runs the root's own code
//! under emulation, as one logged driver script:
//!
//! 1. the repositories' keys imported into the root's rpmdb;
//! 2. every `%pretrans`, then every `%pre`, in rpm's install order (a
//!    failure stops the init, as it stops rpm's transaction);
//! 3. the owners rpm could not give files at unpack time, because the user
//!    or group is made by a `%pre` (`useradd`), given now;
//! 4. the root's `rpm -i --justdb` registers every package, so the rpmdb
//!    lists them with their files, digests and scripts;
//! 5. every `%post`, then `%triggerin`, `%filetriggerin`, `%posttrans` and
//!    `%transfiletriggerin` (failures are warnings, as rpm makes them).
//!
//! Files are in place before `%pre` runs, where rpm runs `%pre` just before
//! a package's files: a `%pre` that moves a file of its own package aside
//! would see the new one. The root is moved into place and marked ready at
//! the very end.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::SFlag;
use nix::sys::time::TimeSpec;
use serde::{Deserialize, Serialize};

use crate::config::{Config, RepoKind};
use crate::fetch::{Download, Expected, Fetcher, PackageCache};
use crate::repo::rpmmd::metadata::{self, RpmIndex, RpmSource};
use crate::repo::rpmmd::{Group, RpmPackage};
use crate::resolve::rpm::{RpmRequest, install_order, resolve, unsatisfied_file_requirements};
use crate::root::archive::{Meta, Ownership, Unpacker};
use crate::root::confined;
use crate::root::family::exec::{run_logged, tail};
use crate::root::family::pipeline::{CACHE_IN_ROOT, InitRun, Resolved, cache_bind};
use crate::root::family::{Bootstrap, Context, PackageError};
use crate::root::staging::Staging;
use crate::root::transaction::{Action, Step, Transaction};
use crate::sandbox::Bind;
use crate::unpack::rpm::{Script, Scripts, check};
use crate::version::rpm::{Evr, Flags};

/// Where the driver script and the scriptlets appear inside the root.
const FINISH_IN_ROOT: &str = "/run/brt-finish";

/// Every repository's packages as one list, and where each comes from.
pub(crate) struct Universe {
    pub packages: Vec<RpmPackage>,
    pub groups: Vec<Group>,
    /// Base URLs of each repository (by `RpmPackage::repo`).
    mirrors: Vec<Vec<String>>,
}

impl Universe {
    /// Loads every enabled repository; reads `filelists.xml` too when a file
    /// dependency is not covered by `primary`.
    pub(crate) fn load(
        fetcher: &Fetcher,
        config: &Config,
        cachedir: &Path,
        refresh: bool,
    ) -> Result<Universe, PackageError> {
        Universe::load_for(fetcher, config, cachedir, refresh, config.arch.rpm)
    }

    /// The packages of `arch` and `noarch` of the config's repositories (the
    /// root's arch, or the host's for the native helpers).
    pub(crate) fn load_for(
        fetcher: &Fetcher,
        config: &Config,
        cachedir: &Path,
        refresh: bool,
        arch: &str,
    ) -> Result<Universe, PackageError> {
        let keep = |a: &str| a == arch || a == "noarch";
        let mut indexes: Vec<RpmIndex> = Vec::new();
        for (i, repo) in config.repos.iter().enumerate() {
            let RepoKind::Rpm(rpm) = &repo.kind else {
                continue;
            };
            if !repo.enabled {
                continue;
            }
            let source = RpmSource {
                name: &repo.name,
                baseurl: &rpm.baseurl,
                metalink: rpm.metalink.as_deref(),
                mirrorlist: rpm.mirrorlist.as_deref(),
                refresh,
            };
            indexes.push(metadata::load(fetcher, cachedir, &source, i, &keep)?);
        }
        if indexes.is_empty() {
            return Err(PackageError::NoRepo {
                name: config.name.clone(),
            });
        }
        let mut universe = Universe::from_indexes(&mut indexes, config.repos.len());
        if !unsatisfied_file_requirements(&universe.packages, arch).is_empty() {
            for index in &indexes {
                index.load_filelists(fetcher, &mut universe.packages)?;
            }
        }
        Ok(universe)
    }

    /// Moves the packages and groups out of `indexes`.
    fn from_indexes(indexes: &mut [RpmIndex], repos: usize) -> Universe {
        let mut u = Universe {
            packages: Vec::new(),
            groups: Vec::new(),
            mirrors: vec![Vec::new(); repos],
        };
        for index in indexes {
            u.mirrors[index.repo] = index.mirrors.clone();
            u.packages.append(&mut index.packages);
            u.groups.append(&mut index.groups);
        }
        u
    }

    /// What to fetch for `packages[i]`: from each mirror of its repository.
    /// `packages[i]` as a transaction step (nothing to download when the
    /// cache has it).
    pub(crate) fn step(
        &self,
        config: &Config,
        i: usize,
        action: Action,
        from: Option<String>,
        cache: &PackageCache,
    ) -> Step {
        let p = &self.packages[i];
        Step {
            action,
            name: p.name.clone(),
            arch: p.arch.clone(),
            version: p.evr.version.clone(),
            epoch: Some(p.evr.epoch.unwrap_or(0)),
            release: Some(p.evr.release.clone().unwrap_or_default()),
            from,
            repo: config
                .repos
                .get(p.repo)
                .map_or("local".to_string(), |r| r.name.clone()),
            size: if cache.contains(&p.sha256) { 0 } else { p.size },
        }
    }

    pub(crate) fn download(&self, i: usize) -> Download {
        let p = &self.packages[i];
        let urls = if p.location.contains("://") {
            vec![p.location.clone()]
        } else {
            self.mirrors[p.repo]
                .iter()
                .map(|base| format!("{base}{}", p.location))
                .collect()
        };
        Download {
            label: p.nevra(),
            urls,
            expected: Expected {
                size: Some(p.size),
                sha256: p.sha256.clone(),
            },
        }
    }

    /// The request's names with `@group` replaced by the group's mandatory
    /// and default packages; a group member no repository has is skipped
    /// with a note (as dnf does).
    pub(crate) fn expand(
        &self,
        config: &Config,
        wanted: &[String],
        say: &dyn Fn(&str),
    ) -> Result<Vec<String>, PackageError> {
        let names: HashSet<&str> = self.packages.iter().map(|p| p.name.as_str()).collect();
        let mut out = Vec::new();
        for item in wanted {
            let Some(id) = item.strip_prefix('@') else {
                out.push(item.clone());
                continue;
            };
            let Some(group) = self.groups.iter().find(|g| g.id == id) else {
                let known: Vec<&str> = self.groups.iter().map(|g| g.id.as_str()).collect();
                let suggestion = crate::resolve::closest(id, known.iter().copied())
                    .map(|k| format!("; did you mean `@{k}`?"))
                    .unwrap_or_default();
                return Err(PackageError::Request {
                    name: config.name.clone(),
                    problem: format!(
                        "no repository has the group `@{id}` (their groups: {}){suggestion}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            };
            for name in group.installed_packages() {
                if names.contains(name) {
                    out.push(name.to_string());
                } else {
                    say(&format!(
                        "group `@{id}` lists `{name}`, which no repository has: skipped"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Each repository's keys (by config index), `None` where `gpgcheck` is off.
pub(crate) type Verifiers = Vec<Option<rpm::signature::pgp::Verifier>>;

/// The repositories' keys as rpm's verifiers, and the keys' armored text,
/// to import into the root's rpmdb.
pub(crate) fn load_keys(
    fetcher: &Fetcher,
    config: &Config,
) -> Result<(Verifiers, Vec<Vec<u8>>), PackageError> {
    let mut verifiers = Vec::new();
    let mut armored = Vec::new();
    for repo in &config.repos {
        let RepoKind::Rpm(rpm_repo) = &repo.kind else {
            verifiers.push(None);
            continue;
        };
        if !repo.gpgcheck || !repo.enabled {
            verifiers.push(None);
            continue;
        }
        if rpm_repo.gpgkey.is_empty() {
            return Err(PackageError::Request {
                name: config.name.clone(),
                problem: format!(
                    "repository `{}` has `gpgcheck = true` but no `gpgkey`; add the key's URL or set `gpgcheck = false`",
                    repo.name
                ),
            });
        }
        let mut verifier = rpm::signature::pgp::Verifier::new();
        for url in &rpm_repo.gpgkey {
            let key_err = |source: Box<dyn std::error::Error + Send + Sync>| PackageError::Key {
                repo: repo.name.clone(),
                url: url.clone(),
                source,
            };
            let bytes = match url.strip_prefix("file://") {
                Some(path) => fs_err::read(path).map_err(|e| key_err(Box::new(e)))?,
                None => fetcher.get(url).map_err(|e| key_err(Box::new(e)))?,
            };
            verifier
                .load_from_asc_bytes(&bytes)
                .map_err(|e| key_err(Box::new(e)))?;
            if !armored.contains(&bytes) {
                armored.push(bytes);
            }
        }
        verifiers.push(Some(verifier));
    }
    Ok((verifiers, armored))
}

/// One chosen package, checked, with what the finish needs from its header.
pub(crate) struct Checked {
    pub nevra: String,
    pub name: String,
    pub evr: Evr,
    pub sha256: String,
    pub scripts: Scripts,
    /// Every path the package installs (not `%ghost`).
    pub files: Vec<String>,
}

/// Checks every package (digests, and the signature where the repository
/// asks for it) on up to `parallel` threads, which have all ended when it
/// returns (brt forks afterwards).
pub(crate) fn check_all(
    universe: &Universe,
    chosen: &[usize],
    cache: &PackageCache,
    keys: &[Option<rpm::signature::pgp::Verifier>],
    parallel: usize,
) -> Result<Vec<Checked>, PackageError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, Checked)>, PackageError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..parallel.clamp(1, 8))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = chosen.get(k) else {
                            return Ok(done);
                        };
                        if confined::interrupted() {
                            return Err(PackageError::Interrupted);
                        }
                        done.push((k, check_one(&universe.packages[i], cache, keys)?));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a check thread panicked"))
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(k, _)| *k);
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

fn check_one(
    p: &RpmPackage,
    cache: &PackageCache,
    keys: &[Option<rpm::signature::pgp::Verifier>],
) -> Result<Checked, PackageError> {
    let path = cache.path(&p.sha256);
    let file = fs_err::File::open(&path).map_err(|source| PackageError::Cache {
        path: path.clone(),
        source,
    })?;
    let mut input = io::BufReader::with_capacity(1 << 16, file);
    let key = keys.get(p.repo).and_then(Option::as_ref);
    let md = check(&mut input, key).map_err(|source| PackageError::Package {
        package: p.nevra(),
        source,
    })?;
    let files = md
        .get_file_entries()
        .unwrap_or_default()
        .iter()
        .filter(|f| !f.flags().contains(rpm::FileFlags::GHOST))
        .map(|f| f.path().to_string_lossy().into_owned())
        .collect();
    Ok(Checked {
        nevra: p.nevra(),
        name: p.name.clone(),
        evr: p.evr.clone(),
        sha256: p.sha256.clone(),
        scripts: Scripts::read(&md),
        files,
    })
}

/// What an RPM resolution leaves for unpacking and the finish.
pub struct RpmPlan {
    universe: Universe,
    /// The chosen packages in rpm's install order.
    order: Vec<usize>,
    /// The repositories' keys (none for `--dry-run`, which verifies nothing).
    keys: Verifiers,
    armored_keys: Vec<Vec<u8>>,
}

/// What unpacking leaves for the finish.
pub struct RpmUnpacked {
    checked: Vec<Checked>,
    /// Files whose owner a `%pre` creates.
    pending: Vec<PendingOwner>,
}

impl Bootstrap for super::Rpm {
    type Plan = RpmPlan;
    type Unpacked = RpmUnpacked;

    /// The config's packages and groups, and `rpm` (the finish needs the
    /// root's own), in rpm's install order.
    fn plan(
        &self,
        config: &Config,
        cx: &Context,
        fetcher: &Fetcher,
        lap: &mut dyn FnMut(&'static str),
    ) -> Result<(Resolved, RpmPlan), PackageError> {
        let universe = Universe::load(fetcher, config, &cx.cachedir, false)?;
        lap("metadata");
        let mut wanted = universe.expand(config, &config.install.packages, cx.say)?;
        if !wanted.iter().any(|w| w == "rpm") {
            wanted.push("rpm".into());
        }
        let request = RpmRequest {
            arch: config.arch.rpm,
            packages: wanted,
            requires: Vec::new(),
            weak_deps: config.install.weak_deps,
            installed: Vec::new(),
            upgrade: false,
        };
        let chosen = resolve(&universe.packages, &request)?;
        let order = install_order(&universe.packages, &chosen);
        let (keys, armored_keys) = if cx.dry_run {
            Default::default()
        } else {
            load_keys(fetcher, config)?
        };
        let cache = PackageCache::new(&cx.cachedir);
        let chosen = || order.iter().map(|&i| &universe.packages[i]);
        let nevras: Vec<String> = chosen().map(RpmPackage::nevra).collect();
        let resolved = Resolved {
            entries: chosen()
                .map(|p| format!("{} {}", p.nevra(), p.sha256))
                .collect(),
            lines: nevras.clone(),
            packages: nevras,
            downloads: order.iter().map(|&i| universe.download(i)).collect(),
            transaction: Transaction {
                packages: order
                    .iter()
                    .map(|&i| universe.step(config, i, Action::Install, None, &cache))
                    .collect(),
            },
        };
        let plan = RpmPlan {
            universe,
            order,
            keys,
            armored_keys,
        };
        Ok((resolved, plan))
    }

    /// Each package's digests and signature checked, then every payload
    /// written by one process confined to the new root, which also writes
    /// the repository files.
    fn unpack(
        &self,
        config: &Config,
        plan: &RpmPlan,
        cache: &PackageCache,
        staging: &Staging,
        run: &mut InitRun,
        cx: &Context,
    ) -> Result<RpmUnpacked, PackageError> {
        (cx.say)(&format!(
            "checking and unpacking {} packages",
            plan.order.len()
        ));
        let checked = check_all(
            &plan.universe,
            &plan.order,
            cache,
            &plan.keys,
            cx.parallel.min(4),
        )?;
        run.timer.lap("check");
        let files = plan
            .order
            .iter()
            .map(|&i| {
                let p = &plan.universe.packages[i];
                let path = cache.path(&p.sha256);
                fs_err::File::open(&path)
                    .map(|f| (p.nevra(), File::from(f)))
                    .map_err(|source| PackageError::Cache { path, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let setup = RepoSetup::new(config, &plan.armored_keys);
        let unpack_err = |source| PackageError::Confined {
            what: "unpack the packages into the new root",
            source,
        };
        let (child, mut pipe) = confined::spawn_writer(&staging.root(), move |mut out| {
            let pending = unpack_all(files)?;
            setup.write()?;
            serde_json::to_writer(&mut out, &pending)?;
            Ok(())
        })
        .map_err(unpack_err)?;
        let mut text = String::new();
        let read = pipe.read_to_string(&mut text);
        child.wait().map_err(unpack_err)?;
        read.map_err(|source| PackageError::Log {
            path: staging.root(),
            source,
        })?;
        let pending = serde_json::from_str(&text).unwrap_or_default();
        run.timer.lap("unpack");
        Ok(RpmUnpacked { checked, pending })
    }

    /// The root's own rpm under emulation runs one logged driver script in
    /// two parts (module doc); between them, files get the owners a `%pre`
    /// created.
    fn finish(
        &self,
        config: &Config,
        plan: RpmPlan,
        unpacked: RpmUnpacked,
        staging: &Staging,
        run: &mut InitRun,
        cx: &Context,
    ) -> Result<(), PackageError> {
        let log_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PackageError::Log { path, source }
        };
        let mode = cx.accel_mode(config, crate::config::AccelMode::Auto);
        let cache = PackageCache::new(&cx.cachedir);
        let native_db = native_rpmdb(config, mode, &unpacked.checked, staging, &cache);
        run.timer.lap("rpmdb-prepare");
        let _ = match &native_db {
            Ok(reg) => writeln!(
                run.root_log,
                "brt: accel {mode}: brt writes the rpmdb natively ({} packages into {}/rpmdb.sqlite)",
                reg.len(),
                reg.location.dbpath
            ),
            Err(why) => writeln!(
                run.root_log,
                "brt: accel {mode}: the root's rpm registers the packages ({why})"
            ),
        };
        if let (Err(why), false) = (&native_db, mode == crate::config::AccelMode::Off) {
            (cx.say)(&format!(
                "the root's rpm registers the packages under emulation: {why}"
            ));
        }
        (cx.say)(if native_db.is_ok() {
            "running scriptlets with the root's rpm; brt writes the rpmdb"
        } else {
            "running scriptlets and registering packages with the root's rpm"
        });
        let finish_dir = staging.side_file("finish");
        let driver = Driver::new(
            &unpacked.checked,
            plan.armored_keys.len(),
            native_db.is_err(),
        );
        driver
            .write(&finish_dir, &plan.armored_keys)
            .map_err(log_err(&finish_dir))?;
        let _ = run.root_log.flush();
        let binds = vec![
            cache_bind(&PackageCache::new(&cx.cachedir)),
            Bind {
                source: finish_dir.clone(),
                target: PathBuf::from(FINISH_IN_ROOT),
                readonly: true,
            },
        ];
        let drive = |script: &str, step: &str| {
            run_logged(
                &staging.root(),
                &super::manager(),
                step,
                vec!["/bin/sh".into(), format!("{FINISH_IN_ROOT}/{script}")],
                binds.clone(),
                cx.interpreters.clone(),
                &run.root_log_path,
            )
        };
        drive("pre.sh", "rpm scriptlets (%pretrans, %pre)")?;
        run.timer.lap("pre");
        if !unpacked.pending.is_empty() {
            let notes = give_owners(&staging.root(), unpacked.pending)?;
            let mut log = fs_err::OpenOptions::new()
                .append(true)
                .open(&run.root_log_path)
                .map_err(log_err(&run.root_log_path))?;
            let _ = log.write_all(notes.as_bytes());
        }
        if let Ok(reg) = native_db {
            reg.write(&staging.root())
                .map_err(|source| PackageError::Confined {
                    what: "write the rpmdb",
                    source,
                })?;
            run.timer.lap("rpmdb");
        }
        drive(
            "post.sh",
            "rpm -i --justdb and scriptlets (%post, triggers, %posttrans)",
        )?;
        let _ = fs_err::remove_dir_all(&finish_dir);
        let warnings = tail(&run.root_log_path, usize::MAX)
            .lines()
            .filter(|l| l.starts_with("warning: %") && l.contains("scriptlet failed"))
            .count();
        if warnings > 0 {
            (cx.say)(&format!(
                "{warnings} scriptlet(s) failed (warnings, as rpm treats them); see `{}`",
                run.root_log_path.display()
            ));
        }
        run.timer.lap("finish");
        Ok(())
    }
}

/// The rpmdb of `pkgs` (in install order) as brt writes it natively, or why
/// the root's rpm has to (`accel off`, another backend or rpm version, a
/// header brt would not reproduce exactly).
fn native_rpmdb(
    config: &Config,
    mode: crate::config::AccelMode,
    pkgs: &[Checked],
    staging: &Staging,
    cache: &PackageCache,
) -> Result<super::rpmdb::Registration, String> {
    use super::rpmdb::{Clock, Location, Registration, supported};
    if mode == crate::config::AccelMode::Off {
        return Err("accel off".into());
    }
    let rpm = pkgs
        .iter()
        .find(|p| p.name == "rpm")
        .ok_or("no `rpm` package in the root")?;
    if !supported(&rpm.evr.version) {
        return Err(format!(
            "its rpm is {}; brt writes the database of rpm 4.16 to 4.20",
            rpm.evr.version
        ));
    }
    let location = Location::find(&staging.root(), config.arch.rpm)
        .map_err(|e| format!("cannot read the root's macros: {e}"))??;
    let files: Vec<(String, PathBuf)> = pkgs
        .iter()
        .map(|p| (p.nevra.clone(), cache.path(&p.sha256)))
        .collect();
    Registration::prepare(location, &files, Clock::now())
}

/// A file whose owner or group did not exist when it was unpacked (a
/// `%pre` makes it); it was given to root meanwhile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingOwner {
    pub path: String,
    pub user: String,
    pub group: String,
    /// The mode to set again after `chown` (which clears setuid/setgid).
    pub mode: u32,
}

/// Gives the files whose owner a `%pre` created to that owner (and sets
/// their mode again, which `chown` clears setuid from), from a process
/// confined to the root. Returns log lines: what was done, and owners that
/// still do not exist (left to root, as rpm does with a warning).
fn give_owners(root: &Path, pending: Vec<PendingOwner>) -> Result<String, PackageError> {
    let err = |source| PackageError::Confined {
        what: "give files to the users and groups the scriptlets created",
        source,
    };
    let (child, mut pipe) = confined::spawn_writer(root, move |mut out| {
        let mut owners = Owners::default();
        owners.refresh();
        for p in pending {
            let (uid, gid) = owners.lookup(&p.user, &p.group);
            if uid.is_none() || gid.is_none() {
                writeln!(
                    out,
                    "warning: user {} or group {} does not exist - using root for {}",
                    p.user, p.group, p.path
                )?;
            }
            nix::unistd::fchownat(
                None,
                p.path.as_str(),
                uid.map(nix::unistd::Uid::from_raw),
                gid.map(nix::unistd::Gid::from_raw),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            let is_link = fs_err::symlink_metadata(&p.path)?.file_type().is_symlink();
            if !is_link {
                fs_err::set_permissions(&p.path, std::fs::Permissions::from_mode(p.mode))?;
            }
            writeln!(out, "brt: {} given to {}:{}", p.path, p.user, p.group)?;
        }
        Ok(())
    })
    .map_err(err)?;
    let mut text = String::new();
    let _ = pipe.read_to_string(&mut text);
    child.wait().map_err(err)?;
    Ok(text)
}

/// Runs confined to the new root: writes every payload, in install order.
fn unpack_all(files: Vec<(String, File)>) -> Result<Vec<PendingOwner>, Box<dyn std::error::Error>> {
    let unpacker = Unpacker::in_root("/", Ownership::Preserve);
    let mut owners = Owners::default();
    let mut pending = Vec::new();
    for (label, file) in files {
        owners.refresh();
        unpack_rpm(&unpacker, &owners, file, &mut pending).map_err(|source| UnpackError {
            package: label.clone(),
            source,
        })?;
    }
    Ok(pending)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot unpack `{package}`")]
struct UnpackError {
    package: String,
    #[source]
    source: io::Error,
}

/// User and group names of the root, read again (before each package)
/// when its `/etc/passwd` or `/etc/group` has changed (the `setup` package
/// brings them).
#[derive(Default)]
struct Owners {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
    stamp: Option<(u64, u64)>,
}

impl Owners {
    fn refresh(&mut self) {
        let stamp = |p: &str| {
            fs_err::metadata(p)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64)
        };
        let now = (stamp("/etc/passwd"), stamp("/etc/group"));
        if self.stamp == Some(now) {
            return;
        }
        self.stamp = Some(now);
        let read = |p: &str, idx: usize| -> HashMap<String, u32> {
            fs_err::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.first()?.to_string(), f.get(idx)?.parse().ok()?))
                })
                .collect()
        };
        self.users = read("/etc/passwd", 2);
        self.groups = read("/etc/group", 2);
    }

    /// By name, as the files were when [`Owners::refresh`] last ran.
    fn lookup(&self, user: &str, group: &str) -> (Option<u32>, Option<u32>) {
        let uid = if user == "root" {
            Some(0)
        } else {
            self.users.get(user).copied()
        };
        let gid = if group == "root" {
            Some(0)
        } else {
            self.groups.get(group).copied()
        };
        (uid, gid)
    }
}

/// Writes one package's payload. Paths come from the header (the payload's
/// own names must match them); `..` is refused, and so is a path through a
/// symlink the same package made, which is how a package would write
/// where its file list says it does not.
fn unpack_rpm(
    unpacker: &Unpacker,
    owners: &Owners,
    file: File,
    pending: &mut Vec<PendingOwner>,
) -> io::Result<()> {
    let mut reader =
        rpm::PackageReader::parse(io::BufReader::with_capacity(1 << 20, file)).map_err(rpm_io)?;
    let mut payload = Payload {
        unpacker,
        owners,
        pending,
        links: HardLinks::of(&reader.metadata)?,
        symlinks: Vec::new(),
        dirs: Vec::new(),
    };
    while let Some(mut entry) = reader.next_file().map_err(rpm_io)? {
        payload.entry(&mut entry)?;
    }
    payload.finish()
}

/// Hard links: rpm stores the content once, with the last member of a set.
struct HardLinks {
    /// A path's (device, inode).
    identity: HashMap<PathBuf, (u32, u32)>,
    /// How many paths share a (device, inode).
    set_size: HashMap<(u32, u32), usize>,
    /// The path written with the set's content.
    written: HashMap<(u32, u32), PathBuf>,
    /// Members seen before their content.
    waiting: Vec<(PathBuf, (u32, u32))>,
}

impl HardLinks {
    fn of(md: &rpm::PackageMetadata) -> io::Result<HardLinks> {
        let header = &md.header;
        let inodes = header
            .get_entry_data_as_u32_array(rpm::IndexTag::RPMTAG_FILEINODES)
            .unwrap_or_default();
        let devices = header
            .get_entry_data_as_u32_array(rpm::IndexTag::RPMTAG_FILEDEVICES)
            .unwrap_or_default();
        let mut links = HardLinks {
            identity: HashMap::new(),
            set_size: HashMap::new(),
            written: HashMap::new(),
            waiting: Vec::new(),
        };
        let entries = md.get_file_entries().map_err(rpm_io)?;
        for (i, f) in entries.iter().enumerate() {
            if let (Some(&ino), Some(&dev)) = (inodes.get(i), devices.get(i)) {
                links.identity.insert(f.path(), (dev, ino));
                *links.set_size.entry((dev, ino)).or_default() += 1;
            }
        }
        Ok(links)
    }

    /// The set `full` belongs to, if it has more than one member.
    fn set_of(&self, full: &Path) -> Option<(u32, u32)> {
        let id = self.identity.get(full).copied()?;
        (self.set_size.get(&id).copied().unwrap_or(0) > 1).then_some(id)
    }
}

/// One package's payload being written into the root.
struct Payload<'u> {
    unpacker: &'u Unpacker,
    owners: &'u Owners,
    pending: &'u mut Vec<PendingOwner>,
    links: HardLinks,
    /// Symlinks of this package: nothing of it may pass through them.
    symlinks: Vec<PathBuf>,
    /// Directories, whose mode and mtime are set at the end.
    dirs: Vec<(PathBuf, Meta)>,
}

impl Payload<'_> {
    /// The owner, mode and mtime of `md`; an owner that does not exist yet
    /// is root for now, and noted for after `%pre`.
    fn meta(&mut self, md: &rpm::FileEntry, path: &Path) -> Meta {
        let (uid, gid) = self.owners.lookup(md.user(), md.group());
        let mode = u32::from(md.permissions());
        if uid.is_none() || gid.is_none() {
            self.pending.push(PendingOwner {
                path: path.to_string_lossy().into_owned(),
                user: md.user().to_string(),
                group: md.group().to_string(),
                mode,
            });
        }
        Meta {
            mode,
            uid: uid.unwrap_or(0),
            gid: gid.unwrap_or(0),
            mtime: TimeSpec::new(i64::from(md.modified_at().0), 0),
            xattrs: Vec::new(),
        }
    }

    fn entry(&mut self, entry: &mut rpm::StreamingRpmFile<'_>) -> io::Result<()> {
        let md = entry.metadata.clone();
        if md.flags().contains(rpm::FileFlags::GHOST) {
            return Ok(());
        }
        let full = md.path();
        let rel = relative(&full)?;
        if rel.as_os_str().is_empty() {
            if md.file_type() != rpm::FileType::Dir {
                return Err(io::Error::other(
                    "a file that is not a directory is named `/`",
                ));
            }
            // `/` itself (Fedora's `filesystem` owns it): its mode.
            let (uid, gid) = self.owners.lookup(md.user(), md.group());
            let meta = Meta {
                mode: u32::from(md.permissions()),
                uid: uid.unwrap_or(0),
                gid: gid.unwrap_or(0),
                mtime: TimeSpec::new(i64::from(md.modified_at().0), 0),
                xattrs: Vec::new(),
            };
            self.dirs.insert(0, (PathBuf::from("/"), meta));
            return Ok(());
        }
        if let Some(link) = self
            .symlinks
            .iter()
            .find(|l| rel.starts_with(l) && rel != **l)
        {
            return Err(io::Error::other(format!(
                "`{}` passes through `/{}`, a symlink in the same package",
                full.display(),
                link.display()
            )));
        }
        let path = Path::new("/").join(&rel);
        let meta = self.meta(&md, &path);
        let at = |e: io::Error| io::Error::new(e.kind(), format!("`{}`: {e}", full.display()));
        match md.file_type() {
            rpm::FileType::Dir => {
                if self.unpacker.make_dir(&path).map_err(at)? {
                    self.dirs.push((path, meta));
                }
            }
            rpm::FileType::Regular => {
                let set = self.links.set_of(&full);
                if let (Some(id), false) = (set, entry.has_payload()) {
                    self.links.waiting.push((path, id));
                    return Ok(());
                }
                self.unpacker.write_file(&path, entry, &meta).map_err(at)?;
                entry.finish().map_err(at)?;
                if let Some(id) = set {
                    self.links.written.insert(id, path);
                }
            }
            rpm::FileType::SymbolicLink => {
                let target = md.linkto().unwrap_or_default().to_string();
                self.unpacker
                    .symlink(std::ffi::OsStr::new(&target), &path, &meta)
                    .map_err(at)?;
                self.symlinks.push(rel);
            }
            kind @ (rpm::FileType::CharacterDevice
            | rpm::FileType::BlockDevice
            | rpm::FileType::Fifo) => {
                let flag = match kind {
                    rpm::FileType::CharacterDevice => SFlag::S_IFCHR,
                    rpm::FileType::BlockDevice => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let rdev = u64::from(md.rdev());
                let dev = nix::sys::stat::makedev(rdev >> 8, rdev & 0xff);
                self.unpacker.node(&path, flag, dev, &meta).map_err(at)?;
            }
            other => {
                return Err(io::Error::other(format!(
                    "`{}` is of a type brt cannot unpack ({other:?})",
                    full.display()
                )));
            }
        }
        Ok(())
    }

    /// Hard links to the content written, then the directories' modes and
    /// mtimes, deepest first.
    fn finish(self) -> io::Result<()> {
        for (path, id) in &self.links.waiting {
            let Some(target) = self.links.written.get(id) else {
                return Err(io::Error::other(format!(
                    "`{}` is a hard link whose content is missing from the payload",
                    path.display()
                )));
            };
            self.unpacker.hard_link(target, path)?;
        }
        for (path, meta) in self.dirs.iter().rev() {
            self.unpacker.apply_path(path, meta, true)?;
        }
        Ok(())
    }
}

fn rpm_io(e: rpm::Error) -> io::Error {
    match e {
        rpm::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the package is truncated")
        }
        rpm::Error::Io(e) => e,
        e => io::Error::other(e.to_string()),
    }
}

/// A header path as a path relative to `/`, refused when it has `..`.
fn relative(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            _ => {
                return Err(io::Error::other(format!(
                    "`{}` has `..` in it: refusing to unpack it",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

/// The repositories as the root's dnf/yum would read them, and their keys.
pub(crate) struct RepoSetup {
    repo_file: String,
    keys: Vec<(String, Vec<u8>)>,
}

impl RepoSetup {
    pub(crate) fn new(config: &Config, armored: &[Vec<u8>]) -> RepoSetup {
        let keys: Vec<(String, Vec<u8>)> = armored
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    format!("/etc/pki/rpm-gpg/RPM-GPG-KEY-brt-{}-{i}", config.name),
                    k.clone(),
                )
            })
            .collect();
        let mut text =
            String::from("# Written by brt from its config; `brt -r NAME config` shows it.\n");
        for repo in &config.repos {
            let RepoKind::Rpm(r) = &repo.kind else {
                continue;
            };
            let _ = writeln!(text, "\n[{}]\nname={}", repo.name, repo.name);
            if !r.baseurl.is_empty() {
                let _ = writeln!(text, "baseurl={}", r.baseurl.join(" "));
            }
            if let Some(m) = &r.metalink {
                let _ = writeln!(text, "metalink={m}");
            }
            if let Some(m) = &r.mirrorlist {
                let _ = writeln!(text, "mirrorlist={m}");
            }
            let _ = writeln!(
                text,
                "enabled={}\ngpgcheck={}",
                u8::from(repo.enabled),
                u8::from(repo.gpgcheck)
            );
            if repo.gpgcheck && !keys.is_empty() {
                let urls: Vec<String> = keys.iter().map(|(p, _)| format!("file://{p}")).collect();
                let _ = writeln!(text, "gpgkey={}", urls.join(" "));
            }
        }
        RepoSetup {
            repo_file: text,
            keys,
        }
    }

    /// Runs confined to the root.
    pub(crate) fn write(self) -> io::Result<()> {
        fs_err::create_dir_all("/etc/yum.repos.d")?;
        fs_err::write("/etc/yum.repos.d/brt.repo", self.repo_file)?;
        for (path, bytes) in self.keys {
            if let Some(dir) = Path::new(&path).parent() {
                fs_err::create_dir_all(dir)?;
            }
            fs_err::write(&path, bytes)?;
        }
        Ok(())
    }
}

/// The finish, as one shell script run by the root's `/bin/sh`, and the
/// scriptlet files it runs.
struct Driver {
    /// `text[..second]` is `pre.sh`, the rest (after the same head) `post.sh`.
    text: String,
    second: usize,
    /// File name in the finish dir, content.
    files: Vec<(String, String)>,
}

/// Shell functions of the driver: `fatal LABEL CMD...` stops at a failure,
/// `warn LABEL CMD...` notes it as rpm does and goes on.
const DRIVER_HEAD: &str = r#"# Written by brt: the end of an init, run by the root's shell.
cd /
umask 022
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME=/root
fatal() {
    label=$1; shift
    echo "brt: $label"
    "$@"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "brt: scriptlet failed: $label (exit status $rc)"
        exit 1
    fi
}
warn() {
    label=$1; shift
    echo "brt: $label"
    "$@"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "warning: $label scriptlet failed, exit status $rc"
    fi
}
"#;

impl Driver {
    /// The driver for `pkgs`; `register`: the root's rpm registers them
    /// (else brt writes the rpmdb between the two parts).
    fn new(pkgs: &[Checked], keys: usize, register: bool) -> Driver {
        let mut d = Driver {
            text: DRIVER_HEAD.to_string(),
            second: 0,
            files: Vec::new(),
        };
        for i in 0..keys {
            let _ = writeln!(
                d.text,
                "fatal 'rpmkeys --import key {i}' rpmkeys --import {FINISH_IN_ROOT}/key-{i}.asc"
            );
        }
        for p in pkgs {
            if let Some(s) = &p.scripts.pretrans {
                d.run(true, &format!("%pretrans({})", p.nevra), s, &["1"], None);
            }
        }
        for p in pkgs {
            if let Some(s) = &p.scripts.pre {
                d.run(true, &format!("%pre({})", p.nevra), s, &["1"], None);
            }
        }
        // The owners made by %pre are given natively between the two.
        d.text.push_str("echo 'brt: %pre done'\n");
        d.second = d.text.len();
        let rpms: Vec<String> = pkgs
            .iter()
            .map(|p| format!("{CACHE_IN_ROOT}/{}", p.sha256))
            .collect();
        // In brt's order, as the native rpmdb (`--noorder`).
        if register {
            let _ = writeln!(
                d.text,
                "fatal 'rpm -i --justdb' rpm -i --justdb --noorder --nodeps --noscripts --notriggers --nosignature --nodigest --ignoresize --replacefiles --replacepkgs {}",
                rpms.join(" ")
            );
        }
        for p in pkgs {
            if let Some(s) = &p.scripts.post {
                d.run(false, &format!("%post({})", p.nevra), s, &["1"], None);
            }
        }
        let installed: HashMap<&str, &Evr> =
            pkgs.iter().map(|p| (p.name.as_str(), &p.evr)).collect();
        for p in pkgs {
            for t in &p.scripts.triggerin {
                for (name, range) in &t.on {
                    if installed
                        .get(name.as_str())
                        .is_some_and(|evr| in_range(evr, range))
                    {
                        d.run(
                            false,
                            &format!("%triggerin({}) on {name}", p.nevra),
                            &t.script,
                            &["1", "1"],
                            None,
                        );
                    }
                }
            }
        }
        for p in pkgs {
            for t in &p.scripts.filetriggerin {
                for q in pkgs {
                    let matched = matching(&q.files, &t.on);
                    if !matched.is_empty() {
                        d.run(
                            false,
                            &format!("%filetriggerin({}) on {}", p.nevra, q.nevra),
                            &t.script,
                            &["1", "1"],
                            Some(matched.join("\n") + "\n"),
                        );
                    }
                }
            }
        }
        for p in pkgs {
            if let Some(s) = &p.scripts.posttrans {
                d.run(false, &format!("%posttrans({})", p.nevra), s, &["1"], None);
            }
        }
        let all_files: Vec<String> = pkgs.iter().flat_map(|p| p.files.iter().cloned()).collect();
        for p in pkgs {
            for t in &p.scripts.transfiletriggerin {
                let matched = matching(&all_files, &t.on);
                if !matched.is_empty() {
                    d.run(
                        false,
                        &format!("%transfiletriggerin({})", p.nevra),
                        &t.script,
                        &["1"],
                        Some(matched.join("\n") + "\n"),
                    );
                }
            }
        }
        d.text.push_str("echo 'brt: finished'\n");
        d
    }

    /// One scriptlet: its text in a file, run by its interpreter with rpm's
    /// arguments (the Lua ones through the root's rpm, which embeds Lua).
    fn run(&mut self, fatal: bool, label: &str, s: &Script, args: &[&str], stdin: Option<String>) {
        let n = self.files.len();
        let input = stdin.map(|text| {
            let name = format!("{n}.in");
            self.files.push((name.clone(), text));
            format!(" < {FINISH_IN_ROOT}/{name}")
        });
        let cmd = if s.is_lua() {
            let name = format!("{n}.lua");
            self.files.push((name.clone(), s.body.clone()));
            let lua_args: Vec<String> = std::iter::once(format!("'{label}'"))
                .chain(args.iter().map(|a| format!("'{a}'")))
                .collect();
            let lua = format!(
                "%{{lua: arg = {{{}}}; dofile('{FINISH_IN_ROOT}/{name}')}}",
                lua_args.join(", ").replace('%', "")
            );
            format!("rpm --eval {}", quote(&lua))
        } else {
            let mut argv: Vec<String> = s.program.iter().map(|p| quote(p)).collect();
            if !s.body.is_empty() {
                let name = format!("{n}.sh");
                self.files.push((name.clone(), s.body.clone()));
                argv.push(format!("{FINISH_IN_ROOT}/{name}"));
            }
            argv.extend(args.iter().map(|a| a.to_string()));
            argv.join(" ")
        };
        let _ = writeln!(
            self.text,
            "{} {} {cmd}{}",
            if fatal { "fatal" } else { "warn" },
            quote(label),
            input.unwrap_or_default()
        );
    }

    fn write(&self, dir: &Path, keys: &[Vec<u8>]) -> io::Result<()> {
        fs_err::create_dir_all(dir)?;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        fs_err::write(dir.join("pre.sh"), &self.text[..self.second])?;
        fs_err::write(
            dir.join("post.sh"),
            format!("{DRIVER_HEAD}{}", &self.text[self.second..]),
        )?;
        for (name, text) in &self.files {
            fs_err::write(dir.join(name), text)?;
        }
        for (i, k) in keys.iter().enumerate() {
            fs_err::write(dir.join(format!("key-{i}.asc")), k)?;
        }
        Ok(())
    }
}

/// Does `evr` satisfy a trigger's range (`>= 1.2`, or empty for any)?
fn in_range(evr: &Evr, range: &str) -> bool {
    let Some((op, v)) = range.split_once(' ') else {
        return true;
    };
    match Flags::from_operator(op) {
        Some(f) => f.matches(evr, &Evr::parse(v)),
        None => true,
    }
}

/// The files under any of the trigger's path prefixes.
fn matching(files: &[String], on: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|f| on.iter().any(|(prefix, _)| f.starts_with(prefix.as_str())))
        .cloned()
        .collect()
}

/// A word for the shell, in single quotes.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_prefixes() {
        let evr = Evr::parse("1.2-3");
        assert!(in_range(&evr, ""));
        assert!(in_range(&evr, ">= 1.0"));
        assert!(!in_range(&evr, "< 1.0"));
        let files = vec!["/usr/share/brt-doc/a.txt".to_string(), "/usr/bin/x".into()];
        assert_eq!(
            matching(&files, &[("/usr/share/brt-doc".into(), String::new())]),
            ["/usr/share/brt-doc/a.txt"]
        );
    }

    #[test]
    fn header_paths_with_dotdot_are_refused() {
        assert!(relative(Path::new("/usr/../../etc/x")).is_err());
        assert_eq!(
            relative(Path::new("/usr/./bin/sh")).unwrap(),
            Path::new("usr/bin/sh")
        );
        assert_eq!(relative(Path::new("/")).unwrap(), Path::new(""));
    }

    #[test]
    fn the_driver_runs_scripts_in_rpm_order() {
        let script = |body: &str| Script {
            program: vec!["/bin/sh".into()],
            body: body.into(),
        };
        let pkg = |name: &str, scripts: Scripts| Checked {
            nevra: format!("{name}-1-1.noarch"),
            name: name.into(),
            evr: Evr::parse("1-1"),
            sha256: format!("{name}sum"),
            scripts,
            files: vec![format!("/usr/share/{name}/f")],
        };
        let a = pkg(
            "a",
            Scripts {
                pre: Some(script("useradd x")),
                post: Some(Script {
                    program: vec!["<lua>".into()],
                    body: "print('hi')".into(),
                }),
                ..Default::default()
            },
        );
        let b = pkg(
            "b",
            Scripts {
                triggerin: vec![crate::unpack::rpm::Trigger {
                    script: script("echo $1 $2"),
                    on: vec![("a".into(), ">= 1".into())],
                }],
                ..Default::default()
            },
        );
        let d = Driver::new(&[a, b], 1, true);
        let lines: Vec<&str> = d.text.lines().filter(|l| !l.starts_with(' ')).collect();
        let pos = |needle: &str| {
            lines
                .iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no `{needle}` in\n{}", d.text))
        };
        assert!(pos("rpmkeys --import") < pos("%pre(a-1-1.noarch)"));
        assert!(pos("%pre(a") < pos("brt: %pre done"));
        assert!(d.text[..d.second].contains("%pre(a"));
        assert!(d.text[d.second..].contains("rpm -i --justdb"));
        assert!(pos("rpm -i --justdb") < pos("%post(a"));
        assert!(pos("%post(a") < pos("%triggerin(b-1-1.noarch) on a"));
        assert!(lines[pos("%pre(a")].starts_with("fatal"));
        assert!(lines[pos("%post(a")].contains("rpm --eval"));
        assert!(
            lines[pos("rpm -i --justdb")].contains("/run/brt-packages/asum /run/brt-packages/bsum")
        );
        assert_eq!(d.files[0].1, "useradd x");
    }
}
