//! rsign-registry: everything that talks to a store of images.
//!
//! Registries over HTTPS (and plain HTTP on loopback or when asked with an
//! `insecure` option) and OCI image layouts on disk sit behind one seam, the
//! [`store::Repository`] trait. This crate hands back *unverified* bytes and
//! descriptors; deciding whether they prove anything is `rsign-core`'s job.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attach;
pub mod auth;
pub mod client;
pub mod docker_config;
pub mod error;
pub mod http;
pub mod layout;
pub mod limits;
#[cfg(feature = "policy")]
pub mod policy_source;
pub mod reference;
pub mod store;

pub use attach::{
    AppendOutcome, AttachOptions, AttachStore, AttachedLayer, AttachmentKind, Attachments,
    NewLayer, ReplaceOutcome, Swap,
};
pub use auth::{CredentialError, Credentials};
pub use client::{RegistryClient, RegistryOptions, RegistryRepository};
pub use error::Error;
pub use http::{RetryPolicy, Timeouts};
pub use layout::{LayoutOptions, OciLayout};
pub use limits::Limits;
pub use reference::{Reference, ReferenceError};
pub use store::{FetchedManifest, ManifestHead, Repository, TagOrDigest};
