//! Eight `rsign sign` processes with eight keys on one image at once: every
//! signature survives (cosign itself keeps only 3–4 of 8).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::image_sign_verify::helpers::{Keys, keypair, rsign, rsign_cmd, s, sig_layers};
use crate::support::cosign::registry_flags;
use crate::support::images;
use crate::support::registry::{RegistryOptions, TestRegistry};
use crate::support::skopeo::Skopeo;

const SIGNERS: usize = 8;

/// Starts one `rsign sign` per key at the same moment and waits for all.
fn sign_concurrently(keys: &[Keys], image: &str, flags: &[String]) {
    let children: Vec<_> = keys
        .iter()
        .map(|k| {
            let mut args = vec!["sign", "--key", s(&k.key)];
            args.extend(flags.iter().map(String::as_str));
            args.push(image);
            rsign_cmd(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    for child in children {
        assert!(Instant::now() < deadline, "signers took too long");
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a signer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn keys(dir: &std::path::Path) -> Vec<Keys> {
    (0..SIGNERS)
        .map(|i| keypair(dir, &format!("k{i}")))
        .collect()
}

#[test]
fn eight_signers_on_one_layout_keep_every_signature() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("lay");
    let digest = images::build_image_layout(&layout, "v1", 11);
    let keys = keys(dir.path());
    let image = format!("oci:{}:v1", layout.display());
    sign_concurrently(&keys, &image, &[]);
    assert_eq!(sig_layers(&layout, &digest).len(), SIGNERS);
    for k in &keys {
        rsign(&["verify", "--key", s(&k.public), &image]).assert_success();
    }
    // All eight together meet a threshold of eight.
    let mut args = vec!["verify", "--threshold", "8"];
    for k in &keys {
        args.extend(["--key", s(&k.public)]);
    }
    args.push(&image);
    rsign(&args).assert_success();
}

#[test]
#[ignore = "needs docker-registry and skopeo (scripts/install-test-deps.sh)"]
fn eight_signers_on_one_registry_image_keep_every_signature() {
    let reg = TestRegistry::start(RegistryOptions::plain());
    let skopeo = Skopeo::new();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("lay");
    images::build_image_layout(&layout, "v1", 12);
    let image = reg.reference("conc/app:v1");
    let digest = images::push_layout(&skopeo, &layout, "v1", &image, &reg);
    let keys = keys(dir.path());
    let flags = registry_flags(&reg);
    sign_concurrently(&keys, &image, &flags);
    let mut all = vec!["verify", "--threshold", "8"];
    all.extend(flags.iter().map(String::as_str));
    for k in &keys {
        let mut args = vec!["verify", "--key", s(&k.public)];
        args.extend(flags.iter().map(String::as_str));
        args.push(&image);
        rsign(&args).assert_success();
        all.extend(["--key", s(&k.public)]);
    }
    all.push(&image);
    let out = rsign(&all);
    out.assert_success()
        .assert_stdout_contains(&format!("@{digest} verified by"));
}
