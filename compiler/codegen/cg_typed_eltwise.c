/* Element-wise ops on other element types than the f32 of cg_eltwise.c, with
 * numpy broadcasting (cg_broadcast.c), as the c.* kernels compute them:
 *
 *   Where(C bool, X, Y) -> Z   any 1/2/4/8-byte type, bits selected
 *   Equal(A, B) -> bool        f32, f64, integers, bool ((a != 0) == (b != 0))
 *   Add, Sub, Mul, Div(A, B)   f64 and integers: integer arithmetic wraps,
 *                              integer Div truncates toward zero with
 *                              x / 0 = 0 and MIN / -1 = MIN (no trap)
 *
 * Same tiling as cg_eltwise.c: the parallel dimension is tiles of at most
 * TILE elements of one output row; a tile runs vectors of the target's width
 * (in elements, whatever their size), then one element at a time; an input
 * broadcast along the row is loaded once per tile and splat. Every element
 * is read before it is written, so the output may be an input's bytes. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

enum { TILE = 4096 };

typedef enum typed_op { T_WHERE, T_EQUAL, T_ADD, T_SUB, T_MUL, T_DIV, T_NONE } typed_op;

static typed_op op_of(const char *op_type)
{
    static const char *const names[] = {"Where", "Equal", "Add", "Sub", "Mul", "Div"};
    for (int k = 0; k < T_NONE; k++)
        if (strcmp(op_type, names[k]) == 0)
            return (typed_op)k;
    return T_NONE;
}

static bool is_float(dc_dtype t) { return t == DC_F32 || t == DC_F64; }
static bool is_signed(dc_dtype t)
{
    return t == DC_I8 || t == DC_I16 || t == DC_I32 || t == DC_I64;
}
static bool is_unsigned(dc_dtype t)
{
    return t == DC_U8 || t == DC_U16 || t == DC_U32 || t == DC_U64;
}

bool cg_typed_eltwise_wants(const dc_plan *p, const dc_plan_step *st)
{
    typed_op op = op_of(st->op_type);
    const dc_plan_buffer *A = cg_buffer(p, st, 0);
    return op >= T_ADD && op != T_NONE && A && A->dtype != DC_F32;
}

/* The element type the step computes on: X's for Where, A's otherwise. */
static dc_dtype dtype_of(const dc_plan *p, const dc_plan_step *st)
{
    const dc_plan_buffer *X = cg_buffer(p, st, op_of(st->op_type) == T_WHERE ? 1 : 0);
    return X ? X->dtype : DC_UNDEFINED;
}

const char *cg_typed_eltwise_refusal(const dc_plan *p, const dc_plan_step *st, char *buf,
                                     size_t cap)
{
    typed_op op = op_of(st->op_type);
    int arity = op == T_WHERE ? 3 : 2;
    if (op == T_NONE || st->n_inputs != arity || st->n_outputs != 1) {
        snprintf(buf, cap, "%s: arguments do not fit the op", st->op_type);
        return buf;
    }
    dc_dtype t = dtype_of(p, st);
    const dc_plan_buffer *Z = cg_buffer(p, st, arity);
    for (int k = op == T_WHERE; k < arity; k++) {
        const dc_plan_buffer *X = cg_buffer(p, st, k);
        if (!X || X->dtype != t) {
            snprintf(buf, cap, "%s: inputs of different element types", st->op_type);
            return buf;
        }
    }
    const dc_plan_buffer *C = cg_buffer(p, st, 0);
    size_t es = dc_dtype_size(t);
    bool ok;
    if (op == T_WHERE)
        ok = C && C->dtype == DC_BOOL && (es == 1 || es == 2 || es == 4 || es == 8);
    else if (op == T_EQUAL)
        ok = is_float(t) || is_signed(t) || is_unsigned(t) || t == DC_BOOL;
    else
        ok = t == DC_F64 || is_signed(t) || is_unsigned(t);
    if (!ok) {
        snprintf(buf, cap, "%s: element type %s is not generated", st->op_type, dc_dtype_name(t));
        return buf;
    }
    if (!Z || Z->dtype != (op == T_EQUAL ? DC_BOOL : t)) {
        snprintf(buf, cap, "%s: the output's element type is not the op's", st->op_type);
        return buf;
    }
    cg_bcast sh;
    return cg_bcast_shape(p, st, &sh, buf, cap);
}

/* The LLVM type of one element of t (integers for everything but floats). */
static LLVMTypeRef elem_type(dc_codegen *cg, dc_dtype t)
{
    if (t == DC_F32)
        return cg->f32;
    if (t == DC_F64)
        return LLVMDoubleTypeInContext(cg->ctx);
    return LLVMIntTypeInContext(cg->ctx, (unsigned)(8 * dc_dtype_size(t)));
}

static LLVMTypeRef lanes_of(LLVMTypeRef e, int lanes)
{
    return lanes == 1 ? e : LLVMVectorType(e, (unsigned)lanes);
}

/* a / b on integers without a trap: x / 0 = 0, and (signed) x / -1 = -x. */
static LLVMValueRef int_div(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b, bool sign)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef zero = LLVMBuildICmp(B, LLVMIntEQ, b, cg_i(cg, t, 0), "");
    LLVMValueRef minus1 = LLVMBuildICmp(B, LLVMIntEQ, b, cg_i(cg, t, -1), "");
    LLVMValueRef unsafe = sign ? LLVMBuildOr(B, zero, minus1, "") : zero;
    LLVMValueRef d = LLVMBuildSelect(B, unsafe, cg_i(cg, t, 1), b, "");
    LLVMValueRef q = sign ? LLVMBuildSDiv(B, a, d, "") : LLVMBuildUDiv(B, a, d, "");
    if (sign)
        q = LLVMBuildSelect(B, minus1, LLVMBuildNeg(B, a, ""), q, "");
    return LLVMBuildSelect(B, zero, cg_i(cg, t, 0), q, "");
}

static LLVMValueRef compute(dc_codegen *cg, typed_op op, dc_dtype t, LLVMValueRef *v)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef a = v[0], b = v[1];
    bool f = is_float(t);
    switch (op) {
    case T_WHERE: {
        LLVMValueRef c = LLVMBuildICmp(B, LLVMIntNE, v[0], cg_i(cg, LLVMTypeOf(v[0]), 0), "");
        return LLVMBuildSelect(B, c, v[1], v[2], "");
    }
    case T_EQUAL: {
        LLVMValueRef eq;
        if (f)
            eq = LLVMBuildFCmp(B, LLVMRealOEQ, a, b, "");
        else if (t == DC_BOOL)
            eq = LLVMBuildICmp(B, LLVMIntEQ,
                               LLVMBuildICmp(B, LLVMIntNE, a, cg_i(cg, LLVMTypeOf(a), 0), ""),
                               LLVMBuildICmp(B, LLVMIntNE, b, cg_i(cg, LLVMTypeOf(b), 0), ""), "");
        else
            eq = LLVMBuildICmp(B, LLVMIntEQ, a, b, "");
        return LLVMBuildZExt(B, eq, lanes_of(LLVMInt8TypeInContext(cg->ctx),
                                             cg_lanes(LLVMTypeOf(a))), "");
    }
    case T_ADD: return f ? LLVMBuildFAdd(B, a, b, "") : LLVMBuildAdd(B, a, b, "");
    case T_SUB: return f ? LLVMBuildFSub(B, a, b, "") : LLVMBuildSub(B, a, b, "");
    case T_MUL: return f ? LLVMBuildFMul(B, a, b, "") : LLVMBuildMul(B, a, b, "");
    case T_DIV: return f ? LLVMBuildFDiv(B, a, b, "") : int_div(cg, a, b, is_signed(t));
    default: return NULL; /* refused */
    }
}

typedef struct typed_kernel {
    typed_op op;
    dc_dtype t;
    int n_in;
    const cg_bcast *sh;
    LLVMTypeRef in_elem[3], out_elem;
    LLVMValueRef base[3], off[3], bcast[3], y, y_off;
} typed_kernel;

static LLVMValueRef elem_at(dc_codegen *cg, LLVMTypeRef e, LLVMValueRef base, LLVMValueRef i)
{
    return LLVMBuildGEP2(cg->b, e, base, &i, 1, "");
}

/* `lanes` elements (1: one) at row position i: load, compute, store. */
static void emit_block(dc_codegen *cg, const typed_kernel *k, int lanes, LLVMValueRef i)
{
    LLVMValueRef v[3];
    int last = k->sh->rank - 1;
    for (int a = 0; a < k->n_in; a++) {
        LLVMTypeRef t = lanes_of(k->in_elem[a], lanes);
        if (k->sh->strides[a][last]) {
            v[a] = LLVMBuildLoad2(cg->b, t, elem_at(cg, k->in_elem[a], k->base[a],
                                                    LLVMBuildAdd(cg->b, k->off[a], i, "")), "");
            LLVMSetAlignment(v[a], 1);
        } else {
            v[a] = cg_splat(cg, t, k->bcast[a]);
        }
    }
    LLVMValueRef r = compute(cg, k->op, k->t, v);
    LLVMSetAlignment(LLVMBuildStore(cg->b, r, elem_at(cg, k->out_elem, k->y,
                                                      LLVMBuildAdd(cg->b, k->y_off, i, ""))),
                     1);
}

dc_status cg_typed_eltwise_emit(dc_codegen *cg, const dc_plan *p, const dc_plan_step *st,
                                const char *symbol, int64_t *extent)
{
    cg_bcast sh;
    char buf[200];
    cg_bcast_shape(p, st, &sh, buf, sizeof buf);
    *extent = sh.outer * ((sh.inner + TILE - 1) / TILE);
    typed_kernel k = {.op = op_of(st->op_type), .t = dtype_of(p, st), .n_in = st->n_inputs,
                      .sh = &sh};
    for (int a = 0; a < k.n_in; a++)
        k.in_elem[a] = elem_type(cg, cg_buffer(p, st, a)->dtype);
    k.out_elem = elem_type(cg, cg_buffer(p, st, k.n_in)->dtype);

    LLVMValueRef begin, end;
    cg_kernel_begin(cg, symbol, &begin, &end);
    for (int a = 0; a < k.n_in; a++)
        k.base[a] = cg_arg(cg, a);
    k.y = cg_arg(cg, k.n_in);
    cg_loop tl;
    LLVMValueRef tile = cg_loop_begin(cg, &tl, begin, end, 1), row, c0, c1;
    cg_bcast_tile(cg, &sh, TILE, tile, &row, &c0, &c1);
    cg_bcast_row_offsets(cg, &sh, row, k.off);
    for (int a = 0; a < k.n_in; a++) {
        k.bcast[a] = NULL;
        if (!sh.strides[a][sh.rank - 1]) {
            k.bcast[a] = LLVMBuildLoad2(cg->b, k.in_elem[a],
                                        elem_at(cg, k.in_elem[a], k.base[a], k.off[a]), "");
            LLVMSetAlignment(k.bcast[a], 1);
        }
    }
    k.y_off = LLVMBuildMul(cg->b, row, cg_i64(cg, sh.inner), "");
    cg_loop vl, sl;
    emit_block(cg, &k, cg->width, cg_loop_begin(cg, &vl, c0, c1, cg->width));
    cg_loop_end(cg, &vl, NULL);
    emit_block(cg, &k, 1, cg_loop_begin(cg, &sl, cg_loop_next_index(&vl), c1, 1));
    cg_loop_end(cg, &sl, NULL);
    cg_loop_end(cg, &tl, NULL);
    cg_kernel_end(cg);
    return DC_OK;
}

const cg_family cg_typed_eltwise_families[] = {
    {"Where", cg_typed_eltwise_refusal, cg_typed_eltwise_emit, false, NULL},
    {"Equal", cg_typed_eltwise_refusal, cg_typed_eltwise_emit, false, NULL},
};
const int cg_n_typed_eltwise_families = 2;
