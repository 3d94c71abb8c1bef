//! `rsign verify`: verify cosign image signatures with public keys, as
//! `cosign verify --key` does, with the identity check cosign leaves out.
//!
//! Per image: resolve the digest, read the `sha256-<hex>.sig` attachments
//! once (limits enforced), then for every layer and every key check locally
//! that the key signed the exact payload bytes and the payload names exactly
//! this digest ([`rsign_core::verify::verify_simple_signing`]); then that the
//! payload's `docker-reference`, without tag or digest, is the image's
//! repository, and that every `-a KEY=VALUE` is in its `optional` section.
//! Distinct keys with at least one acceptable signature are counted against
//! `--threshold`. No registry round trip depends on the number of keys.
//!
//! With `--keyset FILE` (alone or with `--key`) the trusted keys also
//! include the keyset's keys that verify at the verifier's clock now
//! ([`Keyset::verification_keys`]: active keys, retired keys within
//! `acceptUntil`). Signatures by the keyset's other keys (revoked, retired
//! and expired, retired without a window) never count; when an image has no
//! acceptable signature they are still checked against those keys so that
//! the refusal can say `signed only by revoked key <id16> (<name>)` or
//! `signed only by retired key <id16> (<name>), whose window expired at T`.
//! Output names the key id (first 16 hex digits) and, for keyset keys, the
//! name of every key that verified.
//!
//! Exit codes per image: 0 verified, 1 signatures present but too few
//! acceptable, 3 no signatures, 2 error. Several images: 2 if any errored,
//! else 1 if any failed, else 3 if any had none, else 0.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use rsign_core::Digest;
use rsign_core::keys::{KeyId, PublicKey};
use rsign_core::keyset::{Keyset, TrustDecision, format_rfc3339};
use rsign_core::oci::{ANNOTATION_SIGNATURE, COSIGN_SIMPLE_SIGNING};
use rsign_core::simple_signing::{SimpleSigning, cosign_docker_reference};
use rsign_core::verify::{VerifyError, verify_simple_signing};
use rsign_registry::{AttachedLayer, AttachmentKind, attach};
use serde_json::{Value, json};

use super::key::now;
use super::load_keyset;
use super::load_public_keys;
use super::runtime;
use super::sign::{check_jobs, parse_annotations, parse_images};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::{Printer, error_chain, shorten};
use crate::registry_args::RegistryArgs;
use crate::target::{ImageTarget, OpenImage, Stores, TargetError, TargetKind};

/// Default number of images verified at once.
pub const DEFAULT_VERIFY_JOBS: usize = 16;
/// The refusal reason of a signature no trusted key verifies.
const WRONG_KEY: &str = "wrong key: no trusted key verifies the signature";

/// Output format of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Status lines on stderr, one `IMAGE@DIGEST verified by KEYS` line per
    /// verified image on stdout.
    Text,
    /// One JSON object per image per line on stdout.
    Json,
}

/// `rsign verify`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign verify --key cosign.pub registry.example/app:v1
  rsign verify --key a.pub --key b.pub --threshold 2 -a release=v1 registry.example/app@sha256:…
  rsign verify --key cosign.pub --output json oci:./layout:v1
  rsign verify --keyset keyset.yaml registry.example/app:v1

With `--keyset`, the keyset's active keys and its retired keys still within \
`acceptUntil` (on this machine's clock) are trusted; revoked and expired keys \
never count, and a refusal names them when they made the only signatures.

Exit codes: 0 every image verified; 1 an image has signatures but too few \
acceptable ones (wrong key, digest mismatch, identity mismatch, annotation \
missing, threshold); 3 an image has no signatures; 2 errors. With several \
images the worst wins in the order 2, 1, 3, 0.")]
pub struct VerifyArgs {
    /// A trusted PEM public key (repeatable).
    #[arg(
        short = 'k',
        long,
        value_name = "FILE",
        required_unless_present = "keyset"
    )]
    pub key: Vec<PathBuf>,
    /// A keyset file: its keys trusted now are trusted (see `rsign key`).
    #[arg(long, value_name = "FILE")]
    pub keyset: Option<PathBuf>,
    /// How many distinct keys must each have an acceptable signature.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threshold: usize,
    /// An annotation `KEY=VALUE` the signed payload must carry (repeatable).
    #[arg(
        short = 'a',
        long = "annotations",
        visible_alias = "annotation",
        value_name = "KEY=VALUE"
    )]
    pub annotations: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Accepted for cosign compatibility (rsign never checks a transparency log).
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: Option<bool>,
    /// Accept signatures whatever repository they name in `docker-reference`
    /// (cosign's behaviour). Warns.
    #[arg(long)]
    pub insecure_skip_identity_check: bool,
    /// The repository the signatures must name: required identity for
    /// `oci:` layouts (not checked there otherwise), and replaces the
    /// image's repository for registry images.
    #[arg(long, value_name = "REPOSITORY")]
    pub identity: Option<String>,
    /// How many images are verified at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_VERIFY_JOBS)]
    pub jobs: usize,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images: `REGISTRY/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG|@DIGEST]`.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// A validated `verify`.
#[derive(Debug)]
pub struct Request {
    /// The public key files.
    pub keys: Vec<PathBuf>,
    /// The keyset file.
    pub keyset: Option<PathBuf>,
    /// Distinct keys needed.
    pub threshold: usize,
    /// Required annotations.
    pub annotations: BTreeMap<String, String>,
    /// Output format.
    pub output: OutputFormat,
    /// `--insecure-ignore-tlog` (changes nothing; warned about).
    pub insecure_ignore_tlog: bool,
    /// Skip the repository check.
    pub insecure_skip_identity_check: bool,
    /// `--identity`.
    pub identity: Option<String>,
    /// Concurrency.
    pub jobs: usize,
    /// Registry access.
    pub registry: RegistryArgs,
    /// The images.
    pub images: Vec<ImageTarget>,
}

impl TryFrom<VerifyArgs> for Request {
    type Error = CliError;

    fn try_from(args: VerifyArgs) -> Result<Self, CliError> {
        super::check_trusted_keys(args.key.len(), args.keyset.is_some(), args.threshold)?;
        let identity = match args.identity {
            Some(i) => Some(
                normalize_identity(&i).ok_or_else(|| CliError::InvalidArgument {
                    flag: "--identity",
                    value: i.clone(),
                    reason: "not a repository name".into(),
                })?,
            ),
            None => None,
        };
        Ok(Self {
            keys: args.key,
            keyset: args.keyset,
            threshold: args.threshold,
            annotations: parse_annotations(&args.annotations)?,
            output: args.output,
            insecure_ignore_tlog: args.insecure_ignore_tlog == Some(true),
            insecure_skip_identity_check: args.insecure_skip_identity_check,
            identity,
            jobs: check_jobs(args.jobs)?,
            registry: args.registry,
            images: parse_images(&args.images)?,
        })
    }
}

/// A `docker-reference` without tag or digest, normalised as cosign names
/// repositories (`docker.io/x` → `index.docker.io/library/x`). Names that
/// are not references (a layout's plain tag) are kept as they are.
fn normalize_identity(reference: &str) -> Option<String> {
    if reference.trim().is_empty() {
        return None;
    }
    if reference.contains('/') {
        cosign_docker_reference(reference).ok()
    } else {
        Some(reference.to_owned())
    }
}

/// How one image's verification ended.
#[derive(Debug)]
enum Verdict {
    /// Enough keys verified.
    Verified,
    /// Signatures were there, too few acceptable.
    Failed(String),
    /// No signatures at all.
    NoSignatures,
    /// Could not be checked.
    Error(CliError),
}

/// A key signatures are checked with: a `--key` file, or a keyset entry.
#[derive(Debug)]
struct TrustedKey {
    key: PublicKey,
    /// The keyset name, for keyset keys.
    name: Option<String>,
    /// The keyset decision at verification time, for keyset keys.
    trust: Option<TrustDecision>,
}

/// An acceptable signature.
#[derive(Debug)]
struct Accepted {
    key_id: KeyId,
    name: Option<String>,
    trust: Option<TrustDecision>,
    algorithm: String,
    payload: SimpleSigning,
}

/// The result of one image.
#[derive(Debug)]
struct Report {
    image: String,
    digest: Option<Digest>,
    pinned: Option<String>,
    accepted: Vec<Accepted>,
    verdict: Verdict,
}

impl Report {
    fn status(&self) -> ExitStatus {
        match self.verdict {
            Verdict::Verified => ExitStatus::Success,
            Verdict::Failed(_) => ExitStatus::Failure,
            Verdict::NoSignatures => ExitStatus::NothingToVerify,
            Verdict::Error(_) => ExitStatus::Error,
        }
    }
}

/// Loads the keys, verifies every image concurrently, prints, and combines the exit codes.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    if request.insecure_ignore_tlog {
        printer.warning(
            "`--insecure-ignore-tlog`: rsign never checks a transparency log; \
             this verification rests on the public keys alone",
        );
    }
    if request.insecure_skip_identity_check {
        printer.warning(
            "`--insecure-skip-identity-check`: a signature made for any repository is \
             accepted for these images",
        );
    }
    let mut keys: Vec<TrustedKey> = load_public_keys(&request.keys)?
        .into_iter()
        .map(|key| TrustedKey {
            key,
            name: None,
            trust: None,
        })
        .collect();
    let verifying_now = now();
    let keyset: Option<Keyset> = request.keyset.as_deref().map(load_keyset).transpose()?;
    let mut distrusted: Vec<TrustedKey> = Vec::new();
    if let Some(keyset) = &keyset {
        for (entry, decision) in keyset.trust_at(verifying_now) {
            let named = TrustedKey {
                key: entry.public_key().clone(),
                name: Some(entry.name().to_owned()),
                trust: Some(decision),
            };
            if !decision.is_trusted() {
                distrusted.push(named);
            } else if let Some(k) = keys.iter_mut().find(|k| k.key.key_id() == entry.id()) {
                // Also given with `--key`: name it.
                k.name = named.name;
                k.trust = named.trust;
            } else {
                keys.push(named);
            }
        }
        // A key revoked or expired in the keyset is not trusted, even if it
        // is also given with `--key`.
        keys.retain(|k| !distrusted.iter().any(|d| d.key.key_id() == k.key.key_id()));
        if keys.is_empty() {
            printer.warning(format_args!(
                "no key of the keyset is trusted now ({}); every image will be refused",
                crate::commands::key::describe_keyset_counts(keyset, verifying_now)
            ));
        }
    }
    if keyset.is_none() && request.threshold > keys.len() {
        return Err(CliError::InvalidArgument {
            flag: "--threshold",
            value: request.threshold.to_string(),
            reason: format!(
                "only {} distinct keys were given (the same key counts once)",
                keys.len()
            ),
        });
    }
    let stores = Stores::new(&request.registry, printer)?;
    let ctx = Ctx {
        keys: &keys,
        distrusted: &distrusted,
        request: &request,
        stores: &stores,
    };
    let rt = runtime()?;
    // Unordered, so that one slow image does not hold back the next starts
    // (`buffered` keeps finished results behind the oldest in its window);
    // the reports are put back in argument order before printing.
    let ctx = &ctx;
    let mut reports: Vec<(usize, Report)> = rt.block_on(async {
        futures::stream::iter(request.images.iter().enumerate())
            .map(|(i, image)| async move { (i, ctx.verify_image(image).await) })
            .buffer_unordered(request.jobs)
            .collect()
            .await
    });
    reports.sort_unstable_by_key(|(i, _)| *i);
    let reports: Vec<Report> = reports.into_iter().map(|(_, r)| r).collect();
    let mut worst = ExitStatus::Success;
    for report in &reports {
        print_report(report, request.output, printer)?;
        worst = combine(worst, report.status());
    }
    Ok(worst)
}

/// The exit status of several images: 2 over 1 over 3 over 0.
pub fn combine(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    let rank = |s: ExitStatus| match s {
        ExitStatus::Success => 0,
        ExitStatus::NothingToVerify => 1,
        ExitStatus::Failure => 2,
        ExitStatus::Error => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

struct Ctx<'a> {
    keys: &'a [TrustedKey],
    /// Keyset keys not trusted now: only for explaining refusals.
    distrusted: &'a [TrustedKey],
    request: &'a Request,
    stores: &'a Stores,
}

impl Ctx<'_> {
    async fn verify_image(&self, target: &ImageTarget) -> Report {
        let mut report = Report {
            image: target.input().to_owned(),
            digest: None,
            pinned: None,
            accepted: Vec::new(),
            verdict: Verdict::NoSignatures,
        };
        report.verdict = match self.check(target, &mut report).await {
            Ok(v) => v,
            Err(e) => Verdict::Error(e),
        };
        report
    }

    async fn check(&self, target: &ImageTarget, report: &mut Report) -> Result<Verdict, CliError> {
        let image: OpenImage = self.stores.open(target)?;
        let resolved = image.resolve().await?;
        let digest = resolved.digest.clone();
        let pinned = target.pinned(&digest);
        report.digest = Some(digest.clone());
        report.pinned = Some(pinned.clone());
        let attachments = attach::read_attachments(
            image.attach_store(),
            &digest,
            AttachmentKind::Signature,
            self.stores.attach_options(),
        )
        .await
        .map_err(|source| TargetError::store(&pinned, "read the signatures", source))?;
        let layers = attachments.map(|a| a.layers).unwrap_or_default();
        if layers.is_empty() {
            return Ok(Verdict::NoSignatures);
        }
        let expected = self.expected_identity(target);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for layer in &layers {
            match self.check_layer(layer, &digest, expected.as_deref()) {
                Ok(accepted) => report.accepted.extend(accepted),
                Err(reason) => *reasons.entry(reason).or_default() += 1,
            }
        }
        let keys: BTreeSet<KeyId> = report.accepted.iter().map(|a| a.key_id).collect();
        if keys.len() >= self.request.threshold {
            return Ok(Verdict::Verified);
        }
        let mut why: Vec<String> = reasons
            .iter()
            .map(|(r, n)| {
                if *n > 1 {
                    format!("{r} ({n} signatures)")
                } else {
                    r.clone()
                }
            })
            .collect();
        if let Some(only) = self.explain_distrusted(&layers, &digest, &keys) {
            // "wrong key" says less than naming the distrusted key.
            if keys.is_empty() {
                why.retain(|r| !r.starts_with(WRONG_KEY));
            }
            why.insert(0, only);
        }
        if !keys.is_empty() || self.request.threshold > 1 {
            why.push(format!(
                "threshold not met: {} of {} required keys",
                keys.len(),
                self.request.threshold
            ));
        }
        let how_many = if keys.is_empty() {
            "none acceptable"
        } else {
            "too few acceptable"
        };
        Ok(Verdict::Failed(format!(
            "{} signature(s), {how_many}: {}",
            layers.len(),
            why.join("; ")
        )))
    }

    /// The identity signatures must name; `None`: not checked.
    fn expected_identity(&self, target: &ImageTarget) -> Option<String> {
        if self.request.insecure_skip_identity_check {
            return None;
        }
        if let Some(identity) = &self.request.identity {
            return Some(identity.clone());
        }
        match target.kind() {
            TargetKind::Registry(r) => Some(r.repository()),
            TargetKind::Layout { .. } => None,
        }
    }

    /// Every key's acceptable signature in `layer`, or why there is none.
    fn check_layer(
        &self,
        layer: &AttachedLayer,
        digest: &Digest,
        expected: Option<&str>,
    ) -> Result<Vec<Accepted>, String> {
        if layer.descriptor.media_type != COSIGN_SIMPLE_SIGNING {
            return Err(format!(
                "not a simple-signing layer (media type `{}`)",
                shorten(&layer.descriptor.media_type)
            ));
        }
        let Some(signature) = layer.descriptor.annotation(ANNOTATION_SIGNATURE) else {
            return Err("layer has no signature annotation".into());
        };
        let mut accepted = Vec::new();
        // The most telling failure across keys: a signature that verified but
        // whose payload is wrong beats "wrong key".
        let mut failure: Option<(u8, String)> = None;
        let mut note = |rank: u8, reason: String| {
            if failure.as_ref().is_none_or(|(r, _)| rank > *r) {
                failure = Some((rank, reason));
            }
        };
        for trusted in self.keys {
            let key = &trusted.key;
            match verify_simple_signing(
                std::slice::from_ref(key),
                &layer.payload,
                signature,
                digest,
            ) {
                Ok(verified) => {
                    let payload = verified.value();
                    if let Some(expected) = expected {
                        let signed = payload.docker_reference();
                        let got = normalize_identity(signed).unwrap_or_default();
                        if got != expected {
                            note(
                                4,
                                format!(
                                    "identity mismatch: signed for `{}`, expected `{expected}`",
                                    shorten(signed)
                                ),
                            );
                            continue;
                        }
                    }
                    if let Some((k, v)) = self.missing_annotation(payload) {
                        note(
                            3,
                            format!("annotation `{k}={v}` missing from the signed payload"),
                        );
                        continue;
                    }
                    accepted.push(Accepted {
                        key_id: verified.key_id(),
                        name: trusted.name.clone(),
                        trust: trusted.trust,
                        algorithm: key.algorithm().to_string(),
                        payload: verified.into_inner(),
                    });
                }
                Err(VerifyError::DigestMismatch { actual, .. }) => {
                    note(
                        5,
                        format!("digest mismatch: signed payload is for {actual}"),
                    );
                }
                Err(VerifyError::Payload { source }) => {
                    note(
                        5,
                        format!("invalid signed payload: {}", error_chain(&source)),
                    );
                }
                Err(VerifyError::SignatureBase64 { .. }) => {
                    note(2, "signature annotation is not valid base64".into());
                }
                Err(VerifyError::NoMatchingKey { .. }) => {
                    note(1, WRONG_KEY.into());
                }
                Err(other) => note(1, error_chain(&other)),
            }
        }
        if accepted.is_empty() {
            return Err(failure.map(|(_, r)| r).unwrap_or_default());
        }
        Ok(accepted)
    }

    /// When keyset keys that are not trusted now (revoked, expired) made
    /// valid signatures over payloads for `digest` that no accepted key
    /// made, says so. These signatures never count.
    fn explain_distrusted(
        &self,
        layers: &[AttachedLayer],
        digest: &Digest,
        accepted: &BTreeSet<KeyId>,
    ) -> Option<String> {
        let mut found: Vec<&TrustedKey> = Vec::new();
        for layer in layers {
            let Some(signature) = layer.descriptor.annotation(ANNOTATION_SIGNATURE) else {
                continue;
            };
            if layer.descriptor.media_type != COSIGN_SIMPLE_SIGNING {
                continue;
            }
            for d in self.distrusted {
                if found.iter().any(|f| f.key.key_id() == d.key.key_id()) {
                    continue;
                }
                if verify_simple_signing(
                    std::slice::from_ref(&d.key),
                    &layer.payload,
                    signature,
                    digest,
                )
                .is_ok()
                {
                    found.push(d);
                }
            }
        }
        if found.is_empty() {
            return None;
        }
        let described: Vec<String> = found.iter().map(|k| describe_distrusted(k)).collect();
        let lead = if accepted.is_empty() {
            "signed only by"
        } else {
            "also signed by (not counted)"
        };
        Some(format!("{lead} {}", described.join(", ")))
    }

    /// The first required annotation the payload does not carry.
    fn missing_annotation<'a>(&'a self, payload: &SimpleSigning) -> Option<(&'a str, &'a str)> {
        self.request.annotations.iter().find_map(|(k, v)| {
            let present = payload
                .annotations()
                .and_then(|a| a.get(k))
                .is_some_and(|found| found.as_str() == Some(v.as_str()));
            (!present).then_some((k.as_str(), v.as_str()))
        })
    }
}

/// `revoked key <id16> (<name>)`, `retired key <id16> (<name>) whose
/// acceptance window expired at T`, …
fn describe_distrusted(k: &TrustedKey) -> String {
    let id = k.key.key_id().short();
    let name = k.name.as_deref().unwrap_or("");
    match k.trust {
        Some(TrustDecision::Revoked) => format!("revoked key {id} ({name})"),
        Some(TrustDecision::RetiredExpired { accept_until }) => format!(
            "retired key {id} ({name}), whose acceptance window expired at {}",
            format_rfc3339(accept_until)
        ),
        Some(TrustDecision::RetiredWithoutWindow) => {
            format!("retired key {id} ({name}), which has no acceptUntil window")
        }
        Some(other) => format!("key {id} ({name}, {other})"),
        None => format!("key {id}"),
    }
}

/// `<id16> (<name>)` for keyset keys, `<id16>` for `--key` keys.
fn describe_key(key_id: KeyId, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{} ({name})", key_id.short()),
        None => key_id.short(),
    }
}

/// Distinct keys of the accepted signatures, in order of first appearance.
fn distinct_keys(accepted: &[Accepted]) -> Vec<&Accepted> {
    let mut out: Vec<&Accepted> = Vec::new();
    for a in accepted {
        if !out.iter().any(|k| k.key_id == a.key_id) {
            out.push(a);
        }
    }
    out
}

fn print_report(report: &Report, format: OutputFormat, printer: &Printer) -> Result<(), CliError> {
    let shown = report.pinned.as_deref().unwrap_or(&report.image);
    match format {
        OutputFormat::Text => match &report.verdict {
            Verdict::Verified => {
                let distinct = distinct_keys(&report.accepted);
                let keys: Vec<String> = distinct
                    .iter()
                    .map(|a| describe_key(a.key_id, a.name.as_deref()))
                    .collect();
                if !distinct.is_empty()
                    && distinct
                        .iter()
                        .all(|a| matches!(a.trust, Some(TrustDecision::RetiredInWindow { .. })))
                {
                    printer.warning(format_args!(
                        "{shown} verified only by retired key(s) in their grace window ({}); \
                         re-sign it with the active key (`rsign resign`)",
                        distinct
                            .iter()
                            .filter_map(|a| a.trust.map(|t| t.to_string()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                printer.message(format_args!(
                    "verified {shown}: {} acceptable signature(s)",
                    report.accepted.len()
                ));
                printer.data(format!("{shown} verified by {}\n", keys.join(", ")).as_bytes())?;
            }
            Verdict::Failed(reason) => {
                printer.message(format_args!("verification failed for {shown}: {reason}"));
            }
            Verdict::NoSignatures => {
                printer.message(format_args!("no signatures found for {shown}"));
            }
            Verdict::Error(e) => printer.error(e),
        },
        OutputFormat::Json => {
            if let Verdict::Error(e) = &report.verdict {
                printer.error(e);
            }
            printer.data(format!("{}\n", report_json(report)).as_bytes())?;
        }
    }
    Ok(())
}

/// One image's JSON line (see SPEC.md, "Image verification").
fn report_json(report: &Report) -> Value {
    let keys: Vec<Value> = distinct_keys(&report.accepted)
        .into_iter()
        .map(|a| {
            json!({
                "keyId": a.key_id.to_string(),
                "algorithm": a.algorithm,
                "name": a.name,
                "status": a.trust.map(|t| t.to_string()),
            })
        })
        .collect();
    let signatures: Vec<Value> = report
        .accepted
        .iter()
        .map(|a| {
            json!({
                "keyId": a.key_id.to_string(),
                "payload": serde_json::to_value(&a.payload).unwrap_or(Value::Null),
                "annotations": a.payload.annotations(),
            })
        })
        .collect();
    let reason = match &report.verdict {
        Verdict::Verified => Value::Null,
        Verdict::Failed(r) => Value::String(r.clone()),
        Verdict::NoSignatures => Value::String("no signatures found".into()),
        Verdict::Error(e) => Value::String(format!("error: {}", error_chain(e))),
    };
    json!({
        "image": report.image,
        "digest": report.digest.as_ref().map(ToString::to_string),
        "verified": matches!(report.verdict, Verdict::Verified),
        "keys": keys,
        "signatures": signatures,
        "reason": reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_order() {
        use ExitStatus::*;
        assert_eq!(combine(Success, NothingToVerify), NothingToVerify);
        assert_eq!(combine(NothingToVerify, Failure), Failure);
        assert_eq!(combine(Failure, NothingToVerify), Failure);
        assert_eq!(combine(Failure, Error), Error);
        assert_eq!(combine(Error, Success), Error);
        assert_eq!(combine(Success, Success), Success);
    }

    #[test]
    fn identities_normalise() {
        assert_eq!(
            normalize_identity("127.0.0.1:5000/app:v1").as_deref(),
            Some("127.0.0.1:5000/app")
        );
        assert_eq!(
            normalize_identity(&format!("127.0.0.1:5000/app@{}", Digest::sha256_of(b"x")))
                .as_deref(),
            Some("127.0.0.1:5000/app")
        );
        assert_eq!(
            normalize_identity("docker.io/x/y").as_deref(),
            Some("index.docker.io/x/y")
        );
        assert_eq!(normalize_identity("v1").as_deref(), Some("v1"));
        assert_eq!(normalize_identity(" "), None);
    }
}
