/* Elementwise reference kernels: unary math, Add/Sub/Mul/Div/Pow with numpy
 * broadcasting (the legacy `broadcast`/`axis` attributes before opset 7),
 * Equal and Where. */
#include <inttypes.h>
#include <math.h>

#include "reference/ref_util.h"

/* ---- unary -------------------------------------------------------------------- */

/* Integer version of a unary op, on a value of element type t. */
typedef int64_t (*int_unary_fn)(dc_dtype t, int64_t x);

/* X[*] -> Y[*] of X's type: Y = f(X) in double, or fi(X) exactly for integer
 * X when the op has an integer version. */
static dc_status unary(const dc_node *node, dc_tensor *const *inputs, dc_tensor **outputs,
                       unsigned kinds, double (*f)(double), int_unary_fn fi)
{
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "input", kinds));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    dc_tensor *y = outputs[0];
    bool exact = fi && ref_kind_of(x->dtype) != REF_FLOAT;
    int64_t n = (int64_t)dc_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        if (exact)
            ref_set_int(y, i, fi(x->dtype, ref_get_int(x, i)));
        else
            ref_set(y, i, f(ref_get(x, i)));
    }
    return DC_OK;
}

static double reciprocal(double x) { return 1.0 / x; }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double neg(double x) { return -x; }
static double relu(double x) { return isnan(x) || x > 0 ? x : 0.0; }

static int64_t neg_int(dc_dtype t, int64_t x) { (void)t; return (int64_t)(0 - (uint64_t)x); }
static int64_t abs_int(dc_dtype t, int64_t x)
{
    if (ref_kind_of(t) == REF_UNSIGNED)
        return x;
    return x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
}
static int64_t relu_int(dc_dtype t, int64_t x)
{
    return ref_kind_of(t) == REF_UNSIGNED || x > 0 ? x : 0;
}

#define UNARY_KERNEL(sym, kinds, f, fi)                                                   \
    dc_status dc_ref_##sym(const dc_node *node, int64_t opset, dc_tensor *const *inputs, \
                           dc_tensor **outputs)                                          \
    {                                                                                    \
        (void)opset;                                                                     \
        return unary(node, inputs, outputs, kinds, f, fi);                               \
    }
UNARY_KERNEL(Sqrt, REF_KINDS_FLOAT, sqrt, NULL)
UNARY_KERNEL(Reciprocal, REF_KINDS_FLOAT, reciprocal, NULL)
UNARY_KERNEL(Exp, REF_KINDS_FLOAT, exp, NULL)
UNARY_KERNEL(Log, REF_KINDS_FLOAT, log, NULL)
UNARY_KERNEL(Tanh, REF_KINDS_FLOAT, tanh, NULL)
UNARY_KERNEL(Sigmoid, REF_KINDS_FLOAT, sigmoid, NULL)
/* Erf-9 and later allow integer inputs too: erf in double, truncated back. */
UNARY_KERNEL(Erf, REF_KINDS_NUMBER, erf, NULL)
UNARY_KERNEL(Neg, REF_KINDS_NUMBER, neg, neg_int)
UNARY_KERNEL(Abs, REF_KINDS_NUMBER, fabs, abs_int)
UNARY_KERNEL(Relu, REF_KINDS_NUMBER, relu, relu_int)
#undef UNARY_KERNEL

/* ---- broadcasting ------------------------------------------------------------- */

/* Output shape of the binary op A (op) B and where B's axes sit in it. From
 * opset 7 numpy broadcasting; before, the output is A's shape and B is either
 * the same shape (broadcast=0) or matches A's axes from `axis` on (default:
 * its trailing axes), size-1 axes of B repeating. */
static dc_status binary_shape(const dc_node *node, int64_t opset, const dc_tensor *a,
                              const dc_tensor *b, int *rank, int64_t *dims, int *b_offset)
{
    if (opset >= 7) {
        dc_tensor *const ab[2] = {(dc_tensor *)a, (dc_tensor *)b};
        DC_TRY(ref_broadcast_shape(node, ab, 2, rank, dims));
        *b_offset = *rank - b->rank;
        return DC_OK;
    }
    int64_t broadcast, axis;
    DC_TRY(dc_attr_i(node, "broadcast", 0, &broadcast));
    DC_TRY(dc_attr_i(node, "axis", a->rank - b->rank, &axis));
    *rank = a->rank;
    for (int k = 0; k < a->rank; k++)
        dims[k] = a->dims[k];
    if (!broadcast)
        axis = 0;
    if (axis < 0)
        axis += a->rank;
    bool ok = broadcast ? axis >= 0 && axis + b->rank <= a->rank : a->rank == b->rank;
    for (int j = 0; ok && j < b->rank; j++)
        ok = b->dims[j] == a->dims[axis + j] || (broadcast && b->dims[j] == 1);
    if (!ok)
        return dc_error(DC_ERR_SHAPE, "%s: B %s does not match A %s (opset %" PRId64
                        " broadcast=%" PRId64 ", axis %" PRId64 ")", node->op_type,
                        ref_shape_str(b->rank, b->dims), ref_shape_str(a->rank, a->dims), opset,
                        broadcast, axis);
    *b_offset = (int)axis;
    return DC_OK;
}

/* An iterator over y's indices with operands y (slot 0) and ins[i] (slot
 * i + 1), ins[i]'s axes starting at output axis offsets[i]. */
static void broadcast_iter(ref_iter *it, const dc_tensor *y, const dc_tensor *const *ins,
                           const int *offsets, int n)
{
    int64_t strides[DC_MAX_RANK];
    ref_iter_init(it, y->rank, y->dims);
    ref_strides(y->rank, y->dims, strides);
    ref_iter_add(it, 0, strides);
    for (int i = 0; i < n; i++) {
        ref_broadcast_strides(ins[i], y->rank, offsets[i], strides);
        ref_iter_add(it, 0, strides);
    }
}

/* ---- Add, Sub, Mul, Div -------------------------------------------------------- */

typedef enum arith { ADD, SUB, MUL, DIV } arith;

static double arith_float(arith op, double a, double b)
{
    switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    default: return a / b;
    }
}

/* Exact integer arithmetic, wrapping (unsigned math avoids signed overflow). */
static bool arith_int(arith op, dc_dtype t, int64_t a, int64_t b, int64_t *r)
{
    switch (op) {
    case ADD: *r = (int64_t)((uint64_t)a + (uint64_t)b); return true;
    case SUB: *r = (int64_t)((uint64_t)a - (uint64_t)b); return true;
    case MUL: *r = (int64_t)((uint64_t)a * (uint64_t)b); return true;
    default: return ref_int_div(t, a, b, r);
    }
}

/* A[*], B[*] -> C[broadcast(A, B)] of A's type. */
static dc_status arithmetic(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs, arith op)
{
    const dc_tensor *a = inputs[0], *b = inputs[1];
    DC_TRY(ref_need_kind(node, a, "A", REF_KINDS_NUMBER));
    DC_TRY(ref_same_dtype(node, a, b));
    int rank, offsets[2] = {0, 0};
    int64_t dims[DC_MAX_RANK];
    DC_TRY(binary_shape(node, opset, a, b, &rank, dims, &offsets[1]));
    offsets[0] = rank - a->rank;
    DC_TRY(ref_new_output(node, outputs, 0, a->dtype, rank, dims));
    dc_tensor *c = outputs[0];
    const dc_tensor *ab[2] = {a, b};
    ref_iter it;
    broadcast_iter(&it, c, ab, offsets, 2);
    bool exact = ref_kind_of(a->dtype) != REF_FLOAT;
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        int64_t ic = it.offset[0], ia = it.offset[1], ib = it.offset[2];
        if (!exact) {
            ref_set(c, ic, arith_float(op, ref_get(a, ia), ref_get(b, ib)));
            continue;
        }
        int64_t r;
        if (!arith_int(op, a->dtype, ref_get_int(a, ia), ref_get_int(b, ib), &r))
            return dc_error(DC_ERR_INVALID, "%s: integer division by zero (B element %" PRId64 ")",
                            node->op_type, ib);
        ref_set_int(c, ic, r);
    }
    return DC_OK;
}

#define ARITH_KERNEL(sym, op)                                                             \
    dc_status dc_ref_##sym(const dc_node *node, int64_t opset, dc_tensor *const *inputs, \
                           dc_tensor **outputs)                                          \
    {                                                                                    \
        return arithmetic(node, opset, inputs, outputs, op);                             \
    }
ARITH_KERNEL(Add, ADD)
ARITH_KERNEL(Sub, SUB)
ARITH_KERNEL(Mul, MUL)
ARITH_KERNEL(Div, DIV)
#undef ARITH_KERNEL

/* ---- Pow --------------------------------------------------------------------------- */

/* base^e for integers, exactly (wrapping); false for 0 to a negative power. */
static bool int_pow(int64_t base, int64_t e, int64_t *r)
{
    if (e < 0) {
        if (base == 0)
            return false;
        *r = base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0; /* 1 / base^|e|, truncated */
        return true;
    }
    uint64_t result = 1, b = (uint64_t)base;
    for (; e; e >>= 1, b *= b)
        if (e & 1)
            result *= b;
    *r = (int64_t)result;
    return true;
}

/* X[*] (base), Y[*] (exponent, any numeric type from opset 12) ->
 * Z[broadcast(X, Y)] of X's type. Float bases use pow in double; integer bases
 * with integer exponents are exact; integer bases with float exponents
 * truncate pow's result. */
dc_status dc_ref_Pow(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                     dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0], *y = inputs[1];
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_NUMBER));
    DC_TRY(ref_need_kind(node, y, "Y", REF_KINDS_NUMBER));
    if (opset < 12)
        DC_TRY(ref_same_dtype(node, x, y));
    int rank, offsets[2] = {0, 0};
    int64_t dims[DC_MAX_RANK];
    DC_TRY(binary_shape(node, opset, x, y, &rank, dims, &offsets[1]));
    offsets[0] = rank - x->rank;
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, rank, dims));
    dc_tensor *z = outputs[0];
    const dc_tensor *xy[2] = {x, y};
    ref_iter it;
    broadcast_iter(&it, z, xy, offsets, 2);
    bool exact = ref_kind_of(x->dtype) != REF_FLOAT && ref_kind_of(y->dtype) != REF_FLOAT;
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        int64_t iz = it.offset[0], ix = it.offset[1], iy = it.offset[2];
        if (!exact) {
            ref_set(z, iz, pow(ref_get(x, ix), ref_get(y, iy)));
            continue;
        }
        int64_t r;
        if (!int_pow(ref_get_int(x, ix), ref_get_int(y, iy), &r))
            return dc_error(DC_ERR_INVALID, "Pow: integer 0 to a negative power (Y element %" PRId64 ")",
                            iy);
        ref_set_int(z, iz, r);
    }
    return DC_OK;
}

/* ---- Equal, Where ----------------------------------------------------------------- */

/* A[*], B[*] of one type -> C[broadcast(A, B)] bool. */
dc_status dc_ref_Equal(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs)
{
    const dc_tensor *a = inputs[0], *b = inputs[1];
    DC_TRY(ref_need_kind(node, a, "A", REF_KINDS_ANY));
    DC_TRY(ref_same_dtype(node, a, b));
    int rank, offsets[2] = {0, 0};
    int64_t dims[DC_MAX_RANK];
    DC_TRY(binary_shape(node, opset, a, b, &rank, dims, &offsets[1]));
    offsets[0] = rank - a->rank;
    DC_TRY(ref_new_output(node, outputs, 0, DC_BOOL, rank, dims));
    dc_tensor *c = outputs[0];
    const dc_tensor *ab[2] = {a, b};
    ref_iter it;
    broadcast_iter(&it, c, ab, offsets, 2);
    bool exact = ref_kind_of(a->dtype) != REF_FLOAT;
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        int64_t ia = it.offset[1], ib = it.offset[2];
        bool eq = exact ? ref_get_int(a, ia) == ref_get_int(b, ib) : ref_get(a, ia) == ref_get(b, ib);
        ref_set_int(c, it.offset[0], eq);
    }
    return DC_OK;
}

/* Condition[*] bool, X[*], Y[*] of one type -> Out[broadcast(C, X, Y)]:
 * X where the condition holds, else Y. */
dc_status dc_ref_Where(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                       dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *cond = inputs[0], *x = inputs[1], *y = inputs[2];
    if (cond->dtype != DC_BOOL)
        return dc_error(DC_ERR_SHAPE, "Where: condition must be bool, found %s",
                        dc_dtype_name(cond->dtype));
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_ANY));
    DC_TRY(ref_same_dtype(node, x, y));
    int rank;
    int64_t dims[DC_MAX_RANK];
    DC_TRY(ref_broadcast_shape(node, inputs, 3, &rank, dims));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, rank, dims));
    dc_tensor *out = outputs[0];
    const dc_tensor *cxy[3] = {cond, x, y};
    int offsets[3] = {rank - cond->rank, rank - x->rank, rank - y->rank};
    ref_iter it;
    broadcast_iter(&it, out, cxy, offsets, 3);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        if (ref_get_int(cond, it.offset[1]))
            ref_copy_elem(out, it.offset[0], x, it.offset[2]);
        else
            ref_copy_elem(out, it.offset[0], y, it.offset[3]);
    }
    return DC_OK;
}
