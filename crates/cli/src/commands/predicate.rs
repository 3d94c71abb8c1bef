//! What `attest` and `attest-blob` share: reading a predicate file, turning
//! cosign's `--type` into a predicate, wrapping a scanner's own report into
//! cosign's vulnerability predicate, building and signing the statement.
//!
//! # `--type vuln` and scanner reports
//!
//! cosign's vuln predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`,
//! COSIGN_VULN_ATTESTATION_SPEC) is
//! `{"invocation":{...},"scanner":{"uri","version","db":{"uri","version"},"result":<report>},"metadata":{"scanStartedOn","scanFinishedOn"}}`.
//! cosign 2.5 decodes the predicate file into that struct, so a scanner's own
//! report given as the file ends up as an *empty* predicate (`result: null`).
//! rsign instead detects a Trivy JSON report (`trivy image --format json`:
//! top-level `SchemaVersion` number, `ArtifactName` string and `Results`
//! array, the latter may be absent for a clean scan) and wraps it: the whole
//! report becomes `scanner.result`, `scanner.version` is the report's
//! `Trivy.Version` when present, `scanner.uri` is
//! `pkg:github/aquasecurity/trivy[@VERSION]`, and both `metadata` times are
//! the report's `CreatedAt` (or the time of attesting when absent). A file
//! that already has cosign's shape is used as it is.
//!
//! Keys of JSON predicates are written sorted (go-json style, as cosign does
//! for free-form predicates); cosign writes the vuln and SLSA predicates in
//! its struct order instead, so those bytes differ while the content is the
//! same.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rsign_core::Digest;
use rsign_core::dsse::{self, Envelope, IN_TOTO_PAYLOAD_TYPE};
use rsign_core::intoto::{self, Predicate};
use rsign_core::keys::PrivateKey;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::files;

/// The largest predicate file read, in bytes (16 MiB): its statement and
/// envelope must stay under the core's 32 MiB limits.
pub const MAX_PREDICATE_BYTES: u64 = 16 * 1024 * 1024;

/// The predicate type URI for a `--type` value (a short name or a URI).
pub fn type_uri(type_name: &str) -> Result<String, CliError> {
    intoto::predicate_type_uri(type_name)
        .map(std::borrow::Cow::into_owned)
        .map_err(|source| CliError::PredicateType { source })
}

/// A predicate file read and converted for one `--type`.
#[derive(Debug, Clone)]
pub struct PreparedPredicate {
    /// The predicate type URI.
    pub type_uri: String,
    /// The predicate.
    pub predicate: Predicate,
    /// Set when a scanner report was wrapped: the scanner's name.
    pub wrapped_report: Option<&'static str>,
}

/// Reads `path` (at most [`MAX_PREDICATE_BYTES`]) and builds the predicate
/// for `type_name` as cosign would, wrapping a Trivy report for `vuln`.
pub fn prepare(path: &Path, type_name: &str) -> Result<PreparedPredicate, CliError> {
    let bytes = files::read_bounded(path, "predicate", MAX_PREDICATE_BYTES)?;
    prepare_bytes(path, &bytes, type_name, &rfc3339_now())
}

/// [`prepare`] for bytes already read; `now` is the RFC 3339 time used for
/// `custom` and for a wrapped report without its own time.
pub fn prepare_bytes(
    path: &Path,
    bytes: &[u8],
    type_name: &str,
    now: &str,
) -> Result<PreparedPredicate, CliError> {
    let predicate_err = |source| CliError::Predicate {
        path: path.to_owned(),
        source,
    };
    if type_name == "vuln" {
        let value: Value = serde_json::from_slice(bytes).map_err(|source| {
            predicate_err(intoto::PredicateError::Json {
                predicate_type: intoto::PREDICATE_TYPES
                    .iter()
                    .find(|(n, _)| *n == "vuln")
                    .map_or_else(String::new, |(_, u)| (*u).to_owned()),
                source,
            })
        })?;
        if is_trivy_report(&value) {
            return Ok(PreparedPredicate {
                type_uri: type_uri("vuln")?,
                predicate: Predicate::Json(wrap_trivy_report(value, now)),
                wrapped_report: Some("Trivy"),
            });
        }
    }
    let (type_uri, predicate) =
        Predicate::from_cosign_type(type_name, bytes, now).map_err(|e| match e {
            intoto::PredicateError::Type(source) => CliError::PredicateType { source },
            other => predicate_err(other),
        })?;
    Ok(PreparedPredicate {
        type_uri,
        predicate,
        wrapped_report: None,
    })
}

/// Whether `value` looks like a Trivy JSON report (`--format json`).
pub fn is_trivy_report(value: &Value) -> bool {
    let Some(obj) = value.as_object() else {
        return false;
    };
    obj.get("SchemaVersion").is_some_and(Value::is_number)
        && obj.get("ArtifactName").is_some_and(Value::is_string)
        && obj
            .get("Results")
            .is_none_or(|r| r.is_array() || r.is_null())
        && !obj.contains_key("scanner")
}

/// Wraps a Trivy report into cosign's vuln predicate (see the module docs).
pub fn wrap_trivy_report(report: Value, now: &str) -> Value {
    let version = report
        .get("Trivy")
        .and_then(|t| t.get("Version"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let created = report
        .get("CreatedAt")
        .and_then(Value::as_str)
        .filter(|s| looks_like_rfc3339(s))
        .unwrap_or(now)
        .to_owned();
    let uri = if version.is_empty() {
        "pkg:github/aquasecurity/trivy".to_owned()
    } else {
        format!("pkg:github/aquasecurity/trivy@{version}")
    };
    json!({
        "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": uri,
            "version": version,
            "db": {"uri": "", "version": ""},
            "result": report,
        },
        "metadata": {"scanStartedOn": created, "scanFinishedOn": created},
    })
}

fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b.len() <= 40
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
}

/// The subject of a statement: a name and the digest it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject name (image repository, or blob file name).
    pub name: String,
    /// The digest.
    pub digest: Digest,
}

/// A signed attestation: the statement and the DSSE envelope over it.
#[derive(Debug, Clone)]
pub struct SignedAttestation {
    /// The in-toto statement bytes (the envelope's payload).
    pub statement: Vec<u8>,
    /// The envelope bytes as stored (cosign's compact JSON).
    pub envelope: Vec<u8>,
}

/// Builds cosign's statement for `subject` and signs it into a DSSE
/// envelope with `key`, refusing results over the core's size limits.
pub fn sign_statement(
    key: &PrivateKey,
    subject: &Subject,
    predicate: &PreparedPredicate,
) -> Result<SignedAttestation, CliError> {
    let statement = intoto::cosign_statement(
        &subject.name,
        &subject.digest,
        &predicate.type_uri,
        &predicate.predicate,
    );
    if statement.len() > intoto::MAX_STATEMENT_BYTES {
        return Err(CliError::AttestationTooLarge {
            what: "statement",
            size: statement.len(),
            limit: intoto::MAX_STATEMENT_BYTES,
        });
    }
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.clone(), |pae| key.sign(pae))
        .map_err(|source| CliError::SignAttestation { source })?
        .to_bytes();
    if envelope.len() > dsse::MAX_ENVELOPE_BYTES {
        return Err(CliError::AttestationTooLarge {
            what: "envelope",
            size: envelope.len(),
            limit: dsse::MAX_ENVELOPE_BYTES,
        });
    }
    Ok(SignedAttestation {
        statement,
        envelope,
    })
}

/// The current time as cosign writes it: RFC 3339, UTC, whole seconds.
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_888_285), "2027-01-02T11:11:25Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn trivy_reports_are_detected_and_wrapped() {
        let report = json!({"SchemaVersion": 2, "ArtifactName": "a:1", "Results": [],
                            "CreatedAt": "2024-04-02T09:14:27.312845Z",
                            "Trivy": {"Version": "0.50.1"}});
        assert!(is_trivy_report(&report));
        let wrapped = wrap_trivy_report(report.clone(), "2026-01-01T00:00:00Z");
        assert_eq!(wrapped["scanner"]["result"], report);
        assert_eq!(wrapped["scanner"]["version"], "0.50.1");
        assert_eq!(
            wrapped["scanner"]["uri"],
            "pkg:github/aquasecurity/trivy@0.50.1"
        );
        assert_eq!(
            wrapped["metadata"]["scanStartedOn"],
            "2024-04-02T09:14:27.312845Z"
        );
        // cosign's own shape, and other JSON, are not reports.
        assert!(!is_trivy_report(
            &json!({"scanner": {}, "SchemaVersion": 2})
        ));
        assert!(!is_trivy_report(
            &json!({"SchemaVersion": "2", "ArtifactName": "a"})
        ));
        assert!(!is_trivy_report(&json!([1, 2])));
        let bare = wrap_trivy_report(json!({"SchemaVersion": 2, "ArtifactName": "a"}), "T");
        assert_eq!(bare["metadata"]["scanFinishedOn"], "T");
        assert_eq!(bare["scanner"]["uri"], "pkg:github/aquasecurity/trivy");
    }

    #[test]
    fn vuln_type_keeps_cosign_shaped_predicates() {
        let file = br#"{"invocation":{},"scanner":{"uri":"x","result":null},"metadata":{}}"#;
        let p = prepare_bytes(Path::new("p.json"), file, "vuln", "T").unwrap();
        assert!(p.wrapped_report.is_none());
        assert_eq!(
            p.type_uri,
            "https://cosign.sigstore.dev/attestation/vuln/v1"
        );
        let p = prepare_bytes(
            Path::new("p.json"),
            br#"{"SchemaVersion":2,"ArtifactName":"a","Results":[]}"#,
            "vuln",
            "T",
        )
        .unwrap();
        assert_eq!(p.wrapped_report, Some("Trivy"));
        assert!(prepare_bytes(Path::new("p"), b"not json", "vuln", "T").is_err());
        assert!(prepare_bytes(Path::new("p"), b"{}", "no such type", "T").is_err());
    }
}
