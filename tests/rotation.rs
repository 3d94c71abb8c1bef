//! Key rotation as a workflow: `rsign key add/rotate/revoke/list`,
//! `rsign verify --keyset`, `rsign resign`, `rsign clean --signed-by`.
//!
//! OCI-layout tests need no peers. The registry tests (`#[ignore]`, run with
//! `--include-ignored`) use a real docker-registry: the complete
//! `examples/rotate-keys.sh`, a `resign` killed with SIGKILL part-way and
//! re-run, and `verify --keyset` looping while `resign` runs.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::image_sign_verify::helpers::{Keys, keypair, rsign, rsign_cmd, s, sig_layers};
use crate::support::images;
use crate::support::process;
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::tools::{rsign_bin, workspace_root};

/// `rsign key list --keyset KS --output json`, parsed.
fn key_list(keyset: &Path) -> Vec<Value> {
    let out = rsign(&["key", "list", "--keyset", s(keyset), "--output", "json"]);
    out.assert_success();
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The id of the key named `name` in the keyset.
fn id_of(keyset: &Path, name: &str) -> String {
    key_list(keyset)
        .into_iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A layout with `n` images tagged `t0..t{n-1}`; returns their digests.
fn layout_with(dir: &Path, n: usize, seed: u64) -> Vec<String> {
    (0..n)
        .map(|i| images::build_image_layout(dir, &format!("t{i}"), seed + i as u64))
        .collect()
}

/// `oci:DIR:t{i}` for every image.
fn layout_refs(dir: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("oci:{}:t{i}", dir.display()))
        .collect()
}

fn args_with<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(tail.iter().map(String::as_str));
    v
}

/// A keyset trusting `a` (named `key-a`), and key `a` itself.
fn keyset_with_a(dir: &Path) -> (PathBuf, Keys) {
    let a = keypair(dir, "a");
    let ks = dir.join("keyset.yaml");
    rsign(&[
        "key",
        "add",
        "--keyset",
        s(&ks),
        "--key",
        s(&a.public),
        "--name",
        "key-a",
    ])
    .assert_success()
    .assert_stderr_contains("(new keyset)");
    (ks, a)
}

/// Rotates to a new key pair `DIR/b` named `key-b`.
fn rotate(dir: &Path, ks: &Path, grace: &str) -> Keys {
    let prefix = dir.join("b");
    rsign(&[
        "key",
        "rotate",
        "--keyset",
        s(ks),
        "--output-key-prefix",
        s(&prefix),
        "--name",
        "key-b",
        "--grace",
        grace,
    ])
    .assert_success();
    Keys {
        key: prefix.with_extension("key"),
        public: prefix.with_extension("pub"),
    }
}

#[test]
fn key_list_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, _a) = keyset_with_a(dir.path());
    let _b = rotate(dir.path(), &ks, "7d");
    let c = keypair(dir.path(), "c");
    rsign(&[
        "key",
        "add",
        "--keyset",
        s(&ks),
        "--key",
        s(&c.public),
        "--name",
        "key-c",
    ])
    .assert_success();
    let c_id = id_of(&ks, "key-c");
    rsign(&["key", "revoke", "--keyset", s(&ks), &c_id[..12]]).assert_success();

    let list = key_list(&ks);
    assert_eq!(list.len(), 3);
    for k in &list {
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["acceptUntil", "id", "name", "status"], "{k}");
        let id = k["id"].as_str().unwrap();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    let by = |name: &str| list.iter().find(|k| k["name"] == name).unwrap().clone();
    assert_eq!(by("key-a")["status"], "retired");
    let until = by("key-a")["acceptUntil"].as_str().unwrap().to_owned();
    assert!(until.ends_with('Z'), "{until}");
    assert_eq!(by("key-b")["status"], "active");
    assert!(by("key-b")["acceptUntil"].is_null());
    assert_eq!(by("key-c")["status"], "revoked");
    assert!(by("key-c")["acceptUntil"].is_null());

    // The text listing names every key by its short id.
    let out = rsign(&["key", "list", "--keyset", s(&ks)]);
    out.assert_success();
    for k in &list {
        let id = k["id"].as_str().unwrap();
        assert!(out.stdout.contains(&id[..16]), "{}", out.stdout);
    }
    assert!(
        out.stdout
            .contains(&format!("retired, accepted until {until}")),
        "{}",
        out.stdout
    );
}

#[test]
fn revoke_and_add_follow_the_key_id_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (ks, a) = keyset_with_a(dir.path());
    let a_id = id_of(&ks, "key-a");
    let before = std::fs::read(&ks).unwrap();
    // Too short, not hex, unknown, longer than an id: exit 2, file unchanged.
    for bad in [
        &a_id[..11],
        "zzzzzzzzzzzzzzzz",
        "0123456789abcdef0123",
        &format!("{a_id}0"),
    ] {
        let out = rsign(&["key", "revoke", "--keyset", s(&ks), bad]);
        out.assert_code(2);
        assert!(
            out.stderr.contains("cannot revoke a key in keyset"),
            "{out}"
        );
        assert_eq!(
            std::fs::read(&ks).unwrap(),
            before,
            "{bad} changed the keyset"
        );
    }
    rsign(&["key", "revoke", "--keyset", s(&ks), &a_id[..11]]).assert_stderr_contains("too short");
    // The same key twice: exit 2.
    rsign(&[
        "key",
        "add",
        "--keyset",
        s(&ks),
        "--key",
        s(&a.public),
        "--name",
        "again",
    ])
    .assert_code(2);
    // A bad name: exit 2.
    let c = keypair(dir.path(), "c");
    rsign(&[
        "key",
        "add",
        "--keyset",
        s(&ks),
        "--key",
        s(&c.public),
        "--name",
        " ",
    ])
    .assert_code(2);
    assert_eq!(std::fs::read(&ks).unwrap(), before);
    // A private key is not a public key.
    rsign(&[
        "key",
        "add",
        "--keyset",
        s(&ks),
        "--key",
        s(&c.key),
        "--name",
        "c",
    ])
    .assert_code(2);
    // A unique 12-digit prefix, in upper case, works; revoking again changes nothing.
    rsign(&[
        "key",
        "revoke",
        "--keyset",
        s(&ks),
        &a_id[..12].to_uppercase(),
    ])
    .assert_success()
    .assert_stderr_contains(&format!("Revoked key {} (key-a)", &a_id[..16]));
    assert_eq!(key_list(&ks)[0]["status"], "revoked");
    rsign(&["key", "revoke", "--keyset", s(&ks), &a_id])
        .assert_success()
        .assert_stderr_contains("already revoked");
    // The keyset is self-contained: the key is inline, not a path.
    let text = std::fs::read_to_string(&ks).unwrap();
    assert!(
        text.contains("publicKey:") && !text.contains("path:"),
        "{text}"
    );
}

#[test]
fn rotate_writes_keys_first_and_never_clobbers() {
    let dir = tempfile::tempdir().unwrap();
    // No keyset: nothing is written.
    let missing = dir.path().join("missing.yaml");
    let prefix = dir.path().join("new");
    rsign(&[
        "key",
        "rotate",
        "--keyset",
        s(&missing),
        "--output-key-prefix",
        s(&prefix),
    ])
    .assert_code(2);
    assert!(!prefix.with_extension("key").exists() && !missing.exists());

    let (ks, _a) = keyset_with_a(dir.path());
    let before = std::fs::read(&ks).unwrap();
    // An existing key file is not replaced and the keyset is unchanged.
    std::fs::write(prefix.with_extension("key"), b"keep me").unwrap();
    rsign(&[
        "key",
        "rotate",
        "--keyset",
        s(&ks),
        "--output-key-prefix",
        s(&prefix),
    ])
    .assert_code(2)
    .assert_stderr_contains("refusing to overwrite");
    assert_eq!(
        std::fs::read(prefix.with_extension("key")).unwrap(),
        b"keep me"
    );
    assert!(!prefix.with_extension("pub").exists());
    assert_eq!(std::fs::read(&ks).unwrap(), before);
    // A bad grace: exit 2, nothing written.
    let other = dir.path().join("other");
    rsign(&[
        "key",
        "rotate",
        "--keyset",
        s(&ks),
        "--output-key-prefix",
        s(&other),
        "--grace",
        "7 days",
    ])
    .assert_code(2);
    assert!(!other.with_extension("key").exists());
    assert_eq!(std::fs::read(&ks).unwrap(), before);
    // A keyset in a directory that cannot take the new file: the new key
    // files are removed again, the keyset is unchanged.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let ro_ks = ro.join("keyset.yaml");
        std::fs::copy(&ks, &ro_ks).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        // root ignores directory permissions; only check when they apply.
        if std::fs::write(ro.join("probe"), b"x").is_err() {
            rsign(&[
                "key",
                "rotate",
                "--keyset",
                s(&ro_ks),
                "--output-key-prefix",
                s(&other),
            ])
            .assert_code(2);
            assert!(!other.with_extension("key").exists());
            assert!(!other.with_extension("pub").exists());
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The real rotation: 0600 private key, A retired with a window, B active.
    let b = rotate(dir.path(), &ks, "1h");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&b.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let list = key_list(&ks);
    assert_eq!(list[0]["status"], "retired");
    assert_eq!(list[1]["status"], "active");
    let b_pub = std::fs::read_to_string(&b.public).unwrap();
    assert!(
        std::fs::read_to_string(&ks)
            .unwrap()
            .contains(b_pub.lines().nth(1).unwrap())
    );
}

#[test]
fn verify_with_a_keyset_across_a_rotation_on_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("lay");
    let digests = layout_with(&lay, 3, 100);
    let refs = layout_refs(&lay, 3);
    let (ks, a) = keyset_with_a(dir.path());
    let a_id = id_of(&ks, "key-a");
    rsign(&args_with(&["sign", "--key", s(&a.key)], &refs)).assert_success();
    let out = rsign(&args_with(&["verify", "--keyset", s(&ks)], &refs));
    out.assert_success();
    assert!(
        out.stdout
            .contains(&format!("verified by {} (key-a)", &a_id[..16])),
        "{out}"
    );

    // A window wide enough for a slow, loaded machine to run the in-window steps.
    let b = rotate(dir.path(), &ks, "8s");
    let b_id = id_of(&ks, "key-b");
    // In the window: A still verifies, with a warning to re-sign.
    rsign(&args_with(&["verify", "--keyset", s(&ks)], &refs))
        .assert_success()
        .assert_stderr_contains("grace window");
    // Re-sign the first two only.
    rsign(&args_with(&["resign", "--key", s(&b.key)], &refs[..2]))
        .assert_success()
        .assert_stdout_contains("resign: 2 signed, 0 already signed, 0 failed");
    for d in &digests[..2] {
        assert_eq!(sig_layers(&lay, d).len(), 2, "A's signature was kept");
    }
    std::thread::sleep(Duration::from_millis(9200));
    // After the window: the re-signed images pass by B; the third is refused, naming A.
    let out = rsign(&args_with(
        &["verify", "--keyset", s(&ks), "-o", "json"],
        &refs[..2],
    ));
    out.assert_success();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["verified"], true);
        assert_eq!(v["keys"][0]["keyId"], b_id.as_str());
        assert_eq!(v["keys"][0]["name"], "key-b");
        assert_eq!(v["keys"].as_array().unwrap().len(), 1, "A no longer counts");
    }
    let out = rsign(&["verify", "--keyset", s(&ks), &refs[2]]);
    out.assert_code(1).assert_stderr_contains(&format!(
        "signed only by retired key {} (key-a), whose acceptance window expired at",
        &a_id[..16]
    ));
    // `--key A.pub` next to the keyset does not bring the expired key back.
    rsign(&[
        "verify",
        "--keyset",
        s(&ks),
        "--key",
        s(&a.public),
        &refs[2],
    ])
    .assert_code(1);
    // Without the keyset, `--key A.pub` alone still verifies (the keyset is the policy).
    rsign(&["verify", "--key", s(&a.public), &refs[2]]).assert_success();
}

#[test]
fn revoked_keys_never_count_on_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("lay");
    layout_with(&lay, 2, 200);
    let refs = layout_refs(&lay, 2);
    let (ks, a) = keyset_with_a(dir.path());
    let a_id = id_of(&ks, "key-a");
    let b = rotate(dir.path(), &ks, "30d");
    // Image 0: A only. Image 1: A and B.
    rsign(&args_with(&["sign", "--key", s(&a.key)], &refs)).assert_success();
    rsign(&["sign", "--key", s(&b.key), &refs[1]]).assert_success();
    rsign(&args_with(&["verify", "--keyset", s(&ks)], &refs)).assert_success();

    rsign(&["key", "revoke", "--keyset", s(&ks), &a_id[..16]]).assert_success();
    let out = rsign(&["verify", "--keyset", s(&ks), &refs[0]]);
    out.assert_code(1).assert_stderr_contains(&format!(
        "signed only by revoked key {} (key-a)",
        &a_id[..16]
    ));
    let out = rsign(&["verify", "--keyset", s(&ks), "-o", "json", &refs[0]]);
    out.assert_code(1);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["verified"], false);
    assert!(v["reason"].as_str().unwrap().contains("revoked key"), "{v}");
    // Even given explicitly with --key, a revoked key does not count.
    rsign(&[
        "verify",
        "--keyset",
        s(&ks),
        "--key",
        s(&a.public),
        &refs[0],
    ])
    .assert_code(1);
    // Image 1 still verifies by B; A is not among the verifying keys.
    let out = rsign(&["verify", "--keyset", s(&ks), "-o", "json", &refs[1]]);
    out.assert_success();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let names: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["key-b"]);
    // A threshold of 2 cannot be met with A revoked; the refusal says why.
    rsign(&["verify", "--keyset", s(&ks), "--threshold", "2", &refs[1]])
        .assert_code(1)
        .assert_stderr_contains("also signed by (not counted) revoked key");
}

#[test]
fn resign_on_a_layout_is_resumable_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("lay");
    let digests = layout_with(&lay, 6, 300);
    let refs = layout_refs(&lay, 6);
    let (ks, a) = keyset_with_a(dir.path());
    rsign(&args_with(&["sign", "--key", s(&a.key)], &refs)).assert_success();
    let b = rotate(dir.path(), &ks, "1h");
    // Two images already done by hand.
    rsign(&args_with(&["sign", "--key", s(&b.key)], &refs[..2])).assert_success();
    // --repository over the layout: every tag (the .sig tags are skipped).
    let repo = format!("oci:{}", lay.display());
    let out = rsign(&[
        "resign",
        "--key",
        s(&b.key),
        "--repository",
        &repo,
        "--output",
        "json",
    ]);
    out.assert_success();
    let summary: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["signed"], 4, "{summary}");
    assert_eq!(summary["alreadySigned"], 2, "{summary}");
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["images"].as_array().unwrap().len(), 6);
    for d in &digests {
        assert_eq!(sig_layers(&lay, d).len(), 2, "exactly A and B on {d}");
    }
    // Again: nothing to do.
    let out = rsign(&["resign", "--key", s(&b.key), "--repository", &repo]);
    out.assert_success()
        .assert_stdout_contains("resign: 0 signed, 6 already signed, 0 failed");
    assert!(out.stderr.contains("already signed oci:"), "{out}");
    for d in &digests {
        assert_eq!(sig_layers(&lay, d).len(), 2);
    }
    rsign(&args_with(&["verify", "--key", s(&b.public)], &refs)).assert_success();

    // --from-file with a comment, a duplicate and a missing tag: exit 2,
    // the good images are still done, the missing one is named.
    let list = dir.path().join("images.txt");
    let c = keypair(dir.path(), "c");
    std::fs::write(
        &list,
        format!(
            "# images\n{}\n\n{}\n{}\noci:{}:nope\n",
            refs[0],
            refs[1],
            refs[0],
            lay.display()
        ),
    )
    .unwrap();
    let out = rsign(&[
        "resign",
        "--key",
        s(&c.key),
        "--from-file",
        s(&list),
        "-o",
        "json",
    ]);
    out.assert_code(2);
    let summary: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(summary["signed"], 2, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    let failed: Vec<&Value> = summary["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["image"].as_str().unwrap().ends_with(":nope"));
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("no such image"),
        "{summary}"
    );
    // Exactly one source of images.
    rsign(&["resign", "--key", s(&c.key)]).assert_code(2);
    rsign(&[
        "resign",
        "--key",
        s(&c.key),
        "--from-file",
        s(&list),
        &refs[0],
    ])
    .assert_code(2);
}

#[test]
fn clean_signed_by_removes_only_that_keys_signatures_on_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("lay");
    let digests = layout_with(&lay, 2, 400);
    let refs = layout_refs(&lay, 2);
    let (ks, a) = keyset_with_a(dir.path());
    let a_id = id_of(&ks, "key-a");
    rsign(&args_with(&["sign", "--key", s(&a.key)], &refs)).assert_success();
    let b = rotate(dir.path(), &ks, "1h");
    rsign(&["resign", "--key", s(&b.key), &refs[0]]).assert_success();
    // Image 0 has A and B; image 1 has A only.
    rsign(&[
        "clean",
        "--type",
        "signature",
        "--signed-by",
        &a_id[..12],
        "--keyset",
        s(&ks),
        "-f",
        &refs[0],
    ])
    .assert_success();
    let layers = sig_layers(&lay, &digests[0]);
    assert_eq!(layers.len(), 1);
    rsign(&["verify", "--key", s(&b.public), &refs[0]]).assert_success();
    rsign(&["verify", "--key", s(&a.public), &refs[0]]).assert_code(1);
    // By public key file; removing the last layer removes the signatures.
    rsign(&[
        "clean",
        "--type",
        "signature",
        "--signed-by-key",
        s(&a.public),
        "-f",
        &refs[1],
    ])
    .assert_success();
    assert!(sig_layers(&lay, &digests[1]).is_empty());
    rsign(&["verify", "--key", s(&a.public), &refs[1]]).assert_code(3);
    // A too-short id is refused before anything is removed.
    rsign(&[
        "clean",
        "--signed-by",
        &a_id[..8],
        "--keyset",
        s(&ks),
        "-f",
        &refs[0],
    ])
    .assert_code(2);
    assert_eq!(sig_layers(&lay, &digests[0]).len(), 1);
}

#[test]
fn clean_signed_by_takes_several_images_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("lay");
    let digests = layout_with(&lay, 3, 500);
    let refs = layout_refs(&lay, 3);
    let (ks, a) = keyset_with_a(dir.path());
    let a_id = id_of(&ks, "key-a");
    rsign(&args_with(&["sign", "--key", s(&a.key)], &refs)).assert_success();
    let b = rotate(dir.path(), &ks, "1h");
    rsign(&args_with(&["resign", "--key", s(&b.key)], &refs)).assert_success();
    // Every image has A and B; one call removes A's signature from the first two.
    rsign(&[
        "clean",
        "--type",
        "signature",
        "--signed-by",
        &a_id,
        "--keyset",
        s(&ks),
        "-f",
        &refs[0],
        &refs[1],
    ])
    .assert_success();
    for i in 0..2 {
        assert_eq!(sig_layers(&lay, &digests[i]).len(), 1, "image {i}");
        rsign(&["verify", "--key", s(&a.public), &refs[i]]).assert_code(1);
        rsign(&["verify", "--key", s(&b.public), &refs[i]]).assert_success();
    }
    // The image not named keeps both signatures.
    assert_eq!(sig_layers(&lay, &digests[2]).len(), 2);
    rsign(&["verify", "--key", s(&a.public), &refs[2]]).assert_success();
}

// --- against a real registry --------------------------------------------------

/// An image pushed by bench/make_images.py.
struct Pushed {
    /// `127.0.0.1:PORT/bench/img-<i>:v1`.
    reference: String,
    /// `bench/img-<i>`.
    repo: String,
    /// `sha256:<hex>`.
    digest: String,
}

/// Pushes `n` images with bench/make_images.py.
fn push_images(reg: &TestRegistry, n: usize, out: &Path) -> Vec<Pushed> {
    let script = workspace_root().join("bench/make_images.py");
    let tsv = out.join("images.tsv");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["--port", &reg.port().to_string(), "-n", &n.to_string()])
        .args(["--jobs", "4", "--out", s(&tsv)]);
    process::run(cmd, Duration::from_secs(300)).assert_success();
    std::fs::read_to_string(&tsv)
        .unwrap()
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Pushed {
                reference: cols[1].to_owned(),
                repo: format!("bench/img-{}", cols[0]),
                digest: cols[2].to_owned(),
            }
        })
        .collect()
}

/// The layer count of an image's signature manifest, read from the registry
/// and parsed.
fn registry_sig_layers(reg: &TestRegistry, image: &Pushed) -> usize {
    let tag = format!("{}.sig", image.digest.replace(':', "-"));
    let resp = reg.get_manifest(&image.repo, &tag);
    assert_eq!(
        resp.status, 200,
        "no signature manifest for {}",
        image.reference
    );
    let manifest: Value = serde_json::from_slice(&resp.body).unwrap();
    manifest["layers"].as_array().unwrap().len()
}

#[test]
#[ignore = "needs docker-registry (scripts/install-test-deps.sh)"]
fn rotate_keys_example_runs_against_a_registry() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let script = workspace_root().join("examples/rotate-keys.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("REGISTRY", reg.host())
        .env("RSIGN", rsign_bin())
        .env_remove("RSIGN_PASSWORD")
        .env_remove("RSIGN_REPOSITORY")
        .env_remove("COSIGN_REPOSITORY");
    let out = process::run(cmd, Duration::from_secs(600));
    out.assert_success();
    assert!(
        out.stdout.contains("rotate-keys: ok — 50 images rotated"),
        "{out}"
    );
}

#[test]
#[ignore = "needs docker-registry (scripts/install-test-deps.sh)"]
fn resign_killed_part_way_completes_when_run_again() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let dir = tempfile::tempdir().unwrap();
    let pushed = push_images(&reg, 50, dir.path());
    let refs: Vec<String> = pushed.iter().map(|p| p.reference.clone()).collect();
    let (ks, a) = keyset_with_a(dir.path());
    rsign(&args_with(
        &["sign", "--key", s(&a.key), "--jobs", "8"],
        &refs,
    ))
    .assert_success();
    let b = rotate(dir.path(), &ks, "1h");

    // Start resign (plain progress lines: stderr is a pipe) and SIGKILL it
    // after the fifth image is signed.
    let mut child = rsign_cmd(&args_with(
        &["resign", "--key", s(&b.key), "--jobs", "2"],
        &refs,
    ))
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut signed_before_kill = 0;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.starts_with("signed ") {
            signed_before_kill += 1;
            if signed_before_kill == 5 {
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "resign finished before it was killed");
    assert_eq!(signed_before_kill, 5);

    // Run again: it completes, skipping what was done.
    let out = rsign(&args_with(
        &["resign", "--key", s(&b.key), "-o", "json"],
        &refs,
    ));
    out.assert_success();
    let summary: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let signed = summary["signed"].as_u64().unwrap();
    let already = summary["alreadySigned"].as_u64().unwrap();
    assert_eq!(signed + already, 50, "{summary}");
    assert!(already >= 5, "{summary}");
    assert!(signed >= 1, "{summary}");

    // Every .sig manifest parses and holds exactly A's and B's signatures.
    for image in &pushed {
        assert_eq!(registry_sig_layers(&reg, image), 2, "{}", image.reference);
    }
    rsign(&args_with(&["verify", "--key", s(&b.public)], &refs)).assert_success();
    rsign(&args_with(&["verify", "--key", s(&a.public)], &refs)).assert_success();
}

#[test]
#[ignore = "needs docker-registry (scripts/install-test-deps.sh)"]
fn verify_with_the_keyset_never_fails_while_resign_runs() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let dir = tempfile::tempdir().unwrap();
    let refs: Vec<String> = push_images(&reg, 50, dir.path())
        .into_iter()
        .map(|p| p.reference)
        .collect();
    let (ks, a) = keyset_with_a(dir.path());
    rsign(&args_with(
        &["sign", "--key", s(&a.key), "--jobs", "8"],
        &refs,
    ))
    .assert_success();
    let b = rotate(dir.path(), &ks, "1h");

    let done = Arc::new(AtomicBool::new(false));
    let verifier = {
        let done = Arc::clone(&done);
        let refs = refs.clone();
        let ks = ks.clone();
        std::thread::spawn(move || {
            let mut rounds = 0;
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let finished = done.load(Ordering::SeqCst);
                let out = rsign(&args_with(&["verify", "--keyset", s(&ks)], &refs));
                assert!(out.success(), "verify failed during resign:\n{out}");
                rounds += 1;
                if finished || Instant::now() > deadline {
                    return rounds;
                }
            }
        })
    };
    let out = rsign(&args_with(
        &["resign", "--key", s(&b.key), "--jobs", "4"],
        &refs,
    ));
    done.store(true, Ordering::SeqCst);
    out.assert_success()
        .assert_stdout_contains("resign: 50 signed, 0 already signed, 0 failed");
    let rounds = verifier.join().unwrap();
    assert!(rounds >= 2, "the verify loop ran {rounds} time(s)");
    // After: B alone verifies every image.
    rsign(&args_with(&["verify", "--key", s(&b.public)], &refs)).assert_success();
}
