/* The graph verifier: reports the first broken invariant, naming the node. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "op_registry.h"

static const char *attr_type_names[] = {
    "undefined", "float", "int", "string", "tensor", "graph", "floats", "ints",
    "strings", "tensors", "graphs", "sparse_tensor", "sparse_tensors", "type_proto", "type_protos",
};

static dc_status verify_attrs(const dc_graph *g, const dc_node *n)
{
    for (int i = 0; i < n->n_attrs; i++) {
        const dc_attr *a = &n->attrs[i];
        if (!a->name || !*a->name)
            return dc_error(DC_ERR_INVALID, "node '%s' (%s): attribute %d has no name", n->name,
                            n->op_type, i);
        if (a->type <= DC_ATTR_UNDEFINED || a->type > DC_ATTR_TYPE_PROTOS)
            return dc_error(DC_ERR_INVALID, "node '%s' (%s): attribute '%s' has no valid type",
                            n->name, n->op_type, a->name);
        for (int k = 0; k < i; k++)
            if (strcmp(n->attrs[k].name, a->name) == 0)
                return dc_error(DC_ERR_INVALID, "node '%s' (%s): attribute '%s' given twice",
                                n->name, n->op_type, a->name);
        int n_graphs = a->type == DC_ATTR_GRAPH ? 1 : a->type == DC_ATTR_GRAPHS ? a->n : 0;
        for (int k = 0; k < n_graphs; k++) {
            dc_graph *sub = a->type == DC_ATTR_GRAPH ? a->g : a->graphs[k];
            if (!sub || sub->parent != g)
                return dc_error(DC_ERR_INVALID, "node '%s' (%s): attribute '%s' (%s) has no subgraph",
                                n->name, n->op_type, a->name, attr_type_names[a->type]);
            dc_status s = dc_graph_verify(sub);
            if (s != DC_OK)
                return dc_error_context(s, "node '%s' (%s), subgraph '%s'", n->name, n->op_type,
                                        a->name);
        }
    }
    return DC_OK;
}

/* Is `v` visible at this point: defined in `g` already, or in an enclosing graph? */
static bool is_defined(const dc_graph *g, const dc_value *v, const bool *defined)
{
    if (v->id < g->n_values && g->values[v->id] == v)
        return defined[v->id];
    return g->parent && dc_graph_find_value(g->parent, v->name) == v;
}

static dc_status verify_uses(const dc_graph *g, const dc_node *n, const bool *defined)
{
    for (int i = 0; i < n->n_inputs; i++) {
        const dc_value *v = n->inputs[i];
        if (!v || is_defined(g, v, defined))
            continue;
        bool in_graph = v->id < g->n_values && g->values[v->id] == v;
        if (in_graph && v->producer)
            return dc_error(DC_ERR_INVALID,
                            "node '%s' (%s): input '%s' is used before node '%s' produces it "
                            "(nodes out of order or a cycle)",
                            n->name, n->op_type, v->name, v->producer->name);
        return dc_error(DC_ERR_INVALID, "node '%s' (%s): input '%s' is not defined (dangling value)",
                        n->name, n->op_type, v->name);
    }
    return DC_OK;
}

static dc_status verify_nodes(const dc_graph *g, bool *defined)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const dc_node *n = g->nodes[i];
        if (!n->schema)
            return dc_error(DC_ERR_UNSUPPORTED, "node '%s': unsupported op '%s'%s%s%s", n->name,
                            n->op_type, *n->domain ? " (domain '" : "", n->domain,
                            *n->domain ? "')" : "");
        DC_TRY(dc_check_arity(n));
        DC_TRY(verify_uses(g, n, defined));
        for (int k = 0; k < n->n_outputs; k++) {
            dc_value *v = n->outputs[k];
            if (!v)
                continue;
            if (v->producer != n || v->producer_index != k)
                return dc_error(DC_ERR_INVALID, "node '%s' (%s): output '%s' is produced elsewhere too",
                                n->name, n->op_type, v->name);
            if (v->is_initializer)
                return dc_error(DC_ERR_INVALID, "node '%s' (%s): output '%s' is also an initializer",
                                n->name, n->op_type, v->name);
            defined[v->id] = true;
        }
        DC_TRY(verify_attrs(g, n));
    }
    return DC_OK;
}

dc_status dc_graph_verify(const dc_graph *g)
{
    bool *defined = calloc((size_t)g->n_values + 1, sizeof *defined);
    if (!defined)
        return dc_error(DC_ERR_NOMEM, "verifier");
    dc_status s = DC_OK;
    for (int i = 0; i < g->n_inputs && s == DC_OK; i++) {
        const dc_value *v = g->inputs[i];
        if (v->producer)
            s = dc_error(DC_ERR_INVALID, "graph input '%s' is also produced by node '%s'", v->name,
                         v->producer->name);
        else
            defined[v->id] = true;
    }
    for (int i = 0; i < g->n_initializers && s == DC_OK; i++)
        defined[g->initializers[i]->id] = true;
    if (s == DC_OK)
        s = verify_nodes(g, defined);
    for (int i = 0; i < g->n_outputs && s == DC_OK; i++)
        if (!is_defined(g, g->outputs[i], defined))
            s = dc_error(DC_ERR_INVALID, "graph output '%s' is never produced", g->outputs[i]->name);
    free(defined);
    return s;
}
