/* The pass pipeline (passes/pipeline.h), common-subexpression elimination and
 * the fusion rules (passes/fuse/): golden IR before/after, numerical
 * equivalence through the reference interpreter (unfused vs fused graph), and
 * the compiled plans (runtime kernels of the fused ops) against it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "eliminate_common_subexpressions.h"
#include "fuse.h"
#include "infer_shapes.h"
#include "optimizer.h"
#include "pass_test_util.h"
#include "pipeline.h"
#include "run_model.h"

enum { MAX_IO = 16 };

/* The graph's outputs on fixed random inputs: through the interpreter, or
 * compiled through the pipeline and run by the runtime (a fresh copy of the
 * graph is needed then: the pipeline changes it). */
typedef dc_graph *(*graph_fn)(void);

static void interpret(graph_fn make, unsigned seed, dc_tensor **outs, int *n_outs)
{
    dc_graph *g = make();
    dc_tensor *ins[MAX_IO] = {NULL};
    int n = random_inputs(g, seed, ins, MAX_IO);
    DC_ASSERT_OK(run_graph(g, ins, n, outs));
    *n_outs = g->n_outputs;
    free_tensors(ins, n);
    dc_graph_destroy(g);
}

static void compile_and_run(graph_fn make, unsigned seed, bool fuse, dc_tensor **outs)
{
    dc_graph *g = make();
    dc_tensor *ins[MAX_IO] = {NULL};
    int n = random_inputs(g, seed, ins, MAX_IO);
    dc_named_tensor named[MAX_IO];
    for (int i = 0, k = 0; i < g->n_inputs && k < n; i++)
        if (!g->inputs[i]->is_initializer)
            named[k] = (dc_named_tensor){g->inputs[i]->name, ins[k]}, k++;
    dc_plan *plan = NULL;
    dc_tensor **got = NULL;
    int n_got = 0;
    DC_ASSERT_OK(dc_pipeline_compile(g, &(dc_pipeline_options){.no_fuse = !fuse}, &plan));
    if (plan)
        DC_ASSERT_OK(dc_run_plan(plan, named, n, NULL, NULL, &got, &n_got));
    for (int i = 0; i < n_got; i++)
        outs[i] = got[i];
    free(got);
    dc_plan_destroy(plan);
    free_tensors(ins, n);
    dc_graph_destroy(g);
}

/* Interpreted before and after `pass` within tol; compiled with and without
 * fusion within tol of the interpreter. */
static void check_equivalent(graph_fn make, dc_status (*pass)(dc_graph *g, int *n), int want_n,
                             double tol)
{
    dc_tensor *ref[MAX_IO] = {NULL}, *fused[MAX_IO] = {NULL}, *plan_on[MAX_IO] = {NULL},
              *plan_off[MAX_IO] = {NULL};
    int n_out = 0, n = 0;
    interpret(make, 7, ref, &n_out);
    dc_graph *g = make();
    DC_ASSERT_OK(pass(g, &n));
    CU_ASSERT_EQUAL(n, want_n);
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_tensor *ins[MAX_IO] = {NULL};
    int n_in = random_inputs(g, 7, ins, MAX_IO);
    DC_ASSERT_OK(run_graph(g, ins, n_in, fused));
    free_tensors(ins, n_in);
    dc_graph_destroy(g);
    compile_and_run(make, 7, true, plan_on);
    compile_and_run(make, 7, false, plan_off);
    for (int i = 0; i < n_out; i++) {
        CU_ASSERT(max_rel_diff(fused[i], ref[i]) <= tol);
        CU_ASSERT(max_rel_diff(plan_on[i], ref[i]) <= tol);
        CU_ASSERT(max_rel_diff(plan_off[i], ref[i]) <= tol);
    }
    free_tensors(ref, n_out);
    free_tensors(fused, n_out);
    free_tensors(plan_on, n_out);
    free_tensors(plan_off, n_out);
}

/* ---- CSE ------------------------------------------------------------------- */

/* Two identical Exp(x) and the Adds over them; a graph output that duplicates
 * an inner value keeps its own node (its name is the interface). */
static dc_graph *cse_graph(void)
{
    dc_graph *g = dc_graph_create("cse");
    int64_t d[2] = {2, 3};
    dc_value *x = dc_input(g, "x", DC_F32, 2, d), *b = dc_param_f32(g, "b", 1, d + 1, 0.5f);
    dc_value *e1 = dc_unary(g, "Exp", x), *e2 = dc_unary(g, "Exp", x);
    /* One call per statement: C leaves the order of arguments' calls open,
     * and fresh names must not depend on it. */
    dc_value *s1 = dc_add(g, e1, b);
    dc_value *s2 = dc_add(g, e2, b);
    dc_output(g, dc_mul(g, s1, s2));
    dc_output(g, dc_unary(g, "Exp", x));
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static dc_status run_cse(dc_graph *g, int *n)
{
    return dc_eliminate_common_subexpressions(g, n);
}

static void test_cse(void)
{
    dc_graph *g = cse_graph();
    int n = 0;
    DC_ASSERT_OK(dc_eliminate_common_subexpressions(g, &n));
    CU_ASSERT_EQUAL(n, 2);
    EXPECT_TEXT(g,
                "graph cse (ir 8, opset 17)\n"
                "  input  x: f32[2,3]\n"
                "  init   b = <f32[3] {0.5, 0.5, 0.5}>\n"
                "  t_1: f32[2,3] = Exp(x)  # Exp_0\n"
                "  t_5: f32[2,3] = Add(t_1, b)  # Add_4\n"
                "  t_9: f32[2,3] = Mul(t_5, t_5)  # Mul_8\n"
                "  t_11: f32[2,3] = Exp(x)  # Exp_10\n"
                "  output t_9: f32[2,3]\n"
                "  output t_11: f32[2,3]\n",
                "after CSE");
    dc_graph_destroy(g);
    check_equivalent(cse_graph, run_cse, 2, 1e-6);
}

/* Two ReduceSums over the same axes, each with its own axes constant (as the
 * builder and autodiff make them): one stays. A ReduceSum over other axes
 * stays too. */
static dc_graph *cse_constants_graph(void)
{
    dc_graph *g = dc_graph_create("cse_constants");
    int64_t d[2] = {2, 3}, one = 1, zero = 0;
    dc_value *x = dc_input(g, "x", DC_F32, 2, d);
    dc_value *s1 = dc_reduce(g, "ReduceSum", x, &one, 1, true);
    dc_value *s2 = dc_reduce(g, "ReduceSum", x, &one, 1, true);
    dc_output(g, dc_mul(g, s1, s2));
    dc_output(g, dc_reduce(g, "ReduceSum", x, &zero, 1, true));
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_cse_constants(void)
{
    dc_graph *g = cse_constants_graph();
    int n = 0;
    DC_ASSERT_OK(dc_eliminate_common_subexpressions(g, &n));
    CU_ASSERT_EQUAL(n, 1);
    EXPECT_TEXT(g,
                "graph cse_constants (ir 8, opset 17)\n"
                "  input  x: f32[2,3]\n"
                "  init   const_0 = <i64[1] {1}>\n"
                "  init   const_3 = <i64[1] {1}>\n"
                "  init   const_8 = <i64[1] {0}>\n"
                "  t_2: f32[2,1] = ReduceSum(x, const_0) {keepdims=1}  # ReduceSum_1\n"
                "  t_7: f32[2,1] = Mul(t_2, t_2)  # Mul_6\n"
                "  t_10: f32[1,3] = ReduceSum(x, const_8) {keepdims=1}  # ReduceSum_9\n"
                "  output t_7: f32[2,1]\n"
                "  output t_10: f32[1,3]\n",
                "after CSE over equal constants");
    dc_graph_destroy(g);
    check_equivalent(cse_constants_graph, run_cse, 1, 1e-6);
}

/* ---- element-wise chains ------------------------------------------------- */

/* y = Relu((x + b)·gamma + r)·0.5, and z = x + c read by a Mul and as an
 * output: z stays, the Mul and Neg after it fuse. */
static dc_graph *chain_graph(void)
{
    dc_graph *g = dc_graph_create("chain");
    int64_t d[2] = {4, 8};
    dc_value *x = dc_input(g, "x", DC_F32, 2, d), *r = dc_input(g, "r", DC_F32, 2, d);
    dc_value *b = dc_param_f32(g, "b", 1, d + 1, 0.25f), *gamma = dc_param_f32(g, "gamma", 1, d + 1, 2.0f);
    dc_value *h = dc_add(g, dc_mul(g, dc_add(g, x, b), gamma), r);
    dc_value *relu = dc_unary(g, "Relu", h);
    dc_output(g, dc_mul(g, relu, dc_scalar_f32(g, 0.5f)));
    dc_value *z = dc_add(g, x, dc_param_f32(g, "c", 2, d, -0.5f));
    dc_output(g, dc_unary(g, "Neg", dc_mul(g, z, r)));
    dc_output(g, z);
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_elementwise(void)
{
    dc_graph *g = chain_graph();
    int n = 0;
    DC_ASSERT_OK(dc_fuse_elementwise(g, &n));
    CU_ASSERT_EQUAL(n, 2);
    DC_ASSERT_OK(dc_graph_verify(g));
    EXPECT_TEXT(g,
                "graph chain (ir 8, opset 17)\n"
                "  input  x: f32[4,8]\n"
                "  input  r: f32[4,8]\n"
                "  init   b = <f32[8] {0.25, 0.25, 0.25, 0.25, 0.25, 0.25, ...}>\n"
                "  init   gamma = <f32[8] {2, 2, 2, 2, 2, 2, ...}>\n"
                "  init   const_8 = <f32[] {0.5}>\n"
                "  init   c = <f32[4,8] {-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, ...}>\n"
                "  t_10: f32[4,8] = ai.dinoc.FusedElementwise(x, b, gamma, r) {program=[1, 0, 1, 3, 5, 2, 1, 6, 3, 25, 7, 0, 3, 8, 4], constants=[0.5]}  # FusedElementwise_18\n"
                "  t_12: f32[4,8] = Add(x, c)  # Add_11\n"
                "  t_16: f32[4,8] = ai.dinoc.FusedElementwise(t_12, r) {program=[3, 0, 1, 16, 2, 0]}  # FusedElementwise_17\n"
                "  output t_10: f32[4,8]\n"
                "  output t_16: f32[4,8]\n"
                "  output t_12: f32[4,8]\n",
                "after element-wise fusion");
    dc_graph_destroy(g);
    check_equivalent(chain_graph, dc_fuse_elementwise, 2, 1e-6);
}

/* ---- MatMul + bias (+ activation) ------------------------------------------ */

/* y = Relu(x·Wᵀ + b) (a Linear layer: Transpose, MatMul, Add, Relu), and
 * h = x2·B + c read by Tanh and as an output: h keeps its Add's place, the
 * Tanh stays outside. */
static dc_graph *linear_graph(void)
{
    dc_graph *g = dc_graph_create("linear");
    int64_t xd[3] = {2, 3, 4}, wd[2] = {5, 4}, bd[2] = {4, 6};
    dc_value *x = dc_input(g, "x", DC_F32, 3, xd);
    dc_tensor *w = NULL;
    DC_ASSERT_OK(dc_tensor_create(&w, NULL, DC_F32, 2, wd));
    for (int i = 0; w && i < 20; i++)
        ((float *)w->data)[i] = (float)(i % 7) * 0.125f - 0.375f;
    dc_value *wv = dc_param(g, "w", w), *wb = dc_param_f32(g, "wb", 1, wd, 0.1f);
    dc_output(g, dc_unary(g, "Relu", dc_linear(g, x, wv, wb)));
    dc_value *bv = dc_input(g, "B", DC_F32, 2, bd), *c = dc_param_f32(g, "c", 1, bd + 1, -0.2f);
    dc_value *h = dc_add(g, dc_matmul(g, x, bv), c);
    dc_output(g, dc_unary(g, "Tanh", h));
    dc_output(g, h);
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_matmul_bias(void)
{
    dc_graph *g = linear_graph();
    int n = 0;
    DC_ASSERT_OK(dc_fuse_matmul_bias(g, &n));
    CU_ASSERT_EQUAL(n, 2);
    EXPECT_TEXT(g,
                "graph linear (ir 8, opset 17)\n"
                "  input  x: f32[2,3,4]\n"
                "  input  B: f32[4,6]\n"
                "  init   w = <f32[5,4] {-0.375, -0.25, -0.125, 0, 0.125, 0.25, ...}>\n"
                "  init   wb = <f32[5] {0.1, 0.1, 0.1, 0.1, 0.1}>\n"
                "  init   c = <f32[6] {-0.2, -0.2, -0.2, -0.2, -0.2, -0.2}>\n"
                "  t_7: f32[2,3,5] = ai.dinoc.MatMulBias(x, w, wb) {transB=1, activation=\"Relu\"}  # MatMulBias_14\n"
                "  t_11: f32[2,3,6] = ai.dinoc.MatMulBias(x, B, c)  # MatMulBias_15\n"
                "  t_13: f32[2,3,6] = Tanh(t_11)  # Tanh_12\n"
                "  output t_7: f32[2,3,5]\n"
                "  output t_13: f32[2,3,6]\n"
                "  output t_11: f32[2,3,6]\n",
                "after MatMul + bias fusion");
    dc_graph_destroy(g);
    check_equivalent(linear_graph, dc_fuse_matmul_bias, 2, 1e-5);
}

/* MatMulBias with each activation, transposed or not, through the dnnl and
 * the C kernel, against the reference kernel. */
static void test_matmul_bias_kernels(void)
{
    static const char *const acts[] = {"", "Relu", "Tanh", "Sigmoid", "Gelu"};
    for (int a = 0; a < 5; a++)
        for (int trans = 0; trans < 2; trans++)
            for (int backend = 0; backend < 2; backend++) {
                dc_graph *g = dc_graph_create("mmb");
                DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
                int64_t xd[3] = {2, 5, 3}, wd[2] = {trans ? 4 : 3, trans ? 3 : 4}, bd[1] = {4};
                dc_value *in[3] = {dc_input(g, "x", DC_F32, 3, xd), dc_input(g, "w", DC_F32, 2, wd),
                                   dc_input(g, "bias", DC_F32, 1, bd)};
                dc_node *node = dc_node_begin(g, "MatMulBias", "ai.dinoc", in, 3, 1);
                DC_ASSERT_OK(dc_node_set_int(node, g, "transB", trans));
                DC_ASSERT_OK(dc_node_set_string(node, g, "activation", acts[a]));
                dc_output(g, dc_node_finish(g, node));
                DC_ASSERT_OK(dc_build_status(g));
                dc_tensor *ins[3] = {NULL}, *ref[1] = {NULL};
                int n = random_inputs(g, 11, ins, 3);
                DC_ASSERT_OK(run_graph(g, ins, n, ref));
                dc_plan *plan = NULL;
                DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
                CU_ASSERT_FATAL(plan && plan->n_steps == 1);
                CU_ASSERT_STRING_EQUAL(plan->steps[0].kernel, "dnnl.MatMulBias");
                if (backend) {
                    free(plan->steps[0].kernel);
                    plan->steps[0].kernel = strdup("c.MatMulBias");
                }
                dc_named_tensor named[3] = {{"x", ins[0]}, {"w", ins[1]}, {"bias", ins[2]}};
                dc_tensor **got = NULL;
                int n_got = 0;
                DC_ASSERT_OK(dc_run_plan(plan, named, 3, NULL, NULL, &got, &n_got));
                CU_ASSERT(n_got == 1 && max_rel_diff(got[0], ref[0]) <= 1e-5);
                dc_tensors_free(got, n_got);
                dc_plan_destroy(plan);
                free_tensors(ins, n);
                free_tensors(ref, 1);
                dc_graph_destroy(g);
            }
}

/* ---- transposes folded into matmuls ---------------------------------------- */

/* The transposes autodiff and Linear layers write, each in a form the rule
 * folds: y1 = x·wᵀ (w also an output: its Transpose stays for it), y2 =
 * (aᵀ·b)ᵀ, a weight gradient's form, y3 = Gemm(aᵀ, b, c) with alpha and beta,
 * y4 = (xᵀ)ᵀ + 1, y5 a 3-D transpose of a transpose, and y6 = (aᵀ·b + aᵀ·b2)ᵀ,
 * the gradient of a weight used twice. */
static dc_graph *transpose_graph(void)
{
    dc_graph *g = dc_graph_create("transposes");
    int64_t xd[2] = {3, 4}, wd[2] = {5, 4}, ad[2] = {6, 3}, bd[2] = {6, 5}, cd[2] = {3, 5},
            ud[3] = {2, 3, 4}, swap[2] = {1, 0}, p[3] = {1, 0, 2}, q[3] = {0, 2, 1};
    dc_value *x = dc_input(g, "x", DC_F32, 2, xd), *a = dc_input(g, "a", DC_F32, 2, ad);
    dc_value *b = dc_input(g, "b", DC_F32, 2, bd), *u = dc_input(g, "u", DC_F32, 3, ud);
    dc_value *w = dc_param_f32(g, "w", 2, wd, 0.25f), *c = dc_param_f32(g, "c", 2, cd, -0.5f);
    dc_value *wt = dc_transpose(g, w, swap, 2);
    dc_output(g, dc_matmul(g, x, wt));
    dc_output(g, wt);
    dc_value *atb = dc_matmul(g, dc_transpose(g, a, swap, 2), b);
    dc_output(g, dc_transpose(g, atb, swap, 2));
    dc_value *in[3] = {dc_transpose(g, a, swap, 2), b, c};
    dc_node *gemm = dc_node_begin(g, "Gemm", "", in, 3, 1);
    DC_ASSERT_OK(dc_node_set_float(gemm, g, "alpha", 0.5f));
    DC_ASSERT_OK(dc_node_set_float(gemm, g, "beta", 2.0f));
    dc_output(g, dc_node_finish(g, gemm));
    dc_value *xtt = dc_transpose(g, dc_transpose(g, x, swap, 2), swap, 2);
    dc_output(g, dc_add(g, xtt, dc_scalar_f32(g, 1.0f)));
    dc_output(g, dc_transpose(g, dc_transpose(g, u, p, 3), q, 3));
    dc_value *b2 = dc_input(g, "b2", DC_F32, 2, bd);
    dc_value *p1 = dc_matmul(g, dc_transpose(g, a, swap, 2), b);
    dc_value *p2 = dc_matmul(g, dc_transpose(g, a, swap, 2), b2);
    dc_output(g, dc_transpose(g, dc_add(g, p1, p2), swap, 2));
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_transpose(void)
{
    dc_graph *g = transpose_graph();
    int n = 0;
    DC_ASSERT_OK(dc_fuse_transpose(g, &n));
    CU_ASSERT_EQUAL(n, 11);
    DC_ASSERT_OK(dc_graph_verify(g));
    EXPECT_TEXT(g,
                "graph transposes (ir 8, opset 17)\n"
                "  input  x: f32[3,4]\n"
                "  input  a: f32[6,3]\n"
                "  input  b: f32[6,5]\n"
                "  input  u: f32[2,3,4]\n"
                "  input  b2: f32[6,5]\n"
                "  init   w = <f32[5,4] {0.25, 0.25, 0.25, 0.25, 0.25, 0.25, ...}>\n"
                "  init   c = <f32[3,5] {-0.5, -0.5, -0.5, -0.5, -0.5, -0.5, ...}>\n"
                "  init   const_18 = <f32[] {1}>\n"
                "  t_1: f32[4,5] = Transpose(w) {perm=[1, 0]}  # Transpose_0\n"
                "  t_3: f32[3,5] = Gemm(x, w) {transB=1}  # Gemm_37\n"
                "  t_9: f32[5,3] = Gemm(b, a) {transA=1}  # Gemm_39\n"
                "  t_13: f32[3,5] = Gemm(a, b, c) {transA=1, alpha=0.5, beta=2}  # Gemm_40\n"
                "  t_20: f32[3,4] = Add(x, const_18)  # Add_19\n"
                "  t_24: f32[3,4,2] = Transpose(u) {perm=[1, 2, 0]}  # Transpose_41\n"
                "  t_45: f32[5,3] = Gemm(b, a) {transA=1}  # Gemm_49\n"
                "  t_47: f32[5,3] = Gemm(b2, a) {transA=1}  # Gemm_50\n"
                "  t_36: f32[5,3] = Add(t_45, t_47)  # Add_48\n"
                "  output t_3: f32[3,5]\n"
                "  output t_1: f32[4,5]\n"
                "  output t_9: f32[5,3]\n"
                "  output t_13: f32[3,5]\n"
                "  output t_20: f32[3,4]\n"
                "  output t_24: f32[3,4,2]\n"
                "  output t_36: f32[5,3]\n",
                "after transpose folding");
    dc_graph_destroy(g);
    check_equivalent(transpose_graph, dc_fuse_transpose, 11, 1e-5);
}

/* ---- AdamW groups -------------------------------------------------------- */

/* AdamW over four parameters: weights with decay, biases without: two
 * groups. The updated values are outputs too, so the interpreter shows them. */
static dc_graph *adamw_graph(void)
{
    dc_graph *g = dc_graph_create("adamw");
    static const char *const names[4] = {"fc.weight", "fc.bias", "proj.weight", "proj.bias"};
    int64_t dims[4][2] = {{3, 2}, {3, 1}, {2, 3}, {2, 1}};
    dc_value *params[4], *grads[4];
    for (int i = 0; i < 4; i++) {
        int rank = i % 2 ? 1 : 2;
        params[i] = dc_param_f32(g, names[i], rank, dims[i], 0.1f * (float)(i + 1));
        char gname[64];
        snprintf(gname, sizeof gname, "%s.grad", names[i]);
        grads[i] = dc_input(g, gname, DC_F32, rank, dims[i]);
    }
    dc_param_group groups[1] = {{"*.bias", 1.0f, false, NULL}};
    dc_adamw_options opt = {.groups = groups, .n_groups = 1};
    DC_ASSERT_OK(dc_add_adamw(g, params, grads, 4, &opt));
    for (int i = 0; i < 4; i++)
        dc_output(g, dc_graph_state_update(g, params[i])->next);
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_adamw(void)
{
    dc_graph *g = adamw_graph();
    int n = 0;
    DC_ASSERT_OK(dc_fuse_adamw(g, &n));
    CU_ASSERT_EQUAL(n, 2);
    EXPECT_TEXT(g,
                "graph adamw (ir 8, opset 17, ai.dinoc 1)\n"
                "  input  fc.weight.grad: f32[3,2]\n"
                "  input  fc.bias.grad: f32[3]\n"
                "  input  proj.weight.grad: f32[2,3]\n"
                "  input  proj.bias.grad: f32[2]\n"
                "  input  lr: f32[]\n"
                "  input  weight_decay: f32[]\n"
                "  init   fc.weight = <f32[3,2] {0.1, 0.1, 0.1, 0.1, 0.1, 0.1}>\n"
                "  init   fc.bias = <f32[3] {0.2, 0.2, 0.2}>\n"
                "  init   proj.weight = <f32[2,3] {0.3, 0.3, 0.3, 0.3, 0.3, 0.3}>\n"
                "  init   proj.bias = <f32[2] {0.4, 0.4}>\n"
                "  init   optimizer.step = <i64[] {0}>\n"
                "  init   const_0 = <i64[] {1}>\n"
                "  init   fc.weight.exp_avg = <f32[3,2] {0, 0, 0, 0, 0, 0}>\n"
                "  init   fc.weight.exp_avg_sq = <f32[3,2] {0, 0, 0, 0, 0, 0}>\n"
                "  init   fc.bias.exp_avg = <f32[3] {0, 0, 0}>\n"
                "  init   fc.bias.exp_avg_sq = <f32[3] {0, 0, 0}>\n"
                "  init   proj.weight.exp_avg = <f32[2,3] {0, 0, 0, 0, 0, 0}>\n"
                "  init   proj.weight.exp_avg_sq = <f32[2,3] {0, 0, 0, 0, 0, 0}>\n"
                "  init   proj.bias.exp_avg = <f32[2] {0, 0}>\n"
                "  init   proj.bias.exp_avg_sq = <f32[2] {0, 0}>\n"
                "  t_2: i64[] = Add(optimizer.step, const_0)  # Add_1\n"
                "  t_4: f32[3,2], t_5: f32[3,2], t_6: f32[3,2], t_12: f32[2,3], t_13: f32[2,3], t_14: f32[2,3] = ai.dinoc.AdamWGroup(lr, weight_decay, t_2, fc.weight, fc.weight.grad, fc.weight.exp_avg, fc.weight.exp_avg_sq, proj.weight, proj.weight.grad, proj.weight.exp_avg, proj.weight.exp_avg_sq) {beta1=0.9, beta2=0.999, epsilon=1e-08, lr_scale=1, decay=1}  # AdamWGroup_19\n"
                "  t_8: f32[3], t_9: f32[3], t_10: f32[3], t_16: f32[2], t_17: f32[2], t_18: f32[2] = ai.dinoc.AdamWGroup(lr, weight_decay, t_2, fc.bias, fc.bias.grad, fc.bias.exp_avg, fc.bias.exp_avg_sq, proj.bias, proj.bias.grad, proj.bias.exp_avg, proj.bias.exp_avg_sq) {beta1=0.9, beta2=0.999, epsilon=1e-08, lr_scale=1, decay=0}  # AdamWGroup_20\n"
                "  output t_4: f32[3,2]\n"
                "  output t_8: f32[3]\n"
                "  output t_12: f32[2,3]\n"
                "  output t_16: f32[2]\n",
                "after AdamW grouping");
    dc_graph_destroy(g);
    check_equivalent(adamw_graph, dc_fuse_adamw, 2, 1e-6);
}

/* ---- the pipeline -------------------------------------------------------- */

static void test_pipeline_order(void)
{
    const char *names[16];
    int n = dc_pipeline_order(NULL, names, 16);
    CU_ASSERT_EQUAL(n, 9);
    const char *want[] = {"infer-shapes", "fold-constants", "eliminate-dead-code", "cse",
                          "fuse-forward", "fuse-final", "lower", "schedule-collectives",
                          "plan-memory"};
    for (int i = 0; i < n && i < 9; i++)
        CU_ASSERT_STRING_EQUAL(names[i], want[i]);
    dc_graph_transform t = {NULL, NULL};
    n = dc_pipeline_order(&(dc_pipeline_options){.training = &t}, names, 16);
    CU_ASSERT_EQUAL(n, 12);
    CU_ASSERT_STRING_EQUAL(names[3], "make-training-step");
    CU_ASSERT(dc_pipeline_has_pass("cse") && !dc_pipeline_has_pass("fuse"));
}

/* The log names the passes (fusion marked off), --print-after prints the IR. */
static void test_pipeline_log(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_FATAL(f != NULL);
    dc_graph *g = cse_graph();
    dc_plan *plan = NULL;
    dc_pipeline_options opt = {.no_fuse = true, .log = f, .print_after = "cse", .print_to = f};
    DC_ASSERT_OK(dc_pipeline_compile(g, &opt, &plan));
    fclose(f);
    const char *want = "passes: infer-shapes, fold-constants, eliminate-dead-code, cse, "
                       "fuse-forward (off), fuse-final (off), lower, schedule-collectives, "
                       "plan-memory\n"
                       "cse: 2 nodes removed\n"
                       "# IR after cse\n"
                       "graph cse (ir 8, opset 17)\n";
    CU_ASSERT(text && strncmp(text, want, strlen(want)) == 0);
    if (text && strncmp(text, want, strlen(want)) != 0)
        fprintf(stderr, "\n---- pipeline log:\n%s----\n", text);
    CU_ASSERT(plan && plan->n_steps == 4);
    free(text);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

/* DINOC_NO_FUSE turns fusion off whatever the options say. */
static void test_pipeline_env(void)
{
    const char *old = getenv("DINOC_NO_FUSE");
    char *saved = old ? strdup(old) : NULL;
    setenv("DINOC_NO_FUSE", "1", 1);
    CU_ASSERT_FALSE(dc_pipeline_fuses(NULL));
    setenv("DINOC_NO_FUSE", "0", 1);
    CU_ASSERT_TRUE(dc_pipeline_fuses(NULL));
    CU_ASSERT_FALSE(dc_pipeline_fuses(&(dc_pipeline_options){.no_fuse = true}));
    if (saved)
        setenv("DINOC_NO_FUSE", saved, 1);
    else
        unsetenv("DINOC_NO_FUSE");
    free(saved);
}

void register_pass_fusion(void)
{
    static const dc_test_case tests[] = {
        {"CSE: golden and equivalence", test_cse},
        {"CSE: constants equal by contents", test_cse_constants},
        {"element-wise chains: golden and equivalence", test_elementwise},
        {"MatMul + bias (+ activation): golden and equivalence", test_matmul_bias},
        {"MatMulBias kernels (dnnl, c) vs reference", test_matmul_bias_kernels},
        {"transposes into matmuls: golden and equivalence", test_transpose},
        {"AdamW groups: golden and equivalence", test_adamw},
        {"pipeline: pass order", test_pipeline_order},
        {"pipeline: log and --print-after", test_pipeline_log},
        {"pipeline: DINOC_NO_FUSE", test_pipeline_env},
        {NULL, NULL},
    };
    dc_add_suite("pass_fusion", tests);
}
