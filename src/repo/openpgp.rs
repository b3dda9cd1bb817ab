//! OpenPGP signatures on repository metadata (apt `InRelease`/`Release.gpg`)
//! checked against the keyrings a config names, with the `pgp` crate.
//!
//! A keyring file may be binary (as in `/usr/share/keyrings`) or armored, and
//! may hold several keys. A signature is good when it verifies against the
//! primary key or a subkey of one of them; which one is reported by
//! fingerprint.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use pgp::composed::SignedPublicSubKey;
use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::Signature;
use pgp::types::KeyDetails;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read keyring `{path}`")]
    Keyring {
        path: PathBuf,
        #[source]
        source: KeyringProblem,
    },
    #[error("`{origin}` is not a valid OpenPGP signed message")]
    Malformed {
        origin: String,
        #[source]
        source: Box<pgp::errors::Error>,
    },
    #[error("the signature of `{origin}` does not verify with any key of {keyrings}")]
    BadSignature { origin: String, keyrings: String },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringProblem {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Pgp(#[from] Box<pgp::errors::Error>),
    #[error("it holds no public key")]
    Empty,
}

/// Public keys loaded from one or more keyring files.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    files: Vec<PathBuf>,
}

impl Keyring {
    /// Loads every key of every file.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Keyring, VerifyError> {
        let mut keyring = Keyring {
            keys: Vec::new(),
            files: Vec::new(),
        };
        for path in paths {
            let path = path.as_ref();
            let keys = read_keys(path).map_err(|source| VerifyError::Keyring {
                path: path.to_path_buf(),
                source,
            })?;
            keyring.keys.extend(keys);
            keyring.files.push(path.to_path_buf());
        }
        Ok(keyring)
    }

    /// Verifies a clear-signed message (`InRelease`) and returns the signed
    /// text with `\n` line ends, as OpenPGP canonicalised it (trailing
    /// blanks of each line removed). Only that text may be trusted.
    pub fn verify_cleartext(&self, input: &str, origin: &str) -> Result<String, VerifyError> {
        let (message, _) = CleartextSignedMessage::from_string(input).map_err(|source| {
            VerifyError::Malformed {
                origin: origin.to_string(),
                source: Box::new(source),
            }
        })?;
        let signed = message.signed_text();
        if !message
            .signatures()
            .iter()
            .any(|sig| self.verifies(sig, signed.as_bytes()))
        {
            return Err(self.bad(origin));
        }
        Ok(signed.replace("\r\n", "\n"))
    }

    /// Verifies a detached signature (`Release.gpg`, armored or binary) of `data`.
    pub fn verify_detached(
        &self,
        data: &[u8],
        signature: &[u8],
        origin: &str,
    ) -> Result<(), VerifyError> {
        let malformed = |source| VerifyError::Malformed {
            origin: origin.to_string(),
            source: Box::new(source),
        };
        let sigs: Vec<DetachedSignature> = if signature.starts_with(b"-----BEGIN") {
            DetachedSignature::from_armor_many(signature)
                .map_err(malformed)?
                .0
                .collect::<Result<_, _>>()
                .map_err(malformed)?
        } else {
            DetachedSignature::from_bytes_many(signature)
                .map_err(malformed)?
                .collect::<Result<_, _>>()
                .map_err(malformed)?
        };
        if sigs.iter().any(|s| self.verifies(&s.signature, data)) {
            Ok(())
        } else {
            Err(self.bad(origin))
        }
    }

    fn verifies(&self, sig: &Signature, data: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            sig.verify(&key.primary_key, data).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub: &SignedPublicSubKey| sig.verify(&sub.key, data).is_ok())
        })
    }

    fn bad(&self, origin: &str) -> VerifyError {
        let keyrings = self
            .files
            .iter()
            .map(|f| format!("`{}`", f.display()))
            .collect::<Vec<_>>()
            .join(", ");
        VerifyError::BadSignature {
            origin: origin.to_string(),
            keyrings,
        }
    }

    /// Fingerprints of the primary keys, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect()
    }
}

fn read_keys(path: &Path) -> Result<Vec<SignedPublicKey>, KeyringProblem> {
    let bytes = fs_err::read(path)?;
    let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
        let (keys, _) = SignedPublicKey::from_armor_many(bytes.as_slice()).map_err(Box::new)?;
        keys.collect::<Result<_, _>>().map_err(Box::new)?
    } else {
        SignedPublicKey::from_bytes_many(BufReader::new(bytes.as_slice()))
            .map_err(Box::new)?
            .collect::<Result<_, _>>()
            .map_err(Box::new)?
    };
    if keys.is_empty() {
        return Err(KeyringProblem::Empty);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

    #[test]
    fn debian_keyring_loads() {
        if !Path::new(DEBIAN_KEYRING).exists() {
            eprintln!("skipped: {DEBIAN_KEYRING} is not installed");
            return;
        }
        let keyring = Keyring::load(&[DEBIAN_KEYRING]).unwrap();
        assert!(
            keyring.fingerprints().len() >= 3,
            "{:?}",
            keyring.fingerprints()
        );
    }

    #[test]
    fn missing_keyring_names_the_file() {
        let err = Keyring::load(&["/nonexistent/keyring.gpg"]).err().unwrap();
        assert!(
            err.to_string().contains("/nonexistent/keyring.gpg"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.gpg");
        fs_err::write(&key, b"not a key").unwrap();
        assert!(Keyring::load(&[&key]).is_err());
    }
}
