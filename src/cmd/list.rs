//! `brt list`: every config, its root's state and size.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::{Settings, exit};
use crate::cli::ListArgs;
use brt::root::{Layout, RootState, disk_usage, human_size};

#[derive(Serialize)]
struct Row {
    name: String,
    distro: String,
    release: String,
    arch: String,
    state: RootState,
    size_bytes: u64,
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(settings: &Settings, args: ListArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for (name, origin) in brt::config::list(&settings.config_dirs) {
        let layout = Layout::new(&settings.basedir, &name);
        let state = layout.state();
        let size_bytes = match state {
            RootState::Absent => 0,
            _ => disk_usage(&layout.dir),
        };
        let mut row = Row {
            name: name.clone(),
            distro: String::new(),
            release: String::new(),
            arch: String::new(),
            state,
            size_bytes,
            source: origin.to_string(),
            error: None,
        };
        // A broken user config must not hide the others: show it with its error.
        match brt::config::load(&name, &settings.config_dirs) {
            Ok(c) => {
                row.distro = c.distro.name.clone();
                row.release = c.distro.release.clone();
                row.arch = c.distro.family.arch_name(c.arch).to_string();
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        rows.push(row);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let size = if r.state == RootState::Absent {
                "-".to_string()
            } else {
                human_size(r.size_bytes)
            };
            [
                r.name.clone(),
                r.distro.clone(),
                r.release.clone(),
                r.arch.clone(),
                r.state.to_string(),
                size,
            ]
        })
        .collect();
    let header = ["NAME", "DISTRO", "RELEASE", "ARCH", "STATE", "SIZE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for line in &table {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.len());
        }
    }
    for (line, row) in
        std::iter::once((&header, None)).chain(table.iter().zip(rows.iter().map(Some)))
    {
        let [name, distro, release, arch, state, size] = line;
        writeln!(
            out,
            "{name:<w0$}  {distro:<w1$}  {release:<w2$}  {arch:<w3$}  {state:<w4$}  {size:>w5$}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5],
        )?;
        if let Some(e) = row.and_then(|r| r.error.as_ref()) {
            writeln!(out, "{:w$}  error: {e}", "", w = widths[0])?;
        }
    }
    Ok(exit::OK)
}
