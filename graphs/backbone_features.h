/* A checkpoint's teacher backbone as a compiled feature extractor, for the
 * evaluations that look at what was learned (k-NN, patch-feature PCA):
 *
 *   in   images f32 [batch, C, S, S] (the evaluation transform's output),
 *   out  f32 [batch, dim]:  cls             the final LayerNorm's row 0, dim D
 *                           mean patch      the mean of its patch rows, dim D
 *                           cls + mean patch both concatenated, dim 2·D
 *        f32 [batch, N, D]: patch tokens    every patch row (N = (S/p)²)
 *
 * The graph is the ViT of the checkpoint's config with the weights as
 * constants, folded (what depends on the weights alone, as the position
 * embedding, is computed once), lowered to one plan at the full batch and run
 * in one session for every batch: compiled once, never per batch. */
#ifndef DC_BACKBONE_FEATURES_H
#define DC_BACKBONE_FEATURES_H

#include <stdint.h>

#include "dc_plan.h"
#include "dc_safetensors.h"
#include "dc_session.h"
#include "dinov2_config.h"

typedef enum dc_backbone_output {
    DC_BACKBONE_CLS = DC_KNN_CLS,
    DC_BACKBONE_PATCH_MEAN = DC_KNN_PATCH,
    DC_BACKBONE_CLS_PATCH_MEAN = DC_KNN_BOTH,
    DC_BACKBONE_PATCH_TOKENS,
} dc_backbone_output;

typedef struct dc_backbone_features {
    dc_plan *plan;
    dc_session *sess;
    float *images;   /* the session's input buffer [batch, C, S, S] */
    const float *out; /* its output buffer [batch, per_image] */
    int batch;
    int64_t per_image; /* values of the output per image: dim, or N·D for the patch tokens */
} dc_backbone_features;

/* Compiles the backbone of `ckpt` (tensors under `prefix`, e.g.
 * "teacher.backbone."; `path` names it in errors), or with ckpt NULL dinoc's
 * initialisation with seed 0 (the untrained baseline). `threads` <= 0: every core.
 * Errors name the file and the tensor that does not fit the config. */
dc_status dc_backbone_features_create(const dc_dinov2_config *c, const dc_safetensors *ckpt,
                                      const char *path, const char *prefix, int batch,
                                      dc_backbone_output what, int threads,
                                      dc_backbone_features *out);

/* Runs the forward on the images in f->images; the result is in f->out. */
dc_status dc_backbone_features_run(dc_backbone_features *f);

void dc_backbone_features_destroy(dc_backbone_features *f);

#endif
