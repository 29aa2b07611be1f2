#!/usr/bin/python3
"""Reference data for one DINOv2 training step (graphs/dinov2.c through
tools/driver/dinov2_step.c, tested by tests/graphs/test_dinov2.c).

One step as graphs/DINOV2.md §2-§5 describes it, with the choices
dinoc's graph headers document (graphs/dinov2.h, vit.h, heads.h, losses.h,
passes/optimizer.h, passes/ema.h):
  - teacher: unmasked global views, no drop-path; its DINO head sees the cls
    tokens, its iBOT head the patch tokens at the masked positions;
  - student: the masked global views (mask token blended in before the position
    embedding) with the drop-path scales `keep_global`, then the local views
    (unmasked, bicubic position embedding) with `keep_local`, same weights;
  - DINO loss over the 2·(2+nL)−2 (teacher, student) pairs; iBOT loss Σ_j w_j·H
    over the masked tokens divided by all 2B images; KoLeo (diagonal −2,
    neighbour by argmax, first index on ties, eps added to the difference) on
    each global view's backbone cls tokens separately, times koleo_weight;
  - teacher targets: mean centering softmax((T − c)/τ_t), or Sinkhorn-Knopp
    (the official exp-and-divide iteration, 3 times; for iBOT over the real
    masked rows only);
  - L2 normalisation as dinoc computes it: x/√(Σx² + eps²) (eps 1e-12 in the
    heads, 1e-8 in KoLeo); last layer W = g·v/‖v‖ (weight_norm, no eps);
  - centers after the loss from the raw teacher outputs: DINO over the 2B cls
    rows, iBOT over the real masked rows (momentum center_momentum);
  - gradients to every student parameter; torch's clip_grad_norm_ when
    clip_grad > 0, over all of them (Lightly's benchmark) or, with
    clip_per_module, on the backbone, the DINO head and the iBOT head each
    (the official rule; a shared head is one module); torch.optim.AdamW with one group per parameter: lr·scale
    (layer-wise decay^(depth+1−layer): tokens, pos_embed and patch_embed 0,
    blocks.i i+1, backbone.norm and heads depth+1; patch_embed × its
    multiplier), weight decay off for ".bias", "norm" and "gamma" (as the
    official repo) unless wd_on_all_params, the heads' last layers on the input
    `last_layer_lr`;
  - EMA teacher ← m·teacher + (1−m)·student_after_adamw for every pair.

Cases (directory tests/models/dinov2_ref/<case>/):
  test-tiny       mean centering, separate iBOT head, drop-path 0.1;
  test-sinkhorn   Sinkhorn-Knopp, 2 registers, shared head, no drop-path;
  test-tiny-bm    test-tiny with the benchmark's optimiser options as
                  overrides (layer-wise decay 0.9, patch-embed lr ×0.2, weight
                  decay groups, gradient clipping that binds) and an init that
                  carries AdamW moments and optimizer.step = 3 (not the first step).
  test-tiny-module-clip  test-tiny-bm with the official rules as overrides:
                  clipping per module (backbone, DINO head, iBOT head) at a
                  norm that binds for some modules and not for others, and the
                  local pos-embed resized by scale factor (h + 0.1)/grid.
  test-sinkhorn-module-clip  test-sinkhorn (registers, shared head) the same
                  way: two clipping modules (the shared head clipped once).
Each holds
  init.safetensors      every student and teacher parameter under dinoc's
                        names (+ dino_center/ibot_center with mean centering,
                        + moments and optimizer.step in test-tiny-bm)
  batch.safetensors     every graph input (dinov2.h) by name
  losses.json           loss, dino_loss, ibot_loss (unweighted), koleo_loss (weighted)
  gradients.safetensors d loss / d every student parameter
  state.safetensors     every parameter after AdamW and the EMA, the centers,
                        "<param>.exp_avg", "<param>.exp_avg_sq", optimizer.step
  overrides.txt         (test-tiny-bm only) the config overrides, one a line

The weights are random (not DINOV2.md §2.1's initialisation) with LayerScale, norms and
biases far from their defaults so every parameter matters. Inputs are stored
as float32 and everything is computed in float64 from exactly those float32
numbers (as the other references here), then stored as float32. Deterministic
(torch.Generator and random.Random seeded per case). Run with /usr/bin/python3
(python3-torch); no safetensors package needed:
  dinov2_reference.py [OUT_DIR]            write the cases (default dinov2_ref/)
  dinov2_reference.py --float32 OUT_DIR    rerun the stored init and batch of
      dinov2_ref/ in float32 PyTorch and write losses.json, gradients and
      state there (to see PyTorch's own float32 deviations, e.g. the key bias:
      its gradient is exactly 0 — softmax over keys is shift invariant — so a
      first AdamW step moves it by round-off/(|round-off| + eps)·lr, anything
      up to lr; tests/graphs/test_dinov2.c exempts it on first steps).
"""
import json
import math
import os
import random
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vit_reference  # noqa: E402  (timm-equivalent ViT, float64 capable)
import heads_losses_reference as hlr  # noqa: E402  (Lightly's losses, for cross-checks)

torch.set_default_dtype(torch.float64)

# graphs/configs.c: test_tiny() = lightly_example() + these fields.
TEST_TINY = dict(
    image=16, patch=4, chans=3, dim=32, depth=2, heads=2, mlp_ratio=2.0, registers=0,
    layerscale=1e-5, drop_path=0.1, hidden=48, bottleneck=16, K=64, batch=2, n_local=2,
    local=8, ibot_separate_head=True, teacher_heads_copied=False, centering="mean",
    student_temp=0.1, center_momentum=0.9, koleo_weight=0.1, ibot_weight=1.0,
    mask_ratio=(0.1, 0.5), mask_probability=0.5, layerwise_decay=1.0, patch_embed_lr_mult=1.0,
    clip_grad=0.0, wd_on_all_params=True, clip_per_module=False, offset=0.0)
CASES = {
    "test-tiny": dict(config="test-tiny", overrides=[], seed=1, **TEST_TINY),
    "test-sinkhorn": dict(config="test-sinkhorn", overrides=[], seed=2, **dict(
        TEST_TINY, registers=2, drop_path=0.0, ibot_separate_head=False,
        teacher_heads_copied=True, centering="sinkhorn")),
    # Smaller widths to keep the files small; clip_grad is filled in from the
    # gradient norm (about half of it), see run_case.
    "test-tiny-bm": dict(config="test-tiny", seed=8, with_moments=True, **dict(
        TEST_TINY, dim=16, hidden=24, bottleneck=8, K=32, layerwise_decay=0.9,
        patch_embed_lr_mult=0.2, wd_on_all_params=False, clip_grad=None)),
    "test-tiny-module-clip": dict(config="test-tiny", seed=9, with_moments=True, **dict(
        TEST_TINY, dim=16, hidden=24, bottleneck=8, K=32, layerwise_decay=0.9,
        patch_embed_lr_mult=0.2, wd_on_all_params=False, clip_grad=None, clip_per_module=True,
        offset=0.1)),
    "test-sinkhorn-module-clip": dict(config="test-sinkhorn", seed=10, with_moments=True, **dict(
        TEST_TINY, registers=2, drop_path=0.0, ibot_separate_head=False,
        teacher_heads_copied=True, centering="sinkhorn", dim=16, hidden=24, bottleneck=8, K=32,
        clip_grad=None, clip_per_module=True, offset=0.1)),
}
SINKHORN_ITERATIONS = 3


def f32(t):
    """The float64 tensor holding t's float32 rounding."""
    return t.detach().to(torch.float32).to(torch.float64)


# ---- safetensors (8-byte LE header length, JSON header, raw LE bytes) ---------------

DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(path, tensors):
    """tensors: list of (name, tensor); float tensors are stored as F32."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        t = t.detach()
        if t.is_floating_point():
            t = t.to(torch.float32)
        data = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[h["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"]).copy())
    return out


# ---- models -----------------------------------------------------------------------

def l2_normalize(x, eps):
    """dinoc's dc_l2_normalize: x / √(Σx² + eps²) over the last axis."""
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + eps * eps)


class LastLayer(nn.Module):
    def __init__(self, bottleneck, k):
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(k, 1))
        self.weight_v = nn.Parameter(torch.zeros(k, bottleneck))


class Head(nn.Module):
    """Lightly's DINOv2ProjectionHead (heads.h): Linear-GELU-Linear-GELU-Linear,
    L2 normalisation, weight-normalised last layer without bias."""

    def __init__(self, in_dim, hidden, bottleneck, k):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                    nn.GELU(), nn.Linear(hidden, bottleneck))
        self.last_layer = LastLayer(bottleneck, k)

    def forward(self, x):
        z = l2_normalize(self.layers(x), 1e-12)
        v, g = self.last_layer.weight_v, self.last_layer.weight_g
        w = v * (g / torch.sqrt((v * v).sum(1, keepdim=True)))
        return z @ w.t()


class Side(nn.Module):
    """student. / teacher.: backbone, dino_head and (separate) ibot_head."""

    def __init__(self, c):
        super().__init__()
        vit_reference.MLP_RATIO = c["mlp_ratio"]  # read by vit_reference.mlp_hidden
        self.backbone = vit_reference.ViT(dict(chans=c["chans"], image=c["image"], patch=c["patch"],
                                               dim=c["dim"], depth=c["depth"], heads=c["heads"],
                                               registers=c["registers"], swiglu=False,
                                               layerscale=c["layerscale"], offset=c["offset"]))
        self.dino_head = Head(c["dim"], c["hidden"], c["bottleneck"], c["K"])
        if c["ibot_separate_head"]:
            self.ibot_head = Head(c["dim"], c["hidden"], c["bottleneck"], c["K"])

    def ibot(self):
        return self.ibot_head if hasattr(self, "ibot_head") else self.dino_head


def init_head(head, gen):
    with torch.no_grad():
        for lin in (head.layers[0], head.layers[2], head.layers[4]):
            lin.weight.normal_(0, 1.5 / math.sqrt(lin.in_features), generator=gen)
            lin.bias.uniform_(-0.2, 0.2, generator=gen)
        k, bottleneck = head.last_layer.weight_v.shape
        head.last_layer.weight_v.uniform_(-1 / math.sqrt(bottleneck), 1 / math.sqrt(bottleneck),
                                          generator=gen)
        head.last_layer.weight_g.uniform_(0.5, 1.5, generator=gen)


def init_models(c, gen):
    """Random student; teacher backbone = student + noise (so a swapped weight
    shows); teacher heads independent (Lightly) or copied + noise."""
    student, teacher = Side(c), Side(c)
    vcfg = dict(layerscale=c["layerscale"])
    vit_reference.init_lightly(student.backbone, vcfg, gen)
    with torch.no_grad():
        student.backbone.cls_token.normal_(0, 0.5, generator=gen)
        student.backbone.pos_embed.normal_(0, 0.3, generator=gen)
    for h in (student.dino_head, getattr(student, "ibot_head", None)):
        if h is not None:
            init_head(h, gen)
    if not c["teacher_heads_copied"]:
        for h in (teacher.dino_head, getattr(teacher, "ibot_head", None)):
            if h is not None:
                init_head(h, gen)
    with torch.no_grad():
        for (name, ps), pt in zip(student.named_parameters(), teacher.parameters()):
            if name.startswith("backbone.") or c["teacher_heads_copied"]:
                noise = torch.randn(ps.shape, generator=gen) * (0.05 * ps.abs().mean() + 1e-3)
                pt.copy_(ps + noise)
        for p in list(student.parameters()) + list(teacher.parameters()):
            p.copy_(f32(p))
    return student, teacher


# ---- masks (DINOV2.md §4, Lightly's random_block_mask) ----------------------------------

def block_mask_image(rng, h, w, target, min_masks=4, min_aspect=0.3, attempts=10):
    mask = np.zeros((h, w), bool)
    count, max_block = 0, target
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    while count < target:
        max_new = min(target - count, max_block)
        delta = 0
        for _ in range(attempts):
            area = rng.uniform(min_masks, max_new)
            aspect = math.exp(rng.uniform(*log_aspect))
            bh, bw = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if bw < w and bh < h:
                top, left = rng.randint(0, h - bh), rng.randint(0, w - bw)
                new = bh * bw - int(mask[top:top + bh, left:left + bw].sum())
                if 0 < new <= max_new:
                    mask[top:top + bh, left:left + bw] = True
                    delta += new
            if delta > 0:
                break
        if delta == 0:
            break
        count += delta
    return mask


def random_block_mask(rng, n_img, h, w, ratio=(0.1, 0.5), probability=0.5):
    n_masked = int(n_img * probability)
    probs = np.linspace(ratio[0], ratio[1], n_masked + 1)
    masks = [block_mask_image(rng, h, w, int(h * w * rng.uniform(probs[i], probs[i + 1])))
             for i in range(n_masked)]
    masks += [np.zeros((h, w), bool)] * (n_img - n_masked)
    rng.shuffle(masks)
    return np.stack(masks)


def padded_rows(c):
    """The official code's upperbound ⌊2B·p⌋·⌊N·ratio_max⌋ (float32 as configs hold them):
    ibot_index and ibot_weight are padded to it; `dinoc step` cuts the padding to its own,
    tighter bound M."""
    grid = c["image"] // c["patch"]
    images = int(np.float32(2 * c["batch"]) * np.float32(c["mask_probability"]))
    per_image = int(float(grid * grid) * float(np.float32(c["mask_ratio"][1])))
    return max(images * per_image, 1)


# ---- losses --------------------------------------------------------------------------

def centered_probs(t, center, temp):
    return F.softmax((t - center) / temp, dim=-1)


def sinkhorn_knopp(t, temp, iterations=SINKHORN_ITERATIONS):
    """The official SinkhornKnoppTeacher on one process: t [R, K] -> [R, K]."""
    q = torch.exp(t / temp).t()
    k, r = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / r
    return (q * r).t()


def dino_loss(p_teacher, student_logits, student_temp, b, n_views):
    """Lightly's DINOLoss from teacher probabilities [2B, K] and student logits [V·B, K]."""
    p = p_teacher.reshape(2, b, -1)
    log_q = F.log_softmax(student_logits / student_temp, dim=-1).reshape(n_views, b, -1)
    loss = -torch.einsum("tbk,sbk->ts", p, log_q)
    loss = loss * (1 - torch.eye(2, n_views, dtype=loss.dtype))
    return loss.sum() / ((2 * n_views - 2) * b)


def ibot_loss(p_teacher, student_logits, weights, student_temp, n_images):
    log_q = F.log_softmax(student_logits / student_temp, dim=-1)
    return (-(p_teacher * log_q).sum(-1) * weights).sum() / n_images


def koleo(x, eps=1e-8):
    """Lightly's KoLeoLoss with dinoc's normalisation (losses.h)."""
    xh = l2_normalize(x, eps)
    with torch.no_grad():
        # argmax_j xh_i.xh_j ranked as 2 c_i.c_j - |c_j|^2 over the centred rows
        # c (graphs/DINOV2.md §3.3): the same neighbours, without the float32
        # cancellation that makes every cosine 1 when the rows are ~1e-4 apart.
        c = xh - xh.mean(0, keepdim=True)
        sim = 2 * (c @ c.t()) - (c * c).sum(1)
        sim.fill_diagonal_(-8)
        nn_idx = sim.max(dim=1).indices  # first index on ties (CPU)
    d = torch.sqrt(((xh - xh[nn_idx] + eps) ** 2).sum(-1))
    return -torch.log(d + eps).mean()


# ---- optimiser ----------------------------------------------------------------------

def layer_of(name, depth):
    if ".backbone.blocks." in name:
        return int(name.split(".backbone.blocks.")[1].split(".")[0]) + 1
    if ".backbone." in name and ".backbone.norm." not in name:
        return 0
    return depth + 1


def no_weight_decay(name):
    return name.endswith(".bias") or "norm" in name or "gamma" in name


def param_group(c, name):
    scale = c["layerwise_decay"] ** (c["depth"] + 1 - layer_of(name, c["depth"]))
    if "patch_embed" in name:
        scale *= c["patch_embed_lr_mult"]
    decay = c["wd_on_all_params"] or not no_weight_decay(name)
    return scale, decay, "last_layer" in name


# ---- one step -----------------------------------------------------------------------

def make_batch(c, gen, rng):
    b, nl, g, l, ch = c["batch"], c["n_local"], c["image"], c["local"], c["chans"]
    grid = g // c["patch"]
    n, t_len, m_max = grid * grid, 1 + c["registers"] + grid * grid, padded_rows(c)
    # a mask with two masked images and enough tokens to matter
    for _ in range(1000):
        block = random_block_mask(rng, 2 * b, grid, grid, c["mask_ratio"], c["mask_probability"])
        counts = block.reshape(2 * b, -1).sum(1)
        if (counts > 0).sum() == int(2 * b * c["mask_probability"]) and counts.sum() >= 8 and \
                block[:b].any() and block[b:].any():
            break
    mask = torch.from_numpy(block.reshape(2 * b, n).astype(np.float64))
    index = torch.zeros(m_max, dtype=torch.int64)
    weight = torch.zeros(m_max)
    j = 0
    for i in range(2 * b):
        for p in range(n):
            if mask[i, p]:
                index[j], weight[j] = i * t_len + 1 + c["registers"] + p, 1.0 / counts[i]
                j += 1
    assert j <= m_max

    def keep(samples):
        p = c["drop_path"]
        if p == 0:
            return torch.ones(c["depth"], 2, samples)
        k = (torch.rand(c["depth"], 2, samples, generator=gen) >= 0.3).double()
        k.view(-1)[1], k.view(-1)[-2] = 0.0, 1.0  # at least one drop and one keep
        return f32(k / (1 - p))

    return {
        "global_views": f32(torch.randn(2 * b, ch, g, g, generator=gen)),
        "local_views": f32(torch.randn(nl * b, ch, l, l, generator=gen)),
        "mask": mask,
        "ibot_index": index,
        "ibot_weight": f32(weight),
        "keep_global": keep(2 * b),
        "keep_local": keep(nl * b),
        "teacher_temp": f32(torch.tensor(0.05)),
        "lr": f32(torch.tensor(2e-3)),
        "last_layer_lr": f32(torch.tensor(1e-3)),
        "weight_decay": f32(torch.tensor(0.3)),
        "momentum": f32(torch.tensor(0.9)),
    }


def forward(c, student, teacher, centers, x):
    b, nl = c["batch"], c["n_local"]
    index, weight, temp = x["ibot_index"], x["ibot_weight"], x["teacher_temp"]
    real = weight != 0
    with torch.no_grad():
        ft = teacher.backbone(x["global_views"])
        t_cls = teacher.dino_head(ft[:, 0])
        t_patch = teacher.ibot()(ft.reshape(-1, ft.shape[-1])[index])
    fs = student.backbone(x["global_views"], x["mask"], x["keep_global"])
    s_cls_tokens = fs[:, 0]
    s_global = student.dino_head(s_cls_tokens)
    s_patch = student.ibot()(fs.reshape(-1, fs.shape[-1])[index])
    fl = student.backbone(x["local_views"], None, x["keep_local"])
    s_cls = torch.cat([s_global, student.dino_head(fl[:, 0])])
    if c["centering"] == "sinkhorn":
        p_cls = sinkhorn_knopp(t_cls, temp)
        p_patch = torch.zeros_like(t_patch)
        p_patch[real] = sinkhorn_knopp(t_patch[real], temp)
    else:
        p_cls = centered_probs(t_cls, centers["dino_center"], temp)
        p_patch = centered_probs(t_patch, centers["ibot_center"], temp)
    dino = dino_loss(p_cls, s_cls, c["student_temp"], b, 2 + nl)
    ibot = ibot_loss(p_patch[real], s_patch[real], weight[real], c["student_temp"], 2 * b)
    kol = c["koleo_weight"] * (koleo(s_cls_tokens[:b]) + koleo(s_cls_tokens[b:]))
    loss = dino + c["ibot_weight"] * ibot + kol
    if c["centering"] == "mean":  # cross-check against Lightly's own loss functions
        rtol = 1e-12 if loss.dtype == torch.float64 else 1e-5
        ref = hlr.dino_loss(list(t_cls.chunk(2)), list(s_cls.chunk(2 + nl)), centers["dino_center"],
                            temp, c["student_temp"])
        assert torch.allclose(ref, dino, rtol=rtol), (ref, dino)
        grid = c["image"] // c["patch"]
        m3 = x["mask"].bool().reshape(2 * b, grid, grid)
        ref, w = hlr.ibot_patch_loss(t_patch[real], s_patch[real], m3, centers["ibot_center"], temp,
                                     c["student_temp"])
        ref, w = ref.to(ibot.dtype), w.to(weight.dtype)  # Lightly's weights are 1/n unrounded
        assert torch.allclose(ref, ibot, rtol=max(rtol, 1e-7)), (ref, ibot)
        assert torch.allclose(w, weight[real]), (w, weight[real])
    return dict(loss=loss, dino_loss=dino, ibot_loss=ibot, koleo_loss=kol, t_cls=t_cls,
                t_patch=t_patch[real])


def adamw(c, name, p, g, m, v, step, x, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.AdamW (single tensor) as dinoc's groups set it."""
    scale, decay, last = param_group(c, name)
    lr = (x["last_layer_lr"] if last else x["lr"]).item() * scale
    wd = x["weight_decay"].item() if decay else 0.0
    p = p * (1 - lr * wd)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    denom = v.sqrt() / math.sqrt(1 - beta2 ** step) + eps
    return p - lr / (1 - beta1 ** step) * m / denom, m, v


def generate_inputs(c):
    """init (list of (name, tensor), float32-rounded float64) and the batch."""
    gen = torch.Generator().manual_seed(c["seed"])
    rng = random.Random(c["seed"])
    student, teacher = init_models(c, gen)
    s_named = [("student." + n, p.detach()) for n, p in student.named_parameters()]
    init = [("teacher." + n, p.detach()) for n, p in teacher.named_parameters()] + s_named
    if c["centering"] == "mean":
        init += [(k, f32(torch.randn(1, c["K"], generator=gen) * 0.3))
                 for k in ("dino_center", "ibot_center")]
    if c.get("with_moments"):
        for n, p in s_named:
            m = f32(torch.randn(p.shape, generator=gen) * 1e-3)
            init += [(n + ".exp_avg", m),
                     (n + ".exp_avg_sq", f32(m * m * torch.rand(p.shape, generator=gen) * 2 + 1e-9))]
        init.append(("optimizer.step", torch.tensor(3, dtype=torch.int64)))
    return init, make_batch(c, gen, rng)


def compute_step(c, init, x, dtype=torch.float64):
    """One step from the stored init and batch, computed in `dtype`. Returns
    (losses, gradients, state, gradient norm, clip_grad used)."""
    init = {n: t.to(dtype) if t.is_floating_point() else t for n, t in init.items()}
    x = {n: t.to(dtype) if t.is_floating_point() else t for n, t in x.items()}
    student, teacher = Side(c).to(dtype), Side(c).to(dtype)
    with torch.no_grad():
        for side, model in (("student.", student), ("teacher.", teacher)):
            for n, p in model.named_parameters():
                p.copy_(init[side + n])
    s_named = [("student." + n, p) for n, p in student.named_parameters()]
    t_named = [("teacher." + n, p) for n, p in teacher.named_parameters()]
    centers = {k: init[k] for k in ("dino_center", "ibot_center") if k in init}

    out = forward(c, student, teacher, centers, x)
    out["loss"].backward()
    grads = {n: p.grad.detach().clone() for n, p in s_named}
    assert all(g.abs().max() > 0 for g in grads.values()), "a parameter without gradient"

    def norm(names):
        return math.sqrt(sum(float((grads[n].double() ** 2).sum()) for n in names))

    # the clipping sets: all student parameters, or one per student module
    if c["clip_per_module"]:
        modules = ("student.backbone.", "student.dino_head.", "student.ibot_head.")
        sets = [[n for n in grads if n.startswith(m)] for m in modules]
        sets = [names for names in sets if names]
    else:
        sets = [list(grads)]
    norms = [norm(names) for names in sets]
    total = norm(list(grads))
    clip_used = c["clip_grad"]
    if clip_used is None:  # one set: bind at about half its norm; several: between them
        lo, hi = min(norms), max(norms)
        clip_used = float(f"{(0.5 * hi if len(norms) == 1 else 0.5 * (lo + hi)):.3g}")
        assert len(norms) == 1 or lo < clip_used < hi, (norms, clip_used)
    clip = float(np.float32(clip_used))
    coef = {}
    for names, n_norm in zip(sets, norms):
        for n in names:
            coef[n] = min(1.0, clip / (n_norm + 1e-6)) if clip > 0 else 1.0
    step = int(init.get("optimizer.step", torch.tensor(0))) + 1
    state = []
    new_student = {}
    for n, p in s_named:
        m0 = init.get(n + ".exp_avg", torch.zeros_like(p))
        v0 = init.get(n + ".exp_avg_sq", torch.zeros_like(p))
        p1, m1, v1 = adamw(c, n, p.detach(), grads[n] * coef[n], m0, v0, step, x)
        new_student[n] = p1
        state += [(n + ".exp_avg", m1), (n + ".exp_avg_sq", v1)]
    mom = x["momentum"].item()
    for (n, p), (tn, tp) in zip(s_named, t_named):
        assert tn == "teacher." + n[len("student."):]
        state.append((tn, mom * tp.detach() + (1 - mom) * new_student[n]))
    state += list(new_student.items())
    if centers:
        mu = c["center_momentum"]
        state.append(("dino_center", mu * centers["dino_center"] +
                      (1 - mu) * out["t_cls"].mean(0, keepdim=True)))
        state.append(("ibot_center", mu * centers["ibot_center"] +
                      (1 - mu) * out["t_patch"].mean(0, keepdim=True)))
    state.append(("optimizer.step", torch.tensor(step, dtype=torch.int64)))
    losses = {k: float(out[k]) for k in ("loss", "dino_loss", "ibot_loss", "koleo_loss")}
    return losses, grads, state, (total, norms), clip_used


def write_results(d, losses, grads, state):
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "gradients.safetensors"), list(grads.items()))
    save_safetensors(os.path.join(d, "state.safetensors"), state)
    with open(os.path.join(d, "losses.json"), "w") as f:
        json.dump(losses, f, indent=2)
        f.write("\n")


def run_case(case, c, out_dir):
    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    init, x = generate_inputs(c)
    losses, grads, state, total, clip = compute_step(c, dict(init), x)
    if c["clip_grad"] is None:
        c["overrides"] = [f"vit.embed_dim={c['dim']}", f"head.hidden_dim={c['hidden']}",
                          f"head.bottleneck_dim={c['bottleneck']}", f"head.output_dim={c['K']}",
                          f"layerwise_decay={c['layerwise_decay']}",
                          f"patch_embed_lr_mult={c['patch_embed_lr_mult']}",
                          f"wd_on_all_params={str(c['wd_on_all_params']).lower()}",
                          f"clip_grad={clip:g}"]
        if c["clip_per_module"]:
            c["overrides"].append("clip_grad_per_module=true")
        if c["offset"]:
            c["overrides"].append(f"vit.interpolate_offset={c['offset']:g}")
        with open(os.path.join(d, "overrides.txt"), "w") as f:
            f.write("\n".join(c["overrides"]) + "\n")
    save_safetensors(os.path.join(d, "init.safetensors"), init)
    save_safetensors(os.path.join(d, "batch.safetensors"), list(x.items()))
    write_results(d, losses, grads, state)
    n_masked = int((x["ibot_weight"] != 0).sum())
    print(f"{case}: {len(grads)} student parameters, {n_masked}/{len(x['ibot_index'])} masked "
          f"rows, grad norm {total[0]:.4g}, clipping sets {', '.join(f'{v:.4g}' for v in total[1])} "
          f"(clip {clip:g}), " +
          ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))


def rerun_float32(case, c, ref_dir, out_dir):
    """The stored init and batch through the same step in float32 (no TF32, no
    autocast), for comparing a float32 PyTorch with dinoc and the float64 reference."""
    d = os.path.join(ref_dir, case)
    if c["clip_grad"] is None:
        with open(os.path.join(d, "overrides.txt")) as f:
            c["clip_grad"] = float(next(l for l in f if l.startswith("clip_grad=")).split("=")[1])
    init = load_safetensors(os.path.join(d, "init.safetensors"))
    x = load_safetensors(os.path.join(d, "batch.safetensors"))
    losses, grads, state, total, clip = compute_step(c, init, x, torch.float32)
    write_results(os.path.join(out_dir, case), losses, grads, state)
    print(f"{case} (float32): " + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    if args[:1] == ["--float32"]:
        out_dir = args[1] if len(args) > 1 else "dinov2_ref_float32"
        for case, c in CASES.items():
            rerun_float32(case, dict(c), os.path.join(here, "dinov2_ref"), out_dir)
        return
    out_dir = args[0] if args else os.path.join(here, "dinov2_ref")
    for case, c in CASES.items():
        run_case(case, dict(c), out_dir)


if __name__ == "__main__":
    main()
