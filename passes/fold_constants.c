/* Constant folding; see fold_constants.h. */
#include "fold_constants.h"

#include <stdlib.h>
#include <string.h>

#include "infer_shapes.h"
#include "op_registry.h"

/* v's data is known at compile time and cannot change: initializers that the
 * caller cannot override and that are not training state, Constant outputs,
 * inference results. */
static bool is_known(const dc_graph *g, const dc_value *v)
{
    if (!v->constant || v->is_state)
        return false;
    for (int i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] == v)
            return false; /* an initializer listed as input is only a default */
    return true;
}

static bool has_subgraph(const dc_node *node)
{
    for (int i = 0; i < node->n_attrs; i++)
        if (node->attrs[i].type == DC_ATTR_GRAPH || node->attrs[i].type == DC_ATTR_GRAPHS)
            return true;
    return false;
}

/* Dropout in training mode with a non-zero ratio draws random numbers. Its
 * inputs are known when this is asked. */
static bool is_random(const dc_graph *g, const dc_node *node)
{
    if (strcmp(node->op_type, "Dropout") != 0 || *node->domain)
        return false;
    int64_t opset = dc_graph_opset(g, node->domain);
    double ratio = dc_node_attr_float(node, "ratio", 0.5f);
    bool training = false;
    if (opset < 7) {
        training = dc_node_attr_int(node, "is_test", 0) == 0;
    } else if (opset >= 12) {
        const dc_value *r = node->n_inputs > 1 ? node->inputs[1] : NULL;
        const dc_value *t = node->n_inputs > 2 ? node->inputs[2] : NULL;
        ratio = r && r->constant ? dc_tensor_get_f64(r->constant, 0) : 0.5;
        training = t && t->constant && dc_tensor_get_i64(t->constant, 0) != 0;
    }
    return training && ratio != 0;
}

/* Every reader of v is a view (Reshape, ...) or reads only its shape. */
static bool only_view_consumers(const dc_graph *g, const dc_value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return false;
    for (int n = 0; n < g->n_nodes; n++) {
        const dc_node *node = g->nodes[n];
        for (int i = 0; i < node->n_inputs; i++) {
            if (node->inputs[i] != v)
                continue;
            bool shape_only = !*node->domain && (strcmp(node->op_type, "Shape") == 0 ||
                                                 strcmp(node->op_type, "Size") == 0);
            if (!shape_only && !(node->schema && node->schema->is_view && i == 0))
                return false;
        }
    }
    return true;
}

static bool same_type(const dc_type *a, const dc_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int k = 0; k < a->rank; k++) {
        const dc_dim x = a->dims[k], y = b->dims[k];
        if (x.size != y.size || !x.param != !y.param || (x.param && strcmp(x.param, y.param) != 0))
            return false;
    }
    return true;
}

/* The folded data agrees with what inference said about v. */
static dc_status check_result(const dc_node *node, const dc_value *v, const dc_tensor *t)
{
    const dc_type *ty = &v->type;
    bool ok = (ty->dtype == DC_UNDEFINED || ty->dtype == t->dtype) && (ty->rank < 0 || ty->rank == t->rank);
    for (int k = 0; ok && ty->rank >= 0 && k < ty->rank; k++)
        ok = ty->dims[k].size < 0 || ty->dims[k].size == t->dims[k];
    if (ok)
        return DC_OK;
    char a[128], b[128];
    dc_type got = dc_type_make(t->dtype, t->rank, t->dims);
    return dc_error(DC_ERR_SHAPE, "node '%s' (%s): folded '%s' is %s but inference says %s",
                    node->name, node->op_type, v->name, dc_type_str(&got, a, sizeof a),
                    dc_type_str(ty, b, sizeof b));
}

/* The node's results when they are known: evaluated from known inputs, or
 * copied from what inference stored. *ok = false when the node stays. */
static dc_status compute(dc_graph *g, const dc_node *node, dc_tensor **results, bool *ok)
{
    *ok = false;
    bool inputs_known = true, outputs_known = node->n_outputs > 0;
    for (int i = 0; i < node->n_inputs; i++)
        inputs_known &= !node->inputs[i] || is_known(g, node->inputs[i]);
    for (int k = 0; k < node->n_outputs; k++)
        outputs_known &= !node->outputs[k] || node->outputs[k]->constant != NULL;
    if (inputs_known) {
        if (is_random(g, node))
            return DC_OK;
        dc_tensor **ins = calloc((size_t)node->n_inputs + 1, sizeof *ins);
        if (!ins)
            return dc_error(DC_ERR_NOMEM, "constant folding");
        for (int i = 0; i < node->n_inputs; i++)
            ins[i] = node->inputs[i] ? node->inputs[i]->constant : NULL;
        dc_status s = node->schema->reference(node, dc_graph_opset(g, node->domain), ins, results);
        free(ins);
        if (s != DC_OK)
            return dc_error_context(s, "constant folding: node '%s' (%s)", node->name, node->op_type);
        *ok = true;
        return DC_OK;
    }
    if (!outputs_known)
        return DC_OK;
    for (int k = 0; k < node->n_outputs; k++)
        if (node->outputs[k])
            DC_TRY(dc_tensor_clone(&results[k], node->outputs[k]->constant));
    *ok = true;
    return DC_OK;
}

/* Folds `node` if it can; *folded tells. Outputs whose type became more
 * precise are marked in `changed`. */
static dc_status try_fold(dc_graph *g, dc_node *node, bool *changed, bool *folded)
{
    *folded = false;
    if (!node->schema || !node->schema->reference || strcmp(node->domain, "ai.dinoc") == 0 ||
        has_subgraph(node))
        return DC_OK;
    dc_tensor **results = calloc((size_t)node->n_outputs + 1, sizeof *results);
    if (!results)
        return dc_error(DC_ERR_NOMEM, "constant folding");
    bool ok;
    dc_status s = compute(g, node, results, &ok);
    for (int k = 0; s == DC_OK && ok && k < node->n_outputs; k++) {
        const dc_value *v = node->outputs[k];
        if (!v)
            continue;
        s = check_result(node, v, results[k]);
        if (results[k]->nbytes > DC_FOLD_MAX_BYTES && !only_view_consumers(g, v))
            ok = false;
    }
    if (s == DC_OK && ok)
        s = dc_graph_remove_node(g, node);
    for (int k = 0; k < node->n_outputs; k++) {
        dc_value *v = node->outputs[k];
        if (s != DC_OK || !ok || !v) {
            dc_tensor_destroy(results[k]);
            continue;
        }
        dc_type before = v->type;
        s = dc_graph_make_initializer(g, v, results[k]); /* owns results[k] now */
        changed[v->id] |= !same_type(&before, &v->type);
    }
    free(results);
    *folded = s == DC_OK && ok;
    return s;
}

/* Infers `node` again when an input's type changed; marks its outputs whose
 * type changed in turn. */
static dc_status reinfer(dc_graph *g, dc_node *node, bool *changed)
{
    bool stale = false;
    for (int k = 0; k < node->n_inputs; k++) {
        const dc_value *v = node->inputs[k];
        stale |= v && v->id < g->n_values && g->values[v->id] == v && changed[v->id];
    }
    if (!stale || !node->schema)
        return DC_OK;
    dc_type *before = malloc(((size_t)node->n_outputs + 1) * sizeof *before);
    if (!before)
        return dc_error(DC_ERR_NOMEM, "constant folding");
    for (int k = 0; k < node->n_outputs; k++)
        if (node->outputs[k])
            before[k] = node->outputs[k]->type;
    dc_status s = dc_infer_node(g, node);
    for (int k = 0; s == DC_OK && k < node->n_outputs; k++)
        if (node->outputs[k])
            changed[node->outputs[k]->id] |= !same_type(&before[k], &node->outputs[k]->type);
    free(before);
    return s;
}

dc_status dc_fold_constants(dc_graph *g)
{
    bool *changed = calloc((size_t)g->n_values + 1, sizeof *changed);
    if (!changed)
        return dc_error(DC_ERR_NOMEM, "constant folding");
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < g->n_nodes;) {
        dc_node *node = g->nodes[i];
        bool folded = false;
        s = reinfer(g, node, changed);
        if (s == DC_OK)
            s = try_fold(g, node, changed, &folded);
        if (!folded)
            i++; /* else the next node moved into slot i */
    }
    free(changed);
    return s;
}
