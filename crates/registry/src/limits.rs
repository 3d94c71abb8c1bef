//! Size and count limits applied to everything read from a store.

use crate::error::Error;

/// Bounds on untrusted input from a registry or layout. The defaults follow
/// what distribution itself enforces (4 MiB manifests) and what signature
/// verification reasonably needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest manifest accepted, in bytes (default 4 MiB).
    pub max_manifest_bytes: u64,
    /// Largest blob accepted, in bytes (default 128 MiB).
    pub max_blob_bytes: u64,
    /// Most layers accepted in one manifest (default 1000).
    pub max_layers: u64,
    /// Most signatures considered for one image (default 100).
    pub max_signatures: u64,
    /// Most tags listed for one repository (default 100 000).
    pub max_tags: u64,
    /// Most bytes of attachment layers (signatures, attestations, SBOMs)
    /// held in memory for one attachment manifest, summed over its layer
    /// descriptors and checked before any layer is fetched (default 256 MiB).
    pub max_total_attachment_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_blob_bytes: 128 * 1024 * 1024,
            max_layers: 1000,
            max_signatures: 100,
            max_tags: 100_000,
            max_total_attachment_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Fails with [`Error::LimitExceeded`] when `found` manifest bytes exceed the limit.
    pub fn check_manifest_size(&self, what: &str, found: u64) -> Result<(), Error> {
        if found > self.max_manifest_bytes {
            return Err(self.manifest_too_large(what, found));
        }
        Ok(())
    }

    /// The error for a manifest of `found` bytes, over the limit.
    pub(crate) fn manifest_too_large(&self, what: &str, found: u64) -> Error {
        Error::LimitExceeded {
            what: what.to_owned(),
            limit: self.max_manifest_bytes,
            found,
            unit: "bytes",
            hint: "manifests over 4 MiB are refused by most registries; raise max_manifest_bytes only for a trusted store".to_owned(),
        }
    }

    /// Fails with [`Error::LimitExceeded`] when `found` blob bytes exceed the limit.
    pub fn check_blob_size(&self, what: &str, found: u64) -> Result<(), Error> {
        check(
            what,
            self.max_blob_bytes,
            found,
            "bytes",
            "raise max_blob_bytes if this blob is expected",
        )
    }

    /// Fails with [`Error::LimitExceeded`] when a manifest has too many layers.
    pub fn check_layers(&self, what: &str, found: u64) -> Result<(), Error> {
        check(
            what,
            self.max_layers,
            found,
            "layers",
            "raise max_layers if this manifest is expected",
        )
    }

    /// Fails with [`Error::LimitExceeded`] when an image has too many signatures.
    pub fn check_signatures(&self, what: &str, found: u64) -> Result<(), Error> {
        check(
            what,
            self.max_signatures,
            found,
            "signatures",
            "raise max_signatures, or remove stale signatures",
        )
    }
}

fn check(what: &str, limit: u64, found: u64, unit: &'static str, hint: &str) -> Result<(), Error> {
    if found > limit {
        return Err(Error::LimitExceeded {
            what: what.to_owned(),
            limit,
            found,
            unit,
            hint: hint.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let l = Limits::default();
        assert_eq!(l.max_manifest_bytes, 4 << 20);
        assert_eq!(l.max_blob_bytes, 128 << 20);
        assert!(l.check_manifest_size("m", 4 << 20).is_ok());
        assert!(matches!(
            l.check_manifest_size("m", (4 << 20) + 1),
            Err(Error::LimitExceeded { limit, found, unit: "bytes", .. }) if limit == 4 << 20 && found == (4 << 20) + 1
        ));
        assert!(l.check_layers("m", 1001).is_err());
        assert!(l.check_signatures("s", 100).is_ok());
        assert!(l.check_signatures("s", 101).is_err());
        assert!(l.check_blob_size("b", (128 << 20) + 1).is_err());
        assert_eq!(l.max_total_attachment_bytes, 256 << 20);
    }
}
