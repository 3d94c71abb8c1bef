//! Public keys: SPKI PEM/DER in, signature verification out.
//!
//! Verification uses `ring` where it supports the key and hash (P-256 and
//! P-384 ECDSA, RSA PKCS#1 v1.5 with 2048–8192-bit moduli, Ed25519) and the
//! RustCrypto `p521` crate for P-521. Streaming (prehashed) verification for
//! blobs uses the RustCrypto crates throughout, since `ring` only verifies
//! whole messages.

use std::fmt;

use ecdsa::signature::hazmat::PrehashVerifier as _;
use pkcs8::der::Decode as _;
use ring::signature as rs;
use sha2::Digest as _;
use spki::EncodePublicKey as _;

use super::{KeyAlgorithm, KeyError, KeyId, SignatureError, pem};

/// OID of `id-ecPublicKey`.
pub(crate) const OID_EC_PUBLIC_KEY: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// OID of `rsaEncryption`.
pub(crate) const OID_RSA_ENCRYPTION: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// OID of `id-Ed25519`.
pub(crate) const OID_ED25519: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Smallest RSA modulus accepted for verification, in bits.
pub const MIN_RSA_PUBLIC_BITS: usize = 2048;
/// Largest RSA modulus accepted for verification, in bits (`ring`'s limit).
pub const MAX_RSA_PUBLIC_BITS: usize = 8192;

/// The curves rsign supports, by OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

/// Maps a named-curve OID to a supported curve, or a helpful error.
pub(crate) fn curve_from_oid(oid: spki::ObjectIdentifier) -> Result<Curve, KeyError> {
    match oid {
        OID_P256 => Ok(Curve::P256),
        OID_P384 => Ok(Curve::P384),
        OID_P521 => Ok(Curve::P521),
        other => {
            let name = match other.to_string().as_str() {
                "1.3.132.0.33" => "P-224",
                "1.3.132.0.10" => "secp256k1",
                "1.2.840.10045.3.1.1" => "P-192",
                _ => "unknown curve",
            };
            Err(KeyError::UnsupportedCurve(format!("{name} ({other})")))
        }
    }
}

/// The size in bits of a big-endian unsigned integer (leading zeros ignored).
pub(crate) fn bit_len(be: &[u8]) -> usize {
    let stripped: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(i) => be.get(i..).unwrap_or_default(),
        None => &[],
    };
    match stripped.first() {
        Some(first) => stripped.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[derive(Clone)]
enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
    Ed25519,
}

/// A public key of a supported type, as cosign writes it in `cosign.pub`.
///
/// Two keys are equal when their (canonical) SPKI DER encodings are equal.
#[derive(Clone)]
pub struct PublicKey {
    /// Canonical SPKI DER (re-encoded, as Go's `x509.MarshalPKIXPublicKey` writes it).
    spki_der: Vec<u8>,
    /// The key bytes `ring` wants: SEC1 uncompressed point, PKCS#1
    /// `RSAPublicKey` DER, or the 32 raw Ed25519 bytes.
    ring_key: Vec<u8>,
    algorithm: KeyAlgorithm,
    inner: Inner,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

/// SHA-256 of a message, plus the curve-matched hash for P-384 / P-521 keys.
#[derive(Debug, Clone)]
pub(crate) struct Prehash {
    pub(crate) sha256: [u8; 32],
    /// SHA-384 (P-384) or SHA-512 (P-521) of the same message, if computed.
    pub(crate) curve_hash: Option<Vec<u8>>,
}

fn ecdsa_der_len_ok(sig: &[u8]) -> bool {
    // A DER ECDSA signature is at most 2 + 2 * (3 + 67) bytes for P-521.
    !sig.is_empty() && sig.len() <= 2 * 72
}

impl PublicKey {
    /// Parses a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let result = pem::decode(pem, &["PUBLIC KEY"]);
        let (_, der) = match result {
            Err(KeyError::UnknownPemLabel(label)) if label.contains("PRIVATE KEY") => {
                return Err(KeyError::UnsupportedKey(format!(
                    "expected a public key (`PUBLIC KEY`), found `{label}`"
                )));
            }
            other => other?,
        };
        Self::from_spki_der(&der)
    }

    /// Parses a PEM `PUBLIC KEY` block, or DER SubjectPublicKeyInfo if the
    /// input does not start with a PEM header.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self, KeyError> {
        if pem::looks_like_pem(input) {
            Self::from_pem(input)
        } else {
            Self::from_spki_der(input)
        }
    }

    /// Parses a DER-encoded SubjectPublicKeyInfo.
    ///
    /// Accepted: ECDSA P-256, P-384, P-521; RSA with 2048–8192-bit moduli;
    /// Ed25519.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        super::check_size(der)?;
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::malformed("SubjectPublicKeyInfo", e))?;
        let oid = spki.algorithm.oid;
        let key_bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
            KeyError::malformed(
                "SubjectPublicKeyInfo",
                "public key bit string has unused bits",
            )
        })?;
        if oid == OID_EC_PUBLIC_KEY {
            let curve_oid = spki
                .algorithm
                .parameters_oid()
                .map_err(|e| KeyError::malformed("EC public key parameters", e))?;
            match curve_from_oid(curve_oid)? {
                Curve::P256 => {
                    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map_err(|e| KeyError::malformed("P-256 public key point", e))?;
                    Self::from_p256(vk)
                }
                Curve::P384 => {
                    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map_err(|e| KeyError::malformed("P-384 public key point", e))?;
                    Self::from_p384(vk)
                }
                Curve::P521 => {
                    let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map_err(|e| KeyError::malformed("P-521 public key point", e))?;
                    Self::from_p521(vk)
                }
            }
        } else if oid == OID_RSA_ENCRYPTION {
            let pkcs1 = pkcs1::RsaPublicKeyRef::from_der(key_bytes)
                .map_err(|e| KeyError::malformed("RSA public key", e))?;
            let bits = bit_len(pkcs1.modulus.as_bytes());
            if !(MIN_RSA_PUBLIC_BITS..=MAX_RSA_PUBLIC_BITS).contains(&bits) {
                return Err(KeyError::RsaKeySize { bits });
            }
            let key = rsa::PublicKey::new(
                rsa::BoxedUint::from_be_slice_vartime(pkcs1.modulus.as_bytes()),
                rsa::BoxedUint::from_be_slice_vartime(pkcs1.public_exponent.as_bytes()),
            )
            .map_err(|e| KeyError::malformed("RSA public key", e))?;
            Self::from_rsa(key)
        } else if oid == OID_ED25519 {
            if spki.algorithm.parameters.is_some() {
                return Err(KeyError::malformed(
                    "Ed25519 public key",
                    "algorithm parameters must be absent",
                ));
            }
            let raw: [u8; 32] = key_bytes
                .try_into()
                .map_err(|_| KeyError::malformed("Ed25519 public key", "expected 32 bytes"))?;
            Self::from_ed25519(&raw)
        } else {
            Err(KeyError::UnsupportedKey(format!(
                "public key algorithm {oid} (supported: ECDSA, RSA, Ed25519)"
            )))
        }
    }

    pub(crate) fn from_p256(vk: p256::ecdsa::VerifyingKey) -> Result<Self, KeyError> {
        let (spki, point) = (vk.to_public_key_der(), vk.to_sec1_point(false));
        Self::from_ecdsa(
            spki,
            point.as_bytes(),
            KeyAlgorithm::EcdsaP256,
            Inner::P256(vk),
        )
    }

    pub(crate) fn from_p384(vk: p384::ecdsa::VerifyingKey) -> Result<Self, KeyError> {
        let (spki, point) = (vk.to_public_key_der(), vk.to_sec1_point(false));
        Self::from_ecdsa(
            spki,
            point.as_bytes(),
            KeyAlgorithm::EcdsaP384,
            Inner::P384(vk),
        )
    }

    pub(crate) fn from_p521(vk: p521::ecdsa::VerifyingKey) -> Result<Self, KeyError> {
        let (spki, point) = (vk.to_public_key_der(), vk.to_sec1_point(false));
        Self::from_ecdsa(
            spki,
            point.as_bytes(),
            KeyAlgorithm::EcdsaP521,
            Inner::P521(vk),
        )
    }

    /// An ECDSA key from its SPKI encoding and its uncompressed SEC1 point
    /// (the form `ring` verifies with), both computed by the curve's crate.
    fn from_ecdsa(
        spki_der: spki::Result<spki::Document>,
        uncompressed_point: &[u8],
        algorithm: KeyAlgorithm,
        inner: Inner,
    ) -> Result<Self, KeyError> {
        let spki_der = spki_der
            .map_err(|e| KeyError::encode("ECDSA public key", e))?
            .into_vec();
        Ok(Self {
            spki_der,
            ring_key: uncompressed_point.to_vec(),
            algorithm,
            inner,
        })
    }

    pub(crate) fn from_rsa(key: rsa::PublicKey) -> Result<Self, KeyError> {
        use rsa::traits::PublicKeyParts as _;
        let bits = bit_len(&key.n().to_be_bytes());
        let spki_der = key
            .to_public_key_der()
            .map_err(|e| KeyError::encode("RSA public key", e))?
            .into_vec();
        let spki = spki::SubjectPublicKeyInfoRef::from_der(&spki_der)
            .map_err(|e| KeyError::encode("RSA public key", e))?;
        let ring_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::encode("RSA public key", "bit string has unused bits"))?
            .to_vec();
        Ok(Self {
            spki_der,
            ring_key,
            algorithm: KeyAlgorithm::Rsa { bits },
            inner: Inner::Rsa(key),
        })
    }

    pub(crate) fn from_ed25519(raw: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map_err(|e| KeyError::malformed("Ed25519 public key", e))?;
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: OID_ED25519,
                parameters: None,
            },
            subject_public_key: spki::der::asn1::BitStringRef::from_bytes(raw)
                .map_err(|e| KeyError::encode("Ed25519 public key", e))?,
        };
        let spki_der = pkcs8::der::Encode::to_der(&spki)
            .map_err(|e| KeyError::encode("Ed25519 public key", e))?;
        Ok(Self {
            spki_der,
            ring_key: raw.to_vec(),
            algorithm: KeyAlgorithm::Ed25519,
            inner: Inner::Ed25519,
        })
    }

    /// The key as PEM `PUBLIC KEY`, 64-column base64, trailing newline:
    /// byte-identical to cosign's `cosign.pub`.
    pub fn to_pem(&self) -> String {
        // base64 of a few hundred bytes into a String cannot fail.
        pem::encode("PUBLIC KEY", &self.spki_der).unwrap_or_default()
    }

    /// The canonical DER-encoded SubjectPublicKeyInfo.
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

    fn invalid(&self) -> SignatureError {
        SignatureError::Invalid {
            algorithm: self.algorithm,
        }
    }

    fn malformed(&self, signature: &[u8]) -> SignatureError {
        SignatureError::Malformed {
            algorithm: self.algorithm,
            len: signature.len(),
        }
    }

    /// Verifies `signature` over `message` with cosign's conventions.
    ///
    /// - ECDSA: DER signature over SHA-256 of the message (cosign 2.x, every
    ///   curve); for P-384 and P-521 also over SHA-384 / SHA-512 (cosign 3.x).
    /// - RSA: PKCS#1 v1.5 with SHA-256.
    /// - Ed25519: pure Ed25519 over the whole message.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let ring_ok = |alg: &'static dyn rs::VerificationAlgorithm| {
            rs::UnparsedPublicKey::new(alg, &self.ring_key)
                .verify(message, signature)
                .is_ok()
        };
        match &self.inner {
            Inner::P256(_) => {
                if !ecdsa_der_len_ok(signature) {
                    return Err(self.malformed(signature));
                }
                if ring_ok(&rs::ECDSA_P256_SHA256_ASN1) {
                    return Ok(());
                }
                self.classify_ecdsa_failure(signature)
            }
            Inner::P384(_) => {
                if !ecdsa_der_len_ok(signature) {
                    return Err(self.malformed(signature));
                }
                if ring_ok(&rs::ECDSA_P384_SHA256_ASN1) || ring_ok(&rs::ECDSA_P384_SHA384_ASN1) {
                    return Ok(());
                }
                self.classify_ecdsa_failure(signature)
            }
            Inner::P521(_) => {
                let prehash = Prehash {
                    sha256: sha2::Sha256::digest(message).into(),
                    curve_hash: Some(sha2::Sha512::digest(message).to_vec()),
                };
                self.verify_prehashed(&prehash, signature)
            }
            Inner::Rsa(_) => {
                if signature.len() != self.ring_key_modulus_len() {
                    return Err(self.malformed(signature));
                }
                if ring_ok(&rs::RSA_PKCS1_2048_8192_SHA256) {
                    Ok(())
                } else {
                    Err(self.invalid())
                }
            }
            Inner::Ed25519 => {
                if signature.len() != 64 {
                    return Err(self.malformed(signature));
                }
                if ring_ok(&rs::ED25519) {
                    Ok(())
                } else {
                    Err(self.invalid())
                }
            }
        }
    }

    /// The RSA modulus length in bytes (0 for other key types).
    fn ring_key_modulus_len(&self) -> usize {
        match self.algorithm {
            KeyAlgorithm::Rsa { bits } => bits.div_ceil(8),
            _ => 0,
        }
    }

    /// After `ring` rejected an ECDSA signature: malformed DER or just wrong?
    fn classify_ecdsa_failure(&self, signature: &[u8]) -> Result<(), SignatureError> {
        let parses = match self.inner {
            Inner::P256(_) => p256::ecdsa::DerSignature::from_bytes(signature).is_ok(),
            Inner::P384(_) => p384::ecdsa::DerSignature::from_bytes(signature).is_ok(),
            _ => true,
        };
        if parses {
            Err(self.invalid())
        } else {
            Err(self.malformed(signature))
        }
    }

    /// Which curve hash a streaming verifier should compute besides SHA-256.
    pub(crate) fn curve_hash_kind(&self) -> CurveHash {
        match self.inner {
            Inner::P384(_) => CurveHash::Sha384,
            Inner::P521(_) => CurveHash::Sha512,
            _ => CurveHash::None,
        }
    }

    /// Whether this key signs whole messages (Ed25519) rather than digests.
    pub(crate) fn is_pure(&self) -> bool {
        matches!(self.inner, Inner::Ed25519)
    }

    /// Verifies a signature over a message given by its digests (ECDSA and
    /// RSA only; Ed25519 is pure and cannot verify a digest).
    pub(crate) fn verify_prehashed(
        &self,
        prehash: &Prehash,
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let mut candidates: Vec<&[u8]> = vec![&prehash.sha256];
        match &self.inner {
            Inner::P256(vk) => {
                let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| self.malformed(signature))?;
                if vk.verify_prehash(&prehash.sha256, &sig).is_ok() {
                    return Ok(());
                }
            }
            Inner::P384(vk) => {
                let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| self.malformed(signature))?;
                if let Some(h) = &prehash.curve_hash {
                    candidates.push(h);
                }
                if candidates
                    .iter()
                    .any(|h| vk.verify_prehash(h, &sig).is_ok())
                {
                    return Ok(());
                }
            }
            Inner::P521(vk) => {
                let sig = p521::ecdsa::DerSignature::from_bytes(signature)
                    .map_err(|_| self.malformed(signature))?;
                if let Some(h) = &prehash.curve_hash {
                    candidates.push(h);
                }
                if candidates
                    .iter()
                    .any(|h| vk.verify_prehash(h, &sig).is_ok())
                {
                    return Ok(());
                }
            }
            Inner::Rsa(key) => {
                if signature.len() != self.ring_key_modulus_len() {
                    return Err(self.malformed(signature));
                }
                let sig = rsa::pkcs1v15::Signature::try_from(signature)
                    .map_err(|_| self.malformed(signature))?;
                let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone());
                if vk.verify_prehash(&prehash.sha256, &sig).is_ok() {
                    return Ok(());
                }
            }
            Inner::Ed25519 => {
                return Err(SignatureError::UnsupportedForAlgorithm {
                    algorithm: self.algorithm,
                    operation: "verifying a prehashed message",
                });
            }
        }
        Err(self.invalid())
    }
}

/// The hash a streaming verifier computes besides SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CurveHash {
    None,
    Sha384,
    Sha512,
}
