/* Gradients of the fused ops that are formed before autodiff, so that their
 * backward is fused too (compiler/ops/fused.c).
 *
 * MatMulBias: Y = act(Z), Z = A2 · B' + bias with A2 = A as [M', K] and
 * dY2 = dY as [M', N]:
 *   dZ    = act'(Z) · dY (from Y for Relu, Tanh, Sigmoid; Gelu recomputes Z
 *           for one GeluGrad)
 *   dA    = dZ · B (transB) or dZ · Bᵀ, through a MatMul over A's batch
 *   dB    = dZ2ᵀ · A2 (transB, [N, K]) or A2ᵀ · dZ2 ([K, N]): a Gemm with
 *           transA, no transposed copy of the activations
 *   dbias = Σ over the rows of dZ2 */
#include <string.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"

static dc_value *gemm_trans_a(dc_graph *g, dc_value *a, dc_value *b)
{
    dc_value *in[2] = {a, b};
    dc_node *n = dc_node_begin(g, "Gemm", "", in, 2, 1);
    if (n && dc_node_set_int(n, g, "transA", 1) != DC_OK)
        return NULL;
    return dc_node_finish(g, n);
}

/* act'(Z) · dY for the node's activation. */
static dc_value *activation_grad(dc_graph *g, const dc_node *node, const char *act, dc_value *dy)
{
    dc_value *y = node->outputs[0];
    if (!*act)
        return dy;
    if (strcmp(act, "Relu") == 0) {
        dc_value *zero = dg_scalar_like(g, y, 0);
        return dc_where(g, dc_binary(g, "Equal", y, zero), zero, dy);
    }
    if (strcmp(act, "Tanh") == 0)
        return dc_mul(g, dy, dc_sub(g, dg_scalar_like(g, y, 1), dc_mul(g, y, y)));
    if (strcmp(act, "Sigmoid") == 0)
        return dc_mul(g, dy, dc_mul(g, y, dc_sub(g, dg_scalar_like(g, y, 1), y)));
    /* Gelu: Z recomputed (the forward does not keep it), then one GeluGrad
     * pass dY · (Φ(z) + z·φ(z)), as Gelu's own rule. */
    dc_node *lin = dg_dinoc_node(g, "MatMulBias", node->inputs, 3, 1);
    if (lin && dc_node_set_int(lin, g, "transB", dc_node_attr_int(node, "transB", 0)) != DC_OK)
        return NULL;
    dc_value *in[] = {dy, dc_node_finish(g, lin)};
    return dc_node_finish(g, dg_dinoc_node(g, "GeluGrad", in, 2, 1));
}

DG_RULE(MatMulBias)
{
    dc_value *a = node->inputs[0], *b = node->inputs[1], *bias = node->inputs[2];
    int64_t trans_b;
    const char *act;
    DC_TRY(dc_attr_i(node, "transB", 0, &trans_b));
    DC_TRY(dc_attr_s(node, "activation", "", &act));
    dc_value *dz = activation_grad(g, node, act, dy[0]);
    int64_t k = a->type.dims[a->type.rank - 1].size, n = bias->type.dims[0].size;
    int64_t rows = k > 0 ? dc_type_numel(&a->type) / k : 0;
    if (rows <= 0)
        return dc_error(DC_ERR_UNSUPPORTED, "MatMulBias '%s': gradient needs static shapes, found %s",
                        node->name, dc_ts(&a->type));
    int64_t a2[2] = {rows, k}, d2[2] = {rows, n};
    if (needs[0]) {
        int64_t perm[2] = {1, 0};
        dx[0] = dc_matmul(g, dz, trans_b ? b : dc_transpose(g, b, perm, 2));
    }
    dc_value *dz2 = needs[1] || needs[2] ? dc_reshape(g, dz, d2, 2) : NULL;
    if (needs[1]) {
        dc_value *a_rows = dc_reshape(g, a, a2, 2);
        dx[1] = trans_b ? gemm_trans_a(g, dz2, a_rows) : gemm_trans_a(g, a_rows, dz2);
    }
    if (needs[2]) {
        int64_t axis = 0;
        dx[2] = dc_reduce(g, "ReduceSum", dz2, &axis, 1, false);
    }
    return dc_build_status(g);
}
