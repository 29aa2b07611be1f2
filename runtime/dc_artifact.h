/* Compiled artifacts, opened for running.
 *
 * `dinoc compile -o step.so` writes an ELF shared object: the kernels LLVM
 * generated for this plan, plus the plan itself as data. The runtime opens it
 * with dlopen (it never links LLVM), checks what the object says about itself
 * and parses the plan; a session made from the artifact binds each step whose
 * kernel is "llvm.<OpType>" to its generated function. A plan file (.dnc,
 * dc_plan_write) opens the same way and holds no generated kernels.
 *
 * What the shared object exports (the contract with compiler/codegen/):
 *   const char          dinoc_artifact_abi[]         "dinoc-artifact-1"
 *   const unsigned char dinoc_artifact_plan[]        the bytes dc_plan_write writes
 *   const uint64_t      dinoc_artifact_plan_size     how many of them
 *   const char          dinoc_artifact_target[]      "x86-64-v3", "native (znver3)", ...
 *   const char          dinoc_artifact_cpu_features[] "sse4.2,popcnt,avx,avx2,fma,..."
 *                                                     (dc_cpu_features.h spelling)
 *   void SYMBOL(void *const *args, int64_t begin, int64_t end)   one per llvm.* step:
 *       args[i] is the data of the step's i-th argument buffer (inputs, then
 *       outputs, as dc_plan_step.args; NULL for an omitted optional one); it
 *       runs iterations [begin, end) of the step's parallel dimension.
 * An llvm.* step keeps its op type and attributes and adds "llvm_symbol"
 * (STRING, the function) and "llvm_extent" (INT, its iteration count); the
 * runtime splits [0, llvm_extent) over its threads in contiguous chunks.
 * A step with "llvm_scratch" (INT, bytes; at most 4 GiB) gets one more
 * argument, args[n_inputs + n_outputs]: that many bytes, 64-byte aligned, of
 * the calling thread's own (Attention keeps its [N, N] scores there).
 * Generated code may call dnnl_sgemm of the process's oneDNN, which every
 * dinoc runtime links.
 * A step that reads indices (Gather, ScatterAdd) also names, in
 * "llvm_index_check", `int32_t SYMBOL_check(void *const *args, int64_t *bad)`:
 * the runtime calls it first and fails the step on an index out of range
 * (compiler/codegen/ARTIFACT.md has the whole contract).
 *
 * Nothing the object exports is trusted: each datum's size is the one the
 * object's dynamic symbol table gives, strings must end inside it, the plan
 * size must fit its array, and the plan is parsed like any artifact. Opening
 * a shared object runs its code (its initialisers), so open only artifacts
 * you would run. */
#ifndef DC_ARTIFACT_H
#define DC_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dc_plan.h"

#define DC_ARTIFACT_ABI "dinoc-artifact-1"

typedef struct dc_artifact dc_artifact;

/* A generated kernel (see above). */
typedef void (*dc_generated_kernel)(void *const *args, int64_t begin, int64_t end);

/* Opens a shared object (told by its ELF magic) or a plan file (its
 * "DINOCPLN" magic). Every failure is a one-line message that starts with
 * `path`: "step.so: compiled for x86-64-v4, this CPU lacks avx512f". */
dc_status dc_artifact_open(const char *path, dc_artifact **out);
/* Whether `path` starts as an artifact does (either magic): a file to open
 * with dc_artifact_open rather than, say, a config name or a YAML file. */
bool dc_artifact_is_file(const char *path);
/* Unloads the shared object; no session made from the artifact may remain. */
void dc_artifact_close(dc_artifact *a);

/* The plan, owned by the artifact. */
const dc_plan *dc_artifact_plan(const dc_artifact *a);
/* The target the kernels were generated for; NULL for a plan file. */
const char *dc_artifact_target(const dc_artifact *a);
/* The generated kernel `symbol`, or NULL (no such function, or a plan file). */
dc_generated_kernel dc_artifact_kernel(const dc_artifact *a, const char *symbol);

/* ---- what dc_artifact_open checks after dlopen, for tests and the fuzzer ---- */

/* The exported data as found: each pointer with its symbol's size in bytes. */
typedef struct dc_artifact_exports {
    const void *abi;
    uint64_t abi_size;
    const void *target;
    uint64_t target_size;
    const void *cpu_features;
    uint64_t cpu_features_size;
    const void *plan;
    uint64_t plan_capacity; /* the array's size */
    uint64_t plan_size;     /* dinoc_artifact_plan_size */
} dc_artifact_exports;

/* Answers dc_cpu_has_feature's question (1 yes, 0 no, -1 unknown name). */
typedef int (*dc_cpu_probe)(const char *name, size_t len);

/* Checks the ABI string, the target, every required CPU feature (with
 * `probe`; NULL: this CPU) and the llvm.* steps' attributes, then parses
 * the plan into *plan. `what` starts every message. */
dc_status dc_artifact_check_exports(const dc_artifact_exports *e, const char *what,
                                    dc_cpu_probe probe, dc_plan **plan);

/* The ELF file `file` (all `size` bytes of it, e.g. mapped) is a shared
 * object for this machine whose program headers and segments lie inside it:
 * what dlopen needs before it maps anything (a truncated object would map
 * pages past the end of the file and fault on first touch). */
dc_status dc_artifact_check_elf(const void *file, size_t size, const char *what);

/* The function name, iteration count and per-thread scratch bytes (0 when
 * the step has none) of an llvm.* step, checked: kernel "llvm.<its op
 * type>", llvm_symbol a C identifier, llvm_extent >= 0, llvm_scratch in
 * [0, 4 GiB]. */
dc_status dc_artifact_step_binding(const dc_plan_step *st, const char **symbol, int64_t *extent,
                                   int64_t *scratch);

#endif
