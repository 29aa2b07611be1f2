/* Resize's gradient with respect to X (roi, scales and sizes get none).
 *
 * For fixed scales Resize is linear in X, y = A x, so dx = Aᵀ dy: the ai.dinoc
 * ResizeGrad op, which reuses the forward's taps and weights. The rule states
 * every attribute explicitly, resolving what the forward's opset implies
 * (opset 10: asymmetric coordinates, nearest rounds down), and turns the
 * constant scales and roi inputs into FLOATS attributes. */
#include <string.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"

/* A constant float input's values as a FLOATS attribute of n. */
static dc_status floats_attr(dc_graph *g, dc_node *n, const char *name, const dc_tensor *t)
{
    int count = (int)dc_tensor_numel(t);
    float v[2 * DC_MAX_RANK];
    if (count > 2 * DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "Resize gradient: %s has %d values", name, count);
    for (int i = 0; i < count; i++)
        v[i] = (float)dc_tensor_get_f64(t, (uint64_t)i);
    return dc_node_set_floats(n, g, name, v, count);
}

DG_RULE(Resize)
{
    if (!needs[0])
        return DC_OK;
    int64_t opset = dc_graph_opset(g, node->domain);
    const char *mode, *coord = "asymmetric", *nearest = "floor";
    float cubic_a, extrapolation;
    int64_t exclude;
    DC_TRY(dc_attr_s(node, "mode", "nearest", &mode));
    if (opset >= 11) {
        DC_TRY(dc_attr_s(node, "coordinate_transformation_mode", "half_pixel", &coord));
        DC_TRY(dc_attr_s(node, "nearest_mode", "round_prefer_floor", &nearest));
    }
    DC_TRY(dc_attr_f(node, "cubic_coeff_a", -0.75f, &cubic_a));
    DC_TRY(dc_attr_f(node, "extrapolation_value", 0.0f, &extrapolation));
    DC_TRY(dc_attr_i(node, "exclude_outside", 0, &exclude));
    const dc_value *scales = dc_opt_input(node, opset == 10 ? 1 : 2);
    const dc_value *roi = opset > 10 ? dc_opt_input(node, 1) : NULL;
    bool crop = strcmp(coord, "tf_crop_and_resize") == 0;
    if ((scales && (!scales->constant || scales->is_state)) ||
        (crop && (!roi || !roi->constant || roi->is_state)))
        return dc_error(DC_ERR_UNSUPPORTED, "Resize gradient: scales%s must be known at compile time",
                        crop ? " and roi" : "");

    dc_value *in[] = {dy[0], node->inputs[0]};
    dc_node *n = dg_dinoc_node(g, "ResizeGrad", in, 2, 1);
    if (n) {
        DC_TRY(dc_node_set_string(n, g, "mode", mode));
        DC_TRY(dc_node_set_string(n, g, "coordinate_transformation_mode", coord));
        DC_TRY(dc_node_set_string(n, g, "nearest_mode", nearest));
        DC_TRY(dc_node_set_float(n, g, "cubic_coeff_a", cubic_a));
        DC_TRY(dc_node_set_float(n, g, "extrapolation_value", extrapolation));
        DC_TRY(dc_node_set_int(n, g, "exclude_outside", exclude));
        if (scales && dc_tensor_numel(scales->constant) > 0) /* empty scales: sizes were given */
            DC_TRY(floats_attr(g, n, "scales", scales->constant));
        if (crop)
            DC_TRY(floats_attr(g, n, "roi", roi->constant));
    }
    dx[0] = dc_node_finish(g, n);
    return DC_OK;
}
