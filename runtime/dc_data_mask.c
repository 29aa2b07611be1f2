/* iBOT block masks (graphs/DINOV2.md §4), the masked-token inputs of the step and
 * the drop-path keep scales. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dc_data_internal.h"

enum { MIN_PATCHES_PER_BLOCK = 4, ATTEMPTS_PER_BLOCK = 10 };
#define MIN_ASPECT 0.3

int64_t dc_block_mask_image(dc_rng *r, int H, int W, int64_t target, uint8_t *mask,
                            dc_mask_rect *rects, int max_rects, int *n_rects)
{
    memset(mask, 0, (size_t)H * W);
    const double lo = log(MIN_ASPECT), hi = log(1.0 / MIN_ASPECT);
    int64_t count = 0;
    int nr = 0;
    while (count < target) {
        /* max_num_masks_per_block = None: a block may take the whole rest. */
        int64_t max_new = target - count, delta = 0;
        for (int attempt = 0; attempt < ATTEMPTS_PER_BLOCK && delta == 0; attempt++) {
            double area = dc_rng_range(r, MIN_PATCHES_PER_BLOCK, (double)max_new);
            double aspect = exp(dc_rng_range(r, lo, hi));
            int h = (int)rint(sqrt(area * aspect)); /* Python round: half to even */
            int w = (int)rint(sqrt(area / aspect));
            if (w < W && h < H) { /* strict: a block never spans a whole side */
                int top = (int)dc_rng_int(r, 0, H - h);
                int left = (int)dc_rng_int(r, 0, W - w);
                int64_t already = 0;
                for (int y = top; y < top + h; y++)
                    for (int x = left; x < left + w; x++)
                        already += mask[y * W + x];
                int64_t added = (int64_t)h * w - already;
                if (added > 0 && added <= max_new) {
                    for (int y = top; y < top + h; y++)
                        for (int x = left; x < left + w; x++)
                            mask[y * W + x] = 1;
                    delta += added;
                    if (rects && nr < max_rects)
                        rects[nr] = (dc_mask_rect){top, left, h, w};
                    nr++;
                }
            }
        }
        if (delta == 0) /* no block fits: the image ends below its target */
            break;
        count += delta;
    }
    if (n_rects)
        *n_rects = nr;
    return count;
}

/* How many of n_images get a mask: int·float in float, as the reference computes it. */
static int64_t masked_image_count(int64_t n_images, float mask_probability)
{
    int64_t n = (int64_t)((float)n_images * mask_probability);
    return n < 0 ? 0 : n > n_images ? n_images : n;
}

/* The upper end of mask i's ratio range: numpy.linspace(min, max, n_masked + 1)
 * [i + 1], that is start + (i + 1)·step with the end exact. */
static double ratio_upper(int64_t i, int64_t n_masked, const float mask_ratio[2])
{
    const double r0 = mask_ratio[0], r1 = mask_ratio[1];
    return i + 1 == n_masked ? r1 : r0 + (double)(i + 1) * ((r1 - r0) / (double)n_masked);
}

/* The most patches mask i may target: floor(N · its upper ratio), at most the cap floor(N · max). */
static int64_t target_bound(int64_t i, int64_t n_masked, int64_t N, const float mask_ratio[2])
{
    int64_t bound = (int64_t)floor((double)N * ratio_upper(i, n_masked, mask_ratio));
    int64_t cap = (int64_t)((double)N * mask_ratio[1]);
    return bound < cap ? bound : cap;
}

int64_t dc_block_masks_bound(int64_t n_images, int64_t n_patches, float mask_probability,
                             const float mask_ratio[2], int64_t slots)
{
    /* The targets' bounds grow with i, so the largest are the last ones. */
    int64_t n_masked = masked_image_count(n_images, mask_probability), total = 0;
    for (int64_t i = n_masked - 1; i >= 0 && i >= n_masked - slots; i--)
        total += target_bound(i, n_masked, n_patches, mask_ratio);
    return total;
}

int64_t dc_block_masks(uint64_t seed, int64_t n_images, int grid_h, int grid_w,
                       float mask_probability, const float mask_ratio[2], uint8_t *mask)
{
    const int64_t N = (int64_t)grid_h * grid_w;
    memset(mask, 0, (size_t)(n_images * N));
    if (n_images <= 0 || N <= 0)
        return 0;
    dc_rng r = dc_rng_from(seed);
    const int64_t n_masked = masked_image_count(n_images, mask_probability);
    /* Python's random.shuffle of the list of masks (masked ones first), done
     * on their positions: image order[k] receives mask k. Drawn after the
     * masks, as the reference draws. */
    int64_t *order = malloc((size_t)n_images * sizeof *order);
    if (!order) /* a few bytes; without them, no image is masked this step */
        return 0;
    for (int64_t i = 0; i < n_images; i++)
        order[i] = i;
    /* Mask i's ratio is drawn from [linspace[i], linspace[i + 1]); its target
     * is held to target_bound, which dc_block_masks_bound adds up, whatever
     * the rounding of the draw. */
    int64_t total = 0;
    for (int64_t i = 0; i < n_masked; i++) {
        double p0 = i == 0 ? mask_ratio[0] : ratio_upper(i - 1, n_masked, mask_ratio);
        double p1 = ratio_upper(i, n_masked, mask_ratio);
        int64_t target = (int64_t)floor((double)N * dc_rng_range(&r, p0, p1));
        int64_t bound = target_bound(i, n_masked, N, mask_ratio);
        if (target > bound)
            target = bound;
        /* Mask i is written to row i for now; the shuffle permutes rows. */
        total += dc_block_mask_image(&r, grid_h, grid_w, target, mask + i * N, NULL, 0, NULL);
    }
    for (int64_t i = n_images - 1; i > 0; i--) {
        int64_t j = dc_rng_int(&r, 0, i);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* Apply the permutation in place: position k takes mask order[k]. The
     * unmasked masks are all zero, so only cycles through masked rows move. */
    uint8_t *tmp = malloc((size_t)N);
    uint8_t *done = calloc((size_t)n_images, 1);
    if (!tmp || !done) {
        free(tmp);
        free(done);
        free(order);
        return total; /* unshuffled, still a valid mask */
    }
    for (int64_t k = 0; k < n_images; k++) {
        if (done[k] || order[k] == k) {
            done[k] = 1;
            continue;
        }
        memcpy(tmp, mask + k * N, (size_t)N);
        int64_t cur = k;
        while (order[cur] != k) {
            memcpy(mask + cur * N, mask + order[cur] * N, (size_t)N);
            done[cur] = 1;
            cur = order[cur];
        }
        memcpy(mask + cur * N, tmp, (size_t)N);
        done[cur] = 1;
    }
    free(tmp);
    free(done);
    free(order);
    return total;
}

dc_status dc_ibot_targets(const uint8_t *mask, int64_t n_images, int64_t N, int n_registers,
                          int64_t M, float *mask_f32, int64_t *index, float *weight)
{
    const int64_t T = 1 + n_registers + N;
    int64_t m = 0;
    for (int64_t i = 0; i < n_images; i++) {
        const uint8_t *row = mask + i * N;
        int64_t ni = 0;
        for (int64_t p = 0; p < N; p++) {
            mask_f32[i * N + p] = row[p] ? 1.0f : 0.0f;
            ni += row[p] != 0;
        }
        if (m + ni > M)
            return dc_error(DC_ERR_INVALID,
                            "ibot targets: more than M = %lld masked patches (image %lld)",
                            (long long)M, (long long)i);
        for (int64_t p = 0; p < N; p++)
            if (row[p]) {
                index[m] = i * T + 1 + n_registers + p;
                weight[m++] = 1.0f / (float)ni;
            }
    }
    for (; m < M; m++) {
        index[m] = 0;
        weight[m] = 0.0f;
    }
    return DC_OK;
}

void dc_drop_path_scales(dc_rng *r, float p, int64_t n, float *out)
{
    const float keep = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++)
        out[i] = p > 0 && dc_rng_uniform(r) < p ? 0.0f : keep;
}
