//! The helper layer of a Debian-family root: the host-arch (`amd64`)
//! packages of the same suite, from the same signed repositories, at
//! exactly the versions the root has installed.
//!
//! 1. The config's `accel.tools` packages that the root has installed are
//!    looked up in the suite's host-arch index at the root's version; their
//!    dependencies (shared libraries) are resolved there too.
//! 2. They are downloaded into the package cache, checked like any package.
//! 3. The layer is made once per package set (`CACHEDIR/accel-v1/KEY/`) by
//!    reading the `.deb`s natively: the libraries of the multiarch dir go to
//!    `lib/`, each ELF program of a tools package to `bin/`, patched
//!    (`patchelf`) to use the layer's loader and libraries. Names in the
//!    layer are brt's own (the package path's basename), so a package
//!    cannot make brt write anywhere else.
//! 4. For each use, the root's paths are resolved inside the root, and the
//!    root's `C.UTF-8` locale data must be the host arch's byte for byte
//!    (it is not for 32-bit or big-endian roots).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::Path;

use super::layer::{self, Manifest, Member, Sink, take_program};
use super::{Accel, Indexes, Layer, Mode};
use crate::arch::Arch;
use crate::config::Config;
use crate::fetch::{Fetcher, PackageCache};
use crate::repo::apt::DebPackage;
use crate::resolve::deb::{DebRequest, resolve};
use crate::root::deb::bootstrap::{Universe, fetch_metadata_for};
use crate::root::family::Context;
use crate::root::family::pipeline::fill_cache;
use crate::unpack::deb::read_deb;
use crate::version::deb::DebVersion;

/// What a host-arch package brings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    /// Arch-neutral programs (`accel.tools`), and a cross binutils: its
    /// programs stand in for the root's at the same paths.
    Tool,
    /// A cross compiler package: [`COMPILER_PARTS`] stand in for the root's
    /// compiler's.
    Compiler { triplet: String, major: String },
}

/// The parts of a cross compiler that run natively: the compilers proper,
/// and the linker plugin that a native `ld` loads.
const COMPILER_PARTS: &[&str] = &["cc1", "cc1plus", "lto1", "liblto_plugin.so"];

/// Changes when the way layers are made changes (part of their key).
const LAYER_FORMAT: u32 = 3;

/// The helpers for a root that has `installed` (name → version), in
/// `root`; everything emulated, with the reason, when they cannot be had.
pub fn prepare(
    config: &Config,
    mode: Mode,
    root: &Path,
    installed: &HashMap<String, DebVersion>,
    opts: &Context,
    indexes: &mut Indexes,
) -> Accel {
    if let Some(accel) = super::unneeded(mode, true) {
        return accel;
    }
    match layer(config, mode, root, installed, opts, indexes) {
        Ok((mut layer, mut notes)) => {
            if let Err(why) = super::probe(root, &layer, opts.interpreters.clone()) {
                return Accel::emulated(mode, why);
            }
            if let Err(why) = super::probe_compiler(root, &layer, opts.interpreters.clone()) {
                notes.push(format!("the native compilers stay emulated: {why}"));
                layer = layer.without_compilers();
            }
            Accel {
                mode: Some(mode),
                layer: Some(layer),
                notes,
            }
        }
        Err(why) => Accel::emulated(mode, why),
    }
}

/// The layer, and notes on tools left emulated; or why there is none.
fn layer(
    config: &Config,
    mode: Mode,
    root: &Path,
    installed: &HashMap<String, DebVersion>,
    opts: &Context,
    indexes: &mut Indexes,
) -> Result<(Layer, Vec<String>), String> {
    let host = Arch::host();
    let mut notes = Vec::new();
    let tools: Vec<&String> = config
        .accel
        .tools
        .iter()
        .filter(|t| installed.contains_key(*t))
        .collect();
    if tools.is_empty() {
        return Err("none of the `accel.tools` packages is installed in the root".into());
    }
    let fetcher = Fetcher::new(opts.offline);
    if indexes.deb.is_none() {
        let mut loaded = fetch_metadata_for(&fetcher, config, &opts.cachedir, false, host.deb)
            .map_err(|e| format!("no {} index of the root's repositories: {e}", host.deb))?;
        indexes.deb = Some(Universe::new(&mut loaded));
    }
    let universe = indexes.deb.as_ref().expect("loaded above");
    // Host-arch packages to take: name, version, what they bring.
    let mut wanted: Vec<(String, String, Kind)> = Vec::new();
    for tool in tools {
        let version = &installed[tool];
        // The same version, or the same upload rebuilt for one arch only
        // (a binNMU: `+bN` appended; same source, same code).
        let base = binnmu_base(version.as_str());
        let found = universe
            .packages
            .iter()
            .filter(|p| &p.name == tool && p.architecture == host.deb)
            .filter(|p| binnmu_base(p.version.as_str()) == base)
            .max_by_key(|p| &p.version == version);
        if let Some(p) = found {
            wanted.push((tool.clone(), p.version.to_string(), Kind::Tool));
        } else {
            notes.push(format!(
                "`{tool}` stays emulated: the repositories have no {} build of {version}",
                host.deb
            ));
        }
    }
    if mode == Mode::Auto {
        match toolchain(config, installed, &universe.packages, host) {
            Ok(found) => wanted.extend(found),
            Err(why) => notes.push(why),
        }
    }
    if wanted.is_empty() {
        return Err(notes.join("; "));
    }
    let mut packages: Vec<String> = wanted.iter().map(|(n, v, _)| format!("{n}={v}")).collect();
    let kinds: HashMap<String, Kind> = wanted.into_iter().map(|(n, _, k)| (n, k)).collect();
    // The host-arch libc ships the locale data compared with the root's.
    packages.push("libc-bin".into());
    let request = DebRequest {
        arch: host.deb,
        packages,
        ..DebRequest::default()
    };
    let chosen = resolve(&universe.packages, &request)
        .map_err(|e| format!("the {} tools cannot be resolved: {e}", host.deb))?;
    let downloads: Vec<_> = chosen.iter().map(|&i| universe.download(i)).collect();
    let cache = PackageCache::new(&opts.cachedir);
    fill_cache(fetcher, &cache, &downloads, opts)
        .map_err(|e| format!("the {} tools cannot be downloaded: {e}", host.deb))?;
    let chosen: Vec<&DebPackage> = chosen.iter().map(|&i| &universe.packages[i]).collect();
    let mut key_sums: Vec<&str> = chosen.iter().map(|p| p.sha256.as_str()).collect();
    key_sums.sort_unstable();
    let mut tool_list: Vec<(&String, &Kind)> = kinds.iter().collect();
    tool_list.sort_unstable();
    let keep = &config.accel.keep_emulated;
    let key = format!(
        "deb {LAYER_FORMAT} {}\n{key_sums:?}\n{tool_list:?}\n{keep:?}\n",
        host.deb
    );
    let dir = layer::made(&key, &opts.cachedir, |dir| {
        make(&chosen, &kinds, keep, &cache, dir, host)
    })?;
    Ok((layer::for_root(root, dir, host)?, notes))
}

/// Makes the layer in `dir` from the cached packages.
fn make(
    chosen: &[&DebPackage],
    kinds: &HashMap<String, Kind>,
    keep: &[String],
    cache: &PackageCache,
    dir: &Path,
    host: &Arch,
) -> Result<(), String> {
    let io_err = |what: &str, e: io::Error| format!("cannot make the helper layer ({what}): {e}");
    let mut manifest = Manifest {
        programs: Vec::new(),
        packages: Vec::new(),
        locale: BTreeMap::new(),
    };
    for p in chosen {
        manifest.packages.push(format!("{} {}", p.name, p.version));
        let file = fs_err::File::open(cache.path(&p.sha256)).map_err(|e| io_err("open", e))?;
        let kind = kinds.get(&p.name);
        let read = read_deb(io::BufReader::new(file), |_, data| {
            take_files(data, &p.name, kind, keep, host, dir, &mut manifest)
        });
        read.map_err(|e| format!("cannot read `{} {}`: {e}", p.name, p.version))?;
    }
    layer::seal(dir, &manifest)
}

/// Takes from one package's data what the layer needs.
fn take_files(
    data: &mut dyn Read,
    package: &str,
    tool: Option<&Kind>,
    keep: &[String],
    host: &Arch,
    dir: &Path,
    manifest: &mut Manifest,
) -> io::Result<()> {
    let triplet = multiarch(host.deb);
    let lib_dir = |parent: &str| {
        parent
            .strip_prefix("usr/")
            .unwrap_or(parent)
            .strip_prefix("lib/")
            .is_some_and(|t| t == triplet)
    };
    let mut sink = Sink {
        dir,
        host,
        keep,
        triplet,
        lib_dir: &lib_dir,
        manifest,
    };
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let path = raw.trim_start_matches("./").trim_start_matches('/');
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let member = if kind.is_file() {
            Member::File
        } else if kind.is_symlink() {
            let target = entry.link_name()?.unwrap_or_default().into_owned();
            Member::Link(target.to_string_lossy().into_owned())
        } else {
            Member::Other
        };
        let Some(Kind::Compiler {
            triplet: cross_triplet,
            major,
        }) = tool
        else {
            sink.take(package, tool.is_some(), path, member, mode, &mut entry)?;
            continue;
        };
        // The cross compiler's own programs, where the root's native
        // compiler has them; the driver, collect2 and lto-wrapper stay
        // emulated (their search paths are compiled in). Its other members
        // give libraries and locale data only.
        let cross = format!("usr/libexec/gcc-cross/{cross_triplet}/{major}");
        match layer::split(path) {
            Some((parent, name))
                if parent == cross
                    && COMPILER_PARTS.contains(&name)
                    && matches!(member, Member::File) =>
            {
                let root_path = format!("/usr/libexec/gcc/{cross_triplet}/{major}/{name}");
                take_program(&mut entry, package, &root_path, host, dir, sink.manifest)?;
                if let Some((_, _, file)) = sink.manifest.programs.last()
                    && file.ends_with(&format!("/{name}"))
                    && name != "liblto_plugin.so"
                {
                    relocate_compiler(&dir.join(file), cross_triplet, major)?;
                }
            }
            _ => sink.take(package, false, path, member, mode, &mut entry)?,
        }
    }
    Ok(())
}

/// A Debian architecture's multiarch triplet.
fn multiarch(deb: &str) -> &'static str {
    match deb {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "ppc64el" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        _ => "unknown-linux-gnu",
    }
}

/// The native cross toolchain for the root's compilers, where one exists
/// whose version is exactly the root's: for each `gcc-N` in the root, the
/// host-arch `cpp-N-TRIPLET`, `gcc-N-TRIPLET` and `g++-N-TRIPLET` (built
/// from `gcc-N` of the root's version, says `Built-Using`) and
/// `binutils-TRIPLET` of the root's version (a native `ld` needs the
/// compiler's native linker plugin, so binutils go only with the compiler).
/// Returns (package, version, kind) to pin, or why not, with both versions.
fn toolchain(
    config: &Config,
    installed: &HashMap<String, DebVersion>,
    universe: &[DebPackage],
    host: &Arch,
) -> Result<Vec<(String, String, Kind)>, String> {
    let triplet = multiarch(config.arch.deb);
    let find = |name: &str| {
        universe
            .iter()
            .filter(|p| p.name == name && p.architecture == host.deb)
            .max_by(|a, b| a.version.cmp(&b.version))
    };
    let mut majors: Vec<&str> = installed
        .keys()
        .filter_map(|n| n.strip_prefix("gcc-"))
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    majors.sort_unstable();
    let Some(major) = majors.last().copied() else {
        return Err("no native cross toolchain: the root has no `gcc-N` package".into());
    };
    let gcc = &installed[&format!("gcc-{major}")];
    let mut out = Vec::new();
    for part in ["cpp", "gcc", "g++"] {
        let name = format!("{part}-{major}-{triplet}");
        if part == "g++" && !installed.contains_key(&format!("g++-{major}")) {
            continue;
        }
        let Some(cross) = find(&name) else {
            return Err(format!(
                "no native cross toolchain: the repositories have no {} `{name}`",
                host.deb
            ));
        };
        let built_from = built_using(cross, &format!("gcc-{major}"));
        if built_from.as_deref() != Some(gcc.as_str()) {
            return Err(format!(
                "no native cross toolchain: `{name}` {} is built from gcc-{major} {}, the root has gcc-{major} {gcc}; versions must match exactly",
                cross.version,
                built_from.as_deref().unwrap_or("(unknown)")
            ));
        }
        let kind = Kind::Compiler {
            triplet: triplet.to_string(),
            major: major.to_string(),
        };
        out.push((name, cross.version.to_string(), kind));
    }
    let binutils = format!("binutils-{triplet}");
    match (installed.get(&binutils), find(&binutils)) {
        (Some(have), Some(cross)) if &cross.version == have => {
            out.push((binutils, have.to_string(), Kind::Tool));
        }
        (have, cross) => {
            return Err(format!(
                "no native cross toolchain: the root has `{binutils}` {}, the repositories' {} build is {}; versions must match exactly",
                have.map_or("(none)".into(), |v| v.to_string()),
                host.deb,
                cross.map_or("(none)".into(), |p| p.version.to_string())
            ));
        }
    }
    Ok(out)
}

/// A version without its binNMU suffix: `3.11-4+b1` → `3.11-4`.
fn binnmu_base(version: &str) -> &str {
    match version.rsplit_once("+b") {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => version,
    }
}

/// The version of `source` in a `Built-Using` field: `gcc-14 (= 14.2.0-19)`.
fn built_using(p: &DebPackage, source: &str) -> Option<String> {
    p.built_using.as_deref()?.split(',').find_map(|item| {
        let (name, rest) = item.trim().split_once(' ')?;
        let version = rest.trim().strip_prefix("(=")?.trim_end_matches(')').trim();
        (name == source).then(|| version.to_string())
    })
}

/// Points a cross compiler's compiled-in directories at the native
/// compiler's (`/usr/lib/gcc-cross/T/N/…` → `/usr/lib/gcc/T/N/…`, the C++
/// headers from `…/T/include/c++/N` to `/usr/include/c++/N`), in place: each
/// path is a NUL-terminated string in the program's read-only data and the
/// native path is never longer, so it is written over the cross one and
/// padded with NULs. Whether the result searches exactly the native
/// compiler's directories is checked in the root before use.
fn relocate_compiler(file: &Path, triplet: &str, major: &str) -> io::Result<()> {
    let cross = format!("/usr/lib/gcc-cross/{triplet}/{major}/../../../../{triplet}/include/c++");
    // The native compiler prints (and so records) its C++ directories with
    // the `..` resolved; the cross one, configured with a sysroot, would
    // keep them: write the resolved form.
    let native = "/usr/include";
    let rules: Vec<(String, String)> = vec![
        (
            format!("{cross}/{major}/{triplet}"),
            format!("{native}/{triplet}/c++/{major}"),
        ),
        (format!("{cross}/"), format!("{native}/c++/")),
        ("/usr/lib/gcc-cross/".into(), "/usr/lib/gcc/".into()),
    ];
    let mut bytes = fs_err::read(file)?;
    let needle = b"/usr/lib/gcc-cross/";
    let mut at = 0;
    while let Some(pos) = find(&bytes[at..], needle).map(|p| p + at) {
        at = pos + needle.len();
        if pos > 0 && bytes[pos - 1] != 0 {
            continue;
        }
        let Some(len) = bytes[pos..].iter().position(|&b| b == 0) else {
            break;
        };
        let old = String::from_utf8_lossy(&bytes[pos..pos + len]).into_owned();
        let Some(new) = rules.iter().find_map(|(from, to)| {
            old.strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}"))
        }) else {
            continue;
        };
        if new.len() > old.len() {
            return Err(io::Error::other(format!(
                "cannot relocate `{old}` in `{}`: `{new}` is longer",
                file.display()
            )));
        }
        bytes[pos..pos + new.len()].copy_from_slice(new.as_bytes());
        bytes[pos + new.len()..pos + len].fill(0);
    }
    fs_err::write(file, bytes)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_using_names_the_compiler_source_version() {
        let text = "Package: cpp-14-aarch64-linux-gnu\nVersion: 14.2.0-19cross1\nArchitecture: amd64\nBuilt-Using: binutils (= 2.44-3), gcc-14 (= 14.2.0-19)\nFilename: x.deb\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n";
        let p = &crate::repo::apt::parse_packages(text, "test").unwrap()[0];
        assert_eq!(built_using(p, "gcc-14").as_deref(), Some("14.2.0-19"));
        assert_eq!(built_using(p, "binutils").as_deref(), Some("2.44-3"));
        assert_eq!(built_using(p, "gcc-12"), None);
    }

    #[test]
    fn binnmus_share_their_base_version() {
        assert_eq!(binnmu_base("3.11-4+b1"), "3.11-4");
        assert_eq!(binnmu_base("3.11-4"), "3.11-4");
        assert_eq!(binnmu_base("1.0+bigfix-1"), "1.0+bigfix-1");
        assert_eq!(binnmu_base("2.0-1+b12"), "2.0-1");
    }

    #[test]
    fn multiarch_triplets() {
        assert_eq!(multiarch("arm64"), "aarch64-linux-gnu");
        assert_eq!(multiarch("amd64"), "x86_64-linux-gnu");
    }

    #[test]
    fn cross_compiler_directories_become_the_native_ones_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc1");
        let t = "aarch64-linux-gnu";
        let cross = format!("/usr/lib/gcc-cross/{t}/14/../../../../{t}/include/c++");
        let strings = [
            format!("/usr/lib/gcc-cross/{t}/14/include"),
            format!("{cross}/14"),
            format!("{cross}/14/{t}"),
            format!("{cross}/14/backward"),
            format!("/usr/lib/gcc-cross/{t}/14/../../../../{t}/include"),
            "x/usr/lib/gcc-cross/not-a-string-start".to_string(),
        ];
        let mut bytes = b"\x7fELF\0".to_vec();
        for s in &strings {
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
        }
        fs_err::write(&file, &bytes).unwrap();
        relocate_compiler(&file, t, "14").unwrap();
        let out = fs_err::read(&file).unwrap();
        assert_eq!(out.len(), bytes.len());
        let found: Vec<String> = out
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let native = "/usr/include";
        assert_eq!(
            found[1..],
            [
                format!("/usr/lib/gcc/{t}/14/include"),
                format!("{native}/c++/14"),
                format!("{native}/{t}/c++/14"),
                format!("{native}/c++/14/backward"),
                format!("/usr/lib/gcc/{t}/14/../../../../{t}/include"),
                "x/usr/lib/gcc-cross/not-a-string-start".to_string(),
            ]
        );
    }
}
