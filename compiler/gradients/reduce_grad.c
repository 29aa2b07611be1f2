/* Gradients of the reductions and of Softmax, LogSoftmax, LayerNormalization. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* The reduced axes of a Reduce* node (attribute before opset 13 for
 * ReduceSum, through 17 for the others; input 1 otherwise). All axes when
 * none are given, unless noop_with_empty_axes. n = -1 for "no reduction". */
static dc_status reduced_axes(const dc_node *node, int64_t axes[DC_MAX_RANK], int *n)
{
    int rank = node->inputs[0]->type.rank;
    dc_ints list;
    if (node->n_inputs > 1 && node->inputs[1])
        DC_TRY(dc_ints_input(node, 1, &list));
    else
        DC_TRY(dc_ints_attr(node, "axes", &list));
    if (list.present && !list.known)
        return dc_error(DC_ERR_UNSUPPORTED, "%s gradient: axes must be constants", node->op_type);
    int64_t noop;
    DC_TRY(dc_attr_i(node, "noop_with_empty_axes", 0, &noop));
    bool mask[DC_MAX_RANK] = {false};
    if (list.present && list.n > 0) {
        DC_TRY(dc_norm_axes(node, &list, rank, mask));
    } else if (noop) {
        *n = -1;
        return DC_OK;
    } else {
        for (int i = 0; i < rank; i++)
            mask[i] = true;
    }
    *n = 0;
    for (int i = 0; i < rank; i++)
        if (mask[i])
            axes[(*n)++] = i;
    return DC_OK;
}

/* dy broadcast back over the reduced axes: reshape to the keepdims shape,
 * then expand to x's shape. */
static dc_value *spread(dc_graph *g, const dc_node *node, dc_value *d, const int64_t *axes, int n)
{
    const dc_value *x = node->inputs[0];
    int64_t keep[DC_MAX_RANK], full[DC_MAX_RANK];
    int rank = dg_dims(x, full);
    for (int i = 0; i < rank; i++)
        keep[i] = full[i];
    for (int i = 0; i < n; i++)
        keep[axes[i]] = 1;
    return dc_expand(g, dc_reshape(g, d, keep, rank), full, rank);
}

DG_RULE(ReduceSum)
{
    (void)needs;
    int64_t axes[DC_MAX_RANK];
    int n;
    DC_TRY(reduced_axes(node, axes, &n));
    dx[0] = n < 0 ? dy[0] : spread(g, node, dy[0], axes, n);
    return DC_OK;
}

DG_RULE(ReduceMean)
{
    (void)needs;
    int64_t axes[DC_MAX_RANK];
    int n;
    DC_TRY(reduced_axes(node, axes, &n));
    if (n < 0) {
        dx[0] = dy[0];
        return DC_OK;
    }
    double count = 1;
    for (int i = 0; i < n; i++)
        count *= (double)node->inputs[0]->type.dims[axes[i]].size;
    dc_value *scaled = dc_div(g, dy[0], dg_scalar_like(g, dy[0], count));
    dx[0] = spread(g, node, scaled, axes, n);
    return DC_OK;
}

/* ReduceMax / ReduceMin: dy goes to the elements equal to the result (every
 * tied element receives it). */
DG_RULE(ReduceExtreme)
{
    (void)needs;
    int64_t axes[DC_MAX_RANK];
    int n;
    DC_TRY(reduced_axes(node, axes, &n));
    if (n < 0) {
        dx[0] = dy[0];
        return DC_OK;
    }
    dc_value *x = node->inputs[0];
    dc_value *hit = dc_binary(g, "Equal", x, spread(g, node, node->outputs[0], axes, n));
    dx[0] = dc_where(g, hit, spread(g, node, dy[0], axes, n), dg_scalar_like(g, x, 0));
    return DC_OK;
}

static int64_t softmax_axis(const dc_node *node)
{
    int64_t axis = dc_node_attr_int(node, "axis", -1);
    return axis < 0 ? axis + node->inputs[0]->type.rank : axis;
}

/* y = softmax(x): dx = y · (dy − Σ_axis dy·y) */
DG_RULE(Softmax)
{
    (void)needs;
    if (dc_graph_opset(g, "") < 13 && node->inputs[0]->type.rank > 2)
        return dc_error(DC_ERR_UNSUPPORTED, "Softmax gradient: opset < 13 coercion to 2-D");
    dc_value *y = node->outputs[0];
    int64_t axis = softmax_axis(node);
    dx[0] = dc_mul(g, y, dc_sub(g, dy[0], dg_sum_keep(g, dc_mul(g, dy[0], y), &axis, 1)));
    return DC_OK;
}

/* y = log_softmax(x): dx = dy − exp(y) · Σ_axis dy */
DG_RULE(LogSoftmax)
{
    (void)needs;
    if (dc_graph_opset(g, "") < 13 && node->inputs[0]->type.rank > 2)
        return dc_error(DC_ERR_UNSUPPORTED, "LogSoftmax gradient: opset < 13 coercion to 2-D");
    int64_t axis = softmax_axis(node);
    dc_value *p = dc_unary(g, "Exp", node->outputs[0]);
    dx[0] = dc_sub(g, dy[0], dc_mul(g, p, dg_sum_keep(g, dy[0], &axis, 1)));
    return DC_OK;
}

/* Scale (and B) exactly of X[axis:]'s shape, no broadcasting. */
static bool full_width(const dc_value *x, const dc_value *p, int axis)
{
    if (!p || p->type.rank != x->type.rank - axis || p->type.dtype != x->type.dtype)
        return false;
    for (int i = axis; i < x->type.rank; i++)
        if (!dc_dim_equal(p->type.dims[i - axis], x->type.dims[i]))
            return false;
    return true;
}

/* One ai.dinoc LayerNormGrad node reading the forward's Mean and InvStdDev
 * when the node has them in X's element type (else the kernel recomputes
 * them): dX, dScale, dB. */
static dc_status layer_norm_grad_fused(dc_graph *g, const dc_node *node, dc_value *d,
                                       const bool *needs, dc_value **dx, int64_t axis, float eps)
{
    dc_value *x = node->inputs[0];
    dc_value *mean = node->n_outputs > 2 ? node->outputs[1] : NULL;
    dc_value *inv = node->n_outputs > 2 ? node->outputs[2] : NULL;
    bool stats = mean && inv && mean->type.dtype == x->type.dtype && inv->type.dtype == x->type.dtype;
    dc_value *in[] = {d, x, node->inputs[1], mean, inv};
    dc_node *n = dg_dinoc_node(g, "LayerNormGrad", in, stats ? 5 : 3, 3);
    if (n) {
        DC_TRY(dc_node_set_int(n, g, "axis", axis));
        DC_TRY(dc_node_set_float(n, g, "epsilon", eps));
    }
    if (dc_node_finish(g, n)) {
        if (needs[0])
            dx[0] = n->outputs[0];
        if (needs[1])
            dx[1] = n->outputs[1];
        if (node->n_inputs > 2 && node->inputs[2] && needs[2])
            dx[2] = n->outputs[2];
    }
    return dc_build_status(g);
}

/* LayerNormalization over the trailing axes from `axis`, x̂ = (x − μ)·r with
 * r = 1/√(var + ε), y = x̂·γ + β. With γ and β of the normalised shape, one
 * LayerNormGrad node (layer_norm_grad_fused); otherwise the composition:
 *   dβ = Σ_lead dy,  dγ = Σ_lead dy·x̂,  g = dy·γ,
 *   dx = r · (g − mean(g) − x̂ · mean(g·x̂))   (means over the normalised axes) */
DG_RULE(LayerNormalization)
{
    dc_value *x = node->inputs[0], *gamma = node->inputs[1], *d = dy[0];
    if (!d)
        return dc_error(DC_ERR_UNSUPPORTED,
                        "LayerNormalization gradient: only through output Y (not Mean/InvStdDev)");
    int64_t axis;
    float eps;
    DC_TRY(dc_attr_i(node, "axis", -1, &axis));
    DC_TRY(dc_attr_f(node, "epsilon", 1e-5f, &eps));
    int rank = x->type.rank;
    axis = axis < 0 ? axis + rank : axis;
    const dc_value *bias = node->n_inputs > 2 ? node->inputs[2] : NULL;
    if ((x->type.dtype == DC_F32 || x->type.dtype == DC_F64) && full_width(x, gamma, (int)axis) &&
        (!bias || full_width(x, bias, (int)axis)))
        return layer_norm_grad_fused(g, node, d, needs, dx, axis, eps);
    int64_t norm_axes[DC_MAX_RANK];
    int n_norm = 0;
    for (int i = (int)axis; i < rank; i++)
        norm_axes[n_norm++] = i;
    dc_value *mu = dc_reduce(g, "ReduceMean", x, norm_axes, n_norm, true);
    dc_value *centered = dc_sub(g, x, mu);
    dc_value *var = dc_reduce(g, "ReduceMean", dc_mul(g, centered, centered), norm_axes, n_norm, true);
    dc_value *r = dc_unary(g, "Reciprocal", dc_unary(g, "Sqrt", dc_add(g, var, dg_scalar_like(g, x, eps))));
    dc_value *xhat = dc_mul(g, centered, r);
    if (needs[0]) {
        dc_value *gx = dc_mul(g, d, gamma);
        dc_value *mean_g = dc_reduce(g, "ReduceMean", gx, norm_axes, n_norm, true);
        dc_value *mean_gx = dc_reduce(g, "ReduceMean", dc_mul(g, gx, xhat), norm_axes, n_norm, true);
        dx[0] = dc_mul(g, r, dc_sub(g, dc_sub(g, gx, mean_g), dc_mul(g, xhat, mean_gx)));
    }
    if (needs[1])
        dx[1] = dg_unbroadcast(g, dc_mul(g, d, xhat), gamma);
    if (node->n_inputs > 2 && needs[2])
        dx[2] = dg_unbroadcast(g, d, node->inputs[2]);
    return DC_OK;
}
