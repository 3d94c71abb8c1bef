//! Errors of key loading, writing, signing and verification.

use super::KeyAlgorithm;

/// A boxed error source, for the many parser errors of the key-format crates.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a `no_std` dependency (built without its `std` feature, so
/// its error type does not implement [`std::error::Error`]), wrapped so it
/// can still be carried as a typed `#[source]` instead of as a string.
#[derive(Debug)]
pub(crate) struct NoStdError<E>(pub(crate) E);

impl<E: std::fmt::Display> std::fmt::Display for NoStdError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for NoStdError<E> {}

/// Why a key could not be loaded, imported, generated or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is larger than any key file rsign accepts.
    #[error(
        "key input is {size} bytes, more than the limit of {limit} bytes (is this really a key file?)"
    )]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input holds no PEM block, or the PEM framing is broken.
    #[error("input is not a PEM block (expected `-----BEGIN ...-----`)")]
    NotPem {
        /// The PEM decoder's complaint.
        #[source]
        source: BoxError,
    },
    /// A PEM block whose label rsign does not accept here.
    #[error("unsupported PEM label `{0}`")]
    UnknownPemLabel(String),
    /// An unencrypted private key was given where cosign's encrypted format is expected.
    #[error(
        "private key with PEM label `{label}` is not in cosign's encrypted format (expected `ENCRYPTED SIGSTORE PRIVATE KEY`; hint: import it with `import-key-pair`)"
    )]
    NotEncrypted {
        /// The label found.
        label: String,
    },
    /// A public key was given where a private key is needed.
    #[error("a public key was given where a private key is needed")]
    PublicKeyGiven,
    /// The secretbox did not open: the password is wrong or the file was altered.
    #[error("wrong password or corrupted key")]
    WrongPassword,
    /// The key derivation function is not scrypt.
    #[error("unsupported key derivation function `{0}` (expected `scrypt`)")]
    UnsupportedKdf(String),
    /// scrypt parameters outside what cosign writes (N = 2^15, 2^16 or 2^17, r = 8, p = 1).
    #[error(
        "unsupported scrypt parameters N={n}, r={r}, p={p} (accepted: N=32768, 65536 or 131072 with r=8, p=1)"
    )]
    UnsupportedKdfParams {
        /// The cost parameter N.
        n: u64,
        /// The block size r.
        r: u64,
        /// The parallelism p.
        p: u64,
    },
    /// The salt has an implausible length.
    #[error("scrypt salt is {len} bytes (expected 16 to 64 bytes)")]
    BadSaltLength {
        /// The decoded salt length.
        len: usize,
    },
    /// The cipher is not NaCl secretbox.
    #[error("unsupported cipher `{0}` (expected `nacl/secretbox`)")]
    UnsupportedCipher(String),
    /// The secretbox nonce is not 24 bytes.
    #[error("secretbox nonce is {len} bytes (expected 24)")]
    BadNonceLength {
        /// The decoded nonce length.
        len: usize,
    },
    /// The decrypted key is not PKCS#8 (cosign only ever encrypts PKCS#8).
    #[error(
        "decrypted private key is not PKCS#8 (cosign encrypts only PKCS#8; a SEC1 or PKCS#1 key must be imported instead)"
    )]
    NotPkcs8 {
        /// The PKCS#8 parser's complaint.
        #[source]
        source: BoxError,
    },
    /// A key type or encoding rsign does not support.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// An RSA key size outside 2048..=4096 bits.
    #[error("RSA key size {bits} bits not supported (accepted: 2048 to 4096 bits)")]
    RsaKeySize {
        /// The modulus size in bits.
        bits: usize,
    },
    /// An elliptic curve other than P-256, P-384 and P-521.
    #[error("unsupported elliptic curve {0} (accepted: P-256, P-384, P-521)")]
    UnsupportedCurve(String),
    /// A structure inside the key could not be decoded.
    #[error("malformed {what}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: BoxError,
    },
    /// The operating system's random number generator failed.
    #[error("failed to get random bytes from the operating system")]
    Random {
        /// The getrandom error.
        #[source]
        source: BoxError,
    },
    /// Encoding a key failed (should not happen for a valid key).
    #[error("failed to encode {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's complaint.
        #[source]
        source: BoxError,
    },
}

impl KeyError {
    pub(crate) fn malformed(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Malformed {
            what,
            source: source.into(),
        }
    }

    pub(crate) fn encode(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Encode {
            what,
            source: source.into(),
        }
    }
}

/// Why a signature could not be made or did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is well-formed but does not verify with this key and message.
    #[error("signature does not verify with this {algorithm} key")]
    Invalid {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
    },
    /// The signature bytes cannot be a signature of this key type.
    #[error("signature of {len} bytes is malformed for a {algorithm} key")]
    Malformed {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// Length of the signature bytes.
        len: usize,
    },
    /// The operation is not possible with this key type (e.g. prehashed Ed25519).
    #[error("{operation} is not supported for {algorithm} keys")]
    UnsupportedForAlgorithm {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// What was asked.
        operation: &'static str,
    },
    /// The signing primitive failed.
    #[error("signing with the {algorithm} key failed")]
    Signing {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The primitive's complaint.
        #[source]
        source: BoxError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn no_std_errors_are_carried_as_typed_sources() {
        let err = KeyError::encode(
            "secretbox ciphertext",
            NoStdError(crypto_secretbox::aead::Error),
        );
        let source = err.source().expect("encode errors carry a source");
        assert!(
            source
                .downcast_ref::<NoStdError<crypto_secretbox::aead::Error>>()
                .is_some()
        );
        assert_eq!(
            source.to_string(),
            crypto_secretbox::aead::Error.to_string()
        );
    }
}
