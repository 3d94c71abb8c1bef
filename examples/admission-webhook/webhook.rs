//! From an `AdmissionReview` body to the `AdmissionReview` answer: find the
//! images, evaluate each distinct one once (concurrently) with the shared
//! [`Evaluator`], and combine the decisions.

use std::collections::HashMap;

use base64::Engine as _;
use rsign_policy::{Decision, Evaluator, Outcome, Verdict, normalize_reference};
use serde_json::{Value, json};

use crate::review::{
    API_VERSION, AdmissionRequest, AdmissionResponse, AdmissionReview, AdmissionReviewResponse,
    ImageSite, KIND, Status, image_sites, pod_spec_pointer,
};

/// Most container images read from one object; more is denied.
pub const DEFAULT_MAX_IMAGES: usize = 256;
/// Most warnings returned (the API server truncates long lists anyway).
pub const MAX_WARNINGS: usize = 32;
/// Longest single warning, in bytes (the API server truncates at 256).
pub const MAX_WARNING_BYTES: usize = 256;
/// Longest denial message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// What the webhook does besides evaluating.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// Admit (with a warning) objects of kinds whose pod spec it cannot find,
    /// instead of denying them.
    pub allow_unknown_kinds: bool,
    /// Most images in one object.
    pub max_images: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            allow_unknown_kinds: false,
            max_images: DEFAULT_MAX_IMAGES,
        }
    }
}

/// Why a body is not an `AdmissionReview` this webhook can answer (HTTP 400:
/// the API server then applies the webhook's `failurePolicy`).
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    /// Not JSON, or not shaped like an `AdmissionReview`.
    #[error("the body is not an AdmissionReview")]
    Json(#[source] serde_json::Error),
    /// Another `apiVersion` or `kind`.
    #[error(
        "unsupported review `{api_version}` `{kind}`: only {API_VERSION} {KIND} is served \
         (set admissionReviewVersions: [\"v1\"])"
    )]
    Version {
        /// As sent.
        api_version: String,
        /// As sent.
        kind: String,
    },
    /// `request` is missing.
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// What one review concluded, for the response and the log.
#[derive(Debug)]
pub struct Reviewed {
    /// The `AdmissionReview` to send back.
    pub review: AdmissionReviewResponse,
    /// One decision per distinct image, in first-seen order.
    pub decisions: Vec<Decision>,
    /// A summary of the request for the log (`kind namespace/name op`).
    pub subject: String,
}

/// The webhook: one shared evaluator, cheap to clone.
#[derive(Debug, Clone)]
pub struct Webhook {
    evaluator: Evaluator,
    options: WebhookOptions,
}

impl Webhook {
    /// A webhook deciding with `evaluator`.
    pub fn new(evaluator: Evaluator, options: WebhookOptions) -> Self {
        Self { evaluator, options }
    }

    /// The shared evaluator (for reloads).
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// Answers one review. With `mutate`, an admitted object gets a JSON
    /// Patch pinning every tag-only image to the digest that was verified.
    pub async fn review(&self, body: &[u8], mutate: bool) -> Result<Reviewed, BadReview> {
        let review: AdmissionReview = serde_json::from_slice(body).map_err(BadReview::Json)?;
        if review.api_version != API_VERSION || review.kind != KIND {
            return Err(BadReview::Version {
                api_version: review.api_version,
                kind: review.kind,
            });
        }
        let request = review.request.ok_or(BadReview::NoRequest)?;
        let subject = subject(&request);
        let (response, decisions) = self.respond(&request, mutate).await;
        Ok(Reviewed {
            review: AdmissionReviewResponse {
                api_version: review.api_version,
                kind: review.kind,
                response,
            },
            decisions,
            subject,
        })
    }

    async fn respond(
        &self,
        request: &AdmissionRequest,
        mutate: bool,
    ) -> (AdmissionResponse, Vec<Decision>) {
        let uid = request.uid.clone();
        // Deleting or connecting to an object starts no container.
        if request.operation == "DELETE" || request.operation == "CONNECT" {
            return (allow(uid, Vec::new()), Vec::new());
        }
        let Some(pointer) = pod_spec_pointer(&request.kind) else {
            let message = format!(
                "rsign: kind {} is not one this webhook reads images from",
                request.kind
            );
            return if self.options.allow_unknown_kinds {
                (
                    allow(uid, vec![format!("{message}; admitted unchecked")]),
                    Vec::new(),
                )
            } else {
                (
                    deny(
                        uid,
                        format!(
                            "{message}; denied (fail closed): remove the kind from the webhook's \
                             rules or start the webhook with --allow-unknown-kinds"
                        ),
                        Vec::new(),
                    ),
                    Vec::new(),
                )
            };
        };
        let Some(object) = request.object.as_ref().filter(|o| !o.is_null()) else {
            return (
                deny(
                    uid,
                    format!(
                        "rsign: the {} request carries no object to check",
                        request.operation
                    ),
                    Vec::new(),
                ),
                Vec::new(),
            );
        };
        let sites = match image_sites(object, &request.kind, pointer) {
            Ok(s) => s,
            Err(e) => return (deny(uid, format!("rsign: {e}"), Vec::new()), Vec::new()),
        };
        if sites.len() > self.options.max_images {
            return (
                deny(
                    uid,
                    format!(
                        "rsign: the object lists {} container images, more than the limit of {}",
                        sites.len(),
                        self.options.max_images
                    ),
                    Vec::new(),
                ),
                Vec::new(),
            );
        }
        let (unique, index_of) = distinct(&sites);
        let decisions =
            futures::future::join_all(unique.iter().map(|image| self.evaluator.evaluate(image)))
                .await;
        let mut response = combine(uid, &decisions);
        if mutate && response.allowed {
            let ops = pin_patch(&sites, &index_of, &decisions);
            if !ops.is_empty() {
                let patch = serde_json::to_vec(&Value::Array(ops)).unwrap_or_default();
                response.patch_type = Some("JSONPatch");
                response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
            }
        }
        response
            .audit_annotations
            .insert("decisions".to_owned(), audit_summary(&decisions));
        (response, decisions)
    }
}

/// `Deployment default/web CREATE`.
fn subject(request: &AdmissionRequest) -> String {
    let mut s = format!("{} ", request.kind.kind);
    if let Some(ns) = request.namespace.as_deref().filter(|n| !n.is_empty()) {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(request.name.as_deref().unwrap_or(""));
    if let Some(sub) = request.sub_resource.as_deref().filter(|n| !n.is_empty()) {
        s.push('/');
        s.push_str(sub);
    }
    s.push(' ');
    s.push_str(&request.operation);
    s
}

/// The distinct images of `sites` (by normalised reference, so `nginx` and
/// `docker.io/library/nginx` are one), in first-seen order, and for each
/// site the index of its image.
fn distinct(sites: &[ImageSite]) -> (Vec<String>, Vec<usize>) {
    let mut unique: Vec<String> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut index_of = Vec::with_capacity(sites.len());
    for site in sites {
        let key = normalize_reference(&site.image).unwrap_or_else(|_| site.image.clone());
        let i = *seen.entry(key).or_insert_with(|| {
            unique.push(site.image.clone());
            unique.len() - 1
        });
        index_of.push(i);
    }
    (unique, index_of)
}

fn allow(uid: String, warnings: Vec<String>) -> AdmissionResponse {
    AdmissionResponse {
        uid,
        allowed: true,
        warnings: cap_warnings(warnings),
        ..AdmissionResponse::default()
    }
}

fn deny(uid: String, message: String, warnings: Vec<String>) -> AdmissionResponse {
    AdmissionResponse {
        uid,
        allowed: false,
        status: Some(Status {
            code: 403,
            message: truncate(message, MAX_MESSAGE_BYTES),
        }),
        warnings: cap_warnings(warnings),
        ..AdmissionResponse::default()
    }
}

/// Denied if any image is denied, naming each denied image and why; the
/// warnings of every image either way.
fn combine(uid: String, decisions: &[Decision]) -> AdmissionResponse {
    let mut warnings = Vec::new();
    for d in decisions {
        for w in &d.warnings {
            let line = if w.contains(&d.image) {
                w.clone()
            } else {
                format!("image `{}`: {w}", d.image)
            };
            if !warnings.contains(&line) {
                warnings.push(line);
            }
        }
    }
    let denied: Vec<&Decision> = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Deny)
        .collect();
    if denied.is_empty() {
        return allow(uid, warnings);
    }
    let mut message = format!(
        "rsign: {} of {} image(s) denied",
        denied.len(),
        decisions.len()
    );
    for d in denied {
        message.push_str("; ");
        message.push_str(&explain(d));
    }
    deny(uid, message, warnings)
}

/// `image `X` (sha256:…): denied by policy `p` [code]: policy `p`: reason`.
fn explain(d: &Decision) -> String {
    let mut s = format!("image `{}`", d.image);
    if let Some(digest) = &d.digest {
        s.push_str(&format!(" ({digest})"));
    }
    s.push_str(&format!(": {} [{}]", d.reason, d.code));
    for p in d.policies.iter().filter(|p| p.result == Outcome::Fail) {
        if let Some(reason) = &p.reason {
            s.push_str(&format!(": policy `{}`: {reason}", p.name));
        }
    }
    s
}

/// `replace` operations pinning every admitted tag-only image to its digest.
fn pin_patch(sites: &[ImageSite], index_of: &[usize], decisions: &[Decision]) -> Vec<Value> {
    sites
        .iter()
        .zip(index_of)
        .filter(|(site, _)| !site.image.contains('@'))
        .filter_map(|(site, &i)| {
            let d = decisions.get(i)?;
            let digest = d.digest.as_ref().filter(|_| d.verdict.admits())?;
            Some(json!({
                "op": "replace",
                "path": site.pointer,
                "value": format!("{}@{digest}", site.image),
            }))
        })
        .collect()
}

/// `[{"image","digest","decision","code"}]` for the audit log.
fn audit_summary(decisions: &[Decision]) -> String {
    let items: Vec<Value> = decisions
        .iter()
        .map(|d| {
            json!({
                "image": d.image,
                "digest": d.digest.as_ref().map(ToString::to_string),
                "decision": d.verdict,
                "code": d.code,
            })
        })
        .collect();
    Value::Array(items).to_string()
}

fn cap_warnings(warnings: Vec<String>) -> Vec<String> {
    let total = warnings.len();
    let mut out: Vec<String> = warnings
        .into_iter()
        .take(MAX_WARNINGS)
        .map(|w| truncate(w, MAX_WARNING_BYTES))
        .collect();
    if total > MAX_WARNINGS
        && let Some(last) = out.last_mut()
    {
        *last = format!(
            "rsign: {} more warning(s) not shown",
            total - MAX_WARNINGS + 1
        );
    }
    out
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub(3);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str("...");
    s
}

/// The decision as one JSON value for the log.
pub fn decision_log(d: &Decision) -> Value {
    json!({
        "image": d.image,
        "digest": d.digest.as_ref().map(ToString::to_string),
        "decision": d.verdict,
        "code": d.code,
        "reason": d.reason,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine as _;
    use rsign_core::Digest;
    use rsign_core::keys::PrivateKey;
    use rsign_core::simple_signing::SimpleSigning;
    use rsign_policy::source::{AttachmentSource, ResolvedImage, SignatureLayer, SourceError};
    use rsign_policy::{EvaluatorOptions, Format, LoadOptions, PolicySet};
    use serde_json::{Value, json};

    use super::*;

    /// Images whose name contains `signed` carry one signature by `key`;
    /// tags resolve to the SHA-256 of the normalised name.
    struct Fake {
        key: PrivateKey,
        resolves: AtomicUsize,
        fetches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl AttachmentSource for Fake {
        async fn resolve(&self, image: &str) -> Result<ResolvedImage, SourceError> {
            self.resolves.fetch_add(1, Ordering::SeqCst);
            let name = normalize_reference(image).unwrap();
            let digest = match image.split_once('@') {
                Some((_, d)) => d.parse().unwrap(),
                None => Digest::sha256_of(name.as_bytes()),
            };
            Ok(ResolvedImage { name, digest })
        }

        async fn signature_layers(
            &self,
            image: &ResolvedImage,
        ) -> Result<Vec<SignatureLayer>, SourceError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if !image.name.contains("signed") || image.name.contains("unsigned") {
                return Ok(Vec::new());
            }
            let repo = image.name.split(['@', ':']).next().unwrap().to_owned();
            let payload = SimpleSigning::new(repo, image.digest.clone(), None).to_bytes();
            let sig = self.key.sign(&payload).unwrap();
            Ok(vec![SignatureLayer {
                payload,
                signature_b64: base64::engine::general_purpose::STANDARD.encode(sig),
            }])
        }

        async fn attestation_envelopes(
            &self,
            _: &ResolvedImage,
        ) -> Result<Vec<Vec<u8>>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn setup(options: WebhookOptions) -> (Webhook, Arc<Fake>) {
        let key = PrivateKey::generate_p256().unwrap();
        let pem = key.public_key().to_pem();
        let indented: String = pem.lines().map(|l| format!("          {l}\n")).collect();
        let yaml = format!(
            "apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: signed-by-ci}}
spec:
  images: [{{glob: \"registry.example/prod/**\"}}]
  authorities:
    - key:
        data: |
{indented}---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: advisory}}
spec:
  mode: warn
  images: [{{glob: \"registry.example/staging/**\"}}]
  authorities:
    - key:
        data: |
{indented}"
        );
        let set = PolicySet::parse(
            &yaml,
            Format::Yaml,
            "test.yaml".as_ref(),
            None,
            &LoadOptions::default(),
        )
        .unwrap();
        let fake = Arc::new(Fake {
            key,
            resolves: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
        });
        let evaluator = Evaluator::new(set, fake.clone(), EvaluatorOptions::default());
        (Webhook::new(evaluator, options), fake)
    }

    fn review(kind: Value, operation: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": kind,
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": kind,
                "namespace": "default",
                "name": "web",
                "operation": operation,
                "userInfo": {"username": "admin", "groups": ["system:authenticated"]},
                "object": object,
                "oldObject": null,
                "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            }
        }))
        .unwrap()
    }

    fn pod(images: &[&str]) -> Vec<u8> {
        let containers: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
            .collect();
        review(
            json!({"group": "", "version": "v1", "kind": "Pod"}),
            "CREATE",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                   "spec": {"containers": containers}}),
        )
    }

    fn to_json(r: &Reviewed) -> Value {
        serde_json::to_value(&r.review).unwrap()
    }

    fn patch_of(v: &Value) -> Value {
        let b64 = v["response"]["patch"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn signed_images_are_admitted_and_uid_echoed() {
        let (hook, _) = setup(WebhookOptions::default());
        let r = hook
            .review(
                &pod(&[
                    "registry.example/prod/signed-a:1",
                    "registry.example/prod/signed-b:2",
                ]),
                false,
            )
            .await
            .unwrap();
        let v = to_json(&r);
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(v["response"]["allowed"], true, "{v}");
        assert!(v["response"].get("status").is_none());
        assert!(v["response"].get("patch").is_none());
        assert_eq!(r.decisions.len(), 2);
        let audit: Value = serde_json::from_str(
            v["response"]["auditAnnotations"]["decisions"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(audit[0]["decision"], "allow");
        assert!(audit[0]["digest"].as_str().unwrap().starts_with("sha256:"));
    }

    #[tokio::test]
    async fn an_unsigned_image_denies_the_pod_and_is_named() {
        let (hook, _) = setup(WebhookOptions::default());
        let r = hook
            .review(
                &pod(&[
                    "registry.example/prod/signed-a:1",
                    "registry.example/prod/unsigned:1",
                ]),
                false,
            )
            .await
            .unwrap();
        let v = to_json(&r);
        assert_eq!(v["response"]["allowed"], false, "{v}");
        assert_eq!(v["response"]["status"]["code"], 403);
        let message = v["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("1 of 2 image(s) denied"), "{message}");
        assert!(
            message.contains("image `registry.example/prod/unsigned:1`"),
            "{message}"
        );
        assert!(message.contains("signature-missing"), "{message}");
        assert!(!message.contains("signed-a"), "{message}");
    }

    #[tokio::test]
    async fn warn_mode_admits_with_warnings_naming_the_image() {
        let (hook, _) = setup(WebhookOptions::default());
        let r = hook
            .review(&pod(&["registry.example/staging/unsigned:1"]), false)
            .await
            .unwrap();
        let v = to_json(&r);
        assert_eq!(v["response"]["allowed"], true, "{v}");
        let warnings = v["response"]["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = warnings[0].as_str().unwrap();
        assert!(w.contains("registry.example/staging/unsigned:1"), "{w}");
        assert!(w.contains("advisory"), "{w}");
    }

    #[tokio::test]
    async fn duplicate_images_are_evaluated_once() {
        let (hook, fake) = setup(WebhookOptions::default());
        // The same image three times, once spelled differently, plus a
        // warn-mode image twice: one decision and one warning each.
        let r = hook
            .review(
                &pod(&[
                    "registry.example/prod/signed-a:1",
                    "registry.example/prod/signed-a:1",
                    "registry.example/staging/x:1",
                    "registry.example/prod/signed-a:1",
                    "registry.example/staging/x:1",
                ]),
                false,
            )
            .await
            .unwrap();
        assert_eq!(r.decisions.len(), 2);
        let v = to_json(&r);
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(v["response"]["warnings"].as_array().unwrap().len(), 1);
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2);
        // `nginx` and `docker.io/library/nginx:latest` are the same image.
        let (unique, index_of) = distinct(&[
            site("/a", "nginx"),
            site("/b", "docker.io/library/nginx:latest"),
            site("/c", "index.docker.io/library/nginx"),
            site("/d", "nginx:1.25"),
        ]);
        assert_eq!(unique, ["nginx", "nginx:1.25"]);
        assert_eq!(index_of, [0, 0, 0, 1]);
    }

    fn site(pointer: &str, image: &str) -> ImageSite {
        ImageSite {
            pointer: pointer.into(),
            container: "c".into(),
            image: image.into(),
        }
    }

    #[tokio::test]
    async fn mutate_pins_tags_to_verified_digests() {
        let (hook, _) = setup(WebhookOptions::default());
        let pinned = format!(
            "registry.example/prod/signed-c@{}",
            Digest::sha256_of(b"anything")
        );
        let cronjob = review(
            json!({"group": "batch", "version": "v1", "kind": "CronJob"}),
            "CREATE",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "a", "image": "registry.example/prod/signed-a:1"}],
                "initContainers": [
                    {"name": "b", "image": pinned},
                    {"name": "c", "image": "registry.example/prod/signed-a:1"}
                ]
            }}}}}}),
        );
        let r = hook.review(&cronjob, true).await.unwrap();
        let v = to_json(&r);
        assert_eq!(v["response"]["allowed"], true, "{v}");
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        let digest = r.decisions[0].digest.clone().unwrap();
        let want = format!("registry.example/prod/signed-a:1@{digest}");
        assert_eq!(
            patch_of(&v),
            json!([
                {"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": want},
                {"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/initContainers/1/image", "value": want},
            ])
        );
        // Validation alone never patches; a denial never patches.
        let v = to_json(&hook.review(&cronjob, false).await.unwrap());
        assert!(v["response"].get("patch").is_none());
        let v = to_json(
            &hook
                .review(&pod(&["registry.example/prod/unsigned:1"]), true)
                .await
                .unwrap(),
        );
        assert_eq!(v["response"]["allowed"], false);
        assert!(v["response"].get("patch").is_none());
    }

    #[tokio::test]
    async fn unknown_kinds_fail_closed_unless_allowed() {
        let body = review(
            json!({"group": "example.com", "version": "v1", "kind": "Widget"}),
            "CREATE",
            json!({"spec": {"image": "registry.example/prod/unsigned:1"}}),
        );
        let (hook, fake) = setup(WebhookOptions::default());
        let v = to_json(&hook.review(&body, false).await.unwrap());
        assert_eq!(v["response"]["allowed"], false);
        let message = v["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("example.com/v1/Widget"), "{message}");
        assert!(message.contains("--allow-unknown-kinds"), "{message}");
        let (lenient, _) = setup(WebhookOptions {
            allow_unknown_kinds: true,
            ..WebhookOptions::default()
        });
        let v = to_json(&lenient.review(&body, false).await.unwrap());
        assert_eq!(v["response"]["allowed"], true);
        assert!(
            v["response"]["warnings"][0]
                .as_str()
                .unwrap()
                .contains("unchecked")
        );
        assert_eq!(fake.resolves.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn delete_is_admitted_without_evaluating() {
        let (hook, fake) = setup(WebhookOptions::default());
        let body = review(
            json!({"group": "", "version": "v1", "kind": "Pod"}),
            "DELETE",
            Value::Null,
        );
        let v = to_json(&hook.review(&body, false).await.unwrap());
        assert_eq!(v["response"]["allowed"], true);
        assert_eq!(fake.resolves.load(Ordering::SeqCst), 0);
        // A CREATE without an object is denied, not admitted unchecked.
        let body = review(
            json!({"group": "apps", "version": "v1", "kind": "Deployment"}),
            "CREATE",
            Value::Null,
        );
        let v = to_json(&hook.review(&body, false).await.unwrap());
        assert_eq!(v["response"]["allowed"], false);
    }

    #[tokio::test]
    async fn malformed_objects_and_too_many_images_are_denied() {
        let (hook, _) = setup(WebhookOptions {
            max_images: 2,
            ..WebhookOptions::default()
        });
        let body = review(
            json!({"group": "apps", "version": "v1", "kind": "Deployment"}),
            "CREATE",
            json!({"spec": {"template": {"spec": {"containers": {"image": "x"}}}}}),
        );
        let v = to_json(&hook.review(&body, false).await.unwrap());
        assert_eq!(v["response"]["allowed"], false);
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot read the pod spec")
        );
        let v = to_json(
            &hook
                .review(
                    &pod(&[
                        "registry.example/prod/signed-a:1",
                        "registry.example/prod/signed-a:1",
                        "registry.example/prod/signed-a:1",
                    ]),
                    false,
                )
                .await
                .unwrap(),
        );
        assert_eq!(v["response"]["allowed"], false);
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains("more than the limit of 2")
        );
    }

    #[tokio::test]
    async fn bad_reviews_are_errors() {
        let (hook, _) = setup(WebhookOptions::default());
        assert!(matches!(
            hook.review(b"not json", false).await,
            Err(BadReview::Json(_))
        ));
        let v1beta1 = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE"}}"#;
        let e = hook.review(v1beta1, false).await.unwrap_err();
        assert!(e.to_string().contains("admission.k8s.io/v1beta1"), "{e}");
        let no_request = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
        assert!(matches!(
            hook.review(no_request, false).await,
            Err(BadReview::NoRequest)
        ));
    }

    #[test]
    fn warnings_and_messages_are_bounded() {
        let many: Vec<String> = (0..100)
            .map(|i| format!("w{i} {}", "é".repeat(300)))
            .collect();
        let capped = cap_warnings(many);
        assert_eq!(capped.len(), MAX_WARNINGS);
        assert!(capped.iter().all(|w| w.len() <= MAX_WARNING_BYTES));
        assert!(capped[0].starts_with("w0 ") && capped[0].ends_with("..."));
        assert_eq!(
            capped.last().unwrap(),
            &format!(
                "rsign: {} more warning(s) not shown",
                100 - MAX_WARNINGS + 1
            )
        );
        assert_eq!(truncate("short".into(), 10), "short");
        assert_eq!(truncate("ééééé".into(), 6), "é...");
    }
}
