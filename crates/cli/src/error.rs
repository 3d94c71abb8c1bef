//! The errors of the `rsign` command line, each mapped to an exit code and,
//! where there is something useful to say, a hint.

use std::io;
use std::path::PathBuf;

use rsign_core::blob::BlobError;
use rsign_core::keys::KeyError;

use crate::exit::ExitStatus;
use crate::password::PasswordError;

/// Everything that can make an `rsign` command fail.
///
/// Messages are lowercase, name the file or argument concerned and never
/// repeat their source's text (`main` prints the chain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A file could not be opened or read.
    #[error("failed to read {what} `{}`", path.display())]
    ReadFile {
        /// What the file was supposed to hold ("private key", "blob", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error (from fs-err, which names the path too).
        #[source]
        source: io::Error,
    },
    /// A file is larger than rsign reads for its purpose.
    #[error(
        "{what} `{}` is larger than the limit of {limit} bytes",
        path.display()
    )]
    FileTooLarge {
        /// What the file was supposed to hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// An output file exists and `--force` was not given.
    #[error("refusing to overwrite existing file `{}`", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Writing an output file failed.
    #[error("failed to write {what} `{}`", path.display())]
    WriteFile {
        /// What was being written.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing to standard output failed.
    #[error("failed to write to standard output")]
    Stdout(#[source] io::Error),
    /// The password could not be obtained.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// An encrypted private key could not be loaded.
    #[error("failed to load private key `{}`", path.display())]
    LoadPrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why it did not load.
        #[source]
        source: KeyError,
    },
    /// A public key could not be loaded.
    #[error("failed to load public key `{}`", path.display())]
    LoadPublicKey {
        /// The key file.
        path: PathBuf,
        /// Why it did not load.
        #[source]
        source: KeyError,
    },
    /// An unencrypted private key could not be imported.
    #[error("failed to import private key `{}`", path.display())]
    ImportKey {
        /// The key file.
        path: PathBuf,
        /// Why it was not accepted.
        #[source]
        source: KeyError,
    },
    /// Generating a key failed.
    #[error("failed to generate a key pair")]
    GenerateKey(#[source] KeyError),
    /// Encrypting a private key in cosign's format failed.
    #[error("failed to encrypt the private key")]
    EncryptKey(#[source] KeyError),
    /// Signing a blob failed.
    #[error("failed to sign {input}")]
    SignBlob {
        /// The input, as `` `path` `` or "standard input".
        input: String,
        /// Why.
        #[source]
        source: BlobError,
    },
    /// A blob signature did not verify, or the blob could not be read.
    #[error("failed to verify the signature of {input}")]
    VerifyBlob {
        /// The input, as `` `path` `` or "standard input".
        input: String,
        /// Why.
        #[source]
        source: BlobError,
    },
    /// The `--signature` argument is neither a file nor base64 signature text.
    #[error("`--signature {arg}` is neither an existing file nor base64 signature text")]
    SignatureArg {
        /// The argument as given.
        arg: String,
        /// Why it is not a signature.
        #[source]
        source: BlobError,
    },
    /// The signature file's content is not a base64 signature.
    #[error("signature file `{}` does not hold a base64 signature", path.display())]
    SignatureFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: BlobError,
    },
    /// `--type` is neither one of cosign's short names nor a URI.
    #[error("invalid `--type`")]
    PredicateType {
        /// Why.
        #[source]
        source: rsign_core::intoto::PredicateTypeError,
    },
    /// The predicate file does not suit its `--type`.
    #[error("invalid predicate file `{}`", path.display())]
    Predicate {
        /// The predicate file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rsign_core::intoto::PredicateError,
    },
    /// The statement or envelope built is over the size rsign verifies.
    #[error("the attestation {what} would be {size} bytes, more than the limit of {limit} bytes")]
    AttestationTooLarge {
        /// `statement` or `envelope`.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Signing the DSSE envelope failed.
    #[error("failed to sign the attestation")]
    SignAttestation {
        /// Why.
        #[source]
        source: rsign_core::dsse::DsseError,
    },
    /// A blob attestation did not verify.
    #[error("the attestation does not verify for {input}")]
    VerifyAttestation {
        /// The blob (`` `path` ``) or digest checked.
        input: String,
        /// Why.
        #[source]
        source: rsign_core::verify::VerifyError,
    },
    /// A `--policy` file could not be loaded (unreadable, not Rego, CUE).
    #[error(transparent)]
    Policy(rsign_policy::rego::RegoError),
    /// A blob is larger than `COSIGN_MAX_ATTACHMENT_SIZE` allows.
    #[error("{input} is larger than the limit of {limit} bytes set by `{variable}`")]
    BlobTooLarge {
        /// The blob.
        input: String,
        /// The limit.
        limit: u64,
        /// The variable that set it.
        variable: &'static str,
    },
    /// A cosign flag was given with a value rsign cannot honour.
    #[error("`{flag}` is not supported: {reason}")]
    Unsupported {
        /// The flag as given.
        flag: &'static str,
        /// Why rsign cannot do it.
        reason: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// An image target could not be parsed, opened or resolved.
    #[error(transparent)]
    Target(Box<crate::target::TargetError>),
    /// A command-line value is not acceptable.
    #[error("invalid {flag} `{value}`: {reason}")]
    InvalidArgument {
        /// The flag or argument.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it is not accepted.
        reason: String,
    },
    /// Signing an image's payload failed.
    #[error("{image}: cannot sign the payload")]
    SignImage {
        /// The image, pinned to its digest.
        image: String,
        /// Why.
        #[source]
        source: rsign_core::keys::SignatureError,
    },
    /// An index cannot be read for `--recursive`.
    #[error("{image}: invalid index: {reason}")]
    InvalidIndex {
        /// The index, pinned to its digest.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),
    /// A step of copying, inspecting or cleaning an image failed (save,
    /// load, tree, download, clean).
    #[error("{image}: cannot {step}")]
    ImageStep {
        /// The image as given, or pinned to its digest.
        image: String,
        /// What was being done, e.g. `copy blob sha256:…`.
        step: String,
        /// Why.
        #[source]
        source: Box<rsign_registry::Error>,
    },
    /// Content read from a store or layout is not what it must be.
    #[error("{image}: {what} is malformed: {reason}")]
    Malformed {
        /// The image or layout.
        image: String,
        /// What was read.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Nothing of the requested kind is attached to the image (exit 3).
    #[error("{image}: no {what} attached (looked for `{reference}`)")]
    NoAttachments {
        /// The image, pinned to its digest.
        image: String,
        /// `signatures`, `attestations`, ...
        what: String,
        /// The attachment reference looked up.
        reference: String,
    },
    /// `clean` without `--force` where no confirmation can be asked.
    #[error("refusing to remove the {what} of {image} without confirmation")]
    ConfirmationRequired {
        /// The image.
        image: String,
        /// What would be removed.
        what: String,
    },
    /// `login` could not store the credentials.
    #[error("cannot store the login for {registry}")]
    StoreLogin {
        /// The registry.
        registry: String,
        /// Why.
        #[source]
        source: rsign_registry::CredentialError,
    },
    /// `login`: the registry did not accept the credentials (nothing was stored).
    #[error("{registry} did not accept the credentials of `{username}`; nothing was stored")]
    LoginRejected {
        /// The registry.
        registry: String,
        /// The user name.
        username: String,
        /// The registry's answer.
        #[source]
        source: Box<rsign_registry::Error>,
    },
    /// Reading a password or an answer from standard input failed.
    #[error("failed to read {what} from standard input")]
    ReadStdin {
        /// What was being read.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Admission policies did not load (each problem was printed before).
    #[error("invalid policy: {count} problem(s), listed above")]
    InvalidPolicies {
        /// How many problems were found.
        count: usize,
    },
    /// A keyset file could not be read, changed or written.
    #[error("cannot {action} keyset `{}`", path.display())]
    Keyset {
        /// What was being done (`read`, `write`, `revoke a key in`, ...).
        action: &'static str,
        /// The keyset file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<rsign_core::keyset::KeysetError>,
    },
}

impl CliError {
    /// The process exit status this error maps to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            // A signature was there and did not verify: "something was there,
            // nothing acceptable". Reading errors during verification are 2.
            Self::VerifyBlob {
                source: BlobError::Verify(_),
                ..
            } => ExitStatus::Failure,
            Self::VerifyAttestation {
                source: rsign_core::verify::VerifyError::NoKeys,
                ..
            } => ExitStatus::Error,
            Self::VerifyAttestation { .. } => ExitStatus::Failure,
            Self::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
            Self::NoAttachments { .. } => ExitStatus::NothingToVerify,
            _ => ExitStatus::Error,
        }
    }

    /// Whether this is a closed standard output (`rsign ... | head`), which
    /// is not reported.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// A suggestion printed after the error chain, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::OutputExists { .. } => Some("pass `--force` to overwrite it".into()),
            Self::FileTooLarge { what, .. } => Some(format!("is this really a {what}?")),
            Self::LoadPrivateKey {
                source: KeyError::WrongPassword,
                ..
            } => Some(
                "check the password (from `RSIGN_PASSWORD`, `COSIGN_PASSWORD`, the terminal or standard input)"
                    .into(),
            ),
            Self::LoadPrivateKey {
                source: KeyError::PublicKeyGiven,
                ..
            } => Some("`--key` takes the private key here (e.g. `cosign.key`)".into()),
            Self::LoadPublicKey { .. } => {
                Some("`--key` takes a PEM `PUBLIC KEY` file here (e.g. `cosign.pub`)".into())
            }
            Self::ImportKey {
                source: KeyError::PublicKeyGiven,
                ..
            } => Some("`import-key-pair` needs the private key".into()),
            Self::Password(e) => e.hint().map(str::to_owned),
            Self::Unsupported { hint, .. } => Some((*hint).to_owned()),
            Self::PredicateType { .. } => Some(
                "use custom, slsaprovenance, slsaprovenance1, spdx, spdxjson, cyclonedx, vuln, \
                 openvex, link, or a full predicate type URI"
                    .into(),
            ),
            Self::Policy(rsign_policy::rego::RegoError::CueUnsupported { .. }) => Some(
                "rewrite the policy in Rego (package sigstore, rule isCompliant); see examples/policies/"
                    .into(),
            ),
            Self::Target(e) => e.hint(),
            Self::ConfirmationRequired { .. } => {
                Some("pass `--force` (`-f`) to remove them without asking".into())
            }
            Self::LoginRejected { .. } => Some(
                "check the user name and password; if the registry grants this account no access \
                 to the probe repository, pass `--skip-verify` to store the login unchecked"
                    .into(),
            ),
            Self::ImageStep { source, .. }
                if matches!(**source, rsign_registry::Error::Registry { .. }) =>
            {
                Some(
                "for a registry without TLS pass `--allow-insecure-registry`; for a private CA \
                 `--registry-cacert FILE`; for credentials `--registry-username`/`--registry-password` \
                 or `rsign login`"
                        .into(),
                )
            }
            _ => None,
        }
    }
}
