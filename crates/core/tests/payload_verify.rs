//! The verification chain: key → signature → payload → digest, for real cosign
//! signatures (simple signing) and attestations (DSSE + in-toto).

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use rsign_core::Digest;
use rsign_core::intoto::predicate_type_uri;
use rsign_core::keys::PublicKey;
use rsign_core::oci::{ANNOTATION_SIGNATURE, Manifest};
use rsign_core::verify::{VerifyError, verify_dsse, verify_simple_signing};

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn key(rel: &str) -> PublicKey {
    PublicKey::from_pem(&testdata(rel)).unwrap()
}

const CAPTURED: &str = "cosign/spec-examples/captured-cosign-2.5";
const IMAGE: &str = "sha256:06264063f7b0a4987c389f6d2fdcd749a35ae57232e5dc4975dae316c0dccd65";

#[test]
fn real_cosign_image_signatures_verify() {
    let trusted = key(&format!("{CAPTURED}/cosign.pub"));
    let other = key("sigstore-rs/simple-signing/ecdsa-p256/cosign.pub");
    let digest: Digest = IMAGE.parse().unwrap();
    let manifest =
        Manifest::parse(&testdata(&format!("{CAPTURED}/sig-manifest.json")), None).unwrap();
    for (i, layer) in manifest.as_image().unwrap().layers.iter().enumerate() {
        let payload = testdata(&format!("{CAPTURED}/sig-payload-{i}.json"));
        let sig = layer.annotation(ANNOTATION_SIGNATURE).unwrap();
        // The trusted key may be anywhere in the list.
        let verified =
            verify_simple_signing(&[other.clone(), trusted.clone()], &payload, sig, &digest)
                .unwrap();
        assert_eq!(verified.key_id(), trusted.key_id());
        assert_eq!(verified.manifest_digest(), &digest);
        assert_eq!(verified.docker_reference(), "127.0.0.1:35791/img");

        // Wrong key, altered payload, other image, bad base64, no keys.
        assert!(matches!(
            verify_simple_signing(std::slice::from_ref(&other), &payload, sig, &digest),
            Err(VerifyError::NoMatchingKey { keys: 1 })
        ));
        let mut altered = payload.clone();
        altered.insert(1, b' ');
        assert!(matches!(
            verify_simple_signing(std::slice::from_ref(&trusted), &altered, sig, &digest),
            Err(VerifyError::NoMatchingKey { .. })
        ));
        let elsewhere = Digest::sha256_of(b"another image");
        assert!(matches!(
            verify_simple_signing(std::slice::from_ref(&trusted), &payload, sig, &elsewhere),
            Err(VerifyError::DigestMismatch { actual, .. }) if actual == digest
        ));
        assert!(matches!(
            verify_simple_signing(std::slice::from_ref(&trusted), &payload, "%%%", &digest),
            Err(VerifyError::SignatureBase64 { .. })
        ));
        assert!(matches!(
            verify_simple_signing(&[], &payload, sig, &digest),
            Err(VerifyError::NoKeys)
        ));
    }
}

#[test]
fn sigstore_rs_payloads_verify_per_key_type() {
    for dir in ["ecdsa-p256", "rsa"] {
        let base = format!("sigstore-rs/simple-signing/{dir}");
        let payload = testdata(&format!("{base}/payload.json"));
        let sig = String::from_utf8(testdata(&format!("{base}/signature.sig"))).unwrap();
        let expected = rsign_core::simple_signing::SimpleSigning::parse(&payload)
            .unwrap()
            .manifest_digest()
            .clone();
        let k = key(&format!("{base}/cosign.pub"));
        let verified =
            verify_simple_signing(std::slice::from_ref(&k), &payload, &sig, &expected).unwrap();
        assert_eq!(verified.key_id(), k.key_id(), "{dir}");
    }
    let wrong = key("sigstore-rs/simple-signing/ecdsa-p256/wrong-key.pub");
    let payload = testdata("sigstore-rs/simple-signing/ecdsa-p256/payload.json");
    let sig = String::from_utf8(testdata(
        "sigstore-rs/simple-signing/ecdsa-p256/signature.sig",
    ))
    .unwrap();
    let digest: Digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
        .parse()
        .unwrap();
    assert!(matches!(
        verify_simple_signing(&[wrong], &payload, &sig, &digest),
        Err(VerifyError::NoMatchingKey { .. })
    ));
}

#[test]
fn real_cosign_attestations_verify() {
    let trusted = key(&format!("{CAPTURED}/cosign.pub"));
    let digest: Digest = IMAGE.parse().unwrap();
    for (i, type_name) in [
        (0, "custom"),
        (1, "spdxjson"),
        (3, "cyclonedx"),
        (4, "vuln"),
        (5, "openvex"),
    ] {
        let envelope = testdata(&format!("{CAPTURED}/att-envelope-{i}.json"));
        let uri = predicate_type_uri(type_name).unwrap();
        let verified = verify_dsse(
            std::slice::from_ref(&trusted),
            &envelope,
            &digest,
            Some(&uri),
        )
        .unwrap();
        assert_eq!(verified.predicate_type(), uri);
        assert_eq!(verified.key_id(), trusted.key_id());
        assert!(matches!(
            verify_dsse(
                std::slice::from_ref(&trusted),
                &envelope,
                &digest,
                Some("https://example.com/other")
            ),
            Err(VerifyError::PredicateTypeMismatch { .. })
        ));
        assert!(matches!(
            verify_dsse(
                std::slice::from_ref(&trusted),
                &envelope,
                &Digest::sha256_of(b"x"),
                None
            ),
            Err(VerifyError::SubjectMismatch { .. })
        ));
    }
}

#[test]
fn cosign_blob_attestations_verify_or_fail_as_cosign() {
    let dir = "cosign/verify-blob-attestation";
    let k = key(&format!("{dir}/cosign.pub"));
    let keys = std::slice::from_ref(&k);
    let blob = Digest::sha256_of(&testdata(&format!("{dir}/blob")));
    let slsa = predicate_type_uri("slsaprovenance").unwrap();
    let env = |name: &str| testdata(&format!("{dir}/{name}.dsse.json"));
    assert!(verify_dsse(keys, &env("slsa-provenance"), &blob, Some(&slsa)).is_ok());
    assert!(verify_dsse(keys, &env("multiple-subjects"), &blob, Some(&slsa)).is_ok());
    assert!(matches!(
        verify_dsse(keys, &env("multiple-subjects-invalid"), &blob, Some(&slsa)),
        Err(VerifyError::SubjectMismatch { .. })
    ));
    assert!(matches!(
        verify_dsse(keys, &env("empty-subject"), &blob, None),
        Err(VerifyError::Statement { .. })
    ));
    assert!(matches!(
        verify_dsse(keys, &env("missing-sha256"), &blob, None),
        Err(VerifyError::Statement { .. })
    ));
    let other = Digest::sha256_of(&testdata(&format!("{dir}/other-blob")));
    assert!(matches!(
        verify_dsse(keys, &env("slsa-provenance"), &other, None),
        Err(VerifyError::SubjectMismatch { .. })
    ));
    // A key that did not sign it.
    let stranger = key(&format!("{CAPTURED}/cosign.pub"));
    assert!(matches!(
        verify_dsse(&[stranger], &env("slsa-provenance"), &blob, None),
        Err(VerifyError::NoMatchingKey { .. })
    ));
    // cosign's test envelopes with made-up signatures never verify.
    let demo: Digest = "sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed"
        .parse()
        .unwrap();
    let fake = testdata("cosign/intoto-subject-claims/validIntotoStatement.json");
    assert!(matches!(
        verify_dsse(keys, &fake, &demo, None),
        Err(VerifyError::NoMatchingKey { .. })
    ));
    assert!(matches!(
        verify_dsse(keys, b"{}", &demo, None),
        Err(VerifyError::Envelope { .. })
    ));
}
