/* dnnl.ConvGradInput and dnnl.ConvGradWeight (ai.dinoc): oneDNN convolution
 * backward data / backward weights, f32, 1-D to 3-D.
 *
 *   ConvGradInput(dy[N, M, *out], w[M, C/group, *k]) -> dx[N, C, *in]
 *   ConvGradWeight(dy[N, M, *out], x[N, C, *in]) -> dw[M, C/group, *k]
 *   out = floor((in + pad_begin + pad_end - ((k-1)*dilation + 1)) / stride) + 1
 *
 * Attributes: strides, dilations, explicit pads (the gradient rule resolves
 * auto_pad), group, and x_shape / w_shape (the output's shape, checked).
 * Every tensor stays row-major (nchw, oihw; goihw over the same bytes with
 * groups), so the step's buffers are bound directly and no reorder runs;
 * oneDNN then picks its gemm-based implementations. Backward primitives need
 * the forward's descriptor as a hint, built here from the same shapes. */
#include <string.h>

#include "dnnl_util.h"
#include "conv_limits.h"

enum { MAX_SP = 3 };
enum { GRAD_INPUT, GRAD_WEIGHT };

/* INTS `name` with `count` values, else `dflt`s; fails on another count. */
static dc_status ints_attr(const dc_kernel_args *a, const char *name, int count, int64_t dflt,
                           int64_t *out)
{
    int n;
    const int64_t *v = dc_step_ints(a->step, name, &n);
    if (v && n != count)
        return dc_dnnl_shape_error(a, "%d %s for %d spatial dims", n, name, count);
    for (int i = 0; i < count; i++)
        out[i] = v ? v[i] : dflt;
    return DC_OK;
}

static dc_status conv_grad_build(const dc_kernel_args *a, dc_dnnl_state *st, int variant)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 2, 1, 1, 2 + MAX_SP));
    const dc_plan_buffer *DY = a->in[0], *O = a->in[1], *OUT = a->out[0];
    const dc_plan_buffer *X = variant == GRAD_INPUT ? OUT : O, *W = variant == GRAD_INPUT ? O : OUT;
    char b1[96], b2[96], b3[96];
    int sp = X->rank - 2;
    if (sp < 1 || sp > MAX_SP)
        return dc_dnnl_refuse(a, "rank %d; oneDNN convolutions are 1-D to 3-D", X->rank);
    if (W->rank != X->rank || DY->rank != X->rank)
        return dc_dnnl_shape_error(a, "X %s, W %s and dY %s must have the same rank",
                                   dc_dnnl_dims_str(b1, sizeof b1, X->rank, X->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, W->rank, W->dims),
                                   dc_dnnl_dims_str(b3, sizeof b3, DY->rank, DY->dims));
    int n_shape;
    const char *shape_attr = variant == GRAD_INPUT ? "x_shape" : "w_shape";
    const int64_t *shape = dc_step_ints(a->step, shape_attr, &n_shape);
    if (shape && (n_shape != OUT->rank ||
                  memcmp(shape, OUT->dims, sizeof(int64_t) * (size_t)n_shape) != 0))
        return dc_dnnl_shape_error(a, "%s disagrees with the output %s", shape_attr,
                                   dc_dnnl_dims_str(b1, sizeof b1, OUT->rank, OUT->dims));
    int64_t group = dc_step_int(a->step, "group", 1);
    int64_t c = X->dims[1], m = W->dims[0];
    if (group < 1 || c % group != 0 || m % group != 0 || W->dims[1] != c / group)
        return dc_dnnl_shape_error(a, "X has %lld channels, W is %s, group %lld", (long long)c,
                                   dc_dnnl_dims_str(b1, sizeof b1, W->rank, W->dims),
                                   (long long)group);
    int64_t strides[MAX_SP], dil[MAX_SP], pads[2 * MAX_SP];
    DC_TRY(ints_attr(a, "strides", sp, 1, strides));
    DC_TRY(ints_attr(a, "dilations", sp, 1, dil));
    DC_TRY(ints_attr(a, "pads", 2 * sp, 0, pads));
    int64_t ydims[2 + MAX_SP] = {X->dims[0], m};
    for (int i = 0; i < sp; i++) {
        if (strides[i] < 1 || dil[i] < 1 || pads[i] < 0 || pads[sp + i] < 0)
            return dc_dnnl_shape_error(a, "strides and dilations must be >= 1, pads >= 0");
        if (!dc_conv_within_limits(X->dims[2 + i], W->dims[2 + i], strides[i], dil[i], pads[i],
                                   pads[sp + i]))
            return dc_dnnl_shape_error(a, DC_CONV_LIMITS_MESSAGE);
        int64_t span = X->dims[2 + i] + pads[i] + pads[sp + i] - ((W->dims[2 + i] - 1) * dil[i] + 1);
        if (span < 0)
            return dc_dnnl_shape_error(a, "kernel larger than the padded input");
        ydims[2 + i] = span / strides[i] + 1;
    }
    if (memcmp(ydims, DY->dims, sizeof(int64_t) * (size_t)DY->rank) != 0)
        return dc_dnnl_shape_error(a, "dY is %s; expected %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, DY->rank, DY->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, DY->rank, ydims));

    /* With groups, W is [g, M/g, C/g, *k] over the same bytes. */
    int64_t wdims[3 + MAX_SP];
    int wrank = W->rank;
    if (group > 1) {
        wdims[0] = group, wdims[1] = m / group;
        memcpy(wdims + 2, W->dims + 1, sizeof(int64_t) * (size_t)(W->rank - 1));
        wrank++;
    } else {
        memcpy(wdims, W->dims, sizeof(int64_t) * (size_t)W->rank);
    }
    dnnl_memory_desc_t xmd, wmd, ymd;
    DC_TRY(dc_dnnl_md(a, &xmd, X->rank, X->dims, NULL));
    DC_TRY(dc_dnnl_md(a, &wmd, wrank, wdims, NULL));
    DC_TRY(dc_dnnl_md(a, &ymd, DY->rank, DY->dims, NULL));
    dnnl_dims_t s = {0}, d = {0}, pl = {0}, pr = {0};
    for (int i = 0; i < sp; i++) {
        s[i] = strides[i];
        d[i] = dil[i] - 1; /* oneDNN counts the gaps */
        pl[i] = pads[i];
        pr[i] = pads[sp + i];
    }
    dnnl_convolution_desc_t fd, bd;
    DC_DNNL_TRY(a, dnnl_dilated_convolution_forward_desc_init(
                       &fd, dnnl_forward_training, dnnl_convolution_direct, &xmd, &wmd, NULL,
                       &ymd, s, d, pl, pr));
    if (variant == GRAD_INPUT)
        DC_DNNL_TRY(a, dnnl_dilated_convolution_backward_data_desc_init(
                           &bd, dnnl_convolution_direct, &xmd, &wmd, &ymd, s, d, pl, pr));
    else
        DC_DNNL_TRY(a, dnnl_dilated_convolution_backward_weights_desc_init(
                           &bd, dnnl_convolution_direct, &xmd, &wmd, NULL, &ymd, s, d, pl, pr));
    dnnl_primitive_desc_t hint, pd;
    DC_TRY(dc_dnnl_pd(a, &fd, NULL, "convolution", &hint));
    dc_status ss = dc_dnnl_pd_hint(a, &bd, NULL,
                                   variant == GRAD_INPUT ? "convolution backward data"
                                                         : "convolution backward weights",
                                   hint, &pd);
    dnnl_primitive_desc_destroy(hint);
    if (ss != DC_OK)
        return ss;
    if (!st)
        return dc_dnnl_add(a, st, pd, NULL, 0, false);
    if (variant == GRAD_INPUT) {
        dc_dnnl_bind binds[] = {
            {DNNL_ARG_DIFF_DST, a->in_data[0], NULL},
            {DNNL_ARG_WEIGHTS, a->in_data[1], NULL},
            {DNNL_ARG_DIFF_SRC, a->out_data[0], NULL},
        };
        return dc_dnnl_add(a, st, pd, binds, 3, false);
    }
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_DIFF_DST, a->in_data[0], NULL},
        {DNNL_ARG_SRC, a->in_data[1], NULL},
        {DNNL_ARG_DIFF_WEIGHTS, a->out_data[0], NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 3, false);
}

static dc_status grad_input_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    return conv_grad_build(a, st, GRAD_INPUT);
}

static dc_status grad_weight_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    return conv_grad_build(a, st, GRAD_WEIGHT);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_ConvGradInput, "dnnl.ConvGradInput", "ConvGradInput", grad_input_build)
DC_DNNL_KERNEL(dc_kernel_dnnl_ConvGradWeight, "dnnl.ConvGradWeight", "ConvGradWeight", grad_weight_build)
