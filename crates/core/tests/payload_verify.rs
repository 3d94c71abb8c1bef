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

/// One private key of every supported type, with its public key.
fn every_key_type() -> Vec<(rsign_core::keys::PrivateKey, PublicKey)> {
    use rsign_core::keys::PrivateKey;
    let mut keys = vec![PrivateKey::generate_p256().unwrap()];
    for file in [
        "validecp384.key",
        "validecp521.key",
        "validrsa.key",
        "ed25519.key",
    ] {
        keys.push(
            PrivateKey::import_pem(&testdata(&format!("cosign/import-key-pair/{file}"))).unwrap(),
        );
    }
    keys.into_iter()
        .map(|k| {
            let public = k.public_key();
            (k, public)
        })
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn every_key_type_verifies_among_keys_of_every_type() {
    use rsign_core::simple_signing::SimpleSigning;
    let digest = Digest::sha256_of(b"an image manifest");
    let payload = SimpleSigning::new("registry.example/repo", digest.clone(), None).to_bytes();
    let keys = every_key_type();
    let publics: Vec<PublicKey> = keys.iter().map(|(_, p)| p.clone()).collect();
    for (signer, public) in &keys {
        let sig = b64(&signer.sign(&payload).unwrap());
        let verified = verify_simple_signing(&publics, &payload, &sig, &digest).unwrap();
        assert_eq!(verified.key_id(), public.key_id(), "{}", public.algorithm());
        let others: Vec<PublicKey> = publics.iter().filter(|p| *p != public).cloned().collect();
        assert!(
            matches!(
                verify_simple_signing(&others, &payload, &sig, &digest),
                Err(VerifyError::NoMatchingKey { keys: 4 })
            ),
            "{}",
            public.algorithm()
        );
    }
}

#[test]
fn curve_matched_hashes_of_cosign_3_verify() {
    use ecdsa::signature::hazmat::PrehashSigner as _;
    use rsign_core::simple_signing::SimpleSigning;
    use sha2::Digest as _;
    let digest = Digest::sha256_of(b"an image manifest");
    let payload = SimpleSigning::new("registry.example/repo", digest.clone(), None).to_bytes();
    let keys = every_key_type();
    let publics: Vec<PublicKey> = keys.iter().map(|(_, p)| p.clone()).collect();

    let p384_der = keys[1].0.to_pkcs8_der().unwrap();
    let sk =
        <p384::ecdsa::SigningKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(&p384_der).unwrap();
    let sig: p384::ecdsa::DerSignature = sk.sign_prehash(&sha2::Sha384::digest(&payload)).unwrap();
    let verified =
        verify_simple_signing(&publics, &payload, &b64(sig.as_bytes()), &digest).unwrap();
    assert_eq!(verified.key_id(), publics[1].key_id());

    let p521_der = keys[2].0.to_pkcs8_der().unwrap();
    let sk =
        <p521::ecdsa::SigningKey as pkcs8::DecodePrivateKey>::from_pkcs8_der(&p521_der).unwrap();
    let sig: p521::ecdsa::DerSignature = sk.sign_prehash(&sha2::Sha512::digest(&payload)).unwrap();
    let verified =
        verify_simple_signing(&publics, &payload, &b64(sig.as_bytes()), &digest).unwrap();
    assert_eq!(verified.key_id(), publics[2].key_id());
}

#[test]
fn any_signature_of_an_envelope_may_verify_with_any_key_type() {
    use rsign_core::dsse::Envelope;
    let digest = Digest::sha256_of(b"an image manifest");
    let (algorithm, hex) = digest
        .to_string()
        .split_once(':')
        .map(|(a, h)| (a.to_owned(), h.to_owned()))
        .unwrap();
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"{algorithm}":"{hex}"}}}}],"predicateType":"https://example.com/p","predicate":{{}}}}"#
    );
    let keys = every_key_type();
    let publics: Vec<PublicKey> = keys.iter().map(|(_, p)| p.clone()).collect();
    for (signer, public) in &keys {
        let envelope = Envelope::sign(
            rsign_core::dsse::IN_TOTO_PAYLOAD_TYPE,
            statement.clone().into_bytes(),
            |pae| signer.sign(pae),
        )
        .unwrap();
        // Two signatures that verify with nothing come first: 64 bytes (an
        // Ed25519 length) and a DER-shaped one.
        let mut json: serde_json::Value = serde_json::from_slice(&envelope.to_bytes()).unwrap();
        let sigs = json["signatures"].as_array_mut().unwrap();
        sigs.insert(0, serde_json::json!({"keyid": "", "sig": b64(&[7u8; 64])}));
        sigs.insert(
            0,
            serde_json::json!({"keyid": "", "sig": b64(&[0x30, 6, 2, 1, 1, 2, 1, 1])}),
        );
        let bytes = serde_json::to_vec(&json).unwrap();
        let verified =
            verify_dsse(&publics, &bytes, &digest, Some("https://example.com/p")).unwrap();
        assert_eq!(verified.key_id(), public.key_id(), "{}", public.algorithm());
        let others: Vec<PublicKey> = publics.iter().filter(|p| *p != public).cloned().collect();
        assert!(matches!(
            verify_dsse(&others, &bytes, &digest, None),
            Err(VerifyError::NoMatchingKey { keys: 4 })
        ));
    }
}

/// A payload or envelope too large to ever parse is refused before any of
/// many keys is tried: hashing it once per key would take seconds here.
#[test]
fn oversize_payloads_are_refused_before_any_key_is_tried() {
    use rsign_core::dsse::DsseError;
    use rsign_core::dsse::MAX_ENVELOPE_BYTES;
    use rsign_core::simple_signing::{MAX_PAYLOAD_BYTES, SimpleSigningError};
    let types: Vec<PublicKey> = every_key_type().into_iter().map(|(_, p)| p).collect();
    let keys: Vec<PublicKey> = types.iter().cycle().take(1000).cloned().collect();
    let digest = Digest::sha256_of(b"x");
    let sig = b64(&[1u8; 64]);

    let payload = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    let start = std::time::Instant::now();
    let err = verify_simple_signing(&keys, &payload, &sig, &digest).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Payload { source: SimpleSigningError::TooLarge { size, .. } } if size == MAX_PAYLOAD_BYTES + 1
        ),
        "{err:?}"
    );
    // The largest acceptable payload still gets every key tried (and fails).
    assert!(matches!(
        verify_simple_signing(&keys, &payload[..MAX_PAYLOAD_BYTES], &sig, &digest),
        Err(VerifyError::NoMatchingKey { keys: 1000 })
    ));

    let envelope = vec![b' '; MAX_ENVELOPE_BYTES + 1];
    let err = verify_dsse(&keys, &envelope, &digest, None).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Envelope {
                source: DsseError::TooLarge { .. }
            }
        ),
        "{err:?}"
    );
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
}
