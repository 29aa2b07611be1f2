/* Elementwise ops: unary math, the binary arithmetic ops with numpy
 * broadcasting, Pow, Equal and Where. Small integer results are folded so
 * shape arithmetic (torch's Shape -> Gather -> Mul -> Concat) resolves. */
#include <stdint.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* ---- unary ------------------------------------------------------------------ */

/* Sqrt, Reciprocal, Exp, Log, Erf, Tanh, Sigmoid: float in, same type out. */
static dc_status infer_unary_float(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    DC_TRY(dc_need_float(n, &n->inputs[0]->type, "input"));
    n->outputs[0]->type = n->inputs[0]->type;
    return DC_OK;
}

/* Neg, Abs, Relu: any number (integers too from opset 6/14), same type out. */
static dc_status infer_unary_number(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *t = &n->inputs[0]->type;
    if (t->dtype == DC_BOOL || t->dtype == DC_STRING)
        return dc_error(DC_ERR_SHAPE, "%s: input must be numeric, found %s", n->op_type, dc_ts(t));
    n->outputs[0]->type = *t;
    return DC_OK;
}

/* ---- folding ---------------------------------------------------------------- */

/* Unsigned arithmetic wraps instead of overflowing (int64 overflow is UB). */
static bool fold_neg(const int64_t *x, int64_t *r) { *r = (int64_t)(0 - (uint64_t)x[0]); return true; }
static bool fold_add(const int64_t *x, int64_t *r) { *r = (int64_t)((uint64_t)x[0] + (uint64_t)x[1]); return true; }
static bool fold_sub(const int64_t *x, int64_t *r) { *r = (int64_t)((uint64_t)x[0] - (uint64_t)x[1]); return true; }
static bool fold_mul(const int64_t *x, int64_t *r) { *r = (int64_t)((uint64_t)x[0] * (uint64_t)x[1]); return true; }
static bool fold_equal(const int64_t *x, int64_t *r) { *r = x[0] == x[1]; return true; }
static bool fold_where(const int64_t *x, int64_t *r) { *r = x[0] ? x[1] : x[2]; return true; }

static bool fold_div(const int64_t *x, int64_t *r)
{
    if (x[1] == 0 || (x[0] == INT64_MIN && x[1] == -1))
        return false;
    *r = x[0] / x[1]; /* integer Div truncates, as in ONNX Runtime */
    return true;
}

/* Neg also folds: ONNX function bodies (LayerNormalization's) negate axes. */
static dc_status infer_neg(dc_graph *g, dc_node *n, int64_t opset)
{
    DC_TRY(infer_unary_number(g, n, opset));
    return dc_fold_elementwise(g, n, 1, fold_neg);
}

/* ---- binary ----------------------------------------------------------------- */

/* Output shape of a binary op. Before opset 7 only B was broadcast (the legacy
 * `broadcast`/`axis` attributes), so the output has A's shape. */
static dc_status binary_shape(const dc_node *n, int64_t opset, dc_type *out)
{
    const dc_type *a = &n->inputs[0]->type, *b = &n->inputs[1]->type;
    *out = *a;
    if (opset < 7)
        return DC_OK;
    return dc_broadcast_shapes(n, a, b, out);
}

/* Add, Sub, Mul, Div: both inputs of one type. */
static dc_status infer_arithmetic(dc_graph *g, dc_node *n, int64_t opset, dc_fold_fn fold)
{
    DC_TRY(dc_same_dtype(n, &n->inputs[0]->type, &n->inputs[1]->type));
    dc_type out;
    DC_TRY(binary_shape(n, opset, &out));
    if (out.dtype == DC_UNDEFINED)
        out.dtype = n->inputs[1]->type.dtype;
    n->outputs[0]->type = out;
    return dc_fold_elementwise(g, n, 2, fold);
}

static dc_status infer_add(dc_graph *g, dc_node *n, int64_t opset) { return infer_arithmetic(g, n, opset, fold_add); }
static dc_status infer_sub(dc_graph *g, dc_node *n, int64_t opset) { return infer_arithmetic(g, n, opset, fold_sub); }
static dc_status infer_mul(dc_graph *g, dc_node *n, int64_t opset) { return infer_arithmetic(g, n, opset, fold_mul); }
static dc_status infer_div(dc_graph *g, dc_node *n, int64_t opset) { return infer_arithmetic(g, n, opset, fold_div); }

/* Pow: from opset 12 the exponent may have another numeric type than the
 * base; the output has the base's type. */
static dc_status infer_pow(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    const dc_type *base = &n->inputs[0]->type, *expo = &n->inputs[1]->type;
    if (opset < 12)
        DC_TRY(dc_same_dtype(n, base, expo));
    if (base->dtype == DC_BOOL || base->dtype == DC_STRING || expo->dtype == DC_BOOL ||
        expo->dtype == DC_STRING)
        return dc_error(DC_ERR_SHAPE, "Pow: base and exponent must be numeric, found %s and %s",
                        dc_ts(base), dc_ts(expo));
    return binary_shape(n, opset, &n->outputs[0]->type);
}

/* Equal: inputs of one type, bool output. */
static dc_status infer_equal(dc_graph *g, dc_node *n, int64_t opset)
{
    DC_TRY(dc_same_dtype(n, &n->inputs[0]->type, &n->inputs[1]->type));
    dc_type out;
    DC_TRY(binary_shape(n, opset, &out));
    out.dtype = DC_BOOL;
    n->outputs[0]->type = out;
    return dc_fold_elementwise(g, n, 2, fold_equal);
}

/* Where(condition: bool, X, Y): X and Y of one type, all three broadcast. */
static dc_status infer_where(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)opset;
    const dc_type *c = &n->inputs[0]->type, *x = &n->inputs[1]->type, *y = &n->inputs[2]->type;
    if (c->dtype != DC_UNDEFINED && c->dtype != DC_BOOL)
        return dc_error(DC_ERR_SHAPE, "Where: condition must be bool, found %s", dc_ts(c));
    DC_TRY(dc_same_dtype(n, x, y));
    dc_type out = *x;
    if (out.dtype == DC_UNDEFINED)
        out.dtype = y->dtype;
    DC_TRY(dc_broadcast_shapes(n, c, x, &out));
    DC_TRY(dc_broadcast_shapes(n, &out, y, &out));
    n->outputs[0]->type = out;
    return dc_fold_elementwise(g, n, 3, fold_where);
}

#define UNARY(sym, fn)                                                               \
    const dc_op_schema dc_op_##sym = {                                               \
        .name = #sym, .domain = "",                                                  \
        .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,        \
        .infer = fn,                                                                 \
        .reference = dc_ref_##sym,                                                   \
        .gradient = dc_grad_##sym,                                                   \
        .in_place_inputs = 1u << 0,                                                  \
    };
UNARY(Sqrt, infer_unary_float)
UNARY(Reciprocal, infer_unary_float)
UNARY(Exp, infer_unary_float)
UNARY(Log, infer_unary_float)
UNARY(Erf, infer_unary_float)
UNARY(Tanh, infer_unary_float)
UNARY(Sigmoid, infer_unary_float)
UNARY(Neg, infer_neg)
UNARY(Abs, infer_unary_number)
UNARY(Relu, infer_unary_number)
#undef UNARY

const dc_op_schema dc_op_Add = {
    .name = "Add", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_add,
    .reference = dc_ref_Add,
    .gradient = dc_grad_Add,
    .in_place_inputs = 1u << 0, /* the operand oneDNN's binary primitive may overwrite */
};
const dc_op_schema dc_op_Sub = {
    .name = "Sub", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_sub,
    .reference = dc_ref_Sub,
    .gradient = dc_grad_Sub,
    .in_place_inputs = 1u << 0, /* the operand oneDNN's binary primitive may overwrite */
};
const dc_op_schema dc_op_Mul = {
    .name = "Mul", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_mul,
    .reference = dc_ref_Mul,
    .gradient = dc_grad_Mul,
    .in_place_inputs = 1u << 0, /* the operand oneDNN's binary primitive may overwrite */
};
const dc_op_schema dc_op_Div = {
    .name = "Div", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_div,
    .reference = dc_ref_Div,
    .gradient = dc_grad_Div,
    .in_place_inputs = 1u << 0, /* the operand oneDNN's binary primitive may overwrite */
};
const dc_op_schema dc_op_Pow = {
    .name = "Pow", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_pow,
    .reference = dc_ref_Pow,
    .gradient = dc_grad_Pow,
    .in_place_inputs = 1u << 0, /* the operand oneDNN's binary primitive may overwrite */
};
const dc_op_schema dc_op_Equal = {
    .name = "Equal", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_equal,
    .reference = dc_ref_Equal,
};
const dc_op_schema dc_op_Where = {
    .name = "Where", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_where,
    .reference = dc_ref_Where,
    .gradient = dc_grad_Where,
};
