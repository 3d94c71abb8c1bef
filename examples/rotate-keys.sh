#!/usr/bin/env bash
# A complete signing-key rotation against a real registry, step by step,
# checking every result:
#
#   1. push 55 images; key A signs all of them; a keyset trusts A
#   2. `rsign key rotate`: new key B active, A retired with a grace window
#   3. `rsign resign --key B` over the first 50 images (the 5 others stay A-only)
#   4. during the window every image verifies with `--keyset`
#   5. after the window the 5 A-only images are refused, naming A; the 50 pass
#   6. `rsign clean --signed-by A` removes A's signatures everywhere
#   7. the 50 images verify by B alone; nothing verifies with A any more
#
# Environment:
#   RSIGN=target/debug/rsign   the rsign binary (built if it is the default and missing)
#   REGISTRY=127.0.0.1:PORT    a plain-HTTP registry with DELETE enabled; when unset
#                              the script starts its own docker-registry
#   DOCKER_REGISTRY=/usr/bin/docker-registry
#   IMAGES=50 EXTRA=5          images re-signed / images left signed by A only
#   GRACE=60s                  the grace window of the rotation (long enough for steps 3-4)
#
# Exits 0 when every step had the expected outcome, 1 otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
RSIGN="${RSIGN:-$REPO/target/debug/rsign}"
DOCKER_REGISTRY="${DOCKER_REGISTRY:-/usr/bin/docker-registry}"
IMAGES="${IMAGES:-50}"
EXTRA="${EXTRA:-5}"
GRACE="${GRACE:-60s}"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'rotate-keys: FAILED: %s\n' "$*" >&2; exit 1; }

[[ "$IMAGES" =~ ^[0-9]+$ ]] && ((IMAGES >= 1 && IMAGES <= 1000)) || die "IMAGES must be 1..1000"
[[ "$EXTRA" =~ ^[0-9]+$ ]] && ((EXTRA >= 1 && EXTRA <= 100)) || die "EXTRA must be 1..100"
if [[ ! -x "$RSIGN" ]]; then
    [[ "$RSIGN" == "$REPO/target/debug/rsign" ]] || die "$RSIGN is not executable"
    (cd "$REPO" && cargo build -q -p rsign-cli) || die "cargo build failed"
fi
command -v python3 >/dev/null || die "python3 is needed to push the images"
# The script changes directory: make a relative binary path absolute.
[[ "$RSIGN" == */* && "$RSIGN" != /* ]] && RSIGN="$PWD/$RSIGN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rsign-rotate.XXXXXX")"
REG_PID=""
cleanup() {
    if [[ -n "$REG_PID" ]]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

# Non-interactive demo password for both keys; a person would be asked instead.
export RSIGN_PASSWORD="rotate-keys-demo"
unset COSIGN_PASSWORD RSIGN_REPOSITORY COSIGN_REPOSITORY || true
export NO_COLOR=1

if [[ -z "${REGISTRY:-}" ]]; then
    [[ -x "$DOCKER_REGISTRY" ]] || die "no REGISTRY given and $DOCKER_REGISTRY is missing"
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat >registry.yml <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
  secret: rotate-keys-demo
EOF
    "$DOCKER_REGISTRY" serve registry.yml >registry.log 2>&1 &
    REG_PID=$!
    for ((i = 0; i < 200; i++)); do
        python3 - "$PORT" <<'EOF' && break
import sys, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:%s/v2/" % sys.argv[1], timeout=1)
except Exception:
    sys.exit(1)
EOF
        sleep 0.05
    done
    REGISTRY="127.0.0.1:$PORT"
fi
[[ "$REGISTRY" =~ ^127\.0\.0\.1:([0-9]+)$ ]] || die "REGISTRY must be 127.0.0.1:PORT (got $REGISTRY)"
PORT="${BASH_REMATCH[1]}"

# --- 1. images, key A, keyset --------------------------------------------------
TOTAL=$((IMAGES + EXTRA))
step "pushing $TOTAL images to $REGISTRY"
python3 "$REPO/bench/make_images.py" --port "$PORT" -n "$TOTAL" --jobs 4 --out images.tsv \
    || die "pushing the images failed"
cut -f2 images.tsv | head -n "$IMAGES" >rotated.txt
cut -f2 images.tsv | tail -n "$EXTRA" >a-only.txt
cut -f2 images.tsv >all.txt
mapfile -t ROTATED <rotated.txt
mapfile -t A_ONLY <a-only.txt
mapfile -t ALL <all.txt
((${#ALL[@]} == TOTAL)) || die "expected $TOTAL images, got ${#ALL[@]}"

step "key A signs all $TOTAL images; the keyset trusts A"
"$RSIGN" generate-key-pair --output-key-prefix key-a 2>/dev/null || die "generate-key-pair A"
"$RSIGN" key add --keyset keyset.yaml --key key-a.pub --name release-a || die "key add A"
A_ID="$("$RSIGN" key list --keyset keyset.yaml --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
[[ "$A_ID" =~ ^[0-9a-f]{64}$ ]] || die "key list gave no id for A"
"$RSIGN" sign --key key-a.key --jobs 8 "${ALL[@]}" 2>sign-a.log || die "signing with A failed"
"$RSIGN" verify --keyset keyset.yaml "${ALL[@]}" >/dev/null 2>verify-1.log \
    || die "images signed by A do not verify with the keyset"

# --- 2. rotation -----------------------------------------------------------------
step "rotate to key B (A accepted for $GRACE more)"
"$RSIGN" key rotate --keyset keyset.yaml --output-key-prefix key-b --name release-b --grace "$GRACE" \
    || die "key rotate"
[[ -f key-b.key && -f key-b.pub ]] || die "key rotate wrote no key files"
[[ "$(stat -c %a key-b.key)" == 600 ]] || die "key-b.key is not mode 0600"
"$RSIGN" key list --keyset keyset.yaml --output json >keys.json
python3 - "$A_ID" <<'EOF' || die "the keyset after rotation is not A retired + B active"
import json, sys
keys = json.load(open("keys.json"))
by_name = {k["name"]: k for k in keys}
a, b = by_name["release-a"], by_name["release-b"]
assert a["id"] == sys.argv[1] and a["status"] == "retired" and a["acceptUntil"], a
assert b["status"] == "active" and b["acceptUntil"] is None, b
EOF
"$RSIGN" verify --keyset keyset.yaml "${ALL[@]}" >/dev/null 2>verify-2.log \
    || die "right after the rotation, images signed by A no longer verify (no grace?)"

# --- 3. re-sign --------------------------------------------------------------------
step "resign the first $IMAGES images with B"
"$RSIGN" resign --key key-b.key --from-file rotated.txt --jobs 8 --output json >resign.json 2>resign.log \
    || { tail -5 resign.log >&2; die "resign failed"; }
python3 - "$IMAGES" <<'EOF' || die "resign summary is wrong"
import json, sys
s = json.load(open("resign.json"))
assert s["signed"] == int(sys.argv[1]) and s["failed"] == 0 and s["alreadySigned"] == 0, s
EOF
"$RSIGN" resign --key key-b.key --from-file rotated.txt --output json >resign-again.json 2>/dev/null \
    || die "second resign failed"
python3 - "$IMAGES" <<'EOF' || die "a second resign signed again"
import json, sys
s = json.load(open("resign-again.json"))
assert s["signed"] == 0 and s["alreadySigned"] == int(sys.argv[1]), s
EOF

# --- 4. during the window ------------------------------------------------------------
step "during the grace window every image verifies with the keyset"
UNTIL="$(python3 -c 'import json; print([k for k in json.load(open("keys.json")) if k["name"] == "release-a"][0]["acceptUntil"])')"
"$RSIGN" verify --keyset keyset.yaml "${ALL[@]}" >verify-3.out 2>verify-3.log \
    || die "an image was refused during the grace window (ends $UNTIL, now $(date -u +%FT%TZ); is GRACE=$GRACE too short for this machine?)"
for img in "${ROTATED[@]:0:1}"; do
    grep -q "release-b" verify-3.out || die "verify output does not name key B for $img"
done

# --- 5. after the window ---------------------------------------------------------------
step "waiting until the window ends ($UNTIL)"
python3 - "$UNTIL" <<'EOF'
import datetime, sys, time
until = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp()
time.sleep(max(0.0, until - time.time()) + 1.2)
EOF
"$RSIGN" verify --keyset keyset.yaml "${ROTATED[@]}" >/dev/null 2>verify-4.log \
    || die "a re-signed image was refused after the window"
for img in "${A_ONLY[@]}"; do
    rc=0
    "$RSIGN" verify --keyset keyset.yaml "$img" >/dev/null 2>refused.log || rc=$?
    ((rc == 1)) || die "$img (signed only by A) gave exit $rc after the window, expected 1"
    grep -q "signed only by retired key ${A_ID:0:16} (release-a), whose acceptance window expired at" refused.log \
        || { cat refused.log >&2; die "the refusal of $img does not name the expired key A"; }
done

# --- 6. clean ----------------------------------------------------------------------------
step "remove A's signatures from every image"
for img in "${ALL[@]}"; do
    "$RSIGN" clean --type signature --signed-by "${A_ID:0:12}" --keyset keyset.yaml --force "$img" \
        2>>clean.log || { tail -5 clean.log >&2; die "clean --signed-by A failed for $img"; }
done

# --- 7. B alone ----------------------------------------------------------------------------
step "every re-signed image verifies by B alone; nothing verifies with A"
"$RSIGN" verify --key key-b.pub "${ROTATED[@]}" >/dev/null 2>verify-5.log \
    || die "an image does not verify with B after the clean"
"$RSIGN" verify --keyset keyset.yaml "${ROTATED[@]}" >/dev/null 2>>verify-5.log \
    || die "an image does not verify with the keyset after the clean"
for img in "${ALL[@]}"; do
    rc=0
    "$RSIGN" verify --key key-a.pub "$img" >/dev/null 2>&1 || rc=$?
    ((rc == 1 || rc == 3)) || die "$img still verifies with A (exit $rc)"
done
for img in "${A_ONLY[@]}"; do
    rc=0
    "$RSIGN" verify --keyset keyset.yaml "$img" >/dev/null 2>&1 || rc=$?
    ((rc == 3)) || die "$img should have no signatures left (exit $rc, expected 3)"
done

printf '\nrotate-keys: ok — %d images rotated from key A to key B, %d A-only images refused after the window, A signatures removed\n' \
    "$IMAGES" "$EXTRA"
