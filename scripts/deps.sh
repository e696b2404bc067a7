#!/usr/bin/env bash
# Installs the Debian packages that the given groups need and that are missing.
#
#   scripts/deps.sh GROUP...     groups: build test examples bench cross
#
# Prints exactly which packages it installs; prints nothing when nothing is
# missing. Runs apt-get (through sudo when not root) non-interactively, with
# one `apt-get update` first, and only when something is missing.
# CIO_NO_DEPS=1 skips the whole step (you install packages yourself).
set -euo pipefail

# libc6-dev is only a Recommends of gcc, and recommends are not installed.
declare -A group_pkgs=(
    [build]="gcc libc6-dev make pkg-config liburing-dev"
    [test]="libcmocka-dev libstb-dev nginx-light"
    [examples]="libstb-dev"
    [bench]="libuv1-dev python3 python3-uvloop gnuplot-nox fio"
    [cross]="gcc-aarch64-linux-gnu qemu-user libc6-dev-arm64-cross"
)

# Optional modules add groups (or packages to a group) in scripts/deps.d/*.txt,
# one "group: package package ..." per line; '#' starts a comment.
for f in "$(dirname "$0")"/deps.d/*.txt; do
    [ -f "$f" ] || continue
    while IFS= read -r line; do
        line=${line%%#*}
        case $line in *:*) ;; *) continue ;; esac
        g=${line%%:*}
        g=${g//[[:space:]]/}
        [ -n "$g" ] && group_pkgs[$g]="${group_pkgs[$g]-} ${line#*:}"
    done <"$f"
done

wanted=()
for group in "$@"; do
    if [ -z "${group_pkgs[$group]+set}" ]; then
        echo "deps.sh: unknown group '$group' (known: ${!group_pkgs[*]})" >&2
        exit 2
    fi
    for p in ${group_pkgs[$group]}; do
        case " ${wanted[*]-} " in *" $p "*) ;; *) wanted+=("$p") ;; esac
    done
done
[ ${#wanted[@]} -eq 0 ] && exit 0
[ "${CIO_NO_DEPS:-0}" = 1 ] && exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; make sure these (Debian names) are installed: ${wanted[*]}" >&2
    exit 0
fi

missing=()
for p in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps.sh: missing packages: ${missing[*]}" >&2
        echo "deps.sh: not root and no sudo; install them as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    # With no terminal (CI), never wait for a password prompt.
    if [ -t 0 ]; then as_root=(sudo); else as_root=(sudo -n); fi
fi

echo "deps.sh: installing ${missing[*]}"
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${apt[@]}" update >"$log" 2>&1 ||
    ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "deps.sh: could not install ${missing[*]}" >&2
    exit 1
fi
