/* Patch-feature PCA (graphs/pca.h, graphs/patch_pca.h): the eigenpairs
 * against numpy's eigh on a fixed matrix (tests/models/pca_reference.py),
 * rank-deficient and argument cases, and the picture of a small synthetic
 * checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <unistd.h>

#include "dc_data.h"
#include "dc_npy.h"
#include "patch_pca.h"
#include "pca.h"
#include "test_checkpoints.h"
#include "test_util.h"

#define MODELS DINOC_SOURCE_DIR "/tests/models/"

static dc_tensor *load(const char *file)
{
    dc_tensor *t = NULL;
    if (dc_npy_load(file, &t) != DC_OK)
        fprintf(stderr, "\n    %s\n", dc_error_message());
    return t;
}

static void test_against_numpy(void)
{
    dc_tensor *x = load(MODELS "pca_x.npy"), *mean = load(MODELS "pca_mean.npy");
    dc_tensor *var = load(MODELS "pca_variances.npy"), *comp = load(MODELS "pca_components.npy");
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mean);
    CU_ASSERT_PTR_NOT_NULL_FATAL(var);
    CU_ASSERT_PTR_NOT_NULL_FATAL(comp);
    int64_t n = x->dims[0], d = x->dims[1];
    CU_ASSERT_EQUAL_FATAL(d, 12);
    double m[12], c[3 * 12], v[3];
    DC_ASSERT_OK(dc_pca(x->data, n, d, 3, m, c, v));
    const double *want_m = mean->data, *want_v = var->data, *want_c = comp->data;
    for (int t = 0; t < d; t++)
        CU_ASSERT(fabs(m[t] - want_m[t]) < 1e-9 * (1 + fabs(want_m[t])));
    for (int a = 0; a < 3; a++) {
        CU_ASSERT(fabs(v[a] - want_v[a]) < 1e-8 * want_v[a]);
        double worst = 0;
        for (int t = 0; t < d; t++)
            worst = fmax(worst, fabs(c[a * d + t] - want_c[a * d + t]));
        if (worst >= 1e-6)
            fprintf(stderr, "\n    component %d: max difference %g from numpy", a, worst);
        CU_ASSERT(worst < 1e-6);
    }
    dc_tensor_destroy(x);
    dc_tensor_destroy(mean);
    dc_tensor_destroy(var);
    dc_tensor_destroy(comp);
}

/* Points on a line in 5-D: one direction, the other two variances 0 (the
 * iteration must still return orthonormal components). */
static void test_rank_deficient(void)
{
    enum { N = 20, D = 5 };
    float x[N * D];
    const double dir[D] = {0.6, 0, 0.8, 0, 0};
    for (int i = 0; i < N; i++)
        for (int t = 0; t < D; t++)
            x[i * D + t] = (float)((i - 7) * dir[t]);
    double m[D], c[3 * D], v[3];
    DC_ASSERT_OK(dc_pca(x, N, D, 3, m, c, v));
    CU_ASSERT(fabs(c[0] - 0.6) < 1e-6 && fabs(c[2] - 0.8) < 1e-6); /* f32 inputs */
    CU_ASSERT(fabs(v[0] - 35.0) < 35e-6); /* var of 0..19 = 35 */
    CU_ASSERT(fabs(v[1]) < 1e-9 && fabs(v[2]) < 1e-9);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double dot = 0;
            for (int t = 0; t < D; t++)
                dot += c[a * D + t] * c[b * D + t];
            CU_ASSERT(fabs(dot - (a == b)) < 1e-9);
        }
    CU_ASSERT_EQUAL(dc_pca(x, 1, D, 3, m, c, v), DC_ERR_INVALID);
    CU_ASSERT_EQUAL(dc_pca(x, N, D, 6, m, c, v), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "6 components"));
}

/* An 8-bit image file written with libpng: grey (c 1) or RGB (c 3). */
static int write_png(const char *path, int w, int h, int c, const uint8_t *px)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    return png_image_write_to_file(&pi, path, 0, px, 0, NULL);
}

/* The picture's pixels (RGB) and size, read back with libpng. */
static uint8_t *read_png(const char *path, int *w, int *h)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path))
        return NULL;
    pi.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(pi));
    if (px && !png_image_finish_read(&pi, NULL, px, 0, NULL)) {
        free(px);
        px = NULL;
    }
    *w = (int)pi.width;
    *h = (int)pi.height;
    png_image_free(&pi);
    return px;
}

/* Three Fashion-MNIST test images of a small checkpoint (4x4 patches): the
 * layout, the inputs copied into their tiles, the mask drawn black; then two
 * image files (grey, and a colour one of another size), and the errors. */
static void test_picture(void)
{
    char dir[] = "/tmp/dinoc_pca_XXXXXX", png[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char *ckpt = test_knn_checkpoint(dir, "tiny.safetensors");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckpt);
    snprintf(png, sizeof png, "%s/pca.png", dir);
    dc_pca_picture_options opt = {.n_images = 3, .threads = 1};
    dc_pca_picture_result r;
    DC_ASSERT_OK(dc_pca_picture(ckpt, png, &opt, &r));
    CU_ASSERT_EQUAL(r.n_images, 3);
    CU_ASSERT_EQUAL(r.grid, 4);
    /* tiles of 28·4 = 112 px: border 8, pairs 2·112 + 4, 8 px between pairs */
    CU_ASSERT_EQUAL(r.width, 16 + 3 * 228 + 2 * 8);
    CU_ASSERT_EQUAL(r.height, 16 + 112);
    CU_ASSERT(r.variance_share[0] >= r.variance_share[1] && r.variance_share[1] >= r.variance_share[2]);
    CU_ASSERT(r.variance_share[2] > 0 && r.variance_share[0] + r.variance_share[1] + r.variance_share[2] <= 1 + 1e-9);
    CU_ASSERT(r.foreground > 0 && r.foreground < 1);
    int w, h;
    uint8_t *px = read_png(png, &w, &h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(px);
    CU_ASSERT_EQUAL(w, r.width);
    CU_ASSERT_EQUAL(h, r.height);
    /* The first image is test image 0: its pixels, enlarged 4 times. */
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(DC_PCA_DEFAULT_DATA, "test", &ds));
    dc_image img;
    DC_ASSERT_OK(dc_dataset_get(ds, 0, &img, NULL));
    int same = 0;
    for (int y = 0; y < 112; y++)
        for (int x = 0; x < 112; x++) {
            const uint8_t *p = px + ((size_t)(8 + y) * w + 8 + x) * 3;
            uint8_t want = img.pixels[(y / 4) * 28 + x / 4];
            same += p[0] == want && p[1] == want && p[2] == want;
        }
    CU_ASSERT_EQUAL(same, 112 * 112);
    free(img.pixels);
    dc_dataset_close(ds);
    /* Black patches in the maps: the background (a foreground patch is black
     * only if it is the minimum of all three components at once). */
    int black = 0;
    for (int i = 0; i < 3; i++)
        for (int py = 0; py < 4; py++)
            for (int pxl = 0; pxl < 4; pxl++) {
                int x = 8 + i * 236 + 116 + pxl * 28 + 14, y = 8 + py * 28 + 14;
                const uint8_t *p = px + ((size_t)y * w + x) * 3;
                black += p[0] == 0 && p[1] == 0 && p[2] == 0;
            }
    int background = (int)lround((1 - r.foreground) * 48);
    CU_ASSERT(black >= background && black <= background + 1);
    free(px);

    /* Files: a grey gradient and a colour image of another size. */
    char grey[64], colour[64];
    snprintf(grey, sizeof grey, "%s/grey.png", dir);
    snprintf(colour, sizeof colour, "%s/colour.png", dir);
    uint8_t g[28 * 28], c[30 * 40 * 3];
    for (int i = 0; i < 28 * 28; i++)
        g[i] = (uint8_t)(i % 28 < 14 ? 0 : 9 * (i / 28));
    for (int i = 0; i < 30 * 40 * 3; i++)
        c[i] = (uint8_t)((i * 7) % 251);
    CU_ASSERT_TRUE_FATAL(write_png(grey, 28, 28, 1, g) && write_png(colour, 40, 30, 3, c));
    const char *files[2] = {grey, colour};
    dc_pca_picture_options fo = {.files = files, .n_files = 2, .threads = 1, .threshold = -100};
    DC_ASSERT_OK(dc_pca_picture(ckpt, png, &fo, &r));
    CU_ASSERT_EQUAL(r.n_images, 2);
    CU_ASSERT_EQUAL(r.width, 16 + 2 * 228 + 8);
    CU_ASSERT(r.foreground == 1.0); /* a threshold far below: nothing masked */

    const char *missing[1] = {"/nonexistent/x.png"};
    fo.files = missing;
    fo.n_files = 1;
    CU_ASSERT_EQUAL(dc_pca_picture(ckpt, png, &fo, &r), DC_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "/nonexistent/x.png"));
    dc_pca_picture_options bad = {.data = "/nonexistent/data", .threads = 1};
    CU_ASSERT_NOT_EQUAL(dc_pca_picture(ckpt, png, &bad, &r), DC_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "/nonexistent/data"));
    CU_ASSERT_NOT_EQUAL(dc_pca_picture(ckpt, "/nonexistent/dir/pca.png", &opt, &r), DC_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "/nonexistent/dir/pca.png"));
    unlink(grey);
    unlink(colour);
    unlink(png);
    unlink(ckpt);
    free(ckpt);
    rmdir(dir);
}

void register_graphs_pca(void)
{
    CU_pSuite s = CU_add_suite("graphs_pca", NULL, NULL);
    CU_add_test(s, "components = numpy eigh", test_against_numpy);
    CU_add_test(s, "rank-deficient data", test_rank_deficient);
    CU_add_test(s, "picture of a small checkpoint", test_picture);
}
