/* Softmax, LogSoftmax (opset 13: along one axis) and LayerNormalization.
 *
 *   Softmax/LogSoftmax: X[outer, L, inner] -> Y[same], normalised along L
 *   LayerNormalization: X[outer..., D...] (split at `axis`), Scale and B
 *       broadcastable to X.shape[axis:] -> Y[like X],
 *       Mean and InvStdDev[X.shape[:axis], 1...] of type stash_type
 *
 * Float types: f32, f64 (f16 and bf16 through f32). Sums accumulate in
 * double; f32 loops stay in float where it keeps them vectorisable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

/* ------------------------------------------------------------ Softmax */

typedef struct softmax_state {
    int log;
    dc_dtype dtype;
    int64_t outer, len, inner;
    const void *x;
    void *y;
} softmax_state;

/* One row along the axis, contiguous. */
#define SOFTMAX_ROW(T, EXP, LOG)                                     \
    static void softmax_row_##T(const T *restrict x, T *restrict y, int64_t n, int lg) \
    {                                                                \
        T m = x[0];                                                  \
        for (int64_t i = 1; i < n; i++)                              \
            m = x[i] > m ? x[i] : m;                                 \
        double s = 0;                                                \
        _Pragma("omp simd reduction(+ : s)")                         \
        for (int64_t i = 0; i < n; i++) {                            \
            T e = EXP(x[i] - m);                                     \
            s += e;                                                  \
            if (!lg)                                                 \
                y[i] = e;                                            \
        }                                                            \
        if (lg) {                                                    \
            T ls = (T)LOG(s);                                        \
            for (int64_t i = 0; i < n; i++)                          \
                y[i] = x[i] - m - ls;                                \
        } else {                                                     \
            T r = (T)(1 / s);                                        \
            for (int64_t i = 0; i < n; i++)                          \
                y[i] *= r;                                           \
        }                                                            \
    }                                                                \
    /* A block [len, inner] normalised down its columns; scratch holds 2*inner. */ \
    static void softmax_cols_##T(const T *restrict x, T *restrict y, int64_t len,      \
                                 int64_t inner, int lg, double *restrict acc,           \
                                 T *restrict m)                                          \
    {                                                                \
        memcpy(m, x, (size_t)inner * sizeof(T));                     \
        for (int64_t l = 1; l < len; l++)                            \
            for (int64_t j = 0; j < inner; j++)                      \
                m[j] = x[l * inner + j] > m[j] ? x[l * inner + j] : m[j]; \
        memset(acc, 0, (size_t)inner * sizeof(double));              \
        for (int64_t l = 0; l < len; l++)                            \
            for (int64_t j = 0; j < inner; j++)                      \
                acc[j] += EXP(x[l * inner + j] - m[j]);              \
        for (int64_t l = 0; l < len; l++)                            \
            for (int64_t j = 0; j < inner; j++)                      \
                y[l * inner + j] = lg ? x[l * inner + j] - m[j] - (T)LOG(acc[j])        \
                                       : (T)(EXP(x[l * inner + j] - m[j]) / acc[j]);     \
    }

SOFTMAX_ROW(float, expf, log)
SOFTMAX_ROW(double, exp, log)

static dc_status softmax_setup(const dc_kernel_args *a, int is_log, void *state)
{
    softmax_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(X, "input", DC_F32, DC_F64));
    if (Y->dtype != X->dtype || !c_same_shape(X, Y))
        return dc_error(DC_ERR_SHAPE, "output %s differs from input %s", C_TYPE_STR(Y),
                        C_TYPE_STR(X));
    if (X->rank == 0)
        return dc_error(DC_ERR_SHAPE, "input is a scalar");
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", -1), X->rank, "axis", &axis));
    st->log = is_log;
    st->dtype = X->dtype;
    st->outer = st->inner = 1;
    for (int d = 0; d < axis; d++)
        st->outer *= X->dims[d];
    for (int d = axis + 1; d < X->rank; d++)
        st->inner *= X->dims[d];
    st->len = X->dims[axis];
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static dc_status softmax_run(void *state)
{
    softmax_state *st = state;
    int64_t L = st->len, I = st->inner, block = L * I;
    size_t es = dc_dtype_size(st->dtype);
    if (L == 0 || st->outer * block == 0)
        return DC_OK;
    int is32 = st->dtype == DC_F32;
    if (I == 1) {
#pragma omp parallel for if (st->outer * L > C_PAR_MIN)
        for (int64_t o = 0; o < st->outer; o++) {
            if (is32)
                softmax_row_float((const float *)st->x + o * L, (float *)st->y + o * L, L, st->log);
            else
                softmax_row_double((const double *)st->x + o * L, (double *)st->y + o * L, L, st->log);
        }
        return DC_OK;
    }
    int failed = 0;
#pragma omp parallel for if (st->outer * block > C_PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) {
        double *acc = malloc((size_t)I * (sizeof(double) + es));
        if (!acc) {
            failed = 1;
            continue;
        }
        void *m = acc + I;
        if (is32)
            softmax_cols_float((const float *)st->x + o * block, (float *)st->y + o * block, L, I,
                               st->log, acc, m);
        else
            softmax_cols_double((const double *)st->x + o * block, (double *)st->y + o * block, L,
                                I, st->log, acc, m);
        free(acc);
    }
    return failed ? dc_error(DC_ERR_NOMEM, "softmax scratch") : DC_OK;
}

C_KERNEL(Softmax, .state_size = sizeof(softmax_state), .setup = softmax_setup,
         .run = softmax_run, .variant = 0, .half_via_f32 = 1);
C_KERNEL(LogSoftmax, .state_size = sizeof(softmax_state), .setup = softmax_setup,
         .run = softmax_run, .variant = 1, .half_via_f32 = 1);

/* ------------------------------------------------------------ LayerNormalization */

typedef struct layernorm_state {
    dc_dtype t, u;          /* X's type, the stash type */
    int64_t outer, D;
    float eps;
    const void *x, *scale, *bias;
    void *y, *mean, *inv;
    /* Scale/B not of D elements are broadcast into these before each run. */
    c_strided scale_bc, bias_bc;
    void *scale_full, *bias_full;
} layernorm_state;

/* Normalises one row: T = X's type, U = computation (stash) type. */
#define LN_ROW(NAME, T, U, SQRT)                                                           \
    static void NAME(const T *restrict x, const T *restrict g, const T *restrict b,       \
                     T *restrict y, int64_t D, float eps, U *mean_out, U *inv_out)         \
    {                                                                                      \
        double s = 0;                                                                      \
        _Pragma("omp simd reduction(+ : s)")                                               \
        for (int64_t i = 0; i < D; i++)                                                    \
            s += x[i];                                                                     \
        U mean = (U)(s / (double)D);                                                       \
        double v = 0;                                                                      \
        _Pragma("omp simd reduction(+ : v)")                                               \
        for (int64_t i = 0; i < D; i++) {                                                  \
            U d = (U)x[i] - mean;                                                          \
            v += (double)d * d;                                                            \
        }                                                                                  \
        U inv = (U)(1 / SQRT((U)(v / (double)D) + (U)eps));                               \
        if (b)                                                                             \
            for (int64_t i = 0; i < D; i++)                                                \
                y[i] = (T)(((U)x[i] - mean) * inv * (U)g[i] + (U)b[i]);                   \
        else                                                                               \
            for (int64_t i = 0; i < D; i++)                                                \
                y[i] = (T)(((U)x[i] - mean) * inv * (U)g[i]);                             \
        if (mean_out)                                                                      \
            *mean_out = mean;                                                              \
        if (inv_out)                                                                       \
            *inv_out = inv;                                                                \
    }
LN_ROW(ln_f32_f32, float, float, sqrtf)
LN_ROW(ln_f32_f64, float, double, sqrt)
LN_ROW(ln_f64_f32, double, float, sqrtf)
LN_ROW(ln_f64_f64, double, double, sqrt)

static dc_status ln_param(const dc_kernel_args *a, int i, const char *what,
                          const dc_plan_buffer *X, int axis, c_strided *sc, int *needs_expand)
{
    const dc_plan_buffer *P = a->in[i];
    DC_TRY(c_same_dtype(P, what, X, "X"));
    /* The normalised shape as a buffer; P must broadcast to it. */
    dc_plan_buffer norm = {.dtype = X->dtype, .rank = X->rank - axis};
    memcpy(norm.dims, X->dims + axis, (size_t)norm.rank * sizeof(int64_t));
    const dc_plan_buffer *ins[1] = {P};
    c_bcast bc;
    dc_status s = c_bcast_init(&bc, 1, ins, &norm, 1);
    if (s != DC_OK)
        return dc_error_context(s, "%s %s against normalised shape %s", what, C_TYPE_STR(P),
                                C_TYPE_STR(&norm));
    *needs_expand = c_numel(P) != c_numel(&norm);
    c_strided_init(sc, bc.rank, bc.dims, bc.strides[0], 0, dc_dtype_size(X->dtype));
    return DC_OK;
}

static dc_status layernorm_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    layernorm_state *st = state;
    DC_TRY(c_arity(a, 2, 3, 1, 3));
    const dc_plan_buffer *X = a->in[0], *B = c_in(a, 2), *Y = a->out[0];
    const dc_plan_buffer *Mean = c_out(a, 1), *Inv = c_out(a, 2);
    DC_TRY(C_EXPECT_DTYPE(X, "X", DC_F32, DC_F64));
    if (Y->dtype != X->dtype || !c_same_shape(X, Y))
        return dc_error(DC_ERR_SHAPE, "output %s differs from input %s", C_TYPE_STR(Y),
                        C_TYPE_STR(X));
    if (X->rank == 0)
        return dc_error(DC_ERR_SHAPE, "input is a scalar");
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", -1), X->rank, "axis", &axis));
    int64_t stash = dc_step_int(a->step, "stash_type", DC_F32);
    if (stash != DC_F32 && stash != DC_F64)
        return dc_error(DC_ERR_UNSUPPORTED, "stash_type %lld (only float and double)",
                        (long long)stash);
    st->t = X->dtype;
    st->u = (dc_dtype)stash;
    st->eps = dc_step_float(a->step, "epsilon", 1e-5f);
    st->outer = 1;
    for (int d = 0; d < axis; d++)
        st->outer *= X->dims[d];
    st->D = c_numel(X) / (st->outer ? st->outer : 1);
    if (st->outer == 0)
        st->D = 1;
    int64_t sdims[DC_MAX_RANK];
    for (int d = 0; d < X->rank; d++)
        sdims[d] = d < axis ? X->dims[d] : 1;
    if (Mean)
        DC_TRY(c_expect_shape(Mean, "Mean", st->u, X->rank, sdims));
    if (Inv)
        DC_TRY(c_expect_shape(Inv, "InvStdDev", st->u, X->rank, sdims));
    int expand_scale = 0, expand_bias = 0;
    DC_TRY(ln_param(a, 1, "Scale", X, axis, &st->scale_bc, &expand_scale));
    if (B)
        DC_TRY(ln_param(a, 2, "B", X, axis, &st->bias_bc, &expand_bias));
    if (!a->in_data)
        return DC_OK;
    st->x = c_in_data(a, 0);
    st->scale = c_in_data(a, 1);
    st->bias = c_in_data(a, 2);
    st->y = c_out_data(a, 0);
    st->mean = c_out_data(a, 1);
    st->inv = c_out_data(a, 2);
    size_t row = (size_t)st->D * dc_dtype_size(X->dtype);
    if (expand_scale && !(st->scale_full = c_alloc(row)))
        return dc_error(DC_ERR_NOMEM, "Scale broadcast");
    if (expand_bias && !(st->bias_full = c_alloc(row)))
        return dc_error(DC_ERR_NOMEM, "B broadcast");
    return DC_OK;
}

static dc_status layernorm_run(void *state)
{
    layernorm_state *st = state;
    const void *g = st->scale, *b = st->bias;
    if (st->scale_full) {
        c_strided_copy(&st->scale_bc, st->scale, st->scale_full);
        g = st->scale_full;
    }
    if (st->bias_full) {
        c_strided_copy(&st->bias_bc, st->bias, st->bias_full);
        b = st->bias_full;
    }
    int64_t D = st->D;
    int kind = (st->t == DC_F64) * 2 + (st->u == DC_F64);
#pragma omp parallel for if (st->outer * D > C_PAR_MIN)
    for (int64_t o = 0; o < st->outer; o++) {
        switch (kind) {
        case 0:
            ln_f32_f32((const float *)st->x + o * D, g, b, (float *)st->y + o * D, D, st->eps,
                       st->mean ? (float *)st->mean + o : NULL, st->inv ? (float *)st->inv + o : NULL);
            break;
        case 1:
            ln_f32_f64((const float *)st->x + o * D, g, b, (float *)st->y + o * D, D, st->eps,
                       st->mean ? (double *)st->mean + o : NULL, st->inv ? (double *)st->inv + o : NULL);
            break;
        case 2:
            ln_f64_f32((const double *)st->x + o * D, g, b, (double *)st->y + o * D, D, st->eps,
                       st->mean ? (float *)st->mean + o : NULL, st->inv ? (float *)st->inv + o : NULL);
            break;
        default:
            ln_f64_f64((const double *)st->x + o * D, g, b, (double *)st->y + o * D, D, st->eps,
                       st->mean ? (double *)st->mean + o : NULL, st->inv ? (double *)st->inv + o : NULL);
        }
    }
    return DC_OK;
}

static void layernorm_release(void *state)
{
    layernorm_state *st = state;
    free(st->scale_full);
    free(st->bias_full);
}

C_KERNEL(LayerNormalization, .state_size = sizeof(layernorm_state), .setup = layernorm_setup,
         .run = layernorm_run, .release = layernorm_release, .half_via_f32 = 1);
