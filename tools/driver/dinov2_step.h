/* One DINOv2 training step from given parameters and a given batch (`dinoc
 * step`): for checking dinoc against a reference implementation step by step.
 *
 *   init.safetensors   every parameter of student and teacher (and the centers)
 *                      under the graph's names; AdamW moments and the step
 *                      count may be given, else they start at zero
 *   batch.safetensors  every graph input by name (dinov2.h); ibot_index and
 *                      ibot_weight may be padded past the step's M (as the
 *                      official code pads them) if their masked rows fit in M
 * Writes into out_dir: losses.json (the four loss terms), gradients.safetensors
 * (d loss / d every student parameter, named as the parameter) and
 * state.safetensors (all state after AdamW, the EMA and the center updates). */
#ifndef DC_DINOV2_STEP_H
#define DC_DINOV2_STEP_H

#include <stdio.h>

#include "dc_session.h"
#include "dinov2_config.h"
#include "ir.h"

/* Benchmark options of dc_dinov2_step (NULL: one step on every core). After the
 * step whose results are written, `repeat` > 0 runs that many more timed steps
 * on the same batch (the state keeps updating) and fills median_ms and min_ms. */
typedef struct dc_dinov2_step_options {
    int threads; /* <= 0: every core */
    int repeat;
    bool profile; /* print the time per kernel of the timed steps (of the first if none) */
    double median_ms, min_ms; /* out */
    dc_session_memory memory; /* out: the session's regions and scratchpad */
} dc_dinov2_step_options;

/* `config` is a config name or YAML file, compiled here with `init` as its
 * state, or a training step compiled ahead of time (`dinoc compile --config
 * NAME -o STEP.so` or .dnc; overrides are then refused) whose state `init`
 * replaces by name. Such a step has no gradient outputs, so only
 * losses.json (with the step's other scalar outputs) and state.safetensors
 * are written for it. */
dc_status dc_dinov2_step(const char *config, const char *const *overrides, int n_overrides,
                         const char *init_path, const char *batch_path, const char *out_dir,
                         dc_dinov2_step_options *opt);

/* The named config with overrides applied and checked. */
dc_status dc_dinov2_config_load(const char *config, const char *const *overrides, int n_overrides,
                                dc_dinov2_config *out);

/* Replaces the starting values of the graph's state with the tensors of a
 * safetensors file. Every parameter and center must be there with its exact
 * type; a tensor the graph does not have is an error (a checkpoint of another
 * config), naming it. Optimizer state that is absent keeps its zeros. */
dc_status dc_load_state(dc_graph *g, const char *path);

#endif
