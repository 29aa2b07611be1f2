/* Shape and type inference of every registry op (compiler/ops/): shapes,
 * numpy broadcasting, symbolic dims, opset differences, shapes that depend on
 * constant inputs, the small constant folding of shape arithmetic, and the
 * errors (status and message) for inputs that contradict each other. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_shapes.h"
#include "ir.h"
#include "op_registry.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

static dc_graph *g;

static void begin(int64_t opset)
{
    g = dc_graph_create("shape_test");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    DC_ASSERT_OK(dc_graph_set_opset(g, "", opset));
}

static void end(void)
{
    dc_graph_destroy(g);
    g = NULL;
}

/* Parses "f32[2,N,?]" (dims: sizes, symbols, ? for unknown) or "f32" (rank
 * unknown) into a type; symbols live in the graph's arena. */
static dc_type T(const char *spec)
{
    dc_type t = {.rank = -1};
    const char *bracket = strchr(spec, '[');
    size_t len = bracket ? (size_t)(bracket - spec) : strlen(spec);
    for (int d = 0; d < DC_DTYPE_COUNT; d++)
        if (dc_dtype_valid(d) && strlen(dc_dtype_short_name((dc_dtype)d)) == len &&
            strncmp(dc_dtype_short_name((dc_dtype)d), spec, len) == 0)
            t.dtype = (dc_dtype)d;
    if (!bracket)
        return t;
    t.rank = 0;
    for (const char *p = bracket + 1; *p && *p != ']';) {
        size_t n = strcspn(p, ",]");
        dc_dim *dim = &t.dims[t.rank++];
        if (*p >= '0' && *p <= '9') {
            *dim = (dc_dim){strtoll(p, NULL, 10), NULL};
        } else {
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)n, p);
            *dim = (dc_dim){DC_DIM_UNKNOWN, strcmp(name, "?") ? dc_arena_strdup(g->arena, name) : NULL};
        }
        p += n + (p[n] == ',');
    }
    return t;
}

/* A graph input of type `spec`. */
static dc_value *X(const char *spec)
{
    dc_type t = T(spec);
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_input(g, NULL, &t, &v));
    return v;
}

/* An initializer of `dtype` and shape dims with int64 data converted. */
static dc_value *K(dc_dtype dtype, int rank, const int64_t *dims, const int64_t *vals)
{
    dc_tensor *t;
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, dtype, rank, dims));
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++) {
        if (dtype == DC_I64)
            ((int64_t *)t->data)[i] = vals[i];
        else if (dtype == DC_I32)
            ((int32_t *)t->data)[i] = (int32_t)vals[i];
        else if (dtype == DC_F32)
            ((float *)t->data)[i] = (float)vals[i];
        else
            ((uint8_t *)t->data)[i] = (uint8_t)vals[i];
    }
    DC_ASSERT_OK(dc_graph_add_initializer(g, dc_graph_unique_name(g, "k"), t, &v));
    return v;
}

#define NARGS(type, ...) (int)(sizeof((type[]){__VA_ARGS__}) / sizeof(type))
/* 1-D int64 constant. */
#define KV(...) K(DC_I64, 1, (int64_t[]){NARGS(int64_t, __VA_ARGS__)}, (int64_t[]){__VA_ARGS__})
/* Scalar int64 constant. */
static dc_value *KS(int64_t v) { return K(DC_I64, 0, (int64_t[]){0}, &v); }

/* 1-D float constant. */
static dc_value *KF(int n, const float *vals)
{
    dc_tensor *t;
    dc_value *v = NULL;
    int64_t dims[1] = {n};
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 1, dims));
    memcpy(t->data, vals, (size_t)n * sizeof *vals);
    DC_ASSERT_OK(dc_graph_add_initializer(g, dc_graph_unique_name(g, "kf"), t, &v));
    return v;
}
#define KFV(...) KF(NARGS(float, __VA_ARGS__), (float[]){__VA_ARGS__})

/* A node of `op` with the given inputs and n_out fresh outputs. */
static dc_node *node(const char *op, int n_in, dc_value *const *ins, int n_out)
{
    dc_node *n = NULL;
    DC_ASSERT_OK(dc_graph_add_node(g, op, "", NULL, ins, n_in, NULL, n_out, &n));
    return n;
}
#define IN(...) NARGS(dc_value *, __VA_ARGS__), (dc_value *[]){__VA_ARGS__}
#define N1(op, ...) node(op, IN(__VA_ARGS__), 1)

static dc_status infer(dc_node *n) { return dc_infer_node(g, n); }

/* Infers n (expecting success) and returns output 0. */
static dc_value *ok(dc_node *n)
{
    DC_ASSERT_OK(infer(n));
    return n->outputs[0];
}

static void check_type(const dc_value *v, const char *expect, int line)
{
    char buf[256];
    dc_type_str(&v->type, buf, sizeof buf);
    if (strcmp(buf, expect) != 0)
        fprintf(stderr, "\n    line %d: inferred %s, expected %s\n", line, buf, expect);
    CU_ASSERT_STRING_EQUAL(buf, expect);
}
#define CHECK_TYPE(v, expect) check_type(v, expect, __LINE__)
#define CHECK_RANK_UNKNOWN(v) CU_ASSERT_EQUAL((v)->type.rank, -1)

static void check_vals(const dc_value *v, int n, const int64_t *expect, int line)
{
    CU_ASSERT_PTR_NOT_NULL(v->constant);
    if (!v->constant) {
        fprintf(stderr, "\n    line %d: no constant data\n", line);
        return;
    }
    CU_ASSERT_EQUAL(dc_tensor_numel(v->constant), (uint64_t)n);
    for (int i = 0; i < n && (uint64_t)i < dc_tensor_numel(v->constant); i++) {
        int64_t got = dc_tensor_get_i64(v->constant, (uint64_t)i);
        if (got != expect[i])
            fprintf(stderr, "\n    line %d: element %d is %lld, expected %lld\n", line, i,
                    (long long)got, (long long)expect[i]);
        CU_ASSERT_EQUAL(got, expect[i]);
    }
}
#define CHECK_VALS(v, ...) check_vals(v, NARGS(int64_t, __VA_ARGS__), (int64_t[]){__VA_ARGS__}, __LINE__)

static void check_err(dc_status got, dc_status want, const char *substr, int line)
{
    const char *msg = dc_error_message();
    if (got != want || !strstr(msg, substr))
        fprintf(stderr, "\n    line %d: status %s, message \"%s\"; expected %s with \"%s\"\n", line,
                dc_status_name(got), msg, dc_status_name(want), substr);
    CU_ASSERT_EQUAL(got, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, substr));
}
#define CHECK_ERR(n, status, substr) check_err(infer(n), status, substr, __LINE__)

static void set_ints(dc_node *n, const char *name, int count, const int64_t *v)
{
    DC_ASSERT_OK(dc_node_set_ints(n, g, name, v, count));
}
#define INTS(n, name, ...) set_ints(n, name, NARGS(int64_t, __VA_ARGS__), (int64_t[]){__VA_ARGS__})
#define INT(n, name, v) DC_ASSERT_OK(dc_node_set_int(n, g, name, v))
#define STR(n, name, v) DC_ASSERT_OK(dc_node_set_string(n, g, name, v))
#define FLOAT(n, name, v) DC_ASSERT_OK(dc_node_set_float(n, g, name, v))

/* ---- registry --------------------------------------------------------------- */

static void test_every_op_registered(void)
{
    static const char *const ops[] = {
        "MatMul", "Gemm", "Conv", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal",
        "Exp", "Log", "Neg", "Abs", "Erf", "Tanh", "Sigmoid", "Relu", "Softmax", "LogSoftmax",
        "LayerNormalization", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax",
        "ArgMin", "Transpose", "Reshape", "Flatten", "Concat", "Split", "Slice", "Gather",
        "Squeeze", "Unsqueeze", "Expand", "Where", "Equal", "Cast", "Constant",
        "ConstantOfShape", "Shape", "Size", "Identity", "Resize", "Dropout"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const dc_op_schema *s = dc_op_lookup("", ops[i]);
        if (!s)
            fprintf(stderr, "\n    %s is not registered\n", ops[i]);
        CU_ASSERT_PTR_NOT_NULL(s);
        CU_ASSERT_PTR_NOT_NULL(s ? (void *)s->infer : NULL);
    }
    CU_ASSERT_PTR_EQUAL(dc_op_lookup("ai.onnx", "MatMul"), dc_op_lookup("", "MatMul"));
}

/* ---- elementwise ------------------------------------------------------------ */

static void test_unary(void)
{
    begin(17);
    static const char *const ops[] = {"Sqrt", "Reciprocal", "Exp", "Log", "Neg", "Abs",
                                      "Erf", "Tanh", "Sigmoid", "Relu", "Identity"};
    dc_value *x = X("f32[2,N]");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        CHECK_TYPE(ok(N1(ops[i], x)), "f32[2,N]");
    CHECK_TYPE(ok(N1("Neg", X("i64[3]"))), "i64[3]");
    CHECK_RANK_UNKNOWN(ok(N1("Exp", X("f16"))));
    CHECK_ERR(N1("Sqrt", X("i64[3]")), DC_ERR_SHAPE, "Sqrt: input must be a float tensor, found i64[3]");
    CHECK_ERR(N1("Abs", X("bool[3]")), DC_ERR_SHAPE, "Abs: input must be numeric");
    end();
}

static void test_broadcast(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Add", X("f32[2,1,4]"), X("f32[3,1]"))), "f32[2,3,4]");
    CHECK_TYPE(ok(N1("Mul", X("f32[N,3]"), X("f32[N,3]"))), "f32[N,3]");
    /* A symbol with 1 gives the symbol; with a static size > 1, the size. */
    CHECK_TYPE(ok(N1("Sub", X("f32[N,1]"), X("f32[1,5]"))), "f32[N,5]");
    CHECK_TYPE(ok(N1("Div", X("f32[N]"), X("f32[5]"))), "f32[5]");
    CHECK_TYPE(ok(N1("Add", X("f32[B,T,384]"), X("f32[384]"))), "f32[B,T,384]");
    /* Different symbols: either may be 1, so the result is unknown. */
    CHECK_TYPE(ok(N1("Add", X("f32[N]"), X("f32[M]"))), "f32[?]");
    CHECK_TYPE(ok(N1("Add", X("f32[N]"), X("f32[?]"))), "f32[?]");
    CHECK_TYPE(ok(N1("Add", X("f32[0,3]"), X("f32[1,3]"))), "f32[0,3]");
    CHECK_TYPE(ok(N1("Add", X("f32[]"), X("f32[2,3]"))), "f32[2,3]");
    CHECK_RANK_UNKNOWN(ok(N1("Add", X("f32"), X("f32[2]"))));
    /* An unknown element type takes the other input's. */
    CHECK_TYPE(ok(N1("Add", X("?[2]"), X("f32[2]"))), "f32[2]");
    CHECK_ERR(N1("Add", X("f32[2,3]"), X("f32[4]")), DC_ERR_SHAPE,
              "Add: shapes f32[2,3] and f32[4] do not broadcast");
    CHECK_ERR(N1("Mul", X("f32[2]"), X("i64[2]")), DC_ERR_SHAPE,
              "Mul: input types differ: f32[2] vs i64[2]");
    end();
}

static void test_binary_legacy_broadcast(void)
{
    /* Before opset 7, B was broadcast to A (attribute broadcast=1): Y has A's shape. */
    begin(6);
    dc_node *n = N1("Add", X("f32[2,3,4,5]"), X("f32[3,4]"));
    INT(n, "broadcast", 1);
    INT(n, "axis", 1);
    CHECK_TYPE(ok(n), "f32[2,3,4,5]");
    CHECK_TYPE(ok(N1("Equal", X("i32[2,3]"), X("i32[3]"))), "bool[2,3]");
    end();
}

static void test_pow_types(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Pow", X("f32[2,3]"), X("i64[]"))), "f32[2,3]");
    CHECK_TYPE(ok(N1("Pow", X("i32[3]"), X("f32[3]"))), "i32[3]");
    CHECK_ERR(N1("Pow", X("bool[3]"), X("f32[3]")), DC_ERR_SHAPE, "Pow: base and exponent must be numeric");
    end();
    begin(11); /* Pow-7: base and exponent of one type */
    CHECK_ERR(N1("Pow", X("f32[3]"), X("i64[]")), DC_ERR_SHAPE, "input types differ");
    end();
}

static void test_where_equal(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Where", X("bool[2,1]"), X("f32[1,3]"), X("f32[2,3]"))), "f32[2,3]");
    CHECK_TYPE(ok(N1("Where", X("bool[N,1,T]"), X("f32[]"), X("f32[1,H,1]"))), "f32[N,H,T]");
    CHECK_TYPE(ok(N1("Equal", X("i64[3]"), X("i64[1]"))), "bool[3]");
    CHECK_TYPE(ok(N1("Equal", X("f32[N,4]"), X("f32[4]"))), "bool[N,4]");
    CHECK_ERR(N1("Where", X("f32[2]"), X("f32[2]"), X("f32[2]")), DC_ERR_SHAPE,
              "Where: condition must be bool, found f32[2]");
    CHECK_ERR(N1("Where", X("bool[2]"), X("f32[2]"), X("f16[2]")), DC_ERR_SHAPE, "input types differ");
    CHECK_ERR(N1("Where", X("bool[3]"), X("f32[2]"), X("f32[2]")), DC_ERR_SHAPE, "do not broadcast");
    CHECK_ERR(N1("Equal", X("i64[3]"), X("i32[3]")), DC_ERR_SHAPE, "Equal: input types differ");
    end();
}

static void test_fold_elementwise(void)
{
    begin(17);
    CHECK_VALS(ok(N1("Add", KV(1, 2), KV(10))), 11, 12);
    CHECK_VALS(ok(N1("Sub", KV(1, 2), KS(10))), -9, -8);
    CHECK_VALS(ok(N1("Mul", KV(2, 3), KV(4, 5))), 8, 15);
    CHECK_VALS(ok(N1("Div", KV(7, -7), KV(2))), 3, -3);
    /* Broadcasting: [2,1] + [3] -> [2,3]. */
    dc_value *col = K(DC_I64, 2, (int64_t[]){2, 1}, (int64_t[]){10, 20});
    dc_value *sum = ok(N1("Add", col, KV(1, 2, 3)));
    CHECK_TYPE(sum, "i64[2,3]");
    CHECK_VALS(sum, 11, 12, 13, 21, 22, 23);
    dc_value *eq = ok(N1("Equal", KV(1, 2, 3), KV(2)));
    CHECK_TYPE(eq, "bool[3]");
    CHECK_VALS(eq, 0, 1, 0);
    CHECK_VALS(ok(N1("Where", eq, KV(-1), KV(4, 5, 6))), 4, -1, 6);
    /* Overflow wraps; division by zero and float data are not folded. */
    CHECK_VALS(ok(N1("Add", KV(INT64_MAX), KV(1))), INT64_MIN);
    CU_ASSERT_PTR_NULL(ok(N1("Div", KV(1), KV(0)))->constant);
    CU_ASSERT_PTR_NULL(ok(N1("Add", KFV(1, 2), KFV(3, 4)))->constant);
    /* int32 data stays int32. */
    dc_value *i32 = ok(N1("Mul", K(DC_I32, 1, (int64_t[]){2}, (int64_t[]){3, 4}), K(DC_I32, 0, (int64_t[]){0}, (int64_t[]){2})));
    CHECK_TYPE(i32, "i32[2]");
    CHECK_VALS(i32, 6, 8);
    end();
}

/* ---- MatMul / Gemm ---------------------------------------------------------- */

static void test_matmul(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("MatMul", X("f32[2,3]"), X("f32[3,4]"))), "f32[2,4]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[5,2,3]"), X("f32[3,4]"))), "f32[5,2,4]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[N,1,2,3]"), X("f32[6,3,4]"))), "f32[N,6,2,4]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[B,H,T,D]"), X("f32[B,H,D,T]"))), "f32[B,H,T,T]");
    /* 1-D operands are promoted, then the added dim is dropped. */
    CHECK_TYPE(ok(N1("MatMul", X("f32[3]"), X("f32[3,4]"))), "f32[4]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[2,3]"), X("f32[3]"))), "f32[2]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[3]"), X("f32[3]"))), "f32[]");
    CHECK_TYPE(ok(N1("MatMul", X("f32[7,2,3]"), X("f32[3]"))), "f32[7,2]");
    CHECK_RANK_UNKNOWN(ok(N1("MatMul", X("f32"), X("f32[3,4]"))));
    CHECK_ERR(N1("MatMul", X("f32[2,3]"), X("f32[4,5]")), DC_ERR_SHAPE,
              "MatMul: inner dimensions differ: A is f32[2,3], B is f32[4,5]");
    CHECK_ERR(N1("MatMul", X("f32[3]"), X("f32[4]")), DC_ERR_SHAPE, "inner dimensions differ");
    CHECK_ERR(N1("MatMul", X("f32[2,2,3]"), X("f32[5,3,4]")), DC_ERR_SHAPE,
              "MatMul: batch dimensions do not broadcast: A is f32[2,2,3], B is f32[5,3,4]");
    CHECK_ERR(N1("MatMul", X("f32[]"), X("f32[3,4]")), DC_ERR_SHAPE, "rank >= 1");
    CHECK_ERR(N1("MatMul", X("f32[2,3]"), X("f16[3,4]")), DC_ERR_SHAPE, "input types differ");
    end();
}

static void test_gemm(void)
{
    begin(17);
    dc_node *n = N1("Gemm", X("f32[2,3]"), X("f32[4,3]"), X("f32[4]"));
    INT(n, "transB", 1);
    CHECK_TYPE(ok(n), "f32[2,4]");
    n = N1("Gemm", X("f32[3,N]"), X("f32[3,5]"), X("f32[N,1]"));
    INT(n, "transA", 1);
    CHECK_TYPE(ok(n), "f32[N,5]");
    /* C is optional from opset 11. */
    CHECK_TYPE(ok(node("Gemm", IN(X("f32[2,3]"), X("f32[3,4]"), NULL), 1)), "f32[2,4]");
    CHECK_TYPE(ok(N1("Gemm", X("f32[2,3]"), X("f32[3,4]"))), "f32[2,4]");
    CHECK_ERR(N1("Gemm", X("f32[2,3]"), X("f32[4,5]")), DC_ERR_SHAPE,
              "Gemm: inner dimensions differ: A is f32[2,3] (transA=0), B is f32[4,5] (transB=0)");
    CHECK_ERR(N1("Gemm", X("f32[2,3]"), X("f32[3,4]"), X("f32[3]")), DC_ERR_SHAPE,
              "Gemm: C f32[3] does not broadcast to f32[2,4]");
    CHECK_ERR(N1("Gemm", X("f32[1,2,3]"), X("f32[3,4]")), DC_ERR_SHAPE, "Gemm: A and B must be 2-D");
    n = N1("Gemm", X("f32[2,3]"), X("f32[3,4]"));
    FLOAT(n, "transA", 1.0f);
    CHECK_ERR(n, DC_ERR_INVALID, "Gemm: attribute 'transA' must be INT, found FLOAT");
    end();
    begin(9);
    CHECK_ERR(N1("Gemm", X("f32[2,3]"), X("f32[3,4]")), DC_ERR_INVALID, "opset 9 needs input 2");
    end();
}

/* ---- Conv ------------------------------------------------------------------- */

static void test_conv(void)
{
    begin(17);
    /* ViT patch embedding: 16x16 patches of a 224x224 image. */
    dc_node *n = N1("Conv", X("f32[N,3,224,224]"), X("f32[384,3,16,16]"), X("f32[384]"));
    INTS(n, "strides", 16, 16);
    INTS(n, "kernel_shape", 16, 16);
    CHECK_TYPE(ok(n), "f32[N,384,14,14]");
    n = N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3,3]"));
    INTS(n, "pads", 1, 1, 1, 1);
    CHECK_TYPE(ok(n), "f32[1,1,5,5]");
    /* test_conv_with_strides_and_asymmetric_padding */
    n = N1("Conv", X("f32[1,1,7,5]"), X("f32[1,1,3,3]"));
    INTS(n, "strides", 2, 2);
    INTS(n, "pads", 1, 0, 1, 0);
    CHECK_TYPE(ok(n), "f32[1,1,4,2]");
    n = N1("Conv", X("f32[1,1,5,6]"), X("f32[1,1,3,3]"));
    INTS(n, "strides", 2, 2);
    STR(n, "auto_pad", "SAME_UPPER");
    CHECK_TYPE(ok(n), "f32[1,1,3,3]");
    n = N1("Conv", X("f32[1,1,7,7]"), X("f32[1,1,3,3]"));
    INTS(n, "strides", 2, 2);
    STR(n, "auto_pad", "VALID");
    CHECK_TYPE(ok(n), "f32[1,1,3,3]");
    n = N1("Conv", X("f32[1,1,7]"), X("f32[1,1,3]"));
    INTS(n, "dilations", 2);
    CHECK_TYPE(ok(n), "f32[1,1,3]");
    n = N1("Conv", X("f32[1,4,5,5]"), X("f32[8,2,3,3]"));
    INT(n, "group", 2);
    CHECK_TYPE(ok(n), "f32[1,8,3,3]");
    /* An unknown spatial size gives an unknown output size. */
    CHECK_TYPE(ok(N1("Conv", X("f32[2,3,H,8]"), X("f32[4,3,3,3]"))), "f32[2,4,?,6]");
    CHECK_RANK_UNKNOWN(ok(N1("Conv", X("f32"), X("f32"))));

    CHECK_ERR(N1("Conv", X("f32[1,4,5,5]"), X("f32[8,3,3,3]")), DC_ERR_SHAPE,
              "Conv: X has 4 channels but W expects 3 x group 1");
    CHECK_ERR(N1("Conv", X("f32[1,1,2,2]"), X("f32[1,1,3,3]")), DC_ERR_SHAPE,
              "Conv: kernel 3 (dilation 1) does not fit input size 2");
    CHECK_ERR(N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3]")), DC_ERR_SHAPE, "W must have the rank of X");
    CHECK_ERR(N1("Conv", X("f32[1,5]"), X("f32[1,5]")), DC_ERR_SHAPE, "rank >= 3");
    CHECK_ERR(N1("Conv", X("f32[1,1,5,5]"), X("f32[2,1,3,3]"), X("f32[3]")), DC_ERR_SHAPE,
              "Conv: B must be ?[2], found f32[3]");
    n = N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3,3]"));
    INTS(n, "strides", 1);
    CHECK_ERR(n, DC_ERR_SHAPE, "Conv: attribute 'strides' has 1 values, expected 2");
    n = N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3,3]"));
    INTS(n, "strides", 1, 0);
    CHECK_ERR(n, DC_ERR_SHAPE, "strides[1] = 0 out of range");
    n = N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3,3]"));
    STR(n, "auto_pad", "SAME");
    CHECK_ERR(n, DC_ERR_INVALID, "auto_pad 'SAME' is not");
    n = N1("Conv", X("f32[1,1,5,5]"), X("f32[1,1,3,3]"));
    INTS(n, "kernel_shape", 2, 2);
    CHECK_ERR(n, DC_ERR_SHAPE, "kernel_shape[0] = 2 but W is f32[1,1,3,3]");
    n = N1("Conv", X("f32[1,4,5,5]"), X("f32[6,2,3,3]"));
    INT(n, "group", 4);
    CHECK_ERR(n, DC_ERR_SHAPE, "X has 4 channels but W expects 2 x group 4");
    end();
}

/* ---- normalization ---------------------------------------------------------- */

static void test_softmax(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Softmax", X("f32[B,H,T,T]"))), "f32[B,H,T,T]");
    dc_node *n = N1("LogSoftmax", X("f32[2,3]"));
    INT(n, "axis", -2);
    CHECK_TYPE(ok(n), "f32[2,3]");
    n = N1("Softmax", X("f32[2,3]"));
    INT(n, "axis", 3);
    CHECK_ERR(n, DC_ERR_SHAPE, "Softmax: axis 3 out of range for rank 2");
    CHECK_ERR(N1("Softmax", X("i64[3]")), DC_ERR_SHAPE, "must be a float tensor");
    end();
    /* Before opset 13 the default axis is 1, which a 1-D input does not have. */
    begin(11);
    CHECK_ERR(N1("Softmax", X("f32[3]")), DC_ERR_SHAPE, "axis 1 out of range for rank 1");
    CHECK_TYPE(ok(N1("Softmax", X("f32[2,3,4]"))), "f32[2,3,4]");
    end();
}

static void test_layer_norm(void)
{
    begin(17);
    dc_node *n = node("LayerNormalization", IN(X("f32[N,197,384]"), X("f32[384]"), X("f32[384]")), 3);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[0], "f32[N,197,384]");
    CHECK_TYPE(n->outputs[1], "f32[N,197,1]");
    CHECK_TYPE(n->outputs[2], "f32[N,197,1]");
    /* Mean and InvStdDev have the stash type (float) even for f16 data. */
    n = node("LayerNormalization", IN(X("f16[2,3,4]"), X("f16[3,4]"), NULL), 2);
    INT(n, "axis", 1);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[0], "f16[2,3,4]");
    CHECK_TYPE(n->outputs[1], "f32[2,1,1]");
    CHECK_TYPE(ok(N1("LayerNormalization", X("f32[2,5]"), X("f32[1]"))), "f32[2,5]");
    CHECK_ERR(N1("LayerNormalization", X("f32[2,5]"), X("f32[4]")), DC_ERR_SHAPE,
              "LayerNormalization: Scale f32[4] does not broadcast to ?[5]");
    CHECK_ERR(N1("LayerNormalization", X("f32[2,5]"), X("f16[5]")), DC_ERR_SHAPE, "input types differ");
    n = N1("LayerNormalization", X("f32[2,5]"), X("f32[5]"));
    INT(n, "axis", 2);
    CHECK_ERR(n, DC_ERR_SHAPE, "axis 2 out of range for rank 2");
    n = N1("LayerNormalization", X("f32[2,5]"), X("f32[5]"));
    INT(n, "stash_type", 7);
    CHECK_ERR(n, DC_ERR_INVALID, "stash_type 7 is not a float type");
    end();
    begin(16);
    CHECK_ERR(N1("LayerNormalization", X("f32[2,5]"), X("f32[5]")), DC_ERR_UNSUPPORTED, "needs opset 17");
    end();
}

/* ---- reductions ------------------------------------------------------------- */

static void test_reduce(void)
{
    begin(17);
    dc_node *n = N1("ReduceMean", X("f32[N,T,384]"));
    INTS(n, "axes", -1);
    CHECK_TYPE(ok(n), "f32[N,T,1]");
    n = N1("ReduceMax", X("f32[N,T,384]"));
    INTS(n, "axes", 0, 2);
    INT(n, "keepdims", 0);
    CHECK_TYPE(ok(n), "f32[T]");
    CHECK_TYPE(ok(N1("ReduceMin", X("f32[2,3,4]"))), "f32[1,1,1]");
    /* ReduceSum-13 takes the axes as input 1. */
    n = N1("ReduceSum", X("f32[2,3,4]"), KV(1));
    INT(n, "keepdims", 0);
    CHECK_TYPE(ok(n), "f32[2,4]");
    n = N1("ReduceSum", X("f32[2,3,4]"));
    INT(n, "keepdims", 0);
    CHECK_TYPE(ok(n), "f32[]");
    n = N1("ReduceSum", X("f32[2,3,4]"));
    INT(n, "noop_with_empty_axes", 1);
    CHECK_TYPE(ok(n), "f32[2,3,4]");
    /* Axes not known: the rank is known, the dims are not. */
    CHECK_TYPE(ok(N1("ReduceSum", X("f32[2,3,4]"), X("i64[2]"))), "f32[?,?,?]");
    n = N1("ReduceSum", X("f32[2,3,4]"), X("i64[2]"));
    INT(n, "keepdims", 0);
    CHECK_TYPE(ok(n), "f32[?]");
    CHECK_ERR(N1("ReduceMean", X("f32[2,3]"), KV(1)), DC_ERR_INVALID, "opset 17 takes at most 1 input,");
    n = N1("ReduceMean", X("f32[2,3]"));
    INTS(n, "axes", 1, -1);
    CHECK_ERR(n, DC_ERR_SHAPE, "ReduceMean: axis -1 repeated in axes");
    n = N1("ReduceMean", X("f32[2,3]"));
    INTS(n, "axes", 2);
    CHECK_ERR(n, DC_ERR_SHAPE, "axis 2 out of range for rank 2");
    CHECK_ERR(N1("ReduceSum", X("f32[2,3]"), KFV(1.0f)), DC_ERR_SHAPE, "input 1 must be an integer tensor");
    /* An attribute that opset 13 turned into an input is not silently ignored. */
    n = N1("ReduceSum", X("f32[2,3]"));
    INTS(n, "axes", 0);
    CHECK_ERR(n, DC_ERR_INVALID, "ReduceSum: opset 17 takes 'axes' as input 1, not as an attribute");
    end();
    begin(11); /* ReduceSum-11 has the axes attribute */
    n = N1("ReduceSum", X("f32[2,3,4]"));
    INTS(n, "axes", 0);
    CHECK_TYPE(ok(n), "f32[1,3,4]");
    CHECK_ERR(N1("ReduceSum", X("f32[2,3]"), KV(1)), DC_ERR_INVALID, "takes at most 1 input,");
    end();
}

static void test_argmax(void)
{
    begin(17);
    dc_node *n = N1("ArgMax", X("f32[N,10]"));
    INT(n, "axis", 1);
    INT(n, "keepdims", 0);
    CHECK_TYPE(ok(n), "i64[N]");
    CHECK_TYPE(ok(N1("ArgMin", X("f16[3,4]"))), "i64[1,4]");
    n = N1("ArgMin", X("f32[3]"));
    INT(n, "axis", -2);
    CHECK_ERR(n, DC_ERR_SHAPE, "ArgMin: axis -2 out of range for rank 1");
    end();
}

/* ---- shape ops -------------------------------------------------------------- */

static void test_transpose(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Transpose", X("f32[2,N,4]"))), "f32[4,N,2]");
    dc_node *n = N1("Transpose", X("f32[B,T,H,D]"));
    INTS(n, "perm", 0, 2, 1, 3);
    CHECK_TYPE(ok(n), "f32[B,H,T,D]");
    n = N1("Transpose", X("f32[2,3]"));
    INTS(n, "perm", 0, 0);
    CHECK_ERR(n, DC_ERR_SHAPE, "Transpose: perm is not a permutation of 0..1");
    n = N1("Transpose", X("f32[2,3]"));
    INTS(n, "perm", 1, 0, 2);
    CHECK_ERR(n, DC_ERR_SHAPE, "perm has 3 entries for input f32[2,3]");
    n = N1("Transpose", X("f32[2,3]"));
    INT(n, "perm", 1);
    CHECK_ERR(n, DC_ERR_INVALID, "attribute 'perm' must be INTS, found INT");
    end();
}

static void test_reshape(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Reshape", X("f32[2,3]"), KV(3, 2))), "f32[3,2]");
    CHECK_TYPE(ok(N1("Reshape", X("f32[2,3,4]"), KV(-1))), "f32[24]");
    CHECK_TYPE(ok(N1("Reshape", X("f32[2,3,4]"), KV(0, -1))), "f32[2,12]");
    CHECK_TYPE(ok(N1("Reshape", X("f32[2,3,4]"), KV(4, 0, -1))), "f32[4,3,2]");
    /* A symbol copied by 0 cancels out of the -1. */
    CHECK_TYPE(ok(N1("Reshape", X("f32[N,4,6]"), KV(0, -1))), "f32[N,24]");
    CHECK_TYPE(ok(N1("Reshape", X("f32[N,197,384]"), KV(0, 0, 6, 64))), "f32[N,197,6,64]");
    CHECK_TYPE(ok(N1("Reshape", X("f32[N,4,6]"), KV(-1, 6))), "f32[?,6]");
    /* The shape is not known: only the rank is. */
    CHECK_TYPE(ok(N1("Reshape", X("f32[2,3]"), X("i64[3]"))), "f32[?,?,?]");
    CHECK_RANK_UNKNOWN(ok(N1("Reshape", X("f32[2,3]"), X("i64[?]"))));
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KV(4, 2)), DC_ERR_SHAPE,
              "Reshape: cannot reshape 6 elements to [4,2]");
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KV(4, -1)), DC_ERR_SHAPE, "cannot reshape 6 elements to [4,?]");
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KV(-1, -1)), DC_ERR_SHAPE, "more than one -1");
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KV(-2, 3)), DC_ERR_SHAPE, "shape[0] = -2 is invalid");
    CHECK_ERR(N1("Reshape", X("f32[6]"), KV(3, 0)), DC_ERR_SHAPE, "shape[1] = 0 copies an axis");
    CHECK_ERR(N1("Reshape", X("f32[6]"), KV(1, 1, 1, 1, 1, 1, 1, 1, 6)), DC_ERR_SHAPE, "9 entries");
    CHECK_ERR(N1("Reshape", X("f32[6]"), KV(INT64_MAX, INT64_MAX)), DC_ERR_SHAPE, "overflows");
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KFV(6.0f)), DC_ERR_SHAPE, "input 1 must be an integer tensor");
    end();
}

static void test_reshape_versions(void)
{
    begin(14); /* allowzero: a 0 is a size, not a copy */
    dc_node *n = N1("Reshape", X("f32[0,3]"), KV(3, 0));
    INT(n, "allowzero", 1);
    CHECK_TYPE(ok(n), "f32[3,0]");
    n = N1("Reshape", X("f32[0,3]"), KV(0, -1));
    INT(n, "allowzero", 1);
    CHECK_ERR(n, DC_ERR_SHAPE, "allowzero=1 the shape cannot hold both 0 and -1");
    n = N1("Reshape", X("f32[2,3]"), KV(6));
    INTS(n, "shape", 6);
    CHECK_ERR(n, DC_ERR_INVALID, "opset 14 takes 'shape' as input 1");
    end();
    begin(13); /* no allowzero before 14: 0 copies */
    n = N1("Reshape", X("f32[2,3]"), KV(0, 3));
    INT(n, "allowzero", 1);
    CHECK_TYPE(ok(n), "f32[2,3]");
    end();
    begin(4); /* Reshape-1: the shape is an attribute */
    n = N1("Reshape", X("f32[2,3]"));
    INTS(n, "shape", 3, -1);
    CHECK_TYPE(ok(n), "f32[3,2]");
    CHECK_ERR(N1("Reshape", X("f32[2,3]"), KV(6)), DC_ERR_INVALID, "takes at most 1 input,");
    end();
}

static void test_flatten(void)
{
    begin(17);
    dc_node *n = N1("Flatten", X("f32[2,3,4,5]"));
    INT(n, "axis", 2);
    CHECK_TYPE(ok(n), "f32[6,20]");
    n = N1("Flatten", X("f32[2,3,4,5]"));
    INT(n, "axis", 0);
    CHECK_TYPE(ok(n), "f32[1,120]");
    n = N1("Flatten", X("f32[2,3,4,5]"));
    INT(n, "axis", 4);
    CHECK_TYPE(ok(n), "f32[120,1]");
    CHECK_TYPE(ok(N1("Flatten", X("f32[N,3,4]"))), "f32[N,12]");
    CHECK_TYPE(ok(N1("Flatten", X("f32[N,M,4]"))), "f32[N,?]");
    n = N1("Flatten", X("f32[2,3,4]"));
    INT(n, "axis", -1);
    CHECK_TYPE(ok(n), "f32[6,4]");
    CHECK_TYPE(ok(N1("Flatten", X("f32"))), "f32[?,?]");
    n = N1("Flatten", X("f32[2,3]"));
    INT(n, "axis", 3);
    CHECK_ERR(n, DC_ERR_SHAPE, "Flatten: axis 3 out of range for rank 2");
    end();
    begin(9); /* negative axes arrived in opset 11 */
    n = N1("Flatten", X("f32[2,3,4]"));
    INT(n, "axis", -1);
    CHECK_ERR(n, DC_ERR_SHAPE, "axis -1 out of range for rank 3 (expected 0..3)");
    end();
}

static void test_squeeze(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Squeeze", X("f32[1,3,1,N]"), KV(0, -2))), "f32[3,N]");
    CHECK_TYPE(ok(N1("Squeeze", X("f32[1,3,1,4]"))), "f32[3,4]");
    /* A symbolic dim may or may not be 1: without axes the rank is unknown. */
    CHECK_RANK_UNKNOWN(ok(N1("Squeeze", X("f32[1,N]"))));
    /* A symbol listed in axes must be 1. */
    CHECK_TYPE(ok(N1("Squeeze", X("f32[N,3]"), KV(0))), "f32[3]");
    CHECK_TYPE(ok(N1("Squeeze", X("f32[1,3,1]"), X("i64[2]"))), "f32[?]");
    CHECK_ERR(N1("Squeeze", X("f32[1,3]"), KV(1)), DC_ERR_SHAPE, "Squeeze: axis 1 of f32[1,3] has size 3, expected 1");
    CHECK_ERR(N1("Squeeze", X("f32[1,3]"), KV(2)), DC_ERR_SHAPE, "axis 2 out of range for rank 2");
    dc_node *sq = N1("Squeeze", X("f32[1,3]"));
    INTS(sq, "axes", 0);
    CHECK_ERR(sq, DC_ERR_INVALID, "takes 'axes' as input 1");
    end();
    begin(11); /* axes attribute before opset 13 */
    dc_node *n = N1("Squeeze", X("f32[1,3,1]"));
    INTS(n, "axes", 2);
    CHECK_TYPE(ok(n), "f32[1,3]");
    CHECK_ERR(N1("Squeeze", X("f32[1,3]"), KV(0)), DC_ERR_INVALID, "opset 11 takes at most 1 input,");
    end();
}

static void test_unsqueeze(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Unsqueeze", X("f32[3,N]"), KV(0, 3))), "f32[1,3,N,1]");
    CHECK_TYPE(ok(N1("Unsqueeze", X("f32[3,4,5]"), KV(4, 3))), "f32[3,4,5,1,1]");
    CHECK_TYPE(ok(N1("Unsqueeze", X("f32[3]"), KV(-1))), "f32[3,1]");
    CHECK_TYPE(ok(N1("Unsqueeze", X("f32[3]"), X("i64[2]"))), "f32[?,?,?]");
    CHECK_ERR(N1("Unsqueeze", X("f32[3]"), KV(0, 0)), DC_ERR_SHAPE, "axis 0 repeated");
    CHECK_ERR(N1("Unsqueeze", X("f32[3]"), KV(2)), DC_ERR_SHAPE, "axis 2 out of range for rank 2");
    CHECK_ERR(N1("Unsqueeze", X("f32[1,1,1,1,1,1,1]"), KV(0, 1)), DC_ERR_SHAPE, "exceeds rank 8");
    CHECK_ERR(N1("Unsqueeze", X("f32[3]")), DC_ERR_INVALID, "opset 17 needs input 1");
    end();
    begin(11);
    dc_node *n = N1("Unsqueeze", X("f32[3,4]"));
    INTS(n, "axes", -1, 0);
    CHECK_TYPE(ok(n), "f32[1,3,4,1]");
    CHECK_ERR(N1("Unsqueeze", X("f32[3]")), DC_ERR_INVALID, "attribute 'axes' is required before opset 13");
    end();
}

static void test_expand(void)
{
    begin(17);
    CHECK_TYPE(ok(N1("Expand", X("f32[3,1]"), KV(2, 1, 6))), "f32[2,3,6]");
    CHECK_TYPE(ok(N1("Expand", X("f32[N,1,384]"), KV(1, 1, 1))), "f32[N,1,384]");
    CHECK_TYPE(ok(N1("Expand", X("f32[1,1,384]"), KV(4, 1, 1))), "f32[4,1,384]");
    /* The shape is not known: a static input dim other than 1 survives. */
    CHECK_TYPE(ok(N1("Expand", X("f32[3,1]"), X("i64[3]"))), "f32[?,3,?]");
    CHECK_VALS(ok(N1("Expand", KV(7), KV(3))), 7, 7, 7);
    CHECK_ERR(N1("Expand", X("f32[3,2]"), KV(4)), DC_ERR_SHAPE, "do not broadcast");
    CHECK_ERR(N1("Expand", X("f32[3]"), KV(-3)), DC_ERR_SHAPE, "shape[0] = -3 is negative");
    end();
}

static void test_shape_size(void)
{
    begin(17);
    dc_value *s = ok(N1("Shape", X("f32[2,3,4]")));
    CHECK_TYPE(s, "i64[3]");
    CHECK_VALS(s, 2, 3, 4);
    s = ok(N1("Shape", X("f32[N,3,4]")));
    CHECK_TYPE(s, "i64[3]");
    CU_ASSERT_PTR_NULL(s->constant);
    CHECK_TYPE(ok(N1("Shape", X("f32"))), "i64[?]");
    dc_value *n = ok(N1("Size", X("f32[2,3,4]")));
    CHECK_TYPE(n, "i64[]");
    CHECK_VALS(n, 24);
    CU_ASSERT_PTR_NULL(ok(N1("Size", X("f32[N,3]")))->constant);
    end();
    begin(15); /* start and end: the static part of a partly symbolic shape is known */
    dc_node *sn = N1("Shape", X("f32[N,3,4]"));
    INT(sn, "start", 1);
    s = ok(sn);
    CHECK_TYPE(s, "i64[2]");
    CHECK_VALS(s, 3, 4);
    sn = N1("Shape", X("f32[2,3,4]"));
    INT(sn, "start", -100);
    INT(sn, "end", -1);
    CHECK_VALS(ok(sn), 2, 3);
    sn = N1("Shape", X("f32[2,3,4]"));
    INT(sn, "start", 2);
    INT(sn, "end", 1);
    CHECK_TYPE(ok(sn), "i64[0]");
    end();
    begin(14); /* Shape-13 ignores start */
    sn = N1("Shape", X("f32[2,3,4]"));
    INT(sn, "start", 1);
    CHECK_TYPE(ok(sn), "i64[3]");
    end();
}

/* ---- Concat / Split / Slice / Gather ---------------------------------------- */

static void test_concat(void)
{
    begin(17);
    dc_node *n = N1("Concat", X("f32[2,3]"), X("f32[2,5]"));
    INT(n, "axis", 1);
    CHECK_TYPE(ok(n), "f32[2,8]");
    /* ViT: [N,1,384] cls token + [N,196,384] patches. */
    n = N1("Concat", X("f32[N,1,384]"), X("f32[N,196,384]"));
    INT(n, "axis", -2);
    CHECK_TYPE(ok(n), "f32[N,197,384]");
    n = N1("Concat", X("f32[N,3]"), X("f32[2,3]"));
    INT(n, "axis", 0);
    CHECK_TYPE(ok(n), "f32[?,3]");
    n = N1("Concat", X("f32[?,3]"), X("f32[2,?]"), X("f32"));
    INT(n, "axis", 1);
    CHECK_TYPE(ok(n), "f32[2,?]");
    n = N1("Concat", X("f32[2,3]"), X("f32[4,5]"));
    INT(n, "axis", 1);
    CHECK_ERR(n, DC_ERR_SHAPE, "Concat: input 1 is f32[4,5] but input 0 is f32[2,3]: axis 0 differs");
    n = N1("Concat", X("f32[2,3]"), X("f32[2]"));
    INT(n, "axis", 0);
    CHECK_ERR(n, DC_ERR_SHAPE, "ranks differ");
    n = N1("Concat", X("f32[2]"), X("i64[2]"));
    INT(n, "axis", 0);
    CHECK_ERR(n, DC_ERR_SHAPE, "input types differ");
    CHECK_ERR(N1("Concat", X("f32[2]"), X("f32[2]")), DC_ERR_INVALID, "attribute 'axis' is required");
    n = N1("Concat", X("f32[2]"), X("f32[2]"));
    INT(n, "axis", 1);
    CHECK_ERR(n, DC_ERR_SHAPE, "axis 1 out of range for rank 1");
    n = N1("Concat", KV(1, 2), KV(3));
    INT(n, "axis", 0);
    CHECK_VALS(ok(n), 1, 2, 3);
    dc_value *a = K(DC_I64, 2, (int64_t[]){2, 1}, (int64_t[]){1, 2});
    dc_value *b = K(DC_I64, 2, (int64_t[]){2, 2}, (int64_t[]){3, 4, 5, 6});
    n = N1("Concat", a, b);
    INT(n, "axis", 1);
    CHECK_VALS(ok(n), 1, 3, 4, 2, 5, 6);
    end();
    begin(1); /* Concat-1: axis defaults to 1 */
    CHECK_TYPE(ok(N1("Concat", X("f32[2,3]"), X("f32[2,1]"))), "f32[2,4]");
    end();
}

static void test_split(void)
{
    begin(17);
    /* Equal parts from the number of outputs (opset 17 has no num_outputs). */
    dc_node *n = node("Split", IN(X("f32[6,N]")), 3);
    DC_ASSERT_OK(infer(n));
    for (int i = 0; i < 3; i++)
        CHECK_TYPE(n->outputs[i], "f32[2,N]");
    /* torch's qkv split: [N,197,1152] -> 3 x [N,197,384]. */
    n = node("Split", IN(X("f32[N,197,1152]"), KV(384, 384, 384)), 3);
    INT(n, "axis", -1);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[2], "f32[N,197,384]");
    n = node("Split", IN(X("f32[2,7]"), KV(3, 4)), 2);
    INT(n, "axis", 1);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[0], "f32[2,3]");
    CHECK_TYPE(n->outputs[1], "f32[2,4]");
    n = node("Split", IN(X("f32[2,7]"), X("i64[2]")), 2);
    INT(n, "axis", 1);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[1], "f32[2,?]");
    n = node("Split", IN(X("f32[N]")), 2);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[1], "f32[?]");
    CHECK_ERR(node("Split", IN(X("f32[7]")), 2), DC_ERR_SHAPE,
              "Split: axis 0 of f32[7] (size 7) does not split into 2 equal parts");
    CHECK_ERR(node("Split", IN(X("f32[7]"), KV(3, 3)), 2), DC_ERR_SHAPE,
              "Split: split sizes add up to 6, but axis 0 of f32[7] has size 7");
    CHECK_ERR(node("Split", IN(X("f32[7]"), KV(3, 4)), 3), DC_ERR_SHAPE, "2 split sizes for 3 outputs");
    CHECK_ERR(node("Split", IN(X("f32[7]"), KV(-1, 8)), 2), DC_ERR_SHAPE, "split[0] = -1 is invalid");
    n = node("Split", IN(X("f32[7]")), 2);
    INTS(n, "split", 3, 4);
    CHECK_ERR(n, DC_ERR_INVALID, "takes 'split' as input 1");
    end();
    begin(11); /* Split-11: sizes in the `split` attribute */
    n = node("Split", IN(X("f32[5,2]")), 2);
    INTS(n, "split", 1, 4);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[1], "f32[4,2]");
    CHECK_ERR(node("Split", IN(X("f32[4]"), KV(2, 2)), 2), DC_ERR_INVALID, "takes at most 1 input,");
    end();
}

static void test_slice(void)
{
    begin(17);
    dc_value *x = X("f32[20,10,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(0, 0), KV(3, 10), KV(0, 1), KV(1, 1))), "f32[3,10,5]");
    /* test_slice_neg_steps */
    CHECK_TYPE(ok(N1("Slice", x, KV(20, 10, 4), KV(0, 0, 1), KV(0, 1, 2), KV(-1, -3, -2))), "f32[19,3,2]");
    CHECK_TYPE(ok(N1("Slice", x, KV(1), KV(1000), KV(1), KV(1))), "f32[20,9,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(1000), KV(1000), KV(1), KV(1))), "f32[20,0,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(0), KV(-1), KV(1))), "f32[20,9,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(0, 0, 3), KV(20, 10, 4))), "f32[20,10,1]");
    CHECK_TYPE(ok(N1("Slice", x, KV(1), KV(1000), KV(-2))), "f32[20,9,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(-1), KV(INT64_MIN), KV(0), KV(INT64_MIN))), "f32[1,10,5]");
    /* [0:INT64_MAX] keeps a symbolic dim; other ranges of it are unknown. */
    CHECK_TYPE(ok(N1("Slice", X("f32[N,197,384]"), KV(0, 1), KV(INT64_MAX, INT64_MAX), KV(0, 1))),
               "f32[N,196,384]");
    CHECK_TYPE(ok(N1("Slice", X("f32[N,4]"), KV(1), KV(3), KV(0))), "f32[?,4]");
    /* Bounds not known: the listed axes (or all of them) become unknown. */
    CHECK_TYPE(ok(N1("Slice", x, X("i64[1]"), KV(3), KV(1))), "f32[20,?,5]");
    CHECK_TYPE(ok(N1("Slice", x, KV(0), KV(3), X("i64[1]"))), "f32[?,?,?]");
    CHECK_ERR(N1("Slice", x, KV(0), KV(3), KV(1), KV(0)), DC_ERR_SHAPE, "Slice: step 0 on axis 1");
    CHECK_ERR(N1("Slice", x, KV(0, 0), KV(3)), DC_ERR_SHAPE, "starts, ends, axes and steps differ in length");
    CHECK_ERR(N1("Slice", x, KV(0, 0), KV(3, 3), KV(1, -2)), DC_ERR_SHAPE, "axis 1 repeated");
    CHECK_ERR(N1("Slice", x, KV(0), KV(3), KV(3)), DC_ERR_SHAPE, "axis 3 out of range for rank 3");
    CHECK_ERR(N1("Slice", x, KV(0)), DC_ERR_INVALID, "opset 17 needs input 2");
    dc_node *sl = N1("Slice", x, KV(0), KV(3));
    INTS(sl, "starts", 0);
    CHECK_ERR(sl, DC_ERR_INVALID, "takes 'starts' as input 1");
    /* Folding, forwards and backwards. */
    CHECK_VALS(ok(N1("Slice", KV(1, 2, 3, 4, 5), KV(1), KV(-1))), 2, 3, 4);
    CHECK_VALS(ok(N1("Slice", KV(1, 2, 3, 4, 5), KV(-1), KV(INT64_MIN), KV(0), KV(-2))), 5, 3, 1);
    dc_value *m = K(DC_I64, 2, (int64_t[]){2, 3}, (int64_t[]){1, 2, 3, 4, 5, 6});
    CHECK_VALS(ok(N1("Slice", m, KV(1), KV(3), KV(1))), 2, 3, 5, 6);
    end();
    begin(9); /* Slice-1: attributes */
    dc_node *n = N1("Slice", X("f32[20,10,5]"));
    INTS(n, "starts", 0, 2);
    INTS(n, "ends", 3, -1);
    INTS(n, "axes", 0, 2);
    CHECK_TYPE(ok(n), "f32[3,10,2]");
    CHECK_ERR(N1("Slice", X("f32[4]")), DC_ERR_INVALID, "'starts' and 'ends' are required");
    end();
}

static void test_gather(void)
{
    begin(17);
    dc_node *n = N1("Gather", X("f32[5,4,3]"), X("i64[2,2]"));
    INT(n, "axis", 1);
    CHECK_TYPE(ok(n), "f32[5,2,2,3]");
    CHECK_TYPE(ok(N1("Gather", X("f32[N,197,384]"), KS(0))), "f32[197,384]");
    n = N1("Gather", X("f32[N,197,384]"), X("i32[M]"));
    INT(n, "axis", -2);
    CHECK_TYPE(ok(n), "f32[N,M,384]");
    CHECK_VALS(ok(N1("Gather", KV(10, 20, 30), KV(2, -3))), 30, 10);
    dc_value *m = K(DC_I64, 2, (int64_t[]){2, 3}, (int64_t[]){1, 2, 3, 4, 5, 6});
    n = N1("Gather", m, KS(-1));
    INT(n, "axis", 1);
    dc_value *col = ok(n);
    CHECK_TYPE(col, "i64[2]");
    CHECK_VALS(col, 3, 6);
    CHECK_ERR(N1("Gather", X("f32[3,4]"), KV(3)), DC_ERR_SHAPE,
              "Gather: index 3 out of range for axis 0 of f32[3,4]");
    CHECK_ERR(N1("Gather", X("f32[3]"), X("f32[2]")), DC_ERR_SHAPE, "indices must be an integer tensor");
    CHECK_ERR(N1("Gather", X("f32[]"), KS(0)), DC_ERR_SHAPE, "axis 0 out of range for rank 0");
    CHECK_ERR(N1("Gather", X("f32[1,1,1,1,1,1,1,1]"), X("i64[2,2]")), DC_ERR_SHAPE, "gives rank 9");
    end();
}

/* ---- Constant / ConstantOfShape / Cast / Dropout ---------------------------- */

static void test_constant(void)
{
    begin(17);
    dc_tensor *t;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 2, (int64_t[]){2, 3}));
    dc_node *n = node("Constant", 0, NULL, 1);
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", t));
    dc_value *y = ok(n);
    CHECK_TYPE(y, "f32[2,3]");
    CU_ASSERT_PTR_EQUAL(y->constant, t);
    n = node("Constant", 0, NULL, 1);
    INTS(n, "value_ints", 3, -1, 64);
    y = ok(n);
    CHECK_TYPE(y, "i64[3]");
    CHECK_VALS(y, 3, -1, 64);
    n = node("Constant", 0, NULL, 1);
    INT(n, "value_int", 5);
    y = ok(n);
    CHECK_TYPE(y, "i64[]");
    CHECK_VALS(y, 5);
    n = node("Constant", 0, NULL, 1);
    FLOAT(n, "value_float", 0.5f);
    y = ok(n);
    CHECK_TYPE(y, "f32[]");
    CU_ASSERT_DOUBLE_EQUAL(dc_tensor_get_f64(y->constant, 0), 0.5, 0);
    n = node("Constant", 0, NULL, 1);
    DC_ASSERT_OK(dc_node_set_floats(n, g, "value_floats", (float[]){1, 2}, 2));
    CHECK_TYPE(ok(n), "f32[2]");
    n = node("Constant", 0, NULL, 1);
    STR(n, "value_string", "hello");
    CHECK_ERR(n, DC_ERR_UNSUPPORTED, "Constant: string values are unsupported");
    CHECK_ERR(node("Constant", 0, NULL, 1), DC_ERR_INVALID, "expected exactly one of value");
    n = node("Constant", 0, NULL, 1);
    INT(n, "value_int", 5);
    INTS(n, "value_ints", 5);
    CHECK_ERR(n, DC_ERR_INVALID, "found 2");
    n = node("Constant", 0, NULL, 1);
    FLOAT(n, "value_ints", 5);
    CHECK_ERR(n, DC_ERR_INVALID, "Constant: attribute 'value_ints' must be INTS, found FLOAT");
    end();
    begin(11); /* value_int and friends arrived in opset 12 */
    n = node("Constant", 0, NULL, 1);
    INT(n, "value_int", 5);
    CHECK_ERR(n, DC_ERR_INVALID, "attribute 'value_int' needs opset 12, the graph imports 11");
    end();
}

static void test_constant_of_shape(void)
{
    begin(17);
    dc_value *y = ok(N1("ConstantOfShape", KV(2, 3)));
    CHECK_TYPE(y, "f32[2,3]");
    CU_ASSERT_PTR_NULL(y->constant); /* float data is not folded */
    dc_node *n = N1("ConstantOfShape", KV(3));
    dc_tensor *v;
    DC_ASSERT_OK(dc_tensor_create(&v, NULL, DC_I64, 1, (int64_t[]){1}));
    ((int64_t *)v->data)[0] = 7;
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", v));
    y = ok(n);
    CHECK_TYPE(y, "i64[3]");
    CHECK_VALS(y, 7, 7, 7);
    /* An empty shape gives a scalar. */
    CHECK_TYPE(ok(N1("ConstantOfShape", K(DC_I64, 1, (int64_t[]){0}, NULL))), "f32[]");
    CHECK_TYPE(ok(N1("ConstantOfShape", X("i64[2]"))), "f32[?,?]");
    CHECK_RANK_UNKNOWN(ok(N1("ConstantOfShape", X("i64[?]"))));
    /* 2^40 floats is an error, not an allocation. */
    CHECK_ERR(N1("ConstantOfShape", KV(1 << 20, 1 << 20)), DC_ERR_NOMEM, "ConstantOfShape");
    CHECK_ERR(N1("ConstantOfShape", KV(2, -1)), DC_ERR_INVALID, "negative dimension -1");
    n = N1("ConstantOfShape", KV(2));
    DC_ASSERT_OK(dc_tensor_create(&v, NULL, DC_F32, 1, (int64_t[]){2}));
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", v));
    CHECK_ERR(n, DC_ERR_INVALID, "'value' must hold one element, found 2");
    end();
}

static void test_cast(void)
{
    begin(17);
    dc_node *n = N1("Cast", X("f32[N,3]"));
    INT(n, "to", DC_F16);
    CHECK_TYPE(ok(n), "f16[N,3]");
    n = N1("Cast", KV(1, 0, 300));
    INT(n, "to", DC_BOOL);
    dc_value *y = ok(n);
    CHECK_TYPE(y, "bool[3]");
    CHECK_VALS(y, 1, 0, 1);
    n = N1("Cast", KV(1, 0, 300));
    INT(n, "to", DC_I32);
    CHECK_VALS(ok(n), 1, 0, 300);
    n = N1("Cast", KV(1));
    INT(n, "to", DC_F32);
    CU_ASSERT_PTR_NULL(ok(n)->constant);
    n = N1("Cast", X("f32[3]"));
    INT(n, "to", 99);
    CHECK_ERR(n, DC_ERR_INVALID, "Cast: 'to' is not an element type (99)");
    CHECK_ERR(N1("Cast", X("f32[3]")), DC_ERR_INVALID, "attribute 'to' is required");
    n = N1("Cast", X("f32[3]"));
    INT(n, "to", DC_STRING);
    CHECK_ERR(n, DC_ERR_UNSUPPORTED, "string tensors are not supported");
    end();
    begin(5); /* Cast-1: `to` is a type name */
    n = N1("Cast", X("f32[3]"));
    STR(n, "to", "DOUBLE");
    CHECK_TYPE(ok(n), "f64[3]");
    n = N1("Cast", X("f32[3]"));
    STR(n, "to", "REAL");
    CHECK_ERR(n, DC_ERR_INVALID, "not an element type");
    end();
}

static void test_dropout(void)
{
    begin(17);
    dc_node *n = node("Dropout", IN(X("f32[N,384]"), X("f32[]"), X("bool[]")), 2);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[0], "f32[N,384]");
    CHECK_TYPE(n->outputs[1], "bool[N,384]");
    CHECK_TYPE(ok(node("Dropout", IN(X("f32[2]"), NULL, NULL), 1)), "f32[2]");
    CHECK_ERR(node("Dropout", IN(X("f32[2]"), NULL, X("f32[]")), 1), DC_ERR_SHAPE,
              "training_mode must be bool");
    end();
    begin(9); /* the mask had the data's type before opset 10 */
    n = node("Dropout", IN(X("f32[2,3]")), 2);
    FLOAT(n, "ratio", 0.1f);
    DC_ASSERT_OK(infer(n));
    CHECK_TYPE(n->outputs[1], "f32[2,3]");
    n = N1("Dropout", X("f32[2,3]"));
    FLOAT(n, "ratio", 1.5f);
    CHECK_ERR(n, DC_ERR_INVALID, "Dropout: ratio 1.5 is not in [0, 1)");
    CHECK_ERR(N1("Dropout", X("f32[2]"), X("f32[]")), DC_ERR_INVALID, "opset 9 takes at most 1 input,");
    end();
}

/* ---- Resize ----------------------------------------------------------------- */

static void test_resize(void)
{
    begin(17);
    dc_value *x = X("f32[1,3,4,4]");
    dc_node *n = node("Resize", IN(x, NULL, KFV(1, 1, 2, 2)), 1);
    STR(n, "mode", "cubic");
    CHECK_TYPE(ok(n), "f32[1,3,8,8]");
    CHECK_TYPE(ok(node("Resize", IN(X("f32[1,1,5,5]"), NULL, KFV(1, 1, 0.5f, 1.5f)), 1)), "f32[1,1,2,7]");
    CHECK_TYPE(ok(node("Resize", IN(x, NULL, NULL, KV(1, 3, 7, 9)), 1)), "f32[1,3,7,9]");
    /* An empty scales input stands for "not given" (opset 11 requires it). */
    dc_value *empty = K(DC_F32, 1, (int64_t[]){0}, NULL);
    CHECK_TYPE(ok(node("Resize", IN(x, empty, empty, KV(1, 3, 2, 2)), 1)), "f32[1,3,2,2]");
    /* A symbolic dim survives a scale of 1. */
    CHECK_TYPE(ok(node("Resize", IN(X("f32[N,3,H,W]"), NULL, KFV(1, 1, 2, 2)), 1)), "f32[N,3,?,?]");
    CHECK_TYPE(ok(node("Resize", IN(x, NULL, X("f32[4]")), 1)), "f32[?,?,?,?]");
    CHECK_ERR(node("Resize", IN(x, NULL, KFV(2, 2), NULL), 1), DC_ERR_SHAPE,
              "Resize: scales has 2 entries for input f32[1,3,4,4]");
    CHECK_ERR(node("Resize", IN(x, NULL, KFV(1, 1, 2, 2), KV(1, 3, 8, 8)), 1), DC_ERR_INVALID,
              "only one of scales and sizes");
    CHECK_ERR(node("Resize", IN(x), 1), DC_ERR_INVALID, "one of scales and sizes is required");
    CHECK_ERR(node("Resize", IN(x, NULL, KFV(1, 1, 0, 2)), 1), DC_ERR_SHAPE,
              "scales[2] = 0 is not a positive number");
    CHECK_ERR(node("Resize", IN(x, NULL, KV(1, 1, 2, 2)), 1), DC_ERR_SHAPE, "scales must be a float tensor");
    n = node("Resize", IN(x, NULL, KFV(1, 1, 2, 2)), 1);
    STR(n, "mode", "area");
    CHECK_ERR(n, DC_ERR_INVALID, "Resize: mode 'area' is not supported");
    end();
    begin(10); /* Resize-10: (X, scales), no cubic */
    n = N1("Resize", X("f32[1,3,4,4]"), KFV(1, 1, 2, 3));
    CHECK_TYPE(ok(n), "f32[1,3,8,12]");
    n = N1("Resize", X("f32[1,3,4,4]"), KFV(1, 1, 2, 3));
    STR(n, "mode", "cubic");
    CHECK_ERR(n, DC_ERR_INVALID, "mode 'cubic' is not supported");
    end();
    begin(11); /* Resize-11: roi and scales are required */
    CHECK_ERR(node("Resize", IN(X("f32[1,3,4,4]"), NULL, NULL, KV(1, 3, 2, 2)), 1), DC_ERR_INVALID,
              "opset 11 needs input 1");
    end();
}

/* ---- whole graphs ----------------------------------------------------------- */

/* torch's view(B, T, H, D): Shape -> Gather -> Unsqueeze -> Concat -> Reshape. */
static dc_value *torch_view(dc_value *x, int64_t heads, int64_t dim)
{
    dc_value *shape = ok(N1("Shape", x));
    dc_value *b = ok(N1("Gather", shape, KS(0))), *t = ok(N1("Gather", shape, KS(1)));
    dc_value *b1 = ok(N1("Unsqueeze", b, KV(0))), *t1 = ok(N1("Unsqueeze", t, KV(0)));
    dc_node *cat = N1("Concat", b1, t1, KV(heads), KV(dim));
    INT(cat, "axis", 0);
    return ok(N1("Reshape", x, ok(cat)));
}

static void test_shape_arithmetic_chain(void)
{
    begin(17);
    dc_value *y = torch_view(X("f32[2,197,384]"), 6, 64);
    CHECK_TYPE(y, "f32[2,197,6,64]");
    CHECK_VALS(y->producer->inputs[1], 2, 197, 6, 64);
    /* A symbolic batch: the shape tensor is not known, only its length. */
    y = torch_view(X("f32[N,197,384]"), 6, 64);
    CHECK_TYPE(y, "f32[?,?,?,?]");
    /* Size -> Div -> ConstantOfShape -> Shape: all folded. */
    dc_value *count = ok(N1("Size", X("f32[4,6]")));
    dc_value *half = ok(N1("Div", count, KS(12)));
    CHECK_VALS(half, 2);
    dc_value *dims = ok(N1("Unsqueeze", half, KV(0)));
    dc_node *cos = N1("ConstantOfShape", dims);
    dc_tensor *one;
    DC_ASSERT_OK(dc_tensor_create(&one, NULL, DC_I64, 1, (int64_t[]){1}));
    ((int64_t *)one->data)[0] = 1;
    DC_ASSERT_OK(dc_node_set_tensor(cos, g, "value", one));
    CHECK_VALS(ok(cos), 1, 1);
    end();
}

/* dc_infer_shapes over a small attention block; a second run recomputes
 * folded data instead of keeping it stale. */
static void test_infer_shapes_graph(void)
{
    begin(17);
    dc_value *x = X("f32[B,197,384]"), *w = X("f32[384,1152]");
    dc_node *qkv = N1("MatMul", x, w);
    dc_node *split = node("Split", IN(qkv->outputs[0], KV(384, 384, 384)), 3);
    INT(split, "axis", 2);
    dc_node *kt = N1("Transpose", split->outputs[1]);
    INTS(kt, "perm", 0, 2, 1);
    dc_node *att = N1("MatMul", split->outputs[0], kt->outputs[0]);
    dc_node *sm = N1("Softmax", att->outputs[0]);
    dc_node *out = N1("MatMul", sm->outputs[0], split->outputs[2]);
    dc_node *shape = N1("Shape", out->outputs[0]);
    INT(shape, "start", 1);
    dc_value *k = KV(2);
    dc_node *sum = N1("Add", shape->outputs[0], k);
    DC_ASSERT_OK(dc_infer_shapes(g));
    CHECK_TYPE(att->outputs[0], "f32[B,197,197]");
    CHECK_TYPE(out->outputs[0], "f32[B,197,384]");
    CHECK_VALS(shape->outputs[0], 197, 384);
    CHECK_VALS(sum->outputs[0], 199, 386);
    /* New data in an initializer: the second run folds it again. */
    ((int64_t *)k->constant->data)[0] = 10;
    DC_ASSERT_OK(dc_infer_shapes(g));
    CHECK_VALS(sum->outputs[0], 207, 394);
    /* A contradiction names the node. */
    w->type = T("f32[385,1152]");
    check_err(dc_infer_shapes(g), DC_ERR_SHAPE, "node 'MatMul_", __LINE__);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "MatMul: inner dimensions differ"));
    end();
}

/* Every op, fed inputs of unknown, scalar, rank-8 and odd types, returns a
 * status (never crashes) and never claims a rank outside -1..8. */
static void test_no_crash_on_odd_inputs(void)
{
    static const char *const specs[] = {"?", "f32", "f32[]", "i64[]", "f32[1,1,1,1,1,1,1,1]",
                                        "f32[N,?,0,3]", "bool[2]", "i64[0]"};
    int count;
    const dc_op_schema *const *ops = dc_op_all(&count);
    for (int64_t opset = 7; opset <= 17; opset += 5) {
        begin(opset);
        dc_value *vals[8];
        for (int i = 0; i < 8; i++)
            vals[i] = X(specs[i]);
        dc_value *k = KV(0, 1), *bad = KV(INT64_MAX, -5, 0);
        for (int o = 0; o < count; o++) {
            const dc_op_schema *s = ops[o];
            int max_in = s->max_inputs < 0 ? 3 : s->max_inputs;
            for (int v = 0; v < 10; v++) {
                dc_value *ins[5];
                for (int i = 0; i < max_in && i < 5; i++)
                    ins[i] = v < 8 ? vals[(v + i) % 8] : i == 0 ? vals[4] : v == 8 ? k : bad;
                dc_node *n = node(s->name, max_in < 5 ? max_in : 5, ins, s->max_outputs < 0 ? 2 : s->max_outputs);
                (void)infer(n);
                for (int j = 0; j < n->n_outputs; j++)
                    if (n->outputs[j])
                        CU_ASSERT(n->outputs[j]->type.rank >= -1 && n->outputs[j]->type.rank <= DC_MAX_RANK);
            }
        }
        end();
    }
}

void register_compiler_shape_inference(void)
{
    static const dc_test_case tests[] = {
        {"every_op_registered", test_every_op_registered},
        {"unary", test_unary},
        {"broadcast", test_broadcast},
        {"binary_legacy_broadcast", test_binary_legacy_broadcast},
        {"pow_types", test_pow_types},
        {"where_equal", test_where_equal},
        {"fold_elementwise", test_fold_elementwise},
        {"matmul", test_matmul},
        {"gemm", test_gemm},
        {"conv", test_conv},
        {"softmax", test_softmax},
        {"layer_norm", test_layer_norm},
        {"reduce", test_reduce},
        {"argmax", test_argmax},
        {"transpose", test_transpose},
        {"reshape", test_reshape},
        {"reshape_versions", test_reshape_versions},
        {"flatten", test_flatten},
        {"squeeze", test_squeeze},
        {"unsqueeze", test_unsqueeze},
        {"expand", test_expand},
        {"shape_size", test_shape_size},
        {"concat", test_concat},
        {"split", test_split},
        {"slice", test_slice},
        {"gather", test_gather},
        {"constant", test_constant},
        {"constant_of_shape", test_constant_of_shape},
        {"cast", test_cast},
        {"dropout", test_dropout},
        {"resize", test_resize},
        {"shape_arithmetic_chain", test_shape_arithmetic_chain},
        {"infer_shapes_graph", test_infer_shapes_graph},
        {"no_crash_on_odd_inputs", test_no_crash_on_odd_inputs},
        {NULL, NULL},
    };
    dc_add_suite("compiler_shape_inference", tests);
}
