//! Where attachments come from: the [`AttachmentSource`] trait.
//!
//! The policy crate does no I/O; callers implement this trait (the CLI and
//! admission controller over `rsign-registry`, tests in memory). Whatever it
//! returns is *unverified*: every layer and envelope is checked against the
//! policies' keys before any policy sees it.

use std::fmt;

use rsign_core::Digest;

/// An image reference resolved to the digest it names now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedImage {
    /// The fully normalised reference, e.g. `index.docker.io/library/nginx:latest`.
    pub name: String,
    /// The manifest digest the reference resolves to.
    pub digest: Digest,
}

/// One layer of a cosign signature manifest (`sha256-<hex>.sig`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The layer blob: the simple-signing payload, exactly as stored.
    pub payload: Vec<u8>,
    /// The `dev.cosignproject.cosign/signature` annotation (base64).
    pub signature_b64: String,
}

impl fmt::Debug for SignatureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureLayer")
            .field("payload_bytes", &self.payload.len())
            .field("signature_b64", &self.signature_b64)
            .finish()
    }
}

/// Which kind of attachment a fetch was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentKind {
    /// Signature layers (`.sig`).
    Signatures,
    /// Attestation envelopes (`.att`).
    Attestations,
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Signatures => "signatures",
            Self::Attestations => "attestations",
        })
    }
}

/// The boxed cause of a source failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The reference could not be resolved to a digest.
    #[error("cannot resolve `{image}` to a digest")]
    Resolve {
        /// The image as asked for.
        image: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Attachments could not be fetched.
    #[error("cannot fetch {kind} of {digest}")]
    Fetch {
        /// What was being fetched.
        kind: AttachmentKind,
        /// The image digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// Supplies the unverified attachments of images.
///
/// Implementations enforce their own size and count limits and return an
/// empty list (not an error) when an image simply has no signatures or no
/// attestations (e.g. the `.sig` tag is absent).
#[async_trait::async_trait]
pub trait AttachmentSource: Send + Sync {
    /// Resolves `image` (as written by the user or a pod spec) to a digest.
    async fn resolve(&self, image: &str) -> Result<ResolvedImage, SourceError>;

    /// The signature layers attached to `image.digest`.
    async fn signature_layers(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<SignatureLayer>, SourceError>;

    /// The DSSE envelopes (raw JSON bytes) attached to `image.digest`.
    async fn attestation_envelopes(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<Vec<u8>>, SourceError>;
}
