//! cosign's attachment read-modify-write over an OciLayout: append, dedupe,
//! remove, replace, limits, corruption, and concurrent writers.

// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use rsign_core::Digest;
use rsign_core::oci::{self, ImageManifest};
use rsign_registry::attach::{
    AttachStore, Swap, append_layers, attestation_tag, read_attachments, remove_layers,
    replace_layers, signature_tag,
};
use rsign_registry::{
    AttachOptions, AttachedLayer, AttachmentKind, Error, FetchedManifest, ManifestHead, NewLayer,
    OciLayout, Repository, TagOrDigest,
};

fn image() -> Digest {
    Digest::sha256_of(b"an image manifest")
}

fn sig(n: usize) -> NewLayer {
    NewLayer::signature(
        format!(r#"{{"critical":{{"n":{n}}}}}"#).into_bytes(),
        &format!("c2lnbmF0dXJl{n}"),
    )
}

fn no_dedupe(_: &AttachedLayer, _: &NewLayer) -> bool {
    false
}

fn fast() -> AttachOptions {
    AttachOptions {
        confirm_delay: std::time::Duration::from_millis(5),
        ..AttachOptions::default()
    }
}

fn layout() -> (tempfile::TempDir, OciLayout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    (dir, layout)
}

async fn stored_manifest(repo: &OciLayout, tag: &str) -> (Digest, Vec<u8>) {
    let m = repo
        .get_manifest(&TagOrDigest::Tag(tag.to_owned()))
        .await
        .unwrap()
        .unwrap();
    (m.digest, m.bytes)
}

#[tokio::test]
async fn append_builds_cosign_manifest_and_reads_back() {
    let (_dir, repo) = layout();
    let img = image();
    assert!(
        read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
            .await
            .unwrap()
            .is_none()
    );
    let out = append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(1)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!((out.added, out.already_present, out.attempts), (1, 0, 1));

    let (digest1, bytes1) = stored_manifest(&repo, &signature_tag(&img)).await;
    assert_eq!(out.manifest_digest.as_ref(), Some(&digest1));
    // Exactly the manifest cosign builds for these layers, config blob included.
    let expected = oci::cosign_signature_manifest(vec![sig(1).descriptor()]);
    assert_eq!(bytes1, expected.manifest_bytes);
    let cfg = &expected.manifest.config;
    assert_eq!(cfg.media_type, oci::OCI_CONFIG);
    assert_eq!(
        repo.get_blob(&cfg.digest, cfg.size).await.unwrap(),
        expected.config_bytes
    );

    // A second signature is appended after the first, which stays unchanged.
    append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(2)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let got = read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.tag, signature_tag(&img));
    assert_eq!(got.layers.len(), 2);
    assert_eq!(got.layers[0].descriptor, sig(1).descriptor());
    assert_eq!(got.layers[0].payload, sig(1).payload);
    assert_eq!(got.layers[1].descriptor, sig(2).descriptor());
    let (digest2, bytes2) = stored_manifest(&repo, &signature_tag(&img)).await;
    assert_eq!(got.manifest_digest, digest2);
    let m1: ImageManifest = serde_json::from_slice(&bytes1).unwrap();
    let m2: ImageManifest = serde_json::from_slice(&bytes2).unwrap();
    assert_eq!(m2.layers[0], m1.layers[0]);
    assert_eq!(
        bytes2,
        oci::cosign_signature_manifest(vec![sig(1).descriptor(), sig(2).descriptor()])
            .manifest_bytes
    );

    // Attestations live under `.att`, separate from signatures.
    let att = NewLayer::attestation(
        br#"{"payloadType":"x"}"#.to_vec(),
        "https://slsa.dev/provenance/v1",
    );
    append_layers(
        &repo,
        &img,
        AttachmentKind::Attestation,
        vec![att.clone()],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let atts = read_attachments(&repo, &img, AttachmentKind::Attestation, &fast())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(atts.tag, attestation_tag(&img));
    assert_eq!(atts.layers.len(), 1);
    assert_eq!(
        atts.layers[0]
            .descriptor
            .annotation(oci::ANNOTATION_PREDICATE_TYPE),
        Some("https://slsa.dev/provenance/v1")
    );
    let mut tags = repo.list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, vec![attestation_tag(&img), signature_tag(&img)]);
}

#[tokio::test]
async fn dedupe_skips_identical_and_caller_matched_layers() {
    let (_dir, repo) = layout();
    let img = image();
    append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(1), sig(1)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let (before, _) = stored_manifest(&repo, &signature_tag(&img)).await;
    let got = read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.layers.len(),
        1,
        "duplicates in one call are written once"
    );

    // Identical layer: nothing written.
    let out = append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(1)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!((out.added, out.already_present), (0, 1));
    assert_eq!(stored_manifest(&repo, &signature_tag(&img)).await.0, before);

    // Same payload, different signature annotation: only the caller's rule can skip it.
    let mut resigned = sig(1);
    resigned
        .annotations
        .insert(oci::ANNOTATION_SIGNATURE.to_owned(), "b3RoZXI=".to_owned());
    let same_payload = |e: &AttachedLayer, n: &NewLayer| e.payload == n.payload;
    let out = append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![resigned.clone()],
        same_payload,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!((out.added, out.already_present), (0, 1));
    assert_eq!(stored_manifest(&repo, &signature_tag(&img)).await.0, before);
    let out = append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![resigned],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!((out.added, out.already_present), (1, 0));
    assert_ne!(stored_manifest(&repo, &signature_tag(&img)).await.0, before);
}

#[tokio::test]
async fn removal_keeps_others_and_deletes_empty_tag() {
    let (_dir, repo) = layout();
    let img = image();
    append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        (1..=4).map(sig).collect(),
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let is = |n: usize| move |l: &AttachedLayer| l.payload == sig(n).payload;
    assert_eq!(
        remove_layers(&repo, &img, AttachmentKind::Signature, is(2), &fast())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        remove_layers(&repo, &img, AttachmentKind::Signature, is(2), &fast())
            .await
            .unwrap(),
        0
    );
    let got = read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
        .await
        .unwrap()
        .unwrap();
    let left: Vec<_> = got.layers.iter().map(|l| l.descriptor.clone()).collect();
    assert_eq!(
        left,
        vec![
            sig(1).descriptor(),
            sig(3).descriptor(),
            sig(4).descriptor()
        ]
    );
    assert_eq!(
        stored_manifest(&repo, &signature_tag(&img)).await.1,
        oci::cosign_signature_manifest(left).manifest_bytes
    );

    let removed = remove_layers(&repo, &img, AttachmentKind::Signature, |_| true, &fast())
        .await
        .unwrap();
    assert_eq!(removed, 3);
    assert!(
        read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
            .await
            .unwrap()
            .is_none()
    );
    assert!(repo.list_tags().await.unwrap().is_empty());
    // Removing from nothing is fine.
    assert_eq!(
        remove_layers(&repo, &img, AttachmentKind::Signature, |_| true, &fast())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn replace_removes_and_appends_in_one_write() {
    let (_dir, repo) = layout();
    let img = image();
    let old = NewLayer::attestation(b"old".to_vec(), "https://example.com/a");
    let other = NewLayer::attestation(b"other".to_vec(), "https://example.com/b");
    append_layers(
        &repo,
        &img,
        AttachmentKind::Attestation,
        vec![old, other.clone()],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let new = NewLayer::attestation(b"new".to_vec(), "https://example.com/a");
    let same_type = |l: &AttachedLayer| {
        l.descriptor.annotation(oci::ANNOTATION_PREDICATE_TYPE) == Some("https://example.com/a")
    };
    let out = replace_layers(
        &repo,
        &img,
        AttachmentKind::Attestation,
        same_type,
        vec![new.clone()],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!((out.removed, out.added, out.already_present), (1, 1, 0));
    let got = read_attachments(&repo, &img, AttachmentKind::Attestation, &fast())
        .await
        .unwrap()
        .unwrap();
    let payloads: Vec<&[u8]> = got.layers.iter().map(|l| l.payload.as_slice()).collect();
    assert_eq!(payloads, vec![&b"other"[..], &b"new"[..]]);
    assert_eq!(out.manifest_digest, Some(got.manifest_digest));
}

#[tokio::test]
async fn layer_limits_fail_loudly() {
    let (_dir, repo) = layout();
    let img = image();
    append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        (0..4).map(sig).collect(),
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let mut tight = fast();
    tight.limits.max_layers = 3;
    let err = read_attachments(&repo, &img, AttachmentKind::Signature, &tight)
        .await
        .unwrap_err();
    match &err {
        Error::LimitExceeded {
            limit,
            found,
            unit,
            hint,
            ..
        } => {
            assert_eq!((*limit, *found, *unit), (3, 4, "layers"));
            assert!(hint.contains("max_layers"), "{hint}");
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
    assert!(err.to_string().contains("limit of 3 layers"), "{err}");
    // Appending past the limit is refused, and nothing is written.
    let (before, _) = stored_manifest(&repo, &signature_tag(&img)).await;
    let mut four = fast();
    four.limits.max_layers = 4;
    let err = append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(9)],
        no_dedupe,
        &four,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: 4,
                found: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(stored_manifest(&repo, &signature_tag(&img)).await.0, before);
    // The signature count limit applies when reading signatures.
    let mut few = fast();
    few.limits.max_signatures = 2;
    assert!(matches!(
        read_attachments(&repo, &img, AttachmentKind::Signature, &few).await,
        Err(Error::LimitExceeded {
            unit: "signatures",
            ..
        })
    ));
}

#[tokio::test]
async fn corrupted_layer_is_an_error() {
    let (dir, repo) = layout();
    let img = image();
    append_layers(
        &repo,
        &img,
        AttachmentKind::Signature,
        vec![sig(1)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    let d = sig(1).descriptor().digest;
    let path = dir.path().join("blobs/sha256").join(d.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        read_attachments(&repo, &img, AttachmentKind::Signature, &fast()).await,
        Err(Error::DigestMismatch { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    OciLayout::create(dir.path()).unwrap();
    let img = image();
    const WRITERS: usize = 12;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        // One handle per writer, as separate rsign processes would have.
        let repo = Arc::new(OciLayout::open(dir.path()).unwrap());
        let img = img.clone();
        tasks.push(tokio::spawn(async move {
            append_layers(
                &*repo,
                &img,
                AttachmentKind::Signature,
                vec![sig(i)],
                no_dedupe,
                &fast(),
            )
            .await
        }));
    }
    let mut attempts = 0;
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert_eq!(out.added, 1);
        attempts += out.attempts;
    }
    let repo = OciLayout::open(dir.path()).unwrap();
    let got = read_attachments(&repo, &img, AttachmentKind::Signature, &fast())
        .await
        .unwrap()
        .unwrap();
    let mut present: Vec<Vec<u8>> = got.layers.iter().map(|l| l.payload.clone()).collect();
    present.sort();
    let mut expected: Vec<Vec<u8>> = (0..WRITERS).map(|i| sig(i).payload).collect();
    expected.sort();
    assert_eq!(
        present, expected,
        "every writer's signature survives ({attempts} attempts in all)"
    );
}

#[tokio::test]
async fn layout_swap_is_conditional() {
    let (_dir, repo) = layout();
    let body = br#"{"schemaVersion":2}"#;
    let first = repo
        .swap_tag("t", None, Some((oci::OCI_MANIFEST, body)))
        .await
        .unwrap();
    let Swap::Done(Some(d)) = first else {
        panic!("{first:?}")
    };
    // The tag exists now: expecting it absent, or at another digest, changes nothing.
    assert_eq!(repo.swap_tag("t", None, None).await.unwrap(), Swap::Changed);
    let other = Digest::sha256_of(b"other");
    assert_eq!(
        repo.swap_tag("t", Some(&other), None).await.unwrap(),
        Swap::Changed
    );
    assert_eq!(
        repo.resolve(&TagOrDigest::Tag("t".into()))
            .await
            .unwrap()
            .unwrap()
            .digest,
        d
    );
    assert_eq!(
        repo.swap_tag("t", Some(&d), None).await.unwrap(),
        Swap::Done(None)
    );
    assert!(repo.list_tags().await.unwrap().is_empty());
    assert!(repo.atomic_swap());
}

/// A store without an atomic swap (like a registry) on which, right after
/// our first manifest put, a racer that read the old state overwrites the tag.
#[derive(Debug)]
struct RacyStore {
    inner: OciLayout,
    racer: Mutex<Option<Vec<u8>>>,
}

#[async_trait::async_trait]
impl Repository for RacyStore {
    fn display_name(&self) -> String {
        self.inner.display_name()
    }
    async fn resolve(&self, r: &TagOrDigest) -> Result<Option<ManifestHead>, Error> {
        self.inner.resolve(r).await
    }
    async fn get_manifest(&self, r: &TagOrDigest) -> Result<Option<FetchedManifest>, Error> {
        self.inner.get_manifest(r).await
    }
    async fn get_blob(&self, d: &Digest, size: u64) -> Result<Vec<u8>, Error> {
        self.inner.get_blob(d, size).await
    }
    async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        self.inner.put_blob(bytes).await
    }
    async fn put_manifest(
        &self,
        tag: Option<&str>,
        mt: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        let ours = self.inner.put_manifest(tag, mt, bytes).await?;
        let racer = self.racer.lock().unwrap().take();
        if let Some(racer) = racer {
            self.inner.put_manifest(tag, mt, &racer).await?;
        }
        Ok(ours)
    }
    async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        self.inner.delete_tag(tag).await
    }
    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        self.inner.list_tags().await
    }
}

impl AttachStore for RacyStore {}

#[tokio::test]
async fn confirmation_read_recovers_an_overwritten_layer() {
    let (_dir, layout) = layout();
    let img = image();
    append_layers(
        &layout,
        &img,
        AttachmentKind::Signature,
        vec![sig(0)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    // The racer read [sig0] before our put and writes [sig0, sig7] after it.
    let racer_layers = vec![sig(0).descriptor(), sig(7).descriptor()];
    let racer = oci::cosign_signature_manifest(racer_layers);
    layout.put_blob(&sig(7).payload).await.unwrap();
    layout.put_blob(&racer.config_bytes).await.unwrap();
    let store = RacyStore {
        inner: layout.clone(),
        racer: Mutex::new(Some(racer.manifest_bytes)),
    };
    assert!(!store.atomic_swap());
    let out = append_layers(
        &store,
        &img,
        AttachmentKind::Signature,
        vec![sig(1)],
        no_dedupe,
        &fast(),
    )
    .await
    .unwrap();
    assert_eq!(out.added, 1);
    assert_eq!(
        out.attempts, 2,
        "the first write was overwritten and merged again"
    );
    let got = read_attachments(&layout, &img, AttachmentKind::Signature, &fast())
        .await
        .unwrap()
        .unwrap();
    let payloads: Vec<Vec<u8>> = got.layers.iter().map(|l| l.payload.clone()).collect();
    assert_eq!(
        payloads,
        vec![sig(0).payload, sig(7).payload, sig(1).payload]
    );
}

/// Puts a signature manifest whose layer descriptors declare `sizes`; the
/// blobs themselves are never written, so any fetch would fail as not found.
async fn put_declared_sizes(repo: &OciLayout, kind: AttachmentKind, sizes: &[u64]) {
    let layers = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let mut d = sig(i).descriptor();
            d.size = size;
            d.digest = Digest::sha256_of(format!("absent {i}").as_bytes());
            d
        })
        .collect();
    let built = oci::cosign_signature_manifest(layers);
    repo.put_blob(&built.config_bytes).await.unwrap();
    repo.put_manifest(
        Some(&kind.tag_for(&image())),
        oci::OCI_MANIFEST,
        &built.manifest_bytes,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn oversize_attachment_layers_are_refused_before_fetching() {
    // One `.sig` layer over the simple-signing payload limit.
    let (_dir, repo) = layout();
    let too_big = rsign_core::simple_signing::MAX_PAYLOAD_BYTES as u64 + 1;
    put_declared_sizes(&repo, AttachmentKind::Signature, &[10, too_big]).await;
    let err = read_attachments(&repo, &image(), AttachmentKind::Signature, &fast())
        .await
        .unwrap_err();
    match &err {
        Error::LimitExceeded {
            limit, found, hint, ..
        } => {
            assert_eq!(*limit, too_big - 1);
            assert_eq!(*found, too_big);
            assert!(hint.contains("MAX_PAYLOAD_BYTES"), "{hint}");
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }

    // An `.att` layer may be larger than a signature, up to the DSSE limit.
    let (_dir, repo) = layout();
    put_declared_sizes(&repo, AttachmentKind::Attestation, &[too_big]).await;
    let err = read_attachments(&repo, &image(), AttachmentKind::Attestation, &fast())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "fetched: {err}");
    let huge = rsign_core::dsse::MAX_ENVELOPE_BYTES as u64 + 1;
    put_declared_sizes(&repo, AttachmentKind::Attestation, &[huge]).await;
    let err = read_attachments(&repo, &image(), AttachmentKind::Attestation, &fast())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { found, .. } if found == huge),
        "{err}"
    );

    // Many layers each under the limit, together over the total.
    let (_dir, repo) = layout();
    let each = 20 * 1024 * 1024;
    put_declared_sizes(&repo, AttachmentKind::Attestation, &[each; 13]).await;
    let err = read_attachments(&repo, &image(), AttachmentKind::Attestation, &fast())
        .await
        .unwrap_err();
    match &err {
        Error::LimitExceeded {
            limit, found, hint, ..
        } => {
            assert_eq!(*limit, 256 << 20);
            assert_eq!(*found, 13 * each);
            assert!(hint.contains("max_total_attachment_bytes"), "{hint}");
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
    // Sizes that overflow u64 when summed are refused, not wrapped.
    let mut generous = fast();
    generous.limits.max_blob_bytes = u64::MAX;
    generous.limits.max_total_attachment_bytes = u64::MAX - 1;
    let (_dir, repo) = layout();
    put_declared_sizes(
        &repo,
        AttachmentKind::Sbom,
        &[u64::MAX / 2 + 1, u64::MAX / 2 + 1],
    )
    .await;
    let err = read_attachments(&repo, &image(), AttachmentKind::Sbom, &generous)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
}
