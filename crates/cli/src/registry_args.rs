//! Registry options shared by every command that reads or writes images.
//!
//! [`RegistryArgs`] is flattened into each image command's `*Args`; its
//! flags are spelled as cosign 2.5 spells them, so cosign command lines work
//! unchanged. [`RegistryArgs::to_options`] turns them into the registry
//! crate's [`RegistryOptions`], warning on standard error when an insecure
//! option is set.

use std::path::PathBuf;

use clap::Args;
use rsign_registry::{Credentials, Limits, RegistryOptions};
use zeroize::Zeroizing;

use crate::env::{RSIGN_REGISTRY_PASSWORD, RSIGN_REGISTRY_USERNAME};
use crate::error::CliError;
use crate::output::Printer;

/// How to reach registries: TLS, plain HTTP, credentials, limits.
#[derive(Clone, Default, Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP to the registry when HTTPS does not answer (cosign's
    /// spelling; the same as `--allow-http-registry`). Certificates are still
    /// verified whenever HTTPS is used. Only for testing.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub allow_insecure_registry: Option<bool>,
    /// Allow plain HTTP to the registry when HTTPS does not answer (always
    /// allowed for `localhost` and `127.0.0.0/8`). Only for testing.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub allow_http_registry: Option<bool>,
    /// Trust this PEM CA certificate (file, may hold several) for registry TLS,
    /// in addition to the system roots. May be given several times.
    #[arg(long, value_name = "FILE")]
    pub registry_cacert: Vec<PathBuf>,
    /// User name for the registry (else Docker's `config.json` and credential
    /// helpers are used).
    #[arg(long, value_name = "USER", env = RSIGN_REGISTRY_USERNAME)]
    pub registry_username: Option<String>,
    /// Password or token for the registry; prefer the environment variable to
    /// keep it out of the process list.
    #[arg(long, value_name = "PASSWORD", env = RSIGN_REGISTRY_PASSWORD, hide_env_values = true)]
    pub registry_password: Option<String>,
    /// Most layers accepted in one signature or attestation manifest.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_layers)]
    pub max_layers: u64,
    /// Most signatures considered for one image.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_signatures)]
    pub max_signatures: u64,
}

impl std::fmt::Debug for RegistryArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryArgs")
            .field("allow_insecure_registry", &self.allow_insecure_registry)
            .field("allow_http_registry", &self.allow_http_registry)
            .field("registry_cacert", &self.registry_cacert)
            .field("registry_username", &self.registry_username)
            .field(
                "registry_password",
                &self.registry_password.as_ref().map(|_| "<redacted>"),
            )
            .field("max_layers", &self.max_layers)
            .field("max_signatures", &self.max_signatures)
            .finish()
    }
}

impl RegistryArgs {
    /// Whether plain HTTP was allowed for every registry.
    pub fn insecure_allow_http(&self) -> bool {
        self.allow_insecure_registry == Some(true) || self.allow_http_registry == Some(true)
    }

    /// The limits these arguments set.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.max_layers = self.max_layers;
        limits.max_signatures = self.max_signatures;
        limits
    }

    /// The registry client options; warns on stderr when plain HTTP is allowed.
    ///
    /// A user name needs a password and the other way round.
    pub fn to_options(&self, printer: &Printer) -> Result<RegistryOptions, CliError> {
        let mut options = RegistryOptions::default();
        if self.insecure_allow_http() {
            printer.warning(
                "`--allow-insecure-registry`/`--allow-http-registry`: registries may be \
                 reached over plain HTTP, where anyone on the network can read and change \
                 what is sent (signatures still verify only with your keys)",
            );
            options.insecure_allow_http = true;
        }
        options.ca_certs = self.registry_cacert.clone();
        options.credentials = match (&self.registry_username, &self.registry_password) {
            (Some(user), Some(password)) => Some(Credentials::Basic {
                username: user.clone(),
                password: Zeroizing::new(password.clone()),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(CliError::Unsupported {
                    flag: "--registry-username",
                    reason: "a registry user name needs a password",
                    hint: "pass `--registry-password` or set `RSIGN_REGISTRY_PASSWORD`",
                });
            }
            (None, Some(_)) => {
                return Err(CliError::Unsupported {
                    flag: "--registry-password",
                    reason: "a registry password needs a user name",
                    hint: "pass `--registry-username` or set `RSIGN_REGISTRY_USERNAME`",
                });
            }
        };
        options.limits = self.limits();
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        registry: RegistryArgs,
    }

    #[test]
    fn cosign_spellings_parse() {
        let w = Wrapper::try_parse_from([
            "x",
            "--allow-insecure-registry",
            "--registry-cacert",
            "ca.pem",
            "--registry-username",
            "u",
            "--registry-password",
            "p",
        ])
        .unwrap();
        assert!(w.registry.insecure_allow_http());
        assert_eq!(w.registry.registry_cacert, vec![PathBuf::from("ca.pem")]);
        let o = w.registry.to_options(&Printer::new()).unwrap();
        assert!(o.insecure_allow_http);
        assert_eq!(o.credentials, Some(Credentials::basic("u", "p")));
        assert!(!format!("{:?}", w.registry).contains("\"p\""));

        let w = Wrapper::try_parse_from(["x", "--allow-http-registry=false"]).unwrap();
        assert!(!w.registry.insecure_allow_http());
        let o = w.registry.to_options(&Printer::new()).unwrap();
        assert!(!o.insecure_allow_http);
        assert_eq!(o.credentials, None);
    }

    #[test]
    fn user_without_password_is_refused() {
        let w = Wrapper::try_parse_from(["x", "--registry-username", "u"]).unwrap();
        if w.registry.registry_password.is_none() {
            assert!(w.registry.to_options(&Printer::new()).is_err());
        }
    }
}
