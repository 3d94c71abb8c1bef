//! Writing keysets: the exact YAML and JSON produced, round trips, and
//! `save_atomic` (mode, no leftovers, readers never see a partial file).

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rsign_core::keys::{PrivateKey, PublicKey};
use rsign_core::keyset::{Format, KeySource, KeyStatus, Keyset, KeysetError, Timestamp};

fn p256() -> PublicKey {
    PrivateKey::generate_p256().unwrap().public_key()
}

fn p384() -> PublicKey {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata/cosign/import-key-pair/validecp384.key");
    PrivateKey::import_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .public_key()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn indent(pem: &str) -> String {
    pem.lines().map(|l| format!("    {l}\n")).collect()
}

/// A keyset with a rotated (retired, windowed) key read from a file and an
/// inline active key, loaded from `dir/keyset.yaml`.
fn rotated_with_path_entry(dir: &Path) -> (Keyset, PublicKey, PublicKey) {
    let (old, new) = (p384(), p256());
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/old.pub"), old.to_pem()).unwrap();
    let doc = format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: Keyset\nkeys:\n- id: {}\n  path: keys/old.pub\n  status: active\n  name: old\n",
        old.key_id()
    );
    std::fs::write(dir.join("keyset.yaml"), doc).unwrap();
    let mut ks = Keyset::load(&dir.join("keyset.yaml")).unwrap();
    ks.rotate(
        new.clone(),
        "new",
        Duration::from_secs(7 * 86_400),
        t("2027-01-01T09:30:00+01:00"),
    )
    .unwrap();
    (ks, old, new)
}

#[test]
fn yaml_output_has_a_stable_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, old, new) = rotated_with_path_entry(dir.path());
    let yaml = String::from_utf8(ks.to_bytes(Format::Yaml).unwrap()).unwrap();
    let expected = format!(
        "apiVersion: rsign.dev/v1alpha1\nkind: Keyset\nkeys:\n\
         - id: {}\n  name: old\n  status: retired\n  acceptUntil: 2027-01-08T08:30:00Z\n  path: keys/old.pub\n\
         - id: {}\n  name: new\n  status: active\n  publicKey: |\n{}",
        old.key_id(),
        new.key_id(),
        indent(&new.to_pem())
    );
    assert_eq!(yaml, expected);
}

#[test]
fn json_output_has_the_same_fields_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, old, new) = rotated_with_path_entry(dir.path());
    let json = String::from_utf8(ks.to_bytes(Format::Json).unwrap()).unwrap();
    assert!(json.ends_with("}\n"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "apiVersion": "rsign.dev/v1alpha1",
            "kind": "Keyset",
            "keys": [
                {"id": old.key_id().to_string(), "name": "old", "status": "retired",
                 "acceptUntil": "2027-01-08T08:30:00Z", "path": "keys/old.pub"},
                {"id": new.key_id().to_string(), "name": "new", "status": "active",
                 "publicKey": new.to_pem()},
            ]
        })
    );
    let order = [
        "\"apiVersion\"",
        "\"kind\"",
        "\"keys\"",
        "\"id\"",
        "\"name\"",
        "\"status\"",
        "\"acceptUntil\"",
        "\"path\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| json.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
}

#[test]
fn save_and_load_round_trip_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, old, _) = rotated_with_path_entry(dir.path());
    for name in ["out.yaml", "out.json", "out"] {
        let path = dir.path().join(name);
        ks.save_atomic(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            ks.to_bytes(Format::from_path(&path)).unwrap(),
            "{name}"
        );
        let back = Keyset::load(&path).unwrap();
        assert_eq!(back, ks, "{name}");
        let e = back.lookup(&old.key_id()).unwrap();
        assert_eq!(e.source(), &KeySource::Path("keys/old.pub".into()));
    }
    assert!(
        std::fs::read(dir.path().join("out.json"))
            .unwrap()
            .starts_with(b"{\n  \"apiVersion\"")
    );
}

#[cfg(unix)]
#[test]
fn saved_files_are_mode_0644_even_over_a_private_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyset.yaml");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut ks = Keyset::new();
    ks.add(p256(), "k", KeyStatus::Active).unwrap();
    ks.save_atomic(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keyset::new();
    ks.add(p256(), "k", KeyStatus::Active).unwrap();
    for _ in 0..3 {
        ks.save_atomic(&dir.path().join("keyset.yaml")).unwrap();
    }
    assert_eq!(dir_names(dir.path()), ["keyset.yaml"]);
}

#[test]
fn failed_saves_leave_the_target_and_directory_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut ks = Keyset::new();
    ks.add(p256(), "k", KeyStatus::Active).unwrap();

    // The target is a non-empty directory: the rename fails.
    let target = dir.path().join("keyset.yaml");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("inside"), "x").unwrap();
    match ks.save_atomic(&target).unwrap_err() {
        KeysetError::Io { path, .. } => assert_eq!(path, target),
        e => panic!("expected Io, got {e:?}"),
    }
    assert_eq!(dir_names(dir.path()), ["keyset.yaml"]);
    assert_eq!(dir_names(&target), ["inside"]);

    // The directory does not exist: nothing is created.
    let missing = dir.path().join("no/such/dir/keyset.yaml");
    assert!(matches!(
        ks.save_atomic(&missing),
        Err(KeysetError::Io { .. })
    ));
    assert!(!dir.path().join("no").exists());
}

#[test]
fn concurrent_readers_see_old_or_new_content_never_a_mix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyset.yaml");
    // Two keysets of clearly different sizes.
    let mut small = Keyset::new();
    small.add(p256(), "small", KeyStatus::Active).unwrap();
    let mut big = Keyset::new();
    for i in 0..40 {
        big.add(p256(), &format!("big-{i}"), KeyStatus::Active)
            .unwrap();
    }
    let small_bytes = small.to_bytes(Format::Yaml).unwrap();
    let big_bytes = big.to_bytes(Format::Yaml).unwrap();
    small.save_atomic(&path).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, path) = (Arc::clone(&done), path.clone());
        let (small_bytes, big_bytes) = (small_bytes.clone(), big_bytes.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(Ordering::Relaxed) {
                let seen = std::fs::read(&path).unwrap();
                assert!(
                    seen == small_bytes || seen == big_bytes,
                    "partial keyset of {} bytes",
                    seen.len()
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 0..200 {
        let ks = if i % 2 == 0 { &big } else { &small };
        ks.save_atomic(&path).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(Keyset::load(&path).unwrap(), small);
    assert_eq!(dir_names(dir.path()), ["keyset.yaml"]);
}

#[test]
fn save_rejects_a_path_without_a_file_name() {
    let mut ks = Keyset::new();
    ks.add(p256(), "k", KeyStatus::Active).unwrap();
    assert!(matches!(
        ks.save_atomic(Path::new("/")),
        Err(KeysetError::Io { .. })
    ));
}
