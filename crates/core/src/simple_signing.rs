//! cosign's "simple signing" payload: the JSON document a container image
//! signature signs.
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"registry.example/repo"},
//!  "image":{"docker-manifest-digest":"sha256:…"},
//!  "type":"cosign container image signature"},"optional":null}
//! ```
//!
//! [`SimpleSigning::to_bytes`] writes exactly the bytes cosign 2.5 writes (Go's
//! `encoding/json`: compact, struct fields in declaration order, map keys
//! sorted, `<`, `>` and `&` escaped as `\u003c`, `\u003e`, `\u0026`).
//! [`SimpleSigning::parse`] is strict: unknown fields in `critical` (and in the
//! top-level object) are rejected, `critical.type` must be exactly
//! `cosign container image signature`, the digest must be a valid
//! [`Digest`], trailing data is rejected and the input is size-bounded.
//! `optional` is an open map because skopeo writes `creator` and `timestamp`
//! there. Field names are matched case-sensitively (Go's decoder would also
//! accept `Docker-manifest-digest`; rsign does not).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Digest;
use crate::json;

/// The only value of `critical.type` rsign accepts and writes.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// The largest simple-signing payload [`SimpleSigning::parse`] accepts. cosign's
/// payloads are a few hundred bytes; annotations make them larger, not this large.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Annotations in the `optional` section: an open JSON object.
pub type Annotations = BTreeMap<String, Value>;

/// A parsed or built simple-signing payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleSigning {
    critical: Critical,
    #[serde(default, serialize_with = "serialize_annotations")]
    optional: Option<Annotations>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: SignatureType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: Digest,
}

/// The value of `critical.type`: an enum with exactly one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SignatureType {
    /// `cosign container image signature`.
    #[serde(rename = "cosign container image signature")]
    CosignContainerImageSignature,
}

/// Why bytes are not a valid simple-signing payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimpleSigningError {
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("simple-signing payload is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// `critical.type` is not `cosign container image signature`.
    #[error(
        "simple-signing payload has critical.type `{found}`, expected `cosign container image signature`"
    )]
    WrongType {
        /// The type found, truncated for display.
        found: String,
    },
    /// The JSON is malformed, has unknown or missing fields, a bad digest or trailing data.
    #[error("invalid simple-signing payload")]
    Json {
        /// The decoder's complaint (names the field and position).
        #[source]
        source: serde_json::Error,
    },
}

impl SimpleSigning {
    /// A payload binding `docker_reference` (cosign writes the repository,
    /// e.g. `registry.example/ns/repo`, see [`cosign_docker_reference`]) to
    /// the manifest `digest`. Empty `annotations` are written as `null`, as cosign does.
    pub fn new(
        docker_reference: impl Into<String>,
        digest: Digest,
        annotations: Option<Annotations>,
    ) -> Self {
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.into(),
                },
                image: Image {
                    docker_manifest_digest: digest,
                },
                kind: SignatureType::CosignContainerImageSignature,
            },
            optional: annotations.filter(|a| !a.is_empty()),
        }
    }

    /// Parses a payload strictly (see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<Self, SimpleSigningError> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(SimpleSigningError::TooLarge {
                size: bytes.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        // serde_json::from_slice rejects trailing non-whitespace data.
        serde_json::from_slice::<Self>(bytes).map_err(|source| match wrong_type(bytes) {
            Some(found) => SimpleSigningError::WrongType { found },
            None => SimpleSigningError::Json { source },
        })
    }

    /// The payload bytes exactly as cosign writes them (no trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        json::to_vec(self)
    }

    /// `critical.identity.docker-reference`.
    pub fn docker_reference(&self) -> &str {
        &self.critical.identity.docker_reference
    }

    /// `critical.image.docker-manifest-digest`.
    pub fn manifest_digest(&self) -> &Digest {
        &self.critical.image.docker_manifest_digest
    }

    /// `critical.type`.
    pub fn signature_type(&self) -> SignatureType {
        self.critical.kind
    }

    /// The `optional` annotations, `None` when the payload has `"optional":null`.
    pub fn annotations(&self) -> Option<&Annotations> {
        self.optional.as_ref()
    }
}

/// If `bytes` are JSON with a string `critical.type` other than cosign's, that string.
fn wrong_type(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let found = value.get("critical")?.get("type")?.as_str()?;
    (found != COSIGN_SIGNATURE_TYPE).then(|| found.chars().take(100).collect())
}

fn serialize_annotations<S: serde::Serializer>(
    value: &Option<Annotations>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        None => s.serialize_none(),
        Some(map) => s.collect_map(map.iter().map(|(k, v)| (k, json::Sorted(v)))),
    }
}

/// Why an image reference cannot name a repository.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DockerReferenceError {
    /// The reference is empty or has an empty path component.
    #[error("image reference `{0}` has an empty repository name")]
    Empty(String),
}

/// The identity cosign writes into `docker-reference` for `image`: the
/// repository without tag or digest, with Docker Hub spelled
/// `index.docker.io` and its official images under `library/`, as
/// go-containerregistry names them (`docker.io/x/y:1` → `index.docker.io/x/y`,
/// `ubuntu` → `index.docker.io/library/ubuntu`).
///
/// This does only the normalisation; validating the reference's grammar is
/// the reference parser's job.
pub fn cosign_docker_reference(image: &str) -> Result<String, DockerReferenceError> {
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let repo = match without_digest.get(last_slash..).and_then(|s| s.find(':')) {
        Some(colon) => without_digest
            .get(..last_slash + colon)
            .unwrap_or(without_digest),
        None => without_digest,
    };
    if repo.is_empty() || repo.split('/').any(str::is_empty) {
        return Err(DockerReferenceError::Empty(
            image.chars().take(200).collect(),
        ));
    }
    let (first, rest) = match repo.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (repo, None),
    };
    let first_is_registry =
        rest.is_some() && (first.contains('.') || first.contains(':') || first == "localhost");
    let (registry, path) = if first_is_registry {
        (first, rest.unwrap_or_default())
    } else {
        ("index.docker.io", repo)
    };
    let registry = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    let path = if registry == "index.docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    Ok(format!("{registry}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_reference_normalisation() {
        let cases = [
            (
                "docker.io/namespace/image@sha256:abc",
                "index.docker.io/namespace/image",
            ),
            ("ubuntu", "index.docker.io/library/ubuntu"),
            ("ubuntu:22.04", "index.docker.io/library/ubuntu"),
            ("x/y:1", "index.docker.io/x/y"),
            ("127.0.0.1:5000/repo:tag", "127.0.0.1:5000/repo"),
            ("localhost/a/b", "localhost/a/b"),
            (
                "example.com/test/image@sha256:d34d",
                "example.com/test/image",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(cosign_docker_reference(input).unwrap(), want, "{input}");
        }
        assert!(cosign_docker_reference("").is_err());
        assert!(cosign_docker_reference("a//b").is_err());
    }
}
