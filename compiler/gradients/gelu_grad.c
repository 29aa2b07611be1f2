/* Gradient of Gelu (compiler/ops/gelu.c): one GeluGrad node that reads X. */
#include "gradients/grad_util.h"

DG_RULE(Gelu)
{
    (void)needs;
    dc_value *in[] = {dy[0], node->inputs[0]};
    dx[0] = dc_node_finish(g, dg_dinoc_node(g, "GeluGrad", in, 2, 1));
    return dc_build_status(g);
}
