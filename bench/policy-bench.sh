#!/usr/bin/env bash
# Admission-decision benchmark: the admission-webhook example deciding about
# a Pod with 8 signed container images, against a local registry.
#
#   bench/policy-bench.sh                  # about 1 minute on 2 cores
#   SAMPLES=500 WRK_SECS=2 bench/policy-bench.sh   # quicker
#
# Measures
#   (a) decision latency, cache warm: sequential POST /validate on one
#       keep-alive HTTPS connection; client-side time and the server's own
#       time (its `Server-Timing: rsign;dur=` header), p50/p90/p99/max;
#   (b) the same with the verification cache off (--cache-ttl 0s): every
#       decision resolves 8 tags and fetches and verifies 8 signatures;
#   (c) decisions per second under concurrency: wrk, CONC connections each
#       (cache warm), with wrk's latency percentiles;
#   (d) single flight: BURST concurrent identical reviews against a freshly
#       started webhook (cold cache) — registry fetches of each image's
#       `.sig` manifest, counted in the registry's access log (expected: 1
#       per digest).
#
# Environment (all optional):
#   CONTAINERS=8      images in the Pod (distinct, all signed)
#   SAMPLES=2000      sequential requests for (a), images by digest
#   TAG_SAMPLES=500   sequential requests for (a), images by tag
#   UNCACHED=300      sequential requests for (b)
#   CONC="16 64"      wrk connection counts for (c)
#   WRK_SECS=5        duration of each wrk run
#   BURST=100         concurrent requests for (d)
#   WEBHOOK=target/release/examples/admission-webhook   (built if missing)
#   COSIGN=.tools/bin/cosign  REGISTRY=/usr/bin/docker-registry
#   OUT=bench/results/policy-<date>.md
#
# Only 127.0.0.1 is used. Every process it starts and its temp dir are
# removed on exit.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"

CONTAINERS="${CONTAINERS:-8}"
SAMPLES="${SAMPLES:-2000}"
TAG_SAMPLES="${TAG_SAMPLES:-500}"
UNCACHED="${UNCACHED:-300}"
CONC="${CONC:-16 64}"
WRK_SECS="${WRK_SECS:-5}"
BURST="${BURST:-100}"
WEBHOOK="${WEBHOOK:-$REPO/target/release/examples/admission-webhook}"
COSIGN="${COSIGN:-$REPO/.tools/bin/cosign}"
REGISTRY="${REGISTRY:-/usr/bin/docker-registry}"
OUT="${OUT:-$BENCH/results/policy-$(date +%Y-%m-%d).md}"
PASSWORD="rsign-bench-password"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'policy-bench: error: %s\n' "$*" >&2; exit 1; }

[[ "$CONTAINERS" =~ ^[0-9]+$ ]] && ((CONTAINERS >= 1 && CONTAINERS <= 64)) || die "CONTAINERS must be 1..64"
[[ "$SAMPLES" =~ ^[0-9]+$ ]] && ((SAMPLES >= 10 && SAMPLES <= 1000000)) || die "SAMPLES must be 10..1000000"
[[ "$TAG_SAMPLES" =~ ^[0-9]+$ ]] && ((TAG_SAMPLES >= 10 && TAG_SAMPLES <= 1000000)) || die "TAG_SAMPLES must be 10..1000000"
[[ "$UNCACHED" =~ ^[0-9]+$ ]] && ((UNCACHED >= 10 && UNCACHED <= 100000)) || die "UNCACHED must be 10..100000"
[[ "$WRK_SECS" =~ ^[0-9]+$ ]] && ((WRK_SECS >= 1 && WRK_SECS <= 120)) || die "WRK_SECS must be 1..120"
[[ "$BURST" =~ ^[0-9]+$ ]] && ((BURST >= 2 && BURST <= 500)) || die "BURST must be 2..500"
for c in $CONC; do
    [[ "$c" =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 1000)) || die "CONC values must be 1..1000 (got $c)"
done
for t in "$COSIGN" "$REGISTRY"; do
    [[ -x "$t" ]] || die "$t is missing; run scripts/install-test-deps.sh (as root) first"
done
for t in python3 curl wrk openssl; do
    command -v "$t" >/dev/null || die "$t is not installed (apt-get install $t)"
done
if [[ ! -x "$WEBHOOK" ]]; then
    log "building the webhook (cargo build --release --example admission-webhook)"
    (cd "$REPO" && cargo build --release -p rsign-cli --example admission-webhook) \
        || die "cannot build the admission-webhook example"
fi

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- processes and temp dir, removed on exit ---------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rsign-policy-bench.XXXXXX")"
REG_PID=""
HOOK_PID=""
CHILD=""
run() { # run CMD...: in the background and waited for, so traps fire at once
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    if [[ -n "$CHILD" ]]; then
        pkill -TERM -P "$CHILD" 2>/dev/null || true
        stop_pid "$CHILD"
    fi
    stop_pid "$HOOK_PID"
    stop_pid "$REG_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME="$WORK/home" TUF_ROOT="$WORK/home/tuf"
unset DOCKER_CONFIG COSIGN_REPOSITORY COSIGN_PASSWORD REGISTRY_AUTH_FILE || true
mkdir -p "$HOME"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 1. registry, images, signatures -----------------------------------------

REG_LOG="$WORK/registry.log"
PORT="$(free_port)"
mkdir -p "$WORK/storage"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: 127.0.0.1:$PORT
  secret: rsign-bench-secret
EOF
"$REGISTRY" serve "$WORK/registry.yml" >>"$REG_LOG" 2>&1 &
REG_PID=$!
for ((i = 0; i < 200; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)" == 200 ]] && break
    sleep 0.05
done
((i < 200)) || { tail -20 "$REG_LOG" >&2; die "docker-registry did not start"; }
log "registry on 127.0.0.1:$PORT"

log "pushing and signing $CONTAINERS images"
run python3 "$BENCH/make_images.py" --port "$PORT" -n "$CONTAINERS" --jobs 4 --via http \
    --out "$WORK/images.tsv" >/dev/null
mapfile -t REFS < <(cut -f2 "$WORK/images.tsv")
((${#REFS[@]} == CONTAINERS)) || die "expected $CONTAINERS images, got ${#REFS[@]}"
(cd "$WORK" && COSIGN_PASSWORD="$PASSWORD" "$COSIGN" generate-key-pair >/dev/null 2>&1) \
    || die "cosign generate-key-pair failed"
awk -F'\t' '{ sub(/:v1$/, "", $2); print $2 "@" $3 }' "$WORK/images.tsv" >"$WORK/by-digest.txt"
mapfile -t BY_DIGEST <"$WORK/by-digest.txt"
COSIGN_PASSWORD="$PASSWORD" run "$COSIGN" sign --key "$WORK/cosign.key" --tlog-upload=false \
    --yes --allow-http-registry "${BY_DIGEST[@]}" >"$WORK/sign.log" 2>&1 \
    || { tail -20 "$WORK/sign.log" >&2; die "cosign sign failed"; }

# --- 2. certificate, policy, review body -------------------------------------

TLS="$WORK/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=rsign bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$TLS/tls.key" -out "$TLS/tls.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' >"$TLS/ext"
openssl x509 -req -in "$TLS/tls.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
    -days 1 -extfile "$TLS/ext" -out "$TLS/tls.crt" 2>/dev/null

{
    printf 'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n'
    printf 'metadata:\n  name: bench-signed\nspec:\n  images:\n    - glob: "127.0.0.1:%s/bench/**"\n' "$PORT"
    printf '  authorities:\n    - key:\n        data: |\n'
    sed 's/^/          /' "$WORK/cosign.pub"
} >"$WORK/policy.yaml"
# The same Pod twice: images by tag (each decision resolves every tag with a
# HEAD: tags move) and by digest (as after the /mutate webhook pinned them:
# no registry request at all once verified).
python3 "$BENCH/policy/client.py" body --images "${REFS[@]}" --out "$WORK/review-tag.json"
python3 "$BENCH/policy/client.py" body --images "${BY_DIGEST[@]}" --out "$WORK/review-digest.json"

# --- the webhook ---------------------------------------------------------------

HOOK_LOG="$WORK/webhook.log"
HOOK_PORT=""
start_webhook() { # start_webhook EXTRA_ARGS...
    stop_pid "$HOOK_PID"
    HOOK_PORT="$(free_port)"
    RSIGN_LOG=warn "$WEBHOOK" --listen "127.0.0.1:$HOOK_PORT" --tls-cert "$TLS/tls.crt" \
        --tls-key "$TLS/tls.key" --policy "$WORK/policy.yaml" "$@" >>"$HOOK_LOG" 2>&1 &
    HOOK_PID=$!
    for ((i = 0; i < 200; i++)); do
        [[ "$(curl -s --cacert "$TLS/ca.crt" "https://127.0.0.1:$HOOK_PORT/healthz" || true)" == ok ]] && return 0
        sleep 0.05
    done
    tail -20 "$HOOK_LOG" >&2
    die "the webhook did not start"
}

# rsign's GETs of .sig manifests in the registry log from byte offset $1 on.
sig_gets_since() {
    tail -c +"$(($1 + 1))" "$REG_LOG" | grep -c '"GET /v2/[^ ]*/manifests/sha256-[0-9a-f]*\.sig HTTP[^"]*" [0-9]* [0-9]* "[^"]*" "rsign/' || true
}
rsign_requests_since() {
    tail -c +"$(($1 + 1))" "$REG_LOG" | grep -c '" "rsign/' || true
}
log_size() { stat -c %s "$REG_LOG"; }

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$@"; }
fmt_ms() { python3 -c "import sys; v=sys.argv[1]; print('n/a' if v == 'None' else '%.3f' % float(v))" "$1"; }

# --- (d) single flight, cold cache: first, while nothing is cached -------------

start_webhook
log "(d) $BURST concurrent identical reviews (by tag), cold cache"
before=$(log_size)
run python3 "$BENCH/policy/client.py" burst --port "$HOOK_PORT" --ca "$TLS/ca.crt" \
    --body "$WORK/review-tag.json" -n "$BURST" --out "$WORK/burst.json"
sleep 0.3 # let the registry write its access log
BURST_SIG_GETS=$(sig_gets_since "$before")
BURST_REQS=$(rsign_requests_since "$before")
BURST_WALL=$(json "$WORK/burst.json" 'round(wall_ms, 1)')
BURST_P50=$(json "$WORK/burst.json" 'round(client_ms["p50"], 1)')
BURST_MAX=$(json "$WORK/burst.json" 'round(client_ms["max"], 1)')

# --- (a) cached latency -----------------------------------------------------------

declare -A REQS
latency() { # latency NAME BODY N [WARMUP]; REQS[NAME] = rsign's registry requests per review
    local warmup="${4:-20}" before
    before=$(log_size)
    run python3 "$BENCH/policy/client.py" latency --port "$HOOK_PORT" --ca "$TLS/ca.crt" \
        --body "$WORK/review-$2.json" -n "$3" --warmup "$warmup" --out "$WORK/$1.json"
    sleep 0.3
    REQS[$1]=$(python3 -c "print(round($(rsign_requests_since "$before") / ($3 + $warmup), 1))")
}
log "(a) $SAMPLES sequential reviews by digest, cache warm"
latency cached_digest digest "$SAMPLES"
log "(a) $TAG_SAMPLES sequential reviews by tag, cache warm"
latency cached_tag tag "$TAG_SAMPLES"

# --- (c) throughput -----------------------------------------------------------------

declare -A RPS P50 P99 ERRS
wrk_run() { # wrk_run KIND CONNECTIONS
    local key="$1-$2"
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal f = assert(io.open("%s", "rb"))\nwrk.body = f:read("*a")\nf:close()\n' \
        "$WORK/review-$1.json" >"$WORK/post-$1.lua"
    log "(c) wrk, by $1, $2 connections, ${WRK_SECS}s"
    run wrk -t 2 -c "$2" -d "${WRK_SECS}s" --latency -s "$WORK/post-$1.lua" \
        "https://127.0.0.1:$HOOK_PORT/validate" >"$WORK/wrk-$key.txt" 2>&1 \
        || { cat "$WORK/wrk-$key.txt" >&2; die "wrk failed"; }
    RPS[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/wrk-$key.txt")
    P50[$key]=$(awk '$1 == "50%" {print $2}' "$WORK/wrk-$key.txt")
    P99[$key]=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-$key.txt")
    ERRS[$key]=$(awk '/Non-2xx|Socket errors/ {print}' "$WORK/wrk-$key.txt" | tr '\n' ' ')
    [[ -n "${RPS[$key]}" ]] || { cat "$WORK/wrk-$key.txt" >&2; die "no wrk result"; }
}
WRK_ROWS=()
for c in $CONC; do
    wrk_run digest "$c"
    WRK_ROWS+=("digest $c")
done
FIRST_CONC="${CONC%% *}"
wrk_run tag "$FIRST_CONC"
WRK_ROWS+=("tag $FIRST_CONC")

# --- (b) uncached latency -------------------------------------------------------------

start_webhook --cache-ttl 0s
log "(b) $UNCACHED sequential reviews by digest, cache off"
latency uncached_digest digest "$UNCACHED" 5
log "(b) $UNCACHED sequential reviews by tag, cache off"
latency uncached_tag tag "$UNCACHED" 5

# --- report -------------------------------------------------------------------------

row() { # row LABEL NAME KEY
    local f="$WORK/$2.json"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(json "$f" "$3['n']")" "${REQS[$2]}" \
        "$(fmt_ms "$(json "$f" "$3['p50']")")" "$(fmt_ms "$(json "$f" "$3['p90']")")" \
        "$(fmt_ms "$(json "$f" "$3['p99']")")" "$(fmt_ms "$(json "$f" "$3['max']")")"
}
CPU="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
mkdir -p "$(dirname "$OUT")"
{
    echo "# Admission decisions: a Pod with $CONTAINERS signed images ($(date +%Y-%m-%d))"
    echo
    echo "Machine: $(nproc) cores ($CPU); registry, webhook and clients share them;"
    echo "load average when the run started: $LOAD_START (above ~0.5, other work inflates the tails)."
    echo "Webhook: \`$(basename "$WEBHOOK")\` (release build of $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)), one"
    echo "ClusterImagePolicy with one P-256 key; images signed by cosign 2.5; plain-HTTP"
    echo "distribution 2.8 on 127.0.0.1. Client: Python http.client over one keep-alive TLS"
    echo "connection (client time includes Python and TLS); server time is the webhook's own"
    echo "\`Server-Timing\` (body parse, $CONTAINERS evaluations, response encoding)."
    echo
    echo "## Decision latency, ms"
    echo
    echo "| measurement | reviews | rsign registry requests per review | p50 | p90 | p99 | max |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    row "cached, by digest, server" cached_digest server_ms
    row "cached, by digest, client" cached_digest client_ms
    row "cached, by tag, server" cached_tag server_ms
    row "cached, by tag, client" cached_tag client_ms
    row "uncached, by digest, server" uncached_digest server_ms
    row "uncached, by digest, client" uncached_digest client_ms
    row "uncached, by tag, server" uncached_tag server_ms
    row "uncached, by tag, client" uncached_tag client_ms
    echo
    echo "Cached: verified signatures are reused (\`--cache-ttl 60s\`, the default); a tag is"
    echo "still resolved with a \`HEAD\` on every decision (tags move), a digest needs no request."
    echo "Uncached (\`--cache-ttl 0s\`): every decision fetches each image's \`.sig\` manifest and"
    echo "signature layer and verifies them."
    echo
    echo "## Decisions per second (cache warm, wrk -t 2, ${WRK_SECS}s)"
    echo
    echo "| images | connections | reviews/s | images/s | p50 | p99 | errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    for r in "${WRK_ROWS[@]}"; do
        read -r kind c <<<"$r"
        key="$kind-$c"
        printf '| by %s | %s | %s | %s | %s | %s | %s |\n' "$kind" "$c" "${RPS[$key]}" \
            "$((RPS[$key] * CONTAINERS))" "${P50[$key]}" "${P99[$key]}" "${ERRS[$key]:-none}"
    done
    echo
    echo "## Single flight: $BURST concurrent identical reviews (by tag), cold cache"
    echo
    echo "| distinct digests | \`.sig\` manifest GETs | all rsign registry requests | wall | client p50 | client max |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| $CONTAINERS | $BURST_SIG_GETS | $BURST_REQS | ${BURST_WALL} ms | ${BURST_P50} ms | ${BURST_MAX} ms |"
    echo
    if ((BURST_SIG_GETS == CONTAINERS)); then
        echo "One \`.sig\` fetch per digest: concurrent evaluations of one image share one fetch."
    else
        echo "**Expected $CONTAINERS \`.sig\` fetches (one per digest), saw $BURST_SIG_GETS.**"
    fi
} >"$OUT"
cat "$OUT"
log "written to $OUT"
((BURST_SIG_GETS == CONTAINERS)) || die "single flight failed: $BURST_SIG_GETS .sig fetches for $CONTAINERS digests"
