#!/usr/bin/env bash
# Install the real test peers (pinned) that the proxmox-testbed launchers use.
#
#   tests/peers/setup.sh [--no-ssh]
#
# - a Python venv under <repo>/target/peers/venv with fakepve, proxmoxer and friends (pinned);
# - Debian's openssh-server (for `sshd`) unless --no-ssh, plus /run/sshd.
#
# Idempotent: a stamp file records what was installed; a second run is a fast no-op.
# Needs network access to PyPI and Debian's package mirrors on the first run only.
# Exit code 0 = ready; anything else = a message on stderr naming what is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
peers="${PROXMOX_TESTBED_DIR:-$repo/target/peers}"
venv="$peers/venv"

# Pinned versions (reference: test-peers.md section 0).
PIP_PINS=(
    'fakepve[crypto]==0.5.0'
    'proxmoxer==2.3.0'
    'requests==2.34.2'
    'requests-toolbelt==1.0.0'
    'paramiko==5.1.0'
    'openssh-wrapper==0.4'
)
pins_id="$(printf '%s\n' "${PIP_PINS[@]}" | sha256sum | cut -c1-16)"
stamp="$venv/.testbed-stamp-$pins_id"

want_ssh=1
for arg in "$@"; do
    case "$arg" in
        --no-ssh) want_ssh=0 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

log() { echo "setup.sh: $*" >&2; }

# One setup at a time (parallel test processes may all call this script).
mkdir -p "$peers"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$peers/.setup.lock"
    flock 9
fi

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "need Debian package(s) $* but apt-get is not available; install them by hand"
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        log "need Debian package(s) $* but not root; run: sudo apt-get install -y $*"
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- Python venv with pinned peers -------------------------------------------------------------
if [ ! -f "$stamp" ] || [ ! -x "$venv/bin/fakepve" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
        apt_install python3
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    mkdir -p "$peers"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating venv $venv"
        python3 -m venv "$venv"
    fi
    log "pip install ${PIP_PINS[*]}"
    "$venv/bin/pip" install -q --disable-pip-version-check "${PIP_PINS[@]}" >&2
    "$venv/bin/fakepve" --version >/dev/null
    rm -f "$venv"/.testbed-stamp-*
    date -u +%FT%TZ > "$stamp"
fi

# --- OpenSSH server ----------------------------------------------------------------------------
if [ "$want_ssh" = 1 ]; then
    if [ ! -x /usr/sbin/sshd ]; then
        apt_install openssh-server
    fi
    if [ ! -d /run/sshd ]; then
        # sshd refuses to start without its privilege separation directory.
        mkdir -p /run/sshd 2>/dev/null || log "warning: cannot create /run/sshd (sshd will not start)"
    fi
fi

echo "$venv"
