//! `rsign policy check` and `rsign policy eval`: policy validation with
//! positions, decisions without network (static authorities, no match), and
//! end to end against a real registry (signatures by `rsign sign`,
//! attestations by cosign 2.5, keysets, thresholds, warn mode, single flight).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::cosign::{Cosign, registry_flags};
use crate::support::images;
use crate::support::process::{self, Output};
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::skopeo::Skopeo;
use crate::support::tools::{rsign_bin, workspace_root};

/// Password of every key generated here.
const PW: &str = "policy-test-password";

fn rsign_cmd(args: &[&str]) -> Command {
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

fn rsign(args: &[&str]) -> Output {
    let out = process::run(rsign_cmd(args), Duration::from_secs(120));
    assert!(!out.stderr.contains("panicked"), "rsign panicked:\n{out}");
    out
}

fn fixtures() -> PathBuf {
    workspace_root().join("keys-testdata/policies")
}

fn fixture(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

/// The JSON documents of `--output json`, one per line.
fn json_lines(out: &Output) -> Vec<Value> {
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}\n{out}")))
        .collect()
}

// ---------------------------------------------------------------- check

#[test]
fn check_accepts_valid_files_and_directories() {
    for target in [
        fixture("valid/cip.yaml"),
        fixture("valid/native.yaml"),
        fixture("valid/static.json"),
        fixture("valid"),
    ] {
        let out = rsign(&["policy", "check", &target]);
        out.assert_code(0).assert_stderr_contains("valid");
        assert_eq!(out.stdout, "", "no problems expected for {target}");
    }
}

#[test]
fn check_reports_an_unknown_field_with_line_and_column() {
    let file = fixture("invalid/unknown-field.yaml");
    let out = rsign(&["policy", "check", &file]);
    out.assert_code(2);
    assert!(
        out.stdout.starts_with(&format!(
            "{file}:10:5: spec.authorities[0]: unknown field `kee`"
        )),
        "{out}"
    );
}

#[test]
fn check_rejects_keyless_naming_the_field() {
    let file = fixture("invalid/keyless.yaml");
    let out = rsign(&["policy", "check", &file]);
    out.assert_code(2)
        .assert_stdout_contains(&format!("{file}:9:5:"))
        .assert_stdout_contains("`keyless` is not supported by rsign");
}

#[test]
fn check_rejects_threshold_in_a_cluster_image_policy() {
    let file = fixture("invalid/cip-threshold.yaml");
    let out = rsign(&["policy", "check", &file]);
    out.assert_code(2)
        .assert_stdout_contains(&format!("{file}:16:5:"))
        .assert_stdout_contains("unknown field `threshold`");
}

#[test]
fn check_lists_every_problem_of_a_file() {
    let file = fixture("invalid/several.yaml");
    let out = rsign(&["policy", "check", &file]);
    out.assert_code(2);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with(&format!("{file}:12:5:")) && lines[0].contains("type: cue"));
    assert!(lines[1].contains("policy `too-many`") && lines[1].contains("missing.pub"));
    assert!(lines[2].starts_with(&format!("{file}:27:1:")) && lines[2].contains("Something"));
    out.assert_stderr_contains("3 problem(s)");

    // Several inputs at once: problems of every file, in order; JSON form.
    let out = rsign(&[
        "policy",
        "check",
        "--output",
        "json",
        &fixture("invalid/keyless.yaml"),
        &fixture("valid"),
        &file,
    ]);
    out.assert_code(2);
    let problems = json_lines(&out);
    assert_eq!(problems.len(), 4, "{out}");
    assert_eq!(problems[0]["line"], 9);
    assert_eq!(problems[0]["column"], 5);
    assert!(
        problems[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("keyless.yaml")
    );
    assert!(problems[0]["message"].as_str().unwrap().contains("keyless"));
}

#[test]
fn eval_refuses_invalid_policies_before_evaluating() {
    let out = rsign(&[
        "policy",
        "eval",
        "--policy",
        &fixture("valid"),
        "--policy",
        &fixture("invalid/unknown-field.yaml"),
        "registry.example/release/app:v1",
    ]);
    out.assert_code(2)
        .assert_stderr_contains("unknown-field.yaml:10:5:")
        .assert_stderr_contains("invalid policy: 1 problem(s)");
    assert_eq!(out.stdout, "");
    // A missing policy file is an error too, not an empty policy set.
    rsign(&[
        "policy",
        "eval",
        "--policy",
        "/nonexistent/policy.yaml",
        "registry.example/a:1",
    ])
    .assert_code(2)
    .assert_stderr_contains("/nonexistent/policy.yaml");
}

// ------------------------------------------- eval without any network

/// Static and no-match decisions need no registry: nothing is fetched
/// (the registry named does not exist).
#[test]
fn eval_static_and_no_match_decisions_offline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("static.yaml"),
        r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: open}
spec:
  images: [{glob: "nowhere.invalid/open/**"}]
  authorities: [{static: {action: pass}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: closed}
spec:
  images: [{glob: "nowhere.invalid/closed/*"}]
  authorities: [{name: never, static: {action: fail, message: frozen}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: soft}
spec:
  mode: warn
  images: [{glob: "nowhere.invalid/soft/*"}]
  authorities: [{static: {action: fail}}]
"#,
    )
    .unwrap();
    let policy = dir.path().display().to_string();
    let eval = |extra: &[&str], images: &[&str]| {
        let mut args = vec!["policy", "eval", "--policy", policy.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(images);
        rsign(&args)
    };

    let out = eval(&[], &["nowhere.invalid/open/a/b:1"]);
    out.assert_code(0)
        .assert_stdout_contains("ALLOW nowhere.invalid/open/a/b:1 (all-policies-passed)");

    let out = eval(&[], &["nowhere.invalid/closed/x:1"]);
    out.assert_code(1)
        .assert_stdout_contains("DENY nowhere.invalid/closed/x:1 (static-fail)")
        .assert_stdout_contains(
            "authority `never`: fail (static-fail): disallowed by static policy: frozen",
        );

    let out = eval(&[], &["nowhere.invalid/soft/x:1"]);
    out.assert_code(0)
        .assert_stdout_contains("WARN nowhere.invalid/soft/x:1 (warn-mode)")
        .assert_stdout_contains("warning: policy `soft` failed (mode: warn)");

    // No match: deny by default, or as asked.
    eval(&[], &["nowhere.invalid/elsewhere:1"])
        .assert_code(1)
        .assert_stdout_contains("DENY nowhere.invalid/elsewhere:1 (no-matching-policy)");
    eval(&["--no-match", "allow"], &["nowhere.invalid/elsewhere:1"])
        .assert_code(0)
        .assert_stdout_contains("ALLOW nowhere.invalid/elsewhere:1 (no-matching-policy)");
    eval(&["--no-match", "warn"], &["nowhere.invalid/elsewhere:1"])
        .assert_code(0)
        .assert_stdout_contains("WARN nowhere.invalid/elsewhere:1 (no-matching-policy)");

    // JSON: one decision per line, in argument order; any deny → exit 1.
    let images = [
        "nowhere.invalid/closed/x:1",
        "nowhere.invalid/open/y:2",
        "nowhere.invalid/soft/z:3",
    ];
    let out = eval(&["--output", "json"], &images);
    out.assert_code(1);
    let decisions = json_lines(&out);
    assert_eq!(decisions.len(), 3);
    for (d, image) in decisions.iter().zip(images) {
        assert_eq!(d["image"], image);
    }
    assert_eq!(decisions[0]["decision"], "deny");
    assert_eq!(decisions[0]["code"], "static-fail");
    assert_eq!(decisions[0]["policies"][0]["name"], "closed");
    assert_eq!(
        decisions[0]["policies"][0]["authorities"][0]["code"],
        "static-fail"
    );
    assert_eq!(decisions[1]["decision"], "allow");
    assert_eq!(decisions[2]["decision"], "warn");
    assert!(!decisions[2]["warnings"].as_array().unwrap().is_empty());

    // Arguments that are not registry references are usage errors.
    eval(&[], &["oci:/tmp/layout:v1"])
        .assert_code(2)
        .assert_stderr_contains("`oci:` layouts cannot be evaluated");
    eval(&["--timeout", "0s"], &["nowhere.invalid/open/a:1"]).assert_code(2);
}

// ------------------------------------------------- end to end (registry)

/// A key pair made by `rsign generate-key-pair`.
struct Keys {
    key: PathBuf,
    public: PathBuf,
}

impl Keys {
    fn generate(dir: &Path, name: &str) -> Self {
        let prefix = dir.join(name);
        rsign(&["generate-key-pair", "-o", prefix.to_str().unwrap()]).assert_success();
        Self {
            key: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
        }
    }

    fn pem(&self) -> String {
        std::fs::read_to_string(&self.public).unwrap()
    }

    fn public_key(&self) -> rsign_core::keys::PublicKey {
        rsign_core::keys::PublicKey::from_pem(self.pem().as_bytes()).unwrap()
    }
}

/// `data: |` block content, indented by `indent` spaces.
fn indent(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

struct Env {
    reg: TestRegistry,
    skopeo: Skopeo,
    cosign: Cosign,
    dir: tempfile::TempDir,
    flags: Vec<String>,
    seed: u64,
}

impl Env {
    fn new() -> Self {
        let reg = TestRegistry::start(RegistryOptions::plain());
        let flags = registry_flags(&reg);
        Self {
            reg,
            skopeo: Skopeo::new(),
            cosign: Cosign::new(),
            dir: tempfile::tempdir().unwrap(),
            flags,
            seed: 700,
        }
    }

    /// Pushes a fresh image to `repo:v1`; returns the reference and digest.
    fn push(&mut self, repo: &str) -> (String, String) {
        self.seed += 1;
        let layout = self.dir.path().join(format!("layout-{}", self.seed));
        images::build_image_layout(&layout, "v1", self.seed);
        let image = self.reg.reference(&format!("{repo}:v1"));
        let digest = images::push_layout(&self.skopeo, &layout, "v1", &image, &self.reg);
        (image, digest)
    }

    fn sign(&self, keys: &Keys, image: &str) {
        let mut args = vec!["sign", "--key", keys.key.to_str().unwrap()];
        args.extend(self.flags.iter().map(String::as_str));
        args.push(image);
        rsign(&args).assert_success();
    }

    /// `cosign attest --type spdxjson` with an SPDX document listing `packages`.
    fn attest_sbom(&self, keys: &Keys, image: &str, packages: &[&str]) {
        let packages: Vec<Value> = packages
            .iter()
            .enumerate()
            .map(|(i, name)| {
                serde_json::json!({"SPDXID": format!("SPDXRef-Package-{i}"), "name": name,
                                   "downloadLocation": "NOASSERTION"})
            })
            .collect();
        let sbom = serde_json::json!({
            "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
            "name": "test", "documentNamespace": "https://example.com/spdx/test",
            "creationInfo": {"created": "2027-01-01T00:00:00Z", "creators": ["Tool: test"]},
            "packages": packages,
        });
        let predicate = self
            .dir
            .path()
            .join(format!("sbom-{}.json", packages.len()));
        std::fs::write(&predicate, serde_json::to_vec(&sbom).unwrap()).unwrap();
        let key = keys.key.display().to_string();
        let predicate = predicate.display().to_string();
        let mut args = vec![
            "attest",
            "--key",
            &key,
            "--type",
            "spdxjson",
            "--predicate",
            &predicate,
            "--tlog-upload=false",
            "--yes",
        ];
        args.extend(self.flags.iter().map(String::as_str));
        args.push(image);
        self.cosign.run(&args, Some(PW)).assert_success();
    }

    fn eval(&self, policy: &Path, extra: &[&str], images: &[&str]) -> Output {
        let policy = policy.display().to_string();
        let mut args = vec!["policy", "eval", "--policy", policy.as_str()];
        args.extend(self.flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        args.extend_from_slice(images);
        rsign(&args)
    }
}

#[test]
#[ignore = "needs docker-registry, skopeo and cosign (scripts/install-test-deps.sh)"]
fn eval_decides_signed_unsigned_threshold_warn_attestation_and_keyset_images() {
    let mut env = Env::new();
    let keydir = env.dir.path().join("keys");
    std::fs::create_dir_all(&keydir).unwrap();
    let a = Keys::generate(&keydir, "a");
    let b = Keys::generate(&keydir, "b");
    let retired = Keys::generate(&keydir, "retired");
    let revoked = Keys::generate(&keydir, "revoked");
    let current = Keys::generate(&keydir, "current");
    let host = env.reg.host();

    // Images.
    let (by_a, by_a_digest) = env.push("t/a");
    env.sign(&a, &by_a);
    let (unsigned, _) = env.push("t/unsigned");
    let (by_b, _) = env.push("t/b");
    env.sign(&b, &by_b);
    let (both, _) = env.push("thr/both");
    env.sign(&a, &both);
    env.sign(&b, &both);
    let (only_a, _) = env.push("thr/only-a");
    env.sign(&a, &only_a);
    let (soft, _) = env.push("warn/unsigned");
    let (sbom, _) = env.push("att/sbom");
    env.attest_sbom(&a, &sbom, &["openssl", "zlib"]);
    let (empty_sbom, _) = env.push("att/empty");
    env.attest_sbom(&a, &empty_sbom, &[]);
    let (no_att, _) = env.push("att/none");
    env.sign(&a, &no_att);
    let (by_retired, _) = env.push("ks/retired");
    env.sign(&retired, &by_retired);
    let (by_revoked, _) = env.push("ks/revoked");
    env.sign(&revoked, &by_revoked);
    let other = env.reg.reference("elsewhere/app:v1");

    // A keyset: `current` active, `retired` inside its window, `revoked` revoked.
    {
        use rsign_core::keyset::{Format, KeyStatus, Keyset, Timestamp};
        let mut ks = Keyset::new();
        ks.add(retired.public_key(), "retired", KeyStatus::Active)
            .unwrap();
        ks.add(revoked.public_key(), "revoked", KeyStatus::Active)
            .unwrap();
        ks.rotate(
            current.public_key(),
            "current",
            Duration::from_secs(86_400),
            Timestamp::now(),
        )
        .unwrap();
        ks.revoke(&revoked.public_key().key_id().to_string())
            .unwrap();
        std::fs::write(
            keydir.join("keyset.yaml"),
            ks.to_bytes(Format::Yaml).unwrap(),
        )
        .unwrap();
    }

    // Policies: one directory, disjoint globs.
    let policies = env.dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let write = |name: &str, text: String| std::fs::write(policies.join(name), text).unwrap();
    write(
        "trust-a.yaml",
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: trust-a}}
spec:
  images: [{{glob: \"{host}/t/*\"}}]
  authorities:
  - name: key-a
    key:
      data: |
{}",
            indent(&a.pem(), 8)
        ),
    );
    write(
        "two-of-two.yaml",
        format!(
            "apiVersion: rsign.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: two-of-two}}
spec:
  images: [{{glob: \"{host}/thr/**\"}}]
  authorities:
  - name: a-and-b
    keys:
    - path: ../keys/a.pub
    - data: |
{}    threshold: 2
",
            indent(&b.pem(), 8)
        ),
    );
    write(
        "soft.yaml",
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: soft}}
spec:
  mode: warn
  images: [{{glob: \"{host}/warn/*\"}}]
  authorities:
  - key:
      data: |
{}",
            indent(&a.pem(), 8)
        ),
    );
    write(
        "sbom.yaml",
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: needs-sbom}}
spec:
  images: [{{glob: \"{host}/att/*\"}}]
  authorities:
  - name: sbom-by-a
    key:
      data: |
{}    attestations:
    - name: has-packages
      predicateType: spdxjson
      policy:
        type: rego
        data: |
          package sigstore
          default isCompliant := false
          isCompliant if count(input.predicate.packages) > 0
",
            indent(&a.pem(), 8)
        ),
    );
    write(
        "keyset.yaml",
        format!(
            "apiVersion: rsign.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: rotating}}
spec:
  images: [{{glob: \"{host}/ks/*\"}}]
  authorities:
  - name: release-keyset
    keyset: ../keys/keyset.yaml
"
        ),
    );
    rsign(&["policy", "check", policies.to_str().unwrap()]).assert_code(0);

    let cases: Vec<(&str, &str, &str)> = vec![
        (&by_a, "allow", "all-policies-passed"),
        (&unsigned, "deny", "signature-missing"),
        (&by_b, "deny", "signer-not-trusted"),
        (&both, "allow", "all-policies-passed"),
        (&only_a, "deny", "threshold-unmet"),
        (&soft, "warn", "warn-mode"),
        (&sbom, "allow", "all-policies-passed"),
        (&empty_sbom, "deny", "attestation-policy-failed"),
        (&no_att, "deny", "attestation-missing"),
        (&by_retired, "allow", "all-policies-passed"),
        (&by_revoked, "deny", "signer-not-trusted"),
        (&other, "deny", "no-matching-policy"),
    ];
    let images: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let out = env.eval(&policies, &["--output", "json"], &images);
    out.assert_code(1);
    let decisions = json_lines(&out);
    assert_eq!(decisions.len(), cases.len(), "{out}");
    for (d, (image, verdict, code)) in decisions.iter().zip(&cases) {
        assert_eq!(d["image"], *image, "{d}");
        assert_eq!(d["decision"], *verdict, "{image}: {d}");
        assert_eq!(d["code"], *code, "{image}: {d}");
    }
    // Digests are reported for fetched images; the authority explains.
    assert_eq!(decisions[0]["digest"], by_a_digest);
    assert_eq!(
        decisions[0]["policies"][0]["authorities"][0]["code"],
        "signature-verified"
    );
    assert_eq!(
        decisions[3]["policies"][0]["authorities"][0]["code"],
        "signature-verified"
    );
    assert!(
        decisions[4]["policies"][0]["authorities"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("threshold is 2"),
        "{}",
        decisions[4]
    );
    assert!(!decisions[5]["warnings"].as_array().unwrap().is_empty());

    // Text output and exit codes, image by image.
    let out = env.eval(&policies, &[], &[&by_a]);
    out.assert_code(0)
        .assert_stdout_contains(&format!("ALLOW {by_a}@{by_a_digest} (all-policies-passed)"))
        .assert_stdout_contains("  policy `trust-a`: pass")
        .assert_stdout_contains("    authority `key-a`: pass (signature-verified)");
    env.eval(&policies, &[], &[&soft])
        .assert_code(0)
        .assert_stdout_contains("WARN ");
    env.eval(&policies, &[], &[&by_b])
        .assert_code(1)
        .assert_stdout_contains("DENY ");
    env.eval(
        &policies,
        &["--no-match", "allow"],
        &[&other, &by_a, &sbom, &by_retired],
    )
    .assert_code(0);
    // A missing tag cannot be evaluated: an error (2), not a policy denial.
    let missing = env.reg.reference("t/a:no-such-tag");
    env.eval(&policies, &[], &[&missing])
        .assert_code(2)
        .assert_stdout_contains("(fetch-failed)");
    // ... unless fail-open is asked for (dangerously).
    env.eval(&policies, &["--dangerous-fail-open"], &[&missing])
        .assert_code(0)
        .assert_stderr_contains("--dangerous-fail-open")
        .assert_stdout_contains("WARN ");
}

/// The same image listed 20 times in one call: one evaluator, single
/// flight — the `.sig` manifest is fetched once.
#[test]
#[ignore = "needs docker-registry and skopeo (scripts/install-test-deps.sh)"]
fn eval_fetches_an_image_listed_twenty_times_once() {
    let mut env = Env::new();
    let a = Keys::generate(env.dir.path(), "a");
    let (image, digest) = env.push("flight/app");
    env.sign(&a, &image);
    let (unsigned, unsigned_digest) = env.push("flight/unsigned");
    let policy = env.dir.path().join("trust-a.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: trust-a}}
spec:
  images: [{{glob: \"{}/flight/*\"}}]
  authorities:
  - key:
      data: |
{}",
            env.reg.host(),
            indent(&a.pem(), 8)
        ),
    )
    .unwrap();
    let sig_manifest = |d: &str| format!("/manifests/{}.sig", d.replace(':', "-"));

    for (target, digest, code) in [(&image, &digest, 0), (&unsigned, &unsigned_digest, 1)] {
        let before = env.reg.count_requests("GET", &sig_manifest(digest));
        let images: Vec<&str> = std::iter::repeat_n(target.as_str(), 20).collect();
        let out = env.eval(&policy, &["--output", "json"], &images);
        out.assert_code(code);
        let decisions = json_lines(&out);
        assert_eq!(decisions.len(), 20);
        assert!(decisions.iter().all(|d| d["digest"] == *digest));
        let fetched = env.reg.count_requests("GET", &sig_manifest(digest)) - before;
        assert_eq!(
            fetched, 1,
            "the .sig manifest of {target} was fetched {fetched} times"
        );
    }
}
