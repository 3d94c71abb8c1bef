#!/usr/bin/env bash
# The main job, end to end, with no server: build rsign, make a key pair,
# sign the demo image (an OCI image layout in examples/demo-image), verify it,
# and show that another key is refused. Also signs and verifies a blob.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p rsign-cli
rsign="$PWD/target/release/rsign"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/demo-image "$work/image"
cd "$work"
# Non-interactive demo password; a person at a terminal would be asked instead.
export RSIGN_PASSWORD="${RSIGN_PASSWORD:-demo-password}"

run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$rsign" generate-key-pair
run "$rsign" sign --key cosign.key oci:image:v1
run "$rsign" verify --key cosign.pub oci:image:v1
run "$rsign" verify --key cosign.pub --output json oci:image:v1

echo "release notes" > notes.txt
run "$rsign" sign-blob --key cosign.key --output-signature notes.txt.sig notes.txt
run "$rsign" verify-blob --key cosign.pub --signature notes.txt.sig notes.txt

run "$rsign" generate-key-pair --output-key-prefix other
set +e
run "$rsign" verify --key other.pub oci:image:v1
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "expected exit 1 (not signed by that key), got $status" >&2
  exit 1
fi
printf '\nquickstart ok: signed and verified oci:image:v1; another key was refused (exit 1)\n'
