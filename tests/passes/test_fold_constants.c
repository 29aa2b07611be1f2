/* passes/fold_constants: golden IR before/after on small graphs (torch's
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain, float arithmetic on
 * Constants, the size limit, outputs that become constants, what must not
 * fold) and numerical equivalence through the reference interpreter, on
 * random inputs and on the exported tiny ViT (whose torch output it must
 * match within 1e-4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_npy.h"
#include "eliminate_dead_code.h"
#include "fold_constants.h"
#include "infer_shapes.h"
#include "onnx_io.h"
#include "pass_test_util.h"

#define MODEL_DIR DINOC_SOURCE_DIR "/tests/models"

static dc_graph *g;

static void begin(void)
{
    g = dc_graph_create("fold");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
}

static void end(void)
{
    dc_graph_destroy(g);
    g = NULL;
}

static dc_value *input(const char *name, dc_dtype dtype, int rank, const int64_t *dims)
{
    dc_type t = dc_type_make(dtype, rank, dims);
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_input(g, name, &t, &v));
    return v;
}

/* A node with one output named `out`, the node named after it too;
 * attributes are set before inference. */
static dc_node *node(const char *op, const char *out, dc_value *const *ins, int n_in)
{
    dc_node *n = NULL;
    const char *names[1] = {out};
    DC_ASSERT_OK(dc_graph_add_node(g, op, "", out, ins, n_in, names, 1, &n));
    return n;
}

/* A Constant node (torch's way of writing literals) holding int64 values. */
static dc_value *constant_i64(const char *out, int rank, const int64_t *vals, int64_t count)
{
    dc_tensor *t = NULL;
    int64_t dims[1] = {count};
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_I64, rank, dims));
    memcpy(t->data, vals, t->nbytes);
    dc_node *n = node("Constant", out, NULL, 0);
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", t));
    return n->outputs[0];
}

static dc_value *constant_f32(const char *out, float v)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 0, NULL));
    *(float *)t->data = v;
    dc_node *n = node("Constant", out, NULL, 0);
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", t));
    return n->outputs[0];
}

/* Interprets g on random inputs (seed) into outs. */
static void run_random(unsigned seed, dc_tensor **outs)
{
    dc_tensor *ins[8] = {NULL};
    int n = random_inputs(g, seed, ins, 8);
    DC_ASSERT_OK(run_graph(g, ins, n, outs));
    free_tensors(ins, n);
}

/* Folds g (then verifies it and infers it again from scratch, as a later
 * pass would) and checks that its outputs on random inputs did not change. */
static void fold_and_compare(void)
{
    dc_tensor *before[4] = {NULL}, *after[4] = {NULL};
    run_random(7, before);
    DC_ASSERT_OK(dc_fold_constants(g));
    DC_ASSERT_OK(dc_graph_verify(g));
    DC_ASSERT_OK(dc_infer_shapes(g));
    run_random(7, after);
    for (int i = 0; i < g->n_outputs; i++)
        CU_ASSERT_EQUAL(max_rel_diff(after[i], before[i]), 0.0);
    free_tensors(before, g->n_outputs);
    free_tensors(after, g->n_outputs);
}

/* torch's reshape(x.shape[0], -1): Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape. Everything but the Reshape folds; the chain's leftovers are
 * unused initializers for DCE. */
static void test_shape_chain(void)
{
    begin();
    dc_value *x = input("x", DC_F32, 3, (int64_t[]){2, 3, 4});
    dc_value *shape = node("Shape", "shape", &x, 1)->outputs[0];
    dc_value *zero = constant_i64("zero", 0, (int64_t[]){0}, 1);
    dc_value *batch = node("Gather", "batch", (dc_value *[]){shape, zero}, 2)->outputs[0];
    dc_value *axes = constant_i64("axes", 1, (int64_t[]){0}, 1);
    dc_value *batch1 = node("Unsqueeze", "batch1", (dc_value *[]){batch, axes}, 2)->outputs[0];
    dc_value *minus1 = constant_i64("minus1", 1, (int64_t[]){-1}, 1);
    dc_node *concat = node("Concat", "target", (dc_value *[]){batch1, minus1}, 2);
    DC_ASSERT_OK(dc_node_set_int(concat, g, "axis", 0));
    dc_value *y = node("Reshape", "y", (dc_value *[]){x, concat->outputs[0]}, 2)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, y));
    DC_ASSERT_OK(dc_infer_shapes(g));
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,3,4]\n"
                "  shape: i64[3] = Shape(x)  # shape\n"
                "  zero: i64[] = Constant() {value=<i64[] {0}>}  # zero\n"
                "  batch: i64[] = Gather(shape, zero)  # batch\n"
                "  axes: i64[1] = Constant() {value=<i64[1] {0}>}  # axes\n"
                "  batch1: i64[1] = Unsqueeze(batch, axes)  # batch1\n"
                "  minus1: i64[1] = Constant() {value=<i64[1] {-1}>}  # minus1\n"
                "  target: i64[2] = Concat(batch1, minus1) {axis=0}  # target\n"
                "  y: f32[2,12] = Reshape(x, target)  # y\n"
                "  output y: f32[2,12]\n",
                "shape chain before");
    fold_and_compare();
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,3,4]\n"
                "  init   shape = <i64[3] {2, 3, 4}>\n"
                "  init   zero = <i64[] {0}>\n"
                "  init   batch = <i64[] {2}>\n"
                "  init   axes = <i64[1] {0}>\n"
                "  init   batch1 = <i64[1] {2}>\n"
                "  init   minus1 = <i64[1] {-1}>\n"
                "  init   target = <i64[2] {2, -1}>\n"
                "  y: f32[2,12] = Reshape(x, target)  # y\n"
                "  output y: f32[2,12]\n",
                "shape chain after folding");
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,3,4]\n"
                "  init   target = <i64[2] {2, -1}>\n"
                "  y: f32[2,12] = Reshape(x, target)  # y\n"
                "  output y: f32[2,12]\n",
                "shape chain after DCE");
    end();
}

/* Float arithmetic on constants folds (torch's head_dim ** -0.5); the node
 * reading the graph input stays. A parameter (initializer) transposed folds
 * too: it is below the size limit. */
static void test_float_arithmetic(void)
{
    begin();
    dc_value *x = input("x", DC_F32, 2, (int64_t[]){2, 2});
    dc_value *dim = constant_f32("dim", 32.0f);
    dc_value *expo = constant_f32("expo", -0.5f);
    dc_value *scale = node("Pow", "scale", (dc_value *[]){dim, expo}, 2)->outputs[0];
    dc_tensor *wt = NULL;
    DC_ASSERT_OK(dc_tensor_create(&wt, NULL, DC_F32, 2, (int64_t[]){2, 2}));
    memcpy(wt->data, (float[]){1, 2, 3, 4}, wt->nbytes);
    dc_value *w = NULL;
    DC_ASSERT_OK(dc_graph_add_initializer(g, "w", wt, &w));
    dc_value *w_t = node("Transpose", "w_t", &w, 1)->outputs[0];
    dc_value *xw = node("MatMul", "xw", (dc_value *[]){x, w_t}, 2)->outputs[0];
    dc_value *y = node("Mul", "y", (dc_value *[]){xw, scale}, 2)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, y));
    DC_ASSERT_OK(dc_infer_shapes(g));
    fold_and_compare();
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,2]\n"
                "  init   w = <f32[2,2] {1, 2, 3, 4}>\n"
                "  init   dim = <f32[] {32}>\n"
                "  init   expo = <f32[] {-0.5}>\n"
                "  init   scale = <f32[] {0.176777}>\n"
                "  init   w_t = <f32[2,2] {1, 3, 2, 4}>\n"
                "  xw: f32[2,2] = MatMul(x, w_t)  # xw\n"
                "  y: f32[2,2] = Mul(xw, scale)  # y\n"
                "  output y: f32[2,2]\n",
                "float arithmetic after folding");
    end();
}

/* A shape computed in floats is beyond shape inference's folding, so the
 * Reshape's dims are unknown until folding makes the shape an initializer;
 * then the Reshape and its consumers are inferred again. */
static void test_inference_learns(void)
{
    begin();
    dc_value *x = input("x", DC_F32, 3, (int64_t[]){2, 3, 2});
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 1, (int64_t[]){2}));
    memcpy(t->data, (float[]){1.0f, 3.0f}, t->nbytes);
    dc_node *k = node("Constant", "halves", NULL, 0);
    DC_ASSERT_OK(dc_node_set_tensor(k, g, "value", t));
    dc_value *two = constant_f32("two", 2.0f);
    dc_value *dims = node("Mul", "dims", (dc_value *[]){k->outputs[0], two}, 2)->outputs[0];
    dc_node *cast = node("Cast", "target", &dims, 1);
    DC_ASSERT_OK(dc_node_set_int(cast, g, "to", DC_I64));
    dc_value *r = node("Reshape", "r", (dc_value *[]){x, cast->outputs[0]}, 2)->outputs[0];
    dc_value *y = node("Relu", "y", &r, 1)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, y));
    DC_ASSERT_OK(dc_infer_shapes(g));
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,3,2]\n"
                "  halves: f32[2] = Constant() {value=<f32[2] {1, 3}>}  # halves\n"
                "  two: f32[] = Constant() {value=<f32[] {2}>}  # two\n"
                "  dims: f32[2] = Mul(halves, two)  # dims\n"
                "  target: i64[2] = Cast(dims) {to=7}  # target\n"
                "  r: f32[?,?] = Reshape(x, target)  # r\n"
                "  y: f32[?,?] = Relu(r)  # y\n"
                "  output y: f32[?,?]\n",
                "inference learns before");
    fold_and_compare();
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[2,3,2]\n"
                "  init   target = <i64[2] {2, 6}>\n"
                "  r: f32[2,6] = Reshape(x, target)  # r\n"
                "  y: f32[2,6] = Relu(r)  # y\n"
                "  output y: f32[2,6]\n",
                "inference learns after folding and DCE");
    end();
}

/* Results over 1 MiB stay unless only views and shape ops read them. */
static void test_size_limit(void)
{
    begin();
    dc_value *x = input("x", DC_F32, 2, (int64_t[]){512, 1024});
    dc_value *one = constant_f32("one", 1.0f);
    dc_value *shape = constant_i64("big_shape", 1, (int64_t[]){512, 1024}, 2);
    dc_value *ones = node("Expand", "ones", (dc_value *[]){one, shape}, 2)->outputs[0];
    dc_value *y = node("Add", "y", (dc_value *[]){x, ones}, 2)->outputs[0]; /* 2 MiB, read by Add */
    /* 2 MiB read by a Reshape only: folds; the Reshape's result, read by Mul, does not. */
    dc_value *twos = node("Expand", "twos", (dc_value *[]){one, shape}, 2)->outputs[0];
    dc_value *flat = constant_i64("flat", 1, (int64_t[]){1024, 512}, 2);
    dc_value *r = node("Reshape", "r", (dc_value *[]){twos, flat}, 2)->outputs[0];
    dc_value *x2 = input("x2", DC_F32, 2, (int64_t[]){1024, 512});
    dc_value *z = node("Mul", "z", (dc_value *[]){x2, r}, 2)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, y));
    DC_ASSERT_OK(dc_graph_add_output(g, z));
    DC_ASSERT_OK(dc_infer_shapes(g));
    fold_and_compare();
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[512,1024]\n"
                "  input  x2: f32[1024,512]\n"
                "  init   one = <f32[] {1}>\n"
                "  init   big_shape = <i64[2] {512, 1024}>\n"
                "  init   twos = <f32[512,1024] {1, 1, 1, 1, 1, 1, ...}>\n"
                "  init   flat = <i64[2] {1024, 512}>\n"
                "  ones: f32[512,1024] = Expand(one, big_shape)  # ones\n"
                "  y: f32[512,1024] = Add(x, ones)  # y\n"
                "  r: f32[1024,512] = Reshape(twos, flat)  # r\n"
                "  z: f32[1024,512] = Mul(x2, r)  # z\n"
                "  output y: f32[512,1024]\n"
                "  output z: f32[1024,512]\n",
                "size limit after folding and DCE");
    end();
}

/* What must not fold: training-mode Dropout (random), an initializer that is
 * also a graph input (the caller may override it), nodes reading graph
 * inputs. A graph output that folds stays an output. */
static void test_not_folded(void)
{
    begin();
    dc_value *x = input("x", DC_F32, 1, (int64_t[]){4}), *p = NULL;
    dc_tensor *t = NULL;
    /* "p" both an initializer and a graph input: overridable, so not known. */
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 1, (int64_t[]){4}));
    DC_ASSERT_OK(dc_graph_add_initializer(g, "p", t, &p));
    g->inputs = dc_arena_grow(g->arena, g->inputs, sizeof *g->inputs, &g->cap_inputs, g->n_inputs + 1);
    g->inputs[g->n_inputs++] = p;
    dc_value *neg_p = node("Neg", "neg_p", &p, 1)->outputs[0];
    dc_tensor *r = NULL, *on = NULL;
    DC_ASSERT_OK(dc_tensor_create(&r, NULL, DC_F32, 0, NULL));
    *(float *)r->data = 0.5f;
    DC_ASSERT_OK(dc_tensor_create(&on, NULL, DC_BOOL, 0, NULL));
    *(uint8_t *)on->data = 1;
    dc_value *ratio = NULL, *training = NULL;
    DC_ASSERT_OK(dc_graph_add_initializer(g, "ratio", r, &ratio));
    DC_ASSERT_OK(dc_graph_add_initializer(g, "training", on, &training));
    dc_value *ones = constant_i64("four", 1, (int64_t[]){4}, 1);
    dc_node *cos = node("ConstantOfShape", "c", &ones, 1);
    dc_value *dropped = node("Dropout", "dropped", (dc_value *[]){cos->outputs[0], ratio, training}, 3)->outputs[0];
    dc_value *y = node("Add", "y", (dc_value *[]){x, dropped}, 2)->outputs[0];
    dc_value *size = node("Size", "size", &x, 1)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, y));
    DC_ASSERT_OK(dc_graph_add_output(g, neg_p));
    DC_ASSERT_OK(dc_graph_add_output(g, size));
    DC_ASSERT_OK(dc_infer_shapes(g));
    fold_and_compare();
    EXPECT_TEXT(g,
                "graph fold (ir 8, opset 17)\n"
                "  input  x: f32[4]\n"
                "  input  p: f32[4]\n"
                "  init   p = <f32[4] {0, 0, 0, 0}>\n"
                "  init   ratio = <f32[] {0.5}>\n"
                "  init   training = <bool[] {1}>\n"
                "  init   four = <i64[1] {4}>\n"
                "  init   c = <f32[4] {0, 0, 0, 0}>\n"
                "  init   size = <i64[] {4}>\n"
                "  neg_p: f32[4] = Neg(p)  # neg_p\n"
                "  dropped: f32[4] = Dropout(c, ratio, training)  # dropped\n"
                "  y: f32[4] = Add(x, dropped)  # y\n"
                "  output y: f32[4]\n"
                "  output neg_p: f32[4]\n"
                "  output size: i64[]\n",
                "not folded");
    end();
}

/* The exported tiny ViT: the interpreter matches torch within 1e-4; folding
 * and DCE remove torch's shape plumbing and keep the result. */
static void test_tiny_vit(void)
{
    dc_tensor *x = NULL, *want = NULL, *before[1] = {NULL}, *after[1] = {NULL};
    DC_ASSERT_OK(dc_onnx_load(MODEL_DIR "/tiny_vit.onnx", &g));
    DC_ASSERT_OK(dc_npy_load(MODEL_DIR "/tiny_vit_input.npy", &x));
    DC_ASSERT_OK(dc_npy_load(MODEL_DIR "/tiny_vit_output.npy", &want));
    if (!g || !x || !want)
        goto done;
    CU_ASSERT_EQUAL_FATAL(g->n_outputs, 1);
    DC_ASSERT_OK(run_graph(g, &x, 1, before));
    double vs_torch = max_rel_diff(before[0], want);
    CU_ASSERT(vs_torch <= 1e-4);
    int nodes_before = g->n_nodes, inits_before = g->n_initializers;
    DC_ASSERT_OK(dc_fold_constants(g));
    int nodes_folded = g->n_nodes;
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    DC_ASSERT_OK(dc_graph_verify(g));
    DC_ASSERT_OK(dc_infer_shapes(g));
    DC_ASSERT_OK(run_graph(g, &x, 1, after));
    double vs_before = max_rel_diff(after[0], before[0]), after_vs_torch = max_rel_diff(after[0], want);
    CU_ASSERT(vs_before <= 1e-6);
    CU_ASSERT(after_vs_torch <= 1e-4);
    printf("\n    tiny_vit: %d nodes, %d initializers -> fold: %d nodes -> DCE: %d nodes, %d "
           "initializers; interpreter vs torch %.2g, after passes vs before %.2g\n",
           nodes_before, inits_before, nodes_folded, g->n_nodes, g->n_initializers, vs_torch,
           vs_before);
    /* No shape plumbing is left: no Constant, Shape, ConstantOfShape or
     * Identity, and no node computing integers. */
    for (int i = 0; i < g->n_nodes; i++) {
        const dc_node *n = g->nodes[i];
        const char *op = n->op_type;
        bool plumbing = strcmp(op, "Shape") == 0 || strcmp(op, "Constant") == 0 ||
                        strcmp(op, "ConstantOfShape") == 0 || strcmp(op, "Identity") == 0 ||
                        !dc_dtype_is_float(n->outputs[0]->type.dtype);
        if (plumbing)
            fprintf(stderr, "\n    left over: %s (%s)\n", n->name, op);
        CU_ASSERT_FALSE(plumbing);
    }
    CU_ASSERT_EQUAL(nodes_before, 116);
    CU_ASSERT_EQUAL(g->n_nodes, 68);
done:
    dc_tensor_destroy(x);
    dc_tensor_destroy(want);
    free_tensors(before, 1);
    free_tensors(after, 1);
    end();
}

void register_pass_fold_constants(void)
{
    static const dc_test_case tests[] = {
        {"torch shape chain", test_shape_chain},
        {"float arithmetic on constants", test_float_arithmetic},
        {"inference learns from folded values", test_inference_learns},
        {"1 MiB limit", test_size_limit},
        {"random, overridable and input-dependent nodes stay", test_not_folded},
        {"tiny ViT", test_tiny_vit},
        {NULL, NULL},
    };
    dc_add_suite("pass_fold_constants", tests);
}
