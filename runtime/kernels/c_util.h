/* Shared machinery of dinoc's C kernels (runtime/kernels/c_*.c).
 *
 * A C kernel is written as three functions over a state struct of its own:
 *   setup(args, variant, state)  validates types, shapes and attributes and
 *                                precomputes strides; it runs for `check` too
 *                                (then data pointers are NULL and the state is
 *                                thrown away after `release`);
 *   run(state)                   one execution;
 *   release(state)               frees what setup allocated (may be NULL).
 * C_KERNEL() turns that into a dc_kernel named "c.<Op>". With
 * `half_via_f32`, f16 and bf16 arguments are presented to setup as f32
 * scratch buffers, converted on the way in and out of every run, so float
 * kernels are written for f32 and f64 only. */
#ifndef DC_C_UTIL_H
#define DC_C_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_kernel.h"

/* Reductions carry `#pragma omp simd` so that float sums may vectorise; when
 * clang cannot (strided loops, sanitizer builds) it says so as a warning,
 * which is not an error for a reference kernel. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* Below this many elements a loop runs on one thread. */
#define C_PAR_MIN ((int64_t)1 << 15)

typedef struct c_kernel_impl {
    size_t state_size;
    dc_status (*setup)(const dc_kernel_args *a, int variant, void *state);
    dc_status (*run)(void *state);
    void (*release)(void *state);
    int variant;      /* passed to setup: which op of a family */
    int half_via_f32; /* stage f16/bf16 arguments as f32 */
} c_kernel_impl;

dc_status c_kernel_check(const c_kernel_impl *impl, const dc_kernel_args *a);
dc_status c_kernel_prepare(const c_kernel_impl *impl, const dc_kernel_args *a, void **state);
dc_status c_kernel_run(void *state);
void c_kernel_release(void *state);

#define C_KERNEL(OP, ...)                                                                     \
    static const c_kernel_impl c_impl_##OP = {__VA_ARGS__};                                   \
    static dc_status c_check_##OP(const dc_kernel_args *a)                                    \
    {                                                                                         \
        return c_kernel_check(&c_impl_##OP, a);                                               \
    }                                                                                         \
    static dc_status c_prepare_##OP(const dc_kernel_args *a, void **s)                        \
    {                                                                                         \
        return c_kernel_prepare(&c_impl_##OP, a, s);                                          \
    }                                                                                         \
    const dc_kernel dc_kernel_c_##OP = {"c." #OP, #OP, c_check_##OP, c_prepare_##OP,          \
                                        c_kernel_run, c_kernel_release, NULL}

/* ------------------------------------------------------------ arguments */

/* Input/output descriptor i, NULL when omitted or beyond the step's args. */
const dc_plan_buffer *c_in(const dc_kernel_args *a, int i);
const dc_plan_buffer *c_out(const dc_kernel_args *a, int i);
void *c_in_data(const dc_kernel_args *a, int i);
void *c_out_data(const dc_kernel_args *a, int i);

/* Requires inputs 0..min_in-1 and outputs 0..min_out-1 to be present and at
 * most max_in inputs / max_out outputs (-1: any number). */
dc_status c_arity(const dc_kernel_args *a, int min_in, int max_in, int min_out, int max_out);

int64_t c_numel(const dc_plan_buffer *b);
/* "f32[2,3]" into buf (at least 96 bytes is plenty for rank 8). */
const char *c_type_str(char *buf, size_t cap, const dc_plan_buffer *b);
#define C_TYPE_STR(b) c_type_str((char[128]){0}, 128, (b))

/* Element type `t` is one of the `n` types listed, else DC_ERR_UNSUPPORTED naming `what`. */
dc_status c_expect_dtype(const dc_plan_buffer *b, const char *what, const dc_dtype *allowed, int n);
#define C_EXPECT_DTYPE(b, what, ...)                                                             \
    c_expect_dtype((b), (what), (const dc_dtype[]){__VA_ARGS__},                                 \
                   (int)(sizeof((const dc_dtype[]){__VA_ARGS__}) / sizeof(dc_dtype)))
/* Same element type as `ref`. */
dc_status c_same_dtype(const dc_plan_buffer *b, const char *what, const dc_plan_buffer *ref,
                       const char *ref_what);
/* Same shape (rank and dims). */
int c_same_shape(const dc_plan_buffer *x, const dc_plan_buffer *y);
/* Output `b` must have exactly this element type and shape. */
dc_status c_expect_shape(const dc_plan_buffer *b, const char *what, dc_dtype dtype, int rank,
                         const int64_t *dims);

/* Normalises an axis in [-rank, rank) to [0, rank). */
dc_status c_axis(int64_t axis, int rank, const char *what, int *out);
/* Row-major element strides of a shape. */
void c_strides(int rank, const int64_t *dims, int64_t *strides);

/* ------------------------------------------------------------ dtype lists
 * X(ENUM, suffix, C type), to instantiate a template per type. */
#define C_TYPES_FLOAT(X) X(DC_F32, f32, float) X(DC_F64, f64, double)
#define C_TYPES_SINT(X) \
    X(DC_I8, i8, int8_t) X(DC_I16, i16, int16_t) X(DC_I32, i32, int32_t) X(DC_I64, i64, int64_t)
#define C_TYPES_UINT(X) \
    X(DC_U8, u8, uint8_t) X(DC_U16, u16, uint16_t) X(DC_U32, u32, uint32_t) X(DC_U64, u64, uint64_t)
#define C_TYPES_INT(X) C_TYPES_SINT(X) C_TYPES_UINT(X)
#define C_TYPES_NUMERIC(X) C_TYPES_FLOAT(X) C_TYPES_INT(X)

/* A double as integer type T by the rules of c_f64_to_i32 above. */
#define C_F64_TO_INT(T, d)                                                                 \
    ((T)(sizeof(T) < 4 || (sizeof(T) == 4 && (T)-1 < (T)1) ? (uint64_t)(int64_t)c_f64_to_i32(d) \
         : sizeof(T) == 4 || (T)-1 < (T)1               ? (uint64_t)c_f64_to_i64(d)          \
                                                        : c_f64_to_u64(d)))

/* Float to integer as C compilers on x86 (and so numpy there) do it: truncate
 * toward zero; NaN and values out of range give the "integer indefinite"
 * INT32_MIN or INT64_MIN. Types up to 32 bits (except u32) convert through
 * int32, i64 and u32 through int64, then wrap to the target's width. */
static inline int32_t c_f64_to_i32(double d)
{
    return d >= -2147483648.0 && d < 2147483648.0 ? (int32_t)d : INT32_MIN;
}
static inline int64_t c_f64_to_i64(double d)
{
    return d >= -9223372036854775808.0 && d < 9223372036854775808.0
               ? (int64_t)d
               : INT64_MIN;
}
static inline uint64_t c_f64_to_u64(double d)
{
    return d >= 0 && d < 18446744073709551616.0 ? (uint64_t)d : (uint64_t)c_f64_to_i64(d);
}

/* isnan for any element type (false for integers, without a self-comparison warning). */
static inline int c_isnan_f(float v) { return v != v; }
static inline int c_isnan_d(double v) { return v != v; }
static inline int c_isnan_never(uint64_t v) { (void)v; return 0; }
#define C_ISNAN(v) _Generic((v), float: c_isnan_f, double: c_isnan_d, default: c_isnan_never)(v)

/* ------------------------------------------------------------ f32 math shared by kernels */

/* Sigmoid without overflow: exp of a non-positive number only. */
static inline float c_sigmoid_f32(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
/* erf for f32 as a rational function of x on [-4, 4] (erf(±4) is 1 to f32
 * precision), the form Eigen and XLA use: it vectorises, where erff() is a
 * scalar call per element; the erf-GELU of every ViT MLP runs through it.
 * Max abs error 4.2e-7 against erf() in double over [-6, 6] (NaN stays NaN). */
static inline float c_erf_f32(float x)
{
    x = x < -4.0f ? -4.0f : x > 4.0f ? 4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

/* Inlined into each caller, so a caller built for a wider vector unit
 * (C_CPU_CLONES below) gets these loops at its width too. */
#define C_ALWAYS_INLINE static inline __attribute__((always_inline))

/* exp for f32 that vectorises (expf() is a scalar call per element): e^x =
 * 2^n · e^r with n = round(x / ln 2), r = x − n·ln 2 in two parts, e^r by its
 * degree-6 Taylor polynomial on |r| ≤ ln2/2, 2^n put into the exponent bits.
 * x is clamped to [-87, 88] (no denormals, no overflow); relative error
 * below 2.5e-7; a NaN input gives NaN. */
C_ALWAYS_INLINE float c_exp_f32(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    /* Round to nearest by adding and removing 1.5·2^23 (SSE2 has no round). */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f; /* ln 2 = 0.693359375 − 2.12194440e-4 */
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* NaN already flows through r and p; converting it to int would be
     * undefined, so its exponent is taken as 0 (a select, still vectorised). */
    n = n == n ? n : 0.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* The largest of x[0..n), n >= 1, in 16 independent lanes: it vectorises
 * and keeps its accumulators in registers (gcc spills an OpenMP simd max
 * reduction to the stack on every iteration). A NaN counts only in x[0]. */
C_ALWAYS_INLINE float c_max_f32(const float *x, int64_t n)
{
    float lane[16], m = x[0];
    for (int l = 0; l < 16; l++)
        lane[l] = m;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++)
            lane[l] = x[j + l] > lane[l] ? x[j + l] : lane[l];
    for (int l = 0; l < 16; l++)
        m = lane[l] > m ? lane[l] : m;
    for (; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

static inline double c_max_f64(const double *x, int64_t n)
{
    double m = x[0];
    for (int64_t j = 1; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

/* x[j] = e^(x[j] - m) for j < n; returns their sum, added in 16 float lanes
 * over at most 256 terms at a time and in double across those blocks (a
 * double accumulator would halve the vector width). */
C_ALWAYS_INLINE double c_exp_shift_sum_f32(float *x, int64_t n, float m)
{
    float lane[16] = {0};
    double sum = 0;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int l = 0; l < 16; l++) {
            float e = c_exp_f32(x[j + l] - m);
            x[j + l] = e;
            lane[l] += e;
        }
        if ((j & 255) == 240 || j + 32 > n) {
            for (int l = 0; l < 16; l++) {
                sum += lane[l];
                lane[l] = 0;
            }
        }
    }
    for (; j < n; j++) {
        x[j] = c_exp_f32(x[j] - m);
        sum += x[j];
    }
    return sum;
}

/* Hot loops built for AVX-512 and AVX2 as well as the baseline x86-64 the
 * library targets; the loader picks the clone the CPU runs (an ifunc). */
#ifdef __x86_64__
#define C_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define C_CPU_CLONES
#endif

/* ------------------------------------------------------------ broadcasting */

/* Numpy broadcasting of up to three inputs to the output's shape, with
 * adjacent dimensions merged where every input allows it, so the innermost
 * dimension is as long as possible; each input's innermost stride is 0 or 1. */
enum { C_BCAST_MAX_IN = 3 };
typedef struct c_bcast {
    int n_in, rank;                              /* rank >= 1 after merging */
    int64_t dims[DC_MAX_RANK];
    int64_t strides[C_BCAST_MAX_IN][DC_MAX_RANK]; /* elements; 0 where broadcast */
    int64_t inner, outer, numel;
} c_bcast;

/* Checks that every input broadcasts to `out`'s shape and that `out`'s shape
 * is exactly the broadcast shape (unless `out_may_be_larger`, for Expand). */
dc_status c_bcast_init(c_bcast *bc, int n_in, const dc_plan_buffer *const *ins,
                       const dc_plan_buffer *out, int out_may_be_larger);
/* Element offsets of each input at the start of output row `row` (< outer). */
void c_bcast_row(const c_bcast *bc, int64_t row, int64_t *offsets);

/* Calls fn(ctx, in_offsets, out_offset, n) over the output in row chunks,
 * in parallel when large; in_offsets[k] is where input k's run starts (its
 * innermost stride, 0 or 1, is bc->strides[k][bc->rank - 1]). */
typedef void (*c_row_fn)(const void *ctx, const int64_t *in_off, int64_t out_off, int64_t n);
void c_bcast_run(const c_bcast *bc, c_row_fn fn, const void *ctx);

/* ------------------------------------------------------------ conversions */

/* n elements of a numeric or bool type to double and back. Float to integer
 * follows C_F64_TO_INT (x86 truncation rules); bool stores x != 0;
 * f16/bf16 go through float. Unsupported types leave dst untouched. */
void c_to_f64(dc_dtype t, const void *src, double *dst, int64_t n);
void c_from_f64(dc_dtype t, const double *src, void *dst, int64_t n);

/* ------------------------------------------------------------ strided copies */

/* out[i] (contiguous, `rank` dims) = in[base + sum(idx_d * stride_d)]: how
 * Transpose, Slice, Expand and friends move bytes of any element size. */
typedef struct c_strided {
    int rank;
    int64_t dims[DC_MAX_RANK], strides[DC_MAX_RANK];
    int64_t base, numel;
    size_t esize;
} c_strided;

void c_strided_init(c_strided *sc, int rank, const int64_t *dims, const int64_t *strides,
                    int64_t base, size_t esize);
void c_strided_copy(const c_strided *sc, const void *in, void *out);

/* Parallel memcpy for large copies. */
void c_copy(void *dst, const void *src, size_t n);

/* True when byte ranges [p, p+n) and [q, q+m) overlap. */
static inline int c_overlaps(const void *p, size_t n, const void *q, size_t m)
{
    const char *a = p, *b = q;
    return n && m && a < b + m && b < a + n;
}

/* 64-byte aligned scratch of n bytes (at least 1), or NULL. */
void *c_alloc(size_t n);

/* The matrix product core of MatMul, Gemm and Conv: for each of `batch`
 * products, C[M, N] = A[M, K] x B[K, N], all row-major and contiguous, with
 * A and B at element offsets aoff[i], boff[i] and C packed batch after batch.
 * Types f32, f64, i32, i64, u32, u64; c_mm_for gives NULL for others. */
typedef struct c_mm_job {
    int64_t M, N, K, batch;
    const char *a, *b;
    char *c;
    const int64_t *aoff, *boff;
} c_mm_job;
typedef void (*c_mm_fn)(const c_mm_job *j);
c_mm_fn c_mm_for(dc_dtype t);

#endif
