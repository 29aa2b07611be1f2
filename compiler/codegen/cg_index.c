/* Indices into an axis, for the ops that read them (Gather, ScatterAdd):
 * loading an i32 or i64 index as i64, wrapping a negative one, and the
 * index check the runtime calls before such a step's kernel.
 *
 * A kernel cannot report an error (ARTIFACT.md), but an index out of range
 * is a data error the c.* kernels report ("index 9 (indices element 2) out
 * of range [-5, 5)"). So a step that reads indices comes with a second
 * function, SYMBOL_check:
 *
 *   int32_t SYMBOL_check(void *const *args, int64_t *bad)
 *
 * 0 when every element of indices[count] lies in [-n, n); otherwise 1, with
 * bad[0] = the first index out of range, bad[1] = its position in indices,
 * bad[2] = n. The kernels themselves never touch memory through an index
 * out of range either (they write zeros, or skip the update). */
#include <stdio.h>

#include "cg_internal.h"

LLVMValueRef cg_load_index(dc_codegen *cg, LLVMValueRef base, LLVMValueRef j, bool i64)
{
    LLVMTypeRef t = i64 ? cg->i64 : cg->i32;
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, LLVMBuildInBoundsGEP2(cg->b, t, base, &j, 1, ""),
                                    "index");
    LLVMSetAlignment(v, i64 ? 8 : 4);
    return i64 ? v : LLVMBuildSExt(cg->b, v, cg->i64, "");
}

LLVMValueRef cg_wrap_index(dc_codegen *cg, LLVMValueRef v, int64_t n)
{
    LLVMValueRef neg = LLVMBuildICmp(cg->b, LLVMIntSLT, v, cg_i64(cg, 0), "");
    return LLVMBuildSelect(cg->b, neg, LLVMBuildAdd(cg->b, v, cg_i64(cg, n), ""), v, "wrapped");
}

LLVMValueRef cg_index_in_range(dc_codegen *cg, LLVMValueRef wrapped, int64_t n)
{
    /* A wrapped index below 0 is a huge unsigned one. */
    return LLVMBuildICmp(cg->b, LLVMIntULT, wrapped, cg_i64(cg, n), "in_range");
}

void cg_emit_index_check(dc_codegen *cg, const char *kernel_symbol, int idx_arg, int64_t count,
                         bool i64, int64_t n)
{
    char symbol[200];
    snprintf(symbol, sizeof symbol, "%s%s", kernel_symbol, CG_INDEX_CHECK_SUFFIX);
    LLVMTypeRef params[2] = {cg->ptr, cg->ptr};
    cg_function_begin(cg, symbol, LLVMFunctionType(cg->i32, params, 2, 0));
    LLVMBuilderRef B = cg->b;
    LLVMValueRef bad = LLVMGetParam(cg->fn, 1), idx = cg_arg(cg, idx_arg);
    cg_loop l;
    LLVMValueRef j = cg_loop_begin(cg, &l, cg_i64(cg, 0), cg_i64(cg, count), 1);
    LLVMValueRef v = cg_load_index(cg, idx, j, i64);
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "out_of_range");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(B, cg_index_in_range(cg, cg_wrap_index(cg, v, n), n), next, fail);
    LLVMPositionBuilderAtEnd(B, fail);
    LLVMValueRef what[3] = {v, j, cg_i64(cg, n)};
    for (int k = 0; k < 3; k++) {
        LLVMValueRef at = cg_i64(cg, k);
        LLVMSetAlignment(LLVMBuildStore(B, what[k], LLVMBuildInBoundsGEP2(B, cg->i64, bad, &at, 1,
                                                                          "")),
                         8);
    }
    LLVMBuildRet(B, LLVMConstInt(cg->i32, 1, 0));
    LLVMPositionBuilderAtEnd(B, next);
    cg_loop_end(cg, &l, NULL);
    LLVMBuildRet(B, LLVMConstInt(cg->i32, 0, 0));
    cg->fn = cg->args = NULL;
}
