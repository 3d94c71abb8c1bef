//! The key and blob commands through the `rsign` binary: files and modes,
//! round trips for every key type, no-clobber rules, exit codes, and hostile
//! input (each must fail with exit 2, a message, and no panic).

// Test helpers abort the test with a message: panicking is their error handling.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

const PW: &str = "correct horse battery staple";

/// What one run of `rsign` returned.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    #[track_caller]
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout_str(),
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "rsign panicked:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// An `rsign` invocation in a directory, with a controlled environment.
struct Rsign {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Rsign {
    fn new(dir: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rsign"));
        cmd.current_dir(dir)
            .args(args)
            .env_remove("RSIGN_PASSWORD")
            .env_remove("COSIGN_PASSWORD")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        Self { cmd, stdin: None }
    }

    /// Runs with `RSIGN_PASSWORD` set to the test password.
    fn with_pw(dir: &Path, args: &[&str]) -> Self {
        Self::new(dir, args).env("RSIGN_PASSWORD", PW)
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    fn run(mut self) -> Run {
        let start = Instant::now();
        let mut child = self
            .cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rsign");
        let writer = self.stdin.take().map(|bytes| {
            let mut pipe = child.stdin.take().unwrap();
            // rsign may exit before reading everything; a broken pipe is fine.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })
        });
        let out = child.wait_with_output().expect("wait for rsign");
        if let Some(w) = writer {
            w.join().unwrap();
        }
        Run {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        }
    }
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel)
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A deterministic, non-repeating-looking blob of `len` bytes.
fn blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// `rsign generate-key-pair` in `dir` with the test password.
fn generate(dir: &Path) {
    Rsign::with_pw(dir, &["generate-key-pair"])
        .run()
        .assert_code(0);
}

/// The JSON inside a cosign encrypted key PEM.
fn encrypted_key_json(pem: &[u8]) -> Value {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    serde_json::from_slice(&STANDARD.decode(body).unwrap()).unwrap()
}

/// A cosign encrypted key PEM holding `json`.
fn encrypted_key_pem(json: &Value) -> Vec<u8> {
    let b64 = STANDARD.encode(serde_json::to_vec(json).unwrap());
    let mut pem = String::from("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    pem.into_bytes()
}

#[test]
fn generate_sign_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = Rsign::with_pw(d, &["generate-key-pair"]).run();
    run.assert_code(0)
        .assert_stderr_contains("Private key written to cosign.key")
        .assert_stderr_contains("Public key written to cosign.pub");
    assert!(run.stdout.is_empty(), "generate-key-pair wrote to stdout");

    let key = read(d.join("cosign.key"));
    let public = read(d.join("cosign.pub"));
    assert!(key.starts_with(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(public.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&d.join("cosign.key")), 0o600);
        assert_eq!(mode(&d.join("cosign.pub")), 0o644);
    }
    // cosign's scrypt parameters, fresh salt and nonce.
    let json = encrypted_key_json(&key);
    assert_eq!(json["kdf"]["name"], "scrypt");
    assert_eq!(json["kdf"]["params"]["N"], 65536);
    assert_eq!(json["cipher"]["name"], "nacl/secretbox");

    // public-key prints exactly cosign.pub; --outfile writes the same bytes.
    let run = Rsign::with_pw(d, &["public-key", "--key", "cosign.key"]).run();
    run.assert_code(0);
    assert_eq!(run.stdout, public);
    Rsign::with_pw(
        d,
        &[
            "public-key",
            "--key",
            "cosign.key",
            "--outfile",
            "again.pub",
        ],
    )
    .run()
    .assert_code(0);
    assert_eq!(read(d.join("again.pub")), public);

    // A blob larger than any single read buffer.
    let data = blob(3 * 1024 * 1024 + 17);
    std::fs::write(d.join("blob.bin"), &data).unwrap();
    let run = Rsign::with_pw(d, &["sign-blob", "--key", "cosign.key", "blob.bin"]).run();
    run.assert_code(0);
    let printed = run.stdout_str();
    assert!(
        printed.ends_with('\n'),
        "stdout signature ends with newline"
    );
    assert!(!printed.trim_end().contains('\n'));
    let sig = STANDARD.decode(printed.trim_end()).unwrap();
    assert_eq!(sig.first(), Some(&0x30), "ECDSA signature is DER");

    // --output-signature: base64 without newline, nothing on stdout.
    let run = Rsign::with_pw(
        d,
        &[
            "sign-blob",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--yes",
            "--output-signature",
            "blob.sig",
            "blob.bin",
        ],
    )
    .run();
    run.assert_code(0);
    assert!(run.stdout.is_empty());
    let file_sig = read(d.join("blob.sig"));
    assert!(!file_sig.ends_with(b"\n"));
    STANDARD.decode(&file_sig).unwrap();

    // Both signatures verify, from a file and inline.
    for signature in ["blob.sig".to_owned(), printed.trim_end().to_owned()] {
        Rsign::new(
            d,
            &[
                "verify-blob",
                "--key",
                "cosign.pub",
                "--signature",
                &signature,
                "blob.bin",
            ],
        )
        .run()
        .assert_code(0)
        .assert_stderr_contains("Verified OK");
    }
    // Blob from standard input, both ways.
    let run = Rsign::with_pw(d, &["sign-blob", "--key", "cosign.key", "-"])
        .stdin(data.clone())
        .run();
    run.assert_code(0);
    let stdin_sig = run.stdout_str();
    Rsign::new(
        d,
        &[
            "verify-blob",
            "--key",
            "cosign.pub",
            "--signature",
            stdin_sig.trim_end(),
            "-",
        ],
    )
    .stdin(data.clone())
    .run()
    .assert_code(0);

    // One flipped bit in the blob: exit 1, not 2.
    let mut tampered = data.clone();
    tampered[1_500_000] ^= 0x01;
    std::fs::write(d.join("tampered.bin"), &tampered).unwrap();
    Rsign::new(
        d,
        &[
            "verify-blob",
            "--key",
            "cosign.pub",
            "--signature",
            "blob.sig",
            "tampered.bin",
        ],
    )
    .run()
    .assert_code(1)
    .assert_stderr_contains("does not verify");

    // Another key's signature: exit 1.
    let other = tempfile::tempdir().unwrap();
    generate(other.path());
    let other_pub = other.path().join("cosign.pub");
    Rsign::new(
        d,
        &[
            "verify-blob",
            "--key",
            other_pub.to_str().unwrap(),
            "--signature",
            "blob.sig",
            "blob.bin",
        ],
    )
    .run()
    .assert_code(1);
}

#[test]
fn verify_blob_exit_codes_for_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    std::fs::write(d.join("f"), b"hello").unwrap();
    let verify = |sig: &str, file: &str| {
        Rsign::new(
            d,
            &[
                "verify-blob",
                "--key",
                "cosign.pub",
                "--signature",
                sig,
                file,
            ],
        )
        .run()
    };
    // Neither a file nor base64: bad input, 2, naming the argument.
    verify("no-such-file.sig", "f")
        .assert_code(2)
        .assert_stderr_contains("no-such-file.sig");
    // Base64 that is no signature: something there, not acceptable, 1.
    verify("AAAA", "f").assert_code(1);
    // Missing blob: 2, named.
    let sig = Rsign::with_pw(d, &["sign-blob", "--key", "cosign.key", "f"]).run();
    sig.assert_code(0);
    verify(sig.stdout_str().trim_end(), "missing.bin")
        .assert_code(2)
        .assert_stderr_contains("missing.bin");
    // A private key where the public key belongs: 2.
    Rsign::new(
        d,
        &[
            "verify-blob",
            "--key",
            "cosign.key",
            "--signature",
            sig.stdout_str().trim_end(),
            "f",
        ],
    )
    .run()
    .assert_code(2);
    // --insecure-ignore-tlog is accepted (cosign's spelling) and warned about.
    Rsign::new(
        d,
        &[
            "verify-blob",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog=true",
            "--signature",
            sig.stdout_str().trim_end(),
            "f",
        ],
    )
    .run()
    .assert_code(0)
    .assert_stderr_contains("warning:");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Rsign::new(d, &["no-such-command"]).run().assert_code(2);
    Rsign::new(d, &["sign-blob", "--no-such-flag"])
        .run()
        .assert_code(2);
    Rsign::new(d, &["verify-blob", "--key", "k", "f"])
        .run()
        .assert_code(2);
    let help = Rsign::new(d, &["sign-blob", "--help"]).run();
    help.assert_code(0);
    assert!(help.stdout_str().contains("Example:"));
    let version = Rsign::new(d, &["--version"]).run();
    version.assert_code(0);
    assert!(version.stdout_str().starts_with("rsign "));
    // Asking for a transparency-log upload rsign cannot do is an error, not ignored.
    generate(d);
    std::fs::write(d.join("f"), b"x").unwrap();
    Rsign::with_pw(
        d,
        &[
            "sign-blob",
            "--key",
            "cosign.key",
            "--tlog-upload=true",
            "f",
        ],
    )
    .run()
    .assert_code(2)
    .assert_stderr_contains("transparency log");
    Rsign::with_pw(
        d,
        &["sign-blob", "--key", "cosign.key", "--tlog-upload", "f"],
    )
    .run()
    .assert_code(2);
}

#[test]
fn wrong_password_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    std::fs::write(d.join("f"), b"x").unwrap();
    for args in [
        &["public-key", "--key", "cosign.key"][..],
        &["sign-blob", "--key", "cosign.key", "f"][..],
    ] {
        let run = Rsign::new(d, args).env("RSIGN_PASSWORD", "wrong").run();
        run.assert_code(2)
            .assert_stderr_contains("cosign.key")
            .assert_stderr_contains("wrong password")
            .assert_stderr_contains("hint:");
        assert!(run.stdout.is_empty());
        assert!(!run.stderr.contains(PW) && !run.stderr.contains("wrong\n"));
    }
    // RSIGN_PASSWORD wins over COSIGN_PASSWORD; COSIGN_PASSWORD alone works.
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("RSIGN_PASSWORD", PW)
        .env("COSIGN_PASSWORD", "wrong")
        .run()
        .assert_code(0);
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("RSIGN_PASSWORD", "wrong")
        .env("COSIGN_PASSWORD", PW)
        .run()
        .assert_code(2);
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("COSIGN_PASSWORD", PW)
        .run()
        .assert_code(0);
}

#[test]
fn empty_password_from_environment_is_used_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    Rsign::new(d, &["generate-key-pair"])
        .env("RSIGN_PASSWORD", "")
        .run()
        .assert_code(0);
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("COSIGN_PASSWORD", "")
        .run()
        .assert_code(0);
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("COSIGN_PASSWORD", " ")
        .run()
        .assert_code(2);
}

#[test]
fn password_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // First line, without its newline; what follows is ignored.
    Rsign::new(d, &["generate-key-pair"])
        .stdin(format!("{PW}\nignored\n"))
        .run()
        .assert_code(0);
    let public = read(d.join("cosign.pub"));
    let run = Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .stdin(format!("{PW}\r\n"))
        .run();
    run.assert_code(0);
    assert_eq!(run.stdout, public);
    // The same password from the environment opens the key.
    Rsign::with_pw(d, &["public-key", "--key", "cosign.key"])
        .run()
        .assert_code(0);
    // Standard input cannot be both the password and the blob.
    Rsign::new(d, &["sign-blob", "--key", "cosign.key", "-"])
        .stdin(format!("{PW}\n"))
        .run()
        .assert_code(2)
        .assert_stderr_contains("standard input")
        .assert_stderr_contains("RSIGN_PASSWORD");
    // An endless line is refused, not read forever.
    Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .stdin(vec![b'a'; 1 << 20])
        .run()
        .assert_code(2)
        .assert_stderr_contains("longer than");
}

/// The file's bytes and modification time.
fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        read(path),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

#[test]
fn existing_outputs_are_never_clobbered_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    let key = d.join("cosign.key");
    let public = d.join("cosign.pub");
    let before = (snapshot(&key), snapshot(&public));
    std::thread::sleep(Duration::from_millis(20));

    let run = Rsign::with_pw(d, &["generate-key-pair"]).run();
    run.assert_code(2)
        .assert_stderr_contains("cosign.key")
        .assert_stderr_contains("--force");
    assert_eq!((snapshot(&key), snapshot(&public)), before);

    // Only the .pub exists: refused too, and no .key appears.
    let only_pub = d.join("solo");
    std::fs::write(d.join("solo.pub"), b"keep me").unwrap();
    Rsign::with_pw(
        d,
        &[
            "generate-key-pair",
            "--output-key-prefix",
            only_pub.to_str().unwrap(),
        ],
    )
    .run()
    .assert_code(2)
    .assert_stderr_contains("solo.pub");
    assert!(!d.join("solo.key").exists());
    assert_eq!(read(d.join("solo.pub")), b"keep me");

    // The same rules for import-key-pair (short flags as cosign's).
    let ec = testdata("cosign/import-key-pair/validecp256.key");
    Rsign::with_pw(
        d,
        &[
            "import-key-pair",
            "-k",
            ec.to_str().unwrap(),
            "-o",
            "cosign",
        ],
    )
    .run()
    .assert_code(2);
    assert_eq!((snapshot(&key), snapshot(&public)), before);

    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".rsign-tmp")),
        "{names:?}"
    );

    // --force replaces both, atomically, with a new key under the new password.
    Rsign::new(d, &["generate-key-pair", "--force"])
        .env("RSIGN_PASSWORD", "new password")
        .run()
        .assert_code(0);
    assert_ne!(read(&key), before.0.0);
    assert_ne!(read(&public), before.1.0);
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    let run = Rsign::new(d, &["public-key", "--key", "cosign.key"])
        .env("RSIGN_PASSWORD", "new password")
        .run();
    run.assert_code(0);
    assert_eq!(run.stdout, read(&public));
}

#[test]
fn import_key_pair_vectors() {
    let expected: Value =
        serde_json::from_slice(&read(testdata("cosign/import-key-pair/expected.json"))).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut ok, mut rejected) = (0, 0);
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let input = testdata(&format!("cosign/import-key-pair/{file}"));
        let prefix = file.trim_end_matches(".key");
        let run = Rsign::with_pw(
            d,
            &[
                "import-key-pair",
                "--key",
                input.to_str().unwrap(),
                "--output-key-prefix",
                prefix,
            ],
        )
        .run();
        if case["expect"] == "ok" {
            run.assert_code(0);
            let want = case["derived_public_key_pem"].as_str().unwrap();
            let written = read(d.join(format!("{prefix}.pub")));
            assert_eq!(String::from_utf8(written).unwrap(), want, "{file}");
            // The encrypted key loads again and has the same public key.
            let again = Rsign::with_pw(d, &["public-key", "--key", &format!("{prefix}.key")]).run();
            again.assert_code(0);
            assert_eq!(again.stdout_str(), want, "{file}");
            #[cfg(unix)]
            assert_eq!(mode(&d.join(format!("{prefix}.key"))), 0o600, "{file}");
            ok += 1;
        } else {
            run.assert_code(2).assert_stderr_contains(file);
            assert!(!d.join(format!("{prefix}.key")).exists(), "{file}");
            assert!(!d.join(format!("{prefix}.pub")).exists(), "{file}");
            rejected += 1;
        }
    }
    // RSA x3, EC x4, Ed25519 accepted; RSA-1024/5120, P-224, secp256k1,
    // public key, PGP rejected.
    assert_eq!((ok, rejected), (8, 6));
}

#[test]
fn default_import_prefix_is_cosigns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = testdata("cosign/import-key-pair/ed25519.key");
    Rsign::with_pw(d, &["import-key-pair", "--key", input.to_str().unwrap()])
        .run()
        .assert_code(0)
        .assert_stderr_contains("import-cosign.key");
    assert!(d.join("import-cosign.key").is_file());
    assert!(d.join("import-cosign.pub").is_file());
}

/// Every imported key type signs blobs that verify, and not tampered ones.
#[test]
fn sign_and_verify_with_every_key_type() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("blob"), blob(100_000)).unwrap();
    std::fs::write(d.join("other"), blob(100_001)).unwrap();
    for file in [
        "validrsapkcs1.key",
        "validecp256.key",
        "validecp384.key",
        "validecp521.key",
        "ed25519.key",
    ] {
        let input = testdata(&format!("cosign/import-key-pair/{file}"));
        let prefix = file.trim_end_matches(".key");
        Rsign::with_pw(
            d,
            &[
                "import-key-pair",
                "-k",
                input.to_str().unwrap(),
                "-o",
                prefix,
            ],
        )
        .run()
        .assert_code(0);
        let key = format!("{prefix}.key");
        let public = format!("{prefix}.pub");
        let sig = format!("{prefix}.sig");
        Rsign::with_pw(
            d,
            &[
                "sign-blob",
                "--key",
                &key,
                "--output-signature",
                &sig,
                "blob",
            ],
        )
        .run()
        .assert_code(0);
        Rsign::new(
            d,
            &["verify-blob", "--key", &public, "--signature", &sig, "blob"],
        )
        .run()
        .assert_code(0);
        Rsign::new(
            d,
            &[
                "verify-blob",
                "--key",
                &public,
                "--signature",
                &sig,
                "other",
            ],
        )
        .run()
        .assert_code(1);
    }
}

/// Runs `public-key --key FILE` on a key file holding `bytes`.
fn load_key_bytes(bytes: &[u8]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.key"), bytes).unwrap();
    Rsign::with_pw(dir.path(), &["public-key", "--key", "bad.key"]).run()
}

/// A freshly generated encrypted key's PEM and JSON.
fn fresh_key() -> (Vec<u8>, Value) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let pem = read(dir.path().join("cosign.key"));
    let json = encrypted_key_json(&pem);
    (pem, json)
}

#[test]
fn truncated_pem_is_rejected() {
    let (pem, _) = fresh_key();
    let half = pem.len() / 2;
    load_key_bytes(&pem[..half])
        .assert_code(2)
        .assert_stderr_contains("bad.key");
    // Missing END line only.
    let text = String::from_utf8(pem).unwrap();
    let no_end = text.split("-----END").next().unwrap().to_owned();
    load_key_bytes(no_end.as_bytes()).assert_code(2);
}

#[test]
fn garbled_pem_is_rejected() {
    let (pem, _) = fresh_key();
    let mut text = String::from_utf8(pem).unwrap();
    // Non-base64 characters inside the body.
    text = text.replacen("\n", "\n!!!@@@", 2);
    load_key_bytes(text.as_bytes()).assert_code(2);
    // Binary garbage.
    load_key_bytes(&blob(4096)).assert_code(2);
    // Valid PEM around bytes that are not JSON.
    let mut pem = b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n".to_vec();
    pem.extend_from_slice(STANDARD.encode(b"not json at all").as_bytes());
    pem.extend_from_slice(b"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    load_key_bytes(&pem).assert_code(2);
}

#[test]
fn unknown_pem_label_is_rejected() {
    let pem = format!(
        "-----BEGIN SOMETHING ELSE-----\n{}\n-----END SOMETHING ELSE-----\n",
        STANDARD.encode(b"whatever")
    );
    load_key_bytes(pem.as_bytes())
        .assert_code(2)
        .assert_stderr_contains("SOMETHING ELSE");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("odd.pem"), &pem).unwrap();
    Rsign::with_pw(dir.path(), &["import-key-pair", "-k", "odd.pem"])
        .run()
        .assert_code(2)
        .assert_stderr_contains("odd.pem");
}

#[test]
fn huge_scrypt_cost_fails_fast() {
    let (_, mut json) = fresh_key();
    json["kdf"]["params"]["N"] = Value::from(1u64 << 30);
    let run = load_key_bytes(&encrypted_key_pem(&json));
    run.assert_code(2).assert_stderr_contains("scrypt");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn wrong_nonce_length_is_rejected() {
    let (_, mut json) = fresh_key();
    for len in [0usize, 12, 23, 25, 64] {
        json["cipher"]["nonce"] = Value::from(STANDARD.encode(vec![7u8; len]));
        load_key_bytes(&encrypted_key_pem(&json))
            .assert_code(2)
            .assert_stderr_contains("nonce");
    }
}

#[test]
fn sec1_inside_encrypted_key_is_rejected() {
    // cosign's own test vector: the secretbox holds SEC1, not PKCS#8.
    let pem = read(testdata("cosign/encrypted-keys/pemcosigneckey.key"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ec.key"), &pem).unwrap();
    Rsign::new(dir.path(), &["public-key", "--key", "ec.key"])
        .env("RSIGN_PASSWORD", "hello")
        .run()
        .assert_code(2)
        .assert_stderr_contains("PKCS#8");
    // The same format holding PKCS#8 loads (so the password is right).
    let good = read(testdata("cosign/encrypted-keys/pemsigstorekey.key"));
    std::fs::write(dir.path().join("good.key"), &good).unwrap();
    Rsign::new(dir.path(), &["public-key", "--key", "good.key"])
        .env("RSIGN_PASSWORD", "hello")
        .run()
        .assert_code(0);
}

#[test]
fn huge_garbage_key_is_rejected_fast() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = std::fs::File::create(d.join("huge.key")).unwrap();
    big.set_len(100 * 1024 * 1024).unwrap();
    drop(big);
    for args in [
        &["public-key", "--key", "huge.key"][..],
        &["import-key-pair", "--key", "huge.key"][..],
        &["sign-blob", "--key", "huge.key", "huge.key"][..],
        &[
            "verify-blob",
            "--key",
            "huge.key",
            "--signature",
            "AAAA",
            "huge.key",
        ][..],
    ] {
        let run = Rsign::with_pw(d, args).run();
        run.assert_code(2)
            .assert_stderr_contains("huge.key")
            .assert_stderr_contains("limit");
        assert!(
            run.elapsed < Duration::from_secs(5),
            "{args:?} took {:?}",
            run.elapsed
        );
    }
    assert!(!d.join("import-cosign.key").exists());
}

#[test]
fn missing_key_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), b"x").unwrap();
    for args in [
        &["public-key", "--key", "absent.key"][..],
        &["sign-blob", "--key", "absent.key", "f"][..],
        &["import-key-pair", "--key", "absent.key"][..],
        &[
            "verify-blob",
            "--key",
            "absent.key",
            "--signature",
            "AAAA",
            "f",
        ][..],
    ] {
        Rsign::with_pw(d, args)
            .run()
            .assert_code(2)
            .assert_stderr_contains("`absent.key`");
    }
}

#[test]
fn error_chain_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = Rsign::with_pw(dir.path(), &["public-key", "--key", "absent.key"]).run();
    run.assert_code(2);
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("\n  caused by: "), "{}", run.stderr);
}
