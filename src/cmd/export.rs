//! `brt -r NAME export FILE.tar.zst`: the root as a zstd tarball that
//! `import` takes back.

use anyhow::Result;

use super::{Settings, exit, lock_waiting};
use crate::cli::ExportArgs;
use brt::root::lock::RootLock;
use brt::root::{Layout, confined, human_size, import};

pub fn run(settings: &Settings, args: ExportArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    layout.require_ready()?;
    let _lock = RootLock::shared(&layout, lock_waiting(settings, &config.name))?;
    // It may have changed while we waited for the lock.
    layout.require_ready()?;
    let name = args.file.to_string_lossy();
    if !(name.ends_with(".tar.zst") || name.ends_with(".tzst")) {
        settings.info(format!(
            "note: `{}` is written as a zstd-compressed tar, whatever its name",
            args.file.display()
        ));
    }
    // Ctrl-C removes the partial output instead of leaving it.
    confined::catch_interrupts()?;
    let size = match import::export(&layout, &args.file, args.level) {
        Ok(size) => size,
        Err(_) if confined::interrupted() => {
            eprintln!(
                "error: interrupted: `{}` was not written",
                args.file.display()
            );
            return Ok(exit::INTERRUPTED);
        }
        Err(e) => return Err(e.into()),
    };
    settings.info(format!(
        "exported root `{}` to `{}` ({})",
        config.name,
        args.file.display(),
        human_size(size)
    ));
    Ok(exit::OK)
}
