/* The DINOv2 configuration: backbone, heads, losses and recipe, with names and
 * defaults as Lightly and the official DINOv2 repo write them
 * (graphs/DINOV2.md, section numbers below). Named configs live
 * in graphs/configs.c; any field can be overridden by name ("embed_dim=192"). */
#ifndef DC_DINOV2_CONFIG_H
#define DC_DINOV2_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* The ViT backbone (§2.1), timm's VisionTransformer as Lightly builds it. */
typedef struct dc_vit_config {
    int image_size;        /* global crop size, e.g. 224 */
    int patch_size;        /* 16 */
    int in_chans;          /* 3, or 1 for Fashion-MNIST */
    int embed_dim;         /* 384 */
    int depth;             /* 12 */
    int num_heads;         /* 6 */
    float mlp_ratio;       /* 4: hidden = mlp_ratio · embed_dim (SwiGLU: dc_vit_mlp_hidden) */
    bool swiglu;           /* SwiGLU FFN (official ViT-g) instead of Linear-GELU-Linear */
    int n_registers;       /* register tokens after cls (0 in Lightly) */
    float layerscale_init; /* 1e-5; 0 disables LayerScale */
    float ln_eps;          /* 1e-6 */
    float drop_path;       /* student per-sample drop-path rate, uniform over blocks (0.1) */
    float interpolate_offset; /* pos-embed resize for another grid: 0 resizes to the target
                                 size (timm, Lightly); > 0 scales by (h + offset) / grid as the
                                 official interpolate_pos_encoding (0.1) */
} dc_vit_config;

/* A DINO/iBOT projection head (§2.2). */
typedef struct dc_head_config {
    int hidden_dim;        /* 2048 */
    int bottleneck_dim;    /* 256 */
    int output_dim;        /* K = 65536 */
} dc_head_config;

typedef enum dc_centering { DC_CENTERING_MEAN = 0, DC_CENTERING_SINKHORN = 1 } dc_centering;

/* The per-image features k-NN evaluates (`dinoc knn`, the end of `dinoc train`):
 * the teacher's cls token, the mean of its patch tokens, or both concatenated
 * (cls ‖ mean patch, 2·embed_dim values, as DINOv2's linear evaluation). */
typedef enum dc_knn_features { DC_KNN_CLS = 0, DC_KNN_PATCH = 1, DC_KNN_BOTH = 2 } dc_knn_features;

typedef struct dc_dinov2_config {
    const char *name;
    const char *quirks;        /* deliberate oddities of the recipe copied, printed as notes */
    dc_vit_config vit;
    dc_head_config head;
    bool ibot_separate_head;   /* false: iBOT shares the DINO head (Lightly default) */
    bool teacher_heads_copied; /* false: independent init (Lightly), true: official */
    int batch_size;            /* images per optimizer step, over all processes (B) */
    int n_local_views;         /* 8 */
    int local_crop_size;       /* 96 */
    float global_crop_scale[2], local_crop_scale[2]; /* (0.32, 1), (0.05, 0.32) */
    /* The rest of the multi-crop augmentation (§6), Lightly's DINOTransform
     * defaults; per-view arrays are indexed global 0, global 1, locals. */
    float hflip_prob;          /* 0.5 */
    float color_jitter_prob;   /* 0.8 */
    float color_jitter[4];     /* brightness, contrast, saturation, hue: 0.4, 0.4, 0.2, 0.1 */
    float grayscale_prob;      /* 0.2 */
    float blur_prob[3];        /* 1, 0.1, 0.5 */
    float blur_sigma[3][2];    /* (0.1, 2) for every view, in pixels of the crop */
    float solarize_prob;       /* 0.2, global 1 only */
    float student_temp;        /* 0.1 */
    float teacher_temp, warmup_teacher_temp; /* 0.07 reached after warmup_teacher_temp_epochs, from 0.04 */
    int warmup_teacher_temp_epochs;          /* 30 */
    float center_momentum;     /* 0.9 */
    dc_centering centering;    /* mean, or Sinkhorn-Knopp (3 iterations) */
    float koleo_weight;        /* 0.1 */
    float ibot_weight;         /* 1 */
    float mask_ratio[2];       /* (0.1, 0.5) per masked image */
    float mask_probability;    /* 0.5 of the images get a mask */
    /* Optimizer and schedules (§5). */
    float lr, min_lr;          /* peak lr (after warm-up) and final */
    int warmup_epochs;
    float weight_decay, weight_decay_end;         /* cosine 0.04 -> 0.4 */
    float momentum_teacher, momentum_teacher_end; /* cosine 0.992 -> 1 */
    float layerwise_decay;     /* 1: none; 0.9 in the benchmark */
    float patch_embed_lr_mult; /* 1: none; 0.2 in the benchmark */
    float clip_grad;           /* 0: none; 3 */
    bool clip_grad_per_module; /* false: one norm over all student gradients (Lightly's
                                  benchmark); true: backbone, DINO head and iBOT head each
                                  clipped to clip_grad on its own (official) */
    int freeze_last_layer_epochs; /* 1 (a no-op in the Lightly example, see §7.2) */
    bool wd_on_all_params;     /* the Lightly example decays biases and norms too (§7.2) */
    int epochs;
    int epoch_length;          /* steps per epoch; 0: one pass over the data (Lightly), else a
                                  fixed length as the official OFFICIAL_EPOCH_LENGTH (1250) */
    dc_knn_features knn_features; /* what k-NN evaluates the teacher on */
    /* Micro-batches per optimizer step (1: none): batch_size/grad_accum_steps
     * images each (per process, under MPI), their gradients and center
     * statistics summed, then one clipping, AdamW, EMA and center update. */
    int grad_accum_steps;
    /* Under MPI, each process keeps the AdamW moments of 1/N of the
     * parameters and updates those (ZeRO stage 1, graphs/dinov2.h); the
     * trained weights are the same. No effect in one process. */
    bool optimizer_sharding;
    /* Under MPI or grad_accum_steps, each slice of the batch (a process's
     * images, a micro-batch) draws its own iBOT masks, floor(2·b·p) of its
     * 2·b global views, as official DINOv2 and Lightly's DDP example do per
     * process; the iBOT head then runs over that count on each slice instead
     * of over the worst case of the whole batch's masks (drawn at once and
     * split, which gives the masks one process with the whole batch draws). */
    bool masks_per_slice;
    /* Under MPI, the gradients are summed in buckets of about this many MB
     * (PyTorch DDP's bucket_cap_mb; 25), taken from the last parameters to
     * the first, and each bucket's sum runs while the rest of the backward
     * does (graphs/dinov2.h). Smaller buckets start sooner. */
    float allreduce_bucket_mb;
} dc_dinov2_config;

#endif
