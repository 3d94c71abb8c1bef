//! Keyset files: decoding YAML and JSON, strictness, limits and the errors
//! for each kind of broken entry.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::error::Error as _;
use std::path::{Path, PathBuf};

use rsign_core::keys::{KeyAlgorithm, KeyError, PrivateKey, PublicKey};
use rsign_core::keyset::{
    EntryError, Format, KeySource, KeyStatus, Keyset, KeysetError, MAX_KEYS, MAX_KEYSET_BYTES,
    Timestamp,
};

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn p256() -> PublicKey {
    PrivateKey::generate_p256().unwrap().public_key()
}

fn p384() -> PublicKey {
    PrivateKey::import_pem(&testdata("cosign/import-key-pair/validecp384.key"))
        .unwrap()
        .public_key()
}

fn ed25519() -> PublicKey {
    PrivateKey::import_pem(&testdata("cosign/import-key-pair/ed25519.key"))
        .unwrap()
        .public_key()
}

/// Indents a PEM for a YAML block scalar under `publicKey: |`.
fn yaml_block(pem: &str) -> String {
    pem.lines().map(|l| format!("    {l}\n")).collect()
}

fn yaml_entry(id: &str, name: &str, status: &str, extra: &str, key: &PublicKey) -> String {
    format!(
        "- id: {id}\n  name: {name}\n  status: {status}\n{extra}  publicKey: |\n{}",
        yaml_block(&key.to_pem())
    )
}

fn yaml_doc(entries: &str) -> String {
    format!("apiVersion: rsign.dev/v1alpha1\nkind: Keyset\nkeys:\n{entries}")
}

fn parse_yaml(doc: &str) -> Result<Keyset, KeysetError> {
    Keyset::parse(doc.as_bytes(), Format::Yaml, Path::new("."))
}

/// The full error chain as one string, for checking messages.
fn chain(err: &KeysetError) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

fn entry_error(err: &KeysetError) -> &EntryError {
    match err.root() {
        KeysetError::Entry { source, .. } => source,
        other => panic!("expected an entry error, got {other:?}"),
    }
}

#[test]
fn parses_yaml_with_every_status_and_both_key_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (p256(), p384(), ed25519());
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/old.pub"), b.to_pem()).unwrap();
    let doc = yaml_doc(&format!(
        "{}- id: {}\n  name: old key\n  status: retired\n  acceptUntil: 2027-02-01T01:30:00+01:30\n  path: keys/old.pub\n{}",
        yaml_entry(&a.key_id().to_string(), "current", "active", "", &a),
        b.key_id(),
        yaml_entry(&c.key_id().to_string(), "leaked", "revoked", "", &c),
    ));
    let ks = Keyset::parse(doc.as_bytes(), Format::Yaml, dir.path()).unwrap();
    assert_eq!(ks.len(), 3);
    let e = ks.entries();
    assert_eq!(
        (e[0].name(), e[0].status(), e[0].public_key()),
        ("current", KeyStatus::Active, &a)
    );
    assert_eq!(e[0].source(), &KeySource::Inline);
    assert_eq!(e[1].status(), KeyStatus::Retired);
    assert_eq!(e[1].public_key().algorithm(), KeyAlgorithm::EcdsaP384);
    assert_eq!(e[1].source(), &KeySource::Path("keys/old.pub".into()));
    assert_eq!(
        e[1].accept_until(),
        Some("2027-02-01T00:00:00Z".parse::<Timestamp>().unwrap())
    );
    assert_eq!(e[2].public_key().algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(e[2].status(), KeyStatus::Revoked);
    assert_eq!(e[2].accept_until(), None);
}

#[test]
fn json_and_yaml_decode_to_the_same_keyset() {
    let (a, b) = (p256(), ed25519());
    let yaml = yaml_doc(&format!(
        "{}{}",
        yaml_entry(&a.key_id().to_string(), "a", "active", "", &a),
        yaml_entry(
            &b.key_id().to_string(),
            "b",
            "retired",
            "  acceptUntil: 2027-03-01T12:00:00Z\n",
            &b
        ),
    ));
    let json = serde_json::json!({
        "apiVersion": "rsign.dev/v1alpha1",
        "kind": "Keyset",
        "keys": [
            {"id": a.key_id().to_string(), "name": "a", "status": "active", "publicKey": a.to_pem()},
            {"id": b.key_id().to_string(), "name": "b", "status": "retired",
             "acceptUntil": "2027-03-01T12:00:00Z", "publicKey": b.to_pem()},
        ]
    })
    .to_string();
    let from_yaml = parse_yaml(&yaml).unwrap();
    let from_json = Keyset::parse(json.as_bytes(), Format::Json, Path::new(".")).unwrap();
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_json.len(), 2);
    // JSON is not YAML's concern and vice versa: the wrong decoder fails on
    // this YAML text.
    assert!(matches!(
        Keyset::parse(yaml.as_bytes(), Format::Json, Path::new(".")),
        Err(KeysetError::Decode {
            format: Format::Json,
            ..
        })
    ));
}

#[test]
fn format_follows_the_file_extension() {
    assert_eq!(Format::from_path(Path::new("k.json")), Format::Json);
    assert_eq!(Format::from_path(Path::new("dir/k.JSON")), Format::Json);
    assert_eq!(Format::from_path(Path::new("k.yaml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("k.yml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("keyset")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("json")), Format::Yaml);
}

#[test]
fn an_empty_key_list_is_a_valid_keyset() {
    let ks = parse_yaml("apiVersion: rsign.dev/v1alpha1\nkind: Keyset\nkeys: []\n").unwrap();
    assert!(ks.is_empty());
}

#[test]
fn id_mismatch_names_both_ids() {
    let (a, b) = (p256(), p256());
    let doc = yaml_doc(&yaml_entry(
        &b.key_id().to_string(),
        "wrong",
        "active",
        "",
        &a,
    ));
    let err = parse_yaml(&doc).unwrap_err();
    match entry_error(&err) {
        EntryError::IdMismatch { declared, actual } => {
            assert_eq!(*declared, b.key_id());
            assert_eq!(*actual, a.key_id());
        }
        other => panic!("expected IdMismatch, got {other:?}"),
    }
    let msg = chain(&err);
    assert!(msg.contains(&a.key_id().to_string()), "{msg}");
    assert!(msg.contains(&b.key_id().to_string()), "{msg}");
    assert!(msg.contains("key #1 (`wrong`)"), "{msg}");
    assert!(msg.contains("hint:"), "{msg}");
}

#[test]
fn ids_are_read_in_either_case_and_must_be_64_hex_digits() {
    let a = p256();
    let upper = a.key_id().to_string().to_uppercase();
    let ks = parse_yaml(&yaml_doc(&yaml_entry(&upper, "a", "active", "", &a))).unwrap();
    assert_eq!(ks.entries()[0].id(), a.key_id());

    for bad in [
        "abc",
        format!("{}zz", &a.key_id().to_string()[..62]).as_str(),
    ] {
        let err = parse_yaml(&yaml_doc(&yaml_entry(bad, "a", "active", "", &a))).unwrap_err();
        assert!(
            matches!(entry_error(&err), EntryError::InvalidId { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn duplicate_ids_are_rejected_naming_both_entries() {
    let a = p256();
    let id = a.key_id().to_string();
    let doc = yaml_doc(&format!(
        "{}{}",
        yaml_entry(&id, "first", "active", "", &a),
        yaml_entry(&id, "second", "revoked", "", &a)
    ));
    let err = parse_yaml(&doc).unwrap_err();
    match &err {
        KeysetError::DuplicateKey {
            id: dup,
            existing,
            duplicate,
        } => {
            assert_eq!(*dup, a.key_id());
            assert_eq!((existing.as_str(), duplicate.as_str()), ("first", "second"));
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    let a = p256();
    let id = a.key_id().to_string();
    let entry = yaml_entry(&id, "a", "active", "", &a);
    let top = format!("{}extra: 1\n", yaml_doc(&entry));
    let err = parse_yaml(&top).unwrap_err();
    assert!(matches!(err, KeysetError::Decode { .. }), "{err:?}");
    assert!(
        chain(&err).contains("unknown field `extra`"),
        "{}",
        chain(&err)
    );

    let typo = yaml_doc(&yaml_entry(
        &id,
        "a",
        "retired",
        "  acceptUntill: 2027-01-01T00:00:00Z\n",
        &a,
    ));
    let err = parse_yaml(&typo).unwrap_err();
    assert!(
        chain(&err).contains("unknown field `acceptUntill`"),
        "{}",
        chain(&err)
    );

    let json = serde_json::json!({
        "apiVersion": "rsign.dev/v1alpha1", "kind": "Keyset",
        "keys": [{"id": id, "name": "a", "status": "active", "publicKey": a.to_pem(), "trusted": true}]
    })
    .to_string();
    let err = Keyset::parse(json.as_bytes(), Format::Json, Path::new(".")).unwrap_err();
    assert!(
        chain(&err).contains("unknown field `trusted`"),
        "{}",
        chain(&err)
    );
}

#[test]
fn api_version_kind_and_status_are_closed_sets() {
    let a = p256();
    let entry = yaml_entry(&a.key_id().to_string(), "a", "active", "", &a);
    for doc in [
        format!("apiVersion: rsign.dev/v1\nkind: Keyset\nkeys:\n{entry}"),
        format!("apiVersion: rsign.dev/v1alpha1\nkind: Policy\nkeys:\n{entry}"),
        format!("kind: Keyset\nkeys:\n{entry}"),
        yaml_doc(&yaml_entry(&a.key_id().to_string(), "a", "trusted", "", &a)),
        yaml_doc(&yaml_entry(&a.key_id().to_string(), "a", "Active", "", &a)),
    ] {
        let err = parse_yaml(&doc).unwrap_err();
        assert!(matches!(err, KeysetError::Decode { .. }), "{doc}: {err:?}");
    }
}

#[test]
fn exactly_one_key_source_is_required() {
    let a = p256();
    let id = a.key_id();
    let neither = yaml_doc(&format!("- id: {id}\n  name: a\n  status: active\n"));
    let err = parse_yaml(&neither).unwrap_err();
    assert!(
        matches!(entry_error(&err), EntryError::MissingKey),
        "{err:?}"
    );

    let both = yaml_doc(&yaml_entry(
        &id.to_string(),
        "a",
        "active",
        "  path: a.pub\n",
        &a,
    ));
    let err = parse_yaml(&both).unwrap_err();
    assert!(
        matches!(entry_error(&err), EntryError::BothKeySources),
        "{err:?}"
    );

    let empty = yaml_doc(&format!(
        "- id: {id}\n  name: a\n  status: active\n  path: ''\n"
    ));
    let err = parse_yaml(&empty).unwrap_err();
    assert!(
        matches!(entry_error(&err), EntryError::EmptyPath),
        "{err:?}"
    );
}

#[test]
fn accept_until_must_be_rfc3339_and_only_on_retired_keys() {
    let a = p256();
    let id = a.key_id().to_string();
    let on_active = yaml_doc(&yaml_entry(
        &id,
        "a",
        "active",
        "  acceptUntil: 2027-01-01T00:00:00Z\n",
        &a,
    ));
    let err = parse_yaml(&on_active).unwrap_err();
    assert!(
        matches!(
            entry_error(&err),
            EntryError::AcceptUntilNotRetired {
                status: KeyStatus::Active
            }
        ),
        "{err:?}"
    );
    for bad in [
        "2027-01-01",
        "'2027-01-01 00:00:00Z'",
        "tomorrow",
        "2027-13-01T00:00:00Z",
    ] {
        let doc = yaml_doc(&yaml_entry(
            &id,
            "a",
            "retired",
            &format!("  acceptUntil: {bad}\n"),
            &a,
        ));
        let err = parse_yaml(&doc).unwrap_err();
        assert!(
            matches!(entry_error(&err), EntryError::InvalidTime { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn inline_key_must_be_a_public_key() {
    let private_pem =
        String::from_utf8(testdata("cosign/import-key-pair/validecp256.key")).unwrap();
    let doc = yaml_doc(&format!(
        "- id: {}\n  name: a\n  status: active\n  publicKey: |\n{}",
        "0".repeat(64),
        yaml_block(&private_pem)
    ));
    let err = parse_yaml(&doc).unwrap_err();
    assert!(
        matches!(
            entry_error(&err),
            EntryError::PublicKey {
                source: KeyError::UnsupportedKey(_)
            }
        ),
        "{err:?}"
    );
}

#[test]
fn names_must_be_printable_and_not_empty() {
    let a = p256();
    let id = a.key_id().to_string();
    for bad in ["''", "'   '", "\"a\\u0007b\"", "x".repeat(129).as_str()] {
        let err = parse_yaml(&yaml_doc(&yaml_entry(&id, bad, "active", "", &a))).unwrap_err();
        assert!(
            matches!(entry_error(&err), EntryError::InvalidName { .. }),
            "{bad}: {err:?}"
        );
    }
    assert!(
        parse_yaml(&yaml_doc(&yaml_entry(
            &id,
            &"x".repeat(128),
            "active",
            "",
            &a
        )))
        .is_ok()
    );
}

#[test]
fn load_resolves_paths_against_the_keyset_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = p384();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    // A DER key file works as well as PEM.
    std::fs::write(dir.path().join("keys/a.der"), a.spki_der()).unwrap();
    let doc = yaml_doc(&format!(
        "- id: {}\n  name: a\n  status: active\n  path: keys/a.der\n",
        a.key_id()
    ));
    let file = dir.path().join("trusted.yaml");
    std::fs::write(&file, &doc).unwrap();
    let ks = Keyset::load(&file).unwrap();
    assert_eq!(ks.entries()[0].public_key(), &a);

    // The same document elsewhere does not find the key, and says where it looked.
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("trusted.yaml");
    std::fs::write(&moved, &doc).unwrap();
    let err = Keyset::load(&moved).unwrap_err();
    let KeysetError::InFile { path, .. } = &err else {
        panic!("expected InFile, got {err:?}");
    };
    assert_eq!(path, &moved);
    match entry_error(&err) {
        EntryError::ReadKeyFile { path, source } => {
            assert_eq!(path, &other.path().join("keys/a.der"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        e => panic!("expected ReadKeyFile, got {e:?}"),
    }
}

#[test]
fn load_reports_a_missing_file_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    match Keyset::load(&missing).unwrap_err() {
        KeysetError::Io { path, source, .. } => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        e => panic!("expected Io, got {e:?}"),
    }
}

#[test]
fn oversize_input_is_rejected_before_decoding() {
    let a = p256();
    let mut doc = yaml_doc(&yaml_entry(&a.key_id().to_string(), "a", "active", "", &a));
    // Valid YAML that is only too large: a long trailing comment.
    doc.push('#');
    doc.push_str(&"x".repeat(MAX_KEYSET_BYTES));
    let err = parse_yaml(&doc).unwrap_err();
    assert!(
        matches!(err, KeysetError::TooLarge { limit, .. } if limit == MAX_KEYSET_BYTES),
        "{err:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, &doc).unwrap();
    let err = Keyset::load(&file).unwrap_err();
    match err.root() {
        KeysetError::TooLarge { size, .. } => assert_eq!(*size, doc.len() as u64),
        e => panic!("expected TooLarge, got {e:?}"),
    }

    // Just under the limit still loads.
    doc.truncate(MAX_KEYSET_BYTES);
    assert!(parse_yaml(&doc).is_ok());
}

#[test]
fn oversize_key_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("huge.pub"), vec![b'A'; 1024 * 1024]).unwrap();
    let doc = yaml_doc(&format!(
        "- id: {}\n  name: a\n  status: active\n  path: huge.pub\n",
        "0".repeat(64)
    ));
    let err = Keyset::parse(doc.as_bytes(), Format::Yaml, dir.path()).unwrap_err();
    assert!(
        matches!(entry_error(&err), EntryError::KeyFileTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn key_count_is_bounded() {
    // Entries are counted before any key is parsed, so placeholders suffice.
    let one = format!(
        "- id: {}\n  name: n\n  status: active\n  publicKey: x\n",
        "0".repeat(64)
    );
    let doc = yaml_doc(&one.repeat(MAX_KEYS + 1));
    let err = parse_yaml(&doc).unwrap_err();
    assert!(
        matches!(err, KeysetError::TooManyKeys { count, limit } if count == MAX_KEYS + 1 && limit == MAX_KEYS),
        "{err:?}"
    );
    // At the limit, decoding goes on to the (placeholder) keys.
    let doc = yaml_doc(&one.repeat(MAX_KEYS));
    assert!(matches!(
        parse_yaml(&doc).unwrap_err(),
        KeysetError::Entry { position: 1, .. }
    ));
}

#[test]
fn trailing_documents_and_data_are_rejected() {
    let a = p256();
    let yaml = yaml_doc(&yaml_entry(&a.key_id().to_string(), "a", "active", "", &a));
    let two_docs = format!("{yaml}---\n{yaml}");
    assert!(matches!(
        parse_yaml(&two_docs),
        Err(KeysetError::Decode { .. })
    ));
    let json = format!(
        "{}{{}}",
        serde_json::json!({"apiVersion": "rsign.dev/v1alpha1", "kind": "Keyset", "keys": []})
    );
    assert!(matches!(
        Keyset::parse(json.as_bytes(), Format::Json, Path::new(".")),
        Err(KeysetError::Decode { .. })
    ));
}

#[test]
fn plain_yaml_scalars_are_read_as_strings() {
    // `name: 2026` and `name: yes` are names, not a number and a boolean.
    let a = p256();
    for (written, read) in [("2026", "2026"), ("yes", "yes"), ("'007'", "007")] {
        let ks = parse_yaml(&yaml_doc(&yaml_entry(
            &a.key_id().to_string(),
            written,
            "active",
            "",
            &a,
        )))
        .unwrap();
        assert_eq!(ks.entries()[0].name(), read);
    }
}

/// Parses a document whose only entry reads its key from `path` in `dir`, on
/// another thread: a read that blocks fails the test instead of hanging it.
fn parse_path_entry_with_timeout(dir: &Path, path: &str) -> KeysetError {
    let doc = yaml_doc(&format!(
        "- id: {}\n  name: a\n  status: active\n  path: {path}\n",
        "0".repeat(64)
    ));
    let dir = dir.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Keyset::parse(doc.as_bytes(), Format::Yaml, &dir));
    });
    match rx.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(result) => result.unwrap_err(),
        Err(_) => panic!("reading key file `{path}` blocked"),
    }
}

#[test]
fn key_paths_must_name_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let err = parse_path_entry_with_timeout(dir.path(), "sub");
    match entry_error(&err) {
        EntryError::ReadKeyFile { path, source } => {
            assert_eq!(path, &dir.path().join("sub"));
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
            assert!(
                chain(&err).contains("not a regular file"),
                "{}",
                chain(&err)
            );
        }
        e => panic!("expected ReadKeyFile, got {e:?}"),
    }
}

/// A FIFO with no writer would block `open` forever; it must be refused
/// from its metadata, before it is opened.
#[cfg(unix)]
#[test]
fn a_fifo_key_path_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key.pub");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed");
    let err = parse_path_entry_with_timeout(dir.path(), "key.pub");
    match entry_error(&err) {
        EntryError::ReadKeyFile { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
        }
        e => panic!("expected ReadKeyFile, got {e:?}"),
    }
    // The keyset file itself is read the same way.
    match Keyset::load(&fifo).unwrap_err() {
        KeysetError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
        }
        e => panic!("expected Io, got {e:?}"),
    }
}

#[test]
fn untrusted_strings_in_errors_are_truncated() {
    let long_id = "z".repeat(5000);
    let a = p256();
    let doc = yaml_doc(&yaml_entry(&long_id, "a", "active", "", &a));
    let err = parse_yaml(&doc).unwrap_err();
    match entry_error(&err) {
        EntryError::InvalidId { value, .. } => {
            assert!(value.chars().count() <= 201, "{} chars", value.len());
            assert!(value.starts_with("zzzz"));
        }
        e => panic!("expected InvalidId, got {e:?}"),
    }
    assert!(chain(&err).len() < 1000, "{}", chain(&err).len());

    let long_name = "n".repeat(5000);
    let doc = yaml_doc(&yaml_entry(
        &a.key_id().to_string(),
        &long_name,
        "active",
        "",
        &a,
    ));
    let err = parse_yaml(&doc).unwrap_err();
    assert!(chain(&err).len() < 1000, "{}", chain(&err).len());

    let ks = Keyset::new();
    let query = "q".repeat(5000);
    match ks.find(&query).unwrap_err() {
        KeysetError::InvalidKeyQuery { query, .. } => {
            assert!(query.chars().count() <= 201, "{} chars", query.len());
        }
        e => panic!("expected InvalidKeyQuery, got {e:?}"),
    }
}
