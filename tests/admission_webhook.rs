//! The admission-webhook example (`examples/admission-webhook`) end to end:
//! the built binary serves HTTPS with a test-CA certificate, answers real
//! `AdmissionReview` documents about images pushed to a real registry and
//! signed by cosign 2.5, pins digests, bounds requests and reloads policies
//! on SIGHUP.

// Test code: a failed step must abort the test with its message.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::cosign::Cosign;
use crate::support::images::{build_image_layout, push_layout};
use crate::support::process::{self, DEFAULT_TIMEOUT};
use crate::support::registry::{
    RegistryOptions, TestRegistry, TlsFiles, make_tls_files, tls_client_config,
};
use crate::support::skopeo::Skopeo;
use crate::support::tools::{rsign_bin, workspace_root};

/// The example's binary, built once per test run if missing or older than
/// its sources (`cargo test` builds examples, `cargo test --test
/// integration` does not). It sits in `examples/` beside the rsign binary.
fn webhook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let rsign = rsign_bin();
        let profile_dir = rsign.parent().expect("rsign binary has a directory");
        let bin = profile_dir.join("examples").join("admission-webhook");
        let sources = workspace_root().join("examples/admission-webhook");
        if !is_fresh(&bin, &sources) {
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev".to_owned(),
                Some(other) => other.to_owned(),
            };
            let target_dir = profile_dir.parent().expect("profile dir has a parent");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(workspace_root())
                .args(["build", "-p", "rsign-cli", "--example", "admission-webhook"])
                .args(["--profile", &profile])
                .arg("--target-dir")
                .arg(target_dir);
            process::run(cmd, Duration::from_secs(900)).assert_success();
        }
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// Whether `bin` exists and is newer than every file in `sources`.
fn is_fresh(bin: &Path, sources: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return false;
    };
    let newest = std::fs::read_dir(sources)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| modified(&e.path()))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    built > newest
}

/// A running webhook; killed when dropped.
struct Webhook {
    child: Child,
    addr: String,
    tls: TlsFiles,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Webhook {
    /// Starts the example with `--policy policy` and `extra` flags on a free
    /// port, with a certificate from a fresh test CA.
    fn start(policy: &Path, extra: &[&str]) -> Webhook {
        let dir = tempfile::Builder::new()
            .prefix("rsign-webhook-")
            .tempdir()
            .unwrap();
        let tls = make_tls_files(dir.path());
        let log = dir.path().join("webhook.log");
        let mut child = Command::new(webhook_bin())
            .args(["--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(&tls.server_cert)
            .arg("--tls-key")
            .arg(&tls.server_key)
            .arg("--policy")
            .arg(policy)
            .args(extra)
            .env("RSIGN_LOG", "info")
            .env("DOCKER_CONFIG", dir.path().join("no-docker-config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", webhook_bin().display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the webhook did not start (stdout {line:?}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let addr = addr.to_owned();
        Webhook {
            child,
            addr,
            tls,
            log,
            _dir: dir,
        }
    }

    /// Sends one HTTPS request (`Connection: close`) and returns status,
    /// headers (lower-case names) and body.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> Response {
        self.request_trusting(&self.tls.ca_cert, method, path, body)
            .unwrap_or_else(|raw| {
                panic!(
                    "no HTTP response to {method} {path}: {:?}\n{}",
                    String::from_utf8_lossy(&raw),
                    self.log()
                )
            })
    }

    /// [`Webhook::request`] trusting only `ca`; `Err` with whatever
    /// arrived when there is no HTTP response (e.g. the handshake failed).
    fn request_trusting(
        &self,
        ca: &Path,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, Vec<u8>> {
        let tcp = TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let conn = rustls::ClientConnection::new(
            tls_client_config(ca),
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        // The server may answer (413) and close before reading a huge body.
        let _ = tls
            .write_all(head.as_bytes())
            .and_then(|()| tls.write_all(body));
        let _ = tls.flush();
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw);
        Response::parse(&raw).ok_or(raw)
    }

    /// POSTs `review` to `path` and returns the `AdmissionReview` answer.
    fn review(&self, path: &str, review: &Value) -> Value {
        let r = self.request("POST", path, &serde_json::to_vec(review).unwrap());
        assert_eq!(r.status, 200, "{} {}", r.text(), self.log());
        assert_eq!(r.header("content-type"), Some("application/json"));
        serde_json::from_slice(&r.body).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -HUP`.
    fn hangup(&self) {
        let mut cmd = Command::new("kill");
        cmd.args(["-HUP", &self.child.id().to_string()]);
        process::run(cmd, DEFAULT_TIMEOUT).assert_success();
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Option<Response> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Some(Response {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An `AdmissionReview` as the API server sends it (v1, with the fields
/// the API server fills in).
fn admission_review(uid: &str, group: &str, kind: &str, resource: &str, object: Value) -> Value {
    let version = "v1";
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": object["metadata"]["name"],
            "namespace": "team-a",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "8f8f5a5c-0000-4000-8000-000000000001",
                "groups": ["system:serviceaccounts", "system:authenticated"]
            },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    })
}

fn pod_spec(containers: Vec<Value>, init: Vec<Value>) -> Value {
    json!({
        "containers": containers,
        "initContainers": init,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler"
    })
}

fn pod(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "team-a", "labels": {"app": name}},
        "spec": spec,
        "status": {}
    })
}

fn deployment(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "team-a", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
            "strategy": {"type": "RollingUpdate"}
        },
        "status": {}
    })
}

fn cronjob(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                "metadata": {"labels": {"job": name}},
                "spec": spec
            }}}
        },
        "status": {}
    })
}

fn policy_yaml(name: &str, glob: &str, mode: &str, public_key: &Path) -> String {
    let pem = std::fs::read_to_string(public_key).unwrap();
    let indented: String = pem.lines().map(|l| format!("          {l}\n")).collect();
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n\
         metadata:\n  name: {name}\nspec:\n  mode: {mode}\n  images:\n    - glob: \"{glob}\"\n\
         \x20 authorities:\n    - name: ci-key\n      key:\n        data: |\n{indented}"
    )
}

/// `GET`s of the image's `.sig` manifest made by rsign (not by cosign
/// while signing).
fn sig_fetches(reg: &TestRegistry, repo: &str, digest: &str) -> usize {
    let uri = format!("/v2/{repo}/manifests/{}.sig", digest.replace(':', "-"));
    reg.requests()
        .iter()
        .filter(|e| e.method == "GET" && e.uri == uri && e.user_agent.starts_with("rsign/"))
        .count()
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn pods_and_workloads_are_admitted_denied_warned_and_pinned() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let skopeo = Skopeo::new();
    let cosign = Cosign::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let mut digests = std::collections::HashMap::new();
    for (seed, repo) in [
        (1, "prod/api"),
        (2, "prod/sidecar"),
        (3, "prod/rogue"),
        (4, "staging/tool"),
    ] {
        let tag = format!("t{seed}");
        build_image_layout(&layout, &tag, seed);
        let pushed = push_layout(
            &skopeo,
            &layout,
            &tag,
            &reg.reference(&format!("{repo}:v1")),
            &reg,
        );
        digests.insert(repo, pushed);
    }
    let keys = work.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = cosign.generate_key_pair(&keys, "webhook-test");
    for repo in ["prod/api", "prod/sidecar"] {
        let by_digest = reg.reference(&format!("{repo}@{}", digests[repo]));
        cosign.sign(&reg, &key, &by_digest, &[]).assert_success();
    }
    let policy = work.path().join("policies.yaml");
    std::fs::write(
        &policy,
        format!(
            "{}---\n{}",
            policy_yaml(
                "prod-signed",
                &format!("{}/prod/**", reg.host()),
                "enforce",
                &key.public_key
            ),
            policy_yaml(
                "staging-advisory",
                &format!("{}/staging/**", reg.host()),
                "warn",
                &key.public_key
            ),
        ),
    )
    .unwrap();
    let hook = Webhook::start(&policy, &["--mutate"]);
    let api = reg.reference("prod/api:v1");
    let sidecar = reg.reference("prod/sidecar:v1");
    let rogue = reg.reference("prod/rogue:v1");
    let tool = reg.reference("staging/tool:v1");
    let before = reg.requests().len();

    // A Pod with 3 containers (2 + an init container), one image twice.
    let spec = pod_spec(
        vec![container("api", &api), container("sidecar", &sidecar)],
        vec![container("migrate", &api)],
    );
    let review = admission_review("3b8e7c4e-pod", "", "Pod", "pods", pod("web", spec.clone()));
    let answer = hook.review("/validate", &review);
    let response = &answer["response"];
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(response["uid"], "3b8e7c4e-pod");
    assert_eq!(response["allowed"], true, "{answer}\n{}", hook.log());
    assert!(response.get("status").is_none(), "{answer}");
    assert!(
        response.get("patch").is_none(),
        "/validate never patches: {answer}"
    );
    // Each distinct image's signatures were fetched exactly once.
    assert_eq!(
        sig_fetches(&reg, "prod/api", &digests["prod/api"]),
        1,
        "{:?}",
        &reg.requests()[before..]
    );
    assert_eq!(
        sig_fetches(&reg, "prod/sidecar", &digests["prod/sidecar"]),
        1
    );
    let audit: Value =
        serde_json::from_str(response["auditAnnotations"]["decisions"].as_str().unwrap()).unwrap();
    assert_eq!(audit.as_array().unwrap().len(), 2, "{audit}");
    assert_eq!(audit[0]["digest"], digests["prod/api"].as_str());

    // The same Pod again is decided from the cache: no new fetch.
    let again = hook.review(
        "/validate",
        &admission_review("uid-2", "", "Pod", "pods", pod("web", spec.clone())),
    );
    assert_eq!(again["response"]["uid"], "uid-2");
    assert_eq!(again["response"]["allowed"], true);
    assert_eq!(sig_fetches(&reg, "prod/api", &digests["prod/api"]), 1);

    // /mutate pins each tag to the digest that was verified.
    let mutated = hook.review("/mutate", &review);
    assert_eq!(mutated["response"]["allowed"], true);
    assert_eq!(mutated["response"]["patchType"], "JSONPatch");
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(mutated["response"]["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        patch,
        json!([
            {"op": "replace", "path": "/spec/containers/0/image", "value": format!("{api}@{}", digests["prod/api"])},
            {"op": "replace", "path": "/spec/containers/1/image", "value": format!("{sidecar}@{}", digests["prod/sidecar"])},
            {"op": "replace", "path": "/spec/initContainers/0/image", "value": format!("{api}@{}", digests["prod/api"])},
        ])
    );

    // A Deployment with an unsigned image is denied, naming that image only.
    let spec = pod_spec(
        vec![container("api", &api), container("rogue", &rogue)],
        vec![],
    );
    let answer = hook.review(
        "/validate",
        &admission_review(
            "c0ffee-deploy",
            "apps",
            "Deployment",
            "deployments",
            deployment("web", spec),
        ),
    );
    let response = &answer["response"];
    assert_eq!(response["uid"], "c0ffee-deploy");
    assert_eq!(response["allowed"], false, "{answer}");
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("image `{rogue}`")), "{message}");
    assert!(message.contains("signature-missing"), "{message}");
    assert!(!message.contains(&format!("image `{api}`")), "{message}");
    assert!(
        hook.review(
            "/mutate",
            &admission_review(
                "m",
                "apps",
                "Deployment",
                "deployments",
                deployment("web", pod_spec(vec![container("rogue", &rogue)], vec![]))
            )
        )["response"]
            .get("patch")
            .is_none()
    );

    // A CronJob under a warn-mode policy: admitted, with a warning naming it.
    let spec = pod_spec(vec![container("tool", &tool)], vec![container("api", &api)]);
    let answer = hook.review(
        "/validate",
        &admission_review(
            "cron-1",
            "batch",
            "CronJob",
            "cronjobs",
            cronjob("nightly", spec),
        ),
    );
    let response = &answer["response"];
    assert_eq!(response["uid"], "cron-1");
    assert_eq!(response["allowed"], true, "{answer}");
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains(&tool), "{warning}");
    assert!(warning.contains("staging-advisory"), "{warning}");

    // Every request was logged with its decisions.
    let log = hook.log();
    assert!(
        log.contains("c0ffee-deploy") && log.contains("signature-missing"),
        "{log}"
    );
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn concurrent_identical_reviews_fetch_signatures_once() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let skopeo = Skopeo::new();
    let cosign = Cosign::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    build_image_layout(&layout, "v1", 11);
    let digest = push_layout(&skopeo, &layout, "v1", &reg.reference("prod/app:v1"), &reg);
    let keys = work.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = cosign.generate_key_pair(&keys, "webhook-test");
    cosign
        .sign(
            &reg,
            &key,
            &reg.reference(&format!("prod/app@{digest}")),
            &[],
        )
        .assert_success();
    let policy = work.path().join("policy.yaml");
    std::fs::write(
        &policy,
        policy_yaml(
            "prod",
            &format!("{}/prod/**", reg.host()),
            "enforce",
            &key.public_key,
        ),
    )
    .unwrap();
    let hook = Webhook::start(&policy, &[]);
    let image = reg.reference("prod/app:v1");
    let review = admission_review(
        "same",
        "",
        "Pod",
        "pods",
        pod(
            "p",
            pod_spec(vec![container("a", &image), container("b", &image)], vec![]),
        ),
    );
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| s.spawn(|| hook.review("/validate", &review)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        answers.iter().all(|a| a["response"]["allowed"] == true),
        "{:?}",
        answers[0]
    );
    assert_eq!(
        sig_fetches(&reg, "prod/app", &digest),
        1,
        "{:?}",
        reg.requests()
    );
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn http_limits_errors_and_health() {
    let work = tempfile::tempdir().unwrap();
    let policy = work.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n\
         metadata: {name: demo}\nspec:\n  images: [{glob: \"registry.example/**\"}]\n\
         \x20 authorities: [{static: {action: pass}}]\n",
    )
    .unwrap();
    let hook = Webhook::start(&policy, &[]);
    let health = hook.request("GET", "/healthz", b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok\n");

    let big = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(hook.request("POST", "/validate", &big).status, 413);
    let bad = hook.request("POST", "/validate", b"{not json");
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("not an AdmissionReview"),
        "{}",
        bad.text()
    );
    let mut old = admission_review("u", "", "Pod", "pods", pod("p", pod_spec(vec![], vec![])));
    old["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let r = hook.request("POST", "/validate", &serde_json::to_vec(&old).unwrap());
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("admission.k8s.io/v1beta1"),
        "{}",
        r.text()
    );
    // /mutate is served only with --mutate.
    assert_eq!(hook.request("POST", "/mutate", b"{}").status, 404);

    // A static policy needs no registry: an allowed Pod, and an image no
    // policy matches denied by default.
    let answer = hook.review(
        "/validate",
        &admission_review(
            "ok",
            "",
            "Pod",
            "pods",
            pod(
                "p",
                pod_spec(vec![container("a", "registry.example/app:1")], vec![]),
            ),
        ),
    );
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let answer = hook.review(
        "/validate",
        &admission_review(
            "nomatch",
            "",
            "Pod",
            "pods",
            pod("p", pod_spec(vec![container("a", "nginx")], vec![])),
        ),
    );
    assert_eq!(answer["response"]["allowed"], false);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("no-matching-policy")
    );
    // Unknown kinds are denied (fail closed).
    let answer = hook.review(
        "/validate",
        &admission_review(
            "cm",
            "",
            "ConfigMap",
            "configmaps",
            json!({"metadata": {"name": "x"}, "data": {}}),
        ),
    );
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn sighup_reloads_policies_and_keeps_them_on_error() {
    let work = tempfile::tempdir().unwrap();
    let policy = work.path().join("policy.yaml");
    let write = |action: &str| {
        std::fs::write(
            &policy,
            format!(
                "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n\
                 metadata: {{name: demo}}\nspec:\n  images: [{{glob: \"registry.example/**\"}}]\n\
                 \x20 authorities: [{{static: {{action: {action}}}}}]\n"
            ),
        )
        .unwrap();
    };
    write("fail");
    let hook = Webhook::start(&policy, &[]);
    let review = admission_review(
        "r",
        "",
        "Pod",
        "pods",
        pod(
            "p",
            pod_spec(vec![container("a", "registry.example/app:1")], vec![]),
        ),
    );
    assert_eq!(
        hook.review("/validate", &review)["response"]["allowed"],
        false
    );

    write("pass");
    hook.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.review("/validate", &review)["response"]["allowed"] != true {
        assert!(
            Instant::now() < deadline,
            "policies not reloaded:\n{}",
            hook.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A broken file is reported and the policies in force stay.
    std::fs::write(&policy, "kind: Nonsense\n").unwrap();
    hook.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hook.log().contains("policy reload failed") {
        assert!(
            Instant::now() < deadline,
            "no reload error logged:\n{}",
            hook.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        hook.review("/validate", &review)["response"]["allowed"],
        true
    );

    // A rotated certificate (from another CA) is served after SIGHUP.
    let rotated = make_tls_files(&work.path().join("rotated"));
    let healthy = |ca: &Path| {
        hook.request_trusting(ca, "GET", "/healthz", b"")
            .is_ok_and(|r| r.status == 200)
    };
    assert!(!healthy(&rotated.ca_cert));
    std::fs::copy(&rotated.server_cert, &hook.tls.server_cert).unwrap();
    std::fs::copy(&rotated.server_key, &hook.tls.server_key).unwrap();
    hook.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !healthy(&rotated.ca_cert) {
        assert!(
            Instant::now() < deadline,
            "certificate not reloaded:\n{}",
            hook.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !healthy(&hook.tls.ca_cert),
        "the old certificate is still served"
    );
}
