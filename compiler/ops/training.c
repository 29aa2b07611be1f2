/* The ai.dinoc training ops that update persistent state:
 *
 *   AdamW(param, grad, m, v, lr, weight_decay, step) -> (param', m', v')
 *     PyTorch's AdamW: decoupled decay p·(1 − lr·wd), bias-corrected moments,
 *     eps added after the square root. lr and weight_decay are f32 scalars fed
 *     every step (one artifact serves a whole schedule); step is the 1-based
 *     i64 step count. Attributes: beta1 (0.9), beta2 (0.999), epsilon (1e-8),
 *     lr_scale (1: the param group's multiplier, 0 freezes), decay (1: apply
 *     weight decay; 0 for biases and norms).
 *
 *   EMA(momentum, a1, b1, a2, b2, ...) -> (a1', a2', ...)
 *     a' = m·a + (1 − m)·b for every pair: the teacher update over all
 *     parameter pairs, and the DINO/iBOT center update (b = batch mean).
 *
 * Their outputs are written back into the state they update after each step
 * (dc_graph_add_state_update), in place when nothing reads the old value later. */
#include "ops/infer_util.h"
#include "reference/training.h"

static dc_status need_scalar(const dc_node *n, int i, bool want_float)
{
    const dc_type *t = &n->inputs[i]->type;
    bool ok = t->rank == 0 || (t->rank == 1 && t->dims[0].size == 1);
    ok &= want_float ? dc_dtype_is_float(t->dtype) : t->dtype == DC_I64;
    if (!ok)
        return dc_error(DC_ERR_SHAPE, "%s: input %d must be a %s scalar, found %s", n->op_type, i,
                        want_float ? "float" : "int64", dc_ts(t));
    return DC_OK;
}

static dc_status need_same(const dc_node *n, int a, int b)
{
    const dc_type *ta = &n->inputs[a]->type, *tb = &n->inputs[b]->type;
    bool same = ta->dtype == tb->dtype && ta->rank == tb->rank;
    for (int i = 0; same && i < ta->rank; i++)
        same = dc_dim_equal(ta->dims[i], tb->dims[i]);
    if (!same)
        return dc_error(DC_ERR_SHAPE, "%s: inputs %d and %d must have the same type, found %s and %s",
                        n->op_type, a, b, dc_ts(ta), dc_ts(tb));
    return DC_OK;
}

static dc_status infer_adamw(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    if (!dc_dtype_is_float(n->inputs[0]->type.dtype))
        return dc_error(DC_ERR_SHAPE, "AdamW: parameter must be a float tensor, found %s",
                        dc_ts(&n->inputs[0]->type));
    for (int i = 1; i <= 3; i++)
        DC_TRY(need_same(n, 0, i));
    DC_TRY(need_scalar(n, 4, true));
    DC_TRY(need_scalar(n, 5, true));
    DC_TRY(need_scalar(n, 6, false));
    for (int i = 0; i < 3; i++)
        if (n->outputs[i])
            n->outputs[i]->type = n->inputs[i == 0 ? 0 : i + 1]->type;
    return DC_OK;
}

static dc_status infer_ema(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    if (n->n_inputs % 2 != 1 || n->n_outputs != n->n_inputs / 2)
        return dc_error(DC_ERR_INVALID, "EMA: expected momentum and (state, value) pairs with one "
                        "output per pair, found %d inputs and %d outputs", n->n_inputs, n->n_outputs);
    DC_TRY(need_scalar(n, 0, true));
    for (int k = 0; k < n->n_outputs; k++) {
        DC_TRY(need_same(n, 1 + 2 * k, 2 + 2 * k));
        if (!dc_dtype_is_float(n->inputs[1 + 2 * k]->type.dtype))
            return dc_error(DC_ERR_SHAPE, "EMA: pair %d must be float tensors, found %s", k,
                            dc_ts(&n->inputs[1 + 2 * k]->type));
        n->outputs[k]->type = n->inputs[1 + 2 * k]->type;
    }
    return DC_OK;
}

const dc_op_schema dc_op_AdamW = {
    .name = "AdamW", .domain = "ai.dinoc",
    .min_inputs = 7, .max_inputs = 7, .min_outputs = 3, .max_outputs = 3,
    .infer = infer_adamw,
    .reference = dc_ref_AdamW,
};
const dc_op_schema dc_op_EMA = {
    .name = "EMA", .domain = "ai.dinoc",
    .min_inputs = 3, .max_inputs = -1, .min_outputs = 1, .max_outputs = -1,
    .infer = infer_ema,
    .reference = dc_ref_EMA,
};
