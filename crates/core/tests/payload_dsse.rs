//! DSSE: PAE bytes, the spec's hello-world vector, base64 rules, real cosign envelopes.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use rsign_core::dsse::{self, DsseError, Envelope, MAX_ENVELOPE_BYTES, MAX_SIGNATURES, pae};
use serde_json::Value;

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn key(rel: &str) -> p256::ecdsa::VerifyingKey {
    let pem = String::from_utf8(testdata(rel)).unwrap();
    p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap()
}

fn verify_der(key: &p256::ecdsa::VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| key.verify(msg, &s).is_ok())
}

#[test]
fn pae_cases() {
    let cases: Value = serde_json::from_slice(&testdata("dsse/pae-and-base64-cases.json")).unwrap();
    let pae_cases = cases["pae"].as_array().unwrap();
    assert_eq!(pae_cases.len(), 3);
    for case in pae_cases {
        let got = pae(
            case["payloadType"].as_str().unwrap(),
            case["payload_utf8"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(
            hex::encode(&got),
            case["pae_hex"].as_str().unwrap(),
            "{}",
            case["name"]
        );
        assert_eq!(got, case["pae_utf8"].as_str().unwrap().as_bytes());
    }
}

#[test]
fn hello_world_vector_verifies() {
    let env = Envelope::parse(&testdata("dsse/hello-world/envelope.json")).unwrap();
    assert_eq!(
        env.payload_type().as_bytes(),
        testdata("dsse/hello-world/payloadType.txt")
    );
    assert_eq!(env.payload(), testdata("dsse/hello-world/payload.bin"));
    assert_eq!(env.pae(), testdata("dsse/hello-world/pae.bin"));
    assert_eq!(env.signatures().len(), 1);
    assert_eq!(
        env.signatures()[0].keyid,
        "",
        "a missing keyid reads as empty"
    );
    let key = key("dsse/hello-world/public.pem");
    // The spec's signature is raw r||s.
    let raw = p256::ecdsa::Signature::from_slice(&env.signatures()[0].sig).unwrap();
    key.verify(&env.pae(), &raw).unwrap();
    assert!(
        key.verify(env.payload(), &raw).is_err(),
        "signature covers PAE, not the payload"
    );
    // Its DER form verifies too.
    let der_b64 = String::from_utf8(testdata("dsse/hello-world/signature.der.b64")).unwrap();
    let der = dsse::decode_base64("sig", der_b64.trim()).unwrap();
    assert!(verify_der(&key, &env.pae(), &der));
}

fn envelope_with_payload(payload_b64: &str) -> String {
    format!(
        r#"{{"payloadType":"t","payload":"{payload_b64}","signatures":[{{"keyid":"k","sig":"AAAA"}}]}}"#
    )
}

#[test]
fn base64_cases() {
    let cases: Value = serde_json::from_slice(&testdata("dsse/pae-and-base64-cases.json")).unwrap();
    let b64_cases = cases["payload_base64_decoding"].as_array().unwrap();
    assert_eq!(b64_cases.len(), 4);
    for case in b64_cases {
        let json = envelope_with_payload(case["payload_b64"].as_str().unwrap());
        let result = Envelope::parse(json.as_bytes());
        if case["expect"] == "ok" {
            let env = result.unwrap();
            assert_eq!(
                hex::encode(env.payload()),
                case["decoded_hex"].as_str().unwrap()
            );
        } else {
            assert!(
                matches!(
                    result,
                    Err(DsseError::Base64 {
                        field: "payload",
                        ..
                    })
                ),
                "{}: {result:?}",
                case["name"]
            );
        }
    }
}

const CAPTURED: &str = "cosign/spec-examples/captured-cosign-2.5";

#[test]
fn real_cosign_envelopes_round_trip_and_verify() {
    let key = key(&format!("{CAPTURED}/cosign.pub"));
    for i in [0, 1, 3, 4, 5, 6] {
        let bytes = testdata(&format!("{CAPTURED}/att-envelope-{i}.json"));
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(env.payload_type(), dsse::IN_TOTO_PAYLOAD_TYPE);
        assert_eq!(
            env.payload(),
            testdata(&format!("{CAPTURED}/att-statement-{i}.json"))
        );
        assert_eq!(
            env.to_bytes(),
            bytes,
            "envelope {i} re-serializes byte for byte"
        );
        assert!(
            verify_der(&key, &env.pae(), &env.signatures()[0].sig),
            "envelope {i}"
        );
    }
}

#[test]
fn cosign_blob_attestation_envelopes_verify() {
    let key = key("cosign/verify-blob-attestation/cosign.pub");
    for name in [
        "slsa-provenance",
        "empty-subject",
        "missing-sha256",
        "multiple-subjects",
        "multiple-subjects-invalid",
    ] {
        let bytes = testdata(&format!("cosign/verify-blob-attestation/{name}.dsse.json"));
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(env.to_bytes(), bytes, "{name}");
        assert!(
            verify_der(&key, &env.pae(), &env.signatures()[0].sig),
            "{name}"
        );
        let mut altered = env.payload().to_vec();
        altered.push(b' ');
        assert!(!verify_der(
            &key,
            &pae(env.payload_type(), &altered),
            &env.signatures()[0].sig
        ));
    }
}

#[test]
fn sign_with_a_closure() {
    let mut seen = Vec::new();
    let env = Envelope::sign("application/x", b"body".to_vec(), |m: &[u8]| {
        seen = m.to_vec();
        Ok::<_, std::io::Error>(vec![1, 2, 3])
    })
    .unwrap();
    assert_eq!(seen, b"DSSEv1 13 application/x 4 body");
    assert_eq!(
        String::from_utf8(env.to_bytes()).unwrap(),
        r#"{"payloadType":"application/x","payload":"Ym9keQ==","signatures":[{"keyid":"","sig":"AQID"}]}"#
    );
    assert_eq!(Envelope::parse(&env.to_bytes()).unwrap(), env);
    let failed = Envelope::sign("t", vec![], |_: &[u8]| {
        Err::<Vec<u8>, _>(std::io::Error::other("hsm down"))
    });
    assert!(matches!(failed, Err(DsseError::Sign { .. })));
}

#[test]
fn rejects_bad_envelopes() {
    let good = envelope_with_payload("aGk=");
    assert!(Envelope::parse(good.as_bytes()).is_ok());
    assert!(matches!(
        Envelope::parse(format!("{good} {{}}").as_bytes()),
        Err(DsseError::Json { .. })
    ));
    assert!(matches!(
        Envelope::parse(b"hello"),
        Err(DsseError::Json { .. })
    ));
    assert!(matches!(
        Envelope::parse(br#"{"payloadType":"t","payload":"aGk="}"#),
        Err(DsseError::NoSignatures)
    ));
    assert!(matches!(
        Envelope::parse(br#"{"payloadType":"t","payload":"aGk=","signatures":[]}"#),
        Err(DsseError::NoSignatures)
    ));
    assert!(matches!(
        Envelope::parse(br#"{"payload":"aGk=","signatures":[{"sig":"AAAA"}]}"#),
        Err(DsseError::Json { .. })
    ));
    assert!(matches!(
        Envelope::parse(good.replace("AAAA", "!!!!").as_bytes()),
        Err(DsseError::Base64 { field: "sig", .. })
    ));
    assert!(matches!(
        Envelope::parse(good.replace("AAAA", "").as_bytes()),
        Err(DsseError::EmptySignature { index: 0 })
    ));
    let sig = r#"{"keyid":"","sig":"AAAA"}"#;
    let many = format!(
        r#"{{"payloadType":"t","payload":"aGk=","signatures":[{}]}}"#,
        vec![sig; MAX_SIGNATURES + 1].join(",")
    );
    assert!(matches!(
        Envelope::parse(many.as_bytes()),
        Err(DsseError::TooManySignatures { count, .. }) if count == MAX_SIGNATURES + 1
    ));
    let mut huge = good.into_bytes();
    huge.resize(MAX_ENVELOPE_BYTES + 1, b' ');
    assert!(matches!(
        Envelope::parse(&huge),
        Err(DsseError::TooLarge { .. })
    ));
    // cosign's own test statement with a truncated (unpadded) payload and no signatures.
    let invalid = testdata("cosign/intoto-subject-claims/invalidTotoStatement.json");
    assert!(Envelope::parse(&invalid).is_err());
    let bad_encoding =
        testdata("cosign/intoto-subject-claims/invalidIntotoStatementBadEncoding.json");
    assert!(matches!(
        Envelope::parse(&bad_encoding),
        Err(DsseError::Base64 {
            field: "payload",
            ..
        })
    ));
}
