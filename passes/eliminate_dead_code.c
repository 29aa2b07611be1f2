/* Dead-code elimination; see eliminate_dead_code.h. */
#include "eliminate_dead_code.h"

#include <stdlib.h>

/* v's id in g, or -1 for a value of another graph. */
static int slot(const dc_graph *g, const dc_value *v)
{
    return v && v->id < g->n_values && g->values[v->id] == v ? v->id : -1;
}

/* Marks the values of g that subgraph `sub` (and its own subgraphs) reads. */
static void mark_subgraph_reads(const dc_graph *g, const dc_graph *sub, bool *live)
{
    for (int n = 0; n < sub->n_nodes; n++) {
        const dc_node *node = sub->nodes[n];
        for (int i = 0; i < node->n_inputs; i++) {
            int id = slot(g, node->inputs[i]);
            if (id >= 0)
                live[id] = true;
        }
        for (int a = 0; a < node->n_attrs; a++) {
            const dc_attr *attr = &node->attrs[a];
            if (attr->type == DC_ATTR_GRAPH && attr->g)
                mark_subgraph_reads(g, attr->g, live);
            for (int k = 0; attr->type == DC_ATTR_GRAPHS && k < attr->n; k++)
                mark_subgraph_reads(g, attr->graphs[k], live);
        }
    }
    for (int i = 0; i < sub->n_outputs; i++) {
        int id = slot(g, sub->outputs[i]);
        if (id >= 0)
            live[id] = true;
    }
}

dc_status dc_eliminate_dead_code(dc_graph *g)
{
    bool *live = calloc((size_t)g->n_values + 1, sizeof *live);
    bool *dead = calloc((size_t)g->n_nodes + 1, sizeof *dead);
    if (!live || !dead) {
        free(live);
        free(dead);
        return dc_error(DC_ERR_NOMEM, "dead-code elimination");
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int id = slot(g, g->outputs[i]);
        if (id >= 0)
            live[id] = true;
    }
    /* The next values of training state are results too. */
    for (int i = 0; i < g->n_state_updates; i++) {
        int id = slot(g, g->state_updates[i].next);
        if (id >= 0)
            live[id] = true;
    }
    /* Backwards: a node is live when one of its outputs is read later. */
    for (int n = g->n_nodes - 1; n >= 0; n--) {
        const dc_node *node = g->nodes[n];
        bool needed = false;
        for (int k = 0; k < node->n_outputs; k++) {
            int id = slot(g, node->outputs[k]);
            needed |= id >= 0 && live[id];
        }
        dead[n] = !needed;
        if (!needed)
            continue;
        for (int i = 0; i < node->n_inputs; i++) {
            int id = slot(g, node->inputs[i]);
            if (id >= 0)
                live[id] = true;
        }
        for (int a = 0; a < node->n_attrs; a++) {
            const dc_attr *attr = &node->attrs[a];
            if (attr->type == DC_ATTR_GRAPH && attr->g)
                mark_subgraph_reads(g, attr->g, live);
            for (int k = 0; attr->type == DC_ATTR_GRAPHS && k < attr->n; k++)
                mark_subgraph_reads(g, attr->graphs[k], live);
        }
    }
    dc_status s = DC_OK;
    for (int n = g->n_nodes - 1; s == DC_OK && n >= 0; n--)
        if (dead[n])
            s = dc_graph_remove_node(g, g->nodes[n]);
    /* Initializers nobody reads, but never a graph input's. */
    for (int i = g->n_initializers - 1; s == DC_OK && i >= 0; i--) {
        dc_value *v = g->initializers[i];
        bool is_input = false;
        for (int k = 0; k < g->n_inputs; k++)
            is_input |= g->inputs[k] == v;
        if (!live[v->id] && !is_input)
            s = dc_graph_remove_initializer(g, v);
    }
    free(live);
    free(dead);
    return s;
}
