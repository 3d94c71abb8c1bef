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
}
