//! Private keys: generation, cosign's encrypted format, import, signing.

use std::fmt;

use ecdsa::signature::SignatureEncoding;
use ecdsa::signature::Signer as _;
use ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::EncodePrivateKey as _;
use pkcs8::der::Decode as _;
use sha2::Digest as _;
use zeroize::Zeroizing;

use super::public::{Curve, OID_EC_PUBLIC_KEY, OID_ED25519, OID_RSA_ENCRYPTION, bit_len};
use super::{KeyAlgorithm, KeyError, Password, PublicKey, SignatureError, encrypted, import};

/// Smallest RSA private key accepted, in bits (cosign's limit).
pub const MIN_RSA_PRIVATE_BITS: usize = 2048;
/// Largest RSA private key accepted, in bits (cosign's limit).
pub const MAX_RSA_PRIVATE_BITS: usize = 4096;

/// The secret material. Every variant zeroizes itself on drop.
enum Secret {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// A private signing key. Its secret material is zeroized on drop; `Debug`
/// shows only the algorithm and the key id.
pub struct PrivateKey {
    secret: Secret,
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
        // A uniformly random 32-byte string is a valid scalar unless it is 0
        // or >= n (probability about 2^-32); retry a few times in that case.
        for _ in 0..8 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            getrandom::fill(bytes.as_mut_slice()).map_err(|e| KeyError::Random {
                source: super::error::NoStdError(e).into(),
            })?;
            if let Ok(sk) = p256::ecdsa::SigningKey::from_slice(bytes.as_slice()) {
                return Self::from_p256(sk);
            }
        }
        Err(KeyError::Random {
            source: "random bytes never formed a valid P-256 scalar".into(),
        })
    }

    fn from_p256(sk: p256::ecdsa::SigningKey) -> Result<Self, KeyError> {
        let public = PublicKey::from_p256(*sk.verifying_key())?;
        Ok(Self {
            secret: Secret::P256(sk),
            public,
        })
    }

    fn from_p384(sk: p384::ecdsa::SigningKey) -> Result<Self, KeyError> {
        let public = PublicKey::from_p384(*sk.verifying_key())?;
        Ok(Self {
            secret: Secret::P384(sk),
            public,
        })
    }

    fn from_p521(sk: p521::ecdsa::SigningKey) -> Result<Self, KeyError> {
        let public = PublicKey::from_p521(*sk.verifying_key())?;
        Ok(Self {
            secret: Secret::P521(sk),
            public,
        })
    }

    pub(crate) fn from_rsa(key: rsa::PrivateKey) -> Result<Self, KeyError> {
        use rsa::traits::PublicKeyParts as _;
        let bits = bit_len(&key.n().to_be_bytes());
        if !(MIN_RSA_PRIVATE_BITS..=MAX_RSA_PRIVATE_BITS).contains(&bits) {
            return Err(KeyError::RsaKeySize { bits });
        }
        key.validate()
            .map_err(|e| KeyError::malformed("RSA private key", e))?;
        let public = PublicKey::from_rsa(key.to_public_key())?;
        Ok(Self {
            secret: Secret::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(key))),
            public,
        })
    }

    pub(crate) fn from_ed25519(sk: ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let public = PublicKey::from_ed25519(sk.verifying_key().as_bytes())?;
        Ok(Self {
            secret: Secret::Ed25519(Box::new(sk)),
            public,
        })
    }

    /// Builds an EC key from a SEC1 `ECPrivateKey` structure on a known curve.
    pub(crate) fn from_ec_secret_bytes(curve: Curve, scalar: &[u8]) -> Result<Self, KeyError> {
        let bad = |e: ecdsa::Error| KeyError::malformed("EC private key scalar", e);
        match curve {
            Curve::P256 => {
                Self::from_p256(p256::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            Curve::P384 => {
                Self::from_p384(p384::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
            Curve::P521 => {
                Self::from_p521(p521::ecdsa::SigningKey::from_slice(scalar).map_err(bad)?)
            }
        }
    }

    /// Parses a PKCS#8 `PrivateKeyInfo` (v1) or `OneAsymmetricKey` (v2) of a
    /// supported key type.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        super::check_size(der)?;
        let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| KeyError::NotPkcs8 {
            source: Box::new(e),
        })?;
        let oid = info.algorithm.oid;
        if oid == OID_EC_PUBLIC_KEY {
            let curve_oid = info
                .algorithm
                .parameters_oid()
                .map_err(|e| KeyError::malformed("EC private key parameters", e))?;
            let curve = super::public::curve_from_oid(curve_oid)?;
            import::sec1_key(info.private_key.as_bytes(), Some(curve))
        } else if oid == OID_RSA_ENCRYPTION {
            import::rsa_from_pkcs1(info.private_key.as_bytes())
        } else if oid == OID_ED25519 {
            let kb = ed25519_dalek::pkcs8::KeypairBytes::try_from(info)
                .map_err(|e| KeyError::malformed("Ed25519 private key", e))?;
            let sk = ed25519_dalek::SigningKey::try_from(&kb).map_err(|e| {
                KeyError::malformed("Ed25519 private key (public key does not match)", e)
            })?;
            Self::from_ed25519(sk)
        } else {
            Err(KeyError::UnsupportedKey(format!(
                "private key algorithm {oid} (supported: ECDSA, RSA, Ed25519)"
            )))
        }
    }

    /// The key as PKCS#8 DER, as cosign encrypts it: v1 `PrivateKeyInfo`
    /// for every type (Ed25519 without the optional public key, like Go's
    /// `x509.MarshalPKCS8PrivateKey`).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = match &self.secret {
            Secret::P256(sk) => sk.to_pkcs8_der(),
            Secret::P384(sk) => sk.to_pkcs8_der(),
            Secret::P521(sk) => sk.to_pkcs8_der(),
            Secret::Rsa(sk) => sk.to_pkcs8_der(),
            Secret::Ed25519(sk) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: sk.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der(),
        }
        .map_err(|e| KeyError::encode("PKCS#8 private key", e))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Decrypts cosign's encrypted PEM (`ENCRYPTED SIGSTORE PRIVATE KEY` or
    /// the legacy `ENCRYPTED COSIGN PRIVATE KEY`).
    ///
    /// Input over [`super::MAX_KEY_INPUT_BYTES`] and scrypt parameters other
    /// than cosign's are rejected before any expensive work.
    pub fn from_cosign_pem(pem: &[u8], password: &Password) -> Result<Self, KeyError> {
        let der = encrypted::decrypt(pem, password)?;
        Self::from_pkcs8_der(&der)
    }

    /// Encrypts the key in cosign's format (`ENCRYPTED SIGSTORE PRIVATE
    /// KEY`) with a fresh random salt and nonce, scrypt N=65536, r=8, p=1.
    pub fn to_cosign_pem(&self, password: &Password) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        encrypted::encrypt(&der, password)
    }

    /// Imports an unencrypted PEM private key, as `cosign import-key-pair`
    /// does: `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1) or
    /// `PRIVATE KEY` (PKCS#8, v1 or v2). Accepts RSA 2048–4096 bits, ECDSA
    /// P-256/P-384/P-521 and Ed25519.
    pub fn import_pem(pem: &[u8]) -> Result<Self, KeyError> {
        import::import_pem(pem)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public.algorithm()
    }

    fn signing_error(&self, e: ecdsa::Error) -> SignatureError {
        SignatureError::Signing {
            algorithm: self.algorithm(),
            source: Box::new(e),
        }
    }

    /// Signs `message` with cosign's conventions: ECDSA over SHA-256 (DER,
    /// RFC 6979 deterministic) for every curve, RSA PKCS#1 v1.5 over
    /// SHA-256, pure Ed25519.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        if let Secret::Ed25519(sk) = &self.secret {
            return Ok(sk.sign(message).to_bytes().to_vec());
        }
        let digest: [u8; 32] = sha2::Sha256::digest(message).into();
        self.sign_prehashed(&digest)
    }

    /// Whether this key signs whole messages (Ed25519) rather than digests.
    pub(crate) fn is_pure(&self) -> bool {
        matches!(self.secret, Secret::Ed25519(_))
    }

    /// Signs a SHA-256 digest with `signer`, encoding the signature as `S`
    /// (DER for ECDSA, the raw PKCS#1 v1.5 block for RSA).
    fn sign_digest<K, S>(&self, signer: &K, sha256: &[u8; 32]) -> Result<Vec<u8>, SignatureError>
    where
        K: PrehashSigner<S>,
        S: SignatureEncoding,
    {
        let sig: S = signer
            .sign_prehash(sha256)
            .map_err(|e| self.signing_error(e))?;
        Ok(sig.to_vec())
    }

    /// Signs a SHA-256 digest (ECDSA and RSA; Ed25519 is pure and refuses).
    pub(crate) fn sign_prehashed(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignatureError> {
        match &self.secret {
            Secret::P256(sk) => self.sign_digest::<_, p256::ecdsa::DerSignature>(sk, sha256),
            Secret::P384(sk) => self.sign_digest::<_, p384::ecdsa::DerSignature>(sk, sha256),
            Secret::P521(sk) => self.sign_digest::<_, p521::ecdsa::DerSignature>(sk, sha256),
            Secret::Rsa(sk) => self.sign_digest::<_, rsa::pkcs1v15::Signature>(&**sk, sha256),
            Secret::Ed25519(_) => Err(SignatureError::UnsupportedForAlgorithm {
                algorithm: self.algorithm(),
                operation: "signing a prehashed message",
            }),
        }
    }
}
