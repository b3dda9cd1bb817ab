//! What brt's errors tell besides their message: a hint (what the user can
//! do about it) and the class of failure the command line turns into an
//! exit code. Each error type of the library implements [`Explain`];
//! [`explain`] is the one place that finds it behind a `dyn Error`.

use std::error::Error;

/// The kind of failure, which picks the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A config that does not load.
    Config,
    /// The host cannot run the root's binaries (binfmt_misc, qemu).
    Emulation,
    /// The root is absent or not ready.
    Root,
    /// The sandbox could not be set up.
    Sandbox,
    /// Anything else: the cause further down the chain may say more.
    Other,
}

/// An error that can say what to do about it and what kind it is.
pub trait Explain: Error {
    /// What the user can do about it, where that is known.
    fn hint(&self) -> Option<String> {
        None
    }

    fn class(&self) -> ErrorClass {
        ErrorClass::Other
    }
}

/// `err` as an [`Explain`], if it is one of brt's error types.
pub fn explain<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a dyn Explain> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = err.downcast_ref::<$t>() {
                return Some(e);
            })*
        };
    }
    first_of!(
        crate::config::ConfigError,
        crate::binfmt::BinfmtError,
        crate::root::RootError,
        crate::sandbox::SandboxError,
        crate::root::family::PackageError,
        crate::repo::apt::metadata::MetadataError,
        crate::repo::rpmmd::metadata::MetadataError,
        crate::fetch::FetchError,
        crate::builder::BuildError,
        crate::rootless::RootlessError,
    );
    None
}

/// `err` and its causes, outermost first.
fn chain<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The first hint in `err`'s chain of causes.
pub fn hint(err: &(dyn Error + 'static)) -> Option<String> {
    chain(err).find_map(|e| explain(e)?.hint())
}

/// The class of the first cause in `err`'s chain that has one.
pub fn class(err: &(dyn Error + 'static)) -> ErrorClass {
    chain(err)
        .filter_map(|e| explain(e).map(Explain::class))
        .find(|&c| c != ErrorClass::Other)
        .unwrap_or(ErrorClass::Other)
}
