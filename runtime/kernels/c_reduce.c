/* ReduceSum, ReduceMean, ReduceMax, ReduceMin; ArgMax, ArgMin.
 *
 *   Reduce*: X[...] -> Y[X's shape with `axes` removed, or kept as 1 with
 *            keepdims]; no axes: all of them, or a copy with
 *            noop_with_empty_axes
 *   Arg*:    X[outer, L, inner] -> Y[outer, (1,) inner] int64, the first
 *            (or with select_last_index the last) position of the extreme
 *
 * Every numeric type (f16, bf16 through f32). Float sums accumulate in
 * double; integer sums wrap; an integer mean truncates toward zero. NaN wins
 * ReduceMax/ReduceMin and ArgMax/ArgMin (the first NaN), as in numpy. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "c_util.h"

enum { R_SUM, R_MEAN, R_MAX, R_MIN };

typedef struct reduce_state {
    int kind, copy;
    dc_dtype t;
    size_t es;
    int nk, nr;                      /* kept and reduced dimension groups */
    int64_t kdim[DC_MAX_RANK], kstride[DC_MAX_RANK];
    int64_t rdim[DC_MAX_RANK], rstride[DC_MAX_RANK];
    int64_t out_n, red_n;
    const void *x;
    void *y;
} reduce_state;

/* Offset of reduced position q, all but the innermost reduced group. */
static inline int64_t reduced_offset(const reduce_state *st, int64_t q)
{
    int64_t off = 0;
    for (int d = st->nr - 2; d >= 0; d--) {
        off += q % st->rdim[d] * st->rstride[d];
        q /= st->rdim[d];
    }
    return off;
}

#define REDUCE_T(E, S, T, ACC, LO, HI)                                                     \
    static void reduce_##S(const reduce_state *st)                                         \
    {                                                                                      \
        const T *x = st->x;                                                                \
        T *y = st->y;                                                                      \
        int64_t L = st->nr ? st->rdim[st->nr - 1] : 1;                                     \
        int64_t ls = st->nr ? st->rstride[st->nr - 1] : 0, Q = L ? st->red_n / L : 0;      \
        _Pragma("omp parallel for if (st->out_n * st->red_n > C_PAR_MIN)")                 \
        for (int64_t o = 0; o < st->out_n; o++) {                                          \
            int64_t base = 0, rem = o;                                                     \
            for (int d = st->nk - 1; d >= 0; d--) {                                        \
                base += rem % st->kdim[d] * st->kstride[d];                                \
                rem /= st->kdim[d];                                                        \
            }                                                                              \
            if (st->kind == R_SUM || st->kind == R_MEAN) {                                 \
                ACC acc = 0;                                                               \
                for (int64_t q = 0; q < Q; q++) {                                          \
                    const T *restrict p = x + base + reduced_offset(st, q);                \
                    ACC s = 0;                                                             \
                    _Pragma("omp simd reduction(+ : s)")                                   \
                    for (int64_t j = 0; j < L; j++)                                        \
                        s += (ACC)p[j * ls];                                               \
                    acc += s;                                                              \
                }                                                                          \
                y[o] = st->kind == R_SUM ? (T)acc : MEAN_OF(T, acc, st->red_n);            \
                continue;                                                                  \
            }                                                                              \
            int mx = st->kind == R_MAX;                                                    \
            T m = mx ? LO : HI;                                                            \
            for (int64_t q = 0; q < Q; q++) {                                              \
                const T *restrict p = x + base + reduced_offset(st, q);                    \
                for (int64_t j = 0; j < L; j++) {                                          \
                    T v = p[j * ls];                                                       \
                    if (mx ? v > m || C_ISNAN(v) : v < m || C_ISNAN(v))                            \
                        m = v;                                                             \
                    if (C_ISNAN(m))                                                        \
                        break;                                                             \
                }                                                                          \
            }                                                                              \
            y[o] = m;                                                                      \
        }                                                                                  \
    }

/* Float means divide in double; integer means divide the wrapped sum as int64. */
#define MEAN_OF(T, acc, n) ((T)_Generic((T)0, float: (acc) / (double)(n), double: (acc) / (double)(n), \
                                        default: (n) ? (int64_t)(acc) / (int64_t)(n) : 0))
REDUCE_T(DC_F32, f32, float, double, -INFINITY, INFINITY)
REDUCE_T(DC_F64, f64, double, double, -INFINITY, INFINITY)
REDUCE_T(DC_I8, i8, int8_t, uint64_t, INT8_MIN, INT8_MAX)
REDUCE_T(DC_I16, i16, int16_t, uint64_t, INT16_MIN, INT16_MAX)
REDUCE_T(DC_I32, i32, int32_t, uint64_t, INT32_MIN, INT32_MAX)
REDUCE_T(DC_I64, i64, int64_t, uint64_t, INT64_MIN, INT64_MAX)
REDUCE_T(DC_U8, u8, uint8_t, uint64_t, 0, UINT8_MAX)
REDUCE_T(DC_U16, u16, uint16_t, uint64_t, 0, UINT16_MAX)
REDUCE_T(DC_U32, u32, uint32_t, uint64_t, 0, UINT32_MAX)
REDUCE_T(DC_U64, u64, uint64_t, uint64_t, 0, UINT64_MAX)

typedef void (*reduce_fn)(const reduce_state *st);
#define REDUCE_ENTRY(E, S, T) [E] = reduce_##S,
static const reduce_fn reduce_table[DC_DTYPE_COUNT] = {C_TYPES_NUMERIC(REDUCE_ENTRY)};

static dc_status reduce_setup(const dc_kernel_args *a, int kind, void *state)
{
    reduce_state *st = state;
    DC_TRY(c_arity(a, 1, 2, 1, 1)); /* a second input (opset-18 axes) is ignored */
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    if ((unsigned)X->dtype >= DC_DTYPE_COUNT || !reduce_table[X->dtype])
        return dc_error(DC_ERR_UNSUPPORTED, "input of element type %s is not supported",
                        dc_dtype_name(X->dtype));
    st->kind = kind;
    st->t = X->dtype;
    st->es = dc_dtype_size(X->dtype);
    int keep = dc_step_int(a->step, "keepdims", 1) != 0;
    int n_axes = 0;
    const int64_t *axes = dc_step_ints(a->step, "axes", &n_axes);
    int reduced[DC_MAX_RANK] = {0};
    if (n_axes == 0 && dc_step_int(a->step, "noop_with_empty_axes", 0)) {
        st->copy = 1;
    } else if (n_axes == 0) {
        for (int d = 0; d < X->rank; d++)
            reduced[d] = 1;
    }
    for (int i = 0; i < n_axes; i++) {
        int ax;
        DC_TRY(c_axis(axes[i], X->rank, "axis", &ax));
        if (reduced[ax])
            return dc_error(DC_ERR_INVALID, "axis %lld given twice", (long long)axes[i]);
        reduced[ax] = 1;
    }
    int64_t want[DC_MAX_RANK];
    int wr = 0;
    for (int d = 0; d < X->rank; d++)
        if (!reduced[d] || keep)
            want[wr++] = reduced[d] ? 1 : X->dims[d];
    DC_TRY(c_expect_shape(Y, "output", X->dtype, wr, want));
    /* Merge neighbouring dimensions of the same kind; drop dimensions of 1. */
    int64_t strides[DC_MAX_RANK];
    c_strides(X->rank, X->dims, strides);
    st->nk = st->nr = 0;
    st->out_n = st->red_n = 1;
    int last = -1; /* 0 kept, 1 reduced */
    for (int d = 0; d < X->rank; d++) {
        if (X->dims[d] == 1)
            continue;
        int r = reduced[d];
        int64_t *dim = r ? st->rdim : st->kdim, *str = r ? st->rstride : st->kstride;
        int *n = r ? &st->nr : &st->nk;
        if (last == r) {
            dim[*n - 1] *= X->dims[d];
            str[*n - 1] = strides[d];
        } else {
            dim[*n] = X->dims[d];
            str[*n] = strides[d];
            (*n)++;
        }
        last = r;
        *(r ? &st->red_n : &st->out_n) *= X->dims[d];
    }
    if (c_numel(X) == 0) { /* a zero dimension: count what is really there */
        st->out_n = c_numel(Y);
        st->red_n = st->out_n ? 0 : 1;
        st->nk = st->nr = 0;
    }
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    return DC_OK;
}

/* Sum or mean of the rows of X [R, K] -> [K] (a bias gradient): X is read
 * row after row into K double accumulators, a column block per thread,
 * where the general loop walks each column with stride K. */
enum { ROWS_BLOCK = 512 };

static bool sums_rows(const reduce_state *st)
{
    return (st->kind == R_SUM || st->kind == R_MEAN) && (st->t == DC_F32 || st->t == DC_F64) &&
           st->nk == 1 && st->nr == 1 && st->kstride[0] == 1 && st->rstride[0] == st->kdim[0];
}

#define SUM_ROWS_T(S, T)                                                                   \
    static void sum_rows_##S(const reduce_state *st)                                       \
    {                                                                                      \
        const T *x = st->x;                                                                \
        T *y = st->y;                                                                      \
        int64_t K = st->kdim[0], R = st->rdim[0], blocks = (K + ROWS_BLOCK - 1) / ROWS_BLOCK; \
        double scale = st->kind == R_MEAN ? 1.0 / (double)R : 1.0;                         \
        _Pragma("omp parallel for if (K * R > C_PAR_MIN)")                                 \
        for (int64_t b = 0; b < blocks; b++) {                                             \
            int64_t at = b * ROWS_BLOCK, n = K - at < ROWS_BLOCK ? K - at : ROWS_BLOCK;    \
            double acc[ROWS_BLOCK] = {0};                                                  \
            for (int64_t r = 0; r < R; r++) {                                              \
                const T *restrict row = x + r * K + at;                                    \
                _Pragma("omp simd")                                                        \
                for (int64_t j = 0; j < n; j++)                                            \
                    acc[j] += (double)row[j];                                              \
            }                                                                              \
            for (int64_t j = 0; j < n; j++)                                                \
                y[at + j] = (T)(acc[j] * scale);                                           \
        }                                                                                  \
    }
SUM_ROWS_T(f32, float)
SUM_ROWS_T(f64, double)

static dc_status reduce_run(void *state)
{
    reduce_state *st = state;
    if (st->copy)
        c_copy(st->y, st->x, (size_t)st->out_n * st->es);
    else if (sums_rows(st) && st->t == DC_F32)
        sum_rows_f32(st);
    else if (sums_rows(st))
        sum_rows_f64(st);
    else
        reduce_table[st->t](st);
    return DC_OK;
}

#define REDUCE_KERNEL(OP, K) \
    C_KERNEL(OP, .state_size = sizeof(reduce_state), .setup = reduce_setup, .run = reduce_run, \
             .variant = K, .half_via_f32 = 1)
REDUCE_KERNEL(ReduceSum, R_SUM);
REDUCE_KERNEL(ReduceMean, R_MEAN);
REDUCE_KERNEL(ReduceMax, R_MAX);
REDUCE_KERNEL(ReduceMin, R_MIN);

/* ------------------------------------------------------------ ArgMax, ArgMin */

typedef struct arg_state {
    int is_max, last;
    dc_dtype t;
    int64_t outer, len, inner;
    const void *x;
    int64_t *y;
} arg_state;

#define ARG_T(E, S, T)                                                                  \
    static void arg_##S(const arg_state *st)                                            \
    {                                                                                   \
        const T *x = st->x;                                                             \
        int64_t n = st->outer * st->inner;                                              \
        _Pragma("omp parallel for if (n * st->len > C_PAR_MIN)")                        \
        for (int64_t t = 0; t < n; t++) {                                               \
            int64_t o = t / st->inner, i = t % st->inner;                               \
            const T *p = x + o * st->len * st->inner + i;                               \
            T best = p[0];                                                              \
            int64_t at = 0;                                                             \
            for (int64_t l = 1; l < st->len && !C_ISNAN(best); l++) {                   \
                T v = p[l * st->inner];                                                 \
                int better = st->is_max ? v > best : v < best;                          \
                if (better || C_ISNAN(v) || (st->last && v == best)) {                   \
                    best = v;                                                           \
                    at = l;                                                             \
                }                                                                       \
            }                                                                           \
            st->y[t] = at;                                                              \
        }                                                                               \
    }
C_TYPES_NUMERIC(ARG_T)

typedef void (*arg_fn)(const arg_state *st);
#define ARG_ENTRY(E, S, T) [E] = arg_##S,
static const arg_fn arg_table[DC_DTYPE_COUNT] = {C_TYPES_NUMERIC(ARG_ENTRY)};

static dc_status arg_setup(const dc_kernel_args *a, int is_max, void *state)
{
    arg_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    if ((unsigned)X->dtype >= DC_DTYPE_COUNT || !arg_table[X->dtype])
        return dc_error(DC_ERR_UNSUPPORTED, "input of element type %s is not supported",
                        dc_dtype_name(X->dtype));
    if (X->rank == 0)
        return dc_error(DC_ERR_SHAPE, "input is a scalar");
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", 0), X->rank, "axis", &axis));
    int keep = dc_step_int(a->step, "keepdims", 1) != 0;
    st->is_max = is_max;
    st->last = dc_step_int(a->step, "select_last_index", 0) != 0;
    st->t = X->dtype;
    st->len = X->dims[axis];
    if (st->len == 0)
        return dc_error(DC_ERR_SHAPE, "%s over an empty axis", is_max ? "ArgMax" : "ArgMin");
    st->outer = st->inner = 1;
    int64_t want[DC_MAX_RANK];
    int wr = 0;
    for (int d = 0; d < X->rank; d++) {
        if (d < axis)
            st->outer *= X->dims[d];
        if (d > axis)
            st->inner *= X->dims[d];
        if (d != axis || keep)
            want[wr++] = d == axis ? 1 : X->dims[d];
    }
    DC_TRY(c_expect_shape(Y, "output", DC_I64, wr, want));
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static dc_status arg_run(void *state)
{
    arg_state *st = state;
    arg_table[st->t](st);
    return DC_OK;
}

C_KERNEL(ArgMax, .state_size = sizeof(arg_state), .setup = arg_setup, .run = arg_run,
         .variant = 1, .half_via_f32 = 1);
C_KERNEL(ArgMin, .state_size = sizeof(arg_state), .setup = arg_setup, .run = arg_run,
         .variant = 0, .half_via_f32 = 1);
