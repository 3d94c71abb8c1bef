//! Key generation, cosign's encrypted format written by rsign, signing and
//! verification per key type, and hostile input.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsign_core::keys::{
    KeyAlgorithm, KeyError, KeyId, Password, PrivateKey, PublicKey, SignatureError,
};
use sha2::Digest as _;

fn read(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn pw(s: &str) -> Password {
    Password::new(s.as_bytes().to_vec())
}

/// One key of every supported type.
fn keys() -> Vec<PrivateKey> {
    let mut keys = vec![PrivateKey::generate_p256().unwrap()];
    for file in [
        "validecp384.key",
        "validecp521.key",
        "validrsapkcs1.key",
        "ed25519.key",
    ] {
        keys.push(
            PrivateKey::import_pem(&read(&format!("cosign/import-key-pair/{file}"))).unwrap(),
        );
    }
    let rsa4096 = read("sigstore-rs/keys/rsa_private.key");
    keys.push(PrivateKey::import_pem(&rsa4096).unwrap());
    keys
}

/// A cosign key file with a modified JSON body.
fn cosign_file(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v = serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1},
                "salt": STANDARD.encode([9u8; 32])},
        "cipher": {"name": "nacl/secretbox", "nonce": STANDARD.encode([3u8; 24])},
        "ciphertext": STANDARD.encode([0u8; 80]),
    });
    edit(&mut v);
    pem_wrap("ENCRYPTED SIGSTORE PRIVATE KEY", v.to_string().as_bytes())
}

fn pem_wrap(label: &str, body: &[u8]) -> Vec<u8> {
    let b64 = STANDARD.encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

fn load_err(input: &[u8]) -> KeyError {
    PrivateKey::from_cosign_pem(input, &pw("hello")).unwrap_err()
}

#[test]
fn generate_encrypt_decrypt_round_trip() {
    let key = PrivateKey::generate_p256().unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    let password = pw("correct horse");
    let start = Instant::now();
    let pem = key.to_cosign_pem(&password).unwrap();
    eprintln!("encrypt (scrypt N=2^16) took {:?}", start.elapsed());
    let start = Instant::now();
    let back = PrivateKey::from_cosign_pem(pem.as_bytes(), &password).unwrap();
    eprintln!("decrypt (scrypt N=2^16) took {:?}", start.elapsed());
    assert_eq!(back.public_key(), key.public_key());
    let msg = b"round trip";
    key.public_key()
        .verify(msg, &back.sign(msg).unwrap())
        .unwrap();
    let err = PrivateKey::from_cosign_pem(pem.as_bytes(), &pw("correct horsE")).unwrap_err();
    assert!(matches!(err, KeyError::WrongPassword));
}

#[test]
fn written_key_file_has_cosign_structure() {
    let key = PrivateKey::generate_p256().unwrap();
    let pem = key.to_cosign_pem(&Password::empty()).unwrap();
    let lines: Vec<&str> = pem.lines().collect();
    assert_eq!(lines[0], "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----");
    assert_eq!(
        *lines.last().unwrap(),
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"
    );
    assert!(pem.ends_with("-----\n"));
    let body: Vec<&str> = lines[1..lines.len() - 1].to_vec();
    assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
    assert!(body.last().unwrap().len() <= 64);
    let json = STANDARD.decode(body.concat()).unwrap();
    let text = String::from_utf8(json.clone()).unwrap();
    // Key order and shape as cosign writes it.
    assert!(
        text.starts_with(r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":""#),
        "{text}"
    );
    assert!(
        text.contains(r#""},"cipher":{"name":"nacl/secretbox","nonce":""#),
        "{text}"
    );
    assert!(text.contains(r#""},"ciphertext":""#), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        STANDARD
            .decode(v["kdf"]["salt"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        STANDARD
            .decode(v["cipher"]["nonce"].as_str().unwrap())
            .unwrap()
            .len(),
        24
    );
    // PKCS#8 P-256 (138 bytes) plus the 16-byte tag.
    assert_eq!(
        STANDARD
            .decode(v["ciphertext"].as_str().unwrap())
            .unwrap()
            .len(),
        138 + 16
    );
    // Empty password round trip.
    let back = PrivateKey::from_cosign_pem(pem.as_bytes(), &Password::empty()).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    // Fresh salt and nonce every time.
    let again = key.to_cosign_pem(&Password::empty()).unwrap();
    assert_ne!(*pem, *again);
}

#[test]
fn pkcs8_written_for_each_type_round_trips() {
    for key in keys() {
        let der = key.to_pkcs8_der().unwrap();
        let back = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.public_key(), key.public_key(), "{}", key.algorithm());
        // cosign writes PKCS#8 v1: version 0, no public key in the wrapper.
        assert_eq!(&der[..2], &[0x30, der[1]]);
        let version_at = if der[1] & 0x80 != 0 {
            2 + (der[1] & 0x7f) as usize
        } else {
            2
        };
        assert_eq!(
            &der[version_at..version_at + 3],
            &[0x02, 0x01, 0x00],
            "{}",
            key.algorithm()
        );
    }
    // Ed25519 v1 is exactly 48 bytes (no public key).
    let ed = PrivateKey::import_pem(&read("cosign/import-key-pair/ed25519.key")).unwrap();
    assert_eq!(ed.to_pkcs8_der().unwrap().len(), 48);
}

#[test]
fn sign_verify_and_tamper_for_each_key_type() {
    let keys = keys();
    let algorithms: Vec<KeyAlgorithm> = keys.iter().map(|k| k.algorithm()).collect();
    assert_eq!(
        algorithms,
        [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::EcdsaP521,
            KeyAlgorithm::Rsa { bits: 2048 },
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa { bits: 4096 },
        ]
    );
    let msg = b"{\"critical\":{}}";
    for key in &keys {
        let alg = key.algorithm();
        let public = key.public_key();
        let sig = key.sign(msg).unwrap();
        public
            .verify(msg, &sig)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        // Deterministic (RFC 6979 / PKCS#1 v1.5 / Ed25519).
        assert_eq!(key.sign(msg).unwrap(), sig, "{alg}");

        let err = public.verify(b"{\"critical\":{ }", &sig).unwrap_err();
        assert!(
            matches!(err, SignatureError::Invalid { .. }),
            "{alg}: {err:?}"
        );

        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert!(public.verify(msg, &bad).is_err(), "{alg}");
        assert!(public.verify(msg, &[]).is_err(), "{alg}");
        assert!(public.verify(msg, &sig[..sig.len() - 1]).is_err(), "{alg}");

        for other in &keys {
            if other.public_key() != public {
                assert!(
                    other.public_key().verify(msg, &sig).is_err(),
                    "{alg} vs {}",
                    other.algorithm()
                );
            }
        }
    }
}

#[test]
fn ecdsa_signs_sha256_for_every_curve_and_accepts_curve_hash() {
    use ecdsa::signature::hazmat::PrehashSigner as _;
    let msg = b"curve hash compatibility";
    let sha256 = sha2::Sha256::digest(msg);

    // P-384: our signature is over SHA-256 (cosign 2.x), checked with the
    // p384 crate directly; a SHA-384 signature (cosign 3.x) also verifies.
    let p384_pem = read("cosign/import-key-pair/validecp384.key");
    let key = PrivateKey::import_pem(&p384_pem).unwrap();
    let sk = p384::SecretKey::from_sec1_pem(std::str::from_utf8(&p384_pem).unwrap()).unwrap();
    let sk = p384::ecdsa::SigningKey::from(sk);
    let ours: p384::ecdsa::DerSignature = sk.sign_prehash(&sha256).unwrap();
    assert_eq!(key.sign(msg).unwrap(), ours.as_bytes());
    let sha384_sig: p384::ecdsa::DerSignature =
        sk.sign_prehash(&sha2::Sha384::digest(msg)).unwrap();
    key.public_key().verify(msg, sha384_sig.as_bytes()).unwrap();
    rsign_core::blob::verify_blob(&key.public_key(), &msg[..], sha384_sig.as_bytes()).unwrap();
    // A SHA-512 signature is not accepted for P-384.
    let sha512_sig: p384::ecdsa::DerSignature =
        sk.sign_prehash(&sha2::Sha512::digest(msg)[..48]).unwrap();
    assert!(key.public_key().verify(msg, sha512_sig.as_bytes()).is_err());

    // P-521 likewise with SHA-512.
    let p521_pem = read("cosign/import-key-pair/validecp521.key");
    let key = PrivateKey::import_pem(&p521_pem).unwrap();
    let sk = p521::SecretKey::from_sec1_pem(std::str::from_utf8(&p521_pem).unwrap()).unwrap();
    let sk = p521::ecdsa::SigningKey::from(sk);
    let ours: p521::ecdsa::DerSignature = sk.sign_prehash(&sha256).unwrap();
    assert_eq!(key.sign(msg).unwrap(), ours.as_bytes());
    let sha512_sig: p521::ecdsa::DerSignature =
        sk.sign_prehash(&sha2::Sha512::digest(msg)).unwrap();
    key.public_key().verify(msg, sha512_sig.as_bytes()).unwrap();
    rsign_core::blob::verify_blob(&key.public_key(), &msg[..], sha512_sig.as_bytes()).unwrap();
}

#[test]
fn key_id_is_sha256_of_spki() {
    let key = PrivateKey::generate_p256().unwrap().public_key();
    let id = key.key_id();
    assert_eq!(
        id.as_bytes().as_slice(),
        sha2::Sha256::digest(key.spki_der()).as_slice()
    );
    assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
    assert!(id.to_string().starts_with(&id.short()));
    assert_eq!(id.short().len(), 16);
}

#[test]
fn private_key_debug_is_redacted() {
    let key = PrivateKey::import_pem(&read("cosign/import-key-pair/validecp256.key")).unwrap();
    let text = format!("{key:?}");
    assert!(text.contains("<redacted>"), "{text}");
    assert!(text.contains(&key.public_key().key_id().to_string()));
    let der = key.to_pkcs8_der().unwrap();
    // No piece of the secret (hex or decimal bytes) shows up.
    assert!(!text.contains(&hex::encode(&der[36..52])));
    assert!(format!("{:?}", pw("s3cret")).contains("<redacted>"));
    assert!(!format!("{:?}", pw("s3cret")).contains("s3cret"));
}

#[test]
fn huge_scrypt_cost_is_rejected_fast() {
    let start = Instant::now();
    let input = cosign_file(|v| v["kdf"]["params"]["N"] = (1u64 << 30).into());
    let err = load_err(&input);
    assert!(
        matches!(err, KeyError::UnsupportedKdfParams { n, r: 8, p: 1 } if n == 1 << 30),
        "{err:?}"
    );
    // N=2^20 (cosign never writes it, 1 GiB of memory) is also refused.
    let err = load_err(&cosign_file(|v| {
        v["kdf"]["params"]["N"] = (1u64 << 20).into()
    }));
    assert!(
        matches!(err, KeyError::UnsupportedKdfParams { .. }),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["kdf"]["params"]["N"] = 32767.into()));
    assert!(
        matches!(err, KeyError::UnsupportedKdfParams { .. }),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn hostile_cosign_key_files_get_specific_errors() {
    let start = Instant::now();
    let err = load_err(&cosign_file(|v| {
        v["cipher"]["nonce"] = STANDARD.encode([1u8; 16]).into()
    }));
    assert!(
        matches!(err, KeyError::BadNonceLength { len: 16 }),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["cipher"]["nonce"] = "".into()));
    assert!(
        matches!(err, KeyError::BadNonceLength { len: 0 }),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["kdf"]["salt"] = "".into()));
    assert!(matches!(err, KeyError::BadSaltLength { len: 0 }), "{err:?}");
    let err = load_err(&cosign_file(|v| v["kdf"]["salt"] = "not base64!".into()));
    assert!(
        matches!(err, KeyError::Malformed { what, .. } if what.contains("salt")),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["ciphertext"] = "%%%".into()));
    assert!(
        matches!(err, KeyError::Malformed { what, .. } if what.contains("ciphertext")),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["kdf"]["name"] = "argon2id".into()));
    assert!(
        matches!(&err, KeyError::UnsupportedKdf(n) if n == "argon2id"),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["cipher"]["name"] = "aes-gcm".into()));
    assert!(
        matches!(&err, KeyError::UnsupportedCipher(n) if n == "aes-gcm"),
        "{err:?}"
    );
    let err = load_err(&cosign_file(|v| v["extra"] = 1.into()));
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    let err = load_err(&cosign_file(|v| v["kdf"]["params"]["N"] = (-1).into()));
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    // JSON garbage inside a well-formed PEM block.
    let err = load_err(&pem_wrap(
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        b"{\"kdf\": [1, 2",
    ));
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    let err = load_err(&pem_wrap(
        "ENCRYPTED COSIGN PRIVATE KEY",
        &[0xff, 0x00, 0x13],
    ));
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    // Ciphertext shorter than the tag.
    let err = load_err(&cosign_file(|v| {
        v["ciphertext"] = STANDARD.encode([0u8; 8]).into()
    }));
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A well-formed file with a bad tag: scrypt runs, then the box refuses.
    let err = load_err(&cosign_file(|_| {}));
    assert!(matches!(err, KeyError::WrongPassword), "{err:?}");
}

#[test]
fn broken_pem_framing_and_labels() {
    let good = read("cosign/encrypted-keys/pemsigstorekey.key");
    let text = String::from_utf8(good.clone()).unwrap();

    let truncated = &good[..good.len() / 2];
    assert!(matches!(load_err(truncated), KeyError::NotPem { .. }));
    let no_footer = text.replace("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----", "");
    assert!(matches!(
        load_err(no_footer.as_bytes()),
        KeyError::NotPem { .. }
    ));
    let garbled = text.replacen("eyJrZGYi", "ey!rZGYi", 1);
    assert!(matches!(
        load_err(garbled.as_bytes()),
        KeyError::NotPem { .. }
    ));
    assert!(matches!(load_err(b"hello"), KeyError::NotPem { .. }));
    assert!(matches!(load_err(b""), KeyError::NotPem { .. }));

    let relabelled = text.replace(
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "ENCRYPTED FOO PRIVATE KEY",
    );
    let err = load_err(relabelled.as_bytes());
    assert!(
        matches!(&err, KeyError::UnknownPemLabel(l) if l == "ENCRYPTED FOO PRIVATE KEY"),
        "{err:?}"
    );
    let public = read("sigstore-rs/simple-signing/rsa/cosign.pub");
    assert!(matches!(load_err(&public), KeyError::PublicKeyGiven));
    assert!(matches!(
        PrivateKey::import_pem(&public),
        Err(KeyError::PublicKeyGiven)
    ));
    assert!(matches!(
        PublicKey::from_pem(&good),
        Err(KeyError::UnsupportedKey(_))
    ));
    let err =
        PublicKey::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
    assert!(
        matches!(&err, KeyError::UnknownPemLabel(l) if l == "CERTIFICATE"),
        "{err:?}"
    );
    let err = PrivateKey::import_pem(&good).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedKey(_)), "{err:?}");
    let err = PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
}

#[test]
fn oversized_input_is_rejected_by_size_fast() {
    let garbage = vec![b'A'; 100 * 1024 * 1024];
    let start = Instant::now();
    assert!(matches!(load_err(&garbage), KeyError::TooLarge { size, .. } if size == garbage.len()));
    assert!(matches!(
        PrivateKey::import_pem(&garbage),
        Err(KeyError::TooLarge { .. })
    ));
    assert!(matches!(
        PublicKey::from_pem(&garbage),
        Err(KeyError::TooLarge { .. })
    ));
    assert!(matches!(
        PublicKey::from_spki_der(&garbage),
        Err(KeyError::TooLarge { .. })
    ));
    assert!(matches!(
        PrivateKey::from_pkcs8_der(&garbage),
        Err(KeyError::TooLarge { .. })
    ));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
