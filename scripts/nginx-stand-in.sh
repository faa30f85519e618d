# shellcheck shell=bash
# The local nginx stand-in for pveproxy (canned PVE answers over TLS on 127.0.0.1), shared by
# scripts/bench-side-by-side.sh and scripts/callgrind-per-call.sh. Source it from the
# repository root; it defines functions only.
#
#   nginx_stand_in_install [PKG...]       apt-get nginx-light, its echo module, curl, openssl, PKG
#   nginx_stand_in_prepare DIR PYTHON     certificate and 5,000-guest listing under DIR (kept)
#   nginx_stand_in_start DIR PORT BODYTMP nginx.conf from tests/sidebyside/nginx.conf.in, nginx
#                                         in the background (its pid in NGINX_PID)
#   nginx_stand_in_wait DIR PORT          until GET /version answers (5 s at most)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

nginx_stand_in_install() {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nginx-light libnginx-mod-http-echo curl openssl "$@"
}

nginx_stand_in_prepare() {
    local dir=$1 py=$2
    mkdir -p "$dir"/{logs,tls,www/api2/json/cluster,tmp/body}
    if [ ! -s "$dir/tls/cert.pem" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" -days 365 -subj "/CN=sbs-bench" \
            -addext basicConstraints=critical,CA:FALSE \
            -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
    fi
    [ -s "$dir/www/api2/json/cluster/resources" ] ||
        "$py" tests/sidebyside/py/gen_resources.py "$dir/www/api2/json/cluster/resources" >/dev/null
}

nginx_stand_in_start() {
    local dir=$1 port=$2 bodytmp=$3
    sed -e "s#@BENCH@#$dir#g" -e "s#@PORT@#$port#g" -e "s#@BODYTMP@#$bodytmp#g" \
        tests/sidebyside/nginx.conf.in > "$dir/nginx.conf"
    nginx -t -q -c "$dir/nginx.conf"
    nginx -c "$dir/nginx.conf" -g 'daemon off;' > "$dir/logs/nginx.stdout" 2>&1 &
    NGINX_PID=$!
}

nginx_stand_in_wait() {
    local dir=$1 port=$2
    for _ in $(seq 50); do
        curl -s -o /dev/null --cacert "$dir/tls/cert.pem" "https://127.0.0.1:$port/api2/json/version" && return 0
        sleep 0.1
    done
    echo "nginx on 127.0.0.1:$port did not answer (see $dir/logs)" >&2
    return 1
}
