//! The index tables of rpm's sqlite database and the rows one installed
//! header gives them (`tag2index`, docs/research/rpmdb-sqlite.md §2).

use super::header::{Header, STRING_ARRAY, tag};
use crate::resolve::rpm::Op;

/// One index table: its name, the tag it indexes, whether its keys are
/// text (else blobs) and whether the tag is an array (an index on `hnum`).
pub struct Table {
    pub name: &'static str,
    pub tag: u32,
    pub text: bool,
    pub array: bool,
}

const fn table(name: &'static str, tag: u32, text: bool, array: bool) -> Table {
    Table {
        name,
        tag,
        text,
        array,
    }
}

/// rpm's `dbiTags`, in its order (rows and tables are made in this order).
pub const TABLES: &[Table] = &[
    table("Name", tag::NAME, true, false),
    table("Basenames", tag::BASENAMES, true, true),
    table("Group", tag::GROUP, true, false),
    table("Requirename", tag::REQUIRENAME, true, true),
    table("Providename", tag::PROVIDENAME, true, true),
    table("Conflictname", tag::CONFLICTNAME, true, true),
    table("Obsoletename", tag::OBSOLETENAME, true, true),
    table("Triggername", tag::TRIGGERNAME, true, true),
    table("Dirnames", tag::DIRNAMES, true, true),
    table("Installtid", tag::INSTALLTID, false, false),
    table("Sigmd5", tag::SIGMD5, false, false),
    table("Sha1header", tag::SHA1HEADER, true, false),
    table("Filetriggername", tag::FILETRIGGERNAME, true, true),
    table(
        "Transfiletriggername",
        tag::TRANSFILETRIGGERNAME,
        true,
        true,
    ),
    table("Recommendname", tag::RECOMMENDNAME, true, true),
    table("Suggestname", tag::SUGGESTNAME, true, true),
    table("Supplementname", tag::SUPPLEMENTNAME, true, true),
    table("Enhancename", tag::ENHANCENAME, true, true),
];

/// One row of an index table (its `hnum` is the package's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Into [`TABLES`].
    pub table: usize,
    pub key: Vec<u8>,
    pub idx: u32,
}

/// `isTransientReq`: a requirement only the install needs (`Requires(pre)`,
/// `rpmlib(…)`), which rpm does not index.
fn transient(flags: u32) -> bool {
    const INSTALL_ONLY: u32 = (1 << 9) | (1 << 10) | (1 << 24) | (1 << 26) | (1 << 7) | (1 << 5);
    const ERASE_ONLY: u32 = (1 << 11) | (1 << 12);
    const META: u32 = 1 << 29;
    flags & INSTALL_ONLY != 0 && flags & ERASE_ONLY == 0 && flags & META == 0
}

/// The rows of every index table for `h`, in rpm's order.
pub fn rows(h: &Header) -> Vec<Row> {
    let mut rows = Vec::new();
    for (t, table) in TABLES.iter().enumerate() {
        let mut add = |key: &[u8], idx: u32| {
            rows.push(Row {
                table: t,
                key: key.to_vec(),
                idx,
            })
        };
        match table.tag {
            tag::INSTALLTID => {
                if let Some(&tid) = h.u32s(tag::INSTALLTID).first() {
                    add(&tid.to_ne_bytes(), 0);
                }
                continue;
            }
            tag::SIGMD5 => {
                if let Some(p) = h.entry(tag::SIGMD5).and_then(|e| h.payload(e).ok()) {
                    add(p, 0);
                }
                continue;
            }
            _ => {}
        }
        let keys = h.strings(table.tag);
        if keys.is_empty() && table.tag == tag::GROUP {
            add(b"Unknown", 0);
            continue;
        }
        let flags = h.u32s(tag::REQUIREFLAGS);
        let trigger_index = match table.tag {
            tag::FILETRIGGERNAME => h.u32s(tag::FILETRIGGERINDEX),
            tag::TRANSFILETRIGGERNAME => h.u32s(tag::TRANSFILETRIGGERINDEX),
            _ => Vec::new(),
        };
        let rich = h.entry(table.tag).is_some_and(|e| e.kind == STRING_ARRAY)
            && matches!(
                table.tag,
                tag::REQUIRENAME
                    | tag::CONFLICTNAME
                    | tag::SUGGESTNAME
                    | tag::SUPPLEMENTNAME
                    | tag::RECOMMENDNAME
                    | tag::ENHANCENAME
            );
        for (i, key) in keys.iter().enumerate() {
            let idx = match table.tag {
                tag::FILETRIGGERNAME | tag::TRANSFILETRIGGERNAME => match trigger_index.get(i) {
                    Some(&n) => n,
                    None => continue,
                },
                _ => i as u32,
            };
            if table.tag == tag::REQUIRENAME && flags.get(i).is_some_and(|&f| transient(f)) {
                continue;
            }
            if table.tag == tag::TRIGGERNAME && keys[..i].contains(key) {
                continue;
            }
            add(key, idx);
            if rich && key.first() == Some(&b'(') {
                for name in rich_names(key) {
                    add(&name, idx);
                }
            }
        }
    }
    rows
}

/// The names a rich dependency is also indexed under (`updateRichDep`):
/// every simple name but `rpmlib(…)`, those of an `if`/`unless` condition
/// as `!name` (and plain again under `else`), sorted and without
/// duplicates. Nothing when the expression does not parse.
pub fn rich_names(dep: &[u8]) -> Vec<Vec<u8>> {
    let mut p = Rich {
        s: dep,
        at: 0,
        names: Vec::new(),
        neg: false,
        marks: vec![0],
    };
    if p.parse().is_none() {
        return Vec::new();
    }
    let mut names = p.names;
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|mut n| {
            if n[0] == b' ' {
                n.remove(0);
            }
            n
        })
        .collect()
}

/// `rpmrichParse` with `updateRichDepCB` as its callback.
struct Rich<'a> {
    s: &'a [u8],
    at: usize,
    /// Each name with `' '` or `'!'` in front.
    names: Vec<Vec<u8>>,
    neg: bool,
    /// Per nesting level: where the names of an `if` condition start.
    marks: Vec<usize>,
}

impl Rich<'_> {
    fn peek(&self) -> u8 {
        self.s.get(self.at).copied().unwrap_or(0)
    }

    fn skip_white(&mut self) {
        while self.peek() != 0 && (self.peek().is_ascii_whitespace() || self.peek() == b',') {
            self.at += 1;
        }
    }

    /// `SKIPNONWHITEX`: the end of the word at `from`, which may hold
    /// balanced parentheses.
    fn word_end(&self, from: usize) -> usize {
        let mut at = from;
        let mut depth = 0i32;
        loop {
            let c = self.s.get(at).copied().unwrap_or(0);
            if c == 0 || c.is_ascii_whitespace() || c == b',' {
                return at;
            }
            if c == b')' {
                let was = depth;
                depth -= 1;
                if was <= 0 {
                    return at;
                }
            }
            at += 1;
            if c == b'(' {
                depth += 1;
            }
        }
    }

    fn simple(&mut self) -> Option<()> {
        let start = self.at;
        self.at = self.word_end(start);
        let name = &self.s[start..self.at];
        if name.is_empty() {
            return None;
        }
        self.skip_white();
        if self.peek() != 0 {
            let end = self.word_end(self.at);
            let op = &self.s[self.at..end];
            if matches!(
                op,
                b"<=" | b"=<" | b"<" | b"==" | b"=" | b">=" | b"=>" | b">"
            ) {
                self.at = end;
                self.skip_white();
                let v = self.at;
                self.at = self.word_end(v);
                if self.at == v {
                    return None;
                }
            }
        }
        if !(name.len() > 7 && name.starts_with(b"rpmlib(")) {
            let mut n = vec![if self.neg { b'!' } else { b' ' }];
            n.extend_from_slice(name);
            self.names.push(n);
        }
        Some(())
    }

    fn op(&mut self) -> Option<Op> {
        let start = self.at;
        while self.peek() != 0 && !self.peek().is_ascii_whitespace() && self.peek() != b')' {
            self.at += 1;
        }
        Op::parse(std::str::from_utf8(&self.s[start..self.at]).ok()?)
    }

    /// One parenthesised expression; whether it may not appear under
    /// `with`/`without` (`RICHPARSE_NO_WITH`).
    fn parse(&mut self) -> Option<bool> {
        self.marks.push(self.names.len());
        let level = self.marks.len() - 1;
        if self.peek() != b'(' {
            return None;
        }
        self.at += 1;
        let mut op: Option<Op> = None;
        let mut first: Option<Op> = None;
        let mut chain: Option<Op> = None;
        let mut no_with = false;
        loop {
            self.skip_white();
            if self.peek() == b')' {
                return None;
            }
            if self.peek() == b'(' {
                no_with |= self.parse()?;
            } else {
                self.simple()?;
            }
            self.skip_white();
            match self.peek() {
                0 => return None,
                b')' => break,
                _ => {}
            }
            let this = self.op()?;
            op = Some(this);
            first = first.or(op);
            if this == Op::Else && matches!(chain, Some(Op::If | Op::Unless)) {
                chain = None;
            }
            if let Some(c) = chain
                && (c != this || !matches!(this, Op::And | Op::Or | Op::With))
            {
                return None;
            }
            match this {
                Op::If | Op::Unless => {
                    self.marks[level] = self.names.len();
                    self.neg = !self.neg;
                }
                Op::Else => {
                    let from = self.marks[level];
                    let flipped: Vec<Vec<u8>> = self.names[from..]
                        .iter()
                        .map(|n| {
                            let mut n = n.clone();
                            n[0] = if n[0] == b'!' { b' ' } else { b'!' };
                            n
                        })
                        .collect();
                    self.names.extend(flipped);
                    self.neg = !self.neg;
                }
                _ => {}
            }
            chain = Some(this);
        }
        if matches!(first, Some(Op::With | Op::Without)) && no_with {
            return None;
        }
        self.at += 1;
        self.marks.pop();
        if matches!(op, Some(Op::If | Op::Unless)) {
            self.neg = !self.neg;
        }
        Some(no_with || !matches!(op, None | Some(Op::With | Op::Without | Op::Or)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dep: &str) -> Vec<String> {
        rich_names(dep.as_bytes())
            .into_iter()
            .map(|n| String::from_utf8(n).unwrap())
            .collect()
    }

    #[test]
    fn rich_dependencies_are_indexed_as_rpm_does() {
        // The rows rpm 4.18 wrote for these (docs/research/rpmdb-sqlite.md §2).
        assert_eq!(names("(a if b else c)"), ["a", "b", "c", "!b"]);
        assert_eq!(names("(foo or bar)"), ["bar", "foo"]);
        assert_eq!(names("(a if b)"), ["a", "!b"]);
        assert_eq!(
            names("(pkg >= 1.0 with pkg < 2.0)"),
            ["pkg"],
            "versions are not names; duplicates go"
        );
        assert_eq!(
            names("((x or perl(Foo::Bar)) unless rpmlib(Rich) )"),
            ["perl(Foo::Bar)", "x"]
        );
        assert_eq!(names("(a and (b if c))"), ["a", "b", "!c"]);
        assert!(names("(a if b or c)").is_empty(), "mixed ops do not parse");
        assert!(names("((a and b) with c)").is_empty(), "and under with");
        assert_eq!(names("((a or b) with c)"), ["a", "b", "c"]);
        assert!(names("(a >= )").is_empty());
        assert!(names("(a").is_empty());
    }

    #[test]
    fn install_only_requirements_are_not_indexed() {
        assert!(transient(1 << 9)); // Requires(pre)
        assert!(transient(1 << 24)); // rpmlib()
        assert!(!transient((1 << 9) | (1 << 11))); // Requires(pre,preun)
        assert!(!transient(0x100)); // interpreter
        assert!(!transient(0));
    }
}
