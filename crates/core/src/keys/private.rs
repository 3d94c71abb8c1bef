//! Private keys: generation, cosign's encrypted format, import, signing.

use std::fmt;

use zeroize::Zeroizing;

use super::{KeyAlgorithm, KeyError, Password, PublicKey, SignatureError};

/// A private signing key. Its secret material is zeroized on drop; `Debug`
/// shows only the algorithm and the key id.
pub struct PrivateKey {
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl PrivateKey {
    /// Generates a fresh ECDSA P-256 key, as `cosign generate-key-pair` does.
    pub fn generate_p256() -> Result<Self, KeyError> {
        todo!()
    }

    /// Decrypts cosign's encrypted PEM (`ENCRYPTED SIGSTORE PRIVATE KEY` or
    /// the legacy `ENCRYPTED COSIGN PRIVATE KEY`).
    pub fn from_cosign_pem(pem: &[u8], password: &Password) -> Result<Self, KeyError> {
        let _ = (pem, password);
        todo!()
    }

    /// Encrypts the key in cosign's format with fresh salt and nonce.
    pub fn to_cosign_pem(&self, password: &Password) -> Result<Zeroizing<String>, KeyError> {
        let _ = password;
        todo!()
    }

    /// Imports an unencrypted PEM private key (PKCS#1, SEC1 or PKCS#8), as
    /// `cosign import-key-pair` does.
    pub fn import_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let _ = pem;
        todo!()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    /// Signs `message` with cosign's conventions: ECDSA over SHA-256 (DER),
    /// RSA PKCS#1 v1.5 over SHA-256, pure Ed25519.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let _ = message;
        todo!()
    }
}
