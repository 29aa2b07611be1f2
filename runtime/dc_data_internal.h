/* Internals shared by the data pipeline's files (dc_data*.c) and its tests:
 * the counter-based random streams, the pieces of one view's augmentation
 * and the block mask of one image. Not part of the runtime's API. */
#ifndef DC_DATA_INTERNAL_H
#define DC_DATA_INTERNAL_H

#include <stdint.h>

#include "dc_data.h"

/* Every random decision of the pipeline draws from a splitmix64 stream whose
 * start is a hash of what the numbers are for (run seed, purpose, epoch or
 * step, image, view). So a result never depends on which thread computed it,
 * nor when. */
typedef struct dc_rng {
    uint64_t s;
} dc_rng;

enum { DC_RNG_ORDER = 1, DC_RNG_VIEW = 2, DC_RNG_MASK = 3, DC_RNG_DROP_PATH = 4 };

static inline uint64_t dc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The start of the stream for (seed, purpose, a, b, c). */
static inline uint64_t dc_rng_key(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b,
                                  uint64_t c)
{
    uint64_t h = dc_mix64(seed + 0x9E3779B97F4A7C15ull * (purpose + 1));
    h = dc_mix64(h ^ (a + 0x632BE59BD9B4E019ull));
    h = dc_mix64(h ^ (b + 0x85157AF5ull * 0x2545F4914F6CDD1Dull));
    return dc_mix64(h ^ (c + 0xD1B54A32D192ED03ull));
}

static inline dc_rng dc_rng_from(uint64_t key)
{
    return (dc_rng){dc_mix64(key ^ 0xA0761D6478BD642Full)};
}

static inline uint64_t dc_rng_u64(dc_rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return dc_mix64(r->s);
}

/* [0, 1) with 53 random bits, like Python's random.random(). */
static inline double dc_rng_uniform(dc_rng *r)
{
    return (double)(dc_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* a + (b - a)·U[0, 1), like Python's random.uniform (a > b allowed). */
static inline double dc_rng_range(dc_rng *r, double a, double b)
{
    return a + (b - a) * dc_rng_uniform(r);
}

/* Uniform integer in [lo, hi] (inclusive, like random.randint), unbiased. */
static inline int64_t dc_rng_int(dc_rng *r, int64_t lo, int64_t hi)
{
    uint64_t range = (uint64_t)(hi - lo) + 1;
    if (range == 0)
        return (int64_t)dc_rng_u64(r);
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do
        x = dc_rng_u64(r);
    while (x >= limit);
    return lo + (int64_t)(x % range);
}

/* RandomResizedCrop's box (torchvision get_params) for an H×W image:
 * box = {top, left, h, w}. */
void dc_crop_box(dc_rng *r, int H, int W, const float scale[2], int box[4]);

/* A block of one image's mask: rows [top, top + h), columns [left, left + w). */
typedef struct dc_mask_rect {
    int top, left, h, w;
} dc_mask_rect;

/* One image's mask grown from rectangles (graphs/DINOV2.md §4, step 3):
 * mask [H·W] (zeroed here) gets at most `target` patches in blocks; the blocks actually placed are written to rects
 * (up to max_rects, may be NULL). Returns the number of masked patches. */
int64_t dc_block_mask_image(dc_rng *r, int H, int W, int64_t target, uint8_t *mask,
                            dc_mask_rect *rects, int max_rects, int *n_rects);

/* The masked-token inputs from mask [n_images, N] (uint8): mask_f32 [n_images, N],
 * index [M] and weight [M] as graphs/dinov2.h lays them out. DC_ERR_INVALID
 * if more than M patches are masked. */
dc_status dc_ibot_targets(const uint8_t *mask, int64_t n_images, int64_t N, int n_registers,
                          int64_t M, float *mask_f32, int64_t *index, float *weight);

/* Drop-path scales: n values, each 0 with probability p, else 1/(1 - p). */
void dc_drop_path_scales(dc_rng *r, float p, int64_t n, float *out);

#endif
