/* Row kernels: reductions along the last axis with their prologue and
 * epilogue fused, f32, one row per parallel iteration (extent = rows).
 *
 *   Softmax / LogSoftmax  X[rows, n] -> Y[rows, n] along the last axis
 *                         (or an axis followed only by size-1 dims)
 *   LayerNormalization    X[rows, D], Scale[D], B[D]? -> Y[rows, D],
 *                         Mean[rows]?, InvStdDev[rows]? (stash type f32)
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

typedef enum acc_kind { ACC_NONE, ACC_SUM, ACC_MAX } acc_kind;

/* One element block of a pass: returns the new accumulator (or NULL). */
typedef LLVMValueRef (*pass_body)(dc_codegen *cg, void *ctx, LLVMTypeRef t, LLVMValueRef i,
                                  LLVMValueRef acc);

/* body over i in [0, n): vectors, then scalars; returns the accumulated
 * scalar (NULL for ACC_NONE). */
static LLVMValueRef row_pass(dc_codegen *cg, int64_t n, acc_kind kind, pass_body body, void *ctx)
{
    LLVMTypeRef vt = cg_vec(cg, cg->width);
    double identity = kind == ACC_MAX ? -HUGE_VAL : 0.0;
    cg_loop vl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, cg_i64(cg, 0), cg_i64(cg, n), cg->width);
    LLVMValueRef acc = kind ? cg_loop_carry(cg, &vl, cg_f(cg, vt, identity)) : NULL;
    LLVMValueRef next = body(cg, ctx, vt, i, acc);
    cg_loop_end(cg, &vl, &next);
    LLVMValueRef start = NULL;
    if (kind == ACC_SUM)
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

/* ---------------------------------------------------------------- Softmax */

static bool softmax_rows(const dc_plan *p, const dc_plan_step *st, int64_t *rows, int64_t *n)
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
    for (int d = (int)axis + 1; d < X->rank; d++)
        if (X->dims[d] != 1)
            return false;
    *n = X->dims[axis];
    *rows = *n ? cg_numel(X) / *n : 0;
    return true;
}

static const char *softmax_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                   size_t cap)
{
    int64_t rows, n;
    if (softmax_rows(p, st, &rows, &n))
        return NULL;
    snprintf(buf, cap, "%s: generated for f32 along the last axis only", st->op_type);
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

static dc_status softmax_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                              const char *symbol, int64_t *extent)
{
    int64_t rows, n;
    softmax_rows(p, st, &rows, &n);
    *extent = rows;
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
    s.m = row_pass(cg, n, ACC_MAX, softmax_max, &s);
    LLVMValueRef sum = row_pass(cg, n, ACC_SUM, softmax_sum, &s);
    s.scale = s.log ? cg_log(cg, sum) : LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), sum, "");
    row_pass(cg, n, ACC_NONE, softmax_out, &s);
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
    s.mean = LLVMBuildFMul(B, row_pass(cg, sh.D, ACC_SUM, ln_sum, &s), rD, "mean");
    LLVMValueRef var = LLVMBuildFMul(B, row_pass(cg, sh.D, ACC_SUM, ln_var, &s), rD, "var");
    var = LLVMBuildFAdd(B, var, cg_f(cg, cg->f32, eps), "");
    s.inv = LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), cg_call(cg, "llvm.sqrt", cg->f32, &var, 1),
                          "inv");
    if (M)
        cg_store(cg, s.mean, M, row);
    if (I)
        cg_store(cg, s.inv, I, row);
    row_pass(cg, sh.D, ACC_NONE, ln_out, &s);
    cg_loop_end(cg, &rl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_reduce_families[] = {
    {"Softmax", softmax_refusal, softmax_emit},
    {"LogSoftmax", softmax_refusal, softmax_emit},
    {"LayerNormalization", ln_refusal, ln_emit},
};
const int cg_n_reduce_families = sizeof cg_reduce_families / sizeof cg_reduce_families[0];
