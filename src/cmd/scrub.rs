//! `brt scrub PART...`: empty brt's caches, waiting for the commands that
//! use them.

use anyhow::Result;

use super::{Settings, exit};
use crate::cli::{ScrubArgs, ScrubPart};
use brt::root::human_size;
use brt::root::scrub::{self, CacheLock, Part};

pub fn run(settings: &Settings, args: ScrubArgs) -> Result<i32> {
    let mut parts: Vec<Part> = Vec::new();
    for p in args.parts {
        let chosen: &[Part] = match p {
            ScrubPart::All => &Part::ALL,
            ScrubPart::Packages => &[Part::Packages],
            ScrubPart::Metadata => &[Part::Metadata],
            ScrubPart::RootsCache => &[Part::RootsCache],
            ScrubPart::Helpers => &[Part::Helpers],
            ScrubPart::Builds => &[Part::Builds],
        };
        for c in chosen {
            if !parts.contains(c) {
                parts.push(*c);
            }
        }
    }
    let _lock = CacheLock::exclusive(&settings.cachedir, || {
        settings.info(format!(
            "waiting: commands are using the cache `{}`",
            settings.cachedir.display()
        ))
    })?;
    let mut total = 0;
    for part in parts {
        let freed = scrub::scrub(part, &settings.cachedir, &settings.basedir)?;
        total += freed.bytes;
        settings.info(format!(
            "{}: freed {} ({} removed){}",
            part.name(),
            human_size(freed.bytes),
            freed.entries,
            if freed.busy.is_empty() {
                String::new()
            } else {
                format!("; in use, kept: {}", freed.busy.join(", "))
            }
        ));
    }
    settings.info(format!("freed {} in all", human_size(total)));
    Ok(exit::OK)
}
