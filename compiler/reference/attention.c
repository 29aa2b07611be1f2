/* Reference Attention and AttentionGrad (compiler/ops/attention.c), in
 * double, straight from the definitions (whole [N, N] matrices per head). */
#include <math.h>
#include <stdlib.h>

#include "ops/infer_util.h"
#include "reference/ref_util.h"

typedef struct dims {
    int64_t b, n, d, h, hd;
    double scale;
} dims;

static dc_status read_dims(const dc_node *node, const dc_tensor *qkv, dims *s)
{
    DC_TRY(ref_need_kind(node, qkv, "QKV", REF_KINDS_FLOAT));
    int64_t heads;
    float scale;
    DC_TRY(dc_attr_i(node, "num_heads", 1, &heads));
    DC_TRY(dc_attr_f(node, "scale", 1.0f, &scale));
    if (qkv->rank != 3 || heads < 1 || qkv->dims[2] % (3 * heads) != 0)
        return dc_error(DC_ERR_SHAPE, "%s: QKV %s is not [B, N, 3 · %lld · head dim]", node->op_type,
                        ref_shape_str(qkv->rank, qkv->dims), (long long)heads);
    *s = (dims){qkv->dims[0], qkv->dims[1], qkv->dims[2] / 3, heads, qkv->dims[2] / 3 / heads, scale};
    return DC_OK;
}

/* Element (i, j) of head h's q (part 0), k (1) or v (2) in batch b. */
static double qkv_at(const dc_tensor *t, const dims *s, int64_t b, int64_t h, int part, int64_t i,
                     int64_t j)
{
    return ref_get(t, (b * s->n + i) * 3 * s->d + part * s->d + h * s->hd + j);
}

/* P = softmax(scale · Q Kᵀ) [n, n] of (b, h), and each row's logsumexp. */
static void probabilities(const dc_tensor *qkv, const dims *s, int64_t b, int64_t h, double *p,
                          double *lse)
{
    for (int64_t i = 0; i < s->n; i++) {
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < s->n; j++) {
            double dot = 0;
            for (int64_t e = 0; e < s->hd; e++)
                dot += qkv_at(qkv, s, b, h, 0, i, e) * qkv_at(qkv, s, b, h, 1, j, e);
            p[i * s->n + j] = s->scale * dot;
            m = fmax(m, p[i * s->n + j]);
        }
        for (int64_t j = 0; j < s->n; j++)
            sum += exp(p[i * s->n + j] - m);
        lse[i] = m + log(sum);
        for (int64_t j = 0; j < s->n; j++)
            p[i * s->n + j] = exp(p[i * s->n + j] - lse[i]);
    }
}

/* QKV[B, N, 3D] -> O[B, N, D], LSE[B, H, N] */
dc_status dc_ref_Attention(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                           dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *qkv = inputs[0];
    dims s;
    DC_TRY(read_dims(node, qkv, &s));
    int64_t od[] = {s.b, s.n, s.d}, ld[] = {s.b, s.h, s.n};
    DC_TRY(ref_new_output(node, outputs, 0, qkv->dtype, 3, od));
    bool want_lse = ref_wants_output(node, 1);
    if (want_lse)
        DC_TRY(ref_new_output(node, outputs, 1, qkv->dtype, 3, ld));
    double *p = malloc(((size_t)(s.n * s.n) + (size_t)s.n + 1) * sizeof *p), *lse = p + s.n * s.n;
    if (!p)
        return dc_error(DC_ERR_NOMEM, "Attention: [%lld, %lld] probabilities", (long long)s.n,
                        (long long)s.n);
    for (int64_t b = 0; b < s.b; b++)
        for (int64_t h = 0; h < s.h; h++) {
            probabilities(qkv, &s, b, h, p, lse);
            for (int64_t i = 0; i < s.n; i++) {
                for (int64_t e = 0; e < s.hd; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < s.n; j++)
                        acc += p[i * s.n + j] * qkv_at(qkv, &s, b, h, 2, j, e);
                    ref_set(outputs[0], (b * s.n + i) * s.d + h * s.hd + e, acc);
                }
                if (want_lse)
                    ref_set(outputs[1], (b * s.h + h) * s.n + i, lse[i]);
            }
        }
    free(p);
    return DC_OK;
}

/* dO[B, N, D], QKV[B, N, 3D], O[B, N, D], LSE[B, H, N] -> dQKV[B, N, 3D].
 * P comes from QKV again here; O and LSE are only checked for shape. */
dc_status dc_ref_AttentionGrad(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                               dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dout = inputs[0], *qkv = inputs[1];
    dims s;
    DC_TRY(read_dims(node, qkv, &s));
    int64_t od[] = {s.b, s.n, s.d}, ld[] = {s.b, s.h, s.n};
    const int64_t *want[] = {od, NULL, od, ld};
    for (int i = 0; i < 4; i++) {
        bool ok = i == 1 || (inputs[i]->rank == 3 && inputs[i]->dims[0] == want[i][0] &&
                             inputs[i]->dims[1] == want[i][1] && inputs[i]->dims[2] == want[i][2]);
        if (i != 1)
            DC_TRY(ref_same_dtype(node, qkv, inputs[i]));
        if (!ok)
            return dc_error(DC_ERR_SHAPE, "AttentionGrad: input %d is %s, expected %s", i,
                            ref_shape_str(inputs[i]->rank, inputs[i]->dims), ref_shape_str(3, want[i]));
    }
    DC_TRY(ref_new_output(node, outputs, 0, qkv->dtype, 3, qkv->dims));
    size_t nn = (size_t)(s.n * s.n);
    double *p = malloc((2 * nn + (size_t)s.n + 1) * sizeof *p), *dp = p + nn, *lse = dp + nn;
    if (!p)
        return dc_error(DC_ERR_NOMEM, "AttentionGrad: [%lld, %lld] probabilities", (long long)s.n,
                        (long long)s.n);
    dc_tensor *dqkv = outputs[0];
    for (int64_t b = 0; b < s.b; b++)
        for (int64_t h = 0; h < s.h; h++) {
            probabilities(qkv, &s, b, h, p, lse);
            /* dP = dO Vᵀ; dS = P ⊙ (dP − Σ_j P dP) */
            for (int64_t i = 0; i < s.n; i++) {
                double row = 0;
                for (int64_t j = 0; j < s.n; j++) {
                    double acc = 0;
                    for (int64_t e = 0; e < s.hd; e++)
                        acc += ref_get(dout, (b * s.n + i) * s.d + h * s.hd + e) *
                               qkv_at(qkv, &s, b, h, 2, j, e);
                    dp[i * s.n + j] = acc;
                    row += acc * p[i * s.n + j];
                }
                for (int64_t j = 0; j < s.n; j++)
                    dp[i * s.n + j] = p[i * s.n + j] * (dp[i * s.n + j] - row);
            }
            for (int64_t i = 0; i < s.n; i++)
                for (int64_t e = 0; e < s.hd; e++) {
                    double dq = 0, dk = 0, dv = 0;
                    for (int64_t j = 0; j < s.n; j++) {
                        dq += dp[i * s.n + j] * qkv_at(qkv, &s, b, h, 1, j, e);
                        dk += dp[j * s.n + i] * qkv_at(qkv, &s, b, h, 0, j, e);
                        dv += p[j * s.n + i] * ref_get(dout, (b * s.n + j) * s.d + h * s.hd + e);
                    }
                    int64_t at = (b * s.n + i) * 3 * s.d + h * s.hd + e;
                    ref_set(dqkv, at, s.scale * dq);
                    ref_set(dqkv, at + s.d, s.scale * dk);
                    ref_set(dqkv, at + 2 * s.d, dv);
                }
        }
    free(p);
    return DC_OK;
}
