/* Attention and AttentionGrad (ai.dinoc), f32: multi-head self-attention
 * from the packed qkv projection, one (batch, head) per parallel iteration.
 *
 *   Attention:     QKV[B, N, 3D] -> O[B, N, D], LSE[B, H, N]?
 *   AttentionGrad: dO[B, N, D], QKV, O, LSE -> dQKV[B, N, 3D]
 *   {num_heads = H, scale = s}; head h of q, k, v at columns h·d, D + h·d,
 *   2D + h·d (d = D / H), read in place with a row stride of 3D.
 *
 * The products go to oneDNN's sgemm (dnnl_sgemm of the process that loads
 * the artifact: every dinoc runtime links oneDNN), called with the shapes,
 * strides and scale baked in; the generated code is everything between them:
 *   forward   P = softmax(s·QKᵀ) row by row (max, exp and sum, scale by
 *             1/sum), LSE = max + log(sum), O = P·V;
 *   backward  P recomputed as exp(s·QKᵀ − LSE), dV = Pᵀ·dO, dP = dO·Vᵀ,
 *             dS = s·P∘(dP − rowsum(dO∘O)), dQ = dS·K, dK = dSᵀ·Q.
 * The [N, N] scores live only in the calling thread's scratch (the step's
 * llvm_scratch: N² floats forward, 2N² backward), never in the plan's memory.
 * Each iteration writes only its own (b, h) columns, so any split of
 * [0, B·H) gives the same result. f64 stays with the C kernel. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

typedef struct att_shape {
    bool grad, lse;
    int64_t b, n, d, h, hd;
    float scale;
} att_shape;

static const char *att_check(const dc_plan *p, const dc_plan_step *st, att_shape *sh, char *buf,
                             size_t cap)
{
    sh->grad = strcmp(st->op_type, "AttentionGrad") == 0;
    int ni = st->n_inputs, no = st->n_outputs;
    const dc_plan_buffer *qkv = cg_buffer(p, st, sh->grad ? 1 : 0);
    int64_t heads = dc_step_int(st, "num_heads", 1);
    if (ni != (sh->grad ? 4 : 1) || no < 1 || no > (sh->grad ? 1 : 2) || !qkv || qkv->rank != 3 ||
        heads < 1 || qkv->dims[2] % (3 * heads) != 0) {
        snprintf(buf, cap, "%s: arguments do not fit the op", st->op_type);
        return buf;
    }
    *sh = (att_shape){.grad = sh->grad, .b = qkv->dims[0], .n = qkv->dims[1],
                      .d = qkv->dims[2] / 3, .h = heads, .hd = qkv->dims[2] / 3 / heads,
                      .scale = dc_step_float(st, "scale", 1.0f)};
    sh->lse = !sh->grad && no == 2 && cg_buffer(p, st, 2);
    const int64_t o_dims[3] = {sh->b, sh->n, sh->d}, lse_dims[3] = {sh->b, sh->h, sh->n};
    /* The arguments after QKV and their dims: dO, O, LSE, dQKV backward;
     * O, LSE forward. */
    const int64_t *dims[4] = {o_dims, o_dims, lse_dims, qkv->dims};
    int args[4] = {0, 2, 3, 4}, n_want = 4;
    if (!sh->grad) {
        dims[1] = lse_dims;
        args[0] = 1;
        args[1] = 2;
        n_want = sh->lse ? 2 : 1;
    }
    bool ok = qkv->dtype == DC_F32;
    for (int i = 0; ok && i < n_want; i++) {
        const dc_plan_buffer *x = cg_buffer(p, st, args[i]);
        ok = x && x->dtype == DC_F32 && x->rank == 3 && x->dims[0] == dims[i][0] &&
             x->dims[1] == dims[i][1] && x->dims[2] == dims[i][2];
    }
    if (!ok) {
        snprintf(buf, cap, "%s: generated for f32 with the op's shapes (f64 stays with the C "
                 "kernel)", st->op_type);
        return buf;
    }
    if (sh->n == 0 || sh->hd == 0 || sh->n > (int64_t)1 << 14) {
        snprintf(buf, cap, "%s: %lld tokens: the scores' scratch is generated for 1 to 16384",
                 st->op_type, (long long)sh->n);
        return buf;
    }
    return NULL;
}

static const char *att_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    att_shape sh;
    return att_check(p, st, &sh, buf, cap);
}

static int64_t att_scratch(const dc_plan *p, const dc_plan_step *st)
{
    att_shape sh;
    char buf[200];
    if (att_check(p, st, &sh, buf, sizeof buf))
        return 0;
    return (sh.grad ? 2 : 1) * sh.n * sh.n * (int64_t)sizeof(float);
}

/* dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, N, K,
 *   float alpha, const float *A, dnnl_dim_t lda, const float *B, dnnl_dim_t ldb,
 *   float beta, float *C, dnnl_dim_t ldc): row-major. */
static LLVMValueRef sgemm_function(dc_codegen *cg, LLVMTypeRef *fty)
{
    LLVMTypeRef i8 = LLVMInt8TypeInContext(cg->ctx);
    LLVMTypeRef params[] = {i8,      i8,      cg->i64, cg->i64, cg->i64, cg->f32, cg->ptr,
                            cg->i64, cg->ptr, cg->i64, cg->f32, cg->ptr, cg->i64};
    *fty = LLVMFunctionType(cg->i32, params, 13, 0);
    LLVMValueRef f = LLVMGetNamedFunction(cg->mod, "dnnl_sgemm");
    if (f)
        return f;
    f = LLVMAddFunction(cg->mod, "dnnl_sgemm", *fty);
    /* C passes a char sign-extended (x86-64 psABI as clang and gcc do it). */
    unsigned signext = LLVMGetEnumAttributeKindForName("signext", 7);
    for (unsigned i = 1; i <= 2; i++)
        LLVMAddAttributeAtIndex(f, i, LLVMCreateEnumAttribute(cg->ctx, signext, 0));
    return f;
}

/* C[m, n] = alpha · op(A) · op(B) + 0 · C, row-major, strides in floats. */
static void sgemm(dc_codegen *cg, char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha,
                  LLVMValueRef a, int64_t lda, LLVMValueRef b, int64_t ldb, LLVMValueRef c,
                  int64_t ldc)
{
    LLVMTypeRef fty, i8 = LLVMInt8TypeInContext(cg->ctx);
    LLVMValueRef f = sgemm_function(cg, &fty);
    LLVMValueRef args[] = {LLVMConstInt(i8, (unsigned char)ta, 0), LLVMConstInt(i8, (unsigned char)tb, 0),
                           cg_i64(cg, m), cg_i64(cg, n), cg_i64(cg, k), cg_f(cg, cg->f32, alpha),
                           a, cg_i64(cg, lda), b, cg_i64(cg, ldb), cg_f(cg, cg->f32, 0.0), c,
                           cg_i64(cg, ldc)};
    LLVMValueRef call = LLVMBuildCall2(cg->b, fty, f, args, 13, "");
    unsigned signext = LLVMGetEnumAttributeKindForName("signext", 7);
    for (unsigned i = 1; i <= 2; i++)
        LLVMAddCallSiteAttribute(call, i, LLVMCreateEnumAttribute(cg->ctx, signext, 0));
}

/* One row of scores (and, backward, of dP) and what a pass over it needs. */
typedef struct att_row {
    LLVMValueRef p, dp, m, inv, dot, dout, o;
    float scale;
} att_row;

static LLVMValueRef row_max(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    return cg_max(cg, acc, cg_load(cg, t, ((att_row *)c)->p, i));
}

/* p = exp(p − m), summed (forward: m the row max; backward: the logsumexp). */
static LLVMValueRef row_exp(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    att_row *r = c;
    LLVMValueRef x = LLVMBuildFSub(cg->b, cg_load(cg, t, r->p, i), cg_splat(cg, t, r->m), "");
    LLVMValueRef e = cg_exp(cg, x);
    cg_store(cg, e, r->p, i);
    return acc ? LLVMBuildFAdd(cg->b, acc, e, "") : NULL;
}

static LLVMValueRef row_scale(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                              LLVMValueRef acc)
{
    (void)acc;
    att_row *r = c;
    cg_store(cg, LLVMBuildFMul(cg->b, cg_load(cg, t, r->p, i), cg_splat(cg, t, r->inv), ""), r->p,
             i);
    return NULL;
}

/* rowsum(dO∘O) over the head's columns, in double. */
static LLVMValueRef row_dot(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                            LLVMValueRef acc)
{
    att_row *r = c;
    LLVMValueRef x = cg_to_f64(cg, cg_load(cg, t, r->dout, i)), y = cg_to_f64(cg, cg_load(cg, t, r->o, i));
    return LLVMBuildFAdd(cg->b, acc, LLVMBuildFMul(cg->b, x, y, ""), "");
}

/* dS = s·P∘(dP − dot), into dP. */
static LLVMValueRef row_dscores(dc_codegen *cg, void *c, LLVMTypeRef t, LLVMValueRef i,
                                LLVMValueRef acc)
{
    (void)acc;
    att_row *r = c;
    LLVMBuilderRef B = cg->b;
    LLVMValueRef g = LLVMBuildFSub(B, cg_load(cg, t, r->dp, i), cg_splat(cg, t, r->dot), "");
    LLVMValueRef sp = LLVMBuildFMul(B, cg_load(cg, t, r->p, i), cg_f(cg, t, r->scale), "");
    cg_store(cg, LLVMBuildFMul(B, sp, g, ""), r->dp, i);
    return NULL;
}

/* &base[b·bs + h·hs] */
static LLVMValueRef head_at(dc_codegen *cg, LLVMValueRef base, LLVMValueRef b, int64_t bs,
                            LLVMValueRef h, int64_t hs)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef at = LLVMBuildAdd(B, LLVMBuildMul(B, b, cg_i64(cg, bs), ""),
                                   LLVMBuildMul(B, h, cg_i64(cg, hs), ""), "");
    return cg_at(cg, base, at);
}

static void emit_forward(dc_codegen *cg, const att_shape *sh, LLVMValueRef *arg, LLVMValueRef p,
                         LLVMValueRef b, LLVMValueRef h)
{
    LLVMBuilderRef B = cg->b;
    const int64_t n = sh->n, d = sh->d, hd = sh->hd, ld = 3 * d;
    LLVMValueRef q = head_at(cg, arg[0], b, n * ld, h, hd);
    LLVMValueRef k = cg_at(cg, q, cg_i64(cg, d)), v = cg_at(cg, q, cg_i64(cg, 2 * d));
    sgemm(cg, 'N', 'T', n, n, hd, sh->scale, q, ld, k, ld, p, n);
    cg_loop rl;
    LLVMValueRef i = cg_loop_begin(cg, &rl, cg_i64(cg, 0), cg_i64(cg, n), 1);
    att_row r = {.p = cg_at(cg, p, LLVMBuildMul(B, i, cg_i64(cg, n), ""))};
    r.m = cg_row_pass(cg, n, ACC_MAX, row_max, &r);
    LLVMValueRef sum = cg_row_pass(cg, n, ACC_SUM, row_exp, &r);
    r.inv = LLVMBuildFDiv(B, cg_f(cg, cg->f32, 1.0), sum, "inv");
    cg_row_pass(cg, n, ACC_NONE, row_scale, &r);
    if (sh->lse) {
        LLVMValueRef lse = head_at(cg, arg[2], b, sh->h * n, h, n);
        cg_store(cg, LLVMBuildFAdd(B, r.m, cg_log(cg, sum), ""), lse, i);
    }
    cg_loop_end(cg, &rl, NULL);
    sgemm(cg, 'N', 'N', n, hd, n, 1.0f, p, n, v, ld, head_at(cg, arg[1], b, n * d, h, hd), d);
}

static void emit_backward(dc_codegen *cg, const att_shape *sh, LLVMValueRef *arg, LLVMValueRef p,
                          LLVMValueRef b, LLVMValueRef h)
{
    LLVMBuilderRef B = cg->b;
    const int64_t n = sh->n, d = sh->d, hd = sh->hd, ld = 3 * d;
    LLVMValueRef q = head_at(cg, arg[1], b, n * ld, h, hd);
    LLVMValueRef k = cg_at(cg, q, cg_i64(cg, d)), v = cg_at(cg, q, cg_i64(cg, 2 * d));
    LLVMValueRef dout = head_at(cg, arg[0], b, n * d, h, hd);
    LLVMValueRef o = head_at(cg, arg[2], b, n * d, h, hd);
    LLVMValueRef lse = head_at(cg, arg[3], b, sh->h * n, h, n);
    LLVMValueRef dq = head_at(cg, arg[4], b, n * ld, h, hd);
    LLVMValueRef dk = cg_at(cg, dq, cg_i64(cg, d)), dv = cg_at(cg, dq, cg_i64(cg, 2 * d));
    LLVMValueRef dp = cg_at(cg, p, cg_i64(cg, n * n));

    sgemm(cg, 'N', 'T', n, n, hd, sh->scale, q, ld, k, ld, p, n);
    cg_loop rl;
    LLVMValueRef i = cg_loop_begin(cg, &rl, cg_i64(cg, 0), cg_i64(cg, n), 1);
    att_row r = {.p = cg_at(cg, p, LLVMBuildMul(B, i, cg_i64(cg, n), "")),
                 .m = cg_load(cg, cg->f32, lse, i)};
    cg_row_pass(cg, n, ACC_NONE, row_exp, &r);
    cg_loop_end(cg, &rl, NULL);

    sgemm(cg, 'T', 'N', n, hd, n, 1.0f, p, n, dout, d, dv, ld);
    sgemm(cg, 'N', 'T', n, n, hd, 1.0f, dout, d, v, ld, dp, n);
    i = cg_loop_begin(cg, &rl, cg_i64(cg, 0), cg_i64(cg, n), 1);
    LLVMValueRef row = LLVMBuildMul(B, i, cg_i64(cg, n), "");
    LLVMValueRef orow = LLVMBuildMul(B, i, cg_i64(cg, d), "");
    r = (att_row){.p = cg_at(cg, p, row), .dp = cg_at(cg, dp, row), .scale = sh->scale,
                  .dout = cg_at(cg, dout, orow), .o = cg_at(cg, o, orow)};
    r.dot = LLVMBuildFPTrunc(B, cg_row_pass(cg, hd, ACC_SUM64, row_dot, &r), cg->f32, "dot");
    cg_row_pass(cg, n, ACC_NONE, row_dscores, &r);
    cg_loop_end(cg, &rl, NULL);
    sgemm(cg, 'N', 'N', n, hd, n, 1.0f, dp, n, k, ld, dq, ld);
    sgemm(cg, 'T', 'N', n, hd, n, 1.0f, dp, n, q, ld, dk, ld);
}

static dc_status att_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                          const char *symbol, int64_t *extent)
{
    att_shape sh;
    char buf[200];
    att_check(p, st, &sh, buf, sizeof buf);
    *extent = sh.b * sh.h;
    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    int n_args = st->n_inputs + st->n_outputs;
    LLVMValueRef arg[6];
    for (int a = 0; a < n_args; a++)
        arg[a] = cg_arg(cg, a);
    LLVMValueRef scratch = cg_arg(cg, n_args); /* this thread's (dc_artifact.h) */
    cg_loop l;
    LLVMValueRef bh = cg_loop_begin(cg, &l, begin, end, 1);
    LLVMValueRef b = LLVMBuildSDiv(cg->b, bh, cg_i64(cg, sh.h), "b");
    LLVMValueRef h = LLVMBuildSRem(cg->b, bh, cg_i64(cg, sh.h), "h");
    if (sh.grad)
        emit_backward(cg, &sh, arg, scratch, b, h);
    else
        emit_forward(cg, &sh, arg, scratch, b, h);
    cg_loop_end(cg, &l, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_attention_families[] = {
    {"Attention", att_refusal, att_emit, false, att_scratch},
    {"AttentionGrad", att_refusal, att_emit, false, att_scratch},
};
const int cg_n_attention_families = 2;
