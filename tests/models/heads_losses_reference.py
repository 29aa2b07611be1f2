#!/usr/bin/python3
"""PyTorch reference cases for graphs/heads.c and graphs/losses.c.

Lightly's modules, written out here by hand (lightly 1.5.x; no lightly import):
DINOv2ProjectionHead, DINOLoss, IBOTPatchLoss, KoLeoLoss, plus the official
DINOv2 SinkhornKnoppTeacher on one process. Each case is small and random; the
inputs are stored as float32 (what dinoc's compiled plan runs on) and the
expected values are computed in float64 from exactly those float32 numbers.

Writes into the directory given as argv[1] (default: next to this script),
every file named hl_<case>_<what>.npy:
  head_*    the parameters under Lightly's names (layers.0.weight, ...,
            last_layer.weight_g, last_layer.weight_v), x [N, IN], r [N, K];
            loss = sum(head(x) * r); out = head(x); grad_x and grad_<param>
  dino_*    teacher [2B, K], student [(2+NL)B, K], center [1, K], temps;
            loss, grad_student, center_after (momentum 0.9)
  ibot_*    teacher, student [M, K] (masked rows), mask [2B, H, W], weights [M],
            center [1, K]; loss, grad_student, center_after
  koleo_*   x [n, d]; loss, grad_x
  sk_*      teacher [R, K], temp; probs (3 iterations)
Mirrored by tests/graphs/test_heads_losses.c. Run with /usr/bin/python3
(python3-torch). Deterministic: seed 0.
"""
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

torch.manual_seed(0)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def save(name, array):
    np.save(os.path.join(OUT, "hl_" + name + ".npy"), np.ascontiguousarray(array))


def f32_input(t):
    """A float32 input as stored, and the float64 tensor holding the same numbers."""
    t32 = t.to(torch.float32)
    return t32.numpy(), t32.to(torch.float64)


class DINOv2ProjectionHead(nn.Module):
    """lightly.models.modules.heads.DINOv2ProjectionHead (batch_norm=False)."""

    def __init__(self, input_dim, hidden_dim, bottleneck_dim, output_dim):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim))
        self.apply(self._init_weights)
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck_dim, output_dim, bias=False))
        self.last_layer.weight_g.data.fill_(1)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.layers(x)
        eps = 1e-6 if x.dtype == torch.float16 else 1e-12
        x = F.normalize(x, dim=-1, p=2, eps=eps)
        return self.last_layer(x)


def dino_loss(teacher_out, student_out, center, teacher_temp, student_temp):
    """lightly.loss.DINOLoss.forward on lists of per-view [B, K] tensors."""
    t_out = F.softmax((torch.stack(teacher_out) - center) / teacher_temp, dim=-1)
    s_out = F.log_softmax(torch.stack(student_out) / student_temp, dim=-1)
    loss = -torch.einsum("tbd,sbd->ts", t_out, s_out)
    loss.fill_diagonal_(0)
    n_terms = loss.numel() - loss.diagonal().numel()
    batch_size = t_out.shape[1]
    return loss.sum() / (n_terms * batch_size)


def ibot_patch_loss(teacher_out, student_out, mask, center, teacher_temp, student_temp):
    """lightly.loss.IBOTPatchLoss.forward; also returns the weights it uses."""
    teacher_softmax = F.softmax((teacher_out - center) / teacher_temp, dim=-1)
    student_log_softmax = F.log_softmax(student_out / student_temp, dim=-1)
    loss = -torch.sum(teacher_softmax * student_log_softmax, dim=-1)
    num_masked_per_image = mask.sum(dim=(1, 2), keepdim=True).clamp(min=1.0)
    weight = (1.0 / num_masked_per_image).expand_as(mask)[mask]
    return (loss * weight).sum() / mask.shape[0], weight


def koleo_loss(x, eps=1e-8):
    """lightly.loss.KoLeoLoss (p=2, topk=1, one group)."""
    x = F.normalize(x, p=2, dim=-1, eps=eps)
    with torch.no_grad():
        sim = x @ x.t()
        sim.fill_diagonal_(-2)
        nn_idx = sim.max(dim=1).indices
    dist = nn.PairwiseDistance(p=2, eps=eps)(x, x[nn_idx])
    return -(dist + eps).log().mean()


@torch.no_grad()
def sinkhorn_knopp_teacher(teacher_output, teacher_temp, n_iterations=3):
    """dinov2.loss.DINOLoss.sinkhorn_knopp_teacher, one process."""
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


def center_after(center, teacher_rows, momentum=0.9):
    return momentum * center + (1 - momentum) * teacher_rows.mean(dim=0, keepdim=True)


def head_case():
    IN, HIDDEN, BOTTLENECK, K, N = 8, 16, 6, 10, 4
    head = DINOv2ProjectionHead(IN, HIDDEN, BOTTLENECK, K)
    # Move g off 1 and the biases off 0 so their gradients are exercised.
    with torch.no_grad():
        head.last_layer.weight_g.uniform_(0.5, 1.5)
        for i in (0, 2, 4):
            head.layers[i].bias.uniform_(-0.1, 0.1)
            head.layers[i].weight.mul_(20)  # std 0.4: make the MLP far from linear
    state = {}
    for name, p in head.state_dict().items():
        stored, exact = f32_input(p)
        save("head_" + name, stored)
        state[name] = exact
    head = head.double()
    head.load_state_dict(state)
    x_stored, x = f32_input(torch.randn(N, IN))
    r_stored, r = f32_input(torch.randn(N, K))
    save("head_x", x_stored)
    save("head_r", r_stored)
    x.requires_grad_(True)
    out = head(x)
    loss = (out * r).sum()
    loss.backward()
    save("head_out", out.detach().numpy())
    save("head_loss", loss.detach().numpy())
    save("head_grad_x", x.grad.numpy())
    for name, p in head.named_parameters():
        save("head_grad_" + name, p.grad.numpy())


def dino_case():
    B, NL, K, TT, TS = 3, 2, 10, 0.05, 0.1
    t_stored, teacher = f32_input(torch.randn(2 * B, K) * 0.3)
    s_stored, student = f32_input(torch.randn((2 + NL) * B, K))
    c_stored, center = f32_input(torch.randn(1, K) * 0.1)
    for name, a in (("teacher", t_stored), ("student", s_stored), ("center", c_stored)):
        save("dino_" + name, a)
    student.requires_grad_(True)
    loss = dino_loss(list(teacher.chunk(2)), list(student.chunk(2 + NL)), center, TT, TS)
    loss.backward()
    save("dino_loss", loss.detach().numpy())
    save("dino_grad_student", student.grad.numpy())
    save("dino_center_after", center_after(center, teacher).numpy())


def ibot_case():
    B, H, W, K, TT, TS = 2, 3, 3, 10, 0.06, 0.1
    mask = torch.rand(2 * B, H, W) < 0.4
    mask[1] = False  # an image without a mask still counts in the 1/(2B)
    m = int(mask.sum())
    t_stored, teacher = f32_input(torch.randn(m, K) * 0.3)
    s_stored, student = f32_input(torch.randn(m, K))
    c_stored, center = f32_input(torch.randn(1, K) * 0.1)
    for name, a in (("teacher", t_stored), ("student", s_stored), ("center", c_stored)):
        save("ibot_" + name, a)
    save("ibot_mask", mask.numpy().astype(np.uint8))
    student.requires_grad_(True)
    loss, weight = ibot_patch_loss(teacher, student, mask, center, TT, TS)
    loss.backward()
    save("ibot_weights", weight.to(torch.float32).numpy())
    save("ibot_loss", loss.detach().numpy())
    save("ibot_grad_student", student.grad.numpy())
    save("ibot_center_after", center_after(center, teacher).numpy())


def koleo_case():
    x_stored, x = f32_input(torch.randn(6, 5))
    save("koleo_x", x_stored)
    x.requires_grad_(True)
    loss = koleo_loss(x)
    loss.backward()
    save("koleo_loss", loss.detach().numpy())
    save("koleo_grad_x", x.grad.numpy())


def sinkhorn_case():
    t_stored, teacher = f32_input(torch.randn(6, 10) * 0.3)
    save("sk_teacher", t_stored)
    save("sk_probs", sinkhorn_knopp_teacher(teacher, 0.07).numpy())


if __name__ == "__main__":
    head_case()
    dino_case()
    ibot_case()
    koleo_case()
    sinkhorn_case()
