//! `rsign import-key-pair`: encrypt an existing PEM private key in cosign's
//! format.
//!
//! rsign imports RSA (2048 to 4096 bits), ECDSA P-256/P-384/P-521 and
//! Ed25519 keys; cosign 2.5 as packaged imports only Ed25519 ones.

use std::path::PathBuf;

use rsign_core::keys::PrivateKey;

use super::{KEY_FILE_LIMIT, KeyPairFiles};
use crate::cli::ImportKeyPairArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::Printer;
use crate::password::{self, Purpose, Stdin};

/// A validated `import-key-pair`.
#[derive(Debug)]
pub struct Request {
    /// The unencrypted PEM key to import.
    pub key: PathBuf,
    /// Where the pair goes.
    pub files: KeyPairFiles,
}

impl TryFrom<ImportKeyPairArgs> for Request {
    type Error = CliError;

    fn try_from(args: ImportKeyPairArgs) -> Result<Self, CliError> {
        Ok(Self {
            key: args.key,
            // cosign's default prefix for imported keys.
            files: KeyPairFiles::from_args(args.output, "import-cosign"),
        })
    }
}

/// Reads and checks the key first, then asks for the new password and
/// writes both files.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    request.files.check()?;
    let pem = files::read_bounded(&request.key, "private key", KEY_FILE_LIMIT)?;
    let key = PrivateKey::import_pem(&pem).map_err(|source| CliError::ImportKey {
        path: request.key.clone(),
        source,
    })?;
    tracing::debug!(algorithm = %key.algorithm(), key_id = %key.public_key().key_id(), "imported key");
    let password = password::get(Purpose::Create, Stdin::Free)?;
    request.files.write(&key, &password, printer)?;
    Ok(ExitStatus::Success)
}
