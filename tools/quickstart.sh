#!/usr/bin/env bash
# The README's first command: set up a fresh Debian 12 machine, build dinoc and run its
# main job: train the default DINOv2 config (fashion-mnist: a small ViT on Debian's
# Fashion-MNIST package) for about ten minutes on two cores, then measure the teacher's
# k-NN accuracy beside two baselines (raw pixels, an untrained backbone). dinoc train's
# summary: the accuracies and where the checkpoint, log and plot are; then a patch-feature
# PCA picture (runs/quickstart/pca.png).
# Ctrl-C writes a checkpoint; running this again continues the run (delete
# runs/quickstart to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

out=runs/quickstart
resume=()
if [ -f "$out/checkpoint.safetensors" ]; then
  echo "quickstart: continuing the run in $out (delete it to start over)"
  resume=(--resume)
fi
build/dinoc train --config fashion-mnist --out "$out" --threads "$(nproc)" "${resume[@]}"
# What the teacher learned, as DINOv2 pictures it: the first three principal components of its
# patch features on eight test images (RGB, background black), beside the images.
build/dinoc pca "$out/checkpoint.safetensors" -o "$out/pca.png" --threads "$(nproc)"
