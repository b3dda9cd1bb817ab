//! Debian version numbers (`[epoch:]upstream[-revision]`) and the relations
//! between them, compared exactly as dpkg does (`lib/dpkg/version.c`,
//! Debian Policy §5.6.12).
//!
//! Parsing follows dpkg's `parseversion()`. Its hard errors (empty version,
//! embedded space, bad epoch, empty upstream part or revision) are errors here
//! too (as in dpkg 1.21; older dpkg accepted an empty revision). What
//! dpkg only warns about (an upstream part that does not start with a digit,
//! characters outside `[A-Za-z0-9.+~-:]` / `[A-Za-z0-9.+~]`) is accepted by
//! [`FromStr`], because dpkg installs such packages and one odd paragraph must
//! not make a whole `Packages` file unusable; [`DebVersion::parse_strict`]
//! turns those warnings into errors for input we check ourselves.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A parsed Debian version.
///
/// Equality and hashing follow the comparison, not the spelling:
/// `0:1.0 == 1.0 == 1.0-0 == 1.00`. [`Display`](fmt::Display) prints the
/// version as it was written (without surrounding whitespace).
#[derive(Clone)]
pub struct DebVersion {
    /// The version as written, trimmed.
    text: Box<str>,
    epoch: u32,
    /// Byte offset of the upstream part in `text` (after `epoch:`).
    upstream_start: u32,
    /// Byte offset of the `-` before the revision, or `text.len()` if none.
    revision_dash: u32,
}

/// Why a string is not a Debian version. Every variant names the version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DebVersionError {
    #[error("version string is empty")]
    Empty,
    #[error("version `{version}` contains a space")]
    EmbeddedSpace { version: String },
    #[error("epoch in version `{version}` is empty")]
    EpochEmpty { version: String },
    #[error("epoch in version `{version}` is not a number")]
    EpochNotNumber { version: String },
    #[error("epoch in version `{version}` is too big")]
    EpochTooBig { version: String },
    #[error("nothing after the colon in version `{version}`")]
    NothingAfterColon { version: String },
    #[error("upstream part of version `{version}` is empty")]
    UpstreamEmpty { version: String },
    #[error("revision of version `{version}` is empty (nothing after the last `-`)")]
    RevisionEmpty { version: String },
    /// dpkg warns only; an error from [`DebVersion::parse_strict`].
    #[error("version `{version}` does not start with a digit")]
    UpstreamNotDigit { version: String },
    /// dpkg warns only; an error from [`DebVersion::parse_strict`].
    #[error("invalid character `{ch}` in upstream part of version `{version}`")]
    InvalidUpstreamChar { version: String, ch: char },
    /// dpkg warns only; an error from [`DebVersion::parse_strict`].
    #[error("invalid character `{ch}` in revision of version `{version}`")]
    InvalidRevisionChar { version: String, ch: char },
}

impl DebVersion {
    /// The epoch; 0 when none was written.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part: between `epoch:` and the last `-`.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream_start as usize..self.revision_dash as usize]
    }

    /// The Debian revision (after the last `-`), `None` when there is no `-`.
    /// A missing revision compares equal to `0`.
    pub fn revision(&self) -> Option<&str> {
        let dash = self.revision_dash as usize;
        (dash < self.text.len()).then(|| &self.text[dash + 1..])
    }

    /// The version as written, without surrounding whitespace.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Like [`FromStr`], but also rejects what dpkg only warns about: an
    /// upstream part not starting with a digit, and characters outside
    /// `[A-Za-z0-9.+~-:]` (upstream) or `[A-Za-z0-9.+~]` (revision).
    pub fn parse_strict(s: &str) -> Result<Self, DebVersionError> {
        let v: DebVersion = s.parse()?;
        let version = || v.text.to_string();
        let upstream = v.upstream();
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(DebVersionError::UpstreamNotDigit { version: version() });
        }
        if let Some(ch) = upstream
            .chars()
            .find(|&c| !c.is_ascii_alphanumeric() && !".-+~:".contains(c))
        {
            return Err(DebVersionError::InvalidUpstreamChar {
                version: version(),
                ch,
            });
        }
        if let Some(ch) = v.revision().and_then(|r| {
            r.chars()
                .find(|&c| !c.is_ascii_alphanumeric() && !".+~".contains(c))
        }) {
            return Err(DebVersionError::InvalidRevisionChar {
                version: version(),
                ch,
            });
        }
        Ok(v)
    }
}

impl FromStr for DebVersion {
    type Err = DebVersionError;

    /// Parses as dpkg's `parseversion()`; see the module documentation for
    /// what is accepted although dpkg warns about it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            return Err(DebVersionError::Empty);
        }
        let version = || text.to_string();
        if text.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(DebVersionError::EmbeddedSpace { version: version() });
        }
        if text.len() > u32::MAX as usize {
            return Err(DebVersionError::EpochTooBig { version: version() });
        }
        let (epoch, upstream_start) = match text.find(':') {
            None => (0, 0),
            Some(colon) => {
                let digits = &text[..colon];
                if digits.is_empty() {
                    return Err(DebVersionError::EpochEmpty { version: version() });
                }
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(DebVersionError::EpochNotNumber { version: version() });
                }
                // dpkg keeps epochs in an int.
                let epoch = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|&e| e <= i32::MAX as u32)
                    .ok_or_else(|| DebVersionError::EpochTooBig { version: version() })?;
                if colon + 1 == text.len() {
                    return Err(DebVersionError::NothingAfterColon { version: version() });
                }
                (epoch, colon + 1)
            }
        };
        let revision_dash = match text[upstream_start..].rfind('-') {
            Some(i) => upstream_start + i,
            None => text.len(),
        };
        if revision_dash == upstream_start {
            return Err(DebVersionError::UpstreamEmpty { version: version() });
        }
        if revision_dash + 1 == text.len() {
            return Err(DebVersionError::RevisionEmpty { version: version() });
        }
        Ok(DebVersion {
            text: text.into(),
            epoch,
            upstream_start: upstream_start as u32,
            revision_dash: revision_dash as u32,
        })
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebVersion({:?})", &*self.text)
    }
}

/// dpkg's `order()`: the weight of one character in a non-digit run.
/// `~` sorts before everything (even the end), then the end and digits, then
/// letters, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp()`: compare an upstream version or a revision.
///
/// The strings are read as alternating non-digit and digit runs. Non-digit
/// runs compare character by character with [`order`]; digit runs compare
/// as numbers (of any length: leading zeros are skipped, then the longer run
/// wins, then the first differing digit).
pub fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let digit_at = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit_at(a, i) && digit_at(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit_at(a, i) {
            return Ordering::Greater;
        }
        if digit_at(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.text == other.text {
            return Ordering::Equal;
        }
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| {
                verrevcmp(
                    self.revision().unwrap_or(""),
                    other.revision().unwrap_or(""),
                )
            })
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebVersion {}

/// Hashes the canonical form that [`verrevcmp`] sees, so that versions that
/// compare equal hash equally: each digit run without leading zeros, and
/// without the trailing empty digit run that `1.` / `1.0` / `` / `0` share.
fn hash_part<H: Hasher>(s: &str, state: &mut H) {
    let s = s.as_bytes();
    let mut k = 0;
    while k < s.len() {
        let start = k;
        while k < s.len() && !s[k].is_ascii_digit() {
            k += 1;
        }
        let non_digits = &s[start..k];
        while k < s.len() && s[k] == b'0' {
            k += 1;
        }
        let start = k;
        while k < s.len() && s[k].is_ascii_digit() {
            k += 1;
        }
        let digits = &s[start..k];
        if k == s.len() && non_digits.is_empty() && digits.is_empty() {
            break;
        }
        state.write(non_digits);
        state.write_u8(0xff);
        state.write(digits);
        state.write_u8(0xfe);
    }
    state.write_u8(0xfd);
}

impl Hash for DebVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        hash_part(self.upstream(), state);
        hash_part(self.revision().unwrap_or(""), state);
    }
}

/// A version relation in a dependency field: `(<< 1.0)` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rel {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

/// A string that is not one of `<<`, `<=`, `=`, `>=`, `>>`, `<`, `>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a version relation (expected `<<`, `<=`, `=`, `>=` or `>>`)")]
pub struct RelError(pub String);

impl Rel {
    /// Whether a package of version `have` satisfies `(self want)`.
    pub fn matches(&self, have: &DebVersion, want: &DebVersion) -> bool {
        let ord = have.cmp(want);
        match self {
            Rel::Lt => ord == Ordering::Less,
            Rel::Le => ord != Ordering::Greater,
            Rel::Eq => ord == Ordering::Equal,
            Rel::Ge => ord != Ordering::Less,
            Rel::Gt => ord == Ordering::Greater,
        }
    }

    /// The canonical spelling (`<<`, `<=`, `=`, `>=`, `>>`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Rel::Lt => "<<",
            Rel::Le => "<=",
            Rel::Eq => "=",
            Rel::Ge => ">=",
            Rel::Gt => ">>",
        }
    }
}

impl FromStr for Rel {
    type Err = RelError;

    /// Accepts the obsolete `<` and `>`, which mean `<=` and `>=` (Policy
    /// §7.1), as dpkg still does (with a warning).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "<<" => Rel::Lt,
            "<=" | "<" => Rel::Le,
            "=" => Rel::Eq,
            ">=" | ">" => Rel::Ge,
            ">>" => Rel::Gt,
            _ => return Err(RelError(s.to_string())),
        })
    }
}

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn v(s: &str) -> DebVersion {
        s.parse()
            .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
    }

    fn hash_of(x: &DebVersion) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    use Ordering::{Equal as EQ, Greater as GT, Less as LT};

    /// (a, b, a.cmp(b)). Each row was checked with
    /// `dpkg --compare-versions a lt|eq|gt b` (dpkg 1.21).
    const COMPARE: &[(&str, &str, Ordering)] = &[
        // Policy §5.6.12 and the examples.
        ("1.0~rc1", "1.0", LT),
        ("1:0.1", "2.0", GT),
        ("1.0-1", "1.0-1ubuntu1", LT),
        ("2.36-9", "2.36", GT),
        ("2.36", "2.36-0", EQ),
        ("1.0+dfsg-1", "1.0-1", GT),
        ("1.0+dfsg-1", "1.0.1-1", LT),
        ("0:1.0", "1.0", EQ),
        ("1.0", "1.00", EQ),
        ("1.0", "1.", EQ),
        ("1.0~~", "1.0~~a", LT),
        ("1.0~~a", "1.0~", LT),
        ("1.0~", "1.0", LT),
        ("1.0", "1.0a", LT),
        ("1.0a", "1.0+", LT),
        ("1.0+", "1.0.", LT),
        ("1.0.", "1.0a", GT),
        ("1.0a", "1.0A", GT),
        ("1.0Z", "1.0a", LT),
        // From dpkg's lib/dpkg/t/t-version.c.
        ("0-0", "0-00", EQ),
        ("00-0", "0-0", EQ),
        ("1:2-3", "1:2-3", EQ),
        ("0:0-0", "1:0-0", LT),
        ("a-0", "b-0", LT),
        ("0-a", "0-b", LT),
        ("0-1", "0-2", LT),
        ("1-1", "2-1", LT),
        ("0", "0:0", EQ),
        ("0:0.0-0.0", "0.0-0.0", EQ),
        ("0:0-0-0", "0-0-0", EQ),
        ("0:0:0-0", "0:0:0-0", EQ),
        // Numeric runs compare as numbers, of any length.
        ("1.2.10", "1.2.9", GT),
        ("1.10", "1.9", GT),
        ("10", "9", GT),
        ("0010", "10", EQ),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
            LT,
        ),
        ("1.2.3", "1.2.3.0", LT),
        ("1.2.3.", "1.2.3.0", EQ),
        ("1.2.3", "1.2.3.1", LT),
        // Epochs dominate everything.
        ("2:1.0", "1:9.9", GT),
        ("1:1.0", "9.9", GT),
        ("10:1", "9:1", GT),
        // Revisions, as used in the archive.
        ("2.36-9+deb12u4", "2.36-9", GT),
        ("2.36-9+deb12u10", "2.36-9+deb12u9", GT),
        ("3.0.11-1~deb12u2", "3.0.11-1", LT),
        ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1", LT),
        ("5.36.0-7+deb12u1", "5.36.0-7", GT),
        ("12.2.0-14", "12.2.0-14+b1", LT),
        ("1.21.22", "1.21.22-1", LT),
        ("1.0-1", "1.0-1.1", LT),
        ("1.0-1+b1", "1.0-1.1", LT),
        ("1.0-1~bpo12+1", "1.0-1", LT),
        ("1.0-1", "1.0-1build1", LT),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", LT),
        // The upstream part may contain `-` and `:` (when there is an epoch).
        ("1:1.0-2-3", "1:1.0-2-2", GT),
        ("1:1.0-2-3", "1:1.0-3-1", LT),
        ("1:a:b-1", "1:a:c-1", LT),
        // Letters sort before non-letters, `~` before the end.
        ("1.0a", "1.0.", LT),
        ("1.0~beta", "1.0~alpha", GT),
        ("1.0~rc1-1", "1.0-1", LT),
        ("1.0~rc1~1", "1.0~rc1", LT),
        ("2.0.0~git20230101", "2.0.0", LT),
        ("1.3.4.20200120-3.1", "1.3.4.20200120-3", GT),
    ];

    #[test]
    fn compare_table() {
        for &(a, b, want) in COMPARE {
            let (va, vb) = (v(a), v(b));
            assert_eq!(va.cmp(&vb), want, "{a} vs {b}");
            assert_eq!(vb.cmp(&va), want.reverse(), "{b} vs {a}");
            assert_eq!(va == vb, want == EQ, "{a} == {b}");
            if want == EQ {
                assert_eq!(hash_of(&va), hash_of(&vb), "hash({a}) == hash({b})");
            }
        }
    }

    /// Rows with `""` above are compared through verrevcmp only.
    #[test]
    fn verrevcmp_empty_strings() {
        assert_eq!(verrevcmp("~", ""), LT);
        assert_eq!(verrevcmp("", ""), EQ);
        assert_eq!(verrevcmp("", "0"), EQ);
        assert_eq!(verrevcmp("a", ""), GT);
    }

    #[test]
    fn sorting_a_list_gives_dpkg_order() {
        let mut list: Vec<DebVersion> = [
            "1.0",
            "1.0~rc1",
            "1:0.1",
            "1.0-1",
            "1.0~~",
            "1.0+dfsg-1",
            "0.9",
            "1.0a",
        ]
        .iter()
        .map(|s| v(s))
        .collect();
        list.sort();
        let got: Vec<&str> = list.iter().map(|x| x.as_str()).collect();
        assert_eq!(
            got,
            [
                "0.9",
                "1.0~~",
                "1.0~rc1",
                "1.0",
                "1.0-1",
                "1.0a",
                "1.0+dfsg-1",
                "1:0.1"
            ]
        );
    }

    /// (input, epoch, upstream, revision) from dpkg's t-version.c parse tests.
    const PARSE: &[(&str, u32, &str, Option<&str>)] = &[
        ("0", 0, "0", None),
        ("0:0", 0, "0", None),
        ("0:0-0", 0, "0", Some("0")),
        ("0:0.0-0.0", 0, "0.0", Some("0.0")),
        ("1:0", 1, "0", None),
        ("5:1", 5, "1", None),
        ("0:0-0-0", 0, "0-0", Some("0")),
        ("0:0-0-0-0", 0, "0-0-0", Some("0")),
        ("0:0:0-0", 0, "0:0", Some("0")),
        ("0:0:0:0-0", 0, "0:0:0", Some("0")),
        ("0:0:0-0-0", 0, "0:0-0", Some("0")),
        ("0:0-0:0-0", 0, "0-0:0", Some("0")),
        ("0:09azAZ.-+~:-0", 0, "09azAZ.-+~:", Some("0")),
        ("0:0-azAZ09.+~", 0, "0", Some("azAZ09.+~")),
        ("  \t0:0-1", 0, "0", Some("1")),
        ("0:0-1\t  ", 0, "0", Some("1")),
        ("\t  0:0-1  \t", 0, "0", Some("1")),
        ("2147483647:1", 2147483647, "1", None),
        ("2.36-9+deb12u4", 0, "2.36", Some("9+deb12u4")),
        ("1:2.4.48-6", 1, "2.4.48", Some("6")),
    ];

    #[test]
    fn parse_table() {
        for &(s, epoch, upstream, revision) in PARSE {
            let x = v(s);
            assert_eq!(
                (x.epoch(), x.upstream(), x.revision()),
                (epoch, upstream, revision),
                "{s:?}"
            );
            assert_eq!(x.to_string(), s.trim(), "display of {s:?}");
        }
    }

    #[test]
    fn parse_errors_as_dpkg() {
        type IsExpected = fn(&DebVersionError) -> bool;
        let cases: &[(&str, IsExpected)] = &[
            ("", |e| matches!(e, DebVersionError::Empty)),
            ("  ", |e| matches!(e, DebVersionError::Empty)),
            ("0:", |e| {
                matches!(e, DebVersionError::NothingAfterColon { .. })
            }),
            ("0:0 0-1", |e| {
                matches!(e, DebVersionError::EmbeddedSpace { .. })
            }),
            ("-1:0-1", |e| {
                matches!(e, DebVersionError::EpochNotNumber { .. })
            }),
            ("999999999999999999999999:0-1", |e| {
                matches!(e, DebVersionError::EpochTooBig { .. })
            }),
            ("2147483648:0", |e| {
                matches!(e, DebVersionError::EpochTooBig { .. })
            }),
            ("a:0-0", |e| {
                matches!(e, DebVersionError::EpochNotNumber { .. })
            }),
            ("A:0-0", |e| {
                matches!(e, DebVersionError::EpochNotNumber { .. })
            }),
            (":1.0", |e| matches!(e, DebVersionError::EpochEmpty { .. })),
            ("-0", |e| matches!(e, DebVersionError::UpstreamEmpty { .. })),
            ("0:-0", |e| {
                matches!(e, DebVersionError::UpstreamEmpty { .. })
            }),
            // t-version.c once accepted this; dpkg 1.21 refuses it.
            ("0:0-", |e| {
                matches!(e, DebVersionError::RevisionEmpty { .. })
            }),
            ("1.0-", |e| {
                matches!(e, DebVersionError::RevisionEmpty { .. })
            }),
        ];
        for (s, is_expected) in cases {
            let err = s.parse::<DebVersion>().unwrap_err();
            assert!(is_expected(&err), "{s:?} gave {err:?}");
            assert!(DebVersion::parse_strict(s).is_err());
        }
    }

    /// dpkg warns about these but installs the package: lenient parse
    /// accepts, strict parse refuses.
    #[test]
    fn dpkg_warnings_are_strict_errors_only() {
        let mut warned = vec!["0:abc3-0".to_string(), "0:0-0:0".to_string()];
        for c in "!#@$%&/|\\<>()[]{};,_=*^'".chars() {
            warned.push(format!("0:0{c}-0"));
        }
        for c in "!#@$%&/|\\<>()[]{}:;,_=*^'".chars() {
            warned.push(format!("0:0-0{c}"));
        }
        for s in &warned {
            assert!(s.parse::<DebVersion>().is_ok(), "{s:?} lenient");
            assert!(DebVersion::parse_strict(s).is_err(), "{s:?} strict");
        }
        assert!(DebVersion::parse_strict("1:2.36-9+deb12u4~bpo1").is_ok());
    }

    #[test]
    fn errors_name_the_version() {
        let err = "1:a b".parse::<DebVersion>().unwrap_err();
        assert_eq!(err.to_string(), "version `1:a b` contains a space");
    }

    #[test]
    fn rel_parse_and_display() {
        let table = [
            ("<<", Rel::Lt, "<<"),
            ("<=", Rel::Le, "<="),
            ("<", Rel::Le, "<="),
            ("=", Rel::Eq, "="),
            (">=", Rel::Ge, ">="),
            (">", Rel::Ge, ">="),
            (">>", Rel::Gt, ">>"),
        ];
        for (s, rel, canon) in table {
            assert_eq!(s.parse::<Rel>(), Ok(rel), "{s}");
            assert_eq!(rel.to_string(), canon);
        }
        for bad in ["", "==", "=>", "=<", "!=", "<<<", "~"] {
            assert!(bad.parse::<Rel>().is_err(), "{bad:?}");
        }
    }

    /// (have, rel, want, matches), following t-version.c's relate tests and
    /// the cases that differ between dpkg and rpm (missing revision).
    #[test]
    fn rel_matches_table() {
        let table = [
            ("1-1", "=", "1-1", true),
            ("1-1", "<<", "1-1", false),
            ("1-1", "<=", "1-1", true),
            ("1-1", ">>", "1-1", false),
            ("1-1", ">=", "1-1", true),
            ("1-1", "=", "2-1", false),
            ("1-1", "<<", "2-1", true),
            ("1-1", "<=", "2-1", true),
            ("1-1", ">>", "2-1", false),
            ("1-1", ">=", "2-1", false),
            ("2-1", "=", "1-1", false),
            ("2-1", "<<", "1-1", false),
            ("2-1", "<=", "1-1", false),
            ("2-1", ">>", "1-1", true),
            ("2-1", ">=", "1-1", true),
            // `>> 2.36` is satisfied by every Debian revision of 2.36.
            ("2.36-9", ">>", "2.36", true),
            ("2.36", ">>", "2.36", false),
            ("2.36-9", "<<", "2.36-9+deb12u1", true),
            ("1.0~rc1", ">=", "1.0", false),
            ("1.0~rc1", ">=", "1.0~", true),
            ("1:0.1", ">=", "2.0", true),
            ("1.0", "=", "0:1.0-0", true),
            ("1.0-1", "<", "1.0-1", true),
            ("1.0-2", ">", "1.0-1", true),
        ];
        for (have, rel, want, expect) in table {
            let r: Rel = rel.parse().unwrap();
            assert_eq!(r.matches(&v(have), &v(want)), expect, "{have} {rel} {want}");
        }
    }
}
