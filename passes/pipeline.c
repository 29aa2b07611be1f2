/* The pass manager: a table of passes and the two fixed orders (pipeline.h). */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "eliminate_common_subexpressions.h"
#include "eliminate_dead_code.h"
#include "fold_constants.h"
#include "fuse.h"
#include "infer_shapes.h"
#include "lower.h"
#include "schedule_collectives.h"

typedef struct run_state {
    dc_graph *g;
    const dc_pipeline_options *opt;
    bool fuse;
    dc_lowered lowered;
    FILE *log;
} run_state;

typedef enum pass_id {
    INFER_SHAPES,
    FOLD_CONSTANTS,
    ELIMINATE_DEAD_CODE,
    CSE,
    FUSE_FORWARD,
    MAKE_TRAINING_STEP,
    FUSE_FINAL,
    LOWER,
    SCHEDULE_COLLECTIVES,
    PLAN_MEMORY,
    N_PASSES
} pass_id;

static dc_status run_infer_shapes(run_state *r)
{
    DC_TRY(dc_graph_verify(r->g));
    return dc_infer_shapes(r->g);
}

static dc_status run_fold_constants(run_state *r)
{
    return dc_fold_constants(r->g);
}

static dc_status run_eliminate_dead_code(run_state *r)
{
    return dc_eliminate_dead_code(r->g);
}

static dc_status run_cse(run_state *r)
{
    int n;
    DC_TRY(dc_eliminate_common_subexpressions(r->g, &n));
    if (r->log && n)
        fprintf(r->log, "cse: %d nodes removed\n", n);
    return DC_OK;
}

static dc_status run_fuse(run_state *r, dc_fuse_stage stage)
{
    return r->fuse ? dc_fuse(r->g, stage, r->log, NULL) : DC_OK;
}

static dc_status run_fuse_forward(run_state *r)
{
    return run_fuse(r, DC_FUSE_FORWARD);
}

static dc_status run_fuse_final(run_state *r)
{
    return run_fuse(r, DC_FUSE_FINAL);
}

static dc_status run_training(run_state *r)
{
    const dc_graph_transform *t = r->opt->training;
    DC_TRY(t->apply(r->g, t->ctx));
    return dc_graph_verify(r->g);
}

static dc_status run_lower(run_state *r)
{
    return dc_lower(r->g, r->opt->producer, r->opt->explain, &r->lowered);
}

static dc_status run_schedule_collectives(run_state *r)
{
    dc_lowered *l = &r->lowered;
    return dc_schedule_collectives(l->plan, l->alias, l->in_place, r->opt->explain);
}

static dc_status run_plan_memory(run_state *r)
{
    dc_plan *p = r->lowered.plan;
    DC_TRY(dc_plan_memory(p, r->lowered.alias, r->lowered.in_place, r->opt->memory));
    return dc_plan_validate(p, "lowered plan");
}

static const struct {
    const char *name;
    dc_status (*run)(run_state *r);
} passes[N_PASSES] = {
    [INFER_SHAPES] = {"infer-shapes", run_infer_shapes},
    [FOLD_CONSTANTS] = {"fold-constants", run_fold_constants},
    [ELIMINATE_DEAD_CODE] = {"eliminate-dead-code", run_eliminate_dead_code},
    [CSE] = {"cse", run_cse},
    [FUSE_FORWARD] = {"fuse-forward", run_fuse_forward},
    [MAKE_TRAINING_STEP] = {"make-training-step", run_training},
    [FUSE_FINAL] = {"fuse-final", run_fuse_final},
    [LOWER] = {"lower", run_lower},
    [SCHEDULE_COLLECTIVES] = {"schedule-collectives", run_schedule_collectives},
    [PLAN_MEMORY] = {"plan-memory", run_plan_memory},
};

static const pass_id inference_order[] = {
    INFER_SHAPES, FOLD_CONSTANTS, ELIMINATE_DEAD_CODE, CSE, FUSE_FORWARD, FUSE_FINAL, LOWER,
    SCHEDULE_COLLECTIVES, PLAN_MEMORY,
};
static const pass_id training_order[] = {
    INFER_SHAPES,        CSE, FUSE_FORWARD, MAKE_TRAINING_STEP, INFER_SHAPES, FOLD_CONSTANTS,
    ELIMINATE_DEAD_CODE, CSE, FUSE_FINAL,   LOWER,              SCHEDULE_COLLECTIVES, PLAN_MEMORY,
};

static const dc_pipeline_options defaults = {0};

bool dc_pipeline_fuses(const dc_pipeline_options *opt)
{
    const char *env = getenv("DINOC_NO_FUSE");
    bool env_off = env && *env && strcmp(env, "0") != 0;
    return !(opt && opt->no_fuse) && !env_off;
}

static const pass_id *order_of(const dc_pipeline_options *opt, int *n)
{
    if (opt && opt->training) {
        *n = (int)(sizeof training_order / sizeof training_order[0]);
        return training_order;
    }
    *n = (int)(sizeof inference_order / sizeof inference_order[0]);
    return inference_order;
}

int dc_pipeline_order(const dc_pipeline_options *opt, const char **names, int max)
{
    int n;
    const pass_id *order = order_of(opt, &n);
    for (int i = 0; i < n && i < max; i++)
        names[i] = passes[order[i]].name;
    return n;
}

bool dc_pipeline_has_pass(const char *name)
{
    for (int i = 0; i < N_PASSES; i++)
        if (strcmp(passes[i].name, name) == 0)
            return true;
    return false;
}

static void print_steps(const dc_plan *p, FILE *out)
{
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        fprintf(out, "step %d %s '%s' %s(", i, st->op_type, st->node, st->kernel);
        for (int a = 0; a < st->n_inputs + st->n_outputs; a++)
            fprintf(out, "%s%s", a == st->n_inputs ? ") -> (" : a ? ", " : "",
                    st->args[a] >= 0 ? p->buffers[st->args[a]].name : "_");
        fprintf(out, ")\n");
    }
}

static void print_after(const run_state *r, pass_id id)
{
    const dc_pipeline_options *opt = r->opt;
    if (!opt->print_after || strcmp(opt->print_after, passes[id].name) != 0)
        return;
    FILE *out = opt->print_to ? opt->print_to : stdout;
    fprintf(out, "# IR after %s\n", passes[id].name);
    if (id == LOWER || id == SCHEDULE_COLLECTIVES)
        print_steps(r->lowered.plan, out);
    else if (id == PLAN_MEMORY)
        dc_plan_memory_print(r->lowered.plan, out);
    else
        dc_graph_print(r->g, out);
}

/* Runs the order up to and including pass `last`. */
static dc_status run_passes(run_state *r, pass_id last)
{
    int n;
    const pass_id *order = order_of(r->opt, &n);
    if (r->log) {
        fprintf(r->log, "passes:");
        for (int i = 0; i < n; i++) {
            fprintf(r->log, "%s %s%s", i ? "," : "", passes[order[i]].name,
                    !r->fuse && (order[i] == FUSE_FORWARD || order[i] == FUSE_FINAL) ? " (off)" : "");
            if (order[i] == last)
                break;
        }
        fprintf(r->log, "\n");
    }
    for (int i = 0; i < n; i++) {
        DC_TRY(passes[order[i]].run(r));
        print_after(r, order[i]);
        if (order[i] == last)
            break;
    }
    return DC_OK;
}

dc_status dc_pipeline_optimize(dc_graph *g, const dc_pipeline_options *opt)
{
    opt = opt ? opt : &defaults;
    if (opt->training)
        return dc_error(DC_ERR_INVALID, "graph '%s': a training step is compiled to a plan, "
                        "not optimized as a graph", g->name);
    run_state r = {.g = g, .opt = opt, .fuse = dc_pipeline_fuses(opt), .log = opt->log};
    return run_passes(&r, r.fuse ? FUSE_FINAL : CSE);
}

dc_status dc_pipeline_compile(dc_graph *g, const dc_pipeline_options *opt, dc_plan **out)
{
    *out = NULL;
    opt = opt ? opt : &defaults;
    run_state r = {.g = g, .opt = opt, .fuse = dc_pipeline_fuses(opt), .log = opt->log};
    dc_status s = run_passes(&r, PLAN_MEMORY);
    if (s == DC_OK) {
        *out = r.lowered.plan;
        r.lowered.plan = NULL;
    }
    dc_lowered_free(&r.lowered);
    return s;
}
