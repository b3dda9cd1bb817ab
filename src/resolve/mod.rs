//! Dependency semantics shared by the resolvers: version comparison for
//! each package family.

pub mod deb;
pub mod debver;
pub mod rpm;
pub mod rpmver;
