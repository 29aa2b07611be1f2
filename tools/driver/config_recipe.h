/* A DINOv2 config made into the training loop's recipe (tools/train/recipe.h):
 * the one place that says which config field feeds which recipe field, so
 * the defaults stay the config's (graphs/configs.c). */
#ifndef DC_CONFIG_RECIPE_H
#define DC_CONFIG_RECIPE_H

#include "dc_data.h"
#include "dinov2_config.h"
#include "recipe.h"

/* The recipe of config c: lengths, schedules, the batch (dc_train_batch_spec)
 * and its text. `dinoc compile --config` stores it in the plan. */
dc_status dc_train_recipe_from_config(const dc_dinov2_config *c, dc_train_recipe *out);

/* What the batcher of a run of config c makes: the step's shapes (batch,
 * crops, patch grid, masks, drop-path), the config's augmentation fields and
 * the normalisation `dinoc knn` evaluates with. */
void dc_train_batch_spec(const dc_dinov2_config *c, dc_batch_spec *spec);

#endif
