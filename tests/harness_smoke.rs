//! Proves the test harness and the real peers work together: registries
//! (plain, TLS + basic auth), hand-built layouts pushed by skopeo, and
//! cosign / skopeo signing and verifying offline with keys.

use crate::support::cosign::{Cosign, EXIT_NO_MATCHING_SIGNATURE, EXIT_NO_SIGNATURES};
use crate::support::images::{build_image_layout, build_index_layout, push_layout, sha256_digest};
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::skopeo::{SignedIdentity, Skopeo};

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn plain_registry_single_image_cosign_sign_and_verify() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    assert_eq!(reg.get("/v2/").status, 200);
    // The harness's own requests are not counted as client requests.
    assert!(reg.log().contains("GET /v2/ HTTP/1.1"));
    assert_eq!(reg.requests(), Vec::new());
    let skopeo = Skopeo::new();
    let cosign = Cosign::new();
    let work = tempfile::tempdir().unwrap();

    let layout = work.path().join("layout");
    let digest = build_image_layout(&layout, "v1", 1);
    let unsigned = build_image_layout(&layout, "v2", 2);
    assert_ne!(digest, unsigned);
    let pushed = push_layout(&skopeo, &layout, "v1", &reg.reference("app:v1"), &reg);
    assert_eq!(pushed, digest);
    push_layout(&skopeo, &layout, "v2", &reg.reference("app:v2"), &reg);
    assert!(reg.count_requests("PUT", "/v2/app/manifests/v1") >= 1);

    // The registry serves exactly the bytes we built.
    let manifest = reg.get_manifest("app", &digest);
    assert_eq!(manifest.status, 200);
    assert_eq!(sha256_digest(&manifest.body), digest);
    assert_eq!(
        manifest.header("Docker-Content-Digest"),
        Some(digest.as_str())
    );

    let keys_a = work.path().join("a");
    let keys_b = work.path().join("b");
    std::fs::create_dir_all(&keys_a).unwrap();
    std::fs::create_dir_all(&keys_b).unwrap();
    let a = cosign.generate_key_pair(&keys_a, "pass-a");
    let b = cosign.generate_key_pair(&keys_b, "pass-b");
    let pem = std::fs::read_to_string(&a.private_key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{pem}"
    );

    let image = reg.reference(&format!("app@{digest}"));
    cosign.sign(&reg, &a, &image, &[]).assert_success();
    // The signature went to the sha256-<hex>.sig tag.
    let sig_tag = format!("/v2/app/manifests/{}.sig", digest.replace(':', "-"));
    assert!(
        reg.count_requests("PUT", &sig_tag) >= 1,
        "{:?}",
        reg.requests()
    );

    let ok = cosign.verify(&reg, &a.public_key, &image, &[]);
    ok.assert_success();
    let claims: serde_json::Value = serde_json::from_str(ok.stdout.trim()).unwrap();
    assert_eq!(
        claims[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        claims[0]["critical"]["identity"]["docker-reference"],
        reg.reference("app")
    );
    // By tag too.
    cosign
        .verify(&reg, &a.public_key, &reg.reference("app:v1"), &[])
        .assert_success();

    cosign
        .verify(&reg, &b.public_key, &image, &[])
        .assert_code(EXIT_NO_MATCHING_SIGNATURE);
    cosign
        .verify(&reg, &a.public_key, &reg.reference("app:v2"), &[])
        .assert_code(EXIT_NO_SIGNATURES);

    // skopeo accepts cosign's repository-only identity under matchRepository only.
    let accept = skopeo.write_policy("a", &a.public_key, SignedIdentity::MatchRepository);
    skopeo
        .verify_by_copy(&reg, &accept, &reg.reference("app:v1"), &[])
        .assert_success();
    let wrong_key = skopeo.write_policy("b", &b.public_key, SignedIdentity::MatchRepository);
    skopeo
        .verify_by_copy(&reg, &wrong_key, &reg.reference("app:v1"), &[])
        .assert_failure()
        .assert_stderr_contains("signature verification failed");
    let exact = skopeo.write_policy(
        "exact",
        &a.public_key,
        SignedIdentity::MatchRepoDigestOrExact,
    );
    skopeo
        .verify_by_copy(&reg, &exact, &reg.reference("app:v1"), &[])
        .assert_failure()
        .assert_stderr_contains("is not accepted");
    skopeo
        .verify_by_copy(&reg, &accept, &reg.reference("app:v2"), &[])
        .assert_failure()
        .assert_stderr_contains("no signature exists");

    // Dropping the registry stops it.
    let port = reg.port();
    drop(reg);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn plain_registry_with_basic_auth() {
    let reg = TestRegistry::start(RegistryOptions::plain().with_auth("bob", "pw:with:colons"));
    assert_eq!(reg.request_anonymous("GET", "/v2/").status, 401);
    assert_eq!(reg.get("/v2/").status, 200);
    let skopeo = Skopeo::new();
    let cosign = Cosign::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let digest = build_image_layout(&layout, "v1", 5);
    push_layout(&skopeo, &layout, "v1", &reg.reference("auth/app:v1"), &reg);
    let keys = cosign.generate_key_pair(work.path(), "");
    let image = reg.reference("auth/app:v1");
    cosign.sign(&reg, &keys, &image, &[]).assert_success();
    let out = cosign.verify(&reg, &keys.public_key, &image, &[]);
    out.assert_success().assert_stdout_contains(&digest);
    // The registry saw authenticated requests from bob (the access log has
    // no user column; the application log names the user).
    assert!(reg.log().contains("auth.user.name=bob"));
    assert!(reg.count_requests("PUT", "/v2/auth/app/manifests/") >= 2);
}

#[test]
#[ignore = "needs docker-registry, cosign and skopeo (scripts/install-test-deps.sh)"]
fn tls_auth_registry_index_signed_by_cosign_and_skopeo() {
    let reg = TestRegistry::start(
        RegistryOptions::plain()
            .with_tls()
            .with_auth("alice", "s3cret"),
    );
    assert!(reg.base_url().starts_with("https://"));
    assert!(reg.ca_cert_path().unwrap().is_file());
    // rustls (ring) accepts the leaf certificate; auth is enforced.
    assert_eq!(reg.request_anonymous("GET", "/v2/").status, 401);
    assert_eq!(reg.get("/v2/").status, 200);

    let skopeo = Skopeo::new();
    let cosign = Cosign::new();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let index = build_index_layout(&layout, "multi", 3);
    let pushed = push_layout(&skopeo, &layout, "multi", &reg.reference("multi:1"), &reg);
    assert_eq!(pushed, index.digest);

    let raw = skopeo.inspect_raw(&reg, &reg.reference("multi:1"));
    raw.assert_success();
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), index.digest);
    for p in &index.platforms {
        let r = reg.get_manifest("multi", &p.digest);
        assert_eq!(r.status, 200, "{} missing", p.architecture);
        assert_eq!(sha256_digest(&r.body), p.digest);
    }

    let keys = cosign.generate_key_pair(work.path(), "pw");
    let by_digest = reg.reference(&format!("multi@{}", index.digest));
    cosign.sign(&reg, &keys, &by_digest, &[]).assert_success();
    cosign
        .verify(&reg, &keys.public_key, &by_digest, &[])
        .assert_success();
    // cosign signed only the index; its platform images have no signatures.
    let amd64 = reg.reference(&format!("multi@{}", index.platforms[0].digest));
    cosign
        .verify(&reg, &keys.public_key, &amd64, &[])
        .assert_code(EXIT_NO_SIGNATURES);

    // skopeo checks each platform image, so the index alone is not enough...
    let policy = skopeo.write_policy("k", &keys.public_key, SignedIdentity::MatchRepository);
    skopeo
        .verify_by_copy(&reg, &policy, &reg.reference("multi:1"), &["--all"])
        .assert_failure()
        .assert_stderr_contains("no signature exists");
    // ...until skopeo signs recursively (with the cosign-made key).
    skopeo
        .sign(&reg, &reg.reference("multi:1"), &keys.private_key, "pw")
        .assert_success();
    skopeo
        .verify_by_copy(&reg, &policy, &reg.reference("multi:1"), &["--all"])
        .assert_success();
    // cosign accepts skopeo's signatures on a platform image.
    cosign
        .verify(&reg, &keys.public_key, &amd64, &[])
        .assert_success();
}
