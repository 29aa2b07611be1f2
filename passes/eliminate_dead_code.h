/* Dead-code elimination. */
#ifndef DC_ELIMINATE_DEAD_CODE_H
#define DC_ELIMINATE_DEAD_CODE_H

#include "ir.h"

/* Removes the nodes none of whose outputs reach a graph output (values read
 * by subgraphs count as read), then the initializers no node or graph output
 * uses any more. Graph inputs are kept, used or not, as are initializers that
 * are also graph inputs. */
dc_status dc_eliminate_dead_code(dc_graph *g);

#endif
