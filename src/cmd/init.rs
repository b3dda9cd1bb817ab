//! `brt -r NAME init`: bootstrap a root from its repositories; a no-op when
//! it is ready.

use anyhow::{Result, bail};

use super::progress::Bar;
use super::shell::emulation;
use super::{Settings, exit, lock_waiting};
use crate::cli::InitArgs;
use brt::config::Family;
use brt::root::confined;
use brt::root::debstrap::{self, InitError, Options};
use brt::root::lock::RootLock;
use brt::root::{Layout, RootState, human_size};

pub fn run(settings: &Settings, args: InitArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    confined::catch_interrupts()?;
    let _lock = match RootLock::exclusive(&layout, lock_waiting(settings, &config.name)) {
        Ok(lock) => lock,
        Err(_) if confined::interrupted() => return Ok(exit::INTERRUPTED),
        Err(e) => return Err(e.into()),
    };
    if layout.state() == RootState::Ready {
        settings.info(format!(
            "root `{}` is ready at `{}`; nothing to do",
            config.name,
            layout.root().display()
        ));
        return Ok(exit::OK);
    }
    if config.distro.family != Family::Deb {
        bail!(
            "`init` of RPM-family roots (`{}`) is not implemented yet; import a rootfs with `brt -r {} import ROOTFS.tar`",
            config.name,
            config.name
        );
    }
    // Before any download: the last step must be able to run the root's code.
    let interpreter = emulation(&config)?;
    settings.info(format!(
        "bootstrapping root `{}` ({} {} {})",
        config.name, config.distro.name, config.distro.release, config.arch.deb
    ));
    let bar = Bar::new(settings.progress);
    let say = |msg: &str| settings.info(format!("  {msg}"));
    let opts = Options {
        cachedir: settings.cachedir.clone(),
        offline: settings.offline,
        parallel: usize::from(args.parallel),
        interpreter,
        reporter: &bar,
        say: &say,
    };
    match debstrap::init(&layout, &config, &opts) {
        Ok(report) => {
            let total: f64 = report.phases.iter().map(|p| p.seconds).sum();
            let phases = report
                .phases
                .iter()
                .map(|p| format!("{} {:.1}s", p.name, p.seconds))
                .collect::<Vec<_>>()
                .join(", ");
            settings.info(format!(
                "root `{}` is ready at `{}`: {} packages, {} downloaded, {total:.1}s ({phases})",
                config.name,
                layout.root().display(),
                report.packages,
                human_size(report.downloaded_bytes),
            ));
            Ok(exit::OK)
        }
        Err(InitError::Interrupted) => {
            eprintln!("error: interrupted: root `{}` is not ready", config.name);
            Ok(exit::INTERRUPTED)
        }
        Err(e) if confined::interrupted() => {
            eprintln!(
                "error: interrupted: root `{}` is not ready ({e})",
                config.name
            );
            Ok(exit::INTERRUPTED)
        }
        Err(e) => {
            if let InitError::Configure { tail, .. } = &e {
                eprintln!("--- last lines of the log ---\n{tail}\n---");
            }
            Err(e.into())
        }
    }
}
