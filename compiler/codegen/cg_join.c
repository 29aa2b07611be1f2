/* Concat and Split as byte copies with every size baked in (any dtype).
 *
 *   Concat: X_k[pre..., n_k, post...] -> Y[pre..., Σ n_k, post...]
 *   Split:  X[pre..., Σ n_k, post...] -> Y_k[pre..., n_k, post...]
 *
 * One iteration copies piece k of outer slice o (iteration o·pieces + k):
 * piece_bytes[k] contiguous bytes between the piece and its place at_k in
 * the joined slice of `whole` bytes, in vectors of the target's width and
 * then byte by byte. Constant tables give each piece's size and place; its
 * data pointer is args[k] (Concat) or args[n_inputs + k] (Split). A piece
 * the memory plan already placed inside the joined tensor is copied onto
 * itself, which leaves it as it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

typedef struct join_shape {
    bool split;
    int n;
    int64_t outer, whole;
    int64_t *piece, *at; /* bytes */
} join_shape;

static const char *join_check(const dc_plan *p, const dc_plan_step *st, join_shape *sh, char *buf,
                              size_t cap)
{
    bool split = strcmp(st->op_type, "Split") == 0;
    int n = split ? st->n_outputs : st->n_inputs;
    const dc_plan_buffer *J = cg_buffer(p, st, split ? 0 : st->n_inputs);
    if (n < 1 || !J || (split ? st->n_inputs > 2 : st->n_outputs != 1) || J->rank < 1) {
        snprintf(buf, cap, "%s: arguments do not fit the op", st->op_type);
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", 0);
    axis = axis < 0 ? axis + J->rank : axis;
    if (axis < 0 || axis >= J->rank) {
        snprintf(buf, cap, "%s: axis out of range", st->op_type);
        return buf;
    }
    int64_t inner = 1, outer = 1, total = 0, es = (int64_t)dc_dtype_size(J->dtype);
    for (int d = 0; d < J->rank; d++) {
        if (d < axis)
            outer *= J->dims[d];
        if (d > axis)
            inner *= J->dims[d];
    }
    if (sh) {
        sh->piece = malloc((size_t)n * sizeof *sh->piece);
        sh->at = malloc((size_t)n * sizeof *sh->at);
    }
    for (int k = 0; k < n; k++) {
        const dc_plan_buffer *P = cg_buffer(p, st, split ? st->n_inputs + k : k);
        bool same = P && P->dtype == J->dtype && P->rank == J->rank;
        for (int d = 0; same && d < J->rank; d++)
            same = d == axis || P->dims[d] == J->dims[d];
        if (!same) {
            snprintf(buf, cap, "%s: piece %d does not fit the joined tensor", st->op_type, k);
            if (sh) {
                free(sh->piece);
                free(sh->at);
            }
            return buf;
        }
        if (sh) {
            sh->piece[k] = P->dims[axis] * inner * es;
            sh->at[k] = total * inner * es;
        }
        total += P->dims[axis];
    }
    if (total != J->dims[axis]) {
        snprintf(buf, cap, "%s: the pieces do not add up to the joined tensor", st->op_type);
        if (sh) {
            free(sh->piece);
            free(sh->at);
        }
        return buf;
    }
    if (sh)
        *sh = (join_shape){split, n, outer, total * inner * es, sh->piece, sh->at};
    return NULL;
}

static const char *join_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    return join_check(p, st, NULL, buf, cap);
}

static LLVMValueRef table(dc_codegen *cg, const int64_t *v, int n, const char *name)
{
    LLVMValueRef *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return NULL;
    for (int i = 0; i < n; i++)
        c[i] = cg_i64(cg, v[i]);
    LLVMValueRef init = LLVMConstArray(cg->i64, c, (unsigned)n);
    free(c);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    return g;
}

static LLVMValueRef load_i64(dc_codegen *cg, LLVMValueRef table, LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->i64,
                                    LLVMBuildInBoundsGEP2(cg->b, cg->i64, table, &i, 1, ""), "");
    LLVMSetAlignment(v, 8);
    return v;
}

static LLVMValueRef byte_at(dc_codegen *cg, LLVMValueRef base, LLVMValueRef off)
{
    return LLVMBuildGEP2(cg->b, LLVMInt8TypeInContext(cg->ctx), base, &off, 1, "");
}

static void copy_bytes(dc_codegen *cg, LLVMTypeRef t, LLVMValueRef dst, LLVMValueRef src,
                       LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, byte_at(cg, src, i), "");
    LLVMSetAlignment(v, 1);
    LLVMSetAlignment(LLVMBuildStore(cg->b, v, byte_at(cg, dst, i)), 1);
}

static dc_status join_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                           const char *symbol, int64_t *extent)
{
    join_shape sh;
    char buf[200];
    join_check(p, st, &sh, buf, sizeof buf);
    *extent = sh.outer * sh.n;
    char name[200];
    snprintf(name, sizeof name, "%s.piece", symbol);
    LLVMValueRef piece_t = table(cg, sh.piece, sh.n, name);
    snprintf(name, sizeof name, "%s.at", symbol);
    LLVMValueRef at_t = table(cg, sh.at, sh.n, name);
    free(sh.piece);
    free(sh.at);
    if (!piece_t || !at_t)
        return dc_error(DC_ERR_NOMEM, "kernel %s", symbol);
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    int lanes = cg->width * 4;
    LLVMTypeRef i8 = LLVMInt8TypeInContext(cg->ctx), vt = LLVMVectorType(i8, (unsigned)lanes);
    cg_loop tl;
    LLVMValueRef t = cg_loop_begin(cg, &tl, begin, end, 1);
    LLVMValueRef o = LLVMBuildUDiv(B, t, cg_i64(cg, sh.n), "");
    LLVMValueRef k = LLVMBuildURem(B, t, cg_i64(cg, sh.n), "");
    LLVMValueRef pb = load_i64(cg, piece_t, k), at = load_i64(cg, at_t, k);
    LLVMValueRef slot = LLVMBuildAdd(B, k, cg_i64(cg, sh.split ? st->n_inputs : 0), "");
    LLVMValueRef piece_ptr = LLVMBuildLoad2(
        B, cg->ptr, LLVMBuildGEP2(B, cg->ptr, cg->args, &slot, 1, ""), "");
    LLVMValueRef joined = cg_arg(cg, sh.split ? 0 : st->n_inputs);
    LLVMValueRef piece_at = byte_at(cg, piece_ptr, LLVMBuildMul(B, o, pb, ""));
    LLVMValueRef joined_at = byte_at(
        cg, joined, LLVMBuildAdd(B, LLVMBuildMul(B, o, cg_i64(cg, sh.whole), ""), at, ""));
    LLVMValueRef dst = sh.split ? piece_at : joined_at, src = sh.split ? joined_at : piece_at;
    cg_loop vl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, cg_i64(cg, 0), pb, lanes);
    copy_bytes(cg, vt, dst, src, i);
    cg_loop_end(cg, &vl, NULL);
    cg_loop sl;
    i = cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), pb, 1);
    copy_bytes(cg, i8, dst, src, i);
    cg_loop_end(cg, &sl, NULL);
    cg_loop_end(cg, &tl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_join_families[] = {
    {"Concat", join_refusal, join_emit, false, NULL},
    {"Split", join_refusal, join_emit, false, NULL},
};
const int cg_n_join_families = 2;
