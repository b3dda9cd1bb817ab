//! `brt -r NAME init`: bootstrap a root from its repositories; a no-op when
//! it is ready.

use anyhow::Result;

use super::packages::{Knobs, Needs, change};
use super::{Settings, exit};
use crate::cli::InitArgs;
use brt::root::family;
use brt::root::{Layout, RootState, human_size};

pub fn run(settings: &Settings, args: InitArgs) -> Result<i32> {
    change(
        settings,
        "init",
        Needs::NotReady,
        Knobs {
            parallel: usize::from(args.parallel),
            accel: args.accel,
            root_cache: !args.no_cache,
            allow_erasing: false,
            dry_run: args.dry.dry_run,
        },
        |layout, config, opts| {
            if args.dry.dry_run {
                let tx = family::of(config).plan_bootstrap(config, opts)?;
                return Ok(super::packages::dry_run_report(
                    config,
                    "init",
                    &tx,
                    args.dry.json,
                ));
            }
            settings.info(format!(
                "bootstrapping root `{}` ({} {} {})",
                config.name,
                config.distro.name,
                config.distro.release,
                config.distro.family.arch_name(config.arch)
            ));
            let report = family::of(config).bootstrap(layout, config, opts)?;
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

/// For `build`, `buildsrpm`, `shell` and `install`: bootstraps the root
/// first when it is not ready, as mock does. `Some(code)` when that failed.
pub fn ensure_ready(
    settings: &Settings,
    layout: &Layout,
    parallel: u16,
    accel: Option<brt::config::AccelMode>,
) -> Result<Option<i32>> {
    if layout.state() == RootState::Ready {
        return Ok(None);
    }
    settings.info(format!(
        "root `{}` is {}: running `init` first",
        layout.name,
        layout.state()
    ));
    let code = run(
        settings,
        InitArgs {
            parallel,
            accel,
            no_cache: false,
            dry: Default::default(),
        },
    )?;
    Ok((code != exit::OK).then_some(code))
}
