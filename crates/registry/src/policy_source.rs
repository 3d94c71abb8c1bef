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
//!   keeps every entry with its status and `acceptUntil`, and the evaluator
//!   decides trust *at each evaluation* against its clock: active keys and
//!   retired keys inside their window; revoked keys never (they only explain
//!   refusals). A retired key stops being accepted when its window ends,
//!   without reloading the policies. It lives here rather
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

use rsign_core::keyset::Keyset;
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

/// Loads a native policy's `keyset: FILE` with [`Keyset::load`].
///
/// Every entry is kept with its status and `acceptUntil`: trust is decided
/// per evaluation against the evaluator's clock
/// ([`rsign_policy::EvaluatorOptions::with_clock`]), so a retired key's
/// window ends on time in a long-running evaluator. Changes to the keyset
/// *file* (a rotation, a revocation) still take effect only when the
/// policies are reloaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeysetFileLoader;

impl KeysetFileLoader {
    /// A loader of keyset files.
    pub fn new() -> Self {
        Self
    }

    /// [`LoadOptions`] whose keyset loader is [`KeysetFileLoader::new`].
    pub fn load_options() -> LoadOptions {
        LoadOptions {
            keyset_loader: Some(Arc::new(Self::new())),
        }
    }
}

impl KeysetLoader for KeysetFileLoader {
    fn load(&self, path: &Path) -> Result<Keyset, BoxError> {
        Ok(Keyset::load(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use rsign_core::Digest;
    use rsign_core::keys::PrivateKey;
    use rsign_core::keyset::{Format, KeyStatus, Timestamp};
    use rsign_core::simple_signing::SimpleSigning;
    use rsign_policy::{Code, Facts, NoMatch, PolicySet, Verdict};
    use std::time::Duration;

    fn layer(key: &PrivateKey, digest: &Digest) -> SignatureLayer {
        let payload = SimpleSigning::new("registry.example/app", digest.clone(), None).to_bytes();
        let sig = key.sign(&payload).unwrap();
        SignatureLayer {
            payload,
            signature_b64: base64::engine::general_purpose::STANDARD.encode(sig),
        }
    }

    /// A policy over a keyset file: the loader keeps every entry, and the
    /// decision checks each key's window at the instant it is made.
    #[test]
    fn keyset_file_keys_are_trusted_per_decision_instant() {
        let dir = tempfile::tempdir().unwrap();
        let old = PrivateKey::generate_p256().unwrap();
        let new = PrivateKey::generate_p256().unwrap();
        let leaked = PrivateKey::generate_p256().unwrap();
        let mut keyset = Keyset::new();
        keyset
            .add(old.public_key(), "old", KeyStatus::Active)
            .unwrap();
        keyset
            .add(leaked.public_key(), "leaked", KeyStatus::Active)
            .unwrap();
        let rotated: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        keyset
            .rotate(
                new.public_key(),
                "new",
                Duration::from_secs(86_400),
                rotated,
            )
            .unwrap();
        keyset
            .revoke(&leaked.public_key().key_id().to_string())
            .unwrap();
        std::fs::write(
            dir.path().join("team.keyset"),
            keyset.to_bytes(Format::Yaml).unwrap(),
        )
        .unwrap();
        let loaded = KeysetFileLoader::new()
            .load(&dir.path().join("team.keyset"))
            .unwrap();
        assert_eq!(loaded.len(), 3, "every entry is kept, revoked included");
        let yaml = "apiVersion: rsign.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: team}\nspec:\n  images: [{glob: \"registry.example/**\"}]\n  authorities:\n  - name: team\n    keyset: team.keyset\n";
        let set = PolicySet::parse(
            yaml,
            rsign_policy::Format::Yaml,
            &dir.path().join("p.yaml"),
            Some(dir.path()),
            &KeysetFileLoader::load_options(),
        )
        .unwrap();
        let digest = Digest::sha256_of(b"app");
        let all = [old.public_key(), new.public_key(), leaked.public_key()];
        let by_old = Facts::verify(&digest, &all, &[layer(&old, &digest)], &[]);
        let image = "registry.example/app:v1";
        let inside = set.decide_at(image, Some(&by_old), NoMatch::Deny, rotated);
        assert_eq!(inside.verdict, Verdict::Allow, "{}", inside.to_json());
        let after: Timestamp = "2027-01-02T00:00:01Z".parse().unwrap();
        let outside = set.decide_at(image, Some(&by_old), NoMatch::Deny, after);
        assert_eq!(outside.verdict, Verdict::Deny);
        assert_eq!(outside.code, Code::SignerNotTrusted);
        let reason = &outside.policies[0].authorities[0].reason;
        let old_id = old.public_key().key_id().short();
        assert!(
            reason.contains(&old_id)
                && reason.contains("retired, window ended at 2027-01-02T00:00:00Z"),
            "{reason}"
        );
        let by_leaked = Facts::verify(&digest, &all, &[layer(&leaked, &digest)], &[]);
        let revoked = set.decide_at(image, Some(&by_leaked), NoMatch::Deny, rotated);
        assert_eq!(revoked.code, Code::SignerNotTrusted);
        let reason = &revoked.policies[0].authorities[0].reason;
        assert!(reason.contains("(leaked): revoked"), "{reason}");
        assert!(
            KeysetFileLoader::new()
                .load(&dir.path().join("missing.yaml"))
                .is_err()
        );
    }
}
