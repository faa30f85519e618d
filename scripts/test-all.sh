#!/usr/bin/env bash
# The one command that installs what the tests need and runs them all.
# Usage: scripts/test-all.sh            (from anywhere; works on a fresh Debian 12 machine)
# Environment: CI=true makes every missing peer a hard failure instead of a loud skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "toolchain"
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust (rustup) first" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
fi

# Build dependencies of libssh2-sys (the ssh2 transport of proxmox-cli).
if command -v apt-get >/dev/null 2>&1 && ! dpkg -s libssl-dev zlib1g-dev pkg-config >/dev/null 2>&1; then
    step "build dependencies for ssh2 (libssl-dev, zlib1g-dev, pkg-config)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl-dev zlib1g-dev pkg-config
fi

if [ -x tests/peers/setup.sh ]; then
    step "test peers (venv with pinned fakepve/proxmoxer under target/peers, sshd)"
    tests/peers/setup.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --all-features -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "cargo clippy proxmox-wasm for wasm32-unknown-unknown -D warnings"
cargo clippy -p proxmox-wasm --target wasm32-unknown-unknown --all-targets --all-features -- -D warnings

step "cargo test --workspace --all-features (both async transports, ssh2, peers)"
cargo test --workspace --all-features

step "proxmox-wasm: node tests, bundle size, JS API smoke, headless Chromium tests, dashboard e2e"
wasm-adapter/scripts/test.sh

step "5 GiB streamed upload in constant memory (release; ignored by default)"
cargo test --release --all-features -p proxmox-ureq --test big_upload -- --ignored --nocapture

step "short fuzz run: 10 s per target (nightly + cargo-fuzz; skipped with a message otherwise)"
if cargo +nightly --version >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 || echo "fuzz: could not install cargo-fuzz"
fi
fuzz/run-all 10 || { echo "fuzz: a target failed; inputs in fuzz/regressions/, logs in fuzz/logs/" >&2; exit 1; }

step "core builds for wasm32-unknown-unknown"
cargo check -p proxmox-proto --target wasm32-unknown-unknown

step "core docs build without warnings"
RUSTDOCFLAGS=-Dwarnings cargo doc -p proxmox-proto --no-deps

step "core has no IO dependency"
bad=$(cargo tree -p proxmox-proto -e normal --prefix none | cut -d' ' -f1 | sort -u \
    | grep -xE 'ureq|surf|async-std|reqwest|hyper|tokio|ssh2|openssl|libssh2-sys|wasm-bindgen-futures|rand|getrandom|tungstenite' || true)
if [ -n "$bad" ]; then
    echo "proxmox-proto depends on IO crates: $bad" >&2
    exit 1
fi

echo
echo "all checks passed in $(( $(date +%s) - started )) s"
