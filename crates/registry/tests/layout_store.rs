//! OciLayout as a Repository: round trips, integrity and size checks, the
//! index lock under concurrent writers, garbage collection, skopeo interop.

// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsign_core::Digest;
use rsign_core::oci::{self, Descriptor, ImageManifest};
use rsign_registry::layout::{LayoutOptions, OciLayout, REF_NAME_ANNOTATION};
use rsign_registry::{Error, Repository, TagOrDigest};

fn tag(t: &str) -> TagOrDigest {
    TagOrDigest::Tag(t.to_owned())
}

/// Writes a tiny but complete image (one tar layer, a config, a manifest)
/// into the layout under `tag_name` and returns the manifest digest.
async fn put_image(layout: &OciLayout, tag_name: &str, content: &[u8]) -> Digest {
    let layer = tar_with_file("hello.txt", content);
    let layer_digest = layout.put_blob(&layer).await.unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"config":{{}}}}"#
    );
    layout.put_blob(config.as_bytes()).await.unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(oci::OCI_MANIFEST.to_owned()),
        config: Descriptor::of_bytes(oci::OCI_CONFIG, config.as_bytes()),
        layers: vec![Descriptor::of_bytes(
            "application/vnd.oci.image.layer.v1.tar",
            &layer,
        )],
        annotations: None,
        subject: None,
        artifact_type: None,
    };
    layout
        .put_manifest(Some(tag_name), oci::OCI_MANIFEST, &manifest.to_bytes())
        .await
        .unwrap()
}

/// A one-file ustar archive (uncompressed), enough for a valid image layer.
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    let size = format!("{:011o}", content.len());
    header[124..135].copy_from_slice(size.as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let sum = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(sum.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(d.hex())
}

#[tokio::test]
async fn round_trip_by_tag_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert!(layout.list_tags().await.unwrap().is_empty());
    assert!(layout.get_manifest(&tag("v1")).await.unwrap().is_none());

    let digest = put_image(&layout, "v1", b"hello").await;
    let by_tag = layout.get_manifest(&tag("v1")).await.unwrap().unwrap();
    assert_eq!(by_tag.digest, digest);
    assert_eq!(by_tag.media_type, oci::OCI_MANIFEST);
    assert!(digest.matches(&by_tag.bytes));
    let by_digest = layout
        .get_manifest(&TagOrDigest::Digest(digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest, by_tag);
    let head = layout.resolve(&tag("v1")).await.unwrap().unwrap();
    assert_eq!(head.digest, digest);
    assert_eq!(head.size, by_tag.bytes.len() as u64);

    // Blobs come back verified, and a second put is a no-op with the same digest.
    let m: ImageManifest = serde_json::from_slice(&by_tag.bytes).unwrap();
    let layer = &m.layers[0];
    let bytes = layout.get_blob(&layer.digest, layer.size).await.unwrap();
    assert_eq!(layout.put_blob(&bytes).await.unwrap(), layer.digest);

    // The index entry carries the tag as the ref.name annotation.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"][REF_NAME_ANNOTATION],
        "v1"
    );
    assert_eq!(index["manifests"][0]["digest"], digest.to_string());

    // Reopen; re-tag replaces the entry; delete removes only the tag.
    let reopened = OciLayout::open(dir.path()).unwrap();
    let digest2 = put_image(&reopened, "v1", b"hello again").await;
    assert_ne!(digest, digest2);
    put_image(&reopened, "v2", b"two").await;
    assert_eq!(reopened.list_tags().await.unwrap(), vec!["v1", "v2"]);
    assert_eq!(
        reopened.resolve(&tag("v1")).await.unwrap().unwrap().digest,
        digest2
    );
    reopened.delete_tag("v1").await.unwrap();
    reopened.delete_tag("v1").await.unwrap(); // absent: still ok
    assert_eq!(reopened.list_tags().await.unwrap(), vec!["v2"]);
    assert!(
        blob_path(dir.path(), &digest2).exists(),
        "blobs are left in place"
    );
    // An untagged manifest is still reachable by digest.
    assert!(
        reopened
            .resolve(&TagOrDigest::Digest(digest2.clone()))
            .await
            .unwrap()
            .is_some()
    );
    assert!(!dir.path().join("index.json.lock").exists());
}

#[tokio::test]
async fn corrupted_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let digest = layout.put_blob(b"the real content").await.unwrap();
    std::fs::write(blob_path(dir.path(), &digest), b"the fake content").unwrap();
    let err = layout.get_blob(&digest, 16).await.unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { expected, .. } if *expected == digest),
        "{err}"
    );

    // A corrupted manifest is caught too, whether reached by tag or digest.
    let m = put_image(&layout, "t", b"x").await;
    let body = std::fs::read(blob_path(dir.path(), &m)).unwrap();
    let mut tampered = body.clone();
    tampered[body.len() - 2] = b' ';
    std::fs::write(blob_path(dir.path(), &m), &tampered).unwrap();
    assert!(matches!(
        layout.get_manifest(&tag("t")).await,
        Err(Error::DigestMismatch { .. })
    ));
    assert!(matches!(
        layout.get_manifest(&TagOrDigest::Digest(m)).await,
        Err(Error::DigestMismatch { .. })
    ));

    // A size that disagrees with the descriptor is refused.
    let d = layout.put_blob(b"12345").await.unwrap();
    assert!(matches!(
        layout.get_blob(&d, 4).await,
        Err(Error::InvalidContent { .. })
    ));
}

#[tokio::test]
async fn oversize_blob_rejected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let limit = layout.options().limits.max_blob_bytes;
    // A sparse file larger than the limit: reading it would take a while and
    // fail the digest; the limit must fire on the metadata instead.
    let digest = Digest::sha256_of(b"whatever");
    let f = std::fs::File::create(blob_path(dir.path(), &digest)).unwrap();
    f.set_len(limit + 1).unwrap();
    drop(f);
    let err = layout.get_blob(&digest, 10).await.unwrap_err();
    match &err {
        Error::LimitExceeded {
            limit: l, found, ..
        } => {
            assert_eq!(*l, limit);
            assert_eq!(*found, limit + 1);
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
    // A descriptor size over the limit fails without touching the file.
    let absent = Digest::sha256_of(b"absent");
    assert!(matches!(
        layout.get_blob(&absent, limit + 5).await,
        Err(Error::LimitExceeded { found, .. }) if found == limit + 5
    ));
    assert!(matches!(
        layout.get_blob(&absent, 5).await,
        Err(Error::NotFound { .. })
    ));

    // Manifests obey the (smaller) manifest limit, on write and on read.
    let mut opts = LayoutOptions::default();
    opts.limits.max_manifest_bytes = 100;
    let small = OciLayout::open_with(dir.path(), opts).unwrap();
    let big = format!(r#"{{"schemaVersion":2,"pad":"{}"}}"#, "x".repeat(200));
    assert!(matches!(
        small
            .put_manifest(Some("big"), oci::OCI_MANIFEST, big.as_bytes())
            .await,
        Err(Error::LimitExceeded { limit: 100, .. })
    ));
    layout
        .put_manifest(Some("big"), oci::OCI_MANIFEST, big.as_bytes())
        .await
        .unwrap();
    assert!(matches!(
        small.get_manifest(&tag("big")).await,
        Err(Error::LimitExceeded { limit: 100, .. })
    ));
}

#[tokio::test]
async fn open_rejects_non_layouts_and_bad_tags() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        OciLayout::open(dir.path()),
        Err(Error::NotFound { .. })
    ));
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let err = OciLayout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("imageLayoutVersion"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    // create() on an existing layout opens it.
    OciLayout::create(dir.path()).unwrap();
    for bad in ["../escape", "a/../../b", "", "with space", "-lead"] {
        let r = layout
            .put_manifest(Some(bad), oci::OCI_MANIFEST, b"{}")
            .await;
        assert!(matches!(r, Err(Error::InvalidContent { .. })), "{bad:?}");
    }
    assert!(matches!(
        layout
            .put_manifest(Some("ok"), oci::OCI_MANIFEST, b"not json")
            .await,
        Err(Error::InvalidContent { .. })
    ));
    // Duplicate ref names written by some other tool are reported, not guessed.
    let d = layout
        .put_manifest(Some("dup"), oci::OCI_MANIFEST, b"{}")
        .await
        .unwrap();
    let entry = format!(
        r#"{{"mediaType":"{}","digest":"{d}","size":2,"annotations":{{"{REF_NAME_ANNOTATION}":"dup"}}}}"#,
        oci::OCI_MANIFEST
    );
    std::fs::write(
        dir.path().join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{entry},{entry}],"annotations":{{"keep":"me"}}}}"#
        ),
    )
    .unwrap();
    assert!(matches!(
        layout.resolve(&tag("dup")).await,
        Err(Error::InvalidContent { .. })
    ));
    // Re-tagging repairs it and keeps the index's unknown fields.
    layout
        .put_manifest(Some("dup"), oci::OCI_MANIFEST, b"{}")
        .await
        .unwrap();
    assert_eq!(
        layout.resolve(&tag("dup")).await.unwrap().unwrap().digest,
        d
    );
    let index = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
    assert!(index.contains(r#""keep":"me""#), "{index}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_taggers_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    OciLayout::create(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        // Separate handles, as separate processes would have.
        let layout = OciLayout::open(dir.path()).unwrap();
        tasks.push(tokio::spawn(async move {
            for round in 0..5 {
                let body = format!(r#"{{"schemaVersion":2,"writer":{i},"round":{round}}}"#);
                layout
                    .put_manifest(Some(&format!("w{i}")), oci::OCI_MANIFEST, body.as_bytes())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let layout = OciLayout::open(dir.path()).unwrap();
    let mut tags = layout.list_tags().await.unwrap();
    tags.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
    expected.sort();
    assert_eq!(tags, expected);
    for i in 0..16 {
        let m = layout
            .get_manifest(&tag(&format!("w{i}")))
            .await
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        assert_eq!(v["round"], 4, "last write of writer {i} wins");
    }
    assert!(!dir.path().join("index.json.lock").exists());
}

#[tokio::test]
async fn gc_removes_only_unreachable_old_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Arc::new(OciLayout::create(dir.path()).unwrap());
    let kept = put_image(&layout, "keep", b"keep").await;
    let dropped = put_image(&layout, "drop", b"drop").await;
    layout.delete_tag("drop").await.unwrap();
    // Young unreferenced blobs survive a gc with a grace period.
    assert_eq!(
        layout
            .gc(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    let removed = layout.gc(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(
        removed, 3,
        "manifest, config and layer of the dropped image"
    );
    assert!(!blob_path(dir.path(), &dropped).exists());
    let m = layout.get_manifest(&tag("keep")).await.unwrap().unwrap();
    assert_eq!(m.digest, kept);
    let parsed: ImageManifest = serde_json::from_slice(&m.bytes).unwrap();
    for d in std::iter::once(&parsed.config).chain(&parsed.layers) {
        layout.get_blob(&d.digest, d.size).await.unwrap();
    }
}

fn skopeo() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/skopeo");
    p.exists().then_some(p)
}

/// skopeo (1.18, installed by scripts/install-test-deps.sh) reads what we write.
#[tokio::test]
#[ignore = "needs .tools/bin/skopeo (scripts/install-test-deps.sh)"]
async fn skopeo_reads_the_layout() {
    let Some(skopeo) = skopeo() else {
        panic!("skopeo not installed at .tools/bin/skopeo; run scripts/install-test-deps.sh");
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let image = put_image(&layout, "latest", b"hi").await;
    let opts = rsign_registry::AttachOptions::default();
    rsign_registry::attach::append_layers(
        &layout,
        &image,
        rsign_registry::AttachmentKind::Signature,
        vec![rsign_registry::NewLayer::signature(b"{}".to_vec(), "c2ln")],
        |_, _| false,
        &opts,
    )
    .await
    .unwrap();
    let sig_tag = rsign_registry::attach::signature_tag(&image);
    for t in ["latest", sig_tag.as_str()] {
        let out = std::process::Command::new(&skopeo)
            .arg("inspect")
            .arg("--raw")
            .arg(format!("oci:{}:{t}", dir.path().display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stored = layout.get_manifest(&tag(t)).await.unwrap().unwrap();
        assert_eq!(
            out.stdout, stored.bytes,
            "skopeo returns the stored bytes for {t}"
        );
    }
    // And it can copy the image out of the layout (every blob present and valid).
    let dest = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&skopeo)
        .args(["copy", "--insecure-policy"])
        .arg(format!("oci:{}:latest", dir.path().display()))
        .arg(format!("dir:{}", dest.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A layout as `cosign save` writes it: entries named by a `kind`
/// annotation, no tags. The attachment tag resolves to the `sigs` entry of
/// the layout's image, and writing the tag replaces that entry.
#[tokio::test]
async fn cosign_save_layouts_are_read_and_updated() {
    use rsign_registry::attach::signature_tag;
    use rsign_registry::layout::COSIGN_KIND_ANNOTATION;
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let image = put_image(&layout, "tmp", b"img").await;
    let sigs = layout
        .put_manifest(
            None,
            oci::OCI_MANIFEST,
            br#"{"schemaVersion":2,"old":true}"#,
        )
        .await
        .unwrap();
    let entry = |d: &Digest, kind: &str| {
        format!(
            r#"{{"mediaType":"{}","size":{},"digest":"{d}","annotations":{{"{COSIGN_KIND_ANNOTATION}":"dev.cosignproject.cosign/{kind}"}}}}"#,
            oci::OCI_MANIFEST,
            std::fs::metadata(blob_path(dir.path(), d)).unwrap().len()
        )
    };
    std::fs::write(
        dir.path().join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{},{}]}}"#,
            oci::OCI_INDEX,
            entry(&image, "image"),
            entry(&sigs, "sigs")
        ),
    )
    .unwrap();
    let sig_tag = signature_tag(&image);
    assert_eq!(
        layout
            .resolve(&tag(&sig_tag))
            .await
            .unwrap()
            .unwrap()
            .digest,
        sigs
    );
    // Another image's tag does not match the layout's sigs entry.
    let other = signature_tag(&Digest::sha256_of(b"other"));
    assert!(layout.resolve(&tag(&other)).await.unwrap().is_none());

    let new = layout
        .put_manifest(
            Some(&sig_tag),
            oci::OCI_MANIFEST,
            br#"{"schemaVersion":2,"new":true}"#,
        )
        .await
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        2,
        "the cosign sigs entry was replaced: {index}"
    );
    let sig_entry = &entries[1];
    assert_eq!(sig_entry["digest"], new.to_string());
    assert_eq!(
        sig_entry["annotations"][REF_NAME_ANNOTATION],
        sig_tag.as_str()
    );
    assert_eq!(
        sig_entry["annotations"][COSIGN_KIND_ANNOTATION],
        "dev.cosignproject.cosign/sigs"
    );
    assert_eq!(
        layout
            .resolve(&tag(&sig_tag))
            .await
            .unwrap()
            .unwrap()
            .digest,
        new
    );
}

#[cfg(unix)]
#[tokio::test]
async fn written_files_are_world_readable() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let digest = put_image(&layout, "v1", b"perm").await;
    for path in [
        dir.path().join("index.json"),
        blob_path(dir.path(), &digest),
    ] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", path.display());
    }
}

#[tokio::test]
async fn reused_blobs_are_refreshed_so_gc_spares_them() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let digest = layout
        .put_blob(b"pushed, not yet referenced")
        .await
        .unwrap();
    let path = blob_path(dir.path(), &digest);
    // Age the blob past the grace period, as if pushed long ago.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A writer pushes the same bytes again (about to reference them): the
    // blob is reused, and its mtime is refreshed.
    assert_eq!(
        layout
            .put_blob(b"pushed, not yet referenced")
            .await
            .unwrap(),
        digest
    );
    let removed = layout
        .gc(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 0);
    assert!(path.exists());
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_in_place_of_a_blob_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let digest = Digest::sha256_of(b"fifo");
    let path = blob_path(dir.path(), &digest);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo").arg(&path).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "mkfifo (coreutils) must be available for this test"
    );
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        layout.get_blob(&digest, 4),
    )
    .await
    .expect("reading a FIFO blob must not block");
    let err = read.unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // The same for index.json.
    std::fs::remove_file(dir.path().join("index.json")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("index.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let tags = tokio::time::timeout(std::time::Duration::from_secs(10), layout.list_tags())
        .await
        .expect("reading a FIFO index.json must not block");
    assert!(tags.is_err());
}
