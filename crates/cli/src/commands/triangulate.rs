//! `rsign triangulate`: print where an image's signatures (attestations,
//! SBOMs) are stored, `REPO:sha256-<hex>.sig`, as `cosign triangulate` does.
//! The image is resolved to its digest; the attachment itself need not exist.

use clap::Args;

use super::attachments::{AttachmentType, attachment_reference, open_and_resolve};
use super::block_on;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::ImageTarget;

/// `rsign triangulate`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign triangulate registry.example/app:1.0
  # registry.example/app:sha256-<hex>.sig
  rsign triangulate --type attestation oci:./app-layout:1.0

With `RSIGN_REPOSITORY` (or `COSIGN_REPOSITORY`) set, prints the reference in \
that repository.")]
pub struct TriangulateArgs {
    /// The image (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Which attachment.
    #[arg(long = "type", value_enum, default_value_t = AttachmentType::Signature)]
    pub kind: AttachmentType,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A validated `triangulate`.
#[derive(Debug)]
pub struct Request {
    /// The image.
    pub image: ImageTarget,
    /// Which attachment.
    pub kind: AttachmentType,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<TriangulateArgs> for Request {
    type Error = CliError;

    fn try_from(args: TriangulateArgs) -> Result<Self, CliError> {
        Ok(Self {
            image: ImageTarget::parse(&args.image)?,
            kind: args.kind,
            registry: args.registry,
        })
    }
}

/// Prints the attachment reference.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    block_on(async {
        let (_stores, open, resolved) =
            open_and_resolve(&request.image, &request.registry, printer).await?;
        let reference =
            attachment_reference(open.attach_store(), &resolved.digest, request.kind.into());
        printer.data(format!("{reference}\n").as_bytes())?;
        Ok(ExitStatus::Success)
    })
}
