#!/usr/bin/python3
"""Reference data for graphs/vit.c (tests/graphs/test_vit.c), from PyTorch.

timm is not installed, so the backbone is written out by hand exactly as timm's
VisionTransformer runs it for Lightly's DINOv2 (graphs/DINOV2.md §2.1): Conv2d patch embedding, cls
token, optional register tokens (after cls, no position embedding: the official
DINOv2 order), learned pos_embed resized for other grids with
F.interpolate(bicubic, align_corners=False, antialias=False) either to the size
(timm) or, with an interpolate offset, by scale_factor (h + offset) / grid (the
official interpolate_pos_encoding), Lightly's mask-token blend before the
position embedding, pre-norm blocks (LayerNorm eps 1e-6, qkv attention,
LayerScale, per-sample drop-path scales, erf-GELU MLP or SwiGLUPacked), final
LayerNorm. Parameter names are timm's state-dict names without registers and
the official DinoVisionTransformer's with them (register_tokens, mask_token
(1, D), SwiGLU w12/w3), as graphs/vit.h lays them out.

Two cases, each run twice with shared parameters the way the student runs:
  a: 3 channels, image 24 (grid 6), patch 4, D 16, depth 2, 2 heads,
     1 register, GELU MLP, LayerScale; global pass with mask and drop-path,
     local pass at 16 px (grid 4: bicubic 6 -> 4 by scale factor 4.1/6,
     interpolate offset 0.1) with drop-path.
  b: 1 channel, image 28 (grid 7), patch 4, D 8, depth 2, 2 heads, SwiGLU,
     no LayerScale; global pass with mask and drop-path, local pass at 12 px
     (grid 3) without drop-path.
The parameters start as §2.1 initialises them; then LayerScale, the norms, the
biases and the mask token are randomised so that every parameter visibly
affects the output (at γ = 1e-5 the blocks would hardly matter).
loss = Σ out_global ⊙ R_global + Σ out_local ⊙ R_local, with the fixed weights
R[i] = float32(sin(0.7·i + 0.3)) over the flattened output (test_vit.c makes the
same ones, so they are not stored). Computed in float64
from float32 data; everything is saved as float32.

Writes, under tests/models/vit_ref/ (or argv[1]):
  <case>/<param name>.npy        parameters
  <case>/grad.<param name>.npy   d loss / d parameter
  <case>/{x_global,x_local,mask,keep_global,keep_local,out_global,
          out_local}.npy             (keep_local absent in case b)
  bicubic_<ih>x<iw>_<oh>x<ow>.npy   torch's float32 bicubic resize matrix
                                    [oh·ow, ih·iw] (interpolating identity images)
  bicubic_offset_<g>x<g>_<oh>x<ow>.npy  the same by scale_factor (o + 0.1) / g
Run with /usr/bin/python3 (python3-torch). Deterministic: seed 0.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CASES = {
    "a": dict(chans=3, image=24, local=16, patch=4, dim=16, depth=2, heads=2, registers=1,
              swiglu=False, layerscale=1e-5, local_keep=True, offset=0.1),
    "b": dict(chans=1, image=28, local=12, patch=4, dim=8, depth=2, heads=2, registers=0,
              swiglu=True, layerscale=0.0, local_keep=False, offset=0.0),
}
BATCH, MLP_RATIO, EPS, DROP = 2, 4.0, 1e-6, 0.25

# (in_h, in_w, out_h, out_w) grids for the bicubic-matrix test.
BICUBIC = [(8, 8, 6, 6), (7, 7, 3, 3), (6, 6, 4, 4), (4, 4, 7, 7), (6, 6, 5, 3), (3, 5, 8, 2),
           (14, 1, 6, 1), (37, 1, 24, 1), (16, 1, 7, 1), (2, 1, 9, 1), (9, 1, 1, 1)]
# (grid, out_h, out_w) for the offset matrices (test_vit.c has the same list).
BICUBIC_OFFSET = [(14, 6, 6), (4, 2, 2), (6, 4, 4), (7, 3, 5), (16, 7, 7), (4, 7, 7), (2, 9, 9),
                  (37, 24, 24)]


def mlp_hidden(cfg):
    if cfg["swiglu"]:  # dinov2 SwiGLUFFNFused
        return (int(cfg["dim"] * MLP_RATIO * 2 / 3) + 7) // 8 * 8
    return int(cfg["dim"] * MLP_RATIO)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # timm Attention, fused_attn=False
        b, n, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * hd ** -0.5
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class LayerScale(nn.Module):
    def __init__(self, dim, init):
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim, hidden, swiglu, official):
        super().__init__()
        self.swiglu = swiglu
        # SwiGLU's linears: timm's SwiGLUPacked fc1/fc2, the official SwiGLUFFN w12/w3
        self.names = ("w12", "w3") if swiglu and official else ("fc1", "fc2")
        setattr(self, self.names[0], nn.Linear(dim, 2 * hidden if swiglu else hidden))
        setattr(self, self.names[1], nn.Linear(hidden, dim))

    def forward(self, x):
        x = getattr(self, self.names[0])(x)
        if self.swiglu:  # timm SwiGLUPacked (GluMlp, gate_last=False) = dinov2 SwiGLUFFN
            x1, x2 = x.chunk(2, dim=-1)
            x = F.silu(x1) * x2
        else:
            x = F.gelu(x)
        return getattr(self, self.names[1])(x)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg["dim"]
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attn = Attention(dim, cfg["heads"])
        self.ls1 = LayerScale(dim, cfg["layerscale"]) if cfg["layerscale"] else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.mlp = Mlp(dim, mlp_hidden(cfg), cfg["swiglu"], cfg["registers"] > 0)
        self.ls2 = LayerScale(dim, cfg["layerscale"]) if cfg["layerscale"] else nn.Identity()

    def forward(self, x, keep):  # keep: [2, B] per-sample drop-path scales, or None
        a = self.ls1(self.attn(self.norm1(x)))
        if keep is not None:
            a = a * keep[0].reshape(-1, 1, 1)
        x = x + a
        f = self.ls2(self.mlp(self.norm2(x)))
        if keep is not None:
            f = f * keep[1].reshape(-1, 1, 1)
        return x + f


class ViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, p, g = cfg["dim"], cfg["patch"], cfg["image"] // cfg["patch"]
        self.grid = g
        self.offset = cfg.get("offset", 0.0)
        # registration order = state-dict order: timm's (cls, pos, mask) without
        # registers, the official (cls, pos, register_tokens, mask (1, D)) with them
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + g * g, dim))
        if cfg["registers"]:
            self.register_tokens = nn.Parameter(torch.zeros(1, cfg["registers"], dim))
            self.mask_token = nn.Parameter(torch.zeros(1, dim))
        else:
            self.register_tokens = None
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(cfg["chans"], dim, p, p)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg["depth"])])
        self.norm = nn.LayerNorm(dim, eps=EPS)

    def forward(self, x, mask=None, keep=None):
        t = self.patch_embed.proj(x)  # [B, D, h, w]
        b, d, h, w = t.shape
        t = t.flatten(2).transpose(1, 2)
        if mask is not None:  # Lightly mask_bool, before the position embedding
            m = mask.unsqueeze(-1)
            t = (1 - m) * t + m * self.mask_token.reshape(1, 1, d)
        pos = self.pos_embed
        if (h, w) != (self.grid, self.grid):  # antialias=False
            patch = pos[:, 1:].reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
            if self.offset:  # official interpolate_pos_encoding
                scale = ((h + self.offset) / self.grid, (w + self.offset) / self.grid)
                patch = F.interpolate(patch, scale_factor=scale, mode="bicubic",
                                      align_corners=False, antialias=False)
                assert patch.shape[-2:] == (h, w)
            else:  # timm resample_abs_pos_embed
                patch = F.interpolate(patch, size=(h, w), mode="bicubic", align_corners=False,
                                      antialias=False)
            pos = torch.cat([pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, h * w, d)], dim=1)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], dim=1) + pos
        if self.register_tokens is not None:  # registers after cls, without position embedding
            t = torch.cat([t[:, :1], self.register_tokens.expand(b, -1, -1), t[:, 1:]], dim=1)
        for i, blk in enumerate(self.blocks):
            t = blk(t, None if keep is None else keep[i])
        return self.norm(t)


def init_lightly(model, cfg, gen):
    """DINOV2.md §2.1, then the randomisation described in the module docstring."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                bound = math.sqrt(6 / (mod.in_features + mod.out_features))  # xavier_uniform_
                mod.weight.uniform_(-bound, bound, generator=gen)
                mod.bias.normal_(0, 0.1, generator=gen)
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.uniform_(0.5, 1.5, generator=gen)
                mod.bias.normal_(0, 0.1, generator=gen)
        w = model.patch_embed.proj.weight
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        bound = math.sqrt(6 / (fan_in + w.shape[0]))
        w.uniform_(-bound, bound, generator=gen)
        model.patch_embed.proj.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=gen)
        model.cls_token.normal_(0, 0.02, generator=gen)
        model.pos_embed.normal_(0, 0.02, generator=gen).clamp_(-2, 2)
        model.mask_token.normal_(0, 0.5, generator=gen)
        if model.register_tokens is not None:
            model.register_tokens.normal_(0, 0.5, generator=gen)
        for blk in model.blocks:
            for ls in (blk.ls1, blk.ls2):
                if isinstance(ls, LayerScale):
                    ls.gamma.uniform_(0.3, 1.0, generator=gen)
        # round every parameter to float32 so torch (float64) and dinoc see the same values
        for p in model.parameters():
            p.copy_(p.float().double())


def keep_scales(depth, batch, gen):
    """[depth, 2, B] with values 0 or 1/(1 - DROP), at least one of each."""
    keep = (torch.rand(depth, 2, batch, generator=gen, dtype=torch.float64) >= DROP).double()
    keep.view(-1)[0], keep.view(-1)[-1] = 0.0, 1.0
    return (keep / (1 - DROP)).float().double()


def weights(shape):
    """R[i] = float32(sin(0.7·i + 0.3)) over the flattened shape."""
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    return torch.from_numpy(np.sin(0.7 * i + 0.3).astype(np.float32).astype(np.float64)).reshape(shape)


def save(path, t):
    np.save(path, t.detach().float().numpy() if torch.is_tensor(t) else np.asarray(t, np.float32))


def run_case(name, cfg, out_dir):
    gen = torch.Generator().manual_seed(0 if name == "a" else 1)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model = ViT(cfg).double()
    init_lightly(model, cfg, gen)
    g, l, c, p = cfg["image"], cfg["local"], cfg["chans"], cfg["patch"]
    hw = (g // p) ** 2
    x_g = torch.randn(BATCH, c, g, g, generator=gen, dtype=torch.float64).float().double()
    x_l = torch.randn(BATCH, c, l, l, generator=gen, dtype=torch.float64).float().double()
    mask = (torch.rand(BATCH, hw, generator=gen, dtype=torch.float64) < 0.4).double()
    keep_g = keep_scales(cfg["depth"], BATCH, gen)
    keep_l = keep_scales(cfg["depth"], BATCH, gen) if cfg["local_keep"] else None
    out_g = model(x_g, mask, keep_g)
    out_l = model(x_l, None, keep_l)
    r_g, r_l = weights(out_g.shape), weights(out_l.shape)
    loss = (out_g * r_g).sum() + (out_l * r_l).sum()
    loss.backward()
    for pname, param in model.named_parameters():
        save(os.path.join(d, pname + ".npy"), param)
        save(os.path.join(d, "grad." + pname + ".npy"), param.grad)
    for fname, t in [("x_global", x_g), ("x_local", x_l), ("mask", mask), ("keep_global", keep_g),
                     ("keep_local", keep_l), ("out_global", out_g), ("out_local", out_l)]:
        if t is not None:
            save(os.path.join(d, fname + ".npy"), t)
    print(f"case {name}: {sum(1 for _ in model.parameters())} parameters, "
          f"out {tuple(out_g.shape)} / {tuple(out_l.shape)}, loss {loss.item():.6f}")


def bicubic_matrix(ih, iw, oh, ow):
    eye = torch.eye(ih * iw, dtype=torch.float32).reshape(1, ih * iw, ih, iw)
    out = F.interpolate(eye, size=(oh, ow), mode="bicubic", align_corners=False, antialias=False)
    return out.reshape(ih * iw, oh * ow).T.contiguous()


def bicubic_offset_matrix(g, oh, ow, offset=0.1):
    eye = torch.eye(g * g, dtype=torch.float32).reshape(1, g * g, g, g)
    out = F.interpolate(eye, scale_factor=((oh + offset) / g, (ow + offset) / g), mode="bicubic",
                        align_corners=False, antialias=False)
    assert out.shape[-2:] == (oh, ow)
    return out.reshape(g * g, oh * ow).T.contiguous()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "vit_ref")
    os.makedirs(out_dir, exist_ok=True)
    for name, cfg in CASES.items():
        run_case(name, cfg, out_dir)
    for ih, iw, oh, ow in BICUBIC:
        save(os.path.join(out_dir, f"bicubic_{ih}x{iw}_{oh}x{ow}.npy"), bicubic_matrix(ih, iw, oh, ow))
    for g, oh, ow in BICUBIC_OFFSET:
        save(os.path.join(out_dir, f"bicubic_offset_{g}x{g}_{oh}x{ow}.npy"),
             bicubic_offset_matrix(g, oh, ow))


if __name__ == "__main__":
    main()
