//! Test harness for the integration tests: the real peers (cosign 2.5,
//! skopeo 1.18, Debian's docker-registry), throw-away registries and
//! hand-built OCI image layouts.
//!
//! Install the peers with `scripts/install-test-deps.sh`. Tests that use them
//! are `#[ignore]`d and run by the test script with `--include-ignored`; a
//! missing tool is a panic (a real failure), never a silent skip.

// Not every test module uses every helper: tests.rs puts
// `#[allow(dead_code)]` on `mod support;`.
// Harness failures must abort the test with a message, so panicking and
// `expect` are the error handling here.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod cosign;
pub mod images;
pub mod process;
pub mod registry;
pub mod skopeo;
pub mod tools;
