//! cosign's attachment scheme: signatures, attestations and SBOMs stored
//! under the tags `sha256-<hex>.sig`, `.att` and `.sbom` beside the image.
//!
//! Works over any [`Repository`] — a registry and an [`crate::OciLayout`]
//! alike. Reading ([`read_attachments`]) hands back *unverified* layers:
//! descriptor and payload bytes, each checked against its digest and size,
//! never interpreted. Writing ([`append_layers`], [`remove_layers`],
//! [`replace_layers`]) is a read-modify-write of the one manifest under the
//! tag, built exactly as cosign 2.5 builds it
//! ([`rsign_core::oci::cosign_signature_manifest`]): OCI manifest media type,
//! go-containerregistry's image config listing one `diff_id` per layer,
//! existing layers kept in order with their descriptors unchanged, new
//! layers appended in the order given.
//!
//! # No lost update
//!
//! Two writers that read the same manifest and each put "old layers + mine"
//! would lose one layer (cosign itself keeps only 3–4 of 8 concurrent
//! signatures). Writers therefore take an [`AttachStore`] — a [`Repository`]
//! with a conditional tag update, [`AttachStore::swap_tag`] — and loop:
//!
//! 1. **read** the manifest under the tag (remember its digest `d0`) and
//!    merge: keep the layers not being removed, append the new ones not
//!    already there;
//! 2. push the new layer blobs and the config blob;
//! 3. **swap**: put the merged manifest under the tag *if the tag still names
//!    `d0`*; if another writer changed it, back off (randomized, exponential)
//!    and start again at 1, merging with what is there now;
//! 4. **confirm** (only where the swap is not atomic): wait a randomized delay
//!    of at least [`AttachOptions::confirm_delay`] and at least twice as long
//!    as our swap took, re-read the tag and check that every layer we added is
//!    there and none we removed came back; otherwise go back to 1.
//!
//! Attempts are bounded by [`AttachOptions::max_attempts`], then
//! [`Error::Contention`].
//!
//! **On an [`crate::OciLayout`]** the swap is checked and made under the
//! layout's index lock, a true compare-and-swap: no layer of a concurrent
//! rsign writer is ever lost, whatever the timing.
//!
//! **On a registry** there is no compare-and-swap: the swap is a check
//! followed by a put, and the confirmation read catches a racer that
//! overwrote us before it. What remains possible is a racer whose check came
//! before our put and whose put lands after our confirmation read, i.e. whose
//! single check-to-put window (one manifest PUT) outlasts our whole put plus
//! the confirmation delay; the delay is scaled to our own measured put time
//! for that reason. A writer that does not follow this protocol (cosign
//! itself) can still overwrite anyone.
//!
//! Layers that are byte-identical to one already present (same media type,
//! digest, size and annotations) are never added twice; the caller's `dedupe`
//! predicate can widen that (e.g. "same payload signed by the same key").

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use rsign_core::Digest;
use rsign_core::oci::{self, Annotations, Descriptor, Manifest};

use crate::client::RegistryRepository;
use crate::error::Error;
use crate::layout::OciLayout;
use crate::limits::Limits;
use crate::store::{Repository, TagOrDigest};

/// Which cosign attachment a tag holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttachmentKind {
    /// Image signatures, tag suffix `.sig`.
    Signature,
    /// In-toto attestations in DSSE envelopes, tag suffix `.att`.
    Attestation,
    /// Attached SBOMs, tag suffix `.sbom`.
    Sbom,
}

impl AttachmentKind {
    /// The tag suffix without the dot: `sig`, `att` or `sbom`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Signature => "sig",
            Self::Attestation => "att",
            Self::Sbom => "sbom",
        }
    }

    /// The tag holding this kind of attachment for `image`: `sha256-<hex>.<suffix>`.
    pub fn tag_for(self, image: &Digest) -> String {
        format!("{}.{}", image.tag_stem(), self.suffix())
    }
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Signature => "signatures",
            Self::Attestation => "attestations",
            Self::Sbom => "SBOMs",
        })
    }
}

/// cosign's signature tag for `image`: `sha256-<hex>.sig`.
pub fn signature_tag(image: &Digest) -> String {
    AttachmentKind::Signature.tag_for(image)
}

/// cosign's attestation tag for `image`: `sha256-<hex>.att`.
pub fn attestation_tag(image: &Digest) -> String {
    AttachmentKind::Attestation.tag_for(image)
}

/// cosign's SBOM tag for `image`: `sha256-<hex>.sbom`.
pub fn sbom_tag(image: &Digest) -> String {
    AttachmentKind::Sbom.tag_for(image)
}

/// What [`AttachStore::swap_tag`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Swap {
    /// The tag named what was expected and now names the new manifest
    /// (its digest), or was removed (`None`).
    Done(Option<Digest>),
    /// The tag named something else; nothing was changed.
    Changed,
}

/// A [`Repository`] that attachments can be written to: it adds a
/// conditional tag update, the compare-and-swap the read-modify-write needs.
///
/// The default method is check-then-put, which is *not* atomic (registries
/// offer nothing better); stores that can do better override it and say so
/// with [`AttachStore::atomic_swap`]. Read-only use needs only [`Repository`].
#[async_trait]
pub trait AttachStore: Repository {
    /// Whether [`AttachStore::swap_tag`] is atomic on this store.
    fn atomic_swap(&self) -> bool {
        false
    }

    /// Points `tag` at the manifest `new` = `(media type, bytes)` — or
    /// removes the tag when `new` is `None` — if the tag names `expected`
    /// now (`None`: the tag does not exist).
    async fn swap_tag(
        &self,
        tag: &str,
        expected: Option<&Digest>,
        new: Option<(&str, &[u8])>,
    ) -> Result<Swap, Error> {
        let tag_ref = TagOrDigest::Tag(tag.to_owned());
        let now = self.resolve(&tag_ref).await?.map(|h| h.digest);
        if now.as_ref() != expected {
            return Ok(Swap::Changed);
        }
        match new {
            Some((media_type, bytes)) => Ok(Swap::Done(Some(
                self.put_manifest(Some(tag), media_type, bytes).await?,
            ))),
            None => {
                self.delete_tag(tag).await?;
                Ok(Swap::Done(None))
            }
        }
    }
}

/// Registries have no conditional tag update: check-then-put plus the
/// confirmation read of the write loop.
impl AttachStore for RegistryRepository {}

/// A layout checks and updates the tag under its index lock: a true compare-and-swap.
#[async_trait]
impl AttachStore for OciLayout {
    fn atomic_swap(&self) -> bool {
        true
    }

    async fn swap_tag(
        &self,
        tag: &str,
        expected: Option<&Digest>,
        new: Option<(&str, &[u8])>,
    ) -> Result<Swap, Error> {
        Ok(match self.swap_tag_locked(tag, expected, new).await? {
            Some(digest) => Swap::Done(digest),
            None => Swap::Changed,
        })
    }
}

/// Tunables of reading and writing attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachOptions {
    /// Size and count limits (layers per manifest, signatures, blob size).
    pub limits: Limits,
    /// How many layer blobs are fetched at once (default 8).
    pub fetch_concurrency: usize,
    /// Read-modify-write attempts before [`Error::Contention`] (default 12).
    pub max_attempts: u32,
    /// Minimum wait before the confirmation read (default 50 ms).
    pub confirm_delay: Duration,
    /// Base of the randomized exponential back-off between attempts (default 20 ms, capped at 2 s).
    pub backoff_base: Duration,
}

impl Default for AttachOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            fetch_concurrency: 8,
            max_attempts: 12,
            confirm_delay: Duration::from_millis(50),
            backoff_base: Duration::from_millis(20),
        }
    }
}

/// One attached layer as stored: its descriptor and payload, **not verified**
/// beyond matching the descriptor's digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedLayer {
    /// The layer descriptor (media type, digest, size, annotations).
    pub descriptor: Descriptor,
    /// The layer's bytes (a simple-signing payload, a DSSE envelope, an SBOM, …).
    pub payload: Vec<u8>,
}

/// The attachments of one image of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachments {
    /// The tag they were read from, e.g. `sha256-<hex>.sig`.
    pub tag: String,
    /// The digest of the attachment manifest.
    pub manifest_digest: Digest,
    /// The layers, in manifest order.
    pub layers: Vec<AttachedLayer>,
}

/// A layer to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLayer {
    /// Its media type, e.g. [`oci::COSIGN_SIMPLE_SIGNING`].
    pub media_type: String,
    /// Its bytes.
    pub payload: Vec<u8>,
    /// Its descriptor annotations (e.g. the base64 signature).
    pub annotations: Annotations,
}

impl NewLayer {
    /// A cosign image-signature layer: the simple-signing `payload` and its
    /// base64 signature in the `dev.cosignproject.cosign/signature` annotation.
    pub fn signature(payload: Vec<u8>, signature_b64: &str) -> Self {
        Self {
            media_type: oci::COSIGN_SIMPLE_SIGNING.to_owned(),
            payload,
            annotations: Annotations::from([(
                oci::ANNOTATION_SIGNATURE.to_owned(),
                signature_b64.to_owned(),
            )]),
        }
    }

    /// A cosign attestation layer: the DSSE `envelope`, an empty signature
    /// annotation and the `predicateType` annotation.
    pub fn attestation(envelope: Vec<u8>, predicate_type: &str) -> Self {
        Self {
            media_type: oci::DSSE_ENVELOPE.to_owned(),
            payload: envelope,
            annotations: Annotations::from([
                (oci::ANNOTATION_SIGNATURE.to_owned(), String::new()),
                (
                    oci::ANNOTATION_PREDICATE_TYPE.to_owned(),
                    predicate_type.to_owned(),
                ),
            ]),
        }
    }

    /// The descriptor this layer gets in the manifest.
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::of_bytes(self.media_type.clone(), &self.payload);
        if !self.annotations.is_empty() {
            d.annotations = Some(self.annotations.clone());
        }
        d
    }
}

/// What [`append_layers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// New layers written (and confirmed present).
    pub added: usize,
    /// New layers not written because an equal one (or one `dedupe` matched) was there.
    pub already_present: usize,
    /// The attachment manifest's digest after the update (`None` if nothing exists under the tag).
    pub manifest_digest: Option<Digest>,
    /// Read-modify-write attempts made (1 without contention).
    pub attempts: u32,
}

/// What [`replace_layers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceOutcome {
    /// Existing layers removed.
    pub removed: usize,
    /// New layers written.
    pub added: usize,
    /// New layers skipped as already present.
    pub already_present: usize,
    /// The attachment manifest's digest after the update (`None` when the tag was deleted or never existed).
    pub manifest_digest: Option<Digest>,
    /// Read-modify-write attempts made.
    pub attempts: u32,
}

/// Reads the `kind` attachments of `image`; `None` when the tag does not exist.
///
/// Enforces [`Limits::max_layers`] (and, for signatures,
/// [`Limits::max_signatures`]) with an error rather than truncating, and
/// fetches the layer blobs `fetch_concurrency` at a time, each bounded by its
/// descriptor's size and [`Limits::max_blob_bytes`] and checked against its digest.
pub async fn read_attachments(
    repo: &dyn Repository,
    image: &Digest,
    kind: AttachmentKind,
    options: &AttachOptions,
) -> Result<Option<Attachments>, Error> {
    read_inner(repo, image, kind, options, true).await
}

async fn read_inner(
    repo: &dyn Repository,
    image: &Digest,
    kind: AttachmentKind,
    options: &AttachOptions,
    enforce_signature_limit: bool,
) -> Result<Option<Attachments>, Error> {
    let tag = kind.tag_for(image);
    let Some(fetched) = repo.get_manifest(&TagOrDigest::Tag(tag.clone())).await? else {
        return Ok(None);
    };
    let parsed = Manifest::parse(&fetched.bytes, Some(&fetched.media_type)).map_err(|source| {
        Error::Manifest {
            what: format!("{kind} manifest `{tag}`"),
            location: repo.display_name(),
            source,
        }
    })?;
    let Some(manifest) = parsed.as_image() else {
        return Err(Error::InvalidContent {
            what: format!("{kind} manifest `{tag}`"),
            location: repo.display_name(),
            reason: format!(
                "it is an index (`{}`), not an image manifest",
                crate::error::echo(parsed.media_type())
            ),
        });
    };
    let limits = &options.limits;
    let what = format!("{kind} manifest `{tag}` in {}", repo.display_name());
    let count = manifest.layers.len() as u64;
    if count > limits.max_layers {
        return Err(Error::LimitExceeded {
            what: format!("layers of {what}"),
            limit: limits.max_layers,
            found: count,
            unit: "layers",
            hint: "raise `max_layers` in the limits (e.g. `--max-layers`) if this image really has that many, \
                   or clean up stale attachments"
                .into(),
        });
    }
    if enforce_signature_limit && kind == AttachmentKind::Signature {
        limits.check_signatures(&what, count)?;
    }
    check_layer_sizes(&manifest.layers, kind, limits, &what)?;
    let concurrency = options.fetch_concurrency.max(1);
    let layers: Vec<AttachedLayer> = futures::stream::iter(manifest.layers.iter().cloned())
        .map(|descriptor| async move {
            let payload = repo.get_blob(&descriptor.digest, descriptor.size).await?;
            check_blob(repo, &descriptor, &payload)?;
            Ok::<_, Error>(AttachedLayer {
                descriptor,
                payload,
            })
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    Ok(Some(Attachments {
        tag,
        manifest_digest: fetched.digest,
        layers,
    }))
}

/// The largest layer a `kind` attachment may have: what rsign-core would
/// accept as a payload of that kind (a simple-signing payload for `.sig`, a
/// DSSE envelope for `.att`), and [`Limits::max_blob_bytes`] in any case.
fn layer_limit(kind: AttachmentKind, limits: &Limits) -> (u64, &'static str) {
    let kind_limit = match kind {
        AttachmentKind::Signature => Some((
            rsign_core::simple_signing::MAX_PAYLOAD_BYTES as u64,
            "signature payloads are limited to rsign_core::simple_signing::MAX_PAYLOAD_BYTES (256 KiB); a larger layer cannot be a valid signature",
        )),
        AttachmentKind::Attestation => Some((
            rsign_core::dsse::MAX_ENVELOPE_BYTES as u64,
            "attestation envelopes are limited to rsign_core::dsse::MAX_ENVELOPE_BYTES (32 MiB); a larger layer cannot be a valid attestation",
        )),
        _ => None,
    };
    match kind_limit {
        Some((l, hint)) if l <= limits.max_blob_bytes => (l, hint),
        _ => (
            limits.max_blob_bytes,
            "raise `Limits::max_blob_bytes` if this layer is expected",
        ),
    }
}

/// Checks every layer's declared size against its kind's limit and the sum
/// against [`Limits::max_total_attachment_bytes`], before anything is fetched.
fn check_layer_sizes(
    layers: &[Descriptor],
    kind: AttachmentKind,
    limits: &Limits,
    what: &str,
) -> Result<(), Error> {
    let (per_layer, hint) = layer_limit(kind, limits);
    let mut total: u64 = 0;
    for d in layers {
        if d.size > per_layer {
            return Err(Error::LimitExceeded {
                what: format!("layer {} of {what}", d.digest),
                limit: per_layer,
                found: d.size,
                unit: "bytes",
                hint: hint.to_owned(),
            });
        }
        // Saturates: an overflowing sum is over any limit anyway.
        total = total.saturating_add(d.size);
    }
    if total > limits.max_total_attachment_bytes {
        return Err(Error::LimitExceeded {
            what: format!("total size of the layers of {what}"),
            limit: limits.max_total_attachment_bytes,
            found: total,
            unit: "bytes",
            hint: "raise `Limits::max_total_attachment_bytes` if these attachments are expected, or clean up stale attachments".to_owned(),
        });
    }
    Ok(())
}

/// Defence in depth: the store promised these checks; they are cheap to repeat.
fn check_blob(repo: &dyn Repository, d: &Descriptor, payload: &[u8]) -> Result<(), Error> {
    crate::error::verify_bytes(
        "layer",
        &repo.display_name(),
        &d.digest,
        Some(d.size),
        payload,
        None,
    )
    .map(drop)
}

/// Whether two descriptors denote the same layer (media type, digest, size,
/// annotations; a missing annotation map equals an empty one).
fn same_layer(a: &Descriptor, b: &Descriptor) -> bool {
    let ann = |d: &Descriptor| d.annotations.clone().unwrap_or_default();
    a.media_type == b.media_type && a.digest == b.digest && a.size == b.size && ann(a) == ann(b)
}

/// Appends `new_layers` to the `kind` attachments of `image`, without losing
/// a concurrent writer's layers (see the module docs for the guarantee).
///
/// A new layer is skipped when an identical layer is present or when
/// `dedupe(existing, new)` is true for some existing layer; duplicates within
/// `new_layers` are written once.
pub async fn append_layers(
    repo: &dyn AttachStore,
    image: &Digest,
    kind: AttachmentKind,
    new_layers: Vec<NewLayer>,
    dedupe: impl Fn(&AttachedLayer, &NewLayer) -> bool + Send + Sync,
    options: &AttachOptions,
) -> Result<AppendOutcome, Error> {
    let out = modify(repo, image, kind, &|_| false, new_layers, &dedupe, options).await?;
    Ok(AppendOutcome {
        added: out.added,
        already_present: out.already_present,
        manifest_digest: out.manifest_digest,
        attempts: out.attempts,
    })
}

/// Removes every `kind` layer of `image` for which `predicate` is true and
/// returns how many were removed. Deletes the tag when no layer remains.
pub async fn remove_layers(
    repo: &dyn AttachStore,
    image: &Digest,
    kind: AttachmentKind,
    predicate: impl Fn(&AttachedLayer) -> bool + Send + Sync,
    options: &AttachOptions,
) -> Result<usize, Error> {
    let out = modify(
        repo,
        image,
        kind,
        &predicate,
        Vec::new(),
        &|_, _| false,
        options,
    )
    .await?;
    Ok(out.removed)
}

/// Removes the layers `remove` matches and appends `new_layers` in one
/// write (`attest --replace`). Dedupe applies against the layers that remain.
pub async fn replace_layers(
    repo: &dyn AttachStore,
    image: &Digest,
    kind: AttachmentKind,
    remove: impl Fn(&AttachedLayer) -> bool + Send + Sync,
    new_layers: Vec<NewLayer>,
    dedupe: impl Fn(&AttachedLayer, &NewLayer) -> bool + Send + Sync,
    options: &AttachOptions,
) -> Result<ReplaceOutcome, Error> {
    modify(repo, image, kind, &remove, new_layers, &dedupe, options).await
}

type RemovePredicate<'a> = dyn Fn(&AttachedLayer) -> bool + Send + Sync + 'a;
type DedupePredicate<'a> = dyn Fn(&AttachedLayer, &NewLayer) -> bool + Send + Sync + 'a;

/// A layer's identity for bookkeeping across attempts.
fn layer_key(d: &Descriptor) -> (String, Digest, u64, Annotations) {
    (
        d.media_type.clone(),
        d.digest.clone(),
        d.size,
        d.annotations.clone().unwrap_or_default(),
    )
}

/// The read-modify-write loop behind append, remove and replace.
async fn modify(
    repo: &dyn AttachStore,
    image: &Digest,
    kind: AttachmentKind,
    remove: &RemovePredicate<'_>,
    new_layers: Vec<NewLayer>,
    dedupe: &DedupePredicate<'_>,
    options: &AttachOptions,
) -> Result<ReplaceOutcome, Error> {
    let tag = kind.tag_for(image);
    // Collapse duplicates among the new layers, keeping the first of each.
    let mut seen = BTreeSet::new();
    let new_layers: Vec<(NewLayer, Descriptor)> = new_layers
        .into_iter()
        .map(|l| {
            let d = l.descriptor();
            (l, d)
        })
        .filter(|(_, d)| seen.insert(layer_key(d)))
        .collect();
    for (_, d) in &new_layers {
        options
            .limits
            .check_blob_size(&format!("new {kind} layer {}", d.digest), d.size)?;
    }
    let mut written = vec![false; new_layers.len()];
    let mut removed_keys = BTreeSet::new();
    let mut pushed = BTreeSet::new();
    let max_attempts = options.max_attempts.max(1);

    for attempt in 1..=max_attempts {
        if attempt > 1 {
            tokio::time::sleep(backoff(options.backoff_base, attempt)).await;
        }
        // 1. read and merge
        let current = read_inner(repo, image, kind, options, false).await?;
        let current_digest = current.as_ref().map(|c| c.manifest_digest.clone());
        let existing = current.map(|c| c.layers).unwrap_or_default();
        let (gone, kept): (Vec<AttachedLayer>, Vec<AttachedLayer>) =
            existing.into_iter().partition(|l| remove(l));
        let mut to_add: Vec<usize> = Vec::new();
        for (i, (layer, d)) in new_layers.iter().enumerate() {
            let present = kept
                .iter()
                .any(|e| same_layer(&e.descriptor, d) || dedupe(e, layer));
            if !present {
                to_add.push(i);
            }
        }
        let added_now: Vec<Descriptor> = to_add
            .iter()
            .filter_map(|&i| new_layers.get(i).map(|(_, d)| d.clone()))
            .collect();
        if gone.is_empty() && to_add.is_empty() {
            return Ok(finish(
                &written,
                &removed_keys,
                current_digest,
                attempt,
                new_layers.len(),
            ));
        }
        let total = (kept.len() + to_add.len()) as u64;
        if total > options.limits.max_layers {
            return Err(Error::LimitExceeded {
                what: format!("layers of {kind} manifest `{tag}` in {} after the update", repo.display_name()),
                limit: options.limits.max_layers,
                found: total,
                unit: "layers",
                hint: "raise `max_layers` in the limits (e.g. `--max-layers`), or remove stale attachments first"
                    .into(),
            });
        }
        // 2. push blobs
        for &i in &to_add {
            let Some((layer, d)) = new_layers.get(i) else {
                continue;
            };
            if pushed.insert(d.digest.clone()) {
                let got = repo.put_blob(&layer.payload).await?;
                if got != d.digest {
                    return Err(Error::DigestMismatch {
                        what: "pushed layer",
                        location: repo.display_name(),
                        expected: d.digest.clone(),
                        actual: got,
                    });
                }
            }
        }
        let gone_descriptors: Vec<Descriptor> = gone.iter().map(|l| l.descriptor.clone()).collect();
        let layers: Vec<Descriptor> = kept
            .into_iter()
            .map(|l| l.descriptor)
            .chain(added_now.iter().cloned())
            .collect();
        let started = Instant::now();
        let built = if layers.is_empty() {
            None
        } else {
            let built = oci::cosign_signature_manifest(layers);
            repo.put_blob(&built.config_bytes).await?;
            Some(built)
        };
        // 3–4. put under the tag if it still names what we merged into
        let new = built
            .as_ref()
            .map(|b| (oci::OCI_MANIFEST, b.manifest_bytes.as_slice()));
        let new_digest = match repo.swap_tag(&tag, current_digest.as_ref(), new).await? {
            Swap::Done(d) => d,
            Swap::Changed => {
                tracing::debug!(%tag, attempt, "attachment tag changed since read; merging again");
                continue;
            }
        };
        for &i in &to_add {
            if let Some(w) = written.get_mut(i) {
                *w = true;
            }
        }
        removed_keys.extend(gone_descriptors.iter().map(layer_key));
        if repo.atomic_swap() {
            return Ok(finish(
                &written,
                &removed_keys,
                new_digest,
                attempt,
                new_layers.len(),
            ));
        }
        let put_took = started.elapsed();
        // 5. confirm after a delay
        let wait = options.confirm_delay.max(put_took * 2);
        let jitter = Duration::from_micros(fastrand::u64(
            ..=wait.as_micros().min(u128::from(u64::MAX)) as u64,
        ));
        tokio::time::sleep(wait + jitter).await;
        let after = read_inner(repo, image, kind, options, false).await?;
        let after_layers: Vec<&Descriptor> = after
            .as_ref()
            .map(|a| a.layers.iter().map(|l| &l.descriptor).collect())
            .unwrap_or_default();
        let all_added = added_now
            .iter()
            .all(|d| after_layers.iter().any(|a| same_layer(a, d)));
        let none_back = gone_descriptors
            .iter()
            .filter(|g| !new_layers.iter().any(|(_, d)| same_layer(g, d)))
            .all(|g| !after_layers.iter().any(|a| same_layer(a, g)));
        if all_added && none_back {
            let final_digest = after.map(|a| a.manifest_digest).or(new_digest);
            return Ok(finish(
                &written,
                &removed_keys,
                final_digest,
                attempt,
                new_layers.len(),
            ));
        }
        tracing::debug!(%tag, attempt, "a concurrent writer overwrote the attachment manifest; merging again");
    }
    Err(Error::Contention {
        what: format!("{kind} tag `{tag}`"),
        location: repo.display_name(),
        attempts: max_attempts,
    })
}

fn finish(
    written: &[bool],
    removed: &BTreeSet<(String, Digest, u64, Annotations)>,
    manifest_digest: Option<Digest>,
    attempts: u32,
    new_count: usize,
) -> ReplaceOutcome {
    let added = written.iter().filter(|w| **w).count();
    ReplaceOutcome {
        removed: removed.len(),
        added,
        already_present: new_count - added,
        manifest_digest,
        attempts,
    }
}

/// Randomized exponential back-off: uniform in `[0, base·2^(attempt-1)]`, capped at 2 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let cap = Duration::from_secs(2);
    let upper = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let upper_us = u64::try_from(upper.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(fastrand::u64(upper_us / 4..=upper_us.max(upper_us / 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let d = Digest::sha256_of(b"image");
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
        assert_eq!(attestation_tag(&d), format!("sha256-{}.att", d.hex()));
        assert_eq!(sbom_tag(&d), format!("sha256-{}.sbom", d.hex()));
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 1..40 {
            let b = backoff(Duration::from_millis(20), attempt);
            assert!(b <= Duration::from_secs(2), "{b:?}");
        }
    }

    #[test]
    fn new_layer_descriptor_matches_core_builders() {
        let sig = NewLayer::signature(b"payload".to_vec(), "c2ln");
        assert_eq!(
            sig.descriptor(),
            Descriptor::cosign_signature_layer(b"payload", "c2ln")
        );
        let att = NewLayer::attestation(b"{}".to_vec(), "https://slsa.dev/provenance/v1");
        assert_eq!(
            att.descriptor(),
            Descriptor::cosign_attestation_layer(b"{}", "https://slsa.dev/provenance/v1")
        );
    }
}
