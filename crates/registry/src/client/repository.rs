//! [`RegistryRepository`]: the [`Repository`] seam over the distribution HTTP API.
//!
//! Reads (manifests, blobs, tag lists) and deletes are made with rsign's own
//! bounded requests, and so is the bearer-token flow for them: on a 401 the
//! `WWW-Authenticate` challenge is parsed (realm, service, scope), a token is
//! fetched from the realm with a bounded read (credentials are sent only to
//! an HTTPS realm, or a plain-HTTP one where HTTP is allowed for its host),
//! and the request is re-sent once. Tokens are cached per registry,
//! repository and access (pull or push) for their `expires_in` (at most
//! [`AUTH_TTL`]); no lock is held across a network call.
//!
//! Uploads (blobs and manifests) still go through `oci-client`, with the
//! residual risks that brings: its token request, and the error bodies of
//! failed uploads, are read without a size bound (each attempt is still cut
//! off by the overall deadline of [`crate::http::Timeouts`]), and it keeps its
//! own copy of the credentials as plain strings for the client's lifetime.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use oci_client::RegistryOperation;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use rsign_core::Digest;

use super::{RegistryClient, Scheme};
use crate::auth::Credentials;
use crate::error::Error;
use crate::http::{self, AttemptError, RequestError};
use crate::reference::Reference;
use crate::store::{FetchedManifest, ManifestHead, Repository, TagOrDigest};

/// The manifest media types asked for: OCI manifest and index, Docker v2 manifest and list.
pub const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// How long an authorization header is reused at most before asking again
/// (bearer tokens of distribution-style token servers last at least 60 s).
const AUTH_TTL: Duration = Duration::from_secs(50);
/// Largest token-server answer read.
const MAX_TOKEN_REPLY_BYTES: u64 = 1 << 20;
/// Largest tag-list page read.
const MAX_TAG_PAGE_BYTES: u64 = 8 << 20;
/// Page size asked for when listing tags.
const TAGS_PAGE: usize = 1000;

/// One repository on a registry, reached over HTTP(S).
#[derive(Clone)]
pub struct RegistryRepository {
    client: RegistryClient,
    registry: String,
    path: String,
    credentials: Credentials,
}

/// Authorization headers per (registry, repository, push?), shared by a
/// client's repositories. A plain mutex: it is never held across an `.await`.
pub(crate) type AuthCache = Arc<std::sync::Mutex<HashMap<(String, String, bool), CachedAuth>>>;

/// One cached `Authorization` header.
pub(crate) struct CachedAuth {
    header: HeaderValue,
    expires: Instant,
}

impl std::fmt::Debug for RegistryRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryRepository")
            .field("repository", &self.display_name())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// An HTTP request, cloneable so it can be re-sent after a 401.
struct Req<'a> {
    method: Method,
    url: String,
    accept: Option<&'a str>,
    op: RegistryOperation,
}

impl RegistryRepository {
    pub(super) fn new(
        client: RegistryClient,
        reference: &Reference,
        credentials: Credentials,
    ) -> Self {
        Self {
            client,
            registry: reference.registry().to_owned(),
            path: reference.path().to_owned(),
            credentials,
        }
    }

    fn oci_ref(&self, target: &TagOrDigest) -> oci_client::Reference {
        match target {
            TagOrDigest::Tag(t) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.path.clone(), t.clone())
            }
            TagOrDigest::Digest(d) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.path.clone(),
                d.to_string(),
            ),
        }
    }

    fn base_url(&self, scheme: Scheme) -> String {
        format!("{}://{}/v2/{}", scheme.as_str(), self.registry, self.path)
    }

    fn manifest_url(&self, scheme: Scheme, target: &TagOrDigest) -> String {
        let reference = match target {
            TagOrDigest::Tag(t) => t.clone(),
            TagOrDigest::Digest(d) => d.to_string(),
        };
        format!("{}/manifests/{reference}", self.base_url(scheme))
    }

    fn location(&self, what: impl std::fmt::Display) -> String {
        format!("{}{what}", self.display_name())
    }

    fn auth_key(&self, op: RegistryOperation) -> (String, String, bool) {
        (
            self.registry.clone(),
            self.path.clone(),
            op == RegistryOperation::Push,
        )
    }

    /// The cached `Authorization` header for `op`, if one is still fresh.
    fn cached_auth(&self, op: RegistryOperation) -> Option<HeaderValue> {
        let cache = super::lock(self.client.auth_cache());
        cache
            .get(&self.auth_key(op))
            .filter(|c| c.expires > Instant::now())
            .map(|c| c.header.clone())
    }

    /// Answers the challenge of a 401 response: a Basic header from the
    /// credentials, or a bearer token fetched from the challenge's realm.
    /// `None` when the challenge cannot be answered (no credentials for
    /// Basic, or an unknown scheme).
    async fn authorize(
        &self,
        op: RegistryOperation,
        challenge: Option<&str>,
    ) -> Result<Option<HeaderValue>, AttemptError> {
        let Some(challenge) = challenge.and_then(Challenge::parse) else {
            return Ok(None);
        };
        let (header, ttl) = match challenge {
            Challenge::Basic => match self.basic_header()? {
                Some(h) => (h, AUTH_TTL),
                None => return Ok(None),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| {
                    let actions = if op == RegistryOperation::Push {
                        "pull,push"
                    } else {
                        "pull"
                    };
                    format!("repository:{}:{actions}", self.path)
                });
                self.fetch_token(&realm, service.as_deref(), &scope).await?
            }
        };
        let mut cache = super::lock(self.client.auth_cache());
        cache.insert(
            self.auth_key(op),
            CachedAuth {
                header: header.clone(),
                expires: Instant::now() + ttl,
            },
        );
        Ok(Some(header))
    }

    /// `Basic base64(user:password)` for basic credentials.
    fn basic_header(&self) -> Result<Option<HeaderValue>, AttemptError> {
        let Credentials::Basic { username, password } = &self.credentials else {
            if matches!(self.credentials, Credentials::IdentityToken(_)) {
                tracing::warn!(
                    registry = self.registry,
                    "identity tokens (OAuth2 refresh tokens) are not supported; accessing the registry anonymously (hint: log in with a username and password)"
                );
            }
            return Ok(None);
        };
        let raw = zeroize::Zeroizing::new(format!("{username}:{}", password.as_str()));
        let text = zeroize::Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
        ));
        sensitive_header(&text).map(Some)
    }

    /// Fetches a bearer token from `realm` (bounded read), sending basic
    /// credentials only over HTTPS or where plain HTTP is allowed.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(HeaderValue, Duration), AttemptError> {
        let protocol = |m: String| AttemptError::from(RequestError::Protocol(m));
        let mut url = reqwest::Url::parse(realm).map_err(|_| {
            protocol(format!(
                "the token realm `{}` of {} is not a URL",
                crate::error::echo(realm),
                self.registry
            ))
        })?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(protocol(format!(
                    "the token realm of {} uses the unsupported scheme `{}`",
                    self.registry,
                    crate::error::echo(other)
                )));
            }
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = service {
                q.append_pair("service", service);
            }
            q.append_pair("scope", scope);
        }
        let shown = http::redact_url(url.as_str());
        let mut builder = self
            .client
            .http()
            .get(url.clone())
            .header(ACCEPT, "application/json");
        if let Some(basic) = self.basic_header()? {
            let host = url.host_str().unwrap_or_default();
            let host_port = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_owned(),
            };
            if !https && !self.client.http_allowed(&host_port) {
                return Err(protocol(format!(
                    "refusing to send credentials to the plain-HTTP token realm {shown}; hint: use an HTTPS realm, or allow HTTP for {host_port} (insecure_allow_http)"
                )));
            }
            builder = builder.header(AUTHORIZATION, basic);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| RequestError::transport("GET", url.as_str(), e))?;
        if !response.status().is_success() {
            let req = Req {
                method: Method::GET,
                url: url.to_string(),
                accept: None,
                op: RegistryOperation::Pull,
            };
            return Err(Self::status_error(&req, response).await);
        }
        let (body, _) = http::read_bounded(
            response,
            MAX_TOKEN_REPLY_BYTES,
            |n| Error::LimitExceeded {
                what: format!("token reply from {shown}"),
                limit: MAX_TOKEN_REPLY_BYTES,
                found: n,
                unit: "bytes",
                hint: "token servers answer with a few KiB; this one is misbehaving".to_owned(),
            },
            "GET",
            url.as_str(),
        )
        .await?;
        let body = zeroize::Zeroizing::new(body);
        #[derive(serde::Deserialize)]
        struct TokenReply {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let reply: TokenReply = serde_json::from_slice(&body)
            .map_err(|_| protocol(format!("the token reply from {shown} is not JSON")))?;
        let expires_in = reply.expires_in;
        // Each token moves into a Zeroizing at once (serde builds plain Strings).
        let token = zeroize::Zeroizing::new(reply.token.unwrap_or_default());
        let access_token = zeroize::Zeroizing::new(reply.access_token.unwrap_or_default());
        let token = [token, access_token]
            .into_iter()
            .find(|t| !t.is_empty())
            .ok_or_else(|| protocol(format!("the token reply from {shown} holds no token")))?;
        let text = zeroize::Zeroizing::new(format!("Bearer {}", token.as_str()));
        let ttl = expires_in
            .map(|s| Duration::from_secs(s.saturating_sub(10)))
            .unwrap_or(AUTH_TTL)
            .min(AUTH_TTL);
        Ok((sensitive_header(&text)?, ttl))
    }

    /// Sends `req` with cached authorization; on 401 answers the challenge once and re-sends.
    async fn send(
        &self,
        _scheme: Scheme,
        req: &Req<'_>,
    ) -> Result<reqwest::Response, AttemptError> {
        let mut auth = self.cached_auth(req.op);
        let mut answered = false;
        loop {
            let mut builder = self.client.http().request(req.method.clone(), &req.url);
            if let Some(accept) = req.accept {
                builder = builder.header(ACCEPT, accept);
            }
            if let Some(auth) = &auth {
                builder = builder.header(AUTHORIZATION, auth.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| RequestError::transport(req.method.as_str(), &req.url, e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !answered {
                answered = true;
                let challenge = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if let Some(header) = self.authorize(req.op, challenge.as_deref()).await? {
                    auth = Some(header);
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Turns an unexpected status into a (possibly retryable) attempt error.
    async fn status_error(req: &Req<'_>, response: reqwest::Response) -> AttemptError {
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        // Read at most 8 KiB of the error body for the message.
        let mut body = Vec::new();
        let mut response = response;
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() > 8192 {
                break;
            }
        }
        AttemptError {
            error: http::AttemptKind::Request(RequestError::status(
                req.method.as_str(),
                &req.url,
                status,
                &body,
            )),
            retry_after,
        }
    }

    /// Sends `method` (HEAD or GET) for the manifest `target`, accepting
    /// every manifest media type: `None` on 404, an error for any other
    /// non-200 status; otherwise the request URL and the response.
    async fn manifest_response(
        &self,
        method: Method,
        target: &TagOrDigest,
    ) -> Result<Option<(String, reqwest::Response)>, AttemptError> {
        let scheme = self.client.scheme(&self.registry).await;
        let accept = MANIFEST_ACCEPT.join(", ");
        let req = Req {
            method,
            url: self.manifest_url(scheme, target),
            accept: Some(&accept),
            op: RegistryOperation::Pull,
        };
        let response = self.send(scheme, &req).await?;
        match response.status() {
            StatusCode::OK => Ok(Some((req.url, response))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::status_error(&req, response).await),
        }
    }

    async fn resolve_once(
        &self,
        target: &TagOrDigest,
    ) -> Result<Option<ManifestHead>, AttemptError> {
        let Some((_, response)) = self.manifest_response(Method::HEAD, target).await? else {
            return Ok(None);
        };
        let headers = response.headers();
        let header_digest = digest_header(headers, &self.location(target))?;
        // reqwest reports a HEAD body's length (0), so read the header itself.
        let size = headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let media_type = content_type(headers);
        if let Some(mt) = &media_type {
            crate::error::check_media_type("manifest", &self.location(target), mt)?;
        }
        match (header_digest, target, size, media_type) {
            (Some(d), TagOrDigest::Digest(want), _, _) if d != *want => {
                Err(Error::DigestMismatch {
                    what: "manifest",
                    location: self.location(target),
                    expected: want.clone(),
                    actual: d,
                }
                .into())
            }
            (Some(digest), _, Some(size), Some(media_type)) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            (None, TagOrDigest::Digest(digest), Some(size), Some(media_type)) => {
                Ok(Some(ManifestHead {
                    digest: digest.clone(),
                    media_type,
                    size,
                }))
            }
            // HEAD did not tell everything: fetch the manifest (bounded, verified).
            _ => Ok(self.get_manifest_once(target).await?.map(|m| ManifestHead {
                size: m.bytes.len() as u64,
                digest: m.digest,
                media_type: m.media_type,
            })),
        }
    }

    async fn get_manifest_once(
        &self,
        target: &TagOrDigest,
    ) -> Result<Option<FetchedManifest>, AttemptError> {
        let Some((url, response)) = self.manifest_response(Method::GET, target).await? else {
            return Ok(None);
        };
        let location = self.location(target);
        let header_digest = digest_header(response.headers(), &location)?;
        let header_media_type = content_type(response.headers());
        let limits = *self.client.limits();
        let what = format!("manifest {location}");
        let (bytes, sha256) = http::read_bounded(
            response,
            limits.max_manifest_bytes,
            |n| limits.manifest_too_large(&what, n),
            "GET",
            &url,
        )
        .await?;
        let expected = match target {
            TagOrDigest::Digest(d) => Some(d.clone()),
            TagOrDigest::Tag(_) => header_digest.clone(),
        };
        let digest = match expected {
            Some(expected) => crate::error::verify_bytes(
                "manifest",
                &location,
                &expected,
                None,
                &bytes,
                Some(sha256),
            )?,
            None => sha256,
        };
        // A digest header that disagrees with a digest-addressed body is also a lie.
        if let (Some(h), TagOrDigest::Digest(_)) = (&header_digest, target)
            && h.algorithm() == digest.algorithm()
            && *h != digest
        {
            return Err(Error::DigestMismatch {
                what: "manifest digest header",
                location,
                expected: digest,
                actual: h.clone(),
            }
            .into());
        }
        let media_type = header_media_type
            .filter(|m| m != "application/octet-stream" && m != "text/plain")
            .or_else(|| media_type_in(&bytes))
            .ok_or_else(|| Error::InvalidContent {
                what: "manifest".to_owned(),
                location: self.location(target),
                reason: "no media type in the Content-Type header or the manifest".to_owned(),
            })?;
        crate::error::check_media_type("manifest", &location, &media_type)?;
        Ok(Some(FetchedManifest {
            digest,
            media_type,
            bytes,
        }))
    }

    async fn get_blob_once(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, AttemptError> {
        let scheme = self.client.scheme(&self.registry).await;
        let req = Req {
            method: Method::GET,
            url: format!("{}/blobs/{digest}", self.base_url(scheme)),
            accept: None,
            op: RegistryOperation::Pull,
        };
        let response = self.send(scheme, &req).await?;
        let location = self.location(format_args!("@{digest}"));
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(Error::NotFound {
                    what: format!("blob {digest}"),
                    location: self.display_name(),
                }
                .into());
            }
            _ => return Err(Self::status_error(&req, response).await),
        }
        let what = format!("blob {location}");
        let (bytes, sha256) = http::read_bounded(
            response,
            size,
            |n| Error::LimitExceeded {
                what: what.clone(),
                limit: size,
                found: n,
                unit: "bytes",
                hint: "the registry sent more bytes than the descriptor's size".to_owned(),
            },
            "GET",
            &req.url,
        )
        .await?;
        crate::error::verify_bytes("blob", &location, digest, Some(size), &bytes, Some(sha256))?;
        Ok(bytes)
    }

    async fn delete_once(&self, digest: &Digest) -> Result<(), AttemptError> {
        let scheme = self.client.scheme(&self.registry).await;
        let req = Req {
            method: Method::DELETE,
            url: self.manifest_url(scheme, &TagOrDigest::Digest(digest.clone())),
            accept: None,
            op: RegistryOperation::Push,
        };
        let response = self.send(scheme, &req).await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            StatusCode::METHOD_NOT_ALLOWED => Err(RequestError::Protocol(format!(
                "DELETE {} is not allowed by the registry (hint: distribution needs `storage.delete.enabled: true`)",
                req.url
            ))
            .into()),
            _ => Err(Self::status_error(&req, response).await),
        }
    }

    /// Runs `f` with retries, each attempt bounded by `Timeouts::request`.
    async fn retry<T, F, Fut>(
        &self,
        operation: &'static str,
        location: &str,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let deadline = self.client.options().timeouts.request;
        self.retry_within(deadline, operation, location, f).await
    }

    /// Runs `f` with retries, each attempt bounded by `deadline`.
    async fn retry_within<T, F, Fut>(
        &self,
        deadline: Duration,
        operation: &'static str,
        location: &str,
        f: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        http::with_retries(self.client.retry_policy(), deadline, operation, location, f).await
    }

    /// One page of the tag list at `url`: the tags and the next page's URL
    /// from a `Link: <…>; rel="next"` header, if any. `None` when the
    /// repository does not exist.
    async fn tags_page_once(
        &self,
        scheme: Scheme,
        url: &str,
    ) -> Result<Option<(Vec<String>, Option<String>)>, AttemptError> {
        let req = Req {
            method: Method::GET,
            url: url.to_owned(),
            accept: Some("application/json"),
            op: RegistryOperation::Pull,
        };
        let response = self.send(scheme, &req).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(Self::status_error(&req, response).await),
        }
        let next = next_link(response.headers(), url, scheme, &self.registry);
        let location = self.display_name();
        let (bytes, _) = http::read_bounded(
            response,
            MAX_TAG_PAGE_BYTES,
            |n| Error::LimitExceeded {
                what: format!("tag list page of {location}"),
                limit: MAX_TAG_PAGE_BYTES,
                found: n,
                unit: "bytes",
                hint: "a page of 1000 tags is far smaller; the registry is misbehaving".to_owned(),
            },
            "GET",
            url,
        )
        .await?;
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let list: TagList = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: "tag list".to_owned(),
            location: location.clone(),
            source,
        })?;
        Ok(Some((list.tags.unwrap_or_default(), next)))
    }

    fn oci_auth(&self) -> oci_client::secrets::RegistryAuth {
        self.credentials.to_oci_auth(&self.registry)
    }
}

#[async_trait]
impl Repository for RegistryRepository {
    fn display_name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    async fn resolve(&self, reference: &TagOrDigest) -> Result<Option<ManifestHead>, Error> {
        let location = self.location(reference);
        self.retry("resolve manifest", &location, || {
            self.resolve_once(reference)
        })
        .await
    }

    async fn get_manifest(
        &self,
        reference: &TagOrDigest,
    ) -> Result<Option<FetchedManifest>, Error> {
        let location = self.location(reference);
        self.retry("fetch manifest", &location, || {
            self.get_manifest_once(reference)
        })
        .await
    }

    async fn get_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, Error> {
        let location = self.location(format_args!("@{digest}"));
        self.client
            .limits()
            .check_blob_size(&format!("blob {location}"), size)?;
        let deadline = self.client.options().timeouts.blob_deadline(size);
        self.retry_within(deadline, "fetch blob", &location, || {
            self.get_blob_once(digest, size)
        })
        .await
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256_of(bytes);
        let location = self.location(format_args!("@{digest}"));
        let target = self.oci_ref(&TagOrDigest::Digest(digest.clone()));
        let data = bytes::Bytes::copy_from_slice(bytes);
        let digest_text = digest.to_string();
        let deadline = self
            .client
            .options()
            .timeouts
            .blob_deadline(bytes.len() as u64);
        self.retry_within(deadline, "upload blob", &location, || async {
            let scheme = self.client.scheme(&self.registry).await;
            let oci = self.client.oci(scheme)?;
            oci.store_auth_if_needed(&self.registry, &self.oci_auth())
                .await;
            let exists = oci
                .blob_exists(&target, &digest_text)
                .await
                .map_err(RequestError::from_oci)?;
            if !exists {
                oci.push_blob(&target, data.clone(), &digest_text)
                    .await
                    .map_err(RequestError::from_oci)?;
            }
            Ok(())
        })
        .await?;
        Ok(digest)
    }

    async fn put_manifest(
        &self,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        let digest = Digest::sha256_of(bytes);
        let target = match tag {
            Some(t) => TagOrDigest::Tag(t.to_owned()),
            None => TagOrDigest::Digest(digest.clone()),
        };
        let location = self.location(&target);
        self.client
            .limits()
            .check_manifest_size(&format!("manifest {location}"), bytes.len() as u64)?;
        let content_type =
            HeaderValue::from_str(media_type).map_err(|_| Error::InvalidContent {
                what: "manifest media type".to_owned(),
                location: location.clone(),
                reason: format!(
                    "`{}` is not a valid header value",
                    crate::error::echo(&media_type.escape_debug().to_string())
                ),
            })?;
        let oci_target = self.oci_ref(&target);
        let data = bytes::Bytes::copy_from_slice(bytes);
        self.retry("upload manifest", &location, || async {
            let scheme = self.client.scheme(&self.registry).await;
            let oci = self.client.oci(scheme)?;
            oci.store_auth_if_needed(&self.registry, &self.oci_auth())
                .await;
            oci.push_manifest_raw(&oci_target, data.clone(), content_type.clone())
                .await
                .map_err(RequestError::from_oci)?;
            Ok(())
        })
        .await?;
        Ok(digest)
    }

    async fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        let target = TagOrDigest::Tag(tag.to_owned());
        let Some(head) = self.resolve(&target).await? else {
            return Ok(());
        };
        let location = self.location(&target);
        self.retry("delete manifest", &location, || {
            self.delete_once(&head.digest)
        })
        .await
    }

    async fn list_tags(&self) -> Result<Vec<String>, Error> {
        let location = self.display_name();
        let max = self.client.limits().max_tags;
        let scheme = self.client.scheme(&self.registry).await;
        let first = format!("{}/tags/list?n={TAGS_PAGE}", self.base_url(scheme));
        let mut url = first.clone();
        let mut tags: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self
                .retry("list tags", &location, || self.tags_page_once(scheme, &url))
                .await?;
            let Some((page, next)) = page else {
                break;
            };
            let page_len = page.len();
            let before = tags.len();
            for tag in page {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                }
            }
            if tags.len() as u64 > max {
                return Err(Error::LimitExceeded {
                    what: format!("tag list of {location}"),
                    limit: max,
                    found: tags.len() as u64,
                    unit: "tags",
                    hint: "raise `Limits::max_tags` if the repository really has that many tags"
                        .to_owned(),
                });
            }
            // A page without new tags would loop forever: stop on no progress.
            if tags.len() == before {
                break;
            }
            url = match next {
                Some(next) => next,
                // No Link header: registries that page without one are asked with `last`.
                None if page_len >= TAGS_PAGE => {
                    let Some(last) = tags.last() else { break };
                    let mut u = reqwest::Url::parse(&first).map_err(|e| Error::Config {
                        what: format!("tag list URL of {location}"),
                        source: Box::new(e),
                    })?;
                    u.query_pairs_mut().append_pair("last", last);
                    u.to_string()
                }
                None => break,
            };
        }
        Ok(tags)
    }
}

/// The next page of a tag list from a `Link: <url>; rel="next"` header,
/// resolved against `current`. Links to another host or scheme are ignored.
fn next_link(headers: &HeaderMap, current: &str, scheme: Scheme, registry: &str) -> Option<String> {
    let current = reqwest::Url::parse(current).ok()?;
    for value in headers.get_all(reqwest::header::LINK) {
        let text = value.to_str().ok()?;
        for link in text.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let target = target.strip_prefix('<')?.strip_suffix('>')?;
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let next = current.join(target).ok()?;
            let host = match next.port() {
                Some(p) => format!("{}:{p}", next.host_str()?),
                None => next.host_str()?.to_owned(),
            };
            if next.scheme() != scheme.as_str() || host != registry {
                tracing::warn!(
                    registry,
                    "ignoring a tag-list Link to another host or scheme"
                );
                return None;
            }
            return Some(next.to_string());
        }
    }
    None
}

/// A sensitive `Authorization` header value (never printed by reqwest).
fn sensitive_header(text: &str) -> Result<HeaderValue, AttemptError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        RequestError::Protocol("the registry token is not a valid header value".to_owned())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A `WWW-Authenticate` challenge rsign can answer.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    /// Only the first challenge of the header is considered.
    fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = auth_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Self::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `key=value` and `key="quoted \"value\""` pairs separated by commas.
fn auth_params(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while out.len() < 32 {
        s = s.trim_start_matches([' ', ',', '\t']);
        let Some((key, rest)) = s.split_once('=') else {
            break;
        };
        let key = key.trim().to_owned();
        let rest = rest.trim_start();
        let mut value = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            value.push(e);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            s = quoted.get(end..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest.get(..end).unwrap_or("").trim().to_owned();
            s = rest.get(end..).unwrap_or("");
        }
        out.push((key, value));
    }
    out
}

/// The `Docker-Content-Digest` header, if present; malformed → invalid content.
fn digest_header(headers: &HeaderMap, location: &str) -> Result<Option<Digest>, AttemptError> {
    let Some(value) = headers.get("docker-content-digest") else {
        return Ok(None);
    };
    let invalid = |reason: String| Error::InvalidContent {
        what: "Docker-Content-Digest header".to_owned(),
        location: location.to_owned(),
        reason,
    };
    let text = value
        .to_str()
        .map_err(|_| invalid("not ASCII".to_owned()))?;
    text.trim()
        .parse::<Digest>()
        .map(Some)
        .map_err(|e| invalid(crate::error::echo(&e.to_string())).into())
}

/// The media type of `Content-Type`, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next()?.trim();
    (!media_type.is_empty()).then(|| media_type.to_owned())
}

/// The `mediaType` field inside a manifest.
fn media_type_in(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct MediaType {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<MediaType>(bytes).ok()?.media_type
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        let c = Challenge::parse(r#"bearer realm=https://t/x, service = "s\"q""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://t/x".into(),
                service: Some("s\"q".into()),
                scope: None,
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="r""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None, "no realm");
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        // Unterminated quotes and garbage do not panic.
        let _ = Challenge::parse(r#"Bearer realm="https://x"#);
        let _ = Challenge::parse("Bearer ===,,,\"");
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        let cur = "https://r.example/v2/a/tags/list?n=2";
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
        );
        assert_eq!(
            next_link(&h, cur, Scheme::Https, "r.example").as_deref(),
            Some("https://r.example/v2/a/tags/list?n=2&last=b")
        );
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"<https://evil.example/v2/a/tags/list>; rel="next""#),
        );
        assert_eq!(next_link(&h, cur, Scheme::Https, "r.example"), None);
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"</x>; rel="prev""#),
        );
        assert_eq!(next_link(&h, cur, Scheme::Https, "r.example"), None);
    }
}
