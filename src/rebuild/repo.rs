//! The local repository a rebuild fills: the binary packages its builds
//! made, with metadata written natively.
//!
//! - RPM: rpm-md (`repodata/repomd.xml` and a gzipped `primary.xml` that
//!   lists every file), usable afterwards as `[[repo]] baseurl =
//!   ["file:///…/repo/"]` with `gpgcheck = false` (the packages are
//!   unsigned builds of this host).
//! - Debian: a flat repository, `Packages` (each `.deb`'s control fields
//!   with `Filename`, `Size`, `SHA256`) and an unsigned `Release`, which
//!   apt takes as `deb [trusted=yes] file:/…/repo ./`.
//!
//! Writers hold `repo.lock` (several builds finish at once, also on other
//! nodes of a cluster sharing the directory); a reader sees the previous
//! `repomd.xml` or the new one, never half of one (it is renamed into
//! place after the data it names).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rpm::{Dependency, DependencyFlags, PackageMetadata};
use sha2::{Digest, Sha256};

/// Adds `packages` (binary ones: `.rpm` but not `.src.rpm`, `.deb`) to
/// the repository in `dir` and rewrites its metadata, under its lock.
pub fn publish(dir: &Path, packages: &[PathBuf]) -> io::Result<()> {
    fs_err::create_dir_all(dir)?;
    let lock = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("repo.lock"))?;
    let _held = nix::fcntl::Flock::lock(lock.into_parts().0, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io::Error::from(e))?;
    let wanted = |p: &&PathBuf| is_binary_rpm(p) || is_deb(p);
    for p in packages.iter().filter(wanted) {
        let name = p
            .file_name()
            .ok_or_else(|| io::Error::other("no file name"))?;
        let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
        fs_err::copy(p, &tmp)?;
        fs_err::rename(&tmp, dir.join(name))?;
    }
    if packages.iter().any(|p| is_deb(p)) {
        write_packages(dir)
    } else {
        fs_err::create_dir_all(dir.join("repodata"))?;
        write_metadata(dir)
    }
}

fn is_deb(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "deb")
}

/// Rewrites `Packages` and `Release` for every `.deb` in `dir`.
fn write_packages(dir: &Path) -> io::Result<()> {
    let mut text = String::new();
    for deb in files_in(dir, is_deb)? {
        let bytes = fs_err::read(&deb)?;
        let (control, ()) =
            crate::unpack::deb::read_deb(&bytes[..], |_, _| Ok::<(), io::Error>(()))
                .map_err(|e| io::Error::other(format!("`{}`: {e}", deb.display())))?;
        let fields = control
            .files
            .iter()
            .find(|f| f.name == "control")
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .ok_or_else(|| io::Error::other(format!("`{}` has no control file", deb.display())))?;
        let name = deb.file_name().unwrap_or_default().to_string_lossy();
        text.push_str(fields.trim_end());
        text.push_str(&format!(
            "\nFilename: ./{name}\nSize: {}\nSHA256: {}\n\n",
            bytes.len(),
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    write_new(&dir.join("Packages"), text.as_bytes())?;
    let release = format!(
        "Origin: brt rebuild\nLabel: brt rebuild\nSHA256:\n {} {} Packages\n",
        hex::encode(Sha256::digest(text.as_bytes())),
        text.len()
    );
    write_new(&dir.join("Release"), release.as_bytes())
}

/// The local Debian repository in `dir` as an install takes it (empty if
/// nothing was published there yet).
pub fn deb_local(dir: &Path) -> io::Result<crate::root::deb::install::Local> {
    let dir = std::path::absolute(dir)?;
    let index = dir.join("Packages");
    let packages = if index.exists() {
        let text = fs_err::read_to_string(&index)?;
        crate::repo::apt::parse_packages(&text, &index.display().to_string())
            .map_err(io::Error::other)?
    } else {
        Vec::new()
    };
    Ok(crate::root::deb::install::Local {
        url: format!("file://{}", dir.display()),
        packages,
    })
}

fn is_binary_rpm(p: &Path) -> bool {
    let n = p.to_string_lossy();
    n.ends_with(".rpm") && !n.ends_with(".src.rpm")
}

/// The binary packages in `dir` (none if it does not exist yet).
pub fn packages_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    files_in(dir, is_binary_rpm)
}

/// The files of `dir` that `kind` takes (not those being written, whose
/// names start with `.`), sorted.
fn files_in(dir: &Path, kind: fn(&Path) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            kind(p)
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Rewrites `repodata/` for every binary package in `dir`.
pub fn write_metadata(dir: &Path) -> io::Result<()> {
    let packages = packages_in(dir)?;
    let mut xml = Writer::new_with_indent(Vec::new(), b' ', 2);
    let w = &mut xml;
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("metadata");
    root.push_attribute(("xmlns", "http://linux.duke.edu/metadata/common"));
    root.push_attribute(("xmlns:rpm", "http://linux.duke.edu/metadata/rpm"));
    root.push_attribute(("packages", packages.len().to_string().as_str()));
    w.write_event(Event::Start(root))?;
    for p in &packages {
        package(w, dir, p)?;
    }
    w.write_event(Event::End(BytesEnd::new("metadata")))?;
    let open = xml.into_inner();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&open)?;
    let packed = gz.finish()?;
    let sum = hex::encode(Sha256::digest(&packed));
    let href = format!("repodata/{sum}-primary.xml.gz");
    write_new(&dir.join(&href), &packed)?;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let repomd = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>{timestamp}</revision>
  <data type="primary">
    <checksum type="sha256">{sum}</checksum>
    <open-checksum type="sha256">{open_sum}</open-checksum>
    <location href="{href}"/>
    <timestamp>{timestamp}</timestamp>
    <size>{size}</size>
    <open-size>{open_size}</open-size>
  </data>
</repomd>
"#,
        open_sum = hex::encode(Sha256::digest(&open)),
        size = packed.len(),
        open_size = open.len(),
    );
    write_new(&dir.join("repodata/repomd.xml"), repomd.as_bytes())?;
    // Older primaries are no longer named.
    for e in fs_err::read_dir(dir.join("repodata"))?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with("-primary.xml.gz") && format!("repodata/{n}") != href {
            let _ = fs_err::remove_file(e.path());
        }
    }
    Ok(())
}

/// Writes `path` through a temporary file renamed into place.
fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs_err::write(&tmp, data)?;
    fs_err::rename(&tmp, path)
}

fn text(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(value)))?;
    w.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}

fn empty(w: &mut Writer<Vec<u8>>, name: &str, attrs: &[(&str, &str)]) -> io::Result<()> {
    let mut el = BytesStart::new(name);
    for a in attrs {
        el.push_attribute(*a);
    }
    w.write_event(Event::Empty(el))?;
    Ok(())
}

/// One `<package>` of `primary.xml`.
fn package(w: &mut Writer<Vec<u8>>, dir: &Path, path: &Path) -> io::Result<()> {
    let bad = |e: rpm::Error| io::Error::other(format!("`{}`: {e}", path.display()));
    let m = PackageMetadata::open(path).map_err(bad)?;
    let bytes = fs_err::read(path)?;
    let sum = hex::encode(Sha256::digest(&bytes));
    let epoch = m.get_epoch().unwrap_or(0).to_string();
    let mut el = BytesStart::new("package");
    el.push_attribute(("type", "rpm"));
    w.write_event(Event::Start(el))?;
    text(w, "name", m.get_name().map_err(bad)?)?;
    text(w, "arch", m.get_arch().map_err(bad)?)?;
    empty(
        w,
        "version",
        &[
            ("epoch", &epoch),
            ("ver", m.get_version().map_err(bad)?),
            ("rel", m.get_release().map_err(bad)?),
        ],
    )?;
    let mut c = BytesStart::new("checksum");
    c.push_attribute(("type", "sha256"));
    c.push_attribute(("pkgid", "YES"));
    w.write_event(Event::Start(c))?;
    w.write_event(Event::Text(BytesText::new(&sum)))?;
    w.write_event(Event::End(BytesEnd::new("checksum")))?;
    text(w, "summary", m.get_summary().unwrap_or_default())?;
    text(w, "description", m.get_description().unwrap_or_default())?;
    let build_time = m.get_build_time().unwrap_or(0).to_string();
    empty(w, "time", &[("file", &build_time), ("build", &build_time)])?;
    let installed = m.get_installed_size().unwrap_or(0).to_string();
    empty(
        w,
        "size",
        &[
            ("package", &bytes.len().to_string()),
            ("installed", &installed),
            ("archive", "0"),
        ],
    )?;
    let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy();
    empty(w, "location", &[("href", &rel)])?;
    w.write_event(Event::Start(BytesStart::new("format")))?;
    text(w, "rpm:license", m.get_license().unwrap_or_default())?;
    text(w, "rpm:sourcerpm", m.get_source_rpm().unwrap_or_default())?;
    let lists: [(&str, Result<Vec<Dependency>, rpm::Error>); 7] = [
        ("rpm:provides", m.get_provides()),
        ("rpm:requires", m.get_requires()),
        ("rpm:conflicts", m.get_conflicts()),
        ("rpm:obsoletes", m.get_obsoletes()),
        ("rpm:recommends", m.get_recommends()),
        ("rpm:suggests", m.get_suggests()),
        ("rpm:supplements", m.get_supplements()),
    ];
    for (tag, deps) in lists {
        let deps: Vec<Dependency> = deps
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !d.flags.contains(DependencyFlags::RPMLIB))
            .collect();
        if deps.is_empty() {
            continue;
        }
        w.write_event(Event::Start(BytesStart::new(tag)))?;
        for d in &deps {
            entry(w, d, tag == "rpm:requires")?;
        }
        w.write_event(Event::End(BytesEnd::new(tag)))?;
    }
    for f in m.get_file_paths().unwrap_or_default() {
        text(w, "file", &f.to_string_lossy())?;
    }
    w.write_event(Event::End(BytesEnd::new("format")))?;
    w.write_event(Event::End(BytesEnd::new("package")))?;
    Ok(())
}

/// `<rpm:entry name flags epoch ver rel [pre]/>`.
fn entry(w: &mut Writer<Vec<u8>>, d: &Dependency, requires: bool) -> io::Result<()> {
    let sense =
        d.flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    let flags = match sense {
        s if s == DependencyFlags::EQUAL => Some("EQ"),
        s if s == DependencyFlags::LESS => Some("LT"),
        s if s == DependencyFlags::GREATER => Some("GT"),
        s if s == DependencyFlags::LE => Some("LE"),
        s if s == DependencyFlags::GE => Some("GE"),
        _ => None,
    };
    let mut el = BytesStart::new("rpm:entry");
    el.push_attribute(("name", d.name.as_str()));
    if let (Some(flags), false) = (flags, d.version.is_empty()) {
        let (epoch, rest) = match d.version.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e, r),
            _ => ("0", d.version.as_str()),
        };
        let (ver, rel) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        el.push_attribute(("flags", flags));
        el.push_attribute(("epoch", epoch));
        el.push_attribute(("ver", ver));
        if let Some(rel) = rel {
            el.push_attribute(("rel", rel));
        }
    }
    let pre = DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
    if requires && d.flags.intersects(pre) {
        el.push_attribute(("pre", "1"));
    }
    w.write_event(Event::Empty(el))?;
    Ok(())
}
