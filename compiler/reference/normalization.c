/* Softmax, LogSoftmax and LayerNormalization reference kernels, in double. */
#include <inttypes.h>
#include <math.h>

#include "reference/ref_util.h"

/* X[*] float -> Y[*] same shape and type: softmax (or its log) over groups
 * of elements. From opset 13 a group is one axis (default -1); before, the
 * input is coerced to 2-D at `axis` (default 1), so a group is all of the
 * axes from `axis` on. */
static dc_status softmax(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs, bool take_log)
{
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "input", REF_KINDS_FLOAT));
    int64_t axis;
    int a = 0;
    DC_TRY(dc_attr_i(node, "axis", opset < 13 ? 1 : -1, &axis));
    DC_TRY(ref_axis(node, axis, x->rank, &a));
    bool mask[DC_MAX_RANK] = {false};
    for (int k = a; k < (opset < 13 ? x->rank : a + 1); k++)
        mask[k] = true;
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    dc_tensor *y = outputs[0];
    ref_iter outer, inner;
    ref_split_iters(x->rank, x->dims, mask, &outer, &inner);
    for (bool o = ref_iter_begin(&outer); o; o = ref_iter_next(&outer)) {
        inner.base[0] = outer.offset[0];
        double max = -INFINITY, sum = 0;
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner))
            max = fmax(max, ref_get(x, inner.offset[0]));
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner))
            sum += exp(ref_get(x, inner.offset[0]) - max);
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner)) {
            double shifted = ref_get(x, inner.offset[0]) - max;
            ref_set(y, inner.offset[0], take_log ? shifted - log(sum) : exp(shifted) / sum);
        }
    }
    return DC_OK;
}

dc_status dc_ref_Softmax(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs)
{
    return softmax(node, opset, inputs, outputs, false);
}

dc_status dc_ref_LogSoftmax(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs)
{
    return softmax(node, opset, inputs, outputs, true);
}

/* Strides reading a Scale/B tensor p broadcast to X's full shape (p aligned
 * to X's trailing axes, within the normalised axes a..r-1). */
static dc_status param_strides(const dc_tensor *x, int a, const dc_tensor *p, const char *what,
                               int64_t *strides)
{
    bool ok = p->rank <= x->rank - a;
    for (int j = 0; ok && j < p->rank; j++) {
        int64_t d = p->dims[j], want = x->dims[x->rank - p->rank + j];
        ok = d == want || d == 1;
    }
    if (!ok)
        return dc_error(DC_ERR_SHAPE, "LayerNormalization: %s %s does not broadcast to X%s from axis %d",
                        what, ref_shape_str(p->rank, p->dims), ref_shape_str(x->rank, x->dims), a);
    ref_broadcast_strides(p, x->rank, x->rank - p->rank, strides);
    return DC_OK;
}

/* LayerNormalization (opset 17): X[d0..dr-1] float, Scale and B (optional)
 * broadcasting to X[axis:] ->
 *   Y[d0..dr-1]           = (X - mean) * inv_std_dev * Scale + B
 *   Mean[d0..d(axis-1), 1, ..., 1]      (optional, `stash_type`)
 *   InvStdDev[d0..d(axis-1), 1, ..., 1] (optional, `stash_type`)
 * mean and variance over axes axis..r-1, inv_std_dev = 1 / sqrt(var + epsilon). */
dc_status dc_ref_LayerNormalization(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                    dc_tensor **outputs)
{
    if (opset < 17)
        return dc_error(DC_ERR_UNSUPPORTED, "LayerNormalization needs opset 17, the graph imports %" PRId64,
                        opset);
    const dc_tensor *x = inputs[0], *scale = inputs[1], *b = node->n_inputs > 2 ? inputs[2] : NULL;
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, x, scale));
    if (b)
        DC_TRY(ref_same_dtype(node, x, b));
    int64_t axis, stash;
    float epsilon;
    DC_TRY(dc_attr_i(node, "axis", -1, &axis));
    DC_TRY(dc_attr_f(node, "epsilon", 1e-5f, &epsilon));
    DC_TRY(dc_attr_i(node, "stash_type", DC_F32, &stash));
    if (stash != (int)stash || !dc_dtype_valid((int)stash) || !dc_dtype_is_float((dc_dtype)stash))
        return dc_error(DC_ERR_INVALID, "LayerNormalization: stash_type %" PRId64 " is not a float type",
                        stash);
    int a = 0;
    DC_TRY(ref_axis(node, axis, x->rank, &a));
    int64_t scale_strides[DC_MAX_RANK], b_strides[DC_MAX_RANK] = {0};
    DC_TRY(param_strides(x, a, scale, "Scale", scale_strides));
    if (b)
        DC_TRY(param_strides(x, a, b, "B", b_strides));

    int64_t stats_dims[DC_MAX_RANK];
    bool mask[DC_MAX_RANK] = {false};
    for (int k = 0; k < x->rank; k++) {
        mask[k] = k >= a;
        stats_dims[k] = k < a ? x->dims[k] : 1;
    }
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    for (int i = 1; i < 3; i++)
        if (ref_wants_output(node, i))
            DC_TRY(ref_new_output(node, outputs, i, (dc_dtype)stash, x->rank, stats_dims));
    dc_tensor *y = outputs[0];

    ref_iter outer, inner;
    ref_split_iters(x->rank, x->dims, mask, &outer, &inner);
    int64_t zero[DC_MAX_RANK] = {0};
    int is = ref_iter_add(&inner, 0, scale_strides), ib = ref_iter_add(&inner, 0, b ? b_strides : zero);
    int64_t row = 0, count = ref_span(x->dims, a, x->rank);
    for (bool o = ref_iter_begin(&outer); o; o = ref_iter_next(&outer), row++) {
        inner.base[0] = outer.offset[0];
        double sum = 0, sq = 0;
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner))
            sum += ref_get(x, inner.offset[0]);
        double mean = sum / (double)count;
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner)) {
            double d = ref_get(x, inner.offset[0]) - mean;
            sq += d * d;
        }
        double inv_std = 1.0 / sqrt(sq / (double)count + (double)epsilon);
        for (bool i = ref_iter_begin(&inner); i; i = ref_iter_next(&inner)) {
            double v = (ref_get(x, inner.offset[0]) - mean) * inv_std * ref_get(scale, inner.offset[is]);
            ref_set(y, inner.offset[0], b ? v + ref_get(b, inner.offset[ib]) : v);
        }
        if (ref_wants_output(node, 1))
            ref_set(outputs[1], row, mean);
        if (ref_wants_output(node, 2))
            ref_set(outputs[2], row, inv_std);
    }
    return DC_OK;
}
