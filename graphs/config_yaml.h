/* DINOv2 configs as YAML files, the way the official repository keeps its
 * recipes (`dinoc config NAME > my.yaml`, then `--config my.yaml`).
 *
 * A file is one mapping. "name" selects the named config the file starts
 * from; every other key is a field of the config by its printed name
 * (`dinoc config`), applied as an override in file order. A dotted field name
 * is written as nested mappings (vit.depth → `vit:` then `  depth: 4`), the
 * way the official configs group student/teacher/optim; a reader also takes
 * the dotted key itself (`vit.depth: 4`), and both at once. Values are plain
 * scalars, read exactly as FIELD=VALUE overrides read them. Comments are
 * allowed anywhere; the writer puts the config's note (quirks) in one.
 *
 * The writer goes over the config's field table (dc_config_print's lines), so
 * a new field appears in files without a change here. Errors are one line:
 * "FILE:LINE: ..." naming the key (unknown field, bad value, a sequence or
 * empty value, a duplicate key, a missing "name") or the YAML syntax problem. */
#ifndef DC_CONFIG_YAML_H
#define DC_CONFIG_YAML_H

#include <stdbool.h>
#include <stdio.h>

#include "dc_status.h"
#include "dinov2_config.h"

/* Writes c as YAML to out. */
dc_status dc_config_write_yaml(const dc_dinov2_config *c, FILE *out);

/* Reads a YAML file (validated, as dc_config_validate). */
dc_status dc_config_read_yaml(const char *path, dc_dinov2_config *out);

/* Whether a --config argument names a YAML file (it ends in .yaml or .yml). */
bool dc_config_is_yaml(const char *config);

#endif
