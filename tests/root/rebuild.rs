//! `rebuild`: a set of source RPMs built in dependency order into a local
//! repository, several at once, past a failure, resumed; and the same set
//! through a real single-node Slurm cluster started by the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BinfmtSnapshot, Brt, require_root, rpm_fixture, stderr, stdout};
use crate::initkit::{assert_ok, config};

/// The fixture root (`@buildsys-build`, aarch64).
fn root(brt: &Brt, name: &str) -> String {
    let (dir, server) = rpm_fixture();
    let text = format!(
        "arch = \"aarch64\"\n[distro]\nfamily = \"rpm\"\nname = \"brtfix\"\nrelease = \"1\"\n\
         [install]\npackages = [\"@buildsys-build\"]\n\
         [[repo]]\nname = \"good\"\nbaseurl = [\"{}\"]\ngpgcheck = true\ngpgkey = [\"file://{}\"]\n",
        server.url("repos/good/"),
        dir.join("RPM-GPG-KEY-brt").display()
    );
    config(brt, name, &text)
}

/// A source RPM made with the host's rpmbuild: a noarch package whose
/// `%build` runs `build` (a check that what it build-requires is there).
fn srpm(dir: &Path, name: &str, requires: &str, build: &str) -> PathBuf {
    let spec = dir.join(format!("{name}.spec"));
    fs_err::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: rebuild test\nLicense: MIT\n\
             BuildArch: noarch\n{requires}\n%description\nrebuild test\n%build\n{build}\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
             echo {name} > %{{buildroot}}/usr/share/{name}/marker\n\
             %files\n/usr/share/{name}\n"
        ),
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .args(["-bs", "--quiet"])
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg("--define")
        .arg(format!("_srcrpmdir {}", dir.display()))
        .arg(&spec)
        .output()
        .expect("rpmbuild (scripts/install-deps installs rpm)");
    assert!(out.status.success(), "{}", stderr(&out));
    dir.join(format!("{name}-1.0-1.src.rpm"))
}

/// B build-requires what A makes (and checks it in `%build`); a failing
/// package and one that needs it; C and D need each other (C only when
/// `brt-never` is there, so the cycle can be broken).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    vec![
        srpm(dir, "brt-after-fail", "BuildRequires: brt-fail", "true"),
        srpm(
            dir,
            "brt-chain-b",
            "BuildRequires: brt-chain-a",
            "test -f /usr/share/brt-chain-a/marker",
        ),
        srpm(dir, "brt-chain-a", "", "true"),
        srpm(dir, "brt-fail", "", "echo failing on purpose; exit 1"),
        srpm(
            dir,
            "brt-cyc-c",
            "BuildRequires: (brt-cyc-d if brt-never)",
            "true",
        ),
        srpm(
            dir,
            "brt-cyc-d",
            "BuildRequires: brt-cyc-c",
            "test -f /usr/share/brt-cyc-c/marker",
        ),
    ]
}

fn args<'a>(r: &'a str, extra: &[&'a str], inputs: &'a [PathBuf]) -> Vec<&'a str> {
    let mut v = vec!["-r", r, "rebuild"];
    v.extend(extra);
    v.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    v
}

/// name → status, from the `--json` report.
fn statuses(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Each binary package in `dir` and its files' digests.
fn payloads(dir: &Path) -> BTreeMap<String, String> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".noarch.rpm"))
        .map(|p| {
            let out = Command::new("rpm")
                .args([
                    "-qp",
                    "--nosignature",
                    "--qf",
                    "[%{FILENAMES} %{FILEDIGESTS}\\n]",
                ])
                .arg(&p)
                .output()
                .unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                stdout(&out),
            )
        })
        .collect()
}

#[test]
fn rebuild_orders_overlaps_keeps_going_and_resumes() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = root(&brt, "fix");
    let src = brt.tmp.path().join("src");
    fs_err::create_dir_all(&src).unwrap();
    let inputs = inputs(&src);
    let out = brt.tmp.path().join("out");
    let out_s = out.to_str().unwrap();

    // The plan: the order, the cycle, a command per input.
    let plan = brt.run(&args(&r, &["--plan", "--resultdir", out_s], &inputs));
    assert_ok(&plan, "plan");
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(
        plan["cycles"],
        serde_json::json!([["brt-cyc-c-1.0-1", "brt-cyc-d-1.0-1"]])
    );
    let b = plan["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "brt-chain-b-1.0-1")
        .unwrap();
    assert_eq!(b["depends_on"], serde_json::json!(["brt-chain-a-1.0-1"]));
    assert!(
        b["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "build")
    );

    // A cycle is refused, naming its packages; nothing is built.
    let refused = brt.run(&args(&r, &["--resultdir", out_s], &inputs));
    assert_eq!(refused.status.code(), Some(10), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("brt-cyc-c-1.0-1 → brt-cyc-d-1.0-1")
            && stderr(&refused).contains("--break-cycles"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.join("repo").exists());

    // Without --keep-going, one job at a time: the failure stops the run.
    let stopped = brt.tmp.path().join("stopped");
    let only = [inputs[3].clone(), inputs[2].clone(), inputs[1].clone()];
    let run = brt.run(&args(
        &r,
        &["--json", "--resultdir", stopped.to_str().unwrap()],
        &only,
    ));
    assert_eq!(run.status.code(), Some(12), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let s = statuses(&report);
    assert_eq!(s["brt-fail-1.0-1"], "failed", "{s:?}");
    assert_eq!(s["brt-chain-b-1.0-1"], "not-built", "{s:?}");

    // Two at a time, past the failure, the cycle broken in input order.
    let run = brt.run(&args(
        &r,
        &[
            "--jobs",
            "2",
            "--keep-going",
            "--break-cycles",
            "--json",
            "--resultdir",
            out_s,
        ],
        &inputs,
    ));
    assert_eq!(run.status.code(), Some(12), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let s = statuses(&report);
    let want: BTreeMap<String, String> = [
        ("brt-after-fail-1.0-1", "dependency-failed"),
        ("brt-chain-a-1.0-1", "built"),
        ("brt-chain-b-1.0-1", "built"),
        ("brt-cyc-c-1.0-1", "built"),
        ("brt-cyc-d-1.0-1", "built"),
        ("brt-fail-1.0-1", "failed"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(s, want);
    let entry = |name: &str| {
        report["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        entry("brt-after-fail-1.0-1")["failed_dependency"],
        "brt-fail-1.0-1"
    );
    // B started after A ended; two builds ran at the same time.
    let span = |name: &str| {
        let e = entry(name);
        let start = e["started"].as_f64().unwrap();
        (start, start + e["seconds"].as_f64().unwrap())
    };
    assert!(span("brt-chain-b-1.0-1").0 >= span("brt-chain-a-1.0-1").1);
    let spans: Vec<(f64, f64)> = s
        .iter()
        .filter(|(_, st)| *st == "built" || *st == "failed")
        .map(|(n, _)| span(n))
        .collect();
    let overlap = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlap, "no two builds overlapped: {spans:?}");
    // The failure's log is where the report says.
    let log = fs_err::read_to_string(out.join("results/brt-fail-1.0-1/build.log")).unwrap();
    assert!(log.contains("failing on purpose"), "{log}");

    // The local repository: brt and dnf read its metadata.
    let repo = out.join("repo");
    let with_local = config(
        &brt,
        "withlocal",
        &(fs_err::read_to_string(&r).unwrap().replace(
            "packages = [\"@buildsys-build\"]",
            "packages = [\"@buildsys-build\", \"brt-chain-b\", \"brt-cyc-d\"]",
        ) + &format!(
            "[[repo]]\nname = \"local\"\nbaseurl = [\"file://{}/\"]\ngpgcheck = false\n",
            repo.display()
        )),
    );
    let dry = brt.run(&["-r", &with_local, "init", "--dry-run"]);
    assert_ok(&dry, "init --dry-run with the local repository");
    for p in [
        "brt-chain-b 0:1.0-1 noarch  local",
        "brt-cyc-d 0:1.0-1 noarch  local",
    ] {
        let said = stdout(&dry) + &stderr(&dry);
        assert!(said.contains(p), "{p}:\n{said}");
    }

    // --resume: only the failed input runs again.
    let before = payloads(&repo);
    let t = Instant::now();
    let run = brt.run(&args(
        &r,
        &[
            "--jobs",
            "2",
            "--keep-going",
            "--break-cycles",
            "--resume",
            "--json",
            "--resultdir",
            out_s,
        ],
        &inputs,
    ));
    assert_eq!(run.status.code(), Some(12), "{}", stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let s = statuses(&report);
    assert_eq!(s["brt-chain-a-1.0-1"], "resumed");
    assert_eq!(s["brt-cyc-d-1.0-1"], "resumed");
    assert_eq!(s["brt-fail-1.0-1"], "failed");
    assert_eq!(payloads(&repo), before);
    eprintln!("resumed run: {:?}", t.elapsed());
}

/// A single-node Slurm cluster (munged, slurmctld, slurmd as root) in a
/// temporary directory, on its own ports and munge socket; stopped on drop.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<std::process::Child>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let host = stdout(&Command::new("hostname").arg("-s").output().unwrap())
            .trim()
            .to_string();
        for d in ["state", "spool", "run", "munge"] {
            fs_err::create_dir_all(dir.join(d)).unwrap();
        }
        // munged runs as user munge and must reach its dir.
        for d in [dir, dir.parent().unwrap()] {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let status = Command::new("chown")
            .args(["-R", "munge:munge"])
            .arg(dir.join("munge"))
            .status()
            .unwrap();
        assert!(status.success());
        let socket = dir.join("munge/munge.sock");
        let port = 17000 + (std::process::id() % 1000) as u16 * 2;
        let conf = dir.join("slurm.conf");
        let d = dir.display();
        fs_err::write(
            &conf,
            format!(
                "ClusterName=brttest\nSlurmctldHost={host}(127.0.0.1)\nSlurmUser=root\nSlurmdUser=root\n\
                 SlurmctldPort={port}\nSlurmdPort={}\nAuthType=auth/munge\n\
                 AuthInfo=socket={}\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/run/slurmctld.pid\nSlurmdPidFile={d}/run/slurmd.pid\n\
                 SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
                 SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\n\
                 ReturnToService=2\nJobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
                 PartitionName=brt Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES\n",
                port + 1,
                socket.display()
            ),
        )
        .unwrap();
        let mut daemons = Vec::new();
        let munged = Command::new("runuser")
            .args(["-u", "munge", "--", "munged", "--foreground", "--socket"])
            .arg(&socket)
            .arg("--pid-file")
            .arg(dir.join("munge/munged.pid"))
            .arg("--seed-file")
            .arg(dir.join("munge/seed"))
            .arg("--log-file")
            .arg(dir.join("munge/munged.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("munged (scripts/install-deps installs munge)");
        daemons.push(munged);
        wait_for(|| socket.exists(), "munged's socket");
        for daemon in ["slurmctld", "slurmd"] {
            let child = Command::new(daemon)
                .args(["-D", "-f"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{daemon}: {e} (scripts/install-deps installs slurm-wlm)")
                });
            daemons.push(child);
        }
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            conf,
            daemons,
        };
        wait_for(
            || {
                let o = cluster.cmd("sinfo").args(["-h", "-o", "%t"]).output();
                o.is_ok_and(|o| stdout(&o).trim() == "idle")
            },
            "the node to be idle",
        );
        cluster
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill").arg(d.id().to_string()).status();
            let _ = d.wait();
        }
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.dir.to_string_lossy().as_ref())
            .status();
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rebuild_on_slurm_gives_what_the_local_run_gives() {
    require_root();
    let _binfmt = BinfmtSnapshot::take();
    let brt = Brt::new();
    let r = root(&brt, "fix");
    let src = brt.tmp.path().join("src");
    fs_err::create_dir_all(&src).unwrap();
    let all = inputs(&src);
    // The chain and the failure (no cycle).
    let set = [
        all[0].clone(),
        all[1].clone(),
        all[2].clone(),
        all[3].clone(),
    ];
    let local = brt.tmp.path().join("local");
    let run = brt.run(&args(
        &r,
        &[
            "--jobs",
            "2",
            "--keep-going",
            "--json",
            "--resultdir",
            local.to_str().unwrap(),
        ],
        &set,
    ));
    assert_eq!(run.status.code(), Some(12), "{}", stderr(&run));
    let local_report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();

    let cluster = Cluster::start(&brt.tmp.path().join("slurm"));
    let remote = brt.tmp.path().join("remote");
    let t = Instant::now();
    let run = brt
        .cmd()
        .env("SLURM_CONF", &cluster.conf)
        .args(args(
            &r,
            &[
                "--slurm",
                "--partition",
                "brt",
                "--json",
                "--resultdir",
                remote.to_str().unwrap(),
            ],
            &set,
        ))
        .output()
        .unwrap();
    eprintln!("rebuild --slurm: {:?}\n{}", t.elapsed(), stderr(&run));
    assert_eq!(run.status.code(), Some(12), "{}", stderr(&run));
    assert!(stderr(&run).contains("Slurm job "), "{}", stderr(&run));
    let remote_report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(statuses(&remote_report), statuses(&local_report));
    assert_eq!(
        statuses(&remote_report)["brt-after-fail-1.0-1"],
        "dependency-failed"
    );
    assert!(remote.join("root.tar.zst").exists());
    // The same packages, with the same files.
    assert_eq!(
        payloads(&remote.join("repo")),
        payloads(&local.join("repo"))
    );
    assert_eq!(payloads(&remote.join("repo")).len(), 2);
    drop(cluster);
}
