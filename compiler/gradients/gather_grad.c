/* Gradients of Gather and of its adjoint ScatterAdd (ai.dinoc).
 *
 * Gather moves slices of x along `axis`; its gradient sends each slice of dy
 * back where it came from, adding where an index repeats: ScatterAdd. This
 * one path serves constant and data-dependent indices alike (the iBOT loss
 * gathers masked patch tokens by indices of the step): the earlier one-hot
 * matmul for constant indices cost O(indices x axis length) per row and a
 * constant as large, ScatterAdd costs one pass over dy and dx. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* y = Gather(x, indices, axis):  dx = ScatterAdd(x, indices, dy, axis)  (x: shape only). */
DG_RULE(Gather)
{
    (void)needs;
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    dc_value *in[] = {node->inputs[0], node->inputs[1], dy[0]};
    dc_node *n = dg_dinoc_node(g, "ScatterAdd", in, 3, 1);
    if (n)
        DC_TRY(dc_node_set_int(n, g, "axis", axis));
    dx[0] = dc_node_finish(g, n);
    return DC_OK;
}

/* y = ScatterAdd(like, indices, updates, axis):  d updates = Gather(dy, indices, axis);
 * `like` only gives the shape (no gradient), indices are integers. */
DG_RULE(ScatterAdd)
{
    int64_t axis;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis));
    if (needs[2])
        dx[2] = dc_gather(g, dy[0], node->inputs[1], axis);
    return DC_OK;
}
