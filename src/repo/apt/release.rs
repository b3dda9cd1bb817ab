//! `Release` and `InRelease`: what a suite contains and the checksums of its
//! index files.
//!
//! For `InRelease` this module only takes the clear-signed message apart
//! ([`split_clearsigned`]); verifying the signature is the caller's job, and
//! it must verify exactly [`ClearSigned::text`], which is also what
//! [`Release::parse_inrelease`] parses. Anything outside the signed part
//! other than blank lines is refused, so unsigned text can never be mistaken
//! for signed text.

use super::deb822::{Deb822Error, Field, Paragraphs};

/// One entry of the `SHA256:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// Relative to the suite's `dists/SUITE/` directory: `main/binary-arm64/Packages.xz`.
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// A parsed `Release` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    /// `Date:` as a Unix timestamp (seconds).
    pub date: Option<i64>,
    /// `Valid-Until:` as a Unix timestamp (seconds).
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: index files may be fetched from
    /// `DIR/by-hash/SHA256/HASH` (see [`Release::by_hash_path`]).
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all: Packages`: `Architecture: all`
    /// packages are listed in every `binary-ARCH/Packages`, so `binary-all`
    /// need not be fetched.
    pub all_in_arch_packages: bool,
    /// Sorted by path.
    files: Vec<IndexFile>,
}

impl Release {
    /// Parses a `Release` file. `origin` (a path or URL) names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Release, ReleaseError> {
        parse_release(text, origin, 0)
    }

    /// Takes the signed text out of an `InRelease` file and parses it; line
    /// numbers in errors are those of the `InRelease` file. Does not verify
    /// the signature.
    pub fn parse_inrelease(text: &str, origin: &str) -> Result<Release, ReleaseError> {
        let signed = split_clearsigned(text, origin)?;
        parse_release(&signed.text, origin, signed.first_line - 1)
    }

    /// The `SHA256:` entry for `path` (e.g. `main/binary-arm64/Packages.xz`).
    pub fn file(&self, path: &str) -> Option<&IndexFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// All `SHA256:` entries, sorted by path.
    pub fn files(&self) -> &[IndexFile] {
        &self.files
    }

    /// Where `path` can be fetched by hash (`main/binary-arm64/by-hash/SHA256/…`),
    /// when the suite says `Acquire-By-Hash: yes` and lists the file.
    pub fn by_hash_path(&self, path: &str) -> Option<String> {
        if !self.acquire_by_hash {
            return None;
        }
        let file = self.file(path)?;
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        let sep = if dir.is_empty() { "" } else { "/" };
        Some(format!("{dir}{sep}by-hash/SHA256/{}", file.sha256))
    }

    /// Whether `Valid-Until` has passed at `now` (Unix seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        self.valid_until.is_some_and(|until| now > until)
    }
}

/// Everything that can go wrong reading a `Release` or `InRelease` file.
/// `origin` is the file or URL; lines are 1-based lines of that file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("`{origin}` is not a valid Release file")]
    Syntax {
        origin: String,
        #[source]
        source: Deb822Error,
    },
    #[error("`{origin}` is empty")]
    Empty { origin: String },
    #[error("`{origin}` line {line}: a Release file has one paragraph, found a second one")]
    SecondParagraph { origin: String, line: usize },
    #[error(
        "`{origin}` line {line}: `{field}: {value}` is not a date like `Sat, 10 Jun 2023 09:15:12 UTC`"
    )]
    BadDate {
        origin: String,
        line: usize,
        field: String,
        value: String,
    },
    #[error("`{origin}` line {line}: bad SHA256 entry `{entry}`: {problem}")]
    BadEntry {
        origin: String,
        line: usize,
        entry: String,
        problem: &'static str,
    },
    #[error("`{origin}` line {line}: `{path}` is listed twice under SHA256")]
    DuplicateEntry {
        origin: String,
        line: usize,
        path: String,
    },
    #[error("`{origin}` has no SHA256 field, so its index files cannot be verified")]
    NoSha256 { origin: String },
    #[error("`{origin}` line {line}: not a clear-signed message: {problem}")]
    ClearSign {
        origin: String,
        line: usize,
        problem: &'static str,
    },
}

fn parse_release(text: &str, origin: &str, line_offset: usize) -> Result<Release, ReleaseError> {
    let shift = |e: Deb822Error| ReleaseError::Syntax {
        origin: origin.to_string(),
        source: shift_line(e, line_offset),
    };
    let mut paragraphs = Paragraphs::new(text);
    let paragraph = paragraphs
        .next()
        .ok_or_else(|| ReleaseError::Empty {
            origin: origin.to_string(),
        })?
        .map_err(shift)?;
    if let Some(next) = paragraphs.next() {
        let next = next.map_err(shift)?;
        return Err(ReleaseError::SecondParagraph {
            origin: origin.to_string(),
            line: next.line + line_offset,
        });
    }

    let mut release = Release::default();
    let mut saw_sha256 = false;
    for field in &paragraph.fields {
        let value = || Some(field.value.to_string());
        let words = || {
            field
                .value
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect()
        };
        let name = field.name;
        let is = |s: &str| name.eq_ignore_ascii_case(s);
        if is("Origin") {
            release.origin = value();
        } else if is("Label") {
            release.label = value();
        } else if is("Suite") {
            release.suite = value();
        } else if is("Codename") {
            release.codename = value();
        } else if is("Version") {
            release.version = value();
        } else if is("Date") {
            release.date = Some(date_field(field, origin, line_offset)?);
        } else if is("Valid-Until") {
            release.valid_until = Some(date_field(field, origin, line_offset)?);
        } else if is("Architectures") {
            release.architectures = words();
        } else if is("Components") {
            release.components = words();
        } else if is("Acquire-By-Hash") {
            release.acquire_by_hash = field.value.eq_ignore_ascii_case("yes");
        } else if is("No-Support-for-Architecture-all") {
            release.all_in_arch_packages = field.value == "Packages";
        } else if is("SHA256") {
            saw_sha256 = true;
            release.files = sha256_entries(field, origin, line_offset)?;
        }
    }
    if !saw_sha256 {
        return Err(ReleaseError::NoSha256 {
            origin: origin.to_string(),
        });
    }
    Ok(release)
}

fn shift_line(e: Deb822Error, by: usize) -> Deb822Error {
    match e {
        Deb822Error::ContinuationFirst { line } => {
            Deb822Error::ContinuationFirst { line: line + by }
        }
        Deb822Error::MissingColon { line, text } => Deb822Error::MissingColon {
            line: line + by,
            text,
        },
        Deb822Error::BadFieldName { line, name } => Deb822Error::BadFieldName {
            line: line + by,
            name,
        },
        Deb822Error::DuplicateField {
            line,
            name,
            first_line,
        } => Deb822Error::DuplicateField {
            line: line + by,
            name,
            first_line: first_line + by,
        },
        Deb822Error::Comment { line } => Deb822Error::Comment { line: line + by },
    }
}

fn date_field(field: &Field<'_>, origin: &str, line_offset: usize) -> Result<i64, ReleaseError> {
    parse_rfc2822_date(field.value).ok_or_else(|| ReleaseError::BadDate {
        origin: origin.to_string(),
        line: field.line + line_offset,
        field: field.name.to_string(),
        value: field.value.to_string(),
    })
}

/// `hash size path` lines, sorted by path.
fn sha256_entries(
    field: &Field<'_>,
    origin: &str,
    line_offset: usize,
) -> Result<Vec<IndexFile>, ReleaseError> {
    let mut files = Vec::new();
    let mut lines = Vec::new();
    for (line, entry) in field.lines() {
        let line = line + line_offset;
        let bad = |problem: &'static str| ReleaseError::BadEntry {
            origin: origin.to_string(),
            line,
            entry: entry.to_string(),
            problem,
        };
        let mut words = entry.split_ascii_whitespace();
        let (Some(hash), Some(size), Some(path), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(bad("expected `hash size path`"));
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the hash is not 64 hexadecimal digits"));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| bad("the size is not a number"))?;
        if path.starts_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(bad(
                "the path leaves the suite's directory or is not normalised",
            ));
        }
        files.push(IndexFile {
            path: path.to_string(),
            size,
            sha256: hash.to_ascii_lowercase(),
        });
        lines.push(line);
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[a].path.cmp(&files[b].path).then(a.cmp(&b)));
    for pair in order.windows(2) {
        if files[pair[0]].path == files[pair[1]].path {
            return Err(ReleaseError::DuplicateEntry {
                origin: origin.to_string(),
                line: lines[pair[1]],
                path: files[pair[1]].path.clone(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A clear-signed message (RFC 4880 §7) taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearSigned<'a> {
    /// The signed text with dash-escaping undone and `\n` line ends, without
    /// the line break before the signature: exactly what is signed (before
    /// OpenPGP's own canonicalisation to CRLF and trailing-space stripping).
    pub text: String,
    /// Values of the `Hash:` armor headers, e.g. `["SHA256"]`.
    pub hashes: Vec<&'a str>,
    /// The armored signature, `-----BEGIN PGP SIGNATURE-----` through
    /// `-----END PGP SIGNATURE-----`, newline-terminated.
    pub signature: String,
    /// 1-based line of the input where `text` starts.
    pub first_line: usize,
}

const BEGIN_MESSAGE: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// Splits an `InRelease` file into signed text and signature, refusing
/// anything but blank lines outside the signed message (as apt does).
pub fn split_clearsigned<'a>(
    input: &'a str,
    origin: &str,
) -> Result<ClearSigned<'a>, ReleaseError> {
    let mut lines = input
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .peekable();
    let err = |line: usize, problem: &'static str| ReleaseError::ClearSign {
        origin: origin.to_string(),
        line,
        problem,
    };
    let last_line = input.split('\n').count();

    // Blank lines, then the header line.
    loop {
        match lines.next() {
            None => {
                return Err(err(
                    last_line,
                    "no `-----BEGIN PGP SIGNED MESSAGE-----` line",
                ));
            }
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) if l.trim_end() == BEGIN_MESSAGE => break,
            Some((n, _)) => return Err(err(n, "text before `-----BEGIN PGP SIGNED MESSAGE-----`")),
        }
    }

    // Armor headers up to an empty line.
    let mut hashes = Vec::new();
    loop {
        match lines.next() {
            None => return Err(err(last_line, "the message ends in its armor headers")),
            Some((_, "")) => break,
            Some((n, l)) => {
                let Some((key, value)) = l.split_once(": ") else {
                    return Err(err(n, "armor header is not `Key: value`"));
                };
                if key == "Hash" {
                    hashes.extend(value.split(',').map(str::trim));
                }
            }
        }
    }

    // The dash-escaped text, up to the signature.
    let first_line = lines.peek().map_or(last_line, |(n, _)| *n);
    let mut text = String::with_capacity(input.len());
    let mut first = true;
    loop {
        let Some((n, l)) = lines.next() else {
            return Err(err(last_line, "no `-----BEGIN PGP SIGNATURE-----` line"));
        };
        if l.trim_end() == BEGIN_SIGNATURE {
            break;
        }
        let l = match l.strip_prefix("- ") {
            Some(unescaped) => unescaped,
            None if l.starts_with('-') => return Err(err(n, "line starts with an unescaped `-`")),
            None => l,
        };
        if !first {
            text.push('\n');
        }
        first = false;
        text.push_str(l);
    }

    // The armored signature.
    let mut signature = format!("{BEGIN_SIGNATURE}\n");
    loop {
        let Some((_, l)) = lines.next() else {
            return Err(err(last_line, "no `-----END PGP SIGNATURE-----` line"));
        };
        signature.push_str(l);
        signature.push('\n');
        if l.trim_end() == END_SIGNATURE {
            break;
        }
    }

    // Only blank lines after it.
    if let Some((n, _)) = lines.find(|(_, l)| !l.trim().is_empty()) {
        return Err(err(n, "text after `-----END PGP SIGNATURE-----`"));
    }
    Ok(ClearSigned {
        text,
        hashes,
        signature,
        first_line,
    })
}

/// Parses an RFC 2822 / RFC 1123 date as apt writes and reads them
/// (`Sat, 10 Jun 2023 09:15:12 UTC`) into Unix seconds. The weekday is
/// optional and not checked; the zone is `UTC`, `GMT`, `UT`, `Z` or a
/// numeric `+hhmm`/`-hhmm` offset; seconds are optional.
pub fn parse_rfc2822_date(s: &str) -> Option<i64> {
    let mut words = s.split_ascii_whitespace().peekable();
    if words.peek()?.ends_with(',') {
        words.next();
    }
    let day: u32 = small_number(words.next()?, 1, 2)?;
    let month = match words.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year = i64::from(small_number(words.next()?, 4, 4)?);
    let mut hms = words.next()?.split(':');
    let hour = small_number(hms.next()?, 2, 2)?;
    let minute = small_number(hms.next()?, 2, 2)?;
    let second = match hms.next() {
        Some(s) => small_number(s, 2, 2)?,
        None => 0,
    };
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = match words.next()? {
        "UTC" | "GMT" | "UT" | "Z" => 0,
        zone => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm = small_number(&zone[1..], 4, 4)?;
            let (h, m) = (hhmm / 100, hhmm % 100);
            if h > 23 || m > 59 {
                return None;
            }
            sign * i64::from(h * 3600 + m * 60)
        }
    };
    if words.next().is_some() || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + i64::from(hour * 3600 + minute * 60 + second) - offset)
}

/// A run of `min..=max` ASCII digits.
fn small_number(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of bookworm-security's `InRelease` and a few of its real
    /// SHA256 lines; the signature block is a stand-in (nothing here
    /// verifies it).
    const INRELEASE: &str = "\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Label: Debian-Security
Suite: oldstable-security
Version: 12
Codename: bookworm-security
Date: Wed, 25 Nov 2026 02:22:30 UTC
Valid-Until: Wed, 02 Dec 2026 02:22:30 UTC
Acquire-By-Hash: yes
Architectures: amd64 arm64 armhf i386 ppc64el
Components: updates/main updates/contrib updates/non-free-firmware updates/non-free
Description: Debian 12 - Security Updates
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-amd64
 f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec       20 contrib/Contents-amd64.gz
 c7c883a61f348283050d3a754e7c8119117c4019bf65da804c78fdae315866f1 49434864 main/binary-arm64/Packages
 2DDB1737692E8C45C53E8D57C0CE4CD21C78C5703B830C3226B1423566A06C00  8689464 main/binary-arm64/Packages.xz
 aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b 11940185 main/binary-arm64/Packages.gz
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEETLUBkCB7R1ij9zp5btDnuCZD4TEFAmpSGCcACgkQbtDnuCZD
=AfjX
-----END PGP SIGNATURE-----
";

    const ORIGIN: &str = "http://deb.debian.org/debian-security/dists/bookworm-security/InRelease";

    #[test]
    fn inrelease_fields() {
        let r = Release::parse_inrelease(INRELEASE, ORIGIN).unwrap();
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.label.as_deref(), Some("Debian-Security"));
        assert_eq!(r.suite.as_deref(), Some("oldstable-security"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(r.version.as_deref(), Some("12"));
        // `date -u -d '…' +%s`
        assert_eq!(r.date, Some(1795573350));
        assert_eq!(r.valid_until, Some(1796178150));
        assert_eq!(
            r.architectures,
            ["amd64", "arm64", "armhf", "i386", "ppc64el"]
        );
        assert_eq!(r.components[0], "updates/main");
        assert!(r.acquire_by_hash);
        assert!(!r.all_in_arch_packages);
        assert_eq!(r.files().len(), 5);
    }

    #[test]
    fn file_lookup_and_by_hash() {
        let r = Release::parse_inrelease(INRELEASE, ORIGIN).unwrap();
        let xz = r.file("main/binary-arm64/Packages.xz").unwrap();
        assert_eq!(xz.size, 8689464);
        // Stored lowercase whatever the file says.
        assert_eq!(
            xz.sha256,
            "2ddb1737692e8c45c53e8d57c0ce4cd21c78c5703b830c3226b1423566a06c00"
        );
        assert_eq!(r.file("contrib/Contents-amd64").unwrap().size, 0);
        assert!(r.file("main/binary-arm64").is_none());
        assert!(r.file("main/binary-riscv64/Packages.xz").is_none());
        assert_eq!(
            r.by_hash_path("main/binary-arm64/Packages.xz").as_deref(),
            Some(
                "main/binary-arm64/by-hash/SHA256/2ddb1737692e8c45c53e8d57c0ce4cd21c78c5703b830c3226b1423566a06c00"
            )
        );
        assert_eq!(r.by_hash_path("main/binary-riscv64/Packages.xz"), None);
        let plain = Release {
            acquire_by_hash: false,
            ..r.clone()
        };
        assert_eq!(plain.by_hash_path("main/binary-arm64/Packages.xz"), None);
    }

    #[test]
    fn valid_until() {
        let r = Release::parse_inrelease(INRELEASE, ORIGIN).unwrap();
        assert!(!r.expired_at(1796178150));
        assert!(r.expired_at(1796178151));
        let text = "Suite: bookworm\nSHA256:\n";
        assert!(
            !Release::parse(text, "Release")
                .unwrap()
                .expired_at(i64::MAX)
        );
    }

    #[test]
    fn plain_release_like_bookworm() {
        // Bookworm's own Release: no Valid-Until, `all` inside arch Packages.
        let text = "Origin: Debian\nSuite: oldstable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nAcquire-By-Hash: yes\nNo-Support-for-Architecture-all: Packages\nArchitectures: all amd64 arm64\nComponents: main contrib non-free-firmware non-free\nMD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\nSHA256:\n 743228b0bd99db92c91c5c133952cea0ff0c93a2b5b47a058973f3cab40d6481  4231936 main/binary-all/Packages.xz\n";
        let r = Release::parse(text, "Release").unwrap();
        assert_eq!(r.date, Some(1783764997));
        assert_eq!(r.valid_until, None);
        assert!(r.all_in_arch_packages);
        assert_eq!(r.files().len(), 1);
        assert!(
            r.file("contrib/Contents-all").is_none(),
            "MD5Sum entries are not used"
        );
    }

    #[test]
    fn clearsigned_parts_and_dash_escaping() {
        let input = "\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256, SHA512\n\nA: 1\n- B: 2\n- -----BEGIN PGP SIGNATURE-----\n\nC: 3\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n\n";
        let s = split_clearsigned(input, "x").unwrap();
        assert_eq!(s.text, "A: 1\nB: 2\n-----BEGIN PGP SIGNATURE-----\n\nC: 3");
        assert_eq!(s.hashes, ["SHA256", "SHA512"]);
        assert_eq!(s.first_line, 5);
        assert_eq!(
            s.signature,
            "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
        );
        let crlf = input.replace('\n', "\r\n");
        assert_eq!(split_clearsigned(&crlf, "x").unwrap().text, s.text);
    }

    #[test]
    fn clearsign_framing_errors() {
        let good = INRELEASE;
        let table: Vec<(String, usize, &str)> = vec![
            (
                format!("Origin: evil\n{good}"),
                1,
                "text before `-----BEGIN PGP SIGNED MESSAGE-----`",
            ),
            (
                format!("{good}Origin: evil\n"),
                26,
                "text after `-----END PGP SIGNATURE-----`",
            ),
            (
                good.replace("Label:", "-Label:"),
                5,
                "line starts with an unescaped `-`",
            ),
            (
                good.replace("Label:", "-----BEGIN PGP SIGNED MESSAGE-----\nLabel:"),
                5,
                "line starts with an unescaped `-`",
            ),
            (
                good.replace("-----END PGP SIGNATURE-----\n", ""),
                25,
                "no `-----END PGP SIGNATURE-----` line",
            ),
            (
                good.split("-----BEGIN PGP SIGNATURE-----")
                    .next()
                    .unwrap()
                    .to_string(),
                21,
                "no `-----BEGIN PGP SIGNATURE-----` line",
            ),
            (
                "Origin: Debian\nSHA256:\n".to_string(),
                1,
                "text before `-----BEGIN PGP SIGNED MESSAGE-----`",
            ),
            (
                "".to_string(),
                1,
                "no `-----BEGIN PGP SIGNED MESSAGE-----` line",
            ),
            (
                good.replace("Hash: SHA256", "Hash SHA256"),
                2,
                "armor header is not `Key: value`",
            ),
        ];
        for (text, line, problem) in table {
            let err = Release::parse_inrelease(&text, "InRelease").unwrap_err();
            assert_eq!(
                err,
                ReleaseError::ClearSign {
                    origin: "InRelease".to_string(),
                    line,
                    problem
                },
                "{text}"
            );
        }
    }

    #[test]
    fn release_errors_name_the_inrelease_line() {
        let table: Vec<(String, &str)> = vec![
            (
                INRELEASE.replace("Date: Wed, 25 Nov", "Date: Wed, 35 Nov"),
                "`InRelease` line 9: `Date: Wed, 35 Nov 2026 02:22:30 UTC` is not a date like `Sat, 10 Jun 2023 09:15:12 UTC`",
            ),
            (
                INRELEASE.replace("       20 contrib", "       2x contrib"),
                "`InRelease` line 17: bad SHA256 entry `f61f27bd17de546264aa58f40f3aafaac7021e0ef69c17f6b1b4cd7664a037ec       2x contrib/Contents-amd64.gz`: the size is not a number",
            ),
            (
                INRELEASE.replace(
                    "aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b",
                    "aee1ed47",
                ),
                "`InRelease` line 20: bad SHA256 entry `aee1ed47 11940185 main/binary-arm64/Packages.gz`: the hash is not 64 hexadecimal digits",
            ),
            (
                INRELEASE.replace(
                    "main/binary-arm64/Packages.gz",
                    "main/binary-arm64/Packages.gz extra",
                ),
                "`InRelease` line 20: bad SHA256 entry `aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b 11940185 main/binary-arm64/Packages.gz extra`: expected `hash size path`",
            ),
            (
                INRELEASE.replace("main/binary-arm64/Packages.gz", "../../etc/passwd"),
                "`InRelease` line 20: bad SHA256 entry `aee1ed47a695b38ecc6283e3952e8c3e18682cf7b2558ec62460a95c6d0b193b 11940185 ../../etc/passwd`: the path leaves the suite's directory or is not normalised",
            ),
            (
                INRELEASE.replace("main/binary-arm64/Packages.gz", "contrib/Contents-amd64"),
                "`InRelease` line 20: `contrib/Contents-amd64` is listed twice under SHA256",
            ),
            (
                INRELEASE.replace("SHA256:", "SHA1:"),
                "`InRelease` has no SHA256 field, so its index files cannot be verified",
            ),
            (
                INRELEASE.replace("Description:", "\nDescription:"),
                "`InRelease` line 15: a Release file has one paragraph, found a second one",
            ),
        ];
        for (text, want) in table {
            let err = Release::parse_inrelease(&text, "InRelease").unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        let err = Release::parse_inrelease(&INRELEASE.replace("Label:", "Label"), "InRelease")
            .unwrap_err();
        let ReleaseError::Syntax { source, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(
            source.to_string(),
            "line 5: `Label Debian-Security` is not a `Name: value` field"
        );
        assert_eq!(
            Release::parse("\n\n", "Release").unwrap_err().to_string(),
            "`Release` is empty"
        );
    }

    #[test]
    fn rfc2822_dates() {
        // Expected values from `date -u -d '…' +%s`.
        let table: &[(&str, Option<i64>)] = &[
            ("Sat, 11 Jul 2026 10:16:37 UTC", Some(1783764997)),
            ("Thu, 01 Jan 1970 00:00:00 UTC", Some(0)),
            ("Sat, 10 Jun 2023 09:15:12 UTC", Some(1686388512)),
            ("Sat, 10 Jun 2023 09:15:12 GMT", Some(1686388512)),
            ("Sat, 10 Jun 2023 09:15:12 +0000", Some(1686388512)),
            ("Sat, 10 Jun 2023 09:15 GMT", Some(1686388500)),
            ("10 Jun 2023 09:15:12 Z", Some(1686388512)),
            ("sat, 10 jun 2023 09:15:12 UTC", Some(1686388512)),
            ("Tue, 29 Feb 2000 23:59:59 UTC", Some(951868799)),
            ("Sun, 1 Mar 2100 00:00:00 UTC", Some(4107542400)),
            ("Mon, 10 Jun 2024 09:15:12 +0200", Some(1718003712)),
            ("Mon, 10 Jun 2024 09:15:12 -0130", Some(1718016312)),
            ("31 Dec 1969 23:59:59 UTC", Some(-1)),
            ("", None),
            ("Sat, 10 Jun 2023", None),
            ("Sat, 10 Jun 2023 09:15:12", None),
            ("Sat, 10 Jun 2023 09:15:12 CEST", None),
            ("Sat, 10 Jun 2023 24:00:00 UTC", None),
            ("Sat, 10 Jun 2023 09:60:00 UTC", None),
            ("Mon, 29 Feb 2100 00:00:00 UTC", None),
            ("Sat, 31 Jun 2023 09:15:12 UTC", None),
            ("Sat, 0 Jun 2023 09:15:12 UTC", None),
            ("Sat, 10 Juni 2023 09:15:12 UTC", None),
            ("Sat, 10 Jun 23 09:15:12 UTC", None),
            ("Sat, 10 Jun 2023 9:15:12 UTC", None),
            ("Sat, 10 Jun 2023 09:15:12 UTC extra", None),
            ("Sat, 10 Jun 2023 09:15:12 +02", None),
            ("2023-06-10T09:15:12Z", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_rfc2822_date(s), *want, "{s:?}");
        }
    }

    /// Parses a real `InRelease` (`BRT_INRELEASE=/var/lib/apt/lists/…_InRelease`).
    /// Run: `cargo test -- --ignored --nocapture real_inrelease`.
    #[test]
    #[ignore]
    fn real_inrelease() {
        let path = std::env::var("BRT_INRELEASE").expect("set BRT_INRELEASE");
        let text = fs_err::read_to_string(&path).unwrap();
        let r = Release::parse_inrelease(&text, &path).unwrap();
        println!(
            "{:?} {:?} date {:?} valid-until {:?}, {} files, arches {:?}",
            r.suite,
            r.codename,
            r.date,
            r.valid_until,
            r.files().len(),
            r.architectures
        );
        assert!(!r.files().is_empty());
    }
}
