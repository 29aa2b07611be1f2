/* Conv, any number of spatial dimensions, with groups, strides, dilations
 * and padding (explicit `pads`, or `auto_pad` SAME_UPPER/SAME_LOWER/VALID).
 *
 *   X[N, C, D1..Dn], W[M, C/group, k1..kn], B[M] (optional)
 *   -> Y[N, M, O1..On], Oi = floor((Di + pad_begin + pad_end - ((ki-1)*dil + 1)) / stride) + 1
 *
 * Types f32, f64 (f16, bf16 through f32). For each image and group the
 * receptive fields are unrolled into a [C/group * k1..kn, O1..On] matrix
 * (im2col), multiplied by the group's weights with the MatMul core, and the
 * bias is added. */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"
#include "conv_limits.h"

enum { MAX_SPATIAL = DC_MAX_RANK - 2 };

typedef struct conv_state {
    dc_dtype dtype;
    size_t es;
    int nsp;                               /* spatial dimensions */
    int64_t N, C, M, G, Cg, Mg;
    int64_t in[MAX_SPATIAL], k[MAX_SPATIAL], o[MAX_SPATIAL];
    int64_t stride[MAX_SPATIAL], dil[MAX_SPATIAL], pad[MAX_SPATIAL];
    int64_t kprod, oprod, iprod;
    c_mm_fn mm;
    const char *x, *w, *b;
    char *y, *col;
} conv_state;

static dc_status conv_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    conv_state *st = state;
    DC_TRY(c_arity(a, 2, 3, 1, 1));
    const dc_plan_buffer *X = a->in[0], *W = a->in[1], *B = c_in(a, 2), *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(X, "X", DC_F32, DC_F64));
    DC_TRY(c_same_dtype(W, "W", X, "X"));
    if (X->rank < 3 || W->rank != X->rank)
        return dc_error(DC_ERR_SHAPE, "X %s and W %s need the same rank, at least 3",
                        C_TYPE_STR(X), C_TYPE_STR(W));
    st->dtype = X->dtype;
    st->es = dc_dtype_size(X->dtype);
    st->nsp = X->rank - 2;
    st->N = X->dims[0];
    st->C = X->dims[1];
    st->M = W->dims[0];
    st->G = dc_step_int(a->step, "group", 1);
    if (st->G < 1 || st->C % st->G || st->M % st->G || W->dims[1] * st->G != st->C)
        return dc_error(DC_ERR_SHAPE, "group %lld does not fit X %s and W %s", (long long)st->G,
                        C_TYPE_STR(X), C_TYPE_STR(W));
    st->Cg = st->C / st->G;
    st->Mg = st->M / st->G;
    if (B) {
        DC_TRY(c_same_dtype(B, "B", X, "X"));
        if (B->rank != 1 || B->dims[0] != st->M)
            return dc_error(DC_ERR_SHAPE, "bias %s for %lld output channels", C_TYPE_STR(B),
                            (long long)st->M);
    }
    int n_ks, n_st, n_di, n_pa;
    const int64_t *ks = dc_step_ints(a->step, "kernel_shape", &n_ks);
    const int64_t *strides = dc_step_ints(a->step, "strides", &n_st);
    const int64_t *dils = dc_step_ints(a->step, "dilations", &n_di);
    const int64_t *pads = dc_step_ints(a->step, "pads", &n_pa);
    const char *auto_pad = dc_step_string(a->step, "auto_pad", "NOTSET");
    if ((ks && n_ks != st->nsp) || (strides && n_st != st->nsp) || (dils && n_di != st->nsp) ||
        (pads && n_pa != 2 * st->nsp))
        return dc_error(DC_ERR_INVALID, "kernel_shape/strides/dilations/pads lengths do not match %d spatial dimensions",
                        st->nsp);
    int same_upper = strcmp(auto_pad, "SAME_UPPER") == 0, same_lower = strcmp(auto_pad, "SAME_LOWER") == 0;
    int valid = strcmp(auto_pad, "VALID") == 0;
    if (!same_upper && !same_lower && !valid && strcmp(auto_pad, "NOTSET") != 0)
        return dc_error(DC_ERR_INVALID, "auto_pad '%s'", auto_pad);
    int64_t want[DC_MAX_RANK] = {st->N, st->M};
    st->kprod = st->oprod = st->iprod = 1;
    for (int d = 0; d < st->nsp; d++) {
        st->in[d] = X->dims[2 + d];
        st->k[d] = W->dims[2 + d];
        if (ks && ks[d] != st->k[d])
            return dc_error(DC_ERR_SHAPE, "kernel_shape[%d] = %lld but W is %s", d,
                            (long long)ks[d], C_TYPE_STR(W));
        st->stride[d] = strides ? strides[d] : 1;
        st->dil[d] = dils ? dils[d] : 1;
        if (st->stride[d] < 1 || st->dil[d] < 1)
            return dc_error(DC_ERR_INVALID, "strides and dilations must be positive");
        if (!dc_conv_within_limits(st->in[d], st->k[d], st->stride[d], st->dil[d],
                                   pads ? pads[d] : 0, pads ? pads[st->nsp + d] : 0))
            return dc_error(DC_ERR_INVALID, DC_CONV_LIMITS_MESSAGE);
        int64_t span = (st->k[d] - 1) * st->dil[d] + 1, pb = 0, pe = 0;
        if (same_upper || same_lower) {
            int64_t out = (st->in[d] + st->stride[d] - 1) / st->stride[d];
            int64_t total = (out - 1) * st->stride[d] + span - st->in[d];
            total = total > 0 ? total : 0;
            pb = same_upper ? total / 2 : total - total / 2;
            pe = total - pb;
        } else if (!valid && pads) {
            pb = pads[d];
            pe = pads[st->nsp + d];
        }
        if (pb < 0 || pe < 0)
            return dc_error(DC_ERR_INVALID, "negative padding");
        st->pad[d] = pb;
        int64_t ext = st->in[d] + pb + pe - span;
        if (ext < 0)
            return dc_error(DC_ERR_SHAPE, "kernel extent %lld is larger than padded input %lld",
                            (long long)span, (long long)(st->in[d] + pb + pe));
        st->o[d] = ext / st->stride[d] + 1;
        want[2 + d] = st->o[d];
        if (!dc_conv_mul(&st->kprod, st->k[d]) || !dc_conv_mul(&st->oprod, st->o[d]) ||
            !dc_conv_mul(&st->iprod, st->in[d]))
            return dc_error(DC_ERR_NOMEM, "convolution of more than 2^63 positions");
    }
    DC_TRY(c_expect_shape(Y, "Y", X->dtype, X->rank, want));
    st->mm = c_mm_for(X->dtype);
    if (!a->in_data)
        return DC_OK;
    st->x = c_in_data(a, 0);
    st->w = c_in_data(a, 1);
    st->b = c_in_data(a, 2);
    st->y = c_out_data(a, 0);
    if (c_overlaps(st->y, Y->nbytes, st->x, X->nbytes) || c_overlaps(st->y, Y->nbytes, st->w, W->nbytes))
        return dc_error(DC_ERR_INVALID, "Y shares memory with an input");
    int64_t col_bytes = st->Cg;
    if (!dc_conv_mul(&col_bytes, st->kprod) || !dc_conv_mul(&col_bytes, st->oprod) ||
        !dc_conv_mul(&col_bytes, (int64_t)st->es) || !(st->col = c_alloc((size_t)col_bytes)))
        return dc_error(DC_ERR_NOMEM, "im2col buffer of %lld x %lld",
                        (long long)(st->Cg * st->kprod), (long long)st->oprod);
    return DC_OK;
}

/* col[c * kprod + kpos, opos] = x[c, in(opos, kpos)] or 0 in the padding. */
#define IM2COL(T)                                                                          \
    static void im2col_##T(const conv_state *st, const T *x, T *col)                       \
    {                                                                                      \
        int64_t rows = st->Cg * st->kprod, olast = st->o[st->nsp - 1];                     \
        int last = st->nsp - 1;                                                            \
        _Pragma("omp parallel for if (rows * st->oprod > C_PAR_MIN)")                      \
        for (int64_t r = 0; r < rows; r++) {                                               \
            int64_t c = r / st->kprod, kp = r % st->kprod, kidx[MAX_SPATIAL];              \
            for (int d = st->nsp - 1; d >= 0; d--) {                                       \
                kidx[d] = kp % st->k[d];                                                   \
                kp /= st->k[d];                                                            \
            }                                                                              \
            const T *xc = x + c * st->iprod;                                               \
            T *restrict out = col + r * st->oprod;                                         \
            int64_t lines = st->oprod / olast;                                             \
            for (int64_t l = 0; l < lines; l++) {                                          \
                /* offset of this output line's inputs in all but the last dimension */   \
                int64_t off = 0, rem = l, inside = 1, istride = st->in[last];              \
                for (int d = last - 1; d >= 0; d--) {                                      \
                    int64_t od = rem % st->o[d];                                           \
                    rem /= st->o[d];                                                       \
                    int64_t id = od * st->stride[d] - st->pad[d] + kidx[d] * st->dil[d];   \
                    inside &= id >= 0 && id < st->in[d];                                   \
                    off += id * istride;                                                   \
                    istride *= st->in[d];                                                  \
                }                                                                          \
                T *restrict o = out + l * olast;                                           \
                if (!inside) {                                                             \
                    memset(o, 0, (size_t)olast * sizeof(T));                               \
                    continue;                                                              \
                }                                                                          \
                int64_t s = st->stride[last], base = kidx[last] * st->dil[last] - st->pad[last]; \
                for (int64_t j = 0; j < olast; j++) {                                      \
                    int64_t id = j * s + base;                                             \
                    o[j] = id >= 0 && id < st->in[last] ? xc[off + id] : (T)0;             \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }
IM2COL(float)
IM2COL(double)

#define ADD_BIAS(T)                                                              \
    do {                                                                         \
        T *y = (T *)st->y + n * st->M * st->oprod;                               \
        const T *b = (const T *)st->b;                                           \
        _Pragma("omp parallel for if (st->M * st->oprod > C_PAR_MIN)")           \
        for (int64_t m = 0; m < st->M; m++) {                                    \
            T *restrict ym = y + m * st->oprod;                                  \
            T bm = b[m];                                                         \
            for (int64_t j = 0; j < st->oprod; j++)                              \
                ym[j] += bm;                                                     \
        }                                                                        \
    } while (0)

static dc_status conv_run(void *state)
{
    conv_state *st = state;
    int64_t zero = 0, K = st->Cg * st->kprod;
    if (st->oprod == 0 || st->M == 0)
        return DC_OK;
    for (int64_t n = 0; n < st->N; n++) {
        for (int64_t g = 0; g < st->G; g++) {
            const char *x = st->x + ((n * st->C + g * st->Cg) * st->iprod) * (int64_t)st->es;
            if (st->dtype == DC_F32)
                im2col_float(st, (const float *)x, (float *)st->col);
            else
                im2col_double(st, (const double *)x, (double *)st->col);
            c_mm_job job = {
                .M = st->Mg, .N = st->oprod, .K = K, .batch = 1,
                .a = st->w + g * st->Mg * K * (int64_t)st->es,
                .b = st->col,
                .c = st->y + ((n * st->M + g * st->Mg) * st->oprod) * (int64_t)st->es,
                .aoff = &zero, .boff = &zero,
            };
            st->mm(&job);
        }
        if (st->b && st->dtype == DC_F32)
            ADD_BIAS(float);
        else if (st->b)
            ADD_BIAS(double);
    }
    return DC_OK;
}

static void conv_release(void *state) { free(((conv_state *)state)->col); }

C_KERNEL(Conv, .state_size = sizeof(conv_state), .setup = conv_setup, .run = conv_run,
         .release = conv_release, .half_via_f32 = 1);
