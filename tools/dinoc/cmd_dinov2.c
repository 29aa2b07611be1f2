/* The DINOv2 commands:
 *   dinoc config NAME [FIELD=VALUE...]             print a config with overrides as YAML
 *                                                  (graphs/config_yaml.h); NAME may be a
 *                                                  .yaml/.yml file wherever a config is taken;
 *                                                  --text: "field = value" lines instead
 *   dinoc graph --config NAME [FIELD=VALUE...] -o FILE.onnx [--inference]
 *                                                  write the declared training graph
 *   dinoc step --config NAME|STEP.so [FIELD=VALUE...] --init INIT.safetensors
 *              --batch BATCH.safetensors -o DIR    run exactly one training step (of a
 *                                                  config, or compiled: no gradients out)
 *              [--threads N] [--repeat N]          (--repeat: N more timed steps on
 *                                                  the same batch; prints their median)
 *              [--profile]                         (time per kernel of the timed steps)
 *   dinoc step --config NAME --list-state          the state tensors' names and types
 * Overrides are fields of dinov2_config.h by their printed names. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config_yaml.h"
#include "configs.h"
#include "dc_artifact.h"
#include "dinov2.h"
#include "dinov2_step.h"
#include "onnx_io.h"

enum { MAX_OVERRIDES = 128 };

typedef struct dinov2_args {
    const char *config, *out, *init, *batch;
    const char *overrides[MAX_OVERRIDES];
    int n_overrides;
    int threads, repeat;
    bool profile, list_state, inference, text;
} dinov2_args;

/* Parses the shared options; returns 0 on a usage error. */
static int parse_args(int argc, char **argv, dinov2_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--config") == 0 && v)
            a->config = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 && v)
            a->out = argv[++i];
        else if (strcmp(argv[i], "--init") == 0 && v)
            a->init = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && v)
            a->batch = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && v)
            a->threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && v)
            a->repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--profile") == 0)
            a->profile = true;
        else if (strcmp(argv[i], "--list-state") == 0)
            a->list_state = true;
        else if (strcmp(argv[i], "--inference") == 0)
            a->inference = true;
        else if (strcmp(argv[i], "--text") == 0)
            a->text = true;
        else if (strchr(argv[i], '=') && argv[i][0] != '-' && a->n_overrides < MAX_OVERRIDES)
            a->overrides[a->n_overrides++] = argv[i];
        else if (argv[i][0] != '-' && !a->config)
            a->config = argv[i];
        else
            return 0;
    }
    return a->config != NULL;
}

int cmd_config(int argc, char **argv)
{
    dinov2_args a = {0};
    if (!parse_args(argc, argv, &a))
        return dinoc_usage("config");
    dc_dinov2_config c;
    if (dc_dinov2_config_load(a.config, a.overrides, a.n_overrides, &c) != DC_OK)
        return dinoc_fail("config");
    if (a.text) { /* "field = value" lines, the form checkpoints store */
        dc_config_print(&c, stdout);
        return 0;
    }
    return dc_config_write_yaml(&c, stdout) == DC_OK ? 0 : dinoc_fail("config");
}

/* Builds the config's graph: training step (default) or the loss only. */
static dc_status build(const dinov2_args *a, bool training, dc_dinov2_config *c, dc_graph **g)
{
    DC_TRY(dc_dinov2_config_load(a->config, a->overrides, a->n_overrides, c));
    dc_dinov2_options opt = {.training = training, .seed = 0};
    return dc_dinov2_build(c, &opt, g);
}

int cmd_graph(int argc, char **argv)
{
    dinov2_args a = {0};
    if (!parse_args(argc, argv, &a) || !a.out)
        return dinoc_usage("graph");
    dc_dinov2_config c;
    dc_graph *g;
    if (build(&a, !a.inference, &c, &g) != DC_OK)
        return dinoc_fail("graph");
    dc_status s = dc_onnx_save(g, a.out);
    if (s == DC_OK)
        printf("%s: %d nodes, %d initializers, %d state updates\n", a.out, g->n_nodes,
               g->n_initializers, g->n_state_updates);
    dc_graph_destroy(g);
    return s == DC_OK ? 0 : dinoc_fail("graph");
}

static void list_state(const dc_graph *g)
{
    char ty[128];
    for (int i = 0; i < g->n_initializers; i++)
        if (g->initializers[i]->is_state)
            printf("%s %s\n", g->initializers[i]->name,
                   dc_type_str(&g->initializers[i]->type, ty, sizeof ty));
}

int cmd_step(int argc, char **argv)
{
    dinov2_args a = {0};
    if (!parse_args(argc, argv, &a))
        return dinoc_usage("step");
    if (a.list_state) {
        dc_dinov2_config c;
        dc_graph *g;
        if (build(&a, true, &c, &g) != DC_OK)
            return dinoc_fail("step");
        list_state(g);
        dc_graph_destroy(g);
        return 0;
    }
    if (!a.init || !a.batch || !a.out)
        return dinoc_usage("step");
    dc_dinov2_step_options opt = {.threads = a.threads, .repeat = a.repeat,
                                   .profile = a.profile};
    if (dc_dinov2_step(a.config, a.overrides, a.n_overrides, a.init, a.batch, a.out, &opt) !=
        DC_OK)
        return dinoc_fail("step");
    printf("%s: losses.json, %sstate.safetensors\n", a.out,
           dc_artifact_is_file(a.config) ? "" : "gradients.safetensors, ");
    const dc_session_memory *m = &opt.memory;
    printf("memory: arena %.1f MB, state %.1f MB, constants %.1f MB, oneDNN scratchpad %.1f MB "
           "(one per primitive: %.1f MB)\n", (double)m->region_bytes[DC_REGION_ARENA] / 1e6,
           (double)m->region_bytes[DC_REGION_STATE] / 1e6,
           (double)m->region_bytes[DC_REGION_CONST] / 1e6, (double)m->scratchpad_bytes / 1e6,
           (double)m->scratchpad_sum / 1e6);
    if (a.repeat > 0)
        printf("time: median_ms=%.3f min_ms=%.3f over %d runs\n", opt.median_ms, opt.min_ms,
               a.repeat);
    return 0;
}
