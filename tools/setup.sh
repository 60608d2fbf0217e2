#!/usr/bin/env bash
# Installs the Debian packages clipcap links against (when missing) and, with --build,
# builds the release binary; --portability adds what tools/check_portability.sh needs. Safe to run repeatedly: it installs nothing already present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libopenblas-dev libzstd-dev libpng-dev libjpeg-dev libarchive-dev)
# --portability (tools/check_portability.sh, CI): the aarch64 C headers and libraries and qemu,
# to compile the C kernels for aarch64 and run their self-test there.
if [ "${1:-}" = "--portability" ]; then
    packages+=(libc6-dev-arm64-cross libgcc-12-dev-arm64-cross qemu-user-static)
fi
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null; then SUDO="sudo"; else
            echo "setup: need root to install ${missing[*]} (run: apt-get install -y ${missing[*]})" >&2; exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! pkg-config --exists openblas; then
    echo "setup: pkg-config cannot find openblas after installing libopenblas-dev" >&2; exit 1
fi

if [ "${1:-}" = "--build" ]; then
    swift build -c release --product clipcapctl 2>&1 | grep -vE "^\[[0-9]+/[0-9]+\]" >&2 || true
    test -x .build/release/clipcapctl || { echo "setup: release build failed" >&2; exit 1; }
fi
