/* dc_fuse_gelu_recompute (fuse.h): after autodiff, the backward's readers of
 * a Gelu output Y = Gelu(X) (the next matmul's weight gradient) read a fresh
 * Gelu(X) computed right before them instead.
 *
 * GeluGrad already keeps X alive until the backward, so recomputing Y there
 * costs one pass over memory and no extra live bytes, while Y, a
 * [tokens, 4·dim] tensor per MLP, no longer lives from the forward to the
 * backward. A reader is "of the backward" when it comes after Y's first
 * reader and X is still read at or after it. */
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "infer_shapes.h"
#include "op_registry.h"

/* Index of the last node reading v, -1 if none. */
static int last_reader(const dc_graph *g, const dc_value *v)
{
    for (int n = g->n_nodes - 1; n >= 0; n--)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++)
            if (g->nodes[n]->inputs[i] == v)
                return n;
    return -1;
}

static bool is_graph_output(const dc_graph *g, const dc_value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

static bool is_gelu(const dc_node *n)
{
    return strcmp(n->op_type, "Gelu") == 0 && strcmp(n->domain, DC_DOMAIN_DINOC) == 0;
}

/* Recomputes Y for its late readers; *done tells whether there were any. */
static dc_status recompute(dc_graph *g, dc_node *gelu, bool *done)
{
    *done = false;
    dc_value *x = gelu->inputs[0], *y = gelu->outputs[0];
    if (is_graph_output(g, y))
        return DC_OK;
    int x_last = last_reader(g, x), first = -1, late = -1;
    for (int n = gelu->id + 1; n < g->n_nodes && late < 0; n++)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++)
            if (g->nodes[n]->inputs[i] == y) {
                if (first < 0)
                    first = n;
                else if (n > first + 1 && n <= x_last)
                    late = n;
                break;
            }
    if (late < 0)
        return DC_OK;
    dc_node *again;
    DC_TRY(dc_graph_add_node(g, "Gelu", DC_DOMAIN_DINOC, dc_graph_unique_name(g, "gelu_recompute"),
                             &x, 1, NULL, 1, &again));
    DC_TRY(dc_infer_node(g, again));
    DC_TRY(dc_graph_move_node(g, again, late));
    for (int n = late + 1; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n]->n_inputs; i++)
            if (g->nodes[n]->inputs[i] == y)
                g->nodes[n]->inputs[i] = again->outputs[0];
    *done = true;
    return DC_OK;
}

dc_status dc_fuse_gelu_recompute(dc_graph *g, int *n_fused)
{
    *n_fused = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        bool done;
        if (!is_gelu(g->nodes[n]))
            continue;
        DC_TRY(recompute(g, g->nodes[n], &done));
        *n_fused += done;
    }
    return DC_OK;
}
