/* Gradients of the data-movement ops: views, Transpose, Concat, Split, Slice,
 * Expand (Gather's is in gather_grad.c). */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* Reshape, Flatten, Squeeze, Unsqueeze, Identity: the same bytes in another
 * shape. */
DG_RULE(View)
{
    (void)needs;
    dx[0] = dg_reshape_like(g, dy[0], node->inputs[0]);
    return DC_OK;
}

DG_RULE(Transpose)
{
    (void)needs;
    int rank = node->inputs[0]->type.rank, count;
    const int64_t *perm = dc_node_attr_ints(node, "perm", &count);
    int64_t inverse[DC_MAX_RANK];
    for (int i = 0; i < rank; i++) /* default perm reverses the axes */
        inverse[perm ? perm[i] : rank - 1 - i] = i;
    dx[0] = dc_transpose(g, dy[0], inverse, rank);
    return DC_OK;
}

/* Each input gets its slab of dy along the concat axis. */
DG_RULE(Concat)
{
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    int rank = node->outputs[0]->type.rank;
    if (axis < 0)
        axis += rank;
    int64_t start = 0;
    for (int i = 0; i < node->n_inputs; i++) {
        int64_t len = node->inputs[i]->type.dims[axis].size;
        if (needs[i])
            dx[i] = dc_slice(g, dy[0], axis, start, start + len);
        start += len;
    }
    return DC_OK;
}

/* A zero tensor shaped like v. */
static dc_value *zeros_like(dc_graph *g, const dc_value *v)
{
    int64_t dims[DC_MAX_RANK];
    int rank = dg_dims(v, dims);
    return dc_expand(g, dg_scalar_like(g, v, 0), dims, rank);
}

/* Outputs' gradients concatenated back; outputs the loss ignores give zeros. */
DG_RULE(Split)
{
    (void)needs;
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    dc_value *parts[node->n_outputs];
    for (int i = 0; i < node->n_outputs; i++)
        parts[i] = dy[i] ? dy[i] : zeros_like(g, node->outputs[i]);
    dx[0] = dc_concat(g, parts, node->n_outputs, axis);
    return DC_OK;
}

/* Slice with unit steps: dy padded with zeros back to x's extent, one axis at
 * a time (Concat of zero blocks before and after). */
DG_RULE(Slice)
{
    (void)needs;
    dc_value *x = node->inputs[0];
    dc_ints starts, ends, axes, steps;
    if (node->n_inputs == 1) { /* before opset 10: attributes, unit steps */
        DC_TRY(dc_ints_attr(node, "starts", &starts));
        DC_TRY(dc_ints_attr(node, "ends", &ends));
        DC_TRY(dc_ints_attr(node, "axes", &axes));
        steps = (dc_ints){0};
    } else {
        DC_TRY(dc_ints_input(node, 1, &starts));
        DC_TRY(dc_ints_input(node, 2, &ends));
        DC_TRY(dc_ints_input(node, 3, &axes));
        DC_TRY(dc_ints_input(node, 4, &steps));
    }
    if (!starts.known || !ends.known || (axes.present && !axes.known) || (steps.present && !steps.known))
        return dc_error(DC_ERR_UNSUPPORTED, "Slice gradient: starts/ends/axes/steps must be constants");
    int rank = x->type.rank;
    dc_value *grad = dy[0];
    for (int64_t i = 0; i < starts.n; i++) {
        int axis;
        DC_TRY(dc_norm_axis(node, axes.present ? dc_ints_at(&axes, i) : i, rank, &axis));
        if (steps.present && dc_ints_at(&steps, i) != 1)
            return dc_error(DC_ERR_UNSUPPORTED, "Slice gradient: only unit steps are supported");
        int64_t dim = x->type.dims[axis].size, start = dc_ints_at(&starts, i);
        start = start < 0 ? start + dim : start;
        start = start < 0 ? 0 : start > dim ? dim : start;
        int64_t len = grad->type.dims[axis].size, after = dim - start - len;
        dc_value *pieces[3];
        int n = 0;
        int64_t dims[DC_MAX_RANK];
        dg_dims(grad, dims);
        if (start > 0) {
            dims[axis] = start;
            pieces[n++] = dc_expand(g, dg_scalar_like(g, grad, 0), dims, rank);
        }
        pieces[n++] = grad;
        if (after > 0) {
            dims[axis] = after;
            pieces[n++] = dc_expand(g, dg_scalar_like(g, grad, 0), dims, rank);
        }
        grad = n > 1 ? dc_concat(g, pieces, n, axis) : grad;
    }
    dx[0] = grad;
    return DC_OK;
}

DG_RULE(Expand)
{
    (void)needs;
    dx[0] = dg_unbroadcast(g, dy[0], node->inputs[0]);
    return DC_OK;
}
