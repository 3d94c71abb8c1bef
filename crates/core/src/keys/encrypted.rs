//! cosign's encrypted private key format.
//!
//! A PEM block labelled `ENCRYPTED SIGSTORE PRIVATE KEY` (legacy:
//! `ENCRYPTED COSIGN PRIVATE KEY`) whose body is this JSON:
//!
//! ```json
//! {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<base64, 32 bytes>"},
//!  "cipher":{"name":"nacl/secretbox","nonce":"<base64, 24 bytes>"},
//!  "ciphertext":"<base64>"}
//! ```
//!
//! The ciphertext is NaCl secretbox (XSalsa20-Poly1305) of the PKCS#8 DER
//! private key under `scrypt(password, salt, N, r, p)` (32 bytes).
//!
//! Reading checks every parameter before any expensive work: only the
//! scrypt costs cosign writes (N = 2^15, 2^16 or 2^17, r = 8, p = 1) are
//! accepted, so a crafted file cannot make rsign allocate gigabytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{AeadInPlace as _, KeyInit as _};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::NoStdError;
use super::{KeyError, Password, pem};

/// The PEM label cosign writes.
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label older cosign versions wrote; still read.
pub const LEGACY_COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt cost written by rsign and cosign: N = 2^16.
const WRITE_LOG_N: u8 = 16;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedKeyFile {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u64,
    p: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cipher {
    name: String,
    nonce: String,
}

/// log2(N) for the scrypt parameters cosign writes, or an error naming them.
fn accepted_log_n(params: &ScryptParams) -> Result<u8, KeyError> {
    let log_n = match params.n {
        32_768 => 15,
        65_536 => 16,
        131_072 => 17,
        _ => 0,
    };
    if log_n == 0 || params.r != u64::from(SCRYPT_R) || params.p != u64::from(SCRYPT_P) {
        return Err(KeyError::UnsupportedKdfParams {
            n: params.n,
            r: params.r,
            p: params.p,
        });
    }
    Ok(log_n)
}

fn derive_key(
    password: &Password,
    salt: &[u8],
    log_n: u8,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P)
        .map_err(|e| KeyError::malformed("scrypt parameters", e))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), salt, &params, key.as_mut_slice())
        .map_err(|e| KeyError::malformed("scrypt output length", e))?;
    Ok(key)
}

fn b64(what: &'static str, text: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD
        .decode(text)
        .map_err(|e| KeyError::malformed(what, e))
}

/// Decrypts a cosign encrypted key file to its PKCS#8 DER plaintext.
pub(crate) fn decrypt(input: &[u8], password: &Password) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let decoded = pem::decode(
        input,
        &[
            SIGSTORE_LABEL,
            LEGACY_COSIGN_LABEL,
            "PRIVATE KEY",
            "EC PRIVATE KEY",
            "RSA PRIVATE KEY",
            "PUBLIC KEY",
        ],
    )?;
    let (label, body) = decoded;
    match label {
        SIGSTORE_LABEL | LEGACY_COSIGN_LABEL => {}
        "PUBLIC KEY" => return Err(KeyError::PublicKeyGiven),
        other => {
            return Err(KeyError::NotEncrypted {
                label: other.to_owned(),
            });
        }
    }
    let file: EncryptedKeyFile = serde_json::from_slice(&body)
        .map_err(|e| KeyError::malformed("cosign encrypted key JSON", e))?;

    // Every check happens before scrypt runs or anything is allocated for it.
    if file.kdf.name != KDF_NAME {
        return Err(KeyError::UnsupportedKdf(truncate(&file.kdf.name)));
    }
    let log_n = accepted_log_n(&file.kdf.params)?;
    if file.cipher.name != CIPHER_NAME {
        return Err(KeyError::UnsupportedCipher(truncate(&file.cipher.name)));
    }
    let salt = b64("scrypt salt (base64)", &file.kdf.salt)?;
    if !(16..=64).contains(&salt.len()) {
        return Err(KeyError::BadSaltLength { len: salt.len() });
    }
    let nonce = b64("secretbox nonce (base64)", &file.cipher.nonce)?;
    if nonce.len() != NONCE_LEN {
        return Err(KeyError::BadNonceLength { len: nonce.len() });
    }
    let mut buffer = Zeroizing::new(b64("ciphertext (base64)", &file.ciphertext)?);
    if buffer.len() < TAG_LEN {
        return Err(KeyError::malformed(
            "ciphertext",
            format!(
                "{} bytes is shorter than the 16-byte authentication tag",
                buffer.len()
            ),
        ));
    }

    let key = derive_key(password, &salt, log_n)?;
    let cipher = XSalsa20Poly1305::new_from_slice(key.as_slice())
        .map_err(|e| KeyError::malformed("secretbox key", NoStdError(e)))?;
    // Length checked above: `from_slice` cannot assert.
    let nonce = Nonce::from_slice(&nonce);
    cipher
        .decrypt_in_place(nonce, b"", &mut *buffer)
        .map_err(|_| KeyError::WrongPassword)?;
    Ok(buffer)
}

/// Encrypts PKCS#8 DER into cosign's format with fresh salt and nonce.
pub(crate) fn encrypt(
    pkcs8_der: &[u8],
    password: &Password,
) -> Result<Zeroizing<String>, KeyError> {
    let random = |buf: &mut [u8]| {
        getrandom::fill(buf).map_err(|e| KeyError::Random {
            source: NoStdError(e).into(),
        })
    };
    let mut salt = [0u8; SALT_LEN];
    random(&mut salt)?;
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;

    let key = derive_key(password, &salt, WRITE_LOG_N)?;
    let cipher = XSalsa20Poly1305::new_from_slice(key.as_slice())
        .map_err(|e| KeyError::encode("secretbox key", NoStdError(e)))?;
    // Reserve room for the tag so the plaintext is never reallocated (and
    // left behind un-zeroized).
    let mut buffer = Zeroizing::new(Vec::with_capacity(pkcs8_der.len() + TAG_LEN));
    buffer.extend_from_slice(pkcs8_der);
    cipher
        .encrypt_in_place(Nonce::from_slice(&nonce), b"", &mut *buffer)
        .map_err(|e| KeyError::encode("secretbox ciphertext", NoStdError(e)))?;

    let file = EncryptedKeyFile {
        kdf: Kdf {
            name: KDF_NAME.to_owned(),
            params: ScryptParams {
                n: 1 << WRITE_LOG_N,
                r: u64::from(SCRYPT_R),
                p: u64::from(SCRYPT_P),
            },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.to_owned(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(&*buffer),
    };
    let json = serde_json::to_vec(&file).map_err(|e| KeyError::encode("cosign key JSON", e))?;
    Ok(Zeroizing::new(pem::encode(SIGSTORE_LABEL, &json)?))
}

/// A name from an untrusted file, cut short for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(n: u64, r: u64, p: u64, nonce_len: usize) -> Vec<u8> {
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p},
                    "salt": STANDARD.encode([7u8; 32])},
            "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode(vec![1u8; nonce_len])},
            "ciphertext": STANDARD.encode([0u8; 64]),
        });
        pem::encode(SIGSTORE_LABEL, json.to_string().as_bytes())
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn huge_scrypt_cost_rejected_before_work() {
        let start = std::time::Instant::now();
        let err = decrypt(&file_with(1 << 30, 8, 1, 24), &Password::empty()).unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedKdfParams { n, r: 8, p: 1 } if n == 1 << 30));
        let err = decrypt(&file_with(65536, 1024, 1, 24), &Password::empty()).unwrap_err();
        assert!(matches!(
            err,
            KeyError::UnsupportedKdfParams { r: 1024, .. }
        ));
        let err = decrypt(&file_with(65536, 8, 16, 24), &Password::empty()).unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedKdfParams { p: 16, .. }));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_nonce_length_rejected_without_panic() {
        for len in [0, 12, 23, 25, 48] {
            let err = decrypt(&file_with(32768, 8, 1, len), &Password::empty()).unwrap_err();
            assert!(
                matches!(err, KeyError::BadNonceLength { len: l } if l == len),
                "{len}"
            );
        }
    }

    #[test]
    fn encrypt_decrypt_round_trip_and_wrong_password() {
        let pw = Password::new(b"pw".to_vec());
        let pem_text = encrypt(b"secret der bytes", &pw).unwrap();
        assert!(pem_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert_eq!(
            decrypt(pem_text.as_bytes(), &pw).unwrap().as_slice(),
            b"secret der bytes"
        );
        let err = decrypt(pem_text.as_bytes(), &Password::new(b"px".to_vec())).unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword));
    }
}
