/* c.LayerNormGrad (ai.dinoc): LayerNormalization's backward in one pass per
 * row, with the forward's Mean and InvStdDev when given.
 *
 *   dY[rows, D], X[rows, D], Scale[D], (Mean[rows], InvStdDev[rows])
 *     -> dX[rows, D], dScale[D], dB[D] (both optional)   {axis, epsilon}
 *   x̂ = (x − μ)·r,  dX = r·(g − mean(g) − x̂·mean(g·x̂)), g = dY·Scale
 *
 * Rows run in parallel; each thread sums its rows' dY·x̂ and dY in double,
 * and the threads' sums are added at the end. f32 and f64 (statistics of
 * X's type). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

typedef struct lng_state {
    dc_dtype dtype;
    int64_t rows, d;
    float eps;
    const void *dy, *x, *scale, *mean, *inv;
    void *dx, *dscale, *dbias;
} lng_state;

/* One row: dx, and this row's terms added to acc[0..D) (dScale) and acc[D..2D) (dB). */
#define LNG_ROW(T, SQRT)                                                                          \
    static void lng_row_##T(const lng_state *st, int64_t r, double *restrict acc)                \
    {                                                                                             \
        const int64_t D = st->d;                                                                  \
        const T *x = (const T *)st->x + r * D, *dy = (const T *)st->dy + r * D;                   \
        const T *g = st->scale;                                                                   \
        T mu, rs;                                                                                 \
        if (st->mean) {                                                                           \
            mu = ((const T *)st->mean)[r];                                                        \
            rs = ((const T *)st->inv)[r];                                                         \
        } else {                                                                                  \
            double s = 0, v = 0;                                                                  \
            _Pragma("omp simd reduction(+ : s)")                                                  \
            for (int64_t i = 0; i < D; i++)                                                       \
                s += x[i];                                                                        \
            mu = (T)(s / (double)D);                                                              \
            _Pragma("omp simd reduction(+ : v)")                                                  \
            for (int64_t i = 0; i < D; i++)                                                       \
                v += (double)(x[i] - mu) * (x[i] - mu);                                           \
            rs = (T)(1 / SQRT((T)(v / (double)D) + (T)st->eps));                                 \
        }                                                                                         \
        double mg = 0, mgx = 0;                                                                   \
        _Pragma("omp simd reduction(+ : mg, mgx)")                                                \
        for (int64_t i = 0; i < D; i++) {                                                         \
            T xh = (x[i] - mu) * rs, gy = dy[i] * g[i];                                           \
            mg += gy;                                                                             \
            mgx += (double)gy * xh;                                                               \
        }                                                                                         \
        T a = (T)(mg / (double)D), b = (T)(mgx / (double)D);                                      \
        T *dx = (T *)st->dx + r * D;                                                              \
        _Pragma("omp simd")                                                                       \
        for (int64_t i = 0; i < D; i++) {                                                         \
            T xh = (x[i] - mu) * rs;                                                              \
            dx[i] = rs * (dy[i] * g[i] - a - xh * b);                                             \
        }                                                                                         \
        if (acc)                                                                                  \
            for (int64_t i = 0; i < D; i++) {                                                     \
                acc[i] += (double)dy[i] * ((x[i] - mu) * rs);                                     \
                acc[D + i] += dy[i];                                                              \
            }                                                                                     \
    }
LNG_ROW(float, sqrtf)
LNG_ROW(double, sqrt)

static dc_status lng_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    lng_state *st = state;
    DC_TRY(c_arity(a, 3, 5, 1, 3));
    if (a->step->n_inputs == 4)
        return dc_error(DC_ERR_INVALID, "Mean without InvStdDev");
    const dc_plan_buffer *dY = a->in[0], *X = a->in[1], *S = a->in[2];
    DC_TRY(C_EXPECT_DTYPE(X, "X", DC_F32, DC_F64));
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", -1), X->rank, "axis", &axis));
    int64_t rows = 1;
    for (int d = 0; d < axis; d++)
        rows *= X->dims[d];
    int64_t D = rows ? c_numel(X) / rows : 0;
    DC_TRY(c_same_dtype(dY, "dY", X, "X"));
    DC_TRY(c_same_dtype(S, "Scale", X, "X"));
    if (!c_same_shape(dY, X) || c_numel(S) != D)
        return dc_error(DC_ERR_SHAPE, "dY %s and Scale %s must fit X %s at axis %d", C_TYPE_STR(dY),
                        C_TYPE_STR(S), C_TYPE_STR(X), axis);
    for (int i = 3; i < a->step->n_inputs; i++) {
        DC_TRY(c_same_dtype(a->in[i], i == 3 ? "Mean" : "InvStdDev", X, "X"));
        if (c_numel(a->in[i]) != rows)
            return dc_error(DC_ERR_SHAPE, "%s %s must hold one value per row of X %s",
                            i == 3 ? "Mean" : "InvStdDev", C_TYPE_STR(a->in[i]), C_TYPE_STR(X));
    }
    DC_TRY(c_expect_shape(a->out[0], "dX", X->dtype, X->rank, X->dims));
    for (int i = 1; i < 3; i++)
        if (c_out(a, i))
            DC_TRY(c_expect_shape(c_out(a, i), i == 1 ? "dScale" : "dB", X->dtype, S->rank, S->dims));
    *st = (lng_state){.dtype = X->dtype, .rows = rows, .d = D,
                      .eps = dc_step_float(a->step, "epsilon", 1e-5f),
                      .dy = c_in_data(a, 0), .x = c_in_data(a, 1), .scale = c_in_data(a, 2),
                      .mean = c_in_data(a, 3), .inv = c_in_data(a, 4), .dx = c_out_data(a, 0),
                      .dscale = c_out_data(a, 1), .dbias = c_out_data(a, 2)};
    return DC_OK;
}

static dc_status lng_run(void *state)
{
    const lng_state *st = state;
    const int64_t D = st->d;
    bool sums = st->dscale || st->dbias;
    double *total = sums ? calloc(2 * (size_t)D + 1, sizeof *total) : NULL;
    if (sums && !total)
        return dc_error(DC_ERR_NOMEM, "LayerNormGrad sums of %lld elements", (long long)D);
    int failed = 0;
#pragma omp parallel if (st->rows * D > C_PAR_MIN)
    {
        double *acc = sums ? calloc(2 * (size_t)D + 1, sizeof *acc) : NULL;
        if (sums && !acc) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < st->rows; r++) {
            if (st->dtype == DC_F32)
                lng_row_float(st, r, acc);
            else
                lng_row_double(st, r, acc);
        }
        if (acc) {
#pragma omp critical(layer_norm_grad_sum)
            for (int64_t i = 0; i < 2 * D; i++)
                total[i] += acc[i];
        }
        free(acc);
    }
    for (int k = 0; sums && !failed && k < 2; k++) {
        void *out = k ? st->dbias : st->dscale;
        for (int64_t i = 0; out && i < D; i++) {
            if (st->dtype == DC_F32)
                ((float *)out)[i] = (float)total[k * D + i];
            else
                ((double *)out)[i] = total[k * D + i];
        }
    }
    free(total);
    return failed ? dc_error(DC_ERR_NOMEM, "LayerNormGrad per-thread sums") : DC_OK;
}

C_KERNEL(LayerNormGrad, .state_size = sizeof(lng_state), .setup = lng_setup, .run = lng_run,
         .half_via_f32 = 1);
