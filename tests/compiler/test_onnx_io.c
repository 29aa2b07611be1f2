/* ONNX import/export (compiler/onnx_io.h): round trips of built and real
 * models, tensor files, initializer encodings, external data, and every kind
 * of bad input giving its status and a message that says what is wrong. */
#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer_shapes.h"
#include "ir.h"
#include "onnx.pb-c.h"
#include "onnx_io.h"
#include "op_registry.h"
#include "test_util.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"
#define TORCH_DIR "/usr/share/libonnx-testdata/data/pytorch-converted"

/* ---- helpers ------------------------------------------------------------------ */

/* Asserts that `expr` fails with `want` and a message containing `substr`. */
#define EXPECT_FAIL(expr, want, substr)                                                      \
    do {                                                                                     \
        dc_error_clear();                                                                    \
        dc_status s_ = (expr);                                                               \
        const char *m_ = dc_error_message();                                                 \
        bool ok_ = s_ == (want) && strstr(m_, (substr)) != NULL;                             \
        if (!ok_)                                                                            \
            fprintf(stderr, "\n    %s:%d: expected %s with '%s', got %s: %s\n", __FILE__,    \
                    __LINE__, dc_status_name(want), (substr), dc_status_name(s_), m_);       \
        CU_ASSERT(ok_);                                                                      \
    } while (0)

static dc_tensor *make_tensor(const char *name, dc_dtype dtype, int rank, const int64_t *dims,
                              unsigned seed)
{
    dc_tensor *t = NULL;
    if (dc_tensor_create(&t, name, dtype, rank, dims) != DC_OK)
        return NULL;
    unsigned char *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        p[i] = (unsigned char)(seed * 31u + i * 7u + 1u);
    if (dtype == DC_BOOL)
        for (size_t i = 0; i < t->nbytes; i++)
            p[i] &= 1;
    if (dtype == DC_F32)
        for (size_t i = 0; i < t->nbytes / 4; i++)
            ((float *)p)[i] = (float)seed + 0.5f * (float)i;
    return t;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool type_eq(const dc_type *a, const dc_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i].size != b->dims[i].size || !str_eq(a->dims[i].param, b->dims[i].param))
            return false;
    return true;
}

static bool tensor_eq(const dc_tensor *a, const dc_tensor *b)
{
    if (!a || !b)
        return a == b;
    if (a->dtype != b->dtype || a->rank != b->rank || a->nbytes != b->nbytes)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return memcmp(a->data, b->data, a->nbytes) == 0;
}

static bool bytes_eq(dc_bytes a, dc_bytes b)
{
    return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}

static bool sparse_eq(const dc_sparse_tensor *a, const dc_sparse_tensor *b)
{
    if (a->rank != b->rank || !tensor_eq(a->values, b->values) || !tensor_eq(a->indices, b->indices))
        return false;
    return memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) == 0;
}

/* Describes the first difference into `why`; true when the graphs are the same IR. */
static bool graph_eq(const dc_graph *a, const dc_graph *b, char *why, size_t n);

#define DIFF(...) (snprintf(why, n, __VA_ARGS__), false)

static bool attr_eq(const dc_attr *a, const dc_attr *b, char *why, size_t n)
{
    if (strcmp(a->name, b->name) != 0 || a->type != b->type || !str_eq(a->ref_attr_name, b->ref_attr_name))
        return DIFF("attribute '%s' header differs", a->name);
    if (a->type >= DC_ATTR_FLOATS && a->type != DC_ATTR_SPARSE_TENSOR &&
        a->type != DC_ATTR_TYPE_PROTO && a->n != b->n)
        return DIFF("attribute '%s' has %d vs %d entries", a->name, a->n, b->n);
    switch (a->type) {
    case DC_ATTR_FLOAT: return a->f == b->f || DIFF("attribute '%s' value", a->name);
    case DC_ATTR_INT: return a->i == b->i || DIFF("attribute '%s' value", a->name);
    case DC_ATTR_STRING: return bytes_eq(a->s, b->s) || DIFF("attribute '%s' value", a->name);
    case DC_ATTR_TENSOR:
        return (tensor_eq(a->t, b->t) && str_eq(a->t->name, b->t->name)) ||
               DIFF("attribute '%s' tensor", a->name);
    case DC_ATTR_GRAPH: return graph_eq(a->g, b->g, why, n);
    case DC_ATTR_SPARSE_TENSOR:
        return sparse_eq(a->sparse, b->sparse) || DIFF("attribute '%s' sparse", a->name);
    case DC_ATTR_TYPE_PROTO: return type_eq(a->tp, b->tp) || DIFF("attribute '%s' type", a->name);
    case DC_ATTR_FLOATS:
        return memcmp(a->floats, b->floats, (size_t)a->n * sizeof(float)) == 0 ||
               DIFF("attribute '%s' floats", a->name);
    case DC_ATTR_INTS:
        return memcmp(a->ints, b->ints, (size_t)a->n * sizeof(int64_t)) == 0 ||
               DIFF("attribute '%s' ints", a->name);
    case DC_ATTR_STRINGS:
        for (int k = 0; k < a->n; k++)
            if (!bytes_eq(a->strings[k], b->strings[k]))
                return DIFF("attribute '%s' string %d", a->name, k);
        return true;
    case DC_ATTR_TENSORS:
        for (int k = 0; k < a->n; k++)
            if (!tensor_eq(a->tensors[k], b->tensors[k]))
                return DIFF("attribute '%s' tensor %d", a->name, k);
        return true;
    case DC_ATTR_GRAPHS:
        for (int k = 0; k < a->n; k++)
            if (!graph_eq(a->graphs[k], b->graphs[k], why, n))
                return false;
        return true;
    case DC_ATTR_SPARSE_TENSORS:
        for (int k = 0; k < a->n; k++)
            if (!sparse_eq(a->sparse_tensors[k], b->sparse_tensors[k]))
                return DIFF("attribute '%s' sparse %d", a->name, k);
        return true;
    case DC_ATTR_TYPE_PROTOS:
        for (int k = 0; k < a->n; k++)
            if (!type_eq(&a->type_protos[k], &b->type_protos[k]))
                return DIFF("attribute '%s' type %d", a->name, k);
        return true;
    default:
        return DIFF("attribute '%s' of unknown type", a->name);
    }
}

static bool value_eq(const dc_value *a, const dc_value *b, char *why, size_t n)
{
    if (!a || !b)
        return a == b || DIFF("value %s vs %s", a ? a->name : "(omitted)", b ? b->name : "(omitted)");
    if (strcmp(a->name, b->name) != 0)
        return DIFF("value '%s' vs '%s'", a->name, b->name);
    if (!type_eq(&a->type, &b->type)) {
        char x[128], y[128];
        return DIFF("value '%s': %s vs %s", a->name, dc_type_str(&a->type, x, sizeof x),
                    dc_type_str(&b->type, y, sizeof y));
    }
    if (a->is_initializer != b->is_initializer)
        return DIFF("value '%s': initializer flag", a->name);
    if (a->is_initializer && !tensor_eq(a->constant, b->constant))
        return DIFF("initializer '%s' data", a->name);
    return true;
}

static bool graph_eq(const dc_graph *a, const dc_graph *b, char *why, size_t n)
{
    if (strcmp(a->name, b->name) != 0 || !str_eq(a->doc_string, b->doc_string))
        return DIFF("graph '%s' vs '%s' (name or doc)", a->name, b->name);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs ||
        a->n_initializers != b->n_initializers || a->n_nodes != b->n_nodes ||
        a->n_values != b->n_values)
        return DIFF("graph '%s': counts in/out/init/nodes/values %d/%d/%d/%d/%d vs %d/%d/%d/%d/%d",
                    a->name, a->n_inputs, a->n_outputs, a->n_initializers, a->n_nodes, a->n_values,
                    b->n_inputs, b->n_outputs, b->n_initializers, b->n_nodes, b->n_values);
    for (int i = 0; i < a->n_inputs; i++)
        if (!value_eq(a->inputs[i], b->inputs[i], why, n))
            return false;
    for (int i = 0; i < a->n_outputs; i++)
        if (!value_eq(a->outputs[i], b->outputs[i], why, n))
            return false;
    for (int i = 0; i < a->n_initializers; i++)
        if (!value_eq(a->initializers[i], b->initializers[i], why, n))
            return false;
    for (int i = 0; i < a->n_values; i++)
        if (!value_eq(a->values[i], dc_graph_find_value(b, a->values[i]->name), why, n))
            return false;
    for (int i = 0; i < a->n_nodes; i++) {
        const dc_node *x = a->nodes[i], *y = b->nodes[i];
        if (strcmp(x->name, y->name) != 0 || strcmp(x->op_type, y->op_type) != 0 ||
            strcmp(x->domain, y->domain) != 0 || !str_eq(x->doc_string, y->doc_string) ||
            x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs || x->n_attrs != y->n_attrs)
            return DIFF("node '%s' vs '%s' header", x->name, y->name);
        for (int k = 0; k < x->n_inputs; k++)
            if (!value_eq(x->inputs[k], y->inputs[k], why, n))
                return false;
        for (int k = 0; k < x->n_outputs; k++)
            if (!value_eq(x->outputs[k], y->outputs[k], why, n))
                return false;
        for (int k = 0; k < x->n_attrs; k++)
            if (!attr_eq(&x->attrs[k], &y->attrs[k], why, n))
                return false;
    }
    if (a->parent)
        return true;
    /* Model-level information. */
    if (a->ir_version != b->ir_version || a->model_version != b->model_version ||
        !str_eq(a->producer_name, b->producer_name) ||
        !str_eq(a->producer_version, b->producer_version) ||
        !str_eq(a->model_domain, b->model_domain) || !str_eq(a->model_doc_string, b->model_doc_string))
        return DIFF("model fields differ");
    if (a->n_opsets != b->n_opsets)
        return DIFF("%d vs %d opsets", a->n_opsets, b->n_opsets);
    for (int i = 0; i < a->n_opsets; i++)
        if (strcmp(a->opsets[i].domain, b->opsets[i].domain) != 0 ||
            a->opsets[i].version != b->opsets[i].version)
            return DIFF("opset %d differs", i);
    if (a->n_metadata != b->n_metadata)
        return DIFF("%d vs %d metadata", a->n_metadata, b->n_metadata);
    for (int i = 0; i < a->n_metadata; i++)
        if (strcmp(a->metadata[i].key, b->metadata[i].key) != 0 ||
            strcmp(a->metadata[i].value, b->metadata[i].value) != 0)
            return DIFF("metadata %d differs", i);
    if (a->n_dim_symbols != b->n_dim_symbols)
        return DIFF("%d vs %d dim symbols", a->n_dim_symbols, b->n_dim_symbols);
    for (int i = 0; i < a->n_dim_symbols; i++)
        if (strcmp(a->dim_symbols[i].name, b->dim_symbols[i].name) != 0 ||
            a->dim_symbols[i].bound != b->dim_symbols[i].bound)
            return DIFF("dim symbol %d differs", i);
    return true;
}

#define ASSERT_GRAPH_EQ(a, b)                                                  \
    do {                                                                       \
        char why_[512] = "";                                                   \
        bool same_ = graph_eq((a), (b), why_, sizeof why_);                    \
        if (!same_)                                                            \
            fprintf(stderr, "\n    %s:%d: graphs differ: %s\n", __FILE__, __LINE__, why_); \
        CU_ASSERT(same_);                                                      \
    } while (0)

static char *make_tmpdir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dinoc_onnx_XXXXXX");
    return mkdtemp(dir);
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fwrite(data, 1, size, f) == size);
    fclose(f);
}

static int python_onnx(void)
{
    static int have = -1;
    if (have < 0) {
        have = system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
        if (!have)
            fprintf(stderr, "\n    (python3-onnx missing: onnx.checker steps skipped)\n");
    }
    return have;
}

/* Runs onnx.checker.check_model(full_check=True); 0 when it passes. */
static int onnx_check(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx,sys; "
             "onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\" '%s'",
             path);
    return system(cmd);
}

static bool registered(const char *op) { return dc_op_lookup("", op) != NULL; }

/* ---- a built graph with every attribute kind ---------------------------------- */

static dc_type type_nx(dc_graph *g, int64_t cols)
{
    dc_type t = {.dtype = DC_F32, .rank = 2};
    t.dims[0].size = DC_DIM_UNKNOWN;
    t.dims[0].param = dc_arena_strdup(g->arena, "N");
    t.dims[1].size = cols;
    return t;
}

static dc_graph *build_subgraph(dc_graph *parent, const char *tag, dc_value *outer)
{
    char name[64];
    dc_graph *sub = dc_graph_create_subgraph(parent, tag);
    dc_type t = type_nx(sub, 3);
    dc_value *in;
    snprintf(name, sizeof name, "%s_in", tag);
    DC_ASSERT_OK(dc_graph_add_input(sub, name, &t, &in));
    dc_node *n1, *n2;
    snprintf(name, sizeof name, "%s_out", tag);
    const char *o1[] = {name};
    DC_ASSERT_OK(dc_graph_add_node(sub, "Identity", "", NULL, &in, 1, o1, 1, &n1));
    n1->outputs[0]->type = t;
    DC_ASSERT_OK(dc_graph_add_output(sub, n1->outputs[0]));
    if (outer) { /* a use of the enclosing graph's value */
        snprintf(name, sizeof name, "%s_outer", tag);
        const char *o2[] = {name};
        DC_ASSERT_OK(dc_graph_add_node(sub, "Identity", "", "use_outer", &outer, 1, o2, 1, &n2));
        n2->outputs[0]->type = outer->type;
        DC_ASSERT_OK(dc_graph_add_output(sub, n2->outputs[0]));
    }
    return sub;
}

static dc_sparse_tensor *make_sparse(dc_graph *g, bool coords)
{
    dc_sparse_tensor *sp = dc_arena_alloc(g->arena, sizeof *sp);
    int64_t nnz = 2, idims[2] = {2, 2};
    sp->values = make_tensor("sv", DC_F32, 1, &nnz, 9);
    sp->indices = make_tensor("si", DC_I64, coords ? 2 : 1, coords ? idims : &nnz, 0);
    int64_t *ix = sp->indices->data;
    if (coords) { /* (0,1) and (1,2) of a 2x3 */
        ix[0] = 0, ix[1] = 1, ix[2] = 1, ix[3] = 2;
    } else {
        ix[0] = 1, ix[1] = 4;
    }
    sp->rank = 2;
    sp->dims[0] = 2;
    sp->dims[1] = 3;
    DC_ASSERT_OK(dc_graph_own_tensor(g, sp->values));
    DC_ASSERT_OK(dc_graph_own_tensor(g, sp->indices));
    return sp;
}

static void add_all_attrs(dc_graph *g, dc_node *n, dc_value *outer, bool ref_attr)
{
    DC_ASSERT_OK(dc_node_set_float(n, g, "f", 0.25f));
    DC_ASSERT_OK(dc_node_set_int(n, g, "i", -7));
    dc_attr *a = dc_node_add_attr(n, g, "s", DC_ATTR_STRING);
    a->s.data = dc_arena_memdup(g->arena, "hello\0world", 11);
    a->s.len = 11;
    int64_t two = 2;
    DC_ASSERT_OK(dc_node_set_tensor(n, g, "t", make_tensor("tval", DC_F32, 1, &two, 4)));
    a = dc_node_add_attr(n, g, "g", DC_ATTR_GRAPH);
    a->g = build_subgraph(g, "body", outer);
    float fl[] = {1.5f, -2.0f};
    DC_ASSERT_OK(dc_node_set_floats(n, g, "floats", fl, 2));
    int64_t in[] = {1, 2, 3};
    DC_ASSERT_OK(dc_node_set_ints(n, g, "ints", in, 3));
    a = dc_node_add_attr(n, g, "strings", DC_ATTR_STRINGS);
    a->n = 3;
    a->strings = dc_arena_alloc(g->arena, 3 * sizeof *a->strings);
    a->strings[0] = (dc_bytes){dc_arena_strdup(g->arena, "a"), 1};
    a->strings[1] = (dc_bytes){dc_arena_strdup(g->arena, ""), 0};
    a->strings[2] = (dc_bytes){dc_arena_memdup(g->arena, "b\0c", 3), 3};
    a = dc_node_add_attr(n, g, "tensors", DC_ATTR_TENSORS);
    a->n = 2;
    a->tensors = dc_arena_alloc(g->arena, 2 * sizeof *a->tensors);
    int64_t three = 3;
    a->tensors[0] = make_tensor(NULL, DC_I64, 1, &three, 5);
    a->tensors[1] = make_tensor("half", DC_F16, 1, &two, 6);
    DC_ASSERT_OK(dc_graph_own_tensor(g, a->tensors[0]));
    DC_ASSERT_OK(dc_graph_own_tensor(g, a->tensors[1]));
    a = dc_node_add_attr(n, g, "graphs", DC_ATTR_GRAPHS);
    a->n = 2;
    a->graphs = dc_arena_alloc(g->arena, 2 * sizeof *a->graphs);
    a->graphs[0] = build_subgraph(g, "then", NULL);
    a->graphs[1] = build_subgraph(g, "else", outer);
    a = dc_node_add_attr(n, g, "sparse", DC_ATTR_SPARSE_TENSOR);
    a->sparse = make_sparse(g, false);
    a = dc_node_add_attr(n, g, "sparses", DC_ATTR_SPARSE_TENSORS);
    a->n = 2;
    a->sparse_tensors = dc_arena_alloc(g->arena, 2 * sizeof *a->sparse_tensors);
    a->sparse_tensors[0] = make_sparse(g, true);
    a->sparse_tensors[1] = make_sparse(g, false);
    a = dc_node_add_attr(n, g, "tp", DC_ATTR_TYPE_PROTO);
    a->tp = dc_arena_alloc(g->arena, sizeof *a->tp);
    *a->tp = type_nx(g, 5);
    a->tp->rank = 3;
    a->tp->dims[2].size = DC_DIM_UNKNOWN; /* anonymous */
    a = dc_node_add_attr(n, g, "tps", DC_ATTR_TYPE_PROTOS);
    a->n = 2;
    a->type_protos = dc_arena_alloc(g->arena, 2 * sizeof *a->type_protos);
    int64_t d2 = 2;
    a->type_protos[0] = dc_type_make(DC_I64, 1, &d2);
    a->type_protos[1] = dc_type_unknown(DC_F16);
    if (ref_attr) {
        DC_ASSERT_OK(dc_node_set_int(n, g, "r", 0));
        dc_attr *r = (dc_attr *)dc_node_attr(n, "r");
        r->ref_attr_name = dc_arena_strdup(g->arena, "outer_attr");
    }
}

/* x: f32[N,3] -> Identity -> y -> (Identity | ai.dinoc AttrZoo) -> z; w passes
 * through an Identity to an output; initializers of many dtypes. */
static dc_graph *build_graph(bool custom_zoo)
{
    dc_graph *g = dc_graph_create("roundtrip");
    g->doc_string = dc_arena_strdup(g->arena, "a graph doc");
    g->producer_name = dc_arena_strdup(g->arena, "dinoc-test");
    g->producer_version = dc_arena_strdup(g->arena, "0.1");
    g->model_domain = dc_arena_strdup(g->arena, "ai.dinoc.test");
    g->model_doc_string = dc_arena_strdup(g->arena, "a model doc");
    g->model_version = 3;
    if (custom_zoo)
        DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    DC_ASSERT_OK(dc_graph_set_metadata(g, "author", "dinoc tests"));
    DC_ASSERT_OK(dc_graph_set_metadata(g, "empty", ""));
    DC_ASSERT_OK(dc_graph_set_dim_bound(g, "N", 64));

    dc_type tx = type_nx(g, 3);
    dc_value *x;
    DC_ASSERT_OK(dc_graph_add_input(g, "x", &tx, &x));
    static const struct {
        const char *name;
        dc_dtype dtype;
        int rank;
        int64_t dims[3];
    } inits[] = {
        {"w", DC_F32, 2, {3, 2}},   {"idx", DC_I64, 1, {4}},  {"half", DC_F16, 2, {2, 2}},
        {"mask", DC_BOOL, 1, {3}},  {"dbl", DC_F64, 1, {2}},  {"bytes", DC_U8, 1, {5}},
        {"bf", DC_BF16, 1, {2}},    {"i8", DC_I8, 0, {0}},    {"u64", DC_U64, 1, {2}},
        {"i32", DC_I32, 3, {1, 2, 1}}, {"empty", DC_F32, 2, {0, 3}}, {"c64", DC_C64, 1, {1}},
    };
    dc_value *w = NULL;
    for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++) {
        dc_value *v;
        DC_ASSERT_OK(dc_graph_add_initializer(
            g, inits[i].name,
            make_tensor(NULL, inits[i].dtype, inits[i].rank, inits[i].dims, (unsigned)i), &v));
        if (i == 0)
            w = v;
    }
    dc_node *n1, *n2, *n3;
    const char *oy[] = {"y"}, *oz[] = {"z"}, *ow[] = {"w_out"};
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", "id1", &x, 1, oy, 1, &n1));
    n1->doc_string = dc_arena_strdup(g->arena, "first node");
    n1->outputs[0]->type = tx;
    DC_ASSERT_OK(dc_graph_add_node(g, custom_zoo ? "AttrZoo" : "Identity",
                                   custom_zoo ? "ai.dinoc" : "", "zoo", &n1->outputs[0], 1, oz, 1,
                                   &n2));
    n2->outputs[0]->type = tx;
    add_all_attrs(g, n2, x, !custom_zoo);
    DC_ASSERT_OK(dc_graph_add_node(g, "Identity", "", NULL, &w, 1, ow, 1, &n3));
    n3->outputs[0]->type = w->type;
    DC_ASSERT_OK(dc_graph_add_output(g, n2->outputs[0]));
    DC_ASSERT_OK(dc_graph_add_output(g, n3->outputs[0]));
    return g;
}

static void test_roundtrip_built(void)
{
    dc_graph *g = build_graph(false);
    DC_ASSERT_OK(dc_graph_verify(g));
    DC_ASSERT_OK(dc_infer_shapes(g));
    void *buf = NULL, *buf2 = NULL;
    size_t size = 0, size2 = 0;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &buf, &size));
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, size, NULL, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    ASSERT_GRAPH_EQ(g, back);
    CU_ASSERT_EQUAL(dc_graph_dim_bound(back, "N"), 64);
    CU_ASSERT_PTR_NULL(dc_graph_metadata(back, "dinoc.dim_bound.N"));
    /* The subgraph sees the outer x through its parent. */
    const dc_attr *ga = dc_node_attr(back->nodes[1], "g");
    CU_ASSERT_PTR_EQUAL(ga->g->parent, back);
    CU_ASSERT_PTR_EQUAL(ga->g->nodes[1]->inputs[0], back->inputs[0]);
    /* Export is deterministic: the re-export is byte-identical. */
    DC_ASSERT_OK(dc_onnx_save_buffer(back, &buf2, &size2));
    CU_ASSERT(size == size2 && memcmp(buf, buf2, size) == 0);
    free(buf);
    free(buf2);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

static void test_roundtrip_file_checker(void)
{
    dc_graph *g = build_graph(true);
    char *dir = make_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[256];
    snprintf(path, sizeof path, "%s/zoo.onnx", dir);
    DC_ASSERT_OK(dc_onnx_save(g, path));
    /* AttrZoo is no registered op: the full load says so, naming it. */
    dc_graph *back = NULL;
    EXPECT_FAIL(dc_onnx_load(path, &back), DC_ERR_UNSUPPORTED, "AttrZoo");
    CU_ASSERT_PTR_NULL(back);
    CU_ASSERT(strstr(dc_error_message(), path) == dc_error_message());
    DC_ASSERT_OK(dc_onnx_load_ex(path, DC_ONNX_NO_CHECK, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    ASSERT_GRAPH_EQ(g, back);
    if (python_onnx())
        CU_ASSERT_EQUAL(onnx_check(path), 0);
    remove(path);
    rmdir(dir);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

/* An ONNX If with two branch subgraphs that read the outer x: a subgraph the
 * checker validates in full (it knows If). */
static void test_if_subgraphs_checker(void)
{
    dc_graph *g = dc_graph_create("iffy");
    dc_type tx = type_nx(g, 3), tc = dc_type_make(DC_BOOL, 0, NULL);
    dc_value *x, *c;
    DC_ASSERT_OK(dc_graph_add_input(g, "cond", &tc, &c));
    DC_ASSERT_OK(dc_graph_add_input(g, "x", &tx, &x));
    const char *names[] = {"r"};
    dc_node *n;
    DC_ASSERT_OK(dc_graph_add_node(g, "If", "", "if0", &c, 1, names, 1, &n));
    n->outputs[0]->type = tx;
    const char *branch[] = {"then_branch", "else_branch"};
    for (int b = 0; b < 2; b++) {
        dc_attr *a = dc_node_add_attr(n, g, branch[b], DC_ATTR_GRAPH);
        a->g = dc_graph_create_subgraph(g, branch[b]);
        char out[32];
        snprintf(out, sizeof out, "%s_y", b ? "else" : "then");
        const char *o[] = {out};
        dc_node *id;
        DC_ASSERT_OK(dc_graph_add_node(a->g, "Identity", "", NULL, &x, 1, o, 1, &id));
        id->outputs[0]->type = tx;
        DC_ASSERT_OK(dc_graph_add_output(a->g, id->outputs[0]));
    }
    DC_ASSERT_OK(dc_graph_add_output(g, n->outputs[0]));
    char *dir = make_tmpdir(), path[256];
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(path, sizeof path, "%s/if.onnx", dir);
    DC_ASSERT_OK(dc_onnx_save(g, path));
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load_ex(path, registered("If") ? 0 : DC_ONNX_NO_CHECK, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    ASSERT_GRAPH_EQ(g, back);
    if (python_onnx())
        CU_ASSERT_EQUAL(onnx_check(path), 0);
    remove(path);
    rmdir(dir);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

/* A graph without the ai.dinoc import still exports a valid file. */
static void test_export_adds_missing_domain(void)
{
    dc_graph *g = dc_graph_create("d");
    int64_t d2 = 2;
    dc_type t = dc_type_make(DC_F32, 1, &d2);
    dc_value *x;
    dc_node *n;
    DC_ASSERT_OK(dc_graph_add_input(g, "x", &t, &x));
    DC_ASSERT_OK(dc_graph_add_node(g, "Custom", "ai.dinoc", "c", &x, 1, NULL, 1, &n));
    n->outputs[0]->type = t;
    DC_ASSERT_OK(dc_graph_add_output(g, n->outputs[0]));
    void *buf;
    size_t size;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &buf, &size));
    dc_graph *back;
    DC_ASSERT_OK(dc_onnx_load_buffer_ex(buf, size, NULL, DC_ONNX_NO_CHECK, &back));
    CU_ASSERT_EQUAL(dc_graph_opset(back, "ai.dinoc"), 1);
    CU_ASSERT_EQUAL(dc_graph_opset(back, ""), 17);
    CU_ASSERT_EQUAL(dc_graph_opset(g, "ai.dinoc"), 0); /* the graph itself is untouched */
    free(buf);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

/* ---- real models ------------------------------------------------------------------ */

static void check_node_test(const char *test, const char *op)
{
    char path[512];
    snprintf(path, sizeof path, NODE_DIR "/%s/model.onnx", test);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "\n    %s missing (apt-get install libonnx-testdata)\n", path);
        CU_FAIL("libonnx-testdata missing");
        return;
    }
    /* Until the registry knows `op`, check the import alone. */
    unsigned flags = registered(op) ? 0 : DC_ONNX_NO_CHECK;
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load_ex(path, flags, &g));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->n_nodes, 1);
    CU_ASSERT_STRING_EQUAL(g->nodes[0]->op_type, op);
    /* Each input_K.pb matches graph input K; each output_K.pb graph output K. */
    for (int k = 0; k < g->n_inputs + g->n_outputs; k++) {
        bool in = k < g->n_inputs;
        int idx = in ? k : k - g->n_inputs;
        const dc_value *v = in ? g->inputs[idx] : g->outputs[idx];
        snprintf(path, sizeof path, NODE_DIR "/%s/test_data_set_0/%s_%d.pb", test,
                 in ? "input" : "output", idx);
        dc_tensor *t = NULL;
        DC_ASSERT_OK(dc_tensor_load_pb(path, &t));
        if (!t)
            continue;
        dc_type tt = dc_type_make(t->dtype, t->rank, t->dims);
        char a[64], b[64];
        if (!type_eq(&tt, &v->type) && flags == 0)
            fprintf(stderr, "\n    %s: %s vs %s\n", path, dc_type_str(&tt, a, sizeof a),
                    dc_type_str(&v->type, b, sizeof b));
        CU_ASSERT(tt.dtype == v->type.dtype && tt.rank == v->type.rank);
        /* Tensor files round-trip byte for byte through the .pb writer. */
        void *buf;
        size_t size;
        DC_ASSERT_OK(dc_tensor_save_pb_buffer(t, &buf, &size));
        dc_tensor *t2 = NULL;
        DC_ASSERT_OK(dc_tensor_load_pb_buffer(buf, size, NULL, &t2));
        CU_ASSERT(tensor_eq(t, t2));
        CU_ASSERT(t2 && str_eq(t->name, t2->name));
        free(buf);
        dc_tensor_destroy(t);
        dc_tensor_destroy(t2);
    }
    /* Export and read back: the same IR (IR version becomes 8). */
    void *buf;
    size_t size;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &buf, &size));
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer_ex(buf, size, NULL, flags, &back));
    if (back) {
        g->ir_version = 8;
        ASSERT_GRAPH_EQ(g, back);
        dc_graph_destroy(back);
    }
    if (python_onnx()) {
        char *dir = make_tmpdir();
        snprintf(path, sizeof path, "%s/m.onnx", dir);
        DC_ASSERT_OK(dc_onnx_save(g, path));
        CU_ASSERT_EQUAL(onnx_check(path), 0);
        remove(path);
        rmdir(dir);
    }
    free(buf);
    dc_graph_destroy(g);
}

static void test_node_models(void)
{
    check_node_test("test_identity", "Identity");
    check_node_test("test_matmul_2d", "MatMul");
    check_node_test("test_add_bcast", "Add");
    check_node_test("test_layer_normalization_3d_axis1_epsilon", "LayerNormalization");
}

/* IR 3: the initializers are graph inputs too; the importer keeps one value in
 * both lists, and the round trip keeps the input list. */
static void test_ir3_initializer_inputs(void)
{
    const char *path = TORCH_DIR "/test_Conv2d/model.onnx";
    if (access(path, R_OK) != 0) {
        CU_FAIL("libonnx-testdata missing");
        return;
    }
    unsigned flags = registered("Conv") ? 0 : DC_ONNX_NO_CHECK;
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load_ex(path, flags, &g));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(g->ir_version, 3);
    CU_ASSERT_EQUAL(dc_graph_opset(g, ""), 6);
    CU_ASSERT_EQUAL(g->n_inputs, 3);
    CU_ASSERT_EQUAL(g->n_initializers, 2);
    int shared = 0;
    for (int i = 0; i < g->n_inputs; i++)
        for (int k = 0; k < g->n_initializers; k++)
            shared += g->inputs[i] == g->initializers[k];
    CU_ASSERT_EQUAL(shared, 2);
    void *buf;
    size_t size;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &buf, &size));
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer_ex(buf, size, NULL, flags, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    g->ir_version = 8;
    ASSERT_GRAPH_EQ(g, back);
    CU_ASSERT_EQUAL(dc_graph_opset(back, ""), 6); /* the model's own opset is kept */
    free(buf);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

/* ---- hand-made models ------------------------------------------------------------ */

/* x f32[2,3] -> Identity -> t -> Identity -> y, initializer w f32[2,3] (raw).
 * Tests break one field and pack. Everything lives in the struct. */
typedef struct mini {
    Onnx__ModelProto m;
    Onnx__OperatorSetIdProto op[2], *ops[2];
    Onnx__GraphProto g;
    Onnx__ValueInfoProto in[2], out, *ins[2], *outs[1];
    Onnx__TypeProto tp[3];
    Onnx__TypeProto__Tensor tt[3];
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dim[2], *dims[2];
    Onnx__NodeProto node[2], *nodes[2];
    char *n1_in[1], *n1_out[1], *n2_in[1], *n2_out[1];
    Onnx__TensorProto w, *inits[1];
    float wdata[6];
    int64_t wdims[2];
    Onnx__StringStringEntryProto meta, *metas[1];
} mini;

static void mini_init(mini *p)
{
    memset(p, 0, sizeof *p);
    onnx__model_proto__init(&p->m);
    p->m.has_ir_version = 1;
    p->m.ir_version = 8;
    for (int i = 0; i < 2; i++) {
        onnx__operator_set_id_proto__init(&p->op[i]);
        p->op[i].domain = "";
        p->op[i].has_version = 1;
        p->op[i].version = 17;
        p->ops[i] = &p->op[i];
    }
    p->m.n_opset_import = 1;
    p->m.opset_import = p->ops;
    p->m.producer_name = "test";
    onnx__graph_proto__init(&p->g);
    p->m.graph = &p->g;
    p->g.name = "mini";

    /* f32[2,3], shared by x, y (and the spare second input) */
    onnx__tensor_shape_proto__init(&p->shape);
    for (int i = 0; i < 2; i++) {
        onnx__tensor_shape_proto__dimension__init(&p->dim[i]);
        p->dim[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        p->dim[i].dim_value = i ? 3 : 2;
        p->dims[i] = &p->dim[i];
    }
    p->shape.n_dim = 2;
    p->shape.dim = p->dims;
    for (int i = 0; i < 3; i++) {
        onnx__type_proto__init(&p->tp[i]);
        onnx__type_proto__tensor__init(&p->tt[i]);
        p->tt[i].has_elem_type = 1;
        p->tt[i].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        p->tt[i].shape = &p->shape;
        p->tp[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        p->tp[i].tensor_type = &p->tt[i];
    }
    for (int i = 0; i < 2; i++) {
        onnx__value_info_proto__init(&p->in[i]);
        p->in[i].name = i ? "x2" : "x";
        p->in[i].type = &p->tp[i];
        p->ins[i] = &p->in[i];
    }
    onnx__value_info_proto__init(&p->out);
    p->out.name = "y";
    p->out.type = &p->tp[2];
    p->outs[0] = &p->out;
    p->g.n_input = 1;
    p->g.input = p->ins;
    p->g.n_output = 1;
    p->g.output = p->outs;

    p->n1_in[0] = "x";
    p->n1_out[0] = "t";
    p->n2_in[0] = "t";
    p->n2_out[0] = "y";
    char **io[2][2] = {{p->n1_in, p->n1_out}, {p->n2_in, p->n2_out}};
    for (int i = 0; i < 2; i++) {
        onnx__node_proto__init(&p->node[i]);
        p->node[i].name = i ? "second" : "first";
        p->node[i].op_type = "Identity";
        p->node[i].n_input = 1;
        p->node[i].input = io[i][0];
        p->node[i].n_output = 1;
        p->node[i].output = io[i][1];
        p->nodes[i] = &p->node[i];
    }
    p->g.n_node = 2;
    p->g.node = p->nodes;

    onnx__tensor_proto__init(&p->w);
    p->w.name = "w";
    p->w.has_data_type = 1;
    p->w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    p->wdims[0] = 2;
    p->wdims[1] = 3;
    p->w.n_dims = 2;
    p->w.dims = p->wdims;
    for (int i = 0; i < 6; i++)
        p->wdata[i] = (float)i - 2.5f;
    p->w.has_raw_data = 1;
    p->w.raw_data.len = sizeof p->wdata;
    p->w.raw_data.data = (uint8_t *)p->wdata;
    p->inits[0] = &p->w;
    p->g.n_initializer = 1;
    p->g.initializer = p->inits;
    onnx__string_string_entry_proto__init(&p->meta);
    p->metas[0] = &p->meta;
}

static void *mini_pack(const mini *p, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(&p->m);
    uint8_t *buf = malloc(*size ? *size : 1);
    onnx__model_proto__pack(&p->m, buf);
    return buf;
}

/* Packs the mini model and loads it; the status, with the graph destroyed. */
static dc_status mini_load(const mini *p, const char *base_dir)
{
    size_t size;
    void *buf = mini_pack(p, &size);
    dc_graph *g = (dc_graph *)1;
    dc_status s = dc_onnx_load_buffer(buf, size, base_dir, &g);
    if (s != DC_OK)
        CU_ASSERT_PTR_NULL(g);
    dc_graph_destroy(s == DC_OK ? g : NULL);
    free(buf);
    return s;
}

static void test_mini_ok(void)
{
    mini p;
    mini_init(&p);
    size_t size;
    void *buf = mini_pack(&p, &size);
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, size, NULL, &g));
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_EQUAL(g->producer_name, "test");
    CU_ASSERT_EQUAL(g->n_nodes, 2);
    CU_ASSERT_EQUAL(g->n_initializers, 1);
    const dc_value *t = dc_graph_find_value(g, "t");
    CU_ASSERT(t && t->type.dtype == DC_F32 && t->type.rank == 2 && t->type.dims[1].size == 3);
    const dc_value *w = dc_graph_find_value(g, "w");
    CU_ASSERT(w && w->is_initializer && memcmp(w->constant->data, p.wdata, 24) == 0);
    free(buf);
    dc_graph_destroy(g);

    /* An unnamed node stays unnamed (export writes names as they are). */
    p.node[0].name = NULL;
    buf = mini_pack(&p, &size);
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, size, NULL, &g));
    CU_ASSERT(g && strcmp(g->nodes[0]->name, "") == 0);
    free(buf);
    void *out = NULL;
    size_t out_size = 0;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &out, &out_size));
    Onnx__ModelProto *m = out ? onnx__model_proto__unpack(NULL, out_size, out) : NULL;
    CU_ASSERT(m && m->graph->node[0]->name == NULL && strcmp(m->graph->node[1]->name, "second") == 0);
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    free(out);
    dc_graph_destroy(g);
    p.node[0].name = "first";

    /* "ai.onnx" is the default domain spelled out; keep one entry for it. */
    p.op[0].domain = "ai.onnx";
    p.node[0].domain = "ai.onnx";
    buf = mini_pack(&p, &size);
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, size, NULL, &g));
    CU_ASSERT(g && g->n_opsets == 1 && strcmp(g->opsets[0].domain, "") == 0 &&
              strcmp(g->nodes[0]->domain, "") == 0);
    free(buf);
    dc_graph_destroy(g);
}

static void test_bad_versions_domains(void)
{
    mini p;
    mini_init(&p);
    p.m.ir_version = 2;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "IR version 2 not supported (3..8)");
    p.m.ir_version = 10;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "IR version 10 not supported (3..8)");
    p.m.has_ir_version = 0;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "IR version 0");

    mini_init(&p);
    p.op[0].version = 18;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported opset 18");
    mini_init(&p);
    p.m.n_opset_import = 2;
    p.op[1].domain = "com.microsoft";
    p.op[1].version = 1;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported domain 'com.microsoft'");
    p.op[1].domain = "ai.dinoc"; /* allowed */
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    p.op[1].domain = "";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "imported twice");
    mini_init(&p);
    p.m.n_opset_import = 0;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "imports no opset");
    mini_init(&p);
    p.node[1].domain = "ai.dinoc";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "domain 'ai.dinoc' is not imported");
    mini_init(&p);
    p.m.graph = NULL;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "no graph");
}

static void test_bad_names(void)
{
    mini p;
    mini_init(&p);
    p.n2_in[0] = "nope";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "node 'second' (Identity): input 'nope' "
                "is not defined (dangling value)");
    mini_init(&p);
    p.nodes[0] = &p.node[1];
    p.nodes[1] = &p.node[0];
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "node 'second' (Identity) uses 't' before "
                "it is produced (or cycle)");
    mini_init(&p);
    p.n2_out[0] = "t";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "duplicate name: output 't'");
    mini_init(&p);
    p.w.name = "x";
    p.g.n_input = 1;
    p.in[0].name = "x2"; /* so "x" is only the initializer... */
    p.n1_in[0] = "x2";
    p.n2_out[0] = "x"; /* ...and a node output too */
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "duplicate name: output 'x'");
    mini_init(&p);
    p.g.n_input = 2;
    p.in[1].name = "x";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "graph input 'x' is defined twice");
    mini_init(&p);
    p.g.n_input = 2;
    p.in[1].name = "w"; /* an initializer listed as input: fine */
    p.tt[1].shape = NULL;
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    p.tt[1].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_SHAPE, "graph input 'w' declared i64");
    mini_init(&p);
    p.out.name = "q";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "graph output 'q' is not produced");
    mini_init(&p);
    p.node[1].op_type = "FooBar";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "FooBar");
    mini_init(&p);
    p.node[1].op_type = NULL;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "has no op_type");
    /* An unnamed node gets a fresh name; messages still say which one. */
    mini_init(&p);
    p.node[1].name = NULL;
    p.n2_in[0] = "nope";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "node #1 (Identity)");
}

static void test_bad_types(void)
{
    mini p;
    mini_init(&p);
    Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    seq.elem_type = &p.tp[1];
    p.tp[0].value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    p.tp[0].sequence_type = &seq;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "value 'x' has a sequence type, unsupported");
    mini_init(&p);
    Onnx__TypeProto__Map map = ONNX__TYPE_PROTO__MAP__INIT;
    p.tp[2].value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
    p.tp[2].map_type = &map;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "value 'y' has a map type, unsupported");
    mini_init(&p);
    p.tt[0].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "value 'x': unsupported element type string");
    mini_init(&p);
    p.tt[0].elem_type = 99;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "unknown element type 99");
    mini_init(&p);
    p.dim[0].dim_value = -1;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "value 'x': negative dimension -1");
    /* value_info with a non-tensor type is named too. */
    mini_init(&p);
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT, *vis[] = {&vi};
    Onnx__TypeProto__Optional opt = ONNX__TYPE_PROTO__OPTIONAL__INIT;
    Onnx__TypeProto otp = ONNX__TYPE_PROTO__INIT;
    otp.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
    otp.optional_type = &opt;
    vi.name = "t";
    vi.type = &otp;
    p.g.n_value_info = 1;
    p.g.value_info = vis;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "value 't' has an optional type, unsupported");
    /* A declared type that contradicts inference is a shape error. */
    mini_init(&p);
    p.tt[2].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_SHAPE, "'y'");
}

static void test_bad_tensors(void)
{
    mini p;
    mini_init(&p);
    p.wdims[0] = -2;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "tensor 'w': negative dimension -2");
    /* 2^40 elements: refused from the dims alone, nothing allocated. */
    mini_init(&p);
    p.wdims[0] = (int64_t)1 << 20;
    p.wdims[1] = (int64_t)1 << 20;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_NOMEM, "tensor 'w': tensor of more than");
    p.w.has_raw_data = 0; /* same with a typed field */
    p.w.n_float_data = 6;
    p.w.float_data = p.wdata;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_NOMEM, "tensor 'w'");
    mini_init(&p);
    p.w.raw_data.len = 20;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "raw_data has 20 bytes, expected 24");
    mini_init(&p);
    p.w.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "tensor 'w': unsupported element type string");
    mini_init(&p);
    p.w.data_type = 42;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "unknown data_type 42");
    mini_init(&p);
    p.w.has_data_type = 0;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "tensor 'w': no data_type");
    mini_init(&p);
    Onnx__TensorProto__Segment seg = ONNX__TENSOR_PROTO__SEGMENT__INIT;
    p.w.segment = &seg;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported segmented tensor");
    mini_init(&p);
    p.w.has_raw_data = 0;
    p.w.n_float_data = 5;
    p.w.float_data = p.wdata;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "float_data has 5 entries, expected 6");
    mini_init(&p);
    int64_t i64[6] = {0};
    p.w.n_int64_data = 6;
    p.w.int64_data = i64;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "both raw_data and int64_data");
    p.w.has_raw_data = 0;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "data in int64_data, expected float_data");
    mini_init(&p);
    p.w.has_raw_data = 0; /* no data at all for 6 elements */
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "float_data has 0 entries, expected 6");
    mini_init(&p);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    p.w.n_dims = 9;
    p.w.dims = nine;
    p.w.raw_data.len = 4;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported rank 9");
    mini_init(&p);
    p.w.name = NULL;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "initializer #0 has no name");
    mini_init(&p);
    Onnx__SparseTensorProto sp = ONNX__SPARSE_TENSOR_PROTO__INIT, *sps[] = {&sp};
    p.g.n_sparse_initializer = 1;
    p.g.sparse_initializer = sps;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported sparse initializers");
}

static void test_bad_attributes(void)
{
    mini p;
    mini_init(&p);
    Onnx__AttributeProto a = ONNX__ATTRIBUTE_PROTO__INIT, b = ONNX__ATTRIBUTE_PROTO__INIT;
    Onnx__AttributeProto *attrs[] = {&a, &b};
    p.node[1].n_attribute = 1;
    p.node[1].attribute = attrs;
    a.name = "alpha";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "node 'second' (Identity): attribute 'alpha' "
                "has no type");
    /* IR-1 style: no type field, the value says it. */
    a.has_f = 1;
    a.f = 2.0f;
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    a.has_type = 1;
    a.type = 77;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "attribute 'alpha' has unknown type 77");
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    b = a;
    p.node[1].n_attribute = 2;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "attribute 'alpha' appears twice");
    p.node[1].n_attribute = 1;
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "attribute 'alpha': TENSOR attribute without");
    Onnx__TensorProto at = p.w;
    int64_t adims[2] = {2, -3};
    at.name = "aval";
    at.dims = adims;
    a.t = &at;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "attribute 'alpha': tensor 'aval': negative");
    adims[1] = 3;
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    /* A subgraph that uses a name defined nowhere. */
    Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    Onnx__NodeProto sn = ONNX__NODE_PROTO__INIT, *sns[] = {&sn};
    char *sin[] = {"ghost"}, *sout[] = {"s_out"};
    sn.op_type = "Identity";
    sn.name = "inner";
    sn.n_input = 1;
    sn.input = sin;
    sn.n_output = 1;
    sn.output = sout;
    sub.name = "body";
    sub.n_node = 1;
    sub.node = sns;
    a.g = &sub;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "subgraph 'body': node 'inner' (Identity): "
                "input 'ghost' is not defined");
    sin[0] = "x"; /* outer-scope values are visible */
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    sout[0] = "t"; /* but may not be redefined */
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "duplicate name: output 't'");
    sout[0] = "s_out";
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    Onnx__SparseTensorProto sp = ONNX__SPARSE_TENSOR_PROTO__INIT;
    Onnx__TensorProto vals = ONNX__TENSOR_PROTO__INIT, idx = ONNX__TENSOR_PROTO__INIT;
    float v2[2] = {1, 2};
    int64_t one_d[1] = {2}, bad_idx[2] = {1, 6}, sdims[2] = {2, 3};
    vals.has_data_type = idx.has_data_type = 1;
    vals.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    idx.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    vals.n_dims = idx.n_dims = 1;
    vals.dims = idx.dims = one_d;
    vals.n_float_data = 2;
    vals.float_data = v2;
    idx.n_int64_data = 2;
    idx.int64_data = bad_idx;
    sp.values = &vals;
    sp.indices = &idx;
    sp.n_dims = 2;
    sp.dims = sdims;
    a.sparse_tensor = &sp;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "sparse tensor index 6 out of range [0,6)");
    bad_idx[1] = 5;
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    sp.indices = NULL;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "but no indices");
    a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS;
    Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    Onnx__TypeProto tseq = ONNX__TYPE_PROTO__INIT, *tps[] = {&p.tp[0], &tseq};
    tseq.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tseq.sequence_type = &seq;
    a.n_type_protos = 2;
    a.type_protos = tps;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "attribute 'alpha': type has a sequence type, unsupported");
}

static void test_bad_bytes(void)
{
    mini p;
    mini_init(&p);
    size_t size;
    uint8_t *buf = mini_pack(&p, &size);
    dc_graph *g = NULL;
    size_t cuts[] = {size - 1, size / 2, 5, 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        EXPECT_FAIL(dc_onnx_load_buffer(buf, cuts[i], NULL, &g), DC_ERR_PARSE, "not a valid ONNX model");
    EXPECT_FAIL(dc_onnx_load_buffer(buf, 0, NULL, &g), DC_ERR_PARSE, "empty");
    static const uint8_t junk[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage";
    EXPECT_FAIL(dc_onnx_load_buffer(junk, sizeof junk, NULL, &g), DC_ERR_PARSE, "not a valid ONNX model");
    static const char text[] = "ir_version: 8\ngraph { node { op_type: \"Relu\" } }\n";
    EXPECT_FAIL(dc_onnx_load_buffer(text, sizeof text - 1, NULL, &g), DC_ERR_PARSE, "protobuf");
    /* Every prefix of a model either fails cleanly or loads; none crashes. */
    for (size_t n = 0; n < size; n++) {
        dc_status s = dc_onnx_load_buffer(buf, n, NULL, &g);
        if (s == DC_OK)
            dc_graph_destroy(g);
        else
            CU_ASSERT_PTR_NULL(g);
    }
    /* Random byte flips: any outcome but a crash (run under ASan for leaks). */
    uint8_t *copy = malloc(size);
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, buf, size);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % size] ^= (uint8_t)(1u << ((seed >> 4) % 8));
        }
        if (dc_onnx_load_buffer_ex(copy, size, NULL, round % 2 ? DC_ONNX_NO_CHECK : 0, &g) == DC_OK)
            dc_graph_destroy(g);
    }
    free(copy);
    free(buf);

    /* Nesting deep enough to overflow protobuf-c's recursive unpacker:
     * Model.graph(7) { Graph.node(1) { Node.attribute(5) { Attribute.g(6) { ... } } } } */
    size_t cap = 1 << 16, len = 0;
    uint8_t *deep = malloc(cap), *tmp = malloc(cap);
    static const uint8_t fields[] = {6, 5, 1}; /* innermost first: Attribute.g, Node.attribute, Graph.node */
    for (int level = 0; level < 3 * 2000 && len + 8 < cap; level++) {
        uint8_t field = fields[level % 3];
        size_t hdr = 0;
        tmp[hdr++] = (uint8_t)(field << 3 | 2);
        size_t l = len;
        do {
            tmp[hdr++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memmove(deep + hdr, deep, len);
        memcpy(deep, tmp, hdr);
        len += hdr;
    }
    /* wrap in Model.graph */
    memmove(deep + 4, deep, len);
    deep[0] = 7 << 3 | 2;
    deep[1] = (uint8_t)((len & 0x7f) | 0x80);
    deep[2] = (uint8_t)((len >> 7 & 0x7f) | 0x80);
    deep[3] = (uint8_t)(len >> 14);
    EXPECT_FAIL(dc_onnx_load_buffer(deep, len + 4, NULL, &g), DC_ERR_PARSE, "nested deeper");
    free(deep);
    free(tmp);
}

/* Sizes that would cost time or memory out of proportion to the file. */
static void test_limits(void)
{
    mini p;
    mini_init(&p);
    enum { N = 1025 };
    static Onnx__GraphProto graphs[N], *gptr[N];
    static Onnx__AttributeProto attrs[N], *aptr[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        onnx__graph_proto__init(&graphs[i]);
        gptr[i] = &graphs[i];
        onnx__attribute_proto__init(&attrs[i]);
        snprintf(names[i], sizeof names[i], "a%d", i);
        attrs[i].name = names[i];
        attrs[i].has_type = 1;
        attrs[i].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        aptr[i] = &attrs[i];
    }
    p.node[1].n_attribute = N;
    p.node[1].attribute = aptr;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported count of 1025 attributes (at most 1024)");
    attrs[0].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    attrs[0].n_graphs = N;
    attrs[0].graphs = gptr;
    p.node[1].n_attribute = 1;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_UNSUPPORTED, "unsupported: more than 1024 subgraphs");
    attrs[0].n_graphs = 3; /* a few empty ones are fine */
    CU_ASSERT_EQUAL(mini_load(&p, NULL), DC_OK);
    /* A name repeated within one node's outputs. */
    mini_init(&p);
    char *outs[] = {"t", "t"};
    p.node[0].n_output = 2;
    p.node[0].output = outs;
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "duplicate value name 't'");
}

/* ---- tensors: raw vs typed, files, external data --------------------------------- */

static void *pack_tensor(const Onnx__TensorProto *p, size_t *size)
{
    *size = onnx__tensor_proto__get_packed_size(p);
    uint8_t *buf = malloc(*size ? *size : 1);
    onnx__tensor_proto__pack(p, buf);
    return buf;
}

static dc_tensor *load_tensor_proto(const Onnx__TensorProto *p)
{
    size_t size;
    void *buf = pack_tensor(p, &size);
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_load_pb_buffer(buf, size, NULL, &t));
    free(buf);
    return t;
}

static void test_raw_vs_typed(void)
{
    static const dc_dtype types[] = {DC_F32, DC_F64, DC_I64, DC_I32, DC_I16, DC_I8, DC_U8,
                                     DC_U16, DC_BOOL, DC_F16, DC_BF16, DC_U32, DC_U64,
                                     DC_C64, DC_C128};
    int64_t dims[2] = {2, 3};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        dc_dtype dt = types[k];
        dc_tensor *ref = make_tensor("v", dt, 2, dims, (unsigned)k + 3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        uint64_t n = dc_tensor_numel(ref), m = n * ((dt == DC_C64 || dt == DC_C128) ? 2 : 1);
        /* The typed encoding, as ONNX packs each type. */
        Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
        p.name = "v";
        p.has_data_type = 1;
        p.data_type = (int32_t)dt;
        p.n_dims = 2;
        p.dims = dims;
        int32_t i32[32];
        uint64_t u64[32];
        switch (dt) {
        case DC_F32: case DC_C64: p.n_float_data = m; p.float_data = ref->data; break;
        case DC_F64: case DC_C128: p.n_double_data = m; p.double_data = ref->data; break;
        case DC_I64: p.n_int64_data = m; p.int64_data = ref->data; break;
        case DC_U64: p.n_uint64_data = m; p.uint64_data = ref->data; break;
        case DC_U32:
            for (uint64_t i = 0; i < n; i++)
                u64[i] = ((uint32_t *)ref->data)[i];
            p.n_uint64_data = n;
            p.uint64_data = u64;
            break;
        default:
            for (uint64_t i = 0; i < n; i++) {
                const void *d = ref->data;
                switch (dt) {
                case DC_I32: i32[i] = ((const int32_t *)d)[i]; break;
                case DC_I16: i32[i] = ((const int16_t *)d)[i]; break;
                case DC_I8: i32[i] = ((const int8_t *)d)[i]; break;
                case DC_U16: case DC_F16: case DC_BF16: i32[i] = ((const uint16_t *)d)[i]; break;
                default: i32[i] = ((const uint8_t *)d)[i]; break;
                }
            }
            p.n_int32_data = n;
            p.int32_data = i32;
        }
        dc_tensor *typed = load_tensor_proto(&p);
        /* The raw encoding of the same values. */
        Onnx__TensorProto r = ONNX__TENSOR_PROTO__INIT;
        r.name = "v";
        r.has_data_type = 1;
        r.data_type = (int32_t)dt;
        r.n_dims = 2;
        r.dims = dims;
        r.has_raw_data = 1;
        r.raw_data.len = ref->nbytes;
        r.raw_data.data = ref->data;
        dc_tensor *raw = load_tensor_proto(&r);
        if (!tensor_eq(ref, typed) || !tensor_eq(ref, raw))
            fprintf(stderr, "\n    dtype %s: typed/raw mismatch\n", dc_dtype_name(dt));
        CU_ASSERT(tensor_eq(ref, typed));
        CU_ASSERT(tensor_eq(ref, raw));
        CU_ASSERT(typed && typed->name && strcmp(typed->name, "v") == 0);
        dc_tensor_destroy(ref);
        dc_tensor_destroy(typed);
        dc_tensor_destroy(raw);
    }
    /* Bool in int32_data: any non-zero is true. */
    Onnx__TensorProto b = ONNX__TENSOR_PROTO__INIT;
    int32_t bits[3] = {0, 5, -1};
    int64_t three = 3;
    b.has_data_type = 1;
    b.data_type = DC_BOOL;
    b.n_dims = 1;
    b.dims = &three;
    b.n_int32_data = 3;
    b.int32_data = bits;
    dc_tensor *t = load_tensor_proto(&b);
    CU_ASSERT(t && memcmp(t->data, "\0\1\1", 3) == 0);
    CU_ASSERT(t && t->name == NULL);
    dc_tensor_destroy(t);
    /* A scalar and an empty tensor. */
    Onnx__TensorProto s = ONNX__TENSOR_PROTO__INIT;
    double pi = 3.25;
    s.has_data_type = 1;
    s.data_type = DC_F64;
    s.n_double_data = 1;
    s.double_data = &pi;
    t = load_tensor_proto(&s);
    CU_ASSERT(t && t->rank == 0 && t->nbytes == 8 && *(double *)t->data == 3.25);
    dc_tensor_destroy(t);
    int64_t zero[2] = {4, 0};
    s.n_double_data = 0;
    s.n_dims = 2;
    s.dims = zero;
    t = load_tensor_proto(&s);
    CU_ASSERT(t && t->rank == 2 && t->nbytes == 0);
    dc_tensor_destroy(t);
}

static void test_tensor_files(void)
{
    char *dir = make_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[256];
    snprintf(path, sizeof path, "%s/t.pb", dir);
    int64_t dims[3] = {2, 1, 3};
    dc_tensor *t = make_tensor("input_0", DC_F32, 3, dims, 7), *back = NULL;
    DC_ASSERT_OK(dc_tensor_save_pb(t, path));
    DC_ASSERT_OK(dc_tensor_load_pb(path, &back));
    CU_ASSERT(tensor_eq(t, back));
    CU_ASSERT(back && str_eq(back->name, "input_0"));
    dc_tensor_destroy(back);
    /* Bad files name the file. */
    write_bytes(path, "\x08\x02\x10", 3); /* dims: 2, then a truncated tag */
    EXPECT_FAIL(dc_tensor_load_pb(path, &back), DC_ERR_PARSE, path);
    write_bytes(path, "\x08\x02\x10\x01", 4); /* dims [2], float, no data */
    EXPECT_FAIL(dc_tensor_load_pb(path, &back), DC_ERR_INVALID, "float_data has 0 entries, expected 2");
    remove(path);
    EXPECT_FAIL(dc_tensor_load_pb(path, &back), DC_ERR_IO, "cannot open");
    EXPECT_FAIL(dc_tensor_load_pb(dir, &back), DC_ERR_IO, "not a regular file");
    snprintf(path, sizeof path, "%s/no/such/dir/t.pb", dir);
    EXPECT_FAIL(dc_tensor_save_pb(t, path), DC_ERR_IO, "cannot create");
    dc_graph *g = dc_graph_create("x"), *none;
    EXPECT_FAIL(dc_onnx_save(g, path), DC_ERR_IO, path);
    snprintf(path, sizeof path, "%s/missing.onnx", dir);
    EXPECT_FAIL(dc_onnx_load(path, &none), DC_ERR_IO, "missing.onnx: cannot open");
    dc_graph_destroy(g);
    dc_tensor_destroy(t);
    rmdir(dir);
}

static void set_external(Onnx__TensorProto *w, Onnx__StringStringEntryProto *e,
                         Onnx__StringStringEntryProto **es, const char *loc, const char *off,
                         const char *len)
{
    const char *kv[3][2] = {{"location", loc}, {"offset", off}, {"length", len}};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!kv[i][1])
            continue;
        onnx__string_string_entry_proto__init(&e[n]);
        e[n].key = (char *)kv[i][0];
        e[n].value = (char *)kv[i][1];
        es[n] = &e[n];
        n++;
    }
    w->n_external_data = n;
    w->external_data = es;
    w->has_data_location = 1;
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->has_raw_data = 0;
}

static void test_external_data(void)
{
    char *tmp = make_tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    char dir[128], sub[160], bin[200], model[200];
    snprintf(dir, sizeof dir, "%s", tmp);
    snprintf(sub, sizeof sub, "%s/weights", dir);
    CU_ASSERT_EQUAL(mkdir(sub, 0700), 0);
    snprintf(bin, sizeof bin, "%s/w.bin", sub);
    float payload[4 + 6];
    for (int i = 0; i < 10; i++)
        payload[i] = (float)(i * i);
    write_bytes(bin, payload, sizeof payload);

    mini p;
    mini_init(&p);
    Onnx__StringStringEntryProto e[3], *es[3];
    set_external(&p.w, e, es, "weights/w.bin", "16", "24");
    size_t size;
    void *buf = mini_pack(&p, &size);
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    write_bytes(model, buf, size);
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load(model, &g));
    const dc_value *w = g ? dc_graph_find_value(g, "w") : NULL;
    CU_ASSERT(w && w->constant && memcmp(w->constant->data, payload + 4, 24) == 0);
    /* Export writes the data inline (raw_data). */
    void *out;
    size_t out_size;
    if (g) {
        DC_ASSERT_OK(dc_onnx_save_buffer(g, &out, &out_size));
        dc_graph *again = NULL;
        DC_ASSERT_OK(dc_onnx_load_buffer(out, out_size, NULL, &again));
        ASSERT_GRAPH_EQ(g, again);
        dc_graph_destroy(again);
        free(out);
    }
    dc_graph_destroy(g);
    /* From memory, external data needs a base directory. */
    EXPECT_FAIL(dc_onnx_load_buffer(buf, size, NULL, &g), DC_ERR_INVALID,
                "tensor 'w': external data is not allowed");
    free(buf);
    /* Without offset/length: from the start of the file. */
    set_external(&p.w, e, es, "weights/w.bin", NULL, NULL);
    CU_ASSERT_EQUAL(mini_load(&p, dir), DC_OK);

    set_external(&p.w, e, es, "../w.bin", NULL, NULL);
    EXPECT_FAIL(mini_load(&p, sub), DC_ERR_INVALID, "location '../w.bin' escapes the model directory");
    set_external(&p.w, e, es, "weights/../../etc/passwd", NULL, NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "escapes");
    set_external(&p.w, e, es, bin, NULL, NULL); /* absolute */
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "escapes");
    set_external(&p.w, e, es, "weights\\..\\..\\x", NULL, NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "escapes");
    set_external(&p.w, e, es, "weights/w.bin", "24", NULL); /* 40 bytes, 24 from 24 */
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "has 40 bytes, needs 24 at offset 24");
    set_external(&p.w, e, es, "weights/w.bin", "0", "20");
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "external data length 20 but dims need 24");
    set_external(&p.w, e, es, "weights/w.bin", "-4", NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "offset '-4'");
    set_external(&p.w, e, es, "weights/absent.bin", NULL, NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_IO, "absent.bin");
    set_external(&p.w, e, es, NULL, "0", NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_INVALID, "without a location");
    /* The dims are checked before the file is even opened. */
    p.wdims[0] = (int64_t)1 << 40;
    set_external(&p.w, e, es, "weights/w.bin", NULL, NULL);
    EXPECT_FAIL(mini_load(&p, dir), DC_ERR_NOMEM, "more than");

    remove(bin);
    remove(model);
    rmdir(sub);
    rmdir(dir);
}

/* Metadata and dim bounds: "dinoc.dim_bound.<sym>" becomes a bound. */
static void test_metadata(void)
{
    mini p;
    mini_init(&p);
    p.m.n_metadata_props = 1;
    p.m.metadata_props = p.metas;
    p.meta.key = "dinoc.dim_bound.M";
    p.meta.value = "196";
    size_t size;
    void *buf = mini_pack(&p, &size);
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, size, NULL, &g));
    free(buf);
    CU_ASSERT(g && dc_graph_dim_bound(g, "M") == 196 && g->n_metadata == 0);
    dc_graph_destroy(g);
    p.meta.value = "lots";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "metadata 'dinoc.dim_bound.M' = 'lots'");
    p.meta.value = "-1";
    EXPECT_FAIL(mini_load(&p, NULL), DC_ERR_INVALID, "non-negative");
}

/* Initializers above the threshold go to "<model>.data" as ONNX external data,
 * which dinoc's importer and onnx.checker read back. */
static void test_save_external_data(void)
{
    dc_graph *g = dc_graph_create("ext");
    int64_t dims[] = {32, 32};
    dc_tensor *w;
    DC_ASSERT_OK(dc_tensor_create(&w, NULL, DC_F32, 2, dims));
    for (int i = 0; i < 32 * 32; i++)
        ((float *)w->data)[i] = (float)i * 0.25f;
    dc_value *wv, *x;
    DC_ASSERT_OK(dc_graph_add_initializer(g, "w", w, &wv));
    dc_type t = dc_type_make(DC_F32, 2, dims);
    DC_ASSERT_OK(dc_graph_add_input(g, "x", &t, &x));
    dc_value *in[] = {x, wv};
    dc_node *n;
    DC_ASSERT_OK(dc_graph_add_node(g, "MatMul", "", "mm", in, 2, NULL, 1, &n));
    DC_ASSERT_OK(dc_infer_shapes(g));
    DC_ASSERT_OK(dc_graph_add_output(g, n->outputs[0]));
    char dir[] = "/tmp/dinoc_ext_XXXXXX", path[64], data[64], cmd[512];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    snprintf(data, sizeof data, "%s/m.onnx.data", dir);
    DC_ASSERT_OK(dc_onnx_save_ex(g, path, 0));
    CU_ASSERT_EQUAL(access(data, R_OK), 0);
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load(path, &back));
    const dc_value *bw = back ? dc_graph_find_value(back, "w") : NULL;
    CU_ASSERT(bw && bw->constant && memcmp(bw->constant->data, w->data, w->nbytes) == 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model('%s', "
             "full_check=True); m=onnx.load('%s', load_external_data=False); assert m.graph.initializer[0].data_location == 1\"",
             path, path);
    CU_ASSERT_EQUAL(system(cmd), 0);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
    unlink(data);
    unlink(path);
    rmdir(dir);
}

static const dc_test_case tests[] = {
    {"round trip of a built graph (every attribute kind)", test_roundtrip_built},
    {"round trip through a file + onnx.checker", test_roundtrip_file_checker},
    {"export imports domains nodes use", test_export_adds_missing_domain},
    {"If subgraphs + onnx.checker", test_if_subgraphs_checker},
    {"limits against hostile sizes", test_limits},
    {"ONNX node-test models and their .pb data", test_node_models},
    {"IR 3 initializers listed as inputs", test_ir3_initializer_inputs},
    {"a minimal hand-made model", test_mini_ok},
    {"IR versions, opsets and domains", test_bad_versions_domains},
    {"dangling, out-of-order, duplicate names; unknown op", test_bad_names},
    {"unsupported and contradicting types", test_bad_types},
    {"bad tensors", test_bad_tensors},
    {"bad attributes and subgraphs", test_bad_attributes},
    {"truncated, garbage, flipped and deeply nested bytes", test_bad_bytes},
    {"raw_data vs typed fields, every dtype", test_raw_vs_typed},
    {"tensor .pb files", test_tensor_files},
    {"external data", test_external_data},
    {"metadata and dim bounds", test_metadata},
    {"external data beyond the threshold", test_save_external_data},
    {NULL, NULL},
};

void register_compiler_onnx_io(void) { dc_add_suite("compiler_onnx_io", tests); }
