/* Reference LayerNormGrad (compiler/ops/layer_norm_grad.c), in double. */
#include <math.h>
#include <stdlib.h>

#include "ops/infer_util.h"
#include "reference/ref_util.h"

dc_status dc_ref_LayerNormGrad(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                               dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *dy = inputs[0], *x = inputs[1], *scale = inputs[2];
    const dc_tensor *mean = node->n_inputs > 4 ? inputs[3] : NULL, *inv = node->n_inputs > 4 ? inputs[4] : NULL;
    DC_TRY(ref_need_kind(node, x, "X", REF_KINDS_FLOAT));
    int64_t axis64;
    float eps;
    DC_TRY(dc_attr_i(node, "axis", -1, &axis64));
    DC_TRY(dc_attr_f(node, "epsilon", 1e-5f, &eps));
    int a;
    DC_TRY(ref_axis(node, axis64, x->rank, &a));
    int64_t rows = ref_span(x->dims, 0, a), D = ref_span(x->dims, a, x->rank);
    bool fits = dc_tensor_numel(dy) == dc_tensor_numel(x) && (int64_t)dc_tensor_numel(scale) == D &&
                (!mean || ((int64_t)dc_tensor_numel(mean) == rows && (int64_t)dc_tensor_numel(inv) == rows));
    if (!fits)
        return dc_error(DC_ERR_SHAPE, "LayerNormGrad: dY %s, Scale %s or statistics do not fit X %s at axis %d",
                        ref_shape_str(dy->rank, dy->dims), ref_shape_str(scale->rank, scale->dims),
                        ref_shape_str(x->rank, x->dims), a);
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    for (int i = 1; i < 3; i++)
        if (ref_wants_output(node, i))
            DC_TRY(ref_new_output(node, outputs, i, x->dtype, scale->rank, scale->dims));
    double *acc = calloc(2 * (size_t)D + 1, sizeof *acc); /* dScale, dB */
    if (!acc)
        return dc_error(DC_ERR_NOMEM, "LayerNormGrad: %lld accumulators", (long long)D);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * D;
        double mu, rs;
        if (mean) {
            mu = ref_get(mean, r);
            rs = ref_get(inv, r);
        } else {
            double s = 0, v = 0;
            for (int64_t i = 0; i < D; i++)
                s += ref_get(x, o + i);
            mu = s / (double)D;
            for (int64_t i = 0; i < D; i++)
                v += (ref_get(x, o + i) - mu) * (ref_get(x, o + i) - mu);
            rs = 1 / sqrt(v / (double)D + eps);
        }
        double mg = 0, mgx = 0;
        for (int64_t i = 0; i < D; i++) {
            double xh = (ref_get(x, o + i) - mu) * rs, d = ref_get(dy, o + i);
            mg += d * ref_get(scale, i);
            mgx += d * ref_get(scale, i) * xh;
            acc[i] += d * xh;
            acc[D + i] += d;
        }
        mg /= (double)D;
        mgx /= (double)D;
        for (int64_t i = 0; i < D; i++) {
            double xh = (ref_get(x, o + i) - mu) * rs;
            ref_set(outputs[0], o + i, rs * (ref_get(dy, o + i) * ref_get(scale, i) - mg - xh * mgx));
        }
    }
    for (int k = 1; k < 3; k++)
        for (int64_t i = 0; outputs[k] && i < D; i++)
            ref_set(outputs[k], i, acc[(k - 1) * D + i]);
    free(acc);
    return DC_OK;
}
