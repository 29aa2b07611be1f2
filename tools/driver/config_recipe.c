/* Configs made into recipes (config_recipe.h). */
#include "config_recipe.h"

#include <stdio.h>
#include <string.h>

#include "configs.h"
#include "dinov2.h"

void dc_train_batch_spec(const dc_dinov2_config *c, dc_batch_spec *s)
{
    dc_batch_spec_defaults(s);
    s->batch_size = c->batch_size;
    s->channels = c->vit.in_chans;
    s->global_size = c->vit.image_size;
    s->local_size = c->local_crop_size;
    s->n_local = c->n_local_views;
    memcpy(s->global_scale, c->global_crop_scale, sizeof s->global_scale);
    memcpy(s->local_scale, c->local_crop_scale, sizeof s->local_scale);
    s->hflip_prob = c->hflip_prob;
    s->jitter_prob = c->color_jitter_prob;
    memcpy(s->jitter, c->color_jitter, sizeof s->jitter);
    s->gray_prob = c->grayscale_prob;
    memcpy(s->blur_prob, c->blur_prob, sizeof s->blur_prob);
    memcpy(s->blur_sigma, c->blur_sigma, sizeof s->blur_sigma);
    s->solarize_prob = c->solarize_prob;
    dc_config_normalization(c, s->mean, s->std);
    s->patch_size = c->vit.patch_size;
    s->n_registers = c->vit.n_registers;
    s->depth = c->vit.depth;
    s->drop_path = c->vit.drop_path;
    s->mask_probability = c->mask_probability;
    memcpy(s->mask_ratio, c->mask_ratio, sizeof s->mask_ratio);
    s->max_masked = dc_dinov2_max_masked(c);
}

dc_status dc_train_recipe_from_config(const dc_dinov2_config *c, dc_train_recipe *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", c->name ? c->name : "");
    out->epochs = c->epochs;
    out->epoch_length = c->epoch_length;
    out->grad_accum_steps = c->grad_accum_steps;
    out->optimizer_sharding = c->optimizer_sharding;
    out->masks_per_slice = c->masks_per_slice;
    out->lr = c->lr;
    out->min_lr = c->min_lr;
    out->warmup_epochs = c->warmup_epochs;
    out->freeze_last_layer_epochs = c->freeze_last_layer_epochs;
    out->weight_decay = c->weight_decay;
    out->weight_decay_end = c->weight_decay_end;
    out->teacher_temp = c->teacher_temp;
    out->warmup_teacher_temp = c->warmup_teacher_temp;
    out->warmup_teacher_temp_epochs = c->warmup_teacher_temp_epochs;
    out->momentum_teacher = c->momentum_teacher;
    out->momentum_teacher_end = c->momentum_teacher_end;
    out->head_output_dim = c->head.output_dim;
    dc_train_batch_spec(c, &out->batch);
    if (!(out->config_text = dc_config_text(c)))
        return dc_error(DC_ERR_NOMEM, "config text");
    return DC_OK;
}

