/* The DINOv2 training step as one graph (graphs/DINOV2.md §5.1): teacher and student
 * ViTs, DINO and iBOT heads, the DINO, iBOT and KoLeo losses, centering, and —
 * for training — gradients to the student, AdamW and the teacher's EMA.
 *
 * Inputs (B images per step, nL local views, T = 1 + registers + N patches):
 *   global_views  f32 [2B, C, G, G]     view 0 of every image, then view 1
 *   local_views   f32 [nL·B, C, L, L]   (absent when nL = 0)
 *   mask          f32 [2B, N]           1 = patch replaced by the mask token
 *   ibot_index    i64 [M]               rows of the masked patches in the
 *                                       [2B·T] token table, padded to M
 *   ibot_weight   f32 [M]               1/n_i for image i's masked patches, 0 for padding
 *   keep_global   f32 [depth, 2, 2B]    drop-path scales of the student's global pass
 *   keep_local    f32 [depth, 2, nL·B]  ... and of its local pass
 *   teacher_temp  f32 []                schedule values of this step
 *   lr, last_layer_lr, weight_decay, momentum   f32 [] (training only)
 * M is the upper bound of masked patches: ⌊2B·mask_probability⌋ views are masked, view i
 * at a ratio below linspace(mask_ratio)[i + 1], so M = Σ_i ⌊N·linspace[i + 1]⌋, about
 * ⌊2B·p⌋·N·(min + max)/2 (dc_block_masks_bound): memory and compute are planned for it,
 * padding rows weigh nothing.
 * Outputs: loss, dino_loss, ibot_loss, koleo_loss (f32 scalars); with
 * teacher_similarity also teacher_cls_similarity (below).
 * Parameters are named as timm names backbones (the official DinoVisionTransformer
 * with registers, vit.h) and Lightly names heads, under
 * "student." and "teacher." ("student.backbone.blocks.0.attn.qkv.weight",
 * "teacher.dino_head.last_layer.weight_g"); centers are "dino_center" and
 * "ibot_center". */
#ifndef DC_DINOV2_H
#define DC_DINOV2_H

#include "dinov2_config.h"
#include "ir.h"

/* Upper bound M of masked patch tokens per step. */
int64_t dc_dinov2_max_masked(const dc_dinov2_config *c);

/* How the batch of one optimizer step is divided: over world_size processes
 * (data parallel) and, in each, over accum_steps micro-batches, so a graph
 * computes B / (world_size · accum_steps) images (the "slice"). 0 or 1 for
 * both: the whole batch in one graph, with no collective or accumulator.
 * Otherwise the graph built for a slice
 *   - takes slice-sized inputs, M = dc_dinov2_max_masked_slice;
 *   - computes its losses as means over its slice (KoLeo within the slice,
 *     as official DINOv2 does per process);
 *   - outputs the centers' batch statistics instead of updating them:
 *     dino_center_batch_mean [1, K], ibot_center_batch_sum [1, K] and
 *     ibot_center_batch_count [] (mean centering);
 * and its training part (dc_dinov2_add_training)
 *   - with accum_steps > 1, adds each gradient and statistic to an
 *     accumulator ("<name>.accum", state) and takes the input `accumulate`
 *     (f32 []): 1 keeps the sum for the next micro-batch, 0 (the last one)
 *     resets it once this step has used it;
 *   - with world_size > 1, sums the (accumulated) gradients and statistics
 *     over the processes in buckets of about allreduce_bucket_mb (the first
 *     up to 1 MB), from the last parameters to the first: without
 *     accumulation as AllReduceStart/AllReduceWait pairs that the plan
 *     overlaps with the backward (passes/schedule_collectives.h), with it as
 *     blocking AllReduce steps after the last micro-batch;
 *   - scales the sums by 1 / (world_size · accum_steps): the mean over the
 *     slices, which for equal slices is the whole batch's gradient and mean;
 *   - then clips, runs AdamW, the teacher's EMA and the center updates once.
 * With accumulation the plan is run in two phases (dc_dinov2_split_plan). */
typedef struct dc_dinov2_slices {
    int world_size, accum_steps;
    /* ZeRO stage 1 (world_size > 1): this process, `rank`, keeps the AdamW
     * moments of its share of the parameters (whole tensors, balanced by
     * size, largest first) and updates only those; after clipping all the
     * gradients and AdamW on its share, an AllGather step gives every
     * process every updated parameter. */
    bool shard_optimizer;
    int rank;
} dc_dinov2_slices;

/* The rank that owns parameter i of params[0, n) when the optimizer is
 * sharded over world_size processes (the assignment above); owners[n]. */
void dc_dinov2_shard_owners(dc_value *const *params, int n, int world_size, int64_t *owners);

/* The slice count world_size · accum_steps (at least 1). */
int dc_dinov2_slice_count(dc_dinov2_slices s);
/* M for one slice of a batch of c->batch_size images: the largest masks its
 * 2·b views can receive, of the whole batch's masks, or of the slice's own
 * when c->masks_per_slice. */
int64_t dc_dinov2_max_masked_slice(const dc_dinov2_config *c, dc_dinov2_slices s);

typedef struct dc_dinov2_options {
    bool training;        /* add gradients, AdamW and the EMA (else: the loss only) */
    bool grad_outputs;    /* also output every student gradient, named "<param>.grad" */
    /* Also output "teacher_cls_similarity" (f32 []): the mean cosine similarity
     * of the teacher backbone's cls tokens over all pairs of the 2B global
     * views, (‖Σ_i x_i/‖x_i‖‖² − 2B) / (2B·(2B − 1)). Near 1: the teacher sees
     * every image alike (constant outputs, one way DINO collapses). */
    bool teacher_similarity;
    uint64_t seed;        /* initial weights */
    dc_dinov2_slices slices; /* the batch divided over processes and micro-batches */
} dc_dinov2_options;

dc_status dc_dinov2_build(const dc_dinov2_config *c, const dc_dinov2_options *opt, dc_graph **out);

/* The training part of the step, for a graph built with training off: the
 * compile pipeline (pipeline.h) makes it after fusing the forward graph, so
 * that the backward of fused ops is fused too. Gradients of "loss" to the
 * "student.*" parameters, AdamW with the config's param groups, then the
 * teacher's EMA; with grad_outputs, every gradient is also an output. */
typedef struct dc_dinov2_training {
    const dc_dinov2_config *config;
    bool grad_outputs;
    dc_dinov2_slices slices; /* as the forward graph was built with */
} dc_dinov2_training;

/* A dc_graph_transform function; ctx is a dc_dinov2_training. */
dc_status dc_dinov2_add_training(dc_graph *g, void *ctx);

#endif
