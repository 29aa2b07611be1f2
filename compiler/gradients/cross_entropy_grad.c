/* Gradient of CrossEntropySoft (compiler/ops/cross_entropy.c):
 *   dS = dL[r] · G[r]                      (G = ∂L[r]/∂S[r], output 1)
 *   dP = −dL[r] · log_softmax(S[r] / τ)
 * When the forward node has no output G, another CrossEntropySoft node
 * recomputes it row by row from S and P. */
#include "gradients/grad_util.h"

DG_RULE(CrossEntropySoft)
{
    dc_value *s = node->inputs[0], *p = node->inputs[1], *tau = node->inputs[2];
    if (!dy[0])
        return dc_error(DC_ERR_UNSUPPORTED, "CrossEntropySoft gradient: only through the loss L");
    const int64_t col = 1;
    dc_value *dl = dc_unsqueeze(g, dy[0], &col, 1); /* [R, 1] */
    if (needs[0]) {
        dc_value *grad = node->n_outputs > 1 ? node->outputs[1] : NULL;
        if (!grad) {
            dc_value *in[] = {s, p, tau};
            dc_node *again = dg_dinoc_node(g, "CrossEntropySoft", in, 3, 2);
            if (dc_node_finish(g, again))
                grad = again->outputs[1];
        }
        dx[0] = dc_mul(g, grad, dl);
    }
    if (needs[1]) {
        dc_value *log_q = dc_log_softmax(g, dc_div(g, s, tau), -1);
        dx[1] = dc_mul(g, dc_unary(g, "Neg", log_q), dl);
    }
    return dc_build_status(g);
}
