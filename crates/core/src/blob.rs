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

use base64::Engine as _;
use sha2::Digest as _;

use crate::keys::public::{CurveHash, Prehash};
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

/// Size of the read buffer used while hashing a blob.
const BUFFER_BYTES: usize = 8 * 1024;

/// Hashes a stream with SHA-256 and, if asked, the curve-matched hash.
fn hash_stream<R: Read>(mut reader: R, curve: CurveHash) -> Result<Prehash, BlobError> {
    let mut sha256 = sha2::Sha256::new();
    let mut sha384 = (curve == CurveHash::Sha384).then(sha2::Sha384::new);
    let mut sha512 = (curve == CurveHash::Sha512).then(sha2::Sha512::new);
    let mut buf = vec![0u8; BUFFER_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BlobError::Read(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        sha256.update(chunk);
        if let Some(h) = sha384.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = sha512.as_mut() {
            h.update(chunk);
        }
    }
    let curve_hash = match (sha384, sha512) {
        (Some(h), _) => Some(h.finalize().to_vec()),
        (None, Some(h)) => Some(h.finalize().to_vec()),
        (None, None) => None,
    };
    Ok(Prehash {
        sha256: sha256.finalize().into(),
        curve_hash,
    })
}

/// Reads a whole blob for pure Ed25519, refusing more than
/// [`MAX_ED25519_BLOB_BYTES`].
fn read_bounded<R: Read>(reader: R) -> Result<Vec<u8>, BlobError> {
    let mut data = Vec::new();
    reader
        .take(MAX_ED25519_BLOB_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(BlobError::Read)?;
    if data.len() as u64 > MAX_ED25519_BLOB_BYTES {
        return Err(BlobError::TooLargeForEd25519 {
            limit: MAX_ED25519_BLOB_BYTES,
        });
    }
    Ok(data)
}

/// Signs everything `reader` yields, as `cosign sign-blob --key` does, and
/// returns the raw signature bytes (DER for ECDSA).
///
/// ECDSA (every curve) and RSA sign the SHA-256 of the stream, computed with
/// an 8 KiB buffer. Ed25519 is pure: the whole blob is read into memory,
/// at most [`MAX_ED25519_BLOB_BYTES`].
pub fn sign_blob<R: Read>(key: &PrivateKey, reader: R) -> Result<Vec<u8>, BlobError> {
    if key.is_pure() {
        let data = read_bounded(reader)?;
        return key.sign(&data).map_err(BlobError::Sign);
    }
    let prehash = hash_stream(reader, CurveHash::None)?;
    key.sign_prehashed(&prehash.sha256).map_err(BlobError::Sign)
}

/// Verifies a raw signature over everything `reader` yields, as `cosign
/// verify-blob --key` does.
///
/// ECDSA signatures over SHA-256 (cosign 2.x) are accepted for every curve,
/// and over SHA-384 / SHA-512 (cosign 3.x) for P-384 / P-521. Both hashes are
/// computed in one pass. Ed25519 blobs are limited to
/// [`MAX_ED25519_BLOB_BYTES`].
pub fn verify_blob<R: Read>(key: &PublicKey, reader: R, signature: &[u8]) -> Result<(), BlobError> {
    if key.is_pure() {
        let data = read_bounded(reader)?;
        return key.verify(&data, signature).map_err(BlobError::Verify);
    }
    let prehash = hash_stream(reader, key.curve_hash_kind())?;
    key.verify_prehashed(&prehash, signature)
        .map_err(BlobError::Verify)
}

/// Decodes the base64 text of a cosign `.sig` file (surrounding ASCII
/// whitespace is ignored) into raw signature bytes.
///
/// Input over [`MAX_SIGNATURE_FILE_BYTES`] is rejected before decoding.
pub fn decode_signature(text: &[u8]) -> Result<Vec<u8>, BlobError> {
    if text.len() > MAX_SIGNATURE_FILE_BYTES {
        return Err(BlobError::SignatureTooLarge {
            size: text.len(),
            limit: MAX_SIGNATURE_FILE_BYTES,
        });
    }
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() {
        return Err(BlobError::EmptySignature);
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .map_err(BlobError::SignatureBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_signature_trims_and_bounds() {
        assert_eq!(decode_signature(b"  AQID\n").unwrap(), vec![1, 2, 3]);
        assert!(matches!(
            decode_signature(b" \n"),
            Err(BlobError::EmptySignature)
        ));
        assert!(matches!(
            decode_signature(b"A?=="),
            Err(BlobError::SignatureBase64(_))
        ));
        let big = vec![b'A'; MAX_SIGNATURE_FILE_BYTES + 4];
        assert!(matches!(
            decode_signature(&big),
            Err(BlobError::SignatureTooLarge { .. })
        ));
    }

    #[test]
    fn hash_stream_matches_one_shot_hashes() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let p = hash_stream(&data[..], CurveHash::Sha384).unwrap();
        assert_eq!(p.sha256.as_slice(), sha2::Sha256::digest(&data).as_slice());
        assert_eq!(p.curve_hash.unwrap(), sha2::Sha384::digest(&data).to_vec());
        let p = hash_stream(&data[..], CurveHash::Sha512).unwrap();
        assert_eq!(p.curve_hash.unwrap(), sha2::Sha512::digest(&data).to_vec());
        assert!(
            hash_stream(&data[..], CurveHash::None)
                .unwrap()
                .curve_hash
                .is_none()
        );
    }
}
