/* Graph editing for passes: removing nodes and initializers, turning values
 * into initializers, redirecting uses. See "editing" in ir.h. */
#include <stdlib.h>
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

static void renumber(dc_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->id = i;
}

dc_status dc_graph_move_node(dc_graph *g, dc_node *node, int index)
{
    if (index < 0 || index >= g->n_nodes)
        return dc_error(DC_ERR_INVALID, "node '%s': position %d outside the schedule of %d nodes",
                        node->name, index, g->n_nodes);
    if (!remove_entry((void **)g->nodes, &g->n_nodes, node))
        return dc_error(DC_ERR_INVALID, "node '%s' (%s) is not in graph '%s'", node->name,
                        node->op_type, g->name);
    memmove(&g->nodes[index + 1], &g->nodes[index], (size_t)(g->n_nodes - index) * sizeof *g->nodes);
    g->nodes[index] = node;
    g->n_nodes++;
    renumber(g);
    return DC_OK;
}

/* The node of this graph that produces `v`, or NULL (inputs, initializers,
 * values of an enclosing graph). */
static const dc_node *local_producer(const dc_graph *g, const dc_value *v)
{
    if (!v || !v->producer || v->id >= g->n_values || g->values[v->id] != v)
        return NULL;
    return v->producer;
}

dc_status dc_graph_sort(dc_graph *g)
{
    int n = g->n_nodes;
    bool sorted = true;
    for (int i = 0; i < n && sorted; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs && sorted; k++) {
            const dc_node *p = local_producer(g, g->nodes[i]->inputs[k]);
            sorted = !p || p->id < i;
        }
    if (sorted)
        return DC_OK;
    /* Depth-first from each node in schedule order, emitting a node after its
     * producers: nodes already in order stay in order. */
    dc_node **order = malloc((size_t)n * sizeof *order);
    unsigned char *mark = calloc((size_t)n, 1); /* 0 new, 1 on the stack, 2 emitted */
    int *stack = malloc((size_t)n * sizeof *stack), *next_input = calloc((size_t)n, sizeof(int));
    dc_status s = order && mark && stack && next_input ? DC_OK : dc_error(DC_ERR_NOMEM, "sorting");
    int emitted = 0;
    for (int root = 0; s == DC_OK && root < n; root++) {
        if (mark[root])
            continue;
        int depth = 0;
        stack[depth++] = root;
        mark[root] = 1;
        while (depth > 0 && s == DC_OK) {
            int cur = stack[depth - 1];
            const dc_node *node = g->nodes[cur];
            if (next_input[cur] < node->n_inputs) {
                const dc_node *p = local_producer(g, node->inputs[next_input[cur]++]);
                if (!p)
                    continue;
                if (mark[p->id] == 1)
                    s = dc_error(DC_ERR_INVALID, "node '%s' (%s) is on a cycle", p->name, p->op_type);
                else if (mark[p->id] == 0) {
                    mark[p->id] = 1;
                    stack[depth++] = p->id;
                }
                continue;
            }
            mark[cur] = 2;
            order[emitted++] = g->nodes[cur];
            depth--;
        }
    }
    if (s == DC_OK) {
        memcpy(g->nodes, order, (size_t)n * sizeof *order);
        renumber(g);
    }
    free(order);
    free(mark);
    free(stack);
    free(next_input);
    return s;
}
