//! Registry credentials and where they come from.
//!
//! Order of precedence, as in cosign: explicit `--registry-username` /
//! `--registry-password` first, then Docker's configuration (see
//! [`crate::docker_config`]): a per-registry credential helper, the default
//! credential store, the `auths` entries of `config.json`; otherwise anonymous.
//!
//! The bearer-token flow (a `WWW-Authenticate: Bearer realm=…` challenge, a
//! token request to the realm with these credentials) is done by rsign itself
//! for reads and deletes (see [`crate::client`]) and by `oci-client` for
//! uploads; tokens are cached per registry, repository and operation and reused.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// Credentials for one registry. `Debug` never prints secrets.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials: anonymous access (public images).
    #[default]
    Anonymous,
    /// A username and password (or a personal access token as password).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: Zeroizing<String>,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`, or a
    /// credential helper answering with username `<token>`).
    IdentityToken(Zeroizing<String>),
}

impl Credentials {
    /// Username and password credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// Whether these are anonymous.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }

    /// The form `oci-client` uses, built per upload rather than kept: its
    /// `RegistryAuth::Basic` holds the password in a plain `String` (which
    /// `oci-client` also keeps in its own credential store while the client
    /// lives; a residual exposure rsign cannot remove without replacing the
    /// upload path). Identity tokens need an OAuth2 refresh-token exchange
    /// that is not implemented; they fall back to anonymous access with a warning.
    pub(crate) fn to_oci_auth(&self, registry: &str) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.as_str().to_owned())
            }
            Self::IdentityToken(_) => {
                tracing::warn!(
                    registry,
                    "identity tokens (OAuth2 refresh tokens) are not supported; accessing the registry anonymously (hint: log in with a username and password)"
                );
                RegistryAuth::Anonymous
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Why credentials could not be read, stored or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The Docker configuration file could not be read or written.
    #[error("cannot {operation} docker config `{path}`")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The Docker configuration file is not what Docker writes.
    #[error("docker config `{path}` is invalid: {reason}")]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The Docker configuration file is not valid JSON of the expected shape.
    #[error("docker config `{path}` is not valid JSON of the expected shape")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A credential helper failed, timed out or answered nonsense.
    #[error("credential helper `docker-credential-{helper}` failed for {server}: {reason}")]
    Helper {
        /// The helper's suffix (`pass`, `desktop`, `ecr-login`, …).
        helper: String,
        /// The server URL asked about.
        server: String,
        /// What went wrong (never contains the secret).
        reason: String,
    },
    /// Neither `$DOCKER_CONFIG` nor `$HOME` is set, so there is no config path.
    #[error(
        "cannot locate the docker config: neither DOCKER_CONFIG nor HOME is set (hint: pass a config path)"
    )]
    NoConfigPath,
}
