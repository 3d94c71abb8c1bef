//! Integration tests of the `rsign` binary, against real peers.
//!
//! Tests marked `#[ignore]` need the peer tools (cosign 2.5, skopeo 1.18,
//! Debian's docker-registry); `scripts/test.sh` installs them and runs every
//! test with `--include-ignored`.

/// Shared harness: real registry, peer tools, image layouts.
#[allow(dead_code)]
mod support;

/// The admission-webhook example over HTTPS against a real registry.
mod admission_webhook;

/// Attestations through the CLI on OCI layouts: attest, verify-attestation, Rego, blobs.
mod attest;
/// Key commands and blob signing through the CLI, bad input included.
mod cli_keys;
/// Concurrent `rsign sign` processes on one image keep every signature.
mod concurrent_sign;
/// The harness and the peers themselves work (registry, cosign, skopeo).
mod harness_smoke;
/// `rsign tree`, `triangulate`, `download`, `clean`, `save` on OCI layouts.
mod image_inspect;
/// `rsign sign` / `rsign verify` on OCI layouts: verdicts, tampering, limits.
mod image_sign_verify;
/// Attestations interchanged with cosign 2.5 over a real registry; Rego on cosign-made statements.
mod interop_attest;
/// Image signatures interchanged with cosign 2.5 and skopeo 1.18 over a real registry.
mod interop_images;
/// Keys and blob signatures interchanged with the real cosign 2.5.
mod interop_keys;
/// `rsign save`/`load`/`clean`/`login` against a real registry, cosign and skopeo.
mod interop_save_load;
/// `rsign policy check` / `policy eval`: positions, offline decisions, and end to end on a registry.
mod policy_cli;
/// Key rotation: keysets (`rsign key`), `verify --keyset`, `resign`, `clean --signed-by`, the rotation example.
mod rotation;
