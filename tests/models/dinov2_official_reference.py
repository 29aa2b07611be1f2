#!/usr/bin/python3
"""One training step of the official DINOv2 code, in float64, for checking
`dinoc step --config official` (tests/graphs/test_dinov2.c), and the official
backbone module that register checkpoints load into (load_checkpoint.py).

Written from facebookresearch/dinov2 itself, module for module and with its
names: models/vision_transformer.py (DinoVisionTransformer: patch embedding,
prepare_tokens_with_masks — torch.where mask token, cls + pos_embed, then the
register tokens inserted after cls without position —, interpolate_pos_encoding
with interpolate_offset, i.e. F.interpolate(scale_factor=(h0 + 0.1) / M) on the
float32 pos_embed, forward_features_list for the student's global + local
crops), layers/block.py (NestedTensorBlock; drop_add_residual_stochastic_depth
with a random subset of max(int(b·(1 − p)), 1) samples scaled by b/subset and
the LayerScale gamma), layers/swiglu_ffn.py (SwiGLUFFNFused w12/w3,
hidden (int(4D·2/3) + 7)//8·8), layers/dino_head.py (DINOHead: mlp,
F.normalize, weight-normed last layer with weight_g = 1), loss/dino_clstoken_loss.py,
loss/ibot_patch_loss.py and loss/koleo_loss.py (Sinkhorn-Knopp teachers,
forward_masked, KoLeo with the diagonal at −1), train/ssl_meta_arch.py
(forward_backward: teacher cls tokens swapped, loss scales, the
n_global + n_local loss-term denominator; update_teacher),
utils/param_groups.py (get_params_groups_with_decay: layer-wise decay,
patch_embed multiplier, no decay for biases, norms and gammas, last layer on
its own lr) and train/train.py (apply_optim_scheduler, then clip_grad_norm_ on
each student module — backbone, dino_head and ibot_head when separate — then
torch.optim.AdamW(betas (0.9, 0.999)), then the EMA). It shares no code with
dinov2_reference.py (the project's reference that follows dinoc's graph).
Departures, none of which changes the float64 result: no FSDP, fp16 or
xFormers (attention, BlockDiagonalMask and the fused heads are computed
plainly, which is the same function), one process (the all_reduces are
identities), and the random draws (crops, masks, drop-path subsets) come from a
seeded generator and are stored in the batch.

Cases (directory dinov2_ref/<case>/, read by test_dinov2.c as the others):
  official-tiny           config `official` with the overrides in overrides.txt:
                          small shapes (16 px, patch 4, D 32, depth 2, K 64,
                          4 images, 2 local crops of 8 px), 2 registers, SwiGLU,
                          Sinkhorn-Knopp, shared head (the official default),
                          drop-path 0.3, clip_grad between the module norms so
                          that one module is clipped and the other is not;
  official-tiny-separate  the same with separate DINO and iBOT heads (three
                          clip_grad_norm_ calls), moments and step 3.
Each holds init.safetensors, batch.safetensors (dinoc's inputs: the
drop-path subsets as per-sample scales 0 or b/subset, the masked rows as
indices into dinoc's [2B·(1+R+N)] token table), losses.json, gradients and
state after the step, under dinoc's names (the backbone's are the official
ones; heads: mlp.i -> layers.i), overrides.txt.
Run with /usr/bin/python3 (python3-torch):  dinov2_official_reference.py [OUT_DIR]
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---- models/vision_transformer.py and layers/ ------------------------------------------


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.Identity()

    def forward(self, x):
        x = self.proj(x)  # B C H W
        x = x.flatten(2).transpose(1, 2)  # B HW C
        return self.norm(x)


class Attention(nn.Module):  # MemEffAttention without xFormers is this
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class LayerScale(nn.Module):
    def __init__(self, dim, init_values):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwiGLUFFNFused(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        hidden_features = (int(hidden_features * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(in_features, 2 * hidden_features)
        self.w3 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class NestedTensorBlock(nn.Module):
    """layers/block.py. The drop-path subsets come from `self.branges` (a list
    filled by the caller, consumed in call order) instead of torch.randperm, so
    they can be handed to dinoc as per-sample scales."""

    def __init__(self, dim, num_heads, mlp_ratio, ffn_layer, init_values, drop_path):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = ffn_layer(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.sample_drop_ratio = drop_path
        self.branges = []

    def forward(self, x_or_x_list):
        if isinstance(x_or_x_list, torch.Tensor):  # the teacher: eval mode, no drop-path
            assert not self.training
            x = x_or_x_list
            x = x + self.ls1(self.attn(self.norm1(x)))
            return x + self.ls2(self.mlp(self.norm2(x)))
        return self.forward_nested(x_or_x_list)

    def forward_nested(self, x_list):
        assert self.training and self.sample_drop_ratio > 0.0
        x_list = self.drop_add_residual_stochastic_depth_list(
            x_list, lambda x: self.attn(self.norm1(x)),
            self.ls1.gamma if isinstance(self.ls1, LayerScale) else None)
        return self.drop_add_residual_stochastic_depth_list(
            x_list, lambda x: self.mlp(self.norm2(x)),
            self.ls2.gamma if isinstance(self.ls2, LayerScale) else None)

    def drop_add_residual_stochastic_depth_list(self, x_list, residual_func, scaling_vector):
        outputs = []
        for x in x_list:  # each crop set its own subset (get_branges_scales)
            b = x.shape[0]
            sample_subset_size = max(int(b * (1 - self.sample_drop_ratio)), 1)
            brange = self.branges.pop(0)
            assert len(brange) == sample_subset_size
            residual_scale_factor = b / sample_subset_size
            residual = residual_func(x[brange])
            if scaling_vector is not None:  # scaled_index_add
                residual = residual * scaling_vector
            outputs.append(torch.index_add(x, 0, brange, residual.to(dtype=x.dtype),
                                           alpha=residual_scale_factor))
        return outputs


class DinoVisionTransformer(nn.Module):
    """models/vision_transformer.py with block_chunks=0 (the hub layout)."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, drop_path_rate=0.0, init_values=None,
                 ffn_layer="mlp", num_register_tokens=0, interpolate_antialias=False,
                 interpolate_offset=0.1):
        super().__init__()
        self.num_features = self.embed_dim = embed_dim
        self.num_tokens = 1
        self.n_blocks = depth
        self.num_heads = num_heads
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        self.interpolate_antialias = interpolate_antialias
        self.interpolate_offset = interpolate_offset

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        num_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_tokens, embed_dim))
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim)) if num_register_tokens else None
        )
        ffn = {"mlp": Mlp, "swiglufused": SwiGLUFFNFused, "swiglu": SwiGLUFFNFused}[ffn_layer]
        self.blocks = nn.ModuleList([
            NestedTensorBlock(embed_dim, num_heads, mlp_ratio, ffn, init_values, drop_path_rate)
            for _ in range(depth)])
        self.chunked_blocks = False
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Identity()
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))

    def interpolate_pos_encoding(self, x, w, h):
        previous_dtype = x.dtype
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        class_pos_embed = pos_embed[:, 0]
        patch_pos_embed = pos_embed[:, 1:]
        dim = x.shape[-1]
        w0 = w // self.patch_size
        h0 = h // self.patch_size
        M = int(math.sqrt(N))
        assert N == M * M
        kwargs = {}
        if self.interpolate_offset:
            sx = float(w0 + self.interpolate_offset) / M
            sy = float(h0 + self.interpolate_offset) / M
            kwargs["scale_factor"] = (sx, sy)
        else:
            kwargs["size"] = (w0, h0)
        patch_pos_embed = nn.functional.interpolate(
            patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2),
            mode="bicubic", antialias=self.interpolate_antialias, **kwargs)
        assert (w0, h0) == patch_pos_embed.shape[-2:]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)

    def prepare_tokens_with_masks(self, x, masks=None):
        B, nc, w, h = x.shape
        x = self.patch_embed(x)
        if masks is not None:
            x = torch.where(masks.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
        return x

    def _outputs(self, x, masks):
        x_norm = self.norm(x)
        return {
            "x_norm_clstoken": x_norm[:, 0],
            "x_norm_regtokens": x_norm[:, 1:self.num_register_tokens + 1],
            "x_norm_patchtokens": x_norm[:, self.num_register_tokens + 1:],
            "x_prenorm": x,
            "masks": masks,
        }

    def forward_features_list(self, x_list, masks_list):
        x = [self.prepare_tokens_with_masks(x, masks) for x, masks in zip(x_list, masks_list)]
        for blk in self.blocks:
            x = blk(x)
        return [self._outputs(t, masks) for t, masks in zip(x, masks_list)]

    def forward_features(self, x, masks=None):
        if isinstance(x, list):
            return self.forward_features_list(x, masks)
        x = self.prepare_tokens_with_masks(x, masks)
        for blk in self.blocks:
            x = blk(x)
        return self._outputs(x, masks)

    def forward(self, *args, is_training=False, **kwargs):
        ret = self.forward_features(*args, **kwargs)
        return ret if is_training else self.head(ret["x_norm_clstoken"])


class DINOHead(nn.Module):
    def __init__(self, in_dim, out_dim, hidden_dim, bottleneck_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, bottleneck_dim))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)

    def forward(self, x):
        x = self.mlp(x)
        eps = 1e-6 if x.dtype == torch.float16 else 1e-12
        x = nn.functional.normalize(x, dim=-1, p=2, eps=eps)
        return self.last_layer(x)


# ---- loss/ ------------------------------------------------------------------------------


class DINOLoss(nn.Module):
    def __init__(self, student_temp=0.1):
        super().__init__()
        self.student_temp = student_temp

    @torch.no_grad()
    def sinkhorn_knopp_teacher(self, teacher_output, teacher_temp, n_iterations=3):
        Q = torch.exp(teacher_output / teacher_temp).t()
        B = Q.shape[1]
        K = Q.shape[0]
        Q /= torch.sum(Q)
        for _ in range(n_iterations):
            Q /= torch.sum(Q, dim=1, keepdim=True)
            Q /= K
            Q /= torch.sum(Q, dim=0, keepdim=True)
            Q /= B
        Q *= B
        return Q.t()

    def forward(self, student_output_list, teacher_out_softmaxed_centered_list):
        total_loss = 0
        for s in student_output_list:
            lsm = F.log_softmax(s / self.student_temp, dim=-1)
            for t in teacher_out_softmaxed_centered_list:
                loss = torch.sum(t * lsm, dim=-1)
                total_loss -= loss.mean()
        return total_loss


class iBOTPatchLoss(nn.Module):  # noqa: N801 (the official name)
    def __init__(self, student_temp=0.1):
        super().__init__()
        self.student_temp = student_temp

    @torch.no_grad()
    def sinkhorn_knopp_teacher(self, teacher_output, teacher_temp, n_masked_patches_tensor,
                               n_iterations=3):
        Q = torch.exp(teacher_output / teacher_temp).t()
        B = n_masked_patches_tensor
        K = Q.shape[0]
        Q /= torch.sum(Q)
        for _ in range(n_iterations):
            Q /= torch.sum(Q, dim=1, keepdim=True)
            Q /= K
            Q /= torch.sum(Q, dim=0, keepdim=True)
            Q /= B
        Q *= B
        return Q.t()

    def forward_masked(self, student_patch_tokens_masked, teacher_patch_tokens_masked,
                       student_masks_flat, n_masked_patches=None, masks_weight=None):
        t, s = teacher_patch_tokens_masked, student_patch_tokens_masked
        loss = torch.sum(t * F.log_softmax(s / self.student_temp, dim=-1), dim=-1)
        if masks_weight is None:
            masks_weight = ((1 / student_masks_flat.sum(-1).clamp(min=1.0)).unsqueeze(-1)
                            .expand_as(student_masks_flat)[student_masks_flat])
        if n_masked_patches is not None:
            loss = loss[:n_masked_patches]
        loss = loss * masks_weight
        return -loss.sum() / student_masks_flat.shape[0]


class KoLeoLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.pdist = nn.PairwiseDistance(2, eps=1e-8)

    def pairwise_NNs_inner(self, x):  # noqa: N802
        dots = torch.mm(x, x.t())
        n = x.shape[0]
        dots.view(-1)[:: (n + 1)].fill_(-1)
        _, I = torch.max(dots, dim=1)  # noqa: E741
        return I

    def forward(self, student_output, eps=1e-8):
        student_output = F.normalize(student_output, eps=eps, p=2, dim=-1)
        I = self.pairwise_NNs_inner(student_output)  # noqa: E741
        distances = self.pdist(student_output, student_output[I])
        return -torch.log(distances + eps).mean()


# ---- utils/param_groups.py ----------------------------------------------------------------


def get_vit_lr_decay_rate(name, lr_decay_rate=1.0, num_layers=12, force_is_backbone=False,
                          chunked_blocks=False):
    layer_id = num_layers + 1
    if name.startswith("backbone") or force_is_backbone:
        if (".pos_embed" in name or ".patch_embed" in name or ".mask_token" in name
                or ".cls_token" in name or ".register_tokens" in name):
            layer_id = 0
        elif force_is_backbone and ("pos_embed" in name or "patch_embed" in name
                                    or "mask_token" in name or "cls_token" in name
                                    or "register_tokens" in name):
            layer_id = 0
        elif ".blocks." in name and ".residual." not in name:
            layer_id = int(name[name.find(".blocks."):].split(".")[2]) + 1
        elif chunked_blocks and "blocks." in name and "residual." not in name:
            layer_id = int(name[name.find("blocks."):].split(".")[2]) + 1
        elif "blocks." in name and "residual." not in name:
            layer_id = int(name[name.find("blocks."):].split(".")[1]) + 1
    return lr_decay_rate ** (num_layers + 1 - layer_id)


def get_params_groups_with_decay(model, lr_decay_rate=1.0, patch_embed_lr_mult=1.0):
    chunked_blocks = False
    if hasattr(model, "n_blocks"):
        num_layers, chunked_blocks = model.n_blocks, model.chunked_blocks
    elif hasattr(model, "blocks"):
        num_layers = len(model.blocks)
    elif hasattr(model, "backbone"):
        num_layers = len(model.backbone.blocks)
    else:
        num_layers = 0
    all_param_groups = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay_rate = get_vit_lr_decay_rate(name, lr_decay_rate, num_layers=num_layers,
                                           force_is_backbone=num_layers > 0,
                                           chunked_blocks=chunked_blocks)
        d = {"params": param, "is_last_layer": False, "lr_multiplier": decay_rate,
             "wd_multiplier": 1.0, "name": name}
        if "last_layer" in name:
            d.update({"is_last_layer": True})
        if name.endswith(".bias") or "norm" in name or "gamma" in name:
            d.update({"wd_multiplier": 0.0})
        if "patch_embed" in name:
            d.update({"lr_multiplier": d["lr_multiplier"] * patch_embed_lr_mult})
        all_param_groups.append(d)
    return all_param_groups


def apply_optim_scheduler(optimizer, lr, wd, last_layer_lr):
    for param_group in optimizer.param_groups:
        param_group["weight_decay"] = wd * param_group["wd_multiplier"]
        param_group["lr"] = (last_layer_lr if param_group["is_last_layer"] else lr) * \
            param_group["lr_multiplier"]


# ---- train/ssl_meta_arch.py ---------------------------------------------------------------


class SSLMetaArch(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.ibot_separate_head = c["ibot_separate_head"]
        student, teacher = {}, {}
        for d, drop in ((student, c["drop_path"]), (teacher, 0.0)):
            d["backbone"] = DinoVisionTransformer(
                img_size=c["image"], patch_size=c["patch"], in_chans=c["chans"],
                embed_dim=c["dim"], depth=c["depth"], num_heads=c["heads"],
                mlp_ratio=c["mlp_ratio"], drop_path_rate=drop, init_values=c["layerscale"],
                ffn_layer="swiglufused" if c["swiglu"] else "mlp",
                num_register_tokens=c["registers"], interpolate_offset=c["offset"])
            d["dino_head"] = DINOHead(c["dim"], c["K"], c["hidden"], c["bottleneck"])
            if self.ibot_separate_head:
                d["ibot_head"] = DINOHead(c["dim"], c["K"], c["hidden"], c["bottleneck"])
        self.student, self.teacher = nn.ModuleDict(student), nn.ModuleDict(teacher)
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.dino_loss = DINOLoss(c["student_temp"])
        self.ibot_patch_loss = iBOTPatchLoss(c["student_temp"])
        self.koleo_loss = KoLeoLoss()

    def train(self, mode=True):
        super().train(mode)
        self.teacher.eval()
        return self

    def forward_backward(self, images, teacher_temp):
        n_global_crops, n_local_crops = 2, self.c["n_local"]
        global_crops, local_crops = images["collated_global_crops"], images["collated_local_crops"]
        masks = images["collated_masks"]
        mask_indices_list = images["mask_indices_list"]
        n_masked_patches_tensor = images["n_masked_patches"]
        n_masked_patches = mask_indices_list.shape[0]
        upperbound = images["upperbound"]
        masks_weight = images["masks_weight"]
        n_local_crops_loss_terms = max(n_local_crops * n_global_crops, 1)
        n_global_crops_loss_terms = (n_global_crops - 1) * n_global_crops
        ibot_loss_scale = 1.0 / n_global_crops

        @torch.no_grad()
        def get_teacher_output():
            out = self.teacher.backbone(global_crops, is_training=True)
            teacher_cls_tokens = out["x_norm_clstoken"].chunk(n_global_crops)
            teacher_cls_tokens = torch.cat((teacher_cls_tokens[1], teacher_cls_tokens[0]))
            ibot_teacher_patch_tokens = out["x_norm_patchtokens"]
            _dim = ibot_teacher_patch_tokens.shape[-1]
            n_cls_tokens = teacher_cls_tokens.shape[0]
            if not self.ibot_separate_head:
                buffer = ibot_teacher_patch_tokens.new_zeros(upperbound + n_cls_tokens, _dim)
                buffer[:n_cls_tokens].copy_(teacher_cls_tokens)
                buffer[n_cls_tokens:n_cls_tokens + n_masked_patches] = torch.index_select(
                    ibot_teacher_patch_tokens.flatten(0, 1), dim=0, index=mask_indices_list)
                tokens_after_head = self.teacher.dino_head(buffer)
                teacher_cls_after_head = tokens_after_head[:n_cls_tokens]
                masked_teacher_after_head = tokens_after_head[n_cls_tokens:n_cls_tokens + n_masked_patches]
            else:
                buffer = ibot_teacher_patch_tokens.new_zeros(upperbound, _dim)
                buffer[:n_masked_patches] = torch.index_select(
                    ibot_teacher_patch_tokens.flatten(0, 1), dim=0, index=mask_indices_list)
                teacher_cls_after_head = self.teacher.dino_head(teacher_cls_tokens)
                masked_teacher_after_head = self.teacher.ibot_head(buffer)[:n_masked_patches]
            # centering == "sinkhorn_knopp"
            teacher_dino = self.dino_loss.sinkhorn_knopp_teacher(
                teacher_cls_after_head, teacher_temp=teacher_temp
            ).view(n_global_crops, -1, *teacher_cls_after_head.shape[1:])
            masked_teacher_ibot = self.ibot_patch_loss.sinkhorn_knopp_teacher(
                masked_teacher_after_head, teacher_temp=teacher_temp,
                n_masked_patches_tensor=n_masked_patches_tensor)
            return teacher_dino, masked_teacher_ibot

        teacher_dino_softmaxed_centered_list, masked_teacher_ibot_softmaxed_centered = get_teacher_output()

        loss_accumulator = 0
        student_global, student_local = self.student.backbone(
            [global_crops, local_crops], masks=[masks, None], is_training=True)
        student_local_cls_tokens = student_local["x_norm_clstoken"]
        student_global_cls_tokens = student_global["x_norm_clstoken"]
        _dim = student_global_cls_tokens.shape[-1]
        ibot_student_patch_tokens = student_global["x_norm_patchtokens"]
        buffer_tensor_patch_tokens = ibot_student_patch_tokens.new_zeros(upperbound, _dim)
        buffer_tensor_patch_tokens[:n_masked_patches] = torch.index_select(
            ibot_student_patch_tokens.flatten(0, 1), dim=0, index=mask_indices_list)
        # the heads run on the concatenated inputs (BlockDiagonalMask.from_tensor_list);
        # the head is row-wise, so running it per input is the same function
        student_local_cls_after_head = self.student.dino_head(student_local_cls_tokens)
        student_global_cls_after_head = self.student.dino_head(student_global_cls_tokens)
        if not self.ibot_separate_head:
            student_masked_after_head = self.student.dino_head(buffer_tensor_patch_tokens)[:n_masked_patches]
        else:
            student_masked_after_head = self.student.ibot_head(buffer_tensor_patch_tokens)[:n_masked_patches]

        terms = n_global_crops_loss_terms + n_local_crops_loss_terms
        dino_local_crops_loss = self.dino_loss(
            student_output_list=student_local_cls_after_head.chunk(n_local_crops),
            teacher_out_softmaxed_centered_list=teacher_dino_softmaxed_centered_list) / terms
        loss_accumulator += self.c["dino_weight"] * dino_local_crops_loss
        loss_scales = 2
        dino_global_crops_loss = self.dino_loss(
            student_output_list=[student_global_cls_after_head],
            teacher_out_softmaxed_centered_list=[teacher_dino_softmaxed_centered_list.flatten(0, 1)],
        ) * loss_scales / terms
        loss_accumulator += self.c["dino_weight"] * dino_global_crops_loss
        koleo_loss = self.c["koleo_weight"] * sum(
            self.koleo_loss(p) for p in student_global_cls_tokens.chunk(2))
        loss_accumulator += koleo_loss
        ibot_patch_loss = self.ibot_patch_loss.forward_masked(
            student_masked_after_head, masked_teacher_ibot_softmaxed_centered,
            student_masks_flat=masks, n_masked_patches=n_masked_patches,
            masks_weight=masks_weight) * loss_scales * ibot_loss_scale
        loss_accumulator += self.c["ibot_weight"] * ibot_patch_loss
        loss_accumulator.backward()
        return {"loss": loss_accumulator, "dino_loss": dino_local_crops_loss + dino_global_crops_loss,
                "ibot_loss": ibot_patch_loss, "koleo_loss": koleo_loss}

    @torch.no_grad()
    def update_teacher(self, m):
        student_param_list, teacher_param_list = [], []
        for k in self.student.keys():
            student_param_list += list(self.student[k].parameters())
            teacher_param_list += list(self.teacher[k].parameters())
        torch._foreach_mul_(teacher_param_list, m)
        torch._foreach_add_(teacher_param_list, student_param_list, alpha=1 - m)


# ---- the cases ------------------------------------------------------------------------------

# graphs/configs.c official() with these overrides (overrides.txt)
OFFICIAL_TINY = dict(
    image=16, patch=4, chans=3, dim=32, depth=2, heads=2, mlp_ratio=4.0, swiglu=True, registers=2,
    layerscale=1e-5, drop_path=0.3, offset=0.1, hidden=48, bottleneck=16, K=64, batch=4, n_local=2,
    local=8, ibot_separate_head=False, student_temp=0.1, koleo_weight=0.1, ibot_weight=1.0,
    dino_weight=1.0, layerwise_decay=0.9, patch_embed_lr_mult=0.2, mask_probability=0.5,
    mask_ratio_max=0.5)
CASES = {
    "official-tiny": dict(OFFICIAL_TINY, seed=21, with_moments=False),
    "official-tiny-separate": dict(OFFICIAL_TINY, seed=22, with_moments=True, ibot_separate_head=True),
}


def dinoc_name(side, fb_name):
    """The official module names under dinoc's: heads' mlp.i is Lightly's layers.i."""
    return side + fb_name.replace("_head.mlp.", "_head.layers.")


def overrides(c, clip):
    return [f"vit.image_size={c['image']}", f"vit.patch_size={c['patch']}",
            f"vit.embed_dim={c['dim']}", f"vit.depth={c['depth']}", f"vit.num_heads={c['heads']}",
            f"vit.swiglu={str(c['swiglu']).lower()}", f"vit.n_registers={c['registers']}",
            f"head.hidden_dim={c['hidden']}", f"head.bottleneck_dim={c['bottleneck']}",
            f"head.output_dim={c['K']}", f"batch_size={c['batch']}",
            f"n_local_views={c['n_local']}", f"local_crop_size={c['local']}",
            "centering=sinkhorn", f"ibot_separate_head={str(c['ibot_separate_head']).lower()}",
            f"clip_grad={clip:g}"]


def f32(t):
    return t.detach().to(torch.float32).to(torch.float64)


def randomize(model, gen):
    """Weights far from their initialisation so that every parameter matters,
    rounded to float32 (dinoc holds float32)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.uniform_(0.5, 1.5, generator=gen)
            elif "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5, generator=gen)
            elif name.endswith("gamma"):
                p.uniform_(0.3, 1.0, generator=gen)
            elif p.dim() >= 2 and not name.endswith(("_token", "pos_embed", "register_tokens")):
                fan_in = p[0].numel()
                p.normal_(0, 1.2 / math.sqrt(fan_in), generator=gen)
            else:
                p.normal_(0, 0.3, generator=gen)
            p.copy_(f32(p))


def make_batch(c, gen, n_tokens):
    b, nl, g, l, ch = c["batch"], c["n_local"], c["image"], c["local"], c["chans"]
    grid = g // c["patch"]
    n = grid * grid
    # half of the 2B images masked, each with 2..N/2 random patches
    masks = torch.zeros(2 * b, n, dtype=torch.bool)
    images = torch.randperm(2 * b, generator=gen)[:int(2 * b * c["mask_probability"])]
    for i in images.tolist():
        count = int(torch.randint(2, int(n * c["mask_ratio_max"]) + 1, (1,), generator=gen))
        masks[i, torch.randperm(n, generator=gen)[:count]] = True
    upperbound = int(np.float32(2 * b) * np.float32(c["mask_probability"])) * \
        int(float(n) * float(np.float32(c["mask_ratio_max"])))
    mask_indices_list = masks.flatten().nonzero().flatten()
    masks_weight = (1 / masks.sum(-1).clamp(min=1.0)).unsqueeze(-1).expand_as(masks)[masks]
    images = {
        "collated_global_crops": f32(torch.randn(2 * b, ch, g, g, generator=gen)),
        "collated_local_crops": f32(torch.randn(nl * b, ch, l, l, generator=gen)),
        "collated_masks": masks,
        "mask_indices_list": mask_indices_list,
        "n_masked_patches": torch.tensor([mask_indices_list.shape[0]], dtype=torch.long),
        "upperbound": upperbound,
        "masks_weight": f32(masks_weight),
    }
    # dinoc's form: masked rows in the [2B·T] token table, padded to the bound
    index = torch.zeros(upperbound, dtype=torch.int64)
    weight = torch.zeros(upperbound)
    rows = mask_indices_list // n * n_tokens + 1 + c["registers"] + mask_indices_list % n
    index[:len(rows)], weight[:len(rows)] = rows, images["masks_weight"]
    dinoc = {"global_views": images["collated_global_crops"],
             "local_views": images["collated_local_crops"],
             "mask": masks.double(), "ibot_index": index, "ibot_weight": f32(weight)}
    return images, dinoc


def drop_path_subsets(c, model, gen):
    """The subsets every student block draws (attention then MLP, each crop
    set), and dinoc's keep scales [depth, 2, samples] for the global and local
    passes: b/subset for the drawn samples, 0 for the others."""
    sets = {"keep_global": 2 * c["batch"], "keep_local": c["n_local"] * c["batch"]}
    keep = {k: torch.zeros(c["depth"], 2, s) for k, s in sets.items()}
    for i, blk in enumerate(model.student.backbone.blocks):
        blk.branges = []
        for branch in range(2):
            for k, b in sets.items():
                subset = max(int(b * (1 - c["drop_path"])), 1)
                brange = torch.randperm(b, generator=gen)[:subset]
                blk.branges.append(brange)
                keep[k][i, branch, brange] = b / subset
    return keep


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        t = t.detach()
        t = t.to(torch.float32) if t.is_floating_point() else t.to(torch.int64)
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32" if t.dtype == torch.float32 else "I64",
                        "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def run_case(case, c, out_dir):
    torch.set_default_dtype(torch.float64)
    gen = torch.Generator().manual_seed(c["seed"])
    model = SSLMetaArch(c)
    randomize(model.student, gen)
    with torch.no_grad():  # teacher = student + noise, so a swapped weight shows
        for ps, pt in zip(model.student.parameters(), model.teacher.parameters()):
            pt.copy_(f32(ps + torch.randn(ps.shape, generator=gen) * (0.05 * ps.abs().mean() + 1e-3)))
    model.train()
    grid = c["image"] // c["patch"]
    images, batch = make_batch(c, gen, 1 + c["registers"] + grid * grid)
    batch.update(drop_path_subsets(c, model, gen))
    schedule = {"teacher_temp": 0.05, "lr": 2e-3, "last_layer_lr": 1e-3, "weight_decay": 0.3,
                "momentum": 0.9}
    for k, v in schedule.items():
        schedule[k] = float(np.float32(v))
        batch[k] = torch.tensor(schedule[k])

    init = [(dinoc_name("teacher.", n), p) for n, p in model.teacher.named_parameters()]
    init += [(dinoc_name("student.", n), p) for n, p in model.student.named_parameters()]
    params_groups = get_params_groups_with_decay(model.student, c["layerwise_decay"],
                                                 c["patch_embed_lr_mult"])
    named = [(dinoc_name("student.", grp["name"]), grp["params"]) for grp in params_groups]
    optimizer = torch.optim.AdamW(params_groups, betas=(0.9, 0.999))
    step = 0
    if c["with_moments"]:  # a later step: AdamW state as torch keeps it
        step = 3
        for name, p in named:
            m = f32(torch.randn(p.shape, generator=gen) * 1e-3)
            v = f32(m * m * torch.rand(p.shape, generator=gen) * 2 + 1e-9)
            optimizer.state[p] = {"step": torch.tensor(float(step)), "exp_avg": m.clone(),
                                  "exp_avg_sq": v.clone()}
            init += [(name + ".exp_avg", m), (name + ".exp_avg_sq", v)]
        init.append(("optimizer.step", torch.tensor(step, dtype=torch.int64)))
    init = [(n, t.detach().clone()) for n, t in init]

    losses = model.forward_backward(images, teacher_temp=schedule["teacher_temp"])
    grads = [(dinoc_name("student.", n), p.grad.detach().clone())
             for n, p in model.student.named_parameters()]
    assert all(g.abs().max() > 0 for _, g in grads), "a parameter without gradient"

    # train.py: schedules, then clip_grad_norm_ on each student module, then the step
    norms = {k: float(torch.sqrt(sum((p.grad ** 2).sum() for p in v.parameters())))
             for k, v in model.student.items()}
    lo, hi = min(norms.values()), max(norms.values())
    clip = float(f"{0.5 * (lo + hi):.3g}")  # between them: clips some modules, not all
    assert lo < clip < hi, norms
    apply_optim_scheduler(optimizer, schedule["lr"], schedule["weight_decay"], schedule["last_layer_lr"])
    for v in model.student.values():
        nn.utils.clip_grad_norm_(v.parameters(), float(np.float32(clip)))
    optimizer.step()
    model.update_teacher(schedule["momentum"])

    state = [(dinoc_name("teacher.", n), p) for n, p in model.teacher.named_parameters()]
    state += [(dinoc_name("student.", n), p) for n, p in model.student.named_parameters()]
    for name, p in named:
        st = optimizer.state[p]
        state += [(name + ".exp_avg", st["exp_avg"]), (name + ".exp_avg_sq", st["exp_avg_sq"])]
    state.append(("optimizer.step", torch.tensor(step + 1, dtype=torch.int64)))

    d = os.path.join(out_dir, case)
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "init.safetensors"), init)
    save_safetensors(os.path.join(d, "batch.safetensors"), list(batch.items()))
    save_safetensors(os.path.join(d, "gradients.safetensors"), grads)
    save_safetensors(os.path.join(d, "state.safetensors"), state)
    with open(os.path.join(d, "losses.json"), "w") as f:
        json.dump({k: float(v) for k, v in losses.items()}, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "overrides.txt"), "w") as f:
        f.write("\n".join(overrides(c, clip)) + "\n")
    print(f"{case}: {len(grads)} student parameters, {len(images['mask_indices_list'])}/"
          f"{images['upperbound']} masked rows, module norms " +
          ", ".join(f"{k} {v:.4g}" for k, v in norms.items()) + f" (clip {clip:g}), " +
          ", ".join(f"{k} {float(v):.6f}" for k, v in losses.items()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "dinov2_ref")
    for case, c in CASES.items():
        run_case(case, c, out_dir)


if __name__ == "__main__":
    main()
