//! Image signatures interchanged with the real peers over a real registry:
//! rsign signs → cosign 2.5 and skopeo 1.18 accept; cosign and skopeo sign →
//! rsign accepts; a wrong key or a misplaced signature → all reject.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

use crate::image_sign_verify::PW;
use crate::image_sign_verify::helpers::{Keys, keypair, rsign, s};
use crate::support::cosign::{Cosign, registry_flags};
use crate::support::images;
use crate::support::process::Output;
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::skopeo::{SignedIdentity, Skopeo};

/// A registry with `REPO:v1` pushed, the peers, and a key pair `a`.
struct Setup {
    reg: TestRegistry,
    skopeo: Skopeo,
    cosign: Cosign,
    dir: tempfile::TempDir,
    a: Keys,
}

impl Setup {
    fn new(options: RegistryOptions) -> Self {
        let reg = TestRegistry::start(options);
        let dir = tempfile::tempdir().unwrap();
        let a = keypair(dir.path(), "a");
        Self {
            reg,
            skopeo: Skopeo::new(),
            cosign: Cosign::new(),
            dir,
            a,
        }
    }

    /// Pushes a single-platform image to `repo:v1`; returns (tag ref, digest).
    fn push_image(&self, repo: &str, seed: u64) -> (String, String) {
        let layout = self.dir.path().join(format!("lay-{seed}"));
        images::build_image_layout(&layout, "v1", seed);
        let image = self.reg.reference(&format!("{repo}:v1"));
        let digest = images::push_layout(&self.skopeo, &layout, "v1", &image, &self.reg);
        (image, digest)
    }

    fn flags(&self) -> Vec<String> {
        registry_flags(&self.reg)
    }

    fn rsign(&self, command: &str, key: &Path, extra: &[&str], image: &str) -> Output {
        let flags = self.flags();
        let mut args = vec![command, "--key", s(key)];
        args.extend(flags.iter().map(String::as_str));
        args.extend(extra);
        args.push(image);
        rsign(&args)
    }

    fn skopeo_policy(&self, name: &str, public: &Path) -> std::path::PathBuf {
        self.skopeo
            .write_policy(name, public, SignedIdentity::MatchRepository)
    }
}

fn pinned(image: &str, digest: &str) -> String {
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    format!("{repo}@{digest}")
}

fn rsign_signs_peers_accept(options: RegistryOptions) {
    let st = Setup::new(options);
    let (image, digest) = st.push_image("app", 1);
    st.rsign("sign", &st.a.key, &[], &image)
        .assert_success()
        .assert_stderr_contains(&format!("signed {}", pinned(&image, &digest)));
    // cosign, by tag and by digest.
    st.cosign
        .verify(&st.reg, &st.a.public, &image, &[])
        .assert_success();
    st.cosign
        .verify(&st.reg, &st.a.public, &pinned(&image, &digest), &[])
        .assert_success();
    // skopeo 1.18, sigstoreSigned + matchRepository.
    let policy = st.skopeo_policy("a", &st.a.public);
    st.skopeo
        .verify_by_copy(&st.reg, &policy, &image, &[])
        .assert_success();
    // rsign itself.
    st.rsign("verify", &st.a.public, &[], &image)
        .assert_success()
        .assert_stdout_contains(&format!("{} verified by", pinned(&image, &digest)));
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn rsign_signs_cosign_and_skopeo_accept_plain_http() {
    rsign_signs_peers_accept(RegistryOptions::plain());
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn rsign_signs_cosign_and_skopeo_accept_tls_and_auth() {
    rsign_signs_peers_accept(
        RegistryOptions::plain()
            .with_tls()
            .with_auth("alice", "s3cret"),
    );
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn recursive_index_signature_accepted_by_skopeo_all_and_cosign() {
    let st = Setup::new(RegistryOptions::plain());
    let policy = st.skopeo_policy("a", &st.a.public);
    for (repo, recursive, seed) in [("multi", true, 5), ("flat", false, 6)] {
        let layout = st.dir.path().join(repo);
        let index = images::build_index_layout(&layout, "multi", seed);
        let image = st.reg.reference(&format!("{repo}:1"));
        images::push_layout(&st.skopeo, &layout, "multi", &image, &st.reg);
        let extra: &[&str] = if recursive { &["--recursive"] } else { &[] };
        st.rsign("sign", &st.a.key, extra, &image).assert_success();
        st.cosign
            .verify(&st.reg, &st.a.public, &image, &[])
            .assert_success();
        let out = st
            .skopeo
            .verify_by_copy(&st.reg, &policy, &image, &["--all"]);
        // skopeo checks every platform image: only the recursive signature passes.
        assert_eq!(out.success(), recursive, "{repo}: {out}");
        for p in &index.platforms {
            let code = st
                .rsign("verify", &st.a.public, &[], &pinned(&image, &p.digest))
                .code();
            assert_eq!(
                code,
                Some(if recursive { 0 } else { 3 }),
                "{repo} {}",
                p.digest
            );
        }
    }
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn cosign_signs_rsign_accepts() {
    let st = Setup::new(RegistryOptions::plain());
    let (image, digest) = st.push_image("bycosign", 2);
    let cdir = st.dir.path().join("cosign-keys");
    std::fs::create_dir_all(&cdir).unwrap();
    let ck = st.cosign.generate_key_pair(&cdir, "cosign-pw");
    st.cosign.sign(&st.reg, &ck, &image, &[]).assert_success();
    st.rsign("verify", &ck.public_key, &[], &image)
        .assert_success();
    let out = st.rsign(
        "verify",
        &ck.public_key,
        &["-o", "json"],
        &pinned(&image, &digest),
    );
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["digest"], digest.as_str());
    // cosign signs the repository alone.
    let repo = image.rsplit_once(':').unwrap().0;
    assert_eq!(
        v["signatures"][0]["payload"]["critical"]["identity"]["docker-reference"],
        repo
    );
    // rsign's key does not verify cosign's signature.
    st.rsign("verify", &st.a.public, &[], &image).assert_code(1);
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn skopeo_signs_rsign_accepts() {
    let st = Setup::new(RegistryOptions::plain());
    let (image, _digest) = st.push_image("byskopeo", 3);
    // skopeo signs with rsign's key (cosign's encrypted format).
    st.skopeo
        .sign(&st.reg, &image, &st.a.key, PW)
        .assert_success();
    let out = st.rsign("verify", &st.a.public, &["-o", "json"], &image);
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let payload = &v["signatures"][0]["payload"];
    // skopeo writes repo:tag and optional.creator.
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        image.as_str()
    );
    assert!(
        payload["optional"]["creator"].as_str().is_some(),
        "{payload}"
    );
    // And cosign accepts what skopeo wrote, too.
    st.cosign
        .verify(&st.reg, &st.a.public, &image, &[])
        .assert_success();
}

#[test]
#[ignore = "needs cosign 2.5, skopeo 1.18 and docker-registry (scripts/install-test-deps.sh)"]
fn wrong_key_and_misplaced_signature_rejected_by_all() {
    let st = Setup::new(RegistryOptions::plain());
    let b = keypair(st.dir.path(), "b");
    let (image, digest) = st.push_image("neg", 4);
    st.rsign("sign", &st.a.key, &[], &image).assert_success();
    // Wrong key.
    st.rsign("verify", &b.public, &[], &image)
        .assert_code(1)
        .assert_stderr_contains("wrong key");
    st.cosign
        .verify(&st.reg, &b.public, &image, &[])
        .assert_code(12);
    let policy_b = st.skopeo_policy("b", &b.public);
    assert!(
        !st.skopeo
            .verify_by_copy(&st.reg, &policy_b, &image, &[])
            .success()
    );

    // A valid signature for another image moved under this image's tag.
    let (other, other_digest) = st.push_image("neg2", 9);
    st.rsign("sign", &st.a.key, &[], &other).assert_success();
    let repo_of = |r: &str| r.rsplit_once(':').unwrap().0.to_owned();
    let from = format!(
        "docker://{}:{}.sig",
        repo_of(&other),
        other_digest.replace(':', "-")
    );
    let to = format!(
        "docker://{}:{}.sig",
        repo_of(&image),
        digest.replace(':', "-")
    );
    let mut args = vec!["copy", "--preserve-digests"];
    let src = crate::support::skopeo::src_flags(&st.reg);
    let dst = crate::support::skopeo::dest_flags(&st.reg);
    args.extend(src.iter().chain(&dst).map(String::as_str));
    args.extend([from.as_str(), to.as_str()]);
    st.skopeo.run(&args).assert_success();
    st.rsign("verify", &st.a.public, &[], &image)
        .assert_code(1)
        .assert_stderr_contains("digest mismatch");
    assert!(
        !st.cosign
            .verify(&st.reg, &st.a.public, &image, &[])
            .success()
    );
    let policy_a = st.skopeo_policy("a", &st.a.public);
    assert!(
        !st.skopeo
            .verify_by_copy(&st.reg, &policy_a, &image, &[])
            .success()
    );
}
