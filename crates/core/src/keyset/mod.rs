//! Keysets: the list of public keys a verifier trusts, with their lifecycle,
//! so that signing keys can be rotated and revoked without breaking
//! verification of images signed shortly before a rotation.
//!
//! # File format
//!
//! A keyset file is YAML, or JSON when its name ends in `.json` (see
//! [`Format::from_path`]). Both encode the same document (ids and keys
//! below are illustrative):
//!
//! ```yaml
//! apiVersion: rsign.dev/v1alpha1
//! kind: Keyset
//! keys:
//! - id: 5b0e2d1c7f3a4e9b8c6d0a1f2e3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d
//!   name: release-2027
//!   status: active
//!   publicKey: |
//!     -----BEGIN PUBLIC KEY-----
//!     MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...
//!     -----END PUBLIC KEY-----
//! - id: 0c9d8e7f6a5b4c3d2e1f00112233445566778899aabbccddeeff001122334455
//!   name: release-2026
//!   status: retired
//!   acceptUntil: 2027-02-01T00:00:00Z
//!   path: keys/release-2026.pub
//! - id: 8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677
//!   name: ci-2025
//!   status: revoked
//!   path: /etc/rsign/keys/ci-2025.pub
//! ```
//!
//! Top level (all required, no other fields allowed):
//! - `apiVersion`: exactly `rsign.dev/v1alpha1`.
//! - `kind`: exactly `Keyset`.
//! - `keys`: a list of at most [`MAX_KEYS`] entries (may be empty).
//!
//! Each entry (no other fields allowed):
//! - `id` (required): the key id, 64 hex digits, the SHA-256 of the key's
//!   DER SubjectPublicKeyInfo (cosign's key hint). Upper-case hex is read;
//!   lower case is written. It must match the key, or loading fails naming
//!   both ids. No two entries may have the same id.
//! - `name` (required): a label for people, 1–128 characters, no control
//!   characters. Names need not be unique.
//! - `status` (required): `active`, `retired` or `revoked`.
//! - `acceptUntil` (optional, only with `status: retired`): an RFC 3339
//!   date-time (`2027-02-01T00:00:00Z`, `2027-02-01T01:00:00+01:00`;
//!   seconds and an offset are required, fractions are allowed; the
//!   latest representable instant is `9999-12-30T22:00:00Z`).
//! - exactly one of:
//!   - `publicKey`: the public key as PEM (`-----BEGIN PUBLIC KEY-----`);
//!   - `path`: a file holding the public key as PEM or DER, relative to the
//!     directory of the keyset file (absolute paths are used as written).
//!
//! Limits: the file is at most [`MAX_KEYSET_BYTES`] (1 MiB), a key file at
//! most [`MAX_KEY_INPUT_BYTES`](crate::keys::MAX_KEY_INPUT_BYTES). YAML must
//! be a single document. JSON must have nothing after the object.
//!
//! Written files ([`Keyset::to_bytes`], [`Keyset::save_atomic`]) use the
//! field order above, omit absent optional fields, write `acceptUntil` in UTC
//! with a `Z` suffix, and keep `path` entries as `path` (written unchanged,
//! so they resolve against the directory of the file being written).
//!
//! # Which keys verify
//!
//! [`KeyEntry::trust_at`] decides, for a verification happening at `now`:
//! - `active`: trusted;
//! - `retired` with `acceptUntil`: trusted while `now <= acceptUntil`;
//! - `retired` without `acceptUntil`: **not** trusted. Retiring a key is a
//!   decision to stop accepting it; a grace window must be stated explicitly
//!   (as [`Keyset::rotate`] does), never implied by leaving a field out;
//! - `revoked`: never trusted.
//!
//! **Caveat.** A key-based signature carries no trusted signing time (there
//! is no transparency-log or timestamp-authority proof of when it was made),
//! so the grace window is measured on the *verifier's* clock at verification
//! time, not against when the image was signed. After `acceptUntil`, images
//! signed with the retired key no longer verify, however long ago they were
//! signed: re-sign them with the new key within the window. Conversely, a
//! holder of a retired key can still make signatures that verify until
//! `acceptUntil`; revoke the key if it may be compromised.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use rsign_core::keys::PrivateKey;
//! use rsign_core::keyset::{Format, KeyStatus, Keyset, Timestamp};
//!
//! let old = PrivateKey::generate_p256()?.public_key();
//! let new = PrivateKey::generate_p256()?.public_key();
//! let mut keyset = Keyset::new();
//! keyset.add(old.clone(), "release-2026", KeyStatus::Active)?;
//!
//! let now: Timestamp = "2027-01-01T00:00:00Z".parse()?;
//! keyset.rotate(new.clone(), "release-2027", Duration::from_secs(7 * 86_400), now)?;
//!
//! // Both verify during the grace week; only the new key after it.
//! assert_eq!(keyset.verification_keys(now).len(), 2);
//! let later: Timestamp = "2027-01-09T00:00:00Z".parse()?;
//! let keys = keyset.verification_keys(later);
//! assert_eq!(keys.len(), 1);
//! assert_eq!(keys[0].1, &new);
//!
//! let yaml = keyset.to_bytes(Format::Yaml)?;
//! let again = Keyset::parse(&yaml, Format::Yaml, std::path::Path::new("."))?;
//! assert_eq!(again, keyset);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod file;
mod time;

use std::borrow::Borrow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::{KeyId, PublicKey};

pub use error::{EntryError, KeysetError};
pub use file::Format;
pub use jiff::Timestamp;
pub use time::{TimeError, format_rfc3339, parse_rfc3339};

/// The most bytes a keyset file may have.
pub const MAX_KEYSET_BYTES: usize = 1024 * 1024;

/// The most keys a keyset may list.
pub const MAX_KEYS: usize = 1000;

/// The fewest hex digits a key id prefix must have for [`Keyset::find`].
pub const MIN_PREFIX_LEN: usize = 12;

/// The most characters a key name may have.
pub const MAX_NAME_CHARS: usize = 128;

/// The `apiVersion` of keyset documents.
pub const API_VERSION: &str = "rsign.dev/v1alpha1";

/// The lifecycle state of a key in a keyset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new artifacts; always trusted.
    Active,
    /// No longer signs; trusted only until its `acceptUntil`.
    Retired,
    /// Never trusted again.
    Revoked,
}

impl KeyStatus {
    /// The status as written in keyset files: `active`, `retired`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a [`KeyStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key status `{0}` (expected `active`, `retired` or `revoked`)")]
pub struct ParseKeyStatusError(pub String);

impl FromStr for KeyStatus {
    type Err = ParseKeyStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "revoked" => Ok(Self::Revoked),
            other => Err(ParseKeyStatusError(other.to_owned())),
        }
    }
}

/// Where an entry's public key is written in the keyset file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// Inline PEM (`publicKey:`).
    Inline,
    /// A separate file (`path:`), as written in the keyset (relative paths
    /// are relative to the keyset file's directory).
    Path(String),
}

/// Whether a key is trusted at a given time, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustDecision {
    /// `status: active`: trusted.
    Active,
    /// `status: retired` and the time is at or before `acceptUntil`: trusted.
    RetiredInWindow {
        /// The end of the acceptance window.
        accept_until: Timestamp,
    },
    /// `status: retired` and the time is after `acceptUntil`: not trusted.
    RetiredExpired {
        /// When the key stopped being accepted.
        accept_until: Timestamp,
    },
    /// `status: retired` without `acceptUntil`: not trusted.
    RetiredWithoutWindow,
    /// `status: revoked`: never trusted.
    Revoked,
}

impl TrustDecision {
    /// Whether signatures by the key are accepted.
    pub fn is_trusted(self) -> bool {
        matches!(self, Self::Active | Self::RetiredInWindow { .. })
    }
}

impl fmt::Display for TrustDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Active => f.write_str("active"),
            Self::RetiredInWindow { accept_until } => {
                write!(
                    f,
                    "retired, accepted until {}",
                    format_rfc3339(*accept_until)
                )
            }
            Self::RetiredExpired { accept_until } => write!(
                f,
                "retired, no longer accepted since {}",
                format_rfc3339(*accept_until)
            ),
            Self::RetiredWithoutWindow => f.write_str("retired, not accepted (no `acceptUntil`)"),
            Self::Revoked => f.write_str("revoked"),
        }
    }
}

/// One key of a keyset. Its id always matches its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    id: KeyId,
    name: String,
    status: KeyStatus,
    accept_until: Option<Timestamp>,
    source: KeySource,
    public_key: PublicKey,
}

impl KeyEntry {
    /// The key id (SHA-256 of the SPKI DER).
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The human label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lifecycle status.
    pub fn status(&self) -> KeyStatus {
        self.status
    }

    /// The end of the acceptance window; only retired keys have one.
    pub fn accept_until(&self) -> Option<Timestamp> {
        self.accept_until
    }

    /// Where the key is written in the keyset file.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Whether this key verifies signatures at `now` (the verifier's clock),
    /// and why. See the [module docs](self) for the rules.
    pub fn trust_at(&self, now: Timestamp) -> TrustDecision {
        match (self.status, self.accept_until) {
            (KeyStatus::Active, _) => TrustDecision::Active,
            (KeyStatus::Revoked, _) => TrustDecision::Revoked,
            (KeyStatus::Retired, None) => TrustDecision::RetiredWithoutWindow,
            (KeyStatus::Retired, Some(accept_until)) if now <= accept_until => {
                TrustDecision::RetiredInWindow { accept_until }
            }
            (KeyStatus::Retired, Some(accept_until)) => {
                TrustDecision::RetiredExpired { accept_until }
            }
        }
    }

    /// The entry in the shape of `rsign key list --output json`.
    pub fn listing(&self) -> KeyListing {
        KeyListing {
            id: self.id,
            name: self.name.clone(),
            status: self.status,
            accept_until: self.accept_until,
        }
    }
}

/// One element of the JSON array printed by `rsign key list --output json`:
/// `{"id": "<64 hex>", "name": "...", "status": "active|retired|revoked",
/// "acceptUntil": "<RFC 3339 UTC>" | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyListing {
    /// The key id.
    #[serde(serialize_with = "file::serialize_key_id")]
    pub id: KeyId,
    /// The key's name.
    pub name: String,
    /// The key's status.
    pub status: KeyStatus,
    /// The end of the acceptance window, or `null`.
    #[serde(serialize_with = "file::serialize_opt_time")]
    pub accept_until: Option<Timestamp>,
}

/// A key retired by [`Keyset::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    /// The key id.
    pub id: KeyId,
    /// The key's name.
    pub name: String,
    /// The end of its acceptance window.
    pub accept_until: Timestamp,
}

/// What [`Keyset::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateOutcome {
    /// The id of the new active key.
    pub new_id: KeyId,
    /// The previously active keys, now retired, with their windows.
    pub retired: Vec<RetiredKey>,
}

/// What [`Keyset::revoke`] or [`Keyset::retire`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The key id.
    pub id: KeyId,
    /// The key's name.
    pub name: String,
    /// The status before the change.
    pub previous: KeyStatus,
    /// The status after the change.
    pub current: KeyStatus,
}

/// A set of trusted public keys with their lifecycle states.
///
/// Invariants (kept by [`Keyset::parse`] and every mutation): ids match
/// keys, no id appears twice, at most [`MAX_KEYS`] keys, `acceptUntil` only
/// on retired keys. Entries keep their file order; new keys are appended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keyset {
    entries: Vec<KeyEntry>,
}

impl Keyset {
    /// An empty keyset.
    pub fn new() -> Self {
        Self::default()
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the keyset has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every key with its trust decision at `now` (the verifier's clock).
    pub fn trust_at(&self, now: Timestamp) -> Vec<(&KeyEntry, TrustDecision)> {
        self.entries.iter().map(|e| (e, e.trust_at(now))).collect()
    }

    /// The keys that verify signatures at `now`: active keys and retired
    /// keys inside their window.
    pub fn verification_keys(&self, now: Timestamp) -> Vec<(&KeyEntry, &PublicKey)> {
        self.entries
            .iter()
            .filter(|e| e.trust_at(now).is_trusted())
            .map(|e| (e, &e.public_key))
            .collect()
    }

    /// The entry with exactly this id, trusted or not — for explaining why a
    /// signature by a known key was not accepted.
    pub fn lookup(&self, id: &KeyId) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.id == *id)
    }

    /// The entry whose id is `query`, given in full (64 hex digits) or as a
    /// unique prefix of at least [`MIN_PREFIX_LEN`] hex digits, in either case.
    ///
    /// # Errors
    /// [`KeysetError::InvalidKeyQuery`] (not hex, or longer than an id),
    /// [`KeysetError::PrefixTooShort`], [`KeysetError::AmbiguousPrefix`],
    /// [`KeysetError::KeyNotFound`].
    pub fn find(&self, query: &str) -> Result<&KeyEntry, KeysetError> {
        select_one(self.entries.iter(), query)
    }

    /// [`Keyset::find`], for changing the entry found.
    fn find_mut(&mut self, query: &str) -> Result<&mut KeyEntry, KeysetError> {
        select_one(self.entries.iter_mut(), query)
    }

    /// Adds a key with an inline PEM and no acceptance window.
    ///
    /// # Errors
    /// [`KeysetError::DuplicateKey`] if the key is already listed (whatever
    /// its status), [`KeysetError::InvalidName`], [`KeysetError::TooManyKeys`].
    pub fn add(
        &mut self,
        public_key: PublicKey,
        name: &str,
        status: KeyStatus,
    ) -> Result<&KeyEntry, KeysetError> {
        let entry = self.new_entry(public_key, name, status)?;
        self.entries.push(entry);
        Ok(self.entries.last().expect("an entry was just pushed"))
    }

    /// Rotates to a new signing key: the new key is added as active, and
    /// every previously active key becomes retired with
    /// `acceptUntil = now + grace` (`now` truncated to whole seconds).
    /// Keys that were already retired or revoked are left as they are.
    /// Nothing changes if an error is returned.
    ///
    /// # Errors
    /// As [`Keyset::add`], and [`KeysetError::GraceTooLong`] if `grace`
    /// exceeds [`MAX_DURATION`](crate::duration::MAX_DURATION) or
    /// `now + grace` is out of range.
    pub fn rotate(
        &mut self,
        new_public_key: PublicKey,
        new_name: &str,
        grace: Duration,
        now: Timestamp,
    ) -> Result<RotateOutcome, KeysetError> {
        let grace_too_long = || KeysetError::GraceTooLong {
            seconds: grace.as_secs(),
        };
        if grace > crate::duration::MAX_DURATION {
            return Err(grace_too_long());
        }
        let now = Timestamp::from_second(now.as_second()).map_err(|_| grace_too_long())?;
        let accept_until = now.checked_add(grace).map_err(|_| grace_too_long())?;
        let entry = self.new_entry(new_public_key, new_name, KeyStatus::Active)?;
        let new_id = entry.id;
        let mut retired = Vec::new();
        for e in &mut self.entries {
            if e.status == KeyStatus::Active {
                e.status = KeyStatus::Retired;
                e.accept_until = Some(accept_until);
                retired.push(RetiredKey {
                    id: e.id,
                    name: e.name.clone(),
                    accept_until,
                });
            }
        }
        self.entries.push(entry);
        Ok(RotateOutcome { new_id, retired })
    }

    /// Revokes the key whose id or unique id prefix is `query` (see
    /// [`Keyset::find`]); its `acceptUntil` is removed. Revoking a revoked
    /// key changes nothing and succeeds.
    ///
    /// # Errors
    /// Those of [`Keyset::find`].
    pub fn revoke(&mut self, query: &str) -> Result<StatusChange, KeysetError> {
        let entry = self.find_mut(query)?;
        let previous = entry.status;
        entry.status = KeyStatus::Revoked;
        entry.accept_until = None;
        Ok(StatusChange {
            id: entry.id,
            name: entry.name.clone(),
            previous,
            current: KeyStatus::Revoked,
        })
    }

    /// Retires the key whose id or unique id prefix is `query`, accepting it
    /// until `accept_until` (or not at all, if `None`). Also changes the
    /// window of a key that is already retired.
    ///
    /// # Errors
    /// Those of [`Keyset::find`], and [`KeysetError::RevocationIsFinal`] for
    /// a revoked key.
    pub fn retire(
        &mut self,
        query: &str,
        accept_until: Option<Timestamp>,
    ) -> Result<StatusChange, KeysetError> {
        let entry = self.find_mut(query)?;
        if entry.status == KeyStatus::Revoked {
            return Err(KeysetError::RevocationIsFinal {
                id: entry.id,
                name: entry.name.clone(),
            });
        }
        let previous = entry.status;
        entry.status = KeyStatus::Retired;
        entry.accept_until = accept_until;
        Ok(StatusChange {
            id: entry.id,
            name: entry.name.clone(),
            previous,
            current: KeyStatus::Retired,
        })
    }

    /// Every entry in the shape of `rsign key list --output json`.
    pub fn listing(&self) -> Vec<KeyListing> {
        self.entries.iter().map(KeyEntry::listing).collect()
    }

    /// Checks a new inline entry against the keyset's invariants.
    fn new_entry(
        &self,
        public_key: PublicKey,
        name: &str,
        status: KeyStatus,
    ) -> Result<KeyEntry, KeysetError> {
        check_name(name).map_err(|reason| KeysetError::InvalidName {
            name: name.to_owned(),
            reason,
        })?;
        let id = public_key.key_id();
        if let Some(existing) = self.lookup(&id) {
            return Err(KeysetError::DuplicateKey {
                id,
                existing: existing.name.clone(),
                duplicate: name.to_owned(),
            });
        }
        if self.entries.len() >= MAX_KEYS {
            return Err(KeysetError::TooManyKeys {
                count: self.entries.len() + 1,
                limit: MAX_KEYS,
            });
        }
        Ok(KeyEntry {
            id,
            name: name.to_owned(),
            status,
            accept_until: None,
            source: KeySource::Inline,
            public_key,
        })
    }

    /// Parses a keyset document. `base_dir` resolves relative `path:` entries
    /// (normally the directory of the keyset file).
    ///
    /// # Errors
    /// [`KeysetError::TooLarge`], [`KeysetError::Decode`],
    /// [`KeysetError::TooManyKeys`], [`KeysetError::Entry`],
    /// [`KeysetError::DuplicateKey`].
    pub fn parse(bytes: &[u8], format: Format, base_dir: &Path) -> Result<Self, KeysetError> {
        file::parse(bytes, format, base_dir)
    }

    /// Reads and parses a keyset file; the format comes from the file name
    /// ([`Format::from_path`]) and `path:` entries resolve against its
    /// directory. Errors are wrapped in [`KeysetError::InFile`].
    pub fn load(path: &Path) -> Result<Self, KeysetError> {
        file::load(path)
    }

    /// The keyset as a document in `format` (see the [module docs](self)).
    pub fn to_bytes(&self, format: Format) -> Result<Vec<u8>, KeysetError> {
        file::to_bytes(self, format)
    }

    /// Writes the keyset to `path` atomically, in the format its name calls
    /// for: a temporary file in the same directory is written and fsynced,
    /// given mode 0644, renamed over `path`, and the directory is fsynced. A
    /// reader sees the old content or the new, never a mix; on error the
    /// temporary file is removed and `path` is untouched. A symlink at
    /// `path` is replaced by a regular file, not followed.
    pub fn save_atomic(&self, path: &Path) -> Result<(), KeysetError> {
        file::save_atomic(self, path)
    }
}

/// Why a key name is not acceptable, if it is not.
/// The one entry of `entries` whose id is `query` or starts with it (see
/// [`Keyset::find`]). Generic over `&KeyEntry` and `&mut KeyEntry` so that
/// lookup and mutation share one implementation.
fn select_one<E: Borrow<KeyEntry>>(
    entries: impl Iterator<Item = E>,
    query: &str,
) -> Result<E, KeysetError> {
    let shown = error::for_display(query);
    let prefix = query.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeysetError::InvalidKeyQuery {
            query: shown,
            reason: "a key id has only hex digits (0-9, a-f)",
        });
    }
    if prefix.len() > 64 {
        return Err(KeysetError::InvalidKeyQuery {
            query: shown,
            reason: "longer than a key id (64 hex digits)",
        });
    }
    if prefix.len() < MIN_PREFIX_LEN {
        return Err(KeysetError::PrefixTooShort {
            prefix: shown,
            len: prefix.len(),
            min: MIN_PREFIX_LEN,
        });
    }
    let mut found = entries.filter(|e| e.borrow().id.to_string().starts_with(&prefix));
    let Some(first) = found.next() else {
        return Err(KeysetError::KeyNotFound { query: shown });
    };
    let others: Vec<KeyId> = found.map(|e| e.borrow().id).collect();
    if others.is_empty() {
        return Ok(first);
    }
    Err(KeysetError::AmbiguousPrefix {
        prefix: shown,
        matches: std::iter::once(first.borrow().id).chain(others).collect(),
    })
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("a key name may not be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("a key name may have at most 128 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("a key name may not contain control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    /// An entry with a made-up id: real keys never share a 12-digit prefix.
    fn entry_with_id(hex: &str) -> KeyEntry {
        KeyEntry {
            id: hex.parse().unwrap(),
            name: format!("key-{}", &hex[12..14]),
            status: KeyStatus::Active,
            accept_until: None,
            source: KeySource::Inline,
            public_key: PrivateKey::generate_p256().unwrap().public_key(),
        }
    }

    #[test]
    fn ambiguous_prefixes_list_every_match() {
        let a = format!("abcdef012345{}", "0".repeat(52));
        let b = format!("abcdef012345{}", "1".repeat(52));
        let mut ks = Keyset {
            entries: vec![entry_with_id(&a), entry_with_id(&b)],
        };
        match ks.find("ABCDEF012345") {
            Err(KeysetError::AmbiguousPrefix { prefix, matches }) => {
                assert_eq!(prefix, "ABCDEF012345");
                assert_eq!(matches, [a.parse().unwrap(), b.parse().unwrap()]);
            }
            other => panic!("expected AmbiguousPrefix, got {other:?}"),
        }
        let msg = ks.find("abcdef012345").unwrap_err().to_string();
        assert!(
            msg.contains("matches 2 keys (abcdef0123450000, abcdef0123451111)"),
            "{msg}"
        );
        assert_eq!(ks.find("abcdef0123451").unwrap().name(), "key-11");
        assert_eq!(ks.find(&a).unwrap().name(), "key-00");

        let before = ks.clone();
        assert!(matches!(
            ks.revoke("abcdef012345"),
            Err(KeysetError::AmbiguousPrefix { .. })
        ));
        assert_eq!(ks, before);
        ks.revoke("abcdef0123450").unwrap();
        assert_eq!(ks.entries[0].status, KeyStatus::Revoked);
        assert_eq!(ks.entries[1].status, KeyStatus::Active);
    }
}
