//! `brt -r NAME import PATH [--replace]`: a ready root from a rootfs tarball
//! or directory.

use anyhow::Result;

use super::{Settings, exit, lock_waiting};
use crate::cli::ImportArgs;
use brt::root::Layout;
use brt::root::confined;
use brt::root::import;
use brt::root::lock::RootLock;

pub fn run(settings: &Settings, args: ImportArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    // Ctrl-C must not leave a half-made root behind: catch it, clean up, fail.
    confined::catch_interrupts()?;
    let lock = match RootLock::exclusive(&layout, lock_waiting(settings, &config.name)) {
        Ok(lock) => lock,
        // Ctrl-C while waiting for another command's lock.
        Err(_) if confined::interrupted() => return Ok(exit::INTERRUPTED),
        Err(e) => return Err(e.into()),
    };
    settings.info(format!(
        "importing `{}` as root `{}`",
        args.path.display(),
        config.name
    ));
    match import::import(&layout, &args.path, config.arch, args.replace) {
        Ok(from) => {
            settings.info(format!(
                "root `{}` is ready at `{}` (imported from `{}`)",
                config.name,
                layout.root().display(),
                from.display()
            ));
            Ok(exit::OK)
        }
        Err(e) => {
            // A first import that failed leaves only the lock file, which
            // `brt list` reads as absent; the lock file itself must stay,
            // another command may be waiting on it.
            drop(lock);
            if confined::interrupted() {
                eprintln!("error: interrupted: root `{}` was not changed", config.name);
                return Ok(exit::INTERRUPTED);
            }
            Err(e.into())
        }
    }
}
