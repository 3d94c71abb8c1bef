//! The checks that turn bytes into proof: key → signature → payload → digest.
//!
//! A [`Verified<T>`] can only be made by this module, after the whole chain
//! was checked, so holding one proves it. The signature is checked over the
//! exact bytes received before those bytes are parsed; the parsed payload must
//! then name the expected manifest digest.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Digest;
use crate::dsse::{DsseError, Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::intoto::{Statement, StatementError};
use crate::keys::{KeyId, PublicKey};
use crate::simple_signing::{SimpleSigning, SimpleSigningError};

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

/// The first of `keys` that verifies `signature` over `message`.
fn find_key(keys: &[PublicKey], message: &[u8], signature: &[u8]) -> Option<KeyId> {
    keys.iter()
        .find(|k| k.verify(message, signature).is_ok())
        .map(PublicKey::key_id)
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
    let signature = STANDARD
        .decode(signature_b64.trim())
        .map_err(|source| VerifyError::SignatureBase64 { source })?;
    let key_id = find_key(keys, payload, &signature)
        .ok_or(VerifyError::NoMatchingKey { keys: keys.len() })?;
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
    let envelope = Envelope::parse(envelope).map_err(|source| VerifyError::Envelope { source })?;
    let pae = envelope.pae();
    let key_id = envelope
        .signatures()
        .iter()
        .find_map(|s| find_key(keys, &pae, &s.sig))
        .ok_or(VerifyError::NoMatchingKey { keys: keys.len() })?;
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
