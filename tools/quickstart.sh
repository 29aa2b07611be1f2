#!/usr/bin/env bash
# The README's first command: set up a fresh Debian 12 machine, build dinoc and
# run its main job as far as it exists. Today: compile a PyTorch-exported ViT
# and run it, then compile a training step of a small torch-exported model and
# train it for ten steps. Training DINOv2 on Fashion-MNIST replaces this as the
# DINOv2 training work lands.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

models=tests/models
mkdir -p runs/quickstart
cd runs/quickstart
../../build/dinoc compile "../../$models/tiny_vit.onnx" -o tiny_vit.dnc
../../build/dinoc run tiny_vit.dnc -i "pixels=../../$models/tiny_vit_input.npy" -o vit_out --npy

../../build/dinoc compile --train "../../$models/grad_model.onnx" --loss loss --clip 0.5 \
    --group '*bias:lr_scale=0.5,decay=0' --group 'norm*:lr_scale=0.5,decay=0' -o train.dnc
../../build/dinoc run train.dnc -i "x=../../$models/grad_x.npy" -i "target=../../$models/grad_target.npy" \
    --scalar lr=0.05 --scalar weight_decay=0.1 --steps 10 --save-state state -o train_out
echo "quickstart: artifacts, outputs and trained state are in runs/quickstart/"
