//! `primary.xml`: every package of a repository with its dependencies and
//! the files rpm-md lists there; and `filelists.xml`, every file of every
//! package, read only when a file dependency needs it.

use std::collections::HashMap;
use std::io::BufRead;

use super::xml::{Element, Item, Pull, XmlError};
use super::{RpmDep, RpmPackage};
use crate::version::rpm::{Evr, Flags};

/// Reads `primary.xml`, keeping the packages `keep(arch)` accepts (source
/// packages are never kept). `repo` is recorded in each package.
pub fn read_primary(
    input: impl BufRead,
    origin: &str,
    repo: usize,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<RpmPackage>, XmlError> {
    let mut pull = Pull::new(input, origin);
    let mut out = Vec::new();
    let mut seen_root = false;
    loop {
        match pull.next()? {
            Item::Start(el) if el.name == "metadata" => seen_root = true,
            Item::Start(el) if el.name == "package" => {
                if let Some(pkg) = package(&mut pull, &el, repo)?
                    && pkg.arch != "src"
                    && pkg.arch != "nosrc"
                    && keep(&pkg.arch)
                {
                    out.push(pkg);
                }
            }
            Item::Start(el) => pull.skip(&el)?,
            Item::End(_) => {}
            Item::Eof => break,
        }
    }
    if !seen_root {
        return Err(pull.error("there is no `<metadata>` element"));
    }
    Ok(out)
}

fn package<R: BufRead>(
    pull: &mut Pull<R>,
    start: &Element,
    repo: usize,
) -> Result<Option<RpmPackage>, XmlError> {
    if start.empty {
        return Ok(None);
    }
    let mut pkg = RpmPackage {
        name: String::new(),
        arch: String::new(),
        evr: Evr::new(None, "", None),
        repo,
        location: String::new(),
        size: 0,
        sha256: String::new(),
        provides: Vec::new(),
        requires: Vec::new(),
        conflicts: Vec::new(),
        obsoletes: Vec::new(),
        recommends: Vec::new(),
        suggests: Vec::new(),
        supplements: Vec::new(),
        enhances: Vec::new(),
        files: Vec::new(),
    };
    let mut checksum_kind = String::new();
    let mut list: Option<String> = None;
    loop {
        match pull.next()? {
            Item::Start(el) => match el.name.as_str() {
                "name" => pkg.name = pull.text(&el)?,
                "arch" => pkg.arch = pull.text(&el)?,
                "version" => pkg.evr = evr(&el).unwrap_or_else(|| Evr::new(None, "", None)),
                "checksum" => {
                    checksum_kind = el.attr("type").unwrap_or_default().to_string();
                    pkg.sha256 = pull.text(&el)?.trim().to_ascii_lowercase();
                }
                "size" => pkg.size = el.attr("package").and_then(|s| s.parse().ok()).unwrap_or(0),
                "location" => {
                    let href = el.attr("href").unwrap_or_default();
                    pkg.location = match el.attr("base") {
                        Some(base) => format!("{}/{href}", base.trim_end_matches('/')),
                        None => href.to_string(),
                    };
                }
                "format" => {}
                "provides" | "requires" | "conflicts" | "obsoletes" | "recommends" | "suggests"
                | "supplements" | "enhances"
                    if !el.empty =>
                {
                    list = Some(el.name.clone())
                }
                "entry" => {
                    if let Some(kind) = &list {
                        let dep = entry(&el);
                        match kind.as_str() {
                            "provides" => pkg.provides.push(dep),
                            "requires" => pkg.requires.push(dep),
                            "conflicts" => pkg.conflicts.push(dep),
                            "obsoletes" => pkg.obsoletes.push(dep),
                            "recommends" => pkg.recommends.push(dep),
                            "suggests" => pkg.suggests.push(dep),
                            "supplements" => pkg.supplements.push(dep),
                            _ => pkg.enhances.push(dep),
                        }
                    }
                }
                "file" => pkg.files.push(pull.text(&el)?),
                _ => pull.skip(&el)?,
            },
            Item::End(name) => match name.as_str() {
                "package" => break,
                "provides" | "requires" | "conflicts" | "obsoletes" | "recommends" | "suggests"
                | "supplements" | "enhances" => list = None,
                _ => {}
            },
            Item::Eof => return Err(pull.error("a `<package>` is not closed")),
        }
    }
    if pkg.name.is_empty() || pkg.location.is_empty() {
        return Err(pull.error("a package has no name or location"));
    }
    let checksum_kind = if checksum_kind == "sha" {
        "sha1"
    } else {
        &checksum_kind
    };
    if checksum_kind != "sha256" {
        return Err(pull.error(format!(
            "package `{}` has a `{checksum_kind}` checksum; brt verifies packages by SHA-256 only",
            pkg.name
        )));
    }
    // rpm drops a requirement a package satisfies itself (e.g. on its own
    // files); repodata keeps only the `pre` ones, which resolve the same.
    Ok(Some(pkg))
}

fn evr(el: &Element) -> Option<Evr> {
    let ver = el.attr("ver")?;
    let epoch = el.attr("epoch").and_then(|e| e.parse().ok());
    Some(Evr::new(epoch, ver, el.attr("rel")))
}

fn entry(el: &Element) -> RpmDep {
    RpmDep {
        name: el.attr("name").unwrap_or_default().to_string(),
        flags: el.attr("flags").and_then(Flags::from_repodata),
        evr: evr(el),
        pre: matches!(el.attr("pre"), Some("1" | "true")),
    }
}

/// Reads `filelists.xml` and adds every listed file to the package of
/// `packages` with the same `pkgid` (SHA-256); files already known are not
/// repeated.
pub fn read_filelists(
    input: impl BufRead,
    origin: &str,
    packages: &mut [RpmPackage],
) -> Result<(), XmlError> {
    let by_id: HashMap<String, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.sha256.clone(), i))
        .collect();
    let mut pull = Pull::new(input, origin);
    let mut current: Option<usize> = None;
    let mut seen_root = false;
    loop {
        match pull.next()? {
            Item::Start(el) => match el.name.as_str() {
                "filelists" => seen_root = true,
                "package" => {
                    current = el
                        .attr("pkgid")
                        .and_then(|id| by_id.get(&id.to_ascii_lowercase()).copied())
                }
                "file" => {
                    let path = pull.text(&el)?;
                    if let Some(i) = current
                        && !packages[i].files.contains(&path)
                    {
                        packages[i].files.push(path);
                    }
                }
                _ => pull.skip(&el)?,
            },
            Item::End(name) if name == "package" => current = None,
            Item::End(_) => {}
            Item::Eof => break,
        }
    }
    if !seen_root {
        return Err(pull.error("there is no `<filelists>` element"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As createrepo_c writes it (abridged from Fedora's bash entry).
    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="3">
<package type="rpm">
  <name>bash</name>
  <arch>aarch64</arch>
  <version epoch="0" ver="5.2.37" rel="1.fc42"/>
  <checksum type="sha256" pkgid="YES">ABCDEF</checksum>
  <summary>The GNU Bourne Again shell &amp; more</summary>
  <description>The GNU Bourne Again shell (Bash) is a shell &lt;sh&gt;.</description>
  <packager>Fedora Project</packager>
  <url>https://www.gnu.org/software/bash</url>
  <time file="1732600000" build="1732500000"/>
  <size package="1851234" installed="8441234" archive="8460000"/>
  <location href="Packages/b/bash-5.2.37-1.fc42.aarch64.rpm"/>
  <format>
    <rpm:license>GPL-3.0-or-later</rpm:license>
    <rpm:sourcerpm>bash-5.2.37-1.fc42.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="38405"/>
    <rpm:provides>
      <rpm:entry name="/bin/sh"/>
      <rpm:entry name="bash" flags="EQ" epoch="0" ver="5.2.37" rel="1.fc42"/>
      <rpm:entry name="bash(aarch-64)" flags="EQ" epoch="0" ver="5.2.37" rel="1.fc42"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="filesystem" flags="GE" epoch="0" ver="3" pre="1"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="(glibc-langpack-en if glibc)"/>
    </rpm:requires>
    <rpm:obsoletes>
      <rpm:entry name="bash-old" flags="LT" epoch="1" ver="2"/>
    </rpm:obsoletes>
    <file>/etc/skel/.bashrc</file>
    <file type="dir">/etc/skel</file>
    <file>/usr/bin/bash</file>
  </format>
</package>
<package type="rpm">
  <name>bash</name>
  <arch>src</arch>
  <version epoch="0" ver="5.2.37" rel="1.fc42"/>
  <checksum type="sha256" pkgid="YES">0000</checksum>
  <location href="SRPMS/bash.src.rpm"/>
</package>
<package type="rpm">
  <name>tzdata</name>
  <arch>noarch</arch>
  <version epoch="0" ver="2026a" rel="1"/>
  <checksum type="sha256" pkgid="YES">1111</checksum>
  <location xml:base="http://other.example/os/" href="Packages/t/tzdata.rpm"/>
  <format/>
</package>
</metadata>"#;

    #[test]
    fn parses_createrepo_output() {
        let pkgs = read_primary(PRIMARY.as_bytes(), "primary.xml", 3, |a| a != "x86_64").unwrap();
        assert_eq!(pkgs.len(), 2, "the source package is dropped");
        let bash = &pkgs[0];
        assert_eq!(bash.nevra(), "bash-0:5.2.37-1.fc42.aarch64");
        assert_eq!(bash.repo, 3);
        assert_eq!(bash.sha256, "abcdef");
        assert_eq!(bash.size, 1851234);
        assert_eq!(bash.provides.len(), 3);
        let fs = &bash.requires[0];
        assert_eq!(
            (fs.name.as_str(), fs.flags, fs.pre),
            ("filesystem", Some(Flags::Ge), true)
        );
        assert_eq!(fs.evr.as_ref().unwrap().to_string(), "0:3");
        assert!(bash.requires[2].is_rich());
        assert_eq!(bash.obsoletes[0].evr.as_ref().unwrap().epoch, Some(1));
        assert_eq!(
            bash.files,
            ["/etc/skel/.bashrc", "/etc/skel", "/usr/bin/bash"]
        );
        assert_eq!(
            pkgs[1].location,
            "http://other.example/os/Packages/t/tzdata.rpm"
        );
    }

    #[test]
    fn filters_arches_and_refuses_other_checksums() {
        let none = read_primary(PRIMARY.as_bytes(), "p", 0, |a| a == "s390x").unwrap();
        assert!(none.is_empty());
        let md5 = PRIMARY.replace(
            r#"type="sha256" pkgid="YES">ABCDEF"#,
            r#"type="md5" pkgid="YES">ab"#,
        );
        let err = read_primary(md5.as_bytes(), "p", 0, |_| true).unwrap_err();
        assert!(err.to_string().contains("SHA-256 only"), "{err}");
        assert!(read_primary(&PRIMARY.as_bytes()[..900], "p", 0, |_| true).is_err());
    }

    #[test]
    fn filelists_add_files_by_pkgid() {
        let mut pkgs = read_primary(PRIMARY.as_bytes(), "p", 0, |_| true).unwrap();
        let filelists = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="abcdef" name="bash" arch="aarch64">
  <version epoch="0" ver="5.2.37" rel="1.fc42"/>
  <file>/usr/bin/bash</file>
  <file>/usr/share/doc/bash/README</file>
  <file type="dir">/usr/share/doc/bash</file>
</package>
<package pkgid="9999" name="other" arch="aarch64"><file>/x</file></package>
</filelists>"#;
        read_filelists(filelists.as_bytes(), "f", &mut pkgs).unwrap();
        assert_eq!(pkgs[0].files.len(), 5);
        assert!(
            pkgs[0]
                .files
                .contains(&"/usr/share/doc/bash/README".to_string())
        );
        assert!(pkgs[1].files.is_empty());
    }
}
