/* Writes the seed corpora of the file-format fuzz targets, built by the fuzz
 * build and run at build time (no binary seeds live in the sources):
 *
 *   make_fuzz_seeds OUT_DIR SOURCE_DIR
 *
 *   OUT_DIR/plan/         artifacts (.dnc) compiled from small ONNX models:
 *                         ONNX backend node tests when Debian's
 *                         libonnx-testdata is there, and a training step of
 *                         tests/models/grad_model.onnx (STATE, AdamW)
 *   OUT_DIR/artifact/     the exports of shared-object artifacts in
 *                         fuzz_artifact_input.h's layout: every plan above,
 *                         and a plan with a generated (llvm.*) step, with
 *                         baseline, x86-64-v3 and x86-64-v4 feature lists
 *   OUT_DIR/safetensors/  checkpoints with every dtype, metadata, a scalar,
 *                         an empty tensor
 *   OUT_DIR/idx/          IDX image/label pairs, raw and gzip, in the input
 *                         layout of fuzz_idx_load (u32 length, images, labels)
 *   OUT_DIR/image/        JPEGs (grey, YCbCr 4:4:4 and 4:2:0, progressive,
 *                         restart markers, CMYK) and PNGs (grey, grey+alpha,
 *                         RGB, RGBA, 16-bit, palette), all a few dozen pixels
 *
 * Exits non-zero when a seed cannot be made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "artifact_fixture.h"
#include "dc_plan.h"
#include "dc_safetensors.h"
#include "fuzz_artifact_input.h"
#include "run_model.h"
#include "training.h"

static const char *out_dir;
static int failures;

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "make_fuzz_seeds: %s: %s\n", what, why);
    failures++;
}

static void seed_path(char *buf, size_t cap, const char *kind, const char *name)
{
    snprintf(buf, cap, "%s/%s/%s", out_dir, kind, name);
}

static void write_bytes(const char *kind, const char *name, const void *data, size_t size)
{
    char path[1024];
    seed_path(path, sizeof path, kind, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fail(path, strerror(errno));
}

/* ---- artifacts ---- */

/* The exports of an artifact holding the plan file `plan_path`. */
static void artifact_seed(const char *name, const char *plan_path, const char *target,
                          const char *features)
{
    char path[1024];
    seed_path(path, sizeof path, "artifact", name);
    size_t n = 0;
    uint8_t *plan = fixture_read(plan_path, &n);
    FILE *f = plan ? fopen(path, "wb") : NULL;
    int ok = f && fuzz_artifact_write(f, DC_ARTIFACT_ABI, target, features, plan, n);
    if ((f && fclose(f) != 0) || !ok)
        fail(path, "cannot write");
    free(plan);
}

static void plan_seed(const char *name, dc_plan *p)
{
    char path[1024], exports[300];
    seed_path(path, sizeof path, "plan", name);
    if (dc_plan_write(p, path) != DC_OK)
        fail(path, dc_error_message());
    dc_plan_destroy(p);
    snprintf(exports, sizeof exports, "%s.exports", name);
    artifact_seed(exports, path, "x86-64", "");
}

/* A plan with a generated step (the loader tests' llvm.Add) for three targets. */
static void generated_step_seeds(void)
{
    char path[1024];
    seed_path(path, sizeof path, "plan", "llvm_add.dnc");
    dc_plan *p = fixture_plan(true);
    if (dc_plan_write(p, path) != DC_OK)
        fail(path, dc_error_message());
    dc_plan_destroy(p);
    artifact_seed("llvm_add_v2.exports", path, "x86-64-v2", "sse4.2,popcnt");
    artifact_seed("llvm_add_v3.exports", path, "x86-64-v3",
                  "sse4.2,popcnt,avx,avx2,fma,bmi,bmi2,f16c,lzcnt,movbe");
    artifact_seed("llvm_add_v4.exports", path, "x86-64-v4",
                  "sse4.2,popcnt,avx,avx2,fma,bmi,bmi2,avx512f,avx512bw,avx512cd,avx512dq,avx512vl");
}

static dc_status training_step(dc_graph *g, void *ctx)
{
    (void)ctx;
    dc_train_options o = {0};
    return dc_make_training_step(g, &o, NULL);
}

static void plan_seeds(const char *source_dir)
{
    static const char *const nodes[] = {
        "test_matmul_2d", "test_gemm_default_scalar_bias", "test_add_bcast", "test_softmax_axis_1",
        "test_layer_normalization_3d_axis1_epsilon", "test_reduce_mean_keepdims_example",
        "test_transpose_all_permutations_3", "test_concat_3d_axis_negative_2",
        "test_split_variable_parts_2d", "test_slice_neg_steps", "test_gather_negative_indices",
        "test_basic_conv_with_padding", "test_resize_upsample_scales_cubic", "test_where_long_example",
        "test_cast_FLOAT_to_FLOAT16", "test_reshape_allowzero_reordered", "test_expand_dim_changed",
        "test_argmax_keepdims_example_select_last_index", "test_erf", "test_pow_types_float32_int64",
    };
    char model[1024], name[256];
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        snprintf(model, sizeof model, "/usr/share/libonnx-testdata/data/node/%s/model.onnx", nodes[i]);
        struct stat st;
        if (stat(model, &st) != 0)
            continue; /* libonnx-testdata is optional */
        dc_plan *p;
        snprintf(name, sizeof name, "%s.dnc", nodes[i]);
        if (dc_compile_onnx(model, NULL, 0, NULL, NULL, &p) == DC_OK)
            plan_seed(name, p);
        /* An op dinoc does not lower is no seed. */
    }
    snprintf(model, sizeof model, "%s/tests/models/grad_model.onnx", source_dir);
    dc_graph_transform train = {training_step, NULL};
    dc_plan *p;
    if (dc_compile_onnx(model, NULL, 0, NULL, &(dc_pipeline_options){.training = &train}, &p) == DC_OK)
        plan_seed("grad_model_train.dnc", p);
    else
        fail(model, dc_error_message());
}

/* ---- checkpoints ---- */

static void safetensors_seeds(void)
{
    static const dc_dtype types[] = {DC_F32, DC_F64, DC_F16, DC_BF16, DC_I64, DC_I32, DC_I16,
                                     DC_I8,  DC_U8,  DC_U16, DC_U32,  DC_U64, DC_BOOL};
    enum { N = sizeof types / sizeof *types };
    dc_tensor *t[N + 2] = {0};
    char name[64];
    int n = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.%s", i, dc_dtype_name(types[i]));
        int64_t dims[2] = {2, i % 3 + 1};
        if (dc_tensor_create(&t[n], name, types[i], 2, dims) != DC_OK)
            return fail("safetensors", dc_error_message());
        for (size_t b = 0; b < t[n]->nbytes; b++)
            ((uint8_t *)t[n]->data)[b] = types[i] == DC_BOOL ? (uint8_t)(b & 1) : (uint8_t)(b * 37 + 1);
        n++;
    }
    int64_t empty[2] = {0, 4};
    if (dc_tensor_create(&t[n++], "optimizer.step", DC_I64, 0, NULL) != DC_OK ||
        dc_tensor_create(&t[n++], "empty", DC_F32, 2, empty) != DC_OK)
        return fail("safetensors", dc_error_message());
    const char *keys[] = {"format", "step", "config"};
    const char *values[] = {"dinoc-checkpoint-1", "3", "name = test-tiny\nlr = 0.0005\n"};
    char path[1024];
    seed_path(path, sizeof path, "safetensors", "all_dtypes.safetensors");
    if (dc_safetensors_save(path, t, n, keys, values, 3) != DC_OK)
        fail(path, dc_error_message());
    seed_path(path, sizeof path, "safetensors", "one_tensor.safetensors");
    if (dc_safetensors_save(path, t, 1, NULL, NULL, 0) != DC_OK)
        fail(path, dc_error_message());
    seed_path(path, sizeof path, "safetensors", "metadata_only.safetensors");
    if (dc_safetensors_save(path, t, 0, keys, values, 3) != DC_OK)
        fail(path, dc_error_message());
    for (int i = 0; i < n; i++)
        dc_tensor_destroy(t[i]);
}

/* ---- IDX ---- */

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return 4;
}

static size_t gzip_bytes(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (uint8_t *)in, z.avail_in = (uInt)n;
    z.next_out = out, z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? got : 0;
}

static void idx_seed(const char *name, int n, int h, int w, int gz)
{
    uint8_t images[4096], labels[256], out[16384];
    size_t ni = 0, nl = 0;
    ni += put_be32(images + ni, 0x803);
    ni += put_be32(images + ni, (uint32_t)n);
    ni += put_be32(images + ni, (uint32_t)h);
    ni += put_be32(images + ni, (uint32_t)w);
    for (int k = 0; k < n * h * w; k++)
        images[ni++] = (uint8_t)(k * 29 + k / w);
    nl += put_be32(labels + nl, 0x801);
    nl += put_be32(labels + nl, (uint32_t)n);
    for (int k = 0; k < n; k++)
        labels[nl++] = (uint8_t)(k % 10);
    size_t at = 4;
    if (gz) {
        size_t a = gzip_bytes(images, ni, out + at, sizeof out - at);
        size_t b = a ? gzip_bytes(labels, nl, out + at + a, sizeof out - at - a) : 0;
        if (!b)
            return fail(name, "gzip");
        ni = a, at += a + b;
    } else {
        memcpy(out + at, images, ni);
        memcpy(out + at + ni, labels, nl);
        at += ni + nl;
    }
    out[0] = (uint8_t)ni, out[1] = (uint8_t)(ni >> 8), out[2] = (uint8_t)(ni >> 16), out[3] = 0;
    write_bytes("idx", name, out, at);
}

/* ---- images ---- */

static void pattern(uint8_t *px, int h, int w, int c)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[((size_t)y * w + x) * c + k] = (uint8_t)((x * 16 + y * 9 + k * 80) ^ (x * y));
}

static void jpeg_seed(const char *name, int h, int w, J_COLOR_SPACE in, int comps, int progressive,
                      int subsample, int restart)
{
    char path[1024];
    seed_path(path, sizeof path, "image", name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(path, strerror(errno));
    uint8_t *px = malloc((size_t)h * w * comps);
    pattern(px, h, w, comps);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w, ci.image_height = (JDIMENSION)h;
    ci.input_components = comps, ci.in_color_space = in;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 75, TRUE);
    if (in == JCS_RGB && !subsample)
        for (int k = 0; k < 3; k++)
            ci.comp_info[k].h_samp_factor = ci.comp_info[k].v_samp_factor = 1;
    if (progressive)
        jpeg_simple_progression(&ci);
    ci.restart_in_rows = restart;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = px + (size_t)ci.next_scanline * w * comps;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(px);
    if (fclose(f) != 0)
        fail(path, strerror(errno));
}

static void png_seed(const char *name, int h, int w, png_uint_32 format)
{
    char path[1024];
    seed_path(path, sizeof path, "image", name);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w, pi.height = (png_uint_32)h, pi.format = format;
    size_t bytes = PNG_IMAGE_SIZE(pi);
    uint8_t *px = malloc(bytes), colormap[256 * 3];
    for (size_t i = 0; i < bytes; i++)
        px[i] = (uint8_t)(i * 7 + i / (size_t)w);
    void *map = NULL;
    if (format & PNG_FORMAT_FLAG_COLORMAP) {
        pi.colormap_entries = 16;
        for (int i = 0; i < 16 * 3; i++)
            colormap[i] = (uint8_t)(i * 17);
        for (size_t i = 0; i < bytes; i++)
            px[i] &= 15;
        map = colormap;
    }
    if (!png_image_write_to_file(&pi, path, 0, px, 0, map))
        fail(path, pi.message);
    free(px);
}

static void image_seeds(void)
{
    jpeg_seed("grey.jpg", 13, 21, JCS_GRAYSCALE, 1, 0, 0, 0);
    jpeg_seed("rgb444.jpg", 16, 16, JCS_RGB, 3, 0, 0, 0);
    jpeg_seed("rgb420.jpg", 17, 33, JCS_RGB, 3, 0, 1, 0);
    jpeg_seed("progressive.jpg", 24, 18, JCS_RGB, 3, 1, 1, 0);
    jpeg_seed("restart.jpg", 32, 16, JCS_RGB, 3, 0, 1, 1);
    jpeg_seed("progressive_grey.jpg", 9, 40, JCS_GRAYSCALE, 1, 1, 0, 0);
    jpeg_seed("cmyk.jpg", 8, 8, JCS_CMYK, 4, 0, 0, 0);
    png_seed("grey.png", 11, 7, PNG_FORMAT_GRAY);
    png_seed("grey_alpha.png", 8, 9, PNG_FORMAT_GA);
    png_seed("rgb.png", 12, 12, PNG_FORMAT_RGB);
    png_seed("rgba.png", 5, 17, PNG_FORMAT_RGBA);
    png_seed("rgb16.png", 6, 6, PNG_FORMAT_LINEAR_RGB);
    png_seed("palette.png", 10, 10, PNG_FORMAT_RGB_COLORMAP);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_fuzz_seeds OUT_DIR SOURCE_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    const char *kinds[] = {"", "/plan", "/artifact", "/safetensors", "/idx", "/image"};
    for (int i = 0; i < 6; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s%s", out_dir, kinds[i]);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            fail(dir, strerror(errno));
    }
    plan_seeds(argv[2]);
    generated_step_seeds();
    safetensors_seeds();
    idx_seed("idx_raw", 3, 4, 5, 0);
    idx_seed("idx_gz", 4, 6, 3, 1);
    idx_seed("idx_one", 1, 1, 1, 0);
    idx_seed("idx_28", 2, 28, 28, 1);
    image_seeds();
    return failures ? 1 : 0;
}
