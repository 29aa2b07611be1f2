#include "infer_shapes.h"

#include "op_registry.h"

dc_status dc_infer_shapes(dc_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        DC_TRY(dc_infer_node(g, g->nodes[i]));
    return DC_OK;
}
