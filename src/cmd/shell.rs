//! `brt -r NAME shell [-- CMD ARGS...]`: a login shell or one command inside
//! the root, through the sandbox.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Settings, UsageError, lock_waiting};
use crate::cli::ShellArgs;
use brt::binfmt::{ChrootNeeds, Host, Support};
use brt::config::Config;
use brt::root::Layout;
use brt::root::lock::RootLock;
use brt::root::overlay::{self, BuildRoot};
use brt::sandbox::{self, Bind, SandboxError, Spec};

/// Variables passed through from the host when set.
const PASSED_THROUGH: &[&str] = &[
    "TERM",
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

pub fn run(settings: &Settings, args: ShellArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    // From nothing to a prompt: a root that is not ready is bootstrapped
    // first, as mock does for `--shell` (a kept build needs its root).
    if args.build.is_none()
        && let Some(code) = super::init::ensure_ready(settings, &layout, 8, None)?
    {
        return Ok(code);
    }
    layout.require_ready()?;
    // A kept build root is an overlay mounted in brt's own namespace,
    // which must be made before the lock (or anything) starts a thread.
    let mut build = match &args.build {
        Some(id) => {
            overlay::private_namespace()?;
            Some(BuildRoot::open_kept(&layout, id)?)
        }
        None => None,
    };
    let _lock = RootLock::shared(&layout, lock_waiting(settings, &config.name))?;
    let root = match &mut build {
        Some(b) => {
            b.mount(&layout.root())?;
            b.merged()
        }
        None => layout.root(),
    };

    let interpreter = emulation(&config)?;
    let spec = spec(&config, root, &args, interpreter)?;
    match sandbox::run(&spec) {
        Ok(code) => Ok(code),
        Err(SandboxError::Exec { message, code }) => {
            eprintln!("error: {message}");
            Ok(code)
        }
        Err(e) => Err(e).context(format!("cannot enter root `{}`", config.name)),
    }
}

/// Make sure the root's binaries run here; the interpreters to bind, if any.
pub fn emulation(config: &Config) -> Result<Vec<PathBuf>> {
    Ok(emulation_support(config)?.0)
}

/// [`emulation`], and how the host runs the root's binaries.
pub fn emulation_support(config: &Config) -> Result<(Vec<PathBuf>, Support)> {
    let host = Host::detect();
    let support = match host.support(config.arch)? {
        // An enabled entry (or native support) is used as it is; one that
        // cannot work inside a root (no F, dynamic interpreter) is reported
        // as such. Only when nothing runs the arch does brt register qemu,
        // which also proves it with a test binary.
        s @ (Support::Native | Support::Emulated { .. }) => s,
        // Rootless on a kernel without binfmt_misc per user namespace: only
        // the host's entries could run it, and there is none.
        Support::Unavailable { .. } if brt::rootless::active() && !brt::rootless::own_binfmt() => {
            let kernel = nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(brt::binfmt::BinfmtError::NoNamespaceInstance {
                arch: config.arch.rpm,
                kernel,
            }
            .into());
        }
        Support::Unavailable { .. } => {
            host.ensure(config.arch, false)?;
            host.support(config.arch)?
        }
    };
    let interpreters = match support.chroot_needs(config.arch)? {
        ChrootNeeds::Nothing => Vec::new(),
        ChrootNeeds::BindInterpreters(p) => p,
    };
    Ok((interpreters, support))
}

fn parse_bind(text: &str) -> Result<Bind> {
    let bad = || UsageError::BadBind {
        text: text.to_string(),
    };
    let mut parts = text.split(':');
    let (Some(src), Some(dst)) = (parts.next(), parts.next()) else {
        return Err(bad().into());
    };
    let readonly = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad().into()),
    };
    if parts.next().is_some() || src.is_empty() || !dst.starts_with('/') {
        return Err(bad().into());
    }
    let source = fs_err::canonicalize(src).context("bind source")?;
    Ok(Bind {
        source,
        target: PathBuf::from(dst),
        readonly,
    })
}

/// The build user's uid/gid: the invoking user's (sudo), else 1000.
pub fn build_user_ids() -> (u32, u32) {
    let get = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    let uid = get("SUDO_UID").filter(|u| *u != 0).unwrap_or(1000);
    let gid = get("SUDO_GID").filter(|g| *g != 0).unwrap_or(uid);
    (uid, gid)
}

fn spec(
    config: &Config,
    root: PathBuf,
    args: &ShellArgs,
    interpreters: Vec<PathBuf>,
) -> Result<Spec> {
    let interactive = args.command.is_empty();
    let argv = if interactive {
        let shell = if has_file(&root, "bin/bash") || has_file(&root, "usr/bin/bash") {
            "/bin/bash"
        } else {
            "/bin/sh"
        };
        vec![shell.to_string(), "-l".to_string()]
    } else {
        args.command.clone()
    };
    let mut spec = Spec::new(root, argv);
    spec.pty = std::io::stdin().is_terminal();
    spec.hostname = config.name.chars().take(64).collect();
    spec.network = if args.enable_network {
        true
    } else if args.disable_network {
        false
    } else {
        config.build.network
    };
    spec.interpreters = interpreters;
    spec.binds = args
        .binds
        .iter()
        .map(|b| parse_bind(b))
        .collect::<Result<_>>()?;

    let (home, user) = if args.user {
        spec.user = Some(build_user_ids());
        ("/builddir".to_string(), config.build.user.clone())
    } else {
        ("/root".to_string(), "root".to_string())
    };
    spec.cwd = args.cwd.clone().unwrap_or_else(|| PathBuf::from("/"));
    let prompt = format!("<brt:{}> \\s-\\v\\$ ", config.name);
    let mut env = vec![
        ("PATH".to_string(), sandbox::DEFAULT_PATH.to_string()),
        ("HOME".to_string(), home),
        ("USER".to_string(), user.clone()),
        ("LOGNAME".to_string(), user),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("SHELL".to_string(), "/bin/bash".to_string()),
        ("HOSTNAME".to_string(), spec.hostname.clone()),
        ("PS1".to_string(), prompt.clone()),
        // Login shells source /etc/profile and bashrc, which set their own
        // PS1; this puts brt's prompt back before each prompt is drawn.
        ("PROMPT_COMMAND".to_string(), format!("PS1='{prompt}'")),
        ("BRT_ROOT".to_string(), config.name.clone()),
    ];
    for k in PASSED_THROUGH {
        if let Ok(v) = std::env::var(k) {
            env.push((k.to_string(), v));
        }
    }
    if !env.iter().any(|(k, _)| k == "TERM") {
        env.push((
            "TERM".into(),
            if spec.pty { "xterm" } else { "dumb" }.into(),
        ));
    }
    spec.env = env;
    Ok(spec)
}

/// Does `rel` exist in the root? Checked without following links out of it:
/// only the final component may be a link, and it is not followed.
fn has_file(root: &Path, rel: &str) -> bool {
    fs_err::symlink_metadata(root.join(rel)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_syntax() {
        let b = parse_bind("/tmp:/mnt/tmp:ro").unwrap();
        assert_eq!(b.target, Path::new("/mnt/tmp"));
        assert!(b.readonly);
        assert!(!parse_bind("/tmp:/x").unwrap().readonly);
        for bad in ["/tmp", "/tmp:rel", "/tmp:/x:rx", ":/x", "/tmp:/x:ro:y"] {
            assert!(parse_bind(bad).is_err(), "{bad}");
        }
    }
}
