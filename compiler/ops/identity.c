/* Identity: y = x (a small integer constant passes through). */
#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

static dc_status infer_identity(dc_graph *g, dc_node *node, int64_t opset)
{
    (void)opset;
    node->outputs[0]->type = node->inputs[0]->type;
    return dc_fold_copy(g, node);
}

const dc_op_schema dc_op_Identity = {
    .name = "Identity", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_identity,
    .reference = dc_ref_Identity,
    .gradient = dc_grad_View,
    .is_view = true,
};
