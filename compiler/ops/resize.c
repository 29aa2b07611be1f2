/* Resize (nearest, linear, cubic): the output keeps the input's rank; its dims
 * are `sizes`, or floor(dim * scale) per axis. The mode changes the values,
 * not the shape. Inputs: opset 10 (X, scales); 11 (X, roi, scales[, sizes]);
 * 13 (X[, roi][, scales][, sizes]). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

/* `s` is one of the NULL-terminated `options`, else an error naming `attr`. */
static dc_status check_option(const char *attr, const char *s,
                              const char *const *options)
{
    for (; *options; options++)
        if (strcmp(s, *options) == 0)
            return DC_OK;
    return dc_error(DC_ERR_INVALID, "Resize: %s '%s' is not supported", attr, s);
}

static dc_status check_modes(const dc_node *n, int64_t opset)
{
    static const char *const modes10[] = {"nearest", "linear", NULL};
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_crop_and_resize", NULL};
    static const char *const coords11[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                           "asymmetric", "tf_crop_and_resize",
                                           "tf_half_pixel_for_nn", NULL};
    const char *mode, *coord;
    DC_TRY(dc_attr_s(n, "mode", "nearest", &mode));
    DC_TRY(check_option("mode", mode, opset < 11 ? modes10 : modes));
    if (opset < 11)
        return DC_OK;
    DC_TRY(dc_attr_s(n, "coordinate_transformation_mode", "half_pixel", &coord));
    return check_option("coordinate_transformation_mode", coord, opset < 13 ? coords11 : coords);
}

/* out.dims = the known `sizes`. */
static dc_status apply_sizes(const dc_ints *sizes, dc_type *out)
{
    for (int i = 0; i < out->rank; i++) {
        out->dims[i] = dc_dim_of(dc_ints_at(sizes, i));
        if (out->dims[i].size < 0)
            return dc_error(DC_ERR_SHAPE, "Resize: sizes[%d] = %" PRId64 " is negative", i,
                            out->dims[i].size);
    }
    return DC_OK;
}

/* out.dims[i] = floor(x.dims[i] * scales[i]), in float as ONNX computes it; a
 * symbolic dim survives a scale of 1. */
static dc_status apply_scales(const dc_tensor *scales, const dc_type *x,
                              dc_type *out)
{
    for (int i = 0; i < out->rank; i++) {
        float s = (float)dc_tensor_get_f64(scales, (uint64_t)i);
        if (!(s > 0.0f) || !isfinite(s))
            return dc_error(DC_ERR_SHAPE, "Resize: scales[%d] = %g is not a positive number", i,
                            (double)s);
        if (!dc_dim_known(x->dims[i])) {
            out->dims[i] = s == 1.0f ? x->dims[i] : dc_dim_any();
            continue;
        }
        double size = floor((double)((float)x->dims[i].size * s));
        if (size >= 0x1p62)
            return dc_error(DC_ERR_SHAPE, "Resize: scales[%d] = %g makes axis %d of %s too large",
                            i, (double)s, i, dc_ts(x));
        out->dims[i] = dc_dim_of((int64_t)size);
    }
    return DC_OK;
}

static dc_status infer_resize(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    if (opset < 10)
        return dc_error(DC_ERR_UNSUPPORTED, "Resize needs opset 10, the graph imports %" PRId64, opset);
    DC_TRY(dc_check_inputs(n, opset == 10 ? 2 : opset < 13 ? 3 : 1, opset == 10 ? 2 : 4, opset));
    DC_TRY(check_modes(n, opset));
    const dc_type *x = &n->inputs[0]->type;
    const dc_value *scales = dc_opt_input(n, opset == 10 ? 1 : 2);
    dc_ints sizes = {.n = -1};
    if (opset > 10)
        DC_TRY(dc_ints_input(n, 3, &sizes));
    if (scales)
        DC_TRY(dc_need_float(n, &scales->type, "scales"));
    /* An empty scales tensor stands for "not given" (opset 11 requires the input). */
    int64_t n_scales = !scales ? 0 : scales->constant ? (int64_t)dc_tensor_numel(scales->constant)
                                   : scales->type.rank == 1 ? scales->type.dims[0].size : -1;
    if (n_scales != 0 && sizes.n > 0)
        return dc_error(DC_ERR_INVALID, "Resize: only one of scales and sizes may be given");
    if (n_scales == 0 && !sizes.present)
        return dc_error(DC_ERR_INVALID, "Resize: one of scales and sizes is required");
    dc_type out = dc_type_ranked(x->dtype, x->rank);
    int64_t given = sizes.n > 0 ? sizes.n : n_scales;
    if (x->rank >= 0 && given >= 0 && given != x->rank)
        return dc_error(DC_ERR_SHAPE, "Resize: %s has %" PRId64 " entries for input %s",
                        sizes.n > 0 ? "sizes" : "scales", given, dc_ts(x));
    if (x->rank >= 0 && sizes.known && sizes.n > 0)
        DC_TRY(apply_sizes(&sizes, &out));
    else if (x->rank >= 0 && n_scales > 0 && scales->constant)
        DC_TRY(apply_scales(scales->constant, x, &out));
    n->outputs[0]->type = out;
    return DC_OK;
}

static const char *const static_inputs_Resize[] = {NULL, "roi", "scales", "sizes"};
const dc_op_schema dc_op_Resize = {
    .name = "Resize", .domain = "",
    .min_inputs = 1, .max_inputs = 4, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_resize,
    .reference = dc_ref_Resize,
    .gradient = dc_grad_Resize,
    .static_inputs = static_inputs_Resize, .n_static_inputs = 4,
};

/* ResizeGrad (ai.dinoc): the adjoint of Resize with respect to X.
 *
 *   ResizeGrad(dy[o0..or-1], x_like[d0..dr-1]) -> dx[d0..dr-1]
 *
 * Attributes: Resize-11's (mode, coordinate_transformation_mode,
 * nearest_mode, cubic_coeff_a, exclude_outside, extrapolation_value), all
 * stated by the gradient rule, plus FLOATS `scales` (the forward's scales;
 * absent when it was given sizes) and `roi` (for tf_crop_and_resize). Only
 * x_like's type is read. */
static dc_status infer_resize_grad(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *dy = &n->inputs[0]->type, *x = &n->inputs[1]->type;
    DC_TRY(dc_need_float(n, dy, "dy"));
    DC_TRY(dc_same_dtype(n, dy, x));
    DC_TRY(check_modes(n, 12)); /* opsets 11-12 take every mode and coordinate mode */
    if (dy->rank >= 0 && x->rank >= 0 && dy->rank != x->rank)
        return dc_error(DC_ERR_SHAPE, "ResizeGrad: dy %s and x_like %s differ in rank", dc_ts(dy),
                        dc_ts(x));
    const dc_attr *scales, *roi;
    DC_TRY(dc_attr_get(n, "scales", DC_ATTR_FLOATS, &scales));
    DC_TRY(dc_attr_get(n, "roi", DC_ATTR_FLOATS, &roi));
    int rank = x->rank >= 0 ? x->rank : dy->rank;
    if (rank >= 0 && ((scales && scales->n != rank) || (roi && roi->n != 2 * rank)))
        return dc_error(DC_ERR_SHAPE, "ResizeGrad: %d scales and %d roi values for rank %d",
                        scales ? scales->n : 0, roi ? roi->n : 0, rank);
    dc_type out = *x;
    if (out.dtype == DC_UNDEFINED)
        out.dtype = dy->dtype;
    n->outputs[0]->type = out;
    return DC_OK;
}

const dc_op_schema dc_op_ResizeGrad = {
    .name = "ResizeGrad", .domain = "ai.dinoc",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_resize_grad,
    .reference = dc_ref_ResizeGrad,
};
