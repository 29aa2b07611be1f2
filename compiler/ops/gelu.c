/* Gelu and GeluGrad (domain ai.dinoc): the exact (erf) GELU of timm's MLP,
 * formed by passes/fuse/fuse_gelu.c from its composition
 * x · (erf(x / √2) + 1) · 0.5, and its backward in one pass over memory.
 *
 *   Gelu(X) -> Y,          Y = X · Φ(X) = 0.5 · X · (1 + erf(X / √2))
 *   GeluGrad(dY, X) -> dX, dX = dY · (Φ(X) + X · φ(X)),  φ(x) = exp(−x²/2) / √(2π)
 *
 * The backward reads only X: the composition kept X/√2, erf(…), 1 + erf(…)
 * and X·(1 + erf(…)) alive from the forward to the backward instead. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

static dc_status infer_gelu(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    DC_TRY(dc_need_float(n, &n->inputs[0]->type, "X"));
    n->outputs[0]->type = n->inputs[0]->type;
    return DC_OK;
}

static dc_status infer_gelu_grad(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *dy = &n->inputs[0]->type, *x = &n->inputs[1]->type;
    DC_TRY(dc_need_float(n, x, "X"));
    DC_TRY(dc_same_dtype(n, dy, x));
    bool same = dy->rank < 0 || x->rank < 0 || dy->rank == x->rank;
    for (int i = 0; same && dy->rank >= 0 && x->rank >= 0 && i < x->rank; i++)
        same = !dc_dim_known(dy->dims[i]) || !dc_dim_known(x->dims[i]) ||
               dy->dims[i].size == x->dims[i].size;
    if (!same)
        return dc_error(DC_ERR_SHAPE, "GeluGrad: dY %s must have X's shape %s", dc_ts(dy), dc_ts(x));
    n->outputs[0]->type = *x;
    return DC_OK;
}

const dc_op_schema dc_op_Gelu = {
    .name = "Gelu", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_gelu,
    .reference = dc_ref_Gelu,
    .gradient = dc_grad_Gelu,
    .in_place_inputs = 1u << 0,
};
const dc_op_schema dc_op_GeluGrad = {
    .name = "GeluGrad", .domain = "ai.dinoc",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_gelu_grad,
    .reference = dc_ref_GeluGrad,
    .in_place_inputs = 1u << 0, /* dY: the kernel reads dY[i] and X[i] to write dX[i] */
};
