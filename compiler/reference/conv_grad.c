/* Reference ConvGradInput and ConvGradWeight (compiler/ops/conv_grad.c):
 * plain loops over every term of the forward convolution
 *   Y[n, m, o] = Σ_{c, k} W[m, c, k] · X[n, first(m) + c, o·stride − pad_begin + k·dilation]
 * each sending dy[n, m, o] back to the X or W element it multiplied. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "reference/ref_util.h"

typedef struct grad_geometry {
    int rank, sp;
    int64_t x[DC_MAX_RANK], w[DC_MAX_RANK], y[DC_MAX_RANK]; /* dims of X, W, dY */
    int64_t strides[DC_MAX_RANK], dilations[DC_MAX_RANK], pad_begin[DC_MAX_RANK];
    int64_t group;
} grad_geometry;

/* INTS `name` with `count` values >= lo, else all `dflt`. */
static dc_status read_ints(const dc_node *n, const char *name, int count, int64_t lo, int64_t dflt,
                           int64_t *out)
{
    ref_list l;
    DC_TRY(ref_list_attr(n, name, &l));
    if (l.present && l.n != count)
        return dc_error(DC_ERR_SHAPE, "%s: attribute '%s' has %d values, expected %d", n->op_type,
                        name, l.n, count);
    for (int i = 0; i < count; i++) {
        out[i] = l.present ? l.v[i] : dflt;
        if (out[i] < lo || out[i] > INT32_MAX)
            return dc_error(DC_ERR_SHAPE, "%s: %s[%d] = %" PRId64 " out of range", n->op_type, name,
                            i, out[i]);
    }
    return DC_OK;
}

/* The shape attribute `name` (x_shape or w_shape) into dims; its rank must be `rank`. */
static dc_status read_shape(const dc_node *n, const char *name, int rank, int64_t *dims)
{
    ref_list l;
    DC_TRY(ref_list_attr(n, name, &l));
    if (!l.present || l.n != rank)
        return dc_error(DC_ERR_SHAPE, "%s: attribute '%s' must list %d dims", n->op_type, name, rank);
    for (int i = 0; i < rank; i++)
        if ((dims[i] = l.v[i]) < 0)
            return dc_error(DC_ERR_SHAPE, "%s: %s[%d] is negative", n->op_type, name, i);
    return DC_OK;
}

/* Reads the attributes and checks that X * W gives dY's shape (g->x, g->w set). */
static dc_status geometry(const dc_node *n, const dc_tensor *dy, grad_geometry *g)
{
    int sp = g->sp = g->rank - 2;
    int64_t pads[2 * DC_MAX_RANK];
    DC_TRY(read_ints(n, "strides", sp, 1, 1, g->strides));
    DC_TRY(read_ints(n, "dilations", sp, 1, 1, g->dilations));
    DC_TRY(read_ints(n, "pads", 2 * sp, 0, 0, pads));
    DC_TRY(dc_attr_i(n, "group", 1, &g->group));
    if (g->rank < 3 || g->group < 1 || g->x[1] != g->w[1] * g->group || g->w[0] % g->group != 0)
        return dc_error(DC_ERR_SHAPE, "%s: X %s and W %s do not fit group %" PRId64, n->op_type,
                        ref_shape_str(g->rank, g->x), ref_shape_str(g->rank, g->w), g->group);
    g->y[0] = g->x[0];
    g->y[1] = g->w[0];
    for (int i = 0; i < sp; i++) {
        int64_t span = (g->w[2 + i] - 1) * g->dilations[i] + 1;
        int64_t total = g->x[2 + i] + pads[i] + pads[sp + i];
        if (g->w[2 + i] < 1 || total < span)
            return dc_error(DC_ERR_SHAPE, "%s: kernel %s does not fit X %s on spatial axis %d",
                            n->op_type, ref_shape_str(g->rank, g->w), ref_shape_str(g->rank, g->x), i);
        g->pad_begin[i] = pads[i];
        g->y[2 + i] = (total - span) / g->strides[i] + 1;
    }
    if (dy->rank != g->rank || memcmp(dy->dims, g->y, (size_t)g->rank * sizeof g->y[0]) != 0)
        return dc_error(DC_ERR_SHAPE, "%s: dy is %s, expected %s for X %s and W %s", n->op_type,
                        ref_shape_str(dy->rank, dy->dims), ref_shape_str(g->rank, g->y),
                        ref_shape_str(g->rank, g->x), ref_shape_str(g->rank, g->w));
    return DC_OK;
}

/* Calls fn(ctx, yi, wi, xi) for every product W[wi] · X[xi] that the forward
 * adds into Y[yi] (offsets into the row-major tensors), padding skipped. */
typedef void (*term_fn)(void *ctx, int64_t yi, int64_t wi, int64_t xi);

static void for_each_term(const grad_geometry *g, term_fn fn, void *ctx)
{
    int sp = g->sp;
    int64_t xs[DC_MAX_RANK], ws[DC_MAX_RANK], ys[DC_MAX_RANK];
    ref_strides(g->rank, g->x, xs);
    ref_strides(g->rank, g->w, ws);
    ref_strides(g->rank, g->y, ys);
    int64_t channels = g->w[1], filters = g->w[0] / g->group;
    ref_iter out_it, k_it;
    ref_iter_init(&out_it, sp, g->y + 2);
    ref_iter_add(&out_it, 0, ys + 2);
    ref_iter_init(&k_it, sp, g->w + 2);
    ref_iter_add(&k_it, 0, ws + 2);
    for (int64_t n = 0; n < g->y[0]; n++)
        for (int64_t m = 0; m < g->y[1]; m++) {
            int64_t first = m / filters * channels;
            for (bool o = ref_iter_begin(&out_it); o; o = ref_iter_next(&out_it)) {
                int64_t yi = n * ys[0] + m * ys[1] + out_it.offset[0];
                for (int64_t c = 0; c < channels; c++)
                    for (bool k = ref_iter_begin(&k_it); k; k = ref_iter_next(&k_it)) {
                        int64_t xi = n * xs[0] + (first + c) * xs[1];
                        bool inside = true;
                        for (int d = 0; d < sp && inside; d++) {
                            int64_t pos = out_it.index[d] * g->strides[d] - g->pad_begin[d] +
                                          k_it.index[d] * g->dilations[d];
                            inside = pos >= 0 && pos < g->x[2 + d];
                            xi += pos * xs[2 + d];
                        }
                        if (inside)
                            fn(ctx, yi, m * ws[0] + c * ws[1] + k_it.offset[0], xi);
                    }
            }
        }
}

typedef struct grad_ctx {
    const dc_tensor *dy, *other; /* W for ConvGradInput, X for ConvGradWeight */
    double *sum;                 /* dX or dW, in double */
} grad_ctx;

static void add_to_x(void *ctx, int64_t yi, int64_t wi, int64_t xi)
{
    grad_ctx *c = ctx;
    c->sum[xi] += ref_get(c->other, wi) * ref_get(c->dy, yi);
}

static void add_to_w(void *ctx, int64_t yi, int64_t wi, int64_t xi)
{
    grad_ctx *c = ctx;
    c->sum[wi] += ref_get(c->other, xi) * ref_get(c->dy, yi);
}

/* outputs[0] (dims `dims`, dy's type) = the sums of fn over every term. */
static dc_status run(const dc_node *node, const dc_tensor *dy, const dc_tensor *other,
                     const grad_geometry *g, const int64_t *dims, term_fn fn, dc_tensor **outputs)
{
    DC_TRY(ref_new_output(node, outputs, 0, dy->dtype, g->rank, dims));
    int64_t numel = (int64_t)dc_tensor_numel(outputs[0]);
    grad_ctx c = {dy, other, calloc((size_t)numel + 1, sizeof(double))};
    if (!c.sum)
        return dc_error(DC_ERR_NOMEM, "%s: %" PRId64 " accumulators", node->op_type, numel);
    for_each_term(g, fn, &c);
    for (int64_t i = 0; i < numel; i++)
        ref_set(outputs[0], i, c.sum[i]);
    free(c.sum);
    return DC_OK;
}

/* dy[N, M, O...], w[M, C/group, k...] -> dx[x_shape = N, C, D...]. */
dc_status dc_ref_ConvGradInput(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                               dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dy = inputs[0], *w = inputs[1];
    DC_TRY(ref_need_kind(node, dy, "dy", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, dy, w));
    grad_geometry g = {.rank = w->rank};
    memcpy(g.w, w->dims, (size_t)w->rank * sizeof w->dims[0]);
    DC_TRY(read_shape(node, "x_shape", w->rank, g.x));
    DC_TRY(geometry(node, dy, &g));
    return run(node, dy, w, &g, g.x, add_to_x, outputs);
}

/* dy[N, M, O...], x[N, C, D...] -> dw[w_shape = M, C/group, k...]. */
dc_status dc_ref_ConvGradWeight(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dy = inputs[0], *x = inputs[1];
    DC_TRY(ref_need_kind(node, dy, "dy", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, dy, x));
    grad_geometry g = {.rank = x->rank};
    memcpy(g.x, x->dims, (size_t)x->rank * sizeof x->dims[0]);
    DC_TRY(read_shape(node, "w_shape", x->rank, g.w));
    DC_TRY(geometry(node, dy, &g));
    return run(node, dy, x, &g, g.w, add_to_w, outputs);
}
