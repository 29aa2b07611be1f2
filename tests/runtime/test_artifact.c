/* Shared-object artifacts: loading one made at test time (artifact_fixture.h),
 * running its generated kernel in chunks over the session's threads, the CPU
 * feature check, and each way a file can fail to be an artifact, always a
 * one-line message. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "artifact_fixture.h"
#include "dc_artifact.h"
#include "dc_cpu_features.h"
#include "dc_session.h"
#include "test_util.h"

static void tmp_path(char *buf, size_t cap, const char *leaf)
{
    snprintf(buf, cap, "/tmp/dinoc_test_artifact_%d_%s", (int)getpid(), leaf);
}

/* Builds an artifact with options `o` at a fresh path (in `path`). */
static bool build(char *path, size_t cap, const char *leaf, const fixture_options *o)
{
    tmp_path(path, cap, leaf);
    int rc = fixture_build(path, o);
    CU_ASSERT_EQUAL(rc, 0);
    return rc == 0;
}

/* One line, starting with the file's name, containing `part`. */
static void assert_one_line_error(dc_status s, const char *path, const char *part)
{
    const char *m = dc_error_message();
    CU_ASSERT_NOT_EQUAL(s, DC_OK);
    CU_ASSERT_PTR_NULL(strchr(m, '\n'));
    CU_ASSERT_EQUAL(strncmp(m, path, strlen(path)), 0);
    if (!strstr(m, part))
        fprintf(stderr, "\n    expected '%s' in: %s\n", part, m);
    CU_ASSERT_PTR_NOT_NULL(strstr(m, part));
}

static void fill_input(dc_tensor *x)
{
    float *d = x->data;
    for (int i = 0; i < FIX_ROWS * FIX_COLS; i++)
        d[i] = (float)((i * 37) % 23) - 11.0f;
}

/* Runs the artifact's plan on the fixed input with `threads`; checks
 * y = relu(x + w) exactly and, through the object's exported counters, that
 * the kernel's calls split [0, 37) into contiguous disjoint chunks. */
static void run_and_check(const dc_artifact *a, const char *path, int threads)
{
    dc_session *s;
    DC_ASSERT_OK(dc_session_create_artifact(a, threads, &s));
    if (!s)
        return;
    dc_tensor *x, *y = NULL;
    const int64_t dims[2] = {FIX_ROWS, FIX_COLS};
    DC_ASSERT_OK(dc_tensor_create(&x, "x", DC_F32, 2, dims));
    fill_input(x);
    /* The object the loader opened, to read its call log. */
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    CU_ASSERT_PTR_NOT_NULL(h);
    int *calls = h ? dlsym(h, "test_calls") : NULL;
    int64_t(*chunks)[2] = h ? dlsym(h, "test_chunks") : NULL;
    CU_ASSERT_PTR_NOT_NULL(calls);
    CU_ASSERT_PTR_NOT_NULL(chunks);
    if (calls)
        *calls = 0;
    DC_ASSERT_OK(dc_session_set_input(s, "x", x));
    DC_ASSERT_OK(dc_session_run(s));
    DC_ASSERT_OK(dc_session_get_output(s, 0, &y));
    if (y) {
        const float *xd = x->data, *yd = y->data;
        int bad = 0;
        for (int i = 0; i < FIX_ROWS * FIX_COLS; i++) {
            float want = xd[i] + fixture_w[i % FIX_COLS];
            bad += yd[i] != (want > 0 ? want : 0);
        }
        CU_ASSERT_EQUAL(bad, 0);
    }
    if (calls && chunks) {
        CU_ASSERT(*calls >= 1 && *calls <= threads);
        int64_t covered[FIX_ROWS] = {0};
        for (int k = 0; k < *calls && k < 64; k++) {
            CU_ASSERT(chunks[k][0] < chunks[k][1]);
            for (int64_t r = chunks[k][0]; r < chunks[k][1] && r >= 0 && r < FIX_ROWS; r++)
                covered[r]++;
        }
        for (int r = 0; r < FIX_ROWS; r++)
            CU_ASSERT_EQUAL(covered[r], 1);
    }
    if (h)
        dlclose(h);
    dc_tensor_destroy(x);
    dc_tensor_destroy(y);
    dc_session_destroy(s);
}

static void test_load_and_run(void)
{
    char path[256];
    fixture_options o = {.target = "x86-64", .features = "sse2,cmov"};
    if (!build(path, sizeof path, "good.so", &o))
        return;
    dc_artifact *a = NULL;
    DC_ASSERT_OK(dc_artifact_open(path, &a));
    if (a) {
        CU_ASSERT_STRING_EQUAL(dc_artifact_target(a), "x86-64");
        CU_ASSERT_EQUAL(dc_artifact_plan(a)->n_steps, 2);
        CU_ASSERT_STRING_EQUAL(dc_artifact_plan(a)->steps[0].kernel, "llvm.Add");
        CU_ASSERT_PTR_NOT_NULL(dc_artifact_kernel(a, "dinoc_step0_Add"));
        CU_ASSERT_PTR_NULL(dc_artifact_kernel(a, "no_such_function"));
        run_and_check(a, path, 1);
        run_and_check(a, path, 2);
    }
    dc_artifact_close(a);
    unlink(path);
}

/* A name without '/' is a file in the working directory, never a library
 * found on the search path. */
static void test_relative_path(void)
{
    char path[256], cwd[512];
    if (!build(path, sizeof path, "rel.so", &(fixture_options){0}) || !getcwd(cwd, sizeof cwd))
        return;
    CU_ASSERT_EQUAL(chdir("/tmp"), 0);
    dc_artifact *a = NULL;
    DC_ASSERT_OK(dc_artifact_open(strrchr(path, '/') + 1, &a));
    dc_artifact_close(a);
    CU_ASSERT_EQUAL(chdir(cwd), 0);
    unlink(path);
}

/* A probe for a CPU that has SSE only, whatever this one has. */
static int sse_only_cpu(const char *name, size_t len)
{
    static const char *const has[] = {"sse", "sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt"};
    static const char *const lacks[] = {"avx", "avx2", "fma", "avx512f", "avx512bw"};
    for (size_t i = 0; i < sizeof has / sizeof *has; i++)
        if (strlen(has[i]) == len && memcmp(has[i], name, len) == 0)
            return 1;
    for (size_t i = 0; i < sizeof lacks / sizeof *lacks; i++)
        if (strlen(lacks[i]) == len && memcmp(lacks[i], name, len) == 0)
            return 0;
    return -1;
}

/* The exports of the plain fixture plan, with the given strings. */
static void check_with(const char *abi, const char *target, const char *features,
                       dc_status want, const char *message)
{
    char dnc[256];
    tmp_path(dnc, sizeof dnc, "exports.dnc");
    dc_plan *p = fixture_plan(true);
    DC_ASSERT_OK(dc_plan_write(p, dnc));
    dc_plan_destroy(p);
    size_t size = 0;
    uint8_t *bytes = fixture_read(dnc, &size);
    unlink(dnc);
    dc_artifact_exports e = {abi, strlen(abi) + 1, target, strlen(target) + 1,
                             features, strlen(features) + 1, bytes, size, size};
    dc_plan *q = NULL;
    dc_status s = dc_artifact_check_exports(&e, "step.so", sse_only_cpu, &q);
    CU_ASSERT_EQUAL(s, want);
    if (message) {
        if (strcmp(dc_error_message(), message) != 0)
            fprintf(stderr, "\n    got: %s\n    want: %s\n", dc_error_message(), message);
        CU_ASSERT_STRING_EQUAL(dc_error_message(), message);
    }
    CU_ASSERT_EQUAL(q != NULL, want == DC_OK);
    dc_plan_destroy(q);
    free(bytes);
}

static void test_cpu_features(void)
{
    check_with("dinoc-artifact-1", "x86-64-v2", "sse4.2,popcnt", DC_OK, NULL);
    check_with("dinoc-artifact-1", "x86-64", "", DC_OK, NULL);
    check_with("dinoc-artifact-1", "x86-64-v4", "sse4.2,avx2,avx512f", DC_ERR_UNSUPPORTED,
               "step.so: compiled for x86-64-v4, this CPU lacks avx2, avx512f");
    check_with("dinoc-artifact-1", "x86-64-v3", "avx,warp9", DC_ERR_UNSUPPORTED,
               "step.so: compiled for x86-64-v3, needs CPU feature 'warp9' that this runtime "
               "cannot check");
    check_with("dinoc-artifact-1", "x86-64-v3", "sse2,,avx", DC_ERR_UNSUPPORTED, NULL);
    check_with("dinoc-artifact-2", "x86-64", "", DC_ERR_UNSUPPORTED,
               "step.so: artifact ABI 'dinoc-artifact-2', this runtime runs 'dinoc-artifact-1' "
               "(recompile it with this dinoc)");
    check_with("dinoc-\nartifact", "x86-64", "", DC_ERR_UNSUPPORTED,
               "step.so: artifact ABI 'dinoc-?artifact', this runtime runs 'dinoc-artifact-1' "
               "(recompile it with this dinoc)");

    /* This CPU's own answers: every known name has one, an unknown has none. */
    const char *known = dc_cpu_known_features();
    for (const char *at = known; *at;) {
        size_t l = strcspn(at, ",");
        int has = dc_cpu_has_feature(at, l);
        CU_ASSERT(has == 0 || has == 1);
        at += l + (at[l] == ',');
    }
    CU_ASSERT_EQUAL(dc_cpu_has_feature("sse2", 4), 1); /* x86-64's baseline */
    CU_ASSERT_EQUAL(dc_cpu_has_feature("avx512", 6), -1);
    CU_ASSERT_EQUAL(dc_cpu_has_feature("sse2\0", 5), -1);
    CU_ASSERT_EQUAL(dc_cpu_has_feature("", 0), -1);
}

/* A real object needing a feature this CPU lacks, when there is one
 * (x86 CPUs lack either AMD's sse4a/fma4/xop or Intel-only ones). */
static void test_cpu_lacks_feature(void)
{
    const char *known = dc_cpu_known_features();
    char missing[32] = "";
    for (const char *at = known; *at && !missing[0];) {
        size_t l = strcspn(at, ",");
        if (dc_cpu_has_feature(at, l) == 0 && l < sizeof missing)
            snprintf(missing, sizeof missing, "%.*s", (int)l, at);
        at += l + (at[l] == ',');
    }
    if (!missing[0])
        return; /* this CPU has them all: nothing to refuse */
    char path[256], features[64], want[128];
    snprintf(features, sizeof features, "sse2,%s", missing);
    fixture_options o = {.target = "x86-64-test", .features = features};
    if (!build(path, sizeof path, "lacks.so", &o))
        return;
    dc_artifact *a = NULL;
    snprintf(want, sizeof want, "compiled for x86-64-test, this CPU lacks %s", missing);
    assert_one_line_error(dc_artifact_open(path, &a), path, want);
    CU_ASSERT_PTR_NULL(a);
    unlink(path);
}

static void test_bad_files(void)
{
    char path[256], bad[300];
    dc_artifact *a = NULL;
    if (!build(path, sizeof path, "src.so", &(fixture_options){0}))
        return;
    size_t size = 0;
    uint8_t *bytes = fixture_read(path, &size);
    CU_ASSERT_FATAL(bytes && size > 4096);

    /* Truncated at a few lengths, down to inside the ELF header. */
    const size_t cuts[] = {size - 1, size / 2, 200, 40, 3};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        snprintf(bad, sizeof bad, "%s.cut%zu", path, i);
        FILE *f = fopen(bad, "wb");
        fwrite(bytes, 1, cuts[i], f);
        fclose(f);
        dc_status s = dc_artifact_open(bad, &a);
        assert_one_line_error(s, bad, cuts[i] >= 4 ? "truncated" : "not a dinoc artifact");
        CU_ASSERT_PTR_NULL(a);
        unlink(bad);
    }
    /* Not ELF at all, and ELF of another kind. */
    snprintf(bad, sizeof bad, "%s.txt", path);
    FILE *f = fopen(bad, "w");
    fputs("#!/bin/sh\necho not an artifact\n", f);
    fclose(f);
    assert_one_line_error(dc_artifact_open(bad, &a), bad, "not a dinoc artifact");
    bytes[4] = 1; /* ELFCLASS32 */
    f = fopen(bad, "wb");
    fwrite(bytes, 1, size, f);
    fclose(f);
    assert_one_line_error(dc_artifact_open(bad, &a), bad, "another kind of machine");
    unlink(bad);
    assert_one_line_error(dc_artifact_open("/nonexistent/x.so", &a), "/nonexistent/x.so",
                          "No such file");
    free(bytes);
    unlink(path);

    /* Well-formed objects that break the contract. */
    struct {
        const char *leaf;
        fixture_options o;
        const char *part;
    } cases[] = {
        {"nosize.so", {.omit_plan_size = true}, "exports no dinoc_artifact_plan_size"},
        {"abi.so", {.abi = "dinoc-artifact-0"}, "artifact ABI 'dinoc-artifact-0'"},
        {"nokernel.so", {.omit_kernel = true}, "step 0 'add0' (llvm.Add): the object has no "
                                               "function dinoc_step0_Add"},
        {"oversize.so", {.plan_size_extra = 1}, "the plan array holds"},
        {"unknown.so", {.features = "avx2,quantum"}, "needs CPU feature 'quantum'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!build(path, sizeof path, cases[i].leaf, &cases[i].o))
            continue;
        assert_one_line_error(dc_artifact_open(path, &a), path, cases[i].part);
        CU_ASSERT_PTR_NULL(a);
        unlink(path);
    }
}

/* A .dnc opens as an artifact too; one whose plan has llvm.* steps cannot
 * run them, and the session's error names the step. */
static void test_plan_files(void)
{
    char path[256];
    tmp_path(path, sizeof path, "plain.dnc");
    dc_plan *p = fixture_plan(false);
    DC_ASSERT_OK(dc_plan_write(p, path));
    dc_plan_destroy(p);
    dc_artifact *a = NULL;
    DC_ASSERT_OK(dc_artifact_open(path, &a));
    CU_ASSERT_PTR_NULL(dc_artifact_target(a));
    dc_session *s = NULL;
    DC_ASSERT_OK(dc_session_create_artifact(a, 1, &s));
    dc_session_destroy(s);
    dc_artifact_close(a);

    p = fixture_plan(true);
    DC_ASSERT_OK(dc_plan_write(p, path));
    dc_plan_destroy(p);
    DC_ASSERT_OK(dc_artifact_open(path, &a));
    CU_ASSERT_EQUAL(dc_session_create_artifact(a, 1, &s), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "step 0 'add0' (llvm.Add)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "not loaded from the shared object"));
    CU_ASSERT_EQUAL(dc_session_create(dc_artifact_plan(a), 1, &s), DC_ERR_UNSUPPORTED);
    dc_artifact_close(a);
    unlink(path);
}

/* The binding attributes of an llvm.* step are checked before anything runs. */
static void test_step_binding(void)
{
    dc_plan *p = fixture_plan(true);
    dc_plan_step *st = &p->steps[0];
    const char *symbol;
    int64_t extent, scratch = -1;
    DC_ASSERT_OK(dc_artifact_step_binding(st, &symbol, &extent, &scratch));
    CU_ASSERT_STRING_EQUAL(symbol, "dinoc_step0_Add");
    CU_ASSERT_EQUAL(extent, FIX_ROWS);
    CU_ASSERT_EQUAL(scratch, 0);
    /* llvm_scratch: bytes per thread, at most 4 GiB. */
    st->attrs = realloc(st->attrs, (size_t)(st->n_attrs + 1) * sizeof *st->attrs);
    st->attrs[st->n_attrs++] = (dc_plan_attr){.name = fixture_strdup("llvm_scratch"),
                                              .type = DC_PLAN_ATTR_INT, .i = 4096};
    DC_ASSERT_OK(dc_artifact_step_binding(st, &symbol, &extent, &scratch));
    CU_ASSERT_EQUAL(scratch, 4096);
    st->attrs[st->n_attrs - 1].i = ((int64_t)1 << 32) + 1;
    CU_ASSERT_EQUAL(dc_artifact_step_binding(st, &symbol, &extent, &scratch), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "llvm_scratch"));
    st->attrs[st->n_attrs - 1].i = -8;
    CU_ASSERT_EQUAL(dc_artifact_step_binding(st, &symbol, &extent, &scratch), DC_ERR_INVALID);
    st->attrs[st->n_attrs - 1].i = 0;
    st->attrs[1].i = -1;
    CU_ASSERT_EQUAL(dc_artifact_step_binding(st, &symbol, &extent, &scratch), DC_ERR_INVALID);
    st->attrs[1].i = 3;
    st->attrs[0].s[5] = '-';
    CU_ASSERT_EQUAL(dc_artifact_step_binding(st, &symbol, &extent, &scratch), DC_ERR_INVALID);
    st->attrs[0].s[5] = '_';
    free(st->op_type);
    st->op_type = fixture_strdup("Mul");
    CU_ASSERT_EQUAL(dc_artifact_step_binding(st, &symbol, &extent, &scratch), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "expected llvm.Mul"));
    dc_plan_destroy(p);
    /* Every llvm.* name finds the generated-kernel runner; it is never a candidate. */
    CU_ASSERT_PTR_NOT_NULL(dc_kernel_find("llvm.Add"));
    CU_ASSERT_PTR_NULL(dc_kernel_find("llvm."));
    const dc_kernel *cand[16];
    int n = dc_kernel_candidates("Add", cand, 16);
    for (int i = 0; i < n && i < 16; i++)
        CU_ASSERT_NOT_EQUAL(strncmp(cand[i]->name, "llvm.", 5), 0);
}

/* An llvm.* step with a bad binding in the exported plan: refused, naming the
 * step (the fuzzer once found the name read after the plan was freed). */
static void test_exports_bad_binding(void)
{
    char dnc[256];
    tmp_path(dnc, sizeof dnc, "binding.dnc");
    dc_plan *p = fixture_plan(true);
    p->steps[0].attrs[1].i = -1;
    DC_ASSERT_OK(dc_plan_write(p, dnc));
    dc_plan_destroy(p);
    size_t size = 0;
    uint8_t *bytes = fixture_read(dnc, &size);
    unlink(dnc);
    dc_artifact_exports e = {"dinoc-artifact-1", 17, "x86-64", 7, "", 1, bytes, size, size};
    dc_plan *q = NULL;
    CU_ASSERT_EQUAL(dc_artifact_check_exports(&e, "step.so", sse_only_cpu, &q), DC_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(dc_error_message(), "step.so: step 0 'add0': attribute llvm_extent must "
                                               "be an integer >= 0");
    CU_ASSERT_PTR_NULL(q);
    /* A declared size past the array, and a string without its NUL. */
    e.plan_size = size + 1;
    CU_ASSERT_EQUAL(dc_artifact_check_exports(&e, "step.so", sse_only_cpu, &q), DC_ERR_PARSE);
    e.plan_size = size;
    e.abi_size = 16;
    CU_ASSERT_EQUAL(dc_artifact_check_exports(&e, "step.so", sse_only_cpu, &q), DC_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "dinoc_artifact_abi is not a string"));
    free(bytes);
}

/* A plan whose buffer name holds a newline and whose rank is corrupt: the
 * parser's message names the buffer, and the loader keeps it one line. */
static void test_exports_message_one_line(void)
{
    char dnc[256];
    tmp_path(dnc, sizeof dnc, "newline.dnc");
    dc_plan *p = fixture_plan(true);
    free(p->buffers[2].name);
    p->buffers[2].name = fixture_strdup("t\nq");
    DC_ASSERT_OK(dc_plan_write(p, dnc));
    dc_plan_destroy(p);
    size_t size = 0;
    uint8_t *bytes = fixture_read(dnc, &size);
    unlink(dnc);
    uint8_t *name = bytes ? memmem(bytes, size, "t\nq", 3) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(name);
    name[3 + 4] = 99; /* the rank, after the name and the dtype */
    /* Body size and CRC-32 (zlib's) made right, so the parser reaches the rank. */
    uint32_t crc = (uint32_t)crc32(0, bytes + 32, (uInt)(size - 32));
    for (int i = 0; i < 4; i++)
        bytes[24 + i] = (uint8_t)(crc >> (8 * i));
    dc_artifact_exports e = {"dinoc-artifact-1", 17, "x86-64", 7, "", 1, bytes, size, size};
    dc_plan *q = NULL;
    CU_ASSERT_EQUAL(dc_artifact_check_exports(&e, "step.so", sse_only_cpu, &q), DC_ERR_PARSE);
    CU_ASSERT_PTR_NULL(strchr(dc_error_message(), '\n'));
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "'t?q'"));
    free(bytes);
}

void register_runtime_artifact(void)
{
    static const dc_test_case tests[] = {
        {"load_and_run", test_load_and_run},
        {"relative_path", test_relative_path},
        {"cpu_features", test_cpu_features},
        {"cpu_lacks_feature", test_cpu_lacks_feature},
        {"bad_files", test_bad_files},
        {"plan_files", test_plan_files},
        {"step_binding", test_step_binding},
        {"exports_bad_binding", test_exports_bad_binding},
        {"exports_message_one_line", test_exports_message_one_line},
        {NULL, NULL},
    };
    dc_add_suite("runtime_artifact", tests);
}
