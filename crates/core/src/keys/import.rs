//! Importing unencrypted PEM private keys, as `cosign import-key-pair` does.

use pkcs8::der::Decode as _;

use super::public::{Curve, bit_len, curve_from_oid};
use super::{KeyError, PrivateKey, pem};
use crate::keys::private::{MAX_RSA_PRIVATE_BITS, MIN_RSA_PRIVATE_BITS};

/// Every PEM label `import_pem` recognises (accepted or rejected by name).
const LABELS: &[&str] = &[
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "ENCRYPTED PRIVATE KEY",
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

pub(crate) fn import_pem(input: &[u8]) -> Result<PrivateKey, KeyError> {
    let (label, der) = pem::decode(input, LABELS)?;
    match label {
        "RSA PRIVATE KEY" => rsa_from_pkcs1(&der),
        "EC PRIVATE KEY" => sec1_key(&der, None),
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&der).map_err(|e| match e {
            KeyError::NotPkcs8 { source } => KeyError::Malformed {
                what: "PKCS#8 private key",
                source,
            },
            other => other,
        }),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(KeyError::PublicKeyGiven),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::UnsupportedKey(
            "password-protected PKCS#8 (`ENCRYPTED PRIVATE KEY`); decrypt it first, e.g. \
             `openssl pkcs8 -in KEY -out PLAIN`"
                .to_owned(),
        )),
        _ => Err(KeyError::UnsupportedKey(format!(
            "`{label}` is already cosign's encrypted format; use it as it is"
        ))),
    }
}

/// A SEC1 `ECPrivateKey`; `curve` comes from the PKCS#8 wrapper when there is one.
pub(crate) fn sec1_key(der: &[u8], curve: Option<Curve>) -> Result<PrivateKey, KeyError> {
    let ec = sec1::EcPrivateKey::from_der(der)
        .map_err(|e| KeyError::malformed("SEC1 EC private key", e))?;
    let inner_curve = match ec.parameters.and_then(|p| p.named_curve()) {
        Some(oid) => Some(curve_from_oid(oid)?),
        None => None,
    };
    let curve = match (curve, inner_curve) {
        (Some(outer), Some(inner)) if outer != inner => {
            return Err(KeyError::malformed(
                "EC private key",
                "curve in PKCS#8 algorithm differs from curve in ECPrivateKey",
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(KeyError::UnsupportedCurve(
                "unnamed (EC PRIVATE KEY without a named curve)".to_owned(),
            ));
        }
    };
    PrivateKey::from_ec_secret_bytes(curve, ec.private_key)
}

/// A PKCS#1 `RSAPrivateKey`, size-checked before the expensive validation.
pub(crate) fn rsa_from_pkcs1(der: &[u8]) -> Result<PrivateKey, KeyError> {
    let parsed = pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|e| KeyError::malformed("PKCS#1 RSA private key", e))?;
    let bits = bit_len(parsed.modulus.as_bytes());
    if !(MIN_RSA_PRIVATE_BITS..=MAX_RSA_PRIVATE_BITS).contains(&bits) {
        return Err(KeyError::RsaKeySize { bits });
    }
    if parsed.other_prime_infos.is_some() {
        return Err(KeyError::UnsupportedKey(
            "multi-prime RSA keys are not supported".to_owned(),
        ));
    }
    let key = pkcs1::DecodeRsaPrivateKey::from_pkcs1_der(der)
        .map_err(|e| KeyError::malformed("PKCS#1 RSA private key", e))?;
    PrivateKey::from_rsa(key)
}
