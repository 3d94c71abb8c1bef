//! `rsign sign`: sign container images in registries and OCI layouts, the
//! way `cosign sign --key` does.
//!
//! For each image: resolve the tag to a digest, build cosign's
//! simple-signing payload (identity = the repository, or
//! `--sign-container-identity`), sign it with the key (decrypted once per
//! run), and append the layer to the `sha256-<hex>.sig` manifest with the
//! no-lost-update read-modify-write of [`rsign_registry::attach`]. A layer
//! with a byte-identical payload whose signature verifies with this key
//! already there means "already signed": nothing is written.
//!
//! Images are signed concurrently, `--jobs` at a time, over one shared
//! registry client. `--recursive` signs an index and every manifest it lists
//! (skopeo checks each platform image, never the index).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use futures::StreamExt as _;
use rsign_core::Digest;
use rsign_core::keys::{PrivateKey, PublicKey};
use rsign_core::oci::{ANNOTATION_SIGNATURE, Manifest};
use rsign_core::simple_signing::SimpleSigning;
use rsign_registry::{
    AppendOutcome, AttachOptions, AttachStore, AttachedLayer, AttachmentKind, NewLayer, Reference,
    TagOrDigest, attach,
};
use serde_json::Value;

use super::load_private_key;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::password::Stdin;
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, OpenImage, ResolvedImage, Stores, TargetError, TargetKind};

/// Default number of images signed at once.
pub const DEFAULT_SIGN_JOBS: usize = 8;
/// The most images signed at once.
pub const MAX_JOBS: usize = 256;
/// The most manifests an index may list for `--recursive`.
pub const MAX_INDEX_MANIFESTS: usize = 1000;

/// `rsign sign`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign sign --key cosign.key registry.example/app:v1
  rsign sign --key cosign.key -a release=v1 --recursive registry.example/app@sha256:…
  rsign sign --key cosign.key --sign-container-identity registry.example/app oci:./layout:v1

The tag is resolved once and exactly that digest is signed; the signature goes \
to the tag `sha256-<hex>.sig` of the same repository (or of `RSIGN_REPOSITORY`). \
rsign never uploads to a transparency log; `--tlog-upload=false` and `--yes` \
are accepted so cosign command lines work unchanged.")]
pub struct SignArgs {
    /// The encrypted private key (cosign's format).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// An annotation `KEY=VALUE` for the signed payload's `optional` section
    /// (repeatable).
    #[arg(
        short = 'a',
        long = "annotations",
        visible_alias = "annotation",
        value_name = "KEY=VALUE"
    )]
    pub annotations: Vec<String>,
    /// For an index: sign the index and every manifest it lists.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// The identity written into `docker-reference` instead of the image's
    /// repository (required for `oci:DIR@DIGEST`).
    #[arg(long, value_name = "REPOSITORY")]
    pub sign_container_identity: Option<String>,
    /// How many images are signed at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SIGN_JOBS)]
    pub jobs: usize,
    /// Accepted for cosign compatibility; only `false` is supported.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility; rsign never asks for confirmation.
    #[arg(short = 'y', long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub yes: Option<bool>,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images: `REGISTRY/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG|@DIGEST]`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// A validated `sign`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// The `optional` annotations of every payload.
    pub annotations: BTreeMap<String, String>,
    /// Sign indexes and their manifests.
    pub recursive: bool,
    /// `--sign-container-identity`.
    pub identity: Option<String>,
    /// Concurrency.
    pub jobs: usize,
    /// Registry access.
    pub registry: RegistryArgs,
    /// The images.
    pub images: Vec<ImageTarget>,
}

impl TryFrom<SignArgs> for Request {
    type Error = CliError;

    fn try_from(args: SignArgs) -> Result<Self, CliError> {
        super::refuse_tlog_upload(args.tlog_upload, super::Uploads::Signatures)?;
        let _ = args.yes;
        if let Some(identity) = &args.sign_container_identity
            && identity.trim().is_empty()
        {
            return Err(CliError::InvalidArgument {
                flag: "--sign-container-identity",
                value: identity.clone(),
                reason: "the identity is empty".into(),
            });
        }
        Ok(Self {
            key: args.key,
            annotations: parse_annotations(&args.annotations)?,
            recursive: args.recursive,
            identity: args.sign_container_identity,
            jobs: check_jobs(args.jobs)?,
            registry: args.registry,
            images: parse_images(&args.images)?,
        })
    }
}

/// Parses `KEY=VALUE` annotation arguments (a later key replaces an earlier one).
pub fn parse_annotations(args: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                map.insert(k.to_owned(), v.to_owned());
            }
            _ => {
                return Err(CliError::InvalidArgument {
                    flag: "--annotations",
                    value: arg.clone(),
                    reason: "expected KEY=VALUE with a non-empty KEY".into(),
                });
            }
        }
    }
    Ok(map)
}

/// Checks a `--jobs` value.
pub fn check_jobs(jobs: usize) -> Result<usize, CliError> {
    if jobs == 0 || jobs > MAX_JOBS {
        return Err(CliError::InvalidArgument {
            flag: "--jobs",
            value: jobs.to_string(),
            reason: format!("expected 1 to {MAX_JOBS}"),
        });
    }
    Ok(jobs)
}

/// Parses every image argument.
pub fn parse_images(args: &[String]) -> Result<Vec<ImageTarget>, CliError> {
    args.iter()
        .map(|a| ImageTarget::parse(a).map_err(CliError::from))
        .collect()
}

/// What happened to one manifest.
#[derive(Debug)]
enum Signed {
    /// A signature layer was added.
    Added(String),
    /// An identical payload signed by this key was there already.
    Already(String),
}

/// Opens every image, loads the key once, then signs concurrently.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let stores = Stores::new(&request.registry, printer)?;
    let opened: Vec<OpenImage> = request
        .images
        .iter()
        .map(|t| stores.open(t))
        .collect::<Result<_, _>>()?;
    let key = load_private_key(&request.key, Stdin::Free)?;
    let public = key.public_key();
    let annotations: Option<rsign_core::simple_signing::Annotations> =
        (!request.annotations.is_empty()).then(|| {
            request
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        });
    let ctx = Ctx {
        key: &key,
        public: &public,
        annotations: annotations.as_ref(),
        identity: request.identity.as_deref(),
        recursive: request.recursive,
        stores: &stores,
    };
    let rt = super::runtime()?;
    let results: Vec<Result<Vec<Signed>, CliError>> = rt.block_on(async {
        futures::stream::iter(opened.iter())
            .map(|image| ctx.sign_image(image))
            .buffered(request.jobs)
            .collect()
            .await
    });
    let mut status = ExitStatus::Success;
    for result in results {
        match result {
            Ok(done) => {
                for s in done {
                    match s {
                        Signed::Added(pinned) => printer.message(format_args!("signed {pinned}")),
                        Signed::Already(pinned) => printer.message(format_args!(
                            "already signed {pinned} with this key and payload; nothing added"
                        )),
                    }
                }
            }
            Err(e) => {
                printer.error(&e);
                status = ExitStatus::Error;
            }
        }
    }
    Ok(status)
}

/// What every image's signing shares.
struct Ctx<'a> {
    key: &'a PrivateKey,
    public: &'a PublicKey,
    annotations: Option<&'a rsign_core::simple_signing::Annotations>,
    identity: Option<&'a str>,
    recursive: bool,
    stores: &'a Stores,
}

impl Ctx<'_> {
    async fn sign_image(&self, image: &OpenImage) -> Result<Vec<Signed>, CliError> {
        let resolved = image.resolve().await?;
        let identity = self.identity_for(image, &resolved)?;
        let mut digests = vec![resolved.digest.clone()];
        if self.recursive && resolved.is_index() {
            digests.extend(children(image, &resolved.digest).await?);
        }
        let mut out = Vec::with_capacity(digests.len());
        for digest in digests {
            out.push(self.sign_digest(image, &identity, digest).await?);
        }
        Ok(out)
    }

    /// The `docker-reference` to sign for `image`.
    fn identity_for(
        &self,
        image: &OpenImage,
        resolved: &ResolvedImage,
    ) -> Result<String, CliError> {
        if let Some(identity) = self.identity {
            return Ok(identity.to_owned());
        }
        match image.target.kind() {
            TargetKind::Registry(r) => Ok(r.repository()),
            TargetKind::Layout { .. } => {
                layout_identity(resolved.tag.as_deref()).ok_or_else(|| CliError::InvalidArgument {
                    flag: "IMAGE",
                    value: image.target.input().to_owned(),
                    reason: "an image addressed by digest in an OCI layout has no name to sign; \
                             pass `--sign-container-identity REPOSITORY`"
                        .into(),
                })
            }
        }
    }

    async fn sign_digest(
        &self,
        image: &OpenImage,
        identity: &str,
        digest: Digest,
    ) -> Result<Signed, CliError> {
        let pinned = image.target.pinned(&digest);
        let payload =
            SimpleSigning::new(identity, digest.clone(), self.annotations.cloned()).to_bytes();
        let layer = signature_layer(self.key, payload, &pinned)?;
        let public = self.public;
        let outcome = store_signature(
            image.attach_store(),
            &digest,
            layer,
            |existing: &AttachedLayer, new: &NewLayer| same_signed_payload(public, existing, new),
            self.stores.attach_options(),
            &pinned,
        )
        .await?;
        tracing::debug!(image = %pinned, attempts = outcome.attempts, "signature stored");
        Ok(if outcome.added > 0 {
            Signed::Added(pinned)
        } else {
            Signed::Already(pinned)
        })
    }
}

/// Signs `payload` with `key` into a cosign signature layer for the image
/// `pinned` (named in the error).
pub fn signature_layer(
    key: &PrivateKey,
    payload: Vec<u8>,
    pinned: &str,
) -> Result<NewLayer, CliError> {
    let signature = key.sign(&payload).map_err(|source| CliError::SignImage {
        image: pinned.to_owned(),
        source,
    })?;
    Ok(NewLayer::signature(payload, &STANDARD.encode(signature)))
}

/// Appends the signature `layer` to the signatures of `digest` in `store`,
/// unless `dedupe` finds it there already. distribution 2.8 sometimes
/// refuses a manifest while another writer pushes to the same repository
/// (400 DIGEST_INVALID from a half-written link file); the append is
/// idempotent, so registry errors are retried, [`WRITE_ATTEMPTS`] times in
/// all, with a growing, jittered pause.
pub async fn store_signature(
    store: &dyn AttachStore,
    digest: &Digest,
    layer: NewLayer,
    dedupe: impl Fn(&AttachedLayer, &NewLayer) -> bool + Send + Sync,
    options: &AttachOptions,
    pinned: &str,
) -> Result<AppendOutcome, CliError> {
    let mut attempt = 1;
    loop {
        let result = attach::append_layers(
            store,
            digest,
            AttachmentKind::Signature,
            vec![layer.clone()],
            &dedupe,
            options,
        )
        .await;
        match result {
            Err(e @ rsign_registry::Error::Registry { .. }) if attempt < WRITE_ATTEMPTS => {
                tracing::debug!(image = %pinned, attempt, "writing the signature failed, retrying: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(
                    50 * u64::from(attempt) + fastrand_ms(),
                ))
                .await;
                attempt += 1;
            }
            other => {
                return other.map_err(|source| {
                    TargetError::store(pinned, "write the signature", source).into()
                });
            }
        }
    }
}

/// How often a signature write failing with a registry error is tried.
const WRITE_ATTEMPTS: u32 = 4;

/// 0–63 ms of jitter, from the clock (no RNG dependency needed for this).
fn fastrand_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() % 64))
}

/// Whether `existing` holds the same payload bytes as `new`, signed by `public`.
fn same_signed_payload(public: &PublicKey, existing: &AttachedLayer, new: &NewLayer) -> bool {
    existing.payload == new.payload
        && existing
            .descriptor
            .annotation(ANNOTATION_SIGNATURE)
            .and_then(|s| STANDARD.decode(s.trim()).ok())
            .is_some_and(|sig| public.verify(&existing.payload, &sig).is_ok())
}

/// The identity of a layout image found under `tag`: the repository when the
/// tag is a full reference (`registry.example/app:1` → `registry.example/app`),
/// else the tag itself; `None` without a tag.
pub fn layout_identity(tag: Option<&str>) -> Option<String> {
    let tag = tag?;
    if tag.contains('/')
        && let Ok(r) = tag.parse::<Reference>()
    {
        return Some(r.repository());
    }
    Some(tag.to_owned())
}

/// The digests of the manifests an index lists.
async fn children(image: &OpenImage, index: &Digest) -> Result<Vec<Digest>, CliError> {
    let pinned = image.target.pinned(index);
    let fetched = image
        .image_store()
        .get_manifest(&TagOrDigest::Digest(index.clone()))
        .await
        .map_err(|source| TargetError::store(&pinned, "read the index", source))?
        .ok_or_else(|| TargetError::NotFound {
            image: pinned.clone(),
            what: format!("@{index}"),
            store: image.image_store().display_name(),
        })?;
    let parsed = Manifest::parse(&fetched.bytes, Some(&fetched.media_type)).map_err(|e| {
        CliError::InvalidIndex {
            image: pinned.clone(),
            reason: e.to_string(),
        }
    })?;
    let Some(list) = parsed.as_index() else {
        return Ok(Vec::new());
    };
    if list.manifests.len() > MAX_INDEX_MANIFESTS {
        return Err(CliError::InvalidIndex {
            image: pinned,
            reason: format!(
                "it lists {} manifests, more than the limit of {MAX_INDEX_MANIFESTS}",
                list.manifests.len()
            ),
        });
    }
    let mut out: Vec<Digest> = Vec::with_capacity(list.manifests.len());
    for d in &list.manifests {
        if !out.contains(&d.digest) && d.digest != *index {
            out.push(d.digest.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_parse() {
        let m = parse_annotations(&["a=1".into(), "b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("x=y"));
        assert_eq!(m.get("c").map(String::as_str), Some(""));
        assert!(parse_annotations(&["=v".into()]).is_err());
        assert!(parse_annotations(&["novalue".into()]).is_err());
    }

    #[test]
    fn layout_identities() {
        assert_eq!(layout_identity(None), None);
        assert_eq!(layout_identity(Some("v1")).as_deref(), Some("v1"));
        assert_eq!(
            layout_identity(Some("registry.example/app:1")).as_deref(),
            Some("registry.example/app")
        );
        assert_eq!(
            layout_identity(Some("docker.io/x/y:1")).as_deref(),
            Some("index.docker.io/x/y")
        );
    }

    #[test]
    fn jobs_bounds() {
        assert!(check_jobs(0).is_err());
        assert!(check_jobs(MAX_JOBS + 1).is_err());
        assert_eq!(check_jobs(8).unwrap(), 8);
    }
}
