//! A throw-away CNCF distribution registry (`docker-registry serve`) per test.
//!
//! Listens on `127.0.0.1:<free port>`, stores blobs in a temp dir, allows
//! `DELETE`, and optionally requires htpasswd basic auth and/or serves TLS
//! with a per-run test CA and a leaf server certificate (CA:FALSE,
//! SAN IP:127.0.0.1). The registry's log (including its access log) goes to
//! [`TestRegistry::log_path`], so tests can count the requests a client made.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;

use super::process::{self, DEFAULT_TIMEOUT};
use super::tools::tools;

/// User agent of the harness's own HTTP requests; [`TestRegistry::requests`]
/// leaves them out.
pub const PROBE_USER_AGENT: &str = "rsign-test-harness";

/// `Accept` header listing every manifest media type a registry may store.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// How long [`TestRegistry::start`] waits for `/v2/` to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Username and password for a registry with basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password (a test secret; Debug does not print it).
    pub password: String,
}

impl Credentials {
    /// Makes credentials from a user name and password.
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to start a [`TestRegistry`].
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with a per-run test CA.
    pub tls: bool,
    /// Require basic auth with these credentials (htpasswd, bcrypt).
    pub auth: Option<Credentials>,
}

impl RegistryOptions {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Adds TLS.
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Adds basic auth.
    pub fn with_auth(mut self, username: &str, password: &str) -> Self {
        self.auth = Some(Credentials::new(username, password));
        self
    }
}

/// Certificates made for one TLS registry.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The test CA certificate (PEM), the only trust anchor clients need.
    pub ca_cert: PathBuf,
    /// A directory holding only `ca.crt`, for skopeo's `--*-cert-dir`.
    pub cert_dir: PathBuf,
    /// The leaf server certificate (PEM, CA:FALSE, SAN IP:127.0.0.1).
    pub server_cert: PathBuf,
    /// The server's private key (PEM, PKCS#8 P-256).
    pub server_key: PathBuf,
}

/// One line of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    /// HTTP method (`GET`, `HEAD`, `PUT`…).
    pub method: String,
    /// Request URI with query (`/v2/repo/manifests/tag`).
    pub uri: String,
    /// Response status.
    pub status: u16,
    /// Client user agent.
    pub user_agent: String,
}

/// A response from [`TestRegistry::request`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where and how to reach a registry (used by the readiness probe and by
/// [`TestRegistry::request`]).
#[derive(Debug, Clone)]
struct Endpoint {
    port: u16,
    tls: Option<TlsFiles>,
    credentials: Option<Credentials>,
}

/// A running registry; killed when dropped.
pub struct TestRegistry {
    child: Child,
    endpoint: Endpoint,
    dir: TempDir,
    log_path: PathBuf,
}

impl fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRegistry")
            .field("host", &self.host())
            .field("tls", &self.endpoint.tls.is_some())
            .field("credentials", &self.endpoint.credentials)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl TestRegistry {
    /// Starts a registry and waits (bounded) until `GET /v2/` answers.
    /// Panics if it cannot start.
    pub fn start(opts: RegistryOptions) -> TestRegistry {
        let dir = tempfile::Builder::new()
            .prefix("rsign-registry-")
            .tempdir()
            .expect("creating registry temp dir");
        let tls = opts.tls.then(|| make_tls_files(dir.path()));
        let htpasswd = opts.auth.as_ref().map(|c| write_htpasswd(dir.path(), c));
        let log_path = dir.path().join("registry.log");
        // Another process may take the free port between our probe and the
        // registry's bind; retry with a new port a few times.
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let endpoint = Endpoint {
                port: free_port(),
                tls: tls.clone(),
                credentials: opts.auth.clone(),
            };
            let config = write_config(dir.path(), endpoint.port, tls.as_ref(), htpasswd.as_deref());
            let log = fs::File::create(&log_path).expect("creating registry log");
            let mut child = Command::new(&tools().registry)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start docker-registry: {e}"));
            match wait_ready(&mut child, &endpoint, &log_path) {
                Ok(()) => {
                    return TestRegistry {
                        child,
                        endpoint,
                        dir,
                        log_path,
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    assert!(
                        log.contains("address already in use"),
                        "docker-registry did not start:\n{log}"
                    );
                    last_log = log;
                }
            }
        }
        panic!("docker-registry found no free port after 5 attempts:\n{last_log}")
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.endpoint.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let scheme = if self.endpoint.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
    }

    /// `127.0.0.1:PORT/<repo_and_ref>`, e.g. `reference("app:v1")`.
    pub fn reference(&self, repo_and_ref: &str) -> String {
        format!("{}/{}", self.host(), repo_and_ref)
    }

    /// Whether it serves TLS.
    pub fn is_tls(&self) -> bool {
        self.endpoint.tls.is_some()
    }

    /// The TLS files, if it serves TLS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.endpoint.tls.as_ref()
    }

    /// The test CA certificate (PEM), if it serves TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.endpoint.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// A directory with only `ca.crt` (skopeo `--src-cert-dir`/`--dest-cert-dir`).
    pub fn cert_dir(&self) -> Option<&Path> {
        self.endpoint.tls.as_ref().map(|t| t.cert_dir.as_path())
    }

    /// The basic-auth credentials, if auth is on.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.endpoint.credentials.as_ref()
    }

    /// The registry's storage root (filesystem driver).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log file (application log and access log).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits (at most 2 s) until the log stops growing for 100 ms, so that
    /// access-log lines of requests that just finished are written.
    pub fn settle_log(&self) {
        let start = Instant::now();
        let size = || fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
        let mut last = size();
        while start.elapsed() < Duration::from_secs(2) {
            thread::sleep(Duration::from_millis(100));
            let now = size();
            if now == last {
                return;
            }
            last = now;
        }
    }

    /// Access-log entries of client requests (the harness's own probes are
    /// left out), after [`settle_log`](Self::settle_log).
    pub fn requests(&self) -> Vec<AccessLogEntry> {
        self.settle_log();
        self.log()
            .lines()
            .filter_map(parse_access_line)
            .filter(|e| e.user_agent != PROBE_USER_AGENT)
            .collect()
    }

    /// Counts client requests with `method` (`"*"` for any) whose URI
    /// contains `uri_contains`.
    pub fn count_requests(&self, method: &str, uri_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|e| (method == "*" || e.method == method) && e.uri.contains(uri_contains))
            .count()
    }

    /// Sends one request (with basic auth if the registry has credentials)
    /// and returns the response. `headers` are extra request headers.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.endpoint
            .try_request(method, path, headers, true)
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.base_url()))
    }

    /// Sends one request without credentials (e.g. to check that auth is
    /// required).
    pub fn request_anonymous(&self, method: &str, path: &str) -> HttpResponse {
        self.endpoint
            .try_request(method, path, &[], false)
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.base_url()))
    }

    /// `GET /v2/<repo>/manifests/<reference>` accepting OCI and Docker
    /// manifests and indexes. distribution 2.8 answers 404 for an OCI
    /// manifest when the `Accept` header does not list its media type.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> HttpResponse {
        self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", MANIFEST_ACCEPT)],
        )
    }

    /// `GET path` via [`request`](Self::request).
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[])
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET /v2/` until it answers (200, or 401 with auth) or the
/// registry exits or [`START_TIMEOUT`] passes; the error carries the log.
fn wait_ready(child: &mut Child, endpoint: &Endpoint, log_path: &Path) -> Result<(), String> {
    let log = || fs::read_to_string(log_path).unwrap_or_default();
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}\n{}", log()));
        }
        // 200 without auth, 401 with auth: both mean it is serving.
        if let Ok(resp) = endpoint.try_request("GET", "/v2/", &[], false)
            && (resp.status == 200 || resp.status == 401)
        {
            return Ok(());
        }
        if start.elapsed() > START_TIMEOUT {
            return Err(format!(
                "/v2/ did not answer within {START_TIMEOUT:?}\n{}",
                log()
            ));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

impl Endpoint {
    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        with_auth: bool,
    ) -> Result<HttpResponse, String> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: {PROBE_USER_AGENT}\r\nConnection: close\r\n",
            self.port
        );
        if let (true, Some(c)) = (with_auth, &self.credentials) {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            req.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let raw = match &self.tls {
            None => exchange(tcp, req.as_bytes())?,
            Some(t) => {
                let conn = rustls::ClientConnection::new(
                    tls_client_config(&t.ca_cert),
                    rustls::pki_types::ServerName::try_from("127.0.0.1")
                        .map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?;
                exchange(rustls::StreamOwned::new(conn, tcp), req.as_bytes())?
            }
        };
        parse_response(&raw)
    }
}

fn exchange<S: Read + Write>(mut s: S, req: &[u8]) -> Result<Vec<u8>, String> {
    s.write_all(req).map_err(|e| e.to_string())?;
    s.flush().map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        // Go closes TLS without close_notify at times; keep what arrived.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(e.to_string()),
    }
}

/// A rustls client trusting only `ca_cert` (ring provider), as rsign will be.
pub fn tls_client_config(ca_cert: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_cert).expect("reading CA PEM") {
        roots
            .add(cert.expect("parsing CA PEM"))
            .expect("adding test CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_str = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_str.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|e| e.to_string())?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// Parses `127.0.0.1 - user [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"`.
fn parse_access_line(line: &str) -> Option<AccessLogEntry> {
    if line.starts_with("time=") {
        return None;
    }
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_owned();
    let uri = parts.next()?.to_owned();
    let status = rest.split_whitespace().next()?.parse().ok()?;
    let user_agent = rest
        .trim_end()
        .strip_suffix('"')
        .and_then(|r| r.rsplit_once('"'))
        .map(|(_, ua)| ua.to_owned())
        .unwrap_or_default();
    Some(AccessLogEntry {
        method,
        uri,
        status,
        user_agent,
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

fn write_config(dir: &Path, port: u16, tls: Option<&TlsFiles>, htpasswd: Option<&Path>) -> PathBuf {
    let storage = dir.join("storage");
    fs::create_dir_all(&storage).expect("creating storage dir");
    let mut cfg = format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: rsign-test-secret\n",
        storage.display()
    );
    if let Some(t) = tls {
        cfg.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            t.server_cert.display(),
            t.server_key.display()
        ));
    }
    if let Some(h) = htpasswd {
        cfg.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: rsign-test\n    path: {}\n",
            h.display()
        ));
    }
    let path = dir.join("config.yml");
    fs::write(&path, cfg).expect("writing registry config");
    path
}

fn write_htpasswd(dir: &Path, c: &Credentials) -> PathBuf {
    let mut cmd = Command::new(&tools().htpasswd);
    cmd.args(["-Bbn", &c.username, &c.password]);
    let out = process::run(cmd, DEFAULT_TIMEOUT);
    out.assert_success();
    let path = dir.join("htpasswd");
    fs::write(&path, out.stdout).expect("writing htpasswd");
    path
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new(&tools().openssl);
    cmd.current_dir(dir).args(args);
    process::run(cmd, DEFAULT_TIMEOUT).assert_success();
}

/// Makes a P-256 test CA and a leaf server certificate for 127.0.0.1 in
/// `dir/tls` with the openssl CLI.
pub fn make_tls_files(dir: &Path) -> TlsFiles {
    let tls = dir.join("tls");
    let cert_dir = tls.join("certs.d");
    fs::create_dir_all(&cert_dir).expect("creating tls dir");
    fs::write(
        tls.join("openssl.cnf"),
        "[req]\nprompt = no\ndistinguished_name = dn_ca\n\
         [dn_ca]\nCN = rsign test CA\n\
         [dn_leaf]\nCN = 127.0.0.1\n\
         [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [v3_leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )
    .expect("writing openssl.cnf");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-config",
        "openssl.cnf",
        "-x509",
        "-extensions",
        "v3_ca",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]);
    openssl(&tls, &ca);
    let mut csr = vec![
        "req",
        "-config",
        "openssl.cnf",
        "-new",
        "-subj",
        "/CN=127.0.0.1",
    ];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&tls, &csr);
    openssl(
        &tls,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "v3_leaf",
            "-out",
            "server.crt",
        ],
    );
    fs::copy(tls.join("ca.crt"), cert_dir.join("ca.crt")).expect("copying CA cert");
    TlsFiles {
        ca_cert: tls.join("ca.crt"),
        cert_dir,
        server_cert: tls.join("server.crt"),
        server_key: tls.join("server.key"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_access_line;

    #[test]
    fn parses_access_log_line() {
        let e = parse_access_line(
            r#"127.0.0.1 - - [03/Dec/2026:17:12:42 +0000] "HEAD /v2/foo/manifests/latest HTTP/1.1" 404 96 "" "curl/7.88.1""#,
        )
        .unwrap();
        assert_eq!(e.method, "HEAD");
        assert_eq!(e.uri, "/v2/foo/manifests/latest");
        assert_eq!(e.status, 404);
        assert_eq!(e.user_agent, "curl/7.88.1");
        assert!(parse_access_line(r#"time="x" level=info msg="listening""#).is_none());
    }
}
