/* Dropout's gradient. In inference mode (training_mode absent or false; every
 * opset from 7 to 11) or with ratio 0, Dropout is the identity and so is its
 * gradient. In training mode y = x · mask / (1 − ratio), so
 *   dx = dy · mask / (1 − ratio)
 * with the node's own mask output: the random draw is not repeated. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* A compile-time value of v (not training state), or NULL. */
static const dc_tensor *known(const dc_value *v)
{
    return v && !v->is_state ? v->constant : NULL;
}

DG_RULE(Dropout)
{
    (void)needs;
    int64_t opset = dc_graph_opset(g, node->domain);
    bool training = false;
    dc_value *ratio_input = NULL;     /* opset 12+: a value, maybe known only at run time */
    double ratio = 0.5;
    bool ratio_known = true;
    if (opset < 12) {
        float r;
        DC_TRY(dc_attr_f(node, "ratio", 0.5f, &r));
        ratio = r;
        if (opset < 7) { /* is_test = 0, the default, is training */
            int64_t is_test;
            DC_TRY(dc_attr_i(node, "is_test", 0, &is_test));
            training = !is_test;
        }
    } else {
        dc_value *mode = dc_opt_input(node, 2);
        if (mode && !known(mode))
            return dc_error(DC_ERR_UNSUPPORTED, "Dropout gradient: training_mode must be known at "
                            "compile time");
        training = mode && dc_tensor_get_i64(known(mode), 0) != 0;
        ratio_input = dc_opt_input(node, 1);
        ratio_known = !ratio_input || known(ratio_input);
        if (ratio_input && ratio_known)
            ratio = dc_tensor_get_f64(known(ratio_input), 0);
    }
    if (!training || (ratio_known && ratio == 0)) {
        dx[0] = dy[0];
        return DC_OK;
    }
    dc_value *mask = node->n_outputs > 1 ? node->outputs[1] : NULL;
    if (!mask)
        return dc_error(DC_ERR_UNSUPPORTED, "Dropout gradient in training mode needs the node's "
                        "mask output (output 1), which this node does not produce");
    dc_dtype t = dy[0]->type.dtype;
    dc_value *kept = dc_mul(g, dy[0], dc_cast(g, mask, t)); /* mask: bool (opset 10+) or x's type */
    dc_value *scale = ratio_known
        ? dc_scalar(g, t, 1.0 / (1.0 - ratio))
        : dc_unary(g, "Reciprocal", dc_sub(g, dc_scalar(g, t, 1.0), dc_cast(g, ratio_input, t)));
    dx[0] = dc_mul(g, kept, scale);
    return DC_OK;
}
