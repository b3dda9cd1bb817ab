//! `brt -r NAME copyin SRC... DEST` and `copyout SRC... DEST`.

use std::path::PathBuf;

use anyhow::Result;

use super::{Settings, exit, lock_waiting};
use crate::cli::CopyArgs;
use brt::root::archive::Ownership;
use brt::root::lock::RootLock;
use brt::root::{Layout, copy};

pub fn copy_in(settings: &Settings, args: CopyArgs) -> Result<i32> {
    let (layout, srcs, dest, ownership) = prepare(settings, args)?;
    let _lock = RootLock::exclusive(&layout, lock_waiting(settings, &layout.name))?;
    layout.require_ready()?;
    copy::copy_in(&layout, &srcs, &dest, ownership)?;
    Ok(exit::OK)
}

pub fn copy_out(settings: &Settings, args: CopyArgs) -> Result<i32> {
    let (layout, srcs, dest, ownership) = prepare(settings, args)?;
    let _lock = RootLock::shared(&layout, lock_waiting(settings, &layout.name))?;
    layout.require_ready()?;
    copy::copy_out(&layout, &srcs, &dest, ownership)?;
    Ok(exit::OK)
}

/// The root (checked ready before taking its lock, which would create its
/// directory), the sources, the destination and whose the copies are.
fn prepare(
    settings: &Settings,
    args: CopyArgs,
) -> Result<(Layout, Vec<PathBuf>, PathBuf, Ownership)> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    layout.require_ready()?;
    let ownership = if args.preserve_owner {
        Ownership::Preserve
    } else {
        Ownership::Unpacker
    };
    Ok((layout, args.srcs, args.dest, ownership))
}
