/* dinoc run MODEL.onnx|STEP.so|OUT.dnc -i NAME=FILE ... -o DIR [--npy] [--threads N]
 *           [--repeat N] [--profile] [--steps N] [--save-state DIR]:
 * run a model once; inputs from .pb (ONNX TensorProto) or .npy files, or
 * --scalar NAME=VALUE for a float32 scalar (a learning rate), outputs
 * written as DIR/<output name>.pb (and .npy with --npy).
 * --repeat N times N more runs after the first and prints their median and
 * minimum; --profile prints the time per kernel of those runs.
 * A training plan (dinoc compile --train) runs --steps N times, printing each
 * step's loss, and --save-state writes its parameters and moments afterwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "dc_npy.h"
#include "onnx_io.h"
#include "run_model.h"

/* DIR/<name><ext>, with '/' in the name replaced so it stays one file. */
static char *output_path(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = malloc(n);
    if (!p)
        return NULL;
    snprintf(p, n, "%s/%s%s", dir, name, ext);
    for (char *c = p + strlen(dir) + 1; *c; c++)
        if (*c == '/')
            *c = '_';
    return p;
}

static dc_status write_outputs(const char *dir, dc_tensor **outs, int n, int npy)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dc_error(DC_ERR_IO, "%s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 1 + npy; k++) {
            char *path = output_path(dir, outs[i]->name, k ? ".npy" : ".pb");
            if (!path)
                return dc_error(DC_ERR_NOMEM, "output path");
            dc_status s = k ? dc_npy_save(outs[i], path) : dc_tensor_save_pb(outs[i], path);
            if (s == DC_OK) {
                dc_type t = dc_type_make(outs[i]->dtype, outs[i]->rank, outs[i]->dims);
                char ty[160];
                printf("%s: %s -> %s\n", outs[i]->name, dc_type_str(&t, ty, sizeof ty), path);
            }
            free(path);
            DC_TRY(s);
        }
    }
    return DC_OK;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *dir = NULL;
    int npy = 0, n_in = 0, bad_usage = 0;
    dc_run_options opt = {0};
    dc_named_tensor *in = calloc(argc ? (size_t)argc : 1, sizeof *in);
    dc_status s = in ? DC_OK : dc_error(DC_ERR_NOMEM, "inputs");
    for (int i = 0; s == DC_OK && !bad_usage && i < argc; i++) {
        if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
            s = dc_read_named_tensor(argv[++i], &in[n_in++]);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !dir)
            dir = argv[++i];
        else if (strcmp(argv[i], "--npy") == 0)
            npy = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            opt.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            opt.repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--scalar") == 0 && i + 1 < argc)
            s = dc_read_named_scalar(argv[++i], &in[n_in++]);
        else if (strcmp(argv[i], "--profile") == 0)
            opt.profile = true;
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            opt.steps = atoi(argv[++i]);
            opt.step_log = stdout;
        }
        else if (strcmp(argv[i], "--save-state") == 0 && i + 1 < argc)
            opt.save_state = argv[++i];
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            bad_usage = 1;
    }
    int rc = 0;
    if (s != DC_OK) {
        rc = dinoc_fail("run");
    } else if (bad_usage || !model || !dir) {
        rc = dinoc_usage("run");
    } else {
        dc_tensor **outs;
        int n_out;
        s = dc_run_model(model, in, n_in, &opt, &outs, &n_out);
        if (s == DC_OK && opt.repeat > 0)
            printf("time: median_ms=%.3f min_ms=%.3f over %d runs\n", opt.median_ms, opt.min_ms,
                   opt.repeat);
        if (s == DC_OK) {
            s = write_outputs(dir, outs, n_out, npy);
            dc_tensors_free(outs, n_out);
        }
        rc = s == DC_OK ? 0 : dinoc_fail("run");
    }
    for (int i = 0; i < n_in; i++) {
        free((char *)in[i].name);
        dc_tensor_destroy(in[i].tensor);
    }
    free(in);
    return rc;
}
