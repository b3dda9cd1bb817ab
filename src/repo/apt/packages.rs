//! `Packages` index files: one paragraph per binary package, parsed into
//! [`DebPackage`], with dependency fields parsed into a relation AST
//! (Policy §7.1) that also keeps the architecture restrictions and build
//! profiles `Build-Depends` use.

use std::fmt;
use std::io::Read;

use super::deb822::{Deb822Error, Field, Paragraph, Paragraphs};
use crate::version::deb::{DebVersion, DebVersionError, Rel, RelError};

/// One binary package from a `Packages` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebPackage {
    pub name: String,
    pub version: DebVersion,
    /// A Debian architecture name (`arm64`) or `all`.
    pub architecture: String,
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Protected: yes`: apt refuses to remove it.
    pub protected: bool,
    pub priority: Option<Priority>,
    /// The source package, when it differs from `name` (use
    /// [`DebPackage::source_name`]).
    pub source: Option<String>,
    /// The source version, when it differs from `version`: `Source: foo (1.2-3)`.
    pub source_version: Option<DebVersion>,
    pub pre_depends: Vec<Vec<DebDep>>,
    pub depends: Vec<Vec<DebDep>>,
    pub recommends: Vec<Vec<DebDep>>,
    pub conflicts: Vec<Vec<DebDep>>,
    pub breaks: Vec<Vec<DebDep>>,
    /// Each entry is a single-element group; a version is only `(= v)`.
    pub provides: Vec<Vec<DebDep>>,
    pub replaces: Vec<Vec<DebDep>>,
    /// Path relative to the repository root: `pool/main/g/glibc/libc6_…deb`.
    pub filename: String,
    /// Size of the `.deb` in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the `.deb`.
    pub sha256: String,
    /// `Installed-Size`, in KiB.
    pub installed_size: Option<u64>,
    /// `Built-Using` as written (`gcc-14 (= 14.2.0-19)`): what a cross
    /// compiler was built from.
    pub built_using: Option<String>,
}

impl DebPackage {
    /// The source package name: `Source:` or, when absent, the package name.
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    /// The source version: the one in `Source: name (version)` or, when
    /// absent, the package version.
    pub fn source_version(&self) -> &DebVersion {
        self.source_version.as_ref().unwrap_or(&self.version)
    }
}

/// `Multi-Arch:` (absent means `no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    #[default]
    No,
    /// Co-installable with itself for other architectures.
    Same,
    /// Satisfies dependencies from packages of any architecture.
    Foreign,
    /// Satisfies `name:any` dependencies from any architecture.
    Allowed,
}

/// `Priority:`; unknown values are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Priority {
    Required,
    Important,
    Standard,
    Optional,
    Extra,
    Other(String),
}

impl Priority {
    fn parse(s: &str) -> Priority {
        match s {
            "required" => Priority::Required,
            "important" => Priority::Important,
            "standard" => Priority::Standard,
            "optional" => Priority::Optional,
            "extra" => Priority::Extra,
            other => Priority::Other(other.to_string()),
        }
    }
}

/// One alternative of a relation: `name[:arch] [(rel version)] [[arches]] [<profiles>…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebDep {
    pub name: String,
    /// After `name:`: `any`, `native` or an architecture name.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(Rel, DebVersion)>,
    /// `[amd64 arm64]` / `[!i386]` (source relations only).
    pub arches: Option<ArchRestriction>,
    /// `<!nocheck> <stage1 cross>`: the relation applies when any of the
    /// lists holds, a list holds when all of its terms do. Empty: always.
    pub profiles: Vec<Vec<ProfileTerm>>,
}

impl DebDep {
    /// Whether this alternative applies with the given build profiles active.
    pub fn profiles_match(&self, active: &[&str]) -> bool {
        self.profiles.is_empty()
            || self.profiles.iter().any(|list| {
                list.iter()
                    .all(|t| active.contains(&t.name.as_str()) != t.negated)
            })
    }
}

impl fmt::Display for DebDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((rel, v)) = &self.constraint {
            write!(f, " ({rel} {v})")?;
        }
        if let Some(a) = &self.arches {
            let bang = if a.negated { "!" } else { "" };
            let list: Vec<String> = a.arches.iter().map(|x| format!("{bang}{x}")).collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        for list in &self.profiles {
            let terms: Vec<String> = list
                .iter()
                .map(|t| format!("{}{}", if t.negated { "!" } else { "" }, t.name))
                .collect();
            write!(f, " <{}>", terms.join(" "))?;
        }
        Ok(())
    }
}

/// An architecture restriction list. Policy §7.1 forbids mixing negated and
/// plain entries, so the negation is for the whole list. Entries may be
/// wildcards (`linux-any`, `any-arm64`); matching needs the architecture
/// tuple table and is left to the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchRestriction {
    pub negated: bool,
    pub arches: Vec<String>,
}

/// One term of a build-profile list: `nocheck` or `!nocheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileTerm {
    pub negated: bool,
    pub name: String,
}

/// What is wrong in a relation field. Each variant quotes the relation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error("empty relation between commas")]
    EmptyGroup,
    #[error("empty alternative in `{group}`")]
    EmptyAlternative { group: String },
    #[error("`{name}` in `{relation}` is not a valid package name")]
    BadName { relation: String, name: String },
    #[error("empty architecture qualifier in `{relation}`")]
    EmptyQualifier { relation: String },
    #[error("missing `{close}` in `{relation}`")]
    Unclosed { relation: String, close: char },
    #[error("bad version relation in `{relation}`")]
    BadRel {
        relation: String,
        #[source]
        source: RelError,
    },
    #[error("bad version in `{relation}`")]
    BadVersion {
        relation: String,
        #[source]
        source: DebVersionError,
    },
    #[error("empty `{open}…` list in `{relation}`")]
    EmptyList { relation: String, open: char },
    #[error("architecture list in `{relation}` mixes negated and plain entries")]
    MixedArches { relation: String },
    #[error("unexpected `{rest}` in `{relation}`")]
    Trailing { relation: String, rest: String },
    #[error("alternatives (`|`) are not allowed in this field: `{group}`")]
    AlternativesNotAllowed { group: String },
    #[error("only `=` versions may be provided: `{relation}`")]
    ProvidesNotExact { relation: String },
}

/// Parses a relation field (`Depends`, `Build-Depends`, `Provides`, …): an
/// AND of OR-groups. Whitespace and line breaks between tokens are free; a
/// trailing comma is allowed.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<DebDep>>, RelationError> {
    let mut groups = Vec::new();
    let mut parts = field.split(',').peekable();
    while let Some(group) = parts.next() {
        if group.trim().is_empty() {
            if parts.peek().is_none() && !groups.is_empty() {
                break; // trailing comma
            }
            if field.trim().is_empty() {
                break;
            }
            return Err(RelationError::EmptyGroup);
        }
        let mut alts = Vec::with_capacity(1);
        for alt in group.split('|') {
            if alt.trim().is_empty() {
                return Err(RelationError::EmptyAlternative {
                    group: group.trim().to_string(),
                });
            }
            alts.push(parse_dep(alt.trim())?);
        }
        groups.push(alts);
    }
    Ok(groups)
}

/// Characters that end a package name or an architecture qualifier.
fn ends_name(c: char) -> bool {
    c.is_ascii_whitespace() || matches!(c, ':' | '(' | '[' | '<' | ')' | ']' | '>')
}

/// dpkg's `pkg_name_is_illegal()`: an alphanumeric, then alphanumerics and `-+._`.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_'))
}

/// One alternative, already trimmed and non-empty.
fn parse_dep<'a>(relation: &'a str) -> Result<DebDep, RelationError> {
    let rel_text = || relation.to_string();
    let name_end = relation.find(ends_name).unwrap_or(relation.len());
    let name = &relation[..name_end];
    if !valid_name(name) {
        return Err(RelationError::BadName {
            relation: rel_text(),
            name: name.to_string(),
        });
    }
    let mut rest = &relation[name_end..];
    let mut arch_qualifier = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after.find(ends_name).unwrap_or(after.len());
        if end == 0 {
            return Err(RelationError::EmptyQualifier {
                relation: rel_text(),
            });
        }
        arch_qualifier = Some(after[..end].to_string());
        rest = &after[end..];
    }
    rest = rest.trim_start();

    // Takes `open … close` off the front of `rest`, returning the inside.
    let bracketed =
        |rest: &mut &'a str, open: char, close: char| -> Result<Option<&'a str>, RelationError> {
            let Some(after) = rest.strip_prefix(open) else {
                return Ok(None);
            };
            let Some(end) = after.find(close) else {
                return Err(RelationError::Unclosed {
                    relation: rel_text(),
                    close,
                });
            };
            let inside = after[..end].trim();
            *rest = after[end + 1..].trim_start();
            if inside.is_empty() {
                return Err(RelationError::EmptyList {
                    relation: rel_text(),
                    open,
                });
            }
            Ok(Some(inside))
        };

    let mut constraint = None;
    if let Some(inside) = bracketed(&mut rest, '(', ')')? {
        let op_end = inside
            .find(|c: char| !matches!(c, '<' | '=' | '>'))
            .unwrap_or(inside.len());
        let rel: Rel = inside[..op_end]
            .parse()
            .map_err(|source| RelationError::BadRel {
                relation: rel_text(),
                source,
            })?;
        let version: DebVersion =
            inside[op_end..]
                .parse()
                .map_err(|source| RelationError::BadVersion {
                    relation: rel_text(),
                    source,
                })?;
        constraint = Some((rel, version));
    }

    let mut arches = None;
    if let Some(inside) = bracketed(&mut rest, '[', ']')? {
        let mut list = Vec::new();
        let mut negated = None;
        for word in inside.split_ascii_whitespace() {
            let (neg, arch) = match word.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, word),
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(RelationError::MixedArches {
                    relation: rel_text(),
                });
            }
            if !valid_name(arch) {
                return Err(RelationError::BadName {
                    relation: rel_text(),
                    name: word.to_string(),
                });
            }
            list.push(arch.to_string());
        }
        arches = Some(ArchRestriction {
            negated: negated.unwrap_or(false),
            arches: list,
        });
    }

    let mut profiles = Vec::new();
    while let Some(inside) = bracketed(&mut rest, '<', '>')? {
        let mut terms = Vec::new();
        for word in inside.split_ascii_whitespace() {
            let (negated, name) = match word.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, word),
            };
            if !valid_name(name) {
                return Err(RelationError::BadName {
                    relation: rel_text(),
                    name: word.to_string(),
                });
            }
            terms.push(ProfileTerm {
                negated,
                name: name.to_string(),
            });
        }
        profiles.push(terms);
    }

    if !rest.is_empty() {
        return Err(RelationError::Trailing {
            relation: rel_text(),
            rest: rest.to_string(),
        });
    }
    Ok(DebDep {
        name: name.to_string(),
        arch_qualifier,
        constraint,
        arches,
        profiles,
    })
}

/// Why one field's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error(transparent)]
    Version(#[from] DebVersionError),
    #[error(transparent)]
    Relation(#[from] RelationError),
    #[error("`{value}` is not {expected}")]
    Value {
        value: String,
        expected: &'static str,
    },
}

/// Everything that can go wrong reading a `Packages` file. `origin` is the
/// file or URL it came from.
#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error("cannot read `{origin}`")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{origin}` is not a valid Packages file")]
    Syntax {
        origin: String,
        #[source]
        source: Deb822Error,
    },
    #[error("`{origin}` line {line}: package{} has no `{field}` field", .package.as_ref().map(|p| format!(" `{p}`")).unwrap_or_default())]
    MissingField {
        origin: String,
        line: usize,
        package: Option<String>,
        field: &'static str,
    },
    #[error("`{origin}` line {line}: bad `{field}` field of package `{package}`")]
    BadField {
        origin: String,
        line: usize,
        package: String,
        field: String,
        #[source]
        source: Box<FieldError>,
    },
}

/// Parses a whole `Packages` file (already decompressed).
pub fn parse_packages(text: &str, origin: &str) -> Result<Vec<DebPackage>, PackagesError> {
    // ~1 KiB per paragraph in Debian's files; avoids most regrowth.
    let mut out = Vec::with_capacity(text.len() / 900);
    for paragraph in Paragraphs::new(text) {
        let paragraph = paragraph.map_err(|source| PackagesError::Syntax {
            origin: origin.to_string(),
            source,
        })?;
        out.push(DebPackage::from_paragraph(&paragraph, origin)?);
    }
    Ok(out)
}

/// Reads and parses a `Packages` file from any reader, e.g. a decompressor
/// from [`super::decompressor`].
pub fn read_packages(
    mut reader: impl Read,
    origin: &str,
) -> Result<Vec<DebPackage>, PackagesError> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|source| PackagesError::Read {
            origin: origin.to_string(),
            source,
        })?;
    parse_packages(&text, origin)
}

/// Relation fields that may not contain alternatives (dpkg refuses them).
fn no_alternatives(groups: &[Vec<DebDep>]) -> Result<(), RelationError> {
    match groups.iter().find(|g| g.len() > 1) {
        Some(g) => Err(RelationError::AlternativesNotAllowed {
            group: g
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }),
        None => Ok(()),
    }
}

/// `Provides` may only carry `(= version)` (Policy §7.5).
fn only_exact_versions(groups: &[Vec<DebDep>]) -> Result<(), RelationError> {
    let inexact = groups
        .iter()
        .flatten()
        .find(|d| matches!(d.constraint, Some((rel, _)) if rel != Rel::Eq));
    match inexact {
        Some(d) => Err(RelationError::ProvidesNotExact {
            relation: d.to_string(),
        }),
        None => Ok(()),
    }
}

/// What a relation field may contain.
#[derive(Clone, Copy)]
enum RelKind {
    Alternatives,
    NoAlternatives,
    Provides,
}

/// The fields of one `Packages` paragraph that brt reads.
#[derive(Default)]
struct Fields<'a> {
    name: Option<Field<'a>>,
    version: Option<Field<'a>>,
    architecture: Option<Field<'a>>,
    multi_arch: Option<Field<'a>>,
    essential: Option<Field<'a>>,
    protected: Option<Field<'a>>,
    priority: Option<Field<'a>>,
    source: Option<Field<'a>>,
    pre_depends: Option<Field<'a>>,
    depends: Option<Field<'a>>,
    recommends: Option<Field<'a>>,
    conflicts: Option<Field<'a>>,
    breaks: Option<Field<'a>>,
    provides: Option<Field<'a>>,
    replaces: Option<Field<'a>>,
    filename: Option<Field<'a>>,
    size: Option<Field<'a>>,
    sha256: Option<Field<'a>>,
    installed_size: Option<Field<'a>>,
    built_using: Option<Field<'a>>,
}

impl<'a> Fields<'a> {
    /// One pass over the paragraph's fields; names compared
    /// case-insensitively (by length first: this runs for every package).
    fn collect(p: &Paragraph<'a>) -> Fields<'a> {
        let mut f = Fields::default();
        for field in &p.fields {
            let name = field.name;
            let is = |known: &str| name.eq_ignore_ascii_case(known);
            let slot = match name.len() {
                4 if is("Size") => &mut f.size,
                6 if is("SHA256") => &mut f.sha256,
                6 if is("Source") => &mut f.source,
                6 if is("Breaks") => &mut f.breaks,
                7 if is("Package") => &mut f.name,
                7 if is("Version") => &mut f.version,
                7 if is("Depends") => &mut f.depends,
                8 if is("Priority") => &mut f.priority,
                8 if is("Provides") => &mut f.provides,
                8 if is("Replaces") => &mut f.replaces,
                8 if is("Filename") => &mut f.filename,
                9 if is("Essential") => &mut f.essential,
                9 if is("Conflicts") => &mut f.conflicts,
                9 if is("Protected") => &mut f.protected,
                10 if is("Multi-Arch") => &mut f.multi_arch,
                10 if is("Recommends") => &mut f.recommends,
                11 if is("Pre-Depends") => &mut f.pre_depends,
                11 if is("Built-Using") => &mut f.built_using,
                12 if is("Architecture") => &mut f.architecture,
                14 if is("Installed-Size") => &mut f.installed_size,
                _ => continue,
            };
            *slot = Some(*field);
        }
        f
    }
}

/// Checks one package's field values; errors name the file, line, package
/// and field.
struct Check<'c> {
    origin: &'c str,
    /// The paragraph's first line.
    line: usize,
    name: &'c str,
}

impl<'a> Check<'_> {
    fn missing(&self, field: &'static str) -> PackagesError {
        PackagesError::MissingField {
            origin: self.origin.to_string(),
            line: self.line,
            package: Some(self.name.to_string()),
            field,
        }
    }

    fn bad(&self, f: &Field<'_>, source: FieldError) -> PackagesError {
        PackagesError::BadField {
            origin: self.origin.to_string(),
            line: f.line,
            package: self.name.to_string(),
            field: f.name.to_string(),
            source: Box::new(source),
        }
    }

    fn value_err(&self, f: &Field<'_>, expected: &'static str) -> PackagesError {
        let value = f.value.to_string();
        self.bad(f, FieldError::Value { value, expected })
    }

    fn required(
        &self,
        f: Option<Field<'a>>,
        field: &'static str,
    ) -> Result<Field<'a>, PackagesError> {
        f.ok_or_else(|| self.missing(field))
    }

    fn version(&self, f: &Field<'_>, text: &str) -> Result<DebVersion, PackagesError> {
        text.parse()
            .map_err(|e: DebVersionError| self.bad(f, e.into()))
    }

    fn yes_no(&self, f: Option<Field<'_>>) -> Result<bool, PackagesError> {
        match f.map(|f| (f, f.value)) {
            None | Some((_, "no")) => Ok(false),
            Some((_, "yes")) => Ok(true),
            Some((f, _)) => Err(self.value_err(&f, "`yes` or `no`")),
        }
    }

    fn number(&self, f: &Field<'_>) -> Result<u64, PackagesError> {
        f.value
            .parse::<u64>()
            .map_err(|_| self.value_err(f, "a whole number"))
    }

    fn relations(
        &self,
        f: Option<Field<'_>>,
        kind: RelKind,
    ) -> Result<Vec<Vec<DebDep>>, PackagesError> {
        let Some(f) = f else {
            return Ok(Vec::new());
        };
        let groups = parse_relations(f.value).map_err(|e| self.bad(&f, e.into()))?;
        let checked = match kind {
            RelKind::Alternatives => Ok(()),
            RelKind::NoAlternatives => no_alternatives(&groups),
            RelKind::Provides => {
                no_alternatives(&groups).and_then(|()| only_exact_versions(&groups))
            }
        };
        checked.map_err(|e| self.bad(&f, e.into()))?;
        Ok(groups)
    }

    fn multi_arch(&self, f: Option<Field<'_>>) -> Result<MultiArch, PackagesError> {
        let Some(f) = f else {
            return Ok(MultiArch::No);
        };
        match f.value {
            "no" => Ok(MultiArch::No),
            "same" => Ok(MultiArch::Same),
            "foreign" => Ok(MultiArch::Foreign),
            "allowed" => Ok(MultiArch::Allowed),
            _ => Err(self.value_err(&f, "one of `no`, `same`, `foreign`, `allowed`")),
        }
    }

    /// `Source: name` or `name (version)`: the source package's name and
    /// version where they differ from the binary package's.
    fn source(
        &self,
        f: Option<Field<'_>>,
        version: &DebVersion,
    ) -> Result<(Option<String>, Option<DebVersion>), PackagesError> {
        let Some(f) = f else {
            return Ok((None, None));
        };
        let expected = "`name` or `name (version)`";
        let (src, ver) = match f.value.split_once('(') {
            None => (f.value, None),
            Some((src, rest)) => {
                let Some(ver) = rest.trim_end().strip_suffix(')') else {
                    return Err(self.value_err(&f, expected));
                };
                (src.trim_end(), Some(self.version(&f, ver)?))
            }
        };
        if !valid_name(src) {
            return Err(self.value_err(&f, expected));
        }
        let src = (src != self.name).then(|| src.to_string());
        Ok((src, ver.filter(|v| v.as_str() != version.as_str())))
    }
}

impl DebPackage {
    /// Builds a package from one `Packages` paragraph. `Package`, `Version`,
    /// `Architecture`, `Filename`, `Size` and `SHA256` are required: brt
    /// downloads nothing it cannot verify.
    pub fn from_paragraph(p: &Paragraph<'_>, origin: &str) -> Result<DebPackage, PackagesError> {
        let f = Fields::collect(p);
        let Some(name_field) = f.name else {
            return Err(PackagesError::MissingField {
                origin: origin.to_string(),
                line: p.line,
                package: None,
                field: "Package",
            });
        };
        let name = name_field.value;
        let c = Check {
            origin,
            line: p.line,
            name,
        };
        if !valid_name(name) {
            return Err(c.value_err(&name_field, "a valid package name"));
        }
        // Checked in this order, so the first problem is the one reported.
        let version_field = c.required(f.version, "Version")?;
        let version = c.version(&version_field, version_field.value)?;
        let architecture = c
            .required(f.architecture, "Architecture")?
            .value
            .to_string();
        let multi_arch = c.multi_arch(f.multi_arch)?;
        let (source, source_version) = c.source(f.source, &version)?;
        let filename = c.required(f.filename, "Filename")?.value.to_string();
        let size = c.number(&c.required(f.size, "Size")?)?;
        let sha256 = c.required(f.sha256, "SHA256")?;
        if sha256.value.len() != 64 || !sha256.value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(c.value_err(&sha256, "64 hexadecimal digits"));
        }
        let installed_size = f.installed_size.as_ref().map(|f| c.number(f)).transpose()?;
        use RelKind::{Alternatives, NoAlternatives, Provides};
        Ok(DebPackage {
            name: name.to_string(),
            version,
            architecture,
            multi_arch,
            essential: c.yes_no(f.essential)?,
            protected: c.yes_no(f.protected)?,
            priority: f.priority.map(|f| Priority::parse(f.value)),
            source,
            source_version,
            pre_depends: c.relations(f.pre_depends, Alternatives)?,
            depends: c.relations(f.depends, Alternatives)?,
            recommends: c.relations(f.recommends, Alternatives)?,
            conflicts: c.relations(f.conflicts, NoAlternatives)?,
            breaks: c.relations(f.breaks, NoAlternatives)?,
            provides: c.relations(f.provides, Provides)?,
            replaces: c.relations(f.replaces, NoAlternatives)?,
            filename,
            size,
            sha256: sha256.value.to_ascii_lowercase(),
            installed_size,
            built_using: f.built_using.map(|f| f.value.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DebVersion {
        s.parse().unwrap()
    }

    fn dep(name: &str) -> DebDep {
        DebDep {
            name: name.to_string(),
            arch_qualifier: None,
            constraint: None,
            arches: None,
            profiles: Vec::new(),
        }
    }

    fn dep_v(name: &str, rel: Rel, ver: &str) -> DebDep {
        DebDep {
            constraint: Some((rel, v(ver))),
            ..dep(name)
        }
    }

    /// Real paragraphs from bookworm's main/binary-amd64/Packages
    /// (`/var/lib/apt/lists` of a bookworm host).
    const BOOKWORM: &str = r#"Package: libc6
Source: glibc
Version: 2.36-9+deb12u14
Installed-Size: 13001
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales, libnss-nis, libnss-nisplus
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6), chrony (<< 4.2-3~), fakechroot (<< 2.19-3.5), firefox (<< 91~), firefox-esr (<< 91~), gnumach-image-1.8-486 (<< 2:1.8+git20210923~), gnumach-image-1.8-486-dbg (<< 2:1.8+git20210923~), gnumach-image-1.8-xen-486 (<< 2:1.8+git20210923~), gnumach-image-1.8-xen-486-dbg (<< 2:1.8+git20210923~), hurd (<< 1:0.9.git20220301-2), ioquake3 (<< 1.36+u20200211.f2c61c1~dfsg-2~), iraf-fitsutil (<< 2018.07.06-4), libgegl-0.4-0 (<< 0.4.18), libtirpc1 (<< 0.2.3), locales (<< 2.36), locales-all (<< 2.36), macs (<< 2.2.7.1-3~), nocache (<< 1.1-1~), nscd (<< 2.36), openarena (<< 0.8.8+dfsg-4~), openssh-server (<< 1:8.1p1-5), python3-iptables (<< 1.0.0-2), r-cran-later (<< 0.7.5+dfsg-2), tinydns (<< 1:1.05-14), valgrind (<< 1:3.19.0-1~), wcc (<< 0.0.2+dfsg-3)
Description: GNU C Library: Shared libraries
Multi-Arch: same
Homepage: https://www.gnu.org/software/libc/libc.html
Description-md5: fc3001b0b90a1c8e6690b283a619d57f
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2759320
MD5sum: 8d98f0c882f269aaee8437bcfe89346e
SHA256: ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf

Package: coreutils
Version: 9.1-1
Essential: yes
Installed-Size: 18062
Maintainer: Michael Stone <mstone@debian.org>
Architecture: amd64
Pre-Depends: libacl1 (>= 2.2.23), libattr1 (>= 1:2.4.44), libc6 (>= 2.34), libgmp10 (>= 2:6.2.1+dfsg1), libselinux1 (>= 3.1~)
Description: GNU core utilities
Multi-Arch: foreign
Homepage: http://gnu.org/software/coreutils
Description-md5: d0d975dec3625409d24be1238cede238
Tag: admin::configuring, implemented-in::c, interface::commandline,
 role::program, scope::utility, suite::gnu, works-with::file
Section: utils
Priority: required
Filename: pool/main/c/coreutils/coreutils_9.1-1_amd64.deb
Size: 2896560
MD5sum: 422d5a39db59ce199e9588ac35167081
SHA256: 61038f857e346e8500adf53a2a0a20859f4d3a3b51570cc876b153a2d51a3091

Package: dpkg
Version: 1.21.23
Essential: yes
Installed-Size: 6409
Maintainer: Dpkg Developers <debian-dpkg@lists.debian.org>
Architecture: amd64
Depends: tar (>= 1.28-1)
Pre-Depends: libbz2-1.0, libc6 (>= 2.34), liblzma5 (>= 5.4.0), libmd0 (>= 0.0.0), libselinux1 (>= 3.1~), libzstd1 (>= 1.5.2), zlib1g (>= 1:1.1.4)
Suggests: apt, debsig-verify
Breaks: libapt-pkg5.0 (<< 1.7~b), lsb-base (<< 10.2019031300)
Description: Debian package management system
Multi-Arch: foreign
Homepage: https://wiki.debian.org/Teams/Dpkg
Description-md5: 2f156c6a30cc39895ad3487111e8c190
Tag: admin::package-management, devel::lang:perl, devel::library,
 implemented-in::c, implemented-in::perl, interface::commandline,
 role::devel-lib, role::program, scope::utility, suite::debian,
 use::configuring, works-with::software:package
Section: admin
Priority: required
Filename: pool/main/d/dpkg/dpkg_1.21.23_amd64.deb
Size: 1567804
MD5sum: 2858b1c15607a869ed221c922f06740e
SHA256: f89e9f8d1a4a50ade44be3ed59a6ec55460fce205d2f8520c5c492137c5b609b

Package: perl-base
Source: perl
Version: 5.36.0-7+deb12u3
Essential: yes
Installed-Size: 7639
Maintainer: Niko Tyni <ntyni@debian.org>
Architecture: amd64
Replaces: libfile-path-perl (<< 2.18), libfile-temp-perl (<< 0.2311), libio-socket-ip-perl (<< 0.41), libscalar-list-utils-perl (<< 1:1.62), libsocket-perl (<< 2.033), libxsloader-perl (<< 0.31), perl (<< 5.10.1-12), perl-modules (<< 5.20.1-3)
Provides: libfile-path-perl (= 2.18), libfile-temp-perl (= 0.2311), libio-socket-ip-perl (= 0.41), libscalar-list-utils-perl (= 1:1.62), libsocket-perl (= 2.033), libxsloader-perl (= 0.31), perlapi-5.36.0
Pre-Depends: libc6 (>= 2.35), libcrypt1 (>= 1:4.1.0), dpkg (>= 1.17.17)
Suggests: perl, sensible-utils
Conflicts: defoma (<< 0.11.12), doc-base (<< 0.10.3), mono-gac (<< 2.10.8.1-3), safe-rm (<< 0.8), update-inetd (<< 4.41)
Breaks: amanda-common (<< 1:3.3.9-2), backuppc (<< 4.4.0-7~), bucardo (<< 5.5.0-1.1), debconf (<< 1.5.61), dh-haskell (<< 0.3), duck (<< 0.14.1), intltool (<< 0.51.0-4), kio-perldoc (<< 20.04.1-1), latexml (<< 0.8.4-2), libdevel-mat-dumper-perl (<< 0.42-3), libencode-arabic-perl (<< 14.2-2), libexception-class-perl (<< 1.42), libfile-path-perl (<< 2.18), libfile-spec-perl (<< 3.8400), libfile-temp-perl (<< 0.2311), libio-socket-ip-perl (<< 0.41), libmp3-tag-perl (<< 1.13-1.2), libsbuild-perl (<< 0.67.0-1), libscalar-list-utils-perl (<< 1:1.62), libsocket-perl (<< 2.033), libxsloader-perl (<< 0.31), mailagent (<< 1:3.1-81-2), perl (<< 5.36.0~), perl-modules (<< 5.36.0~), pod2pdf (<< 0.42-5.1), slic3r (<< 1.2.9+dfsg-6.1), slic3r-prusa (<< 1.37.0+dfsg-1.1), texinfo (<< 6.1.0.dfsg.1-8)
Description: minimal Perl system
Homepage: http://dev.perl.org/perl5/
Description-md5: 6f98ca50727514fe6b19872d5ede03ec
Tag: devel::interpreter, devel::lang:perl, devel::library, implemented-in::c,
 implemented-in::perl, interface::commandline, role::devel-lib,
 role::program, role::shared-lib
Section: perl
Priority: required
Filename: pool/main/p/perl/perl-base_5.36.0-7+deb12u3_amd64.deb
Size: 1607712
MD5sum: ecfb13a52fa1144ea3f5513f6d7f6d40
SHA256: 8ec874926e211807cde71e1b0a2311d2534ab3539dffcb2c8553633f542efc1a

Package: mawk
Version: 1.3.4.20200120-3.1
Installed-Size: 263
Maintainer: Boyuan Yang <byang@debian.org>
Architecture: amd64
Provides: awk
Depends: libc6 (>= 2.29)
Description: Pattern scanning and text processing language
Multi-Arch: foreign
Homepage: https://invisible-island.net/mawk/
Description-md5: 05965bfcd1a2333e963d9f1945d161fc
Tag: devel::interpreter, implemented-in::c, interface::commandline,
 role::program, scope::utility, use::filtering, use::scanning,
 works-with::text
Section: interpreters
Priority: required
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 119144
MD5sum: 31b4bf928cdc04e445b5f61ba621ac74
SHA256: bcbc83f391854ea9d50ce2a4101aacf330de3b8b71d81a798faadba14a157f78

Package: libssl3
Source: openssl
Version: 3.0.20-1~deb12u2
Installed-Size: 6030
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
Multi-Arch: same
Homepage: https://www.openssl.org/
Description-md5: 88547c6206c7fbc4fcc7d09ce100d210
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/o/openssl/libssl3_3.0.20-1~deb12u2_amd64.deb
Size: 2036016
MD5sum: 4efab63a42e193c6107a3e1d1c46eaa4
SHA256: 89be24b41bff568ee6e7caf5680a3d808e80315ed92e407056ce0fa7a5bda025

Package: libgcc-s1
Source: gcc-12
Version: 12.2.0-14+deb12u1
Installed-Size: 140
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Replaces: libgcc1 (<< 1:10)
Provides: libgcc1 (= 1:12.2.0-14+deb12u1)
Depends: gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)
Description: GCC support library
Multi-Arch: same
Homepage: http://gcc.gnu.org/
Description-md5: bbd60d723e97d8e06c04228ee4c76f10
Important: yes
Protected: yes
Tag: role::shared-lib
Section: libs
Priority: optional
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb
Size: 49856
MD5sum: 9db51e73a4a0547f1e67400bc2c11a86
SHA256: 3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7

Package: debconf
Version: 1.5.82
Installed-Size: 491
Maintainer: Debconf Developers <debconf-devel@lists.alioth.debian.org>
Architecture: all
Replaces: debconf-tiny
Provides: debconf-2.0
Recommends: apt-utils, debconf-i18n
Suggests: debconf-doc, debconf-kde-helper, debconf-utils, libgtk3-perl, libnet-ldap-perl, libterm-readline-gnu-perl, perl, whiptail | dialog
Conflicts: debconf-tiny, whiptail-utf8 (<= 0.50.17-13)
Description: Debian configuration management system
Multi-Arch: foreign
Description-md5: 85b82bf406dfc9a635114f44ab7fb66d
Tag: admin::configuring, implemented-in::perl, interface::commandline,
 interface::graphical, interface::text-mode, interface::x11,
 role::program, scope::utility, suite::debian, uitoolkit::TODO,
 uitoolkit::gtk, uitoolkit::ncurses, uitoolkit::qt, use::configuring,
 x11::application
Section: admin
Priority: required
Filename: pool/main/d/debconf/debconf_1.5.82_all.deb
Size: 121212
MD5sum: ab40b7d3c7dd743f16d0d24ce3373270
SHA256: 74ab14194a3762b2fc717917dcfda42929ab98e3c59295a063344dc551cd7cc8

Package: binutils-aarch64-linux-gnu
Source: binutils
Version: 2.40-2
Installed-Size: 19242
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Replaces: binutils (<< 2.29-6), binutils-dev (<< 2.38.50.20220609-2)
Depends: binutils-common (= 2.40-2), libbinutils (>= 2.39.50), libc6 (>= 2.36), libgcc-s1 (>= 4.2), libjansson4 (>= 2.14), libzstd1 (>= 1.5.2), zlib1g (>= 1:1.1.4)
Suggests: binutils-doc (= 2.40-2)
Breaks: binutils (<< 2.29-6), binutils-dev (<< 2.38.50.20220609-2)
Description: GNU binary utilities, for aarch64-linux-gnu target
Multi-Arch: allowed
Homepage: https://www.gnu.org/software/binutils/
Description-md5: 102820197d11c3672c0cd4ce0becb720
Section: devel
Priority: optional
Filename: pool/main/b/binutils/binutils-aarch64-linux-gnu_2.40-2_amd64.deb
Size: 3352924
MD5sum: 2c02fdb8d4455ace16be0bb922eb8502
SHA256: 3d6f64a7a4ed6d73719f8fa2e85fd896f58ff7f211a6683942ba93de690aaa66

Package: afterstep
Source: afterstep (2.2.12-15)
Version: 2.2.12-15+b2
Installed-Size: 1287
Maintainer: Robert Luberda <robert@debian.org>
Architecture: amd64
Provides: x-window-manager
Depends: afterstep-data (= 2.2.12-15), aterm | x-terminal-emulator, imagemagick, menu, menu-xdg, sensible-utils, ucf, perl:any, libafterimage0 (>= 2.2.12), libafterstep1 (>= 2.2.12), libc6 (>= 2.34), libdbus-1-3 (>= 1.9.14), libglib2.0-0 (>= 2.26.0), libgtk2.0-0 (>= 2.8.0), libreadline8 (>= 6.0), libx11-6, libxext6
Recommends: gnome-themes-extra
Suggests: asclock | wmitime, asmail, asmon, mc, wmcpuload, xscreensaver
Description: window manager with the NEXTSTEP look and feel
Multi-Arch: foreign
Homepage: http://www.afterstep.org/
Description-md5: d34d45817d3b122e341c7841a63b70c5
Tag: implemented-in::c, interface::graphical, interface::x11, role::program,
 suite::gnustep, uitoolkit::gtk, uitoolkit::ncurses, x11::applet,
 x11::application, x11::window-manager
Section: x11
Priority: optional
Filename: pool/main/a/afterstep/afterstep_2.2.12-15+b2_amd64.deb
Size: 509916
MD5sum: 5f953bd9118e31a7bf4516a271489481
SHA256: 264717516dab2d7e8202caebc2bbb0fa35015ddcf1451d722534be82388e8f5b
"#;

    fn bookworm() -> Vec<DebPackage> {
        parse_packages(BOOKWORM, "bookworm/main/binary-amd64/Packages").unwrap()
    }

    fn find<'p>(pkgs: &'p [DebPackage], name: &str) -> &'p DebPackage {
        pkgs.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn real_paragraphs_all_parse() {
        let pkgs = bookworm();
        let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "libc6",
                "coreutils",
                "dpkg",
                "perl-base",
                "mawk",
                "libssl3",
                "libgcc-s1",
                "debconf",
                "binutils-aarch64-linux-gnu",
                "afterstep"
            ]
        );
    }

    #[test]
    fn libc6_multi_arch_same_library() {
        let pkgs = bookworm();
        let libc = find(&pkgs, "libc6");
        assert_eq!(libc.version, v("2.36-9+deb12u14"));
        assert_eq!(libc.architecture, "amd64");
        assert_eq!(libc.multi_arch, MultiArch::Same);
        assert!(!libc.essential);
        assert_eq!(libc.priority, Some(Priority::Optional));
        assert_eq!(libc.source_name(), "glibc");
        assert_eq!(libc.source_version(), &v("2.36-9+deb12u14"));
        assert_eq!(libc.depends, [vec![dep("libgcc-s1")]]);
        assert_eq!(
            libc.recommends,
            [vec![dep_v("libidn2-0", Rel::Ge, "2.0.5~")]]
        );
        assert_eq!(libc.replaces, [vec![dep("libc6-amd64")]]);
        assert_eq!(libc.breaks.len(), 27);
        assert_eq!(
            libc.breaks[10],
            [dep_v("hurd", Rel::Lt, "1:0.9.git20220301-2")]
        );
        assert_eq!(
            libc.filename,
            "pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb"
        );
        assert_eq!(libc.size, 2759320);
        assert_eq!(
            libc.sha256,
            "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf"
        );
        assert_eq!(libc.installed_size, Some(13001));
    }

    #[test]
    fn essential_packages_and_pre_depends() {
        let pkgs = bookworm();
        let essential: Vec<&str> = pkgs
            .iter()
            .filter(|p| p.essential)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(essential, ["coreutils", "dpkg", "perl-base"]);
        let dpkg = find(&pkgs, "dpkg");
        assert_eq!(dpkg.priority, Some(Priority::Required));
        assert_eq!(dpkg.multi_arch, MultiArch::Foreign);
        assert_eq!(dpkg.depends, [vec![dep_v("tar", Rel::Ge, "1.28-1")]]);
        let pre: Vec<String> = dpkg.pre_depends.iter().map(|g| g[0].to_string()).collect();
        assert_eq!(
            pre,
            [
                "libbz2-1.0",
                "libc6 (>= 2.34)",
                "liblzma5 (>= 5.4.0)",
                "libmd0 (>= 0.0.0)",
                "libselinux1 (>= 3.1~)",
                "libzstd1 (>= 1.5.2)",
                "zlib1g (>= 1:1.1.4)"
            ]
        );
        assert_eq!(dpkg.source_name(), "dpkg");
    }

    #[test]
    fn versioned_provides_and_protected() {
        let pkgs = bookworm();
        let perl = find(&pkgs, "perl-base");
        assert_eq!(perl.provides.len(), 7);
        assert_eq!(
            perl.provides[3],
            [dep_v("libscalar-list-utils-perl", Rel::Eq, "1:1.62")]
        );
        assert_eq!(perl.provides[6], [dep("perlapi-5.36.0")]);
        assert_eq!(perl.conflicts[0], [dep_v("defoma", Rel::Lt, "0.11.12")]);
        let gcc = find(&pkgs, "libgcc-s1");
        assert!(gcc.protected);
        assert_eq!(gcc.source_name(), "gcc-12");
        assert_eq!(
            gcc.provides,
            [vec![dep_v("libgcc1", Rel::Eq, "1:12.2.0-14+deb12u1")]]
        );
    }

    #[test]
    fn virtual_package_provider() {
        let pkgs = bookworm();
        let providers: Vec<&str> = pkgs
            .iter()
            .filter(|p| p.provides.iter().flatten().any(|d| d.name == "awk"))
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(providers, ["mawk"]);
        let debconf = find(&pkgs, "debconf");
        assert_eq!(debconf.architecture, "all");
        assert_eq!(debconf.provides, [vec![dep("debconf-2.0")]]);
        assert_eq!(
            debconf.conflicts[1],
            [dep_v("whiptail-utf8", Rel::Le, "0.50.17-13")]
        );
    }

    #[test]
    fn multi_arch_allowed_alternatives_any_and_source_version() {
        let pkgs = bookworm();
        let binutils = find(&pkgs, "binutils-aarch64-linux-gnu");
        assert_eq!(binutils.multi_arch, MultiArch::Allowed);
        let wm = find(&pkgs, "afterstep");
        assert_eq!(wm.source_name(), "afterstep");
        assert_eq!(wm.source_version(), &v("2.2.12-15"));
        assert_eq!(wm.version, v("2.2.12-15+b2"));
        assert_eq!(wm.depends[1], [dep("aterm"), dep("x-terminal-emulator")]);
        assert_eq!(
            wm.depends[7],
            [DebDep {
                arch_qualifier: Some("any".to_string()),
                ..dep("perl")
            }]
        );
    }

    /// (field text, the groups as `Display` shows them, alternatives joined by ` | `).
    const RELATIONS: &[(&str, &[&str])] = &[
        ("", &[]),
        ("libc6", &["libc6"]),
        ("libc6 (>= 2.34)", &["libc6 (>= 2.34)"]),
        ("libc6(>=2.34)", &["libc6 (>= 2.34)"]),
        ("libc6 ( >= 2.34 )", &["libc6 (>= 2.34)"]),
        (
            "a (<< 1), b (<= 2), c (= 3), d (>= 4), e (>> 5)",
            &["a (<< 1)", "b (<= 2)", "c (= 3)", "d (>= 4)", "e (>> 5)"],
        ),
        ("old (< 1), older (> 2)", &["old (<= 1)", "older (>= 2)"]),
        (
            "debconf (>= 0.5) | debconf-2.0",
            &["debconf (>= 0.5) | debconf-2.0"],
        ),
        ("a|b|c", &["a | b | c"]),
        (
            "python3:any, perl:native, libc6:arm64 (>= 2.36)",
            &["python3:any", "perl:native", "libc6:arm64 (>= 2.36)"],
        ),
        (
            "libc6,\n libgcc-s1 (>= 3.0),\n\tzlib1g",
            &["libc6", "libgcc-s1 (>= 3.0)", "zlib1g"],
        ),
        ("libc6, ", &["libc6"]),
        (
            "g++ (>= 4:12), libstdc++6, lib.x_y",
            &["g++ (>= 4:12)", "libstdc++6", "lib.x_y"],
        ),
        // Build-Depends syntax.
        (
            "debhelper-compat (= 13), libselinux1-dev [linux-any], libkvm-dev [kfreebsd-any]",
            &[
                "debhelper-compat (= 13)",
                "libselinux1-dev [linux-any]",
                "libkvm-dev [kfreebsd-any]",
            ],
        ),
        (
            "gcc-multilib [amd64 i386 x32] <!nobiarch>",
            &["gcc-multilib [amd64 i386 x32] <!nobiarch>"],
        ),
        (
            "valgrind [!hurd-any !s390x]",
            &["valgrind [!hurd-any !s390x]"],
        ),
        (
            "python3-pytest <!nocheck>, libfoo-dev <stage1 cross> <!stage1>",
            &[
                "python3-pytest <!nocheck>",
                "libfoo-dev <stage1 cross> <!stage1>",
            ],
        ),
        (
            "foo (>= 1.0) [amd64] <!nocheck> | bar",
            &["foo (>= 1.0) [amd64] <!nocheck> | bar"],
        ),
    ];

    #[test]
    fn relation_table() {
        for (text, want) in RELATIONS {
            let got: Vec<String> = parse_relations(text)
                .unwrap_or_else(|e| panic!("{text:?}: {e}"))
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect();
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn relation_ast_of_a_build_depends() {
        let groups =
            parse_relations("foo:native (>= 1.0) [!i386 !armel] <!nocheck> <cross>").unwrap();
        assert_eq!(
            groups,
            [vec![DebDep {
                name: "foo".to_string(),
                arch_qualifier: Some("native".to_string()),
                constraint: Some((Rel::Ge, v("1.0"))),
                arches: Some(ArchRestriction {
                    negated: true,
                    arches: vec!["i386".to_string(), "armel".to_string()],
                }),
                profiles: vec![
                    vec![ProfileTerm {
                        negated: true,
                        name: "nocheck".to_string(),
                    }],
                    vec![ProfileTerm {
                        negated: false,
                        name: "cross".to_string(),
                    }],
                ],
            }]]
        );
    }

    #[test]
    fn build_profiles_select_alternatives() {
        let d = |s: &str| parse_relations(s).unwrap().remove(0).remove(0);
        // (relation, active profiles, applies)
        let table: &[(&str, &[&str], bool)] = &[
            ("a", &[], true),
            ("a <!nocheck>", &[], true),
            ("a <!nocheck>", &["nocheck"], false),
            ("a <nocheck>", &[], false),
            ("a <stage1 cross>", &["stage1"], false),
            ("a <stage1 cross>", &["stage1", "cross"], true),
            ("a <stage1> <cross>", &["cross"], true),
            ("a <!stage1 !nocheck>", &["nodoc"], true),
            ("a <!stage1 !nocheck>", &["nocheck"], false),
        ];
        for (rel, active, applies) in table {
            assert_eq!(
                d(rel).profiles_match(active),
                *applies,
                "{rel} with {active:?}"
            );
        }
    }

    #[test]
    fn relation_errors_quote_the_relation() {
        let table = [
            ("a, , b", "empty relation between commas"),
            ("a | | b", "empty alternative in `a | | b`"),
            ("a (>= 1.0", "missing `)` in `a (>= 1.0`"),
            ("a (1.0)", "bad version relation in `a (1.0)`"),
            ("a (=> 1.0)", "bad version relation in `a (=> 1.0)`"),
            ("a (>= )", "bad version in `a (>= )`"),
            ("a (>= 1 .0)", "bad version in `a (>= 1 .0)`"),
            ("a ()", "empty `(…` list in `a ()`"),
            ("a:", "empty architecture qualifier in `a:`"),
            (
                "a [amd64 !i386]",
                "architecture list in `a [amd64 !i386]` mixes negated and plain entries",
            ),
            ("a [amd64", "missing `]` in `a [amd64`"),
            ("a <!nocheck", "missing `>` in `a <!nocheck`"),
            ("a b", "unexpected `b` in `a b`"),
            ("a <x> [amd64]", "unexpected `[amd64]` in `a <x> [amd64]`"),
            ("-a", "`-a` in `-a` is not a valid package name"),
            ("a/b", "`a/b` in `a/b` is not a valid package name"),
            ("(>= 1)", "`` in `(>= 1)` is not a valid package name"),
        ];
        for (text, want) in table {
            let err = parse_relations(text).unwrap_err();
            assert_eq!(err.to_string(), want, "{text:?}");
        }
    }

    fn one(paragraph: &str) -> Result<DebPackage, PackagesError> {
        let mut pkgs = parse_packages(paragraph, "test/Packages")?;
        Ok(pkgs.remove(0))
    }

    const MINIMAL: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: arm64\nFilename: pool/main/h/hello/hello_2.10-3_arm64.deb\nSize: 51284\nSHA256: 5E3B6B3FEA8C2F1A0D9E8C7B6A5F4E3D2C1B0A9F8E7D6C5B4A3F2E1D0C9B8A7F\n";

    #[test]
    fn minimal_paragraph_defaults() {
        let p = one(MINIMAL).unwrap();
        assert_eq!(p.multi_arch, MultiArch::No);
        assert!(!p.essential && !p.protected);
        assert_eq!(p.priority, None);
        assert!(p.depends.is_empty() && p.provides.is_empty());
        assert_eq!(p.source_name(), "hello");
        assert_eq!(p.installed_size, None);
        // Stored lowercase, as sha256sum prints it.
        assert!(p.sha256.starts_with("5e3b6b3f"));
    }

    #[test]
    fn field_names_are_case_insensitive() {
        let text = MINIMAL
            .replace("Package:", "PACKAGE:")
            .replace("Version:", "version:")
            + "multi-arch: same\nESSENTIAL: yes\ndepends: libc6\n";
        let p = one(&text).unwrap();
        assert_eq!(p.name, "hello");
        assert_eq!(p.multi_arch, MultiArch::Same);
        assert!(p.essential);
        assert_eq!(p.depends, [vec![dep("libc6")]]);
    }

    #[test]
    fn package_errors_name_file_line_package_and_field() {
        let with = |extra: &str| format!("\n{MINIMAL}{extra}");
        let without = |field: &str| {
            let kept: Vec<&str> = MINIMAL.lines().filter(|l| !l.starts_with(field)).collect();
            kept.join("\n")
        };
        let table: Vec<(String, &str)> = vec![
            (
                without("Package:"),
                "`test/Packages` line 1: package has no `Package` field",
            ),
            (
                without("Version:"),
                "`test/Packages` line 1: package `hello` has no `Version` field",
            ),
            (
                without("SHA256:"),
                "`test/Packages` line 1: package `hello` has no `SHA256` field",
            ),
            (
                without("Filename:"),
                "`test/Packages` line 1: package `hello` has no `Filename` field",
            ),
            (
                with("Depends: libc6 (>= 2.3"),
                "`test/Packages` line 8: bad `Depends` field of package `hello`: missing `)` in `libc6 (>= 2.3`",
            ),
            (
                with("Multi-Arch: maybe"),
                "`test/Packages` line 8: bad `Multi-Arch` field of package `hello`: `maybe` is not one of `no`, `same`, `foreign`, `allowed`",
            ),
            (
                with("Essential: true"),
                "`test/Packages` line 8: bad `Essential` field of package `hello`: `true` is not `yes` or `no`",
            ),
            (
                with("Conflicts: a | b"),
                "`test/Packages` line 8: bad `Conflicts` field of package `hello`: alternatives (`|`) are not allowed in this field: `a | b`",
            ),
            (
                with("Provides: awk (>= 1)"),
                "`test/Packages` line 8: bad `Provides` field of package `hello`: only `=` versions may be provided: `awk (>= 1)`",
            ),
            (
                with("Source: hello (2.10"),
                "`test/Packages` line 8: bad `Source` field of package `hello`: `hello (2.10` is not `name` or `name (version)`",
            ),
            (
                with("Installed-Size: big"),
                "`test/Packages` line 8: bad `Installed-Size` field of package `hello`: `big` is not a whole number",
            ),
            (
                MINIMAL.replace("2.10-3", "2.10-"),
                "`test/Packages` line 2: bad `Version` field of package `hello`: revision of version `2.10-` is empty (nothing after the last `-`)",
            ),
            (
                MINIMAL.replace("51284", "-1"),
                "`test/Packages` line 5: bad `Size` field of package `hello`: `-1` is not a whole number",
            ),
            (
                MINIMAL.replace("SHA256: 5E3B", "SHA256: 5E3"),
                "`test/Packages` line 6: bad `SHA256` field of package `hello`: `5E36B3FEA8C2F1A0D9E8C7B6A5F4E3D2C1B0A9F8E7D6C5B4A3F2E1D0C9B8A7F` is not 64 hexadecimal digits",
            ),
            (
                format!("{MINIMAL}\n# comment\n"),
                "`test/Packages` is not a valid Packages file",
            ),
        ];
        for (text, want) in table {
            let err = one(&text).unwrap_err();
            let mut msg = err.to_string();
            if let PackagesError::BadField { source, .. } = &err {
                msg = format!("{msg}: {source}");
            }
            assert_eq!(msg, want, "{text:?}");
        }
    }

    #[test]
    fn syntax_errors_keep_the_line() {
        let err = parse_packages(&format!("{MINIMAL}\nPackage: x\n continued\nbroken\n"), "p")
            .unwrap_err();
        let PackagesError::Syntax { source, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(
            source.to_string(),
            "line 10: `broken` is not a `Name: value` field"
        );
    }

    #[test]
    fn reads_from_a_reader() {
        let pkgs = read_packages(BOOKWORM.as_bytes(), "fixture").unwrap();
        assert_eq!(pkgs.len(), 10);
        let err = read_packages(&[0xff, 0xfe][..], "bad.bin").unwrap_err();
        assert_eq!(err.to_string(), "cannot read `bad.bin`");
    }

    /// A big `Packages` file parses in well under a second (release build).
    /// `BRT_PACKAGES=/path/to/Packages` times a real file instead of the
    /// synthetic one. Run: `cargo test --release -- --ignored --nocapture parse_speed`.
    #[test]
    #[ignore]
    fn parse_speed() {
        let text = match std::env::var("BRT_PACKAGES") {
            Ok(path) => fs_err::read_to_string(path).unwrap(),
            Err(_) => {
                let mut text = String::with_capacity(70 << 20);
                let mut i = 0;
                while text.len() < 60 << 20 {
                    let para = BOOKWORM.replace("Package: ", &format!("Package: n{i}-"));
                    text.push_str(&para);
                    text.push('\n');
                    i += 1;
                }
                text
            }
        };
        // Best of three: the machine may be busy with other work.
        let mut times = Vec::new();
        let mut pkgs = Vec::new();
        for _ in 0..3 {
            drop(std::mem::take(&mut pkgs));
            let start = std::time::Instant::now();
            pkgs = parse_packages(&text, "bench").unwrap();
            times.push(start.elapsed());
        }
        let took = *times.iter().min().unwrap();
        let groups: usize = pkgs
            .iter()
            .map(|p| p.depends.len() + p.pre_depends.len())
            .sum();
        println!(
            "parsed {} packages ({} MB, {groups} Depends/Pre-Depends groups): best {took:?} of {times:?}",
            pkgs.len(),
            text.len() >> 20
        );
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    }
}
