/* Conv: X[N, C, D1..Dn] * W[M, C/group, k1..kn] (+ B[M]) -> Y[N, M, O1..On]. */
#include <inttypes.h>
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* Conv's per-spatial-axis INTS attributes (strides, dilations, pads). */
typedef struct conv_attrs {
    int64_t strides[DC_MAX_RANK], dilations[DC_MAX_RANK], pads[2 * DC_MAX_RANK];
    int64_t kernel[DC_MAX_RANK];
    bool has_kernel; /* kernel_shape given; else W's spatial dims are the kernel */
    const char *auto_pad;
} conv_attrs;

/* Reads INTS `name` of `count` entries in [lo, INT32_MAX] into out, else `dflt`s.
 * The bound keeps the output-size arithmetic far from overflow. */
static dc_status read_list(const dc_node *n, const char *name, int count, int64_t lo,
                           int64_t dflt, int64_t *out)
{
    dc_ints l;
    DC_TRY(dc_ints_attr(n, name, &l));
    if (l.present && l.n != count)
        return dc_error(DC_ERR_SHAPE, "Conv: attribute '%s' has %" PRId64 " values, expected %d",
                        name, l.n, count);
    for (int i = 0; i < count; i++) {
        out[i] = l.present ? l.attr[i] : dflt;
        if (out[i] < lo || out[i] > INT32_MAX)
            return dc_error(DC_ERR_SHAPE, "Conv: %s[%d] = %" PRId64 " out of range (expected >= %" PRId64 ")",
                            name, i, out[i], lo);
    }
    return DC_OK;
}

static dc_status read_attrs(const dc_node *n, int sp, conv_attrs *a)
{
    DC_TRY(read_list(n, "strides", sp, 1, 1, a->strides));
    DC_TRY(read_list(n, "dilations", sp, 1, 1, a->dilations));
    DC_TRY(read_list(n, "pads", 2 * sp, 0, 0, a->pads));
    DC_TRY(read_list(n, "kernel_shape", sp, 1, 1, a->kernel));
    a->has_kernel = dc_node_attr(n, "kernel_shape") != NULL;
    DC_TRY(dc_attr_s(n, "auto_pad", "NOTSET", &a->auto_pad));
    const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int i = 0; i < 4; i++)
        if (strcmp(a->auto_pad, modes[i]) == 0)
            return DC_OK;
    return dc_error(DC_ERR_INVALID, "Conv: auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                    a->auto_pad);
}

/* Output size of spatial axis i for input size `in` and kernel size `k`. */
static dc_status out_size(const conv_attrs *a, int i, int sp, int64_t in, int64_t k, int64_t *out)
{
    int64_t s = a->strides[i], span, total;
    if (a->auto_pad[0] == 'S') { /* auto_pad is validated: NOTSET, SAME_*, VALID */ /* SAME_*: pads chosen so that out = ceil(in / s) */
        *out = in / s + (in % s != 0);
        return DC_OK;
    }
    int64_t pad = a->auto_pad[0] == 'V' ? 0 : a->pads[i] + a->pads[i + sp];
    /* The dilated kernel covers span + 1 = (k - 1) * d + 1 input elements. */
    if (__builtin_mul_overflow(k - 1, a->dilations[i], &span) ||
        __builtin_add_overflow(in, pad, &total) || total <= span)
        return dc_error(DC_ERR_SHAPE,
                        "Conv: kernel %" PRId64 " (dilation %" PRId64 ") does not fit input size %" PRId64
                        " + padding %" PRId64 " on spatial axis %d", k, a->dilations[i], in, pad, i);
    *out = (total - span - 1) / s + 1;
    return DC_OK;
}

static dc_status check_channels(const dc_type *x, const dc_type *w,
                                const dc_value *bias, int64_t group)
{
    dc_dim c = x->dims[1], cw = w->rank > 1 ? w->dims[1] : dc_dim_any(), m = w->dims[0];
    if (dc_dim_known(c) && dc_dim_known(cw) && c.size != cw.size * group)
        return dc_error(DC_ERR_SHAPE, "Conv: X has %" PRId64 " channels but W expects %" PRId64
                        " x group %" PRId64 ": X is %s, W is %s", c.size, cw.size, group, dc_ts(x), dc_ts(w));
    if (dc_dim_known(m) && m.size % group != 0)
        return dc_error(DC_ERR_SHAPE, "Conv: %" PRId64 " filters are not divisible by group %" PRId64,
                        m.size, group);
    if (bias) {
        dc_type want = {.rank = 1, .dims = {m}};
        const dc_type *b = &bias->type;
        if (b->rank >= 0 && (b->rank != 1 || (dc_dim_known(m) && dc_dim_known(b->dims[0]) &&
                                              b->dims[0].size != m.size)))
            return dc_error(DC_ERR_SHAPE, "Conv: B must be %s, found %s", dc_ts(&want), dc_ts(b));
    }
    return DC_OK;
}

static dc_status infer_conv(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *x = &n->inputs[0]->type, *w = &n->inputs[1]->type;
    const dc_value *bias = dc_opt_input(n, 2);
    DC_TRY(dc_same_dtype(n, x, w));
    if (bias)
        DC_TRY(dc_same_dtype(n, x, &bias->type));
    dc_type out = dc_type_unknown(x->dtype != DC_UNDEFINED ? x->dtype : w->dtype);
    int rank = x->rank >= 0 ? x->rank : w->rank;
    if (rank >= 0 && rank < 3)
        return dc_error(DC_ERR_SHAPE, "Conv: X and W need rank >= 3 (batch, channels, spatial), found X %s, W %s",
                        dc_ts(x), dc_ts(w));
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return dc_error(DC_ERR_SHAPE, "Conv: W must have the rank of X: X is %s, W is %s",
                        dc_ts(x), dc_ts(w));
    int64_t group;
    DC_TRY(dc_attr_i(n, "group", 1, &group));
    if (group < 1)
        return dc_error(DC_ERR_SHAPE, "Conv: group %" PRId64 " must be >= 1", group);
    if (x->rank < 0 || w->rank < 0) {
        n->outputs[0]->type = out;
        return DC_OK;
    }
    int sp = rank - 2;
    conv_attrs a;
    DC_TRY(read_attrs(n, sp, &a));
    DC_TRY(check_channels(x, w, bias, group));
    out = dc_type_ranked(out.dtype, rank);
    out.dims[0] = x->dims[0];
    out.dims[1] = w->dims[0];
    for (int i = 0; i < sp; i++) {
        dc_dim in = x->dims[2 + i], k = w->dims[2 + i];
        if (a.has_kernel && dc_dim_known(k) && k.size != a.kernel[i])
            return dc_error(DC_ERR_SHAPE, "Conv: kernel_shape[%d] = %" PRId64 " but W is %s", i,
                            a.kernel[i], dc_ts(w));
        if (a.has_kernel)
            k = dc_dim_of(a.kernel[i]);
        if (k.size == 0)
            return dc_error(DC_ERR_SHAPE, "Conv: W has an empty kernel: %s", dc_ts(w));
        if (dc_dim_known(in) && dc_dim_known(k))
            DC_TRY(out_size(&a, i, sp, in.size, k.size, &out.dims[2 + i].size));
    }
    n->outputs[0]->type = out;
    return DC_OK;
}

const dc_op_schema dc_op_Conv = {
    .name = "Conv", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_conv,
    .reference = dc_ref_Conv,
    .gradient = dc_grad_Conv,
};
