/* The registry table. The schemas themselves live in compiler/ops/, one file
 * per family of ops. It calls nothing in graph.c (which looks ops up here):
 * the per-node inference driver that needs both is compiler/infer_shapes.c. */
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
