/* Conv reference kernel: direct convolution, N spatial dims, groups, strides,
 * dilations, explicit pads or auto_pad. */
#include <inttypes.h>
#include <string.h>

#include "reference/ref_util.h"

/* Conv's geometry per spatial axis. */
typedef struct conv_geometry {
    int spatial;
    int64_t kernel[DC_MAX_RANK], strides[DC_MAX_RANK], dilations[DC_MAX_RANK];
    int64_t pad_begin[DC_MAX_RANK], out[DC_MAX_RANK];
} conv_geometry;

/* Reads INTS `name` with `count` values >= lo, else all `dflt`. */
static dc_status read_ints(const dc_node *n, const char *name, int count, int64_t lo, int64_t dflt,
                           int64_t *out)
{
    ref_list l;
    DC_TRY(ref_list_attr(n, name, &l));
    if (l.present && l.n != count)
        return dc_error(DC_ERR_SHAPE, "Conv: attribute '%s' has %d values, expected %d", name, l.n,
                        count);
    for (int i = 0; i < count; i++) {
        out[i] = l.present ? l.v[i] : dflt;
        if (out[i] < lo || out[i] > INT32_MAX)
            return dc_error(DC_ERR_SHAPE, "Conv: %s[%d] = %" PRId64 " out of range", name, i, out[i]);
    }
    return DC_OK;
}

/* Kernel size, strides, dilations, begin pads and output size of each spatial axis. */
static dc_status conv_geometry_of(const dc_node *n, const dc_tensor *x, const dc_tensor *w,
                                  conv_geometry *g)
{
    int sp = g->spatial = x->rank - 2;
    int64_t pads[2 * DC_MAX_RANK];
    const char *auto_pad;
    DC_TRY(read_ints(n, "strides", sp, 1, 1, g->strides));
    DC_TRY(read_ints(n, "dilations", sp, 1, 1, g->dilations));
    DC_TRY(read_ints(n, "pads", 2 * sp, 0, 0, pads));
    DC_TRY(read_ints(n, "kernel_shape", sp, 1, 1, g->kernel));
    DC_TRY(dc_attr_s(n, "auto_pad", "NOTSET", &auto_pad));
    bool has_kernel = dc_node_attr(n, "kernel_shape") != NULL;
    for (int i = 0; i < sp; i++) {
        if (has_kernel && g->kernel[i] != w->dims[2 + i])
            return dc_error(DC_ERR_SHAPE, "Conv: kernel_shape[%d] = %" PRId64 " but W is %s", i,
                            g->kernel[i], ref_shape_str(w->rank, w->dims));
        g->kernel[i] = w->dims[2 + i];
        int64_t in = x->dims[2 + i], s = g->strides[i];
        int64_t span = (g->kernel[i] - 1) * g->dilations[i] + 1; /* input extent of the dilated kernel */
        if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
            /* out = ceil(in / s), the missing input split over both ends; the
             * odd element goes to the end (UPPER) or the beginning (LOWER). */
            g->out[i] = (in + s - 1) / s;
            int64_t total = (g->out[i] - 1) * s + span - in;
            total = total > 0 ? total : 0;
            g->pad_begin[i] = auto_pad[5] == 'U' ? total / 2 : total - total / 2;
            continue;
        }
        bool valid = strcmp(auto_pad, "VALID") == 0;
        if (!valid && strcmp(auto_pad, "NOTSET") != 0)
            return dc_error(DC_ERR_INVALID, "Conv: auto_pad '%s' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
                            auto_pad);
        int64_t begin = valid ? 0 : pads[i], end = valid ? 0 : pads[i + sp];
        if (in + begin + end < span)
            return dc_error(DC_ERR_SHAPE, "Conv: kernel extent %" PRId64 " does not fit input size %" PRId64
                            " + padding %" PRId64 " on spatial axis %d", span, in, begin + end, i);
        g->pad_begin[i] = begin;
        g->out[i] = (in + begin + end - span) / s + 1;
    }
    return DC_OK;
}

/* X[N, C, D1..Dn] * W[M, C/group, k1..kn] (+ B[M]) -> Y[N, M, O1..On]:
 * Y[n, m, o] = B[m] + sum over c in m's group and kernel offsets k of
 *              W[m, c, k] * X[n, group_base + c, o * stride - pad_begin + k * dilation]
 * with X zero outside its bounds. */
dc_status dc_ref_Conv(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                      dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *x = inputs[0], *w = inputs[1], *bias = node->n_inputs > 2 ? inputs[2] : NULL;
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, x, w));
    if (bias)
        DC_TRY(ref_same_dtype(node, x, bias));
    if (x->rank < 3 || w->rank != x->rank)
        return dc_error(DC_ERR_SHAPE, "Conv: X needs rank >= 3 and W the same rank: X is %s, W is %s",
                        ref_shape_str(x->rank, x->dims), ref_shape_str(w->rank, w->dims));
    int64_t group;
    DC_TRY(dc_attr_i(node, "group", 1, &group));
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    if (group < 1 || C != w->dims[1] * group || M % group != 0)
        return dc_error(DC_ERR_SHAPE, "Conv: X %s and W %s do not fit group %" PRId64,
                        ref_shape_str(x->rank, x->dims), ref_shape_str(w->rank, w->dims), group);
    if (bias && (bias->rank != 1 || bias->dims[0] != M))
        return dc_error(DC_ERR_SHAPE, "Conv: B must be [%" PRId64 "], found %s", M,
                        ref_shape_str(bias->rank, bias->dims));
    conv_geometry geo;
    DC_TRY(conv_geometry_of(node, x, w, &geo));
    int sp = geo.spatial;
    int64_t dims[DC_MAX_RANK] = {N, M};
    memcpy(dims + 2, geo.out, (size_t)sp * sizeof geo.out[0]);
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, dims));
    dc_tensor *y = outputs[0];

    int64_t x_strides[DC_MAX_RANK], w_strides[DC_MAX_RANK], y_strides[DC_MAX_RANK];
    ref_strides(x->rank, x->dims, x_strides);
    ref_strides(w->rank, w->dims, w_strides);
    ref_strides(y->rank, y->dims, y_strides);
    int64_t channels_per_group = C / group, filters_per_group = M / group;
    ref_iter out_it, kernel_it;
    ref_iter_init(&out_it, sp, geo.out);
    ref_iter_add(&out_it, 0, y_strides + 2);
    ref_iter_init(&kernel_it, sp, geo.kernel);
    ref_iter_add(&kernel_it, 0, w_strides + 2);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t first_channel = (m / filters_per_group) * channels_per_group;
            for (bool o = ref_iter_begin(&out_it); o; o = ref_iter_next(&out_it)) {
                double acc = bias ? ref_get(bias, m) : 0.0;
                for (int64_t c = 0; c < channels_per_group; c++) {
                    int64_t x_base = n * x_strides[0] + (first_channel + c) * x_strides[1];
                    int64_t w_base = m * w_strides[0] + c * w_strides[1];
                    for (bool k = ref_iter_begin(&kernel_it); k; k = ref_iter_next(&kernel_it)) {
                        int64_t xi = x_base;
                        bool inside = true;
                        for (int d = 0; d < sp && inside; d++) {
                            int64_t pos = out_it.index[d] * geo.strides[d] - geo.pad_begin[d] +
                                          kernel_it.index[d] * geo.dilations[d];
                            inside = pos >= 0 && pos < x->dims[2 + d];
                            xi += pos * x_strides[2 + d];
                        }
                        if (inside)
                            acc += ref_get(w, w_base + kernel_it.offset[0]) * ref_get(x, xi);
                    }
                }
                ref_set(y, n * y_strides[0] + m * y_strides[1] + out_it.offset[0], acc);
            }
        }
    return DC_OK;
}
