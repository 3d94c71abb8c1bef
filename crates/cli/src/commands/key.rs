//! `rsign key`: manage a keyset — the public keys a verifier trusts, with
//! their lifecycle (see [`rsign_core::keyset`] for the file format and the
//! trust rules).
//!
//! * `key add --keyset FILE --key PUB --name N`: adds a key as active; the
//!   keyset file is created when absent. The key is written inline
//!   (`publicKey:` PEM) so that the keyset is self-contained: it can be
//!   copied to verifiers, put in a ConfigMap or in git without its key files.
//! * `key rotate --keyset FILE --output-key-prefix NEW [--grace 7d] [--name N]`:
//!   generates a new key pair in cosign's format, adds it as active, and
//!   retires every previously active key with `acceptUntil = now + grace`.
//!   The key files are written first (no clobber, `.key` mode 0600), then the
//!   keyset is replaced atomically; the keyset never names a key whose
//!   private key file was not written. If the keyset cannot be written the
//!   new key files are removed again.
//! * `key revoke --keyset FILE KEYID`: the key (full id or a unique prefix of
//!   at least 12 hex digits) is never trusted again.
//! * `key list --keyset FILE [--output json]`.
//!
//! Every change is a read-modify-write of the whole file replaced with one
//! rename; two concurrent changes of one keyset can lose one of them (the
//! keyset is meant to be changed by one operator or pipeline at a time).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use rsign_core::duration::{format_duration, parse_duration};
use rsign_core::keys::PrivateKey;
use rsign_core::keyset::{
    KeyStatus, Keyset, KeysetError, Timestamp, TrustDecision, format_rfc3339,
};

use super::{KeyPairFiles, keyset_error, load_keyset, load_public_key};
use crate::cli::OutputKeyArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::Printer;
use crate::password::{self, Purpose, Stdin};

/// The grace window of `key rotate` when `--grace` is not given.
pub const DEFAULT_GRACE: &str = "7d";

/// `rsign key`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  rsign key add --keyset keyset.yaml --key release-2026.pub --name release-2026
  RSIGN_PASSWORD=… rsign key rotate --keyset keyset.yaml --output-key-prefix release-2027 --grace 7d
  rsign key list --keyset keyset.yaml --output json
  rsign key revoke --keyset keyset.yaml 5b0e2d1c7f3a

Verify with the keyset: `rsign verify --keyset keyset.yaml IMAGE`. Re-sign \
images with the new key during the grace window: `rsign resign --key release-2027.key …`.")]
pub struct KeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new signing key, make it active, retire the active keys with a grace window.
    Rotate(RotateArgs),
    /// List the keys of a keyset with their status and window.
    List(ListArgs),
    /// Revoke a key: its signatures never count again.
    Revoke(RevokeArgs),
    /// Add a public key to a keyset as active (creates the keyset when absent).
    Add(AddArgs),
}

/// `rsign key rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The keyset file (YAML, or JSON when it ends in `.json`).
    #[arg(long, value_name = "FILE")]
    pub keyset: PathBuf,
    /// Where the new key pair goes (`PREFIX.key`, `PREFIX.pub`); required.
    #[command(flatten)]
    pub output: OutputKeyArgs,
    /// How long the previously active keys keep verifying (`30m`, `12h`, `7d`, `0s`).
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_GRACE)]
    pub grace: String,
    /// The new key's name (default: the file name of the prefix).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// Output format of `key list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people.
    Text,
    /// A JSON array of `{"id","name","status","acceptUntil"}`.
    Json,
}

/// `rsign key list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The keyset file.
    #[arg(long, value_name = "FILE")]
    pub keyset: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

/// `rsign key revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The keyset file.
    #[arg(long, value_name = "FILE")]
    pub keyset: PathBuf,
    /// The key id (64 hex digits) or a unique prefix of at least 12.
    #[arg(value_name = "KEYID")]
    pub key_id: String,
}

/// `rsign key add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The keyset file; created when absent.
    #[arg(long, value_name = "FILE")]
    pub keyset: PathBuf,
    /// The PEM public key to add (written inline into the keyset).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// A name for people, 1–128 characters.
    #[arg(long, value_name = "NAME")]
    pub name: String,
}

/// A validated `key` command.
#[derive(Debug)]
pub enum Request {
    /// `key rotate`.
    Rotate {
        /// The keyset file.
        keyset: PathBuf,
        /// The new key pair's files.
        files: KeyPairFiles,
        /// The grace window of the retired keys.
        grace: Duration,
        /// The new key's name.
        name: String,
    },
    /// `key list`.
    List {
        /// The keyset file.
        keyset: PathBuf,
        /// Output format.
        output: ListFormat,
    },
    /// `key revoke`.
    Revoke {
        /// The keyset file.
        keyset: PathBuf,
        /// The id or prefix.
        query: String,
    },
    /// `key add`.
    Add {
        /// The keyset file.
        keyset: PathBuf,
        /// The public key file.
        key: PathBuf,
        /// The name.
        name: String,
    },
}

impl TryFrom<KeyArgs> for Request {
    type Error = CliError;

    fn try_from(args: KeyArgs) -> Result<Self, CliError> {
        Ok(match args.command {
            KeyCommand::Rotate(a) => {
                let Some(prefix) = a.output.output_key_prefix.clone() else {
                    return Err(CliError::InvalidArgument {
                        flag: "--output-key-prefix",
                        value: String::new(),
                        reason: "`key rotate` needs the prefix of the new key pair's files".into(),
                    });
                };
                let grace = parse_duration(&a.grace).map_err(|e| CliError::InvalidArgument {
                    flag: "--grace",
                    value: a.grace.clone(),
                    reason: e.to_string(),
                })?;
                let name = a.name.unwrap_or_else(|| {
                    prefix
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                Self::Rotate {
                    keyset: a.keyset,
                    files: KeyPairFiles::from_args(a.output, "cosign"),
                    grace,
                    name,
                }
            }
            KeyCommand::List(a) => Self::List {
                keyset: a.keyset,
                output: a.output,
            },
            KeyCommand::Revoke(a) => Self::Revoke {
                keyset: a.keyset,
                query: a.key_id,
            },
            KeyCommand::Add(a) => Self::Add {
                keyset: a.keyset,
                key: a.key,
                name: a.name,
            },
        })
    }
}

/// Runs a `key` command.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    match request {
        Request::Rotate {
            keyset,
            files,
            grace,
            name,
        } => rotate(&keyset, &files, grace, &name, printer),
        Request::List { keyset, output } => list(&keyset, output, printer),
        Request::Revoke { keyset, query } => revoke(&keyset, &query, printer),
        Request::Add { keyset, key, name } => add(&keyset, &key, &name, printer),
    }
}

/// The verifier's clock.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// How one key's trust reads in a listing or a message.
pub fn describe_trust(decision: TrustDecision) -> String {
    match decision {
        TrustDecision::Active => "active".into(),
        TrustDecision::RetiredInWindow { accept_until } => {
            format!("retired, accepted until {}", format_rfc3339(accept_until))
        }
        TrustDecision::RetiredExpired { accept_until } => {
            format!("retired, expired at {}", format_rfc3339(accept_until))
        }
        TrustDecision::RetiredWithoutWindow => "retired, not accepted (no acceptUntil)".into(),
        TrustDecision::Revoked => "revoked".into(),
        // TrustDecision is non-exhaustive: a future state is named by the core.
        other => other.to_string(),
    }
}

/// Every key of `keyset` with its trust at `now` (the first ten), for messages.
pub fn describe_keyset_counts(keyset: &Keyset, now: Timestamp) -> String {
    if keyset.is_empty() {
        return "the keyset is empty".into();
    }
    let mut parts: Vec<String> = keyset
        .trust_at(now)
        .into_iter()
        .take(10)
        .map(|(e, d)| format!("{} ({}): {}", e.id().short(), e.name(), describe_trust(d)))
        .collect();
    if keyset.len() > 10 {
        parts.push(format!("{} more", keyset.len() - 10));
    }
    parts.join("; ")
}

fn rotate(
    path: &Path,
    files: &KeyPairFiles,
    grace: Duration,
    name: &str,
    printer: &Printer,
) -> Result<ExitStatus, CliError> {
    let mut keyset = load_keyset(path)?;
    files.check()?;
    let key = PrivateKey::generate_p256().map_err(CliError::GenerateKey)?;
    // Every check of the keyset change happens before anything is written.
    let outcome = keyset
        .rotate(key.public_key(), name, grace, now())
        .map_err(|e| keyset_error("rotate", path, e))?;
    let password = password::get(Purpose::Create, Stdin::Free)?;
    files.write(&key, &password, printer)?;
    if let Err(e) = keyset.save_atomic(path) {
        if files.overwrite == files::Overwrite::Never {
            files::remove_created(&files.private);
            files::remove_created(&files.public);
        }
        return Err(keyset_error("write", path, e));
    }
    printer.message(format_args!(
        "Added key {} ({name}) as active to {}",
        outcome.new_id.short(),
        path.display()
    ));
    if outcome.retired.is_empty() {
        printer.message("No key was active before; none retired");
    }
    for r in &outcome.retired {
        printer.message(format_args!(
            "Retired key {} ({}): accepted until {} (grace {})",
            r.id.short(),
            r.name,
            format_rfc3339(r.accept_until),
            format_duration(grace)
        ));
    }
    Ok(ExitStatus::Success)
}

fn list(path: &Path, output: ListFormat, printer: &Printer) -> Result<ExitStatus, CliError> {
    let keyset = load_keyset(path)?;
    match output {
        ListFormat::Json => {
            let mut out = serde_json::to_vec_pretty(&keyset.listing()).map_err(|e| {
                CliError::InvalidArgument {
                    flag: "--output",
                    value: "json".into(),
                    reason: format!("cannot encode the listing: {e}"),
                }
            })?;
            out.push(b'\n');
            printer.data(&out)?;
        }
        ListFormat::Text => {
            let now = now();
            let mut out = format!(
                "{:<16}  {:<8}  {:<24}  {}\n",
                "ID", "STATUS", "NAME", "TRUST NOW"
            );
            for (entry, decision) in keyset.trust_at(now) {
                out.push_str(&format!(
                    "{:<16}  {:<8}  {:<24}  {}\n",
                    entry.id().short(),
                    entry.status().as_str(),
                    entry.name(),
                    describe_trust(decision)
                ));
            }
            printer.data(out.as_bytes())?;
        }
    }
    Ok(ExitStatus::Success)
}

fn revoke(path: &Path, query: &str, printer: &Printer) -> Result<ExitStatus, CliError> {
    let mut keyset = load_keyset(path)?;
    let change = keyset
        .revoke(query)
        .map_err(|e| keyset_error("revoke a key in", path, e))?;
    if change.previous == KeyStatus::Revoked {
        printer.message(format_args!(
            "Key {} ({}) was already revoked; nothing changed",
            change.id.short(),
            change.name
        ));
        return Ok(ExitStatus::Success);
    }
    keyset
        .save_atomic(path)
        .map_err(|e| keyset_error("write", path, e))?;
    printer.message(format_args!(
        "Revoked key {} ({}), previously {}; its signatures no longer count",
        change.id.short(),
        change.name,
        change.previous
    ));
    Ok(ExitStatus::Success)
}

fn add(path: &Path, key: &Path, name: &str, printer: &Printer) -> Result<ExitStatus, CliError> {
    let public = load_public_key(key)?;
    let (mut keyset, created) = match std::fs::symlink_metadata(path) {
        Ok(_) => (load_keyset(path)?, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Keyset::new(), true),
        Err(source) => {
            return Err(keyset_error(
                "read",
                path,
                KeysetError::Io {
                    action: "inspect",
                    path: path.to_owned(),
                    source,
                },
            ));
        }
    };
    let id = keyset
        .add(public, name, KeyStatus::Active)
        .map_err(|e| keyset_error("add a key to", path, e))?
        .id();
    keyset
        .save_atomic(path)
        .map_err(|e| keyset_error("write", path, e))?;
    printer.message(format_args!(
        "Added key {} ({name}) as active to {}{}",
        id.short(),
        path.display(),
        if created { " (new keyset)" } else { "" }
    ));
    Ok(ExitStatus::Success)
}
