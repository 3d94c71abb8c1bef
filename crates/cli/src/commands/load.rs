//! `rsign load`: push an image saved with `rsign save` (or `cosign save`)
//! from an OCI layout to a registry, attachments included — the other half
//! of an air-gapped transfer.
//!
//! Order of writes, so that a reader of the registry never sees a dangling
//! reference: blobs, then manifests children first (an index's images before
//! the index), then the tag, then the attachment manifests (signatures last,
//! so an image is never "signed" before it is complete).
//!
//! Which layout entry is loaded: `--tag` if given; else the destination's
//! tag when the layout has an entry of that name; else the layout's only
//! image entry (attachment entries do not count); else, for a layout written
//! by `cosign save` (entries named only by cosign's `kind` annotation), the
//! entry marked as the image.

use std::path::{Path, PathBuf};

use clap::Args;
use rsign_core::Digest;
use rsign_registry::layout::COSIGN_KIND_ANNOTATION;
use rsign_registry::{OciLayout, Repository, TagOrDigest};
use serde::Deserialize;

use super::block_on;
use super::save::{Transfer, check_layout_tag};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, Stores, is_attachment_tag};

/// Largest `index.json` read when looking for a `cosign save` image entry.
const MAX_INDEX_JSON_BYTES: u64 = 16 * 1024 * 1024;
/// cosign's `kind` values for the saved image.
const COSIGN_IMAGE_KINDS: [&str; 2] = [
    "dev.cosignproject.cosign/image",
    "dev.cosignproject.cosign/imageIndex",
];

/// `rsign load`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign save registry.example/app:1.0 --dir ./app-layout       # on the connected side
  rsign load --dir ./app-layout mirror.internal/app:1.0         # on the air-gapped side
  rsign verify --key cosign.pub mirror.internal/app:1.0

Pushes blobs, then manifests (children before their index), then the tag, then \
the signatures, attestations and SBOMs, all byte for byte. Signatures keep the \
identity they were made for (the original repository): verify with a policy \
that expects it, or with cosign, which does not check it.")]
pub struct LoadArgs {
    /// The OCI layout directory to read.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The layout entry to load (default: see above).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Where to push: `REGISTRY/REPO[:TAG]` (or `@DIGEST` to check the digest).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A validated `load`.
#[derive(Debug)]
pub struct Request {
    /// The layout directory.
    pub dir: PathBuf,
    /// The layout entry, when given.
    pub tag: Option<String>,
    /// The destination (a registry reference).
    pub image: ImageTarget,
    /// Registry options.
    pub registry: RegistryArgs,
}

impl TryFrom<LoadArgs> for Request {
    type Error = CliError;

    fn try_from(args: LoadArgs) -> Result<Self, CliError> {
        if let Some(tag) = &args.tag {
            check_layout_tag(tag)?;
        }
        let image = ImageTarget::parse(&args.image)?;
        if image.is_layout() {
            return Err(CliError::Unsupported {
                flag: "IMAGE",
                reason: "`load` pushes to a registry, not to another layout",
                hint: "name a registry reference such as `registry.example/app:1.0`",
            });
        }
        Ok(Self {
            dir: args.dir,
            tag: args.tag,
            image,
            registry: args.registry,
        })
    }
}

/// Pushes the layout's image and its attachments.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    block_on(load(request, printer))
}

async fn load(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let dir_name = format!("oci:{}", request.dir.display());
    let layout = OciLayout::open(&request.dir).map_err(|source| CliError::ImageStep {
        image: dir_name.clone(),
        step: "open the OCI layout".into(),
        source: Box::new(source),
    })?;
    let Some(reference) = request.image.reference() else {
        return Err(CliError::Unsupported {
            flag: "IMAGE",
            reason: "`load` pushes to a registry, not to another layout",
            hint: "name a registry reference such as `registry.example/app:1.0`",
        });
    };
    let (entry, digest) = choose_entry(
        &layout,
        &request.dir,
        request.tag.as_deref(),
        reference.tag(),
    )
    .await?;
    if let Some(want) = reference.digest()
        && *want != digest
    {
        return Err(CliError::ImageStep {
            image: request.image.to_string(),
            step: format!("load {dir_name} entry {entry}"),
            source: Box::new(rsign_registry::Error::DigestMismatch {
                what: "layout image",
                location: dir_name,
                expected: want.clone(),
                actual: digest,
            }),
        });
    }
    let stores = Stores::new(&request.registry, printer)?;
    let destination = stores.open(&request.image)?;
    let pinned = request.image.pinned(&digest);
    let mut transfer = Transfer::new(
        &layout,
        &layout,
        destination.image_store(),
        destination.attach_store(),
        stores.attach_options().limits,
        pinned.clone(),
    );
    // A digest-only destination gets no tag; otherwise the reference's tag.
    let tag = if reference.digest().is_some() {
        reference.tag()
    } else {
        Some(
            reference
                .tag()
                .unwrap_or(rsign_registry::reference::DEFAULT_TAG),
        )
    };
    let manifests = transfer.copy_image(&digest, tag).await?;
    let attached = transfer.copy_attachments(&manifests).await?;
    let shown = match tag {
        Some(t) => format!("{}:{t}", reference.repository()),
        None => pinned.clone(),
    };
    printer.message(format_args!(
        "Loaded {dir_name} ({entry}) to {shown} ({digest}): {} manifest(s), {} blob(s) ({} bytes){}",
        transfer.stats.manifests,
        transfer.stats.blobs,
        transfer.stats.bytes,
        attached.describe(),
    ));
    Ok(ExitStatus::Success)
}

/// The layout entry to load, as `(description, digest)`.
async fn choose_entry(
    layout: &OciLayout,
    dir: &Path,
    explicit: Option<&str>,
    destination_tag: Option<&str>,
) -> Result<(String, Digest), CliError> {
    let dir_name = format!("oci:{}", dir.display());
    let resolve = |tag: String| {
        let dir_name = dir_name.clone();
        async move {
            let head = layout
                .resolve(&TagOrDigest::Tag(tag.clone()))
                .await
                .map_err(|source| CliError::ImageStep {
                    image: dir_name.clone(),
                    step: format!("resolve tag `{tag}`"),
                    source: Box::new(source),
                })?;
            Ok::<_, CliError>(head.map(|h| (format!("tag `{tag}`"), h.digest)))
        }
    };
    if let Some(tag) = explicit {
        return resolve(tag.to_owned())
            .await?
            .ok_or_else(|| CliError::ImageStep {
                image: dir_name.clone(),
                step: "find the image to load".into(),
                source: Box::new(rsign_registry::Error::NotFound {
                    what: format!("tag `{tag}`"),
                    location: dir_name.clone(),
                }),
            });
    }
    let tags = layout
        .list_tags()
        .await
        .map_err(|source| CliError::ImageStep {
            image: dir_name.clone(),
            step: "list the layout's tags".into(),
            source: Box::new(source),
        })?;
    let images: Vec<String> = tags.into_iter().filter(|t| !is_attachment_tag(t)).collect();
    if let Some(tag) = destination_tag
        && images.iter().any(|t| t == tag)
        && let Some(found) = resolve(tag.to_owned()).await?
    {
        return Ok(found);
    }
    if let [only] = images.as_slice()
        && let Some(found) = resolve(only.clone()).await?
    {
        return Ok(found);
    }
    if images.is_empty()
        && let Some(digest) = cosign_saved_image(dir)?
    {
        return Ok(("the image saved by cosign".to_owned(), digest));
    }
    Err(CliError::Malformed {
        image: dir_name,
        what: "the layout".into(),
        reason: if images.is_empty() {
            "it holds no image entry".to_owned()
        } else {
            format!(
                "it holds {} images ({}); choose one with `--tag`",
                images.len(),
                images
                    .iter()
                    .take(5)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    })
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: Digest,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// The digest of the one entry `cosign save` marked as the image, if any.
fn cosign_saved_image(dir: &Path) -> Result<Option<Digest>, CliError> {
    let path = dir.join("index.json");
    let bytes = files::read_bounded(&path, "OCI layout index", MAX_INDEX_JSON_BYTES)?;
    let index: IndexJson = serde_json::from_slice(&bytes).map_err(|e| CliError::Malformed {
        image: format!("oci:{}", dir.display()),
        what: "`index.json`".into(),
        reason: e.to_string(),
    })?;
    let mut images = index.manifests.into_iter().filter(|e| {
        e.annotations
            .get(COSIGN_KIND_ANNOTATION)
            .is_some_and(|k| COSIGN_IMAGE_KINDS.contains(&k.as_str()))
    });
    match (images.next(), images.next()) {
        (Some(one), None) => Ok(Some(one.digest)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cosign_saved_image() {
        let dir = tempfile::tempdir().unwrap();
        let d = Digest::sha256_of(b"image");
        let s = Digest::sha256_of(b"sig");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": s.to_string(), "size": 1,
             "annotations": {"kind": "dev.cosignproject.cosign/sigs"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.to_string(), "size": 1,
             "annotations": {"kind": "dev.cosignproject.cosign/image"}},
        ]});
        std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
        assert_eq!(cosign_saved_image(dir.path()).unwrap(), Some(d));
        std::fs::write(
            dir.path().join("index.json"),
            r#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
        assert_eq!(cosign_saved_image(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join("index.json"), "not json").unwrap();
        assert!(cosign_saved_image(dir.path()).is_err());
    }
}
