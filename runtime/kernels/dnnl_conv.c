/* dnnl.Conv: oneDNN convolution forward, f32, 1-D to 3-D.
 *
 *   X [N, C, *in]  W [O, C/group, *k]  B [O] (optional)  ->  Y [N, O, *out]
 *   out = floor((in + pad_begin + pad_end - ((k-1)*dilation + 1)) / stride) + 1
 *
 * X and Y stay row-major (nchw): the ViT patch embedding (kernel = stride,
 * no pad) is an im2col that is a pure permutation plus one GEMM
 * (x64:gemm:jit). W is offered to oneDNN as `any`; if it wants a blocked
 * layout, W is reordered into a private buffer: once at the first run when W
 * lives in CONST, at every run otherwise (parameters in STATE or gradients in
 * the ARENA change every training step). auto_pad (SAME_UPPER, SAME_LOWER,
 * VALID) is resolved into explicit pads here. */
#include <string.h>

#include "dnnl_util.h"
#include "conv_limits.h"

enum { MAX_SP = 3 };

static dc_status conv_build(const dc_kernel_args *a, dc_dnnl_state *st)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 3, 1, 1, 2 + MAX_SP));
    const dc_plan_buffer *X = a->in[0], *W = a->in[1], *Y = a->out[0];
    const dc_plan_buffer *B = a->step->n_inputs > 2 ? a->in[2] : NULL;
    char b1[96], b2[96], b3[96];
    int sp = X->rank - 2;
    if (sp < 1 || sp > MAX_SP)
        return dc_dnnl_refuse(a, "input of rank %d; dnnl.Conv takes 1-D to 3-D convolutions",
                              X->rank);
    if (W->rank != X->rank || Y->rank != X->rank)
        return dc_dnnl_shape_error(a, "X %s, W %s and Y %s must have the same rank",
                                   dc_dnnl_dims_str(b1, sizeof b1, X->rank, X->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, W->rank, W->dims),
                                   dc_dnnl_dims_str(b3, sizeof b3, Y->rank, Y->dims));
    int64_t group = dc_step_int(a->step, "group", 1);
    int64_t n = X->dims[0], c = X->dims[1], o = W->dims[0];
    if (group < 1 || c % group != 0 || o % group != 0 || W->dims[1] != c / group)
        return dc_dnnl_shape_error(a, "X has %lld channels, W is %s, group %lld", (long long)c,
                                   dc_dnnl_dims_str(b1, sizeof b1, W->rank, W->dims),
                                   (long long)group);
    if (B && (B->rank != 1 || B->dims[0] != o))
        return dc_dnnl_shape_error(a, "bias is %s; expected [%lld]",
                                   dc_dnnl_dims_str(b1, sizeof b1, B->rank, B->dims),
                                   (long long)o);

    int cnt;
    const int64_t *ks = dc_step_ints(a->step, "kernel_shape", &cnt);
    if (ks && (cnt != sp || memcmp(ks, W->dims + 2, sizeof(int64_t) * (size_t)sp) != 0))
        return dc_dnnl_shape_error(a, "kernel_shape disagrees with W %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, W->rank, W->dims));
    int64_t strides[MAX_SP], dil[MAX_SP], pads[2 * MAX_SP];
    const int64_t *v = dc_step_ints(a->step, "strides", &cnt);
    if (v && cnt != sp)
        return dc_dnnl_shape_error(a, "%d strides for %d spatial dims", cnt, sp);
    for (int i = 0; i < sp; i++)
        strides[i] = v ? v[i] : 1;
    v = dc_step_ints(a->step, "dilations", &cnt);
    if (v && cnt != sp)
        return dc_dnnl_shape_error(a, "%d dilations for %d spatial dims", cnt, sp);
    for (int i = 0; i < sp; i++)
        dil[i] = v ? v[i] : 1;
    v = dc_step_ints(a->step, "pads", &cnt);
    if (v && cnt != 2 * sp)
        return dc_dnnl_shape_error(a, "%d pads for %d spatial dims", cnt, sp);
    for (int i = 0; i < 2 * sp; i++)
        pads[i] = v ? v[i] : 0;
    for (int i = 0; i < sp; i++)
        if (strides[i] < 1 || dil[i] < 1 || pads[i] < 0 || pads[sp + i] < 0)
            return dc_dnnl_shape_error(a, "strides and dilations must be >= 1, pads >= 0");
    for (int i = 0; i < sp; i++)
        if (!dc_conv_within_limits(X->dims[2 + i], W->dims[2 + i], strides[i], dil[i], pads[i],
                                   pads[sp + i]))
            return dc_dnnl_shape_error(a, DC_CONV_LIMITS_MESSAGE);

    const char *auto_pad = dc_step_string(a->step, "auto_pad", "NOTSET");
    bool same_upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    bool same_lower = strcmp(auto_pad, "SAME_LOWER") == 0;
    if (strcmp(auto_pad, "VALID") == 0) {
        memset(pads, 0, sizeof pads);
    } else if (same_upper || same_lower) {
        for (int i = 0; i < sp; i++) {
            int64_t in = X->dims[2 + i], k_eff = (W->dims[2 + i] - 1) * dil[i] + 1;
            int64_t out = (in + strides[i] - 1) / strides[i];
            int64_t total = (out - 1) * strides[i] + k_eff - in;
            if (total < 0)
                total = 0;
            pads[i] = same_upper ? total / 2 : total - total / 2;
            pads[sp + i] = total - pads[i];
        }
    } else if (strcmp(auto_pad, "NOTSET") != 0) {
        return dc_dnnl_shape_error(a, "unknown auto_pad '%s'", auto_pad);
    }

    int64_t ydims[2 + MAX_SP] = {n, o};
    for (int i = 0; i < sp; i++) {
        int64_t k_eff = (W->dims[2 + i] - 1) * dil[i] + 1;
        int64_t span = X->dims[2 + i] + pads[i] + pads[sp + i] - k_eff;
        if (span < 0)
            return dc_dnnl_shape_error(a, "kernel larger than the padded input");
        ydims[2 + i] = span / strides[i] + 1;
    }
    if (memcmp(ydims, Y->dims, sizeof(int64_t) * (size_t)Y->rank) != 0)
        return dc_dnnl_shape_error(a, "output is %s; expected %s",
                                   dc_dnnl_dims_str(b1, sizeof b1, Y->rank, Y->dims),
                                   dc_dnnl_dims_str(b2, sizeof b2, Y->rank, ydims));

    /* With groups, W is [g, O/g, C/g, *k] over the same bytes. */
    int64_t wdims[3 + MAX_SP];
    int wrank = W->rank;
    if (group > 1) {
        wdims[0] = group, wdims[1] = o / group;
        memcpy(wdims + 2, W->dims + 1, sizeof(int64_t) * (size_t)(W->rank - 1));
        wrank++;
    } else {
        memcpy(wdims, W->dims, sizeof(int64_t) * (size_t)W->rank);
    }
    dnnl_memory_desc_t xmd, wmd, wany, bmd, ymd;
    DC_TRY(dc_dnnl_md(a, &xmd, X->rank, X->dims, NULL));
    DC_TRY(dc_dnnl_md(a, &wmd, wrank, wdims, NULL));
    DC_TRY(dc_dnnl_md(a, &ymd, Y->rank, Y->dims, NULL));
    if (B)
        DC_TRY(dc_dnnl_md(a, &bmd, 1, B->dims, NULL));
    dnnl_dims_t wd = {0}, s = {0}, d = {0}, pl = {0}, pr = {0};
    for (int i = 0; i < wrank; i++)
        wd[i] = wdims[i];
    DC_DNNL_TRY(a, dnnl_memory_desc_init_by_tag(&wany, wrank, wd, dnnl_f32, dnnl_format_tag_any));
    for (int i = 0; i < sp; i++) {
        s[i] = strides[i];
        d[i] = dil[i] - 1; /* oneDNN counts the gaps */
        pl[i] = pads[i];
        pr[i] = pads[sp + i];
    }
    dnnl_convolution_desc_t cd;
    DC_DNNL_TRY(a, dnnl_dilated_convolution_forward_desc_init(
                       &cd, dnnl_forward_training, dnnl_convolution_direct, &xmd, &wany,
                       B ? &bmd : NULL, &ymd, s, d, pl, pr));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &cd, NULL, "convolution", &pd));
    if (!st)
        return dc_dnnl_add(a, st, pd, NULL, 0, false);

    /* Weights: bound directly when oneDNN takes them row-major, else reordered. */
    dnnl_memory_t wmem = NULL;
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!dnnl_memory_desc_equal(want, &wmd)) {
        dnnl_memory_desc_t blocked = *want;
        dnnl_primitive_desc_t rpd = NULL;
        dc_status ss = dc_dnnl_reorder_pd(a, &wmd, &blocked, &rpd);
        if (ss == DC_OK)
            ss = dc_dnnl_memory(a, st, &blocked, NULL, &wmem);
        if (ss != DC_OK) {
            if (rpd)
                dnnl_primitive_desc_destroy(rpd);
            dnnl_primitive_desc_destroy(pd);
            return ss;
        }
        dc_dnnl_bind rb[] = {{DNNL_ARG_FROM, a->in_data[1], NULL}, {DNNL_ARG_TO, NULL, wmem}};
        ss = dc_dnnl_add(a, st, rpd, rb, 2, W->region == DC_REGION_CONST);
        if (ss != DC_OK) {
            dnnl_primitive_desc_destroy(pd);
            return ss;
        }
    }
    dc_dnnl_bind binds[4] = {
        {DNNL_ARG_SRC, a->in_data[0], NULL},
        {DNNL_ARG_WEIGHTS, wmem ? NULL : a->in_data[1], wmem},
        {DNNL_ARG_DST, a->out_data[0], NULL},
        {DNNL_ARG_BIAS, B ? a->in_data[2] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, B ? 4 : 3, false);
}

DC_DNNL_KERNEL(dc_kernel_dnnl_Conv, "dnnl.Conv", "Conv", conv_build)
