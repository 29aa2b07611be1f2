/* Shape and type inference: one node through its registry entry, or a whole
 * graph in schedule order. */
#include "infer_shapes.h"

#include "op_registry.h"

/* Reconciles an inferred type with the one a file declared for the value:
 * known declared dims must agree; unknown inferred dims take the declared ones. */
static dc_status reconcile(dc_value *v, dc_type inferred)
{
    const dc_type *declared = &v->declared;
    char a[128], b[128];
    if (declared->dtype != DC_UNDEFINED && inferred.dtype != DC_UNDEFINED &&
        declared->dtype != inferred.dtype)
        return dc_error(DC_ERR_SHAPE, "output '%s': declared %s but inferred %s", v->name,
                        dc_type_str(declared, a, sizeof a), dc_type_str(&inferred, b, sizeof b));
    if (inferred.dtype == DC_UNDEFINED)
        inferred.dtype = declared->dtype;
    if (declared->rank >= 0 && inferred.rank >= 0) {
        if (declared->rank != inferred.rank)
            return dc_error(DC_ERR_SHAPE, "output '%s': declared %s but inferred %s", v->name,
                            dc_type_str(declared, a, sizeof a), dc_type_str(&inferred, b, sizeof b));
        for (int i = 0; i < inferred.rank; i++) {
            dc_dim d = declared->dims[i], n = inferred.dims[i];
            if (d.size >= 0 && n.size >= 0 && d.size != n.size)
                return dc_error(DC_ERR_SHAPE, "output '%s': declared %s but inferred %s (axis %d)",
                                v->name, dc_type_str(declared, a, sizeof a),
                                dc_type_str(&inferred, b, sizeof b), i);
            if (n.size < 0 && (d.size >= 0 || d.param))
                inferred.dims[i] = d;
        }
    } else if (inferred.rank < 0 && declared->rank >= 0) {
        dc_dtype dtype = inferred.dtype;
        inferred = *declared;
        inferred.dtype = dtype;
    }
    v->type = inferred;
    return DC_OK;
}

dc_status dc_infer_node(dc_graph *g, dc_node *node)
{
    const dc_op_schema *op = node->schema;
    if (!op)
        return dc_error(DC_ERR_UNSUPPORTED, "node '%s': unsupported op '%s'%s%s%s", node->name,
                        node->op_type, *node->domain ? " (domain '" : "", node->domain,
                        *node->domain ? "')" : "");
    DC_TRY(dc_check_arity(node));
    /* Inference starts from nothing, so re-running it after a pass changed an
     * input gives fresh types; folded data is set again when it still holds. */
    for (int i = 0; i < node->n_outputs; i++)
        if (node->outputs[i]) {
            node->outputs[i]->type = dc_type_unknown(DC_UNDEFINED);
            node->outputs[i]->constant = NULL;
        }
    dc_status s = op->infer(g, node, dc_graph_opset(g, node->domain));
    for (int i = 0; i < node->n_outputs && s == DC_OK; i++)
        if (node->outputs[i])
            s = reconcile(node->outputs[i], node->outputs[i]->type);
    if (s != DC_OK)
        return dc_error_context(s, "node '%s' (%s)", node->name, node->op_type);
    return DC_OK;
}

dc_status dc_infer_shapes(dc_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        DC_TRY(dc_infer_node(g, g->nodes[i]));
    return DC_OK;
}
