//! Signing and verification keys in cosign's formats.
//!
//! - [`PrivateKey`]: loaded from cosign's encrypted PEM (`ENCRYPTED SIGSTORE
//!   PRIVATE KEY`, legacy `ENCRYPTED COSIGN PRIVATE KEY`), generated, or
//!   imported from PKCS#1 / SEC1 / PKCS#8 PEM; written back in cosign's
//!   encrypted format.
//! - [`PublicKey`]: PEM `PUBLIC KEY` (SPKI); verifies signatures.
//! - [`KeyId`]: SHA-256 of the SPKI DER, the key hint cosign puts in bundles.
//!
//! Signature conventions (cosign 2.5): ECDSA signs SHA-256 of the message for
//! every curve, DER-encoded; RSA is PKCS#1 v1.5 over SHA-256; Ed25519 is pure.
//! Verification also accepts the curve-matched hash (SHA-384 for P-384,
//! SHA-512 for P-521) that cosign 3.x writes.
//!
//! The bodies below are filled in by the keys work; the signatures are the
//! contract the CLI codes against.
