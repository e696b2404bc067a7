#!/usr/bin/env bash
# `make demo`: the main examples on their default data, then the tutorial
# walk-through with its delays scaled down.
set -euo pipefail
build=${1:-build}
run() {
    echo
    echo "\$ $*"
    "$@"
}
[ -x "$build/examples/prime_count" ] && run "$build/examples/prime_count" --mode all
if [ -x "$build/examples/image_pipeline" ]; then
    run "$build/examples/image_pipeline"
fi
[ -x "$build/examples/tls_echo" ] && run "$build/examples/tls_echo"
for t in "$build"/examples/tutorial/*; do
    [ -x "$t" ] && run "$t" -s 0.05
done
# Where the time goes (README "Profiling and tracing"): the pipeline's profile.
[ -x "$build/examples/image_pipeline" ] &&
    run env CIO_PROFILE=1 "$build/examples/image_pipeline" -n 8
echo
echo "demo done"
