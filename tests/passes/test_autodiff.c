/* Autodiff: every gradient rule against central finite differences.
 *
 * Each case builds a float64 graph f(x1..xk) = Σ op(x..) ⊙ R, with R a fixed
 * random tensor so every output element matters, differentiates it with
 * dc_autodiff, evaluates the gradients with the reference interpreter, and
 * compares them with (f(x+h) − f(x−h)) / 2h for every input element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "interpret.h"
#include "test_util.h"

enum { MAX_PARAMS = 4 };

typedef struct fd_case {
    dc_graph *g;
    dc_value *params[MAX_PARAMS]; /* f64 initializers we differentiate */
    int n_params;
    dc_value *loss;
} fd_case;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(double lo, double hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

static dc_tensor *random_f64(int rank, const int64_t *dims, double lo, double hi)
{
    dc_tensor *t;
    if (dc_tensor_create(&t, NULL, DC_F64, rank, dims) != DC_OK)
        return NULL;
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++)
        ((double *)t->data)[i] = uniform(lo, hi);
    return t;
}

static fd_case begin(const char *name)
{
    fd_case c = {.g = dc_graph_create(name)};
    return c;
}

/* A parameter with values in [lo, hi] (positive ranges for Log, Sqrt, ...). */
static dc_value *param(fd_case *c, int rank, const int64_t *dims, double lo, double hi)
{
    char name[16];
    snprintf(name, sizeof name, "p%d", c->n_params);
    dc_value *v = dc_param(c->g, name, random_f64(rank, dims, lo, hi));
    c->params[c->n_params++] = v;
    return v;
}

/* A constant that is not differentiated. */
static dc_value *constant(fd_case *c, int rank, const int64_t *dims)
{
    return dc_param(c->g, dc_graph_unique_name(c->g, "c"), random_f64(rank, dims, -1, 1));
}

/* loss = Σ y ⊙ R over all elements of y. */
static void finish(fd_case *c, dc_value *y)
{
    if (!y)
        fprintf(stderr, "\n    %s: %s\n", c->g->name, dc_error_message());
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < y->type.rank; i++)
        dims[i] = y->type.dims[i].size;
    dc_value *weighted = dc_mul(c->g, y, constant(c, y->type.rank, dims));
    c->loss = dc_reduce(c->g, "ReduceSum", weighted, NULL, 0, false);
    DC_ASSERT_OK(dc_output(c->g, c->loss));
}

static double eval_loss(fd_case *c)
{
    dc_tensor *out[1] = {NULL};
    dc_status s = dc_interpret(c->g, NULL, 0, out);
    double v = s == DC_OK ? dc_tensor_get_f64(out[0], 0) : NAN;
    if (s != DC_OK)
        fprintf(stderr, "\n    interpret: %s\n", dc_error_message());
    dc_tensor_destroy(out[0]);
    return v;
}

/* Differentiates, evaluates the gradients, and checks them against central
 * differences. The gradients are extra graph outputs after the loss. */
static void check_gradients(fd_case *c)
{
    dc_graph *g = c->g;
    DC_ASSERT_OK(dc_build_status(g));
    /* Finite differences first, on the forward graph alone. */
    double *fd[MAX_PARAMS];
    for (int p = 0; p < c->n_params; p++) {
        dc_tensor *t = c->params[p]->constant;
        double *x = t->data, h = 1e-6;
        fd[p] = calloc(dc_tensor_numel(t), sizeof(double));
        for (uint64_t i = 0; i < dc_tensor_numel(t); i++) {
            double saved = x[i];
            x[i] = saved + h;
            double up = eval_loss(c);
            x[i] = saved - h;
            double down = eval_loss(c);
            x[i] = saved;
            fd[p][i] = (up - down) / (2 * h);
        }
    }
    dc_value *grads[MAX_PARAMS];
    dc_status s = dc_autodiff(g, c->loss, c->params, c->n_params, grads);
    DC_ASSERT_OK(s);
    if (s != DC_OK)
        goto done;
    for (int p = 0; p < c->n_params; p++)
        DC_ASSERT_OK(dc_output(g, grads[p]));
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_tensor *out[1 + MAX_PARAMS] = {NULL};
    DC_ASSERT_OK(dc_interpret(g, NULL, 0, out));
    for (int p = 0; p < c->n_params && out[1 + p]; p++) {
        dc_tensor *got = out[1 + p];
        CU_ASSERT_EQUAL(dc_tensor_numel(got), dc_tensor_numel(c->params[p]->constant));
        double worst = 0;
        uint64_t worst_at = 0;
        for (uint64_t i = 0; i < dc_tensor_numel(got); i++) {
            double a = dc_tensor_get_f64(got, i), b = fd[p][i];
            /* Central differences in f64 are good to about 1e-9 absolute. */
            double err = fabs(a - b) / (1e-7 + 1e-5 * fabs(b)) * 1e-5;
            if (!(err <= worst)) {
                worst = err;
                worst_at = i;
            }
        }
        if (!(worst < 1e-5))
            fprintf(stderr, "\n    %s: d/d%s[%llu]: autodiff %.9g, finite difference %.9g\n",
                    g->name, c->params[p]->name, (unsigned long long)worst_at,
                    dc_tensor_get_f64(got, worst_at), fd[p][worst_at]);
        CU_ASSERT(worst < 1e-5);
    }
    for (int i = 0; i < 1 + c->n_params; i++)
        dc_tensor_destroy(out[i]);
done:
    for (int p = 0; p < c->n_params; p++)
        free(fd[p]);
    dc_graph_destroy(g);
}

/* ---- the cases ------------------------------------------------------------- */

static const int64_t m23[] = {2, 3}, v3[] = {3}, t214[] = {2, 1, 4}, m31[] = {3, 1};

static void test_binary_broadcasting(void)
{
    const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    for (int i = 0; i < 4; i++) {
        fd_case c = begin(ops[i]);
        dc_value *a = param(&c, 2, m23, 0.5, 2), *b = param(&c, 1, v3, 0.5, 2);
        finish(&c, dc_binary(c.g, ops[i], a, b));
        check_gradients(&c);
        c = begin(ops[i]); /* both sides broadcast: [2,1,4] op [3,1] -> [2,3,4] */
        a = param(&c, 3, t214, 0.5, 2);
        b = param(&c, 2, m31, 0.5, 2);
        finish(&c, dc_binary(c.g, ops[i], a, b));
        check_gradients(&c);
    }
    fd_case c = begin("Pow");
    dc_value *a = param(&c, 2, m23, 0.5, 2), *b = param(&c, 1, v3, -1, 2);
    finish(&c, dc_binary(c.g, "Pow", a, b));
    check_gradients(&c);
}

static void test_unary(void)
{
    const struct {
        const char *op;
        double lo, hi;
    } ops[] = {{"Neg", -1, 1}, {"Exp", -1, 1}, {"Log", 0.5, 2}, {"Sqrt", 0.5, 2},
               {"Reciprocal", 0.5, 2}, {"Tanh", -1, 1}, {"Sigmoid", -2, 2}, {"Relu", -1, 1},
               {"Abs", -1, 1}, {"Erf", -1.5, 1.5}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        fd_case c = begin(ops[i].op);
        finish(&c, dc_unary(c.g, ops[i].op, param(&c, 2, m23, ops[i].lo, ops[i].hi)));
        check_gradients(&c);
    }
}

static void test_where_and_gelu(void)
{
    fd_case c = begin("Where");
    dc_value *a = param(&c, 2, m23, -1, 1), *b = param(&c, 1, v3, -1, 1);
    dc_value *cond = dc_binary(c.g, "Equal", constant(&c, 1, v3), constant(&c, 1, v3));
    finish(&c, dc_where(c.g, cond, a, b));
    check_gradients(&c);
    c = begin("Gelu");
    finish(&c, dc_gelu(c.g, param(&c, 2, m23, -2, 2)));
    check_gradients(&c);
}

static void test_matmul_and_gemm(void)
{
    const int64_t a3[] = {2, 3, 4}, b2[] = {4, 5}, a1[] = {4}, a4[] = {2, 1, 3, 4}, b3[] = {3, 4, 2};
    fd_case c = begin("MatMul_batched");
    dc_value *a = param(&c, 3, a3, -1, 1), *b = param(&c, 2, b2, -1, 1);
    finish(&c, dc_matmul(c.g, a, b));
    check_gradients(&c);
    c = begin("MatMul_vector");
    a = param(&c, 1, a1, -1, 1);
    b = param(&c, 2, b2, -1, 1);
    finish(&c, dc_matmul(c.g, a, b));
    check_gradients(&c);
    c = begin("MatMul_broadcast");
    a = param(&c, 4, a4, -1, 1);
    b = param(&c, 3, b3, -1, 1);
    finish(&c, dc_matmul(c.g, a, b));
    check_gradients(&c);

    const int64_t at[] = {4, 3}, bt[] = {5, 4}, cv[] = {5};
    c = begin("Gemm");
    a = param(&c, 2, at, -1, 1);
    b = param(&c, 2, bt, -1, 1);
    dc_value *bias = param(&c, 1, cv, -1, 1);
    dc_value *in[] = {a, b, bias};
    dc_node *n = dc_node_begin(c.g, "Gemm", "", in, 3, 1);
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "transA", 1));
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "transB", 1));
    DC_ASSERT_OK(dc_node_set_float(n, c.g, "alpha", 0.5f));
    DC_ASSERT_OK(dc_node_set_float(n, c.g, "beta", 2.0f));
    finish(&c, dc_node_finish(c.g, n));
    check_gradients(&c);
}

/* The fused Linear layer (ai.dinoc MatMulBias), its weight plain or
 * transposed, with every activation. */
static void test_matmul_bias(void)
{
    static const char *const acts[] = {"", "Relu", "Tanh", "Sigmoid", "Gelu"};
    const int64_t a3[] = {2, 3, 4}, kn[] = {4, 5}, nk[] = {5, 4}, nv[] = {5};
    for (int act = 0; act < 5; act++)
        for (int trans = 0; trans < 2; trans++) {
            fd_case c = begin("MatMulBias");
            DC_ASSERT_OK(dc_graph_set_opset(c.g, "ai.dinoc", 1));
            dc_value *in[3] = {param(&c, 3, a3, -1, 1), param(&c, 2, trans ? nk : kn, -1, 1),
                               param(&c, 1, nv, -1, 1)};
            dc_node *n = dc_node_begin(c.g, "MatMulBias", "ai.dinoc", in, 3, 1);
            DC_ASSERT_OK(dc_node_set_int(n, c.g, "transB", trans));
            DC_ASSERT_OK(dc_node_set_string(n, c.g, "activation", acts[act]));
            finish(&c, dc_node_finish(c.g, n));
            check_gradients(&c);
        }
}

static void test_patch_conv(void)
{
    const int64_t x[] = {2, 3, 8, 8}, w[] = {4, 3, 4, 4}, b[] = {4}, strides[] = {4, 4},
                  pads[] = {0, 0, 0, 0};
    fd_case c = begin("Conv_patch");
    dc_value *xv = param(&c, 4, x, -1, 1), *wv = param(&c, 4, w, -1, 1), *bv = param(&c, 1, b, -1, 1);
    finish(&c, dc_conv(c.g, xv, wv, bv, strides, pads, 2));
    check_gradients(&c);
}

static void test_data_movement(void)
{
    const int64_t x[] = {2, 3, 4}, perm[] = {2, 0, 1}, shape[] = {4, 6}, axes[] = {1};
    fd_case c = begin("Transpose_Reshape");
    dc_value *p = param(&c, 3, x, -1, 1);
    finish(&c, dc_reshape(c.g, dc_transpose(c.g, p, perm, 3), shape, 2));
    check_gradients(&c);

    c = begin("Concat_Slice_Unsqueeze");
    dc_value *a = param(&c, 3, x, -1, 1), *b = param(&c, 3, x, -1, 1);
    dc_value *parts[] = {a, b};
    dc_value *cat = dc_concat(c.g, parts, 2, 1);                   /* [2,6,4] */
    finish(&c, dc_unsqueeze(c.g, dc_slice(c.g, cat, 1, 2, 5), axes, 1));
    check_gradients(&c);

    c = begin("Gather_Expand");
    p = param(&c, 3, x, -1, 1);
    const int64_t idx_v[] = {2, 0, 2}, big[] = {2, 2, 3, 4};
    dc_value *idx = dc_const_i64(c.g, idx_v, 3);
    dc_value *gathered = dc_gather(c.g, p, idx, 1); /* [2,3,4] with rows 2,0,2 */
    finish(&c, dc_expand(c.g, dc_unsqueeze(c.g, gathered, (const int64_t[]){0}, 1), big, 4));
    check_gradients(&c);

    c = begin("Split");
    p = param(&c, 3, x, -1, 1);
    dc_value *in[] = {p};
    dc_node *n = dc_node_begin(c.g, "Split", "", in, 1, 2);
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "axis", 2));
    dc_node_finish(c.g, n);
    finish(&c, dc_unary(c.g, "Exp", n->outputs[1])); /* output 0 unused: zeros */
    check_gradients(&c);
}

static void test_reductions(void)
{
    const int64_t x[] = {2, 3, 4}, axes[] = {0, 2};
    const char *ops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"};
    for (int i = 0; i < 4; i++) {
        fd_case c = begin(ops[i]);
        finish(&c, dc_reduce(c.g, ops[i], param(&c, 3, x, -1, 1), axes, 2, i % 2 == 0));
        check_gradients(&c);
    }
}

static void test_softmax_layernorm(void)
{
    const int64_t x[] = {2, 3, 5}, d5[] = {5}, m35[] = {3, 5};
    for (int axis = -1; axis <= 1; axis += 2) {
        fd_case c = begin("Softmax");
        finish(&c, dc_softmax(c.g, param(&c, 3, x, -2, 2), axis));
        check_gradients(&c);
        c = begin("LogSoftmax");
        finish(&c, dc_log_softmax(c.g, param(&c, 3, x, -2, 2), axis));
        check_gradients(&c);
    }
    fd_case c = begin("LayerNorm_last");
    dc_value *p = param(&c, 3, x, -2, 2), *s = param(&c, 1, d5, 0.5, 1.5), *b = param(&c, 1, d5, -1, 1);
    finish(&c, dc_layer_norm(c.g, p, s, b, -1, 1e-5f));
    check_gradients(&c);
    c = begin("LayerNorm_two_axes");
    p = param(&c, 3, x, -2, 2);
    s = param(&c, 2, m35, 0.5, 1.5);
    finish(&c, dc_layer_norm(c.g, p, s, NULL, 1, 1e-5f));
    check_gradients(&c);
}

/* One weight feeding two branches (the student on global and local crops):
 * its gradient is the sum over both uses. */
static void test_value_used_twice(void)
{
    const int64_t x1[] = {2, 4}, x2[] = {3, 4}, w[] = {4, 4};
    fd_case c = begin("shared_weight");
    dc_value *wv = param(&c, 2, w, -1, 1);
    dc_value *g1 = dc_unary(c.g, "Tanh", dc_matmul(c.g, constant(&c, 2, x1), wv));
    dc_value *g2 = dc_matmul(c.g, constant(&c, 2, x2), dc_mul(c.g, wv, wv));
    dc_value *both[] = {g1, g2};
    finish(&c, dc_concat(c.g, both, 2, 0));
    check_gradients(&c);
}

static void test_unreachable_and_errors(void)
{
    const int64_t d[] = {3};
    fd_case c = begin("unreachable");
    dc_value *used = param(&c, 1, d, -1, 1), *unused = param(&c, 1, d, -1, 1);
    finish(&c, dc_unary(c.g, "Exp", used));
    dc_value *grads[2];
    DC_ASSERT_OK(dc_autodiff(c.g, c.loss, c.params, 2, grads));
    CU_ASSERT_PTR_NOT_NULL(grads[0]);
    CU_ASSERT_PTR_NULL(grads[1]); /* as torch leaves .grad None */
    (void)unused;
    /* A loss with more than one element is refused. */
    CU_ASSERT_EQUAL(dc_autodiff(c.g, used, c.params, 1, grads), DC_ERR_SHAPE);
    dc_graph_destroy(c.g);
}

/* ---- the gradient ops: ScatterAdd, ConvGrad*, ResizeGrad, Dropout --------- */

/* Indices known only at run time: ArgMax over a constant one-hot matrix
 * (no pass folds it), minus `range` where the wanted index is negative. The
 * result has shape `dims` (rank 1 or 2) and the values of `want`. */
static dc_value *runtime_indices(fd_case *c, const int64_t *want, int rank, const int64_t *dims,
                                 int64_t range)
{
    int64_t n = rank == 1 ? dims[0] : dims[0] * dims[1], hot_dims[] = {n, range};
    dc_tensor *hot;
    DC_ASSERT_OK(dc_tensor_create(&hot, NULL, DC_F64, 2, hot_dims));
    int64_t offsets[16] = {0};
    for (int64_t j = 0; j < n; j++) {
        ((double *)hot->data)[j * range + (want[j] < 0 ? want[j] + range : want[j])] = 1;
        offsets[j] = want[j] < 0 ? range : 0;
    }
    dc_value *m = dc_param(c->g, dc_graph_unique_name(c->g, "hot"), hot);
    dc_node *arg = dc_node_begin(c->g, "ArgMax", "", &m, 1, 1);
    DC_ASSERT_OK(dc_node_set_int(arg, c->g, "axis", 1));
    DC_ASSERT_OK(dc_node_set_int(arg, c->g, "keepdims", 0));
    dc_value *idx = dc_sub(c->g, dc_node_finish(c->g, arg), dc_const_i64(c->g, offsets, (int)n));
    idx = dc_reshape(c->g, idx, dims, rank);
    CU_ASSERT_PTR_NULL(idx ? idx->constant : NULL); /* really a run-time value */
    return idx;
}

static void test_gather_runtime_indices(void)
{
    /* iBOT's case: rows of [B·N, D] by data-dependent indices, with repeats. */
    const int64_t x2[] = {5, 3}, i1[] = {5}, rows[] = {4, -1, 0, 4, 2};
    fd_case c = begin("Gather_axis0_runtime");
    dc_value *p = param(&c, 2, x2, -1, 1);
    finish(&c, dc_gather(c.g, p, runtime_indices(&c, rows, 1, i1, 5), 0));
    check_gradients(&c);

    /* A middle axis and 2-D indices. */
    const int64_t x3[] = {2, 4, 3}, i2[] = {2, 3}, mid[] = {1, 3, 1, -4, 2, 2};
    c = begin("Gather_axis1_2d_indices");
    p = param(&c, 3, x3, -1, 1);
    finish(&c, dc_gather(c.g, p, runtime_indices(&c, mid, 2, i2, 4), 1));
    check_gradients(&c);

    /* The last axis; x also feeds the loss directly. */
    const int64_t x35[] = {3, 5}, i3[] = {3}, last[] = {-2, 0, 3};
    c = begin("Gather_last_axis_reused");
    p = param(&c, 2, x35, -1, 1);
    dc_value *g = dc_gather(c.g, p, runtime_indices(&c, last, 1, i3, 5), -1); /* [3, 3] */
    dc_value *parts[] = {g, dc_slice(c.g, p, 1, 0, 3)};
    finish(&c, dc_concat(c.g, parts, 2, 0));
    check_gradients(&c);
}

/* ScatterAdd itself: linear in its updates, whose gradient is Gather(dy). */
static void test_scatter_add(void)
{
    const int64_t like[] = {4, 3, 2}, upd[] = {4, 5, 2}, i5[] = {5}, idx[] = {2, 0, -1, 2, 2};
    fd_case c = begin("ScatterAdd_axis1");
    dc_value *u = param(&c, 3, upd, -1, 1);
    dc_value *in[] = {constant(&c, 3, like), runtime_indices(&c, idx, 1, i5, 3), u};
    DC_ASSERT_OK(dc_graph_set_opset(c.g, "ai.dinoc", 1));
    dc_node *n = dc_node_begin(c.g, "ScatterAdd", "ai.dinoc", in, 3, 1);
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "axis", 1));
    finish(&c, dc_unary(c.g, "Tanh", dc_node_finish(c.g, n)));
    check_gradients(&c);
}

typedef struct conv_spec {
    const char *name;
    int rank;
    int64_t x[5], w[5];
    int64_t strides[3], dilations[3], pads[6], group;
    const char *auto_pad; /* NULL: explicit pads */
    bool bias;
} conv_spec;

static void check_conv(const conv_spec *s)
{
    fd_case c = begin(s->name);
    int sp = s->rank - 2;
    int64_t b[] = {s->w[0]};
    dc_value *in[] = {param(&c, s->rank, s->x, -1, 1), param(&c, s->rank, s->w, -1, 1),
                      s->bias ? param(&c, 1, b, -1, 1) : NULL};
    dc_node *n = dc_node_begin(c.g, "Conv", "", in, s->bias ? 3 : 2, 1);
    DC_ASSERT_OK(dc_node_set_ints(n, c.g, "strides", s->strides, sp));
    DC_ASSERT_OK(dc_node_set_ints(n, c.g, "dilations", s->dilations, sp));
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "group", s->group));
    if (s->auto_pad)
        DC_ASSERT_OK(dc_node_set_string(n, c.g, "auto_pad", s->auto_pad));
    else
        DC_ASSERT_OK(dc_node_set_ints(n, c.g, "pads", s->pads, 2 * sp));
    finish(&c, dc_node_finish(c.g, n));
    check_gradients(&c);
}

static void test_conv_general(void)
{
    static const conv_spec specs[] = {
        {"Conv_strided_padded_dilated_grouped", 4, {2, 4, 7, 6}, {6, 2, 3, 2}, {2, 1}, {1, 2},
         {1, 0, 0, 1}, 2, NULL, true},
        {"Conv_1d", 3, {2, 3, 9}, {4, 3, 3}, {2}, {2}, {1, 2}, 1, NULL, true},
        {"Conv_3d_depthwise", 5, {1, 2, 4, 3, 3}, {2, 1, 2, 2, 2}, {1, 2, 1}, {1, 1, 1},
         {1, 0, 1, 0, 1, 1}, 2, NULL, false},
        {"Conv_same_upper", 4, {1, 2, 5, 6}, {3, 2, 3, 3}, {2, 2}, {1, 1}, {0}, 1, "SAME_UPPER", true},
        {"Conv_same_lower", 4, {1, 2, 5, 6}, {3, 2, 2, 3}, {2, 3}, {1, 1}, {0}, 1, "SAME_LOWER", false},
        {"Conv_valid_remainder", 4, {1, 1, 6, 7}, {2, 1, 3, 3}, {2, 2}, {1, 1}, {0}, 1, "VALID", false},
        {"Conv_stride_ne_kernel", 4, {2, 3, 8, 8}, {4, 3, 4, 4}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 1, NULL, true},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        check_conv(&specs[i]);
}

typedef struct resize_spec {
    const char *name;
    int64_t opset;
    int rank;
    int64_t x[4];
    float scales[4];       /* all 0: use sizes */
    int64_t sizes[4];
    float roi[8];
    const char *mode, *coord, *nearest;
    float cubic_a;
    int exclude_outside;
} resize_spec;

static void check_resize(const resize_spec *s)
{
    fd_case c = begin(s->name);
    DC_ASSERT_OK(dc_graph_set_opset(c.g, "", s->opset));
    dc_value *x = param(&c, s->rank, s->x, -1, 1);
    bool by_sizes = s->scales[0] == 0;
    int64_t n1[] = {s->rank}, n2[] = {2 * s->rank}, n0[] = {0};
    dc_tensor *scales, *roi;
    DC_ASSERT_OK(dc_tensor_create(&scales, NULL, DC_F32, 1, by_sizes ? n0 : n1));
    DC_ASSERT_OK(dc_tensor_create(&roi, NULL, DC_F32, 1, n2));
    for (int i = 0; i < s->rank && !by_sizes; i++)
        ((float *)scales->data)[i] = s->scales[i];
    for (int i = 0; i < 2 * s->rank; i++)
        ((float *)roi->data)[i] = s->roi[i];
    dc_value *sv = dc_param(c.g, dc_graph_unique_name(c.g, "scales"), scales);
    dc_value *rv = dc_param(c.g, dc_graph_unique_name(c.g, "roi"), roi);
    dc_value *in10[] = {x, sv};
    dc_value *in[] = {x, rv, sv, by_sizes ? dc_const_i64(c.g, s->sizes, s->rank) : NULL};
    dc_node *n = s->opset == 10 ? dc_node_begin(c.g, "Resize", "", in10, 2, 1)
                                : dc_node_begin(c.g, "Resize", "", in, by_sizes ? 4 : 3, 1);
    DC_ASSERT_OK(dc_node_set_string(n, c.g, "mode", s->mode));
    if (s->opset > 10) {
        DC_ASSERT_OK(dc_node_set_string(n, c.g, "coordinate_transformation_mode", s->coord));
        DC_ASSERT_OK(dc_node_set_string(n, c.g, "nearest_mode", s->nearest));
    }
    if (s->cubic_a != 0)
        DC_ASSERT_OK(dc_node_set_float(n, c.g, "cubic_coeff_a", s->cubic_a));
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "exclude_outside", s->exclude_outside));
    DC_ASSERT_OK(dc_node_set_float(n, c.g, "extrapolation_value", 0.25f));
    finish(&c, dc_node_finish(c.g, n));
    check_gradients(&c);
}

static void test_resize(void)
{
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_crop_and_resize"};
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    /* Every mode and coordinate mode: up on one axis, down on another. */
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 5; k++) {
            resize_spec s = {"Resize", 17, 4, {1, 2, 4, 5}, {1, 1, 1.75f, 0.6f}, {0},
                             {0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.1f}, modes[m], coords[k],
                             "round_prefer_floor", 0, 0};
            char name[64];
            snprintf(name, sizeof name, "Resize_%s_%s", modes[m], coords[k]);
            s.name = name;
            check_resize(&s);
        }
    static const resize_spec specs[] = {
        {"Resize_cubic_exclude_outside_sizes", 17, 2, {4, 5}, {0}, {7, 3}, {0}, "cubic",
         "half_pixel", "floor", -0.5f, 1},
        {"Resize_nearest_ceil_sizes", 17, 3, {2, 3, 4}, {0}, {3, 5, 3}, {0}, "nearest",
         "asymmetric", "ceil", 0, 0},
        {"Resize_nearest_prefer_ceil", 17, 2, {3, 4}, {2.5f, 1.5f}, {0}, {0}, "nearest",
         "half_pixel", "round_prefer_ceil", 0, 0},
        {"Resize_nearest_floor_down", 17, 2, {5, 6}, {0.5f, 0.7f}, {0}, {0}, "nearest",
         "align_corners", "floor", 0, 0},
        {"Resize_tf_half_pixel_for_nn_opset11", 11, 2, {3, 4}, {2, 1.5f}, {0}, {0}, "nearest",
         "tf_half_pixel_for_nn", "round_prefer_floor", 0, 0},
        {"Resize_linear_opset10", 10, 2, {3, 4}, {2, 1.5f}, {0}, {0}, "linear", NULL, NULL, 0, 0},
        {"Resize_nearest_opset10", 10, 2, {3, 4}, {1.5f, 0.75f}, {0}, {0}, "nearest", NULL, NULL, 0, 0},
        {"Resize_cubic_pos_embed_like", 17, 4, {1, 3, 4, 4}, {0}, {1, 3, 6, 6}, {0}, "cubic",
         "half_pixel", "floor", 0, 0},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        check_resize(&specs[i]);
}

/* Dropout-12+: data, ratio, training_mode; with the mask as output 1 when asked. */
static fd_case dropout_case(const char *name, dc_value *(*ratio)(fd_case *), int training,
                            int n_outputs)
{
    const int64_t x[] = {4, 5};
    fd_case c = begin(name);
    dc_value *p = param(&c, 2, x, -1, 1);
    dc_tensor *mode = NULL;
    if (training >= 0) {
        DC_ASSERT_OK(dc_tensor_create(&mode, NULL, DC_BOOL, 0, NULL));
        *(uint8_t *)mode->data = (uint8_t)training;
    }
    dc_value *in[] = {p, ratio(&c), mode ? dc_param(c.g, "training", mode) : NULL};
    dc_node *n = dc_node_begin(c.g, "Dropout", "", in, mode ? 3 : 2, n_outputs);
    DC_ASSERT_OK(dc_node_set_int(n, c.g, "seed", 7));
    finish(&c, dc_unary(c.g, "Exp", dc_node_finish(c.g, n)));
    return c;
}

static dc_value *ratio_03(fd_case *c) { return dc_scalar(c->g, DC_F64, 0.3); }
static dc_value *ratio_0(fd_case *c) { return dc_scalar(c->g, DC_F64, 0.0); }
/* 0.4 as a product no pass folds: the rule must build 1 / (1 − ratio) in the graph. */
static dc_value *ratio_runtime(fd_case *c)
{
    return dc_mul(c->g, dc_scalar(c->g, DC_F64, 0.5), dc_scalar(c->g, DC_F64, 0.8));
}

static void test_dropout(void)
{
    fd_case c = dropout_case("Dropout_inference", ratio_03, -1, 1);
    check_gradients(&c);
    c = dropout_case("Dropout_training_false", ratio_03, 0, 2);
    check_gradients(&c);
    c = dropout_case("Dropout_training", ratio_03, 1, 2);
    check_gradients(&c);
    c = dropout_case("Dropout_training_ratio0", ratio_0, 1, 1);
    check_gradients(&c);
    c = dropout_case("Dropout_training_runtime_ratio", ratio_runtime, 1, 2);
    check_gradients(&c);
    /* Training mode without the mask output: a clear refusal. */
    c = dropout_case("Dropout_training_no_mask", ratio_03, 1, 1);
    dc_value *grads[1];
    CU_ASSERT_EQUAL(dc_autodiff(c.g, c.loss, c.params, 1, grads), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "mask output"));
    dc_graph_destroy(c.g);
}

void register_pass_autodiff(void)
{
    static const dc_test_case tests[] = {
        {"binary ops with broadcasting, Pow", test_binary_broadcasting},
        {"unary ops", test_unary},
        {"Where and erf-GELU", test_where_and_gelu},
        {"MatMul (batched, vector, broadcast) and Gemm", test_matmul_and_gemm},
        {"patch-embedding Conv", test_patch_conv},
        {"MatMulBias (ai.dinoc): transB, every activation", test_matmul_bias},
        {"Transpose, Reshape, Concat, Slice, Gather, Expand, Split", test_data_movement},
        {"ReduceSum/Mean/Max/Min", test_reductions},
        {"Softmax, LogSoftmax, LayerNormalization", test_softmax_layernorm},
        {"a value used twice accumulates", test_value_used_twice},
        {"unreachable parameters and bad losses", test_unreachable_and_errors},
        {"Gather with run-time indices (ScatterAdd), repeats and negatives", test_gather_runtime_indices},
        {"ScatterAdd", test_scatter_add},
        {"Conv: strides, pads, dilations, groups, auto_pad, 1-D and 3-D", test_conv_general},
        {"Resize: every mode and coordinate mode, scales and sizes", test_resize},
        {"Dropout: inference, training with mask, ratio 0, no mask", test_dropout},
        {NULL, NULL},
    };
    dc_add_suite("pass_autodiff", tests);
}
