//! `rsign sign-blob`: sign a file the way `cosign sign-blob --key` does.
//!
//! Output, as cosign 2.5 (checked against it): without
//! `--output-signature` the base64 signature and a newline go to standard
//! output; with it, the file holds the base64 text without a newline.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Input, load_private_key};
use crate::cli::SignBlobArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files::{self, Overwrite};
use crate::output::Printer;

/// A validated `sign-blob`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// What to sign.
    pub input: Input,
    /// Where the base64 signature goes: a file (replaced), or stdout.
    pub output_signature: Option<PathBuf>,
}

impl TryFrom<SignBlobArgs> for Request {
    type Error = CliError;

    fn try_from(args: SignBlobArgs) -> Result<Self, CliError> {
        super::refuse_tlog_upload(args.tlog_upload, super::Uploads::Signatures)?;
        // `--yes` only skips cosign's confirmation prompts, which rsign never shows.
        let _ = args.yes;
        Ok(Self {
            key: args.key,
            input: Input::from_arg(args.file),
            output_signature: args.output_signature,
        })
    }
}

/// Loads the key (password included) before reading the input, then
/// streams the input through the signer.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let key = load_private_key(&request.key, request.input.stdin_use())?;
    let reader = request.input.open("blob")?;
    let signature =
        rsign_core::blob::sign_blob(&key, reader).map_err(|source| CliError::SignBlob {
            input: request.input.describe(),
            source,
        })?;
    let encoded = STANDARD.encode(&signature);
    match &request.output_signature {
        None => printer.data(format!("{encoded}\n").as_bytes())?,
        Some(path) => {
            files::write_atomic(
                path,
                "signature",
                encoded.as_bytes(),
                0o644,
                Overwrite::Replace,
            )?;
            printer.message(format_args!("Wrote signature to file {}", path.display()));
        }
    }
    Ok(ExitStatus::Success)
}
