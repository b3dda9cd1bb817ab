//! rpm-md repositories (`repodata/repomd.xml` and the files it lists):
//! metadata fetch, verification and parsing into [`RpmPackage`].
//!
//! - [`repomd`]: the index of metadata files and their checksums.
//! - [`primary`]: packages, their dependencies, and `filelists.xml`.
//! - [`comps`]: package groups.
//! - [`metalink`]: mirrormanager's list of mirrors and repomd hashes.
//! - [`metadata`]: fetching all of it into the cache, verified.

pub mod comps;
pub mod metadata;
pub mod metalink;
pub mod package;
pub mod primary;
pub mod repomd;
mod xml;

pub use comps::{Group, ReqKind};
pub use package::{RpmDep, RpmPackage};
pub use xml::XmlError;
