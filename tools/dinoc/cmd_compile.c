/* dinoc compile MODEL.onnx -o OUT.dnc [--explain] [--train [TRAINING OPTIONS]]
 * dinoc compile --config NAME [FIELD=VALUE...] [--ranks N] -o OUT.dnc [--explain]
 * (both: [--no-fuse] [--print-after PASS]; -o OUT.so [--target T]: a shared
 * object with generated kernels, codegen.h):
 * compile an ONNX model, or a config's DINOv2 training step, through the pass
 * pipeline (pipeline.h) to a plan artifact and say what it became: the
 * passes, steps, kernels per backend, memory. With --train the plan is one
 * training step of the model's scalar loss: gradients, clipping (one global
 * norm, or --clip-group sets each by its own norm) and AdamW (training.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "commands.h"
#include "compile_step.h"
#include "pipeline.h"
#include "run_model.h"
#include "training.h"

enum { MAX_PATTERNS = 64 };

typedef struct train_request {
    dc_train_options opt;
    const char *frozen[MAX_PATTERNS];
    dc_param_group groups[MAX_PATTERNS];
    dc_clip_group clip_groups[MAX_PATTERNS];
    int n_trained;
} train_request;

static dc_status apply_training(dc_graph *g, void *ctx)
{
    train_request *t = ctx;
    return dc_make_training_step(g, &t->opt, &t->n_trained);
}

/* "--group PATTERN:lr_scale=X,decay=0|1" */
static int parse_group(const char *spec, dc_param_group *grp)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return 0;
    *grp = (dc_param_group){.pattern = strndup(spec, (size_t)(colon - spec)), .lr_scale = 1,
                            .weight_decay = true};
    for (const char *p = colon + 1; *p;) {
        char *end;
        if (strncmp(p, "lr_scale=", 9) == 0)
            grp->lr_scale = strtof(p + 9, &end);
        else if (strncmp(p, "decay=", 6) == 0)
            grp->weight_decay = strtol(p + 6, &end, 10) != 0;
        else
            return 0;
        if (*end != ',' && *end != '\0')
            return 0;
        p = *end ? end + 1 : end;
    }
    return grp->pattern != NULL;
}

/* "--clip-group PATTERN:NORM" */
static int parse_clip_group(const char *spec, dc_clip_group *grp)
{
    const char *colon = strrchr(spec, ':');
    char *end;
    if (!colon || colon == spec)
        return 0;
    grp->max_norm = strtof(colon + 1, &end);
    if (end == colon + 1 || *end || !(grp->max_norm >= 0))
        return 0;
    grp->pattern = strndup(spec, (size_t)(colon - spec));
    return grp->pattern != NULL;
}

/* Training options; returns 0 for a usage error. */
static int parse_train_option(int argc, char **argv, int *i, train_request *t)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    dc_train_options *o = &t->opt;
    if (!v)
        return 0;
    if (strcmp(a, "--loss") == 0)
        o->loss = v;
    else if (strcmp(a, "--freeze") == 0 && o->n_frozen < MAX_PATTERNS)
        t->frozen[o->n_frozen++] = v;
    else if (strcmp(a, "--group") == 0 && o->adamw.n_groups < MAX_PATTERNS)
        return parse_group(v, &t->groups[o->adamw.n_groups++]) ? (++*i, 1) : 0;
    else if (strcmp(a, "--clip") == 0)
        o->adamw.clip_norm = strtof(v, NULL);
    else if (strcmp(a, "--clip-group") == 0 && o->adamw.n_clip_groups < MAX_PATTERNS)
        return parse_clip_group(v, &t->clip_groups[o->adamw.n_clip_groups++]) ? (++*i, 1) : 0;
    else if (strcmp(a, "--betas") == 0)
        return sscanf(v, "%f,%f", &o->adamw.beta1, &o->adamw.beta2) == 2 ? (++*i, 1) : 0;
    else if (strcmp(a, "--eps") == 0)
        o->adamw.epsilon = strtof(v, NULL);
    else
        return 0;
    ++*i;
    return 1;
}

/* "dnnl 40, c 12": steps per backend (the kernel name's prefix), in first-seen order. */
static void print_backends(const dc_plan *plan)
{
    enum { MAX_BACKENDS = 8 };
    const char *name[MAX_BACKENDS];
    size_t len[MAX_BACKENDS];
    int count[MAX_BACKENDS], n = 0;
    for (int i = 0; i < plan->n_steps; i++) {
        const char *k = plan->steps[i].kernel;
        size_t l = strcspn(k, ".");
        int b = 0;
        while (b < n && !(len[b] == l && strncmp(name[b], k, l) == 0))
            b++;
        if (b == n && n == MAX_BACKENDS)
            continue;
        if (b == n) {
            name[n] = k;
            len[n] = l;
            count[n++] = 0;
        }
        count[b]++;
    }
    printf("kernels:");
    for (int b = 0; b < n; b++)
        printf("%s %.*s %d", b ? "," : "", (int)len[b], name[b], count[b]);
    printf("%s\n", n ? "" : " none");
}

int cmd_compile(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *config = NULL, *overrides[64], *print_after = NULL,
               *target = NULL;
    int explain = 0, train = 0, n_overrides = 0, no_fuse = 0, ranks = 1;
    train_request t = {.opt = {.frozen = t.frozen,
                               .adamw = {.groups = t.groups, .clip_groups = t.clip_groups}}};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !out)
            out = argv[++i];
        else if (strcmp(argv[i], "--explain") == 0)
            explain = 1;
        else if (strcmp(argv[i], "--train") == 0)
            train = 1;
        else if (strcmp(argv[i], "--no-fuse") == 0)
            no_fuse = 1;
        else if (strcmp(argv[i], "--print-after") == 0 && i + 1 < argc && !print_after)
            print_after = argv[++i];
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc && !target)
            target = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && !config)
            config = argv[++i];
        else if (strcmp(argv[i], "--ranks") == 0 && i + 1 < argc && ranks == 1)
            ranks = atoi(argv[++i]);
        else if (config && strchr(argv[i], '=') && argv[i][0] != '-' && n_overrides < 64)
            overrides[n_overrides++] = argv[i];
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else if (!parse_train_option(argc, argv, &i, &t))
            return dinoc_usage("compile");
    }
    size_t out_len = out ? strlen(out) : 0;
    bool shared_object = out_len > 3 && strcmp(out + out_len - 3, ".so") == 0;
    if (!(model || config) || (model && config) || !out || (target && !shared_object) ||
        ranks < 1 || ranks > 1 << 16 || (ranks > 1 && !config))
        return dinoc_usage("compile");
    if (print_after && !dc_pipeline_has_pass(print_after)) {
        fprintf(stderr, "dinoc compile: --print-after: no pass named '%s'\n", print_after);
        return dinoc_usage("compile");
    }
    dc_graph_transform training = {apply_training, &t};
    dc_memory_stats mem;
    dc_plan *plan;
    dc_pipeline_options popt = {.training = train ? &training : NULL, .no_fuse = no_fuse,
                                .print_after = print_after, .log = stdout,
                                .explain = explain ? stdout : NULL, .memory = &mem};
    dc_status s = config ? dc_dinov2_compile_step(config, overrides, n_overrides, ranks, &popt, &plan)
                         : dc_compile_onnx(model, NULL, 0, NULL, &popt, &plan);
    for (int i = 0; i < t.opt.adamw.n_groups; i++)
        free((char *)t.groups[i].pattern);
    for (int i = 0; i < t.opt.adamw.n_clip_groups; i++)
        free((char *)t.clip_groups[i].pattern);
    if (s != DC_OK)
        return dinoc_fail("compile");
    int n_generated = 0;
    dc_codegen_options copt = {.target = target, .explain = explain ? stdout : NULL};
    s = shared_object ? dc_codegen_write_artifact(plan, &copt, out, &n_generated)
                      : dc_plan_write(plan, out);
    if (s == DC_OK) {
        printf("%s: %d steps\n", out, plan->n_steps);
        if (shared_object)
            printf("generated: %d kernels for %s\n", n_generated, target ? target : "native");
        if (train)
            printf("training: %d parameters\n", t.n_trained);
        if (train || config)
            printf("state: %" PRIu64 " bytes (parameters, moments, centers)\n",
                   plan->region_bytes[DC_REGION_STATE]);
        print_backends(plan);
        printf("memory: planned peak %" PRIu64 " bytes (largest live set %" PRIu64
               " bytes, sum of intermediates %" PRIu64 " bytes, %d steps in place), constants %"
               PRIu64 " bytes\n", mem.peak_bytes, mem.live_bytes, mem.naive_bytes, mem.n_inplace,
               plan->region_bytes[DC_REGION_CONST]);
    }
    dc_plan_destroy(plan);
    return s == DC_OK ? 0 : dinoc_fail("compile");
}
