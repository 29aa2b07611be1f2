/* A dense tensor: element type, static shape and row-major data.
 * Used for initializers in the IR, for inputs/outputs of the runtime and for
 * tensor files (.pb, .npy). The tensor owns its data (freed by dc_tensor_destroy). */
#ifndef DC_TENSOR_H
#define DC_TENSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "dc_dtype.h"
#include "dc_status.h"

enum { DC_MAX_RANK = 8 };

/* Refuse tensors above this many bytes: a file claiming 2^40 elements is an
 * error, not an allocation attempt. 16 GiB is far above any model dinoc trains. */
#define DC_TENSOR_MAX_BYTES ((uint64_t)16 << 30)

typedef struct dc_tensor {
    char *name;       /* may be NULL */
    dc_dtype dtype;
    int rank;
    int64_t dims[DC_MAX_RANK];
    void *data;       /* numel * dc_dtype_size(dtype) bytes, row-major */
    size_t nbytes;
} dc_tensor;

/* Element count of a shape, with overflow and negative-dim checks.
 * Returns DC_ERR_INVALID for a negative dim, DC_ERR_NOMEM past DC_TENSOR_MAX_BYTES
 * bytes of `dtype` (pass DC_U8 to check elements only). */
dc_status dc_shape_numel(int rank, const int64_t *dims, dc_dtype dtype, uint64_t *numel);

/* Allocates a zero-filled tensor; name is copied (may be NULL). */
dc_status dc_tensor_create(dc_tensor **out, const char *name, dc_dtype dtype, int rank,
                           const int64_t *dims);
dc_status dc_tensor_clone(dc_tensor **out, const dc_tensor *src);
void dc_tensor_destroy(dc_tensor *t);
uint64_t dc_tensor_numel(const dc_tensor *t);
/* Same element type and dims (a checkpoint's tensor against a parameter). */
bool dc_tensor_same_type(const dc_tensor *a, const dc_tensor *b);

/* Element i converted to double / int64 (for printing, shape data and tests);
 * the int64 conversion saturates and maps NaN to 0. */
double dc_tensor_get_f64(const dc_tensor *t, uint64_t i);
int64_t dc_tensor_get_i64(const dc_tensor *t, uint64_t i);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float dc_f16_to_f32(uint16_t h);
uint16_t dc_f32_to_f16(float f);
float dc_bf16_to_f32(uint16_t b);
uint16_t dc_f32_to_bf16(float f);

#endif
