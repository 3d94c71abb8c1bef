//! rsign-core: the vocabulary of rsign and the checks that turn bytes into proof.
//!
//! This crate holds cosign-compatible keys ([`keys`]), content digests
//! ([`digest`]), the payload formats that get signed and the verification that
//! binds a key to a signature to a payload to a manifest digest.
//!
//! It does no network I/O and knows nothing of command lines or async
//! runtimes: the registry crate fetches bytes, this crate decides whether they
//! prove anything.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blob;
pub mod digest;
pub mod dsse;
pub mod duration;
pub mod fsutil;
pub mod intoto;
mod json;
pub mod keys;
pub mod keyset;
pub mod oci;
pub mod simple_signing;
pub mod verify;

pub use digest::{Digest, DigestAlgorithm, DigestError};
