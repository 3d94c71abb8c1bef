//! Blob signing and verification (`sign-blob` / `verify-blob`), streamed
//! through a buffer smaller than the file.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::path::PathBuf;

use rsign_core::blob::{self, BlobError};
use rsign_core::keys::{KeyAlgorithm, PrivateKey, SignatureError};

fn read(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../keys-testdata")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn keys() -> Vec<PrivateKey> {
    let mut keys = vec![PrivateKey::generate_p256().unwrap()];
    for file in [
        "validecp384.key",
        "validecp521.key",
        "validrsa.key",
        "ed25519.key",
    ] {
        keys.push(
            PrivateKey::import_pem(&read(&format!("cosign/import-key-pair/{file}"))).unwrap(),
        );
    }
    keys
}

/// 200 KiB + 17 bytes of patterned data in a temporary file.
fn big_file() -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..200 * 1024 + 17u32)
        .map(|i| (i * 7 % 253) as u8)
        .collect();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&data).unwrap();
    file.flush().unwrap();
    (file, data)
}

#[test]
fn blob_sign_verify_streaming_for_each_key_type() {
    let (file, data) = big_file();
    for key in keys() {
        let alg = key.algorithm();
        let public = key.public_key();
        let sig = blob::sign_blob(&key, std::fs::File::open(file.path()).unwrap()).unwrap();
        // Streaming signs exactly what signing the whole message signs
        // (every algorithm here is deterministic).
        assert_eq!(sig, key.sign(&data).unwrap(), "{alg}");
        blob::verify_blob(&public, std::fs::File::open(file.path()).unwrap(), &sig)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        public.verify(&data, &sig).unwrap();

        let mut altered = data.clone();
        altered[150_000] ^= 0x80;
        let err = blob::verify_blob(&public, &altered[..], &sig).unwrap_err();
        assert!(
            matches!(err, BlobError::Verify(SignatureError::Invalid { .. })),
            "{alg}: {err:?}"
        );
        let err = blob::verify_blob(&public, &data[..data.len() - 1], &sig).unwrap_err();
        assert!(matches!(err, BlobError::Verify(_)), "{alg}: {err:?}");
    }
}

#[test]
fn sig_file_base64_round_trip() {
    let key = PrivateKey::generate_p256().unwrap();
    let sig = blob::sign_blob(&key, &b"hello"[..]).unwrap();
    // cosign's .sig file: base64 of the DER signature, maybe with a newline.
    use base64::Engine as _;
    let text = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(&sig)
    );
    let decoded = blob::decode_signature(text.as_bytes()).unwrap();
    assert_eq!(decoded, sig);
    blob::verify_blob(&key.public_key(), &b"hello"[..], &decoded).unwrap();
    let err =
        blob::verify_blob(&key.public_key(), &b"hello"[..], b"not a der signature").unwrap_err();
    assert!(
        matches!(err, BlobError::Verify(SignatureError::Malformed { .. })),
        "{err:?}"
    );
}

#[test]
fn ed25519_blob_is_pure_and_matches_sign() {
    let key = PrivateKey::import_pem(&read("cosign/import-key-pair/ed25519.key")).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
    let sig = blob::sign_blob(&key, &b"pure message"[..]).unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(sig, key.sign(b"pure message").unwrap());
    blob::verify_blob(&key.public_key(), &b"pure message"[..], &sig).unwrap();
    assert!(blob::verify_blob(&key.public_key(), &b"pure messagE"[..], &sig).is_err());
    assert_eq!(blob::MAX_ED25519_BLOB_BYTES, 512 * 1024 * 1024);
}

struct FailingReader {
    left: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(1);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn read_errors_are_reported() {
    for key in keys() {
        let err = blob::sign_blob(&key, FailingReader { left: 20_000 }).unwrap_err();
        assert!(
            matches!(err, BlobError::Read(_)),
            "{}: {err:?}",
            key.algorithm()
        );
        let err =
            blob::verify_blob(&key.public_key(), FailingReader { left: 10 }, &[0; 64]).unwrap_err();
        assert!(
            matches!(err, BlobError::Read(_)),
            "{}: {err:?}",
            key.algorithm()
        );
    }
}
