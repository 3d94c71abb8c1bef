//! Keys and blob signatures exchanged with the real cosign 2.5 (and openssl):
//! each side must accept what the other writes, and reject tampered data.

// Test helpers abort the test with a message: panicking is their error handling.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::support::cosign::Cosign;
use crate::support::process::{self, DEFAULT_TIMEOUT, Output};
use crate::support::tools::{rsign_bin, tools, workspace_root};

const PW: &str = "interop password";

/// Runs `rsign args…` with `RSIGN_PASSWORD` (when given) and nothing else
/// from the key-password environment.
fn rsign(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(rsign_bin());
    cmd.args(args)
        .env_remove("RSIGN_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env("NO_COLOR", "1");
    if let Some(p) = password {
        cmd.env("RSIGN_PASSWORD", p);
    }
    process::run(cmd, DEFAULT_TIMEOUT)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn vector(file: &str) -> PathBuf {
    workspace_root()
        .join("keys-testdata/cosign/import-key-pair")
        .join(file)
}

/// A blob and a copy of it with one byte changed.
fn blobs(dir: &Path) -> (PathBuf, PathBuf) {
    let data: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut tampered = data.clone();
    tampered[1_000_000] ^= 0x80;
    let (a, b) = (dir.join("blob.bin"), dir.join("tampered.bin"));
    std::fs::write(&a, data).unwrap();
    std::fs::write(&b, tampered).unwrap();
    (a, b)
}

/// `rsign verify-blob` of `blob` against `signature` (a file or inline text).
fn rsign_verify(public: &Path, signature: &str, blob: &Path) -> Output {
    rsign(
        &[
            "verify-blob",
            "--key",
            s(public),
            "--signature",
            signature,
            s(blob),
        ],
        None,
    )
}

/// `cosign verify-blob --insecure-ignore-tlog=true`.
fn cosign_verify(cosign: &Cosign, public: &Path, signature: &Path, blob: &Path) -> Output {
    cosign.run(
        &[
            "verify-blob",
            "--key",
            s(public),
            "--signature",
            s(signature),
            "--insecure-ignore-tlog=true",
            s(blob),
        ],
        None,
    )
}

/// rsign signs `blob` with `key` into `sig`; cosign accepts it and rejects
/// the tampered blob.
fn rsign_signs_cosign_verifies(cosign: &Cosign, key: &Path, public: &Path, dir: &Path) {
    let (blob, tampered) = blobs(dir);
    let sig = dir.join(format!(
        "{}.sig",
        key.file_stem().unwrap().to_string_lossy()
    ));
    rsign(
        &[
            "sign-blob",
            "--key",
            s(key),
            "--output-signature",
            s(&sig),
            s(&blob),
        ],
        Some(PW),
    )
    .assert_success();
    let out = cosign_verify(cosign, public, &sig, &blob);
    out.assert_success();
    assert!(out.stderr.contains("Verified OK"), "{out}");
    cosign_verify(cosign, public, &sig, &tampered).assert_failure();
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn cosign_signs_with_an_rsign_key_and_rsign_verifies() {
    let cosign = Cosign::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefix = d.join("rk");
    rsign(&["generate-key-pair", "-o", s(&prefix)], Some(PW)).assert_success();
    let (key, public) = (d.join("rk.key"), d.join("rk.pub"));
    let (blob, tampered) = blobs(d);

    let out = cosign.run(
        &[
            "sign-blob",
            "--key",
            s(&key),
            "--tlog-upload=false",
            "--yes",
            s(&blob),
        ],
        Some(PW),
    );
    out.assert_success();
    let inline = out.stdout.trim().to_owned();
    STANDARD.decode(&inline).expect("cosign printed base64");

    rsign_verify(&public, &inline, &blob).assert_code(0);
    rsign_verify(&public, &inline, &tampered).assert_code(1);
    // The same signature through a file cosign wrote.
    let sig = d.join("cosign.sig");
    cosign
        .run(
            &[
                "sign-blob",
                "--key",
                s(&key),
                "--tlog-upload=false",
                "--output-signature",
                s(&sig),
                s(&blob),
            ],
            Some(PW),
        )
        .assert_success();
    rsign_verify(&public, s(&sig), &blob).assert_code(0);
    // And cosign reads rsign's public key (the same one) from the private key.
    let out = cosign.run(&["public-key", "--key", s(&key)], Some(PW));
    out.assert_success();
    assert_eq!(out.stdout, std::fs::read_to_string(&public).unwrap());
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn rsign_signs_and_cosign_verifies() {
    let cosign = Cosign::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rsign(&["generate-key-pair", "-o", s(&d.join("gen"))], Some(PW)).assert_success();
    rsign_signs_cosign_verifies(&cosign, &d.join("gen.key"), &d.join("gen.pub"), d);

    // The stdout form (base64 and a newline) saved to a file is accepted too.
    let (blob, _) = blobs(d);
    let out = rsign(
        &["sign-blob", "--key", s(&d.join("gen.key")), s(&blob)],
        Some(PW),
    );
    out.assert_success();
    let sig = d.join("stdout.sig");
    std::fs::write(&sig, &out.stdout).unwrap();
    cosign_verify(&cosign, &d.join("gen.pub"), &sig, &blob).assert_success();
}

/// Keys cosign 2.5 cannot import, imported by rsign: cosign verifies their
/// blob signatures (SHA-256 for every ECDSA curve, PKCS#1 v1.5 for RSA).
#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn rsign_imported_rsa_and_ecdsa_keys_verify_in_cosign() {
    let cosign = Cosign::new();
    for file in [
        "validrsa.key",
        "validrsapkcs1.key",
        "validecp384.key",
        "validecp521.key",
        "validecpkcs8.key",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let prefix = d.join("imp");
        rsign(
            &[
                "import-key-pair",
                "--key",
                s(&vector(file)),
                "-o",
                s(&prefix),
            ],
            Some(PW),
        )
        .assert_success();
        rsign_signs_cosign_verifies(&cosign, &d.join("imp.key"), &d.join("imp.pub"), d);
    }
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn cosign_generated_key_loads_in_rsign() {
    let cosign = Cosign::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pair = cosign.generate_key_pair(d, PW);
    let theirs = cosign.run(&["public-key", "--key", s(&pair.private_key)], Some(PW));
    theirs.assert_success();
    let ours = rsign(&["public-key", "--key", s(&pair.private_key)], Some(PW));
    ours.assert_success();
    assert_eq!(ours.stdout, theirs.stdout, "byte-for-byte");
    assert_eq!(
        ours.stdout,
        std::fs::read_to_string(&pair.public_key).unwrap()
    );
    // A wrong password is refused with exit 2.
    rsign(&["public-key", "--key", s(&pair.private_key)], Some("nope")).assert_code(2);
    // rsign signs with cosign's key; cosign verifies.
    rsign_signs_cosign_verifies(&cosign, &pair.private_key, &pair.public_key, d);
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn rsign_imported_ed25519_key_works_in_cosign() {
    let cosign = Cosign::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rsign(
        &[
            "import-key-pair",
            "-k",
            s(&vector("ed25519.key")),
            "-o",
            s(&d.join("ed")),
        ],
        Some(PW),
    )
    .assert_success();
    let (key, public) = (d.join("ed.key"), d.join("ed.pub"));
    let out = cosign.run(&["public-key", "--key", s(&key)], Some(PW));
    out.assert_success();
    assert_eq!(out.stdout, std::fs::read_to_string(&public).unwrap());

    let (blob, tampered) = blobs(d);
    let sig = d.join("cosign-ed.sig");
    cosign
        .run(
            &[
                "sign-blob",
                "--key",
                s(&key),
                "--tlog-upload=false",
                "--output-signature",
                s(&sig),
                s(&blob),
            ],
            Some(PW),
        )
        .assert_success();
    rsign_verify(&public, s(&sig), &blob).assert_code(0);
    rsign_verify(&public, s(&sig), &tampered).assert_code(1);
    // And the other way round.
    rsign_signs_cosign_verifies(&cosign, &key, &public, d);
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn cosign_imported_ed25519_key_loads_in_rsign() {
    let cosign = Cosign::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefix = d.join("cimp");
    cosign
        .run(
            &[
                "import-key-pair",
                "-k",
                s(&vector("ed25519.key")),
                "-o",
                s(&prefix),
                "-y",
            ],
            Some(PW),
        )
        .assert_success();
    let (key, public) = (d.join("cimp.key"), d.join("cimp.pub"));
    let ours = rsign(&["public-key", "--key", s(&key)], Some(PW));
    ours.assert_success();
    assert_eq!(ours.stdout, std::fs::read_to_string(&public).unwrap());
    rsign_signs_cosign_verifies(&cosign, &key, &public, d);
}

#[test]
#[ignore = "needs cosign 2.5 and openssl (scripts/install-test-deps.sh)"]
fn openssl_verifies_rsign_p256_blob_signature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rsign(&["generate-key-pair", "-o", s(&d.join("cosign"))], Some(PW)).assert_success();
    let (blob, tampered) = blobs(d);
    let out = rsign(
        &["sign-blob", "--key", s(&d.join("cosign.key")), s(&blob)],
        Some(PW),
    );
    out.assert_success();
    let der = STANDARD.decode(out.stdout.trim()).unwrap();
    let sig = d.join("sig.der");
    std::fs::write(&sig, der).unwrap();
    let openssl = |file: &Path| {
        let mut cmd = Command::new(&tools().openssl);
        cmd.args([
            "dgst",
            "-sha256",
            "-verify",
            s(&d.join("cosign.pub")),
            "-signature",
            s(&sig),
            s(file),
        ]);
        process::run(cmd, DEFAULT_TIMEOUT)
    };
    let ok = openssl(&blob);
    ok.assert_success();
    assert!(ok.stdout.contains("Verified OK"), "{ok}");
    openssl(&tampered).assert_failure();
}
