//! `rsign save`: copy an image with everything attached to it into an OCI
//! image layout, as `cosign save` does, for air-gapped transfer.
//!
//! What is copied, byte for byte (every manifest is stored with its original
//! bytes, so every digest, and therefore every signature, stays valid):
//!
//! * the image manifest, or the index and every manifest it lists (nested
//!   indexes included), with every config and layer blob;
//! * for the image and for every manifest of an index: the cosign attachment
//!   manifests `sha256-<hex>.sig`, `.att` and `.sbom` with their config and
//!   layer blobs, under the same tags.
//!
//! The image gets the layout tag of `--tag`, else the tag it was named by,
//! else `latest`, so `skopeo … oci:DIR:TAG` and `rsign verify oci:DIR:TAG`
//! find it. Attachment entries also carry cosign's `kind` annotation (the
//! layout store adds it), which `cosign verify --local-image` looks for.
//!
//! The copy engine ([`Transfer`]) works between any two stores and is shared
//! with `rsign load`, which runs it the other way round.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use futures::{StreamExt, TryStreamExt};
use rsign_core::Digest;
use rsign_core::oci::{Descriptor, Manifest};
use rsign_registry::{AttachmentKind, Limits, OciLayout, Repository, TagOrDigest};

use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::{Printer, error_chain};
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, Stores};

/// How deep nested indexes are followed.
const MAX_INDEX_DEPTH: usize = 4;
/// Most manifests one image may bring (an index's children, recursively).
const MAX_MANIFESTS: usize = 1000;
/// Blobs fetched and stored at once.
const BLOB_CONCURRENCY: usize = 4;
/// The attachment kinds copied.
pub const ALL_KINDS: [AttachmentKind; 3] = [
    AttachmentKind::Signature,
    AttachmentKind::Attestation,
    AttachmentKind::Sbom,
];

/// `rsign save`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign save registry.example/app:1.0 --dir ./app-layout
  skopeo inspect oci:./app-layout:1.0        # a standard OCI image layout
  rsign verify --key cosign.pub oci:./app-layout:1.0

Copies the image (an index with every platform image), its config and layers, \
and its signatures (.sig), attestations (.att) and SBOMs (.sbom) byte for byte, \
so every digest and signature stays valid. Blobs already in DIR are reused.")]
pub struct SaveArgs {
    /// The image to save (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The OCI layout directory to write (created when missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The tag of the image in the layout (default: the image's tag, else `latest`).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A validated `save`.
#[derive(Debug)]
pub struct Request {
    /// The image to copy.
    pub image: ImageTarget,
    /// The layout directory.
    pub dir: PathBuf,
    /// The layout tag, when given.
    pub tag: Option<String>,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<SaveArgs> for Request {
    type Error = CliError;

    fn try_from(args: SaveArgs) -> Result<Self, CliError> {
        if let Some(tag) = &args.tag {
            check_layout_tag(tag)?;
        }
        Ok(Self {
            image: ImageTarget::parse(&args.image)?,
            dir: args.dir,
            tag: args.tag,
            registry: args.registry,
        })
    }
}

/// Rejects a layout tag that is a cosign attachment tag or empty.
pub fn check_layout_tag(tag: &str) -> Result<(), CliError> {
    if tag.is_empty() || crate::target::is_attachment_tag(tag) {
        return Err(CliError::Unsupported {
            flag: "--tag",
            reason: "the tag must be non-empty and not a cosign attachment tag (`sha256-<hex>.sig`)",
            hint: "choose an ordinary tag such as `v1`",
        });
    }
    Ok(())
}

/// Copies the image and its attachments into the layout.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    super::block_on(save(request, printer))
}

async fn save(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let stores = Stores::new(&request.registry, printer)?;
    let source = stores.open(&request.image)?;
    let resolved = source.resolve().await?;
    let dir_name = format!("oci:{}", request.dir.display());
    let layout = OciLayout::create(&request.dir).map_err(|source| CliError::ImageStep {
        image: dir_name.clone(),
        step: "create the OCI layout".into(),
        source: Box::new(source),
    })?;
    let tag = request
        .tag
        .clone()
        .or_else(|| resolved.tag.clone())
        .unwrap_or_else(|| rsign_registry::reference::DEFAULT_TAG.to_owned());
    check_layout_tag(&tag)?;
    let pinned = request.image.pinned(&resolved.digest);
    let mut transfer = Transfer::new(
        source.image_store(),
        source.attach_store(),
        &layout,
        &layout,
        stores.attach_options().limits,
        pinned.clone(),
    );
    let manifests = transfer.copy_image(&resolved.digest, Some(&tag)).await?;
    let attached = transfer.copy_attachments(&manifests).await?;
    printer.message(format_args!(
        "Saved {pinned} to {dir_name}:{tag}: {} manifest(s), {} blob(s) ({} bytes){}",
        transfer.stats.manifests,
        transfer.stats.blobs,
        transfer.stats.bytes,
        attached.describe(),
    ));
    Ok(ExitStatus::Success)
}

/// What was copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Manifests stored (image, index children, attachments).
    pub manifests: usize,
    /// Blobs stored.
    pub blobs: usize,
    /// Bytes of those blobs.
    pub bytes: u64,
}

/// Attachment manifests and layers copied, per kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attached {
    /// `(kind, manifests, layers)` for each kind found.
    pub counts: Vec<(AttachmentKind, usize, usize)>,
}

impl Attached {
    fn add(&mut self, kind: AttachmentKind, layers: usize) {
        match self.counts.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, m, l)) => {
                *m += 1;
                *l += layers;
            }
            None => self.counts.push((kind, 1, layers)),
        }
    }

    /// `; with 2 signature layer(s), …` or `; nothing attached`.
    pub fn describe(&self) -> String {
        if self.counts.is_empty() {
            return "; no signatures, attestations or SBOMs attached".to_owned();
        }
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, m, l)| format!("{k}: {l} layer(s) in {m} manifest(s)"))
            .collect();
        format!("; {}", parts.join(", "))
    }
}

/// Copies manifests and blobs from one store to another, byte for byte.
pub struct Transfer<'a> {
    from: &'a dyn Repository,
    from_attachments: &'a dyn Repository,
    to: &'a dyn Repository,
    to_attachments: &'a dyn Repository,
    limits: Limits,
    image: String,
    copied_blobs: BTreeSet<Digest>,
    copied_manifests: BTreeSet<Digest>,
    /// What has been copied so far.
    pub stats: Stats,
}

impl std::fmt::Debug for Transfer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("from", &self.from.display_name())
            .field("to", &self.to.display_name())
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl<'a> Transfer<'a> {
    /// A transfer of image `image` (named so in errors) from `from` to `to`;
    /// attachments are read from `from_attachments` and written to
    /// `to_attachments` (the same stores unless redirected).
    pub fn new(
        from: &'a dyn Repository,
        from_attachments: &'a dyn Repository,
        to: &'a dyn Repository,
        to_attachments: &'a dyn Repository,
        limits: Limits,
        image: String,
    ) -> Self {
        Self {
            from,
            from_attachments,
            to,
            to_attachments,
            limits,
            image,
            copied_blobs: BTreeSet::new(),
            copied_manifests: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    fn step_err(&self, step: String) -> impl FnOnce(rsign_registry::Error) -> CliError + use<> {
        let image = self.image.clone();
        move |source| CliError::ImageStep {
            image,
            step,
            source: Box::new(source),
        }
    }

    /// Copies the manifest `digest` (children first when it is an index,
    /// then its blobs, then itself, under `tag` if given). Returns every
    /// manifest digest of the image (the top one first).
    pub async fn copy_image(
        &mut self,
        digest: &Digest,
        tag: Option<&str>,
    ) -> Result<Vec<Digest>, CliError> {
        let mut all = Vec::new();
        self.copy_tree(digest, tag, 0, &mut all).await?;
        // Children were pushed first; report the top manifest first.
        all.reverse();
        Ok(all)
    }

    async fn copy_tree(
        &mut self,
        digest: &Digest,
        tag: Option<&str>,
        depth: usize,
        all: &mut Vec<Digest>,
    ) -> Result<(), CliError> {
        if depth > MAX_INDEX_DEPTH {
            return Err(self.malformed(
                format!("manifest {digest}"),
                format!("indexes are nested more than {MAX_INDEX_DEPTH} deep"),
            ));
        }
        if all.len() >= MAX_MANIFESTS {
            return Err(self.malformed(
                "the image".into(),
                format!("it has more than {MAX_MANIFESTS} manifests"),
            ));
        }
        let from = self.from;
        let fetched = from
            .get_manifest(&TagOrDigest::Digest(digest.clone()))
            .await
            .map_err(self.step_err(format!("read manifest {digest}")))?
            .ok_or_else(|| CliError::ImageStep {
                image: self.image.clone(),
                step: format!("read manifest {digest}"),
                source: Box::new(rsign_registry::Error::NotFound {
                    what: format!("manifest {digest}"),
                    location: from.display_name(),
                }),
            })?;
        let manifest = Manifest::parse(&fetched.bytes, Some(&fetched.media_type))
            .map_err(|e| self.malformed(format!("manifest {digest}"), error_chain(&e)))?;
        if let Some(index) = manifest.as_index() {
            if index.manifests.len() > MAX_MANIFESTS {
                return Err(self.malformed(
                    format!("index {digest}"),
                    format!("it lists more than {MAX_MANIFESTS} manifests"),
                ));
            }
            for child in &index.manifests {
                Box::pin(self.copy_tree(&child.digest, None, depth + 1, all)).await?;
            }
        } else if let Some(image) = manifest.as_image() {
            self.check_layer_count(digest, image.layers.len())?;
            let blobs: Vec<Descriptor> = std::iter::once(image.config.clone())
                .chain(image.layers.iter().cloned())
                .collect();
            self.copy_blobs(from, self.to, &blobs).await?;
        }
        self.put_manifest(self.to, digest, tag, &fetched.media_type, &fetched.bytes)
            .await?;
        all.push(digest.clone());
        Ok(())
    }

    /// Copies the `.sig`, `.att` and `.sbom` manifests (and their blobs) of
    /// each of `manifests`, under the same tags.
    pub async fn copy_attachments(&mut self, manifests: &[Digest]) -> Result<Attached, CliError> {
        let mut attached = Attached::default();
        for digest in manifests {
            for kind in ALL_KINDS {
                let tag = kind.tag_for(digest);
                let from = self.from_attachments;
                let step = format!("read {kind} manifest `{tag}`");
                let Some(fetched) = from
                    .get_manifest(&TagOrDigest::Tag(tag.clone()))
                    .await
                    .map_err(self.step_err(step))?
                else {
                    continue;
                };
                let manifest =
                    Manifest::parse(&fetched.bytes, Some(&fetched.media_type)).map_err(|e| {
                        self.malformed(format!("{kind} manifest `{tag}`"), error_chain(&e))
                    })?;
                let Some(image) = manifest.as_image() else {
                    return Err(self.malformed(
                        format!("{kind} manifest `{tag}`"),
                        "it is an index, not an image manifest".into(),
                    ));
                };
                self.check_layer_count(&fetched.digest, image.layers.len())?;
                let blobs: Vec<Descriptor> = std::iter::once(image.config.clone())
                    .chain(image.layers.iter().cloned())
                    .collect();
                self.copy_blobs(from, self.to_attachments, &blobs).await?;
                self.put_manifest(
                    self.to_attachments,
                    &fetched.digest,
                    Some(&tag),
                    &fetched.media_type,
                    &fetched.bytes,
                )
                .await?;
                attached.add(kind, image.layers.len());
            }
        }
        Ok(attached)
    }

    fn check_layer_count(&self, digest: &Digest, layers: usize) -> Result<(), CliError> {
        self.limits
            .check_layers(&format!("layers of manifest {digest}"), layers as u64)
            .map_err(self.step_err(format!("copy manifest {digest}")))
    }

    async fn copy_blobs(
        &mut self,
        from: &dyn Repository,
        to: &dyn Repository,
        blobs: &[Descriptor],
    ) -> Result<(), CliError> {
        let mut todo = Vec::new();
        for d in blobs {
            if self.copied_blobs.contains(&d.digest) {
                continue;
            }
            if !d.urls.is_empty() && is_non_distributable(&d.media_type) {
                tracing::warn!(
                    digest = %d.digest,
                    media_type = %d.media_type,
                    "not copying a non-distributable layer (it is fetched from its URLs)"
                );
                continue;
            }
            self.limits
                .check_blob_size(&format!("blob {}", d.digest), d.size)
                .map_err(self.step_err(format!("copy blob {}", d.digest)))?;
            self.copied_blobs.insert(d.digest.clone());
            todo.push(d.clone());
        }
        let image = self.image.clone();
        let sizes: Vec<u64> = futures::stream::iter(todo)
            .map(|d| {
                let image = image.clone();
                async move {
                    let err = |step: &str, source| CliError::ImageStep {
                        image: image.clone(),
                        step: format!("{step} blob {}", d.digest),
                        source: Box::new(source),
                    };
                    let bytes = from
                        .get_blob(&d.digest, d.size)
                        .await
                        .map_err(|e| err("read", e))?;
                    let stored = to.put_blob(&bytes).await.map_err(|e| err("store", e))?;
                    if stored != d.digest {
                        return Err(err(
                            "store",
                            rsign_registry::Error::DigestMismatch {
                                what: "stored blob",
                                location: to.display_name(),
                                expected: d.digest.clone(),
                                actual: stored,
                            },
                        ));
                    }
                    Ok::<u64, CliError>(bytes.len() as u64)
                }
            })
            .buffer_unordered(BLOB_CONCURRENCY)
            .try_collect()
            .await?;
        self.stats.blobs += sizes.len();
        self.stats.bytes += sizes.iter().sum::<u64>();
        Ok(())
    }

    async fn put_manifest(
        &mut self,
        to: &dyn Repository,
        digest: &Digest,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), CliError> {
        if tag.is_none() && !self.copied_manifests.insert(digest.clone()) {
            return Ok(());
        }
        let step = match tag {
            Some(t) => format!("store manifest {digest} as `{t}`"),
            None => format!("store manifest {digest}"),
        };
        let stored = to
            .put_manifest(tag, media_type, bytes)
            .await
            .map_err(self.step_err(step.clone()))?;
        if stored != *digest {
            return Err(CliError::ImageStep {
                image: self.image.clone(),
                step,
                source: Box::new(rsign_registry::Error::DigestMismatch {
                    what: "stored manifest",
                    location: to.display_name(),
                    expected: digest.clone(),
                    actual: stored,
                }),
            });
        }
        self.stats.manifests += 1;
        Ok(())
    }

    fn malformed(&self, what: String, reason: String) -> CliError {
        CliError::Malformed {
            image: self.image.clone(),
            what,
            reason,
        }
    }
}

/// Docker foreign layers and OCI non-distributable layers, which registries
/// do not hold.
fn is_non_distributable(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_tags_exclude_attachment_tags() {
        let d = Digest::sha256_of(b"x");
        assert!(check_layout_tag("v1").is_ok());
        assert!(check_layout_tag("").is_err());
        assert!(check_layout_tag(&format!("sha256-{}.sig", d.hex())).is_err());
    }

    #[test]
    fn attached_counts_per_kind() {
        let mut a = Attached::default();
        assert!(a.describe().contains("no signatures"));
        a.add(AttachmentKind::Signature, 2);
        a.add(AttachmentKind::Signature, 1);
        a.add(AttachmentKind::Attestation, 1);
        assert_eq!(a.counts.len(), 2);
        assert!(
            a.describe()
                .contains("signatures: 3 layer(s) in 2 manifest(s)")
        );
    }

    #[test]
    fn foreign_layers() {
        assert!(is_non_distributable(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(is_non_distributable(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
        assert!(!is_non_distributable(
            "application/vnd.oci.image.layer.v1.tar"
        ));
    }
}
