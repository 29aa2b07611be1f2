#include "dc_npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr; /* without the byte-order character */
    dc_dtype dtype;
} npy_types[] = {
    {"f4", DC_F32}, {"f8", DC_F64}, {"f2", DC_F16}, {"i1", DC_I8},  {"u1", DC_U8},
    {"i2", DC_I16}, {"u2", DC_U16}, {"i4", DC_I32}, {"u4", DC_U32}, {"i8", DC_I64},
    {"u8", DC_U64}, {"b1", DC_BOOL}, {"c8", DC_C64}, {"c16", DC_C128},
};

static const char *npy_descr(dc_dtype t)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t)
            return npy_types[i].descr;
    return NULL;
}

/* Finds `'key':` in the header dict and returns the text after the colon. */
static const char *dict_value(const char *header, const char *key)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "'%s'", key);
    const char *p = strstr(header, pattern);
    if (!p)
        return NULL;
    p = strchr(p + strlen(pattern), ':');
    if (!p)
        return NULL;
    for (p++; *p == ' '; p++)
        ;
    return p;
}

static dc_status parse_header(const char *header, const char *what, dc_dtype *dtype, int *rank,
                              int64_t *dims)
{
    const char *descr = dict_value(header, "descr");
    const char *order = dict_value(header, "fortran_order");
    const char *shape = dict_value(header, "shape");
    if (!descr || !order || !shape || *descr != '\'' || *shape != '(')
        return dc_error(DC_ERR_PARSE, "%s: malformed .npy header", what);
    char endian = descr[1];
    const char *code = descr + 2;
    size_t code_len = strcspn(code, "'");
    if (endian == '>' && strncmp(code, "u1", 2) && strncmp(code, "i1", 2) && strncmp(code, "b1", 2))
        return dc_error(DC_ERR_UNSUPPORTED, "%s: big-endian data", what);
    *dtype = DC_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strlen(npy_types[i].descr) == code_len && strncmp(code, npy_types[i].descr, code_len) == 0)
            *dtype = npy_types[i].dtype;
    if (*dtype == DC_UNDEFINED)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: dtype '%.*s' is not supported", what,
                        (int)code_len + 1, descr + 1);
    if (strncmp(order, "False", 5) != 0)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: Fortran-ordered arrays are not supported", what);
    *rank = 0;
    for (const char *p = shape + 1; *p != ')';) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (!isdigit((unsigned char)*p) || *rank == DC_MAX_RANK)
            return dc_error(DC_ERR_PARSE, "%s: bad shape in .npy header", what);
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno)
            return dc_error(DC_ERR_PARSE, "%s: dimension out of range in .npy header", what);
        dims[(*rank)++] = d;
        p = end;
    }
    return DC_OK;
}

dc_status dc_npy_parse(const void *data, size_t size, const char *what, dc_tensor **out)
{
    const unsigned char *b = data;
    *out = NULL;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return dc_error(DC_ERR_PARSE, "%s: not a .npy file", what);
    size_t header_len, offset;
    if (b[6] == 1) {
        header_len = b[8] | (size_t)b[9] << 8;
        offset = 10;
    } else if ((b[6] == 2 || b[6] == 3) && size >= 12) {
        header_len = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        offset = 12;
    } else {
        return dc_error(DC_ERR_UNSUPPORTED, "%s: .npy format version %d", what, b[6]);
    }
    if (header_len > size - offset)
        return dc_error(DC_ERR_PARSE, "%s: truncated .npy header", what);
    char *header = malloc(header_len + 1);
    if (!header)
        return dc_error(DC_ERR_NOMEM, "%s: .npy header", what);
    memcpy(header, b + offset, header_len);
    header[header_len] = '\0';
    dc_dtype dtype = DC_UNDEFINED;
    int rank = 0;
    int64_t dims[DC_MAX_RANK];
    dc_status s = parse_header(header, what, &dtype, &rank, dims);
    free(header);
    DC_TRY(s);
    uint64_t numel;
    if ((s = dc_shape_numel(rank, dims, dtype, &numel)) != DC_OK)
        return dc_error_context(s, "%s", what);
    size_t body = size - offset - header_len;
    if (numel * dc_dtype_size(dtype) != body)
        return dc_error(DC_ERR_PARSE, "%s: shape needs %llu bytes of data, file has %zu", what,
                        (unsigned long long)(numel * dc_dtype_size(dtype)), body);
    DC_TRY(dc_tensor_create(out, NULL, dtype, rank, dims));
    memcpy((*out)->data, b + offset + header_len, body);
    return DC_OK;
}

dc_status dc_npy_load(const char *path, dc_tensor **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    dc_status s = DC_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || (uint64_t)size > DC_TENSOR_MAX_BYTES + 65536 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return dc_error(DC_ERR_IO, "%s: cannot determine the file size", path);
    }
    void *data = malloc((size_t)size + 1);
    if (!data)
        s = dc_error(DC_ERR_NOMEM, "%s: %ld bytes", path, size);
    else if (fread(data, 1, (size_t)size, f) != (size_t)size)
        s = dc_error(DC_ERR_IO, "%s: read failed", path);
    fclose(f);
    if (s == DC_OK)
        s = dc_npy_parse(data, (size_t)size, path, out);
    free(data);
    return s;
}

dc_status dc_npy_save(const dc_tensor *t, const char *path)
{
    const char *descr = npy_descr(t->dtype);
    if (!descr)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: cannot write %s as .npy", path,
                        dc_dtype_name(t->dtype));
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     strcmp(descr, "u1") && strcmp(descr, "i1") && strcmp(descr, "b1") ? '<' : '|',
                     descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->rank ? " " : "");
    if (t->rank > 1) /* "(2, 3,)" is valid but numpy writes "(2, 3)" */
        dict[--n] = '\0';
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces so the data starts at a multiple of 64, ending in '\n'. */
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    size_t header_len = padded - 10;
    pre[8] = (unsigned char)(header_len & 0xff);
    pre[9] = (unsigned char)(header_len >> 8);
    FILE *f = fopen(path, "wb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 10 + (size_t)n; i < padded - 1; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(t->data, 1, t->nbytes, f);
    if (ferror(f) | (fclose(f) != 0))
        return dc_error(DC_ERR_IO, "%s: write failed", path);
    return DC_OK;
}
