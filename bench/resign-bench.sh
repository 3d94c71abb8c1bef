#!/usr/bin/env bash
# Re-signing benchmark: `rsign resign` of N images vs a shell loop of
# `cosign sign` over the same images, one process per image (the way a
# rotation is usually scripted), side by side in one run against a local
# registry.
#
#   bench/resign-bench.sh            # N=200
#   N=20 bench/resign-bench.sh       # quick mode
#
# Environment (all optional):
#   N=200                  images
#   JOBS=8                 rsign resign --jobs
#   RSIGN=target/release/rsign   (built with cargo if it is the default and missing)
#   COSIGN=.tools/bin/cosign  REGISTRY=/usr/bin/docker-registry
#   OUT=bench/results/resign-<date>[-n<N>].md
#
# Each tool signs every image once with its own key (both keys made by
# `cosign generate-key-pair`, P-256, scrypt-encrypted): cosign first, so rsign
# also reads cosign's existing signature layer before adding its own. Then
# `rsign resign` runs again over the same images (everything already signed:
# the cost of resuming). Every signature is checked afterwards: rsign's with
# `rsign verify` and with `cosign verify` on a sample, cosign's with
# `rsign verify`. Only 127.0.0.1 is used; every process started and the temp
# dir are removed on exit.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"

N="${N:-200}"
JOBS="${JOBS:-8}"
RSIGN="${RSIGN:-$REPO/target/release/rsign}"
COSIGN="${COSIGN:-$REPO/.tools/bin/cosign}"
REGISTRY="${REGISTRY:-/usr/bin/docker-registry}"
STAMP="$(date +%Y-%m-%d)"
if [[ "$N" == 200 ]]; then
    OUT="${OUT:-$BENCH/results/resign-$STAMP.md}"
else
    OUT="${OUT:-$BENCH/results/resign-$STAMP-n$N.md}"
fi
PASSWORD="rsign-bench-password"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'resign-bench: error: %s\n' "$*" >&2; exit 1; }

[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 5000)) || die "N must be 1..5000 (got $N)"
[[ "$JOBS" =~ ^[0-9]+$ ]] && ((JOBS >= 1 && JOBS <= 256)) || die "JOBS must be 1..256"
for t in "$COSIGN" "$REGISTRY"; do
    [[ -x "$t" ]] || die "$t is missing; run scripts/install-test-deps.sh (as root) first"
done
command -v python3 >/dev/null || die "python3 is not installed"
if [[ ! -x "$RSIGN" ]]; then
    [[ "$RSIGN" == "$REPO/target/release/rsign" ]] || die "$RSIGN is not executable"
    log "building rsign (release)"
    (cd "$REPO" && cargo build --release -q -p rsign-cli) || die "cargo build failed"
fi

# The script changes directory: make a relative binary path absolute.
[[ "$RSIGN" == */* && "$RSIGN" != /* ]] && RSIGN="$PWD/$RSIGN"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rsign-resign-bench.XXXXXX")"
REG_PID=""
CHILD=""
run() { # run CMD...: in the background, so that a signal reaches the traps at once
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
stop_pid() {
    [[ -n "$1" ]] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    if [[ -n "$CHILD" ]]; then
        pkill -TERM -P "$CHILD" 2>/dev/null || true
        stop_pid "$CHILD"
    fi
    stop_pid "$REG_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME="$WORK/home" TUF_ROOT="$WORK/home/tuf" NO_COLOR=1
unset DOCKER_CONFIG COSIGN_REPOSITORY RSIGN_REPOSITORY REGISTRY_AUTH_FILE || true
export COSIGN_PASSWORD="$PASSWORD" RSIGN_PASSWORD="$PASSWORD"
mkdir -p "$HOME"

now_ns() { date +%s%N; }
secs_since() { python3 -c "print('%.2f' % (($(now_ns) - $1) / 1e9))"; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: rsign-bench-secret
EOF
"$REGISTRY" serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for ((i = 0; i < 200; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)" == 200 ]] && break
    sleep 0.05
done
log "registry on 127.0.0.1:$PORT"

log "pushing $N images"
run python3 "$BENCH/make_images.py" --port "$PORT" -n "$N" --jobs 4 --out "$WORK/images.tsv"
mapfile -t REFS < <(cut -f2 "$WORK/images.tsv")
((${#REFS[@]} == N)) || die "expected $N images, got ${#REFS[@]}"
printf '%s\n' "${REFS[@]}" >"$WORK/images.txt"

mkdir -p "$WORK/c" "$WORK/r"
(cd "$WORK/c" && "$COSIGN" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"
(cd "$WORK/r" && "$COSIGN" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"

LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
log "cosign: a shell loop, one \`cosign sign\` per image ($N processes)"
t0=$(now_ns)
for ref in "${REFS[@]}"; do
    run "$COSIGN" sign --key "$WORK/c/cosign.key" --tlog-upload=false --yes --allow-http-registry \
        "$ref" >>"$WORK/cosign.log" 2>&1 || { tail -5 "$WORK/cosign.log" >&2; die "cosign sign $ref failed"; }
done
COSIGN_S=$(secs_since "$t0")

log "rsign: one \`rsign resign --jobs $JOBS\` over the same $N images"
t0=$(now_ns)
run "$RSIGN" resign --key "$WORK/r/cosign.key" --from-file "$WORK/images.txt" --jobs "$JOBS" \
    --output json >"$WORK/resign.json" 2>"$WORK/resign.log" || { tail -5 "$WORK/resign.log" >&2; die "rsign resign failed"; }
RSIGN_S=$(secs_since "$t0")
python3 - "$N" "$WORK/resign.json" <<'EOF' || die "rsign resign did not sign every image once"
import json, sys
s = json.load(open(sys.argv[2]))
assert s["signed"] == int(sys.argv[1]) and s["failed"] == 0, s
EOF

log "rsign: the same run again (everything already signed)"
t0=$(now_ns)
run "$RSIGN" resign --key "$WORK/r/cosign.key" --from-file "$WORK/images.txt" --jobs "$JOBS" \
    --output json >"$WORK/resign2.json" 2>"$WORK/resign2.log" || die "second rsign resign failed"
RERUN_S=$(secs_since "$t0")
python3 - "$N" "$WORK/resign2.json" <<'EOF' || die "the re-run signed again"
import json, sys
s = json.load(open(sys.argv[2]))
assert s["signed"] == 0 and s["alreadySigned"] == int(sys.argv[1]), s
EOF

log "checking every signature"
run "$RSIGN" verify --key "$WORK/r/cosign.pub" --threshold 1 "${REFS[@]}" >/dev/null 2>"$WORK/v1.log" \
    || die "rsign's signatures do not verify with rsign"
run "$RSIGN" verify --key "$WORK/c/cosign.pub" "${REFS[@]}" >/dev/null 2>"$WORK/v2.log" \
    || die "cosign's signatures do not verify with rsign"
SAMPLE=("${REFS[0]}" "${REFS[$((N / 2))]}" "${REFS[$((N - 1))]}")
run "$COSIGN" verify --key "$WORK/r/cosign.pub" --insecure-ignore-tlog=true --allow-http-registry \
    "${SAMPLE[@]}" >/dev/null 2>"$WORK/v3.log" || die "cosign does not verify rsign's signatures"

ratio() { python3 -c "print('%.1f' % ($1 / $2))"; }
rate() { python3 -c "print('%.1f' % ($N / $1))"; }
COSIGN_VER="$("$COSIGN" version 2>/dev/null | awk '/GitVersion/ {print $2}')"
mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# Re-signing $N images: \`rsign resign\` vs a loop of \`cosign sign\`

Run $(date -u '+%Y-%m-%d %H:%M') UTC by \`bench/resign-bench.sh\` on $(nproc) cores,
load average at start: $LOAD.

- images: $N single-platform OCI images \`127.0.0.1:PORT/bench/img-<i>:v1\` (bench/make_images.py), docker-registry 2.8 on loopback, plain HTTP
- keys: two P-256 keys made by \`cosign generate-key-pair\` (scrypt-encrypted), one per tool
- cosign $COSIGN_VER: \`for ref in …; do cosign sign --key c.key --tlog-upload=false --yes --allow-http-registry \$ref; done\` (one process and one key unlock per image)
- rsign: \`rsign resign --key r.key --from-file images.txt --jobs $JOBS\` (one process, one key unlock, $JOBS images at a time); it ran second, so it also read cosign's signature on every image
- checked afterwards: all $N images verify with each key (\`rsign verify\`), and \`cosign verify\` accepts rsign's signatures on 3 sampled images

| run | images | wall (s) | images/s |
| --- | ---: | ---: | ---: |
| cosign sign, shell loop | $N | $COSIGN_S | $(rate "$COSIGN_S") |
| rsign resign --jobs $JOBS | $N | $RSIGN_S | $(rate "$RSIGN_S") |
| rsign resign again (all already signed) | $N | $RERUN_S | $(rate "$RERUN_S") |

cosign loop / rsign resign: **$(ratio "$COSIGN_S" "$RSIGN_S")×**. One run each (the
loop alone takes minutes). On a shared machine both figures move with the load
average shown above (other builds ran during this one); repeat for stable numbers.
EOF
cat "$OUT"
log "wrote $OUT"
