//! The keyset document: decoding, encoding and atomic file writes.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use crate::fsutil::{self, ReadBoundedError, WriteStep};
use crate::keys::{KeyId, MAX_KEY_INPUT_BYTES, PublicKey};

use super::error::{EntryError, KeysetError};
use super::time::{format_rfc3339, parse_boxed};
use super::{KeyEntry, KeySource, KeyStatus, Keyset, MAX_KEYS, MAX_KEYSET_BYTES, Timestamp};

/// The encoding of a keyset file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// YAML (a single document).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// JSON if the file name ends in `.json` (any case), YAML otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Yaml,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

/// The only accepted `apiVersion`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum ApiVersion {
    #[serde(rename = "rsign.dev/v1alpha1")]
    V1Alpha1,
}

/// The only accepted `kind`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Kind {
    Keyset,
}

/// The document as written; field order here is the order written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    api_version: ApiVersion,
    kind: Kind,
    keys: Vec<DocEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DocEntry {
    id: String,
    name: String,
    status: KeyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accept_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

pub(super) fn parse(bytes: &[u8], format: Format, base_dir: &Path) -> Result<Keyset, KeysetError> {
    if bytes.len() > MAX_KEYSET_BYTES {
        return Err(KeysetError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_KEYSET_BYTES,
        });
    }
    let doc: Document = match format {
        Format::Yaml => yaml_serde::from_slice(bytes).map_err(|e| KeysetError::Decode {
            format,
            source: Box::new(e),
        })?,
        Format::Json => serde_json::from_slice(bytes).map_err(|e| KeysetError::Decode {
            format,
            source: Box::new(e),
        })?,
    };
    if doc.keys.len() > MAX_KEYS {
        return Err(KeysetError::TooManyKeys {
            count: doc.keys.len(),
            limit: MAX_KEYS,
        });
    }
    let mut entries: Vec<KeyEntry> = Vec::with_capacity(doc.keys.len());
    let mut seen: HashMap<KeyId, usize> = HashMap::with_capacity(doc.keys.len());
    for (index, raw) in doc.keys.into_iter().enumerate() {
        // Not yet validated: quote at most a bounded prefix.
        let name = super::error::for_display(&raw.name);
        let entry = decode_entry(raw, base_dir).map_err(|source| KeysetError::Entry {
            position: index + 1,
            name,
            source,
        })?;
        if let Some(first) = seen.get(&entry.id).and_then(|i| entries.get(*i)) {
            return Err(KeysetError::DuplicateKey {
                id: entry.id,
                existing: first.name.clone(),
                duplicate: entry.name,
            });
        }
        seen.insert(entry.id, entries.len());
        entries.push(entry);
    }
    Ok(Keyset { entries })
}

fn decode_entry(raw: DocEntry, base_dir: &Path) -> Result<KeyEntry, EntryError> {
    super::check_name(&raw.name).map_err(|reason| EntryError::InvalidName { reason })?;
    let declared: KeyId = raw.id.parse().map_err(|source| EntryError::InvalidId {
        value: super::error::for_display(&raw.id),
        source,
    })?;
    let (public_key, source) = match (raw.public_key, raw.path) {
        (None, None) => return Err(EntryError::MissingKey),
        (Some(_), Some(_)) => return Err(EntryError::BothKeySources),
        (Some(pem), None) => (
            PublicKey::from_pem(pem.as_bytes())
                .map_err(|source| EntryError::PublicKey { source })?,
            KeySource::Inline,
        ),
        (None, Some(path)) => (read_key_file(base_dir, &path)?, KeySource::Path(path)),
    };
    let actual = public_key.key_id();
    if actual != declared {
        return Err(EntryError::IdMismatch { declared, actual });
    }
    let accept_until = match raw.accept_until {
        None => None,
        Some(value) => {
            let t = parse_boxed(&value).map_err(|source| EntryError::InvalidTime {
                value: super::error::for_display(&value),
                source,
            })?;
            Some(t)
        }
    };
    if accept_until.is_some() && raw.status != KeyStatus::Retired {
        return Err(EntryError::AcceptUntilNotRetired { status: raw.status });
    }
    Ok(KeyEntry {
        id: actual,
        name: raw.name,
        status: raw.status,
        accept_until,
        source,
        public_key,
    })
}

fn read_key_file(base_dir: &Path, path: &str) -> Result<PublicKey, EntryError> {
    if path.is_empty() {
        return Err(EntryError::EmptyPath);
    }
    let resolved = base_dir.join(path);
    let bytes = match read_bounded(&resolved, MAX_KEY_INPUT_BYTES) {
        Ok(bytes) => bytes,
        Err(ReadFailure::TooLarge(_)) => {
            return Err(EntryError::KeyFileTooLarge {
                path: resolved,
                limit: MAX_KEY_INPUT_BYTES,
            });
        }
        Err(ReadFailure::Io(source)) => {
            return Err(EntryError::ReadKeyFile {
                path: resolved,
                source,
            });
        }
    };
    PublicKey::from_pem_or_der(&bytes).map_err(|source| EntryError::PublicKey { source })
}

/// Maps a failed bounded read to this module's two outcomes: too large (with
/// the size), or an I/O error (a non-regular file reads as "not a regular
/// file").
enum ReadFailure {
    TooLarge(u64),
    Io(io::Error),
}

fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, ReadFailure> {
    fsutil::read_bounded(path, limit as u64).map_err(|e| match e {
        ReadBoundedError::TooLarge { size, .. } => ReadFailure::TooLarge(size),
        ReadBoundedError::NotRegularFile => ReadFailure::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )),
        ReadBoundedError::Io(e) => ReadFailure::Io(e),
    })
}

pub(super) fn load(path: &Path) -> Result<Keyset, KeysetError> {
    let bytes = match read_bounded(path, MAX_KEYSET_BYTES) {
        Ok(bytes) => bytes,
        Err(ReadFailure::TooLarge(size)) => {
            return Err(KeysetError::in_file(
                path,
                KeysetError::TooLarge {
                    size,
                    limit: MAX_KEYSET_BYTES,
                },
            ));
        }
        Err(ReadFailure::Io(source)) => {
            return Err(KeysetError::Io {
                action: "read keyset",
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&bytes, Format::from_path(path), parent_dir(path))
        .map_err(|e| KeysetError::in_file(path, e))
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn to_document(keyset: &Keyset) -> Document {
    Document {
        api_version: ApiVersion::V1Alpha1,
        kind: Kind::Keyset,
        keys: keyset
            .entries
            .iter()
            .map(|e| {
                let (public_key, path) = match &e.source {
                    KeySource::Inline => (Some(e.public_key.to_pem()), None),
                    KeySource::Path(p) => (None, Some(p.clone())),
                };
                DocEntry {
                    id: e.id.to_string(),
                    name: e.name.clone(),
                    status: e.status,
                    accept_until: e.accept_until.map(format_rfc3339),
                    public_key,
                    path,
                }
            })
            .collect(),
    }
}

pub(super) fn to_bytes(keyset: &Keyset, format: Format) -> Result<Vec<u8>, KeysetError> {
    let doc = to_document(keyset);
    match format {
        Format::Yaml => yaml_serde::to_string(&doc)
            .map(String::into_bytes)
            .map_err(|e| KeysetError::Encode {
                format,
                source: Box::new(e),
            }),
        Format::Json => {
            let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| KeysetError::Encode {
                format,
                source: Box::new(e),
            })?;
            out.push(b'\n');
            Ok(out)
        }
    }
}

pub(super) fn save_atomic(keyset: &Keyset, path: &Path) -> Result<(), KeysetError> {
    let bytes = to_bytes(keyset, Format::from_path(path))?;
    let io_err = |action: &'static str, path: &Path, source: io::Error| KeysetError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    if path.file_name().is_none() {
        return Err(io_err(
            "write keyset",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        ));
    }
    fsutil::write_atomic(path, &bytes, 0o644).map_err(|e| {
        let action = match e.step {
            WriteStep::CreateTemp => "create a temporary file in",
            WriteStep::Replace => "replace",
            WriteStep::SyncDir => "sync directory",
            _ => "write",
        };
        io_err(action, &e.path, e.source)
    })
}

pub(super) fn serialize_key_id<S: Serializer>(id: &KeyId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

pub(super) fn serialize_opt_time<S: Serializer>(
    t: &Option<Timestamp>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&format_rfc3339(*t)),
        None => s.serialize_none(),
    }
}
