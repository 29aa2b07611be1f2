/* Identity reference kernel. */
#include "reference/ref_util.h"

/* Identity: input [*] -> output [*], the same elements (any type). */
dc_status dc_ref_Identity(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                          dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *x = inputs[0];
    return ref_new_view(node, outputs, 0, x, x->rank, x->dims);
}
