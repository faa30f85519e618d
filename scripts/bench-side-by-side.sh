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
BENCH=$ROOT/target/bench/work
PORT=${SBS_PORT:-18443}
ARGS=("$@")
UPLOAD=1
for a in "$@"; do [ "$a" = --no-upload ] && UPLOAD=0; done
ARGS=("${ARGS[@]/--no-upload}")

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ ! -x /usr/sbin/nginx ] || [ ! -e /usr/lib/nginx/modules/ngx_http_echo_module.so ] || [ ! -x /usr/bin/time ] || [ ! -x /usr/bin/wrk ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nginx-light libnginx-mod-http-echo time curl openssl wrk
fi
bash tests/peers/setup.sh >/dev/null
PY=$ROOT/target/peers/venv/bin/python

mkdir -p "$BENCH"/{logs,tls,www/api2/json/cluster,tmp/body}
if [ ! -s "$BENCH/tls/cert.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$BENCH/tls/key.pem" -out "$BENCH/tls/cert.pem" -days 365 -subj "/CN=sbs-bench" \
        -addext basicConstraints=critical,CA:FALSE \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
fi
[ -s "$BENCH/www/api2/json/cluster/resources" ] ||
    "$PY" tests/sidebyside/py/gen_resources.py "$BENCH/www/api2/json/cluster/resources" >/dev/null
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
sed -e "s#@BENCH@#$BENCH#g" -e "s#@PORT@#$PORT#g" -e "s#@BODYTMP@#$BODYTMP#g" tests/sidebyside/nginx.conf.in > "$BENCH/nginx.conf"
nginx -t -q -c "$BENCH/nginx.conf"
nginx -c "$BENCH/nginx.conf" -g 'daemon off;' > "$BENCH/logs/nginx.stdout" 2>&1 &
NGINX=$!
trap 'kill $NGINX 2>/dev/null || true; case $BODYTMP in /dev/shm/*) rm -rf "$BODYTMP";; esac' EXIT
for _ in $(seq 50); do curl -s -o /dev/null --cacert "$BENCH/tls/cert.pem" "https://127.0.0.1:$PORT/api2/json/version" && break; sleep 0.1; done

cargo build --release -q -p proxmox-sidebyside --bin sbs-bench
UP=()
[ "$UPLOAD" = 1 ] && UP=(--upload "$FILE")
[ "$UPLOAD" = 1 ] && [ -s "$FILE4" ] && UP+=(--upload4 "$FILE4")
target/release/sbs-bench run --host "127.0.0.1:$PORT" --ca "$BENCH/tls/cert.pem" \
    --python "$PY" --py tests/sidebyside/py --out target/bench/side-by-side.md "${UP[@]}" ${ARGS[@]+"${ARGS[@]}"}
{
    echo; echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM; $(date -u +%F)"
} >> target/bench/side-by-side.md
