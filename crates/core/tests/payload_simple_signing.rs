//! Simple-signing payloads: cosign's golden bytes, real cosign 2.5 output, strict parsing.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use rsign_core::Digest;
use rsign_core::oci::Manifest;
use rsign_core::simple_signing::{
    Annotations, MAX_PAYLOAD_BYTES, SignatureType, SimpleSigning, SimpleSigningError,
    cosign_docker_reference,
};
use serde_json::Value;

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&testdata(rel)).unwrap()
}

const CAPTURED: &str = "cosign/spec-examples/captured-cosign-2.5";
const CAPTURED_IMAGE: &str =
    "sha256:06264063f7b0a4987c389f6d2fdcd749a35ae57232e5dc4975dae316c0dccd65";

#[test]
fn marshal_cases_are_byte_exact() {
    let cases = json("cosign/simple-signing-payload/cases.json");
    let marshal = cases["marshal"].as_array().unwrap();
    assert_eq!(marshal.len(), 5);
    for case in marshal {
        let image = case["image"].as_str().unwrap();
        let (_, digest) = image.split_once('@').unwrap();
        let digest: Digest = digest.parse().unwrap();
        let identity = match case["claimed_identity"].as_str() {
            Some(claimed) => claimed.to_owned(),
            None => cosign_docker_reference(image).unwrap(),
        };
        let annotations: Option<Annotations> = match &case["annotations"] {
            Value::Null => None,
            Value::Object(map) => Some(map.clone().into_iter().collect()),
            other => panic!("unexpected annotations {other}"),
        };
        let payload = SimpleSigning::new(identity, digest, annotations);
        let got = String::from_utf8(payload.to_bytes()).unwrap();
        assert_eq!(got, case["expected"].as_str().unwrap(), "{}", case["desc"]);
        // And the golden bytes parse back to the same value.
        assert_eq!(SimpleSigning::parse(got.as_bytes()).unwrap(), payload);
    }
}

#[test]
fn unmarshal_cases() {
    let cases = json("cosign/simple-signing-payload/cases.json");
    let unmarshal = cases["unmarshal"].as_array().unwrap();
    assert_eq!(unmarshal.len(), 3);
    for case in unmarshal {
        let payload = case["payload"].as_str().unwrap().as_bytes();
        let expect = case["expect"].as_str().unwrap();
        let result = SimpleSigning::parse(payload);
        if expect.starts_with("ok") {
            let p = result.unwrap();
            assert!(expect.contains(&format!("{}@{}", p.docker_reference(), p.manifest_digest())));
            assert_eq!(
                p.signature_type(),
                SignatureType::CosignContainerImageSignature
            );
            match p.annotations() {
                None => assert!(expect.contains("no annotations")),
                Some(a) => {
                    for key in a.keys() {
                        assert!(expect.contains(key.as_str()), "{key}");
                    }
                    assert_eq!(a.len(), 3);
                }
            }
        } else {
            match result {
                Err(SimpleSigningError::WrongType { found }) => {
                    assert_eq!(found, "atomic container signature");
                }
                other => panic!("expected WrongType, got {other:?}"),
            }
        }
    }
}

#[test]
fn reproduces_real_cosign_payloads_and_their_signatures_verify() {
    let digest: Digest = CAPTURED_IMAGE.parse().unwrap();
    let with_annotations = SimpleSigning::new(
        "127.0.0.1:35791/img",
        digest.clone(),
        Some(BTreeMap::from([
            ("foo".to_owned(), Value::from("bar")),
            ("x".to_owned(), Value::from("<&>")),
        ])),
    );
    let plain = SimpleSigning::new("127.0.0.1:35791/img", digest.clone(), None);
    let payload0 = testdata(&format!("{CAPTURED}/sig-payload-0.json"));
    let payload1 = testdata(&format!("{CAPTURED}/sig-payload-1.json"));
    assert_eq!(with_annotations.to_bytes(), payload0);
    assert_eq!(plain.to_bytes(), payload1);
    // Empty annotations are written as null, like no annotations.
    assert_eq!(
        SimpleSigning::new("127.0.0.1:35791/img", digest, Some(BTreeMap::new())).to_bytes(),
        payload1
    );

    let pem = String::from_utf8(testdata(&format!("{CAPTURED}/cosign.pub"))).unwrap();
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
    let manifest = testdata(&format!("{CAPTURED}/sig-manifest.json"));
    let manifest = Manifest::parse(&manifest, None).unwrap();
    let layers = &manifest.as_image().unwrap().layers;
    for (layer, payload) in layers.iter().zip([&payload0, &payload1]) {
        assert!(layer.digest.matches(payload));
        let sig_b64 = layer
            .annotation("dev.cosignproject.cosign/signature")
            .unwrap();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig_b64)
            .unwrap();
        let sig = p256::ecdsa::Signature::from_der(&sig).unwrap();
        key.verify(payload, &sig).unwrap();
        let mut altered = payload.clone();
        altered[20] ^= 1;
        assert!(key.verify(&altered, &sig).is_err());
    }
}

fn payload_with_critical(critical: &str, optional: &str) -> String {
    format!(r#"{{"critical":{critical},"optional":{optional}}}"#)
}

const GOOD_CRITICAL: &str = r#"{"identity":{"docker-reference":"r.example/a"},"image":{"docker-manifest-digest":"sha256:d34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33fd34db33f"},"type":"cosign container image signature"}"#;

fn assert_json_error(bytes: &[u8], what: &str) {
    match SimpleSigning::parse(bytes) {
        Err(SimpleSigningError::Json { source }) => {
            let msg = source.to_string();
            assert!(msg.contains(what), "{what:?} not in {msg:?}");
        }
        other => panic!("expected a JSON error mentioning {what:?}, got {other:?}"),
    }
}

#[test]
fn strict_parsing_rejects_bad_payloads() {
    let good = payload_with_critical(GOOD_CRITICAL, "null");
    assert!(SimpleSigning::parse(good.as_bytes()).is_ok());
    // skopeo's optional fields are accepted.
    let skopeo = payload_with_critical(GOOD_CRITICAL, r#"{"creator":"skopeo","timestamp":1}"#);
    assert_eq!(
        SimpleSigning::parse(skopeo.as_bytes())
            .unwrap()
            .annotations()
            .unwrap()
            .len(),
        2
    );
    // A missing `optional` is treated as null.
    let missing = format!(r#"{{"critical":{GOOD_CRITICAL}}}"#);
    assert!(
        SimpleSigning::parse(missing.as_bytes())
            .unwrap()
            .annotations()
            .is_none()
    );

    assert_json_error(format!("{good} {{}}").as_bytes(), "trailing");
    assert_json_error(format!("{good}x").as_bytes(), "trailing");
    let unknown = GOOD_CRITICAL.replacen('{', r#"{"extra":1,"#, 1);
    assert_json_error(
        payload_with_critical(&unknown, "null").as_bytes(),
        "unknown field",
    );
    let unknown_identity = GOOD_CRITICAL.replace(r#""r.example/a""#, r#""r.example/a","x":2"#);
    assert_json_error(
        payload_with_critical(&unknown_identity, "null").as_bytes(),
        "unknown field",
    );
    let top = format!(r#"{{"critical":{GOOD_CRITICAL},"optional":null,"more":1}}"#);
    assert_json_error(top.as_bytes(), "unknown field");
    let no_type = GOOD_CRITICAL.replace(r#","type":"cosign container image signature""#, "");
    assert_json_error(
        payload_with_critical(&no_type, "null").as_bytes(),
        "missing field `type`",
    );
    let bad_digest = GOOD_CRITICAL.replace("sha256:d34d", "sha256:D34D");
    assert_json_error(
        payload_with_critical(&bad_digest, "null").as_bytes(),
        "malformed",
    );
    let type_number = GOOD_CRITICAL.replace(r#""cosign container image signature""#, "1");
    assert!(SimpleSigning::parse(payload_with_critical(&type_number, "null").as_bytes()).is_err());
    let wrong_type = GOOD_CRITICAL.replace("cosign container image", "cosign container");
    assert!(matches!(
        SimpleSigning::parse(payload_with_critical(&wrong_type, "null").as_bytes()),
        Err(SimpleSigningError::WrongType { .. })
    ));
    assert!(matches!(
        SimpleSigning::parse(b"not json"),
        Err(SimpleSigningError::Json { .. })
    ));
    assert!(matches!(
        SimpleSigning::parse(b""),
        Err(SimpleSigningError::Json { .. })
    ));
    assert!(matches!(
        SimpleSigning::parse(b"[]"),
        Err(SimpleSigningError::Json { .. })
    ));
    // optional must be an object or null.
    assert!(SimpleSigning::parse(payload_with_critical(GOOD_CRITICAL, "[1]").as_bytes()).is_err());

    let huge = format!(
        r#"{{"critical":{GOOD_CRITICAL},"optional":{{"pad":"{}"}}}}"#,
        "a".repeat(MAX_PAYLOAD_BYTES)
    );
    assert!(matches!(
        SimpleSigning::parse(huge.as_bytes()),
        Err(SimpleSigningError::TooLarge { .. })
    ));
}

#[test]
fn spec_example_with_capitalised_key_is_rejected() {
    // SIGNATURE_SPEC's example spells `Docker-manifest-digest`; Go would match it
    // case-insensitively, rsign matches field names exactly.
    let bytes = testdata("cosign/spec-examples/SIGNATURE_SPEC_L272.json");
    assert_json_error(&bytes, "Docker-manifest-digest");
}
