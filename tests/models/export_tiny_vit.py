#!/usr/bin/python3
"""Exports the small ViT of the compile-and-run tests with PyTorch, opset 17.

The model is a timm-style ViT (patch embedding conv, cls token, learned position
embedding, pre-norm blocks with qkv attention and an erf-GELU MLP, final norm,
linear head) on 28x28x1 images: patch 4, dim 64, depth 2, 2 heads, batch 2.
torch's exporter fills the graph with shape plumbing (Shape, Gather, Unsqueeze,
Concat, ...), which dinoc's constant folding must resolve.

Writes, next to this script (or into the directory given as argv[1]):
  tiny_vit.onnx          the exported model
  tiny_vit_input.npy     the input batch  [2,1,28,28]
  tiny_vit_output.npy    torch's output   [2,10]
Run with /usr/bin/python3 (python3-torch, python3-onnx). Deterministic: seed 0.
"""
import os
import sys

import numpy as np
import torch
from torch import nn

IMAGE, PATCH, DIM, DEPTH, HEADS, CLASSES, BATCH = 28, 4, 64, 2, 2, 10, 2


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * (d // HEADS) ** -0.5
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM, eps=1e-6)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(DIM, eps=1e-6)
        self.fc1 = nn.Linear(DIM, 4 * DIM)
        self.fc2 = nn.Linear(4 * DIM, DIM)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, DIM, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, DIM) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (IMAGE // PATCH) ** 2, DIM) * 0.02)
        self.blocks = nn.Sequential(*[Block() for _ in range(DEPTH)])
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    model = TinyViT().eval()
    x = torch.randn(BATCH, 1, IMAGE, IMAGE)
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, x, os.path.join(out_dir, "tiny_vit.onnx"), opset_version=17,
                      input_names=["pixels"], output_names=["logits"])
    np.save(os.path.join(out_dir, "tiny_vit_input.npy"), x.numpy())
    np.save(os.path.join(out_dir, "tiny_vit_output.npy"), y.numpy())


if __name__ == "__main__":
    main()
