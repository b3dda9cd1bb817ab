//! Repository metadata: fetched index files parsed into package models.
//!
//! Pure parsing lives here; downloading and caching are `fetch`'s job.

pub mod apt;
pub mod openpgp;
pub mod rpmmd;
