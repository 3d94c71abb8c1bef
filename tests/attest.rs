//! Attestations through the `rsign` binary on OCI layouts: `attest` for each
//! cosign predicate type, `verify-attestation` (types, keys, nothing
//! attached, `--replace`, forged and broken layers), the Rego gate with the
//! shipped example policies, and `attest-blob` / `verify-blob-attestation`
//! including cosign's 14 verify-blob-attestation cases.

// Test helpers abort the test with a message: panicking is their error handling.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::support::images::{build_image_layout, sha256_digest};
use crate::support::tools::{rsign_bin, workspace_root};

const PW: &str = "attest test password";

pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
pub const SLSA02: &str = "https://slsa.dev/provenance/v0.2";
pub const SLSA1: &str = "https://slsa.dev/provenance/v1";
pub const SPDX: &str = "https://spdx.dev/Document";
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

const TRUSTED_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

/// What one run of `rsign` returned.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_empty(&self) -> &Self {
        assert!(
            self.stdout.is_empty(),
            "stdout should be empty:\n{}",
            String::from_utf8_lossy(&self.stdout)
        );
        self
    }

    /// The envelopes printed on stdout, one JSON per line.
    pub fn envelopes(&self) -> Vec<Value> {
        String::from_utf8(self.stdout.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The decoded statement of a DSSE envelope.
pub fn statement_of(envelope: &Value) -> Value {
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// A working directory with a key pair and an image layout.
pub struct Env {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let env = Self { _tmp: tmp, dir };
        env.rsign(&["generate-key-pair"]).code(0);
        env.rsign(&["generate-key-pair", "--output-key-prefix", "other"])
            .code(0);
        env
    }

    pub fn rsign(&self, args: &[&str]) -> Run {
        self.rsign_env(args, &[])
    }

    pub fn rsign_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(rsign_bin());
        cmd.args(args)
            .current_dir(&self.dir)
            .env("RSIGN_PASSWORD", PW)
            .env_remove("COSIGN_PASSWORD")
            .env_remove("RSIGN_REPOSITORY")
            .env_remove("COSIGN_REPOSITORY")
            .env_remove("COSIGN_MAX_ATTACHMENT_SIZE")
            .env_remove("RSIGN_MAX_ATTACHMENT_SIZE")
            .env("NO_COLOR", "1");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Builds image `tag` (seeded) in layout `layout`, returns its digest.
    pub fn image(&self, layout: &str, tag: &str, seed: u64) -> String {
        build_image_layout(&self.dir.join(layout), tag, seed)
    }

    pub fn write(&self, name: &str, content: &[u8]) -> String {
        fs::write(self.dir.join(name), content).unwrap();
        name.to_owned()
    }

    pub fn attest(&self, image: &str, type_name: &str, predicate: &str) -> Run {
        self.rsign(&[
            "attest",
            "--key",
            "cosign.key",
            "--type",
            type_name,
            "--predicate",
            predicate,
            image,
        ])
    }

    pub fn verify(&self, image: &str, type_name: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "verify-attestation",
            "--key",
            "cosign.pub",
            "--type",
            type_name,
        ];
        args.extend_from_slice(extra);
        args.push(image);
        self.rsign(&args)
    }
}

pub fn testdata(rel: &str) -> String {
    workspace_root()
        .join("keys-testdata")
        .join(rel)
        .display()
        .to_string()
}

pub fn example_policy(name: &str) -> String {
    workspace_root()
        .join("examples/policies")
        .join(name)
        .display()
        .to_string()
}

pub fn slsa02_predicate(builder: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "builder": {"id": builder},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {}},
        "materials": [{"uri": "git+https://github.com/example/app", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}]
    }))
    .unwrap()
}

pub fn slsa1_predicate(builder: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {"ref": "main"}},
        "runDetails": {"builder": {"id": builder}}
    }))
    .unwrap()
}

pub fn spdx_with_packages() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "app", "documentNamespace": "https://example.com/spdx/app",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: test"]},
        "packages": [{"name": "openssl", "SPDXID": "SPDXRef-Package-openssl", "versionInfo": "3.1.4"}]
    }))
    .unwrap()
}

// ---- layout surgery: rewrite the `.att` manifest of an image by hand ----

fn write_blob(layout: &Path, data: &[u8]) -> (String, u64) {
    let digest = sha256_digest(data);
    let hex = digest.strip_prefix("sha256:").unwrap();
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(hex), data).unwrap();
    (digest, data.len() as u64)
}

/// Applies `edit` to the layer list of `image`'s `.att` manifest in `layout`
/// and puts the edited manifest under the tag.
pub fn edit_att_layers(layout: &Path, image: &str, edit: impl FnOnce(&mut Vec<Value>)) {
    let tag = format!("{}.att", image.replace(':', "-"));
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let entries = index["manifests"].as_array_mut().unwrap();
    let entry = entries
        .iter_mut()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap_or_else(|| panic!("no {tag} in the layout"));
    let manifest_digest = entry["digest"].as_str().unwrap().to_owned();
    let hex = manifest_digest.strip_prefix("sha256:").unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap();
    let layers = manifest["layers"].as_array_mut().unwrap();
    edit(layers);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (digest, size) = write_blob(layout, &bytes);
    entry["digest"] = json!(digest);
    entry["size"] = json!(size);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A DSSE layer descriptor for `envelope` (written to the layout) with a
/// `predicateType` annotation of `annotated`.
pub fn forged_layer(layout: &Path, envelope: &[u8], annotated: &str) -> Value {
    let (digest, size) = write_blob(layout, envelope);
    json!({
        "mediaType": "application/vnd.dsse.envelope.v1+json",
        "size": size,
        "digest": digest,
        "annotations": {"dev.cosignproject.cosign/signature": "", "predicateType": annotated}
    })
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An envelope over arbitrary `payload`, signed with `cosign.key` through
/// `rsign sign-blob` over the PAE (ECDSA P-256 signs the SHA-256 of it,
/// exactly what DSSE verification checks).
pub fn envelope_over(env: &Env, payload: &[u8]) -> Vec<u8> {
    let payload_type = "application/vnd.in-toto+json";
    env.write("pae.bin", &pae(payload_type, payload));
    let run = env.rsign(&["sign-blob", "--key", "cosign.key", "pae.bin"]);
    run.code(0);
    let sig = String::from_utf8(run.stdout.clone()).unwrap();
    serde_json::to_vec(&json!({
        "payloadType": payload_type,
        "payload": STANDARD.encode(payload),
        "signatures": [{"keyid": "", "sig": sig.trim()}]
    }))
    .unwrap()
}

// ---- attest / verify-attestation ----

#[test]
fn every_type_attests_and_verifies_with_cosign_storage() {
    let env = Env::new();
    let digest = env.image("lay", "v1", 1);
    let image = "oci:lay:v1";
    env.write("slsa.json", &slsa02_predicate(TRUSTED_BUILDER));
    let cases = [
        (
            "custom",
            CUSTOM,
            testdata("cosign/spec-examples/captured-cosign-2.5/pred.json"),
        ),
        ("slsaprovenance", SLSA02, "slsa.json".to_owned()),
        (
            "spdxjson",
            SPDX,
            testdata("cosign/predicates/bom-go-mod.spdx.json"),
        ),
        (
            "cyclonedx",
            CYCLONEDX,
            testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
        ),
        (
            "vuln",
            VULN,
            testdata("cosign/predicates/vuln-predicate.json"),
        ),
    ];
    for (name, _, predicate) in &cases {
        env.attest(image, name, predicate)
            .code(0)
            .stderr_has("attested oci:lay@sha256:");
    }
    for (name, uri, _) in &cases {
        let run = env.verify(image, name, &[]);
        run.code(0);
        let envelopes = run.envelopes();
        assert_eq!(envelopes.len(), 1, "{name}");
        assert_eq!(envelopes[0]["payloadType"], "application/vnd.in-toto+json");
        let statement = statement_of(&envelopes[0]);
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v0.1");
        assert_eq!(statement["predicateType"], *uri);
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.strip_prefix("sha256:").unwrap()
        );
    }
    // Storage as cosign: one DSSE layer per attestation with its annotations.
    let layout = env.dir.join("lay");
    let mut seen = Vec::new();
    edit_att_layers(&layout, &digest, |layers| {
        for l in layers.iter() {
            assert_eq!(l["mediaType"], "application/vnd.dsse.envelope.v1+json");
            assert_eq!(l["annotations"]["dev.cosignproject.cosign/signature"], "");
            seen.push(
                l["annotations"]["predicateType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    });
    let expected: Vec<String> = cases.iter().map(|(_, u, _)| (*u).to_owned()).collect();
    assert_eq!(seen, expected);
    // The custom predicate is cosign's {Data, Timestamp} wrapper.
    let run = env.verify(image, "custom", &[]);
    let custom = statement_of(&run.envelopes()[0]);
    assert!(
        custom["predicate"]["Data"]
            .as_str()
            .unwrap()
            .contains("hello")
    );
    assert!(
        custom["predicate"]["Timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn wrong_type_wrong_key_and_nothing_attached() {
    let env = Env::new();
    env.image("lay", "a", 1);
    env.image("lay", "b", 2);
    env.attest(
        "oci:lay:a",
        "custom",
        &testdata("cosign/predicates/test-result.json"),
    )
    .code(0);
    // Wrong type: exit 1, nothing on stdout, the reason on stderr.
    env.verify("oci:lay:a", "spdxjson", &[])
        .code(1)
        .stdout_empty()
        .stderr_has("other types only: https://cosign.sigstore.dev/attestation/v1");
    env.verify("oci:lay:a", "https://example.com/other/v1", &[])
        .code(1)
        .stdout_empty();
    // Wrong key.
    env.rsign(&["verify-attestation", "--key", "other.pub", "oci:lay:a"])
        .code(1)
        .stdout_empty()
        .stderr_has("does not verify with any");
    // Two keys, threshold 2: only one signed.
    env.rsign(&[
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--key",
        "other.pub",
        "--threshold",
        "2",
        "oci:lay:a",
    ])
    .code(1)
    .stdout_empty()
    .stderr_has("threshold not met");
    // Either key of two is enough with threshold 1.
    env.rsign(&[
        "verify-attestation",
        "--key",
        "other.pub",
        "--key",
        "cosign.pub",
        "oci:lay:a",
    ])
    .code(0);
    // Nothing attached: exit 3.
    env.verify("oci:lay:b", "custom", &[])
        .code(3)
        .stdout_empty();
    // Several images: the worst wins and stdout stays empty.
    env.verify("oci:lay:a", "custom", &["oci:lay:b"])
        .code(3)
        .stdout_empty();
    // A bad --type is a usage error.
    env.verify("oci:lay:a", "not a type", &[])
        .code(2)
        .stdout_empty();
}

#[test]
fn several_images_at_once_and_replace() {
    let env = Env::new();
    let da = env.image("lay", "a", 1);
    let db = env.image("lay", "b", 2);
    let pred = testdata("cosign/predicates/test-result.json");
    env.rsign(&[
        "attest",
        "--key",
        "cosign.key",
        "--predicate",
        &pred,
        "--jobs",
        "2",
        "oci:lay:a",
        "oci:lay:b",
    ])
    .code(0);
    // A second, different custom attestation on `a` (the same predicate
    // within the same second would give byte-identical envelopes — the
    // custom predicate's timestamp has second resolution — which are stored once).
    env.attest(
        "oci:lay:a",
        "custom",
        &testdata("cosign/predicates/vuln-predicate.json"),
    )
    .code(0);
    env.attest(
        "oci:lay:a",
        "cyclonedx",
        &testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
    )
    .code(0);
    let run = env.verify("oci:lay:a", "custom", &["oci:lay:b"]);
    run.code(0);
    assert_eq!(run.envelopes().len(), 3, "two on a, one on b");
    let subjects: Vec<String> = run
        .envelopes()
        .iter()
        .map(|e| {
            statement_of(e)["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(subjects.contains(&da.replace("sha256:", "")));
    assert!(subjects.contains(&db.replace("sha256:", "")));
    // --replace drops both custom attestations of a, keeps the cyclonedx one.
    env.rsign(&[
        "attest",
        "--key",
        "cosign.key",
        "--predicate",
        &pred,
        "--replace",
        "oci:lay:a",
    ])
    .code(0)
    .stderr_has("replaced 2 earlier attestation(s)");
    assert_eq!(
        env.verify("oci:lay:a", "custom", &[])
            .code(0)
            .envelopes()
            .len(),
        1
    );
    assert_eq!(
        env.verify("oci:lay:a", "cyclonedx", &[])
            .code(0)
            .envelopes()
            .len(),
        1
    );
    assert_eq!(
        env.verify("oci:lay:b", "custom", &[])
            .code(0)
            .envelopes()
            .len(),
        1
    );
}

#[test]
fn annotation_claiming_another_type_is_rejected() {
    let env = Env::new();
    let digest = env.image("lay", "v1", 1);
    let layout = env.dir.join("lay");
    // A genuine custom attestation of this image, signed by the trusted key...
    env.write("p.json", br#"{"passed":true}"#);
    let run = env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--hash",
        digest.strip_prefix("sha256:").unwrap(),
        "img",
    ]);
    run.code(0);
    let envelope = run.stdout.clone();
    // ...first attached honestly (so the .att tag exists), then a copy whose
    // annotation claims SLSA provenance.
    env.attest("oci:lay:v1", "openvex", "p.json").code(0);
    let forged = forged_layer(&layout, envelope.trim_ascii_end(), SLSA02);
    edit_att_layers(&layout, &digest, |layers| layers.push(forged));
    let run = env.verify("oci:lay:v1", "slsaprovenance", &[]);
    run.code(1)
        .stdout_empty()
        .stderr_has("annotation says `https://slsa.dev/provenance/v0.2` but the signed statement says `https://cosign.sigstore.dev/attestation/v1`");
    // The same layer is no good as a custom attestation either.
    env.verify("oci:lay:v1", "custom", &[])
        .code(1)
        .stdout_empty()
        .stderr_has("annotation says");
    // The honest openvex layer still verifies, and the forged one is warned about.
    env.verify("oci:lay:v1", "openvex", &[])
        .code(0)
        .stderr_has("annotation says");
}

#[test]
fn statement_about_another_digest_or_not_json_is_rejected() {
    let env = Env::new();
    let digest = env.image("lay", "v1", 1);
    let other = env.image("lay", "v2", 2);
    let layout = env.dir.join("lay");
    env.write("p.json", br#"{"passed":true}"#);
    // Signed by the trusted key, custom type, but about the other image.
    let run = env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--hash",
        other.strip_prefix("sha256:").unwrap(),
        "img",
    ]);
    run.code(0);
    let about_other = run.stdout.clone();
    env.attest("oci:lay:v1", "openvex", "p.json").code(0);
    let layer = forged_layer(&layout, about_other.trim_ascii_end(), CUSTOM);
    edit_att_layers(&layout, &digest, |layers| layers.push(layer));
    env.verify("oci:lay:v1", "custom", &[])
        .code(1)
        .stdout_empty()
        .stderr_has(&format!(
            "no subject of the attestation has digest {digest}"
        ));
    // A validly signed envelope whose payload is not JSON, and one that is
    // not an envelope at all: rejected, no panic.
    let not_json = envelope_over(&env, b"this is not json {");
    let l1 = forged_layer(&layout, &not_json, CUSTOM);
    let l2 = forged_layer(&layout, b"\x00\xffgarbage", CUSTOM);
    let statement_v2 = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v9", "predicateType": CUSTOM,
        "subject": [{"name": "x", "digest": {"sha256": digest.strip_prefix("sha256:").unwrap()}}],
        "predicate": {}
    }))
    .unwrap();
    let bad_type = envelope_over(&env, &statement_v2);
    let l3 = forged_layer(&layout, &bad_type, CUSTOM);
    edit_att_layers(&layout, &digest, |layers| {
        layers.push(l1);
        layers.push(l2);
        layers.push(l3);
    });
    env.verify("oci:lay:v1", "custom", &[])
        .code(1)
        .stdout_empty()
        .stderr_has("invalid in-toto statement JSON")
        .stderr_has("invalid dsse envelope JSON")
        .stderr_has("in-toto statement has _type `https://in-toto.io/Statement/v9`");
}

// ---- the Rego gate ----

#[test]
fn rego_deny_critical_vulns_gate() {
    let env = Env::new();
    env.image("lay", "critical", 1);
    env.image("lay", "clean", 2);
    env.attest(
        "oci:lay:critical",
        "vuln",
        &testdata("trivy/report-critical.json"),
    )
    .code(0)
    .stderr_has("Wrapped the Trivy report");
    env.attest(
        "oci:lay:clean",
        "vuln",
        &testdata("trivy/report-no-critical.json"),
    )
    .code(0);
    let policy = example_policy("deny-critical-vulns.rego");
    env.verify("oci:lay:critical", "vuln", &["--policy", &policy])
        .code(1)
        .stdout_empty()
        .stderr_has("deny-critical-vulns.rego denied")
        .stderr_has("CVE-2024-3094");
    let run = env.verify("oci:lay:clean", "vuln", &["--policy", &policy]);
    run.code(0).stderr_has("HIGH");
    let statement = statement_of(&run.envelopes()[0]);
    let report: Value =
        serde_json::from_slice(&fs::read(testdata("trivy/report-no-critical.json")).unwrap())
            .unwrap();
    assert_eq!(statement["predicate"]["scanner"]["result"], report);
    // Without the policy the critical image verifies.
    env.verify("oci:lay:critical", "vuln", &[]).code(0);
    // A cosign-shaped vuln predicate without a report fails closed.
    env.image("lay", "empty", 3);
    env.attest(
        "oci:lay:empty",
        "vuln",
        &testdata("cosign/predicates/vuln-predicate.json"),
    )
    .code(0);
    env.verify("oci:lay:empty", "vuln", &["--policy", &policy])
        .code(1)
        .stderr_has("no Trivy JSON report");
}

#[test]
fn rego_slsa_builder_and_require_sbom() {
    let env = Env::new();
    env.image("lay", "good", 1);
    env.image("lay", "bad", 2);
    env.write(
        "good.json",
        &slsa02_predicate(&format!("{TRUSTED_BUILDER}@refs/tags/v2.0.0")),
    );
    env.write(
        "bad.json",
        &slsa02_predicate("https://evil.example/builder"),
    );
    env.write("good1.json", &slsa1_predicate(TRUSTED_BUILDER));
    env.attest("oci:lay:good", "slsaprovenance", "good.json")
        .code(0);
    env.attest("oci:lay:good", "slsaprovenance1", "good1.json")
        .code(0);
    env.attest("oci:lay:bad", "slsaprovenance", "bad.json")
        .code(0);
    let slsa = example_policy("slsa-builder.rego");
    env.verify("oci:lay:good", "slsaprovenance", &["--policy", &slsa])
        .code(0);
    let run = env.verify("oci:lay:good", "slsaprovenance1", &["--policy", &slsa]);
    assert_eq!(
        statement_of(&run.code(0).envelopes()[0])["predicateType"],
        SLSA1
    );
    env.verify("oci:lay:bad", "slsaprovenance", &["--policy", &slsa])
        .code(1)
        .stdout_empty()
        .stderr_has("evil.example/builder");

    let sbom = example_policy("require-sbom.rego");
    env.write("spdx.json", &spdx_with_packages());
    env.attest("oci:lay:good", "spdxjson", "spdx.json").code(0);
    env.attest(
        "oci:lay:bad",
        "cyclonedx",
        &testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
    )
    .code(0);
    env.verify("oci:lay:good", "spdxjson", &["--policy", &sbom])
        .code(0);
    env.verify("oci:lay:bad", "cyclonedx", &["--policy", &sbom])
        .code(1)
        .stdout_empty()
        .stderr_has("lists no packages");
    // Two policies: both must allow.
    env.verify(
        "oci:lay:good",
        "spdxjson",
        &["--policy", &sbom, "--policy", &slsa],
    )
    .code(1)
    .stderr_has("expected SLSA provenance");
}

#[test]
fn cue_and_broken_policies_are_usage_errors() {
    let env = Env::new();
    env.image("lay", "v1", 1);
    env.attest(
        "oci:lay:v1",
        "custom",
        &testdata("cosign/predicates/test-result.json"),
    )
    .code(0);
    env.write("p.cue", b"predicate: { passed: true }\n");
    env.verify("oci:lay:v1", "custom", &["--policy", "p.cue"])
        .code(2)
        .stdout_empty()
        .stderr_has("CUE is not supported; use Rego");
    env.write("broken.rego", b"package sigstore\nisCompliant := {\n");
    env.verify("oci:lay:v1", "custom", &["--policy", "broken.rego"])
        .code(2)
        .stdout_empty();
    // A policy over the custom predicate's Data string: allowed.
    env.write(
        "ok.rego",
        b"package sigstore\nimport rego.v1\ndefault isCompliant := false\nisCompliant if contains(input.predicate.Data, \"passed\")\n",
    );
    env.verify("oci:lay:v1", "custom", &["--policy", "ok.rego"])
        .code(0);
}

// ---- attest-blob / verify-blob-attestation ----

#[test]
fn attest_blob_round_trip_and_outputs() {
    let env = Env::new();
    env.write("release.tar", b"some-payload");
    env.write("p.json", br#"{"passed":true}"#);
    let run = env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--type",
        "openvex",
        "--output-attestation",
        "st.json",
        "release.tar",
    ]);
    run.code(0);
    let envelope: Value = serde_json::from_slice(&run.stdout).unwrap();
    let statement = statement_of(&envelope);
    assert_eq!(statement["subject"][0]["name"], "release.tar");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24"
    );
    let written: Value =
        serde_json::from_slice(&fs::read(env.dir.join("st.json")).unwrap()).unwrap();
    assert_eq!(written, statement);
    env.write("env.json", &run.stdout);
    let verify = |extra: &[&str], file: Option<&str>| {
        let mut args = vec![
            "verify-blob-attestation",
            "--key",
            "cosign.pub",
            "--signature",
            "env.json",
        ];
        args.extend_from_slice(extra);
        args.extend(file);
        env.rsign(&args)
    };
    verify(&["--type", "openvex"], Some("release.tar"))
        .code(0)
        .stderr_has("Verified OK");
    verify(&[], Some("release.tar"))
        .code(1)
        .stderr_has("expected `https://cosign.sigstore.dev/attestation/v1`");
    verify(&["--type", "openvex"], Some("p.json")).code(1);
    // --output-signature: the envelope goes to the file, not stdout.
    env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--output-signature",
        "sig.json",
        "release.tar",
    ])
    .code(0)
    .stdout_empty();
    env.rsign(&[
        "verify-blob-attestation",
        "--key",
        "cosign.pub",
        "--signature",
        "sig.json",
        "release.tar",
    ])
    .code(0);
    env.rsign(&[
        "verify-blob-attestation",
        "--key",
        "other.pub",
        "--signature",
        "sig.json",
        "release.tar",
    ])
    .code(1);
    // --hash without the file, inline base64 envelope, --digest instead of the blob.
    let run = env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--hash",
        "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24",
        "elsewhere/release.tar",
    ]);
    run.code(0);
    let inline = STANDARD.encode(run.stdout.trim_ascii_end());
    env.rsign(&[
        "verify-blob-attestation",
        "--key",
        "cosign.pub",
        "--signature",
        &inline,
        "release.tar",
    ])
    .code(0);
    env.rsign(&[
        "verify-blob-attestation",
        "--key",
        "cosign.pub",
        "--signature",
        &inline,
        "--digest",
        "sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24",
    ])
    .code(0);
    env.rsign(&[
        "attest-blob",
        "--key",
        "cosign.key",
        "--predicate",
        "p.json",
        "--hash",
        "xyz",
        "f",
    ])
    .code(2);
    env.rsign(&[
        "verify-blob-attestation",
        "--key",
        "cosign.pub",
        "--signature",
        "garbage!",
        "release.tar",
    ])
    .code(1)
    .stdout_empty();
}

#[test]
fn cosign_verify_blob_attestation_cases() {
    let env = Env::new();
    let dir = workspace_root().join("keys-testdata/cosign/verify-blob-attestation");
    let cases: Value = serde_json::from_slice(&fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let path = |name: &str| {
        if name.starts_with('/') {
            name.to_owned()
        } else {
            dir.join(name).display().to_string()
        }
    };
    let mut count = 0;
    for (group, check_claims) in [
        ("check_claims_true", "true"),
        ("check_claims_false", "false"),
    ] {
        for case in cases[group].as_array().unwrap() {
            count += 1;
            let desc = case["desc"].as_str().unwrap();
            let run_with = |type_name: Option<&str>| {
                let mut args: Vec<String> = vec![
                    "verify-blob-attestation".into(),
                    "--key".into(),
                    path("cosign.pub"),
                    "--signature".into(),
                    path(case["signature"].as_str().unwrap()),
                    "--insecure-ignore-tlog".into(),
                    format!("--check-claims={check_claims}"),
                ];
                if let Some(t) = type_name {
                    args.extend(["--type".into(), t.to_owned()]);
                }
                if let Some(d) = case["digest"].as_str() {
                    args.extend(["--digest".into(), d.to_owned()]);
                }
                if let Some(b) = case["blob"].as_str() {
                    args.push(path(b));
                }
                let vars: Vec<(&str, &str)> = case["env"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                            .collect()
                    })
                    .unwrap_or_default();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                env.rsign_env(&args, &vars)
            };
            let type_name = case["type"].as_str();
            let run = run_with(type_name);
            match case["expect"].as_str().unwrap() {
                "pass" => {
                    run.code(0);
                    assert!(run.stderr.contains("Verified OK"), "{desc}");
                }
                _ => {
                    assert_ne!(run.code, Some(0), "{desc}: should fail\n{}", run.stderr);
                    assert!(!run.stderr.contains("panicked"), "{desc}");
                    // Without a type cosign's default `custom` already fails;
                    // with the envelope's real type the case must still fail
                    // for its own reason.
                    if type_name.is_none() {
                        let again = run_with(Some("slsaprovenance"));
                        assert_ne!(again.code, Some(0), "{desc} (with the right type)");
                    }
                }
            }
        }
    }
    assert_eq!(count, 14, "cosign's table has 14 cases");
}
