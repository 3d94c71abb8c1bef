//! The seam through which native policies' `keyset: FILE` is resolved.
//!
//! The keyset file format lives in `rsign_core::keyset`; the loader that
//! reads files is `rsign_registry::policy_source::KeysetFileLoader`. Without
//! a loader, policies that name a keyset are rejected with a message saying
//! no loader is configured.
//!
//! A loader returns the whole [`Keyset`] — every key with its status and
//! `acceptUntil` — and the policy keeps it: whether a key is trusted is
//! decided **at each evaluation**, against the evaluator's clock, so a
//! retired key stops being accepted when its window ends even if the
//! policies are never reloaded. Revoked keys and retired keys outside their
//! window are kept only to explain refusals.

use std::path::Path;

use rsign_core::keys::{KeyId, PublicKey};
use rsign_core::keyset::{KeyEntry, KeyStatus, Keyset, Timestamp, TrustDecision, format_rfc3339};

/// Loads a keyset file for a native policy's `keyset:`.
pub trait KeysetLoader: Send + Sync {
    /// The keyset at `path` (already resolved against the policy file's
    /// directory), with every entry whatever its status: trust is decided
    /// per evaluation, not here.
    fn load(&self, path: &Path) -> Result<Keyset, Box<dyn std::error::Error + Send + Sync>>;
}

/// One key of a compiled authority: from `key`/`keys` (always trusted) or
/// from a keyset (trusted according to its entry at evaluation time).
#[derive(Debug, Clone)]
pub(crate) struct PolicyKey {
    pub key: PublicKey,
    pub entry: Option<KeyEntry>,
}

impl PolicyKey {
    /// A key listed inline in the policy: always trusted.
    pub fn inline(key: PublicKey) -> Self {
        Self { key, entry: None }
    }

    /// A keyset entry.
    pub fn from_entry(entry: &KeyEntry) -> Self {
        Self {
            key: entry.public_key().clone(),
            entry: Some(entry.clone()),
        }
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.key.key_id()
    }

    /// Whether the key verifies signatures at `now`.
    pub fn trust_at(&self, now: Timestamp) -> TrustDecision {
        self.entry
            .as_ref()
            .map_or(TrustDecision::Active, |e| e.trust_at(now))
    }

    /// Whether the key can be trusted at some instant (not revoked, not
    /// retired without a window).
    pub fn ever_trusted(&self) -> bool {
        self.entry.as_ref().is_none_or(|e| match e.status() {
            KeyStatus::Active => true,
            KeyStatus::Retired => e.accept_until().is_some(),
            KeyStatus::Revoked => false,
        })
    }

    /// What the policy-set hash records about the key's trust.
    pub fn fingerprint(&self) -> String {
        match &self.entry {
            None => "inline".to_owned(),
            Some(e) => format!(
                "{} {}",
                e.status(),
                e.accept_until().map(format_rfc3339).unwrap_or_default()
            ),
        }
    }

    /// `<id16> (<name>) <why it is not trusted at now>`, for refusals.
    pub fn distrust_reason(&self, now: Timestamp) -> String {
        let id = self.id().short();
        let label = match &self.entry {
            Some(e) => format!("{id} ({})", e.name()),
            None => id,
        };
        match self.trust_at(now) {
            TrustDecision::RetiredExpired { accept_until } => format!(
                "{label}: retired, window ended at {}",
                format_rfc3339(accept_until)
            ),
            TrustDecision::RetiredWithoutWindow => {
                format!("{label}: retired, no acceptUntil window")
            }
            TrustDecision::Revoked => format!("{label}: revoked"),
            other => format!("{label}: {other}"),
        }
    }
}
