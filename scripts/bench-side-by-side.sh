#!/usr/bin/env bash
# Side-by-side benchmarks with proxmoxer: one command, installs its peers like the test command.
#
#   scripts/bench-side-by-side.sh [--runs N] [--no-upload]
#                                 [--only version,resources,create,fanout,startup,ssh,upload]
#
# Peers: nginx-light + libnginx-mod-http-echo + wrk + time from Debian (apt, when missing);
# the venv with fakepve, proxmoxer 2.3.0, requests-toolbelt, paramiko and openssh-wrapper, and
# openssh-server (tests/peers/setup.sh). nginx serves canned
# PVE answers over TLS on 127.0.0.1 (tests/sidebyside/nginx.conf.in); the harness
# (tests/sidebyside/src/bin/sbs-bench.rs, release build) runs every client against it and
# writes target/bench/side-by-side.md. Needs ~1.1 GB free disk for the upload file (and adds a
# 4 GiB upload when more than 12 GiB are free).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/nginx-stand-in.sh
BENCH=$ROOT/target/bench/work
PORT=${SBS_PORT:-18443}
ARGS=("$@")
UPLOAD=1
for a in "$@"; do [ "$a" = --no-upload ] && UPLOAD=0; done
ARGS=("${ARGS[@]/--no-upload}")

if [ ! -x /usr/sbin/nginx ] || [ ! -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || [ ! -x /usr/bin/time ] || [ ! -x /usr/bin/wrk ]; then
    nginx_stand_in_install time wrk
fi
bash tests/peers/setup.sh >/dev/null
PY=$ROOT/target/peers/venv/bin/python

nginx_stand_in_prepare "$BENCH" "$PY"
FILE=$BENCH/bench-1g.iso
if [ "$UPLOAD" = 1 ] && [ ! -s "$FILE" ]; then
    head -c 1073741824 /dev/urandom > "$FILE"
fi
BODYTMP=$BENCH/tmp/body
if [ -d /dev/shm ] && [ -w /dev/shm ]; then BODYTMP=/dev/shm/sbs-bench-body-$$; mkdir -p "$BODYTMP"; fi
# The 4 GiB upload when the disk has room for it and for nginx's spooled copy (tmpfs or disk).
FILE4=$BENCH/bench-4g.iso
if [ "$UPLOAD" = 1 ] && [ ! -s "$FILE4" ] && [ "$(df -k --output=avail "$BENCH" | tail -1)" -gt $((12 * 1024 * 1024)) ]; then
    head -c 4294967296 /dev/urandom > "$FILE4"
fi
nginx_stand_in_start "$BENCH" "$PORT" "$BODYTMP"
NGINX=$NGINX_PID
trap 'kill $NGINX 2>/dev/null || true; case $BODYTMP in /dev/shm/*) rm -rf "$BODYTMP";; esac' EXIT
nginx_stand_in_wait "$BENCH" "$PORT"

cargo build --release -q -p proxmox-sidebyside --bin sbs-bench
UP=()
[ "$UPLOAD" = 1 ] && UP=(--upload "$FILE")
[ "$UPLOAD" = 1 ] && [ -s "$FILE4" ] && UP+=(--upload4 "$FILE4")
target/release/sbs-bench run --host "127.0.0.1:$PORT" --ca "$BENCH/tls/cert.pem" \
    --python "$PY" --py tests/sidebyside/py --out target/bench/side-by-side.md "${UP[@]}" ${ARGS[@]+"${ARGS[@]}"}
{
    echo; echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM; $(date -u +%F)"
} >> target/bench/side-by-side.md
