/* ONNX ModelProto -> dinoc IR.
 *
 * The bytes are first walked once against the protobuf descriptors (nesting
 * limit, lengths), then unpacked by protobuf-c, then converted graph by graph:
 * initializers, inputs, nodes in file order (ONNX requires a topological
 * order, so every input must already be defined when its node is read),
 * outputs, and the declared types of value_info/outputs, which shape inference
 * then checks against what it infers. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "infer_shapes.h"
#include "onnx_io.h"
#include "onnx_tensor.h"
#include "strmap.h"

#define NOMEM(what) dc_error(DC_ERR_NOMEM, "out of memory (%s)", what)

enum { MIN_IR = 3, MAX_IR = 8, MAX_DEFAULT_OPSET = 17 };

/* Limits that keep hostile files from costing time or memory out of
 * proportion to their size: attribute and metadata lookups are linear
 * (dc_node_attr, dc_graph_set_metadata), and each subgraph starts its own
 * arena block. Real models stay far below them. */
enum { MAX_ATTRS_PER_NODE = 1024, MAX_METADATA = 10000, MAX_SUBGRAPHS = 1024 };

typedef struct importer {
    const char *base_dir; /* NULL: external data refused */
    int n_subgraphs;
} importer;

static const char *str_or(const char *s, const char *dflt) { return s && *s ? s : dflt; }

/* ONNX spells the default domain "" or "ai.onnx"; the IR keeps "". */
static const char *canonical_domain(const char *d)
{
    return (!d || strcmp(d, "ai.onnx") == 0) ? "" : d;
}

/* ---- types ------------------------------------------------------------------ */

static const char *type_kind(Onnx__TypeProto__ValueCase c)
{
    switch (c) {
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "a sequence";
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "a map";
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "an optional";
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "a sparse tensor";
    default: return "an unknown";
    }
}

/* Converts a TypeProto for the value (or attribute) called `what`. A missing
 * type, element type or shape is "unknown"; non-tensor types are unsupported.
 * dim_param strings are copied into `g`'s arena. */
static dc_status import_type(const Onnx__TypeProto *tp, dc_graph *g, const char *what, dc_type *out)
{
    *out = dc_type_unknown(DC_UNDEFINED);
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return DC_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return dc_error(DC_ERR_UNSUPPORTED, "%s has %s type, unsupported (dinoc handles tensors only)",
                        what, type_kind(tp->value_case));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (!tt)
        return DC_OK;
    if (tt->has_elem_type && tt->elem_type != DC_UNDEFINED) {
        if (!dc_dtype_valid(tt->elem_type))
            return dc_error(DC_ERR_INVALID, "%s: unknown element type %d", what, tt->elem_type);
        if (tt->elem_type == DC_STRING)
            return dc_error(DC_ERR_UNSUPPORTED, "%s: unsupported element type string", what);
        out->dtype = (dc_dtype)tt->elem_type;
    }
    if (!tt->shape)
        return DC_OK;
    if (tt->shape->n_dim > DC_MAX_RANK)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: unsupported rank %zu (at most %d)", what,
                        tt->shape->n_dim, DC_MAX_RANK);
    out->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < out->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        dc_dim *dim = &out->dims[i];
        dim->size = DC_DIM_UNKNOWN;
        dim->param = NULL;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return dc_error(DC_ERR_INVALID, "%s: negative dimension %" PRId64 " at axis %d",
                                what, d->dim_value, i);
            dim->size = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   d->dim_param && *d->dim_param) {
            if (!(dim->param = dc_arena_strdup(g->arena, d->dim_param)))
                return NOMEM("dim_param");
        }
    }
    return DC_OK;
}

static dc_status import_value_type(const Onnx__ValueInfoProto *vi, dc_graph *g, dc_type *out)
{
    char what[300];
    snprintf(what, sizeof what, "value '%s'", str_or(vi->name, ""));
    return import_type(vi->type, g, what, out);
}

/* ---- attributes --------------------------------------------------------------- */

static dc_status import_graph(importer *imp, const Onnx__GraphProto *gp, dc_graph *g);

static dc_status import_tensor_owned(importer *imp, dc_graph *g, const Onnx__TensorProto *p,
                                     dc_tensor **out)
{
    DC_TRY(dc_onnx_tensor_from_proto(p, imp->base_dir, out));
    return dc_graph_own_tensor(g, *out);
}

static dc_status import_sparse(importer *imp, dc_graph *g, const Onnx__SparseTensorProto *p,
                               dc_sparse_tensor **out)
{
    dc_sparse_tensor *sp = dc_arena_alloc(g->arena, sizeof *sp);
    if (!sp)
        return NOMEM("sparse tensor");
    if (!p->values)
        return dc_error(DC_ERR_INVALID, "sparse tensor without values");
    if (p->n_dims > DC_MAX_RANK)
        return dc_error(DC_ERR_UNSUPPORTED, "sparse tensor of unsupported rank %zu (at most %d)",
                        p->n_dims, DC_MAX_RANK);
    sp->rank = (int)p->n_dims;
    for (int i = 0; i < sp->rank; i++)
        sp->dims[i] = p->dims[i];
    uint64_t dense;
    dc_status s = dc_shape_numel(sp->rank, sp->dims, DC_U8, &dense);
    if (s != DC_OK)
        return dc_error_context(s, "sparse tensor dims");
    DC_TRY(import_tensor_owned(imp, g, p->values, &sp->values));
    if (sp->values->rank != 1)
        return dc_error(DC_ERR_INVALID, "sparse tensor values must be 1-D, found rank %d",
                        sp->values->rank);
    int64_t nnz = sp->values->dims[0];
    if (p->indices) {
        DC_TRY(import_tensor_owned(imp, g, p->indices, &sp->indices));
        const dc_tensor *ix = sp->indices;
        bool linear = ix->rank == 1 && ix->dims[0] == nnz;
        bool coords = ix->rank == 2 && ix->dims[0] == nnz && ix->dims[1] == sp->rank;
        if (ix->dtype != DC_I64 || (!linear && !coords))
            return dc_error(DC_ERR_INVALID, "sparse tensor indices must be int64 [%" PRId64
                            "] or [%" PRId64 ",%d], found %s of rank %d", nnz, nnz, sp->rank,
                            dc_dtype_name(ix->dtype), ix->rank);
        const int64_t *idx = ix->data;
        for (uint64_t k = 0; k < dc_tensor_numel(ix); k++) {
            uint64_t limit = linear ? dense : (uint64_t)sp->dims[k % (uint64_t)sp->rank];
            if (idx[k] < 0 || (uint64_t)idx[k] >= limit)
                return dc_error(DC_ERR_INVALID, "sparse tensor index %" PRId64
                                " out of range [0,%" PRIu64 ")", idx[k], limit);
        }
    } else if (nnz != 0) {
        return dc_error(DC_ERR_INVALID, "sparse tensor with %" PRId64 " values but no indices", nnz);
    }
    *out = sp;
    return DC_OK;
}

/* IR 1 files have no attribute type; read it off the field that is set. */
static dc_attr_type guess_attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_f) return DC_ATTR_FLOAT;
    if (a->has_i) return DC_ATTR_INT;
    if (a->has_s) return DC_ATTR_STRING;
    if (a->t) return DC_ATTR_TENSOR;
    if (a->g) return DC_ATTR_GRAPH;
    if (a->sparse_tensor) return DC_ATTR_SPARSE_TENSOR;
    if (a->tp) return DC_ATTR_TYPE_PROTO;
    if (a->n_floats) return DC_ATTR_FLOATS;
    if (a->n_ints) return DC_ATTR_INTS;
    if (a->n_strings) return DC_ATTR_STRINGS;
    if (a->n_tensors) return DC_ATTR_TENSORS;
    if (a->n_graphs) return DC_ATTR_GRAPHS;
    if (a->n_sparse_tensors) return DC_ATTR_SPARSE_TENSORS;
    if (a->n_type_protos) return DC_ATTR_TYPE_PROTOS;
    return DC_ATTR_UNDEFINED;
}

static dc_status copy_bytes(dc_graph *g, ProtobufCBinaryData b, dc_bytes *out)
{
    out->data = dc_arena_memdup(g->arena, b.data, b.len);
    out->len = b.len;
    return out->data ? DC_OK : NOMEM("string attribute");
}

static dc_status import_subgraph(importer *imp, dc_graph *g, const Onnx__GraphProto *gp,
                                 dc_graph **slot)
{
    if (++imp->n_subgraphs > MAX_SUBGRAPHS)
        return dc_error(DC_ERR_UNSUPPORTED, "unsupported: more than %d subgraphs in one model", MAX_SUBGRAPHS);
    /* Hang the subgraph on the attribute first: if its import fails half way,
     * destroying the parent still frees it. */
    *slot = dc_graph_create_subgraph(g, str_or(gp->name, "subgraph"));
    if (!*slot)
        return NOMEM("subgraph");
    dc_status s = import_graph(imp, gp, *slot);
    if (s != DC_OK)
        return dc_error_context(s, "subgraph '%s'", (*slot)->name);
    return DC_OK;
}

static dc_status import_attr_value(importer *imp, dc_graph *g, dc_attr *a,
                                   const Onnx__AttributeProto *p)
{
    size_t n = 0;
    switch (a->type) {
    case DC_ATTR_FLOAT: a->f = p->f; return DC_OK;
    case DC_ATTR_INT: a->i = p->i; return DC_OK;
    case DC_ATTR_STRING: return copy_bytes(g, p->s, &a->s);
    case DC_ATTR_TENSOR:
        if (!p->t)
            return dc_error(DC_ERR_INVALID, "TENSOR attribute without a tensor");
        return import_tensor_owned(imp, g, p->t, &a->t);
    case DC_ATTR_GRAPH:
        if (!p->g)
            return dc_error(DC_ERR_INVALID, "GRAPH attribute without a graph");
        return import_subgraph(imp, g, p->g, &a->g);
    case DC_ATTR_SPARSE_TENSOR:
        if (!p->sparse_tensor)
            return dc_error(DC_ERR_INVALID, "SPARSE_TENSOR attribute without a tensor");
        return import_sparse(imp, g, p->sparse_tensor, &a->sparse);
    case DC_ATTR_TYPE_PROTO:
        if (!p->tp)
            return dc_error(DC_ERR_INVALID, "TYPE_PROTO attribute without a type");
        if (!(a->tp = dc_arena_alloc(g->arena, sizeof *a->tp)))
            return NOMEM("type attribute");
        return import_type(p->tp, g, "type", a->tp);
    case DC_ATTR_FLOATS: n = p->n_floats; break;
    case DC_ATTR_INTS: n = p->n_ints; break;
    case DC_ATTR_STRINGS: n = p->n_strings; break;
    case DC_ATTR_TENSORS: n = p->n_tensors; break;
    case DC_ATTR_GRAPHS: n = p->n_graphs; break;
    case DC_ATTR_SPARSE_TENSORS: n = p->n_sparse_tensors; break;
    case DC_ATTR_TYPE_PROTOS: n = p->n_type_protos; break;
    default:
        return dc_error(DC_ERR_INVALID, "unknown attribute type %d", (int)a->type);
    }
    if (n > INT_MAX / 16)
        return dc_error(DC_ERR_INVALID, "list of %zu entries", n);
    a->n = (int)n;
    dc_arena *ar = g->arena;
    switch (a->type) {
    case DC_ATTR_FLOATS:
        a->floats = (float *)dc_arena_memdup(ar, p->floats, n * sizeof *p->floats);
        return a->floats ? DC_OK : NOMEM("floats");
    case DC_ATTR_INTS:
        a->ints = (int64_t *)dc_arena_memdup(ar, p->ints, n * sizeof *p->ints);
        return a->ints ? DC_OK : NOMEM("ints");
    case DC_ATTR_STRINGS:
        if (!(a->strings = dc_arena_alloc(ar, n * sizeof *a->strings)))
            return NOMEM("strings");
        for (size_t k = 0; k < n; k++)
            DC_TRY(copy_bytes(g, p->strings[k], &a->strings[k]));
        return DC_OK;
    case DC_ATTR_TENSORS:
        if (!(a->tensors = dc_arena_alloc(ar, n * sizeof *a->tensors)))
            return NOMEM("tensors");
        for (size_t k = 0; k < n; k++)
            DC_TRY(import_tensor_owned(imp, g, p->tensors[k], &a->tensors[k]));
        return DC_OK;
    case DC_ATTR_GRAPHS:
        /* Zero-filled, so a partly imported list is destroyed safely. */
        if (!(a->graphs = dc_arena_alloc(ar, n * sizeof *a->graphs)))
            return NOMEM("graphs");
        for (size_t k = 0; k < n; k++)
            DC_TRY(import_subgraph(imp, g, p->graphs[k], &a->graphs[k]));
        return DC_OK;
    case DC_ATTR_SPARSE_TENSORS:
        if (!(a->sparse_tensors = dc_arena_alloc(ar, n * sizeof *a->sparse_tensors)))
            return NOMEM("sparse tensors");
        for (size_t k = 0; k < n; k++)
            DC_TRY(import_sparse(imp, g, p->sparse_tensors[k], &a->sparse_tensors[k]));
        return DC_OK;
    case DC_ATTR_TYPE_PROTOS:
        if (!(a->type_protos = dc_arena_alloc(ar, n * sizeof *a->type_protos)))
            return NOMEM("types");
        for (size_t k = 0; k < n; k++)
            DC_TRY(import_type(p->type_protos[k], g, "type", &a->type_protos[k]));
        return DC_OK;
    default:
        return DC_OK;
    }
}

static dc_status import_attr(importer *imp, dc_graph *g, dc_node *node,
                             const Onnx__AttributeProto *p)
{
    if (!p->name || !*p->name)
        return dc_error(DC_ERR_INVALID, "an attribute has no name");
    if (dc_node_attr(node, p->name))
        return dc_error(DC_ERR_INVALID, "attribute '%s' appears twice", p->name);
    int type = p->has_type ? (int)p->type : DC_ATTR_UNDEFINED;
    if (type == DC_ATTR_UNDEFINED)
        type = guess_attr_type(p);
    if (type <= DC_ATTR_UNDEFINED || type > DC_ATTR_TYPE_PROTOS)
        return dc_error(DC_ERR_INVALID, "attribute '%s' has %s type %d", p->name,
                        type ? "unknown" : "no", type);
    dc_attr *a = dc_node_add_attr(node, g, p->name, (dc_attr_type)type);
    if (!a)
        return NOMEM("attribute");
    if (p->ref_attr_name && !(a->ref_attr_name = dc_arena_strdup(g->arena, p->ref_attr_name)))
        return NOMEM("attribute");
    /* AttributeProto.doc_string has no place in dc_attr and is dropped. */
    dc_status s = import_attr_value(imp, g, a, p);
    if (s != DC_OK)
        return dc_error_context(s, "attribute '%s'", p->name);
    return DC_OK;
}

/* ---- graphs ------------------------------------------------------------------- */

/* Appends an existing value to g->inputs (an initializer that is also listed
 * as a graph input; ir.h has no call for that). */
static dc_status push_input(dc_graph *g, dc_value *v)
{
    g->inputs = dc_arena_grow(g->arena, g->inputs, sizeof *g->inputs, &g->cap_inputs,
                              g->n_inputs + 1);
    if (!g->inputs)
        return NOMEM("inputs");
    g->inputs[g->n_inputs++] = v;
    return DC_OK;
}

static bool owns_value(const dc_graph *g, const dc_value *v)
{
    return v && v->id >= 0 && v->id < g->n_values && g->values[v->id] == v;
}

static dc_status import_input(dc_graph *g, const Onnx__ValueInfoProto *vi, dc_strmap *listed)
{
    if (!vi->name || !*vi->name)
        return dc_error(DC_ERR_INVALID, "a graph input has no name");
    dc_type t;
    DC_TRY(import_value_type(vi, g, &t));
    dc_value *v = dc_graph_find_value(g, vi->name);
    if (!v)
        return dc_graph_add_input(g, vi->name, &t, NULL);
    if (!owns_value(g, v) || !v->is_initializer)
        return dc_error(DC_ERR_INVALID, "duplicate name: graph input '%s' is defined twice "
                        "(or shadows an outer-scope value)", vi->name);
    /* An initializer listed as an input (required before IR 4, an overridable
     * default since): keep the one value in both lists. */
    if (dc_strmap_get(listed, v->name))
        return dc_error(DC_ERR_INVALID, "duplicate name: graph input '%s' is listed twice",
                        vi->name);
    if (!dc_strmap_put(listed, v->name, v))
        return NOMEM("name map");
    bool clash = t.dtype != DC_UNDEFINED && t.dtype != v->type.dtype;
    if (t.rank >= 0) {
        clash |= t.rank != v->type.rank;
        for (int i = 0; !clash && i < t.rank; i++)
            clash |= t.dims[i].size >= 0 && t.dims[i].size != v->type.dims[i].size;
    }
    if (clash) {
        char a[128], b[128];
        return dc_error(DC_ERR_SHAPE, "graph input '%s' declared %s but its initializer is %s",
                        vi->name, dc_type_str(&t, a, sizeof a), dc_type_str(&v->type, b, sizeof b));
    }
    return push_input(g, v);
}

/* Gives a node output the type declared in the file (value_info or graph
 * output); shape inference checks the two agree. Values that are not node
 * outputs of this graph keep the type their definition gives them. */
static dc_status declare_type(dc_graph *g, const Onnx__ValueInfoProto *vi)
{
    dc_type t;
    DC_TRY(import_value_type(vi, g, &t));
    dc_value *v = vi->name ? dc_graph_find_value(g, vi->name) : NULL;
    if (v && owns_value(g, v) && v->producer && (t.dtype != DC_UNDEFINED || t.rank >= 0))
        v->type = v->declared = t;
    return DC_OK;
}

static const char *node_label(const Onnx__NodeProto *np, int index, char *buf, size_t size)
{
    if (np->name && *np->name)
        snprintf(buf, size, "node '%s' (%s)", np->name, str_or(np->op_type, "?"));
    else
        snprintf(buf, size, "node #%d (%s)", index, str_or(np->op_type, "?"));
    return buf;
}

static dc_status import_node(importer *imp, dc_graph *g, const Onnx__NodeProto *np, int index,
                             const dc_strmap *produced_here)
{
    char label[300];
    node_label(np, index, label, sizeof label);
    if (!np->op_type || !*np->op_type)
        return dc_error(DC_ERR_INVALID, "%s has no op_type", label);
    const char *domain = canonical_domain(np->domain);
    if (dc_graph_opset(g, domain) == 0)
        return dc_error(DC_ERR_INVALID, "%s: domain '%s' is not imported by the model", label,
                        domain);
    if (np->n_input > INT_MAX / 16 || np->n_output > INT_MAX / 16)
        return dc_error(DC_ERR_INVALID, "%s: too many inputs or outputs", label);

    dc_value **inputs = calloc(np->n_input ? np->n_input : 1, sizeof *inputs);
    if (!inputs)
        return NOMEM("node inputs");
    dc_status s = DC_OK;
    for (size_t i = 0; i < np->n_input && s == DC_OK; i++) {
        const char *in = np->input[i];
        if (!in || !*in)
            continue; /* omitted optional input */
        inputs[i] = dc_graph_find_value(g, in);
        if (inputs[i])
            continue;
        if (dc_strmap_get(produced_here, in))
            s = dc_error(DC_ERR_INVALID, "%s uses '%s' before it is produced (or cycle)", label, in);
        else
            s = dc_error(DC_ERR_INVALID, "%s: input '%s' is not defined (dangling value)", label,
                         in);
    }
    /* Outputs may not redefine a name of this graph or an enclosing one; a
     * name repeated within the node is caught by dc_graph_add_node. */
    for (size_t i = 0; i < np->n_output && s == DC_OK; i++) {
        const char *out = np->output[i];
        if (out && *out && dc_graph_find_value(g, out))
            s = dc_error(DC_ERR_INVALID, "%s: duplicate name: output '%s' is already defined",
                         label, out);
    }
    if (s == DC_OK && np->n_attribute > MAX_ATTRS_PER_NODE)
        s = dc_error(DC_ERR_UNSUPPORTED, "%s: unsupported count of %zu attributes (at most %d)", label,
                     np->n_attribute, MAX_ATTRS_PER_NODE);
    dc_node *node = NULL;
    if (s == DC_OK)
        s = dc_graph_add_node(g, np->op_type, domain, np->name, inputs, (int)np->n_input,
                              (const char *const *)np->output, (int)np->n_output, &node);
    free(inputs);
    DC_TRY(s);
    /* ONNX node names are optional. dc_graph_add_node invents one; keep the
     * file's empty name instead so that export writes names as they were
     * (messages here say "node #i" for these). */
    if (!np->name || !*np->name)
        node->name = "";
    if (np->doc_string && !(node->doc_string = dc_arena_strdup(g->arena, np->doc_string)))
        return NOMEM("doc_string");
    for (size_t k = 0; k < np->n_attribute; k++) {
        s = import_attr(imp, g, node, np->attribute[k]);
        if (s != DC_OK)
            return dc_error_context(s, "%s", label);
    }
    return DC_OK;
}

static dc_status import_graph_body(importer *imp, const Onnx__GraphProto *gp, dc_graph *g,
                                   dc_strmap *produced, dc_strmap *listed)
{
    if (gp->n_sparse_initializer)
        return dc_error(DC_ERR_UNSUPPORTED, "unsupported sparse initializers (%zu found)",
                        gp->n_sparse_initializer);
    if (gp->doc_string && !(g->doc_string = dc_arena_strdup(g->arena, gp->doc_string)))
        return NOMEM("doc_string");
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return dc_error(DC_ERR_INVALID, "initializer #%zu has no name", i);
        if (dc_graph_find_value(g, tp->name))
            return dc_error(DC_ERR_INVALID, "duplicate name: initializer '%s' is defined twice "
                            "(or shadows an outer-scope value)", tp->name);
        dc_tensor *t;
        DC_TRY(dc_onnx_tensor_from_proto(tp, imp->base_dir, &t));
        dc_status s = dc_graph_add_initializer(g, tp->name, t, NULL);
        if (s != DC_OK)
            return dc_error_context(s, "initializer '%s'", tp->name);
    }
    for (size_t i = 0; i < gp->n_input; i++)
        DC_TRY(import_input(g, gp->input[i], listed));

    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        for (size_t k = 0; k < np->n_output; k++)
            if (np->output[k] && *np->output[k] && !dc_strmap_put(produced, np->output[k], (void *)1))
                return NOMEM("name map");
    }
    if (gp->n_node > INT_MAX / 16)
        return dc_error(DC_ERR_INVALID, "%zu nodes", gp->n_node);
    for (size_t i = 0; i < gp->n_node; i++)
        DC_TRY(import_node(imp, g, gp->node[i], (int)i, produced));

    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi->name || !*vi->name)
            return dc_error(DC_ERR_INVALID, "graph output #%zu has no name", i);
        dc_value *v = dc_graph_find_value(g, vi->name);
        if (!v)
            return dc_error(DC_ERR_INVALID, "graph output '%s' is not produced by any node, "
                            "input or initializer (dangling value)", vi->name);
        DC_TRY(dc_graph_add_output(g, v));
    }
    /* Declared types: value_info first, graph outputs last (they win). */
    for (size_t i = 0; i < gp->n_value_info; i++)
        DC_TRY(declare_type(g, gp->value_info[i]));
    for (size_t i = 0; i < gp->n_output; i++)
        DC_TRY(declare_type(g, gp->output[i]));
    return DC_OK;
}

static dc_status import_graph(importer *imp, const Onnx__GraphProto *gp, dc_graph *g)
{
    dc_strmap *produced = dc_strmap_create(), *listed = dc_strmap_create();
    dc_status s = produced && listed ? import_graph_body(imp, gp, g, produced, listed)
                                     : NOMEM("name map");
    dc_strmap_destroy(produced);
    dc_strmap_destroy(listed);
    return s;
}

/* ---- models ------------------------------------------------------------------- */

static dc_status import_opsets(const Onnx__ModelProto *m, dc_graph *g)
{
    if (m->n_opset_import == 0)
        return dc_error(DC_ERR_INVALID, "the model imports no opset");
    g->n_opsets = 0; /* drop dc_graph_create's default opset 17 */
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *domain = canonical_domain(o->domain);
        int64_t version = o->has_version ? o->version : 0;
        if (*domain && strcmp(domain, "ai.dinoc") != 0)
            return dc_error(DC_ERR_UNSUPPORTED, "unsupported domain '%s' (dinoc reads the "
                            "default ONNX domain and 'ai.dinoc')", domain);
        if (version < 1)
            return dc_error(DC_ERR_INVALID, "opset import of domain '%s' has version %" PRId64,
                            domain, version);
        if (!*domain && version > MAX_DEFAULT_OPSET)
            return dc_error(DC_ERR_UNSUPPORTED, "unsupported opset %" PRId64 " of the default "
                            "domain (1..%d)", version, MAX_DEFAULT_OPSET);
        if (dc_graph_opset(g, domain) != 0)
            return dc_error(DC_ERR_INVALID, "domain '%s' is imported twice", domain);
        DC_TRY(dc_graph_set_opset(g, domain, version));
    }
    return DC_OK;
}

static dc_status import_metadata(const Onnx__ModelProto *m, dc_graph *g)
{
    const size_t plen = strlen(DC_ONNX_DIM_BOUND_PREFIX);
    if (m->n_metadata_props > MAX_METADATA)
        return dc_error(DC_ERR_UNSUPPORTED, "unsupported count of %zu metadata entries (at most %d)",
                        m->n_metadata_props, MAX_METADATA);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *key = m->metadata_props[i]->key ? m->metadata_props[i]->key : "";
        const char *value = m->metadata_props[i]->value ? m->metadata_props[i]->value : "";
        if (strncmp(key, DC_ONNX_STATE_UPDATE_PREFIX, strlen(DC_ONNX_STATE_UPDATE_PREFIX)) == 0)
            continue; /* read once the values exist (import_state_updates) */
        if (strncmp(key, DC_ONNX_DIM_BOUND_PREFIX, plen) != 0) {
            DC_TRY(dc_graph_set_metadata(g, key, value));
            continue;
        }
        const char *sym = key + plen;
        char *end;
        errno = 0;
        long long bound = strtoll(value, &end, 10);
        if (!*sym || !*value || *end || errno || bound < 0)
            return dc_error(DC_ERR_INVALID, "metadata '%s' = '%s': expected a non-negative "
                            "integer bound of dimension '%s'", key, value, sym);
        DC_TRY(dc_graph_set_dim_bound(g, sym, bound));
    }
    return DC_OK;
}

/* The training state of a graph dinoc wrote (dc_graph_add_state_update).
 * With `mark_only`, only flags the states, before shape inference, so that
 * no inference folds a value computed from them; the updates themselves are
 * added once every value has its type. */
static dc_status import_state_updates(const Onnx__ModelProto *m, dc_graph *g, bool mark_only)
{
    const size_t plen = strlen(DC_ONNX_STATE_UPDATE_PREFIX);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *key = m->metadata_props[i]->key ? m->metadata_props[i]->key : "";
        const char *value = m->metadata_props[i]->value ? m->metadata_props[i]->value : "";
        if (strncmp(key, DC_ONNX_STATE_UPDATE_PREFIX, plen) != 0)
            continue;
        dc_value *state = dc_graph_find_value(g, key + plen), *next = dc_graph_find_value(g, value);
        if (!state || !next || !state->is_initializer)
            return dc_error(DC_ERR_INVALID, "metadata '%s' = '%s': no such %s", key, value,
                            state && state->is_initializer ? "value" : "initializer");
        if (mark_only)
            state->is_state = true;
        else
            DC_TRY(dc_graph_add_state_update(g, state, next));
    }
    return DC_OK;
}

static dc_status set_string(dc_graph *g, const char **field, const char *s)
{
    if (s && !(*field = dc_arena_strdup(g->arena, s)))
        return NOMEM("string");
    return DC_OK;
}

static dc_status import_model(const Onnx__ModelProto *m, importer *imp, unsigned flags,
                              dc_graph **out)
{
    int64_t ir = m->has_ir_version ? m->ir_version : 0;
    if (ir < MIN_IR || ir > MAX_IR)
        return dc_error(DC_ERR_UNSUPPORTED, "IR version %" PRId64 " not supported (%d..%d)", ir,
                        MIN_IR, MAX_IR);
    if (m->n_functions)
        return dc_error(DC_ERR_UNSUPPORTED, "unsupported model-local functions (%zu found)",
                        m->n_functions);
    if (m->n_training_info)
        return dc_error(DC_ERR_UNSUPPORTED, "unsupported training_info");
    if (!m->graph)
        return dc_error(DC_ERR_INVALID, "the model has no graph");
    dc_graph *g = dc_graph_create(str_or(m->graph->name, "graph"));
    if (!g)
        return NOMEM("graph");
    g->ir_version = ir;
    g->model_version = m->has_model_version ? m->model_version : 0;
    dc_status s = import_opsets(m, g);
    if (s == DC_OK)
        s = import_metadata(m, g);
    if (s == DC_OK)
        s = set_string(g, &g->producer_name, m->producer_name);
    if (s == DC_OK)
        s = set_string(g, &g->producer_version, m->producer_version);
    if (s == DC_OK)
        s = set_string(g, &g->model_domain, m->domain);
    if (s == DC_OK)
        s = set_string(g, &g->model_doc_string, m->doc_string);
    if (s == DC_OK)
        s = import_graph(imp, m->graph, g);
    if (s == DC_OK && !(flags & DC_ONNX_NO_CHECK))
        s = dc_graph_verify(g);
    if (s == DC_OK && !(flags & DC_ONNX_NO_CHECK))
        s = import_state_updates(m, g, true);
    if (s == DC_OK && !(flags & DC_ONNX_NO_CHECK))
        s = dc_infer_shapes(g);
    if (s == DC_OK && !(flags & DC_ONNX_NO_CHECK))
        s = import_state_updates(m, g, false);
    if (s != DC_OK) {
        dc_graph_destroy(g);
        return s;
    }
    *out = g;
    return DC_OK;
}

dc_status dc_onnx_load_buffer_ex(const void *data, size_t size, const char *base_dir,
                                 unsigned flags, dc_graph **out)
{
    *out = NULL;
    if (!data && size)
        return dc_error(DC_ERR_INVALID, "no model data");
    if (size == 0)
        return dc_error(DC_ERR_PARSE, "not an ONNX model: empty input");
    dc_status s = dc_onnx_check_wire(&onnx__model_proto__descriptor, data, size);
    if (s != DC_OK)
        return dc_error_context(s, "not a valid ONNX model");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m)
        return dc_error(DC_ERR_PARSE, "not a valid ONNX model (protobuf parse failed: truncated "
                        "or corrupt data)");
    importer imp = {base_dir, 0};
    s = import_model(m, &imp, flags, out);
    onnx__model_proto__free_unpacked(m, NULL);
    return s;
}

dc_status dc_onnx_load_buffer(const void *data, size_t size, const char *base_dir, dc_graph **out)
{
    return dc_onnx_load_buffer_ex(data, size, base_dir, 0, out);
}

dc_status dc_onnx_load_ex(const char *path, unsigned flags, dc_graph **out)
{
    *out = NULL;
    void *data;
    size_t size;
    DC_TRY(dc_onnx_read_file(path, DC_ONNX_MAX_FILE_BYTES, &data, &size));
    char *dir = dc_onnx_dirname(path);
    dc_status s = dir ? dc_onnx_load_buffer_ex(data, size, dir, flags, out) : NOMEM("path");
    free(dir);
    free(data);
    if (s != DC_OK)
        return dc_error_context(s, "%s", path);
    return DC_OK;
}

dc_status dc_onnx_load(const char *path, dc_graph **out)
{
    return dc_onnx_load_ex(path, 0, out);
}
