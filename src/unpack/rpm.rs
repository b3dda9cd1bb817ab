//! `.rpm` files: checking a package before it is used (header digest,
//! payload digest, OpenPGP signature) and reading the scriptlets and
//! triggers its header holds. Writing the payload is `root::rpm::bootstrap`'s,
//! from a process confined to the root.

use std::io::{self, BufRead, Read};

use rpm::{DependencyFlags, IndexTag, PackageMetadata};
use sha2::Digest;

/// Why a package cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("it is not a valid rpm package: {0}")]
    Malformed(#[source] rpm::Error),
    #[error("cannot read it")]
    Read(#[source] io::Error),
    #[error("its header digest does not match: {0}")]
    HeaderDigest(#[source] rpm::Error),
    #[error("its payload does not match the digest in its header (truncated or tampered)")]
    PayloadDigest,
    #[error("its header has no payload digest, so its signature does not cover the files")]
    NoPayloadDigest,
    #[error("it is not signed")]
    Unsigned,
    #[error("its signature does not verify with any key of the repository's `gpgkey` list")]
    BadSignature(#[source] rpm::Error),
}

/// Reads a package's header and checks it: the header digest always; the
/// payload digest always when the header has one (it is the only link
/// between a signed header and the files); the signature when `keys` is
/// given. Reads the whole file.
pub fn check(
    input: &mut impl BufRead,
    keys: Option<&rpm::signature::pgp::Verifier>,
) -> Result<PackageMetadata, RpmError> {
    let metadata = PackageMetadata::parse(input).map_err(|e| match e {
        rpm::Error::Io(e) => RpmError::Read(e),
        e => RpmError::Malformed(e),
    })?;
    metadata
        .check_digests()
        .and_then(|r| r.result())
        .map_err(RpmError::HeaderDigest)?;
    if let Some(keys) = keys {
        if metadata
            .raw_signatures()
            .map(|s| s.is_empty())
            .unwrap_or(true)
        {
            return Err(RpmError::Unsigned);
        }
        metadata
            .verify_signature(keys)
            .map_err(RpmError::BadSignature)?;
    }
    let header = &metadata.header;
    let digest = header
        .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        .ok()
        .and_then(|d| d.first().map(|s| s.to_ascii_lowercase()));
    let algo = header
        .get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO)
        .unwrap_or(8);
    match digest {
        Some(want) => {
            let got = match algo {
                8 => hash::<sha2::Sha256>(input)?,
                10 => hash::<sha2::Sha512>(input)?,
                9 => hash::<sha2::Sha384>(input)?,
                11 => hash::<sha2::Sha224>(input)?,
                _ => return Err(RpmError::PayloadDigest),
            };
            if got != want {
                return Err(RpmError::PayloadDigest);
            }
        }
        None if keys.is_some() => return Err(RpmError::NoPayloadDigest),
        None => {}
    }
    Ok(metadata)
}

fn hash<D: Digest>(input: &mut impl Read) -> Result<String, RpmError> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input.read(&mut buf).map_err(RpmError::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A script from a header: its interpreter and arguments (`/bin/sh`, or
/// `<lua>` for rpm's embedded Lua) and its text (empty for `-p /sbin/prog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub program: Vec<String>,
    pub body: String,
}

impl Script {
    pub fn is_lua(&self) -> bool {
        self.program.first().is_some_and(|p| p == "<lua>")
    }
}

/// A trigger: the script and what sets it off (package names for
/// `%triggerin`, path prefixes for file triggers), with version ranges as
/// rpm writes them (`>= 1.2`, or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub script: Script,
    pub on: Vec<(String, String)>,
}

/// What a fresh install of a package runs, in rpm's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripts {
    pub pretrans: Option<Script>,
    pub pre: Option<Script>,
    pub post: Option<Script>,
    pub posttrans: Option<Script>,
    /// `%triggerin -- NAME`.
    pub triggerin: Vec<Trigger>,
    /// `%filetriggerin -- /PREFIX`.
    pub filetriggerin: Vec<Trigger>,
    /// `%transfiletriggerin -- /PREFIX`.
    pub transfiletriggerin: Vec<Trigger>,
}

impl Scripts {
    pub fn read(md: &PackageMetadata) -> Scripts {
        let script = |s: Result<rpm::Scriptlet, rpm::Error>| {
            s.ok().map(|s| Script {
                program: s.program.unwrap_or_else(|| vec!["/bin/sh".into()]),
                body: s.script,
            })
        };
        let triggers = |t: Result<Vec<rpm::Trigger>, rpm::Error>, flag: DependencyFlags| {
            t.unwrap_or_default()
                .into_iter()
                .filter_map(|t| {
                    let on: Vec<(String, String)> = t
                        .conditions
                        .iter()
                        .filter(|c| c.flags.contains(flag))
                        .map(|c| {
                            let range = match (c.flags.comparator_str(), c.version.as_str()) {
                                ("", _) | (_, "") => String::new(),
                                (op, v) => format!("{op} {v}"),
                            };
                            (c.name.clone(), range)
                        })
                        .collect();
                    (!on.is_empty()).then(|| Trigger {
                        script: Script {
                            program: if t.program.is_empty() {
                                vec!["/bin/sh".into()]
                            } else {
                                t.program
                            },
                            body: t.script,
                        },
                        on,
                    })
                })
                .collect()
        };
        Scripts {
            pretrans: script(md.get_pre_trans_script()),
            pre: script(md.get_pre_install_script()),
            post: script(md.get_post_install_script()),
            posttrans: script(md.get_post_trans_script()),
            triggerin: triggers(md.get_triggers(), DependencyFlags::TRIGGERIN),
            filetriggerin: triggers(md.get_file_triggers(), DependencyFlags::TRIGGERIN),
            transfiletriggerin: triggers(md.get_trans_file_triggers(), DependencyFlags::TRIGGERIN),
        }
    }
}
