/* Helpers shared by the reference kernels: element access by value (double or
 * int64, rounding to the tensor's type on the way in), a strided N-d iterator,
 * numpy broadcasting, integer lists from attributes or input tensors, and
 * output allocation. Written once here so each kernel is a plain loop.
 *
 * Attribute access reuses the checked getters of ops/infer_util.h (a wrong
 * attribute kind is an error, absent = default). */
#ifndef DC_REF_UTIL_H
#define DC_REF_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/infer_util.h"
#include "reference/reference.h"

/* ---- elements ----------------------------------------------------------------- */

/* How a kernel computes on an element type. */
typedef enum ref_kind {
    REF_FLOAT,    /* f16, bf16, f32, f64: math in double */
    REF_SIGNED,   /* i8..i64: exact int64 math, wrapping */
    REF_UNSIGNED, /* u8..u64: exact math on the bit pattern in an int64 */
    REF_BOOL,
    REF_NONE,     /* string, complex, undefined: no reference kernel handles them */
} ref_kind;

ref_kind ref_kind_of(dc_dtype t);

/* Element i as a double (exact for every type but 64-bit integers past 2^53). */
double ref_get(const dc_tensor *t, int64_t i);
/* Element i as an int64: integers and bool exactly (u64 as its bit pattern),
 * floats truncated toward zero (saturating, NaN -> 0). */
int64_t ref_get_int(const dc_tensor *t, int64_t i);
/* Stores v rounded to t's type: floats to nearest, integers truncated toward
 * zero and saturated to int64 then wrapped to the width (NaN -> 0), bool v != 0. */
void ref_set(dc_tensor *t, int64_t i, double v);
/* Stores an exact integer: wrapped to an integer type's width, converted to a
 * float type, v != 0 for bool. */
void ref_set_int(dc_tensor *t, int64_t i, int64_t v);
/* Copies element si of src to element di of dst (same element type). */
void ref_copy_elem(dc_tensor *dst, int64_t di, const dc_tensor *src, int64_t si);

/* a < b for two integers of type t (u64 compares as unsigned). */
bool ref_int_less(dc_dtype t, int64_t a, int64_t b);
/* Integer division truncating toward zero, in t's signedness; false for b == 0. */
bool ref_int_div(dc_dtype t, int64_t a, int64_t b, int64_t *q);

/* Error unless t's element type is one of the kinds in `kinds` (a bit set of
 * 1 << ref_kind): "Sqrt: input X has element type int64, expected a float type". */
dc_status ref_need_kind(const dc_node *n, const dc_tensor *t, const char *what, unsigned kinds);
#define REF_KINDS_FLOAT (1u << REF_FLOAT)
#define REF_KINDS_INT ((1u << REF_SIGNED) | (1u << REF_UNSIGNED))
#define REF_KINDS_NUMBER (REF_KINDS_FLOAT | REF_KINDS_INT)
#define REF_KINDS_ANY (REF_KINDS_NUMBER | (1u << REF_BOOL))

/* Error unless a and b have the same element type. */
dc_status ref_same_dtype(const dc_node *n, const dc_tensor *a, const dc_tensor *b);

/* ---- shapes ------------------------------------------------------------------- */

/* Row-major strides (in elements) of a shape. */
void ref_strides(int rank, const int64_t *dims, int64_t *strides);
/* Product of dims[lo..hi). */
int64_t ref_span(const int64_t *dims, int lo, int hi);

/* Numpy broadcast of the shapes of n tensors (NULL entries skipped) into
 * rank/dims; an error names the shapes. */
dc_status ref_broadcast_shape(const dc_node *node, dc_tensor *const *ts, int n, int *rank,
                              int64_t *dims);
/* Strides that read `in` for every index of an output of rank `out_rank`: in's
 * axis j sits at output axis j + offset (numpy: offset = out_rank - in->rank);
 * output axes in does not have, and its size-1 axes, get stride 0. */
void ref_broadcast_strides(const dc_tensor *in, int out_rank, int offset, int64_t *strides);

/* ---- the strided N-d iterator --------------------------------------------------
 *
 *     ref_iter it;
 *     ref_iter_init(&it, y->rank, y->dims);
 *     int iy = ref_iter_add(&it, 0, y_strides), ix = ref_iter_add(&it, 0, x_strides);
 *     for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it))
 *         y[it.offset[iy]] = x[it.offset[ix]];
 *
 * walks every index of `dims` in row-major order, keeping for each operand the
 * element offset base + sum(index[k] * strides[k]). An empty shape has no
 * index; rank 0 has one. */
enum { REF_ITER_MAX_OPERANDS = 4 };

typedef struct ref_iter {
    int rank;
    int64_t dims[DC_MAX_RANK];
    int64_t index[DC_MAX_RANK];
    int n_operands;
    int64_t base[REF_ITER_MAX_OPERANDS];
    int64_t strides[REF_ITER_MAX_OPERANDS][DC_MAX_RANK];
    int64_t offset[REF_ITER_MAX_OPERANDS];
} ref_iter;

void ref_iter_init(ref_iter *it, int rank, const int64_t *dims);
/* Adds an operand; returns its slot in it->offset. */
int ref_iter_add(ref_iter *it, int64_t base, const int64_t *strides);
/* Positions at the first index; false when the shape is empty. */
bool ref_iter_begin(ref_iter *it);
/* Advances to the next index; false after the last. */
bool ref_iter_next(ref_iter *it);

/* Splits the index space of a tensor of shape dims (strides: row-major) by
 * `mask`: `outer` walks the axes not in mask (the others held at 0), `inner`
 * the axes in mask; operand 0 of both is the element offset. Before each
 * ref_iter_begin(inner), set inner->base[0] = outer->offset[0]. Reductions,
 * softmax and normalisation are two nested loops over these. */
void ref_split_iters(int rank, const int64_t *dims, const bool *mask, ref_iter *outer,
                     ref_iter *inner);

/* ---- integer lists --------------------------------------------------------------- */

/* Up to DC_MAX_RANK * 2 + 2 values: enough for axes, shapes, pads and sizes. */
enum { REF_LIST_MAX = 2 * DC_MAX_RANK + 2 };

typedef struct ref_list {
    bool present;
    int n;
    int64_t v[REF_LIST_MAX];
} ref_list;

/* The INTS attribute `name` (absent: present = false). */
dc_status ref_list_attr(const dc_node *n, const char *name, ref_list *out);
/* A 0-D/1-D integer input tensor (NULL: present = false); `what` names it. */
dc_status ref_list_input(const dc_node *n, const dc_tensor *t, const char *what, ref_list *out);

/* Normalises axis to [0, rank) ("axis 3 out of range for rank 2"). */
dc_status ref_axis(const dc_node *n, int64_t axis, int rank, int *out);
/* Marks the axes of a list in mask (cleared first); repeats are errors. */
dc_status ref_axes_mask(const dc_node *n, const ref_list *axes, int rank, bool *mask);

/* ---- outputs ------------------------------------------------------------------- */

/* outputs[i] = a new zero-filled tensor (named after the node's output value). */
dc_status ref_new_output(const dc_node *n, dc_tensor **outputs, int i, dc_dtype dtype, int rank,
                         const int64_t *dims);
/* outputs[i] = a copy of x's elements with another shape (same count). */
dc_status ref_new_view(const dc_node *n, dc_tensor **outputs, int i, const dc_tensor *x, int rank,
                       const int64_t *dims);
/* Whether the node wants output i (it exists and is not omitted). */
bool ref_wants_output(const dc_node *n, int i);

/* "[2,3,4]" in a rotating thread-local buffer, for messages. */
const char *ref_shape_str(int rank, const int64_t *dims);

#endif
