/* dinoc IR -> ONNX ModelProto.
 *
 * The protobuf-c structs are built in a scratch arena that borrows the graph's
 * strings and tensor data (no copies of weights), packed once, and freed with
 * the arena. The output is IR version 8 and passes
 * onnx.checker.check_model(full_check=True): every graph input and output
 * carries its type, every intermediate value with a known element type gets a
 * value_info entry, initializers are little-endian raw_data. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_io.h"
#include "onnx_tensor.h"

#define EXPORT_IR_VERSION 8

typedef struct exporter {
    dc_arena *a;
    /* Domains used by nodes but missing from the graph's opset imports. */
    const char **extra_domains;
    int n_extra, cap_extra;
    dc_status status; /* why the last builder returned NULL */
    /* External data: initializers of at least EXTERNAL_MIN_BYTES go to this
     * file (NULL: everything inline), at 4 KiB-aligned offsets. */
    FILE *external;
    const char *external_name; /* the file's name relative to the model */
    uint64_t external_offset;
} exporter;

enum { EXTERNAL_MIN_BYTES = 1024, EXTERNAL_ALIGN = 4096 };

/* Zero-filled storage for `n` items; never NULL for n == 0 (arena minimum). */
static void *alloc_n(exporter *ex, size_t n, size_t size)
{
    void *p = dc_arena_alloc(ex->a, n * size);
    if (!p)
        ex->status = dc_error(DC_ERR_NOMEM, "out of memory while building the ONNX model");
    return p;
}

#define NEW(ex, type, init_fn) ((type *)init_obj(alloc_n((ex), 1, sizeof(type)), (void (*)(void *))(init_fn)))
static void *init_obj(void *p, void (*init)(void *))
{
    if (p)
        init(p);
    return p;
}

/* protobuf-c fields are `char *`; the packer never writes through them. */
static char *S(const char *s) { return (char *)s; }

/* ---- types ------------------------------------------------------------------ */

static Onnx__TypeProto *export_type(exporter *ex, const dc_type *t)
{
    Onnx__TypeProto *tp = NEW(ex, Onnx__TypeProto, onnx__type_proto__init);
    Onnx__TypeProto__Tensor *tt = NEW(ex, Onnx__TypeProto__Tensor, onnx__type_proto__tensor__init);
    if (!tp || !tt)
        return NULL;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (t->dtype != DC_UNDEFINED) {
        tt->has_elem_type = 1;
        tt->elem_type = (int32_t)t->dtype;
    }
    if (t->rank < 0)
        return tp;
    Onnx__TensorShapeProto *shape = NEW(ex, Onnx__TensorShapeProto, onnx__tensor_shape_proto__init);
    if (!shape || !(shape->dim = alloc_n(ex, (size_t)t->rank, sizeof *shape->dim)))
        return NULL;
    shape->n_dim = (size_t)t->rank;
    for (int i = 0; i < t->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d =
            NEW(ex, Onnx__TensorShapeProto__Dimension, onnx__tensor_shape_proto__dimension__init);
        if (!d)
            return NULL;
        if (t->dims[i].size >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = t->dims[i].size;
        } else if (t->dims[i].param) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = S(t->dims[i].param);
        } /* else: an unknown dimension, neither field set */
        shape->dim[i] = d;
    }
    tt->shape = shape;
    return tp;
}

/* A ValueInfoProto. A type with an unknown element type is not valid ONNX;
 * graph inputs and outputs still keep a known rank that way (such a graph can
 * only come from a file that had it already), other values drop it. */
static Onnx__ValueInfoProto *export_value_info(exporter *ex, const dc_value *v, bool io)
{
    Onnx__ValueInfoProto *vi = NEW(ex, Onnx__ValueInfoProto, onnx__value_info_proto__init);
    if (!vi)
        return NULL;
    vi->name = S(v->name);
    bool typed = v->type.dtype != DC_UNDEFINED || (io && v->type.rank >= 0);
    if (typed && !(vi->type = export_type(ex, &v->type)))
        return NULL;
    return vi;
}

/* ---- attributes --------------------------------------------------------------- */

static Onnx__GraphProto *export_graph(exporter *ex, const dc_graph *g);

static Onnx__TensorProto *export_tensor(exporter *ex, const dc_tensor *t, const char *name)
{
    Onnx__TensorProto *p = dc_onnx_tensor_to_proto(t, name, ex->a);
    if (!p)
        ex->status = dc_error(DC_ERR_NOMEM, "out of memory while building the ONNX model");
    return p;
}

static Onnx__StringStringEntryProto *entry(exporter *ex, const char *key, const char *value);

/* An initializer, written to the external data file when there is one and
 * the tensor is big enough to be worth it (ONNX's external data convention). */
static Onnx__TensorProto *export_initializer(exporter *ex, const dc_tensor *t, const char *name)
{
    Onnx__TensorProto *p = export_tensor(ex, t, name);
    if (!p || !ex->external || t->nbytes < EXTERNAL_MIN_BYTES)
        return p;
    uint64_t at = (ex->external_offset + EXTERNAL_ALIGN - 1) / EXTERNAL_ALIGN * EXTERNAL_ALIGN;
    char offset[24], length[24];
    snprintf(offset, sizeof offset, "%" PRIu64, at);
    snprintf(length, sizeof length, "%zu", t->nbytes);
    if (fseeko(ex->external, (off_t)at, SEEK_SET) != 0 ||
        fwrite(t->data, 1, t->nbytes, ex->external) != t->nbytes) {
        ex->status = dc_error(DC_ERR_IO, "%s: writing tensor '%s' failed", ex->external_name, name);
        return NULL;
    }
    ex->external_offset = at + t->nbytes;
    p->has_raw_data = 0;
    p->raw_data = (ProtobufCBinaryData){0, NULL};
    p->has_data_location = 1;
    p->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    p->n_external_data = 3;
    p->external_data = alloc_n(ex, 3, sizeof *p->external_data);
    if (!p->external_data || !(p->external_data[0] = entry(ex, "location", ex->external_name)) ||
        !(p->external_data[1] = entry(ex, "offset", dc_arena_strdup(ex->a, offset))) ||
        !(p->external_data[2] = entry(ex, "length", dc_arena_strdup(ex->a, length)))) {
        ex->status = dc_error(DC_ERR_NOMEM, "out of memory while building the ONNX model");
        return NULL;
    }
    return p;
}

static Onnx__SparseTensorProto *export_sparse(exporter *ex, const dc_sparse_tensor *sp)
{
    Onnx__SparseTensorProto *p = NEW(ex, Onnx__SparseTensorProto, onnx__sparse_tensor_proto__init);
    if (!p || !(p->values = export_tensor(ex, sp->values, sp->values->name)))
        return NULL;
    if (sp->indices && !(p->indices = export_tensor(ex, sp->indices, sp->indices->name)))
        return NULL;
    p->n_dims = (size_t)sp->rank;
    p->dims = (int64_t *)sp->dims;
    return p;
}

/* Allocates the pointer array of a list attribute. */
#define LIST(ex, field, n) ((field) = alloc_n((ex), (size_t)(n), sizeof *(field)))

static Onnx__AttributeProto *export_attr(exporter *ex, const dc_attr *a)
{
    Onnx__AttributeProto *p = NEW(ex, Onnx__AttributeProto, onnx__attribute_proto__init);
    if (!p)
        return NULL;
    p->name = S(a->name);
    p->ref_attr_name = S(a->ref_attr_name);
    p->has_type = 1;
    p->type = (Onnx__AttributeProto__AttributeType)a->type;
    size_t n = a->n > 0 ? (size_t)a->n : 0;
    switch (a->type) {
    case DC_ATTR_FLOAT:
        p->has_f = 1;
        p->f = a->f;
        break;
    case DC_ATTR_INT:
        p->has_i = 1;
        p->i = a->i;
        break;
    case DC_ATTR_STRING:
        p->has_s = 1;
        p->s.len = a->s.len;
        p->s.data = (uint8_t *)a->s.data;
        break;
    case DC_ATTR_TENSOR:
        if (!(p->t = export_tensor(ex, a->t, a->t->name)))
            return NULL;
        break;
    case DC_ATTR_GRAPH:
        if (!(p->g = export_graph(ex, a->g)))
            return NULL;
        break;
    case DC_ATTR_SPARSE_TENSOR:
        if (!(p->sparse_tensor = export_sparse(ex, a->sparse)))
            return NULL;
        break;
    case DC_ATTR_TYPE_PROTO:
        if (!(p->tp = export_type(ex, a->tp)))
            return NULL;
        break;
    case DC_ATTR_FLOATS:
        p->n_floats = n;
        p->floats = a->floats;
        break;
    case DC_ATTR_INTS:
        p->n_ints = n;
        p->ints = a->ints;
        break;
    case DC_ATTR_STRINGS:
        if (!LIST(ex, p->strings, n))
            return NULL;
        p->n_strings = n;
        for (size_t k = 0; k < n; k++) {
            p->strings[k].len = a->strings[k].len;
            p->strings[k].data = (uint8_t *)a->strings[k].data;
        }
        break;
    case DC_ATTR_TENSORS:
        if (!LIST(ex, p->tensors, n))
            return NULL;
        p->n_tensors = n;
        for (size_t k = 0; k < n; k++)
            if (!(p->tensors[k] = export_tensor(ex, a->tensors[k], a->tensors[k]->name)))
                return NULL;
        break;
    case DC_ATTR_GRAPHS:
        if (!LIST(ex, p->graphs, n))
            return NULL;
        p->n_graphs = n;
        for (size_t k = 0; k < n; k++)
            if (!(p->graphs[k] = export_graph(ex, a->graphs[k])))
                return NULL;
        break;
    case DC_ATTR_SPARSE_TENSORS:
        if (!LIST(ex, p->sparse_tensors, n))
            return NULL;
        p->n_sparse_tensors = n;
        for (size_t k = 0; k < n; k++)
            if (!(p->sparse_tensors[k] = export_sparse(ex, a->sparse_tensors[k])))
                return NULL;
        break;
    case DC_ATTR_TYPE_PROTOS:
        if (!LIST(ex, p->type_protos, n))
            return NULL;
        p->n_type_protos = n;
        for (size_t k = 0; k < n; k++)
            if (!(p->type_protos[k] = export_type(ex, &a->type_protos[k])))
                return NULL;
        break;
    default:
        ex->status = dc_error(DC_ERR_INVALID, "attribute '%s' has unknown type %d", a->name,
                              (int)a->type);
        return NULL;
    }
    return p;
}

/* ---- graphs ------------------------------------------------------------------- */

static Onnx__NodeProto *export_node(exporter *ex, const dc_node *n)
{
    Onnx__NodeProto *p = NEW(ex, Onnx__NodeProto, onnx__node_proto__init);
    if (!p || !LIST(ex, p->input, n->n_inputs) || !LIST(ex, p->output, n->n_outputs) ||
        !LIST(ex, p->attribute, n->n_attrs))
        return NULL;
    p->name = n->name && *n->name ? S(n->name) : NULL; /* unnamed stays unnamed */
    p->op_type = S(n->op_type);
    p->domain = n->domain && *n->domain ? S(n->domain) : NULL;
    p->doc_string = S(n->doc_string);
    /* "" marks an omitted optional input or output. */
    p->n_input = (size_t)n->n_inputs;
    for (int i = 0; i < n->n_inputs; i++)
        p->input[i] = S(n->inputs[i] ? n->inputs[i]->name : "");
    p->n_output = (size_t)n->n_outputs;
    for (int i = 0; i < n->n_outputs; i++)
        p->output[i] = S(n->outputs[i] ? n->outputs[i]->name : "");
    p->n_attribute = (size_t)n->n_attrs;
    for (int i = 0; i < n->n_attrs; i++) {
        if (!(p->attribute[i] = export_attr(ex, &n->attrs[i]))) {
            dc_error_context(ex->status, "node '%s' (%s)", n->name, n->op_type);
            return NULL;
        }
    }
    return p;
}

static Onnx__GraphProto *export_graph(exporter *ex, const dc_graph *g)
{
    Onnx__GraphProto *p = NEW(ex, Onnx__GraphProto, onnx__graph_proto__init);
    if (!p)
        return NULL;
    p->name = S(g->name);
    p->doc_string = S(g->doc_string);

    if (!LIST(ex, p->initializer, g->n_initializers))
        return NULL;
    p->n_initializer = (size_t)g->n_initializers;
    for (int i = 0; i < g->n_initializers; i++) {
        const dc_value *v = g->initializers[i];
        if (!(p->initializer[i] = export_initializer(ex, v->constant, v->name)))
            return NULL;
    }
    if (!LIST(ex, p->input, g->n_inputs))
        return NULL;
    p->n_input = (size_t)g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++)
        if (!(p->input[i] = export_value_info(ex, g->inputs[i], true)))
            return NULL;

    /* Graph outputs carry their own type; keep them out of value_info. */
    bool *is_output = alloc_n(ex, (size_t)g->n_values, sizeof *is_output);
    if (!is_output || !LIST(ex, p->output, g->n_outputs))
        return NULL;
    p->n_output = (size_t)g->n_outputs;
    for (int i = 0; i < g->n_outputs; i++) {
        const dc_value *v = g->outputs[i];
        if (v->id >= 0 && v->id < g->n_values && g->values[v->id] == v)
            is_output[v->id] = true;
        if (!(p->output[i] = export_value_info(ex, v, true)))
            return NULL;
    }
    if (!LIST(ex, p->value_info, g->n_values))
        return NULL;
    for (int i = 0; i < g->n_values; i++) {
        const dc_value *v = g->values[i];
        if (!v->producer || is_output[i] || v->type.dtype == DC_UNDEFINED)
            continue;
        if (!(p->value_info[p->n_value_info++] = export_value_info(ex, v, false)))
            return NULL;
    }

    if (!LIST(ex, p->node, g->n_nodes))
        return NULL;
    p->n_node = (size_t)g->n_nodes;
    for (int i = 0; i < g->n_nodes; i++)
        if (!(p->node[i] = export_node(ex, g->nodes[i])))
            return NULL;
    return p;
}

/* ---- models ------------------------------------------------------------------- */

/* Node domains (in every subgraph too) that the graph does not import. */
static bool collect_domains(exporter *ex, const dc_graph *root, const dc_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const dc_node *n = g->nodes[i];
        const char *d = n->domain ? n->domain : "";
        bool known = dc_graph_opset(root, d) != 0;
        for (int k = 0; k < ex->n_extra && !known; k++)
            known = strcmp(ex->extra_domains[k], d) == 0;
        if (!known) {
            ex->extra_domains = dc_arena_grow(ex->a, ex->extra_domains, sizeof *ex->extra_domains,
                                              &ex->cap_extra, ex->n_extra + 1);
            if (!ex->extra_domains) {
                ex->status = dc_error(DC_ERR_NOMEM, "out of memory (opset imports)");
                return false;
            }
            ex->extra_domains[ex->n_extra++] = d;
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const dc_attr *at = &n->attrs[a];
            if (at->type == DC_ATTR_GRAPH && !collect_domains(ex, root, at->g))
                return false;
            for (int k = 0; at->type == DC_ATTR_GRAPHS && k < at->n; k++)
                if (!collect_domains(ex, root, at->graphs[k]))
                    return false;
        }
    }
    return true;
}

static Onnx__OperatorSetIdProto *opset_proto(exporter *ex, const char *domain, int64_t version)
{
    Onnx__OperatorSetIdProto *o = NEW(ex, Onnx__OperatorSetIdProto, onnx__operator_set_id_proto__init);
    if (o) {
        o->domain = S(domain);
        o->has_version = 1;
        o->version = version;
    }
    return o;
}

static Onnx__StringStringEntryProto *entry(exporter *ex, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e =
        NEW(ex, Onnx__StringStringEntryProto, onnx__string_string_entry_proto__init);
    if (e) {
        e->key = S(key);
        e->value = S(value);
    }
    return e;
}

static bool is_dim_symbol(const dc_graph *g, const char *key)
{
    size_t plen = strlen(DC_ONNX_DIM_BOUND_PREFIX);
    if (strncmp(key, DC_ONNX_DIM_BOUND_PREFIX, plen) != 0)
        return false;
    for (int i = 0; i < g->n_dim_symbols; i++)
        if (g->dim_symbols[i].bound >= 0 && strcmp(g->dim_symbols[i].name, key + plen) == 0)
            return true;
    return false;
}

static Onnx__ModelProto *export_model(exporter *ex, const dc_graph *g)
{
    Onnx__ModelProto *m = NEW(ex, Onnx__ModelProto, onnx__model_proto__init);
    if (!m)
        return NULL;
    m->has_ir_version = 1;
    m->ir_version = EXPORT_IR_VERSION;

    /* Opset imports as the graph holds them: graphs built by dinoc hold opset
     * 17; imported models keep the opset they were written for (nodes keep
     * that opset's semantics; no version conversion happens). A domain used
     * by a node but never imported (e.g. "ai.dinoc" on a hand-built graph) is
     * added at version 1 so the file stays valid. */
    if (!collect_domains(ex, g, g))
        return NULL;
    int n_opsets = g->n_opsets + ex->n_extra;
    if (!LIST(ex, m->opset_import, n_opsets))
        return NULL;
    for (int i = 0; i < g->n_opsets; i++)
        if (!(m->opset_import[m->n_opset_import++] =
                  opset_proto(ex, g->opsets[i].domain, g->opsets[i].version)))
            return NULL;
    for (int i = 0; i < ex->n_extra; i++)
        if (!(m->opset_import[m->n_opset_import++] = opset_proto(ex, ex->extra_domains[i], 1)))
            return NULL;

    m->producer_name = S(g->producer_name);
    m->producer_version = S(g->producer_version);
    m->domain = S(g->model_domain);
    m->doc_string = S(g->model_doc_string);
    if (g->model_version) {
        m->has_model_version = 1;
        m->model_version = g->model_version;
    }

    /* Metadata, then the dimension bounds as "dinoc.dim_bound.<name>". */
    size_t plen = strlen(DC_ONNX_DIM_BOUND_PREFIX);
    if (!LIST(ex, m->metadata_props, g->n_metadata + g->n_dim_symbols + g->n_state_updates))
        return NULL;
    for (int i = 0; i < g->n_metadata; i++) {
        if (is_dim_symbol(g, g->metadata[i].key))
            continue;
        if (!(m->metadata_props[m->n_metadata_props++] =
                  entry(ex, g->metadata[i].key, g->metadata[i].value)))
            return NULL;
    }
    for (int i = 0; i < g->n_dim_symbols; i++) {
        const dc_dim_symbol *sym = &g->dim_symbols[i];
        if (sym->bound < 0)
            continue;
        size_t klen = plen + strlen(sym->name) + 1;
        char *key = alloc_n(ex, klen, 1), *value = alloc_n(ex, 24, 1);
        if (!key || !value)
            return NULL;
        snprintf(key, klen, "%s%s", DC_ONNX_DIM_BOUND_PREFIX, sym->name);
        snprintf(value, 24, "%" PRId64, sym->bound);
        if (!(m->metadata_props[m->n_metadata_props++] = entry(ex, key, value)))
            return NULL;
    }
    for (int i = 0; i < g->n_state_updates; i++) {
        const char *state = g->state_updates[i].state->name;
        size_t klen = strlen(DC_ONNX_STATE_UPDATE_PREFIX) + strlen(state) + 1;
        char *key = alloc_n(ex, klen, 1);
        if (!key)
            return NULL;
        snprintf(key, klen, "%s%s", DC_ONNX_STATE_UPDATE_PREFIX, state);
        if (!(m->metadata_props[m->n_metadata_props++] =
                  entry(ex, key, g->state_updates[i].next->name)))
            return NULL;
    }
    if (!(m->graph = export_graph(ex, g)))
        return NULL;
    return m;
}

/* Builds and packs the model; `ex` says where external data goes. */
static dc_status save_buffer(exporter *ex, const dc_graph *g, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (g->parent)
        return dc_error(DC_ERR_INVALID, "graph '%s' is a subgraph; export its root", g->name);
    if (!(ex->a = dc_arena_create()))
        return dc_error(DC_ERR_NOMEM, "out of memory while building the ONNX model");
    ex->status = DC_ERR_NOMEM;
    Onnx__ModelProto *m = export_model(ex, g);
    if (!m) {
        dc_arena_destroy(ex->a);
        return ex->status;
    }
    size_t n = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        dc_arena_destroy(ex->a);
        return dc_error(DC_ERR_NOMEM, "graph '%s': %zu bytes of ONNX", g->name, n);
    }
    onnx__model_proto__pack(m, buf);
    dc_arena_destroy(ex->a);
    *data = buf;
    *size = n;
    return DC_OK;
}

dc_status dc_onnx_save_buffer(const dc_graph *g, void **data, size_t *size)
{
    exporter ex = {0};
    return save_buffer(&ex, g, data, size);
}

static uint64_t initializer_bytes(const dc_graph *g)
{
    uint64_t total = 0;
    for (int i = 0; i < g->n_initializers; i++)
        total += g->initializers[i]->constant->nbytes;
    return total;
}

dc_status dc_onnx_save_ex(const dc_graph *g, const char *path, uint64_t external_above)
{
    exporter ex = {0};
    char *data_path = NULL;
    dc_status s = DC_OK;
    if (initializer_bytes(g) > external_above) {
        /* "<model file name>.data" beside the model, named relative to it. */
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t n = strlen(path) + 6;
        data_path = malloc(n);
        char *name = data_path ? malloc(strlen(base) + 6) : NULL;
        if (!data_path || !name) {
            free(data_path);
            free(name);
            return dc_error(DC_ERR_NOMEM, "%s: external data path", path);
        }
        snprintf(data_path, n, "%s.data", path);
        sprintf(name, "%s.data", base);
        ex.external_name = name;
        if (!(ex.external = fopen(data_path, "wb")))
            s = dc_error(DC_ERR_IO, "%s: %s", data_path, strerror(errno));
    }
    void *data = NULL;
    size_t size = 0;
    if (s == DC_OK)
        s = save_buffer(&ex, g, &data, &size);
    if (ex.external && fclose(ex.external) != 0 && s == DC_OK)
        s = dc_error(DC_ERR_IO, "%s: close failed", data_path);
    if (s == DC_OK)
        s = dc_onnx_write_file(path, data, size);
    free(data);
    free(data_path);
    free((char *)ex.external_name);
    if (s != DC_OK)
        return dc_error_context(s, "%s", path);
    return DC_OK;
}

dc_status dc_onnx_save(const dc_graph *g, const char *path)
{
    return dc_onnx_save_ex(g, path, DC_ONNX_INLINE_LIMIT);
}
