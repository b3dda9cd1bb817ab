//! Lookup tables for a Fedora-sized universe (70,000 packages, ten times
//! as many Provides): a fast string hash, and name → records tables that
//! need no allocation per name.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// rustc's FxHash: much faster than SipHash on the short strings indexed
/// here (capabilities, paths), which matters at 70,000 packages.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub(super) type FxHashSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

pub(super) fn fx_hash(text: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// Name → the records of the entries that list it (a Provides or Obsoletes
/// entry), as a vector of `(hash of the name, record)` sorted by hash. With
/// about ten Provides per package, this is far cheaper to build than a hash
/// map of strings; a lookup verifies the records it finds, so a hash
/// collision costs a little time, never a wrong answer.
#[derive(Default)]
pub(super) struct ByName {
    entries: Vec<(u64, u32)>,
}

impl ByName {
    pub(super) fn new(mut entries: Vec<(u64, u32)>) -> ByName {
        entries.sort_unstable();
        entries.dedup();
        ByName { entries }
    }

    /// The records that may list `name`, ascending.
    pub(super) fn records(&self, name: &str) -> impl Iterator<Item = u32> + '_ {
        let hash = fx_hash(name);
        let start = self.entries.partition_point(|e| e.0 < hash);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.0 == hash)
            .map(|e| e.1)
    }
}
