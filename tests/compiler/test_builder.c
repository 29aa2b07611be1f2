/* The builder API: shapes appear as the graph is declared; the first error sticks. */
#include <string.h>

#include "builder.h"
#include "test_util.h"

static void assert_type(const dc_value *v, const char *expected)
{
    char buf[96];
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    const char *got = dc_type_str(&v->type, buf, sizeof buf);
    if (strcmp(got, expected) != 0)
        fprintf(stderr, "\n    %s: expected %s, got %s\n", v->name, expected, got);
    CU_ASSERT_STRING_EQUAL(got, expected);
}

/* One pre-norm attention block on tokens [B, N, D] with H heads, as graphs/ will
 * declare it: LN -> qkv Linear -> split heads -> softmax(q kᵀ / √d) v -> proj. */
static void test_attention_block_shapes(void)
{
    enum { B = 2, N = 5, D = 8, H = 2 };
    dc_graph *g = dc_graph_create("attention");
    int64_t x_dims[] = {B, N, D}, d[] = {D}, qkv_w[] = {3 * D, D}, qkv_b[] = {3 * D},
            proj_w[] = {D, D};
    dc_value *x = dc_input(g, "x", DC_F32, 3, x_dims);
    dc_value *h = dc_layer_norm(g, x, dc_param_f32(g, "norm1.weight", 1, d, 1),
                                dc_param_f32(g, "norm1.bias", 1, d, 0), -1, 1e-6f);
    assert_type(h, "f32[2,5,8]");
    dc_value *qkv = dc_linear(g, h, dc_param_f32(g, "attn.qkv.weight", 2, qkv_w, 0.1f),
                              dc_param_f32(g, "attn.qkv.bias", 1, qkv_b, 0));
    assert_type(qkv, "f32[2,5,24]");
    int64_t split_shape[] = {B, N, 3, H, D / H}, perm[] = {2, 0, 3, 1, 4};
    dc_value *heads = dc_transpose(g, dc_reshape(g, qkv, split_shape, 5), perm, 5);
    assert_type(heads, "f32[3,2,2,5,4]");
    int64_t zero[] = {0};
    dc_value *q = dc_reduce(g, "ReduceSum", dc_slice(g, heads, 0, 0, 1), zero, 1, false);
    dc_value *k = dc_reduce(g, "ReduceSum", dc_slice(g, heads, 0, 1, 2), zero, 1, false);
    dc_value *v = dc_reduce(g, "ReduceSum", dc_slice(g, heads, 0, 2, 3), zero, 1, false);
    assert_type(q, "f32[2,2,5,4]");
    int64_t kt_perm[] = {0, 1, 3, 2};
    dc_value *scores = dc_mul(g, dc_matmul(g, q, dc_transpose(g, k, kt_perm, 4)),
                              dc_scalar_f32(g, 0.5f));
    dc_value *attn = dc_matmul(g, dc_softmax(g, scores, -1), v);
    assert_type(attn, "f32[2,2,5,4]");
    int64_t back_perm[] = {0, 2, 1, 3}, merged[] = {B, N, D};
    dc_value *y = dc_linear(g, dc_reshape(g, dc_transpose(g, attn, back_perm, 4), merged, 3),
                            dc_param_f32(g, "attn.proj.weight", 2, proj_w, 0.1f), NULL);
    dc_value *out = dc_add(g, x, dc_gelu(g, y));
    assert_type(out, "f32[2,5,8]");
    DC_ASSERT_OK(dc_output(g, out));
    DC_ASSERT_OK(dc_build_status(g));
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_graph_destroy(g);
}

static void test_first_error_sticks(void)
{
    dc_graph *g = dc_graph_create("bad");
    int64_t a_dims[] = {2, 3}, b_dims[] = {4, 5};
    dc_value *a = dc_input(g, "a", DC_F32, 2, a_dims);
    dc_value *b = dc_input(g, "b", DC_F32, 2, b_dims);
    dc_value *c = dc_matmul(g, a, b);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "(MatMul)"));
    int n_nodes = g->n_nodes;
    CU_ASSERT_PTR_NULL(dc_add(g, c, a)); /* NULL flows through, nothing is added */
    CU_ASSERT_PTR_NULL(dc_add(g, a, a));
    CU_ASSERT_EQUAL(g->n_nodes, n_nodes);
    CU_ASSERT_EQUAL(dc_output(g, a), DC_ERR_SHAPE);
    dc_graph_destroy(g);
}

void register_compiler_builder(void)
{
    static const dc_test_case tests[] = {
        {"an attention block gets its shapes as it is declared", test_attention_block_shapes},
        {"the first error sticks and NULL flows through", test_first_error_sticks},
        {NULL, NULL},
    };
    dc_add_suite("compiler_builder", tests);
}
