/* Ops that change only the shape: Reshape, Flatten, Transpose, Squeeze,
 * Unsqueeze, Expand, and the ops that read a shape: Shape, Size. Reshape,
 * Flatten, Squeeze and Unsqueeze keep the element order, so a small integer
 * constant passes through (torch builds its shape tensors this way). */
#include <inttypes.h>
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* ---- Reshape ---------------------------------------------------------------- */

/* Product of the dims of t that are not skipped (all static), with overflow check. */
static dc_status static_product(const dc_node *n, const dc_type *t, const bool *skip, int64_t *out)
{
    int64_t p = 1;
    for (int i = 0; i < t->rank; i++)
        if (!skip[i] && __builtin_mul_overflow(p, t->dims[i].size, &p))
            return dc_error(DC_ERR_SHAPE, "%s: element count of %s overflows", n->op_type,
                            dc_shape_s(t));
    *out = p;
    return DC_OK;
}

/* The first dim of x not yet skipped that is the same symbol as d, or -1. */
static int find_symbol(const dc_type *x, const bool *skip, dc_dim d)
{
    for (int i = 0; i < x->rank; i++)
        if (!skip[i] && d.param && dc_dim_equal(x->dims[i], d))
            return i;
    return -1;
}

/* Resolves the -1 entry `infer` of out (or checks the element count) against
 * x. A symbol in both cancels out, so [N,4,6] -> [0,-1] gives [N,24]; any
 * other unknown dim leaves the -1 unknown. */
static dc_status reshape_count(const dc_node *n, const dc_type *x, dc_type *out, int infer)
{
    bool x_skip[DC_MAX_RANK] = {false}, out_skip[DC_MAX_RANK] = {false}, cancelled = false;
    if (x->rank < 0)
        return DC_OK;
    if (infer >= 0)
        out_skip[infer] = true;
    for (int j = 0; j < out->rank; j++) {
        if (out_skip[j] || dc_dim_known(out->dims[j]))
            continue;
        int i = find_symbol(x, x_skip, out->dims[j]);
        if (i < 0)
            return DC_OK;
        x_skip[i] = out_skip[j] = cancelled = true;
    }
    for (int i = 0; i < x->rank; i++)
        if (!x_skip[i] && !dc_dim_known(x->dims[i]))
            return DC_OK;
    int64_t have = 0, want = 0;
    DC_TRY(static_product(n, x, x_skip, &have));
    DC_TRY(static_product(n, out, out_skip, &want));
    if (infer >= 0 && want != 0 && have % want == 0) {
        out->dims[infer] = dc_dim_of(have / want);
        return DC_OK;
    }
    if (infer < 0 && have == want)
        return DC_OK;
    if (cancelled)
        return dc_error(DC_ERR_SHAPE, "Reshape: cannot reshape %s to %s", dc_shape_s(x),
                        dc_shape_s(out));
    return dc_error(DC_ERR_SHAPE, "Reshape: cannot reshape %" PRId64 " elements to %s (input %s)",
                    have, dc_shape_s(out), dc_shape_s(x));
}

/* Output dims from the known target shape: 0 copies the input dim (unless
 * allowzero), one -1 is inferred. Returns the -1's position in *infer. */
static dc_status reshape_target(const dc_type *x, const dc_ints *shape,
                                bool allowzero, dc_type *out, int *infer)
{
    bool zero = false;
    *infer = -1;
    out->rank = (int)shape->n;
    for (int i = 0; i < out->rank; i++) {
        int64_t v = dc_ints_at(shape, i);
        out->dims[i] = dc_dim_of(v);
        if (v == -1 && *infer >= 0)
            return dc_error(DC_ERR_SHAPE, "Reshape: more than one -1 in the shape");
        if (v == -1) {
            *infer = i;
            out->dims[i] = dc_dim_any();
        } else if (v < -1) {
            return dc_error(DC_ERR_SHAPE, "Reshape: shape[%d] = %" PRId64 " is invalid", i, v);
        } else if (v == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return dc_error(DC_ERR_SHAPE, "Reshape: shape[%d] = 0 copies an axis the input %s does not have",
                                i, dc_ts(x));
            out->dims[i] = x->rank >= 0 ? x->dims[i] : dc_dim_any();
        }
        zero |= v == 0;
    }
    if (allowzero && zero && *infer >= 0)
        return dc_error(DC_ERR_SHAPE, "Reshape: with allowzero=1 the shape cannot hold both 0 and -1");
    return DC_OK;
}

/* Reshape-1 takes the shape as an attribute, Reshape-5 as input 1;
 * `allowzero` exists from opset 14. */
static dc_status infer_reshape(dc_graph *g, dc_node *n, int64_t opset)
{
    int n_in = opset < 5 ? 1 : 2;
    DC_TRY(dc_check_inputs(n, n_in, n_in, opset));
    if (opset >= 5)
        DC_TRY(dc_attr_moved(n, "shape", 1, opset));
    const dc_type *x = &n->inputs[0]->type;
    dc_ints shape;
    DC_TRY(opset < 5 ? dc_ints_attr(n, "shape", &shape) : dc_ints_input(n, 1, &shape));
    int64_t allowzero = 0;
    if (opset >= 14)
        DC_TRY(dc_attr_i(n, "allowzero", 0, &allowzero));
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Reshape: shape has %" PRId64 " entries, more than rank %d",
                        shape.n, DC_MAX_RANK);
    dc_type out = dc_type_ranked(x->dtype, shape.n >= 0 ? (int)shape.n : -1);
    if (shape.known) {
        int infer;
        DC_TRY(reshape_target(x, &shape, allowzero != 0, &out, &infer));
        DC_TRY(reshape_count(n, x, &out, infer));
    }
    n->outputs[0]->type = out;
    return dc_fold_copy(g, n);
}

/* ---- Flatten ---------------------------------------------------------------- */

/* Product of dims [lo, hi): static when all are; a single non-static dim
 * times 1s is that dim (so a symbolic batch survives); else unknown. */
static dc_status dims_product(const dc_node *n, const dc_type *t, int lo, int hi, dc_dim *out)
{
    int64_t p = 1;
    int unknown = -1, n_unknown = 0;
    for (int i = lo; i < hi; i++) {
        if (!dc_dim_known(t->dims[i])) {
            unknown = i;
            n_unknown++;
        } else if (__builtin_mul_overflow(p, t->dims[i].size, &p)) {
            return dc_error(DC_ERR_SHAPE, "%s: element count of %s overflows", n->op_type,
                            dc_shape_s(t));
        }
    }
    *out = n_unknown == 0 ? dc_dim_of(p) : n_unknown == 1 && p == 1 ? t->dims[unknown] : dc_dim_any();
    return DC_OK;
}

/* Flatten: [d0..d(axis-1), d(axis)..] -> [prod, prod]; axis in [0, r]
 * (negative values from opset 11). */
static dc_status infer_flatten(dc_graph *g, dc_node *n, int64_t opset)
{
    const dc_type *x = &n->inputs[0]->type;
    int64_t axis;
    DC_TRY(dc_attr_i(n, "axis", 1, &axis));
    dc_type out = dc_type_ranked(x->dtype, 2);
    if (x->rank >= 0) {
        int lo = opset < 11 ? 0 : -x->rank;
        if (axis < lo || axis > x->rank)
            return dc_error(DC_ERR_SHAPE, "Flatten: axis %" PRId64 " out of range for rank %d (expected %d..%d)",
                            axis, x->rank, lo, x->rank);
        int a = (int)(axis < 0 ? axis + x->rank : axis);
        DC_TRY(dims_product(n, x, 0, a, &out.dims[0]));
        DC_TRY(dims_product(n, x, a, x->rank, &out.dims[1]));
    }
    n->outputs[0]->type = out;
    return dc_fold_copy(g, n);
}

/* ---- Transpose -------------------------------------------------------------- */

/* Transpose: out.dims[i] = x.dims[perm[i]]; perm defaults to reversing. */
static dc_status infer_transpose(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *x = &n->inputs[0]->type;
    dc_ints perm;
    DC_TRY(dc_ints_attr(n, "perm", &perm));
    dc_type out = dc_type_unknown(x->dtype);
    if (x->rank >= 0) {
        if (perm.present && perm.n != x->rank)
            return dc_error(DC_ERR_SHAPE, "Transpose: perm has %" PRId64 " entries for input %s",
                            perm.n, dc_ts(x));
        bool seen[DC_MAX_RANK] = {false};
        out.rank = x->rank;
        for (int i = 0; i < x->rank; i++) {
            int64_t p = perm.present ? perm.attr[i] : x->rank - 1 - i;
            if (p < 0 || p >= x->rank || seen[p])
                return dc_error(DC_ERR_SHAPE, "Transpose: perm is not a permutation of 0..%d (entry %d is %" PRId64 ")",
                                x->rank - 1, i, p);
            seen[p] = true;
            out.dims[i] = x->dims[p];
        }
    }
    n->outputs[0]->type = out;
    return DC_OK;
}

/* ---- Squeeze / Unsqueeze ---------------------------------------------------- */

/* The axes of Squeeze/Unsqueeze: an attribute before opset 13, input 1 after. */
static dc_status read_axes(const dc_node *n, int64_t opset, bool required, dc_ints *axes)
{
    int n_in = opset < 13 ? 1 : 2;
    DC_TRY(dc_check_inputs(n, required ? n_in : 1, n_in, opset));
    if (opset >= 13)
        DC_TRY(dc_attr_moved(n, "axes", 1, opset));
    DC_TRY(opset < 13 ? dc_ints_attr(n, "axes", axes) : dc_ints_input(n, 1, axes));
    if (required && !axes->present)
        return dc_error(DC_ERR_INVALID, "%s: attribute 'axes' is required before opset 13", n->op_type);
    return DC_OK;
}

/* Squeeze: removes the listed size-1 axes, or every size-1 axis without a list. */
static dc_status infer_squeeze(dc_graph *g, dc_node *n, int64_t opset)
{
    const dc_type *x = &n->inputs[0]->type;
    dc_ints axes;
    DC_TRY(read_axes(n, opset, false, &axes));
    dc_value *y = n->outputs[0];
    y->type = dc_type_unknown(x->dtype);
    if (x->rank < 0)
        return DC_OK;
    if (axes.present && !axes.known) {
        if (axes.n >= 0 && axes.n <= x->rank)
            y->type = dc_type_ranked(x->dtype, x->rank - (int)axes.n);
        return DC_OK;
    }
    bool mask[DC_MAX_RANK] = {false};
    if (axes.present)
        DC_TRY(dc_norm_axes(n, &axes, x->rank, mask));
    for (int i = 0; !axes.present && i < x->rank; i++) {
        if (!dc_dim_known(x->dims[i]))
            return DC_OK; /* it may be 1 or not: the rank is unknown */
        mask[i] = x->dims[i].size == 1;
    }
    dc_type out = {.dtype = x->dtype};
    for (int i = 0; i < x->rank; i++) {
        if (mask[i] && dc_dim_known(x->dims[i]) && x->dims[i].size != 1)
            return dc_error(DC_ERR_SHAPE, "Squeeze: axis %d of %s has size %" PRId64 ", expected 1",
                            i, dc_ts(x), x->dims[i].size);
        if (!mask[i])
            out.dims[out.rank++] = x->dims[i];
    }
    y->type = out;
    return dc_fold_copy(g, n);
}

/* Unsqueeze: inserts size-1 axes at the listed positions of the output. */
static dc_status infer_unsqueeze(dc_graph *g, dc_node *n, int64_t opset)
{
    const dc_type *x = &n->inputs[0]->type;
    dc_ints axes;
    DC_TRY(read_axes(n, opset, true, &axes));
    dc_type out = dc_type_unknown(x->dtype);
    if (axes.n > DC_MAX_RANK || (x->rank >= 0 && x->rank + axes.n > DC_MAX_RANK))
        return dc_error(DC_ERR_SHAPE, "Unsqueeze: %s with %" PRId64 " new axes exceeds rank %d",
                        dc_ts(x), axes.n, DC_MAX_RANK);
    int rank = x->rank >= 0 && axes.n >= 0 ? x->rank + (int)axes.n : -1;
    if (rank >= 0 && !axes.known) {
        out = dc_type_ranked(x->dtype, rank);
    } else if (rank >= 0) {
        bool mask[DC_MAX_RANK];
        DC_TRY(dc_norm_axes(n, &axes, rank, mask));
        out.rank = rank;
        for (int i = 0, j = 0; i < rank; i++)
            out.dims[i] = mask[i] ? dc_dim_of(1) : x->dims[j++];
    }
    n->outputs[0]->type = out;
    return dc_fold_copy(g, n);
}

/* ---- Expand ----------------------------------------------------------------- */

static bool fold_first(const int64_t *x, int64_t *r)
{
    *r = x[0];
    return true;
}

/* Expand: numpy broadcast of the input against the shape in input 1 (a 1 in
 * the shape keeps the input's dim). */
static dc_status infer_expand(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)opset;
    const dc_type *x = &n->inputs[0]->type;
    dc_ints shape;
    DC_TRY(dc_ints_input(n, 1, &shape));
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Expand: shape has %" PRId64 " entries, more than rank %d",
                        shape.n, DC_MAX_RANK);
    dc_type target = dc_type_ranked(x->dtype, (int)shape.n), out = target;
    for (int i = 0; shape.known && i < target.rank; i++) {
        target.dims[i] = dc_dim_of(dc_ints_at(&shape, i));
        if (target.dims[i].size < 0)
            return dc_error(DC_ERR_SHAPE, "Expand: shape[%d] = %" PRId64 " is negative", i,
                            target.dims[i].size);
    }
    DC_TRY(dc_broadcast_shapes(n, x, &target, &out));
    n->outputs[0]->type = out;
    return dc_fold_elementwise(g, n, 1, fold_first);
}

/* ---- Shape / Size ----------------------------------------------------------- */

/* Shape: the dims [start, end) of the input as int64[end - start] (start/end
 * from opset 15, clamped like Slice). Known when those dims are static. */
static dc_status infer_shape(dc_graph *g, dc_node *n, int64_t opset)
{
    const dc_type *x = &n->inputs[0]->type;
    int64_t start = 0, end = INT64_MAX;
    if (opset >= 15) {
        DC_TRY(dc_attr_i(n, "start", 0, &start));
        DC_TRY(dc_attr_i(n, "end", INT64_MAX, &end));
    }
    dc_type out = dc_type_ranked(DC_I64, 1);
    if (x->rank < 0) {
        n->outputs[0]->type = out;
        return DC_OK;
    }
    int64_t r = x->rank;
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    out.dims[0] = dc_dim_of(end > start ? end - start : 0);
    n->outputs[0]->type = out;
    int64_t vals[DC_MAX_RANK];
    for (int64_t i = start; i < end; i++) {
        if (!dc_dim_known(x->dims[i]))
            return DC_OK;
        vals[i - start] = x->dims[i].size;
    }
    return dc_fold_store(g, n->outputs[0], vals);
}

/* Size: the element count as an int64 scalar, known for a static input. */
static dc_status infer_size(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)opset;
    const dc_type *x = &n->inputs[0]->type;
    n->outputs[0]->type = dc_type_ranked(DC_I64, 0);
    if (!dc_type_is_static(x))
        return DC_OK;
    bool none[DC_MAX_RANK] = {false};
    int64_t numel;
    DC_TRY(static_product(n, x, none, &numel));
    return dc_fold_store(g, n->outputs[0], &numel);
}

static const char *const static_inputs_Reshape[] = {NULL, "shape"};
const dc_op_schema dc_op_Reshape = {
    .name = "Reshape", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_reshape,
    .reference = dc_ref_Reshape,
    .gradient = dc_grad_View,
    .static_inputs = static_inputs_Reshape, .n_static_inputs = 2,
    .is_view = true,
};
const dc_op_schema dc_op_Flatten = {
    .name = "Flatten", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_flatten,
    .reference = dc_ref_Flatten,
    .gradient = dc_grad_View,
    .is_view = true,
};
const dc_op_schema dc_op_Transpose = {
    .name = "Transpose", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_transpose,
    .reference = dc_ref_Transpose,
    .gradient = dc_grad_Transpose,
};
static const char *const static_inputs_Squeeze[] = {NULL, "axes"};
const dc_op_schema dc_op_Squeeze = {
    .name = "Squeeze", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_squeeze,
    .reference = dc_ref_Squeeze,
    .gradient = dc_grad_View,
    .static_inputs = static_inputs_Squeeze, .n_static_inputs = 2,
    .is_view = true,
};
static const char *const static_inputs_Unsqueeze[] = {NULL, "axes"};
const dc_op_schema dc_op_Unsqueeze = {
    .name = "Unsqueeze", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_unsqueeze,
    .reference = dc_ref_Unsqueeze,
    .gradient = dc_grad_View,
    .static_inputs = static_inputs_Unsqueeze, .n_static_inputs = 2,
    .is_view = true,
};
static const char *const static_inputs_Expand[] = {NULL, "shape"};
const dc_op_schema dc_op_Expand = {
    .name = "Expand", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_expand,
    .reference = dc_ref_Expand,
    .gradient = dc_grad_Expand,
    .static_inputs = static_inputs_Expand, .n_static_inputs = 2,
};
const dc_op_schema dc_op_Shape = {
    .name = "Shape", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_shape,
    .reference = dc_ref_Shape,
};
const dc_op_schema dc_op_Size = {
    .name = "Size", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_size,
    .reference = dc_ref_Size,
};
