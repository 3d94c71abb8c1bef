//! `rsign generate-key-pair`: a new ECDSA P-256 key in cosign's format.

use rsign_core::keys::PrivateKey;

use super::KeyPairFiles;
use crate::cli::GenerateKeyPairArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::password::{self, Purpose, Stdin};

/// A validated `generate-key-pair`.
#[derive(Debug)]
pub struct Request {
    /// Where the pair goes.
    pub files: KeyPairFiles,
}

impl TryFrom<GenerateKeyPairArgs> for Request {
    type Error = CliError;

    fn try_from(args: GenerateKeyPairArgs) -> Result<Self, CliError> {
        Ok(Self {
            files: KeyPairFiles::from_args(args.output, "cosign"),
        })
    }
}

/// Generates the key, asks for its password and writes both files; nothing
/// is written if either file exists (without `--force`).
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    request.files.check()?;
    let password = password::get(Purpose::Create, Stdin::Free)?;
    let key = PrivateKey::generate_p256().map_err(CliError::GenerateKey)?;
    tracing::debug!(key_id = %key.public_key().key_id(), "generated an ECDSA P-256 key");
    request.files.write(&key, &password, printer)?;
    Ok(ExitStatus::Success)
}
