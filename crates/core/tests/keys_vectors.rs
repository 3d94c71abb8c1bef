//! Key vectors made by the real tools (cosign, sigstore-rs, the DSSE spec):
//! every case must load to the expected public key or fail with the
//! expected error variant. Data lives in `keys-testdata/` (see ORIGIN.md).

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use rsign_core::keys::{KeyAlgorithm, KeyError, Password, PrivateKey, PublicKey, SignatureError};
use serde_json::Value;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

fn pw(s: &str) -> Password {
    Password::new(s.as_bytes().to_vec())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key} in {v}"))
}

/// The algorithm a `key_type` string of the vectors' expected.json names.
fn algorithm_of(key_type: &str) -> KeyAlgorithm {
    match key_type {
        "ECDSA secp256r1" => KeyAlgorithm::EcdsaP256,
        "ECDSA secp384r1" => KeyAlgorithm::EcdsaP384,
        "ECDSA secp521r1" => KeyAlgorithm::EcdsaP521,
        "Ed25519" => KeyAlgorithm::Ed25519,
        other => {
            let bits = other
                .strip_prefix("RSA ")
                .and_then(|b| b.parse().ok())
                .unwrap_or_else(|| panic!("unknown key_type {other}"));
            KeyAlgorithm::Rsa { bits }
        }
    }
}

fn assert_public(key: &PrivateKey, case: &Value) {
    let expected = str_of(case, "derived_public_key_pem");
    let public = key.public_key();
    // to_pem must be byte-identical to the PEM cosign (Go) writes.
    assert_eq!(public.to_pem(), expected, "public key of {}", case["file"]);
    assert_eq!(
        public,
        PublicKey::from_pem(expected.as_bytes()).unwrap(),
        "{}",
        case["file"]
    );
    assert_eq!(key.algorithm(), algorithm_of(str_of(case, "key_type")));
}

#[test]
fn cosign_encrypted_keys_load_or_reject() {
    let expected = json("cosign/encrypted-keys/expected.json");
    let keys = expected["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for case in keys {
        let file = str_of(case, "file");
        let pem = read(&format!("cosign/encrypted-keys/{file}"));
        let result = PrivateKey::from_cosign_pem(&pem, &pw(str_of(case, "password")));
        if str_of(case, "cosign_LoadPrivateKey_with_password_hello") == "ok" {
            let key = result.unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_public(&key, case);
        } else {
            // pemcosigneckey: the plaintext is SEC1, cosign accepts only PKCS#8.
            assert!(
                matches!(result, Err(KeyError::NotPkcs8 { .. })),
                "{file}: {result:?}"
            );
        }
    }
}

#[test]
fn cosign_encrypted_key_wrong_password() {
    let pem = read("cosign/encrypted-keys/pemsigstorekey.key");
    for wrong in ["", "hello ", "Hello", "hellohello"] {
        let err = PrivateKey::from_cosign_pem(&pem, &pw(wrong)).unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword), "{wrong:?}: {err:?}");
        assert_eq!(err.to_string(), "wrong password or corrupted key");
    }
}

/// The rsign error variant that corresponds to cosign's error text.
fn assert_import_error(file: &str, cosign_error: &str, err: &KeyError) {
    let ok = if cosign_error.contains("P-224 not allowed") {
        matches!(err, KeyError::UnsupportedCurve(c) if c.contains("P-224"))
    } else if cosign_error == "error parsing ecdsa private key" {
        matches!(err, KeyError::UnsupportedCurve(c) if c.contains("secp256k1"))
    } else if cosign_error == "invalid pem block" {
        matches!(err, KeyError::UnknownPemLabel(l) if l == "PGP PRIVATE KEY BLOCK")
    } else if let Some(bits) =
        cosign_error.strip_prefix("error validating rsa key: key size not supported: ")
    {
        let bits: usize = bits.parse().unwrap();
        matches!(err, KeyError::RsaKeySize { bits: b } if *b == bits)
    } else if cosign_error == "unsupported private key" {
        matches!(err, KeyError::PublicKeyGiven)
    } else {
        panic!("{file}: no mapping for cosign error {cosign_error:?}")
    };
    assert!(
        ok,
        "{file}: cosign says {cosign_error:?}, rsign said {err:?}"
    );
}

#[test]
fn cosign_import_key_pair_cases() {
    let expected = json("cosign/import-key-pair/expected.json");
    let cases = expected["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    let mut ok = 0;
    for case in cases {
        let file = str_of(case, "file");
        let result = PrivateKey::import_pem(&read(&format!("cosign/import-key-pair/{file}")));
        match str_of(case, "expect") {
            "ok" => {
                let key = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_public(&key, case);
                ok += 1;
            }
            "error" => {
                let err = result.expect_err(file);
                assert_import_error(file, str_of(case, "cosign_error"), &err);
            }
            other => panic!("{file}: unknown expectation {other}"),
        }
    }
    assert_eq!(ok, 8);
}

#[test]
fn cosign_imported_keys_survive_encryption_with_hello() {
    // What `import-key-pair` writes must load again with the same password
    // (one key of each type; the scrypt cost makes every case slow in debug).
    for file in [
        "validrsapkcs1.key",
        "validecp384.key",
        "validecp521.key",
        "ed25519.key",
    ] {
        let key = PrivateKey::import_pem(&read(&format!("cosign/import-key-pair/{file}"))).unwrap();
        let pem = key.to_cosign_pem(&pw("hello")).unwrap();
        let back = PrivateKey::from_cosign_pem(pem.as_bytes(), &pw("hello")).unwrap();
        assert_eq!(back.public_key(), key.public_key(), "{file}");
        assert_eq!(
            back.to_pkcs8_der().unwrap(),
            key.to_pkcs8_der().unwrap(),
            "{file}"
        );
    }
}

#[test]
fn sigstore_rs_encrypted_keys() {
    let expected = json("sigstore-rs/keys/expected.json");
    let cases = expected["encrypted"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let file = str_of(case, "file");
        let pem = read(&format!("sigstore-rs/keys/{file}"));
        let key = PrivateKey::from_cosign_pem(&pem, &pw(str_of(case, "password")))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_public(&key, case);
    }
}

#[test]
fn sigstore_rs_empty_password_key_rejects_other_passwords() {
    let pem = read("sigstore-rs/keys/cosign_generated_encrypted_empty_private.key");
    let err = PrivateKey::from_cosign_pem(&pem, &pw("123")).unwrap_err();
    assert!(matches!(err, KeyError::WrongPassword), "{err:?}");
}

#[test]
fn sigstore_rs_unencrypted_keys_import_but_are_not_cosign_keys() {
    let expected = json("sigstore-rs/keys/expected.json");
    let cases = expected["unencrypted"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let file = str_of(case, "file");
        let pem = read(&format!("sigstore-rs/keys/{file}"));
        let key = PrivateKey::import_pem(&pem).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_public(&key, case);
        let err = PrivateKey::from_cosign_pem(&pem, &Password::empty()).unwrap_err();
        assert!(
            matches!(err, KeyError::NotEncrypted { .. }),
            "{file}: {err:?}"
        );
    }
}

#[test]
fn sigstore_rs_key_pair_import_containers() {
    let expected = json("sigstore-rs/key_pair_import/expected.json");
    let dir = "sigstore-rs/key_pair_import";
    for case in expected["private"].as_array().unwrap() {
        let file = str_of(case, "file");
        let bytes = read(&format!("{dir}/{file}"));
        let key = if case.get("password").is_some() {
            PrivateKey::from_cosign_pem(&bytes, &pw(str_of(case, "password")))
        } else if file.contains("_DER") {
            PrivateKey::from_pkcs8_der(&bytes)
        } else {
            PrivateKey::import_pem(&bytes)
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_public(&key, case);
    }
    let publics = expected["public_keys_normalised_pem"].as_object().unwrap();
    assert_eq!(publics.len(), 2);
    for (file, pem) in publics {
        let bytes = read(&format!("{dir}/{file}"));
        let key = if file.contains("_DER") {
            PublicKey::from_spki_der(&bytes)
        } else {
            PublicKey::from_pem(&bytes)
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.to_pem(), pem.as_str().unwrap(), "{file}");
        assert_eq!(PublicKey::from_pem_or_der(&bytes).unwrap(), key);
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    }
}

fn simple_signing_case(dir: &str) -> (PublicKey, Vec<u8>, Vec<u8>) {
    let key = PublicKey::from_pem(&read(&format!("{dir}/cosign.pub"))).unwrap();
    let payload = read(&format!("{dir}/payload.json"));
    let sig = rsign_core::blob::decode_signature(&read(&format!("{dir}/signature.sig"))).unwrap();
    (key, payload, sig)
}

#[test]
fn sigstore_rs_simple_signing_signatures_verify() {
    for (dir, alg) in [
        (
            "sigstore-rs/simple-signing/ecdsa-p256",
            KeyAlgorithm::EcdsaP256,
        ),
        (
            "sigstore-rs/simple-signing/rsa",
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
    ] {
        let (key, payload, sig) = simple_signing_case(dir);
        assert_eq!(key.algorithm(), alg);
        key.verify(&payload, &sig)
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        // The streaming (prehash) path agrees.
        rsign_core::blob::verify_blob(&key, &payload[..], &sig).unwrap();

        let mut altered = payload.clone();
        altered[20] ^= 1;
        let err = key.verify(&altered, &sig).unwrap_err();
        assert!(
            matches!(err, SignatureError::Invalid { .. }),
            "{dir}: {err:?}"
        );
        let mut appended = payload.clone();
        appended.push(b'\n');
        assert!(key.verify(&appended, &sig).is_err(), "{dir}");
    }
}

#[test]
fn sigstore_rs_simple_signing_wrong_key_fails() {
    let dir = "sigstore-rs/simple-signing/ecdsa-p256";
    let (_, payload, sig) = simple_signing_case(dir);
    let wrong = PublicKey::from_pem(&read(&format!("{dir}/wrong-key.pub"))).unwrap();
    let err = wrong.verify(&payload, &sig).unwrap_err();
    assert!(matches!(err, SignatureError::Invalid { .. }), "{err:?}");
    // An RSA signature given to an ECDSA key is malformed, not merely invalid.
    let (_, rsa_payload, rsa_sig) = simple_signing_case("sigstore-rs/simple-signing/rsa");
    let err = wrong.verify(&rsa_payload, &rsa_sig).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err:?}");
}

#[test]
fn public_key_pem_round_trips_byte_for_byte() {
    for file in [
        "sigstore-rs/simple-signing/ecdsa-p256/cosign.pub",
        "sigstore-rs/simple-signing/ecdsa-p256/wrong-key.pub",
        "sigstore-rs/simple-signing/rsa/cosign.pub",
        "dsse/hello-world/public.pem",
    ] {
        let text = String::from_utf8(read(file)).unwrap();
        let key = PublicKey::from_pem(text.as_bytes()).unwrap();
        assert_eq!(key.to_pem().trim_end(), text.trim_end(), "{file}");
        assert_eq!(key.key_id().to_string().len(), 64);
    }
}

#[test]
fn dsse_hello_world_key_loads_and_verifies_the_spec_signature() {
    let key = PrivateKey::import_pem(&read("dsse/hello-world/private-pkcs8.pem")).unwrap();
    let public = PublicKey::from_pem(&read("dsse/hello-world/public.pem")).unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
    // The spec's signature (DER form) over the PAE bytes verifies.
    let sig =
        rsign_core::blob::decode_signature(&read("dsse/hello-world/signature.der.b64")).unwrap();
    public
        .verify(&read("dsse/hello-world/pae.bin"), &sig)
        .unwrap();
    assert!(
        public
            .verify(&read("dsse/hello-world/payload.bin"), &sig)
            .is_err()
    );
}
