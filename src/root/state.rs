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

#[derive(Debug, Deserialize)]
struct StateFile {
    status: State,
}

impl State {
    pub fn read(layout: &Layout) -> RootState {
        // Only a lock file (left by a command that never created the root)
        // is not a root at all.
        if !layout.dir.exists() || (!layout.root().exists() && !layout.state_file().exists()) {
            return RootState::Absent;
        }
        let parsed = fs_err::read_to_string(layout.state_file())
            .ok()
            .and_then(|t| serde_json::from_str::<StateFile>(&t).ok());
        match parsed.map(|s| s.status) {
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
