/* Named DINOv2 configurations and field overrides ("vit.embed_dim=192"). */
#ifndef DC_CONFIGS_H
#define DC_CONFIGS_H

#include <stdio.h>

#include "dc_safetensors.h"
#include "dc_status.h"
#include "dinov2_config.h"

/* Fills *out with the named config: "lightly-example", "lightly-benchmark",
 * "official", "fashion-mnist", "fashion-mnist-long", "test-tiny", "test-sinkhorn". An unknown name
 * is an error listing the known ones. */
dc_status dc_config_named(const char *name, dc_dinov2_config *out);
/* Applies one "field=value" override, e.g. "batch_size=32", "vit.depth=6",
 * "centering=sinkhorn"; an unknown field or a bad value is an error naming it. */
dc_status dc_config_override(dc_dinov2_config *c, const char *assignment);
/* Checks the fields fit together (embed_dim divisible by heads, crops
 * divisible by the patch, ...): the first problem, named. */
dc_status dc_config_validate(const dc_dinov2_config *c);
/* Every field as "name = value" lines (also the form stored in checkpoints). */
void dc_config_print(const dc_dinov2_config *c, FILE *out);
/* The same lines in one malloc'ed string (the caller frees it), or NULL
 * when out of memory. */
char *dc_config_text(const dc_dinov2_config *c);
/* The inverse of dc_config_print (a checkpoint's "config" metadata): the
 * "name = NAME" line selects the named config, every other "field = value"
 * line is applied as an override; blank lines and '#' comments are skipped.
 * The result is validated. Errors give the line. */
dc_status dc_config_from_text(const char *text, dc_dinov2_config *out);
/* The config a checkpoint of `dinoc train` carries in its "config"
 * metadata; an error when it has none. */
dc_status dc_config_of_checkpoint(const dc_safetensors *ckpt, dc_dinov2_config *out);
/* The input normalisation for [0, 1] pixels, per channel (entries past
 * vit.in_chans are 0 / 1): ImageNet's mean (0.485, 0.456, 0.406) and std
 * (0.229, 0.224, 0.225) for colour, as Lightly and timm; for one channel
 * Fashion-MNIST's statistics, mean 0.2860 and std 0.3530 (the grey dataset
 * dinoc embeds). Training (dc_batch_spec) and evaluation (dinoc knn) both use it. */
void dc_config_normalization(const dc_dinov2_config *c, float mean[3], float std[3]);
/* The names of the named configs, NULL-terminated. */
const char *const *dc_config_names(void);

#endif
