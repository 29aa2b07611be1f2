/* libFuzzer target for JPEG and PNG images through the data pipeline
 * (runtime/dc_data.c: sniffing, the open-time probe, decoding with
 * libjpeg-turbo and libpng; runtime/dc_data_augment.c: the crops).
 *
 * Each input is the bytes of one image file. It is written into a scratch
 * folder that dc_dataset_open reads as an image dataset: alone (the file's
 * own channels) when its size is even, next to a small RGB PNG (so a grey
 * file is decoded to three channels) when odd. Any bytes must be skipped at open, fail dc_dataset_get with a
 * message, or give an image of the size the header announced: no crash, leak,
 * hang, or allocation the header does not justify. An image that decodes
 * also goes through one crop (dc_augment_view: global view 0 or 1, or a local
 * view, by the input's size) of a small batch spec, when it has at most 2^14
 * pixels (the crop's cost grows with the image, not with the input's bytes).
 *
 * The seeds (make_fuzz_seeds) are small JPEGs (grey, YCbCr 4:4:4 and 4:2:0,
 * progressive, restart markers, CMYK) and PNGs (grey, grey+alpha, RGB, RGBA,
 * 16-bit, palette). How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dc_data.h"
#include "dc_status.h"
#include "fuzz_scratch.h"

/* A 2x2 RGB PNG (red, green, blue, white), written next to the fuzzed file. */
static const uint8_t rgb_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd,
    0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8,
    0xcf, 0xc0, 0xc0, 0x00, 0xc2, 0x0c, 0xff, 0x81, 0x00, 0x00, 0x1f, 0xee, 0x05, 0xfb, 0xf1,
    0xab, 0xba, 0x77, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static void check_dataset(const char *dir, int view)
{
    dc_dataset *ds = NULL;
    if (dc_dataset_open(dir, NULL, &ds) != DC_OK)
        return;
    int channels = dc_dataset_channels(ds);
    dc_batch_spec spec;
    dc_batch_spec_defaults(&spec);
    spec.channels = channels;
    spec.global_size = 16;
    spec.local_size = 8;
    float *out = malloc((size_t)channels * 16 * 16 * sizeof *out);
    for (int64_t i = 0; out && i < dc_dataset_size(ds); i++) {
        dc_image img;
        if (dc_dataset_get(ds, i, &img, NULL) != DC_OK)
            continue;
        if (img.c != channels || img.h < 1 || img.w < 1 || !img.pixels) {
            fprintf(stderr, "fuzz_image_load: %s: image %lld is %dx%dx%d, the dataset has %d "
                    "channels\n", dir, (long long)i, img.h, img.w, img.c, channels);
            abort();
        }
        if ((int64_t)img.h * img.w <= (1 << 14) &&
            dc_augment_view(&img, &spec, view, (uint64_t)i, out) != DC_OK) {
            fprintf(stderr, "fuzz_image_load: view %d of a %dx%dx%d image: %s\n", view, img.h,
                    img.w, img.c, dc_error_message());
            abort();
        }
        free(img.pixels);
    }
    free(out);
    dc_dataset_close(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char alone[300], mixed[300], path[320];
    snprintf(alone, sizeof alone, "%s/alone", fuzz_scratch());
    snprintf(mixed, sizeof mixed, "%s/mixed", fuzz_scratch());
    static int ready;
    if (!ready) {
        mkdir(alone, 0777);
        mkdir(mixed, 0777);
        snprintf(path, sizeof path, "%s/b.png", mixed);
        fuzz_write_file(path, rgb_png, sizeof rgb_png);
        ready = 1;
    }
    /* One folder an input (the size decides), which halves the file work. */
    const char *dir = size % 2 ? mixed : alone;
    snprintf(path, sizeof path, "%s/a", dir);
    fuzz_write_file(path, data, size);
    check_dataset(dir, (int)(size / 2 % 3));
    return 0;
}
