/* Reference AllReduce: the sum over the processes of the world (dc_world.h;
 * one process without a launcher), then the scale, in double. The reference
 * AllReduceStart sums the packed bucket at once (in double), so
 * AllReduceWait only cuts it into its parts and scales them. Reference
 * AllGather: every tensor as its owner has it. */
#include "reference/collective.h"

#include <stdlib.h>

#include "dc_world.h"
#include "reference/ref_util.h"

dc_status dc_ref_AllReduce(const dc_node *node, int64_t opset, dc_tensor *const *in, dc_tensor **out)
{
    (void)opset;
    int64_t world = dc_node_attr_int(node, "world_size", 1);
    if (world != dc_world_size())
        return dc_error(DC_ERR_INVALID, "AllReduce '%s': made for %lld processes, running in %d",
                        node->name, (long long)world, dc_world_size());
    double scale = dc_node_attr_float(node, "scale", 1.0f);
    for (int k = 0; k < node->n_outputs; k++) {
        int64_t n = (int64_t)dc_tensor_numel(in[k]);
        double *sum = malloc((size_t)(n ? n : 1) * sizeof *sum);
        if (!sum)
            return dc_error(DC_ERR_NOMEM, "AllReduce '%s': %lld elements", node->name, (long long)n);
        for (int64_t i = 0; i < n; i++)
            sum[i] = ref_get(in[k], i);
        dc_status s = dc_world_allreduce_f64(sum, n);
        if (s == DC_OK)
            s = dc_tensor_clone(&out[k], in[k]);
        for (int64_t i = 0; s == DC_OK && i < n; i++)
            ref_set(out[k], i, scale * sum[i]);
        free(sum);
        DC_TRY(s);
    }
    return DC_OK;
}

dc_status dc_ref_AllReduceStart(const dc_node *node, int64_t opset, dc_tensor *const *in,
                                dc_tensor **out)
{
    (void)opset;
    int64_t world = dc_node_attr_int(node, "world_size", 1);
    if (world != dc_world_size())
        return dc_error(DC_ERR_INVALID, "AllReduceStart '%s': made for %lld processes, running in %d",
                        node->name, (long long)world, dc_world_size());
    int64_t total = 0;
    for (int k = 0; k < node->n_inputs; k++)
        total += (int64_t)dc_tensor_numel(in[k]);
    double *sum = malloc((size_t)(total ? total : 1) * sizeof *sum);
    if (!sum)
        return dc_error(DC_ERR_NOMEM, "AllReduceStart '%s': %lld elements", node->name, (long long)total);
    int64_t at = 0;
    for (int k = 0; k < node->n_inputs; k++)
        for (int64_t i = 0; i < (int64_t)dc_tensor_numel(in[k]); i++)
            sum[at++] = ref_get(in[k], i);
    dc_status s = dc_world_allreduce_f64(sum, total);
    if (s == DC_OK)
        s = ref_new_output(node, out, 0, in[0]->dtype, 1, &total);
    for (int64_t i = 0; s == DC_OK && i < total; i++)
        ref_set(out[0], i, sum[i]);
    free(sum);
    return s;
}

dc_status dc_ref_AllReduceWait(const dc_node *node, int64_t opset, dc_tensor *const *in,
                               dc_tensor **out)
{
    (void)opset;
    double scale = dc_node_attr_float(node, "scale", 1.0f);
    int count = 0;
    const int64_t *sizes = dc_node_attr_ints(node, "sizes", &count);
    int64_t at = 0;
    for (int k = 0; k < node->n_outputs; k++) {
        int64_t n = k < count ? sizes[k] : 0;
        if (at + n > (int64_t)dc_tensor_numel(in[0]))
            return dc_error(DC_ERR_SHAPE, "AllReduceWait '%s': output %d ends past the bucket",
                            node->name, k);
        DC_TRY(ref_new_output(node, out, k, in[0]->dtype, 1, &n));
        for (int64_t i = 0; i < n; i++)
            ref_set(out[k], i, scale * ref_get(in[0], at + i));
        at += n;
    }
    return DC_OK;
}

dc_status dc_ref_AllGather(const dc_node *node, int64_t opset, dc_tensor *const *in, dc_tensor **out)
{
    (void)opset;
    int64_t world = dc_node_attr_int(node, "world_size", 1);
    if (world != dc_world_size())
        return dc_error(DC_ERR_INVALID, "AllGather '%s': made for %lld processes, running in %d",
                        node->name, (long long)world, dc_world_size());
    int count = 0;
    const int64_t *owners = dc_node_attr_ints(node, "owners", &count);
    for (int k = 0; k < node->n_outputs; k++) {
        DC_TRY(dc_tensor_clone(&out[k], in[k]));
        DC_TRY(dc_world_broadcast(out[k]->data, (int64_t)out[k]->nbytes, k < count ? (int)owners[k] : 0));
    }
    return DC_OK;
}
