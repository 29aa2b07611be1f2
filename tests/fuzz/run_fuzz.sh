#!/bin/sh
# Runs the ONNX loader fuzzer for longer than ctest does (see README.md here).
#
#   tests/fuzz/run_fuzz.sh [BUILD_DIR] [SECONDS] [JOBS] [extra libFuzzer flags...]
#
# BUILD_DIR defaults to build-asan (configured with -DDINOC_FUZZ=ON), SECONDS to
# 3600, JOBS to the number of CPUs. The corpus grows in BUILD_DIR/tests/fuzz/corpus,
# crashes land in BUILD_DIR/tests/fuzz/artifacts; the source tree is never written.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-asan}
secs=${2:-3600}
jobs=${3:-$(nproc)}
[ $# -gt 3 ] && shift 3 || set --
fuzz=$build/tests/fuzz
cmake --build "$build" --target fuzz_onnx_load -j"$jobs"
mkdir -p "$fuzz/corpus/onnx_load" "$fuzz/artifacts"
exec "$fuzz/fuzz_onnx_load" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -max_len=65536 -timeout=10 -print_final_stats=1 -dict="$here/onnx.dict" \
    -fork="$jobs" -artifact_prefix="$fuzz/artifacts/" "$@" \
    "$fuzz/corpus/onnx_load" "$fuzz/seed_corpus"
