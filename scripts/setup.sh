#!/usr/bin/env bash
# setup.sh - install the Debian packages astroenh needs to build, test and train.
#
#   scripts/setup.sh           install what is missing (apt-get update only then)
#   scripts/setup.sh --check   exit 0 when everything is installed, 1 otherwise
set -euo pipefail

PACKAGES=(
    build-essential pkg-config zlib1g-dev libcfitsio-dev wcslib-dev libpng-dev libjpeg62-turbo-dev libopenblas-dev
    libcjson-dev libcmocka-dev clang libclang-rt-14-dev
    python3-numpy python3-pil python3-torch python3-scipy python3-skimage python3-opencv
    python3-astropy python3-matplotlib python3-astroscrappy
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
    if ((${#missing[@]})); then
        echo "setup: missing: ${missing[*]}" >&2
        exit 1
    fi
    exit 0
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/setup.sh [--check]" >&2
    exit 2
fi

if ((${#missing[@]} == 0)); then
    echo "setup: all ${#PACKAGES[@]} packages are installed"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
