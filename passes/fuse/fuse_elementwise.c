/* Chains of element-wise ops as one FusedElementwise loop (fuse.h).
 *
 * Groups grow from a root, the last op of a chain, backwards into the
 * producers of its operands: a producer joins when it is an element-wise op
 * with the root's output type and every reader of its result is in the group
 * (so nothing else needs the intermediate in memory). Operands from outside
 * become the fused node's inputs (broadcasting as before), scalar constants
 * become program constants. */
#include <stdlib.h>
#include <string.h>

#include "dc_eltwise_program.h"
#include "fuse.h"
#include "match.h"

/* An f32 element-wise op whose operands all broadcast to its output. */
static bool eligible(const dc_node *n)
{
    if (strcmp(n->domain, "") != 0 || !dc_eltwise_opcode_of(n->op_type) || n->n_outputs != 1 ||
        !n->outputs[0] || n->n_inputs != dc_eltwise_arity(dc_eltwise_opcode_of(n->op_type)))
        return false;
    const dc_type *y = &n->outputs[0]->type;
    if (y->dtype != DC_F32 || !dc_type_is_static(y))
        return false;
    for (int i = 0; i < n->n_inputs; i++) {
        const dc_type *t = &n->inputs[i]->type;
        if (t->dtype != DC_F32 || !dc_type_is_static(t) || !dc_match_broadcasts_to(t, y))
            return false;
    }
    return true;
}

typedef struct group {
    dc_node **nodes;
    int n;
} group;

static bool in_group(const group *gr, const dc_node *n)
{
    for (int i = 0; i < gr->n; i++)
        if (gr->nodes[i] == n)
            return true;
    return false;
}

/* Adds producers to the group until none more may join. */
static void grow(const dc_uses *u, group *gr, bool *taken)
{
    const dc_type *y = &gr->nodes[0]->outputs[0]->type;
    for (bool added = true; added;) {
        added = false;
        for (int m = 0; m < gr->n; m++)
            for (int i = 0; i < gr->nodes[m]->n_inputs; i++) {
                dc_value *v = gr->nodes[m]->inputs[i];
                dc_node *p = v->producer;
                if (!p || taken[p->id] || in_group(gr, p) || !eligible(p) ||
                    !dc_match_same_type(&v->type, y) || !dc_uses_internal(u, v, gr->nodes, gr->n))
                    continue;
                gr->nodes[gr->n++] = p;
                taken[p->id] = true;
                added = true;
            }
    }
}

static int by_schedule(const void *a, const void *b)
{
    const dc_node *x = *(dc_node *const *)a, *y = *(dc_node *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The operand's register: a member's result, an input or a constant. */
static int64_t register_of(const group *gr, dc_value *v, dc_value *const *inputs, int n_in,
                           const dc_value *const *consts, int n_const)
{
    for (int k = 0; k < n_in; k++)
        if (inputs[k] == v)
            return k;
    for (int c = 0; c < n_const; c++)
        if (consts[c] == v)
            return n_in + c;
    for (int m = 0; m < gr->n; m++)
        if (gr->nodes[m]->outputs[0] == v)
            return n_in + n_const + m;
    return -1;
}

static dc_status fuse_group(dc_graph *g, group *gr, bool *fused)
{
    *fused = false;
    qsort(gr->nodes, (size_t)gr->n, sizeof *gr->nodes, by_schedule);
    int cap = 2 * gr->n;
    dc_value **inputs = malloc((size_t)cap * sizeof *inputs);
    const dc_value **consts = malloc((size_t)cap * sizeof *consts);
    float *values = malloc((size_t)cap * sizeof *values);
    int64_t *program = malloc((size_t)gr->n * 3 * sizeof *program);
    dc_status s = inputs && consts && values && program ? DC_OK
                                                        : dc_error(DC_ERR_NOMEM, "fusing a chain");
    int n_in = 0, n_const = 0;
    for (int m = 0; s == DC_OK && m < gr->n; m++)
        for (int i = 0; i < gr->nodes[m]->n_inputs; i++) {
            dc_value *v = gr->nodes[m]->inputs[i];
            double x;
            if ((v->producer && in_group(gr, v->producer)) ||
                register_of(gr, v, inputs, n_in, consts, n_const) >= 0)
                continue;
            if (dc_match_scalar_constant(g, v, &x)) {
                values[n_const] = (float)x;
                consts[n_const++] = v;
            } else {
                inputs[n_in++] = v;
            }
        }
    for (int m = 0; s == DC_OK && m < gr->n; m++) {
        const dc_node *n = gr->nodes[m];
        program[3 * m] = dc_eltwise_opcode_of(n->op_type);
        program[3 * m + 1] = register_of(gr, n->inputs[0], inputs, n_in, consts, n_const);
        program[3 * m + 2] =
            n->n_inputs == 2 ? register_of(gr, n->inputs[1], inputs, n_in, consts, n_const) : 0;
    }
    if (s == DC_OK && n_in > 0) {
        dc_value *y = gr->nodes[gr->n - 1]->outputs[0];
        dc_fused_node f = {.op_type = "FusedElementwise", .domain = "ai.dinoc", .inputs = inputs,
                           .n_inputs = n_in, .outputs = &y, .n_outputs = 1};
        dc_node *node;
        s = dc_match_replace(g, gr->nodes, gr->n, &f, &node);
        if (s == DC_OK)
            s = dc_node_set_ints(node, g, "program", program, 3 * gr->n);
        if (s == DC_OK && n_const)
            s = dc_node_set_floats(node, g, "constants", values, n_const);
        if (s == DC_OK)
            s = dc_match_finish(g, node);
        *fused = s == DC_OK;
    }
    free(inputs);
    free(consts);
    free(values);
    free(program);
    return s;
}

dc_status dc_fuse_elementwise(dc_graph *g, int *n_fused)
{
    int n = g->n_nodes;
    dc_uses *u;
    DC_TRY(dc_uses_create(g, &u));
    bool *taken = calloc((size_t)n + 1, sizeof *taken);
    group *groups = calloc((size_t)n + 1, sizeof *groups);
    dc_node **members = malloc(((size_t)n + 1) * sizeof *members);
    dc_status s = taken && groups && members ? DC_OK : dc_error(DC_ERR_NOMEM, "element-wise fusion");
    int n_groups = 0, used = 0;
    /* Collect disjoint groups on the unchanged graph, roots from the end. */
    for (int i = n - 1; s == DC_OK && i >= 0; i--) {
        dc_node *root = g->nodes[i];
        if (taken[i] || !eligible(root))
            continue;
        taken[i] = true;
        group gr = {.nodes = members + used, .n = 1};
        gr.nodes[0] = root;
        grow(u, &gr, taken);
        used += gr.n;
        if (gr.n >= 2)
            groups[n_groups++] = gr;
    }
    dc_uses_destroy(u);
    for (int k = 0; s == DC_OK && k < n_groups; k++) {
        bool fused;
        s = fuse_group(g, &groups[k], &fused);
        *n_fused += fused;
    }
    free(taken);
    free(groups);
    free(members);
    return s;
}
