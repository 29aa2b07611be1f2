/* dinoc train --config NAME|STEP.so|STEP.dnc [FIELD=VALUE...] [--data DIR] [--steps N | --epochs N]
 *             --out DIR [--resume] [--threads N] [--checkpoint-every N] [--seed S]
 *             [--progress bar|lines|none] [--no-plot] [--no-knn]
 *             [--knn-max-train N] [--knn-max-test N] [--profile] [--stop-on-collapse]
 * The DINOv2 training loop (tools/train/trainer.h, with the compiler:
 * tools/driver/train_config.h). SIGINT/SIGTERM finish the
 * current step, write a checkpoint and exit 130/143; a second signal, or one
 * during the k-NN evaluation after the loop, ends the process at once (the last
 * complete checkpoint stays valid: writes are atomic). Collapse (tools/train/collapse.h)
 * is reported on the progress line and in the summary; --stop-on-collapse ends
 * the loop there with a checkpoint (exit 0, the k-NN and plot still follow).
 * Under mpirun every rank runs this; an error on one ends them all (MPI_Abort). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "dc_world.h"
#include "train_args.h"
#include "train_config.h"

#ifndef DINOC_VERSION
#define DINOC_VERSION "dev"
#endif

enum { MAX_OVERRIDES = 128 };

static int parse_count(const char *s, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0)
        return 0;
    *out = v;
    return 1;
}

int cmd_train(int argc, char **argv)
{
    const char *overrides[MAX_OVERRIDES];
    /* k-NN on 10000 train and 2000 test images by default: a minute or two
     * after a run on two cores rather than ten on every image. */
    dc_train_options o = {.progress = DC_PROGRESS_AUTO, .plot = true, .knn = true,
                          .knn_max_train = 10000, .knn_max_test = 2000,
                          .version = DINOC_VERSION};
    long long v;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        int shared = dc_train_parse_arg(argc, argv, &i, &o);
        if (shared < 0)
            return dinoc_usage("train");
        if (shared > 0)
            continue;
        if (!strcmp(a, "--config") && next)
            o.config = argv[++i];
        else if (!strcmp(a, "--knn-max-train") && next && parse_count(next, &v) && ++i)
            o.knn_max_train = v;
        else if (!strcmp(a, "--knn-max-test") && next && parse_count(next, &v) && ++i)
            o.knn_max_test = v;
        else if (!strcmp(a, "--no-knn"))
            o.knn = false;
        else if (a[0] != '-' && strchr(a, '=') && o.n_overrides < MAX_OVERRIDES)
            overrides[o.n_overrides++] = a;
        else if (a[0] != '-' && !o.config)
            o.config = a;
        else
            return dinoc_usage("train");
    }
    if (!o.out_dir || (!o.config && !o.resume) || (o.steps && o.epochs))
        return dinoc_usage("train");
    o.overrides = overrides;
    o.stop = dc_train_catch_signals();

    dc_train_result r;
    dc_status st = dc_train(&o, &r);
    if (st != DC_OK) {
        if (dc_world_size() > 1) /* which process said it */
            dc_error_context(st, "rank %d of %d", dc_world_rank(), dc_world_size());
        int code = dinoc_fail("train");
        dc_world_abort(code); /* under mpirun the other ranks would wait for this one */
        return code;
    }
    dc_world_finalize();
    if (r.interrupted) {
        fprintf(stderr, "dinoc train: stopped by signal %d after step %lld; continue with --resume\n",
                r.signal, (long long)r.steps_done);
        return r.signal ? 128 + r.signal : 130;
    }
    if (r.stopped_on_collapse)
        fprintf(stderr, "dinoc train: stopped on collapse after step %lld of %lld\n",
                (long long)r.steps_done, (long long)r.total_steps);
    return 0;
}
