/* Lowering: from a graph to a plan whose ARENA is not placed yet
 * (ARCHITECTURE.md, one training step, 5; the pipeline, passes/pipeline.h,
 * simplifies and fuses the graph before and plans the memory after).
 *
 * The graph is verified. Then, node by node in schedule order:
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
 * a constant); an output that would share bytes with an input or a constant
 * gets a copy step. */
#ifndef DC_LOWER_H
#define DC_LOWER_H

#include <stdint.h>
#include <stdio.h>

#include "dc_plan.h"
#include "ir.h"

/* A lowered plan and what memory planning needs to know about it. */
typedef struct dc_lowered {
    dc_plan *plan;       /* ARENA buffers at offset 0, region_bytes[ARENA] 0 */
    int32_t *alias;      /* per buffer: the root buffer it views, -1 for a root */
    uint32_t *in_place;  /* per step: bit i set = its op may write output 0 over input i
                            (the registry's dc_op_schema.in_place_inputs) */
} dc_lowered;

/* Lowers `g` into out->plan. `producer` (NULL: "dinoc") is free text stored in
 * the plan. With `explain`, prints one line per step: node, op, chosen kernel
 * and why each faster candidate refused. Errors name the node: "Reshape 'r1':
 * input 'shape' must be known at compile time". */
dc_status dc_lower(dc_graph *g, const char *producer, FILE *explain, dc_lowered *out);
/* Frees everything in `l` (the plan too, unless the caller took it and set it NULL). */
void dc_lowered_free(dc_lowered *l);

#endif
