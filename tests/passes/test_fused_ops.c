/* The fused ai.dinoc ops and their fusion rules:
 *   - CrossEntropySoft, Gelu, Attention and LayerNormalization (through
 *     LayerNormGrad): gradients against central finite
 *     differences (f64, reference interpreter);
 *   - their runtime kernels (c.*, dnnl.Gelu) against the reference kernels,
 *     Attention's reference also against the composition it replaces,
 *     through dc_lower and a session, CrossEntropySoft's G also in place;
 *   - CrossEntropySoft equals the composition −Σ P·log_softmax(S/τ) it replaces;
 *   - dc_fuse_layer_norm: the statistics it adds are what the backward reads;
 *   - dc_fuse_attention: both scale placements, a leaked probability tensor;
 *   - dc_fuse_gelu: golden IR before/after, the operand orders torch exports,
 *     the cases it must leave alone, and the same numbers before and after;
 *   - a small training graph with and without the fusion (and the Gelu
 *     recomputed for the backward): same loss and gradients, compiled. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "dc_session.h"
#include "fuse.h"
#include "interpret.h"
#include "pipeline.h"
#include "op_registry.h"
#include "pass_test_util.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double uniform(double lo, double hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng >> 11) * 0x1p-53;
}

static dc_tensor *random_tensor(dc_dtype t, int rank, const int64_t *dims, double lo, double hi)
{
    dc_tensor *x = NULL;
    DC_ASSERT_OK(dc_tensor_create(&x, NULL, t, rank, dims));
    for (uint64_t i = 0; x && i < dc_tensor_numel(x); i++) {
        double v = uniform(lo, hi);
        if (t == DC_F32)
            ((float *)x->data)[i] = (float)v;
        else
            ((double *)x->data)[i] = v;
    }
    return x;
}

static dc_graph *new_graph(const char *name)
{
    dc_graph *g = dc_graph_create(name);
    DC_ASSERT_OK(dc_graph_set_opset(g, DC_DOMAIN_DINOC, 1));
    return g;
}

/* CrossEntropySoft(s, p, τ) with or without its output G. */
static dc_node *cross_entropy(dc_graph *g, dc_value *s, dc_value *p, double tau, bool with_grad)
{
    dc_value *in[] = {s, p, dc_scalar(g, s->type.dtype, tau)};
    dc_node *n = dc_node_begin(g, "CrossEntropySoft", DC_DOMAIN_DINOC, in, 3, with_grad ? 2 : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, n));
    return n;
}

static dc_value *gelu_node(dc_graph *g, dc_value *x)
{
    return dc_node_finish(g, dc_node_begin(g, "Gelu", DC_DOMAIN_DINOC, &x, 1, 1));
}

/* ------------------------------------------------------------ finite differences */

/* loss = Σ y ⊙ R with a fixed random R; the gradient of every parameter of
 * `params` from dc_autodiff (reference interpreter) against central
 * differences of the loss, relative to the largest gradient element. */
static void check_fd(dc_graph *g, dc_value *y, dc_value **params, int n_params)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < y->type.rank; i++)
        dims[i] = y->type.dims[i].size;
    dc_value *r = dc_param(g, "R", random_tensor(DC_F64, y->type.rank, dims, -1, 1));
    dc_value *loss = dc_reduce(g, "ReduceSum", dc_mul(g, y, r), NULL, 0, false);
    DC_ASSERT_OK(dc_output(g, loss));
    double *fd[4];
    for (int p = 0; p < n_params; p++) {
        dc_tensor *t = params[p]->constant;
        double *x = t->data, h = 1e-6;
        fd[p] = calloc(dc_tensor_numel(t), sizeof(double));
        for (uint64_t i = 0; i < dc_tensor_numel(t); i++) {
            double saved = x[i], f[2];
            for (int side = 0; side < 2; side++) {
                x[i] = saved + (side ? -h : h);
                dc_tensor *out[1] = {NULL};
                DC_ASSERT_OK(dc_interpret(g, NULL, 0, out));
                f[side] = out[0] ? dc_tensor_get_f64(out[0], 0) : NAN;
                dc_tensor_destroy(out[0]);
            }
            x[i] = saved;
            fd[p][i] = (f[0] - f[1]) / (2 * h);
        }
    }
    dc_value *grads[4] = {NULL};
    DC_ASSERT_OK(dc_autodiff(g, loss, params, n_params, grads));
    for (int p = 0; p < n_params; p++)
        DC_ASSERT_OK(dc_output(g, grads[p]));
    dc_tensor *out[5] = {NULL};
    DC_ASSERT_OK(dc_interpret(g, NULL, 0, out));
    for (int p = 0; p < n_params; p++) {
        double worst = 0, scale = 1e-3;
        for (uint64_t i = 0; out[1 + p] && i < dc_tensor_numel(out[1 + p]); i++)
            scale = fmax(scale, fabs(fd[p][i]));
        for (uint64_t i = 0; out[1 + p] && i < dc_tensor_numel(out[1 + p]); i++)
            worst = fmax(worst, fabs(dc_tensor_get_f64(out[1 + p], i) - fd[p][i]) / scale);
        if (!out[1 + p] || !(worst < 1e-6))
            fprintf(stderr, "\n    %s: d/d%s off by %g (relative)\n", g->name, params[p]->name, worst);
        CU_ASSERT(out[1 + p] && worst < 1e-6);
        free(fd[p]);
    }
    free_tensors(out, 1 + n_params);
}

static void test_cross_entropy_gradient(void)
{
    const int64_t rk[] = {3, 5};
    for (int with_grad = 0; with_grad < 2; with_grad++) {
        dc_graph *g = new_graph(with_grad ? "ce_with_G" : "ce_recomputes_G");
        dc_value *p[2] = {dc_param(g, "S", random_tensor(DC_F64, 2, rk, -2, 2)),
                          dc_param(g, "P", random_tensor(DC_F64, 2, rk, 0, 1))};
        check_fd(g, cross_entropy(g, p[0], p[1], 0.3, with_grad)->outputs[0], p, 2);
        dc_graph_destroy(g);
    }
}

static void test_gelu_gradient(void)
{
    const int64_t d[] = {2, 7};
    dc_graph *g = new_graph("gelu_fd");
    dc_value *x = dc_param(g, "x", random_tensor(DC_F64, 2, d, -3, 3));
    check_fd(g, gelu_node(g, x), &x, 1);
    dc_graph_destroy(g);
}

/* ------------------------------------------------------------ compiled runs */

/* Compiles g (all graph inputs fed from `ins`) and runs it once; outs receive
 * every graph output. `kernels`, when not NULL, receives the kernel of the
 * first step running `op`. */
static void run_compiled(dc_graph *g, dc_tensor **ins, dc_tensor **outs, const char *op,
                         char *kernel, size_t cap)
{
    dc_plan *plan = NULL;
    dc_session *s = NULL;
    /* Compiled as built: the pipeline without its fusion stages. */
    DC_ASSERT_OK(dc_pipeline_compile(g, &(dc_pipeline_options){.no_fuse = true}, &plan));
    if (!plan)
        return;
    for (int i = 0; kernel && i < plan->n_steps; i++)
        if (strcmp(plan->steps[i].op_type, op) == 0) {
            snprintf(kernel, cap, "%s", plan->steps[i].kernel);
            break;
        }
    DC_ASSERT_OK(dc_session_create(plan, 2, &s));
    for (int i = 0; s && i < plan->n_inputs; i++)
        DC_ASSERT_OK(dc_session_set_input(s, plan->inputs[i].name, ins[i]));
    if (s)
        DC_ASSERT_OK(dc_session_run(s));
    for (int i = 0; s && i < plan->n_outputs; i++)
        DC_ASSERT_OK(dc_session_get_output(s, i, &outs[i]));
    dc_session_destroy(s);
    dc_plan_destroy(plan);
}

/* CrossEntropySoft through its runtime kernel, S computed (2·X) so that G
 * may overwrite it, against the reference interpreter and against the
 * composition −Σ_k P·log_softmax(S/τ). */
static void test_cross_entropy_kernel(void)
{
    const dc_dtype types[] = {DC_F32, DC_F64};
    for (int t = 0; t < 2; t++) {
        const int64_t rk[] = {37, 300}, col = 1;
        dc_graph *g = new_graph("ce_kernel");
        dc_value *x = dc_input(g, "x", types[t], 2, rk), *p = dc_input(g, "p", types[t], 2, rk);
        dc_value *s = dc_mul(g, x, dc_scalar(g, types[t], 2.0));
        dc_node *ce = cross_entropy(g, s, p, 0.1, true);
        dc_value *log_q = dc_log_softmax(g, dc_div(g, s, dc_scalar(g, types[t], 0.1)), -1);
        dc_value *unfused = dc_unary(g, "Neg", dc_reduce(g, "ReduceSum", dc_mul(g, p, log_q), &col, 1, false));
        DC_ASSERT_OK(dc_output(g, ce->outputs[0]));
        DC_ASSERT_OK(dc_output(g, ce->outputs[1]));
        DC_ASSERT_OK(dc_output(g, unfused));
        dc_tensor *ins[2] = {random_tensor(types[t], 2, rk, -3, 3), random_tensor(types[t], 2, rk, 0, 1)};
        dc_tensor *want[3] = {NULL}, *got[3] = {NULL};
        DC_ASSERT_OK(dc_interpret(g, ins, 2, want));
        char kernel[64] = "";
        run_compiled(g, ins, got, "CrossEntropySoft", kernel, sizeof kernel);
        CU_ASSERT_STRING_EQUAL(kernel, "c.CrossEntropySoft");
        /* In f32 the exponent S/τ (up to 60 here) is rounded to ~4e-6, and
         * G carries a factor 1/τ = 10. */
        for (int i = 0; i < 2; i++) {
            double tol = types[t] == DC_F64 ? 1e-12 : i == 0 ? 1e-5 : 1e-4;
            double err = max_rel_diff(got[i], want[i]);
            if (!(err <= tol))
                fprintf(stderr, "\n    c.CrossEntropySoft %s output %d: error %g\n",
                        dc_dtype_name(types[t]), i, err);
            CU_ASSERT(err <= tol);
        }
        /* The fused loss is the composition's. */
        CU_ASSERT(max_rel_diff(want[0], want[2]) <= (types[t] == DC_F32 ? 1e-5 : 1e-12));
        CU_ASSERT(max_rel_diff(got[0], got[2]) <= (types[t] == DC_F32 ? 1e-4 : 1e-12));
        free_tensors(ins, 2);
        free_tensors(want, 3);
        free_tensors(got, 3);
        dc_graph_destroy(g);
    }
}

/* Bad shapes are errors of shape inference, naming the op. */
static void test_cross_entropy_errors(void)
{
    const int64_t a[] = {2, 3}, b[] = {2, 4}, v[] = {2};
    dc_graph *g = new_graph("ce_errors");
    dc_value *in[] = {dc_input(g, "s", DC_F32, 2, a), dc_input(g, "p", DC_F32, 2, b),
                      dc_scalar(g, DC_F32, 0.1)};
    CU_ASSERT_PTR_NULL(dc_node_finish(g, dc_node_begin(g, "CrossEntropySoft", DC_DOMAIN_DINOC, in, 3, 1)));
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "CrossEntropySoft"));
    dc_graph_destroy(g);
    g = new_graph("ce_errors");
    dc_value *in2[] = {dc_input(g, "s", DC_F32, 2, a), dc_input(g, "p", DC_F32, 2, a),
                       dc_input(g, "t", DC_F32, 1, v)};
    CU_ASSERT_PTR_NULL(dc_node_finish(g, dc_node_begin(g, "CrossEntropySoft", DC_DOMAIN_DINOC, in2, 3, 1)));
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "temperature"));
    dc_graph_destroy(g);
}

/* Gelu (dnnl.Gelu for f32, c.Gelu for f64) and GeluGrad (c.GeluGrad) against
 * the reference kernels. */
static void test_gelu_kernels(void)
{
    const dc_dtype types[] = {DC_F32, DC_F64};
    const char *fwd[] = {"dnnl.Gelu", "c.Gelu"};
    for (int t = 0; t < 2; t++) {
        const int64_t d[] = {3, 50, 70};
        dc_graph *g = new_graph("gelu_kernels");
        dc_value *x = dc_input(g, "x", types[t], 3, d), *dy = dc_input(g, "dy", types[t], 3, d);
        dc_value *in[] = {dy, x};
        DC_ASSERT_OK(dc_output(g, gelu_node(g, x)));
        DC_ASSERT_OK(dc_output(g, dc_node_finish(g, dc_node_begin(g, "GeluGrad", DC_DOMAIN_DINOC, in, 2, 1))));
        dc_tensor *ins[2] = {random_tensor(types[t], 3, d, -5, 5), random_tensor(types[t], 3, d, -1, 1)};
        dc_tensor *want[2] = {NULL}, *got[2] = {NULL};
        DC_ASSERT_OK(dc_interpret(g, ins, 2, want));
        char kernel[64] = "";
        run_compiled(g, ins, got, "Gelu", kernel, sizeof kernel);
        CU_ASSERT_STRING_EQUAL(kernel, fwd[t]);
        double tol = types[t] == DC_F32 ? 1e-5 : 1e-12;
        for (int i = 0; i < 2; i++) {
            double err = max_rel_diff(got[i], want[i]);
            if (!(err <= tol))
                fprintf(stderr, "\n    %s output %d: error %g\n", dc_dtype_name(types[t]), i, err);
            CU_ASSERT(err <= tol);
        }
        free_tensors(ins, 2);
        free_tensors(want, 2);
        free_tensors(got, 2);
        dc_graph_destroy(g);
    }
}

/* ------------------------------------------------------------ dc_fuse_gelu */

static const char GELU_BEFORE[] =
    "graph gelu_golden (ir 8, opset 17, ai.dinoc 1)\n"
    "  input  x: f32[2,3]\n"
    "  init   const_0 = <f32[] {1.41421}>\n"
    "  init   const_5 = <f32[] {1}>\n"
    "  init   const_10 = <f32[] {0.5}>\n"
    "  t_2: f32[2,3] = Div(x, const_0)  # Div_1\n"
    "  t_4: f32[2,3] = Erf(t_2)  # Erf_3\n"
    "  t_7: f32[2,3] = Add(t_4, const_5)  # Add_6\n"
    "  t_9: f32[2,3] = Mul(x, t_7)  # Mul_8\n"
    "  t_12: f32[2,3] = Mul(t_9, const_10)  # Mul_11\n"
    "  output t_12: f32[2,3]\n";

/* The constants stay for dead-code elimination to remove. */
static const char GELU_AFTER[] =
    "graph gelu_golden (ir 8, opset 17, ai.dinoc 1)\n"
    "  input  x: f32[2,3]\n"
    "  init   const_0 = <f32[] {1.41421}>\n"
    "  init   const_5 = <f32[] {1}>\n"
    "  init   const_10 = <f32[] {0.5}>\n"
    "  t_14: f32[2,3] = ai.dinoc.Gelu(x)  # gelu_13\n"
    "  output t_14: f32[2,3]\n";

static void test_fuse_gelu_golden(void)
{
    const int64_t d[] = {2, 3};
    dc_graph *g = new_graph("gelu_golden");
    /* dc_gelu's composition, one call per statement so that value names do
     * not depend on the compiler's order of evaluating arguments. */
    dc_value *x = dc_input(g, "x", DC_F32, 2, d);
    dc_value *root2 = dc_scalar(g, DC_F32, M_SQRT2);
    dc_value *e = dc_unary(g, "Erf", dc_div(g, x, root2));
    dc_value *one = dc_scalar(g, DC_F32, 1.0);
    dc_value *xa = dc_mul(g, x, dc_add(g, e, one));
    dc_value *half = dc_scalar(g, DC_F32, 0.5);
    DC_ASSERT_OK(dc_output(g, dc_mul(g, xa, half)));
    EXPECT_TEXT(g, GELU_BEFORE, "before dc_fuse_gelu");
    int n = 0;
    DC_ASSERT_OK(dc_fuse_gelu(g, &n));
    CU_ASSERT_EQUAL(n, 1);
    DC_ASSERT_OK(dc_graph_verify(g));
    EXPECT_TEXT(g, GELU_AFTER, "after dc_fuse_gelu");
    dc_graph_destroy(g);
}

typedef enum form { BUILDER, TORCH_HALF_FIRST, SWAPPED, SHARED_ERF, WRONG_SCALE } form;

/* x → GELU-like composition in one of several forms, between two Tanh nodes
 * so the match sits inside a schedule. */
static dc_value *composition(dc_graph *g, dc_value *x, form f)
{
    dc_dtype t = x->type.dtype;
    x = dc_unary(g, "Tanh", x);
    dc_value *y;
    if (f == BUILDER) {
        y = dc_gelu(g, x);
    } else if (f == TORCH_HALF_FIRST) { /* (x · 0.5) · (1 + erf(x · 1/√2)) */
        dc_value *e = dc_unary(g, "Erf", dc_mul(g, x, dc_scalar(g, t, M_SQRT1_2)));
        y = dc_mul(g, dc_mul(g, dc_scalar(g, t, 0.5), x), dc_add(g, dc_scalar(g, t, 1.0), e));
    } else if (f == SWAPPED) { /* 0.5 · ((1 + erf(x / √2)) · x) */
        dc_value *e = dc_unary(g, "Erf", dc_div(g, x, dc_scalar(g, t, M_SQRT2)));
        y = dc_mul(g, dc_scalar(g, t, 0.5), dc_mul(g, dc_add(g, e, dc_scalar(g, t, 1.0)), x));
    } else { /* the erf is also a graph output, or x/2 is not x/√2: no fusion */
        dc_value *e = dc_unary(g, "Erf", dc_div(g, x, dc_scalar(g, t, f == WRONG_SCALE ? 2.0 : M_SQRT2)));
        if (f == SHARED_ERF)
            DC_ASSERT_OK(dc_output(g, e));
        y = dc_mul(g, dc_mul(g, x, dc_add(g, e, dc_scalar(g, t, 1.0))), dc_scalar(g, t, 0.5));
    }
    return dc_unary(g, "Tanh", y);
}

static void test_fuse_gelu_forms(void)
{
    const form forms[] = {BUILDER, TORCH_HALF_FIRST, SWAPPED, SHARED_ERF, WRONG_SCALE};
    const int expected[] = {1, 1, 1, 0, 0};
    const int64_t d[] = {4, 9};
    for (int f = 0; f < 5; f++) {
        dc_graph *g = new_graph("gelu_forms");
        dc_value *x = dc_input(g, "x", DC_F64, 2, d);
        /* Two compositions in a row: the second reads the first's output. */
        DC_ASSERT_OK(dc_output(g, composition(g, composition(g, x, forms[f]), forms[f])));
        dc_tensor *ins[1] = {random_tensor(DC_F64, 2, d, -3, 3)}, *before[3] = {NULL}, *after[3] = {NULL};
        int n_out = g->n_outputs; /* 1, or 3 with the erf outputs */
        CU_ASSERT_FATAL(n_out <= 3);
        DC_ASSERT_OK(dc_interpret(g, ins, 1, before));
        int n = -1;
        DC_ASSERT_OK(dc_fuse_gelu(g, &n));
        CU_ASSERT_EQUAL(n, 2 * expected[f]);
        DC_ASSERT_OK(dc_graph_verify(g));
        int gelus = 0;
        for (int i = 0; i < g->n_nodes; i++)
            gelus += strcmp(g->nodes[i]->op_type, "Gelu") == 0;
        CU_ASSERT_EQUAL(gelus, n);
        DC_ASSERT_OK(dc_interpret(g, ins, 1, after));
        for (int i = 0; i < n_out; i++) {
            double err = max_rel_diff(after[i], before[i]);
            if (!(err <= 1e-12))
                fprintf(stderr, "\n    form %d output %d: error %g\n", f, i, err);
            CU_ASSERT(err <= 1e-12);
        }
        free_tensors(ins, 1);
        free_tensors(before, 3);
        free_tensors(after, 3);
        dc_graph_destroy(g);
    }
}

/* loss = Σ (gelu(X·W1)·W2 ⊙ R) with X [2, 8, 24] (a batch of token rows):
 * the fused training graph (GELU fused before autodiff, so its backward is
 * GeluGrad; its output recomputed for W2's gradient) computes the unfused
 * one's loss and gradients, compiled to runtime kernels. */
static void test_fused_training_step(void)
{
    const int64_t xd[] = {2, 8, 24}, w1d[] = {24, 40}, w2d[] = {40, 8}, rd[] = {2, 8, 8};
    dc_tensor *results[2][3] = {{NULL}};
    for (int fused = 0; fused < 2; fused++) {
        rng = 42; /* the same data both times */
        dc_graph *g = new_graph("mlp");
        dc_value *x = dc_input(g, "x", DC_F32, 3, xd);
        dc_value *w[2] = {dc_state(g, "w1", random_tensor(DC_F32, 2, w1d, -0.5, 0.5)),
                          dc_state(g, "w2", random_tensor(DC_F32, 2, w2d, -0.5, 0.5))};
        dc_value *r = dc_param(g, "r", random_tensor(DC_F32, 3, rd, -1, 1));
        dc_value *h = dc_gelu(g, dc_matmul(g, x, w[0]));
        dc_value *loss = dc_reduce(g, "ReduceSum", dc_mul(g, dc_matmul(g, h, w[1]), r), NULL, 0, false);
        DC_ASSERT_OK(dc_output(g, loss));
        int n = 0;
        if (fused)
            DC_ASSERT_OK(dc_fuse_gelu(g, &n));
        CU_ASSERT_EQUAL(n, fused);
        dc_value *grads[2] = {NULL};
        DC_ASSERT_OK(dc_autodiff(g, loss, w, 2, grads));
        DC_ASSERT_OK(dc_output(g, grads[0]));
        DC_ASSERT_OK(dc_output(g, grads[1]));
        bool has_grad_op = false;
        for (int i = 0; i < g->n_nodes; i++)
            has_grad_op |= strcmp(g->nodes[i]->op_type, "GeluGrad") == 0;
        CU_ASSERT_EQUAL(has_grad_op, fused);
        if (fused) {
            /* The weight gradient of the second matmul reads a recomputed
             * Gelu, scheduled right before it; the forward's Gelu output has
             * one reader left, the forward matmul. */
            dc_value *y = NULL;
            for (int i = 0; i < g->n_nodes && !y; i++)
                if (strcmp(g->nodes[i]->op_type, "Gelu") == 0)
                    y = g->nodes[i]->outputs[0];
            DC_ASSERT_OK(dc_fuse_gelu_recompute(g, &n));
            CU_ASSERT_EQUAL(n, 1);
            DC_ASSERT_OK(dc_graph_verify(g));
            int readers = 0, gelus = 0;
            for (int i = 0; i < g->n_nodes; i++) {
                const dc_node *node = g->nodes[i];
                for (int k = 0; k < node->n_inputs; k++)
                    readers += node->inputs[k] == y;
                if (strcmp(node->op_type, "Gelu") == 0 && node->outputs[0] != y) {
                    gelus++;
                    bool next_reads = false;
                    for (int k = 0; i + 1 < g->n_nodes && k < g->nodes[i + 1]->n_inputs; k++)
                        next_reads |= g->nodes[i + 1]->inputs[k] == node->outputs[0];
                    CU_ASSERT(next_reads);
                }
            }
            CU_ASSERT_EQUAL(readers, 1);
            CU_ASSERT_EQUAL(gelus, 1);
            /* Nothing left to recompute a second time. */
            DC_ASSERT_OK(dc_fuse_gelu_recompute(g, &n));
            CU_ASSERT_EQUAL(n, 0);
        }
        dc_tensor *ins[1] = {random_tensor(DC_F32, 3, xd, -2, 2)};
        run_compiled(g, ins, results[fused], NULL, NULL, 0);
        free_tensors(ins, 1);
        dc_graph_destroy(g);
    }
    for (int i = 0; i < 3; i++) {
        double err = max_rel_diff(results[1][i], results[0][i]);
        if (!(err <= 1e-5))
            fprintf(stderr, "\n    fused training output %d: error %g\n", i, err);
        CU_ASSERT(err <= 1e-5);
    }
    free_tensors(results[0], 3);
    free_tensors(results[1], 3);
}

/* ------------------------------------------------------------ Attention */

static dc_node *attention_node(dc_graph *g, dc_value *qkv, int64_t heads, double scale, bool lse)
{
    dc_node *n = dc_node_begin(g, "Attention", DC_DOMAIN_DINOC, &qkv, 1, lse ? 2 : 1);
    DC_ASSERT_OK(dc_node_set_int(n, g, "num_heads", heads));
    DC_ASSERT_OK(dc_node_set_float(n, g, "scale", (float)scale));
    CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, n));
    return n;
}

/* graphs/vit.c's attention on qkv [B, N, 3D]: the scale on q (vit.c) or on
 * the scores (timm's export); `leak` also makes the probabilities a graph
 * output, which must stop the fusion. */
static dc_value *attention_composition(dc_graph *g, dc_value *qkv, int64_t heads, double scale,
                                       bool scale_scores, bool leak)
{
    int64_t B = qkv->type.dims[0].size, N = qkv->type.dims[1].size, D = qkv->type.dims[2].size / 3;
    dc_dtype t = qkv->type.dtype;
    const int64_t split[] = {B, N, heads, D / heads}, merged[] = {B, N, D};
    const int64_t to_bhnd[] = {0, 2, 1, 3}, to_bhdn[] = {0, 2, 3, 1};
    dc_value *q = dc_transpose(g, dc_reshape(g, dc_slice(g, qkv, 2, 0, D), split, 4), to_bhnd, 4);
    dc_value *k = dc_transpose(g, dc_reshape(g, dc_slice(g, qkv, 2, D, 2 * D), split, 4), to_bhdn, 4);
    dc_value *v = dc_transpose(g, dc_reshape(g, dc_slice(g, qkv, 2, 2 * D, 3 * D), split, 4), to_bhnd, 4);
    dc_value *scores;
    if (scale_scores)
        scores = dc_mul(g, dc_scalar(g, t, scale), dc_matmul(g, q, k));
    else
        scores = dc_matmul(g, dc_mul(g, q, dc_scalar(g, t, scale)), k);
    dc_value *attn = dc_softmax(g, scores, -1);
    if (leak)
        DC_ASSERT_OK(dc_output(g, attn));
    return dc_reshape(g, dc_transpose(g, dc_matmul(g, attn, v), to_bhnd, 4), merged, 3);
}

/* The same as timm's model exports it (qkv.unbind): one 5-d Reshape and
 * Transpose, Split into q, k, v, Squeeze, keys transposed, scale on scores. */
static dc_value *attention_packed(dc_graph *g, dc_value *qkv, int64_t heads, double scale)
{
    int64_t B = qkv->type.dims[0].size, N = qkv->type.dims[1].size, D = qkv->type.dims[2].size / 3;
    const int64_t five[] = {B, N, 3, heads, D / heads}, merged[] = {B, N, D};
    const int64_t unbind[] = {2, 0, 3, 1, 4}, keys_t[] = {0, 1, 3, 2}, back[] = {0, 2, 1, 3};
    dc_value *parts = dc_transpose(g, dc_reshape(g, qkv, five, 5), unbind, 5);
    dc_node *split = dc_node_begin(g, "Split", "", &parts, 1, 3);
    DC_ASSERT_OK(dc_node_set_int(split, g, "axis", 0));
    dc_node_finish(g, split);
    dc_value *qkv_heads[3];
    for (int i = 0; i < 3; i++) {
        const int64_t axis0 = 0;
        dc_value *in[] = {split->outputs[i], dc_const_i64(g, &axis0, 1)};
        qkv_heads[i] = dc_node_finish(g, dc_node_begin(g, "Squeeze", "", in, 2, 1));
    }
    dc_value *scores = dc_mul(g, dc_matmul(g, qkv_heads[0], dc_transpose(g, qkv_heads[1], keys_t, 4)),
                              dc_scalar(g, qkv->type.dtype, scale));
    dc_value *o = dc_matmul(g, dc_softmax(g, scores, -1), qkv_heads[2]);
    return dc_reshape(g, dc_transpose(g, o, back, 4), merged, 3);
}

static void test_attention_gradient(void)
{
    const int64_t d[] = {2, 3, 12};
    for (int lse = 0; lse < 2; lse++) {
        dc_graph *g = new_graph(lse ? "attention_fd" : "attention_fd_recompute");
        dc_value *qkv = dc_param(g, "qkv", random_tensor(DC_F64, 3, d, -1.5, 1.5));
        check_fd(g, attention_node(g, qkv, 2, 0.75, lse)->outputs[0], &qkv, 1);
        dc_graph_destroy(g);
    }
}

/* c.Attention and c.AttentionGrad against the reference kernels, and the
 * reference Attention against the composition it replaces. */
static void test_attention_kernels(void)
{
    const dc_dtype types[] = {DC_F32, DC_F64};
    for (int t = 0; t < 2; t++) {
        const int64_t d[] = {3, 37, 72}, od[] = {3, 37, 24};
        dc_graph *g = new_graph("attention_kernels");
        dc_value *qkv = dc_input(g, "qkv", types[t], 3, d), *dout = dc_input(g, "dO", types[t], 3, od);
        dc_node *att = attention_node(g, qkv, 3, 0.35, true);
        dc_value *in[] = {dout, qkv, att->outputs[0], att->outputs[1]};
        dc_node *grad = dc_node_begin(g, "AttentionGrad", DC_DOMAIN_DINOC, in, 4, 1);
        DC_ASSERT_OK(dc_node_set_int(grad, g, "num_heads", 3));
        DC_ASSERT_OK(dc_node_set_float(grad, g, "scale", 0.35f));
        DC_ASSERT_OK(dc_output(g, att->outputs[0]));
        DC_ASSERT_OK(dc_output(g, att->outputs[1]));
        DC_ASSERT_OK(dc_output(g, dc_node_finish(g, grad)));
        DC_ASSERT_OK(dc_output(g, attention_composition(g, qkv, 3, 0.35f, false, false)));
        dc_tensor *ins[2] = {random_tensor(types[t], 3, d, -2, 2), random_tensor(types[t], 3, od, -1, 1)};
        dc_tensor *want[4] = {NULL}, *got[4] = {NULL};
        DC_ASSERT_OK(dc_interpret(g, ins, 2, want));
        char kernel[64] = "";
        run_compiled(g, ins, got, "AttentionGrad", kernel, sizeof kernel);
        CU_ASSERT_STRING_EQUAL(kernel, "c.AttentionGrad");
        double tol = types[t] == DC_F32 ? 2e-5 : 1e-12;
        for (int i = 0; i < 4; i++) {
            double err = max_rel_diff(got[i], want[i]);
            if (!(err <= tol))
                fprintf(stderr, "\n    attention %s output %d: error %g\n", dc_dtype_name(types[t]), i, err);
            CU_ASSERT(err <= tol);
        }
        CU_ASSERT(max_rel_diff(want[0], want[3]) <= (types[t] == DC_F32 ? 1e-6 : 1e-12));
        free_tensors(ins, 2);
        free_tensors(want, 4);
        free_tensors(got, 4);
        dc_graph_destroy(g);
    }
}

/* dc_fuse_attention on both scale placements and the exported (packed) form
 * (fused, same numbers) and on a composition whose probabilities are also an
 * output (left alone). */
static void test_fuse_attention(void)
{
    const int64_t d[] = {2, 5, 24};
    for (int form = 0; form < 4; form++) {
        dc_graph *g = new_graph("attention_forms");
        dc_value *qkv = dc_input(g, "qkv", DC_F64, 3, d);
        DC_ASSERT_OK(dc_output(g, form == 3 ? attention_packed(g, qkv, 2, 0.5)
                                            : attention_composition(g, qkv, 2, 0.5, form == 1,
                                                                    form == 2)));
        dc_tensor *ins[1] = {random_tensor(DC_F64, 3, d, -2, 2)}, *before[2] = {NULL}, *after[2] = {NULL};
        int n_out = g->n_outputs;
        DC_ASSERT_OK(dc_interpret(g, ins, 1, before));
        int n = -1;
        DC_ASSERT_OK(dc_fuse_attention(g, &n));
        CU_ASSERT_EQUAL(n, form != 2);
        DC_ASSERT_OK(dc_graph_verify(g));
        int softmaxes = 0, attentions = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            softmaxes += strcmp(g->nodes[i]->op_type, "Softmax") == 0;
            attentions += strcmp(g->nodes[i]->op_type, "Attention") == 0;
        }
        CU_ASSERT_EQUAL(softmaxes, form == 2);
        CU_ASSERT_EQUAL(attentions, form != 2);
        if (form != 2)
            CU_ASSERT_EQUAL(g->n_nodes, 1);
        DC_ASSERT_OK(dc_interpret(g, ins, 1, after));
        for (int i = 0; i < n_out; i++)
            CU_ASSERT(max_rel_diff(after[i], before[i]) <= 1e-12);
        free_tensors(ins, 1);
        free_tensors(before, 2);
        free_tensors(after, 2);
        dc_graph_destroy(g);
    }
}

/* loss = Σ attention(X·W) ⊙ R, fused before autodiff or not: the same loss
 * and dW, compiled. */
static void test_fused_attention_training(void)
{
    const int64_t xd[] = {2, 9, 8}, wd[] = {8, 36}, rd[] = {2, 9, 12};
    dc_tensor *results[2][2] = {{NULL}};
    for (int fused = 0; fused < 2; fused++) {
        rng = 7;
        dc_graph *g = new_graph("attention_training");
        dc_value *x = dc_input(g, "x", DC_F32, 3, xd);
        dc_value *w = dc_state(g, "w", random_tensor(DC_F32, 2, wd, -0.5, 0.5));
        dc_value *r = dc_param(g, "r", random_tensor(DC_F32, 3, rd, -1, 1));
        dc_value *y = attention_composition(g, dc_matmul(g, x, w), 3, 0.5, false, false);
        dc_value *loss = dc_reduce(g, "ReduceSum", dc_mul(g, y, r), NULL, 0, false);
        DC_ASSERT_OK(dc_output(g, loss));
        int n = 0;
        if (fused)
            DC_ASSERT_OK(dc_fuse_attention(g, &n));
        CU_ASSERT_EQUAL(n, fused);
        dc_value *grad = NULL;
        DC_ASSERT_OK(dc_autodiff(g, loss, &w, 1, &grad));
        DC_ASSERT_OK(dc_output(g, grad));
        dc_tensor *ins[1] = {random_tensor(DC_F32, 3, xd, -2, 2)};
        run_compiled(g, ins, results[fused], NULL, NULL, 0);
        free_tensors(ins, 1);
        dc_graph_destroy(g);
    }
    for (int i = 0; i < 2; i++) {
        double err = max_rel_diff(results[1][i], results[0][i]);
        if (!(err <= 1e-5))
            fprintf(stderr, "\n    fused attention training output %d: error %g\n", i, err);
        CU_ASSERT(err <= 1e-5);
    }
    free_tensors(results[0], 2);
    free_tensors(results[1], 2);
}

/* ------------------------------------------------------------ LayerNormGrad */

/* LayerNormalization's gradient through LayerNormGrad (full-width Scale and
 * B) and through the composition (Scale broadcast over the normalised axes),
 * against finite differences. */
static void test_layer_norm_gradient(void)
{
    const int64_t x[] = {2, 3, 5}, full[] = {3, 5}, row[] = {5};
    for (int broadcast = 0; broadcast < 2; broadcast++) {
        dc_graph *g = new_graph(broadcast ? "layernorm_broadcast_fd" : "layernorm_fused_fd");
        dc_value *p[3] = {dc_param(g, "x", random_tensor(DC_F64, 3, x, -2, 2)),
                          dc_param(g, "scale", random_tensor(DC_F64, broadcast ? 1 : 2, broadcast ? row : full, 0.5, 1.5)),
                          dc_param(g, "bias", random_tensor(DC_F64, 2, full, -1, 1))};
        check_fd(g, dc_layer_norm(g, p[0], p[1], p[2], 1, 1e-5f), p, 3);
        dc_graph_destroy(g);
    }
}

/* c.LayerNormGrad against the reference, with the forward's statistics and
 * recomputing them. */
static void test_layer_norm_grad_kernel(void)
{
    const dc_dtype types[] = {DC_F32, DC_F64};
    for (int t = 0; t < 2; t++)
        for (int stats = 0; stats < 2; stats++) {
            const int64_t xd[] = {4, 33, 48}, sd[] = {48};
            dc_graph *g = new_graph("layernorm_grad_kernel");
            dc_value *x = dc_input(g, "x", types[t], 3, xd), *dy = dc_input(g, "dy", types[t], 3, xd);
            dc_value *scale = dc_input(g, "scale", types[t], 1, sd), *bias = dc_input(g, "bias", types[t], 1, sd);
            dc_value *fin[] = {x, scale, bias};
            dc_node *ln = dc_node_begin(g, "LayerNormalization", "", fin, 3, 3);
            DC_ASSERT_OK(dc_node_set_int(ln, g, "stash_type", types[t]));
            CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, ln));
            dc_value *in[] = {dy, x, scale, ln->outputs[1], ln->outputs[2]};
            dc_node *n = dc_node_begin(g, "LayerNormGrad", DC_DOMAIN_DINOC, in, stats ? 5 : 3, 3);
            DC_ASSERT_OK(dc_node_set_int(n, g, "axis", -1));
            CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, n));
            for (int i = 0; i < 3; i++)
                DC_ASSERT_OK(dc_output(g, n->outputs[i]));
            dc_tensor *ins[4] = {random_tensor(types[t], 3, xd, -2, 2), random_tensor(types[t], 3, xd, -1, 1),
                                 random_tensor(types[t], 1, sd, 0.5, 1.5), random_tensor(types[t], 1, sd, -1, 1)};
            dc_tensor *want[3] = {NULL}, *got[3] = {NULL};
            DC_ASSERT_OK(dc_interpret(g, ins, 4, want));
            char kernel[64] = "";
            run_compiled(g, ins, got, "LayerNormGrad", kernel, sizeof kernel);
            CU_ASSERT_STRING_EQUAL(kernel, "c.LayerNormGrad");
            double tol = types[t] == DC_F32 ? 1e-5 : 1e-12;
            for (int i = 0; i < 3; i++) {
                double err = max_rel_diff(got[i], want[i]);
                if (!(err <= tol))
                    fprintf(stderr, "\n    c.LayerNormGrad %s stats %d output %d: error %g\n",
                            dc_dtype_name(types[t]), stats, i, err);
                CU_ASSERT(err <= tol);
            }
            free_tensors(ins, 4);
            free_tensors(want, 3);
            free_tensors(got, 3);
            dc_graph_destroy(g);
        }
}

/* dc_fuse_layer_norm gives an f32 LayerNormalization its statistics; the
 * training graph then differentiates through LayerNormGrad reading them, and
 * computes what the unfused graph computes. An f64 node with the default
 * f32 stash type is left alone. */
static void test_fuse_layer_norm(void)
{
    const int64_t xd[] = {3, 7, 16}, sd[] = {16};
    dc_tensor *results[2][4] = {{NULL}};
    for (int fused = 0; fused < 2; fused++) {
        rng = 11;
        dc_graph *g = new_graph("layernorm_training");
        dc_value *x = dc_input(g, "x", DC_F32, 3, xd);
        dc_value *w[3] = {dc_state(g, "scale", random_tensor(DC_F32, 1, sd, 0.5, 1.5)),
                          dc_state(g, "bias", random_tensor(DC_F32, 1, sd, -1, 1)), x};
        dc_value *r = dc_param(g, "r", random_tensor(DC_F32, 3, xd, -1, 1));
        dc_value *y = dc_layer_norm(g, dc_unary(g, "Tanh", x), w[0], w[1], -1, 1e-5f);
        dc_value *loss = dc_reduce(g, "ReduceSum", dc_mul(g, y, r), NULL, 0, false);
        DC_ASSERT_OK(dc_output(g, loss));
        int n = 0;
        if (fused)
            DC_ASSERT_OK(dc_fuse_layer_norm(g, &n));
        CU_ASSERT_EQUAL(n, fused);
        DC_ASSERT_OK(dc_graph_verify(g));
        dc_value *grads[3] = {NULL};
        DC_ASSERT_OK(dc_autodiff(g, loss, w, 3, grads));
        int stats_read = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (strcmp(g->nodes[i]->op_type, "LayerNormGrad") == 0)
                stats_read += g->nodes[i]->n_inputs == 5;
        CU_ASSERT_EQUAL(stats_read, fused);
        for (int i = 0; i < 3; i++)
            DC_ASSERT_OK(dc_output(g, grads[i]));
        dc_tensor *ins[1] = {random_tensor(DC_F32, 3, xd, -2, 2)};
        run_compiled(g, ins, results[fused], NULL, NULL, 0);
        free_tensors(ins, 1);
        dc_graph_destroy(g);
    }
    for (int i = 0; i < 4; i++) {
        double err = max_rel_diff(results[1][i], results[0][i]);
        if (!(err <= 1e-5))
            fprintf(stderr, "\n    fused layer norm output %d: error %g\n", i, err);
        CU_ASSERT(err <= 1e-5);
    }
    free_tensors(results[0], 4);
    free_tensors(results[1], 4);
    dc_graph *g = new_graph("layernorm_f64");
    const int64_t d[] = {2, 4};
    dc_value *x = dc_input(g, "x", DC_F64, 2, d);
    DC_ASSERT_OK(dc_output(g, dc_layer_norm(g, x, dc_param(g, "s", random_tensor(DC_F64, 1, d + 1, 1, 2)),
                                            NULL, -1, 1e-5f)));
    int n = -1;
    DC_ASSERT_OK(dc_fuse_layer_norm(g, &n));
    CU_ASSERT_EQUAL(n, 0);
    dc_graph_destroy(g);
}

void register_fused_ops(void)
{
    static const dc_test_case tests[] = {
        {"CrossEntropySoft gradients vs finite differences", test_cross_entropy_gradient},
        {"Gelu gradient vs finite differences", test_gelu_gradient},
        {"c.CrossEntropySoft vs reference and composition", test_cross_entropy_kernel},
        {"CrossEntropySoft shape errors", test_cross_entropy_errors},
        {"Gelu and GeluGrad kernels vs reference", test_gelu_kernels},
        {"dc_fuse_gelu golden IR", test_fuse_gelu_golden},
        {"dc_fuse_gelu forms and non-matches", test_fuse_gelu_forms},
        {"fused training step equals unfused", test_fused_training_step},
        {"Attention gradient vs finite differences", test_attention_gradient},
        {"c.Attention and c.AttentionGrad vs reference", test_attention_kernels},
        {"dc_fuse_attention forms and non-match", test_fuse_attention},
        {"fused attention training equals unfused", test_fused_attention_training},
        {"LayerNormalization gradients vs finite differences", test_layer_norm_gradient},
        {"c.LayerNormGrad vs reference", test_layer_norm_grad_kernel},
        {"dc_fuse_layer_norm and the fused backward", test_fuse_layer_norm},
        {NULL, NULL},
    };
    dc_add_suite("fused_ops", tests);
}
