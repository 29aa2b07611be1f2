/* Shared helpers of the reference kernels; see ref_util.h. */
#include "reference/ref_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- elements ----------------------------------------------------------------- */

ref_kind ref_kind_of(dc_dtype t)
{
    switch (t) {
    case DC_F16: case DC_BF16: case DC_F32: case DC_F64: return REF_FLOAT;
    case DC_I8: case DC_I16: case DC_I32: case DC_I64: return REF_SIGNED;
    case DC_U8: case DC_U16: case DC_U32: case DC_U64: return REF_UNSIGNED;
    case DC_BOOL: return REF_BOOL;
    default: return REF_NONE;
    }
}

double ref_get(const dc_tensor *t, int64_t i)
{
    return dc_tensor_get_f64(t, (uint64_t)i);
}

/* v truncated toward zero into int64, saturating; NaN -> 0. */
static int64_t double_to_int64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 0x1p63)
        return INT64_MAX;
    if (v <= -0x1p63)
        return INT64_MIN;
    return (int64_t)v;
}

int64_t ref_get_int(const dc_tensor *t, int64_t i)
{
    if (ref_kind_of(t->dtype) == REF_FLOAT)
        return double_to_int64(ref_get(t, i));
    return dc_tensor_get_i64(t, (uint64_t)i);
}

/* v rounded to float; out-of-range values become infinities (a plain cast
 * would be undefined behaviour). */
static float double_to_float(double v)
{
    if (v >= 0x1.ffffffp127)
        return INFINITY;
    if (v <= -0x1.ffffffp127)
        return -INFINITY;
    return (float)v;
}

void ref_set(dc_tensor *t, int64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case DC_F32: ((float *)p)[i] = double_to_float(v); return;
    case DC_F64: ((double *)p)[i] = v; return;
    case DC_F16: ((uint16_t *)p)[i] = dc_f32_to_f16(double_to_float(v)); return;
    case DC_BF16: ((uint16_t *)p)[i] = dc_f32_to_bf16(double_to_float(v)); return;
    case DC_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    case DC_U64:
        /* The upper half of u64 does not fit int64: convert it directly. */
        if (v >= 0x1p63 && v < 0x1p64) {
            ((uint64_t *)p)[i] = (uint64_t)v;
            return;
        }
        if (v >= 0x1p64) {
            ((uint64_t *)p)[i] = UINT64_MAX;
            return;
        }
        ref_set_int(t, i, double_to_int64(v));
        return;
    default: ref_set_int(t, i, double_to_int64(v)); return;
    }
}

void ref_set_int(dc_tensor *t, int64_t i, int64_t v)
{
    void *p = t->data;
    switch (t->dtype) {
    case DC_I64: ((int64_t *)p)[i] = v; return;
    case DC_U64: ((uint64_t *)p)[i] = (uint64_t)v; return;
    case DC_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(uint64_t)v; return;
    case DC_U32: ((uint32_t *)p)[i] = (uint32_t)(uint64_t)v; return;
    case DC_I16: ((int16_t *)p)[i] = (int16_t)(uint16_t)(uint64_t)v; return;
    case DC_U16: ((uint16_t *)p)[i] = (uint16_t)(uint64_t)v; return;
    case DC_I8: ((int8_t *)p)[i] = (int8_t)(uint8_t)(uint64_t)v; return;
    case DC_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; return;
    case DC_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    default: ref_set(t, i, (double)v); return; /* float types */
    }
}

void ref_copy_elem(dc_tensor *dst, int64_t di, const dc_tensor *src, int64_t si)
{
    size_t size = dc_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)di * size, (const char *)src->data + (size_t)si * size, size);
}

bool ref_int_less(dc_dtype t, int64_t a, int64_t b)
{
    return t == DC_U64 ? (uint64_t)a < (uint64_t)b : a < b;
}

bool ref_int_div(dc_dtype t, int64_t a, int64_t b, int64_t *q)
{
    if (b == 0)
        return false;
    if (t == DC_U64)
        *q = (int64_t)((uint64_t)a / (uint64_t)b);
    else if (b == -1)
        *q = (int64_t)(0 - (uint64_t)a); /* INT64_MIN / -1 wraps instead of trapping */
    else
        *q = a / b;
    return true;
}

dc_status ref_need_kind(const dc_node *n, const dc_tensor *t, const char *what, unsigned kinds)
{
    if (kinds & (1u << ref_kind_of(t->dtype)))
        return DC_OK;
    const char *expected = kinds == REF_KINDS_FLOAT ? "a float type"
                           : kinds == REF_KINDS_INT ? "an integer type"
                           : kinds == REF_KINDS_NUMBER ? "a numeric type"
                                                       : "a numeric or bool type";
    return dc_error(DC_ERR_UNSUPPORTED, "%s: %s has element type %s, expected %s", n->op_type,
                    what, dc_dtype_name(t->dtype), expected);
}

dc_status ref_same_dtype(const dc_node *n, const dc_tensor *a, const dc_tensor *b)
{
    if (a->dtype != b->dtype)
        return dc_error(DC_ERR_SHAPE, "%s: input element types differ: %s vs %s", n->op_type,
                        dc_dtype_name(a->dtype), dc_dtype_name(b->dtype));
    return DC_OK;
}

/* ---- shapes ------------------------------------------------------------------- */

void ref_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int k = rank - 1; k >= 0; k--) {
        strides[k] = s;
        s *= dims[k];
    }
}

int64_t ref_span(const int64_t *dims, int lo, int hi)
{
    int64_t p = 1;
    for (int k = lo; k < hi; k++)
        p *= dims[k];
    return p;
}

const char *ref_shape_str(int rank, const int64_t *dims)
{
    static _Thread_local char buf[4][160];
    static _Thread_local int next;
    char *b = buf[next++ & 3];
    size_t len = 0;
    len += (size_t)snprintf(b, sizeof buf[0], "[");
    for (int k = 0; k < rank && len < sizeof buf[0]; k++)
        len += (size_t)snprintf(b + len, sizeof buf[0] - len, "%s%" PRId64, k ? "," : "", dims[k]);
    if (len < sizeof buf[0])
        snprintf(b + len, sizeof buf[0] - len, "]");
    return b;
}

dc_status ref_broadcast_shape(const dc_node *node, dc_tensor *const *ts, int n, int *rank,
                              int64_t *dims)
{
    int r = 0;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->rank > r)
            r = ts[i]->rank;
    for (int k = 0; k < r; k++)
        dims[k] = 1;
    for (int i = 0; i < n; i++) {
        const dc_tensor *t = ts[i];
        if (!t)
            continue;
        for (int j = 0; j < t->rank; j++) {
            int64_t *d = &dims[j + r - t->rank];
            if (t->dims[j] == *d || t->dims[j] == 1)
                continue;
            if (*d != 1)
                return dc_error(DC_ERR_SHAPE, "%s: input %d of shape %s does not broadcast with %s",
                                node->op_type, i, ref_shape_str(t->rank, t->dims),
                                ref_shape_str(r, dims));
            *d = t->dims[j];
        }
    }
    *rank = r;
    return DC_OK;
}

void ref_broadcast_strides(const dc_tensor *in, int out_rank, int offset, int64_t *strides)
{
    int64_t own[DC_MAX_RANK];
    ref_strides(in->rank, in->dims, own);
    for (int k = 0; k < out_rank; k++) {
        int j = k - offset;
        strides[k] = j >= 0 && j < in->rank && in->dims[j] != 1 ? own[j] : 0;
    }
}

/* ---- the iterator --------------------------------------------------------------- */

void ref_iter_init(ref_iter *it, int rank, const int64_t *dims)
{
    memset(it, 0, sizeof *it);
    it->rank = rank;
    memcpy(it->dims, dims, (size_t)rank * sizeof *dims);
}

int ref_iter_add(ref_iter *it, int64_t base, const int64_t *strides)
{
    int k = it->n_operands++;
    it->base[k] = base;
    memcpy(it->strides[k], strides, (size_t)it->rank * sizeof *strides);
    return k;
}

bool ref_iter_begin(ref_iter *it)
{
    for (int d = 0; d < it->rank; d++) {
        it->index[d] = 0;
        if (it->dims[d] == 0)
            return false;
    }
    for (int k = 0; k < it->n_operands; k++)
        it->offset[k] = it->base[k];
    return true;
}

bool ref_iter_next(ref_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        if (++it->index[d] < it->dims[d]) {
            for (int k = 0; k < it->n_operands; k++)
                it->offset[k] += it->strides[k][d];
            return true;
        }
        /* Wrap this axis to 0 and carry into the next outer one. */
        for (int k = 0; k < it->n_operands; k++)
            it->offset[k] -= (it->dims[d] - 1) * it->strides[k][d];
        it->index[d] = 0;
    }
    return false;
}

void ref_split_iters(int rank, const int64_t *dims, const bool *mask, ref_iter *outer,
                     ref_iter *inner)
{
    int64_t strides[DC_MAX_RANK], outer_dims[DC_MAX_RANK], inner_dims[DC_MAX_RANK];
    ref_strides(rank, dims, strides);
    for (int k = 0; k < rank; k++) {
        outer_dims[k] = mask[k] ? 1 : dims[k];
        inner_dims[k] = mask[k] ? dims[k] : 1;
    }
    ref_iter_init(outer, rank, outer_dims);
    ref_iter_add(outer, 0, strides);
    ref_iter_init(inner, rank, inner_dims);
    ref_iter_add(inner, 0, strides);
}

/* ---- integer lists --------------------------------------------------------------- */

dc_status ref_list_attr(const dc_node *n, const char *name, ref_list *out)
{
    const dc_attr *a;
    memset(out, 0, sizeof *out);
    DC_TRY(dc_attr_get(n, name, DC_ATTR_INTS, &a));
    if (!a)
        return DC_OK;
    if (a->n > REF_LIST_MAX)
        return dc_error(DC_ERR_SHAPE, "%s: attribute '%s' has %d values, more than %d", n->op_type,
                        name, a->n, REF_LIST_MAX);
    out->present = true;
    out->n = a->n;
    memcpy(out->v, a->ints, (size_t)a->n * sizeof *a->ints);
    return DC_OK;
}

dc_status ref_list_input(const dc_node *n, const dc_tensor *t, const char *what, ref_list *out)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return DC_OK;
    if (!dc_dtype_is_integer(t->dtype) || t->rank > 1)
        return dc_error(DC_ERR_SHAPE, "%s: %s must be a 0-D or 1-D integer tensor, found %s%s",
                        n->op_type, what, dc_dtype_short_name(t->dtype),
                        ref_shape_str(t->rank, t->dims));
    uint64_t count = dc_tensor_numel(t);
    if (count > REF_LIST_MAX)
        return dc_error(DC_ERR_SHAPE, "%s: %s has %" PRIu64 " values, more than %d", n->op_type,
                        what, count, REF_LIST_MAX);
    out->present = true;
    out->n = (int)count;
    for (int i = 0; i < out->n; i++)
        out->v[i] = ref_get_int(t, i);
    return DC_OK;
}

dc_status ref_axis(const dc_node *n, int64_t axis, int rank, int *out)
{
    return dc_norm_axis(n, axis, rank, out);
}

dc_status ref_axes_mask(const dc_node *n, const ref_list *axes, int rank, bool *mask)
{
    memset(mask, 0, DC_MAX_RANK * sizeof *mask);
    for (int i = 0; i < axes->n; i++) {
        int a = 0;
        DC_TRY(ref_axis(n, axes->v[i], rank, &a));
        if (mask[a])
            return dc_error(DC_ERR_SHAPE, "%s: axis %" PRId64 " repeated in axes", n->op_type,
                            axes->v[i]);
        mask[a] = true;
    }
    return DC_OK;
}

/* ---- outputs ------------------------------------------------------------------- */

bool ref_wants_output(const dc_node *n, int i)
{
    return i < n->n_outputs && n->outputs[i] != NULL;
}

dc_status ref_new_output(const dc_node *n, dc_tensor **outputs, int i, dc_dtype dtype, int rank,
                         const int64_t *dims)
{
    const char *name = ref_wants_output(n, i) ? n->outputs[i]->name : NULL;
    dc_status s = dc_tensor_create(&outputs[i], name, dtype, rank, dims);
    if (s != DC_OK)
        return dc_error_context(s, "%s: output %d %s%s", n->op_type, i, dc_dtype_short_name(dtype),
                                ref_shape_str(rank, dims));
    return DC_OK;
}

dc_status ref_new_view(const dc_node *n, dc_tensor **outputs, int i, const dc_tensor *x, int rank,
                       const int64_t *dims)
{
    uint64_t numel;
    DC_TRY(dc_shape_numel(rank, dims, x->dtype, &numel));
    if (numel != dc_tensor_numel(x))
        return dc_error(DC_ERR_SHAPE, "%s: cannot give %s (%" PRIu64 " elements) the shape %s",
                        n->op_type, ref_shape_str(x->rank, x->dims), dc_tensor_numel(x),
                        ref_shape_str(rank, dims));
    DC_TRY(ref_new_output(n, outputs, i, x->dtype, rank, dims));
    memcpy(outputs[i]->data, x->data, x->nbytes);
    return DC_OK;
}
