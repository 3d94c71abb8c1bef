//! The registry client against a small in-process hostile HTTP server: wrong
//! digests, oversize bodies, throttling, server errors, missing content.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsign_core::Digest;
use rsign_registry::docker_config::ConfigSource;
use rsign_registry::{
    Credentials, Error, Reference, RegistryClient, RegistryOptions, Repository, RetryPolicy,
    TagOrDigest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

enum Body {
    /// A complete body with its Content-Length.
    Full(Vec<u8>),
    /// Declares `len` bytes, sends `prefix`, then stalls.
    Declared { len: u64, prefix: Vec<u8> },
    /// Chunked encoding, never ending.
    Endless,
    /// Declares `len` bytes and sends one byte every 100 ms.
    Trickle { len: u64 },
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Reply {
    fn new(status: u16, body: Body) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

struct Server {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections that opened with a TLS ClientHello (HTTPS attempts).
    tls_hellos: Arc<AtomicUsize>,
}

impl Server {
    /// Serves `handler` for every path but `/v2/` (which answers 200, as an
    /// anonymous registry does). The handler also gets how many requests
    /// for the same method and path came before.
    async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_raw(move |seen, before| {
            if seen.path == "/v2/" {
                Reply::new(200, Body::Full(b"{}".to_vec()))
            } else {
                handler(seen, before)
            }
        })
        .await
    }

    /// Serves `handler` for every path, `/v2/` included.
    async fn start_raw(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let tls_hellos = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        let tls_hellos2 = tls_hellos.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let seen = seen2.clone();
                let tls_hellos = tls_hellos2.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, handler, seen, tls_hellos).await;
                });
            }
        });
        Self {
            addr,
            seen,
            tls_hellos,
        }
    }

    fn reference(&self, path: &str) -> Reference {
        format!("{}/{path}", self.addr).parse().unwrap()
    }

    fn hits(&self, method: &str, path_prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .count()
    }

    /// Requests for exactly `path`.
    fn hits_exact(&self, method: &str, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
    tls_hellos: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.first() == Some(&0x16) {
            // A TLS ClientHello: this server speaks plain HTTP only.
            tls_hellos.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            break;
        }
        if head.len() > 64 * 1024 {
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let mut authorization = None;
    let mut content_length = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_owned());
            }
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    // Drain a request body (not needed by these tests beyond keeping the socket sane).
    let mut remaining = content_length;
    while remaining > 0 {
        let n = stream.read(&mut buf[..remaining.min(4096)]).await?;
        if n == 0 {
            break;
        }
        remaining -= n;
    }
    let request = Seen {
        method: method.clone(),
        path: path.clone(),
        authorization,
    };
    let before = {
        let mut seen = seen.lock().unwrap();
        let before = seen
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count();
        seen.push(request.clone());
        before
    };
    let reply = handler(&request, before);
    let reason = match reply.status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nConnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let is_head = method == "HEAD";
    match reply.body {
        Body::Full(bytes) => {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            stream.write_all(out.as_bytes()).await?;
            if !is_head {
                stream.write_all(&bytes).await?;
            }
        }
        Body::Declared { len, prefix } => {
            out.push_str(&format!("Content-Length: {len}\r\n\r\n"));
            stream.write_all(out.as_bytes()).await?;
            stream.write_all(&prefix).await?;
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Body::Trickle { len } => {
            out.push_str(&format!("Content-Length: {len}\r\n\r\n"));
            stream.write_all(out.as_bytes()).await?;
            for _ in 0..len {
                stream.write_all(b" ").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Body::Endless => {
            out.push_str("Transfer-Encoding: chunked\r\n\r\n");
            stream.write_all(out.as_bytes()).await?;
            let chunk = vec![b'{'; 64 * 1024];
            loop {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                stream.write_all(&chunk).await?;
                stream.write_all(b"\r\n").await?;
            }
        }
    }
    stream.shutdown().await
}

fn options() -> RegistryOptions {
    let mut options = RegistryOptions::default();
    options.docker_config = ConfigSource::Disabled;
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(20);
    retry.max_backoff = Duration::from_millis(200);
    retry.total_budget = Duration::from_secs(2);
    retry.max_attempts = 50;
    options.retry = retry;
    options
}

fn client() -> RegistryClient {
    RegistryClient::new(options()).unwrap()
}

fn manifest_bytes() -> Vec<u8> {
    format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[]}}"#).into_bytes()
}

#[tokio::test]
async fn wrong_manifest_body_is_a_digest_mismatch() {
    let good = manifest_bytes();
    let claimed = Digest::sha256_of(&good);
    let claimed_text = claimed.to_string();
    let server = Server::start(move |_, _| {
        // Serves a different body than the digest asked for / claimed.
        Reply::new(
            200,
            Body::Full(b"{\"schemaVersion\":2,\"evil\":true}".to_vec()),
        )
        .header("Content-Type", OCI_MANIFEST)
        .header("Docker-Content-Digest", &claimed_text)
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();

    let err = repo
        .get_manifest(&TagOrDigest::Digest(claimed.clone()))
        .await
        .unwrap_err();
    match &err {
        Error::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &claimed);
            assert_ne!(actual, &claimed);
        }
        other => panic!("expected DigestMismatch, got {other}"),
    }
    // By tag: the Docker-Content-Digest header is the claim checked.
    let err = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    // Integrity failures are not retried.
    assert_eq!(server.hits("GET", "/v2/app/manifests/"), 2);
}

#[tokio::test]
async fn correct_manifest_is_returned_with_its_digest() {
    let good = manifest_bytes();
    let digest = Digest::sha256_of(&good);
    let body = good.clone();
    let server = Server::start(move |seen, _| {
        assert!(
            seen.path.starts_with("/v2/team/app/manifests/"),
            "{}",
            seen.path
        );
        Reply::new(200, Body::Full(body.clone()))
            .header("Content-Type", &format!("{OCI_MANIFEST}; charset=utf-8"))
    })
    .await;
    let repo = client().repository(&server.reference("team/app")).unwrap();
    let m = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.digest, digest);
    assert_eq!(m.bytes, good);
    assert_eq!(m.media_type, OCI_MANIFEST);
    // HEAD without Docker-Content-Digest: resolve falls back to a verified GET.
    let head = repo
        .resolve(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, digest);
    assert_eq!(head.size, good.len() as u64);
    assert_eq!(repo.display_name(), format!("{}/team/app", server.addr));
}

#[tokio::test]
async fn wrong_blob_is_a_digest_mismatch() {
    let server = Server::start(|_, _| Reply::new(200, Body::Full(b"not the blob".to_vec()))).await;
    let repo = client().repository(&server.reference("app")).unwrap();
    let digest = Digest::sha256_of(b"the blob!!!!");
    let err = repo.get_blob(&digest, 12).await.unwrap_err();
    assert!(
        matches!(err, Error::DigestMismatch { what: "blob", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn oversize_manifest_is_refused_before_reading_it() {
    let server = Server::start(|seen, _| {
        if seen.path.ends_with("/declared") {
            Reply::new(
                200,
                Body::Declared {
                    len: 5 * 1024 * 1024,
                    prefix: b"{".to_vec(),
                },
            )
            .header("Content-Type", OCI_MANIFEST)
        } else {
            Reply::new(200, Body::Endless).header("Content-Type", OCI_MANIFEST)
        }
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    let started = Instant::now();
    // Content-Length over the limit: refused at once (the server stalls after one byte,
    // so reading the body would hang until the read timeout).
    let err = repo
        .get_manifest(&TagOrDigest::Tag("declared".into()))
        .await
        .unwrap_err();
    match &err {
        Error::LimitExceeded {
            limit, found, unit, ..
        } => {
            assert_eq!(*limit, 4 * 1024 * 1024);
            assert_eq!(*found, 5 * 1024 * 1024);
            assert_eq!(*unit, "bytes");
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // No Content-Length and an endless body: abandoned once past the limit.
    let err = repo
        .get_manifest(&TagOrDigest::Tag("endless".into()))
        .await
        .unwrap_err();
    match &err {
        Error::LimitExceeded { found, .. } => {
            assert!(
                *found > 4 * 1024 * 1024 && *found < 5 * 1024 * 1024,
                "{found}"
            )
        }
        other => panic!("expected LimitExceeded, got {other}"),
    }
}

#[tokio::test]
async fn oversize_blobs_are_refused() {
    let server = Server::start(|_, _| Reply::new(200, Body::Endless)).await;
    let mut opts = options();
    opts.limits.max_blob_bytes = 1024;
    let repo = RegistryClient::new(opts)
        .unwrap()
        .repository(&server.reference("app"))
        .unwrap();
    let digest = Digest::sha256_of(b"x");
    // Descriptor size over the limit: no request at all.
    let err = repo.get_blob(&digest, 2048).await.unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { found: 2048, .. }),
        "{err}"
    );
    assert_eq!(server.hits("GET", "/v2/app/blobs/"), 0);
    // The registry sends more than the descriptor says: cut off at the size.
    let err = repo.get_blob(&digest, 100).await.unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { limit: 100, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn throttled_then_ok_is_retried() {
    let body = manifest_bytes();
    let digest = Digest::sha256_of(&body);
    let server = Server::start(move |_, before| {
        if before == 0 {
            Reply::new(
                429,
                Body::Full(
                    br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.to_vec(),
                ),
            )
            .header("Retry-After", "0")
        } else {
            Reply::new(200, Body::Full(body.clone())).header("Content-Type", OCI_MANIFEST)
        }
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    let m = repo
        .get_manifest(&TagOrDigest::Digest(digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.digest, digest);
    assert_eq!(server.hits("GET", "/v2/app/manifests/"), 2);
}

#[tokio::test]
async fn server_errors_forever_fail_within_the_budget() {
    let server = Server::start(|_, _| Reply::new(500, Body::Full(b"boom".to_vec()))).await;
    let repo = client().repository(&server.reference("app")).unwrap();
    let started = Instant::now();
    let err = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    let hits = server.hits("GET", "/v2/app/manifests/");
    assert!(hits >= 3, "retried only {hits} times");
    assert!(
        matches!(
            err,
            Error::Registry {
                operation: "fetch manifest",
                ..
            }
        ),
        "{err}"
    );
    let chain = error_chain(&err);
    assert!(chain.contains("gave up after"), "{chain}");
    assert!(chain.contains("HTTP 500"), "{chain}");
    assert!(chain.contains(&format!("{}/app", server.addr)), "{chain}");
}

#[tokio::test]
async fn not_found_is_none() {
    let server = Server::start(|_, _| {
        Reply::new(
            404,
            Body::Full(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                    .to_vec(),
            ),
        )
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    assert!(
        repo.get_manifest(&TagOrDigest::Tag("nope".into()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.resolve(&TagOrDigest::Tag("nope".into()))
            .await
            .unwrap()
            .is_none()
    );
    // Deleting a tag that does not exist succeeds without a DELETE.
    repo.delete_tag("nope").await.unwrap();
    assert_eq!(server.hits("DELETE", "/"), 0);
    assert!(repo.list_tags().await.unwrap().is_empty());
    // A missing blob is an error naming it.
    let err = repo
        .get_blob(&Digest::sha256_of(b"x"), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn credentials_are_sent_but_never_printed() {
    let server = Server::start(|_, _| {
        Reply::new(
            401,
            Body::Full(br#"{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}"#.to_vec()),
        )
        .header("WWW-Authenticate", "Basic realm=\"test\"")
    })
    .await;
    let mut opts = options();
    opts.credentials = Some(Credentials::basic("alice", "s3cr3t-pw"));
    let repo = RegistryClient::new(opts)
        .unwrap()
        .repository(&server.reference("app"))
        .unwrap();
    let err = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap_err();
    let shown = format!("{} | {:?} | {:?}", error_chain(&err), err, repo);
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("401"), "{shown}");
    // 401 is not retried, but answered once: the first GET goes without
    // authorization, the challenge (Basic) is answered with the credentials.
    let seen = server.seen.lock().unwrap().clone();
    let gets: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "GET" && s.path.starts_with("/v2/app/"))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].authorization, None, "{gets:?}");
    assert!(
        gets[1]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{gets:?}"
    );
}

#[tokio::test]
async fn tags_are_listed_across_pages() {
    let server = Server::start(|seen, _| {
        // Page 1 is full (1000 tags), page 2 has the rest.
        let tags: Vec<String> = if seen.path.contains("last=") {
            (1000..1234).map(|i| format!("t{i:05}")).collect()
        } else {
            (0..1000).map(|i| format!("t{i:05}")).collect()
        };
        let body = serde_json::json!({"name": "app", "tags": tags});
        Reply::new(200, Body::Full(serde_json::to_vec(&body).unwrap()))
            .header("Content-Type", "application/json")
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    let tags = repo.list_tags().await.unwrap();
    assert_eq!(tags.len(), 1234);
    assert_eq!(tags.first().map(String::as_str), Some("t00000"));
    assert_eq!(tags.last().map(String::as_str), Some("t01233"));
    assert_eq!(server.hits("GET", "/v2/app/tags/list"), 2);
    let seen = server.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|s| s.path.contains("last=t00999")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_and_reused() {
    let body = manifest_bytes();
    let digest = Digest::sha256_of(&body);
    let realm: Arc<std::sync::OnceLock<String>> = Arc::default();
    let realm2 = realm.clone();
    let server = Server::start_raw(move |seen, _| {
        let challenge = format!(
            "Bearer realm=\"{}\",service=\"hostile\"",
            realm2.get().map(String::as_str).unwrap_or_default()
        );
        let unauthorized = || {
            Reply::new(
                401,
                Body::Full(br#"{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}"#.to_vec()),
            )
            .header("WWW-Authenticate", &challenge)
        };
        if seen.path == "/v2/" {
            return unauthorized();
        }
        if seen.path.starts_with("/token") {
            // The token server wants the user's basic credentials.
            return match seen.authorization.as_deref() {
                Some(a) if a.starts_with("Basic ") => {
                    Reply::new(200, Body::Full(br#"{"token":"opaque-token-123"}"#.to_vec()))
                }
                _ => Reply::new(401, Body::Full(Vec::new())),
            };
        }
        if seen.authorization.as_deref() == Some("Bearer opaque-token-123") {
            Reply::new(200, Body::Full(body.clone())).header("Content-Type", OCI_MANIFEST)
        } else {
            unauthorized()
        }
    })
    .await;
    realm.set(format!("http://{}/token", server.addr)).unwrap();
    let mut opts = options();
    opts.credentials = Some(Credentials::basic("alice", "pw"));
    let client = RegistryClient::new(opts).unwrap();
    for _ in 0..3 {
        // A new handle per round: the token cache belongs to the client.
        let repo = client.repository(&server.reference("team/app")).unwrap();
        let m = repo
            .get_manifest(&TagOrDigest::Tag("v1".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.digest, digest);
        let h = repo
            .resolve(&TagOrDigest::Digest(digest.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(h.digest, digest);
    }
    let seen = server.seen.lock().unwrap().clone();
    let token_requests: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(token_requests.len(), 1, "{token_requests:?}");
    let scope = &token_requests[0].path;
    assert!(
        scope.contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{scope}"
    );
    assert!(scope.contains("service=hostile"), "{scope}");
    // The first manifest GET meets the challenge; every later one reuses the token.
    assert_eq!(server.hits("GET", "/v2/team/app/manifests/"), 4);
    let unauthorized = seen
        .iter()
        .filter(|s| s.path.starts_with("/v2/team/app/") && s.authorization.is_none())
        .count();
    assert_eq!(unauthorized, 1, "{seen:?}");
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[tokio::test]
async fn a_trickling_server_hits_the_request_deadline() {
    let server = Server::start(|_, _| {
        Reply::new(200, Body::Trickle { len: 10_000 }).header("Content-Type", OCI_MANIFEST)
    })
    .await;
    let mut opts = options();
    opts.timeouts.request = Duration::from_millis(500);
    opts.retry.max_attempts = 2;
    let repo = RegistryClient::new(opts)
        .unwrap()
        .repository(&server.reference("app"))
        .unwrap();
    let started = Instant::now();
    let err = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap_err();
    // Each attempt is cut at 0.5 s although bytes keep arriving (no read timeout fires).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let chain = error_chain(&err);
    assert!(chain.contains("did not complete within"), "{chain}");
    assert_eq!(server.hits("GET", "/v2/app/manifests/"), 2);
}

#[tokio::test]
async fn an_endless_token_reply_is_refused() {
    let realm: Arc<std::sync::OnceLock<String>> = Arc::default();
    let realm2 = realm.clone();
    let server = Server::start_raw(move |seen, _| {
        if seen.path.starts_with("/token") {
            return Reply::new(200, Body::Endless);
        }
        let challenge = format!(
            "Bearer realm=\"{}\",service=\"s\"",
            realm2.get().map(String::as_str).unwrap_or_default()
        );
        Reply::new(401, Body::Full(Vec::new())).header("WWW-Authenticate", &challenge)
    })
    .await;
    realm.set(format!("http://{}/token", server.addr)).unwrap();
    let repo = client().repository(&server.reference("app")).unwrap();
    let err = repo
        .get_manifest(&TagOrDigest::Tag("v1".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { unit: "bytes", .. }),
        "{}",
        error_chain(&err)
    );
    assert!(err.to_string().contains("token reply"), "{err}");
}

#[tokio::test]
async fn tag_pages_follow_link_headers() {
    let server = Server::start(|seen, _| {
        let (tags, link): (Vec<&str>, Option<&str>) = if seen.path.contains("last=b") {
            (vec!["c"], None)
        } else {
            // A short page that still has a next one: only the Link header says so.
            (
                vec!["a", "b"],
                Some(r#"</v2/app/tags/list?n=1000&last=b>; rel="next""#),
            )
        };
        let body = serde_json::json!({"name": "app", "tags": tags});
        let reply = Reply::new(200, Body::Full(serde_json::to_vec(&body).unwrap()))
            .header("Content-Type", "application/json");
        match link {
            Some(l) => reply.header("Link", l),
            None => reply,
        }
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    assert_eq!(repo.list_tags().await.unwrap(), vec!["a", "b", "c"]);
    assert_eq!(server.hits("GET", "/v2/app/tags/list"), 2);
}

#[tokio::test]
async fn huge_media_types_and_digest_headers_are_not_echoed() {
    let body = manifest_bytes();
    let long = format!("application/{}", "x".repeat(5000));
    let server = Server::start(move |seen, _| {
        if seen.path.ends_with("/badmt") {
            Reply::new(200, Body::Full(body.clone())).header("Content-Type", &long)
        } else {
            Reply::new(200, Body::Full(body.clone()))
                .header("Content-Type", OCI_MANIFEST)
                .header(
                    "Docker-Content-Digest",
                    &format!("sha256:{}", "z".repeat(5000)),
                )
        }
    })
    .await;
    let repo = client().repository(&server.reference("app")).unwrap();
    for tag in ["badmt", "baddigest"] {
        let err = repo
            .get_manifest(&TagOrDigest::Tag(tag.into()))
            .await
            .unwrap_err();
        let shown = error_chain(&err);
        assert!(matches!(err, Error::InvalidContent { .. }), "{shown}");
        assert!(shown.len() < 1000, "{tag}: {} chars", shown.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_probe_the_scheme_once() {
    const N: usize = 24;
    let manifest = manifest_bytes();
    let digest = Digest::sha256_of(&manifest).to_string();
    let server = Server::start(move |_, _| {
        Reply::new(200, Body::Full(manifest.clone()))
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &digest)
    })
    .await;
    let client = client();
    let resolve_all = |wave: &'static str| {
        // All tasks start their request together, after every one is set up.
        let start = Arc::new(tokio::sync::Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let repo = client
                    .repository(&server.reference(&format!("app-{i}")))
                    .unwrap();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    repo.resolve(&TagOrDigest::Tag(wave.into()))
                        .await
                        .unwrap()
                        .is_some()
                })
            })
            .collect();
        async move {
            for handle in handles {
                assert!(handle.await.unwrap());
            }
        }
    };
    resolve_all("v1").await;
    // One probe set: one HTTPS attempt (a ClientHello this plain server
    // drops) and one plain `GET /v2/`, however many requests started at once.
    assert_eq!(server.tls_hellos.load(Ordering::SeqCst), 1);
    assert_eq!(server.hits_exact("GET", "/v2/"), 1);
    assert_eq!(server.hits("HEAD", "/v2/app-"), N);
    // The choice is remembered: a second wave sends no probe.
    resolve_all("v2").await;
    assert_eq!(server.tls_hellos.load(Ordering::SeqCst), 1);
    assert_eq!(server.hits_exact("GET", "/v2/"), 1);
    assert_eq!(server.hits("HEAD", "/v2/app-"), 2 * N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_contact_with_one_registry_does_not_wait_for_another() {
    // A registry whose probes hang (it accepts and never answers) must not
    // hold up the probe of another registry.
    let stuck = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_addr = stuck.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = stuck.accept().await {
            held.push(stream);
        }
    });
    let server = Server::start(|_, _| Reply::new(404, Body::Full(Vec::new()))).await;
    let client = client();
    let stuck_repo = client
        .repository(&format!("{stuck_addr}/app").parse().unwrap())
        .unwrap();
    let stuck_task = tokio::spawn(async move {
        let _ = stuck_repo.resolve(&TagOrDigest::Tag("v1".into())).await;
    });
    // Let the stuck registry's probe start first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let repo = client.repository(&server.reference("app")).unwrap();
    let found = tokio::time::timeout(
        Duration::from_secs(5),
        repo.resolve(&TagOrDigest::Tag("v1".into())),
    )
    .await
    .expect("the second registry waited for the first one's probe")
    .unwrap();
    assert!(found.is_none());
    assert_eq!(server.hits_exact("GET", "/v2/"), 1);
    stuck_task.abort();
}
