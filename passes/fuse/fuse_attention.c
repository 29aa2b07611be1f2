/* dc_fuse_attention (fuse.h): timm's attention composition -> ai.dinoc
 * Attention, as graphs/vit.c and torch's export write it:
 *
 *   part_i = Reshape(Slice(qkv, axis 2, [i·D, (i+1)·D)), [B, N, H, d])   i = q, k, v
 *   q = Transpose(part_q, 0 2 1 3) [· s]     k = Transpose(part_k, 0 2 3 1)
 *   v = Transpose(part_v, 0 2 1 3)
 *   a = Softmax(MatMul(q, k) [· s], axis −1)
 *   y = Reshape(Transpose(MatMul(a, v), 0 2 1 3), [B, N, D])
 *
 * with the scale s on q or on the scores (a compile-time scalar, either
 * operand order); or as timm's model exports to ONNX (qkv.unbind):
 *
 *   parts = Split(Transpose(Reshape(qkv, [B, N, 3, H, d]), 2 0 3 1 4), axis 0)
 *   q, k, v = Squeeze(parts_i, [0]) [B, H, N, d]       k = Transpose(k, 0 1 3 2)
 * Every intermediate must be read only inside the match
 * (match.h's uses: no graph output, no state update); qkv may have other
 * readers. The Attention node takes the place of the
 * final Reshape. */
#include <string.h>

#include "fuse.h"
#include "infer_shapes.h"
#include "match.h"
#include "op_registry.h"

enum { MAX_MATCH = 16 };

typedef struct match {
    dc_node *nodes[MAX_MATCH];
    int n;
    dc_value *qkv;
    dc_node *split; /* the packed form's Split, once in nodes */
    int64_t heads;
    double scale;
} match;

/* The producer of v if it is a default-domain `op` whose output only it reads
 * (no graph output, no state update); it joins the match. */
static dc_node *take(match *m, const dc_uses *u, const dc_value *v, const char *op)
{
    dc_node *n = v ? v->producer : NULL;
    if (!n || strcmp(n->op_type, op) != 0 || *n->domain || !dc_uses_only_reader(u, v) ||
        m->n == MAX_MATCH)
        return NULL;
    m->nodes[m->n++] = n;
    return n;
}

/* A compile-time integer list of exactly `count` elements. */
static bool const_ints(const dc_value *v, int count, int64_t *out)
{
    if (!v || !v->constant || v->is_state || (int)dc_tensor_numel(v->constant) != count)
        return false;
    for (int i = 0; i < count; i++)
        out[i] = dc_tensor_get_i64(v->constant, (uint64_t)i);
    return true;
}

static bool const_scalar(const dc_value *v, double *out)
{
    if (!v || !v->constant || v->is_state || dc_tensor_numel(v->constant) != 1 ||
        !dc_dtype_is_float(v->constant->dtype))
        return false;
    *out = dc_tensor_get_f64(v->constant, 0);
    return true;
}

static bool has_perm(const dc_node *t, const int64_t *want)
{
    int count;
    const int64_t *perm = dc_node_attr_ints(t, "perm", &count);
    if (!perm || count != 4)
        return false;
    for (int i = 0; i < 4; i++)
        if (perm[i] != want[i])
            return false;
    return true;
}

static const int64_t to_heads[] = {0, 2, 1, 3}, to_keys[] = {0, 2, 3, 1};

/* x = Transpose(Reshape(Slice(qkv, axis 2, [part·D, (part+1)·D)), [B, N, H, d]), perm). */
static bool head_part(match *m, const dc_uses *uses, const dc_value *x, const int64_t *perm, int part)
{
    dc_node *t = take(m, uses, x, "Transpose");
    if (!t || !has_perm(t, perm))
        return false;
    dc_node *r = take(m, uses, t->inputs[0], "Reshape");
    if (!r)
        return false;
    dc_node *s = take(m, uses, r->inputs[0], "Slice");
    if (!s || s->n_inputs < 4)
        return false;
    const dc_type *qkv = &s->inputs[0]->type, *split = &r->outputs[0]->type;
    int64_t start, end, axis, step = 1;
    if (!const_ints(s->inputs[1], 1, &start) || !const_ints(s->inputs[2], 1, &end) ||
        !const_ints(s->inputs[3], 1, &axis) ||
        (s->n_inputs > 4 && s->inputs[4] && !const_ints(s->inputs[4], 1, &step)))
        return false;
    if (qkv->rank != 3 || !dc_type_is_static(qkv) || split->rank != 4 || !dc_type_is_static(split) ||
        step != 1 || (axis != 2 && axis != -1) || qkv->dims[2].size % 3 != 0)
        return false;
    int64_t d = qkv->dims[2].size / 3;
    if (start != part * d || end != (part + 1) * d || split->dims[0].size != qkv->dims[0].size ||
        split->dims[1].size != qkv->dims[1].size || split->dims[2].size * split->dims[3].size != d)
        return false;
    if (m->qkv && (m->qkv != s->inputs[0] || m->heads != split->dims[2].size))
        return false;
    m->qkv = s->inputs[0];
    m->heads = split->dims[2].size;
    return true;
}

/* The packed form's part `part` of qkv: x = Squeeze(Split(Transpose(Reshape(qkv,
 * [B, N, 3, H, d]), 2 0 3 1 4), axis 0)[part], [0]), through a last
 * Transpose(0 1 3 2) for the keys. The Split and what feeds it join the match
 * once, with the first part. */
static bool packed_part(match *m, const dc_uses *uses, const dc_value *x, int part, bool keys)
{
    static const int64_t to_keys_t[] = {0, 1, 3, 2}, unbind[] = {2, 0, 3, 1, 4};
    if (keys) {
        dc_node *t = take(m, uses, x, "Transpose");
        if (!t || !has_perm(t, to_keys_t))
            return false;
        x = t->inputs[0];
    }
    int64_t axis;
    dc_node *sq = take(m, uses, x, "Squeeze");
    if (!sq || sq->n_inputs != 2 || !const_ints(sq->inputs[1], 1, &axis) || axis != 0)
        return false;
    const dc_value *piece = sq->inputs[0];
    dc_node *split = piece->producer;
    if (!split || strcmp(split->op_type, "Split") != 0 || *split->domain || split->n_outputs != 3 ||
        split->outputs[part] != piece || !dc_uses_only_reader(uses, piece) ||
        dc_node_attr_int(split, "axis", 0) != 0)
        return false;
    if (m->split)
        return m->split == split;
    int64_t sizes[3] = {1, 1, 1};
    if ((split->n_inputs > 1 && split->inputs[1] && !const_ints(split->inputs[1], 3, sizes)) ||
        sizes[0] != 1 || sizes[1] != 1 || sizes[2] != 1 || m->n + 3 > MAX_MATCH)
        return false;
    dc_node *t = split->inputs[0]->producer, *r = t ? t->inputs[0]->producer : NULL;
    if (!t || strcmp(t->op_type, "Transpose") != 0 || *t->domain ||
        !dc_uses_only_reader(uses, t->outputs[0]) || !r || strcmp(r->op_type, "Reshape") != 0 ||
        *r->domain || !dc_uses_only_reader(uses, r->outputs[0]))
        return false;
    int count;
    const int64_t *perm = dc_node_attr_ints(t, "perm", &count);
    if (!perm || count != 5 || memcmp(perm, unbind, sizeof unbind) != 0)
        return false;
    const dc_type *qkv = &r->inputs[0]->type, *five = &r->outputs[0]->type;
    if (qkv->rank != 3 || !dc_type_is_static(qkv) || five->rank != 5 || !dc_type_is_static(five) ||
        five->dims[0].size != qkv->dims[0].size || five->dims[1].size != qkv->dims[1].size ||
        five->dims[2].size != 3 ||
        3 * five->dims[3].size * five->dims[4].size != qkv->dims[2].size)
        return false;
    m->split = split;
    m->qkv = r->inputs[0];
    m->heads = five->dims[3].size;
    m->nodes[m->n++] = split;
    m->nodes[m->n++] = t;
    m->nodes[m->n++] = r;
    return true;
}

/* q, k (keys: already [B, H, d, N]) or v as one of the two forms. */
static bool part_of(match *m, const dc_uses *uses, const dc_value *x, int part, bool keys)
{
    int before = m->n;
    if (!m->split && head_part(m, uses, x, keys ? to_keys : to_heads, part))
        return true;
    m->n = before;
    return !(part > 0 && !m->split) && packed_part(m, uses, x, part, keys);
}

/* x · s or s · x with s a compile-time scalar: x, and s in *scale. */
static dc_value *scaled(match *m, const dc_uses *uses, dc_value *v, double *scale)
{
    dc_node *mul = v && v->producer && strcmp(v->producer->op_type, "Mul") == 0 ? v->producer : NULL;
    if (!mul || *mul->domain || !dc_uses_only_reader(uses, v))
        return NULL;
    dc_value *x = NULL;
    if (const_scalar(mul->inputs[1], scale))
        x = mul->inputs[0];
    else if (const_scalar(mul->inputs[0], scale))
        x = mul->inputs[1];
    if (!x || m->n == MAX_MATCH)
        return NULL;
    m->nodes[m->n++] = mul;
    return x;
}

/* Matches the composition around Softmax `sm`; m->nodes[0] is the final Reshape. */
static bool match_at(const dc_graph *g, const dc_uses *uses, dc_node *sm, match *m)
{
    *m = (match){.scale = 1.0};
    const dc_type *p = &sm->outputs[0]->type;
    int64_t axis = dc_node_attr_int(sm, "axis", -1);
    if (p->rank != 4 || dc_graph_opset(g, "") < 13 || (axis != -1 && axis != 3))
        return false;
    dc_node *pv = dc_uses_only_reader(uses, sm->outputs[0]);
    if (!pv || strcmp(pv->op_type, "MatMul") != 0 || *pv->domain || pv->inputs[0] != sm->outputs[0])
        return false;
    dc_node *ot = dc_uses_only_reader(uses, pv->outputs[0]);
    if (!ot || strcmp(ot->op_type, "Transpose") != 0 || *ot->domain || !has_perm(ot, to_heads))
        return false;
    dc_node *out = dc_uses_only_reader(uses, ot->outputs[0]);
    if (!out || strcmp(out->op_type, "Reshape") != 0 || *out->domain)
        return false;
    m->nodes[m->n++] = out;
    m->nodes[m->n++] = ot;
    m->nodes[m->n++] = pv;
    m->nodes[m->n++] = sm;
    /* Scores: MatMul(q, k), possibly scaled after the product. */
    dc_value *scores = sm->inputs[0];
    double s_after = 1.0, s_before = 1.0;
    dc_value *unscaled = scaled(m, uses, scores, &s_after);
    dc_node *qk = take(m, uses, unscaled ? unscaled : scores, "MatMul");
    if (!qk)
        return false;
    dc_value *q = qk->inputs[0];
    dc_value *q_unscaled = unscaled ? NULL : scaled(m, uses, q, &s_before);
    if (!part_of(m, uses, q_unscaled ? q_unscaled : q, 0, false) ||
        !part_of(m, uses, qk->inputs[1], 1, true) || !part_of(m, uses, pv->inputs[1], 2, false))
        return false;
    m->scale = s_after * s_before;
    const dc_type *y = &out->outputs[0]->type, *qkv = &m->qkv->type;
    return y->rank == 3 && dc_type_is_static(y) && y->dims[0].size == qkv->dims[0].size &&
           y->dims[1].size == qkv->dims[1].size && y->dims[2].size == qkv->dims[2].size / 3 &&
           y->dtype == qkv->dtype;
}

static dc_status replace(dc_graph *g, const match *m)
{
    dc_node *last = m->nodes[0], *att;
    if (!dc_graph_opset(g, DC_DOMAIN_DINOC))
        DC_TRY(dc_graph_set_opset(g, DC_DOMAIN_DINOC, 1));
    DC_TRY(dc_graph_add_node(g, "Attention", DC_DOMAIN_DINOC, dc_graph_unique_name(g, "attention"),
                             (dc_value *const[]){m->qkv}, 1, NULL, 2, &att));
    DC_TRY(dc_node_set_int(att, g, "num_heads", m->heads));
    DC_TRY(dc_node_set_float(att, g, "scale", (float)m->scale));
    DC_TRY(dc_infer_node(g, att));
    DC_TRY(dc_graph_move_node(g, att, last->id));
    dc_graph_replace_uses(g, last->outputs[0], att->outputs[0]);
    for (int i = 0; i < m->n; i++)
        DC_TRY(dc_graph_remove_node(g, m->nodes[i]));
    return DC_OK;
}

dc_status dc_fuse_attention(dc_graph *g, int *n_fused)
{
    *n_fused = 0;
    dc_status s = DC_OK;
    dc_uses *uses = NULL;
    for (int n = 0; s == DC_OK && n < g->n_nodes; n++) {
        dc_node *sm = g->nodes[n];
        if (strcmp(sm->op_type, "Softmax") != 0 || *sm->domain)
            continue;
        if (!uses)
            s = dc_uses_create(g, &uses);
        match m;
        if (s != DC_OK || !match_at(g, uses, sm, &m))
            continue;
        s = replace(g, &m);
        (*n_fused)++;
        /* The schedule moved: count again and rescan from before the match. */
        if (s == DC_OK)
            s = dc_uses_update(uses, g);
        n = n - MAX_MATCH < -1 ? -1 : n - MAX_MATCH;
    }
    dc_uses_destroy(uses);
    return s;
}
