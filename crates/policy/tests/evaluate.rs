//! Evaluation: combination rules, thresholds, modes, attestations, the
//! evaluator's cache, single flight, deadline and reload — with real P-256
//! keys and real cosign payloads.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rsign_policy::{Code, Evaluator, EvaluatorOptions, NoMatch, Outcome, Verdict};
use support::*;

fn evaluator(yaml: &str, source: &Arc<MemorySource>) -> Evaluator {
    Evaluator::new(parse(yaml), source.clone(), EvaluatorOptions::default())
}

#[tokio::test]
async fn trusted_signature_allows_and_decision_json_has_the_documented_shape() {
    let signer = key();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/app:1");
    source.add_signature(&digest, sign(&signer, "registry.example/app", &digest));
    let ev = evaluator(&cip("app", "registry.example/**", &[&signer]), &source);

    let d = ev.evaluate("registry.example/app:1").await;
    assert_eq!(d.verdict, Verdict::Allow, "{d:#?}");
    let json = d.to_json();
    assert_eq!(json["image"], "registry.example/app:1");
    assert_eq!(json["digest"], digest.to_string());
    assert_eq!(json["decision"], "allow");
    assert_eq!(json["policies"][0]["name"], "app");
    assert_eq!(json["policies"][0]["result"], "pass");
    assert_eq!(json["policies"][0]["authorities"][0]["name"], "key-0");
    assert_eq!(json["policies"][0]["authorities"][0]["result"], "pass");
    assert_eq!(
        json["policies"][0]["authorities"][0]["code"],
        "signature-verified"
    );
    assert!(json["policies"][0]["authorities"][0]["reason"].is_string());
    assert_eq!(json["warnings"], serde_json::json!([]));
}

#[tokio::test]
async fn untrusted_or_missing_or_wrong_digest_signatures_deny() {
    let trusted = key();
    let stranger = key();
    let source = Arc::new(MemorySource::default());
    let unsigned = source.image("registry.example/unsigned:1");
    let foreign = source.image("registry.example/foreign:1");
    let moved = source.image("registry.example/moved:1");
    source.add_signature(
        &foreign,
        sign(&stranger, "registry.example/foreign", &foreign),
    );
    // A trusted signature for another digest, replayed onto this one.
    source.add_signature(&moved, sign(&trusted, "registry.example/moved", &unsigned));
    let ev = evaluator(&cip("app", "registry.example/**", &[&trusted]), &source);

    let d = ev.evaluate("registry.example/unsigned:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::SignatureMissing);
    let d = ev.evaluate("registry.example/foreign:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::SignerNotTrusted);
    let d = ev.evaluate("registry.example/moved:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::SignerNotTrusted);
    assert_eq!(d.to_json()["decision"], "deny");
}

#[tokio::test]
async fn authorities_are_or_and_policies_are_and() {
    let a = key();
    let b = key();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/team/app:1");
    source.add_signature(&digest, sign(&b, "registry.example/team/app", &digest));

    // One policy, two authorities: b alone is enough.
    let ev = evaluator(&cip("either", "registry.example/**", &[&a, &b]), &source);
    let d = ev.evaluate("registry.example/team/app:1").await;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.policies[0].authorities[0].result, Outcome::Fail);
    assert_eq!(d.policies[0].authorities[1].result, Outcome::Pass);

    // Two matching policies: both must pass; the one trusting only `a` fails.
    let yaml = format!(
        "{}---\n{}",
        cip("trust-b", "registry.example/**", &[&b]),
        cip("trust-a", "registry.example/team/*", &[&a])
    );
    let ev = evaluator(&yaml, &source);
    let d = ev.evaluate("registry.example/team/app:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies.len(), 2);
    assert_eq!(d.policies[0].result, Outcome::Pass);
    assert_eq!(d.policies[1].result, Outcome::Fail);
    assert!(d.reason.contains("trust-a"), "{}", d.reason);

    // A policy whose glob does not match does not take part.
    let yaml = format!(
        "{}---\n{}",
        cip("trust-b", "registry.example/**", &[&b]),
        cip("other", "other.example/**", &[&a])
    );
    let d = evaluator(&yaml, &source)
        .evaluate("registry.example/team/app:1")
        .await;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.policies.len(), 1);
}

fn native_threshold(keys: &[&rsign_core::keys::PrivateKey], threshold: usize) -> String {
    let mut out = String::from(
        "apiVersion: rsign.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: two-of-three\nspec:\n  images:\n  - glob: \"registry.example/**\"\n  authorities:\n  - name: release\n",
    );
    out.push_str(&format!("    threshold: {threshold}\n    keys:\n"));
    for k in keys {
        out.push_str(&format!("    - data: |\n{}", pem_block(k, 8)));
    }
    out
}

#[tokio::test]
async fn threshold_counts_distinct_trusted_keys() {
    let (k1, k2, k3, outsider) = (key(), key(), key(), key());
    let source = Arc::new(MemorySource::default());
    let one = source.image("registry.example/one:1");
    let two = source.image("registry.example/two:1");
    let dup = source.image("registry.example/dup:1");
    source.add_signature(&one, sign(&k1, "registry.example/one", &one));
    source.add_signature(&one, sign(&outsider, "registry.example/one", &one));
    source.add_signature(&two, sign(&k1, "registry.example/two", &two));
    source.add_signature(&two, sign(&k3, "registry.example/two", &two));
    // The same key twice is still one signer.
    source.add_signature(&dup, sign(&k2, "registry.example/dup", &dup));
    source.add_signature(&dup, sign(&k2, "registry.example/dup", &dup));
    let ev = evaluator(&native_threshold(&[&k1, &k2, &k3], 2), &source);

    let d = ev.evaluate("registry.example/one:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::ThresholdUnmet);
    let d = ev.evaluate("registry.example/dup:1").await;
    assert_eq!(d.policies[0].authorities[0].code, Code::ThresholdUnmet);
    let d = ev.evaluate("registry.example/two:1").await;
    assert_eq!(d.verdict, Verdict::Allow, "{d:#?}");
}

#[tokio::test]
async fn warn_mode_admits_with_a_warning() {
    let trusted = key();
    let source = Arc::new(MemorySource::default());
    source.image("registry.example/app:1");
    let yaml = cip("audit", "registry.example/**", &[&trusted])
        .replace("spec:\n", "spec:\n  mode: warn\n");
    let d = evaluator(&yaml, &source)
        .evaluate("registry.example/app:1")
        .await;
    assert_eq!(d.verdict, Verdict::Warn);
    assert!(d.verdict.admits());
    assert_eq!(d.code, Code::WarnMode);
    assert_eq!(d.policies[0].result, Outcome::Warn);
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(d.warnings[0].contains("audit"));
    assert_eq!(d.to_json()["decision"], "warn");
}

#[tokio::test]
async fn no_matching_policy_follows_the_no_match_rule() {
    let source = Arc::new(MemorySource::default());
    source.image("elsewhere.example/app:1");
    let set = parse(&cip("app", "registry.example/**", &[&key()]));
    for (rule, verdict) in [
        (NoMatch::Deny, Verdict::Deny),
        (NoMatch::Allow, Verdict::Allow),
        (NoMatch::Warn, Verdict::Warn),
    ] {
        let mut options = EvaluatorOptions::default();
        options.no_match = rule;
        let ev = Evaluator::new(set.clone(), source.clone(), options);
        let d = ev.evaluate("elsewhere.example/app:1").await;
        assert_eq!(d.verdict, verdict);
        assert_eq!(d.code, Code::NoMatchingPolicy);
        assert_eq!(d.warnings.is_empty(), rule != NoMatch::Warn);
    }
    // Nothing was fetched for an image no policy covers.
    assert_eq!(source.resolves.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn static_authorities_decide_without_fetching() {
    let source = Arc::new(MemorySource::default());
    let yaml = "apiVersion: policy.sigstore.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: s}\nspec:\n  images: [{glob: \"pass.example/**\"}]\n  authorities: [{static: {action: pass}}]\n---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: f}\nspec:\n  images: [{glob: \"fail.example/**\"}]\n  authorities: [{name: no, static: {action: fail, message: frozen}}]\n";
    let ev = evaluator(yaml, &source);
    let d = ev.evaluate("pass.example/app:1").await;
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.policies[0].authorities[0].code, Code::StaticPass);
    assert_eq!(d.policies[0].authorities[0].name, "authority-0");
    let d = ev.evaluate("fail.example/app:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::StaticFail);
    assert!(d.policies[0].authorities[0].reason.contains("frozen"));
    assert_eq!(source.resolves.load(Ordering::SeqCst), 0);
}

fn attestation_policy(signer: &rsign_core::keys::PrivateKey, rego: &str) -> String {
    let rego: String = rego.lines().map(|l| format!("            {l}\n")).collect();
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: tested\nspec:\n  images:\n  - glob: \"registry.example/**\"\n  authorities:\n  - name: ci\n    key:\n      data: |\n{}    attestations:\n    - name: tests\n      predicateType: custom\n      policy:\n        type: rego\n        data: |\n{rego}",
        pem_block(signer, 8)
    )
}

const REQUIRE_PASSED: &str = "package sigstore\ndefault isCompliant := false\nisCompliant if input.predicate.data.passed == true\n";

#[tokio::test]
async fn attestations_must_be_signed_typed_and_pass_their_rego_policy() {
    let ci = key();
    let stranger = key();
    let custom = "https://cosign.sigstore.dev/attestation/v1";
    let source = Arc::new(MemorySource::default());
    let good = source.image("registry.example/good:1");
    let bad = source.image("registry.example/bad:1");
    let untrusted = source.image("registry.example/untrusted:1");
    let wrong_type = source.image("registry.example/wrongtype:1");
    source.add_attestation(
        &good,
        attest(
            &ci,
            &good,
            custom,
            serde_json::json!({"data": {"passed": true}}),
        ),
    );
    source.add_attestation(
        &bad,
        attest(
            &ci,
            &bad,
            custom,
            serde_json::json!({"data": {"passed": false}}),
        ),
    );
    source.add_attestation(
        &untrusted,
        attest(
            &stranger,
            &untrusted,
            custom,
            serde_json::json!({"data": {"passed": true}}),
        ),
    );
    source.add_attestation(
        &wrong_type,
        attest(
            &ci,
            &wrong_type,
            "https://slsa.dev/provenance/v1",
            serde_json::json!({"x": 1}),
        ),
    );
    let ev = evaluator(&attestation_policy(&ci, REQUIRE_PASSED), &source);

    let d = ev.evaluate("registry.example/good:1").await;
    assert_eq!(d.verdict, Verdict::Allow, "{d:#?}");
    assert_eq!(
        d.policies[0].authorities[0].code,
        Code::AttestationsVerified
    );
    let d = ev.evaluate("registry.example/bad:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.policies[0].authorities[0].code,
        Code::AttestationPolicyFailed
    );
    let d = ev.evaluate("registry.example/untrusted:1").await;
    assert_eq!(d.policies[0].authorities[0].code, Code::AttestationMissing);
    let d = ev.evaluate("registry.example/wrongtype:1").await;
    assert_eq!(d.policies[0].authorities[0].code, Code::AttestationMissing);
    assert!(
        d.policies[0].authorities[0].reason.contains("slsa.dev"),
        "{}",
        d.policies[0].authorities[0].reason
    );
    // Attestation authorities do not read signatures.
    assert_eq!(source.signature_fetches(), 0);
}

#[tokio::test]
async fn spec_level_rego_sees_the_authority_matches_document() {
    let (a, b) = (key(), key());
    let source = Arc::new(MemorySource::default());
    let both = source.image("registry.example/both:1");
    let one = source.image("registry.example/one:1");
    for k in [&a, &b] {
        source.add_signature(&both, sign(k, "registry.example/both", &both));
    }
    source.add_signature(&one, sign(&a, "registry.example/one", &one));
    // Require both authorities (policy-controller's N-of-M idiom).
    let rego = "package sigstore\ndefault isCompliant := false\nisCompliant if count(input.authorityMatches) == 2\n";
    let rego: String = rego.lines().map(|l| format!("      {l}\n")).collect();
    let yaml = format!(
        "{}  policy:\n    type: rego\n    data: |\n{rego}",
        cip("both", "registry.example/**", &[&a, &b])
    );
    let ev = evaluator(&yaml, &source);
    assert_eq!(
        ev.evaluate("registry.example/both:1").await.verdict,
        Verdict::Allow
    );
    let d = ev.evaluate("registry.example/one:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].code, Some(Code::PolicyFailed));
}

#[tokio::test]
async fn hundred_concurrent_evaluations_fetch_once() {
    let signer = key();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/hot:1");
    source.add_signature(&digest, sign(&signer, "registry.example/hot", &digest));
    *source.delay.lock().unwrap() = Duration::from_millis(200);
    let ev = evaluator(&cip("hot", "registry.example/**", &[&signer]), &source);

    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let ev = ev.clone();
            tokio::spawn(async move { ev.evaluate("registry.example/hot:1").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().verdict, Verdict::Allow);
    }
    assert_eq!(source.signature_fetches(), 1);
    assert_eq!(source.resolves.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn successes_are_cached_until_the_ttl_and_failures_never() {
    let signer = key();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/app:1");
    source.image("registry.example/unsigned:1");
    source.add_signature(&digest, sign(&signer, "registry.example/app", &digest));
    let mut options = EvaluatorOptions::default();
    options.cache_ttl = Duration::from_secs(30);
    let ev = Evaluator::new(
        parse(&cip("app", "registry.example/**", &[&signer])),
        source.clone(),
        options,
    );

    assert_eq!(
        ev.evaluate("registry.example/app:1").await.verdict,
        Verdict::Allow
    );
    assert_eq!(
        ev.evaluate("registry.example/app:1").await.verdict,
        Verdict::Allow
    );
    assert_eq!(
        source.signature_fetches(),
        1,
        "second evaluation served from cache"
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        ev.evaluate("registry.example/app:1").await.verdict,
        Verdict::Allow
    );
    assert_eq!(source.signature_fetches(), 2, "expired entry re-fetched");

    // Denials are not cached: every evaluation looks again.
    for _ in 0..3 {
        assert_eq!(
            ev.evaluate("registry.example/unsigned:1").await.verdict,
            Verdict::Deny
        );
    }
    assert_eq!(source.signature_fetches(), 5);
}

#[tokio::test(start_paused = true)]
async fn deadline_and_source_errors_fail_closed_unless_dangerously_open() {
    let signer = key();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/slow:1");
    source.add_signature(&digest, sign(&signer, "registry.example/slow", &digest));
    *source.delay.lock().unwrap() = Duration::from_secs(60);
    let set = parse(&cip("app", "registry.example/**", &[&signer]));

    let ev = Evaluator::new(set.clone(), source.clone(), EvaluatorOptions::default());
    let started = tokio::time::Instant::now();
    let d = ev.evaluate("registry.example/slow:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.code, Code::DeadlineExceeded);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(8),
        "default deadline"
    );

    let open = Evaluator::new(
        set.clone(),
        source.clone(),
        EvaluatorOptions::default().dangerous_fail_open(),
    );
    let d = open.evaluate("registry.example/slow:1").await;
    assert_eq!(d.verdict, Verdict::Warn);
    assert!(
        d.warnings.iter().any(|w| w.contains("fail-open")),
        "{:?}",
        d.warnings
    );

    *source.delay.lock().unwrap() = Duration::ZERO;
    *source.fail.lock().unwrap() = true;
    let d = ev.evaluate("registry.example/slow:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.code, Code::FetchFailed);
    assert!(d.reason.contains("connection reset"), "{}", d.reason);
    assert_eq!(d.policies[0].authorities[0].code, Code::FetchFailed);
    // An image that does not resolve fails closed too.
    let d = ev.evaluate("registry.example/absent:1").await;
    assert_eq!((d.verdict, d.code), (Verdict::Deny, Code::FetchFailed));
}

#[tokio::test]
async fn reload_swaps_policies_without_disturbing_running_evaluations() {
    let (old_key, new_key) = (key(), key());
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/app:1");
    source.add_signature(&digest, sign(&old_key, "registry.example/app", &digest));
    *source.delay.lock().unwrap() = Duration::from_millis(300);
    let ev = evaluator(&cip("app", "registry.example/**", &[&old_key]), &source);

    let running = {
        let ev = ev.clone();
        tokio::spawn(async move { ev.evaluate("registry.example/app:1").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let old_hash = ev.policies().hash().clone();
    ev.reload(parse(&cip("app", "registry.example/**", &[&new_key])));
    assert_ne!(ev.policies().hash(), &old_hash);
    // The evaluation that started under the old set finishes under it.
    assert_eq!(running.await.unwrap().verdict, Verdict::Allow);
    // New evaluations use the new set.
    let d = ev.evaluate("registry.example/app:1").await;
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.policies[0].authorities[0].code, Code::SignerNotTrusted);
}

#[tokio::test]
async fn invalid_references_are_denied() {
    let source = Arc::new(MemorySource::default());
    let ev = evaluator(&cip("app", "**", &[&key()]), &source);
    let d = ev.evaluate("Invalid&Name").await;
    assert_eq!((d.verdict, d.code), (Verdict::Deny, Code::InvalidReference));
}

#[test]
fn evaluator_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Evaluator>();
}

/// A policy whose evaluation takes far longer than any deadline.
const SLOW_REGO: &str = "package sigstore\nimport rego.v1\nn := numbers.range(1, 4000)\nisCompliant if count([1 | some a in n; some b in n; a != b]) > 0\n";

#[tokio::test]
async fn rego_over_many_attestations_stays_within_the_deadline() {
    let ci = key();
    let custom = "https://cosign.sigstore.dev/attestation/v1";
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/many:1");
    for i in 0..20 {
        source.add_attestation(
            &digest,
            attest(&ci, &digest, custom, serde_json::json!({"run": i})),
        );
    }
    let mut options = EvaluatorOptions::default();
    options.deadline = Duration::from_millis(300);
    let ev = Evaluator::new(
        parse(&attestation_policy(&ci, SLOW_REGO)),
        source.clone(),
        options,
    );
    let started = std::time::Instant::now();
    let d = ev.evaluate("registry.example/many:1").await;
    let took = started.elapsed();
    // Each Rego run may take up to its own 1 s limit; twenty of them would
    // take 20 s if the evaluation deadline did not also bound them.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(d.verdict, Verdict::Deny, "{d:#?}");
    assert_eq!(d.code, Code::DeadlineExceeded, "{d:#?}");
    assert_eq!(d.policies[0].authorities[0].code, Code::DeadlineExceeded);
}

/// The decision (here a Rego policy that runs until the deadline) runs on
/// the blocking pool: a single-threaded runtime keeps serving other tasks
/// meanwhile, and the deadline still ends the evaluation.
#[tokio::test(flavor = "current_thread")]
async fn rego_decisions_do_not_block_the_runtime_thread() {
    let ci = key();
    let custom = "https://cosign.sigstore.dev/attestation/v1";
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/slow:1");
    source.add_attestation(
        &digest,
        attest(&ci, &digest, custom, serde_json::json!({"run": 0})),
    );
    let mut options = EvaluatorOptions::default();
    options.deadline = Duration::from_millis(600);
    let ev = Evaluator::new(
        parse(&attestation_policy(&ci, SLOW_REGO)),
        source.clone(),
        options,
    );
    let started = std::time::Instant::now();
    let evaluation = tokio::spawn(async move { ev.evaluate("registry.example/slow:1").await });
    let mut ticks = 0_u32;
    while !evaluation.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ticks += 1;
    }
    let d = evaluation.await.unwrap();
    let took = started.elapsed();
    assert_eq!(d.code, Code::DeadlineExceeded, "{d:#?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // ~30 ticks fit in 600 ms; a decision on the runtime thread allows ~1.
    assert!(
        ticks >= 5,
        "only {ticks} ticks while the decision ran ({took:?})"
    );
}
