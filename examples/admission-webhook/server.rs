//! HTTPS: routes, body and time limits, the accept loop with a connection
//! cap and TLS handshake timeout, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::webhook::{Webhook, decision_log};

/// Largest request body (an `AdmissionReview` with a big pod is ~100 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time allowed for a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for request headers to arrive (HTTP/1.1).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to finish in-flight requests on shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// State shared by the handlers.
#[derive(Debug)]
pub struct App {
    /// The webhook logic and its evaluator.
    pub webhook: Webhook,
    /// Whole-request budget (body read, evaluation, answer).
    pub request_timeout: Duration,
}

/// The routes: `POST /validate`, `GET /healthz`, and `POST /mutate` when
/// `mutate` is set.
pub fn router(app: Arc<App>, mutate: bool) -> Router {
    let mut router = Router::new()
        .route("/validate", post(validate))
        .route("/healthz", get(healthz));
    if mutate {
        router = router.route("/mutate", post(mutate_handler));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            time_limit,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn validate(State(app): State<Arc<App>>, body: Bytes) -> Response {
    answer(&app, &body, false).await
}

async fn mutate_handler(State(app): State<Arc<App>>, body: Bytes) -> Response {
    answer(&app, &body, true).await
}

/// Bounds the whole request, body upload included (slow clients).
async fn time_limit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(app.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?app.request_timeout, "request timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "rsign: the request did not finish within {:?}\n",
                    app.request_timeout
                ),
            )
                .into_response()
        }
    }
}

async fn answer(app: &App, body: &[u8], mutate: bool) -> Response {
    let start = Instant::now();
    match app.webhook.review(body, mutate).await {
        Err(e) => {
            let message = crate::chain(&e);
            tracing::warn!(error = %message, "bad admission review");
            (StatusCode::BAD_REQUEST, format!("rsign: {message}\n")).into_response()
        }
        Ok(reviewed) => {
            let elapsed = start.elapsed();
            let response = &reviewed.review.response;
            let images: Vec<serde_json::Value> =
                reviewed.decisions.iter().map(decision_log).collect();
            tracing::info!(
                uid = %response.uid,
                subject = %reviewed.subject,
                allowed = response.allowed,
                patched = response.patch.is_some(),
                micros = elapsed.as_micros() as u64,
                images = %serde_json::Value::Array(images),
                "admission review"
            );
            let body = match serde_json::to_vec(&reviewed.review) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode the response");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
            let mut http = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            // Lets benchmarks separate server time from client and network time.
            if let Ok(v) =
                HeaderValue::from_str(&format!("rsign;dur={:.3}", elapsed.as_secs_f64() * 1000.0))
            {
                http.headers_mut().insert("server-timing", v);
            }
            http.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            http
        }
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then
/// drains in-flight requests for at most [`DRAIN_TIMEOUT`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_closed) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let builder = Arc::clone(&builder);
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "connections still open after the drain timeout");
    }
}

/// The address actually bound (for `--listen 127.0.0.1:0`).
pub fn bound(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
