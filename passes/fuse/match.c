/* The fusion rules' toolkit: see match.h. */
#include "match.h"

#include <stdlib.h>
#include <string.h>

#include "infer_shapes.h"

bool dc_match_op(const dc_node *n, const char *domain, const char *op_type)
{
    return n && strcmp(n->op_type, op_type) == 0 && strcmp(n->domain, domain) == 0;
}

dc_node *dc_match_producer(const dc_value *v, const char *domain, const char *op_type)
{
    return v && dc_match_op(v->producer, domain, op_type) ? v->producer : NULL;
}

static bool is_graph_input(const dc_graph *g, const dc_value *v)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return true;
    return false;
}

bool dc_match_scalar_constant(const dc_graph *g, const dc_value *v, double *out)
{
    if (!v || !v->constant || v->is_state || is_graph_input(g, v) ||
        dc_tensor_numel(v->constant) != 1)
        return false;
    double x = dc_tensor_get_f64(v->constant, 0);
    if (out)
        *out = x;
    return true;
}

/* ---- uses ------------------------------------------------------------------ */

struct dc_uses {
    int n_values;
    int *start;        /* readers of value id i: readers[start[i] .. start[i+1]) */
    dc_node **readers;
    bool *escapes;
};

static void uses_free(dc_uses *u)
{
    free(u->start);
    free(u->readers);
    free(u->escapes);
    u->start = NULL;
    u->readers = NULL;
    u->escapes = NULL;
}

dc_status dc_uses_update(dc_uses *u, const dc_graph *g)
{
    uses_free(u);
    int nv = g->n_values, total = 0;
    for (int n = 0; n < g->n_nodes; n++)
        total += g->nodes[n]->n_inputs;
    u->n_values = nv;
    u->start = calloc((size_t)nv + 2, sizeof *u->start);
    u->readers = malloc(((size_t)total + 1) * sizeof *u->readers);
    u->escapes = calloc((size_t)nv + 1, sizeof *u->escapes);
    if (!u->start || !u->readers || !u->escapes)
        return dc_error(DC_ERR_NOMEM, "uses of graph '%s'", g->name);
    /* Counting sort of (value, reader) pairs by value id. */
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++) {
            const dc_value *v = g->nodes[n]->inputs[i];
            if (v && v->id < nv && g->values[v->id] == v)
                u->start[v->id + 2]++;
        }
    for (int i = 2; i <= nv + 1; i++)
        u->start[i] += u->start[i - 1];
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++) {
            const dc_value *v = g->nodes[n]->inputs[i];
            if (v && v->id < nv && g->values[v->id] == v)
                u->readers[u->start[v->id + 1]++] = g->nodes[n];
        }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i])
            u->escapes[g->outputs[i]->id] = true;
    for (int i = 0; i < g->n_state_updates; i++)
        u->escapes[g->state_updates[i].next->id] = true;
    return DC_OK;
}

dc_status dc_uses_create(const dc_graph *g, dc_uses **out)
{
    *out = NULL;
    dc_uses *u = calloc(1, sizeof *u);
    if (!u)
        return dc_error(DC_ERR_NOMEM, "uses of graph '%s'", g->name);
    dc_status s = dc_uses_update(u, g);
    if (s != DC_OK) {
        dc_uses_destroy(u);
        return s;
    }
    *out = u;
    return DC_OK;
}

void dc_uses_destroy(dc_uses *u)
{
    if (!u)
        return;
    uses_free(u);
    free(u);
}

static bool known(const dc_uses *u, const dc_value *v)
{
    return v && v->id >= 0 && v->id < u->n_values;
}

int dc_uses_count(const dc_uses *u, const dc_value *v)
{
    return known(u, v) ? u->start[v->id + 1] - u->start[v->id] : 0;
}

dc_node *const *dc_uses_readers(const dc_uses *u, const dc_value *v)
{
    return known(u, v) ? &u->readers[u->start[v->id]] : NULL;
}

bool dc_uses_escapes(const dc_uses *u, const dc_value *v)
{
    /* A value created after the index was built is unknown: treat it as escaping. */
    return !known(u, v) || u->escapes[v->id];
}

dc_node *dc_uses_only_reader(const dc_uses *u, const dc_value *v)
{
    if (dc_uses_escapes(u, v) || dc_uses_count(u, v) != 1)
        return NULL;
    return dc_uses_readers(u, v)[0];
}

bool dc_uses_internal(const dc_uses *u, const dc_value *v, dc_node *const *match, int n)
{
    if (dc_uses_escapes(u, v))
        return false;
    dc_node *const *r = dc_uses_readers(u, v);
    for (int i = 0; i < dc_uses_count(u, v); i++) {
        bool inside = false;
        for (int k = 0; k < n && !inside; k++)
            inside = r[i] == match[k];
        if (!inside)
            return false;
    }
    return true;
}

/* ---- shapes ---------------------------------------------------------------- */

bool dc_match_broadcasts_to(const dc_type *small, const dc_type *big)
{
    if (small->rank < 0 || big->rank < 0 || small->rank > big->rank)
        return false;
    for (int i = 1; i <= small->rank; i++) {
        dc_dim s = small->dims[small->rank - i], b = big->dims[big->rank - i];
        if (!(s.size == 1 || dc_dim_equal(s, b)))
            return false;
    }
    return true;
}

bool dc_match_same_type(const dc_type *a, const dc_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || !dc_type_is_static(a) || !dc_type_is_static(b))
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i].size != b->dims[i].size)
            return false;
    return true;
}

/* ---- rewriting ------------------------------------------------------------- */

dc_status dc_match_replace(dc_graph *g, dc_node *const *match, int n, const dc_fused_node *fused,
                           dc_node **out)
{
    if (out)
        *out = NULL;
    int last = -1;
    for (int i = 0; i < n; i++)
        if (match[i]->id > last)
            last = match[i]->id;
    for (int k = 0; k < fused->n_outputs; k++) {
        bool ours = false;
        for (int i = 0; i < n && !ours; i++)
            ours = fused->outputs[k]->producer == match[i];
        if (!ours)
            return dc_error(DC_ERR_INVALID, "fusing into %s: output '%s' is not produced by the "
                            "matched nodes", fused->op_type, fused->outputs[k]->name);
    }
    int position = last - n + 1; /* where `last` is once the matched nodes are gone */
    for (int i = 0; i < n; i++)
        DC_TRY(dc_graph_remove_node(g, match[i]));
    const char **names = malloc(((size_t)fused->n_outputs + 1) * sizeof *names);
    if (!names)
        return dc_error(DC_ERR_NOMEM, "fusing into %s", fused->op_type);
    for (int k = 0; k < fused->n_outputs; k++)
        names[k] = "";
    dc_node *node;
    dc_status s = dc_graph_add_node(g, fused->op_type, fused->domain, fused->name, fused->inputs,
                                    fused->n_inputs, names, fused->n_outputs, &node);
    free(names);
    DC_TRY(s);
    for (int k = 0; k < fused->n_outputs; k++) {
        node->outputs[k] = fused->outputs[k];
        fused->outputs[k]->producer = node;
        fused->outputs[k]->producer_index = k;
    }
    DC_TRY(dc_graph_move_node(g, node, position));
    DC_TRY(dc_graph_sort(g));
    if (out)
        *out = node;
    return DC_OK;
}

dc_status dc_match_finish(dc_graph *g, dc_node *fused)
{
    dc_type *before = malloc(((size_t)fused->n_outputs + 1) * sizeof *before);
    if (!before)
        return dc_error(DC_ERR_NOMEM, "node '%s'", fused->name);
    for (int k = 0; k < fused->n_outputs; k++)
        before[k] = fused->outputs[k] ? fused->outputs[k]->type : dc_type_unknown(DC_UNDEFINED);
    dc_status s = dc_infer_node(g, fused);
    for (int k = 0; s == DC_OK && k < fused->n_outputs; k++) {
        const dc_value *v = fused->outputs[k];
        char a[128], b[128];
        if (v && before[k].rank >= 0 && !dc_match_same_type(&before[k], &v->type) &&
            dc_type_is_static(&before[k]))
            s = dc_error(DC_ERR_INVALID, "fused node '%s' (%s) changed the type of '%s' from %s to %s",
                         fused->name, fused->op_type, v->name, dc_type_str(&before[k], a, sizeof a),
                         dc_type_str(&v->type, b, sizeof b));
    }
    free(before);
    return s;
}
