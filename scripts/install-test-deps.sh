#!/usr/bin/env bash
# Install the real peers that rsign's integration tests run against.
#
#   * Debian 12 packages, system-wide: docker-registry (CNCF distribution 2.8),
#     apache2-utils (htpasswd), openssl; wrk and hyperfine when available.
#   * cosign 2.5 and skopeo 1.18 from Debian 13 "trixie", unpacked into a private
#     folder (nothing from trixie is installed system-wide):
#       $RSIGN_TOOLS_DIR/root   unpacked .deb files
#       $RSIGN_TOOLS_DIR/bin    wrappers `cosign` and `skopeo`
#     RSIGN_TOOLS_DIR defaults to <repo>/.tools (gitignored). The tests find the
#     wrappers through RSIGN_TEST_TOOLS (default <repo>/.tools/bin).
#
# Runs as root on Debian 12 with only the package mirrors reachable. Idempotent:
# a second run only checks what is there. Set RSIGN_TOOLS_FORCE=1 to re-fetch the
# trixie packages.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${RSIGN_TOOLS_DIR:-$REPO/.tools}"
ROOT="$TOOLS/root"
BIN="$TOOLS/bin"
APTDIR="$TOOLS/apt"
STAMP="$TOOLS/versions.txt"

# Packages fetched from trixie. skopeo 1.18 needs glibc >= 2.38 (bookworm has
# 2.36), so it runs under trixie's own loader and libraries; cosign is a Go
# binary that needs only libc and runs with the system one.
TRIXIE_PKGS=(cosign skopeo libc6 libgpgme11t64 libsqlite3-0 libassuan9 libgpg-error0)
# Checked with `ld.so --list` below: skopeo's NEEDED libraries are exactly
# libgpgme, libsqlite3, libc, libassuan, libgpg-error and libm (part of libc6).

SYSTEM_PKGS=(docker-registry apache2-utils openssl gnupg debian-archive-keyring)
OPTIONAL_PKGS=(wrk hyperfine)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install-test-deps: error: %s\n' "$*" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
    die "run as root (it installs Debian packages with apt-get)"
fi
export DEBIAN_FRONTEND=noninteractive

# --- 1. System packages from the host's own suite ----------------------------

is_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

has_candidate() {
    local cand
    cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    [[ -n "$cand" && "$cand" != "(none)" ]]
}

missing=()
for p in "${SYSTEM_PKGS[@]}"; do is_installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${OPTIONAL_PKGS[@]}"; do is_installed "$p" || optional_missing+=("$p"); done

if ((${#missing[@]} + ${#optional_missing[@]} > 0)); then
    need_update=0
    for p in "${missing[@]}"; do has_candidate "$p" || need_update=1; done
    if ((need_update)); then
        log "apt-get update (package lists lack: ${missing[*]})"
        apt-get update -qq
    fi
    if ((${#missing[@]} > 0)); then
        log "installing ${missing[*]}"
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    for p in "${optional_missing[@]}"; do
        if has_candidate "$p"; then
            log "installing optional $p"
            apt-get install -y -qq --no-install-recommends "$p" >/dev/null \
                || log "warning: optional package $p failed to install; continuing"
        else
            log "warning: optional package $p is not available; continuing"
        fi
    done
else
    log "system packages already installed: ${SYSTEM_PKGS[*]} ${OPTIONAL_PKGS[*]}"
fi

# --- 2. cosign and skopeo from trixie, unpacked privately ---------------------

# The Debian mirror the host uses (deb822 or one-line format), so that a local
# mirror or proxy configured for the host also serves trixie.
mirror_uri() {
    local f uri=""
    f=/etc/apt/sources.list.d/debian.sources
    if [[ -r $f ]]; then
        # First stanza whose URIs end in /debian (not /debian-security).
        uri="$(awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")"
    fi
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri="$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list)"
    fi
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

skopeo_cmd() {
    "$ROOT/usr/lib64/ld-linux-x86-64.so.2" --library-path "$ROOT/usr/lib/x86_64-linux-gnu" \
        "$ROOT/usr/bin/skopeo" "$@"
}

trixie_ok() {
    [[ -x $BIN/cosign && -x $BIN/skopeo && -r $STAMP ]] || return 1
    grep -q '^cosign 2\.5\.' "$STAMP" && grep -q '^skopeo 1\.18\.' "$STAMP" || return 1
    "$BIN/cosign" version >/dev/null 2>&1 || return 1
    "$BIN/skopeo" --version 2>/dev/null | grep -q 'version 1\.18\.' || return 1
}

write_wrappers() {
    mkdir -p "$BIN"
    # Paths are baked in at install time; re-run the script after moving $TOOLS.
    cat >"$BIN/cosign" <<EOF
#!/bin/sh
# cosign 2.5 from Debian trixie, unpacked by scripts/install-test-deps.sh.
exec "$ROOT/usr/bin/cosign" "\$@"
EOF
    cat >"$BIN/skopeo" <<EOF
#!/bin/sh
# skopeo 1.18 from Debian trixie, run under trixie's glibc (it needs >= 2.38).
exec "$ROOT/usr/lib64/ld-linux-x86-64.so.2" --library-path "$ROOT/usr/lib/x86_64-linux-gnu" "$ROOT/usr/bin/skopeo" "\$@"
EOF
    chmod 0755 "$BIN/cosign" "$BIN/skopeo"
}

if [[ ${RSIGN_TOOLS_FORCE:-0} != 1 ]] && trixie_ok; then
    log "cosign and skopeo already unpacked in $ROOT"
else
    KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
    # Bookworm's debian-archive-keyring (2023.3+deb12u2 and later) carries the
    # trixie archive and release keys, so trixie's InRelease is verified
    # normally; refuse to continue rather than fetch without verification.
    has_trixie_key() {
        gpg --batch --no-default-keyring --keyring "$KEYRING" --list-keys 2>/dev/null \
            | grep -q 'Debian Archive Automatic Signing Key (13/trixie)'
    }
    if ! has_trixie_key; then
        log "upgrading debian-archive-keyring (the installed one lacks trixie's key)"
        apt-get install -y --only-upgrade debian-archive-keyring >/dev/null || true
    fi
    if ! has_trixie_key; then
        die "$KEYRING lacks the trixie signing key; upgrade debian-archive-keyring (bookworm-updates ships it)"
    fi

    MIRROR="$(mirror_uri)"
    log "fetching ${TRIXIE_PKGS[*]} from $MIRROR trixie"
    rm -rf "$APTDIR"
    mkdir -p "$APTDIR"/etc/{apt.conf.d,sources.list.d,preferences.d,trusted.gpg.d} \
        "$APTDIR"/state/lists/partial "$APTDIR"/cache/archives/partial "$APTDIR"/debs
    : >"$APTDIR/state/status"
    # Everything under $APTDIR; Dir::Etc also hides the host's apt.conf.d hooks.
    cat >"$APTDIR/apt.conf" <<EOF
Dir::Etc "$APTDIR/etc/";
Dir::State "$APTDIR/state/";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache/";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
    # The host may pin its mirror to a snapshot whose Release is past Valid-Until
    # (the host's own apt.conf.d turns that check off for the same reason); the
    # signature itself is still checked against $KEYRING.
    if apt-config dump 2>/dev/null | grep -qi '^Acquire::Check-Valid-Until "false"'; then
        echo 'Acquire::Check-Valid-Until "false";' >>"$APTDIR/apt.conf"
    fi
    echo "deb [signed-by=$KEYRING] $MIRROR trixie main" >"$APTDIR/etc/sources.list"

    export APT_CONFIG="$APTDIR/apt.conf"
    apt-get update -qq
    (cd "$APTDIR/debs" && apt-get download -qq "${TRIXIE_PKGS[@]}")
    unset APT_CONFIG

    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    : >"$STAMP.new"
    for deb in "$APTDIR"/debs/*.deb; do
        dpkg-deb -x "$deb" "$ROOT"
        printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >>"$STAMP.new"
    done
    mv "$STAMP.new" "$STAMP"
    # The index lists (~57 MB) and .debs are not needed once unpacked.
    rm -rf "$APTDIR"

    # Every library skopeo needs must resolve inside $ROOT.
    if ldd_out="$("$ROOT/usr/lib64/ld-linux-x86-64.so.2" --library-path "$ROOT/usr/lib/x86_64-linux-gnu" \
        --list "$ROOT/usr/bin/skopeo")"; then
        if grep -q 'not found' <<<"$ldd_out"; then
            die "skopeo has unresolved libraries:"$'\n'"$ldd_out"
        fi
    else
        die "cannot list skopeo's libraries under trixie's loader"
    fi
    write_wrappers
fi

# --- 3. Verify ---------------------------------------------------------------

grep -q '^cosign 2\.5\.' "$STAMP" || die "cosign package is not 2.5.x: $(grep '^cosign ' "$STAMP")"
grep -q '^skopeo 1\.18\.' "$STAMP" || die "skopeo package is not 1.18.x: $(grep '^skopeo ' "$STAMP")"
# Debian builds cosign without version ldflags, so `cosign version` prints
# "GitVersion: devel"; the package version in $STAMP is the real one.
"$BIN/cosign" version >/dev/null 2>&1 || die "$BIN/cosign does not run"
skopeo_version="$("$BIN/skopeo" --version)" || die "$BIN/skopeo does not run"
[[ $skopeo_version == *'version 1.18.'* ]] || die "unexpected skopeo version: $skopeo_version"
registry_version="$(/usr/bin/docker-registry --version)" || die "docker-registry does not run"
command -v htpasswd >/dev/null || die "htpasswd missing (apache2-utils)"

cat <<EOF
rsign test tools:
  cosign          $BIN/cosign  (package $(awk '$1=="cosign" {print $2}' "$STAMP"))
  skopeo          $BIN/skopeo  ($skopeo_version)
  docker-registry /usr/bin/docker-registry  ($registry_version)
  htpasswd        $(command -v htpasswd)
  openssl         $(command -v openssl)  ($(openssl version))
  wrk             $(command -v wrk || echo 'not installed')
  hyperfine       $(command -v hyperfine || echo 'not installed')
Tests read the wrappers from RSIGN_TEST_TOOLS (default $REPO/.tools/bin).
EOF
