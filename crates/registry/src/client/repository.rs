//! [`RegistryRepository`]: the [`Repository`] seam over the distribution HTTP API.

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

/// How long an authorization header is reused before asking again (bearer
/// tokens of distribution-style token servers last at least 60 s).
const AUTH_TTL: Duration = Duration::from_secs(50);
/// Page size asked for when listing tags.
const TAGS_PAGE: usize = 1000;

/// One repository on a registry, reached over HTTP(S).
#[derive(Clone)]
pub struct RegistryRepository {
    client: RegistryClient,
    registry: String,
    path: String,
    credentials: Credentials,
    oci_auth: oci_client::secrets::RegistryAuth,
}

/// Authorization headers per (registry, repository, push?), shared by a client's repositories.
pub(crate) type AuthCache = Arc<tokio::sync::Mutex<HashMap<(String, String, bool), CachedAuth>>>;

/// One cached `Authorization` header (or the knowledge that none is needed).
pub(crate) struct CachedAuth {
    header: Option<HeaderValue>,
    fetched: Instant,
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
        let oci_auth = credentials.to_oci_auth(reference.registry());
        Self {
            client,
            registry: reference.registry().to_owned(),
            path: reference.path().to_owned(),
            credentials,
            oci_auth,
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

    /// The `Authorization` header for `op`, from the cache unless `refresh`.
    async fn auth_header(
        &self,
        scheme: Scheme,
        op: RegistryOperation,
        refresh: bool,
    ) -> Result<Option<HeaderValue>, AttemptError> {
        let key = (
            self.registry.clone(),
            self.path.clone(),
            op == RegistryOperation::Push,
        );
        let mut cache = self.client.auth_cache().lock().await;
        if !refresh && let Some(c) = cache.get(&key).filter(|c| c.fetched.elapsed() < AUTH_TTL) {
            return Ok(c.header.clone());
        }
        let reference = self.oci_ref(&TagOrDigest::Tag("latest".to_owned()));
        let token = self
            .client
            .oci(scheme)
            .auth(&reference, &self.oci_auth, op)
            .await
            .map_err(RequestError::from_oci)?;
        let header = match (token, &self.credentials) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Credentials::Basic { username, password }) => {
                let raw = zeroize::Zeroizing::new(format!("{username}:{}", password.as_str()));
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
                ))
            }
            (None, _) => None,
        };
        let header = match header {
            Some(h) => {
                let h = zeroize::Zeroizing::new(h);
                let mut value = HeaderValue::from_str(&h).map_err(|_| {
                    RequestError::Protocol(
                        "the registry token is not a valid header value".to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        cache.insert(
            key,
            CachedAuth {
                header: header.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(header)
    }

    /// Sends `req` with authorization; on 401 fetches fresh authorization once and re-sends.
    async fn send(&self, scheme: Scheme, req: &Req<'_>) -> Result<reqwest::Response, AttemptError> {
        let mut refreshed = false;
        loop {
            let auth = self.auth_header(scheme, req.op, refreshed).await?;
            let mut builder = self.client.http().request(req.method.clone(), &req.url);
            if let Some(accept) = req.accept {
                builder = builder.header(ACCEPT, accept);
            }
            if let Some(auth) = auth {
                builder = builder.header(AUTHORIZATION, auth);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| RequestError::transport(req.method.as_str(), &req.url, e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                continue;
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

    async fn resolve_once(
        &self,
        target: &TagOrDigest,
    ) -> Result<Option<ManifestHead>, AttemptError> {
        let scheme = self.client.scheme(&self.registry).await;
        let accept = MANIFEST_ACCEPT.join(", ");
        let req = Req {
            method: Method::HEAD,
            url: self.manifest_url(scheme, target),
            accept: Some(&accept),
            op: RegistryOperation::Pull,
        };
        let response = self.send(scheme, &req).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(Self::status_error(&req, response).await),
        }
        let headers = response.headers();
        let header_digest = digest_header(headers, &self.location(target))?;
        // reqwest reports a HEAD body's length (0), so read the header itself.
        let size = headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let media_type = content_type(headers);
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
        let scheme = self.client.scheme(&self.registry).await;
        let accept = MANIFEST_ACCEPT.join(", ");
        let req = Req {
            method: Method::GET,
            url: self.manifest_url(scheme, target),
            accept: Some(&accept),
            op: RegistryOperation::Pull,
        };
        let response = self.send(scheme, &req).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(Self::status_error(&req, response).await),
        }
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
            &req.url,
        )
        .await?;
        let expected = match target {
            TagOrDigest::Digest(d) => Some(d.clone()),
            TagOrDigest::Tag(_) => header_digest.clone(),
        };
        let digest = match expected {
            Some(expected) => {
                let actual = if expected.algorithm() == sha256.algorithm() {
                    sha256
                } else {
                    expected.of_same_algorithm(&bytes)
                };
                if actual != expected {
                    return Err(Error::DigestMismatch {
                        what: "manifest",
                        location,
                        expected,
                        actual,
                    }
                    .into());
                }
                actual
            }
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
        let actual = if digest.algorithm() == sha256.algorithm() {
            sha256
        } else {
            digest.of_same_algorithm(&bytes)
        };
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: "blob",
                location,
                expected: digest.clone(),
                actual,
            }
            .into());
        }
        if bytes.len() as u64 != size {
            return Err(Error::InvalidContent {
                what: "blob".to_owned(),
                location,
                reason: format!("descriptor says {size} bytes, the blob has {}", bytes.len()),
            }
            .into());
        }
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
        http::with_retries(self.client.retry_policy(), operation, location, f).await
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
        self.retry("fetch blob", &location, || self.get_blob_once(digest, size))
            .await
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256_of(bytes);
        let location = self.location(format_args!("@{digest}"));
        let target = self.oci_ref(&TagOrDigest::Digest(digest.clone()));
        let data = bytes::Bytes::copy_from_slice(bytes);
        let digest_text = digest.to_string();
        self.retry("upload blob", &location, || async {
            let scheme = self.client.scheme(&self.registry).await;
            let oci = self.client.oci(scheme);
            oci.store_auth_if_needed(&self.registry, &self.oci_auth)
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
                    media_type.escape_debug()
                ),
            })?;
        let oci_target = self.oci_ref(&target);
        let data = bytes::Bytes::copy_from_slice(bytes);
        self.retry("upload manifest", &location, || async {
            let scheme = self.client.scheme(&self.registry).await;
            let oci = self.client.oci(scheme);
            oci.store_auth_if_needed(&self.registry, &self.oci_auth)
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
        let oci_target = self.oci_ref(&TagOrDigest::Tag("latest".to_owned()));
        let mut tags: Vec<String> = Vec::new();
        loop {
            let last = tags.last().cloned();
            let page = self
                .retry("list tags", &location, || async {
                    let scheme = self.client.scheme(&self.registry).await;
                    let oci = self.client.oci(scheme);
                    match oci
                        .list_tags(
                            &oci_target,
                            &self.oci_auth,
                            Some(TAGS_PAGE),
                            last.as_deref(),
                        )
                        .await
                    {
                        Ok(page) => Ok(page.tags),
                        Err(e) if is_not_found(&e) => Ok(Vec::new()),
                        Err(e) => Err(RequestError::from_oci(e).into()),
                    }
                })
                .await?;
            let page_len = page.len();
            // A page that repeats the marker would loop forever: stop on no progress.
            let before = tags.len();
            tags.extend(
                page.into_iter()
                    .filter(|t| last.as_deref() != Some(t.as_str())),
            );
            if tags.len() as u64 > max {
                return Err(Error::LimitExceeded {
                    what: format!("tag list of {location}"),
                    limit: max,
                    found: tags.len() as u64,
                    unit: "tags",
                    hint: "raise max_tags".to_owned(),
                });
            }
            if page_len < TAGS_PAGE || tags.len() == before {
                break;
            }
        }
        Ok(tags)
    }
}

fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match e {
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::NameUnknown | OciErrorCode::ManifestUnknown
            )
        }),
        _ => false,
    }
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
        .map_err(|e| invalid(e.to_string()).into())
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
