//! `rsign clean`: remove what is attached to an image — its signatures,
//! attestations and SBOMs (cosign's `sha256-<hex>.sig/.att/.sbom` tags).
//!
//! Removing everything of a kind deletes the attachment manifest (on a
//! registry: `DELETE` of the manifest the tag names, which the registry must
//! allow; in a layout: the `index.json` entry, blobs stay until a garbage
//! collection). Removing only some layers (a later `--signed-by KEYID`) goes
//! through [`Selection::Layers`], a predicate over the stored layers applied
//! with [`rsign_registry::attach::remove_layers`], which rewrites the
//! manifest without losing a concurrent writer's layers.
//!
//! It asks for confirmation on a terminal; without one, `--force` is
//! required. Nothing attached is not an error (exit 0).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use rsign_registry::attach::remove_layers;
use rsign_registry::{AttachedLayer, AttachmentKind, TagOrDigest};

use super::attachments::{attachment_reference, open_and_resolve};
use super::block_on;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::ImageTarget;

/// `--type` of `clean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CleanType {
    /// Signatures (`.sig`).
    Signature,
    /// Attestations (`.att`).
    Attestation,
    /// SBOMs (`.sbom`).
    Sbom,
    /// All three.
    #[default]
    All,
}

impl CleanType {
    /// The attachment kinds this removes.
    pub fn kinds(self) -> Vec<AttachmentKind> {
        match self {
            Self::Signature => vec![AttachmentKind::Signature],
            Self::Attestation => vec![AttachmentKind::Attestation],
            Self::Sbom => vec![AttachmentKind::Sbom],
            Self::All => super::save::ALL_KINDS.to_vec(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Signature => "signatures",
            Self::Attestation => "attestations",
            Self::Sbom => "SBOMs",
            Self::All => "signatures, attestations and SBOMs",
        }
    }
}

/// `rsign clean`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign clean --type signature --force registry.example/app:1.0
  rsign clean -f oci:./app-layout:1.0        # all signatures, attestations, SBOMs
  rsign clean --signed-by 5b0e2d1c7f3a --keyset keyset.yaml -f registry.example/app:1.0

`--signed-by KEYID --keyset FILE` (or `--signed-by-key PUB`) removes only the \
signatures whose signature verifies with that key over their payload, and the \
attestations whose DSSE envelope that key signed; other layers stay.

Asks for confirmation on a terminal; elsewhere `--force` is required. On a \
registry, deleting needs the registry to allow DELETE.")]
pub struct CleanArgs {
    /// The images (`REGISTRY/REPO[:TAG][@DIGEST]`, or `oci:DIR[:TAG]`).
    #[arg(value_name = "IMAGE", required = true, num_args = 1..)]
    pub images: Vec<String>,
    /// What to remove.
    #[arg(long = "type", value_enum, default_value_t = CleanType::All)]
    pub kind: CleanType,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Remove only layers signed by this key of `--keyset`: its id or a
    /// unique prefix of at least 12 hex digits.
    #[arg(
        long,
        value_name = "KEYID",
        requires = "keyset",
        conflicts_with = "signed_by_key"
    )]
    pub signed_by: Option<String>,
    /// The keyset `--signed-by` names a key of.
    #[arg(long, value_name = "FILE", requires = "signed_by")]
    pub keyset: Option<PathBuf>,
    /// Remove only layers signed by this PEM public key.
    #[arg(long, value_name = "PUB")]
    pub signed_by_key: Option<PathBuf>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Which layers of an attachment manifest to remove.
#[derive(Clone)]
pub enum Selection {
    /// Every layer: the whole attachment manifest is deleted.
    Everything,
    /// The layers the predicate selects; the manifest is rewritten (and
    /// deleted when no layer remains). Built by `--signed-by` (key rotation).
    Layers(Arc<dyn Fn(&AttachedLayer) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Everything => f.write_str("Everything"),
            Self::Layers(_) => f.write_str("Layers(<predicate>)"),
        }
    }
}

/// A validated `clean`.
#[derive(Debug)]
pub struct Request {
    /// The images, cleaned one after another in the order given.
    pub images: Vec<ImageTarget>,
    /// What to remove.
    pub kind: CleanType,
    /// Which layers.
    pub selection: Selection,
    /// With `--signed-by`: the key whose layers are removed, as
    /// `key <id16> (<name>)` (or `key <id16>` for `--signed-by-key`).
    pub signer: Option<String>,
    /// No confirmation.
    pub force: bool,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<CleanArgs> for Request {
    type Error = CliError;

    fn try_from(args: CleanArgs) -> Result<Self, CliError> {
        let signer = match (&args.signed_by, &args.keyset, &args.signed_by_key) {
            (Some(query), Some(keyset), _) => {
                let loaded = super::load_keyset(keyset)?;
                let entry = loaded
                    .find(query)
                    .map_err(|e| super::keyset_error("find the `--signed-by` key in", keyset, e))?;
                let key = entry.public_key().clone();
                let named = format!("key {} ({})", key.key_id().short(), entry.name());
                Some((key, named))
            }
            (_, _, Some(path)) => {
                let key = super::load_public_key(path)?;
                let named = format!("key {}", key.key_id().short());
                Some((key, named))
            }
            _ => None,
        };
        let signer_name = signer.as_ref().map(|(_, named)| named.clone());
        Ok(Self {
            images: args
                .images
                .iter()
                .map(|image| ImageTarget::parse(image))
                .collect::<Result<_, _>>()?,
            kind: args.kind,
            selection: match signer {
                Some((key, _)) => Selection::Layers(Arc::new(move |layer| signed_by(&key, layer))),
                None => Selection::Everything,
            },
            signer: signer_name,
            force: args.force,
            registry: args.registry,
        })
    }
}

impl Request {
    /// The images, for messages: the one image, or the first and a count.
    fn images_shown(&self) -> String {
        match self.images.as_slice() {
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} and {} more image(s)", rest.len()),
            [] => String::new(),
        }
    }

    /// What is removed, for the refusal: the kinds, and the signer with
    /// `--signed-by`.
    fn what(&self) -> String {
        let kinds = self.kind.describe();
        match &self.signer {
            Some(signer) => format!("{kinds} signed by {signer}"),
            None => kinds.to_owned(),
        }
    }

    /// The confirmation question.
    fn prompt(&self) -> String {
        let kinds = self.kind.describe();
        match &self.signer {
            Some(signer) => format!(
                "This removes the {kinds} of {} signed by {signer}; layers of other signers \
                 stay. Continue? [y/N] ",
                self.images_shown()
            ),
            None => format!(
                "This removes all {kinds} of {}. Continue? [y/N] ",
                self.images_shown()
            ),
        }
    }
}

/// Removes the attachments.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    if !request.force {
        confirm(&request)?;
    }
    block_on(clean(request, printer))
}

/// Asks on the terminal; refuses without one.
fn confirm(request: &Request) -> Result<(), CliError> {
    let what = request.what();
    if !std::io::stdin().is_terminal() {
        return Err(CliError::ConfirmationRequired {
            image: request.images_shown(),
            what: what.clone(),
        });
    }
    let mut stderr = std::io::stderr().lock();
    // A prompt that cannot be shown is not fatal: the answer decides.
    let _ = write!(stderr, "{}", request.prompt());
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .take(256)
        .read_line(&mut answer)
        .map_err(|source| CliError::ReadStdin {
            what: "the confirmation",
            source,
        })?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::ConfirmationRequired {
            image: request.images_shown(),
            what,
        })
    }
}

/// Whether `key` signed `layer`: a cosign signature layer whose signature
/// verifies over its payload (legacy `.sig` layers carry no key hint), or a
/// DSSE envelope with a signature by `key` over its PAE.
fn signed_by(key: &rsign_core::keys::PublicKey, layer: &AttachedLayer) -> bool {
    use base64::Engine as _;
    match layer.descriptor.media_type.as_str() {
        rsign_core::oci::COSIGN_SIMPLE_SIGNING => layer
            .descriptor
            .annotation(rsign_core::oci::ANNOTATION_SIGNATURE)
            .and_then(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
            })
            .is_some_and(|sig| key.verify(&layer.payload, &sig).is_ok()),
        rsign_core::oci::DSSE_ENVELOPE => rsign_core::dsse::Envelope::parse(&layer.payload)
            .is_ok_and(|e| {
                let pae = e.pae();
                e.signatures()
                    .iter()
                    .any(|s| key.verify(&pae, &s.sig).is_ok())
            }),
        _ => false,
    }
}

async fn clean(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    for image in &request.images {
        clean_image(&request, image, printer).await?;
    }
    Ok(ExitStatus::Success)
}

/// Removes the selected attachments of one image.
async fn clean_image(
    request: &Request,
    image: &ImageTarget,
    printer: &Printer,
) -> Result<(), CliError> {
    let (stores, open, resolved) = open_and_resolve(image, &request.registry, printer).await?;
    let pinned = open.target.pinned(&resolved.digest);
    let store = open.attach_store();
    for kind in request.kind.kinds() {
        let reference = attachment_reference(store, &resolved.digest, kind);
        let tag = kind.tag_for(&resolved.digest);
        let step_err = |step: &str| {
            let image = pinned.clone();
            let step = format!("{step} `{reference}`");
            move |source| CliError::ImageStep {
                image,
                step,
                source: Box::new(source),
            }
        };
        match &request.selection {
            Selection::Everything => {
                let present = store
                    .resolve(&TagOrDigest::Tag(tag.clone()))
                    .await
                    .map_err(step_err("look up"))?;
                if present.is_none() {
                    printer.message(format_args!("No {kind} attached to {pinned}"));
                    continue;
                }
                store.delete_tag(&tag).await.map_err(step_err("delete"))?;
                printer.message(format_args!("Removed the {kind} of {pinned} ({reference})"));
            }
            Selection::Layers(predicate) => {
                let predicate = Arc::clone(predicate);
                let removed = remove_layers(
                    store,
                    &resolved.digest,
                    kind,
                    move |layer| predicate(layer),
                    stores.attach_options(),
                )
                .await
                .map_err(step_err("remove layers from"))?;
                printer.message(format_args!(
                    "Removed {removed} layer(s) of the {kind} of {pinned} ({reference})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_kinds() {
        assert_eq!(CleanType::All.kinds().len(), 3);
        assert_eq!(
            CleanType::Attestation.kinds(),
            vec![AttachmentKind::Attestation]
        );
        assert_eq!(CleanType::default(), CleanType::All);
    }

    #[test]
    fn prompt_says_what_is_removed() {
        let request = |signer: Option<&str>| Request {
            images: vec![ImageTarget::parse("oci:/tmp/lay:v1").unwrap()],
            kind: CleanType::Signature,
            selection: Selection::Everything,
            signer: signer.map(str::to_owned),
            force: false,
            registry: RegistryArgs::default(),
        };
        let all = request(None);
        assert_eq!(
            all.prompt(),
            "This removes all signatures of oci:/tmp/lay:v1. Continue? [y/N] "
        );
        assert_eq!(all.what(), "signatures");
        let one = request(Some("key 0123456789abcdef (release)"));
        let prompt = one.prompt();
        assert!(!prompt.contains("all"), "{prompt}");
        assert!(
            prompt
                .contains("signatures of oci:/tmp/lay:v1 signed by key 0123456789abcdef (release)"),
            "{prompt}"
        );
        assert_eq!(
            one.what(),
            "signatures signed by key 0123456789abcdef (release)"
        );
        let mut two = request(None);
        two.images
            .push(ImageTarget::parse("oci:/tmp/lay:v2").unwrap());
        assert_eq!(
            two.prompt(),
            "This removes all signatures of oci:/tmp/lay:v1 and 1 more image(s). Continue? [y/N] "
        );
    }
}
