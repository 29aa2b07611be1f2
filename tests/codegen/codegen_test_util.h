/* Helpers of the code generator's tests: plans built by hand (one step per
 * case, every argument its own f32 buffer), the generated shared object
 * loaded with dlopen, each step run through its symbol in uneven chunks of
 * [0, llvm_extent) and through its c.* kernel (the oracle), on the caller's
 * arrays. */
#ifndef DC_CODEGEN_TEST_UTIL_H
#define DC_CODEGEN_TEST_UTIL_H

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "dc_kernel.h"
#include "test_util.h"

typedef void (*cgt_kernel_fn)(void *const *args, int64_t begin, int64_t end);

static inline uint64_t cgt_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Uniform in [lo, hi). */
static inline float cgt_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(cgt_rand(s) >> 40) / (float)(1 << 24);
}

static inline dc_plan *cgt_plan(void)
{
    dc_plan *p = calloc(1, sizeof *p);
    p->producer = strdup("codegen test");
    return p;
}

static inline int cgt_buffer(dc_plan *p, dc_dtype dtype, int rank, const int64_t *dims)
{
    p->buffers = realloc(p->buffers, (size_t)(p->n_buffers + 1) * sizeof *p->buffers);
    dc_plan_buffer *b = &p->buffers[p->n_buffers];
    memset(b, 0, sizeof *b);
    char name[32];
    snprintf(name, sizeof name, "b%d", p->n_buffers);
    b->name = strdup(name);
    b->dtype = dtype;
    b->rank = rank;
    uint64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (uint64_t)(b->dims[d] = dims[d]);
    b->nbytes = n * dc_dtype_size(dtype);
    b->region = DC_REGION_ARENA;
    b->offset = p->region_bytes[DC_REGION_ARENA];
    p->region_bytes[DC_REGION_ARENA] += (b->nbytes + DC_PLAN_ALIGN - 1) / DC_PLAN_ALIGN * DC_PLAN_ALIGN;
    return p->n_buffers++;
}

/* A step whose arguments are the given buffers. */
static inline dc_plan_step *cgt_step(dc_plan *p, const char *op, int n_in, int n_out,
                                     const int *args)
{
    p->steps = realloc(p->steps, (size_t)(p->n_steps + 1) * sizeof *p->steps);
    dc_plan_step *st = &p->steps[p->n_steps];
    memset(st, 0, sizeof *st);
    char name[64];
    snprintf(name, sizeof name, "c.%s", op);
    st->kernel = strdup(name);
    st->op_type = strdup(op);
    snprintf(name, sizeof name, "n%d", p->n_steps);
    st->node = strdup(name);
    st->n_inputs = n_in;
    st->n_outputs = n_out;
    st->args = malloc((size_t)(n_in + n_out) * sizeof *st->args);
    for (int i = 0; i < n_in + n_out; i++)
        st->args[i] = args[i];
    p->n_steps++;
    return st;
}

static inline dc_plan_attr *cgt_attr(dc_plan_step *st, const char *name, dc_plan_attr_type type)
{
    st->attrs = realloc(st->attrs, (size_t)(st->n_attrs + 1) * sizeof *st->attrs);
    dc_plan_attr *a = &st->attrs[st->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    a->type = type;
    return a;
}

static inline void cgt_attr_ints(dc_plan_step *st, const char *name, int n, const int64_t *v)
{
    dc_plan_attr *a = cgt_attr(st, name, DC_PLAN_ATTR_INTS);
    a->n = n;
    a->ints = malloc((size_t)(n ? n : 1) * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)n * sizeof *v);
}

static inline void cgt_attr_floats(dc_plan_step *st, const char *name, int n, const float *v)
{
    dc_plan_attr *a = cgt_attr(st, name, DC_PLAN_ATTR_FLOATS);
    a->n = n;
    a->floats = malloc((size_t)(n ? n : 1) * sizeof *a->floats);
    memcpy(a->floats, v, (size_t)n * sizeof *v);
}

static inline void cgt_attr_int(dc_plan_step *st, const char *name, int64_t v)
{
    cgt_attr(st, name, DC_PLAN_ATTR_INT)->i = v;
}

static inline void cgt_attr_float(dc_plan_step *st, const char *name, float v)
{
    cgt_attr(st, name, DC_PLAN_ATTR_FLOAT)->f = v;
}

/* A generated shared object, loaded. */
typedef struct cgt_so {
    void *handle;
    char path[256];
} cgt_so;

/* Generates every step of `p` for `target` (rewriting them), writes the shared
 * object and loads it; checks its exported data. Returns 0 on failure. */
static inline int cgt_generate(dc_plan *p, const char *target, cgt_so *so, int *n_generated)
{
    static int counter;
    snprintf(so->path, sizeof so->path, "/tmp/dinoc_test_codegen_%d_%d.so", (int)getpid(),
             counter++);
    dc_codegen_options opt = {.target = target};
    dc_status s = dc_codegen_write_artifact(p, &opt, so->path, n_generated);
    DC_ASSERT_OK(s);
    if (s != DC_OK)
        return 0;
    so->handle = dlopen(so->path, RTLD_NOW | RTLD_LOCAL);
    CU_ASSERT_PTR_NOT_NULL(so->handle);
    if (!so->handle) {
        fprintf(stderr, "\n    dlopen: %s\n", dlerror());
        return 0;
    }
    const char *abi = dlsym(so->handle, "dinoc_artifact_abi");
    CU_ASSERT(abi && strcmp(abi, "dinoc-artifact-1") == 0);
    const unsigned char *bytes = dlsym(so->handle, "dinoc_artifact_plan");
    const uint64_t *size = dlsym(so->handle, "dinoc_artifact_plan_size");
    CU_ASSERT(bytes && size);
    if (bytes && size) {
        dc_plan *back = NULL;
        DC_ASSERT_OK(dc_plan_parse(bytes, (size_t)*size, so->path, &back));
        CU_ASSERT(back && back->n_steps == p->n_steps);
        for (int i = 0; back && i < back->n_steps; i++)
            CU_ASSERT_STRING_EQUAL(back->steps[i].kernel, p->steps[i].kernel);
        dc_plan_destroy(back);
    }
    CU_ASSERT_PTR_NOT_NULL(dlsym(so->handle, "dinoc_artifact_target"));
    CU_ASSERT_PTR_NOT_NULL(dlsym(so->handle, "dinoc_artifact_cpu_features"));
    return 1;
}

static inline void cgt_unload(cgt_so *so)
{
    if (so->handle)
        dlclose(so->handle);
    unlink(so->path);
}

/* Runs step `i` through its generated symbol over [0, extent) in `chunks`
 * uneven pieces. */
static inline void cgt_run_generated(const cgt_so *so, const dc_plan *p, int i, void *const *args,
                                     int chunks)
{
    const dc_plan_step *st = &p->steps[i];
    const char *sym = dc_step_string(st, "llvm_symbol", NULL);
    int64_t extent = dc_step_int(st, "llvm_extent", -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sym);
    CU_ASSERT_FATAL(extent >= 0);
    cgt_kernel_fn fn = (cgt_kernel_fn)dlsym(so->handle, sym);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fn);
    /* A kernel with scratch takes it after its arguments (dc_artifact.h). */
    int64_t scratch = dc_step_int(st, "llvm_scratch", 0);
    int n_args = st->n_inputs + st->n_outputs;
    void **with_scratch = NULL;
    if (scratch > 0) {
        with_scratch = malloc((size_t)(n_args + 1) * sizeof *with_scratch);
        CU_ASSERT_PTR_NOT_NULL_FATAL(with_scratch);
        memcpy(with_scratch, args, (size_t)n_args * sizeof *with_scratch);
        with_scratch[n_args] = aligned_alloc(64, ((size_t)scratch + 63) / 64 * 64);
        CU_ASSERT_PTR_NOT_NULL_FATAL(with_scratch[n_args]);
        args = with_scratch;
    }
    int64_t at = 0;
    for (int c = 0; c < chunks; c++) {
        /* Pieces grow: 1/2^(chunks-c) of what is left, the last takes the rest. */
        int64_t piece = c == chunks - 1 ? extent - at : (extent - at) / (chunks - c + 1);
        fn(args, at, at + piece);
        at += piece;
    }
    if (with_scratch) {
        free(with_scratch[n_args]);
        free(with_scratch);
    }
}

/* Runs step `i` through the c.* kernel of its op on the given data. */
static inline void cgt_run_oracle(const dc_plan *p, int i, void *const *data)
{
    const dc_plan_step *st = &p->steps[i];
    char name[64];
    snprintf(name, sizeof name, "c.%s", st->op_type);
    const dc_kernel *k = dc_kernel_find(name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    int n = st->n_inputs + st->n_outputs;
    const dc_plan_buffer *desc[64];
    for (int a = 0; a < n; a++)
        desc[a] = st->args[a] >= 0 ? &p->buffers[st->args[a]] : NULL;
    dc_kernel_args args = {.step = st, .in = desc, .out = desc + st->n_inputs,
                           .in_data = data, .out_data = data + st->n_inputs};
    void *state = NULL;
    DC_ASSERT_OK(k->check(&args));
    DC_ASSERT_OK(k->prepare(&args, &state));
    DC_ASSERT_OK(k->run(state));
    if (k->release)
        k->release(state);
}

/* Counts elements where got and want differ by more than tol·(1 + |want|)
 * (NaN matches NaN, inf matches the same inf); prints the first few. */
static inline int cgt_compare(const float *got, const float *want, int64_t n, double tol,
                              const char *what)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        int ok = (isnan(g) && isnan(w)) || g == w || fabs(g - w) <= tol * (1 + fabs(w));
        if (!ok && bad++ < 3)
            fprintf(stderr, "\n    %s: element %lld: got %.9g, want %.9g", what, (long long)i, g,
                    w);
    }
    return bad;
}

/* Whether the generator refuses step i with a reason containing `text`. */
static inline int cgt_refused(const dc_plan *p, int i, const char *text)
{
    char buf[256];
    const char *why = dc_codegen_refusal(p, i, buf, sizeof buf);
    if (why && !strstr(why, text))
        fprintf(stderr, "\n    step %d refused: %s", i, why);
    return why && strstr(why, text);
}

/* The targets every machine of this class runs, plus x86-64-v4 where the
 * CPU has AVX-512 (NULL-terminated). */
static inline int cgt_targets(const char **out)
{
    int n = 0;
    out[n++] = "native";
    out[n++] = "x86-64-v2";
    out[n++] = "x86-64-v3";
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd"))
        out[n++] = "x86-64-v4";
    out[n] = NULL;
    return n;
}

#endif
