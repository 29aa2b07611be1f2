/* The reference kernels (compiler/reference/) through dc_interpret:
 *
 * 1. The ONNX backend node tests (libonnx-testdata): every test folder whose
 *    nodes are all registry ops is loaded, run on test_data_set_0's inputs and
 *    compared with its outputs (f32/f64: rtol 1e-4, atol 1e-5; f16: 1e-3 and
 *    bf16: 1e-2, about one unit in the last place; integers and bool exactly).
 *    The counts are pinned; every failure is listed with its folder name.
 * 2. Hand-computed cases for what those tests do not reach: old opsets,
 *    integer and half types, error paths (an index out of range is an error,
 *    not a crash), training-mode Dropout, Resize modes without a node test. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer_shapes.h"
#include "interpret.h"
#include "ir.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "op_registry.h"
#include "test_util.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

/* Measured with every kernel in place (libonnx-testdata 1.12.0). */
#define EXPECT_CANDIDATES 346 /* folders whose ops are all registry ops */
#define EXPECT_PASSED 334
#define EXPECT_SKIPPED 12     /* strings, optional/sequence types, random outputs, bad data */
#define EXPECT_FAILED 0

/* Tests whose expected outputs come from numpy's random generator: a
 * training-mode Dropout cannot reproduce them. */
static const char *const RANDOM_TESTS[] = {
    "test_training_dropout", "test_training_dropout_default",
    "test_training_dropout_default_mask", "test_training_dropout_mask", NULL,
};

static const char *const REGISTRY_OPS[] = {
    "MatMul", "Gemm", "Conv", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Exp",
    "Log", "Neg", "Abs", "Erf", "Tanh", "Sigmoid", "Relu", "Softmax", "LogSoftmax",
    "LayerNormalization", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax",
    "ArgMin", "Transpose", "Reshape", "Flatten", "Concat", "Split", "Slice", "Gather",
    "Squeeze", "Unsqueeze", "Expand", "Where", "Equal", "Cast", "Constant", "ConstantOfShape",
    "Shape", "Size", "Identity", "Resize", "Dropout", NULL,
};

/* ---- reporting ------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void fail_msg(int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    CU_assertImplementation(CU_FALSE, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}
#define FAIL_MSG(...) fail_msg(__LINE__, __VA_ARGS__)

/* ---- comparing tensors -------------------------------------------------------- */

/* Writes why `got` differs from `want` into why (empty when they match). */
static void compare(const dc_tensor *got, const dc_tensor *want, char *why, size_t size)
{
    why[0] = '\0';
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)got->rank * sizeof got->dims[0]) != 0) {
        dc_type a = dc_type_make(got->dtype, got->rank, got->dims);
        dc_type b = dc_type_make(want->dtype, want->rank, want->dims);
        char sa[128], sb[128];
        snprintf(why, size, "got %s, expected %s", dc_type_str(&a, sa, sizeof sa),
                 dc_type_str(&b, sb, sizeof sb));
        return;
    }
    double rtol = 0, atol = 0;
    switch (got->dtype) {
    case DC_F32: case DC_F64: rtol = 1e-4; atol = 1e-5; break;
    case DC_F16: rtol = 1e-3; atol = 1e-3; break;
    case DC_BF16: rtol = 1e-2; atol = 1e-2; break;
    default: break;
    }
    bool exact = !dc_dtype_is_float(got->dtype);
    uint64_t n = dc_tensor_numel(got), bad = 0, first = 0;
    for (uint64_t i = 0; i < n; i++) {
        bool same;
        if (exact) {
            same = dc_tensor_get_i64(got, i) == dc_tensor_get_i64(want, i);
        } else {
            double a = dc_tensor_get_f64(got, i), b = dc_tensor_get_f64(want, i);
            same = (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= atol + rtol * fabs(b);
        }
        if (!same && bad++ == 0)
            first = i;
    }
    if (bad)
        snprintf(why, size, "%" PRIu64 " of %" PRIu64 " elements differ, first [%" PRIu64 "]: got %.9g, expected %.9g",
                 bad, n, first, dc_tensor_get_f64(got, first), dc_tensor_get_f64(want, first));
}

/* ---- the node tests ----------------------------------------------------------- */

static bool registry_op(const char *op, const char *domain)
{
    if (domain && *domain && strcmp(domain, "ai.onnx") != 0)
        return false;
    for (int i = 0; REGISTRY_OPS[i]; i++)
        if (strcmp(REGISTRY_OPS[i], op) == 0)
            return true;
    return false;
}

static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    *size = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    return buf;
}

/* Every node of the model is a registry op; *ops receives their names (for
 * coverage). -1 when the model cannot be read. */
static int all_registry_ops(const char *path, char *ops, size_t size)
{
    size_t n;
    char *data = read_all(path, &n);
    if (!data)
        return -1;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, (const uint8_t *)data);
    free(data);
    if (!m || !m->graph) {
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        return -1;
    }
    int ok = 1;
    ops[0] = '\0';
    for (size_t i = 0; i < m->graph->n_node && ok; i++) {
        ok = registry_op(m->graph->node[i]->op_type, m->graph->node[i]->domain);
        size_t len = strlen(ops);
        snprintf(ops + len, size - len, " %s ", m->graph->node[i]->op_type);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted folder names of NODE_DIR (NULL-terminated), or NULL. */
static char **list_folders(int *count)
{
    DIR *d = opendir(NODE_DIR);
    if (!d)
        return NULL;
    int n = 0, cap = 1024;
    char **names = malloc((size_t)cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n + 1 >= cap)
            names = realloc(names, (size_t)(cap *= 2) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    names[n] = NULL;
    *count = n;
    return names;
}

typedef enum outcome { PASSED, FAILED, SKIPPED } outcome;

/* Loads up to 16 tensors "<dir>/<prefix>_<i>.pb"; returns how many. */
static int load_tensors(const char *dir, const char *prefix, dc_tensor **ts, char *why, size_t size)
{
    int n = 0;
    for (; n < 16; n++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        if (stat(path, &st) != 0)
            break;
        if (dc_tensor_load_pb(path, &ts[n]) != DC_OK) {
            snprintf(why, size, "%s_%d.pb: %s", prefix, n, dc_error_message());
            for (int i = 0; i < n; i++)
                dc_tensor_destroy(ts[i]);
            return -1;
        }
    }
    return n;
}

/* ONNX 1.12 wrote bfloat16 test tensors as uint16 (numpy has no bfloat16):
 * the bits are bfloat16, so relabel them where the model says bfloat16. */
static void relabel_bf16(dc_tensor *t, dc_dtype declared)
{
    if (t && t->dtype == DC_U16 && declared == DC_BF16)
        t->dtype = DC_BF16;
}

/* Test data that contradicts its own model: the CastLike function bodies'
 * unused input 'like' is [1] in test_data_set_0 but [3,4] in model.onnx, and
 * the interpreter checks inputs against the declared shapes. */
static const char *const BAD_DATA_TESTS[] = {
    "test_castlike_BFLOAT16_to_FLOAT_expanded", "test_castlike_FLOAT_to_BFLOAT16_expanded", NULL,
};

/* Runs one node test folder; `why` says what went wrong. */
static outcome run_folder(const char *name, char *why, size_t size)
{
    char path[4096], dir[4096];
    why[0] = '\0';
    for (int i = 0; RANDOM_TESTS[i]; i++)
        if (strcmp(RANDOM_TESTS[i], name) == 0) {
            snprintf(why, size, "random outputs");
            return SKIPPED;
        }
    for (int i = 0; BAD_DATA_TESTS[i]; i++)
        if (strcmp(BAD_DATA_TESTS[i], name) == 0) {
            snprintf(why, size, "input data contradicts the model's declared input shape");
            return SKIPPED;
        }
    snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, name);
    snprintf(dir, sizeof dir, "%s/%s/test_data_set_0", NODE_DIR, name);
    dc_graph *g = NULL;
    dc_status s = dc_onnx_load(path, &g);
    if (s != DC_OK) {
        snprintf(why, size, "load: %s", dc_error_message());
        return s == DC_ERR_UNSUPPORTED ? SKIPPED : FAILED;
    }
    dc_tensor *ins[16] = {NULL}, *wants[16] = {NULL}, *outs[16] = {NULL};
    int n_in = load_tensors(dir, "input", ins, why, size);
    int n_want = n_in < 0 ? -1 : load_tensors(dir, "output", wants, why, size);
    outcome result = FAILED;
    for (int i = 0, k = 0; n_in >= 0 && i < g->n_inputs && k < n_in; i++)
        if (!g->inputs[i]->is_initializer)
            relabel_bf16(ins[k++], g->inputs[i]->type.dtype);
    for (int i = 0; n_want >= 0 && i < n_want && i < g->n_outputs; i++)
        relabel_bf16(wants[i], g->outputs[i]->type.dtype);
    if (n_in >= 0 && n_want >= 0) {
        if (n_want != g->n_outputs || g->n_outputs > 16) {
            snprintf(why, size, "%d expected outputs for %d graph outputs", n_want, g->n_outputs);
        } else if ((s = dc_interpret(g, ins, n_in, outs)) != DC_OK) {
            snprintf(why, size, "interpret: %s", dc_error_message());
            result = s == DC_ERR_UNSUPPORTED ? SKIPPED : FAILED;
        } else {
            result = PASSED;
            for (int i = 0; i < n_want && result == PASSED; i++) {
                char diff[600];
                compare(outs[i], wants[i], diff, sizeof diff);
                if (diff[0]) {
                    snprintf(why, size, "output %d '%s': %s", i, g->outputs[i]->name, diff);
                    result = FAILED;
                }
            }
        }
    }
    for (int i = 0; i < 16; i++) {
        dc_tensor_destroy(ins[i]);
        dc_tensor_destroy(wants[i]);
        dc_tensor_destroy(outs[i]);
    }
    dc_graph_destroy(g);
    return result;
}

static void test_node_tests(void)
{
    int n_folders = 0;
    char **folders = list_folders(&n_folders);
    if (!folders) {
        FAIL_MSG("%s: %s; install the ONNX backend test data: apt-get install libonnx-testdata",
                 NODE_DIR, strerror(errno));
        return;
    }
    int candidates = 0, counts[3] = {0, 0, 0};
    /* Ops that some passing test exercised. */
    bool covered[64] = {false};
    for (int f = 0; f < n_folders; f++) {
        char path[4096], ops[2048], why[1024];
        snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, folders[f]);
        if (all_registry_ops(path, ops, sizeof ops) != 1)
            continue;
        candidates++;
        outcome o = run_folder(folders[f], why, sizeof why);
        counts[o]++;
        if (o == FAILED)
            FAIL_MSG("%s: %s", folders[f], why);
        else if (o == SKIPPED)
            printf("\n    skipped %s: %s", folders[f], why);
        for (int i = 0; o == PASSED && REGISTRY_OPS[i]; i++) {
            char word[64];
            snprintf(word, sizeof word, " %s ", REGISTRY_OPS[i]);
            covered[i] |= strstr(ops, word) != NULL;
        }
    }
    printf("\n    node tests with registry ops only: %d; passed %d, failed %d, skipped %d\n",
           candidates, counts[PASSED], counts[FAILED], counts[SKIPPED]);
    printf("    ops no passing node test exercises:");
    for (int i = 0; REGISTRY_OPS[i]; i++)
        if (!covered[i])
            printf(" %s", REGISTRY_OPS[i]);
    printf("\n");
    CU_ASSERT_EQUAL(candidates, EXPECT_CANDIDATES);
    CU_ASSERT_EQUAL(counts[PASSED], EXPECT_PASSED);
    CU_ASSERT_EQUAL(counts[FAILED], EXPECT_FAILED);
    CU_ASSERT_EQUAL(counts[SKIPPED], EXPECT_SKIPPED);
    for (int f = 0; f < n_folders; f++)
        free(folders[f]);
    free(folders);
}

/* ---- hand-computed cases -------------------------------------------------------- */

static dc_graph *g;
static dc_tensor *feeds[8];
static int n_feeds;

static void begin(int64_t opset)
{
    g = dc_graph_create("reference_case");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    DC_ASSERT_OK(dc_graph_set_opset(g, "", opset));
    n_feeds = 0;
}

static void end(void)
{
    for (int i = 0; i < n_feeds; i++)
        dc_tensor_destroy(feeds[i]);
    dc_graph_destroy(g);
    g = NULL;
}

/* A tensor of `dtype` and shape dims holding vals (converted like a kernel
 * result would be). */
static dc_tensor *tensor(dc_dtype dtype, int rank, const int64_t *dims, const double *vals)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, dtype, rank, dims));
    for (uint64_t i = 0; t && i < dc_tensor_numel(t); i++) {
        void *p = t->data;
        double v = vals[i];
        switch (dtype) {
        case DC_F32: ((float *)p)[i] = (float)v; break;
        case DC_F64: ((double *)p)[i] = v; break;
        case DC_F16: ((uint16_t *)p)[i] = dc_f32_to_f16((float)v); break;
        case DC_BF16: ((uint16_t *)p)[i] = dc_f32_to_bf16((float)v); break;
        case DC_I64: ((int64_t *)p)[i] = (int64_t)v; break;
        case DC_I32: ((int32_t *)p)[i] = (int32_t)v; break;
        case DC_I8: ((int8_t *)p)[i] = (int8_t)v; break;
        case DC_U8: case DC_BOOL: ((uint8_t *)p)[i] = (uint8_t)v; break;
        case DC_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
        default: CU_FAIL("tensor(): element type not handled"); break;
        }
    }
    return t;
}
#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define VALS(...) ((const double[]){__VA_ARGS__})

/* A graph input fed with t at run time (the test keeps t). */
static dc_value *feed(dc_tensor *t)
{
    dc_type ty = dc_type_make(t->dtype, t->rank, t->dims);
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_input(g, NULL, &ty, &v));
    feeds[n_feeds++] = t;
    return v;
}

/* An initializer holding t (the graph takes it). */
static dc_value *konst(dc_tensor *t)
{
    dc_value *v = NULL;
    DC_ASSERT_OK(dc_graph_add_initializer(g, NULL, t, &v));
    return v;
}

static dc_node *add(const char *op, dc_value *const *ins, int n_in, int n_out)
{
    dc_node *n = NULL;
    DC_ASSERT_OK(dc_graph_add_node(g, op, "", NULL, ins, n_in, NULL, n_out, &n));
    return n;
}

/* Infers the graph with the node's outputs as graph outputs and interprets it. */
static dc_status run(dc_node *n, dc_tensor **outs)
{
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k])
            DC_ASSERT_OK(dc_graph_add_output(g, n->outputs[k]));
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_status s = dc_infer_shapes(g);
    return s != DC_OK ? s : dc_interpret(g, feeds, n_feeds, outs);
}

/* t has this element type, shape and values (floats within 1e-6 relative). */
static void expect(const dc_tensor *t, dc_dtype dtype, int rank, const int64_t *dims,
                   const double *vals, int line)
{
    if (!t) {
        fail_msg(line, "no output");
        return;
    }
    dc_tensor *want = tensor(dtype, rank, dims, vals);
    char why[600];
    compare(t, want, why, sizeof why);
    double worst = 0;
    for (uint64_t i = 0; !why[0] && dc_dtype_is_float(dtype) && i < dc_tensor_numel(t); i++) {
        double a = dc_tensor_get_f64(t, i), b = dc_tensor_get_f64(want, i);
        double err = fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
        worst = err > worst ? err : worst;
    }
    if (worst > (dtype == DC_F32 || dtype == DC_F64 ? 1e-6 : 1e-2))
        snprintf(why, sizeof why, "values differ by %g", worst);
    if (why[0])
        fail_msg(line, "%s", why);
    dc_tensor_destroy(want);
}
#define EXPECT(t, dtype, rank, dims, vals) expect(t, dtype, rank, dims, vals, __LINE__)

static void free_outs(dc_tensor **outs, int n)
{
    for (int i = 0; i < n; i++)
        dc_tensor_destroy(outs[i]);
}

/* Gather with an index out of range: an error naming the index, no crash. */
static void test_gather_out_of_range(void)
{
    begin(17);
    dc_value *x = feed(tensor(DC_F32, 1, DIMS(3), VALS(1, 2, 3)));
    dc_value *idx = feed(tensor(DC_I64, 1, DIMS(2), VALS(-3, 3)));
    dc_tensor *out[1] = {NULL};
    dc_status s = run(add("Gather", (dc_value *[]){x, idx}, 2, 1), out);
    CU_ASSERT_EQUAL(s, DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "index 3"));
    CU_ASSERT_PTR_NULL(out[0]);
    end();
}

/* Softmax before opset 13 normalises over all axes from `axis` (the input
 * coerced to 2-D); from 13 over that one axis. */
static void test_softmax_opsets(void)
{
    const double ln3 = log(3.0);
    for (int64_t opset = 11; opset <= 13; opset += 2) {
        begin(opset);
        /* [1, 2, 2]: softmax over axes 1..2 (opset 11) or axis 1 (13) */
        dc_value *x = feed(tensor(DC_F32, 3, DIMS(1, 2, 2), VALS(0, ln3, 0, 0)));
        dc_node *n = add("Softmax", &x, 1, 1);
        DC_ASSERT_OK(dc_node_set_int(n, g, "axis", 1));
        dc_tensor *out[1] = {NULL};
        DC_ASSERT_OK(run(n, out));
        if (opset == 11) /* exp: 1, 3, 1, 1 over 6 */
            EXPECT(out[0], DC_F32, 3, DIMS(1, 2, 2), VALS(1.0 / 6, 0.5, 1.0 / 6, 1.0 / 6));
        else /* columns: (1, 1) and (3, 1) */
            EXPECT(out[0], DC_F32, 3, DIMS(1, 2, 2), VALS(0.5, 0.75, 0.5, 0.25));
        free_outs(out, 1);
        end();
    }
}

/* Axes, starts/ends and split sizes as attributes (the opsets before they
 * became inputs). */
static void test_attribute_opsets(void)
{
    dc_tensor *out[2] = {NULL, NULL};
    /* Slice-9: x[1:3] of [0..4] with step 1 (no steps before opset 10) */
    begin(9);
    dc_value *x = feed(tensor(DC_I32, 1, DIMS(5), VALS(0, 1, 2, 3, 4)));
    dc_node *n = add("Slice", &x, 1, 1);
    DC_ASSERT_OK(dc_node_set_ints(n, g, "starts", DIMS(1), 1));
    DC_ASSERT_OK(dc_node_set_ints(n, g, "ends", DIMS(-2), 1));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_I32, 1, DIMS(2), VALS(1, 2));
    free_outs(out, 1);
    end();

    /* Split-11: [1, 2] of 3 along axis 1 */
    begin(11);
    x = feed(tensor(DC_F32, 2, DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6)));
    n = add("Split", &x, 1, 2);
    DC_ASSERT_OK(dc_node_set_int(n, g, "axis", 1));
    DC_ASSERT_OK(dc_node_set_ints(n, g, "split", DIMS(1, 2), 2));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_F32, 2, DIMS(2, 1), VALS(1, 4));
    EXPECT(out[1], DC_F32, 2, DIMS(2, 2), VALS(2, 3, 5, 6));
    free_outs(out, 2);
    end();

    /* ReduceSum-11 axes attribute, keepdims 0; Unsqueeze-11 axes attribute */
    begin(11);
    x = feed(tensor(DC_I64, 2, DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6)));
    n = add("ReduceSum", &x, 1, 1);
    DC_ASSERT_OK(dc_node_set_ints(n, g, "axes", DIMS(-1), 1));
    DC_ASSERT_OK(dc_node_set_int(n, g, "keepdims", 0));
    DC_ASSERT_OK(dc_graph_add_output(g, n->outputs[0]));
    dc_node *u = add("Unsqueeze", n->outputs, 1, 1);
    DC_ASSERT_OK(dc_node_set_ints(u, g, "axes", DIMS(0, 2), 2));
    DC_ASSERT_OK(run(u, out));
    EXPECT(out[0], DC_I64, 1, DIMS(2), VALS(6, 15));
    EXPECT(out[1], DC_I64, 3, DIMS(1, 2, 1), VALS(6, 15));
    free_outs(out, 2);
    end();
}

/* Before opset 7, Add broadcasts B only, from `axis`; Gemm's C needs
 * broadcast=1 unless it is [M, N]. */
static void test_legacy_broadcast(void)
{
    dc_tensor *out[1] = {NULL};
    begin(6);
    dc_value *a = feed(tensor(DC_F32, 3, DIMS(2, 3, 2), VALS(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)));
    dc_value *b = feed(tensor(DC_F32, 1, DIMS(3), VALS(10, 20, 30)));
    dc_node *n = add("Add", (dc_value *[]){a, b}, 2, 1);
    DC_ASSERT_OK(dc_node_set_int(n, g, "broadcast", 1));
    DC_ASSERT_OK(dc_node_set_int(n, g, "axis", 1));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_F32, 3, DIMS(2, 3, 2), VALS(10, 10, 20, 20, 30, 30, 11, 11, 21, 21, 31, 31));
    free_outs(out, 1);
    end();

    begin(6);
    a = feed(tensor(DC_F32, 2, DIMS(1, 2), VALS(1, 2)));
    b = feed(tensor(DC_F32, 2, DIMS(2, 2), VALS(1, 0, 0, 1)));
    dc_value *c = feed(tensor(DC_F32, 1, DIMS(2), VALS(100, 200)));
    n = add("Gemm", (dc_value *[]){a, b, c}, 3, 1);
    DC_ASSERT_OK(dc_node_set_float(n, g, "alpha", 2.0f));
    DC_ASSERT_OK(dc_node_set_int(n, g, "broadcast", 1));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_F32, 2, DIMS(1, 2), VALS(102, 204));
    free_outs(out, 1);
    end();
}

/* Integers are exact: truncating division, wrapping, unsigned 64-bit
 * comparisons, powers; division by zero is an error. */
static void test_integers(void)
{
    dc_tensor *out[1] = {NULL};
    begin(17);
    dc_value *a = feed(tensor(DC_I32, 1, DIMS(4), VALS(-7, 7, -8, 9)));
    dc_value *b = feed(tensor(DC_I32, 1, DIMS(4), VALS(2, -2, 3, 3)));
    DC_ASSERT_OK(run(add("Div", (dc_value *[]){a, b}, 2, 1), out));
    EXPECT(out[0], DC_I32, 1, DIMS(4), VALS(-3, -3, -2, 3));
    free_outs(out, 1);
    end();

    begin(17);
    a = feed(tensor(DC_I64, 1, DIMS(2), VALS(1, 2)));
    b = feed(tensor(DC_I64, 1, DIMS(2), VALS(1, 0)));
    CU_ASSERT_EQUAL(run(add("Div", (dc_value *[]){a, b}, 2, 1), out), DC_ERR_INVALID);
    end();

    begin(17); /* int8: Neg(-128) wraps, Abs too */
    a = feed(tensor(DC_I8, 1, DIMS(3), VALS(-128, -5, 7)));
    DC_ASSERT_OK(run(add("Neg", &a, 1, 1), out));
    EXPECT(out[0], DC_I8, 1, DIMS(3), VALS(-128, 5, -7));
    free_outs(out, 1);
    end();

    begin(17); /* u64 above 2^63 is the largest */
    dc_tensor *big = tensor(DC_U64, 1, DIMS(3), VALS(5, 0, 7));
    ((uint64_t *)big->data)[1] = UINT64_MAX - 1;
    a = feed(big);
    DC_ASSERT_OK(run(add("ArgMax", &a, 1, 1), out));
    EXPECT(out[0], DC_I64, 1, DIMS(1), VALS(1));
    free_outs(out, 1);
    end();

    begin(17); /* Pow on int64: exact, negative exponents truncate */
    a = feed(tensor(DC_I64, 1, DIMS(4), VALS(3, -2, 2, -1)));
    b = feed(tensor(DC_I64, 1, DIMS(4), VALS(39, 3, -1, -3)));
    DC_ASSERT_OK(run(add("Pow", (dc_value *[]){a, b}, 2, 1), out));
    dc_tensor *want = tensor(DC_I64, 1, DIMS(4), VALS(0, -8, 0, -1));
    ((int64_t *)want->data)[0] = 4052555153018976267; /* 3^39, not a double */
    CU_ASSERT_EQUAL(memcmp(out[0]->data, want->data, want->nbytes), 0);
    dc_tensor_destroy(want);
    free_outs(out, 1);
    end();

    begin(17); /* MatMul int32 with broadcast batch */
    a = feed(tensor(DC_I32, 3, DIMS(2, 1, 2), VALS(1, 2, 3, 4)));
    b = feed(tensor(DC_I32, 2, DIMS(2, 2), VALS(1, 10, 100, 1000)));
    DC_ASSERT_OK(run(add("MatMul", (dc_value *[]){a, b}, 2, 1), out));
    EXPECT(out[0], DC_I32, 3, DIMS(2, 1, 2), VALS(201, 2010, 403, 4030));
    free_outs(out, 1);
    end();
}

/* f16 and bf16 compute in float and round once. Cast: float to int truncates,
 * wraps to narrower widths, NaN -> 0, bool is x != 0. */
static void test_half_types_and_cast(void)
{
    dc_tensor *out[1] = {NULL};
    begin(17);
    dc_value *a = feed(tensor(DC_F16, 1, DIMS(3), VALS(1.5, -2, 1024)));
    dc_value *b = feed(tensor(DC_F16, 1, DIMS(3), VALS(0.25, 0.5, 1)));
    DC_ASSERT_OK(run(add("Mul", (dc_value *[]){a, b}, 2, 1), out));
    EXPECT(out[0], DC_F16, 1, DIMS(3), VALS(0.375, -1, 1024));
    free_outs(out, 1);
    end();

    begin(17);
    a = feed(tensor(DC_BF16, 1, DIMS(2), VALS(3, 256)));
    DC_ASSERT_OK(run(add("Sqrt", &a, 1, 1), out));
    EXPECT(out[0], DC_BF16, 1, DIMS(2), VALS(1.7321, 16));
    free_outs(out, 1);
    end();

    begin(17);
    a = feed(tensor(DC_F32, 1, DIMS(5), VALS(-1.7, 2.9, 300.5, NAN, -1)));
    dc_node *n = add("Cast", &a, 1, 1);
    DC_ASSERT_OK(dc_node_set_int(n, g, "to", DC_U8));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_U8, 1, DIMS(5), VALS(255, 2, 44, 0, 255));
    free_outs(out, 1);
    end();

    begin(17);
    a = feed(tensor(DC_F32, 1, DIMS(3), VALS(0, -0.5, NAN)));
    n = add("Cast", &a, 1, 1);
    DC_ASSERT_OK(dc_node_set_int(n, g, "to", DC_BOOL));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_BOOL, 1, DIMS(3), VALS(0, 1, 1));
    free_outs(out, 1);
    end();
}

/* Dropout: identity in inference; in training mode every element is either
 * 0 or x / (1 - ratio) as the mask says, and a seed repeats. */
static void test_dropout_training(void)
{
    enum { N = 1000 };
    double xs[N];
    for (int i = 0; i < N; i++)
        xs[i] = i + 1;
    uint8_t first_mask[N];
    for (int run_i = 0; run_i < 2; run_i++) {
        begin(17);
        dc_value *x = feed(tensor(DC_F32, 1, DIMS(N), xs));
        dc_value *ratio = konst(tensor(DC_F32, 0, NULL, VALS(0.25)));
        dc_value *training = konst(tensor(DC_BOOL, 0, NULL, VALS(1)));
        dc_node *n = add("Dropout", (dc_value *[]){x, ratio, training}, 3, 2);
        DC_ASSERT_OK(dc_node_set_int(n, g, "seed", 42));
        dc_tensor *out[2] = {NULL, NULL};
        DC_ASSERT_OK(run(n, out));
        int kept = 0;
        for (int i = 0; out[0] && out[1] && i < N; i++) {
            bool keep = ((uint8_t *)out[1]->data)[i];
            float y = ((float *)out[0]->data)[i];
            kept += keep;
            CU_ASSERT_DOUBLE_EQUAL(y, keep ? xs[i] / 0.75 : 0.0, 1e-3);
            if (run_i == 0)
                first_mask[i] = keep;
            else
                CU_ASSERT_EQUAL(first_mask[i], keep);
        }
        CU_ASSERT(kept > 650 && kept < 850); /* about 750 */
        free_outs(out, 2);
        end();
    }
    begin(17); /* inference: a copy, mask all true */
    dc_value *x = feed(tensor(DC_F32, 1, DIMS(2), VALS(1, 2)));
    dc_tensor *out[2] = {NULL, NULL};
    DC_ASSERT_OK(run(add("Dropout", &x, 1, 2), out));
    EXPECT(out[0], DC_F32, 1, DIMS(2), VALS(1, 2));
    EXPECT(out[1], DC_BOOL, 1, DIMS(2), VALS(1, 1));
    free_outs(out, 2);
    end();
}

/* Resize-10 (asymmetric, nearest rounds down), opset 11's
 * tf_half_pixel_for_nn, and linear on an integer type (truncated). */
static void test_resize_variants(void)
{
    dc_tensor *out[1] = {NULL};
    begin(10);
    dc_value *x = feed(tensor(DC_F32, 2, DIMS(1, 3), VALS(1, 2, 3)));
    dc_value *scales = konst(tensor(DC_F32, 1, DIMS(2), VALS(1, 1.5)));
    DC_ASSERT_OK(run(add("Resize", (dc_value *[]){x, scales}, 2, 1), out));
    /* source x / 1.5 = 0, 0.67, 1.33, 2 -> floor */
    EXPECT(out[0], DC_F32, 2, DIMS(1, 4), VALS(1, 1, 2, 3));
    free_outs(out, 1);
    end();

    begin(11);
    x = feed(tensor(DC_F32, 2, DIMS(1, 4), VALS(1, 2, 3, 4)));
    dc_value *roi = konst(tensor(DC_F32, 1, DIMS(0), VALS(0)));
    scales = konst(tensor(DC_F32, 1, DIMS(2), VALS(1, 0.5)));
    dc_node *n = add("Resize", (dc_value *[]){x, roi, scales}, 3, 1);
    DC_ASSERT_OK(dc_node_set_string(n, g, "coordinate_transformation_mode", "tf_half_pixel_for_nn"));
    DC_ASSERT_OK(run(n, out));
    /* source (x + 0.5) / 0.5 = 1, 3 -> round_prefer_floor: 1, 3 */
    EXPECT(out[0], DC_F32, 2, DIMS(1, 2), VALS(2, 4));
    free_outs(out, 1);
    end();

    begin(13);
    x = feed(tensor(DC_U8, 2, DIMS(1, 2), VALS(0, 255)));
    dc_value *sizes = konst(tensor(DC_I64, 1, DIMS(2), VALS(1, 4)));
    n = add("Resize", (dc_value *[]){x, NULL, NULL, sizes}, 4, 1);
    DC_ASSERT_OK(dc_node_set_string(n, g, "mode", "linear"));
    DC_ASSERT_OK(dc_node_set_string(n, g, "coordinate_transformation_mode", "align_corners"));
    DC_ASSERT_OK(run(n, out));
    /* source x / 3: 0, 85, 170, 255 */
    EXPECT(out[0], DC_U8, 2, DIMS(1, 4), VALS(0, 85, 170, 255));
    free_outs(out, 1);
    end();
}

/* Conv: groups, dilation, SAME_LOWER padding, 1-D. */
static void test_conv_groups(void)
{
    dc_tensor *out[1] = {NULL};
    begin(17);
    /* X [1, 2, 4]: channel 0 = 1 2 3 4, channel 1 = 10 20 30 40 */
    dc_value *x = feed(tensor(DC_F32, 3, DIMS(1, 2, 4), VALS(1, 2, 3, 4, 10, 20, 30, 40)));
    /* W [2, 1, 2]: filter 0 (group 0) = 1 1, filter 1 (group 1) = 1 -1 */
    dc_value *w = konst(tensor(DC_F32, 3, DIMS(2, 1, 2), VALS(1, 1, 1, -1)));
    dc_node *n = add("Conv", (dc_value *[]){x, w}, 2, 1);
    DC_ASSERT_OK(dc_node_set_int(n, g, "group", 2));
    DC_ASSERT_OK(dc_node_set_ints(n, g, "dilations", DIMS(2), 1));
    DC_ASSERT_OK(dc_node_set_string(n, g, "auto_pad", "SAME_LOWER"));
    DC_ASSERT_OK(run(n, out));
    /* kernel extent 3, total pad 2, 1 before: taps at o - 1 and o + 1 */
    EXPECT(out[0], DC_F32, 3, DIMS(1, 2, 4), VALS(2, 4, 6, 3, -20, -20, -20, 30));
    free_outs(out, 1);
    end();
}

/* Expand broadcasts both ways; ConstantOfShape with an int value; Where. */
static void test_broadcasting_ops(void)
{
    dc_tensor *out[1] = {NULL};
    begin(17);
    dc_value *x = feed(tensor(DC_I64, 2, DIMS(2, 1), VALS(1, 2)));
    dc_value *shape = konst(tensor(DC_I64, 1, DIMS(3), VALS(2, 1, 3)));
    DC_ASSERT_OK(run(add("Expand", (dc_value *[]){x, shape}, 2, 1), out));
    EXPECT(out[0], DC_I64, 3, DIMS(2, 2, 3), VALS(1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2));
    free_outs(out, 1);
    end();

    begin(17);
    shape = feed(tensor(DC_I64, 1, DIMS(2), VALS(2, 2)));
    dc_node *n = add("ConstantOfShape", &shape, 1, 1);
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "value", tensor(DC_I32, 1, DIMS(1), VALS(7))));
    DC_ASSERT_OK(run(n, out));
    EXPECT(out[0], DC_I32, 2, DIMS(2, 2), VALS(7, 7, 7, 7));
    free_outs(out, 1);
    end();

    begin(17);
    dc_value *c = feed(tensor(DC_BOOL, 2, DIMS(2, 1), VALS(1, 0)));
    dc_value *a = feed(tensor(DC_F16, 1, DIMS(2), VALS(1, 2)));
    dc_value *b = feed(tensor(DC_F16, 0, NULL, VALS(-1)));
    DC_ASSERT_OK(run(add("Where", (dc_value *[]){c, a, b}, 3, 1), out));
    EXPECT(out[0], DC_F16, 2, DIMS(2, 2), VALS(1, 2, -1, -1));
    free_outs(out, 1);
    end();
}

/* A sparse Constant densifies: values at linear or per-axis indices. */
static void test_sparse_constant(void)
{
    for (int per_axis = 0; per_axis < 2; per_axis++) {
        begin(17);
        dc_node *n = add("Constant", NULL, 0, 1);
        dc_attr *a = dc_node_add_attr(n, g, "sparse_value", DC_ATTR_SPARSE_TENSOR);
        dc_sparse_tensor *sp = dc_arena_alloc(g->arena, sizeof *sp);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
        sp->rank = 2;
        sp->dims[0] = 2;
        sp->dims[1] = 3;
        sp->values = tensor(DC_F32, 1, DIMS(2), VALS(5, 7));
        sp->indices = per_axis ? tensor(DC_I64, 2, DIMS(2, 2), VALS(0, 1, 1, 2))
                               : tensor(DC_I64, 1, DIMS(2), VALS(1, 5));
        DC_ASSERT_OK(dc_graph_own_tensor(g, sp->values));
        DC_ASSERT_OK(dc_graph_own_tensor(g, sp->indices));
        a->sparse = sp;
        dc_tensor *out[1] = {NULL};
        DC_ASSERT_OK(run(n, out));
        EXPECT(out[0], DC_F32, 2, DIMS(2, 3), VALS(0, 5, 0, 0, 0, 7));
        free_outs(out, 1);
        end();
    }
}

/* The interpreter checks what it is given against the graph's inputs. */
static void test_interpreter_inputs(void)
{
    begin(17);
    dc_value *x = feed(tensor(DC_F32, 1, DIMS(2), VALS(1, 2)));
    dc_node *n = add("Relu", &x, 1, 1);
    dc_tensor *out[1] = {NULL};
    DC_ASSERT_OK(run(n, out));
    free_outs(out, 1);
    dc_tensor *wrong_type = tensor(DC_F64, 1, DIMS(2), VALS(1, 2));
    dc_tensor *wrong_shape = tensor(DC_F32, 1, DIMS(3), VALS(1, 2, 3));
    CU_ASSERT_EQUAL(dc_interpret(g, &wrong_type, 1, out), DC_ERR_SHAPE);
    CU_ASSERT_EQUAL(dc_interpret(g, &wrong_shape, 1, out), DC_ERR_SHAPE);
    CU_ASSERT_EQUAL(dc_interpret(g, feeds, 0, out), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(out[0]);
    dc_tensor_destroy(wrong_type);
    dc_tensor_destroy(wrong_shape);
    end();
}

/* ---- registration ------------------------------------------------------------- */

void register_reference_kernels(void)
{
    static const dc_test_case tests[] = {
        {"ONNX node tests", test_node_tests},
        {"Gather index out of range", test_gather_out_of_range},
        {"Softmax coercion before opset 13", test_softmax_opsets},
        {"axes, starts, split as attributes", test_attribute_opsets},
        {"legacy broadcast (opset 6)", test_legacy_broadcast},
        {"integer arithmetic", test_integers},
        {"f16, bf16 and Cast", test_half_types_and_cast},
        {"Dropout training mode", test_dropout_training},
        {"Resize-10, tf_half_pixel_for_nn, integer linear", test_resize_variants},
        {"Conv groups, dilation, SAME_LOWER", test_conv_groups},
        {"Expand, ConstantOfShape, Where", test_broadcasting_ops},
        {"sparse Constant", test_sparse_constant},
        {"interpreter input checks", test_interpreter_inputs},
        {NULL, NULL},
    };
    dc_add_suite("reference_kernels", tests);
}
