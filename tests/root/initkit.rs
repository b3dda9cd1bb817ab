//! Helpers shared by the `init` tests of both families.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Brt, mounts_below, processes_in, stderr, stdout};

/// A config file in the test's dir; `-r` takes its path.
pub fn config(brt: &Brt, name: &str, text: &str) -> String {
    let path = brt.tmp.path().join(format!("{name}.toml"));
    fs_err::write(&path, text).unwrap();
    path.display().to_string()
}

pub fn shell(brt: &Brt, root: &str, script: &str) -> Output {
    brt.run(&["-r", root, "shell", "--", "/bin/sh", "-c", script])
}

pub fn state(brt: &Brt, name: &str) -> String {
    fs_err::read_to_string(brt.basedir().join(name).join("state.json")).unwrap_or_default()
}

/// The package list of a root's state.json.
pub fn state_packages(brt: &Brt, name: &str) -> std::collections::BTreeSet<String> {
    let state: serde_json::Value = serde_json::from_str(&state(brt, name)).unwrap();
    state["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// What a user sees when an init fails, and that nothing is left behind.
pub fn assert_fails(brt: &Brt, r: &str, expect: &[&str]) -> String {
    let out = brt.run(&["-r", r, "init"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "init succeeded:\n{err}");
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
    let name = Path::new(r).file_stem().unwrap().to_str().unwrap();
    assert!(
        !state(brt, name).contains("\"ready\""),
        "marked ready after: {err}"
    );
    assert!(!brt.basedir().join(name).join("root").exists());
    // No staging dir is left.
    let leftovers: Vec<PathBuf> = fs_err::read_dir(brt.basedir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.')),
        "{leftovers:?}"
    );
    assert!(mounts_below(brt.tmp.path()).is_empty());
    err
}

/// Starts `brt -r CONFIG init --parallel N` for the root `name`, kills it
/// (-9) once `ready()` holds, and checks what a kill must leave: no mounts,
/// no processes, state.json saying bootstrapping.
pub fn kill_init_when(
    brt: &Brt,
    config: &str,
    name: &str,
    parallel: &str,
    ready: &dyn Fn() -> bool,
) {
    let mut child = brt
        .cmd()
        .args(["-r", config, "init", "--parallel", parallel])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "init ended before the kill"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_settled(brt);
    assert!(state(brt, name).contains("bootstrapping"));
}

/// Once brt is gone, its sandboxes' processes die and no mount is left
/// below the test's dir: waited for (up to 30 s, for a loaded machine),
/// then asserted.
pub fn assert_settled(brt: &Brt) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while (!mounts_below(brt.tmp.path()).is_empty() || !processes_in(brt.tmp.path()).is_empty())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(mounts_below(brt.tmp.path()).is_empty());
    let left = processes_in(brt.tmp.path());
    assert!(left.is_empty(), "left running: {left:?}");
}
