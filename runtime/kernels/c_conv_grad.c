/* c.ConvGradInput and c.ConvGradWeight (ai.dinoc): Conv's gradients for any
 * number of spatial dims, groups, strides, dilations and explicit pads.
 *
 *   ConvGradInput(dy[N, M, O...], w[M, C/G, k...]) -> dx[N, C, D...]
 *   ConvGradWeight(dy[N, M, O...], x[N, C, D...]) -> dw[M, C/G, k...]
 *   O = floor((D + pad_begin + pad_end - ((k-1)*dil + 1)) / stride) + 1
 *
 * Types f32, f64 (f16, bf16 through f32). The forward (c_conv.c) is
 *   Y_g[Mg, O] = W_g[Mg, Cg·K] × col(X_g)[Cg·K, O]     (per image n and group g)
 * with col the im2col unrolling, so per image and group
 *   dcol[Cg·K, O] = W_gᵀ[Cg·K, Mg] × dY_g[Mg, O],  dX_g = col2im(dcol)
 *   dW_gᵀ[Cg·K, Mg] += col(X_g)[Cg·K, O] × dY_gᵀ[O, Mg]
 * through the MatMul core. col2im adds the columns back channel by channel
 * (each thread owns whole channels) and dW sums images in order, so results
 * do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"
#include "conv_limits.h"

enum { MAX_SPATIAL = DC_MAX_RANK - 2 };
enum { GRAD_INPUT, GRAD_WEIGHT };

typedef struct conv_grad_state {
    int variant;
    dc_dtype dtype;
    size_t es;
    int nsp;                               /* spatial dimensions */
    int64_t N, C, M, G, Cg, Mg;
    int64_t in[MAX_SPATIAL], k[MAX_SPATIAL], o[MAX_SPATIAL];
    int64_t stride[MAX_SPATIAL], dil[MAX_SPATIAL], pad[MAX_SPATIAL];
    int64_t kprod, oprod, iprod;
    c_mm_fn mm;
    const char *dy, *w, *x;  /* inputs: dy and w (GradInput) or dy and x (GradWeight) */
    char *out;               /* dx or dw */
    char *col;               /* [Cg·K, O] */
    char *tr;                /* GradInput: Wᵀ of every group [G, Cg·K, Mg]; GradWeight: dY_gᵀ [O, Mg] */
    char *part;              /* GradWeight: one image's dW_gᵀ [Cg·K, Mg] */
} conv_grad_state;

static dc_status conv_grad_setup(const dc_kernel_args *a, int variant, void *state)
{
    conv_grad_state *st = state;
    st->variant = variant;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *DY = a->in[0], *O = a->in[1], *OUT = a->out[0];
    const dc_plan_buffer *X = variant == GRAD_INPUT ? OUT : O, *W = variant == GRAD_INPUT ? O : OUT;
    DC_TRY(C_EXPECT_DTYPE(DY, "dy", DC_F32, DC_F64));
    DC_TRY(c_same_dtype(O, variant == GRAD_INPUT ? "w" : "x", DY, "dy"));
    DC_TRY(c_same_dtype(OUT, "output", DY, "dy"));
    const char *shape_attr = variant == GRAD_INPUT ? "x_shape" : "w_shape";
    int n_shape;
    const int64_t *shape = dc_step_ints(a->step, shape_attr, &n_shape);
    if (shape && (n_shape != OUT->rank || memcmp(shape, OUT->dims, (size_t)n_shape * sizeof *shape)))
        return dc_error(DC_ERR_SHAPE, "%s disagrees with the output %s", shape_attr, C_TYPE_STR(OUT));
    if (X->rank < 3 || W->rank != X->rank || DY->rank != X->rank)
        return dc_error(DC_ERR_SHAPE, "X %s, W %s and dY %s need the same rank, at least 3",
                        C_TYPE_STR(X), C_TYPE_STR(W), C_TYPE_STR(DY));
    st->dtype = DY->dtype;
    st->es = dc_dtype_size(DY->dtype);
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
    int n_st, n_di, n_pa;
    const int64_t *strides = dc_step_ints(a->step, "strides", &n_st);
    const int64_t *dils = dc_step_ints(a->step, "dilations", &n_di);
    const int64_t *pads = dc_step_ints(a->step, "pads", &n_pa);
    if ((strides && n_st != st->nsp) || (dils && n_di != st->nsp) || (pads && n_pa != 2 * st->nsp))
        return dc_error(DC_ERR_INVALID, "strides/dilations/pads lengths do not match %d spatial dimensions",
                        st->nsp);
    int64_t want[DC_MAX_RANK] = {st->N, st->M};
    st->kprod = st->oprod = st->iprod = 1;
    for (int d = 0; d < st->nsp; d++) {
        st->in[d] = X->dims[2 + d];
        st->k[d] = W->dims[2 + d];
        st->stride[d] = strides ? strides[d] : 1;
        st->dil[d] = dils ? dils[d] : 1;
        int64_t pb = pads ? pads[d] : 0, pe = pads ? pads[st->nsp + d] : 0;
        if (st->stride[d] < 1 || st->dil[d] < 1 || pb < 0 || pe < 0)
            return dc_error(DC_ERR_INVALID, "strides and dilations must be positive, pads not negative");
        if (!dc_conv_within_limits(st->in[d], st->k[d], st->stride[d], st->dil[d], pb, pe))
            return dc_error(DC_ERR_INVALID, DC_CONV_LIMITS_MESSAGE);
        int64_t span = (st->k[d] - 1) * st->dil[d] + 1, ext = st->in[d] + pb + pe - span;
        if (st->k[d] < 1 || ext < 0)
            return dc_error(DC_ERR_SHAPE, "kernel extent %lld is larger than the padded input %lld",
                            (long long)span, (long long)(st->in[d] + pb + pe));
        st->pad[d] = pb;
        st->o[d] = ext / st->stride[d] + 1;
        want[2 + d] = st->o[d];
        if (!dc_conv_mul(&st->kprod, st->k[d]) || !dc_conv_mul(&st->oprod, st->o[d]) ||
            !dc_conv_mul(&st->iprod, st->in[d]))
            return dc_error(DC_ERR_NOMEM, "convolution of more than 2^63 positions");
    }
    DC_TRY(c_expect_shape(DY, "dy", DY->dtype, DY->rank, want));
    st->mm = c_mm_for(DY->dtype);
    if (!a->in_data)
        return DC_OK;
    st->dy = c_in_data(a, 0);
    if (variant == GRAD_INPUT)
        st->w = c_in_data(a, 1);
    else
        st->x = c_in_data(a, 1);
    st->out = c_out_data(a, 0);
    if (c_overlaps(st->out, OUT->nbytes, st->dy, DY->nbytes) ||
        c_overlaps(st->out, OUT->nbytes, c_in_data(a, 1), O->nbytes))
        return dc_error(DC_ERR_INVALID, "the output shares memory with an input");
    /* col is Cg·K·O elements; tr and part at most Mg·Cg·K·(G + O): refuse
     * what does not fit int64 before sizing them. */
    int64_t col_bytes = st->Cg, tr_bytes = st->Mg;
    if (!dc_conv_mul(&col_bytes, st->kprod) || !dc_conv_mul(&tr_bytes, col_bytes) ||
        !dc_conv_mul(&tr_bytes, st->G + st->oprod) || !dc_conv_mul(&col_bytes, st->oprod) ||
        !dc_conv_mul(&tr_bytes, (int64_t)st->es) || !dc_conv_mul(&col_bytes, (int64_t)st->es))
        return dc_error(DC_ERR_NOMEM, "column buffers of more than 2^63 bytes");
    size_t rows = (size_t)(st->Cg * st->kprod), es = st->es;
    st->col = c_alloc(rows * (size_t)st->oprod * es);
    st->tr = variant == GRAD_INPUT ? c_alloc((size_t)st->G * rows * (size_t)st->Mg * es)
                                   : c_alloc((size_t)(st->oprod * st->Mg) * es);
    st->part = variant == GRAD_WEIGHT ? c_alloc(rows * (size_t)st->Mg * es) : NULL;
    if (!st->col || !st->tr || (variant == GRAD_WEIGHT && !st->part))
        return dc_error(DC_ERR_NOMEM, "column buffers of %lld x %lld", (long long)rows,
                        (long long)st->oprod);
    return DC_OK;
}

/* Runs BODY for every output line of channel-row r = c·K + kpos (a line: all
 * spatial output coordinates but the last fixed), with in scope:
 *   l      the line's index, olast its length (the last output dim);
 *   off    the offset in channel c's input plane of the line's inputs in all
 *          but the last dim, inside = 0 when those lie in the padding;
 *   the input index of output j on the last dim is j·s + base, valid in [0, ilast). */
#define FOR_EACH_LINE(st, r, BODY)                                                          \
    do {                                                                                    \
        int last_ = (st)->nsp - 1;                                                          \
        int64_t kp_ = (r) % (st)->kprod, kidx_[MAX_SPATIAL];                                \
        for (int d_ = last_; d_ >= 0; d_--) {                                               \
            kidx_[d_] = kp_ % (st)->k[d_];                                                  \
            kp_ /= (st)->k[d_];                                                             \
        }                                                                                   \
        int64_t olast = (st)->o[last_], lines_ = (st)->oprod / olast;                       \
        int64_t s = (st)->stride[last_], base = kidx_[last_] * (st)->dil[last_] - (st)->pad[last_]; \
        int64_t ilast = (st)->in[last_];                                                    \
        for (int64_t l = 0; l < lines_; l++) {                                              \
            int64_t off = 0, rem_ = l, inside = 1, istride_ = ilast;                        \
            for (int d_ = last_ - 1; d_ >= 0; d_--) {                                       \
                int64_t od_ = rem_ % (st)->o[d_];                                           \
                rem_ /= (st)->o[d_];                                                        \
                int64_t id_ = od_ * (st)->stride[d_] - (st)->pad[d_] + kidx_[d_] * (st)->dil[d_]; \
                inside &= id_ >= 0 && id_ < (st)->in[d_];                                   \
                off += id_ * istride_;                                                      \
                istride_ *= (st)->in[d_];                                                   \
            }                                                                               \
            BODY                                                                            \
        }                                                                                   \
    } while (0)

/* col[r, opos] = x[c, in(opos, kpos)], 0 in the padding. */
#define IM2COL(T)                                                                          \
    static void im2col_##T(const conv_grad_state *st, const T *x, T *col)                  \
    {                                                                                      \
        int64_t rows = st->Cg * st->kprod;                                                 \
        _Pragma("omp parallel for if (rows * st->oprod > C_PAR_MIN)")                      \
        for (int64_t r = 0; r < rows; r++) {                                               \
            const T *xc = x + r / st->kprod * st->iprod;                                   \
            FOR_EACH_LINE(st, r, {                                                         \
                T *restrict o = col + r * st->oprod + l * olast;                           \
                for (int64_t j = 0; j < olast; j++) {                                      \
                    int64_t id = j * s + base;                                             \
                    o[j] = inside && id >= 0 && id < ilast ? xc[off + id] : (T)0;          \
                }                                                                          \
            });                                                                            \
        }                                                                                  \
    }
IM2COL(float)
IM2COL(double)

/* x[c, in(opos, kpos)] += col[r, opos]: one thread per channel, so no two
 * threads add into the same element and the order of additions is fixed. */
#define COL2IM(T)                                                                          \
    static void col2im_##T(const conv_grad_state *st, const T *col, T *x)                  \
    {                                                                                      \
        _Pragma("omp parallel for if (st->Cg * st->kprod * st->oprod > C_PAR_MIN)")        \
        for (int64_t c = 0; c < st->Cg; c++) {                                             \
            T *xc = x + c * st->iprod;                                                     \
            memset(xc, 0, (size_t)st->iprod * sizeof(T));                                  \
            for (int64_t r = c * st->kprod; r < (c + 1) * st->kprod; r++)                  \
                FOR_EACH_LINE(st, r, {                                                     \
                    const T *restrict from = col + r * st->oprod + l * olast;              \
                    for (int64_t j = 0; inside && j < olast; j++) {                        \
                        int64_t id = j * s + base;                                         \
                        if (id >= 0 && id < ilast)                                         \
                            xc[off + id] += from[j];                                       \
                    }                                                                      \
                });                                                                        \
        }                                                                                  \
    }
COL2IM(float)
COL2IM(double)

/* dst[cols, rows] = src[rows, cols]ᵀ (both row-major). */
#define TRANSPOSE(T)                                                                       \
    static void transpose_##T(const T *src, T *dst, int64_t rows, int64_t cols)            \
    {                                                                                      \
        _Pragma("omp parallel for if (rows * cols > C_PAR_MIN)")                           \
        for (int64_t j = 0; j < cols; j++)                                                 \
            for (int64_t i = 0; i < rows; i++)                                             \
                dst[j * rows + i] = src[i * cols + j];                                     \
    }
TRANSPOSE(float)
TRANSPOSE(double)

/* dw_g[Mg, Cg·K] += part[Cg·K, Mg]ᵀ */
#define ADD_TRANSPOSED(T)                                                                  \
    static void add_transposed_##T(const T *part, T *dw, int64_t rows, int64_t cols)       \
    {                                                                                      \
        _Pragma("omp parallel for if (rows * cols > C_PAR_MIN)")                           \
        for (int64_t j = 0; j < cols; j++)                                                 \
            for (int64_t i = 0; i < rows; i++)                                             \
                dw[j * rows + i] += part[i * cols + j];                                    \
    }
ADD_TRANSPOSED(float)
ADD_TRANSPOSED(double)

#define IS_F32(st) ((st)->dtype == DC_F32)

static void run_grad_input(conv_grad_state *st)
{
    int64_t zero = 0, K = st->Cg * st->kprod, es = (int64_t)st->es;
    for (int64_t g = 0; g < st->G; g++) { /* W_gᵀ, once per run: W may change every step */
        const char *wg = st->w + g * st->Mg * K * es;
        char *tg = st->tr + g * K * st->Mg * es;
        if (IS_F32(st))
            transpose_float((const float *)wg, (float *)tg, st->Mg, K);
        else
            transpose_double((const double *)wg, (double *)tg, st->Mg, K);
    }
    for (int64_t n = 0; n < st->N; n++)
        for (int64_t g = 0; g < st->G; g++) {
            c_mm_job job = {
                .M = K, .N = st->oprod, .K = st->Mg, .batch = 1,
                .a = st->tr + g * K * st->Mg * es,
                .b = st->dy + ((n * st->M + g * st->Mg) * st->oprod) * es,
                .c = st->col, .aoff = &zero, .boff = &zero,
            };
            st->mm(&job);
            char *xg = st->out + ((n * st->C + g * st->Cg) * st->iprod) * es;
            if (IS_F32(st))
                col2im_float(st, (const float *)st->col, (float *)xg);
            else
                col2im_double(st, (const double *)st->col, (double *)xg);
        }
}

static void run_grad_weight(conv_grad_state *st)
{
    int64_t zero = 0, K = st->Cg * st->kprod, es = (int64_t)st->es;
    memset(st->out, 0, (size_t)(st->M * K * es));
    for (int64_t n = 0; n < st->N; n++)
        for (int64_t g = 0; g < st->G; g++) {
            const char *xg = st->x + ((n * st->C + g * st->Cg) * st->iprod) * es;
            const char *dyg = st->dy + ((n * st->M + g * st->Mg) * st->oprod) * es;
            char *dwg = st->out + g * st->Mg * K * es;
            if (IS_F32(st)) {
                im2col_float(st, (const float *)xg, (float *)st->col);
                transpose_float((const float *)dyg, (float *)st->tr, st->Mg, st->oprod);
            } else {
                im2col_double(st, (const double *)xg, (double *)st->col);
                transpose_double((const double *)dyg, (double *)st->tr, st->Mg, st->oprod);
            }
            c_mm_job job = {
                .M = K, .N = st->Mg, .K = st->oprod, .batch = 1,
                .a = st->col, .b = st->tr, .c = st->part, .aoff = &zero, .boff = &zero,
            };
            st->mm(&job);
            if (IS_F32(st))
                add_transposed_float((const float *)st->part, (float *)dwg, K, st->Mg);
            else
                add_transposed_double((const double *)st->part, (double *)dwg, K, st->Mg);
        }
}

static dc_status conv_grad_run(void *state)
{
    conv_grad_state *st = state;
    if (st->variant == GRAD_INPUT) {
        if (st->oprod == 0 || st->M == 0) /* nothing reads X: zero gradient */
            memset(st->out, 0, (size_t)(st->N * st->C * st->iprod) * st->es);
        else
            run_grad_input(st);
    } else {
        run_grad_weight(st);
    }
    return DC_OK;
}

static void conv_grad_release(void *state)
{
    conv_grad_state *st = state;
    free(st->col);
    free(st->tr);
    free(st->part);
}

C_KERNEL(ConvGradInput, .state_size = sizeof(conv_grad_state), .setup = conv_grad_setup,
         .run = conv_grad_run, .release = conv_grad_release, .variant = GRAD_INPUT,
         .half_via_f32 = 1);
C_KERNEL(ConvGradWeight, .state_size = sizeof(conv_grad_state), .setup = conv_grad_setup,
         .run = conv_grad_run, .release = conv_grad_release, .variant = GRAD_WEIGHT,
         .half_via_f32 = 1);
