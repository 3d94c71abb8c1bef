//! Signing and verifying files ("blobs") the way `cosign sign-blob` and
//! `cosign verify-blob` do.
//!
//! The signature is the raw signature bytes (DER for ECDSA); cosign's `.sig`
//! file holds their base64 ([`decode_signature`] reads it).
//!
//! ECDSA and RSA sign the SHA-256 of the file, which is computed while
//! streaming. Ed25519 is pure EdDSA and needs the whole message in memory, so
//! Ed25519 blobs are limited to [`MAX_ED25519_BLOB_BYTES`].

use std::io::Read;

use crate::keys::{PrivateKey, PublicKey, SignatureError};

/// The largest blob that can be signed or verified with an Ed25519 key
/// (pure Ed25519 needs the whole message in memory): 512 MiB.
pub const MAX_ED25519_BLOB_BYTES: u64 = 512 * 1024 * 1024;

/// The largest base64 signature file [`decode_signature`] accepts: 64 KiB.
pub const MAX_SIGNATURE_FILE_BYTES: usize = 64 * 1024;

/// Why a blob could not be signed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Reading the blob failed.
    #[error("failed to read the blob")]
    Read(#[source] std::io::Error),
    /// An Ed25519 blob larger than [`MAX_ED25519_BLOB_BYTES`].
    #[error(
        "blob is larger than {limit} bytes, the most rsign reads into memory for pure Ed25519 (use an ECDSA or RSA key for larger files)"
    )]
    TooLargeForEd25519 {
        /// The limit in bytes.
        limit: u64,
    },
    /// Signing failed.
    #[error("failed to sign the blob")]
    Sign(#[source] SignatureError),
    /// The signature does not verify (or is malformed for the key).
    #[error("blob signature verification failed")]
    Verify(#[source] SignatureError),
    /// The signature file is larger than [`MAX_SIGNATURE_FILE_BYTES`].
    #[error("signature file is {size} bytes, more than the limit of {limit} bytes")]
    SignatureTooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The signature file is empty.
    #[error("signature file is empty")]
    EmptySignature,
    /// The signature file is not base64.
    #[error("signature is not valid base64")]
    SignatureBase64(#[source] base64::DecodeError),
}

/// Signs everything `reader` yields; returns the raw signature bytes.
pub fn sign_blob<R: Read>(key: &PrivateKey, reader: R) -> Result<Vec<u8>, BlobError> {
    let _ = (key, reader);
    todo!()
}

/// Verifies a raw signature over everything `reader` yields.
pub fn verify_blob<R: Read>(key: &PublicKey, reader: R, signature: &[u8]) -> Result<(), BlobError> {
    let _ = (key, reader, signature);
    todo!()
}

/// Decodes the base64 text of a cosign `.sig` file (surrounding ASCII
/// whitespace is ignored) into raw signature bytes.
pub fn decode_signature(text: &[u8]) -> Result<Vec<u8>, BlobError> {
    let _ = text;
    todo!()
}
