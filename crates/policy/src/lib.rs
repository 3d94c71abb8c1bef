//! rsign-policy: decides whether an image may run.
//!
//! A pure evaluator from *verified* facts (see `rsign_core`'s `Verified<T>`)
//! and policy documents to a [`Decision`](decision). It does no network I/O
//! itself: attachments are requested through a trait that callers (the CLI,
//! an admission controller) implement over `rsign-registry`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod rego;
