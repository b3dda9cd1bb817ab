//! Perform a plan's steps through [`Sys`].

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::MsFlags;

use super::plan::{Source, Step};
use super::sys::Sys;

/// A step that failed, with what it was doing.
#[derive(Debug)]
pub struct StepError {
    pub step: String,
    pub errno: nix::Error,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.errno)
    }
}

/// Run `steps`. `pty_slave` is the path of the terminal to bind for
/// [`Source::PtySlave`] (by name: an fd opened before the namespace was
/// created refers to the host's mount, which cannot be cloned from here).
pub fn execute(
    sys: &mut dyn Sys,
    steps: &[Step],
    pty_slave: Option<&Path>,
) -> Result<(), StepError> {
    // Bind sources live on the host: clone them into detached mount trees
    // before the pivot makes the host unreachable, attach them after it.
    // One tree per bind step: attaching moves a tree, so two binds of the
    // same source need two clones.
    let mut trees: HashMap<usize, (OwnedFd, bool)> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if let Step::Detached {
            fstype, readonly, ..
        } = step
        {
            use super::sys::{
                MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
            };
            let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
            if *readonly {
                attrs |= MOUNT_ATTR_RDONLY;
            }
            let tree = sys.new_tree(fstype, attrs).map_err(|errno| StepError {
                step: format!("make a {fstype} mount"),
                errno,
            })?;
            trees.insert(i, (tree, true));
            continue;
        }
        let Step::Bind { source, .. } = step else {
            continue;
        };
        let (what, tree) = match source {
            Source::Host(p) => (format!("`{}`", p.display()), p.as_path()),
            Source::PtySlave => (
                "the terminal".to_string(),
                pty_slave.ok_or(StepError {
                    step: "bind the terminal".into(),
                    errno: nix::Error::EBADF,
                })?,
            ),
        };
        let tree = sys.clone_tree(tree).map_err(|errno| StepError {
            step: format!("open bind source {what}"),
            errno,
        })?;
        trees.insert(i, tree);
    }
    for (i, step) in steps.iter().enumerate() {
        run_step(sys, step, trees.get(&i)).map_err(|errno| StepError {
            step: describe(step),
            errno,
        })?;
    }
    Ok(())
}

fn describe(step: &Step) -> String {
    match step {
        Step::MakeRootPrivate => "make `/` private".into(),
        Step::BindRootOntoItself(p) => format!("bind `{}` onto itself", p.display()),
        Step::PivotRoot(p) => format!("pivot_root into `{}`", p.display()),
        Step::Proc => "mount proc on `/proc`".into(),
        Step::SysReadOnly => "mount sysfs on `/sys`".into(),
        Step::Detached { fstype, target, .. } => format!("attach {fstype} on `{target}`"),
        Step::Tmpfs { path, .. } => format!("mount tmpfs on `{}`", path.display()),
        Step::Mknod { path, .. } => format!("create device `{}`", path.display()),
        Step::Symlink { link, .. } => format!("create symlink `{}`", link.display()),
        Step::Devpts => "mount devpts on `/dev/pts`".into(),
        Step::Bind { source, target, .. } => match source {
            Source::Host(p) => format!("bind `{}` on `{}`", p.display(), target.display()),
            Source::PtySlave => format!("bind the terminal on `{}`", target.display()),
        },
        Step::LoopbackUp => "bring up `lo`".into(),
    }
}

fn run_step(sys: &mut dyn Sys, step: &Step, tree: Option<&(OwnedFd, bool)>) -> nix::Result<()> {
    let none = None::<&Path>;
    match step {
        Step::MakeRootPrivate => sys.mount(
            none,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        ),
        Step::BindRootOntoItself(root) => sys.mount(
            Some(root),
            root,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ),
        Step::PivotRoot(root) => sys.pivot_root(root),
        Step::Proc => {
            sys.mkdir_all(Path::new("/proc"))?;
            sys.mount(
                Some(Path::new("proc")),
                Path::new("/proc"),
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None,
            )
        }
        Step::SysReadOnly => {
            sys.mkdir_all(Path::new("/sys"))?;
            sys.mount(
                Some(Path::new("sysfs")),
                Path::new("/sys"),
                Some("sysfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None,
            )
        }
        Step::Tmpfs { path, mode, nodev } => {
            sys.mkdir_all(path)?;
            let mut flags = MsFlags::MS_NOSUID;
            if *nodev {
                flags |= MsFlags::MS_NODEV;
            }
            sys.mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                flags,
                Some(&format!("mode={mode:o}")),
            )
        }
        Step::Mknod { path, dev } => sys.mknod_char(path, dev.major, dev.minor, 0o666),
        Step::Symlink { target, link } => sys.symlink(target, link),
        Step::Devpts => {
            sys.mkdir_all(Path::new("/dev/pts"))?;
            sys.mount(
                Some(Path::new("devpts")),
                Path::new("/dev/pts"),
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=620,gid=5"),
            )
        }
        Step::Bind {
            target, readonly, ..
        } => {
            let (tree, is_dir) = tree.ok_or(nix::Error::EBADF)?;
            if *is_dir {
                sys.mkdir_all(target)?;
            } else {
                sys.touch(target)?;
            }
            sys.attach_tree(tree, target)?;
            if *readonly {
                // MS_RDONLY is ignored on the first bind: remount to apply it.
                sys.mount(
                    none,
                    target,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None,
                )?;
            }
            Ok(())
        }
        Step::Detached { target, .. } => {
            let (tree, _) = tree.ok_or(nix::Error::EBADF)?;
            let target = Path::new(target);
            sys.mkdir_all(target)?;
            sys.attach_tree(tree, target)
        }
        Step::LoopbackUp => sys.loopback_up(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Bind, Spec, plan::plan};
    use super::*;

    /// Records calls instead of making them.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl Sys for Recorder {
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            _data: Option<&str>,
        ) -> nix::Result<()> {
            let src = source.map(|s| s.display().to_string()).unwrap_or_default();
            let ro = if flags.contains(MsFlags::MS_RDONLY) {
                " ro"
            } else {
                ""
            };
            self.calls.push(format!(
                "mount {src} {} {}{ro}",
                target.display(),
                fstype.unwrap_or("bind")
            ));
            Ok(())
        }
        fn pivot_root(&mut self, root: &Path) -> nix::Result<()> {
            self.calls.push(format!("pivot {}", root.display()));
            Ok(())
        }
        fn mknod_char(&mut self, path: &Path, _: u64, _: u64, _: u32) -> nix::Result<()> {
            self.calls.push(format!("mknod {}", path.display()));
            Ok(())
        }
        fn symlink(&mut self, _: &Path, link: &Path) -> nix::Result<()> {
            self.calls.push(format!("symlink {}", link.display()));
            Ok(())
        }
        fn mkdir_all(&mut self, _: &Path) -> nix::Result<()> {
            Ok(())
        }
        fn touch(&mut self, path: &Path) -> nix::Result<()> {
            self.calls.push(format!("touch {}", path.display()));
            Ok(())
        }
        fn clone_tree(&mut self, path: &Path) -> nix::Result<(OwnedFd, bool)> {
            self.calls.push(format!("clone {}", path.display()));
            let f = fs_err::File::open("/dev/null").unwrap().into_parts().0;
            Ok((f.into(), path.ends_with("dir")))
        }
        fn attach_tree(&mut self, _: &OwnedFd, target: &Path) -> nix::Result<()> {
            self.calls.push(format!("attach {}", target.display()));
            Ok(())
        }
        fn new_tree(&mut self, fstype: &str, _: u64) -> nix::Result<OwnedFd> {
            self.calls.push(format!("new {fstype}"));
            Ok(fs_err::File::open("/dev/null")
                .unwrap()
                .into_parts()
                .0
                .into())
        }
        fn loopback_up(&mut self) -> nix::Result<()> {
            self.calls.push("lo up".into());
            Ok(())
        }
    }

    #[test]
    fn host_sources_are_opened_before_the_pivot_and_mounted_after_it() {
        let mut spec = Spec::new("/r".into(), vec!["/bin/true".into()]);
        spec.binds.push(Bind {
            source: "/host/dir".into(),
            target: "/in/dir".into(),
            readonly: true,
        });
        let mut rec = Recorder::default();
        execute(&mut rec, &plan(&spec), None).unwrap();
        let calls = rec.calls;
        let at = |prefix: &str| {
            calls
                .iter()
                .position(|c| c.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix} in {calls:?}"))
        };
        assert!(at("clone /host/dir") < at("mount  / bind"));
        assert!(at("mount  / bind") < at("mount /r /r"));
        assert!(at("mount /r /r") < at("pivot /r"));
        assert!(at("pivot /r") < at("mount proc /proc proc"));
        assert!(
            calls.contains(&"mount sysfs /sys sysfs ro".to_string()),
            "{calls:?}"
        );
        let bind = at("attach /in/dir");
        assert!(bind > at("pivot /r"));
        assert_eq!(calls[bind + 1], "mount  /in/dir bind ro");
        assert!(
            !calls.iter().any(|c| c == "touch /in/dir"),
            "a dir source gets a dir mount point"
        );
        assert!(calls.contains(&"lo up".to_string()));
    }
}
