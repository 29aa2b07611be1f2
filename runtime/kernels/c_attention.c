/* c.Attention and c.AttentionGrad (ai.dinoc): multi-head self-attention from
 * the packed qkv projection, one (batch, head) at a time, flash-style: the
 * [N, N] scores live only in a per-thread scratch buffer, and the backward
 * recomputes the probabilities from the forward's row logsumexp.
 *
 *   Attention:     QKV[B, N, 3D] -> O[B, N, D], LSE[B, H, N] (optional)
 *   AttentionGrad: dO[B, N, D], QKV, O, LSE -> dQKV[B, N, 3D]
 *   {num_heads = H, scale = s}; head h of q, k, v at columns h·d, D + h·d,
 *   2D + h·d (d = D / H), read in place with a row stride of 3D.
 *
 * The per-head products are oneDNN's row-major sgemm for f32 (run serially
 * inside the OpenMP loop over (b, h)) and plain loops for f64. */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>

#include "c_util.h"

typedef struct attention_state {
    int grad;
    dc_dtype dtype;
    int64_t b, n, d, h, hd;
    double scale;
    const void *qkv, *dout, *o, *lse_in;
    void *out, *lse;
} attention_state;

/* C = alpha · op(A) · op(B) + beta · C, row-major (op = transpose for 'T'). */
static void gemm_float(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc)
{
    dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void gemm_double(char ta, char tb, int64_t m, int64_t n, int64_t k, double alpha,
                        const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                        double *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t e = 0; e < k; e++)
                acc += (ta == 'T' ? a[e * lda + i] : a[i * lda + e]) *
                       (tb == 'T' ? b[j * ldb + e] : b[e * ldb + j]);
            c[i * ldc + j] = alpha * acc + (beta != 0 ? beta * c[i * ldc + j] : 0);
        }
}

/* One (b, h) of either direction; `p` and `dp` are [n, n] scratch. */
#define ATTENTION_HEAD(T, ATTRS, MAX, EXP_SHIFT_SUM, LOG)                                        \
    ATTRS static void attention_head_##T(const attention_state *st, int64_t b, int64_t h, T *p,  \
                                         T *dp)                                                  \
    {                                                                                            \
        const int64_t n = st->n, d = st->d, hd = st->hd, ld = 3 * d;                             \
        const T *q = (const T *)st->qkv + b * n * ld + h * hd, *k = q + d, *v = q + 2 * d;       \
        T *lse = st->grad ? (T *)st->lse_in + (b * st->h + h) * n                                \
                          : st->lse ? (T *)st->lse + (b * st->h + h) * n : NULL;                 \
        gemm_##T('N', 'T', n, n, hd, (T)st->scale, q, ld, k, ld, 0, p, n);                       \
        for (int64_t i = 0; i < n; i++) {                                                        \
            T *restrict row = p + i * n, m = st->grad ? lse[i] : MAX(row, n);                    \
            /* One exp per score: the backward's from the saved logsumexp, the */               \
            /* forward's shifted by the row max, then divided by their sum. */                  \
            double sum = EXP_SHIFT_SUM(row, n, m);                                               \
            if (st->grad)                                                                        \
                continue;                                                                        \
            T inv = (T)(1 / sum);                                                                \
            _Pragma("omp simd")                                                                  \
            for (int64_t j = 0; j < n; j++)                                                      \
                row[j] *= inv;                                                                   \
            if (lse)                                                                             \
                lse[i] = (T)(m + LOG(sum));                                                      \
        }                                                                                        \
        if (!st->grad) {                                                                         \
            gemm_##T('N', 'N', n, hd, n, 1, p, n, v, ld, 0, (T *)st->out + b * n * d + h * hd, d); \
            return;                                                                              \
        }                                                                                        \
        const T *dout = (const T *)st->dout + b * n * d + h * hd;                                \
        const T *o = (const T *)st->o + b * n * d + h * hd;                                      \
        T *dq = (T *)st->out + b * n * ld + h * hd, *dk = dq + d, *dv = dq + 2 * d;              \
        gemm_##T('T', 'N', n, hd, n, 1, p, n, dout, d, 0, dv, ld);                               \
        gemm_##T('N', 'T', n, n, hd, 1, dout, d, v, ld, 0, dp, n);                               \
        for (int64_t i = 0; i < n; i++) {                                                        \
            double row = 0;                                                                      \
            for (int64_t e = 0; e < hd; e++)                                                     \
                row += (double)dout[i * d + e] * o[i * d + e];                                   \
            for (int64_t j = 0; j < n; j++)                                                      \
                dp[i * n + j] = (T)st->scale * p[i * n + j] * (dp[i * n + j] - (T)row);          \
        }                                                                                        \
        gemm_##T('N', 'N', n, hd, n, 1, dp, n, k, ld, 0, dq, ld);                                \
        gemm_##T('T', 'N', n, hd, n, 1, dp, n, q, ld, 0, dk, ld);                                \
    }
/* f64: plain loops, the test oracle's precision. */
static double exp_shift_sum_f64(double *x, int64_t n, double m)
{
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        x[j] = exp(x[j] - m);
        sum += x[j];
    }
    return sum;
}

ATTENTION_HEAD(float, C_CPU_CLONES, c_max_f32, c_exp_shift_sum_f32, log)
ATTENTION_HEAD(double, , c_max_f64, exp_shift_sum_f64, log)

static dc_status expect_dims(const dc_plan_buffer *x, const char *what, dc_dtype t, int64_t a,
                             int64_t b, int64_t c)
{
    return c_expect_shape(x, what, t, 3, (const int64_t[]){a, b, c});
}

static dc_status attention_setup(const dc_kernel_args *a, int grad, void *state)
{
    attention_state *st = state;
    DC_TRY(c_arity(a, grad ? 4 : 1, grad ? 4 : 1, 1, grad ? 1 : 2));
    const dc_plan_buffer *QKV = a->in[grad];
    DC_TRY(C_EXPECT_DTYPE(QKV, "QKV", DC_F32, DC_F64));
    int64_t heads = dc_step_int(a->step, "num_heads", 1);
    if (QKV->rank != 3 || heads < 1 || QKV->dims[2] % (3 * heads) != 0)
        return dc_error(DC_ERR_SHAPE, "QKV %s is not [B, N, 3 · %lld · head dim]", C_TYPE_STR(QKV),
                        (long long)heads);
    *st = (attention_state){.grad = grad, .dtype = QKV->dtype, .b = QKV->dims[0],
                            .n = QKV->dims[1], .d = QKV->dims[2] / 3, .h = heads,
                            .hd = QKV->dims[2] / 3 / heads,
                            .scale = dc_step_float(a->step, "scale", 1.0f)};
    if (grad) {
        DC_TRY(expect_dims(a->in[0], "dO", st->dtype, st->b, st->n, st->d));
        DC_TRY(expect_dims(a->in[2], "O", st->dtype, st->b, st->n, st->d));
        DC_TRY(expect_dims(a->in[3], "LSE", st->dtype, st->b, st->h, st->n));
        DC_TRY(expect_dims(a->out[0], "dQKV", st->dtype, st->b, st->n, 3 * st->d));
    } else {
        DC_TRY(expect_dims(a->out[0], "O", st->dtype, st->b, st->n, st->d));
        if (c_out(a, 1))
            DC_TRY(expect_dims(c_out(a, 1), "LSE", st->dtype, st->b, st->h, st->n));
    }
    st->qkv = c_in_data(a, grad);
    st->dout = grad ? c_in_data(a, 0) : NULL;
    st->o = grad ? c_in_data(a, 2) : NULL;
    st->lse_in = grad ? c_in_data(a, 3) : NULL;
    st->out = c_out_data(a, 0);
    st->lse = grad ? NULL : c_out_data(a, 1);
    return DC_OK;
}

static dc_status attention_run(void *state)
{
    const attention_state *st = state;
    int64_t pairs = st->b * st->h;
    size_t scratch = (size_t)(st->n * st->n) * (st->grad ? 2 : 1) * dc_dtype_size(st->dtype);
    int failed = 0;
#pragma omp parallel if (pairs > 1 && pairs * st->n * st->n > C_PAR_MIN)
    {
        void *p = malloc(scratch ? scratch : 1);
        if (!p) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t bh = 0; bh < pairs; bh++) {
            if (!p)
                continue;
            if (st->dtype == DC_F32)
                attention_head_float(st, bh / st->h, bh % st->h, p, (float *)p + st->n * st->n);
            else
                attention_head_double(st, bh / st->h, bh % st->h, p, (double *)p + st->n * st->n);
        }
        free(p);
    }
    return failed ? dc_error(DC_ERR_NOMEM, "attention scratch of %zu bytes", scratch) : DC_OK;
}

C_KERNEL(Attention, .state_size = sizeof(attention_state), .setup = attention_setup,
         .run = attention_run, .variant = 0, .half_via_f32 = 1);
C_KERNEL(AttentionGrad, .state_size = sizeof(attention_state), .setup = attention_setup,
         .run = attention_run, .variant = 1, .half_via_f32 = 1);
