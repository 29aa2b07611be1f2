/* The pattern-matching toolkit of the fusion rules (passes/fuse/fuse_*.c).
 *
 * A rule walks the nodes, tests op types and attributes, checks that the
 * values between the nodes it wants to fuse are used only inside the match,
 * and replaces the matched nodes by one new node that produces the same
 * output values (names, uses and graph outputs stay as they were). */
#ifndef DC_MATCH_H
#define DC_MATCH_H

#include <stdbool.h>

#include "ir.h"

/* ---- single nodes ---------------------------------------------------------- */

/* `n` is an op `op_type` of `domain` ("" = ONNX). NULL n: false. */
bool dc_match_op(const dc_node *n, const char *domain, const char *op_type);
/* The node producing `v` if it is an op `op_type` of `domain`, else NULL. */
dc_node *dc_match_producer(const dc_value *v, const char *domain, const char *op_type);
/* `v` holds data known at compile time (initializer that is not state and
 * not a graph input, Constant output, folded value) with a single element;
 * its value as double in *out (may be NULL). */
bool dc_match_scalar_constant(const dc_graph *g, const dc_value *v, double *out);

/* ---- uses ------------------------------------------------------------------ */

/* Who reads each value: node inputs, graph outputs and state updates (a
 * value that is the next value of a state is read after the step). Built
 * once per rule run; rebuild it (dc_uses_update) after an edit. */
typedef struct dc_uses dc_uses;

dc_status dc_uses_create(const dc_graph *g, dc_uses **out);
void dc_uses_destroy(dc_uses *u);
/* Recomputes the uses after the graph changed. */
dc_status dc_uses_update(dc_uses *u, const dc_graph *g);
/* The number of node inputs reading `v` (a node reading it twice counts twice). */
int dc_uses_count(const dc_uses *u, const dc_value *v);
/* The nodes reading `v` (with repeats), dc_uses_count of them. */
dc_node *const *dc_uses_readers(const dc_uses *u, const dc_value *v);
/* `v` is a graph output or the next value of a state. */
bool dc_uses_escapes(const dc_uses *u, const dc_value *v);
/* The one node reading `v`, when exactly one node input reads it and it does
 * not escape; else NULL. */
dc_node *dc_uses_only_reader(const dc_uses *u, const dc_value *v);
/* Every reader of `v` is one of match[0..n) and `v` does not escape: the
 * value may disappear inside a fused op. */
bool dc_uses_internal(const dc_uses *u, const dc_value *v, dc_node *const *match, int n);

/* ---- shapes ---------------------------------------------------------------- */

/* `small` broadcasts to `big` unidirectionally (numpy rules, aligned at the
 * right; every dim of small equal to big's or 1), both with known rank. */
bool dc_match_broadcasts_to(const dc_type *small, const dc_type *big);
/* Both types static and equal (dtype and dims). */
bool dc_match_same_type(const dc_type *a, const dc_type *b);

/* ---- rewriting ------------------------------------------------------------- */

/* A fused node to put in place of some matched nodes. */
typedef struct dc_fused_node {
    const char *op_type;
    const char *domain;
    const char *name;              /* NULL: a fresh name from op_type */
    dc_value *const *inputs;
    int n_inputs;
    dc_value *const *outputs;      /* existing values, each produced by a matched node */
    int n_outputs;
} dc_fused_node;

/* Removes match[0..n) and adds the fused node producing the same output
 * values (their names, uses and graph-output places stay); *out (may be NULL)
 * receives it, for setting attributes. Values produced by the matched nodes
 * and not listed in `outputs` must be internal to the match. The node goes
 * where the last matched node was; the schedule is then reordered (stably)
 * if an output is read by a node between the matched ones. Call
 * dc_match_finish when the attributes are set. */
dc_status dc_match_replace(dc_graph *g, dc_node *const *match, int n, const dc_fused_node *fused,
                           dc_node **out);
/* Infers the fused node's output types and checks they did not change (a
 * rule that changes a type is a bug in the rule, reported as such). */
dc_status dc_match_finish(dc_graph *g, dc_node *fused);

#endif
