/* Fusion rules: each rewrites one pattern of the IR into a fused ai.dinoc op
 * (passes/fuse/fuse_<name>.c, one entry point each). A rule leaves the graph
 * valid and in schedule order and counts the groups it fused in *n_fused.
 * Rules whose fused op has a gradient rule run before autodiff, so the
 * backward of the fused op is fused too. */
#ifndef DC_FUSE_H
#define DC_FUSE_H

#include "ir.h"

/* The exact GELU composition x · (erf(x / √2) + 1) · 0.5 (builder's dc_gelu
 * and torch's ONNX export, either operand order, x/√2 as Div or as Mul by
 * 1/√2, the 0.5 applied first or last) -> ai.dinoc Gelu. */
dc_status dc_fuse_gelu(dc_graph *g, int *n_fused);

/* timm's attention, from the packed qkv projection [B, N, 3D] through the
 * head split, scaled QKᵀ, softmax, ·V and the head merge to [B, N, D]
 * (graphs/vit.c, torch's export) -> ai.dinoc Attention, whose backward
 * recomputes the probabilities instead of keeping them. */
dc_status dc_fuse_attention(dc_graph *g, int *n_fused);

/* LayerNormalization nodes computing only Y get their Mean and InvStdDev
 * outputs (where the statistics have X's element type), so the fused
 * backward, one ai.dinoc LayerNormGrad, reads them instead of recomputing. */
dc_status dc_fuse_layer_norm(dc_graph *g, int *n_fused);

/* After autodiff: backward readers of a Gelu's output read a Gelu recomputed
 * from its input (which GeluGrad keeps alive anyway) right before them, so
 * the output dies in the forward. *n_fused counts the Gelus recomputed. */
dc_status dc_fuse_gelu_recompute(dc_graph *g, int *n_fused);

#endif
