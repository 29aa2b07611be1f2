/* Resize reference kernel: nearest, n-linear and n-cubic interpolation with
 * every coordinate transformation ONNX 17 has (and opset 11's
 * tf_half_pixel_for_nn), following the ONNX reference implementation: each
 * output coordinate maps to a source coordinate per axis, which picks up to 4
 * neighbouring input elements (the input repeated at its edges) and their
 * weights; an output element is the sum over all axes' neighbours of the
 * weight products times the input.
 *
 * Opset 10: Resize(X, scales), asymmetric coordinates, nearest rounds down.
 * Opset 11: Resize(X, roi, scales, sizes?). Opset 13: every input but X is
 * optional. An empty scales tensor counts as not given.
 *
 * ResizeGrad (ai.dinoc) is the adjoint of this linear map: the same taps and
 * weights (build_taps, one function for both), each output's gradient sent
 * back to the input elements it was computed from. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference/ref_util.h"

typedef enum resize_mode { NEAREST, LINEAR, CUBIC } resize_mode;
typedef enum coord_mode {
    HALF_PIXEL, PYTORCH_HALF_PIXEL, ALIGN_CORNERS, ASYMMETRIC, TF_CROP_AND_RESIZE,
    TF_HALF_PIXEL_FOR_NN,
} coord_mode;
typedef enum nearest_mode { ROUND_PREFER_FLOOR, ROUND_PREFER_CEIL, FLOOR, CEIL } nearest_mode;

typedef struct resize_params {
    resize_mode mode;
    coord_mode coord;
    nearest_mode nearest;
    double cubic_a, extrapolation;
    bool exclude_outside;
    int rank;
    int64_t in[DC_MAX_RANK], out[DC_MAX_RANK];
    /* scale = output / input length per axis: the given scale (a float), or
     * sizes / input; out_length = scale * input, as the ONNX reference has it. */
    double scale[DC_MAX_RANK], out_length[DC_MAX_RANK];
    double roi_start[DC_MAX_RANK], roi_end[DC_MAX_RANK];
} resize_params;

/* The input neighbours of one output coordinate on one axis. */
typedef struct taps {
    int n;
    int64_t index[4];
    double weight[4];
    bool outside; /* tf_crop_and_resize outside the input: extrapolation_value */
} taps;

/* Index of `s` in the NULL-terminated `options`, or an error naming `attr`. */
static dc_status pick_option(const dc_node *n, const char *attr, const char *dflt,
                             const char *const *options, int *out)
{
    const char *s;
    DC_TRY(dc_attr_s(n, attr, dflt, &s));
    for (int i = 0; options[i]; i++)
        if (strcmp(s, options[i]) == 0) {
            *out = i;
            return DC_OK;
        }
    return dc_error(DC_ERR_INVALID, "Resize: %s '%s' is not supported", attr, s);
}

static dc_status read_modes(const dc_node *n, int64_t opset, resize_params *p)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    static const char *const modes10[] = {"nearest", "linear", NULL};
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_crop_and_resize",
                                         "tf_half_pixel_for_nn", NULL};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil", NULL};
    int mode = 0, coord = ASYMMETRIC, near = FLOOR;
    DC_TRY(pick_option(n, "mode", "nearest", opset < 11 ? modes10 : modes, &mode));
    if (opset >= 11) {
        DC_TRY(pick_option(n, "coordinate_transformation_mode", "half_pixel", coords, &coord));
        DC_TRY(pick_option(n, "nearest_mode", "round_prefer_floor", nearest, &near));
        if (coord == TF_HALF_PIXEL_FOR_NN && opset >= 13)
            return dc_error(DC_ERR_INVALID, "Resize: tf_half_pixel_for_nn was removed in opset 13");
    }
    float a, extrapolation;
    int64_t exclude;
    DC_TRY(dc_attr_f(n, "cubic_coeff_a", -0.75f, &a));
    DC_TRY(dc_attr_f(n, "extrapolation_value", 0.0f, &extrapolation));
    DC_TRY(dc_attr_i(n, "exclude_outside", 0, &exclude));
    p->mode = (resize_mode)mode;
    p->coord = (coord_mode)coord;
    p->nearest = (nearest_mode)near;
    p->cubic_a = a;
    p->extrapolation = extrapolation;
    p->exclude_outside = exclude != 0;
    return DC_OK;
}

/* Output lengths and scales from `scales` or `sizes`, and the roi. */
static dc_status read_sizes(const dc_node *n, int64_t opset, dc_tensor *const *inputs,
                            const dc_tensor *x, resize_params *p)
{
    int first_opt = opset == 10 ? 1 : 2; /* where scales is */
    const dc_tensor *roi = opset > 10 && n->n_inputs > 1 ? inputs[1] : NULL;
    const dc_tensor *scales = n->n_inputs > first_opt ? inputs[first_opt] : NULL;
    const dc_tensor *sizes = opset > 10 && n->n_inputs > 3 ? inputs[3] : NULL;
    if (scales && dc_tensor_numel(scales) == 0)
        scales = NULL;
    if (sizes && dc_tensor_numel(sizes) == 0)
        sizes = NULL;
    if (!scales == !sizes)
        return dc_error(DC_ERR_INVALID, "Resize: exactly one of scales and sizes must be given");
    const dc_tensor *given = scales ? scales : sizes;
    if (given->rank != 1 || given->dims[0] != x->rank)
        return dc_error(DC_ERR_SHAPE, "Resize: %s %s does not have one entry per axis of X %s",
                        scales ? "scales" : "sizes", ref_shape_str(given->rank, given->dims),
                        ref_shape_str(x->rank, x->dims));
    if (scales)
        DC_TRY(ref_need_kind(n, scales, "scales", REF_KINDS_FLOAT));
    else
        DC_TRY(ref_need_kind(n, sizes, "sizes", REF_KINDS_INT));
    p->rank = x->rank;
    for (int k = 0; k < x->rank; k++) {
        p->in[k] = x->dims[k];
        if (scales) {
            /* floor(in * scale) in float, as shape inference computes it. */
            float s = (float)ref_get(scales, k);
            if (!(s > 0.0f) || !isfinite(s))
                return dc_error(DC_ERR_SHAPE, "Resize: scales[%d] = %g is not a positive number", k, (double)s);
            double size = floor((double)((float)x->dims[k] * s));
            if (size >= 0x1p40)
                return dc_error(DC_ERR_SHAPE, "Resize: scales[%d] = %g is too large", k, (double)s);
            p->out[k] = (int64_t)size;
            p->scale[k] = s;
            p->out_length[k] = (double)s * (double)x->dims[k];
        } else {
            p->out[k] = ref_get_int(sizes, k);
            if (p->out[k] < 0)
                return dc_error(DC_ERR_SHAPE, "Resize: sizes[%d] = %" PRId64 " is negative", k, p->out[k]);
            p->scale[k] = x->dims[k] ? (double)p->out[k] / (double)x->dims[k] : 1.0;
            p->out_length[k] = (double)p->out[k];
        }
    }
    if (p->coord == TF_CROP_AND_RESIZE) {
        if (!roi || dc_tensor_numel(roi) != 2 * (uint64_t)x->rank)
            return dc_error(DC_ERR_SHAPE, "Resize: tf_crop_and_resize needs roi with %d values", 2 * x->rank);
        DC_TRY(ref_need_kind(n, roi, "roi", REF_KINDS_FLOAT));
        for (int k = 0; k < x->rank; k++) {
            p->roi_start[k] = ref_get(roi, k);
            p->roi_end[k] = ref_get(roi, k + x->rank);
        }
    }
    return DC_OK;
}

/* Output coordinate x of axis k in input coordinates. */
static double source_coord(const resize_params *p, int k, int64_t x, bool *outside)
{
    double in = (double)p->in[k], scale = p->scale[k], out = p->out_length[k], xd = (double)x;
    *outside = false;
    switch (p->coord) {
    case ALIGN_CORNERS: return out == 1 ? 0.0 : xd * (in - 1) / (out - 1);
    case ASYMMETRIC: return xd / scale;
    case PYTORCH_HALF_PIXEL: return out > 1 ? (xd + 0.5) / scale - 0.5 : 0.0;
    case TF_HALF_PIXEL_FOR_NN: return (xd + 0.5) / scale;
    case TF_CROP_AND_RESIZE: {
        double start = p->roi_start[k], end = p->roi_end[k];
        double s = out == 1 ? (end - start) * (in - 1) / 2 : xd * (end - start) * (in - 1) / (out - 1);
        s += start * (in - 1);
        *outside = s < 0 || s > in - 1;
        return s;
    }
    default: return (xd + 0.5) / scale - 0.5; /* half_pixel */
    }
}

/* Cubic convolution weights of the 4 neighbours left-1 .. left+2 at
 * distance `ratio` in (0, 1] right of `left` (Keys, coefficient a). */
static void cubic_weights(double r, double a, double *w)
{
    double s = 1 - r;
    w[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
    w[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
    w[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
    w[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
}

/* The neighbours of output coordinate x on axis k. The source coordinate
 * lies in (left, left + 1], ratio = its distance from left; indices outside
 * the input repeat its edge (or get weight 0 with exclude_outside). */
static void axis_taps(const resize_params *p, int k, int64_t x, taps *t)
{
    double src = source_coord(p, k, x, &t->outside);
    double left_d = ceil(src) - 1;
    /* Far outside the input only edge elements are read: keep the index small. */
    if (!(left_d >= -4))
        left_d = -4;
    if (left_d > (double)p->in[k] + 4)
        left_d = (double)p->in[k] + 4;
    int64_t left = (int64_t)left_d;
    double ratio = src - left_d;
    switch (p->mode) {
    case NEAREST: {
        bool take_left = ratio < 1 && (p->nearest == FLOOR ||
                                       (p->nearest == ROUND_PREFER_FLOOR && ratio <= 0.5) ||
                                       (p->nearest == ROUND_PREFER_CEIL && ratio < 0.5));
        t->n = 1;
        t->index[0] = take_left ? left : left + 1;
        t->weight[0] = 1;
        break;
    }
    case LINEAR:
        t->n = 2;
        t->index[0] = left;
        t->index[1] = left + 1;
        t->weight[0] = 1 - ratio;
        t->weight[1] = ratio;
        break;
    case CUBIC:
        t->n = 4;
        for (int i = 0; i < 4; i++)
            t->index[i] = left - 1 + i;
        cubic_weights(ratio, p->cubic_a, t->weight);
        break;
    }
    double sum = 0;
    for (int i = 0; i < t->n; i++) {
        bool inside = t->index[i] >= 0 && t->index[i] < p->in[k];
        /* Nearest keeps its one element, clamped to the edge: excluding it
         * would leave nothing (ONNX's formula divides 0 by 0 there). */
        if (p->exclude_outside && !inside && p->mode != NEAREST)
            t->weight[i] = 0;
        sum += t->weight[i];
        t->index[i] = t->index[i] < 0 ? 0 : t->index[i] >= p->in[k] ? p->in[k] - 1 : t->index[i];
    }
    if (p->exclude_outside && sum != 0)
        for (int i = 0; i < t->n; i++)
            t->weight[i] /= sum;
}

/* The neighbours of every output coordinate, axis by axis: axis k's are
 * (*all)[first[k] + i] for i < p->out[k]. The caller frees *all. */
static dc_status build_taps(const resize_params *p, taps **all, int64_t first[DC_MAX_RANK])
{
    int64_t total = 0;
    for (int k = 0; k < p->rank; k++) {
        first[k] = total;
        total += p->out[k];
    }
    *all = calloc((size_t)total + 1, sizeof **all);
    if (!*all)
        return dc_error(DC_ERR_NOMEM, "Resize: neighbour tables");
    for (int k = 0; k < p->rank; k++)
        for (int64_t i = 0; i < p->out[k]; i++)
            axis_taps(p, k, i, &(*all)[first[k] + i]);
    return DC_OK;
}

/* One combination of neighbours, pick[k] on axis k: the product of their
 * weights, and in *xi the input element's offset. */
static double combination(int rank, const taps *const *t, const int *pick,
                          const int64_t *x_strides, int64_t *xi)
{
    double w = 1;
    *xi = 0;
    for (int k = 0; k < rank; k++) {
        w *= t[k]->weight[pick[k]];
        *xi += t[k]->index[pick[k]] * x_strides[k];
    }
    return w;
}

/* Advances pick to the next combination (last axis fastest); false after the last. */
static bool next_combination(int rank, const taps *const *t, int *pick)
{
    int k = rank - 1;
    while (k >= 0 && ++pick[k] == t[k]->n)
        pick[k--] = 0;
    return k >= 0;
}

/* X[d0..dr-1] (any type; nearest copies elements, the others compute in
 * double) -> Y[sizes] or Y[floor(d * scales)]. */
dc_status dc_ref_Resize(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    if (opset < 10)
        return dc_error(DC_ERR_UNSUPPORTED, "Resize needs opset 10, the graph imports %" PRId64, opset);
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_ANY));
    resize_params p;
    memset(&p, 0, sizeof p);
    DC_TRY(read_modes(node, opset, &p));
    DC_TRY(read_sizes(node, opset, inputs, x, &p));
    if (dc_tensor_numel(x) == 0)
        for (int k = 0; k < x->rank; k++)
            if (p.out[k] > 0 && x->dims[k] == 0)
                return dc_error(DC_ERR_SHAPE, "Resize: cannot resize the empty axis %d of %s to %" PRId64,
                                k, ref_shape_str(x->rank, x->dims), p.out[k]);
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, p.out));
    dc_tensor *y = outputs[0];
    int64_t numel = (int64_t)dc_tensor_numel(y);
    if (numel == 0)
        return DC_OK;

    int64_t first[DC_MAX_RANK];
    taps *all;
    DC_TRY(build_taps(&p, &all, first));

    int64_t x_strides[DC_MAX_RANK], y_strides[DC_MAX_RANK];
    ref_strides(x->rank, x->dims, x_strides);
    ref_strides(y->rank, y->dims, y_strides);
    ref_iter it;
    ref_iter_init(&it, y->rank, y->dims);
    ref_iter_add(&it, 0, y_strides);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        const taps *t[DC_MAX_RANK];
        bool outside = false;
        for (int k = 0; k < x->rank; k++) {
            t[k] = &all[first[k] + it.index[k]];
            outside |= t[k]->outside;
        }
        if (outside) {
            ref_set(y, it.offset[0], p.extrapolation);
            continue;
        }
        if (p.mode == NEAREST) {
            int64_t xi = 0;
            for (int k = 0; k < x->rank; k++)
                xi += t[k]->index[0] * x_strides[k];
            ref_copy_elem(y, it.offset[0], x, xi);
            continue;
        }
        /* Sum over every combination of one neighbour per axis. */
        int pick[DC_MAX_RANK] = {0};
        double acc = 0;
        do {
            int64_t xi;
            double w = combination(x->rank, t, pick, x_strides, &xi);
            if (w != 0)
                acc += w * ref_get(x, xi);
        } while (next_combination(x->rank, t, pick));
        ref_set(y, it.offset[0], acc);
    }
    free(all);
    return DC_OK;
}

/* ResizeGrad's scales and roi: FLOATS attributes (the forward's constant
 * inputs, copied by the gradient rule); x_like gives the input lengths and dy
 * the output lengths. */
static dc_status read_grad_sizes(const dc_node *n, const dc_tensor *dy, const dc_tensor *x,
                                 resize_params *p)
{
    const dc_attr *scales, *roi;
    DC_TRY(dc_attr_get(n, "scales", DC_ATTR_FLOATS, &scales));
    DC_TRY(dc_attr_get(n, "roi", DC_ATTR_FLOATS, &roi));
    if ((scales && scales->n != x->rank) || (roi && roi->n != 2 * x->rank))
        return dc_error(DC_ERR_SHAPE, "ResizeGrad: %d scales and %d roi values for rank %d",
                        scales ? scales->n : 0, roi ? roi->n : 0, x->rank);
    if (p->coord == TF_CROP_AND_RESIZE && !roi)
        return dc_error(DC_ERR_INVALID, "ResizeGrad: tf_crop_and_resize needs the roi attribute");
    p->rank = x->rank;
    for (int k = 0; k < x->rank; k++) {
        p->in[k] = x->dims[k];
        p->out[k] = dy->dims[k];
        if (scales) {
            float s = scales->floats[k];
            if (!(s > 0.0f) || !isfinite(s) || floor((double)((float)x->dims[k] * s)) != (double)p->out[k])
                return dc_error(DC_ERR_SHAPE, "ResizeGrad: scales[%d] = %g does not resize %s to %s",
                                k, (double)s, ref_shape_str(x->rank, x->dims),
                                ref_shape_str(dy->rank, dy->dims));
            p->scale[k] = s;
            p->out_length[k] = (double)s * (double)x->dims[k];
        } else {
            p->scale[k] = x->dims[k] ? (double)p->out[k] / (double)x->dims[k] : 1.0;
            p->out_length[k] = (double)p->out[k];
        }
        if (roi) {
            p->roi_start[k] = roi->floats[k];
            p->roi_end[k] = roi->floats[k + x->rank];
        }
    }
    return DC_OK;
}

/* dy[o0..or-1], x_like[d0..dr-1] (float, same type; only x_like's shape is
 * read) -> dx[d0..dr-1]: the transpose of Resize's linear map,
 *   dx[i] = Σ over outputs o not extrapolated, over tap combinations c of o
 *           with input element i, of weight(o, c) · dy[o].
 * Attributes are Resize-11's, every one explicit (the gradient rule resolves
 * the forward's opset defaults), plus FLOATS `scales` (absent: lengths from
 * the shapes, as with `sizes`) and `roi`. Summed in double, rounded once. */
dc_status dc_ref_ResizeGrad(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dy = inputs[0], *x = inputs[1];
    DC_TRY(ref_need_kind(node, dy, "dy", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, dy, x));
    if (dy->rank != x->rank)
        return dc_error(DC_ERR_SHAPE, "ResizeGrad: dy %s and x_like %s differ in rank",
                        ref_shape_str(dy->rank, dy->dims), ref_shape_str(x->rank, x->dims));
    resize_params p;
    memset(&p, 0, sizeof p);
    DC_TRY(read_modes(node, 12, &p)); /* opsets 11-12 take every mode and coordinate mode */
    DC_TRY(read_grad_sizes(node, dy, x, &p));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    dc_tensor *dx = outputs[0];
    int64_t n_in = (int64_t)dc_tensor_numel(dx);
    if (n_in == 0 || dc_tensor_numel(dy) == 0)
        return DC_OK;
    int64_t first[DC_MAX_RANK];
    taps *all;
    DC_TRY(build_taps(&p, &all, first));
    double *sum = calloc((size_t)n_in, sizeof *sum);
    if (!sum) {
        free(all);
        return dc_error(DC_ERR_NOMEM, "ResizeGrad: %" PRId64 " accumulators", n_in);
    }
    int64_t x_strides[DC_MAX_RANK], y_strides[DC_MAX_RANK];
    ref_strides(x->rank, x->dims, x_strides);
    ref_strides(dy->rank, dy->dims, y_strides);
    ref_iter it;
    ref_iter_init(&it, dy->rank, dy->dims);
    ref_iter_add(&it, 0, y_strides);
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it)) {
        const taps *t[DC_MAX_RANK];
        bool outside = false;
        for (int k = 0; k < x->rank; k++) {
            t[k] = &all[first[k] + it.index[k]];
            outside |= t[k]->outside;
        }
        if (outside) /* extrapolation_value does not depend on X */
            continue;
        double g = ref_get(dy, it.offset[0]);
        int pick[DC_MAX_RANK] = {0};
        do {
            int64_t xi;
            double w = combination(x->rank, t, pick, x_strides, &xi);
            sum[xi] += w * g;
        } while (next_combination(x->rank, t, pick));
    }
    for (int64_t i = 0; i < n_in; i++)
        ref_set(dx, i, sum[i]);
    free(sum);
    free(all);
    return DC_OK;
}
