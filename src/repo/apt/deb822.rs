//! The control-file format shared by `Packages`, `Release`, `Sources` and
//! `.dsc` (deb822(5)): paragraphs of `Name: value` fields separated by blank
//! lines, values continued on lines that start with a space or a tab.
//!
//! Lines starting with `#` are errors: these files have no comments (only
//! `debian/control` does, which brt never reads; dpkg-buildpackage does).
//!
//! The parser borrows from the input and allocates only one `Vec` per
//! paragraph, so a 60 MB `Packages` file is split in a few tens of
//! milliseconds. Field values are handed out raw (continuation lines
//! included); the consumer of each field knows how to read it.

/// One `Name: value` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// As written; compare with [`str::eq_ignore_ascii_case`].
    pub name: &'a str,
    /// Everything after the colon, without the spaces after the colon and
    /// without trailing whitespace. For a multi-line field this spans the
    /// continuation lines, newlines and leading whitespace included: the
    /// first line is what followed the colon (empty for `SHA256:`, so the
    /// value then starts with `\n`), then one line per continuation line.
    pub value: &'a str,
    /// 1-based line of the field name.
    pub line: usize,
}

impl<'a> Field<'a> {
    /// The value's lines with their leading and trailing whitespace removed,
    /// each with its 1-based line number in the file. Empty lines (such as
    /// the empty first line of `SHA256:` in a `Release`) are skipped.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let first = self.line;
        self.value
            .split('\n')
            .enumerate()
            .map(move |(i, l)| (first + i, l.trim()))
            .filter(|(_, l)| !l.is_empty())
    }
}

/// One paragraph (stanza): the fields in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    /// 1-based line of the first field.
    pub line: usize,
    pub fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The field called `name` (ASCII case-insensitive), if present.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The value of the field called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.field(name).map(|f| f.value)
    }
}

/// What is wrong with a control file, and on which line.
///
/// The caller adds which file it was; see e.g. `PackagesError::Syntax`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deb822Error {
    #[error("line {line}: continuation line before any field")]
    ContinuationFirst { line: usize },
    #[error("line {line}: `{text}` is not a `Name: value` field")]
    MissingColon { line: usize, text: String },
    #[error("line {line}: field name `{name}` is not valid")]
    BadFieldName { line: usize, name: String },
    #[error("line {line}: field `{name}` repeated (first on line {first_line})")]
    DuplicateField {
        line: usize,
        name: String,
        first_line: usize,
    },
    #[error("line {line}: comments are not allowed here")]
    Comment { line: usize },
}

/// Splits a control file into paragraphs; an iterator of
/// `Result<Paragraph, Deb822Error>` that stops after the first error.
#[derive(Debug, Clone)]
pub struct Paragraphs<'a> {
    rest: &'a str,
    /// 1-based number of the first line in `rest`.
    line: usize,
    failed: bool,
}

impl<'a> Paragraphs<'a> {
    pub fn new(text: &'a str) -> Self {
        Paragraphs {
            rest: text,
            line: 1,
            failed: false,
        }
    }

    /// The next line without its `\n` (and a `\r` before it), or `None` at
    /// the end of the input.
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        self.rest = rest;
        let number = self.line;
        self.line += 1;
        Some((number, line.strip_suffix('\r').unwrap_or(line)))
    }

    fn peek_is_continuation(&self) -> bool {
        self.rest.starts_with([' ', '\t'])
            && !self.rest[..self.rest.find('\n').unwrap_or(self.rest.len())]
                .trim()
                .is_empty()
    }

    fn paragraph(&mut self) -> Result<Option<Paragraph<'a>>, Deb822Error> {
        // Debian's Packages paragraphs have about 20 fields.
        let mut fields: Vec<Field<'a>> = Vec::with_capacity(24);
        let mut start = 0;
        loop {
            let before = self.rest;
            let Some((number, line)) = self.next_line() else {
                break;
            };
            if line.starts_with('#') {
                return Err(Deb822Error::Comment { line: number });
            }
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue; // blank lines before the paragraph
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                return Err(Deb822Error::ContinuationFirst { line: number });
            }
            let Some(colon) = line.find(':') else {
                return Err(Deb822Error::MissingColon {
                    line: number,
                    text: line.to_string(),
                });
            };
            let name = &line[..colon];
            if name.is_empty()
                || name.starts_with('-')
                || !name.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(Deb822Error::BadFieldName {
                    line: number,
                    name: name.to_string(),
                });
            }
            if fields.is_empty() {
                start = number;
            }
            // The value runs to the end of the last continuation line; take
            // it as one slice of the input.
            let value_start = colon + 1;
            let mut value_end = line.len();
            while self.peek_is_continuation() {
                let line_start = self.rest;
                let (_, cont) = self.next_line().expect("peeked");
                // Where the continuation line ends, as an offset in `before`.
                value_end = before.len() - line_start.len() + cont.len();
            }
            // Trim spaces after the colon, but keep a line break there so that
            // line `i` of the value is line `number + i` of the file.
            let value = before[value_start..value_end]
                .trim_start_matches([' ', '\t'])
                .trim_end();
            if let Some(first) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)) {
                return Err(Deb822Error::DuplicateField {
                    line: number,
                    name: name.to_string(),
                    first_line: first.line,
                });
            }
            fields.push(Field {
                name,
                value,
                line: number,
            });
        }
        Ok((!fields.is_empty()).then_some(Paragraph {
            line: start,
            fields,
        }))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.paragraph().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Result<Vec<Paragraph<'_>>, Deb822Error> {
        Paragraphs::new(text).collect()
    }

    #[test]
    fn fields_values_and_line_numbers() {
        let text = "\n\nPackage: dpkg\nVersion: 1.21.22\nTag: admin::package-management,\n implemented-in::c,\n\timplemented-in::perl\nEssential:yes\n\n\n\nPackage: mawk\nProvides: awk\n";
        let ps = all(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].line, 3);
        let names: Vec<_> = ps[0].fields.iter().map(|f| (f.name, f.line)).collect();
        assert_eq!(
            names,
            [("Package", 3), ("Version", 4), ("Tag", 5), ("Essential", 8)]
        );
        assert_eq!(
            ps[0].get("tag"),
            Some("admin::package-management,\n implemented-in::c,\n\timplemented-in::perl")
        );
        assert_eq!(ps[0].get("ESSENTIAL"), Some("yes"));
        assert_eq!(ps[1].line, 12);
        assert_eq!(ps[1].get("Provides"), Some("awk"));
        assert_eq!(ps[1].get("Depends"), None);
    }

    #[test]
    fn multiline_value_lines_carry_their_line_numbers() {
        let text = "SHA256:\n 0123 10 main/a\n 4567 20 main/b\nOrigin: Debian\n";
        let ps = all(text).unwrap();
        let sha = ps[0].field("sha256").unwrap();
        let lines: Vec<_> = sha.lines().collect();
        assert_eq!(lines, [(2, "0123 10 main/a"), (3, "4567 20 main/b")]);
        assert_eq!(ps[0].get("Origin"), Some("Debian"));
    }

    #[test]
    fn blank_lines_with_spaces_separate_paragraphs() {
        // deb822(5): a line of only spaces and tabs is a separator.
        let ps = all("A: 1\n \t\nB: 2\n").unwrap();
        assert_eq!(ps.len(), 2);
    }

    #[test]
    fn crlf_and_no_final_newline() {
        let ps = all("A: 1\r\nB: two\r\n more").unwrap();
        assert_eq!(ps[0].get("A"), Some("1"));
        assert_eq!(ps[0].get("B"), Some("two\r\n more"));
    }

    #[test]
    fn empty_input_has_no_paragraphs() {
        assert!(all("").unwrap().is_empty());
        assert!(all("\n\n  \n").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let table: &[(&str, &str)] = &[
            (
                " leading: continuation\n",
                "line 1: continuation line before any field",
            ),
            (
                "A: 1\n\n continued\n",
                "line 3: continuation line before any field",
            ),
            (
                "A: 1\nno colon here\n",
                "line 2: `no colon here` is not a `Name: value` field",
            ),
            (
                "A: 1\nB: 2\na: 3\n",
                "line 3: field `a` repeated (first on line 1)",
            ),
            ("A: 1\n# note\n", "line 2: comments are not allowed here"),
            (": 1\n", "line 1: field name `` is not valid"),
            ("-A: 1\n", "line 1: field name `-A` is not valid"),
            ("A B: 1\n", "line 1: field name `A B` is not valid"),
        ];
        for (text, want) in table {
            let err = all(text).unwrap_err();
            assert_eq!(err.to_string(), *want, "{text:?}");
        }
    }

    #[test]
    fn stops_after_first_error() {
        let mut it = Paragraphs::new("A: 1\n\nbad\n\nB: 2\n");
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }
}
