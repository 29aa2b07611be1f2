/* Element-wise ops with numpy broadcasting: Add, Sub, Mul, Div, Pow, Equal,
 * Where; and the unary maps Sqrt, Reciprocal, Exp, Log, Neg, Abs, Erf, Tanh,
 * Sigmoid, Relu.
 *
 *   binary: A[...], B[...] -> Y[broadcast(A, B)]
 *   Where:  C[...] bool, X[...], Y[...] -> Z[broadcast(C, X, Y)]
 *   unary:  X[...] -> Y[same shape]
 *
 * Integer arithmetic wraps (computed in uint64), integer Div truncates toward
 * zero as C does, with x / 0 = 0 and MIN / -1 = MIN instead of a trap. f16 and
 * bf16 go through f32 (the wrapper stages them). */
#include <math.h>
#include <stdlib.h>

#include "c_util.h"

/* ------------------------------------------------------------ binary maps */

/* One output run: a and b advance by sa, sb in {0, 1}; each combination gets
 * its own loop so that the common ones vectorise. */
typedef void (*bin_fn)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb, void *y);

#define DEF_BIN(NAME, TI, TO, EXPR)                                                          \
    static void NAME(int64_t n, const void *a_, int64_t sa, const void *b_, int64_t sb,      \
                     void *y_)                                                                \
    {                                                                                         \
        const TI *a = a_;                                                                     \
        const TI *b = b_;                                                                     \
        TO *y = y_;                                                                           \
        if (sa && sb) {                                                                       \
            _Pragma("omp simd")                                                               \
            for (int64_t i = 0; i < n; i++) {                                                 \
                TI x0 = a[i], x1 = b[i];                                                      \
                y[i] = (TO)(EXPR);                                                            \
            }                                                                                 \
        } else if (sa) {                                                                      \
            TI x1 = b[0];                                                                     \
            _Pragma("omp simd")                                                               \
            for (int64_t i = 0; i < n; i++) {                                                 \
                TI x0 = a[i];                                                                 \
                y[i] = (TO)(EXPR);                                                            \
            }                                                                                 \
        } else if (sb) {                                                                      \
            TI x0 = a[0];                                                                     \
            _Pragma("omp simd")                                                               \
            for (int64_t i = 0; i < n; i++) {                                                 \
                TI x1 = b[i];                                                                 \
                y[i] = (TO)(EXPR);                                                            \
            }                                                                                 \
        } else {                                                                              \
            TI x0 = a[0], x1 = b[0];                                                          \
            TO v = (TO)(EXPR);                                                                \
            for (int64_t i = 0; i < n; i++)                                                   \
                y[i] = v;                                                                     \
        }                                                                                     \
    }

#define WRAP(T, OP) (T)((uint64_t)x0 OP(uint64_t) x1)

#define BIN_FLOAT(E, S, T)                  \
    DEF_BIN(add_##S, T, T, x0 + x1)         \
    DEF_BIN(sub_##S, T, T, x0 - x1)         \
    DEF_BIN(mul_##S, T, T, x0 * x1)         \
    DEF_BIN(div_##S, T, T, x0 / x1)         \
    DEF_BIN(eq_##S, T, uint8_t, x0 == x1)
#define BIN_INT(E, S, T)                    \
    DEF_BIN(add_##S, T, T, WRAP(T, +))      \
    DEF_BIN(sub_##S, T, T, WRAP(T, -))      \
    DEF_BIN(mul_##S, T, T, WRAP(T, *))      \
    DEF_BIN(eq_##S, T, uint8_t, x0 == x1)
#define DIV_SINT(E, S, T) \
    DEF_BIN(div_##S, T, T, x1 == 0 ? (T)0 : x1 == (T)-1 ? (T)(0 - (uint64_t)x0) : (T)(x0 / x1))
#define DIV_UINT(E, S, T) DEF_BIN(div_##S, T, T, x1 == 0 ? (T)0 : (T)(x0 / x1))

C_TYPES_FLOAT(BIN_FLOAT)
C_TYPES_INT(BIN_INT)
C_TYPES_SINT(DIV_SINT)
C_TYPES_UINT(DIV_UINT)
DEF_BIN(eq_bool, uint8_t, uint8_t, (x0 != 0) == (x1 != 0))

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_EQUAL, N_BIN_OPS };

#define ROW_ADD(E, S, T) [E] = add_##S,
#define ROW_SUB(E, S, T) [E] = sub_##S,
#define ROW_MUL(E, S, T) [E] = mul_##S,
#define ROW_DIV(E, S, T) [E] = div_##S,
#define ROW_EQ(E, S, T) [E] = eq_##S,
static const bin_fn bin_table[N_BIN_OPS][DC_DTYPE_COUNT] = {
    [OP_ADD] = {C_TYPES_NUMERIC(ROW_ADD)},
    [OP_SUB] = {C_TYPES_NUMERIC(ROW_SUB)},
    [OP_MUL] = {C_TYPES_NUMERIC(ROW_MUL)},
    [OP_DIV] = {C_TYPES_NUMERIC(ROW_DIV)},
    [OP_EQUAL] = {C_TYPES_NUMERIC(ROW_EQ)[DC_BOOL] = eq_bool},
};

typedef struct binary_state {
    c_bcast bc;
    bin_fn fn;
    const char *a, *b;
    char *y;
    size_t ea, eb, ey;
} binary_state;

static dc_status binary_setup(const dc_kernel_args *a, int op, void *state)
{
    binary_state *st = state;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *Y = a->out[0];
    DC_TRY(c_same_dtype(B, "input B", A, "input A"));
    st->fn = (unsigned)A->dtype < DC_DTYPE_COUNT ? bin_table[op][A->dtype] : NULL;
    if (!st->fn)
        return dc_error(DC_ERR_UNSUPPORTED, "inputs of element type %s are not supported",
                        dc_dtype_name(A->dtype));
    DC_TRY(c_same_dtype(Y, "output", op == OP_EQUAL ? &(dc_plan_buffer){.dtype = DC_BOOL} : A,
                        op == OP_EQUAL ? "Equal's result (bool)" : "input A"));
    const dc_plan_buffer *ins[2] = {A, B};
    DC_TRY(c_bcast_init(&st->bc, 2, ins, Y, 0));
    st->a = c_in_data(a, 0);
    st->b = c_in_data(a, 1);
    st->y = c_out_data(a, 0);
    st->ea = st->eb = dc_dtype_size(A->dtype);
    st->ey = dc_dtype_size(Y->dtype);
    return DC_OK;
}

static void binary_row(const void *ctx, const int64_t *off, int64_t out, int64_t n)
{
    const binary_state *st = ctx;
    int last = st->bc.rank - 1;
    st->fn(n, st->a + off[0] * (int64_t)st->ea, st->bc.strides[0][last],
           st->b + off[1] * (int64_t)st->eb, st->bc.strides[1][last], st->y + out * (int64_t)st->ey);
}

static dc_status binary_run(void *state)
{
    binary_state *st = state;
    c_bcast_run(&st->bc, binary_row, st);
    return DC_OK;
}

#define BINARY_KERNEL(OP, V) \
    C_KERNEL(OP, .state_size = sizeof(binary_state), .setup = binary_setup, .run = binary_run, \
             .variant = V, .half_via_f32 = 1)
BINARY_KERNEL(Add, OP_ADD);
BINARY_KERNEL(Sub, OP_SUB);
BINARY_KERNEL(Mul, OP_MUL);
BINARY_KERNEL(Div, OP_DIV);
BINARY_KERNEL(Equal, OP_EQUAL);

/* ------------------------------------------------------------ Pow
 * X[...] base (f32, f64, i32, i64), E[...] exponent of any numeric type
 * -> Y[broadcast], Y's type = X's. The exponent is converted to double once
 * per run; integer bases with integer exponents use exact integer powers. */

typedef struct pow_state {
    c_bcast bc;
    dc_dtype tx, te;
    int int_exponent;
    const char *x, *e;
    char *y;
    double *ed; /* the exponent as double */
    int64_t en;
} pow_state;

static int64_t ipow(int64_t x, int64_t e)
{
    if (e < 0) /* 1 / x^-e truncated toward zero */
        return x == 1 ? 1 : x == -1 ? (e % 2 ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x; /* wraps like the fixed-width type */
    for (; e; e >>= 1, b *= b)
        if (e & 1)
            r *= b;
    return (int64_t)r;
}

#define POW_ROW(T, EXPR)                                     \
    do {                                                     \
        const T *x = (const T *)st->x + off[0];              \
        T *y = (T *)st->y + out;                             \
        for (int64_t i = 0; i < n; i++) {                    \
            T v = x[i * sx];                                 \
            double p = e[i * se];                            \
            y[i] = (T)(EXPR);                                \
        }                                                    \
    } while (0)

static void pow_row(const void *ctx, const int64_t *off, int64_t out, int64_t n)
{
    const pow_state *st = ctx;
    int last = st->bc.rank - 1;
    int64_t sx = st->bc.strides[0][last], se = st->bc.strides[1][last];
    const double *e = st->ed + off[1];
    switch (st->tx) {
    case DC_F32: POW_ROW(float, powf(v, (float)p)); break;
    case DC_F64: POW_ROW(double, pow(v, p)); break;
    case DC_I32:
        if (st->int_exponent)
            POW_ROW(int32_t, ipow(v, (int64_t)p));
        else
            POW_ROW(int32_t, c_f64_to_i32(pow(v, p)));
        break;
    case DC_I64:
        if (st->int_exponent)
            POW_ROW(int64_t, ipow(v, (int64_t)p));
        else
            POW_ROW(int64_t, c_f64_to_i64(pow((double)v, p)));
        break;
    default: break;
    }
}

static dc_status pow_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    pow_state *st = state;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *X = a->in[0], *E = a->in[1], *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(X, "base", DC_F32, DC_F64, DC_I32, DC_I64));
    if (!dc_dtype_is_float(E->dtype) && !dc_dtype_is_integer(E->dtype))
        return dc_error(DC_ERR_UNSUPPORTED, "exponent of element type %s is not supported",
                        dc_dtype_name(E->dtype));
    DC_TRY(c_same_dtype(Y, "output", X, "the base"));
    const dc_plan_buffer *ins[2] = {X, E};
    DC_TRY(c_bcast_init(&st->bc, 2, ins, Y, 0));
    st->tx = X->dtype;
    st->te = E->dtype;
    st->int_exponent = dc_dtype_is_integer(E->dtype);
    st->en = c_numel(E);
    st->x = c_in_data(a, 0);
    st->e = c_in_data(a, 1);
    st->y = c_out_data(a, 0);
    if (a->in_data && !(st->ed = malloc((size_t)(st->en ? st->en : 1) * sizeof(double))))
        return dc_error(DC_ERR_NOMEM, "exponent copy");
    return DC_OK;
}

static dc_status pow_run(void *state)
{
    pow_state *st = state;
    c_to_f64(st->te, st->e, st->ed, st->en);
    c_bcast_run(&st->bc, pow_row, st);
    return DC_OK;
}

static void pow_release(void *state) { free(((pow_state *)state)->ed); }

C_KERNEL(Pow, .state_size = sizeof(pow_state), .setup = pow_setup, .run = pow_run,
         .release = pow_release, .half_via_f32 = 1);

/* ------------------------------------------------------------ Where
 * C[...] bool, X[...], Y[...] (same type, any) -> Z[broadcast(C, X, Y)] */

typedef struct where_state {
    c_bcast bc;
    size_t es;
    const uint8_t *c;
    const char *x, *y;
    char *z;
} where_state;

#define WHERE_ROW(T)                                                       \
    do {                                                                   \
        const T *x = (const T *)st->x + off[1];                            \
        const T *y = (const T *)st->y + off[2];                            \
        T *z = (T *)st->z + out;                                           \
        for (int64_t i = 0; i < n; i++)                                    \
            z[i] = c[i * sc] ? x[i * sx] : y[i * sy];                      \
    } while (0)

static void where_row(const void *ctx, const int64_t *off, int64_t out, int64_t n)
{
    const where_state *st = ctx;
    int last = st->bc.rank - 1;
    int64_t sc = st->bc.strides[0][last], sx = st->bc.strides[1][last], sy = st->bc.strides[2][last];
    const uint8_t *restrict c = st->c + off[0];
    switch (st->es) {
    case 1: WHERE_ROW(uint8_t); break;
    case 2: WHERE_ROW(uint16_t); break;
    case 4: WHERE_ROW(uint32_t); break;
    case 8: WHERE_ROW(uint64_t); break;
    }
}

static dc_status where_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    where_state *st = state;
    DC_TRY(c_arity(a, 3, 3, 1, 1));
    const dc_plan_buffer *C = a->in[0], *X = a->in[1], *Y = a->in[2], *Z = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(C, "condition", DC_BOOL));
    DC_TRY(c_same_dtype(Y, "input Y", X, "input X"));
    DC_TRY(c_same_dtype(Z, "output", X, "input X"));
    st->es = dc_dtype_size(X->dtype);
    if (st->es != 1 && st->es != 2 && st->es != 4 && st->es != 8)
        return dc_error(DC_ERR_UNSUPPORTED, "element type %s", dc_dtype_name(X->dtype));
    const dc_plan_buffer *ins[3] = {C, X, Y};
    DC_TRY(c_bcast_init(&st->bc, 3, ins, Z, 0));
    st->c = c_in_data(a, 0);
    st->x = c_in_data(a, 1);
    st->y = c_in_data(a, 2);
    st->z = c_out_data(a, 0);
    return DC_OK;
}

static dc_status where_run(void *state)
{
    where_state *st = state;
    c_bcast_run(&st->bc, where_row, st);
    return DC_OK;
}

C_KERNEL(Where, .state_size = sizeof(where_state), .setup = where_setup, .run = where_run);

/* ------------------------------------------------------------ unary maps */

typedef void (*un_fn)(int64_t n, const void *x, void *y);

#define DEF_UN(NAME, T, EXPR)                                      \
    static void NAME(int64_t n, const void *x_, void *y_)          \
    {                                                              \
        const T *xs = x_; /* y may be xs: ops run in place */      \
        T *y = y_;                                                 \
        _Pragma("omp simd")                                        \
        for (int64_t i = 0; i < n; i++) {                          \
            T x = xs[i];                                           \
            y[i] = (T)(EXPR);                                      \
        }                                                          \
    }

/* Sigmoid without overflow: exp of a non-positive number only. */
static inline double sigmoid(double x)
{
    double e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

DEF_UN(sqrt_f32, float, sqrtf(x))
DEF_UN(sqrt_f64, double, sqrt(x))
DEF_UN(recip_f32, float, 1.0f / x)
DEF_UN(recip_f64, double, 1.0 / x)
DEF_UN(exp_f32, float, expf(x))
DEF_UN(exp_f64, double, exp(x))
DEF_UN(log_f32, float, logf(x))
DEF_UN(log_f64, double, log(x))
DEF_UN(erf_f32, float, c_erf_f32(x))
DEF_UN(erf_f64, double, erf(x))
DEF_UN(tanh_f32, float, tanhf(x))
DEF_UN(tanh_f64, double, tanh(x))
DEF_UN(sigmoid_f32, float, c_sigmoid_f32(x))
DEF_UN(sigmoid_f64, double, sigmoid(x))
DEF_UN(neg_f32, float, -x)
DEF_UN(neg_f64, double, -x)
DEF_UN(abs_f32, float, fabsf(x))
DEF_UN(abs_f64, double, fabs(x))
DEF_UN(relu_f32, float, x < 0 ? 0 : x) /* NaN stays NaN */
DEF_UN(relu_f64, double, x < 0 ? 0 : x)

#define UN_SINT(E, S, T)                                          \
    DEF_UN(neg_##S, T, 0 - (uint64_t)x)                           \
    DEF_UN(abs_##S, T, x < 0 ? 0 - (uint64_t)x : (uint64_t)x)     \
    DEF_UN(relu_##S, T, x < 0 ? 0 : x)
#define UN_UINT(E, S, T) DEF_UN(abs_##S, T, x)
C_TYPES_SINT(UN_SINT)
C_TYPES_UINT(UN_UINT)

enum { U_SQRT, U_RECIP, U_EXP, U_LOG, U_NEG, U_ABS, U_ERF, U_TANH, U_SIGMOID, U_RELU, N_UN_OPS };

#define FLOATS(OP) [DC_F32] = OP##_f32, [DC_F64] = OP##_f64
#define ROW_NEG(E, S, T) [E] = neg_##S,
#define ROW_ABS(E, S, T) [E] = abs_##S,
#define ROW_RELU(E, S, T) [E] = relu_##S,
static const un_fn un_table[N_UN_OPS][DC_DTYPE_COUNT] = {
    [U_SQRT] = {FLOATS(sqrt)},
    [U_RECIP] = {FLOATS(recip)},
    [U_EXP] = {FLOATS(exp)},
    [U_LOG] = {FLOATS(log)},
    [U_ERF] = {FLOATS(erf)},
    [U_TANH] = {FLOATS(tanh)},
    [U_SIGMOID] = {FLOATS(sigmoid)},
    [U_NEG] = {FLOATS(neg), C_TYPES_SINT(ROW_NEG)},
    [U_ABS] = {FLOATS(abs), C_TYPES_INT(ROW_ABS)},
    [U_RELU] = {FLOATS(relu), C_TYPES_SINT(ROW_RELU)},
};

typedef struct unary_state {
    un_fn fn;
    int64_t n;
    size_t es;
    const char *x;
    char *y;
} unary_state;

static dc_status unary_setup(const dc_kernel_args *a, int op, void *state)
{
    unary_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    st->fn = (unsigned)X->dtype < DC_DTYPE_COUNT ? un_table[op][X->dtype] : NULL;
    if (!st->fn)
        return dc_error(DC_ERR_UNSUPPORTED, "input of element type %s is not supported",
                        dc_dtype_name(X->dtype));
    if (Y->dtype != X->dtype || !c_same_shape(X, Y))
        return dc_error(DC_ERR_SHAPE, "output %s differs from input %s", C_TYPE_STR(Y),
                        C_TYPE_STR(X));
    st->n = c_numel(X);
    st->es = dc_dtype_size(X->dtype);
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static dc_status unary_run(void *state)
{
    unary_state *st = state;
    enum { CHUNK = 1 << 14 };
    int64_t chunks = (st->n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (st->n > C_PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t at = c * CHUNK, n = st->n - at < CHUNK ? st->n - at : CHUNK;
        st->fn(n, st->x + at * (int64_t)st->es, st->y + at * (int64_t)st->es);
    }
    return DC_OK;
}

#define UNARY_KERNEL(OP, V) \
    C_KERNEL(OP, .state_size = sizeof(unary_state), .setup = unary_setup, .run = unary_run, \
             .variant = V, .half_via_f32 = 1)
UNARY_KERNEL(Sqrt, U_SQRT);
UNARY_KERNEL(Reciprocal, U_RECIP);
UNARY_KERNEL(Exp, U_EXP);
UNARY_KERNEL(Log, U_LOG);
UNARY_KERNEL(Neg, U_NEG);
UNARY_KERNEL(Abs, U_ABS);
UNARY_KERNEL(Erf, U_ERF);
UNARY_KERNEL(Tanh, U_TANH);
UNARY_KERNEL(Sigmoid, U_SIGMOID);
UNARY_KERNEL(Relu, U_RELU);
