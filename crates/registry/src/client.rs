//! A registry client: TLS, credentials, protocol choice and connection pools,
//! shared by every [`RegistryRepository`] it hands out.
//!
//! TLS always verifies certificates: the system's roots (through
//! `rustls-platform-verifier`) plus any extra CA certificates given. Plain
//! HTTP is used only for loopback registries (`localhost`, `127.0.0.0/8`,
//! `::1`) or when [`RegistryOptions::insecure_allow_http`] is set, and even
//! then HTTPS is preferred (as Docker and cosign do): both are probed at
//! once, once per registry however many requests start together, and HTTPS
//! wins when it answers. A fall-back to plain HTTP is remembered for
//! [`HTTP_CHOICE_TTL`] only, so one transient HTTPS failure does not
//! downgrade a registry for the client's lifetime.
//!
//! Redirects (rsign's own requests) are followed at most
//! [`MAX_REDIRECTS`] times and never from HTTPS to plain HTTP unless plain
//! HTTP is allowed for the target host; reqwest drops the `Authorization`
//! header when a redirect leaves the origin. Uploads go through `oci-client`,
//! which keeps reqwest's default redirect policy.

mod repository;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::auth::Credentials;
use crate::docker_config::{self, ConfigSource};
use crate::error::Error;
use crate::http::{RetryPolicy, Timeouts};
use crate::limits::Limits;
use crate::reference::Reference;

pub use repository::RegistryRepository;

/// How long a choice of plain HTTP for a registry is remembered.
pub const HTTP_CHOICE_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// The `User-Agent` rsign sends.
const USER_AGENT: &str = concat!("rsign/", env!("CARGO_PKG_VERSION"));

/// How a [`RegistryClient`] connects and authenticates.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// Allow plain HTTP to any registry when HTTPS fails (it is always
    /// allowed for loopback registries). Only for testing.
    pub insecure_allow_http: bool,
    /// Extra CA certificates (PEM files, each may hold several) trusted in
    /// addition to the system roots.
    pub ca_certs: Vec<PathBuf>,
    /// Credentials used for every registry, overriding Docker's configuration.
    pub credentials: Option<Credentials>,
    /// Where Docker's `config.json` is (for stored logins and credential helpers).
    pub docker_config: ConfigSource,
    /// Connect and read timeouts per request.
    pub timeouts: Timeouts,
    /// Retries of 429/5xx/connection failures.
    pub retry: RetryPolicy,
    /// Size and count limits on what is read.
    pub limits: Limits,
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("insecure_allow_http", &self.insecure_allow_http)
            .field("ca_certs", &self.ca_certs)
            .field("credentials", &self.credentials)
            .field("docker_config", &self.docker_config)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Which scheme a registry is reached with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }
}

/// What the last scheme probe of a registry found.
#[derive(Debug, Clone, Copy, Default)]
enum Probed {
    /// Not probed yet.
    #[default]
    Never,
    /// `Scheme` answered; probed at that instant.
    Chose(Scheme, Instant),
    /// Neither scheme answered; the probe ended at that instant.
    Failed(Instant),
}

/// A client for OCI registries. Cheap to clone: clones share connection
/// pools, cached credentials, tokens and protocol choices.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: RegistryOptions,
    /// For requests oci-client does not offer (bounded GETs, HEAD, DELETE).
    http: reqwest::Client,
    /// oci-client over HTTPS and over plain HTTP, built on first use (only
    /// uploads need them, and each build loads the system's root store).
    oci_https: OnceLock<oci_client::Client>,
    oci_http: OnceLock<oci_client::Client>,
    /// The extra CA certificates of the options, read once.
    certs: Vec<CertificateDer<'static>>,
    /// Credentials per registry, looked up once.
    credentials: Mutex<HashMap<String, Credentials>>,
    /// Scheme per registry where HTTP is allowed. The async lock of a
    /// registry's slot is held across its probe, so concurrent first
    /// requests to one registry probe once, and different registries do
    /// not wait for each other.
    schemes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Probed>>>>,
    /// Authorization headers for the requests made without oci-client.
    auth_cache: repository::AuthCache,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds a client: reads the CA files, sets up TLS (installing the
    /// `ring` rustls provider if none is installed yet) and the HTTP pools.
    pub fn new(options: RegistryOptions) -> Result<Self, Error> {
        // Ignored error: a provider is already installed, which is what we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = load_ca_certs(&options.ca_certs)?;
        let config_error =
            |what: &str, source: Box<dyn std::error::Error + Send + Sync>| Error::Config {
                what: what.to_owned(),
                source,
            };

        let insecure = options.insecure_allow_http;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let downgrade = attempt.url().scheme() == "http"
                && attempt
                    .previous()
                    .last()
                    .is_some_and(|p| p.scheme() == "https");
            let other_scheme = !matches!(attempt.url().scheme(), "http" | "https");
            if other_scheme {
                return attempt.error("redirect to a scheme other than http(s)");
            }
            if downgrade {
                // `host_str` keeps IPv6 brackets, the form `is_loopback_host` parses.
                let host = attempt.url().host_str().unwrap_or_default();
                if !(insecure || crate::reference::is_loopback_host(host)) {
                    return attempt.error(
                        "refusing a redirect from HTTPS to plain HTTP (hint: insecure_allow_http)",
                    );
                }
            }
            attempt.follow()
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.timeouts.connect)
            .read_timeout(options.timeouts.read)
            .redirect(redirects)
            .user_agent(USER_AGENT);
        let mut reqwest_certs = Vec::with_capacity(certs.len());
        for cert in &certs {
            reqwest_certs.push(
                reqwest::Certificate::from_der(cert.as_ref())
                    .map_err(|e| config_error("cannot use a CA certificate", Box::new(e)))?,
            );
        }
        if !reqwest_certs.is_empty() {
            builder = builder.tls_certs_merge(reqwest_certs);
        }
        let http = builder
            .build()
            .map_err(|e| config_error("cannot build the HTTP client", Box::new(e)))?;

        Ok(Self {
            inner: Arc::new(Inner {
                options,
                http,
                oci_https: OnceLock::new(),
                oci_http: OnceLock::new(),
                certs,
                credentials: Mutex::new(HashMap::new()),
                schemes: Mutex::new(HashMap::new()),
                auth_cache: repository::AuthCache::default(),
            }),
        })
    }

    /// The limits this client enforces.
    pub fn limits(&self) -> &Limits {
        &self.inner.options.limits
    }

    /// The options this client was built with.
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    /// A handle on the repository `reference` names (its tag or digest is
    /// ignored: address manifests through [`crate::Repository`]). Looks up
    /// credentials for the registry once per client; this may run a Docker
    /// credential helper.
    pub fn repository(&self, reference: &Reference) -> Result<RegistryRepository, Error> {
        let credentials = self.credentials_for(reference.registry())?;
        Ok(RegistryRepository::new(
            self.clone(),
            reference,
            credentials,
        ))
    }

    fn credentials_for(&self, registry: &str) -> Result<Credentials, Error> {
        if let Some(explicit) = &self.inner.options.credentials {
            return Ok(explicit.clone());
        }
        if let Some(found) = lock(&self.inner.credentials).get(registry) {
            return Ok(found.clone());
        }
        let found = docker_config::credentials_for(&self.inner.options.docker_config, registry)
            .map_err(|source| Error::Credentials {
                registry: registry.to_owned(),
                source,
            })?;
        lock(&self.inner.credentials).insert(registry.to_owned(), found.clone());
        Ok(found)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The oci-client for `scheme`, built on first use: only uploads need
    /// one, and building one loads the system's root certificates.
    pub(crate) fn oci(&self, scheme: Scheme) -> Result<&oci_client::Client, Error> {
        let (cell, protocol) = match scheme {
            Scheme::Https => (
                &self.inner.oci_https,
                oci_client::client::ClientProtocol::Https,
            ),
            Scheme::Http => (
                &self.inner.oci_http,
                oci_client::client::ClientProtocol::Http,
            ),
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let options = &self.inner.options;
        let config = oci_client::client::ClientConfig {
            protocol,
            extra_root_certificates: self
                .inner
                .certs
                .iter()
                .map(|c| oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Der,
                    data: c.as_ref().to_vec(),
                })
                .collect(),
            platform_resolver: None,
            read_timeout: Some(options.timeouts.read),
            connect_timeout: Some(options.timeouts.connect),
            user_agent: USER_AGENT,
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config).map_err(|e| Error::Config {
            what: "cannot build the OCI client".to_owned(),
            source: Box::new(e),
        })?;
        // Two first uploads may race here; either client serves, one is kept.
        Ok(cell.get_or_init(|| client))
    }

    pub(super) fn auth_cache(&self) -> &repository::AuthCache {
        &self.inner.auth_cache
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.options.retry
    }

    /// Whether plain HTTP may be used for `registry`.
    pub(crate) fn http_allowed(&self, registry: &str) -> bool {
        self.inner.options.insecure_allow_http || crate::reference::is_loopback_host(registry)
    }

    /// The scheme to reach `registry` with: HTTPS, unless plain HTTP is
    /// allowed and HTTPS does not answer at all there. HTTPS once chosen is
    /// kept; plain HTTP is re-probed after [`HTTP_CHOICE_TTL`].
    ///
    /// Both schemes are probed at once (one round trip, not two) and only
    /// one probe per registry runs at a time: requests arriving meanwhile
    /// wait for its answer, including a failed one, instead of probing again.
    pub(crate) async fn scheme(&self, registry: &str) -> Scheme {
        if !self.http_allowed(registry) {
            return Scheme::Https;
        }
        let arrived = Instant::now();
        let slot = {
            let mut schemes = lock(&self.inner.schemes);
            match schemes.get(registry) {
                Some(slot) => slot.clone(),
                None => schemes.entry(registry.to_owned()).or_default().clone(),
            }
        };
        let mut probed = slot.lock().await;
        match *probed {
            Probed::Chose(s, when) if s == Scheme::Https || when.elapsed() < HTTP_CHOICE_TTL => {
                return s;
            }
            // A probe that ended while this request waited found nothing:
            // do not repeat it, let the request report the HTTPS error.
            Probed::Failed(when) if when >= arrived => return Scheme::Https,
            _ => {}
        }
        let chosen = self.probe(registry).await;
        tracing::debug!(
            registry,
            scheme = chosen.map_or("none", Scheme::as_str),
            "registry protocol probed"
        );
        match chosen {
            Some(s) => {
                *probed = Probed::Chose(s, Instant::now());
                s
            }
            None => {
                // Neither answers now: do not remember a choice, let the
                // request report the HTTPS error.
                *probed = Probed::Failed(Instant::now());
                Scheme::Https
            }
        }
    }

    /// Sends `GET /v2/` over HTTPS and plain HTTP at once; HTTPS wins when it
    /// answers (any status), plain HTTP is waited for only when HTTPS fails.
    async fn probe(&self, registry: &str) -> Option<Scheme> {
        use futures::future::{Either, select};
        let send = |scheme: Scheme| {
            let url = format!("{}://{registry}/v2/", scheme.as_str());
            let request = self
                .inner
                .http
                .get(url)
                .timeout(self.inner.options.timeouts.request)
                .send();
            async move { request.await.is_ok() }
        };
        let https = std::pin::pin!(send(Scheme::Https));
        let http = std::pin::pin!(send(Scheme::Http));
        match select(https, http).await {
            Either::Left((true, _)) => Some(Scheme::Https),
            Either::Left((false, http)) => http.await.then_some(Scheme::Http),
            Either::Right((http_ok, https)) => {
                if https.await {
                    Some(Scheme::Https)
                } else {
                    http_ok.then_some(Scheme::Http)
                }
            }
        }
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (the maps hold plain cached values, valid at every point).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads every certificate of every PEM file.
fn load_ca_certs(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut certs = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            operation: "read CA certificate file",
            path: path.clone(),
            source,
        })?;
        let before = certs.len();
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            certs.push(cert.map_err(|e| Error::Config {
                what: format!("CA certificate file `{}` is not valid PEM", path.display()),
                source: Box::new(e),
            })?);
        }
        if certs.len() == before {
            return Err(Error::Config {
                what: format!(
                    "CA certificate file `{}` holds no certificate",
                    path.display()
                ),
                source: "expected at least one `-----BEGIN CERTIFICATE-----` block".into(),
            });
        }
    }
    Ok(certs)
}
