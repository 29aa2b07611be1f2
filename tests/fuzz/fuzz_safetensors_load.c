/* libFuzzer target for safetensors checkpoints (runtime/dc_safetensors.c).
 *
 * Each input is the bytes of a .safetensors file. dc_safetensors_parse must
 * turn any bytes into tensors whose offsets, shapes and dtypes agree with the
 * data, or a status with a message: no crash, leak, hang or allocation the
 * input does not justify. What parses must also save (dc_safetensors_save,
 * the checkpoint writer) and load again with the same names, types, shapes,
 * bytes and metadata: a checkpoint dinoc reads is one it can write.
 *
 * How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_safetensors.h"
#include "dc_status.h"
#include "fuzz_scratch.h"

static void fail(const char *what, const char *name)
{
    fprintf(stderr, "fuzz_safetensors_load: after save and load, %s '%s' differs\n", what, name);
    abort();
}

static void same(const dc_safetensors *a, const dc_safetensors *b)
{
    if (a->n_tensors != b->n_tensors || a->n_meta != b->n_meta)
        fail("the number of tensors or metadata entries", "");
    for (int i = 0; i < a->n_tensors; i++) {
        const dc_tensor *x = a->tensors[i], *y = dc_safetensors_get(b, x->name);
        if (!y || x->dtype != y->dtype || x->rank != y->rank || x->nbytes != y->nbytes ||
            memcmp(x->dims, y->dims, (size_t)x->rank * sizeof *x->dims) != 0 ||
            (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0))
            fail("tensor", x->name);
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = dc_safetensors_meta(b, a->meta_keys[i]);
        if (!v || strcmp(v, a->meta_values[i]) != 0)
            fail("metadata", a->meta_keys[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_safetensors *st = NULL;
    if (dc_safetensors_parse(data, size, "fuzz.safetensors", &st) != DC_OK)
        return 0;
    char path[300];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", fuzz_scratch());
    if (dc_safetensors_save(path, st->tensors, st->n_tensors, (const char *const *)st->meta_keys,
                            (const char *const *)st->meta_values, st->n_meta) != DC_OK) {
        fprintf(stderr, "fuzz_safetensors_load: a parsed file failed to save: %s\n",
                dc_error_message());
        abort();
    }
    dc_safetensors *again = NULL;
    if (dc_safetensors_load(path, &again) != DC_OK) {
        fprintf(stderr, "fuzz_safetensors_load: a saved file failed to load: %s\n",
                dc_error_message());
        abort();
    }
    same(st, again);
    dc_safetensors_destroy(again);
    dc_safetensors_destroy(st);
    return 0;
}
