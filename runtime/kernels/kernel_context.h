/* The backend handles every kernel of a session shares (internal to the
 * runtime: dc_kernel.c, dc_session.c and runtime/kernels/ include it).
 *
 * dc_kernel_context_create() makes the oneDNN CPU engine and one in-order
 * stream up front, so a dnnl.* kernel can use ctx->engine and ctx->stream in
 * `prepare` and `run` directly; it also sets the OpenMP thread count that both
 * oneDNN (an OpenMP build) and the c.* kernels use. `check` may be called
 * with ctx == NULL (the compiler does so when choosing kernels). */
#ifndef DC_KERNEL_CONTEXT_H
#define DC_KERNEL_CONTEXT_H

#include <oneapi/dnnl/dnnl.h>

#include "dc_artifact.h"
#include "dc_kernel.h"

struct dc_kernel_context {
    int threads;          /* OpenMP threads for every kernel, >= 1 */
    /* The artifact the session's plan came from, whose generated kernels the
     * llvm.* steps call; NULL for a plan made or read without one. */
    const dc_artifact *artifact;
    dnnl_engine_t engine; /* dnnl_cpu, index 0 */
    dnnl_stream_t stream; /* in-order; dnnl kernels wait on it before returning from run */
    /* One scratchpad for every oneDNN primitive of the session: they run one
     * at a time, so it needs the largest primitive's bytes, not their sum.
     * Prepare grows it (dc_kernel_context_reserve_scratchpad); a primitive's
     * scratchpad memory is re-pointed at it when it moved (dnnl_util.c). */
    void *scratchpad;
    size_t scratchpad_bytes;
    size_t scratchpad_sum; /* what one scratchpad per primitive would take */
};

/* Makes ctx->scratchpad at least `bytes` long (64-byte aligned). The old
 * block is freed, not copied: a scratchpad holds nothing between runs. */
dc_status dc_kernel_context_reserve_scratchpad(dc_kernel_context *ctx, size_t bytes);

/* Re-applies ctx->threads to the calling thread's OpenMP settings
 * (omp_set_num_threads is per thread, so a run from another thread needs it). */
void dc_kernel_context_apply_threads(const dc_kernel_context *ctx);

#endif
