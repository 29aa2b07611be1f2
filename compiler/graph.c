/* Graph construction: values, nodes, initializers, attributes, model metadata. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "op_registry.h"
#include "strmap.h"

#define NOMEM(what) dc_error(DC_ERR_NOMEM, "out of memory (%s)", what)

/* Appends `item` to an arena-backed pointer array. */
#define PUSH(g, array, count, cap, item)                                              \
    ((array) = dc_arena_grow((g)->arena, (array), sizeof *(array), &(cap), (count) + 1), \
     (array) ? ((array)[(count)++] = (item), DC_OK) : NOMEM(#array))

static dc_graph *graph_alloc(const char *name, dc_graph *parent)
{
    dc_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->arena = dc_arena_create();
    g->names = dc_strmap_create();
    if (!g->arena || !g->names) {
        dc_graph_destroy(g);
        return NULL;
    }
    g->parent = parent;
    g->name = dc_arena_strdup(g->arena, name ? name : "graph");
    return g;
}

dc_graph *dc_graph_create(const char *name)
{
    dc_graph *g = graph_alloc(name, NULL);
    if (!g)
        return NULL;
    g->ir_version = 8;
    if (dc_graph_set_opset(g, "", 17) != DC_OK) {
        dc_graph_destroy(g);
        return NULL;
    }
    return g;
}

/* The subgraph is destroyed with the attribute that holds it (dc_graph_destroy
 * of the parent walks GRAPH and GRAPHS attributes). */
dc_graph *dc_graph_create_subgraph(dc_graph *parent, const char *name)
{
    return graph_alloc(name, parent);
}

void dc_graph_destroy(dc_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_owned; i++)
        dc_tensor_destroy(g->owned[i]);
    /* Subgraphs hang off attributes; they are destroyed with their owner. */
    for (int n = 0; n < g->n_nodes; n++) {
        dc_node *node = g->nodes[n];
        for (int a = 0; a < node->n_attrs; a++) {
            dc_attr *attr = &node->attrs[a];
            if (attr->type == DC_ATTR_GRAPH)
                dc_graph_destroy(attr->g);
            if (attr->type == DC_ATTR_GRAPHS)
                for (int k = 0; k < attr->n; k++)
                    dc_graph_destroy(attr->graphs[k]);
        }
    }
    dc_strmap_destroy(g->names);
    dc_arena_destroy(g->arena);
    free(g);
}

dc_graph *dc_graph_root(dc_graph *g)
{
    while (g->parent)
        g = g->parent;
    return g;
}

static const dc_graph *graph_root_const(const dc_graph *g)
{
    while (g->parent)
        g = g->parent;
    return g;
}

/* "ai.onnx" is another spelling of the default domain. */
static const char *canonical_domain(const char *domain)
{
    return (!domain || strcmp(domain, "ai.onnx") == 0) ? "" : domain;
}

int64_t dc_graph_opset(const dc_graph *g, const char *domain)
{
    g = graph_root_const(g);
    domain = canonical_domain(domain);
    for (int i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0)
            return g->opsets[i].version;
    return 0;
}

dc_status dc_graph_set_opset(dc_graph *g, const char *domain, int64_t version)
{
    g = dc_graph_root(g);
    domain = canonical_domain(domain);
    for (int i = 0; i < g->n_opsets; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0) {
            g->opsets[i].version = version;
            return DC_OK;
        }
    dc_opset o = {dc_arena_strdup(g->arena, domain), version};
    if (!o.domain)
        return NOMEM("opset");
    return PUSH(g, g->opsets, g->n_opsets, g->cap_opsets, o);
}

dc_status dc_graph_set_metadata(dc_graph *g, const char *key, const char *value)
{
    g = dc_graph_root(g);
    const char *v = dc_arena_strdup(g->arena, value);
    if (!v)
        return NOMEM("metadata");
    for (int i = 0; i < g->n_metadata; i++)
        if (strcmp(g->metadata[i].key, key) == 0) {
            g->metadata[i].value = v;
            return DC_OK;
        }
    dc_string_pair p = {dc_arena_strdup(g->arena, key), v};
    if (!p.key)
        return NOMEM("metadata");
    return PUSH(g, g->metadata, g->n_metadata, g->cap_metadata, p);
}

const char *dc_graph_metadata(const dc_graph *g, const char *key)
{
    g = graph_root_const(g);
    for (int i = 0; i < g->n_metadata; i++)
        if (strcmp(g->metadata[i].key, key) == 0)
            return g->metadata[i].value;
    return NULL;
}

dc_status dc_graph_set_dim_bound(dc_graph *g, const char *name, int64_t bound)
{
    g = dc_graph_root(g);
    if (bound < 0)
        return dc_error(DC_ERR_INVALID, "dimension '%s': bound %" PRId64 " is negative", name, bound);
    for (int i = 0; i < g->n_dim_symbols; i++)
        if (strcmp(g->dim_symbols[i].name, name) == 0) {
            g->dim_symbols[i].bound = bound;
            return DC_OK;
        }
    dc_dim_symbol s = {dc_arena_strdup(g->arena, name), bound};
    if (!s.name)
        return NOMEM("dim symbol");
    return PUSH(g, g->dim_symbols, g->n_dim_symbols, g->cap_dim_symbols, s);
}

int64_t dc_graph_dim_bound(const dc_graph *g, const char *name)
{
    g = graph_root_const(g);
    for (int i = 0; i < g->n_dim_symbols; i++)
        if (strcmp(g->dim_symbols[i].name, name) == 0)
            return g->dim_symbols[i].bound;
    return DC_DIM_UNKNOWN;
}

/* ---- values ---------------------------------------------------------------- */

dc_value *dc_graph_find_value(const dc_graph *g, const char *name)
{
    for (; g; g = g->parent) {
        dc_value *v = dc_strmap_get(g->names, name);
        if (v)
            return v;
    }
    return NULL;
}

const char *dc_graph_unique_name(dc_graph *g, const char *prefix)
{
    char buf[256];
    do
        snprintf(buf, sizeof buf, "%s_%d", prefix, g->next_id++);
    while (dc_graph_find_value(g, buf));
    return dc_arena_strdup(g->arena, buf);
}

dc_status dc_graph_new_value(dc_graph *g, const char *name, const dc_type *type, dc_value **out)
{
    *out = NULL;
    if (name && !*name)
        return dc_error(DC_ERR_INVALID, "a value needs a non-empty name");
    if (name && dc_strmap_get(g->names, name))
        return dc_error(DC_ERR_INVALID, "duplicate value name '%s'", name);
    dc_value *v = dc_arena_alloc(g->arena, sizeof *v);
    const char *n = name ? dc_arena_strdup(g->arena, name) : dc_graph_unique_name(g, "t");
    if (!v || !n)
        return NOMEM("value");
    v->name = n;
    v->type = type ? *type : dc_type_unknown(DC_UNDEFINED);
    v->declared = dc_type_unknown(DC_UNDEFINED);
    v->id = g->n_values;
    if (!dc_strmap_put(g->names, v->name, v))
        return NOMEM("name map");
    DC_TRY(PUSH(g, g->values, g->n_values, g->cap_values, v));
    *out = v;
    return DC_OK;
}

dc_status dc_graph_add_input(dc_graph *g, const char *name, const dc_type *type, dc_value **out)
{
    dc_value *v;
    DC_TRY(dc_graph_new_value(g, name, type, &v));
    DC_TRY(PUSH(g, g->inputs, g->n_inputs, g->cap_inputs, v));
    if (out)
        *out = v;
    return DC_OK;
}

dc_status dc_graph_own_tensor(dc_graph *g, dc_tensor *t)
{
    if (!t)
        return DC_OK;
    dc_status s = PUSH(g, g->owned, g->n_owned, g->cap_owned, t);
    if (s != DC_OK)
        dc_tensor_destroy(t);
    return s;
}

dc_status dc_graph_add_initializer(dc_graph *g, const char *name, dc_tensor *t, dc_value **out)
{
    DC_TRY(dc_graph_own_tensor(g, t));
    dc_type type = dc_type_make(t->dtype, t->rank, t->dims);
    dc_value *v;
    DC_TRY(dc_graph_new_value(g, name, &type, &v));
    v->constant = t;
    v->is_initializer = true;
    DC_TRY(PUSH(g, g->initializers, g->n_initializers, g->cap_initializers, v));
    if (out)
        *out = v;
    return DC_OK;
}

dc_status dc_graph_add_state_update(dc_graph *g, dc_value *state, dc_value *next)
{
    if (!state->is_initializer)
        return dc_error(DC_ERR_INVALID, "state update: '%s' is not an initializer", state->name);
    if (dc_graph_state_update(g, state))
        return dc_error(DC_ERR_INVALID, "state update: '%s' already has one", state->name);
    if (state->type.dtype != next->type.dtype || dc_type_numel(&state->type) != dc_type_numel(&next->type)) {
        char a[128], b[128];
        return dc_error(DC_ERR_SHAPE, "state update: '%s' is %s but its next value '%s' is %s",
                        state->name, dc_type_str(&state->type, a, sizeof a), next->name,
                        dc_type_str(&next->type, b, sizeof b));
    }
    state->is_state = true;
    dc_state_update u = {state, next};
    return PUSH(g, g->state_updates, g->n_state_updates, g->cap_state_updates, u);
}

const dc_state_update *dc_graph_state_update(const dc_graph *g, const dc_value *state)
{
    for (int i = 0; i < g->n_state_updates; i++)
        if (g->state_updates[i].state == state)
            return &g->state_updates[i];
    return NULL;
}

dc_status dc_graph_add_output(dc_graph *g, dc_value *v)
{
    return PUSH(g, g->outputs, g->n_outputs, g->cap_outputs, v);
}

/* ---- nodes ----------------------------------------------------------------- */

dc_status dc_graph_add_node(dc_graph *g, const char *op_type, const char *domain,
                            const char *name, dc_value *const *inputs, int n_inputs,
                            const char *const *output_names, int n_outputs, dc_node **out)
{
    if (out)
        *out = NULL;
    if (n_inputs < 0 || n_outputs < 0)
        return dc_error(DC_ERR_INVALID, "negative input or output count");
    dc_node *n = dc_arena_alloc(g->arena, sizeof *n);
    if (!n)
        return NOMEM("node");
    n->op_type = dc_arena_strdup(g->arena, op_type);
    n->domain = dc_arena_strdup(g->arena, canonical_domain(domain));
    n->name = name && *name ? dc_arena_strdup(g->arena, name) : dc_graph_unique_name(g, op_type);
    n->inputs = dc_arena_alloc(g->arena, (size_t)n_inputs * sizeof *n->inputs);
    n->outputs = dc_arena_alloc(g->arena, (size_t)n_outputs * sizeof *n->outputs);
    if (!n->op_type || !n->name || !n->inputs || !n->outputs)
        return NOMEM("node");
    if (n_inputs)
        memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof *inputs);
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->schema = dc_op_lookup(n->domain, n->op_type);
    n->id = g->n_nodes;
    for (int i = 0; i < n_outputs; i++) {
        const char *oname = output_names ? output_names[i] : NULL;
        if (oname && !*oname)
            continue; /* omitted optional output */
        dc_value *v;
        dc_status s = dc_graph_new_value(g, oname, NULL, &v);
        if (s != DC_OK)
            return dc_error_context(s, "node '%s' (%s)", n->name, n->op_type);
        v->producer = n;
        v->producer_index = i;
        n->outputs[i] = v;
    }
    DC_TRY(PUSH(g, g->nodes, g->n_nodes, g->cap_nodes, n));
    if (out)
        *out = n;
    return DC_OK;
}

/* ---- attributes ------------------------------------------------------------ */

const dc_attr *dc_node_attr(const dc_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t dc_node_attr_int(const dc_node *n, const char *name, int64_t dflt)
{
    const dc_attr *a = dc_node_attr(n, name);
    return a && a->type == DC_ATTR_INT ? a->i : dflt;
}

float dc_node_attr_float(const dc_node *n, const char *name, float dflt)
{
    const dc_attr *a = dc_node_attr(n, name);
    return a && a->type == DC_ATTR_FLOAT ? a->f : dflt;
}

const char *dc_node_attr_string(const dc_node *n, const char *name, const char *dflt)
{
    const dc_attr *a = dc_node_attr(n, name);
    return a && a->type == DC_ATTR_STRING ? a->s.data : dflt;
}

const int64_t *dc_node_attr_ints(const dc_node *n, const char *name, int *count)
{
    const dc_attr *a = dc_node_attr(n, name);
    if (!a || a->type != DC_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

dc_attr *dc_node_add_attr(dc_node *n, dc_graph *g, const char *name, dc_attr_type type)
{
    dc_attr *a = (dc_attr *)dc_node_attr(n, name);
    if (!a) {
        n->attrs = dc_arena_grow(g->arena, n->attrs, sizeof *n->attrs, &n->cap_attrs, n->n_attrs + 1);
        if (!n->attrs)
            return NULL;
        a = &n->attrs[n->n_attrs++];
    }
    memset(a, 0, sizeof *a);
    a->name = dc_arena_strdup(g->arena, name);
    a->type = type;
    return a->name ? a : NULL;
}

dc_status dc_node_set_int(dc_node *n, dc_graph *g, const char *name, int64_t v)
{
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_INT);
    if (!a)
        return NOMEM("attribute");
    a->i = v;
    return DC_OK;
}

dc_status dc_node_set_float(dc_node *n, dc_graph *g, const char *name, float v)
{
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_FLOAT);
    if (!a)
        return NOMEM("attribute");
    a->f = v;
    return DC_OK;
}

dc_status dc_node_set_string(dc_node *n, dc_graph *g, const char *name, const char *v)
{
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_STRING);
    if (!a || !(a->s.data = dc_arena_strdup(g->arena, v)))
        return NOMEM("attribute");
    a->s.len = strlen(v);
    return DC_OK;
}

dc_status dc_node_set_ints(dc_node *n, dc_graph *g, const char *name, const int64_t *v, int count)
{
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_INTS);
    if (!a || !(a->ints = (int64_t *)dc_arena_memdup(g->arena, v, (size_t)count * sizeof *v)))
        return NOMEM("attribute");
    a->n = count;
    return DC_OK;
}

dc_status dc_node_set_floats(dc_node *n, dc_graph *g, const char *name, const float *v, int count)
{
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_FLOATS);
    if (!a || !(a->floats = (float *)dc_arena_memdup(g->arena, v, (size_t)count * sizeof *v)))
        return NOMEM("attribute");
    a->n = count;
    return DC_OK;
}

dc_status dc_node_set_tensor(dc_node *n, dc_graph *g, const char *name, dc_tensor *t)
{
    DC_TRY(dc_graph_own_tensor(g, t));
    dc_attr *a = dc_node_add_attr(n, g, name, DC_ATTR_TENSOR);
    if (!a)
        return NOMEM("attribute");
    a->t = t;
    return DC_OK;
}
