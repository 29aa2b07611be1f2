/* Conv's gradient in general: any number of spatial dims, strides, pads
 * (explicit or auto_pad), dilations and groups, through the ai.dinoc ops
 *   dx = ConvGradInput(dy, w)  {x_shape}    dw = ConvGradWeight(dy, x)  {w_shape}
 *   db = Σ over N and the spatial dims of dy
 * carrying the forward's strides, dilations and group, and its pads with
 * auto_pad resolved the way the forward resolves it. DG_RULE(Conv)
 * (matmul_grad.c) handles the patch embedding as matmuls and calls this for
 * every other convolution. */
#include <string.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"

typedef struct conv_attrs {
    int sp;
    int64_t strides[DC_MAX_RANK], dilations[DC_MAX_RANK], pads[2 * DC_MAX_RANK], group;
} conv_attrs;

/* INTS `name` with `count` values, else all `dflt`. */
static dc_status read_list(const dc_node *n, const char *name, int count, int64_t dflt, int64_t *out)
{
    int have;
    const int64_t *v = dc_node_attr_ints(n, name, &have);
    if (v && have != count)
        return dc_error(DC_ERR_SHAPE, "Conv gradient: '%s' has %d values, expected %d", name, have,
                        count);
    for (int i = 0; i < count; i++)
        out[i] = v ? v[i] : dflt;
    return DC_OK;
}

/* The forward's attributes with auto_pad turned into explicit pads. */
static dc_status resolve(const dc_node *n, const int64_t *x, const int64_t *w, conv_attrs *a)
{
    int sp = a->sp;
    const char *auto_pad;
    DC_TRY(read_list(n, "strides", sp, 1, a->strides));
    DC_TRY(read_list(n, "dilations", sp, 1, a->dilations));
    DC_TRY(read_list(n, "pads", 2 * sp, 0, a->pads));
    DC_TRY(dc_attr_i(n, "group", 1, &a->group));
    DC_TRY(dc_attr_s(n, "auto_pad", "NOTSET", &auto_pad));
    if (strcmp(auto_pad, "VALID") == 0)
        memset(a->pads, 0, sizeof a->pads);
    if (strncmp(auto_pad, "SAME_", 5) != 0)
        return DC_OK;
    /* SAME_*: out = ceil(in / stride); the missing input is split over both
     * ends, the odd element at the end (UPPER) or the beginning (LOWER). */
    for (int i = 0; i < sp; i++) {
        int64_t in = x[2 + i], s = a->strides[i], span = (w[2 + i] - 1) * a->dilations[i] + 1;
        int64_t out = (in + s - 1) / s, total = (out - 1) * s + span - in;
        total = total > 0 ? total : 0;
        a->pads[i] = auto_pad[5] == 'U' ? total / 2 : total - total / 2;
        a->pads[sp + i] = total - a->pads[i];
    }
    return DC_OK;
}

/* ConvGradInput(dy, w) or ConvGradWeight(dy, x), producing a tensor of `shape`. */
static dc_value *grad_op(dc_graph *g, const char *op, dc_value *dy, dc_value *other,
                         const char *shape_attr, const int64_t *shape, int rank, const conv_attrs *a)
{
    dc_value *in[] = {dy, other};
    dc_node *n = dg_dinoc_node(g, op, in, 2, 1);
    dc_status s = DC_OK;
    if (n) {
        s = dc_node_set_ints(n, g, shape_attr, shape, rank);
        if (s == DC_OK)
            s = dc_node_set_ints(n, g, "strides", a->strides, a->sp);
        if (s == DC_OK)
            s = dc_node_set_ints(n, g, "dilations", a->dilations, a->sp);
        if (s == DC_OK)
            s = dc_node_set_ints(n, g, "pads", a->pads, 2 * a->sp);
        if (s == DC_OK)
            s = dc_node_set_int(n, g, "group", a->group);
    }
    if (s != DC_OK) {
        g->build_status = s;
        return NULL;
    }
    return dc_node_finish(g, n);
}

DG_RULE(ConvGeneral)
{
    dc_value *x = node->inputs[0], *w = node->inputs[1];
    if (!dc_type_is_static(&x->type) || !dc_type_is_static(&w->type) || x->type.rank < 3)
        return dc_error(DC_ERR_UNSUPPORTED, "Conv gradient: X and W need static shapes, found %s and %s",
                        dc_ts(&x->type), dc_ts(&w->type));
    int64_t xd[DC_MAX_RANK], wd[DC_MAX_RANK];
    int rank = dg_dims(x, xd);
    dg_dims(w, wd);
    conv_attrs a = {.sp = rank - 2};
    DC_TRY(resolve(node, xd, wd, &a));
    if (needs[0])
        dx[0] = grad_op(g, "ConvGradInput", dy[0], w, "x_shape", xd, rank, &a);
    if (needs[1])
        dx[1] = grad_op(g, "ConvGradWeight", dy[0], x, "w_shape", wd, rank, &a);
    if (node->n_inputs > 2 && node->inputs[2] && needs[2]) {
        int64_t axes[DC_MAX_RANK] = {0};
        for (int i = 2; i < rank; i++)
            axes[i - 1] = i;
        dx[2] = dc_reduce(g, "ReduceSum", dy[0], axes, rank - 1, false);
    }
    return DC_OK;
}
