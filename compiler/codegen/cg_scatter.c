/* ScatterAdd (ai.dinoc), Gather's adjoint, f32 and f64, i32 or i64 indices.
 *
 *   like[pre..., n, post...] (only its shape), indices[I...],
 *   updates[pre..., I..., post...] -> out[pre..., n, post...]
 *   out = 0; out[o, wrap(indices[j]), :] += updates[o, j, :]
 *
 * The parallel dimension is (o, range of destination rows): extent = pre ·
 * ranges, with ranges chosen so that there are about TASKS iterations (at
 * most n per slab). An iteration zeroes its rows and adds, in index order,
 * every update whose index falls in them, skipping the others: each output
 * element belongs to one iteration and receives its updates in the order
 * c.ScatterAdd adds them, so the result is the C kernel's, bit for bit, for
 * any split. A row is added in vectors of the target's width. An index out
 * of [-n, n) falls in no range (nothing is written for it) and is reported
 * by the step's index check (cg_index.c) before the kernel runs. out never
 * overlaps updates (c.ScatterAdd refuses it). */
#include <stdio.h>

#include "cg_internal.h"

enum { TASKS = 64 };

typedef struct scatter_shape {
    int64_t pre, n, count, post, ranges;
    bool i64, f64;
} scatter_shape;

static const char *scatter_check(const dc_plan *p, const dc_plan_step *st, scatter_shape *sh,
                                 char *buf, size_t cap)
{
    const dc_plan_buffer *L = cg_buffer(p, st, 0), *I = cg_buffer(p, st, 1),
                         *U = cg_buffer(p, st, 2), *Y = cg_buffer(p, st, 3);
    if (st->n_inputs != 3 || st->n_outputs != 1 || !L || !I || !U || !Y || L->rank < 1 ||
        (L->dtype != DC_F32 && L->dtype != DC_F64) || U->dtype != L->dtype ||
        Y->dtype != L->dtype || Y->rank != L->rank ||
        (I->dtype != DC_I32 && I->dtype != DC_I64)) {
        snprintf(buf, cap, "ScatterAdd: arguments do not fit the op (f32 or f64, i32 or i64 "
                 "indices)");
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", 0);
    axis = axis < 0 ? axis + L->rank : axis;
    if (axis < 0 || axis >= L->rank || L->rank - 1 + I->rank != U->rank) {
        snprintf(buf, cap, "ScatterAdd: axis or updates' rank do not fit");
        return buf;
    }
    int64_t want[2 * DC_MAX_RANK];
    int r = 0;
    for (int d = 0; d < axis; d++)
        want[r++] = L->dims[d];
    for (int d = 0; d < I->rank; d++)
        want[r++] = I->dims[d];
    for (int d = (int)axis + 1; d < L->rank; d++)
        want[r++] = L->dims[d];
    bool fits = true;
    for (int d = 0; d < r; d++)
        fits = fits && want[d] == U->dims[d];
    for (int d = 0; d < L->rank; d++)
        fits = fits && Y->dims[d] == L->dims[d];
    if (!fits) {
        snprintf(buf, cap, "ScatterAdd: updates or output do not have the op's shape");
        return buf;
    }
    *sh = (scatter_shape){.pre = 1, .n = L->dims[axis], .count = cg_numel(I), .post = 1,
                          .i64 = I->dtype == DC_I64, .f64 = L->dtype == DC_F64};
    for (int d = 0; d < L->rank; d++) {
        if (d < axis)
            sh->pre *= L->dims[d];
        if (d > axis)
            sh->post *= L->dims[d];
    }
    int64_t ranges = sh->pre >= TASKS ? 1 : (TASKS + sh->pre - 1) / sh->pre;
    sh->ranges = ranges < sh->n ? ranges : sh->n;
    return NULL;
}

static const char *scatter_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                   size_t cap)
{
    scatter_shape sh;
    return scatter_check(p, st, &sh, buf, cap);
}

static LLVMValueRef at(dc_codegen *cg, LLVMTypeRef e, LLVMValueRef base, LLVMValueRef i)
{
    return LLVMBuildInBoundsGEP2(cg->b, e, base, &i, 1, "");
}

/* For i in [0, count): body on vectors of `lanes`, then one by one. */
typedef void (*lane_body)(dc_codegen *cg, LLVMTypeRef t, LLVMTypeRef e, LLVMValueRef i,
                          LLVMValueRef dst, LLVMValueRef src);

static void over_lanes(dc_codegen *cg, LLVMTypeRef e, int lanes, LLVMValueRef count,
                       lane_body body, LLVMValueRef dst, LLVMValueRef src)
{
    cg_loop vl, sl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, cg_i64(cg, 0), count, lanes);
    body(cg, LLVMVectorType(e, (unsigned)lanes), e, i, dst, src);
    cg_loop_end(cg, &vl, NULL);
    i = cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), count, 1);
    body(cg, e, e, i, dst, src);
    cg_loop_end(cg, &sl, NULL);
}

static void zero(dc_codegen *cg, LLVMTypeRef t, LLVMTypeRef e, LLVMValueRef i, LLVMValueRef dst,
                 LLVMValueRef src)
{
    (void)src;
    LLVMSetAlignment(LLVMBuildStore(cg->b, LLVMConstNull(t), at(cg, e, dst, i)), 4);
}

static void accumulate(dc_codegen *cg, LLVMTypeRef t, LLVMTypeRef e, LLVMValueRef i,
                       LLVMValueRef dst, LLVMValueRef src)
{
    LLVMValueRef d = LLVMBuildLoad2(cg->b, t, at(cg, e, dst, i), "");
    LLVMValueRef s = LLVMBuildLoad2(cg->b, t, at(cg, e, src, i), "");
    LLVMSetAlignment(d, 4);
    LLVMSetAlignment(s, 4);
    LLVMSetAlignment(LLVMBuildStore(cg->b, LLVMBuildFAdd(cg->b, d, s, ""), at(cg, e, dst, i)), 4);
}

static dc_status scatter_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                              const char *symbol, int64_t *extent)
{
    scatter_shape sh;
    char buf[200];
    scatter_check(p, st, &sh, buf, sizeof buf);
    *extent = sh.pre * sh.ranges;
    int64_t ranges = sh.ranges ? sh.ranges : 1; /* no division by 0 in code that never runs */
    LLVMTypeRef e = sh.f64 ? LLVMDoubleTypeInContext(cg->ctx) : cg->f32;
    int lanes = cg->width;

    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef I = cg_arg(cg, 1), U = cg_arg(cg, 2), Y = cg_arg(cg, 3);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    LLVMValueRef o = LLVMBuildUDiv(B, it, cg_i64(cg, ranges), "o");
    LLVMValueRef k = LLVMBuildURem(B, it, cg_i64(cg, ranges), "k");
    /* Rows [n·k / ranges, n·(k+1) / ranges), as c.ScatterAdd splits them. */
    LLVMValueRef r0 = LLVMBuildUDiv(B, LLVMBuildMul(B, k, cg_i64(cg, sh.n), ""),
                                    cg_i64(cg, ranges), "r0");
    LLVMValueRef r1 = LLVMBuildUDiv(
        B, LLVMBuildMul(B, LLVMBuildAdd(B, k, cg_i64(cg, 1), ""), cg_i64(cg, sh.n), ""),
        cg_i64(cg, ranges), "r1");
    LLVMValueRef slab = at(cg, e, Y, LLVMBuildMul(B, o, cg_i64(cg, sh.n * sh.post), ""));
    LLVMValueRef src_slab = at(cg, e, U, LLVMBuildMul(B, o, cg_i64(cg, sh.count * sh.post), ""));
    over_lanes(cg, e, lanes,
               LLVMBuildMul(B, LLVMBuildSub(B, r1, r0, ""), cg_i64(cg, sh.post), ""), zero,
               at(cg, e, slab, LLVMBuildMul(B, r0, cg_i64(cg, sh.post), "")), NULL);
    cg_loop jl;
    LLVMValueRef j = cg_loop_begin(cg, &jl, cg_i64(cg, 0), cg_i64(cg, sh.count), 1);
    LLVMValueRef w = cg_wrap_index(cg, cg_load_index(cg, I, j, sh.i64), sh.n);
    LLVMValueRef mine = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntSGE, w, r0, ""),
                                     LLVMBuildICmp(B, LLVMIntSLT, w, r1, ""), "mine");
    LLVMBasicBlockRef add_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "add");
    LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(B, mine, add_bb, next_bb);
    LLVMPositionBuilderAtEnd(B, add_bb);
    over_lanes(cg, e, lanes, cg_i64(cg, sh.post), accumulate,
               at(cg, e, slab, LLVMBuildMul(B, w, cg_i64(cg, sh.post), "")),
               at(cg, e, src_slab, LLVMBuildMul(B, j, cg_i64(cg, sh.post), "")));
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, next_bb);
    cg_loop_end(cg, &jl, NULL);
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    cg_emit_index_check(cg, symbol, 1, sh.count, sh.i64, sh.n);
    return DC_OK;
}

const cg_family cg_scatter_families[] = {
    {"ScatterAdd", scatter_refusal, scatter_emit, true, NULL},
};
const int cg_n_scatter_families = 1;
