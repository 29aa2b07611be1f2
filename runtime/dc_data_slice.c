/* Slices of a batch (dc_data.h): the images of one process or micro-batch of
 * a step divided over several, laid out as a batch of their own. */
#include <stdlib.h>
#include <string.h>

#include "dc_data_internal.h"

enum { N_SLICE_TENSORS = 7 };

static const dc_tensor *find(dc_tensor *const *batch, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (batch[i]->name && strcmp(batch[i]->name, name) == 0)
            return batch[i];
    return NULL;
}

dc_status dc_batch_slice_tensors(const dc_batch_spec *sp, int64_t count, int64_t max_masked,
                                 dc_tensor **out, int *n)
{
    const int64_t C = sp->channels, G = sp->global_size, L = sp->local_size, nL = sp->n_local;
    const int64_t grid = sp->global_size / sp->patch_size, N = grid * grid;
    *n = 0;
    int k = 0;
    dc_status s = dc_tensor_create(&out[k++], "global_views", DC_F32, 4, (int64_t[]){2 * count, C, G, G});
    if (s == DC_OK && nL > 0)
        s = dc_tensor_create(&out[k++], "local_views", DC_F32, 4, (int64_t[]){nL * count, C, L, L});
    if (s == DC_OK)
        s = dc_tensor_create(&out[k++], "mask", DC_F32, 2, (int64_t[]){2 * count, N});
    if (s == DC_OK)
        s = dc_tensor_create(&out[k++], "ibot_index", DC_I64, 1, &max_masked);
    if (s == DC_OK)
        s = dc_tensor_create(&out[k++], "ibot_weight", DC_F32, 1, &max_masked);
    if (s == DC_OK)
        s = dc_tensor_create(&out[k++], "keep_global", DC_F32, 3, (int64_t[]){sp->depth, 2, 2 * count});
    if (s == DC_OK && nL > 0)
        s = dc_tensor_create(&out[k++], "keep_local", DC_F32, 3, (int64_t[]){sp->depth, 2, nL * count});
    if (s != DC_OK) {
        for (int i = 0; i < k - 1; i++)
            dc_tensor_destroy(out[i]);
        return s;
    }
    *n = k;
    return DC_OK;
}

/* Rows v·B + first .. v·B + first + count − 1 of every view v of x, each row
 * `row` elements of `size` bytes, to rows v·count + ... of y. */
static void copy_views(const void *x, void *y, int64_t views, int64_t B, int64_t first,
                       int64_t count, int64_t row, size_t size)
{
    for (int64_t v = 0; v < views; v++)
        memcpy((char *)y + (size_t)(v * count * row) * size,
               (const char *)x + (size_t)((v * B + first) * row) * size,
               (size_t)(count * row) * size);
}

dc_status dc_batch_slice(const dc_batch_spec *sp, dc_tensor *const *batch, int n, int64_t first,
                         int64_t count, dc_tensor *const *out, int n_out)
{
    const int64_t B = sp->batch_size, nL = sp->n_local;
    if (first < 0 || count < 1 || first + count > B)
        return dc_error(DC_ERR_INVALID, "batch slice [%lld, %lld) of a batch of %lld images",
                        (long long)first, (long long)(first + count), (long long)B);
    const dc_tensor *mask = find(batch, n, "mask");
    dc_tensor *smask = NULL, *sindex = NULL, *sweight = NULL;
    for (int i = 0; i < n_out; i++) {
        dc_tensor *y = out[i];
        const dc_tensor *x = find(batch, n, y->name);
        if (!x)
            return dc_error(DC_ERR_INVALID, "batch slice: the batch has no '%s'", y->name);
        if (!strcmp(y->name, "ibot_index") || !strcmp(y->name, "ibot_weight")) {
            *(!strcmp(y->name, "ibot_index") ? &sindex : &sweight) = y;
            continue;
        }
        if (!strcmp(y->name, "mask"))
            smask = y;
        bool keep = !strncmp(y->name, "keep_", 5); /* [depth, 2, views·B]: 2·depth rows of samples */
        bool local = !strcmp(y->name, "local_views") || !strcmp(y->name, "keep_local");
        int64_t views = local ? nL : 2;
        int64_t rows_of_x = keep ? x->dims[0] * x->dims[1] : 1;
        int64_t row = keep ? 1 : (int64_t)(dc_tensor_numel(x) / (size_t)(views * B));
        if ((int64_t)dc_tensor_numel(y) != rows_of_x * views * count * row || y->dtype != x->dtype)
            return dc_error(DC_ERR_SHAPE, "batch slice: '%s' of %lld images does not fit %lld",
                            y->name, (long long)B, (long long)count);
        size_t size = dc_dtype_size(x->dtype);
        for (int64_t r = 0; r < rows_of_x; r++)
            copy_views((const char *)x->data + (size_t)(r * views * B * row) * size,
                       (char *)y->data + (size_t)(r * views * count * row) * size, views, B, first,
                       count, row, size);
    }
    if (!mask || !smask || !sindex || !sweight)
        return dc_error(DC_ERR_INVALID, "batch slice: mask, ibot_index and ibot_weight are needed");
    /* The iBOT targets of the slice's masks: the same per-image weights,
     * token rows counted in the slice. */
    int64_t rows = 2 * count, N = smask->dims[1];
    uint8_t *bits = malloc((size_t)(rows * N));
    if (!bits)
        return dc_error(DC_ERR_NOMEM, "batch slice masks");
    const float *m = smask->data;
    for (int64_t i = 0; i < rows * N; i++)
        bits[i] = m[i] != 0.0f;
    dc_status s = dc_ibot_targets(bits, rows, N, sp->n_registers, sindex->dims[0], smask->data,
                                  sindex->data, sweight->data);
    free(bits);
    return s;
}
