//! What the commands that inspect or change an image's attachments (`tree`,
//! `triangulate`, `download`, `clean`) share: the `--type` values, opening
//! and resolving the image, reading one kind of attachment, and the
//! attachment reference cosign prints (`REPO:sha256-<hex>.sig`).

use clap::ValueEnum;
use rsign_core::Digest;
use rsign_registry::attach::read_attachments;
use rsign_registry::{AttachmentKind, Attachments, Repository};

use crate::error::CliError;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, OpenImage, ResolvedImage, Stores};

/// `--type` of the inspection commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttachmentType {
    /// Image signatures (`.sig`).
    Signature,
    /// In-toto attestations (`.att`).
    Attestation,
    /// Attached SBOMs (`.sbom`).
    Sbom,
}

impl From<AttachmentType> for AttachmentKind {
    fn from(t: AttachmentType) -> Self {
        match t {
            AttachmentType::Signature => AttachmentKind::Signature,
            AttachmentType::Attestation => AttachmentKind::Attestation,
            AttachmentType::Sbom => AttachmentKind::Sbom,
        }
    }
}

/// The attachment reference cosign prints: `REPO:sha256-<hex>.sig` (for a
/// layout `oci:DIR:sha256-<hex>.sig`).
pub fn attachment_reference(
    store: &dyn Repository,
    image: &Digest,
    kind: AttachmentKind,
) -> String {
    format!("{}:{}", store.display_name(), kind.tag_for(image))
}

/// Opens and resolves `image` (one store handle per run).
pub async fn open_and_resolve(
    image: &ImageTarget,
    registry: &RegistryArgs,
    printer: &Printer,
) -> Result<(Stores, OpenImage, ResolvedImage), CliError> {
    let stores = Stores::new(registry, printer)?;
    let open = stores.open(image)?;
    let resolved = open.resolve().await?;
    Ok((stores, open, resolved))
}

/// Reads the `kind` attachments of the resolved image; `None` when none.
pub async fn read_kind(
    stores: &Stores,
    open: &OpenImage,
    resolved: &ResolvedImage,
    kind: AttachmentKind,
) -> Result<Option<Attachments>, CliError> {
    read_attachments(
        open.attach_store(),
        &resolved.digest,
        kind,
        stores.attach_options(),
    )
    .await
    .map_err(|source| CliError::ImageStep {
        image: open.target.pinned(&resolved.digest),
        step: format!("read the {kind}"),
        source: Box::new(source),
    })
}
