//! OCI image layouts on disk, as a [`Repository`].
//!
//! An [`OciLayout`] is a directory in the format of the OCI image-layout
//! specification, the format `skopeo copy … oci:DIR:TAG` and `cosign save`
//! write:
//!
//! ```text
//! DIR/oci-layout          {"imageLayoutVersion":"1.0.0"}
//! DIR/index.json          an image index; each entry is one manifest, tagged
//!                         by its `org.opencontainers.image.ref.name` annotation
//! DIR/blobs/sha256/<hex>  every manifest, config and layer, named by its digest
//! ```
//!
//! # What rsign stores
//!
//! * [`Repository::put_blob`] writes `blobs/<alg>/<hex>` (through a temporary
//!   file in the same directory and a rename, so a reader never sees half a
//!   blob). A blob that is already there with the right size is not rewritten.
//! * [`Repository::put_manifest`] writes the manifest as a blob and, when a
//!   tag is given, replaces every `index.json` entry whose
//!   `org.opencontainers.image.ref.name` equals the tag by one entry
//!   `{mediaType, digest, size, annotations: {ref.name: tag}}`. Other entries
//!   and unknown fields of `index.json` are kept.
//! * cosign's attachments live in the same layout, exactly as in the registry
//!   scheme: the signature manifest of image `sha256:<hex>` is the index entry
//!   tagged `sha256-<hex>.sig` (attestations `.att`, SBOMs `.sbom`), with its
//!   config and layer blobs in `blobs/sha256/`. So `rsign sign oci:DIR` leaves
//!   the image untouched and adds (or replaces) that one tagged entry. The
//!   entry also carries the annotation `kind: dev.cosignproject.cosign/sigs`
//!   (`…/atts`, `…/sboms`), which is how `cosign save` marks attachments and
//!   how `cosign verify --local-image` finds them.
//! * Layouts written by `cosign save` name their entries only by that `kind`
//!   annotation (`…/image` or `…/imageIndex` for the one image, `…/sigs`,
//!   `…/atts`), without tags. The tag `sha256-<hex>.sig` resolves there to the
//!   untagged `…/sigs` entry when the layout's image has digest
//!   `sha256:<hex>`, and writing that tag replaces the entry, so both tools
//!   keep seeing one signature manifest.
//! * [`Repository::delete_tag`] removes the tagged entries from `index.json`
//!   and leaves the blobs; [`OciLayout::gc`] removes blobs no entry reaches.
//!
//! # Concurrent writers
//!
//! Several rsign processes may write one layout at once. Every change of
//! `index.json` happens under an exclusive lock file, `index.json.lock`,
//! created with `O_CREAT|O_EXCL` (retried with growing, jittered back-off up to
//! [`LayoutOptions::lock_timeout`]). Under the lock, rsign reads the current
//! `index.json`, edits it, writes a temporary file, `fsync`s it, renames it
//! over `index.json` and `fsync`s the directory, so no update of another
//! writer is lost and a reader (which takes no lock) always sees either the
//! old or the new index.
//!
//! The lock is held for milliseconds. A lock file older than
//! [`LayoutOptions::stale_lock_after`] is taken to be left by a crashed
//! process: it is renamed away (to a unique name, so only one waiter breaks
//! it) and deleted. A writer verifies that the lock is still its own just
//! before renaming the new index into place and fails otherwise. If no rsign
//! process is running, removing `index.json.lock` by hand is safe.
//!
//! # Limits and path safety
//!
//! Manifests and blobs obey [`Limits`]; `index.json` is bounded by
//! [`LayoutOptions::max_index_bytes`] and its entry count by
//! [`LayoutOptions::max_index_entries`]. Sizes are checked on the file's
//! metadata before anything is read, and every read is digest-verified.
//! Blob paths are built only from validated [`Digest`]s (an algorithm name and
//! lowercase hex), never from tags, so no input can reach outside the layout;
//! tags written are checked against the OCI `ref.name` grammar.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use rsign_core::Digest;
use rsign_core::fsutil::ReadBoundedError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::limits::Limits;
use crate::store::{FetchedManifest, ManifestHead, Repository, TagOrDigest};

/// The annotation that names an `index.json` entry (its tag).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The `imageLayoutVersion` rsign writes and accepts.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// Media type of an OCI image index (the type of `index.json`).
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image manifest.
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker schema 2 manifest list, followed like an OCI index by [`OciLayout::gc`].
const DOCKER_LIST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Name of the lock file that guards `index.json`.
const LOCK_FILE: &str = "index.json.lock";
/// Largest `oci-layout` file read.
const MAX_LAYOUT_FILE_BYTES: u64 = 4096;
/// Longest tag accepted when writing.
const MAX_TAG_LEN: usize = 255;
/// How deep [`OciLayout::gc`] follows nested indexes.
const MAX_GC_DEPTH: usize = 8;

/// Tunables of an [`OciLayout`] beyond the shared [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Size and count limits on manifests and blobs.
    pub limits: Limits,
    /// Largest `index.json` read (default 16 MiB).
    pub max_index_bytes: u64,
    /// Most entries `index.json` may hold (default 20 000).
    pub max_index_entries: usize,
    /// How long a writer waits for `index.json.lock` (default 30 s).
    pub lock_timeout: Duration,
    /// Age after which a lock file is taken to be left by a crashed process (default 60 s).
    pub stale_lock_after: Duration,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_index_bytes: 16 * 1024 * 1024,
            max_index_entries: 20_000,
            lock_timeout: Duration::from_secs(30),
            stale_lock_after: Duration::from_secs(60),
        }
    }
}

/// An OCI image layout directory, usable wherever a [`Repository`] is.
///
/// Cheap to clone: clones share the path and options.
#[derive(Debug, Clone)]
pub struct OciLayout {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    options: LayoutOptions,
}

/// `index.json`: an image index, keeping fields rsign does not interpret.
#[derive(Debug, Serialize, Deserialize)]
struct IndexFile {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<IndexEntry>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// One descriptor of `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl IndexEntry {
    fn tag(&self) -> Option<&str> {
        self.annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str)
    }
}

/// The `oci-layout` file.
#[derive(Debug, Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

fn io_err(operation: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

impl OciLayout {
    /// Opens an existing layout: `dir` must hold a valid `oci-layout` file
    /// (version 1.0.0) and a readable `index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(dir, LayoutOptions::default())
    }

    /// [`OciLayout::open`] with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: LayoutOptions) -> Result<Self, Error> {
        let inner = Inner {
            root: dir.as_ref().to_path_buf(),
            options,
        };
        inner.validate()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Creates a layout in `dir` (creating the directory if needed), or opens
    /// it when it already is one. Safe to call from several processes at once.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::create_with(dir, LayoutOptions::default())
    }

    /// [`OciLayout::create`] with explicit options.
    pub fn create_with(dir: impl AsRef<Path>, options: LayoutOptions) -> Result<Self, Error> {
        let root = dir.as_ref().to_path_buf();
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| io_err("create directory", &blobs, e))?;
        let inner = Inner { root, options };
        let layout_json = format!(r#"{{"imageLayoutVersion":"{IMAGE_LAYOUT_VERSION}"}}"#);
        inner.write_new_file("oci-layout", layout_json.as_bytes())?;
        let empty_index =
            format!(r#"{{"schemaVersion":2,"mediaType":"{INDEX_MEDIA_TYPE}","manifests":[]}}"#);
        inner.write_new_file("index.json", empty_index.as_bytes())?;
        inner.validate()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// The options in force.
    pub fn options(&self) -> &LayoutOptions {
        &self.inner.options
    }

    /// Compare-and-swap of a tag under the index lock (`Inner::swap_tag`);
    /// backs [`crate::attach::AttachStore`] for layouts.
    pub(crate) async fn swap_tag_locked(
        &self,
        tag: &str,
        expected: Option<&Digest>,
        new: Option<(&str, &[u8])>,
    ) -> Result<Option<Option<Digest>>, Error> {
        let inner = Arc::clone(&self.inner);
        let tag = tag.to_owned();
        let expected = expected.cloned();
        let new = new.map(|(m, b)| (m.to_owned(), b.to_vec()));
        blocking(move || {
            inner.swap_tag(
                &tag,
                expected.as_ref(),
                new.as_ref().map(|(m, b)| (m.as_str(), b.as_slice())),
            )
        })
        .await
    }

    /// Deletes blobs that no `index.json` entry reaches (following nested
    /// indexes, manifests' configs, layers and subjects) and that are older
    /// than `grace` (so blobs a concurrent writer has pushed but not yet
    /// referenced survive). Runs under the index lock. Returns how many blobs
    /// were deleted.
    pub async fn gc(&self, grace: Duration) -> Result<usize, Error> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.gc(grace)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(Error::Io {
            operation: "run a file-system task for",
            path: PathBuf::from("oci layout"),
            source: io::Error::other(e.to_string()),
        }),
    }
}

impl Inner {
    fn location(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // `Digest` is validated: the algorithm is a fixed name and the hex part
        // is lowercase hex of fixed length, so this stays inside `blobs/`.
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Writes `name` in the root unless it exists (atomically: temp + link).
    fn write_new_file(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let target = self.root.join(name);
        if target.exists() {
            return Ok(());
        }
        let tmp = self.temp_file_with(&self.root, bytes)?;
        match tmp.persist_noclobber(&target) {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_err("create", &target, e.error)),
        }
    }

    fn temp_file_with(&self, dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, Error> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".rsign-tmp-")
            .tempfile_in(dir)
            .map_err(|e| io_err("create a temporary file in", dir, e))?;
        tmp.write_all(bytes)
            .map_err(|e| io_err("write", tmp.path(), e))?;
        // tempfile creates 0600 files; blobs and index.json are meant to be
        // readable by whoever may read the layout, as other tools write them.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))
                .map_err(|e| io_err("set permissions of", tmp.path(), e))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_err("sync", tmp.path(), e))?;
        Ok(tmp)
    }

    fn validate(&self) -> Result<(), Error> {
        let path = self.root.join("oci-layout");
        let bytes = match read_bounded(&path, MAX_LAYOUT_FILE_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Error::NotFound {
                    what: "`oci-layout` file (is this an OCI image layout directory?)".into(),
                    location: self.root.display().to_string(),
                });
            }
            Err(ReadError::TooBig(found)) => {
                return Err(
                    self.invalid("`oci-layout` file", format!("{found} bytes is too large"))
                );
            }
            Err(ReadError::NotRegular) => {
                return Err(self.invalid("`oci-layout` file", "it is not a regular file".into()));
            }
            Err(ReadError::Io(e)) => return Err(io_err("read", &path, e)),
        };
        let parsed: LayoutFile = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: "`oci-layout` file".to_owned(),
            location: self.location(),
            source,
        })?;
        if parsed.image_layout_version != IMAGE_LAYOUT_VERSION {
            return Err(self.invalid(
                "`oci-layout` file",
                format!(
                    "unsupported imageLayoutVersion `{}` (supported: {IMAGE_LAYOUT_VERSION})",
                    parsed
                        .image_layout_version
                        .chars()
                        .take(40)
                        .collect::<String>()
                ),
            ));
        }
        self.read_index()?;
        Ok(())
    }

    fn invalid(&self, what: &str, reason: String) -> Error {
        Error::InvalidContent {
            what: what.to_owned(),
            location: self.location(),
            reason,
        }
    }

    fn read_index(&self) -> Result<IndexFile, Error> {
        let path = self.root.join("index.json");
        let bytes = match read_bounded(&path, self.options.max_index_bytes) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Error::NotFound {
                    what: "`index.json`".into(),
                    location: self.location(),
                });
            }
            Err(ReadError::TooBig(found)) => {
                return Err(Error::LimitExceeded {
                    what: format!("`index.json` of {}", self.location()),
                    limit: self.options.max_index_bytes,
                    found,
                    unit: "bytes",
                    hint: "raise `LayoutOptions::max_index_bytes`".into(),
                });
            }
            Err(ReadError::NotRegular) => {
                return Err(self.invalid("`index.json`", "it is not a regular file".into()));
            }
            Err(ReadError::Io(e)) => return Err(io_err("read", &path, e)),
        };
        let index: IndexFile = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: "`index.json`".to_owned(),
            location: self.location(),
            source,
        })?;
        if index.schema_version != 2 {
            return Err(self.invalid(
                "`index.json`",
                format!("schemaVersion is {}, expected 2", index.schema_version),
            ));
        }
        self.check_entry_count(index.manifests.len())?;
        Ok(index)
    }

    fn check_entry_count(&self, n: usize) -> Result<(), Error> {
        if n > self.options.max_index_entries {
            return Err(Error::LimitExceeded {
                what: format!("entries of `index.json` in {}", self.location()),
                limit: self.options.max_index_entries as u64,
                found: n as u64,
                unit: "entries",
                hint: "raise `LayoutOptions::max_index_entries`, or delete unused tags".into(),
            });
        }
        Ok(())
    }

    /// The single entry tagged `tag`; an error when several carry it.
    fn find_tag<'a>(
        &self,
        index: &'a IndexFile,
        tag: &str,
    ) -> Result<Option<&'a IndexEntry>, Error> {
        let mut found = index
            .manifests
            .iter()
            .filter(|e| entry_is_tag(index, e, tag));
        let first = found.next();
        if first.is_some() && found.next().is_some() {
            return Err(self.invalid(
                "`index.json`",
                format!(
                    "several entries carry the tag `{tag}`; hint: re-tag or delete the duplicates"
                ),
            ));
        }
        Ok(first)
    }

    /// Reads a blob, checking limit and size on metadata before reading and
    /// the digest after. `None` when the file does not exist.
    fn read_blob(
        &self,
        what: &'static str,
        digest: &Digest,
        expected_size: Option<u64>,
        limit: u64,
        hint: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let too_big = |found: u64| Error::LimitExceeded {
            what: format!("{what} {digest} in {}", self.location()),
            limit,
            found,
            unit: "bytes",
            hint: hint.to_owned(),
        };
        if let Some(size) = expected_size
            && size > limit
        {
            return Err(too_big(size));
        }
        let path = self.blob_path(digest);
        // Inspect before opening: opening a FIFO planted in the layout would block.
        match regular_file_len(&path) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(ReadError::Io(e)) => return Err(io_err("inspect", &path, e)),
            Err(ReadError::TooBig(_)) | Err(ReadError::NotRegular) => {
                return Err(
                    self.invalid(what, format!("`{}` is not a regular file", path.display()))
                );
            }
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path, e)),
        };
        let meta = file.metadata().map_err(|e| io_err("inspect", &path, e))?;
        if !meta.is_file() {
            return Err(self.invalid(what, format!("`{}` is not a regular file", path.display())));
        }
        let len = meta.len();
        if len > limit {
            return Err(too_big(len));
        }
        if let Some(size) = expected_size
            && size != len
        {
            return Err(self.invalid(
                what,
                format!("{digest} has {len} bytes on disk but its descriptor says {size}"),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.take(len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| io_err("read", &path, e))?;
        if bytes.len() as u64 != len {
            return Err(self.invalid(what, format!("{digest} changed size while being read")));
        }
        crate::error::verify_bytes(
            what,
            &path.display().to_string(),
            digest,
            None,
            &bytes,
            None,
        )?;
        Ok(Some(bytes))
    }

    fn read_manifest_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.read_blob(
            "manifest",
            digest,
            size,
            self.options.limits.max_manifest_bytes,
            "raise `Limits::max_manifest_bytes`",
        )
    }

    fn lookup(&self, reference: &TagOrDigest) -> Result<Option<FetchedManifest>, Error> {
        let index = self.read_index()?;
        match reference {
            TagOrDigest::Tag(tag) => {
                let Some(entry) = self.find_tag(&index, tag)? else {
                    return Ok(None);
                };
                let bytes = self
                    .read_manifest_blob(&entry.digest, Some(entry.size))?
                    .ok_or_else(|| Error::NotFound {
                        what: format!("manifest {} (tagged `{tag}`)", entry.digest),
                        location: self.location(),
                    })?;
                crate::error::check_media_type("manifest", &self.location(), &entry.media_type)?;
                Ok(Some(FetchedManifest {
                    digest: entry.digest.clone(),
                    media_type: entry.media_type.clone(),
                    bytes,
                }))
            }
            TagOrDigest::Digest(digest) => {
                let entry = index.manifests.iter().find(|e| &e.digest == digest);
                let Some(bytes) = self.read_manifest_blob(digest, entry.map(|e| e.size))? else {
                    return Ok(None);
                };
                let media_type = match entry {
                    Some(e) => e.media_type.clone(),
                    None => self.sniff_media_type(&bytes)?,
                };
                crate::error::check_media_type("manifest", &self.location(), &media_type)?;
                Ok(Some(FetchedManifest {
                    digest: digest.clone(),
                    media_type,
                    bytes,
                }))
            }
        }
    }

    /// The media type a manifest declares (or implies, for OCI manifests without one).
    fn sniff_media_type(&self, bytes: &[u8]) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            what: "manifest".to_owned(),
            location: self.location(),
            source,
        })?;
        Ok(match (probe.media_type, probe.manifests) {
            (Some(mt), _) => mt,
            (None, Some(_)) => INDEX_MEDIA_TYPE.to_owned(),
            (None, None) => MANIFEST_MEDIA_TYPE.to_owned(),
        })
    }

    fn write_blob(
        &self,
        bytes: &[u8],
        limit: u64,
        what: &str,
        hint: &str,
    ) -> Result<Digest, Error> {
        let len = bytes.len() as u64;
        if len > limit {
            return Err(Error::LimitExceeded {
                what: format!("{what} written to {}", self.location()),
                limit,
                found: len,
                unit: "bytes",
                hint: hint.to_owned(),
            });
        }
        let digest = Digest::sha256_of(bytes);
        let path = self.blob_path(&digest);
        if let Ok(meta) = fs::symlink_metadata(&path)
            && meta.is_file()
            && meta.len() == len
            && touch(&path)
        {
            // Reused: its fresh mtime keeps a concurrent `gc` (which spares
            // blobs younger than its grace period) from deleting it before
            // the index refers to it. Blobs that cannot be touched are rewritten.
            return Ok(digest);
        }
        let dir = self.root.join("blobs").join(digest.algorithm().as_str());
        fs::create_dir_all(&dir).map_err(|e| io_err("create directory", &dir, e))?;
        let tmp = self.temp_file_with(&dir, bytes)?;
        tmp.persist(&path)
            .map_err(|e| io_err("rename into", &path, e.error))?;
        Ok(digest)
    }

    fn put_manifest(
        &self,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|reason| Error::InvalidContent {
                what: format!("tag `{}`", tag.chars().take(80).collect::<String>()),
                location: self.location(),
                reason,
            })?;
        }
        if media_type.is_empty() || media_type.len() > 255 {
            return Err(self.invalid(
                "manifest media type",
                "it must have 1 to 255 characters".into(),
            ));
        }
        // The caller's bytes, not the store's: a plain invalid-content error.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| self.invalid("manifest", format!("not JSON: {e}")))?;
        let digest = self.write_blob(
            bytes,
            self.options.limits.max_manifest_bytes,
            "manifest",
            "raise `Limits::max_manifest_bytes` (registries such as distribution 2.8 refuse manifests over 4 MiB)",
        )?;
        let Some(tag) = tag else {
            return Ok(digest);
        };
        let entry = IndexEntry {
            media_type: media_type.to_owned(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            annotations: entry_annotations(tag),
            extra: Map::new(),
        };
        self.update_index(|index| {
            remove_tag_entries(index, tag);
            index.manifests.push(entry);
            true
        })?;
        Ok(digest)
    }

    /// Read-modify-write of `index.json` under the lock. `edit` returns
    /// whether it changed anything (nothing is written otherwise).
    fn update_index(&self, edit: impl FnOnce(&mut IndexFile) -> bool) -> Result<(), Error> {
        let lock = IndexLock::acquire(&self.root, &self.options)?;
        let mut index = self.read_index()?;
        if !edit(&mut index) {
            return lock.release();
        }
        self.check_entry_count(index.manifests.len())?;
        let bytes = serde_json::to_vec(&index)
            .map_err(|e| self.invalid("`index.json`", format!("cannot serialize: {e}")))?;
        let tmp = self.temp_file_with(&self.root, &bytes)?;
        lock.ensure_held()?;
        let path = self.root.join("index.json");
        tmp.persist(&path)
            .map_err(|e| io_err("rename into", &path, e.error))?;
        sync_dir(&self.root);
        lock.release()
    }

    /// Points `tag` at the manifest `new` (or removes it when `new` is
    /// `None`) only if the tag names `expected` now (`None`: absent), checked
    /// and changed under the index lock. Returns `Ok(None)` when the tag
    /// named something else, or `Ok(Some(digest))` (the new manifest's digest,
    /// `None` inside for a removal) when the swap was made.
    pub(crate) fn swap_tag(
        &self,
        tag: &str,
        expected: Option<&Digest>,
        new: Option<(&str, &[u8])>,
    ) -> Result<Option<Option<Digest>>, Error> {
        let entry = match new {
            Some((media_type, bytes)) => {
                // Writes the blob (and checks tag, media type and size) without touching the index.
                let digest = self.put_manifest(None, media_type, bytes)?;
                validate_tag(tag).map_err(|reason| self.invalid("tag", reason))?;
                Some(IndexEntry {
                    media_type: media_type.to_owned(),
                    digest,
                    size: bytes.len() as u64,
                    annotations: entry_annotations(tag),
                    extra: Map::new(),
                })
            }
            None => None,
        };
        let new_digest = entry.as_ref().map(|e| e.digest.clone());
        let mut outcome: Result<bool, Error> = Ok(false);
        self.update_index(|index| {
            let current: Vec<&Digest> = index
                .manifests
                .iter()
                .filter(|e| entry_is_tag(index, e, tag))
                .map(|e| &e.digest)
                .collect();
            let matches = match (current.as_slice(), expected) {
                ([], None) => true,
                ([one], Some(want)) => *one == want,
                _ => false,
            };
            outcome = Ok(matches);
            if !matches {
                return false;
            }
            remove_tag_entries(index, tag);
            if let Some(entry) = entry {
                index.manifests.push(entry);
            }
            true
        })?;
        Ok(outcome?.then_some(new_digest))
    }

    fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        self.update_index(|index| remove_tag_entries(index, tag))
    }

    fn list_tags(&self) -> Result<Vec<String>, Error> {
        let index = self.read_index()?;
        let mut seen = BTreeSet::new();
        Ok(index
            .manifests
            .iter()
            .filter_map(IndexEntry::tag)
            .filter(|t| seen.insert(t.to_string()))
            .map(str::to_owned)
            .collect())
    }

    fn gc(&self, grace: Duration) -> Result<usize, Error> {
        let lock = IndexLock::acquire(&self.root, &self.options)?;
        let index = self.read_index()?;
        let mut reachable = BTreeSet::new();
        let mut queue: Vec<(Digest, String, usize)> = index
            .manifests
            .iter()
            .map(|e| (e.digest.clone(), e.media_type.clone(), 0))
            .collect();
        while let Some((digest, media_type, depth)) = queue.pop() {
            if !reachable.insert(digest.clone()) {
                continue;
            }
            let is_manifest = media_type.contains("manifest") || media_type == INDEX_MEDIA_TYPE;
            if !is_manifest || depth > MAX_GC_DEPTH {
                continue;
            }
            // A manifest that cannot be read keeps only itself; gc never fails on it.
            let Ok(Some(bytes)) = self.read_manifest_blob(&digest, None) else {
                continue;
            };
            for (child, child_type) in manifest_children(&bytes) {
                let child_depth = depth + 1;
                let nested = child_type == INDEX_MEDIA_TYPE
                    || child_type == DOCKER_LIST_MEDIA_TYPE
                    || child_type.contains("manifest");
                if nested {
                    queue.push((child, child_type, child_depth));
                } else {
                    reachable.insert(child);
                }
            }
        }
        let mut removed = 0;
        let now = SystemTime::now();
        let blobs = self.root.join("blobs");
        for alg_dir in fs::read_dir(&blobs).map_err(|e| io_err("list", &blobs, e))? {
            let alg_dir = alg_dir.map_err(|e| io_err("list", &blobs, e))?;
            let alg = alg_dir.file_name().to_string_lossy().into_owned();
            let dir = alg_dir.path();
            if !dir.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&dir).map_err(|e| io_err("list", &dir, e))? {
                let entry = entry.map_err(|e| io_err("list", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(digest) = format!("{alg}:{name}").parse::<Digest>() else {
                    continue; // temporary files and foreign names are left alone
                };
                if reachable.contains(&digest) {
                    continue;
                }
                let old_enough = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age >= grace);
                if old_enough {
                    // Never delete on a lock taken over as stale: a writer may be mid-update.
                    lock.ensure_held()?;
                    let path = entry.path();
                    fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
                    removed += 1;
                }
            }
        }
        lock.release()?;
        Ok(removed)
    }
}

/// Digests (with media types) a manifest or index refers to: config, layers,
/// subject, or child manifests. Malformed input yields nothing.
fn manifest_children(bytes: &[u8]) -> Vec<(Digest, String)> {
    #[derive(Deserialize)]
    struct Desc {
        #[serde(rename = "mediaType", default)]
        media_type: String,
        digest: Digest,
    }
    #[derive(Deserialize)]
    struct AnyManifest {
        #[serde(default)]
        config: Option<Desc>,
        #[serde(default)]
        layers: Vec<Desc>,
        #[serde(default)]
        manifests: Vec<Desc>,
        #[serde(default)]
        subject: Option<Desc>,
    }
    let Ok(m) = serde_json::from_slice::<AnyManifest>(bytes) else {
        return Vec::new();
    };
    m.config
        .into_iter()
        .chain(m.layers)
        .chain(m.manifests)
        .chain(m.subject)
        .map(|d| (d.digest, d.media_type))
        .collect()
}

/// The annotation `cosign save` uses to mark the image and its attachments.
pub const COSIGN_KIND_ANNOTATION: &str = "kind";
const COSIGN_KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
const COSIGN_KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";

/// For a cosign attachment tag `sha256-<hex>.sig|att|sbom`: the image digest
/// and the `kind` annotation `cosign save` gives such an entry.
fn cosign_attachment(tag: &str) -> Option<(Digest, &'static str)> {
    let (stem, suffix) = tag.rsplit_once('.')?;
    let kind = match suffix {
        "sig" => "dev.cosignproject.cosign/sigs",
        "att" => "dev.cosignproject.cosign/atts",
        "sbom" => "dev.cosignproject.cosign/sboms",
        _ => return None,
    };
    let (alg, hex) = stem.split_once('-')?;
    let digest = format!("{alg}:{hex}").parse().ok()?;
    Some((digest, kind))
}

/// Whether `e` is the entry for `tag`: its `ref.name` is `tag`, or — in a
/// layout written by `cosign save`, which names entries by a `kind`
/// annotation instead of tags — it is the untagged attachment entry of the
/// kind `tag` denotes, and the layout's image (kind `image`/`imageIndex`)
/// is the one `tag` names.
fn entry_is_tag(index: &IndexFile, e: &IndexEntry, tag: &str) -> bool {
    match e.tag() {
        Some(t) => t == tag,
        None => {
            let Some((image, kind)) = cosign_attachment(tag) else {
                return false;
            };
            e.annotations
                .get(COSIGN_KIND_ANNOTATION)
                .map(String::as_str)
                == Some(kind)
                && index.manifests.iter().any(|i| {
                    i.digest == image
                        && matches!(
                            i.annotations
                                .get(COSIGN_KIND_ANNOTATION)
                                .map(String::as_str),
                            Some(COSIGN_KIND_IMAGE | COSIGN_KIND_IMAGE_INDEX)
                        )
                })
        }
    }
}

/// Removes the entries for `tag` (see [`entry_is_tag`]).
fn remove_tag_entries(index: &mut IndexFile, tag: &str) -> bool {
    let keep: Vec<bool> = index
        .manifests
        .iter()
        .map(|e| !entry_is_tag(index, e, tag))
        .collect();
    let before = index.manifests.len();
    let mut flags = keep.into_iter();
    index.manifests.retain(|_| flags.next().unwrap_or(true));
    index.manifests.len() != before
}

/// The annotations of a new entry for `tag`: `ref.name`, plus cosign's
/// `kind` for attachment tags so `cosign verify --local-image` finds them.
fn entry_annotations(tag: &str) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(REF_NAME_ANNOTATION.to_owned(), tag.to_owned())]);
    if let Some((_, kind)) = cosign_attachment(tag) {
        a.insert(COSIGN_KIND_ANNOTATION.to_owned(), kind.to_owned());
    }
    a
}

/// Checks a tag against the OCI `ref.name` grammar:
/// `component ("/" component)*`, `component := alphanum (separator alphanum)*`,
/// `separator := [-._:@+] | "--"`.
fn validate_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return Err(format!("a tag must have 1 to {MAX_TAG_LEN} characters"));
    }
    for component in tag.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_alphanumeric();
        let sep = |b: u8| matches!(b, b'-' | b'.' | b'_' | b':' | b'@' | b'+');
        let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
            return Err("a tag must not have empty `/`-separated parts".into());
        };
        if !alnum(first) || !alnum(last) {
            return Err("each part of a tag must start and end with a letter or digit".into());
        }
        let mut prev_sep: Option<u8> = None;
        for &b in bytes {
            if alnum(b) {
                prev_sep = None;
            } else if sep(b) {
                match prev_sep {
                    None => prev_sep = Some(b),
                    Some(b'-') if b == b'-' => prev_sep = Some(0),
                    Some(_) => {
                        return Err(
                            "a tag must not have consecutive separators (except `--`)".into()
                        );
                    }
                }
            } else {
                return Err(format!(
                    "a tag may hold only letters, digits, `/` and `-._:@+` (found `{}`)",
                    char::from(b).escape_default()
                ));
            }
        }
    }
    Ok(())
}

enum ReadError {
    TooBig(u64),
    /// A directory, FIFO, socket or device where a file was expected.
    NotRegular,
    Io(io::Error),
}

/// Updates a file's modification time to now; false when that fails.
fn touch(path: &Path) -> bool {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .is_ok()
}

/// The length of the regular file at `path` (a symlink is followed, but must
/// end at a regular file); `None` when nothing is there. Checked before
/// opening, so a FIFO or device planted in a layout is never opened.
fn regular_file_len(path: &Path) -> Result<Option<u64>, ReadError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = if meta.file_type().is_symlink() {
        match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ReadError::Io(e)),
        }
    } else {
        meta
    };
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    Ok(Some(meta.len()))
}

/// Reads a whole small file, refusing files over `limit` (checked on metadata
/// first) and FIFOs or devices (before opening); `None` when it is absent.
fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    match rsign_core::fsutil::read_bounded(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(ReadBoundedError::TooLarge { size, .. }) => Err(ReadError::TooBig(size)),
        Err(ReadBoundedError::Io(e)) => Err(ReadError::Io(e)),
        Err(_) => Err(ReadError::NotRegular),
    }
}

/// Best effort: makes a rename in `dir` durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A non-cryptographic random number for back-off jitter and lock tokens.
pub(crate) fn jitter_u64() -> u64 {
    fastrand::u64(..)
}

/// The exclusive lock on `index.json`: a file created with `create_new`.
struct IndexLock {
    path: PathBuf,
    token: String,
    released: bool,
}

impl IndexLock {
    fn acquire(root: &Path, options: &LayoutOptions) -> Result<Self, Error> {
        let path = root.join(LOCK_FILE);
        let token = format!(
            "rsign pid {} token {:016x}\n",
            std::process::id(),
            jitter_u64()
        );
        let start = Instant::now();
        let mut delay = Duration::from_millis(1);
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let written = file.write_all(token.as_bytes());
                    let lock = Self {
                        path: path.clone(),
                        token,
                        released: false,
                    };
                    // On a failed write the drop of `lock` removes the file.
                    written.map_err(|e| io_err("write lock file", &path, e))?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if Self::is_stale(&path, options.stale_lock_after) {
                        Self::break_stale(&path, options.stale_lock_after);
                        continue;
                    }
                    if start.elapsed() >= options.lock_timeout {
                        return Err(io_err(
                            "lock",
                            &path,
                            io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!(
                                    "another writer held the lock for more than {:?}; hint: if no rsign \
                                     process is using this layout, delete the lock file",
                                    options.lock_timeout
                                ),
                            ),
                        ));
                    }
                    let jitter =
                        Duration::from_micros(jitter_u64() % (delay.as_micros() as u64 + 1));
                    std::thread::sleep(delay + jitter);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(io_err("create lock file", &path, e)),
            }
        }
    }

    fn age(path: &Path) -> Option<Duration> {
        let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
        SystemTime::now().duration_since(modified).ok()
    }

    fn is_stale(path: &Path, after: Duration) -> bool {
        Self::age(path).is_some_and(|age| age >= after)
    }

    /// Moves a stale lock aside under a unique name (only one waiter wins the
    /// rename), then deletes it. If what was moved turns out to be fresh (a
    /// new holder created it between the check and the rename), it is put
    /// back with `hard_link`, which cannot replace a newer lock.
    fn break_stale(path: &Path, after: Duration) {
        let aside = path.with_extension(format!("lock.stale-{:016x}", jitter_u64()));
        if fs::rename(path, &aside).is_err() {
            return; // someone else released or broke it
        }
        if !Self::is_stale(&aside, after) {
            let _ = fs::hard_link(&aside, path);
        } else {
            tracing::warn!(lock = %path.display(), "removed a stale layout lock left by a crashed writer");
        }
        let _ = fs::remove_file(&aside);
    }

    /// Fails when the lock file is no longer ours (it was broken as stale).
    fn ensure_held(&self) -> Result<(), Error> {
        let mut content = String::new();
        let ok = File::open(&self.path)
            .and_then(|f| f.take(256).read_to_string(&mut content))
            .is_ok()
            && content == self.token;
        if ok {
            Ok(())
        } else {
            Err(io_err(
                "keep the lock",
                &self.path,
                io::Error::other(
                    "the lock was taken over as stale while held; the update was not written",
                ),
            ))
        }
    }

    fn release(mut self) -> Result<(), Error> {
        self.released = true;
        self.remove_if_ours();
        Ok(())
    }

    fn remove_if_ours(&self) {
        let mut content = String::new();
        let ours = File::open(&self.path)
            .and_then(|f| f.take(256).read_to_string(&mut content))
            .is_ok()
            && content == self.token;
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if !self.released {
            self.remove_if_ours();
        }
    }
}

#[async_trait]
impl Repository for OciLayout {
    fn display_name(&self) -> String {
        self.inner.location()
    }

    async fn resolve(&self, reference: &TagOrDigest) -> Result<Option<ManifestHead>, Error> {
        let inner = Arc::clone(&self.inner);
        let reference = reference.clone();
        blocking(move || {
            Ok(inner.lookup(&reference)?.map(|m| ManifestHead {
                size: m.bytes.len() as u64,
                digest: m.digest,
                media_type: m.media_type,
            }))
        })
        .await
    }

    async fn get_manifest(
        &self,
        reference: &TagOrDigest,
    ) -> Result<Option<FetchedManifest>, Error> {
        let inner = Arc::clone(&self.inner);
        let reference = reference.clone();
        blocking(move || inner.lookup(&reference)).await
    }

    async fn get_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, Error> {
        let inner = Arc::clone(&self.inner);
        let digest = digest.clone();
        blocking(move || {
            inner
                .read_blob(
                    "blob",
                    &digest,
                    Some(size),
                    inner.options.limits.max_blob_bytes,
                    "raise `Limits::max_blob_bytes`",
                )?
                .ok_or_else(|| Error::NotFound {
                    what: format!("blob {digest}"),
                    location: inner.location(),
                })
        })
        .await
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let inner = Arc::clone(&self.inner);
        let bytes = bytes.to_vec();
        blocking(move || {
            inner.write_blob(
                &bytes,
                inner.options.limits.max_blob_bytes,
                "blob",
                "raise `Limits::max_blob_bytes`",
            )
        })
        .await
    }

    async fn put_manifest(
        &self,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        let inner = Arc::clone(&self.inner);
        let tag = tag.map(str::to_owned);
        let media_type = media_type.to_owned();
        let bytes = bytes.to_vec();
        blocking(move || inner.put_manifest(tag.as_deref(), &media_type, &bytes)).await
    }

    async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        let tag = tag.to_owned();
        blocking(move || inner.delete_tag(&tag)).await
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.list_tags()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_grammar() {
        for ok in [
            "latest",
            "v1.0",
            "sha256-abc.sig",
            "a--b",
            "example.com/app:1",
            "a_b+c@d",
        ] {
            assert!(validate_tag(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-a", "a-", "a..b", "a/../b", "../x", "a b", "a/", "/a", "a---b", "ä",
        ] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
        assert!(validate_tag(&"a".repeat(256)).is_err());
    }

    #[test]
    fn lock_is_exclusive_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LayoutOptions {
            lock_timeout: Duration::from_millis(50),
            ..LayoutOptions::default()
        };
        let first = IndexLock::acquire(dir.path(), &opts).unwrap();
        let err = IndexLock::acquire(dir.path(), &opts).err().unwrap();
        assert!(err.to_string().contains("cannot lock"), "{err}");
        first.ensure_held().unwrap();
        first.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE).exists());
        let again = IndexLock::acquire(dir.path(), &opts).unwrap();
        drop(again);
        assert!(!dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn stale_lock_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), "left by a crash").unwrap();
        let opts = LayoutOptions {
            lock_timeout: Duration::from_millis(200),
            stale_lock_after: Duration::from_millis(20),
            ..LayoutOptions::default()
        };
        std::thread::sleep(Duration::from_millis(40));
        let lock = IndexLock::acquire(dir.path(), &opts).unwrap();
        lock.ensure_held().unwrap();
        let on_disk = fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(on_disk, lock.token);
        assert!(on_disk.starts_with("rsign pid "), "{on_disk}");
    }
}
