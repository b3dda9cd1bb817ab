//! rpm-md repositories (`repodata/repomd.xml` and the files it lists):
//! metadata fetch, verification and parsing into [`RpmPackage`].

pub mod package;

pub use package::{RpmDep, RpmPackage};
