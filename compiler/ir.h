/* The dinoc IR: an ONNX-style graph of nodes over typed values.
 *
 * A dc_graph owns everything reachable from it (an arena for names, nodes,
 * values and attributes; a list of owned tensors for constant data). Nodes are
 * kept in schedule order; the verifier checks that this is a topological order.
 *
 * Shapes are static, except for symbolic dimensions (ONNX dim_param). One kind
 * of symbolic dimension may carry an upper bound (ARCHITECTURE.md, "Shapes"): memory
 * is planned at the bound and kernels run on the actual size of the step. */
#ifndef DC_IR_H
#define DC_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "dc_tensor.h"

typedef struct dc_graph dc_graph;
typedef struct dc_node dc_node;
typedef struct dc_op_schema dc_op_schema;

#define DC_DIM_UNKNOWN ((int64_t)-1)

/* A dimension: `size` >= 0 when static. A symbolic dimension has size
 * DC_DIM_UNKNOWN and, when named, `param` (ONNX dim_param); its bound, if any,
 * is kept by the graph (dc_graph_dim_bound). */
typedef struct dc_dim {
    int64_t size;
    const char *param; /* NULL for static or anonymous unknown dims */
} dc_dim;

/* The type of a value: element type and shape. rank -1 = rank not known. */
typedef struct dc_type {
    dc_dtype dtype;
    int rank;
    dc_dim dims[DC_MAX_RANK];
} dc_type;

typedef struct dc_value {
    const char *name;
    dc_type type;
    /* The type a file states for a node output (value_info, graph output);
     * rank -1 and dtype UNDEFINED when none. Inference must agree with it. */
    dc_type declared;
    dc_node *producer;     /* NULL for graph inputs, initializers and outer-scope values */
    int producer_index;    /* which output of the producer */
    /* Data known at compile time: an initializer's data, a Constant's value, or
     * what shape inference could compute (e.g. Shape of a static tensor).
     * Owned by the graph. */
    dc_tensor *constant;
    bool is_initializer;   /* `constant` is a parameter/initializer of the graph */
    /* Persistent training state (parameters, optimizer moments, centers, the
     * step count): an initializer whose data is only the starting value, so
     * no pass may treat it as a constant. A state update gives its next value. */
    bool is_state;
    int id;                /* index in dc_graph.values */
} dc_value;

/* Attribute kinds, numbered as ONNX AttributeProto.AttributeType. */
typedef enum dc_attr_type {
    DC_ATTR_UNDEFINED = 0,
    DC_ATTR_FLOAT = 1,
    DC_ATTR_INT = 2,
    DC_ATTR_STRING = 3,
    DC_ATTR_TENSOR = 4,
    DC_ATTR_GRAPH = 5,
    DC_ATTR_FLOATS = 6,
    DC_ATTR_INTS = 7,
    DC_ATTR_STRINGS = 8,
    DC_ATTR_TENSORS = 9,
    DC_ATTR_GRAPHS = 10,
    DC_ATTR_SPARSE_TENSOR = 11,
    DC_ATTR_SPARSE_TENSORS = 12,
    DC_ATTR_TYPE_PROTO = 13,
    DC_ATTR_TYPE_PROTOS = 14,
} dc_attr_type;

/* ONNX SparseTensorProto: `values` [NNZ], `indices` [NNZ] (linearised) or
 * [NNZ, rank], and the dense shape. */
typedef struct dc_sparse_tensor {
    dc_tensor *values;
    dc_tensor *indices;
    int rank;
    int64_t dims[DC_MAX_RANK];
} dc_sparse_tensor;

/* A byte string (ONNX strings may hold any bytes). */
typedef struct dc_bytes {
    const char *data; /* NUL-terminated for convenience */
    size_t len;
} dc_bytes;

/* One attribute. The field that holds the value follows `type`; list kinds use
 * `n` entries of the matching array. Tensors and graphs are owned by the graph. */
typedef struct dc_attr {
    const char *name;
    dc_attr_type type;
    const char *ref_attr_name; /* set inside ONNX functions; NULL otherwise */
    float f;
    int64_t i;
    dc_bytes s;
    dc_tensor *t;
    dc_graph *g;
    dc_sparse_tensor *sparse;
    dc_type *tp;
    int n;
    float *floats;
    int64_t *ints;
    dc_bytes *strings;
    dc_tensor **tensors;
    dc_graph **graphs;
    dc_sparse_tensor **sparse_tensors;
    dc_type *type_protos;
} dc_attr;

struct dc_node {
    const char *name;
    const char *op_type;
    const char *domain;        /* "" for the ONNX default domain, "ai.dinoc" for training ops */
    dc_value **inputs;         /* NULL entry = omitted optional input */
    int n_inputs;
    dc_value **outputs;        /* NULL entry = omitted optional output */
    int n_outputs;
    dc_attr *attrs;
    int n_attrs, cap_attrs;
    const dc_op_schema *schema; /* registry entry, resolved by dc_graph_add_node */
    const char *doc_string;
    int id;
};

typedef struct dc_opset {
    const char *domain;
    int64_t version;
} dc_opset;

typedef struct dc_string_pair {
    const char *key, *value;
} dc_string_pair;

/* After each run (one training step), `state` takes the data of `next`. */
typedef struct dc_state_update {
    dc_value *state;
    dc_value *next;
} dc_state_update;

typedef struct dc_dim_symbol {
    const char *name;
    int64_t bound; /* DC_DIM_UNKNOWN when unbounded */
} dc_dim_symbol;

struct dc_graph {
    dc_arena *arena;
    const char *name;
    const char *doc_string;
    dc_graph *parent;          /* enclosing graph of a subgraph attribute; NULL at top level */

    dc_node **nodes;           /* schedule order */
    int n_nodes, cap_nodes;
    dc_value **values;         /* every value created in this graph */
    int n_values, cap_values;
    dc_value **inputs;         /* graph inputs; may include initializers (ONNX IR < 4) */
    int n_inputs, cap_inputs;
    dc_value **outputs;
    int n_outputs, cap_outputs;
    dc_value **initializers;
    int n_initializers, cap_initializers;
    dc_state_update *state_updates;
    int n_state_updates, cap_state_updates;

    /* Model-level information; subgraphs read their root's. */
    int64_t ir_version;
    dc_opset *opsets;          /* opset imports; the default domain is "" */
    int n_opsets, cap_opsets;
    const char *producer_name, *producer_version, *model_domain, *model_doc_string;
    int64_t model_version;
    dc_string_pair *metadata;
    int n_metadata, cap_metadata;
    dc_dim_symbol *dim_symbols;
    int n_dim_symbols, cap_dim_symbols;

    /* Internal: name lookup, owned tensors, unique-name counter, builder error. */
    struct dc_strmap *names;
    dc_tensor **owned;
    int n_owned, cap_owned;
    int next_id;
    int build_status;
};

/* ---- graphs ---------------------------------------------------------------- */

/* A new empty graph at ONNX IR version 8, default-domain opset 17. */
dc_graph *dc_graph_create(const char *name);
/* A subgraph for a GRAPH attribute: it shares nothing but sees `parent`'s values. */
dc_graph *dc_graph_create_subgraph(dc_graph *parent, const char *name);
void dc_graph_destroy(dc_graph *g);

dc_graph *dc_graph_root(dc_graph *g);
/* The opset version imported for `domain` ("" = ONNX), 0 if not imported. */
int64_t dc_graph_opset(const dc_graph *g, const char *domain);
dc_status dc_graph_set_opset(dc_graph *g, const char *domain, int64_t version);
dc_status dc_graph_set_metadata(dc_graph *g, const char *key, const char *value);
const char *dc_graph_metadata(const dc_graph *g, const char *key);
/* Declares the upper bound of symbolic dimension `name` (the bounded dynamic dim). */
dc_status dc_graph_set_dim_bound(dc_graph *g, const char *name, int64_t bound);
int64_t dc_graph_dim_bound(const dc_graph *g, const char *name);

/* ---- values ---------------------------------------------------------------- */

/* Finds a value by name in this graph, then in enclosing graphs. */
dc_value *dc_graph_find_value(const dc_graph *g, const char *name);
/* A new value; `name` NULL = a fresh unique name. Fails on a duplicate name. */
dc_status dc_graph_new_value(dc_graph *g, const char *name, const dc_type *type, dc_value **out);
dc_status dc_graph_add_input(dc_graph *g, const char *name, const dc_type *type, dc_value **out);
/* Adds an initializer; the graph takes ownership of `t` (also on failure). */
dc_status dc_graph_add_initializer(dc_graph *g, const char *name, dc_tensor *t, dc_value **out);
dc_status dc_graph_add_output(dc_graph *g, dc_value *v);
/* Declares that initializer `state` takes the value of `next` after every
 * run, and marks it as state. Each state has at most one update. */
dc_status dc_graph_add_state_update(dc_graph *g, dc_value *state, dc_value *next);
/* The update of `state`, or NULL. */
const dc_state_update *dc_graph_state_update(const dc_graph *g, const dc_value *state);
/* Hands `t` to the graph, freed with it. */
dc_status dc_graph_own_tensor(dc_graph *g, dc_tensor *t);
/* A fresh name "<prefix>_<n>" not used in the graph (arena-owned). */
const char *dc_graph_unique_name(dc_graph *g, const char *prefix);

/* ---- nodes ----------------------------------------------------------------- */

/* Appends a node. `inputs` may contain NULL for omitted optional inputs.
 * Output values are created with `output_names` (NULL array or NULL entries =
 * fresh names; "" = omitted output). The schema is looked up; an unknown op is
 * not an error here (the verifier reports it), so importers can say which op. */
dc_status dc_graph_add_node(dc_graph *g, const char *op_type, const char *domain,
                            const char *name, dc_value *const *inputs, int n_inputs,
                            const char *const *output_names, int n_outputs, dc_node **out);

/* ---- attributes ------------------------------------------------------------ */

const dc_attr *dc_node_attr(const dc_node *n, const char *name);
/* Typed getters with a default for an absent attribute. */
int64_t dc_node_attr_int(const dc_node *n, const char *name, int64_t dflt);
float dc_node_attr_float(const dc_node *n, const char *name, float dflt);
const char *dc_node_attr_string(const dc_node *n, const char *name, const char *dflt);
/* The INTS list, or NULL (count 0) when absent. */
const int64_t *dc_node_attr_ints(const dc_node *n, const char *name, int *count);

/* Adds (or replaces) an attribute; arrays and strings are copied into the arena. */
dc_attr *dc_node_add_attr(dc_node *n, dc_graph *g, const char *name, dc_attr_type type);
dc_status dc_node_set_int(dc_node *n, dc_graph *g, const char *name, int64_t v);
dc_status dc_node_set_float(dc_node *n, dc_graph *g, const char *name, float v);
dc_status dc_node_set_string(dc_node *n, dc_graph *g, const char *name, const char *v);
dc_status dc_node_set_ints(dc_node *n, dc_graph *g, const char *name, const int64_t *v, int count);
dc_status dc_node_set_floats(dc_node *n, dc_graph *g, const char *name, const float *v, int count);
/* The graph takes ownership of `t`. */
dc_status dc_node_set_tensor(dc_node *n, dc_graph *g, const char *name, dc_tensor *t);

/* ---- types ----------------------------------------------------------------- */

/* A static type from an element type and dims. */
dc_type dc_type_make(dc_dtype dtype, int rank, const int64_t *dims);
/* A type whose shape is unknown. */
dc_type dc_type_unknown(dc_dtype dtype);
bool dc_type_is_static(const dc_type *t);
bool dc_dim_equal(dc_dim a, dc_dim b);
/* Element count of a static type; -1 when any dim is not static or the count
 * exceeds what a tensor may hold (DC_TENSOR_MAX_BYTES). */
int64_t dc_type_numel(const dc_type *t);
/* Writes "f32[2,3,M]" (or "f32[?]" for unknown rank) into buf. */
const char *dc_type_str(const dc_type *t, char *buf, size_t size);

/* ---- whole-graph operations ------------------------------------------------ */

/* Checks every invariant and reports the first broken one, naming the node:
 * unknown op, wrong input/output count, dangling or duplicate value, a node
 * scheduled before its input's producer (or a cycle), an output never produced,
 * attribute type errors. Types are checked by dc_infer_shapes. */
dc_status dc_graph_verify(const dc_graph *g);

/* Readable text, one line per node: `y: f32[2,3] = MatMul(a, b) {attr=...}`. */
void dc_graph_print(const dc_graph *g, FILE *out);
/* Graphviz dot. */
void dc_graph_print_dot(const dc_graph *g, FILE *out);

/* ---- editing (compiler/graph_edit.c) ---------------------------------------
 *
 * For passes that remove work: constant folding turns a node's outputs into
 * initializers, dead-code elimination drops nodes and initializers. Values are
 * never deleted (names stay reserved); a removed node's outputs are left
 * without a producer, so a remaining use shows up in dc_graph_verify as a
 * dangling value. */

/* Takes `node` out of the schedule; the other nodes keep their order and are
 * renumbered (node->id = position). Its outputs lose their producer. */
dc_status dc_graph_remove_node(dc_graph *g, dc_node *node);
/* Makes `v` an initializer holding `t` (the graph takes ownership of `t`, also
 * on failure). `v` must have no producer (remove it first). It keeps its name,
 * its uses and its place among the graph outputs; its type becomes t's. */
dc_status dc_graph_make_initializer(dc_graph *g, dc_value *v, dc_tensor *t);
/* Removes initializer `v` from the initializer list and frees its data unless
 * another value or attribute shares it. A value that is also a graph input
 * stays one (then without default data). */
dc_status dc_graph_remove_initializer(dc_graph *g, dc_value *v);
/* Every use of `old` (node inputs, graph outputs) becomes `replacement`. */
void dc_graph_replace_uses(dc_graph *g, dc_value *old, dc_value *replacement);
/* Moves `node` to position `index` of the schedule (0 <= index < n_nodes);
 * the others keep their order. Node ids are renumbered. */
dc_status dc_graph_move_node(dc_graph *g, dc_node *node, int index);
/* Reorders the schedule into a topological order that keeps the current order
 * wherever it already is one (for passes that put a node where its inputs are
 * ready but a reader of its outputs may come earlier). A cycle is an error. */
dc_status dc_graph_sort(dc_graph *g);

#endif
