/* The builder API for declaring graphs in C: `y = dc_matmul(g, x, w)`.
 *
 * Every call adds a node, infers its output type at once (so shape errors
 * surface at the line that made them) and returns the output value. On the
 * first failure the graph remembers the error and every later builder call
 * returns NULL without adding anything; check dc_build_status(g) once at the
 * end, whose message names the failing node. */
#ifndef DC_BUILDER_H
#define DC_BUILDER_H

#include "ir.h"

dc_status dc_build_status(const dc_graph *g);

/* ---- leaves ---------------------------------------------------------------- */
dc_value *dc_input(dc_graph *g, const char *name, dc_dtype dtype, int rank, const int64_t *dims);
/* An initializer (parameter, buffer); the graph takes `t`. */
dc_value *dc_param(dc_graph *g, const char *name, dc_tensor *t);
/* Training state (parameters, moments, counters): an initializer holding the
 * starting value, marked so that no pass treats it as a constant. Give it a
 * next value with dc_graph_add_state_update. The graph takes `t`. */
dc_value *dc_state(dc_graph *g, const char *name, dc_tensor *t);
/* A fresh initializer of the given shape filled with `fill` (f32). */
dc_value *dc_param_f32(dc_graph *g, const char *name, int rank, const int64_t *dims, float fill);
/* Small constants, as initializers with fresh names. */
dc_value *dc_scalar_f32(dc_graph *g, float v);
dc_value *dc_const_i64(dc_graph *g, const int64_t *v, int n);
/* A scalar of any numeric element type holding `v` (rounded to the type). */
dc_value *dc_scalar(dc_graph *g, dc_dtype dtype, double v);
dc_status dc_output(dc_graph *g, dc_value *v);

/* ---- generic node construction -------------------------------------------- */
/* Starts a node (NULL on a previous error); set attributes with dc_node_set_*,
 * then dc_node_finish infers its types. */
dc_node *dc_node_begin(dc_graph *g, const char *op_type, const char *domain,
                       dc_value *const *inputs, int n_inputs, int n_outputs);
/* Infers the node's outputs and returns output 0 (NULL on error). */
dc_value *dc_node_finish(dc_graph *g, dc_node *node);

/* ---- ops ------------------------------------------------------------------- */
dc_value *dc_unary(dc_graph *g, const char *op_type, dc_value *x);
dc_value *dc_binary(dc_graph *g, const char *op_type, dc_value *a, dc_value *b);
dc_value *dc_add(dc_graph *g, dc_value *a, dc_value *b);
dc_value *dc_sub(dc_graph *g, dc_value *a, dc_value *b);
dc_value *dc_mul(dc_graph *g, dc_value *a, dc_value *b);
dc_value *dc_div(dc_graph *g, dc_value *a, dc_value *b);
dc_value *dc_matmul(dc_graph *g, dc_value *a, dc_value *b);
/* x·Wᵀ + b for x [..., in], w [out, in] (torch Linear layout), b [out] or NULL. */
dc_value *dc_linear(dc_graph *g, dc_value *x, dc_value *w, dc_value *b);
dc_value *dc_softmax(dc_graph *g, dc_value *x, int64_t axis);
dc_value *dc_log_softmax(dc_graph *g, dc_value *x, int64_t axis);
dc_value *dc_layer_norm(dc_graph *g, dc_value *x, dc_value *scale, dc_value *bias, int64_t axis,
                        float epsilon);
/* GELU, exact (erf) form: 0.5·x·(1 + erf(x/√2)), as torch exports it at opset 17. */
dc_value *dc_gelu(dc_graph *g, dc_value *x);
dc_value *dc_reduce(dc_graph *g, const char *op_type, dc_value *x, const int64_t *axes, int n_axes,
                    bool keepdims);
dc_value *dc_transpose(dc_graph *g, dc_value *x, const int64_t *perm, int rank);
dc_value *dc_reshape(dc_graph *g, dc_value *x, const int64_t *shape, int rank);
dc_value *dc_concat(dc_graph *g, dc_value *const *xs, int n, int64_t axis);
dc_value *dc_gather(dc_graph *g, dc_value *x, dc_value *indices, int64_t axis);
dc_value *dc_slice(dc_graph *g, dc_value *x, int64_t axis, int64_t start, int64_t end);
dc_value *dc_unsqueeze(dc_graph *g, dc_value *x, const int64_t *axes, int n_axes);
dc_value *dc_cast(dc_graph *g, dc_value *x, dc_dtype to);
dc_value *dc_where(dc_graph *g, dc_value *cond, dc_value *a, dc_value *b);
/* Broadcasts x to `shape` (ONNX Expand). */
dc_value *dc_expand(dc_graph *g, dc_value *x, const int64_t *shape, int rank);
dc_value *dc_conv(dc_graph *g, dc_value *x, dc_value *w, dc_value *b, const int64_t *strides,
                  const int64_t *pads, int spatial);

#endif
