/* dc_fuse_gelu (fuse.h): the erf-GELU composition -> ai.dinoc Gelu.
 *
 *   d = x / √2  (Div by √2 or Mul by 1/√2)     e = Erf(d)     a = e + 1
 *   y = (x · a) · 0.5   or   y = (x · 0.5) · a   (any operand order)
 *
 * Every intermediate must be read only inside the match (one reader, no graph
 * output or state update: match.h's uses), so removing the composition
 * removes nothing else. The Gelu node
 * takes the place of the last Mul in the schedule. */
#include <math.h>
#include <string.h>

#include "fuse.h"
#include "infer_shapes.h"
#include "match.h"
#include "op_registry.h"

/* The producer of v when it is a default-domain `op` whose output v is read
 * by that one node only (no graph output, no state update). */
static dc_node *single_use_op(const dc_uses *u, const dc_value *v, const char *op)
{
    dc_node *n = v ? v->producer : NULL;
    if (!n || strcmp(n->op_type, op) != 0 || *n->domain || !dc_uses_only_reader(u, v))
        return NULL;
    return n;
}

/* v is a compile-time scalar (any shape of one element) within 1e-6 of `want`. */
static bool is_scalar(const dc_value *v, double want)
{
    if (!v || !v->constant || v->is_state || dc_tensor_numel(v->constant) != 1 ||
        !dc_dtype_is_float(v->constant->dtype))
        return false;
    double x = dc_tensor_get_f64(v->constant, 0);
    return fabs(x - want) <= 1e-6 * fabs(want);
}

/* For a binary node with one scalar operand equal to `want`: the other operand. */
static dc_value *other_than_scalar(const dc_node *n, double want, bool commutative)
{
    if (is_scalar(n->inputs[1], want))
        return n->inputs[0];
    if (commutative && is_scalar(n->inputs[0], want))
        return n->inputs[1];
    return NULL;
}

/* For Mul(p, q): the operand that is not `one`, NULL when neither is. */
static dc_value *partner(const dc_node *n, const dc_value *one)
{
    return n->inputs[0] == one ? n->inputs[1] : n->inputs[1] == one ? n->inputs[0] : NULL;
}

/* The nodes of one match, in no particular order; nodes[0] is the last Mul. */
typedef struct gelu_match {
    dc_node *nodes[5];
    dc_value *x;
} gelu_match;

/* Matches the composition whose erf node is `erf`. */
static bool match_at(const dc_uses *u, dc_node *erf, gelu_match *m)
{
    dc_node *scale = erf->inputs[0]->producer;
    if (!scale || *scale->domain || !dc_uses_only_reader(u, erf->inputs[0]))
        return false;
    dc_value *x = NULL;
    if (strcmp(scale->op_type, "Div") == 0)
        x = other_than_scalar(scale, M_SQRT2, false);
    else if (strcmp(scale->op_type, "Mul") == 0)
        x = other_than_scalar(scale, M_SQRT1_2, true);
    /* The one reader of erf's output: Add(e, 1). */
    dc_node *add = x ? dc_uses_only_reader(u, erf->outputs[0]) : NULL;
    if (!add || strcmp(add->op_type, "Add") != 0 || *add->domain ||
        other_than_scalar(add, 1.0, true) != erf->outputs[0])
        return false;
    /* The one reader of a = e + 1: a Mul with x (then · 0.5) or with x · 0.5. */
    dc_value *a = add->outputs[0];
    dc_node *mul = dc_uses_only_reader(u, a);
    if (!mul || strcmp(mul->op_type, "Mul") != 0 || *mul->domain)
        return false;
    dc_value *other = partner(mul, a);
    dc_node *last, *inner;
    if (other == x) { /* (x · a) · 0.5 */
        inner = mul;
        last = dc_uses_only_reader(u, mul->outputs[0]);
        if (!last || strcmp(last->op_type, "Mul") != 0 || *last->domain ||
            other_than_scalar(last, 0.5, true) != mul->outputs[0])
            return false;
    } else { /* (x · 0.5) · a */
        inner = single_use_op(u, other, "Mul");
        if (!inner || other_than_scalar(inner, 0.5, true) != x)
            return false;
        last = mul;
    }
    /* Same type in and out: no broadcasting hidden in the scalars. */
    const dc_type *tx = &x->type, *ty = &last->outputs[0]->type;
    if (tx->dtype != ty->dtype || tx->rank != ty->rank || !dc_dtype_is_float(tx->dtype))
        return false;
    for (int i = 0; i < tx->rank; i++)
        if (!dc_dim_equal(tx->dims[i], ty->dims[i]))
            return false;
    *m = (gelu_match){{last, inner, add, erf, scale}, x};
    return true;
}

static dc_status replace(dc_graph *g, const gelu_match *m)
{
    dc_node *last = m->nodes[0], *gelu;
    if (!dc_graph_opset(g, DC_DOMAIN_DINOC))
        DC_TRY(dc_graph_set_opset(g, DC_DOMAIN_DINOC, 1));
    const char *name = dc_graph_unique_name(g, "gelu");
    DC_TRY(dc_graph_add_node(g, "Gelu", DC_DOMAIN_DINOC, name, (dc_value *const[]){m->x}, 1, NULL,
                             1, &gelu));
    DC_TRY(dc_infer_node(g, gelu));
    DC_TRY(dc_graph_move_node(g, gelu, last->id));
    dc_graph_replace_uses(g, last->outputs[0], gelu->outputs[0]);
    for (int i = 0; i < 5; i++)
        DC_TRY(dc_graph_remove_node(g, m->nodes[i]));
    return DC_OK;
}

dc_status dc_fuse_gelu(dc_graph *g, int *n_fused)
{
    *n_fused = 0;
    dc_uses *u = NULL;
    dc_status s = DC_OK;
    for (int n = 0; s == DC_OK && n < g->n_nodes; n++) {
        dc_node *erf = g->nodes[n];
        if (strcmp(erf->op_type, "Erf") != 0 || *erf->domain)
            continue;
        if (!u)
            s = dc_uses_create(g, &u);
        gelu_match m;
        if (s != DC_OK || !match_at(u, erf, &m))
            continue;
        s = replace(g, &m);
        (*n_fused)++;
        /* The schedule moved: count again and rescan from before the match. */
        if (s == DC_OK)
            s = dc_uses_update(u, g);
        n = n - 5 < -1 ? -1 : n - 5;
    }
    dc_uses_destroy(u);
    return s;
}
