/* Exponential moving averages as graph nodes (the ai.dinoc EMA op): the
 * teacher's momentum update after the optimizer step, and the running-mean
 * update of the DINO/iBOT centers after the loss. Both write back into state. */
#ifndef DC_EMA_H
#define DC_EMA_H

#include "ir.h"

/* targets[i] ← m·targets[i] + (1 − m)·sources[i] after every run, in one EMA
 * node; `momentum` is an f32 scalar value (a graph input fed per step: the
 * momentum schedule). Targets become state; sources are read as the graph
 * computes them (for the teacher: the student after its optimizer update). */
dc_status dc_add_ema(dc_graph *g, dc_value *momentum, dc_value *const *targets,
                     dc_value *const *sources, int n);

/* center ← μ·center + (1 − μ)·mean over the rows of x, for x [N, K] and
 * center [1, K]; μ a constant (0.9 in DINO and iBOT). */
dc_status dc_add_center_update(dc_graph *g, dc_value *center, dc_value *x, float mu);

#endif
