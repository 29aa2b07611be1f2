/* llvm.<OpType>: a step whose kernel LLVM generated with its shapes baked in
 * (compiler/codegen/) and that lives in the artifact the plan came from.
 *
 * Shapes: whatever the step's buffers are; the generated function knows them.
 * It is called as fn(args, begin, end) with args the step's argument data
 * (inputs, then outputs; NULL for an omitted optional one) and [begin, end) a
 * contiguous chunk of [0, llvm_extent): one chunk per OpenMP thread, so any
 * split gives the same result and each thread touches one slice.
 *
 * A step with llvm_scratch gets, after its arguments, that many bytes of the
 * calling thread's own: one block per thread, made once in prepare (each
 * thread an args array of its own that ends with its block).
 *
 * A step that reads indices (Gather, ScatterAdd) also names its index check
 * in llvm_index_check: check(args, bad) runs first and, for an index out of
 * range, the step fails as its c.* kernel does, with the same message. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dc_artifact.h"
#include "kernel_context.h"

/* 0, or 1 with bad = {index, its position in indices, axis length}. */
typedef int32_t (*index_check_fn)(void *const *args, int64_t *bad);

typedef struct generated_state {
    dc_generated_kernel fn;
    index_check_fn check; /* NULL: the step reads no indices */
    void *const *args;
    int64_t extent;
    int threads;
    const char *symbol;
    /* With scratch: thread t calls fn with thread_args[t] (args, then its
     * block of `scratch` bytes in blocks). */
    int64_t scratch;
    void ***thread_args;
    void *blocks;
} generated_state;

static void generated_release(void *state)
{
    generated_state *g = state;
    if (!g)
        return;
    if (g->thread_args)
        for (int t = 0; t < g->threads; t++)
            free(g->thread_args[t]);
    free(g->thread_args);
    free(g->blocks);
    free(g);
}

static dc_status generated_check(const dc_kernel_args *a)
{
    const char *symbol;
    int64_t extent, scratch;
    return dc_artifact_step_binding(a->step, &symbol, &extent, &scratch);
}

/* One args array and one scratch block per thread. */
static dc_status make_scratch(generated_state *g, const dc_kernel_args *a)
{
    int n_args = a->step->n_inputs + a->step->n_outputs;
    size_t block = ((size_t)g->scratch + 63) / 64 * 64;
    if ((uint64_t)block * (uint64_t)g->threads / (uint64_t)g->threads != block)
        return dc_error(DC_ERR_NOMEM, "%s: %d x %lld bytes of scratch", g->symbol, g->threads,
                        (long long)g->scratch);
    g->thread_args = calloc((size_t)g->threads, sizeof *g->thread_args);
    g->blocks = aligned_alloc(64, block * (size_t)g->threads);
    if (!g->thread_args || !g->blocks)
        return dc_error(DC_ERR_NOMEM, "%s: %d x %lld bytes of scratch", g->symbol, g->threads,
                        (long long)g->scratch);
    for (int t = 0; t < g->threads; t++) {
        if (!(g->thread_args[t] = malloc((size_t)(n_args + 1) * sizeof(void *))))
            return dc_error(DC_ERR_NOMEM, "%s: arguments", g->symbol);
        memcpy(g->thread_args[t], a->in_data, (size_t)n_args * sizeof(void *));
        g->thread_args[t][n_args] = (char *)g->blocks + (size_t)t * block;
    }
    return DC_OK;
}

static dc_status generated_prepare(const dc_kernel_args *a, void **state)
{
    generated_state *g = calloc(1, sizeof *g);
    if (!g)
        return dc_error(DC_ERR_NOMEM, "generated kernel");
    dc_status s = dc_artifact_step_binding(a->step, &g->symbol, &g->extent, &g->scratch);
    if (s == DC_OK && !(a->ctx && a->ctx->artifact && dc_artifact_target(a->ctx->artifact)))
        s = dc_error(DC_ERR_UNSUPPORTED, "a generated kernel, but the plan was not loaded from "
                     "the shared object (.so) that holds it: compile with -o NAME.so and run that");
    if (s == DC_OK && !(g->fn = dc_artifact_kernel(a->ctx->artifact, g->symbol)))
        s = dc_error(DC_ERR_INVALID, "the artifact has no function %s", g->symbol);
    const char *check = dc_step_string(a->step, "llvm_index_check", NULL);
    dc_generated_kernel check_fn = check && s == DC_OK ? dc_artifact_kernel(a->ctx->artifact, check)
                                                       : NULL;
    if (s == DC_OK && check && !check_fn)
        s = dc_error(DC_ERR_INVALID, "the artifact has no function %s", check);
    if (s == DC_OK) {
        /* dlsym gave it as a kernel; it is an index check (the void(void) step
         * between the two function types keeps -Wcast-function-type quiet). */
        g->check = check_fn ? (index_check_fn)(void (*)(void))check_fn : NULL;
        /* The session keeps in_data (inputs then outputs, one array) until release. */
        g->args = a->in_data;
        g->threads = a->ctx->threads > 0 ? a->ctx->threads : 1;
        if (g->scratch > 0)
            s = make_scratch(g, a);
    }
    if (s != DC_OK) {
        generated_release(g);
        return s;
    }
    *state = g;
    return DC_OK;
}

static void *const *thread_args(const generated_state *g, int t)
{
    return g->thread_args ? (void *const *)g->thread_args[t] : g->args;
}

static dc_status generated_run(void *state)
{
    const generated_state *g = state;
    int64_t bad[3];
    if (g->check && g->check(g->args, bad))
        return dc_error(DC_ERR_INVALID, "index %lld (indices element %lld) out of range [%lld, %lld)",
                        (long long)bad[0], (long long)bad[1], -(long long)bad[2],
                        (long long)bad[2]);
    int64_t n = g->extent;
    int threads = (int64_t)g->threads < n ? g->threads : (int)n;
    if (threads <= 1) {
        if (n > 0)
            g->fn(thread_args(g, 0), 0, n);
        return DC_OK;
    }
#pragma omp parallel num_threads(threads)
    {
        /* Chunk t is [t·q + min(t, r), ...) with q = n / T, r = n % T: the
         * first r chunks one longer, all contiguous. */
        int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t q = n / nt, r = n % nt;
        int64_t begin = t * q + (t < r ? t : r), end = begin + q + (t < r);
        if (begin < end)
            g->fn(thread_args(g, (int)t), begin, end);
    }
    return DC_OK;
}

static const char *generated_describe(void *state)
{
    return ((const generated_state *)state)->symbol;
}

const dc_kernel dc_kernel_llvm_generated = {
    .name = "llvm.*",
    .op_type = NULL,
    .check = generated_check,
    .prepare = generated_prepare,
    .run = generated_run,
    .release = generated_release,
    .describe = generated_describe,
};
