/* Constant folding: nodes whose results are known at compile time become
 * initializers. */
#ifndef DC_FOLD_CONSTANTS_H
#define DC_FOLD_CONSTANTS_H

#include "ir.h"

/* Results larger than this are folded only when every consumer is a view or
 * shape op (materialising a big tensor from a small computation costs memory
 * and artifact size). */
#define DC_FOLD_MAX_BYTES ((size_t)1 << 20)

/* In schedule order, replaces by initializers (same value names, so uses and
 * graph outputs are kept) every node
 *   - whose inputs are all known at compile time (initializers, Constant
 *     outputs, data that shape inference computed into dc_value.constant):
 *     it is evaluated with its reference kernel; or
 *   - whose outputs shape inference already computed (Shape of a static
 *     tensor, torch's Shape -> Gather -> Concat arithmetic).
 * Skipped: results over DC_FOLD_MAX_BYTES (see above), nodes with subgraphs,
 * training-mode Dropout (random) and every ai.dinoc node (training ops, some
 * of them random). Initializers that are also graph inputs can be overridden
 * by the caller, so they do not count as known. Consumers of a value whose
 * type became more precise are inferred again before they are looked at, so
 * one pass reaches the fixed point. The folded nodes' inputs may be left
 * unused: run dc_eliminate_dead_code after. */
dc_status dc_fold_constants(dc_graph *g);

#endif
