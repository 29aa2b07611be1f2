/* Row kernels: reductions along the last axis with their prologue and
 * epilogue fused, f32, one row per parallel iteration (extent = rows).
 *
 *   Softmax / LogSoftmax  X[rows, n] -> Y[rows, n] along the last axis (or
 *                         an axis followed only by size-1 dims); along an
 *                         axis with dims after it, X[outer, n, inner], one
 *                         iteration per (slab, block of columns)
 *   LayerNormalization    X[rows, D], Scale[D], B[D]? -> Y[rows, D],
 *                         Mean[rows]?, InvStdDev[rows]? (stash type f32)
 *   CrossEntropySoft      S[R, K], P[R, K], τ[] -> L[R], G[R, K]?
 *                         L = ΣP·logsumexp(S/τ) − ⟨P, S⟩/τ,
 *                         G = (ΣP·softmax(S/τ) − P)/τ; its sums in double
 *                         (a non-positive τ, which the C kernel reports as an
 *                         error, gives NaN)
 *
 * Each pass over a row runs full vectors of the target's width, then the
 * tail element by element continuing from the vector's reduced value; sums
 * are kept in f32 vector lanes (the C kernels sum in double: results agree
 * to f32 rounding of the sum, about 1e-6 relative). Rows are independent,
 * so any split of [0, rows) gives the same result; Y may be X (in place):
 * what a pass writes is read by no later pass but as Y. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

/* log of a double in [1, 2^1023]: e·ln 2 exactly plus the f32 log of the
 * mantissa in [1, 2) (absolute error about 1e-7). */
static LLVMValueRef log_f64(dc_codegen *cg, LLVMValueRef x)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    LLVMValueRef bits = LLVMBuildBitCast(B, x, cg->i64, "");
    LLVMValueRef e = LLVMBuildSub(B, LLVMBuildLShr(B, bits, cg_i64(cg, 52), ""), cg_i64(cg, 1023), "");
    LLVMValueRef mant = LLVMBuildOr(B, LLVMBuildAnd(B, bits, cg_i64(cg, 0x000fffffffffffffll), ""),
                                    cg_i64(cg, 0x3ff0000000000000ll), "");
    LLVMValueRef f = LLVMBuildFPTrunc(B, LLVMBuildBitCast(B, mant, f64, ""), cg->f32, "");
    LLVMValueRef lf = LLVMBuildFPExt(B, cg_log(cg, f), f64, "");
    return LLVMBuildFAdd(B, lf, LLVMBuildFMul(B, LLVMBuildSIToFP(B, e, f64, ""),
                                              LLVMConstReal(f64, 0.69314718055994530942), ""), "");
}

/* ---------------------------------------------------------------- Softmax */

/* X as [outer, n, inner] around the axis. */
static bool softmax_shape(const dc_plan *p, const dc_plan_step *st, int64_t *outer, int64_t *n,
                          int64_t *inner)
{
    const dc_plan_buffer *X = cg_buffer(p, st, 0), *Y = cg_buffer(p, st, st->n_inputs);
    if (st->n_inputs != 1 || st->n_outputs != 1 || !X || !Y || X->dtype != DC_F32 ||
        Y->dtype != DC_F32 || X->rank < 1 || X->rank != Y->rank ||
        memcmp(X->dims, Y->dims, (size_t)X->rank * sizeof X->dims[0]) != 0)
        return false;
    int64_t axis = dc_step_int(st, "axis", -1);
    if (axis < 0)
        axis += X->rank;
    if (axis < 0 || axis >= X->rank)
        return false;
    *outer = *inner = 1;
    for (int d = 0; d < X->rank; d++) {
        if (d < axis)
            *outer *= X->dims[d];
        if (d > axis)
            *inner *= X->dims[d];
    }
    *n = X->dims[axis];
    return true;
}

static const char *softmax_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                   size_t cap)
{
    int64_t outer, n, inner;
    if (softmax_shape(p, st, &outer, &n, &inner))
        return NULL;
    snprintf(buf, cap, "%s: generated for f32 only", st->op_type);
    return buf;
}

typedef struct softmax_ctx {
    LLVMValueRef x, y, m, scale; /* row pointers; the max; 1/sum or log(sum) */
    bool log, store_exp;
} softmax_ctx;

static LLVMValueRef softmax_max(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                                LLVMValueRef acc)
{
    softmax_ctx *s = c;
    return cg_max(cg, acc, cg_load(cg, t, s->x, i));
}

static LLVMValueRef softmax_sum(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                                LLVMValueRef acc)
{
    softmax_ctx *s = c;
    LLVMValueRef d = LLVMBuildFSub(cg->b, cg_load(cg, t, s->x, i), cg_splat(cg, t, s->m), "");
    LLVMValueRef e = cg_exp(cg, d);
    if (s->store_exp)
        cg_store(cg, e, s->y, i);
    return LLVMBuildFAdd(cg->b, acc, e, "");
}

static LLVMValueRef softmax_out(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                                LLVMValueRef acc)
{
    (void)acc;
    softmax_ctx *s = c;
    LLVMValueRef y;
    if (s->log)
        y = LLVMBuildFSub(cg->b,
                          LLVMBuildFSub(cg->b, cg_load(cg, t, s->x, i), cg_splat(cg, t, s->m), ""),
                          cg_splat(cg, t, s->scale), "");
    else
        y = LLVMBuildFMul(cg->b, cg_load(cg, t, s->y, i), cg_splat(cg, t, s->scale), "");
    cg_store(cg, y, s->y, i);
    return NULL;
}

/* Softmax along an axis with dims after it: X as [outer, n, inner]; one
 * iteration per (slab, column block), a block being one vector of columns or
 * one tail column, normalised down its n rows (sums in double, as the C
 * kernel's). */
static void softmax_columns(dc_codegen *cg, bool lg, int64_t n, int64_t inner, LLVMTypeRef t,
                            LLVMValueRef X, LLVMValueRef Y, LLVMValueRef at)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef dt = cg_vec_f64(cg, cg_lanes(t));
    cg_loop ml;
    LLVMValueRef l = cg_loop_begin(cg, &ml, cg_i64(cg, 0), cg_i64(cg, n), 1);
    LLVMValueRef m = cg_loop_carry(cg, &ml, cg_f(cg, t, -HUGE_VAL));
    LLVMValueRef i = LLVMBuildAdd(B, at, LLVMBuildMul(B, l, cg_i64(cg, inner), ""), "");
    LLVMValueRef next = cg_max(cg, m, cg_load(cg, t, X, i));
    cg_loop_end(cg, &ml, &next);
    m = cg_loop_final(&ml, 0);
    cg_loop sl;
    l = cg_loop_begin(cg, &sl, cg_i64(cg, 0), cg_i64(cg, n), 1);
    LLVMValueRef acc = cg_loop_carry(cg, &sl, cg_f(cg, dt, 0.0));
    i = LLVMBuildAdd(B, at, LLVMBuildMul(B, l, cg_i64(cg, inner), ""), "");
    next = LLVMBuildFAdd(B, acc, cg_to_f64(cg, cg_exp(cg, LLVMBuildFSub(B, cg_load(cg, t, X, i), m, ""))), "");
    cg_loop_end(cg, &sl, &next);
    LLVMValueRef sum = cg_loop_final(&sl, 0), scale;
    if (lg) {
        /* log of each lane's sum (each >= 1) */
        scale = LLVMGetUndef(t);
        for (int k = 0; k < cg_lanes(t); k++) {
            LLVMValueRef lane = cg_lanes(t) == 1 ? sum
                                : LLVMBuildExtractElement(B, sum, LLVMConstInt(cg->i32, (unsigned)k, 0), "");
            LLVMValueRef lv = LLVMBuildFPTrunc(B, log_f64(cg, lane), cg->f32, "");
            scale = cg_lanes(t) == 1 ? lv
                    : LLVMBuildInsertElement(B, scale, lv, LLVMConstInt(cg->i32, (unsigned)k, 0), "");
        }
    } else {
        scale = LLVMBuildFPTrunc(B, LLVMBuildFDiv(B, cg_f(cg, dt, 1.0), sum, ""), t, "");
    }
    cg_loop wl;
    l = cg_loop_begin(cg, &wl, cg_i64(cg, 0), cg_i64(cg, n), 1);
    i = LLVMBuildAdd(B, at, LLVMBuildMul(B, l, cg_i64(cg, inner), ""), "");
    LLVMValueRef d = LLVMBuildFSub(B, cg_load(cg, t, X, i), m, "");
    LLVMValueRef y = lg ? LLVMBuildFSub(B, d, scale, "") : LLVMBuildFMul(B, cg_exp(cg, d), scale, "");
    cg_store(cg, y, Y, i);
    cg_loop_end(cg, &wl, NULL);
}

static dc_status softmax_columns_emit(dc_codegen *cg, const dc_plan_step *st, const char *symbol,
                                      int64_t outer, int64_t n, int64_t inner, int64_t *extent)
{
    int64_t full = inner / cg->width, blocks = full + inner % cg->width;
    *extent = n ? outer * blocks : 0;
    bool lg = strcmp(st->op_type, "LogSoftmax") == 0;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, 1);
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    LLVMValueRef slab = LLVMBuildUDiv(B, it, cg_i64(cg, blocks), "");
    LLVMValueRef blk = LLVMBuildURem(B, it, cg_i64(cg, blocks), "");
    LLVMValueRef base = LLVMBuildMul(B, slab, cg_i64(cg, n * inner), "");
    LLVMBasicBlockRef vec_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "vector");
    LLVMBasicBlockRef one_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "single");
    LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, blk, cg_i64(cg, full), ""), vec_bb, one_bb);
    LLVMPositionBuilderAtEnd(B, vec_bb);
    softmax_columns(cg, lg, n, inner, cg_vec(cg, cg->width), X, Y,
                    LLVMBuildAdd(B, base, LLVMBuildMul(B, blk, cg_i64(cg, cg->width), ""), ""));
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, one_bb);
    softmax_columns(cg, lg, n, inner, cg->f32, X, Y,
                    LLVMBuildAdd(B, base, LLVMBuildAdd(B, blk, cg_i64(cg, full * cg->width - full), ""), ""));
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, next_bb);
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

static dc_status softmax_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                              const char *symbol, int64_t *extent)
{
    int64_t outer, n, inner;
    softmax_shape(p, st, &outer, &n, &inner);
    if (inner > 1)
        return softmax_columns_emit(cg, st, symbol, outer, n, inner, extent);
    int64_t rows = outer;
    *extent = n ? rows : 0;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), Y = cg_arg(cg, 1);
    softmax_ctx s = {.log = strcmp(st->op_type, "LogSoftmax") == 0};
    s.store_exp = !s.log;
    cg_loop rl;
    LLVMValueRef row = cg_loop_begin(cg, &rl, begin, end, 1);
    LLVMValueRef at = LLVMBuildMul(B, row, cg_i64(cg, n), "");
    s.x = cg_at(cg, X, at);
    s.y = cg_at(cg, Y, at);
    s.m = cg_row_pass(cg, n, ACC_MAX, softmax_max, &s);
    LLVMValueRef sum = cg_row_pass(cg, n, ACC_SUM, softmax_sum, &s);
    s.scale = s.log ? cg_log(cg, sum) : LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), sum, "");
    cg_row_pass(cg, n, ACC_NONE, softmax_out, &s);
    cg_loop_end(cg, &rl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

/* ---------------------------------------------------------------- LayerNormalization */

typedef struct ln_shape {
    int64_t rows, D;
    bool bias, mean, inv;
} ln_shape;

static const char *ln_check(const dc_plan *p, const dc_plan_step *st, ln_shape *sh, char *buf,
                            size_t cap)
{
    const dc_plan_buffer *X = cg_buffer(p, st, 0), *G = cg_buffer(p, st, 1),
                         *Bb = st->n_inputs > 2 ? cg_buffer(p, st, 2) : NULL,
                         *Y = cg_buffer(p, st, st->n_inputs);
    const dc_plan_buffer *M = st->n_outputs > 1 ? cg_buffer(p, st, st->n_inputs + 1) : NULL,
                         *I = st->n_outputs > 2 ? cg_buffer(p, st, st->n_inputs + 2) : NULL;
    if (st->n_inputs < 2 || st->n_inputs > 3 || st->n_outputs < 1 || st->n_outputs > 3 || !X ||
        !G || !Y || X->rank < 1) {
        snprintf(buf, cap, "LayerNormalization: arguments do not fit the op");
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", -1);
    if (axis < 0)
        axis += X->rank;
    if (axis < 0 || axis >= X->rank) {
        snprintf(buf, cap, "LayerNormalization: axis out of range");
        return buf;
    }
    sh->rows = 1;
    for (int d = 0; d < axis; d++)
        sh->rows *= X->dims[d];
    sh->D = sh->rows ? cg_numel(X) / sh->rows : 0;
    if (X->dtype != DC_F32 || Y->dtype != DC_F32 || G->dtype != DC_F32 ||
        (Bb && Bb->dtype != DC_F32) || dc_step_int(st, "stash_type", DC_F32) != DC_F32 ||
        (M && M->dtype != DC_F32) || (I && I->dtype != DC_F32)) {
        snprintf(buf, cap, "LayerNormalization: generated for f32 with an f32 stash only");
        return buf;
    }
    if (cg_numel(G) != sh->D || (Bb && cg_numel(Bb) != sh->D) || cg_numel(Y) != cg_numel(X) ||
        (M && cg_numel(M) != sh->rows) || (I && cg_numel(I) != sh->rows) || sh->D == 0) {
        snprintf(buf, cap, "LayerNormalization: generated when Scale and B hold the normalised "
                 "shape (no broadcasting)");
        return buf;
    }
    sh->bias = Bb != NULL;
    sh->mean = M != NULL;
    sh->inv = I != NULL;
    return NULL;
}

static const char *ln_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    ln_shape sh;
    return ln_check(p, st, &sh, buf, cap);
}

typedef struct ln_ctx {
    LLVMValueRef x, y, g, b, mean, inv;
} ln_ctx;

static LLVMValueRef ln_sum(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_load(cg, t, ((ln_ctx *)c)->x, i), "");
}

static LLVMValueRef ln_var(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    ln_ctx *s = c;
    LLVMValueRef d = LLVMBuildFSub(cg->b, cg_load(cg, t, s->x, i), cg_splat(cg, t, s->mean), "");
    return cg_fma(cg, d, d, acc);
}

static LLVMValueRef ln_out(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    (void)acc;
    ln_ctx *s = c;
    LLVMBuilderRef B = cg->b;
    LLVMValueRef d = LLVMBuildFSub(B, cg_load(cg, t, s->x, i), cg_splat(cg, t, s->mean), "");
    LLVMValueRef y = LLVMBuildFMul(B, LLVMBuildFMul(B, d, cg_splat(cg, t, s->inv), ""),
                                   cg_load(cg, t, s->g, i), "");
    if (s->b)
        y = LLVMBuildFAdd(B, y, cg_load(cg, t, s->b, i), "");
    cg_store(cg, y, s->y, i);
    return NULL;
}

static dc_status ln_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                         const char *symbol, int64_t *extent)
{
    ln_shape sh;
    char buf[200];
    ln_check(p, st, &sh, buf, sizeof buf);
    *extent = sh.rows;
    float eps = dc_step_float(st, "epsilon", 1e-5f);
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef X = cg_arg(cg, 0), G = cg_arg(cg, 1), Bias = sh.bias ? cg_arg(cg, 2) : NULL;
    LLVMValueRef Y = cg_arg(cg, st->n_inputs);
    LLVMValueRef M = sh.mean ? cg_arg(cg, st->n_inputs + 1) : NULL;
    LLVMValueRef I = sh.inv ? cg_arg(cg, st->n_inputs + 2) : NULL;
    ln_ctx s = {.g = G, .b = Bias};
    cg_loop rl;
    LLVMValueRef row = cg_loop_begin(cg, &rl, begin, end, 1);
    LLVMValueRef at = LLVMBuildMul(B, row, cg_i64(cg, sh.D), "");
    s.x = cg_at(cg, X, at);
    s.y = cg_at(cg, Y, at);
    LLVMValueRef rD = cg_f(cg, cg->f32, 1.0 / (double)sh.D);
    s.mean = LLVMBuildFMul(B, cg_row_pass(cg, sh.D, ACC_SUM, ln_sum, &s), rD, "mean");
    LLVMValueRef var = LLVMBuildFMul(B, cg_row_pass(cg, sh.D, ACC_SUM, ln_var, &s), rD, "var");
    var = LLVMBuildFAdd(B, var, cg_f(cg, cg->f32, eps), "");
    s.inv = LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), cg_call(cg, "llvm.sqrt", cg->f32, &var, 1),
                          "inv");
    if (M)
        cg_store(cg, s.mean, M, row);
    if (I)
        cg_store(cg, s.inv, I, row);
    cg_row_pass(cg, sh.D, ACC_NONE, ln_out, &s);
    cg_loop_end(cg, &rl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

/* ---------------------------------------------------------------- CrossEntropySoft */

static const char *ce_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    const dc_plan_buffer *S = cg_buffer(p, st, 0), *P = cg_buffer(p, st, 1),
                         *T = cg_buffer(p, st, 2), *L = cg_buffer(p, st, 3),
                         *G = st->n_outputs > 1 ? cg_buffer(p, st, 4) : NULL;
    bool ok = st->n_inputs == 3 && st->n_outputs >= 1 && st->n_outputs <= 2 && S && P && T && L &&
              S->dtype == DC_F32 && P->dtype == DC_F32 && T->dtype == DC_F32 &&
              L->dtype == DC_F32 && S->rank == 2 && P->rank == 2 && S->dims[0] == P->dims[0] &&
              S->dims[1] == P->dims[1] && cg_numel(T) == 1 && cg_numel(L) == S->dims[0] &&
              (st->n_outputs == 1 || (G && G->dtype == DC_F32 && cg_numel(G) == cg_numel(S)));
    if (ok)
        return NULL;
    snprintf(buf, cap, "CrossEntropySoft: generated for f32 [R, K] logits and targets only");
    return buf;
}

typedef struct ce_ctx {
    LLVMValueRef s, p, g, inv_tau, m, scale;
} ce_ctx;

static LLVMValueRef ce_max(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    return cg_max(cg, acc, cg_load(cg, t, ((ce_ctx *)c)->s, i));
}

/* z − m for z = s/τ */
static LLVMValueRef ce_shifted(dc_codegen *cg, ce_ctx *c, LLVMTypeRef t, LLVMValueRef i)
{
    LLVMValueRef z = LLVMBuildFMul(cg->b, cg_load(cg, t, c->s, i), cg_splat(cg, t, c->inv_tau), "");
    return LLVMBuildFSub(cg->b, z, cg_splat(cg, t, c->m), "");
}

static LLVMValueRef ce_sum(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_to_f64(cg, cg_exp(cg, ce_shifted(cg, c, t, i))), "");
}

static LLVMValueRef ce_mass(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_to_f64(cg, cg_load(cg, t, ((ce_ctx *)c)->p, i)), "");
}

static LLVMValueRef ce_dot(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    ce_ctx *s = c;
    LLVMValueRef z = LLVMBuildFMul(cg->b, cg_load(cg, t, s->s, i), cg_splat(cg, t, s->inv_tau), "");
    LLVMValueRef pz = LLVMBuildFMul(cg->b, cg_to_f64(cg, cg_load(cg, t, s->p, i)),
                                    cg_to_f64(cg, z), "");
    return LLVMBuildFAdd(cg->b, acc, pz, "");
}

static LLVMValueRef ce_grad(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    (void)acc;
    ce_ctx *s = c;
    LLVMValueRef e = cg_exp(cg, ce_shifted(cg, s, t, i));
    LLVMValueRef pt = LLVMBuildFMul(cg->b, cg_load(cg, t, s->p, i), cg_splat(cg, t, s->inv_tau), "");
    cg_store(cg, LLVMBuildFSub(cg->b, LLVMBuildFMul(cg->b, cg_splat(cg, t, s->scale), e, ""), pt, ""),
             s->g, i);
    return NULL;
}

static dc_status ce_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                         const char *symbol, int64_t *extent)
{
    const dc_plan_buffer *S = cg_buffer(p, st, 0);
    int64_t K = S->dims[1];
    bool grad = st->n_outputs == 2;
    *extent = K ? S->dims[0] : 0;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    LLVMValueRef Sp = cg_arg(cg, 0), Pp = cg_arg(cg, 1), L = cg_arg(cg, 3);
    LLVMValueRef G = grad ? cg_arg(cg, 4) : NULL;
    LLVMValueRef tau = LLVMBuildLoad2(B, cg->f32, cg_arg(cg, 2), "tau");
    ce_ctx c = {0};
    LLVMValueRef inv = LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), tau, "");
    LLVMValueRef bad = LLVMBuildFCmp(B, LLVMRealULE, tau, cg_f(cg, cg->f32, 0.0), "");
    c.inv_tau = LLVMBuildSelect(B, bad, cg_f(cg, cg->f32, NAN), inv, "inv_tau");
    cg_loop rl;
    LLVMValueRef row = cg_loop_begin(cg, &rl, begin, end, 1);
    LLVMValueRef at = LLVMBuildMul(B, row, cg_i64(cg, K), "");
    c.s = cg_at(cg, Sp, at);
    c.p = cg_at(cg, Pp, at);
    c.m = LLVMBuildFMul(B, cg_row_pass(cg, K, ACC_MAX, ce_max, &c), c.inv_tau, "m");
    LLVMValueRef sum = cg_row_pass(cg, K, ACC_SUM64, ce_sum, &c);
    LLVMValueRef mass = cg_row_pass(cg, K, ACC_SUM64, ce_mass, &c);
    LLVMValueRef dot = cg_row_pass(cg, K, ACC_SUM64, ce_dot, &c);
    LLVMValueRef lse = LLVMBuildFAdd(B, LLVMBuildFPExt(B, c.m, f64, ""), log_f64(cg, sum), "");
    LLVMValueRef loss = LLVMBuildFSub(B, LLVMBuildFMul(B, mass, lse, ""), dot, "");
    cg_store(cg, LLVMBuildFPTrunc(B, loss, cg->f32, ""), L, row);
    if (grad) {
        c.g = cg_at(cg, G, at);
        LLVMValueRef sc = LLVMBuildFMul(B, LLVMBuildFDiv(B, mass, sum, ""),
                                        LLVMBuildFPExt(B, c.inv_tau, f64, ""), "");
        c.scale = LLVMBuildFPTrunc(B, sc, cg->f32, "scale");
        cg_row_pass(cg, K, ACC_NONE, ce_grad, &c);
    }
    cg_loop_end(cg, &rl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_reduce_families[] = {
    {"Softmax", softmax_refusal, softmax_emit, false, NULL},
    {"LogSoftmax", softmax_refusal, softmax_emit, false, NULL},
    {"LayerNormalization", ln_refusal, ln_emit, false, NULL},
    {"CrossEntropySoft", ce_refusal, ce_emit, false, NULL},
};
const int cg_n_reduce_families = sizeof cg_reduce_families / sizeof cg_reduce_families[0];
