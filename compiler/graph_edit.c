/* Graph editing for passes: removing nodes and initializers, turning values
 * into initializers, redirecting uses. See "editing" in ir.h. */
#include <string.h>

#include "ir.h"

/* Removes the entry `item` from an array of pointers, keeping the order;
 * false when it is not there. */
static bool remove_entry(void **array, int *count, const void *item)
{
    for (int i = 0; i < *count; i++)
        if (array[i] == item) {
            memmove(&array[i], &array[i + 1], (size_t)(*count - i - 1) * sizeof *array);
            (*count)--;
            return true;
        }
    return false;
}

dc_status dc_graph_remove_node(dc_graph *g, dc_node *node)
{
    if (!remove_entry((void **)g->nodes, &g->n_nodes, node))
        return dc_error(DC_ERR_INVALID, "node '%s' (%s) is not in graph '%s'", node->name,
                        node->op_type, g->name);
    /* dc_graph_add_node numbers a new node g->n_nodes: keep ids = positions
     * so that ids stay unique. */
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->id = i;
    for (int i = 0; i < node->n_outputs; i++)
        if (node->outputs[i] && node->outputs[i]->producer == node)
            node->outputs[i]->producer = NULL;
    return DC_OK;
}

dc_status dc_graph_make_initializer(dc_graph *g, dc_value *v, dc_tensor *t)
{
    DC_TRY(dc_graph_own_tensor(g, t));
    if (v->producer)
        return dc_error(DC_ERR_INVALID, "value '%s' is still produced by node '%s'", v->name,
                        v->producer->name);
    if (!v->is_initializer) {
        int need = g->n_initializers + 1;
        g->initializers = dc_arena_grow(g->arena, g->initializers, sizeof *g->initializers,
                                        &g->cap_initializers, need);
        if (!g->initializers)
            return dc_error(DC_ERR_NOMEM, "out of memory (initializers)");
        g->initializers[g->n_initializers++] = v;
    }
    v->producer_index = 0;
    v->is_initializer = true;
    v->constant = t;
    v->type = dc_type_make(t->dtype, t->rank, t->dims);
    return DC_OK;
}

/* Whether tensor t is referenced by a value other than `except` or by a node attribute. */
static bool tensor_shared(const dc_graph *g, const dc_tensor *t, const dc_value *except)
{
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i] != except && g->values[i]->constant == t)
            return true;
    for (int n = 0; n < g->n_nodes; n++) {
        const dc_node *node = g->nodes[n];
        for (int k = 0; k < node->n_attrs; k++) {
            const dc_attr *a = &node->attrs[k];
            if (a->t == t || (a->sparse && (a->sparse->values == t || a->sparse->indices == t)))
                return true;
            for (int j = 0; a->type == DC_ATTR_TENSORS && j < a->n; j++)
                if (a->tensors[j] == t)
                    return true;
            for (int j = 0; a->type == DC_ATTR_SPARSE_TENSORS && j < a->n; j++)
                if (a->sparse_tensors[j]->values == t || a->sparse_tensors[j]->indices == t)
                    return true;
        }
    }
    return false;
}

dc_status dc_graph_remove_initializer(dc_graph *g, dc_value *v)
{
    if (!v->is_initializer || !remove_entry((void **)g->initializers, &g->n_initializers, v))
        return dc_error(DC_ERR_INVALID, "value '%s' is not an initializer of graph '%s'", v->name,
                        g->name);
    dc_tensor *t = v->constant;
    v->is_initializer = false;
    v->constant = NULL;
    /* Free the data now (large weights) unless something else still holds it. */
    if (t && !tensor_shared(g, t, v) && remove_entry((void **)g->owned, &g->n_owned, t))
        dc_tensor_destroy(t);
    return DC_OK;
}

void dc_graph_replace_uses(dc_graph *g, dc_value *old, dc_value *replacement)
{
    for (int n = 0; n < g->n_nodes; n++) {
        dc_node *node = g->nodes[n];
        for (int i = 0; i < node->n_inputs; i++)
            if (node->inputs[i] == old)
                node->inputs[i] = replacement;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == old)
            g->outputs[i] = replacement;
}

dc_status dc_graph_move_node(dc_graph *g, dc_node *node, int at)
{
    int from = node->id;
    if (from < 0 || from >= g->n_nodes || g->nodes[from] != node || at < 0 || at >= g->n_nodes)
        return dc_error(DC_ERR_INVALID, "node '%s' (%s): cannot move to position %d of graph '%s'",
                        node->name, node->op_type, at, g->name);
    if (at < from)
        memmove(&g->nodes[at + 1], &g->nodes[at], (size_t)(from - at) * sizeof *g->nodes);
    else
        memmove(&g->nodes[from], &g->nodes[from + 1], (size_t)(at - from) * sizeof *g->nodes);
    g->nodes[at] = node;
    for (int i = at < from ? at : from; i <= (at < from ? from : at); i++)
        g->nodes[i]->id = i;
    return DC_OK;
}
