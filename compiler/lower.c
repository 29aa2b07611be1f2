/* Lowering a graph to a plan: buffers for values, a step per computing node
 * with its kernel, copies for outputs that share bytes. */
#include "lower.h"

#include <stdlib.h>
#include <string.h>

#include "dc_kernel.h"
#include "lower_attrs.h"
#include "op_registry.h"

enum { MAX_CANDIDATES = 16 };

typedef struct lowering {
    dc_graph *g;
    dc_plan *p;
    int cap_buffers, cap_steps;
    int32_t *alias;        /* per buffer: the root buffer it views, -1 for a root */
    uint32_t *in_place;    /* per step: the registry's in_place_inputs of its op */
    int32_t *value_buffer; /* per value id: the buffer holding it, -1 while it has none */
    uint8_t *consts;       /* contents of the CONST region, DC_PLAN_ALIGN-spaced */
    size_t consts_size, consts_cap;
    uint8_t *state;        /* initial contents of the STATE region */
    size_t state_size;
    int *last_reader;      /* per value id: index of the last node reading it, -1 if none */
    FILE *explain;
} lowering;

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static int32_t root_of(const lowering *L, int32_t b)
{
    return L->alias[b] >= 0 ? L->alias[b] : b;
}

/* ------------------------------------------------------------ buffers */

static dc_status add_buffer(lowering *L, const char *name, dc_dtype dtype, int rank,
                            const int64_t *dims, dc_region region, int32_t *out)
{
    dc_plan *p = L->p;
    uint64_t numel;
    DC_TRY(dc_shape_numel(rank, dims, dtype, &numel));
    if (p->n_buffers == L->cap_buffers) {
        int cap = L->cap_buffers ? 2 * L->cap_buffers : 64;
        dc_plan_buffer *b = realloc(p->buffers, (size_t)cap * sizeof *b);
        if (b)
            p->buffers = b;
        int32_t *a = realloc(L->alias, (size_t)cap * sizeof *a);
        if (a)
            L->alias = a;
        if (!b || !a)
            return dc_error(DC_ERR_NOMEM, "%d buffers", cap);
        L->cap_buffers = cap;
    }
    dc_plan_buffer *b = &p->buffers[p->n_buffers];
    *b = (dc_plan_buffer){.name = strdup(name), .dtype = dtype, .rank = rank, .region = region,
                          .nbytes = numel * dc_dtype_size(dtype)};
    if (!b->name)
        return dc_error(DC_ERR_NOMEM, "buffer '%s'", name);
    memcpy(b->dims, dims, (size_t)rank * sizeof *dims);
    L->alias[p->n_buffers] = -1;
    *out = p->n_buffers++;
    return DC_OK;
}

/* A buffer viewing the bytes of `base` (or of the root it views). */
static dc_status add_view(lowering *L, int32_t base, const char *name, int rank,
                          const int64_t *dims, int32_t *out)
{
    int32_t r = root_of(L, base);
    const dc_plan_buffer *rb = &L->p->buffers[r];
    DC_TRY(add_buffer(L, name, rb->dtype, rank, dims, rb->region, out));
    L->p->buffers[*out].offset = L->p->buffers[r].offset;
    L->alias[*out] = r;
    return DC_OK;
}

/* The static shape of `v`, which node `n` (NULL for graph inputs) reads or writes. */
static dc_status value_dims(const dc_node *n, const dc_value *v, int64_t *dims)
{
    const dc_type *t = &v->type;
    char ty[160];
    dc_type_str(t, ty, sizeof ty);
    const char *op = n ? n->op_type : "graph", *name = n ? n->name : "input";
    if (t->dtype == DC_UNDEFINED || !dc_type_is_static(t))
        return dc_error(DC_ERR_SHAPE, "%s '%s': value '%s' has no static type (%s); "
                        "lowering needs every shape known", op, name, v->name, ty);
    if (dc_dtype_size(t->dtype) == 0)
        return dc_error(DC_ERR_UNSUPPORTED, "%s '%s': value '%s' has unsupported element type %s",
                        op, name, v->name, dc_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++)
        dims[i] = t->dims[i].size;
    return DC_OK;
}

/* Where `t`'s bytes go in CONST: an earlier constant's when identical. */
static dc_status const_offset(lowering *L, const dc_tensor *t, uint64_t *offset)
{
    *offset = 0;
    if (!t->nbytes) /* an empty tensor needs no bytes */
        return DC_OK;
    const dc_plan *p = L->p;
    for (int i = 0; i < p->n_buffers; i++) {
        const dc_plan_buffer *b = &p->buffers[i];
        if (b->region == DC_REGION_CONST && L->alias[i] < 0 && b->nbytes == t->nbytes &&
            memcmp(L->consts + b->offset, t->data, t->nbytes) == 0) {
            *offset = b->offset;
            return DC_OK;
        }
    }
    size_t at = (L->consts_size + DC_PLAN_ALIGN - 1) / DC_PLAN_ALIGN * DC_PLAN_ALIGN;
    if (at + t->nbytes > L->consts_cap) {
        size_t cap = 2 * L->consts_cap > at + t->nbytes ? 2 * L->consts_cap : at + t->nbytes;
        uint8_t *grown = realloc(L->consts, cap);
        if (!grown)
            return dc_error(DC_ERR_NOMEM, "constants of %zu bytes", cap);
        L->consts = grown;
        L->consts_cap = cap;
    }
    memset(L->consts + L->consts_size, 0, at - L->consts_size);
    memcpy(L->consts + at, t->data, t->nbytes);
    L->consts_size = at + t->nbytes;
    *offset = at;
    return DC_OK;
}

static dc_status const_buffer(lowering *L, const dc_value *v, int32_t *out)
{
    const dc_tensor *t = v->constant;
    if (dc_dtype_size(t->dtype) == 0)
        return dc_error(DC_ERR_UNSUPPORTED, "constant '%s' has unsupported element type %s",
                        v->name, dc_dtype_name(t->dtype));
    uint64_t offset = 0;
    DC_TRY(const_offset(L, t, &offset));
    DC_TRY(add_buffer(L, v->name, t->dtype, t->rank, t->dims, DC_REGION_CONST, out));
    L->p->buffers[*out].offset = offset;
    L->value_buffer[v->id] = *out;
    return DC_OK;
}

/* The buffer holding `v` when a step reads it; constants get theirs on first use. */
static dc_status read_buffer(lowering *L, const dc_value *v, int32_t *out)
{
    *out = L->value_buffer[v->id];
    if (*out >= 0)
        return DC_OK;
    if (v->constant)
        return const_buffer(L, v, out);
    return dc_error(DC_ERR_INVALID, "value '%s' is read before any step computes it", v->name);
}

static dc_status new_step(lowering *L, const char *op_type, const char *node, int n_inputs,
                          int n_outputs, int *index);
static dc_status choose_kernel(lowering *L, int index);

/* ------------------------------------------------------------ training state */

/* Every state initializer gets a STATE buffer holding its starting value. */
static dc_status lower_state(lowering *L)
{
    const dc_graph *g = L->g;
    for (int i = 0; i < g->n_initializers; i++) {
        const dc_value *v = g->initializers[i];
        if (!v->is_state)
            continue;
        const dc_tensor *t = v->constant;
        size_t at = (L->state_size + DC_PLAN_ALIGN - 1) / DC_PLAN_ALIGN * DC_PLAN_ALIGN;
        uint8_t *grown = realloc(L->state, at + t->nbytes + 1);
        if (!grown)
            return dc_error(DC_ERR_NOMEM, "state '%s' of %zu bytes", v->name, t->nbytes);
        L->state = grown;
        memset(L->state + L->state_size, 0, at - L->state_size);
        memcpy(L->state + at, t->data, t->nbytes);
        L->state_size = at + t->nbytes;
        int32_t b;
        DC_TRY(add_buffer(L, v->name, t->dtype, t->rank, t->dims, DC_REGION_STATE, &b));
        L->p->buffers[b].offset = at;
        L->value_buffer[v->id] = b;
    }
    return DC_OK;
}

/* Node `index`'s output `v` may be written straight into the state it
 * updates when no later node reads the old state. */
static const dc_value *in_place_state(const lowering *L, const dc_value *v, int index)
{
    const dc_graph *g = L->g;
    for (int i = 0; i < g->n_state_updates; i++) {
        const dc_state_update *u = &g->state_updates[i];
        if (u->next == v && L->last_reader[u->state->id] <= index)
            return u->state;
    }
    return NULL;
}

/* State whose next value lives elsewhere is copied over at the end of the step. */
static dc_status copy_state_updates(lowering *L)
{
    const dc_graph *g = L->g;
    for (int i = 0; i < g->n_state_updates; i++) {
        const dc_state_update *u = &g->state_updates[i];
        int32_t from, to = L->value_buffer[u->state->id];
        DC_TRY(read_buffer(L, u->next, &from));
        if (root_of(L, from) == root_of(L, to))
            continue; /* computed in place */
        int index;
        DC_TRY(new_step(L, "Identity", u->state->name, 1, 1, &index));
        DC_TRY(dc_lower_set_int(&L->p->steps[index], "opset", dc_graph_opset(g, "")));
        L->p->steps[index].args[0] = from;
        L->p->steps[index].args[1] = to;
        DC_TRY(choose_kernel(L, index));
    }
    return DC_OK;
}

static dc_status find_last_readers(lowering *L)
{
    const dc_graph *g = L->g;
    if (!(L->last_reader = malloc(((size_t)g->n_values + 1) * sizeof *L->last_reader)))
        return dc_error(DC_ERR_NOMEM, "lowering");
    for (int i = 0; i < g->n_values; i++)
        L->last_reader[i] = -1;
    for (int n = 0; n < g->n_nodes; n++)
        for (int k = 0; k < g->nodes[n]->n_inputs; k++) {
            const dc_value *v = g->nodes[n]->inputs[k];
            if (v && v->id < g->n_values && g->values[v->id] == v)
                L->last_reader[v->id] = n;
        }
    return DC_OK;
}

/* ------------------------------------------------------------ steps */

static dc_status new_step(lowering *L, const char *op_type, const char *node, int n_inputs,
                          int n_outputs, int *index)
{
    *index = -1; /* defined on failure too: gcc -O3 cannot see callers skip it */
    dc_plan *p = L->p;
    if (p->n_steps == L->cap_steps) {
        int cap = L->cap_steps ? 2 * L->cap_steps : 64;
        dc_plan_step *s = realloc(p->steps, (size_t)cap * sizeof *s);
        if (s)
            p->steps = s;
        uint32_t *ip = s ? realloc(L->in_place, (size_t)cap * sizeof *ip) : NULL;
        if (!ip)
            return dc_error(DC_ERR_NOMEM, "%d steps", cap);
        L->in_place = ip;
        L->cap_steps = cap;
    }
    dc_plan_step *st = &p->steps[p->n_steps++];
    int n_args = n_inputs + n_outputs;
    *st = (dc_plan_step){.op_type = strdup(op_type), .node = strdup(node), .n_inputs = n_inputs,
                         .n_outputs = n_outputs, .args = malloc((n_args ? (size_t)n_args : 1) * sizeof(int32_t))};
    if (!st->op_type || !st->node || !st->args)
        return dc_error(DC_ERR_NOMEM, "step '%s'", node);
    for (int a = 0; a < n_args; a++)
        st->args[a] = -1;
    *index = p->n_steps - 1;
    L->in_place[*index] = 0;
    return DC_OK;
}

/* Asks each candidate kernel, fastest first, whether it runs the step; the
 * refusals are the explanation (and the error when none accepts). */
static dc_status choose_kernel(lowering *L, int index)
{
    dc_plan_step *st = &L->p->steps[index];
    const dc_kernel *cand[MAX_CANDIDATES];
    int n_cand = dc_kernel_candidates(st->op_type, cand, MAX_CANDIDATES);
    n_cand = n_cand < MAX_CANDIDATES ? n_cand : MAX_CANDIDATES;
    int n_args = st->n_inputs + st->n_outputs;
    const dc_plan_buffer **desc = malloc((n_args ? (size_t)n_args : 1) * sizeof *desc);
    char *why = NULL;
    size_t why_len = 0;
    FILE *w = open_memstream(&why, &why_len);
    if (!desc || !w) {
        free(desc);
        if (w)
            fclose(w);
        free(why);
        return dc_error(DC_ERR_NOMEM, "kernel choice");
    }
    for (int a = 0; a < n_args; a++)
        desc[a] = st->args[a] >= 0 ? &L->p->buffers[st->args[a]] : NULL;
    dc_kernel_args args = {.step = st, .in = desc, .out = desc + st->n_inputs};
    const dc_kernel *chosen = NULL;
    for (int k = 0; k < n_cand && !chosen; k++) {
        if (cand[k]->check(&args) == DC_OK)
            chosen = cand[k];
        else
            fprintf(w, "%s%s: %s", ftell(w) ? "; " : "", cand[k]->name, dc_error_message());
    }
    fclose(w);
    free(desc);
    dc_status s = DC_OK;
    if (L->explain)
        fprintf(L->explain, "step %d '%s' %s: %s%s%s%s\n", index, st->node, st->op_type,
                chosen ? chosen->name : "no kernel", why_len ? " (refused: " : "", why,
                why_len ? ")" : "");
    if (!chosen)
        s = dc_error(DC_ERR_UNSUPPORTED, "%s '%s': %s", st->op_type, st->node,
                     n_cand ? why : "no runtime kernel implements this op");
    else if (!(st->kernel = strdup(chosen->name)))
        s = dc_error(DC_ERR_NOMEM, "step '%s'", st->node);
    free(why);
    return s;
}

/* Softmax and LogSoftmax before opset 13 normalise X seen as 2-D,
 * [prod(dims[:axis]), prod(dims[axis:])] with axis 1 by default; kernels
 * implement the opset-13 form (one axis), so the step runs on 2-D views. */
static dc_status canonical_softmax(lowering *L, const dc_node *n, int index)
{
    if ((strcmp(n->op_type, "Softmax") != 0 && strcmp(n->op_type, "LogSoftmax") != 0) ||
        dc_graph_opset(L->g, n->domain) >= 13)
        return DC_OK;
    dc_plan_step *st = &L->p->steps[index];
    int32_t x = st->args[0], y = st->args[st->n_inputs];
    const dc_plan_buffer *xb = &L->p->buffers[x];
    int64_t axis = dc_node_attr_int(n, "axis", 1), dims[2] = {1, 1};
    axis = axis < 0 ? axis + xb->rank : axis;
    for (int d = 0; d < xb->rank; d++)
        dims[d < axis ? 0 : 1] *= xb->dims[d];
    char *xname = concat(xb->name, ":2d"), *yname = concat(L->p->buffers[y].name, ":2d");
    int32_t xv, yv;
    dc_status s = xname && yname ? DC_OK : dc_error(DC_ERR_NOMEM, "node '%s'", n->name);
    if (s == DC_OK)
        s = add_view(L, x, xname, 2, dims, &xv);
    if (s == DC_OK)
        s = add_buffer(L, yname, L->p->buffers[y].dtype, 2, dims, DC_REGION_ARENA, &yv);
    free(xname);
    free(yname);
    DC_TRY(s);
    L->alias[y] = yv; /* the node's output, with its own shape, views the step's */
    st = &L->p->steps[index];
    st->args[0] = xv;
    st->args[st->n_inputs] = yv;
    return dc_lower_set_int(st, "axis", 1);
}

static bool is_static_input(const dc_node *n, int i)
{
    return i < n->schema->n_static_inputs && n->schema->static_inputs[i];
}

/* A node that computes: one step, outputs in fresh ARENA buffers (or, for
 * the next value of training state, in the state's own bytes). */
static dc_status lower_compute(lowering *L, const dc_node *n, int node_index)
{
    int index;
    DC_TRY(new_step(L, n->op_type, n->name, n->n_inputs, n->n_outputs, &index));
    L->in_place[index] = n->schema->in_place_inputs;
    DC_TRY(dc_lower_attrs(L->g, n, &L->p->steps[index]));
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] && !is_static_input(n, i))
            DC_TRY(read_buffer(L, n->inputs[i], &L->p->steps[index].args[i]));
    for (int i = 0; i < n->n_outputs; i++) {
        const dc_value *v = n->outputs[i];
        int64_t dims[DC_MAX_RANK];
        if (!v)
            continue;
        DC_TRY(value_dims(n, v, dims));
        int32_t b;
        const dc_value *state = in_place_state(L, v, node_index);
        if (state)
            DC_TRY(add_view(L, L->value_buffer[state->id], v->name, v->type.rank, dims, &b));
        else
            DC_TRY(add_buffer(L, v->name, v->type.dtype, v->type.rank, dims, DC_REGION_ARENA, &b));
        L->p->steps[index].args[n->n_inputs + i] = b;
        L->value_buffer[v->id] = b;
    }
    DC_TRY(canonical_softmax(L, n, index));
    return choose_kernel(L, index);
}

/* A view op: output 0 is input 0's bytes with another shape; no step. */
static dc_status lower_view(lowering *L, const dc_node *n)
{
    DC_TRY(dc_lower_check_static(n));
    const dc_value *y = n->outputs[0];
    int64_t dims[DC_MAX_RANK];
    int32_t x, b;
    DC_TRY(value_dims(n, y, dims));
    DC_TRY(read_buffer(L, n->inputs[0], &x));
    const dc_plan_buffer *xb = &L->p->buffers[x];
    uint64_t numel;
    DC_TRY(dc_shape_numel(y->type.rank, dims, y->type.dtype, &numel));
    if (y->type.dtype != xb->dtype || numel * dc_dtype_size(xb->dtype) != xb->nbytes)
        return dc_error(DC_ERR_INVALID, "%s '%s': output '%s' does not view the bytes of input '%s'",
                        n->op_type, n->name, y->name, n->inputs[0]->name);
    DC_TRY(add_view(L, x, y->name, y->type.rank, dims, &b));
    L->value_buffer[y->id] = b;
    return DC_OK;
}

static bool outputs_known(const dc_node *n)
{
    for (int i = 0; i < n->n_outputs; i++)
        if (n->outputs[i] && !n->outputs[i]->constant)
            return false;
    return true;
}

static dc_status lower_node(lowering *L, const dc_node *n, int index)
{
    if (outputs_known(n)) /* Constant nodes and folded ones: consumers read CONST */
        return DC_OK;
    if (n->schema->is_view && n->n_outputs >= 1 && n->outputs[0])
        return lower_view(L, n);
    return lower_compute(L, n, index);
}

/* ------------------------------------------------------------ inputs, outputs */

static dc_status lower_inputs(lowering *L)
{
    const dc_graph *g = L->g;
    if (!(L->p->inputs = calloc(g->n_inputs ? (size_t)g->n_inputs : 1, sizeof *L->p->inputs)))
        return dc_error(DC_ERR_NOMEM, "inputs");
    for (int i = 0; i < g->n_inputs; i++) {
        const dc_value *v = g->inputs[i];
        if (v->constant) /* an initializer listed as input, or bound: CONST when read */
            continue;
        int64_t dims[DC_MAX_RANK];
        int32_t b;
        DC_TRY(value_dims(NULL, v, dims));
        DC_TRY(add_buffer(L, v->name, v->type.dtype, v->type.rank, dims, DC_REGION_ARENA, &b));
        L->value_buffer[v->id] = b;
        dc_plan_io *io = &L->p->inputs[L->p->n_inputs++];
        if (!(io->name = strdup(v->name)))
            return dc_error(DC_ERR_NOMEM, "input '%s'", v->name);
        io->buffer = b;
    }
    return DC_OK;
}

static bool is_plan_input(const lowering *L, int32_t b)
{
    for (int i = 0; i < L->p->n_inputs; i++)
        if (L->p->inputs[i].buffer == b)
            return true;
    return false;
}

/* Outputs are ARENA buffers of their own: one that would share bytes with a
 * graph input or a constant is copied (the caller may write to it). */
static dc_status lower_outputs(lowering *L)
{
    const dc_graph *g = L->g;
    if (!(L->p->outputs = calloc(g->n_outputs ? (size_t)g->n_outputs : 1, sizeof *L->p->outputs)))
        return dc_error(DC_ERR_NOMEM, "outputs");
    for (int i = 0; i < g->n_outputs; i++) {
        const dc_value *v = g->outputs[i];
        int32_t b;
        DC_TRY(read_buffer(L, v, &b));
        int32_t r = root_of(L, b);
        if (L->p->buffers[r].region != DC_REGION_ARENA || is_plan_input(L, r)) {
            int index;
            int32_t copy;
            const dc_plan_buffer *src = &L->p->buffers[b];
            DC_TRY(new_step(L, "Identity", v->name, 1, 1, &index));
            DC_TRY(dc_lower_set_int(&L->p->steps[index], "opset", dc_graph_opset(g, "")));
            DC_TRY(add_buffer(L, v->name, src->dtype, src->rank, src->dims, DC_REGION_ARENA, &copy));
            L->p->steps[index].args[0] = b;
            L->p->steps[index].args[1] = copy;
            DC_TRY(choose_kernel(L, index));
            b = copy;
        }
        dc_plan_io *io = &L->p->outputs[L->p->n_outputs++];
        if (!(io->name = strdup(v->name)))
            return dc_error(DC_ERR_NOMEM, "output '%s'", v->name);
        io->buffer = b;
    }
    return DC_OK;
}

/* ------------------------------------------------------------ the whole graph */

static dc_status lower_graph(lowering *L, const char *producer)
{
    DC_TRY(find_last_readers(L));
    DC_TRY(lower_state(L));
    DC_TRY(lower_inputs(L));
    for (int i = 0; i < L->g->n_nodes; i++)
        DC_TRY(lower_node(L, L->g->nodes[i], i));
    DC_TRY(lower_outputs(L));
    DC_TRY(copy_state_updates(L));
    dc_plan *p = L->p;
    p->region_bytes[DC_REGION_CONST] = L->consts_size;
    p->constants = L->consts;
    L->consts = NULL;
    p->region_bytes[DC_REGION_STATE] = L->state_size;
    p->state_init = L->state;
    L->state = NULL;
    if (!(p->producer = strdup(producer ? producer : "dinoc")))
        return dc_error(DC_ERR_NOMEM, "producer");
    return DC_OK;
}

dc_status dc_lower(dc_graph *g, const char *producer, FILE *explain, dc_lowered *out)
{
    *out = (dc_lowered){0};
    DC_TRY(dc_graph_verify(g));
    lowering L = {.g = g, .explain = explain, .p = calloc(1, sizeof(dc_plan)),
                  .value_buffer = malloc((g->n_values ? (size_t)g->n_values : 1) * sizeof(int32_t))};
    dc_status s = L.p && L.value_buffer ? DC_OK : dc_error(DC_ERR_NOMEM, "plan");
    for (int i = 0; s == DC_OK && i < g->n_values; i++)
        L.value_buffer[i] = -1;
    if (s == DC_OK)
        s = lower_graph(&L, producer);
    free(L.value_buffer);
    free(L.consts);
    free(L.state);
    free(L.last_reader);
    if (s != DC_OK) {
        dc_plan_destroy(L.p);
        free(L.alias);
        free(L.in_place);
        return s;
    }
    *out = (dc_lowered){.plan = L.p, .alias = L.alias, .in_place = L.in_place};
    return DC_OK;
}

void dc_lowered_free(dc_lowered *l)
{
    dc_plan_destroy(l->plan);
    free(l->alias);
    free(l->in_place);
    *l = (dc_lowered){0};
}
