/* Specialising a graph to known inputs: bound data and filled-in dims. */
#include "specialize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_shapes.h"
#include "op_registry.h"

static dc_value *find_input(const dc_graph *g, const char *name)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (strcmp(g->inputs[i]->name, name) == 0)
            return g->inputs[i];
    return NULL;
}

static dc_type tensor_type(const dc_tensor *t)
{
    return dc_type_make(t->dtype, t->rank, t->dims);
}

/* Whether `t` fits the declared type: same element type (when declared), and
 * the same rank and dims where those are known. */
static bool fits(const dc_type *declared, const dc_tensor *t)
{
    if (declared->dtype != DC_UNDEFINED && declared->dtype != t->dtype)
        return false;
    if (declared->rank < 0)
        return true;
    if (declared->rank != t->rank)
        return false;
    for (int d = 0; d < t->rank; d++)
        if (declared->dims[d].size >= 0 && declared->dims[d].size != t->dims[d])
            return false;
    return true;
}

static dc_status mismatch(const dc_value *v, const dc_tensor *t)
{
    char want[160], got[160];
    dc_type tt = tensor_type(t);
    return dc_error(DC_ERR_SHAPE, "input '%s': expected %s, got %s", v->name,
                    dc_type_str(&v->type, want, sizeof want), dc_type_str(&tt, got, sizeof got));
}

/* need[v->id]: v's data must be known at compile time, because it is a static
 * input or computes one (through nodes other than Shape and Size, which read
 * only shapes). Values already known need nothing more. */
static bool *static_needs(const dc_graph *g)
{
    bool *need = calloc((size_t)g->n_values + 1, sizeof *need);
    for (int k = g->n_nodes - 1; need && k >= 0; k--) {
        const dc_node *n = g->nodes[k];
        bool outputs_needed = false;
        for (int i = 0; i < n->n_outputs; i++)
            if (n->outputs[i] && need[n->outputs[i]->id] && !n->outputs[i]->constant)
                outputs_needed = true;
        bool shape_only = strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0;
        for (int i = 0; i < n->n_inputs; i++) {
            const dc_value *v = n->inputs[i];
            bool is_static = n->schema && i < n->schema->n_static_inputs && n->schema->static_inputs[i];
            if (v && (is_static || (outputs_needed && !shape_only)))
                need[v->id] = true;
        }
    }
    return need;
}

/* Worded like dc_session_set_input's, so both paths of `dinoc run` agree. */
static dc_status no_such_input(const dc_graph *g, const char *name)
{
    char names[512] = "";
    size_t n = 0;
    for (int i = 0; i < g->n_inputs && n < sizeof names; i++)
        if (!g->inputs[i]->constant)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "",
                                  g->inputs[i]->name);
    return dc_error(DC_ERR_INVALID, "no input named '%s' (the model's inputs: %s)", name,
                    n ? names : "none");
}

/* Unknown dims of the given inputs take the tensors' dims. */
static dc_status fill_dims(dc_graph *g, const dc_named_tensor *inputs, int n)
{
    for (int i = 0; i < n; i++) {
        dc_value *v = find_input(g, inputs[i].name);
        if (!v || v->constant)
            return no_such_input(g, inputs[i].name);
        const dc_tensor *t = inputs[i].tensor;
        if (!fits(&v->type, t)) /* the plan's signature check reports it */
            continue;
        v->type = tensor_type(t);
    }
    return DC_OK;
}

/* `v` stops being a graph input (it became an initializer). */
static void remove_input(dc_graph *g, const dc_value *v)
{
    int k = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] != v)
            g->inputs[k++] = g->inputs[i];
    g->n_inputs = k;
}

static dc_status bind(dc_graph *g, const dc_named_tensor *inputs, int n, bool *bound)
{
    bool *need = static_needs(g);
    if (!need)
        return dc_error(DC_ERR_NOMEM, "specialising %d values", g->n_values);
    dc_status s = DC_OK;
    for (int i = 0; i < n && s == DC_OK; i++) {
        dc_value *v = find_input(g, inputs[i].name);
        if (!v || !need[v->id]) /* !v: given twice and bound already */
            continue;
        if (!fits(&v->type, inputs[i].tensor) || !dc_type_is_static(&v->type)) {
            s = mismatch(v, inputs[i].tensor);
            break;
        }
        dc_tensor *copy;
        s = dc_tensor_clone(&copy, inputs[i].tensor);
        if (s == DC_OK)
            s = dc_graph_make_initializer(g, v, copy);
        if (s == DC_OK) {
            remove_input(g, v);
            if (bound)
                bound[i] = true;
        }
    }
    free(need);
    return s;
}

dc_status dc_specialize_inputs(dc_graph *g, const dc_named_tensor *inputs, int n_inputs,
                               bool *bound)
{
    for (int i = 0; bound && i < n_inputs; i++)
        bound[i] = false;
    DC_TRY(fill_dims(g, inputs, n_inputs));
    DC_TRY(dc_infer_shapes(g));
    DC_TRY(bind(g, inputs, n_inputs, bound));
    return dc_infer_shapes(g);
}
