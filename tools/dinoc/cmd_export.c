/* dinoc export CKPT -o backbone.onnx [--which teacher|student] [--image-size N]
 *              [--batch N|dynamic] [--output cls|patch|both]
 *
 * A checkpoint's backbone as a standalone ONNX model (graphs/export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "export.h"

#ifndef DINOC_VERSION
#define DINOC_VERSION "dev"
#endif

static bool parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 1 << 20)
        return false;
    *out = (int)v;
    return true;
}

int cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL;
    dc_export_options opt = {.version = DINOC_VERSION};
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "-o") == 0 && v)
            out = argv[++i];
        else if (strcmp(argv[i], "--which") == 0 && v &&
                 (strcmp(v, "teacher") == 0 || strcmp(v, "student") == 0))
            opt.which = argv[++i];
        else if (strcmp(argv[i], "--image-size") == 0 && v && parse_int(v, &opt.image_size))
            i++;
        else if (strcmp(argv[i], "--batch") == 0 && v && strcmp(v, "dynamic") == 0)
            opt.batch = DC_EXPORT_BATCH_DYNAMIC, i++;
        else if (strcmp(argv[i], "--batch") == 0 && v && parse_int(v, &opt.batch))
            i++;
        else if (strcmp(argv[i], "--output") == 0 && v && strcmp(v, "cls") == 0)
            opt.outputs = DC_EXPORT_CLS, i++;
        else if (strcmp(argv[i], "--output") == 0 && v && strcmp(v, "patch") == 0)
            opt.outputs = DC_EXPORT_PATCH, i++;
        else if (strcmp(argv[i], "--output") == 0 && v && strcmp(v, "both") == 0)
            opt.outputs = DC_EXPORT_BOTH, i++;
        else if (argv[i][0] != '-' && !ckpt)
            ckpt = argv[i];
        else
            return dinoc_usage("export");
    }
    if (!ckpt || !out)
        return dinoc_usage("export");
    if (dc_export_onnx(ckpt, out, &opt) != DC_OK)
        return dinoc_fail("export");
    return 0;
}
