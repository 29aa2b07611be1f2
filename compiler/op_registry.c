/* The registry table and the per-node inference driver. The schemas themselves
 * live in compiler/ops/, one file per family of ops. */
#include <string.h>

#include "op_registry.h"
#include "ops/ops.h"

static const dc_op_schema *const registry[] = {
#define DC_OP(sym) &dc_op_##sym,
    DC_ALL_OPS
#undef DC_OP
};

const dc_op_schema *dc_op_lookup(const char *domain, const char *name)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->name, name) == 0 && strcmp(registry[i]->domain, domain) == 0)
            return registry[i];
    return NULL;
}

const dc_op_schema *const *dc_op_all(int *count)
{
    *count = (int)(sizeof registry / sizeof registry[0]);
    return registry;
}

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

dc_status dc_check_arity(const dc_node *node)
{
    const dc_op_schema *op = node->schema;
    if (node->n_inputs < op->min_inputs || (op->max_inputs >= 0 && node->n_inputs > op->max_inputs))
        return dc_error(DC_ERR_INVALID, "node '%s' (%s): %d inputs, expected %d to %d", node->name,
                        node->op_type, node->n_inputs, op->min_inputs, op->max_inputs);
    if (node->n_outputs < op->min_outputs ||
        (op->max_outputs >= 0 && node->n_outputs > op->max_outputs))
        return dc_error(DC_ERR_INVALID, "node '%s' (%s): %d outputs, expected %d to %d", node->name,
                        node->op_type, node->n_outputs, op->min_outputs, op->max_outputs);
    for (int i = 0; i < op->min_inputs; i++)
        if (!node->inputs[i])
            return dc_error(DC_ERR_INVALID, "node '%s' (%s): required input %d is missing",
                            node->name, node->op_type, i);
    for (int i = 0; i < op->min_outputs; i++)
        if (!node->outputs[i])
            return dc_error(DC_ERR_INVALID, "node '%s' (%s): required output %d is missing",
                            node->name, node->op_type, i);
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
