/* Helpers shared by the gradient rules of compiler/gradients/. Every rule
 * builds its backward nodes with the builder API (compiler/builder.h), so a
 * shape error inside a rule surfaces as the builder's sticky error. */
#ifndef DC_GRAD_UTIL_H
#define DC_GRAD_UTIL_H

#include "builder.h"
#include "op_registry.h"

/* The static dims of v into dims[]; returns the rank. */
int dg_dims(const dc_value *v, int64_t dims[DC_MAX_RANK]);
/* Sums dy over the axes along which `target` was broadcast to dy's shape
 * (numpy rules), giving a value shaped like `target`. */
dc_value *dg_unbroadcast(dc_graph *g, dc_value *dy, const dc_value *target);
/* A scalar of v's element type. */
dc_value *dg_scalar_like(dc_graph *g, const dc_value *v, double x);
/* dy reshaped to v's shape (for view ops). */
dc_value *dg_reshape_like(dc_graph *g, dc_value *dy, const dc_value *v);
/* ReduceSum over `axes` keeping dims. */
dc_value *dg_sum_keep(dc_graph *g, dc_value *x, const int64_t *axes, int n_axes);

/* The rules, one per differentiable op (registered in the schemas). */
#define DG_RULE(name)                                                                       \
    dc_status dc_grad_##name(dc_graph *g, const dc_node *node, dc_value *const *dy,         \
                             const bool *needs, dc_value **dx)
DG_RULE(Add); DG_RULE(Sub); DG_RULE(Mul); DG_RULE(Div); DG_RULE(Pow);
DG_RULE(Neg); DG_RULE(Exp); DG_RULE(Log); DG_RULE(Sqrt); DG_RULE(Reciprocal);
DG_RULE(Tanh); DG_RULE(Sigmoid); DG_RULE(Relu); DG_RULE(Abs); DG_RULE(Erf);
DG_RULE(Where); DG_RULE(Cast);
DG_RULE(MatMul); DG_RULE(Gemm); DG_RULE(Conv); DG_RULE(MatMulBias);
DG_RULE(View); DG_RULE(Transpose); DG_RULE(Concat); DG_RULE(Split); DG_RULE(Slice);
DG_RULE(Gather); DG_RULE(Expand);
DG_RULE(ReduceSum); DG_RULE(ReduceMean); DG_RULE(ReduceExtreme);
DG_RULE(Softmax); DG_RULE(LogSoftmax); DG_RULE(LayerNormalization);
DG_RULE(ScatterAdd); DG_RULE(Resize); DG_RULE(Dropout);
DG_RULE(CrossEntropySoft); DG_RULE(Gelu); DG_RULE(Attention);
/* Conv in general (strides, pads, dilations, groups, any rank) through the
 * ai.dinoc ConvGradInput/ConvGradWeight ops; DG_RULE(Conv) takes the matmul
 * form for the patch embedding and this otherwise. */
DG_RULE(ConvGeneral);

/* Starts an ai.dinoc node (importing the domain into the graph if needed);
 * finish it with dc_node_finish. NULL after an earlier builder error. */
dc_node *dg_dinoc_node(dc_graph *g, const char *op_type, dc_value *const *inputs, int n_inputs,
                       int n_outputs);

#endif
