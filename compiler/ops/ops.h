/* Every op schema of the registry, one DC_OP line each (X-macro). A family of
 * ops lives in one file of this folder and defines `const dc_op_schema dc_op_<sym>`. */
#ifndef DC_OPS_H
#define DC_OPS_H

#include "op_registry.h"

#define DC_ALL_OPS                                                                 \
    /* identity.c */                                                               \
    DC_OP(Identity)                                                                \
    /* elementwise.c */                                                            \
    DC_OP(Add) DC_OP(Sub) DC_OP(Mul) DC_OP(Div) DC_OP(Pow)                         \
    DC_OP(Sqrt) DC_OP(Reciprocal) DC_OP(Exp) DC_OP(Log) DC_OP(Neg) DC_OP(Abs)      \
    DC_OP(Erf) DC_OP(Tanh) DC_OP(Sigmoid) DC_OP(Relu)                              \
    DC_OP(Where) DC_OP(Equal)                                                      \
    /* matmul.c */                                                                 \
    DC_OP(MatMul) DC_OP(Gemm)                                                      \
    /* conv.c */                                                                   \
    DC_OP(Conv)                                                                    \
    /* normalization.c */                                                          \
    DC_OP(Softmax) DC_OP(LogSoftmax) DC_OP(LayerNormalization)                     \
    /* reduce.c */                                                                 \
    DC_OP(ReduceMean) DC_OP(ReduceSum) DC_OP(ReduceMax) DC_OP(ReduceMin)           \
    DC_OP(ArgMax) DC_OP(ArgMin)                                                    \
    /* shape_ops.c */                                                              \
    DC_OP(Reshape) DC_OP(Flatten) DC_OP(Transpose) DC_OP(Squeeze) DC_OP(Unsqueeze) \
    DC_OP(Expand) DC_OP(Shape) DC_OP(Size)                                         \
    /* slice_ops.c */                                                              \
    DC_OP(Concat) DC_OP(Split) DC_OP(Slice) DC_OP(Gather)                          \
    /* constant.c */                                                               \
    DC_OP(Constant) DC_OP(ConstantOfShape) DC_OP(Cast) DC_OP(Dropout)              \
    /* resize.c */                                                                 \
    DC_OP(Resize)                                                                  \
    /* training.c (domain ai.dinoc) */                                             \
    DC_OP(AdamW) DC_OP(EMA)                                                        \
    /* collective.c (domain ai.dinoc) */                                           \
    DC_OP(AllReduce) DC_OP(AllReduceStart) DC_OP(AllReduceWait) DC_OP(AllGather)  \
    /* gradient ops (domain ai.dinoc): scatter.c, conv_grad.c, resize.c */         \
    DC_OP(ScatterAdd) DC_OP(ConvGradInput) DC_OP(ConvGradWeight) DC_OP(ResizeGrad)  \
    /* fused ops (domain ai.dinoc), formed by passes/fuse/: fused.c */             \
    DC_OP(FusedElementwise) DC_OP(MatMulBias) DC_OP(AdamWGroup)                    \
    /* fused ops with gradient rules (ai.dinoc): cross_entropy.c, gelu.c,         \
       attention.c, layer_norm_grad.c */                                           \
    DC_OP(CrossEntropySoft) DC_OP(Gelu) DC_OP(GeluGrad)                            \
    DC_OP(Attention) DC_OP(AttentionGrad) DC_OP(LayerNormGrad)

#define DC_OP(sym) extern const dc_op_schema dc_op_##sym;
DC_ALL_OPS
#undef DC_OP

#endif
