//! rsign-policy: decides whether an image may run.
//!
//! A pure evaluator from *verified* facts (see `rsign_core`'s `Verified<T>`)
//! and policy documents to a [`Decision`]. It does no network I/O itself:
//! attachments are requested through [`AttachmentSource`], which callers (the
//! CLI, an admission controller) implement over `rsign-registry`.
//!
//! - Documents: sigstore policy-controller `ClusterImagePolicy`
//!   (`policy.sigstore.dev/v1beta1`, `v1alpha1`) and rsign's `ImagePolicy`
//!   (`rsign.dev/v1alpha1`, adding `keys`, `threshold`, `keyset`), in YAML
//!   (several documents per file) or JSON; see [`PolicySet`].
//! - Globs: policy-controller's semantics ([`glob`]).
//! - Combination: every matching policy must pass (AND); within a policy one
//!   authority passing is enough (OR); within an authority every attestation
//!   must pass and `threshold` distinct keys must have signed; `mode: warn`
//!   turns failures into warnings; no matching policy → [`NoMatch`].
//! - [`Evaluator`]: fetches each digest's attachments once, verifies them
//!   against every key locally ([`Facts::verify`]), caches successes,
//!   single-flights concurrent requests, fails closed at its deadline, and
//!   reloads policies atomically.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod decide;
pub mod decision;
mod document;
pub mod evaluator;
pub mod facts;
pub mod glob;
pub mod keyset;
pub mod policy;
pub mod rego;
pub mod source;

pub use decide::NoMatch;
pub use decision::{AuthorityReport, Code, Decision, Outcome, PolicyReport, Verdict};
pub use document::Mode;
pub use evaluator::{Evaluator, EvaluatorOptions};
pub use facts::{AttestationFact, Facts, SignatureFact};
pub use glob::{Glob, GlobError, normalize_reference};
pub use keyset::KeysetLoader;
pub use policy::{DocumentKind, Format, LoadError, LoadOptions, Policy, PolicySet, Problem};
pub use source::{AttachmentSource, ResolvedImage, SignatureLayer, SourceError};
