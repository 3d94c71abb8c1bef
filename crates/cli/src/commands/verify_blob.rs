//! `rsign verify-blob`: verify a file's signature with a public key, as
//! `cosign verify-blob --key --signature` does.

use std::path::{Path, PathBuf};

use rsign_core::blob::{self, MAX_SIGNATURE_FILE_BYTES};

use super::{Input, load_public_key};
use crate::cli::VerifyBlobArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::{Printer, shorten_to};

/// Where the signature comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureSource {
    /// A file holding the base64 signature.
    File(PathBuf),
    /// The base64 text given on the command line.
    Inline(String),
}

/// A validated `verify-blob`.
#[derive(Debug)]
pub struct Request {
    /// The PEM public key.
    pub key: PathBuf,
    /// The signature.
    pub signature: SignatureSource,
    /// What was signed.
    pub input: Input,
    /// `--insecure-ignore-tlog` was set (it changes nothing: rsign never
    /// checks a transparency log; it is accepted and warned about).
    pub insecure_ignore_tlog: bool,
}

impl TryFrom<VerifyBlobArgs> for Request {
    type Error = CliError;

    fn try_from(args: VerifyBlobArgs) -> Result<Self, CliError> {
        // Like cosign: an existing file is read, anything else is the signature text.
        let signature = if Path::new(&args.signature).is_file() {
            SignatureSource::File(PathBuf::from(args.signature))
        } else {
            SignatureSource::Inline(args.signature)
        };
        Ok(Self {
            key: args.key,
            signature,
            input: Input::from_arg(args.file),
            insecure_ignore_tlog: args.insecure_ignore_tlog == Some(true),
        })
    }
}

/// Verifies; `Verified OK` on stderr and exit 0, or exit 1 when the
/// signature does not verify.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    if request.insecure_ignore_tlog {
        printer.warning(
            "`--insecure-ignore-tlog`: rsign never checks a transparency log; \
             this verification rests on the public key alone",
        );
    }
    let key = load_public_key(&request.key)?;
    let signature = match &request.signature {
        SignatureSource::File(path) => {
            let text = files::read_bounded(path, "signature", MAX_SIGNATURE_FILE_BYTES as u64)?;
            blob::decode_signature(&text).map_err(|source| CliError::SignatureFile {
                path: path.clone(),
                source,
            })?
        }
        SignatureSource::Inline(text) => {
            blob::decode_signature(text.as_bytes()).map_err(|source| CliError::SignatureArg {
                arg: shorten_to(text, 80, "..."),
                source,
            })?
        }
    };
    let reader = request.input.open("blob")?;
    blob::verify_blob(&key, reader, &signature).map_err(|source| CliError::VerifyBlob {
        input: request.input.describe(),
        source,
    })?;
    printer.message("Verified OK");
    Ok(ExitStatus::Success)
}
