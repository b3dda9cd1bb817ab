//! binfmt_misc: read the kernel's entries, decide how a foreign arch runs,
//! register qemu-user when nothing does, and tell the sandbox what it must
//! bind into a root (docs/design.md §5).
//!
//! The `F` (fix-binary) flag is the heart of it: with `F` the kernel opens the
//! interpreter once, at registration, so it works inside any chroot. Without
//! `F` the kernel looks the interpreter path up at every exec, *inside* the
//! chroot, where it usually does not exist.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::arch::{self, Arch, Native};
use crate::error::{ErrorClass, Explain};

/// Where binfmt_misc is mounted on every modern distro.
pub const DEFAULT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Prefix of the entries brt registers, so that it only ever removes its own.
pub const BRT_PREFIX: &str = "brt-qemu-";

/// Exit status of the probe ELF from [`Arch::probe_elf`].
const PROBE_STATUS: i32 = 42;

#[derive(Debug, thiserror::Error)]
pub enum BinfmtError {
    #[error("cannot read binfmt_misc entry `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse binfmt_misc entry `{name}`: {reason}")]
    Parse { name: String, reason: String },
    #[error("cannot mount binfmt_misc on `{}`", dir.display())]
    Mount {
        dir: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot write `{line}` to `{}`", path.display())]
    Write {
        path: PathBuf,
        line: String,
        #[source]
        source: std::io::Error,
    },
    #[error("binfmt_misc is disabled host-wide (`{}` says `disabled`)", dir.join("status").display())]
    GloballyDisabled { dir: PathBuf },
    #[error("no qemu-user emulator for {arch} is installed")]
    QemuMissing {
        arch: &'static str,
        package: HostPackage,
    },
    #[error("`{}` is dynamically linked, so it cannot run inside a root", path.display())]
    DynamicInterpreter { path: PathBuf, entry: String },
    #[error("interpreter `{}` of entry `{entry}` does not exist", path.display())]
    InterpreterMissing { path: PathBuf, entry: String },
    #[error("a test {arch} binary did not run: {detail}")]
    ProbeFailed { arch: &'static str, detail: String },
    #[error("{arch} binaries cannot run on this host: binfmt_misc is not mounted")]
    NotMounted { arch: &'static str },
    #[error("{arch} binaries cannot run on this host: no enabled binfmt_misc entry matches them")]
    NoEntry { arch: &'static str },
    #[error(
        "{arch} binaries cannot run here: this kernel ({kernel}) has no binfmt_misc of a user namespace's own (Linux 6.7 or later), and the host has no entry for {arch}"
    )]
    NoNamespaceInstance { arch: &'static str, kernel: String },
    #[error("installing `{package}` with `{command}` failed")]
    Install {
        package: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
}

impl Explain for BinfmtError {
    /// The fix, where one is known.
    fn hint(&self) -> Option<String> {
        match self {
            BinfmtError::Mount { .. } => Some(
                "binfmt_misc can only be mounted as root: `sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`"
                    .into(),
            ),
            BinfmtError::GloballyDisabled { dir } => Some(format!(
                "enable it with `echo 1 > {}` (brt never changes this host setting by itself)",
                dir.join("status").display()
            )),
            BinfmtError::QemuMissing { package, .. } => Some(format!(
                "install it with `{}`, or run `brt binfmt ensure --install`",
                package.command()
            )),
            BinfmtError::DynamicInterpreter { entry, .. } => Some(format!(
                "the entry `{entry}` lacks the F flag, so the kernel looks its interpreter up inside the root, \
                 where its shared libraries are missing; install a static qemu (`qemu-user-static`) or \
                 re-register the entry with the F flag"
            )),
            BinfmtError::NotMounted { .. } | BinfmtError::NoEntry { .. } => {
                Some("run `brt binfmt ensure` as root".into())
            }
            BinfmtError::NoNamespaceInstance { arch, .. } => Some(format!(
                "on the host, once: `sudo brt binfmt ensure {arch}` (an entry with flag F, which rootless brt then uses), or a kernel ≥ 6.7"
            )),
            BinfmtError::Write { .. } | BinfmtError::Install { .. } => {
                Some("binfmt_misc registration needs root".into())
            }
            _ => None,
        }
    }

    fn class(&self) -> ErrorClass {
        ErrorClass::Emulation
    }
}

/// How an entry recognises files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    Magic {
        offset: usize,
        magic: Vec<u8>,
        mask: Vec<u8>,
    },
    Extension(String),
}

/// One entry as the kernel shows it in `/proc/sys/fs/binfmt_misc/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub enabled: bool,
    pub interpreter: PathBuf,
    /// Flag letters as the kernel prints them (`POCF`); empty when none.
    pub flags: String,
    pub matcher: Matcher,
}

impl Entry {
    /// Parse the text of `/proc/sys/fs/binfmt_misc/NAME`.
    pub fn parse(name: &str, text: &str) -> Result<Entry, BinfmtError> {
        let err = |reason: &str| BinfmtError::Parse {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let mut enabled = None;
        let mut interpreter = None;
        let mut flags = String::new();
        let mut offset = 0usize;
        let mut magic = None;
        let mut mask = None;
        let mut extension = None;
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "enabled" => enabled = Some(true),
                "disabled" => enabled = Some(false),
                "interpreter" => interpreter = Some(PathBuf::from(value)),
                "flags:" => flags = value.trim().to_string(),
                "offset" => offset = value.parse().map_err(|_| err("bad offset"))?,
                "magic" => magic = Some(unhex(value).ok_or_else(|| err("bad magic"))?),
                "mask" => mask = Some(unhex(value).ok_or_else(|| err("bad mask"))?),
                "extension" => extension = Some(value.trim_start_matches('.').to_string()),
                _ => {}
            }
        }
        let matcher = match (magic, extension) {
            (Some(magic), _) => {
                let mask = mask.unwrap_or_else(|| vec![0xff; magic.len()]);
                Matcher::Magic {
                    offset,
                    magic,
                    mask,
                }
            }
            (None, Some(ext)) => Matcher::Extension(ext),
            (None, None) => return Err(err("neither magic nor extension")),
        };
        Ok(Entry {
            name: name.to_string(),
            enabled: enabled.ok_or_else(|| err("no enabled/disabled line"))?,
            interpreter: interpreter.ok_or_else(|| err("no interpreter line"))?,
            flags,
            matcher,
        })
    }

    pub fn has_flag(&self, flag: char) -> bool {
        self.flags.contains(flag)
    }

    /// Does this entry claim `header` (the first bytes of a file)?
    pub fn matches(&self, header: &[u8]) -> bool {
        match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => arch::magic_matches(magic, mask, *offset, header),
            Matcher::Extension(_) => false,
        }
    }

    /// Does this entry claim the executables *and* shared objects (PIE) of `arch`?
    pub fn matches_arch(&self, arch: &Arch) -> bool {
        let exec = arch.probe_elf();
        let mut dyn_ = exec.clone();
        // e_type = ET_DYN (3), in the arch's byte order.
        match arch.endian {
            arch::Endian::Little => dyn_[16] = 3,
            arch::Endian::Big => dyn_[17] = 3,
        }
        self.matches(&exec) && self.matches(&dyn_)
    }

    /// The line to write to `register` for this entry.
    pub fn register_line(&self) -> String {
        match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => format!(
                ":{}:M:{}:{}:{}:{}:{}",
                self.name,
                offset,
                escape(magic),
                escape(mask),
                self.interpreter.display(),
                self.flags
            ),
            Matcher::Extension(ext) => format!(
                ":{}:E::{}::{}:{}",
                self.name,
                ext,
                self.interpreter.display(),
                self.flags
            ),
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// Is the ELF file at `path` statically linked (no `PT_INTERP`)? `None` when
/// it is not a readable ELF file.
pub fn is_static_elf(path: &Path) -> Option<bool> {
    let mut data = Vec::new();
    fs_err::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut data)
        .ok()?;
    if data.get(..4)? != b"\x7fELF" {
        return None;
    }
    let is64 = *data.get(4)? == 2;
    let big = *data.get(5)? == 2;
    let rd = |off: usize, len: usize| -> Option<u64> {
        let b = data.get(off..off + len)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if big { b[i] } else { b[len - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if is64 {
        (rd(32, 8)?, rd(54, 2)?, rd(56, 2)?)
    } else {
        (rd(28, 4)?, rd(42, 2)?, rd(44, 2)?)
    };
    const PT_INTERP: u64 = 3;
    for i in 0..phnum {
        let off = usize::try_from(phoff + i * phentsize).ok()?;
        if rd(off, 4)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// The binfmt_misc filesystem (normally at [`DEFAULT_DIR`]).
#[derive(Debug, Clone)]
pub struct BinfmtMisc {
    pub dir: PathBuf,
}

impl Default for BinfmtMisc {
    fn default() -> Self {
        BinfmtMisc {
            dir: PathBuf::from(DEFAULT_DIR),
        }
    }
}

impl BinfmtMisc {
    pub fn is_mounted(&self) -> bool {
        self.dir.join("register").exists()
    }

    /// Mount binfmt_misc unless it already is.
    pub fn mount(&self) -> Result<(), BinfmtError> {
        if self.is_mounted() {
            return Ok(());
        }
        nix::mount::mount(
            Some("binfmt_misc"),
            &self.dir,
            Some("binfmt_misc"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|source| BinfmtError::Mount {
            dir: self.dir.clone(),
            source,
        })
    }

    /// Is binfmt_misc enabled host-wide (`status` file)?
    pub fn globally_enabled(&self) -> bool {
        fs_err::read_to_string(self.dir.join("status"))
            .map(|s| s.trim() == "enabled")
            .unwrap_or(false)
    }

    /// Every entry, sorted by name.
    pub fn entries(&self) -> Result<Vec<Entry>, BinfmtError> {
        let read_err = |path: &Path, source| BinfmtError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut out = Vec::new();
        let dir = fs_err::read_dir(&self.dir).map_err(|e| read_err(&self.dir, e))?;
        for item in dir {
            let item = item.map_err(|e| read_err(&self.dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name == "register" || name == "status" {
                continue;
            }
            let path = item.path();
            let text = fs_err::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            out.push(Entry::parse(&name, &text)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn write(&self, file: &str, line: &str) -> Result<(), BinfmtError> {
        let path = self.dir.join(file);
        // binfmt_misc wants the whole line in one write(2).
        fs_err::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()))
            .map_err(|source| BinfmtError::Write {
                path,
                line: line.to_string(),
                source,
            })
    }

    pub fn register(&self, entry: &Entry) -> Result<(), BinfmtError> {
        self.write("register", &entry.register_line())
    }

    /// Remove entry `name` (`-1`). Callers must only remove entries they own.
    pub fn remove(&self, name: &str) -> Result<(), BinfmtError> {
        self.write(name, "-1")
    }

    /// Enable (`1`) or disable (`0`) entry `name`.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), BinfmtError> {
        self.write(name, if enabled { "1" } else { "0" })
    }
}

/// The package that provides static qemu-user on the host's distro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPackage {
    pub name: String,
    pub manager: &'static [&'static str],
}

impl HostPackage {
    /// Pick the package from `/etc/os-release` (`ID` and `ID_LIKE`).
    pub fn for_os_release(os_release: &str) -> HostPackage {
        let mut ids = Vec::new();
        for line in os_release.lines() {
            if let Some(v) = line
                .strip_prefix("ID=")
                .or_else(|| line.strip_prefix("ID_LIKE="))
            {
                ids.extend(v.trim_matches('"').split_whitespace().map(str::to_string));
            }
        }
        let has = |id: &str| ids.iter().any(|i| i == id);
        let (name, manager): (&str, &'static [&'static str]) = if has("debian") || has("ubuntu") {
            ("qemu-user-static", &["apt-get", "install", "-y"])
        } else if has("fedora") || has("rhel") || has("centos") {
            ("qemu-user-static", &["dnf", "install", "-y"])
        } else if has("opensuse") || has("suse") || has("opensuse-tumbleweed") {
            (
                "qemu-linux-user",
                &["zypper", "--non-interactive", "install"],
            )
        } else if has("arch") {
            ("qemu-user-static", &["pacman", "-S", "--noconfirm"])
        } else {
            ("qemu-user-static", &[])
        };
        HostPackage {
            name: name.to_string(),
            manager,
        }
    }

    pub fn detect() -> HostPackage {
        let text = fs_err::read_to_string("/etc/os-release").unwrap_or_default();
        HostPackage::for_os_release(&text)
    }

    /// The command a user would type.
    pub fn command(&self) -> String {
        if self.manager.is_empty() {
            format!(
                "install your distribution's static qemu-user package (`{}`)",
                self.name
            )
        } else {
            format!("{} {}", self.manager.join(" "), self.name)
        }
    }

    /// Run the host's package manager.
    pub fn install(&self) -> Result<(), BinfmtError> {
        let err = |source| BinfmtError::Install {
            package: self.name.clone(),
            command: self.command(),
            source,
        };
        let (prog, args) = self
            .manager
            .split_first()
            .ok_or_else(|| err(std::io::Error::other("unknown host distribution")))?;
        let status = Command::new(prog)
            .args(args)
            .arg(&self.name)
            .status()
            .map_err(err)?;
        if !status.success() {
            return Err(err(std::io::Error::other(format!("exited with {status}"))));
        }
        Ok(())
    }
}

impl fmt::Display for HostPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Find a static qemu-user binary for `arch`. In each of `dirs`, in order,
/// try Debian's `ARCH-binfmt-P` (it keeps argv[0], which busybox-style
/// multi-call binaries need), `qemu-ARCH-static`, then `qemu-ARCH`.
/// Dynamically linked candidates are skipped: they would not run inside a root.
pub fn find_static_qemu(arch: &Arch, dirs: &[PathBuf]) -> Option<PathBuf> {
    let names = [
        format!("{}-binfmt-P", arch.qemu),
        arch.qemu_static(),
        format!("qemu-{}", arch.qemu),
    ];
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| is_static_elf(p) == Some(true))
}

/// Where to look for qemu: `$BRT_QEMU_PATH` (colon-separated) when set,
/// else Debian's `/usr/libexec/qemu-binfmt`, `$PATH` and the usual system
/// directories.
pub fn default_qemu_dirs() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("BRT_QEMU_PATH") {
        return std::env::split_paths(&p).collect();
    }
    let mut dirs = vec![PathBuf::from("/usr/libexec/qemu-binfmt")];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    for d in ["/usr/local/bin", "/usr/bin", "/bin"] {
        let d = PathBuf::from(d);
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// How the host runs binaries of one arch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// The CPU runs them.
    Native,
    /// A binfmt_misc entry sends them to an interpreter.
    Emulated {
        entry: Entry,
        /// `Some(false)` when dynamically linked, `None` when unreadable.
        interpreter_static: Option<bool>,
        /// The other enabled entries that match the arch, with whether their
        /// interpreters are static. The kernel tries entries newest first and
        /// /proc does not say which is newest, so any of them may be the one
        /// it uses.
        others: Vec<(Entry, Option<bool>)>,
    },
    /// Nothing runs them; `reason` says why.
    Unavailable { reason: Unavailable },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    NotMounted,
    GloballyDisabled,
    /// Matching entries exist but all are disabled.
    Disabled(Vec<String>),
    NoEntry,
}

/// What a root of `arch` needs from the sandbox for emulation to work there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChrootNeeds {
    /// Nothing: native, or an `F` entry (the kernel holds the interpreter open).
    Nothing,
    /// Bind these host interpreters read-only at their own paths inside
    /// the root (every enabled entry without `F` that the kernel may pick).
    BindInterpreters(Vec<PathBuf>),
}

impl Support {
    /// What the sandbox must do so that `arch` binaries run inside a root.
    pub fn chroot_needs(&self, arch: &Arch) -> Result<ChrootNeeds, BinfmtError> {
        match self {
            Support::Native => Ok(ChrootNeeds::Nothing),
            Support::Emulated {
                entry,
                interpreter_static,
                others,
            } => {
                // The chosen entry must work in a root; of the others, every
                // static interpreter of an entry without F is bound too, so
                // the root works whichever entry the kernel tries first.
                let mut binds = Vec::new();
                if !entry.has_flag('F') {
                    match interpreter_static {
                        Some(true) => binds.push(entry.interpreter.clone()),
                        Some(false) => {
                            return Err(BinfmtError::DynamicInterpreter {
                                path: entry.interpreter.clone(),
                                entry: entry.name.clone(),
                            });
                        }
                        None => {
                            return Err(BinfmtError::InterpreterMissing {
                                path: entry.interpreter.clone(),
                                entry: entry.name.clone(),
                            });
                        }
                    }
                }
                for (other, is_static) in others {
                    if !other.has_flag('F')
                        && *is_static == Some(true)
                        && !binds.contains(&other.interpreter)
                    {
                        binds.push(other.interpreter.clone());
                    }
                }
                Ok(if binds.is_empty() {
                    ChrootNeeds::Nothing
                } else {
                    ChrootNeeds::BindInterpreters(binds)
                })
            }
            Support::Unavailable {
                reason: Unavailable::NotMounted,
            } => Err(BinfmtError::NotMounted { arch: arch.rpm }),
            Support::Unavailable { .. } => Err(BinfmtError::NoEntry { arch: arch.rpm }),
        }
    }
}

/// The host's view of emulation: binfmt_misc plus where to look for qemu.
#[derive(Debug, Clone)]
pub struct Host {
    pub binfmt: BinfmtMisc,
    pub arch: &'static Arch,
    /// Where to look for qemu, in order.
    pub search_dirs: Vec<PathBuf>,
    /// Where probe binaries are written (must allow exec).
    pub scratch: PathBuf,
}

impl Host {
    pub fn detect() -> Host {
        Host {
            binfmt: BinfmtMisc::default(),
            arch: Arch::host(),
            search_dirs: default_qemu_dirs(),
            scratch: std::env::temp_dir(),
        }
    }

    /// How `target` binaries run here right now (reads state, changes nothing).
    pub fn support(&self, target: &'static Arch) -> Result<Support, BinfmtError> {
        match arch::native(self.arch, target) {
            Native::Yes => return Ok(Support::Native),
            Native::No => {}
            Native::IfCpuSupports => {
                // binfmt_misc is consulted before the kernel's own compat ELF
                // loader, so an enabled entry wins even on capable CPUs.
                let claimed = self.binfmt.is_mounted()
                    && self
                        .binfmt
                        .entries()?
                        .iter()
                        .any(|e| e.enabled && e.matches_arch(target));
                if !claimed && self.probe(target).is_ok() {
                    return Ok(Support::Native);
                }
            }
        }
        if !self.binfmt.is_mounted() {
            return Ok(Support::Unavailable {
                reason: Unavailable::NotMounted,
            });
        }
        if !self.binfmt.globally_enabled() {
            return Ok(Support::Unavailable {
                reason: Unavailable::GloballyDisabled,
            });
        }
        let matching: Vec<Entry> = self
            .binfmt
            .entries()?
            .into_iter()
            .filter(|e| e.matches_arch(target))
            .collect();
        // Prefer an F entry when several are enabled: it works in every root.
        let enabled = matching
            .iter()
            .filter(|e| e.enabled)
            .max_by_key(|e| e.has_flag('F'));
        if let Some(entry) = enabled {
            let others = matching
                .iter()
                .filter(|e| e.enabled && e.name != entry.name)
                .map(|e| (e.clone(), is_static_elf(&e.interpreter)))
                .collect();
            return Ok(Support::Emulated {
                entry: entry.clone(),
                interpreter_static: is_static_elf(&entry.interpreter),
                others,
            });
        }
        let reason = if matching.is_empty() {
            Unavailable::NoEntry
        } else {
            Unavailable::Disabled(matching.into_iter().map(|e| e.name).collect())
        };
        Ok(Support::Unavailable { reason })
    }

    /// Execute a tiny `target` binary and check it exits with 42.
    pub fn probe(&self, target: &'static Arch) -> Result<(), BinfmtError> {
        let fail = |detail: String| BinfmtError::ProbeFailed {
            arch: target.rpm,
            detail,
        };
        let path = self
            .scratch
            .join(format!("brt-probe-{}-{}", target.rpm, std::process::id()));
        let write = || -> std::io::Result<()> {
            fs_err::write(&path, target.probe_elf())?;
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        };
        write().map_err(|e| fail(format!("cannot write `{}`: {e}", path.display())))?;
        let result = Command::new(&path).status();
        let _ = fs_err::remove_file(&path);
        match result {
            Ok(status) if status.code() == Some(PROBE_STATUS) => Ok(()),
            Ok(status) => Err(fail(format!(
                "it should exit with {PROBE_STATUS}, but {status}"
            ))),
            Err(e) => Err(fail(format!("exec failed: {e}"))),
        }
    }

    /// Make `target` binaries runnable: mount binfmt_misc if needed, register
    /// a static qemu with `F` when no enabled entry matches, and prove it by
    /// running a test binary. Never touches entries brt did not create.
    pub fn ensure(&self, target: &'static Arch, install: bool) -> Result<Ensured, BinfmtError> {
        if arch::native(self.arch, target) == Native::Yes {
            return Ok(Ensured::Native);
        }
        self.binfmt.mount()?;
        match self.support(target)? {
            Support::Native => return Ok(Ensured::Native),
            Support::Emulated { entry, .. } => {
                self.probe(target)?;
                return Ok(Ensured::AlreadyRegistered(entry));
            }
            Support::Unavailable {
                reason: Unavailable::GloballyDisabled,
            } => {
                return Err(BinfmtError::GloballyDisabled {
                    dir: self.binfmt.dir.clone(),
                });
            }
            Support::Unavailable { .. } => {}
        }
        let qemu = match find_static_qemu(target, &self.search_dirs) {
            Some(q) => q,
            None if install => {
                HostPackage::detect().install()?;
                find_static_qemu(target, &self.search_dirs).ok_or_else(|| {
                    BinfmtError::QemuMissing {
                        arch: target.rpm,
                        package: HostPackage::detect(),
                    }
                })?
            }
            None => {
                return Err(BinfmtError::QemuMissing {
                    arch: target.rpm,
                    package: HostPackage::detect(),
                });
            }
        };
        let entry = brt_entry(target, &qemu);
        // A disabled entry of our own from an earlier run: replace it.
        if self.binfmt.dir.join(&entry.name).exists() {
            self.binfmt.remove(&entry.name)?;
        }
        self.binfmt.register(&entry)?;
        // Rootless, the entry is registered anew in each command's own
        // binfmt_misc: the same entry with the same emulator is proven once.
        let proven = proof_marker(&entry);
        if proven.as_ref().is_some_and(|m| m.exists()) {
            return Ok(Ensured::Registered(entry));
        }
        if let Err(e) = self.probe(target) {
            let _ = self.binfmt.remove(&entry.name);
            return Err(e);
        }
        if let Some(m) = proven {
            let _ = m.parent().map(fs_err::create_dir_all);
            let _ = fs_err::write(&m, entry.register_line());
        }
        Ok(Ensured::Registered(entry))
    }

    /// Remove the entry brt registered for `target`, if any. Returns its name.
    pub fn remove_own(&self, target: &Arch) -> Result<Option<String>, BinfmtError> {
        let name = format!("{BRT_PREFIX}{}", target.rpm);
        if !self.binfmt.dir.join(&name).exists() {
            return Ok(None);
        }
        self.binfmt.remove(&name)?;
        Ok(Some(name))
    }
}

/// The entry brt registers for `arch` with interpreter `qemu`.
///
/// Flags: `F` so it works in every chroot; `C` (implies `O`) so setuid
/// binaries inside a root get their credentials, as on real hardware; `P`
/// only for Debian's `*-binfmt-P` wrappers, which expect argv[0] preserved.
pub fn brt_entry(arch: &Arch, qemu: &Path) -> Entry {
    let preserve = qemu.to_string_lossy().ends_with("-binfmt-P");
    Entry {
        name: format!("{BRT_PREFIX}{}", arch.rpm),
        enabled: true,
        interpreter: qemu.to_path_buf(),
        flags: if preserve { "POCF" } else { "OCF" }.to_string(),
        matcher: Matcher::Magic {
            offset: 0,
            magic: arch.magic.to_vec(),
            mask: arch.mask.to_vec(),
        },
    }
}

/// Rootless only: where a proof of `entry` is kept, by its registration
/// line, its emulator's identity (device, inode, size, mtime) and the
/// kernel release (`~/.cache/brt/binfmt-proven/KEY`). Root mode proves an
/// entry once, when it registers it on the host.
fn proof_marker(entry: &Entry) -> Option<PathBuf> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    if !crate::rootless::active() {
        return None;
    }
    let md = fs_err::metadata(&entry.interpreter).ok()?;
    let kernel = nix::sys::utsname::uname().ok()?;
    let key = format!(
        "{}\n{} {} {} {}\n{}",
        entry.register_line(),
        md.dev(),
        md.ino(),
        md.size(),
        md.mtime(),
        kernel.release().to_string_lossy()
    );
    let (_, cache) = crate::rootless::user_dirs();
    Some(
        cache
            .join("binfmt-proven")
            .join(&hex::encode(sha2::Sha256::digest(key))[..32]),
    )
}

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    Native,
    AlreadyRegistered(Entry),
    Registered(Entry),
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_PF: &str = "enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
";
    const DEBIAN_POCF: &str = "enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
";
    const FEDORA_STATIC: &str = "enabled
interpreter /usr/bin/qemu-aarch64-static
flags: F
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
";
    // Fedora's qemu-user-binfmt: dynamic /usr/bin/qemu-aarch64, no flags.
    const FEDORA_DYNAMIC: &str = "enabled
interpreter /usr/bin/qemu-aarch64
flags: 
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
";
    const DISABLED_S390X: &str = "disabled
interpreter /usr/bin/qemu-s390x-static
flags: F
offset 0
magic 7f454c4602020100000000000000000000020016
mask fffffffffffffffcfffffffffffffffffffeffff
";
    const PYTHON_EXT: &str = "enabled
interpreter /usr/bin/python3.11
flags: 
offset 0
magic a70d0d0a
";

    #[test]
    fn parses_real_entry_texts() {
        let aarch64 = Arch::find("aarch64").unwrap();
        let s390x = Arch::find("s390x").unwrap();
        let cases: &[(&str, &str, bool, &str, &str, &Arch)] = &[
            (
                "qemu-aarch64",
                DEBIAN_PF,
                true,
                "PF",
                "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
                aarch64,
            ),
            (
                "qemu-aarch64",
                DEBIAN_POCF,
                true,
                "POCF",
                "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
                aarch64,
            ),
            (
                "qemu-aarch64-static",
                FEDORA_STATIC,
                true,
                "F",
                "/usr/bin/qemu-aarch64-static",
                aarch64,
            ),
            (
                "qemu-aarch64",
                FEDORA_DYNAMIC,
                true,
                "",
                "/usr/bin/qemu-aarch64",
                aarch64,
            ),
            (
                "qemu-s390x",
                DISABLED_S390X,
                false,
                "F",
                "/usr/bin/qemu-s390x-static",
                s390x,
            ),
        ];
        for (name, text, enabled, flags, interp, arch) in cases {
            let e = Entry::parse(name, text).unwrap();
            assert_eq!(e.enabled, *enabled, "{name}");
            assert_eq!(e.flags, *flags, "{name}");
            assert_eq!(e.interpreter, Path::new(interp), "{name}");
            assert!(e.matches_arch(arch), "{name} should claim {arch}");
            for other in crate::arch::ARCHES.iter().filter(|a| a != arch) {
                assert!(!e.matches_arch(other), "{name} must not claim {other}");
            }
        }
        let py = Entry::parse("python3.11", PYTHON_EXT).unwrap();
        assert!(!py.matches_arch(aarch64));
        assert!(Entry::parse("x", "interpreter /x\n").is_err());
    }

    #[test]
    fn flags_decide_what_a_chroot_needs() {
        let aarch64 = Arch::find("aarch64").unwrap();
        let with_f = Support::Emulated {
            entry: Entry::parse("a", FEDORA_STATIC).unwrap(),
            interpreter_static: Some(true),
            others: Vec::new(),
        };
        assert_eq!(with_f.chroot_needs(aarch64).unwrap(), ChrootNeeds::Nothing);

        let mut no_f_entry = Entry::parse("a", FEDORA_STATIC).unwrap();
        no_f_entry.flags.clear();
        let no_f_static = Support::Emulated {
            entry: no_f_entry.clone(),
            interpreter_static: Some(true),
            others: Vec::new(),
        };
        assert_eq!(
            no_f_static.chroot_needs(aarch64).unwrap(),
            ChrootNeeds::BindInterpreters(vec!["/usr/bin/qemu-aarch64-static".into()])
        );

        // brt's F entry and a later one without F (the kernel tries the
        // later first): the other's static interpreter is bound too.
        let mut later = no_f_entry.clone();
        later.name = "qemu-aarch64".into();
        later.interpreter = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into();
        let both = Support::Emulated {
            entry: Entry::parse("brt-qemu-aarch64", FEDORA_STATIC).unwrap(),
            interpreter_static: Some(true),
            others: vec![(later.clone(), Some(true)), (no_f_entry, Some(false))],
        };
        assert_eq!(
            both.chroot_needs(aarch64).unwrap(),
            ChrootNeeds::BindInterpreters(vec![later.interpreter.clone()])
        );

        let no_f_dynamic = Support::Emulated {
            entry: Entry::parse("qemu-aarch64", FEDORA_DYNAMIC).unwrap(),
            interpreter_static: Some(false),
            others: Vec::new(),
        };
        let err = no_f_dynamic.chroot_needs(aarch64).unwrap_err();
        assert!(matches!(err, BinfmtError::DynamicInterpreter { .. }));
        assert!(err.hint().unwrap().contains("lacks the F flag"));
    }

    #[test]
    fn register_line_round_trips_through_the_kernel_format() {
        let aarch64 = Arch::find("aarch64").unwrap();
        let e = brt_entry(aarch64, Path::new("/usr/bin/qemu-aarch64-static"));
        assert_eq!(
            e.register_line(),
            ":brt-qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:OCF"
        );
        let p = brt_entry(
            aarch64,
            Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
        );
        assert_eq!(p.flags, "POCF");
    }

    #[test]
    fn host_package_per_distro() {
        let cases = [
            ("ID=debian\n", "apt-get install -y qemu-user-static"),
            (
                "ID=ubuntu\nID_LIKE=debian\n",
                "apt-get install -y qemu-user-static",
            ),
            ("ID=fedora\n", "dnf install -y qemu-user-static"),
            (
                "ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n",
                "zypper --non-interactive install qemu-linux-user",
            ),
            ("ID=arch\n", "pacman -S --noconfirm qemu-user-static"),
        ];
        for (os, cmd) in cases {
            assert_eq!(HostPackage::for_os_release(os).command(), cmd, "{os}");
        }
    }

    #[test]
    fn static_detection_on_host_binaries() {
        // The test binary itself is dynamically linked on glibc hosts.
        let me = std::env::current_exe().unwrap();
        assert_eq!(is_static_elf(&me), Some(false));
        assert_eq!(is_static_elf(Path::new("/etc/os-release")), None);
        // The probe ELF has no PT_INTERP.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("probe");
        fs_err::write(&p, Arch::find("s390x").unwrap().probe_elf()).unwrap();
        assert_eq!(is_static_elf(&p), Some(true));
    }
}
