/* Reference kernels of the ops that change only the shape (Reshape, Flatten,
 * Squeeze, Unsqueeze: the same elements in the same order; Transpose and
 * Expand: moved or repeated elements) and of the ops that read a shape
 * (Shape, Size). Any element type. */
#include <inttypes.h>
#include <string.h>

#include "reference/ref_util.h"

/* Data[*], shape (attribute before opset 5, int64 input 1 after) ->
 * Reshaped[shape] with Data's elements in order. A 0 copies Data's dim at
 * that position (unless allowzero=1, opset 14), one -1 takes what is left. */
dc_status dc_ref_Reshape(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    ref_list shape;
    if (opset < 5)
        DC_TRY(ref_list_attr(node, "shape", &shape));
    else
        DC_TRY(ref_list_input(node, node->n_inputs > 1 ? inputs[1] : NULL, "shape", &shape));
    if (!shape.present)
        return dc_error(DC_ERR_INVALID, "Reshape: the shape is missing");
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Reshape: shape has %d entries, more than rank %d", shape.n,
                        DC_MAX_RANK);
    int64_t allowzero = 0;
    if (opset >= 14)
        DC_TRY(dc_attr_i(node, "allowzero", 0, &allowzero));
    int64_t dims[DC_MAX_RANK], known = 1;
    int infer = -1;
    for (int i = 0; i < shape.n; i++) {
        dims[i] = shape.v[i];
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return dc_error(DC_ERR_SHAPE, "Reshape: shape[%d] = 0 copies an axis %s does not have",
                                i, ref_shape_str(x->rank, x->dims));
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (dims[i] < 0)
            return dc_error(DC_ERR_SHAPE, "Reshape: shape %s is invalid",
                            ref_shape_str(shape.n, shape.v));
        if (__builtin_mul_overflow(known, dims[i], &known))
            return dc_error(DC_ERR_SHAPE, "Reshape: shape %s overflows", ref_shape_str(shape.n, shape.v));
    }
    if (infer >= 0) {
        int64_t total = (int64_t)dc_tensor_numel(x);
        if (known == 0 || total % known != 0)
            return dc_error(DC_ERR_SHAPE, "Reshape: cannot reshape %s to %s", ref_shape_str(x->rank, x->dims),
                            ref_shape_str(shape.n, shape.v));
        dims[infer] = total / known;
    }
    return ref_new_view(node, outputs, 0, x, shape.n, dims);
}

/* Input[d0..dr-1] -> Output[d0 * ... * d(axis-1), d(axis) * ... * d(r-1)];
 * axis in [0, r] (default 1; negative from opset 11). */
dc_status dc_ref_Flatten(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 1, &axis));
    int64_t lo = opset < 11 ? 0 : -x->rank;
    if (axis < lo || axis > x->rank)
        return dc_error(DC_ERR_SHAPE, "Flatten: axis %" PRId64 " out of range for rank %d", axis,
                        x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    int64_t dims[2] = {ref_span(x->dims, 0, a), ref_span(x->dims, a, x->rank)};
    return ref_new_view(node, outputs, 0, x, 2, dims);
}

/* Data[d0..dr-1] -> Transposed[d(perm[0]), ..., d(perm[r-1])]; perm defaults
 * to reversing the axes. */
dc_status dc_ref_Transpose(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                           dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *x = inputs[0];
    ref_list perm;
    DC_TRY(ref_list_attr(node, "perm", &perm));
    if (perm.present && perm.n != x->rank)
        return dc_error(DC_ERR_SHAPE, "Transpose: perm has %d entries for input %s", perm.n,
                        ref_shape_str(x->rank, x->dims));
    int64_t x_strides[DC_MAX_RANK], dims[DC_MAX_RANK], in_strides[DC_MAX_RANK], y_strides[DC_MAX_RANK];
    bool seen[DC_MAX_RANK] = {false};
    ref_strides(x->rank, x->dims, x_strides);
    for (int i = 0; i < x->rank; i++) {
        int64_t p = perm.present ? perm.v[i] : x->rank - 1 - i;
        if (p < 0 || p >= x->rank || seen[p])
            return dc_error(DC_ERR_SHAPE, "Transpose: perm is not a permutation of 0..%d", x->rank - 1);
        seen[p] = true;
        dims[i] = x->dims[p];
        in_strides[i] = x_strides[p]; /* output axis i walks input axis perm[i] */
    }
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, dims));
    dc_tensor *y = outputs[0];
    ref_strides(y->rank, y->dims, y_strides);
    ref_iter it;
    ref_iter_init(&it, y->rank, y->dims);
    int iy = ref_iter_add(&it, 0, y_strides), ix = ref_iter_add(&it, 0, in_strides);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it))
        ref_copy_elem(y, it.offset[iy], x, it.offset[ix]);
    return DC_OK;
}

/* The axes of Squeeze/Unsqueeze: an attribute before opset 13, input 1 after. */
static dc_status squeeze_axes(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                              ref_list *axes)
{
    if (opset < 13)
        return ref_list_attr(node, "axes", axes);
    return ref_list_input(node, node->n_inputs > 1 ? inputs[1] : NULL, "axes", axes);
}

/* Data[*] -> Squeezed: the listed axes (each of size 1) removed, or every
 * size-1 axis when there is no list. */
dc_status dc_ref_Squeeze(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    ref_list axes;
    DC_TRY(squeeze_axes(node, opset, inputs, &axes));
    bool mask[DC_MAX_RANK] = {false};
    if (axes.present)
        DC_TRY(ref_axes_mask(node, &axes, x->rank, mask));
    else
        for (int k = 0; k < x->rank; k++)
            mask[k] = x->dims[k] == 1;
    int rank = 0;
    int64_t dims[DC_MAX_RANK];
    for (int k = 0; k < x->rank; k++) {
        if (mask[k] && x->dims[k] != 1)
            return dc_error(DC_ERR_SHAPE, "Squeeze: axis %d of %s has size %" PRId64 ", expected 1",
                            k, ref_shape_str(x->rank, x->dims), x->dims[k]);
        if (!mask[k])
            dims[rank++] = x->dims[k];
    }
    return ref_new_view(node, outputs, 0, x, rank, dims);
}

/* Data[*] -> Expanded: size-1 axes inserted at the listed positions of the
 * output (axes required). */
dc_status dc_ref_Unsqueeze(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                           dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    ref_list axes;
    DC_TRY(squeeze_axes(node, opset, inputs, &axes));
    if (!axes.present)
        return dc_error(DC_ERR_INVALID, "Unsqueeze: the axes are missing");
    int rank = x->rank + axes.n;
    if (rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Unsqueeze: %s with %d new axes exceeds rank %d",
                        ref_shape_str(x->rank, x->dims), axes.n, DC_MAX_RANK);
    bool mask[DC_MAX_RANK];
    DC_TRY(ref_axes_mask(node, &axes, rank, mask));
    int64_t dims[DC_MAX_RANK];
    for (int k = 0, j = 0; k < rank; k++)
        dims[k] = mask[k] ? 1 : x->dims[j++];
    return ref_new_view(node, outputs, 0, x, rank, dims);
}

/* Input[*], shape int64[k] -> Output[broadcast(Input's shape, shape)]: the
 * input repeated along its size-1 (and missing leading) axes. */
dc_status dc_ref_Expand(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *x = inputs[0];
    ref_list shape;
    DC_TRY(ref_list_input(node, inputs[1], "shape", &shape));
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Expand: shape has %d entries, more than rank %d", shape.n,
                        DC_MAX_RANK);
    dc_tensor target = {.rank = shape.n};
    for (int i = 0; i < shape.n; i++) {
        if (shape.v[i] < 0)
            return dc_error(DC_ERR_SHAPE, "Expand: shape %s has a negative entry",
                            ref_shape_str(shape.n, shape.v));
        target.dims[i] = shape.v[i];
    }
    dc_tensor *const both[2] = {(dc_tensor *)x, &target};
    int rank;
    int64_t dims[DC_MAX_RANK], x_strides[DC_MAX_RANK], y_strides[DC_MAX_RANK];
    DC_TRY(ref_broadcast_shape(node, both, 2, &rank, dims));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, rank, dims));
    dc_tensor *y = outputs[0];
    ref_strides(rank, dims, y_strides);
    ref_broadcast_strides(x, rank, rank - x->rank, x_strides);
    ref_iter it;
    ref_iter_init(&it, rank, dims);
    int iy = ref_iter_add(&it, 0, y_strides), ix = ref_iter_add(&it, 0, x_strides);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it))
        ref_copy_elem(y, it.offset[iy], x, it.offset[ix]);
    return DC_OK;
}

/* Data[d0..dr-1] -> int64[end - start]: the dims start..end-1 (start/end from
 * opset 15, negative from the back, clamped to [0, r]). */
dc_status dc_ref_Shape(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    int64_t start = 0, end = x->rank, r = x->rank;
    if (opset >= 15) {
        DC_TRY(dc_attr_i(node, "start", 0, &start));
        DC_TRY(dc_attr_i(node, "end", r, &end));
    }
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t count = end > start ? end - start : 0;
    DC_TRY(ref_new_output(node, outputs, 0, DC_I64, 1, &count));
    for (int64_t i = 0; i < count; i++)
        ref_set_int(outputs[0], i, x->dims[start + i]);
    return DC_OK;
}

/* Data[*] -> int64 scalar: the element count. */
dc_status dc_ref_Size(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                      dc_tensor **outputs)
{
    (void)opset;
    DC_TRY(ref_new_output(node, outputs, 0, DC_I64, 0, NULL));
    ref_set_int(outputs[0], 0, (int64_t)dc_tensor_numel(inputs[0]));
    return DC_OK;
}
