/* Gradients of MatMul, Gemm and the patch-embedding Conv, as transposed matmuls. */
#include <string.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* Swaps the last two axes of x (rank >= 2). */
static dc_value *transpose_last2(dc_graph *g, dc_value *x)
{
    int rank = x ? x->type.rank : 0;
    int64_t perm[DC_MAX_RANK];
    for (int i = 0; i < rank; i++)
        perm[i] = i;
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    return dc_transpose(g, x, perm, rank);
}

static dc_value *unsqueeze_at(dc_graph *g, dc_value *x, int64_t axis)
{
    return dc_unsqueeze(g, x, &axis, 1);
}

/* A [..., M, K] @ B [..., K, N] = Y [..., M, N]; 1-D operands are promoted as
 * ONNX does (A [K] -> [1, K], B [K] -> [K, 1]) and the gradient reshaped back. */
DG_RULE(MatMul)
{
    dc_value *a = node->inputs[0], *b = node->inputs[1], *d = dy[0];
    dc_value *a2 = a, *b2 = b;
    if (a->type.rank == 1) {
        a2 = unsqueeze_at(g, a, 0);
        d = unsqueeze_at(g, d, -2);
    }
    if (b->type.rank == 1) {
        b2 = unsqueeze_at(g, b, 1);
        d = unsqueeze_at(g, d, -1);
    }
    if (needs[0])
        dx[0] = dg_reshape_like(g, dg_unbroadcast(g, dc_matmul(g, d, transpose_last2(g, b2)), a2), a);
    if (needs[1] && a2->type.rank > 2 && b2->type.rank == 2) {
        /* A weight applied to a batch of rows: dB = Σ_batch Aᵀ·dY as one
         * [K, rows]·[rows, N] product, never the per-batch [..., K, N]. */
        int64_t k = a2->type.dims[a2->type.rank - 1].size, n = d->type.dims[d->type.rank - 1].size;
        int64_t a_rows[] = {dc_type_numel(&a2->type) / k, k}, d_rows[] = {dc_type_numel(&d->type) / n, n};
        dc_value *at = transpose_last2(g, dc_reshape(g, a2, a_rows, 2));
        dx[1] = dg_reshape_like(g, dc_matmul(g, at, dc_reshape(g, d, d_rows, 2)), b);
    } else if (needs[1]) {
        dx[1] = dg_reshape_like(g, dg_unbroadcast(g, dc_matmul(g, transpose_last2(g, a2), d), b2), b);
    }
    return DC_OK;
}

/* Y = alpha · A' B' + beta · C with A' = transA ? Aᵀ : A, B' likewise. */
DG_RULE(Gemm)
{
    int64_t trans_a, trans_b;
    float alpha, beta;
    DC_TRY(dc_attr_i(node, "transA", 0, &trans_a));
    DC_TRY(dc_attr_i(node, "transB", 0, &trans_b));
    DC_TRY(dc_attr_f(node, "alpha", 1.0f, &alpha));
    DC_TRY(dc_attr_f(node, "beta", 1.0f, &beta));
    dc_value *a = node->inputs[0], *b = node->inputs[1];
    dc_value *d = alpha == 1.0f ? dy[0] : dc_mul(g, dy[0], dg_scalar_like(g, dy[0], alpha));
    dc_value *a_eff = trans_a ? transpose_last2(g, a) : a;
    dc_value *b_eff = trans_b ? transpose_last2(g, b) : b;
    if (needs[0]) {
        dc_value *da_eff = dc_matmul(g, d, transpose_last2(g, b_eff));
        dx[0] = trans_a ? transpose_last2(g, da_eff) : da_eff;
    }
    if (needs[1]) {
        dc_value *db_eff = dc_matmul(g, transpose_last2(g, a_eff), d);
        dx[1] = trans_b ? transpose_last2(g, db_eff) : db_eff;
    }
    if (node->n_inputs > 2 && needs[2]) {
        dc_value *dc = beta == 1.0f ? dy[0] : dc_mul(g, dy[0], dg_scalar_like(g, dy[0], beta));
        dx[2] = dg_unbroadcast(g, dc, node->inputs[2]);
    }
    return DC_OK;
}

/* The ViT patch embedding: a 2-D convolution whose stride equals its kernel,
 * without padding, dilation or groups, is a matmul over non-overlapping
 * patches. x [N,C,H,W], w [O,C,k,k], y [N,O,H/k,W/k]:
 *   P  = patches(x)            [N·Hp·Wp, C·k·k]
 *   dW = dYᵀ P                 [O, C·k·k]
 *   dP = dY W                  -> folded back into x's layout
 *   db = Σ_{n,h,w} dy */
DG_RULE(Conv)
{
    dc_value *x = node->inputs[0], *w = node->inputs[1], *d = dy[0];
    int count;
    const int64_t *strides = dc_node_attr_ints(node, "strides", &count);
    int64_t group;
    DC_TRY(dc_attr_i(node, "group", 1, &group));
    int64_t n = x->type.dims[0].size, c = x->type.dims[1].size, h = x->type.dims[2].size,
            wd = x->type.dims[3].size, o = w->type.dims[0].size, k = w->type.dims[2].size;
    bool patchify = x->type.rank == 4 && group == 1 && count == 2 && strides[0] == k &&
                    strides[1] == k && w->type.dims[3].size == k && h % k == 0 && wd % k == 0;
    int n_pads, n_dil;
    const int64_t *pads = dc_node_attr_ints(node, "pads", &n_pads);
    const int64_t *dil = dc_node_attr_ints(node, "dilations", &n_dil);
    for (int i = 0; i < n_pads; i++)
        patchify &= pads[i] == 0;
    for (int i = 0; i < n_dil; i++)
        patchify &= dil[i] == 1;
    const char *auto_pad = dc_node_attr_string(node, "auto_pad", "NOTSET");
    patchify &= strcmp(auto_pad, "NOTSET") == 0 || strcmp(auto_pad, "VALID") == 0;
    if (!patchify) /* strides, pads, dilations, groups, other ranks: conv_grad.c */
        return dc_grad_ConvGeneral(g, node, dy, needs, dx);
    int64_t hp = h / k, wp = wd / k, rows = n * hp * wp, cols = c * k * k;
    int64_t six[] = {n, c, hp, k, wp, k}, to_rows[] = {0, 2, 4, 1, 3, 5}, from_rows[] = {0, 3, 1, 4, 2, 5};
    int64_t mat_x[] = {rows, cols}, mat_y[] = {rows, o}, nhwo[] = {0, 2, 3, 1};
    int64_t patch_grid[] = {n, hp, wp, c, k, k};
    dc_value *dy_rows = dc_reshape(g, dc_transpose(g, d, nhwo, 4), mat_y, 2);
    if (needs[0]) {
        dc_value *w_rows = dc_reshape(g, w, (int64_t[]){o, cols}, 2);
        dc_value *dp = dc_reshape(g, dc_matmul(g, dy_rows, w_rows), patch_grid, 6);
        dx[0] = dg_reshape_like(g, dc_transpose(g, dp, from_rows, 6), x);
    }
    if (needs[1]) {
        dc_value *p = dc_reshape(g, dc_transpose(g, dc_reshape(g, x, six, 6), to_rows, 6), mat_x, 2);
        dc_value *dw = dc_matmul(g, transpose_last2(g, dy_rows), p);
        dx[1] = dg_reshape_like(g, dw, w);
    }
    if (node->n_inputs > 2 && needs[2]) {
        int64_t axes[] = {0, 2, 3};
        dx[2] = dc_reduce(g, "ReduceSum", d, axes, 3, false);
    }
    return DC_OK;
}
