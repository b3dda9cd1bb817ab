//! `init` for Debian-family roots (docs/design.md §4): metadata and resolution
//! natively, parallel verified downloads into the package cache, every
//! `.deb` unpacked natively by one process confined to the staging root,
//! which also writes dpkg's database as dpkg's own unpack phase would. Only
//! the last step runs the root's own code under emulation: the maintainer
//! scripts (`preinst install` in dependency order, then
//! `dpkg --configure -a`). The root is moved into place and marked ready at
//! the very end.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{Config, RepoKind};
use crate::fetch::{Download, Expected, Fetcher, PackageCache};
use crate::repo::apt::metadata::{self, AptIndex, AptSource};
use crate::repo::apt::{DebPackage, decompressor};
use crate::resolve::deb::{DebRequest, resolve};
use crate::root::archive::{ArchiveError, Ownership, Unpacker};
use crate::root::confined;
use crate::root::family::exec::run_logged;
use crate::root::family::pipeline::{InitRun, Resolved};
use crate::root::family::{Bootstrap, Context, PackageError};
use crate::root::staging::Staging;
use crate::root::transaction::{Action, Step, Transaction};
use crate::sandbox;
use crate::unpack::deb::{ReadDebError, read_deb};
use crate::unpack::dpkg::DpkgDb;

/// Every repository's packages as one list for the resolver, and which
/// repository each came from.
pub(crate) struct Universe {
    pub packages: Vec<DebPackage>,
    /// `base[i]`: which of `urls` `packages[i]` comes from.
    base: Vec<usize>,
    urls: Vec<String>,
}

impl Universe {
    /// Moves the packages out of `indexes` (nothing else reads them).
    pub(crate) fn new(indexes: &mut [AptIndex]) -> Universe {
        let mut u = Universe {
            packages: Vec::new(),
            base: Vec::new(),
            urls: indexes.iter().map(|i| i.url.clone()).collect(),
        };
        for (i, index) in indexes.iter_mut().enumerate() {
            u.base.extend(std::iter::repeat_n(i, index.packages.len()));
            u.packages.append(&mut index.packages);
        }
        u
    }

    /// Adds packages from `url` (a local repository: `file://DIR`).
    pub(crate) fn add(&mut self, url: String, packages: Vec<DebPackage>) {
        self.urls.push(url);
        let base = self.urls.len() - 1;
        self.base.extend(std::iter::repeat_n(base, packages.len()));
        self.packages.extend(packages);
    }

    /// `packages[i]` as a transaction step (`names`: the repositories'
    /// names, in order; nothing to download when the cache has it).
    pub(crate) fn step(
        &self,
        i: usize,
        action: Action,
        from: Option<String>,
        names: &[String],
        cache: &PackageCache,
    ) -> Step {
        let p = &self.packages[i];
        Step {
            action,
            name: p.name.clone(),
            arch: p.architecture.clone(),
            version: p.version.to_string(),
            epoch: None,
            release: None,
            from,
            repo: names
                .get(self.base[i])
                .cloned()
                .unwrap_or_else(|| self.urls[self.base[i]].clone()),
            size: if cache.contains(&p.sha256) { 0 } else { p.size },
        }
    }

    /// What to fetch for `packages[i]`.
    pub(crate) fn download(&self, i: usize) -> Download {
        let p = &self.packages[i];
        Download {
            label: format!("{} {}", p.name, p.version),
            urls: vec![format!("{}/{}", self.urls[self.base[i]], p.filename)],
            expected: Expected {
                size: Some(p.size),
                sha256: p.sha256.clone(),
            },
        }
    }
}

/// What a Debian resolution leaves for unpacking and the finish.
pub struct DebPlan {
    indexes: Vec<AptIndex>,
    universe: Universe,
    chosen: Vec<usize>,
}

impl DebPlan {
    fn chosen(&self) -> impl Iterator<Item = &DebPackage> {
        self.chosen.iter().map(|&i| &self.universe.packages[i])
    }
}

impl Bootstrap for super::Deb {
    type Plan = DebPlan;
    type Unpacked = ();

    /// Essential and required packages (what `--variant=minbase` means),
    /// the config's, and `usr-is-merged`.
    fn plan(
        &self,
        config: &Config,
        cx: &Context,
        fetcher: &Fetcher,
        lap: &mut dyn FnMut(&'static str),
    ) -> Result<(Resolved, DebPlan), PackageError> {
        let mut indexes = fetch_metadata(fetcher, config, &cx.cachedir, false)?;
        let universe = Universe::new(&mut indexes);
        lap("metadata");
        let mut packages = config.install.packages.clone();
        // brt makes /usr merged itself (as debootstrap and mmdebstrap do), so
        // the package that says so goes in, not `usrmerge` (which converts a
        // root and pulls in perl), unless the config asks for `usrmerge`.
        if universe.packages.iter().any(|p| p.name == "usr-is-merged")
            && !packages.iter().any(|p| p == "usrmerge")
        {
            packages.push("usr-is-merged".into());
        }
        let request = DebRequest {
            arch: config.arch.deb,
            essential: true,
            required: true,
            packages,
            relations: Vec::new(),
            recommends: config.install.weak_deps,
            favored: Vec::new(),
        };
        let chosen = resolve(&universe.packages, &request)?;
        let plan = DebPlan {
            indexes,
            universe,
            chosen,
        };
        let cache = PackageCache::new(&cx.cachedir);
        let names = deb_repo_names(config);
        let lines: Vec<String> = plan
            .chosen()
            .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
            .collect();
        let resolved = Resolved {
            entries: plan
                .chosen()
                .map(|p| format!("{} {} {} {}", p.name, p.version, p.architecture, p.sha256))
                .collect(),
            packages: lines.clone(),
            lines,
            downloads: plan
                .chosen
                .iter()
                .map(|&i| plan.universe.download(i))
                .collect(),
            transaction: Transaction {
                packages: plan
                    .chosen
                    .iter()
                    .map(|&i| plan.universe.step(i, Action::Install, None, &names, &cache))
                    .collect(),
            },
        };
        Ok((resolved, plan))
    }

    /// Every `.deb` unpacked and dpkg's database written by one process
    /// confined to the new root, which also sets up apt.
    fn unpack(
        &self,
        config: &Config,
        plan: &DebPlan,
        cache: &PackageCache,
        staging: &Staging,
        run: &mut InitRun,
        cx: &Context,
    ) -> Result<(), PackageError> {
        (cx.say)(&format!("unpacking {} packages", plan.chosen.len()));
        let debs = plan
            .chosen()
            .map(|c| {
                let path = cache.path(&c.sha256);
                fs_err::File::open(&path)
                    .map(|f| (format!("{} {}", c.name, c.version), File::from(f)))
                    .map_err(|source| PackageError::Cache { path, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let apt = AptSetup::new(config, &plan.indexes)?;
        let arch = config.arch.deb.to_string();
        confined::run(&staging.root(), move || {
            unpack_all(debs, &arch)?;
            apt.write()?;
            Ok(())
        })
        .map_err(|source| PackageError::Confined {
            what: "unpack the packages into the new root",
            source,
        })?;
        run.timer.lap("unpack");
        Ok(())
    }

    /// The maintainer scripts under emulation with the root's own dpkg,
    /// arch-neutral programs native where they can be.
    fn finish(
        &self,
        config: &Config,
        plan: DebPlan,
        _: (),
        staging: &Staging,
        run: &mut InitRun,
        cx: &Context,
    ) -> Result<(), PackageError> {
        let arch = config.arch.deb;
        let emulated =
            crate::arch::native(crate::arch::Arch::host(), config.arch) != crate::arch::Native::Yes;
        let mode = cx.accel_mode(config, crate::config::AccelMode::Auto);
        // The root's dpkg status says "unpacked" yet: what is installed is
        // the resolved set.
        let accel = crate::accel::unneeded(mode, emulated).unwrap_or_else(|| {
            let installed = plan
                .chosen()
                .map(|p| (p.name.clone(), p.version.clone()))
                .collect();
            let mut indexes = crate::accel::Indexes::default();
            crate::accel::deb::prepare(config, mode, &staging.root(), &installed, cx, &mut indexes)
        });
        run.timer.lap("accel");
        accel.log(&mut run.root_log, cx.say, emulated);
        (cx.say)("running maintainer scripts with the root's dpkg");
        let chosen: Vec<&DebPackage> = plan.chosen().collect();
        let order = preinst_order(&chosen, arch);
        let _ = run.root_log.flush();
        configure(
            &staging.root(),
            arch,
            &order,
            cx,
            &run.root_log_path,
            &accel,
        )?;
        run.timer.lap("configure");
        Ok(())
    }
}

/// The names of the enabled apt repositories, in the order of their indexes.
pub(crate) fn deb_repo_names(config: &Config) -> Vec<String> {
    config
        .repos
        .iter()
        .filter(|r| r.enabled && matches!(r.kind, RepoKind::Deb(_)))
        .map(|r| r.name.clone())
        .collect()
}

pub(crate) fn fetch_metadata(
    fetcher: &Fetcher,
    config: &Config,
    cachedir: &Path,
    refresh: bool,
) -> Result<Vec<AptIndex>, PackageError> {
    fetch_metadata_for(fetcher, config, cachedir, refresh, config.arch.deb)
}

/// The config's repositories' metadata for the Debian architecture `arch`
/// (the root's, or the host's for the native helpers).
pub(crate) fn fetch_metadata_for(
    fetcher: &Fetcher,
    config: &Config,
    cachedir: &Path,
    refresh: bool,
    arch: &str,
) -> Result<Vec<AptIndex>, PackageError> {
    let mut indexes = Vec::new();
    for repo in config.repos.iter().filter(|r| r.enabled) {
        let RepoKind::Deb(deb) = &repo.kind else {
            continue;
        };
        let source = AptSource {
            name: &repo.name,
            url: &deb.url,
            suite: &deb.suite,
            components: &deb.components,
            keyring: &deb.keyring,
            gpgcheck: repo.gpgcheck,
            refresh,
        };
        indexes.push(metadata::load(fetcher, cachedir, &source, arch)?);
    }
    if indexes.is_empty() {
        return Err(PackageError::NoRepo {
            name: config.name.clone(),
        });
    }
    Ok(indexes)
}

/// Debian's merged /usr: the top-level directories are symlinks into /usr
/// before any package is unpacked (what debootstrap and mmdebstrap do for
/// bookworm and later). The list is debootstrap's.
fn merged_usr_links(arch: &str) -> Vec<&'static str> {
    let mut dirs = vec!["bin", "sbin", "lib"];
    dirs.extend_from_slice(match arch {
        "amd64" => &["lib32", "lib64", "libx32"][..],
        "i386" => &["lib64", "libx32"],
        "ppc64el" | "powerpc" => &["lib64"],
        "s390x" => &["lib32"],
        "mips64el" => &["lib32", "lib64", "libo32"],
        _ => &[],
    });
    dirs
}

/// Runs confined to the new root: unpack every package and write dpkg's
/// database.
fn unpack_all(debs: Vec<(String, File)>, arch: &str) -> confined::ChildResult {
    let root = Path::new("/");
    for dir in merged_usr_links(arch) {
        fs_err::create_dir_all(root.join("usr").join(dir))?;
        std::os::unix::fs::symlink(format!("usr/{dir}"), root.join(dir))?;
    }
    let mut db = DpkgDb::new(root)?;
    let unpacker = Unpacker::in_root(root, Ownership::Preserve);
    for (label, file) in debs {
        let unpacked = read_deb(
            io::BufReader::with_capacity(1 << 20, file),
            |control, data| unpack_data(&unpacker, control.conffiles(), data),
        );
        let (control, paths) = unpacked.map_err(|e| UnpackError {
            package: label.clone(),
            source: e,
        })?;
        db.add(&control, &paths).map_err(|e| UnpackError {
            package: label.clone(),
            source: ReadDebError::Data(ArchiveError::Read { source: e }),
        })?;
    }
    db.finish()?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot unpack `{package}`")]
struct UnpackError {
    package: String,
    #[source]
    source: ReadDebError<ArchiveError>,
}

/// Unpacks one data archive; returns its member paths. Conffiles go to
/// `NAME.dpkg-new` (dpkg renames them when it configures the package). A
/// member that passes through a symlink the same package made is refused:
/// that is how a package would write where its own file list says it does
/// not.
fn unpack_data(
    unpacker: &Unpacker,
    conffiles: Vec<String>,
    data: &mut dyn io::Read,
) -> Result<Vec<PathBuf>, ArchiveError> {
    let conffiles: HashSet<PathBuf> = conffiles
        .iter()
        .map(|c| PathBuf::from(c.trim_start_matches('/')))
        .collect();
    let mut paths = Vec::new();
    let mut links: Vec<PathBuf> = Vec::new();
    unpacker.unpack_observed(data, &mut |rel, kind| {
        if let Some(link) = links
            .iter()
            .find(|l| rel.starts_with(l) && rel != l.as_path())
        {
            return Err(io::Error::other(format!(
                "it passes through `/{}`, a symlink in the same package",
                link.display()
            )));
        }
        paths.push(rel.to_path_buf());
        if kind == tar::EntryType::Symlink {
            links.push(rel.to_path_buf());
        }
        Ok(conffiles.contains(rel).then(|| {
            let mut new = rel.as_os_str().to_owned();
            new.push(".dpkg-new");
            PathBuf::from(new)
        }))
    })?;
    Ok(paths)
}

/// apt's configuration in the new root: sources from the config, the
/// keyring that verified them, and the verified index files as apt's
/// lists, so apt works at once without `apt-get update`.
pub(crate) struct AptSetup {
    sources: String,
    keyrings: Vec<(String, Vec<u8>)>,
    /// apt list name, open cached file, whether to decompress.
    lists: Vec<(String, File, String)>,
}

impl AptSetup {
    pub(crate) fn new(config: &Config, indexes: &[AptIndex]) -> Result<AptSetup, PackageError> {
        let mut sources =
            String::from("# Written by brt from its config; `brt -r NAME config` shows it.\n");
        let mut keyrings = Vec::new();
        let deb_repos = config
            .repos
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| match &r.kind {
                RepoKind::Deb(d) => Some((r, d)),
                RepoKind::Rpm(_) => None,
            });
        let mut lists = Vec::new();
        for ((repo, deb), index) in deb_repos.zip(indexes) {
            let options = match &index.keyring {
                Some(k) => {
                    let name = format!("brt-{}.gpg", repo.name);
                    let bytes = fs_err::read(k).map_err(|source| PackageError::Cache {
                        path: k.clone(),
                        source,
                    })?;
                    keyrings.push((name.clone(), bytes));
                    format!("[signed-by=/etc/apt/keyrings/{name}] ")
                }
                None => "[trusted=yes] ".to_string(),
            };
            let _ = writeln!(
                sources,
                "deb {options}{} {} {}",
                deb.url,
                deb.suite,
                deb.components.join(" ")
            );
            for (path, local) in &index.files {
                let plain = path
                    .strip_suffix(".xz")
                    .or_else(|| path.strip_suffix(".gz"))
                    .unwrap_or(path);
                let name = metadata::apt_list_name(&index.url, &index.suite, plain);
                let file = fs_err::File::open(local).map_err(|source| PackageError::Cache {
                    path: local.clone(),
                    source,
                })?;
                lists.push((name, File::from(file), path.clone()));
            }
        }
        Ok(AptSetup {
            sources,
            keyrings,
            lists,
        })
    }

    /// Runs confined to the root.
    pub(crate) fn write(self) -> io::Result<()> {
        let root = Path::new("/");
        fs_err::create_dir_all(root.join("etc/apt/keyrings"))?;
        fs_err::write(root.join("etc/apt/sources.list"), &self.sources)?;
        for (name, bytes) in &self.keyrings {
            fs_err::write(root.join("etc/apt/keyrings").join(name), bytes)?;
        }
        let lists = root.join("var/lib/apt/lists");
        fs_err::create_dir_all(lists.join("partial"))?;
        for (name, file, path) in self.lists {
            let mut out = fs_err::File::create(lists.join(&name))?;
            io::copy(&mut decompressor(&path, io::BufReader::new(file)), &mut out)?;
        }
        Ok(())
    }
}

/// Packages in an order where each comes after what it (pre-)depends on,
/// as far as cycles allow; names as dpkg knows them (`name:arch` for
/// `Multi-Arch: same`).
fn preinst_order(chosen: &[&DebPackage], arch: &str) -> Vec<String> {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, c) in chosen.iter().enumerate() {
        by_name.insert(&c.name, i);
        for p in c.provides.iter().flatten() {
            by_name.entry(&p.name).or_insert(i);
        }
    }
    let mut order = Vec::with_capacity(chosen.len());
    let mut state = vec![0u8; chosen.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        chosen: &[&DebPackage],
        by_name: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        let pkg = chosen[i];
        for group in pkg.pre_depends.iter().chain(&pkg.depends) {
            if let Some(&j) = group.iter().find_map(|d| by_name.get(d.name.as_str())) {
                visit(j, chosen, by_name, state, order);
            }
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..chosen.len() {
        visit(i, chosen, &by_name, &mut state, &mut order);
    }
    order
        .into_iter()
        .map(|i| {
            let p = chosen[i];
            let a = if p.architecture == "all" {
                arch
            } else {
                &p.architecture
            };
            DpkgDb::info_name(
                &p.name,
                a,
                p.multi_arch == crate::repo::apt::MultiArch::Same,
            )
        })
        .collect()
}

/// The script the root's shell runs: preinst scripts in dependency order
/// (dpkg would have run them before unpacking), then dpkg configures
/// everything in its own order and runs the triggers.
const CONFIGURE: &str = r#"set -e
echo "brt: preinst scripts"
for p in "$@"; do
    script="/var/lib/dpkg/info/$p.preinst"
    [ -x "$script" ] || continue
    echo "brt: $p.preinst install"
    DPKG_MAINTSCRIPT_PACKAGE="${p%%:*}" DPKG_MAINTSCRIPT_NAME=preinst \
        "$script" install
done
echo "brt: dpkg --configure -a"
dpkg --log=/var/log/dpkg.log --configure -a
"#;

fn configure(
    root: &Path,
    arch: &str,
    order: &[String],
    opts: &Context,
    log: &Path,
    accel: &crate::accel::Accel,
) -> Result<(), PackageError> {
    let argv = sandbox::sh(CONFIGURE, order.iter().cloned());
    run_logged(
        root,
        &super::manager(arch),
        "dpkg --configure -a",
        argv,
        accel.binds(),
        opts.interpreters.clone(),
        log,
    )
}
