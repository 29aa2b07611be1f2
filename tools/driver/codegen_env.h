/* Running plans through generated kernels when the environment asks, so a
 * whole test run (ONNX conformance, DINOv2 parity) can be repeated with the
 * LLVM code generator's kernels in place of the C kernels:
 *   DINOC_CODEGEN=1    generate the steps lowering gave to c.* kernels;
 *   DINOC_CODEGEN=all  generate dnnl.* steps too, where the generator can;
 *   DINOC_CODEGEN_TARGET=x86-64-v3 (etc.; default native) the target;
 *   DINOC_CODEGEN_EXPLAIN=1 per step, on stderr, generated or why not.
 * The plan is copied, its steps generated (codegen.h) into a temporary
 * shared object that is opened as an artifact (dc_artifact.h) and removed;
 * the copy keeps the plan's buffers, so inputs and outputs are found in it
 * as in the original. */
#ifndef DC_CODEGEN_ENV_H
#define DC_CODEGEN_ENV_H

#include <stdbool.h>

#include "dc_artifact.h"
#include "dc_plan.h"

/* Whether DINOC_CODEGEN asks for generated kernels. */
bool dc_codegen_env_enabled(void);

/* *out: the artifact to make the session from, or NULL when the environment
 * does not ask for generated kernels (then use `plan` as it is). Close it
 * (dc_artifact_close) after the session is destroyed. */
dc_status dc_codegen_env_artifact(const dc_plan *plan, dc_artifact **out);

#endif
