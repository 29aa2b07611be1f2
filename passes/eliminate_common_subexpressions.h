/* Common-subexpression elimination. */
#ifndef DC_ELIMINATE_COMMON_SUBEXPRESSIONS_H
#define DC_ELIMINATE_COMMON_SUBEXPRESSIONS_H

#include "ir.h"

/* In schedule order, a node that computes what an earlier node computes (same
 * op and domain, the same input values in the same order, equal attributes;
 * small compile-time constants, such as the axes of a reduction, count as the
 * same input when their contents are equal)
 * is removed and the readers of its outputs read the earlier node's. Kept:
 * nodes that are not pure functions of their inputs (training-mode Dropout,
 * every ai.dinoc op: some draw random numbers or update state), nodes with
 * subgraphs, and nodes an output of which is a graph output or the next value
 * of a state (their names are the interface). *n_removed (may be NULL)
 * receives the count. */
dc_status dc_eliminate_common_subexpressions(dc_graph *g, int *n_removed);

#endif
