/* The kernel table, lookup by name and by op, and the shared backend context. */
#include "dc_kernel.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernel_context.h"
#include "kernels/kernels.h"

#define DC_KERNEL(sym) extern const dc_kernel sym;
DC_KERNELS
#undef DC_KERNEL

static const dc_kernel *const kernel_table[] = {
#define DC_KERNEL(sym) &sym,
    DC_KERNELS
#undef DC_KERNEL
};
enum { KERNEL_COUNT = sizeof kernel_table / sizeof kernel_table[0] };

extern const dc_kernel dc_kernel_llvm_generated;

const dc_kernel *dc_kernel_find(const char *name)
{
    if (!name)
        return NULL;
    if (strncmp(name, "llvm.", 5) == 0 && name[5])
        return &dc_kernel_llvm_generated;
    for (int i = 0; i < KERNEL_COUNT; i++)
        if (strcmp(kernel_table[i]->name, name) == 0)
            return kernel_table[i];
    return NULL;
}

/* Lower is preferred: oneDNN primitives, generated kernels, other backends, C. */
static int backend_rank(const char *name)
{
    static const char *const order[] = {"dnnl.", "llvm."};
    for (int i = 0; i < 2; i++)
        if (strncmp(name, order[i], strlen(order[i])) == 0)
            return i;
    return strncmp(name, "c.", 2) == 0 ? 3 : 2;
}

int dc_kernel_candidates(const char *op_type, const dc_kernel **out, int max)
{
    int n = 0;
    for (int rank = 0; rank <= 3; rank++)
        for (int i = 0; i < KERNEL_COUNT; i++) {
            const dc_kernel *k = kernel_table[i];
            if (backend_rank(k->name) != rank || !op_type || strcmp(k->op_type, op_type) != 0)
                continue;
            if (n < max && out)
                out[n] = k;
            n++;
        }
    return n;
}

void dc_kernel_context_apply_threads(const dc_kernel_context *ctx)
{
    if (ctx && ctx->threads > 0 && omp_get_max_threads() != ctx->threads)
        omp_set_num_threads(ctx->threads);
}

dc_status dc_kernel_context_create(int threads, dc_kernel_context **out)
{
    *out = NULL;
    dc_kernel_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return dc_error(DC_ERR_NOMEM, "kernel context");
    ctx->threads = threads > 0 ? threads : omp_get_num_procs();
    if (ctx->threads < 1)
        ctx->threads = 1;
    /* oneDNN's OpenMP runtime reads the thread count at execution; set it first. */
    omp_set_num_threads(ctx->threads);
    if (dnnl_engine_create(&ctx->engine, dnnl_cpu, 0) != dnnl_success) {
        dc_kernel_context_destroy(ctx);
        return dc_error(DC_ERR_UNSUPPORTED, "oneDNN: cannot create a CPU engine");
    }
    if (dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags) != dnnl_success) {
        dc_kernel_context_destroy(ctx);
        return dc_error(DC_ERR_UNSUPPORTED, "oneDNN: cannot create a CPU stream");
    }
    *out = ctx;
    return DC_OK;
}

dc_status dc_kernel_context_reserve_scratchpad(dc_kernel_context *ctx, size_t bytes)
{
    ctx->scratchpad_sum += bytes;
    if (bytes <= ctx->scratchpad_bytes)
        return DC_OK;
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p)
        return dc_error(DC_ERR_NOMEM, "oneDNN scratchpad of %zu bytes", bytes);
    free(ctx->scratchpad);
    ctx->scratchpad = p;
    ctx->scratchpad_bytes = rounded;
    return DC_OK;
}

void dc_kernel_context_destroy(dc_kernel_context *ctx)
{
    if (!ctx)
        return;
    free(ctx->scratchpad);
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    free(ctx);
}
