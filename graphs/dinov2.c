#include "dinov2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "dc_data.h"
#include "ema.h"
#include "heads.h"
#include "losses.h"
#include "optimizer.h"
#include "vit.h"

int64_t dc_dinov2_max_masked(const dc_dinov2_config *c)
{
    return dc_dinov2_max_masked_slice(c, (dc_dinov2_slices){.world_size = 1, .accum_steps = 1});
}

int dc_dinov2_slice_count(dc_dinov2_slices s)
{
    return (s.world_size > 1 ? s.world_size : 1) * (s.accum_steps > 1 ? s.accum_steps : 1);
}

int64_t dc_dinov2_max_masked_slice(const dc_dinov2_config *c, dc_dinov2_slices s)
{
    int64_t grid = c->vit.image_size / c->vit.patch_size;
    /* A slice's 2·b global views: with masks per slice, their own masks; else
     * any 2·b of the whole batch's (the largest masks may all fall in one). */
    int64_t slice_views = 2 * (int64_t)(c->batch_size / dc_dinov2_slice_count(s));
    int64_t drawn_over = c->masks_per_slice ? slice_views : 2 * (int64_t)c->batch_size;
    int64_t bound = dc_block_masks_bound(drawn_over, grid * grid, c->mask_probability,
                                         c->mask_ratio, slice_views);
    return bound > 0 ? bound : 1;
}

/* The outputs of a slice's center statistics (dinov2.h), in the order of
 * the centers they update: DINO mean, iBOT sum, iBOT count. */
static const char *const center_statistics[3] = {"dino_center_batch_mean", "ibot_center_batch_sum",
                                                 "ibot_center_batch_count"};

/* The first all-reduce bucket holds at most this many bytes, as in PyTorch
 * DDP: the sum of the last layers' gradients starts early in the backward. */
#define FIRST_BUCKET_BYTES ((int64_t)1 << 20)

/* The models of one side (student or teacher). */
typedef struct side {
    dc_vit *backbone;
    dc_head *dino, *ibot; /* ibot == dino when the head is shared */
} side;

static dc_status declare_side(dc_graph *g, const dc_dinov2_config *c, const char *who,
                              uint64_t backbone_seed, uint64_t head_seed, side *s)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.backbone.", who);
    DC_TRY(dc_vit_declare(g, &c->vit, prefix, backbone_seed, &s->backbone));
    snprintf(prefix, sizeof prefix, "%s.dino_head.", who);
    DC_TRY(dc_head_declare(g, &c->head, c->vit.embed_dim, prefix, head_seed, &s->dino));
    s->ibot = s->dino;
    if (c->ibot_separate_head) {
        snprintf(prefix, sizeof prefix, "%s.ibot_head.", who);
        DC_TRY(dc_head_declare(g, &c->head, c->vit.embed_dim, prefix, head_seed + 1, &s->ibot));
    }
    return DC_OK;
}

/* tokens [n, T, D] -> the cls tokens [n, D] (a scalar index drops the axis) */
static dc_value *cls_tokens(dc_graph *g, dc_value *tokens)
{
    return dc_gather(g, tokens, dc_scalar(g, DC_I64, 0), 1);
}

/* The masked patch tokens: rows `index` [M] of tokens [2B, T, D] seen as [2B·T, D]. */
static dc_value *masked_tokens(dc_graph *g, dc_value *tokens, dc_value *index)
{
    int64_t rows = tokens->type.dims[0].size * tokens->type.dims[1].size;
    int64_t table[] = {rows, tokens->type.dims[2].size};
    return dc_gather(g, dc_reshape(g, tokens, table, 2), index, 0);
}

/* Rows [begin, end) of x [n, ...]. */
static dc_value *rows(dc_graph *g, dc_value *x, int64_t begin, int64_t end)
{
    return dc_slice(g, x, 0, begin, end);
}

typedef struct step_values {
    dc_value *loss, *dino, *ibot, *koleo;
    dc_value *teacher_tokens; /* [2B, T, D] */
    /* A slice's center statistics (dinov2.h), NULL for the whole batch. */
    dc_value *dino_center_mean, *ibot_center_sum, *ibot_center_count;
} step_values;

/* Keeps the first failure in the graph's builder status. */
static void record(dc_graph *g, dc_status s)
{
    if (s != DC_OK && g->build_status == DC_OK)
        g->build_status = s;
}

/* The mean cosine similarity over all pairs of the rows of x [n, D] (n ≥ 2),
 * from the sum of the unit rows u: ‖Σ u_i‖² = n + Σ_{i≠j} u_i·u_j. */
static dc_value *mean_pair_cosine(dc_graph *g, dc_value *x)
{
    int64_t n = x->type.dims[0].size, last = 1, first = 0;
    dc_value *norm = dc_unary(g, "Sqrt", dc_reduce(g, "ReduceSum", dc_mul(g, x, x), &last, 1, true));
    dc_value *unit = dc_div(g, x, dc_add(g, norm, dc_scalar_f32(g, 1e-12f)));
    dc_value *sum = dc_reduce(g, "ReduceSum", unit, &first, 1, false);
    dc_value *sq = dc_reduce(g, "ReduceSum", dc_mul(g, sum, sum), &first, 1, false);
    return dc_div(g, dc_sub(g, sq, dc_scalar_f32(g, (float)n)),
                  dc_scalar_f32(g, (float)(n * (n - 1))));
}

/* The forward step and losses (DINOV2.md §5.1), teacher without mask or drop-path,
 * on a slice of the batch (the whole batch unless `sliced`). */
static void forward_step(dc_graph *g, const dc_dinov2_config *c, dc_dinov2_slices slices,
                         const side *student, const side *teacher, dc_value *centers[2],
                         step_values *out)
{
    const dc_vit_config *v = &c->vit;
    bool sliced = dc_dinov2_slice_count(slices) > 1;
    int64_t B = c->batch_size / dc_dinov2_slice_count(slices), nL = c->n_local_views;
    int64_t G = v->image_size, L = c->local_crop_size;
    int64_t grid = G / v->patch_size, N = grid * grid, M = dc_dinov2_max_masked_slice(c, slices);
    dc_value *global = dc_input(g, "global_views", DC_F32, 4, (int64_t[]){2 * B, v->in_chans, G, G});
    dc_value *local = nL ? dc_input(g, "local_views", DC_F32, 4, (int64_t[]){nL * B, v->in_chans, L, L})
                         : NULL;
    dc_value *mask = dc_input(g, "mask", DC_F32, 2, (int64_t[]){2 * B, N});
    dc_value *index = dc_input(g, "ibot_index", DC_I64, 1, &M);
    dc_value *weight = dc_input(g, "ibot_weight", DC_F32, 1, &M);
    dc_value *keep_g = dc_input(g, "keep_global", DC_F32, 3, (int64_t[]){v->depth, 2, 2 * B});
    dc_value *keep_l = nL ? dc_input(g, "keep_local", DC_F32, 3, (int64_t[]){v->depth, 2, nL * B}) : NULL;
    dc_value *temp = dc_input(g, "teacher_temp", DC_F32, 0, NULL);

    /* The schedule follows this order, and the memory plan with it: the
     * [M, K] iBOT tensors (teacher and student patch logits; M masked tokens,
     * K prototypes) are the largest of the step, so the teacher's patch head
     * runs only once the student's global views are through, and the iBOT
     * term is taken before the local views' forward adds their activations;
     * afterwards only its gradient stays alive. The centers follow the raw
     * teacher outputs and take effect after the step (DINOV2.md §3.5): the losses
     * read the old centers. */
    bool mean_centering = c->centering != DC_CENTERING_SINKHORN;
    /* Teacher: no mask, no drop-path; its outputs carry no gradient. */
    dc_value *ft = dc_vit_forward(g, teacher->backbone, global, NULL, NULL);
    dc_value *t_cls = dc_head_forward(g, teacher->dino, cls_tokens(g, ft));
    if (mean_centering && sliced)
        out->dino_center_mean = dc_reduce(g, "ReduceMean", t_cls, (int64_t[]){0}, 1, true);
    else if (mean_centering && dc_build_status(g) == DC_OK)
        record(g, dc_add_center_update(g, centers[0], t_cls, c->center_momentum));

    /* Student: masked global views, then (after iBOT) the local views, same weights. */
    dc_value *fs = dc_vit_forward(g, student->backbone, global, mask, keep_g);
    dc_value *s_cls_tokens = cls_tokens(g, fs);
    dc_value *s_cls = dc_head_forward(g, student->dino, s_cls_tokens);

    dc_value *t_patch = dc_head_forward(g, teacher->ibot, masked_tokens(g, ft, index));
    if (mean_centering && sliced && dc_build_status(g) == DC_OK)
        record(g, dc_ibot_center_statistics(g, t_patch, weight, &out->ibot_center_sum,
                                            &out->ibot_center_count));
    else if (mean_centering && dc_build_status(g) == DC_OK)
        record(g, dc_ibot_center_update(g, centers[1], t_patch, weight, c->center_momentum));
    dc_value *s_patch = dc_head_forward(g, student->ibot, masked_tokens(g, fs, index));
    out->ibot = mean_centering
                    ? dc_ibot_loss(g, t_patch, s_patch, centers[1], weight, temp, c->student_temp,
                                   (int)(2 * B))
                    : dc_ibot_loss_probs(g, dc_sinkhorn_knopp_rows(g, t_patch, weight, temp, 3),
                                         s_patch, weight, c->student_temp, (int)(2 * B));

    if (local) {
        dc_value *fl = dc_vit_forward(g, student->backbone, local, NULL, keep_l);
        dc_value *both[] = {s_cls, dc_head_forward(g, student->dino, cls_tokens(g, fl))};
        s_cls = dc_concat(g, both, 2, 0);
    }
    out->dino = mean_centering
                    ? dc_dino_loss(g, t_cls, s_cls, centers[0], temp, c->student_temp, (int)B, (int)nL)
                    : dc_dino_loss_probs(g, dc_sinkhorn_knopp(g, t_cls, temp, 3), s_cls,
                                         c->student_temp, (int)B, (int)nL);
    /* KoLeo on each global view's backbone cls tokens separately (DINOV2.md §3.3). */
    dc_value *koleo = dc_add(g, dc_koleo_loss(g, rows(g, s_cls_tokens, 0, B)),
                             dc_koleo_loss(g, rows(g, s_cls_tokens, B, 2 * B)));
    out->koleo = dc_mul(g, koleo, dc_scalar_f32(g, c->koleo_weight));
    dc_value *ibot = dc_mul(g, out->ibot, dc_scalar_f32(g, c->ibot_weight));
    out->loss = dc_add(g, dc_add(g, out->dino, ibot), out->koleo);
    out->teacher_tokens = ft;
}

/* The block a backbone parameter belongs to, for layer-wise lr decay (as the
 * official get_vit_lr_decay_rate): embeddings 0, block i: i+1, the rest depth+1. */
static int layer_of(const char *name, int depth)
{
    const char *b = strstr(name, ".backbone.blocks.");
    if (b)
        return atoi(b + strlen(".backbone.blocks.")) + 1;
    if (strstr(name, ".backbone.") && !strstr(name, ".backbone.norm."))
        return 0;
    return depth + 1;
}

/* As the official get_params_groups_with_decay and Lightly's benchmark:
 * biases, norms and LayerScale gammas get no weight decay. */
static bool no_weight_decay(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".bias") == 0) || strstr(name, "norm") ||
           strstr(name, "gamma");
}

/* One group per parameter: its layer-wise lr scale, patch-embed multiplier,
 * weight-decay choice, and the separate lr of the head's last layer (frozen
 * during the first epochs by feeding last_layer_lr = 0). */
static dc_param_group *param_groups(const dc_dinov2_config *c, dc_value *const *params, int n)
{
    dc_param_group *groups = calloc((size_t)n + 1, sizeof *groups);
    for (int i = 0; groups && i < n; i++) {
        const char *name = params[i]->name;
        float scale = 1.0f;
        for (int k = layer_of(name, c->vit.depth); k < c->vit.depth + 1; k++)
            scale *= c->layerwise_decay;
        if (strstr(name, "patch_embed"))
            scale *= c->patch_embed_lr_mult;
        bool last = strstr(name, "last_layer") != NULL;
        groups[i] = (dc_param_group){name, scale, c->wd_on_all_params || !no_weight_decay(name),
                                     last ? "last_layer_lr" : NULL};
    }
    return groups;
}

/* The trained parameters, "student.*" state in declaration order, and their
 * teacher copies, found by name so that the graph may have been rewritten
 * (fused) since it was built. */
static dc_status student_teacher_params(dc_graph *g, dc_value **sp, dc_value **tp, int *n)
{
    *n = 0;
    for (int i = 0; i < g->n_initializers; i++) {
        dc_value *v = g->initializers[i];
        if (!v->is_state || strncmp(v->name, "student.", 8) != 0 || strstr(v->name, ".exp_avg"))
            continue;
        char name[512];
        snprintf(name, sizeof name, "teacher.%s", v->name + 8);
        dc_value *t = dc_graph_find_value(g, name);
        if (!t || !t->is_state)
            return dc_error(DC_ERR_INVALID, "student parameter '%s' has no teacher copy '%s'",
                            v->name, name);
        sp[*n] = v;
        tp[(*n)++] = t;
    }
    return DC_OK;
}

/* A slice's value summed over the micro-batches: x + acc, with acc
 * ("<name>.accum", state, zero at first) ← (x + acc) · accumulate. */
static dc_value *accumulate(dc_graph *g, dc_value *x, const char *name, dc_value *keep)
{
    char state_name[512];
    snprintf(state_name, sizeof state_name, "%s.accum", name);
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++)
        dims[i] = x->type.dims[i].size;
    dc_tensor *zero;
    dc_status s = dc_tensor_create(&zero, state_name, x->type.dtype, x->type.rank, dims);
    if (s != DC_OK) {
        record(g, s);
        return NULL;
    }
    dc_value *acc = dc_state(g, state_name, zero);
    dc_value *total = dc_add(g, acc, x);
    dc_value *next = dc_mul(g, total, keep);
    if (dc_build_status(g) == DC_OK)
        record(g, dc_graph_add_state_update(g, acc, next));
    return total;
}

/* values[0, n) ← scale · Σ over the processes, by one blocking AllReduce
 * (after the last micro-batch, with accumulation). */
static void reduce_blocking(dc_graph *g, dc_value **values, int n, float scale, int world)
{
    dc_node *node = dc_node_begin(g, "AllReduce", "ai.dinoc", values, n, n);
    if (dc_build_status(g) == DC_OK) {
        record(g, dc_node_set_float(node, g, "scale", scale));
        record(g, dc_node_set_int(node, g, "world_size", world));
    }
    dc_node_finish(g, node);
    for (int i = 0; i < n && dc_build_status(g) == DC_OK; i++)
        values[i] = node->outputs[i];
}

/* The same as an AllReduceStart, which the plan moves to just after the last
 * of the values is computed, and an AllReduceWait before the first step that
 * reads a sum (passes/schedule_collectives.h); the sums come out flat and
 * are viewed in the values' shapes again. */
static void reduce_overlapped(dc_graph *g, dc_value **values, int n, float scale, int world)
{
    int64_t *sizes = calloc((size_t)n, sizeof *sizes);
    if (!sizes) {
        record(g, dc_error(DC_ERR_NOMEM, "all-reduce bucket of %d tensors", n));
        return;
    }
    for (int i = 0; i < n; i++)
        sizes[i] = dc_type_numel(&values[i]->type);
    dc_node *start = dc_node_begin(g, "AllReduceStart", "ai.dinoc", values, n, 1);
    if (dc_build_status(g) == DC_OK)
        record(g, dc_node_set_int(start, g, "world_size", world));
    dc_value *bucket = dc_node_finish(g, start);
    dc_node *wait = dc_build_status(g) == DC_OK
                        ? dc_node_begin(g, "AllReduceWait", "ai.dinoc", &bucket, 1, n)
                        : NULL;
    if (dc_build_status(g) == DC_OK) {
        record(g, dc_node_set_ints(wait, g, "sizes", sizes, n));
        record(g, dc_node_set_float(wait, g, "scale", scale));
        dc_node_finish(g, wait);
    }
    for (int i = 0; i < n && dc_build_status(g) == DC_OK; i++) {
        int64_t dims[DC_MAX_RANK];
        for (int d = 0; d < values[i]->type.rank; d++)
            dims[d] = values[i]->type.dims[d].size;
        values[i] = dc_reshape(g, wait->outputs[i], dims, values[i]->type.rank);
    }
    free(sizes);
}

/* values[i] ← scale · Σ over the processes (world > 1) or scale · values[i]
 * (one process). The sums go in buckets of about bucket_bytes (the first up
 * to FIRST_BUCKET_BYTES) made from the last value to the first, as DDP does:
 * the last layers' gradients are complete first in the backward. Without
 * accumulation each bucket is summed while the backward goes on; with it, a
 * blocking AllReduce runs after the last micro-batch. */
static void mean_over_slices(dc_graph *g, dc_value **values, int n, dc_dinov2_slices slices,
                             int64_t bucket_bytes)
{
    float scale = 1.0f / (float)dc_dinov2_slice_count(slices);
    if (slices.world_size <= 1) {
        for (int i = 0; i < n; i++)
            values[i] = dc_mul(g, values[i], dc_scalar_f32(g, scale));
        return;
    }
    if (!dc_graph_opset(g, "ai.dinoc"))
        record(g, dc_graph_set_opset(g, "ai.dinoc", 1));
    for (int end = n; end > 0 && dc_build_status(g) == DC_OK;) {
        int64_t cap = end == n && FIRST_BUCKET_BYTES < bucket_bytes ? FIRST_BUCKET_BYTES : bucket_bytes;
        int first = end;
        int64_t bytes = 0;
        while (first > 0 && (first == end || bytes < cap))
            bytes += (int64_t)dc_type_numel(&values[--first]->type) * 4;
        if (slices.accum_steps > 1)
            reduce_blocking(g, values + first, end - first, scale, slices.world_size);
        else
            reduce_overlapped(g, values + first, end - first, scale, slices.world_size);
        end = first;
    }
}

/* The output named `name`, removed from the outputs (NULL if absent). */
static dc_value *take_output(dc_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->outputs[i]->name, name) == 0) {
            dc_value *v = g->outputs[i];
            memmove(g->outputs + i, g->outputs + i + 1, (size_t)(g->n_outputs - i - 1) * sizeof *g->outputs);
            g->n_outputs--;
            return v;
        }
    return NULL;
}

/* The gradients and the center statistics of a slice combined over the
 * slices of the batch (dinov2.h): grads[i] becomes the mean gradient, and
 * center_stats the DINO mean and the iBOT sum and count of the whole batch
 * (all NULL under Sinkhorn-Knopp, which has no centers). */
static dc_status combine_slices(dc_graph *g, dc_dinov2_slices slices, int64_t bucket_bytes,
                                dc_value *const *params, dc_value **grads, int n,
                                dc_value *center_stats[3])
{
    dc_value *stats[3];
    for (int k = 0; k < 3; k++)
        stats[k] = take_output(g, center_statistics[k]);
    int n_stats = stats[0] && stats[1] && stats[2] ? 3 : 0;
    dc_value **all = calloc((size_t)n + 3, sizeof *all);
    if (!all)
        return dc_error(DC_ERR_NOMEM, "gradients of %d parameters", n);
    dc_value *keep = slices.accum_steps > 1 ? dc_input(g, "accumulate", DC_F32, 0, NULL) : NULL;
    for (int i = 0; i < n; i++)
        all[i] = keep ? accumulate(g, grads[i], params[i]->name, keep) : grads[i];
    for (int k = 0; k < n_stats; k++)
        all[n + k] = keep ? accumulate(g, stats[k], center_statistics[k], keep) : stats[k];
    mean_over_slices(g, all, n + n_stats, slices, bucket_bytes);
    for (int i = 0; i < n; i++)
        grads[i] = all[i];
    for (int k = 0; k < n_stats; k++)
        center_stats[k] = all[n + k];
    free(all);
    return dc_build_status(g);
}

void dc_dinov2_shard_owners(dc_value *const *params, int n, int world_size, int64_t *owners)
{
    int64_t load[world_size > 0 ? world_size : 1];
    for (int r = 0; r < world_size; r++)
        load[r] = 0;
    for (int i = 0; i < n; i++)
        owners[i] = -1;
    for (int placed = 0; placed < n; placed++) { /* the largest unplaced, to the lightest rank */
        int best = -1;
        for (int i = 0; i < n; i++)
            if (owners[i] < 0 && (best < 0 || dc_type_numel(&params[i]->type) >
                                                  dc_type_numel(&params[best]->type)))
                best = i;
        int lightest = 0;
        for (int r = 1; r < world_size; r++)
            if (load[r] < load[lightest])
                lightest = r;
        owners[best] = lightest;
        load[lightest] += dc_type_numel(&params[best]->type);
    }
}

/* AdamW over this rank's share of the parameters after clipping all the
 * gradients, then every parameter from its owner (dinov2.h, ZeRO stage 1). */
static dc_status add_sharded_adamw(dc_graph *g, dc_value **params, dc_value **grads, int n,
                                   const dc_adamw_options *adamw, dc_dinov2_slices slices)
{
    DC_TRY(dc_clip_gradients(g, params, grads, n, adamw));
    dc_adamw_options unclipped = *adamw;
    unclipped.clip_norm = 0;
    unclipped.clip_groups = NULL;
    unclipped.n_clip_groups = 0;
    int64_t *owners = calloc((size_t)n + 1, sizeof *owners);
    dc_value **mine = calloc((size_t)n + 1, sizeof *mine), **mine_g = calloc((size_t)n + 1, sizeof *mine_g);
    dc_value **in = calloc((size_t)n + 1, sizeof *in);
    dc_status s = owners && mine && mine_g && in ? DC_OK : dc_error(DC_ERR_NOMEM, "sharded AdamW");
    int n_mine = 0;
    if (s == DC_OK) {
        dc_dinov2_shard_owners(params, n, slices.world_size, owners);
        for (int i = 0; i < n; i++)
            if (owners[i] == slices.rank) {
                mine[n_mine] = params[i];
                mine_g[n_mine++] = grads[i];
            }
        s = dc_add_adamw(g, mine, mine_g, n_mine, &unclipped);
    }
    for (int i = 0; s == DC_OK && i < n; i++)
        in[i] = owners[i] == slices.rank ? dc_graph_state_update(g, params[i])->next : params[i];
    dc_node *node = s == DC_OK ? dc_node_begin(g, "AllGather", "ai.dinoc", in, n, n) : NULL;
    if (s == DC_OK && (s = dc_build_status(g)) == DC_OK)
        s = dc_node_set_ints(node, g, "owners", owners, n);
    if (s == DC_OK)
        s = dc_node_set_int(node, g, "world_size", slices.world_size);
    if (s == DC_OK) {
        dc_node_finish(g, node);
        s = dc_build_status(g);
    }
    /* Every parameter's next value is the gathered one. */
    for (int i = 0; s == DC_OK && i < n; i++) {
        bool updated = false;
        for (int u = 0; u < g->n_state_updates; u++)
            if (g->state_updates[u].state == params[i]) {
                g->state_updates[u].next = node->outputs[i];
                updated = true;
            }
        if (!updated)
            s = dc_graph_add_state_update(g, params[i], node->outputs[i]);
    }
    free(owners);
    free(mine);
    free(mine_g);
    free(in);
    return s;
}

/* Gradients to the student, AdamW, then teacher ← m·teacher + (1 − m)·student'. */
static dc_status add_training(dc_graph *g, const dc_dinov2_config *c, bool grad_outputs,
                              dc_dinov2_slices slices)
{
    dc_value *center_stats[3] = {NULL, NULL, NULL};
    size_t cap = (size_t)g->n_initializers + 1;
    dc_value **sp = calloc(cap, sizeof *sp), **tp = calloc(cap, sizeof *tp);
    dc_value **grads = calloc(cap, sizeof *grads), **next = calloc(cap, sizeof *next);
    dc_param_group *groups = NULL;
    dc_value *loss = NULL; /* the output named "loss" (outputs are named after they are built) */
    for (int i = 0; i < g->n_outputs; i++)
        if (strcmp(g->outputs[i]->name, "loss") == 0)
            loss = g->outputs[i];
    dc_status s = sp && tp && grads && next ? DC_OK : dc_error(DC_ERR_NOMEM, "training graph");
    if (s == DC_OK && !loss)
        s = dc_error(DC_ERR_INVALID, "graph '%s' has no value 'loss'", g->name);
    int n = 0;
    if (s == DC_OK)
        s = student_teacher_params(g, sp, tp, &n);
    if (s == DC_OK)
        s = dc_autodiff(g, loss, sp, n, grads);
    /* Only parameters with a gradient are updated, as in PyTorch. */
    int kept = 0;
    for (int i = 0; s == DC_OK && i < n; i++)
        if (grads[i]) {
            if (grad_outputs) {
                char name[512];
                snprintf(name, sizeof name, "%s.grad", sp[i]->name);
                dc_node *id = dc_node_begin(g, "Identity", "", &grads[i], 1, 1);
                dc_value *named = dc_node_finish(g, id);
                if (named)
                    named->name = dc_arena_strdup(g->arena, name);
                s = dc_output(g, named);
            }
            sp[kept] = sp[i];
            tp[kept] = tp[i];
            grads[kept++] = grads[i];
        }
    if (s == DC_OK && dc_dinov2_slice_count(slices) > 1)
        s = combine_slices(g, slices, (int64_t)((double)c->allreduce_bucket_mb * (1 << 20)), sp,
                           grads, kept, center_stats);
    if (s == DC_OK && !(groups = param_groups(c, sp, kept)))
        s = dc_error(DC_ERR_NOMEM, "param groups");
    /* Lightly's benchmark clips the norm of all student gradients; the official
     * code calls clip_grad_norm_ on each student module (a shared head is one
     * module, clipped once). */
    const dc_clip_group modules[] = {{"student.backbone.*", c->clip_grad},
                                     {"student.dino_head.*", c->clip_grad},
                                     {"student.ibot_head.*", c->clip_grad}};
    dc_adamw_options adamw = {.groups = groups, .n_groups = kept};
    if (c->clip_grad_per_module && c->clip_grad > 0) {
        adamw.clip_groups = modules;
        adamw.n_clip_groups = 3;
    } else {
        adamw.clip_norm = c->clip_grad;
    }
    if (s == DC_OK && slices.shard_optimizer && slices.world_size > 1)
        s = add_sharded_adamw(g, sp, grads, kept, &adamw, slices);
    else if (s == DC_OK)
        s = dc_add_adamw(g, sp, grads, kept, &adamw);
    for (int i = 0; s == DC_OK && i < kept; i++)
        next[i] = dc_graph_state_update(g, sp[i])->next;
    if (s == DC_OK)
        s = dc_add_ema(g, dc_input(g, "momentum", DC_F32, 0, NULL), tp, next, kept);
    if (s == DC_OK && center_stats[0]) {
        dc_value *dino = dc_graph_find_value(g, "dino_center");
        dc_value *ibot = dc_graph_find_value(g, "ibot_center");
        if (!dino || !ibot)
            s = dc_error(DC_ERR_INVALID, "graph '%s' has center statistics but no centers", g->name);
        if (s == DC_OK)
            s = dc_add_ema(g, dc_scalar_f32(g, c->center_momentum), &dino, &center_stats[0], 1);
        if (s == DC_OK)
            s = dc_ibot_center_update_from_sum(g, ibot, center_stats[1], center_stats[2],
                                               c->center_momentum);
    }
    if (s == DC_OK)
        s = dc_build_status(g);
    free(sp);
    free(tp);
    free(grads);
    free(next);
    free(groups);
    return s;
}

dc_status dc_dinov2_add_training(dc_graph *g, void *ctx)
{
    const dc_dinov2_training *t = ctx;
    dc_status s = add_training(g, t->config, t->grad_outputs, t->slices);
    return s == DC_OK ? DC_OK : dc_error_context(s, "DINOv2 training step '%s'", t->config->name);
}

dc_status dc_dinov2_build(const dc_dinov2_config *c, const dc_dinov2_options *opt, dc_graph **out)
{
    *out = NULL;
    dc_graph *g = dc_graph_create(c->name);
    if (!g)
        return dc_error(DC_ERR_NOMEM, "graph");
    DC_TRY(dc_graph_set_opset(g, "ai.dinoc", 1));
    uint64_t seed = opt->seed;
    side student = {0}, teacher = {0};
    /* Lightly: the student backbone is a copy of the teacher's, heads are
     * initialised independently; official: everything starts identical. */
    dc_status s = declare_side(g, c, "teacher", seed, seed + 100, &teacher);
    if (s == DC_OK)
        s = declare_side(g, c, "student", seed, c->teacher_heads_copied ? seed + 100 : seed + 200,
                         &student);
    dc_value *centers[2] = {NULL, NULL};
    if (s == DC_OK && c->centering == DC_CENTERING_MEAN) {
        int64_t dims[] = {1, c->head.output_dim};
        dc_tensor *c0, *c1;
        s = dc_tensor_create(&c0, "dino_center", DC_F32, 2, dims);
        if (s == DC_OK)
            s = dc_tensor_create(&c1, "ibot_center", DC_F32, 2, dims);
        if (s == DC_OK) {
            centers[0] = dc_state(g, "dino_center", c0);
            centers[1] = dc_state(g, "ibot_center", c1);
        }
    }
    step_values v = {0};
    if (s == DC_OK) {
        forward_step(g, c, opt->slices, &student, &teacher, centers, &v);
        const char *names[] = {"loss", "dino_loss", "ibot_loss", "koleo_loss",
                               "teacher_cls_similarity", center_statistics[0],
                               center_statistics[1], center_statistics[2]};
        dc_value *vals[] = {v.loss, v.dino, v.ibot, v.koleo,
                            opt->teacher_similarity && v.teacher_tokens ? mean_pair_cosine(g, cls_tokens(g, v.teacher_tokens))
                                                    : NULL,
                            v.dino_center_mean, v.ibot_center_sum, v.ibot_center_count};
        bool *skip = (bool[8]){false, false, false, false, !opt->teacher_similarity,
                               !v.dino_center_mean, !v.ibot_center_sum, !v.ibot_center_count};
        for (int i = 0; i < 8 && (s = dc_build_status(g)) == DC_OK; i++) {
            if (skip[i])
                continue;
            dc_value *named = dc_node_finish(g, dc_node_begin(g, "Identity", "", &vals[i], 1, 1));
            if (named)
                named->name = dc_arena_strdup(g->arena, names[i]);
            s = dc_output(g, named);
        }
    }
    if (s == DC_OK && opt->training)
        s = add_training(g, c, opt->grad_outputs, opt->slices);
    if (s == DC_OK)
        s = dc_build_status(g);
    if (s == DC_OK)
        s = dc_graph_verify(g);
    if (s != DC_OK) {
        dc_graph_destroy(g);
        return dc_error_context(s, "DINOv2 graph '%s'", c->name);
    }
    *out = g;
    return DC_OK;
}
