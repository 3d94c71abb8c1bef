//! Docker's `config.json`: stored logins, credential helpers, and `login`.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! Lookup order for a registry: `credHelpers[registry]`, then `credsStore`,
//! then the `auths` entry (base64 `user:password` in `auth`, or
//! `identitytoken`). Helpers are run as `docker-credential-<name> get` with the
//! server URL on stdin and answer `{"Username": …, "Secret": …}`; their output
//! is bounded and they are killed after a timeout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsign_core::fsutil::{ReadBoundedError, WriteStep};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::auth::{CredentialError, Credentials};
use crate::reference::DOCKER_HUB_REGISTRY;

/// Largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// Largest answer read from a credential helper.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;
/// How long a credential helper may take.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// The key Docker uses for Docker Hub in `auths` and with credential helpers.
pub const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";

/// Where to look for Docker's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConfigSource {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    #[default]
    Default,
    /// This file.
    File(PathBuf),
    /// Do not read any Docker configuration.
    Disabled,
}

impl ConfigSource {
    /// The file this source names, if any (`Default` resolved from the environment).
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Self::Default => default_config_path(),
            Self::File(p) => Some(p.clone()),
            Self::Disabled => None,
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`; `None` when neither is set.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// A parsed Docker configuration (only what credential lookup needs).
#[derive(Clone, Default)]
pub struct DockerConfig {
    path: PathBuf,
    auths: BTreeMap<String, Credentials>,
    creds_store: Option<String>,
    cred_helpers: BTreeMap<String, String>,
    /// Where helpers are looked up; `None` means `$PATH`.
    helper_dir: Option<PathBuf>,
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &self.cred_helpers)
            .finish()
    }
}

impl DockerConfig {
    /// Reads `path`; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, CredentialError> {
        let bytes = match read_bounded(path, MAX_CONFIG_BYTES) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::Io {
                    operation: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(path, &bytes).map(Some)
    }

    /// Parses configuration text; `path` is used in messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, CredentialError> {
        let invalid = |reason: String| CredentialError::InvalidConfig {
            path: path.to_owned(),
            reason,
        };
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|source| CredentialError::ParseConfig {
                path: path.to_owned(),
                source,
            })?;
        let mut auths = BTreeMap::new();
        for (key, entry) in raw.auths {
            let creds = decode_auth_entry(&entry)
                .map_err(|reason| invalid(format!("auths entry `{key}`: {reason}")))?;
            auths.insert(normalize_server(&key), creds);
        }
        let cred_helpers = raw
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (normalize_server(&k), v))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            auths,
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
            cred_helpers,
            helper_dir: None,
        })
    }

    /// The credentials this configuration holds for `registry` (a host with
    /// optional port, as in [`crate::Reference::registry`]).
    pub fn credentials_for(&self, registry: &str) -> Result<Credentials, CredentialError> {
        let key = normalize_server(registry);
        let helper = self
            .cred_helpers
            .get(&key)
            .or(self.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper {
            let found = helper_get(
                self.helper_dir.as_deref(),
                helper,
                &server_url(&key),
                HELPER_TIMEOUT,
            )?;
            if !found.is_anonymous() {
                return Ok(found);
            }
        }
        Ok(self.auths.get(&key).cloned().unwrap_or_default())
    }

    /// The helper (suffix of `docker-credential-…`) that stores logins for `registry`, if any.
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        let key = normalize_server(registry);
        self.cred_helpers
            .get(&key)
            .or(self.creds_store.as_ref())
            .map(String::as_str)
    }
}

/// Reads credentials for `registry` from the configuration `source` names.
/// A missing file means anonymous.
pub fn credentials_for(
    source: &ConfigSource,
    registry: &str,
) -> Result<Credentials, CredentialError> {
    let Some(path) = source.path() else {
        return Ok(Credentials::Anonymous);
    };
    match DockerConfig::load(&path)? {
        Some(cfg) => cfg.credentials_for(registry),
        None => Ok(Credentials::Anonymous),
    }
}

fn decode_auth_entry(entry: &RawAuth) -> Result<Credentials, String> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::IdentityToken(Zeroizing::new(token.to_owned())));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = Zeroizing::new(
            BASE64
                .decode(auth.trim())
                .map_err(|_| "`auth` is not base64".to_owned())?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| "`auth` is not UTF-8".to_owned())?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| "`auth` is not `user:password`".to_owned())?;
        return Ok(Credentials::basic(user, pass));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Credentials::basic(u.as_str(), p.as_str())),
        _ => Ok(Credentials::Anonymous),
    }
}

/// Reduces a Docker config key (`https://host:port/v1/`, `host:port`) to
/// `host:port`, with every Docker Hub spelling mapped to `index.docker.io`.
fn normalize_server(key: &str) -> String {
    let s = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_REGISTRY.to_owned(),
        other => other.to_owned(),
    }
}

/// The server URL Docker uses as the key for `registry` (helpers and `auths`).
fn server_url(normalized: &str) -> String {
    if normalized == DOCKER_HUB_REGISTRY {
        DOCKER_HUB_SERVER_URL.to_owned()
    } else {
        normalized.to_owned()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` for `server`.
fn helper_get(
    helper_dir: Option<&Path>,
    helper: &str,
    server: &str,
    timeout: Duration,
) -> Result<Credentials, CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        helper: helper.to_owned(),
        server: server.to_owned(),
        reason,
    };
    let out = run_helper(helper_dir, helper, "get", server.as_bytes(), timeout).map_err(fail)?;
    if !out.success {
        // Helpers report a missing entry as a failure with this text.
        if out.stdout.windows(9).any(|w| w == b"not found")
            || out.stderr.windows(9).any(|w| w == b"not found")
        {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!(
            "exited unsuccessfully: {}",
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("answer is not the expected JSON: {e}")))?;
    let secret = Zeroizing::new(answer.secret);
    if secret.is_empty() {
        return Ok(Credentials::Anonymous);
    }
    if answer.username == "<token>" {
        return Ok(Credentials::IdentityToken(secret));
    }
    Ok(Credentials::Basic {
        username: answer.username,
        password: secret,
    })
}

/// Runs `docker-credential-<helper> store` with `{ServerURL, Username, Secret}`.
fn helper_store(
    helper_dir: Option<&Path>,
    helper: &str,
    server: &str,
    username: &str,
    password: &str,
    timeout: Duration,
) -> Result<(), CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        helper: helper.to_owned(),
        server: server.to_owned(),
        reason,
    };
    let input = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({
            "ServerURL": server,
            "Username": username,
            "Secret": password,
        }))
        .map_err(|e| fail(e.to_string()))?,
    );
    let out = run_helper(helper_dir, helper, "store", &input, timeout).map_err(fail)?;
    if !out.success {
        return Err(fail(format!(
            "store exited unsuccessfully: {}",
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    Ok(())
}

struct HelperOutput {
    success: bool,
    stdout: Zeroizing<Vec<u8>>,
    stderr: Vec<u8>,
}

fn run_helper(
    helper_dir: Option<&Path>,
    helper: &str,
    verb: &str,
    input: &[u8],
    timeout: Duration,
) -> Result<HelperOutput, String> {
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("helper name may hold only letters, digits, `-`, `_` and `.`".to_owned());
    }
    let program = format!("docker-credential-{helper}");
    let program = match helper_dir {
        Some(dir) => dir.join(&program),
        None => PathBuf::from(&program),
    };
    let program_shown = program.display().to_string();
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program_shown}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not an error here.
        let _ = stdin.write_all(input);
    }
    // Each pipe is read on its own thread and handed over through a channel,
    // so waiting for it can be bounded: a process the helper started may keep
    // the pipe open after the helper exits. Such a thread is left behind (it
    // ends when the pipe closes); its buffer is zeroized when dropped.
    let (out_tx, out_rx) = std::sync::mpsc::channel::<Zeroizing<Vec<u8>>>();
    let (err_tx, err_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    if let Some(pipe) = child.stdout.take() {
        std::thread::spawn(move || {
            // Capacity for the whole bounded answer, so growing the buffer rarely leaves copies of the secret.
            let mut buf = Zeroizing::new(Vec::with_capacity(MAX_HELPER_OUTPUT as usize + 1));
            let _ = pipe.take(MAX_HELPER_OUTPUT).read_to_end(&mut buf);
            let _ = out_tx.send(buf);
        });
    } else {
        drop(out_tx);
    }
    if let Some(pipe) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.take(MAX_HELPER_OUTPUT).read_to_end(&mut buf);
            let _ = err_tx.send(buf);
        });
    } else {
        drop(err_tx);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for `{program_shown}`: {e}")),
        }
    };
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let open_pipe = || {
        format!(
            "`{program_shown}` exited but its output stayed open for {} s (a process it started holds it)",
            timeout.as_secs()
        )
    };
    let stdout = match out_rx.recv_timeout(remaining()) {
        Ok(b) => b,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Zeroizing::new(Vec::new()),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(open_pipe()),
    };
    let stderr = match err_rx.recv_timeout(remaining()) {
        Ok(b) => b,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Vec::new(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(open_pipe()),
    };
    Ok(HelperOutput {
        success: status.success(),
        stdout,
        stderr,
    })
}

/// Reads a config file of at most `limit` bytes; FIFOs and devices are
/// refused before opening, so a FIFO cannot hang `login`.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    rsign_core::fsutil::read_bounded(path, limit).map_err(|e| match e {
        ReadBoundedError::Io(e) => e,
        ReadBoundedError::TooLarge { .. } => {
            std::io::Error::other(format!("file is larger than {limit} bytes"))
        }
        other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
    })
}

/// Stores a login for `registry` like `docker login`: through the credential
/// helper configured for it if there is one, else as a base64 `auth` entry in
/// `config.json`. Other entries and settings of the file are preserved; the
/// file is written with mode 0600 and replaced atomically. Returns the file
/// written (or the config consulted, when a helper stored the secret).
pub fn login(
    registry: &str,
    username: &str,
    password: &str,
    config: &ConfigSource,
) -> Result<PathBuf, CredentialError> {
    let path = config.path().ok_or(CredentialError::NoConfigPath)?;
    let key = server_url(&normalize_server(registry));
    let existing = match read_bounded(&path, MAX_CONFIG_BYTES) {
        Ok(b) => Some(Zeroizing::new(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(CredentialError::Io {
                operation: "read",
                path,
                source,
            });
        }
    };
    let mut root: serde_json::Map<String, serde_json::Value> = match &existing {
        Some(bytes) => {
            serde_json::from_slice(bytes).map_err(|source| CredentialError::ParseConfig {
                path: path.clone(),
                source,
            })?
        }
        None => serde_json::Map::new(),
    };
    let parsed = match &existing {
        Some(bytes) => DockerConfig::parse(&path, bytes)?,
        None => DockerConfig::default(),
    };
    let entry = if let Some(helper) = parsed.helper_for(registry) {
        helper_store(
            parsed.helper_dir.as_deref(),
            helper,
            &key,
            username,
            password,
            HELPER_TIMEOUT,
        )?;
        serde_json::json!({})
    } else {
        let raw = Zeroizing::new(format!("{username}:{password}"));
        let encoded = Zeroizing::new(BASE64.encode(raw.as_bytes()));
        serde_json::json!({ "auth": encoded.as_str() })
    };
    let auths = root
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    let Some(auths) = auths.as_object_mut() else {
        return Err(CredentialError::InvalidConfig {
            path,
            reason: "`auths` is not an object".to_owned(),
        });
    };
    // Drop other spellings of the same registry so lookups stay unambiguous.
    let target = normalize_server(registry);
    auths.retain(|k, _| normalize_server(k) != target);
    auths.insert(key, entry);
    let bytes = Zeroizing::new(
        serde_json::to_vec_pretty(&serde_json::Value::Object(root)).map_err(|e| {
            CredentialError::InvalidConfig {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?,
    );
    write_atomically(&path, &bytes)?;
    Ok(path)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CredentialError> {
    let io = |operation: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| CredentialError::Io {
            operation,
            path: p,
            source,
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io("create directory", dir))?;
    }
    rsign_core::fsutil::write_atomic(path, bytes, 0o600).map_err(|e| {
        let operation = match e.step {
            WriteStep::CreateTemp => "create a temporary file in",
            WriteStep::Write => "write",
            WriteStep::Sync => "sync",
            WriteStep::Replace => "replace",
            WriteStep::SyncDir => "sync directory",
            _ => "set permissions of",
        };
        CredentialError::Io {
            operation,
            path: e.path,
            source: e.source,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn basic(c: &Credentials) -> (String, String) {
        match c {
            Credentials::Basic { username, password } => (username.clone(), password.to_string()),
            other => panic!("expected basic credentials, got {other:?}"),
        }
    }

    #[test]
    fn parses_auths_in_every_spelling() {
        let cfg = br#"{
            "auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
                "127.0.0.1:5000": {"auth": "dTpwOnc="},
                "https://ghcr.io": {"username": "x", "password": "y"},
                "token.example": {"identitytoken": "refresh"},
                "empty.example": {}
            },
            "HttpHeaders": {"X-Keep": "1"}
        }"#;
        let cfg = DockerConfig::parse(Path::new("c.json"), cfg).unwrap();
        assert_eq!(
            basic(&cfg.credentials_for("index.docker.io").unwrap()),
            ("hub".into(), "secret".into())
        );
        assert_eq!(
            basic(&cfg.credentials_for("docker.io").unwrap()),
            ("hub".into(), "secret".into())
        );
        // The password may itself contain colons.
        assert_eq!(
            basic(&cfg.credentials_for("127.0.0.1:5000").unwrap()),
            ("u".into(), "p:w".into())
        );
        assert_eq!(
            basic(&cfg.credentials_for("ghcr.io").unwrap()),
            ("x".into(), "y".into())
        );
        assert!(matches!(
            cfg.credentials_for("token.example").unwrap(),
            Credentials::IdentityToken(_)
        ));
        assert!(cfg.credentials_for("empty.example").unwrap().is_anonymous());
        assert!(cfg.credentials_for("other.example").unwrap().is_anonymous());
        assert!(!format!("{cfg:?}").contains("secret"));
        assert!(!format!("{:?}", cfg.credentials_for("docker.io").unwrap()).contains("secret"));
    }

    #[test]
    fn rejects_malformed_auth() {
        for bad in [
            br#"{"auths": {"a": {"auth": "!!!"}}}"#.as_slice(),
            br#"{"auths": {"a": {"auth": "bm9jb2xvbg=="}}}"#,
            br#"{"auths": []}"#,
            b"not json",
        ] {
            assert!(
                matches!(
                    DockerConfig::parse(Path::new("c"), bad),
                    Err(CredentialError::InvalidConfig { .. } | CredentialError::ParseConfig { .. })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn missing_file_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let source = ConfigSource::File(dir.path().join("none.json"));
        assert!(
            credentials_for(&source, "example.com")
                .unwrap()
                .is_anonymous()
        );
        assert!(
            credentials_for(&ConfigSource::Disabled, "example.com")
                .unwrap()
                .is_anonymous()
        );
    }

    #[test]
    fn login_writes_and_preserves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            br#"{"auths":{"other.example":{"auth":"bzpw"},"http://127.0.0.1:5000/v2/":{"auth":"b2xkOm9sZA=="}},"psFormat":"x"}"#,
        )
        .unwrap();
        let source = ConfigSource::File(path.clone());
        login("127.0.0.1:5000", "alice", "pa:ss", &source).unwrap();
        login("docker.io", "bob", "hub", &source).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["psFormat"], "x");
        assert_eq!(json["auths"]["other.example"]["auth"], "bzpw");
        assert!(
            json["auths"].get("http://127.0.0.1:5000/v2/").is_none(),
            "old spelling replaced"
        );
        assert!(json["auths"].get(DOCKER_HUB_SERVER_URL).is_some());
        let cfg = DockerConfig::load(&path).unwrap().unwrap();
        assert_eq!(
            basic(&cfg.credentials_for("127.0.0.1:5000").unwrap()),
            ("alice".into(), "pa:ss".into())
        );
        assert_eq!(
            basic(&cfg.credentials_for("index.docker.io").unwrap()),
            ("bob".into(), "hub".into())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn login_creates_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("config.json");
        login(
            "example.com:8443",
            "u",
            "p",
            &ConfigSource::File(path.clone()),
        )
        .unwrap();
        let cfg = DockerConfig::load(&path).unwrap().unwrap();
        assert_eq!(
            basic(&cfg.credentials_for("example.com:8443").unwrap()),
            ("u".into(), "p".into())
        );
    }

    #[cfg(unix)]
    fn fake_helper(dir: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let helper = dir.join("docker-credential-rsigntest");
        std::fs::write(&helper, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        // Answers for two servers, "not found" otherwise, records `store` input.
        fake_helper(
            dir.path(),
            &format!(
                r#"read -r server
case "$1" in
get)
  if [ "$server" = "helped.example" ]; then
    printf '{{"ServerURL":"%s","Username":"hu","Secret":"hs"}}' "$server"
  elif [ "$server" = "tok.example" ]; then
    printf '{{"Username":"<token>","Secret":"rt"}}'
  elif [ "$server" = "bad.example" ]; then
    printf 'garbage'
  else
    echo "credentials not found in native keychain"; exit 1
  fi;;
store) printf '%s' "$server" > "{}/stored";;
esac"#,
                dir.path().display()
            ),
        );
        let text = r#"{"credHelpers":{"helped.example":"rsigntest","tok.example":"rsigntest","miss.example":"rsigntest","bad.example":"rsigntest"},
                "auths":{"miss.example":{"auth":"ZjpmYg=="}}}"#;
        let mut cfg = DockerConfig::parse(Path::new("c"), text.as_bytes()).unwrap();
        cfg.helper_dir = Some(dir.path().to_owned());
        assert_eq!(
            basic(&cfg.credentials_for("helped.example").unwrap()),
            ("hu".into(), "hs".into())
        );
        assert!(matches!(
            cfg.credentials_for("tok.example").unwrap(),
            Credentials::IdentityToken(_)
        ));
        // The helper says "not found": fall back to the file entry.
        assert_eq!(
            basic(&cfg.credentials_for("miss.example").unwrap()),
            ("f".into(), "fb".into())
        );
        assert!(matches!(
            cfg.credentials_for("bad.example"),
            Err(CredentialError::Helper { .. })
        ));
        // No helper for this registry and no file entry: anonymous, helper not run.
        assert!(cfg.credentials_for("plain.example").unwrap().is_anonymous());

        helper_store(
            Some(dir.path()),
            "rsigntest",
            "srv.example",
            "u",
            "p",
            HELPER_TIMEOUT,
        )
        .unwrap();
        // The first line of the store input is the JSON document.
        let stored = std::fs::read_to_string(dir.path().join("stored")).unwrap();
        assert!(stored.contains("\"ServerURL\":\"srv.example\""), "{stored}");
    }

    #[cfg(unix)]
    #[test]
    fn credential_helper_timeout_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        fake_helper(dir.path(), "exec sleep 30");
        let started = Instant::now();
        let err = helper_get(
            Some(dir.path()),
            "rsigntest",
            "x.example",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = helper_get(Some(dir.path()), "absent", "x.example", HELPER_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("cannot run"), "{err}");
        let err = helper_get(None, "../evil", "x.example", HELPER_TIMEOUT).unwrap_err();
        assert!(matches!(err, CredentialError::Helper { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn a_grandchild_holding_the_output_does_not_hang() {
        let dir = tempfile::tempdir().unwrap();
        // The helper exits at once, leaving a background process with its stdout.
        fake_helper(dir.path(), "sleep 30 &\nexit 0");
        let started = Instant::now();
        let err = helper_get(
            Some(dir.path()),
            "rsigntest",
            "x.example",
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(err.to_string().contains("output stayed open"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
