/* Reference Gelu and GeluGrad (compiler/ops/gelu.c), in double. */
#include <math.h>

#include "reference/ref_util.h"

static double phi_cdf(double x) { return 0.5 * (1 + erf(x * M_SQRT1_2)); }

/* X[*] -> Y[*] = X · Φ(X) */
dc_status dc_ref_Gelu(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                      dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_FLOAT));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    for (uint64_t i = 0; i < dc_tensor_numel(x); i++) {
        double v = ref_get(x, (int64_t)i);
        ref_set(outputs[0], (int64_t)i, v * phi_cdf(v));
    }
    return DC_OK;
}

/* dY[*], X[*] -> dX[*] = dY · (Φ(X) + X · φ(X)) */
dc_status dc_ref_GeluGrad(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                          dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dy = inputs[0], *x = inputs[1];
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, dy, x));
    bool same = dy->rank == x->rank;
    for (int d = 0; same && d < x->rank; d++)
        same = dy->dims[d] == x->dims[d];
    if (!same)
        return dc_error(DC_ERR_SHAPE, "GeluGrad: dY %s must have X's shape %s",
                        ref_shape_str(dy->rank, dy->dims), ref_shape_str(x->rank, x->dims));
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    const double inv_sqrt_2pi = 0.3989422804014327;
    for (uint64_t i = 0; i < dc_tensor_numel(x); i++) {
        double v = ref_get(x, (int64_t)i);
        double d = phi_cdf(v) + v * inv_sqrt_2pi * exp(-0.5 * v * v);
        ref_set(outputs[0], (int64_t)i, ref_get(dy, (int64_t)i) * d);
    }
    return DC_OK;
}
