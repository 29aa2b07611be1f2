/* dinoc inspect MODEL.onnx [--dot FILE]: the graph as text, optionally as Graphviz. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ir.h"
#include "onnx_io.h"

int cmd_inspect(int argc, char **argv)
{
    const char *model = NULL, *dot = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dot") == 0 && i + 1 < argc)
            dot = argv[++i];
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            return dinoc_usage("inspect");
    }
    if (!model)
        return dinoc_usage("inspect");
    dc_graph *g;
    if (dc_onnx_load(model, &g) != DC_OK)
        return dinoc_fail("inspect");
    dc_graph_print(g, stdout);
    int rc = 0;
    if (dot) {
        FILE *f = fopen(dot, "w");
        if (!f) {
            fprintf(stderr, "dinoc inspect: %s: %s\n", dot, strerror(errno));
            rc = 1;
        } else {
            dc_graph_print_dot(g, f);
            if (fclose(f) != 0) {
                fprintf(stderr, "dinoc inspect: %s: %s\n", dot, strerror(errno));
                rc = 1;
            }
        }
    }
    dc_graph_destroy(g);
    return rc;
}
