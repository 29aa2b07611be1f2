/* Element types. The numbering is ONNX's TensorProto.DataType, so a value read
 * from a model maps one-to-one and prints with the same name. */
#ifndef DC_DTYPE_H
#define DC_DTYPE_H

#include <stddef.h>
#include <stdbool.h>

typedef enum dc_dtype {
    DC_UNDEFINED = 0,
    DC_F32 = 1,
    DC_U8 = 2,
    DC_I8 = 3,
    DC_U16 = 4,
    DC_I16 = 5,
    DC_I32 = 6,
    DC_I64 = 7,
    DC_STRING = 8,
    DC_BOOL = 9,
    DC_F16 = 10,
    DC_F64 = 11,
    DC_U32 = 12,
    DC_U64 = 13,
    DC_C64 = 14,
    DC_C128 = 15,
    DC_BF16 = 16,
} dc_dtype;

enum { DC_DTYPE_COUNT = 17 };

/* Bytes per element; 0 for UNDEFINED, STRING and numbers outside the enum. */
size_t dc_dtype_size(dc_dtype t);
/* ONNX-style lower-case name ("float32", "int64", "bool", ...); "?" if unknown. */
const char *dc_dtype_name(dc_dtype t);
/* Short name used in IR text ("f32", "i64", "bool", ...). */
const char *dc_dtype_short_name(dc_dtype t);
/* True for a number inside the enum other than UNDEFINED. */
bool dc_dtype_valid(int t);
bool dc_dtype_is_float(dc_dtype t);   /* f16, bf16, f32, f64 */
bool dc_dtype_is_integer(dc_dtype t); /* signed and unsigned integers, not bool */

#endif
