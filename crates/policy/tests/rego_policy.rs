//! RegoPolicy: query conventions, syntax versions, errors and bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rsign_policy::rego::{
    DEFAULT_TIME_LIMIT, MAX_POLICY_BYTES, RegoError, RegoPolicy, RegoQuery, RegoSyntax,
    load_policy_file,
};
use serde_json::{Value, json};

const CUSTOM_TYPE: &str = "https://cosign.sigstore.dev/attestation/v1";

/// cosign's custom-predicate statement around its test-result.json
/// predicate (`{"passed": true}`), or a failing variant.
fn test_result_statement(passed: bool) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata/cosign/predicates/test-result.json");
    let mut predicate: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(predicate["passed"], true, "fixture as copied from cosign");
    predicate["passed"] = json!(passed);
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": CUSTOM_TYPE,
        "subject": [{"name": "registry.example/app", "digest": {"sha256": "00".repeat(32)}}],
        "predicate": predicate,
    })
}

fn compile(source: &str) -> RegoPolicy {
    RegoPolicy::compile("test.rego", source).unwrap_or_else(|e| panic!("{e}"))
}

fn compile_err(source: &str) -> RegoError {
    RegoPolicy::compile("test.rego", source).unwrap_err()
}

// ---- query conventions --------------------------------------------------------

#[test]
fn signature_allow_convention_v1() {
    let policy = compile(
        r#"package signature
import rego.v1
default allow := false
allow if {
    input.predicateType == "https://cosign.sigstore.dev/attestation/v1"
    input.predicate.passed == true
}
"#,
    );
    assert_eq!(policy.query(), RegoQuery::SignatureAllow);
    assert_eq!(policy.query().path(), "data.signature.allow");
    assert_eq!(policy.syntax(), RegoSyntax::V1);
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
    let denied = policy.evaluate(&test_result_statement(false)).unwrap();
    assert!(!denied.allowed);
    assert!(denied.errors.is_empty() && denied.warnings.is_empty());
}

#[test]
fn sigstore_is_compliant_bool_convention() {
    let policy = compile(
        "package sigstore\ndefault isCompliant := false\nisCompliant if input.predicate.passed\n",
    );
    assert_eq!(policy.query(), RegoQuery::SigstoreIsCompliant);
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
    assert!(
        !policy
            .evaluate(&test_result_statement(false))
            .unwrap()
            .allowed
    );
}

#[test]
fn sigstore_is_compliant_object_with_warning_and_error() {
    let policy = compile(
        r#"package sigstore
import rego.v1
passed := input.predicate.passed == true
error_msg := "" if passed
error_msg := "the tests failed" if not passed
isCompliant := {
    "result": passed,
    "warning": "tests ran on a developer laptop",
    "error": error_msg,
}
"#,
    );
    let ok = policy.evaluate(&test_result_statement(true)).unwrap();
    assert!(ok.allowed);
    assert_eq!(
        ok.warnings,
        vec!["tests ran on a developer laptop".to_owned()]
    );
    assert!(ok.errors.is_empty(), "an empty error string is no error");

    let bad = policy.evaluate(&test_result_statement(false)).unwrap();
    assert!(!bad.allowed);
    assert_eq!(bad.errors, vec!["the tests failed".to_owned()]);
    assert_eq!(bad.warnings.len(), 1);
}

#[test]
fn sigstore_is_compliant_object_without_optional_fields() {
    let policy =
        compile("package sigstore\nisCompliant := {\"result\": input.predicate.passed == true}\n");
    let out = policy.evaluate(&test_result_statement(true)).unwrap();
    assert!(out.allowed && out.warnings.is_empty() && out.errors.is_empty());
}

#[test]
fn policy_controller_v0_set_form() {
    // policy-controller's documented shape: a partial set of response objects,
    // in the v0 syntax that cosign and policy-controller parse.
    let policy = compile(
        r#"package sigstore
isCompliant[response] {
  result := input.predicate.passed == true
  errorMsg := "tests did not pass"
  warnMsg := "result taken from a custom predicate"
  response := {"result": result, "error": errorMsg, "warning": warnMsg}
}
"#,
    );
    assert_eq!(policy.syntax(), RegoSyntax::V0);
    let ok = policy.evaluate(&test_result_statement(true)).unwrap();
    assert!(ok.allowed);
    assert!(
        ok.errors.is_empty(),
        "errors of an allowing response are dropped"
    );
    assert_eq!(
        ok.warnings,
        vec!["result taken from a custom predicate".to_owned()]
    );
    let bad = policy.evaluate(&test_result_statement(false)).unwrap();
    assert!(!bad.allowed);
    assert_eq!(bad.errors, vec!["tests did not pass".to_owned()]);
}

#[test]
fn undefined_rule_denies_with_explanation() {
    let policy = compile(
        "package sigstore\nimport rego.v1\nisCompliant if input.predicate.passed == true\n",
    );
    let out = policy.evaluate(&test_result_statement(false)).unwrap();
    assert!(!out.allowed);
    assert_eq!(out.errors.len(), 1);
    assert!(
        out.errors[0].contains("data.sigstore.isCompliant is undefined"),
        "{out:?}"
    );
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
}

#[test]
fn wrongly_shaped_results_are_errors() {
    let cases = [
        "package signature\nallow := \"yes\"\n",
        "package signature\nallow := {\"result\": true}\n",
        "package sigstore\nisCompliant := \"true\"\n",
        "package sigstore\nisCompliant := {\"result\": \"true\"}\n",
        "package sigstore\nisCompliant := {\"warning\": \"no result field\"}\n",
        "package sigstore\nisCompliant := {\"result\": true, \"warning\": 7}\n",
        "package sigstore\nisCompliant := [true]\n",
    ];
    for source in cases {
        let err = compile(source)
            .evaluate(&test_result_statement(true))
            .unwrap_err();
        assert!(
            matches!(err, RegoError::UnexpectedResult { .. }),
            "{source}: {err}"
        );
        assert!(err.to_string().contains("must be"), "{err}");
    }
}

#[test]
fn empty_is_compliant_set_denies() {
    let policy =
        compile("package sigstore\nimport rego.v1\nisCompliant contains x if { x := 1; false }\n");
    let out = policy.evaluate(&test_result_statement(true)).unwrap();
    assert!(!out.allowed);
    assert!(out.errors[0].contains("empty set"), "{out:?}");
}

#[test]
fn conflicting_values_are_an_evaluation_error() {
    let policy = compile(
        "package signature\nimport rego.v1\nallow := true if input.predicate\nallow := false if input._type\n",
    );
    let err = policy.evaluate(&test_result_statement(true)).unwrap_err();
    assert!(matches!(err, RegoError::Evaluation { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("evaluating policy test.rego failed"),
        "{err}"
    );
}

// ---- syntax versions ----------------------------------------------------------

#[test]
fn v0_syntax_is_detected_and_evaluated() {
    let policy = compile(
        r#"package signature

default allow = false

allow {
    input.predicateType == "https://cosign.sigstore.dev/attestation/v1"
    input.predicate.passed == true
}
"#,
    );
    assert_eq!(policy.syntax(), RegoSyntax::V0);
    assert_eq!(policy.syntax().to_string(), "rego v0");
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
    assert!(
        !policy
            .evaluate(&test_result_statement(false))
            .unwrap()
            .allowed
    );
}

#[test]
fn v0_with_future_keywords_parses() {
    let policy = compile(
        "package signature\nimport future.keywords.if\ndefault allow = false\nallow if input.predicate.passed\n",
    );
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
}

#[test]
fn v1_parse_error_has_line_and_column() {
    let err =
        compile_err("package sigstore\nimport rego.v1\n\nisCompliant if {\n    input.x == \n}\n");
    let RegoError::Parse {
        syntax,
        line,
        column,
        ref message,
        ..
    } = err
    else {
        panic!("expected a parse error, got {err}");
    };
    assert_eq!(syntax, RegoSyntax::V1);
    assert!(
        line.is_some_and(|l| (5..=6).contains(&l)),
        "line {line:?}: {message}"
    );
    assert!(column.is_some_and(|c| c >= 1), "{column:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("policy test.rego does not parse as rego v1 at line"),
        "{text}"
    );
}

#[test]
fn v0_parse_error_reported_as_v0() {
    // v0 style (no `if`), broken in the body of the rule on line 2: the v0
    // parser's error is shown (regorus points at the body's opening brace).
    let err = compile_err("package signature\nallow {\n    input.x == == 1\n}\n");
    let RegoError::Parse { syntax, line, .. } = err else {
        panic!("expected a parse error, got {err}");
    };
    assert_eq!(syntax, RegoSyntax::V0);
    assert!(matches!(line, Some(2 | 3)), "{err}");
    assert!(
        err.to_string()
            .contains("does not parse as rego v0 at line"),
        "{err}"
    );
}

#[test]
fn garbage_and_missing_package_are_parse_errors() {
    for source in ["", "allow := true\n", "package\n", "{{{{"] {
        let err = compile_err(source);
        assert!(matches!(err, RegoError::Parse { .. }), "{source:?}: {err}");
    }
}

// ---- missing rule -------------------------------------------------------------

#[test]
fn missing_rule_names_both_conventions() {
    for source in [
        "package sigstore\nallow := true\n",
        "package signature\nisCompliant := true\n",
        "package example\nallow := true\n",
        "package sigstore.sub\nisCompliant := true\n",
    ] {
        let err = compile_err(source);
        assert!(
            matches!(err, RegoError::MissingRule { .. }),
            "{source}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("data.signature.allow"), "{text}");
        assert!(text.contains("data.sigstore.isCompliant"), "{text}");
    }
}

// ---- files, CUE, sizes --------------------------------------------------------

#[test]
fn cue_files_are_rejected_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["policy.cue", "POLICY.CUE"] {
        // The file need not exist: the extension decides.
        let err = load_policy_file(&dir.path().join(name)).unwrap_err();
        assert!(matches!(err, RegoError::CueUnsupported { .. }), "{err}");
        assert!(
            err.to_string()
                .ends_with("CUE is not supported; use Rego (a .rego file)"),
            "{err}"
        );
    }
}

#[test]
fn unknown_extensions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["policy.json", "policy", "policy.rego.txt"] {
        let path = dir.path().join(name);
        std::fs::write(&path, "package signature\nallow := true\n").unwrap();
        let err = load_policy_file(&path).unwrap_err();
        assert!(
            matches!(err, RegoError::UnsupportedFormat { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn rego_file_loads_and_is_named_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.rego");
    std::fs::write(
        &path,
        "package signature\nallow := input.predicate.passed\n",
    )
    .unwrap();
    let policy = load_policy_file(&path).unwrap();
    assert_eq!(policy.name(), path.display().to_string());
    assert!(
        policy
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );

    std::fs::write(&path, "package signature\nallow := \n").unwrap();
    let err = load_policy_file(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn unreadable_or_non_utf8_files_are_read_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load_policy_file(&dir.path().join("missing.rego")).unwrap_err();
    assert!(matches!(missing, RegoError::Read { .. }), "{missing}");
    let path = dir.path().join("latin1.rego");
    std::fs::write(&path, b"package signature\n# caf\xe9\nallow := true\n").unwrap();
    let err = load_policy_file(&path).unwrap_err();
    let RegoError::Read { source, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn oversize_policy_is_rejected() {
    let mut source = String::from("package signature\nallow := true\n");
    while source.len() <= MAX_POLICY_BYTES {
        source.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let err = compile_err(&source);
    assert!(
        matches!(err, RegoError::PolicyTooLarge { max, .. } if max == MAX_POLICY_BYTES),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.rego");
    std::fs::write(&path, &source).unwrap();
    let err = load_policy_file(&path).unwrap_err();
    assert!(matches!(err, RegoError::PolicyTooLarge { .. }), "{err}");

    // Just under the limit: accepted.
    source.truncate(MAX_POLICY_BYTES - 100);
    let policy = RegoPolicy::compile("big.rego", &source).unwrap();
    assert!(policy.evaluate(&json!({})).unwrap().allowed);

    // Within the byte limit but over regorus' 20,000-line limit: a parse
    // error, not a panic.
    let many_lines = format!("package signature\nallow := true\n{}", "#\n".repeat(25_000));
    let err = compile_err(&many_lines);
    assert!(matches!(err, RegoError::Parse { .. }), "{err}");
}

#[test]
fn oversize_input_is_rejected() {
    let policy = compile("package signature\nallow := true\n").with_max_input_bytes(1024);
    let mut input = test_result_statement(true);
    assert!(policy.evaluate(&input).unwrap().allowed);
    input["predicate"]["blob"] = json!("x".repeat(2048));
    let err = policy.evaluate(&input).unwrap_err();
    assert!(
        matches!(err, RegoError::InputTooLarge { max: 1024, .. }),
        "{err}"
    );
}

// ---- time limit ---------------------------------------------------------------

const SLOW_POLICY: &str = r#"package sigstore
import rego.v1
n := numbers.range(1, 4000)
isCompliant if count([1 | some a in n; some b in n; a != b]) > 0
"#;

#[test]
fn runaway_policy_hits_the_time_limit() {
    assert_eq!(
        DEFAULT_TIME_LIMIT,
        RegoPolicy::compile("x.rego", "package signature\nallow := true")
            .unwrap()
            .time_limit()
    );
    let policy = compile(SLOW_POLICY).with_time_limit(Duration::from_millis(50));
    let started = Instant::now();
    let err = policy.evaluate(&test_result_statement(true)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, RegoError::TimeLimitExceeded { .. }), "{err}");
    assert!(err.to_string().contains("time limit of 50ms"), "{err}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    // The limit is per evaluation: a fresh evaluation of a cheap policy
    // right after is unaffected.
    let cheap =
        compile("package signature\nallow := true\n").with_time_limit(Duration::from_millis(50));
    assert!(
        cheap
            .evaluate(&test_result_statement(true))
            .unwrap()
            .allowed
    );
}

// ---- sharing ------------------------------------------------------------------

#[test]
fn policy_is_send_sync_and_evaluations_are_independent() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RegoPolicy>();
    let policy = std::sync::Arc::new(compile(
        "package sigstore\nimport rego.v1\ndefault isCompliant := false\nisCompliant if input.predicate.passed\n",
    ));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let policy = policy.clone();
            std::thread::spawn(move || {
                (0..25).all(|j| {
                    let passed = (i + j) % 2 == 0;
                    policy
                        .evaluate(&test_result_statement(passed))
                        .unwrap()
                        .allowed
                        == passed
                })
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

/// Timing of compile and per-evaluation clone+eval, for the report:
/// `cargo test --release -p rsign-policy --test rego_policy -- --ignored --nocapture timing`.
#[test]
#[ignore = "measurement, not a check"]
fn timing() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("examples/policies/deny-critical-vulns.rego");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("keys-testdata/trivy/report-critical.json")).unwrap(),
    )
    .unwrap();
    let input = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
        "subject": [],
        "predicate": {"scanner": {"result": report}},
    });
    let started = Instant::now();
    let policy = load_policy_file(&path).unwrap();
    println!("compile deny-critical-vulns.rego: {:?}", started.elapsed());
    let n = 200;
    let started = Instant::now();
    for _ in 0..n {
        assert!(!policy.evaluate(&input).unwrap().allowed);
    }
    println!(
        "evaluate (clone + eval), mean of {n}: {:?}",
        started.elapsed() / n
    );
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(policy.clone());
    }
    println!("clone alone, mean of {n}: {:?}", started.elapsed() / n);
}

#[test]
fn input_nested_past_the_parser_limit_is_an_input_error_with_its_json_source() {
    let policy = compile("package sigstore\ndefault isCompliant := true\n");
    // serde_json serializes any depth but parses at most 128 levels: the
    // round trip into regorus' value type fails, and the cause is kept.
    let mut predicate = json!(true);
    for _ in 0..200 {
        predicate = json!([predicate]);
    }
    let statement =
        json!({"_type": "t", "predicateType": CUSTOM_TYPE, "subject": [], "predicate": predicate});
    let err = policy.evaluate(&statement).unwrap_err();
    let RegoError::Input { source } = &err else {
        panic!("expected RegoError::Input, got {err:?}");
    };
    assert!(source.to_string().contains("recursion limit"), "{source}");
    let top = err.to_string();
    assert!(
        top.starts_with("cannot convert the input document"),
        "{top}"
    );
    assert!(!top.contains("recursion"), "cause text not repeated: {top}");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause, Some(source.to_string()));
}
