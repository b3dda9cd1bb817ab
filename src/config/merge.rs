//! Reading one config file and everything it includes, merging them, and
//! expanding `${…}` variables in the result.
//!
//! Each file is validated on its own against the schema first, so a typo is
//! reported with that file's line and column; merging then works on plain
//! TOML tables: tables merge key by key, anything else (arrays included)
//! replaces.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::discover::embedded_file;
use super::error::{ConfigError, Origin};
use super::schema::{RawFile, Vars};

/// Read `origin` and its includes, depth first; return the merged table and
/// every file merged, in merge order.
pub(crate) fn resolve(origin: Origin) -> Result<(Table, Vec<Origin>), ConfigError> {
    let mut stack = Vec::new();
    let mut sources = Vec::new();
    let table = resolve_into(origin, &mut stack, &mut sources)?;
    Ok((table, sources))
}

/// `stack` holds the files being read, each with its identity (canonical
/// path) so that `./a.toml` and `a.toml` are recognised as the same file.
fn resolve_into(
    origin: Origin,
    stack: &mut Vec<(Origin, Origin)>,
    sources: &mut Vec<Origin>,
) -> Result<Table, ConfigError> {
    let id = identity(&origin);
    if let Some(pos) = stack.iter().position(|(_, seen)| *seen == id) {
        let mut chain: Vec<Origin> = stack[pos..].iter().map(|(o, _)| o.clone()).collect();
        chain.push(origin);
        return Err(ConfigError::IncludeCycle { chain });
    }
    let text = read(&origin)?;
    let parse_error = |e: toml::de::Error| ConfigError::from_toml(&origin, &text, &e);
    // Validate first: unknown keys and wrong types carry this file's spans.
    let raw: RawFile = toml::from_str(&text).map_err(parse_error)?;
    let mut own: Table = toml::from_str(&text).map_err(parse_error)?;
    own.remove("include");

    stack.push((origin.clone(), id));
    let mut merged = Table::new();
    for include in raw.include.map(|l| l.0).unwrap_or_default() {
        let included = locate(&origin, &include)?;
        let table = resolve_into(included, stack, sources)?;
        merge(&mut merged, table);
    }
    stack.pop();

    merge(&mut merged, own);
    sources.push(origin);
    Ok(merged)
}

fn identity(origin: &Origin) -> Origin {
    match origin {
        Origin::File(path) => {
            Origin::File(fs_err::canonicalize(path).unwrap_or_else(|_| path.clone()))
        }
        Origin::Embedded(_) => origin.clone(),
    }
}

fn read(origin: &Origin) -> Result<String, ConfigError> {
    match origin {
        Origin::File(path) => fs_err::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        }),
        Origin::Embedded(rel) => Ok(embedded_file(rel)
            .expect("embedded origins are only made for embedded files")
            .to_string()),
    }
}

/// Find the file `include` names, relative to the including file.
///
/// A file on disk whose relative include does not exist next to it falls back
/// to the embedded tree at the same relative path, so a user's config can
/// include a shipped template. Embedded files include only embedded files.
fn locate(from: &Origin, include: &str) -> Result<Origin, ConfigError> {
    let not_found = |tried: Vec<String>| ConfigError::IncludeNotFound {
        from: from.clone(),
        include: include.to_string(),
        tried,
    };
    let embedded = |rel: Option<String>| {
        rel.filter(|rel| embedded_file(rel).is_some())
            .map(Origin::Embedded)
    };
    match from {
        Origin::Embedded(rel) => {
            let dir = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
            let target = normalize(dir, include);
            embedded(target.clone()).ok_or_else(|| {
                not_found(vec![match target {
                    Some(t) => format!("`{}`", Origin::Embedded(t)),
                    None => "nothing: embedded configs include only embedded files".to_string(),
                }])
            })
        }
        Origin::File(path) => {
            let dir = path.parent().unwrap_or(Path::new(""));
            let candidate: PathBuf = dir.join(include);
            match fs_err::metadata(&candidate) {
                Ok(_) => return Ok(Origin::File(candidate)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: candidate,
                        source,
                    });
                }
            }
            let mut tried = vec![format!("`{}`", candidate.display())];
            let fallback = if Path::new(include).is_absolute() {
                None
            } else {
                normalize("", include)
            };
            if let Some(rel) = &fallback {
                tried.push(format!("`{}`", Origin::Embedded(rel.clone())));
            }
            embedded(fallback).ok_or_else(|| not_found(tried))
        }
    }
}

/// Join `rel` onto `dir` inside the embedded tree, resolving `.` and `..`.
/// `None` when the result would leave the tree or is absolute.
fn normalize(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Merge `over` onto `base`: tables merge recursively, everything else replaces.
pub(crate) fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Expand `${arch}`, `${release}` and `${name}` in every string value, except
/// `arch` and `[distro]`, which define them. `$$` is a literal `$`.
pub(crate) fn expand_table(
    table: &mut Table,
    vars: &Vars,
    config: &str,
) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        if key == "arch" || key == "distro" {
            continue;
        }
        expand_value(value, &key_segment(key), vars, config)?;
    }
    Ok(())
}

fn expand_value(
    value: &mut Value,
    path: &str,
    vars: &Vars,
    config: &str,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            *s = expand(s, vars).map_err(|problem| ConfigError::Expand {
                config: config.to_string(),
                key: path.to_string(),
                problem,
            })?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, &format!("{path}[{i}]"), vars, config)?;
            }
        }
        Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                expand_value(item, &format!("{path}.{}", key_segment(key)), vars, config)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A key as it would be written in a dotted TOML key.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Expand the variables in one string.
pub(crate) fn expand(s: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(format!("unterminated `${{` in `{s}`"));
            };
            let value = match &body[..end] {
                "arch" => vars.family.arch_name(vars.arch),
                "release" => vars.release.as_str(),
                "name" => vars.name.as_str(),
                other => {
                    return Err(format!(
                        "unknown variable `${{{other}}}` in `{s}` \
                         (known: `${{arch}}`, `${{release}}`, `${{name}}`; `$$` is a literal `$`)"
                    ));
                }
            };
            out.push_str(value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The inverse of [`expand`] for text that must come back unchanged: a `$`
/// that would start `$$` or `${` is doubled.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$' | '{')) {
            out.push('$');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::config::Family;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn tables_merge_and_everything_else_replaces() {
        let cases = [
            // (base, over, expected)
            ("a = 1\nb = 2", "b = 3", "a = 1\nb = 3"),
            (
                "[t]\nx = 1\ny = 2\n[t.u]\nz = 1",
                "[t]\ny = 3\n[t.u]\nw = 2",
                "[t]\nx = 1\ny = 3\n[t.u]\nz = 1\nw = 2",
            ),
            ("l = [1, 2, 3]", "l = [4]", "l = [4]"),
            (
                "[[repo]]\nname = \"a\"\n[[repo]]\nname = \"b\"",
                "[[repo]]\nname = \"c\"",
                "[[repo]]\nname = \"c\"",
            ),
            (
                "[macros]\n\"%a\" = \"1\"",
                "[macros]\n\"%b\" = \"2\"",
                "[macros]\n\"%a\" = \"1\"\n\"%b\" = \"2\"",
            ),
            ("", "x = \"new\"", "x = \"new\""),
        ];
        for (base, over, expected) in cases {
            let mut merged = table(base);
            merge(&mut merged, table(over));
            assert_eq!(merged, table(expected), "{base:?} + {over:?}");
        }
    }

    fn vars(arch: &str, family: Family) -> Vars {
        Vars {
            arch: Arch::find(arch).unwrap(),
            family,
            name: "fedora".into(),
            release: "rawhide".into(),
        }
    }

    #[test]
    fn expand_replaces_variables_in_the_family_spelling() {
        let rpm = vars("arm64", Family::Rpm);
        let deb = vars("aarch64", Family::Deb);
        let cases = [
            (
                &rpm,
                "repo=${release}&arch=${arch}",
                "repo=rawhide&arch=aarch64",
            ),
            (&deb, "binary-${arch}", "binary-arm64"),
            (&rpm, "${name}-${release}", "fedora-rawhide"),
            (&rpm, "no variables", "no variables"),
            (&rpm, "$HOME and $ alone", "$HOME and $ alone"),
            (&rpm, "$${arch} is literal", "${arch} is literal"),
            (&rpm, "cost $$5", "cost $5"),
            (&rpm, "trailing $", "trailing $"),
            (&rpm, "é${arch}é", "éaarch64é"),
        ];
        for (vars, input, expected) in cases {
            assert_eq!(expand(input, vars).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn expand_rejects_unknown_and_unterminated_variables() {
        let v = vars("x86_64", Family::Rpm);
        let cases = [
            ("${basearch}", "unknown variable `${basearch}`"),
            ("x ${arch", "unterminated `${`"),
            ("${}", "unknown variable `${}`"),
        ];
        for (input, expected) in cases {
            let err = expand(input, &v).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn escape_round_trips_through_expand() {
        let v = vars("x86_64", Family::Rpm);
        for s in [
            "plain", "${arch}", "$$", "a$", "$$$x", "${", "$HOME", "$${x}$", "",
        ] {
            assert_eq!(
                expand(&escape(s), &v).as_deref(),
                Ok(s),
                "{s:?} -> {:?}",
                escape(s)
            );
        }
        assert_eq!(escape("$HOME"), "$HOME");
    }

    #[test]
    fn expansion_errors_name_the_key_path() {
        let v = vars("x86_64", Family::Rpm);
        let cases = [
            (
                "[[repo]]\nname = \"a\"\nbaseurl = [\"ok\", \"${bad}\"]",
                "repo[0].baseurl[1]",
            ),
            (
                "[[repo]]\nname = \"a\"\n[[repo]]\nname = \"${oops\"",
                "repo[1].name",
            ),
            ("[macros]\n\"%_x\" = \"${nope}\"", "macros.\"%_x\""),
            (
                "[install]\npackages = [\"${arch}\", \"${what}\"]",
                "install.packages[1]",
            ),
        ];
        for (text, key) in cases {
            let mut t = table(text);
            match expand_table(&mut t, &v, "cfg") {
                Err(ConfigError::Expand {
                    key: got, config, ..
                }) => {
                    assert_eq!(got, key, "{text}");
                    assert_eq!(config, "cfg");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn arch_and_distro_are_not_expanded() {
        let v = vars("x86_64", Family::Rpm);
        let mut t = table(
            "arch = \"x86_64\"\n[distro]\nrelease = \"${weird}\"\n[build]\nuser = \"u-${arch}\"",
        );
        expand_table(&mut t, &v, "cfg").unwrap();
        assert_eq!(t["distro"]["release"].as_str(), Some("${weird}"));
        assert_eq!(t["build"]["user"].as_str(), Some("u-x86_64"));
    }

    #[test]
    fn embedded_files_include_only_embedded_files() {
        let from = Origin::Embedded("templates/fedora.toml".into());
        let cases = [
            ("rpm.toml", Some("templates/rpm.toml")),
            (
                "../debian-trixie-arm64.toml",
                Some("debian-trixie-arm64.toml"),
            ),
            ("/etc/passwd", None),
            ("../../etc/passwd", None),
            ("missing.toml", None),
        ];
        for (include, expected) in cases {
            match (locate(&from, include), expected) {
                (Ok(Origin::Embedded(rel)), Some(want)) => assert_eq!(rel, want),
                (Err(ConfigError::IncludeNotFound { .. }), None) => {}
                (got, _) => panic!("{include}: {got:?}"),
            }
        }
    }

    #[test]
    fn normalize_stays_inside_the_embedded_tree() {
        let cases = [
            ("", "templates/a.toml", Some("templates/a.toml")),
            ("templates", "b.toml", Some("templates/b.toml")),
            ("templates", "../c.toml", Some("c.toml")),
            ("templates", "./x/../d.toml", Some("templates/d.toml")),
            ("", "../escape.toml", None),
            ("templates", "/abs.toml", None),
        ];
        for (dir, rel, expected) in cases {
            assert_eq!(normalize(dir, rel).as_deref(), expected, "{dir} + {rel}");
        }
    }
}
