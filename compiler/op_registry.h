/* The op registry: one entry per op. Each entry knows its ONNX name and domain,
 * its arity, and its shape and type inference; later issues add the gradient
 * rule, the reference kernel and the lowering to the same entry, so adding an
 * op touches one place (plus its tests). */
#ifndef DC_OP_REGISTRY_H
#define DC_OP_REGISTRY_H

#include "ir.h"

#define DC_DOMAIN_ONNX ""
#define DC_DOMAIN_DINOC "ai.dinoc"

/* Infers the output types of `node` from its inputs' types (and from input
 * data known at compile time, `dc_value.constant`) and attributes, writing
 * node->outputs[i]->type. It may also set `constant` on outputs whose data it
 * can compute cheaply (shape arithmetic). On a contradiction it returns an
 * error naming what was expected and what was found. `opset` is the version of
 * the node's domain imported by the graph. */
typedef dc_status (*dc_infer_fn)(dc_graph *g, dc_node *node, int64_t opset);

/* Runs the op on data: the test oracle (and constant folding), never the fast
 * path. inputs[i] is NULL for an omitted optional input; the kernel allocates
 * outputs[i] (dc_tensor_create) for every output the node has (non-NULL
 * node->outputs[i]) with shapes computed from the actual input data. Bad data
 * (an index out of range, a shape that does not fit) is an error, not a crash.
 * The caller passes outputs[] all NULL and destroys whatever is non-NULL
 * afterwards, on failure too. `opset` is the version of the node's domain
 * imported by the graph. Kernels: compiler/reference/. */
typedef dc_status (*dc_reference_fn)(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                     dc_tensor **outputs);

/* Gradient rule (passes/autodiff): given dy[k], the gradient of the loss with
 * respect to output k (NULL where the loss does not depend on it), appends
 * nodes computing dx[i] for every input i with needs[i] set, through the
 * builder API. dx[i] may stay NULL for a zero gradient. */
typedef dc_status (*dc_gradient_fn)(dc_graph *g, const dc_node *node, dc_value *const *dy,
                                    const bool *needs, dc_value **dx);

struct dc_op_schema {
    const char *name;
    const char *domain;
    int min_inputs, max_inputs;   /* max -1 = variadic */
    int min_outputs, max_outputs;
    dc_infer_fn infer;
    dc_reference_fn reference;
    dc_gradient_fn gradient;       /* NULL: not differentiable (yet) */
    /* Lowering. Inputs that only carry static information (Reshape's shape,
     * Slice's starts/ends/axes/steps, ...) must be compile-time constants and
     * become attributes of the plan step: static_inputs[i] names the attribute
     * for input i, NULL for a data input. */
    const char *const *static_inputs;
    int n_static_inputs;
    /* Output 0 is input 0 with another shape (same bytes): lowering aliases the
     * buffers instead of copying. */
    bool is_view;
    /* Bit i set: a step may write output 0 over input i when the input dies
     * there and has the output's size (the kernel reads x[j] only to compute
     * y[j]). Memory planning reads this; it has no list of ops of its own. */
    uint32_t in_place_inputs;
};

/* NULL when (domain, name) is not an op dinoc knows. "ai.onnx" is the default domain. */
const dc_op_schema *dc_op_lookup(const char *domain, const char *name);
/* All registered schemas, for listing (`dinoc ops`) and tests. */
const dc_op_schema *const *dc_op_all(int *count);

/* Input/output counts within the schema's range, required ones present.
 * The node must have a schema. */
dc_status dc_check_arity(const dc_node *node);

#endif
