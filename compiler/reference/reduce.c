/* Reduction reference kernels (ReduceMean/Sum/Max/Min) and ArgMax/ArgMin.
 * Floats reduce in double; integers exactly (sums wrap, means truncate). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "reference/ref_util.h"

typedef enum reduce_op { REDUCE_SUM, REDUCE_MEAN, REDUCE_MAX, REDUCE_MIN } reduce_op;

/* The smallest (or largest) value of integer type t, as its int64 bit pattern. */
static int64_t int_limit(dc_dtype t, bool largest)
{
    int bits = 8 * (int)dc_dtype_size(t);
    if (ref_kind_of(t) == REF_UNSIGNED)
        return largest ? (int64_t)(UINT64_MAX >> (64 - bits)) : 0;
    int64_t max = (int64_t)(UINT64_MAX >> (65 - bits));
    return largest ? max : -max - 1;
}

/* Reduces one group of x's elements (the walk of `inner`) to a double. */
static double reduce_float(reduce_op op, const dc_tensor *x, ref_iter *inner, int64_t count)
{
    double acc = op == REDUCE_MAX ? -INFINITY : op == REDUCE_MIN ? INFINITY : 0.0;
    for (bool i = ref_iter_begin(inner); i; i = ref_iter_next(inner)) {
        double v = ref_get(x, inner->offset[0]);
        if (op == REDUCE_SUM || op == REDUCE_MEAN)
            acc += v;
        else if (isnan(v) || (op == REDUCE_MAX ? v > acc : v < acc))
            acc = v; /* NaN propagates, as in numpy */
        if (isnan(acc) && op != REDUCE_SUM && op != REDUCE_MEAN)
            break;
    }
    return op == REDUCE_MEAN ? acc / (double)count : acc;
}

/* The same for integers, exactly. */
static int64_t reduce_int(reduce_op op, const dc_tensor *x, ref_iter *inner, int64_t count)
{
    int64_t acc = op == REDUCE_MAX ? int_limit(x->dtype, false)
                  : op == REDUCE_MIN ? int_limit(x->dtype, true) : 0;
    for (bool i = ref_iter_begin(inner); i; i = ref_iter_next(inner)) {
        int64_t v = ref_get_int(x, inner->offset[0]);
        if (op == REDUCE_SUM || op == REDUCE_MEAN)
            acc = (int64_t)((uint64_t)acc + (uint64_t)v);
        else if (op == REDUCE_MAX ? ref_int_less(x->dtype, acc, v) : ref_int_less(x->dtype, v, acc))
            acc = v;
    }
    if (op == REDUCE_MEAN && count > 0)
        ref_int_div(x->dtype, acc, count, &acc);
    return acc;
}

/* Data[d0..dr-1] -> Reduced: the axes listed (all when none are) reduced, kept
 * as 1 (keepdims=1, default) or removed. The axes are an attribute before
 * opset 13 (ReduceSum) or 18 (the others), input 1 after; with
 * noop_with_empty_axes=1 and no axes, the data passes through unchanged. An
 * empty group sums to 0 and has the type's lowest (Max) or highest (Min)
 * value; its mean is NaN for floats and 0 for integers. */
static dc_status reduce(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs, reduce_op op)
{
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "data", REF_KINDS_NUMBER));
    bool from_input = opset >= (strcmp(node->op_type, "ReduceSum") == 0 ? 13 : 18);
    int64_t keepdims, noop = 0;
    DC_TRY(dc_attr_i(node, "keepdims", 1, &keepdims));
    ref_list axes;
    if (from_input) {
        DC_TRY(dc_attr_i(node, "noop_with_empty_axes", 0, &noop));
        DC_TRY(ref_list_input(node, node->n_inputs > 1 ? inputs[1] : NULL, "axes", &axes));
    } else {
        DC_TRY(ref_list_attr(node, "axes", &axes));
    }
    if (axes.n == 0 && noop)
        return ref_new_view(node, outputs, 0, x, x->rank, x->dims);
    bool mask[DC_MAX_RANK];
    if (axes.n == 0)
        for (int k = 0; k < DC_MAX_RANK; k++)
            mask[k] = true;
    else
        DC_TRY(ref_axes_mask(node, &axes, x->rank, mask));
    int rank = 0;
    int64_t dims[DC_MAX_RANK], count = 1;
    for (int k = 0; k < x->rank; k++) {
        if (mask[k])
            count *= x->dims[k];
        if (!mask[k] || keepdims)
            dims[rank++] = mask[k] ? 1 : x->dims[k];
    }
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, rank, dims));
    dc_tensor *y = outputs[0];
    ref_iter outer, inner;
    ref_split_iters(x->rank, x->dims, mask, &outer, &inner);
    bool exact = ref_kind_of(x->dtype) != REF_FLOAT;
    int64_t o = 0; /* the output is row-major over the kept axes, in order */
    for (bool more = ref_iter_begin(&outer); more; more = ref_iter_next(&outer), o++) {
        inner.base[0] = outer.offset[0];
        if (exact)
            ref_set_int(y, o, reduce_int(op, x, &inner, count));
        else
            ref_set(y, o, reduce_float(op, x, &inner, count));
    }
    return DC_OK;
}

#define REDUCE_KERNEL(sym, op)                                                            \
    dc_status dc_ref_##sym(const dc_node *node, int64_t opset, dc_tensor *const *inputs, \
                           dc_tensor **outputs)                                          \
    {                                                                                    \
        return reduce(node, opset, inputs, outputs, op);                                 \
    }
REDUCE_KERNEL(ReduceSum, REDUCE_SUM)
REDUCE_KERNEL(ReduceMean, REDUCE_MEAN)
REDUCE_KERNEL(ReduceMax, REDUCE_MAX)
REDUCE_KERNEL(ReduceMin, REDUCE_MIN)
#undef REDUCE_KERNEL

/* Elements i and j of x compared: -1, 0 (equal or unordered) or 1. */
static int compare_elems(const dc_tensor *x, int64_t i, int64_t j)
{
    if (ref_kind_of(x->dtype) != REF_FLOAT) {
        int64_t a = ref_get_int(x, i), b = ref_get_int(x, j);
        return ref_int_less(x->dtype, a, b) ? -1 : ref_int_less(x->dtype, b, a) ? 1 : 0;
    }
    double a = ref_get(x, i), b = ref_get(x, j);
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Data[d0..dr-1] -> int64 indices of the largest (ArgMax) or smallest (ArgMin)
 * element along `axis` (default 0), kept as 1 (keepdims=1) or removed. Ties go
 * to the first index, or the last with select_last_index=1 (opset 12). */
static dc_status arg_reduce(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs, bool largest)
{
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "data", REF_KINDS_NUMBER));
    int64_t axis, keepdims, last = 0;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    DC_TRY(dc_attr_i(node, "keepdims", 1, &keepdims));
    if (opset >= 12)
        DC_TRY(dc_attr_i(node, "select_last_index", 0, &last));
    int a = 0;
    DC_TRY(ref_axis(node, axis, x->rank, &a));
    if (x->dims[a] == 0)
        return dc_error(DC_ERR_SHAPE, "%s: axis %d of %s is empty", node->op_type, a,
                        ref_shape_str(x->rank, x->dims));
    bool mask[DC_MAX_RANK] = {false};
    mask[a] = true;
    int rank = 0;
    int64_t dims[DC_MAX_RANK];
    for (int k = 0; k < x->rank; k++)
        if (k != a || keepdims)
            dims[rank++] = k == a ? 1 : x->dims[k];
    DC_TRY(ref_new_output(node, outputs, 0, DC_I64, rank, dims));
    dc_tensor *y = outputs[0];
    ref_iter outer, inner;
    ref_split_iters(x->rank, x->dims, mask, &outer, &inner);
    int64_t o = 0;
    for (bool more = ref_iter_begin(&outer); more; more = ref_iter_next(&outer), o++) {
        inner.base[0] = outer.offset[0];
        int64_t best = -1, best_offset = 0;
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner)) {
            /* > 0: this element beats the best so far */
            int cmp = best < 0 ? 1 : (largest ? 1 : -1) * compare_elems(x, inner.offset[0], best_offset);
            if (cmp > 0 || (cmp == 0 && last)) {
                best = inner.index[a];
                best_offset = inner.offset[0];
            }
        }
        ref_set_int(y, o, best);
    }
    return DC_OK;
}

dc_status dc_ref_ArgMax(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    return arg_reduce(node, opset, inputs, outputs, true);
}

dc_status dc_ref_ArgMin(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    return arg_reduce(node, opset, inputs, outputs, false);
}
