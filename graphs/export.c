/* `dinoc export`: a checkpoint's backbone as a standalone ONNX model (export.h). */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "configs.h"
#include "dc_safetensors.h"
#include "onnx_io.h"
#include "pipeline.h"
#include "vit.h"

static const char BATCH_PARAM[] = "batch";


/* An Identity giving `v` the graph output name `name`. */
static dc_status named_output(dc_graph *g, dc_value *v, const char *name)
{
    const char *names[1] = {name};
    dc_node *n;
    DC_TRY(dc_graph_add_node(g, "Identity", "", NULL, &v, 1, names, 1, &n));
    n->outputs[0]->type = v->type;
    return dc_graph_add_output(g, n->outputs[0]);
}

static bool batch_first(const dc_value *v)
{
    return v && v->type.rank >= 1 && v->type.dims[0].size == 1 && !v->type.dims[0].param;
}

/* Makes the batch (built as 1) symbolic. Every value computed from the images
 * has the batch as dim 0 (the ViT never moves it), so: those types get
 * dim_param "batch"; the Reshape shapes' leading 1 becomes 0 (copy the input's
 * dim); a constant Concat operand with leading 1 (the folded cls/register
 * rows) is expanded to the images' batch, its shape from Shape(images). */
static dc_status make_batch_dynamic(dc_graph *g, dc_value *images)
{
    int n_values = g->n_values;
    for (int i = 0; i < n_values; i++) {
        dc_value *v = g->values[i];
        if (v->is_initializer || v->constant || !batch_first(v))
            continue;
        v->type.dims[0] = (dc_dim){DC_DIM_UNKNOWN, BATCH_PARAM};
        if (v->declared.rank >= 1)
            v->declared.dims[0] = v->type.dims[0];
    }
    int n_nodes = g->n_nodes, first_new = g->n_nodes;
    dc_value *batch = NULL; /* i64 [1]: the images' batch */
    for (int i = 0; i < n_nodes; i++) {
        dc_node *n = g->nodes[i];
        if (strcmp(n->op_type, "Reshape") == 0 && n->n_inputs == 2) {
            dc_value *s = n->inputs[1];
            if (!s->constant || s->constant->dtype != DC_I64 || dc_tensor_numel(s->constant) < 1)
                return dc_error(DC_ERR_UNSUPPORTED, "dynamic batch: Reshape '%s' has no constant shape",
                                n->name ? n->name : "?");
            const int64_t *d = (const int64_t *)s->constant->data;
            if (d[0] != 1 || n->inputs[0]->type.dims[0].param != BATCH_PARAM)
                continue;
            int k = (int)dc_tensor_numel(s->constant);
            int64_t nd[DC_MAX_RANK];
            memcpy(nd, d, (size_t)k * sizeof *nd);
            nd[0] = 0;
            dc_value *c = dc_const_i64(g, nd, k);
            if (!c)
                return dc_build_status(g);
            n->inputs[1] = c;
        } else if (strcmp(n->op_type, "Concat") == 0) {
            for (int j = 0; j < n->n_inputs; j++) {
                dc_value *x = n->inputs[j];
                if (!x || !x->constant || x->type.rank < 2 || x->type.dims[0].size != 1)
                    continue;
                if (dc_node_attr_int(n, "axis", 0) == 0)
                    return dc_error(DC_ERR_UNSUPPORTED, "dynamic batch: Concat on the batch axis");
                if (!batch) {
                    dc_node *sh = dc_node_begin(g, "Shape", "", &images, 1, 1);
                    batch = dc_slice(g, dc_node_finish(g, sh), 0, 0, 1);
                    if (!batch)
                        return dc_build_status(g);
                }
                int64_t rest[DC_MAX_RANK];
                for (int r = 1; r < x->type.rank; r++)
                    rest[r - 1] = x->type.dims[r].size;
                dc_value *parts[2] = {batch, dc_const_i64(g, rest, x->type.rank - 1)};
                dc_value *shape = dc_concat(g, parts, 2, 0);
                dc_value *ex_in[2] = {x, shape};
                dc_node *ex = dc_node_begin(g, "Expand", "", ex_in, 2, 1);
                dc_value *y = dc_node_finish(g, ex);
                if (!y)
                    return dc_build_status(g);
                y->type = x->type;
                y->type.dims[0] = (dc_dim){DC_DIM_UNKNOWN, BATCH_PARAM};
                n->inputs[j] = y;
            }
        }
    }
    /* The new nodes read only the images and constants: schedule them first. */
    int added = g->n_nodes - first_new;
    if (added > 0) {
        dc_node **moved = malloc((size_t)added * sizeof *moved);
        if (!moved)
            return dc_error(DC_ERR_NOMEM, "dynamic batch");
        memcpy(moved, g->nodes + first_new, (size_t)added * sizeof *moved);
        memmove(g->nodes + added, g->nodes, (size_t)first_new * sizeof *moved);
        memcpy(g->nodes, moved, (size_t)added * sizeof *moved);
        free(moved);
    }
    return dc_build_status(g);
}

static dc_status build(const dc_dinov2_config *c, const dc_safetensors *ckpt, const char *path,
                       const char *config_text, const dc_export_options *opt, dc_graph *g)
{
    const char *which = opt->which ? opt->which : "teacher";
    char prefix[64];
    if (strcmp(which, "teacher") != 0 && strcmp(which, "student") != 0)
        return dc_error(DC_ERR_INVALID, "--which: 'teacher' or 'student', not '%s'", which);
    snprintf(prefix, sizeof prefix, "%s.backbone.", which);
    dc_vit_config v = c->vit;
    int size = opt->image_size > 0 ? opt->image_size : (int)v.image_size;
    if (size % v.patch_size != 0)
        return dc_error(DC_ERR_INVALID, "image size %d is not a multiple of the patch size %d", size,
                        (int)v.patch_size);
    int64_t batch = opt->batch > 0 ? opt->batch : 1;
    dc_vit *vit = NULL;
    DC_TRY(dc_vit_declare(g, &v, prefix, 0, &vit));
    DC_TRY(dc_vit_load_checkpoint(vit, ckpt, path, c->name));
    dc_value *const *params;
    int np = dc_vit_params(vit, &params);
    for (int i = 0; i < np; i++)
        params[i]->is_state = false; /* frozen weights: plain initializers */
    int64_t xd[4] = {batch, v.in_chans, size, size};
    dc_value *images = dc_input(g, "images", DC_F32, 4, xd);
    dc_value *tokens = dc_vit_forward(g, vit, images, NULL, NULL);
    if (!tokens)
        return dc_build_status(g);
    int64_t D = v.embed_dim, T = tokens->type.dims[1].size, first = 1 + v.n_registers;
    int outs = opt->outputs ? (int)opt->outputs : DC_EXPORT_CLS;
    dc_value *cls = NULL, *patch = NULL;
    if (outs & DC_EXPORT_CLS) {
        int64_t fd[2] = {batch, D};
        cls = dc_reshape(g, dc_slice(g, tokens, 1, 0, 1), fd, 2);
    }
    if (outs & DC_EXPORT_PATCH)
        patch = dc_slice(g, tokens, 1, first, T);
    DC_TRY(dc_build_status(g));
    if (cls)
        DC_TRY(named_output(g, cls, "cls"));
    if (patch)
        DC_TRY(named_output(g, patch, "patch"));
    /* Standard ONNX leaves: simplified, never fused into ai.dinoc ops. */
    dc_pipeline_options simplify = {.no_fuse = true};
    DC_TRY(dc_pipeline_optimize(g, &simplify));
    if (opt->batch == DC_EXPORT_BATCH_DYNAMIC) {
        DC_TRY(make_batch_dynamic(g, images));
        DC_TRY(dc_pipeline_optimize(g, &simplify));
    }
    DC_TRY(dc_graph_set_metadata(g, "dinoc.config", config_text));
    DC_TRY(dc_graph_set_metadata(g, "dinoc.step", dc_safetensors_meta(ckpt, "step") ?
                                                   dc_safetensors_meta(ckpt, "step") : "0"));
    DC_TRY(dc_graph_set_metadata(g, "dinoc.version", opt->version ? opt->version : "dev"));
    DC_TRY(dc_graph_set_metadata(g, "dinoc.which", which));
    g->producer_name = "dinoc";
    return dc_graph_verify(g);
}

dc_status dc_export_graph(const char *checkpoint, const dc_export_options *opt, dc_graph **out)
{
    static const dc_export_options defaults = {0};
    opt = opt ? opt : &defaults;
    *out = NULL;
    dc_safetensors *ckpt;
    DC_TRY(dc_safetensors_load(checkpoint, &ckpt));
    dc_dinov2_config c;
    const char *text = dc_safetensors_meta(ckpt, "config");
    dc_status s = dc_config_of_checkpoint(ckpt, &c);
    dc_graph *g = NULL;
    if (s == DC_OK) {
        g = dc_graph_create("dinoc_backbone");
        s = g ? build(&c, ckpt, checkpoint, text, opt, g) : dc_error(DC_ERR_NOMEM, "export graph");
    }
    dc_safetensors_destroy(ckpt);
    if (s != DC_OK) {
        dc_graph_destroy(g);
        return dc_error_context(s, "export %s", checkpoint);
    }
    *out = g;
    return DC_OK;
}

dc_status dc_export_onnx(const char *checkpoint, const char *path, const dc_export_options *opt)
{
    dc_graph *g;
    DC_TRY(dc_export_graph(checkpoint, opt, &g));
    dc_status s = dc_onnx_save(g, path);
    dc_graph_destroy(g);
    return s;
}
