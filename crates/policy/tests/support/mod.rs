//! Test helpers: real keys, real signatures, an in-memory counting source.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure is a test failure"
)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use rsign_core::Digest;
use rsign_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use rsign_core::keys::PrivateKey;
use rsign_core::simple_signing::SimpleSigning;
use rsign_policy::source::{
    AttachmentKind, AttachmentSource, ResolvedImage, SignatureLayer, SourceError,
};
use rsign_policy::{Format, LoadOptions, PolicySet, normalize_reference};

pub fn key() -> PrivateKey {
    PrivateKey::generate_p256().unwrap()
}

pub fn pem(key: &PrivateKey) -> String {
    key.public_key().to_pem()
}

/// `pem` indented for a YAML block scalar at `indent` spaces.
pub fn pem_block(key: &PrivateKey, indent: usize) -> String {
    let pad = " ".repeat(indent);
    pem(key).lines().map(|l| format!("{pad}{l}\n")).collect()
}

pub fn digest_of(name: &str) -> Digest {
    Digest::sha256_of(name.as_bytes())
}

/// A cosign signature layer for `digest` signed by `key`.
pub fn sign(key: &PrivateKey, repo: &str, digest: &Digest) -> SignatureLayer {
    let payload = SimpleSigning::new(repo, digest.clone(), None).to_bytes();
    let sig = key.sign(&payload).unwrap();
    SignatureLayer {
        payload,
        signature_b64: base64::engine::general_purpose::STANDARD.encode(sig),
    }
}

/// A DSSE envelope of an in-toto statement about `digest` signed by `key`.
pub fn attest(
    key: &PrivateKey,
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> Vec<u8> {
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example/app", "digest": {"sha256": digest.hex()}}],
        "predicate": predicate,
    });
    let bytes = serde_json::to_vec(&statement).unwrap();
    Envelope::sign(IN_TOTO_PAYLOAD_TYPE, bytes, |pae| key.sign(pae))
        .unwrap()
        .to_bytes()
}

#[derive(Debug)]
struct Boom(&'static str);
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Boom {}

/// An in-memory registry: image → digest, digest → attachments; counts
/// every call; can be slowed down or broken.
#[derive(Default)]
pub struct MemorySource {
    pub digests: Mutex<HashMap<String, Digest>>,
    pub signatures: Mutex<HashMap<Digest, Vec<SignatureLayer>>>,
    pub attestations: Mutex<HashMap<Digest, Vec<Vec<u8>>>>,
    pub resolves: AtomicUsize,
    pub signature_fetches: AtomicUsize,
    pub attestation_fetches: AtomicUsize,
    pub delay: Mutex<Duration>,
    pub fail: Mutex<bool>,
}

impl MemorySource {
    /// Adds `image` (any spelling) with the digest of its name.
    pub fn image(&self, image: &str) -> Digest {
        let name = normalize_reference(image).unwrap();
        let digest = digest_of(&name);
        self.digests.lock().unwrap().insert(name, digest.clone());
        digest
    }

    pub fn add_signature(&self, digest: &Digest, layer: SignatureLayer) {
        self.signatures
            .lock()
            .unwrap()
            .entry(digest.clone())
            .or_default()
            .push(layer);
    }

    pub fn add_attestation(&self, digest: &Digest, envelope: Vec<u8>) {
        self.attestations
            .lock()
            .unwrap()
            .entry(digest.clone())
            .or_default()
            .push(envelope);
    }

    pub fn signature_fetches(&self) -> usize {
        self.signature_fetches.load(Ordering::SeqCst)
    }

    async fn pause(&self) {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[async_trait::async_trait]
impl AttachmentSource for MemorySource {
    async fn resolve(&self, image: &str) -> Result<ResolvedImage, SourceError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        let name = normalize_reference(image).unwrap();
        let digest = self.digests.lock().unwrap().get(&name).cloned();
        match digest {
            Some(digest) => Ok(ResolvedImage { name, digest }),
            None => Err(SourceError::Resolve {
                image: image.to_owned(),
                source: Box::new(Boom("manifest unknown")),
            }),
        }
    }

    async fn signature_layers(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<SignatureLayer>, SourceError> {
        self.signature_fetches.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        if *self.fail.lock().unwrap() {
            return Err(SourceError::Fetch {
                kind: AttachmentKind::Signatures,
                digest: image.digest.clone(),
                source: Box::new(Boom("connection reset")),
            });
        }
        Ok(self
            .signatures
            .lock()
            .unwrap()
            .get(&image.digest)
            .cloned()
            .unwrap_or_default())
    }

    async fn attestation_envelopes(
        &self,
        image: &ResolvedImage,
    ) -> Result<Vec<Vec<u8>>, SourceError> {
        self.attestation_fetches.fetch_add(1, Ordering::SeqCst);
        self.pause().await;
        Ok(self
            .attestations
            .lock()
            .unwrap()
            .get(&image.digest)
            .cloned()
            .unwrap_or_default())
    }
}

pub fn parse(yaml: &str) -> PolicySet {
    match PolicySet::parse(
        yaml,
        Format::Yaml,
        Path::new("test.yaml"),
        None,
        &LoadOptions::default(),
    ) {
        Ok(set) => set,
        Err(e) => panic!("{e}\n{yaml}"),
    }
}

/// A ClusterImagePolicy named `name` for `glob` trusting each key in `keys`
/// as its own authority.
pub fn cip(name: &str, glob: &str, keys: &[&PrivateKey]) -> String {
    let mut out = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\nspec:\n  images:\n  - glob: \"{glob}\"\n  authorities:\n"
    );
    for (i, k) in keys.iter().enumerate() {
        out.push_str(&format!(
            "  - name: key-{i}\n    key:\n      data: |\n{}",
            pem_block(k, 8)
        ));
    }
    out
}
