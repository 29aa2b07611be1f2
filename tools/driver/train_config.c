/* The compiler's part of `dinoc train` (train_config.h): configs made into
 * recipes and training steps, and the k-NN evaluation, for the loop's hooks
 * (dc_train_compiler). */
#include "train_config.h"

#include <stdlib.h>
#include <string.h>

#include "configs.h"
#include "dinov2.h"
#include "dinov2_step.h"
#include "knn.h"
#include "pipeline.h"

/* The config being trained, once the loop asked for its recipe. */
typedef struct compiler_state {
    dc_dinov2_config c;
} compiler_state;

static dc_status recipe(void *ctx, const dc_train_options *o, const char *stored,
                        const char *checkpoint, dc_train_recipe *out)
{
    compiler_state *x = ctx;
    if (o->config) {
        DC_TRY(dc_dinov2_config_load(o->config, o->overrides, o->n_overrides, &x->c));
    } else {
        dc_status cs = dc_config_from_text(stored, &x->c);
        if (cs != DC_OK)
            return dc_error_context(cs, "%s: metadata 'config'", checkpoint);
        for (int i = 0; i < o->n_overrides; i++)
            DC_TRY(dc_config_override(&x->c, o->overrides[i]));
        DC_TRY(dc_config_validate(&x->c));
    }
    return dc_train_recipe_from_config(&x->c, out);
}

typedef struct step_request {
    const dc_dinov2_config *c;
    dc_dinov2_slices slices;
    const char *resume;
} step_request;

/* The DINOv2 training step, then (when resuming) the checkpoint's state,
 * optimizer moments included, which exist only once the step is made. */
static dc_status make_step(dc_graph *g, void *ctx)
{
    const step_request *q = ctx;
    dc_dinov2_training t = {.config = q->c, .slices = q->slices};
    DC_TRY(dc_dinov2_add_training(g, &t));
    return q->resume ? dc_load_state(g, q->resume) : DC_OK;
}

static dc_status compile(void *ctx, const dc_train_slices *sl, uint64_t seed, const char *resume,
                         dc_plan **out)
{
    const compiler_state *x = ctx;
    step_request q = {&x->c, {sl->world_size, sl->accum_steps, sl->shard_optimizer, sl->rank},
                      resume};
    dc_dinov2_options gopt = {.training = false, .seed = seed, .teacher_similarity = true,
                              .slices = q.slices};
    dc_graph *g;
    DC_TRY(dc_dinov2_build(&x->c, &gopt, &g));
    dc_graph_transform step = {make_step, &q};
    dc_status s = dc_pipeline_compile(g, &(dc_pipeline_options){.training = &step}, out);
    dc_graph_destroy(g); /* the plan owns everything the session needs */
    return s;
}

static char *reprint(void *ctx, const char *stored)
{
    (void)ctx;
    dc_dinov2_config c;
    return dc_config_from_text(stored, &c) == DC_OK ? dc_config_text(&c) : NULL;
}

static dc_status evaluate(void *ctx, const dc_train_options *o, const char *checkpoint,
                          const char *data, dc_train_result *res)
{
    (void)ctx;
    dc_knn_result k;
    dc_knn_options ko = {.baselines = true, .threads = o->threads, .max_train = o->knn_max_train,
                         .max_test = o->knn_max_test};
    DC_TRY(dc_knn_evaluate_opts(checkpoint, data, data, &ko, &k));
    res->knn_done = true;
    res->knn_images[0] = k.n_train;
    res->knn_images[1] = k.n_test;
    res->knn_accuracy = 100 * k.top1;
    res->knn_baseline[0] = 100 * k.top1_raw;
    res->knn_baseline[1] = 100 * k.top1_random;
    res->knn_features = dc_knn_features_name(k.features);
    return DC_OK;
}

dc_status dc_train(const dc_train_options *opt, dc_train_result *result)
{
    compiler_state x;
    memset(&x, 0, sizeof x);
    dc_train_compiler cc = {recipe, compile, reprint, evaluate, &x};
    return dc_train_run(opt, &cc, result);
}
