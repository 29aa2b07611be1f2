/* The ONNX backend node tests: compile, run, compare (see conformance.h). */
#include "conformance.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "run_model.h"
#include "specialize.h"

#define RTOL 1e-4
#define ATOL 1e-5

enum { MAX_TEST_TENSORS = 64 };

/* A malloc'd printf. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------ listing */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The test folders under `dir` (those with a model.onnx), sorted. */
static dc_status list_tests(const char *dir, const char *filter, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return dc_error(DC_ERR_IO, "%s: cannot list the test folders", dir);
    int cap = 0;
    dc_status s = DC_OK;
    for (struct dirent *e; s == DC_OK && (e = readdir(d));) {
        if (strncmp(e->d_name, "test_", 5) != 0 || (filter && !strstr(e->d_name, filter)))
            continue;
        char *model = fmt("%s/%s/model.onnx", dir, e->d_name);
        bool ok = model && file_exists(model);
        free(model);
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) {
                s = dc_error(DC_ERR_NOMEM, "test list");
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            s = dc_error(DC_ERR_NOMEM, "test list");
        else
            (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*names, (size_t)*n, sizeof **names, by_name);
    return s;
}

/* The first computing (non-Constant) node's op of a model file, read from
 * the protobuf directly so that models dinoc cannot load still have one. */
static char *model_op(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *op = NULL, *data = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size)) &&
        fread(data, 1, (size_t)size, f) == (size_t)size) {
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)size, (const uint8_t *)data);
        for (size_t i = 0; m && m->graph && i < m->graph->n_node && !op; i++)
            if (strcmp(m->graph->node[i]->op_type, "Constant") != 0 || i + 1 == m->graph->n_node)
                op = strdup(m->graph->node[i]->op_type);
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
    }
    free(data);
    fclose(f);
    return op;
}

/* The op a test is about: its first computing node's, or for `X_expanded`
 * (a function body) the op of test X. */
static char *test_op(const char *dir, const char *name)
{
    size_t len = strlen(name), suffix = strlen("_expanded");
    bool expanded = len > suffix && strcmp(name + len - suffix, "_expanded") == 0;
    char *base = expanded ? fmt("%s/%.*s/model.onnx", dir, (int)(len - suffix), name) : NULL;
    char *own = fmt("%s/%s/model.onnx", dir, name);
    char *op = base ? model_op(base) : NULL;
    if (!op && own)
        op = model_op(own);
    free(base);
    free(own);
    return op ? op : strdup("?");
}

/* ------------------------------------------------------------ one test */

typedef struct test_data {
    dc_named_tensor inputs[MAX_TEST_TENSORS];
    int n_inputs;
    dc_tensor *expected[MAX_TEST_TENSORS];
    int n_expected;
} test_data;

static void test_data_free(test_data *d)
{
    for (int i = 0; i < d->n_inputs; i++)
        dc_tensor_destroy(d->inputs[i].tensor);
    for (int i = 0; i < d->n_expected; i++)
        dc_tensor_destroy(d->expected[i]);
}

/* Reads <set>/<kind>_0.pb, <kind>_1.pb, ... while they exist. */
static dc_status read_tensors(const char *set, const char *kind, dc_tensor **out, int *n)
{
    *n = 0;
    for (int k = 0; k < MAX_TEST_TENSORS; k++) {
        char *path = fmt("%s/%s_%d.pb", set, kind, k);
        if (!path)
            return dc_error(DC_ERR_NOMEM, "test data");
        if (!file_exists(path)) {
            free(path);
            return DC_OK;
        }
        dc_status s = dc_tensor_load_pb(path, &out[k]);
        free(path);
        DC_TRY(s);
        (*n)++;
    }
    return DC_OK;
}

/* ONNX 1.12 stores bfloat16 test data as uint16 bit patterns (numpy has no
 * bfloat16): read them as the bf16 the model declares. */
static void bf16_from_bits(dc_tensor *t, dc_dtype declared)
{
    if (declared == DC_BF16 && t->dtype == DC_U16)
        t->dtype = DC_BF16;
}

/* Inputs in graph-input order, initializers excluded, named after the graph's inputs. */
static dc_status load_test_data(const dc_graph *g, const char *set, test_data *d)
{
    dc_tensor *ins[MAX_TEST_TENSORS];
    int n_ins = 0;
    DC_TRY(read_tensors(set, "output", d->expected, &d->n_expected));
    dc_status s = read_tensors(set, "input", ins, &n_ins);
    int k = 0;
    for (int i = 0; s == DC_OK && i < g->n_inputs && k < n_ins; i++)
        if (!g->inputs[i]->constant) {
            bf16_from_bits(ins[k], g->inputs[i]->type.dtype);
            d->inputs[d->n_inputs++] = (dc_named_tensor){g->inputs[i]->name, ins[k++]};
        }
    for (int i = k; i < n_ins; i++) /* read but not handed over */
        dc_tensor_destroy(ins[i]);
    if (s == DC_OK && k != n_ins)
        s = dc_error(DC_ERR_INVALID, "%d input files for %d graph inputs", n_ins, d->n_inputs);
    return s;
}

static bool close_enough(double got, double want)
{
    if (isnan(got) || isnan(want))
        return isnan(got) && isnan(want);
    if (isinf(got) || isinf(want))
        return got == want;
    return fabs(got - want) <= ATOL + RTOL * fabs(want);
}

static char *type_str(const dc_tensor *t)
{
    dc_type ty = dc_type_make(t->dtype, t->rank, t->dims);
    char buf[160];
    return strdup(dc_type_str(&ty, buf, sizeof buf));
}

/* NULL when `got` matches `want`, else what differs first. */
static char *compare(const char *name, const dc_tensor *got, const dc_tensor *want)
{
    bool same_shape = got->dtype == want->dtype && got->rank == want->rank;
    for (int d = 0; same_shape && d < got->rank; d++)
        same_shape = got->dims[d] == want->dims[d];
    if (!same_shape) {
        char *g = type_str(got), *w = type_str(want);
        char *m = fmt("output '%s': got %s, expected %s", name, g ? g : "?", w ? w : "?");
        free(g);
        free(w);
        return m;
    }
    bool is_float = dc_dtype_is_float(want->dtype);
    uint64_t n = dc_tensor_numel(want);
    for (uint64_t i = 0; i < n; i++) {
        bool ok = is_float ? close_enough(dc_tensor_get_f64(got, i), dc_tensor_get_f64(want, i))
                           : dc_tensor_get_i64(got, i) == dc_tensor_get_i64(want, i);
        if (!ok)
            return is_float ? fmt("output '%s' [%llu]: got %.9g, expected %.9g", name,
                                  (unsigned long long)i, dc_tensor_get_f64(got, i),
                                  dc_tensor_get_f64(want, i))
                            : fmt("output '%s' [%llu]: got %lld, expected %lld", name,
                                  (unsigned long long)i, (long long)dc_tensor_get_i64(got, i),
                                  (long long)dc_tensor_get_i64(want, i));
    }
    return NULL;
}

/* Outcome of a failing status: unsupported ops and types skip, the rest fail. */
static dc_conformance_outcome outcome_of(dc_status s)
{
    return s == DC_ERR_UNSUPPORTED ? DC_CONFORMANCE_SKIP : DC_CONFORMANCE_FAIL;
}

static char *compare_all(const dc_plan *plan, dc_tensor **got, int n_got, const test_data *d)
{
    if (n_got != d->n_expected)
        return fmt("%d outputs, %d expected", n_got, d->n_expected);
    for (int i = 0; i < n_got; i++) {
        bf16_from_bits(d->expected[i], got[i]->dtype);
        char *m = compare(plan->outputs[i].name, got[i], d->expected[i]);
        if (m)
            return m;
    }
    return NULL;
}

/* Compiles and runs the loaded test; *detail says what went wrong. */
static dc_conformance_outcome run_loaded(dc_graph *g, const char *set, int threads, char **detail)
{
    test_data d = {0};
    bool bound[MAX_TEST_TENSORS];
    dc_plan *plan = NULL;
    dc_tensor **got = NULL;
    int n_got = 0;
    dc_status s = load_test_data(g, set, &d);
    if (s == DC_OK)
        s = dc_specialize_inputs(g, d.inputs, d.n_inputs, bound);
    if (s == DC_OK)
        s = dc_pipeline_compile(g, NULL, &plan);
    if (s == DC_OK)
        s = dc_run_plan(plan, d.inputs, d.n_inputs, bound, &(dc_run_options){.threads = threads},
                        &got, &n_got);
    dc_conformance_outcome o = DC_CONFORMANCE_PASS;
    if (s != DC_OK) {
        o = outcome_of(s);
        *detail = strdup(dc_error_message());
    } else if ((*detail = compare_all(plan, got, n_got, &d))) {
        o = DC_CONFORMANCE_FAIL;
    }
    dc_tensors_free(got, n_got);
    dc_plan_destroy(plan);
    test_data_free(&d);
    return o;
}

static dc_conformance_outcome run_test(const char *dir, const char *name, int threads, char **detail)
{
    *detail = NULL;
    char *model = fmt("%s/%s/model.onnx", dir, name);
    char *set = fmt("%s/%s/test_data_set_0", dir, name);
    dc_graph *g = NULL;
    dc_conformance_outcome o;
    if (!model || !set) {
        o = DC_CONFORMANCE_FAIL;
        *detail = strdup("out of memory");
    } else {
        dc_status s = dc_onnx_load(model, &g);
        if (s != DC_OK) {
            o = outcome_of(s);
            *detail = strdup(dc_error_message());
        } else {
            o = run_loaded(g, set, threads, detail);
        }
    }
    dc_graph_destroy(g);
    free(model);
    free(set);
    return o;
}

/* Tests dinoc deliberately skips although it runs them: their expected data
 * follows a convention dinoc chose not to copy. */
static const struct {
    const char *name, *why;
} deliberate_skips[] = {
    /* ONNX 1.12 made the expected bfloat16 by truncating each float's low 16
     * bits; dinoc rounds to nearest even, like PyTorch and ONNX >= 1.14. */
    {"test_cast_FLOAT_to_BFLOAT16",
     "bfloat16 rounding: ONNX 1.12's expected values are truncated, dinoc rounds to nearest even"},
};

static const char *deliberate_skip(const char *name)
{
    for (size_t i = 0; i < sizeof deliberate_skips / sizeof deliberate_skips[0]; i++)
        if (strcmp(deliberate_skips[i].name, name) == 0)
            return deliberate_skips[i].why;
    return NULL;
}

/* ------------------------------------------------------------ the suite */

dc_status dc_conformance_run(const dc_conformance_options *opt, dc_conformance_report **out)
{
    *out = NULL;
    const char *dir = opt && opt->dir ? opt->dir : DC_CONFORMANCE_DIR;
    char **names;
    int n;
    DC_TRY(list_tests(dir, opt ? opt->filter : NULL, &names, &n));
    dc_conformance_report *r = calloc(1, sizeof *r);
    if (r)
        r->tests = calloc(n ? (size_t)n : 1, sizeof *r->tests);
    if (!r || !r->tests) {
        free(r);
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return dc_error(DC_ERR_NOMEM, "conformance report");
    }
    for (int i = 0; i < n; i++) {
        dc_conformance_test *t = &r->tests[r->n_tests++];
        t->name = names[i];
        t->op = test_op(dir, names[i]);
        const char *why = deliberate_skip(names[i]);
        if (why) {
            t->outcome = DC_CONFORMANCE_SKIP;
            t->detail = strdup(why);
        } else {
            t->outcome = run_test(dir, names[i], opt ? opt->threads : 0, &t->detail);
        }
        r->passed += t->outcome == DC_CONFORMANCE_PASS;
        r->failed += t->outcome == DC_CONFORMANCE_FAIL;
        r->skipped += t->outcome == DC_CONFORMANCE_SKIP;
    }
    free(names);
    *out = r;
    return DC_OK;
}

const dc_conformance_test *dc_conformance_find(const dc_conformance_report *r, const char *name)
{
    for (int i = 0; i < r->n_tests; i++)
        if (strcmp(r->tests[i].name, name) == 0)
            return &r->tests[i];
    return NULL;
}

static int by_op(const void *a, const void *b)
{
    const dc_conformance_test *x = *(const dc_conformance_test *const *)a;
    const dc_conformance_test *y = *(const dc_conformance_test *const *)b;
    int c = strcmp(x->op ? x->op : "?", y->op ? y->op : "?");
    return c ? c : strcmp(x->name, y->name);
}

/* "Add: 3 passed, 0 failed, 0 skipped", one line per op, sorted by op. */
static void print_per_op(const dc_conformance_report *r, FILE *out)
{
    const dc_conformance_test **sorted = malloc((r->n_tests ? (size_t)r->n_tests : 1) * sizeof *sorted);
    if (!sorted)
        return;
    for (int i = 0; i < r->n_tests; i++)
        sorted[i] = &r->tests[i];
    qsort(sorted, (size_t)r->n_tests, sizeof *sorted, by_op);
    fprintf(out, "per op:\n");
    for (int i = 0; i < r->n_tests;) {
        const char *op = sorted[i]->op ? sorted[i]->op : "?";
        int count[3] = {0, 0, 0};
        for (; i < r->n_tests && strcmp(sorted[i]->op ? sorted[i]->op : "?", op) == 0; i++)
            count[sorted[i]->outcome]++;
        fprintf(out, "  %s: %d passed, %d failed, %d skipped\n", op, count[DC_CONFORMANCE_PASS],
                count[DC_CONFORMANCE_FAIL], count[DC_CONFORMANCE_SKIP]);
    }
    free(sorted);
}

void dc_conformance_print(const dc_conformance_report *r, FILE *out, bool verbose)
{
    static const char *const tags[] = {"PASS", "FAIL", "SKIP"};
    for (int i = 0; i < r->n_tests; i++) {
        const dc_conformance_test *t = &r->tests[i];
        if (t->outcome != DC_CONFORMANCE_PASS || verbose)
            fprintf(out, "%s %s (%s)%s%s\n", tags[t->outcome], t->name, t->op ? t->op : "?",
                    t->detail ? ": " : "", t->detail ? t->detail : "");
    }
    print_per_op(r, out);
    fprintf(out, "%d passed, %d failed, %d skipped\n", r->passed, r->failed, r->skipped);
}

void dc_conformance_report_destroy(dc_conformance_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_tests; i++) {
        free(r->tests[i].name);
        free(r->tests[i].op);
        free(r->tests[i].detail);
    }
    free(r->tests);
    free(r);
}
