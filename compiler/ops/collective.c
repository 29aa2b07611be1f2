/* The collective op of data-parallel training (domain ai.dinoc):
 *
 *   AllReduce(x1, ..., xn) -> (y1, ..., yn)
 *     y_k = scale · Σ over the processes of the world of x_k: the gradients
 *     of a step summed over every rank (and micro-batch) and scaled to their
 *     mean, in one bucket per node. Attributes: scale (1), world_size (1: the
 *     number of processes the step was compiled for; running it in another
 *     world is an error). float tensors; y_k has x_k's type.
 *
 *   AllReduceStart(x1, ..., xn) -> (bucket)
 *   AllReduceWait(bucket) -> (y1, ..., yn)
 *     The same sum in two steps, so that it runs while other steps do:
 *     bucket [Σ numel x_k] = Σ over the processes of the x_k flattened one
 *     after another, started by the first node and complete once the second
 *     has run; y_k [sizes[k]] = scale · the k-th part of the bucket.
 *     AllReduceStart: world_size (1); x_k of one float type. AllReduceWait:
 *     sizes (ints, adding up to the bucket's length), scale (1). Between the
 *     two, the bucket's bytes belong to the collective: only the wait reads
 *     the bucket, so memory planning keeps it live and unshared until then.
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

static dc_status infer_all_reduce_start(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    if (dc_node_attr_int(n, "world_size", 1) < 1)
        return dc_error(DC_ERR_INVALID, "AllReduceStart: world_size %lld, expected >= 1",
                        (long long)dc_node_attr_int(n, "world_size", 1));
    int64_t total = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const dc_type *t = &n->inputs[k]->type;
        if (!dc_dtype_is_float(t->dtype))
            return dc_error(DC_ERR_SHAPE, "AllReduceStart: input %d must be a float tensor, found %s",
                            k, dc_ts(t));
        DC_TRY(dc_same_dtype(n, &n->inputs[0]->type, t));
        int64_t numel = dc_type_numel(t);
        total = total >= 0 && numel >= 0 ? total + numel : -1;
    }
    n->outputs[0]->type = dc_type_ranked(n->inputs[0]->type.dtype, 1);
    if (total >= 0)
        n->outputs[0]->type.dims[0] = dc_dim_of(total);
    return DC_OK;
}

static dc_status infer_all_reduce_wait(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *bucket = &n->inputs[0]->type;
    if (!dc_dtype_is_float(bucket->dtype) || bucket->rank != 1)
        return dc_error(DC_ERR_SHAPE, "AllReduceWait: the bucket must be a 1-D float tensor, found %s",
                        dc_ts(bucket));
    int count = 0;
    const int64_t *sizes = dc_node_attr_ints(n, "sizes", &count);
    if (count != n->n_outputs)
        return dc_error(DC_ERR_INVALID, "AllReduceWait: %d sizes for %d outputs", count, n->n_outputs);
    int64_t total = 0;
    for (int k = 0; k < count; k++) {
        if (sizes[k] < 0)
            return dc_error(DC_ERR_INVALID, "AllReduceWait: size %lld of output %d",
                            (long long)sizes[k], k);
        total += sizes[k];
        n->outputs[k]->type = dc_type_make(bucket->dtype, 1, &sizes[k]);
    }
    if (dc_dim_known(bucket->dims[0]) && bucket->dims[0].size != total)
        return dc_error(DC_ERR_SHAPE, "AllReduceWait: the sizes add up to %lld, the bucket is %s",
                        (long long)total, dc_ts(bucket));
    return DC_OK;
}

const dc_op_schema dc_op_AllReduceStart = {
    .name = "AllReduceStart", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_all_reduce_start,
    .reference = dc_ref_AllReduceStart,
    .in_place_inputs = 1u << 0, /* one tensor is its own bucket */
};

const dc_op_schema dc_op_AllReduceWait = {
    .name = "AllReduceWait", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = -1,
    .infer = infer_all_reduce_wait,
    .reference = dc_ref_AllReduceWait,
    .in_place_inputs = 1u << 0, /* a bucket of one tensor becomes its sum */
};

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
