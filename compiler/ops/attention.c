/* Attention and AttentionGrad (domain ai.dinoc): timm's multi-head
 * self-attention from the packed qkv projection to the merged heads, formed
 * by passes/fuse/fuse_attention.c.
 *
 *   Attention(QKV[B, N, 3D]) -> O[B, N, D], LSE[B, H, N] (optional)
 *     {num_heads = H, scale = s}; QKV = [q | k | v], head h at columns
 *     h·d .. (h+1)·d of each third (d = D / H)
 *   O[b, :, h]  = softmax(s · Q_h K_hᵀ) V_h,   LSE[b, h, i] = logsumexp_j(s · Q_h K_hᵀ)[i]
 *
 *   AttentionGrad(dO[B, N, D], QKV, O, LSE) -> dQKV[B, N, 3D]
 *     P = exp(s · Q_h K_hᵀ − LSE) recomputed per (b, h), flash-style:
 *     dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),
 *     dQ = s · dS K,  dK = s · dSᵀ Q
 *
 * Neither the [B, H, N, N] scores nor the probabilities outlive one (b, h)
 * step of the kernel: between forward and backward only LSE is kept. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

/* QKV's shape: [B, N, 3D] with D divisible by num_heads. */
static dc_status check_qkv(const dc_node *n, const dc_type *qkv, int64_t *heads)
{
    DC_TRY(dc_need_float(n, qkv, "QKV"));
    DC_TRY(dc_attr_i(n, "num_heads", 1, heads));
    float scale;
    DC_TRY(dc_attr_f(n, "scale", 1.0f, &scale));
    if (*heads < 1)
        return dc_error(DC_ERR_INVALID, "%s: num_heads must be >= 1, found %lld", n->op_type,
                        (long long)*heads);
    if (qkv->rank >= 0 && qkv->rank != 3)
        return dc_error(DC_ERR_SHAPE, "%s: QKV must be [B, N, 3D], found %s", n->op_type, dc_ts(qkv));
    if (qkv->rank == 3 && dc_dim_known(qkv->dims[2]) && qkv->dims[2].size % (3 * *heads) != 0)
        return dc_error(DC_ERR_SHAPE, "%s: QKV %s: last axis must be 3 · num_heads (%lld) · head dim",
                        n->op_type, dc_ts(qkv), (long long)*heads);
    return DC_OK;
}

static dc_type merged(const dc_type *qkv)
{
    dc_type o = *qkv;
    if (o.rank == 3 && dc_dim_known(o.dims[2]))
        o.dims[2] = dc_dim_of(o.dims[2].size / 3);
    else if (o.rank == 3)
        o.dims[2] = dc_dim_any();
    return o;
}

static dc_status infer_attention(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *qkv = &n->inputs[0]->type;
    int64_t heads;
    DC_TRY(check_qkv(n, qkv, &heads));
    n->outputs[0]->type = merged(qkv);
    if (n->n_outputs > 1 && n->outputs[1]) {
        dc_type lse = dc_type_ranked(qkv->dtype, 3);
        if (qkv->rank == 3) {
            lse.dims[0] = qkv->dims[0];
            lse.dims[1] = dc_dim_of(heads);
            lse.dims[2] = qkv->dims[1];
        }
        n->outputs[1]->type = lse;
    }
    return DC_OK;
}

static bool same_type(const dc_type *a, const dc_type *b)
{
    if (a->rank < 0 || b->rank < 0)
        return true;
    bool same = a->rank == b->rank;
    for (int i = 0; same && i < a->rank; i++)
        same = !dc_dim_known(a->dims[i]) || !dc_dim_known(b->dims[i]) ||
               a->dims[i].size == b->dims[i].size;
    return same;
}

static dc_status infer_attention_grad(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *qkv = &n->inputs[1]->type;
    int64_t heads;
    DC_TRY(check_qkv(n, qkv, &heads));
    dc_type o = merged(qkv), lse = dc_type_ranked(qkv->dtype, 3);
    if (qkv->rank == 3) {
        lse.dims[0] = qkv->dims[0];
        lse.dims[1] = dc_dim_of(heads);
        lse.dims[2] = qkv->dims[1];
    }
    const char *what[] = {"dO", "QKV", "O", "LSE"};
    const dc_type *want[] = {&o, qkv, &o, &lse};
    for (int i = 0; i < 4; i++) {
        DC_TRY(dc_same_dtype(n, qkv, &n->inputs[i]->type));
        if (!same_type(&n->inputs[i]->type, want[i]))
            return dc_error(DC_ERR_SHAPE, "AttentionGrad: %s must be %s, found %s", what[i],
                            dc_ts(want[i]), dc_ts(&n->inputs[i]->type));
    }
    n->outputs[0]->type = *qkv;
    return DC_OK;
}

const dc_op_schema dc_op_Attention = {
    .name = "Attention", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 2,
    .infer = infer_attention,
    .reference = dc_ref_Attention,
    .gradient = dc_grad_Attention,
};
const dc_op_schema dc_op_AttentionGrad = {
    .name = "AttentionGrad", .domain = "ai.dinoc",
    .min_inputs = 4, .max_inputs = 4, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_attention_grad,
    .reference = dc_ref_AttentionGrad,
};
