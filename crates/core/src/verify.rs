//! The checks that turn bytes into proof: key → signature → payload → digest.
//!
//! A [`Verified<T>`] can only be made by this module, after the whole chain
//! was checked, so holding one proves it. The signature is checked over the
//! exact bytes received before those bytes are parsed; the parsed payload must
//! then name the expected manifest digest.
//!
//! # Cost
//!
//! Without a trustworthy key hint every signature is tried with every key,
//! so the work is bounded as follows. Payloads larger than the format allows
//! ([`MAX_PAYLOAD_BYTES`], [`MAX_ENVELOPE_BYTES`]) are refused before any
//! key is tried. The signed bytes are hashed once per hash algorithm
//! (SHA-256, and SHA-384 / SHA-512 only if a P-384 / P-521 key is given);
//! each ECDSA and RSA key then checks the digest, whose cost does not depend
//! on the payload size. Ed25519 is pure (it hashes the whole message with the
//! signature's nonce and the key), so each Ed25519 attempt rehashes the
//! message; those attempts together may hash at most [`MAX_PURE_HASH_BYTES`],
//! after which verification fails with [`VerifyError::TooMuchWork`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use sha2::Digest as _;

use crate::Digest;
use crate::dsse::{DsseError, Envelope, IN_TOTO_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES};
use crate::intoto::{Statement, StatementError};
use crate::keys::public::{CurveHash, Prehash};
use crate::keys::{KeyId, PublicKey};
use crate::simple_signing::{MAX_PAYLOAD_BYTES, SimpleSigning, SimpleSigningError};

/// The most message bytes that Ed25519 attempts of one verification may hash
/// together (Ed25519 cannot verify a precomputed digest; see the module docs).
/// One 32 MiB attestation can be tried against 16 Ed25519 keys.
pub const MAX_PURE_HASH_BYTES: u64 = 512 * 1024 * 1024;

/// The length of every Ed25519 signature; shorter or longer ones are
/// rejected without hashing the message.
const ED25519_SIGNATURE_BYTES: usize = 64;

/// Messages up to this size are verified by [`PublicKey::verify`] (ring's
/// fast path, about 3× the throughput of the prehash path for P-256): hashing
/// a few KiB again per key costs far less than the signature check itself.
/// Every real simple-signing payload is a few hundred bytes.
const SMALL_MESSAGE_BYTES: usize = 4096;

/// A value whose signature chain was verified. No public constructor.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    value: T,
    key_id: KeyId,
}

impl<T> Verified<T> {
    /// The verified value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The id of the trusted key whose signature verified.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The verified value, giving up the proof.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Why a signature or attestation does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No trusted keys were given.
    #[error("no trusted keys given to verify against")]
    NoKeys,
    /// The signature annotation is not standard base64.
    #[error("signature is not valid base64")]
    SignatureBase64 {
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// Trying the Ed25519 keys would hash more than [`MAX_PURE_HASH_BYTES`].
    #[error(
        "trying {keys} trusted Ed25519 key(s) on a {message_bytes}-byte message would hash more than {limit} bytes; hint: trust fewer Ed25519 keys"
    )]
    TooMuchWork {
        /// How many Ed25519 keys were given.
        keys: usize,
        /// The size of the signed message (payload or DSSE PAE).
        message_bytes: usize,
        /// [`MAX_PURE_HASH_BYTES`].
        limit: u64,
    },
    /// No trusted key verifies the signature.
    #[error("signature does not verify with any of the {keys} trusted key(s)")]
    NoMatchingKey {
        /// How many keys were tried.
        keys: usize,
    },
    /// The signed payload is not a valid simple-signing payload.
    #[error("signed payload is invalid")]
    Payload {
        /// What is wrong with it.
        #[source]
        source: SimpleSigningError,
    },
    /// The signed payload names another manifest.
    #[error("signed payload is for {actual}, not for the image's digest {expected}")]
    DigestMismatch {
        /// The digest of the image being verified.
        expected: Digest,
        /// The digest in the payload.
        actual: Digest,
    },
    /// The DSSE envelope is malformed.
    #[error("attestation envelope is invalid")]
    Envelope {
        /// What is wrong with it.
        #[source]
        source: DsseError,
    },
    /// The envelope's payload is not an in-toto statement.
    #[error("attestation payloadType is `{found}`, expected `{IN_TOTO_PAYLOAD_TYPE}`")]
    PayloadType {
        /// The payloadType found.
        found: String,
    },
    /// The signed statement is invalid.
    #[error("signed in-toto statement is invalid")]
    Statement {
        /// What is wrong with it.
        #[source]
        source: StatementError,
    },
    /// No subject of the statement has the expected digest.
    #[error("no subject of the attestation has digest {expected}")]
    SubjectMismatch {
        /// The digest of the image or blob being verified.
        expected: Digest,
    },
    /// The statement's predicate type is not the one asked for.
    #[error("attestation predicateType is `{found}`, expected `{expected}`")]
    PredicateTypeMismatch {
        /// The predicate type asked for.
        expected: String,
        /// The predicate type found.
        found: String,
    },
}

/// One signed message, hashed once for every key that will be tried.
struct Message<'a> {
    bytes: &'a [u8],
    /// SHA-256 (for P-256, RSA, and cosign 2.x P-384 / P-521 signatures).
    sha256: Option<Prehash>,
    /// SHA-256 and SHA-384, if a P-384 key is given.
    p384: Option<Prehash>,
    /// SHA-256 and SHA-512, if a P-521 key is given.
    p521: Option<Prehash>,
    /// Message bytes Ed25519 attempts may still hash.
    pure_budget: u64,
    /// How many Ed25519 keys were given (for the error message).
    pure_keys: usize,
}

impl<'a> Message<'a> {
    /// Hashes `bytes` with each algorithm some key of `keys` needs.
    fn new(bytes: &'a [u8], keys: &[PublicKey]) -> Self {
        let needs = |kind: CurveHash| {
            keys.iter()
                .any(|k| !k.is_pure() && k.curve_hash_kind() == kind)
        };
        let any_digest_key = keys.iter().any(|k| !k.is_pure());
        let sha256: Option<[u8; 32]> = any_digest_key.then(|| sha2::Sha256::digest(bytes).into());
        let with = |curve_hash: Vec<u8>| {
            sha256.map(|sha256| Prehash {
                sha256,
                curve_hash: Some(curve_hash),
            })
        };
        Self {
            bytes,
            sha256: sha256.map(|sha256| Prehash {
                sha256,
                curve_hash: None,
            }),
            p384: if needs(CurveHash::Sha384) {
                with(sha2::Sha384::digest(bytes).to_vec())
            } else {
                None
            },
            p521: if needs(CurveHash::Sha512) {
                with(sha2::Sha512::digest(bytes).to_vec())
            } else {
                None
            },
            pure_budget: MAX_PURE_HASH_BYTES,
            pure_keys: keys.iter().filter(|k| k.is_pure()).count(),
        }
    }

    /// Whether `key` verifies `signature` over this message.
    fn verifies(&mut self, key: &PublicKey, signature: &[u8]) -> Result<bool, VerifyError> {
        if key.is_pure() {
            if signature.len() != ED25519_SIGNATURE_BYTES {
                return Ok(false);
            }
            let cost = u64::try_from(self.bytes.len()).unwrap_or(u64::MAX);
            self.pure_budget =
                self.pure_budget
                    .checked_sub(cost)
                    .ok_or_else(|| VerifyError::TooMuchWork {
                        keys: self.pure_keys,
                        message_bytes: self.bytes.len(),
                        limit: MAX_PURE_HASH_BYTES,
                    })?;
            return Ok(key.verify(self.bytes, signature).is_ok());
        }
        if self.bytes.len() <= SMALL_MESSAGE_BYTES {
            return Ok(key.verify(self.bytes, signature).is_ok());
        }
        let prehash = match key.curve_hash_kind() {
            CurveHash::None => self.sha256.as_ref(),
            CurveHash::Sha384 => self.p384.as_ref(),
            CurveHash::Sha512 => self.p521.as_ref(),
        };
        // `new` computed every hash a digest-signing key of `keys` needs.
        Ok(prehash.is_some_and(|p| key.verify_prehashed(p, signature).is_ok()))
    }
}

/// The first of `keys` that verifies one of `signatures` over `message`
/// (signature by signature, key by key).
fn find_key<'s>(
    keys: &[PublicKey],
    message: &[u8],
    signatures: impl IntoIterator<Item = &'s [u8]>,
) -> Result<KeyId, VerifyError> {
    let mut message = Message::new(message, keys);
    for signature in signatures {
        for key in keys {
            if message.verifies(key, signature)? {
                return Ok(key.key_id());
            }
        }
    }
    Err(VerifyError::NoMatchingKey { keys: keys.len() })
}

/// Verifies a cosign image signature: `signature_b64` (the
/// `dev.cosignproject.cosign/signature` annotation) over the exact `payload`
/// bytes with one of `keys`, then that the payload is a valid simple-signing
/// document for `expected_digest`.
///
/// Like cosign, `docker-reference` is not checked here; callers that want an
/// identity policy compare [`SimpleSigning::docker_reference`] themselves.
pub fn verify_simple_signing(
    keys: &[PublicKey],
    payload: &[u8],
    signature_b64: &str,
    expected_digest: &Digest,
) -> Result<Verified<SimpleSigning>, VerifyError> {
    if keys.is_empty() {
        return Err(VerifyError::NoKeys);
    }
    // A payload this large can never parse: refuse it before any key is tried.
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(VerifyError::Payload {
            source: SimpleSigningError::TooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            },
        });
    }
    let signature = STANDARD
        .decode(signature_b64.trim())
        .map_err(|source| VerifyError::SignatureBase64 { source })?;
    let key_id = find_key(keys, payload, [signature.as_slice()])?;
    let value = SimpleSigning::parse(payload).map_err(|source| VerifyError::Payload { source })?;
    if value.manifest_digest() != expected_digest {
        return Err(VerifyError::DigestMismatch {
            expected: expected_digest.clone(),
            actual: value.manifest_digest().clone(),
        });
    }
    Ok(Verified { value, key_id })
}

/// Verifies a cosign attestation: some signature of the DSSE `envelope`
/// verifies over its PAE with one of `keys`, the payload is an in-toto
/// statement, some subject has `expected_digest`, and, if given, the
/// predicate type is `expected_predicate_type` (a full URI; resolve short
/// names with [`crate::intoto::predicate_type_uri`]).
pub fn verify_dsse(
    keys: &[PublicKey],
    envelope: &[u8],
    expected_digest: &Digest,
    expected_predicate_type: Option<&str>,
) -> Result<Verified<Statement>, VerifyError> {
    if keys.is_empty() {
        return Err(VerifyError::NoKeys);
    }
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(VerifyError::Envelope {
            source: DsseError::TooLarge {
                size: envelope.len(),
                limit: MAX_ENVELOPE_BYTES,
            },
        });
    }
    let envelope = Envelope::parse(envelope).map_err(|source| VerifyError::Envelope { source })?;
    // Every signature covers the same PAE: build and hash it once.
    let pae = envelope.pae();
    let signatures = envelope.signatures().iter().map(|s| s.sig.as_slice());
    let key_id = find_key(keys, &pae, signatures)?;
    if envelope.payload_type() != IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType {
            found: envelope.payload_type().chars().take(200).collect(),
        });
    }
    let value =
        Statement::parse(envelope.payload()).map_err(|source| VerifyError::Statement { source })?;
    if !value.has_subject_digest(expected_digest) {
        return Err(VerifyError::SubjectMismatch {
            expected: expected_digest.clone(),
        });
    }
    if let Some(expected) = expected_predicate_type
        && value.predicate_type() != expected
    {
        return Err(VerifyError::PredicateTypeMismatch {
            expected: expected.to_owned(),
            found: value.predicate_type().chars().take(200).collect(),
        });
    }
    Ok(Verified { value, key_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn ed25519_attempts_stop_at_the_hash_budget() {
        let pem = include_bytes!("../../../keys-testdata/cosign/import-key-pair/ed25519.key");
        let signer = PrivateKey::import_pem(pem).unwrap();
        let ed = signer.public_key();
        let p256 = PrivateKey::generate_p256().unwrap().public_key();
        let keys = [p256.clone(), ed.clone(), ed.clone(), ed.clone()];
        let message = [b'm'; 100];
        let signature = signer.sign(&message).unwrap();

        // Budget for two Ed25519 attempts: the third is refused.
        let mut m = Message::new(&message, &keys);
        m.pure_budget = 250;
        let wrong = [0u8; 64];
        assert!(!m.verifies(&p256, &wrong).unwrap());
        assert!(!m.verifies(&ed, &wrong).unwrap());
        assert!(!m.verifies(&ed, &wrong).unwrap());
        match m.verifies(&ed, &signature) {
            Err(VerifyError::TooMuchWork {
                keys: 3,
                message_bytes: 100,
                ..
            }) => {}
            other => panic!("expected TooMuchWork, got {other:?}"),
        }

        // Signatures of the wrong length cost nothing.
        let mut m = Message::new(&message, &keys);
        m.pure_budget = 150;
        for _ in 0..10 {
            assert!(!m.verifies(&ed, &[0u8; 63]).unwrap());
        }
        assert!(m.verifies(&ed, &signature).unwrap());
    }
}
