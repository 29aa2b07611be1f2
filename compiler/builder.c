#include "builder.h"

#include <math.h>
#include <string.h>

#include "infer_shapes.h"
#include "op_registry.h"

/* Records the first failure; later calls see it and do nothing. */
static void *fail(dc_graph *g, dc_status s)
{
    if (g->build_status == DC_OK)
        g->build_status = s;
    return NULL;
}

dc_status dc_build_status(const dc_graph *g)
{
    return (dc_status)g->build_status;
}

static bool usable(dc_graph *g, dc_value *const *values, int n)
{
    if (g->build_status != DC_OK)
        return false;
    for (int i = 0; i < n; i++)
        if (!values[i]) {
            fail(g, dc_error(DC_ERR_INVALID, "builder: input %d is NULL", i));
            return false;
        }
    return true;
}

dc_value *dc_input(dc_graph *g, const char *name, dc_dtype dtype, int rank, const int64_t *dims)
{
    if (g->build_status != DC_OK)
        return NULL;
    dc_type t = dc_type_make(dtype, rank, dims);
    dc_value *v;
    dc_status s = dc_graph_add_input(g, name, &t, &v);
    return s == DC_OK ? v : fail(g, s);
}

dc_value *dc_param(dc_graph *g, const char *name, dc_tensor *t)
{
    if (g->build_status != DC_OK) {
        dc_tensor_destroy(t);
        return NULL;
    }
    dc_value *v;
    dc_status s = dc_graph_add_initializer(g, name, t, &v);
    return s == DC_OK ? v : fail(g, s);
}

dc_value *dc_state(dc_graph *g, const char *name, dc_tensor *t)
{
    dc_value *v = dc_param(g, name, t);
    if (v)
        v->is_state = true;
    return v;
}

dc_value *dc_param_f32(dc_graph *g, const char *name, int rank, const int64_t *dims, float fill)
{
    if (g->build_status != DC_OK)
        return NULL;
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, name, DC_F32, rank, dims);
    if (s != DC_OK)
        return fail(g, dc_error_context(s, "parameter '%s'", name));
    float *p = t->data;
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++)
        p[i] = fill;
    return dc_param(g, name, t);
}

dc_value *dc_scalar_f32(dc_graph *g, float v) { return dc_scalar(g, DC_F32, v); }

dc_value *dc_const_i64(dc_graph *g, const int64_t *v, int n)
{
    if (g->build_status != DC_OK)
        return NULL;
    int64_t dims[] = {n};
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, NULL, DC_I64, 1, dims);
    if (s != DC_OK)
        return fail(g, s);
    if (n > 0)
        memcpy(t->data, v, (size_t)n * sizeof *v);
    return dc_param(g, dc_graph_unique_name(g, "const"), t);
}

dc_value *dc_scalar(dc_graph *g, dc_dtype dtype, double v)
{
    if (g->build_status != DC_OK)
        return NULL;
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, NULL, dtype, 0, NULL);
    if (s != DC_OK)
        return fail(g, s);
    void *p = t->data;
    switch (dtype) {
    case DC_F32: *(float *)p = (float)v; break;
    case DC_F64: *(double *)p = v; break;
    case DC_F16: *(uint16_t *)p = dc_f32_to_f16((float)v); break;
    case DC_BF16: *(uint16_t *)p = dc_f32_to_bf16((float)v); break;
    case DC_I64: *(int64_t *)p = (int64_t)v; break;
    case DC_I32: *(int32_t *)p = (int32_t)v; break;
    default:
        dc_tensor_destroy(t);
        return fail(g, dc_error(DC_ERR_UNSUPPORTED, "builder: scalar of type %s",
                                dc_dtype_name(dtype)));
    }
    return dc_param(g, dc_graph_unique_name(g, "const"), t);
}

dc_status dc_output(dc_graph *g, dc_value *v)
{
    if (g->build_status != DC_OK)
        return (dc_status)g->build_status;
    dc_status s = v ? dc_graph_add_output(g, v) : dc_error(DC_ERR_INVALID, "builder: output is NULL");
    if (s != DC_OK)
        fail(g, s);
    return s;
}

dc_node *dc_node_begin(dc_graph *g, const char *op_type, const char *domain,
                       dc_value *const *inputs, int n_inputs, int n_outputs)
{
    /* Optional inputs may be NULL, so only check the graph's state here. */
    if (g->build_status != DC_OK)
        return NULL;
    dc_node *n;
    dc_status s = dc_graph_add_node(g, op_type, domain, NULL, inputs, n_inputs, NULL, n_outputs, &n);
    return s == DC_OK ? n : fail(g, s);
}

dc_value *dc_node_finish(dc_graph *g, dc_node *node)
{
    if (!node || g->build_status != DC_OK)
        return NULL;
    dc_status s = dc_infer_node(g, node);
    return s == DC_OK ? node->outputs[0] : fail(g, s);
}

/* Sets an attribute on a node under construction, recording failures. */
#define SET(g, node, call)                   \
    do {                                     \
        if (node) {                          \
            dc_status set_s_ = (call);       \
            if (set_s_ != DC_OK)             \
                return fail(g, set_s_);      \
        }                                    \
    } while (0)

dc_value *dc_unary(dc_graph *g, const char *op_type, dc_value *x)
{
    if (!usable(g, &x, 1))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, op_type, "", &x, 1, 1));
}

dc_value *dc_binary(dc_graph *g, const char *op_type, dc_value *a, dc_value *b)
{
    dc_value *in[] = {a, b};
    if (!usable(g, in, 2))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, op_type, "", in, 2, 1));
}

dc_value *dc_add(dc_graph *g, dc_value *a, dc_value *b) { return dc_binary(g, "Add", a, b); }
dc_value *dc_sub(dc_graph *g, dc_value *a, dc_value *b) { return dc_binary(g, "Sub", a, b); }
dc_value *dc_mul(dc_graph *g, dc_value *a, dc_value *b) { return dc_binary(g, "Mul", a, b); }
dc_value *dc_div(dc_graph *g, dc_value *a, dc_value *b) { return dc_binary(g, "Div", a, b); }
dc_value *dc_matmul(dc_graph *g, dc_value *a, dc_value *b) { return dc_binary(g, "MatMul", a, b); }

dc_value *dc_linear(dc_graph *g, dc_value *x, dc_value *w, dc_value *b)
{
    if (!usable(g, &w, 1))
        return NULL;
    int64_t perm[] = {1, 0};
    dc_value *y = dc_matmul(g, x, dc_transpose(g, w, perm, 2));
    return b ? dc_add(g, y, b) : y;
}

static dc_value *axis_op(dc_graph *g, const char *op_type, dc_value *x, int64_t axis)
{
    if (!usable(g, &x, 1))
        return NULL;
    dc_node *n = dc_node_begin(g, op_type, "", &x, 1, 1);
    SET(g, n, dc_node_set_int(n, g, "axis", axis));
    return dc_node_finish(g, n);
}

dc_value *dc_softmax(dc_graph *g, dc_value *x, int64_t axis) { return axis_op(g, "Softmax", x, axis); }

dc_value *dc_log_softmax(dc_graph *g, dc_value *x, int64_t axis)
{
    return axis_op(g, "LogSoftmax", x, axis);
}

dc_value *dc_layer_norm(dc_graph *g, dc_value *x, dc_value *scale, dc_value *bias, int64_t axis,
                        float epsilon)
{
    dc_value *in[] = {x, scale, bias};
    if (!usable(g, in, bias ? 3 : 2))
        return NULL;
    dc_node *n = dc_node_begin(g, "LayerNormalization", "", in, bias ? 3 : 2, 1);
    SET(g, n, dc_node_set_int(n, g, "axis", axis));
    SET(g, n, dc_node_set_float(n, g, "epsilon", epsilon));
    return dc_node_finish(g, n);
}

dc_value *dc_gelu(dc_graph *g, dc_value *x)
{
    if (!usable(g, &x, 1))
        return NULL;
    dc_dtype t = x->type.dtype;
    dc_value *inner = dc_unary(g, "Erf", dc_div(g, x, dc_scalar(g, t, M_SQRT2)));
    dc_value *one_plus = dc_add(g, inner, dc_scalar(g, t, 1.0));
    return dc_mul(g, dc_mul(g, x, one_plus), dc_scalar(g, t, 0.5));
}

dc_value *dc_reduce(dc_graph *g, const char *op_type, dc_value *x, const int64_t *axes, int n_axes,
                    bool keepdims)
{
    if (!usable(g, &x, 1))
        return NULL;
    /* ReduceSum takes axes as an input from opset 13; the others as an attribute until 18. */
    bool axes_input = strcmp(op_type, "ReduceSum") == 0;
    dc_value *in[] = {x, axes_input && n_axes ? dc_const_i64(g, axes, n_axes) : NULL};
    dc_node *n = dc_node_begin(g, op_type, "", in, in[1] ? 2 : 1, 1);
    if (!axes_input && n_axes)
        SET(g, n, dc_node_set_ints(n, g, "axes", axes, n_axes));
    SET(g, n, dc_node_set_int(n, g, "keepdims", keepdims));
    return dc_node_finish(g, n);
}

dc_value *dc_transpose(dc_graph *g, dc_value *x, const int64_t *perm, int rank)
{
    if (!usable(g, &x, 1))
        return NULL;
    dc_node *n = dc_node_begin(g, "Transpose", "", &x, 1, 1);
    SET(g, n, dc_node_set_ints(n, g, "perm", perm, rank));
    return dc_node_finish(g, n);
}

dc_value *dc_reshape(dc_graph *g, dc_value *x, const int64_t *shape, int rank)
{
    dc_value *in[] = {x, dc_const_i64(g, shape, rank)};
    if (!usable(g, in, 2))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, "Reshape", "", in, 2, 1));
}

dc_value *dc_concat(dc_graph *g, dc_value *const *xs, int n, int64_t axis)
{
    if (!usable(g, xs, n))
        return NULL;
    dc_node *node = dc_node_begin(g, "Concat", "", xs, n, 1);
    SET(g, node, dc_node_set_int(node, g, "axis", axis));
    return dc_node_finish(g, node);
}

dc_value *dc_gather(dc_graph *g, dc_value *x, dc_value *indices, int64_t axis)
{
    dc_value *in[] = {x, indices};
    if (!usable(g, in, 2))
        return NULL;
    dc_node *n = dc_node_begin(g, "Gather", "", in, 2, 1);
    SET(g, n, dc_node_set_int(n, g, "axis", axis));
    return dc_node_finish(g, n);
}

dc_value *dc_slice(dc_graph *g, dc_value *x, int64_t axis, int64_t start, int64_t end)
{
    dc_value *in[] = {x, dc_const_i64(g, &start, 1), dc_const_i64(g, &end, 1),
                      dc_const_i64(g, &axis, 1)};
    if (!usable(g, in, 4))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, "Slice", "", in, 4, 1));
}

dc_value *dc_unsqueeze(dc_graph *g, dc_value *x, const int64_t *axes, int n_axes)
{
    dc_value *in[] = {x, dc_const_i64(g, axes, n_axes)};
    if (!usable(g, in, 2))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, "Unsqueeze", "", in, 2, 1));
}

dc_value *dc_cast(dc_graph *g, dc_value *x, dc_dtype to)
{
    if (!usable(g, &x, 1))
        return NULL;
    dc_node *n = dc_node_begin(g, "Cast", "", &x, 1, 1);
    SET(g, n, dc_node_set_int(n, g, "to", to));
    return dc_node_finish(g, n);
}

dc_value *dc_where(dc_graph *g, dc_value *cond, dc_value *a, dc_value *b)
{
    dc_value *in[] = {cond, a, b};
    if (!usable(g, in, 3))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, "Where", "", in, 3, 1));
}

dc_value *dc_expand(dc_graph *g, dc_value *x, const int64_t *shape, int rank)
{
    dc_value *in[] = {x, dc_const_i64(g, shape, rank)};
    if (!usable(g, in, 2))
        return NULL;
    return dc_node_finish(g, dc_node_begin(g, "Expand", "", in, 2, 1));
}

dc_value *dc_conv(dc_graph *g, dc_value *x, dc_value *w, dc_value *b, const int64_t *strides,
                  const int64_t *pads, int spatial)
{
    dc_value *in[] = {x, w, b};
    if (!usable(g, in, b ? 3 : 2))
        return NULL;
    dc_node *n = dc_node_begin(g, "Conv", "", in, b ? 3 : 2, 1);
    SET(g, n, dc_node_set_ints(n, g, "strides", strides, spatial));
    SET(g, n, dc_node_set_ints(n, g, "pads", pads, 2 * spatial));
    return dc_node_finish(g, n);
}
