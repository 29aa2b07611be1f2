/* The data pipeline: IDX and image-folder datasets, augmentation, block
 * masks, iBOT targets, drop-path scales and the threaded batcher. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "dc_data.h"
#include "dc_data_internal.h"
#include "test_util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

/* ---- helpers --------------------------------------------------------------------------- */

static char *tmpdir(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/dinoc_data_XXXXXX");
    return mkdtemp(path) ? strdup(path) : NULL;
}

static void rm_rf(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
}

static void write_png(const char *path, int w, int h, int color, const uint8_t *px)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    CU_ASSERT_FATAL(png_image_write_to_file(&pi, path, 0, px, 0, NULL) != 0);
}

static void write_jpeg(const char *path, int w, int h, int color, const uint8_t *px)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = color ? 3 : 1;
    ci.in_color_space = color ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * (color ? 3 : 1));
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

/* The Fashion-MNIST shapes of the brief: B images, 2×28² + nL×16², grey. */
static dc_batch_spec fmnist_spec(int B, int nL)
{
    dc_batch_spec s;
    dc_batch_spec_defaults(&s);
    s.batch_size = B;
    s.channels = 1;
    s.global_size = 28;
    s.local_size = 16;
    s.n_local = nL;
    s.mean[0] = 0.2860f;
    s.std[0] = 0.3530f;
    s.patch_size = 4;
    s.n_registers = 1;
    s.depth = 3;
    s.max_masked = dc_batch_max_masked(&s);
    return s;
}

/* ---- IDX ------------------------------------------------------------------------------- */

static void test_fashion_mnist(void)
{
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(FMNIST, "train", &ds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 60000);
    CU_ASSERT_EQUAL(dc_dataset_channels(ds), 1);
    CU_ASSERT_EQUAL(dc_dataset_classes(ds), 10);
    CU_ASSERT_EQUAL(dc_dataset_skipped(ds), 0);
    dc_image img;
    int label = -1;
    double sum = 0;
    int per_class[10] = {0};
    for (int64_t i = 0; i < 60000; i++) {
        DC_ASSERT_OK(dc_dataset_get(ds, i, &img, &label));
        if (i == 0) {
            CU_ASSERT_EQUAL(label, 9); /* ankle boot */
            CU_ASSERT_EQUAL(img.h, 28);
            CU_ASSERT_EQUAL(img.w, 28);
            CU_ASSERT_EQUAL(img.c, 1);
        }
        for (int k = 0; k < 784; k++)
            sum += img.pixels[k];
        per_class[label]++;
        free(img.pixels);
    }
    CU_ASSERT_DOUBLE_EQUAL(sum / (60000.0 * 784), 72.94, 0.01);
    for (int c = 0; c < 10; c++)
        CU_ASSERT_EQUAL(per_class[c], 6000);
    CU_ASSERT_NOT_EQUAL(dc_dataset_get(ds, 60000, &img, NULL), DC_OK);
    dc_dataset_close(ds);

    DC_ASSERT_OK(dc_dataset_open(FMNIST, "test", &ds));
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 10000);
    DC_ASSERT_OK(dc_dataset_get(ds, 0, &img, &label));
    CU_ASSERT_EQUAL(label, 9);
    free(img.pixels);
    dc_dataset_close(ds);

    /* The images file itself also opens (its labels found by name). */
    DC_ASSERT_OK(dc_dataset_open(FMNIST "/t10k-images-idx3-ubyte.gz", NULL, &ds));
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 10000);
    dc_dataset_close(ds);
}

/* A tiny IDX pair: n images of 2×3 and n labels. */
static size_t idx_images(uint8_t *buf, uint32_t magic, uint32_t n_header, int n_data)
{
    const uint32_t hdr[4] = {magic, n_header, 2, 3};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            buf[4 * i + b] = (uint8_t)(hdr[i] >> (24 - 8 * b));
    for (int i = 0; i < n_data * 6; i++)
        buf[16 + i] = (uint8_t)(i * 7);
    return 16 + (size_t)n_data * 6;
}

static size_t idx_labels(uint8_t *buf, uint32_t n)
{
    const uint32_t hdr[2] = {0x801, n};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 4; b++)
            buf[4 * i + b] = (uint8_t)(hdr[i] >> (24 - 8 * b));
    for (uint32_t i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)(i % 3);
    return 8 + n;
}

static void expect_open_error(const char *path, const char *split, dc_status status,
                              const char *substr)
{
    dc_dataset *ds = NULL;
    dc_status st = dc_dataset_open(path, split, &ds);
    CU_ASSERT_EQUAL(st, status);
    CU_ASSERT_PTR_NULL(ds);
    if (!strstr(dc_error_message(), substr)) {
        fprintf(stderr, "\n    expected \"%s\" in: %s\n", substr, dc_error_message());
        CU_FAIL("error message");
    }
    dc_dataset_close(ds);
}

static void test_idx_errors(void)
{
    char *dir = tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char *img = path_in(dir, "train-images-idx3-ubyte");
    char *lab = path_in(dir, "train-labels-idx1-ubyte");
    char *img_gz = path_in(dir, "train-images-idx3-ubyte.gz");
    char *lab_gz = path_in(dir, "train-labels-idx1-ubyte.gz");
    uint8_t ib[256], lb[64];
    size_t in, ln;

    expect_open_error("/nonexistent/dinoc", NULL, DC_ERR_IO, "/nonexistent/dinoc");

    /* Images without labels. */
    in = idx_images(ib, 0x803, 3, 3);
    write_bytes(img, ib, in);
    expect_open_error(dir, "train", DC_ERR_IO, "train-labels-idx1-ubyte");
    /* A split that is not there. */
    expect_open_error(dir, "test", DC_ERR_IO, "t10k-images-idx3-ubyte");
    expect_open_error(dir, "val", DC_ERR_INVALID, "\"val\"");

    /* A valid raw pair. */
    ln = idx_labels(lb, 3);
    write_bytes(lab, lb, ln);
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(dir, NULL, &ds));
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 3);
    CU_ASSERT_EQUAL(dc_dataset_classes(ds), 3);
    dc_image im;
    int label;
    DC_ASSERT_OK(dc_dataset_get(ds, 2, &im, &label));
    CU_ASSERT_EQUAL(im.h, 2);
    CU_ASSERT_EQUAL(im.w, 3);
    CU_ASSERT_EQUAL(im.pixels[1], (uint8_t)((12 + 1) * 7));
    CU_ASSERT_EQUAL(label, 2);
    free(im.pixels);
    dc_dataset_close(ds);

    /* Bad magic, truncated data, trailing bytes, count mismatch. */
    in = idx_images(ib, 0x802, 3, 3);
    write_bytes(img, ib, in);
    expect_open_error(dir, NULL, DC_ERR_PARSE, "magic");
    in = idx_images(ib, 0x803, 3, 2);
    write_bytes(img, ib, in);
    expect_open_error(dir, NULL, DC_ERR_PARSE, "truncated");
    in = idx_images(ib, 0x803, 2, 3);
    write_bytes(img, ib, in);
    expect_open_error(dir, NULL, DC_ERR_PARSE, "trailing");
    in = idx_images(ib, 0x803, 3, 3);
    write_bytes(img, ib, in);
    ln = idx_labels(lb, 4);
    write_bytes(lab, lb, ln);
    expect_open_error(dir, NULL, DC_ERR_INVALID, "4 labels");
    write_bytes(img, ib, 10);
    expect_open_error(dir, NULL, DC_ERR_PARSE, "header");

    /* gzip: valid, then a truncated stream (the .gz files are preferred). */
    in = idx_images(ib, 0x803, 3, 3);
    ln = idx_labels(lb, 3);
    write_gz(img_gz, ib, in);
    write_gz(lab_gz, lb, ln);
    DC_ASSERT_OK(dc_dataset_open(dir, "train", &ds));
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 3);
    dc_dataset_close(ds);
    CU_ASSERT_EQUAL(truncate(img_gz, 20), 0);
    expect_open_error(dir, NULL, DC_ERR_PARSE, "train-images-idx3-ubyte.gz");

    free(img);
    free(lab);
    free(img_gz);
    free(lab_gz);
    rm_rf(dir);
    free(dir);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#endif

/* Opening `dir` is a DC_ERR_PARSE naming a truncation, in a child whose heap
 * is limited to 256 MiB (an allocation of what the header promises fails
 * there). ASan reserves terabytes of shadow memory: under it the limit is
 * not set and only the error is checked. */
static void expect_truncated_in_256mib(const char *dir)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
#ifndef UNDER_ASAN
        struct rlimit rl = {256u << 20, 256u << 20};
        setrlimit(RLIMIT_DATA, &rl);
#endif
        dc_dataset *ds = NULL;
        dc_status st = dc_dataset_open(dir, NULL, &ds);
        int ok = st == DC_ERR_PARSE && strstr(dc_error_message(), "truncated");
        if (!ok)
            fprintf(stderr, "\n    expected a truncation, got: %s\n", dc_error_message());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Inputs fuzz_idx_load found (tests/fuzz). */
static void test_idx_fuzz_regressions(void)
{
    char *dir = tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char *img = path_in(dir, "train-images-idx3-ubyte");
    char *lab = path_in(dir, "train-labels-idx1-ubyte");
    char *img_gz = path_in(dir, "train-images-idx3-ubyte.gz");
    uint8_t ib[256], lb[64];
    /* A 22-byte file whose header promises 2^20 images of 32x32 (1 GiB):
     * the reader allocated the whole promise before reading a byte. */
    size_t in = idx_images(ib, 0x803, 1u << 20, 1);
    ib[8] = ib[12] = 0, ib[9] = ib[13] = 0, ib[10] = ib[14] = 0, ib[11] = ib[15] = 32;
    write_bytes(img, ib, in);
    write_bytes(lab, lb, idx_labels(lb, 3));
    expect_truncated_in_256mib(dir);
    /* The same through gzip. */
    write_gz(img_gz, ib, in);
    expect_truncated_in_256mib(dir);
    free(img);
    free(lab);
    free(img_gz);
    rm_rf(dir);
    free(dir);
}

/* ---- image folders --------------------------------------------------------------------- */

static void test_image_folder(void)
{
    char *dir = tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char *a = path_in(dir, "a"), *b = path_in(dir, "b");
    mkdir(a, 0755);
    mkdir(b, 0755);
    uint8_t png[16 * 20 * 3], jpg[24 * 24], noise[64 * 64];
    for (int i = 0; i < 16 * 20 * 3; i++)
        png[i] = (uint8_t)(i * 13);
    for (int i = 0; i < 24 * 24; i++)
        jpg[i] = (uint8_t)(i / 24 * 10);
    for (int i = 0; i < 64 * 64; i++)
        noise[i] = (uint8_t)((i * 2654435761u) >> 24);
    char *p;
    write_png(p = path_in(a, "good.png"), 20, 16, 1, png);
    free(p);
    write_bytes(p = path_in(a, "notes.txt"), "not an image\n", 13);
    free(p);
    write_jpeg(p = path_in(b, "good.jpg"), 24, 24, 0, jpg);
    free(p);
    write_jpeg(p = path_in(b, "trunc.jpg"), 64, 64, 0, noise);
    struct stat st;
    CU_ASSERT_EQUAL(stat(p, &st), 0);
    CU_ASSERT_EQUAL(truncate(p, st.st_size / 2), 0);
    free(p);

    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(dir, NULL, &ds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 2);
    CU_ASSERT_EQUAL(dc_dataset_skipped(ds), 2);
    CU_ASSERT_EQUAL(dc_dataset_classes(ds), 2);
    CU_ASSERT_EQUAL(dc_dataset_channels(ds), 3);
    dc_image im;
    int label = -1;
    DC_ASSERT_OK(dc_dataset_get(ds, 0, &im, &label)); /* a/good.png, lossless */
    CU_ASSERT_EQUAL(label, 0);
    CU_ASSERT_EQUAL(im.w, 20);
    CU_ASSERT_EQUAL(im.h, 16);
    CU_ASSERT_EQUAL(im.c, 3);
    CU_ASSERT_EQUAL(memcmp(im.pixels, png, sizeof png), 0);
    free(im.pixels);
    DC_ASSERT_OK(dc_dataset_get(ds, 1, &im, &label)); /* b/good.jpg, grey replicated */
    CU_ASSERT_EQUAL(label, 1);
    CU_ASSERT_EQUAL(im.w, 24);
    CU_ASSERT_EQUAL(im.c, 3);
    int max_err = 0, grey = 1;
    for (int i = 0; i < 24 * 24; i++) {
        int d = abs(im.pixels[3 * i] - jpg[i]);
        max_err = d > max_err ? d : max_err;
        grey &= im.pixels[3 * i] == im.pixels[3 * i + 1] && im.pixels[3 * i] == im.pixels[3 * i + 2];
    }
    CU_ASSERT(max_err <= 8);
    CU_ASSERT(grey);
    free(im.pixels);
    dc_dataset_close(ds);

    /* Without class folders: everything under the root is class 0; the grey
     * JPEG alone makes a grey dataset. */
    char *flat = path_in(dir, "b");
    DC_ASSERT_OK(dc_dataset_open(flat, "train", &ds));
    CU_ASSERT_EQUAL(dc_dataset_size(ds), 1);
    CU_ASSERT_EQUAL(dc_dataset_skipped(ds), 1);
    CU_ASSERT_EQUAL(dc_dataset_classes(ds), 1);
    CU_ASSERT_EQUAL(dc_dataset_channels(ds), 1);
    DC_ASSERT_OK(dc_dataset_get(ds, 0, &im, &label));
    CU_ASSERT_EQUAL(im.c, 1);
    CU_ASSERT_EQUAL(label, 0);
    free(im.pixels);
    dc_dataset_close(ds);
    free(flat);

    /* A named split must exist; a folder without images is an error. */
    expect_open_error(dir, "val", DC_ERR_IO, "val");
    char *empty = path_in(dir, "empty");
    mkdir(empty, 0755);
    write_bytes(p = path_in(empty, "x.txt"), "x", 1);
    free(p);
    expect_open_error(empty, NULL, DC_ERR_INVALID, "no readable");
    free(empty);

    free(a);
    free(b);
    rm_rf(dir);
    free(dir);
}

/* A file that breaks after open is replaced in its batch by the next image
 * and counted; RGB images feed a one-channel spec through luma. */
static void test_late_failure(void)
{
    char *dir = tmpdir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    uint8_t px[12 * 10 * 3];
    char name[32], *paths[3];
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < (int)sizeof px; i++)
            px[i] = (uint8_t)(i * (f + 3));
        snprintf(name, sizeof name, "img%d.png", f);
        write_png(paths[f] = path_in(dir, name), 10, 12, 1, px);
    }
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(dir, NULL, &ds));
    CU_ASSERT_EQUAL_FATAL(dc_dataset_size(ds), 3);
    CU_ASSERT_EQUAL(dc_dataset_channels(ds), 3);
    write_bytes(paths[1], "\x89PNG\r\n\x1a\n garbage", 16);
    dc_image im;
    CU_ASSERT_EQUAL(dc_dataset_get(ds, 1, &im, NULL), DC_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "img1.png"));
    CU_ASSERT_EQUAL(dc_dataset_skipped(ds), 1);

    dc_batch_spec s = fmnist_spec(3, 2);
    dc_batcher *b;
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 5, 2, &b));
    dc_tensor **t;
    int n;
    DC_ASSERT_OK(dc_batcher_get(b, 0, &t, &n));
    CU_ASSERT_EQUAL(t[0]->dims[1], 1);
    CU_ASSERT_EQUAL(dc_dataset_skipped(ds), 1); /* each file counted once */
    dc_batcher_destroy(b);
    dc_dataset_close(ds);
    for (int f = 0; f < 3; f++)
        free(paths[f]);
    rm_rf(dir);
    free(dir);
}

/* ---- augmentation ---------------------------------------------------------------------- */

static void test_augment_view(void)
{
    dc_batch_spec s = fmnist_spec(4, 2);
    uint8_t px[30 * 40];
    dc_image img = {30, 40, 1, px};
    float out[28 * 28], mirrored[28 * 28];

    /* A constant image stays constant through crop, resampling and blur. */
    memset(px, 100, sizeof px);
    s.jitter_prob = 0;
    s.solarize_prob = 0;
    s.blur_prob[0] = 1;
    DC_ASSERT_OK(dc_augment_view(&img, &s, 0, 7, out));
    float expect = (100.0f / 255 - s.mean[0]) / s.std[0];
    float worst = 0;
    for (int i = 0; i < 28 * 28; i++)
        worst = fmaxf(worst, fabsf(out[i] - expect));
    CU_ASSERT(worst < 1e-4f);

    /* Flipping mirrors the same crop (same seed, so the same draws). */
    for (int i = 0; i < 30 * 40; i++)
        px[i] = (uint8_t)(i * 37 % 251);
    s.blur_prob[0] = 0;
    s.hflip_prob = 0;
    DC_ASSERT_OK(dc_augment_view(&img, &s, 0, 11, out));
    s.hflip_prob = 1;
    DC_ASSERT_OK(dc_augment_view(&img, &s, 0, 11, mirrored));
    int same = 1;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            same &= out[y * 28 + x] == mirrored[y * 28 + 27 - x];
    CU_ASSERT(same);

    /* Solarisation with probability 1 inverts the bright pixels of view 1. */
    s.hflip_prob = 0;
    memset(px, 200, sizeof px);
    s.solarize_prob = 1;
    DC_ASSERT_OK(dc_augment_view(&img, &s, 1, 3, out));
    CU_ASSERT_DOUBLE_EQUAL(out[0], (55.0f / 255 - s.mean[0]) / s.std[0], 1e-4);

    /* RGB: jitter and grey-scale keep values in range; grey output is luma. */
    dc_batch_spec c3;
    dc_batch_spec_defaults(&c3);
    c3.global_size = 32;
    c3.local_size = 16;
    c3.patch_size = 8;
    c3.jitter_prob = 1;
    c3.gray_prob = 0;
    c3.max_masked = dc_batch_max_masked(&c3);
    uint8_t rgb[20 * 24 * 3];
    for (int i = 0; i < 20 * 24 * 3; i++)
        rgb[i] = (uint8_t)(i * 53 % 256);
    dc_image cimg = {20, 24, 3, rgb};
    float cout[3 * 32 * 32];
    for (int v = 0; v < 4; v++) {
        int S = v < 2 ? 32 : 16, ok = 1;
        DC_ASSERT_OK(dc_augment_view(&cimg, &c3, v, 100 + v, cout));
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S * S; i++) {
                float x = cout[c * S * S + i] * c3.std[c] + c3.mean[c];
                ok &= x >= -1e-5f && x <= 1 + 1e-5f;
            }
        CU_ASSERT(ok);
    }
    c3.gray_prob = 1;
    DC_ASSERT_OK(dc_augment_view(&cimg, &c3, 0, 5, cout));
    int grey = 1;
    for (int i = 0; i < 32 * 32; i++) {
        float r = cout[i] * c3.std[0] + c3.mean[0], g = cout[1024 + i] * c3.std[1] + c3.mean[1];
        grey &= fabsf(r - g) < 1e-5f;
    }
    CU_ASSERT(grey);
    /* The same seed gives the same bytes; another seed does not. */
    float again[3 * 32 * 32];
    DC_ASSERT_OK(dc_augment_view(&cimg, &c3, 0, 5, again));
    CU_ASSERT_EQUAL(memcmp(cout, again, sizeof cout), 0);
    DC_ASSERT_OK(dc_augment_view(&cimg, &c3, 0, 6, again));
    CU_ASSERT_NOT_EQUAL(memcmp(cout, again, sizeof cout), 0);
}

static void test_crop_box(void)
{
    const float scale[2] = {0.32f, 1.0f};
    for (uint64_t k = 0; k < 2000; k++) {
        dc_rng r = dc_rng_from(k);
        int H = 10 + (int)(k % 50), W = 10 + (int)(k * 7 % 90), box[4];
        dc_crop_box(&r, H, W, scale, box);
        CU_ASSERT(box[0] >= 0 && box[1] >= 0 && box[2] >= 1 && box[3] >= 1);
        CU_ASSERT(box[0] + box[2] <= H && box[1] + box[3] <= W);
    }
    /* A very wide image exhausts the attempts: the centre crop at ratio 4/3. */
    dc_rng r = dc_rng_from(1);
    int box[4];
    const float full[2] = {1.0f, 1.0f};
    dc_crop_box(&r, 10, 200, full, box);
    CU_ASSERT_EQUAL(box[2], 10);
    CU_ASSERT_EQUAL(box[3], 13);
    CU_ASSERT_EQUAL(box[1], (200 - 13) / 2);
}

/* ---- masks ----------------------------------------------------------------------------- */

static void test_block_masks(void)
{
    enum { NI = 128, G = 14, N = G * G, RUNS = 60 };
    const float ratio[2] = {0.1f, 0.5f};
    static uint8_t mask[NI * N];
    int64_t position_hits[NI] = {0};
    double ratio_sum = 0;
    int64_t masked_images = 0;
    for (int run = 0; run < RUNS; run++) {
        int64_t total = dc_block_masks(1000 + run, NI, G, G, 0.5f, ratio, mask);
        int64_t count = 0, imgs = 0;
        for (int i = 0; i < NI; i++) {
            int n = 0;
            for (int p = 0; p < N; p++)
                n += mask[i * N + p];
            count += n;
            if (n) {
                imgs++;
                position_hits[i]++;
                CU_ASSERT(n <= N / 2); /* floor(196 · 0.5) */
                ratio_sum += (double)n / N;
            }
        }
        CU_ASSERT_EQUAL(count, total);
        CU_ASSERT_EQUAL(imgs, NI / 2); /* exactly floor(128 · 0.5) images */
        masked_images += imgs;
    }
    /* Mean ratio about (0.1 + 0.5) / 2, a little below (blocks may stop short). */
    double mean_ratio = ratio_sum / (double)masked_images;
    CU_ASSERT(mean_ratio > 0.25 && mean_ratio <= 0.31);
    /* Shuffled: both global views (the two halves) get masks about equally. */
    int64_t first = 0, second = 0;
    for (int i = 0; i < NI; i++)
        *(i < NI / 2 ? &first : &second) += position_hits[i];
    CU_ASSERT(fabs((double)first / (first + second) - 0.5) < 0.05);

    /* One image: the mask is exactly the union of its rectangles, none
     * spanning a whole side, and never above the target. */
    for (uint64_t k = 0; k < 300; k++) {
        dc_rng r = dc_rng_from(k);
        uint8_t m[N], u[N];
        dc_mask_rect rects[64];
        int nr = 0;
        int64_t target = 1 + (int64_t)(k % 98);
        int64_t got = dc_block_mask_image(&r, G, G, target, m, rects, 64, &nr);
        CU_ASSERT(got <= target && got >= 0);
        CU_ASSERT_FATAL(nr <= 64);
        memset(u, 0, sizeof u);
        for (int i = 0; i < nr; i++) {
            dc_mask_rect b = rects[i];
            CU_ASSERT(b.h >= 1 && b.w >= 1 && b.h < G && b.w < G);
            CU_ASSERT(b.top >= 0 && b.left >= 0 && b.top + b.h <= G && b.left + b.w <= G);
            for (int y = b.top; y < b.top + b.h; y++)
                for (int x = b.left; x < b.left + b.w; x++)
                    u[y * G + x] = 1;
        }
        int64_t pop = 0;
        for (int p = 0; p < N; p++)
            pop += m[p];
        CU_ASSERT_EQUAL(pop, got);
        CU_ASSERT_EQUAL(memcmp(m, u, N), 0);
    }
}

static int compare_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* dc_block_masks_bound holds for every draw and every `slots` of the images
 * (the largest counts all in one slice), over grids, probabilities and
 * ratios of other shapes; and it is the sum of floor(N · linspace[i + 1]). */
static void test_block_masks_bound(void)
{
    enum { MAX_IMAGES = 48, MAX_N = 15 * 15 };
    static uint8_t mask[MAX_IMAGES * MAX_N];
    const struct {
        int images, grid;
        float p, ratio[2];
    } cases[] = {{32, 14, 0.5f, {0.1f, 0.5f}}, {48, 15, 0.3f, {0.0f, 0.9f}},
                 {8, 4, 1.0f, {0.1f, 0.5f}},   {17, 7, 0.5f, {0.25f, 0.25f}},
                 {6, 2, 0.5f, {0.1f, 1.0f}},   {40, 9, 0.9f, {0.05f, 0.7f}}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int n_img = cases[c].images, N = cases[c].grid * cases[c].grid;
        for (int run = 0; run < 40; run++) {
            dc_block_masks(7000 + run, n_img, cases[c].grid, cases[c].grid, cases[c].p,
                           cases[c].ratio, mask);
            int64_t counts[MAX_IMAGES] = {0};
            for (int i = 0; i < n_img; i++)
                for (int q = 0; q < N; q++)
                    counts[i] += mask[i * N + q];
            qsort(counts, (size_t)n_img, sizeof *counts, compare_desc);
            int64_t largest = 0;
            for (int slots = 1; slots <= n_img; slots++) {
                largest += counts[slots - 1];
                CU_ASSERT(largest <= dc_block_masks_bound(n_img, N, cases[c].p, cases[c].ratio,
                                                          slots));
            }
        }
    }
    /* ViT-S/16 at batch 16: 16 of 32 views, 196 patches, ratios up to linspace(0.1, 0.5, 17)
     * [1:]: 24 + 29 + 34 + 39 + 44 + 49 + 53 + 58 + 63 + 68 + 73 + 78 + 83 + 88 + 93 + 98
     * patches (16 · 98 = 1568 at the largest ratio); the 8 largest for a slice of 4 images. */
    const float ratio[2] = {0.1f, 0.5f};
    CU_ASSERT_EQUAL(dc_block_masks_bound(32, 196, 0.5f, ratio, 32), 974);
    CU_ASSERT_EQUAL(dc_block_masks_bound(32, 196, 0.5f, ratio, 8),
                    63 + 68 + 73 + 78 + 83 + 88 + 93 + 98);
    CU_ASSERT_EQUAL(dc_block_masks_bound(32, 196, 0.5f, ratio, 1), 98); /* the largest mask */
    CU_ASSERT_EQUAL(dc_block_masks_bound(32, 196, 0.0f, ratio, 32), 0); /* nothing masked */
}

static void test_ibot_targets(void)
{
    /* 3 images of 4 patches, 1 register: T = 6. */
    const uint8_t mask[12] = {0, 1, 1, 0, /**/ 0, 0, 0, 0, /**/ 1, 1, 1, 1};
    float mf[12], w[8];
    int64_t idx[8];
    DC_ASSERT_OK(dc_ibot_targets(mask, 3, 4, 1, 8, mf, idx, w));
    const int64_t want[8] = {3, 4, 14, 15, 16, 17, 0, 0};
    const float ww[8] = {0.5f, 0.5f, 0.25f, 0.25f, 0.25f, 0.25f, 0, 0};
    for (int i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(idx[i], want[i]);
        CU_ASSERT_EQUAL(w[i], ww[i]);
    }
    CU_ASSERT_EQUAL(mf[1], 1.0f);
    CU_ASSERT_EQUAL(mf[0], 0.0f);
    CU_ASSERT_EQUAL(dc_ibot_targets(mask, 3, 4, 1, 5, mf, idx, w), DC_ERR_INVALID);
}

/* ---- the batcher ----------------------------------------------------------------------- */

static void test_batcher(void)
{
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(FMNIST, "test", &ds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    dc_batch_spec s = fmnist_spec(64, 4);
    const int64_t B = 64, N = 49, T = 1 + 1 + N, M = s.max_masked;
    CU_ASSERT_EQUAL(M, 919); /* 64 masked views, up to 5..24 patches each (64 · 24 = 1536) */

    dc_batcher *b1, *b2;
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 42, 1, &b1));
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 42, 2, &b2));
    CU_ASSERT_EQUAL(dc_batcher_steps_per_epoch(b1), 10000 / 64);
    const int64_t steps[] = {0, 1, 2, 156, 157, 1};
    double keep_sum = 0, keep_zero = 0, keep_n = 0;
    static const char *const names[7] = {"global_views", "local_views", "mask", "ibot_index",
                                         "ibot_weight", "keep_global", "keep_local"};
    void *first_step1 = NULL;
    size_t first_step1_size = 0;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        dc_tensor **t1, **t2;
        int n1, n2;
        DC_ASSERT_OK(dc_batcher_get(b1, steps[k], &t1, &n1));
        DC_ASSERT_OK(dc_batcher_get(b2, steps[k], &t2, &n2));
        CU_ASSERT_FATAL(n1 == 7 && n2 == 7);
        for (int i = 0; i < 7; i++) {
            CU_ASSERT_STRING_EQUAL(t1[i]->name, names[i]);
            CU_ASSERT_EQUAL(t1[i]->nbytes, t2[i]->nbytes);
            /* 1 and 2 threads: the same bytes. */
            CU_ASSERT_EQUAL(memcmp(t1[i]->data, t2[i]->data, t1[i]->nbytes), 0);
        }
        CU_ASSERT(t1[0]->rank == 4 && t1[0]->dims[0] == 2 * B && t1[0]->dims[1] == 1 &&
                  t1[0]->dims[2] == 28 && t1[0]->dims[3] == 28);
        CU_ASSERT(t1[1]->dims[0] == 4 * B && t1[1]->dims[2] == 16);
        CU_ASSERT(t1[2]->dims[0] == 2 * B && t1[2]->dims[1] == N);
        CU_ASSERT(t1[3]->dtype == DC_I64 && t1[3]->dims[0] == M);
        CU_ASSERT(t1[5]->dims[0] == 3 && t1[5]->dims[1] == 2 && t1[5]->dims[2] == 2 * B);
        CU_ASSERT(t1[6]->dims[2] == 4 * B);
        /* Views: finite, within the normalised range of [0, 1]. */
        float lo = (0 - s.mean[0]) / s.std[0] - 1e-4f, hi = (1 - s.mean[0]) / s.std[0] + 1e-4f;
        for (int i = 0; i < 2; i++) {
            const float *v = t1[i]->data;
            int ok = 1;
            for (uint64_t j = 0; j < dc_tensor_numel(t1[i]); j++)
                ok &= v[j] >= lo && v[j] <= hi;
            CU_ASSERT(ok);
        }
        /* iBOT targets agree with the mask. */
        const float *mask = t1[2]->data, *w = t1[4]->data;
        const int64_t *idx = t1[3]->data;
        int64_t m = 0, masked_images = 0;
        int consistent = 1;
        for (int64_t i = 0; i < 2 * B; i++) {
            int64_t ni = 0;
            for (int64_t p = 0; p < N; p++)
                ni += mask[i * N + p] != 0;
            masked_images += ni > 0;
            for (int64_t p = 0; p < N; p++)
                if (mask[i * N + p] != 0) {
                    consistent &= idx[m] == i * T + 2 + p && w[m] == 1.0f / (float)ni;
                    m++;
                }
        }
        CU_ASSERT(consistent);
        CU_ASSERT_EQUAL(masked_images, B); /* floor(2B · 0.5) */
        int padding = 1;
        for (int64_t j = m; j < M; j++)
            padding &= idx[j] == 0 && w[j] == 0;
        CU_ASSERT(padding);
        /* Drop-path scales. */
        for (int i = 5; i < 7; i++) {
            const float *kv = t1[i]->data;
            for (uint64_t j = 0; j < dc_tensor_numel(t1[i]); j++) {
                CU_ASSERT(kv[j] == 0.0f || kv[j] == 1.0f / 0.9f);
                keep_sum += kv[j];
                keep_zero += kv[j] == 0;
                keep_n++;
            }
        }
        if (steps[k] == 1 && !first_step1) {
            first_step1_size = t1[0]->nbytes;
            first_step1 = malloc(first_step1_size);
            memcpy(first_step1, t1[0]->data, first_step1_size);
        } else if (steps[k] == 1) { /* asked again after a jump: the same batch */
            CU_ASSERT_EQUAL(memcmp(first_step1, t1[0]->data, first_step1_size), 0);
        }
    }
    CU_ASSERT_DOUBLE_EQUAL(keep_sum / keep_n, 1.0, 0.03);
    CU_ASSERT_DOUBLE_EQUAL(keep_zero / keep_n, 0.1, 0.03);
    dc_batcher_destroy(b1);
    dc_batcher_destroy(b2);

    /* Another seed, another batch. */
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 43, 2, &b1));
    dc_tensor **t;
    int n;
    DC_ASSERT_OK(dc_batcher_get(b1, 1, &t, &n));
    CU_ASSERT_PTR_NOT_NULL_FATAL(first_step1);
    CU_ASSERT_NOT_EQUAL(memcmp(t[0]->data, first_step1, first_step1_size), 0);
    dc_batcher_destroy(b1);
    free(first_step1);

    /* Bad specs are named. */
    s.max_masked = 10;
    CU_ASSERT_EQUAL(dc_batcher_create(ds, &s, 1, 1, &b1), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "max_masked"));
    s = fmnist_spec(64, 4);
    s.gray_prob = 1.5f;
    CU_ASSERT_EQUAL(dc_batcher_create(ds, &s, 1, 1, &b1), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "gray_prob"));
    s = fmnist_spec(20000, 0);
    CU_ASSERT_EQUAL(dc_batcher_create(ds, &s, 1, 1, &b1), DC_ERR_INVALID);
    dc_dataset_close(ds);
}

/* Masks per slice (mask_slices): each slice's 2·b views hold exactly
 * floor(2·b·p) masked ones, the slices' masks differ, the iBOT targets fit
 * the whole batch's M; a count that does not divide the batch is refused. */
static void test_batcher_masks_per_slice(void)
{
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(FMNIST, "test", &ds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    const int B = 16, S = 4, per = B / S;
    const int64_t N = 49;
    dc_batch_spec s = fmnist_spec(B, 0);
    s.mask_slices = S;
    /* S slices of 8 views, 4 masked in each: at most 4 · (9 + 14 + 19 + 24) masked patches
     * (49 patches, ratios below linspace(0.1, 0.5, 5)[1:]), more than the 238 of the whole
     * batch's 16 masked views drawn at once. */
    CU_ASSERT_EQUAL(s.max_masked, 238);
    s.max_masked = dc_batch_max_masked(&s);
    CU_ASSERT_EQUAL(s.max_masked, 4 * (9 + 14 + 19 + 24));
    dc_batcher *b;
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 7, 1, &b));
    for (int64_t step = 0; step < 3; step++) {
        dc_tensor **t;
        int n;
        DC_ASSERT_OK(dc_batcher_get(b, step, &t, &n));
        const float *mask = t[1]->data; /* no local views: mask is tensor 1 */
        CU_ASSERT_STRING_EQUAL(t[1]->name, "mask");
        int distinct = 0;
        for (int k = 0; k < S; k++) {
            int masked = 0;
            for (int v = 0; v < 2; v++)
                for (int i = 0; i < per; i++) {
                    const float *row = mask + (int64_t)(v * B + k * per + i) * N;
                    int any = 0;
                    for (int64_t p = 0; p < N; p++)
                        any |= row[p] != 0;
                    masked += any;
                }
            CU_ASSERT_EQUAL(masked, per); /* floor(2·per · 0.5) */
            if (k > 0)
                distinct |= memcmp(mask + (int64_t)k * per * N, mask, (size_t)(per * N) * sizeof *mask);
        }
        CU_ASSERT(distinct);
    }
    dc_batcher_destroy(b);
    s.mask_slices = 3;
    CU_ASSERT_EQUAL(dc_batcher_create(ds, &s, 7, 1, &b), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "mask_slices 3"));
    dc_dataset_close(ds);
}

/* The slices of a batch (dc_batch_slice): each image's views, mask and
 * drop-path scales where the slice puts it, the iBOT targets rebuilt with the
 * batch's per-image weights; and a batcher making only a slice's images
 * makes the same bytes for them. */
static void test_batch_slice(void)
{
    dc_dataset *ds;
    DC_ASSERT_OK(dc_dataset_open(FMNIST, "test", &ds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    const int B = 8, nL = 2, first = 4, count = 4;
    dc_batch_spec s = fmnist_spec(B, nL), part = s;
    part.slice_first = first;
    part.slice_count = count;
    const int64_t N = 49, T = 1 + 1 + N, M = s.max_masked;
    dc_batcher *whole, *mine;
    DC_ASSERT_OK(dc_batcher_create(ds, &s, 9, 1, &whole));
    DC_ASSERT_OK(dc_batcher_create(ds, &part, 9, 1, &mine));
    dc_tensor **t, **u, *sl[7];
    int n, nu, ns;
    DC_ASSERT_OK(dc_batcher_get(whole, 3, &t, &n));
    DC_ASSERT_OK(dc_batcher_get(mine, 3, &u, &nu));
    DC_ASSERT_OK(dc_batch_slice_tensors(&s, count, M, sl, &ns));
    CU_ASSERT_FATAL(n == 7 && nu == 7 && ns == 7);
    DC_ASSERT_OK(dc_batch_slice(&s, t, n, first, count, sl, ns));
    const int64_t G2 = 28 * 28, L2 = 16 * 16;
    int same_views = 1, sliced_views = 1;
    for (int v = 0; v < 2 + nL; v++)
        for (int b = 0; b < count; b++) {
            int global = v < 2;
            int64_t size = global ? G2 : L2, row = (int64_t)(global ? v : v - 2) * B + first + b;
            const float *x = (const float *)t[global ? 0 : 1]->data + row * size;
            const float *y = (const float *)u[global ? 0 : 1]->data + row * size;
            const float *z = (const float *)sl[global ? 0 : 1]->data +
                             ((int64_t)(global ? v : v - 2) * count + b) * size;
            same_views &= memcmp(x, y, (size_t)size * sizeof *x) == 0;
            sliced_views &= memcmp(x, z, (size_t)size * sizeof *x) == 0;
        }
    CU_ASSERT(same_views);
    CU_ASSERT(sliced_views);
    /* masks, drop-path scales [depth, 2, views·B], iBOT targets */
    const float *mask = t[2]->data, *smask = sl[2]->data, *w = t[4]->data, *sw = sl[4]->data;
    const int64_t *idx = t[3]->data, *sidx = sl[3]->data;
    int masks_ok = 1, keep_ok = 1, targets_ok = 1;
    for (int v = 0; v < 2; v++)
        for (int b = 0; b < count; b++)
            masks_ok &= memcmp(mask + ((int64_t)v * B + first + b) * N,
                               smask + ((int64_t)v * count + b) * N, N * sizeof *mask) == 0;
    for (int64_t r = 0; r < 3 * 2; r++)
        for (int v = 0; v < 2; v++)
            keep_ok &= memcmp((const float *)t[5]->data + (r * 2 + v) * B + first,
                              (const float *)sl[5]->data + (r * 2 + v) * count,
                              count * sizeof(float)) == 0;
    double weight_in_slice = 0, weight_of_images = 0;
    for (int64_t j = 0; j < M; j++) {
        weight_in_slice += sw[j];
        if (sw[j] == 0)
            continue;
        int64_t row = sidx[j] / T, p = sidx[j] % T - 2; /* cls and the register first */
        targets_ok &= p >= 0 && smask[row * N + p] == 1.0f;
        int64_t v = row / count, b = row % count;
        int64_t global_row = v * B + first + b;
        for (int64_t k = 0; k < M; k++) /* the same weight as in the whole batch */
            if (idx[k] == global_row * T + 2 + p)
                targets_ok &= w[k] == sw[j];
    }
    for (int64_t k = 0; k < M; k++) {
        int64_t row = idx[k] / T, b = row % B;
        if (w[k] != 0 && b >= first && b < first + count)
            weight_of_images += w[k];
    }
    CU_ASSERT(masks_ok);
    CU_ASSERT(keep_ok);
    CU_ASSERT(targets_ok);
    CU_ASSERT(fabs(weight_in_slice - weight_of_images) < 1e-5);
    CU_ASSERT_EQUAL(dc_batch_slice(&s, t, n, 6, 4, sl, ns), DC_ERR_INVALID); /* past the batch */
    for (int i = 0; i < ns; i++)
        dc_tensor_destroy(sl[i]);
    dc_batcher_destroy(whole);
    dc_batcher_destroy(mine);
    dc_dataset_close(ds);
}

void register_runtime_data(void)
{
    static const dc_test_case tests[] = {
        {"fashion_mnist", test_fashion_mnist},
        {"idx_errors", test_idx_errors},
        {"idx_fuzz_regressions", test_idx_fuzz_regressions},
        {"image_folder", test_image_folder},
        {"late_failure", test_late_failure},
        {"augment_view", test_augment_view},
        {"crop_box", test_crop_box},
        {"block_masks", test_block_masks},
        {"block_masks_bound", test_block_masks_bound},
        {"ibot_targets", test_ibot_targets},
        {"batcher", test_batcher},
        {"batcher_masks_per_slice", test_batcher_masks_per_slice},
        {"batch_slice", test_batch_slice},
        {NULL, NULL},
    };
    dc_add_suite("runtime_data", tests);
}
