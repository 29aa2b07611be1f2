/* DINOC_CODEGEN: generated kernels for sessions made by the drivers (codegen_env.h). */
#include "codegen_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"

bool dc_codegen_env_enabled(void)
{
    const char *v = getenv("DINOC_CODEGEN");
    return v && *v && strcmp(v, "0") != 0;
}

dc_status dc_codegen_env_artifact(const dc_plan *plan, dc_artifact **out)
{
    *out = NULL;
    if (!dc_codegen_env_enabled())
        return DC_OK;
    void *bytes;
    size_t size;
    dc_plan *copy = NULL;
    DC_TRY(dc_plan_serialize(plan, "plan", &bytes, &size));
    dc_status s = dc_plan_parse(bytes, size, "plan", &copy);
    free(bytes);
    DC_TRY(s);
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    int fd = -1;
    if (asprintf(&path, "%s/dinoc-generated-XXXXXX.so", tmp && *tmp ? tmp : "/tmp") < 0)
        path = NULL;
    if (!path || (fd = mkstemps(path, 3)) < 0)
        s = dc_error(DC_ERR_IO, "DINOC_CODEGEN: cannot make a temporary file");
    if (fd >= 0)
        close(fd);
    const char *explain = getenv("DINOC_CODEGEN_EXPLAIN");
    dc_codegen_options opt = {.target = getenv("DINOC_CODEGEN_TARGET"),
                              .replace_dnnl = strcmp(getenv("DINOC_CODEGEN"), "all") == 0,
                              .explain = explain && *explain && strcmp(explain, "0") ? stderr : NULL};
    int n_generated;
    if (s == DC_OK)
        s = dc_codegen_write_artifact(copy, &opt, path, &n_generated);
    if (s == DC_OK)
        s = dc_artifact_open(path, out);
    if (fd >= 0)
        unlink(path);
    free(path);
    dc_plan_destroy(copy);
    return s == DC_OK ? DC_OK : dc_error_context(s, "DINOC_CODEGEN");
}
