/* TensorProto <-> dc_tensor, standalone .pb tensor files, external data, and
 * the protobuf wire-format pre-check shared by the ONNX reader.
 *
 * Everything read from a file is checked before it is trusted: the element
 * count implied by dims is computed with overflow checks (dc_shape_numel) and
 * compared with the bytes actually present before the tensor is allocated, so
 * a 40-byte file cannot make us allocate 4 TB. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dc_atomic_file.h"
#include "onnx_io.h"
#include "onnx_tensor.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian; dinoc copies it as is and needs a little-endian host"
#endif

/* ---- wire-format pre-check --------------------------------------------------- */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

static dc_status check_wire(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                            const uint8_t *end, int depth)
{
    const char *what = desc ? desc->short_name : "unknown field";
    if (depth > DC_ONNX_MAX_NESTING)
        return dc_error(DC_ERR_PARSE, "messages nested deeper than %d levels (at %s)",
                        DC_ONNX_MAX_NESTING, what);
    while (p < end) {
        uint64_t tag, v;
        if (!read_varint(&p, end, &tag))
            return dc_error(DC_ERR_PARSE, "truncated or corrupt protobuf (bad tag in %s)", what);
        uint64_t field = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        if (field == 0 || field > 536870911u)
            return dc_error(DC_ERR_PARSE, "corrupt protobuf (field number %" PRIu64 " in %s)",
                            field, what);
        switch (wire) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (!read_varint(&p, end, &v))
                return dc_error(DC_ERR_PARSE, "truncated protobuf (varint of field %" PRIu64
                                " in %s)", field, what);
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
        case PROTOBUF_C_WIRE_TYPE_32BIT: {
            size_t n = wire == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
            if ((size_t)(end - p) < n)
                return dc_error(DC_ERR_PARSE, "truncated protobuf (field %" PRIu64 " in %s)",
                                field, what);
            p += n;
            break;
        }
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return dc_error(DC_ERR_PARSE, "truncated protobuf (field %" PRIu64 " of %s "
                                "claims more bytes than remain)", field, what);
            const ProtobufCFieldDescriptor *f =
                desc ? protobuf_c_message_descriptor_get_field(desc, (unsigned)field) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
                DC_TRY(check_wire(f->descriptor, p, p + v, depth + 1));
            p += v;
            break;
        }
        default:
            return dc_error(DC_ERR_PARSE, "corrupt protobuf (wire type %u, field %" PRIu64
                            " in %s)", wire, field, what);
        }
    }
    return DC_OK;
}

dc_status dc_onnx_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t size)
{
    const uint8_t *p = data;
    return check_wire(desc, p, p + size, 1);
}

/* ---- files -------------------------------------------------------------------- */

static FILE *open_regular(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dc_error(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        dc_error(DC_ERR_IO, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    *size = (uint64_t)st.st_size;
    return f;
}

dc_status dc_onnx_read_file(const char *path, size_t max_bytes, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    uint64_t len;
    FILE *f = open_regular(path, &len);
    if (!f)
        return DC_ERR_IO;
    if (len > max_bytes) {
        fclose(f);
        return dc_error(DC_ERR_NOMEM, "%s: %" PRIu64 " bytes, more than the %zu MiB limit", path,
                        len, max_bytes >> 20);
    }
    void *buf = malloc(len ? (size_t)len : 1);
    if (!buf) {
        fclose(f);
        return dc_error(DC_ERR_NOMEM, "%s: cannot buffer %" PRIu64 " bytes", path, len);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    int err = ferror(f);
    fclose(f);
    if (got != len || err) {
        free(buf);
        return dc_error(DC_ERR_IO, "%s: short read (%zu of %" PRIu64 " bytes)", path, got, len);
    }
    *data = buf;
    *size = (size_t)len;
    return DC_OK;
}

/* Atomically (dc_atomic_file.h): a failed write never leaves half a file
 * under the final name. */
dc_status dc_onnx_write_file(const char *path, const void *data, size_t size)
{
    dc_atomic_file af;
    DC_TRY(dc_atomic_file_begin(&af, path));
    fwrite(data, 1, size, af.f); /* a short write sets the error commit reports */
    return dc_atomic_file_commit(&af);
}

char *dc_onnx_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* ---- TensorProto -> dc_tensor -------------------------------------------------- */

/* An external_data location must stay inside the model's directory. Symlinks
 * inside that directory are trusted, like the onnx Python package does. */
static bool location_escapes(const char *loc)
{
    if (loc[0] == '/' || loc[0] == '\\' || (isalpha((unsigned char)loc[0]) && loc[1] == ':'))
        return true;
    for (const char *p = loc; *p;) {
        const char *q = p;
        while (*q && *q != '/' && *q != '\\')
            q++;
        if (q - p == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p = *q ? q + 1 : q;
    }
    return false;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* Opens the external file of `p` and positions it at the tensor's bytes, after
 * checking that `nbytes` are really there. */
static dc_status open_external(const Onnx__TensorProto *p, const char *name, const char *base_dir,
                               uint64_t nbytes, FILE **out)
{
    *out = NULL;
    if (!base_dir)
        return dc_error(DC_ERR_INVALID, "tensor '%s': external data is not allowed here "
                        "(model loaded from memory without a base directory)", name);
    const char *location = NULL;
    uint64_t offset = 0, length = 0;
    bool has_length = false;
    for (size_t i = 0; i < p->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = p->external_data[i];
        const char *key = e->key ? e->key : "";
        if (strcmp(key, "location") == 0) {
            location = e->value;
        } else if (strcmp(key, "offset") == 0) {
            if (!parse_u64(e->value, &offset))
                return dc_error(DC_ERR_INVALID, "tensor '%s': external data offset '%s' is not "
                                "a non-negative integer", name, e->value ? e->value : "");
        } else if (strcmp(key, "length") == 0) {
            if (!parse_u64(e->value, &length))
                return dc_error(DC_ERR_INVALID, "tensor '%s': external data length '%s' is not "
                                "a non-negative integer", name, e->value ? e->value : "");
            has_length = true;
        }
        /* "checksum" and unknown keys are ignored, as onnx does. */
    }
    if (!location || !*location)
        return dc_error(DC_ERR_INVALID, "tensor '%s': external data without a location", name);
    if (location_escapes(location))
        return dc_error(DC_ERR_INVALID, "tensor '%s': external data location '%s' escapes the "
                        "model directory (absolute or containing '..')", name, location);
    if (has_length && length != nbytes)
        return dc_error(DC_ERR_INVALID, "tensor '%s': external data length %" PRIu64
                        " but dims need %" PRIu64 " bytes", name, length, nbytes);
    size_t plen = strlen(base_dir) + strlen(location) + 2;
    char *path = malloc(plen);
    if (!path)
        return dc_error(DC_ERR_NOMEM, "tensor '%s': path", name);
    snprintf(path, plen, "%s/%s", base_dir, location);
    uint64_t size;
    FILE *f = open_regular(path, &size);
    if (!f) {
        dc_error_context(DC_ERR_IO, "tensor '%s': external data", name);
        free(path);
        return DC_ERR_IO;
    }
    if (offset > size || size - offset < nbytes) {
        dc_status s = dc_error(DC_ERR_INVALID, "tensor '%s': external file %s has %" PRIu64
                               " bytes, needs %" PRIu64 " at offset %" PRIu64,
                               name, path, size, nbytes, offset);
        fclose(f);
        free(path);
        return s;
    }
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        dc_status s = dc_error(DC_ERR_IO, "tensor '%s': cannot seek in %s", name, path);
        fclose(f);
        free(path);
        return s;
    }
    free(path);
    *out = f;
    return DC_OK;
}

/* Which typed field holds data of `dtype`, as ONNX packs it. */
enum field { F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64, F_STRING, F_COUNT };
static const char *const field_names[F_COUNT] = {"float_data", "int32_data", "int64_data",
                                                 "double_data", "uint64_data", "string_data"};

static enum field field_of(dc_dtype t)
{
    switch (t) {
    case DC_F32: case DC_C64: return F_FLOAT;
    case DC_I64: return F_INT64;
    case DC_F64: case DC_C128: return F_DOUBLE;
    case DC_U32: case DC_U64: return F_UINT64;
    case DC_STRING: return F_STRING;
    default: return F_INT32; /* i32, i16, i8, u16, u8, bool, f16, bf16 */
    }
}

static void copy_typed(const Onnx__TensorProto *p, dc_tensor *t, uint64_t count)
{
    void *d = t->data;
    if (count == 0)
        return; /* the arrays are NULL then */
    switch (t->dtype) {
    case DC_F32: case DC_C64: memcpy(d, p->float_data, count * sizeof(float)); break;
    case DC_F64: case DC_C128: memcpy(d, p->double_data, count * sizeof(double)); break;
    case DC_I64: memcpy(d, p->int64_data, count * sizeof(int64_t)); break;
    case DC_U64: memcpy(d, p->uint64_data, count * sizeof(uint64_t)); break;
    case DC_I32: memcpy(d, p->int32_data, count * sizeof(int32_t)); break;
    case DC_U32:
        for (uint64_t i = 0; i < count; i++)
            ((uint32_t *)d)[i] = (uint32_t)p->uint64_data[i];
        break;
    case DC_I16: case DC_U16: case DC_F16: case DC_BF16:
        /* 16-bit types travel as their bit pattern in int32_data. */
        for (uint64_t i = 0; i < count; i++)
            ((uint16_t *)d)[i] = (uint16_t)p->int32_data[i];
        break;
    case DC_BOOL:
        for (uint64_t i = 0; i < count; i++)
            ((uint8_t *)d)[i] = p->int32_data[i] != 0;
        break;
    case DC_I8: case DC_U8:
        for (uint64_t i = 0; i < count; i++)
            ((uint8_t *)d)[i] = (uint8_t)p->int32_data[i];
        break;
    default:
        break;
    }
}

dc_status dc_onnx_tensor_from_proto(const Onnx__TensorProto *p, const char *base_dir,
                                    dc_tensor **out)
{
    *out = NULL;
    const char *name = p->name && *p->name ? p->name : "(unnamed)";
    if (!p->has_data_type || p->data_type == DC_UNDEFINED)
        return dc_error(DC_ERR_INVALID, "tensor '%s': no data_type", name);
    if (!dc_dtype_valid(p->data_type))
        return dc_error(DC_ERR_INVALID, "tensor '%s': unknown data_type %d", name, p->data_type);
    dc_dtype dtype = (dc_dtype)p->data_type;
    if (dtype == DC_STRING)
        return dc_error(DC_ERR_UNSUPPORTED, "tensor '%s': unsupported element type string", name);
    if (p->segment)
        return dc_error(DC_ERR_UNSUPPORTED, "tensor '%s': unsupported segmented tensor",
                        name);
    if (p->n_dims > DC_MAX_RANK)
        return dc_error(DC_ERR_UNSUPPORTED, "tensor '%s': unsupported rank %zu (at most %d)", name,
                        p->n_dims, DC_MAX_RANK);
    int rank = (int)p->n_dims;
    int64_t dims[DC_MAX_RANK] = {0}; /* p->dims is NULL for a scalar */
    for (int i = 0; i < rank; i++)
        dims[i] = p->dims[i];
    uint64_t numel;
    dc_status s = dc_shape_numel(rank, dims, dtype, &numel);
    if (s != DC_OK)
        return dc_error_context(s, "tensor '%s'", name);
    uint64_t nbytes = numel * dc_dtype_size(dtype);
    const char *tname = p->name && *p->name ? p->name : NULL;

    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        FILE *f;
        DC_TRY(open_external(p, name, base_dir, nbytes, &f));
        s = dc_tensor_create(out, tname, dtype, rank, dims);
        if (s == DC_OK && fread((*out)->data, 1, (size_t)nbytes, f) != nbytes) {
            s = dc_error(DC_ERR_IO, "tensor '%s': short read of external data", name);
            dc_tensor_destroy(*out);
            *out = NULL;
        }
        fclose(f);
        return s;
    }
    if (p->has_data_location && p->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT)
        return dc_error(DC_ERR_INVALID, "tensor '%s': unknown data_location %d", name,
                        (int)p->data_location);

    size_t counts[F_COUNT] = {p->n_float_data, p->n_int32_data, p->n_int64_data,
                              p->n_double_data, p->n_uint64_data, p->n_string_data};
    enum field want = field_of(dtype);
    for (int k = 0; k < F_COUNT; k++) {
        if (!counts[k])
            continue;
        if (p->has_raw_data)
            return dc_error(DC_ERR_INVALID, "tensor '%s': both raw_data and %s are set", name,
                            field_names[k]);
        if (k != (int)want)
            return dc_error(DC_ERR_INVALID, "tensor '%s' (%s): data in %s, expected %s", name,
                            dc_dtype_name(dtype), field_names[k], field_names[want]);
    }
    if (p->has_raw_data) {
        if (p->raw_data.len != nbytes)
            return dc_error(DC_ERR_INVALID, "tensor '%s' (%s, %" PRIu64 " elements): raw_data has "
                            "%zu bytes, expected %" PRIu64, name, dc_dtype_name(dtype), numel,
                            p->raw_data.len, nbytes);
        DC_TRY(dc_tensor_create(out, tname, dtype, rank, dims));
        if (nbytes)
            memcpy((*out)->data, p->raw_data.data, (size_t)nbytes);
        return DC_OK;
    }
    /* Complex numbers take two entries each. */
    uint64_t expect = numel * ((dtype == DC_C64 || dtype == DC_C128) ? 2 : 1);
    if (counts[want] != expect)
        return dc_error(DC_ERR_INVALID, "tensor '%s' (%s, %" PRIu64 " elements): %s has %zu "
                        "entries, expected %" PRIu64, name, dc_dtype_name(dtype), numel,
                        field_names[want], counts[want], expect);
    DC_TRY(dc_tensor_create(out, tname, dtype, rank, dims));
    copy_typed(p, *out, expect);
    return DC_OK;
}

/* ---- dc_tensor -> TensorProto -------------------------------------------------- */

Onnx__TensorProto *dc_onnx_tensor_to_proto(const dc_tensor *t, const char *name, dc_arena *a)
{
    Onnx__TensorProto *p = dc_arena_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    onnx__tensor_proto__init(p);
    p->n_dims = (size_t)t->rank;
    if (t->rank > 0) {
        p->dims = (int64_t *)dc_arena_memdup(a, t->dims, (size_t)t->rank * sizeof *t->dims);
        if (!p->dims)
            return NULL;
    }
    p->has_data_type = 1;
    p->data_type = (int32_t)t->dtype;
    p->name = (char *)name;
    /* raw_data is always set, also for zero elements, so the reader knows
     * where the (empty) data is. */
    p->has_raw_data = 1;
    p->raw_data.len = t->nbytes;
    p->raw_data.data = t->data;
    return p;
}

/* ---- .pb tensor files ------------------------------------------------------------ */

dc_status dc_tensor_load_pb_buffer(const void *data, size_t size, const char *base_dir,
                                   dc_tensor **out)
{
    *out = NULL;
    dc_status s = dc_onnx_check_wire(&onnx__tensor_proto__descriptor, data, size);
    if (s != DC_OK)
        return dc_error_context(s, "not a valid TensorProto");
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, size, data);
    if (!p)
        return dc_error(DC_ERR_PARSE, "not a valid TensorProto (protobuf parse failed)");
    s = dc_onnx_tensor_from_proto(p, base_dir, out);
    onnx__tensor_proto__free_unpacked(p, NULL);
    return s;
}

dc_status dc_tensor_load_pb(const char *path, dc_tensor **out)
{
    *out = NULL;
    void *data;
    size_t size;
    DC_TRY(dc_onnx_read_file(path, DC_ONNX_MAX_FILE_BYTES, &data, &size));
    char *dir = dc_onnx_dirname(path);
    dc_status s = dir ? dc_tensor_load_pb_buffer(data, size, dir, out)
                      : dc_error(DC_ERR_NOMEM, "path");
    free(dir);
    free(data);
    if (s != DC_OK)
        return dc_error_context(s, "%s", path);
    return DC_OK;
}

dc_status dc_tensor_save_pb_buffer(const dc_tensor *t, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    dc_arena *a = dc_arena_create();
    Onnx__TensorProto *p = a ? dc_onnx_tensor_to_proto(t, t->name, a) : NULL;
    if (!p) {
        dc_arena_destroy(a);
        return dc_error(DC_ERR_NOMEM, "tensor proto");
    }
    size_t n = onnx__tensor_proto__get_packed_size(p);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        dc_arena_destroy(a);
        return dc_error(DC_ERR_NOMEM, "tensor '%s': %zu bytes", t->name ? t->name : "", n);
    }
    onnx__tensor_proto__pack(p, buf);
    dc_arena_destroy(a);
    *data = buf;
    *size = n;
    return DC_OK;
}

dc_status dc_tensor_save_pb(const dc_tensor *t, const char *path)
{
    void *data;
    size_t size;
    DC_TRY(dc_tensor_save_pb_buffer(t, &data, &size));
    dc_status s = dc_onnx_write_file(path, data, size);
    free(data);
    return s;
}
