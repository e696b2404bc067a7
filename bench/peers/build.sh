#!/usr/bin/env bash
# Builds the compiled peers that are not C into the build directory:
#   Tokio (current-thread runtime): cargo, offline, against Debian's
#     librust-*-dev directory registry (/usr/share/cargo/registry), from a
#     copy of bench/peers/tokio under BUILD (the source tree stays clean);
#   Go: GO111MODULE=off go build, one binary per bench/peers/go/*.go.
# Never fails: for each peer it writes one line to BUILD/bench/peers/status,
# "tokio ok" or "tokio unavailable: <why>", which bench/run.sh prints in the
# table for every row the peer would have had.
#
#   bench/peers/build.sh BUILD
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: build.sh BUILD}
dest=$build/bench/peers
mkdir -p "$dest"
status=$dest/status
: >"$status"
registry=/usr/share/cargo/registry

build_tokio() {
    local src=$dest/tokio-src log=$dest/tokio-build.log
    local cargo=/usr/bin/cargo  # Debian's, not a rustup one on PATH
    [ -x "$cargo" ] || cargo=$(command -v cargo)
    if [ -z "$cargo" ]; then
        echo "tokio unavailable: no cargo (Debian: cargo rustc librust-tokio-dev)" >>"$status"
        return
    fi
    if ! ls -d "$registry"/tokio-1.* >/dev/null 2>&1; then
        echo "tokio unavailable: no Tokio in $registry (Debian: librust-tokio-dev)" >>"$status"
        return
    fi
    mkdir -p "$src/.cargo" "$dest/tokio"
    rm -rf "$src/src" "$src/Cargo.lock" # the lock is resolved afresh, offline
    cp -r "$here/tokio/Cargo.toml" "$here/tokio/src" "$src/"
    cat >"$src/.cargo/config.toml" <<CFG
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "$registry"
[net]
offline = true
CFG
    echo "== building the Tokio peer (cargo, offline; log: $log)" >&2
    if ! (cd "$src" && RUSTC=$(dirname "$cargo")/rustc "$cargo" build --release --offline --target-dir "$dest/tokio-target") >"$log" 2>&1; then
        echo "tokio unavailable: cargo build failed (see $log: $(grep -m1 -E '^error' "$log"))" >>"$status"
        return
    fi
    for b in "$src"/src/bin/*.rs; do
        b=$(basename "$b" .rs)
        cp "$dest/tokio-target/release/$b" "$dest/tokio/$b"
    done
    echo "tokio ok $("$cargo" --version 2>/dev/null), tokio $(ls -d "$registry"/tokio-1.* | sed 's/.*tokio-//' | head -1)" >>"$status"
}

build_go() {
    local log=$dest/go-build.log
    if ! command -v go >/dev/null; then
        echo "go unavailable: no go (Debian: golang-go)" >>"$status"
        return
    fi
    mkdir -p "$dest/go"
    : >"$log"
    echo "== building the Go peer (log: $log)" >&2
    for f in "$here"/go/*.go; do
        if ! GO111MODULE=off GOCACHE="$dest/go-cache" go build -o "$dest/go/$(basename "$f" .go)" "$f" >>"$log" 2>&1; then
            echo "go unavailable: go build $(basename "$f") failed (see $log)" >>"$status"
            return
        fi
    done
    echo "go ok $(go version | awk '{print $3}')" >>"$status"
}

build_tokio
build_go
cat "$status" >&2
