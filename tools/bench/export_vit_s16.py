#!/usr/bin/python3
"""Exports ViT-S/16 (224x224, patch 16, dim 384, depth 12, 6 heads, 1000 classes) with
PyTorch at opset 17 for the forward benchmark, at a fixed batch size.

usage: export_vit_s16.py OUT.onnx BATCH
The architecture is timm's vit_small_patch16_224 (pre-norm blocks, qkv attention,
erf GELU, LayerNorm eps 1e-6); weights are random (seed 0): the benchmark measures
time, not accuracy. Also used by bench_forward.py to time PyTorch itself.
"""
import sys

import torch
from torch import nn

IMAGE, PATCH, DIM, DEPTH, HEADS, CLASSES = 224, 16, 384, 12, 6, 1000


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM, eps=1e-6)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.norm2 = nn.LayerNorm(DIM, eps=1e-6)
        self.fc1 = nn.Linear(DIM, 4 * DIM)
        self.fc2 = nn.Linear(4 * DIM, DIM)

    def attention(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * (d // HEADS) ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class ViTSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, DIM, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, DIM) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (IMAGE // PATCH) ** 2, DIM) * 0.02)
        self.blocks = nn.Sequential(*[Block() for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def build():
    torch.manual_seed(0)
    return ViTSmall().eval()


if __name__ == "__main__":
    out, batch = sys.argv[1], int(sys.argv[2])
    x = torch.randn(batch, 3, IMAGE, IMAGE)
    torch.onnx.export(build(), x, out, opset_version=17, input_names=["pixels"],
                      output_names=["logits"])
