#!/usr/bin/python3
"""Loads the backbones of a `dinoc train` checkpoint into the module its
layout names (graphs/vit.h).

usage: load_checkpoint.py CHECKPOINT.safetensors

The checkpoint is read with nothing but the safetensors layout (u64 header
size, JSON header, raw little-endian data), so no safetensors package is
needed. For "teacher.backbone." and "student.backbone." the tensors under the
prefix are stripped of it and loaded with load_state_dict(strict=True), built
from the checkpoint's "config" metadata, into
  - without registers: the timm-equivalent VisionTransformer of
    vit_reference.py (timm's state-dict names, plus Lightly's mask_token);
  - with registers: the official DinoVisionTransformer as
    dinov2_official_reference.py writes it from facebookresearch/dinov2
    (register_tokens, a cls row in pos_embed, mask_token (1, D), SwiGLU
    w12/w3, num_register_tokens and interpolate_offset from the config).
The key sets must match exactly. Then a forward pass on random images of the
config's size must give finite [B, 1 + registers + N, D] features, also with a
mask. Prints one line per backbone; exits non-zero on any mismatch.
Run with /usr/bin/python3 (python3-torch).
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dinov2_official_reference as official  # noqa: E402
import vit_reference  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "F16": np.float16, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def parse_config(text):
    cfg = {}
    for line in text.splitlines():
        if " = " in line:
            k, v = line.split(" = ", 1)
            cfg[k.strip()] = v.strip()
    return cfg


def build_vit(cfg):
    """vit_reference.ViT for the config (its module constants set to the config's)."""
    vit_reference.MLP_RATIO = float(cfg["vit.mlp_ratio"])
    vit_reference.EPS = float(cfg["vit.ln_eps"])
    layerscale = float(cfg["vit.layerscale_init"])
    return vit_reference.ViT(dict(
        chans=int(cfg["vit.in_chans"]), image=int(cfg["vit.image_size"]),
        patch=int(cfg["vit.patch_size"]), dim=int(cfg["vit.embed_dim"]),
        depth=int(cfg["vit.depth"]), heads=int(cfg["vit.num_heads"]),
        registers=int(cfg["vit.n_registers"]), swiglu=cfg["vit.swiglu"] == "true",
        layerscale=layerscale))


class OfficialBackbone(official.DinoVisionTransformer):
    """The official DinoVisionTransformer for the config, called as
    vit_reference.ViT is: (x, mask) -> the final-LN tokens [B, 1 + R + N, D]."""

    def __init__(self, cfg):
        layerscale = float(cfg["vit.layerscale_init"])
        super().__init__(
            img_size=int(cfg["vit.image_size"]), patch_size=int(cfg["vit.patch_size"]),
            in_chans=int(cfg["vit.in_chans"]), embed_dim=int(cfg["vit.embed_dim"]),
            depth=int(cfg["vit.depth"]), num_heads=int(cfg["vit.num_heads"]),
            mlp_ratio=float(cfg["vit.mlp_ratio"]), init_values=layerscale or None,
            ffn_layer="swiglufused" if cfg["vit.swiglu"] == "true" else "mlp",
            num_register_tokens=int(cfg["vit.n_registers"]),
            interpolate_offset=float(cfg.get("vit.interpolate_offset", "0")))

    def forward(self, x, mask=None):
        out = super().forward(x, masks=None if mask is None else mask.bool(), is_training=True)
        return torch.cat([out["x_norm_clstoken"].unsqueeze(1), out["x_norm_regtokens"],
                          out["x_norm_patchtokens"]], dim=1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tensors, meta = read_safetensors(sys.argv[1])
    if meta.get("format") != "dinoc-dinov2-checkpoint":
        sys.exit(f"{sys.argv[1]}: metadata 'format' is {meta.get('format')!r}")
    cfg = parse_config(meta["config"])
    torch.manual_seed(0)
    for prefix in ("teacher.backbone.", "student.backbone."):
        state = {k[len(prefix):]: v for k, v in tensors.items()
                 if k.startswith(prefix) and not k.endswith((".exp_avg", ".exp_avg_sq"))}
        model = OfficialBackbone(cfg) if int(cfg["vit.n_registers"]) else build_vit(cfg)
        want, got = set(model.state_dict()), set(state)
        if want != got:
            sys.exit(f"{prefix}: keys differ: missing {sorted(want - got)}, unexpected {sorted(got - want)}")
        model.load_state_dict(state, strict=True)
        model.eval()
        size, patch = int(cfg["vit.image_size"]), int(cfg["vit.patch_size"])
        n = (size // patch) ** 2
        x = torch.randn(3, int(cfg["vit.in_chans"]), size, size)
        with torch.no_grad():
            out = model(x)
            masked = model(x, mask=(torch.rand(3, n) < 0.3).float())
        expect = (3, 1 + int(cfg["vit.n_registers"]) + n, int(cfg["vit.embed_dim"]))
        if tuple(out.shape) != expect or not torch.isfinite(out).all() or not torch.isfinite(masked).all():
            sys.exit(f"{prefix}: forward gave {tuple(out.shape)} (expected {expect}) or non-finite values")
        layout = "official DinoVisionTransformer" if int(cfg["vit.n_registers"]) else "timm ViT"
        print(f"{prefix}: {len(state)} tensors loaded (strict) into the {layout}, "
              f"features {tuple(out.shape)}, "
              f"step {meta.get('step')}")


if __name__ == "__main__":
    main()
