//! `brt binfmt [status|ensure|remove] [ARCH]`.

use anyhow::Result;
use serde::Serialize;

use super::{Settings, exit, parse_arch};
use crate::cli::{BinfmtAction, BinfmtArgs};
use brt::arch::{ARCHES, Arch};
use brt::binfmt::{ChrootNeeds, Ensured, Host, Support, Unavailable};
use brt::error::Explain;

pub fn run(settings: &Settings, args: BinfmtArgs) -> Result<i32> {
    let host = Host::detect();
    match args.action.unwrap_or(BinfmtAction::Status {
        arch: None,
        json: false,
    }) {
        BinfmtAction::Status { arch, json } => status(settings, &host, arch, json),
        BinfmtAction::Ensure { arch, install } => {
            let arch = arch_or_root(settings, arch)?;
            match host.ensure(arch, install)? {
                Ensured::Native => settings.info(format!("{arch}: runs natively on this host")),
                Ensured::AlreadyRegistered(e) => settings.info(format!(
                    "{arch}: already handled by entry `{}` ({}); a test binary ran",
                    e.name,
                    e.interpreter.display()
                )),
                Ensured::Registered(e) => settings.info(format!(
                    "{arch}: registered `{}` → `{}` with flags {}; a test binary ran",
                    e.name,
                    e.interpreter.display(),
                    e.flags
                )),
            }
            Ok(exit::OK)
        }
        BinfmtAction::Remove { arch } => {
            let arch = parse_arch(&arch)?;
            match host.remove_own(arch)? {
                Some(name) => settings.info(format!("removed `{name}`")),
                None => settings.info(format!(
                    "brt has no entry for {arch}; entries the host manages are left alone"
                )),
            }
            Ok(exit::OK)
        }
    }
}

/// The arch named on the command line, else the `-r` root's.
fn arch_or_root(settings: &Settings, arch: Option<String>) -> Result<&'static Arch> {
    match arch {
        Some(a) => parse_arch(&a),
        None => Ok(settings.config()?.arch),
    }
}

#[derive(Serialize)]
struct Row {
    arch: &'static str,
    deb: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interpreter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interpreter_static: Option<bool>,
    /// Every other enabled entry that matches the arch (`name: interpreter
    /// flags`); the kernel tries the newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_matching: Vec<String>,
    /// With several matching entries: which one the kernel uses, found
    /// by running a test binary in a root.
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel_uses: Option<String>,
    /// Do binaries of this arch run inside a root, and how.
    in_root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn row(arch: &'static Arch, support: &Support) -> Row {
    let mut r = Row {
        arch: arch.rpm,
        deb: arch.deb,
        status: "",
        entry: None,
        interpreter: None,
        flags: None,
        interpreter_static: None,
        also_matching: Vec::new(),
        kernel_uses: None,
        in_root: String::new(),
        fix: None,
    };
    match support {
        Support::Native => {
            r.status = "native";
            r.in_root = "yes, natively".into();
        }
        Support::Emulated {
            entry,
            interpreter_static,
            others,
        } => {
            r.status = "emulated";
            r.also_matching = others
                .iter()
                .map(|(e, _)| {
                    format!(
                        "{}: {} flags {:?}",
                        e.name,
                        e.interpreter.display(),
                        e.flags
                    )
                })
                .collect();
            if !others.is_empty() && nix::unistd::geteuid().is_root() {
                r.kernel_uses = Some(kernel_uses(arch, entry, others));
            }
            r.entry = Some(entry.name.clone());
            r.interpreter = Some(entry.interpreter.display().to_string());
            r.flags = Some(entry.flags.clone());
            r.interpreter_static = *interpreter_static;
            match support.chroot_needs(arch) {
                Ok(ChrootNeeds::Nothing) => {
                    r.in_root = "yes: the F flag makes the kernel hold the interpreter open, so it works in any root".into();
                }
                Ok(ChrootNeeds::BindInterpreters(p)) => {
                    let paths: Vec<String> =
                        p.iter().map(|p| format!("`{}`", p.display())).collect();
                    r.in_root = format!(
                        "yes, with help: {} the F flag, so the kernel looks up {} inside the root \
                         (whichever matching entry it tries first); brt bind-mounts the host's (static) \
                         interpreters there for the life of each sandbox",
                        if others.is_empty() {
                            "the entry lacks"
                        } else {
                            "a matching entry lacks"
                        },
                        paths.join(", ")
                    );
                }
                Err(e) => {
                    r.in_root = format!("no: {e}");
                    r.fix = e.hint();
                }
            }
        }
        Support::Unavailable { reason } => {
            r.status = "unavailable";
            let (why, fix) = match reason {
                Unavailable::NotMounted => (
                    "binfmt_misc is not mounted".to_string(),
                    format!("brt binfmt ensure {}", arch.rpm),
                ),
                Unavailable::GloballyDisabled => (
                    "binfmt_misc is disabled host-wide".to_string(),
                    "echo 1 > /proc/sys/fs/binfmt_misc/status".to_string(),
                ),
                Unavailable::Disabled(names) => (
                    format!("matching entries are disabled: {}", names.join(", ")),
                    format!(
                        "enable one (`echo 1 > /proc/sys/fs/binfmt_misc/{}`) or run `brt binfmt ensure {}`",
                        names[0], arch.rpm
                    ),
                ),
                Unavailable::NoEntry => (
                    format!("no binfmt_misc entry matches {} binaries", arch.rpm),
                    format!("brt binfmt ensure {}", arch.rpm),
                ),
            };
            r.in_root = format!("no: {why}");
            r.fix = Some(fix);
        }
    }
    r
}

/// Which of several matching entries the kernel uses, told by a test
/// binary in an empty root: one with `F` runs without help; one without
/// runs only when its interpreter is bound.
fn kernel_uses(
    arch: &'static Arch,
    entry: &brt::binfmt::Entry,
    others: &[(brt::binfmt::Entry, Option<bool>)],
) -> String {
    if brt::sandbox::runs_in_a_root(arch, &[]).unwrap_or(false) {
        return "an entry with the F flag: the test binary runs in a root as it is".into();
    }
    let candidates = std::iter::once(entry).chain(others.iter().map(|(e, _)| e));
    for e in candidates.filter(|e| !e.has_flag('F')) {
        if brt::sandbox::runs_in_a_root(arch, std::slice::from_ref(&e.interpreter)).unwrap_or(false)
        {
            return format!(
                "`{}` (no F flag): the test binary runs in a root once `{}` is bound there, which brt does",
                e.name,
                e.interpreter.display()
            );
        }
    }
    "none that works in a root: the test binary did not run with any interpreter bound".into()
}

fn status(settings: &Settings, host: &Host, arch: Option<String>, json: bool) -> Result<i32> {
    let arches: Vec<&'static Arch> = match (arch, &settings.root) {
        (Some(a), _) => vec![parse_arch(&a)?],
        (None, Some(_)) => vec![settings.config()?.arch],
        (None, None) => ARCHES.iter().collect(),
    };
    let mut rows = Vec::new();
    for a in arches {
        rows.push(row(a, &host.support(a)?));
    }
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    writeln!(out, "host: {}", host.arch)?;
    for r in &rows {
        write!(out, "{:<8} {:<11}", r.arch, r.status)?;
        if let (Some(entry), Some(interp), Some(flags)) = (&r.entry, &r.interpreter, &r.flags) {
            let linkage = match r.interpreter_static {
                Some(true) => "static",
                Some(false) => "dynamic",
                None => "missing",
            };
            let flags = if flags.is_empty() { "none" } else { flags };
            write!(
                out,
                " entry `{entry}` → `{interp}` ({linkage}), flags {flags}"
            )?;
        }
        writeln!(out)?;
        for other in &r.also_matching {
            writeln!(out, "{:<20} also matching: {other}", "")?;
        }
        if let Some(used) = &r.kernel_uses {
            writeln!(out, "{:<20} the kernel uses: {used}", "")?;
        }
        writeln!(out, "{:<20} in a root: {}", "", r.in_root)?;
        if let Some(fix) = &r.fix {
            writeln!(out, "{:<20} fix: {fix}", "")?;
        }
    }
    Ok(exit::OK)
}
