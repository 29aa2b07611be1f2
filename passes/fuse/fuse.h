/* The fusion pass: rewrites groups of nodes into single ai.dinoc ops whose
 * kernels make one pass over memory (ARCHITECTURE.md, one training step, 4).
 *
 * Every rule is one file passes/fuse/fuse_<name>.c with one entry point
 *     dc_status dc_fuse_<name>(dc_graph *g, int *n_fused);
 * which rewrites every match it finds in `g`, adds the number of groups it
 * formed to *n_fused, and leaves the graph valid (verified, shapes inferred).
 * Rules use the toolkit of match.h. The pass (fuse.c) runs the rules of a
 * stage in the fixed order of its table.
 *
 * Two stages, because a training step is made in the middle of the pipeline:
 *   FORWARD  before autodiff: rules whose fused op has a gradient rule, so the
 *            backward autodiff writes is fused as well;
 *   FINAL    after autodiff, optimizer and EMA (or right after FORWARD when
 *            the graph is not a training step): rules over anything left,
 *            including forward-only fusions and the optimizer's updates. */
#ifndef DC_FUSE_H
#define DC_FUSE_H

#include <stdio.h>

#include "ir.h"

typedef enum dc_fuse_stage {
    DC_FUSE_FORWARD = 1,
    DC_FUSE_FINAL = 2,
} dc_fuse_stage;

typedef dc_status (*dc_fuse_fn)(dc_graph *g, int *n_fused);

typedef struct dc_fuse_rule {
    const char *name;   /* "elementwise", for logs and tests */
    dc_fuse_fn apply;
    unsigned stages;    /* DC_FUSE_FORWARD | DC_FUSE_FINAL */
} dc_fuse_rule;

/* The rules in the order the pass applies them. */
const dc_fuse_rule *dc_fuse_rules(int *count);

/* Runs every rule of `stage` in table order. `log` (may be NULL) receives one
 * line per rule that fused something: "fuse: elementwise 12". *n_fused (may
 * be NULL) receives the total number of groups formed. */
dc_status dc_fuse(dc_graph *g, dc_fuse_stage stage, FILE *log, int *n_fused);

/* ---- the rules ----------------------------------------------------------- */

/* Chains of element-wise ops (bias, residual add, LayerScale, drop-path
 * scale, activations) as one ai.dinoc FusedElementwise loop. */
dc_status dc_fuse_elementwise(dc_graph *g, int *n_fused);
/* MatMul/Gemm + bias (+ an element-wise activation) as one ai.dinoc
 * MatMulBias: a oneDNN matmul with a bias and an eltwise post-op. */
dc_status dc_fuse_matmul_bias(dc_graph *g, int *n_fused);
/* Transposes of matrices folded into the MatMul/Gemm reading or producing
 * them (transA/transB flags), chains of Transposes composed, and Transposes
 * left without readers removed. FINAL. */
dc_status dc_fuse_transpose(dc_graph *g, int *n_fused);
/* The optimizer's per-parameter AdamW nodes of one param group as one
 * multi-tensor ai.dinoc AdamW node. */
dc_status dc_fuse_adamw(dc_graph *g, int *n_fused);

/* The exact GELU composition x · (erf(x / √2) + 1) · 0.5 (builder's dc_gelu
 * and torch's ONNX export, either operand order, x/√2 as Div or as Mul by
 * 1/√2, the 0.5 applied first or last) -> ai.dinoc Gelu, whose backward
 * GeluGrad reads only x. FORWARD. */
dc_status dc_fuse_gelu(dc_graph *g, int *n_fused);
/* timm's attention, from the packed qkv projection [B, N, 3D] through the
 * head split, scaled QKᵀ, softmax, ·V and the head merge to [B, N, D]
 * (graphs/vit.c, torch's export) -> ai.dinoc Attention, whose backward
 * recomputes the probabilities instead of keeping them. FORWARD. */
dc_status dc_fuse_attention(dc_graph *g, int *n_fused);
/* LayerNormalization nodes computing only Y get their Mean and InvStdDev
 * outputs (where the statistics have X's element type), so the fused
 * backward, one ai.dinoc LayerNormGrad, reads them instead of recomputing.
 * FORWARD. */
dc_status dc_fuse_layer_norm(dc_graph *g, int *n_fused);
/* After autodiff: backward readers of a Gelu's output read a Gelu recomputed
 * from its input (which GeluGrad keeps alive anyway) right before them, so
 * the output dies in the forward. *n_fused counts the Gelus recomputed.
 * FINAL. */
dc_status dc_fuse_gelu_recompute(dc_graph *g, int *n_fused);

#endif
