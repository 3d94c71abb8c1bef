//! `rsign public-key`: the PEM public key of an encrypted private key.

use std::path::PathBuf;

use super::load_private_key;
use crate::cli::PublicKeyArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files::{self, Overwrite};
use crate::output::Printer;
use crate::password::Stdin;

/// A validated `public-key`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// Where the PEM goes: a file (replaced, as cosign does), or stdout.
    pub outfile: Option<PathBuf>,
}

impl TryFrom<PublicKeyArgs> for Request {
    type Error = CliError;

    fn try_from(args: PublicKeyArgs) -> Result<Self, CliError> {
        Ok(Self {
            key: args.key,
            outfile: args.outfile,
        })
    }
}

/// Decrypts the key and writes its public key, byte-identical to the
/// `cosign.pub` cosign writes for it.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let key = load_private_key(&request.key, Stdin::Free)?;
    let pem = key.public_key().to_pem();
    match &request.outfile {
        None => printer.data(pem.as_bytes())?,
        Some(path) => {
            files::write_atomic(
                path,
                "public key",
                pem.as_bytes(),
                0o644,
                Overwrite::Replace,
            )?;
            printer.message(format_args!("Public key written to {}", path.display()));
        }
    }
    Ok(ExitStatus::Success)
}
