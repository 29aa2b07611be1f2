/* The compile pipeline: the one way from a graph to a plan (ARCHITECTURE.md,
 * one training step, 3-5). Every caller — the DINOv2 builders, export, k-NN,
 * `dinoc compile`, `dinoc run` of an .onnx, the conformance runner, tests —
 * goes through it, so a graph is always simplified, fused and planned the
 * same way.
 *
 * The passes run in a fixed order, which dc_pipeline_order prints:
 *   inference graph:  infer-shapes, fold-constants, eliminate-dead-code, cse,
 *                     fuse-forward, fuse-final, lower, schedule-collectives,
 *                     plan-memory
 *   training step:    infer-shapes, cse, fuse-forward, make-training-step,
 *                     infer-shapes, fold-constants, eliminate-dead-code, cse,
 *                     fuse-final, lower, schedule-collectives, plan-memory
 * A training step is made in the middle (autodiff, optimizer, EMA) so that the
 * fused ops of the forward stage have their gradient rules applied: their
 * backward is fused too. Constants are folded and dead code removed only after
 * it: until the step is made, parameters are ordinary initializers that folding
 * would bake in, and state that only the step reads (the teacher's copy of a
 * student-only parameter, updated by the EMA) would look dead. The steps of
 * the lowered plan are reordered once, for the all-reduce to overlap the
 * backward (schedule_collectives.h), before memory is planned. */
#ifndef DC_PIPELINE_H
#define DC_PIPELINE_H

#include <stdbool.h>
#include <stdio.h>

#include "dc_plan.h"
#include "ir.h"
#include "plan_memory.h"

/* A change made to the graph at one point of the pipeline (the training step
 * of a DINOv2 config or of `dinoc compile --train`, the gradients `dinoc grad`
 * asks for). */
typedef struct dc_graph_transform {
    dc_status (*apply)(dc_graph *g, void *ctx);
    void *ctx;
} dc_graph_transform;

typedef struct dc_pipeline_options {
    /* Made after the forward fusion stage; NULL: the graph is compiled as it is. */
    const dc_graph_transform *training;
    /* Fusion off (both stages). The environment variable DINOC_NO_FUSE=1 turns
     * it off as well, so a whole test run can be repeated without fusion. */
    bool no_fuse;
    const char *producer;   /* free text stored in the plan; NULL: "dinoc" */
    /* The IR after every run of the pass of this name goes to print_to (NULL:
     * stdout): the graph as text after a graph pass, the steps after
     * "lower" and "schedule-collectives", the placement after "plan-memory". */
    const char *print_after;
    FILE *print_to;
    FILE *log;              /* if not NULL: the pass order, then what each pass changed */
    FILE *explain;          /* lowering's choice of kernel per step, where each
                               all-reduce bucket starts and waits */
    dc_memory_stats *memory;/* if not NULL, receives the memory plan's numbers */
} dc_pipeline_options;

/* Fusion is on for these options (and this environment). */
bool dc_pipeline_fuses(const dc_pipeline_options *opt);

/* The names of the passes in the order they run for these options; returns
 * their count (at most `max` written). */
int dc_pipeline_order(const dc_pipeline_options *opt, const char **names, int max);
/* Whether `name` is the name of a pass (for --print-after). */
bool dc_pipeline_has_pass(const char *name);

/* Every pass, from `g` (which the passes modify) to a plan (dc_plan_destroy).
 * `opt` may be NULL: defaults. */
dc_status dc_pipeline_compile(dc_graph *g, const dc_pipeline_options *opt, dc_plan **out);

/* The graph passes of an inference graph only, up to and including fuse-final
 * (with no_fuse: up to cse), for a graph that leaves as a graph (ONNX export).
 * opt->training must be NULL. */
dc_status dc_pipeline_optimize(dc_graph *g, const dc_pipeline_options *opt);

#endif
