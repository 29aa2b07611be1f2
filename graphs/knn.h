/* k-NN evaluation of a trained backbone, as DINO does it (`dinoc knn`):
 *
 *   features  of the TEACHER backbone for every image (the final LayerNorm's
 *             output): its cls token (row 0, DINO's k-NN), the mean of its
 *             patch tokens, or both concatenated (cls ‖ mean patch, DINOv2's
 *             linear-evaluation features): the config's knn_features unless
 *             the options say otherwise. One inference plan of the
 *             checkpoint's config at the full batch (256), constants folded,
 *             compiled once and run for every batch;
 *   transform the evaluation transform (dc_knn_preprocess): the centre square
 *             of the image resized bicubically to the global crop size, to
 *             [0, 1], normalised with dc_config_normalization;
 *   vote      features L2-normalised; for each test image the k train images
 *             of highest cosine similarity, each voting for its class with
 *             weight exp(sim / T); the class of largest summed weight is the
 *             prediction (k = 20, T = 0.07 as in DINO's eval_knn.py);
 *   result    top-1 accuracy over the test set.
 * Baselines: the same vote on raw pixels (the transformed input, flattened)
 * and on a randomly initialised backbone (the same config, dinoc's init,
 * seed 0), to tell what training added.
 *
 * A checkpoint is what `dinoc train` writes (runtime/dc_safetensors.h): every
 * state tensor by name, with metadata "config" (dc_config_print text, read
 * back with dc_config_from_text) and "step". Only the tensors under
 * "teacher.backbone." are read. */
#ifndef DC_KNN_H
#define DC_KNN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dc_data.h"
#include "dinov2_config.h"

typedef struct dc_knn_result {
    double top1;        /* the checkpoint's teacher; -1 when not computed */
    double top1_raw;    /* raw pixels; -1 without baselines */
    double top1_random; /* randomly initialised backbone; -1 without baselines */
    int64_t n_train, n_test;
    dc_knn_features features; /* what was evaluated */
    double images_per_second; /* the teacher's features of both splits: images over the time
                                 spent loading, transforming and running the forward; 0
                                 without a checkpoint */
    double images_per_cpu_second; /* the same over the process's CPU time (every thread);
                                     0 with baselines (the random backbone shares it) */
} dc_knn_result;

/* Evaluates a checkpoint with the defaults (k 20, T 0.07, every image of both
 * splits). An IDX folder holds both splits: pass it as train_dir and test_dir
 * ("train" and "test" splits of dc_dataset_open). `threads` <= 0: every core.
 * Errors name the file and, for a checkpoint that does not fit its config,
 * the tensor (missing, or expected against found type). */
dc_status dc_knn_evaluate(const char *checkpoint, const char *train_dir, const char *test_dir,
                          bool baselines, int threads, dc_knn_result *out);

typedef struct dc_knn_options {
    int k;                 /* neighbours; 0: 20 */
    float temperature;     /* vote temperature; 0: 0.07 */
    bool baselines;        /* also raw pixels and a random backbone */
    int threads;           /* <= 0: every core */
    int batch_size;        /* images per forward pass; 0: 256 */
    int64_t max_train;     /* 0: all; else that many, evenly spaced over the split */
    int64_t max_test;      /* the same for the test split */
    bool features_given;   /* false: the config's knn_features */
    dc_knn_features features;
    /* The config when `checkpoint` is NULL: then only the baselines are
     * computed (top1 stays -1). Ignored when a checkpoint is given. */
    const dc_dinov2_config *config;
    FILE *log;             /* progress lines (phases and timings), or NULL */
} dc_knn_options;

/* dc_knn_evaluate with every knob; `opt` may be NULL (the defaults). */
dc_status dc_knn_evaluate_opts(const char *checkpoint, const char *train_dir, const char *test_dir,
                               const dc_knn_options *opt, dc_knn_result *out);

/* ---- building blocks (tests, other evaluations) -------------------------------------- */

/* "cls", "mean patch token", "cls + mean patch token". */
const char *dc_knn_features_name(dc_knn_features f);
/* The width of the features: embed_dim, twice that for DC_KNN_BOTH. */
int64_t dc_knn_feature_dim(const dc_vit_config *v, dc_knn_features f);

/* Rows of x [n, dim] divided by max(‖row‖₂, 1e-12) in place (F.normalize). */
void dc_knn_normalize(float *x, int64_t n, int64_t dim);

/* The weighted k-NN vote for L2-normalised features: train [n_train, dim],
 * test [n_test, dim], train labels in [0, n_classes). Writes pred [n_test].
 * Similarities are one MatMul per chunk of test rows through a compiled plan
 * (oneDNN); the top-k selection and the vote run on `threads` OpenMP threads.
 * k larger than n_train uses every train image. Equal vote sums go to the
 * smaller class index. */
dc_status dc_knn_classify(const float *train, const int *train_labels, int64_t n_train,
                          const float *test, int64_t n_test, int64_t dim, int n_classes, int k,
                          float temperature, int threads, int *pred);

/* The evaluation transform of one image into out [channels, size, size]
 * (f32, CHW): the centred square of side min(h, w) (Resize(size) then
 * CenterCrop(size) for a square output), resampled bicubically like PIL
 * (a = −0.5, antialiased when shrinking; copied when the size is already
 * right), channels converted (grey → replicated, RGB → ITU-R 601 luma, an
 * alpha channel dropped), scaled to [0, 1] and normalised
 * ((x − mean[c]) / std[c]). */
dc_status dc_knn_preprocess(const dc_image *img, int channels, int size, const float mean[3],
                            const float std[3], float *out);

#endif
