/* Reference kernels of the ops that select or join parts of tensors along
 * axes: Concat, Split, Slice, Gather. Any element type; elements are copied
 * as bytes. */
#include <inttypes.h>
#include <string.h>

#include "reference/ref_util.h"

/* Copies `count` elements of `src` from element si to element di of dst. */
static void copy_elems(dc_tensor *dst, int64_t di, const dc_tensor *src, int64_t si, int64_t count)
{
    size_t size = dc_dtype_size(src->dtype);
    if (count > 0)
        memcpy((char *)dst->data + (size_t)di * size, (const char *)src->data + (size_t)si * size,
               (size_t)count * size);
}

/* ---- Concat ------------------------------------------------------------------------ */

/* Inputs[*] of one type and rank, equal but along `axis` (required from
 * opset 4, default 1 before) -> Concat_result with the axis sizes added up. */
dc_status dc_ref_Concat(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    int64_t axis;
    if (opset >= 4 && !dc_node_attr(node, "axis"))
        return dc_error(DC_ERR_INVALID, "Concat: attribute 'axis' is required");
    DC_TRY(dc_attr_i(node, "axis", 1, &axis));
    const dc_tensor *first = inputs[0];
    int a = 0;
    DC_TRY(ref_axis(node, axis, first->rank, &a));
    int64_t dims[DC_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[a] = 0;
    for (int i = 0; i < node->n_inputs; i++) {
        const dc_tensor *t = inputs[i];
        if (!t)
            return dc_error(DC_ERR_INVALID, "Concat: input %d is missing", i);
        DC_TRY(ref_same_dtype(node, first, t));
        bool ok = t->rank == first->rank;
        for (int k = 0; ok && k < t->rank; k++)
            ok = k == a || t->dims[k] == first->dims[k];
        if (!ok)
            return dc_error(DC_ERR_SHAPE, "Concat: input %d is %s but input 0 is %s (axis %d)", i,
                            ref_shape_str(t->rank, t->dims), ref_shape_str(first->rank, first->dims), a);
        dims[a] += t->dims[a];
    }
    DC_TRY(ref_new_output(node, outputs, 0, first->dtype, first->rank, dims));
    dc_tensor *y = outputs[0];
    /* y is outer blocks of [sum of axis sizes, inner]; each input adds its chunk. */
    int64_t outer = ref_span(dims, 0, a), inner = ref_span(dims, a + 1, first->rank), yi = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < node->n_inputs; i++) {
            int64_t chunk = inputs[i]->dims[a] * inner;
            copy_elems(y, yi, inputs[i], o * chunk, chunk);
            yi += chunk;
        }
    return DC_OK;
}

/* ---- Split ------------------------------------------------------------------------- */

/* Input[*] -> one output per node output, the parts along `axis` (default 0)
 * of the sizes in `split` (input 1 in opset 1 and from 13, an attribute in
 * 2..12) or equal parts when there is no (or an empty) split. */
dc_status dc_ref_Split(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    const dc_tensor *split_input = node->n_inputs > 1 ? inputs[1] : NULL;
    ref_list split = {0};
    if (opset >= 13 || (opset < 2 && split_input))
        DC_TRY(ref_list_input(node, split_input, "split", &split));
    else
        DC_TRY(ref_list_attr(node, "split", &split));
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    int a = 0;
    DC_TRY(ref_axis(node, axis, x->rank, &a));
    int k = node->n_outputs;
    int64_t sizes[REF_LIST_MAX], total = 0;
    if (split.n > 0) {
        if (split.n != k)
            return dc_error(DC_ERR_SHAPE, "Split: %d split sizes for %d outputs", split.n, k);
        for (int i = 0; i < k; i++) {
            sizes[i] = split.v[i];
            if (sizes[i] < 0 || __builtin_add_overflow(total, sizes[i], &total))
                return dc_error(DC_ERR_SHAPE, "Split: split %s is invalid", ref_shape_str(split.n, split.v));
        }
        if (total != x->dims[a])
            return dc_error(DC_ERR_SHAPE, "Split: split sizes add up to %" PRId64 ", but axis %d of %s has size %" PRId64,
                            total, a, ref_shape_str(x->rank, x->dims), x->dims[a]);
    } else {
        if (k > REF_LIST_MAX || x->dims[a] % k != 0)
            return dc_error(DC_ERR_SHAPE, "Split: axis %d of %s does not split into %d equal parts", a,
                            ref_shape_str(x->rank, x->dims), k);
        for (int i = 0; i < k; i++)
            sizes[i] = x->dims[a] / k;
    }
    int64_t outer = ref_span(x->dims, 0, a), inner = ref_span(x->dims, a + 1, x->rank), start = 0;
    for (int i = 0; i < k; start += sizes[i], i++) {
        if (!ref_wants_output(node, i))
            continue;
        int64_t dims[DC_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[a] = sizes[i];
        DC_TRY(ref_new_output(node, outputs, i, x->dtype, x->rank, dims));
        for (int64_t o = 0; o < outer; o++)
            copy_elems(outputs[i], o * sizes[i] * inner, x, (o * x->dims[a] + start) * inner,
                       sizes[i] * inner);
    }
    return DC_OK;
}

/* ---- Slice ------------------------------------------------------------------------- */

/* ONNX Slice on an axis of size dim: the first index taken and how many. Starts
 * and ends count from the back when negative and are clamped to [0, dim] for
 * positive steps and to [-1, dim-1] for negative ones. */
static void slice_range(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                        int64_t *count)
{
    start = start < 0 ? start + dim : start;
    end = end < 0 ? end + dim : end;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *first = start;
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        *first = start;
        *count = start > end ? (start - end - 1) / -step + 1 : 0;
    }
    if (dim == 0)
        *first = *count = 0;
}

/* Data[*] -> Output: along each listed axis (default 0..n-1) the elements
 * starts[i], starts[i] + steps[i], ... before ends[i]. starts/ends/axes are
 * attributes before opset 10 (no steps), inputs 1..4 after. */
dc_status dc_ref_Slice(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    ref_list starts, ends, axes, steps;
    if (opset < 10) {
        DC_TRY(ref_list_attr(node, "starts", &starts));
        DC_TRY(ref_list_attr(node, "ends", &ends));
        DC_TRY(ref_list_attr(node, "axes", &axes));
        memset(&steps, 0, sizeof steps);
    } else {
        const dc_tensor *in[5] = {NULL};
        for (int i = 1; i < 5 && i < node->n_inputs; i++)
            in[i] = inputs[i];
        DC_TRY(ref_list_input(node, in[1], "starts", &starts));
        DC_TRY(ref_list_input(node, in[2], "ends", &ends));
        DC_TRY(ref_list_input(node, in[3], "axes", &axes));
        DC_TRY(ref_list_input(node, in[4], "steps", &steps));
    }
    if (!starts.present || !ends.present || starts.n != ends.n ||
        (axes.present && axes.n != starts.n) || (steps.present && steps.n != starts.n))
        return dc_error(DC_ERR_SHAPE, "Slice: starts, ends, axes and steps must be given with one length");
    int64_t x_strides[DC_MAX_RANK], first[DC_MAX_RANK] = {0}, step[DC_MAX_RANK], dims[DC_MAX_RANK];
    bool seen[DC_MAX_RANK] = {false};
    ref_strides(x->rank, x->dims, x_strides);
    for (int k = 0; k < x->rank; k++) {
        step[k] = 1;
        dims[k] = x->dims[k];
    }
    for (int i = 0; i < starts.n; i++) {
        int a = 0;
        DC_TRY(ref_axis(node, axes.present ? axes.v[i] : i, x->rank, &a));
        if (seen[a])
            return dc_error(DC_ERR_SHAPE, "Slice: axis %d repeated in axes", a);
        seen[a] = true;
        int64_t s = steps.present ? steps.v[i] : 1;
        if (s == 0)
            return dc_error(DC_ERR_SHAPE, "Slice: step 0 on axis %d", a);
        step[a] = s < -INT64_MAX ? -INT64_MAX : s; /* so that -step exists */
        slice_range(x->dims[a], starts.v[i], ends.v[i], step[a], &first[a], &dims[a]);
    }
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, dims));
    dc_tensor *y = outputs[0];
    int64_t y_strides[DC_MAX_RANK], in_strides[DC_MAX_RANK], base = 0;
    ref_strides(y->rank, y->dims, y_strides);
    for (int k = 0; k < x->rank; k++) {
        base += first[k] * x_strides[k];
        in_strides[k] = step[k] * x_strides[k];
    }
    ref_iter it;
    ref_iter_init(&it, y->rank, y->dims);
    int iy = ref_iter_add(&it, 0, y_strides), ix = ref_iter_add(&it, base, in_strides);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it))
        ref_copy_elem(y, it.offset[iy], x, it.offset[ix]);
    return DC_OK;
}

/* ---- Gather ------------------------------------------------------------------------ */

/* Data[d0..dr-1], indices[i0..iq-1] (integers in [-d(axis), d(axis)-1]) ->
 * Output[d0..d(axis-1), i0..iq-1, d(axis+1)..d(r-1)]:
 * Output[o, j, e] = Data[o, indices[j], e]. An index out of range is an error. */
dc_status dc_ref_Gather(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *data = inputs[0], *idx = inputs[1];
    DC_TRY(ref_need_kind(node, idx, "indices", REF_KINDS_INT));
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    int a = 0;
    DC_TRY(ref_axis(node, axis, data->rank, &a));
    int rank = data->rank - 1 + idx->rank;
    if (rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Gather: data %s with indices %s gives rank %d, more than %d",
                        ref_shape_str(data->rank, data->dims), ref_shape_str(idx->rank, idx->dims),
                        rank, DC_MAX_RANK);
    int64_t dims[DC_MAX_RANK];
    int r = 0;
    for (int k = 0; k < data->rank; k++) {
        for (int j = 0; k == a && j < idx->rank; j++)
            dims[r++] = idx->dims[j];
        if (k != a)
            dims[r++] = data->dims[k];
    }
    DC_TRY(ref_new_output(node, outputs, 0, data->dtype, rank, dims));
    dc_tensor *y = outputs[0];
    int64_t outer = ref_span(data->dims, 0, a), dim = data->dims[a];
    int64_t inner = ref_span(data->dims, a + 1, data->rank);
    int64_t count = (int64_t)dc_tensor_numel(idx);
    for (int64_t j = 0; j < count; j++) {
        int64_t i = ref_get_int(idx, j);
        if (i < -dim || i >= dim)
            return dc_error(DC_ERR_INVALID, "Gather: index %" PRId64 " (element %" PRId64 ") out of range for axis %d of %s",
                            i, j, a, ref_shape_str(data->rank, data->dims));
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < count; j++) {
            int64_t i = ref_get_int(idx, j);
            i = i < 0 ? i + dim : i;
            copy_elems(y, (o * count + j) * inner, data, (o * dim + i) * inner, inner);
        }
    return DC_OK;
}
