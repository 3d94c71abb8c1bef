//! in-toto attestation statements (v0.1 and v1), the predicate types cosign
//! knows by short name, and the statement cosign 2.x writes for an image.
//!
//! [`Statement::parse`] validates as the in-toto reference implementation
//! does (`_type` is Statement v0.1 or v1, at least one subject, every
//! subject has a name, URI or digest and a non-empty digest set, digests of
//! known algorithms are hex of the right length, `predicateType` is
//! non-empty, `predicate` is present). Unknown fields are ignored, as the
//! in-toto spec requires of consumers.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;
use crate::json;

/// `_type` of in-toto Statement v0.1 (what cosign 2.x writes).
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";
/// `_type` of in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// The largest statement [`Statement::parse`] accepts (same as the DSSE envelope limit).
pub const MAX_STATEMENT_BYTES: usize = crate::dsse::MAX_ENVELOPE_BYTES;

/// The most subjects a statement may list.
pub const MAX_SUBJECTS: usize = 4096;

/// cosign's predicate short names (`--type`) and the URIs they stand for.
pub const PREDICATE_TYPES: &[(&str, &str)] = &[
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
];

/// Why a `--type` value names no predicate type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PredicateTypeError {
    /// Neither a short name nor an absolute URI.
    #[error(
        "invalid predicate type `{0}` (expected one of custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, or an absolute URI)"
    )]
    Invalid(String),
}

/// Resolves a cosign `--type` value: a short name from [`PREDICATE_TYPES`] or
/// an absolute URI (`scheme:…`), returned as is.
pub fn predicate_type_uri(name: &str) -> Result<Cow<'_, str>, PredicateTypeError> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == name) {
        return Ok(Cow::Borrowed(uri));
    }
    let is_uri = name.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && !rest.contains(char::is_whitespace)
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if is_uri {
        Ok(Cow::Borrowed(name))
    } else {
        Err(PredicateTypeError::Invalid(
            name.chars().take(200).collect(),
        ))
    }
}

/// The statement layer version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementType {
    /// `https://in-toto.io/Statement/v0.1`.
    V0_1,
    /// `https://in-toto.io/Statement/v1`.
    V1,
}

impl StatementType {
    /// The `_type` URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => STATEMENT_V0_1,
            Self::V1 => STATEMENT_V1,
        }
    }
}

/// A resource descriptor (statement subject), v1 fields; v0.1 subjects use
/// only `name` and `digest`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// Name (for cosign: the repository).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// URI.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Digest set: algorithm name → encoded digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Inline content (base64 in JSON).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    /// Download location.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub download_location: String,
    /// Media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// Why a statement or resource descriptor is invalid. Variants mirror the
/// in-toto reference implementation's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The input is larger than [`MAX_STATEMENT_BYTES`].
    #[error("in-toto statement is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON is malformed, has wrongly typed fields or trailing data.
    #[error("invalid in-toto statement JSON")]
    Json {
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// `_type` is not Statement v0.1 or v1.
    #[error("in-toto statement has _type `{0}` (expected {STATEMENT_V0_1} or {STATEMENT_V1})")]
    InvalidStatementType(String),
    /// No subjects.
    #[error("in-toto statement has no subject")]
    SubjectRequired,
    /// More than [`MAX_SUBJECTS`] subjects.
    #[error("in-toto statement has {0} subjects, more than the limit of {MAX_SUBJECTS}")]
    TooManySubjects(usize),
    /// A resource descriptor has none of name, uri, digest.
    #[error("resource descriptor needs at least one of name, uri or digest")]
    RdRequiredField,
    /// A subject has an empty digest set.
    #[error("in-toto statement subject `{name}` has no digest")]
    DigestRequired {
        /// The subject's name.
        name: String,
    },
    /// A digest of a known algorithm is not hex.
    #[error("digest for algorithm `{algorithm}` is not a hex string")]
    InvalidDigestEncoding {
        /// The algorithm.
        algorithm: String,
    },
    /// A digest of a known algorithm has the wrong length.
    #[error("digest for algorithm `{algorithm}` is {got} bytes, expected {want}")]
    IncorrectDigestLength {
        /// The algorithm.
        algorithm: String,
        /// Decoded length.
        got: usize,
        /// Expected length.
        want: usize,
    },
    /// `predicateType` is empty.
    #[error("in-toto statement has an empty predicateType")]
    PredicateTypeRequired,
    /// `predicate` is missing or null.
    #[error("in-toto statement has no predicate")]
    PredicateRequired,
}

/// Digest sizes in bytes of the algorithms whose encoding in-toto checks;
/// `gitCommit` may be SHA-1 or SHA-256.
fn known_digest_sizes(algorithm: &str) -> Option<&'static [usize]> {
    Some(match algorithm {
        "md5" => &[16],
        "sha1" => &[20],
        "sha224" | "sha512_224" | "sha3_224" => &[28],
        "sha256" | "sha512_256" | "sha3_256" | "dirHash" => &[32],
        "sha384" | "sha3_384" => &[48],
        "sha512" | "sha3_512" => &[64],
        "gitCommit" => &[20, 32],
        _ => return None,
    })
}

impl ResourceDescriptor {
    /// Validates as in-toto's `ResourceDescriptor.Validate`.
    pub fn validate(&self) -> Result<(), StatementError> {
        if self.name.is_empty() && self.uri.is_empty() && self.digest.is_empty() {
            return Err(StatementError::RdRequiredField);
        }
        for (algorithm, encoded) in &self.digest {
            let Some(sizes) = known_digest_sizes(algorithm) else {
                continue;
            };
            let bytes =
                hex::decode(encoded).map_err(|_| StatementError::InvalidDigestEncoding {
                    algorithm: algorithm.clone(),
                })?;
            if !sizes.contains(&bytes.len()) {
                return Err(StatementError::IncorrectDigestLength {
                    algorithm: algorithm.clone(),
                    got: bytes.len(),
                    want: sizes.first().copied().unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Parses and validates a resource descriptor on its own.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        let rd: Self =
            serde_json::from_slice(bytes).map_err(|source| StatementError::Json { source })?;
        rd.validate()?;
        Ok(rd)
    }

    /// Whether this descriptor's digest set holds `digest` (same algorithm
    /// name, same lowercase hex).
    pub fn has_digest(&self, digest: &Digest) -> bool {
        self.digest
            .get(digest.algorithm().as_str())
            .is_some_and(|hex| hex == digest.hex())
    }
}

/// A validated in-toto statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    statement_type: StatementType,
    subject: Vec<ResourceDescriptor>,
    predicate_type: String,
    predicate: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(default)]
    subject: Vec<ResourceDescriptor>,
    #[serde(default)]
    predicate_type: String,
    #[serde(default)]
    predicate: Value,
}

impl Statement {
    /// Parses and validates a statement (see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(StatementError::TooLarge {
                size: bytes.len(),
                limit: MAX_STATEMENT_BYTES,
            });
        }
        let raw: RawStatement =
            serde_json::from_slice(bytes).map_err(|source| StatementError::Json { source })?;
        let statement_type = match raw.kind.as_str() {
            STATEMENT_V0_1 => StatementType::V0_1,
            STATEMENT_V1 => StatementType::V1,
            other => {
                return Err(StatementError::InvalidStatementType(
                    other.chars().take(200).collect(),
                ));
            }
        };
        if raw.subject.is_empty() {
            return Err(StatementError::SubjectRequired);
        }
        if raw.subject.len() > MAX_SUBJECTS {
            return Err(StatementError::TooManySubjects(raw.subject.len()));
        }
        for rd in &raw.subject {
            rd.validate()?;
            if rd.digest.is_empty() {
                return Err(StatementError::DigestRequired {
                    name: rd.name.chars().take(200).collect(),
                });
            }
        }
        if raw.predicate_type.is_empty() {
            return Err(StatementError::PredicateTypeRequired);
        }
        if raw.predicate.is_null() {
            return Err(StatementError::PredicateRequired);
        }
        Ok(Self {
            statement_type,
            subject: raw.subject,
            predicate_type: raw.predicate_type,
            predicate: raw.predicate,
        })
    }

    /// `_type`.
    pub fn statement_type(&self) -> StatementType {
        self.statement_type
    }

    /// The subjects (at least one).
    pub fn subject(&self) -> &[ResourceDescriptor] {
        &self.subject
    }

    /// `predicateType`.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }

    /// The predicate.
    pub fn predicate(&self) -> &Value {
        &self.predicate
    }

    /// Whether some subject has `digest` (cosign's subject claim check).
    pub fn has_subject_digest(&self, digest: &Digest) -> bool {
        self.subject.iter().any(|s| s.has_digest(digest))
    }
}

/// A predicate for [`cosign_statement`], shaped as cosign shapes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Predicate {
    /// A JSON document, written with object keys sorted (cosign parses the
    /// file into a generic map: spdxjson, cyclonedx, openvex, URI types).
    Json(Value),
    /// A text document written as a JSON string (cosign's `spdx` tag-value).
    Text(String),
    /// cosign's `custom` predicate: `{"Data": <file as text>, "Timestamp": <RFC 3339 UTC>}`.
    Custom {
        /// The predicate file's contents.
        data: String,
        /// The signing time, e.g. `2026-12-03T17:11:25Z`.
        timestamp: String,
    },
}

/// Why a predicate file cannot be turned into a [`Predicate`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredicateError {
    /// The `--type` is invalid.
    #[error(transparent)]
    Type(#[from] PredicateTypeError),
    /// The predicate file is not JSON (for a type that needs JSON).
    #[error("predicate of type `{predicate_type}` is not valid JSON")]
    Json {
        /// The predicate type URI.
        predicate_type: String,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
}

impl Predicate {
    /// What `cosign attest --type <type_name> --predicate FILE` puts into the
    /// statement for `file` (`timestamp` is used by `custom` only). Returns
    /// the predicate type URI and the predicate.
    ///
    /// Byte-exact with cosign 2.5 for custom, spdx, spdxjson, cyclonedx,
    /// openvex and URI types. cosign decodes `vuln` and `slsaprovenance*`
    /// into typed structs whose field order rsign does not reproduce; those
    /// are written with sorted keys (same content, different bytes).
    pub fn from_cosign_type(
        type_name: &str,
        file: &[u8],
        timestamp: &str,
    ) -> Result<(String, Self), PredicateError> {
        let uri = predicate_type_uri(type_name)?.into_owned();
        let predicate =
            match type_name {
                "custom" => Self::Custom {
                    data: String::from_utf8_lossy(file).into_owned(),
                    timestamp: timestamp.to_owned(),
                },
                "spdx" => Self::Text(String::from_utf8_lossy(file).into_owned()),
                _ => Self::Json(serde_json::from_slice(file).map_err(|source| {
                    PredicateError::Json {
                        predicate_type: uri.clone(),
                        source,
                    }
                })?),
            };
        Ok((uri, predicate))
    }
}

impl Serialize for Predicate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Custom<'a> {
            #[serde(rename = "Data")]
            data: &'a str,
            #[serde(rename = "Timestamp")]
            timestamp: &'a str,
        }
        match self {
            Self::Json(v) => json::Sorted(v).serialize(s),
            Self::Text(t) => s.serialize_str(t),
            Self::Custom { data, timestamp } => Custom { data, timestamp }.serialize(s),
        }
    }
}

/// The statement cosign 2.x writes for an image: `_type` Statement v0.1,
/// `predicateType`, one subject named `repository` (e.g.
/// `registry.example/ns/repo`) with the sha256 `digest`, and the predicate —
/// byte for byte as cosign 2.5 writes it (see [`Predicate::from_cosign_type`]).
pub fn cosign_statement(
    repository: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: &Predicate,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Subject<'a> {
        name: &'a str,
        digest: BTreeMap<&'static str, &'a str>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        #[serde(rename = "_type")]
        kind: &'static str,
        predicate_type: &'a str,
        subject: [Subject<'a>; 1],
        predicate: &'a Predicate,
    }
    let out = Out {
        kind: STATEMENT_V0_1,
        predicate_type,
        subject: [Subject {
            name: repository,
            digest: BTreeMap::from([(digest.algorithm().as_str(), digest.hex())]),
        }],
        predicate,
    };
    json::to_vec(&out)
}

/// Why a SLSA provenance v1 predicate is invalid (errors of in-toto's
/// reference implementation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvenanceError {
    /// `buildDefinition` missing or empty.
    #[error("slsa provenance v1: buildDefinition is required")]
    BuildDefinitionRequired,
    /// `buildDefinition.buildType` missing or empty.
    #[error("slsa provenance v1: buildDefinition.buildType is required")]
    BuildTypeRequired,
    /// `buildDefinition.externalParameters` missing.
    #[error("slsa provenance v1: buildDefinition.externalParameters is required")]
    ExternalParamsRequired,
    /// `runDetails` missing or empty.
    #[error("slsa provenance v1: runDetails is required")]
    RunDetailsRequired,
    /// `runDetails.builder` missing or empty.
    #[error("slsa provenance v1: runDetails.builder is required")]
    BuilderRequired,
    /// `runDetails.builder.id` missing or empty.
    #[error("slsa provenance v1: runDetails.builder.id is required")]
    BuilderIdRequired,
    /// A resource descriptor inside the predicate is invalid.
    #[error("slsa provenance v1: invalid resource descriptor in `{field}`")]
    ResourceDescriptor {
        /// Where.
        field: &'static str,
        /// What is wrong.
        #[source]
        source: Box<StatementError>,
    },
}

/// Validates a SLSA provenance v1 predicate (`https://slsa.dev/provenance/v1`)
/// the way in-toto's reference implementation does; an empty object counts as missing.
pub fn validate_slsa_provenance_v1(predicate: &Value) -> Result<(), ProvenanceError> {
    fn present(v: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
        v.and_then(Value::as_object).filter(|o| !o.is_empty())
    }
    fn rds(v: Option<&Value>, field: &'static str) -> Result<(), ProvenanceError> {
        for item in v.and_then(Value::as_array).into_iter().flatten() {
            let rd: ResourceDescriptor =
                serde_json::from_value(item.clone()).map_err(|source| {
                    ProvenanceError::ResourceDescriptor {
                        field,
                        source: Box::new(StatementError::Json { source }),
                    }
                })?;
            rd.validate()
                .map_err(|e| ProvenanceError::ResourceDescriptor {
                    field,
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }
    let bd = present(predicate.get("buildDefinition"))
        .ok_or(ProvenanceError::BuildDefinitionRequired)?;
    if bd
        .get("buildType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ProvenanceError::BuildTypeRequired);
    }
    if bd.get("externalParameters").is_none_or(Value::is_null) {
        return Err(ProvenanceError::ExternalParamsRequired);
    }
    rds(bd.get("resolvedDependencies"), "resolvedDependencies")?;
    let rd = present(predicate.get("runDetails")).ok_or(ProvenanceError::RunDetailsRequired)?;
    let builder = present(rd.get("builder")).ok_or(ProvenanceError::BuilderRequired)?;
    if builder
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(ProvenanceError::BuilderIdRequired);
    }
    rds(builder.get("builderDependencies"), "builderDependencies")?;
    rds(rd.get("byproducts"), "byproducts")?;
    Ok(())
}
