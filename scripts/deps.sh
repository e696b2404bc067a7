#!/usr/bin/env bash
# Installs the Debian packages a make target needs and are missing, saying
# which. Groups: build test examples bench cross. Silent when nothing is missing.
set -euo pipefail

declare -A pkgs=(
    [build]="gcc make pkg-config liburing-dev"
    [test]="libcmocka-dev"
    [examples]="libstb-dev"
    [bench]="libuv1-dev python3 python3-uvloop gnuplot-nox"
    [cross]="gcc-aarch64-linux-gnu qemu-user libc6-dev-arm64-cross"
)

missing=()
for group in "$@"; do
    [ -n "${pkgs[$group]:-}" ] || { echo "deps.sh: unknown group '$group'" >&2; exit 2; }
    for p in ${pkgs[$group]}; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "deps.sh: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: installed ${missing[*]}"
