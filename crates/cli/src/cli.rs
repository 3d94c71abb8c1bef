//! Raw command-line arguments, as clap parses them.
//!
//! These structs hold what the user typed and nothing more; each command
//! turns its `*Args` into a validated request (`commands::<name>::Request`)
//! before doing anything. To add a command: a variant in [`Command`], an
//! `*Args` struct here, a file in `commands/` and one arm in
//! `commands::run`.
//!
//! Flags that cosign spells as Go booleans (`--tlog-upload=false`,
//! `--insecure-ignore-tlog=true`, `--yes`) are accepted in the same forms:
//! bare (true) or with `=true`/`=false`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Sign and verify container images and blobs, compatible with cosign.
#[derive(Debug, Parser)]
#[command(name = "rsign", version, about, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok/verified, 1 verification failed or denied, \
2 usage or other error, 3 nothing to verify."
)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log what rsign does to standard error (`-vv` for more; `RUST_LOG`
    /// overrides). `-d` is accepted as cosign's spelling.
    #[arg(short, long, short_alias = 'd', action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The commands of `rsign`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an ECDSA P-256 key pair in cosign's format (`cosign.key`, `cosign.pub`).
    GenerateKeyPair(GenerateKeyPairArgs),
    /// Encrypt an existing PEM private key in cosign's format.
    ImportKeyPair(ImportKeyPairArgs),
    /// Print the public key of an encrypted private key.
    PublicKey(PublicKeyArgs),
    /// Sign a file with a private key; prints the base64 signature.
    SignBlob(SignBlobArgs),
    /// Verify a file's signature with a public key.
    VerifyBlob(VerifyBlobArgs),
    /// Attest a file: sign an in-toto statement about it (DSSE envelope).
    AttestBlob(AttestBlobArgs),
    /// Verify a DSSE in-toto attestation about a file.
    VerifyBlobAttestation(VerifyBlobAttestationArgs),
    /// Attach a signed in-toto attestation to container images.
    Attest(crate::commands::attest::AttestArgs),
    /// Verify images' attestations, optionally against Rego policies.
    VerifyAttestation(crate::commands::verify_attestation::VerifyAttestationArgs),
    /// Copy an image with its signatures and attestations into an OCI layout.
    Save(crate::commands::save::SaveArgs),
    /// Push an image saved in an OCI layout, attachments included, to a registry.
    Load(crate::commands::load::LoadArgs),
    /// List the signatures, attestations and SBOMs attached to an image.
    Tree(crate::commands::tree::TreeArgs),
    /// Print where an image's signatures (or attestations, SBOMs) are stored.
    Triangulate(crate::commands::triangulate::TriangulateArgs),
    /// Print an image's signatures or attestations as cosign does.
    Download(crate::commands::download::DownloadArgs),
    /// Remove the signatures, attestations and SBOMs attached to an image.
    Clean(crate::commands::clean::CleanArgs),
    /// Store registry credentials in Docker's config.json.
    Login(crate::commands::login::LoginArgs),
    /// Evaluate admission policies (policy-controller CIPs, rsign ImagePolicy) against images.
    Policy(crate::commands::policy::PolicyArgs),
    /// Sign container images (registry or `oci:` layout) with a private key.
    Sign(crate::commands::sign::SignArgs),
    /// Verify container image signatures with public keys.
    Verify(crate::commands::verify::VerifyArgs),
    /// Manage a keyset: rotate, add, revoke and list trusted keys.
    Key(crate::commands::key::KeyArgs),
    /// Sign every image not yet signed by a key (after a rotation), resumably.
    Resign(crate::commands::resign::ResignArgs),
}

/// Where a new key pair is written and whether it may replace files.
#[derive(Debug, Args)]
pub struct OutputKeyArgs {
    /// Write `PREFIX.key` and `PREFIX.pub`.
    #[arg(short = 'o', long, value_name = "PREFIX")]
    pub output_key_prefix: Option<PathBuf>,
    /// Replace existing `PREFIX.key` / `PREFIX.pub` (atomically).
    #[arg(long)]
    pub force: bool,
}

/// `rsign generate-key-pair`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  RSIGN_PASSWORD=secret rsign generate-key-pair --output-key-prefix release
  # writes release.key (mode 0600, encrypted) and release.pub

The password comes from RSIGN_PASSWORD (or COSIGN_PASSWORD), else the terminal \
(asked twice), else the first line of standard input.")]
pub struct GenerateKeyPairArgs {
    /// Output files.
    #[command(flatten)]
    pub output: OutputKeyArgs,
}

/// `rsign import-key-pair`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  RSIGN_PASSWORD=secret rsign import-key-pair --key ec.pem --output-key-prefix imported
  # writes imported.key (cosign's encrypted format) and imported.pub

Accepted: RSA 2048-4096 (PKCS#1 or PKCS#8), ECDSA P-256/P-384/P-521 (SEC1 or \
PKCS#8), Ed25519 (PKCS#8).")]
pub struct ImportKeyPairArgs {
    /// The unencrypted PEM private key to import.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// Output files (default prefix `import-cosign`, as cosign).
    #[command(flatten)]
    pub output: OutputKeyArgs,
    /// Accepted for cosign compatibility; rsign never asks for confirmation.
    #[arg(short = 'y', long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub yes: Option<bool>,
}

/// `rsign public-key`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign public-key --key cosign.key > cosign.pub")]
pub struct PublicKeyArgs {
    /// The encrypted private key.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// Write the PEM public key to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub outfile: Option<PathBuf>,
}

/// `rsign sign-blob`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign sign-blob --key cosign.key --output-signature release.tar.sig release.tar
  cat release.tar | rsign sign-blob --key cosign.key -   # needs RSIGN_PASSWORD

rsign never uploads to a transparency log; `--tlog-upload=false` and `--yes` \
are accepted so cosign command lines work unchanged.")]
pub struct SignBlobArgs {
    /// The encrypted private key.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// Write the base64 signature (no trailing newline, as cosign) to this
    /// file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,
    /// Accepted for cosign compatibility; only `false` is supported.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility; rsign never asks for confirmation.
    #[arg(short = 'y', long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub yes: Option<bool>,
    /// The file to sign (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `rsign verify-blob`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign verify-blob --key cosign.pub --signature release.tar.sig release.tar

Prints `Verified OK` and exits 0; exits 1 when the signature does not verify, \
2 when an input cannot be read. `--insecure-ignore-tlog` is accepted for cosign \
compatibility: rsign never consults a transparency log.")]
pub struct VerifyBlobArgs {
    /// The PEM public key.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// A file holding the base64 signature, or the base64 text itself.
    #[arg(long, value_name = "FILE|BASE64")]
    pub signature: String,
    /// Accepted for cosign compatibility (rsign never checks a transparency log).
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: Option<bool>,
    /// The file to verify (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `rsign attest-blob`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign attest-blob --key cosign.key --predicate provenance.json --type slsaprovenance \\
      --output-signature release.tar.intoto.json release.tar

The statement's subject is the file name and its SHA-256 (or `--hash`). The \
DSSE envelope goes to standard output, or to `--output-signature`; \
`--output-attestation` also writes the unsigned statement.")]
pub struct AttestBlobArgs {
    /// The encrypted private key.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// The predicate file.
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// Predicate type: custom, slsaprovenance, slsaprovenance1, spdx,
    /// spdxjson, cyclonedx, vuln, openvex, link, or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub r#type: String,
    /// The blob's SHA-256 in hex, instead of reading the file.
    #[arg(long, value_name = "HEX")]
    pub hash: Option<String>,
    /// Write the unsigned in-toto statement to this file.
    #[arg(long, value_name = "FILE")]
    pub output_attestation: Option<PathBuf>,
    /// Write the DSSE envelope to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,
    /// Accepted for cosign compatibility; only `false` is supported.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility; rsign never asks for confirmation.
    #[arg(short = 'y', long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub yes: Option<bool>,
    /// The file attested (`-` for standard input); with `--hash` only its name is used.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `rsign verify-blob-attestation`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  rsign verify-blob-attestation --key cosign.pub --signature release.tar.intoto.json \\
      --type slsaprovenance release.tar

Prints `Verified OK` and exits 0; exits 1 when the attestation does not \
verify (signature, subject digest or predicate type), 2 on bad input.")]
pub struct VerifyBlobAttestationArgs {
    /// The PEM public key.
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: PathBuf,
    /// A file holding the DSSE envelope (JSON or base64), or the base64 text itself.
    #[arg(long, value_name = "FILE|BASE64")]
    pub signature: String,
    /// Predicate type required (short name or URI), as cosign's default `custom`.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub r#type: String,
    /// Check the subject digest and predicate type (cosign's default);
    /// `--check-claims=false` checks the signature only.
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub check_claims: Option<bool>,
    /// The digest the subject must name, instead of hashing a file
    /// (`sha256:HEX`).
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// Accepted for cosign compatibility (rsign never checks a transparency log).
    #[arg(long, value_name = "BOOL", num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    pub insecure_ignore_tlog: Option<bool>,
    /// The file attested (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cosign_bool_flags() {
        let cli = Cli::try_parse_from([
            "rsign",
            "sign-blob",
            "--key",
            "k",
            "--tlog-upload=false",
            "-y",
            "f",
        ])
        .unwrap();
        let Command::SignBlob(args) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(args.tlog_upload, Some(false));
        assert_eq!(args.yes, Some(true));
        assert_eq!(args.file, PathBuf::from("f"));
    }

    #[test]
    fn every_command_has_an_example() {
        for sub in Cli::command().get_subcommands() {
            let help = sub.get_after_help().map(|h| h.to_string());
            assert!(
                help.is_some_and(|h| h.contains("rsign ")),
                "{} has no example",
                sub.get_name()
            );
        }
    }
}
