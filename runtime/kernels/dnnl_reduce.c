/* dnnl.ReduceSum, dnnl.ReduceMean, dnnl.ReduceMax, dnnl.ReduceMin: oneDNN reduction, f32.
 *
 *   X [*] -> Y: the `axes` dims (canonical attribute; absent or empty = all,
 *   unless noop_with_empty_axes) reduced to 1 (keepdims=1) or dropped
 *   (keepdims=0; same bytes either way). Dims are collapsed first (size-1
 *   dims dropped, neighbours that are both reduced or both kept merged):
 *   oneDNN 2.6 has a jit:avx2 kernel when the reduced dims are innermost
 *   ([T, C] -> [T, 1]) and only ref:any otherwise, which check refuses so
 *   the c.* kernel runs. An identity (nothing of size > 1 reduced) is refused too. */
#include <string.h>

#include "dnnl_util.h"

static dc_status reduce_common(const dc_kernel_args *a, dc_dnnl_state *st, dnnl_alg_kind_t alg)
{
    DC_TRY(dc_dnnl_check_args(a, 1, 1, 1, 1, DC_MAX_RANK));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    char b1[96], b2[96];
    int r = X->rank, n_axes = 0;
    const int64_t *axes = dc_step_ints(a->step, "axes", &n_axes);
    int64_t keepdims = dc_step_int(a->step, "keepdims", 1);
    bool reduced[DC_MAX_RANK] = {false};
    if (n_axes == 0) {
        if (dc_step_int(a->step, "noop_with_empty_axes", 0))
            return dc_dnnl_refuse(a, "noop_with_empty_axes with no axes is a copy");
        for (int i = 0; i < r; i++)
            reduced[i] = true;
    }
    for (int i = 0; i < n_axes; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
        if (ax < 0 || ax >= r || reduced[ax])
            return dc_dnnl_shape_error(a, "axis %lld out of range or repeated for rank %d",
                                       (long long)axes[i], r);
        reduced[ax] = true;
    }
    int64_t want[DC_MAX_RANK];
    int rw = 0;
    for (int i = 0; i < r; i++) {
        if (!reduced[i])
            want[rw++] = X->dims[i];
        else if (keepdims)
            want[rw++] = 1;
    }
    if (Y->rank != rw || memcmp(Y->dims, want, sizeof(int64_t) * (size_t)rw) != 0)
        return dc_dnnl_shape_error(a, "output is %s; expected %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, Y->rank, Y->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, rw, want));
    int64_t xc[DC_MAX_RANK], yc[DC_MAX_RANK];
    int rc = 0;
    bool prev = false, any = false;
    for (int i = 0; i < r; i++) {
        if (X->dims[i] == 1)
            continue;
        if (rc > 0 && reduced[i] == prev) {
            xc[rc - 1] *= X->dims[i];
        } else {
            xc[rc++] = X->dims[i];
            prev = reduced[i];
        }
        yc[rc - 1] = reduced[i] ? 1 : xc[rc - 1];
        any |= reduced[i];
    }
    if (!any)
        return dc_dnnl_refuse(a, "no dimension of size > 1 is reduced (a copy)");
    dnnl_memory_desc_t xmd, ymd;
    DC_TRY(dc_dnnl_md(a, &xmd, rc, xc, NULL));
    DC_TRY(dc_dnnl_md(a, &ymd, rc, yc, NULL));
    dnnl_reduction_desc_t d;
    DC_DNNL_TRY(a, dnnl_reduction_desc_init(&d, alg, &xmd, &ymd, 0.0f, 0.0f));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, "reduction", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC, st ? a->in_data[0] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 2, false);
}

#define REDUCE(OP, ALG)                                                            \
    static dc_status OP##_build(const dc_kernel_args *a, dc_dnnl_state *st)       \
    {                                                                              \
        return reduce_common(a, st, ALG);                                          \
    }                                                                              \
    DC_DNNL_KERNEL(dc_kernel_dnnl_##OP, "dnnl." #OP, #OP, OP##_build)

REDUCE(ReduceSum, dnnl_reduction_sum)
REDUCE(ReduceMean, dnnl_reduction_mean)
REDUCE(ReduceMax, dnnl_reduction_max)
REDUCE(ReduceMin, dnnl_reduction_min)
