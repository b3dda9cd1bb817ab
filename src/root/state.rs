//! `state.json`: whether a root may be used.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Layout;

/// What a root's `state.json` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Bootstrapping,
    Ready,
    Broken,
}

/// The state as `brt list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootState {
    /// No directory for this root.
    Absent,
    Bootstrapping,
    Ready,
    /// A directory without a readable `state.json`, or marked broken.
    Broken,
}

/// What brt reads back from a `state.json` (written at the end of an init
/// or import, see `family::pipeline::InitState`); absent fields are empty.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StateFile {
    pub status: Option<State>,
    /// `name version arch` (Debian) or `name-evr.arch` (rpm), sorted.
    pub packages: Vec<String>,
    /// The root cache entry the root was made from or stored as.
    pub root_cache_key: Option<String>,
}

impl StateFile {
    /// The state file at `path`, if it is there and parses.
    pub fn read(path: &std::path::Path) -> Option<StateFile> {
        let text = fs_err::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// SHA-256 of the package list, one per line: what a build record
    /// gives as the root's `packages_sha256` (and `rebuild --resume`
    /// compares).
    pub fn packages_sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.packages.join("\n")))
    }
}

impl State {
    pub fn read(layout: &Layout) -> RootState {
        // Only a lock file (left by a command that never created the root)
        // is not a root at all.
        if !layout.dir.exists() || (!layout.root().exists() && !layout.state_file().exists()) {
            return RootState::Absent;
        }
        match StateFile::read(&layout.state_file()).and_then(|s| s.status) {
            Some(State::Ready) => RootState::Ready,
            Some(State::Bootstrapping) => RootState::Bootstrapping,
            Some(State::Broken) | None => RootState::Broken,
        }
    }
}

impl fmt::Display for RootState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootState::Absent => "absent",
            RootState::Bootstrapping => "bootstrapping",
            RootState::Ready => "ready",
            RootState::Broken => "broken",
        })
    }
}
