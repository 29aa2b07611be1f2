/* The LLVM code generator: plan steps -> kernels with static shapes -> an
 * object file -> a shared object (compiler/codegen/ARTIFACT.md has the
 * contract with the runtime that loads it).
 *
 * A generator targets one CPU level, chosen by name:
 *   "native" (or NULL)  the host: LLVMGetHostCPUName and its features;
 *   "x86-64-v2"         SSE4.2, POPCNT (4 floats per vector);
 *   "x86-64-v3"         AVX2, FMA, BMI2, F16C (8 floats per vector);
 *   "x86-64-v4"         AVX-512 F/BW/CD/DQ/VL (16 floats per vector).
 * Each kernel is `void SYMBOL(void *const *args, int64_t begin, int64_t end)`:
 * args[i] is the data of the step's i-th argument buffer (inputs, then
 * outputs); it runs iterations [begin, end) of its parallel dimension, and
 * any split of [0, extent) gives the same result.
 *
 * This is the only code of dinoc that includes llvm-c headers. */
#ifndef DC_CODEGEN_H
#define DC_CODEGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dc_plan.h"

typedef struct dc_codegen dc_codegen;

/* A generator for `target` (see above); an unknown name is an error that
 * lists the known ones. */
dc_status dc_codegen_create(const char *target, dc_codegen **out);
void dc_codegen_destroy(dc_codegen *cg);

/* "x86-64-v3", or "native (znver3)" for the host. */
const char *dc_codegen_target(const dc_codegen *cg);
/* Comma-separated CPU features the generated code may use, spelled as GCC's
 * __builtin_cpu_supports spells them ("sse4.2,popcnt,avx,avx2,fma,..."). */
const char *dc_codegen_cpu_features(const dc_codegen *cg);
/* Floats per vector register the kernels use: 4, 8 or 16. */
int dc_codegen_vector_width(const dc_codegen *cg);

/* NULL if the generator can make a kernel for step `index` of `plan`;
 * otherwise the reason, written to buf ("Pow: the exponent is a tensor"). */
const char *dc_codegen_refusal(const dc_plan *plan, int index, char *buf, size_t cap);

/* Adds the kernel of step `index` as function `symbol` and sets *extent to
 * the count of its parallel iterations. DC_ERR_UNSUPPORTED with the refusal
 * as message when the generator cannot make it. Must come before
 * dc_codegen_optimize. */
dc_status dc_codegen_add_step(dc_codegen *cg, const dc_plan *plan, int index, const char *symbol,
                              int64_t *extent);

/* Bytes of scratch each thread gives the generated kernel of step `index`
 * (after its arguments, dc_artifact.h's llvm_scratch); 0: none. */
int64_t dc_codegen_step_scratch(const dc_plan *plan, int index);

/* Verifies the module and runs LLVM's O3 pipeline on it (once; later calls
 * do nothing). dc_codegen_write_shared_object calls it too. */
dc_status dc_codegen_optimize(dc_codegen *cg);
/* The module as LLVM IR text, or the target's assembly (malloc'ed, free it);
 * NULL when out of memory or when assembly cannot be emitted. */
char *dc_codegen_ir_text(dc_codegen *cg);
char *dc_codegen_asm_text(dc_codegen *cg);

/* Writes the shared object `path`: the kernels plus the exported data
 * (dinoc_artifact_abi, dinoc_artifact_plan[_size], dinoc_artifact_target,
 * dinoc_artifact_cpu_features), `plan_bytes` being what dc_plan_serialize
 * gives. Links with the system C compiler (`cc`, or $DINOC_CC), found at run
 * time; its absence is an error that says so. */
dc_status dc_codegen_write_shared_object(dc_codegen *cg, const void *plan_bytes,
                                         size_t plan_size, const char *path);

/* ---- whole plans ---- */

typedef struct dc_codegen_options {
    const char *target;  /* NULL: native */
    /* Also replace the steps lowering gave to oneDNN (dnnl.*); by default only
     * c.* steps are, oneDNN's kernels ranking first as in lowering. */
    bool replace_dnnl;
    FILE *explain;       /* if not NULL: per step, generated or why not */
} dc_codegen_options;

/* Adds a kernel for every step of `plan` it can make (see replace_dnnl) and
 * rewrites those steps: kernel "llvm.<OpType>", op type and attributes kept
 * (the c.* kernel can still run it), plus "llvm_symbol" (STRING),
 * "llvm_extent" (INT) and, for a kernel that needs it, "llvm_scratch" (INT). Symbols are "dinoc_step<index>_<OpType>". Sets
 * *n_generated. */
dc_status dc_codegen_plan(dc_codegen *cg, dc_plan *plan, const dc_codegen_options *opt,
                          int *n_generated);

/* dc_codegen_plan, then the shared object at `path` holding the kernels and
 * the rewritten plan (dc_plan_serialize). */
dc_status dc_codegen_write_artifact(dc_plan *plan, const dc_codegen_options *opt,
                                    const char *path, int *n_generated);

#endif
