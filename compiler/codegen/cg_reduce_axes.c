/* ReduceSum and ReduceMean over any axes, f32, sums in double (as the C
 * kernels).
 *
 *   X[...] -> Y[X's shape without `axes`, or with them kept as 1]
 *
 * Size-1 dims are dropped and neighbours of the same kind merged, as
 * c.ReduceSum does, leaving groups of kept and of reduced dims in any order
 * (the bias gradients [B·N, C] -> [C], the row sums [rows, n] -> [rows], and
 * reduced axes separated by kept ones, [A, R1, K, R2] -> [A, K]).
 *   X's innermost dim reduced: one iteration per output element; the
 *     innermost reduced group is a contiguous row summed in vectors, the
 *     other reduced groups one loop each around it;
 *   X's innermost dim kept (D columns): one iteration per (slab of the outer
 *     kept groups, column block), a block being one vector of the target's
 *     width or one tail column, summed over every reduced position.
 * Every output element is one iteration's, so any split gives the same result. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

typedef struct axes_shape {
    int nk, nr; /* groups of kept and of reduced dims, outermost first */
    int64_t kdim[DC_MAX_RANK], kstride[DC_MAX_RANK], rdim[DC_MAX_RANK], rstride[DC_MAX_RANK];
    int64_t out_n, count; /* outputs, elements summed per output */
    bool columns;         /* X's innermost dim is kept (else reduced) */
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
        /* Merge neighbouring dims of the same kind, dropping those of 1 (as
     * c.ReduceSum does): groups of kept and of reduced dims. */
    *sh = (axes_shape){.out_n = 1, .count = 1};
    int64_t stride[DC_MAX_RANK], size = 1;
    for (int d = X->rank - 1; d >= 0; d--) {
        stride[d] = size;
        size *= X->dims[d];
    }
    int last = -1; /* 0 kept, 1 reduced */
    for (int d = 0; d < X->rank; d++) {
        if (X->dims[d] == 0) {
            snprintf(buf, cap, "%s: an empty input", st->op_type);
            return buf;
        }
        if (X->dims[d] == 1)
            continue;
        int r = reduced[d];
        int64_t *dim = r ? sh->rdim : sh->kdim, *str = r ? sh->rstride : sh->kstride;
        int *n = r ? &sh->nr : &sh->nk;
        if (last == r) {
            dim[*n - 1] *= X->dims[d];
            str[*n - 1] = stride[d];
        } else {
            dim[*n] = X->dims[d];
            str[*n] = stride[d];
            (*n)++;
        }
        last = r;
        *(r ? &sh->count : &sh->out_n) *= X->dims[d];
    }
    /* The last dim of X that is not 1: kept (columns) or reduced (rows). */
    sh->columns = last != 1;
    if (cg_numel(Y) != sh->out_n) {
        snprintf(buf, cap, "%s: the output does not hold the kept elements", st->op_type);
        return buf;
    }
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

/* X's offset of kept position o of the kept groups [0, groups). */
static LLVMValueRef kept_offset(dc_codegen *cg, const axes_shape *sh, int groups, LLVMValueRef o)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef off = cg_i64(cg, 0), rest = o;
    for (int k = groups - 1; k >= 0; k--) {
        LLVMValueRef idx = LLVMBuildURem(B, rest, cg_i64(cg, sh->kdim[k]), "");
        rest = LLVMBuildUDiv(B, rest, cg_i64(cg, sh->kdim[k]), "");
        off = LLVMBuildAdd(B, off, LLVMBuildMul(B, idx, cg_i64(cg, sh->kstride[k]), ""), "");
    }
    return off;
}

/* What is summed at the innermost level: the elements (of type t) at an
 * offset, or (row) the L contiguous elements from it, in vectors. */
typedef struct sum_leaf {
    bool row;
    LLVMTypeRef t;
    LLVMValueRef x;
    int64_t L;
} sum_leaf;

/* acc + the sum over the reduced groups [level, upto) from offset off, one
 * loop per group (the C kernel's order: the innermost group summed alone
 * for rows, then added). */
static LLVMValueRef sum_groups(dc_codegen *cg, const axes_shape *sh, const sum_leaf *leaf,
                               int level, int upto, LLVMValueRef off, LLVMValueRef acc)
{
    LLVMBuilderRef B = cg->b;
    if (level == upto) {
        if (!leaf->row)
            return LLVMBuildFAdd(B, acc, cg_to_f64(cg, cg_load(cg, leaf->t, leaf->x, off)), "");
        sum_ctx c = {cg_at(cg, leaf->x, off)};
        return LLVMBuildFAdd(B, acc, cg_row_pass(cg, leaf->L, ACC_SUM64, add_x, &c), "");
    }
    cg_loop l;
    LLVMValueRef r = cg_loop_begin(cg, &l, cg_i64(cg, 0), cg_i64(cg, sh->rdim[level]), 1);
    LLVMValueRef a = cg_loop_carry(cg, &l, acc);
    LLVMValueRef at = LLVMBuildAdd(B, off, LLVMBuildMul(B, r, cg_i64(cg, sh->rstride[level]), ""),
                                   "");
    LLVMValueRef next = sum_groups(cg, sh, leaf, level + 1, upto, at, a);
    cg_loop_end(cg, &l, &next);
    return cg_loop_final(&l, 0);
}

/* Columns [j, j + lanes of t) of kept slab a (the kept groups but the last),
 * summed over every reduced position. */
static void emit_columns(dc_codegen *cg, const axes_shape *sh, bool mean, LLVMTypeRef t,
                         LLVMValueRef X, LLVMValueRef Y, LLVMValueRef a, LLVMValueRef j, int64_t D)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef base = LLVMBuildAdd(B, kept_offset(cg, sh, sh->nk - 1, a), j, "");
    sum_leaf leaf = {false, t, X, 1};
    LLVMValueRef sum = sum_groups(cg, sh, &leaf, 0, sh->nr, base,
                                  cg_f(cg, cg_vec_f64(cg, cg_lanes(t)), 0.0));
    LLVMValueRef y_at = LLVMBuildAdd(B, LLVMBuildMul(B, a, cg_i64(cg, D), ""), j, "");
    cg_store(cg, finish(cg, sum, mean, sh->count, t), Y, y_at);
}

static dc_status axes_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                           const char *symbol, int64_t *extent)
{
    axes_shape sh;
    char buf[200];
    axes_check(p, st, &sh, buf, sizeof buf);
    bool mean = strcmp(st->op_type, "ReduceMean") == 0;
    int64_t D = sh.columns && sh.nk ? sh.kdim[sh.nk - 1] : 1;
    int64_t full = D / cg->width, blocks = full + D % cg->width;
    *extent = sh.columns ? sh.out_n / D * blocks : sh.out_n;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, st->n_inputs);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    if (!sh.columns) {
        /* X's innermost dim is reduced: it is the row summed in vectors. */
        sum_leaf leaf = {true, cg->f32, X, sh.rdim[sh.nr - 1]};
        LLVMValueRef sum = sum_groups(cg, &sh, &leaf, 0, sh.nr - 1, kept_offset(cg, &sh, sh.nk, it),
                                      cg_f(cg, cg_vec_f64(cg, 1), 0.0));
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
                     LLVMBuildMul(B, blk, cg_i64(cg, cg->width), ""), D);
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, one_bb);
        emit_columns(cg, &sh, mean, cg->f32, X, Y, a,
                     LLVMBuildAdd(B, blk, cg_i64(cg, full * cg->width - full), ""), D);
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, next_bb);
    }
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_reduce_axes_families[] = {
    {"ReduceSum", axes_refusal, axes_emit, false, NULL},
    {"ReduceMean", axes_refusal, axes_emit, false, NULL},
};
const int cg_n_reduce_axes_families = 2;
