//! What the helper layers of both families share: the manifest, the
//! cache dir a layer is made in once, the programs taken from host-arch
//! packages and pointed at the layer's loader (`patchelf`), and what is
//! looked up in the root before use.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{Accel, CACHE_DIR, IN_SANDBOX, Layer, Program};
use crate::arch::Arch;
use crate::root::confined;

/// Where programs may be, in a package's paths.
pub(super) const PROGRAM_DIRS: &[&str] = &["bin", "sbin", "usr/bin", "usr/sbin"];
/// The root's locale data that native programs read (LANG=C.UTF-8).
pub(super) const LOCALE_DIR: &str = "usr/lib/locale/C.utf8";

/// What the layer holds, written last when it is made.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Package, path as the package ships it (`/bin/sed`), file in the layer.
    pub programs: Vec<(String, String, String)>,
    pub packages: Vec<String>,
    /// Path below [`LOCALE_DIR`] → SHA-256, from the host-arch libc.
    pub locale: BTreeMap<String, String>,
}

/// The layer's dir for the package set `key` names (what it is made of),
/// made by `make` into a fresh dir if it is not there yet.
pub(super) fn made(
    key: &str,
    cachedir: &Path,
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let mut digest = sha2::Sha256::new();
    digest.update(format!("{CACHE_DIR} {IN_SANDBOX}\n{key}"));
    let key = hex::encode(digest.finalize());
    let dir = cachedir.join(CACHE_DIR).join(&key[..32]);
    if dir.join("manifest.json").exists() {
        return Ok(dir);
    }
    let which = Command::new("patchelf").arg("--version").output();
    if !which.is_ok_and(|o| o.status.success()) {
        return Err(
            "`patchelf` is not installed on the host (apt-get install patchelf / dnf install patchelf)"
                .into(),
        );
    }
    let tmp = cachedir
        .join(CACHE_DIR)
        .join(format!(".{}.tmp-{}", &key[..32], std::process::id()));
    let _ = fs_err::remove_dir_all(&tmp);
    let io_err = |e: io::Error| format!("cannot make the helper layer: {e}");
    let result = ["lib", "bin"]
        .iter()
        .try_for_each(|sub| fs_err::create_dir_all(tmp.join(sub)).map_err(io_err))
        .and_then(|()| make(&tmp))
        .and_then(|()| fs_err::rename(&tmp, &dir).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = fs_err::remove_dir_all(&tmp);
        // Another brt may have made it meanwhile.
        if dir.join("manifest.json").exists() {
            return Ok(dir);
        }
    }
    result.map(|()| dir)
}

/// Points every program of `manifest` at the layer's loader and libraries,
/// then writes the manifest (last: it marks the layer as made).
pub(super) fn seal(dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let lib_dir = format!("{IN_SANDBOX}/lib");
    for (_, _, file) in &manifest.programs {
        patch(&dir.join(file), &lib_dir)?;
    }
    let text = serde_json::to_vec_pretty(manifest).expect("the manifest serializes");
    let io_err = |e: io::Error| format!("cannot make the helper layer (write): {e}");
    let mut f = fs_err::File::create(dir.join("manifest.json")).map_err(io_err)?;
    f.write_all(&text).map_err(io_err)
}

/// What a member of a host-arch package is.
pub(super) enum Member {
    File,
    /// A symlink and its target.
    Link(String),
    Other,
}

/// `parent` and `name` of a member's path (relative to `/`), unless it has
/// no name or a `.`/`..` component.
pub(super) fn split(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = path.rsplit_once('/')?;
    let bad =
        name.is_empty() || name == ".." || name == "." || parent.split('/').any(|c| c == "..");
    (!bad).then_some((parent, name))
}

/// Where the members of one layer's packages go, for both families.
pub(super) struct Sink<'a> {
    pub dir: &'a Path,
    pub host: &'a Arch,
    /// Program names that stay emulated.
    pub keep: &'a [String],
    /// The host's multiarch triplet (links into it are kept by name).
    pub triplet: &'a str,
    /// Whether a package directory (`usr/lib64`) holds the host's shared
    /// libraries.
    pub lib_dir: &'a dyn Fn(&str) -> bool,
    pub manifest: &'a mut Manifest,
}

impl Sink<'_> {
    /// Takes one member of `package` (`path` relative to `/`): a shared
    /// library, the locale data, or, of a tools package (`tool`), an
    /// executable program not kept emulated. Anything else is skipped.
    pub fn take(
        &mut self,
        package: &str,
        tool: bool,
        path: &str,
        member: Member,
        mode: u32,
        entry: &mut dyn Read,
    ) -> io::Result<()> {
        let Some((parent, name)) = split(path) else {
            return Ok(());
        };
        if (self.lib_dir)(parent) {
            return match member {
                Member::File => take_library(entry, name, None, mode, self.triplet, self.dir),
                Member::Link(t) => take_library(
                    &mut io::empty(),
                    name,
                    Some(&t),
                    mode,
                    self.triplet,
                    self.dir,
                ),
                Member::Other => Ok(()),
            };
        }
        let file = matches!(member, Member::File);
        if let Some(rel) = path.strip_prefix(&format!("{LOCALE_DIR}/")) {
            if file {
                take_locale(entry, rel, self.manifest)?;
            }
        } else if tool
            && file
            && PROGRAM_DIRS.contains(&parent)
            && mode & 0o111 != 0
            && !self.keep.iter().any(|k| k == name)
        {
            let root_path = format!("/{path}");
            take_program(
                entry,
                package,
                &root_path,
                self.host,
                self.dir,
                self.manifest,
            )?;
        }
        Ok(())
    }
}

/// Records the digest of a file of the host-arch locale data (`rel`: its
/// path below [`LOCALE_DIR`]), to compare with the root's.
fn take_locale(entry: &mut dyn Read, rel: &str, manifest: &mut Manifest) -> io::Result<()> {
    let mut h = sha2::Sha256::new();
    io::copy(entry, &mut h)?;
    manifest
        .locale
        .insert(rel.to_string(), hex::encode(h.finalize()));
    Ok(())
}

/// A library of the host arch, or a link to one by name, into `lib/` of
/// the layer (a link that names itself, or one over a file already there,
/// is skipped).
fn take_library(
    entry: &mut dyn Read,
    name: &str,
    link: Option<&str>,
    mode: u32,
    local_dir: &str,
    dir: &Path,
) -> io::Result<()> {
    let dest = dir.join("lib").join(name);
    match link {
        None => write_file(entry, &dest, mode),
        Some(t) => {
            // Links within the dir (`libz.so.1 -> libz.so.1.2.13`), or
            // to it by absolute path, become links by name.
            let base = t.rsplit('/').next().unwrap_or(t);
            let local = !t.contains('/') || t.contains(&format!("/{local_dir}/"));
            let exists = dest.symlink_metadata().is_ok_and(|m| m.is_file());
            if local && !base.is_empty() && base != ".." && base != name && !exists {
                let _ = fs_err::remove_file(&dest);
                std::os::unix::fs::symlink(base, &dest)?;
            }
            Ok(())
        }
    }
}

/// The layer as a root uses it: the manifest's programs found in the root
/// (at the same path, a regular file), if the root's `C.UTF-8` locale data
/// are the host arch's.
pub(super) fn for_root(root: &Path, dir: PathBuf, host: &Arch) -> Result<Layer, String> {
    let manifest: Manifest = serde_json::from_slice(
        &fs_err::read(dir.join("manifest.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("the helper layer's manifest is unreadable: {e}"))?;
    let (locale, paths) = in_root(root, &manifest)?;
    if locale != manifest.locale {
        return Err(format!(
            "the root's C.UTF-8 locale data differ from {}'s (another word size or byte order), which native programs would misread",
            host.uname
        ));
    }
    let programs = manifest
        .programs
        .iter()
        .zip(paths)
        .filter_map(|((package, _, file), path)| {
            Some(Program {
                package: package.clone(),
                path: path?,
                file: dir.join(file),
            })
        })
        .collect();
    Ok(Layer {
        dir,
        programs,
        packages: manifest.packages,
    })
}

/// The helpers of `layer` once they run in the root (a probe), else
/// everything emulated with the reason.
pub(super) fn checked(
    mode: super::Mode,
    root: &Path,
    layer: Layer,
    notes: Vec<String>,
    interpreters: Vec<PathBuf>,
) -> Accel {
    if let Err(why) = super::probe(root, &layer, interpreters) {
        return Accel::emulated(mode, why);
    }
    Accel {
        mode: Some(mode),
        layer: Some(layer),
        notes,
    }
}

/// Copies a host-arch ELF file into the layer as the stand-in for
/// `root_path`; anything else is skipped.
pub(super) fn take_program(
    entry: &mut dyn Read,
    package: &str,
    root_path: &str,
    host: &Arch,
    dir: &Path,
    manifest: &mut Manifest,
) -> io::Result<()> {
    let mut head = Vec::new();
    entry.take(64).read_to_end(&mut head)?;
    if head.len() < 20 || !head.starts_with(b"\x7fELF") || !host.matches_elf(&head) {
        return Ok(());
    }
    let (parent, name) = root_path.rsplit_once('/').unwrap_or(("", root_path));
    let file = format!(
        "bin/{}/{name}",
        parent.trim_start_matches('/').replace('/', "_")
    );
    let dest = dir.join(&file);
    fs_err::create_dir_all(dest.parent().expect("bin/DIR/NAME has a parent"))?;
    let mut out = fs_err::File::create(&dest)?;
    out.write_all(&head)?;
    io::copy(entry, &mut out)?;
    out.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    manifest
        .programs
        .push((package.to_string(), root_path.to_string(), file));
    Ok(())
}

pub(super) fn write_file(from: &mut dyn Read, dest: &Path, mode: u32) -> io::Result<()> {
    let _ = fs_err::remove_file(dest);
    let mut out = fs_err::File::create(dest)?;
    io::copy(from, &mut out)?;
    out.set_permissions(std::fs::Permissions::from_mode(mode & 0o755))
}

/// Points a program at the layer's loader and libraries. A static program
/// (no interpreter) is left as it is.
pub(super) fn patch(file: &Path, lib_dir: &str) -> Result<(), String> {
    let out = Command::new("patchelf")
        .arg("--print-interpreter")
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run `patchelf`: {e}"))?;
    if !out.status.success() {
        return Ok(());
    }
    let interp = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let loader = interp.rsplit('/').next().unwrap_or_default();
    let out = Command::new("patchelf")
        .arg("--set-interpreter")
        .arg(format!("{lib_dir}/{loader}"))
        .arg("--force-rpath")
        .arg("--set-rpath")
        .arg(lib_dir)
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run `patchelf`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`patchelf` failed on `{}`: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Reads, confined to the root: the digests of its `C.UTF-8` locale files,
/// and where each program of the manifest is (symlinks resolved inside the
/// root), if it is a regular file there with the same name.
#[allow(clippy::type_complexity)]
pub(super) fn in_root(
    root: &Path,
    manifest: &Manifest,
) -> Result<(BTreeMap<String, String>, Vec<Option<PathBuf>>), String> {
    let paths: Vec<String> = manifest.programs.iter().map(|p| p.1.clone()).collect();
    let names: Vec<String> = manifest.locale.keys().cloned().collect();
    let (child, mut pipe) = confined::spawn_writer(root, move |mut out| {
        for name in &names {
            let digest = fs_err::File::open(Path::new("/").join(LOCALE_DIR).join(name))
                .and_then(|mut f| {
                    let mut h = sha2::Sha256::new();
                    io::copy(&mut f, &mut h)?;
                    Ok(hex::encode(h.finalize()))
                })
                .unwrap_or_default();
            writeln!(out, "L\t{name}\t{digest}")?;
        }
        for path in &paths {
            let found = fs_err::canonicalize(path)
                .ok()
                .filter(|c| c.file_name() == Path::new(path).file_name())
                .filter(|c| c.symlink_metadata().is_ok_and(|m| m.is_file()));
            match found {
                Some(c) => writeln!(out, "P\t{}", c.display())?,
                None => writeln!(out, "P\t")?,
            }
        }
        Ok(())
    })
    .map_err(|e| format!("cannot look into the root: {e}"))?;
    let mut text = String::new();
    let read = pipe.read_to_string(&mut text);
    child
        .wait()
        .map_err(|e| format!("cannot look into the root: {e}"))?;
    read.map_err(|e| format!("cannot look into the root: {e}"))?;
    let mut locale = BTreeMap::new();
    let mut found = Vec::new();
    for line in text.lines() {
        let mut parts = line.split('\t');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("L"), Some(name), Some(digest)) => {
                locale.insert(name.to_string(), digest.to_string());
            }
            (Some("P"), Some(p), None) => {
                found.push((!p.is_empty()).then(|| PathBuf::from(p)));
            }
            _ => {}
        }
    }
    Ok((locale, found))
}
