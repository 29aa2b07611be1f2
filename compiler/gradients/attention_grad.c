/* Gradient of Attention (compiler/ops/attention.c): one AttentionGrad node
 * reading QKV, O and LSE. A forward node without its LSE output is run again
 * (another Attention node) to get it. */
#include "gradients/grad_util.h"

static dc_node *attention_like(dc_graph *g, const dc_node *node, const char *op, dc_value *const *in,
                               int n_in, int n_out)
{
    dc_node *n = dg_dinoc_node(g, op, in, n_in, n_out);
    if (n && (dc_node_set_int(n, g, "num_heads", dc_node_attr_int(node, "num_heads", 1)) != DC_OK ||
              dc_node_set_float(n, g, "scale", dc_node_attr_float(node, "scale", 1.0f)) != DC_OK))
        return NULL;
    return n;
}

DG_RULE(Attention)
{
    (void)needs;
    if (!dy[0])
        return dc_error(DC_ERR_UNSUPPORTED, "Attention gradient: only through the output O");
    dc_value *qkv = node->inputs[0], *o = node->outputs[0];
    dc_value *lse = node->n_outputs > 1 ? node->outputs[1] : NULL;
    if (!lse) {
        dc_node *again = attention_like(g, node, "Attention", &qkv, 1, 2);
        if (dc_node_finish(g, again)) {
            o = again->outputs[0];
            lse = again->outputs[1];
        }
    }
    dc_value *in[] = {dy[0], qkv, o, lse};
    DC_TRY(dc_build_status(g));
    dx[0] = dc_node_finish(g, attention_like(g, node, "AttentionGrad", in, 4, 1));
    return dc_build_status(g);
}
