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

void register_pass_autodiff(void)
{
    static const dc_test_case tests[] = {
        {"binary ops with broadcasting, Pow", test_binary_broadcasting},
        {"unary ops", test_unary},
        {"Where and erf-GELU", test_where_and_gelu},
        {"MatMul (batched, vector, broadcast) and Gemm", test_matmul_and_gemm},
        {"patch-embedding Conv", test_patch_conv},
        {"Transpose, Reshape, Concat, Slice, Gather, Expand, Split", test_data_movement},
        {"ReduceSum/Mean/Max/Min", test_reductions},
        {"Softmax, LogSoftmax, LayerNormalization", test_softmax_layernorm},
        {"a value used twice accumulates", test_value_used_twice},
        {"unreachable parameters and bad losses", test_unreachable_and_errors},
        {NULL, NULL},
    };
    dc_add_suite("pass_autodiff", tests);
}
