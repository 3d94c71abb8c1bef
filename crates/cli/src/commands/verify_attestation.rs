//! `rsign verify-attestation`: verify the in-toto attestations attached to
//! container images, as `cosign verify-attestation --key` does, and
//! optionally gate them with Rego policies.
//!
//! Every decision is made from the signed statement, never from the layer's
//! unauthenticated annotations. A layer of `sha256-<hex>.att` passes when
//!
//! 1. a signature of its DSSE envelope verifies over the PAE with one of the
//!    `--key`s,
//! 2. the payloadType is `application/vnd.in-toto+json` and the payload is an
//!    in-toto statement (`_type` v0.1 or v1, subjects with digests),
//! 3. a subject's digest equals the image's manifest digest,
//! 4. its `predicateType` equals the URI of `--type` (default `custom`, as
//!    cosign), and
//! 5. its `predicateType` annotation, when present, says the same as the
//!    signed statement: a layer whose annotation claims one type while its
//!    statement says another is rejected with that reason.
//!
//! `--threshold N`: the passing attestations must have been signed by at
//! least N distinct `--key`s. Each `--policy FILE.rego` then evaluates every
//! passing statement (the statement's JSON is Rego's `input`); any denial
//! fails the image. `.cue` policies are refused (exit 2).
//!
//! Output: when every image verifies, each passing attestation's DSSE
//! envelope, exactly as stored, one per line on standard output (what cosign
//! prints); otherwise nothing on standard output. Exit 0 verified, 1 nothing
//! acceptable (no layer of the requested type passed, threshold unmet, a
//! policy denied), 2 other errors, 3 no attestation attached at all.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use futures::StreamExt;
use rsign_core::Digest;
use rsign_core::dsse::Envelope;
use rsign_core::keys::{KeyId, PublicKey};
use rsign_core::oci::ANNOTATION_PREDICATE_TYPE;
use rsign_core::verify::{self, VerifyError};
use rsign_policy::rego::{self, RegoPolicy};
use rsign_registry::attach::{self, AttachedLayer, AttachmentKind};
use serde_json::Value;

use super::load_public_keys;
use super::predicate;
use super::runtime;
use super::sign::{check_jobs, parse_images};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::{Printer, error_chain, shorten};
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, OpenImage, Stores, TargetError};

/// Default number of images verified at once.
pub const DEFAULT_VERIFY_JOBS: usize = 8;
/// The most `--policy` files accepted.
pub const MAX_POLICIES: usize = 32;

/// `rsign verify-attestation`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign verify-attestation --key cosign.pub --type slsaprovenance registry.example/app:v1
  rsign verify-attestation --key cosign.pub --type vuln \\
      --policy examples/policies/deny-critical-vulns.rego oci:./layout:v1

Prints each verified attestation (the DSSE envelope JSON, one per line) when \
every image verifies, nothing otherwise. Exit 0 verified; 1 no attestation of \
the type verified, threshold unmet or a policy denied; 2 other errors; 3 no \
attestation attached. `--insecure-ignore-tlog` is accepted for cosign \
compatibility: rsign never consults a transparency log.")]
pub struct VerifyAttestationArgs {
    /// A trusted PEM public key (repeatable).
    #[arg(
        short = 'k',
        long = "key",
        value_name = "FILE",
        required_unless_present = "keyset"
    )]
    pub keys: Vec<PathBuf>,
    /// A keyset: its keys trusted now (active; retired within `acceptUntil`)
    /// are trusted; its revoked and expired keys never count, even with `--key`.
    #[arg(long, value_name = "FILE")]
    pub keyset: Option<PathBuf>,
    /// How many distinct keys must have signed passing attestations.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threshold: usize,
    /// Predicate type required: a short name or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub r#type: String,
    /// A Rego policy every passing statement must satisfy (repeatable).
    #[arg(long = "policy", value_name = "FILE.rego")]
    pub policies: Vec<PathBuf>,
    /// Accepted for cosign compatibility; only `true` is supported.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub check_claims: Option<bool>,
    /// How many images are verified at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_VERIFY_JOBS)]
    pub jobs: usize,
    /// Accepted for cosign compatibility (rsign never checks a transparency log).
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: Option<bool>,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images: `REGISTRY/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG|@DIGEST]`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// A validated `verify-attestation`.
#[derive(Debug)]
pub struct Request {
    /// The trusted public keys' files.
    pub keys: Vec<PathBuf>,
    /// The keyset file.
    pub keyset: Option<PathBuf>,
    /// Distinct keys required.
    pub threshold: usize,
    /// The predicate type URI required.
    pub type_uri: String,
    /// The policy files.
    pub policies: Vec<PathBuf>,
    /// Concurrency.
    pub jobs: usize,
    /// `--insecure-ignore-tlog` was given.
    pub insecure_ignore_tlog: bool,
    /// Registry access.
    pub registry: RegistryArgs,
    /// The images.
    pub images: Vec<ImageTarget>,
}

impl TryFrom<VerifyAttestationArgs> for Request {
    type Error = CliError;

    fn try_from(args: VerifyAttestationArgs) -> Result<Self, CliError> {
        if args.check_claims == Some(false) {
            return Err(CliError::Unsupported {
                flag: "--check-claims=false",
                reason: "rsign always checks the subject digest and predicate type of image attestations",
                hint: "leave the flag out",
            });
        }
        let type_uri = predicate::type_uri(&args.r#type)?;
        super::check_trusted_keys(args.keys.len(), args.keyset.is_some(), args.threshold)?;
        if args.policies.len() > MAX_POLICIES {
            return Err(CliError::InvalidArgument {
                flag: "--policy",
                value: args.policies.len().to_string(),
                reason: format!("at most {MAX_POLICIES} policies are accepted"),
            });
        }
        Ok(Self {
            keys: args.keys,
            keyset: args.keyset,
            threshold: args.threshold,
            type_uri,
            policies: args.policies,
            jobs: check_jobs(args.jobs)?,
            insecure_ignore_tlog: args.insecure_ignore_tlog == Some(true),
            registry: args.registry,
            images: parse_images(&args.images)?,
        })
    }
}

/// What one attestation layer turned out to be.
#[derive(Debug)]
pub enum LayerVerdict {
    /// Signed by a trusted key, about this image, of the requested type.
    Passed {
        /// The key whose signature verified.
        key_id: KeyId,
        /// The statement, as JSON (the Rego input).
        statement: Value,
    },
    /// Verified, but of another predicate type (not an error by itself).
    OtherType {
        /// The statement's predicate type.
        found: String,
    },
    /// Not acceptable, and why.
    Rejected(String),
}

/// Decides about one layer from its signed content (see the module docs).
pub fn check_layer(
    keys: &[PublicKey],
    layer: &AttachedLayer,
    image: &Digest,
    type_uri: &str,
) -> LayerVerdict {
    let annotated = layer.descriptor.annotation(ANNOTATION_PREDICATE_TYPE);
    match verify::verify_dsse(keys, &layer.payload, image, Some(type_uri)) {
        Ok(verified) => {
            if let Some(claimed) = annotated
                && claimed != verified.predicate_type()
            {
                return LayerVerdict::Rejected(format!(
                    "its `predicateType` annotation says `{}` but the signed statement says `{}`",
                    shorten(claimed),
                    shorten(verified.predicate_type())
                ));
            }
            let statement = Envelope::parse(&layer.payload)
                .ok()
                .and_then(|e| serde_json::from_slice::<Value>(e.payload()).ok());
            match statement {
                Some(statement) => LayerVerdict::Passed {
                    key_id: verified.key_id(),
                    statement,
                },
                None => LayerVerdict::Rejected("the statement does not decode as JSON".into()),
            }
        }
        Err(VerifyError::PredicateTypeMismatch { found, .. }) => {
            if let Some(claimed) = annotated
                && claimed != found
            {
                LayerVerdict::Rejected(format!(
                    "its `predicateType` annotation says `{}` but the signed statement says `{}`",
                    shorten(claimed),
                    shorten(&found)
                ))
            } else {
                LayerVerdict::OtherType { found }
            }
        }
        Err(e) => LayerVerdict::Rejected(error_chain(&e)),
    }
}

/// What happened to one image.
#[derive(Debug)]
enum ImageOutcome {
    /// Verified (and allowed): the envelopes to print, and notes for stderr.
    Verified {
        pinned: String,
        envelopes: Vec<Vec<u8>>,
        keys: usize,
        notes: Vec<String>,
    },
    /// Something was attached, nothing acceptable.
    Failed {
        pinned: String,
        reasons: Vec<String>,
        notes: Vec<String>,
    },
    /// No attestation attached at all.
    Nothing { pinned: String },
}

/// Loads keys and policies, then verifies every image.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    if request.insecure_ignore_tlog {
        printer.warning(
            "`--insecure-ignore-tlog`: rsign never checks a transparency log; \
             this verification rests on the public keys alone",
        );
    }
    let mut keys = load_public_keys(&request.keys)?;
    if let Some(path) = &request.keyset {
        let keyset = super::load_keyset(path)?;
        let now = super::key::now();
        for (entry, decision) in keyset.trust_at(now) {
            if !decision.is_trusted() {
                keys.retain(|k| k.key_id() != entry.id());
            } else if !keys.iter().any(|k| k.key_id() == entry.id()) {
                keys.push(entry.public_key().clone());
            }
        }
    }
    if request.threshold > keys.len() {
        return Err(CliError::InvalidArgument {
            flag: "--threshold",
            value: request.threshold.to_string(),
            reason: format!("only {} distinct keys were given", keys.len()),
        });
    }
    let policies: Vec<RegoPolicy> = request
        .policies
        .iter()
        .map(|p| rego::load_policy_file(p).map_err(CliError::Policy))
        .collect::<Result<_, _>>()?;
    let stores = Stores::new(&request.registry, printer)?;
    let opened: Vec<OpenImage> = request
        .images
        .iter()
        .map(|t| stores.open(t))
        .collect::<Result<_, _>>()?;
    let ctx = Ctx {
        keys: &keys,
        threshold: request.threshold,
        type_uri: &request.type_uri,
        policies: &policies,
        stores: &stores,
    };
    let rt = runtime()?;
    let results: Vec<Result<ImageOutcome, CliError>> = rt.block_on(async {
        futures::stream::iter(opened.iter())
            .map(|image| ctx.verify_image(image))
            .buffered(request.jobs)
            .collect()
            .await
    });
    report(results, &request.type_uri, printer)
}

/// Prints the outcome; stdout only when every image verified.
fn report(
    results: Vec<Result<ImageOutcome, CliError>>,
    type_uri: &str,
    printer: &Printer,
) -> Result<ExitStatus, CliError> {
    let (mut errors, mut failures, mut nothing) = (false, false, false);
    let mut out = Vec::new();
    for result in results {
        match result {
            Ok(ImageOutcome::Verified {
                pinned,
                envelopes,
                keys,
                notes,
            }) => {
                printer.message(format_args!(
                    "Verification for {pinned} --\n  {} attestation(s) of type {type_uri} \
                     verified: signed by {keys} trusted key(s), about this digest",
                    envelopes.len()
                ));
                for note in notes {
                    printer.warning(note);
                }
                for envelope in envelopes {
                    out.extend_from_slice(&envelope);
                    out.push(b'\n');
                }
            }
            Ok(ImageOutcome::Failed {
                pinned,
                reasons,
                notes,
            }) => {
                failures = true;
                for note in notes {
                    printer.warning(note);
                }
                printer.message(format_args!(
                    "{pinned}: no acceptable attestation of type {type_uri}"
                ));
                for reason in reasons {
                    printer.message(format_args!("  - {reason}"));
                }
            }
            Ok(ImageOutcome::Nothing { pinned }) => {
                nothing = true;
                printer.message(format_args!("{pinned}: no attestations attached"));
            }
            Err(e) => {
                errors = true;
                printer.error(&e);
            }
        }
    }
    if errors {
        return Ok(ExitStatus::Error);
    }
    if failures {
        return Ok(ExitStatus::Failure);
    }
    if nothing {
        return Ok(ExitStatus::NothingToVerify);
    }
    printer.data(&out)?;
    Ok(ExitStatus::Success)
}

/// What every image's verification shares.
struct Ctx<'a> {
    keys: &'a [PublicKey],
    threshold: usize,
    type_uri: &'a str,
    policies: &'a [RegoPolicy],
    stores: &'a Stores,
}

impl Ctx<'_> {
    async fn verify_image(&self, image: &OpenImage) -> Result<ImageOutcome, CliError> {
        let resolved = image.resolve().await?;
        let digest = resolved.digest;
        let pinned = image.target.pinned(&digest);
        let attachments = attach::read_attachments(
            image.attach_store(),
            &digest,
            AttachmentKind::Attestation,
            self.stores.attach_options(),
        )
        .await
        .map_err(|source| TargetError::store(&pinned, "read the attestations", source))?;
        let layers = match attachments {
            Some(a) if !a.layers.is_empty() => a.layers,
            _ => return Ok(ImageOutcome::Nothing { pinned }),
        };
        let mut reasons = Vec::new();
        let mut notes = Vec::new();
        let mut passed: Vec<(Vec<u8>, Value, KeyId, Digest)> = Vec::new();
        let mut other_types = BTreeSet::new();
        for layer in layers {
            let name = layer.descriptor.digest.clone();
            match check_layer(self.keys, &layer, &digest, self.type_uri) {
                LayerVerdict::Passed { key_id, statement } => {
                    passed.push((layer.payload, statement, key_id, name));
                }
                LayerVerdict::OtherType { found } => {
                    other_types.insert(shorten(&found));
                }
                LayerVerdict::Rejected(reason) => {
                    let line = format!("layer {name} rejected: {reason}");
                    tracing::debug!("{pinned}: {line}");
                    reasons.push(line);
                }
            }
        }
        if passed.is_empty() {
            if !other_types.is_empty() {
                reasons.push(format!(
                    "verified attestations of other types only: {}",
                    other_types.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            return Ok(ImageOutcome::Failed {
                pinned,
                reasons,
                notes,
            });
        }
        let signers: BTreeSet<KeyId> = passed.iter().map(|(_, _, k, _)| *k).collect();
        if signers.len() < self.threshold {
            reasons.push(format!(
                "threshold not met: {} of the required {} distinct keys signed attestations of this type",
                signers.len(),
                self.threshold
            ));
            return Ok(ImageOutcome::Failed {
                pinned,
                reasons,
                notes,
            });
        }
        // Forged or broken layers next to good ones are worth a warning.
        notes.extend(reasons.iter().map(|r| format!("{pinned}: {r}")));
        let mut denials = Vec::new();
        for (_, statement, _, layer) in &passed {
            for policy in self.policies {
                match policy.evaluate(statement) {
                    Ok(outcome) => {
                        for w in &outcome.warnings {
                            notes.push(format!("policy {}: {w}", policy.name()));
                        }
                        if !outcome.allowed {
                            let why = if outcome.errors.is_empty() {
                                "no reason given".to_owned()
                            } else {
                                outcome.errors.join("; ")
                            };
                            denials.push(format!(
                                "policy {} denied the attestation in layer {layer}: {why}",
                                policy.name()
                            ));
                        }
                    }
                    Err(e) => denials.push(format!(
                        "policy {} could not be evaluated on layer {layer} (denied): {}",
                        policy.name(),
                        error_chain(&e)
                    )),
                }
            }
        }
        if !denials.is_empty() {
            return Ok(ImageOutcome::Failed {
                pinned,
                reasons: denials,
                notes,
            });
        }
        Ok(ImageOutcome::Verified {
            pinned,
            envelopes: passed.into_iter().map(|(p, _, _, _)| p).collect(),
            keys: signers.len(),
            notes,
        })
    }
}
