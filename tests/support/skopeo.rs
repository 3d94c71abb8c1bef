//! Running skopeo 1.18 with cosign-format ("sigstore attachment") signatures.
//!
//! Each [`Skopeo`] has its own `registries.d` that turns on
//! `use-sigstore-attachments` for every docker registry (a `127.0.0.1` scope
//! would not match `127.0.0.1:PORT`), and a default policy that accepts
//! anything (the trixie skopeo is unpacked without containers-common, so
//! there is no `/etc/containers/policy.json`). Verification uses a policy
//! written by [`Skopeo::write_policy`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use tempfile::TempDir;

use super::process::{self, DEFAULT_TIMEOUT, Output};
use super::registry::TestRegistry;
use super::tools::tools;

/// The `signedIdentity` of a `sigstoreSigned` policy requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIdentity {
    /// Same repository, any tag or digest (accepts cosign's repository-only identity).
    MatchRepository,
    /// Same digest, or the exact tag (rejects a repository-only identity).
    MatchRepoDigestOrExact,
    /// Exactly the reference being pulled.
    MatchExact,
    /// This exact reference.
    ExactReference(String),
    /// This exact repository.
    ExactRepository(String),
}

impl SignedIdentity {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::MatchRepository => json!({"type": "matchRepository"}),
            Self::MatchRepoDigestOrExact => json!({"type": "matchRepoDigestOrExact"}),
            Self::MatchExact => json!({"type": "matchExact"}),
            Self::ExactReference(r) => json!({"type": "exactReference", "dockerReference": r}),
            Self::ExactRepository(r) => {
                json!({"type": "exactRepository", "dockerRepository": r})
            }
        }
    }
}

/// skopeo with a private configuration directory.
#[derive(Debug)]
pub struct Skopeo {
    dir: TempDir,
    registries_d: PathBuf,
    accept_policy: PathBuf,
}

impl Default for Skopeo {
    fn default() -> Self {
        Self::new()
    }
}

impl Skopeo {
    /// Writes the registries.d and accept-anything policy into a temp dir.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rsign-skopeo-")
            .tempdir()
            .expect("creating skopeo temp dir");
        let registries_d = dir.path().join("registries.d");
        fs::create_dir_all(&registries_d).expect("creating registries.d");
        fs::write(
            registries_d.join("default.yaml"),
            "default-docker:\n  use-sigstore-attachments: true\n",
        )
        .expect("writing registries.d/default.yaml");
        let accept_policy = dir.path().join("accept.json");
        let policy = json!({"default": [{"type": "insecureAcceptAnything"}]});
        fs::write(&accept_policy, policy.to_string()).expect("writing accept policy");
        Self {
            dir,
            registries_d,
            accept_policy,
        }
    }

    /// The `registries.d` directory passed to every run.
    pub fn registries_d(&self) -> &Path {
        &self.registries_d
    }

    /// A scratch directory that lives as long as this value.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `skopeo --registries.d D --policy P` command (P defaults to accept anything).
    pub fn command(&self, policy: Option<&Path>) -> Command {
        let mut cmd = Command::new(&tools().skopeo);
        cmd.arg("--registries.d")
            .arg(&self.registries_d)
            .arg("--policy")
            .arg(policy.unwrap_or(&self.accept_policy));
        cmd
    }

    /// Runs skopeo with `args` under the accept-anything policy.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(None);
        cmd.args(args);
        process::run(cmd, DEFAULT_TIMEOUT)
    }

    /// Runs skopeo with `args` under `policy`.
    pub fn run_with_policy(&self, policy: &Path, args: &[&str]) -> Output {
        let mut cmd = self.command(Some(policy));
        cmd.args(args);
        process::run(cmd, DEFAULT_TIMEOUT)
    }

    /// Writes a policy that rejects everything except docker images signed
    /// (cosign format) by `public_key` with `identity`; returns its path.
    pub fn write_policy(&self, name: &str, public_key: &Path, identity: SignedIdentity) -> PathBuf {
        let policy = json!({
            "default": [{"type": "reject"}],
            "transports": {"docker": {"": [{
                "type": "sigstoreSigned",
                "keyPath": public_key,
                "signedIdentity": identity.to_json(),
            }]}},
        });
        let path = self.dir.path().join(format!("policy-{name}.json"));
        fs::write(&path, policy.to_string()).expect("writing policy");
        path
    }

    /// Signs `reference` (`127.0.0.1:PORT/repo:tag` or `@sha256:…`) in place:
    /// `copy --all --preserve-digests --sign-by-sigstore-private-key KEY
    /// --sign-passphrase-file F docker://REF docker://REF`. With an index,
    /// skopeo signs the index and every platform image.
    pub fn sign(
        &self,
        registry: &TestRegistry,
        reference: &str,
        private_key: &Path,
        passphrase: &str,
    ) -> Output {
        let pass_file = self.dir.path().join("passphrase");
        fs::write(&pass_file, format!("{passphrase}\n")).expect("writing passphrase file");
        let key = private_key.display().to_string();
        let pass = pass_file.display().to_string();
        let r = format!("docker://{reference}");
        let mut args = vec![
            "copy",
            "--all",
            "--preserve-digests",
            "--sign-by-sigstore-private-key",
            &key,
            "--sign-passphrase-file",
            &pass,
        ];
        let src = src_flags(registry);
        let dst = dest_flags(registry);
        args.extend(src.iter().chain(&dst).map(String::as_str));
        args.extend([r.as_str(), r.as_str()]);
        self.run(&args)
    }

    /// Pulls `reference` into a temp `dir:` under `policy` — skopeo's way of
    /// verifying signatures. `extra` goes before the references (e.g. `--all`).
    pub fn verify_by_copy(
        &self,
        registry: &TestRegistry,
        policy: &Path,
        reference: &str,
        extra: &[&str],
    ) -> Output {
        let out_dir = tempfile::tempdir_in(self.dir.path()).expect("temp output dir");
        let src = format!("docker://{reference}");
        let dst = format!("dir:{}", out_dir.path().display());
        let flags = src_flags(registry);
        let mut args = vec!["copy"];
        args.extend(extra);
        args.extend(flags.iter().map(String::as_str));
        args.extend([src.as_str(), dst.as_str()]);
        self.run_with_policy(policy, &args)
    }

    /// `skopeo inspect --raw docker://REF` (the manifest bytes as stored).
    pub fn inspect_raw(&self, registry: &TestRegistry, reference: &str) -> Output {
        let flags = tls_and_creds("", registry);
        let r = format!("docker://{reference}");
        let mut args = vec!["inspect", "--raw"];
        args.extend(flags.iter().map(String::as_str));
        args.push(&r);
        self.run(&args)
    }
}

/// TLS and credential flags with a prefix (`src-`, `dest-` or none).
fn tls_and_creds(prefix: &str, registry: &TestRegistry) -> Vec<String> {
    let mut flags = Vec::new();
    match registry.cert_dir() {
        Some(dir) => {
            flags.push(format!("--{prefix}tls-verify=true"));
            flags.push(format!("--{prefix}cert-dir={}", dir.display()));
        }
        None => flags.push(format!("--{prefix}tls-verify=false")),
    }
    if let Some(c) = registry.credentials() {
        flags.push(format!("--{prefix}creds={}:{}", c.username, c.password));
    }
    flags
}

/// `--src-tls-verify`/`--src-cert-dir`/`--src-creds` flags for `registry`.
pub fn src_flags(registry: &TestRegistry) -> Vec<String> {
    tls_and_creds("src-", registry)
}

/// `--dest-tls-verify`/`--dest-cert-dir`/`--dest-creds` flags for `registry`.
pub fn dest_flags(registry: &TestRegistry) -> Vec<String> {
    tls_and_creds("dest-", registry)
}
