/* Fused ops (domain ai.dinoc) that the fusion pass (passes/fuse/) forms from
 * groups of standard ops; each computes exactly what its group computed.
 *
 *   FusedElementwise(x0, x1, ...) -> y
 *     y[i] = program(x0[i], x1[i], ...) for every index i of the broadcast
 *     shape of the inputs (numpy rules); f32 only. Attributes: program (INTS),
 *     constants (FLOATS), as runtime/dc_eltwise_program.h describes. An input
 *     with y's shape may be overwritten by y (each element is read before the
 *     same element is written). */
#include "dc_eltwise_program.h"
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
