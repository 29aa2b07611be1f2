/* Generated element-wise kernels against the c.* kernels and against double
 * precision: random shapes with broadcasting, size-1 dims and odd tails, for
 * every target this machine runs; Where, Equal and integer/f64 arithmetic
 * byte for byte; the vector width in the IR; refusals and errors. */
#include <stdint.h>

#include "codegen_test_util.h"
#include "dc_eltwise_program.h"

enum { MAX_ARGS = 9 };

/* A random output shape (rank 0-4, dims 1..40 with many 1s) and an input
 * shape that broadcasts to it. */
static int random_shape(uint64_t *rng, int64_t *dims)
{
    int rank = (int)(cgt_rand(rng) % 5);
    for (int d = 0; d < rank; d++)
        dims[d] = cgt_rand(rng) % 4 == 0 ? 1 : 1 + (int64_t)(cgt_rand(rng) % 40);
    return rank;
}

static int broadcast_shape(uint64_t *rng, int rank, const int64_t *dims, int64_t *in)
{
    int drop = rank ? (int)(cgt_rand(rng) % (rank + 1)) : 0;
    if (cgt_rand(rng) % 2)
        drop = 0;
    for (int d = drop; d < rank; d++)
        in[d - drop] = cgt_rand(rng) % 3 == 0 ? 1 : dims[d];
    return rank - drop;
}

static int64_t numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}

/* A random program over n_in inputs and constants {0.5, 2, -1.5}: every
 * divisor, logarithm and square root gets |x| + 0.5 (or |x|), so values stay
 * well conditioned and both backends round alike. */
static int random_program(uint64_t *rng, int n_in, int64_t *prog)
{
    static const int ops[] = {DC_EW_ADD, DC_EW_SUB,  DC_EW_MUL,     DC_EW_DIV,  DC_EW_POW,
                              DC_EW_NEG, DC_EW_ABS,  DC_EW_SQRT,    DC_EW_RECIPROCAL,
                              DC_EW_EXP, DC_EW_LOG,  DC_EW_ERF,     DC_EW_TANH, DC_EW_SIGMOID,
                              DC_EW_RELU};
    int n = 0, regs = n_in + 3, half = n_in, two = n_in + 1;
    int len = 1 + (int)(cgt_rand(rng) % 8);
#define EMIT(o, a, b) (prog[3 * n] = (o), prog[3 * n + 1] = (a), prog[3 * n + 2] = (b), n++, regs++)
    for (int k = 0; k < len; k++) {
        int op = ops[cgt_rand(rng) % (sizeof ops / sizeof ops[0])];
        int a = regs - 1 - (int)(cgt_rand(rng) % (regs < 3 ? regs : 3));
        int b = (int)(cgt_rand(rng) % regs);
        if (k == 0) /* start from the inputs */
            a = (int)(cgt_rand(rng) % n_in);
        if (op == DC_EW_DIV || op == DC_EW_RECIPROCAL || op == DC_EW_LOG) {
            int tgt = op == DC_EW_DIV ? b : a;
            EMIT(DC_EW_ABS, tgt, 0);
            EMIT(DC_EW_ADD, regs - 1, half);
            if (op == DC_EW_DIV)
                EMIT(op, a, regs - 1);
            else
                EMIT(op, regs - 1, 0);
        } else if (op == DC_EW_SQRT) {
            EMIT(DC_EW_ABS, a, 0);
            EMIT(op, regs - 1, 0);
        } else if (op == DC_EW_POW) {
            EMIT(op, a, two);
        } else if (op == DC_EW_EXP) {
            EMIT(DC_EW_TANH, a, 0); /* bounded argument: no overflow races */
            EMIT(op, regs - 1, 0);
        } else {
            EMIT(op, a, b);
        }
    }
#undef EMIT
    return n;
}

typedef struct eltwise_case {
    int n_in;
    int args[MAX_ARGS];
} eltwise_case;

/* Runs every step of `p` (already generated into `so`) and its oracle on
 * random data; in-place cases write the output over input 0. */
static void run_and_compare(const cgt_so *so, const dc_plan *p, uint64_t *rng, double tol,
                            int in_place)
{
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        int n = st->n_inputs + st->n_outputs;
        void *gen[MAX_ARGS], *ref[MAX_ARGS];
        for (int a = 0; a < n; a++) {
            const dc_plan_buffer *b = &p->buffers[st->args[a]];
            int64_t m = numel(b);
            gen[a] = malloc((size_t)(m ? m : 1) * sizeof(float));
            ref[a] = malloc((size_t)(m ? m : 1) * sizeof(float));
            for (int64_t j = 0; j < m; j++)
                ((float *)gen[a])[j] = ((float *)ref[a])[j] = cgt_uniform(rng, -2.5f, 2.5f);
        }
        const dc_plan_buffer *Y = &p->buffers[st->args[st->n_inputs]];
        int64_t m = numel(Y);
        float *want = malloc((size_t)(m ? m : 1) * sizeof(float));
        cgt_run_oracle(p, i, ref);
        memcpy(want, ref[st->n_inputs], (size_t)m * sizeof(float));
        void *out_gen = gen[st->n_inputs];
        if (in_place)
            gen[st->n_inputs] = gen[0];
        cgt_run_generated(so, p, i, gen, 1 + i % 4);
        char what[96];
        snprintf(what, sizeof what, "step %d %s", i, st->op_type);
        CU_ASSERT_EQUAL(cgt_compare(gen[st->n_inputs], want, m, tol, what), 0);
        gen[st->n_inputs] = out_gen;
        for (int a = 0; a < n; a++) {
            free(gen[a]);
            free(ref[a]);
        }
        free(want);
    }
}

static void test_fused_random(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (int c = 0; c < 24; c++) {
            int64_t dims[DC_MAX_RANK], in_dims[DC_MAX_RANK];
            int rank = random_shape(&rng, dims);
            int n_in = 1 + (int)(cgt_rand(&rng) % 4), args[MAX_ARGS];
            for (int k = 0; k < n_in; k++) {
                int r = broadcast_shape(&rng, rank, dims, in_dims);
                args[k] = cgt_buffer(p, DC_F32, r, in_dims);
            }
            args[n_in] = cgt_buffer(p, DC_F32, rank, dims);
            /* The output's shape must be the broadcast of the inputs': make
             * input 0 full-sized. */
            p->buffers[args[0]].rank = rank;
            memcpy(p->buffers[args[0]].dims, dims, sizeof dims);
            p->buffers[args[0]].nbytes = p->buffers[args[n_in]].nbytes;
            int64_t prog[3 * 40];
            int n_ins = random_program(&rng, n_in, prog);
            dc_plan_step *st = cgt_step(p, "FusedElementwise", n_in, 1, args);
            cgt_attr_ints(st, "program", 3 * n_ins, prog);
            cgt_attr_floats(st, "constants", 3, (const float[]){0.5f, 2.0f, -1.5f});
        }
        /* Long flat tensors with odd tails, one with a scalar input. */
        int64_t big[2] = {3, 1000 * 16 + 13}, one[1] = {1};
        int a3[3] = {cgt_buffer(p, DC_F32, 2, big), cgt_buffer(p, DC_F32, 1, one),
                     cgt_buffer(p, DC_F32, 2, big)};
        dc_plan_step *st = cgt_step(p, "FusedElementwise", 2, 1, a3);
        cgt_attr_ints(st, "program", 6, (const int64_t[]){DC_EW_MUL, 0, 1, DC_EW_ERF, 2, 0});
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            run_and_compare(&so, p, &rng, 2e-5, 0);
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* The plain element-wise ops, Gelu and GeluGrad, with broadcasting and in place. */
static void test_plain_ops(void)
{
    static const char *const binary[] = {"Add", "Sub", "Mul", "Div"};
    static const char *const unary[] = {"Neg",  "Abs",     "Sqrt", "Reciprocal", "Exp",
                                        "Log",  "Erf",     "Tanh", "Sigmoid",    "Relu",
                                        "Gelu"};
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 12345;
    for (int t = 0; targets[t]; t++) {
        for (int in_place = 0; in_place < 2; in_place++) {
            dc_plan *p = cgt_plan();
            int64_t y[3] = {5, 7, 19}, row[1] = {19}, col[3] = {5, 1, 1}, flat[1] = {1037};
            for (size_t k = 0; k < sizeof binary / sizeof binary[0]; k++) {
                int a[3] = {cgt_buffer(p, DC_F32, 3, y),
                            cgt_buffer(p, DC_F32, in_place ? 3 : k % 2 ? 1 : 3,
                                       in_place ? y : k % 2 ? row : col),
                            cgt_buffer(p, DC_F32, 3, y)};
                cgt_step(p, binary[k], 2, 1, a);
            }
            for (size_t k = 0; k < sizeof unary / sizeof unary[0]; k++) {
                int a[2] = {cgt_buffer(p, DC_F32, 1, flat), cgt_buffer(p, DC_F32, 1, flat)};
                cgt_step(p, unary[k], 1, 1, a);
            }
            int g[3] = {cgt_buffer(p, DC_F32, 3, y), cgt_buffer(p, DC_F32, 3, y),
                        cgt_buffer(p, DC_F32, 3, y)};
            cgt_step(p, "GeluGrad", 2, 1, g);
            int n_generated;
            cgt_so so = {0};
            if (cgt_generate(p, targets[t], &so, &n_generated)) {
                CU_ASSERT_EQUAL(n_generated, p->n_steps);
                /* Log and Sqrt of negative inputs: NaN on both sides. */
                run_and_compare(&so, p, &rng, 2e-6, in_place);
            }
            cgt_unload(&so);
            dc_plan_destroy(p);
        }
    }
}

/* exp, log, erf, tanh and sigmoid against double precision over a sweep and
 * the special values. */
static void test_math_accuracy(void)
{
    static const char *const ops[] = {"Exp", "Log", "Erf", "Tanh", "Sigmoid"};
    enum { N = 20011 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 1e-45f,
                              88.7f, 88.73f, -87.5f, -103.9f, -104.5f, 3.4e38f, 1.17549435e-38f,
                              1e-4f, -3e-4f, 7.9f, -9.0f, 1.0f};
    int n_special = (int)(sizeof specials / sizeof specials[0]);
    uint64_t rng = 77;
    for (int i = 0; i < N; i++)
        x[i] = i < n_special ? specials[i]
             : i % 3 == 0    ? cgt_uniform(&rng, -110.0f, 90.0f)
             : i % 3 == 1    ? cgt_uniform(&rng, -6.0f, 6.0f)
                             : ldexpf(cgt_uniform(&rng, 0.5f, 1.0f), (int)(cgt_rand(&rng) % 250) - 140);
    const char *targets[8];
    cgt_targets(targets);
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        int64_t dims[1] = {N};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            int a[2] = {cgt_buffer(p, DC_F32, 1, dims), cgt_buffer(p, DC_F32, 1, dims)};
            cgt_step(p, ops[k], 1, 1, a);
        }
        int n_generated;
        cgt_so so = {0};
        if (!cgt_generate(p, targets[t], &so, &n_generated)) {
            dc_plan_destroy(p);
            continue;
        }
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            void *args[2] = {x, y};
            cgt_run_generated(&so, p, (int)k, args, 3);
            int bad = 0;
            for (int i = 0; i < N; i++) {
                double v = x[i], want;
                switch (k) {
                case 0: want = exp(v); break;
                case 1: want = log(v); break;
                case 2: want = erf(v); break;
                case 3: want = tanh(v); break;
                default: want = 1 / (1 + exp(-v)); break;
                }
                double got = y[i], err = fabs(got - want);
                /* exp/log/tanh/sigmoid: relative (3 ulp), erf: absolute; values
                 * that round to f32 denormals: absolute 2^-149 · 4. */
                double tol = k == 2 ? 5e-7 : 3.6e-7 * fabs(want) + 6e-45;
                if (k == 1 && fabs(want) < 1e-3)
                    tol = 2e-7 * fabs(v - 1) + 1e-10; /* log near 1: absolute in x - 1 */
                int ok = (isnan(want) && isnan(got)) || got == (float)want || err <= tol;
                if (!ok && bad++ < 3)
                    fprintf(stderr, "\n    %s %s(%.9g) = %.9g, want %.9g", targets[t], ops[k], v,
                            got, want);
            }
            CU_ASSERT_EQUAL(bad, 0);
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
    free(x);
    free(y);
}

/* The IR uses the target's vector width and the assembly its registers;
 * compiled only (any machine can compile for AVX-512). */
static void test_vector_width(void)
{
    static const struct {
        const char *target, *ir, *reg;
    } cases[] = {
        {"x86-64-v2", "<4 x float>", "xmm"},
        {"x86-64-v3", "<8 x float>", "ymm"},
        {"x86-64-v4", "<16 x float>", "zmm"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dc_plan *p = cgt_plan();
        int64_t dims[2] = {64, 384}, bias[1] = {384};
        int a[3] = {cgt_buffer(p, DC_F32, 2, dims), cgt_buffer(p, DC_F32, 1, bias),
                    cgt_buffer(p, DC_F32, 2, dims)};
        dc_plan_step *st = cgt_step(p, "FusedElementwise", 2, 1, a);
        cgt_attr_ints(st, "program", 12,
                      (const int64_t[]){DC_EW_ADD, 0, 1, DC_EW_TANH, 2, 0, DC_EW_EXP, 3, 0,
                                        DC_EW_MUL, 4, 0});
        dc_codegen *cg;
        DC_ASSERT_OK(dc_codegen_create(cases[c].target, &cg));
        int64_t extent;
        DC_ASSERT_OK(dc_codegen_add_step(cg, p, 0, "k", &extent));
        CU_ASSERT_EQUAL(extent, 64);
        DC_ASSERT_OK(dc_codegen_optimize(cg));
        char *ir = dc_codegen_ir_text(cg), *as = dc_codegen_asm_text(cg);
        CU_ASSERT_PTR_NOT_NULL(strstr(ir, cases[c].ir));
        CU_ASSERT_PTR_NOT_NULL(strstr(as, cases[c].reg));
        /* No call left in the kernel: the math is inline. */
        CU_ASSERT_PTR_NULL(strstr(as, "call"));
        CU_ASSERT_STRING_EQUAL(dc_codegen_target(cg), cases[c].target);
        free(ir);
        free(as);
        dc_codegen_destroy(cg);
        dc_plan_destroy(p);
    }
    dc_codegen *cg;
    DC_ASSERT_OK(dc_codegen_create("native", &cg));
    CU_ASSERT(strncmp(dc_codegen_target(cg), "native (", 8) == 0);
    CU_ASSERT(strstr(dc_codegen_cpu_features(cg), "sse4.2") != NULL);
    dc_codegen_destroy(cg);
    DC_ASSERT_OK(dc_codegen_create("x86-64-v3", &cg));
    CU_ASSERT_STRING_EQUAL(dc_codegen_cpu_features(cg),
                           "sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi,bmi2,f16c,fma,lzcnt,movbe");
    CU_ASSERT_EQUAL(dc_codegen_vector_width(cg), 8);
    dc_codegen_destroy(cg);
}

static void test_refusals_and_errors(void)
{
    dc_codegen *cg = NULL;
    CU_ASSERT_EQUAL(dc_codegen_create("pentium", &cg), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "x86-64-v3"));
    CU_ASSERT_PTR_NULL(cg);

    dc_plan *p = cgt_plan();
    int64_t d[1] = {10};
    int f = cgt_buffer(p, DC_F32, 1, d), g = cgt_buffer(p, DC_F32, 1, d);
    int h = cgt_buffer(p, DC_F64, 1, d);
    cgt_step(p, "Pow", 2, 1, (const int[]){f, g, g});
    cgt_step(p, "Sqrt", 1, 1, (const int[]){h, h});
    cgt_step(p, "Gather", 1, 1, (const int[]){f, g});
    dc_plan_step *st = cgt_step(p, "FusedElementwise", 1, 1, (const int[]){f, g});
    cgt_attr_ints(st, "program", 3, (const int64_t[]){DC_EW_ADD, 0, 7});
    CU_ASSERT(cgt_refused(p, 0, "exponent"));
    CU_ASSERT(cgt_refused(p, 1, "f32"));
    CU_ASSERT(cgt_refused(p, 2, "Gather"));
    CU_ASSERT(cgt_refused(p, 3, "operand 7"));
    /* Attention is generated for f32 only; f64 stays with the C kernel. */
    int64_t qkv[3] = {1, 2, 6}, o[3] = {1, 2, 2};
    int q64 = cgt_buffer(p, DC_F64, 3, qkv), o64 = cgt_buffer(p, DC_F64, 3, o);
    cgt_step(p, "Attention", 1, 1, (const int[]){q64, o64});
    CU_ASSERT(cgt_refused(p, 4, "f64 stays"));
    cgt_step(p, "Attention", 1, 1, (const int[]){f, g});
    CU_ASSERT(cgt_refused(p, 5, "do not fit"));
    /* Refused steps keep their c.* kernel; a missing compiler is an error that says so. */
    setenv("DINOC_CC", "/nonexistent/cc", 1);
    int n_generated = -1;
    dc_codegen_options opt = {.target = "x86-64-v3"};
    CU_ASSERT_EQUAL(dc_codegen_write_artifact(p, &opt, "/tmp/dinoc_test_nocc.so", &n_generated),
                    DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "DINOC_CC"));
    unsetenv("DINOC_CC");
    CU_ASSERT_EQUAL(n_generated, 0);
    CU_ASSERT_EQUAL(access("/tmp/dinoc_test_nocc.so", F_OK), -1);
    for (int i = 0; i < p->n_steps; i++)
        CU_ASSERT(strncmp(p->steps[i].kernel, "c.", 2) == 0);
    dc_plan_destroy(p);
}

/* A value of type t drawn from a small set, so that ties, zeros, -1 (integer
 * Div), NaN and the integers' extremes come up often; bools are 0, 1 or 2. */
static void random_value(uint64_t *rng, dc_dtype t, void *data, int64_t j)
{
    int64_t v = (int64_t)(cgt_rand(rng) % 7) - 3;
    bool extreme = cgt_rand(rng) % 8 == 0;
    switch (t) {
    case DC_F32: ((float *)data)[j] = extreme ? NAN : (float)v / 2; break;
    case DC_F64: ((double *)data)[j] = extreme ? NAN : (double)v / 3; break;
    case DC_I8: ((int8_t *)data)[j] = extreme ? INT8_MIN : (int8_t)v; break;
    case DC_I16: ((int16_t *)data)[j] = extreme ? INT16_MIN : (int16_t)(v * 300); break;
    case DC_I32: ((int32_t *)data)[j] = extreme ? INT32_MIN : (int32_t)v; break;
    case DC_I64: ((int64_t *)data)[j] = extreme ? INT64_MIN : v * 5000000000ll; break;
    case DC_U8: ((uint8_t *)data)[j] = extreme ? UINT8_MAX : (uint8_t)(v + 3); break;
    case DC_U16: ((uint16_t *)data)[j] = extreme ? UINT16_MAX : (uint16_t)(v + 3); break;
    case DC_U32: ((uint32_t *)data)[j] = extreme ? UINT32_MAX : (uint32_t)(v + 3); break;
    case DC_U64: ((uint64_t *)data)[j] = extreme ? UINT64_MAX : (uint64_t)(v + 3); break;
    case DC_BOOL: ((uint8_t *)data)[j] = (uint8_t)((v + 3) % 3); break;
    default: break;
    }
}

/* Where, Equal, and Add/Sub/Mul/Div on types other than f32, random shapes
 * with broadcasting: bytes equal to the c.* kernels'. */
static void test_typed_ops(void)
{
    static const char *const ops[] = {"Where", "Equal", "Add", "Sub", "Mul", "Div"};
    static const dc_dtype arith[] = {DC_F64, DC_I8, DC_I16, DC_I32, DC_I64,
                                     DC_U8,  DC_U16, DC_U32, DC_U64};
    static const dc_dtype any[] = {DC_F32, DC_F64, DC_I64, DC_I32, DC_U8, DC_BOOL, DC_I16};
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 77;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        /* A size-1 dim after merged ones (f32 Add: cg_eltwise.c, same layout). */
        int64_t y[4] = {1, 1, 7, 1}, x[3] = {1, 7, 1};
        cgt_step(p, "Add", 2, 1, (const int[]){cgt_buffer(p, DC_F32, 4, y),
                                                cgt_buffer(p, DC_F32, 3, x),
                                                cgt_buffer(p, DC_F32, 4, y)});
        for (int c = 0; c < 60; c++) {
            int op = c % 6, n_in = op == 0 ? 3 : 2, args[4];
            dc_dtype ty = op >= 2 ? arith[cgt_rand(&rng) % 9] : any[cgt_rand(&rng) % 7];
            int64_t dims[DC_MAX_RANK], in_dims[DC_MAX_RANK];
            int rank = random_shape(&rng, dims);
            for (int k = 0; k < n_in; k++) { /* the last input has the output's shape */
                int r = k == n_in - 1 ? rank : broadcast_shape(&rng, rank, dims, in_dims);
                args[k] = cgt_buffer(p, op == 0 && k == 0 ? DC_BOOL : ty, r,
                                     k == n_in - 1 ? dims : in_dims);
            }
            args[n_in] = cgt_buffer(p, op == 1 ? DC_BOOL : ty, rank, dims);
            cgt_step(p, ops[op], n_in, 1, args);
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_step *st = &p->steps[i];
                int n = st->n_inputs + 1;
                void *gen[4], *ref[4];
                size_t bytes[4];
                for (int a = 0; a < n; a++) {
                    const dc_plan_buffer *b = &p->buffers[st->args[a]];
                    bytes[a] = (size_t)numel(b) * dc_dtype_size(b->dtype);
                    ref[a] = malloc(bytes[a] ? bytes[a] : 1);
                    gen[a] = malloc(bytes[a] ? bytes[a] : 1);
                    for (int64_t j = 0; j < numel(b); j++)
                        random_value(&rng, b->dtype, ref[a], j);
                    memcpy(gen[a], ref[a], bytes[a]);
                }
                cgt_run_oracle(p, i, ref);
                cgt_run_generated(&so, p, i, gen, 1 + i % 3);
                bool same = memcmp(gen[n - 1], ref[n - 1], bytes[n - 1]) == 0;
                CU_ASSERT(same);
                if (!same)
                    fprintf(stderr, "\n    step %d %s on %s differs", i, st->op_type,
                            dc_dtype_name(p->buffers[st->args[1]].dtype));
                for (int a = 0; a < n; a++) {
                    free(gen[a]);
                    free(ref[a]);
                }
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

void register_codegen_eltwise(void)
{
    static const dc_test_case tests[] = {
        {"fused_random", test_fused_random},
        {"plain_ops", test_plain_ops},
        {"math_accuracy", test_math_accuracy},
        {"vector_width", test_vector_width},
        {"typed_ops", test_typed_ops},
        {"refusals_and_errors", test_refusals_and_errors},
        {NULL, NULL},
    };
    dc_add_suite("codegen_eltwise", tests);
}
