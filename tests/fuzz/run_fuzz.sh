#!/bin/sh
# Runs one fuzz target for longer than ctest does (see README.md here).
#
#   [DINOC_FUZZ_TARGET=NAME] tests/fuzz/run_fuzz.sh [BUILD_DIR] [SECONDS] [JOBS] [extra libFuzzer flags...]
#
# NAME is onnx_load (the default), plan_load, safetensors_load, idx_load or
# image_load. BUILD_DIR defaults to build-asan (configured with -DDINOC_FUZZ=ON),
# SECONDS to 3600, JOBS to the number of CPUs. The corpus grows in
# BUILD_DIR/tests/fuzz/corpus/NAME, crashes land in BUILD_DIR/tests/fuzz/artifacts;
# the source tree is never written.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-asan}
secs=${2:-3600}
jobs=${3:-$(nproc)}
[ $# -gt 3 ] && shift 3 || set --
target=${DINOC_FUZZ_TARGET:-onnx_load}
fuzz=$build/tests/fuzz
case $target in
onnx_load) seeds=$fuzz/seed_corpus; dict=-dict=$here/onnx.dict ;;
plan_load) seeds=$fuzz/seed_corpus_files/plan; dict=-dict=$here/plan.dict ;;
safetensors_load) seeds=$fuzz/seed_corpus_files/safetensors; dict=-dict=$here/safetensors.dict ;;
idx_load) seeds=$fuzz/seed_corpus_files/idx; dict= ;;
image_load) seeds=$fuzz/seed_corpus_files/image; dict="-malloc_limit_mb=1024 -timeout=30" ;; # CMakeLists.txt says why
*) echo "run_fuzz.sh: unknown target '$target'" >&2; exit 2 ;;
esac
cmake --build "$build" --target "fuzz_$target" -j"$jobs"
mkdir -p "$fuzz/corpus/$target" "$fuzz/artifacts"
exec "$fuzz/fuzz_$target" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -max_len=65536 -timeout=10 -print_final_stats=1 $dict \
    -fork="$jobs" -artifact_prefix="$fuzz/artifacts/" "$@" \
    "$fuzz/corpus/$target" "$seeds"
