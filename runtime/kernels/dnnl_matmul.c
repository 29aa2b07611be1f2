/* dnnl.MatMul and dnnl.Gemm: oneDNN matmul (gemm:jit on AVX2), f32.
 *
 * MatMul  A [..., M, K] x B [..., K, N] -> Y [broadcast(...), M, N]
 *   numpy semantics: a 1-D A is [1, K] with M dropped from Y, a 1-D B is
 *   [K, 1] with N dropped; batch dims broadcast (oneDNN broadcasts size-1
 *   batch dims of either operand). When B has no batch (weights of a Linear
 *   layer), A's batch dims fold into M: one [B*M, K] x [K, N] GEMM, which is
 *   what the ViT's qkv/proj/fc layers are.
 * Gemm    A [M, K] (transA: [K, M]) x B [K, N] (transB: [N, K]), C -> Y [M, N]
 *   Y = alpha * A' B' + beta * C. Transposes are strided descriptors (no
 *   copies). oneDNN scales the bias with the output scale, so C is the matmul
 *   bias only when alpha == beta and C is [N] / [1, N]; otherwise
 *   Y = beta * ((alpha / beta) * A' B' + C) with C as a binary-add post-op
 *   and beta as a linear post-op. */
#include <string.h>

#include "dnnl_util.h"

/* Shapes padded to a common rank r >= 2. */
typedef struct mm_shape {
    int r;
    int64_t a[DC_MAX_RANK + 1], b[DC_MAX_RANK + 1], y[DC_MAX_RANK + 1];
} mm_shape;

static dc_status matmul_shapes(const dc_kernel_args *a, mm_shape *s)
{
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *Y = a->out[0];
    char b1[96], b2[96], b3[96], b4[96];
    if (A->rank == 0 || B->rank == 0)
        return dc_dnnl_refuse(a, "scalar operand");
    int64_t ad[DC_MAX_RANK + 1] = {0}, bd[DC_MAX_RANK + 1] = {0};
    int ra = A->rank, rb = B->rank;
    if (ra == 1) { /* [K] -> [1, K] */
        ad[0] = 1, ad[1] = A->dims[0], ra = 2;
    } else {
        memcpy(ad, A->dims, sizeof(int64_t) * (size_t)ra);
    }
    if (rb == 1) { /* [K] -> [K, 1] */
        bd[0] = B->dims[0], bd[1] = 1, rb = 2;
    } else {
        memcpy(bd, B->dims, sizeof(int64_t) * (size_t)rb);
    }
    int r = ra > rb ? ra : rb;
    s->r = r;
    for (int i = 0; i < r; i++) {
        s->a[i] = i < r - ra ? 1 : ad[i - (r - ra)];
        s->b[i] = i < r - rb ? 1 : bd[i - (r - rb)];
    }
    if (s->a[r - 1] != s->b[r - 2])
        return dc_dnnl_shape_error(a, "inner dimensions differ: %s x %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, A->rank, A->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, B->rank, B->dims));
    for (int i = 0; i < r - 2; i++) {
        if (s->a[i] != s->b[i] && s->a[i] != 1 && s->b[i] != 1)
            return dc_dnnl_shape_error(a, "batch dimensions do not broadcast: %s x %s",
                                       dc_dnnl_dims_str(b1, sizeof b1, A->rank, A->dims),
                                       dc_dnnl_dims_str(b2, sizeof b2, B->rank, B->dims));
        s->y[i] = s->a[i] == 1 ? s->b[i] : s->a[i];
    }
    s->y[r - 2] = s->a[r - 2];
    s->y[r - 1] = s->b[r - 1];
    /* What the plan's Y must be: the 1-D operands' dims dropped. */
    int64_t want[DC_MAX_RANK + 1];
    int rw = 0;
    for (int i = 0; i < r; i++) {
        if ((i == r - 2 && A->rank == 1) || (i == r - 1 && B->rank == 1))
            continue;
        want[rw++] = s->y[i];
    }
    if (Y->rank != rw || memcmp(Y->dims, want, sizeof(int64_t) * (size_t)rw) != 0)
        return dc_dnnl_shape_error(a, "output is %s; %s x %s gives %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, Y->rank, Y->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, A->rank, A->dims),
                                   dc_dnnl_dims_str(b3, sizeof b3, B->rank, B->dims),
                                   dc_dnnl_dims_str(b4, sizeof b4, rw, want));
    /* No batch on B: fold A's batch into M (A and Y are row-major). */
    bool b_batched = false;
    for (int i = 0; i < r - 2; i++)
        b_batched |= s->b[i] != 1;
    if (r > 2 && !b_batched) {
        int64_t m = 1;
        for (int i = 0; i < r - 1; i++)
            m *= s->a[i];
        int64_t k = s->a[r - 1], n = s->y[r - 1];
        s->r = 2;
        s->a[0] = m, s->a[1] = k;
        s->b[0] = k, s->b[1] = n;
        s->y[0] = m, s->y[1] = n;
    }
    return DC_OK;
}

static dc_status matmul_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 2, 1, 1, DC_MAX_RANK));
    mm_shape s = {0};
    DC_TRY(matmul_shapes(a, &s));
    dnnl_memory_desc_t amd, bmd, ymd;
    DC_TRY(dc_dnnl_md(a, &amd, s.r, s.a, NULL));
    DC_TRY(dc_dnnl_md(a, &bmd, s.r, s.b, NULL));
    DC_TRY(dc_dnnl_md(a, &ymd, s.r, s.y, NULL));
    dnnl_matmul_desc_t d;
    DC_DNNL_TRY(a, dnnl_matmul_desc_init(&d, &amd, &bmd, NULL, &ymd));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, "matmul", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_WEIGHTS, st ? a->in_data[1] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 3, false);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_MatMul, "dnnl.MatMul", "MatMul", matmul_build)

static dc_status gemm_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 3, 1, 1, 2));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *Y = a->out[0];
    const dc_plan_buffer *C = a->step->n_inputs > 2 ? a->in[2] : NULL;
    char b1[96], b2[96], b3[96];
    if (A->rank != 2 || B->rank != 2 || Y->rank != 2)
        return dc_dnnl_shape_error(a, "A, B and Y must be 2-D");
    int64_t trans_a = dc_step_int(a->step, "transA", 0);
    int64_t trans_b = dc_step_int(a->step, "transB", 0);
    float alpha = dc_step_float(a->step, "alpha", 1.0f);
    float beta = dc_step_float(a->step, "beta", 1.0f);
    int64_t m = trans_a ? A->dims[1] : A->dims[0], k = trans_a ? A->dims[0] : A->dims[1];
    int64_t kb = trans_b ? B->dims[1] : B->dims[0], n = trans_b ? B->dims[0] : B->dims[1];
    if (k != kb || Y->dims[0] != m || Y->dims[1] != n)
        return dc_dnnl_shape_error(a, "A %s%s x B %s%s does not give Y %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, 2, A->dims),
                                   trans_a ? "^T" : "",
                                   dc_dnnl_dims_str(b2, sizeof b2, 2, B->dims),
                                   trans_b ? "^T" : "",
                                   dc_dnnl_dims_str(b3, sizeof b3, 2, Y->dims));
    /* A' is [M, K] over A's bytes: row-major, or A = [K, M] read with strides (1, M). */
    int64_t adims[2] = {m, k}, astr[2] = {trans_a ? 1 : k, trans_a ? m : 1};
    int64_t bdims[2] = {k, n}, bstr[2] = {trans_b ? 1 : n, trans_b ? k : 1};
    int64_t ydims[2] = {m, n};
    dnnl_memory_desc_t amd, bmd, ymd, cmd;
    DC_TRY(dc_dnnl_md(a, &amd, 2, adims, astr));
    DC_TRY(dc_dnnl_md(a, &bmd, 2, bdims, bstr));
    DC_TRY(dc_dnnl_md(a, &ymd, 2, ydims, NULL));

    dc_dnnl_attr attr = {.scale = alpha};
    bool use_c = C && beta != 0.0f, c_is_bias = false;
    if (use_c) {
        /* C broadcasts unidirectionally to [M, N]. */
        int64_t cd[2] = {1, 1};
        for (int i = 0; i < C->rank && i < 2; i++)
            cd[2 - C->rank + i] = C->dims[i];
        if (C->rank > 2 || (cd[0] != 1 && cd[0] != m) || (cd[1] != 1 && cd[1] != n))
            return dc_dnnl_shape_error(a, "C %s does not broadcast to [%lld,%lld]",
                                       dc_dnnl_dims_str(b1, sizeof b1, C->rank, C->dims),
                                       (long long)m, (long long)n);
        DC_TRY(dc_dnnl_md(a, &cmd, 2, cd, NULL));
        c_is_bias = alpha == beta && cd[0] == 1 && cd[1] == n;
        if (!c_is_bias) {
            attr.scale = alpha / beta;
            attr.post[attr.n_post].binary = true;
            attr.post[attr.n_post].alg = dnnl_binary_add;
            attr.post[attr.n_post++].md = cmd;
            if (beta != 1.0f) {
                attr.post[attr.n_post].binary = false;
                attr.post[attr.n_post].alg = dnnl_eltwise_linear;
                attr.post[attr.n_post].alpha = beta;
                attr.post[attr.n_post++].beta = 0.0f;
            }
        }
    }
    dnnl_matmul_desc_t d;
    DC_DNNL_TRY(a, dnnl_matmul_desc_init(&d, &amd, &bmd, c_is_bias ? &cmd : NULL, &ymd));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, &attr, "matmul", &pd));
    dc_dnnl_bind binds[4] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_WEIGHTS, st ? a->in_data[1] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    int nb = 3;
    if (use_c)
        binds[nb++] = (dc_dnnl_bind){
            c_is_bias ? DNNL_ARG_BIAS : (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1),
            st ? a->in_data[2] : NULL, NULL};
    return dc_dnnl_add(a, st, pd, binds, nb, false);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_Gemm, "dnnl.Gemm", "Gemm", gemm_build)

/* dnnl.MatMulBias (ai.dinoc): Y = act(A · B' + bias) as one matmul with a
 * bias and an eltwise post-op. A [..., M, K] folds into [M', K]; B [K, N], or
 * [N, K] read through strides with transB; bias [N] as [1, N]. */
static dc_status matmul_bias_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    DC_TRY(dc_dnnl_check_args(a, 3, 3, 1, 1, DC_MAX_RANK));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *C = a->in[2], *Y = a->out[0];
    int64_t trans_b = dc_step_int(a->step, "transB", 0);
    const char *act = dc_step_string(a->step, "activation", "");
    char b1[96], b2[96], b3[96];
    if (A->rank < 2 || B->rank != 2 || C->rank != 1 || Y->rank < 1)
        return dc_dnnl_shape_error(a, "expected A [..., M, K], B 2-D, bias 1-D and Y [..., N]");
    int64_t k = A->dims[A->rank - 1], n = trans_b ? B->dims[0] : B->dims[1];
    int64_t m = n ? dc_dnnl_numel(Y) / n : 0;
    /* A's rows must be Y's rows: both fold to M' = numel / last dim. */
    if ((trans_b ? B->dims[1] : B->dims[0]) != k || C->dims[0] != n || Y->dims[Y->rank - 1] != n ||
        (k && dc_dnnl_numel(A) / k != m))
        return dc_dnnl_shape_error(a, "A %s x B %s%s does not give Y %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, A->rank, A->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, 2, B->dims), trans_b ? "^T" : "",
                                   dc_dnnl_dims_str(b3, sizeof b3, Y->rank, Y->dims));
    dc_dnnl_attr attr = {.scale = 1.0f};
    static const struct {
        const char *name;
        dnnl_alg_kind_t alg;
    } acts[] = {{"Relu", dnnl_eltwise_relu},
                {"Tanh", dnnl_eltwise_tanh},
                {"Sigmoid", dnnl_eltwise_logistic},
                {"Gelu", dnnl_eltwise_gelu_erf}};
    bool known = !*act;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(act, acts[i].name) == 0) {
            attr.post[attr.n_post].binary = false;
            attr.post[attr.n_post].alg = acts[i].alg;
            attr.post[attr.n_post].alpha = 0.0f;
            attr.post[attr.n_post++].beta = 0.0f;
            known = true;
        }
    if (!known)
        return dc_dnnl_refuse(a, "activation '%s'", act);
    int64_t adims[2] = {m, k}, bdims[2] = {k, n}, bstr[2] = {trans_b ? 1 : n, trans_b ? k : 1};
    int64_t cdims[2] = {1, n}, ydims[2] = {m, n};
    dnnl_memory_desc_t amd, bmd, cmd, ymd;
    DC_TRY(dc_dnnl_md(a, &amd, 2, adims, NULL));
    DC_TRY(dc_dnnl_md(a, &bmd, 2, bdims, bstr));
    DC_TRY(dc_dnnl_md(a, &cmd, 2, cdims, NULL));
    DC_TRY(dc_dnnl_md(a, &ymd, 2, ydims, NULL));
    dnnl_matmul_desc_t d;
    DC_DNNL_TRY(a, dnnl_matmul_desc_init(&d, &amd, &bmd, &cmd, &ymd));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, &attr, "matmul", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_WEIGHTS, st ? a->in_data[1] : NULL, NULL},
        {DNNL_ARG_BIAS, st ? a->in_data[2] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 4, false);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_MatMulBias, "dnnl.MatMulBias", "MatMulBias", matmul_bias_build)
