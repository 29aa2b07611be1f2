/* Compiling and running graphs: the library path of `dinoc compile` and
 * `dinoc run` (tools/driver/run_model.h), the memory plan, and the CLI's errors.
 *
 * The tiny ViT (tests/models/export_tiny_vit.py: PyTorch 1.13, opset 17) runs
 * from its .onnx and from a compiled .dnc and must match torch's output. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "builder.h"
#include "dc_npy.h"
#include "pipeline.h"
#include "infer_shapes.h"
#include "op_registry.h"
#include "run_model.h"
#include "test_util.h"

#define MODELS DINOC_SOURCE_DIR "/tests/models"
#define VIT_ONNX MODELS "/tiny_vit.onnx"
#define VIT_INPUT MODELS "/tiny_vit_input.npy"
#define VIT_OUTPUT MODELS "/tiny_vit_output.npy"
#define VIT_TOLERANCE 1e-4

/* A scratch directory for the test run, removed by suite_clean. */
static char tmp_dir[] = "/tmp/dinoc_compile_run_XXXXXX";

static int suite_init(void)
{
    return mkdtemp(tmp_dir) ? 0 : 1;
}

static int suite_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* Writes tmp_dir/name into buf. */
static const char *tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

/* max |a - b| over f32 tensors of one shape; NAN when they differ in shape,
 * +inf when exactly one of a pair is NaN. */
static double max_abs_diff(const dc_tensor *a, const dc_tensor *b)
{
    if (a->dtype != DC_F32 || b->dtype != DC_F32 || a->nbytes != b->nbytes)
        return NAN;
    const float *x = a->data, *y = b->data;
    double m = 0;
    for (size_t i = 0; i < a->nbytes / sizeof(float); i++) {
        double d = isnan(x[i]) != isnan(y[i]) ? INFINITY : isnan(x[i]) ? 0 : fabs(x[i] - y[i]);
        m = d > m ? d : m;
    }
    return m;
}

/* Runs the model at `path` on the ViT input; returns max |logits - torch|. */
static double vit_diff(const char *path)
{
    dc_tensor *x = NULL, *want = NULL, **out = NULL;
    int n_out = 0;
    double diff = NAN;
    DC_ASSERT_OK(dc_npy_load(VIT_INPUT, &x));
    DC_ASSERT_OK(dc_npy_load(VIT_OUTPUT, &want));
    if (x && want) {
        dc_named_tensor in = {"pixels", x};
        dc_status s = dc_run_model(path, &in, 1, NULL, &out, &n_out);
        DC_ASSERT_OK(s);
        if (s == DC_OK && n_out == 1)
            diff = max_abs_diff(out[0], want);
    }
    dc_tensors_free(out, n_out);
    dc_tensor_destroy(x);
    dc_tensor_destroy(want);
    return diff;
}

static void test_vit_onnx(void)
{
    double d = vit_diff(VIT_ONNX);
    fprintf(stderr, "\n    tiny ViT .onnx: max |dinoc - torch| = %.3g", d);
    CU_ASSERT(d <= VIT_TOLERANCE);
}

static void test_vit_dnc(void)
{
    char dnc[256];
    tmp_path(dnc, sizeof dnc, "vit.dnc");
    dc_plan *plan = NULL;
    dc_memory_stats mem;
    DC_ASSERT_OK(dc_compile_onnx(VIT_ONNX, NULL, 0, NULL, &(dc_pipeline_options){.memory = &mem}, &plan));
    if (!plan)
        return;
    DC_ASSERT_OK(dc_plan_write(plan, dnc));
    fprintf(stderr, "\n    tiny ViT: %d steps, planned peak %llu bytes, sum of intermediates %llu "
                    "bytes, %d steps in place",
            plan->n_steps, (unsigned long long)mem.peak_bytes, (unsigned long long)mem.naive_bytes,
            mem.n_inplace);
    CU_ASSERT(mem.peak_bytes < mem.naive_bytes);
    CU_ASSERT_EQUAL(plan->region_bytes[DC_REGION_ARENA], mem.peak_bytes);
    dc_plan_destroy(plan);
    double d = vit_diff(dnc);
    fprintf(stderr, "\n    tiny ViT .dnc: max |dinoc - torch| = %.3g", d);
    CU_ASSERT(d <= VIT_TOLERANCE);
}

/* A NaN in image 0 makes its logits NaN and leaves image 1's untouched (no
 * step mixes the batch); an Inf likewise stays in its image. */
static void check_poisoned_pixel(float poison)
{
    dc_tensor *x = NULL, *want = NULL, **out = NULL;
    int n_out = 0;
    DC_ASSERT_OK(dc_npy_load(VIT_INPUT, &x));
    DC_ASSERT_OK(dc_npy_load(VIT_OUTPUT, &want));
    if (!x || !want)
        goto done;
    ((float *)x->data)[5] = poison; /* image 0, pixel (0, 5) */
    dc_named_tensor in = {"pixels", x};
    DC_ASSERT_OK(dc_run_model(VIT_ONNX, &in, 1, NULL, &out, &n_out));
    if (n_out != 1)
        goto done;
    const float *y = out[0]->data, *t = want->data;
    int finite0 = 0;
    double diff1 = 0;
    for (int k = 0; k < 10; k++) {
        finite0 += isfinite(y[k]);
        diff1 = fmax(diff1, fabs(y[10 + k] - t[10 + k]));
    }
    CU_ASSERT_EQUAL(finite0, 0);
    CU_ASSERT(diff1 <= VIT_TOLERANCE);
done:
    dc_tensors_free(out, n_out);
    dc_tensor_destroy(x);
    dc_tensor_destroy(want);
}

static void test_nan_inf_propagate(void)
{
    check_poisoned_pixel(NAN);
    check_poisoned_pixel(INFINITY);
}

/* ------------------------------------------------------------ the memory plan */

/* x[2,8] -> Relu -> MatMul(w) -> Tanh -> Reshape[16] -> Add(self) -> y, plus
 * z = Identity(x): the golden plan shows reuse, in-place chains, a view and
 * the copy of an output that is an input. */
static void test_memory_plan_golden(void)
{
    dc_graph *g = dc_graph_create("memplan");
    int64_t xd[2] = {2, 8}, wd[2] = {8, 8}, flat[1] = {16};
    dc_value *x = dc_input(g, "x", DC_F32, 2, xd);
    dc_value *w = dc_param_f32(g, "w", 2, wd, 0.5f);
    dc_value *a = dc_unary(g, "Relu", x);
    dc_value *b = dc_matmul(g, a, w);
    dc_value *c = dc_unary(g, "Tanh", b);
    dc_value *d = dc_reshape(g, c, flat, 1);
    dc_output(g, dc_add(g, d, d));
    dc_output(g, dc_unary(g, "Identity", x));
    DC_ASSERT_OK(dc_build_status(g));
    dc_plan *plan = NULL;
    dc_memory_stats mem;
    dc_pipeline_options opt = {.memory = &mem};
    DC_ASSERT_OK(dc_pipeline_compile(g, &opt, &plan));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (plan && f) {
        dc_plan_memory_print(plan, f);
        fprintf(f, "peak %llu, naive %llu, in place %d\n", (unsigned long long)mem.peak_bytes,
                (unsigned long long)mem.naive_bytes, mem.n_inplace);
    }
    if (f)
        fclose(f);
    static const char golden[] =
        "regions: ARENA 192, CONST 256, STATE 0\n"
        "  0 x f32[2,8] ARENA @0 +64\n"      /* live to the copy at step 4 */
        "  1 t_1 f32[2,8] ARENA @64 +64\n"   /* Relu, dead after the MatMul */
        "  2 w f32[8,8] CONST @0 +256\n"
        "  3 t_3 f32[2,8] ARENA @128 +64\n"  /* MatMul: */
        "  4 t_5 f32[2,8] ARENA @128 +64\n"  /* Tanh in place, */
        "  5 t_8 f32[16] ARENA @128 +64\n"   /* the Reshape view, */
        "  6 t_10 f32[16] ARENA @128 +64\n"  /* Add in place */
        "  7 t_12 f32[2,8] ARENA @0 +64\n"   /* Identity views x, */
        "  8 t_12 f32[2,8] ARENA @64 +64\n"  /* so the output is a copy, in Relu's bytes */
        "peak 192, naive 384, in place 2\n";
    CU_ASSERT_PTR_NOT_NULL(text);
    if (text && strcmp(text, golden) != 0)
        fprintf(stderr, "\n    memory plan:\n%s    expected:\n%s", text, golden);
    CU_ASSERT(text && strcmp(text, golden) == 0);
    free(text);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

/* Reshape's shape from a graph input cannot be lowered without its data. */
static void test_static_input_error(void)
{
    dc_graph *g = dc_graph_create("static");
    int64_t xd[2] = {2, 3}, sd[1] = {1};
    dc_value *in[2] = {dc_input(g, "x", DC_F32, 2, xd), dc_input(g, "shape", DC_I64, 1, sd)};
    dc_node *r;
    DC_ASSERT_OK(dc_graph_add_node(g, "Reshape", "", "r1", in, 2, NULL, 1, &r));
    DC_ASSERT_OK(dc_infer_node(g, r));
    DC_ASSERT_OK(dc_output(g, r->outputs[0]));
    dc_plan *plan = NULL;
    CU_ASSERT_EQUAL(dc_pipeline_compile(g, NULL, &plan), DC_ERR_UNSUPPORTED);
    CU_ASSERT_STRING_EQUAL(dc_error_message(), "Reshape 'r1': input 'shape' must be known at compile time");
    CU_ASSERT_PTR_NULL(plan);
    dc_graph_destroy(g);
}

/* Softmax before opset 13 normalises X[2,3,4] seen as [2, 12] (axis 1):
 * lowering runs the one-axis kernel on 2-D views. */
static void test_softmax_opset11(void)
{
    dc_graph *g = dc_graph_create("softmax11");
    DC_ASSERT_OK(dc_graph_set_opset(g, "", 11));
    int64_t xd[3] = {2, 3, 4};
    dc_value *x = dc_input(g, "x", DC_F32, 3, xd);
    dc_output(g, dc_softmax(g, x, 1));
    DC_ASSERT_OK(dc_build_status(g));
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_tensor *xt = NULL, **out = NULL;
    int n_out = 0;
    DC_ASSERT_OK(dc_tensor_create(&xt, "x", DC_F32, 3, xd));
    if (plan && xt) {
        float *xv = xt->data;
        for (int i = 0; i < 24; i++)
            xv[i] = 0.1f * (float)(i % 7) - 0.2f * (float)(i / 12);
        dc_named_tensor in = {"x", xt};
        DC_ASSERT_OK(dc_run_plan(plan, &in, 1, NULL, &(dc_run_options){.threads = 1}, &out, &n_out));
    }
    for (int row = 0; n_out == 1 && row < 2; row++) {
        const float *xv = (const float *)xt->data + 12 * row, *y = (const float *)out[0]->data + 12 * row;
        double sum = 0, err = 0;
        for (int j = 0; j < 12; j++)
            sum += exp(xv[j]);
        for (int j = 0; j < 12; j++)
            err = fmax(err, fabs(y[j] - exp(xv[j]) / sum));
        CU_ASSERT(err < 1e-6);
    }
    CU_ASSERT_EQUAL(n_out, 1);
    dc_tensors_free(out, n_out);
    dc_tensor_destroy(xt);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

/* ------------------------------------------------------------ the CLI */

/* Runs `dinoc <args>` with stderr into `out`; returns the exit status. */
static int run_cli(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run_cli(char *out, size_t cap, const char *fmt, ...)
{
    char args[1024], cmd[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", DINOC_BINARY, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `dinoc ARGS` fails with exit 1 and a message containing `want`. */
#define EXPECT_CLI_ERROR(want, ...)                                                 \
    do {                                                                            \
        char out_[2048];                                                            \
        int rc_ = run_cli(out_, sizeof out_, __VA_ARGS__);                          \
        if (rc_ != 1 || !strstr(out_, (want)))                                      \
            fprintf(stderr, "\n    exit %d, output: %s    expected: %s", rc_, out_, (want)); \
        CU_ASSERT(rc_ == 1 && strstr(out_, (want)) != NULL);                        \
    } while (0)

static void write_f_tensor(const char *path, dc_dtype dtype, int rank, const int64_t *dims)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, dtype, rank, dims));
    if (t)
        DC_ASSERT_OK(dc_npy_save(t, path));
    dc_tensor_destroy(t);
}

/* Copies `src` to `dst`, keeping `keep` bytes (all when 0) and writing
 * `version` over the format version (bytes 8..11) when non-zero. */
static void copy_artifact(const char *src, const char *dst, long keep, uint32_t version)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    CU_ASSERT_PTR_NOT_NULL(in);
    CU_ASSERT_PTR_NOT_NULL(out);
    if (in && out) {
        long pos = 0;
        for (int ch; (ch = fgetc(in)) != EOF && (keep == 0 || pos < keep); pos++) {
            if (version && pos >= 8 && pos < 12)
                ch = (int)((version >> (8 * (pos - 8))) & 0xff);
            fputc(ch, out);
        }
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void test_cli(void)
{
    char dnc[256], bad_shape[256], bad_dtype[256], cut[256], v2[256], outdir[256], out[4096];
    tmp_path(dnc, sizeof dnc, "cli.dnc");
    tmp_path(bad_shape, sizeof bad_shape, "bad_shape.npy");
    tmp_path(bad_dtype, sizeof bad_dtype, "bad_dtype.npy");
    tmp_path(cut, sizeof cut, "cut.dnc");
    tmp_path(v2, sizeof v2, "v2.dnc");
    tmp_path(outdir, sizeof outdir, "out");
    int rc = run_cli(out, sizeof out, "compile %s -o %s", VIT_ONNX, dnc);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "planned peak"));
    rc = run_cli(out, sizeof out, "run %s -i pixels=%s -o %s --npy", dnc, VIT_INPUT, outdir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "logits: f32[2,10]"));

    int64_t small[4] = {1, 1, 28, 28}, full[4] = {2, 1, 28, 28};
    write_f_tensor(bad_shape, DC_F32, 4, small);
    write_f_tensor(bad_dtype, DC_F64, 4, full);
    const char *models[2] = {dnc, VIT_ONNX};
    for (int m = 0; m < 2; m++) {
        EXPECT_CLI_ERROR("no input named 'image'", "run %s -i image=%s -o %s", models[m],
                         VIT_INPUT, outdir);
        EXPECT_CLI_ERROR("input 'pixels' is missing", "run %s -o %s", models[m], outdir);
        EXPECT_CLI_ERROR("input 'pixels': expected f32[2,1,28,28], got f32[1,1,28,28]",
                         "run %s -i pixels=%s -o %s", models[m], bad_shape, outdir);
        EXPECT_CLI_ERROR("input 'pixels': expected f32[2,1,28,28], got f64[2,1,28,28]",
                         "run %s -i pixels=%s -o %s", models[m], bad_dtype, outdir);
    }
    copy_artifact(dnc, cut, 1000, 0);
    EXPECT_CLI_ERROR("truncated", "run %s -i pixels=%s -o %s", cut, VIT_INPUT, outdir);
    copy_artifact(dnc, v2, 0, 3); /* a format from the future */
    EXPECT_CLI_ERROR("format version 3", "run %s -i pixels=%s -o %s", v2, VIT_INPUT, outdir);
}

/* dinoc compile --print-after PASS prints the IR after that pass; --no-fuse
 * leaves the ai.dinoc fused ops out; an unknown pass is a usage error. */
static void test_cli_passes(void)
{
    char dnc[256], out[1 << 16];
    tmp_path(dnc, sizeof dnc, "passes.dnc");
    int rc = run_cli(out, sizeof out, "compile %s -o %s --print-after fuse-final", VIT_ONNX, dnc);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "passes: infer-shapes, fold-constants"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "# IR after fuse-final"));
    /* Unless the run has fusion off (DINOC_NO_FUSE=1), the model fuses (its
     * GELU into ai.dinoc Gelu, then into the fc1 MatMulBias). */
    CU_ASSERT_EQUAL(strstr(out, "ai.dinoc.MatMulBias") != NULL, dc_pipeline_fuses(NULL));
    rc = run_cli(out, sizeof out, "compile %s -o %s --no-fuse --print-after fuse-final", VIT_ONNX,
                 dnc);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "fuse-final (off)"));
    CU_ASSERT_PTR_NULL(strstr(out, "ai.dinoc."));
    rc = run_cli(out, sizeof out, "compile %s -o %s --print-after fusion", VIT_ONNX, dnc);
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no pass named 'fusion'"));
}

void register_compile_run(void)
{
    CU_pSuite s = CU_add_suite("compile_run", suite_init, suite_clean);
    if (!s)
        return;
    CU_add_test(s, "vit_onnx", test_vit_onnx);
    CU_add_test(s, "vit_dnc", test_vit_dnc);
    CU_add_test(s, "nan_inf_propagate", test_nan_inf_propagate);
    CU_add_test(s, "memory_plan_golden", test_memory_plan_golden);
    CU_add_test(s, "static_input_error", test_static_input_error);
    CU_add_test(s, "softmax_opset11", test_softmax_opset11);
    CU_add_test(s, "cli", test_cli);
    CU_add_test(s, "cli: --print-after, --no-fuse", test_cli_passes);
}
