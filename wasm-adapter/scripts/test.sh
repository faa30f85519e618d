#!/usr/bin/env bash
# proxmox-wasm: build the bundle, run the wasm tests under node and in headless Chromium, and
# the dashboard end-to-end test. Installs what is missing (wasm32 target, wasm-bindgen-cli with
# the exact wasm-bindgen version, and as root: node, chromium, chromium-driver from Debian).
#
# Usage: wasm-adapter/scripts/test.sh [node|size|js|browser|dashboard]...   (default: all)
#   node       wasm-bindgen-test tests/web.rs (and web/hostile.rs, web/console.rs) under node
#              against the simulator over HTTPS, its hostile routes on (--hostile); node 20
#              gets --experimental-websocket (NODE_OPTIONS) for the console tests
#   size       release bundle (profile wasm-release) + wasm-bindgen --target web, sizes printed
#              (PROXMOX_WASM_OPT=1 also runs wasm-opt -Oz from the npm package binaryen)
#   js         scripts/smoke.mjs: the JavaScript API from plain JavaScript under node
#   browser    tests/web.rs in headless Chromium, page served by the simulator (same origin)
#   dashboard  the example dashboard end to end in headless Chromium, screenshot in target/
# Environment: CI=true turns a missing peer into a failure (the browser tests never skip then).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# Cargo's target directory may live outside the clone (CI reuses one): ask for it.
cargo_target="${CARGO_TARGET_DIR:-$root/target}"
out="$root/target/wasm-adapter"
mkdir -p "$out"
WB_VERSION=0.2.130

step() { printf '\n==> proxmox-wasm: %s\n' "$*"; }
timed() { local t0; t0=$(date +%s); "$@"; echo "    ($(( $(date +%s) - t0 )) s)"; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "missing $*: run as root, or: sudo apt-get install -y $*" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

ensure_tools() {
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
        || rustup target add wasm32-unknown-unknown
    if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WB_VERSION"; then
        step "installing wasm-bindgen-cli $WB_VERSION (must equal the wasm-bindgen crate; no --locked)"
        timed cargo install wasm-bindgen-cli --version "$WB_VERSION" --force
    fi
    command -v node >/dev/null || { step "installing node"; timed apt_install nodejs; }
}

ensure_browser() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        step "installing chromium and chromium-driver"
        timed apt_install chromium chromium-driver
    fi
}

sim_pid=
sim_url=
stop_sim() { if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; sim_pid=; fi; }
trap stop_sim EXIT

start_sim() {
    cargo build -q -p proxmox-sim --bin proxmox-sim
    : >"$out/sim.log"
    "$cargo_target"/debug/proxmox-sim --port 0 --task-secs 0.3 --hostile --ca-out "$out/sim-ca.pem" >"$out/sim.log" 2>&1 &
    sim_pid=$!
    sim_url=
    for _ in $(seq 100); do
        sim_url=$(sed -n 's/^proxmox-sim PVE listening on //p' "$out/sim.log")
        [ -n "$sim_url" ] && return 0
        sleep 0.1
    done
    cat "$out/sim.log" >&2
    echo "the simulator did not start" >&2
    exit 1
}

# Node 20 has its WebSocket (undici, which the console tests use) behind a flag; later
# versions have it on.
node_options() {
    local o="${NODE_OPTIONS:-}"
    node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' \
        || o="${o:+$o }--experimental-websocket"
    printf '%s' "$o"
}

run_node() {
    step "wasm tests under node $(node --version) against the simulator (HTTPS)"
    start_sim
    NODE_OPTIONS="$(node_options)" PROXMOX_WASM_SIM_URL="$sim_url" NODE_EXTRA_CA_CERTS="$out/sim-ca.pem" \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        timed cargo test --target wasm32-unknown-unknown -p proxmox-wasm
    stop_sim
}

run_js() {
    [ -n "$bundle_built" ] || build_bundle
    step "the JavaScript API from plain JavaScript under node (scripts/smoke.mjs)"
    start_sim
    NODE_EXTRA_CA_CERTS="$out/sim-ca.pem" \
        timed node wasm-adapter/scripts/smoke.mjs "$out/dashboard/pkg" "$sim_url"
    stop_sim
}

bundle_built=
build_bundle() {
    bundle_built=1
    step "release bundle (profile wasm-release: opt-level z, LTO) and wasm-bindgen --target web"
    timed cargo build --profile wasm-release --target wasm32-unknown-unknown -p proxmox-wasm --lib
    local pkg="$out/dashboard/pkg"
    rm -rf "$out/dashboard"
    mkdir -p "$pkg"
    cp wasm-adapter/dashboard/* "$out/dashboard/"
    wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$pkg" \
        "$cargo_target"/wasm32-unknown-unknown/wasm-release/proxmox_wasm.wasm
    # wasm-opt (npm package binaryen) is optional: about 30 s for -11 % raw and +1 % gzipped.
    local wasm_opt=
    if [ "${PROXMOX_WASM_OPT:-0}" = 1 ]; then
        wasm_opt=$(command -v wasm-opt || true)
        if [ -z "$wasm_opt" ]; then
            npm install --no-audit --no-fund --prefix "$out/tools" binaryen >/dev/null
            wasm_opt="$out/tools/node_modules/.bin/wasm-opt"
        fi
    fi
    if [ -n "$wasm_opt" ]; then
        "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-reference-types --enable-multivalue \
            "$pkg/proxmox_wasm_bg.wasm" -o "$pkg/proxmox_wasm_bg.opt.wasm" \
            && mv "$pkg/proxmox_wasm_bg.opt.wasm" "$pkg/proxmox_wasm_bg.wasm"
    fi
    local w="$pkg/proxmox_wasm_bg.wasm"
    echo "    $(basename "$w"): $(stat -c %s "$w") bytes raw, $(gzip -9c "$w" | wc -c) bytes gzip -9${wasm_opt:+ (after wasm-opt -Oz)}"
}

run_browser() {
    ensure_browser
    step "wasm tests in headless Chromium, same origin with the simulator"
    # The test wasm; the native test below generates the runner's page from it and serves it
    # from the simulator's /dashboard/ route.
    cargo test -q --target wasm32-unknown-unknown -p proxmox-wasm --test web --no-run
    PROXMOX_WASM_TEST_WASM=$(ls -t "$cargo_target"/wasm32-unknown-unknown/debug/deps/web-*.wasm | head -n1) \
        timed cargo test -p proxmox-wasm --test browser -- --ignored --test-threads=1 --nocapture wasm_tests_in_chromium
}

run_dashboard() {
    ensure_browser
    [ -n "$bundle_built" ] || build_bundle
    step "dashboard end-to-end in headless Chromium (screenshot: target/wasm-adapter/dashboard.png)"
    PROXMOX_WASM_DASHBOARD="$out/dashboard" \
        timed cargo test -p proxmox-wasm --test browser -- --ignored --test-threads=1 --nocapture dashboard_end_to_end
}

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(node size js browser dashboard)
ensure_tools
for w in "${what[@]}"; do
    case "$w" in
        node) run_node ;;
        size) build_bundle ;;
        js) run_js ;;
        browser) run_browser ;;
        dashboard) run_dashboard ;;
        *) echo "unknown step $w (node|size|js|browser|dashboard)" >&2; exit 2 ;;
    esac
done
