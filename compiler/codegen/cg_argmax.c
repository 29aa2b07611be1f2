/* ArgMax and ArgMin along one axis, f32, f64 and integers, as c.ArgMax:
 *
 *   X[outer, len, inner] -> Y[outer, (1,) inner] int64
 *
 * the first position of the extreme (the last with select_last_index); a
 * NaN wins and the first NaN stays. One iteration per (o, column block): a
 * block is one vector of the target's width of the inner columns, each lane
 * scanning its own column down the axis, or one tail column; with inner = 1
 * a block is the one column. Every output element is one iteration's, so
 * any split gives the same result. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

typedef struct arg_shape {
    int64_t outer, len, inner;
    dc_dtype t;
    bool is_max, last;
} arg_shape;

static bool is_signed(dc_dtype t)
{
    return t == DC_I8 || t == DC_I16 || t == DC_I32 || t == DC_I64;
}

static bool is_unsigned(dc_dtype t)
{
    return t == DC_U8 || t == DC_U16 || t == DC_U32 || t == DC_U64;
}

static const char *arg_check(const dc_plan *p, const dc_plan_step *st, arg_shape *sh, char *buf,
                             size_t cap)
{
    const dc_plan_buffer *X = cg_buffer(p, st, 0), *Y = cg_buffer(p, st, 1);
    if (st->n_inputs != 1 || st->n_outputs != 1 || !X || !Y || X->rank < 1 ||
        Y->dtype != DC_I64) {
        snprintf(buf, cap, "%s: arguments do not fit the op", st->op_type);
        return buf;
    }
    if (X->dtype != DC_F32 && X->dtype != DC_F64 && !is_signed(X->dtype) &&
        !is_unsigned(X->dtype)) {
        snprintf(buf, cap, "%s: element type %s is not generated", st->op_type,
                 dc_dtype_name(X->dtype));
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", 0);
    axis = axis < 0 ? axis + X->rank : axis;
    if (axis < 0 || axis >= X->rank || X->dims[axis] == 0) {
        snprintf(buf, cap, "%s: axis out of range or empty", st->op_type);
        return buf;
    }
    *sh = (arg_shape){1, X->dims[axis], 1, X->dtype, strcmp(st->op_type, "ArgMax") == 0,
                      dc_step_int(st, "select_last_index", 0) != 0};
    for (int d = 0; d < X->rank; d++) {
        if (d < axis)
            sh->outer *= X->dims[d];
        if (d > axis)
            sh->inner *= X->dims[d];
    }
    if (cg_numel(Y) != sh->outer * sh->inner) {
        snprintf(buf, cap, "%s: the output does not hold one index per column", st->op_type);
        return buf;
    }
    return NULL;
}

static const char *arg_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    arg_shape sh;
    return arg_check(p, st, &sh, buf, cap);
}

static LLVMTypeRef elem_type(dc_codegen *cg, dc_dtype t)
{
    if (t == DC_F32)
        return cg->f32;
    if (t == DC_F64)
        return LLVMDoubleTypeInContext(cg->ctx);
    return LLVMIntTypeInContext(cg->ctx, (unsigned)(8 * dc_dtype_size(t)));
}

static LLVMValueRef load(dc_codegen *cg, LLVMTypeRef e, LLVMTypeRef t, LLVMValueRef base,
                         LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, LLVMBuildInBoundsGEP2(cg->b, e, base, &i, 1, ""), "");
    LLVMSetAlignment(v, 1);
    return v;
}

/* Whether v replaces best, lane by lane (c.ArgMax's test). */
static LLVMValueRef replaces(dc_codegen *cg, const arg_shape *sh, LLVMValueRef v,
                             LLVMValueRef best)
{
    LLVMBuilderRef B = cg->b;
    if (sh->t == DC_F32 || sh->t == DC_F64) {
        LLVMValueRef better = LLVMBuildFCmp(B, sh->is_max ? LLVMRealOGT : LLVMRealOLT, v, best, "");
        LLVMValueRef take = LLVMBuildOr(B, better, LLVMBuildFCmp(B, LLVMRealUNO, v, v, ""), "");
        if (sh->last)
            take = LLVMBuildOr(B, take, LLVMBuildFCmp(B, LLVMRealOEQ, v, best, ""), "");
        /* Once best is NaN it stays. */
        return LLVMBuildAnd(B, take, LLVMBuildFCmp(B, LLVMRealORD, best, best, ""), "");
    }
    bool s = is_signed(sh->t);
    LLVMIntPredicate gt = s ? LLVMIntSGT : LLVMIntUGT, lt = s ? LLVMIntSLT : LLVMIntULT;
    LLVMIntPredicate cmp = sh->is_max ? (sh->last ? (s ? LLVMIntSGE : LLVMIntUGE) : gt)
                                      : (sh->last ? (s ? LLVMIntSLE : LLVMIntULE) : lt);
    return LLVMBuildICmp(B, cmp, v, best, "");
}

/* Columns [i, i + lanes) of slab o. */
static void emit_columns(dc_codegen *cg, const arg_shape *sh, int lanes, LLVMValueRef X,
                         LLVMValueRef Y, LLVMValueRef o, LLVMValueRef i)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef e = elem_type(cg, sh->t), t = lanes == 1 ? e : LLVMVectorType(e, (unsigned)lanes);
    LLVMTypeRef it = lanes == 1 ? cg->i64 : LLVMVectorType(cg->i64, (unsigned)lanes);
    LLVMValueRef base = LLVMBuildAdd(B, LLVMBuildMul(B, o, cg_i64(cg, sh->len * sh->inner), ""),
                                     i, "");
    LLVMValueRef first = load(cg, e, t, X, base);
    cg_loop ll;
    LLVMValueRef l = cg_loop_begin(cg, &ll, cg_i64(cg, 1), cg_i64(cg, sh->len), 1);
    LLVMValueRef best = cg_loop_carry(cg, &ll, first);
    LLVMValueRef at = cg_loop_carry(cg, &ll, LLVMConstNull(it));
    LLVMValueRef v = load(cg, e, t, X,
                          LLVMBuildAdd(B, base, LLVMBuildMul(B, l, cg_i64(cg, sh->inner), ""), ""));
    LLVMValueRef take = replaces(cg, sh, v, best);
    LLVMValueRef next[2] = {LLVMBuildSelect(B, take, v, best, ""),
                            LLVMBuildSelect(B, take, cg_splat(cg, it, l), at, "")};
    cg_loop_end(cg, &ll, next);
    LLVMValueRef y_at = LLVMBuildAdd(B, LLVMBuildMul(B, o, cg_i64(cg, sh->inner), ""), i, "");
    LLVMSetAlignment(LLVMBuildStore(B, cg_loop_final(&ll, 1),
                                    LLVMBuildInBoundsGEP2(B, cg->i64, Y, &y_at, 1, "")),
                     8);
}

static dc_status arg_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                          const char *symbol, int64_t *extent)
{
    arg_shape sh;
    char buf[200];
    arg_check(p, st, &sh, buf, sizeof buf);
    int w = sh.inner > 1 ? cg->width : 1;
    int64_t full = sh.inner / w, blocks = full + sh.inner % w;
    *extent = sh.outer * blocks;
    blocks = blocks ? blocks : 1; /* no division by 0 in code that never runs */
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, 1);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    LLVMValueRef o = LLVMBuildUDiv(B, it, cg_i64(cg, blocks), "");
    LLVMValueRef blk = LLVMBuildURem(B, it, cg_i64(cg, blocks), "");
    if (w == 1) {
        emit_columns(cg, &sh, 1, X, Y, o, blk);
    } else {
        LLVMBasicBlockRef vec_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "vector");
        LLVMBasicBlockRef one_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "single");
        LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, blk, cg_i64(cg, full), ""), vec_bb, one_bb);
        LLVMPositionBuilderAtEnd(B, vec_bb);
        emit_columns(cg, &sh, w, X, Y, o, LLVMBuildMul(B, blk, cg_i64(cg, w), ""));
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, one_bb);
        emit_columns(cg, &sh, 1, X, Y, o, LLVMBuildAdd(B, blk, cg_i64(cg, full * w - full), ""));
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, next_bb);
    }
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_argmax_families[] = {
    {"ArgMax", arg_refusal, arg_emit, false, NULL},
    {"ArgMin", arg_refusal, arg_emit, false, NULL},
};
const int cg_n_argmax_families = 2;
