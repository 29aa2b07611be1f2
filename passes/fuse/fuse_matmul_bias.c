/* Linear layers as one MatMulBias (fuse.h):
 *
 *   Add(MatMul(A, B), bias)                      bias [N], B [K, N] 2-D
 *   Add(MatMul(A, Transpose(W, [1, 0])), bias)   -> transB = 1 over W [N, K]
 *   either followed by Relu, Tanh, Sigmoid or ai.dinoc Gelu  -> activation
 *
 *   MatMulBias without activation followed by one of those -> activation
 *
 * The MatMul's result must be read by the Add only and the Add's by the
 * activation only, or they stay as they are. A Transpose read by other nodes
 * too stays for them (the transpose rule removes it once none is left).
 * MatMulBias has a gradient rule, so the rule runs before autodiff too: the
 * Linear layers of a training step are then fused forward and backward (no
 * transposed weight, no transposed activations); after autodiff it fuses
 * what is left, and activations into inference graphs' layers. */
#include <string.h>

#include "fuse.h"
#include "match.h"

/* The bias operand of `add` if the other one is a fusible MatMul, else NULL. */
static dc_value *bias_of(const dc_uses *u, const dc_node *add, dc_node **mm)
{
    for (int i = 0; i < 2; i++) {
        dc_node *p = dc_match_producer(add->inputs[i], "", "MatMul");
        dc_value *bias = add->inputs[1 - i];
        if (!p || dc_uses_only_reader(u, add->inputs[i]) != add)
            continue;
        const dc_type *a = &p->inputs[0]->type, *b = &p->inputs[1]->type, *c = &bias->type;
        const dc_type *y = &add->outputs[0]->type;
        if (a->dtype != DC_F32 || b->dtype != DC_F32 || c->dtype != DC_F32 || a->rank < 2 ||
            b->rank != 2 || c->rank != 1 || !dc_type_is_static(a) || !dc_type_is_static(b) ||
            !dc_type_is_static(c) || c->dims[0].size != b->dims[1].size ||
            !dc_match_same_type(y, &p->outputs[0]->type))
            continue;
        *mm = p;
        return bias;
    }
    return NULL;
}

static const char *activation_of(const dc_node *n)
{
    static const char *const onnx[] = {"Relu", "Tanh", "Sigmoid"};
    for (size_t i = 0; n && i < sizeof onnx / sizeof onnx[0]; i++)
        if (dc_match_op(n, "", onnx[i]))
            return onnx[i];
    return dc_match_op(n, "ai.dinoc", "Gelu") && n->n_inputs == 1 ? "Gelu" : NULL;
}

/* MatMulBias(A, B, bias) without activation, read only by an activation. */
static dc_status absorb_activation(dc_graph *g, const dc_uses *u, dc_node *mb, bool *done)
{
    *done = false;
    dc_value *y = mb->outputs[0];
    dc_node *act = dc_uses_only_reader(u, y);
    const char *name = activation_of(act);
    if (*dc_node_attr_string(mb, "activation", "") || !name ||
        !dc_match_same_type(&act->outputs[0]->type, &y->type))
        return DC_OK;
    int64_t trans_b = dc_node_attr_int(mb, "transB", 0);
    dc_value *inputs[3] = {mb->inputs[0], mb->inputs[1], mb->inputs[2]}, *out = act->outputs[0];
    dc_node *match[2] = {mb, act}, *node;
    dc_fused_node f = {.op_type = "MatMulBias", .domain = "ai.dinoc", .inputs = inputs,
                       .n_inputs = 3, .outputs = &out, .n_outputs = 1};
    DC_TRY(dc_match_replace(g, match, 2, &f, &node));
    if (trans_b)
        DC_TRY(dc_node_set_int(node, g, "transB", 1));
    DC_TRY(dc_node_set_string(node, g, "activation", name));
    DC_TRY(dc_match_finish(g, node));
    *done = true;
    return DC_OK;
}

dc_status dc_fuse_matmul_bias(dc_graph *g, int *n_fused)
{
    dc_uses *u;
    DC_TRY(dc_uses_create(g, &u));
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < g->n_nodes; i++) {
        dc_node *add = g->nodes[i], *mm = NULL;
        if (dc_match_op(add, "ai.dinoc", "MatMulBias")) {
            bool done;
            s = absorb_activation(g, u, add, &done);
            if (s == DC_OK && done) {
                s = dc_uses_update(u, g);
                ++*n_fused;
                i = -1;
            }
            continue;
        }
        if (!dc_match_op(add, "", "Add") || add->n_inputs != 2)
            continue;
        dc_value *bias = bias_of(u, add, &mm);
        if (!bias)
            continue;
        dc_node *match[4] = {mm, add};
        int n = 2;
        dc_value *b = mm->inputs[1];
        int64_t trans_b = 0;
        dc_node *tr = dc_match_producer(b, "", "Transpose");
        int perm_n = 0;
        const int64_t *perm = tr ? dc_node_attr_ints(tr, "perm", &perm_n) : NULL;
        if (tr && perm_n == 2 && perm[0] == 1 && perm[1] == 0) {
            /* A weight shared by several layers (a DINO head applied to the
             * class and the masked tokens) is read through transB by each;
             * its Transpose goes with the last one. */
            if (dc_uses_only_reader(u, b) == mm)
                match[n++] = tr;
            b = tr->inputs[0];
            trans_b = 1;
        }
        dc_value *y = add->outputs[0];
        dc_node *act = dc_uses_only_reader(u, y);
        const char *act_name = activation_of(act);
        if (act_name && dc_match_same_type(&act->outputs[0]->type, &y->type)) {
            match[n++] = act;
            y = act->outputs[0];
        } else {
            act_name = "";
        }
        dc_value *inputs[3] = {mm->inputs[0], b, bias};
        dc_fused_node f = {.op_type = "MatMulBias", .domain = "ai.dinoc", .inputs = inputs,
                           .n_inputs = 3, .outputs = &y, .n_outputs = 1};
        dc_node *node;
        s = dc_match_replace(g, match, n, &f, &node);
        if (s == DC_OK && trans_b)
            s = dc_node_set_int(node, g, "transB", 1);
        if (s == DC_OK && *act_name)
            s = dc_node_set_string(node, g, "activation", act_name);
        if (s == DC_OK)
            s = dc_match_finish(g, node);
        if (s == DC_OK)
            s = dc_uses_update(u, g);
        ++*n_fused;
        i = -1; /* the schedule changed: look again from the start */
    }
    dc_uses_destroy(u);
    return s;
}
