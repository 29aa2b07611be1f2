#!/usr/bin/env bash
# Sets up, builds and runs every test: the sanitizer tree (clang-16, ASan+UBSan,
# with the libFuzzer targets) through ctest, then the CUnit suites of the normal
# build, whose summary ends the output. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh test || exit 1

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDINOC_WERROR=ON >/dev/null &&
  cmake --build build -j"$jobs" || exit 1
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang-16 -DCMAKE_BUILD_TYPE=Debug \
      -DDINOC_SANITIZE=ON -DDINOC_FUZZ=ON -DDINOC_WERROR=ON >/dev/null &&
  cmake --build build-asan -j"$jobs" || exit 1

status=0
echo "== sanitizer build (ASan+UBSan) and fuzzing, through ctest"
ctest --test-dir build-asan --output-on-failure || status=1
echo "== unit, integration and conformance suites (CUnit)"
build/tests/dinoc_tests || status=1
exit $status
