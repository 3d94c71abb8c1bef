//! OCI image manifests, indexes and descriptors, and the signature and
//! attestation manifests cosign writes.
//!
//! Serialization follows go-containerregistry, which cosign uses: compact
//! JSON, fields in the order `schemaVersion, mediaType, config, layers,
//! annotations, subject` (manifest) and `mediaType, size, digest, urls,
//! annotations, platform, artifactType` (descriptor), empty optional fields
//! omitted, annotation keys sorted, `<>&` escaped. [`cosign_signature_manifest`]
//! reproduces cosign 2.5's `.sig`/`.att` manifests and their config blob
//! byte for byte.
//!
//! Parsing ([`Manifest::parse`]) rejects input over [`MAX_MANIFEST_BYTES`]
//! (distribution refuses larger manifests too), trailing data, and documents
//! whose media type is neither an OCI nor a Docker v2 manifest or index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::json;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config (cosign uses it for its signature manifests' config).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI empty descriptor (`{}`), used as config of artifact manifests.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform), schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Layer media type of cosign's simple-signing payloads.
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer media type of DSSE envelopes (cosign attestations).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Layer annotation holding the base64 signature of a simple-signing payload
/// (empty string on attestation layers).
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding an attestation's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
/// Index annotation naming a manifest in an OCI image layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The largest manifest [`Manifest::parse`] accepts: 4 MiB, as distribution.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// String-to-string annotations (keys sorted when written).
pub type Annotations = BTreeMap<String, String>;

/// A content descriptor: media type, digest and size of a blob or manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Size in bytes of the referenced content.
    pub size: u64,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type of an index entry or referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type` (digest SHA-256, exact size).
    pub fn of_bytes(media_type: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.into(),
            size: bytes.len() as u64,
            digest: Digest::sha256_of(bytes),
            urls: Vec::new(),
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The layer cosign writes for an image signature: the simple-signing
    /// `payload` with its base64 signature in the `dev.cosignproject.cosign/signature` annotation.
    pub fn cosign_signature_layer(payload: &[u8], signature_b64: &str) -> Self {
        let mut d = Self::of_bytes(COSIGN_SIMPLE_SIGNING, payload);
        d.annotations = Some(BTreeMap::from([(
            ANNOTATION_SIGNATURE.to_owned(),
            signature_b64.to_owned(),
        )]));
        d
    }

    /// The layer cosign writes for an attestation: the DSSE `envelope` bytes,
    /// an empty signature annotation and the `predicateType` annotation.
    pub fn cosign_attestation_layer(envelope: &[u8], predicate_type: &str) -> Self {
        let mut d = Self::of_bytes(DSSE_ENVELOPE, envelope);
        d.annotations = Some(BTreeMap::from([
            (ANNOTATION_SIGNATURE.to_owned(), String::new()),
            (
                ANNOTATION_PREDICATE_TYPE.to_owned(),
                predicate_type.to_owned(),
            ),
        ]));
        d
    }

    /// The value of annotation `key`, if present.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The platform of an image in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Required CPU features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl ImageManifest {
    /// The manifest bytes as go-containerregistry writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        json::to_vec(self)
    }
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl ImageIndex {
    /// The index bytes as go-containerregistry writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        json::to_vec(self)
    }
}

/// Any manifest kind rsign understands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Manifest {
    /// `application/vnd.oci.image.manifest.v1+json`.
    Oci(ImageManifest),
    /// `application/vnd.oci.image.index.v1+json`.
    OciIndex(ImageIndex),
    /// `application/vnd.docker.distribution.manifest.v2+json`.
    Docker(ImageManifest),
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerList(ImageIndex),
}

/// Why bytes are not a manifest rsign accepts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The media type (from the document or the Content-Type) is not a manifest or index.
    #[error(
        "unsupported manifest media type `{0}` (expected an OCI or Docker v2 manifest or index)"
    )]
    UnsupportedMediaType(String),
    /// Neither the document nor the caller says what kind of manifest it is.
    #[error("manifest has no media type and its shape is neither a manifest nor an index")]
    UnknownKind,
    /// `schemaVersion` is not 2 (Docker schema 1 is not supported).
    #[error("manifest has schemaVersion {0}, expected 2 (Docker schema 1 is not supported)")]
    SchemaVersion(u32),
    /// The document's `mediaType` disagrees with the Content-Type it was served with.
    #[error("manifest says mediaType `{document}` but was served as `{served}`")]
    MediaTypeMismatch {
        /// The `mediaType` field, truncated to 200 characters.
        document: String,
        /// The Content-Type, truncated to 200 characters.
        served: String,
    },
    /// The JSON is malformed, misses required fields or has trailing data.
    #[error("invalid manifest JSON")]
    Json {
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    config: Option<serde::de::IgnoredAny>,
}

impl Manifest {
    /// Parses a manifest of any supported kind. `content_type` is the media
    /// type it was served or stored with, if known; it is used when the
    /// document has no `mediaType` and must agree with it when both are given.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                size: bytes.len(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let bad_json = |source| ManifestError::Json { source };
        let probe: Probe = serde_json::from_slice(bytes).map_err(bad_json)?;
        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| !c.is_empty());
        let media_type = match (probe.media_type.as_deref(), content_type) {
            (Some(doc), Some(served)) if doc != served => {
                return Err(ManifestError::MediaTypeMismatch {
                    document: doc.chars().take(200).collect(),
                    served: served.chars().take(200).collect(),
                });
            }
            (Some(doc), _) => doc.to_owned(),
            (None, Some(served)) => served.to_owned(),
            (None, None) => match (probe.manifests.is_some(), probe.config.is_some()) {
                (true, false) => OCI_INDEX.to_owned(),
                (false, true) => OCI_MANIFEST.to_owned(),
                _ => return Err(ManifestError::UnknownKind),
            },
        };
        let manifest = |b| serde_json::from_slice::<ImageManifest>(b).map_err(bad_json);
        let index = |b| serde_json::from_slice::<ImageIndex>(b).map_err(bad_json);
        let parsed = match media_type.as_str() {
            OCI_MANIFEST => Self::Oci(manifest(bytes)?),
            DOCKER_MANIFEST => Self::Docker(manifest(bytes)?),
            OCI_INDEX => Self::OciIndex(index(bytes)?),
            DOCKER_MANIFEST_LIST => Self::DockerList(index(bytes)?),
            other => {
                return Err(ManifestError::UnsupportedMediaType(
                    other.chars().take(200).collect(),
                ));
            }
        };
        let version = match &parsed {
            Self::Oci(m) | Self::Docker(m) => m.schema_version,
            Self::OciIndex(i) | Self::DockerList(i) => i.schema_version,
        };
        if version != 2 {
            return Err(ManifestError::SchemaVersion(version));
        }
        Ok(parsed)
    }

    /// The media type of this manifest kind.
    pub fn media_type(&self) -> &'static str {
        match self {
            Self::Oci(_) => OCI_MANIFEST,
            Self::OciIndex(_) => OCI_INDEX,
            Self::Docker(_) => DOCKER_MANIFEST,
            Self::DockerList(_) => DOCKER_MANIFEST_LIST,
        }
    }

    /// The image manifest, if this is one (OCI or Docker).
    pub fn as_image(&self) -> Option<&ImageManifest> {
        match self {
            Self::Oci(m) | Self::Docker(m) => Some(m),
            _ => None,
        }
    }

    /// The index, if this is one (OCI or Docker).
    pub fn as_index(&self) -> Option<&ImageIndex> {
        match self {
            Self::OciIndex(i) | Self::DockerList(i) => Some(i),
            _ => None,
        }
    }
}

/// A cosign signature or attestation manifest ready to push: the manifest,
/// its config blob and their serialized bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignManifest {
    /// The manifest.
    pub manifest: ImageManifest,
    /// The manifest bytes (push with media type [`OCI_MANIFEST`]).
    pub manifest_bytes: Vec<u8>,
    /// The config blob bytes (push before the manifest).
    pub config_bytes: Vec<u8>,
}

/// Builds the manifest cosign 2.5 pushes under `sha256-<hex>.sig` or `.att`
/// for `layers` (in order): OCI manifest media type, and as config the
/// go-containerregistry image config with one history entry and one
/// `diff_id` (the layer digest; cosign's layers are uncompressed) per layer.
pub fn cosign_signature_manifest(layers: Vec<Descriptor>) -> CosignManifest {
    let config_bytes = cosign_config_bytes(layers.iter().map(|l| &l.digest));
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: Descriptor::of_bytes(OCI_CONFIG, &config_bytes),
        layers,
        annotations: None,
        subject: None,
        artifact_type: None,
    };
    let manifest_bytes = manifest.to_bytes();
    CosignManifest {
        manifest,
        manifest_bytes,
        config_bytes,
    }
}

/// The config blob cosign (go-containerregistry's `mutate.Append` on an empty
/// image) writes for a signature manifest with layers of these digests.
pub fn cosign_config_bytes<'a>(layer_digests: impl IntoIterator<Item = &'a Digest>) -> Vec<u8> {
    #[derive(Serialize)]
    struct History {
        created: &'static str,
    }
    #[derive(Serialize)]
    struct RootFs<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        // Go writes a nil slice as `null`: an image without layers.
        diff_ids: Option<Vec<&'a Digest>>,
    }
    #[derive(Serialize)]
    struct Empty {}
    #[derive(Serialize)]
    struct Config<'a> {
        architecture: &'static str,
        created: &'static str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        history: Vec<History>,
        os: &'static str,
        rootfs: RootFs<'a>,
        config: Empty,
    }
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let diff_ids: Vec<&Digest> = layer_digests.into_iter().collect();
    let config = Config {
        architecture: "",
        created: ZERO_TIME,
        history: diff_ids
            .iter()
            .map(|_| History { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: RootFs {
            kind: "layers",
            diff_ids: (!diff_ids.is_empty()).then_some(diff_ids),
        },
        config: Empty {},
    };
    json::to_vec(&config)
}
