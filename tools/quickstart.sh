#!/usr/bin/env bash
# The README's first command: set up a fresh Debian 12 machine, build dinoc and
# run its main job as far as it exists. Today that is reading an ONNX model into
# dinoc's IR, verifying it, inferring its shapes, printing it and writing it back;
# training on Fashion-MNIST replaces this as the training issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

model=/usr/share/libonnx-testdata/data/node/test_layer_normalization_4d_axis1_expanded/model.onnx
mkdir -p runs
build/dinoc inspect "$model" --dot runs/layer_norm.dot
build/dinoc convert "$model" runs/layer_norm.onnx
echo "quickstart: wrote runs/layer_norm.onnx and runs/layer_norm.dot; see 'build/dinoc help'"
