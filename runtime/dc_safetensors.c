#include "dc_safetensors.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc_atomic_file.h"

/* Header JSON above this is not a checkpoint dinoc wrote or could use. */
#define MAX_HEADER_BYTES ((uint64_t)100 << 20)

static const struct {
    const char *name;
    dc_dtype dtype;
} dtypes[] = {
    {"F32", DC_F32}, {"F64", DC_F64}, {"F16", DC_F16}, {"BF16", DC_BF16}, {"I64", DC_I64},
    {"I32", DC_I32}, {"I16", DC_I16}, {"I8", DC_I8},   {"U8", DC_U8},     {"U16", DC_U16},
    {"U32", DC_U32}, {"U64", DC_U64}, {"BOOL", DC_BOOL},
};

static dc_dtype dtype_of(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].dtype;
    return DC_UNDEFINED;
}

static const char *dtype_name(dc_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t)
            return dtypes[i].name;
    return NULL;
}

void dc_safetensors_destroy(dc_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n_tensors; i++)
        dc_tensor_destroy(st->tensors[i]);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st);
}

static dc_status parse_metadata(json_object *meta, const char *what, dc_safetensors *st)
{
    if (!json_object_is_type(meta, json_type_object))
        return dc_error(DC_ERR_PARSE, "%s: __metadata__ is not an object", what);
    int n = json_object_object_length(meta);
    st->meta_keys = calloc((size_t)n + 1, sizeof *st->meta_keys);
    st->meta_values = calloc((size_t)n + 1, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return dc_error(DC_ERR_NOMEM, "%s: metadata", what);
    json_object_object_foreach(meta, key, value)
    {
        if (!json_object_is_type(value, json_type_string))
            return dc_error(DC_ERR_PARSE, "%s: metadata '%s' is not a string", what, key);
        st->meta_keys[st->n_meta] = strdup(key);
        st->meta_values[st->n_meta] = strdup(json_object_get_string(value));
        if (!st->meta_keys[st->n_meta++] || !st->meta_values[st->n_meta - 1])
            return dc_error(DC_ERR_NOMEM, "%s: metadata", what);
    }
    return DC_OK;
}

/* One entry: {"dtype": .., "shape": [..], "data_offsets": [b, e]} over `data`. */
static dc_status parse_tensor(const char *name, json_object *entry, const uint8_t *data,
                              uint64_t data_size, const char *what, dc_tensor **out)
{
    json_object *jd, *js, *jo;
    if (!json_object_is_type(entry, json_type_object) || !json_object_object_get_ex(entry, "dtype", &jd) ||
        !json_object_object_get_ex(entry, "shape", &js) ||
        !json_object_object_get_ex(entry, "data_offsets", &jo) ||
        !json_object_is_type(js, json_type_array) || !json_object_is_type(jo, json_type_array) ||
        json_object_array_length(jo) != 2)
        return dc_error(DC_ERR_PARSE, "%s: tensor '%s': malformed entry", what, name);
    dc_dtype dtype = dtype_of(json_object_get_string(jd));
    if (dtype == DC_UNDEFINED)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: tensor '%s': dtype '%s'", what, name,
                        json_object_get_string(jd));
    int rank = (int)json_object_array_length(js);
    if (rank > DC_MAX_RANK)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: tensor '%s': rank %d (at most %d)", what, name,
                        rank, DC_MAX_RANK);
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < rank; i++)
        dims[i] = json_object_get_int64(json_object_array_get_idx(js, (size_t)i));
    int64_t begin = json_object_get_int64(json_object_array_get_idx(jo, 0));
    int64_t end = json_object_get_int64(json_object_array_get_idx(jo, 1));
    uint64_t numel;
    dc_status s = dc_shape_numel(rank, dims, dtype, &numel);
    if (s != DC_OK)
        return dc_error_context(s, "%s: tensor '%s'", what, name);
    if (begin < 0 || end < begin || (uint64_t)end > data_size ||
        (uint64_t)(end - begin) != numel * dc_dtype_size(dtype))
        return dc_error(DC_ERR_PARSE, "%s: tensor '%s': data_offsets [%lld, %lld] do not hold %llu "
                        "bytes inside %llu bytes of data", what, name, (long long)begin,
                        (long long)end, (unsigned long long)(numel * dc_dtype_size(dtype)),
                        (unsigned long long)data_size);
    DC_TRY(dc_tensor_create(out, name, dtype, rank, dims));
    memcpy((*out)->data, data + begin, (size_t)(end - begin));
    return DC_OK;
}

/* Whether the JSON text escapes a NUL character (\u0000). json-c cuts keys
 * at a NUL: two tensors "a\u0000x" and "a\u0000y" would silently become one
 * tensor "a". Backslashes only occur inside strings, so escapes are found
 * by walking them in order. */
static bool escapes_nul(const char *text, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < n && strncmp(text + i + 2, "0000", 4) == 0)
            return true;
        i++; /* the escaped character */
    }
    return false;
}

dc_status dc_safetensors_parse(const void *bytes, size_t size, const char *what,
                               dc_safetensors **out)
{
    *out = NULL;
    const uint8_t *b = bytes;
    if (size < 8)
        return dc_error(DC_ERR_PARSE, "%s: %zu bytes is too short for safetensors", what, size);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--)
        header = header << 8 | b[i];
    if (header > size - 8 || header > MAX_HEADER_BYTES)
        return dc_error(DC_ERR_PARSE, "%s: header of %llu bytes in a file of %zu (truncated?)", what,
                        (unsigned long long)header, size);
    if (escapes_nul((const char *)b + 8, (size_t)header))
        return dc_error(DC_ERR_PARSE, "%s: the header has a NUL character (\\u0000) in a name or "
                        "metadata string", what);
    json_tokener *tok = json_tokener_new();
    json_object *root = tok ? json_tokener_parse_ex(tok, (const char *)b + 8, (int)header) : NULL;
    bool complete = tok && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!root || !complete || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return dc_error(DC_ERR_PARSE, "%s: the header is not a JSON object", what);
    }
    dc_safetensors *st = calloc(1, sizeof *st);
    int n = json_object_object_length(root);
    dc_status s = st && (st->tensors = calloc((size_t)n + 1, sizeof *st->tensors))
                      ? DC_OK
                      : dc_error(DC_ERR_NOMEM, "%s", what);
    const uint8_t *data = b + 8 + header;
    uint64_t data_size = size - 8 - header;
    json_object_object_foreach(root, key, value)
    {
        if (s != DC_OK)
            break;
        if (strcmp(key, "__metadata__") == 0)
            s = parse_metadata(value, what, st);
        else if ((s = parse_tensor(key, value, data, data_size, what, &st->tensors[st->n_tensors])) == DC_OK)
            st->n_tensors++;
    }
    json_object_put(root);
    if (s != DC_OK) {
        dc_safetensors_destroy(st);
        return s;
    }
    *out = st;
    return DC_OK;
}

dc_status dc_safetensors_load(const char *path, dc_safetensors **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > 2 * DC_TENSOR_MAX_BYTES) {
        fclose(f);
        return dc_error(DC_ERR_IO, "%s: cannot read its size, or larger than any checkpoint", path);
    }
    size_t size = (size_t)sb.st_size;
    void *data = malloc(size ? size : 1);
    dc_status s = data ? DC_OK : dc_error(DC_ERR_NOMEM, "%s: %zu bytes", path, size);
    if (s == DC_OK && fread(data, 1, size, f) != size)
        s = dc_error(DC_ERR_IO, "%s: read failed", path);
    fclose(f);
    if (s == DC_OK)
        s = dc_safetensors_parse(data, size, path, out);
    free(data);
    return s;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static char *build_header(dc_tensor *const *tensors, int n, const char *const *keys,
                          const char *const *values, int n_meta, size_t *len)
{
    json_object *root = json_object_new_object();
    if (n_meta) {
        json_object *meta = json_object_new_object();
        for (int i = 0; i < n_meta; i++)
            json_object_object_add(meta, keys[i], json_object_new_string(values[i]));
        json_object_object_add(root, "__metadata__", meta);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_new_object(), *shape = json_object_new_array();
        json_object *offs = json_object_new_array();
        for (int d = 0; d < tensors[i]->rank; d++)
            json_object_array_add(shape, json_object_new_int64(tensors[i]->dims[d]));
        json_object_array_add(offs, json_object_new_int64((int64_t)offset));
        offset += tensors[i]->nbytes;
        json_object_array_add(offs, json_object_new_int64((int64_t)offset));
        json_object_object_add(e, "dtype", json_object_new_string(dtype_name(tensors[i]->dtype)));
        json_object_object_add(e, "shape", shape);
        json_object_object_add(e, "data_offsets", offs);
        json_object_object_add(root, tensors[i]->name, e);
    }
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t raw = strlen(text), padded = (raw + 7) / 8 * 8;
    char *h = malloc(padded + 1);
    if (h) {
        memcpy(h, text, raw);
        memset(h + raw, ' ', padded - raw);
        *len = padded;
    }
    json_object_put(root);
    return h;
}

dc_status dc_safetensors_save(const char *path, dc_tensor *const *tensors, int n,
                              const char *const *meta_keys, const char *const *meta_values,
                              int n_meta)
{
    for (int i = 0; i < n; i++)
        if (!tensors[i]->name || !dtype_name(tensors[i]->dtype))
            return dc_error(DC_ERR_UNSUPPORTED, "%s: tensor %d ('%s') has no name or a %s type",
                            path, i, tensors[i]->name ? tensors[i]->name : "",
                            dc_dtype_name(tensors[i]->dtype));
    size_t header_len = 0;
    char *header = build_header(tensors, n, meta_keys, meta_values, n_meta, &header_len);
    if (!header)
        return dc_error(DC_ERR_NOMEM, "%s: header", path);
    uint8_t size_le[8];
    for (int i = 0; i < 8; i++)
        size_le[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    dc_atomic_file af;
    dc_status s = dc_atomic_file_begin(&af, path);
    if (s == DC_OK) {
        fwrite(size_le, 1, 8, af.f);
        fwrite(header, 1, header_len, af.f);
        for (int i = 0; i < n; i++)
            fwrite(tensors[i]->data, 1, tensors[i]->nbytes, af.f);
        s = dc_atomic_file_commit(&af);
    }
    free(header);
    return s;
}

const dc_tensor *dc_safetensors_get(const dc_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i]->name, name) == 0)
            return st->tensors[i];
    return NULL;
}

const char *dc_safetensors_meta(const dc_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}
