/* Runtime kernels: one implementation of one op for one backend.
 *
 * Names are "<backend>.<OpType>": "dnnl.MatMul" (oneDNN primitives, the fast
 * path for f32), "c.MatMul" (dinoc's own C kernels, every op and every element
 * type the op allows), later "llvm.<name>" for generated kernels. The compiler
 * asks each candidate kernel whether it can run a step (`check`) and records
 * the first that can, with the reason for the others (`dinoc compile --explain`). */
#ifndef DC_KERNEL_H
#define DC_KERNEL_H

#include <stddef.h>

#include "dc_plan.h"

/* Backend handles shared by a session's kernels: the oneDNN engine and stream
 * and the thread count; defined in runtime/kernels/kernel_context.h. */
typedef struct dc_kernel_context dc_kernel_context;

/* What a kernel sees of one step. Buffer descriptors are NULL for omitted
 * optional inputs/outputs (arg -1); a step may also have fewer args than the
 * op's maximum (trailing optional ones left out). Data pointers and ctx are
 * NULL during `check`. In a session, everything these pointers reach (step,
 * descriptors, the pointer arrays, the data) stays valid and unchanged until
 * `release`, so `prepare` may keep them; the dc_kernel_args struct itself may not. */
typedef struct dc_kernel_args {
    const dc_plan_step *step;
    const dc_plan_buffer *const *in;
    const dc_plan_buffer *const *out;
    void *const *in_data;
    void *const *out_data;
    dc_kernel_context *ctx;
} dc_kernel_args;

typedef struct dc_kernel {
    const char *name;    /* "c.Transpose" */
    const char *op_type; /* "Transpose"; NULL: any op (the generated kernels' llvm.*) */
    /* DC_OK if this kernel can run the step (types, ranks, attributes), else
     * DC_ERR_UNSUPPORTED with a short reason. No data is touched. */
    dc_status (*check)(const dc_kernel_args *a);
    /* Builds what running needs, with data pointers bound for the session's
     * lifetime (oneDNN primitives and memories, precomputed strides). A
     * session calls it only after `check` passed on the same args. */
    dc_status (*prepare)(const dc_kernel_args *a, void **state);
    /* One execution. Fails only on data errors (e.g. Gather index out of range). */
    dc_status (*run)(void *state);
    /* Frees the state; NULL when there is nothing to free. */
    void (*release)(void *state);
    /* Optional: what actually runs, for `dinoc compile --explain` (e.g. the
     * oneDNN implementation "gemm:jit"). NULL when there is nothing to add. */
    const char *(*describe)(void *state);
} dc_kernel;

/* The kernel of that name, or NULL. Every "llvm.<OpType>" name is the one
 * kernel that calls a step's generated function from its artifact
 * (dc_artifact.h); it is never a candidate: the code generator, not lowering,
 * gives steps to it. */
const dc_kernel *dc_kernel_find(const char *name);
/* Candidate kernels for an op in order of preference (fast first: dnnl.*,
 * llvm.*, then c.*). Writes at most `max` to `out` and returns how many exist.
 * The table is runtime/kernels/kernels.h. */
int dc_kernel_candidates(const char *op_type, const dc_kernel **out, int max);

/* Creates the oneDNN CPU engine and stream and sets the OpenMP thread count
 * (`threads` <= 0: the machine's cores). */
dc_status dc_kernel_context_create(int threads, dc_kernel_context **out);
void dc_kernel_context_destroy(dc_kernel_context *ctx);

/* The version of the oneDNN library the dnnl.* kernels run on, as the loaded
 * library reports it (not the headers'), e.g. "2.6.3": benchmarks and bug
 * reports name what they measured. Writes at most `cap` bytes. */
void dc_onednn_version(char *out, size_t cap);

#endif
