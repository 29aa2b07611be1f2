/* Common-subexpression elimination by hashing (op, inputs, attributes). */
#include "eliminate_common_subexpressions.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_string(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = mix(h, (unsigned char)*s);
    return h;
}

/* Small tensors known at compile time (axes, shapes, scalars): the builder
 * and autodiff make a fresh one per node, so two ReduceSums over the same
 * axes read different values with the same contents. Inputs are compared by
 * contents then, so the nodes still merge. Graph inputs and training state
 * are not constants whatever data they start with. */
enum { SMALL_CONSTANT_BYTES = 256 };

static const dc_tensor *small_constant(const bool *is_input, const dc_value *v)
{
    return v && v->constant && !v->is_state && !is_input[v->id] &&
                   v->constant->nbytes <= SMALL_CONSTANT_BYTES
               ? v->constant : NULL;
}

static uint64_t hash_input(const bool *is_input, const dc_value *v)
{
    const dc_tensor *t = small_constant(is_input, v);
    if (!t)
        return v ? (uint64_t)v->id + 1 : 0;
    uint64_t h = mix(0x5eedull, (uint64_t)t->dtype);
    for (size_t i = 0; i < t->nbytes; i++)
        h = mix(h, ((const unsigned char *)t->data)[i]);
    return h;
}

static uint64_t hash_node(const bool *is_input, const dc_node *n)
{
    uint64_t h = hash_string(hash_string(0, n->op_type), n->domain);
    h = mix(h, (uint64_t)n->n_inputs);
    for (int i = 0; i < n->n_inputs; i++)
        h = mix(h, hash_input(is_input, n->inputs[i]));
    for (int i = 0; i < n->n_attrs; i++)
        h = mix(hash_string(h, n->attrs[i].name), (uint64_t)n->attrs[i].i);
    return h;
}

static bool same_tensor(const dc_tensor *a, const dc_tensor *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->dtype != b->dtype || a->rank != b->rank || a->nbytes != b->nbytes)
        return false;
    return memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims) == 0 &&
           memcmp(a->data, b->data, a->nbytes) == 0;
}

static bool same_attr(const dc_attr *a, const dc_attr *b)
{
    if (strcmp(a->name, b->name) != 0 || a->type != b->type || a->n != b->n)
        return false;
    switch (a->type) {
    case DC_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case DC_ATTR_INT: return a->i == b->i;
    case DC_ATTR_STRING: return a->s.len == b->s.len && memcmp(a->s.data, b->s.data, a->s.len) == 0;
    case DC_ATTR_TENSOR: return same_tensor(a->t, b->t);
    case DC_ATTR_FLOATS: return memcmp(a->floats, b->floats, (size_t)a->n * sizeof *a->floats) == 0;
    case DC_ATTR_INTS: return memcmp(a->ints, b->ints, (size_t)a->n * sizeof *a->ints) == 0;
    case DC_ATTR_STRINGS:
        for (int i = 0; i < a->n; i++)
            if (a->strings[i].len != b->strings[i].len ||
                memcmp(a->strings[i].data, b->strings[i].data, a->strings[i].len) != 0)
                return false;
        return true;
    case DC_ATTR_TENSORS:
        for (int i = 0; i < a->n; i++)
            if (!same_tensor(a->tensors[i], b->tensors[i]))
                return false;
        return true;
    default: return false; /* graphs, sparse tensors, type protos: never merged */
    }
}

static const dc_attr *find_attr(const dc_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

static bool same_input(const bool *is_input, const dc_value *a, const dc_value *b)
{
    if (a == b)
        return true;
    const dc_tensor *ta = small_constant(is_input, a), *tb = small_constant(is_input, b);
    return ta && tb && same_tensor(ta, tb);
}

static bool same_node(const bool *is_input, const dc_node *a, const dc_node *b)
{
    if (strcmp(a->op_type, b->op_type) != 0 || strcmp(a->domain, b->domain) != 0 ||
        a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_attrs != b->n_attrs)
        return false;
    for (int i = 0; i < a->n_inputs; i++)
        if (!same_input(is_input, a->inputs[i], b->inputs[i]))
            return false;
    for (int i = 0; i < a->n_outputs; i++)
        if ((a->outputs[i] == NULL) != (b->outputs[i] == NULL))
            return false;
    for (int i = 0; i < a->n_attrs; i++) {
        const dc_attr *o = find_attr(b, a->attrs[i].name);
        if (!o || !same_attr(&a->attrs[i], o))
            return false;
    }
    return true;
}

static bool is_pure(const dc_node *n)
{
    if (strcmp(n->domain, "") != 0)
        return false;
    if (strcmp(n->op_type, "Dropout") == 0)
        return false; /* random in training mode; folding handles the inference form */
    for (int i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].type == DC_ATTR_GRAPH || n->attrs[i].type == DC_ATTR_GRAPHS)
            return false;
    return true;
}

static bool escapes(const dc_graph *g, const dc_node *n)
{
    for (int k = 0; k < n->n_outputs; k++) {
        const dc_value *v = n->outputs[k];
        if (!v)
            continue;
        for (int i = 0; i < g->n_outputs; i++)
            if (g->outputs[i] == v)
                return true;
        for (int i = 0; i < g->n_state_updates; i++)
            if (g->state_updates[i].next == v)
                return true;
    }
    return false;
}

dc_status dc_eliminate_common_subexpressions(dc_graph *g, int *n_removed)
{
    if (n_removed)
        *n_removed = 0;
    /* Open addressing over node pointers, at most half full. */
    size_t cap = 16;
    while (cap < 2 * (size_t)g->n_nodes + 2)
        cap *= 2;
    dc_node **table = calloc(cap, sizeof *table);
    bool *is_input = calloc((size_t)g->n_values + 1, sizeof *is_input);
    if (!table || !is_input) {
        free(table);
        free(is_input);
        return dc_error(DC_ERR_NOMEM, "CSE of graph '%s'", g->name);
    }
    for (int i = 0; i < g->n_inputs; i++)
        is_input[g->inputs[i]->id] = true;
    dc_status s = DC_OK;
    int removed = 0;
    for (int i = 0; i < g->n_nodes && s == DC_OK;) {
        dc_node *n = g->nodes[i];
        if (!is_pure(n)) {
            i++;
            continue;
        }
        size_t slot = (size_t)hash_node(is_input, n) & (cap - 1);
        while (table[slot] && !same_node(is_input, table[slot], n))
            slot = (slot + 1) & (cap - 1);
        if (!table[slot]) {
            table[slot] = n;
            i++;
            continue;
        }
        if (escapes(g, n)) {
            i++;
            continue;
        }
        const dc_node *kept = table[slot];
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k])
                dc_graph_replace_uses(g, n->outputs[k], kept->outputs[k]);
        s = dc_graph_remove_node(g, n); /* the next node moves to position i */
        removed++;
    }
    free(table);
    free(is_input);
    if (n_removed)
        *n_removed = removed;
    return s;
}
