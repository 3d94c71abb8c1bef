//! One module per command, plus what several commands share.
//!
//! Each command module has a `Request` (validated from its raw `*Args` with
//! `TryFrom`) and a `run(Request, &Printer) -> Result<ExitStatus, CliError>`.

pub mod attachments;
pub mod attest;
pub mod attest_blob;
pub mod clean;
pub mod download;
pub mod generate_key_pair;
pub mod import_key_pair;
pub mod key;
pub mod load;
pub mod login;
pub mod policy;
pub mod predicate;
pub mod public_key;
pub mod resign;
pub mod save;
pub mod sign;
pub mod sign_blob;
pub mod tree;
pub mod triangulate;
pub mod verify;
pub mod verify_attestation;
pub mod verify_blob;
pub mod verify_blob_attestation;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rsign_core::keys::{MAX_KEY_INPUT_BYTES, Password, PrivateKey, PublicKey};
use rsign_core::keyset::{Keyset, KeysetError};

use crate::cli::{Command, OutputKeyArgs};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files::{self, Overwrite};
use crate::output::Printer;
use crate::password::{self, Purpose, Stdin};

/// Validates `command`'s arguments and runs it.
pub fn run(command: Command, printer: &Printer) -> Result<ExitStatus, CliError> {
    match command {
        Command::GenerateKeyPair(args) => generate_key_pair::run(args.try_into()?, printer),
        Command::ImportKeyPair(args) => import_key_pair::run(args.try_into()?, printer),
        Command::PublicKey(args) => public_key::run(args.try_into()?, printer),
        Command::SignBlob(args) => sign_blob::run(args.try_into()?, printer),
        Command::VerifyBlob(args) => verify_blob::run(args.try_into()?, printer),
        Command::Attest(args) => attest::run(args.try_into()?, printer),
        Command::VerifyAttestation(args) => verify_attestation::run(args.try_into()?, printer),
        Command::AttestBlob(args) => attest_blob::run(args.try_into()?, printer),
        Command::VerifyBlobAttestation(args) => {
            verify_blob_attestation::run(args.try_into()?, printer)
        }
        Command::Save(args) => save::run(args.try_into()?, printer),
        Command::Load(args) => load::run(args.try_into()?, printer),
        Command::Tree(args) => tree::run(args.try_into()?, printer),
        Command::Triangulate(args) => triangulate::run(args.try_into()?, printer),
        Command::Download(args) => download::run(args.try_into()?, printer),
        Command::Clean(args) => clean::run(args.try_into()?, printer),
        Command::Login(args) => login::run(args.try_into()?, printer),
        Command::Policy(args) => policy::run(args.try_into()?, printer),
        Command::Sign(args) => sign::run(args.try_into()?, printer),
        Command::Verify(args) => verify::run(args.try_into()?, printer),
        Command::Key(args) => key::run(args.try_into()?, printer),
        Command::Resign(args) => resign::run(args.try_into()?, printer),
    }
}

/// The async runtime of a run that works on many images at once: every
/// image of the run shares it (and the registry client's connection pools).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    build_runtime(tokio::runtime::Builder::new_multi_thread())
}

/// Runs `future` on a single-threaded runtime (registry and layout I/O of
/// one image).
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    build_runtime(tokio::runtime::Builder::new_current_thread())?.block_on(future)
}

fn build_runtime(
    mut builder: tokio::runtime::Builder,
) -> Result<tokio::runtime::Runtime, CliError> {
    builder.enable_all().build().map_err(CliError::Runtime)
}

/// What a signing command makes, for its `--tlog-upload=true` refusal.
#[derive(Debug, Clone, Copy)]
pub enum Uploads {
    /// `sign`, `sign-blob`.
    Signatures,
    /// `attest`, `attest-blob`.
    Attestations,
}

/// Refuses `--tlog-upload=true` (cosign's default; rsign has no log).
pub fn refuse_tlog_upload(tlog_upload: Option<bool>, made: Uploads) -> Result<(), CliError> {
    if tlog_upload != Some(true) {
        return Ok(());
    }
    Err(CliError::Unsupported {
        flag: "--tlog-upload=true",
        reason: match made {
            Uploads::Signatures => "rsign does not upload signatures to a transparency log",
            Uploads::Attestations => "rsign does not upload attestations to a transparency log",
        },
        hint: "pass `--tlog-upload=false` or leave the flag out",
    })
}

/// The most public keys (`--key`) a verifying command accepts.
pub const MAX_KEYS: usize = 64;

/// Checks the `--key` count and `--threshold` of a verifying command: at
/// most [`MAX_KEYS`] keys; a threshold of at least 1 and, without a keyset,
/// at most the number of keys.
pub fn check_trusted_keys(keys: usize, keyset: bool, threshold: usize) -> Result<(), CliError> {
    if keys > MAX_KEYS {
        return Err(CliError::InvalidArgument {
            flag: "--key",
            value: format!("({keys} keys)"),
            reason: format!("at most {MAX_KEYS} keys are accepted"),
        });
    }
    if threshold == 0 || (!keyset && threshold > keys) {
        return Err(CliError::InvalidArgument {
            flag: "--threshold",
            value: threshold.to_string(),
            reason: format!("expected 1 to the number of `--key`s ({keys})"),
        });
    }
    Ok(())
}

/// The most bytes read from a key file: the core's limit on key input.
const KEY_FILE_LIMIT: u64 = MAX_KEY_INPUT_BYTES as u64;

/// Reads and decrypts a cosign encrypted private key. The file is read (and
/// checked for size) before the password is asked for.
pub fn load_private_key(path: &Path, stdin: Stdin) -> Result<PrivateKey, CliError> {
    let pem = files::read_bounded(path, "private key", KEY_FILE_LIMIT)?;
    let password = password::get(Purpose::Unlock, stdin)?;
    let key = PrivateKey::from_cosign_pem(&pem, &password).map_err(|source| {
        CliError::LoadPrivateKey {
            path: path.to_owned(),
            source,
        }
    })?;
    tracing::debug!(
        algorithm = %key.algorithm(),
        key_id = %key.public_key().key_id(),
        "loaded private key `{}`",
        path.display()
    );
    Ok(key)
}

/// Reads a PEM `PUBLIC KEY` file.
pub fn load_public_key(path: &Path) -> Result<PublicKey, CliError> {
    let pem = files::read_bounded(path, "public key", KEY_FILE_LIMIT)?;
    let key = PublicKey::from_pem(&pem).map_err(|source| CliError::LoadPublicKey {
        path: path.to_owned(),
        source,
    })?;
    tracing::debug!(algorithm = %key.algorithm(), key_id = %key.key_id(), "loaded public key");
    Ok(key)
}

/// Reads PEM `PUBLIC KEY` files, in order, leaving out keys read before
/// (same key id).
pub fn load_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, CliError> {
    let mut keys: Vec<PublicKey> = Vec::with_capacity(paths.len());
    for path in paths {
        let key = load_public_key(path)?;
        if !keys.iter().any(|k| k.key_id() == key.key_id()) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Loads the keyset at `path`.
pub fn load_keyset(path: &Path) -> Result<Keyset, CliError> {
    Keyset::load(path).map_err(|e| keyset_error("read", path, e))
}

/// `action` on the keyset at `path` failed with `source`.
pub fn keyset_error(action: &'static str, path: &Path, source: KeysetError) -> CliError {
    CliError::Keyset {
        action,
        path: path.to_owned(),
        source: Box::new(source),
    }
}

/// The two files of a key pair: `PREFIX.key` and `PREFIX.pub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairFiles {
    /// The encrypted private key, `PREFIX.key` (mode 0600).
    pub private: PathBuf,
    /// The public key, `PREFIX.pub` (mode 0644).
    pub public: PathBuf,
    /// Whether existing files may be replaced.
    pub overwrite: Overwrite,
}

impl KeyPairFiles {
    /// The files for `args`, with `default_prefix` when none is given.
    pub fn from_args(args: OutputKeyArgs, default_prefix: &str) -> Self {
        let prefix = args
            .output_key_prefix
            .map_or_else(|| OsString::from(default_prefix), PathBuf::into_os_string);
        let with = |ext: &str| {
            let mut name = prefix.clone();
            name.push(ext);
            PathBuf::from(name)
        };
        Self {
            private: with(".key"),
            public: with(".pub"),
            overwrite: if args.force {
                Overwrite::Replace
            } else {
                Overwrite::Never
            },
        }
    }

    /// Fails if either file exists and may not be replaced; called before
    /// asking for a password or writing anything.
    pub fn check(&self) -> Result<(), CliError> {
        if self.overwrite == Overwrite::Never {
            files::ensure_absent([self.private.as_path(), self.public.as_path()])?;
        }
        Ok(())
    }

    /// Encrypts `key` with `password` and writes both files: each is staged
    /// beside its destination first, then both are moved into place. If the
    /// second cannot be placed, the first is removed again.
    pub fn write(
        &self,
        key: &PrivateKey,
        password: &Password,
        printer: &Printer,
    ) -> Result<(), CliError> {
        let encrypted = key.to_cosign_pem(password).map_err(CliError::EncryptKey)?;
        let public_pem = key.public_key().to_pem();
        let private = files::stage(&self.private, "private key", encrypted.as_bytes(), 0o600)?;
        let public = files::stage(&self.public, "public key", public_pem.as_bytes(), 0o644)?;
        private.commit(self.overwrite)?;
        if let Err(e) = public.commit(self.overwrite) {
            if self.overwrite == Overwrite::Never {
                files::remove_created(&self.private);
            }
            return Err(e);
        }
        printer.message(format_args!(
            "Private key written to {}",
            self.private.display()
        ));
        printer.message(format_args!(
            "Public key written to {}",
            self.public.display()
        ));
        Ok(())
    }
}

/// A command's data input: a file, or standard input for `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `-` is standard input, anything else a file.
    pub fn from_arg(arg: PathBuf) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::File(arg)
        }
    }

    /// How errors name this input.
    pub fn describe(&self) -> String {
        match self {
            Self::Stdin => "standard input".to_owned(),
            Self::File(path) => format!("`{}`", path.display()),
        }
    }

    /// Whether the password may come from standard input.
    pub fn stdin_use(&self) -> Stdin {
        match self {
            Self::Stdin => Stdin::Data,
            Self::File(_) => Stdin::Free,
        }
    }

    /// Opens the input for streaming.
    pub fn open(&self, what: &'static str) -> Result<Box<dyn std::io::Read>, CliError> {
        match self {
            Self::Stdin => Ok(Box::new(std::io::stdin().lock())),
            Self::File(path) => {
                let file = fs_err::File::open(path).map_err(|source| CliError::ReadFile {
                    what,
                    path: path.clone(),
                    source,
                })?;
                Ok(Box::new(std::io::BufReader::with_capacity(64 * 1024, file)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_key_counts_and_thresholds() {
        assert!(check_trusted_keys(2, false, 2).is_ok());
        assert!(check_trusted_keys(0, true, 3).is_ok());
        assert!(check_trusted_keys(2, false, 3).is_err());
        assert!(check_trusted_keys(2, false, 0).is_err());
        assert!(check_trusted_keys(MAX_KEYS + 1, false, 1).is_err());
    }

    #[test]
    fn tlog_upload_true_is_refused_naming_what_is_made() {
        assert!(refuse_tlog_upload(None, Uploads::Signatures).is_ok());
        assert!(refuse_tlog_upload(Some(false), Uploads::Signatures).is_ok());
        let err = refuse_tlog_upload(Some(true), Uploads::Attestations).unwrap_err();
        assert!(matches!(
            err,
            CliError::Unsupported { reason, .. } if reason.contains("attestations")
        ));
    }
}
