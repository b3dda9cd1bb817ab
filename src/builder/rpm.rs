//! Building a source RPM in its build root: `BuildRequires` from the header
//! installed natively (brt's resolver and downloader, the root's `rpm -U`),
//! the package unpacked and built by the root's own `rpm` and `rpmbuild`
//! as the build user, dynamic build dependencies (`%generate_buildrequires`)
//! installed round after round as mock does.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};

use super::srpm::{SourceRpm, build_requires, local_package};
use super::{BUILDDIR, Build, BuildError, INPUT_IN_ROOT};
use crate::repo::rpmmd::RpmDep;
use crate::root::confined;
use crate::root::family::install;
use crate::root::rpm::Rpm;
use crate::root::rpm::install as rpminstall;
use crate::sandbox::sh;

/// `rpmbuild -br`'s status when dynamic build dependencies are missing.
const MISSING_DYNAMIC: i32 = 11;
/// Rounds of `rpmbuild -br` before brt gives up.
const MAX_ROUNDS: usize = 10;
const SRPMS: &str = "/builddir/build/SRPMS";

/// Runs `rpmbuild "$@"` and copies the packages it made to the result
/// dir, with rpmbuild's status.
const BUILD: &str = r#"echo "brt: rpmbuild $*"
rpmbuild "$@"
rc=$?
for f in /builddir/build/RPMS/*/*.rpm /builddir/build/RPMS/*.rpm /builddir/build/SRPMS/*.src.rpm; do
    if [ -f "$f" ]; then cp "$f" /builddir/result/; fi
done
exit $rc
"#;

pub(crate) fn build(b: &mut Build) -> Result<(), BuildError> {
    let srpm = SourceRpm::read(b.input())?;
    let arch = b
        .opts
        .rpm
        .target
        .clone()
        .unwrap_or(b.config.arch.rpm.into());
    if let Some(why) = srpm.excludes(&arch) {
        return Err(BuildError::Excluded {
            package: srpm.nvr,
            arch,
            why,
        });
    }
    b.lap("read");
    let say = b.opts.install.say;
    say(&format!(
        "{}: {} build dependencies, build root {}",
        srpm.nvr,
        srpm.build_requires.len(),
        b.root.id
    ));
    b.prepare_user(vec![(format!("{BUILDDIR}/.rpmmacros"), macros(b))])?;
    let mut installed = install(b, &srpm, srpm.build_requires.clone())?;
    b.lap("install");
    let log = b.build_log.clone();
    b.accel = b.helpers(&log);

    let file = b.input().file_name().unwrap_or_default().to_string_lossy();
    let unpack = b.user_spec(
        vec!["rpm".into(), "-i".into(), format!("{INPUT_IN_ROOT}/{file}")],
        BUILDDIR,
    );
    let code = b.run_logged(unpack)?;
    if code != 0 {
        return Err(b.failed(&srpm.nvr, code));
    }
    let spec = format!("{BUILDDIR}/build/SPECS/{}", srpm.spec);
    b.lap("unpack");

    if srpm.dynamic {
        if let Some(after) = dynamic(b, &srpm, &spec)? {
            installed = after;
        }
        b.lap("dynamic-buildrequires");
    }
    b.write_installed(&installed)?;

    say(&format!(
        "{}: rpmbuild (log: `{}`)",
        srpm.nvr,
        b.build_log.display()
    ));
    let argv = sh(BUILD, rpmbuild_args(b, "-ba", &spec));
    b.run_build(&srpm.nvr, b.user_spec(argv, &format!("{BUILDDIR}/build")))
}

/// `rpmbuild -bs` of a spec and its sources dir (the inputs, in that
/// order), as mock's `buildsrpm`: without installing build dependencies.
pub(crate) fn build_srpm(b: &mut Build) -> Result<(), BuildError> {
    let name = |i: usize| {
        b.inputs[i]
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let (spec, sources) = (name(0), name(1));
    b.lap("read");
    b.prepare_user(vec![(format!("{BUILDDIR}/.rpmmacros"), macros(b))])?;
    (b.opts.install.say)(&format!(
        "{spec}: rpmbuild -bs (log: `{}`)",
        b.build_log.display()
    ));
    let mut args = vec![
        "--nodeps".to_string(),
        "--define".into(),
        format!("_sourcedir {INPUT_IN_ROOT}/{sources}"),
    ];
    args.extend(rpmbuild_args(b, "-bs", &format!("{INPUT_IN_ROOT}/{spec}")));
    let argv = sh(BUILD, args);
    b.run_build(&spec, b.user_spec(argv, &format!("{BUILDDIR}/build")))
}

/// The build's rpm macros, in `/builddir/.rpmmacros`: the tree, then the
/// config's `[macros]`; under emulation, more time for tests that measure it.
fn macros(b: &Build) -> String {
    let mut text = format!("%_topdir {BUILDDIR}/build\n");
    if b.opts.emulated {
        text.push_str("%_platform_multiplier 10\n");
    }
    for (k, v) in &b.config.macros {
        let name = k.trim_start_matches('%');
        text.push_str(&format!("%{name} {v}\n"));
    }
    text
}

/// `rpmbuild MODE` with the command line's options, on `spec`.
fn rpmbuild_args(b: &Build, mode: &str, spec: &str) -> Vec<String> {
    let flags = &b.opts.rpm;
    let mut argv = vec![mode.to_string()];
    for d in &flags.defines {
        argv.extend(["--define".into(), d.clone()]);
    }
    for w in &flags.with {
        argv.extend(["--with".into(), w.clone()]);
    }
    for w in &flags.without {
        argv.extend(["--without".into(), w.clone()]);
    }
    if b.opts.nocheck {
        argv.push("--nocheck".into());
    }
    if let Some(t) = &flags.target {
        argv.extend(["--target".into(), t.clone()]);
    }
    argv.push(spec.to_string());
    argv
}

/// Installs `requires` into the build root; what is installed afterwards.
fn install(b: &Build, srpm: &SourceRpm, requires: Vec<RpmDep>) -> Result<Vec<String>, BuildError> {
    let local = b
        .opts
        .chain
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".src.rpm"))
        .map(|p| local_package(p))
        .collect::<Result<Vec<_>, _>>()?;
    let extra = rpminstall::Extra { requires, local };
    let changes = install::install(&Rpm, &b.target, b.config, Some(&[]), extra, &b.opts.install)
        .map_err(|source| BuildError::Dependencies {
            package: srpm.nvr.clone(),
            source: Box::new(source),
        })?;
    Ok(changes.installed)
}

/// `rpmbuild -br` until it finds nothing missing: each round, what the
/// `.buildreqs.nosrc.rpm` it wrote requires is installed. What is
/// installed afterwards, if anything was.
fn dynamic(b: &mut Build, srpm: &SourceRpm, spec: &str) -> Result<Option<Vec<String>>, BuildError> {
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let mut installed = None;
    for round in 1..=MAX_ROUNDS {
        let script = format!(
            "rm -f {SRPMS}/*.buildreqs.nosrc.rpm; echo \"brt: rpmbuild $*\"; exec rpmbuild \"$@\""
        );
        let argv = sh(&script, rpmbuild_args(b, "-br", spec));
        let code = b.run_logged(b.user_spec(argv, &format!("{BUILDDIR}/build")))?;
        match code {
            0 => return Ok(installed),
            MISSING_DYNAMIC => {}
            code => return Err(b.failed(&srpm.nvr, code)),
        }
        let requires = generated(b)?;
        let now: BTreeSet<String> = requires.iter().map(|d| format!("{d:?}")).collect();
        if now.is_subset(&asked) {
            return Err(BuildError::DynamicLoop {
                package: srpm.nvr.clone(),
                rounds: round,
            });
        }
        asked.extend(now);
        (b.opts.install.say)(&format!(
            "{}: {} generated build dependencies",
            srpm.nvr,
            requires.len()
        ));
        installed = Some(install(b, srpm, requires)?);
    }
    Err(BuildError::DynamicLoop {
        package: srpm.nvr.clone(),
        rounds: MAX_ROUNDS,
    })
}

/// The requirements of the `.buildreqs.nosrc.rpm` that `rpmbuild -br`
/// left, read from a process confined to the build root.
fn generated(b: &Build) -> Result<Vec<RpmDep>, BuildError> {
    let confined_err = |source| BuildError::Confined {
        what: "read the generated build dependencies",
        source,
    };
    let (child, pipe) = confined::spawn_writer(&b.merged(), |mut out| {
        let found = fs_err::read_dir(SRPMS)?
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(".buildreqs.nosrc.rpm")
            })
            .ok_or("rpmbuild -br left no .buildreqs.nosrc.rpm")?;
        let mut f = fs_err::File::open(found.path())?;
        std::io::copy(&mut f, &mut out)?;
        Ok(())
    })
    .map_err(confined_err)?;
    let mut bytes = Vec::new();
    let read = BufReader::new(pipe).read_to_end(&mut bytes);
    child.wait().map_err(confined_err)?;
    let path = std::path::PathBuf::from(format!("{SRPMS}/*.buildreqs.nosrc.rpm"));
    read.map_err(|source| BuildError::Read {
        path: path.clone(),
        source,
    })?;
    let metadata = rpm::PackageMetadata::parse(&mut bytes.as_slice())
        .and_then(|m| m.get_requires())
        .map_err(|e| BuildError::BadInput {
            path,
            source: Box::new(e),
        })?;
    Ok(build_requires(&metadata))
}
