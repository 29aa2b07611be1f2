/* The optimizer's AdamW nodes of one param group as one AdamWGroup (fuse.h).
 *
 * AdamW nodes belong together when they read the same lr, weight decay and
 * step values and carry the same attributes (betas, epsilon, lr_scale,
 * decay): what a param group fixes. Their quadruples and outputs are kept in
 * schedule order; the state updates keep pointing at the same values. */
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "match.h"

static bool same_group(const dc_node *a, const dc_node *b)
{
    static const char *const floats[] = {"beta1", "beta2", "epsilon", "lr_scale"};
    for (int i = 4; i < 7; i++)
        if (a->inputs[i] != b->inputs[i])
            return false;
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (dc_node_attr_float(a, floats[i], -1.0f) != dc_node_attr_float(b, floats[i], -1.0f))
            return false;
    return dc_node_attr_int(a, "decay", 1) == dc_node_attr_int(b, "decay", 1);
}

static bool is_adamw(const dc_node *n)
{
    return dc_match_op(n, "ai.dinoc", "AdamW") && n->n_inputs == 7 && n->n_outputs == 3 &&
           n->outputs[0] && n->outputs[1] && n->outputs[2];
}

static dc_status fuse_group(dc_graph *g, dc_node *const *members, int n)
{
    dc_value **inputs = malloc((3 + 4 * (size_t)n) * sizeof *inputs);
    dc_value **outputs = malloc(3 * (size_t)n * sizeof *outputs);
    dc_status s = inputs && outputs ? DC_OK : dc_error(DC_ERR_NOMEM, "AdamW group of %d", n);
    if (s == DC_OK) {
        for (int i = 0; i < 3; i++)
            inputs[i] = members[0]->inputs[4 + i];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < 4; i++)
                inputs[3 + 4 * k + i] = members[k]->inputs[i];
            for (int i = 0; i < 3; i++)
                outputs[3 * k + i] = members[k]->outputs[i];
        }
        const dc_node *first = members[0];
        dc_fused_node f = {.op_type = "AdamWGroup", .domain = "ai.dinoc", .inputs = inputs,
                           .n_inputs = 3 + 4 * n, .outputs = outputs, .n_outputs = 3 * n};
        /* The attributes outlive the members (they are in the graph's arena). */
        float beta1 = dc_node_attr_float(first, "beta1", 0.9f);
        float beta2 = dc_node_attr_float(first, "beta2", 0.999f);
        float eps = dc_node_attr_float(first, "epsilon", 1e-8f);
        float lr_scale = dc_node_attr_float(first, "lr_scale", 1.0f);
        int64_t decay = dc_node_attr_int(first, "decay", 1);
        dc_node *node;
        s = dc_match_replace(g, members, n, &f, &node);
        if (s == DC_OK)
            s = dc_node_set_float(node, g, "beta1", beta1);
        if (s == DC_OK)
            s = dc_node_set_float(node, g, "beta2", beta2);
        if (s == DC_OK)
            s = dc_node_set_float(node, g, "epsilon", eps);
        if (s == DC_OK)
            s = dc_node_set_float(node, g, "lr_scale", lr_scale);
        if (s == DC_OK)
            s = dc_node_set_int(node, g, "decay", decay);
        if (s == DC_OK)
            s = dc_match_finish(g, node);
    }
    free(inputs);
    free(outputs);
    return s;
}

dc_status dc_fuse_adamw(dc_graph *g, int *n_fused)
{
    int n = g->n_nodes;
    dc_node **all = malloc(((size_t)n + 1) * sizeof *all), **members = malloc(((size_t)n + 1) * sizeof *members);
    dc_status s = all && members ? DC_OK : dc_error(DC_ERR_NOMEM, "AdamW fusion");
    int n_all = 0;
    for (int i = 0; s == DC_OK && i < n; i++)
        if (is_adamw(g->nodes[i]))
            all[n_all++] = g->nodes[i];
    /* Groups in order of their first member; each node joins the first group it matches. */
    for (int i = 0; s == DC_OK && i < n_all; i++) {
        if (!all[i])
            continue;
        int m = 0;
        members[m++] = all[i];
        for (int k = i + 1; k < n_all; k++)
            if (all[k] && same_group(all[i], all[k])) {
                members[m++] = all[k];
                all[k] = NULL;
            }
        all[i] = NULL;
        if (m < 2)
            continue;
        s = fuse_group(g, members, m);
        ++*n_fused;
    }
    free(all);
    free(members);
    return s;
}
