//! Image targets on the command line, and the stores they live in.
//!
//! An image argument is either
//!
//! * a registry reference, `REGISTRY/REPO[:TAG][@DIGEST]` (normalised as
//!   go-containerregistry does: `app` → `index.docker.io/library/app:latest`),
//!   parsed by [`rsign_registry::Reference`]; or
//! * an OCI image layout on disk, `oci:DIR[:TAG]` or `oci:DIR@DIGEST`, as
//!   skopeo spells it: the directory ends at the first `:` (so it cannot
//!   contain one); what follows is the tag, i.e. the
//!   `org.opencontainers.image.ref.name` of an `index.json` entry. Without a
//!   tag, the layout must hold exactly one image entry (attachment entries
//!   `sha256-<hex>.sig/.att/.sbom` do not count).
//!
//! [`Stores`] opens targets: one shared [`RegistryClient`] per run (one
//! connection pool, credentials looked up once per registry), layouts with
//! [`OciLayout::open`]. Attachments (signatures, attestations) go to the
//! image's own repository, unless [`RSIGN_REPOSITORY`](crate::env::RSIGN_REPOSITORY) (or cosign's
//! [`COSIGN_REPOSITORY`](crate::env::COSIGN_REPOSITORY)) names another registry repository, where the same
//! `sha256-<hex>.sig` tags are then read and written.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rsign_core::Digest;
use rsign_registry::{
    AttachOptions, AttachStore, OciLayout, Reference, ReferenceError, RegistryClient,
    RegistryOptions, Repository, TagOrDigest,
};

use crate::error::CliError;
use crate::output::Printer;
use crate::registry_args::RegistryArgs;

/// The prefix of an OCI image layout target.
pub const OCI_PREFIX: &str = "oci:";

/// Why an image target cannot be parsed, opened or resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not a valid registry reference.
    #[error("invalid image reference `{input}`")]
    Reference {
        /// The argument as given.
        input: String,
        /// Why.
        #[source]
        source: ReferenceError,
    },
    /// An `oci:` target that cannot be split into directory and tag/digest.
    #[error("invalid OCI layout target `{input}`: {reason}")]
    Layout {
        /// The argument as given.
        input: String,
        /// Why.
        reason: String,
    },
    /// The attachment repository from the environment is not a repository.
    #[error("invalid repository `{value}` in `{variable}`")]
    RepositoryEnv {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why.
        #[source]
        source: ReferenceError,
    },
    /// The registry client could not be set up (CA file, TLS).
    #[error("cannot set up the registry client")]
    Client(#[source] Box<rsign_registry::Error>),
    /// A store operation for an image failed.
    #[error("{image}: cannot {step}")]
    Store {
        /// The image as given (or pinned to its digest).
        image: String,
        /// What was being done, e.g. `resolve the digest`, `read signatures`.
        step: &'static str,
        /// Why.
        #[source]
        source: Box<rsign_registry::Error>,
    },
    /// The tag or digest names nothing.
    #[error("{image}: no such image (nothing under {what} in {store})")]
    NotFound {
        /// The image as given.
        image: String,
        /// The tag or digest looked up.
        what: String,
        /// The repository or layout.
        store: String,
    },
    /// `oci:DIR` without a tag, and the layout does not hold exactly one image.
    #[error("{image}: the layout holds {count} tagged images ({tags}); name one as `oci:DIR:TAG`")]
    AmbiguousLayout {
        /// The image as given.
        image: String,
        /// How many candidate tags.
        count: usize,
        /// The candidate tags (shortened).
        tags: String,
    },
}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> Self {
        CliError::Target(Box::new(e))
    }
}

impl TargetError {
    /// A failed store operation `step` on `image`.
    pub fn store(
        image: impl Into<String>,
        step: &'static str,
        source: rsign_registry::Error,
    ) -> Self {
        Self::Store {
            image: image.into(),
            step,
            source: Box::new(source),
        }
    }

    /// A suggestion for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Reference { .. } => Some(
                "images are `REGISTRY/REPO[:TAG][@DIGEST]` or `oci:DIR[:TAG]` / `oci:DIR@DIGEST`"
                    .into(),
            ),
            Self::RepositoryEnv { .. } => {
                Some("set it to a repository such as `registry.example/signatures`".into())
            }
            Self::Store { source, .. }
                if matches!(**source, rsign_registry::Error::Registry { .. }) =>
            {
                Some(
                "for a registry without TLS pass `--allow-insecure-registry`; for a private CA \
                 `--registry-cacert FILE`; for credentials `--registry-username`/`--registry-password` \
                 or `docker login`"
                    .into(),
                )
            }
            _ => None,
        }
    }
}

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// In a registry.
    Registry(Reference),
    /// In an OCI image layout directory.
    Layout {
        /// The directory.
        dir: PathBuf,
        /// The tag or digest inside it; `None`: the layout's only image.
        reference: Option<TagOrDigest>,
    },
}

/// One image argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    input: String,
    kind: TargetKind,
}

impl ImageTarget {
    /// Parses an image argument (see the module docs).
    pub fn parse(input: &str) -> Result<Self, TargetError> {
        let kind = match input.strip_prefix(OCI_PREFIX) {
            Some(rest) => parse_layout(input, rest)?,
            None => {
                TargetKind::Registry(input.parse().map_err(|source| TargetError::Reference {
                    input: input.to_owned(),
                    source,
                })?)
            }
        };
        Ok(Self {
            input: input.to_owned(),
            kind,
        })
    }

    /// The argument as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Where the image lives.
    pub fn kind(&self) -> &TargetKind {
        &self.kind
    }

    /// The registry reference, for registry targets.
    pub fn reference(&self) -> Option<&Reference> {
        match &self.kind {
            TargetKind::Registry(r) => Some(r),
            TargetKind::Layout { .. } => None,
        }
    }

    /// Whether this is an `oci:` layout target.
    pub fn is_layout(&self) -> bool {
        matches!(self.kind, TargetKind::Layout { .. })
    }

    /// The image as `REPOSITORY@DIGEST` (or `oci:DIR@DIGEST`): what
    /// deploy-relevant output prints.
    pub fn pinned(&self, digest: &Digest) -> String {
        match &self.kind {
            TargetKind::Registry(r) => format!("{}@{digest}", r.repository()),
            TargetKind::Layout { dir, .. } => format!("{OCI_PREFIX}{}@{digest}", dir.display()),
        }
    }
}

impl FromStr for ImageTarget {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.input)
    }
}

/// `DIR`, `DIR:TAG` or `DIR@DIGEST` after `oci:`.
fn parse_layout(input: &str, rest: &str) -> Result<TargetKind, TargetError> {
    let bad = |reason: &str| TargetError::Layout {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    // A digest: `@alg:hex` at the end (the `:` inside it is not a tag separator).
    if let Some((dir, digest)) = rest.rsplit_once('@')
        && let Ok(digest) = Digest::from_str(digest)
    {
        if dir.is_empty() {
            return Err(bad("the directory is empty"));
        }
        if dir.contains(':') {
            return Err(bad("a layout target has a tag or a digest, not both"));
        }
        return Ok(TargetKind::Layout {
            dir: PathBuf::from(dir),
            reference: Some(TagOrDigest::Digest(digest)),
        });
    }
    let (dir, tag) = match rest.split_once(':') {
        Some((dir, tag)) => (dir, Some(tag)),
        None => (rest, None),
    };
    if dir.is_empty() {
        return Err(bad("the directory is empty"));
    }
    let reference = match tag {
        None => None,
        Some("") => return Err(bad("the tag after `:` is empty")),
        Some(tag) if tag.len() > 255 || tag.chars().any(|c| c.is_whitespace() || c == '@') => {
            return Err(bad("the tag is not a valid `ref.name`"));
        }
        Some(tag) => Some(TagOrDigest::Tag(tag.to_owned())),
    };
    Ok(TargetKind::Layout {
        dir: PathBuf::from(dir),
        reference,
    })
}

/// Whether `tag` is one of cosign's attachment tags (`sha256-<hex>.sig` …).
pub fn is_attachment_tag(tag: &str) -> bool {
    let Some((stem, suffix)) = tag.rsplit_once('.') else {
        return false;
    };
    matches!(suffix, "sig" | "att" | "sbom")
        && stem
            .split_once('-')
            .is_some_and(|(alg, hex)| Digest::from_str(&format!("{alg}:{hex}")).is_ok())
}

/// Opens image targets for one run of a command: one shared registry client,
/// the attachment repository override, the limits.
#[derive(Debug, Clone)]
pub struct Stores {
    client: RegistryClient,
    attach_options: AttachOptions,
    attachment_repository: Option<(Reference, &'static str)>,
}

impl Stores {
    /// Builds the stores from the registry arguments (warnings go to stderr)
    /// and the attachment repository ([`attachment_repository_from_env`]).
    pub fn new(args: &RegistryArgs, printer: &Printer) -> Result<Self, CliError> {
        let options = args.to_options(printer)?;
        let attachment_repository = attachment_repository_from_env(printer)?;
        Self::with_options(options, attachment_repository)
    }

    /// Builds the stores from explicit options (no environment lookup).
    pub fn with_options(
        options: RegistryOptions,
        attachment_repository: Option<(Reference, &'static str)>,
    ) -> Result<Self, CliError> {
        let attach_options = AttachOptions {
            limits: options.limits,
            ..AttachOptions::default()
        };
        let client = RegistryClient::new(options).map_err(|e| TargetError::Client(Box::new(e)))?;
        Ok(Self {
            client,
            attach_options,
            attachment_repository,
        })
    }

    /// Options (limits, concurrency) for reading and writing attachments.
    pub fn attach_options(&self) -> &AttachOptions {
        &self.attach_options
    }

    /// Opens the store of `target` (an existing layout must be a valid one)
    /// and the store its attachments live in.
    pub fn open(&self, target: &ImageTarget) -> Result<OpenImage, TargetError> {
        let store_err = |source| TargetError::store(target.input(), "open the image store", source);
        let image_store: Arc<dyn AttachStore> = match target.kind() {
            TargetKind::Registry(r) => Arc::new(self.client.repository(r).map_err(store_err)?),
            TargetKind::Layout { dir, .. } => Arc::new(OciLayout::open(dir).map_err(store_err)?),
        };
        let attach_store = match &self.attachment_repository {
            Some((repo, _)) => {
                Arc::new(self.client.repository(repo).map_err(store_err)?) as Arc<dyn AttachStore>
            }
            None => Arc::clone(&image_store),
        };
        Ok(OpenImage {
            target: target.clone(),
            image_store,
            attach_store,
        })
    }
}

/// The attachment repository from [`crate::env::attachment_repository`],
/// if set; says on stderr which one is used.
pub fn attachment_repository_from_env(
    printer: &Printer,
) -> Result<Option<(Reference, &'static str)>, TargetError> {
    let Some((value, variable)) = crate::env::attachment_repository() else {
        return Ok(None);
    };
    let repo = value
        .parse::<Reference>()
        .map_err(|source| TargetError::RepositoryEnv {
            variable,
            value: value.clone(),
            source,
        })?;
    printer.message(format_args!(
        "using attachment repository {} (from `{variable}`)",
        repo.repository()
    ));
    Ok(Some((repo, variable)))
}

/// An opened image target: where the image is and where its attachments are.
#[derive(Debug, Clone)]
pub struct OpenImage {
    /// The target.
    pub target: ImageTarget,
    /// The store holding the image.
    pub image_store: Arc<dyn AttachStore>,
    /// The store holding its attachments (the same one unless overridden).
    pub attach_store: Arc<dyn AttachStore>,
}

/// An image resolved to its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest media type.
    pub media_type: String,
    /// The manifest size in bytes.
    pub size: u64,
    /// The tag it was found under, if it was looked up by tag (for layouts
    /// also the tag chosen when the target named none).
    pub tag: Option<String>,
}

impl ResolvedImage {
    /// Whether the manifest is an index (OCI image index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.media_type == rsign_core::oci::OCI_INDEX
            || self.media_type == rsign_core::oci::DOCKER_MANIFEST_LIST
    }
}

impl OpenImage {
    /// The store holding the image.
    pub fn image_store(&self) -> &dyn Repository {
        &*self.image_store
    }

    /// The store holding the image's attachments.
    pub fn attach_store(&self) -> &dyn AttachStore {
        &*self.attach_store
    }

    /// Resolves the target's tag (or digest) to the manifest it names.
    pub async fn resolve(&self) -> Result<ResolvedImage, TargetError> {
        let image = self.target.input().to_owned();
        let lookup = match self.target.kind() {
            TargetKind::Registry(r) => r.target(),
            TargetKind::Layout {
                reference: Some(r), ..
            } => r.clone(),
            TargetKind::Layout {
                reference: None, ..
            } => TagOrDigest::Tag(self.only_layout_tag().await?),
        };
        let head = self
            .image_store
            .resolve(&lookup)
            .await
            .map_err(|source| TargetError::store(&image, "resolve the digest", source))?
            .ok_or_else(|| TargetError::NotFound {
                image: image.clone(),
                what: lookup.to_string(),
                store: self.image_store.display_name(),
            })?;
        if let TagOrDigest::Digest(d) = &lookup
            && *d != head.digest
        {
            return Err(TargetError::store(
                image,
                "resolve the digest",
                rsign_registry::Error::DigestMismatch {
                    what: "manifest",
                    location: self.image_store.display_name(),
                    expected: d.clone(),
                    actual: head.digest,
                },
            ));
        }
        Ok(ResolvedImage {
            digest: head.digest,
            media_type: head.media_type,
            size: head.size,
            tag: match lookup {
                TagOrDigest::Tag(t) => Some(t),
                TagOrDigest::Digest(_) => None,
            },
        })
    }

    /// The one image tag of a layout named without a tag.
    async fn only_layout_tag(&self) -> Result<String, TargetError> {
        let tags = self.image_store.list_tags().await.map_err(|source| {
            TargetError::store(self.target.input(), "list the layout's tags", source)
        })?;
        let mut images: Vec<String> = tags.into_iter().filter(|t| !is_attachment_tag(t)).collect();
        if images.len() == 1
            && let Some(tag) = images.pop()
        {
            return Ok(tag);
        }
        let shown: Vec<&str> = images.iter().take(5).map(String::as_str).collect();
        Err(TargetError::AmbiguousLayout {
            image: self.target.input().to_owned(),
            count: images.len(),
            tags: if images.len() > 5 {
                format!("{}, …", shown.join(", "))
            } else {
                shown.join(", ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[test]
    fn registry_targets() {
        let t = ImageTarget::parse("127.0.0.1:5000/app:v1").unwrap();
        assert!(!t.is_layout());
        let d = digest();
        assert_eq!(t.pinned(&d), format!("127.0.0.1:5000/app@{d}"));
        assert!(ImageTarget::parse("UPPER/Case").is_err());
        assert!(ImageTarget::parse("").is_err());
    }

    #[test]
    fn layout_targets() {
        let d = digest();
        let t = ImageTarget::parse("oci:/tmp/lay:v1").unwrap();
        assert_eq!(
            t.kind(),
            &TargetKind::Layout {
                dir: PathBuf::from("/tmp/lay"),
                reference: Some(TagOrDigest::Tag("v1".into()))
            }
        );
        let t = ImageTarget::parse(&format!("oci:lay@{d}")).unwrap();
        assert_eq!(
            t.kind(),
            &TargetKind::Layout {
                dir: PathBuf::from("lay"),
                reference: Some(TagOrDigest::Digest(d.clone()))
            }
        );
        assert_eq!(t.pinned(&d), format!("oci:lay@{d}"));
        let t = ImageTarget::parse("oci:lay").unwrap();
        assert_eq!(
            t.kind(),
            &TargetKind::Layout {
                dir: PathBuf::from("lay"),
                reference: None
            }
        );
        // A full reference as ref.name: everything after the first `:`.
        let t = ImageTarget::parse("oci:lay:example.com/app:1").unwrap();
        assert_eq!(
            t.kind(),
            &TargetKind::Layout {
                dir: PathBuf::from("lay"),
                reference: Some(TagOrDigest::Tag("example.com/app:1".into()))
            }
        );
        for bad in ["oci:", "oci::tag", "oci:lay:", &format!("oci:@{d}")] {
            assert!(ImageTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attachment_tags() {
        let d = digest();
        assert!(is_attachment_tag(&format!("sha256-{}.sig", d.hex())));
        assert!(is_attachment_tag(&format!("sha256-{}.att", d.hex())));
        assert!(!is_attachment_tag("v1.sig"));
        assert!(!is_attachment_tag("latest"));
    }
}
