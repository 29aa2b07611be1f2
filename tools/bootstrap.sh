#!/usr/bin/env bash
# Installs the Debian 12 packages dinoc needs, idempotently: `apt-get update` runs only
# when something is missing. Usage: tools/bootstrap.sh [build|test|reference]...
#   build      compilers and libraries to build dinoc (default)
#   test       build + what the test suite reads (ONNX node tests, onnx checker, clang fuzzer)
#   reference  test + PyTorch and ONNX Runtime, only for regenerating goldens and benchmarks
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev
            libdnnl-dev llvm-16-dev libcunit1-dev libjson-c-dev libyaml-dev
            zlib1g-dev libjpeg62-turbo-dev libpng-dev
            libopenmpi-dev openmpi-bin dataset-fashion-mnist gnuplot-nox)
test_pkgs=(libonnx-testdata python3-onnx python3-numpy clang-16 libclang-rt-16-dev libomp-16-dev)
reference_pkgs=(python3-torch libopenblas0-openmp)
# Node.js and npm (for onnxruntime-node) come from Debian only where the machine has none:
# a Node.js installed otherwise conflicts with Debian's npm package.

want=("${build_pkgs[@]}")
for profile in "${@:-build}"; do
  case "$profile" in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    reference)
      want+=("${test_pkgs[@]}" "${reference_pkgs[@]}")
      command -v npm >/dev/null || want+=(nodejs npm) ;;
    *) echo "bootstrap: unknown profile '$profile' (expected build, test or reference)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for Node is only a reference, installed exactly as tools/bench/package-lock.json
# pins it (`npm ci` never rewrites package.json or the lockfile, so the tree stays clean), again
# whenever the lockfile is newer than the install. Its install script would try to download GPU
# binaries, which this machine cannot reach, so it is skipped (the CPU binary ships in the tarball).
bench="$(dirname "$0")/bench"
for profile in "${@:-build}"; do
  if [ "$profile" = reference ] && { [ ! -d "$bench/node_modules/onnxruntime-node" ] ||
       [ "$bench/package-lock.json" -nt "$bench/node_modules/.package-lock.json" ]; }; then
    (cd "$bench" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
  fi
done
echo "bootstrap: all packages present"
