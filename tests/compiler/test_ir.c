/* The IR: building graphs, the verifier's errors, printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "test_util.h"

#define ASSERT_MESSAGE(substr)                                              \
    do {                                                                    \
        if (!strstr(dc_error_message(), substr))                            \
            fprintf(stderr, "\n    message was: %s\n", dc_error_message()); \
        CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), substr));         \
    } while (0)

/* x[2,3] -> Identity -> y, with a float attribute; returns the graph. */
static dc_graph *small_graph(dc_value **x, dc_node **node)
{
    dc_graph *g = dc_graph_create("small");
    int64_t dims[] = {2, 3};
    dc_type t = dc_type_make(DC_F32, 2, dims);
    DC_ASSERT_OK(dc_graph_add_input(g, "x", &t, x));
    const char *outs[] = {"y"};
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "id0", x, 1, outs, 1, node));
    DC_ASSERT_OK(dc_graph_add_output(g, (*node)->outputs[0]));
    return g;
}

static void test_build_and_lookup(void)
{
    dc_value *x;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);
    CU_ASSERT_PTR_EQUAL(dc_graph_find_value(g, "x"), x);
    CU_ASSERT_PTR_EQUAL(dc_graph_find_value(g, "y")->producer, n);
    CU_ASSERT_PTR_NOT_NULL(n->schema);
    CU_ASSERT_EQUAL(dc_graph_opset(g, ""), 17);
    CU_ASSERT_EQUAL(dc_graph_opset(g, "ai.onnx"), 17);
    CU_ASSERT_EQUAL(dc_graph_opset(g, "ai.dinoc"), 0);
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_graph_destroy(g);
}

static void test_attributes(void)
{
    dc_value *x;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);
    int64_t perm[] = {1, 0};
    DC_ASSERT_OK(dc_node_set_int(n, g, "axis", -1));
    DC_ASSERT_OK(dc_node_set_float(n, g, "epsilon", 1e-6f));
    DC_ASSERT_OK(dc_node_set_string(n, g, "mode", "cubic"));
    DC_ASSERT_OK(dc_node_set_ints(n, g, "perm", perm, 2));
    DC_ASSERT_OK(dc_node_set_int(n, g, "axis", 2)); /* replaces */
    CU_ASSERT_EQUAL(n->n_attrs, 4);
    CU_ASSERT_EQUAL(dc_node_attr_int(n, "axis", 0), 2);
    CU_ASSERT_EQUAL(dc_node_attr_int(n, "missing", 7), 7);
    CU_ASSERT_EQUAL(dc_node_attr_float(n, "epsilon", 0), 1e-6f);
    CU_ASSERT_STRING_EQUAL(dc_node_attr_string(n, "mode", ""), "cubic");
    int count;
    const int64_t *p = dc_node_attr_ints(n, "perm", &count);
    CU_ASSERT_EQUAL(count, 2);
    CU_ASSERT_EQUAL(p[1], 0);
    /* A wrong-typed lookup falls back to the default. */
    CU_ASSERT_EQUAL(dc_node_attr_int(n, "mode", 5), 5);
    dc_graph_destroy(g);
}

static void test_duplicate_names(void)
{
    dc_value *x, *dup;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);
    dc_type t = dc_type_unknown(DC_F32);
    CU_ASSERT_EQUAL(dc_graph_add_input(g, "y", &t, &dup), DC_ERR_INVALID);
    ASSERT_MESSAGE("duplicate value name 'y'");
    const char *outs[] = {"x"};
    CU_ASSERT_EQUAL(dc_graph_add_node(g, "Identity", "", "id1", &x, 1, outs, 1, &n), DC_ERR_INVALID);
    ASSERT_MESSAGE("node 'id1' (Identity): duplicate value name 'x'");
    dc_graph_destroy(g);
}

static void test_verifier_errors(void)
{
    dc_value *x;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);

    /* A value from another graph is dangling here. */
    dc_graph *other = dc_graph_create("other");
    dc_type t = dc_type_unknown(DC_F32);
    dc_value *stray;
    DC_ASSERT_OK(dc_graph_add_input(other, "stray", &t, &stray));
    dc_node *bad;
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "uses_stray", &stray, 1, NULL, 1, &bad));
    CU_ASSERT_EQUAL(dc_graph_verify(g), DC_ERR_INVALID);
    ASSERT_MESSAGE("node 'uses_stray' (Identity): input 'stray' is not defined");
    dc_graph_destroy(g);
    dc_graph_destroy(other);

    /* Unknown op. */
    g = small_graph(&x, &n);
    DC_ASSERT_OK(dc_graph_add_node(g, "FancyOp", "", "fancy", &x, 1, NULL, 1, &bad));
    CU_ASSERT_EQUAL(dc_graph_verify(g), DC_ERR_UNSUPPORTED);
    ASSERT_MESSAGE("node 'fancy': unsupported op 'FancyOp'");
    dc_graph_destroy(g);

    /* Wrong arity. */
    g = small_graph(&x, &n);
    dc_value *two[] = {x, x};
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "twice", two, 2, NULL, 1, &bad));
    CU_ASSERT_EQUAL(dc_graph_verify(g), DC_ERR_INVALID);
    ASSERT_MESSAGE("node 'twice' (Identity): 2 inputs, expected 1 to 1");
    dc_graph_destroy(g);
}

static void test_cycle_is_reported(void)
{
    /* a = Identity(b); b = Identity(a): whichever order, one use precedes its producer. */
    dc_graph *g = dc_graph_create("cycle");
    dc_node *first, *second;
    const char *a_name[] = {"a"}, *b_name[] = {"b"};
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "first", NULL, 0, a_name, 1, &first));
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "second", &first->outputs[0], 1, b_name, 1,
                                   &second));
    first->inputs = &second->outputs[0];
    first->n_inputs = 1;
    CU_ASSERT_EQUAL(dc_graph_verify(g), DC_ERR_INVALID);
    ASSERT_MESSAGE("node 'first' (Identity): input 'b' is used before node 'second' produces it");
    dc_graph_destroy(g);
}

static void test_unproduced_output(void)
{
    dc_graph *g = dc_graph_create("g");
    dc_value *v;
    DC_ASSERT_OK(dc_graph_new_value(g, "floating", NULL, &v));
    DC_ASSERT_OK(dc_graph_add_output(g, v));
    CU_ASSERT_EQUAL(dc_graph_verify(g), DC_ERR_INVALID);
    ASSERT_MESSAGE("graph output 'floating' is never produced");
    dc_graph_destroy(g);
}

static void test_subgraph_sees_outer_values(void)
{
    dc_value *x;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);
    dc_graph *body = dc_graph_create_subgraph(g, "body");
    dc_node *inner;
    DC_ASSERT_OK(dc_graph_add_node(body, "Identity", "", "inner", &x, 1, NULL, 1, &inner));
    DC_ASSERT_OK(dc_graph_add_output(body, inner->outputs[0]));
    dc_attr *a = dc_node_add_attr(n, g, "body", DC_ATTR_GRAPH);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    a->g = body;
    CU_ASSERT_PTR_EQUAL(dc_graph_find_value(body, "x"), x);
    CU_ASSERT_EQUAL(dc_graph_opset(body, ""), 17);
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_graph_destroy(g); /* frees the subgraph too (ASan checks) */
}

static void test_types_and_dims(void)
{
    int64_t dims[] = {2, 3};
    dc_type t = dc_type_make(DC_F32, 2, dims);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(dc_type_str(&t, buf, sizeof buf), "f32[2,3]");
    CU_ASSERT_EQUAL(dc_type_numel(&t), 6);
    t.dims[1] = (dc_dim){DC_DIM_UNKNOWN, "M"};
    CU_ASSERT_STRING_EQUAL(dc_type_str(&t, buf, sizeof buf), "f32[2,M]");
    CU_ASSERT_FALSE(dc_type_is_static(&t));
    CU_ASSERT_EQUAL(dc_type_numel(&t), -1);
    dc_type scalar = dc_type_make(DC_I64, 0, NULL), unknown = dc_type_unknown(DC_BOOL);
    CU_ASSERT_STRING_EQUAL(dc_type_str(&scalar, buf, sizeof buf), "i64[]");
    CU_ASSERT_STRING_EQUAL(dc_type_str(&unknown, buf, sizeof buf), "bool[?]");
    CU_ASSERT(dc_dim_equal((dc_dim){-1, "M"}, (dc_dim){-1, "M"}));
    CU_ASSERT_FALSE(dc_dim_equal((dc_dim){-1, "M"}, (dc_dim){-1, "N"}));
    CU_ASSERT_FALSE(dc_dim_equal((dc_dim){-1, NULL}, (dc_dim){-1, NULL}));

    dc_graph *g = dc_graph_create("g");
    DC_ASSERT_OK(dc_graph_set_dim_bound(g, "M", 4096));
    CU_ASSERT_EQUAL(dc_graph_dim_bound(g, "M"), 4096);
    CU_ASSERT_EQUAL(dc_graph_dim_bound(g, "N"), DC_DIM_UNKNOWN);
    CU_ASSERT_EQUAL(dc_graph_set_dim_bound(g, "M", -2), DC_ERR_INVALID);
    DC_ASSERT_OK(dc_graph_set_metadata(g, "dinoc.config", "fashion-mnist"));
    CU_ASSERT_STRING_EQUAL(dc_graph_metadata(g, "dinoc.config"), "fashion-mnist");
    dc_graph_destroy(g);
}

static void test_print_text_and_dot(void)
{
    dc_value *x;
    dc_node *n;
    dc_graph *g = small_graph(&x, &n);
    DC_ASSERT_OK(dc_node_set_int(n, g, "axis", 1));
    n->outputs[0]->type = x->type;
    char *text = NULL, *dot = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    dc_graph_print(g, f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "input  x: f32[2,3]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "y: f32[2,3] = Identity(x) {axis=1}  # id0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "output y: f32[2,3]"));
    f = open_memstream(&dot, &len);
    dc_graph_print_dot(g, f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(dot, "digraph dinoc {"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dot, "v0 -> n0 [label=\"f32[2,3]\"]"));
    free(text);
    free(dot);
    dc_graph_destroy(g);
}

void register_compiler_ir(void)
{
    static const dc_test_case tests[] = {
        {"build a graph and look values up", test_build_and_lookup},
        {"attributes: set, replace, typed get", test_attributes},
        {"duplicate names are refused", test_duplicate_names},
        {"verifier: dangling value, unknown op, arity", test_verifier_errors},
        {"verifier: a cycle is reported", test_cycle_is_reported},
        {"verifier: output never produced", test_unproduced_output},
        {"subgraphs see outer values", test_subgraph_sees_outer_values},
        {"types, symbolic dims, bounds, metadata", test_types_and_dims},
        {"print as text and Graphviz", test_print_text_and_dot},
        {NULL, NULL},
    };
    dc_add_suite("compiler_ir", tests);
}
