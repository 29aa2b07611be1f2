/* dinort: the lean runtime program. It runs and trains compiled artifacts
 * (the shared objects `dinoc compile -o STEP.so` writes, and .dnc plans) with
 * libdinort alone (and the training loop, libdinotrain, built on it): no
 * compiler, no LLVM, no protobuf, so it is what goes to the machine that only
 * runs.
 *
 *   dinort run STEP.so -i NAME=FILE ... [-i FILE.safetensors] -o DIR
 *              [--safetensors] [--steps N] [--threads N]
 * Inputs: a NAME=FILE is a NumPy .npy file, or a safetensors file holding a
 * tensor of that name (or only one tensor); a bare FILE.safetensors gives
 * every tensor in it as the input of its name. Outputs: DIR/<name>.npy each,
 * or DIR/outputs.safetensors with --safetensors. --steps N runs the plan N
 * times (a training step advances its state each time) and prints each run's
 * scalar outputs.
 *
 *   dinort train STEP.so [--data DIR] [--steps N | --epochs N] --out DIR [--resume] ...
 * The training loop of `dinoc train` (tools/train/trainer.h) over a step
 * compiled with `dinoc compile --config NAME`, whose plan carries the recipe
 * (schedules, augmentation, lengths): the same batches, metrics.csv,
 * checkpoints and resume. SIGINT/SIGTERM stop it after the current step with
 * a checkpoint (exit 130/143). Without the compiler there are no config
 * overrides and no k-NN evaluation at the end (`dinoc knn` evaluates the
 * checkpoint anywhere). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dc_artifact.h"
#include "dc_kernel.h"
#include "dc_npy.h"
#include "dc_safetensors.h"
#include "dc_session.h"
#include "dc_world.h"
#include "train_args.h"

#ifndef DINOC_VERSION
#define DINOC_VERSION "dev"
#endif

static const char usage_run[] =
    "dinort run STEP.so|PLAN.dnc -i NAME=FILE.npy|FILE.safetensors ... [-i FILE.safetensors]\n"
    "           -o DIR [--safetensors] [--steps N] [--threads N]";

static const char usage_train[] = "dinort train STEP.so|STEP.dnc " DC_TRAIN_ARGS_USAGE;

static void print_help(FILE *out)
{
    fprintf(out, "dinort %s: run compiled dinoc artifacts (libdinort alone: no compiler, no LLVM)\n\n"
                 "usage:\n  %s\n      run the artifact on tensor files; outputs as DIR/<name>.npy "
                 "(or DIR/outputs.safetensors)\n  %s\n      train a step compiled with dinoc "
                 "compile --config NAME: checkpoints and metrics.csv in DIR\n"
                 "  dinort version\n  dinort help\n",
            DINOC_VERSION, usage_run, usage_train);
}

static int usage_of(const char *text)
{
    fprintf(stderr, "usage: %s\n", text);
    return 2;
}

static int usage(void)
{
    return usage_of(usage_run);
}

static int fail(const char *cmd)
{
    fprintf(stderr, "dinort %s: %s\n", cmd, dc_error_message());
    return 1;
}

/* The inputs given so far, named. */
typedef struct inputs {
    dc_tensor **t;
    int n, cap;
} inputs;

static dc_status add_input(inputs *in, dc_tensor *t)
{
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 8;
        dc_tensor **p = realloc(in->t, (size_t)cap * sizeof *p);
        if (!p) {
            dc_tensor_destroy(t);
            return dc_error(DC_ERR_NOMEM, "inputs");
        }
        in->t = p;
        in->cap = cap;
    }
    in->t[in->n++] = t;
    return DC_OK;
}

static bool is_npy(const char *path)
{
    char magic[6];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(magic, 1, 6, f) == 6 && memcmp(magic, "\x93NUMPY", 6) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* A copy of tensor `t` named `name`. */
static dc_status renamed(const dc_tensor *t, const char *name, dc_tensor **out)
{
    DC_TRY(dc_tensor_create(out, name, t->dtype, t->rank, t->dims));
    if (t->nbytes)
        memcpy((*out)->data, t->data, t->nbytes);
    return DC_OK;
}

/* The tensors of `path` for "-i NAME=path" (name given: that tensor, or
 * the file's only one) or "-i path" (every tensor, by its name). */
static dc_status read_safetensors(const char *path, const char *name, inputs *in)
{
    dc_safetensors *st;
    DC_TRY(dc_safetensors_load(path, &st));
    dc_status s = DC_OK;
    if (name) {
        const dc_tensor *t = dc_safetensors_get(st, name);
        if (!t && st->n_tensors == 1)
            t = st->tensors[0];
        dc_tensor *copy = NULL;
        s = t ? renamed(t, name, &copy)
              : dc_error(DC_ERR_INVALID, "%s: no tensor '%s' among its %d", path, name,
                         st->n_tensors);
        if (s == DC_OK)
            s = add_input(in, copy);
    }
    for (int i = 0; !name && s == DC_OK && i < st->n_tensors; i++) {
        dc_tensor *copy;
        s = renamed(st->tensors[i], st->tensors[i]->name, &copy);
        if (s == DC_OK)
            s = add_input(in, copy);
    }
    dc_safetensors_destroy(st);
    return s;
}

/* "-i NAME=FILE" or "-i FILE.safetensors". */
static dc_status read_input(const char *spec, inputs *in)
{
    const char *eq = strchr(spec, '=');
    const char *path = eq ? eq + 1 : spec;
    if (eq && (eq == spec || !eq[1]))
        return dc_error(DC_ERR_INVALID, "-i '%s': expected NAME=FILE or FILE.safetensors", spec);
    char *name = eq ? strndup(spec, (size_t)(eq - spec)) : NULL;
    if (eq && !name)
        return dc_error(DC_ERR_NOMEM, "input name");
    dc_status s;
    if (name && is_npy(path)) {
        dc_tensor *t, *named = NULL;
        s = dc_npy_load(path, &t);
        if (s == DC_OK) {
            s = renamed(t, name, &named);
            dc_tensor_destroy(t);
        }
        if (s == DC_OK)
            s = add_input(in, named);
    } else {
        s = read_safetensors(path, name, in);
    }
    free(name);
    return s == DC_OK ? DC_OK : dc_error_context(s, "-i %s", spec);
}

/* Every plan input given exactly once, then copied into the session. */
static dc_status set_inputs(dc_session *sess, const dc_plan *plan, const inputs *in)
{
    for (int i = 0; i < in->n; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(in->t[k]->name, in->t[i]->name) == 0)
                return dc_error(DC_ERR_INVALID, "input '%s' is given twice", in->t[i]->name);
    for (int p = 0; p < plan->n_inputs; p++) {
        bool given = false;
        for (int i = 0; i < in->n && !given; i++)
            given = strcmp(in->t[i]->name, plan->inputs[p].name) == 0;
        if (!given)
            return dc_error(DC_ERR_INVALID, "input '%s' is missing", plan->inputs[p].name);
    }
    for (int i = 0; i < in->n; i++)
        DC_TRY(dc_session_set_input(sess, in->t[i]->name, in->t[i]));
    return DC_OK;
}

/* "run 2: loss=0.41 dino_loss=..." for the plan's scalar float outputs. */
static void print_scalars(dc_session *sess, const dc_plan *plan, int run)
{
    printf("run %d:", run);
    for (int i = 0; i < plan->n_outputs; i++) {
        const dc_plan_buffer *b = &plan->buffers[plan->outputs[i].buffer];
        if (b->dtype != DC_F32 || b->nbytes != 4)
            continue;
        printf(" %s=%.6g", plan->outputs[i].name,
               *(const float *)dc_session_buffer(sess, plan->outputs[i].buffer));
    }
    putchar('\n');
}

/* DIR/<name>.npy, '/' in a name made '_' so each output stays one file. */
static dc_status write_npy(const char *dir, const dc_tensor *t)
{
    size_t n = strlen(dir) + strlen(t->name) + 6;
    char *path = malloc(n);
    if (!path)
        return dc_error(DC_ERR_NOMEM, "output path");
    snprintf(path, n, "%s/%s.npy", dir, t->name);
    for (char *c = path + strlen(dir) + 1; *c; c++)
        *c = *c == '/' ? '_' : *c;
    dc_status s = dc_npy_save(t, path);
    if (s == DC_OK)
        printf("%s -> %s\n", t->name, path);
    free(path);
    return s;
}

static dc_status write_outputs(dc_session *sess, const dc_plan *plan, const char *dir,
                               bool safetensors)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dc_error(DC_ERR_IO, "%s: %s", dir, strerror(errno));
    dc_tensor **outs = calloc(plan->n_outputs ? (size_t)plan->n_outputs : 1, sizeof *outs);
    if (!outs)
        return dc_error(DC_ERR_NOMEM, "%d outputs", plan->n_outputs);
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < plan->n_outputs; i++)
        s = dc_session_get_output(sess, i, &outs[i]);
    for (int i = 0; !safetensors && s == DC_OK && i < plan->n_outputs; i++)
        s = write_npy(dir, outs[i]);
    if (safetensors && s == DC_OK) {
        size_t n = strlen(dir) + 32;
        char *path = malloc(n);
        s = path ? DC_OK : dc_error(DC_ERR_NOMEM, "output path");
        if (s == DC_OK) {
            snprintf(path, n, "%s/outputs.safetensors", dir);
            s = dc_safetensors_save(path, outs, plan->n_outputs, NULL, NULL, 0);
            if (s == DC_OK)
                printf("%d outputs -> %s\n", plan->n_outputs, path);
        }
        free(path);
    }
    for (int i = 0; i < plan->n_outputs; i++)
        dc_tensor_destroy(outs[i]);
    free(outs);
    return s;
}

static dc_status run_artifact(const char *path, const inputs *in, const char *dir, int steps,
                              int threads, bool safetensors)
{
    dc_artifact *a;
    DC_TRY(dc_artifact_open(path, &a));
    const dc_plan *plan = dc_artifact_plan(a);
    dc_session *sess = NULL;
    dc_status s = dc_session_create_artifact(a, threads, &sess);
    if (s == DC_OK)
        s = set_inputs(sess, plan, in);
    for (int i = 0; s == DC_OK && i < steps; i++) {
        s = dc_session_run(sess);
        if (s == DC_OK && steps > 1)
            print_scalars(sess, plan, i + 1);
    }
    if (s == DC_OK)
        s = write_outputs(sess, plan, dir, safetensors);
    dc_session_destroy(sess);
    dc_artifact_close(a);
    return s;
}

/* A whole decimal number >= min, or -1. */
static int count_arg(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= min && v <= 1000000000 ? (int)v : -1;
}

static int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *dir = NULL;
    int steps = 1, threads = 0;
    bool safetensors = false;
    inputs in = {0};
    dc_status s = DC_OK;
    int rc = -1;
    for (int i = 0; rc < 0 && s == DC_OK && i < argc; i++) {
        if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
            s = read_input(argv[++i], &in);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !dir)
            dir = argv[++i];
        else if (strcmp(argv[i], "--safetensors") == 0)
            safetensors = true;
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            rc = (steps = count_arg(argv[++i], 1)) < 0 ? usage() : -1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            rc = (threads = count_arg(argv[++i], 0)) < 0 ? usage() : -1;
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            rc = usage();
    }
    if (rc < 0 && s != DC_OK)
        rc = fail("run");
    else if (rc < 0 && (!model || !dir))
        rc = usage();
    else if (rc < 0)
        rc = run_artifact(model, &in, dir, steps, threads, safetensors) == DC_OK ? 0 : fail("run");
    for (int i = 0; i < in.n; i++)
        dc_tensor_destroy(in.t[i]);
    free(in.t);
    return rc;
}

static int cmd_train(int argc, char **argv)
{
    dc_train_options o = {.progress = DC_PROGRESS_AUTO, .plot = true, .version = DINOC_VERSION,
                          .program = "dinort train"};
    for (int i = 0; i < argc; i++) {
        int shared = dc_train_parse_arg(argc, argv, &i, &o);
        if (shared < 0)
            return usage_of(usage_train);
        if (shared == 0 && (argv[i][0] == '-' || o.config))
            return usage_of(usage_train);
        if (shared == 0)
            o.config = argv[i];
    }
    if (!o.config || !o.out_dir || (o.steps && o.epochs))
        return usage_of(usage_train);
    o.stop = dc_train_catch_signals();
    dc_train_result r;
    dc_status st = dc_train_run(&o, NULL, &r);
    if (st != DC_OK) {
        if (dc_world_size() > 1) /* which process said it */
            dc_error_context(st, "rank %d of %d", dc_world_rank(), dc_world_size());
        int code = fail("train");
        dc_world_abort(code); /* under mpirun the other ranks would wait for this one */
        return code;
    }
    dc_world_finalize();
    if (r.interrupted) {
        fprintf(stderr, "dinort train: stopped by signal %d after step %lld; continue with --resume\n",
                r.signal, (long long)r.steps_done);
        return r.signal ? 128 + r.signal : 130;
    }
    if (r.stopped_on_collapse)
        fprintf(stderr, "dinort train: stopped on collapse after step %lld of %lld\n",
                (long long)r.steps_done, (long long)r.total_steps);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(stdout);
            return 0;
        }
    if (cmd && strcmp(cmd, "help") == 0 && argc == 2) {
        print_help(stdout);
        return 0;
    }
    if (cmd && (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) && argc == 2) {
        char onednn[32];
        dc_onednn_version(onednn, sizeof onednn);
        printf("dinort %s\noneDNN %s\nartifact ABI %s\n", DINOC_VERSION, onednn, DC_ARTIFACT_ABI);
        return 0;
    }
    if (cmd && strcmp(cmd, "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (cmd && strcmp(cmd, "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (cmd)
        fprintf(stderr, "dinort: unknown command '%s'\n", cmd);
    print_help(stderr);
    return 2;
}
