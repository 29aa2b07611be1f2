#include "ema.h"

#include <stdlib.h>

#include "builder.h"

dc_status dc_add_ema(dc_graph *g, dc_value *momentum, dc_value *const *targets,
                     dc_value *const *sources, int n)
{
    if (n < 1)
        return DC_OK;
    if (!dc_graph_opset(g, "ai.dinoc"))
        DC_TRY(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value **in = malloc((size_t)(1 + 2 * n) * sizeof *in);
    if (!in)
        return dc_error(DC_ERR_NOMEM, "EMA over %d pairs", n);
    in[0] = momentum;
    for (int i = 0; i < n; i++) {
        in[1 + 2 * i] = targets[i];
        in[2 + 2 * i] = sources[i];
    }
    dc_node *node = dc_node_begin(g, "EMA", "ai.dinoc", in, 1 + 2 * n, n);
    free(in);
    dc_node_finish(g, node);
    DC_TRY(dc_build_status(g));
    for (int i = 0; i < n; i++)
        DC_TRY(dc_graph_add_state_update(g, targets[i], node->outputs[i]));
    return DC_OK;
}

dc_status dc_add_center_update(dc_graph *g, dc_value *center, dc_value *x, float mu)
{
    int64_t rows = 0;
    dc_value *mean = dc_reduce(g, "ReduceMean", x, &rows, 1, true);
    dc_value *m = dc_scalar_f32(g, mu);
    DC_TRY(dc_build_status(g));
    return dc_add_ema(g, m, &center, &mean, 1);
}
