//! Debian and Ubuntu (apt) repositories: `InRelease`/`Release` and `Packages`.
//!
//! - [`deb822`]: the control-file syntax both are written in.
//! - [`release`]: suite metadata and the checksums of the index files.
//! - [`packages`]: binary package paragraphs and their relation fields.

use std::io::Read;

pub mod deb822;
pub mod metadata;
pub mod packages;
pub mod release;

pub use packages::{
    ArchRestriction, DebDep, DebPackage, MultiArch, PackagesError, Priority, ProfileTerm,
    parse_packages, parse_relations, read_packages,
};
pub use release::{ClearSigned, IndexFile, Release, ReleaseError, split_clearsigned};

/// A reader that decompresses an index file according to its name's suffix
/// (`Packages.xz`, `Packages.gz`; anything else is read as is).
pub fn decompressor<'a>(file_name: &str, reader: impl Read + 'a) -> Box<dyn Read + 'a> {
    if file_name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader))
    } else if file_name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &str = "Package: mawk\nVersion: 1.3.4.20200120-3.1\n";

    #[test]
    fn decompressor_by_suffix() {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(TEXT.as_bytes()).unwrap();
        let xz = xz.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        for (name, bytes) in [
            ("main/binary-arm64/Packages.xz", xz),
            ("main/binary-arm64/Packages.gz", gz),
            ("main/binary-arm64/Packages", TEXT.as_bytes().to_vec()),
        ] {
            let mut out = String::new();
            decompressor(name, bytes.as_slice())
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, TEXT, "{name}");
        }
    }
}
