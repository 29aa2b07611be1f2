/* A checkpoint's backbone compiled once as a feature extractor (backbone_features.h). */
#include "backbone_features.h"

#include <string.h>

#include "builder.h"
#include "pipeline.h"
#include "vit.h"

/* tokens [B, T, D] (cls, registers, patches) → the requested output. */
static dc_value *output_of(dc_graph *g, const dc_vit_config *v, dc_value *tokens,
                           dc_backbone_output what)
{
    int64_t B = tokens->type.dims[0].size, T = tokens->type.dims[1].size;
    int64_t fd[2] = {B, v->embed_dim}, axis = 1;
    dc_value *patch = dc_slice(g, tokens, 1, 1 + v->n_registers, T);
    if (what == DC_BACKBONE_PATCH_TOKENS)
        return patch;
    dc_value *cls = dc_reshape(g, dc_slice(g, tokens, 1, 0, 1), fd, 2);
    if (what == DC_BACKBONE_CLS)
        return cls;
    dc_value *mean = dc_reduce(g, "ReduceMean", patch, &axis, 1, false);
    if (what == DC_BACKBONE_PATCH_MEAN)
        return mean;
    dc_value *both[2] = {cls, mean};
    return dc_concat(g, both, 2, 1);
}

static int plan_input(const dc_plan *p, const char *name)
{
    for (int i = 0; i < p->n_inputs; i++)
        if (strcmp(p->inputs[i].name, name) == 0)
            return p->inputs[i].buffer;
    return -1;
}

static dc_status build(dc_graph *g, const dc_dinov2_config *c, const dc_safetensors *ckpt,
                       const char *path, const char *prefix, int batch, dc_backbone_output what)
{
    const dc_vit_config *v = &c->vit;
    dc_vit *vit = NULL;
    DC_TRY(dc_vit_declare(g, v, prefix, 0, &vit));
    if (ckpt)
        DC_TRY(dc_vit_load_checkpoint(vit, ckpt, path, c->name));
    /* Frozen weights: constants to the passes, not training state. */
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    for (int i = 0; i < n; i++)
        params[i]->is_state = false;
    int64_t xd[4] = {batch, v->in_chans, v->image_size, v->image_size};
    dc_value *tokens = dc_vit_forward(g, vit, dc_input(g, "images", DC_F32, 4, xd), NULL, NULL);
    dc_value *out = tokens ? output_of(g, v, tokens, what) : NULL;
    DC_TRY(out ? dc_output(g, out) : dc_build_status(g));
    return dc_build_status(g);
}

dc_status dc_backbone_features_create(const dc_dinov2_config *c, const dc_safetensors *ckpt,
                                      const char *path, const char *prefix, int batch,
                                      dc_backbone_output what, int threads,
                                      dc_backbone_features *f)
{
    memset(f, 0, sizeof *f);
    if (batch <= 0)
        return dc_error(DC_ERR_INVALID, "backbone features: batch %d", batch);
    dc_graph *g = dc_graph_create("backbone_features");
    if (!g)
        return dc_error(DC_ERR_NOMEM, "backbone feature graph");
    dc_status s = build(g, c, ckpt, path, prefix, batch, what);
    if (s == DC_OK)
        s = dc_pipeline_compile(g, NULL, &f->plan);
    dc_graph_destroy(g);
    if (s == DC_OK)
        s = dc_session_create(f->plan, threads, &f->sess);
    if (s == DC_OK) {
        int ib = plan_input(f->plan, "images");
        if (ib < 0 || f->plan->n_outputs != 1)
            s = dc_error(DC_ERR_INVALID, "backbone feature plan: unexpected signature");
    }
    if (s != DC_OK) {
        dc_backbone_features_destroy(f);
        return dc_error_context(s, "%s features (%s backbone)",
                                what == DC_BACKBONE_PATCH_TOKENS ? "patch" : "image",
                                ckpt ? path : "untrained");
    }
    const dc_vit_config *v = &c->vit;
    int64_t np = (int64_t)(v->image_size / v->patch_size) * (v->image_size / v->patch_size);
    f->images = dc_session_buffer(f->sess, plan_input(f->plan, "images"));
    f->out = dc_session_buffer(f->sess, f->plan->outputs[0].buffer);
    f->batch = batch;
    f->per_image = what == DC_BACKBONE_PATCH_TOKENS  ? np * v->embed_dim
                   : what == DC_BACKBONE_CLS_PATCH_MEAN ? 2 * (int64_t)v->embed_dim
                                                       : v->embed_dim;
    return DC_OK;
}

dc_status dc_backbone_features_run(dc_backbone_features *f)
{
    return dc_session_run(f->sess);
}

void dc_backbone_features_destroy(dc_backbone_features *f)
{
    dc_session_destroy(f->sess);
    dc_plan_destroy(f->plan);
    memset(f, 0, sizeof *f);
}
