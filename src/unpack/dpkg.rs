//! dpkg's database for packages brt unpacked itself, written as dpkg's own
//! unpack phase leaves it, so the root's dpkg can take over with
//! `dpkg --configure -a`:
//!
//! - `/var/lib/dpkg/status`: each package `install ok unpacked`, with its
//!   conffiles marked `newconffile` (they were written as `NAME.dpkg-new`,
//!   and dpkg moves them into place when it configures the package);
//! - `/var/lib/dpkg/info/PKG.*`: the file list and every control file but
//!   `control` (maintainer scripts, `md5sums`, `conffiles`, `triggers`, ...);
//!   `PKG` is `name:arch` for `Multi-Arch: same` packages, as dpkg names them;
//! - `/var/lib/dpkg/triggers/`: the trigger interests the packages declare.
//!
//! All paths are relative to the root; the writer runs confined to it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::deb::ControlFiles;

/// Files that end up in `/var/lib/dpkg`, accumulated package by package.
#[derive(Debug)]
pub struct DpkgDb {
    admin: PathBuf,
    status: Vec<String>,
    /// File triggers: `path pkg[/noawait]` lines.
    file_triggers: Vec<String>,
    /// Explicit triggers: name → interested packages.
    named_triggers: BTreeMap<String, Vec<String>>,
}

/// The control fields dpkg keeps in `status` come from `control`; these
/// are the ones it adds or rewrites.
const OWN_FIELDS: [&str; 3] = ["Status", "Conffiles", "Config-Version"];

impl DpkgDb {
    /// `root` is `/` inside the confined process.
    pub fn new(root: &Path) -> io::Result<DpkgDb> {
        let admin = root.join("var/lib/dpkg");
        for dir in ["info", "updates", "triggers", "alternatives", "parts"] {
            fs_err::create_dir_all(admin.join(dir))?;
        }
        Ok(DpkgDb {
            admin,
            status: Vec::new(),
            file_triggers: Vec::new(),
            named_triggers: BTreeMap::new(),
        })
    }

    /// dpkg's name for a package's info files.
    pub fn info_name(name: &str, arch: &str, multi_arch_same: bool) -> String {
        if multi_arch_same {
            format!("{name}:{arch}")
        } else {
            name.to_string()
        }
    }

    /// Records one unpacked package: its control files and the paths its
    /// data archive held (relative, in archive order).
    pub fn add(&mut self, control: &ControlFiles, paths: &[PathBuf]) -> io::Result<()> {
        let text = control
            .control()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no `control` file"))?;
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
                .map(str::trim)
        };
        let name = field("Package")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no `Package` field"))?
            .to_string();
        let arch = field("Architecture").unwrap_or("all").to_string();
        let same = field("Multi-Arch") == Some("same");
        let info_name = DpkgDb::info_name(&name, &arch, same);
        let info = self.admin.join("info");

        // The file list: `/.` first, as dpkg writes it, then each member.
        let mut list = String::from("/.\n");
        for p in paths {
            let s = p.to_string_lossy();
            if !s.is_empty() && s != "." {
                list.push('/');
                list.push_str(s.trim_end_matches('/'));
                list.push('\n');
            }
        }
        write_file(
            &info.join(format!("{info_name}.list")),
            list.as_bytes(),
            0o644,
        )?;
        for f in &control.files {
            if f.name == "control" {
                continue;
            }
            let mode = if f.mode & 0o111 != 0 { 0o755 } else { 0o644 };
            write_file(&info.join(format!("{info_name}.{}", f.name)), &f.data, mode)?;
        }
        if let Some(t) = control.get("triggers") {
            self.add_interests(&info_name, &String::from_utf8_lossy(&t.data));
        }

        // The status paragraph: control fields, dpkg's own ones replaced.
        let mut para = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.starts_with([' ', '\t']) {
                if !skipping {
                    para.push_str(line);
                    para.push('\n');
                }
                continue;
            }
            let key = line.split(':').next().unwrap_or("");
            skipping = OWN_FIELDS.contains(&key);
            if skipping {
                continue;
            }
            para.push_str(line);
            para.push('\n');
            if key == "Package" {
                para.push_str("Status: install ok unpacked\n");
            }
        }
        let conffiles = control.conffiles();
        if !conffiles.is_empty() {
            para.push_str("Conffiles:\n");
            for c in conffiles {
                para.push_str(&format!(" {c} newconffile\n"));
            }
        }
        self.status.push(para);
        Ok(())
    }

    fn add_interests(&mut self, pkg: &str, triggers: &str) {
        for line in triggers.lines() {
            let mut words = line.split_whitespace();
            let (Some(directive), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            let suffix = match directive {
                "interest" | "interest-await" => "",
                "interest-noawait" => "/noawait",
                _ => continue, // activate*: nothing to record at install
            };
            if name.starts_with('/') {
                self.file_triggers.push(format!("{name} {pkg}{suffix}"));
            } else {
                self.named_triggers
                    .entry(name.to_string())
                    .or_default()
                    .push(format!("{pkg}{suffix}"));
            }
        }
    }

    /// Writes `status`, `available` and the trigger files. Call once, after
    /// the last [`DpkgDb::add`].
    pub fn finish(self) -> io::Result<()> {
        let status = self.status.join("\n");
        write_file(&self.admin.join("status"), status.as_bytes(), 0o644)?;
        let available = self.admin.join("available");
        if !available.exists() {
            write_file(&available, b"", 0o644)?;
        }
        let triggers = self.admin.join("triggers");
        if !self.file_triggers.is_empty() {
            let mut text = self.file_triggers.join("\n");
            text.push('\n');
            write_file(&triggers.join("File"), text.as_bytes(), 0o644)?;
        }
        for (name, pkgs) in &self.named_triggers {
            let mut text = pkgs.join("\n");
            text.push('\n');
            write_file(&triggers.join(name), text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = fs_err::File::create(path)?;
    f.write_all(data)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::deb::ControlFile;
    use super::*;

    fn control(files: &[(&str, &str, u32)]) -> ControlFiles {
        ControlFiles {
            files: files
                .iter()
                .map(|(n, d, m)| ControlFile {
                    name: n.to_string(),
                    data: d.as_bytes().to_vec(),
                    mode: *m,
                })
                .collect(),
        }
    }

    #[test]
    fn writes_what_dpkg_unpack_would() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = DpkgDb::new(dir.path()).unwrap();
        let libc = control(&[
            (
                "control",
                "Package: libc6\nVersion: 2.36-9\nArchitecture: arm64\nMulti-Arch: same\nDescription: GNU C Library\n multi line\n",
                0o644,
            ),
            ("postinst", "#!/bin/sh\n", 0o755),
            ("triggers", "activate-noawait ldconfig\n", 0o644),
        ]);
        db.add(
            &libc,
            &[
                PathBuf::from("."),
                PathBuf::from("usr"),
                PathBuf::from("usr/lib/x"),
            ],
        )
        .unwrap();
        let bin = control(&[
            (
                "control",
                "Package: libc-bin\nVersion: 2.36-9\nArchitecture: arm64\n",
                0o644,
            ),
            ("conffiles", "/etc/ld.so.conf\n", 0o644),
            (
                "triggers",
                "interest-noawait ldconfig\ninterest /usr/share/man\n",
                0o644,
            ),
        ]);
        db.add(&bin, &[PathBuf::from("etc/ld.so.conf")]).unwrap();
        db.finish().unwrap();

        let admin = dir.path().join("var/lib/dpkg");
        let status = fs_err::read_to_string(admin.join("status")).unwrap();
        assert_eq!(
            status,
            "Package: libc6\nStatus: install ok unpacked\nVersion: 2.36-9\nArchitecture: arm64\n\
             Multi-Arch: same\nDescription: GNU C Library\n multi line\n\n\
             Package: libc-bin\nStatus: install ok unpacked\nVersion: 2.36-9\nArchitecture: arm64\n\
             Conffiles:\n /etc/ld.so.conf newconffile\n"
        );
        assert_eq!(
            fs_err::read_to_string(admin.join("info/libc6:arm64.list")).unwrap(),
            "/.\n/usr\n/usr/lib/x\n"
        );
        let postinst = admin.join("info/libc6:arm64.postinst");
        assert_eq!(
            fs_err::metadata(&postinst).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(!admin.join("info/libc6:arm64.control").exists());
        assert_eq!(
            fs_err::read_to_string(admin.join("triggers/ldconfig")).unwrap(),
            "libc-bin/noawait\n"
        );
        assert_eq!(
            fs_err::read_to_string(admin.join("triggers/File")).unwrap(),
            "/usr/share/man libc-bin\n"
        );
    }
}
