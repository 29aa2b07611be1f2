/* Shared plumbing of the oneDNN kernels ("dnnl.*", the f32 fast path).
 *
 * Every dnnl kernel is written as one `build` function that validates the step
 * and creates its primitive descriptor(s); the same function serves `check`
 * (state == NULL: descriptors are created and thrown away, so check refuses
 * exactly what prepare could not build, including layouts oneDNN only has a
 * reference implementation for) and `prepare` (state != NULL: memories are
 * bound to the step's buffers once and the primitives are created). `run` and
 * `release` are common to all kernels: a dnnl kernel's state is a
 * dc_dnnl_state, a short list of primitive executions plus an optional cheap
 * C loop afterwards.
 *
 * oneDNN's dnnl_dims_t parameters are 12-element arrays; gcc checks the
 * bound, so pass dnnl_dims_t variables, never shorter arrays. */
#ifndef DC_DNNL_UTIL_H
#define DC_DNNL_UTIL_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

#include "dc_kernel.h"

enum { DC_DNNL_MAX_EXECS = 3, DC_DNNL_MAX_ARGS = 10, DC_DNNL_MAX_MEMS = 16 };

typedef struct dc_dnnl_exec {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[DC_DNNL_MAX_ARGS];
    bool once;  /* run at the first run only (reorder of CONST weights) */
    bool done;
    /* The primitive's scratchpad: a memory over the context's shared one
     * (kernel_context.h), and where it points, to re-point it when that moved. */
    dnnl_memory_t scratchpad;
    void *scratchpad_at;
} dc_dnnl_exec;

typedef struct dc_dnnl_state dc_dnnl_state;
struct dc_dnnl_state {
    const dc_plan_step *step;       /* for errors at run time */
    const dc_kernel_context *ctx;
    int n_exec;
    dc_dnnl_exec exec[DC_DNNL_MAX_EXECS];
    int n_mems;
    dnnl_memory_t mems[DC_DNNL_MAX_MEMS]; /* owned; user-pointer or library-allocated */
    char impl[192];                 /* implementation names for --explain */
    /* Optional C loop after the primitives (LayerNorm: variance -> 1/sqrt(var+eps)). */
    void (*post)(dc_dnnl_state *st);
    float *post_data;
    int64_t post_n;
    float post_eps;
};

/* One argument of a primitive execution: the step's data pointer, an existing
 * memory of the state (`mem`), or neither: a private buffer oneDNN allocates
 * (stats nobody asked for, reordered weights). The memory descriptor is the
 * primitive's own for that argument (dnnl_query_exec_arg_md). */
typedef struct dc_dnnl_bind {
    int arg;
    void *data;
    dnnl_memory_t mem;
} dc_dnnl_bind;

/* The step's validation and primitive creation; see the top of this file. */
typedef dc_status (*dc_dnnl_build_fn)(const dc_kernel_args *a, dc_dnnl_state *st);

/* Turns a failing oneDNN call into a dc_error naming the node, kernel and the
 * call (`what` is cut at its first '('). Status mapping: unimplemented ->
 * DC_ERR_UNSUPPORTED, out_of_memory -> DC_ERR_NOMEM, others -> DC_ERR_INVALID. */
dc_status dc_dnnl_fail(const dc_plan_step *step, dnnl_status_t s, const char *what);

#define DC_DNNL_TRY(a, call)                                                \
    do {                                                                    \
        dnnl_status_t dc_dnnl_s_ = (call);                                  \
        if (dc_dnnl_s_ != dnnl_success)                                     \
            return dc_dnnl_fail((a)->step, dc_dnnl_s_, #call);              \
    } while (0)

/* DC_ERR_UNSUPPORTED with a short reason only: the compiler prints it next
 * to the node with --explain and falls back to the next candidate. */
dc_status dc_dnnl_refuse(const dc_kernel_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* DC_ERR_SHAPE with the same prefix: the plan itself is inconsistent. */
dc_status dc_dnnl_shape_error(const dc_kernel_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Common argument checks: n_inputs in [min_in, max_in] and n_outputs in
 * [min_out, max_out], the first min_in / min_out present (later ones may be
 * omitted, NULL), every present one f32, non-empty and of rank <= max_rank. */
dc_status dc_dnnl_check_args(const dc_kernel_args *a, int min_in, int max_in, int min_out,
                             int max_out, int max_rank);

/* Row-major f32 descriptor; rank 0 is described as [1]. `strides` may be NULL. */
dc_status dc_dnnl_md(const dc_kernel_args *a, dnnl_memory_desc_t *md, int rank,
                     const int64_t *dims, const int64_t *strides);
/* Element count of a buffer (product of dims; 1 for a scalar). */
int64_t dc_dnnl_numel(const dc_plan_buffer *b);
/* "[2,3,4]" into buf (for messages). */
const char *dc_dnnl_dims_str(char *buf, size_t size, int rank, const int64_t *dims);

/* Attributes for a primitive: output scale, post-ops (binary with a src1
 * descriptor, eltwise), always the user scratchpad mode so no run allocates. */
enum { DC_DNNL_MAX_POST = 3 };
typedef struct dc_dnnl_attr {
    float scale; /* 1 = none */
    int n_post;
    struct {
        bool binary;            /* else eltwise */
        dnnl_alg_kind_t alg;
        float alpha, beta;      /* eltwise parameters */
        dnnl_memory_desc_t md;  /* binary src1 */
    } post[DC_DNNL_MAX_POST];
} dc_dnnl_attr;

/* The engine for the step: the context's, or (check with ctx == NULL) a
 * process-wide CPU engine made once. */
dc_status dc_dnnl_engine(const dc_kernel_args *a, dnnl_engine_t *engine);

/* Creates a primitive descriptor for `op_desc` with `attr` (NULL = defaults).
 * Refuses (DC_ERR_UNSUPPORTED) when oneDNN has no implementation or only a
 * reference one ("ref:any"): the c.* kernel is as good there. `what` names
 * the primitive in messages. */
dc_status dc_dnnl_pd(const dc_kernel_args *a, const void *op_desc, const dc_dnnl_attr *attr,
                     const char *what, dnnl_primitive_desc_t *pd);
/* The same for a backward primitive, with the forward's descriptor as hint. */
dc_status dc_dnnl_pd_hint(const dc_kernel_args *a, const void *op_desc, const dc_dnnl_attr *attr,
                          const char *what, const_dnnl_primitive_desc_t hint,
                          dnnl_primitive_desc_t *pd);

/* A reorder primitive descriptor `from` -> `to` (user scratchpad, no ref check). */
dc_status dc_dnnl_reorder_pd(const dc_kernel_args *a, const dnnl_memory_desc_t *from,
                             const dnnl_memory_desc_t *to, dnnl_primitive_desc_t *pd);

/* Adds an execution of the primitive `pd` to the state with the given
 * arguments (plus the scratchpad) and destroys `pd` in every case. With
 * st == NULL (check) only destroys `pd`. `once` marks a CONST-only reorder. */
dc_status dc_dnnl_add(const dc_kernel_args *a, dc_dnnl_state *st, dnnl_primitive_desc_t pd,
                      const dc_dnnl_bind *binds, int n_binds, bool once);

/* A memory owned by the state: over `data`, or library-allocated if NULL. */
dc_status dc_dnnl_memory(const dc_kernel_args *a, dc_dnnl_state *st,
                         const dnnl_memory_desc_t *md, void *data, dnnl_memory_t *out);

/* check / prepare around a build function, and the common run / release. */
dc_status dc_dnnl_check(const dc_kernel_args *a, dc_dnnl_build_fn build);
dc_status dc_dnnl_prepare(const dc_kernel_args *a, dc_dnnl_build_fn build, void **state);
dc_status dc_dnnl_run(void *state);
void dc_dnnl_release(void *state);

/* The oneDNN implementation(s) a prepared dnnl.* state runs, e.g. "gemm:jit"
 * or "reorder jit:uni + x64:gemm:jit", for `dinoc compile --explain`/profiles. */
const char *dc_dnnl_describe(void *state);

/* Defines `const dc_kernel var` named `name` for `op` around `build`. */
#define DC_DNNL_KERNEL(var, name, op, build)                                          \
    static dc_status var##_check(const dc_kernel_args *a) { return dc_dnnl_check(a, build); } \
    static dc_status var##_prepare(const dc_kernel_args *a, void **state)             \
    {                                                                                 \
        return dc_dnnl_prepare(a, build, state);                                      \
    }                                                                                 \
    const dc_kernel var = {name, op, var##_check, var##_prepare, dc_dnnl_run, dc_dnnl_release,  \
                           dc_dnnl_describe};

#endif
