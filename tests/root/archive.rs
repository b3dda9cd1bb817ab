//! `import`, `export`, `copyin`, `copyout` on the real kernel: what a root
//! is made of survives a round trip, and nothing a root or an archive holds
//! can make brt write (or read) outside the root.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, chown};

use crate::common::{Brt, require_root, stderr};

/// `security.capability` for `cap_net_raw+ep` (VFS_CAP_REVISION_2, effective).
const CAP_NET_RAW_EP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // magic: revision 2 | effective
    0x00, 0x20, 0x00, 0x00, // permitted[0]: 1 << CAP_NET_RAW (13)
    0x00, 0x00, 0x00, 0x00, // inheritable[0]
    0x00, 0x00, 0x00, 0x00, // permitted[1]
    0x00, 0x00, 0x00, 0x00, // inheritable[1]
];

/// One file's metadata, as compared across a round trip.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    rdev: u64,
    mtime: i64,
    content: Option<Vec<u8>>,
    target: Option<PathBuf>,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Every path below `root` (and `root` itself, as ``) with its metadata.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let md = fs_err::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(&path)
            .unwrap()
            .filter(|n| n != "security.selinux")
            .map(|n| {
                let v = xattr::get(&path, &n).unwrap().unwrap_or_default();
                (n.to_string_lossy().into_owned(), v)
            })
            .collect();
        xattrs.sort();
        if ft.is_dir() {
            for e in fs_err::read_dir(&path).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
        }
        out.insert(
            rel,
            Node {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                rdev: md.rdev(),
                mtime: md.mtime(),
                content: ft.is_file().then(|| fs_err::read(&path).unwrap()),
                target: ft.is_symlink().then(|| fs_err::read_link(&path).unwrap()),
                xattrs,
            },
        );
    }
    out
}

fn ino(path: &Path) -> u64 {
    fs_err::symlink_metadata(path).unwrap().ino()
}

fn set_mtime(path: &Path, secs: i64) {
    let t = TimeSpec::new(secs, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A small rootfs with everything a real one has that is easy to lose:
/// foreign owners, setuid, file capabilities, xattrs, hard links, device
/// nodes, fifos, absolute and relative symlinks, sticky and setgid dirs,
/// names and link targets longer than a tar header holds, old mtimes.
fn build_rootfs(dir: &Path) {
    for d in [
        "etc",
        "usr/bin",
        "usr/share/doc",
        "dev",
        "run",
        "tmp",
        "srv/shared",
    ] {
        fs_err::create_dir_all(dir.join(d)).unwrap();
    }
    chmod(dir, 0o755);
    chmod(&dir.join("tmp"), 0o1777);
    chmod(&dir.join("srv/shared"), 0o2775);

    let owned = dir.join("etc/owned");
    fs_err::write(&owned, "owned by 1234:4321\n").unwrap();
    chown(&owned, Some(Uid::from_raw(1234)), Some(Gid::from_raw(4321))).unwrap();
    chmod(&owned, 0o640);
    xattr::set(&owned, "user.brt", b"test").unwrap();

    let suid = dir.join("usr/bin/suid");
    fs_err::write(&suid, "#!/bin/sh\necho root\n").unwrap();
    chmod(&suid, 0o4755);

    let ping = dir.join("usr/bin/ping");
    fs_err::write(&ping, "not really ping\n").unwrap();
    chmod(&ping, 0o755);
    xattr::set(&ping, "security.capability", &CAP_NET_RAW_EP).unwrap();

    fs_err::write(dir.join("usr/bin/hard-a"), "one inode, two names\n").unwrap();
    fs_err::hard_link(dir.join("usr/bin/hard-a"), dir.join("usr/bin/hard-b")).unwrap();

    mknod(
        &dir.join("dev/null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    chmod(&dir.join("dev/null"), 0o666);
    mknod(
        &dir.join("run/fifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();

    fs_err::os::unix::fs::symlink("/etc/owned", dir.join("etc/link")).unwrap();
    fs_err::os::unix::fs::symlink("../../etc/owned", dir.join("usr/bin/rel-link")).unwrap();

    let long = "a-file-name-longer-than-the-hundred-bytes-a-tar-header-holds-".repeat(3);
    let long_path = dir.join("usr/share/doc").join(&long);
    fs_err::write(&long_path, "long\n").unwrap();
    fs_err::os::unix::fs::symlink(
        format!("/usr/share/doc/{long}"),
        dir.join("usr/share/long-link"),
    )
    .unwrap();

    set_mtime(&owned, 1_000_000_000);
    set_mtime(&dir.join("etc/link"), 1_000_000_001);
    // Directory mtimes last: creating their content changed them.
    for d in [
        "etc",
        "usr/bin",
        "usr/share/doc",
        "usr/share",
        "usr",
        "dev",
        "run",
        "tmp",
        "srv/shared",
        "srv",
    ] {
        set_mtime(&dir.join(d), 1_100_000_000);
    }
    set_mtime(dir, 1_200_000_000);
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", stderr(out));
}

/// `state` of root `name` as `brt list --json` reports it.
fn listed_state(brt: &Brt, name: &str) -> String {
    let out = brt.run(&["list", "--json"]);
    assert_ok(&out, "brt list");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` is not listed"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Import `dir` (built by [`build_rootfs`]) as root `name`; its `root/`.
fn import_dir(brt: &Brt, name: &str, dir: &Path) -> PathBuf {
    let out = brt.run(&["-r", name, "import", path_str(dir)]);
    assert_ok(&out, "import");
    brt.basedir().join(name).join("root")
}

#[test]
fn import_and_export_round_trip_keeps_owners_modes_links_devices_and_xattrs() {
    require_root();
    let brt = Brt::new();
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    let want = snapshot(&src);

    let first = import_dir(&brt, "debian-bookworm-arm64", &src);
    assert_eq!(listed_state(&brt, "debian-bookworm-arm64"), "ready");
    assert_eq!(
        snapshot(&first),
        want,
        "import of a directory changed the tree"
    );

    let tarball = brt.tmp.path().join("exported.tar.zst");
    let out = brt.run(&["-r", "debian-bookworm-arm64", "export", path_str(&tarball)]);
    assert_ok(&out, "export");
    let magic = fs_err::read(&tarball).unwrap();
    assert_eq!(&magic[..4], &[0x28, 0xb5, 0x2f, 0xfd], "export is not zstd");

    let out = brt.run(&["-r", "debian-trixie-arm64", "import", path_str(&tarball)]);
    assert_ok(&out, "import of the export");
    let second = brt.basedir().join("debian-trixie-arm64/root");
    assert_eq!(snapshot(&second), want, "export + import changed the tree");

    for root in [&first, &second] {
        assert_eq!(
            ino(&root.join("usr/bin/hard-a")),
            ino(&root.join("usr/bin/hard-b"))
        );
        let owned = fs_err::metadata(root.join("etc/owned")).unwrap();
        assert_eq!((owned.uid(), owned.gid()), (1234, 4321));
        assert_eq!(
            fs_err::metadata(root.join("usr/bin/suid")).unwrap().mode() & 0o7777,
            0o4755
        );
        let null = fs_err::metadata(root.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
        assert_eq!(
            xattr::get(root.join("usr/bin/ping"), "security.capability").unwrap(),
            Some(CAP_NET_RAW_EP.to_vec())
        );
    }
    // The system's tar reads brt's export too.
    let out = Command::new("tar")
        .args(["-I", "zstd", "-tvf"])
        .arg(&tarball)
        .output()
        .unwrap();
    assert_ok(&out, "tar -t of the export");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("etc/owned"), "{listing}");
}

#[test]
fn import_reads_tar_gz_xz_and_zst_made_by_system_tar() {
    require_root();
    let brt = Brt::new();
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    let want = snapshot(&src);
    let tar = brt.tmp.path().join("rootfs.tar");
    let out = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "-C"])
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .unwrap();
    assert_ok(&out, "tar -c");
    for (suffix, compress) in [("gz", "gzip"), ("xz", "xz"), ("zst", "zstd")] {
        let out = Command::new(compress)
            .arg("-kq")
            .arg(&tar)
            .output()
            .unwrap();
        assert_ok(&out, compress);
        assert!(tar.with_extension(format!("tar.{suffix}")).exists());
    }
    for (file, name) in [
        ("rootfs.tar", "debian-bookworm-amd64"),
        ("rootfs.tar.gz", "debian-trixie-amd64"),
        ("rootfs.tar.xz", "debian-bookworm-armhf"),
        ("rootfs.tar.zst", "debian-trixie-armhf"),
    ] {
        let path = brt.tmp.path().join(file);
        let out = brt.run(&["-r", name, "import", path_str(&path)]);
        assert_ok(&out, file);
        assert_eq!(listed_state(&brt, name), "ready", "{file}");
        let root = brt.basedir().join(name).join("root");
        let got = snapshot(&root);
        // GNU tar sets the mtime of a symlink to now: compare everything else.
        let strip = |m: &BTreeMap<PathBuf, Node>| -> Vec<_> {
            m.iter()
                .map(|(p, n)| {
                    (
                        p.clone(),
                        n.kind,
                        n.mode,
                        n.uid,
                        n.gid,
                        n.rdev,
                        n.content.clone(),
                        n.target.clone(),
                        n.xattrs.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(strip(&got), strip(&want), "{file}");
        assert_eq!(
            ino(&root.join("usr/bin/hard-a")),
            ino(&root.join("usr/bin/hard-b")),
            "{file}"
        );
    }
}

/// Name, type and link target of a member of a crafted tar.
type Member<'a> = (&'a str, tar::EntryType, &'a str);

/// A tar whose member names are written raw, bypassing the checks a
/// well-behaved writer makes: what an attacker would craft.
fn hostile_tar(path: &Path, members: &[Member]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link) in members {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000_000);
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"pwned\n"
        } else {
            b""
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    fs_err::write(path, b.into_inner().unwrap()).unwrap();
}

/// Every file below `dir`, for "nothing appeared here" checks.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs_err::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn hostile_archives_write_nothing_outside_the_root_and_leave_no_ready_root() {
    require_root();
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let brt = Brt::new();
    // A real host dir the archives aim at; it must stay empty.
    let host = tempfile::Builder::new()
        .prefix("brt-target-")
        .tempdir_in("/tmp")
        .unwrap();
    let host_dir = host.path().to_str().unwrap();
    let up = format!("../../../../../../../..{host_dir}");
    let cases: Vec<(&str, Vec<Member>, &str)> = vec![
        (
            "dotdot",
            vec![
                ("etc/", Directory, ""),
                ("../escape", Regular, ""),
                ("../../escape", Regular, ""),
            ],
            "`..` in its name",
        ),
        (
            "absolute",
            vec![("/abs-escape", Regular, "")],
            "absolute name",
        ),
        (
            "symlink-absolute",
            vec![("link", Symlink, host_dir), ("link/pwned", Regular, "")],
            "link/pwned",
        ),
        (
            "symlink-relative",
            vec![("link", Symlink, &up), ("link/pwned", Regular, "")],
            "link/pwned",
        ),
        (
            "hardlink-outside",
            vec![("h", Link, "../../../etc/passwd")],
            "`h` points at `../../../etc/passwd`",
        ),
    ];
    let name = "debian-bookworm-arm64";
    for (case, members, says) in &cases {
        let tar = brt.tmp.path().join(format!("{case}.tar"));
        hostile_tar(&tar, members);
        let out = brt.run(&["-r", name, "import", path_str(&tar)]);
        assert!(!out.status.success(), "{case}: a hostile import succeeded");
        assert!(stderr(&out).contains(says), "{case}: {}", stderr(&out));

        assert_eq!(
            files_below(host.path()),
            Vec::<PathBuf>::new(),
            "{case}: wrote into the host dir"
        );
        for escaped in [
            brt.basedir().join("escape"),
            brt.basedir().parent().unwrap().join("escape"),
            PathBuf::from("/abs-escape"),
            PathBuf::from("/escape"),
        ] {
            assert!(
                !escaped.exists(),
                "{case}: `{}` was written",
                escaped.display()
            );
        }
        assert_ne!(listed_state(&brt, name), "ready", "{case}");
        assert!(
            !brt.basedir().join(name).join("root").exists(),
            "{case}: a root dir was left"
        );
        let staging: Vec<_> = fs_err::read_dir(brt.basedir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".import-"))
            .collect();
        assert!(staging.is_empty(), "{case}: staging dir left: {staging:?}");
    }
    // The name never became a root at all.
    assert_eq!(listed_state(&brt, name), "absent");
}

#[test]
fn copyin_and_copyout_never_follow_a_symlink_out_of_the_root() {
    require_root();
    let brt = Brt::new();
    let name = "debian-bookworm-arm64";
    let host = brt.tmp.path().join("host-secret");
    fs_err::create_dir_all(&host).unwrap();
    fs_err::write(host.join("marker"), "host secret\n").unwrap();
    let before = snapshot(&host);

    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    fs_err::os::unix::fs::symlink(&host, src.join("etc/evil")).unwrap();
    let rel = format!("../../../../../../../..{}", host.display());
    fs_err::os::unix::fs::symlink(&rel, src.join("etc/evil-rel")).unwrap();
    import_dir(&brt, name, &src);

    let out_file = brt.tmp.path().join("copied-marker");
    for inside in [
        "/etc/evil/marker",
        "/etc/evil-rel/marker",
        "etc/evil/marker",
    ] {
        let out = brt.run(&["-r", name, "copyout", inside, path_str(&out_file)]);
        assert!(
            !out.status.success(),
            "copyout {inside} read the host's file"
        );
        assert!(!out_file.exists(), "copyout {inside} wrote a copy");
        assert!(
            stderr(&out).contains(&format!("`{inside}` does not exist in root `{name}`")),
            "{}",
            stderr(&out)
        );
    }

    let file = brt.tmp.path().join("newfile");
    fs_err::write(&file, "from the host\n").unwrap();
    for dest in [
        "/etc/evil/",
        "/etc/evil/newfile",
        "/etc/evil-rel/",
        "/etc/evil-rel/newfile",
        "/etc/evil",
    ] {
        let _ = brt.run(&["-r", name, "copyin", path_str(&file), dest]);
        assert_eq!(
            snapshot(&host),
            before,
            "copyin to {dest} changed the host dir"
        );
    }
    let out = brt.run(&["-r", name, "copyin", path_str(&file), "/etc/evil/"]);
    assert!(
        stderr(&out).contains(&format!("`/etc/evil/` does not exist in root `{name}`")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn copyin_and_copyout_copy_like_cp() {
    require_root();
    let brt = Brt::new();
    let name = "debian-bookworm-arm64";
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    let root = import_dir(&brt, name, &src);

    let a = brt.tmp.path().join("a.txt");
    fs_err::write(&a, "a\n").unwrap();
    // chown clears setuid: owner first, then mode.
    chown(&a, Some(Uid::from_raw(1000)), Some(Gid::from_raw(1000))).unwrap();
    chmod(&a, 0o4751);
    let d = brt.tmp.path().join("d");
    fs_err::create_dir_all(d.join("sub")).unwrap();
    fs_err::write(d.join("sub/b.txt"), "b\n").unwrap();

    // Several sources into an existing directory, each under its own name.
    let out = brt.run(&["-r", name, "copyin", path_str(&a), path_str(&d), "/srv"]);
    assert_ok(&out, "copyin");
    let copied = fs_err::metadata(root.join("srv/a.txt")).unwrap();
    assert_eq!(
        (copied.uid(), copied.gid()),
        (0, 0),
        "copyin keeps owners without --preserve-owner"
    );
    assert_eq!(copied.mode() & 0o7777, 0o751, "mode kept, setuid dropped");
    assert_eq!(
        fs_err::read_to_string(root.join("srv/d/sub/b.txt")).unwrap(),
        "b\n"
    );

    // One source to a new name; owners kept when asked.
    let out = brt.run(&[
        "-r",
        name,
        "copyin",
        "--preserve-owner",
        path_str(&a),
        "/srv/renamed",
    ]);
    assert_ok(&out, "copyin --preserve-owner");
    let kept = fs_err::metadata(root.join("srv/renamed")).unwrap();
    assert_eq!((kept.uid(), kept.mode() & 0o7777), (1000, 0o4751));

    // Several sources need a directory.
    let out = brt.run(&[
        "-r",
        name,
        "copyin",
        path_str(&a),
        path_str(&d),
        "/srv/renamed",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not"), "{}", stderr(&out));

    // Out again: a directory with its content, a file to a new name.
    let back = brt.tmp.path().join("back");
    fs_err::create_dir_all(&back).unwrap();
    let out = brt.run(&[
        "-r",
        name,
        "copyout",
        "/srv/d",
        "/etc/owned",
        path_str(&back),
    ]);
    assert_ok(&out, "copyout");
    assert_eq!(
        fs_err::read_to_string(back.join("d/sub/b.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(
        fs_err::read_to_string(back.join("owned")).unwrap(),
        "owned by 1234:4321\n"
    );
    let out = brt.run(&[
        "-r",
        name,
        "copyout",
        "etc/link",
        path_str(&back.join("via-link")),
    ]);
    assert_ok(&out, "copyout of a symlink");
    assert_eq!(
        fs_err::read_to_string(back.join("via-link")).unwrap(),
        "owned by 1234:4321\n",
        "a symlink given as SRC is copied as what it points to, inside the root"
    );

    let out = brt.run(&["-r", name, "copyout", "/no/such", path_str(&back)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("`/no/such` does not exist in root `{name}`")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_root_says_how_to_import_one() {
    require_root();
    let brt = Brt::new();
    let name = "debian-bookworm-arm64";
    for args in [
        vec!["export", "/tmp/never.tar.zst"],
        vec!["copyout", "/etc/passwd", "/tmp/never"],
        vec!["copyin", "/etc/passwd", "/tmp"],
    ] {
        let mut all = vec!["-r", name];
        all.extend(args.iter().copied());
        let out = brt.run(&all);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("root `{name}` does not exist")),
            "{err}"
        );
        assert!(
            err.contains(&format!("brt -r {name} import ROOTFS.tar")),
            "{err}"
        );
        assert!(
            !brt.basedir().join(name).exists(),
            "{args:?} created the root's dir"
        );
    }
}

#[test]
fn import_over_an_existing_root_needs_replace_and_keeps_results() {
    require_root();
    let brt = Brt::new();
    let name = "debian-bookworm-arm64";
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    let root = import_dir(&brt, name, &src);
    let result = brt.basedir().join(name).join("result");
    fs_err::create_dir_all(&result).unwrap();
    fs_err::write(result.join("foo.rpm"), "built").unwrap();

    let other = brt.tmp.path().join("other");
    fs_err::create_dir_all(other.join("etc")).unwrap();
    fs_err::write(other.join("etc/os-release"), "ID=other\n").unwrap();
    let out = brt.run(&["-r", name, "import", path_str(&other)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert!(
        root.join("etc/owned").exists(),
        "a refused import changed the root"
    );

    // A directory holding the roots themselves would never end.
    let out = brt.run(&["-r", name, "import", "--replace", path_str(brt.tmp.path())]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("contains brt's own roots"),
        "{}",
        stderr(&out)
    );
    assert!(
        root.join("etc/owned").exists(),
        "a refused import changed the root"
    );

    // A staging dir left by a killed import is cleaned up by the next one.
    let stale = brt.basedir().join(format!(".{name}.import-999999"));
    fs_err::create_dir_all(stale.join("root/etc")).unwrap();

    let out = brt.run(&["-r", name, "import", "--replace", path_str(&other)]);
    assert_ok(&out, "import --replace");
    assert_eq!(listed_state(&brt, name), "ready");
    assert!(!root.join("etc/owned").exists(), "the old root is gone");
    assert_eq!(
        fs_err::read_to_string(root.join("etc/os-release")).unwrap(),
        "ID=other\n"
    );
    assert_eq!(
        fs_err::read_to_string(result.join("foo.rpm")).unwrap(),
        "built"
    );
    assert!(!stale.exists(), "stale staging dir left");
    let state: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(brt.basedir().join(name).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["status"], "ready");
    assert_eq!(
        state["imported_from"],
        path_str(&fs_err::canonicalize(&other).unwrap())
    );
}

#[test]
fn a_symlink_in_an_archive_resolves_inside_the_root() {
    require_root();
    use tar::EntryType::{Directory, Regular, Symlink};
    let brt = Brt::new();
    let host = tempfile::Builder::new()
        .prefix("brt-target-")
        .tempdir_in("/tmp")
        .unwrap();
    let host_dir = host.path().to_str().unwrap();
    let inside = host_dir.trim_start_matches('/');
    // The same path exists in the archive's own tree: the write lands there.
    let tar = brt.tmp.path().join("confined.tar");
    hostile_tar(
        &tar,
        &[
            ("tmp/", Directory, ""),
            (&format!("{inside}/"), Directory, ""),
            ("link", Symlink, host_dir),
            ("link/pwned", Regular, ""),
        ],
    );
    let name = "debian-bookworm-arm64";
    let out = brt.run(&["-r", name, "import", path_str(&tar)]);
    assert_ok(&out, "import");
    assert_eq!(
        files_below(host.path()),
        Vec::<PathBuf>::new(),
        "wrote into the host dir"
    );
    let root = brt.basedir().join(name).join("root");
    assert_eq!(
        fs_err::read_to_string(root.join(inside).join("pwned")).unwrap(),
        "pwned\n"
    );
}

#[test]
fn import_refuses_a_rootfs_for_another_arch() {
    require_root();
    let brt = Brt::new();
    let x86_64 = brt::arch::Arch::find("x86_64").unwrap();
    let aarch64 = brt::arch::Arch::find("aarch64").unwrap();
    let src = brt.tmp.path().join("rootfs");
    fs_err::create_dir_all(src.join("bin")).unwrap();
    fs_err::write(src.join("bin/sh"), x86_64.probe_elf()).unwrap();
    let out = brt.run(&["-r", "debian-bookworm-arm64", "import", path_str(&src)]);
    assert!(
        !out.status.success(),
        "an x86_64 rootfs became an arm64 root"
    );
    let err = stderr(&out);
    assert!(
        err.contains("`/bin/sh` in the rootfs is built for x86_64"),
        "{err}"
    );
    assert!(err.contains("is for aarch64"), "{err}");
    assert_eq!(listed_state(&brt, "debian-bookworm-arm64"), "absent");
    let out = brt.run(&["-r", "debian-bookworm-amd64", "import", path_str(&src)]);
    assert_ok(&out, "import under the right arch");

    // `/bin/sh -> /bin/busybox` is looked up inside the rootfs, not on the
    // host (whose busybox, if any, is not aarch64).
    let src = brt.tmp.path().join("arm64");
    fs_err::create_dir_all(src.join("bin")).unwrap();
    fs_err::write(src.join("bin/busybox"), aarch64.probe_elf()).unwrap();
    fs_err::os::unix::fs::symlink("/bin/busybox", src.join("bin/sh")).unwrap();
    let out = brt.run(&["-r", "debian-bookworm-arm64", "import", path_str(&src)]);
    assert_ok(&out, "import of an arm64 rootfs");
}

#[test]
fn a_terminated_import_exits_130_and_leaves_no_root() {
    use std::io::Write;
    require_root();
    let brt = Brt::new();
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    // Enough data that brt is well into the archive when it is stopped.
    let noise: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs_err::write(src.join("srv/noise"), noise).unwrap();
    let tar = brt.tmp.path().join("rootfs.tar");
    let status = Command::new("tar")
        .args(["-cf", path_str(&tar), "-C", path_str(&src), "."])
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = fs_err::read(&tar).unwrap();

    // The archive comes through a pipe that stops halfway: brt waits for
    // the rest when SIGTERM comes.
    let fifo = brt.tmp.path().join("rootfs-pipe.tar");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    let child = brt
        .cmd()
        .args(["-r", "debian-bookworm-arm64", "import", path_str(&fifo)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = fs_err::OpenOptions::new().write(true).open(&fifo).unwrap();
    // Returns once brt has read all but a pipe buffer of it.
    pipe.write_all(&bytes[..bytes.len() / 2]).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(pipe);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let dir = brt.basedir().join("debian-bookworm-arm64");
    assert!(!dir.join("root").exists(), "a root was left");
    assert_ne!(listed_state(&brt, "debian-bookworm-arm64"), "ready");
    let staging: Vec<_> = fs_err::read_dir(brt.basedir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    assert!(staging.is_empty(), "left behind: {staging:?}");
}

#[test]
fn a_terminated_export_exits_130_and_writes_nothing() {
    require_root();
    let brt = Brt::new();
    let src = brt.tmp.path().join("rootfs");
    build_rootfs(&src);
    let root = import_dir(&brt, "debian-bookworm-arm64", &src);
    // 64 GiB of holes: long to read and compress, nothing on disk.
    fs_err::File::create(root.join("srv/holes"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let out_dir = brt.tmp.path().join("out");
    fs_err::create_dir_all(&out_dir).unwrap();
    let file = out_dir.join("root.tar.zst");
    let child = brt
        .cmd()
        .args(["-r", "debian-bookworm-arm64", "export", path_str(&file)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // brt catches interrupts before it makes its temp output: once that is
    // there, the export is under way (and long from done).
    let temp = out_dir.join(format!(".root.tar.zst.brt-{}", child.id()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !temp.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("was not written"), "{}", stderr(&out));
    let left: Vec<_> = fs_err::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
