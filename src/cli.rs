//! The command line, as clap types only. `cmd/` turns these into settings.

use std::path::PathBuf;

use brt::config::AccelMode;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "brt",
    version,
    about = "Create and run package build roots for any CPU architecture",
    long_about = "brt creates and runs package build roots (RPM and Debian) for any CPU \
                  architecture, using binfmt_misc and qemu-user for foreign ones."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Root config: a name (`fedora-rawhide-aarch64`, either arch spelling) or a path to a .toml file
    #[arg(
        short = 'r',
        long = "root",
        global = true,
        value_name = "NAME|PATH.toml"
    )]
    pub root: Option<String>,
    /// Where roots live (default: /var/lib/brt as root, ~/.local/share/brt otherwise)
    #[arg(long, global = true, env = "BRT_BASEDIR")]
    pub basedir: Option<PathBuf>,
    /// Where downloaded packages and metadata are cached (default: /var/cache/brt as root, ~/.cache/brt otherwise)
    #[arg(long, global = true, env = "BRT_CACHEDIR")]
    pub cachedir: Option<PathBuf>,
    /// More output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Never show progress bars (they are hidden anyway without a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Use only cached metadata and packages; never touch the network
    #[arg(long, global = true, env = "BRT_OFFLINE")]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List configs with their root's state and size
    List(ListArgs),
    /// Print the fully resolved config of `-r NAME` and the files it came from
    Config(ConfigArgs),
    /// Show or fix how this host runs foreign binaries (binfmt_misc + qemu-user)
    Binfmt(BinfmtArgs),
    /// Bootstrap the root from its repositories (a no-op when it is ready)
    Init(InitArgs),
    /// Install packages (and what they need) into a ready root
    Install(PackagesArgs),
    /// Remove packages from a ready root (with the root's apt)
    Remove(PackagesArgs),
    /// Refresh the metadata and upgrade every package of a ready root
    Update(UpdateArgs),
    /// Interactive login shell in the root, or `shell -- CMD ARGS...` to run one command
    Shell(ShellArgs),
    /// Build source packages (.src.rpm, .dsc), each in a fresh overlay of the ready root
    Build(BuildArgs),
    /// Build a source RPM from a spec file and a directory of its sources, in the root
    Buildsrpm(BuildsrpmArgs),
    /// Rebuild many source packages in dependency order, several at once or on Slurm, into a local repository
    Rebuild(RebuildArgs),
    /// Remove the root and its kept build roots (the result dir stays), or with --builds only the kept build roots
    Clean(CleanArgs),
    /// Empty brt's caches: all, packages, metadata, roots-cache, helpers, builds
    Scrub(ScrubArgs),
    /// Copy host files into the root (like `cp -R`; symlinks in the root never lead out of it)
    Copyin(CopyArgs),
    /// Copy files out of the root to the host (like `cp -R`)
    Copyout(CopyArgs),
    /// Create a ready root from a rootfs tarball (.tar, .tar.gz, .tar.xz, .tar.zst) or a directory
    Import(ImportArgs),
    /// Write the root as a tarball (zstd, multi-threaded) that `import` takes back
    Export(ExportArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Write brt's man pages into a directory
    Manpages(ManpagesArgs),
    /// brt's own helper: draws a build's one-line view for the brt whose
    /// pipe is its stdin
    #[command(name = "__indicator", hide = true)]
    Indicator,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Machine-readable output (the config plus its source files)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BinfmtArgs {
    #[command(subcommand)]
    pub action: Option<BinfmtAction>,
}

#[derive(Debug, Subcommand)]
pub enum BinfmtAction {
    /// How each architecture (or ARCH) runs here, and the fix when it does not
    Status {
        /// Architecture, either spelling (default: all, or the root's with -r)
        arch: Option<String>,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Make ARCH binaries runnable: mount binfmt_misc, register a static qemu with the F flag, verify
    Ensure {
        /// Architecture, either spelling (default: the root's, with -r)
        arch: Option<String>,
        /// Install the host's qemu-user-static package when it is missing
        #[arg(long)]
        install: bool,
    },
    /// Remove the entry brt registered for ARCH (never a host-managed one)
    Remove {
        /// Architecture, either spelling
        arch: String,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Output directory (created if needed)
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Run as the unprivileged build user (uid of the invoking user via SUDO_UID, else 1000)
    #[arg(long)]
    pub user: bool,
    /// Working directory inside the root
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Bind a host path into the root: SRC:DST, or SRC:DST:ro for read-only (repeatable)
    #[arg(long = "bind", value_name = "SRC:DST[:ro]")]
    pub binds: Vec<String>,
    /// Give the root the host's network (default: config `build.network`, normally off)
    #[arg(long, conflicts_with = "disable_network")]
    pub enable_network: bool,
    /// Only loopback inside the root
    #[arg(long)]
    pub disable_network: bool,
    /// Enter a build root kept by `build --keep` instead of the root
    #[arg(long, value_name = "ID")]
    pub build: Option<String>,
    /// Command and arguments to run instead of a login shell
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Source packages, built in order, each from the pristine root
    #[arg(required = true, value_name = "PKG.src.rpm|PKG.dsc")]
    pub packages: Vec<PathBuf>,
    /// Later packages may build-depend on what earlier ones built (RPM roots)
    #[arg(long)]
    pub chain: bool,
    /// Build dependencies may also come from the packages in DIR, and what
    /// is built goes into DIR, whose rpm-md metadata is rewritten (RPM roots)
    #[arg(long, value_name = "DIR")]
    pub local_repo: Option<PathBuf>,
    /// If the root is not ready, import it from this exported root instead
    /// of bootstrapping it (cluster nodes of `rebuild --slurm`)
    #[arg(long, value_name = "FILE", hide = true)]
    pub root_image: Option<PathBuf>,
    #[command(flatten)]
    pub common: BuildCommon,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Source packages, or `@FILE` for a file listing them one per line
    #[arg(required = true, value_name = "PKG.src.rpm|PKG.dsc|@LIST")]
    pub packages: Vec<String>,
    /// Builds at once
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// After a failure, go on with everything that does not depend on it
    #[arg(long)]
    pub keep_going: bool,
    /// Skip inputs already built from the same input into the same root
    #[arg(long)]
    pub resume: bool,
    /// Build the members of a dependency cycle in the order given
    #[arg(long)]
    pub break_cycles: bool,
    /// Where results, logs and the local repository go (default: BASEDIR/NAME/rebuild)
    #[arg(long, value_name = "DIR")]
    pub resultdir: Option<PathBuf>,
    /// Write the build order and each build's command as JSON, and build nothing
    #[arg(long)]
    pub plan: bool,
    /// Submit one Slurm job per input (sbatch, with the order as job dependencies)
    #[arg(long)]
    pub slurm: bool,
    /// The Slurm partition
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// Print a report per input and the build order as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Skip the tests (`%check`; `DEB_BUILD_OPTIONS=nocheck` for Debian)
    #[arg(long)]
    pub nocheck: bool,
    /// Native helpers for emulated roots: auto, tools or off
    #[arg(long, value_name = "MODE", value_parser = parse_accel)]
    pub accel: Option<AccelMode>,
}

#[derive(Debug, Args)]
pub struct BuildsrpmArgs {
    /// The spec file
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// The directory holding the spec's sources and patches
    #[arg(long, value_name = "DIR")]
    pub sources: PathBuf,
    #[command(flatten)]
    pub common: BuildCommon,
}

/// Options of `build` and `buildsrpm`.
#[derive(Debug, Args)]
pub struct BuildCommon {
    /// Where packages and logs go (default: BASEDIR/NAME/result; several packages: a subdir each)
    #[arg(long, value_name = "DIR")]
    pub resultdir: Option<PathBuf>,
    /// Keep the build root afterwards; `shell --build ID` enters it
    #[arg(long)]
    pub keep: bool,
    /// Give the build the host's network (default: config `build.network`, normally off)
    #[arg(long)]
    pub enable_network: bool,
    /// rpm macro for the build, as `'NAME VALUE'` (repeatable)
    #[arg(long = "define", value_name = "'NAME VALUE'")]
    pub defines: Vec<String>,
    /// Enable a bcond (`rpmbuild --with`, repeatable)
    #[arg(long, value_name = "OPTION")]
    pub with: Vec<String>,
    /// Disable a bcond (`rpmbuild --without`, repeatable)
    #[arg(long, value_name = "OPTION")]
    pub without: Vec<String>,
    /// Skip the tests (`%check`; `DEB_BUILD_OPTIONS=nocheck` for Debian)
    #[arg(long)]
    pub nocheck: bool,
    /// rpmbuild's `--target` (default: the root's arch)
    #[arg(long, value_name = "ARCH")]
    pub target: Option<String>,
    /// Print a machine-readable summary on stdout (with --dry-run: the transactions)
    #[arg(long)]
    pub json: bool,
    /// Print the build dependencies each build would install, and build nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Downloads at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Native helpers for emulated roots: auto, tools or off (default: config `accel.mode`, else tools)
    #[arg(long, value_name = "MODE", value_parser = parse_accel)]
    pub accel: Option<AccelMode>,
}

#[derive(Debug, Args)]
pub struct ScrubArgs {
    /// What to empty (waits for the commands that use the cache)
    #[arg(required = true, value_enum)]
    pub parts: Vec<ScrubPart>,
}

/// What `scrub` empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScrubPart {
    /// Everything below
    All,
    /// Downloaded packages
    Packages,
    /// Repository metadata
    Metadata,
    /// Finished roots kept for the next init
    RootsCache,
    /// Native helper layers (accel)
    Helpers,
    /// Kept build roots of every root
    Builds,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only the kept build roots that no brt is using
    #[arg(long, conflicts_with = "build")]
    pub builds: bool,
    /// Only this kept build root
    #[arg(long, value_name = "ID")]
    pub build: Option<String>,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// What to copy (a symlink is copied as what it points to; symlinks below it as symlinks)
    #[arg(required = true, value_name = "SRC")]
    pub srcs: Vec<PathBuf>,
    /// An existing directory to copy each SRC into, or the new name of the one SRC
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
    /// Keep numeric owners, setuid/setgid bits and xattrs (default: the copies belong to root, or to you on the host)
    #[arg(long)]
    pub preserve_owner: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Downloads at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Build the root even if the root cache has it (and do not keep it there)
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub dry: DryRunArgs,

    /// Native helpers for emulated roots: auto, tools or off (default: config `accel.mode`, else auto)
    #[arg(long, value_name = "MODE", value_parser = parse_accel)]
    pub accel: Option<AccelMode>,
}

/// `--dry-run` and its `--json`.
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct DryRunArgs {
    /// Print what would be installed, upgraded or removed, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: the transaction as JSON on stdout
    #[arg(long, requires = "dry_run")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PackagesArgs {
    /// Package names (`name`, `name=version`)
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// RPM roots: remove installed packages that conflict with the new ones (as dnf)
    #[arg(long)]
    pub allowerasing: bool,
    #[command(flatten)]
    pub dry: DryRunArgs,

    /// Downloads at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Native helpers for emulated roots: auto, tools or off (default: config `accel.mode`, else auto)
    #[arg(long, value_name = "MODE", value_parser = parse_accel)]
    pub accel: Option<AccelMode>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Downloads at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    #[command(flatten)]
    pub dry: DryRunArgs,

    /// Native helpers for emulated roots: auto, tools or off (default: config `accel.mode`, else auto)
    #[arg(long, value_name = "MODE", value_parser = parse_accel)]
    pub accel: Option<AccelMode>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A rootfs tarball (plain, gzip, xz or zstd, told by content) or a directory
    pub path: PathBuf,
    /// Replace an existing root (its result dir is kept)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output file, normally NAME.tar.zst (written atomically)
    pub file: PathBuf,
    /// zstd compression level (1-19; higher is smaller and slower)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub level: i32,
}

/// `--accel MODE`.
fn parse_accel(s: &str) -> Result<AccelMode, String> {
    s.parse()
}
