//! RPM version comparison, identical to rpm's `rpmvercmp()` (lib/rpmvercmp.c)
//! including `~` (sorts before anything, even the end) and `^` (sorts after
//! the end, before anything else), and EVR (`epoch:version-release`)
//! comparison as rpm does for packages and for dependency ranges.

use std::cmp::Ordering;
use std::fmt;

/// rpm's `rpmvercmp(a, b)`.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // Tilde sorts before everything else, even the end of the string.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // Caret sorts after the end of the string but before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        // One segment: all digits or all letters (ASCII, as rpm's risdigit/risalpha).
        let numeric = a[i].is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let seg_a = &a[i..i + a[i..].iter().take_while(|c| class(c)).count()];
        let seg_b = &b[j..j + b[j..].iter().take_while(|c| class(c)).count()];
        i += seg_a.len();
        j += seg_b.len();
        // Different types: a numeric segment is newer than an alpha one.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let strip = |s: &[u8]| {
                let z = s.iter().take_while(|c| **c == b'0').count();
                s[z..].to_vec()
            };
            let (na, nb) = (strip(seg_a), strip(seg_b));
            na.len().cmp(&nb.len()).then_with(|| na.cmp(&nb))
        } else {
            seg_a.cmp(seg_b)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// `[epoch:]version[-release]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Evr {
    /// `None` when not written (compares as 0).
    pub epoch: Option<u64>,
    pub version: String,
    /// `None` when not written: in a dependency range it matches any release.
    pub release: Option<String>,
}

impl Evr {
    /// Parse as rpm does (`rpmverParse`): the epoch is the digits before
    /// the first `:`, the release what follows the last `-`.
    pub fn parse(s: &str) -> Evr {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
                (e.parse().ok(), rest)
            }
            _ => (None, s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v.to_string(), Some(r.to_string())),
            None => (rest.to_string(), None),
        };
        Evr {
            epoch,
            version,
            release,
        }
    }

    pub fn new(epoch: Option<u64>, version: &str, release: Option<&str>) -> Evr {
        Evr {
            epoch,
            version: version.to_string(),
            release: release.map(str::to_string),
        }
    }

    /// Compare as rpm's `rpmdsCompare` does for dependency ranges: a
    /// missing release on either side does not take part.
    pub fn cmp_for_deps(&self, other: &Evr) -> Ordering {
        let e = self.epoch.unwrap_or(0).cmp(&other.epoch.unwrap_or(0));
        e.then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => rpmvercmp(a, b),
                _ => Ordering::Equal,
            })
    }
}

/// Package ordering: epoch, then version, then release (empty if missing).
impl Ord for Evr {
    fn cmp(&self, other: &Evr) -> Ordering {
        self.epoch
            .unwrap_or(0)
            .cmp(&other.epoch.unwrap_or(0))
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| {
                rpmvercmp(
                    self.release.as_deref().unwrap_or(""),
                    other.release.as_deref().unwrap_or(""),
                )
            })
    }
}

impl PartialOrd for Evr {
    fn partial_cmp(&self, other: &Evr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = self.epoch {
            write!(f, "{e}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

/// The comparison flags of an rpm dependency (`RPMSENSE_LESS|EQUAL|GREATER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flags {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Flags {
    /// From repodata's `flags` attribute (`LT`, `LE`, `EQ`, `GE`, `GT`).
    pub fn from_repodata(s: &str) -> Option<Flags> {
        Some(match s {
            "LT" => Flags::Lt,
            "LE" => Flags::Le,
            "EQ" => Flags::Eq,
            "GE" => Flags::Ge,
            "GT" => Flags::Gt,
            _ => return None,
        })
    }

    /// From a spec/rich-dependency operator (`<`, `<=`, `=`, `>=`, `>`).
    pub fn from_operator(s: &str) -> Option<Flags> {
        Some(match s {
            "<" => Flags::Lt,
            "<=" | "=<" => Flags::Le,
            "=" | "==" => Flags::Eq,
            ">=" | "=>" => Flags::Ge,
            ">" => Flags::Gt,
            _ => return None,
        })
    }

    /// Does a provided `have` satisfy `requirement flags want`?
    /// (For a versioned Provides against a versioned Requires, rpm checks
    /// range overlap; this is the common "package EVR in range" case.)
    pub fn matches(self, have: &Evr, want: &Evr) -> bool {
        let o = have.cmp_for_deps(want);
        match self {
            Flags::Lt => o == Ordering::Less,
            Flags::Le => o != Ordering::Greater,
            Flags::Eq => o == Ordering::Equal,
            Flags::Ge => o != Ordering::Less,
            Flags::Gt => o == Ordering::Greater,
        }
    }

    fn less(self) -> bool {
        matches!(self, Flags::Lt | Flags::Le)
    }

    fn equal(self) -> bool {
        matches!(self, Flags::Le | Flags::Eq | Flags::Ge)
    }

    fn greater(self) -> bool {
        matches!(self, Flags::Ge | Flags::Gt)
    }

    /// The operator as rpm prints it (`>=`).
    pub fn operator(self) -> &'static str {
        match self {
            Flags::Lt => "<",
            Flags::Le => "<=",
            Flags::Eq => "=",
            Flags::Ge => ">=",
            Flags::Gt => ">",
        }
    }
}

/// Whether two versioned dependencies on the same name overlap, as rpm's
/// `rpmdsCompare` decides it for a versioned Provides against a versioned
/// Requires: `foo = 1.2` satisfies `foo >= 1.0`, and `foo >= 2` meets
/// `foo < 3` (between 2 and 3). A missing release does not take part.
pub fn ranges_overlap(a: (Flags, &Evr), b: (Flags, &Evr)) -> bool {
    let ((fa, ea), (fb, eb)) = (a, b);
    match ea.cmp_for_deps(eb) {
        Ordering::Less => fa.greater() || fb.less(),
        Ordering::Greater => fa.less() || fb.greater(),
        Ordering::Equal => {
            (fa.equal() && fb.equal()) || (fa.less() && fb.less()) || (fa.greater() && fb.greater())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal as E, Greater as G, Less as L};

    /// rpm's own vectors (tests/rpmvercmp.at).
    pub const RPMVERCMP_CASES: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", E),
        ("1.0", "2.0", L),
        ("2.0", "1.0", G),
        ("2.0.1", "2.0.1", E),
        ("2.0", "2.0.1", L),
        ("2.0.1", "2.0", G),
        ("2.0.1a", "2.0.1a", E),
        ("2.0.1a", "2.0.1", G),
        ("2.0.1", "2.0.1a", L),
        ("5.5p1", "5.5p1", E),
        ("5.5p1", "5.5p2", L),
        ("5.5p2", "5.5p1", G),
        ("5.5p10", "5.5p10", E),
        ("5.5p1", "5.5p10", L),
        ("5.5p10", "5.5p1", G),
        ("10xyz", "10.1xyz", L),
        ("10.1xyz", "10xyz", G),
        ("xyz10", "xyz10", E),
        ("xyz10", "xyz10.1", L),
        ("xyz10.1", "xyz10", G),
        ("xyz.4", "xyz.4", E),
        ("xyz.4", "8", L),
        ("8", "xyz.4", G),
        ("xyz.4", "2", L),
        ("2", "xyz.4", G),
        ("5.5p2", "5.6p1", L),
        ("5.6p1", "5.5p2", G),
        ("5.6p1", "6.5p1", L),
        ("6.5p1", "5.6p1", G),
        ("6.0.rc1", "6.0", G),
        ("6.0", "6.0.rc1", L),
        ("10b2", "10a1", G),
        ("10a2", "10b2", L),
        ("1.0aa", "1.0aa", E),
        ("1.0a", "1.0aa", L),
        ("1.0aa", "1.0a", G),
        ("10.0001", "10.0001", E),
        ("10.0001", "10.1", E),
        ("10.1", "10.0001", E),
        ("10.0001", "10.0039", L),
        ("10.0039", "10.0001", G),
        ("4.999.9", "5.0", L),
        ("5.0", "4.999.9", G),
        ("20101121", "20101121", E),
        ("20101121", "20101122", L),
        ("20101122", "20101121", G),
        ("2_0", "2_0", E),
        ("2.0", "2_0", E),
        ("2_0", "2.0", E),
        ("a", "a", E),
        ("a+", "a+", E),
        ("a+", "a_", E),
        ("a_", "a+", E),
        ("+a", "+a", E),
        ("+a", "_a", E),
        ("_a", "+a", E),
        ("+_", "+_", E),
        ("_+", "+_", E),
        ("_+", "_", E),
        ("+", "_", E),
        ("_", "+", E),
        ("1.0~rc1", "1.0~rc1", E),
        ("1.0~rc1", "1.0", L),
        ("1.0", "1.0~rc1", G),
        ("1.0~rc1", "1.0~rc2", L),
        ("1.0~rc2", "1.0~rc1", G),
        ("1.0~rc1~git123", "1.0~rc1~git123", E),
        ("1.0~rc1~git123", "1.0~rc1", L),
        ("1.0~rc1", "1.0~rc1~git123", G),
        ("1.0^", "1.0^", E),
        ("1.0^", "1.0", G),
        ("1.0", "1.0^", L),
        ("1.0^git1", "1.0^git1", E),
        ("1.0^git1", "1.0", G),
        ("1.0", "1.0^git1", L),
        ("1.0^git1", "1.0^git2", L),
        ("1.0^git2", "1.0^git1", G),
        ("1.0^git1", "1.01", L),
        ("1.01", "1.0^git1", G),
        ("1.0^20160101", "1.0^20160101", E),
        ("1.0^20160101", "1.0.1", L),
        ("1.0.1", "1.0^20160101", G),
        ("1.0^20160101^git1", "1.0^20160101^git1", E),
        ("1.0^20160102", "1.0^20160101^git1", G),
        ("1.0^20160101^git1", "1.0^20160102", L),
        ("1.0~rc1^git1", "1.0~rc1^git1", E),
        ("1.0~rc1^git1", "1.0~rc1", G),
        ("1.0~rc1", "1.0~rc1^git1", L),
        ("1.0^git1~pre", "1.0^git1~pre", E),
        ("1.0^git1", "1.0^git1~pre", G),
        ("1.0^git1~pre", "1.0^git1", L),
    ];

    #[test]
    fn rpmvercmp_matches_rpms_own_vectors() {
        for (a, b, want) in RPMVERCMP_CASES {
            assert_eq!(rpmvercmp(a, b), *want, "rpmvercmp({a}, {b})");
        }
    }

    #[test]
    fn evr_parsing_and_ordering() {
        let e = Evr::parse("2:1.0-3.fc40");
        assert_eq!(e, Evr::new(Some(2), "1.0", Some("3.fc40")));
        assert_eq!(e.to_string(), "2:1.0-3.fc40");
        assert_eq!(Evr::parse("1.0"), Evr::new(None, "1.0", None));
        // A dash in the version belongs to the release split at the last dash.
        assert_eq!(
            Evr::parse("1.0-rc1-2"),
            Evr::new(None, "1.0-rc1", Some("2"))
        );
        assert!(Evr::parse("1:0.1-1") > Evr::parse("9.9-9"));
        assert_eq!(Evr::parse("0:1.0-1").cmp(&Evr::parse("1.0-1")), E);
        assert!(Evr::parse("1.0-2") > Evr::parse("1.0-1"));
    }

    #[test]
    fn dependency_ranges_ignore_a_missing_release() {
        let have = Evr::parse("2.36-9.fc40");
        assert!(Flags::Ge.matches(&have, &Evr::parse("2.36")));
        assert!(Flags::Eq.matches(&have, &Evr::parse("2.36")));
        assert!(!Flags::Gt.matches(&have, &Evr::parse("2.36")));
        assert!(Flags::Lt.matches(&have, &Evr::parse("2.36-10")));
        assert!(Flags::Le.matches(&have, &Evr::parse("1:1.0")));
        assert_eq!(Flags::from_repodata("GE"), Some(Flags::Ge));
        assert_eq!(Flags::from_operator(">="), Some(Flags::Ge));
        assert_eq!(Flags::from_operator("~"), None);
    }

    #[test]
    fn versioned_ranges_overlap_as_rpmdscompare() {
        use Flags::*;
        // (a, b, overlap)
        let cases = [
            ((Eq, "1.2"), (Ge, "1.0"), true),
            ((Eq, "0.9"), (Ge, "1.0"), false),
            ((Eq, "1.0"), (Gt, "1.0"), false),
            ((Eq, "1.0"), (Ge, "1.0"), true),
            ((Ge, "2"), (Lt, "3"), true),
            ((Ge, "3"), (Lt, "3"), false),
            ((Gt, "2"), (Gt, "5"), true),
            ((Lt, "2"), (Le, "1"), true),
            ((Le, "2"), (Ge, "2"), true),
            ((Lt, "2"), (Ge, "2"), false),
            // A missing release matches any release.
            ((Eq, "1.0-3"), (Eq, "1.0"), true),
            ((Eq, "1:1.0"), (Ge, "2.0"), true),
        ];
        for ((fa, a), (fb, b), want) in cases {
            let (a, b) = (Evr::parse(a), Evr::parse(b));
            assert_eq!(
                ranges_overlap((fa, &a), (fb, &b)),
                want,
                "{a:?} {fa:?} vs {b:?} {fb:?}"
            );
            assert_eq!(
                ranges_overlap((fb, &b), (fa, &a)),
                want,
                "symmetric: {a:?} {b:?}"
            );
        }
        // `matches` is the overlap of `= have` with the wanted range.
        for f in [Lt, Le, Eq, Ge, Gt] {
            for (have, want) in [("1.0", "2.0"), ("2.0", "2.0"), ("3.0", "2.0")] {
                let (have, want) = (Evr::parse(have), Evr::parse(want));
                assert_eq!(
                    f.matches(&have, &want),
                    ranges_overlap((Eq, &have), (f, &want))
                );
            }
        }
        assert_eq!(Ge.operator(), ">=");
    }

    /// Pseudo-random version strings built from the characters that matter.
    fn generated_pairs(n: usize) -> Vec<(String, String)> {
        const PARTS: &[&str] = &[
            "1", "0", "01", "10", "2", "a", "b", "rc", "git", ".", "_", "+", "~", "^", "~rc",
            "^git",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let word = |next: &mut dyn FnMut() -> u64| {
            let len = 1 + next() % 5;
            (0..len)
                .map(|_| PARTS[(next() % PARTS.len() as u64) as usize])
                .collect::<String>()
        };
        (0..n)
            .map(|_| {
                let a = word(&mut next);
                let b = if next() % 4 == 0 {
                    a.clone()
                } else {
                    word(&mut next)
                };
                (a, b)
            })
            .collect()
    }

    /// The host's rpm is the reference: every vector and 2000 generated
    /// pairs must compare the same (one `rpm --eval` with Lua for all).
    #[test]
    fn rpmvercmp_agrees_with_the_hosts_rpm() {
        let mut pairs: Vec<(String, String)> = RPMVERCMP_CASES
            .iter()
            .map(|(a, b, _)| (a.to_string(), b.to_string()))
            .collect();
        pairs.extend(generated_pairs(2000));
        let lua: String = pairs
            .iter()
            .map(|(a, b)| format!("print(rpm.vercmp('{a}','{b}') .. ',')\n"))
            .collect();
        let out = std::process::Command::new("rpm")
            .arg("--eval")
            .arg(format!("%{{lua:\n{lua}}}"))
            .output()
            .expect("the host's `rpm` is the reference for this test (apt-get install rpm)");
        let text = String::from_utf8_lossy(&out.stdout);
        let got: Vec<i32> = text
            .split(',')
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(got.len(), pairs.len(), "rpm printed: {text}");
        for ((a, b), want) in pairs.iter().zip(got) {
            let want = want.cmp(&0);
            assert_eq!(rpmvercmp(a, b), want, "rpmvercmp({a:?}, {b:?}) vs rpm");
        }
    }
}
