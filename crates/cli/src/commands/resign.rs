//! `rsign resign`: after a key rotation, sign every image that does not yet
//! carry a valid signature by the new key — concurrently, resumably.
//!
//! Images come from the command line, from `--from-file LIST` (one per
//! line; blank lines and `#` comments are skipped) or from `--repository
//! REPO` (every tag of the repository, through the registry's paginated tag
//! list, or every tag of an `oci:` layout; cosign's attachment tags
//! `sha256-<hex>.sig/.att/.sbom` are skipped).
//!
//! Per image: resolve the tag to its digest, sign a cosign payload for it,
//! and append it with the no-lost-update read-modify-write of
//! [`rsign_registry::attach`], whose dedupe is the "already signed" check:
//! if some layer of `sha256-<hex>.sig` is a signature by the key's public
//! key over a payload for this digest and this identity, nothing is
//! written. Two runs at once add one signature. Existing
//! signatures (the old key's) are kept: remove them later with
//! `rsign clean --signed-by`.
//!
//! Each image's write is one manifest update, so a run killed part-way
//! leaves every image either signed or not; running it again skips what
//! is done.
//!
//! Exit codes: 0 when every image is signed (now or before); 2 when any
//! image failed (the summary names each with its reason) or on a usage
//! error.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::{ArgGroup, Args, ValueEnum};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use rsign_core::Digest;
use rsign_core::keys::{PrivateKey, PublicKey};
use rsign_core::oci::{ANNOTATION_SIGNATURE, COSIGN_SIMPLE_SIGNING};
use rsign_core::simple_signing::{SimpleSigning, cosign_docker_reference};
use rsign_core::verify::verify_simple_signing;
use rsign_registry::{AttachedLayer, NewLayer};
use serde_json::{Value, json};

use super::load_private_key;
use super::runtime;
use super::sign::{check_jobs, layout_identity, parse_images, signature_layer, store_signature};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::{Printer, error_chain};
use crate::password::Stdin;
use crate::registry_args::RegistryArgs;
use crate::target::{
    ImageTarget, OCI_PREFIX, OpenImage, Stores, TargetError, TargetKind, is_attachment_tag,
};

/// Default number of images re-signed at once.
pub const DEFAULT_RESIGN_JOBS: usize = 8;
/// The most images one run handles.
pub const MAX_IMAGES: usize = 100_000;
/// The largest `--from-file` list read.
pub const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// Output format of `resign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Progress on stderr, a summary on stdout.
    Text,
    /// Progress on stderr, one JSON summary object on stdout.
    Json,
}

/// `rsign resign`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).multiple(false)
    .args(["images", "from_file", "repository"])))]
#[command(after_help = "Examples:
  rsign resign --key release-2027.key registry.example/app:v1 registry.example/app:v2
  rsign resign --key release-2027.key --from-file images.txt --jobs 16
  rsign resign --key release-2027.key --repository registry.example/app --output json

An image that already has a signature by this key for its digest is skipped, \
so an interrupted run can simply be run again. Old signatures are kept. \
Exit codes: 0 every image signed (now or before); 2 any image failed (listed \
in the summary) or a usage error.")]
pub struct ResignArgs {
    /// The new encrypted private key (cosign's format).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// A file listing images, one per line (`#` comments and blank lines skipped).
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Every tag of this repository (`REGISTRY/REPO`) or layout (`oci:DIR`).
    #[arg(long, value_name = "REPO")]
    pub repository: Option<String>,
    /// How many images are handled at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RESIGN_JOBS)]
    pub jobs: usize,
    /// Output format of the summary.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The images: `REGISTRY/REPO[:TAG|@DIGEST]` or `oci:DIR[:TAG|@DIGEST]`.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Where the images of a run come from.
#[derive(Debug)]
pub enum Source {
    /// Listed on the command line.
    Images(Vec<ImageTarget>),
    /// Listed in a file.
    File(PathBuf),
    /// Every tag of a repository or layout.
    Repository(ImageTarget),
}

/// A validated `resign`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// The images.
    pub source: Source,
    /// Concurrency.
    pub jobs: usize,
    /// Output format.
    pub output: OutputFormat,
    /// Registry access.
    pub registry: RegistryArgs,
}

impl TryFrom<ResignArgs> for Request {
    type Error = CliError;

    fn try_from(args: ResignArgs) -> Result<Self, CliError> {
        let source = if let Some(file) = args.from_file {
            Source::File(file)
        } else if let Some(repo) = args.repository {
            Source::Repository(ImageTarget::parse(&repo)?)
        } else {
            Source::Images(parse_images(&args.images)?)
        };
        Ok(Self {
            key: args.key,
            source,
            jobs: check_jobs(args.jobs)?,
            output: args.output,
            registry: args.registry,
        })
    }
}

/// How one image ended.
#[derive(Debug)]
enum Outcome {
    /// A signature by the key was added.
    Signed,
    /// A valid signature by the key was already there.
    AlreadySigned,
    /// Not signed; why.
    Failed(CliError),
}

/// One image's result.
#[derive(Debug)]
struct ImageResult {
    image: String,
    digest: Option<Digest>,
    outcome: Outcome,
}

/// Reads the list, loads the key, re-signs concurrently, prints the summary.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let stores = Stores::new(&request.registry, printer)?;
    let rt = runtime()?;
    let targets = match &request.source {
        Source::Images(t) => t.clone(),
        Source::File(path) => read_list(path)?,
        Source::Repository(repo) => rt.block_on(list_repository(&stores, repo))?,
    };
    let targets = dedupe(targets);
    if targets.len() > MAX_IMAGES {
        return Err(CliError::InvalidArgument {
            flag: "IMAGE",
            value: format!("({} images)", targets.len()),
            reason: format!("at most {MAX_IMAGES} images per run; split the list"),
        });
    }
    let key = load_private_key(&request.key, Stdin::Free)?;
    let public = key.public_key();
    printer.message(format_args!(
        "re-signing {} image(s) with key {}, {} at a time",
        targets.len(),
        public.key_id().short(),
        request.jobs
    ));
    let progress = Progress::new(targets.len() as u64, *printer);
    let ctx = Ctx {
        key: &key,
        public: &public,
        stores: &stores,
        progress: &progress,
    };
    let results: Vec<ImageResult> = rt.block_on(async {
        futures::stream::iter(targets.iter())
            .map(|t| ctx.resign_image(t))
            .buffered(request.jobs)
            .collect()
            .await
    });
    progress.finish();
    let summary = Summary::of(&results);
    match request.output {
        OutputFormat::Text => printer.data(summary.text(&results).as_bytes())?,
        OutputFormat::Json => printer.data(format!("{}\n", summary.json(&results)).as_bytes())?,
    }
    Ok(if summary.failed > 0 {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// The targets in order, each input once.
fn dedupe(targets: Vec<ImageTarget>) -> Vec<ImageTarget> {
    let mut seen = BTreeSet::new();
    targets
        .into_iter()
        .filter(|t| seen.insert(t.input().to_owned()))
        .collect()
}

/// Reads `--from-file`: one image per line.
fn read_list(path: &std::path::Path) -> Result<Vec<ImageTarget>, CliError> {
    let bytes = files::read_bounded(path, "image list", MAX_LIST_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(ImageTarget::parse(line)?);
        if out.len() > MAX_IMAGES {
            break;
        }
    }
    Ok(out)
}

/// Every image tag of a registry repository or layout.
async fn list_repository(
    stores: &Stores,
    repo: &ImageTarget,
) -> Result<Vec<ImageTarget>, CliError> {
    let open = stores.open(repo)?;
    let tags = open
        .image_store()
        .list_tags()
        .await
        .map_err(|source| TargetError::store(repo.input(), "list the tags", source))?;
    let mut out = Vec::new();
    for tag in tags.iter().filter(|t| !is_attachment_tag(t)) {
        let input = match repo.kind() {
            TargetKind::Registry(r) => format!("{}:{tag}", r.repository()),
            TargetKind::Layout { dir, .. } => format!("{OCI_PREFIX}{}:{tag}", dir.display()),
        };
        out.push(ImageTarget::parse(&input)?);
    }
    if out.is_empty() {
        return Err(CliError::InvalidArgument {
            flag: "--repository",
            value: repo.input().to_owned(),
            reason: "it has no image tags".into(),
        });
    }
    Ok(out)
}

/// A progress bar on a terminal, plain lines elsewhere (both on stderr).
#[derive(Debug)]
enum Progress {
    Bar(ProgressBar),
    Lines(Printer),
}

impl Progress {
    fn new(total: u64, printer: Printer) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines(printer);
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self::Bar(bar)
    }

    fn done(&self, result: &ImageResult) {
        let shown = match &result.digest {
            Some(d) => format!("{} ({d})", result.image),
            None => result.image.clone(),
        };
        match self {
            Self::Bar(bar) => {
                if let Outcome::Failed(e) = &result.outcome {
                    bar.println(format!("failed {shown}: {}", error_chain(e)));
                }
                bar.inc(1);
            }
            Self::Lines(printer) => match &result.outcome {
                Outcome::Signed => printer.message(format_args!("signed {shown}")),
                Outcome::AlreadySigned => printer.message(format_args!("already signed {shown}")),
                Outcome::Failed(e) => {
                    printer.message(format_args!("failed {shown}: {}", error_chain(e)));
                }
            },
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

struct Ctx<'a> {
    key: &'a PrivateKey,
    public: &'a PublicKey,
    stores: &'a Stores,
    progress: &'a Progress,
}

impl Ctx<'_> {
    async fn resign_image(&self, target: &ImageTarget) -> ImageResult {
        let mut result = ImageResult {
            image: target.input().to_owned(),
            digest: None,
            outcome: Outcome::AlreadySigned,
        };
        result.outcome = match self.resign(target, &mut result.digest).await {
            Ok(o) => o,
            Err(e) => Outcome::Failed(e),
        };
        self.progress.done(&result);
        result
    }

    async fn resign(
        &self,
        target: &ImageTarget,
        digest_out: &mut Option<Digest>,
    ) -> Result<Outcome, CliError> {
        let image: OpenImage = self.stores.open(target)?;
        let resolved = image.resolve().await?;
        let digest = resolved.digest.clone();
        *digest_out = Some(digest.clone());
        let pinned = target.pinned(&digest);
        let identity = match target.kind() {
            TargetKind::Registry(r) => r.repository(),
            TargetKind::Layout { .. } => {
                layout_identity(resolved.tag.as_deref()).ok_or_else(|| {
                    CliError::InvalidArgument {
                        flag: "IMAGE",
                        value: target.input().to_owned(),
                        reason:
                            "an image addressed by digest in an OCI layout has no name to sign; \
                             name it by tag"
                                .into(),
                    }
                })?
            }
        };
        // The dedupe of the append is the "already signed" check: it runs
        // against what the read-modify-write reads, and nothing is written
        // when some layer is a valid signature by this key for this digest.
        // (Signing first costs well under a millisecond.)
        let public = self.public;
        let payload = SimpleSigning::new(&identity, digest.clone(), None).to_bytes();
        let layer = signature_layer(self.key, payload, &pinned)?;
        let outcome = store_signature(
            image.attach_store(),
            &digest,
            layer,
            |existing: &AttachedLayer, _new: &NewLayer| {
                signed_by(public, existing, &digest, &identity)
            },
            self.stores.attach_options(),
            &pinned,
        )
        .await?;
        Ok(if outcome.added > 0 {
            Outcome::Signed
        } else {
            Outcome::AlreadySigned
        })
    }
}

/// Whether `layer` is a cosign signature by `public` over a payload for
/// `digest` that names `identity`.
fn signed_by(public: &PublicKey, layer: &AttachedLayer, digest: &Digest, identity: &str) -> bool {
    if layer.descriptor.media_type != COSIGN_SIMPLE_SIGNING {
        return false;
    }
    let Some(signature) = layer.descriptor.annotation(ANNOTATION_SIGNATURE) else {
        return false;
    };
    verify_simple_signing(
        std::slice::from_ref(public),
        &layer.payload,
        signature,
        digest,
    )
    .is_ok_and(|v| same_identity(v.value().docker_reference(), identity))
}

/// Whether two `docker-reference`s name the same repository.
fn same_identity(signed: &str, identity: &str) -> bool {
    if signed == identity {
        return true;
    }
    match (
        cosign_docker_reference(signed),
        cosign_docker_reference(identity),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Counts of a run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    signed: usize,
    already_signed: usize,
    failed: usize,
}

impl Summary {
    fn of(results: &[ImageResult]) -> Self {
        let mut s = Self::default();
        for r in results {
            match r.outcome {
                Outcome::Signed => s.signed += 1,
                Outcome::AlreadySigned => s.already_signed += 1,
                Outcome::Failed(_) => s.failed += 1,
            }
        }
        s
    }

    fn text(&self, results: &[ImageResult]) -> String {
        let mut out = format!(
            "resign: {} signed, {} already signed, {} failed\n",
            self.signed, self.already_signed, self.failed
        );
        for r in results {
            if let Outcome::Failed(e) = &r.outcome {
                out.push_str(&format!("failed {}: {}\n", r.image, error_chain(e)));
            }
        }
        out
    }

    fn json(&self, results: &[ImageResult]) -> Value {
        let images: Vec<Value> = results
            .iter()
            .map(|r| {
                let (result, reason) = match &r.outcome {
                    Outcome::Signed => ("signed", Value::Null),
                    Outcome::AlreadySigned => ("already-signed", Value::Null),
                    Outcome::Failed(e) => ("failed", Value::String(error_chain(e))),
                };
                json!({
                    "image": r.image,
                    "digest": r.digest.as_ref().map(ToString::to_string),
                    "result": result,
                    "reason": reason,
                })
            })
            .collect();
        json!({
            "signed": self.signed,
            "alreadySigned": self.already_signed,
            "failed": self.failed,
            "images": images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn identities_compare_as_repositories() {
        assert!(same_identity("v1", "v1"));
        assert!(same_identity("docker.io/x/y", "index.docker.io/x/y"));
        assert!(!same_identity("127.0.0.1:5000/a", "127.0.0.1:5000/b"));
    }

    #[test]
    fn inputs_are_deduplicated_in_order() {
        let t = |s: &str| ImageTarget::parse(s).unwrap();
        let out = dedupe(vec![
            t("r.example/a:1"),
            t("r.example/b:1"),
            t("r.example/a:1"),
        ]);
        let names: Vec<&str> = out.iter().map(ImageTarget::input).collect();
        assert_eq!(names, ["r.example/a:1", "r.example/b:1"]);
    }

    #[test]
    fn a_layer_signed_by_the_key_for_the_digest_counts() {
        let key = PrivateKey::generate_p256().unwrap();
        let other = PrivateKey::generate_p256().unwrap();
        let digest = Digest::sha256_of(b"image");
        let payload = SimpleSigning::new("r.example/app", digest.clone(), None).to_bytes();
        let sig = STANDARD.encode(key.sign(&payload).unwrap());
        let new = NewLayer::signature(payload, &sig);
        let layer = AttachedLayer {
            descriptor: new.descriptor(),
            payload: new.payload.clone(),
        };
        assert!(signed_by(
            &key.public_key(),
            &layer,
            &digest,
            "r.example/app"
        ));
        assert!(!signed_by(
            &other.public_key(),
            &layer,
            &digest,
            "r.example/app"
        ));
        assert!(!signed_by(
            &key.public_key(),
            &layer,
            &Digest::sha256_of(b"other"),
            "r.example/app"
        ));
        assert!(!signed_by(
            &key.public_key(),
            &layer,
            &digest,
            "r.example/other"
        ));
    }
}
