//! Registry-backed inputs for `rsign-policy` (feature `policy`): where an
//! admission controller or the CLI gets attachments and keysets from.
//!
//! - [`RegistrySource`] implements [`rsign_policy::AttachmentSource`] over a
//!   shared [`RegistryClient`]: it resolves references to digests and reads
//!   cosign's `sha256-<hex>.sig` and `.att` attachments with
//!   [`read_attachments`], so every limit of the registry crate applies
//!   (manifest and blob sizes, layers per manifest, signatures per image,
//!   digest checks on every byte). An absent attachment tag is an empty list,
//!   not an error. Nothing is verified here: the evaluator verifies every
//!   layer against the policies' keys.
//! - [`KeysetFileLoader`] implements [`rsign_policy::KeysetLoader`] over
//!   [`rsign_core::keyset::Keyset::load`]: a native policy's `keyset: FILE`
//!   becomes the keys that verify *at load time*
//!   ([`Keyset::verification_keys`]): active keys and retired keys inside
//!   their `acceptUntil` window; revoked keys never. It lives here rather
//!   than in `rsign-policy` so that the policy crate keeps no file formats of
//!   its own beyond policy documents; the CLI and the admission webhook both
//!   depend on this crate anyway.
//!
//! Only registry references are supported (no `oci:` layouts): the policy
//! evaluator matches globs against normalised registry references, which a
//! layout path is not.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use rsign_policy::{Evaluator, EvaluatorOptions, PolicySet};
//! use rsign_registry::policy_source::{KeysetFileLoader, RegistrySource};
//! use rsign_registry::{RegistryClient, RegistryOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RegistryClient::new(RegistryOptions::default())?;
//! let policies = PolicySet::load_with(&["/etc/rsign/policies"], &KeysetFileLoader::load_options())?;
//! let evaluator = Evaluator::new(
//!     policies,
//!     Arc::new(RegistrySource::new(client)),
//!     EvaluatorOptions::default(),
//! );
//! let decision = evaluator.evaluate("ghcr.io/team/app:v1").await;
//! println!("{}", decision.to_json());
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;

use rsign_core::keys::PublicKey;
use rsign_core::keyset::{Keyset, Timestamp};
use rsign_policy::source::{
    AttachmentKind as PolicyAttachmentKind, AttachmentSource, BoxError, ResolvedImage,
    SignatureLayer, SourceError,
};
use rsign_policy::{KeysetLoader, LoadOptions};

use crate::attach::{AttachOptions, AttachmentKind, read_attachments};
use crate::client::RegistryClient;
use crate::error::Error;
use crate::reference::Reference;
use crate::store::Repository;

/// Attachments of images in registries, for the policy evaluator.
///
/// Cheap to clone (the client is shared). Every image is looked up in its
/// own repository unless [`RegistrySource::with_attachment_repository`]
/// names another one (cosign's `COSIGN_REPOSITORY`).
#[derive(Debug, Clone)]
pub struct RegistrySource {
    client: RegistryClient,
    attach_options: AttachOptions,
    attachment_repository: Option<Reference>,
}

impl RegistrySource {
    /// A source over `client`, reading attachments with the client's limits
    /// and [`AttachOptions`]' default fetch concurrency.
    pub fn new(client: RegistryClient) -> Self {
        let attach_options = AttachOptions {
            limits: *client.limits(),
            ..AttachOptions::default()
        };
        Self {
            client,
            attach_options,
            attachment_repository: None,
        }
    }

    /// Reads attachments with `options` (limits, fetch concurrency).
    #[must_use]
    pub fn with_attach_options(mut self, options: AttachOptions) -> Self {
        self.attach_options = options;
        self
    }

    /// Reads every image's `sha256-<hex>.sig`/`.att` tags from `repository`
    /// instead of the image's own repository.
    #[must_use]
    pub fn with_attachment_repository(mut self, repository: Reference) -> Self {
        self.attachment_repository = Some(repository);
        self
    }

    /// The shared registry client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The options attachments are read with.
    pub fn attach_options(&self) -> &AttachOptions {
        &self.attach_options
    }

    /// The repository attachments of `image` are read from.
    fn attachment_store(&self, image: &Reference) -> Result<Arc<dyn Repository>, Error> {
        let repo = self.attachment_repository.as_ref().unwrap_or(image);
        Ok(Arc::new(self.client.repository(repo)?))
    }

    async fn read_layers(
        &self,
        image: &ResolvedImage,
        kind: AttachmentKind,
    ) -> Result<Vec<crate::attach::AttachedLayer>, SourceError> {
        let policy_kind = match kind {
            AttachmentKind::Attestation => PolicyAttachmentKind::Attestations,
            _ => PolicyAttachmentKind::Signatures,
        };
        let fetch_error = |source: BoxError| SourceError::Fetch {
            kind: policy_kind,
            digest: image.digest.clone(),
            source,
        };
        let reference: Reference = image
            .name
            .parse()
            .map_err(|e: crate::reference::ReferenceError| fetch_error(Box::new(e)))?;
        let store = self
            .attachment_store(&reference)
            .map_err(|e| fetch_error(Box::new(e)))?;
        let found = read_attachments(&*store, &image.digest, kind, &self.attach_options)
            .await
            .map_err(|e| fetch_error(Box::new(e)))?;
        Ok(found.map(|a| a.layers).unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl AttachmentSource for RegistrySource {
    /// Resolves a tag with a `HEAD` on the manifest. A reference that pins a
    /// digest is taken as is, without a request: the digest is what
    /// signatures are checked against, and a missing image simply has no
    /// signatures.
    async fn resolve(&self, image: &str) -> Result<ResolvedImage, SourceError> {
        let resolve_error = |source: BoxError| SourceError::Resolve {
            image: image.to_owned(),
            source,
        };
        let reference: Reference = image
            .parse()
            .map_err(|e: crate::reference::ReferenceError| resolve_error(Box::new(e)))?;
        if let Some(digest) = reference.digest() {
            let pinned = reference.with_digest(digest.clone());
            return Ok(ResolvedImage {
                name: pinned.to_string(),
                digest: digest.clone(),
            });
        }
        let repo = self
            .client
            .repository(&reference)
            .map_err(|e| resolve_error(Box::new(e)))?;
        let target = reference.target();
        let head = repo
            .resolve(&target)
            .await
            .map_err(|e| resolve_error(Box::new(e)))?
            .ok_or_else(|| {
                resolve_error(Box::new(Error::NotFound {
                    what: format!("manifest {target}"),
                    location: reference.repository(),
                }))
            })?;
        Ok(ResolvedImage {
            name: reference.to_string(),
            digest: head.digest,
        })
    }

    /// The layers of `sha256-<hex>.sig`, each with its
    /// `dev.cosignproject.cosign/signature` annotation (empty when the layer
    /// has none, so it counts as found but never verifies).
    async fn signature_layers(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<SignatureLayer>, SourceError> {
        let layers = self.read_layers(image, AttachmentKind::Signature).await?;
        Ok(layers
            .into_iter()
            .map(|layer| SignatureLayer {
                signature_b64: layer
                    .descriptor
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(rsign_core::oci::ANNOTATION_SIGNATURE))
                    .cloned()
                    .unwrap_or_default(),
                payload: layer.payload,
            })
            .collect())
    }

    /// The layers of `sha256-<hex>.att`: DSSE envelopes as stored.
    async fn attestation_envelopes(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<Vec<u8>>, SourceError> {
        let layers = self.read_layers(image, AttachmentKind::Attestation).await?;
        Ok(layers.into_iter().map(|layer| layer.payload).collect())
    }
}

/// Loads a native policy's `keyset: FILE` with
/// [`Keyset::load`] and keeps the keys trusted at one instant.
///
/// Trust is decided when the policy set is loaded, not per evaluation: a
/// long-running evaluator must reload its policies (e.g. periodically) for a
/// retired key's `acceptUntil` to take effect.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeysetFileLoader {
    at: Option<Timestamp>,
}

impl KeysetFileLoader {
    /// A loader deciding trust at the moment each keyset is loaded.
    pub fn new() -> Self {
        Self { at: None }
    }

    /// A loader deciding trust as of `at` (for tests and audits).
    pub fn at(at: Timestamp) -> Self {
        Self { at: Some(at) }
    }

    /// [`LoadOptions`] whose keyset loader is [`KeysetFileLoader::new`].
    pub fn load_options() -> LoadOptions {
        LoadOptions {
            keyset_loader: Some(Arc::new(Self::new())),
        }
    }
}

impl KeysetLoader for KeysetFileLoader {
    fn load(&self, path: &Path) -> Result<Vec<PublicKey>, BoxError> {
        let keyset = Keyset::load(path)?;
        let now = self.at.unwrap_or_else(Timestamp::now);
        Ok(keyset
            .verification_keys(now)
            .into_iter()
            .map(|(_, key)| key.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsign_core::keys::PrivateKey;
    use rsign_core::keyset::{Format, KeyStatus};
    use std::time::Duration;

    #[test]
    fn keyset_loader_keeps_keys_trusted_at_the_instant() {
        let dir = tempfile::tempdir().unwrap();
        let active = PrivateKey::generate_p256().unwrap().public_key();
        let retired = PrivateKey::generate_p256().unwrap().public_key();
        let revoked = PrivateKey::generate_p256().unwrap().public_key();
        let mut keyset = Keyset::new();
        keyset
            .add(retired.clone(), "old", KeyStatus::Active)
            .unwrap();
        keyset
            .add(revoked.clone(), "leaked", KeyStatus::Active)
            .unwrap();
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        keyset
            .rotate(active.clone(), "new", Duration::from_secs(86_400), now)
            .unwrap();
        keyset.revoke(&revoked.key_id().to_string()).unwrap();
        let path = dir.path().join("keyset.yaml");
        std::fs::write(&path, keyset.to_bytes(Format::Yaml).unwrap()).unwrap();

        let ids = |keys: Vec<PublicKey>| {
            let mut ids: Vec<String> = keys.iter().map(|k| k.key_id().to_string()).collect();
            ids.sort();
            ids
        };
        let mut both = vec![active.key_id().to_string(), retired.key_id().to_string()];
        both.sort();
        let inside = KeysetFileLoader::at(now).load(&path).unwrap();
        assert_eq!(ids(inside), both);
        let after: Timestamp = "2027-01-03T00:00:00Z".parse().unwrap();
        let outside = KeysetFileLoader::at(after).load(&path).unwrap();
        assert_eq!(ids(outside), vec![active.key_id().to_string()]);
        assert!(
            KeysetFileLoader::new()
                .load(&dir.path().join("missing.yaml"))
                .is_err()
        );
    }
}
