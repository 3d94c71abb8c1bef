//! Errors of keyset loading, lookup, mutation and saving.

use std::fmt;
use std::path::PathBuf;

use crate::keys::{BoxError, KeyError, KeyId, KeyIdError};

use super::{Format, KeyStatus};

/// The most characters of an untrusted string (a key query, a value read
/// from a keyset file) that an error echoes back.
pub(crate) const MAX_ECHOED_CHARS: usize = 200;

/// `untrusted`, cut to [`MAX_ECHOED_CHARS`] characters (with `…` if cut),
/// for quoting in an error message.
pub(crate) fn for_display(untrusted: &str) -> String {
    let mut chars = untrusted.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHOED_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Why a keyset could not be loaded, queried, changed or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysetError {
    /// A problem inside the keyset file at `path` (the cause says which).
    #[error("invalid keyset file `{}`", path.display())]
    InFile {
        /// The keyset file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: Box<KeysetError>,
    },
    /// A file system operation failed.
    #[error("failed to {action} `{}`", path.display())]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The keyset is larger than [`MAX_KEYSET_BYTES`](super::MAX_KEYSET_BYTES).
    #[error(
        "keyset is {size} bytes, more than the limit of {limit} bytes; hint: refer to key files with `path:` instead of inlining them"
    )]
    TooLarge {
        /// Size of the input in bytes (at least `limit + 1` when read from a file).
        size: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The keyset lists more than [`MAX_KEYS`](super::MAX_KEYS) keys.
    #[error(
        "keyset lists {count} keys, more than the limit of {limit}; hint: remove revoked and expired retired keys"
    )]
    TooManyKeys {
        /// Number of keys.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The document is not a well-formed keyset (syntax, unknown or missing
    /// field, wrong `apiVersion` or `kind`, bad `status`).
    #[error(
        "keyset is not a valid {format} keyset document (expected `apiVersion: rsign.dev/v1alpha1`, `kind: Keyset`, `keys:`)"
    )]
    Decode {
        /// The format the document was read as.
        format: Format,
        /// The decoder's error, with line and column.
        #[source]
        source: BoxError,
    },
    /// One key entry is invalid.
    #[error("key #{position} (`{name}`) in the keyset is invalid")]
    Entry {
        /// 1-based position of the entry in `keys`.
        position: usize,
        /// The entry's `name`.
        name: String,
        /// What is wrong with it.
        #[source]
        source: EntryError,
    },
    /// Two entries have the same key id, or an added key is already listed.
    #[error(
        "key {id} is listed twice (as `{existing}` and as `{duplicate}`); hint: each key may appear only once"
    )]
    DuplicateKey {
        /// The repeated key id.
        id: KeyId,
        /// Name of the entry already in the keyset.
        existing: String,
        /// Name of the second entry or of the key being added.
        duplicate: String,
    },
    /// A key name given to [`Keyset::add`](super::Keyset::add) or
    /// [`Keyset::rotate`](super::Keyset::rotate) is not acceptable.
    #[error("invalid key name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A key query is not hex, or is longer than a key id.
    #[error("`{query}` is not a key id or key id prefix: {reason}")]
    InvalidKeyQuery {
        /// The query as given (at most 200 characters).
        query: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A key id prefix is shorter than [`MIN_PREFIX_LEN`](super::MIN_PREFIX_LEN).
    #[error(
        "key id prefix `{prefix}` is too short ({len} hex digits); hint: give at least {min} hex digits or the full id"
    )]
    PrefixTooShort {
        /// The prefix given.
        prefix: String,
        /// Its length.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// A key id prefix matches more than one key.
    #[error(
        "key id prefix `{prefix}` matches {} keys ({}); hint: give more hex digits",
        matches.len(), IdList(matches)
    )]
    AmbiguousPrefix {
        /// The prefix given.
        prefix: String,
        /// The ids of all matching keys.
        matches: Vec<KeyId>,
    },
    /// No key has the given id or prefix.
    #[error("no key in the keyset has id `{query}`; hint: `rsign key list` shows the key ids")]
    KeyNotFound {
        /// The query as given.
        query: String,
    },
    /// A revoked key may not be retired or made active again.
    #[error("key {id} (`{name}`) is revoked, and revocation is final; hint: add a new key instead")]
    RevocationIsFinal {
        /// The key's id.
        id: KeyId,
        /// The key's name.
        name: String,
    },
    /// `now + grace` is beyond the supported range, or the grace period is
    /// longer than [`MAX_DURATION`](crate::duration::MAX_DURATION).
    #[error("grace period of {seconds} s is too long (limit: 3650 days)")]
    GraceTooLong {
        /// The grace period in seconds.
        seconds: u64,
    },
    /// The keyset could not be encoded.
    #[error("failed to encode the keyset as {format}")]
    Encode {
        /// The target format.
        format: Format,
        /// The encoder's error.
        #[source]
        source: BoxError,
    },
}

impl KeysetError {
    /// The innermost keyset error, looking through [`KeysetError::InFile`].
    pub fn root(&self) -> &KeysetError {
        match self {
            Self::InFile { source, .. } => source.root(),
            other => other,
        }
    }

    pub(crate) fn in_file(path: impl Into<PathBuf>, source: KeysetError) -> Self {
        Self::InFile {
            path: path.into(),
            source: Box::new(source),
        }
    }
}

/// Why one key entry of a keyset file is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// `id` is not 64 hex digits.
    #[error("`id` `{value}` is not a key id")]
    InvalidId {
        /// The value found (at most 200 characters).
        value: String,
        /// Why it is not a key id.
        #[source]
        source: KeyIdError,
    },
    /// `id` does not match the listed public key.
    #[error(
        "`id` is {declared}, but the public key's id (SHA-256 of its SPKI DER) is {actual}; hint: check that the right key is listed, then set `id: {actual}`"
    )]
    IdMismatch {
        /// The id written in the file.
        declared: KeyId,
        /// The id computed from the key.
        actual: KeyId,
    },
    /// Neither `publicKey` nor `path` is set.
    #[error("the entry has neither `publicKey` nor `path`; hint: give exactly one of them")]
    MissingKey,
    /// Both `publicKey` and `path` are set.
    #[error("the entry has both `publicKey` and `path`; hint: give exactly one of them")]
    BothKeySources,
    /// `path` is empty.
    #[error("`path` is empty")]
    EmptyPath,
    /// The key file named by `path` could not be read.
    #[error("failed to read public key file `{}`", path.display())]
    ReadKeyFile {
        /// The resolved path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The key file named by `path` is larger than any public key file.
    #[error(
        "public key file `{}` is larger than {limit} bytes (is it really a public key?)",
        path.display()
    )]
    KeyFileTooLarge {
        /// The resolved path.
        path: PathBuf,
        /// The limit in bytes.
        limit: usize,
    },
    /// The public key does not parse or is of an unsupported type.
    #[error("the public key is not valid")]
    PublicKey {
        /// Why.
        #[source]
        source: KeyError,
    },
    /// `acceptUntil` is not an RFC 3339 date-time.
    #[error(
        "`acceptUntil` `{value}` is not an RFC 3339 date-time; hint: write it like `2027-01-31T00:00:00Z`"
    )]
    InvalidTime {
        /// The value found (at most 200 characters).
        value: String,
        /// The parser's complaint.
        #[source]
        source: BoxError,
    },
    /// `acceptUntil` is set on a key that is not retired.
    #[error(
        "`acceptUntil` is set but the status is `{status}`; hint: only retired keys have an acceptance window: remove `acceptUntil` or set `status: retired`"
    )]
    AcceptUntilNotRetired {
        /// The entry's status.
        status: KeyStatus,
    },
    /// `name` is empty, too long or has control characters.
    #[error("invalid `name`: {reason}")]
    InvalidName {
        /// Why it is rejected.
        reason: &'static str,
    },
}

/// Displays a list of key ids as comma-separated short ids.
struct IdList<'a>(&'a [KeyId]);

impl fmt::Display for IdList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&id.short())?;
        }
        Ok(())
    }
}
