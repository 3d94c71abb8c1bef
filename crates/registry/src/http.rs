//! HTTP plumbing shared by registry operations: timeouts, retries with
//! exponential backoff and jitter, bounded body reads, and request errors
//! that never print credentials.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use rsign_core::Digest;
use sha2::Digest as _;

use crate::error::Error;

/// Per-request timeouts.
///
/// Besides the connect and read timeouts (which only bound silences), every
/// attempt of a request has an overall deadline, so a server that trickles
/// bytes cannot hold a request open forever: [`Timeouts::request`] for
/// manifests, tokens, tag pages and deletes, and for blobs
/// `request + size / blob_min_bytes_per_sec` (a 128 MiB blob gets 60 s +
/// 512 s with the defaults). A timed-out attempt is retried like a connection
/// failure, within the [`RetryPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Time allowed to establish a connection (TCP and TLS), default 10 s.
    pub connect: Duration,
    /// Time allowed between two reads of a response, default 30 s.
    pub read: Duration,
    /// Overall deadline of one attempt of a request, default 60 s (the floor for blobs).
    pub request: Duration,
    /// Slowest transfer rate tolerated for blobs, in bytes per second
    /// (default 256 KiB/s); sets the blob deadline together with `request`.
    pub blob_min_bytes_per_sec: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            request: Duration::from_secs(60),
            blob_min_bytes_per_sec: 256 * 1024,
        }
    }
}

impl Timeouts {
    /// The deadline of one attempt to fetch or upload a blob of `size` bytes:
    /// [`Timeouts::request`] plus the time `size` takes at
    /// [`Timeouts::blob_min_bytes_per_sec`].
    pub fn blob_deadline(&self, size: u64) -> Duration {
        let rate = self.blob_min_bytes_per_sec.max(1);
        self.request
            .saturating_add(Duration::from_secs(size / rate))
            .saturating_add(Duration::from_millis(
                (size % rate).saturating_mul(1000) / rate,
            ))
    }
}

/// When to retry a failed request: HTTP 429, 5xx and connection errors are
/// retried with exponential backoff and full jitter, within a bounded number
/// of attempts and a total time budget. Other failures are returned at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts per operation, the first included (default 5; 1 disables retries).
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry (default 250 ms); doubled per retry.
    pub initial_backoff: Duration,
    /// Largest backoff, also the cap on a server's `Retry-After` (default 10 s).
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt (default 60 s).
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            total_budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): a random duration up
    /// to `initial_backoff * 2^(retry-1)`, capped at `max_backoff`, or the
    /// server's `Retry-After` (capped) when it gave one.
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff);
        }
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        let ceiling = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(ceiling_ms / 2..=ceiling_ms.max(1)))
    }
}

/// A failed request to a registry. `Display` never includes credentials or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The registry answered with an unexpected HTTP status.
    #[error("{method} {url} answered HTTP {status}{detail}")]
    Status {
        /// The method.
        method: String,
        /// The URL (never contains credentials).
        url: String,
        /// The status code.
        status: u16,
        /// The registry's error message, shortened, with a hint where one helps.
        detail: String,
    },
    /// The request could not be sent or the response not read.
    #[error("{method} {url} failed")]
    Transport {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The cause (its own URL stripped).
        #[source]
        source: reqwest::Error,
    },
    /// An `oci-client` operation failed.
    #[error("the OCI registry client failed")]
    Oci(#[source] oci_client::errors::OciDistributionError),
    /// An attempt did not complete within its overall deadline.
    #[error("{operation} did not complete within {:.0} s (hint: raise `Timeouts::request` or lower `Timeouts::blob_min_bytes_per_sec`)", after.as_secs_f64())]
    TimedOut {
        /// What was attempted.
        operation: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// Retries were exhausted (attempts or time budget).
    #[error("gave up after {attempts} attempt(s) in {:.1} s", elapsed.as_secs_f64())]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        #[source]
        last: Box<RequestError>,
    },
    /// The registry's answer violates the distribution protocol.
    #[error("{0}")]
    Protocol(String),
}

impl RequestError {
    pub(crate) fn transport(method: &str, url: &str, source: reqwest::Error) -> Self {
        Self::Transport {
            method: method.to_owned(),
            url: redact_url(url),
            source: source.without_url(),
        }
    }

    /// Wraps an oci-client error, turning HTTP statuses into [`RequestError::Status`].
    pub(crate) fn from_oci(e: oci_client::errors::OciDistributionError) -> Self {
        use oci_client::errors::OciDistributionError as E;
        match e {
            E::ServerError { code, url, message } => {
                Self::status("request", &url, code, message.as_bytes())
            }
            E::UnauthorizedError { url } => Self::status("request", &url, 401, b""),
            other => Self::Oci(other),
        }
    }

    pub(crate) fn status(method: &str, url: &str, status: u16, body: &[u8]) -> Self {
        let message = registry_message(body);
        let hint = match status {
            401 => "; hint: check the registry credentials (rsign login, --registry-username)",
            403 => "; hint: the credentials lack permission for this repository",
            _ => "",
        };
        let detail = match message {
            Some(m) => format!(": {m}{hint}"),
            None => hint.to_owned(),
        };
        Self::Status {
            method: method.to_owned(),
            url: redact_url(url),
            status,
            detail,
        }
    }

    /// The HTTP status behind this error, if there is one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Oci(oci_client::errors::OciDistributionError::ServerError { code, .. }) => {
                Some(*code)
            }
            Self::Oci(oci_client::errors::OciDistributionError::UnauthorizedError { .. }) => {
                Some(401)
            }
            Self::Exhausted { last, .. } => last.http_status(),
            _ => None,
        }
    }

    /// Whether trying again may help (429, 5xx, connection trouble).
    pub(crate) fn is_retryable(&self) -> bool {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode};
        match self {
            Self::Status { status, .. } => is_retryable_status(*status),
            Self::TimedOut { .. } => true,
            Self::Transport { source, .. } => is_retryable_transport(source),
            Self::Oci(E::ServerError { code, .. }) => is_retryable_status(*code),
            Self::Oci(E::RequestError(e)) => is_retryable_transport(e),
            Self::Oci(E::RegistryError { envelope, .. }) => envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Toomanyrequests)),
            _ => false,
        }
    }
}

fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status) && status != 501
}

fn is_retryable_transport(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// The first message of a distribution error envelope, shortened; or a
/// shortened plain-text body.
fn registry_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body)
        && let Some(first) = env.errors.first()
    {
        return Some(shorten(&format!("{} {}", first.code, first.message), 200));
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| shorten(text, 200))
}

use crate::error::shorten;

/// A URL fit for messages: scheme, host, port and path only. Userinfo, query
/// and fragment are dropped (upload locations carry session state and
/// presigned-URL signatures in the query), and the result is shortened.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            // Ignored results: these fail only for URLs that cannot carry userinfo.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            shorten(u.as_str(), 300)
        }
        Err(_) => {
            let cut = url.find(['?', '#']).unwrap_or(url.len());
            let head = url.get(..cut).unwrap_or(url);
            let head = head.rsplit_once('@').map_or(head, |(_, h)| h);
            shorten(head, 300)
        }
    }
}

/// The outcome of one attempt, as the retry loop sees it.
pub(crate) struct AttemptError {
    pub(crate) error: AttemptKind,
    /// The server's `Retry-After`, when it sent one.
    pub(crate) retry_after: Option<Duration>,
}

/// What failed in an attempt.
pub(crate) enum AttemptKind {
    /// A request failure; retried when [`RequestError::is_retryable`].
    Request(RequestError),
    /// A final failure (digest mismatch, limit, …); never retried.
    Final(Error),
}

impl From<RequestError> for AttemptError {
    fn from(e: RequestError) -> Self {
        Self {
            error: AttemptKind::Request(e),
            retry_after: None,
        }
    }
}

impl From<Error> for AttemptError {
    fn from(e: Error) -> Self {
        Self {
            error: AttemptKind::Final(e),
            retry_after: None,
        }
    }
}

impl fmt::Debug for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            AttemptKind::Request(e) => write!(f, "AttemptError({e})"),
            AttemptKind::Final(e) => write!(f, "AttemptError({e})"),
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy's attempts
/// or time budget are used up. Each attempt is abandoned (and counts as a
/// retryable failure) after `deadline`. `operation` and `location` name the failure.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Duration,
    operation: &'static str,
    location: &str,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let started = Instant::now();
    let max_attempts = policy.max_attempts.max(1);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let failure = match tokio::time::timeout(deadline, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(f)) => f,
            Err(_) => RequestError::TimedOut {
                operation,
                after: deadline,
            }
            .into(),
        };
        let request_error = match failure.error {
            AttemptKind::Final(e) => return Err(e),
            AttemptKind::Request(e) => e,
        };
        let registry_error = |source: RequestError| Error::Registry {
            operation,
            location: location.to_owned(),
            source: Box::new(source),
        };
        if !request_error.is_retryable() {
            return Err(registry_error(request_error));
        }
        let delay = policy.delay(attempts, failure.retry_after);
        let elapsed = started.elapsed();
        if attempts >= max_attempts || elapsed + delay > policy.total_budget {
            return Err(registry_error(RequestError::Exhausted {
                attempts,
                elapsed,
                last: Box::new(request_error),
            }));
        }
        tracing::debug!(operation, location, attempt = attempts, ?delay, error = %request_error, "retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Parses a `Retry-After` header given in seconds (HTTP dates are ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Reads a response body of at most `limit` bytes, hashing it on the way.
/// A `Content-Length` over the limit is refused before reading; a body that
/// grows past the limit is abandoned at that point.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
    exceeded: impl Fn(u64) -> Error,
    method: &str,
    url: &str,
) -> Result<(Vec<u8>, Digest), AttemptError> {
    if let Some(len) = response.content_length().filter(|&len| len > limit) {
        return Err(exceeded(len).into());
    }
    let capacity = response
        .content_length()
        .unwrap_or(0)
        .min(limit)
        .min(1 << 20);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| RequestError::transport(method, url, e))?
    {
        let total = body.len() as u64 + chunk.len() as u64;
        if total > limit {
            return Err(exceeded(total).into());
        }
        hasher.update(&chunk);
        body.extend_from_slice(&chunk);
    }
    let digest = Digest::from_sha256_bytes(hasher.finalize().into());
    Ok((body, digest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            total_budget: Duration::from_secs(60),
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = p.delay(3, None);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            assert!(p.delay(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(100))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(10))),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn classification() {
        for (status, retry) in [
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (501, false),
            (404, false),
            (401, false),
            (400, false),
        ] {
            let e = RequestError::status("GET", "http://x/v2/", status, b"");
            assert_eq!(e.is_retryable(), retry, "{status}");
            assert_eq!(e.http_status(), Some(status));
        }
    }

    #[test]
    fn status_messages_are_short_and_hinted() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let e = RequestError::status("GET", "https://r/v2/a/manifests/t", 401, body);
        let s = e.to_string();
        assert!(
            s.contains("HTTP 401: UNAUTHORIZED authentication required"),
            "{s}"
        );
        assert!(s.contains("hint"), "{s}");
        let long = "x".repeat(5000);
        let s = RequestError::status("GET", "u", 500, long.as_bytes()).to_string();
        assert!(s.len() < 400, "{}", s.len());
    }

    #[test]
    fn urls_in_errors_are_redacted() {
        let e = RequestError::status(
            "PUT",
            "https://user:secret@r.example/v2/a/blobs/uploads/u?_state=SECRETSTATE&X-Amz-Signature=abc#frag",
            500,
            b"",
        );
        let s = e.to_string();
        assert!(s.contains("https://r.example/v2/a/blobs/uploads/u"), "{s}");
        for leak in ["secret", "SECRETSTATE", "Signature", "frag", "user"] {
            assert!(!s.contains(leak), "{leak} in {s}");
        }
        assert_eq!(redact_url("not a url?x=1"), "not a url");
    }

    #[test]
    fn oci_errors_are_not_printed_twice() {
        let inner =
            oci_client::errors::OciDistributionError::GenericError(Some("inner cause".to_owned()));
        let e = RequestError::Oci(inner);
        assert!(!e.to_string().contains("inner cause"), "{e}");
        let src = std::error::Error::source(&e).unwrap().to_string();
        assert!(src.contains("inner cause"), "{src}");
    }

    #[test]
    fn blob_deadline_grows_with_size() {
        let t = Timeouts::default();
        assert_eq!(t.blob_deadline(0), Duration::from_secs(60));
        assert_eq!(t.blob_deadline(128 << 20), Duration::from_secs(60 + 512));
        assert!(t.blob_deadline(u64::MAX) > Duration::from_secs(1 << 40));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_attempts_hit_the_deadline_and_are_retried() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
            total_budget: Duration::from_secs(600),
        };
        let mut calls = 0u32;
        let started = Instant::now();
        let result: Result<(), Error> =
            with_retries(&policy, Duration::from_secs(5), "test", "loc", || {
                calls += 1;
                async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                }
            })
            .await;
        let err = result.unwrap_err();
        assert_eq!(calls, 3);
        assert!(started.elapsed() < Duration::from_secs(60));
        let chain = format!("{:?}", err);
        assert!(chain.contains("TimedOut"), "{chain}");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_budget() {
        let policy = RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            total_budget: Duration::from_secs(3),
        };
        let mut calls = 0u32;
        let result: Result<(), Error> =
            with_retries(&policy, Duration::from_secs(60), "test", "loc", || {
                calls += 1;
                async { Err(RequestError::status("GET", "u", 503, b"").into()) }
            })
            .await;
        let err = result.unwrap_err();
        assert!(matches!(&err, Error::Registry { .. }), "{err}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.starts_with("gave up after"), "{source}");
        assert!(calls > 3 && calls < 100, "{calls}");

        let mut calls = 0u32;
        let result: Result<(), Error> =
            with_retries(&policy, Duration::from_secs(60), "test", "loc", || {
                calls += 1;
                async { Err(RequestError::status("GET", "u", 404, b"").into()) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 1, "404 is not retried");
    }
}
