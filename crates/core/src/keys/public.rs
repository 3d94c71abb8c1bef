//! Public keys: SPKI PEM/DER in, signature verification out.

use super::{KeyAlgorithm, KeyError, KeyId, SignatureError};

/// A public key of a supported type, as cosign writes it in `cosign.pub`.
#[derive(Clone, Debug)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    algorithm: KeyAlgorithm,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let _ = pem;
        todo!()
    }

    /// Parses a DER-encoded SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let _ = der;
        todo!()
    }

    /// The key as PEM `PUBLIC KEY`, 64-column base64, trailing newline:
    /// byte-identical to cosign's `cosign.pub`.
    pub fn to_pem(&self) -> String {
        todo!()
    }

    /// The DER-encoded SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> KeyId {
        KeyId::of_spki_der(&self.spki_der)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Verifies `signature` over `message` with cosign's conventions.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let _ = (message, signature);
        todo!()
    }
}
