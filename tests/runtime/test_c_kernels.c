/* dinoc's C kernels, each run through a one-step plan in a session and
 * checked against hand-computed values (or a naive loop for the big ones). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_session.h"
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

typedef struct spec {
    dc_dtype t;
    int rank;
    int64_t dims[DC_MAX_RANK];
} spec;

#define NARGS64(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define SPEC(T, ...) ((spec){(T), NARGS64(__VA_ARGS__), {__VA_ARGS__}})
#define SCALAR(T) ((spec){(T), 0, {0}})
#define V(...) ((const double[]){__VA_ARGS__})

#define A_INT(nm, v) ((dc_plan_attr){.name = (char *)(nm), .type = DC_PLAN_ATTR_INT, .i = (v)})
#define A_FLOAT(nm, v) ((dc_plan_attr){.name = (char *)(nm), .type = DC_PLAN_ATTR_FLOAT, .f = (v)})
#define A_STR(nm, v) ((dc_plan_attr){.name = (char *)(nm), .type = DC_PLAN_ATTR_STRING, .s = (char *)(v)})
#define A_INTS(nm, ...)                                                                   \
    ((dc_plan_attr){.name = (char *)(nm), .type = DC_PLAN_ATTR_INTS, .n = NARGS64(__VA_ARGS__), \
                    .ints = (int64_t[]){__VA_ARGS__}})
#define A_FLOATS(nm, ...)                                                                 \
    ((dc_plan_attr){.name = (char *)(nm), .type = DC_PLAN_ATTR_FLOATS,                    \
                    .n = (int)(sizeof((float[]){__VA_ARGS__}) / sizeof(float)),          \
                    .floats = (float[]){__VA_ARGS__}})
#define ATTRS(...) (const dc_plan_attr[]){__VA_ARGS__}, (int)(sizeof((dc_plan_attr[]){__VA_ARGS__}) / sizeof(dc_plan_attr))
#define NO_ATTRS NULL, 0

static void store(dc_tensor *t, uint64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case DC_F32: ((float *)p)[i] = (float)v; break;
    case DC_F64: ((double *)p)[i] = v; break;
    case DC_F16: ((uint16_t *)p)[i] = dc_f32_to_f16((float)v); break;
    case DC_BF16: ((uint16_t *)p)[i] = dc_f32_to_bf16((float)v); break;
    case DC_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case DC_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case DC_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    case DC_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case DC_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    case DC_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case DC_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case DC_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case DC_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
    }
}

/* A tensor of spec `s` holding `v` (numel values; NULL: zeros). */
static dc_tensor *tens(spec s, const double *v)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, s.t, s.rank, s.dims));
    for (uint64_t i = 0; v && i < dc_tensor_numel(t); i++)
        store(t, i, v[i]);
    return t;
}

/* Runs a one-step plan "c.<op>" on `ins` (NULL entries are omitted inputs)
 * and returns the outputs of specs `outs`. */
static dc_status run_op(const char *op, const dc_plan_attr *attrs, int n_attrs, int n_in,
                        dc_tensor *const *ins, int n_out, const spec *outs, dc_tensor **res)
{
    dc_plan_buffer bufs[16];
    dc_plan_io inputs[16], outputs[16];
    int32_t args[32];
    char names[32][16];
    uint64_t off = 0;
    int nb = 0, ni = 0;
    memset(bufs, 0, sizeof bufs);
    for (int i = 0; i < n_in + n_out; i++) {
        int is_in = i < n_in;
        if (is_in && !ins[i]) {
            args[i] = -1;
            continue;
        }
        dc_plan_buffer *b = &bufs[nb];
        snprintf(names[i], sizeof names[i], is_in ? "in%d" : "out%d", is_in ? i : i - n_in);
        b->name = names[i];
        if (is_in) {
            b->dtype = ins[i]->dtype;
            b->rank = ins[i]->rank;
            memcpy(b->dims, ins[i]->dims, sizeof b->dims);
            b->nbytes = ins[i]->nbytes;
            inputs[ni++] = (dc_plan_io){names[i], nb};
        } else {
            const spec *s = &outs[i - n_in];
            uint64_t numel = 1;
            b->dtype = s->t;
            b->rank = s->rank;
            memcpy(b->dims, s->dims, sizeof b->dims);
            for (int d = 0; d < s->rank; d++)
                numel *= (uint64_t)s->dims[d];
            b->nbytes = numel * dc_dtype_size(s->t);
            outputs[i - n_in] = (dc_plan_io){names[i], nb};
        }
        b->region = DC_REGION_ARENA;
        b->offset = off;
        off += (b->nbytes + 63) / 64 * 64;
        args[i] = nb++;
    }
    char kernel[64];
    snprintf(kernel, sizeof kernel, "c.%s", op);
    dc_plan_step step = {
        .kernel = kernel, .op_type = (char *)op, .node = (char *)"n0",
        .n_inputs = n_in, .n_outputs = n_out, .args = args,
        .n_attrs = n_attrs, .attrs = (dc_plan_attr *)attrs,
    };
    dc_plan plan = {
        .region_bytes = {off, 0, 0}, .buffers = bufs, .n_buffers = nb, .steps = &step,
        .n_steps = 1, .inputs = inputs, .n_inputs = ni, .outputs = outputs, .n_outputs = n_out,
    };
    for (int i = 0; i < n_out; i++)
        res[i] = NULL;
    dc_session *s;
    DC_TRY(dc_session_create(&plan, 2, &s));
    dc_status st = DC_OK;
    for (int i = 0; i < ni && st == DC_OK; i++) {
        int k = (int)(inputs[i].name[2] - '0');
        if (inputs[i].name[3])
            k = k * 10 + (inputs[i].name[3] - '0');
        st = dc_session_set_input(s, inputs[i].name, ins[k]);
    }
    if (st == DC_OK)
        st = dc_session_run(s);
    for (int i = 0; i < n_out && st == DC_OK; i++)
        st = dc_session_get_output(s, i, &res[i]);
    dc_session_destroy(s);
    return st;
}

/* Checks a tensor's values (NaN matches NaN) to a relative/absolute tol. */
static void check_vals(const dc_tensor *t, const double *want, uint64_t n, double tol, int line)
{
    if (!t) {
        CU_FAIL("no output");
        return;
    }
    CU_ASSERT_EQUAL(dc_tensor_numel(t), n);
    for (uint64_t i = 0; i < n && i < dc_tensor_numel(t); i++) {
        double got = dc_tensor_get_f64(t, i);
        int ok = (isnan(want[i]) && isnan(got)) || got == want[i] ||
                 fabs(got - want[i]) <= tol * (1 + fabs(want[i]));
        if (!ok) {
            fprintf(stderr, "\n    line %d: element %llu is %.9g, expected %.9g\n", line,
                    (unsigned long long)i, got, want[i]);
            CU_FAIL("value");
            return;
        }
    }
}
#define CHECK(t, tol, ...)                                                                 \
    check_vals((t), V(__VA_ARGS__), sizeof(V(__VA_ARGS__)) / sizeof(double), (tol), __LINE__)

/* One input, one output. */
static dc_tensor *run1(const char *op, const dc_plan_attr *attrs, int n_attrs, dc_tensor *x, spec out)
{
    dc_tensor *r[1];
    DC_ASSERT_OK(run_op(op, attrs, n_attrs, 1, &x, 1, &out, r));
    return r[0];
}

/* Two inputs, one output. */
static dc_tensor *run2(const char *op, const dc_plan_attr *attrs, int n_attrs, dc_tensor *a,
                       dc_tensor *b, spec out)
{
    dc_tensor *r[1], *ins[2] = {a, b};
    DC_ASSERT_OK(run_op(op, attrs, n_attrs, 2, ins, 1, &out, r));
    return r[0];
}

static void drop(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        dc_tensor_destroy(va_arg(ap, dc_tensor *));
    va_end(ap);
}
#define DROP(...) drop(NARGS_T(__VA_ARGS__), __VA_ARGS__)
#define NARGS_T(...) ((int)(sizeof((dc_tensor *[]){__VA_ARGS__}) / sizeof(dc_tensor *)))

/* ------------------------------------------------------------ elementwise */

static void test_binary_broadcast_f32(void)
{
    dc_tensor *a = tens(SPEC(DC_F32, 2, 3), V(1, 2, 3, 4, 5, 6));
    dc_tensor *b = tens(SPEC(DC_F32, 3), V(10, 20, 30));
    dc_tensor *c = tens(SPEC(DC_F32, 2, 1), V(100, 200));
    dc_tensor *y = run2("Add", NO_ATTRS, a, b, SPEC(DC_F32, 2, 3));
    CHECK(y, 0, 11, 22, 33, 14, 25, 36);
    dc_tensor *z = run2("Sub", NO_ATTRS, c, b, SPEC(DC_F32, 2, 3));
    CHECK(z, 0, 90, 80, 70, 190, 180, 170);
    dc_tensor *m = run2("Mul", NO_ATTRS, b, a, SPEC(DC_F32, 2, 3));
    CHECK(m, 0, 10, 40, 90, 40, 100, 180);
    dc_tensor *d = run2("Div", NO_ATTRS, a, c, SPEC(DC_F32, 2, 3));
    CHECK(d, 1e-7, 0.01, 0.02, 0.03, 0.02, 0.025, 0.03);
    /* Scalars and NaN/Inf propagate. */
    dc_tensor *s = tens(SCALAR(DC_F32), V(NAN));
    dc_tensor *n = run2("Add", NO_ATTRS, s, b, SPEC(DC_F32, 3));
    CHECK(n, 0, NAN, NAN, NAN);
    dc_tensor *inf = tens(SPEC(DC_F32, 2), V(INFINITY, -1));
    dc_tensor *zero = tens(SPEC(DC_F32, 1), V(0));
    dc_tensor *q = run2("Div", NO_ATTRS, inf, zero, SPEC(DC_F32, 2));
    CHECK(q, 0, INFINITY, -INFINITY);
    DROP(a, b, c, y, z, m, d, s, n, inf, zero, q);
}

static void test_binary_large_parallel(void)
{
    /* [300, 1] + [1, 700]: two threads, broadcast on both sides. */
    enum { R = 300, C = 700 };
    double *va = malloc(R * sizeof(double)), *vb = malloc(C * sizeof(double));
    for (int i = 0; i < R; i++)
        va[i] = i;
    for (int j = 0; j < C; j++)
        vb[j] = j * 0.5;
    dc_tensor *a = tens(SPEC(DC_F64, R, 1), va), *b = tens(SPEC(DC_F64, 1, C), vb);
    dc_tensor *y = run2("Mul", NO_ATTRS, a, b, SPEC(DC_F64, R, C));
    int bad = 0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++)
            bad += ((double *)y->data)[i * C + j] != va[i] * vb[j];
    CU_ASSERT_EQUAL(bad, 0);
    DROP(a, b, y);
    free(va);
    free(vb);
}

static void test_integer_arithmetic(void)
{
    dc_tensor *a = tens(SPEC(DC_I32, 6), V(-7, 7, -7, 7, 5, -2147483648.0));
    dc_tensor *b = tens(SPEC(DC_I32, 6), V(2, 2, -2, -2, 0, -1));
    dc_tensor *d = run2("Div", NO_ATTRS, a, b, SPEC(DC_I32, 6));
    CHECK(d, 0, -3, 3, 3, -3, 0, -2147483648.0); /* truncation; x/0 = 0; MIN/-1 wraps */
    dc_tensor *i8a = tens(SPEC(DC_I8, 2), V(127, -128)), *i8b = tens(SPEC(DC_I8, 1), V(1));
    dc_tensor *s = run2("Add", NO_ATTRS, i8a, i8b, SPEC(DC_I8, 2));
    CHECK(s, 0, -128, -127);
    dc_tensor *u8a = tens(SPEC(DC_U8, 2), V(0, 200)), *u8b = tens(SPEC(DC_U8, 2), V(1, 100));
    dc_tensor *u = run2("Sub", NO_ATTRS, u8a, u8b, SPEC(DC_U8, 2));
    CHECK(u, 0, 255, 100);
    dc_tensor *um = run2("Mul", NO_ATTRS, u8a, u8b, SPEC(DC_U8, 2));
    CHECK(um, 0, 0, 32); /* 20000 mod 256 */
    dc_tensor *ud = run2("Div", NO_ATTRS, u8b, u8a, SPEC(DC_U8, 2));
    CHECK(ud, 0, 0, 0);
    dc_tensor *la = tens(SPEC(DC_I64, 2), V(3000000000.0, -5)), *lb = tens(SPEC(DC_I64, 2), V(3, 4));
    dc_tensor *lm = run2("Mul", NO_ATTRS, la, lb, SPEC(DC_I64, 2));
    CHECK(lm, 0, 9000000000.0, -20);
    dc_tensor *u16a = tens(SPEC(DC_U16, 1), V(65535)), *u16b = tens(SPEC(DC_U16, 1), V(65535));
    dc_tensor *u16m = run2("Mul", NO_ATTRS, u16a, u16b, SPEC(DC_U16, 1));
    CHECK(u16m, 0, 1);
    /* Mixed element types are an error naming both. */
    dc_tensor *r[1], *ins[2] = {a, la};
    spec out = SPEC(DC_I32, 6);
    CU_ASSERT_EQUAL(run_op("Add", NO_ATTRS, 2, ins, 1, &out, r), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "input B is int64 but input A is int32"));
    DROP(a, b, d, i8a, i8b, s, u8a, u8b, u, um, ud, la, lb, lm, u16a, u16b, u16m);
}

static void test_pow_types(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 3), V(1, 2, 3)), *e = tens(SPEC(DC_F32, 3), V(4, 5, 6));
    dc_tensor *y = run2("Pow", NO_ATTRS, x, e, SPEC(DC_F32, 3));
    CHECK(y, 0, 1, 32, 729);
    dc_tensor *ei = tens(SPEC(DC_I64, 1), V(2));
    dc_tensor *y2 = run2("Pow", NO_ATTRS, x, ei, SPEC(DC_F32, 3));
    CHECK(y2, 0, 1, 4, 9);
    dc_tensor *xi = tens(SPEC(DC_I32, 4), V(2, -3, 2, 1)), *eii = tens(SPEC(DC_I32, 4), V(10, 3, -1, -5));
    dc_tensor *y3 = run2("Pow", NO_ATTRS, xi, eii, SPEC(DC_I32, 4));
    CHECK(y3, 0, 1024, -27, 0, 1);
    dc_tensor *ef = tens(SPEC(DC_F32, 4), V(0.5, 2, 2, 0));
    dc_tensor *y4 = run2("Pow", NO_ATTRS, xi, ef, SPEC(DC_I32, 4));
    CHECK(y4, 0, 1, 9, 4, 1); /* (int)pow(2, 0.5) = 1 */
    dc_tensor *h = tens(SPEC(DC_F16, 2), V(1.5, -2)), *he = tens(SPEC(DC_F16, 1), V(2));
    dc_tensor *y5 = run2("Pow", NO_ATTRS, h, he, SPEC(DC_F16, 2));
    CHECK(y5, 0, 2.25, 4);
    DROP(x, e, y, ei, y2, xi, eii, y3, ef, y4, h, he, y5);
}

static void test_equal_where(void)
{
    dc_tensor *a = tens(SPEC(DC_I64, 2, 2), V(1, 2, 3, 4)), *b = tens(SPEC(DC_I64, 2), V(1, 4));
    dc_tensor *eq = run2("Equal", NO_ATTRS, a, b, SPEC(DC_BOOL, 2, 2));
    CHECK(eq, 0, 1, 0, 0, 1);
    dc_tensor *ba = tens(SPEC(DC_BOOL, 2), V(1, 0)), *bb = tens(SPEC(DC_BOOL, 2), V(1, 1));
    dc_tensor *eb = run2("Equal", NO_ATTRS, ba, bb, SPEC(DC_BOOL, 2));
    CHECK(eb, 0, 1, 0);
    dc_tensor *c = tens(SPEC(DC_BOOL, 2, 1), V(1, 0));
    dc_tensor *x = tens(SPEC(DC_F32, 3), V(1, 2, 3)), *y = tens(SCALAR(DC_F32), V(-1));
    dc_tensor *r[1], *ins[3] = {c, x, y};
    spec out = SPEC(DC_F32, 2, 3);
    DC_ASSERT_OK(run_op("Where", NO_ATTRS, 3, ins, 1, &out, r));
    CHECK(r[0], 0, 1, 2, 3, -1, -1, -1);
    dc_tensor *xb = tens(SPEC(DC_BOOL, 1), V(1)), *yb = tens(SPEC(DC_BOOL, 1), V(0)), *r2[1];
    dc_tensor *ins2[3] = {c, xb, yb};
    spec out2 = SPEC(DC_BOOL, 2, 1);
    DC_ASSERT_OK(run_op("Where", NO_ATTRS, 3, ins2, 1, &out2, r2));
    CHECK(r2[0], 0, 1, 0);
    DROP(a, b, eq, ba, bb, eb, c, x, y, r[0], xb, yb, r2[0]);
}

static void test_unary(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 4), V(-1, 0, 0.5, NAN));
    struct {
        const char *op;
        double want[4];
    } cases[] = {
        {"Neg", {1, -0.0, -0.5, NAN}},
        {"Abs", {1, 0, 0.5, NAN}},
        {"Relu", {0, 0, 0.5, NAN}},
        {"Exp", {0.36787944117144233, 1, 1.6487212707001282, NAN}},
        {"Erf", {-0.8427007929497149, 0, 0.5204998778130465, NAN}},
        {"Tanh", {-0.7615941559557649, 0, 0.46211715726000974, NAN}},
        {"Sigmoid", {0.2689414213699951, 0.5, 0.6224593312018546, NAN}},
        {"Sqrt", {NAN, 0, 0.7071067811865476, NAN}},
        {"Log", {NAN, -INFINITY, -0.6931471805599453, NAN}},
        {"Reciprocal", {-1, INFINITY, 2, NAN}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dc_tensor *y = run1(cases[i].op, NO_ATTRS, x, SPEC(DC_F32, 4));
        check_vals(y, cases[i].want, 4, 1e-6, __LINE__);
        dc_tensor_destroy(y);
    }
    dc_tensor *big = tens(SPEC(DC_F64, 2), V(-800, 800));
    dc_tensor *sg = run1("Sigmoid", NO_ATTRS, big, SPEC(DC_F64, 2));
    CHECK(sg, 0, 0, 1);
    dc_tensor *i8 = tens(SPEC(DC_I8, 3), V(-128, -5, 7));
    dc_tensor *ab = run1("Abs", NO_ATTRS, i8, SPEC(DC_I8, 3));
    CHECK(ab, 0, -128, 5, 7);
    dc_tensor *ng = run1("Neg", NO_ATTRS, i8, SPEC(DC_I8, 3));
    CHECK(ng, 0, -128, 5, -7);
    dc_tensor *rl = run1("Relu", NO_ATTRS, i8, SPEC(DC_I8, 3));
    CHECK(rl, 0, 0, 0, 7);
    /* Exp of an integer is not ONNX. */
    dc_tensor *r[1];
    spec out = SPEC(DC_I8, 3);
    CU_ASSERT_EQUAL(run_op("Exp", NO_ATTRS, 1, &i8, 1, &out, r), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "int8"));
    DROP(x, big, sg, i8, ab, ng, rl);
}

static void test_half_types(void)
{
    dc_tensor *a = tens(SPEC(DC_F16, 3), V(1.5, -2, 65504)), *b = tens(SPEC(DC_F16, 1), V(0.25));
    dc_tensor *y = run2("Add", NO_ATTRS, a, b, SPEC(DC_F16, 3));
    CHECK(y, 0, 1.75, -1.75, 65504);
    dc_tensor *c = tens(SPEC(DC_BF16, 2), V(3, -0.5)), *d = tens(SPEC(DC_BF16, 2), V(2, 4));
    dc_tensor *z = run2("Mul", NO_ATTRS, c, d, SPEC(DC_BF16, 2));
    CHECK(z, 0, 6, -2);
    dc_tensor *s = run1("Softmax", NO_ATTRS, c, SPEC(DC_BF16, 2));
    CHECK(s, 1e-2, 0.97068776924864364, 0.029312230751356326);
    DROP(a, b, y, c, d, z, s);
}

/* ------------------------------------------------------------ MatMul, Gemm, Conv */

static void test_matmul(void)
{
    dc_tensor *a = tens(SPEC(DC_F32, 2, 3), V(1, 2, 3, 4, 5, 6));
    dc_tensor *b = tens(SPEC(DC_F32, 3, 2), V(7, 8, 9, 10, 11, 12));
    dc_tensor *y = run2("MatMul", NO_ATTRS, a, b, SPEC(DC_F32, 2, 2));
    CHECK(y, 0, 58, 64, 139, 154);
    /* Batch broadcast: [2,1,2,3] x [3,3,2] -> [2,3,2,2]; B's batches differ by a scale. */
    double vb[18];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 6; i++)
            vb[k * 6 + i] = (7 + i) * (k + 1);
    dc_tensor *a4 = tens(SPEC(DC_F32, 2, 1, 2, 3), V(1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6));
    dc_tensor *b3 = tens(SPEC(DC_F32, 3, 3, 2), vb);
    dc_tensor *y4 = run2("MatMul", NO_ATTRS, a4, b3, SPEC(DC_F32, 2, 3, 2, 2));
    CHECK(y4, 0, 58, 64, 139, 154, 116, 128, 278, 308, 174, 192, 417, 462, -58, -64, -139, -154,
          -116, -128, -278, -308, -174, -192, -417, -462);
    /* Vectors: [3] x [3,2] -> [2]; [2,3] x [3] -> [2]; [3] x [3] -> []. */
    dc_tensor *v = tens(SPEC(DC_F32, 3), V(1, 0, -1));
    dc_tensor *yv = run2("MatMul", NO_ATTRS, v, b, SPEC(DC_F32, 2));
    CHECK(yv, 0, -4, -4);
    dc_tensor *yv2 = run2("MatMul", NO_ATTRS, a, v, SPEC(DC_F32, 2));
    CHECK(yv2, 0, -2, -2);
    dc_tensor *dot = run2("MatMul", NO_ATTRS, v, v, SCALAR(DC_F32));
    CHECK(dot, 0, 2);
    dc_tensor *ia = tens(SPEC(DC_I32, 1, 2), V(3, -4)), *ib = tens(SPEC(DC_I32, 2, 1), V(5, 6));
    dc_tensor *iy = run2("MatMul", NO_ATTRS, ia, ib, SPEC(DC_I32, 1, 1));
    CHECK(iy, 0, -9);
    /* A wrong output shape is caught at session creation. */
    dc_tensor *r[1], *ins[2] = {a, b};
    spec bad = SPEC(DC_F32, 2, 3);
    CU_ASSERT_EQUAL(run_op("MatMul", NO_ATTRS, 2, ins, 1, &bad, r), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "expected f32[2,2], the plan has f32[2,3]"));
    DROP(a, b, y, a4, b3, y4, v, yv, yv2, dot, ia, ib, iy);
}

static void test_matmul_large(void)
{
    enum { M = 67, K = 300, N = 533 }; /* crosses the K and N blocks */
    double *va = malloc(M * K * sizeof(double)), *vb = malloc(K * N * sizeof(double));
    for (int i = 0; i < M * K; i++)
        va[i] = (i % 13) - 6;
    for (int i = 0; i < K * N; i++)
        vb[i] = (i % 7) - 3;
    dc_tensor *a = tens(SPEC(DC_F32, M, K), va), *b = tens(SPEC(DC_F32, K, N), vb);
    dc_tensor *y = run2("MatMul", NO_ATTRS, a, b, SPEC(DC_F32, M, N));
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += va[i * K + k] * vb[k * N + j];
            bad += ((float *)y->data)[i * N + j] != (float)s; /* small integers: exact */
        }
    CU_ASSERT_EQUAL(bad, 0);
    DROP(a, b, y);
    free(va);
    free(vb);
}

static void test_gemm(void)
{
    /* A^T with A [3,2], B^T with B [2,3], C [2] broadcast over rows. */
    dc_tensor *a = tens(SPEC(DC_F32, 3, 2), V(1, 4, 2, 5, 3, 6));
    dc_tensor *b = tens(SPEC(DC_F32, 2, 3), V(7, 9, 11, 8, 10, 12));
    dc_tensor *c = tens(SPEC(DC_F32, 2), V(1, 2));
    dc_tensor *r[1], *ins[3] = {a, b, c};
    spec out = SPEC(DC_F32, 2, 2);
    DC_ASSERT_OK(run_op("Gemm",
                        ATTRS(A_INT("transA", 1), A_INT("transB", 1), A_FLOAT("alpha", 0.5f),
                              A_FLOAT("beta", 2.0f)),
                        3, ins, 1, &out, r));
    CHECK(r[0], 0, 31, 36, 71.5, 81);
    dc_tensor *r2[1], *ins2[2] = {b, a};
    DC_ASSERT_OK(run_op("Gemm", NO_ATTRS, 2, ins2, 1, &out, r2));
    CHECK(r2[0], 0, 58, 139, 64, 154);
    DROP(a, b, c, r[0], r2[0]);
}

static void test_conv(void)
{
    /* ONNX's basic conv: 5x5 ramp, 3x3 ones, with and without padding. */
    double x[25];
    for (int i = 0; i < 25; i++)
        x[i] = i;
    dc_tensor *X = tens(SPEC(DC_F32, 1, 1, 5, 5), x);
    dc_tensor *W = tens(SPEC(DC_F32, 1, 1, 3, 3), V(1, 1, 1, 1, 1, 1, 1, 1, 1));
    dc_tensor *y = run2("Conv", ATTRS(A_INTS("kernel_shape", 3, 3), A_INTS("pads", 1, 1, 1, 1)), X,
                        W, SPEC(DC_F32, 1, 1, 5, 5));
    CHECK(y, 0, 12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162,
          111, 72, 111, 117, 123, 84);
    dc_tensor *y2 = run2("Conv", NO_ATTRS, X, W, SPEC(DC_F32, 1, 1, 3, 3));
    CHECK(y2, 0, 54, 63, 72, 99, 108, 117, 144, 153, 162);
    /* Strides 2 with asymmetric padding (ONNX's test, 7x5 input). */
    double x7[35];
    for (int i = 0; i < 35; i++)
        x7[i] = i;
    dc_tensor *X7 = tens(SPEC(DC_F32, 1, 1, 7, 5), x7);
    dc_tensor *y3 = run2("Conv", ATTRS(A_INTS("strides", 2, 2), A_INTS("pads", 1, 0, 1, 0)), X7, W,
                         SPEC(DC_F32, 1, 1, 4, 2));
    CHECK(y3, 0, 21, 33, 99, 117, 189, 207, 171, 183);
    dc_tensor *y4 = run2("Conv", ATTRS(A_STR("auto_pad", "SAME_UPPER"), A_INTS("strides", 2, 2)), X,
                         W, SPEC(DC_F32, 1, 1, 3, 3));
    CHECK(y4, 0, 12, 27, 24, 63, 108, 81, 72, 117, 84);
    /* Groups, bias and 1-D: 2 channels, group 2, kernel [1] scaling each channel. */
    dc_tensor *X1 = tens(SPEC(DC_F64, 1, 2, 3), V(1, 2, 3, 4, 5, 6));
    dc_tensor *W1 = tens(SPEC(DC_F64, 2, 1, 2), V(1, 1, 10, 0));
    dc_tensor *B1 = tens(SPEC(DC_F64, 2), V(0.5, -1));
    dc_tensor *r[1], *ins[3] = {X1, W1, B1};
    spec out = SPEC(DC_F64, 1, 2, 2);
    DC_ASSERT_OK(run_op("Conv", ATTRS(A_INT("group", 2)), 3, ins, 1, &out, r));
    CHECK(r[0], 0, 3.5, 5.5, 39, 49);
    /* Dilation 2 on the 5x5: taps at 0,2,4 -> one output. */
    dc_tensor *y5 = run2("Conv", ATTRS(A_INTS("dilations", 2, 2)), X, W, SPEC(DC_F32, 1, 1, 1, 1));
    CHECK(y5, 0, 108);
    DROP(X, W, y, y2, X7, y3, y4, X1, W1, B1, r[0], y5);
}

/* ------------------------------------------------------------ normalisation */

static void test_softmax(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3), V(1, 2, 3, 1000, 1000, 1000));
    dc_tensor *y = run1("Softmax", NO_ATTRS, x, SPEC(DC_F32, 2, 3));
    CHECK(y, 1e-6, 0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 1.0 / 3, 1.0 / 3,
          1.0 / 3);
    dc_tensor *y0 = run1("Softmax", ATTRS(A_INT("axis", 0)), x, SPEC(DC_F32, 2, 3));
    CHECK(y0, 1e-6, 0, 0, 0, 1, 1, 1);
    dc_tensor *ls = run1("LogSoftmax", NO_ATTRS, x, SPEC(DC_F32, 2, 3));
    CHECK(ls, 1e-6, -2.4076059644443806, -1.4076059644443806, -0.4076059644443806,
          -1.0986122886681098, -1.0986122886681098, -1.0986122886681098);
    dc_tensor *x3 = tens(SPEC(DC_F64, 1, 2, 2), V(0, 1, 2, 3));
    dc_tensor *y3 = run1("LogSoftmax", ATTRS(A_INT("axis", -2)), x3, SPEC(DC_F64, 1, 2, 2));
    CHECK(y3, 1e-12, -2.1269280110429727, -2.1269280110429727, -0.12692801104297263,
          -0.12692801104297263);
    DROP(x, y, y0, ls, x3, y3);
}

static void test_layernorm(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3), V(1, 2, 3, -1, 0, 4));
    dc_tensor *g = tens(SPEC(DC_F32, 3), V(1, 2, 0.5));
    dc_tensor *b = tens(SPEC(DC_F32, 3), V(0, 1, -1));
    dc_tensor *r[3], *ins[3] = {x, g, b};
    spec outs[3] = {SPEC(DC_F32, 2, 3), SPEC(DC_F32, 2, 1), SPEC(DC_F32, 2, 1)};
    DC_ASSERT_OK(run_op("LayerNormalization", ATTRS(A_FLOAT("epsilon", 0.0f)), 3, ins, 3, outs, r));
    double s1 = 1 / sqrt(2.0 / 3), m2 = 1, s2 = 1 / sqrt(14.0 / 3);
    check_vals(r[0], V(-s1, 1, 0.5 * s1 - 1, (-1 - m2) * s2, (0 - m2) * s2 * 2 + 1, (4 - m2) * s2 * 0.5 - 1),
               6, 1e-6, __LINE__);
    CHECK(r[1], 1e-7, 2, 1);
    check_vals(r[2], V(s1, s2), 2, 1e-6, __LINE__);
    /* axis 0 over [2,3], no bias, scale broadcast from [3]; optional outputs omitted. */
    dc_tensor *ins2[2] = {x, g}, *r2[1];
    DC_ASSERT_OK(run_op("LayerNormalization", ATTRS(A_INT("axis", 0), A_FLOAT("epsilon", 0.0f)), 2,
                        ins2, 1, outs, r2));
    double mean = 1.5, sd = sqrt((0.25 + 0.25 + 2.25 + 6.25 + 2.25 + 6.25) / 6);
    check_vals(r2[0], V((1 - mean) / sd, 2 * (2 - mean) / sd, 0.5 * (3 - mean) / sd, (-1 - mean) / sd,
                        2 * (0 - mean) / sd, 0.5 * (4 - mean) / sd),
               6, 1e-6, __LINE__);
    DROP(x, g, b, r[0], r[1], r[2], r2[0]);
}

/* ------------------------------------------------------------ reductions */

static void test_reduce(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3, 2), V(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    dc_tensor *s = run1("ReduceSum", ATTRS(A_INTS("axes", 1), A_INT("keepdims", 0)), x,
                        SPEC(DC_F32, 2, 2));
    CHECK(s, 0, 9, 12, 27, 30);
    dc_tensor *m = run1("ReduceMean", NO_ATTRS, x, SPEC(DC_F32, 1, 1, 1));
    CHECK(m, 0, 6.5);
    dc_tensor *mx = run1("ReduceMax", ATTRS(A_INTS("axes", 0, 2)), x, SPEC(DC_F32, 1, 3, 1));
    CHECK(mx, 0, 8, 10, 12);
    dc_tensor *mn = run1("ReduceMin", ATTRS(A_INTS("axes", -1), A_INT("keepdims", 0)), x,
                         SPEC(DC_F32, 2, 3));
    CHECK(mn, 0, 1, 3, 5, 7, 9, 11);
    dc_tensor *noop = run1("ReduceSum", ATTRS(A_INT("noop_with_empty_axes", 1)), x,
                           SPEC(DC_F32, 2, 3, 2));
    CHECK(noop, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    dc_tensor *xn = tens(SPEC(DC_F64, 4), V(1, NAN, 3, -INFINITY));
    dc_tensor *mxn = run1("ReduceMax", NO_ATTRS, xn, SPEC(DC_F64, 1));
    CHECK(mxn, 0, NAN);
    dc_tensor *xi = tens(SPEC(DC_I32, 2, 2), V(-7, 2, 100, -3));
    dc_tensor *mi = run1("ReduceMean", ATTRS(A_INTS("axes", 1)), xi, SPEC(DC_I32, 2, 1));
    CHECK(mi, 0, -2, 48);
    dc_tensor *mni = run1("ReduceMin", ATTRS(A_INTS("axes", 0), A_INT("keepdims", 0)), xi,
                          SPEC(DC_I32, 2));
    CHECK(mni, 0, -7, -3);
    dc_tensor *u8 = tens(SPEC(DC_U8, 3), V(200, 100, 1));
    dc_tensor *su = run1("ReduceSum", ATTRS(A_INT("keepdims", 0)), u8, SCALAR(DC_U8));
    CHECK(su, 0, 45); /* 301 mod 256 */
    /* Reducing an empty axis gives the identity. */
    dc_tensor *e = tens(SPEC(DC_F32, 2, 0), NULL);
    dc_tensor *es = run1("ReduceSum", ATTRS(A_INTS("axes", 1)), e, SPEC(DC_F32, 2, 1));
    CHECK(es, 0, 0, 0);
    dc_tensor *r[1];
    spec bad = SPEC(DC_F32, 2, 2);
    CU_ASSERT_EQUAL(run_op("ReduceSum", ATTRS(A_INTS("axes", 3)), 1, &x, 1, &bad, r), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "axis 3 outside [-3, 3)"));
    DROP(x, s, m, mx, mn, noop, xn, mxn, xi, mi, mni, u8, su, e, es);
}

/* Sums and means over the leading rows (bias gradients) take a row-wise path;
 * K = 600 spans two of its column blocks. */
static void test_reduce_rows(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3, 2), V(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    dc_tensor *s = run1("ReduceSum", ATTRS(A_INTS("axes", 0, 1), A_INT("keepdims", 0)), x,
                        SPEC(DC_F32, 2));
    CHECK(s, 0, 36, 42);
    dc_tensor *w = tens(SPEC(DC_F64, 3, 600), NULL);
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 600; k++)
            ((double *)w->data)[r * 600 + k] = r + 0.5 * k;
    dc_tensor *m = run1("ReduceMean", ATTRS(A_INTS("axes", 0)), w, SPEC(DC_F64, 1, 600));
    int bad = 0;
    for (int k = 0; k < 600; k++)
        bad += ((double *)m->data)[k] != 1 + 0.5 * k;
    CU_ASSERT_EQUAL(bad, 0);
    DROP(x, s, w, m);
}

static void test_argmax(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3), V(1, 5, 5, 7, 2, 7));
    dc_tensor *a = run1("ArgMax", ATTRS(A_INT("axis", 1)), x, SPEC(DC_I64, 2, 1));
    CHECK(a, 0, 1, 0);
    dc_tensor *al = run1("ArgMax", ATTRS(A_INT("axis", 1), A_INT("select_last_index", 1),
                                         A_INT("keepdims", 0)),
                         x, SPEC(DC_I64, 2));
    CHECK(al, 0, 2, 2);
    dc_tensor *mn = run1("ArgMin", ATTRS(A_INT("axis", 0)), x, SPEC(DC_I64, 1, 3));
    CHECK(mn, 0, 0, 1, 0);
    dc_tensor *xn = tens(SPEC(DC_F64, 3), V(1, NAN, 2));
    dc_tensor *an = run1("ArgMax", NO_ATTRS, xn, SPEC(DC_I64, 1));
    CHECK(an, 0, 1);
    dc_tensor *xu = tens(SPEC(DC_U16, 3), V(9, 65535, 3));
    dc_tensor *au = run1("ArgMin", ATTRS(A_INT("keepdims", 0)), xu, SCALAR(DC_I64));
    CHECK(au, 0, 2);
    DROP(x, a, al, mn, xn, an, xu, au);
}

/* ------------------------------------------------------------ data movement */

static void test_transpose_concat_split(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 2, 3), V(1, 2, 3, 4, 5, 6));
    dc_tensor *t = run1("Transpose", NO_ATTRS, x, SPEC(DC_F32, 3, 2));
    CHECK(t, 0, 1, 4, 2, 5, 3, 6);
    dc_tensor *x3 = tens(SPEC(DC_I16, 2, 1, 3), V(1, 2, 3, 4, 5, 6));
    dc_tensor *t3 = run1("Transpose", ATTRS(A_INTS("perm", 2, 0, 1)), x3, SPEC(DC_I16, 3, 2, 1));
    CHECK(t3, 0, 1, 4, 2, 5, 3, 6);
    dc_tensor *y = tens(SPEC(DC_F32, 2, 1), V(-1, -2));
    dc_tensor *c = run2("Concat", ATTRS(A_INT("axis", -1)), x, y, SPEC(DC_F32, 2, 4));
    CHECK(c, 0, 1, 2, 3, -1, 4, 5, 6, -2);
    dc_tensor *r[3];
    spec outs[3] = {SPEC(DC_F32, 2, 1), SPEC(DC_F32, 2, 2), SPEC(DC_F32, 2, 0)};
    DC_ASSERT_OK(run_op("Split", ATTRS(A_INT("axis", 1), A_INTS("split", 1, 2, 0)), 1, &x, 3, outs, r));
    CHECK(r[0], 0, 1, 4);
    CHECK(r[1], 0, 2, 3, 5, 6);
    CU_ASSERT_EQUAL(dc_tensor_numel(r[2]), 0);
    dc_tensor *bad[2];
    spec bouts[2] = {SPEC(DC_F32, 2, 1), SPEC(DC_F32, 2, 1)};
    CU_ASSERT_EQUAL(run_op("Split", ATTRS(A_INT("axis", 1)), 1, &x, 2, bouts, bad), DC_ERR_SHAPE);
    DROP(x, t, x3, t3, y, c, r[0], r[1], r[2]);
}

static void test_slice(void)
{
    double v[20];
    for (int i = 0; i < 20; i++)
        v[i] = i;
    dc_tensor *x = tens(SPEC(DC_I64, 4, 5), v);
    dc_tensor *s = run1("Slice", ATTRS(A_INTS("starts", 1, 0), A_INTS("ends", 3, 4), A_INTS("axes", 0, 1),
                                      A_INTS("steps", 1, 2)),
                        x, SPEC(DC_I64, 2, 2));
    CHECK(s, 0, 5, 7, 10, 12);
    /* Negative step from the end, clamped ends. */
    dc_tensor *n = run1("Slice", ATTRS(A_INTS("starts", -1), A_INTS("ends", INT64_MIN), A_INTS("axes", 1),
                                      A_INTS("steps", -2)),
                        x, SPEC(DC_I64, 4, 3));
    CHECK(n, 0, 4, 2, 0, 9, 7, 5, 14, 12, 10, 19, 17, 15);
    dc_tensor *o = run1("Slice", ATTRS(A_INTS("starts", 10), A_INTS("ends", 1000)), x, SPEC(DC_I64, 0, 5));
    CU_ASSERT_EQUAL(dc_tensor_numel(o), 0);
    DROP(x, s, n, o);
}

static void test_gather(void)
{
    dc_tensor *d = tens(SPEC(DC_F32, 3, 2), V(1, 2, 3, 4, 5, 6));
    dc_tensor *i = tens(SPEC(DC_I64, 2, 2), V(0, -1, 1, 2));
    dc_tensor *y = run2("Gather", NO_ATTRS, d, i, SPEC(DC_F32, 2, 2, 2));
    CHECK(y, 0, 1, 2, 5, 6, 3, 4, 5, 6);
    dc_tensor *i1 = tens(SPEC(DC_I32, 3), V(1, 1, 0));
    dc_tensor *y1 = run2("Gather", ATTRS(A_INT("axis", 1)), d, i1, SPEC(DC_F32, 3, 3));
    CHECK(y1, 0, 2, 2, 1, 4, 4, 3, 6, 6, 5);
    dc_tensor *s = tens(SCALAR(DC_I64), V(-3));
    dc_tensor *ys = run2("Gather", NO_ATTRS, d, s, SPEC(DC_F32, 2));
    CHECK(ys, 0, 1, 2);
    /* Out of range: a run-time error naming the step and the index. */
    dc_tensor *bad = tens(SPEC(DC_I64, 2), V(1, 3)), *r[1], *ins[2] = {d, bad};
    spec out = SPEC(DC_F32, 2, 2);
    CU_ASSERT_EQUAL(run_op("Gather", NO_ATTRS, 2, ins, 1, &out, r), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(),
                                  "step 0 'n0' (c.Gather): index 3 (indices element 1) out of range [-3, 3)"));
    DROP(d, i, y, i1, y1, s, ys, bad);
}

static void test_expand_and_copies(void)
{
    dc_tensor *x = tens(SPEC(DC_U8, 3, 1), V(1, 2, 3));
    dc_tensor *e = run1("Expand", NO_ATTRS, x, SPEC(DC_U8, 2, 3, 2));
    CHECK(e, 0, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    dc_tensor *rs = run1("Reshape", ATTRS(A_INTS("shape", 1, 3)), x, SPEC(DC_U8, 1, 3));
    CHECK(rs, 0, 1, 2, 3);
    const char *copies[] = {"Identity", "Flatten", "Squeeze", "Unsqueeze"};
    for (int i = 0; i < 4; i++) {
        dc_tensor *c = run1(copies[i], NO_ATTRS, x, SPEC(DC_U8, 3));
        CHECK(c, 0, 1, 2, 3);
        dc_tensor_destroy(c);
    }
    dc_tensor *r[2];
    spec outs[2] = {SPEC(DC_U8, 3, 1), SPEC(DC_BOOL, 3, 1)};
    DC_ASSERT_OK(run_op("Dropout", ATTRS(A_FLOAT("ratio", 0.5f)), 1, &x, 2, outs, r));
    CHECK(r[0], 0, 1, 2, 3);
    CHECK(r[1], 0, 1, 1, 1);
    dc_tensor *sh = run1("Shape", NO_ATTRS, e, SPEC(DC_I64, 3));
    CHECK(sh, 0, 2, 3, 2);
    dc_tensor *sh2 = run1("Shape", ATTRS(A_INT("start", -2)), e, SPEC(DC_I64, 2));
    CHECK(sh2, 0, 3, 2);
    dc_tensor *sz = run1("Size", NO_ATTRS, e, SCALAR(DC_I64));
    CHECK(sz, 0, 12);
    dc_tensor *cs = run1("ConstantOfShape", ATTRS(A_FLOAT("value", 2.5f)), sh, SPEC(DC_F32, 2, 3, 2));
    CHECK(cs, 0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5);
    dc_tensor *cz = run1("ConstantOfShape", NO_ATTRS, sh, SPEC(DC_I32, 2));
    CHECK(cz, 0, 0, 0);
    dc_tensor *k[1];
    spec kout = SPEC(DC_I64, 3);
    DC_ASSERT_OK(run_op("Constant", ATTRS(A_INTS("value_ints", 4, -5, 6)), 0, NULL, 1, &kout, k));
    CHECK(k[0], 0, 4, -5, 6);
    DROP(x, e, rs, r[0], r[1], sh, sh2, sz, cs, cz, k[0]);
}

static void test_cast(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 6), V(-1.7, 2.5, 300, NAN, 0, 65520));
    dc_tensor *i = run1("Cast", ATTRS(A_INT("to", DC_I32)), x, SPEC(DC_I32, 6));
    CHECK(i, 0, -1, 2, 300, -2147483648.0, 0, 65520);
    dc_tensor *u = run1("Cast", ATTRS(A_INT("to", DC_U8)), x, SPEC(DC_U8, 6));
    CHECK(u, 0, 255, 2, 44, 0, 0, 240);
    dc_tensor *h = run1("Cast", ATTRS(A_INT("to", DC_F16)), x, SPEC(DC_F16, 6));
    CHECK(h, 0, -1.7001953125, 2.5, 300, NAN, 0, INFINITY);
    dc_tensor *bf = run1("Cast", ATTRS(A_INT("to", DC_BF16)), x, SPEC(DC_BF16, 6));
    CHECK(bf, 0, -1.703125, 2.5, 300, NAN, 0, 65536);
    dc_tensor *b = run1("Cast", ATTRS(A_INT("to", DC_BOOL)), x, SPEC(DC_BOOL, 6));
    CHECK(b, 0, 1, 1, 1, 1, 0, 1);
    dc_tensor *bd = run1("Cast", ATTRS(A_INT("to", DC_F64)), b, SPEC(DC_F64, 6));
    CHECK(bd, 0, 1, 1, 1, 1, 0, 1);
    dc_tensor *l = tens(SPEC(DC_I64, 2), V(-1, 9007199254740993.0));
    dc_tensor *lu = run1("Cast", ATTRS(A_INT("to", DC_U64)), l, SPEC(DC_U64, 2));
    CU_ASSERT_EQUAL(((uint64_t *)lu->data)[0], UINT64_MAX);
    dc_tensor *l8 = run1("Cast", ATTRS(A_INT("to", DC_I8)), l, SPEC(DC_I8, 2));
    CHECK(l8, 0, -1, 0);
    dc_tensor *r[1];
    spec wrong = SPEC(DC_I32, 6);
    CU_ASSERT_EQUAL(run_op("Cast", ATTRS(A_INT("to", DC_I64)), 1, &x, 1, &wrong, r), DC_ERR_SHAPE);
    DROP(x, i, u, h, bf, b, bd, l, lu, l8);
}

/* ------------------------------------------------------------ Resize (ONNX's examples) */

static void test_resize(void)
{
    dc_tensor *x = tens(SPEC(DC_F32, 1, 1, 2, 2), V(1, 2, 3, 4));
    dc_tensor *n = run1("Resize", ATTRS(A_FLOATS("scales", 1, 1, 2, 3)), x, SPEC(DC_F32, 1, 1, 4, 6));
    CHECK(n, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4);
    dc_tensor *l = run1("Resize", ATTRS(A_STR("mode", "linear"), A_FLOATS("scales", 1, 1, 2, 2)), x,
                        SPEC(DC_F32, 1, 1, 4, 4));
    CHECK(l, 1e-6, 1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4);
    dc_tensor *ac = run1("Resize", ATTRS(A_STR("mode", "linear"), A_FLOATS("scales", 1, 1, 2, 2),
                                         A_STR("coordinate_transformation_mode", "align_corners")),
                         x, SPEC(DC_F32, 1, 1, 4, 4));
    CHECK(ac, 1e-6, 1, 4.0 / 3, 5.0 / 3, 2, 5.0 / 3, 2, 7.0 / 3, 8.0 / 3, 7.0 / 3, 8.0 / 3, 3, 10.0 / 3,
          3, 10.0 / 3, 11.0 / 3, 4);
    dc_tensor *x8 = tens(SPEC(DC_F32, 1, 1, 2, 4), V(1, 2, 3, 4, 5, 6, 7, 8));
    dc_tensor *ld = run1("Resize", ATTRS(A_STR("mode", "linear"), A_FLOATS("scales", 1, 1, 0.6f, 0.6f)),
                         x8, SPEC(DC_F32, 1, 1, 1, 2));
    CHECK(ld, 1e-6, 2.6666665, 4.3333331);
    double v16[16];
    for (int i = 0; i < 16; i++)
        v16[i] = i + 1;
    dc_tensor *x16 = tens(SPEC(DC_F32, 1, 1, 4, 4), v16);
    dc_tensor *cu = run1("Resize", ATTRS(A_STR("mode", "cubic"), A_FLOATS("scales", 1, 1, 0.8f, 0.8f)),
                         x16, SPEC(DC_F32, 1, 1, 3, 3));
    CHECK(cu, 1e-5, 1.47119141, 2.78125, 4.08251953, 6.71142578, 8.02148438, 9.32275391, 11.91650391,
          13.2265625, 14.52783203);
    /* Sizes instead of scales: the output buffer decides (nearest, 2x2 -> 3x1). */
    dc_tensor *sz = run1("Resize", NO_ATTRS, x, SPEC(DC_F32, 1, 1, 3, 1));
    CHECK(sz, 0, 1, 1, 3);
    /* tf_crop_and_resize outside the box gives extrapolation_value. */
    dc_tensor *cr = run1("Resize", ATTRS(A_STR("mode", "linear"), A_FLOATS("roi", 0, 0, 0.5f, 0.5f, 1, 1, 1.5f, 1.5f),
                                         A_STR("coordinate_transformation_mode", "tf_crop_and_resize"),
                                         A_FLOAT("extrapolation_value", 9)),
                         x, SPEC(DC_F32, 1, 1, 2, 2));
    CHECK(cr, 1e-6, 2.5, 9, 9, 9);
    DROP(x, n, l, ac, x8, ld, x16, cu, sz, cr);
}

/* ------------------------------------------------------------ session signature */

static void test_session_signature(void)
{
    dc_tensor *a = tens(SPEC(DC_F32, 2, 3), NULL), *b = tens(SPEC(DC_F32, 3, 2), NULL);
    dc_tensor *i = tens(SPEC(DC_I32, 2, 3), NULL);
    int32_t args[3] = {0, 1, 2};
    dc_plan_buffer bufs[3] = {
        {.name = (char *)"x", .dtype = DC_F32, .rank = 2, .dims = {2, 3}, .offset = 0, .nbytes = 24},
        {.name = (char *)"w", .dtype = DC_F32, .rank = 2, .dims = {2, 3}, .offset = 64, .nbytes = 24},
        {.name = (char *)"y", .dtype = DC_F32, .rank = 2, .dims = {2, 3}, .offset = 128, .nbytes = 24},
    };
    dc_plan_step step = {.kernel = (char *)"c.Add", .op_type = (char *)"Add", .node = (char *)"add",
                         .n_inputs = 2, .n_outputs = 1, .args = args};
    dc_plan_io ins[2] = {{(char *)"x", 0}, {(char *)"w", 1}}, outs[1] = {{(char *)"y", 2}};
    dc_plan plan = {.region_bytes = {192, 0, 0}, .buffers = bufs, .n_buffers = 3, .steps = &step,
                    .n_steps = 1, .inputs = ins, .n_inputs = 2, .outputs = outs, .n_outputs = 1};
    dc_session *s;
    DC_ASSERT_OK(dc_session_create(&plan, 0, &s));
    CU_ASSERT_EQUAL(dc_session_set_input(s, "x", b), DC_ERR_SHAPE);
    CU_ASSERT_STRING_EQUAL(dc_error_message(), "input 'x': expected f32[2,3], got f32[3,2]");
    CU_ASSERT_EQUAL(dc_session_set_input(s, "w", i), DC_ERR_SHAPE);
    CU_ASSERT_STRING_EQUAL(dc_error_message(), "input 'w': expected f32[2,3], got i32[2,3]");
    CU_ASSERT_EQUAL(dc_session_set_input(s, "z", a), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "no input named 'z' (the plan's inputs: x, w)"));
    dc_tensor *o = (dc_tensor *)1;
    CU_ASSERT_EQUAL(dc_session_get_output(s, 1, &o), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(o);
    /* Buffers are reachable directly (how STATE is loaded and saved). */
    float *w = dc_session_buffer(s, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_PTR_NULL(dc_session_buffer(s, 3));
    for (int k = 0; k < 6; k++)
        w[k] = (float)k;
    DC_ASSERT_OK(dc_session_set_input(s, "x", a));
    DC_ASSERT_OK(dc_session_run(s));
    DC_ASSERT_OK(dc_session_get_output(s, 0, &o));
    CHECK(o, 0, 0, 1, 2, 3, 4, 5);
    dc_session_destroy(s);
    DROP(a, b, i, o);
}

void register_runtime_c_kernels(void)
{
    static const dc_test_case tests[] = {
        {"binary_broadcast_f32", test_binary_broadcast_f32},
        {"binary_large_parallel", test_binary_large_parallel},
        {"integer_arithmetic", test_integer_arithmetic},
        {"pow_types", test_pow_types},
        {"equal_where", test_equal_where},
        {"unary", test_unary},
        {"half_types", test_half_types},
        {"matmul", test_matmul},
        {"matmul_large", test_matmul_large},
        {"gemm", test_gemm},
        {"conv", test_conv},
        {"softmax", test_softmax},
        {"layernorm", test_layernorm},
        {"reduce", test_reduce},
        {"reduce_rows", test_reduce_rows},
        {"argmax", test_argmax},
        {"transpose_concat_split", test_transpose_concat_split},
        {"slice", test_slice},
        {"gather", test_gather},
        {"expand_and_copies", test_expand_and_copies},
        {"cast", test_cast},
        {"resize", test_resize},
        {"session_signature", test_session_signature},
        {NULL, NULL},
    };
    dc_add_suite("runtime_c_kernels", tests);
}
