/* c.Gelu and c.GeluGrad (ai.dinoc): the exact (erf) GELU and its backward,
 * each one flat loop over memory. f32 and f64 (f16/bf16 through f32).
 *
 *   Gelu:     X[*] -> Y[*] = X · Φ(X),  Φ(x) = (1 + erf(x/√2)) / 2
 *   GeluGrad: dY[*], X[*] -> dX[*] = dY · (Φ(X) + X · exp(−X²/2) / √(2π))
 *
 * Element i is read only to write element i, so the output may overwrite
 * an input (in place). */
#include <math.h>

#include "c_util.h"

typedef struct gelu_state {
    int grad;
    dc_dtype dtype;
    int64_t n;
    const void *dy, *x;
    void *out;
} gelu_state;

#define GELU_LOOPS(T, ERF, EXP)                                                        \
    static void gelu_##T(const T *x, T *y, int64_t n)                                  \
    {                                                                                  \
        _Pragma("omp simd")                                                            \
        for (int64_t i = 0; i < n; i++)                                                \
            y[i] = (T)0.5 * x[i] * ((T)1 + ERF(x[i] * (T)M_SQRT1_2));                  \
    }                                                                                  \
    static void gelu_grad_##T(const T *dy, const T *x, T *dx, int64_t n)               \
    {                                                                                  \
        _Pragma("omp simd")                                                            \
        for (int64_t i = 0; i < n; i++) {                                              \
            T v = x[i];                                                                \
            T cdf = (T)0.5 * ((T)1 + ERF(v * (T)M_SQRT1_2));                           \
            T pdf = (T)0.3989422804014327 * EXP((T)-0.5 * v * v);                      \
            dx[i] = dy[i] * (cdf + v * pdf);                                           \
        }                                                                              \
    }
GELU_LOOPS(float, c_erf_f32, c_exp_f32) /* the vectorising forms of c_util.h */
GELU_LOOPS(double, erf, exp)

static dc_status gelu_setup(const dc_kernel_args *a, int grad, void *state)
{
    gelu_state *st = state;
    DC_TRY(c_arity(a, 1 + grad, 1 + grad, 1, 1));
    const dc_plan_buffer *X = a->in[grad], *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(X, "X", DC_F32, DC_F64));
    if (grad) {
        DC_TRY(c_same_dtype(a->in[0], "dY", X, "X"));
        if (!c_same_shape(a->in[0], X))
            return dc_error(DC_ERR_SHAPE, "dY %s differs from X %s", C_TYPE_STR(a->in[0]),
                            C_TYPE_STR(X));
    }
    DC_TRY(c_expect_shape(Y, grad ? "dX" : "Y", X->dtype, X->rank, X->dims));
    st->grad = grad;
    st->dtype = X->dtype;
    st->n = c_numel(X);
    st->dy = grad ? c_in_data(a, 0) : NULL;
    st->x = c_in_data(a, grad);
    st->out = c_out_data(a, 0);
    return DC_OK;
}

enum { GELU_CHUNK = 1 << 14 };

static dc_status gelu_run(void *state)
{
    gelu_state *st = state;
    int64_t chunks = (st->n + GELU_CHUNK - 1) / GELU_CHUNK;
    size_t es = dc_dtype_size(st->dtype);
#pragma omp parallel for schedule(static) if (st->n > C_PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t at = c * GELU_CHUNK, len = st->n - at < GELU_CHUNK ? st->n - at : GELU_CHUNK;
        const char *x = (const char *)st->x + at * (int64_t)es;
        char *out = (char *)st->out + at * (int64_t)es;
        const char *dy = st->grad ? (const char *)st->dy + at * (int64_t)es : NULL;
        if (st->dtype == DC_F32 && st->grad)
            gelu_grad_float((const float *)dy, (const float *)x, (float *)out, len);
        else if (st->dtype == DC_F32)
            gelu_float((const float *)x, (float *)out, len);
        else if (st->grad)
            gelu_grad_double((const double *)dy, (const double *)x, (double *)out, len);
        else
            gelu_double((const double *)x, (double *)out, len);
    }
    return DC_OK;
}

C_KERNEL(Gelu, .state_size = sizeof(gelu_state), .setup = gelu_setup, .run = gelu_run,
         .variant = 0, .half_via_f32 = 1);
C_KERNEL(GeluGrad, .state_size = sizeof(gelu_state), .setup = gelu_setup, .run = gelu_run,
         .variant = 1, .half_via_f32 = 1);
