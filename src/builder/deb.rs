//! Building a Debian source package (`.dsc`) in its build root: the files
//! checked against the `.dsc`, `Build-Depends` (reduced for the root's
//! architecture) installed natively with the root's dpkg, then
//! `dpkg-source -x` and `dpkg-buildpackage -us -uc -b` as the build user.

use super::dsc::Dsc;
use super::{BUILDDIR, Build, BuildError, INPUT_IN_ROOT};
use crate::root::deb::Deb;
use crate::root::family::install::install;
use crate::sandbox::sh;

/// Unpacks the source, lists what is installed, runs
/// `dpkg-buildpackage "$@"` and copies what it made to the result dir, with
/// its status.
const BUILD: &str = r#"cd /builddir/build || exit 1
dsc=$1
shift
echo "brt: dpkg-source -x $dsc"
dpkg-source -x "$dsc" src || exit 1
cd src || exit 1
dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' | sort > /builddir/result/installed_pkgs.log
echo "brt: dpkg-buildpackage $*"
dpkg-buildpackage "$@"
rc=$?
for f in /builddir/build/*.deb /builddir/build/*.udeb /builddir/build/*.ddeb /builddir/build/*.buildinfo /builddir/build/*.changes; do
    if [ -f "$f" ]; then cp "$f" /builddir/result/; fi
done
exit $rc
"#;

/// What a build needs besides the package's own `Build-Depends`, as sbuild
/// adds it.
pub(crate) const IMPLICIT: &[&str] = &["build-essential", "fakeroot"];

/// `DEB_BUILD_OPTIONS`: as many jobs as CPUs (as mock's `%_smp_mflags`),
/// and `nocheck` when asked.
fn build_options(nocheck: bool) -> String {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut options = format!("parallel={jobs}");
    if nocheck {
        options.push_str(" nocheck");
    }
    options
}

pub(crate) fn build(b: &mut Build) -> Result<(), BuildError> {
    let dsc = Dsc::read(b.input())?;
    let arch = b.config.arch.deb;
    if !dsc.builds_for(arch) {
        return Err(BuildError::Excluded {
            package: dsc.name,
            arch: arch.to_string(),
            why: format!("its Architecture is {}", dsc.architectures.join(" ")),
        });
    }
    b.inputs.extend(dsc.files.iter().cloned());
    b.lap("read");
    let mut relations: Vec<String> = IMPLICIT.iter().map(|s| s.to_string()).collect();
    relations.extend(dsc.relations(arch));
    (b.opts.install.say)(&format!(
        "{}: {} build dependencies, build root {}",
        dsc.name,
        relations.len(),
        b.root.id
    ));
    b.prepare_user(Vec::new())?;
    // The build dependencies' maintainer scripts run with the helpers of
    // the root as it is; the build with those of the root with them.
    let log = b.target.log.clone();
    b.target.helpers = b.helpers(&log);
    let local = match &b.opts.local_repo {
        Some(dir) => {
            Some(
                crate::rebuild::repo::deb_local(dir).map_err(|source| BuildError::Read {
                    path: dir.join("Packages"),
                    source,
                })?,
            )
        }
        None => None,
    };
    install(
        &Deb,
        &b.target,
        b.config,
        Some(&relations),
        local,
        &b.opts.install,
    )
    .map_err(|source| BuildError::Dependencies {
        package: dsc.name.clone(),
        source: Box::new(source),
    })?;
    b.lap("install");
    let log = b.build_log.clone();
    b.accel = b.helpers(&log);
    b.lap("accel");

    (b.opts.install.say)(&format!(
        "{}: dpkg-buildpackage (log: `{}`)",
        dsc.name,
        b.build_log.display()
    ));
    let file = b.input().file_name().unwrap_or_default().to_string_lossy();
    let mut args = vec![
        format!("{INPUT_IN_ROOT}/{file}"),
        "-us".into(),
        "-uc".into(),
        "-b".into(),
    ];
    if b.opts.nocheck {
        args.push("--build-profiles=nocheck".into());
    }
    let mut spec = b.user_spec(sh(BUILD, args), BUILDDIR);
    spec.env
        .push(("DEB_BUILD_OPTIONS".into(), build_options(b.opts.nocheck)));
    b.run_build(&dsc.name, spec)?;
    Ok(())
}
