/* dnnl.LayerNormalization: oneDNN layer normalization forward, f32.
 *
 *   X [*outer, *inner]  Scale [*inner]  B [*inner] (optional)
 *     -> Y [*outer, *inner], Mean [*outer, 1...] (optional), InvStdDev (optional)
 *   normalised over the trailing dims from `axis`, i.e. X seen as [T, C] with
 *   T = prod(outer), C = prod(inner).
 *
 * oneDNN computes variance, not its inverse root: when InvStdDev is asked
 * for, the variance is written straight into InvStdDev's buffer and turned
 * into 1/sqrt(var + eps) by a T-element loop after the primitive. With no
 * statistics requested the primitive runs in inference mode (no stats
 * written); with only one requested, the other goes to a private buffer. */
#include <math.h>

#include "dnnl_util.h"

static void inv_std_dev(dc_dnnl_state *st)
{
    float *v = st->post_data;
    for (int64_t i = 0; i < st->post_n; i++)
        v[i] = 1.0f / sqrtf(v[i] + st->post_eps);
}

static dc_status layernorm_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 3, 1, 3, DC_MAX_RANK));
    const dc_plan_buffer *X = a->in[0], *S = a->in[1], *Y = a->out[0];
    const dc_plan_buffer *B = a->step->n_inputs > 2 ? a->in[2] : NULL;
    const dc_plan_buffer *M = a->step->n_outputs > 1 ? a->out[1] : NULL;
    const dc_plan_buffer *I = a->step->n_outputs > 2 ? a->out[2] : NULL;
    int64_t axis = dc_step_int(a->step, "axis", -1);
    float eps = dc_step_float(a->step, "epsilon", 1e-5f);
    if (dc_step_int(a->step, "stash_type", 1) != 1)
        return dc_dnnl_refuse(a, "stash_type other than float32");
    if (X->rank == 0)
        return dc_dnnl_refuse(a, "scalar input");
    if (axis < 0)
        axis += X->rank;
    if (axis < 0 || axis >= X->rank)
        return dc_dnnl_shape_error(a, "axis %lld out of range for rank %d",
                                   (long long)dc_step_int(a->step, "axis", -1), X->rank);
    int64_t t = 1, c = 1;
    for (int i = 0; i < X->rank; i++)
        *(i < axis ? &t : &c) *= X->dims[i];
    if (dc_dnnl_numel(Y) != t * c)
        return dc_dnnl_shape_error(a, "Y has %lld elements; X has %lld",
                                   (long long)dc_dnnl_numel(Y), (long long)(t * c));
    if (dc_dnnl_numel(S) != c || (B && dc_dnnl_numel(B) != c))
        return dc_dnnl_refuse(a, "Scale/B of %lld/%lld elements; the normalized size is %lld",
                              (long long)dc_dnnl_numel(S),
                              (long long)(B ? dc_dnnl_numel(B) : c), (long long)c);
    if ((M && dc_dnnl_numel(M) != t) || (I && dc_dnnl_numel(I) != t))
        return dc_dnnl_shape_error(a, "Mean/InvStdDev must have %lld elements", (long long)t);

    int64_t dims[2] = {t, c};
    dnnl_memory_desc_t xmd, smd;
    DC_TRY(dc_dnnl_md(a, &xmd, 2, dims, NULL));
    DC_TRY(dc_dnnl_md(a, &smd, 1, &t, NULL));
    bool stats = M || I;
    unsigned flags = dnnl_use_scale | (B ? dnnl_use_shift : 0);
    dnnl_layer_normalization_desc_t d;
    DC_DNNL_TRY(a, dnnl_layer_normalization_forward_desc_init(
                       &d, stats ? dnnl_forward_training : dnnl_forward_inference, &xmd, &smd,
                       eps, flags));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, "layer normalization", &pd));
    if (!st)
        return dc_dnnl_add(a, st, pd, NULL, 0, false);
    dc_dnnl_bind binds[6] = {
        {DNNL_ARG_SRC, a->in_data[0], NULL},
        {DNNL_ARG_DST, a->out_data[0], NULL},
        {DNNL_ARG_SCALE, a->in_data[1], NULL},
    };
    int nb = 3;
    if (B)
        binds[nb++] = (dc_dnnl_bind){DNNL_ARG_SHIFT, a->in_data[2], NULL};
    if (stats) {
        /* NULL data: a private buffer for the statistic nobody asked for. */
        binds[nb++] = (dc_dnnl_bind){DNNL_ARG_MEAN, M ? a->out_data[1] : NULL, NULL};
        binds[nb++] = (dc_dnnl_bind){DNNL_ARG_VARIANCE, I ? a->out_data[2] : NULL, NULL};
    }
    if (I) {
        st->post = inv_std_dev;
        st->post_data = a->out_data[2];
        st->post_n = t;
        st->post_eps = eps;
    }
    return dc_dnnl_add(a, st, pd, binds, nb, false);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_LayerNormalization, "dnnl.LayerNormalization",
               "LayerNormalization", layernorm_build)
