#include "compile_step.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_recipe.h"
#include "dinov2.h"
#include "dinov2_step.h"

/* Student parameters by part: "student.backbone." and the heads. */
static void print_parameter_counts(const dc_graph *g, FILE *out)
{
    uint64_t backbone = 0, heads = 0;
    for (int i = 0; i < g->n_initializers; i++) {
        const dc_value *v = g->initializers[i];
        if (!v->is_state || strncmp(v->name, "student.", 8) != 0 || strstr(v->name, ".exp_avg"))
            continue;
        uint64_t n = dc_tensor_numel(v->constant);
        if (strncmp(v->name, "student.backbone.", 17) == 0)
            backbone += n;
        else
            heads += n;
    }
    fprintf(out, "parameters: %" PRIu64 " per backbone, %" PRIu64 " in the student heads, %" PRIu64
           " trained (teacher: the same again, updated by EMA)\n", backbone, heads, backbone + heads);
}

dc_status dc_dinov2_compile_step(const char *name, const char *const *overrides, int n_overrides,
                                 int ranks, dc_pipeline_options *popt, dc_plan **plan)
{
    dc_dinov2_config c;
    DC_TRY(dc_dinov2_config_load(name, overrides, n_overrides, &c));
    dc_dinov2_slices slices = {0};
    if (ranks > 1 || c.grad_accum_steps > 1) {
        if (c.batch_size % (ranks * c.grad_accum_steps) != 0)
            return dc_error(DC_ERR_INVALID, "batch_size %d is not divisible by %d processes x "
                            "grad_accum_steps %d", c.batch_size, ranks, c.grad_accum_steps);
        slices = (dc_dinov2_slices){ranks, c.grad_accum_steps, c.optimizer_sharding, 0};
    }
    dc_dinov2_options opt = {.training = false, .seed = 0, .slices = slices};
    dc_graph *g;
    DC_TRY(dc_dinov2_build(&c, &opt, &g));
    if (popt->log)
        print_parameter_counts(g, popt->log);
    /* The recipe travels with the artifact so `dinoc train` and `dinort
     * train` can run it without the config. */
    dc_train_recipe recipe;
    char *producer = NULL, *recipe_text = NULL;
    dc_status s = dc_train_recipe_from_config(&c, &recipe);
    if (s == DC_OK && (!(recipe_text = dc_train_recipe_text(&recipe)) ||
                       asprintf(&producer, "dinoc DINOv2 training step, config %s", name) < 0))
        s = dc_error(DC_ERR_NOMEM, "producer and recipe text");
    dc_train_recipe_clear(&recipe);
    if (s != DC_OK) {
        free(recipe_text);
        dc_graph_destroy(g);
        return s;
    }
    dc_dinov2_training training = {.config = &c, .slices = slices};
    dc_graph_transform step = {dc_dinov2_add_training, &training};
    popt->training = &step;
    popt->producer = producer;
    s = dc_pipeline_compile(g, popt, plan);
    popt->training = NULL;
    popt->producer = NULL;
    free(producer);
    dc_graph_destroy(g);
    if (s == DC_OK)
        (*plan)->recipe = recipe_text;
    else
        free(recipe_text);
    return s;
}
