//! Root-only end-to-end tests on the real kernel: binfmt_misc and qemu-user.

#[path = "../common/mod.rs"]
mod common;

mod archive;
mod binfmt;
mod build;
mod init;
mod initkit;
mod rebuild;
mod rootless;
mod rpm_init;
mod sandbox;
