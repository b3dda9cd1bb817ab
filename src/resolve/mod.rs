//! Dependency resolution for each package family (resolvo), on the
//! version types of `crate::version`.

pub mod deb;
pub mod provider;
pub mod rpm;

/// The known name closest to `name` by edit distance, if it is close
/// enough to be a typo (at most a third of the name, at least 2 edits).
/// Ties go to the alphabetically first name.
pub(crate) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    known
        .filter(|k| k.len().abs_diff(name.len()) <= limit)
        .map(|k| (crate::config::levenshtein(name, k), k))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, k)| k.to_string())
}
