//! The shipped example policies (examples/policies/*.rego) against realistic
//! statements built from keys-testdata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use base64::Engine as _;
use rsign_policy::rego::{RegoOutcome, RegoPolicy, RegoQuery, RegoSyntax, load_policy_file};
use serde_json::{Value, json};

const VULN_TYPE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const CYCLONEDX: &str = "https://cyclonedx.org/bom";
const TRUSTED_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn testdata(rel: &str) -> Value {
    let path = root().join("keys-testdata").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn example(name: &str) -> RegoPolicy {
    let policy = load_policy_file(&root().join("examples/policies").join(name)).unwrap();
    assert_eq!(
        policy.syntax(),
        RegoSyntax::V1,
        "{name} is written in v1 syntax"
    );
    assert_eq!(policy.query(), RegoQuery::SigstoreIsCompliant);
    policy
}

fn statement(predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{
            "name": "registry.example/shop/app",
            "digest": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
        }],
        "predicate": predicate,
    })
}

/// cosign's own vuln predicate (as `cosign attest --type vuln` writes it) with
/// a Trivy report as `scanner.result`.
fn vuln_statement(report: Option<&str>) -> Value {
    let mut predicate = testdata("cosign/predicates/vuln-predicate.json");
    if let Some(report) = report {
        predicate["scanner"]["uri"] = json!("pkg:github/aquasecurity/trivy@v0.50.1");
        predicate["scanner"]["version"] = json!("0.50.1");
        predicate["scanner"]["result"] = testdata(&format!("trivy/{report}"));
    }
    statement(VULN_TYPE, predicate)
}

fn eval(policy: &RegoPolicy, input: &Value) -> RegoOutcome {
    policy.evaluate(input).unwrap()
}

// ---- deny-critical-vulns.rego -------------------------------------------------

#[test]
fn vulns_critical_finding_denies_and_names_it() {
    let policy = example("deny-critical-vulns.rego");
    let out = eval(&policy, &vuln_statement(Some("report-critical.json")));
    assert!(!out.allowed);
    assert_eq!(out.errors.len(), 1, "{out:?}");
    let error = &out.errors[0];
    assert!(error.contains("1 CRITICAL"), "{error}");
    assert!(
        error.contains("CVE-2024-3094 in xz-libs 5.6.1-r1"),
        "{error}"
    );
    assert!(
        !error.contains("CVE-2023-5363"),
        "the HIGH finding is not an error: {error}"
    );
    // The HIGH finding is still reported, as a warning.
    assert_eq!(out.warnings.len(), 1, "{out:?}");
    assert!(out.warnings[0].contains("CVE-2023-5363"));
}

#[test]
fn vulns_without_critical_allows_with_warning() {
    let policy = example("deny-critical-vulns.rego");
    let out = eval(&policy, &vuln_statement(Some("report-no-critical.json")));
    assert!(out.allowed, "{out:?}");
    assert!(out.errors.is_empty());
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].starts_with("1 HIGH vulnerabilities"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn vulns_lowercase_severity_still_counts() {
    let policy = example("deny-critical-vulns.rego");
    let mut input = vuln_statement(Some("report-no-critical.json"));
    input["predicate"]["scanner"]["result"]["Results"][0]["Vulnerabilities"][1]["Severity"] =
        json!("critical");
    let out = eval(&policy, &input);
    assert!(!out.allowed);
    assert!(out.errors[0].contains("CVE-2024-0727"), "{out:?}");
}

#[test]
fn vulns_empty_scanner_result_fails_closed() {
    // cosign's vuln predicate fixture has "result": null (what cosign 2.5
    // stores for `attest --type vuln` with a Trivy report).
    let policy = example("deny-critical-vulns.rego");
    let out = eval(&policy, &vuln_statement(None));
    assert!(!out.allowed);
    assert!(out.errors[0].contains("no Trivy JSON report"), "{out:?}");
}

#[test]
fn vulns_wrong_predicate_type_denies() {
    let policy = example("deny-critical-vulns.rego");
    let mut input = vuln_statement(Some("report-no-critical.json"));
    input["predicateType"] = json!("https://cosign.sigstore.dev/attestation/v1");
    let out = eval(&policy, &input);
    assert!(!out.allowed);
    assert!(out.errors[0].contains("expected a https://cosign.sigstore.dev/attestation/vuln/v1"));
}

#[test]
fn vulns_hostile_report_shapes_deny_without_error() {
    let policy = example("deny-critical-vulns.rego");
    for result in [
        json!({"SchemaVersion": 2, "Results": "not-an-array"}),
        json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"Severity": 7}]}]}),
        json!("a string"),
        json!([1, 2, 3]),
    ] {
        let mut input = vuln_statement(None);
        input["predicate"]["scanner"]["result"] = result.clone();
        // Must not error out; only a well-formed report without findings
        // (the second one: its Severity is not a string) is allowed.
        let out = policy.evaluate(&input).unwrap();
        let expected = result["Results"].is_array();
        assert_eq!(out.allowed, expected, "{result}: {out:?}");
    }
}

// ---- slsa-builder.rego --------------------------------------------------------

/// cosign's SLSA v0.2 provenance statement from its verify-blob-attestation
/// tests (builder id "2").
fn cosign_slsa_v02() -> Value {
    let envelope = testdata("cosign/verify-blob-attestation/slsa-provenance.dsse.json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicateType"], SLSA_V02);
    statement
}

/// The SLSA v1 predicate from in-toto/attestation's provenance tests
/// (builder id "theId"), in a v1 statement.
fn in_toto_slsa_v1() -> Value {
    let cases = testdata("in-toto/validation-cases.json");
    let list = cases
        .as_array()
        .or_else(|| cases["cases"].as_array())
        .unwrap();
    let case = list
        .iter()
        .find(|c| c["name"] == "TestJsonUnmarshalProvenance")
        .unwrap();
    let predicate: Value = serde_json::from_str(case["input"].as_str().unwrap()).unwrap();
    let mut statement = statement(SLSA_V1, predicate);
    statement["_type"] = json!("https://in-toto.io/Statement/v1");
    statement
}

#[test]
fn slsa_v02_wrong_builder_denies_naming_it() {
    let policy = example("slsa-builder.rego");
    let out = eval(&policy, &cosign_slsa_v02());
    assert!(!out.allowed);
    assert!(
        out.errors[0].contains("builder \"2\" is not trusted"),
        "{out:?}"
    );
}

#[test]
fn slsa_v02_trusted_builder_allows() {
    let policy = example("slsa-builder.rego");
    let mut input = cosign_slsa_v02();
    input["predicate"]["builder"]["id"] = json!(TRUSTED_BUILDER);
    let out = eval(&policy, &input);
    assert!(out.allowed, "{out:?}");
    assert!(out.errors.is_empty() && out.warnings.is_empty());
}

#[test]
fn slsa_v1_wrong_builder_denies() {
    let policy = example("slsa-builder.rego");
    let out = eval(&policy, &in_toto_slsa_v1());
    assert!(!out.allowed);
    assert!(out.errors[0].contains("builder \"theId\""), "{out:?}");
}

#[test]
fn slsa_v1_trusted_builder_with_ref_allows() {
    let policy = example("slsa-builder.rego");
    let mut input = in_toto_slsa_v1();
    input["predicate"]["runDetails"]["builder"]["id"] =
        json!(format!("{TRUSTED_BUILDER}@refs/tags/v2.0.0"));
    assert!(eval(&policy, &input).allowed);
}

#[test]
fn slsa_lookalike_builders_deny() {
    let policy = example("slsa-builder.rego");
    for id in [
        format!("{TRUSTED_BUILDER}.evil"),
        format!("{TRUSTED_BUILDER}x@refs/tags/v2.0.0"),
        TRUSTED_BUILDER.to_uppercase(),
        String::new(),
    ] {
        let mut input = in_toto_slsa_v1();
        input["predicate"]["runDetails"]["builder"]["id"] = json!(id);
        assert!(!eval(&policy, &input).allowed, "{id} must not be trusted");
    }
}

#[test]
fn slsa_v1_field_in_v02_statement_is_not_read() {
    // A v0.2 statement carrying the builder only where v1 puts it: no builder.
    let policy = example("slsa-builder.rego");
    let input = statement(
        SLSA_V02,
        json!({"runDetails": {"builder": {"id": TRUSTED_BUILDER}}}),
    );
    let out = eval(&policy, &input);
    assert!(!out.allowed);
    assert!(out.errors[0].contains("no builder id"), "{out:?}");
}

#[test]
fn slsa_other_predicate_type_denies() {
    let policy = example("slsa-builder.rego");
    let out = eval(
        &policy,
        &statement(SPDX, json!({"builder": {"id": TRUSTED_BUILDER}})),
    );
    assert!(!out.allowed);
    assert!(
        out.errors[0].contains("expected SLSA provenance"),
        "{out:?}"
    );
}

// ---- require-sbom.rego --------------------------------------------------------

#[test]
fn sbom_spdx_without_packages_denies() {
    let policy = example("require-sbom.rego");
    let input = statement(SPDX, testdata("cosign/predicates/bom-go-mod.spdx.json"));
    let out = eval(&policy, &input);
    assert!(!out.allowed);
    assert_eq!(
        out.errors,
        vec!["the SPDX SBOM lists no packages".to_owned()]
    );
}

#[test]
fn sbom_spdx_with_a_package_allows() {
    let policy = example("require-sbom.rego");
    let mut predicate = testdata("cosign/predicates/bom-go-mod.spdx.json");
    predicate["packages"] = json!([{
        "SPDXID": "SPDXRef-Package-golang.org-x-crypto",
        "name": "golang.org/x/crypto",
        "versionInfo": "v0.21.0",
        "downloadLocation": "NOASSERTION"
    }]);
    assert!(eval(&policy, &statement(SPDX, predicate)).allowed);
}

#[test]
fn sbom_cyclonedx_without_components_denies() {
    let policy = example("require-sbom.rego");
    let input = statement(
        CYCLONEDX,
        testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
    );
    let out = eval(&policy, &input);
    assert!(!out.allowed);
    assert_eq!(
        out.errors,
        vec!["the CycloneDX SBOM lists no packages".to_owned()]
    );
}

#[test]
fn sbom_cyclonedx_with_a_component_allows() {
    let policy = example("require-sbom.rego");
    let mut predicate = testdata("cosign/predicates/bom-go-mod.cyclonedx.json");
    predicate["components"] = json!([{
        "type": "library",
        "name": "golang.org/x/crypto",
        "version": "v0.21.0",
        "purl": "pkg:golang/golang.org/x/crypto@v0.21.0"
    }]);
    assert!(eval(&policy, &statement(CYCLONEDX, predicate)).allowed);
}

#[test]
fn sbom_spdx_tag_value_string_predicate() {
    let policy = example("require-sbom.rego");
    let with = "SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\n\nPackageName: golang.org/x/crypto\nPackageVersion: v0.21.0\n";
    assert!(eval(&policy, &statement(SPDX, json!(with))).allowed);
    let without = "SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\n";
    assert!(!eval(&policy, &statement(SPDX, json!(without))).allowed);
}

#[test]
fn sbom_cosign_v1_data_wrapper_is_unwrapped() {
    // cosign 1.x stored predicates as {"Data": <document>}.
    let policy = example("require-sbom.rego");
    let mut document = testdata("cosign/predicates/bom-go-mod.cyclonedx.json");
    let empty = statement(CYCLONEDX, json!({ "Data": document.clone() }));
    assert!(!eval(&policy, &empty).allowed);
    document["components"] = json!([{"type": "library", "name": "zlib", "version": "1.3.1"}]);
    assert!(eval(&policy, &statement(CYCLONEDX, json!({ "Data": document }))).allowed);
    let tag_value = "SPDXVersion: SPDX-2.2\nPackageName: zlib\n";
    assert!(eval(&policy, &statement(SPDX, json!({ "Data": tag_value }))).allowed);
}

#[test]
fn sbom_wrong_type_or_shape_denies() {
    let policy = example("require-sbom.rego");
    let out = eval(&policy, &vuln_statement(Some("report-critical.json")));
    assert!(!out.allowed);
    assert!(out.errors[0].contains("expected an SBOM"), "{out:?}");
    // `packages` that is not an array does not count as packages.
    let out = eval(&policy, &statement(SPDX, json!({"packages": "abc"})));
    assert!(!out.allowed);
    let out = eval(
        &policy,
        &statement(CYCLONEDX, json!({"components": {"a": 1}})),
    );
    assert!(!out.allowed);
}
