/* DINOv2 training (`dinoc train`, `dinort train`): a compiled training step
 * run in a loop over the batcher's batches, with the schedules of
 * graphs/DINOV2.md §5.3, the last-layer freeze of §5.4, progress, per-step
 * metrics, checkpoints, resume and a loss plot.
 *
 * The loop needs no compiler: it builds into libdinotrain, which links
 * libdinort alone. What it trains is either a compiled step (an artifact,
 * .so or .dnc, whose plan carries the recipe: recipe.h) or, when the caller
 * gives it a compiler (dc_train_compiler: dinoc's, tools/driver/train_config.h),
 * a config compiled here, for this process's slice of the batch.
 *
 * Step counting follows Lightly's plain example (§5.1): step = epoch ·
 * steps_per_epoch + batch_index, from 0; total_steps = epochs ·
 * steps_per_epoch unless a step count is given. steps_per_epoch is one pass
 * over the data (drop_last), or the config's epoch_length when set (the
 * official recipe's fixed OFFICIAL_EPOCH_LENGTH; the batcher still reshuffles
 * after each pass over the data). Lengths given in epochs (lr warm-up,
 * teacher-temperature warm-up, last-layer freeze) are that many epochs of
 * steps_per_epoch steps, so with the default length they are exactly
 * Lightly's int(E / epochs · total_steps).
 *
 * The output directory holds
 *   checkpoint.safetensors  every state tensor (student, teacher, AdamW
 *                           moments, centers, optimizer.step) under the graph's
 *                           names, plus metadata (below); written atomically
 *   metrics.csv             one row per step (DC_TRAIN_CSV_HEADER)
 *   losses.png              the loss terms over the steps with the ln K
 *                           collapse line (and the k-NN accuracy in the
 *                           title), drawn by gnuplot at the end from the
 *                           generated losses.gp (skipped with a note when
 *                           gnuplot is missing)
 * Checkpoint metadata: "format" ("dinoc-dinov2-checkpoint"), "step" (steps
 * done), "epoch", "total_steps", "steps_per_epoch", "seed" (weights and
 * batches), "rng" (the batch RNG's state: the batcher is a pure function of
 * (seed, step), so it is "seed=S step=N"), "config" (dc_config_print text),
 * "data" (the folder), "dataset_size" (its images), "dinoc_version".
 *
 * Resuming loads the checkpoint into the step's state (an error names the
 * first tensor of another config), checks the config text is the same,
 * and continues at the stored step with the same total: the batches and the
 * schedule values are functions of the step, so an interrupted and resumed run
 * computes the same losses as an uninterrupted one with the same thread count.
 *
 * Crash safety: a checkpoint is a temporary file, fsync'ed, then renamed over
 * the previous one (dc_safetensors_save). A full disk or a kill -9 at any
 * moment therefore leaves the previous complete checkpoint in place. */
#ifndef DC_TRAINER_H
#define DC_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "collapse.h"
#include "dc_plan.h"
#include "dc_status.h"
#include "recipe.h"

#define DC_TRAIN_CSV_HEADER \
    "step,epoch,lr,wd,teacher_temp,momentum,loss,dino_loss,ibot_loss,koleo_loss," \
    "teacher_cls_similarity,images_per_s"
#define DC_CHECKPOINT_FORMAT "dinoc-dinov2-checkpoint"

/* The scalar inputs of one step (dinov2.h). */
typedef struct dc_schedule {
    double lr, last_layer_lr, weight_decay, teacher_temp, momentum;
} dc_schedule;

/* Lightly's schedules (lightly/utils/scheduler.py, graphs/DINOV2.md §5.3):
 *   cosine(s, n, a, b)  = b − (b − a)·(cos(π·s/(n−1)) + 1)/2, and b when
 *                         s ≥ n−1 or n ≤ 1
 *   lr                  = lr·(s+1)/W for s < W (W = warmup_epochs of steps),
 *                         then cosine(s − W, total − W, lr, min_lr)
 *   last_layer_lr       = 0 during the first freeze_last_layer_epochs, else lr
 *   weight_decay        = cosine(s, total, weight_decay, weight_decay_end)
 *   teacher_temp        = warmup_teacher_temp + s/W'·(teacher_temp −
 *                         warmup_teacher_temp) for s < W' (warmup_teacher_temp_epochs
 *                         of steps), then teacher_temp
 *   momentum            = cosine(s, total, momentum_teacher, momentum_teacher_end) */
double dc_cosine_schedule(int64_t step, int64_t max_steps, double start, double end);
dc_schedule dc_train_schedule(const dc_train_recipe *c, int64_t step, int64_t total_steps,
                              int64_t steps_per_epoch);

typedef enum dc_progress {
    DC_PROGRESS_AUTO = 0, /* a bar when `progress_out` is a terminal, else lines */
    DC_PROGRESS_BAR,      /* one line redrawn in place */
    DC_PROGRESS_LINES,    /* a plain line now and then (about 100 per run) */
    DC_PROGRESS_NONE,     /* silent: no progress, no summary (warnings only) */
} dc_progress;

typedef struct dc_train_options {
    const char *config;            /* a compiled step (.so, .dnc), or with a compiler a named
                                      config or YAML file; NULL with resume: the checkpoint's */
    const char *const *overrides;  /* "field=value" (with a compiler; a compiled step refuses them) */
    int n_overrides;
    const char *data;              /* NULL: the checkpoint's (resume), else the config's default */
    const char *split;             /* NULL: "train" */
    int64_t steps;                 /* > 0: run this many steps in all (not per epoch) */
    int epochs;                    /* > 0: overrides the config's epochs */
    const char *out_dir;
    bool resume;                   /* continue from out_dir/checkpoint.safetensors */
    int threads;                   /* compute threads; <= 0: every core */
    int64_t checkpoint_every;      /* steps between checkpoints; <= 0: one epoch */
    uint64_t seed;                 /* initial weights and batches */
    bool seed_set;                 /* false with resume: the checkpoint's seed */
    dc_progress progress;
    FILE *progress_out;            /* NULL: stderr */
    FILE *summary_out;             /* the closing summary; NULL: stdout */
    bool plot;                     /* draw losses.png with gnuplot at the end */
    bool knn;                      /* k-NN top-1 of the final teacher at the end, with
                                      the raw-pixel and random-backbone baselines
                                      (tools/driver/knn.h; the data folder's test split;
                                      with a compiler only) */
    int64_t knn_max_train, knn_max_test; /* images of each split used (0: all) */
    const char *version;           /* stored in checkpoints; NULL: "dev" */
    const char *program;           /* names the run in messages; NULL: "dinoc train" */
    bool profile;                  /* print the time per kernel of the steps after the
                                      first (which creates the primitives) at the end */
    bool stop_on_collapse;         /* end the loop (with a checkpoint) once collapse is
                                      detected (tools/train/collapse.h); k-NN and the plot follow */
    /* Set (to the signal number) by a SIGINT/SIGTERM handler: the current step
     * finishes, a checkpoint is written and dc_train returns with
     * result->interrupted. When the loop is over (k-NN and the plot follow)
     * dc_train stores -1 there, so a handler can then let a signal act at
     * once. NULL: never. */
    volatile sig_atomic_t *stop;
    int64_t stop_after_step;       /* tests: behave as if interrupted once this
                                      many steps are done (0: never) */
} dc_train_options;

typedef struct dc_train_result {
    int64_t steps_done, total_steps, steps_per_epoch;
    int epochs;
    double loss, dino_loss, ibot_loss, koleo_loss; /* of the last step */
    double images_per_s;   /* over this invocation's steps */
    double step_seconds;   /* mean wall time of a step (data wait included) */
    double data_wait_seconds; /* of this invocation's time, waiting for batches */
    double ln_k;           /* the collapse reference: ln(head.output_dim) */
    bool interrupted;
    int signal;            /* the signal that interrupted, or 0 */
    int collapse;          /* DC_COLLAPSE_* signs detected (tools/train/collapse.h), 0: none */
    int64_t collapse_step; /* steps done when first detected */
    bool stopped_on_collapse; /* stop_on_collapse ended the run there */
    double teacher_similarity; /* the last step's teacher_cls_similarity (NaN: not computed,
                                  e.g. a step compiled without it) */
    bool knn_done;
    double knn_accuracy, knn_baseline[2]; /* top-1 % (teacher; raw pixels, random
                                             backbone), when knn_done */
    int64_t knn_images[2];                /* train and test images used */
    const char *knn_features;             /* what k-NN evaluated ("cls", ...) */
    char checkpoint[1024], metrics[1024], plot[1024];
} dc_train_result;

/* How this process computes its part of each batch (graphs/dinov2.h:
 * dc_dinov2_slices): world_size processes, accum_steps micro-batches each;
 * with shard_optimizer, this process (rank) keeps the AdamW moments of its
 * share of the parameters. */
typedef struct dc_train_slices {
    int world_size, accum_steps;
    bool shard_optimizer;
    int rank;
} dc_train_slices;

/* What training from a config needs of the compiler; dinoc gives it
 * (tools/driver/train_config.h), dinort trains compiled steps without. */
typedef struct dc_train_compiler {
    /* The recipe of opt->config (a name or a YAML file, not an artifact)
     * with opt->overrides; of the config text `stored` of the file
     * `checkpoint` when opt->config is NULL. Remembers the config for
     * `compile`. */
    dc_status (*recipe)(void *ctx, const dc_train_options *opt, const char *stored,
                        const char *checkpoint, dc_train_recipe *out);
    /* The training step of that config for `slices`, initial weights from
     * `seed`, or the state of checkpoint `resume` when not NULL; its output
     * "teacher_cls_similarity" too. The loop destroys the plan. */
    dc_status (*compile)(void *ctx, const dc_train_slices *slices, uint64_t seed,
                         const char *resume, dc_plan **out);
    /* A checkpoint's config text read and printed again, so that fields added
     * since it was written take their defaults rather than count as
     * differences (malloc'ed), or NULL: the text as it is. */
    char *(*reprint)(void *ctx, const char *stored);
    /* k-NN of the checkpoint's teacher on `data` (opt->knn), filling the
     * result's knn_* fields; a failure is a note, not an error. */
    dc_status (*evaluate)(void *ctx, const dc_train_options *opt, const char *checkpoint,
                          const char *data, dc_train_result *result);
    void *ctx;
} dc_train_compiler;

/* Trains; errors (bad config, missing or corrupt data, an artifact that is not
 * a training step, a checkpoint of another config, a failed checkpoint write)
 * name the file, tensor or field. On an error after some steps the last
 * checkpoint written stays valid. `compiler` may be NULL: opt->config must
 * then be a compiled step. */
dc_status dc_train_run(const dc_train_options *opt, const dc_train_compiler *compiler,
                       dc_train_result *result);

/* The default data folder of a config: Fashion-MNIST's Debian package for
 * "fashion-mnist" and "fashion-mnist-long", else NULL. */
const char *dc_train_default_data(const char *config_name);

#endif
