/* LayerNormGrad (ai.dinoc), f32: LayerNormalization's backward.
 *
 *   dY[rows, D], X[rows, D], Scale[D], (Mean[rows], InvStdDev[rows])
 *     -> dX[rows, D], dScale[D]?, dB[D]?
 *   x̂ = (x − μ)·r,  dX = r·(g − mean(g) − x̂·mean(g·x̂)), g = dY·Scale
 *   dScale = Σ_rows dY·x̂,  dB = Σ_rows dY
 *
 * The parallel dimension has two parts: iterations [0, rows) are rows of dX
 * (row sums in double), iterations [rows, rows + blocks) are column blocks
 * of dScale and dB, each summing its columns down every row in double (one
 * vector of the target's width per block, then single columns for the
 * tail). The column sums need each row's μ and r, so dScale and dB are
 * generated only when the forward's Mean and InvStdDev are inputs. No
 * iteration writes what another reads (dX is never dY: the op is not run in
 * place), so any split gives the same result. */
#include <stdio.h>

#include "cg_internal.h"

typedef struct lng_shape {
    int64_t rows, D;
    bool stats, dscale, dbias;
} lng_shape;

static const char *lng_check(const dc_plan *p, const dc_plan_step *st, lng_shape *sh, char *buf,
                             size_t cap)
{
    int ni = st->n_inputs, no = st->n_outputs;
    const dc_plan_buffer *dY = cg_buffer(p, st, 0), *X = cg_buffer(p, st, 1),
                         *S = cg_buffer(p, st, 2), *dX = cg_buffer(p, st, ni);
    if ((ni != 3 && ni != 5) || no < 1 || no > 3 || !dY || !X || !S || !dX || X->rank < 1) {
        snprintf(buf, cap, "LayerNormGrad: arguments do not fit the op");
        return buf;
    }
    int64_t axis = dc_step_int(st, "axis", -1);
    if (axis < 0)
        axis += X->rank;
    if (axis < 0 || axis >= X->rank) {
        snprintf(buf, cap, "LayerNormGrad: axis out of range");
        return buf;
    }
    sh->rows = 1;
    for (int d = 0; d < axis; d++)
        sh->rows *= X->dims[d];
    sh->D = sh->rows ? cg_numel(X) / sh->rows : 0;
    sh->stats = ni == 5;
    sh->dscale = no > 1 && cg_buffer(p, st, ni + 1);
    sh->dbias = no > 2 && cg_buffer(p, st, ni + 2);
    bool f32 = dY->dtype == DC_F32 && X->dtype == DC_F32 && S->dtype == DC_F32 &&
               dX->dtype == DC_F32;
    bool shapes = cg_numel(dY) == cg_numel(X) && cg_numel(dX) == cg_numel(X) &&
                  cg_numel(S) == sh->D && sh->D > 0;
    for (int i = 3; i < ni; i++) {
        const dc_plan_buffer *b = cg_buffer(p, st, i);
        f32 = f32 && b && b->dtype == DC_F32;
        shapes = shapes && b && cg_numel(b) == sh->rows;
    }
    for (int i = 1; i < no; i++) {
        const dc_plan_buffer *b = cg_buffer(p, st, ni + i);
        f32 = f32 && (!b || b->dtype == DC_F32);
        shapes = shapes && (!b || cg_numel(b) == sh->D);
    }
    if (!f32 || !shapes) {
        snprintf(buf, cap, "LayerNormGrad: generated for f32 with Scale of the normalised size");
        return buf;
    }
    if ((sh->dscale || sh->dbias) && !sh->stats) {
        snprintf(buf, cap, "LayerNormGrad: dScale and dB are generated only with the forward's "
                 "Mean and InvStdDev as inputs");
        return buf;
    }
    return NULL;
}

static const char *lng_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    lng_shape sh;
    return lng_check(p, st, &sh, buf, cap);
}

typedef struct lng_ctx {
    LLVMValueRef x, dy, g, dx, mu, rs, a, b;
} lng_ctx;

static LLVMValueRef xhat(dc_codegen *cg, lng_ctx *c, LLVMTypeRef t, LLVMValueRef i)
{
    LLVMValueRef d = LLVMBuildFSub(cg->b, cg_load(cg, t, c->x, i), cg_splat(cg, t, c->mu), "");
    return LLVMBuildFMul(cg->b, d, cg_splat(cg, t, c->rs), "");
}

static LLVMValueRef gy(dc_codegen *cg, lng_ctx *c, LLVMTypeRef t, LLVMValueRef i)
{
    return LLVMBuildFMul(cg->b, cg_load(cg, t, c->dy, i), cg_load(cg, t, c->g, i), "");
}

static LLVMValueRef sum_x(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i, LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_to_f64(cg, cg_load(cg, t, ((lng_ctx *)c)->x, i)), "");
}

static LLVMValueRef sum_var(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    lng_ctx *s = c;
    LLVMValueRef d = cg_to_f64(
        cg, LLVMBuildFSub(cg->b, cg_load(cg, t, s->x, i), cg_splat(cg, t, s->mu), ""));
    return LLVMBuildFAdd(cg->b, acc, LLVMBuildFMul(cg->b, d, d, ""), "");
}

static LLVMValueRef sum_g(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i, LLVMValueRef acc)
{
    return LLVMBuildFAdd(cg->b, acc, cg_to_f64(cg, gy(cg, c, t, i)), "");
}

static LLVMValueRef sum_gx(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                           LLVMValueRef acc)
{
    LLVMValueRef prod = LLVMBuildFMul(cg->b, cg_to_f64(cg, gy(cg, c, t, i)),
                                      cg_to_f64(cg, xhat(cg, c, t, i)), "");
    return LLVMBuildFAdd(cg->b, acc, prod, "");
}

static LLVMValueRef write_dx(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                             LLVMValueRef acc)
{
    (void)acc;
    lng_ctx *s = c;
    LLVMBuilderRef B = cg->b;
    LLVMValueRef v = LLVMBuildFSub(B, gy(cg, s, t, i), cg_splat(cg, t, s->a), "");
    v = LLVMBuildFSub(B, v, LLVMBuildFMul(B, xhat(cg, s, t, i), cg_splat(cg, t, s->b), ""), "");
    cg_store(cg, LLVMBuildFMul(B, cg_splat(cg, t, s->rs), v, ""), s->dx, i);
    return NULL;
}

/* One row of dX: statistics (given or computed), the two row sums, dX. */
static void emit_row(dc_codegen *cg, const lng_shape *sh, float eps, LLVMValueRef *arg,
                     LLVMValueRef row)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    LLVMValueRef at = LLVMBuildMul(B, row, cg_i64(cg, sh->D), "");
    lng_ctx c = {.dy = cg_at(cg, arg[0], at), .x = cg_at(cg, arg[1], at), .g = arg[2],
                 .dx = cg_at(cg, arg[5], at)};
    LLVMValueRef rD = LLVMConstReal(f64, (double)sh->D);
    if (sh->stats) {
        c.mu = cg_load(cg, cg->f32, arg[3], row);
        c.rs = cg_load(cg, cg->f32, arg[4], row);
    } else {
        c.mu = LLVMBuildFPTrunc(B, LLVMBuildFDiv(B, cg_row_pass(cg, sh->D, ACC_SUM64, sum_x, &c),
                                                 rD, ""), cg->f32, "mu");
        LLVMValueRef v = LLVMBuildFPTrunc(
            B, LLVMBuildFDiv(B, cg_row_pass(cg, sh->D, ACC_SUM64, sum_var, &c), rD, ""), cg->f32,
            "");
        v = LLVMBuildFAdd(B, v, cg_f(cg, cg->f32, eps), "");
        c.rs = LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), cg_call(cg, "llvm.sqrt", cg->f32, &v, 1),
                             "rs");
    }
    LLVMValueRef mg = cg_row_pass(cg, sh->D, ACC_SUM64, sum_g, &c);
    LLVMValueRef mgx = cg_row_pass(cg, sh->D, ACC_SUM64, sum_gx, &c);
    c.a = LLVMBuildFPTrunc(B, LLVMBuildFDiv(B, mg, rD, ""), cg->f32, "");
    c.b = LLVMBuildFPTrunc(B, LLVMBuildFDiv(B, mgx, rD, ""), cg->f32, "");
    cg_row_pass(cg, sh->D, ACC_NONE, write_dx, &c);
}

/* Columns [j, j + lanes of t) of dScale and dB, summed over every row. */
static void emit_columns(dc_codegen *cg, const lng_shape *sh, LLVMTypeRef t, LLVMValueRef *arg,
                         LLVMValueRef j)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef acc_t = cg_vec_f64(cg, cg_lanes(t));
    cg_loop rl;
    LLVMValueRef r = cg_loop_begin(cg, &rl, cg_i64(cg, 0), cg_i64(cg, sh->rows), 1);
    LLVMValueRef as = cg_loop_carry(cg, &rl, cg_f(cg, acc_t, 0.0));
    LLVMValueRef ab = cg_loop_carry(cg, &rl, cg_f(cg, acc_t, 0.0));
    LLVMValueRef at = LLVMBuildAdd(B, LLVMBuildMul(B, r, cg_i64(cg, sh->D), ""), j, "");
    lng_ctx c = {.x = arg[1], .mu = cg_load(cg, cg->f32, arg[3], r),
                 .rs = cg_load(cg, cg->f32, arg[4], r)};
    LLVMValueRef dy = cg_load(cg, t, arg[0], at);
    LLVMValueRef next[2] = {
        LLVMBuildFAdd(B, as, LLVMBuildFMul(B, cg_to_f64(cg, dy), cg_to_f64(cg, xhat(cg, &c, t, at)),
                                           ""), ""),
        LLVMBuildFAdd(B, ab, cg_to_f64(cg, dy), ""),
    };
    cg_loop_end(cg, &rl, next);
    if (sh->dscale)
        cg_store(cg, LLVMBuildFPTrunc(B, cg_loop_final(&rl, 0), t, ""), arg[6], j);
    if (sh->dbias)
        cg_store(cg, LLVMBuildFPTrunc(B, cg_loop_final(&rl, 1), t, ""), arg[7], j);
}

static dc_status lng_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                          const char *symbol, int64_t *extent)
{
    lng_shape sh;
    char buf[200];
    lng_check(p, st, &sh, buf, sizeof buf);
    bool cols = sh.dscale || sh.dbias;
    int64_t full = sh.D / cg->width, blocks = cols ? full + sh.D % cg->width : 0;
    *extent = sh.rows + blocks;
    float eps = dc_step_float(st, "epsilon", 1e-5f);
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    int ni = st->n_inputs;
    /* dY, X, Scale, Mean, InvStdDev, dX, dScale, dB */
    LLVMValueRef arg[8] = {cg_arg(cg, 0), cg_arg(cg, 1), cg_arg(cg, 2),
                           sh.stats ? cg_arg(cg, 3) : NULL, sh.stats ? cg_arg(cg, 4) : NULL,
                           cg_arg(cg, ni), sh.dscale ? cg_arg(cg, ni + 1) : NULL,
                           sh.dbias ? cg_arg(cg, ni + 2) : NULL};
    cg_loop il;
    LLVMValueRef it = cg_loop_begin(cg, &il, begin, end, 1);
    LLVMBasicBlockRef row_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "row");
    LLVMBasicBlockRef col_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "columns");
    LLVMBasicBlockRef next_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "next");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, it, cg_i64(cg, sh.rows), ""), row_bb, col_bb);
    LLVMPositionBuilderAtEnd(B, row_bb);
    emit_row(cg, &sh, eps, arg, it);
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, col_bb);
    if (cols) {
        LLVMBasicBlockRef vec_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "vector");
        LLVMBasicBlockRef one_bb = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "single");
        LLVMValueRef blk = LLVMBuildSub(B, it, cg_i64(cg, sh.rows), "");
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, blk, cg_i64(cg, full), ""), vec_bb, one_bb);
        LLVMPositionBuilderAtEnd(B, vec_bb);
        emit_columns(cg, &sh, cg_vec(cg, cg->width), arg,
                     LLVMBuildMul(B, blk, cg_i64(cg, cg->width), ""));
        LLVMBuildBr(B, next_bb);
        LLVMPositionBuilderAtEnd(B, one_bb);
        emit_columns(cg, &sh, cg->f32, arg,
                     LLVMBuildAdd(B, blk, cg_i64(cg, full * cg->width - full), ""));
    }
    LLVMBuildBr(B, next_bb);
    LLVMPositionBuilderAtEnd(B, next_bb);
    cg_loop_end(cg, &il, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_norm_grad_families[] = {
    {"LayerNormGrad", lng_refusal, lng_emit, false, NULL},
};
const int cg_n_norm_grad_families = 1;
