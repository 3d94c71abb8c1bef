//! Signing and verification keys in cosign's formats.
//!
//! - [`PrivateKey`]: loaded from cosign's encrypted PEM (`ENCRYPTED SIGSTORE
//!   PRIVATE KEY`, legacy `ENCRYPTED COSIGN PRIVATE KEY`), generated, or
//!   imported from PKCS#1 / SEC1 / PKCS#8 PEM; written back in cosign's
//!   encrypted format.
//! - [`PublicKey`]: PEM `PUBLIC KEY` (SPKI); verifies signatures.
//! - [`KeyId`]: SHA-256 of the SPKI DER, the key hint cosign puts in bundles.
//!
//! Signature conventions (cosign 2.5): ECDSA signs SHA-256 of the message for
//! every curve, DER-encoded; RSA is PKCS#1 v1.5 over SHA-256; Ed25519 is pure.
//! Verification also accepts the curve-matched hash (SHA-384 for P-384,
//! SHA-512 for P-521) that cosign 3.x writes.

mod encrypted;
mod error;
mod import;
mod keyid;
mod password;
mod pem;
mod private;
pub(crate) mod public;

use std::fmt;

pub use encrypted::{LEGACY_COSIGN_LABEL, SIGSTORE_LABEL};
pub use error::{BoxError, KeyError, SignatureError};
pub use keyid::{KeyId, KeyIdError};
pub use password::Password;
pub use private::PrivateKey;
pub use private::{MAX_RSA_PRIVATE_BITS, MIN_RSA_PRIVATE_BITS};
pub use public::{MAX_RSA_PUBLIC_BITS, MIN_RSA_PUBLIC_BITS, PublicKey};

/// The most bytes any key input (PEM or DER) may have; larger input is
/// rejected before it is parsed. A 4096-bit RSA key in cosign's encrypted
/// format is about 3.5 KiB.
pub const MAX_KEY_INPUT_BYTES: usize = 64 * 1024;

/// The type of a key: its algorithm and, for ECDSA, its curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (cosign's default).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// RSA with the given modulus size; signatures are PKCS#1 v1.5 with SHA-256.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Ed25519 (pure EdDSA).
    Ed25519,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::EcdsaP521 => f.write_str("ECDSA P-521"),
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
            Self::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// Rejects input larger than [`MAX_KEY_INPUT_BYTES`].
fn check_size(input: &[u8]) -> Result<(), KeyError> {
    if input.len() > MAX_KEY_INPUT_BYTES {
        return Err(KeyError::TooLarge {
            size: input.len(),
            limit: MAX_KEY_INPUT_BYTES,
        });
    }
    Ok(())
}
