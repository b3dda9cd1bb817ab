//! Native helpers for emulated roots (`accel`): x86_64 builds of
//! arch-neutral programs (shells, coreutils, sed, grep, …), taken from the
//! same distribution release as the root and of exactly the versions the
//! root has installed, run natively where the root's own would run under
//! qemu. The output of such a program does not depend on the machine it
//! runs on, so the root's packages come out byte for byte the same, only
//! sooner.
//!
//! The helpers never enter a root. They live in a layer in the cache
//! (`CACHEDIR/accel-v1/KEY/`), and a sandbox that uses them gets:
//! - the layer bound read-only at [`IN_SANDBOX`], inside the sandbox's own
//!   `/dev` tmpfs, so not even a mount point is created in the root: the
//!   native loader and libraries in `IN_SANDBOX/lib`, which each helper
//!   names as its interpreter and `DT_RPATH` (patched into the layer's
//!   copy, never into the root);
//! - each helper bound read-only over the root's program at the same path.
//!
//! Neither the package database nor any file of the root changes, so
//! `dpkg -V`, `installed_pkgs.log`, `.buildinfo` and the package-set digest
//! are those of the root as it is. Programs whose behaviour depends on the
//! machine (`uname`, `arch`, `nproc`, compilers, `dpkg`, `perl`'s
//! `%Config`, `make`'s `MAKE_HOST`, bash's `$HOSTTYPE`) stay emulated.
//!
//! Whatever keeps the helpers from being used (no host-arch index, a version
//! the mirror no longer has, a failed download, no `patchelf`) is said in
//! one line, and the command runs emulated as before.

pub mod deb;
mod layer;
pub mod rpm;

use std::path::{Path, PathBuf};

use crate::sandbox::{self, Bind, Spec};

/// Where the layer appears inside a sandbox (in its private `/dev`).
pub const IN_SANDBOX: &str = "/dev/.brt-accel";

/// Cache folder of the layers, versioned with their format.
pub const CACHE_DIR: &str = "accel-v1";

pub use crate::config::AccelMode as Mode;

/// One native program and the root's program it stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The package that ships it (in the root and, for the host's arch, in
    /// the layer), at the same version.
    pub package: String,
    /// Path inside the root, symlinks resolved.
    pub path: PathBuf,
    /// The native copy in the layer (host path).
    pub file: PathBuf,
}

/// The native helpers for one root, as bound into its sandboxes.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    /// Host path of the layer (loader, libraries, programs).
    pub dir: PathBuf,
    pub programs: Vec<Program>,
    /// `name version` of each host-arch package the layer was made from.
    pub packages: Vec<String>,
}

impl Layer {
    /// The binds a sandbox needs to run the helpers: the layer, then each
    /// program over the root's.
    pub fn binds(&self) -> Vec<Bind> {
        if self.programs.is_empty() {
            return Vec::new();
        }
        let mut binds = vec![Bind {
            source: self.dir.clone(),
            target: IN_SANDBOX.into(),
            readonly: true,
        }];
        binds.extend(self.programs.iter().map(|p| Bind {
            source: p.file.clone(),
            target: p.path.clone(),
            readonly: true,
        }));
        binds
    }

    /// The layer with only the programs `keep` keeps.
    fn retain(&self, keep: impl Fn(&Program) -> bool) -> Layer {
        Layer {
            dir: self.dir.clone(),
            programs: self.programs.iter().filter(|p| keep(p)).cloned().collect(),
            packages: self.packages.clone(),
        }
    }

    /// The layer without the programs of `packages`: a package manager that
    /// replaces or removes a package cannot rename over a bound file.
    pub fn without(&self, packages: &[&str]) -> Layer {
        self.retain(|p| !packages.contains(&p.package.as_str()))
    }

    /// Whether `p` is a compiler proper (`cc1`, `cc1plus`, `lto1`).
    fn is_compiler(p: &Program) -> bool {
        p.path.starts_with("/usr/libexec/gcc")
            && p.path
                .file_name()
                .is_some_and(|n| ["cc1", "cc1plus", "lto1"].iter().any(|c| n == *c))
    }

    /// The layer without its compilers proper.
    pub fn without_compilers(&self) -> Layer {
        self.retain(|p| !Layer::is_compiler(p))
    }

    /// Program names, for logs: `sed grep tar …`.
    pub fn names(&self) -> String {
        let names: Vec<String> = self
            .programs
            .iter()
            .map(|p| {
                p.path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.join(" ")
    }
}

/// What acceleration a command gets: the helpers, or why it has none.
#[derive(Debug, Clone, Default)]
pub struct Accel {
    pub mode: Option<Mode>,
    pub layer: Option<Layer>,
    /// Why parts are not native (one line each), for the user and the logs.
    pub notes: Vec<String>,
}

impl Accel {
    /// Nothing native, for `why`.
    pub fn emulated(mode: Mode, why: impl Into<String>) -> Accel {
        Accel {
            mode: Some(mode),
            layer: None,
            notes: vec![why.into()],
        }
    }

    /// The sandbox binds for the helpers (none without a layer).
    pub fn binds(&self) -> Vec<Bind> {
        self.layer.as_ref().map(Layer::binds).unwrap_or_default()
    }

    /// The helpers without those of `packages` (see [`Layer::without`]).
    pub fn without(&self, packages: &[&str]) -> Accel {
        Accel {
            mode: self.mode,
            layer: self.layer.as_ref().map(|l| l.without(packages)),
            notes: self.notes.clone(),
        }
    }

    /// Says the summary (when `emulated`) and writes it, the native programs
    /// and the notes to `log`.
    pub fn log(&self, log: &mut dyn std::io::Write, say: &dyn Fn(&str), emulated: bool) {
        let _ = writeln!(log, "brt: {}", self.summary());
        if let Some(layer) = &self.layer {
            let _ = writeln!(log, "brt: native: {}", layer.names());
        }
        for note in self.notes.iter().skip(usize::from(self.layer.is_none())) {
            let _ = writeln!(log, "brt: {note}");
        }
        if emulated {
            say(&self.summary());
        }
    }

    /// One line for the user and the logs: what runs natively, or why
    /// nothing does.
    pub fn summary(&self) -> String {
        let mode = self.mode.map_or("off".to_string(), |m| m.to_string());
        match &self.layer {
            Some(l) if !l.programs.is_empty() => format!(
                "accel {mode}: {} programs native ({} packages of the host's arch)",
                l.programs.len(),
                l.packages.len()
            ),
            _ if self.mode == Some(Mode::Off) || self.mode.is_none() => {
                format!("accel {mode}: everything emulated")
            }
            _ => format!(
                "accel {mode}: everything emulated ({})",
                self.notes.first().map_or("nothing to accelerate", |s| s)
            ),
        }
    }
}

/// Nothing to do: `Off` mode, or a root whose binaries run natively.
pub fn unneeded(mode: Mode, emulated: bool) -> Option<Accel> {
    match (mode, emulated) {
        (Mode::Off, _) => Some(Accel {
            mode: Some(mode),
            ..Accel::default()
        }),
        (_, false) => Some(Accel::emulated(mode, "the root runs natively")),
        _ => None,
    }
}

/// The host-arch indexes the helpers come from, loaded once and kept for
/// the next use in the same command (a build asks twice: before and after
/// its build dependencies are installed).
#[derive(Default)]
pub struct Indexes {
    pub(crate) deb: Option<crate::root::deb::bootstrap::Universe>,
    pub(crate) rpm: Option<crate::root::rpm::bootstrap::Universe>,
}

/// The helpers for `root` as it is now (its package database says what is
/// installed), by the root's family; or, in `Off` mode or for a root that
/// runs natively, none.
pub fn for_root(
    config: &crate::config::Config,
    mode: Mode,
    root: &Path,
    emulated: bool,
    opts: &crate::root::family::Context,
    indexes: &mut Indexes,
) -> Accel {
    if let Some(accel) = unneeded(mode, emulated) {
        return accel;
    }
    match config.distro.family {
        crate::config::Family::Deb => match crate::root::deb::install::installed(root) {
            Ok(have) => {
                let have = have.into_iter().map(|p| (p.name, p.version)).collect();
                deb::prepare(config, mode, root, &have, opts, indexes)
            }
            Err(e) => Accel::emulated(mode, format!("cannot read the root's packages: {e}")),
        },
        crate::config::Family::Rpm => match crate::root::rpm::rpmdb::installed(root, "") {
            Ok(Ok(have)) => {
                let have: Vec<_> = have
                    .into_iter()
                    .map(|p| (p.name.clone(), p.evr()))
                    .collect();
                rpm::prepare(config, mode, root, &have, opts, indexes)
            }
            Ok(Err(why)) => Accel::emulated(mode, format!("cannot read the root's rpmdb: {why}")),
            Err(e) => Accel::emulated(mode, format!("cannot read the root's rpmdb: {e}")),
        },
    }
}

/// Prints what `gcc -v` and `g++ -v` say of their search directories,
/// without the directories that are empty in the root (a search directory
/// with nothing in it cannot change what a compiler finds: a cross
/// compiler does not search the empty `/usr/local/include`).
const SEARCH_LISTS: &str = r#"for cc in gcc g++; do
    command -v $cc >/dev/null || continue
    echo "== $cc"
    lang=c; [ $cc = g++ ] && lang=c++
    $cc -v -E -x $lang /dev/null -o /dev/null 2>&1 | while IFS= read -r line; do
        case "$line" in
        " /"*)
            dir=${line# }
            if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then continue; fi
            ;;
        esac
        printf '%s\n' "$line"
    done
done
"#;

/// What the root's `gcc -v` and `g++ -v` say of their search directories
/// (`#include` lists and ignored directories), run with `layer`.
fn search_lists(
    root: &Path,
    layer: &Layer,
    interpreters: Vec<PathBuf>,
) -> Result<Vec<String>, String> {
    let out = tempfile::tempfile().map_err(|e| e.to_string())?;
    let mut spec = Spec::new(root.to_path_buf(), sandbox::sh(SEARCH_LISTS, []));
    spec.binds = layer.binds();
    spec.interpreters = interpreters;
    spec.env.push(("LC_ALL".into(), "C".into()));
    spec.output = Some(std::os::fd::AsRawFd::as_raw_fd(&out));
    sandbox::run(&spec).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let mut out = out;
    use std::io::{Read, Seek};
    out.rewind()
        .and_then(|_| out.read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        // The directories searched, in order (what it ignores, and why,
        // changes nothing).
        .filter(|l| l.starts_with("== ") || l.starts_with(' ') || l.starts_with("#include"))
        .map(str::to_string)
        .collect())
}

/// With native compilers in `layer`: checks that they search exactly the
/// directories the root's own do (a cross compiler has its own compiled
/// in; brt relocates them), else says where they differ.
pub fn probe_compiler(
    root: &Path,
    layer: &Layer,
    interpreters: Vec<PathBuf>,
) -> Result<(), String> {
    if !layer.programs.iter().any(Layer::is_compiler) {
        return Ok(());
    }
    let native = search_lists(root, layer, interpreters.clone())?;
    let emulated = search_lists(root, &layer.without_compilers(), interpreters)?;
    if native.iter().all(|l| !l.starts_with(' ')) {
        return Err("the root's gcc printed no search list".into());
    }
    match native.iter().zip(&emulated).find(|(a, b)| a != b) {
        None if native.len() == emulated.len() => Ok(()),
        Some((a, b)) => Err(format!(
            "they search other directories than the root's (`{}` where the root's has `{}`)",
            a.trim(),
            b.trim()
        )),
        None => Err("their search lists differ in length from the root's".into()),
    }
}

/// Checks that the helpers run in `root` (a sandbox with the layer's binds
/// running the first native program with `--version`), so that a broken
/// layer costs a line, not a failed build.
pub fn probe(root: &Path, layer: &Layer, interpreters: Vec<PathBuf>) -> Result<(), String> {
    let Some(first) = layer
        .programs
        .iter()
        .find(|p| p.path.file_name().is_some_and(|n| n == "true"))
        .or(layer.programs.first())
    else {
        return Ok(());
    };
    let mut spec = Spec::new(
        root.to_path_buf(),
        vec![
            first.path.to_string_lossy().into_owned(),
            "--version".into(),
        ],
    );
    spec.binds = layer.binds();
    spec.interpreters = interpreters;
    let null = fs_err::File::create("/dev/null").map_err(|e| e.to_string())?;
    spec.output = Some(std::os::fd::AsRawFd::as_raw_fd(&null));
    match sandbox::run(&spec) {
        Ok(0) => Ok(()),
        Ok(code) => Err(format!(
            "the native `{}` exited with status {code} in the root",
            first.path.display()
        )),
        Err(e) => Err(format!(
            "the native `{}` does not run in the root: {e}",
            first.path.display()
        )),
    }
}
