/* `dinoc export` (graphs/export.h): a checkpoint's backbone as standalone ONNX,
 * checked by onnx.checker and run by dinoc against the ViT forward on the same
 * weights, at the config's size, a resized size, and with a dynamic batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "configs.h"
#include "dc_safetensors.h"
#include "dinov2_step.h"
#include "export.h"
#include "onnx_io.h"
#include "run_model.h"
#include "test_util.h"
#include "vit.h"

static const char *OV[] = {"vit.in_chans=1", "vit.image_size=28", "vit.patch_size=7", "local_crop_size=14",
                           "vit.n_registers=2"};
static int n_ov = 4; /* 5: with two registers */

/* The teacher backbone of test-tiny (seed 1, LayerScale 1) as parameters of a
 * fresh graph: the checkpoint and the reference use these values. */
static dc_vit *declare(dc_graph *g, dc_dinov2_config *c)
{
    dc_vit *vit = NULL;
    if (dc_dinov2_config_load("test-tiny", OV, n_ov, c) != DC_OK ||
        dc_vit_declare(g, &c->vit, "teacher.backbone.", 1, &vit) != DC_OK)
        return NULL;
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(params[i]->name);
        if (len > 6 && strcmp(params[i]->name + len - 6, ".gamma") == 0)
            for (uint64_t j = 0; j < dc_tensor_numel(params[i]->constant); j++)
                ((float *)params[i]->constant->data)[j] = 1.0f;
        params[i]->is_state = false;
    }
    return vit;
}

static char *write_checkpoint(const char *dir)
{
    dc_dinov2_config c;
    dc_graph *g = dc_graph_create("ckpt");
    dc_vit *vit = declare(g, &c);
    if (!vit) {
        dc_graph_destroy(g);
        return NULL;
    }
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    dc_tensor **ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        dc_tensor_clone(&ts[i], params[i]->constant);
        free(ts[i]->name);
        ts[i]->name = strdup(params[i]->name);
    }
    char *text = dc_config_text(&c);
    const char *keys[2] = {"config", "step"}, *values[2] = {text, "1234"};
    char *path = malloc(strlen(dir) + 32);
    sprintf(path, "%s/ckpt.safetensors", dir);
    dc_status s = dc_safetensors_save(path, ts, n, keys, values, 2);
    for (int i = 0; i < n; i++)
        dc_tensor_destroy(ts[i]);
    free(ts);
    free(text);
    dc_graph_destroy(g);
    if (s != DC_OK) {
        fprintf(stderr, "\n    %s\n", dc_error_message());
        free(path);
        return NULL;
    }
    return path;
}

/* The tokens [b, T, D] of dc_vit_forward on the same weights, for x. */
static dc_tensor *reference_tokens(const char *dir, const dc_tensor *x)
{
    dc_dinov2_config c;
    dc_graph *g = dc_graph_create("ref");
    dc_vit *vit = declare(g, &c);
    dc_tensor *out = NULL;
    if (vit) {
        dc_value *tokens = dc_vit_forward(g, vit, dc_input(g, "images", DC_F32, 4, x->dims), NULL, NULL);
        char path[512];
        snprintf(path, sizeof path, "%s/ref.onnx", dir);
        if (tokens && dc_output(g, tokens) == DC_OK && dc_onnx_save(g, path) == DC_OK) {
            dc_named_tensor in = {"images", (dc_tensor *)x};
            dc_tensor **outs;
            int n;
            if (dc_run_model(path, &in, 1, NULL, &outs, &n) == DC_OK) {
                out = outs[0];
                outs[0] = NULL;
                dc_tensors_free(outs, n);
            }
        }
    }
    if (!out)
        fprintf(stderr, "\n    reference: %s\n", dc_error_message());
    dc_graph_destroy(g);
    return out;
}

static dc_tensor *random_images(int64_t b, int64_t s, unsigned seed)
{
    int64_t d[4] = {b, 1, s, s};
    dc_tensor *x;
    if (dc_tensor_create(&x, "images", DC_F32, 4, d) != DC_OK)
        return NULL;
    srand(seed);
    for (uint64_t i = 0; i < dc_tensor_numel(x); i++)
        ((float *)x->data)[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    return x;
}

static bool python_check(const char *model)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('%s'), "
             "full_check=True)\"", model);
    return system(cmd) == 0;
}

/* max |a - b| over the rows [row0, row0 + rows) of tokens vs out. */
static double compare(const dc_tensor *tokens, const dc_tensor *out, int64_t row0, int64_t rows)
{
    int64_t b = tokens->dims[0], T = tokens->dims[1], D = tokens->dims[2];
    if ((int64_t)dc_tensor_numel(out) != b * rows * D)
        return INFINITY;
    double m = 0;
    const float *t = tokens->data, *o = out->data;
    for (int64_t i = 0; i < b; i++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t d = 0; d < D; d++)
                m = fmax(m, fabs(t[(i * T + row0 + r) * D + d] - o[(i * rows + r) * D + d]));
    return m;
}

static const char *ORT = DINOC_SOURCE_DIR "/tools/bench/node_modules/onnxruntime-node";

/* Runs the model through onnxruntime-node when it is installed: writes x raw,
 * reads each output raw back; max difference against tokens. -1: skipped. */
static double onnxruntime_check(const char *dir, const char *model, const dc_tensor *x,
                                const dc_tensor *tokens, int64_t row0, int64_t rows, const char *name)
{
    if (access(ORT, F_OK) != 0 || system("command -v node >/dev/null 2>&1") != 0) {
        printf("\n    onnxruntime check skipped: onnxruntime-node not installed ");
        return -1;
    }
    char xin[512], xout[512], cmd[2048];
    snprintf(xin, sizeof xin, "%s/x.raw", dir);
    snprintf(xout, sizeof xout, "%s/%s.raw", dir, name);
    FILE *f = fopen(xin, "wb");
    fwrite(x->data, 1, x->nbytes, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "NODE_PATH=%s/tools/bench/node_modules node %s/tests/onnx/run_onnxruntime.js %s %s "
             "%lld,%lld,%lld,%lld %s %s >/dev/null",
             DINOC_SOURCE_DIR, DINOC_SOURCE_DIR, model, xin, (long long)x->dims[0],
             (long long)x->dims[1], (long long)x->dims[2], (long long)x->dims[3], name, xout);
    if (system(cmd) != 0)
        return INFINITY;
    int64_t D = tokens->dims[2], d[3] = {tokens->dims[0], rows, D};
    dc_tensor *o;
    if (dc_tensor_create(&o, name, DC_F32, 3, d) != DC_OK)
        return INFINITY;
    f = fopen(xout, "rb");
    size_t got = f ? fread(o->data, 1, o->nbytes, f) : 0;
    if (f)
        fclose(f);
    double m = got == o->nbytes ? compare(tokens, o, row0, rows) : INFINITY;
    dc_tensor_destroy(o);
    return m;
}

/* Exports with opt, checks the file, runs it on a batch of b images of side s
 * and compares each output with the reference tokens. */
static void check_export(const char *dir, const char *ckpt, const dc_export_options *opt, int64_t b,
                         int64_t s)
{
    char model[512];
    snprintf(model, sizeof model, "%s/backbone.onnx", dir);
    DC_ASSERT_OK(dc_export_onnx(ckpt, model, opt));
    CU_ASSERT(python_check(model));

    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load(model, &g));
    if (!g)
        return;
    CU_ASSERT_STRING_EQUAL(dc_graph_metadata(g, "dinoc.step"), "1234");
    CU_ASSERT_STRING_EQUAL(dc_graph_metadata(g, "dinoc.which"), "teacher");
    CU_ASSERT_STRING_EQUAL(dc_graph_metadata(g, "dinoc.version"), "test");
    const char *ct = dc_graph_metadata(g, "dinoc.config");
    dc_dinov2_config back;
    CU_ASSERT(ct && dc_config_from_text(ct, &back) == DC_OK && back.vit.image_size == 28);
    for (int i = 0; i < g->n_nodes; i++) {
        CU_ASSERT_STRING_EQUAL(g->nodes[i]->domain, "");
        CU_ASSERT(strcmp(g->nodes[i]->op_type, "Resize") != 0);
    }
    for (int i = 0; i < g->n_initializers; i++)
        CU_ASSERT(!g->initializers[i]->is_state);
    CU_ASSERT_EQUAL(g->n_inputs, 1);
    if (opt->batch == DC_EXPORT_BATCH_DYNAMIC && g->n_inputs >= 1) {
        CU_ASSERT(g->inputs[0]->type.dims[0].param && strcmp(g->inputs[0]->type.dims[0].param, "batch") == 0);
        for (int i = 0; i < g->n_outputs; i++)
            CU_ASSERT(g->outputs[i]->type.dims[0].param != NULL);
    }
    dc_graph_destroy(g);

    dc_tensor *x = random_images(b, s, (unsigned)(b * 100 + s));
    dc_tensor *tokens = reference_tokens(dir, x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tokens);
    dc_named_tensor in = {"images", x};
    dc_tensor **outs = NULL;
    int n = 0;
    DC_ASSERT_OK(dc_run_model(model, &in, 1, NULL, &outs, &n));
    int want = opt->outputs == DC_EXPORT_BOTH ? 2 : 1;
    CU_ASSERT_EQUAL(n, want);
    int64_t T = tokens->dims[1];
    for (int i = 0; i < n; i++) {
        bool cls = strcmp(outs[i]->name, "cls") == 0;
        int64_t first = 1 + (n_ov > 4 ? 2 : 0);
        int64_t row0 = cls ? 0 : first, rows = cls ? 1 : T - first;
        double m = compare(tokens, outs[i], row0, rows);
        printf("\n    %s b=%lld s=%lld%s: max diff %.2g ", outs[i]->name, (long long)b,
               (long long)s, opt->batch == DC_EXPORT_BATCH_DYNAMIC ? " (dynamic)" : "", m);
        CU_ASSERT(m <= 1e-4);
        double mo = onnxruntime_check(dir, model, x, tokens, row0, rows, outs[i]->name);
        if (mo >= 0) {
            printf("onnxruntime %.2g ", mo);
            CU_ASSERT(mo <= 1e-4);
        }
    }
    dc_tensors_free(outs, n);
    dc_tensor_destroy(tokens);
    dc_tensor_destroy(x);
}

static void run_export_tests(void)
{
    char dir[] = "/tmp/dinoc_export_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char *ckpt = write_checkpoint(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckpt);
    dc_export_options both = {.batch = 2, .outputs = DC_EXPORT_BOTH, .version = "test"};
    check_export(dir, ckpt, &both, 2, 28);
    dc_export_options resized = {.batch = 1, .image_size = 42, .outputs = DC_EXPORT_CLS, .version = "test"};
    check_export(dir, ckpt, &resized, 1, 42);
    dc_export_options dyn = {.batch = DC_EXPORT_BATCH_DYNAMIC, .outputs = DC_EXPORT_BOTH, .version = "test"};
    check_export(dir, ckpt, &dyn, 3, 28);

    /* Errors: no student in this checkpoint; a size off the patch grid. */
    char model[512];
    snprintf(model, sizeof model, "%s/bad.onnx", dir);
    dc_export_options student = {.which = "student"};
    CU_ASSERT_EQUAL(dc_export_onnx(ckpt, model, &student), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "student.backbone."));
    dc_export_options odd = {.image_size = 30};
    CU_ASSERT_EQUAL(dc_export_onnx(ckpt, model, &odd), DC_ERR_INVALID);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    free(ckpt);
}

static void test_export(void)
{
    n_ov = 4;
    run_export_tests();
}

static void test_export_registers(void)
{
    n_ov = 5;
    run_export_tests();
    n_ov = 4;
}

void register_graphs_export(void)
{
    static const dc_test_case tests[] = {
        {"export: checker, dinoc run, sizes, dynamic batch", test_export},
        {"export with register tokens", test_export_registers},
        {NULL, NULL},
    };
    dc_add_suite("graphs_export", tests);
}
