/* Gather along any axis, any element type (rows are moved as bytes), i32 or
 * i64 indices, a negative index counting from the end (as c.Gather).
 *
 *   data[pre..., n, post...], indices[I...] -> Y[pre..., I..., post...]
 *   Y[o, j, :] = data[o, wrap(indices[j]), :]     (o: pre, j: I, rows of post)
 *
 * A row of `post` is row_bytes contiguous bytes in both tensors, moved in
 * units of the widest integer (8, 4, 2 or 1 bytes) that divides it: vectors
 * of one register, then unit by unit. The parallel dimension is (o, block of
 * JB indices): extent = pre · ceil(count / JB), a block moving about BLOCK
 * bytes. An index out of [-n, n) is reported by the step's index check
 * (cg_index.c) before the kernel runs; the kernel itself writes a row of
 * zeros for it and never reads outside data. Y never overlaps data or
 * indices (c.Gather's output is never planned in place). */
#include <stdio.h>

#include "cg_internal.h"

enum { BLOCK = 16384 };

typedef struct gather_shape {
    int64_t pre, n, count, row_bytes, jb, blocks;
    bool i64;
} gather_shape;

static const char *gather_check(const dc_plan *p, const dc_plan_step *st, gather_shape *sh,
                                char *buf, size_t cap)
{
    const dc_plan_buffer *D = cg_buffer(p, st, 0), *I = cg_buffer(p, st, 1),
                         *Y = cg_buffer(p, st, 2);
    if (st->n_inputs != 2 || st->n_outputs != 1 || !D || !I || !Y || D->rank < 1 ||
        (I->dtype != DC_I32 && I->dtype != DC_I64) || Y->dtype != D->dtype) {
        snprintf(buf, cap, "Gather: arguments do not fit the op (i32 or i64 indices)");
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", 0);
    axis = axis < 0 ? axis + D->rank : axis;
    if (axis < 0 || axis >= D->rank || D->rank - 1 + I->rank != Y->rank) {
        snprintf(buf, cap, "Gather: axis or output rank do not fit the data");
        return buf;
    }
    int64_t want[2 * DC_MAX_RANK];
    int r = 0;
    for (int d = 0; d < axis; d++)
        want[r++] = D->dims[d];
    for (int d = 0; d < I->rank; d++)
        want[r++] = I->dims[d];
    for (int d = (int)axis + 1; d < D->rank; d++)
        want[r++] = D->dims[d];
    for (int d = 0; d < r; d++)
        if (want[d] != Y->dims[d]) {
            snprintf(buf, cap, "Gather: the output's shape is not the op's");
            return buf;
        }
    *sh = (gather_shape){.pre = 1, .n = D->dims[axis], .count = cg_numel(I),
                         .row_bytes = (int64_t)dc_dtype_size(D->dtype),
                         .i64 = I->dtype == DC_I64};
    for (int d = 0; d < D->rank; d++) {
        if (d < axis)
            sh->pre *= D->dims[d];
        if (d > axis)
            sh->row_bytes *= D->dims[d];
    }
    int64_t jb = sh->row_bytes ? BLOCK / sh->row_bytes : sh->count;
    jb = jb < 1 ? 1 : jb > sh->count ? sh->count : jb;
    sh->jb = jb ? jb : 1;
    sh->blocks = (sh->count + sh->jb - 1) / sh->jb;
    return NULL;
}

static const char *gather_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    gather_shape sh;
    return gather_check(p, st, &sh, buf, cap);
}

/* dst[0, units) = src[0, units) (src NULL: zeros), units of type u, in
 * vectors of `lanes` units and then one by one. */
static void move_row(dc_codegen *cg, LLVMTypeRef u, int lanes, int64_t units, LLVMValueRef dst,
                     LLVMValueRef src)
{
    LLVMTypeRef vt = LLVMVectorType(u, (unsigned)lanes);
    cg_loop vl, sl;
    for (int pass = 0; pass < 2; pass++) {
        cg_loop *l = pass ? &sl : &vl;
        LLVMTypeRef t = pass ? u : vt;
        LLVMValueRef from = pass ? cg_loop_next_index(&vl) : cg_i64(cg, 0);
        LLVMValueRef i = cg_loop_begin(cg, l, from, cg_i64(cg, units), pass ? 1 : lanes);
        LLVMValueRef v = LLVMConstNull(t);
        if (src) {
            v = LLVMBuildLoad2(cg->b, t, LLVMBuildGEP2(cg->b, u, src, &i, 1, ""), "");
            LLVMSetAlignment(v, 1);
        }
        LLVMSetAlignment(LLVMBuildStore(cg->b, v, LLVMBuildGEP2(cg->b, u, dst, &i, 1, "")), 1);
        cg_loop_end(cg, l, NULL);
    }
}

static dc_status gather_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                             const char *symbol, int64_t *extent)
{
    gather_shape sh;
    char buf[200];
    gather_check(p, st, &sh, buf, sizeof buf);
    *extent = sh.pre * sh.blocks;
    int64_t blocks = sh.blocks ? sh.blocks : 1; /* no division by 0 in code that never runs */
    int unit = sh.row_bytes % 8 == 0 ? 8 : sh.row_bytes % 4 == 0 ? 4 : sh.row_bytes % 2 == 0 ? 2 : 1;
    int64_t units = sh.row_bytes / unit;
    LLVMTypeRef u = LLVMIntTypeInContext(cg->ctx, (unsigned)(8 * unit));
    int lanes = cg->width * 4 / unit; /* one vector register */

    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef D = cg_arg(cg, 0), I = cg_arg(cg, 1), Y = cg_arg(cg, 2);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    LLVMValueRef o = LLVMBuildUDiv(B, it, cg_i64(cg, blocks), "o");
    LLVMValueRef j0 = LLVMBuildMul(B, LLVMBuildURem(B, it, cg_i64(cg, blocks), ""),
                                   cg_i64(cg, sh.jb), "j0");
    LLVMValueRef j1 = LLVMBuildAdd(B, j0, cg_i64(cg, sh.jb), "");
    j1 = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, j1, cg_i64(cg, sh.count), ""), j1,
                         cg_i64(cg, sh.count), "j1");
    cg_loop jl;
    LLVMValueRef j = cg_loop_begin(cg, &jl, j0, j1, 1);
    LLVMValueRef w = cg_wrap_index(cg, cg_load_index(cg, I, j, sh.i64), sh.n);
    LLVMValueRef y_row = LLVMBuildAdd(B, LLVMBuildMul(B, o, cg_i64(cg, sh.count), ""), j, "");
    LLVMValueRef dst = LLVMBuildGEP2(B, u, Y, (LLVMValueRef[]){LLVMBuildMul(B, y_row,
                                                                            cg_i64(cg, units), "")},
                                     1, "dst");
    LLVMBasicBlockRef copy_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "copy");
    LLVMBasicBlockRef zero_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "zero");
    LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(B, cg_index_in_range(cg, w, sh.n), copy_bb, zero_bb);
    LLVMPositionBuilderAtEnd(B, copy_bb);
    LLVMValueRef d_row = LLVMBuildAdd(B, LLVMBuildMul(B, o, cg_i64(cg, sh.n), ""), w, "");
    LLVMValueRef src = LLVMBuildGEP2(B, u, D, (LLVMValueRef[]){LLVMBuildMul(B, d_row,
                                                                            cg_i64(cg, units), "")},
                                     1, "src");
    move_row(cg, u, lanes, units, dst, src);
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, zero_bb);
    move_row(cg, u, lanes, units, dst, NULL);
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, next_bb);
    cg_loop_end(cg, &jl, NULL);
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    cg_emit_index_check(cg, symbol, 1, sh.count, sh.i64, sh.n);
    return DC_OK;
}

const cg_family cg_gather_families[] = {
    {"Gather", gather_refusal, gather_emit, true, NULL},
};
const int cg_n_gather_families = 1;
