/* dnnl.<unary>: oneDNN eltwise forward, f32, any shape.
 *
 *   X [*] -> Y [*] (same element count; seen as one flat [numel] vector, which
 *   the jit:avx2 kernel streams through). In place (Y == X) is fine.
 *   Relu = relu(alpha 0), Sigmoid = logistic, Neg = linear(alpha -1, beta 0),
 *   Reciprocal = pow(alpha 1, beta -1) (exact for negative inputs too: oneDNN
 *   special-cases integral exponents), Gelu (ai.dinoc) = gelu_erf. */
#include "dnnl_util.h"

static dc_status eltwise_common(const dc_kernel_args *a, dc_dnnl_state *st, dnnl_alg_kind_t alg,
                                float alpha, float beta)
{
    DC_TRY(dc_dnnl_check_args(a, 1, 1, 1, 1, DC_MAX_RANK));
    int64_t n = dc_dnnl_numel(a->in[0]);
    if (dc_dnnl_numel(a->out[0]) != n)
        return dc_dnnl_shape_error(a, "Y has %lld elements; X has %lld",
                                   (long long)dc_dnnl_numel(a->out[0]), (long long)n);
    dnnl_memory_desc_t md;
    DC_TRY(dc_dnnl_md(a, &md, 1, &n, NULL));
    dnnl_eltwise_desc_t d;
    DC_DNNL_TRY(a, dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, &md, alpha,
                                                  beta));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, "eltwise", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 2, false);
}

#define ELTWISE(OP, ALG, ALPHA, BETA)                                              \
    static dc_status OP##_build(const dc_kernel_args *a, dc_dnnl_state *st)       \
    {                                                                              \
        return eltwise_common(a, st, ALG, ALPHA, BETA);                            \
    }                                                                              \
    DC_DNNL_KERNEL(dc_kernel_dnnl_##OP, "dnnl." #OP, #OP, OP##_build)

ELTWISE(Relu, dnnl_eltwise_relu, 0.0f, 0.0f)
ELTWISE(Tanh, dnnl_eltwise_tanh, 0.0f, 0.0f)
ELTWISE(Sigmoid, dnnl_eltwise_logistic, 0.0f, 0.0f)
ELTWISE(Exp, dnnl_eltwise_exp, 0.0f, 0.0f)
ELTWISE(Log, dnnl_eltwise_log, 0.0f, 0.0f)
ELTWISE(Sqrt, dnnl_eltwise_sqrt, 0.0f, 0.0f)
ELTWISE(Abs, dnnl_eltwise_abs, 0.0f, 0.0f)
ELTWISE(Neg, dnnl_eltwise_linear, -1.0f, 0.0f)
ELTWISE(Reciprocal, dnnl_eltwise_pow, 1.0f, -1.0f)
ELTWISE(Gelu, dnnl_eltwise_gelu_erf, 0.0f, 0.0f)
