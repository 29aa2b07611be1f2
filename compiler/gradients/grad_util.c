#include "gradients/grad_util.h"

int dg_dims(const dc_value *v, int64_t dims[DC_MAX_RANK])
{
    for (int i = 0; i < v->type.rank; i++)
        dims[i] = v->type.dims[i].size;
    return v->type.rank;
}

dc_node *dg_dinoc_node(dc_graph *g, const char *op_type, dc_value *const *inputs, int n_inputs,
                       int n_outputs)
{
    if (dc_build_status(g) == DC_OK && !dc_graph_opset(g, DC_DOMAIN_DINOC)) {
        dc_status s = dc_graph_set_opset(g, DC_DOMAIN_DINOC, 1);
        if (s != DC_OK) {
            g->build_status = s;
            return NULL;
        }
    }
    return dc_node_begin(g, op_type, DC_DOMAIN_DINOC, inputs, n_inputs, n_outputs);
}

dc_value *dg_scalar_like(dc_graph *g, const dc_value *v, double x)
{
    return dc_scalar(g, v->type.dtype, x);
}

dc_value *dg_reshape_like(dc_graph *g, dc_value *dy, const dc_value *v)
{
    int64_t dims[DC_MAX_RANK];
    int rank = dg_dims(v, dims);
    bool same = dy && dc_type_is_static(&dy->type) && dc_type_is_static(&v->type) &&
                dy->type.rank == rank;
    for (int i = 0; same && i < rank; i++)
        same = dy->type.dims[i].size == dims[i];
    if (same)
        return dy; /* already v's shape: no Reshape for later passes to look through */
    return dc_reshape(g, dy, dims, rank);
}

dc_value *dg_sum_keep(dc_graph *g, dc_value *x, const int64_t *axes, int n_axes)
{
    return dc_reduce(g, "ReduceSum", x, axes, n_axes, true);
}

dc_value *dg_unbroadcast(dc_graph *g, dc_value *dy, const dc_value *target)
{
    if (!dy)
        return NULL;
    int rank = dy->type.rank, extra = rank - target->type.rank;
    int64_t axes[DC_MAX_RANK];
    int n_axes = 0;
    for (int i = 0; i < rank; i++) {
        bool leading = i < extra;
        if (leading || (target->type.dims[i - extra].size == 1 && dy->type.dims[i].size != 1))
            axes[n_axes++] = i;
    }
    if (n_axes == 0)
        return dy;
    return dg_reshape_like(g, dg_sum_keep(g, dy, axes, n_axes), target);
}
