/* Transpose, Slice and Expand as one strided copy with the strides baked in
 * (the C kernels do the same at run time), and Identity as a plain one, for
 * elements of 1, 2, 4 or 8 bytes, copied as integers of that width (any
 * dtype: bits are moved, not converted).
 *
 *   Y[o0, o1, ...] = X[base + Σ o_k·s_k]   (s_k may be 0 or negative)
 *
 * Output dims of size 1 are dropped and neighbours the input walks as one
 * are merged, leaving [outer rows, inner]; the parallel dimension is tiles
 * of at most TILE elements of one output row. Where the row is contiguous
 * in X too (s_inner = 1) the tile is copied in vectors. Y never overlaps X
 * (the C kernels refuse it), so any split gives the same result; only
 * Identity's Y may be X's very bytes, each element then copied onto itself. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

enum { TILE = 4096 };

typedef struct copy_shape {
    int rank;
    int64_t dims[DC_MAX_RANK], s[DC_MAX_RANK], base, inner, outer;
    int esize;
} copy_shape;

static void strides_of(const dc_plan_buffer *X, int64_t *xs)
{
    int64_t s = 1;
    for (int d = X->rank - 1; d >= 0; d--) {
        xs[d] = s;
        s *= X->dims[d];
    }
}

static const char *transpose_shape(const dc_plan_step *st, const dc_plan_buffer *X,
                                   int64_t *dims, int64_t *s, char *buf, size_t cap)
{
    int n = 0;
    const int64_t *perm = dc_step_ints(st, "perm", &n);
    if (perm && n != X->rank) {
        snprintf(buf, cap, "Transpose: perm has %d entries for rank %d", n, X->rank);
        return buf;
    }
    int64_t xs[DC_MAX_RANK];
    bool seen[DC_MAX_RANK] = {0};
    strides_of(X, xs);
    for (int d = 0; d < X->rank; d++) {
        int64_t p = perm ? perm[d] : X->rank - 1 - d;
        if (p < 0 || p >= X->rank || seen[p]) {
            snprintf(buf, cap, "Transpose: perm is not a permutation");
            return buf;
        }
        seen[p] = true;
        dims[d] = X->dims[p];
        s[d] = xs[p];
    }
    return NULL;
}

/* Slice's canonical starts/ends/axes/steps, clamped as ONNX (and c.Slice) do. */
static const char *slice_shape(const dc_plan_step *st, const dc_plan_buffer *X, int64_t *dims,
                               int64_t *s, int64_t *base, char *buf, size_t cap)
{
    int ns = 0, ne = 0, na = 0, nt = 0;
    const int64_t *starts = dc_step_ints(st, "starts", &ns), *ends = dc_step_ints(st, "ends", &ne);
    const int64_t *axes = dc_step_ints(st, "axes", &na), *steps = dc_step_ints(st, "steps", &nt);
    if (!dc_step_attr(st, "starts") || !dc_step_attr(st, "ends") || ne != ns ||
        (axes && na != ns) || (steps && nt != ns)) {
        snprintf(buf, cap, "Slice: no canonical starts/ends/axes/steps");
        return buf;
    }
    strides_of(X, s);
    memcpy(dims, X->dims, (size_t)X->rank * sizeof *dims);
    *base = 0;
    bool seen[DC_MAX_RANK] = {0};
    for (int i = 0; i < ns; i++) {
        int64_t ax = axes ? axes[i] : i;
        ax = ax < 0 ? ax + X->rank : ax;
        int64_t step = steps ? steps[i] : 1;
        if (ax < 0 || ax >= X->rank || seen[ax] || step == 0) {
            snprintf(buf, cap, "Slice: a bad axis or step");
            return buf;
        }
        seen[ax] = true;
        int64_t n = X->dims[ax];
        int64_t b = starts[i] < 0 ? starts[i] + n : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + n : ends[i];
        int64_t count;
        if (step > 0) {
            b = b < 0 ? 0 : b > n ? n : b;
            e = e < 0 ? 0 : e > n ? n : e;
            count = e > b ? (e - b + step - 1) / step : 0;
        } else {
            b = b < 0 ? 0 : b > n - 1 ? n - 1 : b;
            e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
            count = b > e ? (b - e + (-step) - 1) / (-step) : 0;
        }
        dims[ax] = count;
        if (count)
            *base += b * s[ax];
        s[ax] *= step;
    }
    return NULL;
}

static const char *expand_shape(const dc_plan_buffer *X, const dc_plan_buffer *Y, int64_t *dims,
                                int64_t *s, char *buf, size_t cap)
{
    int64_t xs[DC_MAX_RANK];
    strides_of(X, xs);
    for (int d = 0; d < Y->rank; d++) {
        int xd = d - (Y->rank - X->rank);
        int64_t n = xd >= 0 ? X->dims[xd] : 1;
        if (n != 1 && n != Y->dims[d]) {
            snprintf(buf, cap, "Expand: the input does not broadcast to the output");
            return buf;
        }
        dims[d] = Y->dims[d];
        s[d] = n == 1 ? 0 : xs[xd];
    }
    return NULL;
}

static const char *copy_check(const dc_plan *p, const dc_plan_step *st, copy_shape *sh, char *buf,
                              size_t cap)
{
    const dc_plan_buffer *X = cg_buffer(p, st, 0), *Y = cg_buffer(p, st, st->n_inputs);
    if (st->n_inputs < 1 || st->n_outputs != 1 || !X || !Y || X->dtype != Y->dtype ||
        (Y->rank < X->rank && strcmp(st->op_type, "Expand") == 0)) {
        snprintf(buf, cap, "%s: arguments do not fit the op", st->op_type);
        return buf;
    }
    sh->esize = (int)dc_dtype_size(X->dtype);
    if (sh->esize != 1 && sh->esize != 2 && sh->esize != 4 && sh->esize != 8) {
        snprintf(buf, cap, "%s: elements of %d bytes", st->op_type, sh->esize);
        return buf;
    }
    int64_t dims[DC_MAX_RANK], s[DC_MAX_RANK], base = 0;
    bool expand = strcmp(st->op_type, "Expand") == 0;
    bool identity = strcmp(st->op_type, "Identity") == 0;
    int rank = expand ? Y->rank : identity ? 1 : X->rank;
    const char *why = NULL;
    if (identity) { /* Y holds X's elements in any shape: one flat row */
        dims[0] = cg_numel(X);
        s[0] = 1;
    } else if (strcmp(st->op_type, "Transpose") == 0)
        why = transpose_shape(st, X, dims, s, buf, cap);
    else if (strcmp(st->op_type, "Slice") == 0)
        why = slice_shape(st, X, dims, s, &base, buf, cap);
    else
        why = expand_shape(X, Y, dims, s, buf, cap);
    if (why)
        return why;
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    if ((rank != Y->rank && !identity) || n != cg_numel(Y)) {
        snprintf(buf, cap, "%s: the output's shape is not the op's", st->op_type);
        return buf;
    }
    for (int d = 0; d < rank && !identity; d++)
        if (dims[d] != Y->dims[d]) {
            snprintf(buf, cap, "%s: the output's shape is not the op's", st->op_type);
            return buf;
        }
    /* Drop size-1 dims, merge what X walks as one. */
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1)
            continue;
        if (r > 0 && sh->s[r - 1] == s[d] * dims[d]) {
            sh->dims[r - 1] *= dims[d];
            sh->s[r - 1] = s[d];
        } else {
            sh->dims[r] = dims[d];
            sh->s[r++] = s[d];
        }
    }
    if (r == 0) {
        sh->dims[0] = 1;
        sh->s[0] = 1;
        r = 1;
    }
    sh->rank = r;
    sh->base = base;
    sh->inner = sh->dims[r - 1];
    sh->outer = sh->inner ? n / sh->inner : 0;
    return NULL;
}

static const char *copy_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    copy_shape sh;
    return copy_check(p, st, &sh, buf, cap);
}

static LLVMValueRef elem_at(dc_codegen *cg, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef i)
{
    return LLVMBuildGEP2(cg->b, et, base, &i, 1, "");
}

static void copy_block(dc_codegen *cg, LLVMTypeRef t, LLVMTypeRef et, int esize, LLVMValueRef x,
                       LLVMValueRef x_at, LLVMValueRef y, LLVMValueRef y_at)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, elem_at(cg, et, x, x_at), "");
    LLVMSetAlignment(v, (unsigned)esize);
    LLVMValueRef s = LLVMBuildStore(cg->b, v, elem_at(cg, et, y, y_at));
    LLVMSetAlignment(s, (unsigned)esize);
}

static dc_status copy_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                           const char *symbol, int64_t *extent)
{
    copy_shape sh;
    char buf[200];
    copy_check(p, st, &sh, buf, sizeof buf);
    int64_t tiles = (sh.inner + TILE - 1) / TILE;
    *extent = sh.outer * tiles;
    LLVMTypeRef et = LLVMIntTypeInContext(cg->ctx, (unsigned)(8 * sh.esize));
    int lanes = cg->width * 4 / sh.esize; /* one vector register's bytes */
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, st->n_inputs);
    cg_loop tl;
    LLVMValueRef tile = cg_loop_begin(cg, &tl, begin, end, 1);
    LLVMValueRef row = LLVMBuildUDiv(B, tile, cg_i64(cg, tiles), "row");
    LLVMValueRef c0 = LLVMBuildMul(B, LLVMBuildURem(B, tile, cg_i64(cg, tiles), ""),
                                   cg_i64(cg, TILE), "");
    LLVMValueRef c1 = LLVMBuildAdd(B, c0, cg_i64(cg, TILE), "");
    c1 = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, c1, cg_i64(cg, sh.inner), ""), c1,
                         cg_i64(cg, sh.inner), "");
    LLVMValueRef x_row = cg_i64(cg, sh.base), rest = row;
    for (int d = sh.rank - 2; d >= 0; d--) {
        LLVMValueRef idx = LLVMBuildURem(B, rest, cg_i64(cg, sh.dims[d]), "");
        rest = LLVMBuildUDiv(B, rest, cg_i64(cg, sh.dims[d]), "");
        x_row = LLVMBuildAdd(B, x_row, LLVMBuildMul(B, idx, cg_i64(cg, sh.s[d]), ""), "");
    }
    LLVMValueRef y_row = LLVMBuildMul(B, row, cg_i64(cg, sh.inner), "");
    int64_t si = sh.s[sh.rank - 1];
    LLVMValueRef from = c0;
    if (si == 1) {
        cg_loop vl;
        LLVMValueRef i = cg_loop_begin(cg, &vl, c0, c1, lanes);
        copy_block(cg, LLVMVectorType(et, (unsigned)lanes), et, sh.esize, X,
                   LLVMBuildAdd(B, x_row, i, ""), Y, LLVMBuildAdd(B, y_row, i, ""));
        cg_loop_end(cg, &vl, NULL);
        from = cg_loop_next_index(&vl);
    }
    cg_loop sl;
    LLVMValueRef i = cg_loop_begin(cg, &sl, from, c1, 1);
    copy_block(cg, et, et, sh.esize, X,
               LLVMBuildAdd(B, x_row, LLVMBuildMul(B, i, cg_i64(cg, si), ""), ""), Y,
               LLVMBuildAdd(B, y_row, i, ""));
    cg_loop_end(cg, &sl, NULL);
    cg_loop_end(cg, &tl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_copy_families[] = {
    {"Transpose", copy_refusal, copy_emit, false, NULL},
    {"Slice", copy_refusal, copy_emit, false, NULL},
    {"Expand", copy_refusal, copy_emit, false, NULL},
    {"Identity", copy_refusal, copy_emit, false, NULL},
};
const int cg_n_copy_families = 4;
