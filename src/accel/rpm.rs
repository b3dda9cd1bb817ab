//! The helper layer of an RPM-family root: the host-arch (`x86_64`)
//! packages of the same release, from the same repositories (their
//! `${arch}` expanded for the host), at exactly the root's versions.
//!
//! 1. The config's `accel.tools` packages the root has installed, and the
//!    root's libc (`glibc`, whose `C.utf8` locale data are compared with
//!    the root's), are looked up in the host-arch metadata at the root's
//!    epoch, version and release; their libraries are resolved there too.
//! 2. They are downloaded into the package cache, and their digests and
//!    signatures checked as init checks the root's.
//! 3. The layer is made once per package set (`CACHEDIR/accel-v1/KEY/`) by
//!    reading the payloads natively: the shared libraries (`/usr/lib64`,
//!    or a multiarch dir) go to `lib/`, each ELF program of a tools package
//!    to `bin/`, patched to use the layer's loader and libraries. Both
//!    arches use `/usr/lib64`, so nothing of the layer may be where the
//!    root's own libraries are: it is bound in the sandbox's private `/dev`.
//! 4. For each use, as for Debian roots: the programs' paths resolved in
//!    the root, and the root's `C.UTF-8` locale data equal to the host's.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;

use super::layer::{self, Manifest, Member, Sink};
use super::{Accel, Indexes, Mode};
use crate::arch::Arch;
use crate::config::Config;
use crate::fetch::{Fetcher, PackageCache};
use crate::resolve::rpm::{RpmRequest, resolve};
use crate::root::family::Context;
use crate::root::family::pipeline::fill_cache;
use crate::root::rpm::bootstrap::{Universe, check_all, load_keys};
use crate::version::rpm::Evr;

/// Changes when the way layers are made changes (part of their key).
const LAYER_FORMAT: u32 = 1;

/// The C library's package, the first the root has: the one with the
/// `C.utf8` locale data (Fedora: `glibc`; a Debian-made tree: `libc-bin`),
/// else the library alone (a root without the locale data: native and
/// emulated programs both find none).
const LIBC: &[&str] = &["glibc", "libc-bin", "libc6"];

/// The helpers for a root that has `installed` (name, `epoch:version-release`),
/// in `root`; everything emulated, with the reason, when they cannot be had.
pub fn prepare(
    config: &Config,
    mode: Mode,
    root: &Path,
    installed: &[(String, Evr)],
    opts: &Context,
    indexes: &mut Indexes,
) -> Accel {
    if let Some(accel) = super::unneeded(mode, true) {
        return accel;
    }
    match layer(config, root, installed, opts, indexes) {
        Ok((layer, notes)) => layer::checked(mode, root, layer, notes, opts.interpreters.clone()),
        Err(why) => Accel::emulated(mode, why),
    }
}

fn same_evr(a: &Evr, b: &Evr) -> bool {
    a.epoch.unwrap_or(0) == b.epoch.unwrap_or(0)
        && a.version == b.version
        && a.release.as_deref().unwrap_or("") == b.release.as_deref().unwrap_or("")
}

/// The layer, and notes on tools left emulated; or why there is none.
fn layer(
    config: &Config,
    root: &Path,
    installed: &[(String, Evr)],
    opts: &Context,
    indexes: &mut Indexes,
) -> Result<(super::Layer, Vec<String>), String> {
    let host = Arch::host();
    let mut notes = Vec::new();
    let have = |name: &str| installed.iter().find(|(n, _)| n == name).map(|(_, e)| e);
    let tools: Vec<&String> = config
        .accel
        .tools
        .iter()
        .filter(|t| have(t).is_some())
        .collect();
    if tools.is_empty() {
        return Err("none of the `accel.tools` packages is installed in the root".into());
    }
    let fetcher = Fetcher::new(opts.offline);
    let host_config = config
        .with_arch_vars(host)
        .map_err(|e| format!("the config's repositories for {}: {e}", host.rpm))?;
    if indexes.rpm.is_none() {
        let loaded = Universe::load_for(&fetcher, &host_config, &opts.cachedir, false, host.rpm)
            .map_err(|e| format!("no {} metadata of the root's repositories: {e}", host.rpm))?;
        indexes.rpm = Some(loaded);
    }
    let universe = indexes.rpm.as_ref().expect("loaded above");
    // The host-arch build of `name` at the root's version.
    let pinned = |name: &str| -> Result<String, String> {
        let evr = have(name).ok_or_else(|| format!("`{name}` is not installed"))?;
        universe
            .packages
            .iter()
            .find(|p| p.name == name && p.arch == host.rpm && same_evr(&p.evr, evr))
            .map(|p| format!("{}-{}.{}", p.name, evr_text(&p.evr), p.arch))
            .ok_or_else(|| {
                format!(
                    "`{name}` stays emulated: the repositories have no {} build of {}",
                    host.rpm,
                    evr_text(evr)
                )
            })
    };
    let mut request = Vec::new();
    let mut tool_names = HashSet::new();
    for tool in tools {
        match pinned(tool) {
            Ok(spec) => {
                request.push(spec);
                tool_names.insert(tool.clone());
            }
            Err(note) => notes.push(note),
        }
    }
    if request.is_empty() {
        return Err(notes.join("; "));
    }
    let libc = LIBC
        .iter()
        .find(|n| have(n).is_some())
        .ok_or("the root has no C library package brt knows (glibc)")?;
    request.push(pinned(libc).map_err(|e| format!("the C library: {e}"))?);
    let chosen = resolve(
        &universe.packages,
        &RpmRequest {
            arch: host.rpm,
            packages: request,
            ..RpmRequest::default()
        },
    )
    .map_err(|e| format!("the {} tools cannot be resolved: {e}", host.rpm))?;
    let cache = PackageCache::new(&opts.cachedir);
    let downloads: Vec<_> = chosen.iter().map(|&i| universe.download(i)).collect();
    fill_cache(fetcher, &cache, &downloads, opts)
        .map_err(|e| format!("the {} tools cannot be downloaded: {e}", host.rpm))?;
    let (keys, _) = load_keys(&Fetcher::new(opts.offline), &host_config)
        .map_err(|e| format!("the repositories' keys: {e}"))?;
    check_all(universe, &chosen, &cache, &keys, opts.parallel.clamp(1, 4))
        .map_err(|e| format!("a {} package fails its check: {e}", host.rpm))?;
    let chosen: Vec<(String, String, String)> = chosen
        .iter()
        .map(|&i| {
            let p = &universe.packages[i];
            (p.name.clone(), p.nevra(), p.sha256.clone())
        })
        .collect();
    let mut sums: Vec<&str> = chosen.iter().map(|c| c.2.as_str()).collect();
    sums.sort_unstable();
    let mut tool_list: Vec<&String> = tool_names.iter().collect();
    tool_list.sort_unstable();
    let keep = &config.accel.keep_emulated;
    let key = format!(
        "rpm {LAYER_FORMAT} {}\n{sums:?}\n{tool_list:?}\n{keep:?}\n",
        host.rpm
    );
    let dir = layer::made(&key, &opts.cachedir, |dir| {
        make(&chosen, &tool_names, keep, &cache, dir, host)
    })?;
    Ok((layer::for_root(root, dir, host)?, notes))
}

fn evr_text(e: &Evr) -> String {
    format!(
        "{}:{}-{}",
        e.epoch.unwrap_or(0),
        e.version,
        e.release.as_deref().unwrap_or("")
    )
}

/// Makes the layer in `dir` from the cached packages: (name, nevra, sha256).
fn make(
    chosen: &[(String, String, String)],
    tools: &HashSet<String>,
    keep: &[String],
    cache: &PackageCache,
    dir: &Path,
    host: &Arch,
) -> Result<(), String> {
    let mut manifest = Manifest {
        programs: Vec::new(),
        packages: Vec::new(),
        locale: BTreeMap::new(),
    };
    for (name, nevra, sha256) in chosen {
        manifest.packages.push(nevra.clone());
        let tool = tools.contains(name);
        take_files(cache, sha256, name, tool, keep, host, dir, &mut manifest)
            .map_err(|e| format!("cannot read `{nevra}`: {e}"))?;
    }
    layer::seal(dir, &manifest)
}

/// Where the host's shared libraries are, in a package's paths.
fn library_dir(parent: &str, host: &Arch) -> bool {
    let triplet = format!("{}-linux-gnu", host.uname);
    let p = parent.strip_prefix("usr/").unwrap_or(parent);
    p == "lib64" || p == format!("lib/{triplet}")
}

/// Takes from one package's payload what the layer needs.
#[allow(clippy::too_many_arguments)]
fn take_files(
    cache: &PackageCache,
    sha256: &str,
    package: &str,
    tool: bool,
    keep: &[String],
    host: &Arch,
    dir: &Path,
    manifest: &mut Manifest,
) -> io::Result<()> {
    let file = fs_err::File::open(cache.path(sha256))?;
    let mut reader = rpm::PackageReader::parse(io::BufReader::with_capacity(1 << 20, file))
        .map_err(io::Error::other)?;
    let triplet = format!("{}-linux-gnu", host.uname);
    let mut sink = Sink {
        dir,
        host,
        keep,
        triplet: &triplet,
        lib_dir: &|parent| library_dir(parent, host),
        manifest,
    };
    while let Some(mut entry) = reader.next_file().map_err(io::Error::other)? {
        let md = entry.metadata.clone();
        if md.flags().contains(rpm::FileFlags::GHOST) {
            continue;
        }
        let member = match md.file_type() {
            rpm::FileType::Regular if entry.has_payload() => Member::File,
            rpm::FileType::SymbolicLink => {
                Member::Link(md.linkto().unwrap_or_default().to_string())
            }
            _ => Member::Other,
        };
        let full = md.path().to_string_lossy().into_owned();
        let mode = u32::from(md.permissions()) & 0o777;
        sink.take(
            package,
            tool,
            full.trim_start_matches('/'),
            member,
            mode,
            &mut entry,
        )?;
        entry.finish()?;
    }
    Ok(())
}
