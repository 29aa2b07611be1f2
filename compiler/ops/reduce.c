/* Reductions (ReduceMean/Sum/Max/Min) and ArgMax/ArgMin. Reduced axes are
 * kept as 1 (keepdims=1, the default) or removed. */
#include <inttypes.h>
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* Input rank `x` with the axes in `mask` kept as 1 or removed. */
static dc_type reduce_shape(const dc_type *x, const bool mask[DC_MAX_RANK], bool keepdims)
{
    dc_type out = {.dtype = x->dtype};
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i])
            out.dims[out.rank++] = x->dims[i];
        else if (keepdims)
            out.dims[out.rank++] = dc_dim_of(1);
    }
    return out;
}

/* The opset from which `axes` is input 1 instead of an attribute: 13 for
 * ReduceSum, 18 for the others (so through opset 17 they keep the attribute). */
static int64_t axes_input_since(const dc_node *n)
{
    return strcmp(n->op_type, "ReduceSum") == 0 ? 13 : 18;
}

static dc_status infer_reduce(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    bool from_input = opset >= axes_input_since(n);
    DC_TRY(dc_check_inputs(n, 1, from_input ? 2 : 1, opset));
    const dc_type *x = &n->inputs[0]->type;
    int64_t keepdims, noop = 0;
    DC_TRY(dc_attr_i(n, "keepdims", 1, &keepdims));
    if (from_input) {
        DC_TRY(dc_attr_moved(n, "axes", 1, opset));
        DC_TRY(dc_attr_i(n, "noop_with_empty_axes", 0, &noop));
    }
    dc_ints axes;
    DC_TRY(from_input ? dc_ints_input(n, 1, &axes) : dc_ints_attr(n, "axes", &axes));
    dc_value *y = n->outputs[0];
    if (!axes.present)
        axes = (dc_ints){.present = false, .known = true, .n = 0};
    if (x->rank < 0 || (axes.n == 0 && noop)) { /* empty axes + noop: Identity */
        y->type = *x;
        return DC_OK;
    }
    bool mask[DC_MAX_RANK];
    if (axes.n == 0) {
        for (int i = 0; i < DC_MAX_RANK; i++)
            mask[i] = true; /* no axes: reduce them all */
    } else if (axes.known) {
        DC_TRY(dc_norm_axes(n, &axes, x->rank, mask));
    } else {
        /* Axes not known: which dims go is unknown; the rank is known when
         * they are kept or when the number of axes is. */
        if (axes.n > x->rank)
            return dc_error(DC_ERR_SHAPE, "%s: %" PRId64 " axes for rank %d", n->op_type, axes.n,
                            x->rank);
        int rank = keepdims ? x->rank : axes.n >= 0 ? x->rank - (int)axes.n : -1;
        y->type = dc_type_ranked(x->dtype, rank);
        return DC_OK;
    }
    y->type = reduce_shape(x, mask, keepdims != 0);
    return DC_OK;
}

/* ArgMax/ArgMin: one axis (default 0), int64 indices. */
static dc_status infer_arg(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *x = &n->inputs[0]->type;
    int64_t axis, keepdims;
    DC_TRY(dc_attr_i(n, "axis", 0, &axis));
    DC_TRY(dc_attr_i(n, "keepdims", 1, &keepdims));
    dc_value *y = n->outputs[0];
    y->type = dc_type_unknown(DC_I64);
    if (x->rank < 0)
        return DC_OK;
    int a = 0;
    DC_TRY(dc_norm_axis(n, axis, x->rank, &a));
    bool mask[DC_MAX_RANK] = {false};
    mask[a] = true;
    y->type = reduce_shape(x, mask, keepdims != 0);
    y->type.dtype = DC_I64;
    return DC_OK;
}

static const char *const static_inputs_ReduceMean[] = {NULL, "axes"};
const dc_op_schema dc_op_ReduceMean = {
    .name = "ReduceMean", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_reduce,
    .reference = dc_ref_ReduceMean,
    .gradient = dc_grad_ReduceMean,
    .static_inputs = static_inputs_ReduceMean, .n_static_inputs = 2,
};
static const char *const static_inputs_ReduceSum[] = {NULL, "axes"};
const dc_op_schema dc_op_ReduceSum = {
    .name = "ReduceSum", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_reduce,
    .reference = dc_ref_ReduceSum,
    .gradient = dc_grad_ReduceSum,
    .static_inputs = static_inputs_ReduceSum, .n_static_inputs = 2,
};
static const char *const static_inputs_ReduceMax[] = {NULL, "axes"};
const dc_op_schema dc_op_ReduceMax = {
    .name = "ReduceMax", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_reduce,
    .reference = dc_ref_ReduceMax,
    .gradient = dc_grad_ReduceExtreme,
    .static_inputs = static_inputs_ReduceMax, .n_static_inputs = 2,
};
static const char *const static_inputs_ReduceMin[] = {NULL, "axes"};
const dc_op_schema dc_op_ReduceMin = {
    .name = "ReduceMin", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_reduce,
    .reference = dc_ref_ReduceMin,
    .gradient = dc_grad_ReduceExtreme,
    .static_inputs = static_inputs_ReduceMin, .n_static_inputs = 2,
};
const dc_op_schema dc_op_ArgMax = {
    .name = "ArgMax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_arg,
    .reference = dc_ref_ArgMax,
};
const dc_op_schema dc_op_ArgMin = {
    .name = "ArgMin", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_arg,
    .reference = dc_ref_ArgMin,
};
