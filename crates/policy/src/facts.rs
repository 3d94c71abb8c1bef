//! Verified facts about one image digest: the only input decisions see.

use std::collections::BTreeSet;
use std::slice;

use rsign_core::Digest;
use rsign_core::intoto::Statement;
use rsign_core::keys::{KeyId, PublicKey};
use rsign_core::simple_signing::SimpleSigning;
use rsign_core::verify::{Verified, verify_dsse, verify_simple_signing};

use crate::source::SignatureLayer;

/// A signature layer that verified with a trusted key for the digest.
#[derive(Debug, Clone)]
pub struct SignatureFact {
    /// The layer's id: the SHA-256 of its payload (the layer blob digest).
    pub id: Digest,
    /// The verified payload and the key that signed it.
    pub verified: Verified<SimpleSigning>,
}

/// An attestation that verified with a trusted key for the digest.
#[derive(Debug, Clone)]
pub struct AttestationFact {
    /// The envelope's id: the SHA-256 of the envelope bytes.
    pub id: Digest,
    /// The verified statement and the key that signed it.
    pub verified: Verified<Statement>,
}

/// What was proven about one image digest, against a set of trusted keys.
///
/// Built only by [`Facts::verify`], which runs every attachment through
/// `rsign_core::verify`: a fact here carries a [`Verified`] value, so a
/// decision can never rest on an unchecked signature.
#[derive(Debug, Clone)]
pub struct Facts {
    digest: Digest,
    signature_layers: usize,
    signatures: Vec<SignatureFact>,
    attestation_envelopes: usize,
    attestations: Vec<AttestationFact>,
}

impl Facts {
    /// Verifies every signature layer and attestation envelope against each
    /// of `keys` for `digest` (one check per key, so that every signer of a
    /// layer is known for thresholds).
    pub fn verify(
        digest: &Digest,
        keys: &[PublicKey],
        layers: &[SignatureLayer],
        envelopes: &[Vec<u8>],
    ) -> Self {
        let mut signatures = Vec::new();
        for layer in layers {
            for key in keys {
                if let Ok(verified) = verify_simple_signing(
                    slice::from_ref(key),
                    &layer.payload,
                    &layer.signature_b64,
                    digest,
                ) {
                    signatures.push(SignatureFact {
                        id: Digest::sha256_of(&layer.payload),
                        verified,
                    });
                }
            }
        }
        let mut attestations = Vec::new();
        for envelope in envelopes {
            for key in keys {
                if let Ok(verified) = verify_dsse(slice::from_ref(key), envelope, digest, None) {
                    attestations.push(AttestationFact {
                        id: Digest::sha256_of(envelope),
                        verified,
                    });
                }
            }
        }
        Self {
            digest: digest.clone(),
            signature_layers: layers.len(),
            signatures,
            attestation_envelopes: envelopes.len(),
            attestations,
        }
    }

    /// The image digest these facts are about.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// How many signature layers were found (verified or not).
    pub fn signature_layers(&self) -> usize {
        self.signature_layers
    }

    /// How many attestation envelopes were found (verified or not).
    pub fn attestation_envelopes(&self) -> usize {
        self.attestation_envelopes
    }

    /// The verified signatures (one per layer and signing key).
    pub fn signatures(&self) -> &[SignatureFact] {
        &self.signatures
    }

    /// The verified attestations (one per envelope and signing key).
    pub fn attestations(&self) -> &[AttestationFact] {
        &self.attestations
    }

    /// The distinct keys among `keys` that signed some layer.
    pub(crate) fn signers_among(&self, keys: &[KeyId]) -> BTreeSet<KeyId> {
        self.signatures
            .iter()
            .map(|s| s.verified.key_id())
            .filter(|k| keys.contains(k))
            .collect()
    }
}
