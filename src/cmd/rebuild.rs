//! `brt -r NAME rebuild [--jobs N] [--keep-going] [--resume] [--plan]
//! [--slurm [--partition P]] SRC... | @LIST`: every input read natively,
//! the build order worked out as a DAG, and each input built by its own
//! `brt build` process (locally, up to N at once, or as a Slurm job),
//! which adds what it built to the local repository later builds resolve
//! from (`RESULTDIR/repo`, rpm-md metadata written natively).
//!
//! Layout of RESULTDIR: `results/NAME/` per input (the build's packages
//! and logs, `build.json`: its build record, `brt.log`: its messages),
//! `repo/`, and for Slurm `root.tar.zst` (the root the jobs import where
//! it is not ready).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::Serialize;
use serde_json::Value;

use super::{Settings, exit};
use crate::cli::RebuildArgs;
use brt::rebuild::graph::Graph;
use brt::rebuild::input::{self, Node};
use brt::root::{Layout, StateFile, confined};

/// How one input ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    /// Not started (an earlier failure stopped the run, or Ctrl-C).
    NotBuilt,
    Built,
    /// Built before with the same input into the same root (`--resume`).
    Resumed,
    Failed,
    /// Something it depends on failed.
    DependencyFailed,
}

/// One input's line of the report.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    name: &'a str,
    path: &'a Path,
    status: Status,
    /// The inputs it waited for.
    depends_on: Vec<&'a str>,
    /// For `dependency-failed`: the failed input.
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_dependency: Option<&'a str>,
    /// Seconds since the rebuild started, and the build's duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
    exit_code: Option<i32>,
    /// Its `brt build --json` record.
    record: Option<Value>,
    resultdir: PathBuf,
}

/// `--plan`: what would run.
#[derive(Serialize)]
struct Plan<'a> {
    root: &'a str,
    resultdir: &'a Path,
    repo: &'a Path,
    order: Vec<&'a str>,
    cycles: Vec<Vec<&'a str>>,
    inputs: Vec<PlanEntry<'a>>,
}

#[derive(Serialize)]
struct PlanEntry<'a> {
    name: &'a str,
    path: &'a Path,
    sha256: &'a str,
    makes: &'a [String],
    depends_on: Vec<&'a str>,
    /// The command that builds it, run on any node that shares RESULTDIR.
    command: Vec<String>,
}

pub fn run(settings: &Settings, args: RebuildArgs) -> Result<i32> {
    let config = settings.config()?;
    let layout = Layout::new(&settings.basedir, &config.name);
    let paths = expand(&args.packages)?;
    let mut nodes = Vec::new();
    for p in &paths {
        match input::read(p, config.arch.deb) {
            Ok(n) => nodes.push(n),
            Err(e) => {
                super::report(&anyhow::Error::new(e));
                return Ok(exit::BUILD_INPUT);
            }
        }
    }
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut graph = Graph::new(&nodes);
    let cycles: Vec<Vec<&str>> = graph
        .cycles
        .iter()
        .map(|c| c.iter().map(|&i| names[i]).collect())
        .collect();
    if args.break_cycles {
        graph.break_cycles();
    }
    let out = args
        .resultdir
        .clone()
        .unwrap_or_else(|| layout.dir.join("rebuild"));
    let out = std::path::absolute(&out)?;
    let repo = out.join("repo");
    let command = |i: usize| child_argv(settings, &args, &out, &nodes[i]);
    let depends_on = |i: usize| -> Vec<&str> { graph.deps[i].iter().map(|&a| names[a]).collect() };
    let order = graph.order();
    if args.plan {
        let plan = Plan {
            root: &config.name,
            resultdir: &out,
            repo: &repo,
            order: order.iter().flatten().map(|&i| names[i]).collect(),
            cycles: cycles.clone(),
            inputs: (0..nodes.len())
                .map(|i| PlanEntry {
                    name: names[i],
                    path: &nodes[i].path,
                    sha256: &nodes[i].sha256,
                    makes: &nodes[i].makes,
                    depends_on: depends_on(i),
                    command: command(i),
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(exit::OK);
    }
    let Some(order) = order else {
        let list: Vec<String> = cycles.iter().map(|c| c.join(" → ")).collect();
        let err = anyhow!(
            "the inputs build-depend on each other in a cycle: {}",
            list.join("; ")
        );
        super::print_error(
            err.as_ref(),
            Some("`--break-cycles` builds a cycle's members in the order given".into()),
        );
        return Ok(exit::BUILD_INPUT);
    };
    if let Some(code) = super::init::ensure_ready(settings, &layout, 8, args.accel)? {
        return Ok(code);
    }
    fs_err::create_dir_all(out.join("results"))?;
    let root_digest = StateFile::read(&layout.state_file())
        .unwrap_or_default()
        .packages_sha256();
    let mut entries: Vec<Entry> = (0..nodes.len())
        .map(|i| Entry {
            name: names[i],
            path: &nodes[i].path,
            status: Status::NotBuilt,
            depends_on: depends_on(i),
            failed_dependency: None,
            started: None,
            seconds: None,
            exit_code: None,
            record: None,
            resultdir: result_dir(&out, &nodes[i]),
        })
        .collect();
    if args.resume {
        for (i, n) in nodes.iter().enumerate() {
            if let Some(record) = done_before(&entries[i].resultdir, n, &root_digest) {
                brt::rebuild::repo::publish(&repo, &outputs(&record))?;
                entries[i].status = Status::Resumed;
                entries[i].record = Some(record);
                settings.info(format!(
                    "{}: built before from the same input (--resume)",
                    n.name
                ));
            }
        }
    }
    confined::catch_interrupts()?;
    let started = Instant::now();
    let code = if args.slurm {
        slurm(
            settings,
            &args,
            &config.name,
            &graph,
            &order,
            &nodes,
            &out,
            &mut entries,
            &command,
        )?
    } else {
        local(
            settings,
            &args,
            &graph,
            &order,
            &nodes,
            &mut entries,
            &command,
            started,
        )?
    };
    let built = entries.iter().filter(|e| e.status == Status::Built).count();
    let failed = entries
        .iter()
        .filter(|e| e.status == Status::Failed)
        .count();
    let blocked = entries
        .iter()
        .filter(|e| e.status == Status::DependencyFailed)
        .count();
    settings.info(format!(
        "rebuild: {built} built, {} resumed, {failed} failed, {blocked} not built because a dependency failed, {} not built; results in `{}`",
        entries.iter().filter(|e| e.status == Status::Resumed).count(),
        entries.iter().filter(|e| e.status == Status::NotBuilt).count(),
        out.display()
    ));
    if args.json {
        let report = serde_json::json!({
            "root": config.name,
            "resultdir": out,
            "repo": repo,
            "order": order.iter().map(|&i| names[i]).collect::<Vec<_>>(),
            "cycles": cycles,
            "inputs": entries,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(code)
}

/// The inputs, `@FILE` expanded (one path per line, relative to the file;
/// `#` comments and empty lines skipped).
fn expand(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if let Some(list) = a.strip_prefix('@') {
            let list = Path::new(list);
            let text = fs_err::read_to_string(list)?;
            let base = list.parent().unwrap_or(Path::new("."));
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| base.join(l)),
            );
        } else {
            out.push(PathBuf::from(a));
        }
    }
    out.iter()
        .map(|p| std::path::absolute(p).map_err(|e| anyhow!("`{}`: {e}", p.display())))
        .collect()
}

fn result_dir(out: &Path, node: &Node) -> PathBuf {
    out.join("results").join(&node.name)
}

/// The `brt build` that builds `node` into its result dir and the local
/// repository.
fn child_argv(settings: &Settings, args: &RebuildArgs, out: &Path, node: &Node) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "brt".into());
    let mut argv = vec![
        exe,
        "--no-progress".into(),
        "-r".into(),
        settings.root.clone().unwrap_or_default(),
        "--basedir".into(),
        settings.basedir.display().to_string(),
        "--cachedir".into(),
        settings.cachedir.display().to_string(),
    ];
    if settings.offline {
        argv.push("--offline".into());
    }
    argv.extend(["build".into(), "--json".into(), "--resultdir".into()]);
    argv.push(result_dir(out, node).display().to_string());
    argv.push("--local-repo".into());
    argv.push(out.join("repo").display().to_string());
    if args.nocheck {
        argv.push("--nocheck".into());
    }
    if let Some(mode) = args.accel {
        argv.extend(["--accel".into(), mode.to_string()]);
    }
    argv.push(node.path.display().to_string());
    argv
}

/// The build record of an earlier build of the same input into a root
/// with the same packages, if it succeeded and its outputs are there.
fn done_before(dir: &Path, node: &Node, root_digest: &str) -> Option<Value> {
    let record: Value = serde_json::from_slice(&fs_err::read(dir.join("build.json")).ok()?).ok()?;
    let build = &record["builds"][0];
    let same = record["exit_class"] == "success"
        && record["root"]["packages_sha256"] == root_digest
        && build["input"]["sha256"] == node.sha256;
    (same && outputs(&record).iter().all(|p| p.exists())).then_some(record)
}

/// The packages a build record lists.
fn outputs(record: &Value) -> Vec<PathBuf> {
    record["builds"][0]["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["path"].as_str().map(PathBuf::from))
        .collect()
}

/// Marks what depends on `i` as not buildable.
fn block_dependents(graph: &Graph, i: usize, entries: &mut [Entry]) {
    let failed = entries[i].name;
    for d in graph.dependents(i) {
        if matches!(entries[d].status, Status::NotBuilt) {
            entries[d].status = Status::DependencyFailed;
            entries[d].failed_dependency = Some(failed);
        }
    }
}

/// The builds on this machine, up to `--jobs` at once.
#[allow(clippy::too_many_arguments)]
fn local(
    settings: &Settings,
    args: &RebuildArgs,
    graph: &Graph,
    order: &[usize],
    nodes: &[Node],
    entries: &mut [Entry],
    command: &dyn Fn(usize) -> Vec<String>,
    t0: Instant,
) -> Result<i32> {
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut stop = false;
    let mut first_failure: Option<i32> = None;
    let ready = |entries: &[Entry], i: usize| {
        graph.deps[i]
            .iter()
            .all(|&d| matches!(entries[d].status, Status::Built | Status::Resumed))
    };
    loop {
        if confined::interrupted() {
            stop = true;
        }
        while !stop && running.len() < usize::from(args.jobs) {
            let started: BTreeSet<usize> = running.iter().map(|r| r.0).collect();
            let Some(&i) = order.iter().find(|&&i| {
                entries[i].status == Status::NotBuilt && !started.contains(&i) && ready(entries, i)
            }) else {
                break;
            };
            let dir = &entries[i].resultdir;
            fs_err::create_dir_all(dir)?;
            let argv = command(i);
            let child = Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(fs_err::File::create(dir.join("build.json"))?.into_parts().0)
                .stderr(fs_err::File::create(dir.join("brt.log"))?.into_parts().0)
                .spawn()?;
            entries[i].started = Some(t0.elapsed().as_secs_f64());
            running.push((i, child, Instant::now()));
            progress(
                settings,
                entries,
                running.len(),
                &format!("started {}", nodes[i].name),
            );
        }
        if running.is_empty() {
            break;
        }
        let mut finished = None;
        for (k, (_, child, _)) in running.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                finished = Some((k, status));
                break;
            }
        }
        let Some((k, status)) = finished else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let (i, _, began) = running.remove(k);
        let code = status.code().unwrap_or(exit::INTERRUPTED);
        entries[i].seconds = Some(began.elapsed().as_secs_f64());
        entries[i].exit_code = Some(code);
        entries[i].record = fs_err::read(entries[i].resultdir.join("build.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if code == exit::OK {
            entries[i].status = Status::Built;
            progress(
                settings,
                entries,
                running.len(),
                &format!("built {}", nodes[i].name),
            );
        } else {
            entries[i].status = Status::Failed;
            first_failure.get_or_insert(code);
            block_dependents(graph, i, entries);
            progress(
                settings,
                entries,
                running.len(),
                &format!(
                    "FAILED {} (exit {code}; `{}`)",
                    nodes[i].name,
                    entries[i].resultdir.join("brt.log").display()
                ),
            );
            if !args.keep_going || code == exit::INTERRUPTED {
                stop = true;
            }
        }
    }
    if confined::interrupted() {
        return Ok(exit::INTERRUPTED);
    }
    Ok(first_failure.unwrap_or(exit::OK))
}

/// One line: what runs, waits, is done and failed, and what just happened.
fn progress(settings: &Settings, entries: &[Entry], running: usize, what: &str) {
    let count = |s: Status| entries.iter().filter(|e| e.status == s).count();
    let queued = count(Status::NotBuilt) - running;
    settings.info(format!(
        "[{running} running, {queued} queued, {} done, {} failed] {what}",
        count(Status::Built) + count(Status::Resumed),
        count(Status::Failed) + count(Status::DependencyFailed)
    ));
}

/// `'…'` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One Slurm job per input, with the build order as `afterok`
/// dependencies; waits for them and reads their build records.
#[allow(clippy::too_many_arguments)]
fn slurm(
    settings: &Settings,
    args: &RebuildArgs,
    root: &str,
    graph: &Graph,
    order: &[usize],
    nodes: &[Node],
    out: &Path,
    entries: &mut [Entry],
    command: &dyn Fn(usize) -> Vec<String>,
) -> Result<i32> {
    // The root the nodes import where theirs is not ready.
    let image = out.join("root.tar.zst");
    let exe = std::env::current_exe()?;
    settings.info(format!(
        "exporting root `{root}` for the nodes to `{}`",
        image.display()
    ));
    let status = Command::new(&exe)
        .args(["--no-progress", "-q", "-r"])
        .arg(settings.root.clone().unwrap_or_default())
        .arg("--basedir")
        .arg(&settings.basedir)
        .arg("--cachedir")
        .arg(&settings.cachedir)
        .arg("export")
        .arg(&image)
        .status()?;
    if !status.success() {
        return Err(anyhow!("cannot export the root for the Slurm jobs"));
    }
    let mut jobs: Vec<Option<String>> = vec![None; nodes.len()];
    for &i in order {
        if entries[i].status != Status::NotBuilt {
            continue;
        }
        let dir = &entries[i].resultdir;
        fs_err::create_dir_all(dir)?;
        let _ = fs_err::remove_file(dir.join("build.json"));
        let mut argv = command(i);
        let input = argv.pop().unwrap_or_default();
        argv.extend(["--root-image".into(), image.display().to_string(), input]);
        let wrap: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        let mut sbatch = Command::new("sbatch");
        sbatch
            .arg("--parsable")
            .arg(format!("--job-name=brt-{}", nodes[i].name))
            .arg(format!("--chdir={}", out.display()))
            .arg(format!("--output={}", dir.join("build.json").display()))
            .arg(format!("--error={}", dir.join("brt.log").display()));
        if let Some(p) = &args.partition {
            sbatch.arg(format!("--partition={p}"));
        }
        let after: Vec<&str> = graph.deps[i]
            .iter()
            .filter_map(|&d| jobs[d].as_deref())
            .collect();
        if !after.is_empty() {
            sbatch
                .arg(format!("--dependency=afterok:{}", after.join(":")))
                .arg("--kill-on-invalid-dep=yes");
        }
        sbatch.arg(format!("--wrap={}", wrap.join(" ")));
        let o = sbatch
            .output()
            .map_err(|e| anyhow!("cannot run `sbatch` (is Slurm's client installed?): {e}"))?;
        if !o.status.success() {
            return Err(anyhow!(
                "sbatch refused the job for `{}`: {}",
                nodes[i].name,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        let id = String::from_utf8_lossy(&o.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        settings.info(format!("{}: Slurm job {id}", nodes[i].name));
        jobs[i] = Some(id);
    }
    let ids: Vec<&str> = jobs.iter().flatten().map(String::as_str).collect();
    let mut last = String::new();
    let mut interrupted = false;
    while !ids.is_empty() {
        if confined::interrupted() && !interrupted {
            interrupted = true;
            let _ = Command::new("scancel").args(&ids).status();
        }
        let o = Command::new("squeue")
            .args(["-h", "-o", "%i %t", "-j", &ids.join(",")])
            .output()?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.status.success() || text.trim().is_empty() {
            break;
        }
        let running = text.lines().filter(|l| l.ends_with(" R")).count();
        let line = format!(
            "Slurm: {running} running, {} pending",
            text.lines().count() - running
        );
        if line != last {
            settings.info(&line);
            last = line;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut first_failure = None;
    for &i in order {
        if jobs[i].is_none() {
            continue;
        }
        let record: Option<Value> = fs_err::read(entries[i].resultdir.join("build.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let ok = record
            .as_ref()
            .is_some_and(|r| r["exit_class"] == "success");
        entries[i].record = record;
        if ok {
            entries[i].status = Status::Built;
        } else if entries[i].status == Status::NotBuilt {
            // A job that never ran was cancelled for a failed dependency.
            let ran =
                fs_err::metadata(entries[i].resultdir.join("brt.log")).is_ok_and(|m| m.len() > 0);
            if ran {
                entries[i].status = Status::Failed;
                first_failure.get_or_insert(exit::BUILD_FAILED);
                block_dependents(graph, i, entries);
            }
        }
    }
    let _ = std::io::stderr().flush();
    if interrupted {
        return Ok(exit::INTERRUPTED);
    }
    Ok(first_failure.unwrap_or(exit::OK))
}
