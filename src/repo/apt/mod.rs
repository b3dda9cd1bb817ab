//! Debian and Ubuntu (apt) repositories: `InRelease`/`Release` and `Packages`.
//!
//! - [`deb822`]: the control-file syntax both are written in.
//! - [`release`]: suite metadata and the checksums of the index files.
//! - [`packages`]: binary package paragraphs and their relation fields.

pub mod deb822;
pub mod metadata;
pub mod packages;
pub mod release;

pub use packages::{
    ArchRestriction, DebDep, DebPackage, MultiArch, PackagesError, Priority, ProfileTerm,
    parse_packages, parse_relations, read_packages,
};
pub use release::{ClearSigned, IndexFile, Release, ReleaseError, split_clearsigned};

pub use super::decompressor;
