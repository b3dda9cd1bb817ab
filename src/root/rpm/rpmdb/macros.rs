//! The few rpm macros brt needs from a root (`%_dbpath`, `%_db_backend`,
//! `%_transaction_color`), read from the root's macro files in rpm's order
//! (its "Macro path"; the last definition wins). Only plain definitions and
//! `%{name}`/`%name`/`%{?name}` references are understood; a value that
//! needs more (a shell, Lua, a conditional) is unknown, and the caller lets
//! the root's own rpm do the work.
//!
//! Runs confined to the root (its paths are the root's).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The macro files rpm reads, in order, for the platform dir `platform`
/// (`aarch64-linux`).
fn files(platform: &str) -> Vec<PathBuf> {
    let sorted = |dir: &str, prefix: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs_err::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    let mut v = vec![PathBuf::from("/usr/lib/rpm/macros")];
    v.extend(sorted("/usr/lib/rpm/macros.d", "macros."));
    v.push(format!("/usr/lib/rpm/platform/{platform}/macros").into());
    v.push("/usr/lib/rpm/redhat/macros".into());
    v.push("/usr/lib/rpm/debian/macros".into());
    v.extend(sorted("/etc/rpm", "macros."));
    v.push("/etc/rpm/macros".into());
    v.push(format!("/etc/rpm/{platform}/macros").into());
    v.push("/root/.rpmmacros".into());
    v
}

/// The platform dir rpm uses: `/etc/rpm/platform`'s cpu, else `arch`'s.
fn platform(arch: &str) -> String {
    let cpu = fs_err::read_to_string("/etc/rpm/platform")
        .ok()
        .and_then(|t| t.split('-').next().map(|c| c.trim().to_string()))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| arch.to_string());
    format!("{cpu}-linux")
}

/// Plain definitions (`%name value`) of one file, continuation lines joined.
fn definitions(text: &str, into: &mut HashMap<String, String>) {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.to_string();
        while line.ends_with('\\') {
            line.pop();
            line.push('\n');
            match lines.next() {
                Some(next) => line.push_str(next),
                None => break,
            }
        }
        let Some(rest) = line.trim_start().strip_prefix('%') else {
            continue;
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, value) = rest.split_at(end);
        if name.is_empty() || !value.starts_with([' ', '\t']) {
            continue;
        }
        into.insert(name.to_string(), value.trim().to_string());
    }
}

/// `value` with its macro references expanded, if they are all plain.
fn expand(value: &str, defs: &HashMap<String, String>, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let (name, optional, len) = if let Some(r) = rest.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        } else if let Some(r) = rest.strip_prefix('{') {
            let close = r.find('}')?;
            let inner = &r[..close];
            let (optional, name) = match inner.strip_prefix('?') {
                Some(n) => (true, n),
                None => (false, inner),
            };
            (name, optional, close + 2)
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], false, end)
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        match defs.get(name) {
            Some(v) => out.push_str(&expand(v, defs, depth + 1)?),
            None if optional => {}
            None => return None,
        }
        rest = &rest[len..];
    }
    out.push_str(rest);
    Some(out)
}

/// The expanded values of `names` (`None`: undefined or not plain) as the
/// root's rpm for `arch` sees them.
pub fn lookup(arch: &str, names: &[&str]) -> Vec<Option<String>> {
    let mut defs = HashMap::new();
    for file in files(&platform(arch)) {
        if let Ok(text) = fs_err::read_to_string(Path::new(&file)) {
            definitions(&text, &mut defs);
        }
    }
    names
        .iter()
        .map(|n| defs.get(*n).and_then(|v| expand(v, &defs, 0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_definitions_expand_and_the_last_wins() {
        let mut defs = HashMap::new();
        definitions(
            "%_var /var\n%_dbpath %(bash -c 'echo ~/.rpmdb')\n%__x() \\\n  %_dbpath nope\n",
            &mut defs,
        );
        definitions("# distro\n%_dbpath\t%{_var}/lib/rpm\n", &mut defs);
        assert_eq!(
            expand(&defs["_dbpath"], &defs, 0).as_deref(),
            Some("/var/lib/rpm")
        );
        assert!(!defs.contains_key("__x"), "a parametric macro");
        assert_eq!(expand("%{?nothing}a%%b", &defs, 0).as_deref(), Some("a%b"));
        assert_eq!(expand("%(echo x)", &defs, 0), None);
        assert_eq!(expand("%{lua: print(1)}", &defs, 0), None);
        assert_eq!(expand("%undefined", &defs, 0), None);
    }
}
