//! `rsign verify-blob-attestation`: check a DSSE attestation about a file,
//! with cosign 2.5's semantics (`--check-claims`, default `--type custom`).
//!
//! With `--check-claims=true` (the default) the envelope must be signed by
//! the key over its PAE, carry an in-toto statement, name the blob's SHA-256
//! (or `--digest`) in one of its subjects, and have the predicate type of
//! `--type`. With `--check-claims=false` only the signature is checked and
//! the blob is not needed. `Verified OK` goes to standard error; exit 1 when
//! the attestation does not verify, 2 on bad input.
//!
//! `COSIGN_MAX_ATTACHMENT_SIZE` (or `RSIGN_MAX_ATTACHMENT_SIZE`, which wins),
//! in bytes, bounds the blob read, as cosign's variable does.

use std::path::{Path, PathBuf};

use rsign_core::Digest;
use rsign_core::dsse::{self, Envelope};
use rsign_core::keys::PublicKey;
use rsign_core::verify::{self, VerifyError};

use super::attest_blob::sha256_of_input;
use super::{Input, load_public_key, predicate};
use crate::cli::VerifyBlobAttestationArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::files;
use crate::output::Printer;

/// Where the DSSE envelope comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeSource {
    /// A file holding the envelope JSON (or its base64).
    File(PathBuf),
    /// The envelope given inline, base64-encoded.
    Inline(String),
}

/// What the subject digest is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The SHA-256 of this input.
    Blob(Input),
    /// This digest (`--digest`).
    Digest(Digest),
    /// Nothing given (only valid with `--check-claims=false`).
    Nothing,
}

/// A validated `verify-blob-attestation`.
#[derive(Debug)]
pub struct Request {
    /// The PEM public key.
    pub key: PathBuf,
    /// The envelope.
    pub envelope: EnvelopeSource,
    /// The predicate type URI required (from `--type`).
    pub type_uri: String,
    /// Whether subject and predicate type are checked.
    pub check_claims: bool,
    /// What the subject must name.
    pub claimed: Claimed,
    /// `--insecure-ignore-tlog` was set (accepted; changes nothing).
    pub insecure_ignore_tlog: bool,
}

impl TryFrom<VerifyBlobAttestationArgs> for Request {
    type Error = CliError;

    fn try_from(args: VerifyBlobAttestationArgs) -> Result<Self, CliError> {
        let type_uri = predicate::type_uri(&args.r#type)?;
        let check_claims = args.check_claims.unwrap_or(true);
        let claimed = match (args.digest, args.file) {
            (Some(_), Some(_)) => {
                return Err(CliError::Unsupported {
                    flag: "--digest",
                    reason: "a digest and a blob were both given",
                    hint: "pass either the blob or `--digest`, not both",
                });
            }
            (Some(d), None) => Claimed::Digest(parse_digest(&d)?),
            (None, Some(f)) => Claimed::Blob(Input::from_arg(f)),
            (None, None) if check_claims => {
                return Err(CliError::Unsupported {
                    flag: "--check-claims=true",
                    reason: "checking the claims needs the blob or its digest",
                    hint: "pass the blob, or `--digest sha256:HEX`, or `--check-claims=false`",
                });
            }
            (None, None) => Claimed::Nothing,
        };
        let envelope = if Path::new(&args.signature).is_file() {
            EnvelopeSource::File(PathBuf::from(args.signature))
        } else {
            EnvelopeSource::Inline(args.signature)
        };
        Ok(Self {
            key: args.key,
            envelope,
            type_uri,
            check_claims,
            claimed,
            insecure_ignore_tlog: args.insecure_ignore_tlog == Some(true),
        })
    }
}

/// `--digest`: `sha256:HEX` (or `sha512:HEX`), or bare SHA-256 hex.
fn parse_digest(text: &str) -> Result<Digest, CliError> {
    let full = if text.contains(':') {
        text.to_owned()
    } else {
        format!("sha256:{text}")
    };
    full.parse().map_err(|_| CliError::Unsupported {
        flag: "--digest",
        reason: "the value is not a digest",
        hint: "pass `sha256:` and 64 hex digits",
    })
}

/// The blob size limit from the environment, if set.
fn size_limit() -> Result<Option<(u64, &'static str)>, CliError> {
    let Some((value, variable)) = crate::env::max_attachment_size() else {
        return Ok(None);
    };
    let limit = value.parse::<u64>().map_err(|_| CliError::Unsupported {
        flag: "COSIGN_MAX_ATTACHMENT_SIZE",
        reason: "the value is not a number of bytes",
        hint: "set it to a whole number of bytes, e.g. 134217728",
    })?;
    Ok(Some((limit, variable)))
}

/// Reads the envelope: a file's JSON (or base64 of it), or inline base64.
fn read_envelope(source: &EnvelopeSource) -> Result<Vec<u8>, CliError> {
    let decode = |text: &str| {
        dsse::decode_base64("signature", text.trim()).map_err(|source| {
            CliError::VerifyAttestation {
                input: "the envelope given with `--signature`".into(),
                source: VerifyError::Envelope { source },
            }
        })
    };
    match source {
        EnvelopeSource::File(path) => {
            let bytes = files::read_bounded(path, "attestation", dsse::MAX_ENVELOPE_BYTES as u64)?;
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
                Ok(bytes.to_vec())
            } else {
                decode(&String::from_utf8_lossy(&bytes))
            }
        }
        EnvelopeSource::Inline(text) => decode(text),
    }
}

/// Only the signature: some signature of the envelope verifies with `key`.
fn check_signature_only(key: &PublicKey, envelope: &[u8]) -> Result<(), VerifyError> {
    let envelope = Envelope::parse(envelope).map_err(|source| VerifyError::Envelope { source })?;
    let pae = envelope.pae();
    if envelope
        .signatures()
        .iter()
        .any(|s| key.verify(&pae, &s.sig).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingKey { keys: 1 })
    }
}

/// Verifies; `Verified OK` on stderr and exit 0, else exit 1.
pub fn run(request: Request, printer: &Printer) -> Result<ExitStatus, CliError> {
    if request.insecure_ignore_tlog {
        printer.warning(
            "`--insecure-ignore-tlog`: rsign never checks a transparency log; \
             this verification rests on the public key alone",
        );
    }
    let key = load_public_key(&request.key)?;
    let envelope = read_envelope(&request.envelope)?;
    if !request.check_claims {
        check_signature_only(&key, &envelope).map_err(|source| CliError::VerifyAttestation {
            input: "the envelope".into(),
            source,
        })?;
        printer.message("Verified OK");
        return Ok(ExitStatus::Success);
    }
    let (digest, input) = match &request.claimed {
        Claimed::Blob(input) => (sha256_of_input(input, size_limit()?)?, input.describe()),
        Claimed::Digest(d) => (d.clone(), d.to_string()),
        Claimed::Nothing => {
            return Err(CliError::Unsupported {
                flag: "--check-claims=true",
                reason: "checking the claims needs the blob or its digest",
                hint: "pass the blob, or `--digest sha256:HEX`",
            });
        }
    };
    let verified = verify::verify_dsse(&[key], &envelope, &digest, Some(&request.type_uri))
        .map_err(|source| CliError::VerifyAttestation { input, source })?;
    tracing::debug!(
        predicate_type = verified.predicate_type(),
        key_id = %verified.key_id().short(),
        "attestation verified"
    );
    printer.message("Verified OK");
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_flag() {
        let hex = "658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24";
        assert_eq!(parse_digest(hex).unwrap().hex(), hex);
        assert_eq!(parse_digest(&format!("sha256:{hex}")).unwrap().hex(), hex);
        assert!(parse_digest("sha256:xyz").is_err());
        assert!(parse_digest("").is_err());
    }
}
