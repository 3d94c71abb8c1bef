//! Keyset semantics: which keys verify when, lookup by id and prefix, and the
//! mutations `add`, `rotate`, `revoke` and `retire`.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rsign_core::keys::{PrivateKey, PublicKey};
use rsign_core::keyset::{
    Format, KeyStatus, Keyset, KeysetError, MIN_PREFIX_LEN, RetiredKey, Timestamp, TrustDecision,
};

fn p256() -> PublicKey {
    PrivateKey::generate_p256().unwrap().public_key()
}

fn ed25519() -> PublicKey {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata/cosign/import-key-pair/ed25519.key");
    PrivateKey::import_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .public_key()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const DAY: Duration = Duration::from_secs(86_400);

/// One key of each status; the retired one is accepted until 2027-02-01.
fn mixed() -> (Keyset, [PublicKey; 4]) {
    let keys = [p256(), p256(), p256(), ed25519()];
    let [active, windowed, bare, revoked] = &keys;
    let doc = format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: Keyset\nkeys:\n{}{}{}{}",
        entry(active, "active", "active", ""),
        entry(
            windowed,
            "windowed",
            "retired",
            "  acceptUntil: 2027-02-01T00:00:00Z\n"
        ),
        entry(bare, "bare", "retired", ""),
        entry(revoked, "revoked", "revoked", ""),
    );
    let ks = Keyset::parse(doc.as_bytes(), Format::Yaml, Path::new(".")).unwrap();
    (ks, keys)
}

fn entry(key: &PublicKey, name: &str, status: &str, extra: &str) -> String {
    let pem: String = key.to_pem().lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "- id: {}\n  name: {name}\n  status: {status}\n{extra}  publicKey: |\n{pem}",
        key.key_id()
    )
}

fn trusted_names(ks: &Keyset, now: Timestamp) -> Vec<&str> {
    ks.verification_keys(now)
        .into_iter()
        .map(|(e, k)| {
            assert_eq!(e.public_key(), k);
            e.name()
        })
        .collect()
}

#[test]
fn retired_keys_verify_only_inside_their_window() {
    let (ks, _) = mixed();
    assert_eq!(
        trusted_names(&ks, t("2027-01-15T00:00:00Z")),
        ["active", "windowed"]
    );
    // The window's end is inclusive.
    assert_eq!(
        trusted_names(&ks, t("2027-02-01T00:00:00Z")),
        ["active", "windowed"]
    );
    assert_eq!(
        trusted_names(&ks, t("2027-02-01T00:00:00.000000001Z")),
        ["active"]
    );
    assert_eq!(trusted_names(&ks, t("2030-01-01T00:00:00Z")), ["active"]);
}

#[test]
fn trust_decisions_explain_every_key() {
    let (ks, _) = mixed();
    let end = t("2027-02-01T00:00:00Z");
    let before: Vec<TrustDecision> = ks
        .trust_at(t("2027-01-01T00:00:00Z"))
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        before,
        [
            TrustDecision::Active,
            TrustDecision::RetiredInWindow { accept_until: end },
            TrustDecision::RetiredWithoutWindow,
            TrustDecision::Revoked,
        ]
    );
    let after = ks.trust_at(t("2027-03-01T00:00:00Z"));
    assert_eq!(
        after[1].1,
        TrustDecision::RetiredExpired { accept_until: end }
    );
    assert!(!after[1].1.is_trusted());
    assert_eq!(
        after[1].1.to_string(),
        "retired, no longer accepted since 2027-02-01T00:00:00Z"
    );
    assert!(!after[2].1.is_trusted());
    assert!(!after[3].1.is_trusted());
    assert!(after[0].1.is_trusted());
}

#[test]
fn revoked_keys_never_verify() {
    let (ks, keys) = mixed();
    for now in [
        "1970-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        "9999-12-30T21:59:59Z",
    ] {
        assert!(
            ks.verification_keys(t(now))
                .iter()
                .all(|(_, k)| **k != keys[3]),
            "{now}"
        );
    }
}

#[test]
fn lookup_finds_untrusted_keys_for_diagnostics() {
    let (ks, keys) = mixed();
    let revoked = ks.lookup(&keys[3].key_id()).unwrap();
    assert_eq!(revoked.name(), "revoked");
    assert_eq!(
        revoked.trust_at(t("2027-01-01T00:00:00Z")),
        TrustDecision::Revoked
    );
    assert!(ks.lookup(&p256().key_id()).is_none());
}

#[test]
fn find_accepts_full_ids_and_unique_prefixes() {
    let (ks, keys) = mixed();
    let id = keys[1].key_id();
    let hex = id.to_string();
    assert_eq!(ks.find(&hex).unwrap().id(), id);
    assert_eq!(ks.find(&hex.to_uppercase()).unwrap().id(), id);
    assert_eq!(ks.find(&hex[..MIN_PREFIX_LEN]).unwrap().id(), id);
    assert_eq!(ks.find(&hex[..40]).unwrap().id(), id);
}

#[test]
fn find_errors_are_distinct() {
    let (ks, keys) = mixed();
    let hex = keys[0].key_id().to_string();
    assert!(matches!(
        ks.find(&hex[..MIN_PREFIX_LEN - 1]),
        Err(KeysetError::PrefixTooShort {
            len: 11,
            min: 12,
            ..
        })
    ));
    assert!(matches!(
        ks.find(""),
        Err(KeysetError::PrefixTooShort { len: 0, .. })
    ));
    assert!(matches!(
        ks.find(&format!("{}x", &hex[..20])),
        Err(KeysetError::InvalidKeyQuery { .. })
    ));
    assert!(matches!(
        ks.find(&format!("sha256:{hex}")),
        Err(KeysetError::InvalidKeyQuery { .. })
    ));
    assert!(matches!(
        ks.find(&format!("{hex}0")),
        Err(KeysetError::InvalidKeyQuery { .. })
    ));
    let stranger = p256().key_id().to_string();
    match ks.find(&stranger[..16]) {
        Err(KeysetError::KeyNotFound { query }) => assert_eq!(query, &stranger[..16]),
        other => panic!("expected KeyNotFound, got {other:?}"),
    }
    let msg = ks.find(&hex[..5]).unwrap_err().to_string();
    assert!(msg.contains("at least 12 hex digits"), "{msg}");
}

#[test]
fn add_rejects_duplicates_and_bad_names() {
    let mut ks = Keyset::new();
    let a = p256();
    let e = ks.add(a.clone(), "first", KeyStatus::Active).unwrap();
    assert_eq!(
        (e.id(), e.name(), e.accept_until()),
        (a.key_id(), "first", None)
    );
    match ks.add(a.clone(), "again", KeyStatus::Retired) {
        Err(KeysetError::DuplicateKey {
            id,
            existing,
            duplicate,
        }) => {
            assert_eq!(id, a.key_id());
            assert_eq!((existing.as_str(), duplicate.as_str()), ("first", "again"));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert!(matches!(
        ks.add(p256(), "", KeyStatus::Active),
        Err(KeysetError::InvalidName { .. })
    ));
    assert!(matches!(
        ks.add(p256(), "tab\there", KeyStatus::Active),
        Err(KeysetError::InvalidName { .. })
    ));
    assert_eq!(ks.len(), 1);
    // A key added as retired has no window, so it does not verify.
    ks.add(ed25519(), "parked", KeyStatus::Retired).unwrap();
    assert_eq!(trusted_names(&ks, t("2027-01-01T00:00:00Z")), ["first"]);
}

#[test]
fn rotating_twice_leaves_two_retired_keys_with_their_own_windows() {
    let (a, b, c) = (p256(), p256(), ed25519());
    let mut ks = Keyset::new();
    ks.add(a.clone(), "a", KeyStatus::Active).unwrap();

    // Sub-second parts of `now` are dropped from the window's end.
    let t0 = t("2027-01-01T00:00:00.75Z");
    let first = ks.rotate(b.clone(), "b", 7 * DAY, t0).unwrap();
    assert_eq!(first.new_id, b.key_id());
    assert_eq!(
        first.retired,
        [RetiredKey {
            id: a.key_id(),
            name: "a".into(),
            accept_until: t("2027-01-08T00:00:00Z"),
        }]
    );

    let t1 = t("2027-01-03T12:00:00Z");
    let second = ks.rotate(c.clone(), "c", DAY, t1).unwrap();
    assert_eq!(second.new_id, c.key_id());
    assert_eq!(second.retired.len(), 1, "only the active key is retired");
    assert_eq!(second.retired[0].id, b.key_id());
    assert_eq!(second.retired[0].accept_until, t("2027-01-04T12:00:00Z"));

    let statuses: Vec<_> = ks
        .entries()
        .iter()
        .map(|e| (e.name(), e.status(), e.accept_until()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("a", KeyStatus::Retired, Some(t("2027-01-08T00:00:00Z"))),
            ("b", KeyStatus::Retired, Some(t("2027-01-04T12:00:00Z"))),
            ("c", KeyStatus::Active, None),
        ]
    );
    assert_eq!(trusted_names(&ks, t1), ["a", "b", "c"]);
    assert_eq!(trusted_names(&ks, t("2027-01-05T00:00:00Z")), ["a", "c"]);
    assert_eq!(trusted_names(&ks, t("2027-01-08T00:00:01Z")), ["c"]);
}

#[test]
fn rotate_with_several_active_keys_retires_all_of_them() {
    let mut ks = Keyset::new();
    ks.add(p256(), "x", KeyStatus::Active).unwrap();
    ks.add(p256(), "y", KeyStatus::Active).unwrap();
    let out = ks
        .rotate(p256(), "z", Duration::ZERO, t("2027-01-01T00:00:00Z"))
        .unwrap();
    assert_eq!(out.retired.len(), 2);
    // A zero grace period accepts the old keys up to the rotation instant only.
    assert_eq!(
        trusted_names(&ks, t("2027-01-01T00:00:00Z")),
        ["x", "y", "z"]
    );
    assert_eq!(trusted_names(&ks, t("2027-01-01T00:00:01Z")), ["z"]);
}

#[test]
fn failed_rotations_change_nothing() {
    let mut ks = Keyset::new();
    let a = p256();
    ks.add(a.clone(), "a", KeyStatus::Active).unwrap();
    let before = ks.clone();
    let now = t("2027-01-01T00:00:00Z");
    assert!(matches!(
        ks.rotate(a.clone(), "a again", DAY, now),
        Err(KeysetError::DuplicateKey { .. })
    ));
    assert!(matches!(
        ks.rotate(p256(), "b", Duration::from_secs(3651 * 86_400), now),
        Err(KeysetError::GraceTooLong { .. })
    ));
    assert!(matches!(
        ks.rotate(p256(), "b", DAY, t("9999-12-30T12:00:00Z")),
        Err(KeysetError::GraceTooLong { .. })
    ));
    assert!(matches!(
        ks.rotate(p256(), "\n", DAY, now),
        Err(KeysetError::InvalidName { .. })
    ));
    assert_eq!(ks, before);
}

#[test]
fn revoke_by_prefix_ends_trust_and_is_final() {
    let (mut ks, keys) = mixed();
    let now = t("2027-01-15T00:00:00Z");
    let hex = keys[1].key_id().to_string();
    let change = ks.revoke(&hex[..12]).unwrap();
    assert_eq!(change.id, keys[1].key_id());
    assert_eq!(change.name, "windowed");
    assert_eq!(
        (change.previous, change.current),
        (KeyStatus::Retired, KeyStatus::Revoked)
    );
    let e = ks.lookup(&keys[1].key_id()).unwrap();
    assert_eq!((e.status(), e.accept_until()), (KeyStatus::Revoked, None));
    assert_eq!(trusted_names(&ks, now), ["active"]);

    // Again: no change, still succeeds.
    let again = ks.revoke(&hex).unwrap();
    assert_eq!(again.previous, KeyStatus::Revoked);

    // Revocation cannot be undone by retiring.
    assert!(matches!(
        ks.retire(&hex, Some(t("2030-01-01T00:00:00Z"))),
        Err(KeysetError::RevocationIsFinal { .. })
    ));
    assert!(matches!(
        ks.revoke(&hex[..6]),
        Err(KeysetError::PrefixTooShort { .. })
    ));
}

#[test]
fn retire_sets_or_clears_the_window() {
    let (mut ks, keys) = mixed();
    let active = keys[0].key_id().to_string();
    let end = t("2027-06-01T00:00:00Z");
    let change = ks.retire(&active, Some(end)).unwrap();
    assert_eq!(change.previous, KeyStatus::Active);
    assert_eq!(
        ks.lookup(&keys[0].key_id()).unwrap().accept_until(),
        Some(end)
    );
    assert_eq!(
        trusted_names(&ks, t("2027-03-01T00:00:00Z")),
        ["active"],
        "windowed expired, active now retired but in its window"
    );
    ks.retire(&active, None).unwrap();
    assert!(trusted_names(&ks, t("2027-03-01T00:00:00Z")).is_empty());
}

#[test]
fn listing_has_the_key_list_json_shape() {
    let (ks, keys) = mixed();
    let json = serde_json::to_value(ks.listing()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"id": keys[0].key_id().to_string(), "name": "active", "status": "active", "acceptUntil": null},
            {"id": keys[1].key_id().to_string(), "name": "windowed", "status": "retired", "acceptUntil": "2027-02-01T00:00:00Z"},
            {"id": keys[2].key_id().to_string(), "name": "bare", "status": "retired", "acceptUntil": null},
            {"id": keys[3].key_id().to_string(), "name": "revoked", "status": "revoked", "acceptUntil": null},
        ])
    );
    // Field order as documented.
    let text = serde_json::to_string(&ks.listing()[1]).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"id":"{}","name":"windowed","status":"retired","acceptUntil":"2027-02-01T00:00:00Z"}}"#,
            keys[1].key_id()
        )
    );
}

#[test]
fn status_parses_from_its_file_spelling() {
    for s in [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Revoked] {
        assert_eq!(s.to_string().parse::<KeyStatus>().unwrap(), s);
    }
    assert!("Active".parse::<KeyStatus>().is_err());
}
