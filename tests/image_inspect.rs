//! `rsign tree`, `triangulate`, `download`, `clean` and `save` on OCI image
//! layouts: no peers needed. Signatures are made with `rsign sign`; an
//! attestation manifest is built by hand, as cosign stores it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::support::images::{self, REF_NAME, build_image_layout, build_index_layout};
use crate::support::process::{self, Output};
use crate::support::tools::rsign_bin;

const PW: &str = "inspect-password";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

fn rsign_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(rsign_bin());
    cmd.args(args)
        .env("RSIGN_PASSWORD", PW)
        .env_remove("COSIGN_PASSWORD")
        .env_remove("RSIGN_REPOSITORY")
        .env_remove("COSIGN_REPOSITORY")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn rsign(args: &[&str]) -> Output {
    let out = process::run(rsign_cmd(args), Duration::from_secs(120));
    assert!(!out.stderr.contains("panicked"), "rsign panicked:\n{out}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Keys {
    key: PathBuf,
    public: PathBuf,
}

fn keypair(dir: &Path, name: &str) -> Keys {
    let prefix = dir.join(name);
    rsign(&["generate-key-pair", "-o", s(&prefix)]).assert_success();
    Keys {
        key: prefix.with_extension("key"),
        public: prefix.with_extension("pub"),
    }
}

fn sign(keys: &Keys, image: &str) {
    rsign(&[
        "sign",
        "--key",
        s(&keys.key),
        "--sign-container-identity",
        "registry.example/app",
        image,
    ])
    .assert_success();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The manifest stored under `tag` in the layout.
fn manifest_under(dir: &Path, tag: &str) -> Option<Value> {
    let index = read_json(&dir.join("index.json"));
    let digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"][REF_NAME] == tag)?["digest"]
        .as_str()?
        .to_owned();
    Some(serde_json::from_slice(&images::read_blob(dir, &digest)).unwrap())
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = images::sha256_digest(bytes);
    std::fs::write(images::blob_path(dir, &digest), bytes).unwrap();
    digest
}

/// Stores a cosign-style `.att` manifest with one DSSE layer claiming
/// `predicate_type` for `image` (unsigned: `tree` and `download` verify nothing).
fn attach_attestation(dir: &Path, image: &str, predicate_type: &str) -> String {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example/app", "digest": {"sha256": image.trim_start_matches("sha256:")}}],
        "predicate": {"note": "<&>"},
    });
    let envelope = json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": STANDARD.encode(serde_json::to_vec(&statement).unwrap()),
        "signatures": [{"keyid": "", "sig": "c2lnbmF0dXJl"}],
    });
    let envelope = serde_json::to_vec(&envelope).unwrap();
    let layer = write_blob(dir, &envelope);
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer]},
    }))
    .unwrap();
    let config_digest = write_blob(dir, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": images::MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
        "layers": [{"mediaType": DSSE, "size": envelope.len(), "digest": layer,
                    "annotations": {SIG_ANNOTATION: "", "predicateType": predicate_type}}],
    }))
    .unwrap();
    let manifest_digest = write_blob(dir, &manifest);
    let tag = format!("{}.att", image.replace(':', "-"));
    let index_path = dir.join("index.json");
    let mut index = read_json(&index_path);
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": images::MANIFEST_MEDIA_TYPE, "digest": manifest_digest, "size": manifest.len(),
        "annotations": {REF_NAME: tag},
    }));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    String::from_utf8(envelope).unwrap()
}

/// A layout with one image signed by two keys.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    image: String,
    digest: String,
    a: Keys,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let digest = build_image_layout(&dir, "v1", 11);
    let image = format!("oci:{}:v1", dir.display());
    let a = keypair(tmp.path(), "a");
    let b = keypair(tmp.path(), "b");
    sign(&a, &image);
    sign(&b, &image);
    Fixture {
        _tmp: tmp,
        dir,
        image,
        digest,
        a,
    }
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

#[test]
fn tree_lists_signatures_and_unverified_predicate_types() {
    let f = fixture();
    let stored = manifest_under(&f.dir, &sig_tag(&f.digest)).unwrap();
    let layers = stored["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    attach_attestation(&f.dir, &f.digest, "https://slsa.dev/provenance/v1");

    let out = rsign(&["tree", &f.image]);
    out.assert_success();
    for layer in layers {
        out.assert_stdout_contains(layer["digest"].as_str().unwrap());
    }
    out.assert_stdout_contains("signatures: 2 layer(s)")
        .assert_stdout_contains("predicateType=https://slsa.dev/provenance/v1 (unverified)")
        .assert_stdout_contains("SBOMs: none");

    let out = rsign(&["tree", "--output", "json", &f.image]);
    out.assert_success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["digest"], f.digest.as_str());
    assert_eq!(v["verified"], false);
    let sig_layers = v["signatures"]["layers"].as_array().unwrap();
    assert_eq!(sig_layers.len(), 2);
    for (got, want) in sig_layers.iter().zip(layers) {
        assert_eq!(got["digest"], want["digest"]);
        assert_eq!(got["mediaType"], SIMPLE_SIGNING);
        assert_eq!(got["size"], want["size"]);
    }
    let att = &v["attestations"]["layers"][0];
    assert_eq!(att["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(att["predicateTypeVerified"], false);
    assert_eq!(v["sboms"], Value::Null);
    assert!(
        v["signatures"]["reference"]
            .as_str()
            .unwrap()
            .ends_with(&sig_tag(&f.digest))
    );
}

#[test]
fn triangulate_prints_the_attachment_reference() {
    let f = fixture();
    let hex = f.digest.trim_start_matches("sha256:");
    let layout = format!("oci:{}", f.dir.display());
    for (kind, suffix) in [
        (None, "sig"),
        (Some("signature"), "sig"),
        (Some("attestation"), "att"),
        (Some("sbom"), "sbom"),
    ] {
        let mut args = vec!["triangulate"];
        if let Some(k) = kind {
            args.extend(["--type", k]);
        }
        args.push(&f.image);
        let out = rsign(&args);
        out.assert_success();
        assert_eq!(out.stdout, format!("{layout}:sha256-{hex}.{suffix}\n"));
    }
    rsign(&["triangulate", "--type", "bogus", &f.image]).assert_code(2);
}

#[test]
fn download_signature_prints_cosign_signed_payloads() {
    let f = fixture();
    let stored = manifest_under(&f.dir, &sig_tag(&f.digest)).unwrap();
    let out = rsign(&["download", "signature", &f.image]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for (line, layer) in lines.iter().zip(stored["layers"].as_array().unwrap()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6);
        // Field order as cosign prints it.
        assert!(line.starts_with("{\"Base64Signature\":"), "{line}");
        assert!(
            line.ends_with(
                "\"Cert\":null,\"Chain\":null,\"Bundle\":null,\"RFC3161Timestamp\":null}"
            ),
            "{line}"
        );
        assert_eq!(
            v["Base64Signature"], layer["annotations"][SIG_ANNOTATION],
            "signature annotation"
        );
        let payload = STANDARD.decode(v["Payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            images::sha256_digest(&payload),
            layer["digest"].as_str().unwrap()
        );
        let claims: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            claims["critical"]["image"]["docker-manifest-digest"],
            f.digest.as_str()
        );
    }
}

#[test]
fn download_attestation_and_nothing_attached() {
    let f = fixture();
    // No attestation yet: exit 3 and a message naming the reference.
    rsign(&["download", "attestation", &f.image])
        .assert_code(3)
        .assert_stderr_contains(".att");
    let envelope = attach_attestation(&f.dir, &f.digest, "https://example.com/custom");
    let out = rsign(&["download", "attestation", &f.image]);
    out.assert_success();
    let line = out.stdout.trim_end();
    let got: Value = serde_json::from_str(line).unwrap();
    let want: Value = serde_json::from_str(&envelope).unwrap();
    assert_eq!(got, want);
    assert!(line.starts_with("{\"payloadType\":"), "{line}");
    rsign(&[
        "download",
        "attestation",
        "--predicate-type",
        "https://example.com/custom",
        &f.image,
    ])
    .assert_success();
    rsign(&[
        "download",
        "attestation",
        "--predicate-type",
        "https://example.com/other",
        &f.image,
    ])
    .assert_code(3);

    // An unsigned image: no signatures, exit 3.
    let other = build_image_layout(&f.dir, "v2", 12);
    assert_ne!(other, f.digest);
    let unsigned = format!("oci:{}:v2", f.dir.display());
    rsign(&["download", "signature", &unsigned])
        .assert_code(3)
        .assert_stderr_contains("no signatures attached");
    rsign(&["tree", &unsigned])
        .assert_success()
        .assert_stdout_contains("signatures: none");
}

#[test]
fn clean_needs_force_and_removes_by_type() {
    let f = fixture();
    attach_attestation(&f.dir, &f.digest, "https://example.com/custom");
    let pub_a = s(&f.a.public).to_owned();
    rsign(&["verify", "--key", &pub_a, &f.image]).assert_success();

    // Not a terminal and no --force: refused, nothing removed.
    rsign(&["clean", &f.image])
        .assert_code(2)
        .assert_stderr_contains("--force");
    assert!(manifest_under(&f.dir, &sig_tag(&f.digest)).is_some());

    // Only attestations.
    rsign(&["clean", "--type", "attestation", "--force", &f.image]).assert_success();
    let att_tag = format!("{}.att", f.digest.replace(':', "-"));
    assert!(manifest_under(&f.dir, &att_tag).is_none());
    rsign(&["verify", "--key", &pub_a, &f.image]).assert_success();

    // Then everything: verify has nothing to check (exit 3).
    rsign(&["clean", "-f", &f.image])
        .assert_success()
        .assert_stderr_contains("Removed the signatures");
    assert!(manifest_under(&f.dir, &sig_tag(&f.digest)).is_none());
    rsign(&["verify", "--key", &pub_a, &f.image]).assert_code(3);
    // The image itself is untouched.
    assert_eq!(images::layout_digest(&f.dir, "v1"), f.digest);
    // Cleaning again is fine.
    rsign(&["clean", "-f", &f.image])
        .assert_success()
        .assert_stderr_contains("No signatures attached");
}

#[test]
fn save_copies_an_index_and_its_signatures_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let index = build_index_layout(&src, "multi", 21);
    let keys = keypair(tmp.path(), "k");
    let image = format!("oci:{}:multi", src.display());
    rsign(&[
        "sign",
        "--key",
        s(&keys.key),
        "--recursive",
        "--sign-container-identity",
        "registry.example/app",
        &image,
    ])
    .assert_success();
    attach_attestation(&src, &index.digest, "https://example.com/custom");

    let out_dir = tmp.path().join("saved");
    rsign(&["save", &image, "--dir", s(&out_dir)])
        .assert_success()
        .assert_stderr_contains("signatures: 3 layer(s) in 3 manifest(s)");
    // Every blob of the source is in the copy with the same bytes.
    for entry in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let copied = out_dir.join("blobs/sha256").join(entry.file_name());
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            std::fs::read(&copied).unwrap(),
            "{}",
            entry.path().display()
        );
    }
    assert_eq!(images::layout_digest(&out_dir, "multi"), index.digest);
    for p in &index.platforms {
        assert!(manifest_under(&out_dir, &sig_tag(&p.digest)).is_some());
    }
    let saved = format!("oci:{}:multi", out_dir.display());
    rsign(&["verify", "--key", s(&keys.public), &saved]).assert_success();
    rsign(&["tree", &saved])
        .assert_success()
        .assert_stdout_contains("attestations: 1 layer(s)");

    // Saving again reuses what is there and changes nothing.
    let before = std::fs::read(out_dir.join("index.json")).unwrap();
    rsign(&["save", &image, "--dir", s(&out_dir)]).assert_success();
    let after: Value = read_json(&out_dir.join("index.json"));
    let before: Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(
        after["manifests"].as_array().unwrap().len(),
        before["manifests"].as_array().unwrap().len()
    );

    // An explicit tag, and an attachment tag refused.
    rsign(&["save", &image, "--dir", s(&out_dir), "--tag", "copy"]).assert_success();
    assert_eq!(images::layout_digest(&out_dir, "copy"), index.digest);
    rsign(&[
        "save",
        &image,
        "--dir",
        s(&out_dir),
        "--tag",
        &sig_tag(&index.digest),
    ])
    .assert_code(2);
}

#[test]
fn bad_targets_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = format!("oci:{}:v1", tmp.path().join("nope").display());
    for args in [
        vec!["tree", missing.as_str()],
        vec!["triangulate", missing.as_str()],
        vec!["download", "signature", missing.as_str()],
        vec!["clean", "-f", missing.as_str()],
        vec!["save", missing.as_str(), "--dir", s(tmp.path())],
        vec!["tree", "Not A Reference"],
    ] {
        rsign(&args).assert_code(2).assert_stderr_contains("error:");
    }
    // A layout tag that does not exist names the image and the tag.
    let dir = tmp.path().join("lay");
    build_image_layout(&dir, "v1", 3);
    rsign(&["tree", &format!("oci:{}:v9", dir.display())])
        .assert_code(2)
        .assert_stderr_contains("v9");
    // `load` into a layout is refused before anything is read.
    rsign(&[
        "load",
        "--dir",
        s(&dir),
        &format!("oci:{}:v1", dir.display()),
    ])
    .assert_code(2);
}
