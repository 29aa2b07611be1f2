/* dinoc convert IN.onnx OUT.onnx: read into the IR (which verifies the graph and
 * infers shapes) and write it back as ONNX. */
#include <string.h>

#include "commands.h"
#include "ir.h"
#include "onnx_io.h"

int cmd_convert(int argc, char **argv)
{
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-')
        return dinoc_usage("convert");
    dc_graph *g;
    if (dc_onnx_load(argv[0], &g) != DC_OK)
        return dinoc_fail("convert");
    dc_status s = dc_onnx_save(g, argv[1]);
    dc_graph_destroy(g);
    return s == DC_OK ? 0 : dinoc_fail("convert");
}
