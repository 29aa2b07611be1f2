/* The data pipeline: datasets, DINOv2 multi-crop augmentation, iBOT block
 * masks, and batches laid out as the training step's inputs (graphs/dinov2.h).
 * It lives in the runtime: plain C over images, no graphs. */
#ifndef DC_DATA_H
#define DC_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "dc_tensor.h"

/* An 8-bit image, rows of w·c bytes (HWC). */
typedef struct dc_image {
    int h, w, c;
    uint8_t *pixels;
} dc_image;

typedef struct dc_dataset dc_dataset;

/* Opens a dataset; `split` may be NULL ("train").
 *
 * IDX ((Fashion-)MNIST): `path` is a folder holding <p>-images-idx3-ubyte[.gz]
 * and <p>-labels-idx1-ubyte[.gz] with p = "train" (split "train") or "t10k"
 * (split "test"), or one images file itself. gzip or raw; the magic, the
 * dimensions and the counts are checked against the bytes actually present and
 * the labels file must hold one label per image. Loaded once into memory.
 * A folder is taken as IDX when it holds any "*-idx?-ubyte*" file.
 *
 * Image folder: any other folder, searched recursively (entries sorted by
 * name, dot-files ignored). If `path`/`split` is a folder it is used (ImageNet
 * style train/val); else split "train" uses `path` itself and other splits
 * are an error. Top-level subfolders are classes (sorted names, labels
 * 0..n-1; files directly under `path` are then skipped); without subfolders
 * every label is 0. Files are recognised by content (JPEG via libjpeg-turbo,
 * PNG via libpng); at open only the header and the end-of-image marker are
 * read (a file lacking the marker is decoded in full to decide), so anything
 * else (text, truncated or unsupported images such as CMYK JPEGs) is skipped
 * and counted, not fatal. Pixels are decoded on each get.
 * Channels: 1 if every image is grey, else 3 (grey images are replicated);
 * an alpha channel is dropped (as PIL's convert("RGB")).
 * Missing or corrupt IDX files, or a folder without a single readable image,
 * are errors naming the file or folder. */
dc_status dc_dataset_open(const char *path, const char *split, dc_dataset **out);
void dc_dataset_close(dc_dataset *ds);
int64_t dc_dataset_size(const dc_dataset *ds);
int dc_dataset_channels(const dc_dataset *ds);  /* 1 (grey) or 3 */
int dc_dataset_classes(const dc_dataset *ds);
/* Files that could not be read: skipped at open, plus images whose full
 * decode later failed (each counted once; the batcher substitutes another). */
int64_t dc_dataset_skipped(const dc_dataset *ds);
/* Image i (decoded, dc_dataset_channels() channels; the caller frees
 * img->pixels) and its label (label may be NULL). Thread-safe. A file that
 * passed the open-time checks but fails to decode is DC_ERR_PARSE naming it. */
dc_status dc_dataset_get(const dc_dataset *ds, int64_t i, dc_image *img, int *label);
/* One JPEG or PNG file with its own channels (1 grey, else 3; alpha dropped);
 * the caller frees img->pixels. Errors name the file. */
dc_status dc_image_load(const char *path, dc_image *img);

/* What a batch must hold: the DINOv2 recipe's data settings (graphs/DINOV2.md §4, §6)
 * and the step's shapes. Filled from the DINOv2 config by the trainer. */
typedef struct dc_batch_spec {
    int batch_size, channels;
    int global_size, local_size, n_local;
    float global_scale[2], local_scale[2];
    float hflip_prob, jitter_prob, jitter[4]; /* brightness, contrast, saturation, hue
                                               (times cj_strength: 0.4, 0.4, 0.2, 0.1) */
    float gray_prob, blur_prob[3];            /* global 0, global 1, locals */
    float blur_sigma[3][2], solarize_prob;    /* sigma range per view as blur_prob;
                                                 solarization on global 1 only */
    float mean[3], std[3];
    int patch_size, n_registers, depth;
    float drop_path;
    float mask_probability, mask_ratio[2];
    int64_t max_masked;                       /* M, dc_dinov2_max_masked */
    /* The masks are drawn for this many equal slices of the batch, each
     * with its own floor(2·b·mask_probability) masked views (0 or 1: the
     * whole batch at once). The run's, like the slice, not the recipe's. */
    int mask_slices;
    /* Only images [slice_first, slice_first + slice_count) of each batch get
     * their views made (the others' stay as they were): a process of a
     * data-parallel run needs its own images only. 0, 0: every image. */
    int slice_first, slice_count;
} dc_batch_spec;

/* Lightly's DINOTransform defaults with the EX/BM crop scales (graphs/DINOV2.md §6)
 * and DINOv2's masking (§4) for a ViT-S/16: B 64, 3 channels, 224/96 crops,
 * 8 locals, ImageNet mean/std, depth 12, drop_path 0.1, M for that shape.
 * The trainer overwrites what its config says. */
void dc_batch_spec_defaults(dc_batch_spec *spec);
/* The first field out of range, named (probabilities in [0, 1], scales in
 * (0, 1], drop_path in [0, 1), max_masked at least the bound of §4, ...). */
dc_status dc_batch_spec_check(const dc_batch_spec *spec);

/* One augmented view (graphs/DINOV2.md §6), deterministic in `seed`:
 * view 0 and 1 are the global crops (spec->global_size, blur_prob[0] / [1],
 * solarisation on view 1 only), view >= 2 the local crops (local_size,
 * blur_prob[2]). Writes out [spec->channels, S, S] (CHW, normalised).
 * In order: RandomResizedCrop (torchvision's sampling: 10 tries of scale and
 * log-ratio in (3/4, 4/3), else the centre crop; Python rounding) resampled
 * like PIL's BICUBIC (a = -0.5, antialiased when shrinking); horizontal flip;
 * ColorJitter with probability jitter_prob in a random order (brightness,
 * contrast, saturation, hue as torchvision's tensor ops; saturation and hue
 * do nothing to grey images); RandomGrayscale (channels kept); Gaussian blur,
 * sigma ~ U(blur_sigma[view index of blur_prob]), as a separable kernel of radius ceil(3 sigma) with
 * edge replication (PIL approximates it by extended box blurs); solarisation
 * (values >= 128/255 inverted); normalisation. Pixels stay float in [0, 1]
 * between steps, clamped after each (PIL rounds to 8 bits in between).
 * An image whose channels differ from spec->channels is converted (grey
 * replicated; RGB to ITU-R 601 luma as PIL's convert("L")). */
dc_status dc_augment_view(const dc_image *img, const dc_batch_spec *spec, int view,
                          uint64_t seed, float *out);

/* iBOT block masks of one step (graphs/DINOV2.md §4, random_block_mask with
 * batch_mask_ratio = mask_probability, (min, max) image ratio = mask_ratio,
 * at least 4 patches per block, aspect 0.3..1/0.3, 10 tries per block), drawn
 * from the stream `seed`: floor(n_images · mask_probability) images get a
 * mask, with ratios spread over linspace(mask_ratio) as the reference does,
 * then the images are shuffled. Writes mask [n_images, grid_h·grid_w]
 * (1 = masked, row-major patches); returns the number of masked patches. */
int64_t dc_block_masks(uint64_t seed, int64_t n_images, int grid_h, int grid_w,
                       float mask_probability, const float mask_ratio[2], uint8_t *mask);

/* The most patches dc_block_masks can mask in any `slots` of its n_images
 * images (of n_patches each): mask i of floor(n_images · mask_probability)
 * targets at most floor(n_patches · p_{i+1}) patches, p = linspace(mask_ratio),
 * so the sum of the `slots` largest of those (about n_patches · (min + max) / 2
 * per masked image, not n_patches · max). The iBOT row count M of a step. */
int64_t dc_block_masks_bound(int64_t n_images, int64_t n_patches, float mask_probability,
                             const float mask_ratio[2], int64_t slots);

/* The upper bound of masked patches in a batch of `spec` (dc_block_masks_bound over its
 * mask slices, whose masks together may exceed the whole batch's): the least max_masked. */
int64_t dc_batch_max_masked(const dc_batch_spec *spec);

typedef struct dc_batcher dc_batcher;

/* Prepares batches on `threads` background threads (at least 1) that share
 * the images of a batch, two batches ahead of the one in use (one when a
 * batch exceeds 64 MiB, as ViT-S/16's 224/96 crops of 64 images do), shuffling
 * the dataset per epoch (drop_last). Deterministic: batch `step` is a function
 * of (seed, step) only, whatever the thread count or timing; every random
 * decision draws from a counter-based stream keyed by (seed, epoch, image,
 * view) for the views, (seed, step) for masks and drop-path, (seed, epoch)
 * for the order. Errors: a spec that does not check, or a dataset smaller
 * than one batch. */
dc_status dc_batcher_create(const dc_dataset *ds, const dc_batch_spec *spec, uint64_t seed,
                            int threads, dc_batcher **out);
void dc_batcher_destroy(dc_batcher *b);
int64_t dc_batcher_steps_per_epoch(const dc_batcher *b); /* drop_last */
/* The batch of global step `step` (epoch = step / steps_per_epoch), as named
 * tensors in this order: global_views, local_views, mask, ibot_index,
 * ibot_weight, keep_global, keep_local (local_views and keep_local only when
 * n_local > 0, as the graph has them), owned by the batcher until the next
 * call. Layouts (graphs/dinov2.h):
 *   global_views f32 [2B, C, G, G]    view 0 of images 0..B-1, then view 1
 *   local_views  f32 [nL·B, C, L, L]  local v of image b at row v·B + b
 *   mask         f32 [2B, N]          N = (G / patch_size)², 1 = masked
 *   ibot_index   i64 [M]              row i·T + 1 + n_registers + p of every
 *                                     masked (image i, patch p) in row-major
 *                                     order, T = 1 + n_registers + N; then 0
 *   ibot_weight  f32 [M]              1 / (masked patches of image i); then 0
 *   keep_global  f32 [depth, 2, 2B]   drop-path scales, per block, branch
 *   keep_local   f32 [depth, 2, nL·B] (attn, mlp) and sample: 0 with
 *                                     probability drop_path, else 1/(1 - drop_path)
 * Steps are best asked in order (the next ones are being prepared); any other
 * step restarts the pipeline there. An image that fails to decode is replaced
 * by the next readable one (counted by dc_dataset_skipped). */
dc_status dc_batcher_get(dc_batcher *b, int64_t step, dc_tensor ***tensors, int *n);

/* Slices of a batch, for a step divided over processes and micro-batches:
 * images [first, first + count) of a batch of dc_batcher_get, laid out as a
 * batch of `count` images (every view and drop-path scale of those images,
 * their masks, and the iBOT targets rebuilt for them with the same per-image
 * weights, padded to max_masked rows). dc_batch_slice_tensors makes the
 * tensors of such a slice (n ≤ 7, the caller destroys them); dc_batch_slice
 * fills them. */
dc_status dc_batch_slice_tensors(const dc_batch_spec *spec, int64_t count, int64_t max_masked,
                                 dc_tensor **out, int *n);
dc_status dc_batch_slice(const dc_batch_spec *spec, dc_tensor *const *batch, int n, int64_t first,
                         int64_t count, dc_tensor *const *out, int n_out);

#endif
