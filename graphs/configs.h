/* Named DINOv2 configurations and field overrides ("vit.embed_dim=192"). */
#ifndef DC_CONFIGS_H
#define DC_CONFIGS_H

#include <stdio.h>

#include "dc_status.h"
#include "dinov2_config.h"

/* Fills *out with the named config: "lightly-example", "lightly-benchmark",
 * "official", "fashion-mnist", "test-tiny", "test-sinkhorn". An unknown name
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
/* The names of the named configs, NULL-terminated. */
const char *const *dc_config_names(void);

#endif
