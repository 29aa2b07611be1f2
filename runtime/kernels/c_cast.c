/* Cast between every numeric type and bool.
 *
 *   X[...] of any of f32 f64 f16 bf16 bool i8..i64 u8..u64
 *   -> Y[same shape] of type `to`
 *
 * Floats to integers truncate toward zero; NaN and out-of-range values follow
 * x86 (C_F64_TO_INT in c_util.h), as numpy does there. Anything to
 * bool is x != 0 (NaN is true). f16/bf16 round to nearest even, through f32. */
#include "c_util.h"

typedef void (*cast_fn)(const void *src, void *dst, int64_t n);

/* Reading an element as a C number. */
#define LD_ID(x) (x)
#define LD_F16(x) dc_f16_to_f32(x)
#define LD_BF16(x) dc_bf16_to_f32(x)
#define LD_BOOL(x) ((uint8_t)((x) != 0))
/* Storing a C number `v` as an element of type T. */
#define ST_FLOAT(T, v) ((T)(v))
#define ST_F16(T, v) dc_f32_to_f16((float)(v))
#define ST_BF16(T, v) dc_f32_to_bf16((float)(v))
#define ST_BOOL(T, v) ((uint8_t)((v) != 0))
#define ST_SINT(T, v) \
    _Generic((v), float: C_F64_TO_INT(T, v), double: C_F64_TO_INT(T, v), default: (T)(v))
#define ST_UINT ST_SINT

/* X(..., ENUM, suffix, storage type, load, store): the same list twice, so
 * that one can be expanded inside the other. */
#define CAST_TYPES_SRC(X)                                                                \
    X(DC_F32, f32, float, LD_ID, ST_FLOAT) X(DC_F64, f64, double, LD_ID, ST_FLOAT)       \
    X(DC_F16, f16, uint16_t, LD_F16, ST_F16) X(DC_BF16, bf16, uint16_t, LD_BF16, ST_BF16) \
    X(DC_BOOL, bool, uint8_t, LD_BOOL, ST_BOOL)                                           \
    X(DC_I8, i8, int8_t, LD_ID, ST_SINT) X(DC_I16, i16, int16_t, LD_ID, ST_SINT)          \
    X(DC_I32, i32, int32_t, LD_ID, ST_SINT) X(DC_I64, i64, int64_t, LD_ID, ST_SINT)       \
    X(DC_U8, u8, uint8_t, LD_ID, ST_UINT) X(DC_U16, u16, uint16_t, LD_ID, ST_UINT)        \
    X(DC_U32, u32, uint32_t, LD_ID, ST_UINT) X(DC_U64, u64, uint64_t, LD_ID, ST_UINT)
#define CAST_TYPES_DST(X, ...)                                                                     \
    X(__VA_ARGS__, DC_F32, f32, float, LD_ID, ST_FLOAT) X(__VA_ARGS__, DC_F64, f64, double, LD_ID, ST_FLOAT) \
    X(__VA_ARGS__, DC_F16, f16, uint16_t, LD_F16, ST_F16)                                          \
    X(__VA_ARGS__, DC_BF16, bf16, uint16_t, LD_BF16, ST_BF16)                                      \
    X(__VA_ARGS__, DC_BOOL, bool, uint8_t, LD_BOOL, ST_BOOL)                                       \
    X(__VA_ARGS__, DC_I8, i8, int8_t, LD_ID, ST_SINT) X(__VA_ARGS__, DC_I16, i16, int16_t, LD_ID, ST_SINT) \
    X(__VA_ARGS__, DC_I32, i32, int32_t, LD_ID, ST_SINT) X(__VA_ARGS__, DC_I64, i64, int64_t, LD_ID, ST_SINT) \
    X(__VA_ARGS__, DC_U8, u8, uint8_t, LD_ID, ST_UINT) X(__VA_ARGS__, DC_U16, u16, uint16_t, LD_ID, ST_UINT) \
    X(__VA_ARGS__, DC_U32, u32, uint32_t, LD_ID, ST_UINT) X(__VA_ARGS__, DC_U64, u64, uint64_t, LD_ID, ST_UINT)

#define DEF_CAST(SE, SS, STY, SLD, SST, DE, DS, DTY, DLD, DST)         \
    static void cast_##SS##_##DS(const void *s_, void *d_, int64_t n)  \
    {                                                                  \
        const STY *restrict s = s_;                                    \
        DTY *restrict d = d_;                                          \
        for (int64_t i = 0; i < n; i++)                                \
            d[i] = DST(DTY, SLD(s[i]));                                \
    }
#define DEF_CASTS_FROM(SE, SS, STY, SLD, SST) CAST_TYPES_DST(DEF_CAST, SE, SS, STY, SLD, SST)
CAST_TYPES_SRC(DEF_CASTS_FROM)

#define CAST_ENTRY(SE, SS, STY, SLD, SST, DE, DS, DTY, DLD, DST) [SE][DE] = cast_##SS##_##DS,
#define CAST_ENTRIES_FROM(SE, SS, STY, SLD, SST) CAST_TYPES_DST(CAST_ENTRY, SE, SS, STY, SLD, SST)
static const cast_fn cast_table[DC_DTYPE_COUNT][DC_DTYPE_COUNT] = {CAST_TYPES_SRC(CAST_ENTRIES_FROM)};

typedef struct cast_state {
    cast_fn fn;
    int64_t n;
    size_t es, ed;
    const char *x;
    char *y;
} cast_state;

static dc_status cast_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    cast_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    int64_t to = dc_step_int(a->step, "to", Y->dtype);
    if (to != Y->dtype)
        return dc_error(DC_ERR_SHAPE, "'to' is %lld but the output is %s", (long long)to,
                        dc_dtype_name(Y->dtype));
    st->fn = (unsigned)X->dtype < DC_DTYPE_COUNT && (unsigned)Y->dtype < DC_DTYPE_COUNT
                 ? cast_table[X->dtype][Y->dtype]
                 : NULL;
    if (!st->fn)
        return dc_error(DC_ERR_UNSUPPORTED, "Cast from %s to %s", dc_dtype_name(X->dtype),
                        dc_dtype_name(Y->dtype));
    if (!c_same_shape(X, Y))
        return dc_error(DC_ERR_SHAPE, "output %s differs in shape from input %s", C_TYPE_STR(Y),
                        C_TYPE_STR(X));
    st->n = c_numel(X);
    st->es = dc_dtype_size(X->dtype);
    st->ed = dc_dtype_size(Y->dtype);
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    if (st->x && c_overlaps(st->x, X->nbytes, st->y, Y->nbytes) && (st->x != st->y || st->es != st->ed))
        return dc_error(DC_ERR_INVALID, "output overlaps the input (in place only between same-size types)");
    return DC_OK;
}

static dc_status cast_run(void *state)
{
    cast_state *st = state;
    enum { CHUNK = 1 << 14 };
    int64_t chunks = (st->n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (st->n > C_PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t at = c * CHUNK, n = st->n - at < CHUNK ? st->n - at : CHUNK;
        st->fn(st->x + at * (int64_t)st->es, st->y + at * (int64_t)st->ed, n);
    }
    return DC_OK;
}

C_KERNEL(Cast, .state_size = sizeof(cast_state), .setup = cast_setup, .run = cast_run);
