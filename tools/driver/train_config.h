/* `dinoc train`: the training loop (tools/train/trainer.h) with dinoc's
 * compiler, so it also trains from a config: a named config or YAML recipe
 * with overrides (or, resuming, the checkpoint's config) becomes the loop's
 * recipe and is compiled into the training step of this process's slice of
 * the batch; the k-NN evaluation at the end builds the teacher's backbone.
 * A compiled step (.so, .dnc) runs as in `dinort train`. */
#ifndef DC_TRAIN_CONFIG_H
#define DC_TRAIN_CONFIG_H

#include "config_recipe.h"
#include "trainer.h"

/* Trains (trainer.h); opt->config is a named config, a YAML file or a
 * compiled step, or NULL when resuming (the checkpoint's config). */
dc_status dc_train(const dc_train_options *opt, dc_train_result *result);

#endif
