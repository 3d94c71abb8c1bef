//! DSSE (Dead Simple Signing Envelope) v1: the envelope cosign attestations
//! are stored in.
//!
//! ```json
//! {"payloadType":"application/vnd.in-toto+json","payload":"<base64>",
//!  "signatures":[{"keyid":"","sig":"<base64>"}]}
//! ```
//!
//! Signatures are over [`pae`]`(payloadType, payload)`, never over the
//! envelope JSON. cosign writes `keyid` as an empty string and standard,
//! padded base64; [`Envelope::to_bytes`] does the same, byte for byte.
//! [`Envelope::parse`] accepts standard and URL-safe base64 (as the DSSE spec
//! requires of verifiers) but, like go-securesystemslib, only padded; it
//! accepts a missing `keyid` (the spec's own test vector has none), bounds
//! the input size and the number of signatures, and rejects trailing data.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Serialize};

use crate::json;

/// `payloadType` of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The largest envelope [`Envelope::parse`] accepts. SBOM attestations can be
/// large; cosign's own default attachment limit is 128 MiB, rsign's is lower.
pub const MAX_ENVELOPE_BYTES: usize = 32 * 1024 * 1024;

/// The most signatures an envelope may carry.
pub const MAX_SIGNATURES: usize = 32;

/// A DSSE envelope with its payload and signatures decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    payload_type: String,
    payload: Vec<u8>,
    signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key hint (`""` when cosign writes it; not authenticated).
    pub keyid: String,
    /// The raw signature bytes (DER for ECDSA as cosign writes them).
    pub sig: Vec<u8>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("payload_type", &self.payload_type)
            .field("payload_len", &self.payload.len())
            .field("signatures", &self.signatures)
            .finish()
    }
}

/// Why bytes are not a valid DSSE envelope, or signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DsseError {
    /// The envelope is larger than [`MAX_ENVELOPE_BYTES`].
    #[error("dsse envelope is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON is malformed, misses a field or has trailing data.
    #[error("invalid dsse envelope JSON")]
    Json {
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A base64 field decodes with neither the standard nor the URL-safe alphabet.
    #[error("dsse envelope field `{field}` is not padded base64 (standard or URL-safe alphabet)")]
    Base64 {
        /// `payload` or `sig`.
        field: &'static str,
        /// The decoder's complaint (standard alphabet).
        #[source]
        source: base64::DecodeError,
    },
    /// The envelope has no signatures.
    #[error("dsse envelope has no signatures")]
    NoSignatures,
    /// The envelope has more than [`MAX_SIGNATURES`] signatures.
    #[error("dsse envelope has {count} signatures, more than the limit of {limit}")]
    TooManySignatures {
        /// Signatures found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A signature is empty.
    #[error("dsse envelope signature {index} is empty")]
    EmptySignature {
        /// Position in `signatures`.
        index: usize,
    },
    /// The signer failed.
    #[error("signing the dsse envelope failed")]
    Sign {
        /// The signer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Field order and presence as cosign writes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutEnvelope<'a> {
    payload_type: &'a str,
    payload: String,
    signatures: Vec<OutSignature<'a>>,
}

#[derive(Serialize)]
struct OutSignature<'a> {
    keyid: &'a str,
    sig: String,
}

/// The pre-authentication encoding that DSSE signatures cover:
/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, lengths in ASCII
/// decimal bytes, single spaces, no trailing newline.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        10 + type_len.len() + payload_type.len() + body_len.len() + payload.len(),
    );
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Decodes padded base64 in the standard or the URL-safe alphabet.
pub fn decode_base64(field: &'static str, text: &str) -> Result<Vec<u8>, DsseError> {
    STANDARD.decode(text).or_else(|source| {
        URL_SAFE
            .decode(text)
            .map_err(|_| DsseError::Base64 { field, source })
    })
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `signer`, which receives the PAE
    /// bytes and returns the raw signature. The signature gets an empty
    /// `keyid`, as cosign writes it.
    pub fn sign<E>(
        payload_type: impl Into<String>,
        payload: Vec<u8>,
        signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Self, DsseError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let payload_type = payload_type.into();
        let sig = signer(&pae(&payload_type, &payload))
            .map_err(|e| DsseError::Sign { source: e.into() })?;
        Ok(Self {
            payload_type,
            payload,
            signatures: vec![Signature {
                keyid: String::new(),
                sig,
            }],
        })
    }

    /// Parses an envelope (see the module docs for what is accepted).
    pub fn parse(bytes: &[u8]) -> Result<Self, DsseError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DsseError::TooLarge {
                size: bytes.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|source| DsseError::Json { source })?;
        if raw.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures {
                count: raw.signatures.len(),
                limit: MAX_SIGNATURES,
            });
        }
        let payload = decode_base64("payload", &raw.payload)?;
        let signatures = raw
            .signatures
            .into_iter()
            .enumerate()
            .map(|(index, s)| {
                let sig = decode_base64("sig", &s.sig)?;
                if sig.is_empty() {
                    return Err(DsseError::EmptySignature { index });
                }
                Ok(Signature {
                    keyid: s.keyid,
                    sig,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The envelope JSON exactly as cosign writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let out = OutEnvelope {
            payload_type: &self.payload_type,
            payload: STANDARD.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| OutSignature {
                    keyid: &s.keyid,
                    sig: STANDARD.encode(&s.sig),
                })
                .collect(),
        };
        json::to_vec(&out)
    }

    /// `payloadType`.
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The decoded payload (not yet authenticated).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The bytes every signature of this envelope covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}
