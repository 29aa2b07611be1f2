/* What the files of the code generator share: the generator's state and
 * small IR-building helpers (cg_ir.c). Not a public header. */
#ifndef DC_CG_INTERNAL_H
#define DC_CG_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>

#include "codegen.h"

struct dc_codegen {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    char *triple, *cpu, *features; /* LLVM spelling: "+avx2,+fma,..." */
    char *target_name;             /* "x86-64-v3", "native (znver3)" */
    char *gcc_features;            /* "sse4.2,popcnt,avx,..." */
    int width;                     /* floats per vector */
    bool optimized;
    /* Types used everywhere. */
    LLVMTypeRef f32, i1, i32, i64, ptr, void_t;
    /* The function being built: its args pointer. */
    LLVMValueRef fn, args;
};

/* Target selection (cg_target.c): fills triple, cpu, features, names, width. */
dc_status cg_target_init(dc_codegen *cg, const char *target);

/* ---- helpers (cg_ir.c) ---- */

/* <width x float>, or float for width 1; the i32 type with the same lanes. */
LLVMTypeRef cg_vec(dc_codegen *cg, int width);
LLVMTypeRef cg_int_like(dc_codegen *cg, LLVMTypeRef t);
/* <width x double> (double for width 1), and a float value widened to it. */
LLVMTypeRef cg_vec_f64(dc_codegen *cg, int width);
LLVMValueRef cg_to_f64(dc_codegen *cg, LLVMValueRef v);
int cg_lanes(LLVMTypeRef t);
/* A float or double constant of type t (splat for a vector), an integer
 * constant of t. */
LLVMValueRef cg_f(dc_codegen *cg, LLVMTypeRef t, double v);
LLVMValueRef cg_i(dc_codegen *cg, LLVMTypeRef t, long long v);
LLVMValueRef cg_i64(dc_codegen *cg, int64_t v);
/* A scalar broadcast to type t (t scalar: v itself). */
LLVMValueRef cg_splat(dc_codegen *cg, LLVMTypeRef t, LLVMValueRef v);
/* An overloaded intrinsic on type t: "llvm.fmuladd", "llvm.fabs", "llvm.sqrt",
 * "llvm.minnum", "llvm.maxnum", "llvm.rint", "llvm.floor". */
LLVMValueRef cg_call(dc_codegen *cg, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n);
LLVMValueRef cg_fma(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef cg_min(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_max(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b);
/* The sum / max of the lanes of a vector (a scalar is returned as is). */
LLVMValueRef cg_reduce_add(dc_codegen *cg, LLVMValueRef v);
LLVMValueRef cg_reduce_max(dc_codegen *cg, LLVMValueRef v);

/* Kernel function `void symbol(ptr args, i64 begin, i64 end)`; leaves the
 * builder in its entry block and sets *begin, *end. */
void cg_kernel_begin(dc_codegen *cg, const char *symbol, LLVMValueRef *begin, LLVMValueRef *end);
void cg_kernel_end(dc_codegen *cg);
/* Any exported function of type fty whose first parameter is the args
 * pointer (the kernels, the index checks): the target's attributes, the
 * builder in its entry block. */
void cg_function_begin(dc_codegen *cg, const char *symbol, LLVMTypeRef fty);
/* The data pointer of argument i (args[i]). */
LLVMValueRef cg_arg(dc_codegen *cg, int i);
/* &base[index] for a float pointer and an i64 index. */
LLVMValueRef cg_at(dc_codegen *cg, LLVMValueRef base, LLVMValueRef index);
/* Loads/stores a value of type t (unaligned beyond the element). */
LLVMValueRef cg_load(dc_codegen *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef index);
void cg_store(dc_codegen *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index);

/* A counted loop `for (i = from; i + step <= to; i += step)` (step 1: i < to).
 * cg_loop_begin leaves the builder in the body and returns i; cg_loop_end
 * closes the body and leaves the builder after the loop. Loops nest. Values
 * that live across iterations use cg_loop_carry before the body's code. */
typedef struct cg_loop {
    LLVMBasicBlockRef header, body, exit, pre;
    LLVMValueRef i, step;
    int n_carry;
    LLVMValueRef carry[8];
} cg_loop;
LLVMValueRef cg_loop_begin(dc_codegen *cg, cg_loop *l, LLVMValueRef from, LLVMValueRef to,
                           int64_t step);
/* A value carried from one iteration to the next: its phi (the value in
 * this iteration); cg_loop_end takes the next iteration's values in order. */
LLVMValueRef cg_loop_carry(dc_codegen *cg, cg_loop *l, LLVMValueRef init);
/* After the loop: the final value of the i-th carried value. */
void cg_loop_end(dc_codegen *cg, cg_loop *l, const LLVMValueRef *next_carry);
LLVMValueRef cg_loop_final(cg_loop *l, int k);
/* The last index the loop did not reach (for a tail loop): from + step*count. */
LLVMValueRef cg_loop_next_index(cg_loop *l);

/* A pass over a row of n elements: body(t, i, acc) for full vectors of the
 * target's width, then element by element (t = float), continuing from the
 * vector accumulator's lanes reduced to one. The accumulator is f32 (sum or
 * max) or double (ACC_SUM64: body gets <width x double> / double); body
 * returns the new accumulator, or NULL with ACC_NONE. Returns the final
 * scalar (NULL with ACC_NONE). */
typedef enum cg_acc_kind { ACC_NONE, ACC_SUM, ACC_MAX, ACC_SUM64 } cg_acc_kind;
typedef LLVMValueRef (*cg_pass_body)(dc_codegen *cg, void *ctx, LLVMTypeRef t, LLVMValueRef i,
                                     LLVMValueRef acc);
LLVMValueRef cg_row_pass(dc_codegen *cg, int64_t n, cg_acc_kind kind, cg_pass_body body,
                         void *ctx);

/* ---- f32 math as IR (cg_math.c): vectorisable, no libm calls ---- */
LLVMValueRef cg_exp(dc_codegen *cg, LLVMValueRef x);
LLVMValueRef cg_log(dc_codegen *cg, LLVMValueRef x);
LLVMValueRef cg_erf(dc_codegen *cg, LLVMValueRef x);
LLVMValueRef cg_tanh(dc_codegen *cg, LLVMValueRef x);
LLVMValueRef cg_sigmoid(dc_codegen *cg, LLVMValueRef x);

/* ---- numpy broadcasting (cg_broadcast.c) ---- */

enum { CG_MAX_BCAST_INPUTS = 64 };
/* The output's dims merged where every input walks two adjacent dims as one,
 * leaving [outer rows, inner]; strides in elements, 0 = broadcast. */
typedef struct cg_bcast {
    int rank, n_in;
    int64_t dims[DC_MAX_RANK];
    int64_t strides[CG_MAX_BCAST_INPUTS][DC_MAX_RANK]; /* [input][dim] */
    int64_t inner, outer;
} cg_bcast;
/* The layout of a step's inputs broadcast to its one output, whatever their
 * dtypes; NULL, or why not. */
const char *cg_bcast_shape(const dc_plan *p, const dc_plan_step *st, cg_bcast *sh, char *buf,
                           size_t cap);
/* Tile `tile` of the rows cut in tiles of at most tile_size elements: its
 * row and its columns [c0, c1). */
void cg_bcast_tile(dc_codegen *cg, const cg_bcast *sh, int64_t tile_size, LLVMValueRef tile,
                   LLVMValueRef *row, LLVMValueRef *c0, LLVMValueRef *c1);
/* Each input's element offset at the start of output row `row`. */
void cg_bcast_row_offsets(dc_codegen *cg, const cg_bcast *sh, LLVMValueRef row, LLVMValueRef *off);

/* ---- indices into an axis (cg_index.c) ---- */

/* The index check of a step whose family has index_check is the function
 * SYMBOL_check (cg_index.c says what it returns). */
#define CG_INDEX_CHECK_SUFFIX "_check"
/* indices[j] (i32 or i64) as i64; v < 0 ? v + n : v; whether a wrapped
 * index is in [0, n). */
LLVMValueRef cg_load_index(dc_codegen *cg, LLVMValueRef base, LLVMValueRef j, bool i64);
LLVMValueRef cg_wrap_index(dc_codegen *cg, LLVMValueRef v, int64_t n);
LLVMValueRef cg_index_in_range(dc_codegen *cg, LLVMValueRef wrapped, int64_t n);
/* Emits KERNEL_SYMBOL_check for indices args[idx_arg] of `count` elements
 * into an axis of length n. */
void cg_emit_index_check(dc_codegen *cg, const char *kernel_symbol, int idx_arg, int64_t count,
                         bool i64, int64_t n);

/* ---- kernels: one family per file ---- */

/* Why a step of this family cannot be generated (NULL: it can), and its
 * generator. */
typedef struct cg_family {
    const char *op_type;
    const char *(*refusal)(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap);
    dc_status (*emit)(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                      const char *symbol, int64_t *extent);
    /* The emitter also makes SYMBOL_check (cg_index.c), which the step names
     * in its llvm_index_check attribute. */
    bool index_check;
    /* Bytes of scratch each calling thread passes after the arguments
     * (llvm_scratch, dc_artifact.h); NULL: none. */
    int64_t (*scratch)(const dc_plan *p, const dc_plan_step *st);
} cg_family;

extern const cg_family cg_eltwise_families[];
extern const int cg_n_eltwise_families;
extern const cg_family cg_training_families[];
extern const int cg_n_training_families;
extern const cg_family cg_reduce_families[];
extern const int cg_n_reduce_families;
extern const cg_family cg_norm_grad_families[];
extern const int cg_n_norm_grad_families;
extern const cg_family cg_reduce_axes_families[];
extern const int cg_n_reduce_axes_families;
extern const cg_family cg_copy_families[];
extern const int cg_n_copy_families;
extern const cg_family cg_join_families[];
extern const int cg_n_join_families;
extern const cg_family cg_typed_eltwise_families[];
extern const int cg_n_typed_eltwise_families;
extern const cg_family cg_argmax_families[];
extern const int cg_n_argmax_families;
extern const cg_family cg_gather_families[];
extern const int cg_n_gather_families;
extern const cg_family cg_scatter_families[];
extern const int cg_n_scatter_families;
extern const cg_family cg_attention_families[];
extern const int cg_n_attention_families;

/* Add, Sub, Mul, Div on other types than f32 are cg_typed_eltwise.c's: whether
 * this step is one, its refusal and emitter (cg_eltwise.c hands them over). */
bool cg_typed_eltwise_wants(const dc_plan *p, const dc_plan_step *st);
const char *cg_typed_eltwise_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                     size_t cap);
dc_status cg_typed_eltwise_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                                const char *symbol, int64_t *extent);

/* Whether the generated kernel of op_type comes with an index check. */
bool cg_has_index_check(const char *op_type);

/* The buffer of a step's argument (NULL if omitted or out of range). */
const dc_plan_buffer *cg_buffer(const dc_plan *p, const dc_plan_step *st, int arg);
int64_t cg_numel(const dc_plan_buffer *b);

#endif
