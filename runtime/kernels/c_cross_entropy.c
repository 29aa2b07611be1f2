/* c.CrossEntropySoft (ai.dinoc): soft-target cross-entropy, row by row.
 *
 *   S[R, K] logits, P[R, K] targets, τ[] -> L[R], G[R, K] (optional)
 *   L[r] = ΣP[r]·logsumexp(S[r]/τ) − ⟨P[r], S[r]⟩/τ
 *   G[r] = (ΣP[r]·softmax(S[r]/τ) − P[r]) / τ
 *
 * One thread owns a row at a time and reads S[r] completely before writing
 * G[r] element by element, so G may overwrite S (the memory plan runs it in
 * place when S dies here). Sums accumulate in double. f32 and f64. */
#include <math.h>

#include "c_util.h"

typedef struct ce_state {
    dc_dtype dtype;
    int64_t rows, k;
    const void *s, *p, *tau;
    void *loss, *grad;
} ce_state;

/* One row; g may alias s. */
#define CE_ROW(T, ATTRS, MAX, EXP, LOG)                                                        \
    ATTRS static void ce_row_##T(const T *s, const T *restrict p, T *restrict loss, T *g,      \
                                 int64_t K, T inv_tau)                                         \
    {                                                                                          \
        T m = MAX(s, K) * inv_tau;                                                             \
        double sum = 0, mass = 0, dot = 0;                                                     \
        _Pragma("omp simd reduction(+ : sum, mass, dot)")                                      \
        for (int64_t k = 0; k < K; k++) {                                                      \
            T z = s[k] * inv_tau;                                                              \
            sum += EXP(z - m);                                                                 \
            mass += p[k];                                                                      \
            dot += (double)p[k] * z;                                                           \
        }                                                                                      \
        double lse = (double)m + LOG(sum);                                                     \
        *loss = (T)(mass * lse - dot);                                                         \
        if (!g)                                                                                \
            return;                                                                            \
        T scale = (T)(mass / sum * (double)inv_tau);                                           \
        _Pragma("omp simd")                                                                    \
        for (int64_t k = 0; k < K; k++)                                                        \
            g[k] = scale * EXP(s[k] * inv_tau - m) - p[k] * inv_tau;                           \
    }
CE_ROW(float, C_CPU_CLONES, c_max_f32, c_exp_f32, log) /* c_util.h's exp vectorises */
CE_ROW(double, , c_max_f64, exp, log)

static dc_status ce_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    ce_state *st = state;
    DC_TRY(c_arity(a, 3, 3, 1, 2));
    const dc_plan_buffer *S = a->in[0], *P = a->in[1], *L = a->out[0], *G = c_out(a, 1);
    DC_TRY(C_EXPECT_DTYPE(S, "logits", DC_F32, DC_F64));
    DC_TRY(c_same_dtype(P, "targets", S, "logits"));
    if (S->rank != 2 || !c_same_shape(S, P))
        return dc_error(DC_ERR_SHAPE, "logits %s and targets %s must be the same [R, K]",
                        C_TYPE_STR(S), C_TYPE_STR(P));
    DC_TRY(c_expect_shape(L, "loss", S->dtype, 1, S->dims));
    if (G)
        DC_TRY(c_expect_shape(G, "gradient", S->dtype, 2, S->dims));
    DC_TRY(c_same_dtype(a->in[2], "temperature", S, "logits"));
    if (c_numel(a->in[2]) != 1 || a->in[2]->rank > 1)
        return dc_error(DC_ERR_SHAPE, "temperature %s must be a scalar", C_TYPE_STR(a->in[2]));
    st->dtype = S->dtype;
    st->rows = S->dims[0];
    st->k = S->dims[1];
    st->s = c_in_data(a, 0);
    st->p = c_in_data(a, 1);
    st->tau = c_in_data(a, 2);
    st->loss = c_out_data(a, 0);
    st->grad = c_out_data(a, 1);
    return DC_OK;
}

static dc_status ce_run(void *state)
{
    ce_state *st = state;
    int64_t K = st->k;
    if (K == 0 || st->rows == 0)
        return DC_OK;
    int is32 = st->dtype == DC_F32;
    double tau = is32 ? *(const float *)st->tau : *(const double *)st->tau;
    if (!(tau > 0))
        return dc_error(DC_ERR_INVALID, "temperature %g must be > 0", tau);
#pragma omp parallel for schedule(static) if (st->rows * K > C_PAR_MIN)
    for (int64_t r = 0; r < st->rows; r++) {
        if (is32)
            ce_row_float((const float *)st->s + r * K, (const float *)st->p + r * K,
                         (float *)st->loss + r, st->grad ? (float *)st->grad + r * K : NULL, K,
                         (float)(1 / tau));
        else
            ce_row_double((const double *)st->s + r * K, (const double *)st->p + r * K,
                          (double *)st->loss + r, st->grad ? (double *)st->grad + r * K : NULL, K,
                          1 / tau);
    }
    return DC_OK;
}

C_KERNEL(CrossEntropySoft, .state_size = sizeof(ce_state), .setup = ce_setup, .run = ce_run,
         .half_via_f32 = 1);
