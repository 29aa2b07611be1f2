/* dc_fuse_layer_norm (fuse.h): a LayerNormalization node that computes only
 * Y is replaced by one that also returns Mean and InvStdDev, so that its
 * backward (one ai.dinoc LayerNormGrad, compiler/gradients/reduce_grad.c)
 * reads the forward's statistics instead of recomputing them. Only where the
 * statistics have X's element type (stash_type = X's type, f32 or f64): the
 * fused backward reads them in that type. The new node takes the old one's
 * place in the schedule and its Y replaces the old Y everywhere. */
#include <string.h>

#include "fuse.h"
#include "infer_shapes.h"
#include "op_registry.h"

static bool wants_stats(const dc_graph *g, const dc_node *n)
{
    if (strcmp(n->op_type, "LayerNormalization") != 0 || *n->domain || dc_graph_opset(g, "") < 17)
        return false;
    if (n->n_outputs >= 3 && n->outputs[1] && n->outputs[2])
        return false;
    dc_dtype x = n->inputs[0]->type.dtype;
    return (x == DC_F32 || x == DC_F64) && dc_node_attr_int(n, "stash_type", DC_F32) == x;
}

static dc_status add_stats(dc_graph *g, dc_node *old)
{
    dc_node *n;
    DC_TRY(dc_graph_add_node(g, old->op_type, old->domain, dc_graph_unique_name(g, old->name),
                             old->inputs, old->n_inputs, NULL, 3, &n));
    for (int i = 0; i < old->n_attrs; i++) {
        dc_attr *a = dc_node_add_attr(n, g, old->attrs[i].name, old->attrs[i].type);
        if (!a)
            return dc_error(DC_ERR_NOMEM, "node '%s': attribute '%s'", n->name, old->attrs[i].name);
        *a = old->attrs[i];
    }
    DC_TRY(dc_infer_node(g, n));
    DC_TRY(dc_graph_move_node(g, n, old->id));
    for (int i = 0; i < old->n_outputs; i++)
        if (old->outputs[i])
            dc_graph_replace_uses(g, old->outputs[i], n->outputs[i]);
    return dc_graph_remove_node(g, old);
}

dc_status dc_fuse_layer_norm(dc_graph *g, int *n_fused)
{
    *n_fused = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (wants_stats(g, g->nodes[i])) {
            DC_TRY(add_stats(g, g->nodes[i]));
            (*n_fused)++;
        }
    return DC_OK;
}
