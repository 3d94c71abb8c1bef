//! `rsign attest`: attach in-toto attestations to container images, as
//! `cosign attest --key --tlog-upload=false` does.
//!
//! For each image the tag (if any) is resolved once and the statement is made
//! about exactly that digest: `_type` `https://in-toto.io/Statement/v0.1`, one
//! subject (the image repository and its `sha256` digest), the predicate type
//! URI of `--type` and the predicate built from `--predicate` as cosign builds
//! it (see [`super::predicate`]). The statement is signed over DSSE's PAE into
//! an envelope with payloadType `application/vnd.in-toto+json`, stored as a
//! layer of media type `application/vnd.dsse.envelope.v1+json` with cosign's
//! annotations (`predicateType`, empty `dev.cosignproject.cosign/signature`)
//! in the manifest under `sha256-<hex>.att`.
//!
//! Without `--replace` the layer is appended; with it, the attestations whose
//! predicate type equals this one are removed in the same write. Both are a
//! read-modify-write that loses no concurrent writer's layer (see
//! `rsign_registry::attach`). The key is unlocked once; images are attested
//! `--jobs` at a time.

use std::path::PathBuf;

use clap::Args;
use futures::StreamExt;
use rsign_core::Digest;
use rsign_core::dsse::Envelope;
use rsign_core::intoto::Statement;
use rsign_core::keys::PrivateKey;
use rsign_core::oci::ANNOTATION_PREDICATE_TYPE;
use rsign_registry::attach::{self, AttachedLayer, AttachmentKind, NewLayer};

use super::load_private_key;
use super::predicate::{self, PreparedPredicate, Subject};
use super::runtime;
use super::sign::{check_jobs, layout_identity, parse_images};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::password::Stdin;
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, OpenImage, Stores, TargetError, TargetKind};

/// Default number of images attested at once.
pub const DEFAULT_ATTEST_JOBS: usize = 8;

/// `rsign attest`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign attest --key cosign.key --type slsaprovenance --predicate provenance.json registry.example/app:v1
  rsign attest --key cosign.key --type vuln --predicate trivy-report.json --replace oci:./layout:v1

--type: custom (default), slsaprovenance, slsaprovenance1, spdx, spdxjson, \
cyclonedx, vuln, openvex, link, or any predicate type URI. With --type vuln a \
Trivy JSON report (`trivy image --format json`) is wrapped into cosign's vuln \
predicate. The attestation goes to the tag `sha256-<hex>.att`; --replace \
replaces earlier attestations of the same predicate type.")]
pub struct AttestArgs {
    /// The encrypted private key (cosign's format).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate file.
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// Predicate type: a short name or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub r#type: String,
    /// Replace the image's attestations of the same predicate type.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub replace: Option<bool>,
    /// How many images are attested at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ATTEST_JOBS)]
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

/// A validated `attest`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// The predicate file.
    pub predicate: PathBuf,
    /// `--type` as given.
    pub type_name: String,
    /// Replace attestations of the same type.
    pub replace: bool,
    /// Concurrency.
    pub jobs: usize,
    /// Registry access.
    pub registry: RegistryArgs,
    /// The images.
    pub images: Vec<ImageTarget>,
}

impl TryFrom<AttestArgs> for Request {
    type Error = CliError;

    fn try_from(args: AttestArgs) -> Result<Self, CliError> {
        super::refuse_tlog_upload(args.tlog_upload, super::Uploads::Attestations)?;
        let _ = args.yes;
        predicate::type_uri(&args.r#type)?;
        Ok(Self {
            key: args.key,
            predicate: args.predicate,
            type_name: args.r#type,
            replace: args.replace == Some(true),
            jobs: check_jobs(args.jobs)?,
            registry: args.registry,
            images: parse_images(&args.images)?,
        })
    }
}

/// The predicate type an attestation layer is about: its statement's
/// `predicateType` when the envelope decodes, else its annotation. Used only
/// to choose what `--replace` removes, never to accept anything.
pub fn layer_predicate_type(layer: &AttachedLayer) -> Option<String> {
    if let Ok(envelope) = Envelope::parse(&layer.payload) {
        if let Ok(statement) = Statement::parse(envelope.payload()) {
            return Some(statement.predicate_type().to_owned());
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(envelope.payload())
            && let Some(t) = value.get("predicateType").and_then(|t| t.as_str())
        {
            return Some(t.to_owned());
        }
    }
    layer
        .descriptor
        .annotation(ANNOTATION_PREDICATE_TYPE)
        .map(str::to_owned)
}

/// Reads the predicate, unlocks the key, then attests every image.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let prepared = predicate::prepare(&request.predicate, &request.type_name)?;
    if let Some(scanner) = prepared.wrapped_report {
        printer.message(format_args!(
            "Wrapped the {scanner} report `{}` in a cosign vuln predicate",
            request.predicate.display()
        ));
    }
    let stores = Stores::new(&request.registry, printer)?;
    let opened: Vec<OpenImage> = request
        .images
        .iter()
        .map(|t| stores.open(t))
        .collect::<Result<_, _>>()?;
    let key = load_private_key(&request.key, Stdin::Free)?;
    let ctx = Ctx {
        key: &key,
        predicate: &prepared,
        replace: request.replace,
        stores: &stores,
    };
    let rt = runtime()?;
    let results: Vec<Result<String, CliError>> = rt.block_on(async {
        futures::stream::iter(opened.iter())
            .map(|image| ctx.attest_image(image))
            .buffered(request.jobs)
            .collect()
            .await
    });
    let mut status = ExitStatus::Success;
    for result in results {
        match result {
            Ok(line) => printer.message(line),
            Err(e) => {
                printer.error(&e);
                status = ExitStatus::Error;
            }
        }
    }
    Ok(status)
}

/// What every image's attestation shares.
struct Ctx<'a> {
    key: &'a PrivateKey,
    predicate: &'a PreparedPredicate,
    replace: bool,
    stores: &'a Stores,
}

impl Ctx<'_> {
    async fn attest_image(&self, image: &OpenImage) -> Result<String, CliError> {
        let resolved = image.resolve().await?;
        let digest: Digest = resolved.digest.clone();
        let pinned = image.target.pinned(&digest);
        let name = match image.target.kind() {
            TargetKind::Registry(r) => r.repository(),
            TargetKind::Layout { dir, .. } => layout_identity(resolved.tag.as_deref())
                .unwrap_or_else(|| {
                    dir.file_name().map_or_else(
                        || dir.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                }),
        };
        let signed = predicate::sign_statement(
            self.key,
            &Subject {
                name,
                digest: digest.clone(),
            },
            self.predicate,
        )?;
        let type_uri = self.predicate.type_uri.as_str();
        let layer = NewLayer::attestation(signed.envelope, type_uri);
        let options = self.stores.attach_options();
        let store = image.attach_store();
        if self.replace {
            let outcome = attach::replace_layers(
                store,
                &digest,
                AttachmentKind::Attestation,
                |l: &AttachedLayer| layer_predicate_type(l).as_deref() == Some(type_uri),
                vec![layer],
                |_: &AttachedLayer, _: &NewLayer| false,
                options,
            )
            .await
            .map_err(|source| TargetError::store(&pinned, "write the attestation", source))?;
            Ok(format!(
                "attested {pinned} ({type_uri}); replaced {} earlier attestation(s) of this type",
                outcome.removed
            ))
        } else {
            attach::append_layers(
                store,
                &digest,
                AttachmentKind::Attestation,
                vec![layer],
                |_: &AttachedLayer, _: &NewLayer| false,
                options,
            )
            .await
            .map_err(|source| TargetError::store(&pinned, "write the attestation", source))?;
            Ok(format!("attested {pinned} ({type_uri})"))
        }
    }
}
