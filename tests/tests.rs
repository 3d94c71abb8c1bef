//! Integration tests of the `rsign` binary, against real peers.
//!
//! Tests marked `#[ignore]` need the peer tools (cosign 2.5, skopeo 1.18,
//! Debian's docker-registry); `scripts/test.sh` installs them and runs every
//! test with `--include-ignored`.
