//! The sandbox as data: a pure list of setup steps built from a [`Spec`],
//! reviewed and unit-tested without root, then performed by `exec.rs`
//! (bubblewrap's model).
//!
//! Order matters and is the point of this file:
//! 1. `/` becomes recursively private *before any mount*, so nothing we mount
//!    propagates back to the host (systemd makes `/` shared by default).
//! 2. The root is bound onto itself (pivot_root needs a mount point), then
//!    we pivot into it at once. Every later target path is therefore
//!    resolved *inside* the root: a symlink in the root (even `/dev -> /etc`)
//!    can only lead to another place inside it. Host-side sources are opened
//!    before the pivot and mounted from `/proc/self/fd/N`.
//! 3. proc, sys, a minimal /dev and the binds are mounted in the new root.

use std::path::{Path, PathBuf};

use super::Spec;

/// A device node created in the sandbox's private `/dev` tmpfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dev {
    pub name: &'static str,
    pub major: u64,
    pub minor: u64,
}

/// The nodes of a minimal `/dev` (as bubblewrap and systemd-nspawn create).
pub const DEVICES: &[Dev] = &[
    Dev {
        name: "null",
        major: 1,
        minor: 3,
    },
    Dev {
        name: "zero",
        major: 1,
        minor: 5,
    },
    Dev {
        name: "full",
        major: 1,
        minor: 7,
    },
    Dev {
        name: "random",
        major: 1,
        minor: 8,
    },
    Dev {
        name: "urandom",
        major: 1,
        minor: 9,
    },
    Dev {
        name: "tty",
        major: 5,
        minor: 0,
    },
];

/// Where a bind's source comes from: opened on the host before the pivot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A host path, opened `O_PATH` before pivot_root.
    Host(PathBuf),
    /// The pty's slave side, passed as an fd.
    PtySlave,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `mount --make-rprivate /`
    MakeRootPrivate,
    /// `mount --rbind ROOT ROOT`
    BindRootOntoItself(PathBuf),
    /// chdir(ROOT); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/")
    PivotRoot(PathBuf),
    Proc,
    /// sysfs, read-only (a fresh one when the network namespace is new).
    SysReadOnly,
    /// Rootless: a proc (`sys`: a read-only sysfs) made as a detached mount
    /// before the pivot, attached after it (a user namespace may mount
    /// them only while the host's are visible).
    Detached {
        fstype: &'static str,
        target: &'static str,
        readonly: bool,
    },
    /// tmpfs at `path` with `mode`, `nosuid`, plus `nodev` when `nodev`.
    Tmpfs {
        path: PathBuf,
        mode: u32,
        nodev: bool,
    },
    Mknod {
        path: PathBuf,
        dev: Dev,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    /// A private devpts instance: ptys opened inside are the sandbox's own.
    Devpts,
    /// Bind `source` onto `target` (created, file or directory, when missing).
    Bind {
        source: Source,
        target: PathBuf,
        readonly: bool,
    },
    /// Bring the loopback interface up (new, empty network namespace).
    LoopbackUp,
}

/// Build the step list for `spec`. Pure: no syscalls, no I/O.
pub fn plan(spec: &Spec) -> Vec<Step> {
    let mut steps = vec![
        Step::MakeRootPrivate,
        Step::BindRootOntoItself(spec.root.clone()),
        Step::PivotRoot(spec.root.clone()),
    ];
    if !spec.rootless {
        steps.extend([Step::Proc, Step::SysReadOnly]);
    } else {
        steps.push(Step::Detached {
            fstype: "proc",
            target: "/proc",
            readonly: false,
        });
        if spec.network {
            // The host's network namespace: its sysfs, read-only.
            steps.push(Step::Bind {
                source: Source::Host("/sys".into()),
                target: "/sys".into(),
                readonly: true,
            });
        } else {
            steps.push(Step::Detached {
                fstype: "sysfs",
                target: "/sys",
                readonly: true,
            });
        }
    }
    steps.push(Step::Tmpfs {
        path: "/dev".into(),
        mode: 0o755,
        nodev: false,
    });
    for dev in DEVICES {
        let path = Path::new("/dev").join(dev.name);
        steps.push(if spec.rootless {
            Step::Bind {
                source: Source::Host(path.clone()),
                target: path,
                readonly: false,
            }
        } else {
            Step::Mknod { path, dev: *dev }
        });
    }
    for (target, link) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("/proc/kcore", "/dev/core"),
        ("pts/ptmx", "/dev/ptmx"),
    ] {
        steps.push(Step::Symlink {
            target: target.into(),
            link: link.into(),
        });
    }
    steps.push(Step::Devpts);
    steps.push(Step::Tmpfs {
        path: "/dev/shm".into(),
        mode: 0o1777,
        nodev: true,
    });
    if spec.pty {
        // Like a container's console: tools that open /dev/console reach the user.
        steps.push(Step::Bind {
            source: Source::PtySlave,
            target: "/dev/console".into(),
            readonly: false,
        });
    }
    for interp in &spec.interpreters {
        // The binfmt entry lacks `F`: the kernel resolves the interpreter
        // path inside the root at every exec, so it must exist there.
        steps.push(Step::Bind {
            source: Source::Host(interp.clone()),
            target: interp.clone(),
            readonly: true,
        });
    }
    if spec.network {
        steps.push(Step::Bind {
            source: Source::Host("/etc/resolv.conf".into()),
            target: "/etc/resolv.conf".into(),
            readonly: true,
        });
    } else {
        steps.push(Step::LoopbackUp);
    }
    for b in &spec.binds {
        steps.push(Step::Bind {
            source: Source::Host(b.source.clone()),
            target: b.target.clone(),
            readonly: b.readonly,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::super::{Bind, Spec};
    use super::*;

    fn spec() -> Spec {
        Spec::new("/var/lib/brt/x/root".into(), vec!["/bin/true".into()])
    }

    fn position(steps: &[Step], pred: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(pred).expect("step present")
    }

    #[test]
    fn root_is_private_before_any_mount_and_pivot_comes_before_targets() {
        let steps = plan(&spec());
        assert_eq!(steps[0], Step::MakeRootPrivate);
        assert!(matches!(steps[1], Step::BindRootOntoItself(_)));
        assert!(matches!(steps[2], Step::PivotRoot(_)));
        // Nothing but the root itself is named by a host path.
        for s in &steps[3..] {
            match s {
                Step::Tmpfs { path, .. } | Step::Mknod { path, .. } => {
                    assert!(path.starts_with("/dev"))
                }
                Step::Bind { target, .. } => assert!(target.is_absolute()),
                _ => {}
            }
        }
    }

    #[test]
    fn dev_is_minimal_and_ptmx_points_into_the_private_devpts() {
        let steps = plan(&spec());
        let nodes: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Mknod { dev, .. } => Some(dev.name),
                _ => None,
            })
            .collect();
        assert_eq!(nodes, ["null", "zero", "full", "random", "urandom", "tty"]);
        let devtmpfs = position(
            &steps,
            |s| matches!(s, Step::Tmpfs { path, .. } if path == Path::new("/dev")),
        );
        let devpts = position(&steps, |s| *s == Step::Devpts);
        let shm = position(
            &steps,
            |s| matches!(s, Step::Tmpfs { path, .. } if path == Path::new("/dev/shm")),
        );
        assert!(devtmpfs < devpts && devpts < shm);
        assert!(steps.contains(&Step::Symlink {
            target: "pts/ptmx".into(),
            link: "/dev/ptmx".into()
        }));
    }

    #[test]
    fn network_off_brings_lo_up_and_hides_resolv_conf() {
        let steps = plan(&spec());
        assert!(steps.contains(&Step::LoopbackUp));
        assert!(!steps.iter().any(
            |s| matches!(s, Step::Bind { target, .. } if target == Path::new("/etc/resolv.conf"))
        ));

        let mut s = spec();
        s.network = true;
        let steps = plan(&s);
        assert!(!steps.contains(&Step::LoopbackUp));
        assert!(steps.contains(&Step::Bind {
            source: Source::Host("/etc/resolv.conf".into()),
            target: "/etc/resolv.conf".into(),
            readonly: true
        }));
    }

    #[test]
    fn a_non_f_interpreter_is_bound_read_only_at_its_own_path() {
        let mut s = spec();
        s.interpreters = vec!["/usr/bin/qemu-aarch64-static".into()];
        let steps = plan(&s);
        assert!(steps.contains(&Step::Bind {
            source: Source::Host("/usr/bin/qemu-aarch64-static".into()),
            target: "/usr/bin/qemu-aarch64-static".into(),
            readonly: true
        }));
        assert!(!plan(&spec()).iter().any(
            |s| matches!(s, Step::Bind { target, .. } if target.ends_with("qemu-aarch64-static"))
        ));
    }

    #[test]
    fn user_binds_come_last_and_keep_their_mode() {
        let mut s = spec();
        s.binds.push(Bind {
            source: "/srv/results".into(),
            target: "/results".into(),
            readonly: false,
        });
        s.binds.push(Bind {
            source: "/srv/src".into(),
            target: "/src".into(),
            readonly: true,
        });
        let steps = plan(&s);
        let n = steps.len();
        assert_eq!(
            steps[n - 1],
            Step::Bind {
                source: Source::Host("/srv/src".into()),
                target: "/src".into(),
                readonly: true
            }
        );
        assert!(matches!(
            &steps[n - 2],
            Step::Bind {
                readonly: false,
                ..
            }
        ));
    }
}
