//! Errors of rsign-registry.

use rsign_core::Digest;

/// What went wrong talking to a registry or an OCI layout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store returned bytes that do not hash to the digest asked for.
    #[error("{what} from {location} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched (e.g. `manifest`, `blob`).
        what: &'static str,
        /// Where it came from (redacted URL or layout path).
        location: String,
        /// The digest that was asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A size or count limit was exceeded.
    #[error("{what} exceeds the limit of {limit} {unit} (found {found}); hint: {hint}")]
    LimitExceeded {
        /// What exceeded the limit.
        what: String,
        /// The limit in force.
        limit: u64,
        /// The size or count found.
        found: u64,
        /// `bytes`, `layers`, `signatures`, …
        unit: &'static str,
        /// How to raise the limit.
        hint: String,
    },
    /// A manifest or blob that should be there is missing.
    #[error("{what} not found in {location}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// Where it was looked for.
        location: String,
    },
    /// Malformed content from the store (not valid JSON, unexpected media type, …).
    #[error("invalid {what} from {location}: {reason}")]
    InvalidContent {
        /// What was read.
        what: String,
        /// Where it came from.
        location: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A registry request failed.
    #[error("registry request failed: {operation} on {location}")]
    Registry {
        /// The operation, e.g. `fetch manifest`.
        operation: &'static str,
        /// Registry/repository (credentials redacted).
        location: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Credentials for a registry could not be read or used.
    #[error("cannot get credentials for registry {registry}")]
    Credentials {
        /// The registry.
        registry: String,
        /// The cause.
        #[source]
        source: crate::auth::CredentialError,
    },
    /// The registry client's configuration is unusable (CA file, TLS setup, …).
    #[error("invalid registry client configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A filesystem operation on an OCI layout failed.
    #[error("cannot {operation} `{path}`")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The path involved.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Concurrent writers kept changing an attachment manifest (no update was confirmed).
    #[error(
        "gave up updating {what} in {location} after {attempts} attempts: concurrent writers kept changing it; hint: retry"
    )]
    Contention {
        /// What was being updated, e.g. the tag `sha256-….sig`.
        what: String,
        /// The repository or layout.
        location: String,
        /// How many read-modify-write attempts were made.
        attempts: u32,
    },
    /// A manifest from the store could not be parsed or has the wrong shape.
    #[error("invalid {what} from {location}")]
    Manifest {
        /// What was parsed, e.g. the attachment tag.
        what: String,
        /// Where it came from.
        location: String,
        /// Why it is invalid.
        #[source]
        source: rsign_core::oci::ManifestError,
    },
    /// JSON from the store (an index, a config file, a tag list) is malformed.
    #[error("invalid {what} from {location}: malformed JSON")]
    Json {
        /// What was parsed.
        what: String,
        /// Where it came from.
        location: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Longest piece of untrusted text (media types, tags, registry messages)
/// echoed in an error message.
pub(crate) const MAX_ECHO_CHARS: usize = 200;

/// `s` shortened to [`MAX_ECHO_CHARS`] characters with control characters
/// dropped, for echoing untrusted text in messages.
pub(crate) fn echo(s: &str) -> String {
    shorten(s, MAX_ECHO_CHARS)
}

/// `s` without control characters, cut to `max` characters (`…` marks a cut).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().filter(|c| !c.is_control()).nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Longest media type accepted from a store (RFC 6838 allows 127 + 1 + 127).
pub(crate) const MAX_MEDIA_TYPE_LEN: usize = 255;

/// Refuses a media type from a store longer than [`MAX_MEDIA_TYPE_LEN`], so
/// that no later message echoes an unbounded string.
pub(crate) fn check_media_type(what: &str, location: &str, media_type: &str) -> Result<(), Error> {
    if media_type.len() > MAX_MEDIA_TYPE_LEN {
        return Err(Error::InvalidContent {
            what: what.to_owned(),
            location: location.to_owned(),
            reason: format!(
                "media type `{}` is longer than {MAX_MEDIA_TYPE_LEN} bytes",
                echo(media_type)
            ),
        });
    }
    Ok(())
}

/// Checks fetched `bytes` against `expected` (their length against
/// `expected_size` when given). `precomputed` is a SHA-256 of the bytes
/// already computed while reading, reused when `expected` is SHA-256.
/// Returns the digest of the bytes (equal to `expected`).
pub(crate) fn verify_bytes(
    what: &'static str,
    location: &str,
    expected: &Digest,
    expected_size: Option<u64>,
    bytes: &[u8],
    precomputed: Option<Digest>,
) -> Result<Digest, Error> {
    if let Some(size) = expected_size
        && bytes.len() as u64 != size
    {
        return Err(Error::InvalidContent {
            what: what.to_owned(),
            location: location.to_owned(),
            reason: format!(
                "{} bytes arrived, the descriptor of {expected} says {size}",
                bytes.len()
            ),
        });
    }
    let actual = match precomputed {
        Some(d) if d.algorithm() == expected.algorithm() => d,
        _ => expected.of_same_algorithm(bytes),
    };
    if actual != *expected {
        return Err(Error::DigestMismatch {
            what,
            location: location.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn verify_bytes_checks_size_and_digest() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(
            verify_bytes("blob", "l", &d, Some(3), b"abc", None).unwrap(),
            d
        );
        assert!(matches!(
            verify_bytes("blob", "l", &d, Some(4), b"abc", None),
            Err(Error::InvalidContent { .. })
        ));
        assert!(matches!(
            verify_bytes("blob", "l", &d, None, b"abd", None),
            Err(Error::DigestMismatch { .. })
        ));
        // A wrong precomputed digest is not trusted blindly: it is compared.
        let other = Digest::sha256_of(b"x");
        assert!(verify_bytes("blob", "l", &d, None, b"abc", Some(other)).is_err());
    }

    #[test]
    fn echo_is_bounded() {
        let long = "a\n".repeat(1000);
        let e = echo(&long);
        assert!(e.chars().count() <= MAX_ECHO_CHARS + 1);
        assert!(e.ends_with('…'));
        assert!(!e.contains('\n'));
        assert_eq!(echo("short"), "short");
        assert!(check_media_type("m", "l", "application/json").is_ok());
        let long = "a".repeat(10_000);
        let err = check_media_type("m", "l", &long).unwrap_err().to_string();
        assert!(err.len() < 400, "{}", err.len());
    }
}
