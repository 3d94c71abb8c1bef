//! Keyset authorities: trust windows are checked at each evaluation against
//! the evaluator's clock — a retired key stops being accepted when its
//! `acceptUntil` passes, without reloading the policies and even when a
//! success is cached; revoked keys are never trusted and are named.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsign_core::keys::PrivateKey;
use rsign_core::keyset::{KeyStatus, Keyset, Timestamp};
use rsign_policy::{
    Code, Evaluator, EvaluatorOptions, Format, KeysetLoader, LoadError, LoadOptions, PolicySet,
    Verdict,
};
use support::*;

/// Hands out one in-memory keyset whatever the path.
struct FixedKeyset(Keyset);

impl KeysetLoader for FixedKeyset {
    fn load(&self, _path: &Path) -> Result<Keyset, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.clone())
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const ROTATED: &str = "2027-01-01T00:00:00Z";

/// `old` retired at [`ROTATED`] with a 10 s window, `new` active, `leaked`
/// revoked.
fn team_keyset(old: &PrivateKey, new: &PrivateKey, leaked: &PrivateKey) -> Keyset {
    let mut keyset = Keyset::new();
    keyset
        .add(old.public_key(), "old", KeyStatus::Active)
        .unwrap();
    keyset
        .add(leaked.public_key(), "leaked", KeyStatus::Active)
        .unwrap();
    keyset
        .rotate(new.public_key(), "new", Duration::from_secs(10), t(ROTATED))
        .unwrap();
    keyset
        .revoke(&leaked.public_key().key_id().to_string())
        .unwrap();
    keyset
}

/// A native policy for `registry.example/**` whose one authority uses the
/// keyset, plus `extra` lines in the authority.
fn keyset_policy(extra: &str) -> String {
    format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: team\nspec:\n  images:\n  - glob: \"registry.example/**\"\n  authorities:\n  - name: team\n    keyset: team.keyset\n{extra}"
    )
}

fn load(yaml: &str, keyset: &Keyset) -> Result<PolicySet, LoadError> {
    let options = LoadOptions {
        keyset_loader: Some(Arc::new(FixedKeyset(keyset.clone()))),
    };
    PolicySet::parse(
        yaml,
        Format::Yaml,
        Path::new("/policies/team.yaml"),
        Some(Path::new("/policies")),
        &options,
    )
}

/// An evaluator whose clock the test sets.
fn evaluator(
    set: PolicySet,
    source: &Arc<MemorySource>,
    start: Timestamp,
) -> (Evaluator, Arc<Mutex<Timestamp>>) {
    let now = Arc::new(Mutex::new(start));
    let clock = Arc::clone(&now);
    let options = EvaluatorOptions::default().with_clock(Arc::new(move || *clock.lock().unwrap()));
    (Evaluator::new(set, source.clone(), options), now)
}

#[tokio::test]
async fn retired_key_stops_verifying_when_its_window_ends_without_reload() {
    let (old, new, leaked) = (key(), key(), key());
    let keyset = team_keyset(&old, &new, &leaked);
    let source = Arc::new(MemorySource::default());
    let by_old = source.image("registry.example/old:1");
    source.add_signature(&by_old, sign(&old, "registry.example/old", &by_old));
    let by_new = source.image("registry.example/new:1");
    source.add_signature(&by_new, sign(&new, "registry.example/new", &by_new));
    let set = load(&keyset_policy(""), &keyset).unwrap();
    let (ev, now) = evaluator(set, &source, t("2027-01-01T00:00:05Z"));
    let hash = ev.policies().hash().clone();

    let inside = ev.evaluate("registry.example/old:1").await;
    assert_eq!(inside.verdict, Verdict::Allow, "{inside:#?}");
    assert_eq!(source.signature_fetches(), 1);
    // The last instant of the window is still inside it.
    *now.lock().unwrap() = t("2027-01-01T00:00:10Z");
    let edge = ev.evaluate("registry.example/old:1").await;
    assert_eq!(edge.verdict, Verdict::Allow, "{edge:#?}");
    assert_eq!(source.signature_fetches(), 1, "served from the cache");

    // One second later: same evaluator, same policies, a cached success —
    // and a denial naming the key and the end of its window.
    *now.lock().unwrap() = t("2027-01-01T00:00:11Z");
    let after = ev.evaluate("registry.example/old:1").await;
    assert_eq!(after.verdict, Verdict::Deny, "{after:#?}");
    assert_eq!(after.code, Code::SignerNotTrusted);
    let reason = &after.policies[0].authorities[0].reason;
    let expected = format!(
        "{} (old): retired, window ended at 2027-01-01T00:00:10Z",
        old.public_key().key_id().short()
    );
    assert!(reason.contains(&expected), "{reason}");
    assert_eq!(ev.policies().hash(), &hash, "no reload happened");
    assert_eq!(
        source.signature_fetches(),
        2,
        "the stale cached success was dropped and looked up again"
    );
    let again = ev.evaluate("registry.example/old:1").await;
    assert_eq!(again.verdict, Verdict::Deny);

    // The active key is unaffected by the clock.
    let active = ev.evaluate("registry.example/new:1").await;
    assert_eq!(active.verdict, Verdict::Allow, "{active:#?}");
}

#[tokio::test]
async fn revoked_key_is_never_trusted_even_when_also_listed_inline() {
    let (old, new, leaked) = (key(), key(), key());
    let keyset = team_keyset(&old, &new, &leaked);
    let source = Arc::new(MemorySource::default());
    let by_leaked = source.image("registry.example/leaked:1");
    source.add_signature(
        &by_leaked,
        sign(&leaked, "registry.example/leaked", &by_leaked),
    );
    let both = source.image("registry.example/both:1");
    source.add_signature(&both, sign(&leaked, "registry.example/both", &both));
    source.add_signature(&both, sign(&new, "registry.example/both", &both));
    let inline = format!("    keys:\n    - data: |\n{}", pem_block(&leaked, 8));
    let set = load(&keyset_policy(&inline), &keyset).unwrap();
    let (ev, _now) = evaluator(set, &source, t(ROTATED));

    let d = ev.evaluate("registry.example/leaked:1").await;
    assert_eq!(d.verdict, Verdict::Deny, "{d:#?}");
    assert_eq!(d.code, Code::SignerNotTrusted);
    let reason = &d.policies[0].authorities[0].reason;
    let expected = format!("{} (leaked): revoked", leaked.public_key().key_id().short());
    assert!(reason.contains(&expected), "{reason}");
    assert!(
        reason.contains("signed only by key(s) not trusted now"),
        "{reason}"
    );

    let ok = ev.evaluate("registry.example/both:1").await;
    assert_eq!(ok.verdict, Verdict::Allow, "{ok:#?}");
    let matched = &ok.policies[0].authorities[0].reason;
    assert!(matched.contains("signed by 1 of"), "{matched}");
}

#[tokio::test]
async fn expired_and_revoked_signers_do_not_count_towards_a_threshold() {
    let (old, new, leaked, second) = (key(), key(), key(), key());
    let mut keyset = team_keyset(&old, &new, &leaked);
    keyset
        .add(second.public_key(), "second", KeyStatus::Active)
        .unwrap();
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/app:1");
    for k in [&old, &new] {
        source.add_signature(&digest, sign(k, "registry.example/app", &digest));
    }
    let set = load(&keyset_policy("    threshold: 2\n"), &keyset).unwrap();
    let (ev, now) = evaluator(set, &source, t(ROTATED));

    assert_eq!(
        ev.evaluate("registry.example/app:1").await.verdict,
        Verdict::Allow
    );
    *now.lock().unwrap() = t("2027-01-02T00:00:00Z");
    let d = ev.evaluate("registry.example/app:1").await;
    assert_eq!(d.code, Code::ThresholdUnmet, "{d:#?}");
    let reason = &d.policies[0].authorities[0].reason;
    assert!(
        reason.contains("not counted") && reason.contains("(old): retired, window ended at"),
        "{reason}"
    );
}

#[tokio::test]
async fn attestations_by_an_expired_key_are_refused_with_the_reason() {
    let (old, new, leaked) = (key(), key(), key());
    let keyset = team_keyset(&old, &new, &leaked);
    let custom = "https://cosign.sigstore.dev/attestation/v1";
    let source = Arc::new(MemorySource::default());
    let digest = source.image("registry.example/app:1");
    source.add_attestation(
        &digest,
        attest(&old, &digest, custom, serde_json::json!({"passed": true})),
    );
    let extra = "    attestations:\n    - name: tests\n      predicateType: custom\n";
    let set = load(&keyset_policy(extra), &keyset).unwrap();
    let (ev, now) = evaluator(set, &source, t(ROTATED));

    let inside = ev.evaluate("registry.example/app:1").await;
    assert_eq!(inside.verdict, Verdict::Allow, "{inside:#?}");
    *now.lock().unwrap() = t("2027-01-01T00:01:00Z");
    let after = ev.evaluate("registry.example/app:1").await;
    assert_eq!(after.code, Code::SignerNotTrusted, "{after:#?}");
    let reason = &after.policies[0].authorities[0].reason;
    assert!(
        reason.contains("(old): retired, window ended at"),
        "{reason}"
    );
}

#[test]
fn keyset_status_is_part_of_the_policy_hash_and_of_threshold_checks() {
    let (old, new, leaked) = (key(), key(), key());
    let keyset = team_keyset(&old, &new, &leaked);
    let before = load(&keyset_policy(""), &keyset).unwrap();
    let mut revoked = keyset.clone();
    revoked
        .revoke(&old.public_key().key_id().to_string())
        .unwrap();
    let after = load(&keyset_policy(""), &revoked).unwrap();
    assert_ne!(before.hash(), after.hash(), "a revocation changes the hash");
    let same = load(&keyset_policy(""), &keyset).unwrap();
    assert_eq!(before.hash(), same.hash());

    // `old` (retired with a window) and `new` can be trusted; `leaked` never.
    assert!(load(&keyset_policy("    threshold: 2\n"), &keyset).is_ok());
    let Err(LoadError::Invalid { problems }) = load(&keyset_policy("    threshold: 3\n"), &keyset)
    else {
        panic!("a threshold above the keys that can be trusted must be refused");
    };
    assert!(
        problems[0].message.contains("only 2 distinct key(s)"),
        "{problems:?}"
    );
}

#[test]
fn decide_at_checks_windows_at_the_given_instant() {
    let (old, new, leaked) = (key(), key(), key());
    let keyset = team_keyset(&old, &new, &leaked);
    let set = load(&keyset_policy(""), &keyset).unwrap();
    let digest = digest_of("registry.example/app:1");
    let keys = [old.public_key(), new.public_key(), leaked.public_key()];
    let facts = rsign_policy::Facts::verify(
        &digest,
        &keys,
        &[sign(&old, "registry.example/app", &digest)],
        &[],
    );
    let image = "registry.example/app:1";
    let no_match = rsign_policy::NoMatch::Deny;
    let inside = set.decide_at(image, Some(&facts), no_match, t(ROTATED));
    assert_eq!(inside.verdict, Verdict::Allow);
    let after = set.decide_at(image, Some(&facts), no_match, t("2030-01-01T00:00:00Z"));
    assert_eq!(after.code, Code::SignerNotTrusted);
}
