/* safetensors files (https://huggingface.co/docs/safetensors): the checkpoint
 * format PyTorch users load with `safetensors.torch.load_file` and timm with
 * load_state_dict. Layout: u64 little-endian header size N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value"}}, then the tensor bytes. */
#ifndef DC_SAFETENSORS_H
#define DC_SAFETENSORS_H

#include "dc_tensor.h"

typedef struct dc_safetensors {
    dc_tensor **tensors; /* named (tensor->name) */
    int n_tensors;
    char **meta_keys, **meta_values;
    int n_meta;
} dc_safetensors;

/* Reads a file; every offset, shape and dtype is checked against the data, so
 * a truncated or corrupt file is an error naming the tensor, never a crash. */
dc_status dc_safetensors_load(const char *path, dc_safetensors **out);
dc_status dc_safetensors_parse(const void *data, size_t size, const char *what,
                               dc_safetensors **out);
/* Writes atomically: a temporary file, fsync, rename; so an interrupted or
 * failed write (a full disk) leaves any previous file at `path` intact. */
dc_status dc_safetensors_save(const char *path, dc_tensor *const *tensors, int n,
                              const char *const *meta_keys, const char *const *meta_values,
                              int n_meta);
const dc_tensor *dc_safetensors_get(const dc_safetensors *st, const char *name);
const char *dc_safetensors_meta(const dc_safetensors *st, const char *key);
void dc_safetensors_destroy(dc_safetensors *st);

#endif
