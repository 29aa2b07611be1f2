/* Patch-feature PCA pictures (patch_pca.h). */
#include "patch_pca.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "backbone_features.h"
#include "configs.h"
#include "dc_data.h"
#include "dc_safetensors.h"
#include "knn.h"
#include "pca.h"

enum { DEFAULT_IMAGES = 8, MAX_IMAGES = 256, MIN_TILE = 112, GAP = 4, MAX_COLUMNS = 4, BORDER = 8 };
static const uint8_t CANVAS = 255; /* white between the tiles */

/* The images: x [N, C, S, S] normalised for the model, shown [N, C, S, S] in [0, 1]. */
typedef struct inputs {
    int n, channels, size;
    float *x, *shown;
} inputs;

static dc_status add_image(inputs *in, int i, const dc_image *img, const dc_dinov2_config *c,
                           const char *what)
{
    float mean[3], std[3];
    static const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    dc_config_normalization(c, mean, std);
    int64_t per = (int64_t)in->channels * in->size * in->size;
    dc_status s = dc_knn_preprocess(img, in->channels, in->size, mean, std, in->x + i * per);
    if (s == DC_OK)
        s = dc_knn_preprocess(img, in->channels, in->size, zero, one, in->shown + i * per);
    return s == DC_OK ? DC_OK : dc_error_context(s, "%s", what);
}

static dc_status read_inputs(const dc_dinov2_config *c, const char *data, const dc_pca_picture_options *o,
                             inputs *in)
{
    in->channels = c->vit.in_chans;
    in->size = c->vit.image_size;
    dc_dataset *ds = NULL;
    int64_t size = 0;
    if (o->n_files > 0) {
        in->n = o->n_files;
    } else {
        if (dc_dataset_open(data, "test", &ds) != DC_OK)
            DC_TRY(dc_dataset_open(data, "train", &ds));
        size = dc_dataset_size(ds);
        int want = o->n_images > 0 ? o->n_images : DEFAULT_IMAGES;
        in->n = size < want ? (int)size : want;
    }
    dc_status s = DC_OK;
    if (in->n < 1 || in->n > MAX_IMAGES)
        s = dc_error(DC_ERR_INVALID, "PCA picture: %d images (1 to %d)", in->n, MAX_IMAGES);
    int64_t per = (int64_t)in->channels * in->size * in->size;
    if (s == DC_OK) {
        in->x = malloc((size_t)(in->n * per) * sizeof *in->x);
        in->shown = malloc((size_t)(in->n * per) * sizeof *in->shown);
        if (!in->x || !in->shown)
            s = dc_error(DC_ERR_NOMEM, "PCA picture: %d images", in->n);
    }
    for (int i = 0; s == DC_OK && i < in->n; i++) {
        dc_image img = {0};
        char what[1100];
        if (ds) {
            int64_t index = i * size / in->n; /* evenly spaced */
            snprintf(what, sizeof what, "%s image %lld", data, (long long)index);
            s = dc_dataset_get(ds, index, &img, NULL);
        } else {
            snprintf(what, sizeof what, "%s", o->files[i]);
            s = dc_image_load(o->files[i], &img);
        }
        if (s == DC_OK)
            s = add_image(in, i, &img, c, what);
        free(img.pixels);
    }
    dc_dataset_close(ds);
    return s;
}

/* The mean squared distance of rows `x` [n, d] (where side[r] == want) to their mean. */
static double spread(const float *x, int64_t n, int64_t d, const bool *side, bool want)
{
    double *m = calloc((size_t)d, sizeof *m), total = 0;
    int64_t count = 0;
    if (!m)
        return 0;
    for (int64_t r = 0; r < n; r++)
        if (side[r] == want) {
            count++;
            for (int64_t t = 0; t < d; t++)
                m[t] += x[r * d + t];
        }
    for (int64_t t = 0; count && t < d; t++)
        m[t] /= (double)count;
    for (int64_t r = 0; r < n; r++)
        if (side[r] == want)
            for (int64_t t = 0; t < d; t++)
                total += (x[r * d + t] - m[t]) * (x[r * d + t] - m[t]);
    free(m);
    return count ? total / (double)count : 0;
}

/* rgb [rows, 3] in 0..255 with fg [rows]: PCA, orientation, mask and colours. */
static dc_status colour_patches(const float *feat, int64_t rows, int64_t d, double threshold,
                                uint8_t *rgb, bool *fg, dc_pca_picture_result *res)
{
    double *mean = malloc((size_t)d * sizeof *mean), *comp = malloc((size_t)(3 * d) * sizeof *comp);
    double *proj = malloc((size_t)(3 * rows) * sizeof *proj), var[3];
    dc_status s = mean && comp && proj ? DC_OK : dc_error(DC_ERR_NOMEM, "PCA of %lld patches",
                                                          (long long)rows);
    if (s == DC_OK)
        s = dc_pca(feat, rows, d, 3, mean, comp, var);
    if (s == DC_OK) {
        double total = 0;
        for (int64_t t = 0; t < d; t++) {
            double m2 = 0;
            for (int64_t r = 0; r < rows; r++)
                m2 += (feat[r * d + t] - mean[t]) * (feat[r * d + t] - mean[t]);
            total += m2 / (double)(rows - 1);
        }
        for (int a = 0; a < 3; a++) {
            res->variance_share[a] = total > 0 ? var[a] / total : 0;
            for (int64_t r = 0; r < rows; r++) {
                double p = 0;
                for (int64_t t = 0; t < d; t++)
                    p += (feat[r * d + t] - mean[t]) * comp[a * d + t];
                proj[r * 3 + a] = p;
            }
        }
        /* The first component's positive side is the one that varies more. */
        for (int64_t r = 0; r < rows; r++)
            fg[r] = proj[r * 3] > 0;
        if (spread(feat, rows, d, fg, false) > spread(feat, rows, d, fg, true))
            for (int64_t r = 0; r < rows; r++)
                proj[r * 3] = -proj[r * 3];
        double cut = threshold * sqrt(fmax(var[0], 0));
        int64_t kept = 0;
        for (int64_t r = 0; r < rows; r++)
            kept += fg[r] = proj[r * 3] > cut;
        res->foreground = (double)kept / (double)rows;
        double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (int64_t r = 0; r < rows; r++)
            for (int a = 0; fg[r] && a < 3; a++) {
                lo[a] = fmin(lo[a], proj[r * 3 + a]);
                hi[a] = fmax(hi[a], proj[r * 3 + a]);
            }
        for (int64_t r = 0; r < rows; r++)
            for (int a = 0; a < 3; a++) {
                double span = hi[a] - lo[a], v = span > 0 ? (proj[r * 3 + a] - lo[a]) / span : 0.5;
                rgb[r * 3 + a] = fg[r] ? (uint8_t)lrint(255 * v) : 0;
            }
    }
    free(mean);
    free(comp);
    free(proj);
    return s;
}

static dc_status write_png(const char *path, const uint8_t *rgb, int w, int h)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&pi, path, 0, rgb, 0, NULL)) {
        dc_status s = dc_error(DC_ERR_IO, "%s: PNG: %s", path, pi.message);
        png_image_free(&pi);
        return s;
    }
    return DC_OK;
}

/* The picture: pairs (input | patch map) of side `tile`, in rows of up to MAX_COLUMNS. */
static dc_status compose(const inputs *in, const uint8_t *patch_rgb, int grid, const char *path,
                         dc_pca_picture_result *res)
{
    int scale = (MIN_TILE + in->size - 1) / in->size, tile = in->size * scale;
    int cols = in->n < MAX_COLUMNS ? in->n : MAX_COLUMNS, rows = (in->n + cols - 1) / cols;
    int pair = 2 * tile + GAP;
    int w = 2 * BORDER + cols * pair + (cols - 1) * 2 * GAP;
    int h = 2 * BORDER + rows * tile + (rows - 1) * 2 * GAP;
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px)
        return dc_error(DC_ERR_NOMEM, "PCA picture %dx%d", w, h);
    memset(px, CANVAS, (size_t)w * h * 3);
    int64_t plane = (int64_t)in->size * in->size;
    for (int i = 0; i < in->n; i++) {
        int x0 = BORDER + (i % cols) * (pair + 2 * GAP), y0 = BORDER + (i / cols) * (tile + 2 * GAP);
        const float *img = in->shown + i * in->channels * plane;
        for (int y = 0; y < tile; y++)
            for (int x = 0; x < tile; x++) {
                int sy = y / scale, sx = x / scale;
                uint8_t *a = px + ((size_t)(y0 + y) * w + x0 + x) * 3;
                uint8_t *b = px + ((size_t)(y0 + y) * w + x0 + tile + GAP + x) * 3;
                for (int ch = 0; ch < 3; ch++) {
                    float v = img[(in->channels == 3 ? ch : 0) * plane + sy * in->size + sx];
                    a[ch] = (uint8_t)lrintf(255 * fminf(fmaxf(v, 0), 1));
                }
                int py = sy * grid / in->size, pxl = sx * grid / in->size;
                memcpy(b, patch_rgb + (((int64_t)i * grid + py) * grid + pxl) * 3, 3);
            }
    }
    dc_status s = write_png(path, px, w, h);
    free(px);
    res->width = w;
    res->height = h;
    return s;
}

dc_status dc_pca_picture(const char *checkpoint, const char *png, const dc_pca_picture_options *opt,
                         dc_pca_picture_result *res)
{
    static const dc_pca_picture_options defaults = {0};
    opt = opt ? opt : &defaults;
    memset(res, 0, sizeof *res);
    dc_safetensors *ckpt;
    DC_TRY(dc_safetensors_load(checkpoint, &ckpt));
    dc_dinov2_config c;
    dc_status s = dc_config_of_checkpoint(ckpt, &c);
    const char *data = opt->data ? opt->data
                       : dc_safetensors_meta(ckpt, "data") ? dc_safetensors_meta(ckpt, "data")
                                                           : DC_PCA_DEFAULT_DATA;
    inputs in = {0};
    dc_backbone_features f = {0};
    if (s == DC_OK)
        s = read_inputs(&c, data, opt, &in);
    if (s == DC_OK)
        s = dc_backbone_features_create(&c, ckpt, checkpoint, "teacher.backbone.", in.n,
                                        DC_BACKBONE_PATCH_TOKENS, opt->threads, &f);
    dc_safetensors_destroy(ckpt);
    int grid = c.vit.image_size / (c.vit.patch_size > 0 ? c.vit.patch_size : 1);
    int64_t rows = (int64_t)in.n * grid * grid, d = c.vit.embed_dim;
    uint8_t *rgb = NULL;
    bool *fg = NULL;
    if (s == DC_OK) {
        memcpy(f.images, in.x, (size_t)in.n * in.channels * in.size * in.size * sizeof *in.x);
        s = dc_backbone_features_run(&f);
    }
    if (s == DC_OK) {
        rgb = malloc((size_t)rows * 3);
        fg = malloc((size_t)rows * sizeof *fg);
        s = rgb && fg ? colour_patches(f.out, rows, d, opt->threshold, rgb, fg, res)
                      : dc_error(DC_ERR_NOMEM, "PCA picture");
    }
    if (s == DC_OK)
        s = compose(&in, rgb, grid, png, res);
    if (s == DC_OK) {
        res->n_images = in.n;
        res->grid = grid;
        if (opt->log)
            fprintf(opt->log, "pca: %s: %d images, %dx%d patches of %lld values; components explain "
                    "%.1f%%, %.1f%%, %.1f%% of the variance; %.0f%% of the patches foreground\n",
                    checkpoint, in.n, grid, grid, (long long)d, 100 * res->variance_share[0],
                    100 * res->variance_share[1], 100 * res->variance_share[2], 100 * res->foreground);
    }
    dc_backbone_features_destroy(&f);
    free(in.x);
    free(in.shown);
    free(rgb);
    free(fg);
    return s == DC_OK ? DC_OK : dc_error_context(s, "dinoc pca %s", checkpoint);
}
