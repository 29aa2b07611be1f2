/* The reference interpreter: runs a graph node by node with the registry's
 * reference kernels (compiler/reference/). It is the oracle for passes (a
 * graph before vs after) and for the compiled runtime; it is slow on purpose
 * (plain loops, doubles). */
#ifndef DC_INTERPRET_H
#define DC_INTERPRET_H

#include "ir.h"

/* Runs `g` on `inputs`: one tensor per graph input that is not an
 * initializer, in the order of g->inputs. Their element types and ranks must
 * match the declared ones, as must static dims (symbolic dims take any size,
 * the same size wherever the same symbol appears). Initializers and other
 * data known at compile time feed the kernels directly; every node runs, in
 * schedule order, and each intermediate is freed after its last use. Every
 * kernel result is checked against the inferred type of its value (element
 * type, rank, static dims), so a kernel and shape inference that disagree are
 * an error rather than a silent difference.
 *
 * outputs[i] receives a new tensor for graph output i (the caller destroys
 * them); on failure all are NULL and the message names the node. */
dc_status dc_interpret(const dc_graph *g, dc_tensor *const *inputs, int n_inputs,
                       dc_tensor **outputs);

#endif
