//! `rsign sign` / `rsign verify` on OCI image layouts: no peers needed.
//!
//! Covers the verdicts (0 verified, 1 failed, 3 no signatures, 2 errors),
//! tampering (payload edited, a valid signature for another digest moved
//! under this image's tag, bad base64), thresholds, required annotations,
//! dedupe, `--recursive`, the layer limit and the output formats.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::images::{self, REF_NAME};
use crate::support::process::{self, Output};
use crate::support::tools::rsign_bin;

/// The password of every test key.
pub const PW: &str = "test-password";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Helpers shared by the image test modules.
pub mod helpers {
    use super::*;

    /// A key pair made by `rsign generate-key-pair` (password [`PW`]).
    #[derive(Debug, Clone)]
    pub struct Keys {
        /// The encrypted private key.
        pub key: PathBuf,
        /// The public key.
        pub public: PathBuf,
    }

    /// `rsign ARGS` with `RSIGN_PASSWORD` = [`PW`] and no colour.
    pub fn rsign_cmd(args: &[&str]) -> Command {
        let mut cmd = Command::new(rsign_bin());
        cmd.args(args)
            .env("RSIGN_PASSWORD", PW)
            .env_remove("COSIGN_PASSWORD")
            .env_remove("RSIGN_REPOSITORY")
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `rsign ARGS` and checks it did not panic.
    pub fn rsign(args: &[&str]) -> Output {
        let out = process::run(rsign_cmd(args), Duration::from_secs(120));
        assert!(!out.stderr.contains("panicked"), "rsign panicked:\n{out}");
        out
    }

    /// Generates `DIR/NAME.key` and `DIR/NAME.pub`.
    pub fn keypair(dir: &Path, name: &str) -> Keys {
        let prefix = dir.join(name);
        rsign(&["generate-key-pair", "-o", prefix.to_str().unwrap()]).assert_success();
        Keys {
            key: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
        }
    }

    /// A path as `&str`.
    pub fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    /// Reads `index.json` of a layout.
    pub fn read_index(dir: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
    }

    /// Writes a blob into the layout and returns its digest.
    pub fn write_blob(dir: &Path, bytes: &[u8]) -> String {
        let digest = images::sha256_digest(bytes);
        let path = images::blob_path(dir, &digest);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        digest
    }

    /// Points `tag` at the manifest `bytes` (written as a blob) in `index.json`.
    pub fn set_tag(dir: &Path, tag: &str, bytes: &[u8]) -> String {
        let digest = write_blob(dir, bytes);
        let mut index = read_index(dir);
        let manifests = index["manifests"].as_array_mut().unwrap();
        manifests.retain(|m| m["annotations"][REF_NAME] != tag);
        manifests.push(json!({
            "mediaType": images::MANIFEST_MEDIA_TYPE,
            "digest": digest,
            "size": bytes.len(),
            "annotations": {REF_NAME: tag},
        }));
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        digest
    }

    /// The signature tag of `digest` (`sha256:<hex>` → `sha256-<hex>.sig`).
    pub fn sig_tag(digest: &str) -> String {
        format!("{}.sig", digest.replace(':', "-"))
    }

    /// The signature manifest of `digest` in the layout, if any.
    pub fn sig_manifest(dir: &Path, digest: &str) -> Option<Value> {
        let tag = sig_tag(digest);
        let index = read_index(dir);
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag.as_str())?
            .clone();
        let bytes = images::read_blob(dir, entry["digest"].as_str().unwrap());
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    /// The layers of the signature manifest of `digest` (empty if none).
    pub fn sig_layers(dir: &Path, digest: &str) -> Vec<Value> {
        sig_manifest(dir, digest)
            .map(|m| m["layers"].as_array().unwrap().clone())
            .unwrap_or_default()
    }

    /// A signature manifest with these layers (config need not exist for reading).
    pub fn sig_manifest_bytes(dir: &Path, layers: Vec<Value>) -> Vec<u8> {
        let config = write_blob(dir, b"{}");
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": images::MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": images::CONFIG_MEDIA_TYPE, "digest": config, "size": 2},
            "layers": layers,
        }))
        .unwrap()
    }

    /// A simple-signing layer descriptor over `payload` (written as a blob).
    pub fn sig_layer(dir: &Path, payload: &[u8], signature_b64: &str) -> Value {
        let digest = write_blob(dir, payload);
        json!({
            "mediaType": SIMPLE_SIGNING,
            "digest": digest,
            "size": payload.len(),
            "annotations": {SIG_ANNOTATION: signature_b64},
        })
    }
}

use helpers::*;

/// A temp dir with a layout `lay` holding image `v1` and a key pair `a`.
struct Fixture {
    dir: tempfile::TempDir,
    layout: PathBuf,
    digest: String,
    a: Keys,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("lay");
        let digest = images::build_image_layout(&layout, "v1", 1);
        let a = keypair(dir.path(), "a");
        Self {
            dir,
            layout,
            digest,
            a,
        }
    }

    fn image(&self) -> String {
        format!("oci:{}:v1", self.layout.display())
    }

    fn sign(&self, keys: &Keys, extra: &[&str]) -> Output {
        let image = self.image();
        let mut args = vec!["sign", "--key", s(&keys.key)];
        args.extend_from_slice(extra);
        args.push(&image);
        rsign(&args)
    }

    fn verify(&self, keys: &[&Keys], extra: &[&str]) -> Output {
        let image = self.image();
        let mut args = vec!["verify"];
        for k in keys {
            args.extend_from_slice(&["--key", s(&k.public)]);
        }
        args.extend_from_slice(extra);
        args.push(&image);
        rsign(&args)
    }
}

#[test]
fn sign_then_verify_text_and_json() {
    let f = Fixture::new();
    let out = f.sign(&f.a, &[]);
    out.assert_success().assert_stderr_contains(&format!(
        "signed oci:{}@{}",
        f.layout.display(),
        f.digest
    ));

    // The stored layer: cosign's media type, signature annotation, payload bytes.
    let layers = sig_layers(&f.layout, &f.digest);
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], SIMPLE_SIGNING);
    assert!(layers[0]["annotations"][SIG_ANNOTATION].as_str().is_some());
    let payload = images::read_blob(&f.layout, layers[0]["digest"].as_str().unwrap());
    let expected = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"v1"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        f.digest
    );
    assert_eq!(String::from_utf8(payload).unwrap(), expected);

    let out = f.verify(&[&f.a], &[]);
    out.assert_success();
    assert!(
        out.stdout.starts_with(&format!(
            "oci:{}@{} verified by ",
            f.layout.display(),
            f.digest
        )),
        "{out}"
    );

    let out = f.verify(&[&f.a], &["--output", "json"]);
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["digest"], f.digest.as_str());
    assert_eq!(v["image"], f.image().as_str());
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(v["keys"][0]["algorithm"], "ECDSA P-256");
    assert_eq!(v["keys"][0]["keyId"].as_str().unwrap().len(), 64);
    assert_eq!(
        v["signatures"][0]["payload"]["critical"]["image"]["docker-manifest-digest"],
        f.digest.as_str()
    );
    assert_eq!(v["reason"], Value::Null);
}

#[test]
fn wrong_key_fails_with_1() {
    let f = Fixture::new();
    let b = keypair(f.dir.path(), "b");
    f.sign(&f.a, &[]).assert_success();
    f.verify(&[&b], &[])
        .assert_code(1)
        .assert_stderr_contains("wrong key");
    let out = f.verify(&[&b], &["-o", "json"]);
    out.assert_code(1);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["verified"], false);
    assert!(v["reason"].as_str().unwrap().contains("wrong key"), "{v}");
}

#[test]
fn no_signature_exits_3_and_worst_status_wins() {
    let f = Fixture::new();
    f.verify(&[&f.a], &[])
        .assert_code(3)
        .assert_stderr_contains("no signatures found");
    // A second, signed image: verified + none → 3; verified + failed → 1; + error → 2.
    let other = f.dir.path().join("other");
    images::build_image_layout(&other, "v1", 2);
    let other_image = format!("oci:{}:v1", other.display());
    rsign(&["sign", "--key", s(&f.a.key), &other_image]).assert_success();
    let pubkey = s(&f.a.public);
    rsign(&["verify", "--key", pubkey, &other_image, &f.image()]).assert_code(3);
    let b = keypair(f.dir.path(), "b");
    rsign(&["sign", "--key", s(&b.key), &f.image()]).assert_success();
    rsign(&["verify", "--key", pubkey, &other_image, &f.image()]).assert_code(1);
    let missing = format!("oci:{}:nope", other.display());
    rsign(&[
        "verify",
        "--key",
        pubkey,
        &other_image,
        &f.image(),
        &missing,
    ])
    .assert_code(2)
    .assert_stderr_contains("no such image");
}

#[test]
fn tampered_payload_fails_with_1() {
    let f = Fixture::new();
    f.sign(&f.a, &[]).assert_success();
    let layers = sig_layers(&f.layout, &f.digest);
    let payload = images::read_blob(&f.layout, layers[0]["digest"].as_str().unwrap());
    let signature = layers[0]["annotations"][SIG_ANNOTATION].as_str().unwrap();
    // Same signature, payload edited (another identity): the blob, layer and
    // manifest digests all match, the signature does not.
    let edited = String::from_utf8(payload)
        .unwrap()
        .replace("\"v1\"", "\"v2\"");
    let layer = sig_layer(&f.layout, edited.as_bytes(), signature);
    let manifest = sig_manifest_bytes(&f.layout, vec![layer]);
    set_tag(&f.layout, &sig_tag(&f.digest), &manifest);
    f.verify(&[&f.a], &[])
        .assert_code(1)
        .assert_stderr_contains("wrong key");
}

#[test]
fn valid_signature_for_another_digest_fails_with_1() {
    let f = Fixture::new();
    let other = images::build_image_layout(&f.layout, "v2", 7);
    let v2 = format!("oci:{}:v2", f.layout.display());
    rsign(&["sign", "--key", s(&f.a.key), &v2]).assert_success();
    // Move v2's (valid) signature manifest under v1's signature tag.
    let manifest = sig_manifest(&f.layout, &other).unwrap();
    set_tag(
        &f.layout,
        &sig_tag(&f.digest),
        &serde_json::to_vec(&manifest).unwrap(),
    );
    f.verify(&[&f.a], &[])
        .assert_code(1)
        .assert_stderr_contains("digest mismatch");
}

#[test]
fn bad_base64_signature_fails_with_1() {
    let f = Fixture::new();
    f.sign(&f.a, &[]).assert_success();
    let layers = sig_layers(&f.layout, &f.digest);
    let payload = images::read_blob(&f.layout, layers[0]["digest"].as_str().unwrap());
    let layer = sig_layer(&f.layout, &payload, "!!!not base64***");
    let manifest = sig_manifest_bytes(&f.layout, vec![layer]);
    set_tag(&f.layout, &sig_tag(&f.digest), &manifest);
    f.verify(&[&f.a], &[])
        .assert_code(1)
        .assert_stderr_contains("not valid base64");
}

#[test]
fn threshold_counts_distinct_keys() {
    let f = Fixture::new();
    let b = keypair(f.dir.path(), "b");
    f.sign(&f.a, &[]).assert_success();
    // Only a signed: threshold 2 of {a, b} fails.
    f.verify(&[&f.a, &b], &["--threshold", "2"])
        .assert_code(1)
        .assert_stderr_contains("threshold not met: 1 of 2");
    // The same key twice counts once: refused as a usage error.
    f.verify(&[&f.a, &f.a], &["--threshold", "2"])
        .assert_code(2);
    f.sign(&b, &[]).assert_success();
    let out = f.verify(&[&f.a, &b], &["--threshold", "2", "-o", "json"]);
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    // Threshold above the number of keys is a usage error.
    f.verify(&[&f.a], &["--threshold", "2"]).assert_code(2);
}

#[test]
fn signing_twice_adds_one_layer() {
    let f = Fixture::new();
    f.sign(&f.a, &[]).assert_success();
    f.sign(&f.a, &[])
        .assert_success()
        .assert_stderr_contains("already signed");
    assert_eq!(sig_layers(&f.layout, &f.digest).len(), 1);
    // A different payload (annotation) is a second signature.
    f.sign(&f.a, &["-a", "k=v"]).assert_success();
    assert_eq!(sig_layers(&f.layout, &f.digest).len(), 2);
}

#[test]
fn required_annotations() {
    let f = Fixture::new();
    f.sign(&f.a, &["-a", "env=prod", "-a", "team=x"])
        .assert_success();
    let layers = sig_layers(&f.layout, &f.digest);
    let payload = images::read_blob(&f.layout, layers[0]["digest"].as_str().unwrap());
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["optional"], json!({"env": "prod", "team": "x"}));
    f.verify(&[&f.a], &["-a", "env=prod"]).assert_success();
    f.verify(&[&f.a], &["-a", "env=prod", "-a", "team=x"])
        .assert_success();
    f.verify(&[&f.a], &["-a", "env=dev"])
        .assert_code(1)
        .assert_stderr_contains("annotation `env=dev` missing");
    f.verify(&[&f.a], &["-a", "other=1"]).assert_code(1);
    f.verify(&[&f.a], &["-a", "novalue"]).assert_code(2);
}

#[test]
fn identity_for_layouts() {
    let f = Fixture::new();
    f.sign(
        &f.a,
        &["--sign-container-identity", "registry.example/team/app"],
    )
    .assert_success();
    // Not checked for a layout without --identity (shown in JSON).
    let out = f.verify(&[&f.a], &["-o", "json"]);
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["signatures"][0]["payload"]["critical"]["identity"]["docker-reference"],
        "registry.example/team/app"
    );
    f.verify(&[&f.a], &["--identity", "registry.example/team/app"])
        .assert_success();
    f.verify(&[&f.a], &["--identity", "registry.example/team/app:v9"])
        .assert_success();
    f.verify(&[&f.a], &["--identity", "registry.example/team/other"])
        .assert_code(1)
        .assert_stderr_contains("identity mismatch");
    f.verify(
        &[&f.a],
        &[
            "--identity",
            "registry.example/team/other",
            "--insecure-skip-identity-check",
        ],
    )
    .assert_success()
    .assert_stderr_contains("warning:");
}

#[test]
fn layer_limit_is_an_error_naming_it() {
    let f = Fixture::new();
    f.sign(&f.a, &[]).assert_success();
    let layer = sig_layers(&f.layout, &f.digest)[0].clone();
    let manifest = sig_manifest_bytes(&f.layout, vec![layer; 1001]);
    set_tag(&f.layout, &sig_tag(&f.digest), &manifest);
    f.verify(&[&f.a], &[])
        .assert_code(2)
        .assert_stderr_contains("limit of 1000 layers");
    // The signature count limit (default 100) is an error too, not a truncation.
    let layer = sig_layers(&f.layout, &f.digest)[0].clone();
    let manifest = sig_manifest_bytes(&f.layout, vec![layer; 101]);
    set_tag(&f.layout, &sig_tag(&f.digest), &manifest);
    f.verify(&[&f.a], &[])
        .assert_code(2)
        .assert_stderr_contains("limit of 100 signatures");
}

#[test]
fn recursive_signs_index_and_every_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("idx");
    let index = images::build_index_layout(&layout, "multi", 3);
    let a = keypair(dir.path(), "a");
    let image = format!("oci:{}:multi", layout.display());
    rsign(&["sign", "--key", s(&a.key), "--recursive", &image]).assert_success();
    assert_eq!(sig_layers(&layout, &index.digest).len(), 1);
    for p in &index.platforms {
        assert_eq!(sig_layers(&layout, &p.digest).len(), 1, "{}", p.digest);
        let pinned = format!("oci:{}@{}", layout.display(), p.digest);
        rsign(&[
            "verify",
            "--key",
            s(&a.public),
            "--identity",
            "multi",
            &pinned,
        ])
        .assert_success();
    }
    // Without --recursive only the index is signed.
    let layout2 = dir.path().join("idx2");
    let index2 = images::build_index_layout(&layout2, "multi", 4);
    let image2 = format!("oci:{}:multi", layout2.display());
    rsign(&["sign", "--key", s(&a.key), &image2]).assert_success();
    assert_eq!(sig_layers(&layout2, &index2.digest).len(), 1);
    assert!(sig_layers(&layout2, &index2.platforms[0].digest).is_empty());
}

#[test]
fn bad_targets_are_usage_errors() {
    let f = Fixture::new();
    // Layout by digest has no name: an identity is required.
    let pinned = format!("oci:{}@{}", f.layout.display(), f.digest);
    rsign(&["sign", "--key", s(&f.a.key), &pinned])
        .assert_code(2)
        .assert_stderr_contains("--sign-container-identity");
    rsign(&["sign", "--key", s(&f.a.key), "NOT A REF"]).assert_code(2);
    let missing = format!("oci:{}", f.dir.path().join("none").display());
    rsign(&["verify", "--key", s(&f.a.public), &missing]).assert_code(2);
    // Layout without tag: its only image.
    let bare = format!("oci:{}", f.layout.display());
    rsign(&["sign", "--key", s(&f.a.key), &bare]).assert_success();
    rsign(&["verify", "--key", s(&f.a.public), &bare]).assert_success();
}
