/* libFuzzer target for IDX datasets ((Fashion-)MNIST files, runtime/dc_data.c),
 * gzip or raw.
 *
 * An input is two files: a u32 (little-endian) length L, then L bytes of
 * train-images-idx3-ubyte, then the rest as train-labels-idx1-ubyte (L is
 * clamped to what is there). They are written to a scratch folder that
 * dc_dataset_open reads as an IDX dataset. Any bytes must give a dataset or a
 * status with a message: no crash, leak, hang or allocation the input does not
 * justify (a header may claim 2 GiB of pixels: only bytes that are there may
 * be paid for). A dataset that opens must hand out every image (up to 64) with
 * its size and a label below the class count.
 *
 * The seeds (make_fuzz_seeds) are small IDX pairs, raw and gzipped.
 * How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_data.h"
#include "dc_status.h"
#include "fuzz_scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                 (size_t)data[3] << 24;
    data += 4, size -= 4;
    if (len > size)
        len = size;
    char images[300], labels[300];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", fuzz_scratch());
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte", fuzz_scratch());
    fuzz_write_file(images, data, len);
    fuzz_write_file(labels, data + len, size - len);

    dc_dataset *ds = NULL;
    if (dc_dataset_open(fuzz_scratch(), "train", &ds) != DC_OK)
        return 0;
    int64_t n = dc_dataset_size(ds);
    if (n <= 0 || dc_dataset_channels(ds) != 1 || dc_dataset_classes(ds) < 1) {
        fprintf(stderr, "fuzz_idx_load: %lld images of %d channels, %d classes\n", (long long)n,
                dc_dataset_channels(ds), dc_dataset_classes(ds));
        abort();
    }
    for (int64_t i = 0; i < n && i < 64; i++) {
        dc_image img;
        int label = -1;
        if (dc_dataset_get(ds, i, &img, &label) != DC_OK) {
            fprintf(stderr, "fuzz_idx_load: image %lld: %s\n", (long long)i, dc_error_message());
            abort();
        }
        if (img.c != 1 || img.h <= 0 || img.w <= 0 || label < 0 ||
            label >= dc_dataset_classes(ds)) {
            fprintf(stderr, "fuzz_idx_load: image %lld is %dx%dx%d, label %d\n", (long long)i,
                    img.h, img.w, img.c, label);
            abort();
        }
        free(img.pixels);
    }
    dc_dataset_close(ds);
    return 0;
}
