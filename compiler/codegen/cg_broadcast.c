/* numpy broadcasting for the element-wise kernels (cg_eltwise.c,
 * cg_typed_eltwise.c): the output's dims merged where every input walks two
 * adjacent dims as one (as the C kernels do), leaving [outer rows, inner],
 * each input's strides over them, and the IR that finds an input's offset at
 * the start of a row and a tile's place in its row. Dtypes are the callers'
 * business. */
#include <stdio.h>

#include "cg_internal.h"

const char *cg_bcast_shape(const dc_plan *p, const dc_plan_step *st, cg_bcast *sh, char *buf,
                           size_t cap)
{
    int n_in = st->n_inputs;
    if (st->n_outputs != 1) {
        snprintf(buf, cap, "%s: %d outputs, expected 1", st->op_type, st->n_outputs);
        return buf;
    }
    if (n_in > CG_MAX_BCAST_INPUTS || n_in < 1) {
        snprintf(buf, cap, "%s: %d inputs (1 to %d generated)", st->op_type, n_in,
                 CG_MAX_BCAST_INPUTS);
        return buf;
    }
    const dc_plan_buffer *Y = cg_buffer(p, st, n_in);
    if (!Y) {
        snprintf(buf, cap, "%s: no output", st->op_type);
        return buf;
    }
    int rank = Y->rank;
    int64_t s[CG_MAX_BCAST_INPUTS][DC_MAX_RANK];
    for (int k = 0; k < n_in; k++) {
        const dc_plan_buffer *X = cg_buffer(p, st, k);
        if (!X) {
            snprintf(buf, cap, "%s: input %d is missing", st->op_type, k);
            return buf;
        }
        if (X->rank > rank) {
            snprintf(buf, cap, "%s: input %d has a higher rank than the output", st->op_type, k);
            return buf;
        }
        int64_t stride = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int xd = d - (rank - X->rank);
            int64_t size = xd >= 0 ? X->dims[xd] : 1;
            if (size != 1 && size != Y->dims[d]) {
                snprintf(buf, cap, "%s: input %d does not broadcast to the output", st->op_type, k);
                return buf;
            }
            s[k][d] = size == 1 ? 0 : stride;
            stride *= size;
        }
    }
    sh->n_in = n_in;
    int r = 0;
    for (int d = 0; d < rank; d++) {
        /* Dim d joins the merged dim before it where each input's stride
         * there (its innermost, after earlier merges) is d's times d's size. */
        bool merge = r > 0;
        for (int k = 0; merge && k < n_in; k++)
            merge = sh->strides[k][r - 1] == s[k][d] * Y->dims[d];
        if (merge) {
            sh->dims[r - 1] *= Y->dims[d];
            for (int k = 0; k < n_in; k++)
                sh->strides[k][r - 1] = s[k][d];
        } else {
            sh->dims[r] = Y->dims[d];
            for (int k = 0; k < n_in; k++)
                sh->strides[k][r] = s[k][d];
            r++;
        }
    }
    if (r == 0) {
        sh->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            sh->strides[k][0] = 0;
        r = 1;
    }
    sh->rank = r;
    sh->inner = sh->dims[r - 1];
    sh->outer = sh->inner ? cg_numel(Y) / sh->inner : 0;
    return NULL;
}

void cg_bcast_tile(dc_codegen *cg, const cg_bcast *sh, int64_t tile_size, LLVMValueRef tile,
                   LLVMValueRef *row, LLVMValueRef *c0, LLVMValueRef *c1)
{
    LLVMBuilderRef B = cg->b;
    int64_t tiles = (sh->inner + tile_size - 1) / tile_size;
    tiles = tiles ? tiles : 1; /* no division by 0 in code that never runs */
    *row = LLVMBuildUDiv(B, tile, cg_i64(cg, tiles), "row");
    *c0 = LLVMBuildMul(B, LLVMBuildURem(B, tile, cg_i64(cg, tiles), ""), cg_i64(cg, tile_size),
                       "c0");
    LLVMValueRef end = LLVMBuildAdd(B, *c0, cg_i64(cg, tile_size), "");
    *c1 = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, end, cg_i64(cg, sh->inner), ""), end,
                          cg_i64(cg, sh->inner), "c1");
}

void cg_bcast_row_offsets(dc_codegen *cg, const cg_bcast *sh, LLVMValueRef row, LLVMValueRef *off)
{
    LLVMBuilderRef B = cg->b;
    for (int k = 0; k < sh->n_in; k++)
        off[k] = cg_i64(cg, 0);
    LLVMValueRef rest = row;
    for (int d = sh->rank - 2; d >= 0; d--) {
        LLVMValueRef idx = LLVMBuildURem(B, rest, cg_i64(cg, sh->dims[d]), "");
        rest = LLVMBuildUDiv(B, rest, cg_i64(cg, sh->dims[d]), "");
        for (int k = 0; k < sh->n_in; k++)
            if (sh->strides[k][d])
                off[k] = LLVMBuildAdd(B, off[k],
                                      LLVMBuildMul(B, idx, cg_i64(cg, sh->strides[k][d]), ""), "");
    }
}
