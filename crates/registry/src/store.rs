//! The one storage seam: a repository of manifests and blobs, on a registry or on disk.
//!
//! Sign and verify do not care where an image lives. A [`Repository`] is one
//! image repository — `registry.example/team/app` over HTTP, or an OCI image
//! layout directory — and offers the handful of operations the cosign
//! attachment scheme needs. Limits (sizes, counts, timeouts) and digest checks
//! are enforced inside the implementations, once, so callers never see bytes
//! that do not match the digest they asked for.

use std::fmt;

use async_trait::async_trait;
use rsign_core::Digest;

use crate::error::Error;

/// A manifest's address inside a repository: a tag or a digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TagOrDigest {
    /// A tag such as `latest` or `sha256-<hex>.sig`.
    Tag(String),
    /// A content digest.
    Digest(Digest),
}

impl fmt::Display for TagOrDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => write!(f, ":{t}"),
            Self::Digest(d) => write!(f, "@{d}"),
        }
    }
}

impl fmt::Debug for TagOrDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a manifest lookup tells without downloading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest's digest (verified against the body when the body was read).
    pub digest: Digest,
    /// Its media type, e.g. `application/vnd.oci.image.manifest.v1+json`.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A manifest body whose bytes were checked against `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The digest of `bytes` (computed, and compared with what the store claimed).
    pub digest: Digest,
    /// The media type the store reported (or found inside the manifest).
    pub media_type: String,
    /// The raw bytes, exactly as stored: signatures and digests are over these.
    pub bytes: Vec<u8>,
}

/// One image repository on a registry or in an OCI image layout.
///
/// Implementations are cheap to share across tasks (`Send + Sync`) and keep
/// their own connection pools and credentials.
#[async_trait]
pub trait Repository: Send + Sync + fmt::Debug {
    /// A human-readable name for messages, e.g. `127.0.0.1:5000/app` or `oci:/path/dir`.
    fn display_name(&self) -> String;

    /// Resolves a tag or digest to the manifest it names; `None` when there is none.
    async fn resolve(&self, reference: &TagOrDigest) -> Result<Option<ManifestHead>, Error>;

    /// Fetches a manifest (at most the configured manifest size limit); `None` when absent.
    async fn get_manifest(&self, reference: &TagOrDigest)
    -> Result<Option<FetchedManifest>, Error>;

    /// Fetches a blob whose descriptor says `digest` and `size`. The size is
    /// checked against the blob limit before download and while streaming,
    /// and the bytes against the digest.
    async fn get_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, Error>;

    /// Stores a blob (skipping the upload when it already exists) and returns its digest.
    async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error>;

    /// Stores a manifest, optionally under `tag`, and returns its digest.
    async fn put_manifest(
        &self,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error>;

    /// Removes a tag (and the manifest it points to, where the store needs
    /// that to forget the tag). Succeeds when the tag does not exist.
    async fn delete_tag(&self, tag: &str) -> Result<(), Error>;

    /// Lists every tag of the repository (following pagination).
    async fn list_tags(&self) -> Result<Vec<String>, Error>;
}
