/* Compiling and running a model once: the library side of `dinoc compile`
 * and `dinoc run`, which tests call directly. A driver above the passes: it
 * compiles through the pipeline (pipeline.h).
 *
 * A model file is either a compiled artifact (a shared object or a .dnc,
 * told by their magic; dc_artifact.h) or an ONNX model, compiled in memory
 * for the inputs given. */
#ifndef DC_RUN_MODEL_H
#define DC_RUN_MODEL_H

#include <stdbool.h>
#include <stdio.h>

#include "dc_plan.h"
#include "dc_session.h"
#include "pipeline.h"
#include "specialize.h"

/* Reads a tensor file: NumPy .npy (told by its magic) or a serialized ONNX
 * TensorProto (.pb). */
dc_status dc_tensor_load_file(const char *path, dc_tensor **out);

/* Reads "NAME=FILE" (`dinoc run -i`): the name is malloc'ed, the tensor loaded
 * with dc_tensor_load_file; errors name the input. */
dc_status dc_read_named_tensor(const char *spec, dc_named_tensor *out);

/* Reads "NAME=VALUE" (`dinoc run --scalar`) into a float32 scalar. */
dc_status dc_read_named_scalar(const char *spec, dc_named_tensor *out);

/* Loads the ONNX model at `path` and compiles it through the pipeline.
 * `inputs` (may be NULL) specialise it first (specialize.h); bound[i] (may be
 * NULL) tells which were compiled into the plan. `opt` (may be NULL) are the
 * pipeline's options (a training transform, fusion off, printing); its
 * producer, when NULL, says which file the plan came from. */
dc_status dc_compile_onnx(const char *path, const dc_named_tensor *inputs, int n_inputs,
                          bool *bound, const dc_pipeline_options *opt, dc_plan **out);

/* How to run a plan: `threads` <= 0 means every core. For benchmarks,
 * `repeat` > 0 adds that many timed runs after the first (warm-up) one, and
 * their median and minimum wall times are written back. */
typedef struct dc_run_options {
    int threads;
    int repeat;
    bool profile; /* print time per kernel to stderr after the runs */
    double median_ms, min_ms;
    /* Training plans: run `steps` times (each run is one step; 0 counts as
     * 1), printing each step's scalar outputs to `step_log` (may be NULL), and
     * write the training state afterwards as <save_state>/<name>.pb. */
    int steps;
    FILE *step_log;
    const char *save_state;
} dc_run_options;

/* Writes every STATE tensor of a session as DIR/<name>.pb. */
dc_status dc_save_state(dc_session *sess, const dc_plan *plan, const char *dir);

/* Runs `plan` once (plus opt->repeat timed runs; opt may be NULL). Each plan input must be given exactly once with exactly
 * its type ("input 'x': expected f32[2,3], got f32[3,2]"); inputs[i] with
 * skip[i] set (skip may be NULL) were compiled in and are not passed again.
 * *outputs receives the plan's outputs, named, in order (dc_tensors_free). */
dc_status dc_run_plan(const dc_plan *plan, const dc_named_tensor *inputs, int n_inputs,
                      const bool *skip, dc_run_options *opt, dc_tensor ***outputs,
                      int *n_outputs);

/* dc_run_plan on the model at `path`: an artifact as it is, an ONNX model
 * compiled for these inputs. */
dc_status dc_run_model(const char *path, const dc_named_tensor *inputs, int n_inputs,
                       dc_run_options *opt, dc_tensor ***outputs, int *n_outputs);

void dc_tensors_free(dc_tensor **tensors, int n);

#endif
