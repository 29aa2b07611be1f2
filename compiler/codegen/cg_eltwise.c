/* Element-wise kernels: FusedElementwise programs of any length, the plain
 * element-wise ops (each a one-instruction program), Gelu and GeluGrad
 * (fixed programs), all f32 with numpy broadcasting (cg_broadcast.c) and
 * shapes baked in; Add, Sub, Mul, Div on other types go to cg_typed_eltwise.c.
 *
 *   x0[...], x1[...], ... f32, each broadcasting to y's shape -> y f32
 *
 * Shape: y's dims are merged where every input walks two adjacent dims as
 * one (as the C kernel does), leaving [outer rows, inner]. The parallel
 * dimension is tiles of at most TILE elements of one row: extent = outer ·
 * ceil(inner / TILE). A tile runs a loop of full vectors (the target's
 * width) and a scalar loop for the rest; an input broadcast along the row is
 * loaded once per tile and splat. Every element is read before it is
 * written, so y may be one of the inputs' bytes (in place). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"
#include "dc_eltwise_program.h"

/* MAX_INPUTS: a fused group reads at most this many tensors. */
enum { TILE = 4096, MAX_INPUTS = CG_MAX_BCAST_INPUTS };

typedef struct ew_program {
    int n_in, n_const, n_ins;
    const int64_t *program;
    const float *constants;
} ew_program;

/* Gelu(x) = x · (1 + erf(x/√2)) / 2: registers x, 0.5, 1, √½. */
static const int64_t gelu_program[] = {
    DC_EW_MUL, 0, 3, /* r4 = x/√2 */
    DC_EW_ERF, 4, 0, /* r5 */
    DC_EW_ADD, 5, 2, /* r6 = 1 + erf */
    DC_EW_MUL, 0, 6, /* r7 */
    DC_EW_MUL, 7, 1, /* r8 = r7 / 2 */
};
static const float gelu_constants[] = {0.5f, 1.0f, 0.70710678118654752f};

/* GeluGrad(dy, x) = dy · (Φ(x) + x · exp(−x²/2) / √(2π)):
 * registers dy, x, 0.5, 1, √½, −0.5, 1/√(2π). */
static const int64_t gelu_grad_program[] = {
    DC_EW_MUL, 1,  4,  /* r7 = x/√2 */
    DC_EW_ERF, 7,  0,  /* r8 */
    DC_EW_ADD, 8,  3,  /* r9 */
    DC_EW_MUL, 9,  2,  /* r10 = Φ(x) */
    DC_EW_MUL, 1,  1,  /* r11 = x² */
    DC_EW_MUL, 11, 5,  /* r12 = −x²/2 */
    DC_EW_EXP, 12, 0,  /* r13 */
    DC_EW_MUL, 13, 6,  /* r14 = φ(x) */
    DC_EW_MUL, 1,  14, /* r15 */
    DC_EW_ADD, 10, 15, /* r16 */
    DC_EW_MUL, 0,  16, /* r17 = dx */
};
static const float gelu_grad_constants[] = {0.5f, 1.0f, 0.70710678118654752f, -0.5f,
                                            0.39894228040143268f};

/* The program of a step; `fixed` holds a plain op's one instruction. */
static const char *program_of(const dc_plan_step *st, ew_program *pr, int64_t fixed[3],
                              char *buf, size_t cap)
{
    *pr = (ew_program){.n_in = st->n_inputs};
    if (strcmp(st->op_type, "FusedElementwise") == 0) {
        int n_program, n_const;
        pr->program = dc_step_ints(st, "program", &n_program);
        pr->constants = dc_step_floats(st, "constants", &n_const);
        if (dc_eltwise_program_check(pr->program, n_program, st->n_inputs, n_const) != DC_OK) {
            snprintf(buf, cap, "FusedElementwise: %s", dc_error_message());
            return buf;
        }
        pr->n_const = n_const;
        pr->n_ins = n_program / 3;
    } else if (strcmp(st->op_type, "Gelu") == 0 || strcmp(st->op_type, "GeluGrad") == 0) {
        bool grad = st->op_type[4] == 'G';
        pr->program = grad ? gelu_grad_program : gelu_program;
        pr->n_ins = grad ? 11 : 5;
        pr->constants = grad ? gelu_grad_constants : gelu_constants;
        pr->n_const = grad ? 5 : 3;
        if (st->n_inputs != 1 + grad) {
            snprintf(buf, cap, "%s: %d inputs, expected %d", st->op_type, st->n_inputs, 1 + grad);
            return buf;
        }
    } else {
        int op = dc_eltwise_opcode_of(st->op_type), arity = dc_eltwise_arity(op);
        if (st->n_inputs != arity) {
            snprintf(buf, cap, "%s: %d inputs, expected %d", st->op_type, st->n_inputs, arity);
            return buf;
        }
        fixed[0] = op;
        fixed[1] = 0;
        fixed[2] = arity == 2 ? 1 : 0;
        pr->program = fixed;
        pr->n_ins = 1;
    }
    return NULL;
}

/* The exponent of a Pow instruction when it is a constant small integer. */
static bool integer_exponent(const ew_program *pr, int64_t operand, int *e)
{
    if (operand < pr->n_in || operand >= pr->n_in + pr->n_const)
        return false;
    float v = pr->constants[operand - pr->n_in];
    if (!(v >= -16 && v <= 16) || v != (float)(int)v)
        return false;
    *e = (int)v;
    return true;
}

/* The broadcast layout (cg_broadcast.c) of an f32 step. */
static const char *shape_of(const dc_plan *p, const dc_plan_step *st, cg_bcast *sh, char *buf,
                            size_t cap)
{
    const dc_plan_buffer *Y = cg_buffer(p, st, st->n_inputs);
    if (st->n_outputs == 1 && Y && Y->dtype != DC_F32) {
        snprintf(buf, cap, "%s: the output is not f32", st->op_type);
        return buf;
    }
    for (int k = 0; k < st->n_inputs && k < MAX_INPUTS; k++) {
        const dc_plan_buffer *X = cg_buffer(p, st, k);
        if (X && X->dtype != DC_F32) {
            snprintf(buf, cap, "%s: input %d is not f32", st->op_type, k);
            return buf;
        }
    }
    return cg_bcast_shape(p, st, sh, buf, cap);
}

static const char *eltwise_refusal(const dc_plan *p, const dc_plan_step *st, char *buf, size_t cap)
{
    if (cg_typed_eltwise_wants(p, st))
        return cg_typed_eltwise_refusal(p, st, buf, cap);
    ew_program pr;
    int64_t fixed[3];
    if (program_of(st, &pr, fixed, buf, cap))
        return buf;
    if (pr.n_in + pr.n_const + pr.n_ins > 4096) {
        snprintf(buf, cap, "%s: a program of %d instructions is too long", st->op_type, pr.n_ins);
        return buf;
    }
    for (int i = 0; i < pr.n_ins; i++) {
        int e;
        if (pr.program[3 * i] == DC_EW_POW && !integer_exponent(&pr, pr.program[3 * i + 2], &e)) {
            snprintf(buf, cap, "%s: Pow with an exponent that is not a constant integer in "
                     "[-16, 16]", st->op_type);
            return buf;
        }
    }
    cg_bcast sh;
    return shape_of(p, st, &sh, buf, cap);
}

/* x^e for a small integer e by repeated squaring (1/x^-e for e < 0). */
static LLVMValueRef powi(dc_codegen *cg, LLVMValueRef x, int e)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    int n = e < 0 ? -e : e;
    LLVMValueRef r = NULL, sq = x;
    while (n) {
        if (n & 1)
            r = r ? LLVMBuildFMul(cg->b, r, sq, "") : sq;
        n >>= 1;
        if (n)
            sq = LLVMBuildFMul(cg->b, sq, sq, "");
    }
    if (!r)
        r = cg_f(cg, t, 1.0);
    return e < 0 ? LLVMBuildFDiv(cg->b, cg_f(cg, t, 1.0), r, "") : r;
}

static LLVMValueRef emit_op(dc_codegen *cg, const ew_program *pr, const int64_t *ins,
                            LLVMValueRef *reg)
{
    LLVMValueRef a = reg[ins[1]], b = dc_eltwise_arity((int)ins[0]) == 2 ? reg[ins[2]] : NULL;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMBuilderRef B = cg->b;
    int e;
    switch (ins[0]) {
    case DC_EW_ADD: return LLVMBuildFAdd(B, a, b, "");
    case DC_EW_SUB: return LLVMBuildFSub(B, a, b, "");
    case DC_EW_MUL: return LLVMBuildFMul(B, a, b, "");
    case DC_EW_DIV: return LLVMBuildFDiv(B, a, b, "");
    case DC_EW_POW: return integer_exponent(pr, ins[2], &e) ? powi(cg, a, e) : NULL;
    case DC_EW_NEG: return LLVMBuildFNeg(B, a, "");
    case DC_EW_ABS: return cg_call(cg, "llvm.fabs", t, &a, 1);
    case DC_EW_SQRT: return cg_call(cg, "llvm.sqrt", t, &a, 1);
    case DC_EW_RECIPROCAL: return LLVMBuildFDiv(B, cg_f(cg, t, 1.0), a, "");
    case DC_EW_EXP: return cg_exp(cg, a);
    case DC_EW_LOG: return cg_log(cg, a);
    case DC_EW_ERF: return cg_erf(cg, a);
    case DC_EW_TANH: return cg_tanh(cg, a);
    case DC_EW_SIGMOID: return cg_sigmoid(cg, a);
    case DC_EW_RELU:
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, cg_f(cg, t, 0.0), ""),
                               cg_f(cg, t, 0.0), a, "");
    default: return NULL; /* refused by eltwise_refusal */
    }
}

/* One block of `t` (vector or scalar) at row position i: load, compute, store. */
static void emit_block(dc_codegen *cg, const ew_program *pr, const cg_bcast *sh, LLVMTypeRef t,
                       LLVMValueRef *base, LLVMValueRef *off, LLVMValueRef *bcast,
                       LLVMValueRef y, LLVMValueRef y_off, LLVMValueRef i, LLVMValueRef *reg)
{
    int last = sh->rank - 1;
    for (int k = 0; k < pr->n_in; k++)
        reg[k] = sh->strides[k][last]
                     ? cg_load(cg, t, base[k], LLVMBuildAdd(cg->b, off[k], i, ""))
                     : cg_splat(cg, t, bcast[k]);
    for (int c = 0; c < pr->n_const; c++)
        reg[pr->n_in + c] = cg_f(cg, t, pr->constants[c]);
    for (int n = 0; n < pr->n_ins; n++)
        reg[pr->n_in + pr->n_const + n] = emit_op(cg, pr, pr->program + 3 * n, reg);
    cg_store(cg, reg[pr->n_in + pr->n_const + pr->n_ins - 1], y,
             LLVMBuildAdd(cg->b, y_off, i, ""));
}

static dc_status eltwise_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                              const char *symbol, int64_t *extent)
{
    if (cg_typed_eltwise_wants(p, st))
        return cg_typed_eltwise_emit(cg, p, st, symbol, extent);
    ew_program pr;
    int64_t fixed[3];
    char buf[256];
    cg_bcast sh;
    program_of(st, &pr, fixed, buf, sizeof buf);
    shape_of(p, st, &sh, buf, sizeof buf);
    *extent = sh.outer * ((sh.inner + TILE - 1) / TILE);

    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef *reg = malloc((size_t)(pr.n_in + pr.n_const + pr.n_ins) * sizeof *reg);
    if (!reg)
        return dc_error(DC_ERR_NOMEM, "kernel %s", symbol);
    LLVMValueRef base[MAX_INPUTS], off[MAX_INPUTS], bcast[MAX_INPUTS];
    for (int k = 0; k < pr.n_in; k++)
        base[k] = cg_arg(cg, k);
    LLVMValueRef y = cg_arg(cg, pr.n_in);

    cg_loop tl;
    LLVMValueRef tile = cg_loop_begin(cg, &tl, begin, end, 1), row, c0, c1;
    cg_bcast_tile(cg, &sh, TILE, tile, &row, &c0, &c1);
    cg_bcast_row_offsets(cg, &sh, row, off);
    for (int k = 0; k < pr.n_in; k++)
        bcast[k] = sh.strides[k][sh.rank - 1] ? NULL : cg_load(cg, cg->f32, base[k], off[k]);
    LLVMValueRef y_off = LLVMBuildMul(B, row, cg_i64(cg, sh.inner), "");

    cg_loop vl;
    LLVMValueRef i = cg_loop_begin(cg, &vl, c0, c1, cg->width);
    emit_block(cg, &pr, &sh, cg_vec(cg, cg->width), base, off, bcast, y, y_off, i, reg);
    cg_loop_end(cg, &vl, NULL);
    cg_loop sl;
    i = cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), c1, 1);
    emit_block(cg, &pr, &sh, cg->f32, base, off, bcast, y, y_off, i, reg);
    cg_loop_end(cg, &sl, NULL);

    cg_loop_end(cg, &tl, NULL);
    cg_kernel_end(cg);
    free(reg);
    return DC_OK;
}

#define EW(op) {op, eltwise_refusal, eltwise_emit, false, NULL}
const cg_family cg_eltwise_families[] = {
    EW("FusedElementwise"), EW("Add"),  EW("Sub"),  EW("Mul"),        EW("Div"),
    EW("Pow"),              EW("Neg"),  EW("Abs"),  EW("Sqrt"),       EW("Reciprocal"),
    EW("Exp"),              EW("Log"),  EW("Erf"),  EW("Tanh"),       EW("Sigmoid"),
    EW("Relu"),             EW("Gelu"), EW("GeluGrad"),
};
const int cg_n_eltwise_families = sizeof cg_eltwise_families / sizeof cg_eltwise_families[0];
