/* The training recipe: what the training loop (trainer.h) needs of a DINOv2
 * config, as plain data: the run's lengths, the schedules' constants
 * (graphs/DINOV2.md §5.3), the batch (shapes, augmentation, normalisation,
 * masks: dc_batch_spec), the collapse reference, and the config's text for
 * the checkpoints. A training step compiled by `dinoc compile --config`
 * carries it in its plan (dc_plan.recipe), so `dinort train` runs the step
 * without the compiler.
 *
 * Every value comes from the config: dinoc fills a recipe from one
 * (tools/driver/train_config.h); this file has no defaults of its own.
 *
 * Text form (what the plan stores): one "field = value" line per field of
 * the table in recipe.c (arrays as values separated by spaces, floats
 * printed so that they read back exactly), then a line "config:" and the
 * config's text to the end. Reading it back requires every field exactly
 * once; an unknown or missing field, or a value out of range, is an error
 * naming it. */
#ifndef DC_RECIPE_H
#define DC_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "dc_data.h"
#include "dc_status.h"

typedef struct dc_train_recipe {
    char name[64];             /* the config's name ("fashion-mnist") */
    /* Lengths (trainer.h): steps per epoch is epoch_length, or one pass
     * over the data when 0. */
    int epochs, epoch_length;
    /* The batch divided into micro-batches; AdamW moments sharded over the
     * processes (graphs/dinov2_config.h). */
    int grad_accum_steps;
    bool optimizer_sharding;
    bool masks_per_slice;      /* the batcher's mask_slices is then the slice count */
    /* The schedules (trainer.h: dc_train_schedule). */
    float lr, min_lr;
    int warmup_epochs, freeze_last_layer_epochs;
    float weight_decay, weight_decay_end;
    float teacher_temp, warmup_teacher_temp;
    int warmup_teacher_temp_epochs;
    float momentum_teacher, momentum_teacher_end;
    int head_output_dim;       /* K prototypes: ln K is the collapse reference */
    /* The batcher's settings (dc_data.h); slice_first, slice_count and
     * mask_slices are the run's, not the recipe's (0 here). */
    dc_batch_spec batch;
    char *config_text;         /* the config as dc_config_print writes it (owned) */
} dc_train_recipe;

/* The text form (above), malloc'ed; NULL when out of memory. */
char *dc_train_recipe_text(const dc_train_recipe *r);
/* Reads the text form into *out (its config_text malloc'ed); `what` names the
 * source in messages ("fm.so: training recipe: ..."). */
dc_status dc_train_recipe_parse(const char *text, const char *what, dc_train_recipe *out);
/* Sets the epochs, in the recipe and on the config text's "epochs = " line. */
dc_status dc_train_recipe_set_epochs(dc_train_recipe *r, int epochs);
/* Frees what the recipe owns (config_text); the recipe may be filled again. */
void dc_train_recipe_clear(dc_train_recipe *r);

#endif
