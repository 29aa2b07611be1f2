/* passes/eliminate_dead_code: golden IR before/after and numerical
 * equivalence through the reference interpreter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eliminate_dead_code.h"
#include "infer_shapes.h"
#include "pass_test_util.h"

static dc_graph *g;

static dc_value *input(const char *name, int rank, const int64_t *dims)
{
    dc_type t = dc_type_make(DC_F32, rank, dims);
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_input(g, name, &t, &v));
    return v;
}

static dc_value *param(const char *name, int rank, const int64_t *dims, float fill)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, rank, dims));
    for (uint64_t i = 0; t && i < dc_tensor_numel(t); i++)
        ((float *)t->data)[i] = fill;
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_initializer(g, name, t, &v));
    return v;
}

static dc_node *node(const char *op, const char *name, dc_value *const *ins, int n_in,
                     const char *const *outs, int n_out)
{
    dc_node *n = NULL;
    DC_ASSERT_OK(dc_graph_add_node(g, op, "", name, ins, n_in, outs, n_out, &n));
    return n;
}

/* Runs g on random inputs before and after DCE: the outputs are identical. */
static void dce_and_compare(void)
{
    dc_tensor *ins[8] = {NULL}, *before[4] = {NULL}, *after[4] = {NULL};
    int n = random_inputs(g, 3, ins, 8);
    DC_ASSERT_OK(run_graph(g, ins, n, before));
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    DC_ASSERT_OK(dc_graph_verify(g));
    DC_ASSERT_OK(dc_infer_shapes(g));
    DC_ASSERT_OK(run_graph(g, ins, n, after));
    for (int i = 0; i < g->n_outputs; i++)
        CU_ASSERT_EQUAL(max_rel_diff(after[i], before[i]), 0.0);
    free_tensors(ins, n);
    free_tensors(before, g->n_outputs);
    free_tensors(after, g->n_outputs);
}

/* A dead chain (Exp -> Neg) and the initializer only it read go; a Split with
 * one output used stays whole; an unused graph input stays, as does an
 * output computed straight from an input. */
static void test_dead_chain(void)
{
    g = dc_graph_create("dce");
    dc_value *x = input("x", 2, (int64_t[]){2, 4});
    input("unused_input", 1, (int64_t[]){3});
    dc_value *b = param("b", 1, (int64_t[]){4}, 0.5f);
    dc_value *dead_w = param("dead_w", 1, (int64_t[]){4}, 2.0f);
    dc_value *xb = node("Add", "add", (dc_value *[]){x, b}, 2, (const char *[]){"xb"}, 1)->outputs[0];
    dc_value *e = node("Mul", "dead_mul", (dc_value *[]){x, dead_w}, 2, (const char *[]){"e"}, 1)->outputs[0];
    node("Neg", "dead_neg", &e, 1, (const char *[]){"dead"}, 1);
    dc_node *split = node("Split", "split", &xb, 1, (const char *[]){"lo", "hi"}, 2);
    DC_ASSERT_OK(dc_node_set_int(split, g, "axis", 1));
    dc_value *r = node("Relu", "relu", &split->outputs[1], 1, (const char *[]){"y"}, 1)->outputs[0];
    DC_ASSERT_OK(dc_graph_add_output(g, r));
    DC_ASSERT_OK(dc_graph_add_output(g, x));
    DC_ASSERT_OK(dc_infer_shapes(g));
    EXPECT_TEXT(g,
                "graph dce (ir 8, opset 17)\n"
                "  input  x: f32[2,4]\n"
                "  input  unused_input: f32[3]\n"
                "  init   b = <f32[4] {0.5, 0.5, 0.5, 0.5}>\n"
                "  init   dead_w = <f32[4] {2, 2, 2, 2}>\n"
                "  xb: f32[2,4] = Add(x, b)  # add\n"
                "  e: f32[2,4] = Mul(x, dead_w)  # dead_mul\n"
                "  dead: f32[2,4] = Neg(e)  # dead_neg\n"
                "  lo: f32[2,2], hi: f32[2,2] = Split(xb) {axis=1}  # split\n"
                "  y: f32[2,2] = Relu(hi)  # relu\n"
                "  output y: f32[2,2]\n"
                "  output x: f32[2,4]\n",
                "before DCE");
    dce_and_compare();
    EXPECT_TEXT(g,
                "graph dce (ir 8, opset 17)\n"
                "  input  x: f32[2,4]\n"
                "  input  unused_input: f32[3]\n"
                "  init   b = <f32[4] {0.5, 0.5, 0.5, 0.5}>\n"
                "  xb: f32[2,4] = Add(x, b)  # add\n"
                "  lo: f32[2,2], hi: f32[2,2] = Split(xb) {axis=1}  # split\n"
                "  y: f32[2,2] = Relu(hi)  # relu\n"
                "  output y: f32[2,2]\n"
                "  output x: f32[2,4]\n",
                "after DCE");
    /* Node ids are positions again, so a node added now gets a fresh id. */
    for (int i = 0; i < g->n_nodes; i++)
        CU_ASSERT_EQUAL(g->nodes[i]->id, i);
    /* A second run changes nothing. */
    DC_ASSERT_OK(dc_eliminate_dead_code(g));
    CU_ASSERT_EQUAL(g->n_nodes, 3);
    CU_ASSERT_EQUAL(g->n_initializers, 1);
    dc_graph_destroy(g);
    g = NULL;
}

/* An initializer that is a graph output stays; so does one that is also a
 * graph input, even unread; a graph with nothing live keeps only its inputs. */
static void test_initializers(void)
{
    g = dc_graph_create("dce");
    dc_value *x = input("x", 1, (int64_t[]){2});
    dc_value *kept = param("kept", 1, (int64_t[]){2}, 1.0f);
    dc_value *as_input = param("as_input", 1, (int64_t[]){2}, 3.0f);
    g->inputs = dc_arena_grow(g->arena, g->inputs, sizeof *g->inputs, &g->cap_inputs, g->n_inputs + 1);
    g->inputs[g->n_inputs++] = as_input; /* ONNX IR < 4: an initializer listed as input */
    param("dropped", 1, (int64_t[]){2}, 4.0f);
    node("Sigmoid", "dead", &x, 1, (const char *[]){"s"}, 1);
    DC_ASSERT_OK(dc_graph_add_output(g, kept));
    DC_ASSERT_OK(dc_infer_shapes(g));
    dce_and_compare();
    EXPECT_TEXT(g,
                "graph dce (ir 8, opset 17)\n"
                "  input  x: f32[2]\n"
                "  input  as_input: f32[2]\n"
                "  init   kept = <f32[2] {1, 1}>\n"
                "  init   as_input = <f32[2] {3, 3}>\n"
                "  output kept: f32[2]\n",
                "initializers after DCE");
    dc_graph_destroy(g);
    g = NULL;
}

void register_pass_dce(void)
{
    static const dc_test_case tests[] = {
        {"dead chain, multi-output node, unused input", test_dead_chain},
        {"initializers: outputs, inputs, unused", test_initializers},
        {NULL, NULL},
    };
    dc_add_suite("pass_dce", tests);
}
