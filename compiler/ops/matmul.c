/* MatMul (numpy matmul: 1-D promotion, broadcast batch dims) and Gemm
 * (2-D, optional transposes, C broadcast to the output). */
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* A[..., M, K] x B[..., K, N] -> [batch..., M, N]; a 1-D A is [1, K] with M
 * dropped from the result, a 1-D B is [K, 1] with N dropped. */
static dc_status infer_matmul(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *a = &n->inputs[0]->type, *b = &n->inputs[1]->type;
    DC_TRY(dc_same_dtype(n, a, b));
    dc_type out = dc_type_unknown(a->dtype != DC_UNDEFINED ? a->dtype : b->dtype);
    if (a->rank < 0 || b->rank < 0) {
        n->outputs[0]->type = out;
        return DC_OK;
    }
    if (a->rank == 0 || b->rank == 0)
        return dc_error(DC_ERR_SHAPE, "MatMul: inputs must have rank >= 1: A is %s, B is %s",
                        dc_ts(a), dc_ts(b));
    dc_dim m = a->rank > 1 ? a->dims[a->rank - 2] : dc_dim_of(1), k_a = a->dims[a->rank - 1];
    dc_dim k_b = b->rank > 1 ? b->dims[b->rank - 2] : b->dims[0], nn = b->dims[b->rank - 1];
    if (dc_dim_known(k_a) && dc_dim_known(k_b) && k_a.size != k_b.size)
        return dc_error(DC_ERR_SHAPE, "MatMul: inner dimensions differ: A is %s, B is %s",
                        dc_ts(a), dc_ts(b));
    /* Batch dims: everything before the last two. */
    dc_type ba = {.rank = a->rank > 2 ? a->rank - 2 : 0}, bb = {.rank = b->rank > 2 ? b->rank - 2 : 0};
    memcpy(ba.dims, a->dims, (size_t)ba.rank * sizeof a->dims[0]);
    memcpy(bb.dims, b->dims, (size_t)bb.rank * sizeof b->dims[0]);
    if (dc_broadcast_shapes(n, &ba, &bb, &out) != DC_OK)
        return dc_error(DC_ERR_SHAPE, "MatMul: batch dimensions do not broadcast: A is %s, B is %s",
                        dc_ts(a), dc_ts(b));
    if (a->rank > 1)
        out.dims[out.rank++] = m;
    if (b->rank > 1)
        out.dims[out.rank++] = nn;
    n->outputs[0]->type = out;
    return DC_OK;
}

/* Dim `i` of a 2-D operand, unknown when its rank is not known. */
static dc_dim dim2(const dc_type *t, int64_t i)
{
    return t->rank == 2 ? t->dims[i] : dc_dim_any();
}

/* Y[M, N] = alpha * A'[M, K] B'[K, N] + beta * C, where ' is the optional
 * transpose; C broadcasts to [M, N] (it is required before opset 11). */
static dc_status infer_gemm(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    DC_TRY(dc_check_inputs(n, opset < 11 ? 3 : 2, 3, opset));
    const dc_type *a = &n->inputs[0]->type, *b = &n->inputs[1]->type;
    const dc_value *c = dc_opt_input(n, 2);
    DC_TRY(dc_same_dtype(n, a, b));
    if (c)
        DC_TRY(dc_same_dtype(n, a, &c->type));
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
        return dc_error(DC_ERR_SHAPE, "Gemm: A and B must be 2-D: A is %s, B is %s", dc_ts(a),
                        dc_ts(b));
    int64_t ta, tb;
    DC_TRY(dc_attr_i(n, "transA", 0, &ta));
    DC_TRY(dc_attr_i(n, "transB", 0, &tb));
    dc_dim m = dim2(a, ta ? 1 : 0), ka = dim2(a, ta ? 0 : 1);
    dc_dim kb = dim2(b, tb ? 1 : 0), nn = dim2(b, tb ? 0 : 1);
    if (dc_dim_known(ka) && dc_dim_known(kb) && ka.size != kb.size)
        return dc_error(DC_ERR_SHAPE,
                        "Gemm: inner dimensions differ: A is %s (transA=%d), B is %s (transB=%d)",
                        dc_ts(a), ta != 0, dc_ts(b), tb != 0);
    dc_type out = dc_type_ranked(a->dtype != DC_UNDEFINED ? a->dtype : b->dtype, 2);
    out.dims[0] = m;
    out.dims[1] = nn;
    if (c)
        DC_TRY(dc_check_broadcast_to(n, &c->type, &out, "C"));
    n->outputs[0]->type = out;
    return DC_OK;
}

const dc_op_schema dc_op_MatMul = {
    .name = "MatMul", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_matmul,
    .reference = dc_ref_MatMul,
    .gradient = dc_grad_MatMul,
};
const dc_op_schema dc_op_Gemm = {
    .name = "Gemm", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_gemm,
    .reference = dc_ref_Gemm,
    .gradient = dc_grad_Gemm,
};
