//! Versions and their comparison for each package family: below both the
//! repository parsers (`repo`) and the resolvers (`resolve`), which use
//! them (docs/design.md §8).

pub mod deb;
pub mod rpm;
