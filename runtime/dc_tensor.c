#include "dc_tensor.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

dc_status dc_shape_numel(int rank, const int64_t *dims, dc_dtype dtype, uint64_t *numel)
{
    if (rank < 0 || rank > DC_MAX_RANK)
        return dc_error(DC_ERR_INVALID, "rank %d outside 0..%d", rank, DC_MAX_RANK);
    uint64_t elem = dc_dtype_size(dtype) ? dc_dtype_size(dtype) : 1;
    uint64_t limit = DC_TENSOR_MAX_BYTES / elem;
    /* The nonzero dims are bounded even when another dim is 0: kernels
     * multiply parts of a shape ([0, 2^62, 2^62] holds no element, but its
     * spatial size overflows). */
    uint64_t nonzero = 1;
    bool empty = false;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return dc_error(DC_ERR_INVALID, "negative dimension %lld at axis %d",
                            (long long)dims[i], i);
        if (dims[i] == 0) {
            empty = true;
            continue;
        }
        if ((uint64_t)dims[i] > limit / nonzero)
            return dc_error(DC_ERR_NOMEM, "tensor of more than %llu elements (limit %llu GiB)",
                            (unsigned long long)limit,
                            (unsigned long long)(DC_TENSOR_MAX_BYTES >> 30));
        nonzero *= (uint64_t)dims[i];
    }
    *numel = empty ? 0 : nonzero;
    return DC_OK;
}

dc_status dc_tensor_create(dc_tensor **out, const char *name, dc_dtype dtype, int rank,
                           const int64_t *dims)
{
    *out = NULL;
    if (!dc_dtype_valid(dtype) || dc_dtype_size(dtype) == 0)
        return dc_error(DC_ERR_UNSUPPORTED, "tensor of element type %s", dc_dtype_name(dtype));
    uint64_t numel;
    DC_TRY(dc_shape_numel(rank, dims, dtype, &numel));
    dc_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return dc_error(DC_ERR_NOMEM, "tensor header");
    t->dtype = dtype;
    t->rank = rank;
    if (rank > 0)
        memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->nbytes = (size_t)numel * dc_dtype_size(dtype);
    /* calloc(0) may return NULL; always keep a valid pointer. */
    t->data = calloc(t->nbytes ? t->nbytes : 1, 1);
    t->name = name ? strdup(name) : NULL;
    if (!t->data || (name && !t->name)) {
        dc_tensor_destroy(t);
        return dc_error(DC_ERR_NOMEM, "tensor of %zu bytes", (size_t)numel * dc_dtype_size(dtype));
    }
    *out = t;
    return DC_OK;
}

dc_status dc_tensor_clone(dc_tensor **out, const dc_tensor *src)
{
    DC_TRY(dc_tensor_create(out, src->name, src->dtype, src->rank, src->dims));
    memcpy((*out)->data, src->data, src->nbytes);
    return DC_OK;
}

void dc_tensor_destroy(dc_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t->name);
    free(t);
}

uint64_t dc_tensor_numel(const dc_tensor *t)
{
    uint64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (uint64_t)t->dims[i];
    return n;
}

bool dc_tensor_same_type(const dc_tensor *a, const dc_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

double dc_tensor_get_f64(const dc_tensor *t, uint64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case DC_F32: return ((const float *)p)[i];
    case DC_F64: return ((const double *)p)[i];
    case DC_F16: return dc_f16_to_f32(((const uint16_t *)p)[i]);
    case DC_BF16: return dc_bf16_to_f32(((const uint16_t *)p)[i]);
    case DC_U8: return ((const uint8_t *)p)[i];
    case DC_I8: return ((const int8_t *)p)[i];
    case DC_U16: return ((const uint16_t *)p)[i];
    case DC_I16: return ((const int16_t *)p)[i];
    case DC_I32: return ((const int32_t *)p)[i];
    case DC_I64: return (double)((const int64_t *)p)[i];
    case DC_U32: return ((const uint32_t *)p)[i];
    case DC_U64: return (double)((const uint64_t *)p)[i];
    case DC_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return NAN;
    }
}

int64_t dc_tensor_get_i64(const dc_tensor *t, uint64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case DC_I64: return ((const int64_t *)p)[i];
    case DC_I32: return ((const int32_t *)p)[i];
    case DC_U64: return (int64_t)((const uint64_t *)p)[i];
    case DC_U32: return ((const uint32_t *)p)[i];
    case DC_I16: return ((const int16_t *)p)[i];
    case DC_U16: return ((const uint16_t *)p)[i];
    case DC_I8: return ((const int8_t *)p)[i];
    case DC_U8: case DC_BOOL: return ((const uint8_t *)p)[i];
    default: {
        /* Saturate: converting an out-of-range double is undefined behaviour. */
        double d = dc_tensor_get_f64(t, i);
        if (!(d == d))
            return 0;
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    }
}

float dc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t dc_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t abs = x & 0x7fffffff;
    if (abs > 0x7f800000) /* NaN: keep it quiet */
        return (uint16_t)(sign | 0x7e00);
    if (abs >= 0x477ff000) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (abs < 0x38800000) { /* below the smallest normal half: subnormal or zero */
        float v;
        memcpy(&v, &abs, sizeof v);
        /* 2^-24 is one half-subnormal unit; rint rounds half to even. */
        return (uint16_t)(sign | (uint32_t)rintf(v * 16777216.0f));
    }
    uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
    return (uint16_t)(sign | ((rounded - 0x38000000) >> 13));
}

float dc_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t dc_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
