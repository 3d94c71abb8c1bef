//! OCI manifests: cosign 2.5's signature/attestation manifests rebuilt byte for byte, strict parsing.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use rsign_core::Digest;
use rsign_core::oci::{
    self, Descriptor, ImageIndex, MAX_MANIFEST_BYTES, Manifest, ManifestError,
    cosign_signature_manifest,
};

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

const CAPTURED: &str = "cosign/spec-examples/captured-cosign-2.5";

#[test]
fn signature_manifest_is_byte_exact() {
    let original = testdata(&format!("{CAPTURED}/sig-manifest.json"));
    let parsed = Manifest::parse(&original, Some(oci::OCI_MANIFEST)).unwrap();
    let Manifest::Oci(image) = &parsed else {
        panic!("expected an OCI manifest, got {parsed:?}")
    };
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.to_bytes(), original, "parse → serialize round trip");

    // Rebuild from the payloads and signatures alone.
    let layers: Vec<Descriptor> = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let payload = testdata(&format!("{CAPTURED}/sig-payload-{i}.json"));
            let sig = l.annotation(oci::ANNOTATION_SIGNATURE).unwrap();
            Descriptor::cosign_signature_layer(&payload, sig)
        })
        .collect();
    let built = cosign_signature_manifest(layers);
    assert_eq!(
        built.config_bytes,
        testdata(&format!("{CAPTURED}/sig-config.json"))
    );
    assert_eq!(built.manifest_bytes, original);
    assert_eq!(&built.manifest, image);
}

#[test]
fn attestation_manifest_is_byte_exact() {
    let original = testdata(&format!("{CAPTURED}/att-manifest.json"));
    let parsed = Manifest::parse(&original, None).unwrap();
    let image = parsed.as_image().unwrap();
    assert_eq!(image.layers.len(), 7);
    for (i, layer) in image.layers.iter().enumerate() {
        assert_eq!(layer.media_type, oci::DSSE_ENVELOPE);
        assert_eq!(layer.annotation(oci::ANNOTATION_SIGNATURE), Some(""));
        if i == 2 {
            continue; // the 235 KB spdx envelope is not kept in keys-testdata
        }
        let envelope = testdata(&format!("{CAPTURED}/att-envelope-{i}.json"));
        let predicate_type = layer.annotation(oci::ANNOTATION_PREDICATE_TYPE).unwrap();
        assert_eq!(
            &Descriptor::cosign_attestation_layer(&envelope, predicate_type),
            layer
        );
    }
    let built = cosign_signature_manifest(image.layers.clone());
    assert_eq!(
        built.config_bytes,
        testdata(&format!("{CAPTURED}/att-config.json"))
    );
    assert_eq!(built.manifest_bytes, original);
    assert!(built.manifest.config.digest.matches(&built.config_bytes));
}

#[test]
fn config_without_layers_has_null_diff_ids() {
    let bytes = oci::cosign_config_bytes(std::iter::empty::<&Digest>());
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}"#
    );
}

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn index_json(media_type: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,"digest":"{D1}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}],"annotations":{{"a":"<b>"}}}}"#
    )
}

#[test]
fn parses_every_manifest_kind() {
    let oci_index = index_json(oci::OCI_INDEX);
    let parsed = Manifest::parse(oci_index.as_bytes(), None).unwrap();
    assert_eq!(parsed.media_type(), oci::OCI_INDEX);
    let index: &ImageIndex = parsed.as_index().unwrap();
    let platform = index.manifests[0].platform.as_ref().unwrap();
    assert_eq!(
        (platform.os.as_str(), platform.variant.as_deref()),
        ("linux", Some("v8"))
    );
    // Go escapes `<` and `>` in the annotation value.
    assert_eq!(
        String::from_utf8(index.to_bytes()).unwrap(),
        oci_index.replace("<b>", r"\u003cb\u003e")
    );

    let list = index_json(oci::DOCKER_MANIFEST_LIST);
    assert!(matches!(
        Manifest::parse(list.as_bytes(), None).unwrap(),
        Manifest::DockerList(_)
    ));

    let docker = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":2,"digest":"{D1}"}},"layers":[]}}"#,
        oci::DOCKER_MANIFEST,
        oci::DOCKER_CONFIG
    );
    assert!(matches!(
        Manifest::parse(docker.as_bytes(), None).unwrap(),
        Manifest::Docker(_)
    ));

    // No mediaType in the document: the Content-Type decides, else the shape.
    let bare = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","size":2,"digest":"{D1}"}},"layers":[]}}"#,
        oci::OCI_CONFIG
    );
    assert!(matches!(
        Manifest::parse(
            bare.as_bytes(),
            Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
        )
        .unwrap(),
        Manifest::Docker(_)
    ));
    assert!(matches!(
        Manifest::parse(bare.as_bytes(), None).unwrap(),
        Manifest::Oci(_)
    ));
}

#[test]
fn rejects_bad_manifests() {
    let oci_index = index_json(oci::OCI_INDEX);
    assert!(matches!(
        Manifest::parse(oci_index.as_bytes(), Some(oci::OCI_MANIFEST)),
        Err(ManifestError::MediaTypeMismatch { .. })
    ));
    // Both untrusted strings are quoted at most 200 characters long.
    let long_type = "x".repeat(10_000);
    let odd_index = index_json(&long_type);
    match Manifest::parse(odd_index.as_bytes(), Some(&long_type.replace('x', "y"))) {
        Err(ManifestError::MediaTypeMismatch { document, served }) => {
            assert_eq!(document, "x".repeat(200));
            assert_eq!(served, "y".repeat(200));
        }
        other => panic!("expected MediaTypeMismatch, got {other:?}"),
    }
    let schema1 = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws","name":"x"}"#;
    assert!(matches!(
        Manifest::parse(schema1.as_bytes(), None),
        Err(ManifestError::UnsupportedMediaType(_))
    ));
    let v3 = oci_index.replace(r#""schemaVersion":2"#, r#""schemaVersion":3"#);
    assert!(matches!(
        Manifest::parse(v3.as_bytes(), None),
        Err(ManifestError::SchemaVersion(3))
    ));
    assert!(matches!(
        Manifest::parse(format!("{oci_index}{{}}").as_bytes(), None),
        Err(ManifestError::Json { .. })
    ));
    assert!(matches!(
        Manifest::parse(b"{}", None),
        Err(ManifestError::UnknownKind)
    ));
    assert!(matches!(
        Manifest::parse(b"nope", None),
        Err(ManifestError::Json { .. })
    ));
    let bad_digest = oci_index.replace(D1, "sha256:badf00d");
    assert!(matches!(
        Manifest::parse(bad_digest.as_bytes(), None),
        Err(ManifestError::Json { .. })
    ));
    // The cosign bundle spec examples use placeholder digests: rejected, not guessed.
    for name in [
        "BUNDLE_SPEC_L148.json",
        "BUNDLE_SPEC_L173.json",
        "BUNDLE_SPEC_L254.json",
    ] {
        let bytes = testdata(&format!("cosign/spec-examples/{name}"));
        assert!(
            matches!(
                Manifest::parse(&bytes, None),
                Err(ManifestError::Json { .. })
            ),
            "{name}"
        );
    }
    let mut huge = oci_index.into_bytes();
    huge.resize(MAX_MANIFEST_BYTES + 1, b' ');
    assert!(matches!(
        Manifest::parse(&huge, None),
        Err(ManifestError::TooLarge { size, .. }) if size == MAX_MANIFEST_BYTES + 1
    ));
}
