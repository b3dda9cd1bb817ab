//! Where a config file came from, and everything that can go wrong reading one.

use std::fmt;
use std::path::PathBuf;

/// One config file that took part in a resolved config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A file on disk (a search directory, or a path given with `-r`).
    File(PathBuf),
    /// A file embedded in the binary: its path inside the repo's `configs/`,
    /// e.g. `templates/fedora-rawhide.toml`.
    Embedded(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Embedded(rel) => write!(f, "embedded:configs/{rel}"),
        }
    }
}

/// Errors from finding, reading, merging and checking config files.
///
/// Every variant names its subject: the config name, the file, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config of that name (or any spelling of its arch) in any search dir.
    #[error(
        "no config named `{name}` (searched {}){}",
        .searched.join(", "),
        did_you_mean(.suggestions)
    )]
    NotFound {
        name: String,
        /// The places looked in, for the message.
        searched: Vec<String>,
        /// Closest known names, best first (at most 3).
        suggestions: Vec<String>,
    },

    /// A config file on disk could not be read.
    #[error("cannot read config file `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// TOML syntax error, unknown key or wrong type, located in one file.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: Origin,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },

    /// An `include` that names no file.
    #[error("`{from}` includes `{include}`, which does not exist (tried {})", .tried.join(", "))]
    IncludeNotFound {
        from: Origin,
        include: String,
        tried: Vec<String>,
    },

    /// A file includes itself, directly or through others.
    #[error("include cycle: {}", .chain.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(" → "))]
    IncludeCycle { chain: Vec<Origin> },

    /// A required key is set by none of the merged files.
    #[error("config `{config}` does not set `{key}` (merged from {})", origins(.sources))]
    Missing {
        config: String,
        key: String,
        sources: Vec<Origin>,
    },

    /// The merged config is well-typed but makes no sense (e.g. an rpm repo
    /// with neither `baseurl`, `metalink` nor `mirrorlist`).
    #[error("config `{config}`: `{key}`: {problem}")]
    Invalid {
        config: String,
        key: String,
        problem: String,
    },

    /// Bad `${...}` in a value.
    #[error("config `{config}`: `{key}`: {problem}")]
    Expand {
        config: String,
        key: String,
        problem: String,
    },
}

impl crate::error::Explain for ConfigError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Config
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return "; `brt list` shows the configs there are".to_string();
    }
    let mut names: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    let last = names.pop().unwrap_or_default();
    if names.is_empty() {
        format!("; did you mean {last}?")
    } else {
        format!("; did you mean {} or {last}?", names.join(", "))
    }
}

fn origins(sources: &[Origin]) -> String {
    let names: Vec<String> = sources.iter().map(|o| format!("`{o}`")).collect();
    names.join(", ")
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // A span may point inside a multi-byte character; step back to a boundary.
    let offset = (0..=offset)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl ConfigError {
    /// A TOML deserialization error from `text`, located in `origin`.
    pub(crate) fn from_toml(origin: &Origin, text: &str, err: &toml::de::Error) -> Self {
        let (line, column) = err.span().map_or((1, 1), |span| line_col(text, span.start));
        ConfigError::Parse {
            origin: origin.clone(),
            line,
            column,
            message: err.message().trim_end().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n\nc";
        let cases = [
            (0, (1, 1)),
            (4, (1, 5)),
            (6, (2, 1)),
            // 'é' is two bytes: the '=' after it is the 4th character.
            (10, (2, 4)),
            (15, (4, 1)),
            (999, (4, 2)),
        ];
        for (offset, expected) in cases {
            assert_eq!(line_col(text, offset), expected, "offset {offset}");
        }
    }

    #[test]
    fn origins_display_as_paths_or_embedded() {
        assert_eq!(
            Origin::File(PathBuf::from("/etc/brt/x.toml")).to_string(),
            "/etc/brt/x.toml"
        );
        assert_eq!(
            Origin::Embedded("templates/fedora-rawhide.toml".into()).to_string(),
            "embedded:configs/templates/fedora-rawhide.toml"
        );
    }

    #[test]
    fn not_found_lists_suggestions_or_points_to_list() {
        let err = ConfigError::NotFound {
            name: "fedora-rawhid-aarch64".into(),
            searched: vec!["`/etc/brt`".into(), "embedded configs".into()],
            suggestions: vec!["fedora-rawhide-aarch64".into()],
        };
        assert_eq!(
            err.to_string(),
            "no config named `fedora-rawhid-aarch64` (searched `/etc/brt`, embedded configs); \
             did you mean `fedora-rawhide-aarch64`?"
        );
        let err = ConfigError::NotFound {
            name: "zzz".into(),
            searched: vec!["embedded configs".into()],
            suggestions: vec![],
        };
        assert!(
            err.to_string()
                .ends_with("`brt list` shows the configs there are")
        );
    }

    #[test]
    fn cycle_names_the_chain() {
        let a = Origin::File("/c/a.toml".into());
        let b = Origin::File("/c/b.toml".into());
        let err = ConfigError::IncludeCycle {
            chain: vec![a.clone(), b, a],
        };
        assert_eq!(
            err.to_string(),
            "include cycle: `/c/a.toml` → `/c/b.toml` → `/c/a.toml`"
        );
    }
}
