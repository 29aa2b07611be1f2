#!/usr/bin/python3
"""Reference gradients and AdamW steps from PyTorch for dinoc's training tests.

The model has what a ViT block has: LayerNorm, erf-GELU, softmax attention,
residuals, and one weight shared by two branches (as the student backbone is
shared by global and local crops). Its output is a scalar loss, so the ONNX
export (opset 17) is a graph dinoc can differentiate.

Writes into the directory given as argv[1] (default: next to this script):
  grad_model.onnx             the model; inputs x [2,5,8], target [2,5,8]; output loss
  grad_x.npy, grad_target.npy the inputs
  grad_<param>.npy            d loss / d param for every parameter (gradient check)
  adamw_<param>.npy           every parameter after 10 AdamW steps with two param
                              groups and gradient clipping (optimizer check)
  adamw_losses.npy            the loss before each of those steps
  clipsets_<param>.npy        every parameter after 10 AdamW steps whose gradients are
                              clipped as two sets, each by its own norm (two
                              clip_grad_norm_ calls, as the official DINOv2 clips each
                              student module): norm, qkv and proj at CLIP_A, the rest
                              (shared, fc) at CLIP_B
  clipsets_losses.npy         the loss before each of those steps
The AdamW settings are mirrored by tests/passes/test_training.c.
Run with /usr/bin/python3 (python3-torch). Deterministic: seed 0.
"""
import os
import sys

import numpy as np
import torch
from torch import nn

DIM, TOKENS, BATCH, HEADS = 8, 5, 2, 2
LR, WEIGHT_DECAY, CLIP, STEPS = 0.05, 0.1, 0.5, 10
CLIP_A, CLIP_B = 0.2, 0.3


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM, eps=1e-6)
        # No qkv bias: the key bias gets an exactly-zero gradient (softmax is
        # shift-invariant), so Adam's first steps on it follow the sign of
        # rounding noise, which no two implementations share.
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.proj = nn.Linear(DIM, DIM)
        self.shared = nn.Parameter(torch.randn(DIM, DIM) * 0.3)
        self.fc = nn.Linear(DIM, DIM)

    def forward(self, x, target):
        h = self.norm(x)
        b, n, d = h.shape
        q, k, v = self.qkv(h).reshape(b, n, 3, HEADS, d // HEADS).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * (d // HEADS) ** -0.5).softmax(dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        # The shared weight feeds two branches.
        y = x + nn.functional.gelu(self.fc(x @ self.shared)) + torch.tanh(x) @ self.shared
        return ((y - target) ** 2).mean()


def param_groups(model):
    """Two groups, as dinoc's --group options in the test: biases and norm
    parameters without weight decay and at half the learning rate."""
    plain, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or name.startswith("norm") else plain).append(p)
    return [{"params": plain, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0, "lr": LR * 0.5}]


def train(model, x, target, clip):
    """STEPS AdamW steps with the two groups; clip(model) clips the gradients."""
    opt = torch.optim.AdamW(param_groups(model), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = model(x, target)
        losses.append(loss.item())
        loss.backward()
        clip(model)
        opt.step()
    return losses


def clip_two_sets(model):
    first = [p for n, p in model.named_parameters() if n.startswith(("norm", "qkv", "proj"))]
    rest = [p for n, p in model.named_parameters() if not n.startswith(("norm", "qkv", "proj"))]
    nn.utils.clip_grad_norm_(first, CLIP_A)
    nn.utils.clip_grad_norm_(rest, CLIP_B)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    model = Model()
    x = torch.randn(BATCH, TOKENS, DIM)
    target = torch.randn(BATCH, TOKENS, DIM)
    torch.onnx.export(model, (x, target), os.path.join(out, "grad_model.onnx"), opset_version=17,
                      input_names=["x", "target"], output_names=["loss"],
                      do_constant_folding=False)
    np.save(os.path.join(out, "grad_x.npy"), x.numpy())
    np.save(os.path.join(out, "grad_target.npy"), target.numpy())

    model(x, target).backward()
    for name, p in model.named_parameters():
        np.save(os.path.join(out, f"grad_{name}.npy"), p.grad.numpy())

    model.zero_grad()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = train(model, x, target, lambda m: nn.utils.clip_grad_norm_(m.parameters(), CLIP))
    for name, p in model.named_parameters():
        np.save(os.path.join(out, f"adamw_{name}.npy"), p.detach().numpy())
    np.save(os.path.join(out, "adamw_losses.npy"), np.array(losses, dtype=np.float32))

    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(start[n])
    model.zero_grad()
    losses = train(model, x, target, clip_two_sets)
    for name, p in model.named_parameters():
        np.save(os.path.join(out, f"clipsets_{name}.npy"), p.detach().numpy())
    np.save(os.path.join(out, "clipsets_losses.npy"), np.array(losses, dtype=np.float32))


if __name__ == "__main__":
    main()
