/* Reference AdamW and EMA, in double, in the order PyTorch computes them. */
#include <math.h>

#include "reference/ref_util.h"
#include "reference/training.h"

/* param, grad, m, v: [any shape, same]; lr, weight_decay: f32 scalars; step: i64. */
dc_status dc_ref_AdamW(const dc_node *node, int64_t opset, dc_tensor *const *in, dc_tensor **out)
{
    (void)opset;
    float beta1, beta2, eps, lr_scale;
    int64_t decay;
    DC_TRY(dc_attr_f(node, "beta1", 0.9f, &beta1));
    DC_TRY(dc_attr_f(node, "beta2", 0.999f, &beta2));
    DC_TRY(dc_attr_f(node, "epsilon", 1e-8f, &eps));
    DC_TRY(dc_attr_f(node, "lr_scale", 1.0f, &lr_scale));
    DC_TRY(dc_attr_i(node, "decay", 1, &decay));
    double lr = ref_get(in[4], 0) * lr_scale, wd = decay ? ref_get(in[5], 0) : 0.0;
    int64_t step = ref_get_int(in[6], 0);
    if (step < 1)
        return dc_error(DC_ERR_INVALID, "AdamW '%s': step %lld, expected >= 1", node->name,
                        (long long)step);
    for (int k = 0; k < 3; k++)
        DC_TRY(dc_tensor_clone(&out[k], in[k == 0 ? 0 : k + 1]));
    double bias1 = 1.0 - pow(beta1, (double)step), bias2 = sqrt(1.0 - pow(beta2, (double)step));
    for (int64_t i = 0; i < (int64_t)dc_tensor_numel(in[0]); i++) {
        double p = ref_get(in[0], i), g = ref_get(in[1], i);
        double m = beta1 * ref_get(in[2], i) + (1.0 - beta1) * g;
        double v = beta2 * ref_get(in[3], i) + (1.0 - beta2) * g * g;
        p *= 1.0 - lr * wd;
        p -= lr / bias1 * m / (sqrt(v) / bias2 + eps);
        ref_set(out[0], i, p);
        ref_set(out[1], i, m);
        ref_set(out[2], i, v);
    }
    return DC_OK;
}

/* momentum: scalar; then (a, b) pairs of equal shapes; out[k] = m·a + (1 − m)·b. */
dc_status dc_ref_EMA(const dc_node *node, int64_t opset, dc_tensor *const *in, dc_tensor **out)
{
    (void)opset;
    double m = ref_get(in[0], 0);
    for (int k = 0; k < node->n_outputs; k++) {
        const dc_tensor *a = in[1 + 2 * k], *b = in[2 + 2 * k];
        DC_TRY(dc_tensor_clone(&out[k], a));
        for (int64_t i = 0; i < (int64_t)dc_tensor_numel(a); i++)
            ref_set(out[k], i, m * ref_get(a, i) + (1.0 - m) * ref_get(b, i));
    }
    return DC_OK;
}
