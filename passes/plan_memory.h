/* Memory planning: offsets in the one ARENA region of a plan, from the
 * lifetimes of its buffers over the step schedule (ARCHITECTURE.md, one training step, 4).
 *
 * A buffer is live from the step that defines it to its last use; graph
 * inputs from step 0, graph outputs to the end. A view (Reshape, Flatten,
 * Identity, ...) is a buffer of its own that aliases its root's bytes, so its
 * uses extend the root's lifetime. Buffers whose lifetimes do not overlap may
 * share bytes; a step may write its output over an input that dies at that
 * step (in place) when its op's registry entry allows it (in_place_inputs).
 * Offsets are found by best fit, each at a multiple of DC_PLAN_ALIGN, in two
 * orders (largest buffers first; the buffers of the steps with the most live
 * bytes first), keeping the smaller arena. */
#ifndef DC_PLAN_MEMORY_H
#define DC_PLAN_MEMORY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dc_plan.h"

typedef struct dc_memory_stats {
    uint64_t peak_bytes;  /* the planned ARENA size, region_bytes[ARENA] */
    uint64_t naive_bytes; /* every ARENA root buffer in its own bytes, DC_PLAN_ALIGN-rounded */
    uint64_t live_bytes;  /* the most bytes live at one step: no arena can be smaller */
    uint64_t by_size_bytes, by_breadth_bytes; /* the arena of each placement order */
    int n_roots;          /* ARENA buffers that are not views */
    int n_inplace;        /* steps that write their output over a dying input */
} dc_memory_stats;

/* Places every ARENA buffer of `plan` and sets region_bytes[ARENA].
 * `alias[i]` is the buffer that buffer i views (a root, itself no view), or
 * -1; a view gets its root's region and offset. in_place[s] (may be NULL:
 * nothing in place) has bit i set when step s may write its output 0 over its
 * input i (the op's registry fact, dc_op_schema.in_place_inputs). CONST and
 * STATE buffers keep their offsets. `stats` may be NULL. */
dc_status dc_plan_memory(dc_plan *plan, const int32_t *alias, const uint32_t *in_place,
                         dc_memory_stats *stats);

/* The placement as text, for golden tests and `dinoc compile --explain`:
 * a header with the region sizes, then one line per buffer:
 *   "  3 t1  f32[2,8]  ARENA @64 +64". */
void dc_plan_memory_print(const dc_plan *plan, FILE *out);

#endif
