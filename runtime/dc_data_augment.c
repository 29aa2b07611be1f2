/* DINOv2 multi-crop augmentation of one view (graphs/DINOV2.md §6), in float.
 * Planes are CHW floats in [0, 1]; every op clamps like the 8-bit images of
 * PIL/torchvision would. The spec's checks and defaults live here too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dc_data_internal.h"
#include "dc_pil_resample.h"

/* ---- the spec -------------------------------------------------------------------------- */

void dc_batch_spec_defaults(dc_batch_spec *s)
{
    memset(s, 0, sizeof *s);
    s->batch_size = 64;
    s->channels = 3;
    s->global_size = 224;
    s->local_size = 96;
    s->n_local = 8;
    s->global_scale[0] = 0.32f, s->global_scale[1] = 1.0f;
    s->local_scale[0] = 0.05f, s->local_scale[1] = 0.32f;
    s->hflip_prob = 0.5f;
    s->jitter_prob = 0.8f;
    s->jitter[0] = 0.4f, s->jitter[1] = 0.4f, s->jitter[2] = 0.2f, s->jitter[3] = 0.1f;
    s->gray_prob = 0.2f;
    s->blur_prob[0] = 1.0f, s->blur_prob[1] = 0.1f, s->blur_prob[2] = 0.5f;
    for (int v = 0; v < 3; v++)
        s->blur_sigma[v][0] = 0.1f, s->blur_sigma[v][1] = 2.0f;
    s->solarize_prob = 0.2f;
    s->mean[0] = 0.485f, s->mean[1] = 0.456f, s->mean[2] = 0.406f;
    s->std[0] = 0.229f, s->std[1] = 0.224f, s->std[2] = 0.225f;
    s->patch_size = 16;
    s->n_registers = 0;
    s->depth = 12;
    s->drop_path = 0.1f;
    s->mask_probability = 0.5f;
    s->mask_ratio[0] = 0.1f, s->mask_ratio[1] = 0.5f;
    s->max_masked = dc_batch_max_masked(s);
}

int64_t dc_batch_max_masked(const dc_batch_spec *s)
{
    /* The masks of the whole batch, drawn at once or per slice (2·b views each). */
    int64_t grid = s->patch_size > 0 ? s->global_size / s->patch_size : 0;
    int64_t slices = s->mask_slices > 1 ? s->mask_slices : 1;
    int64_t views = 2 * (int64_t)s->batch_size / slices;
    int64_t bound = slices * dc_block_masks_bound(views, grid * grid, s->mask_probability,
                                                  s->mask_ratio, views);
    return bound > 0 ? bound : 1;
}

static int prob_ok(float p)
{
    return p >= 0.0f && p <= 1.0f; /* false for NaN */
}

dc_status dc_batch_spec_check(const dc_batch_spec *s)
{
#define BAD(...) return dc_error(DC_ERR_INVALID, "batch spec: " __VA_ARGS__)
    if (s->batch_size < 1)
        BAD("batch_size %d (must be >= 1)", s->batch_size);
    if (s->channels != 1 && s->channels != 3)
        BAD("channels %d (must be 1 or 3)", s->channels);
    if (s->slice_first < 0 || s->slice_count < 0 || s->slice_first + s->slice_count > s->batch_size)
        BAD("slice [%d, %d) of a batch of %d images", s->slice_first,
            s->slice_first + s->slice_count, s->batch_size);
    if (s->mask_slices < 0 || (s->mask_slices > 1 && s->batch_size % s->mask_slices != 0))
        BAD("mask_slices %d does not divide batch_size %d", s->mask_slices, s->batch_size);
    if (s->global_size < 1 || s->global_size > 8192)
        BAD("global_size %d", s->global_size);
    if (s->n_local < 0 || s->n_local > 1024)
        BAD("n_local %d", s->n_local);
    if (s->n_local > 0 && (s->local_size < 1 || s->local_size > 8192))
        BAD("local_size %d", s->local_size);
    if (!(s->global_scale[0] > 0 && s->global_scale[0] <= s->global_scale[1] &&
          s->global_scale[1] <= 1))
        BAD("global_scale (%g, %g) (need 0 < min <= max <= 1)", s->global_scale[0],
            s->global_scale[1]);
    if (s->n_local > 0 && !(s->local_scale[0] > 0 && s->local_scale[0] <= s->local_scale[1] &&
                            s->local_scale[1] <= 1))
        BAD("local_scale (%g, %g) (need 0 < min <= max <= 1)", s->local_scale[0],
            s->local_scale[1]);
    const struct {
        const char *name;
        float p;
    } probs[] = {{"hflip_prob", s->hflip_prob},     {"jitter_prob", s->jitter_prob},
                 {"gray_prob", s->gray_prob},       {"blur_prob[0]", s->blur_prob[0]},
                 {"blur_prob[1]", s->blur_prob[1]}, {"blur_prob[2]", s->blur_prob[2]},
                 {"solarize_prob", s->solarize_prob}, {"mask_probability", s->mask_probability}};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        if (!prob_ok(probs[i].p))
            BAD("%s %g (must be in [0, 1])", probs[i].name, probs[i].p);
    static const char *const jn[4] = {"brightness", "contrast", "saturation", "hue"};
    for (int i = 0; i < 4; i++)
        if (!(s->jitter[i] >= 0 && s->jitter[i] <= (i == 3 ? 0.5f : 100.0f)))
            BAD("jitter %s %g (must be in [0, %s])", jn[i], s->jitter[i], i == 3 ? "0.5" : "100");
    for (int v = 0; v < 3; v++)
        if (s->blur_prob[v] > 0 && !(s->blur_sigma[v][0] > 0 && s->blur_sigma[v][0] <= s->blur_sigma[v][1] &&
                                     s->blur_sigma[v][1] <= 100))
            BAD("blur_sigma[%d] (%g, %g) (need 0 < min <= max <= 100)", v, s->blur_sigma[v][0],
                s->blur_sigma[v][1]);
    for (int c = 0; c < s->channels; c++)
        if (!(s->std[c] > 0) || !isfinite(s->mean[c]) || !isfinite(s->std[c]))
            BAD("mean[%d] %g / std[%d] %g (std must be > 0)", c, s->mean[c], c, s->std[c]);
    if (s->patch_size < 1 || s->patch_size > s->global_size)
        BAD("patch_size %d for global_size %d", s->patch_size, s->global_size);
    if (s->n_registers < 0 || s->depth < 1)
        BAD("n_registers %d, depth %d", s->n_registers, s->depth);
    if (!(s->drop_path >= 0 && s->drop_path < 1))
        BAD("drop_path %g (must be in [0, 1))", s->drop_path);
    if (!(s->mask_ratio[0] >= 0 && s->mask_ratio[0] <= s->mask_ratio[1] && s->mask_ratio[1] <= 1))
        BAD("mask_ratio (%g, %g) (need 0 <= min <= max <= 1)", s->mask_ratio[0],
            s->mask_ratio[1]);
    int64_t bound = dc_batch_max_masked(s);
    if (s->max_masked < bound)
        BAD("max_masked %lld is below the bound %lld of these shapes and ratios",
            (long long)s->max_masked, (long long)bound);
#undef BAD
    return DC_OK;
}

/* ---- RandomResizedCrop ----------------------------------------------------------------- */

void dc_crop_box(dc_rng *r, int H, int W, const float scale[2], int box[4])
{
    double area = (double)H * W;
    const double lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * dc_rng_range(r, scale[0], scale[1]);
        double aspect = exp(dc_rng_range(r, lr0, lr1));
        /* rint: round half to even under the default rounding mode, as Python. */
        int w = (int)rint(sqrt(target * aspect));
        int h = (int)rint(sqrt(target / aspect));
        if (0 < w && w <= W && 0 < h && h <= H) {
            box[0] = (int)dc_rng_int(r, 0, H - h);
            box[1] = (int)dc_rng_int(r, 0, W - w);
            box[2] = h;
            box[3] = w;
            return;
        }
    }
    /* The centre crop, clipped to the ratio range. */
    double in_ratio = (double)W / H;
    int w, h;
    if (in_ratio < 3.0 / 4.0) {
        w = W;
        h = (int)rint(w / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
        h = H;
        w = (int)rint(h * (4.0 / 3.0));
    } else {
        w = W;
        h = H;
    }
    if (h > H)
        h = H;
    if (w > W)
        w = W;
    box[0] = (H - h) / 2;
    box[1] = (W - w) / 2;
    box[2] = h;
    box[3] = w;
}

static inline float clamp01(float v)
{
    v = v > 0 ? v : 0; /* the forms of maxss/minss: no branches */
    return v < 1 ? v : 1;
}

/* d[0..n) += w · q[0..n), four lanes at a time: the inner loop of every
 * separable pass. (-O2 does not vectorise loops of unknown length.) */
typedef float v4f __attribute__((vector_size(16)));

static inline void axpy(float *restrict d, const float *restrict q, float w, int n)
{
    int x = 0;
    const v4f wv = {w, w, w, w};
    for (; x + 4 <= n; x += 4) {
        v4f a, b;
        memcpy(&a, d + x, sizeof a);
        memcpy(&b, q + x, sizeof b);
        a += b * wv;
        memcpy(d + x, &a, sizeof a);
    }
    for (; x < n; x++)
        d[x] += q[x] * w;
}

/* The box {top, left, h, w} of img resampled to out [channels, S, S]. */
static dc_status resize_view(const dc_image *img, int channels, const int box[4], int S,
                             int flip, float *out)
{
    const int top = box[0], left = box[1], h = box[2], w = box[3], c = img->c;
    const int color = c >= 3; /* 2 and 4 channels carry alpha, dropped */
    float *kx = NULL, *ky = NULL;
    int *bx = NULL, *by = NULL;
    int kxs = dc_pil_bicubic_coeffs(w, S, &kx, &bx);
    int kys = dc_pil_bicubic_coeffs(h, S, &ky, &by);
    size_t nsrc = (size_t)h * w, ntmp = (size_t)h * S;
    float *src = malloc(nsrc * sizeof *src), *tmp = malloc(ntmp * sizeof *tmp);
    dc_status st = DC_OK;
    if (!kxs || !kys || !src || !tmp) {
        st = dc_error(DC_ERR_NOMEM, "augmentation: out of memory (crop %dx%d)", h, w);
        goto done;
    }
    /* A grey source yields one plane, replicated; RGB to one channel is luma. */
    int planes = color ? channels : 1;
    for (int ch = 0; ch < planes; ch++) {
        for (int y = 0; y < h; y++) {
            const uint8_t *row = img->pixels + ((size_t)(top + y) * img->w + left) * c;
            float *d = src + (size_t)y * w;
            if (color && channels == 1) /* PIL's convert("L"), ITU-R 601-2 */
                for (int x = 0; x < w; x++)
                    d[x] = (float)((row[x * c] * 19595 + row[x * c + 1] * 38470 +
                                    row[x * c + 2] * 7471 + 0x8000) >> 16) *
                           (1.0f / 255);
            else
                for (int x = 0; x < w; x++)
                    d[x] = row[x * c + ch] * (1.0f / 255);
        }
        /* Horizontal pass, mirrored when flipping; four rows at a time so the
         * sums are independent chains rather than one long dependency. */
        int y = 0;
        for (; y + 4 <= h; y += 4) {
            const float *s0 = src + (size_t)y * w, *s1 = s0 + w, *s2 = s1 + w, *s3 = s2 + w;
            float *d = tmp + (size_t)y * S;
            for (int xx = 0; xx < S; xx++) {
                const float *k = kx + (size_t)xx * kxs;
                const int x0 = bx[2 * xx], nt = bx[2 * xx + 1];
                float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (int i = 0; i < nt; i++) {
                    a0 += s0[x0 + i] * k[i];
                    a1 += s1[x0 + i] * k[i];
                    a2 += s2[x0 + i] * k[i];
                    a3 += s3[x0 + i] * k[i];
                }
                const int xo = flip ? S - 1 - xx : xx;
                d[xo] = clamp01(a0);
                d[S + xo] = clamp01(a1);
                d[2 * S + xo] = clamp01(a2);
                d[3 * S + xo] = clamp01(a3);
            }
        }
        for (; y < h; y++) {
            const float *s = src + (size_t)y * w;
            float *d = tmp + (size_t)y * S;
            for (int xx = 0; xx < S; xx++) {
                const float *k = kx + (size_t)xx * kxs;
                const float *p = s + bx[2 * xx];
                float acc = 0;
                for (int i = 0; i < bx[2 * xx + 1]; i++)
                    acc += p[i] * k[i];
                d[flip ? S - 1 - xx : xx] = clamp01(acc);
            }
        }
        float *o = out + (size_t)ch * S * S;
        for (int yy = 0; yy < S; yy++) { /* vertical pass */
            const float *k = ky + (size_t)yy * kys;
            float *d = o + (size_t)yy * S;
            for (int xx = 0; xx < S; xx++)
                d[xx] = 0;
            for (int i = 0; i < by[2 * yy + 1]; i++)
                axpy(d, tmp + (size_t)(by[2 * yy] + i) * S, k[i], S);
            for (int xx = 0; xx < S; xx++)
                d[xx] = clamp01(d[xx]);
        }
    }
    for (int ch = planes; ch < channels; ch++)
        memcpy(out + (size_t)ch * S * S, out, (size_t)S * S * sizeof *out);
done:
    free(kx);
    free(ky);
    free(bx);
    free(by);
    free(src);
    free(tmp);
    return st;
}

/* ---- colour ops (torchvision's tensor functional semantics) ---------------------------- */

static float gray_of(float r, float g, float b)
{
    return 0.2989f * r + 0.587f * g + 0.114f * b;
}

/* v = clamp(f·v + (1 − f)·other), other a constant or a plane. */
static void blend(float *v, size_t n, float f, const float *other, float other_const)
{
    for (size_t i = 0; i < n; i++)
        v[i] = clamp01(f * v[i] + (1 - f) * (other ? other[i] : other_const));
}

static void adjust_brightness(float *p, int C, size_t n, float f)
{
    for (size_t i = 0; i < (size_t)C * n; i++)
        p[i] = clamp01(p[i] * f);
}

static void adjust_contrast(float *p, int C, size_t n, float f)
{
    double sum = 0;
    if (C == 3)
        for (size_t i = 0; i < n; i++)
            sum += gray_of(p[i], p[n + i], p[2 * n + i]);
    else
        for (size_t i = 0; i < n; i++)
            sum += p[i];
    float mean = (float)(sum / (double)n);
    blend(p, (size_t)C * n, f, NULL, mean);
}

static void adjust_saturation(float *p, int C, size_t n, float f, float *gray)
{
    if (C != 3)
        return;
    for (size_t i = 0; i < n; i++)
        gray[i] = gray_of(p[i], p[n + i], p[2 * n + i]);
    for (int c = 0; c < 3; c++)
        blend(p + c * n, n, f, gray, 0);
}

/* torchvision's _rgb2hsv / _hsv2rgb with the hue rotated by f (in turns). */
static void adjust_hue(float *p, int C, size_t n, float f)
{
    if (C != 3)
        return;
    float *R = p, *G = p + n, *B = p + 2 * n;
    for (size_t i = 0; i < n; i++) {
        float r = R[i], g = G[i], b = B[i];
        float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
        int eqc = maxc == minc;
        float cr = maxc - minc;
        float s = cr / (eqc ? 1.0f : maxc);
        float crd = eqc ? 1.0f : cr;
        float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
        float hue;
        if (maxc == r)
            hue = bc - gc;
        else if (maxc == g)
            hue = 2.0f + rc - bc;
        else
            hue = 4.0f + gc - rc;
        hue = fmodf(hue / 6.0f + 1.0f, 1.0f);
        hue = hue + f;
        hue = hue - floorf(hue); /* Python's % 1.0 */
        float v = maxc;
        float h6 = hue * 6.0f;
        float fi = floorf(h6);
        float fr = h6 - fi;
        int k = ((int)fi) % 6;
        if (k < 0)
            k += 6;
        float pp = clamp01(v * (1 - s)), q = clamp01(v * (1 - s * fr)),
              t = clamp01(v * (1 - s * (1 - fr)));
        float o[3];
        switch (k) {
        case 0: o[0] = v, o[1] = t, o[2] = pp; break;
        case 1: o[0] = q, o[1] = v, o[2] = pp; break;
        case 2: o[0] = pp, o[1] = v, o[2] = t; break;
        case 3: o[0] = pp, o[1] = q, o[2] = v; break;
        case 4: o[0] = t, o[1] = pp, o[2] = v; break;
        default: o[0] = v, o[1] = pp, o[2] = q; break;
        }
        R[i] = o[0], G[i] = o[1], B[i] = o[2];
    }
}

/* ---- blur and solarisation ------------------------------------------------------------- */

/* A separable Gaussian of radius ceil(3σ), edges replicated. Each pass runs
 * over an edge-padded copy, taps outside and pixels inside, so the inner loop
 * has no branches and no dependency between iterations. */
static dc_status gaussian_blur(float *p, int C, int S, float sigma)
{
    int rad = (int)ceil(3.0 * sigma);
    if (rad < 1)
        return DC_OK;
    const int taps = 2 * rad + 1, P = S + 2 * rad;
    float *k = malloc((size_t)taps * sizeof *k);
    float *tmp = malloc((size_t)S * S * sizeof *tmp);
    float *pad = malloc((size_t)P * sizeof *pad);
    if (!k || !tmp || !pad) {
        free(k);
        free(tmp);
        free(pad);
        return dc_error(DC_ERR_NOMEM, "augmentation: out of memory (blur)");
    }
    double sum = 0;
    for (int i = -rad; i <= rad; i++)
        sum += k[i + rad] = (float)exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = 0; i < taps; i++)
        k[i] = (float)(k[i] / sum);
    for (int c = 0; c < C; c++) {
        float *pl = p + (size_t)c * S * S;
        for (int y = 0; y < S; y++) {
            const float *row = pl + (size_t)y * S;
            for (int i = 0; i < rad; i++) {
                pad[i] = row[0];
                pad[rad + S + i] = row[S - 1];
            }
            memcpy(pad + rad, row, (size_t)S * sizeof *row);
            float *d = tmp + (size_t)y * S;
            for (int x = 0; x < S; x++)
                d[x] = 0;
            for (int i = 0; i < taps; i++)
                axpy(d, pad + i, k[i], S);
        }
        for (int y = 0; y < S; y++) {
            float *d = pl + (size_t)y * S;
            for (int x = 0; x < S; x++)
                d[x] = 0;
            for (int i = -rad; i <= rad; i++) {
                int yi = y + i < 0 ? 0 : y + i >= S ? S - 1 : y + i;
                axpy(d, tmp + (size_t)yi * S, k[i + rad], S);
            }
            for (int x = 0; x < S; x++)
                d[x] = clamp01(d[x]);
        }
    }
    free(k);
    free(tmp);
    free(pad);
    return DC_OK;
}

/* ---- one view -------------------------------------------------------------------------- */

dc_status dc_augment_view(const dc_image *img, const dc_batch_spec *spec, int view,
                          uint64_t seed, float *out)
{
    if (!img->pixels || img->h < 1 || img->w < 1 || img->c < 1 || img->c > 4)
        return dc_error(DC_ERR_INVALID, "augmentation: an image of %dx%dx%d", img->h, img->w,
                        img->c);
    const int global = view < 2, C = spec->channels;
    const int S = global ? spec->global_size : spec->local_size;
    const size_t n = (size_t)S * S;
    dc_rng r = dc_rng_from(seed);

    int box[4];
    dc_crop_box(&r, img->h, img->w, global ? spec->global_scale : spec->local_scale, box);
    int flip = dc_rng_uniform(&r) < spec->hflip_prob;
    DC_TRY(resize_view(img, C, box, S, flip, out));

    if (dc_rng_uniform(&r) < spec->jitter_prob) {
        /* torchvision ColorJitter.get_params: a random order, then the factors. */
        int order[4] = {0, 1, 2, 3};
        for (int i = 3; i > 0; i--) {
            int j = (int)dc_rng_int(&r, 0, i);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        float fac[4];
        for (int i = 0; i < 3; i++)
            fac[i] = (float)dc_rng_range(&r, fmax(0.0, 1.0 - spec->jitter[i]),
                                         1.0 + spec->jitter[i]);
        fac[3] = (float)dc_rng_range(&r, -spec->jitter[3], spec->jitter[3]);
        float *gray = NULL;
        for (int i = 0; i < 4; i++) {
            int op = order[i];
            if (spec->jitter[op] == 0)
                continue;
            switch (op) {
            case 0: adjust_brightness(out, C, n, fac[0]); break;
            case 1: adjust_contrast(out, C, n, fac[1]); break;
            case 2:
                if (C == 3 && !gray && !(gray = malloc(n * sizeof *gray)))
                    return dc_error(DC_ERR_NOMEM, "augmentation: out of memory");
                adjust_saturation(out, C, n, fac[2], gray);
                break;
            default: adjust_hue(out, C, n, fac[3]); break;
            }
        }
        free(gray);
    }

    if (dc_rng_uniform(&r) < spec->gray_prob && C == 3)
        for (size_t i = 0; i < n; i++)
            out[i] = out[n + i] = out[2 * n + i] = gray_of(out[i], out[n + i], out[2 * n + i]);

    const int kind = view < 2 ? view : 2; /* the index of blur_prob and blur_sigma */
    if (dc_rng_uniform(&r) < spec->blur_prob[kind]) {
        float sigma = (float)dc_rng_range(&r, spec->blur_sigma[kind][0], spec->blur_sigma[kind][1]);
        DC_TRY(gaussian_blur(out, C, S, sigma));
    }

    if (view == 1 && dc_rng_uniform(&r) < spec->solarize_prob)
        for (size_t i = 0; i < (size_t)C * n; i++)
            if (out[i] * 255.0f >= 128.0f) /* ImageOps.solarize(128) */
                out[i] = 1.0f - out[i];

    for (int c = 0; c < C; c++) {
        float m = spec->mean[c], inv = 1.0f / spec->std[c];
        float *p = out + (size_t)c * n;
        for (size_t i = 0; i < n; i++)
            p[i] = (p[i] - m) * inv;
    }
    return DC_OK;
}
