//! The seam through which native policies' `keyset: FILE` is resolved.
//!
//! rsign's keyset file format lives in `rsign_core::keyset` (being written);
//! until the CLI wires a loader over it, policies that name a keyset are
//! rejected with a message saying no loader is configured.

use std::path::Path;

use rsign_core::keys::PublicKey;

/// Loads the trusted public keys of a keyset file.
pub trait KeysetLoader: Send + Sync {
    /// The keys of the keyset at `path` (already resolved against the
    /// policy file's directory).
    fn load(&self, path: &Path)
    -> Result<Vec<PublicKey>, Box<dyn std::error::Error + Send + Sync>>;
}
