//! rpm headers as bytes: read from a package file, and the header rpm
//! stores for an installed package (docs/research/rpmdb-sqlite.md §3).
//!
//! Packages are untrusted input: every count, offset and length is checked
//! against the bytes there are, and anything this writer does not produce
//! exactly as rpm 4.18 would is refused (the caller lets the root's rpm
//! register the packages instead).

use std::io::{self, Read};

/// Header entry types (`rpmTagType`).
pub const CHAR: u32 = 1;
pub const INT8: u32 = 2;
pub const INT16: u32 = 3;
pub const INT32: u32 = 4;
pub const INT64: u32 = 5;
pub const STRING: u32 = 6;
pub const BIN: u32 = 7;
pub const STRING_ARRAY: u32 = 8;
pub const I18NSTRING: u32 = 9;

/// Tags this module reads or writes.
pub mod tag {
    pub const HEADERIMMUTABLE: u32 = 63;
    pub const SIGSIZE: u32 = 257;
    pub const SIGMD5: u32 = 261;
    pub const SHA1HEADER: u32 = 269;
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const INSTALLTIME: u32 = 1008;
    pub const GROUP: u32 = 1016;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILESTATES: u32 = 1029;
    pub const SOURCERPM: u32 = 1044;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIREFLAGS: u32 = 1048;
    pub const REQUIRENAME: u32 = 1049;
    pub const CONFLICTNAME: u32 = 1054;
    pub const TRIGGERNAME: u32 = 1066;
    pub const OBSOLETENAME: u32 = 1090;
    pub const PREFIXES: u32 = 1098;
    pub const INSTPREFIXES: u32 = 1099;
    pub const SOURCEPACKAGE: u32 = 1106;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const INSTALLCOLOR: u32 = 1127;
    pub const INSTALLTID: u32 = 1128;
    pub const RECOMMENDNAME: u32 = 5046;
    pub const SUGGESTNAME: u32 = 5049;
    pub const SUPPLEMENTNAME: u32 = 5052;
    pub const ENHANCENAME: u32 = 5055;
    pub const FILETRIGGERNAME: u32 = 5069;
    pub const FILETRIGGERINDEX: u32 = 5070;
    pub const TRANSFILETRIGGERNAME: u32 = 5079;
    pub const TRANSFILETRIGGERINDEX: u32 = 5080;
}

const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// rpm's limits on a header (`hdrblobVerifyInfo`).
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

/// Why a header cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("not an rpm package (bad lead)")]
    Lead,
    #[error("bad header: {0}")]
    Bad(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn bad(what: impl Into<String>) -> HeaderError {
    HeaderError::Bad(what.into())
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub tag: u32,
    pub kind: u32,
    pub offset: i32,
    pub count: u32,
}

/// A header as rpm exports it: `il`, `dl`, the index and the data, without
/// the 8-byte magic (what `Packages.blob` holds).
#[derive(Debug, Clone)]
pub struct Header {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Header {
    /// Checks `bytes` (`il`, `dl`, index, data) and indexes its entries.
    pub fn parse(bytes: Vec<u8>) -> Result<Header, HeaderError> {
        if bytes.len() < 8 {
            return Err(bad("shorter than its size fields"));
        }
        let (il, dl) = (be32(&bytes, 0) as usize, be32(&bytes, 4) as usize);
        if il > MAX_ENTRIES || dl > MAX_DATA || bytes.len() != 8 + 16 * il + dl {
            return Err(bad(format!(
                "{il} entries and {dl} data bytes in {} bytes",
                bytes.len()
            )));
        }
        let entries: Vec<Entry> = (0..il)
            .map(|i| {
                let at = 8 + 16 * i;
                Entry {
                    tag: be32(&bytes, at),
                    kind: be32(&bytes, at + 4),
                    offset: be32(&bytes, at + 8) as i32,
                    count: be32(&bytes, at + 12),
                }
            })
            .collect();
        let h = Header { bytes, entries };
        for e in h.entries.iter().filter(|e| e.tag != tag::HEADERIMMUTABLE) {
            h.payload(e)?;
        }
        Ok(h)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The bytes, as stored (without magic).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn data(&self) -> &[u8] {
        &self.bytes[8 + 16 * self.entries.len()..]
    }

    pub fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    /// The data bytes of `e` (strings with their NULs).
    pub fn payload(&self, e: &Entry) -> Result<&[u8], HeaderError> {
        let data = self.data();
        let start = usize::try_from(e.offset)
            .ok()
            .filter(|&o| o <= data.len())
            .ok_or_else(|| bad(format!("tag {} has offset {}", e.tag, e.offset)))?;
        let rest = &data[start..];
        let count = e.count as usize;
        let len = match e.kind {
            CHAR | INT8 | BIN => Some(count),
            INT16 => count.checked_mul(2),
            INT32 => count.checked_mul(4),
            INT64 => count.checked_mul(8),
            STRING | STRING_ARRAY | I18NSTRING => {
                let n = if e.kind == STRING { 1 } else { count };
                let mut end = 0;
                for _ in 0..n {
                    end += rest[end..]
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or_else(|| bad(format!("tag {}: unterminated string", e.tag)))?
                        + 1;
                }
                Some(end)
            }
            k => return Err(bad(format!("tag {} has type {k}", e.tag))),
        };
        len.filter(|&l| l <= rest.len())
            .map(|l| &rest[..l])
            .ok_or_else(|| bad(format!("tag {} runs past the data", e.tag)))
    }

    /// The strings of a string-class tag (a STRING gives one; an
    /// I18NSTRING its first, the C locale's); empty when absent.
    pub fn strings(&self, tag: u32) -> Vec<&[u8]> {
        let Some(e) = self.entry(tag) else {
            return Vec::new();
        };
        let Ok(p) = self.payload(e) else {
            return Vec::new();
        };
        let mut all: Vec<&[u8]> = p.split(|&b| b == 0).collect();
        all.pop();
        match e.kind {
            STRING | I18NSTRING => all.truncate(1),
            STRING_ARRAY => {}
            _ => return Vec::new(),
        }
        all
    }

    pub fn string(&self, tag: u32) -> Option<String> {
        self.strings(tag)
            .first()
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    /// The values of an INT32 tag; empty when absent.
    pub fn u32s(&self, tag: u32) -> Vec<u32> {
        match self.entry(tag) {
            Some(e) if e.kind == INT32 => self
                .payload(e)
                .map(|p| p.chunks_exact(4).map(|c| be32(c, 0)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Whether the header is one immutable region holding every entry, as
    /// `rpmReadPackageFile` requires of a package's main header.
    fn is_one_region(&self) -> bool {
        let Some(first) = self.entries.first() else {
            return false;
        };
        let il = self.entries.len() as i64;
        let data = self.data();
        let Ok(at) = usize::try_from(first.offset) else {
            return false;
        };
        first.tag == tag::HEADERIMMUTABLE
            && first.kind == BIN
            && first.count == 16
            && at + 16 == data.len()
            && be32(data, at) == tag::HEADERIMMUTABLE
            && i64::from(be32(data, at + 8) as i32) == -(il * 16)
    }
}

/// The signature header and the main header of a package file.
pub struct Package {
    pub signature: Header,
    pub main: Header,
}

fn read_header(r: &mut impl Read) -> Result<Header, HeaderError> {
    let mut head = [0u8; 16];
    r.read_exact(&mut head)?;
    if head[..8] != HEADER_MAGIC {
        return Err(bad("no header magic"));
    }
    let (il, dl) = (be32(&head, 8) as usize, be32(&head, 12) as usize);
    if il > MAX_ENTRIES || dl > MAX_DATA {
        return Err(bad(format!("{il} entries, {dl} data bytes")));
    }
    let mut bytes = head[8..].to_vec();
    bytes.resize(8 + 16 * il + dl, 0);
    r.read_exact(&mut bytes[8..])?;
    Header::parse(bytes)
}

impl Package {
    /// Reads the lead and both headers (not the payload).
    pub fn read(r: &mut impl Read) -> Result<Package, HeaderError> {
        let mut lead = [0u8; 96];
        r.read_exact(&mut lead)?;
        if lead[..4] != LEAD_MAGIC {
            return Err(HeaderError::Lead);
        }
        let signature = read_header(r)?;
        let pad = (8 - (signature.bytes.len() - 8) % 8) % 8;
        io::copy(&mut r.take(pad as u64), &mut io::sink())?;
        let main = read_header(r)?;
        Ok(Package { signature, main })
    }
}

/// What rpm adds to a header when it installs the package.
#[derive(Debug, Clone, Copy)]
pub struct InstallTags {
    /// The transaction's id (its start time).
    pub tid: u32,
    pub time: u32,
    /// `%_transaction_color`.
    pub color: u32,
}

/// `headerMergeLegacySigs`' table: signature tag, main header tag, type,
/// exact count (0: any), and whether the tag may be in the main header
/// instead.
const FROM_SIGNATURE: &[(u32, u32, u32, u32, bool)] = &[
    (1000, 257, INT32, 1, false),
    (1002, 259, BIN, 0, false),
    (1004, 261, BIN, 16, false),
    (1005, 262, BIN, 0, false),
    (1007, 1046, INT32, 1, true),
    (274, 5090, STRING_ARRAY, 0, true),
    (275, 5091, INT32, 1, true),
    (276, 276, STRING_ARRAY, 0, false),
    (277, 277, INT32, 1, false),
    (269, 269, STRING, 1, false),
    (273, 273, STRING, 1, false),
    (267, 267, BIN, 0, false),
    (268, 268, BIN, 0, false),
    (270, 270, INT64, 1, false),
    (271, 271, INT64, 1, false),
];

fn be_u32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// The header rpm 4.18's `rpm -i --justdb` stores for `pkg` (§3): the main
/// header's region verbatim, then the signature tags rpm copies and the
/// install-time tags, appended in tag order.
pub fn installed_header(pkg: &Package, install: InstallTags) -> Result<Header, HeaderError> {
    let main = &pkg.main;
    if !main.is_one_region() {
        return Err(HeaderError::Unsupported(
            "its header is not one immutable region (an rpm v3 package)".into(),
        ));
    }
    if main.has(tag::OLDFILENAMES) {
        return Err(HeaderError::Unsupported(
            "it lists its files in the old format".into(),
        ));
    }
    if !main.has(tag::SOURCERPM) && !main.has(tag::SOURCEPACKAGE) {
        return Err(HeaderError::Unsupported(
            "it names no source package".into(),
        ));
    }
    let mut added: Vec<(u32, u32, u32, Vec<u8>)> = Vec::new();
    for &(stag, xtag, kind, count, quirk) in FROM_SIGNATURE {
        let sig = pkg.signature.entry(stag);
        if main.has(xtag) {
            if quirk && sig.is_none() {
                continue;
            }
            return Err(HeaderError::Unsupported(format!(
                "tag {xtag} is in both of its headers"
            )));
        }
        let Some(e) = sig else { continue };
        if e.kind != kind
            || e.count < 1
            || e.count > 16 * 1024 * 1024
            || (count != 0 && e.count != count)
        {
            return Err(HeaderError::Unsupported(format!(
                "its signature tag {stag} has type {} and count {}",
                e.kind, e.count
            )));
        }
        added.push((xtag, kind, e.count, pkg.signature.payload(e)?.to_vec()));
    }
    for t in [
        tag::FILESTATES,
        tag::INSTALLTID,
        tag::INSTALLTIME,
        tag::INSTALLCOLOR,
    ] {
        if main.has(t) {
            return Err(HeaderError::Unsupported(format!(
                "its header already has install-time tag {t}"
            )));
        }
    }
    let files = main.entry(tag::BASENAMES).map_or(0, |e| e.count);
    if files > 0 {
        if let Some(p) = main.entry(tag::PREFIXES)
            && !main.has(tag::INSTPREFIXES)
        {
            added.push((
                tag::INSTPREFIXES,
                p.kind,
                p.count,
                main.payload(p)?.to_vec(),
            ));
        }
        added.push((tag::FILESTATES, CHAR, files, vec![0; files as usize]));
    }
    added.push((tag::INSTALLTID, INT32, 1, be_u32(install.tid)));
    added.push((tag::INSTALLTIME, INT32, 1, be_u32(install.time)));
    added.push((tag::INSTALLCOLOR, INT32, 1, be_u32(install.color)));
    added.sort_by_key(|a| a.0);

    let il0 = main.entries.len();
    let mut data = main.data().to_vec();
    let mut index = main.bytes[8..8 + 16 * il0].to_vec();
    for (t, kind, count, payload) in &added {
        let align = match *kind {
            INT16 => 2,
            INT32 => 4,
            INT64 => 8,
            _ => 1,
        };
        data.resize(data.len().next_multiple_of(align), 0);
        for v in [*t, *kind, data.len() as u32, *count] {
            index.extend_from_slice(&v.to_be_bytes());
        }
        data.extend_from_slice(payload);
    }
    let mut bytes = Vec::with_capacity(8 + index.len() + data.len());
    bytes.extend_from_slice(&((il0 + added.len()) as u32).to_be_bytes());
    bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&index);
    bytes.extend_from_slice(&data);
    Header::parse(bytes)
}
