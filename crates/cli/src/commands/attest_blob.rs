//! `rsign attest-blob`: an in-toto attestation about a file, as
//! `cosign attest-blob --key --tlog-upload=false` makes it.
//!
//! The statement's one subject is the blob's file name (without its
//! directory) and its SHA-256 digest, or the hex digest given with `--hash`
//! (then the file need not exist). Output, as cosign 2.5 (checked against
//! it): the DSSE envelope JSON and a newline on standard output, or, with
//! `--output-signature F`, in `F` without a newline; `--output-attestation F`
//! additionally writes the unsigned statement to `F`.

use std::io::Read;
use std::path::{Path, PathBuf};

use rsign_core::Digest;
use sha2::Digest as _;

use super::predicate::{self, Subject};
use super::{Input, load_private_key};
use crate::cli::AttestBlobArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files::{self, Overwrite};
use crate::output::Printer;

/// What the subject digest is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobDigest {
    /// Hash this input.
    Read(Input),
    /// Use this digest (`--hash`).
    Given(Digest),
}

/// A validated `attest-blob`.
#[derive(Debug)]
pub struct Request {
    /// The encrypted private key.
    pub key: PathBuf,
    /// The predicate file.
    pub predicate: PathBuf,
    /// The `--type` as given (short name or URI).
    pub type_name: String,
    /// The subject name: the blob's file name.
    pub subject_name: String,
    /// Where the subject digest comes from.
    pub digest: BlobDigest,
    /// Where the statement is written, if anywhere.
    pub output_attestation: Option<PathBuf>,
    /// Where the envelope is written instead of standard output.
    pub output_signature: Option<PathBuf>,
}

impl TryFrom<AttestBlobArgs> for Request {
    type Error = CliError;

    fn try_from(args: AttestBlobArgs) -> Result<Self, CliError> {
        super::refuse_tlog_upload(args.tlog_upload, super::Uploads::Attestations)?;
        let _ = args.yes;
        // Fail on an unknown type before asking for a password.
        predicate::type_uri(&args.r#type)?;
        let subject_name = args.file.file_name().map_or_else(
            || args.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let digest = match args.hash {
            Some(hex) => BlobDigest::Given(parse_hex_sha256(&hex)?),
            None => BlobDigest::Read(Input::from_arg(args.file)),
        };
        Ok(Self {
            key: args.key,
            predicate: args.predicate,
            type_name: args.r#type,
            subject_name,
            digest,
            output_attestation: args.output_attestation,
            output_signature: args.output_signature,
        })
    }
}

/// `--hash`: 64 hex digits (a `sha256:` prefix is accepted too).
fn parse_hex_sha256(text: &str) -> Result<Digest, CliError> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    format!("sha256:{}", hex.to_ascii_lowercase())
        .parse()
        .map_err(|_| CliError::Unsupported {
            flag: "--hash",
            reason: "the value is not a SHA-256 digest (64 hex digits)",
            hint: "pass the blob's SHA-256 in hex, e.g. the first field of `sha256sum FILE`",
        })
}

/// Streams `input` through SHA-256. With `limit`, an input larger than it
/// is refused with [`CliError::BlobTooLarge`].
pub fn sha256_of_input(
    input: &Input,
    limit: Option<(u64, &'static str)>,
) -> Result<Digest, CliError> {
    let read_err = |source| match input {
        Input::File(path) => CliError::ReadFile {
            what: "blob",
            path: path.clone(),
            source,
        },
        Input::Stdin => CliError::ReadFile {
            what: "blob",
            path: PathBuf::from("-"),
            source,
        },
    };
    let reader = input.open("blob")?;
    let mut reader: Box<dyn Read> = match limit {
        Some((max, _)) => Box::new(reader.take(max.saturating_add(1))),
        None => reader,
    };
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        total = total.saturating_add(n as u64);
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    if let Some((max, variable)) = limit
        && total > max
    {
        return Err(CliError::BlobTooLarge {
            input: input.describe(),
            limit: max,
            variable,
        });
    }
    Ok(Digest::from_sha256_bytes(hasher.finalize().into()))
}

/// Reads the predicate, unlocks the key, hashes the blob, signs, writes.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    let prepared = predicate::prepare(&request.predicate, &request.type_name)?;
    if let Some(scanner) = prepared.wrapped_report {
        printer.message(format_args!(
            "Wrapped the {scanner} report `{}` in a cosign vuln predicate",
            request.predicate.display()
        ));
    }
    let stdin = match &request.digest {
        BlobDigest::Read(input) => input.stdin_use(),
        BlobDigest::Given(_) => crate::password::Stdin::Free,
    };
    let key = load_private_key(&request.key, stdin)?;
    let digest = match &request.digest {
        BlobDigest::Read(input) => sha256_of_input(input, None)?,
        BlobDigest::Given(d) => d.clone(),
    };
    let subject = Subject {
        name: request.subject_name.clone(),
        digest,
    };
    let signed = predicate::sign_statement(&key, &subject, &prepared)?;
    if let Some(path) = &request.output_attestation {
        write_output(path, "attestation", &signed.statement)?;
        printer.message(format_args!("Attestation written in {}", path.display()));
    }
    match &request.output_signature {
        Some(path) => {
            write_output(path, "signature", &signed.envelope)?;
            printer.message(format_args!("Signature written in {}", path.display()));
        }
        None => {
            let mut line = signed.envelope;
            line.push(b'\n');
            printer.data(&line)?;
        }
    }
    Ok(ExitStatus::Success)
}

fn write_output(path: &Path, what: &'static str, data: &[u8]) -> Result<(), CliError> {
    files::write_atomic(path, what, data, 0o644, Overwrite::Replace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_flag() {
        let hex = "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24";
        assert_eq!(parse_hex_sha256(hex).unwrap().hex(), hex);
        assert_eq!(
            parse_hex_sha256(&format!("sha256:{}", hex.to_uppercase()))
                .unwrap()
                .hex(),
            hex
        );
        assert!(parse_hex_sha256("abc").is_err());
        assert!(parse_hex_sha256(&format!("{hex}00")).is_err());
    }
}
