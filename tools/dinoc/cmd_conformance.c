/* dinoc conformance [DIR] [--filter SUBSTR] [-v] [--threads N]: the ONNX
 * backend node tests, compiled and run (tools/driver/conformance.h). Exit 1 when
 * any test failed. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "conformance.h"

int cmd_conformance(int argc, char **argv)
{
    dc_conformance_options opt = {0};
    int verbose = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            opt.filter = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            opt.threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !opt.dir)
            opt.dir = argv[i];
        else
            return dinoc_usage("conformance");
    }
    dc_conformance_report *r;
    if (dc_conformance_run(&opt, &r) != DC_OK)
        return dinoc_fail("conformance");
    dc_conformance_print(r, stdout, verbose);
    int rc = r->failed ? 1 : 0;
    dc_conformance_report_destroy(r);
    return rc;
}
