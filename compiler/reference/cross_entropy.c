/* Reference CrossEntropySoft (compiler/ops/cross_entropy.c), in double:
 * S[R, K], P[R, K], τ[] -> L[R], G[R, K] (when the node has output 1). */
#include <math.h>

#include "ops/infer_util.h"
#include "reference/ref_util.h"

dc_status dc_ref_CrossEntropySoft(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                  dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *s = inputs[0], *p = inputs[1];
    DC_TRY(ref_need_kind(node, s, "logits", REF_KINDS_FLOAT));
    DC_TRY(ref_same_dtype(node, s, p));
    if (s->rank != 2 || p->rank != 2 || s->dims[0] != p->dims[0] || s->dims[1] != p->dims[1])
        return dc_error(DC_ERR_SHAPE, "CrossEntropySoft: logits %s and targets %s must be the same [R, K]",
                        ref_shape_str(s->rank, s->dims), ref_shape_str(p->rank, p->dims));
    const dc_tensor *t = inputs[2];
    DC_TRY(ref_same_dtype(node, s, t));
    if (dc_tensor_numel(t) != 1 || t->rank > 1)
        return dc_error(DC_ERR_SHAPE, "CrossEntropySoft: temperature %s must be a scalar",
                        ref_shape_str(t->rank, t->dims));
    double tau = ref_get(t, 0);
    if (!(tau > 0))
        return dc_error(DC_ERR_INVALID, "CrossEntropySoft: temperature %g must be > 0", tau);
    int64_t R = s->dims[0], K = s->dims[1];
    DC_TRY(ref_new_output(node, outputs, 0, s->dtype, 1, &R));
    bool grad = ref_wants_output(node, 1);
    if (grad)
        DC_TRY(ref_new_output(node, outputs, 1, s->dtype, 2, s->dims));
    for (int64_t r = 0; r < R; r++) {
        double m = -INFINITY, sum = 0, mass = 0, dot = 0;
        for (int64_t k = 0; k < K; k++)
            m = fmax(m, ref_get(s, r * K + k) / tau);
        for (int64_t k = 0; k < K; k++) {
            double z = ref_get(s, r * K + k) / tau, w = ref_get(p, r * K + k);
            sum += exp(z - m);
            mass += w;
            dot += w * z;
        }
        double lse = m + log(sum);
        ref_set(outputs[0], r, mass * lse - dot);
        for (int64_t k = 0; grad && k < K; k++) {
            double z = ref_get(s, r * K + k) / tau;
            ref_set(outputs[1], r * K + k, (mass * exp(z - lse) - ref_get(p, r * K + k)) / tau);
        }
    }
    return DC_OK;
}
