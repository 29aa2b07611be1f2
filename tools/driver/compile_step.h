/* A config's DINOv2 training step compiled ahead of time (`dinoc compile
 * --config NAME`), with its recipe in the plan so that `dinoc train`,
 * `dinort train` and `dinoc step` can run it without the config. */
#ifndef DC_COMPILE_STEP_H
#define DC_COMPILE_STEP_H

#include "dc_plan.h"
#include "pipeline.h"

/* The step of config `name` (a name or YAML file) with overrides, initial
 * weights of seed 0; with ranks > 1 or grad_accum_steps > 1, rank 0's step
 * of a run on that many processes (to inspect: all-reduce buckets, memory per
 * process), computing a micro-batch, as `dinoc train --config` runs it. When
 * popt->log is set, the parameter counts are printed there first. */
dc_status dc_dinov2_compile_step(const char *name, const char *const *overrides, int n_overrides,
                                 int ranks, dc_pipeline_options *popt, dc_plan **plan);

#endif
