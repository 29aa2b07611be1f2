/* The range of a convolution's geometry that the conv kernels (c_conv.c,
 * c_conv_grad.c, dnnl_conv.c, dnnl_conv_grad.c) accept. With every spatial
 * size, stride, dilation and pad below 2^31, no size or index they compute
 * ((k - 1) * dil + 1, in + pads - extent, (out - 1) * stride, ...) leaves
 * int64; a plan (an artifact is user input) may carry any int64 there. */
#ifndef DC_CONV_LIMITS_H
#define DC_CONV_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define DC_CONV_MAX_EXTENT ((int64_t)1 << 31)
#define DC_CONV_LIMITS_MESSAGE "spatial sizes, strides, dilations and pads must be below 2^31"

/* One spatial dimension: input size, kernel size, stride, dilation, pads. */
static inline bool dc_conv_within_limits(int64_t in, int64_t k, int64_t stride, int64_t dil,
                                         int64_t pad_begin, int64_t pad_end)
{
    const int64_t v[6] = {in, k, stride, dil, pad_begin, pad_end};
    for (int i = 0; i < 6; i++)
        if (v[i] >= DC_CONV_MAX_EXTENT)
            return false;
    return true;
}

/* *acc *= v; false when the product leaves int64 (an im2col buffer's size). */
static inline bool dc_conv_mul(int64_t *acc, int64_t v)
{
    return !__builtin_mul_overflow(*acc, v, acc);
}

#endif
