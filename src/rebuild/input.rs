//! What `rebuild` reads natively of each input: its name, what it needs to
//! build (BuildRequires / Build-Depends, as names) and what it makes (its
//! binary packages' names and, for RPM, the spec's `Provides`).
//!
//! A source RPM's header does not list its binary packages: they come from
//! the spec in its payload (`Name`, `%package [-n] NAME`, `Provides`), with
//! plain macros expanded (`%{name}`, `%global`/`%define` values); a name
//! that needs more stays as written and matches nothing. A `.dsc` lists
//! them in `Binary`.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::builder::dsc::Dsc;
use crate::builder::srpm::SourceRpm;
use crate::builder::{BuildError, sha256_file};

/// One input of a rebuild.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub path: PathBuf,
    /// `name-version-release` or `source_version`.
    pub name: String,
    /// The source package's name.
    pub source: String,
    pub sha256: String,
    /// Names of what the build needs (alternatives and rich dependencies
    /// contribute every name they mention).
    pub needs: Vec<String>,
    /// Names of the binary packages it makes, and what they provide.
    pub makes: Vec<String>,
}

/// Reads `path` (`.src.rpm` or `.dsc`) for the root's `arch` (Debian's
/// spelling for a `.dsc`).
pub fn read(path: &Path, deb_arch: &str) -> Result<Node, BuildError> {
    let sha256 = sha256_file(path).map_err(|source| BuildError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if path.to_string_lossy().ends_with(".dsc") {
        let dsc = Dsc::read(path)?;
        let needs = dsc
            .relations(deb_arch)
            .iter()
            .flat_map(|r| r.split('|'))
            .filter_map(|alt| {
                let name = alt.trim().split([' ', '(', '[', ':', '<']).next()?;
                (!name.is_empty()).then(|| name.to_string())
            })
            .collect();
        let text = fs_err::read_to_string(path).map_err(|source| BuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let makes = field(&text, "Binary")
            .split(',')
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        let source = dsc.name.split('_').next().unwrap_or(&dsc.name).to_string();
        return Ok(Node {
            path: path.to_path_buf(),
            name: dsc.name,
            source,
            sha256,
            needs,
            makes,
        });
    }
    let srpm = SourceRpm::read(path)?;
    let needs = srpm
        .build_requires
        .iter()
        .flat_map(|d| dependency_names(&d.name))
        .collect();
    let spec = spec_text(path, &srpm.spec).map_err(|source| BuildError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (source, makes) = spec_makes(&spec);
    let source = source.unwrap_or_else(|| {
        srpm.nvr
            .rsplitn(3, '-')
            .nth(2)
            .unwrap_or(&srpm.nvr)
            .to_string()
    });
    Ok(Node {
        path: path.to_path_buf(),
        name: srpm.nvr,
        source,
        sha256,
        needs,
        makes,
    })
}

/// A deb822 field of the first paragraph (continuation lines joined).
fn field(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if inside {
            if line.starts_with([' ', '\t']) {
                out.push(' ');
                out.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some(rest) = line.strip_prefix(&format!("{name}:")) {
            out.push_str(rest.trim());
            inside = true;
        }
    }
    out
}

/// The simple names in a dependency (`foo`, `(a or b)`, `(c if d)`).
pub fn dependency_names(dep: &str) -> Vec<String> {
    if !dep.starts_with('(') {
        return vec![dep.to_string()];
    }
    let mut names = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    let flush = |word: &mut String, names: &mut Vec<String>| {
        let w = std::mem::take(word);
        let keyword = matches!(
            w.as_str(),
            "and" | "or" | "if" | "else" | "unless" | "with" | "without"
        );
        let version = w.starts_with(|c: char| c.is_ascii_digit() || "<>=".contains(c));
        if !w.is_empty() && !keyword && !version {
            names.push(w);
        }
    };
    for c in dep.chars() {
        match c {
            '(' if word.is_empty() => depth += 1,
            ')' if depth > 0 && word.matches('(').count() <= word.matches(')').count() => {
                depth -= 1;
                flush(&mut word, &mut names);
            }
            ' ' | ',' => flush(&mut word, &mut names),
            _ => word.push(c),
        }
    }
    flush(&mut word, &mut names);
    names
}

/// The spec file of a source RPM, from its payload.
fn spec_text(path: &Path, spec: &str) -> io::Result<String> {
    let file = fs_err::File::open(path)?;
    let mut reader =
        rpm::PackageReader::parse(io::BufReader::new(file)).map_err(io::Error::other)?;
    while let Some(entry) = reader.next_file().map_err(io::Error::other)? {
        let name = entry.metadata.path().to_string_lossy().into_owned();
        if name.trim_start_matches('/') == spec {
            let mut text = String::new();
            entry.take(16 << 20).read_to_string(&mut text)?;
            return Ok(text);
        }
    }
    Err(io::Error::other(format!("no `{spec}` in its payload")))
}

/// `Name`, and the binary packages' names and `Provides`, of a spec.
pub fn spec_makes(spec: &str) -> (Option<String>, Vec<String>) {
    let mut macros: HashMap<String, String> = HashMap::new();
    let mut name: Option<String> = None;
    let mut makes = Vec::new();
    let mut current: Option<String> = None;
    for line in spec.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["%global" | "%define", key, value @ ..] if !key.contains('(') => {
                let value = expand(&value.join(" "), &macros);
                macros.insert(key.to_string(), value);
            }
            [tag, rest @ ..] if tag.eq_ignore_ascii_case("name:") && name.is_none() => {
                let n = expand(&rest.join(" "), &macros);
                macros.insert("name".into(), n.clone());
                makes.push(n.clone());
                current = Some(n.clone());
                name = Some(n);
            }
            [tag, rest @ ..]
                if tag.eq_ignore_ascii_case("version:") && !macros.contains_key("version") =>
            {
                let v = expand(&rest.join(" "), &macros);
                macros.insert("version".into(), v);
            }
            ["%package", "-n", sub, ..] => {
                let n = expand(sub, &macros);
                makes.push(n.clone());
                current = Some(n);
            }
            ["%package", sub, ..] => {
                let n = format!(
                    "{}-{}",
                    name.clone().unwrap_or_default(),
                    expand(sub, &macros)
                );
                makes.push(n.clone());
                current = Some(n);
            }
            [tag, ..] if tag.eq_ignore_ascii_case("provides:") && current.is_some() => {
                let value = expand(line[tag.len()..].trim(), &macros);
                makes.extend(
                    value
                        .split(',')
                        .flat_map(|item| item.split_whitespace().next())
                        .map(str::to_string),
                );
            }
            _ => {}
        }
    }
    makes.sort();
    makes.dedup();
    (name, makes)
}

/// `%{name}`, `%name` and `%{?name}` of `macros` expanded; others kept.
fn expand(text: &str, macros: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for _ in 0..8 {
        let mut next = out.clone();
        for (k, v) in macros {
            next = next
                .replace(&format!("%{{{k}}}"), v)
                .replace(&format!("%{{?{k}}}"), v);
            // `%name` only when no name character follows.
            let plain = format!("%{k}");
            let mut s = String::new();
            let mut rest = next.as_str();
            while let Some(at) = rest.find(&plain) {
                let after = &rest[at + plain.len()..];
                s.push_str(&rest[..at]);
                if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    s.push_str(&plain);
                } else {
                    s.push_str(v);
                }
                rest = after;
            }
            s.push_str(rest);
            next = s;
        }
        if next == out {
            break;
        }
        out = next;
    }
    // Conditional macros that are not defined expand to nothing.
    let mut s = String::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("%{?") {
        s.push_str(&rest[..at]);
        match rest[at..].find('}') {
            Some(end) => rest = &rest[at + end + 1..],
            None => {
                rest = &rest[at..];
                break;
            }
        }
    }
    s.push_str(rest);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specs_binary_packages_and_provides() {
        let spec = "%global libname libfoo\nName: foo\nVersion: 1.0\nRelease: 1%{?dist}\n\
                    Provides: foo-cap = %{version}, bar\n\
                    %package devel\nProvides: %{libname}-devel\n\
                    %package -n python3-%{name}\n%description\nx\n";
        let (name, makes) = spec_makes(spec);
        assert_eq!(name.as_deref(), Some("foo"));
        assert_eq!(
            makes,
            [
                "bar",
                "foo",
                "foo-cap",
                "foo-devel",
                "libfoo-devel",
                "python3-foo"
            ]
        );
    }

    #[test]
    fn names_in_dependencies() {
        assert_eq!(dependency_names("gcc"), ["gcc"]);
        assert_eq!(
            dependency_names("(a >= 1.0 or perl(Foo::Bar))"),
            ["a", "perl(Foo::Bar)"]
        );
        assert_eq!(dependency_names("(x if (y and z))"), ["x", "y", "z"]);
    }
}
