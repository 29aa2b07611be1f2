/* Lowering: from a graph to a runnable plan (ARCHITECTURE.md, one training step, 4-5).
 *
 * The graph is first simplified (constant folding, dead-code elimination) and
 * verified. Then, node by node in schedule order:
 *   - values with data known at compile time (initializers, folded values)
 *     become CONST buffers, identical bytes stored once; Constant nodes and
 *     nodes whose outputs are all known disappear;
 *   - view ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) alias their
 *     input's bytes with a new shape: no step;
 *   - every other node becomes one step: its attributes in canonical form
 *     (static inputs such as Reshape's shape turned into attributes, plus
 *     "opset"), and the first candidate kernel whose check() accepts it.
 * Graph inputs and outputs are ARENA buffers (an initializer also listed as a
 * graph input, ONNX IR < 4, is only a default in ONNX; a plan bakes it in as
 * a constant); an output that would share
 * bytes with an input or a constant gets a copy step. Finally the memory
 * planner (passes/plan_memory.h) places the ARENA. */
#ifndef DC_LOWER_H
#define DC_LOWER_H

#include <stdio.h>

#include "dc_plan.h"
#include "ir.h"
#include "plan_memory.h"

typedef struct dc_lower_options {
    const char *producer;     /* free text stored in the plan; NULL: "dinoc" */
    dc_memory_stats *memory;  /* if not NULL, receives the memory plan's numbers */
} dc_lower_options;

/* Lowers `g` (which the passes modify) into a new plan (dc_plan_destroy).
 * `opt` may be NULL. With `explain`, prints one line per step: node, op,
 * chosen kernel and why each faster candidate refused. Errors name the node:
 * "Reshape 'r1': input 'shape' must be known at compile time". */
dc_status dc_lower(dc_graph *g, const dc_lower_options *opt, dc_plan **out, FILE *explain);

#endif
