//! `brt -r NAME config`: the resolved config and the files it came from.

use std::io::Write;

use anyhow::Result;

use super::{Settings, exit};
use crate::cli::ConfigArgs;

pub fn run(settings: &Settings, args: ConfigArgs) -> Result<i32> {
    let config = settings.config()?;
    let mut out = std::io::stdout().lock();
    let sources: Vec<String> = config.sources.iter().map(|s| s.to_string()).collect();
    if args.json {
        let value = serde_json::json!({
            "name": config.name,
            "sources": sources,
            "config": toml::from_str::<toml::Value>(&config.to_toml())?,
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    writeln!(out, "# {}: merged from, in order:", config.name)?;
    for s in &sources {
        writeln!(out, "#   {s}")?;
    }
    write!(out, "{}", config.to_toml())?;
    Ok(exit::OK)
}
