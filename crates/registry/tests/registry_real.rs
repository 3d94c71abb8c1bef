//! The registry client against a real registry (CNCF distribution, Debian's
//! `docker-registry`) with TLS from a test CA and htpasswd basic auth.
//!
//! Ignored by default because it needs `/usr/bin/docker-registry`, `openssl`
//! and `htpasswd` (packages `docker-registry`, `apache2-utils`); run it with
//! `cargo test -p rsign-registry --test registry_real -- --include-ignored`.
//! When a tool is missing the test fails and says which.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rsign_core::Digest;
use rsign_registry::docker_config::{self, ConfigSource};
use rsign_registry::{
    Credentials, Error, Reference, RegistryClient, RegistryOptions, Repository, TagOrDigest,
};

const REGISTRY: &str = "/usr/bin/docker-registry";
const USER: &str = "rsign";
const PASSWORD: &str = "correct horse";

struct Registry {
    child: Child,
    addr: String,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn require(tool: &str) {
    let found = Path::new(tool).is_absolute() && Path::new(tool).exists()
        || Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is missing: install it (apt-get install -y docker-registry apache2-utils openssl) to run this test"
    );
}

/// Makes a CA and a leaf certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rsign test CA",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem"))
        .args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("leaf.key"))
        .arg("-out")
        .arg(p("leaf.csr")));
    std::fs::write(
        p("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("leaf.ext"))
        .arg("-out")
        .arg(p("leaf.pem")));
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

fn start_registry() -> Registry {
    require(REGISTRY);
    require("openssl");
    require("htpasswd");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", USER, PASSWORD])
        .output()
        .unwrap();
    assert!(htpasswd.status.success());
    std::fs::write(dir.path().join("htpasswd"), htpasswd.stdout).unwrap();
    // A free port can be taken by another test between probing and binding:
    // the registry then exits, and we try again on a new port.
    for _attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: rsign-test\n    path: {}\n",
            storage.display(),
            cert.display(),
            key.display(),
            dir.path().join("htpasswd").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut exited = false;
        while std::net::TcpStream::connect(&addr).is_err() {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Someone else may own the port: ours must still be running.
        std::thread::sleep(Duration::from_millis(100));
        if exited || child.try_wait().unwrap().is_some() {
            continue;
        }
        return Registry {
            child,
            addr,
            ca,
            _dir: dir,
        };
    }
    panic!("registry did not start after 5 attempts");
}

fn options(reg: &Registry) -> RegistryOptions {
    let mut o = RegistryOptions::default();
    o.docker_config = ConfigSource::Disabled;
    o.ca_certs = vec![reg.ca.clone()];
    o.credentials = Some(Credentials::basic(USER, PASSWORD));
    o.retry.max_attempts = 2;
    o
}

fn manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256_of(layer).to_string(), "size": layer.len()}]
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs /usr/bin/docker-registry, openssl and htpasswd; run with --include-ignored"]
async fn round_trip_with_tls_and_basic_auth() {
    let reg = start_registry();
    let client = RegistryClient::new(options(&reg)).unwrap();
    let reference: Reference = format!("{}/rsign/app:v1", reg.addr).parse().unwrap();
    let repo = client.repository(&reference).unwrap();
    assert_eq!(repo.display_name(), format!("{}/rsign/app", reg.addr));

    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let config_digest = repo.put_blob(&config).await.unwrap();
    let layer_digest = repo.put_blob(&layer).await.unwrap();
    assert_eq!(config_digest, Digest::sha256_of(&config));
    // Uploading again is skipped (the blob exists) and returns the same digest.
    assert_eq!(repo.put_blob(&layer).await.unwrap(), layer_digest);

    let body = manifest(&config, &layer);
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let digest = repo
        .put_manifest(Some("v1"), media_type, &body)
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256_of(&body));
    repo.put_manifest(Some("v2"), media_type, &body)
        .await
        .unwrap();
    // A second manifest under its own tag, to survive the delete below.
    let other = manifest(&config, b"");
    repo.put_blob(b"").await.unwrap();
    let other_digest = repo
        .put_manifest(Some("other"), media_type, &other)
        .await
        .unwrap();

    let head = repo
        .resolve(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, digest);
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(head.media_type, media_type);
    assert!(
        repo.resolve(&TagOrDigest::Tag("absent".into()))
            .await
            .unwrap()
            .is_none()
    );

    let fetched = repo
        .get_manifest(&TagOrDigest::Digest(digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fetched.bytes, body);
    assert_eq!(fetched.media_type, media_type);
    let by_tag = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_tag.digest, digest);

    assert_eq!(
        repo.get_blob(&layer_digest, layer.len() as u64)
            .await
            .unwrap(),
        layer
    );
    assert_eq!(
        repo.get_blob(&config_digest, config.len() as u64)
            .await
            .unwrap(),
        config
    );

    let mut tags = repo.list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["other", "v1", "v2"]);

    // Deleting v1 deletes its manifest, so v2 (same manifest) goes too.
    repo.delete_tag("v1").await.unwrap();
    assert!(
        repo.resolve(&TagOrDigest::Tag("v1".into()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.get_manifest(&TagOrDigest::Digest(digest.clone()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(repo.list_tags().await.unwrap(), ["other"]);
    repo.delete_tag("v1").await.unwrap();
    let other_head = repo
        .resolve(&TagOrDigest::Tag("other".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other_head.digest, other_digest);

    // A repository that does not exist has no tags.
    let empty = client
        .repository(&format!("{}/nothing/here", reg.addr).parse().unwrap())
        .unwrap();
    assert!(empty.list_tags().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs /usr/bin/docker-registry, openssl and htpasswd; run with --include-ignored"]
async fn tls_is_verified_and_credentials_are_required() {
    let reg = start_registry();
    let reference: Reference = format!("{}/rsign/app", reg.addr).parse().unwrap();
    let tag = TagOrDigest::Tag("v1".into());

    // Without the test CA the server certificate is not trusted (verification is on).
    let mut no_ca = options(&reg);
    no_ca.ca_certs.clear();
    let repo = RegistryClient::new(no_ca)
        .unwrap()
        .repository(&reference)
        .unwrap();
    let err = repo.resolve(&tag).await.unwrap_err();
    let text = chain(&err);
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("failed"),
        "{text}"
    );

    // Wrong password: 401, not retried for ever, password not shown.
    let mut wrong = options(&reg);
    wrong.credentials = Some(Credentials::basic(USER, "wrong-pass-xyz"));
    let repo = RegistryClient::new(wrong)
        .unwrap()
        .repository(&reference)
        .unwrap();
    let err = repo.resolve(&tag).await.unwrap_err();
    let text = chain(&err);
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-pass-xyz"), "{text}");
    assert!(matches!(err, Error::Registry { .. }));

    // Anonymous: 401 as well.
    let mut anon = options(&reg);
    anon.credentials = None;
    let repo = RegistryClient::new(anon)
        .unwrap()
        .repository(&reference)
        .unwrap();
    assert!(chain(&repo.list_tags().await.unwrap_err()).contains("401"));

    // `login` writes config.json; a client reading it is let in.
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.json");
    docker_config::login(
        &reg.addr,
        USER,
        PASSWORD,
        &ConfigSource::File(config_path.clone()),
    )
    .unwrap();
    let mut from_config = options(&reg);
    from_config.credentials = None;
    from_config.docker_config = ConfigSource::File(config_path);
    let repo = RegistryClient::new(from_config)
        .unwrap()
        .repository(&reference)
        .unwrap();
    assert!(repo.resolve(&tag).await.unwrap().is_none());
    assert!(repo.list_tags().await.unwrap().is_empty());
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
