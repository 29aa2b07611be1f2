/* Transposes folded into the matmuls around them (fuse.h):
 *
 *   Transpose(Transpose(x, p), q)       -> Transpose(x, r), r[i] = p[q[i]]; x itself when r
 *                                          is the identity
 *   Transpose(MatMul(A, B), [1, 0])     -> Gemm(B, A) {transA=1, transB=1}: Yᵀ = Bᵀ·Aᵀ
 *                                          (2-D; a Gemm without C and its flags likewise)
 *   MatMul(Transpose(A, [1, 0]), B)     -> Gemm(A, B) {transA=1}   (2-D operands)
 *   MatMul(A, Transpose(B, [1, 0]))     -> Gemm(A, B) {transB=1}
 *   Gemm(Transpose(A, [1, 0]), B, ...)  -> Gemm(A, B, ...) with transA flipped; B likewise
 *   Transpose(P + Q, [1, 0])            -> Pᵀ + Qᵀ when P and Q are such products (or sums
 *                                          of them) read only by the sum: a weight used
 *                                          several times gets its gradients' sum that way
 *
 * oneDNN reads a transposed operand through strides, so the transposed copy is
 * never made: autodiff writes Aᵀ·dY and dY·Bᵀ for every matmul, and a DINO
 * head's weight-normed prototype layer [65536, 256] was transposed five times a
 * step (64 MB written and read each, in every rank's share of the step). The
 * rule runs after matmul-bias, which folds its own transposed weights. A
 * Transpose left without readers is removed. */
#include <string.h>

#include "fuse.h"
#include "infer_shapes.h"
#include "match.h"

/* A 2-D f32 value with static dims: what the Gemm kernel reads. */
static bool is_matrix(const dc_value *v)
{
    return v->type.dtype == DC_F32 && v->type.rank == 2 && dc_type_is_static(&v->type);
}

/* The Transpose producing `v` if it swaps the two axes of a matrix, else NULL. */
static dc_node *matrix_transpose(const dc_value *v)
{
    dc_node *t = dc_match_producer(v, "", "Transpose");
    int n = 0;
    const int64_t *perm = t ? dc_node_attr_ints(t, "perm", &n) : NULL;
    return t && is_matrix(v) && is_matrix(t->inputs[0]) && n == 2 && perm[0] == 1 && perm[1] == 0
               ? t : NULL;
}

/* A MatMul of two matrices, or a Gemm without C; its flags in trans[2]. */
static bool is_plain_product(const dc_node *n, int64_t trans[2])
{
    bool mm = dc_match_op(n, "", "MatMul"), gemm = dc_match_op(n, "", "Gemm") && n->n_inputs == 2;
    if (!(mm || gemm) || !is_matrix(n->inputs[0]) || !is_matrix(n->inputs[1]))
        return false;
    trans[0] = gemm ? dc_node_attr_int(n, "transA", 0) : 0;
    trans[1] = gemm ? dc_node_attr_int(n, "transB", 0) : 0;
    return true;
}

/* Puts Gemm(a, b[, c]) {transA, transB, alpha, beta} in place of match[0..n),
 * producing y. */
static dc_status replace_by_gemm(dc_graph *g, dc_node *const *match, int n, dc_value *const *inputs,
                                 int n_inputs, const int64_t trans[2], const dc_node *attrs_of,
                                 dc_value *y)
{
    float alpha = 1.0f, beta = 1.0f;
    if (dc_match_op(attrs_of, "", "Gemm")) {
        alpha = dc_node_attr_float(attrs_of, "alpha", 1.0f);
        beta = dc_node_attr_float(attrs_of, "beta", 1.0f);
    }
    dc_fused_node f = {.op_type = "Gemm", .domain = "", .inputs = inputs, .n_inputs = n_inputs,
                       .outputs = &y, .n_outputs = 1};
    dc_node *node;
    DC_TRY(dc_match_replace(g, match, n, &f, &node));
    if (trans[0])
        DC_TRY(dc_node_set_int(node, g, "transA", 1));
    if (trans[1])
        DC_TRY(dc_node_set_int(node, g, "transB", 1));
    if (alpha != 1.0f)
        DC_TRY(dc_node_set_float(node, g, "alpha", alpha));
    if (beta != 1.0f && n_inputs > 2)
        DC_TRY(dc_node_set_float(node, g, "beta", beta));
    return dc_match_finish(g, node);
}

/* Transpose(Transpose(x, p), q): one Transpose, or none. */
static dc_status compose(dc_graph *g, const dc_uses *u, dc_node *outer, bool *done)
{
    dc_node *inner = dc_match_producer(outer->inputs[0], "", "Transpose");
    int np = 0, nq = 0;
    const int64_t *p = inner ? dc_node_attr_ints(inner, "perm", &np) : NULL;
    const int64_t *q = dc_node_attr_ints(outer, "perm", &nq);
    if (!inner || !p || !q || np != nq || np > DC_MAX_RANK)
        return DC_OK;
    int64_t r[DC_MAX_RANK];
    bool identity = true;
    for (int i = 0; i < nq; i++) {
        r[i] = p[q[i]];
        identity &= r[i] == i;
    }
    dc_value *x = inner->inputs[0], *y = outer->outputs[0];
    if (identity) {
        if (dc_uses_escapes(u, y))
            return DC_OK; /* a graph output keeps its own value */
        dc_graph_replace_uses(g, y, x);
        DC_TRY(dc_graph_remove_node(g, outer));
        *done = true;
        return DC_OK;
    }
    dc_node *match[2] = {outer, inner};
    int n = dc_uses_only_reader(u, inner->outputs[0]) == outer ? 2 : 1;
    dc_fused_node f = {.op_type = "Transpose", .domain = "", .inputs = &x, .n_inputs = 1,
                       .outputs = &y, .n_outputs = 1};
    dc_node *node;
    DC_TRY(dc_match_replace(g, match, n, &f, &node));
    DC_TRY(dc_node_set_ints(node, g, "perm", r, nq));
    *done = true;
    return dc_match_finish(g, node);
}

/* Transpose(A·B, [1, 0]) -> Bᵀ·Aᵀ, when the product is read only here. */
static dc_status transpose_product(dc_graph *g, const dc_uses *u, dc_node *t, bool *done)
{
    dc_node *mm = t->inputs[0]->producer;
    int64_t trans[2];
    if (!matrix_transpose(t->outputs[0]) || !mm || !is_plain_product(mm, trans) ||
        dc_uses_only_reader(u, t->inputs[0]) != t)
        return DC_OK;
    dc_value *inputs[2] = {mm->inputs[1], mm->inputs[0]};
    int64_t swapped[2] = {!trans[1], !trans[0]};
    dc_node *match[2] = {mm, t};
    *done = true;
    return replace_by_gemm(g, match, 2, inputs, 2, swapped, mm, t->outputs[0]);
}

/* `v` is a matrix product, or a sum of such sums and products each read only
 * by the sum above it: its transpose folds into the products. */
static bool is_sum_of_products(const dc_uses *u, const dc_value *v, int depth)
{
    dc_node *p = v->producer;
    int64_t trans[2];
    if (!p || depth > 32)
        return false;
    if (is_plain_product(p, trans))
        return true;
    if (!dc_match_op(p, "", "Add") || p->n_inputs != 2 || !is_matrix(v))
        return false;
    for (int k = 0; k < 2; k++)
        if (!dc_match_same_type(&p->inputs[k]->type, &v->type) ||
            dc_uses_only_reader(u, p->inputs[k]) != p ||
            !is_sum_of_products(u, p->inputs[k], depth + 1))
            return false;
    return true;
}

/* Transpose(P + Q, [1, 0]) -> Transpose(P) + Transpose(Q), each of which the
 * next visits fold into its product. */
static dc_status transpose_sum(dc_graph *g, const dc_uses *u, dc_node *t, bool *done)
{
    dc_node *add = t->inputs[0]->producer;
    if (!matrix_transpose(t->outputs[0]) || !dc_match_op(add, "", "Add") ||
        dc_uses_only_reader(u, t->inputs[0]) != t || !is_sum_of_products(u, t->inputs[0], 0))
        return DC_OK;
    static const int64_t swap[2] = {1, 0};
    dc_value *parts[2];
    for (int k = 0; k < 2; k++) {
        dc_node *part;
        DC_TRY(dc_graph_add_node(g, "Transpose", "", dc_graph_unique_name(g, "Transpose"),
                                 &add->inputs[k], 1, NULL, 1, &part));
        DC_TRY(dc_node_set_ints(part, g, "perm", swap, 2));
        DC_TRY(dc_infer_node(g, part));
        DC_TRY(dc_graph_move_node(g, part, add->id)); /* after P and Q, before the sum */
        parts[k] = part->outputs[0];
    }
    dc_value *y = t->outputs[0];
    dc_node *match[2] = {add, t}, *node;
    dc_fused_node f = {.op_type = "Add", .domain = "", .inputs = parts, .n_inputs = 2,
                       .outputs = &y, .n_outputs = 1};
    DC_TRY(dc_match_replace(g, match, 2, &f, &node));
    *done = true;
    return dc_match_finish(g, node);
}

/* A MatMul or Gemm reading a transposed matrix reads the matrix itself. */
static dc_status absorb_operands(dc_graph *g, const dc_uses *u, dc_node *mm, bool *done)
{
    int64_t trans[2];
    bool gemm = dc_match_op(mm, "", "Gemm");
    if (gemm ? !is_matrix(mm->inputs[0]) || !is_matrix(mm->inputs[1]) : !is_plain_product(mm, trans))
        return DC_OK;
    if (gemm) {
        trans[0] = dc_node_attr_int(mm, "transA", 0);
        trans[1] = dc_node_attr_int(mm, "transB", 0);
    }
    dc_value *inputs[3] = {mm->inputs[0], mm->inputs[1], mm->n_inputs > 2 ? mm->inputs[2] : NULL};
    dc_node *match[3] = {mm};
    int n = 1;
    for (int k = 0; k < 2; k++) {
        dc_node *t = matrix_transpose(inputs[k]);
        if (!t)
            continue;
        if (dc_uses_internal(u, inputs[k], match, 1) && (k == 0 || t != match[1]))
            match[n++] = t;
        inputs[k] = t->inputs[0];
        trans[k] = !trans[k];
        *done = true;
    }
    if (!*done)
        return DC_OK;
    return replace_by_gemm(g, match, n, inputs, mm->n_inputs > 2 ? 3 : 2, trans, mm, mm->outputs[0]);
}

/* A Transpose nobody reads (its readers folded it away). */
static dc_status remove_if_dead(dc_graph *g, const dc_uses *u, dc_node *t, bool *done)
{
    if (dc_uses_count(u, t->outputs[0]) == 0 && !dc_uses_escapes(u, t->outputs[0])) {
        DC_TRY(dc_graph_remove_node(g, t));
        *done = true;
    }
    return DC_OK;
}

dc_status dc_fuse_transpose(dc_graph *g, int *n_fused)
{
    dc_uses *u;
    DC_TRY(dc_uses_create(g, &u));
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < g->n_nodes; i++) {
        dc_node *n = g->nodes[i];
        bool done = false, folded = false;
        if (dc_match_op(n, "", "Transpose")) {
            s = remove_if_dead(g, u, n, &done);
            if (s == DC_OK && !done)
                s = compose(g, u, n, &folded);
            if (s == DC_OK && !done && !folded)
                s = transpose_product(g, u, n, &folded);
            if (s == DC_OK && !done && !folded)
                s = transpose_sum(g, u, n, &folded);
        } else if (dc_match_op(n, "", "MatMul") || dc_match_op(n, "", "Gemm")) {
            s = absorb_operands(g, u, n, &folded);
        }
        *n_fused += folded;
        if (s == DC_OK && (done || folded)) {
            s = dc_uses_update(u, g);
            i = -1; /* the schedule changed: look again from the start */
        }
    }
    dc_uses_destroy(u);
    return s;
}
