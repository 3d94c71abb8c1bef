//! `rsign login`: store registry credentials in Docker's `config.json`, as
//! `docker login` / `cosign login` do, so later commands need no
//! `--registry-username`/`--registry-password`.
//!
//! The password comes from standard input (`--password-stdin`, first line,
//! without its line ending), else from `-p` (with a warning: it shows in the
//! process list and shell history), else from a terminal prompt.
//!
//! Before anything is written the credentials are checked against the
//! registry: rsign authenticates (basic auth, or a bearer token obtained with
//! the credentials) and asks for a manifest in the probe repository
//! `<user>/rsign-login-check`; any answer other than 401/403 ("not found"
//! included) means the registry accepted them. A registry whose token service
//! grants the account no access to that path answers 401 although the
//! password is right: `--skip-verify` stores the login unchecked.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
//! a configured credential helper stores the secret instead (see
//! [`rsign_registry::docker_config::login`]).

use std::io::{IsTerminal, Read};

use clap::Args;
use rsign_registry::docker_config::{self, ConfigSource};
use rsign_registry::http::RequestError;
use rsign_registry::{Credentials, Reference, RegistryClient, Repository, TagOrDigest};
use zeroize::Zeroizing;

use super::block_on;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::password::MAX_STDIN_PASSWORD_BYTES;
use crate::registry_args::RegistryArgs;

/// `rsign login`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  printf '%s' \"$TOKEN\" | rsign login registry.example -u ci-bot --password-stdin
  rsign sign --key cosign.key registry.example/app:1.0     # uses the stored login

Writes `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), mode 0600, \
keeping its other entries; a configured credential helper stores the secret instead.")]
pub struct LoginArgs {
    /// The registry host (`registry.example`, `127.0.0.1:5000`; `docker.io` for Docker Hub).
    #[arg(value_name = "REGISTRY")]
    pub server: String,
    /// The user name.
    #[arg(short, long, value_name = "USER")]
    pub username: String,
    /// The password (visible to other users in the process list: prefer `--password-stdin`).
    #[arg(
        short,
        long,
        value_name = "PASSWORD",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,
    /// Read the password from standard input (its first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Store the credentials without checking them against the registry.
    #[arg(long)]
    pub skip_verify: bool,
    /// Registry options (TLS and plain HTTP for the check; credentials flags are ignored).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Where the password comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    /// `-p` on the command line.
    Argument,
    /// `--password-stdin`.
    Stdin,
    /// A terminal prompt.
    Prompt,
}

/// A validated `login`.
pub struct Request {
    /// The registry host, without scheme or path.
    pub registry: String,
    /// The user name.
    pub username: String,
    /// The password given with `-p`, if any.
    pub password: Option<Zeroizing<String>>,
    /// Where the password comes from.
    pub source: PasswordSource,
    /// Skip the check against the registry.
    pub skip_verify: bool,
    /// Registry options for the check.
    pub options: RegistryArgs,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source)
            .field("skip_verify", &self.skip_verify)
            .finish_non_exhaustive()
    }
}

impl TryFrom<LoginArgs> for Request {
    type Error = CliError;

    fn try_from(args: LoginArgs) -> Result<Self, CliError> {
        let registry = registry_host(&args.server);
        // The host must make a valid reference (this also checks the port).
        Reference::new(&registry, "rsign/login-check", None, None).map_err(|source| {
            crate::target::TargetError::Reference {
                input: args.server.clone(),
                source,
            }
        })?;
        if args.username.is_empty() || args.username.contains(':') {
            return Err(CliError::Unsupported {
                flag: "--username",
                reason: "the user name must be non-empty and must not contain `:`",
                hint: "pass the registry account name with `-u`",
            });
        }
        let source = match (&args.password, args.password_stdin) {
            (Some(_), _) => PasswordSource::Argument,
            (None, true) => PasswordSource::Stdin,
            (None, false) => PasswordSource::Prompt,
        };
        let mut options = args.registry;
        // The credentials checked are the ones being stored.
        options.registry_username = None;
        options.registry_password = None;
        Ok(Self {
            registry,
            username: args.username,
            password: args.password.map(Zeroizing::new),
            source,
            skip_verify: args.skip_verify,
            options,
        })
    }
}

/// `https://host/v1/` → `host`; `docker.io` stays as given (normalised on storing).
fn registry_host(server: &str) -> String {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    s.split('/').next().unwrap_or(s).to_owned()
}

/// The repository probed: `<user>/rsign-login-check`, the user name made
/// into a valid path component (or `rsign` when nothing valid remains).
fn probe_path(username: &str) -> String {
    let mut component: String = username
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    component = component
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    if component.is_empty() || component.len() > 64 {
        component = "rsign".to_owned();
    }
    format!("{component}/rsign-login-check")
}

/// Reads the password, checks it, stores the login.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let password = match request.source {
        PasswordSource::Argument => {
            printer.warning(
                "`--password` on the command line is visible to other users and kept in shell \
                 history; use `--password-stdin`",
            );
            request.password.clone().unwrap_or_default()
        }
        PasswordSource::Stdin => read_stdin_password()?,
        PasswordSource::Prompt => {
            if !std::io::stdin().is_terminal() {
                return Err(CliError::Unsupported {
                    flag: "--password",
                    reason: "no password was given and standard input is not a terminal",
                    hint: "pipe it in with `--password-stdin`",
                });
            }
            Zeroizing::new(rpassword::prompt_password("Password: ").map_err(|source| {
                CliError::ReadStdin {
                    what: "the password",
                    source,
                }
            })?)
        }
    };
    if !request.skip_verify {
        block_on(check(&request, &password, printer))?;
    }
    let path = docker_config::login(
        &request.registry,
        &request.username,
        &password,
        &ConfigSource::Default,
    )
    .map_err(|source| CliError::StoreLogin {
        registry: request.registry.clone(),
        source,
    })?;
    printer.message(format_args!(
        "Logged in to {} as {}{} (stored in {})",
        request.registry,
        request.username,
        if request.skip_verify {
            " without checking the credentials"
        } else {
            ""
        },
        path.display()
    ));
    Ok(ExitStatus::Success)
}

/// The first line of standard input, without its line ending, bounded.
fn read_stdin_password() -> Result<Zeroizing<String>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_PASSWORD_BYTES as u64 + 2)
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::ReadStdin {
            what: "the password",
            source,
        })?;
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    bytes.truncate(line_end);
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    if bytes.len() > MAX_STDIN_PASSWORD_BYTES {
        return Err(CliError::Unsupported {
            flag: "--password-stdin",
            reason: "the password line is too long",
            hint: "pipe only the password (at most 4096 bytes)",
        });
    }
    if bytes.is_empty() {
        return Err(CliError::Unsupported {
            flag: "--password-stdin",
            reason: "standard input holds no password",
            hint: "pipe the password in, e.g. `printf '%s' \"$TOKEN\" | rsign login …`",
        });
    }
    let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        // Zeroize the rejected bytes too.
        let _ = Zeroizing::new(e.into_bytes());
        CliError::Unsupported {
            flag: "--password-stdin",
            reason: "the password is not UTF-8",
            hint: "registry passwords are text",
        }
    })?;
    Ok(Zeroizing::new(text))
}

/// Authenticates with the new credentials and asks for a probe manifest.
async fn check(request: &Request, password: &str, printer: &Printer) -> Result<(), CliError> {
    let mut options = request.options.to_options(printer)?;
    options.credentials = Some(Credentials::basic(request.username.clone(), password));
    options.docker_config = ConfigSource::Disabled;
    let client = RegistryClient::new(options)
        .map_err(|e| crate::target::TargetError::Client(Box::new(e)))?;
    let probe = Reference::new(
        &request.registry,
        &probe_path(&request.username),
        Some("latest"),
        None,
    )
    .or_else(|_| Reference::new(&request.registry, "rsign/login-check", Some("latest"), None))
    .map_err(|source| crate::target::TargetError::Reference {
        input: request.registry.clone(),
        source,
    })?;
    let step_err = |source| CliError::ImageStep {
        image: request.registry.clone(),
        step: "check the credentials".into(),
        source: Box::new(source),
    };
    let repo = client.repository(&probe).map_err(step_err)?;
    match repo.resolve(&TagOrDigest::Tag("latest".into())).await {
        Ok(_) => {
            tracing::debug!(probe = %probe, "the registry accepted the credentials");
            Ok(())
        }
        Err(e) if matches!(http_status(&e), Some(401 | 403)) => Err(CliError::LoginRejected {
            registry: request.registry.clone(),
            username: request.username.clone(),
            source: Box::new(e),
        }),
        Err(e) => Err(step_err(e)),
    }
}

/// The HTTP status behind a registry error, if any.
fn http_status(e: &rsign_registry::Error) -> Option<u16> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RequestError>()
            && let Some(status) = r.http_status()
        {
            return Some(status);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_probe_paths() {
        assert_eq!(
            registry_host("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(probe_path("Alice"), "alice/rsign-login-check");
        assert_eq!(
            probe_path("bob@example.com"),
            "bob-example.com/rsign-login-check"
        );
        assert_eq!(probe_path("__"), "rsign/rsign-login-check");
    }

    #[test]
    fn debug_redacts_the_password() {
        let r = Request {
            registry: "r".into(),
            username: "u".into(),
            password: Some(Zeroizing::new("hunter2".into())),
            source: PasswordSource::Argument,
            skip_verify: false,
            options: RegistryArgs::default(),
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
