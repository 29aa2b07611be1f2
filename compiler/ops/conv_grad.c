/* The gradient ops of Conv (domain ai.dinoc), for the convolutions that are
 * not the patch embedding (that one is differentiated as matmuls):
 *
 *   ConvGradInput(dy[N, M, O1..On], w[M, C/group, k1..kn]) -> dx[N, C, D1..Dn]
 *   ConvGradWeight(dy[N, M, O1..On], x[N, C, D1..Dn]) -> dw[M, C/group, k1..kn]
 *
 * for Y = Conv(X, W) with Oi = floor((Di + pad_begin + pad_end - ((ki-1)·dil + 1)) / stride) + 1.
 * Attributes: the forward's strides, dilations, group and pads with auto_pad
 * already resolved into pads (the gradient rule does that), plus the shape
 * of the tensor the op produces: INTS x_shape (ConvGradInput) or w_shape
 * (ConvGradWeight). Input positions no output reads (the remainder of a
 * stride) get a zero gradient. */
#include <inttypes.h>

#include "ops/infer_util.h"
#include "reference/reference.h"

typedef struct grad_attrs {
    int64_t strides[DC_MAX_RANK], dilations[DC_MAX_RANK], pads[2 * DC_MAX_RANK], group;
} grad_attrs;

/* INTS `name` of `count` values in [lo, INT32_MAX], else all `dflt`. */
static dc_status read_list(const dc_node *n, const char *name, int count, int64_t lo, int64_t dflt,
                           int64_t *out)
{
    dc_ints l;
    DC_TRY(dc_ints_attr(n, name, &l));
    if (l.present && l.n != count)
        return dc_error(DC_ERR_SHAPE, "%s: attribute '%s' has %" PRId64 " values, expected %d",
                        n->op_type, name, l.n, count);
    for (int i = 0; i < count; i++) {
        out[i] = l.present ? l.attr[i] : dflt;
        if (out[i] < lo || out[i] > INT32_MAX)
            return dc_error(DC_ERR_SHAPE, "%s: %s[%d] = %" PRId64 " out of range (expected >= %" PRId64 ")",
                            n->op_type, name, i, out[i], lo);
    }
    return DC_OK;
}

/* The required shape attribute `name`: a static type of rank >= 3. */
static dc_status read_shape(const dc_node *n, const char *name, dc_dtype dtype, dc_type *out)
{
    dc_ints l;
    DC_TRY(dc_ints_attr(n, name, &l));
    if (!l.present || l.n < 3 || l.n > DC_MAX_RANK)
        return dc_error(DC_ERR_INVALID, "%s: attribute '%s' must list 3 to %d dims, found %" PRId64,
                        n->op_type, name, DC_MAX_RANK, l.present ? l.n : 0);
    *out = dc_type_ranked(dtype, (int)l.n);
    for (int i = 0; i < l.n; i++) {
        if (l.attr[i] < 0 || l.attr[i] > INT32_MAX)
            return dc_error(DC_ERR_SHAPE, "%s: %s[%d] = %" PRId64 " out of range", n->op_type, name,
                            i, l.attr[i]);
        out->dims[i] = dc_dim_of(l.attr[i]);
    }
    return DC_OK;
}

/* The convolution of x [N, C, D...] by w [M, C/group, k...] gives dy's shape. */
static dc_status check_geometry(const dc_node *n, const dc_type *x, const dc_type *w,
                                const dc_type *dy)
{
    int rank = x->rank, sp = rank - 2;
    for (int k = 0; k < 2; k++) {
        const dc_type *t = k ? dy : w;
        if (t->rank >= 0 && t->rank != rank)
            return dc_error(DC_ERR_SHAPE, "%s: %s %s must have the rank of x %s", n->op_type,
                            k ? "dy" : "w", dc_ts(t), dc_ts(x));
    }
    grad_attrs a;
    DC_TRY(read_list(n, "strides", sp, 1, 1, a.strides));
    DC_TRY(read_list(n, "dilations", sp, 1, 1, a.dilations));
    DC_TRY(read_list(n, "pads", 2 * sp, 0, 0, a.pads));
    DC_TRY(dc_attr_i(n, "group", 1, &a.group));
    if (a.group < 1)
        return dc_error(DC_ERR_SHAPE, "%s: group %" PRId64 " must be >= 1", n->op_type, a.group);
    if (w->rank < 0)
        return DC_OK;
    dc_dim c = x->dims[1], cg = w->dims[1], m = w->dims[0];
    if ((dc_dim_known(c) && dc_dim_known(cg) && c.size != cg.size * a.group) ||
        (dc_dim_known(m) && m.size % a.group != 0))
        return dc_error(DC_ERR_SHAPE, "%s: x %s and w %s do not fit group %" PRId64, n->op_type,
                        dc_ts(x), dc_ts(w), a.group);
    dc_type want = dc_type_ranked(x->dtype, rank);
    want.dims[0] = x->dims[0];
    want.dims[1] = m;
    for (int i = 0; i < sp; i++) {
        dc_dim in = x->dims[2 + i], k = w->dims[2 + i];
        if (!dc_dim_known(in) || !dc_dim_known(k))
            continue;
        int64_t span = (k.size - 1) * a.dilations[i] + 1, total = in.size + a.pads[i] + a.pads[sp + i];
        if (k.size == 0 || total < span)
            return dc_error(DC_ERR_SHAPE, "%s: kernel %s does not fit x %s with pads on spatial axis %d",
                            n->op_type, dc_ts(w), dc_ts(x), i);
        want.dims[2 + i] = dc_dim_of((total - span) / a.strides[i] + 1);
    }
    bool fits = true;
    for (int i = 0; dy->rank >= 0 && i < rank; i++)
        if (dc_dim_known(want.dims[i]) && dc_dim_known(dy->dims[i]) &&
            want.dims[i].size != dy->dims[i].size)
            fits = false;
    if (!fits)
        return dc_error(DC_ERR_SHAPE, "%s: dy must be %s for x %s and w %s, found %s", n->op_type,
                        dc_shape_s(&want), dc_ts(x), dc_ts(w), dc_ts(dy));
    return DC_OK;
}

/* ConvGradInput(dy, w) {x_shape} -> dx: x_shape, dy's element type. */
static dc_status infer_conv_grad_input(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *dy = &n->inputs[0]->type, *w = &n->inputs[1]->type;
    DC_TRY(dc_need_float(n, dy, "dy"));
    DC_TRY(dc_same_dtype(n, dy, w));
    dc_type x;
    DC_TRY(read_shape(n, "x_shape", dy->dtype != DC_UNDEFINED ? dy->dtype : w->dtype, &x));
    DC_TRY(check_geometry(n, &x, w, dy));
    n->outputs[0]->type = x;
    return DC_OK;
}

/* ConvGradWeight(dy, x) {w_shape} -> dw: w_shape, dy's element type. */
static dc_status infer_conv_grad_weight(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *dy = &n->inputs[0]->type, *x = &n->inputs[1]->type;
    DC_TRY(dc_need_float(n, dy, "dy"));
    DC_TRY(dc_same_dtype(n, dy, x));
    dc_type w;
    DC_TRY(read_shape(n, "w_shape", dy->dtype != DC_UNDEFINED ? dy->dtype : x->dtype, &w));
    if (x->rank >= 0 && x->rank != w.rank)
        return dc_error(DC_ERR_SHAPE, "ConvGradWeight: x %s must have the rank of w_shape %s",
                        dc_ts(x), dc_shape_s(&w));
    if (x->rank >= 0)
        DC_TRY(check_geometry(n, x, &w, dy));
    n->outputs[0]->type = w;
    return DC_OK;
}

const dc_op_schema dc_op_ConvGradInput = {
    .name = "ConvGradInput", .domain = "ai.dinoc",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_conv_grad_input,
    .reference = dc_ref_ConvGradInput,
};
const dc_op_schema dc_op_ConvGradWeight = {
    .name = "ConvGradWeight", .domain = "ai.dinoc",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_conv_grad_weight,
    .reference = dc_ref_ConvGradWeight,
};
