//! `brt -r NAME init`: bootstrap a root from its repositories; a no-op when
//! it is ready.

use anyhow::Result;

use super::Settings;
use super::packages::{Needs, change};
use crate::cli::InitArgs;
use brt::root::debstrap;
use brt::root::human_size;

pub fn run(settings: &Settings, args: InitArgs) -> Result<i32> {
    change(
        settings,
        "init",
        Needs::NotReady,
        usize::from(args.parallel),
        |layout, config, opts| {
            settings.info(format!(
                "bootstrapping root `{}` ({} {} {})",
                config.name, config.distro.name, config.distro.release, config.arch.deb
            ));
            let report = debstrap::init(layout, config, opts)?;
            let total: f64 = report.phases.iter().map(|p| p.seconds).sum();
            let phases = report
                .phases
                .iter()
                .map(|p| format!("{} {:.1}s", p.name, p.seconds))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(format!(
                "root `{}` is ready at `{}`: {} packages, {} downloaded, {total:.1}s ({phases})",
                config.name,
                layout.root().display(),
                report.packages,
                human_size(report.downloaded_bytes),
            ))
        },
    )
}
