//! The root's rpm database, written and read natively (issue 12): the
//! sqlite `rpmdb.sqlite` of rpm 4.16 and later, exactly as the root's own
//! `rpm -i --justdb --noorder` under emulation would write it (the format,
//! checked byte for byte against rpm 4.18: docs/research/rpmdb-sqlite.md).
//!
//! - [`Registration::prepare`] makes, for each package in install order,
//!   the header rpm stores (the package's own header, then the signature
//!   tags and install-time tags rpm appends) and its index rows.
//! - [`Registration::write`] appends them to the root's database (made if
//!   it is not there yet; the keys `rpmkeys --import` put there first stay
//!   first), from a process confined to the root, and leaves the database
//!   in rollback-journal mode (rpm turns it to WAL on its next write).
//! - [`installed`] lists what a root has, as `rpm -qa` would.
//!
//! Where the root's rpm keeps its database and its transaction colour come
//! from the root's macro files ([`macros`]). A root whose rpm uses another
//! backend, a macro brt cannot expand, an rpm outside the versions checked
//! (4.16–4.20) or a package header this writer would not reproduce exactly
//! is left to the root's rpm, with one line saying why.

pub mod header;
pub mod index;
mod macros;

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};

use self::header::{Header, InstallTags, Package, tag};
use self::index::{Row, TABLES};
use crate::root::confined::{self, ConfinedError};
use crate::version::rpm::Evr;

/// The database file in `%_dbpath`.
const FILE: &str = "rpmdb.sqlite";

/// Where and how the root's rpm keeps its database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Location {
    /// `%_dbpath`, inside the root.
    pub dbpath: String,
    /// `%_transaction_color`.
    pub color: u32,
}

impl Location {
    /// Reads the root's macros; `Err` says why brt cannot use its
    /// database. Confined to `root`.
    pub fn find(root: &Path, arch: &str) -> Result<Result<Location, String>, ConfinedError> {
        let arch = arch.to_string();
        in_root(root, move || Location::here(&arch))
    }

    /// [`Location::find`] from inside the root.
    fn here(arch: &str) -> Result<Location, String> {
        let [dbpath, backend, color] =
            macros::lookup(arch, &["_dbpath", "_db_backend", "_transaction_color"])
                .try_into()
                .map_err(|_| "macros".to_string())?;
        match backend.as_deref() {
            Some("sqlite") => {}
            Some(other) => return Err(format!("the root's rpm uses the `{other}` database")),
            None => return Err("the root's rpm names no database backend brt can read".into()),
        }
        let dbpath = dbpath
            .filter(|p| p.starts_with('/'))
            .ok_or("the root's `%_dbpath` is not a plain path")?;
        let color = match color {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| format!("the root's `%_transaction_color` is `{c}`"))?,
        };
        Ok(Location { dbpath, color })
    }
}

/// Whether brt writes databases for rpm `version` (`4.18.0`): the sqlite
/// format it writes was checked for 4.16 to 4.20.
pub fn supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    matches!(
        (parts.next(), parts.next()),
        (Some(Some(4)), Some(Some(16..=20)))
    )
}

/// One package as the database holds it.
#[derive(Clone)]
struct Entry {
    blob: Vec<u8>,
    rows: Vec<Row>,
}

/// The packages of one transaction, ready to be written.
pub struct Registration {
    pub location: Location,
    entries: Vec<Entry>,
}

/// A transaction's id and its packages' install times, as rpm dates them.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub tid: u32,
    /// What each package adds to the install time: rpm counts up by one
    /// per package under `SOURCE_DATE_EPOCH`, else it reads the clock.
    pub step: u32,
}

impl Clock {
    /// `SOURCE_DATE_EPOCH` when brt has it (rpm honours it, and brt passes
    /// it on to the root's rpm), else now.
    pub fn now() -> Clock {
        match crate::root::rpm::source_date_epoch() {
            Some(tid) => Clock { tid, step: 1 },
            None => Clock {
                tid: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as u32),
                step: 0,
            },
        }
    }
}

impl Registration {
    /// The headers and rows of `packages` (files, in install order), or why
    /// one cannot be written natively (`name: reason`).
    pub fn prepare(
        location: Location,
        packages: &[(String, PathBuf)],
        clock: Clock,
    ) -> Result<Registration, String> {
        let mut entries = Vec::with_capacity(packages.len());
        for (i, (name, path)) in packages.iter().enumerate() {
            let why = |e: &dyn std::fmt::Display| format!("{name}: {e}");
            let mut file = std::io::BufReader::new(File::open(path).map_err(|e| why(&e))?);
            let pkg = Package::read(&mut file).map_err(|e| why(&e))?;
            let install = InstallTags {
                tid: clock.tid,
                time: clock.tid.wrapping_add(clock.step.wrapping_mul(i as u32)),
                color: location.color,
            };
            let h = header::installed_header(&pkg, install).map_err(|e| why(&e))?;
            entries.push(Entry {
                rows: index::rows(&h),
                blob: h.bytes().to_vec(),
            });
        }
        Ok(Registration { location, entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the packages to the root's database, from a process confined
    /// to `root`.
    pub fn write(self, root: &Path) -> Result<(), ConfinedError> {
        confined::run(root, move || write_at(Path::new("/"), &self))
    }
}

/// Wraps a key as rpm binds it: text for the string tables, else a blob.
struct Key<'a>(&'a [u8], bool);

impl rusqlite::ToSql for Key<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(if self.1 {
            ValueRef::Text(self.0)
        } else {
            ValueRef::Blob(self.0)
        }))
    }
}

/// rpm's schema (`init_table`, `init_index` in `backend/sqlite.c`).
fn create_tables(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)",
    )?;
    for t in TABLES {
        db.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS '{0}' (key '{1}' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
            t.name,
            if t.text { "TEXT" } else { "BLOB" }
        ))?;
        if t.text {
            db.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS '{0}_key_idx' ON '{0}'(key ASC)",
                t.name
            ))?;
        }
        if t.array {
            db.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS '{0}_hnum_idx' ON '{0}'(hnum ASC)",
                t.name
            ))?;
        }
    }
    Ok(())
}

/// Writes the database under `base` (`/` in a process confined to the
/// root).
fn write_at(base: &Path, reg: &Registration) -> Result<(), Box<dyn std::error::Error>> {
    let dir = &base.join(reg.location.dbpath.trim_start_matches('/'));
    if !dir.is_dir() {
        fs_err::create_dir_all(dir)?;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    let path = dir.join(FILE);
    let new = !path.exists();
    let mut db = Connection::open(&path)?;
    if new {
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    // Rollback journal: readable by anyone without WAL side files (a
    // database `rpmkeys --import` made in WAL mode is turned back).
    db.pragma_update(None, "journal_mode", "DELETE")?;
    db.pragma_update(None, "synchronous", "OFF")?;
    db.pragma_update(None, "secure_delete", "OFF")?;
    create_tables(&db)?;
    let tx = db.transaction()?;
    {
        let mut add_pkg = tx.prepare("INSERT OR REPLACE INTO 'Packages' VALUES(?, ?)")?;
        let mut add_row: Vec<rusqlite::Statement> = TABLES
            .iter()
            .map(|t| tx.prepare(&format!("INSERT INTO '{}' VALUES(?, ?, ?)", t.name)))
            .collect::<Result<_, _>>()?;
        for e in &reg.entries {
            add_pkg.execute(params![Option::<i64>::None, e.blob])?;
            let hnum = tx.last_insert_rowid();
            for r in &e.rows {
                add_row[r.table].execute(params![
                    Key(&r.key, TABLES[r.table].text),
                    hnum,
                    r.idx
                ])?;
            }
        }
    }
    tx.commit()?;
    db.close().map_err(|(_, e)| e)?;
    // rpm makes its lock file next to the database on its first write.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(dir.join(".rpm.lock"))?;
    Ok(())
}

/// One installed package, as `rpm -qa` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nevra {
    pub name: String,
    pub arch: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
}

impl Nevra {
    fn of(h: &Header) -> Option<Nevra> {
        Some(Nevra {
            name: h.string(tag::NAME)?,
            arch: h.string(tag::ARCH).unwrap_or_default(),
            epoch: h.u32s(tag::EPOCH).first().copied().unwrap_or(0),
            version: h.string(tag::VERSION)?,
            release: h.string(tag::RELEASE)?,
        })
    }

    pub fn evr(&self) -> Evr {
        Evr::new(Some(self.epoch.into()), &self.version, Some(&self.release))
    }
}

/// Every package in the root's database, in its order (keys included, as
/// `gpg-pubkey`), read natively from a process confined to `root`; `Ok(Err)`
/// says why the database cannot be read natively.
pub fn installed(root: &Path, arch: &str) -> Result<Result<Vec<Nevra>, String>, ConfinedError> {
    let arch = arch.to_string();
    in_root(root, move || {
        Location::here(&arch)
            .and_then(|l| read_here_at(Path::new("/"), &l).map_err(|e| e.to_string()))
    })
}

/// What `f` finds, run in a process confined to `root` (its answer comes
/// back as JSON); `Ok(Err)` says why it found nothing usable.
fn in_root<T, F>(root: &Path, f: F) -> Result<Result<T, String>, ConfinedError>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: FnOnce() -> Result<T, String>,
{
    let (child, mut pipe) = confined::spawn_writer(root, move |mut out| {
        serde_json::to_writer(&mut out, &f())?;
        out.flush()?;
        Ok(())
    })?;
    let mut text = String::new();
    let read = pipe.read_to_string(&mut text);
    child.wait()?;
    Ok(read
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str(&text).map_err(|e| e.to_string()))
        .and_then(|found| found))
}

/// Reads the database under `base` (`/` in a process confined to the root).
fn read_here_at(
    base: &Path,
    location: &Location,
) -> Result<Vec<Nevra>, Box<dyn std::error::Error>> {
    let path = base
        .join(location.dbpath.trim_start_matches('/'))
        .join(FILE);
    if !path.is_file() {
        return Err(format!("no `{}` in the root", path.display()).into());
    }
    let db = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut q = db.prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum")?;
    let mut rows = q.query([])?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        let hnum: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        let h = Header::parse(blob).map_err(|e| format!("package {hnum}: {e}"))?;
        all.push(Nevra::of(&h).ok_or(format!("package {hnum} has no name or version"))?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests;
