/* Ops that select or join parts of tensors along axes: Concat, Split, Slice,
 * Gather. Concat, Slice and Gather fold small integer constants, the pieces
 * of torch's shape arithmetic. */
#include <inttypes.h>
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* Product of dims [lo, hi) of a static type (small: the caller checked its numel). */
static int64_t span(const dc_type *t, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++)
        p *= t->dims[i].size;
    return p;
}

/* ---- Concat ----------------------------------------------------------------- */

/* Joins the foldable inputs along axis a into output 0. */
static dc_status fold_concat(dc_graph *g, dc_node *n, int a)
{
    const dc_type *out = &n->outputs[0]->type;
    int64_t numel = dc_small_numel(out), vals[DC_FOLD_MAX], k = 0;
    if (numel < 0)
        return DC_OK;
    for (int i = 0; i < n->n_inputs; i++)
        if (!dc_foldable(n->inputs[i]))
            return DC_OK;
    int64_t outer = span(out, 0, a), inner = span(out, a + 1, out->rank);
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n->n_inputs; i++) {
            const dc_tensor *c = n->inputs[i]->constant;
            int64_t chunk = c->dims[a] * inner;
            for (int64_t e = 0; e < chunk; e++)
                vals[k++] = dc_tensor_get_i64(c, (uint64_t)(o * chunk + e));
        }
    return dc_fold_store(g, n->outputs[0], vals);
}

/* Merges input i (type t) into out: the non-axis dims must agree with the
 * first ranked input (number f), the axis dims add up. */
static dc_status concat_merge(const dc_node *n, int i, int f, int a, dc_type *out)
{
    const dc_type *t = &n->inputs[i]->type;
    for (int d = 0; d < out->rank; d++) {
        dc_dim have = out->dims[d], in = t->dims[d];
        if (d == a) {
            if (dc_dim_known(have) && dc_dim_known(in) &&
                __builtin_add_overflow(have.size, in.size, &out->dims[d].size))
                return dc_error(DC_ERR_SHAPE, "Concat: axis %d size overflows", a);
            if (!dc_dim_known(have) || !dc_dim_known(in))
                out->dims[d] = dc_dim_any();
        } else if (dc_dim_known(have) && dc_dim_known(in) && have.size != in.size) {
            return dc_error(DC_ERR_SHAPE, "Concat: input %d is %s but input %d is %s: axis %d differs",
                            i, dc_ts(t), f, dc_ts(&n->inputs[f]->type), d);
        } else if (!dc_dim_known(have)) {
            out->dims[d] = in; /* a static size (or symbol) is more than nothing */
        }
    }
    return DC_OK;
}

/* Concat: inputs of one type and rank, joined along `axis` (required from
 * opset 4; 1 before). */
static dc_status infer_concat(dc_graph *g, dc_node *n, int64_t opset)
{
    int64_t axis;
    if (opset >= 4 && !dc_node_attr(n, "axis"))
        return dc_error(DC_ERR_INVALID, "Concat: attribute 'axis' is required");
    DC_TRY(dc_attr_i(n, "axis", 1, &axis));
    const dc_type *first = NULL;
    int first_i = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        if (!n->inputs[i])
            return dc_error(DC_ERR_INVALID, "Concat: input %d is missing", i);
        const dc_type *t = &n->inputs[i]->type;
        DC_TRY(dc_same_dtype(n, &n->inputs[0]->type, t));
        if (t->rank >= 0 && first && t->rank != first->rank)
            return dc_error(DC_ERR_SHAPE, "Concat: input %d is %s but input %d is %s: ranks differ",
                            i, dc_ts(t), first_i, dc_ts(first));
        if (t->rank >= 0 && !first) {
            first = t;
            first_i = i;
        }
    }
    dc_value *y = n->outputs[0];
    y->type = dc_type_unknown(n->inputs[0]->type.dtype);
    for (int i = 0; i < n->n_inputs && y->type.dtype == DC_UNDEFINED; i++)
        y->type.dtype = n->inputs[i]->type.dtype;
    if (!first)
        return DC_OK;
    int a = 0;
    DC_TRY(dc_norm_axis(n, axis, first->rank, &a));
    dc_type out = *first;
    out.dtype = y->type.dtype;
    for (int i = first_i + 1; i < n->n_inputs; i++) {
        const dc_type *t = &n->inputs[i]->type;
        if (t->rank < 0)
            out.dims[a] = dc_dim_any(); /* its share of the axis is unknown */
        else
            DC_TRY(concat_merge(n, i, first_i, a, &out));
    }
    if (first_i > 0)
        out.dims[a] = dc_dim_any();
    y->type = out;
    return fold_concat(g, n, a);
}

/* ---- Split ------------------------------------------------------------------ */

/* Split: the sizes along `axis` come from `split` (input 1 in opset 1 and from
 * 13, an attribute in 2..12) or are equal parts, one per output (opset 17 has
 * no num_outputs attribute). */
static dc_status infer_split(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    bool as_input = opset >= 13 || opset < 2;
    DC_TRY(dc_check_inputs(n, 1, as_input ? 2 : 1, opset));
    if (opset >= 13)
        DC_TRY(dc_attr_moved(n, "split", 1, opset));
    dc_ints split;
    DC_TRY(as_input ? dc_ints_input(n, 1, &split) : dc_ints_attr(n, "split", &split));
    if (opset < 2 && !split.present)
        DC_TRY(dc_ints_attr(n, "split", &split));
    if (split.n == 0)
        split = (dc_ints){.n = -1}; /* an empty list means equal parts, as in ONNX Runtime */
    int64_t axis;
    DC_TRY(dc_attr_i(n, "axis", 0, &axis));
    const dc_type *x = &n->inputs[0]->type;
    int k = n->n_outputs, a = 0;
    if (x->rank >= 0)
        DC_TRY(dc_norm_axis(n, axis, x->rank, &a));
    if (split.n >= 0 && split.n != k)
        return dc_error(DC_ERR_SHAPE, "Split: %" PRId64 " split sizes for %d outputs", split.n, k);
    dc_dim dim = x->rank >= 0 ? x->dims[a] : dc_dim_any();
    if (!split.present && dc_dim_known(dim) && dim.size % k != 0)
        return dc_error(DC_ERR_SHAPE, "Split: axis %d of %s (size %" PRId64 ") does not split into %d equal parts",
                        a, dc_ts(x), dim.size, k);
    int64_t total = 0;
    for (int i = 0; i < k; i++) {
        dc_dim part = dc_dim_any();
        if (split.known) {
            part = dc_dim_of(dc_ints_at(&split, i));
            if (part.size < 0 || __builtin_add_overflow(total, part.size, &total))
                return dc_error(DC_ERR_SHAPE, "Split: split[%d] = %" PRId64 " is invalid", i, part.size);
        } else if (!split.present && dc_dim_known(dim)) {
            part = dc_dim_of(dim.size / k);
        }
        if (n->outputs[i]) {
            n->outputs[i]->type = *x;
            if (x->rank >= 0)
                n->outputs[i]->type.dims[a] = part;
        }
    }
    if (split.known && dc_dim_known(dim) && total != dim.size)
        return dc_error(DC_ERR_SHAPE, "Split: split sizes add up to %" PRId64 ", but axis %d of %s has size %" PRId64,
                        total, a, dc_ts(x), dim.size);
    return DC_OK;
}

/* ---- Slice ------------------------------------------------------------------ */

/* Slice's inputs: attributes before opset 10, inputs 1..4 (steps new) after. */
typedef struct slice_args {
    dc_ints starts, ends, axes, steps;
} slice_args;

static dc_status read_slice_args(const dc_node *n, int64_t opset, slice_args *s)
{
    memset(s, 0, sizeof *s);
    s->steps.n = -1;
    if (opset < 10) {
        DC_TRY(dc_check_inputs(n, 1, 1, opset));
        DC_TRY(dc_ints_attr(n, "starts", &s->starts));
        DC_TRY(dc_ints_attr(n, "ends", &s->ends));
        DC_TRY(dc_ints_attr(n, "axes", &s->axes));
        if (!s->starts.present || !s->ends.present)
            return dc_error(DC_ERR_INVALID, "Slice: attributes 'starts' and 'ends' are required before opset 10");
    } else {
        DC_TRY(dc_check_inputs(n, 3, 5, opset));
        DC_TRY(dc_attr_moved(n, "starts", 1, opset));
        DC_TRY(dc_attr_moved(n, "ends", 2, opset));
        DC_TRY(dc_ints_input(n, 1, &s->starts));
        DC_TRY(dc_ints_input(n, 2, &s->ends));
        DC_TRY(dc_ints_input(n, 3, &s->axes));
        DC_TRY(dc_ints_input(n, 4, &s->steps));
    }
    int64_t count = s->starts.n >= 0 ? s->starts.n : s->ends.n;
    const dc_ints *lists[] = {&s->starts, &s->ends, &s->axes, &s->steps};
    for (int i = 0; i < 4; i++)
        if (count >= 0 && lists[i]->n >= 0 && lists[i]->n != count)
            return dc_error(DC_ERR_SHAPE, "Slice: starts, ends, axes and steps differ in length (%" PRId64 " vs %" PRId64 ")",
                            count, lists[i]->n);
    return DC_OK;
}

/* ONNX Slice on an axis of size dim: the first index taken and the count. */
static void slice_range(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                        int64_t *count)
{
    start = start < 0 ? start + dim : start;
    end = end < 0 ? end + dim : end;
    if (dim == 0) {
        *first = *count = 0;
    } else if (step > 0) {
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
}

/* Copies the selected elements of the foldable input into output 0. */
static dc_status fold_slice(dc_graph *g, dc_node *n, const int64_t *first, const int64_t *step)
{
    const dc_value *x = n->inputs[0];
    const dc_type *out = &n->outputs[0]->type;
    int64_t numel = dc_small_numel(out), vals[DC_FOLD_MAX];
    if (!dc_foldable(x) || numel < 0)
        return DC_OK;
    for (int64_t e = 0; e < numel; e++) {
        int64_t rest = e, offset = 0, stride = 1;
        for (int d = out->rank - 1; d >= 0; d--) {
            int64_t i = rest % out->dims[d].size;
            rest /= out->dims[d].size;
            offset += (first[d] + i * step[d]) * stride;
            stride *= x->type.dims[d].size;
        }
        vals[e] = dc_tensor_get_i64(x->constant, (uint64_t)offset);
    }
    return dc_fold_store(g, n->outputs[0], vals);
}

/* Slice with every list known: each listed axis gets its clamped range. */
static dc_status slice_known(dc_graph *g, dc_node *n, const slice_args *s, dc_type *out)
{
    int64_t first[DC_MAX_RANK] = {0}, step[DC_MAX_RANK];
    bool seen[DC_MAX_RANK] = {false};
    for (int d = 0; d < DC_MAX_RANK; d++)
        step[d] = 1;
    for (int64_t i = 0; i < s->starts.n; i++) {
        int a = 0;
        DC_TRY(dc_norm_axis(n, s->axes.present ? dc_ints_at(&s->axes, i) : i, out->rank, &a));
        if (seen[a])
            return dc_error(DC_ERR_SHAPE, "Slice: axis %d repeated in axes", a);
        seen[a] = true;
        int64_t st = s->steps.present ? dc_ints_at(&s->steps, i) : 1;
        int64_t b = dc_ints_at(&s->starts, i), e = dc_ints_at(&s->ends, i), count;
        if (st == 0)
            return dc_error(DC_ERR_SHAPE, "Slice: step 0 on axis %d", a);
        step[a] = st < -INT64_MAX ? -INT64_MAX : st; /* so that -step exists */
        dc_dim dim = out->dims[a];
        if (dc_dim_known(dim)) {
            slice_range(dim.size, b, e, step[a], &first[a], &count);
            out->dims[a] = dc_dim_of(count);
        } else if (!(b == 0 && st == 1 && e >= INT32_MAX)) {
            out->dims[a] = dc_dim_any(); /* [0:INT_MAX] keeps even a symbolic dim */
        }
    }
    return fold_slice(g, n, first, step);
}

static dc_status infer_slice(dc_graph *g, dc_node *n, int64_t opset)
{
    slice_args s;
    DC_TRY(read_slice_args(n, opset, &s));
    const dc_type *x = &n->inputs[0]->type;
    dc_value *y = n->outputs[0];
    y->type = *x;
    if (x->rank < 0)
        return DC_OK;
    if (s.starts.known && s.ends.known && (!s.axes.present || s.axes.known) &&
        (!s.steps.present || s.steps.known))
        return slice_known(g, n, &s, &y->type);
    /* Some list is not known: the listed axes (all, if those are not known) are. */
    bool mask[DC_MAX_RANK] = {false};
    if (s.axes.known)
        DC_TRY(dc_norm_axes(n, &s.axes, x->rank, mask));
    for (int d = 0; d < x->rank; d++)
        if (mask[d] || !s.axes.known)
            y->type.dims[d] = dc_dim_any();
    return DC_OK;
}

/* ---- Gather ----------------------------------------------------------------- */

/* out[o, j, k] = data[o, indices[j], k] with o over data[:axis], j over the
 * indices, k over data[axis+1:]. */
static dc_status fold_gather(dc_graph *g, dc_node *n, int a)
{
    const dc_value *data = n->inputs[0], *idx = n->inputs[1];
    const dc_type *out = &n->outputs[0]->type;
    int64_t numel = dc_small_numel(out), vals[DC_FOLD_MAX], k = 0;
    if (!dc_foldable(data) || !dc_foldable(idx) || numel < 0)
        return DC_OK;
    int64_t outer = span(&data->type, 0, a), dim = data->type.dims[a].size;
    int64_t inner = span(&data->type, a + 1, data->type.rank);
    int64_t count = (int64_t)dc_tensor_numel(idx->constant);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < count; j++) {
            int64_t i = dc_tensor_get_i64(idx->constant, (uint64_t)j);
            i = i < 0 ? i + dim : i;
            for (int64_t e = 0; e < inner; e++)
                vals[k++] = dc_tensor_get_i64(data->constant, (uint64_t)((o * dim + i) * inner + e));
        }
    return dc_fold_store(g, n->outputs[0], vals);
}

/* Known indices must lie in [-dim, dim-1] of the gathered axis. */
static dc_status check_indices(const dc_node *n, int a)
{
    const dc_type *data = &n->inputs[0]->type;
    const dc_tensor *c = n->inputs[1]->constant;
    int64_t dim = data->dims[a].size;
    for (uint64_t j = 0; j < dc_tensor_numel(c); j++) {
        int64_t i = dc_tensor_get_i64(c, j);
        if (i < -dim || i >= dim)
            return dc_error(DC_ERR_SHAPE, "Gather: index %" PRId64 " out of range for axis %d of %s",
                            i, a, dc_ts(data));
    }
    return DC_OK;
}

/* Gather: data[d0..dr-1] and indices[i0..iq-1] -> data[:axis] + indices + data[axis+1:]. */
static dc_status infer_gather(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)opset;
    const dc_type *data = &n->inputs[0]->type, *idx = &n->inputs[1]->type;
    DC_TRY(dc_need_integer(n, idx, "indices"));
    int64_t axis;
    DC_TRY(dc_attr_i(n, "axis", 0, &axis));
    dc_value *y = n->outputs[0];
    y->type = dc_type_unknown(data->dtype);
    int a = 0;
    if (data->rank >= 0)
        DC_TRY(dc_norm_axis(n, axis, data->rank, &a));
    if (data->rank < 0 || idx->rank < 0)
        return DC_OK;
    if (data->rank - 1 + idx->rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Gather: data %s with indices %s gives rank %d, more than %d",
                        dc_ts(data), dc_ts(idx), data->rank - 1 + idx->rank, DC_MAX_RANK);
    dc_type out = {.dtype = data->dtype};
    for (int d = 0; d < data->rank; d++) {
        for (int j = 0; d == a && j < idx->rank; j++)
            out.dims[out.rank++] = idx->dims[j];
        if (d != a)
            out.dims[out.rank++] = data->dims[d];
    }
    y->type = out;
    if (dc_dim_known(data->dims[a]) && dc_foldable(n->inputs[1]))
        DC_TRY(check_indices(n, a));
    return fold_gather(g, n, a);
}

const dc_op_schema dc_op_Concat = {
    .name = "Concat", .domain = "",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_concat,
    .reference = dc_ref_Concat,
    .gradient = dc_grad_Concat,
};
static const char *const static_inputs_Split[] = {NULL, "split"};
const dc_op_schema dc_op_Split = {
    .name = "Split", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = -1,
    .infer = infer_split,
    .reference = dc_ref_Split,
    .gradient = dc_grad_Split,
    .static_inputs = static_inputs_Split, .n_static_inputs = 2,
};
static const char *const static_inputs_Slice[] = {NULL, "starts", "ends", "axes", "steps"};
const dc_op_schema dc_op_Slice = {
    .name = "Slice", .domain = "",
    .min_inputs = 1, .max_inputs = 5, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_slice,
    .reference = dc_ref_Slice,
    .gradient = dc_grad_Slice,
    .static_inputs = static_inputs_Slice, .n_static_inputs = 5,
};
const dc_op_schema dc_op_Gather = {
    .name = "Gather", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_gather,
    .reference = dc_ref_Gather,
    .gradient = dc_grad_Gather,
};
