//! in-toto statements: reference-implementation validation cases, cosign's subject and
//! predicate-type checks, and the statements cosign 2.5 writes.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use rsign_core::Digest;
use rsign_core::dsse::Envelope;
use rsign_core::intoto::{
    self, Predicate, ProvenanceError, ResourceDescriptor, Statement, StatementError, StatementType,
    cosign_statement, predicate_type_uri, validate_slsa_provenance_v1,
};
use serde_json::Value;

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn statement_error_name(e: &StatementError) -> &'static str {
    match e {
        StatementError::InvalidStatementType(_) => "ErrInvalidStatementType",
        StatementError::SubjectRequired => "ErrSubjectRequired",
        StatementError::RdRequiredField => "ErrRDRequiredField",
        StatementError::DigestRequired { .. } => "ErrDigestRequired",
        StatementError::InvalidDigestEncoding { .. } => "ErrInvalidDigestEncoding",
        StatementError::IncorrectDigestLength { .. } => "ErrIncorrectDigestLength",
        StatementError::PredicateTypeRequired => "ErrPredicateTypeRequired",
        StatementError::PredicateRequired => "ErrPredicateRequired",
        other => panic!("unexpected error {other:?}"),
    }
}

fn provenance_error_name(e: &ProvenanceError) -> &'static str {
    match e {
        ProvenanceError::BuildDefinitionRequired => "ErrBuildDefinitionRequired",
        ProvenanceError::BuildTypeRequired => "ErrBuildTypeRequired",
        ProvenanceError::ExternalParamsRequired => "ErrExternalParamsRequired",
        ProvenanceError::RunDetailsRequired => "ErrRunDetailsRequired",
        ProvenanceError::BuilderRequired => "ErrBuilderRequired",
        ProvenanceError::BuilderIdRequired => "ErrBuilderIdRequired",
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn in_toto_validation_cases() {
    let cases: Vec<Value> =
        serde_json::from_slice(&testdata("in-toto/validation-cases.json")).unwrap();
    assert_eq!(cases.len(), 26);
    for case in &cases {
        let input = case["input"].as_str().unwrap().as_bytes();
        let name = case["name"].as_str().unwrap();
        let outcome = match case["kind"].as_str().unwrap() {
            "Statement" => Statement::parse(input)
                .map(|_| ())
                .map_err(|e| statement_error_name(&e)),
            "ResourceDescriptor" => ResourceDescriptor::parse(input)
                .map(|_| ())
                .map_err(|e| statement_error_name(&e)),
            "SLSAProvenanceV1Predicate" => {
                let v: Value = serde_json::from_slice(input).unwrap();
                validate_slsa_provenance_v1(&v).map_err(|e| provenance_error_name(&e))
            }
            other => panic!("unknown kind {other}"),
        };
        match case["expect"].as_str().unwrap() {
            "valid" => assert_eq!(outcome, Ok(()), "{name}"),
            err => assert_eq!(outcome, Err(err), "{name}"),
        }
    }
}

fn statement_of(envelope_rel: &str) -> Result<Statement, String> {
    let env = Envelope::parse(&testdata(envelope_rel)).map_err(|e| e.to_string())?;
    Statement::parse(env.payload()).map_err(|e| e.to_string())
}

/// cosign's claim check for `verify-blob-attestation --check-claims`: the
/// predicate type (if asked for) matches and some subject has the blob's sha256.
fn check_claims(statement: &Statement, digest: &Digest, type_name: Option<&str>) -> bool {
    if let Some(t) = type_name {
        match predicate_type_uri(t) {
            Ok(uri) if uri == statement.predicate_type() => {}
            _ => return false,
        }
    }
    statement.has_subject_digest(digest)
}

#[test]
fn cosign_verify_blob_attestation_cases() {
    let cases: Value =
        serde_json::from_slice(&testdata("cosign/verify-blob-attestation/cases.json")).unwrap();
    let mut checked = 0;
    for case in cases["check_claims_true"].as_array().unwrap() {
        let desc = case["desc"].as_str().unwrap();
        if case.get("env").is_some() {
            continue; // the attachment size limit is the blob reader's job, not the statement's
        }
        let digest: Digest = match (case["blob"].as_str(), case["digest"].as_str()) {
            (Some(blob), _) => {
                Digest::sha256_of(&testdata(&format!("cosign/verify-blob-attestation/{blob}")))
            }
            (None, Some(d)) => d.parse().unwrap(),
            (None, None) => panic!("{desc}: no blob and no digest"),
        };
        let statement = statement_of(&format!(
            "cosign/verify-blob-attestation/{}",
            case["signature"].as_str().unwrap()
        ));
        let pass = statement.is_ok_and(|s| check_claims(&s, &digest, case["type"].as_str()));
        assert_eq!(pass, case["expect"] == "pass", "{desc}");
        checked += 1;
    }
    assert_eq!(checked, 9);
    // Known short names resolve as the cases table says.
    for (short, uri) in cases["predicate_short_names"].as_object().unwrap() {
        if !short.starts_with('_') {
            assert_eq!(
                predicate_type_uri(short).unwrap(),
                uri.as_str().unwrap(),
                "{short}"
            );
        }
    }
    assert!(predicate_type_uri("notreallyslsaprovenance").is_err());
    assert_eq!(
        predicate_type_uri("https://example.com/x/v1").unwrap(),
        "https://example.com/x/v1"
    );
}

#[test]
fn cosign_subject_claim_cases() {
    let dir = "cosign/intoto-subject-claims";
    let demo: Digest = "sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed"
        .parse()
        .unwrap();
    let valid = statement_of(&format!("{dir}/validIntotoStatement.json")).unwrap();
    assert!(valid.has_subject_digest(&demo));
    assert!(!valid.has_subject_digest(&Digest::sha256_of(b"other")));
    assert_eq!(valid.statement_type(), StatementType::V0_1);
    // The only digest is under algorithm "999": valid in-toto, but no sha256 to match.
    let missing = statement_of(&format!("{dir}/validIntotoStatementMissingSubject.json")).unwrap();
    assert!(!missing.has_subject_digest(&demo));
    let string_predicate =
        statement_of(&format!("{dir}/validIntotoStatementStringPredicate.json")).unwrap();
    assert!(string_predicate.predicate().is_string());
    assert!(
        string_predicate.has_subject_digest(
            &"sha256:9925d3017788558fa8f27e8bb160b791e56202b60c91fbcc5c867de3175986c8"
                .parse()
                .unwrap()
        )
    );
    let null_subject = statement_of(&format!("{dir}/intotoStatementNullSubject.json"));
    assert!(
        null_subject
            .unwrap_err()
            .contains("invalid in-toto statement JSON")
    );
    assert!(statement_of(&format!("{dir}/invalidIntotoStatementBadEncoding.json")).is_err());
    assert!(statement_of(&format!("{dir}/invalidTotoStatement.json")).is_err());
}

#[test]
fn cosign_policy_attestation_predicate_types() {
    let dir = "cosign/policy-attestations";
    for (file, type_name, matches) in [
        ("valid-custom", "custom", true),
        ("malformed-custom", "custom", false),
        ("valid-vuln", "vuln", true),
        ("malformed-vuln", "vuln", false),
    ] {
        let s = statement_of(&format!("{dir}/{file}.dsse.json")).unwrap();
        assert_eq!(
            s.predicate_type() == predicate_type_uri(type_name).unwrap(),
            matches,
            "{file}"
        );
    }
}

const CAPTURED: &str = "cosign/spec-examples/captured-cosign-2.5";

#[test]
fn statements_are_byte_exact_with_cosign() {
    let digest: Digest = "sha256:06264063f7b0a4987c389f6d2fdcd749a35ae57232e5dc4975dae316c0dccd65"
        .parse()
        .unwrap();
    let custom_file = testdata(&format!("{CAPTURED}/pred.json"));
    let cases: [(usize, &str, Vec<u8>); 5] = [
        (0, "custom", custom_file),
        (
            1,
            "spdxjson",
            testdata("cosign/predicates/bom-go-mod.spdx.json"),
        ),
        (
            3,
            "cyclonedx",
            testdata("cosign/predicates/bom-go-mod.cyclonedx.json"),
        ),
        (5, "openvex", testdata("cosign/predicates/test-result.json")),
        (
            6,
            "https://example.com/test-result/v1",
            testdata("cosign/predicates/test-result.json"),
        ),
    ];
    for (i, type_name, file) in cases {
        let expected = testdata(&format!("{CAPTURED}/att-statement-{i}.json"));
        let parsed = Statement::parse(&expected).unwrap();
        assert!(parsed.has_subject_digest(&digest));
        let timestamp = parsed.predicate()["Timestamp"].as_str().unwrap_or("unused");
        let (uri, predicate) = Predicate::from_cosign_type(type_name, &file, timestamp).unwrap();
        assert_eq!(uri, parsed.predicate_type());
        let built = cosign_statement("127.0.0.1:35791/img", &digest, &uri, &predicate);
        assert_eq!(
            String::from_utf8(built).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{type_name}"
        );
    }
    // vuln: cosign's typed struct order is not reproduced; same content, parsed.
    let vuln = Statement::parse(&testdata(&format!("{CAPTURED}/att-statement-4.json"))).unwrap();
    let file: Value =
        serde_json::from_slice(&testdata("cosign/predicates/vuln-predicate.json")).unwrap();
    assert_eq!(vuln.predicate(), &file);
    // spdx tag-value becomes a JSON string.
    let (_, text) =
        Predicate::from_cosign_type("spdx", b"SPDXVersion: SPDX-2.2\n<x>", "t").unwrap();
    let built = cosign_statement("r/x", &digest, intoto::PREDICATE_TYPES[4].1, &text);
    assert!(
        String::from_utf8(built)
            .unwrap()
            .ends_with(r#""predicate":"SPDXVersion: SPDX-2.2\n\u003cx\u003e"}"#)
    );
    assert!(Predicate::from_cosign_type("cyclonedx", b"not json", "t").is_err());
    assert!(Predicate::from_cosign_type("bogus type", b"{}", "t").is_err());
}

#[test]
fn spec_examples() {
    let predicate_spec = Statement::parse(&testdata(
        "cosign/spec-examples/COSIGN_PREDICATE_SPEC_L14.json",
    ))
    .unwrap();
    assert_eq!(
        predicate_spec.predicate_type(),
        predicate_type_uri("custom").unwrap()
    );
    assert_eq!(
        predicate_spec.subject()[0].name,
        "us.gcr.io/dlorenc-vmtest2/demo"
    );
    // in-toto spec examples: full digests validate, the truncated placeholders do not.
    for (file, ok) in [
        ("predicates_reference_L88.json", true),
        ("predicates_reference_L120.json", true),
        ("predicates_release_L111.json", false),
        ("predicates_svr_L114.json", false),
    ] {
        let result = Statement::parse(&testdata(&format!("in-toto/spec-examples/{file}")));
        assert_eq!(result.is_ok(), ok, "{file}: {result:?}");
        if let Ok(s) = result {
            assert_eq!(s.statement_type(), StatementType::V1);
        }
    }
}

#[test]
fn rejects_bad_statements() {
    let good = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed"}}],"predicateType":"p","predicate":{}}"#;
    assert!(Statement::parse(good.as_bytes()).is_ok());
    assert!(matches!(
        Statement::parse(format!("{good}x").as_bytes()),
        Err(StatementError::Json { .. })
    ));
    assert!(matches!(
        Statement::parse(b"[1]"),
        Err(StatementError::Json { .. })
    ));
    let upper = good.replace("6c6f", "6C6F");
    let s = Statement::parse(upper.as_bytes()).unwrap(); // hex is hex, as in Go
    assert!(
        !s.has_subject_digest(
            &"sha256:6c6fd6a4115c6e998ff357cd914680931bb9a6c1a7cd5f5cb2f5e1c0932ab6ed"
                .parse()
                .unwrap()
        )
    );
    let null_predicate = good.replace(r#""predicate":{}"#, r#""predicate":null"#);
    assert!(matches!(
        Statement::parse(null_predicate.as_bytes()),
        Err(StatementError::PredicateRequired)
    ));
    let subjects = vec![r#"{"name":"a","digest":{"x":"y"}}"#; intoto::MAX_SUBJECTS + 1].join(",");
    let many = format!(
        r#"{{"_type":"{}","subject":[{subjects}],"predicateType":"p","predicate":1}}"#,
        intoto::STATEMENT_V1
    );
    assert!(matches!(
        Statement::parse(many.as_bytes()),
        Err(StatementError::TooManySubjects(_))
    ));
    let mut huge = good.as_bytes().to_vec();
    huge.resize(intoto::MAX_STATEMENT_BYTES + 1, b' ');
    assert!(matches!(
        Statement::parse(&huge),
        Err(StatementError::TooLarge { .. })
    ));
}
