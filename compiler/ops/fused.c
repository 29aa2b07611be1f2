/* Fused ops (domain ai.dinoc) that the fusion pass (passes/fuse/) forms from
 * groups of standard ops; each computes exactly what its group computed.
 *
 *   FusedElementwise(x0, x1, ...) -> y
 *     y[i] = program(x0[i], x1[i], ...) for every index i of the broadcast
 *     shape of the inputs (numpy rules); f32 only. Attributes: program (INTS),
 *     constants (FLOATS), as runtime/dc_eltwise_program.h describes. An input
 *     with y's shape may be overwritten by y (each element is read before the
 *     same element is written).
 *
 *   MatMulBias(A, B, bias) -> Y
 *     Y = act(A · B' + bias): A [..., M, K] f32 (f64 too, for the reference
 *     kernel and gradient checks; kernels run f32), B [K, N] (transB = 0) or
 *     [N, K] (transB = 1), bias [N]; Y [..., M, N]. activation: "" (none),
 *     "Relu", "Tanh", "Sigmoid" or "Gelu" (the exact, erf form). A Linear
 *     layer with its activation, run as one oneDNN matmul with a bias and an
 *     eltwise post-op.
 *
 *   AdamWGroup(lr, weight_decay, step, p1, g1, m1, v1, p2, ...) -> (p1', m1', v1', p2', ...)
 *     AdamW (compiler/ops/training.c) over every tensor of one param group:
 *     the same scalars and attributes, one step instead of one per tensor.
 *     Outputs are written over the state they update, like AdamW's. */
#include <string.h>

#include "dc_eltwise_program.h"
#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

static dc_status infer_fused_elementwise(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_attr *program, *constants;
    DC_TRY(dc_attr_get(n, "program", DC_ATTR_INTS, &program));
    DC_TRY(dc_attr_get(n, "constants", DC_ATTR_FLOATS, &constants));
    if (!program)
        return dc_error(DC_ERR_INVALID, "FusedElementwise: attribute 'program' is missing");
    DC_TRY(dc_eltwise_program_check(program->ints, program->n, n->n_inputs,
                                    constants ? constants->n : 0));
    dc_type out = n->inputs[0]->type;
    for (int i = 0; i < n->n_inputs; i++) {
        const dc_type *t = &n->inputs[i]->type;
        if (t->dtype != DC_F32 && t->dtype != DC_UNDEFINED)
            return dc_error(DC_ERR_SHAPE, "FusedElementwise: input %d must be f32, found %s", i,
                            dc_ts(t));
        if (i)
            DC_TRY(dc_broadcast_shapes(n, &out, t, &out));
    }
    out.dtype = DC_F32;
    n->outputs[0]->type = out;
    return DC_OK;
}

const dc_op_schema dc_op_FusedElementwise = {
    .name = "FusedElementwise", .domain = "ai.dinoc",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_fused_elementwise,
    .reference = dc_ref_FusedElementwise,
    .in_place_inputs = ~0u,
};

static bool known_activation(const char *act)
{
    static const char *const names[] = {"", "Relu", "Tanh", "Sigmoid", "Gelu"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(act, names[i]) == 0)
            return true;
    return false;
}

static dc_status infer_matmul_bias(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *a = &n->inputs[0]->type, *b = &n->inputs[1]->type, *c = &n->inputs[2]->type;
    int64_t trans_b;
    const char *act;
    DC_TRY(dc_attr_i(n, "transB", 0, &trans_b));
    DC_TRY(dc_attr_s(n, "activation", "", &act));
    if (!known_activation(act))
        return dc_error(DC_ERR_INVALID, "MatMulBias: unknown activation '%s'", act);
    dc_dtype dt = a->dtype;
    for (int i = 0; i < 3; i++)
        if ((dt != DC_F32 && dt != DC_F64) || n->inputs[i]->type.dtype != dt ||
            n->inputs[i]->type.rank < 0)
            return dc_error(DC_ERR_SHAPE, "MatMulBias: inputs must be f32 (or f64) of one type and "
                            "known rank, found input %d %s", i, dc_ts(&n->inputs[i]->type));
    if (a->rank < 2 || b->rank != 2 || c->rank != 1)
        return dc_error(DC_ERR_SHAPE, "MatMulBias: expected A [..., M, K], B 2-D and bias 1-D, "
                        "found %s, %s and %s", dc_ts(a), dc_ts(b), dc_ts(c));
    dc_dim k = b->dims[trans_b ? 1 : 0], nn = b->dims[trans_b ? 0 : 1];
    if (!dc_dim_equal(a->dims[a->rank - 1], k) || !dc_dim_equal(c->dims[0], nn))
        return dc_error(DC_ERR_SHAPE, "MatMulBias: A %s, B %s%s and bias %s do not agree", dc_ts(a),
                        dc_ts(b), trans_b ? " (transposed)" : "", dc_ts(c));
    dc_type y = *a;
    y.dims[y.rank - 1] = nn;
    n->outputs[0]->type = y;
    return DC_OK;
}

const dc_op_schema dc_op_MatMulBias = {
    .name = "MatMulBias", .domain = "ai.dinoc",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_matmul_bias,
    .reference = dc_ref_MatMulBias,
    .gradient = dc_grad_MatMulBias,
};

static dc_status infer_adamw_group(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    if (n->n_inputs < 7 || (n->n_inputs - 3) % 4 != 0 || n->n_outputs != (n->n_inputs - 3) / 4 * 3)
        return dc_error(DC_ERR_INVALID, "AdamWGroup: expected lr, weight_decay, step and (param, "
                        "grad, m, v) quadruples with three outputs each, found %d inputs and %d "
                        "outputs", n->n_inputs, n->n_outputs);
    for (int k = 0; k < (n->n_inputs - 3) / 4; k++) {
        const dc_type *p = &n->inputs[3 + 4 * k]->type;
        if (p->dtype != DC_F32)
            return dc_error(DC_ERR_SHAPE, "AdamWGroup: parameter %d must be f32, found %s", k,
                            dc_ts(p));
        for (int i = 1; i < 4; i++) {
            const dc_type *t = &n->inputs[3 + 4 * k + i]->type;
            bool same = t->dtype == p->dtype && t->rank == p->rank;
            for (int d = 0; same && d < t->rank; d++)
                same = dc_dim_equal(t->dims[d], p->dims[d]);
            if (!same)
                return dc_error(DC_ERR_SHAPE, "AdamWGroup: input %d is %s, expected the "
                                "parameter's %s", 3 + 4 * k + i, dc_ts(t), dc_ts(p));
        }
        for (int i = 0; i < 3; i++)
            n->outputs[3 * k + i]->type = *p;
    }
    return DC_OK;
}

const dc_op_schema dc_op_AdamWGroup = {
    .name = "AdamWGroup", .domain = "ai.dinoc",
    .min_inputs = 7, .max_inputs = -1, .min_outputs = 3, .max_outputs = -1,
    .infer = infer_adamw_group,
    .reference = dc_ref_AdamWGroup,
};
