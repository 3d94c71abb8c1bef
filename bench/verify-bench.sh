#!/usr/bin/env bash
# Image-verification benchmark: cosign vs rsign vs the registry floor, in one run.
#
#   bench/verify-bench.sh                 # N=200 images, 3 timed runs each
#   N=10 bench/verify-bench.sh            # quick mode
#
# Environment (all optional):
#   N=200            images to push, sign and verify
#   RUNS=3           timed runs per measurement (the median is reported)
#   SINGLE_RUNS=10   timed runs for the one-image measurements
#   DELAY_MS=25      delay the latency proxy adds to every request
#   FLOOR_CONC=16    keep-alive connections of the floor client and of wrk
#   FLOOR_CONC_HI=64 a second floor measurement with more connections
#   WRK_SECS=3       duration of each wrk run
#   PUSH_VIA=http    http (python, registry API) or skopeo
#   RSIGN=target/release/rsign   rsign binary (its `verify` is measured if present)
#   RSIGN_DESC="git <HEAD>"      how the report names that binary's source (set it
#                                when RSIGN was not built from this checkout's HEAD)
#   COSIGN=.tools/bin/cosign  SKOPEO=.tools/bin/skopeo  REGISTRY=/usr/bin/docker-registry
#   OUT=bench/results/verify-<date>[-n<N>].md
#
# Only 127.0.0.1 is used. Every process it starts and its temp dir are removed
# on exit. See bench/README.md for the method.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"

N="${N:-200}"
RUNS="${RUNS:-3}"
SINGLE_RUNS="${SINGLE_RUNS:-10}"
DELAY_MS="${DELAY_MS:-25}"
FLOOR_CONC="${FLOOR_CONC:-16}"
FLOOR_CONC_HI="${FLOOR_CONC_HI:-64}"
WRK_SECS="${WRK_SECS:-3}"
PUSH_VIA="${PUSH_VIA:-http}"
RSIGN="${RSIGN:-$REPO/target/release/rsign}"
COSIGN="${COSIGN:-$REPO/.tools/bin/cosign}"
SKOPEO="${SKOPEO:-$REPO/.tools/bin/skopeo}"
REGISTRY="${REGISTRY:-/usr/bin/docker-registry}"
STAMP="$(date +%Y-%m-%d)"
if [[ "$N" == 200 ]]; then
    OUT="${OUT:-$BENCH/results/verify-$STAMP.md}"
else
    OUT="${OUT:-$BENCH/results/verify-$STAMP-n$N.md}"
fi
PASSWORD="rsign-bench-password"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'verify-bench: error: %s\n' "$*" >&2; exit 1; }

[[ "$N" =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 5000)) || die "N must be 1..5000 (got $N)"
[[ "$RUNS" =~ ^[0-9]+$ ]] && ((RUNS >= 1 && RUNS <= 50)) || die "RUNS must be 1..50"
[[ "$SINGLE_RUNS" =~ ^[0-9]+$ ]] && ((SINGLE_RUNS >= 1 && SINGLE_RUNS <= 200)) || die "SINGLE_RUNS must be 1..200"
[[ "$DELAY_MS" =~ ^[0-9]+$ ]] || die "DELAY_MS must be a whole number of ms"
[[ "$FLOOR_CONC" =~ ^[0-9]+$ ]] && ((FLOOR_CONC >= 1 && FLOOR_CONC <= 256)) || die "FLOOR_CONC must be 1..256"
[[ "$FLOOR_CONC_HI" =~ ^[0-9]+$ ]] && ((FLOOR_CONC_HI >= 1 && FLOOR_CONC_HI <= 256)) || die "FLOOR_CONC_HI must be 1..256"
[[ "$WRK_SECS" =~ ^[0-9]+$ ]] && ((WRK_SECS >= 1 && WRK_SECS <= 60)) || die "WRK_SECS must be 1..60"
for t in "$COSIGN" "$REGISTRY"; do
    [[ -x "$t" ]] || die "$t is missing; run scripts/install-test-deps.sh (as root) first"
done
[[ "$PUSH_VIA" != skopeo || -x "$SKOPEO" ]] || die "$SKOPEO is missing; run scripts/install-test-deps.sh"
for t in python3 curl hyperfine wrk; do
    command -v "$t" >/dev/null || die "$t is not installed (apt-get install $t)"
done

# --- processes and temp dir, removed on exit ---------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rsign-verify-bench.XXXXXX")"
REG_PID=""
PROXY_PID=""
CHILD=""
# run CMD...: runs CMD in the background and waits, so that a signal reaches
# the traps at once (bash defers traps while a foreground command runs).
run() {
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
        # the running measurement and what it started (hyperfine -> cosign, xargs -> cosign)
        pkill -TERM -P "$CHILD" 2>/dev/null || true
        stop_pid "$CHILD"
    fi
    stop_pid "$PROXY_PID"
    stop_pid "$REG_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cosign and rsign run with the same isolated environment.
export HOME="$WORK/home" TUF_ROOT="$WORK/home/tuf"
unset DOCKER_CONFIG COSIGN_REPOSITORY COSIGN_PASSWORD REGISTRY_AUTH_FILE || true
mkdir -p "$HOME"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # wait_http PORT: until GET /v2/ answers 200 (bounded: 10 s)
    local i
    for ((i = 0; i < 200; i++)); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true)" == 200 ]]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

REG_LOG="$WORK/registry.log"
start_registry() { # start_registry PORT
    local cfg="$WORK/registry-$1.yml"
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$1
  secret: rsign-bench-secret
EOF
    "$REGISTRY" serve "$cfg" >>"$REG_LOG" 2>&1 &
    REG_PID=$!
    wait_http "$1" || { tail -20 "$REG_LOG" >&2; die "docker-registry did not start on port $1"; }
}

start_proxy() { # start_proxy LISTEN TARGET DELAY_MS
    rm -f "$WORK/proxy.ready"
    python3 "$BENCH/latency_proxy.py" --listen-port "$1" --target-port "$2" \
        --delay-ms "$3" --ready-file "$WORK/proxy.ready" >>"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    wait_http "$1" || { tail -20 "$WORK/proxy.log" >&2; die "latency proxy did not start on port $1"; }
}

# --- 1. registry, images, signatures -----------------------------------------

PORT="$(free_port)"
mkdir -p "$WORK/storage"
start_registry "$PORT"
log "registry on 127.0.0.1:$PORT (docker-registry $("$REGISTRY" --version | awk '{print $3}'))"

log "building and pushing $N images (via $PUSH_VIA)"
t0=$(date +%s%N)
run python3 "$BENCH/make_images.py" --port "$PORT" -n "$N" --jobs 4 --via "$PUSH_VIA" \
    --skopeo "$SKOPEO" --workdir "$WORK/layouts" --out "$WORK/images.tsv"
PUSH_S=$(python3 -c "print(round(($(date +%s%N) - $t0) / 1e9, 2))")
mapfile -t REFS < <(cut -f2 "$WORK/images.tsv")
((${#REFS[@]} == N)) || die "expected $N images, got ${#REFS[@]}"

log "signing $N images with cosign (one key, 4 parallel calls)"
(cd "$WORK" && COSIGN_PASSWORD="$PASSWORD" "$COSIGN" generate-key-pair >/dev/null 2>&1) \
    || die "cosign generate-key-pair failed"
mkdir -p "$WORK/wrong"
(cd "$WORK/wrong" && COSIGN_PASSWORD="$PASSWORD" "$COSIGN" generate-key-pair >/dev/null 2>&1) \
    || die "cosign generate-key-pair (wrong key) failed"
KEY="$WORK/cosign.key"
PUB="$WORK/cosign.pub"
WRONG_PUB="$WORK/wrong/cosign.pub"
# Sign by digest: <host>/bench/img-i@sha256:...
awk -F'\t' '{ sub(/:v1$/, "", $2); print $2 "@" $3 }' "$WORK/images.tsv" >"$WORK/by-digest.txt"
per_call=$(((N + 3) / 4))
t0=$(date +%s%N)
COSIGN_PASSWORD="$PASSWORD" run xargs -a "$WORK/by-digest.txt" -n "$per_call" -P 4 \
    "$COSIGN" sign --key "$KEY" --tlog-upload=false --yes --allow-http-registry \
    >"$WORK/sign.log" 2>&1 || { tail -20 "$WORK/sign.log" >&2; die "cosign sign failed"; }
SIGN_S=$(python3 -c "print(round(($(date +%s%N) - $t0) / 1e9, 2))")

# The floor's request list, from the signature manifests (also checks that
# every image has a signature manifest with a layer).
run python3 "$BENCH/floor.py" urls --port "$PORT" --images "$WORK/images.tsv" --out "$WORK/urls.tsv" >/dev/null \
    || die "some image has no signature"
python3 "$BENCH/floor.py" wrk-lua --urls "$WORK/urls.tsv" --out "$WORK/floor.lua"
FLOOR_REQS=$(wc -l <"$WORK/urls.tsv")
log "setup: push ${PUSH_S}s, sign ${SIGN_S}s; floor = $FLOOR_REQS requests"

# --- tools under test ----------------------------------------------------------

COSIGN_VERIFY=("$COSIGN" verify --key "$PUB" --insecure-ignore-tlog=true --allow-http-registry)
RSIGN_VERIFY=("$RSIGN" verify --key "$PUB")
RSIGN_OK=0
RSIGN_WHY=""
if [[ ! -x "$RSIGN" ]]; then
    RSIGN_WHY="rsign binary not found at $RSIGN (build it: cargo build --release -p rsign-cli)"
elif ! "$RSIGN" verify --help >/dev/null 2>&1; then
    RSIGN_WHY="$RSIGN has no working \`verify\` command yet"
else
    RSIGN_OK=1
fi

# check_tool NAME CMD...: all refs must verify, and a wrong key must fail.
check_tool() {
    local name="$1"
    shift
    if ! run "$@" "${REFS[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        printf '%s verify of %d refs failed:\n' "$name" "$N" >&2
        tail -5 "$WORK/$name.err" >&2
        return 1
    fi
    return 0
}
check_wrong_key() { # NAME CMD... (the key is swapped for the wrong one)
    local name="$1"
    shift
    local args=("$@")
    local i
    for i in "${!args[@]}"; do [[ "${args[$i]}" == "$PUB" ]] && args[i]="$WRONG_PUB"; done
    if run "${args[@]}" "${REFS[0]}" >/dev/null 2>&1; then
        printf '%s verify accepted a signature under the wrong key\n' "$name" >&2
        return 1
    fi
    return 0
}

log "checking the verifiers (all $N refs must verify; a wrong key must fail)"
check_tool cosign "${COSIGN_VERIFY[@]}" || die "cosign verify fails on the bench images"
check_wrong_key cosign "${COSIGN_VERIFY[@]}" || die "cosign accepted a wrong key"
if ((RSIGN_OK)); then
    if ! check_tool rsign "${RSIGN_VERIFY[@]}"; then
        RSIGN_OK=0
        RSIGN_WHY="rsign verify failed on the bench images: $(tail -1 "$WORK/rsign.err")"
    elif ! check_wrong_key rsign "${RSIGN_VERIFY[@]}"; then
        RSIGN_OK=0
        RSIGN_WHY="rsign verify accepted a signature under the wrong key (not timed)"
    fi
fi
if ((!RSIGN_OK)); then
    log "rsign is NOT measured: $RSIGN_WHY"
fi

# count_requests NAME CMD...: registry requests of one verify of all refs.
access_lines() { grep -c '" [0-9][0-9][0-9] [0-9-]* "' "$REG_LOG" || true; }
count_requests() { # count_requests VAR CMD...
    local var="$1" before after
    shift
    before=$(access_lines)
    run "$@" "${REFS[@]}" >/dev/null 2>&1 || true
    sleep 0.3
    after=$(access_lines)
    printf -v "$var" '%s' "$((after - before))"
}
count_requests COSIGN_REQS "${COSIGN_VERIFY[@]}"
RSIGN_REQS="n/a"
if ((RSIGN_OK)); then count_requests RSIGN_REQS "${RSIGN_VERIFY[@]}"; fi
log "requests for one verify of $N images: cosign $COSIGN_REQS, rsign $RSIGN_REQS, floor $FLOOR_REQS"

# --- measurement helpers ---------------------------------------------------------

# hf TAG RUNS WARMUP NAME1 "CMD1" [NAME2 "CMD2"]: hyperfine, JSON to $WORK/TAG.json.
hf() {
    local tag="$1" runs="$2" warmup="$3"
    shift 3
    local args=()
    while (($# >= 2)); do
        args+=(--command-name "$1" "$2")
        shift 2
    done
    run hyperfine -N --style basic --runs "$runs" --warmup "$warmup" \
        --export-json "$WORK/$tag.json" "${args[@]}" >&2
}
# median TAG INDEX -> seconds (4 decimals)
median() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.4f" % r["median"])' \
        "$WORK/$1.json" "$2"
}
spread() {
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("min %.3f / max %.3f over %d runs" % (r["min"], r["max"], len(r["times"])))' \
        "$WORK/$1.json" "$2"
}
# floor_run VAR PORT LIMIT CONC PASSES: VAR = median seconds of the chained floor
floor_run() {
    run python3 "$BENCH/floor.py" run --port "$2" --images "$WORK/images.tsv" --limit "$3" \
        --conc "$4" --passes "$5" --warmup 1 >"$WORK/floor.json"
    printf -v "$1" '%s' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_s"])' "$WORK/floor.json")"
}
# wrk_rps VAR PORT: VAR = requests/s over the floor request list (dies on error answers)
wrk_rps() {
    run wrk -t1 -c "$FLOOR_CONC" -d "${WRK_SECS}s" -s "$WORK/floor.lua" "http://127.0.0.1:$2" >"$WORK/wrk.out" 2>&1
    if grep -q 'Non-2xx' "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        die "wrk got error responses from the registry"
    fi
    printf -v "$1" '%s' "$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")"
}

# measure PHASE PORT: all measurements against 127.0.0.1:PORT, results in R_<PHASE>_*.
measure() {
    local ph="$1" port="$2" refs_cmd_c refs_cmd_r one_c one_r
    refs_cmd_c="${COSIGN_VERIFY[*]} ${REFS[*]}"
    refs_cmd_r="${RSIGN_VERIFY[*]} ${REFS[*]}"
    one_c="${COSIGN_VERIFY[*]} ${REFS[0]}"
    one_r="${RSIGN_VERIFY[*]} ${REFS[0]}"
    local warm=1
    [[ "$ph" == lat ]] && warm=0 # a warm-up run of cosign costs ~N*4 round trips
    log "[$ph] verify all $N refs in one call ($RUNS runs)"
    if ((RSIGN_OK)); then
        hf "$ph-all" "$RUNS" "$warm" cosign "$refs_cmd_c" rsign "$refs_cmd_r"
        printf -v "R_${ph}_ALL_R" '%s' "$(median "$ph-all" 1)"
        printf -v "R_${ph}_ALL_R_SPREAD" '%s' "$(spread "$ph-all" 1)"
    else
        hf "$ph-all" "$RUNS" "$warm" cosign "$refs_cmd_c"
        printf -v "R_${ph}_ALL_R" '%s' "n/a"
        printf -v "R_${ph}_ALL_R_SPREAD" '%s' ""
    fi
    printf -v "R_${ph}_ALL_C" '%s' "$(median "$ph-all" 0)"
    printf -v "R_${ph}_ALL_C_SPREAD" '%s' "$(spread "$ph-all" 0)"

    log "[$ph] verify one image ($SINGLE_RUNS runs)"
    if ((RSIGN_OK)); then
        hf "$ph-one" "$SINGLE_RUNS" 2 cosign "$one_c" rsign "$one_r"
        printf -v "R_${ph}_ONE_R" '%s' "$(median "$ph-one" 1)"
    else
        hf "$ph-one" "$SINGLE_RUNS" 2 cosign "$one_c"
        printf -v "R_${ph}_ONE_R" '%s' "n/a"
    fi
    printf -v "R_${ph}_ONE_C" '%s' "$(median "$ph-one" 0)"

    log "[$ph] registry floor: $N images over $FLOOR_CONC keep-alive connections ($RUNS passes)"
    floor_run "R_${ph}_FLOOR" "$port" 0 "$FLOOR_CONC" "$RUNS"
    floor_run "R_${ph}_FLOOR_HI" "$port" 0 "$FLOOR_CONC_HI" "$RUNS"
    floor_run "R_${ph}_FLOOR_ONE" "$port" 1 1 "$SINGLE_RUNS"
    log "[$ph] wrk over the floor request list (${WRK_SECS}s, $FLOOR_CONC connections)"
    wrk_rps "R_${ph}_WRK" "$port"
}

# --- 2. loopback ------------------------------------------------------------------
T_START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
measure loop "$PORT"

# --- 3. the same references through the latency proxy -------------------------------
# The registry moves to another port and the proxy takes its old one, so the
# references (and the identities in the signatures) stay the same.
log "moving the registry behind the latency proxy"
stop_pid "$REG_PID"
REG_PID=""
PORT2="$(free_port)"
start_registry "$PORT2"

start_proxy "$PORT" "$PORT2" 0
log "[proxy 0 ms] floor through the proxy without delay (its own overhead)"
floor_run R_P0_FLOOR "$PORT" 0 "$FLOOR_CONC" "$RUNS"
floor_run R_P0_FLOOR_HI "$PORT" 0 "$FLOOR_CONC_HI" "$RUNS"
floor_run R_P0_FLOOR_ONE "$PORT" 1 1 "$SINGLE_RUNS"
wrk_rps R_P0_WRK "$PORT"
hf p0-one "$SINGLE_RUNS" 2 cosign "${COSIGN_VERIFY[*]} ${REFS[0]}"
R_P0_ONE_C=$(median p0-one 0)
stop_pid "$PROXY_PID"
PROXY_PID=""

start_proxy "$PORT" "$PORT2" "$DELAY_MS"
measure lat "$PORT"
T_END=$(date +%s)

# --- 4. report ------------------------------------------------------------------------
ratio() { # ratio A B -> A/B with 2 decimals, or n/a
    python3 -c '
import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2])
    print("%.2f" % (a / b))
except (ValueError, ZeroDivisionError):
    print("n/a")' "$1" "$2"
}
pass_s() { python3 -c 'import sys; print("%.3f" % (int(sys.argv[1]) / float(sys.argv[2])))' "$FLOOR_REQS" "$1"; }

RSIGN_VER="(not measured)"
((RSIGN_OK)) && RSIGN_VER="$("$RSIGN" --version 2>/dev/null | head -1 || echo unknown) (${RSIGN_DESC:-git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')})"
COSIGN_VER="$("$COSIGN" version 2>&1 | awk '/GitVersion/ {print $2}')"
[[ "$COSIGN_VER" == devel ]] && COSIGN_VER="2.5.0 (Debian trixie package; reports GitVersion devel)"

mkdir -p "$(dirname "$OUT")"
{
    echo "# Image verification: cosign vs rsign vs registry floor"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/verify-bench.sh\` on $(nproc) cores,"
    echo "load average at start of the measurements: $LOAD_START; measurements took $((T_END - T_START)) s."
    echo
    echo "- images: $N single-platform OCI images \`127.0.0.1:PORT/bench/img-<i>:v1\`, one cosign signature each (P-256 key, no tlog)"
    echo "- cosign $COSIGN_VER: \`cosign verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry REFS…\`"
    echo "- rsign ${RSIGN_VER}: \`rsign verify --key cosign.pub REFS…\`"
    ((RSIGN_OK)) || echo "  - **rsign not measured:** $RSIGN_WHY"
    echo "- registry: docker-registry $("$REGISTRY" --version | awk '{print $3}'), filesystem storage, plain HTTP on 127.0.0.1"
    echo "- floor: HEAD manifest by tag → GET \`sha256-<hex>.sig\` manifest → GET its layer, per image, over $FLOOR_CONC keep-alive connections (python asyncio client, no crypto, no process start)"
    echo "- latency: python TCP proxy adding ${DELAY_MS} ms to every client→server request chunk (responses undelayed, connects undelayed)"
    echo "- times are medians: $RUNS runs for all-images rows, $SINGLE_RUNS for one-image rows (hyperfine; floor passes timed in-process)"
    echo
    echo "| scenario | cosign (s) | rsign (s) | floor (s) | ratios |"
    echo "| --- | ---: | ---: | ---: | --- |"
    echo "| $N images, one call, loopback | $R_loop_ALL_C | $R_loop_ALL_R | $R_loop_FLOOR | rsign/floor $(ratio "$R_loop_ALL_R" "$R_loop_FLOOR"); cosign/floor $(ratio "$R_loop_ALL_C" "$R_loop_FLOOR") |"
    echo "| 1 image, loopback | $R_loop_ONE_C | $R_loop_ONE_R | $R_loop_FLOOR_ONE | rsign/cosign $(ratio "$R_loop_ONE_R" "$R_loop_ONE_C") |"
    echo "| $N images, one call, +${DELAY_MS} ms/request | $R_lat_ALL_C | $R_lat_ALL_R | $R_lat_FLOOR | cosign/rsign (throughput) $(ratio "$R_lat_ALL_C" "$R_lat_ALL_R"); rsign/floor $(ratio "$R_lat_ALL_R" "$R_lat_FLOOR"); cosign/floor $(ratio "$R_lat_ALL_C" "$R_lat_FLOOR") |"
    echo "| 1 image, +${DELAY_MS} ms/request | $R_lat_ONE_C | $R_lat_ONE_R | $R_lat_FLOOR_ONE | rsign/cosign $(ratio "$R_lat_ONE_R" "$R_lat_ONE_C") |"
    echo
    echo "Spread of the all-images runs: cosign loopback ${R_loop_ALL_C_SPREAD}; cosign +${DELAY_MS} ms ${R_lat_ALL_C_SPREAD}$( ((RSIGN_OK)) && echo "; rsign loopback ${R_loop_ALL_R_SPREAD}; rsign +${DELAY_MS} ms ${R_lat_ALL_R_SPREAD}")."
    echo
    echo "| registry requests for one verify of $N images | count |"
    echo "| --- | ---: |"
    echo "| cosign | $COSIGN_REQS |"
    echo "| rsign | $RSIGN_REQS |"
    echo "| floor (minimal set) | $FLOOR_REQS |"
    echo
    echo "| floor detail | loopback | proxy, 0 ms | proxy, ${DELAY_MS} ms |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| chained floor, $N images, $FLOOR_CONC conns (s) | $R_loop_FLOOR | $R_P0_FLOOR | $R_lat_FLOOR |"
    echo "| chained floor, $N images, $FLOOR_CONC_HI conns (s) | $R_loop_FLOOR_HI | $R_P0_FLOOR_HI | $R_lat_FLOOR_HI |"
    echo "| chained floor, 1 image (s) | $R_loop_FLOOR_ONE | $R_P0_FLOOR_ONE | $R_lat_FLOOR_ONE |"
    echo "| wrk, flat request list, $FLOOR_CONC conns (req/s) | $R_loop_WRK | $R_P0_WRK | $R_lat_WRK |"
    echo "| wrk, one pass of $FLOOR_REQS requests (s) | $(pass_s "$R_loop_WRK") | $(pass_s "$R_P0_WRK") | $(pass_s "$R_lat_WRK") |"
    echo "| cosign, 1 image (s) | $R_loop_ONE_C | $R_P0_ONE_C | $R_lat_ONE_C |"
    echo
    echo "Setup (not benchmarked): push of $N images ${PUSH_S} s via $PUSH_VIA; cosign sign of $N images in 4 parallel calls ${SIGN_S} s."
} >"$OUT"

echo
cat "$OUT"
log "written to $OUT"
