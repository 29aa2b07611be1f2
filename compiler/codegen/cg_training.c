/* Training-state kernels: AdamW, AdamWGroup (one AdamW over every tensor of
 * a param group) and EMA (the teacher's update and the centers'), f32.
 *
 *   AdamW       (p, g, m, v, lr, wd, step) -> (p', m', v')
 *   AdamWGroup  (lr, wd, step, p1, g1, m1, v1, ...) -> (p1', m1', v1', ...)
 *   EMA         (momentum, a1, b1, a2, b2, ...) -> (a1', a2', ...)
 *
 * Same arithmetic as runtime/kernels/c_training.c (PyTorch's order):
 *   p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²
 *   p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps);   a' = μ·a + (1−μ)·b
 * The bias corrections are computed in double from the step count read at
 * run time (β^t by repeated squaring). A step count below 1, which the C
 * kernel reports as an error, makes the generated kernel write NaN.
 *
 * The parallel dimension is tiles of at most TILE elements over all tensors
 * of the step in order: a constant table maps a tile to its tensor, whose
 * data pointers are read from args at run time. Every element is read
 * before it is written, so outputs may be the state they replace. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum { TILE = 8192 };

/* Where a step keeps its tensors: n tensors of `per` inputs each from input
 * `first`, outputs of `outs` per tensor from output 0, scalars at `scalars`. */
typedef struct layout {
    int n, first, per, outs, scalars;
} layout;

static bool layout_of(const dc_plan_step *st, layout *l)
{
    int ni = st->n_inputs, no = st->n_outputs;
    if (strcmp(st->op_type, "AdamW") == 0) {
        *l = (layout){1, 0, 4, 3, 4};
        return ni == 7 && no == 3;
    }
    if (strcmp(st->op_type, "AdamWGroup") == 0) {
        *l = (layout){(ni - 3) / 4, 3, 4, 3, 0};
        return ni >= 7 && (ni - 3) % 4 == 0 && no == (ni - 3) / 4 * 3;
    }
    *l = (layout){no, 1, 2, 1, 0};
    return no >= 1 && ni == 1 + 2 * no;
}

static bool same_shape(const dc_plan_buffer *a, const dc_plan_buffer *b)
{
    return a && b && a->rank == b->rank && memcmp(a->dims, b->dims, (size_t)a->rank * 8) == 0;
}

static const char *training_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                    size_t cap)
{
    layout l;
    if (!layout_of(st, &l)) {
        snprintf(buf, cap, "%s: %d inputs and %d outputs do not fit the op", st->op_type,
                 st->n_inputs, st->n_outputs);
        return buf;
    }
    bool adam = l.per == 4;
    for (int s = 0; s < (adam ? 3 : 1); s++) {
        const dc_plan_buffer *b = cg_buffer(p, st, l.scalars + s);
        if (!b || cg_numel(b) != 1 || b->dtype != (s == 2 ? DC_I64 : DC_F32)) {
            snprintf(buf, cap, "%s: input %d is not a %s scalar", st->op_type, l.scalars + s,
                     s == 2 ? "int64" : "float");
            return buf;
        }
    }
    for (int k = 0; k < l.n; k++) {
        const dc_plan_buffer *P = cg_buffer(p, st, l.first + l.per * k);
        for (int j = 0; j < l.per + l.outs; j++) {
            int arg = j < l.per ? l.first + l.per * k + j : st->n_inputs + l.outs * k + j - l.per;
            const dc_plan_buffer *b = cg_buffer(p, st, arg);
            if (!b || b->dtype != DC_F32 || !same_shape(b, P)) {
                snprintf(buf, cap, "%s: tensor %d: argument %d is missing, not f32 or not of "
                         "the parameter's shape", st->op_type, k, arg);
                return buf;
            }
        }
    }
    return NULL;
}

/* A private constant table of i64 values. */
static LLVMValueRef table(dc_codegen *cg, const int64_t *v, int64_t n, const char *name)
{
    LLVMValueRef *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    if (!c)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        c[i] = cg_i64(cg, v[i]);
    LLVMValueRef init = LLVMConstArray(cg->i64, c, (unsigned)n);
    free(c);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    return g;
}

static LLVMValueRef table_at(dc_codegen *cg, LLVMValueRef t, LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->i64,
                                    LLVMBuildInBoundsGEP2(cg->b, cg->i64, t, &i, 1, ""), "");
    LLVMSetAlignment(v, 8);
    return v;
}

/* args[index] for an i64 index computed at run time. */
static LLVMValueRef arg_dyn(dc_codegen *cg, LLVMValueRef index)
{
    LLVMValueRef p = LLVMBuildLoad2(cg->b, cg->ptr,
                                    LLVMBuildGEP2(cg->b, cg->ptr, cg->args, &index, 1, ""), "");
    LLVMSetAlignment(p, 8);
    return p;
}

/* b^t in double for an i64 t >= 0, by repeated squaring. */
static LLVMValueRef pow_int(dc_codegen *cg, double base, LLVMValueRef t)
{
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    LLVMBuilderRef B = cg->b;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "pow");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "pow.body");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "pow.done");
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, head);
    LLVMValueRef r = LLVMBuildPhi(B, f64, "r"), s = LLVMBuildPhi(B, f64, "s"),
                 e = LLVMBuildPhi(B, cg->i64, "e");
    LLVMValueRef r0 = LLVMConstReal(f64, 1.0), s0 = LLVMConstReal(f64, base);
    LLVMAddIncoming(r, &r0, &pre, 1);
    LLVMAddIncoming(s, &s0, &pre, 1);
    LLVMAddIncoming(e, &t, &pre, 1);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, e, cg_i64(cg, 0), ""), body, done);
    LLVMPositionBuilderAtEnd(B, body);
    LLVMValueRef odd = LLVMBuildICmp(B, LLVMIntNE, LLVMBuildAnd(B, e, cg_i64(cg, 1), ""),
                                     cg_i64(cg, 0), "");
    LLVMValueRef r1 = LLVMBuildSelect(B, odd, LLVMBuildFMul(B, r, s, ""), r, "");
    LLVMValueRef s1 = LLVMBuildFMul(B, s, s, "");
    LLVMValueRef e1 = LLVMBuildAShr(B, e, cg_i64(cg, 1), "");
    LLVMBuildBr(B, head);
    LLVMAddIncoming(r, &r1, &body, 1);
    LLVMAddIncoming(s, &s1, &body, 1);
    LLVMAddIncoming(e, &e1, &body, 1);
    LLVMPositionBuilderAtEnd(B, done);
    return r;
}

typedef struct adam_consts {
    LLVMValueRef b1, b2, one_b1, one_b2, shrink, step_size, bias2_sqrt, eps, mu, one_mu;
} adam_consts;

/* The scalars of one run, as f32 scalars (splat by emit_element). */
static void adam_scalars(dc_codegen *cg, const dc_plan_step *st, const layout *l, adam_consts *k)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef f64 = LLVMDoubleTypeInContext(cg->ctx);
    float b1 = dc_step_float(st, "beta1", 0.9f), b2 = dc_step_float(st, "beta2", 0.999f);
    float eps = dc_step_float(st, "epsilon", 1e-8f), lr_scale = dc_step_float(st, "lr_scale", 1.0f);
    bool decay = dc_step_int(st, "decay", 1) != 0;
    LLVMValueRef lr = LLVMBuildLoad2(B, cg->f32, cg_arg(cg, l->scalars), "lr");
    LLVMValueRef wd = LLVMBuildLoad2(B, cg->f32, cg_arg(cg, l->scalars + 1), "wd");
    LLVMValueRef t = LLVMBuildLoad2(B, cg->i64, cg_arg(cg, l->scalars + 2), "t");
    lr = LLVMBuildFMul(B, lr, cg_f(cg, cg->f32, lr_scale), "");
    if (!decay)
        wd = cg_f(cg, cg->f32, 0.0);
    k->shrink = LLVMBuildFSub(B, cg_f(cg, cg->f32, 1.0), LLVMBuildFMul(B, lr, wd, ""), "");
    LLVMValueRef one = LLVMConstReal(f64, 1.0);
    LLVMValueRef c1 = LLVMBuildFSub(B, one, pow_int(cg, (double)b1, t), "");
    LLVMValueRef c2 = LLVMBuildFSub(B, one, pow_int(cg, (double)b2, t), "");
    LLVMValueRef ss = LLVMBuildFDiv(B, LLVMBuildFPExt(B, lr, f64, ""), c1, "");
    LLVMValueRef sq = cg_call(cg, "llvm.sqrt", f64, &c2, 1);
    LLVMValueRef bad = LLVMBuildICmp(B, LLVMIntSLT, t, cg_i64(cg, 1), "");
    LLVMValueRef nan = LLVMConstReal(f64, NAN);
    k->step_size = LLVMBuildFPTrunc(B, LLVMBuildSelect(B, bad, nan, ss, ""), cg->f32, "");
    k->bias2_sqrt = LLVMBuildFPTrunc(B, sq, cg->f32, "");
    k->b1 = cg_f(cg, cg->f32, b1);
    k->b2 = cg_f(cg, cg->f32, b2);
    k->one_b1 = cg_f(cg, cg->f32, 1.0f - b1);
    k->one_b2 = cg_f(cg, cg->f32, 1.0f - b2);
    k->eps = cg_f(cg, cg->f32, eps);
}

/* One block of type t at element i of tensor pointers ptr[] (inputs then outputs). */
static void emit_element(dc_codegen *cg, bool adam, const adam_consts *k, LLVMTypeRef t,
                         LLVMValueRef *ptr, LLVMValueRef i)
{
    LLVMBuilderRef B = cg->b;
#define S(v) cg_splat(cg, t, (v))
    if (!adam) {
        LLVMValueRef a = cg_load(cg, t, ptr[0], i), b = cg_load(cg, t, ptr[1], i);
        LLVMValueRef y = LLVMBuildFAdd(B, LLVMBuildFMul(B, S(k->mu), a, ""),
                                       LLVMBuildFMul(B, S(k->one_mu), b, ""), "");
        cg_store(cg, y, ptr[2], i);
        return;
    }
    LLVMValueRef p = cg_load(cg, t, ptr[0], i), g = cg_load(cg, t, ptr[1], i);
    LLVMValueRef m = cg_load(cg, t, ptr[2], i), v = cg_load(cg, t, ptr[3], i);
    m = LLVMBuildFAdd(B, LLVMBuildFMul(B, S(k->b1), m, ""), LLVMBuildFMul(B, S(k->one_b1), g, ""),
                      "");
    v = LLVMBuildFAdd(B, LLVMBuildFMul(B, S(k->b2), v, ""),
                      LLVMBuildFMul(B, LLVMBuildFMul(B, S(k->one_b2), g, ""), g, ""), "");
    LLVMValueRef denom = LLVMBuildFAdd(
        B, LLVMBuildFDiv(B, cg_call(cg, "llvm.sqrt", t, &v, 1), S(k->bias2_sqrt), ""), S(k->eps),
        "");
    LLVMValueRef upd = LLVMBuildFDiv(B, LLVMBuildFMul(B, S(k->step_size), m, ""), denom, "");
    p = LLVMBuildFSub(B, LLVMBuildFMul(B, p, S(k->shrink), ""), upd, "");
    cg_store(cg, p, ptr[4], i);
    cg_store(cg, m, ptr[5], i);
    cg_store(cg, v, ptr[6], i);
#undef S
}

static dc_status training_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                               const char *symbol, int64_t *extent)
{
    layout l;
    layout_of(st, &l);
    bool adam = l.per == 4;
    int64_t *first = malloc((size_t)(l.n + 1) * sizeof *first);
    int64_t *numel = malloc((size_t)l.n * sizeof *numel), tiles = 0;
    if (!first || !numel) {
        free(first);
        free(numel);
        return dc_error(DC_ERR_NOMEM, "kernel %s", symbol);
    }
    for (int k = 0; k < l.n; k++) {
        numel[k] = cg_numel(cg_buffer(p, st, l.first + l.per * k));
        first[k] = tiles;
        tiles += (numel[k] + TILE - 1) / TILE;
    }
    first[l.n] = tiles;
    int64_t *owner = malloc((size_t)(tiles ? tiles : 1) * sizeof *owner);
    if (!owner) {
        free(first);
        free(numel);
        return dc_error(DC_ERR_NOMEM, "kernel %s", symbol);
    }
    for (int k = 0; k < l.n; k++)
        for (int64_t t = first[k]; t < first[k + 1]; t++)
            owner[t] = k;
    *extent = tiles;

    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    char name[200];
    snprintf(name, sizeof name, "%s.owner", symbol);
    LLVMValueRef owner_t = table(cg, owner, tiles, name);
    snprintf(name, sizeof name, "%s.first", symbol);
    LLVMValueRef first_t = table(cg, first, l.n, name);
    snprintf(name, sizeof name, "%s.numel", symbol);
    LLVMValueRef numel_t = table(cg, numel, l.n, name);
    free(owner);
    free(first);
    free(numel);
    if (!owner_t || !first_t || !numel_t)
        return dc_error(DC_ERR_NOMEM, "kernel %s", symbol);
    LLVMBuilderRef B = cg->b;
    adam_consts k = {0};
    if (adam) {
        adam_scalars(cg, st, &l, &k);
    } else {
        k.mu = LLVMBuildLoad2(B, cg->f32, cg_arg(cg, 0), "momentum");
        k.one_mu = LLVMBuildFSub(B, cg_f(cg, cg->f32, 1.0), k.mu, "");
    }
    cg_loop tl;
    LLVMValueRef tile = cg_loop_begin(cg, &tl, begin, end, 1);
    LLVMValueRef kk = table_at(cg, owner_t, tile);
    LLVMValueRef c0 = LLVMBuildMul(B, LLVMBuildSub(B, tile, table_at(cg, first_t, kk), ""),
                                   cg_i64(cg, TILE), "");
    LLVMValueRef n = table_at(cg, numel_t, kk);
    LLVMValueRef c1 = LLVMBuildAdd(B, c0, cg_i64(cg, TILE), "");
    c1 = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, c1, n, ""), c1, n, "");
    LLVMValueRef ptr[7];
    LLVMValueRef in0 = LLVMBuildAdd(B, cg_i64(cg, l.first), LLVMBuildMul(B, kk, cg_i64(cg, l.per), ""), "");
    LLVMValueRef out0 = LLVMBuildAdd(B, cg_i64(cg, st->n_inputs),
                                     LLVMBuildMul(B, kk, cg_i64(cg, l.outs), ""), "");
    for (int j = 0; j < l.per; j++)
        ptr[j] = arg_dyn(cg, LLVMBuildAdd(B, in0, cg_i64(cg, j), ""));
    for (int j = 0; j < l.outs; j++)
        ptr[l.per + j] = arg_dyn(cg, LLVMBuildAdd(B, out0, cg_i64(cg, j), ""));
    cg_loop vl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, c0, c1, cg->width);
    emit_element(cg, adam, &k, cg_vec(cg, cg->width), ptr, i);
    cg_loop_end(cg, &vl, NULL);
    cg_loop sl;
    i = cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), c1, 1);
    emit_element(cg, adam, &k, cg->f32, ptr, i);
    cg_loop_end(cg, &sl, NULL);
    cg_loop_end(cg, &tl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_training_families[] = {
    {"AdamW", training_refusal, training_emit, false, NULL},
    {"AdamWGroup", training_refusal, training_emit, false, NULL},
    {"EMA", training_refusal, training_emit, false, NULL},
};
const int cg_n_training_families = sizeof cg_training_families / sizeof cg_training_families[0];
