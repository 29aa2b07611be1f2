/* Reference kernels: one plain C implementation of every registry op, with
 * ONNX semantics per the node's opset, for every element type the op allows.
 * They are the oracle of the tests, of dc_interpret and of constant folding;
 * never the fast path. Floats are computed in double and rounded to the output
 * type once; integers are computed exactly (wrapping like two's complement);
 * f16/bf16 go through float.
 *
 * Each kernel has the dc_reference_fn signature (op_registry.h) and lives in
 * the file of this folder that mirrors its schema's file in compiler/ops/. */
#ifndef DC_REFERENCE_H
#define DC_REFERENCE_H

#include "op_registry.h"

#define DC_REF(sym)                                                                      \
    dc_status dc_ref_##sym(const dc_node *node, int64_t opset, dc_tensor *const *inputs, \
                           dc_tensor **outputs);

/* identity.c */
DC_REF(Identity)
/* elementwise.c */
DC_REF(Add) DC_REF(Sub) DC_REF(Mul) DC_REF(Div) DC_REF(Pow)
DC_REF(Sqrt) DC_REF(Reciprocal) DC_REF(Exp) DC_REF(Log) DC_REF(Neg) DC_REF(Abs)
DC_REF(Erf) DC_REF(Tanh) DC_REF(Sigmoid) DC_REF(Relu)
DC_REF(Where) DC_REF(Equal)
/* matmul.c */
DC_REF(MatMul) DC_REF(Gemm)
/* conv.c */
DC_REF(Conv)
/* normalization.c */
DC_REF(Softmax) DC_REF(LogSoftmax) DC_REF(LayerNormalization)
/* reduce.c */
DC_REF(ReduceMean) DC_REF(ReduceSum) DC_REF(ReduceMax) DC_REF(ReduceMin)
DC_REF(ArgMax) DC_REF(ArgMin)
/* shape_ops.c */
DC_REF(Reshape) DC_REF(Flatten) DC_REF(Transpose) DC_REF(Squeeze) DC_REF(Unsqueeze)
DC_REF(Expand) DC_REF(Shape) DC_REF(Size)
/* slice_ops.c */
DC_REF(Concat) DC_REF(Split) DC_REF(Slice) DC_REF(Gather)
/* constant.c */
DC_REF(Constant) DC_REF(ConstantOfShape) DC_REF(Cast) DC_REF(Dropout)
/* resize.c */
DC_REF(Resize) DC_REF(ResizeGrad)
/* scatter.c, conv_grad.c (ai.dinoc gradient ops) */
DC_REF(ScatterAdd) DC_REF(ConvGradInput) DC_REF(ConvGradWeight)
/* fused.c (ai.dinoc ops the fusion pass forms) */
DC_REF(FusedElementwise) DC_REF(MatMulBias) DC_REF(AdamWGroup)
/* cross_entropy.c, gelu.c, attention.c (ai.dinoc fused ops) */
DC_REF(CrossEntropySoft) DC_REF(Gelu) DC_REF(GeluGrad) DC_REF(Attention) DC_REF(AttentionGrad) DC_REF(LayerNormGrad)

#undef DC_REF

#endif
