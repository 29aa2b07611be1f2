/* Running a plan: memory for its regions, prepared kernels, inputs in, outputs out. */
#ifndef DC_SESSION_H
#define DC_SESSION_H

#include <stdbool.h>
#include <stdio.h>

#include "dc_artifact.h"
#include "dc_kernel.h"

typedef struct dc_session dc_session;

/* Validates the plan, allocates the regions (DC_PLAN_ALIGN-aligned, zeroed),
 * copies constants, resolves every step's kernel by name and checks and
 * prepares it. `threads` <= 0 means the machine's cores (it sets OpenMP's
 * thread count). The plan must outlive the session. */
dc_status dc_session_create(const dc_plan *plan, int threads, dc_session **out);
/* The same for an artifact's plan (dc_artifact.h): its llvm.* steps call the
 * artifact's generated kernels. The artifact must outlive the session. */
dc_status dc_session_create_artifact(const dc_artifact *artifact, int threads, dc_session **out);
void dc_session_destroy(dc_session *s);

/* Copies `t` into the named input; its type and shape must match the plan's
 * signature exactly (error names the input, expected and found). */
dc_status dc_session_set_input(dc_session *s, const char *name, const dc_tensor *t);
/* Runs every step once, in order; a failing step stops the run and the
 * message names it ("step 12 'gather0' (c.Gather): ..."). */
dc_status dc_session_run(dc_session *s);
/* Runs steps [first, end) only: the first part of a step split in phases
 * (gradient accumulation runs a micro-batch's forward and backward without
 * the optimizer that ends the plan). */
dc_status dc_session_run_steps(dc_session *s, int first, int end);
/* `repeat` timed runs (for benchmarks); their median and minimum wall times
 * in milliseconds. */
dc_status dc_session_time_runs(dc_session *s, int repeat, double *median_ms, double *min_ms);

/* Profiling: with it on, every run adds each step's wall time; the report
 * lists the time per kernel and per run. */
void dc_session_set_profile(dc_session *s, bool on);
void dc_session_print_profile(const dc_session *s, FILE *out);

/* The memory a session holds, for reports (`dinoc step`): its regions, and
 * the one oneDNN scratchpad its primitives share. */
typedef struct dc_session_memory {
    uint64_t region_bytes[3]; /* ARENA, CONST, STATE */
    uint64_t scratchpad_bytes;
    uint64_t scratchpad_sum;  /* what one scratchpad per primitive would take */
} dc_session_memory;
void dc_session_memory_use(const dc_session *s, dc_session_memory *out);

/* A copy of output `index` (named as in the plan). */
dc_status dc_session_get_output(dc_session *s, int index, dc_tensor **out);

/* The bytes of plan->buffers[index] (nbytes of them) for the session's
 * lifetime, or NULL for an index out of range: how the trainer loads and saves
 * STATE (parameters, moments, centers), and how tests look at intermediates. */
void *dc_session_buffer(dc_session *s, int index);

#endif
