/* Tensors, element types and errors of the runtime library. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dc_tensor.h"
#include "test_util.h"

static void test_create_and_clone(void)
{
    int64_t dims[] = {2, 3};
    dc_tensor *t, *c;
    DC_ASSERT_OK(dc_tensor_create(&t, "w", DC_F32, 2, dims));
    CU_ASSERT_EQUAL(t->nbytes, 24);
    CU_ASSERT_EQUAL(dc_tensor_numel(t), 6);
    ((float *)t->data)[5] = 2.5f;
    DC_ASSERT_OK(dc_tensor_clone(&c, t));
    CU_ASSERT_STRING_EQUAL(c->name, "w");
    CU_ASSERT_EQUAL(dc_tensor_get_f64(c, 5), 2.5);
    dc_tensor_destroy(t);
    dc_tensor_destroy(c);
}

static void test_empty_and_scalar(void)
{
    int64_t zero[] = {0, 7};
    dc_tensor *t;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_I64, 2, zero));
    CU_ASSERT_EQUAL(t->nbytes, 0);
    CU_ASSERT_PTR_NOT_NULL(t->data);
    dc_tensor_destroy(t);
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_BOOL, 0, NULL));
    CU_ASSERT_EQUAL(dc_tensor_numel(t), 1);
    dc_tensor_destroy(t);
}

static void test_rejects_bad_shapes(void)
{
    int64_t negative[] = {2, -1};
    int64_t huge[] = {1 << 20, 1 << 20}; /* 2^40 elements */
    int64_t overflow[] = {INT64_MAX, INT64_MAX, 2};
    dc_tensor *t = (dc_tensor *)1;
    CU_ASSERT_EQUAL(dc_tensor_create(&t, NULL, DC_F32, 2, negative), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(t);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "negative dimension -1"));
    CU_ASSERT_EQUAL(dc_tensor_create(&t, NULL, DC_F32, 2, huge), DC_ERR_NOMEM);
    CU_ASSERT_EQUAL(dc_tensor_create(&t, NULL, DC_U8, 3, overflow), DC_ERR_NOMEM);
    CU_ASSERT_EQUAL(dc_tensor_create(&t, NULL, DC_F32, 9, huge), DC_ERR_INVALID);
    CU_ASSERT_EQUAL(dc_tensor_create(&t, NULL, DC_STRING, 1, negative + 0), DC_ERR_UNSUPPORTED);
}

static void test_half_conversions(void)
{
    const float values[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        CU_ASSERT_EQUAL(dc_f16_to_f32(dc_f32_to_f16(values[i])), values[i]);
    }
    const float bf16_exact[] = {0.0f, 1.0f, -2.5f, 65536.0f, 1.5f};
    for (size_t i = 0; i < sizeof bf16_exact / sizeof bf16_exact[0]; i++)
        CU_ASSERT_EQUAL(dc_bf16_to_f32(dc_f32_to_bf16(bf16_exact[i])), bf16_exact[i]);
    CU_ASSERT_EQUAL(dc_f32_to_f16(1e6f), 0x7c00);           /* overflow to +inf */
    CU_ASSERT_EQUAL(dc_f32_to_f16(1.0f + 1.0f / 4096), 0x3c00); /* ties round to even */
    CU_ASSERT(isnan(dc_f16_to_f32(dc_f32_to_f16(NAN))));
    CU_ASSERT_EQUAL(dc_f32_to_bf16(1.00390625f), 0x3f80);   /* tie: round to even */
}

static void test_error_context(void)
{
    dc_status s = dc_error(DC_ERR_SHAPE, "expected %d got %d", 3, 4);
    s = dc_error_context(s, "node '%s'", "mm0");
    s = dc_error_context(s, "model.onnx");
    CU_ASSERT_EQUAL(s, DC_ERR_SHAPE);
    CU_ASSERT_STRING_EQUAL(dc_error_message(), "model.onnx: node 'mm0': expected 3 got 4");
    CU_ASSERT_STRING_EQUAL(dc_dtype_name(DC_BF16), "bfloat16");
    CU_ASSERT_EQUAL(dc_dtype_size(DC_F64), 8);
    CU_ASSERT_FALSE(dc_dtype_valid(17));
}

void register_runtime_tensor(void)
{
    static const dc_test_case tests[] = {
        {"create and clone", test_create_and_clone},
        {"empty and scalar tensors", test_empty_and_scalar},
        {"bad shapes are errors, not allocations", test_rejects_bad_shapes},
        {"f16 and bf16 conversions", test_half_conversions},
        {"error messages gather context", test_error_context},
        {NULL, NULL},
    };
    dc_add_suite("runtime_tensor", tests);
}
