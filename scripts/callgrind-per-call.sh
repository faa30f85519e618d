#!/usr/bin/env bash
# User-space instructions per API call (valgrind's callgrind) for proxmox-ureq and
# proxmox-async (hyper backend), against the local nginx stand-in of bench-side-by-side.sh.
#
#   scripts/callgrind-per-call.sh [--out FILE]
#
# Calls: GET /version (into a serde_json::Value), POST nodes/pve1/qemu with the 8 parameters of
# the create benchmark (answer: a UPID string), GET /cluster/resources of 5,000 guests into
# Vec<proxmox_proto::models::ClusterResource>. Each is run twice under callgrind, N_LO and N_HI
# sequential calls on one kept-alive connection in one process (`sbs-bench loop-ureq` and the
# `loop_get` example of proxmox-async); instructions per call = (Ir(N_HI) - Ir(N_LO)) /
# (N_HI - N_LO), so process start, the TLS handshake and the first call cancel out. Ir counts all
# threads of the client process; nginx is not counted.
#
# Environment: CARGO_TARGET_DIR (binaries, and the work directory by default), CG_WORK (nginx
# data, callgrind.out files; default $CARGO_TARGET_DIR/bench/callgrind), CG_PORT (18444),
# CG_N_LO/CG_N_HI (1000/3000), CG_TYPED_N_LO/CG_TYPED_N_HI (10/30, for the 5,000-guest listing),
# CG_TIMEOUT (seconds per valgrind run, 1800), CG_BUILD_TIMEOUT (seconds, 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/nginx-stand-in.sh

OUT=
while [ $# -gt 0 ]; do
    case $1 in
        --out) OUT=$2; shift 2 ;;
        *) echo "usage: $0 [--out FILE]" >&2; exit 2 ;;
    esac
done
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
WORK=${CG_WORK:-$TARGET/bench/callgrind}
PORT=${CG_PORT:-18444}
N_LO=${CG_N_LO:-1000}
N_HI=${CG_N_HI:-3000}
T_LO=${CG_TYPED_N_LO:-10}
T_HI=${CG_TYPED_N_HI:-30}
RUN_TIMEOUT=${CG_TIMEOUT:-1800}

if [ ! -x /usr/sbin/nginx ] || [ ! -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] ||
    ! command -v curl >/dev/null || ! command -v openssl >/dev/null || ! command -v valgrind >/dev/null; then
    nginx_stand_in_install valgrind
fi
command -v python3 >/dev/null || { echo "python3 is needed for the 5,000-guest listing" >&2; exit 1; }
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "127.0.0.1:$PORT is in use; set CG_PORT" >&2
    exit 1
fi

echo "building (release, target dir $TARGET)..." >&2
CARGO_TARGET_DIR=$TARGET timeout "${CG_BUILD_TIMEOUT:-3600}" cargo build --release -q \
    -p proxmox-sidebyside --bin sbs-bench -p proxmox-async --example loop_get
UREQ=$TARGET/release/sbs-bench
ASYNC=$TARGET/release/examples/loop_get

nginx_stand_in_prepare "$WORK" python3
mkdir -p "$WORK/out"
nginx_stand_in_start "$WORK" "$PORT" "$WORK/tmp/body"
trap 'kill $NGINX_PID 2>/dev/null && wait $NGINX_PID 2>/dev/null || true' EXIT
nginx_stand_in_wait "$WORK" "$PORT"
HOST=127.0.0.1:$PORT
CA=$WORK/tls/cert.pem

# set_cmd CLIENT PATH N MODE: the command line of one loop, in CMD.
set_cmd() {
    case $1 in
        ureq) CMD=("$UREQ" loop-ureq "$HOST" "$CA" "$2" "$3" "$4") ;;
        async) CMD=("$ASYNC" hyper "$HOST" "$CA" "$2" "$3" "$4") ;;
    esac
}
CALLS=("get version" "post nodes/pve1/qemu" "typed cluster/resources")
CLIENTS=(ureq async)
declare -A NAME=([ureq]="proxmox-ureq" [async]="proxmox-async (hyper)")
declare -A LABEL=([get]="GET /version" [post]="POST qemu, 8 params" [typed]="GET 5k resources, typed")

# Every loop once without valgrind: fails fast when a mode or the server is wrong.
for c in "${CLIENTS[@]}"; do
    for call in "${CALLS[@]}"; do
        read -r mode path <<<"$call"
        set_cmd "$c" "$path" 2 "$mode"
        timeout 60 "${CMD[@]}" >/dev/null
    done
done

commas() { printf "%s" "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
# ir FILE: the total instruction count of a callgrind output file.
ir() { sed -n -e 's/^totals: *\([0-9]*\).*/\1/p' -e 's/^summary: *\([0-9]*\).*/\1/p' "$1" | head -1; }

declare -A RAW PER
for c in "${CLIENTS[@]}"; do
    for call in "${CALLS[@]}"; do
        read -r mode path <<<"$call"
        if [ "$mode" = typed ]; then lo=$T_LO hi=$T_HI; else lo=$N_LO hi=$N_HI; fi
        for n in "$lo" "$hi"; do
            f=$WORK/out/callgrind.$c-$mode-$n.out
            echo "callgrind: $c $mode x$n" >&2
            set_cmd "$c" "$path" "$n" "$mode"
            timeout "$RUN_TIMEOUT" valgrind -q --tool=callgrind --callgrind-out-file="$f" \
                "${CMD[@]}" >/dev/null
            RAW[$c-$mode-$n]=$(ir "$f")
        done
        a=${RAW[$c-$mode-$lo]} b=${RAW[$c-$mode-$hi]}
        PER[$c-$mode]=$(((b - a + (hi - lo) / 2) / (hi - lo)))
        RAW[$c-$mode]="$lo | $(commas "$a") | $hi | $(commas "$b")"
    done
done

report() {
    local rev
    rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
    [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] && rev="$rev + local changes"
    echo "## Instructions per call (callgrind)"
    echo
    echo "User-space instructions (Ir) per call of the client process, one kept-alive TLS"
    echo "connection to nginx on loopback: (Ir of N_HI calls - Ir of N_LO calls) / (N_HI - N_LO);"
    echo "N = $N_LO and $N_HI, the 5,000-guest listing $T_LO and $T_HI."
    echo
    echo "| client | ${LABEL[get]} | ${LABEL[post]} | ${LABEL[typed]} |"
    echo "|---|---:|---:|---:|"
    for c in "${CLIENTS[@]}"; do
        echo "| ${NAME[$c]} | $(commas "${PER[$c-get]}") | $(commas "${PER[$c-post]}") | $(commas "${PER[$c-typed]}") |"
    done
    echo
    echo "| client | call | N_LO | Ir | N_HI | Ir | instructions/call |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for c in "${CLIENTS[@]}"; do
        for m in get post typed; do
            echo "| ${NAME[$c]} | ${LABEL[$m]} | ${RAW[$c-$m]} | $(commas "${PER[$c-$m]}") |"
        done
    done
    echo
    echo "Commit $rev; $(valgrind --version); $(rustc --version | cut -d' ' -f1-2);" \
        "$(nproc) cores; $(date -u +%F). callgrind.out files: $WORK/out."
}
if [ -n "$OUT" ]; then report | tee "$OUT"; else report; fi
