/* The collective op of data-parallel training (domain ai.dinoc):
 *
 *   AllReduce(x1, ..., xn) -> (y1, ..., yn)
 *     y_k = scale · Σ over the processes of the world of x_k: the gradients
 *     of a step summed over every rank (and micro-batch) and scaled to their
 *     mean, in one bucket per node. Attributes: scale (1), world_size (1: the
 *     number of processes the step was compiled for; running it in another
 *     world is an error). float tensors; y_k has x_k's type.
 *
 *   AllGather(x1, ..., xn) -> (y1, ..., yn)
 *     y_k = x_k of process owners[k]: the parameters after a sharded
 *     optimizer step, where each process updated the ones it owns (ZeRO
 *     stage 1). Attributes: owners (ints, one rank per input), world_size.
 *
 * They have no gradient rules: they are made after autodiff. */
#include "ops/infer_util.h"
#include "reference/collective.h"

static dc_status infer_all_reduce(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    if (n->n_outputs != n->n_inputs)
        return dc_error(DC_ERR_INVALID, "AllReduce: %d inputs and %d outputs, expected as many "
                        "outputs as inputs", n->n_inputs, n->n_outputs);
    if (dc_node_attr_int(n, "world_size", 1) < 1)
        return dc_error(DC_ERR_INVALID, "AllReduce: world_size %lld, expected >= 1",
                        (long long)dc_node_attr_int(n, "world_size", 1));
    for (int k = 0; k < n->n_inputs; k++) {
        if (!dc_dtype_is_float(n->inputs[k]->type.dtype))
            return dc_error(DC_ERR_SHAPE, "AllReduce: input %d must be a float tensor, found %s", k,
                            dc_ts(&n->inputs[k]->type));
        n->outputs[k]->type = n->inputs[k]->type;
    }
    return DC_OK;
}

static dc_status infer_all_gather(dc_graph *g, dc_node *n, int64_t opset)
{
    DC_TRY(infer_all_reduce(g, n, opset));
    int count = 0;
    const int64_t *owners = dc_node_attr_ints(n, "owners", &count);
    int64_t world = dc_node_attr_int(n, "world_size", 1);
    if (count != n->n_inputs)
        return dc_error(DC_ERR_INVALID, "AllGather: %d owners for %d inputs", count, n->n_inputs);
    for (int k = 0; k < count; k++)
        if (owners[k] < 0 || owners[k] >= world)
            return dc_error(DC_ERR_INVALID, "AllGather: owner %lld of input %d is not a rank of %lld",
                            (long long)owners[k], k, (long long)world);
    return DC_OK;
}

const dc_op_schema dc_op_AllGather = {
    .name = "AllGather", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = -1,
    .infer = infer_all_gather,
    .reference = dc_ref_AllGather,
};

const dc_op_schema dc_op_AllReduce = {
    .name = "AllReduce", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = -1,
    .infer = infer_all_reduce,
    .reference = dc_ref_AllReduce,
};
