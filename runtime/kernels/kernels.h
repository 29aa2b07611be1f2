/* Every runtime kernel, one line each: DC_KERNEL(symbol), where a file in
 * runtime/kernels/ defines `const dc_kernel symbol = {...}`.
 *
 * To add kernels, add their lines to the list of their backend below (one
 * list per backend, so engineers of different backends do not edit the same
 * lines). Symbols are named dc_kernel_<backend>_<OpType>, e.g.
 * dc_kernel_dnnl_MatMul for "dnnl.MatMul". Order inside a list does not
 * matter: dc_kernel_candidates() ranks by backend (dnnl, then llvm, then c). */
#ifndef DC_KERNELS_H
#define DC_KERNELS_H

/* oneDNN primitives (runtime/kernels/dnnl_*.c). */
#define DC_KERNELS_DNNL                          \
    DC_KERNEL(dc_kernel_dnnl_MatMul)             \
    DC_KERNEL(dc_kernel_dnnl_Gemm)               \
    DC_KERNEL(dc_kernel_dnnl_MatMulBias)         \
    DC_KERNEL(dc_kernel_dnnl_Conv)               \
    DC_KERNEL(dc_kernel_dnnl_ConvGradInput)      \
    DC_KERNEL(dc_kernel_dnnl_ConvGradWeight)     \
    DC_KERNEL(dc_kernel_dnnl_LayerNormalization) \
    DC_KERNEL(dc_kernel_dnnl_Softmax)            \
    DC_KERNEL(dc_kernel_dnnl_LogSoftmax)         \
    DC_KERNEL(dc_kernel_dnnl_Relu)               \
    DC_KERNEL(dc_kernel_dnnl_Tanh)               \
    DC_KERNEL(dc_kernel_dnnl_Sigmoid)            \
    DC_KERNEL(dc_kernel_dnnl_Exp)                \
    DC_KERNEL(dc_kernel_dnnl_Log)                \
    DC_KERNEL(dc_kernel_dnnl_Sqrt)               \
    DC_KERNEL(dc_kernel_dnnl_Abs)                \
    DC_KERNEL(dc_kernel_dnnl_Neg)                \
    DC_KERNEL(dc_kernel_dnnl_Reciprocal)         \
    DC_KERNEL(dc_kernel_dnnl_Add)                \
    DC_KERNEL(dc_kernel_dnnl_Sub)                \
    DC_KERNEL(dc_kernel_dnnl_Mul)                \
    DC_KERNEL(dc_kernel_dnnl_Div)                \
    DC_KERNEL(dc_kernel_dnnl_ReduceSum)          \
    DC_KERNEL(dc_kernel_dnnl_ReduceMean)         \
    DC_KERNEL(dc_kernel_dnnl_ReduceMax)          \
    DC_KERNEL(dc_kernel_dnnl_ReduceMin)          \
    DC_KERNEL(dc_kernel_dnnl_Gelu)

/* dinoc's own C kernels (runtime/kernels/c_*.c): every op, every type it allows. */
#define DC_KERNELS_C                          \
    DC_KERNEL(dc_kernel_c_AdamW)              \
    DC_KERNEL(dc_kernel_c_AdamWGroup)         \
    DC_KERNEL(dc_kernel_c_EMA)                \
    DC_KERNEL(dc_kernel_c_MatMul)             \
    DC_KERNEL(dc_kernel_c_Gemm)               \
    DC_KERNEL(dc_kernel_c_Conv)               \
    DC_KERNEL(dc_kernel_c_ConvGradInput)      \
    DC_KERNEL(dc_kernel_c_ConvGradWeight)     \
    DC_KERNEL(dc_kernel_c_ScatterAdd)         \
    DC_KERNEL(dc_kernel_c_ResizeGrad)         \
    DC_KERNEL(dc_kernel_c_Add)                \
    DC_KERNEL(dc_kernel_c_Sub)                \
    DC_KERNEL(dc_kernel_c_Mul)                \
    DC_KERNEL(dc_kernel_c_Div)                \
    DC_KERNEL(dc_kernel_c_Pow)                \
    DC_KERNEL(dc_kernel_c_Equal)              \
    DC_KERNEL(dc_kernel_c_Where)              \
    DC_KERNEL(dc_kernel_c_Sqrt)               \
    DC_KERNEL(dc_kernel_c_Reciprocal)         \
    DC_KERNEL(dc_kernel_c_Exp)                \
    DC_KERNEL(dc_kernel_c_Log)                \
    DC_KERNEL(dc_kernel_c_Neg)                \
    DC_KERNEL(dc_kernel_c_Abs)                \
    DC_KERNEL(dc_kernel_c_Erf)                \
    DC_KERNEL(dc_kernel_c_Tanh)               \
    DC_KERNEL(dc_kernel_c_Sigmoid)            \
    DC_KERNEL(dc_kernel_c_Relu)               \
    DC_KERNEL(dc_kernel_c_Softmax)            \
    DC_KERNEL(dc_kernel_c_LogSoftmax)         \
    DC_KERNEL(dc_kernel_c_LayerNormalization) \
    DC_KERNEL(dc_kernel_c_ReduceMean)         \
    DC_KERNEL(dc_kernel_c_ReduceSum)          \
    DC_KERNEL(dc_kernel_c_ReduceMax)          \
    DC_KERNEL(dc_kernel_c_ReduceMin)          \
    DC_KERNEL(dc_kernel_c_ArgMax)             \
    DC_KERNEL(dc_kernel_c_ArgMin)             \
    DC_KERNEL(dc_kernel_c_Transpose)          \
    DC_KERNEL(dc_kernel_c_Concat)             \
    DC_KERNEL(dc_kernel_c_Split)              \
    DC_KERNEL(dc_kernel_c_Slice)              \
    DC_KERNEL(dc_kernel_c_Gather)             \
    DC_KERNEL(dc_kernel_c_Expand)             \
    DC_KERNEL(dc_kernel_c_Cast)               \
    DC_KERNEL(dc_kernel_c_Identity)           \
    DC_KERNEL(dc_kernel_c_Reshape)            \
    DC_KERNEL(dc_kernel_c_Flatten)            \
    DC_KERNEL(dc_kernel_c_Squeeze)            \
    DC_KERNEL(dc_kernel_c_Unsqueeze)          \
    DC_KERNEL(dc_kernel_c_Dropout)            \
    DC_KERNEL(dc_kernel_c_Resize)             \
    DC_KERNEL(dc_kernel_c_Shape)              \
    DC_KERNEL(dc_kernel_c_Size)               \
    DC_KERNEL(dc_kernel_c_Constant)           \
    DC_KERNEL(dc_kernel_c_ConstantOfShape)    \
    DC_KERNEL(dc_kernel_c_FusedElementwise)   \
    DC_KERNEL(dc_kernel_c_MatMulBias)         \
    DC_KERNEL(dc_kernel_c_CrossEntropySoft)   \
    DC_KERNEL(dc_kernel_c_Gelu)               \
    DC_KERNEL(dc_kernel_c_GeluGrad)           \
    DC_KERNEL(dc_kernel_c_Attention)          \
    DC_KERNEL(dc_kernel_c_AttentionGrad)      \
    DC_KERNEL(dc_kernel_c_LayerNormGrad)

/* Collectives over the processes of a data-parallel run (runtime/kernels/mpi_*.c). */
#define DC_KERNELS_MPI                        \
    DC_KERNEL(dc_kernel_mpi_AllReduce)        \
    DC_KERNEL(dc_kernel_mpi_AllReduceStart)   \
    DC_KERNEL(dc_kernel_mpi_AllReduceWait)    \
    DC_KERNEL(dc_kernel_mpi_AllGather)

#define DC_KERNELS DC_KERNELS_DNNL DC_KERNELS_C DC_KERNELS_MPI

#endif
