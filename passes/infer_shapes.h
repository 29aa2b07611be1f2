/* Shape and type inference over a whole graph, in schedule order. */
#ifndef DC_INFER_SHAPES_H
#define DC_INFER_SHAPES_H

#include "ir.h"

/* Runs each node's registry inference; the first failure is returned with the
 * node named in the message. The graph should have passed dc_graph_verify. */
dc_status dc_infer_shapes(dc_graph *g);

#endif
