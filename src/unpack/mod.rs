//! Package payloads written into a root without the root's own tools:
//! `.deb` files (ar + tar) and the dpkg database entries their unpacking
//! leaves. Callers run this inside a process confined to the root
//! (`root::confined`), so nothing a package holds can lead outside it.

pub mod deb;
pub mod dpkg;
pub mod rpm;
