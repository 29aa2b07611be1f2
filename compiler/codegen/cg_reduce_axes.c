/* ReduceSum and ReduceMean over axes, f32, sums in double (as the C kernels).
 *
 *   X[...] -> Y[X's shape without `axes`, or with them kept as 1]
 *
 * With size-1 dims dropped and neighbours of the same kind merged, X must be
 * [A kept, R reduced, D kept] (any part may be 1): the bias gradients
 * ([B·N, C] -> [C]) and the row sums ([rows, n] -> [rows]) of a training step
 * are. Kept-reduced-kept-reduced patterns are refused.
 *   D == 1: one iteration per a, the R contiguous elements summed in vectors;
 *   D > 1:  one iteration per (a, column block), a block being one vector of
 *           the target's width or one tail column, summed down the R rows.
 * Every output element is one iteration's, so any split gives the same result. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

typedef struct axes_shape {
    int64_t A, R, D, count; /* count: elements summed per output (R) */
} axes_shape;

static const char *axes_check(const dc_plan *p, const dc_plan_step *st, axes_shape *sh, char *buf,
                              size_t cap)
{
    const dc_plan_buffer *X = cg_buffer(p, st, 0), *Y = cg_buffer(p, st, st->n_inputs);
    if (st->n_inputs < 1 || st->n_inputs > 2 || st->n_outputs != 1 || !X || !Y ||
        X->dtype != DC_F32 || Y->dtype != DC_F32) {
        snprintf(buf, cap, "%s: generated for f32 only", st->op_type);
        return buf;
    }
    int n_axes;
    const int64_t *axes = dc_step_ints(st, "axes", &n_axes);
    if (n_axes == 0 && dc_step_int(st, "noop_with_empty_axes", 0)) {
        snprintf(buf, cap, "%s: an empty axes list that is a copy", st->op_type);
        return buf;
    }
    bool reduced[DC_MAX_RANK] = {0};
    for (int d = 0; d < X->rank; d++)
        reduced[d] = n_axes == 0;
    for (int i = 0; i < n_axes; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + X->rank : axes[i];
        if (a < 0 || a >= X->rank) {
            snprintf(buf, cap, "%s: axis %lld out of range", st->op_type, (long long)axes[i]);
            return buf;
        }
        reduced[a] = true;
    }
    /* Walk the dims, skipping size 1: kept* reduced* kept* only. */
    int phase = 0; /* 0: leading kept, 1: reduced, 2: trailing kept */
    *sh = (axes_shape){1, 1, 1, 1};
    for (int d = 0; d < X->rank; d++) {
        int64_t n = X->dims[d];
        if (n == 1)
            continue;
        if (reduced[d]) {
            if (phase == 2) {
                snprintf(buf, cap, "%s: reduced axes separated by kept ones", st->op_type);
                return buf;
            }
            phase = 1;
            sh->R *= n;
        } else if (phase == 0) {
            sh->A *= n;
        } else {
            phase = 2;
            sh->D *= n;
        }
    }
    for (int d = 0; d < X->rank; d++)
        if (X->dims[d] == 0) {
            snprintf(buf, cap, "%s: an empty input", st->op_type);
            return buf;
        }
    if (cg_numel(Y) != sh->A * sh->D) {
        snprintf(buf, cap, "%s: the output does not hold the kept elements", st->op_type);
        return buf;
    }
    sh->count = sh->R;
    return NULL;
}

static const char *axes_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    axes_shape sh;
    return axes_check(p, st, &sh, buf, cap);
}

typedef struct sum_ctx {
    LLVMValueRef x;
} sum_ctx;

static LLVMValueRef add_x(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i, LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_to_f64(cg, cg_load(cg, t, ((sum_ctx *)c)->x, i)), "");
}

/* The double sum (of type t's lanes) as the output's f32, divided for a mean. */
static LLVMValueRef finish(dc_codegen *cg, LLVMValueRef sum, bool mean, int64_t count,
                           LLVMTypeRef t)
{
    if (mean)
        sum = LLVMBuildFDiv(cg->b, sum, cg_f(cg, LLVMTypeOf(sum), (double)count), "");
    return LLVMBuildFPTrunc(cg->b, sum, t, "");
}

/* Columns [j, j + lanes of t) of slab a, summed down its R rows. */
static void emit_columns(dc_codegen *cg, const axes_shape *sh, bool mean, LLVMTypeRef t,
                         LLVMValueRef X, LLVMValueRef Y, LLVMValueRef a, LLVMValueRef j)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef base = LLVMBuildAdd(B, LLVMBuildMul(B, a, cg_i64(cg, sh->R * sh->D), ""), j, "");
    cg_loop rl;
    LLVMValueRef r = cg_loop_begin(cg, &rl, cg_i64(cg, 0), cg_i64(cg, sh->R), 1);
    LLVMValueRef acc = cg_loop_carry(cg, &rl, cg_f(cg, cg_vec_f64(cg, cg_lanes(t)), 0.0));
    LLVMValueRef at = LLVMBuildAdd(B, base, LLVMBuildMul(B, r, cg_i64(cg, sh->D), ""), "");
    LLVMValueRef next = LLVMBuildFAdd(B, acc, cg_to_f64(cg, cg_load(cg, t, X, at)), "");
    cg_loop_end(cg, &rl, &next);
    LLVMValueRef y_at = LLVMBuildAdd(B, LLVMBuildMul(B, a, cg_i64(cg, sh->D), ""), j, "");
    cg_store(cg, finish(cg, cg_loop_final(&rl, 0), mean, sh->count, t), Y, y_at);
}

static dc_status axes_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                           const char *symbol, int64_t *extent)
{
    axes_shape sh;
    char buf[200];
    axes_check(p, st, &sh, buf, sizeof buf);
    bool mean = strcmp(st->op_type, "ReduceMean") == 0;
    int64_t full = sh.D / cg->width, blocks = full + sh.D % cg->width;
    *extent = sh.D == 1 ? sh.A : sh.A * blocks;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, st->n_inputs);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    if (sh.D == 1) {
        sum_ctx c = {cg_at(cg, X, LLVMBuildMul(B, it, cg_i64(cg, sh.R), ""))};
        LLVMValueRef sum = cg_row_pass(cg, sh.R, ACC_SUM64, add_x, &c);
        cg_store(cg, finish(cg, sum, mean, sh.count, cg->f32), Y, it);
    } else {
        LLVMValueRef a = LLVMBuildUDiv(B, it, cg_i64(cg, blocks), "");
        LLVMValueRef blk = LLVMBuildURem(B, it, cg_i64(cg, blocks), "");
        LLVMBasicBlockRef vec_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "vector");
        LLVMBasicBlockRef one_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "single");
        LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, blk, cg_i64(cg, full), ""), vec_bb, one_bb);
        LLVMPositionBuilderAtEnd(B, vec_bb);
        emit_columns(cg, &sh, mean, cg_vec(cg, cg->width), X, Y, a,
                     LLVMBuildMul(B, blk, cg_i64(cg, cg->width), ""));
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, one_bb);
        emit_columns(cg, &sh, mean, cg->f32, X, Y, a,
                     LLVMBuildAdd(B, blk, cg_i64(cg, full * cg->width - full), ""));
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, next_bb);
    }
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_reduce_axes_families[] = {
    {"ReduceSum", axes_refusal, axes_emit},
    {"ReduceMean", axes_refusal, axes_emit},
};
const int cg_n_reduce_axes_families = 2;
