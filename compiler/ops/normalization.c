/* Softmax, LogSoftmax and LayerNormalization: the output has the input's
 * shape; LayerNormalization also returns the per-row mean and 1/stddev. */
#include <inttypes.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* Softmax/LogSoftmax: before opset 13 the input was coerced to 2-D at `axis`
 * (default 1); from 13 it is one axis (default -1). The shape is unchanged
 * either way, so only the axis is checked. */
static dc_status infer_softmax(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    const dc_type *x = &n->inputs[0]->type;
    DC_TRY(dc_need_float(n, x, "input"));
    int64_t axis;
    int a = 0;
    DC_TRY(dc_attr_i(n, "axis", opset < 13 ? 1 : -1, &axis));
    if (x->rank >= 0)
        DC_TRY(dc_norm_axis(n, axis, x->rank, &a));
    n->outputs[0]->type = *x;
    return DC_OK;
}

/* LayerNormalization (opset 17): X[d0..dr-1] normalised over axes axis..r-1.
 * Scale and B broadcast to X[axis:]; Mean and InvStdDev are
 * X[:axis] + [1]*(r-axis) in the `stash_type` element type. */
static dc_status infer_layer_norm(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    if (opset < 17)
        return dc_error(DC_ERR_UNSUPPORTED, "LayerNormalization needs opset 17, the graph imports %" PRId64,
                        opset);
    const dc_type *x = &n->inputs[0]->type;
    DC_TRY(dc_need_float(n, x, "X"));
    int64_t axis, stash;
    DC_TRY(dc_attr_i(n, "axis", -1, &axis));
    DC_TRY(dc_attr_i(n, "stash_type", DC_F32, &stash));
    if (stash != (int)stash || !dc_dtype_valid((int)stash) || !dc_dtype_is_float((dc_dtype)stash))
        return dc_error(DC_ERR_INVALID, "LayerNormalization: stash_type %" PRId64 " is not a float type",
                        stash);
    dc_type stats = dc_type_unknown((dc_dtype)stash);
    if (x->rank >= 0) {
        int a = 0;
        DC_TRY(dc_norm_axis(n, axis, x->rank, &a));
        dc_type normalized = {.rank = x->rank - a};
        for (int i = 0; i < x->rank; i++) {
            if (i >= a)
                normalized.dims[i - a] = x->dims[i];
            stats.dims[i] = i < a ? x->dims[i] : dc_dim_of(1);
        }
        stats.rank = x->rank;
        for (int i = 1; i < 3; i++) {
            const dc_value *p = dc_opt_input(n, i);
            if (p)
                DC_TRY(dc_check_broadcast_to(n, &p->type, &normalized, i == 1 ? "Scale" : "B"));
        }
    }
    for (int i = 1; i < 3; i++)
        if (dc_opt_input(n, i))
            DC_TRY(dc_same_dtype(n, x, &n->inputs[i]->type));
    n->outputs[0]->type = *x;
    for (int i = 1; i < n->n_outputs; i++)
        if (n->outputs[i])
            n->outputs[i]->type = stats;
    return DC_OK;
}

const dc_op_schema dc_op_Softmax = {
    .name = "Softmax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_softmax,
    .reference = dc_ref_Softmax,
    .gradient = dc_grad_Softmax,
    .in_place_inputs = 1u << 0, /* oneDNN's and c.*'s kernels read a row before writing it */
};
const dc_op_schema dc_op_LogSoftmax = {
    .name = "LogSoftmax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_softmax,
    .reference = dc_ref_LogSoftmax,
    .gradient = dc_grad_LogSoftmax,
    .in_place_inputs = 1u << 0, /* oneDNN's and c.*'s kernels read a row before writing it */
};
const dc_op_schema dc_op_LayerNormalization = {
    .name = "LayerNormalization", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 3,
    .infer = infer_layer_norm,
    .reference = dc_ref_LayerNormalization,
    .gradient = dc_grad_LayerNormalization,
};
