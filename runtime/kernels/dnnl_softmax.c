/* dnnl.Softmax, dnnl.LogSoftmax: oneDNN softmax v2 forward, f32.
 *
 *   X [*outer, D, *inner] -> Y, same shape; normalised along `axis` (opset 13
 *   semantics: one axis; lowering passes that canonical form for every opset).
 *   X is seen as [outer, D] when the axis is the last non-trivial one (the
 *   attention case, jit:avx2) and as [outer, D, inner] otherwise (oneDNN 2.6
 *   has only its reference kernel there, so check refuses and c.* runs it). */
#include <string.h>

#include "dnnl_util.h"

static dc_status softmax_common(const dc_kernel_args *a, dc_dnnl_state *st, bool log)
{
    DC_TRY(dc_dnnl_check_args(a, 1, 1, 1, 1, DC_MAX_RANK));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    int64_t axis = dc_step_int(a->step, "axis", -1);
    if (X->rank == 0)
        return dc_dnnl_refuse(a, "scalar input");
    if (axis < 0)
        axis += X->rank;
    if (axis < 0 || axis >= X->rank)
        return dc_dnnl_shape_error(a, "axis %lld out of range for rank %d",
                                   (long long)dc_step_int(a->step, "axis", -1), X->rank);
    if (Y->rank != X->rank ||
        memcmp(Y->dims, X->dims, sizeof(int64_t) * (size_t)X->rank) != 0)
        return dc_dnnl_shape_error(a, "Y must have X's shape");
    int64_t dims[3] = {1, X->dims[axis], 1};
    for (int i = 0; i < X->rank; i++) {
        if (i < axis)
            dims[0] *= X->dims[i];
        else if (i > axis)
            dims[2] *= X->dims[i];
    }
    dnnl_memory_desc_t md;
    DC_TRY(dc_dnnl_md(a, &md, dims[2] == 1 ? 2 : 3, dims, NULL));
    dnnl_softmax_v2_desc_t d;
    DC_DNNL_TRY(a, dnnl_softmax_v2_forward_desc_init(
                       &d, dnnl_forward_inference, log ? dnnl_softmax_log : dnnl_softmax_accurate,
                       &md, &md, 1));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, log ? "logsoftmax" : "softmax", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 2, false);
}

static dc_status softmax_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    return softmax_common(a, st, false);
}

static dc_status logsoftmax_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    return softmax_common(a, st, true);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_Softmax, "dnnl.Softmax", "Softmax", softmax_build)
DC_DNNL_KERNEL(dc_kernel_dnnl_LogSoftmax, "dnnl.LogSoftmax", "LogSoftmax", logsoftmax_build)
