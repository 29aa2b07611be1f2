/* Small IR-building helpers every kernel family uses: types and constants,
 * intrinsics, the kernel signature, argument access, counted loops and
 * horizontal reductions (cg_internal.h). */
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "cg_internal.h"

LLVMTypeRef cg_vec(dc_codegen *cg, int width)
{
    return width == 1 ? cg->f32 : LLVMVectorType(cg->f32, (unsigned)width);
}

int cg_lanes(LLVMTypeRef t)
{
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

LLVMTypeRef cg_int_like(dc_codegen *cg, LLVMTypeRef t)
{
    int n = cg_lanes(t);
    return n == 1 ? cg->i32 : LLVMVectorType(cg->i32, (unsigned)n);
}

static LLVMValueRef splat_const(LLVMTypeRef t, LLVMValueRef c)
{
    int n = cg_lanes(t);
    if (n == 1)
        return c;
    LLVMValueRef lanes[64];
    for (int i = 0; i < n; i++)
        lanes[i] = c;
    return LLVMConstVector(lanes, (unsigned)n);
}

LLVMValueRef cg_f(dc_codegen *cg, LLVMTypeRef t, double v)
{
    LLVMTypeRef elem = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
    return splat_const(t, LLVMConstReal(elem, elem == cg->f32 ? (double)(float)v : v));
}

LLVMTypeRef cg_vec_f64(dc_codegen *cg, int width)
{
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    return width == 1 ? f64 : LLVMVectorType(f64, (unsigned)width);
}

LLVMValueRef cg_to_f64(dc_codegen *cg, LLVMValueRef v)
{
    return LLVMBuildFPExt(cg->b, v, cg_vec_f64(cg, cg_lanes(LLVMTypeOf(v))), "");
}

LLVMValueRef cg_i(dc_codegen *cg, LLVMTypeRef t, long long v)
{
    LLVMTypeRef elem = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
    (void)cg;
    return splat_const(t, LLVMConstInt(elem, (unsigned long long)v, 1));
}

LLVMValueRef cg_i64(dc_codegen *cg, int64_t v)
{
    return LLVMConstInt(cg->i64, (unsigned long long)v, 1);
}

LLVMValueRef cg_splat(dc_codegen *cg, LLVMTypeRef t, LLVMValueRef v)
{
    int n = cg_lanes(t);
    if (n == 1)
        return v;
    LLVMValueRef one = LLVMBuildInsertElement(cg->b, LLVMGetUndef(t), v,
                                              LLVMConstInt(cg->i32, 0, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)n));
    return LLVMBuildShuffleVector(cg->b, one, LLVMGetUndef(t), zeros, "splat");
}

LLVMValueRef cg_call(dc_codegen *cg, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &t, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, &t, 1);
    return LLVMBuildCall2(cg->b, fty, fn, args, (unsigned)n, "");
}

LLVMValueRef cg_fma(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return cg_call(cg, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

LLVMValueRef cg_min(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef args[2] = {a, b};
    return cg_call(cg, "llvm.minnum", LLVMTypeOf(a), args, 2);
}

LLVMValueRef cg_max(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b)
{
    LLVMValueRef args[2] = {a, b};
    return cg_call(cg, "llvm.maxnum", LLVMTypeOf(a), args, 2);
}

/* Halves the vector until one lane is left, combining the halves with op
 * (a fixed tree, so the result does not depend on anything but the data). */
static LLVMValueRef reduce_tree(dc_codegen *cg, LLVMValueRef v, int is_max)
{
    int n = cg_lanes(LLVMTypeOf(v));
    while (n > 1) {
        int h = n / 2;
        LLVMValueRef lo_idx[32], hi_idx[32];
        for (int i = 0; i < h; i++) {
            lo_idx[i] = LLVMConstInt(cg->i32, (unsigned)i, 0);
            hi_idx[i] = LLVMConstInt(cg->i32, (unsigned)(i + h), 0);
        }
        LLVMValueRef lo = LLVMBuildShuffleVector(cg->b, v, LLVMGetUndef(LLVMTypeOf(v)),
                                                 LLVMConstVector(lo_idx, (unsigned)h), "");
        LLVMValueRef hi = LLVMBuildShuffleVector(cg->b, v, LLVMGetUndef(LLVMTypeOf(v)),
                                                 LLVMConstVector(hi_idx, (unsigned)h), "");
        if (h == 1) {
            lo = LLVMBuildExtractElement(cg->b, lo, LLVMConstInt(cg->i32, 0, 0), "");
            hi = LLVMBuildExtractElement(cg->b, hi, LLVMConstInt(cg->i32, 0, 0), "");
        }
        v = is_max ? cg_max(cg, lo, hi) : LLVMBuildFAdd(cg->b, lo, hi, "");
        n = h;
    }
    return v;
}

LLVMValueRef cg_reduce_add(dc_codegen *cg, LLVMValueRef v)
{
    return reduce_tree(cg, v, 0);
}

LLVMValueRef cg_reduce_max(dc_codegen *cg, LLVMValueRef v)
{
    return reduce_tree(cg, v, 1);
}

void cg_function_begin(dc_codegen *cg, const char *symbol, LLVMTypeRef fty)
{
    cg->fn = LLVMAddFunction(cg->mod, symbol, fty);
    LLVMSetLinkage(cg->fn, LLVMExternalLinkage);
    LLVMSetVisibility(cg->fn, LLVMDefaultVisibility);
    LLVMAddTargetDependentFunctionAttr(cg->fn, "target-cpu", cg->cpu);
    if (*cg->features)
        LLVMAddTargetDependentFunctionAttr(cg->fn, "target-features", cg->features);
    /* The kernels are written with vectors of the target's width: let the
     * backend keep 512-bit vectors whole where the CPU's tuning prefers 256. */
    if (cg->width == 16) {
        LLVMAddTargetDependentFunctionAttr(cg->fn, "min-legal-vector-width", "512");
        LLVMAddTargetDependentFunctionAttr(cg->fn, "prefer-vector-width", "512");
    }
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(cg->fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
    cg->args = LLVMGetParam(cg->fn, 0);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "entry"));
}

void cg_kernel_begin(dc_codegen *cg, const char *symbol, LLVMValueRef *begin, LLVMValueRef *end)
{
    LLVMTypeRef params[3] = {cg->ptr, cg->i64, cg->i64};
    cg_function_begin(cg, symbol, LLVMFunctionType(cg->void_t, params, 3, 0));
    *begin = LLVMGetParam(cg->fn, 1);
    *end = LLVMGetParam(cg->fn, 2);
}

void cg_kernel_end(dc_codegen *cg)
{
    LLVMBuildRetVoid(cg->b);
    cg->fn = cg->args = NULL;
}

LLVMValueRef cg_arg(dc_codegen *cg, int i)
{
    LLVMValueRef idx = cg_i64(cg, i);
    LLVMValueRef at = LLVMBuildGEP2(cg->b, cg->ptr, cg->args, &idx, 1, "");
    LLVMValueRef p = LLVMBuildLoad2(cg->b, cg->ptr, at, "arg");
    LLVMSetAlignment(p, 8);
    return p;
}

LLVMValueRef cg_at(dc_codegen *cg, LLVMValueRef base, LLVMValueRef index)
{
    return LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &index, 1, "");
}

LLVMValueRef cg_load(dc_codegen *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef index)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, cg_at(cg, base, index), "");
    LLVMSetAlignment(v, 4);
    return v;
}

void cg_store(dc_codegen *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef index)
{
    LLVMValueRef s = LLVMBuildStore(cg->b, v, cg_at(cg, base, index));
    LLVMSetAlignment(s, 4);
}

LLVMValueRef cg_loop_begin(dc_codegen *cg, cg_loop *l, LLVMValueRef from, LLVMValueRef to,
                           int64_t step)
{
    memset(l, 0, sizeof *l);
    l->pre = LLVMGetInsertBlock(cg->b);
    l->header = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop");
    l->body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "done");
    l->step = cg_i64(cg, step);
    LLVMBuildBr(cg->b, l->header);
    LLVMPositionBuilderAtEnd(cg->b, l->header);
    l->i = LLVMBuildPhi(cg->b, cg->i64, "i");
    LLVMAddIncoming(l->i, &from, &l->pre, 1);
    LLVMValueRef last = step == 1 ? l->i : LLVMBuildAdd(cg->b, l->i, l->step, "");
    LLVMValueRef more = LLVMBuildICmp(cg->b, step == 1 ? LLVMIntSLT : LLVMIntSLE, last, to, "");
    LLVMBuildCondBr(cg->b, more, l->body, l->exit);
    LLVMPositionBuilderAtEnd(cg->b, l->body);
    return l->i;
}

LLVMValueRef cg_loop_carry(dc_codegen *cg, cg_loop *l, LLVMValueRef init)
{
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMValueRef first = LLVMGetFirstInstruction(l->header);
    while (first && LLVMGetInstructionOpcode(first) == LLVMPHI)
        first = LLVMGetNextInstruction(first);
    LLVMPositionBuilderBefore(cg->b, first);
    LLVMValueRef phi = LLVMBuildPhi(cg->b, LLVMTypeOf(init), "carry");
    LLVMAddIncoming(phi, &init, &l->pre, 1);
    l->carry[l->n_carry++] = phi;
    LLVMPositionBuilderAtEnd(cg->b, here);
    return phi;
}

void cg_loop_end(dc_codegen *cg, cg_loop *l, const LLVMValueRef *next_carry)
{
    LLVMBasicBlockRef from = LLVMGetInsertBlock(cg->b);
    LLVMValueRef next = LLVMBuildAdd(cg->b, l->i, l->step, "");
    LLVMBuildBr(cg->b, l->header);
    LLVMAddIncoming(l->i, &next, &from, 1);
    for (int k = 0; k < l->n_carry; k++) {
        LLVMValueRef v = next_carry[k];
        LLVMAddIncoming(l->carry[k], &v, &from, 1);
    }
    LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

LLVMValueRef cg_loop_final(cg_loop *l, int k)
{
    return l->carry[k];
}

LLVMValueRef cg_loop_next_index(cg_loop *l)
{
    return l->i;
}

LLVMValueRef cg_row_pass(dc_codegen *cg, int64_t n, cg_acc_kind kind, cg_pass_body body,
                         void *ctx)
{
    LLVMTypeRef vt = cg_vec(cg, cg->width);
    LLVMTypeRef at = kind == ACC_SUM64 ? cg_vec_f64(cg, cg->width) : vt;
    double identity = kind == ACC_MAX ? -HUGE_VAL : 0.0;
    cg_loop vl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, cg_i64(cg, 0), cg_i64(cg, n), cg->width);
    LLVMValueRef acc = kind ? cg_loop_carry(cg, &vl, cg_f(cg, at, identity)) : NULL;
    LLVMValueRef next = body(cg, ctx, vt, i, acc);
    cg_loop_end(cg, &vl, &next);
    LLVMValueRef start = NULL;
    if (kind == ACC_SUM || kind == ACC_SUM64)
        start = cg_reduce_add(cg, cg_loop_final(&vl, 0));
    else if (kind == ACC_MAX)
        start = cg_reduce_max(cg, cg_loop_final(&vl, 0));
    cg_loop sl;
    i = cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), cg_i64(cg, n), 1);
    acc = kind ? cg_loop_carry(cg, &sl, start) : NULL;
    next = body(cg, ctx, cg->f32, i, acc);
    cg_loop_end(cg, &sl, &next);
    return kind ? cg_loop_final(&sl, 0) : NULL;
}

const dc_plan_buffer *cg_buffer(const dc_plan *p, const dc_plan_step *st, int arg)
{
    if (arg < 0 || arg >= st->n_inputs + st->n_outputs || st->args[arg] < 0 ||
        st->args[arg] >= p->n_buffers)
        return NULL;
    return &p->buffers[st->args[arg]];
}

int64_t cg_numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}
