//! Attestations interchanged with cosign 2.5 over a real registry: rsign
//! attests → `cosign verify-attestation` accepts; `cosign attest` → rsign
//! verifies (printing what cosign prints); both reject a wrong key and a
//! wrong type; the shipped Rego examples decide as expected on statements
//! cosign wrote.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::Value;

use crate::attest::{
    CUSTOM, Env, SLSA02, example_policy, slsa02_predicate, spdx_with_packages, statement_of,
    testdata,
};
use crate::support::cosign::{Cosign, registry_flags};
use crate::support::images;
use crate::support::process::Output;
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::skopeo::Skopeo;

const PW: &str = "attest test password";

const BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

struct Setup {
    env: Env,
    reg: TestRegistry,
    skopeo: Skopeo,
    cosign: Cosign,
}

impl Setup {
    fn new() -> Self {
        Self {
            env: Env::new(),
            reg: TestRegistry::start(RegistryOptions::plain()),
            skopeo: Skopeo::new(),
            cosign: Cosign::new(),
        }
    }

    /// Pushes a fresh image to `repo:v1`; returns (reference, digest).
    fn push(&self, repo: &str, seed: u64) -> (String, String) {
        let layout = self.env.dir.join(format!("lay-{seed}"));
        images::build_image_layout(&layout, "v1", seed);
        let image = self.reg.reference(&format!("{repo}:v1"));
        let digest = images::push_layout(&self.skopeo, &layout, "v1", &image, &self.reg);
        (image, digest)
    }

    fn cosign(&self, args: &[&str], password: Option<&str>) -> Output {
        let flags = registry_flags(&self.reg);
        let mut all: Vec<&str> = args.to_vec();
        let image = all.pop().unwrap();
        all.extend(flags.iter().map(String::as_str));
        all.push(image);
        self.cosign.run(&all, password)
    }

    fn rsign(&self, args: &[&str]) -> crate::attest::Run {
        let flags = registry_flags(&self.reg);
        let mut all: Vec<&str> = args.to_vec();
        let image = all.pop().unwrap();
        all.extend(flags.iter().map(String::as_str));
        all.push(image);
        self.env.rsign(&all)
    }

    fn path(&self, name: &str) -> String {
        self.env.dir.join(name).display().to_string()
    }
}

/// The envelopes on a stdout, one JSON per line.
fn envelopes(stdout: impl AsRef<[u8]>) -> Vec<Value> {
    String::from_utf8_lossy(stdout.as_ref())
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn type_cases(st: &Setup) -> Vec<(&'static str, &'static str, String)> {
    st.env.write("slsa.json", &slsa02_predicate(BUILDER));
    vec![
        (
            "custom",
            CUSTOM,
            testdata("cosign/predicates/test-result.json"),
        ),
        ("slsaprovenance", SLSA02, st.path("slsa.json")),
        (
            "spdxjson",
            "https://spdx.dev/Document",
            testdata("cosign/predicates/bom-go-mod.spdx.json"),
        ),
        (
            "cyclonedx",
            "https://cyclonedx.org/bom",
            testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
        ),
        (
            "vuln",
            "https://cosign.sigstore.dev/attestation/vuln/v1",
            testdata("cosign/predicates/vuln-predicate.json"),
        ),
    ]
}

#[test]
#[ignore = "needs cosign 2.5, skopeo and docker-registry (scripts/install-test-deps.sh)"]
fn rsign_attests_cosign_verifies() {
    let st = Setup::new();
    let (image, digest) = st.push("app", 1);
    let cases = type_cases(&st);
    for (name, _, predicate) in &cases {
        st.rsign(&[
            "attest",
            "--key",
            "cosign.key",
            "--type",
            name,
            "--predicate",
            predicate,
            &image,
        ])
        .code(0);
    }
    let public = st.path("cosign.pub");
    for (name, uri, _) in &cases {
        let out = st.cosign(
            &[
                "verify-attestation",
                "--key",
                &public,
                "--type",
                name,
                "--insecure-ignore-tlog=true",
                &image,
            ],
            None,
        );
        out.assert_success();
        let found = envelopes(&out.stdout);
        assert_eq!(found.len(), 1, "{name}: cosign printed {found:?}");
        let statement = statement_of(&found[0]);
        assert_eq!(statement["predicateType"], *uri);
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.strip_prefix("sha256:").unwrap()
        );
        // And rsign prints exactly what cosign prints.
        let ours = st.rsign(&[
            "verify-attestation",
            "--key",
            "cosign.pub",
            "--type",
            name,
            &image,
        ]);
        ours.code(0);
        assert_eq!(
            ours.stdout,
            out.stdout.as_bytes(),
            "{name}: rsign and cosign print the same"
        );
    }
    // Both reject a wrong key and a type that is not attached.
    let other = st.path("other.pub");
    st.cosign(
        &[
            "verify-attestation",
            "--key",
            &other,
            "--type",
            "custom",
            "--insecure-ignore-tlog=true",
            &image,
        ],
        None,
    )
    .assert_failure();
    st.cosign(
        &[
            "verify-attestation",
            "--key",
            &public,
            "--type",
            "openvex",
            "--insecure-ignore-tlog=true",
            &image,
        ],
        None,
    )
    .assert_failure();
    st.rsign(&["verify-attestation", "--key", "other.pub", &image])
        .code(1)
        .stdout_empty();
    st.rsign(&[
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--type",
        "openvex",
        &image,
    ])
    .code(1)
    .stdout_empty();
}

#[test]
#[ignore = "needs cosign 2.5, skopeo and docker-registry (scripts/install-test-deps.sh)"]
fn cosign_attests_rsign_verifies_and_rego_decides() {
    let st = Setup::new();
    let keydir = st.env.dir.join("cosign-keys");
    std::fs::create_dir_all(&keydir).unwrap();
    let pair = st.cosign.generate_key_pair(&keydir, PW);
    let key = pair.private_key.display().to_string();
    let public = pair.public_key.display().to_string();
    let (image, _) = st.push("app", 2);
    let cases = type_cases(&st);
    for (name, _, predicate) in &cases {
        st.cosign(
            &[
                "attest",
                "--key",
                &key,
                "--tlog-upload=false",
                "--yes",
                "--type",
                name,
                "--predicate",
                predicate,
                &image,
            ],
            Some(PW),
        )
        .assert_success();
    }
    for (name, uri, _) in &cases {
        let run = st.rsign(&[
            "verify-attestation",
            "--key",
            &public,
            "--type",
            name,
            &image,
        ]);
        run.code(0);
        let found = run.envelopes();
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(statement_of(&found[0])["predicateType"], *uri);
        let theirs = st.cosign(
            &[
                "verify-attestation",
                "--key",
                &public,
                "--type",
                name,
                "--insecure-ignore-tlog=true",
                &image,
            ],
            None,
        );
        theirs.assert_success();
        let a: BTreeSet<String> = envelopes(&run.stdout)
            .iter()
            .map(Value::to_string)
            .collect();
        let b: BTreeSet<String> = envelopes(&theirs.stdout)
            .iter()
            .map(Value::to_string)
            .collect();
        assert_eq!(a, b, "{name}: same attestations as cosign");
    }
    st.rsign(&[
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--type",
        "custom",
        &image,
    ])
    .code(1)
    .stdout_empty()
    .stderr_has("does not verify with any");
    st.rsign(&[
        "verify-attestation",
        "--key",
        &public,
        "--type",
        "openvex",
        &image,
    ])
    .code(1)
    .stdout_empty();

    // The shipped Rego examples on statements cosign 2.5 wrote.
    let slsa = example_policy("slsa-builder.rego");
    st.rsign(&[
        "verify-attestation",
        "--key",
        &public,
        "--type",
        "slsaprovenance",
        "--policy",
        &slsa,
        &image,
    ])
    .code(0);
    let sbom = example_policy("require-sbom.rego");
    // cosign's SBOM fixtures list no packages: denied.
    st.rsign(&[
        "verify-attestation",
        "--key",
        &public,
        "--type",
        "cyclonedx",
        "--policy",
        &sbom,
        &image,
    ])
    .code(1)
    .stderr_has("lists no packages");
    let (image2, _) = st.push("sbom", 3);
    st.env.write("spdx-packages.json", &spdx_with_packages());
    let spdx = st.path("spdx-packages.json");
    st.cosign(
        &[
            "attest",
            "--key",
            &key,
            "--tlog-upload=false",
            "--yes",
            "--type",
            "spdxjson",
            "--predicate",
            &spdx,
            &image2,
        ],
        Some(PW),
    )
    .assert_success();
    st.rsign(&[
        "verify-attestation",
        "--key",
        &public,
        "--type",
        "spdxjson",
        "--policy",
        &sbom,
        &image2,
    ])
    .code(0);
    // cosign stores an empty vuln predicate for a Trivy report (it does not
    // wrap it): the policy fails closed.
    let (image3, _) = st.push("vuln", 4);
    let critical = testdata("trivy/report-critical.json");
    st.cosign(
        &[
            "attest",
            "--key",
            &key,
            "--tlog-upload=false",
            "--yes",
            "--type",
            "vuln",
            "--predicate",
            &critical,
            &image3,
        ],
        Some(PW),
    )
    .assert_success();
    let vuln = example_policy("deny-critical-vulns.rego");
    st.rsign(&[
        "verify-attestation",
        "--key",
        &public,
        "--type",
        "vuln",
        "--policy",
        &vuln,
        &image3,
    ])
    .code(1)
    .stderr_has("no Trivy JSON report");
    // rsign's wrapped report of the same scan is denied for its CRITICAL finding.
    st.rsign(&[
        "attest",
        "--key",
        "cosign.key",
        "--type",
        "vuln",
        "--predicate",
        &critical,
        &image3,
    ])
    .code(0);
    st.rsign(&[
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--type",
        "vuln",
        "--policy",
        &vuln,
        &image3,
    ])
    .code(1)
    .stderr_has("CVE-2024-3094");
    // ...and cosign accepts rsign's wrapped vuln attestation.
    let ours = st.path("cosign.pub");
    st.cosign(
        &[
            "verify-attestation",
            "--key",
            &ours,
            "--type",
            "vuln",
            "--insecure-ignore-tlog=true",
            &image3,
        ],
        None,
    )
    .assert_success();
}
