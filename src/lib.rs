//! brt: create and run package build roots for any CPU architecture.
//!
//! The library holds everything below the command line; `src/main.rs` and
//! `src/cmd/` are the only places that know about clap and the terminal.

pub mod accel;
pub mod arch;
pub mod binfmt;
pub mod builder;
pub mod config;
pub mod error;
pub mod fetch;
pub mod rebuild;
pub mod repo;
pub mod resolve;
pub mod root;
pub mod rootless;
pub mod sandbox;
pub mod unpack;
pub mod version;
