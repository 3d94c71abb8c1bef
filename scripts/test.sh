#!/usr/bin/env bash
# The one test command (README "Run all tests"; CI's .ci/run calls it).
#
# 1. installs and checks the real peers the tests need (Debian's docker-registry,
#    cosign 2.5 and skopeo 1.18 unpacked into .tools/, openssl),
# 2. runs the formatting, lint and documentation gates,
# 3. runs every test, including the ones marked #[ignore] because they need the
#    peers: an ignored test is reported as ignored by a plain `cargo test`,
#    never as passed, and this script runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies (registry, cosign 2.5, skopeo 1.18)"
scripts/install-test-deps.sh
export RSIGN_TEST_TOOLS="${RSIGN_TEST_TOOLS:-$PWD/.tools/bin}"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings (every public item documented, no broken links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --document-private-items

step "cargo test (all, including peer tests)"
cargo test --workspace --locked --no-fail-fast -- --include-ignored

step "all checks passed"
