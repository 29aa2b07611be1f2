#include "autodiff.h"

#include <stdlib.h>

#include "builder.h"
#include "op_registry.h"

/* Per-value bookkeeping, indexed by dc_value.id. */
typedef struct {
    bool *depends_on_wrt; /* forward-reachable from some wrt */
    bool *reaches_loss;   /* backward-reachable from the loss */
    dc_value **grad;      /* accumulated gradient, NULL = zero so far */
} autodiff_state;

static void mark_forward(const dc_graph *g, autodiff_state *st, int n_forward)
{
    for (int i = 0; i < n_forward; i++) {
        const dc_node *n = g->nodes[i];
        bool any = false;
        for (int k = 0; k < n->n_inputs; k++)
            any |= n->inputs[k] && n->inputs[k]->id < g->n_values && st->depends_on_wrt[n->inputs[k]->id];
        /* Integers and booleans carry no gradient (ArgMax, Equal, Shape). */
        for (int k = 0; any && k < n->n_outputs; k++)
            if (n->outputs[k] && dc_dtype_is_float(n->outputs[k]->type.dtype))
                st->depends_on_wrt[n->outputs[k]->id] = true;
    }
}

static void mark_backward(const dc_graph *g, autodiff_state *st, int n_forward)
{
    for (int i = n_forward - 1; i >= 0; i--) {
        const dc_node *n = g->nodes[i];
        bool any = false;
        for (int k = 0; k < n->n_outputs; k++)
            any |= n->outputs[k] && st->reaches_loss[n->outputs[k]->id];
        for (int k = 0; any && k < n->n_inputs; k++)
            if (n->inputs[k] && n->inputs[k]->id < g->n_values)
                st->reaches_loss[n->inputs[k]->id] = true;
    }
}

static bool on_path(const autodiff_state *st, const dc_value *v)
{
    return v && st->depends_on_wrt[v->id] && st->reaches_loss[v->id];
}

/* grad[v] += dv */
static dc_status accumulate(dc_graph *g, autodiff_state *st, const dc_value *v, dc_value *dv)
{
    dc_value **slot = &st->grad[v->id];
    *slot = *slot ? dc_add(g, *slot, dv) : dv;
    return dc_build_status(g);
}

static dc_status backprop_node(dc_graph *g, autodiff_state *st, const dc_node *n)
{
    bool needs[n->n_inputs + 1], any_dy = false;
    dc_value *dy[n->n_outputs + 1], *dx[n->n_inputs + 1];
    for (int k = 0; k < n->n_outputs; k++) {
        dy[k] = n->outputs[k] ? st->grad[n->outputs[k]->id] : NULL;
        any_dy |= dy[k] != NULL;
    }
    bool any_need = false;
    for (int k = 0; k < n->n_inputs; k++) {
        needs[k] = on_path(st, n->inputs[k]);
        any_need |= needs[k];
        dx[k] = NULL;
    }
    if (!any_dy || !any_need)
        return DC_OK;
    if (!n->schema->gradient)
        return dc_error(DC_ERR_UNSUPPORTED, "node '%s' (%s): no gradient rule for this op",
                        n->name, n->op_type);
    dc_status s = n->schema->gradient(g, n, dy, needs, dx);
    if (s == DC_OK)
        s = dc_build_status(g);
    if (s != DC_OK)
        return dc_error_context(s, "gradient of node '%s' (%s)", n->name, n->op_type);
    for (int k = 0; k < n->n_inputs; k++)
        if (needs[k] && dx[k])
            DC_TRY(accumulate(g, st, n->inputs[k], dx[k]));
    return DC_OK;
}

/* The seed d loss / d loss: ones shaped and typed like the loss. */
static dc_value *seed_like(dc_graph *g, const dc_value *loss)
{
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < loss->type.rank; i++)
        dims[i] = loss->type.dims[i].size;
    dc_value *one = dc_scalar(g, loss->type.dtype, 1.0);
    return loss->type.rank ? dc_expand(g, one, dims, loss->type.rank) : one;
}

dc_status dc_autodiff(dc_graph *g, dc_value *loss, dc_value *const *wrt, int n_wrt,
                      dc_value **grads)
{
    if (dc_type_numel(&loss->type) != 1)
        return dc_error(DC_ERR_SHAPE, "autodiff: loss '%s' must hold one element", loss->name);
    if (!dc_dtype_is_float(loss->type.dtype))
        return dc_error(DC_ERR_INVALID, "autodiff: loss '%s' is not floating point", loss->name);
    int n_forward = g->n_nodes, n_values = g->n_values;
    autodiff_state st = {
        calloc((size_t)n_values, sizeof(bool)),
        calloc((size_t)n_values, sizeof(bool)),
        calloc((size_t)n_values, sizeof(dc_value *)),
    };
    dc_status s = DC_OK;
    if (!st.depends_on_wrt || !st.reaches_loss || !st.grad)
        s = dc_error(DC_ERR_NOMEM, "autodiff");
    for (int i = 0; i < n_wrt && s == DC_OK; i++) {
        if (!dc_dtype_is_float(wrt[i]->type.dtype) || !dc_type_is_static(&wrt[i]->type))
            s = dc_error(DC_ERR_INVALID, "autodiff: '%s' is not a static floating-point tensor",
                         wrt[i]->name);
        else
            st.depends_on_wrt[wrt[i]->id] = true;
    }
    if (s == DC_OK) {
        mark_forward(g, &st, n_forward);
        st.reaches_loss[loss->id] = true;
        mark_backward(g, &st, n_forward);
        st.grad[loss->id] = seed_like(g, loss);
        s = dc_build_status(g);
    }
    for (int i = n_forward - 1; i >= 0 && s == DC_OK; i--)
        s = backprop_node(g, &st, g->nodes[i]);
    for (int i = 0; i < n_wrt && s == DC_OK; i++)
        grads[i] = st.grad[wrt[i]->id];
    free(st.depends_on_wrt);
    free(st.reaches_loss);
    free(st.grad);
    return s;
}
