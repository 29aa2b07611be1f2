/* LayerNormGrad (domain ai.dinoc): the backward of LayerNormalization in one
 * kernel, over the rows X[:axis] of normalised width D = prod(X[axis:]):
 *
 *   LayerNormGrad(dY, X, Scale[, Mean, InvStdDev]) -> dX, dScale, dB
 *     {axis, epsilon}; Scale, dScale, dB of X[axis:]'s shape (no broadcast);
 *     Mean, InvStdDev of X[:axis] + [1]·(rank − axis) and X's element type
 *   x̂ = (x − μ)·r,  dX = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dY·Scale,
 *   dScale = Σ_rows dY·x̂,  dB = Σ_rows dY
 *
 * With Mean and InvStdDev (the forward's own outputs) μ and r are read, not
 * recomputed; without them the kernel recomputes them with epsilon.
 * dScale and dB are optional outputs. */
#include "ops/infer_util.h"
#include "reference/reference.h"

static dc_status infer_layer_norm_grad(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *dy = &n->inputs[0]->type, *x = &n->inputs[1]->type, *s = &n->inputs[2]->type;
    DC_TRY(dc_need_float(n, x, "X"));
    int64_t axis64;
    float eps;
    DC_TRY(dc_attr_i(n, "axis", -1, &axis64));
    DC_TRY(dc_attr_f(n, "epsilon", 1e-5f, &eps));
    if (n->n_inputs == 4)
        return dc_error(DC_ERR_INVALID, "LayerNormGrad: Mean without InvStdDev");
    for (int i = 0; i < n->n_inputs; i++)
        DC_TRY(dc_same_dtype(n, x, &n->inputs[i]->type));
    if (x->rank >= 0) {
        int axis;
        DC_TRY(dc_norm_axis(n, axis64, x->rank, &axis));
        bool fits = dy->rank == x->rank && s->rank == x->rank - axis;
        for (int d = 0; fits && d < x->rank; d++)
            fits = dc_dim_equal(dy->dims[d], x->dims[d]) &&
                   (d < axis || dc_dim_equal(s->dims[d - axis], x->dims[d]));
        for (int i = 3; fits && i < n->n_inputs; i++) {
            const dc_type *st = &n->inputs[i]->type;
            fits = st->rank == x->rank;
            for (int d = 0; fits && d < x->rank; d++)
                fits = d < axis ? dc_dim_equal(st->dims[d], x->dims[d]) : st->dims[d].size == 1;
        }
        if (!fits)
            return dc_error(DC_ERR_SHAPE, "LayerNormGrad: dY %s, Scale %s and statistics must fit X %s at axis %d",
                            dc_ts(dy), dc_ts(s), dc_ts(x), axis);
    }
    n->outputs[0]->type = *x;
    for (int i = 1; i < n->n_outputs; i++)
        if (n->outputs[i])
            n->outputs[i]->type = *s;
    return DC_OK;
}

const dc_op_schema dc_op_LayerNormGrad = {
    .name = "LayerNormGrad", .domain = "ai.dinoc",
    .min_inputs = 3, .max_inputs = 5, .min_outputs = 1, .max_outputs = 3,
    .infer = infer_layer_norm_grad,
    .reference = dc_ref_LayerNormGrad,
};
