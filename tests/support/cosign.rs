//! Running cosign 2.5 offline with keys (no Rekor, no Fulcio).
//!
//! Every [`Cosign`] runs with its own `HOME` (so no docker config or TUF
//! cache from the machine leaks in) and passes the registry's TLS and
//! credential flags from [`registry_flags`].

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::process::{self, DEFAULT_TIMEOUT, Output};
use super::registry::TestRegistry;
use super::tools::tools;

/// Exit code of `cosign verify` when the image has no signatures.
pub const EXIT_NO_SIGNATURES: i32 = 10;
/// Exit code of `cosign verify` when no signature matches the key.
pub const EXIT_NO_MATCHING_SIGNATURE: i32 = 12;

/// A key pair made by `cosign generate-key-pair`.
#[derive(Clone)]
pub struct CosignKeyPair {
    /// `cosign.key` (encrypted, PEM label `ENCRYPTED SIGSTORE PRIVATE KEY`).
    pub private_key: PathBuf,
    /// `cosign.pub`.
    pub public_key: PathBuf,
    /// The password protecting the private key.
    pub password: String,
}

impl std::fmt::Debug for CosignKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignKeyPair")
            .field("private_key", &self.private_key)
            .field("public_key", &self.public_key)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// cosign with an isolated `HOME`.
#[derive(Debug)]
pub struct Cosign {
    home: TempDir,
}

impl Default for Cosign {
    fn default() -> Self {
        Self::new()
    }
}

impl Cosign {
    /// Makes a private `HOME` for cosign.
    pub fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("rsign-cosign-home-")
            .tempdir()
            .expect("creating cosign home");
        Self { home }
    }

    /// A `cosign` command with the isolated environment; `password` goes
    /// into `COSIGN_PASSWORD` (unset when `None`).
    pub fn command(&self, password: Option<&str>) -> Command {
        let mut cmd = Command::new(&tools().cosign);
        cmd.env("HOME", self.home.path())
            .env("TUF_ROOT", self.home.path().join("tuf"))
            .env_remove("DOCKER_CONFIG")
            .env_remove("COSIGN_PASSWORD")
            .env_remove("COSIGN_REPOSITORY");
        if let Some(p) = password {
            cmd.env("COSIGN_PASSWORD", p);
        }
        cmd
    }

    /// Runs `cosign args…`.
    pub fn run(&self, args: &[&str], password: Option<&str>) -> Output {
        let mut cmd = self.command(password);
        cmd.args(args);
        process::run(cmd, DEFAULT_TIMEOUT)
    }

    /// `cosign generate-key-pair` in `dir` (writes `cosign.key`, `cosign.pub`).
    pub fn generate_key_pair(&self, dir: &Path, password: &str) -> CosignKeyPair {
        let mut cmd = self.command(Some(password));
        cmd.current_dir(dir).arg("generate-key-pair");
        process::run(cmd, DEFAULT_TIMEOUT).assert_success();
        let pair = CosignKeyPair {
            private_key: dir.join("cosign.key"),
            public_key: dir.join("cosign.pub"),
            password: password.to_owned(),
        };
        assert!(
            pair.private_key.is_file() && pair.public_key.is_file(),
            "cosign wrote no key pair in {}",
            dir.display()
        );
        pair
    }

    /// `cosign sign --key K --tlog-upload=false --yes [registry flags] [extra] REF`.
    pub fn sign(
        &self,
        registry: &TestRegistry,
        key: &CosignKeyPair,
        reference: &str,
        extra: &[&str],
    ) -> Output {
        let k = key.private_key.display().to_string();
        let mut args = vec!["sign", "--key", &k, "--tlog-upload=false", "--yes"];
        let flags = registry_flags(registry);
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        args.push(reference);
        self.run(&args, Some(&key.password))
    }

    /// `cosign verify --key PUB --insecure-ignore-tlog=true [registry flags] [extra] REF`.
    pub fn verify(
        &self,
        registry: &TestRegistry,
        public_key: &Path,
        reference: &str,
        extra: &[&str],
    ) -> Output {
        let k = public_key.display().to_string();
        let mut args = vec!["verify", "--key", &k, "--insecure-ignore-tlog=true"];
        let flags = registry_flags(registry);
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        args.push(reference);
        self.run(&args, None)
    }
}

/// cosign's registry flags for `registry`: `--allow-http-registry` (plain
/// HTTP) or `--registry-cacert CA` (TLS), plus `--registry-username/-password`.
pub fn registry_flags(registry: &TestRegistry) -> Vec<String> {
    let mut flags = Vec::new();
    match registry.ca_cert_path() {
        Some(ca) => flags.push(format!("--registry-cacert={}", ca.display())),
        None => flags.push("--allow-http-registry".to_owned()),
    }
    if let Some(c) = registry.credentials() {
        flags.push(format!("--registry-username={}", c.username));
        flags.push(format!("--registry-password={}", c.password));
    }
    flags
}
