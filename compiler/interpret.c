/* The reference interpreter; see interpret.h. */
#include "interpret.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "op_registry.h"

/* The data of every value of the graph during a run, by value id. */
typedef struct run_state {
    const dc_graph *g;
    dc_tensor **data;  /* NULL until computed (or when freed) */
    bool *owned;       /* data[i] was made by a kernel (else borrowed) */
    int *last_use;     /* index of the last node reading value i; n_nodes for graph outputs */
    /* Sizes bound to symbolic input dims. */
    const char *symbols[64];
    int64_t symbol_sizes[64];
    int n_symbols;
} run_state;

/* v's id in g, or -1 for a value of an enclosing graph. */
static int slot(const dc_graph *g, const dc_value *v)
{
    return v->id < g->n_values && g->values[v->id] == v ? v->id : -1;
}

static const char *shape_str(const dc_tensor *t, char *buf, size_t size)
{
    dc_type ty = dc_type_make(t->dtype, t->rank, t->dims);
    return dc_type_str(&ty, buf, size);
}

/* t agrees with v's type: element type, rank and static dims. */
static dc_status check_type(const dc_value *v, const dc_tensor *t, const char *what)
{
    const dc_type *ty = &v->type;
    bool ok = (ty->dtype == DC_UNDEFINED || ty->dtype == t->dtype) && (ty->rank < 0 || ty->rank == t->rank);
    for (int k = 0; ok && ty->rank >= 0 && k < ty->rank; k++)
        ok = ty->dims[k].size < 0 || ty->dims[k].size == t->dims[k];
    if (ok)
        return DC_OK;
    char a[128], b[128];
    return dc_error(DC_ERR_SHAPE, "%s '%s': the data is %s but the graph says %s", what, v->name,
                    shape_str(t, a, sizeof a), dc_type_str(ty, b, sizeof b));
}

/* A graph input's symbolic dims take the same size wherever the symbol appears. */
static dc_status bind_symbols(run_state *st, const dc_value *v, const dc_tensor *t)
{
    for (int k = 0; k < v->type.rank; k++) {
        const char *sym = v->type.dims[k].param;
        if (v->type.dims[k].size >= 0 || !sym)
            continue;
        int i = 0;
        while (i < st->n_symbols && strcmp(st->symbols[i], sym) != 0)
            i++;
        if (i == st->n_symbols && i < 64) {
            st->symbols[i] = sym;
            st->symbol_sizes[i] = t->dims[k];
            st->n_symbols++;
        } else if (i < st->n_symbols && st->symbol_sizes[i] != t->dims[k]) {
            return dc_error(DC_ERR_SHAPE, "graph input '%s': dim '%s' is %" PRId64 " here but %" PRId64
                            " in an earlier input", v->name, sym, t->dims[k], st->symbol_sizes[i]);
        }
    }
    return DC_OK;
}

/* Destroys the data of value id if this run made it. */
static void release(run_state *st, int id)
{
    if (st->owned[id])
        dc_tensor_destroy(st->data[id]);
    st->data[id] = NULL;
    st->owned[id] = false;
}

static dc_status feed_inputs(run_state *st, dc_tensor *const *inputs, int n_inputs)
{
    const dc_graph *g = st->g;
    int expected = 0;
    for (int i = 0; i < g->n_inputs; i++)
        expected += !g->inputs[i]->is_initializer;
    if (n_inputs != expected)
        return dc_error(DC_ERR_INVALID, "graph '%s' takes %d inputs, %d given", g->name, expected,
                        n_inputs);
    for (int i = 0, k = 0; i < g->n_inputs; i++) {
        const dc_value *v = g->inputs[i];
        if (v->is_initializer)
            continue;
        const dc_tensor *t = inputs[k++];
        if (!t)
            return dc_error(DC_ERR_INVALID, "graph input '%s' has no tensor", v->name);
        DC_TRY(check_type(v, t, "graph input"));
        DC_TRY(bind_symbols(st, v, t));
        st->data[v->id] = (dc_tensor *)t;
    }
    for (int i = 0; i < g->n_initializers; i++)
        st->data[g->initializers[i]->id] = g->initializers[i]->constant;
    return DC_OK;
}

/* Runs node `index`: gathers its inputs, calls its kernel, checks and stores
 * the results, frees inputs read for the last time. */
static dc_status run_node(run_state *st, int index)
{
    const dc_graph *g = st->g;
    const dc_node *node = g->nodes[index];
    if (!node->schema || !node->schema->reference)
        return dc_error(DC_ERR_UNSUPPORTED, "%s%s%s has no reference kernel", node->domain,
                        *node->domain ? "." : "", node->op_type);
    dc_tensor **ins = calloc((size_t)node->n_inputs + 1, sizeof *ins);
    dc_tensor **outs = calloc((size_t)node->n_outputs + 1, sizeof *outs);
    if (!ins || !outs) {
        free(ins);
        free(outs);
        return dc_error(DC_ERR_NOMEM, "interpreter");
    }
    dc_status s = DC_OK;
    for (int i = 0; i < node->n_inputs && s == DC_OK; i++) {
        const dc_value *v = node->inputs[i];
        if (!v)
            continue;
        int id = slot(g, v);
        ins[i] = id >= 0 && st->data[id] ? st->data[id] : v->constant;
        if (!ins[i])
            s = dc_error(DC_ERR_INVALID, "input '%s' has no data (not computed yet, or freed)", v->name);
    }
    if (s == DC_OK)
        s = node->schema->reference(node, dc_graph_opset(g, node->domain), ins, outs);
    for (int k = 0; k < node->n_outputs; k++) {
        const dc_value *v = node->outputs[k];
        if (s == DC_OK && v && !outs[k])
            s = dc_error(DC_ERR_INVALID, "the kernel made no output %d", k);
        if (s == DC_OK && v)
            s = check_type(v, outs[k], "output");
    }
    for (int k = 0; k < node->n_outputs; k++) {
        const dc_value *v = node->outputs[k];
        int id = v ? slot(g, v) : -1;
        if (s != DC_OK || id < 0) {
            dc_tensor_destroy(outs[k]);
            continue;
        }
        st->data[id] = outs[k];
        st->owned[id] = true;
        if (st->last_use[id] < 0)
            release(st, id); /* nobody reads it */
    }
    for (int i = 0; s == DC_OK && i < node->n_inputs; i++) {
        int id = node->inputs[i] ? slot(g, node->inputs[i]) : -1;
        if (id >= 0 && st->last_use[id] == index)
            release(st, id);
    }
    free(ins);
    free(outs);
    if (s != DC_OK)
        return dc_error_context(s, "node '%s' (%s)", node->name, node->op_type);
    return DC_OK;
}

/* Hands graph output i to the caller: the run's own tensor when this is its
 * only mention among the outputs, else a copy. */
static dc_status collect_output(run_state *st, int i, dc_tensor **out)
{
    const dc_value *v = st->g->outputs[i];
    int id = slot(st->g, v);
    dc_tensor *t = id >= 0 && st->data[id] ? st->data[id] : v->constant;
    if (!t)
        return dc_error(DC_ERR_INVALID, "graph output '%s' was never computed", v->name);
    if (id >= 0 && st->owned[id]) {
        *out = t;
        st->owned[id] = false; /* the caller's now; later mentions copy it */
        return DC_OK;
    }
    return dc_tensor_clone(out, t);
}

dc_status dc_interpret(const dc_graph *g, dc_tensor *const *inputs, int n_inputs,
                       dc_tensor **outputs)
{
    for (int i = 0; i < g->n_outputs; i++)
        outputs[i] = NULL;
    run_state st = {.g = g};
    size_t nv = (size_t)g->n_values + 1;
    st.data = calloc(nv, sizeof *st.data);
    st.owned = calloc(nv, sizeof *st.owned);
    st.last_use = malloc(nv * sizeof *st.last_use);
    dc_status s = DC_OK;
    if (!st.data || !st.owned || !st.last_use)
        s = dc_error(DC_ERR_NOMEM, "interpreter");
    for (size_t i = 0; s == DC_OK && i < nv; i++)
        st.last_use[i] = -1;
    for (int n = 0; s == DC_OK && n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++) {
            int id = g->nodes[n]->inputs[i] ? slot(g, g->nodes[n]->inputs[i]) : -1;
            if (id >= 0)
                st.last_use[id] = n;
        }
    for (int i = 0; s == DC_OK && i < g->n_outputs; i++) {
        int id = slot(g, g->outputs[i]);
        if (id >= 0)
            st.last_use[id] = g->n_nodes; /* kept to the end */
    }
    if (s == DC_OK)
        s = feed_inputs(&st, inputs, n_inputs);
    for (int n = 0; s == DC_OK && n < g->n_nodes; n++)
        s = run_node(&st, n);
    for (int i = 0; s == DC_OK && i < g->n_outputs; i++)
        s = collect_output(&st, i, &outputs[i]);
    if (s != DC_OK)
        for (int i = 0; i < g->n_outputs; i++) {
            dc_tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    for (size_t i = 0; st.owned && i < nv; i++)
        if (st.owned[i])
            dc_tensor_destroy(st.data[i]);
    free(st.data);
    free(st.owned);
    free(st.last_use);
    return s;
}
