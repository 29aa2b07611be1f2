#include "dc_dtype.h"

static const struct {
    size_t size;
    const char *name;
    const char *short_name;
} dtype_table[DC_DTYPE_COUNT] = {
    [DC_UNDEFINED] = {0, "undefined", "?"},
    [DC_F32] = {4, "float32", "f32"},
    [DC_U8] = {1, "uint8", "u8"},
    [DC_I8] = {1, "int8", "i8"},
    [DC_U16] = {2, "uint16", "u16"},
    [DC_I16] = {2, "int16", "i16"},
    [DC_I32] = {4, "int32", "i32"},
    [DC_I64] = {8, "int64", "i64"},
    [DC_STRING] = {0, "string", "str"},
    [DC_BOOL] = {1, "bool", "bool"},
    [DC_F16] = {2, "float16", "f16"},
    [DC_F64] = {8, "float64", "f64"},
    [DC_U32] = {4, "uint32", "u32"},
    [DC_U64] = {8, "uint64", "u64"},
    [DC_C64] = {8, "complex64", "c64"},
    [DC_C128] = {16, "complex128", "c128"},
    [DC_BF16] = {2, "bfloat16", "bf16"},
};

bool dc_dtype_valid(int t) { return t > DC_UNDEFINED && t < DC_DTYPE_COUNT; }

size_t dc_dtype_size(dc_dtype t) { return dc_dtype_valid(t) ? dtype_table[t].size : 0; }

const char *dc_dtype_name(dc_dtype t) { return dc_dtype_valid(t) ? dtype_table[t].name : "?"; }

const char *dc_dtype_short_name(dc_dtype t)
{
    return dc_dtype_valid(t) ? dtype_table[t].short_name : "?";
}

bool dc_dtype_is_float(dc_dtype t)
{
    return t == DC_F16 || t == DC_BF16 || t == DC_F32 || t == DC_F64;
}

bool dc_dtype_is_integer(dc_dtype t)
{
    switch (t) {
    case DC_U8: case DC_I8: case DC_U16: case DC_I16:
    case DC_I32: case DC_I64: case DC_U32: case DC_U64:
        return true;
    default:
        return false;
    }
}
