/* The artifact format: writing, parsing, validating and freeing plans.
 *
 * Byte layout, all integers little-endian:
 *
 *   header (32 bytes)
 *     0  char magic[8]   "DINOCPLN"
 *     8  u32  version    DC_PLAN_FORMAT_VERSION
 *    12  u32  flags      0 (a reader refuses flags it does not know)
 *    16  u64  body_size  bytes after the header
 *    24  u32  crc32      CRC-32 (zlib's polynomial) of the body
 *    28  u32  reserved   0
 *   body: eight sections in this order, each `u32 tag, u32 0, u64 length, payload`
 *     PROD  str producer
 *     RCPE  str recipe (empty when none)
 *     REGN  u64 region_bytes[3]                      ARENA, CONST, STATE
 *     BUFS  u64 count, then per buffer:
 *             str name, u32 dtype, u32 rank, i64 dims[rank],
 *             u32 region, u32 0, u64 offset, u64 nbytes
 *     STEP  u64 count, then per step:
 *             str kernel, str op_type, str node, u32 n_inputs, u32 n_outputs,
 *             i32 args[n_inputs + n_outputs], u32 n_attrs, then per attribute
 *             str name, u32 type, and INT: i64 | FLOAT: f32 | STRING: str |
 *             INTS: u32 n, i64[n] | FLOATS: u32 n, f32[n]
 *     IOSG  u64 n_inputs, (str name, i32 buffer)*, u64 n_outputs, (str name, i32 buffer)*
 *     CNST  the initial bytes of the CONST region (length = region_bytes[CONST])
 *     STAT  the initial bytes of the STATE region (length = region_bytes[STATE]),
 *           or nothing (length 0) when the state starts zeroed
 *   str = u32 length, bytes (no terminator, no NUL inside)
 *
 * The header is checked first (magic, version, flags, size, checksum), so a
 * truncated or corrupted file fails early with a precise message; the body is
 * then decoded with every count and length checked against the bytes left and
 * against the DC_PLAN_MAX_* limits before anything is allocated, and finally
 * dc_plan_validate checks the plan's invariants. */
#include "dc_plan.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dc_atomic_file.h"

#define PLAN_MAGIC "DINOCPLN"
enum { HEADER_BYTES = 32, SECTION_HEADER_BYTES = 16, N_SECTIONS = 8 };

/* Indexed as the code refers to them; RCPE (format 2) follows PROD in the file. */
static const char *const section_tags[N_SECTIONS] = {"PROD", "REGN", "BUFS", "STEP",
                                                     "IOSG", "CNST", "STAT", "RCPE"};
static const char *const region_names[3] = {"ARENA", "CONST", "STATE"};

static uint32_t tag_value(const char *tag)
{
    return (uint32_t)(uint8_t)tag[0] | (uint32_t)(uint8_t)tag[1] << 8 |
           (uint32_t)(uint8_t)tag[2] << 16 | (uint32_t)(uint8_t)tag[3] << 24;
}

/* CRC-32 as zlib computes it (it is zlib's), so `crc32` from zlib or
 * Python's zlib.crc32 can check an artifact. zlib counts in uInt: a body
 * of several GiB goes in pieces. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        uInt piece = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, piece);
        p += piece;
        n -= piece;
    }
    return crc;
}

/* ---------------------------------------------------------------- validation */

static int attr_type_valid(int t) { return t >= DC_PLAN_ATTR_INT && t <= DC_PLAN_ATTR_FLOATS; }

static dc_status check_string(const char *s, int required, const char *what, const char *item)
{
    if (!s)
        return required ? dc_error(DC_ERR_INVALID, "%s: %s has no name", what, item) : DC_OK;
    if (required && !s[0])
        return dc_error(DC_ERR_INVALID, "%s: %s has an empty name", what, item);
    if (strlen(s) > DC_PLAN_MAX_STRING)
        return dc_error(DC_ERR_INVALID, "%s: %s: string of %zu bytes (limit %d)", what, item,
                        strlen(s), DC_PLAN_MAX_STRING);
    return DC_OK;
}

static dc_status validate_buffer(const dc_plan *p, int i, const char *what)
{
    const dc_plan_buffer *b = &p->buffers[i];
    char item[64];
    snprintf(item, sizeof item, "buffer %d", i);
    DC_TRY(check_string(b->name, 0, what, item));
    const char *name = b->name ? b->name : "";
    if (!dc_dtype_valid((int)b->dtype) || dc_dtype_size(b->dtype) == 0)
        return dc_error(DC_ERR_INVALID, "%s: buffer %d '%s': element type %d is not a numeric type",
                        what, i, name, (int)b->dtype);
    if (b->rank < 0 || b->rank > DC_MAX_RANK)
        return dc_error(DC_ERR_INVALID, "%s: buffer %d '%s': rank %d outside 0..%d", what, i, name,
                        b->rank, DC_MAX_RANK);
    uint64_t numel;
    dc_status s = dc_shape_numel(b->rank, b->dims, b->dtype, &numel);
    if (s != DC_OK)
        return dc_error_context(s, "%s: buffer %d '%s'", what, i, name);
    uint64_t esize = dc_dtype_size(b->dtype);
    if (b->nbytes != numel * esize)
        return dc_error(DC_ERR_INVALID, "%s: buffer %d '%s': %llu bytes, but %llu elements of %s need %llu",
                        what, i, name, (unsigned long long)b->nbytes, (unsigned long long)numel,
                        dc_dtype_name(b->dtype), (unsigned long long)(numel * esize));
    if ((unsigned)b->region > DC_REGION_STATE)
        return dc_error(DC_ERR_INVALID, "%s: buffer %d '%s': region %d is not ARENA, CONST or STATE",
                        what, i, name, (int)b->region);
    uint64_t limit = p->region_bytes[b->region];
    if (b->offset > limit || b->nbytes > limit - b->offset)
        return dc_error(DC_ERR_INVALID,
                        "%s: buffer %d '%s': bytes %llu..%llu lie outside region %s of %llu bytes",
                        what, i, name, (unsigned long long)b->offset,
                        (unsigned long long)(b->offset + b->nbytes), region_names[b->region],
                        (unsigned long long)limit);
    if (b->offset % esize)
        return dc_error(DC_ERR_INVALID, "%s: buffer %d '%s': offset %llu is not a multiple of %llu",
                        what, i, name, (unsigned long long)b->offset, (unsigned long long)esize);
    return DC_OK;
}

static dc_status validate_step(const dc_plan *p, int i, const char *what)
{
    const dc_plan_step *st = &p->steps[i];
    char item[96];
    snprintf(item, sizeof item, "step %d", i);
    DC_TRY(check_string(st->kernel, 1, what, item));
    DC_TRY(check_string(st->op_type, 1, what, item));
    DC_TRY(check_string(st->node, 0, what, item));
    snprintf(item, sizeof item, "step %d '%s' (%s)", i, st->node ? st->node : "", st->kernel);
    if (st->n_inputs < 0 || st->n_outputs < 0 ||
        st->n_inputs > DC_PLAN_MAX_STEP_ARGS - st->n_outputs)
        return dc_error(DC_ERR_INVALID, "%s: %s: %d inputs and %d outputs (limit %d in all)", what,
                        item, st->n_inputs, st->n_outputs, DC_PLAN_MAX_STEP_ARGS);
    int n_args = st->n_inputs + st->n_outputs;
    if (n_args && !st->args)
        return dc_error(DC_ERR_INVALID, "%s: %s: no argument list", what, item);
    for (int a = 0; a < n_args; a++)
        if (st->args[a] < -1 || st->args[a] >= p->n_buffers)
            return dc_error(DC_ERR_INVALID, "%s: %s: %s %d is buffer %d, outside -1..%d", what, item,
                            a < st->n_inputs ? "input" : "output",
                            a < st->n_inputs ? a : a - st->n_inputs, (int)st->args[a],
                            p->n_buffers - 1);
    if (st->n_attrs < 0 || st->n_attrs > DC_PLAN_MAX_ATTRS || (st->n_attrs && !st->attrs))
        return dc_error(DC_ERR_INVALID, "%s: %s: %d attributes (limit %d)", what, item, st->n_attrs,
                        DC_PLAN_MAX_ATTRS);
    for (int k = 0; k < st->n_attrs; k++) {
        const dc_plan_attr *at = &st->attrs[k];
        DC_TRY(check_string(at->name, 1, what, item));
        if (!attr_type_valid(at->type))
            return dc_error(DC_ERR_INVALID, "%s: %s: attribute '%s' has unknown type %d", what, item,
                            at->name, (int)at->type);
        if (at->type == DC_PLAN_ATTR_STRING && !at->s)
            return dc_error(DC_ERR_INVALID, "%s: %s: string attribute '%s' has no value", what,
                            item, at->name);
        if (at->type == DC_PLAN_ATTR_STRING)
            DC_TRY(check_string(at->s, 0, what, item));
        if (at->type == DC_PLAN_ATTR_INTS || at->type == DC_PLAN_ATTR_FLOATS) {
            const void *v = at->type == DC_PLAN_ATTR_INTS ? (const void *)at->ints
                                                          : (const void *)at->floats;
            if (at->n < 0 || at->n > DC_PLAN_MAX_ATTR_VALUES || (at->n && !v))
                return dc_error(DC_ERR_INVALID, "%s: %s: attribute '%s' has %d values (limit %d)",
                                what, item, at->name, at->n, DC_PLAN_MAX_ATTR_VALUES);
        }
        for (int j = 0; j < k; j++)
            if (strcmp(st->attrs[j].name, at->name) == 0)
                return dc_error(DC_ERR_INVALID, "%s: %s: attribute '%s' given twice", what, item,
                                at->name);
    }
    return DC_OK;
}

static dc_status validate_io(const dc_plan *p, const dc_plan_io *io, int n, const char *kind,
                             const char *what)
{
    if (n < 0 || n > DC_PLAN_MAX_IO || (n && !io))
        return dc_error(DC_ERR_INVALID, "%s: %d %ss (limit %d)", what, n, kind, DC_PLAN_MAX_IO);
    for (int i = 0; i < n; i++) {
        char item[64];
        snprintf(item, sizeof item, "%s %d", kind, i);
        DC_TRY(check_string(io[i].name, 1, what, item));
        if (io[i].buffer < 0 || io[i].buffer >= p->n_buffers)
            return dc_error(DC_ERR_INVALID, "%s: %s '%s' is buffer %d, outside 0..%d", what, kind,
                            io[i].name, (int)io[i].buffer, p->n_buffers - 1);
        /* Quadratic, but signatures are short (a few dozen names). */
        for (int j = 0; j < i; j++)
            if (strcmp(io[j].name, io[i].name) == 0)
                return dc_error(DC_ERR_INVALID, "%s: %s '%s' appears twice", what, kind, io[i].name);
    }
    return DC_OK;
}

dc_status dc_plan_validate(const dc_plan *p, const char *what)
{
    if (!what)
        what = "plan";
    if (!p)
        return dc_error(DC_ERR_INVALID, "%s: no plan", what);
    if (p->contents_released)
        return dc_error(DC_ERR_INVALID, "%s: its initial constants and state were released to a "
                        "session already", what);
    for (int r = 0; r < 3; r++)
        if (p->region_bytes[r] > DC_PLAN_MAX_REGION_BYTES)
            return dc_error(DC_ERR_NOMEM, "%s: region %s of %llu bytes (limit %llu GiB)", what,
                            region_names[r], (unsigned long long)p->region_bytes[r],
                            (unsigned long long)(DC_PLAN_MAX_REGION_BYTES >> 30));
    if (p->region_bytes[DC_REGION_CONST] && !p->constants)
        return dc_error(DC_ERR_INVALID, "%s: region CONST of %llu bytes has no contents", what,
                        (unsigned long long)p->region_bytes[DC_REGION_CONST]);
    DC_TRY(check_string(p->producer, 0, what, "producer"));
    DC_TRY(check_string(p->recipe, 0, what, "recipe"));
    if (p->n_buffers < 0 || p->n_buffers > DC_PLAN_MAX_BUFFERS || (p->n_buffers && !p->buffers))
        return dc_error(DC_ERR_INVALID, "%s: %d buffers (limit %d)", what, p->n_buffers,
                        DC_PLAN_MAX_BUFFERS);
    if (p->n_steps < 0 || p->n_steps > DC_PLAN_MAX_STEPS || (p->n_steps && !p->steps))
        return dc_error(DC_ERR_INVALID, "%s: %d steps (limit %d)", what, p->n_steps,
                        DC_PLAN_MAX_STEPS);
    for (int i = 0; i < p->n_buffers; i++)
        DC_TRY(validate_buffer(p, i, what));
    for (int i = 0; i < p->n_steps; i++)
        DC_TRY(validate_step(p, i, what));
    DC_TRY(validate_io(p, p->inputs, p->n_inputs, "input", what));
    DC_TRY(validate_io(p, p->outputs, p->n_outputs, "output", what));
    return DC_OK;
}

/* ---------------------------------------------------------------- writing */

typedef struct bytes {
    uint8_t *data;
    size_t len, cap;
    int failed;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u32(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(bytes *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(bytes *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}

static void put_str(bytes *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

/* Starts a section; returns where its length goes, patched by end_section. */
static size_t begin_section(bytes *b, int index)
{
    put_u32(b, tag_value(section_tags[index]));
    put_u32(b, 0);
    size_t at = b->len;
    put_u64(b, 0);
    return at;
}

static void end_section(bytes *b, size_t at)
{
    if (b->failed)
        return;
    uint64_t len = b->len - at - 8;
    for (int i = 0; i < 8; i++)
        b->data[at + i] = (uint8_t)(len >> (8 * i));
}

static void encode_metadata(const dc_plan *p, bytes *b)
{
    size_t at = begin_section(b, 0);
    put_str(b, p->producer);
    end_section(b, at);

    at = begin_section(b, 7);
    put_str(b, p->recipe);
    end_section(b, at);

    at = begin_section(b, 1);
    for (int r = 0; r < 3; r++)
        put_u64(b, p->region_bytes[r]);
    end_section(b, at);

    at = begin_section(b, 2);
    put_u64(b, (uint64_t)p->n_buffers);
    for (int i = 0; i < p->n_buffers; i++) {
        const dc_plan_buffer *bf = &p->buffers[i];
        put_str(b, bf->name);
        put_u32(b, (uint32_t)bf->dtype);
        put_u32(b, (uint32_t)bf->rank);
        for (int d = 0; d < bf->rank; d++)
            put_u64(b, (uint64_t)bf->dims[d]);
        put_u32(b, (uint32_t)bf->region);
        put_u32(b, 0);
        put_u64(b, bf->offset);
        put_u64(b, bf->nbytes);
    }
    end_section(b, at);

    at = begin_section(b, 3);
    put_u64(b, (uint64_t)p->n_steps);
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        put_str(b, st->kernel);
        put_str(b, st->op_type);
        put_str(b, st->node);
        put_u32(b, (uint32_t)st->n_inputs);
        put_u32(b, (uint32_t)st->n_outputs);
        for (int a = 0; a < st->n_inputs + st->n_outputs; a++)
            put_u32(b, (uint32_t)st->args[a]);
        put_u32(b, (uint32_t)st->n_attrs);
        for (int k = 0; k < st->n_attrs; k++) {
            const dc_plan_attr *at2 = &st->attrs[k];
            put_str(b, at2->name);
            put_u32(b, (uint32_t)at2->type);
            switch (at2->type) {
            case DC_PLAN_ATTR_INT: put_u64(b, (uint64_t)at2->i); break;
            case DC_PLAN_ATTR_FLOAT: put_f32(b, at2->f); break;
            case DC_PLAN_ATTR_STRING: put_str(b, at2->s); break;
            case DC_PLAN_ATTR_INTS:
                put_u32(b, (uint32_t)at2->n);
                for (int j = 0; j < at2->n; j++)
                    put_u64(b, (uint64_t)at2->ints[j]);
                break;
            case DC_PLAN_ATTR_FLOATS:
                put_u32(b, (uint32_t)at2->n);
                for (int j = 0; j < at2->n; j++)
                    put_f32(b, at2->floats[j]);
                break;
            }
        }
    }
    end_section(b, at);

    at = begin_section(b, 4);
    const dc_plan_io *lists[2] = {p->inputs, p->outputs};
    const int counts[2] = {p->n_inputs, p->n_outputs};
    for (int l = 0; l < 2; l++) {
        put_u64(b, (uint64_t)counts[l]);
        for (int i = 0; i < counts[l]; i++) {
            put_str(b, lists[l][i].name);
            put_u32(b, (uint32_t)lists[l][i].buffer);
        }
    }
    end_section(b, at);

    /* CNST's header only: the blob itself is written straight from the plan. */
    put_u32(b, tag_value(section_tags[5]));
    put_u32(b, 0);
    put_u64(b, p->region_bytes[DC_REGION_CONST]);
}

/* STAT's header, written after the constants; its blob follows it. */
static void encode_state_header(const dc_plan *p, bytes *b)
{
    put_u32(b, tag_value(section_tags[6]));
    put_u32(b, 0);
    put_u64(b, p->state_init ? p->region_bytes[DC_REGION_STATE] : 0);
}

/* The artifact in four pieces: header, metadata up to CNST's header, STAT's
 * header; the constants and the initial state are written straight from the
 * plan between them, so a large training state is never copied to write it. */
typedef struct encoded_plan {
    bytes head, meta, state_head;
    uint64_t const_bytes, state_bytes;
} encoded_plan;

static void encoded_plan_free(encoded_plan *e)
{
    free(e->head.data);
    free(e->meta.data);
    free(e->state_head.data);
}

static dc_status encode_plan(const dc_plan *plan, const char *what, encoded_plan *e)
{
    *e = (encoded_plan){0};
    DC_TRY(dc_plan_validate(plan, what));
    encode_metadata(plan, &e->meta);
    encode_state_header(plan, &e->state_head);
    e->const_bytes = plan->region_bytes[DC_REGION_CONST];
    e->state_bytes = plan->state_init ? plan->region_bytes[DC_REGION_STATE] : 0;
    uint32_t crc = crc32_update(0, e->meta.data, e->meta.len);
    if (e->const_bytes)
        crc = crc32_update(crc, plan->constants, (size_t)e->const_bytes);
    crc = crc32_update(crc, e->state_head.data, e->state_head.len);
    if (e->state_bytes)
        crc = crc32_update(crc, plan->state_init, (size_t)e->state_bytes);

    put(&e->head, PLAN_MAGIC, 8);
    put_u32(&e->head, DC_PLAN_FORMAT_VERSION);
    put_u32(&e->head, 0);
    put_u64(&e->head, (uint64_t)e->meta.len + e->const_bytes + e->state_head.len + e->state_bytes);
    put_u32(&e->head, crc);
    put_u32(&e->head, 0);
    if (e->head.failed || e->meta.failed || e->state_head.failed) {
        encoded_plan_free(e);
        return dc_error(DC_ERR_NOMEM, "%s: encoding the plan", what);
    }
    return DC_OK;
}

dc_status dc_plan_write(const dc_plan *plan, const char *path)
{
    encoded_plan e;
    DC_TRY(encode_plan(plan, path, &e));
    dc_atomic_file af;
    dc_status s = dc_atomic_file_begin(&af, path);
    if (s == DC_OK) {
        fwrite(e.head.data, 1, e.head.len, af.f);
        fwrite(e.meta.data, 1, e.meta.len, af.f);
        if (e.const_bytes)
            fwrite(plan->constants, 1, (size_t)e.const_bytes, af.f);
        fwrite(e.state_head.data, 1, e.state_head.len, af.f);
        if (e.state_bytes)
            fwrite(plan->state_init, 1, (size_t)e.state_bytes, af.f);
        s = dc_atomic_file_commit(&af);
    }
    encoded_plan_free(&e);
    return s;
}

dc_status dc_plan_serialize(const dc_plan *plan, const char *what, void **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    encoded_plan e;
    DC_TRY(encode_plan(plan, what, &e));
    size_t n = e.head.len + e.meta.len + (size_t)e.const_bytes + e.state_head.len +
               (size_t)e.state_bytes;
    uint8_t *d = malloc(n), *at = d;
    if (!d) {
        encoded_plan_free(&e);
        return dc_error(DC_ERR_NOMEM, "%s: %zu bytes for the plan", what, n);
    }
    memcpy(at, e.head.data, e.head.len);
    at += e.head.len;
    memcpy(at, e.meta.data, e.meta.len);
    at += e.meta.len;
    if (e.const_bytes)
        memcpy(at, plan->constants, (size_t)e.const_bytes);
    at += e.const_bytes;
    memcpy(at, e.state_head.data, e.state_head.len);
    at += e.state_head.len;
    if (e.state_bytes)
        memcpy(at, plan->state_init, (size_t)e.state_bytes);
    encoded_plan_free(&e);
    *data = d;
    *size = n;
    return DC_OK;
}

/* ---------------------------------------------------------------- parsing */

typedef struct reader {
    const uint8_t *data;
    size_t pos, end;     /* end: the end of the current section */
    const char *what;
    char where[160];     /* what is being read, for "truncated at ..." */
} reader;

static dc_status truncated(const reader *r)
{
    return dc_error(DC_ERR_PARSE, "%s: truncated at %s (byte %zu)", r->what, r->where, r->pos);
}

static dc_status get(reader *r, void *dst, size_t n)
{
    if (n > r->end - r->pos)
        return truncated(r);
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
    return DC_OK;
}

static dc_status get_u32(reader *r, uint32_t *v)
{
    uint8_t x[4] = {0};
    DC_TRY(get(r, x, 4));
    *v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
    return DC_OK;
}

static dc_status get_u64(reader *r, uint64_t *v)
{
    uint32_t lo, hi;
    DC_TRY(get_u32(r, &lo));
    DC_TRY(get_u32(r, &hi));
    *v = (uint64_t)hi << 32 | lo;
    return DC_OK;
}

static dc_status get_i32(reader *r, int32_t *v)
{
    uint32_t u;
    DC_TRY(get_u32(r, &u));
    *v = (int32_t)u;
    return DC_OK;
}

static dc_status get_f32(reader *r, float *f)
{
    uint32_t u;
    DC_TRY(get_u32(r, &u));
    memcpy(f, &u, 4);
    return DC_OK;
}

/* A u32 that must fit a count of at most `limit` items of at least
 * `min_item_bytes` each in what is left of the section. */
static dc_status get_count(reader *r, uint64_t raw, uint64_t limit, size_t min_item_bytes,
                           const char *noun, int *out)
{
    *out = 0; /* defined on failure too: gcc -O3 cannot see callers skip it */
    if (raw > limit)
        return dc_error(DC_ERR_PARSE, "%s: %s: %llu %s (limit %llu)", r->what, r->where,
                        (unsigned long long)raw, noun, (unsigned long long)limit);
    if (min_item_bytes && raw > (r->end - r->pos) / min_item_bytes)
        return dc_error(DC_ERR_PARSE, "%s: truncated at %s: %llu %s need at least %llu bytes, %zu left",
                        r->what, r->where, (unsigned long long)raw, noun,
                        (unsigned long long)raw * min_item_bytes, r->end - r->pos);
    *out = (int)raw;
    return DC_OK;
}

static dc_status get_str(reader *r, char **out)
{
    uint32_t n;
    DC_TRY(get_u32(r, &n));
    if (n > DC_PLAN_MAX_STRING)
        return dc_error(DC_ERR_PARSE, "%s: %s: string of %u bytes (limit %d)", r->what, r->where,
                        n, DC_PLAN_MAX_STRING);
    if (n > r->end - r->pos)
        return truncated(r);
    if (memchr(r->data + r->pos, 0, n))
        return dc_error(DC_ERR_PARSE, "%s: %s: string with a NUL byte", r->what, r->where);
    char *s = malloc((size_t)n + 1);
    if (!s)
        return dc_error(DC_ERR_NOMEM, "%s: string of %u bytes", r->what, n);
    memcpy(s, r->data + r->pos, n);
    s[n] = '\0';
    r->pos += n;
    *out = s;
    return DC_OK;
}

static void *alloc_array(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* Enters section `index`: checks its tag and that its length fits the body. */
static dc_status enter_section(reader *r, size_t body_end, int index)
{
    r->end = body_end;
    snprintf(r->where, sizeof r->where, "section %s header", section_tags[index]);
    uint32_t tag, zero;
    uint64_t len;
    DC_TRY(get_u32(r, &tag));
    DC_TRY(get_u32(r, &zero));
    DC_TRY(get_u64(r, &len));
    if (tag != tag_value(section_tags[index]) || zero != 0)
        return dc_error(DC_ERR_PARSE, "%s: expected section %s at byte %zu", r->what,
                        section_tags[index], r->pos - SECTION_HEADER_BYTES);
    if (len > body_end - r->pos)
        return dc_error(DC_ERR_PARSE, "%s: truncated at section %s: %llu bytes claimed, %zu left",
                        r->what, section_tags[index], (unsigned long long)len, body_end - r->pos);
    r->end = r->pos + (size_t)len;
    snprintf(r->where, sizeof r->where, "section %s", section_tags[index]);
    return DC_OK;
}

static dc_status leave_section(reader *r, int index)
{
    if (r->pos != r->end)
        return dc_error(DC_ERR_PARSE, "%s: section %s has %zu unread bytes", r->what,
                        section_tags[index], r->end - r->pos);
    return DC_OK;
}

static dc_status parse_buffers(reader *r, dc_plan *p)
{
    uint64_t n;
    DC_TRY(get_u64(r, &n));
    /* name length, dtype, rank, region, pad, offset, nbytes */
    DC_TRY(get_count(r, n, DC_PLAN_MAX_BUFFERS, 36, "buffers", &p->n_buffers));
    p->buffers = alloc_array((size_t)p->n_buffers, sizeof *p->buffers);
    if (!p->buffers)
        return dc_error(DC_ERR_NOMEM, "%s: %d buffers", r->what, p->n_buffers);
    for (int i = 0; i < p->n_buffers; i++) {
        dc_plan_buffer *b = &p->buffers[i];
        snprintf(r->where, sizeof r->where, "buffer %d", i);
        uint32_t dtype, rank, region, pad;
        DC_TRY(get_str(r, &b->name));
        snprintf(r->where, sizeof r->where, "buffer %d '%.100s'", i, b->name);
        DC_TRY(get_u32(r, &dtype));
        DC_TRY(get_u32(r, &rank));
        if (rank > DC_MAX_RANK)
            return dc_error(DC_ERR_PARSE, "%s: %s: rank %u outside 0..%d", r->what, r->where, rank,
                            DC_MAX_RANK);
        b->dtype = (dc_dtype)dtype;
        b->rank = (int)rank;
        for (uint32_t d = 0; d < rank; d++) {
            uint64_t v;
            DC_TRY(get_u64(r, &v));
            b->dims[d] = (int64_t)v;
        }
        DC_TRY(get_u32(r, &region));
        DC_TRY(get_u32(r, &pad));
        /* A reserved field must be 0, so a plan reads back to the bytes it came from. */
        if (pad != 0)
            return dc_error(DC_ERR_PARSE, "%s: %s: reserved field after the region is 0x%x, not 0",
                            r->what, r->where, pad);
        b->region = (dc_region)(region > 255 ? 255 : region); /* validate reports it */
        DC_TRY(get_u64(r, &b->offset));
        DC_TRY(get_u64(r, &b->nbytes));
    }
    return DC_OK;
}

static dc_status parse_attr(reader *r, dc_plan_attr *at)
{
    uint32_t type, n;
    DC_TRY(get_str(r, &at->name));
    DC_TRY(get_u32(r, &type));
    if (!attr_type_valid((int)type))
        return dc_error(DC_ERR_PARSE, "%s: %s: attribute '%s' has unknown type %u", r->what,
                        r->where, at->name, type);
    at->type = (dc_plan_attr_type)type;
    switch (at->type) {
    case DC_PLAN_ATTR_INT: {
        uint64_t v;
        DC_TRY(get_u64(r, &v));
        at->i = (int64_t)v;
        return DC_OK;
    }
    case DC_PLAN_ATTR_FLOAT: return get_f32(r, &at->f);
    case DC_PLAN_ATTR_STRING: return get_str(r, &at->s);
    case DC_PLAN_ATTR_INTS:
        DC_TRY(get_u32(r, &n));
        DC_TRY(get_count(r, n, DC_PLAN_MAX_ATTR_VALUES, 8, "values", &at->n));
        if (!(at->ints = alloc_array((size_t)at->n, sizeof *at->ints)))
            return dc_error(DC_ERR_NOMEM, "%s: attribute '%s'", r->what, at->name);
        for (int j = 0; j < at->n; j++) {
            uint64_t v;
            DC_TRY(get_u64(r, &v));
            at->ints[j] = (int64_t)v;
        }
        return DC_OK;
    case DC_PLAN_ATTR_FLOATS:
        DC_TRY(get_u32(r, &n));
        DC_TRY(get_count(r, n, DC_PLAN_MAX_ATTR_VALUES, 4, "values", &at->n));
        if (!(at->floats = alloc_array((size_t)at->n, sizeof *at->floats)))
            return dc_error(DC_ERR_NOMEM, "%s: attribute '%s'", r->what, at->name);
        for (int j = 0; j < at->n; j++)
            DC_TRY(get_f32(r, &at->floats[j]));
        return DC_OK;
    }
    return DC_OK;
}

static dc_status parse_steps(reader *r, dc_plan *p)
{
    uint64_t n;
    DC_TRY(get_u64(r, &n));
    /* three string lengths, two counts, the attribute count */
    DC_TRY(get_count(r, n, DC_PLAN_MAX_STEPS, 24, "steps", &p->n_steps));
    p->steps = alloc_array((size_t)p->n_steps, sizeof *p->steps);
    if (!p->steps)
        return dc_error(DC_ERR_NOMEM, "%s: %d steps", r->what, p->n_steps);
    for (int i = 0; i < p->n_steps; i++) {
        dc_plan_step *st = &p->steps[i];
        snprintf(r->where, sizeof r->where, "step %d", i);
        DC_TRY(get_str(r, &st->kernel));
        DC_TRY(get_str(r, &st->op_type));
        DC_TRY(get_str(r, &st->node));
        uint32_t ni, no, na;
        DC_TRY(get_u32(r, &ni));
        DC_TRY(get_u32(r, &no));
        if (ni > DC_PLAN_MAX_STEP_ARGS || no > DC_PLAN_MAX_STEP_ARGS - ni)
            return dc_error(DC_ERR_PARSE, "%s: %s: %u inputs and %u outputs (limit %d in all)",
                            r->what, r->where, ni, no, DC_PLAN_MAX_STEP_ARGS);
        int nargs;
        DC_TRY(get_count(r, (uint64_t)ni + no, DC_PLAN_MAX_STEP_ARGS, 4, "arguments", &nargs));
        st->n_inputs = (int)ni;
        st->n_outputs = (int)no;
        if (!(st->args = alloc_array((size_t)nargs, sizeof *st->args)))
            return dc_error(DC_ERR_NOMEM, "%s: %s", r->what, r->where);
        for (int a = 0; a < nargs; a++)
            DC_TRY(get_i32(r, &st->args[a]));
        DC_TRY(get_u32(r, &na));
        DC_TRY(get_count(r, na, DC_PLAN_MAX_ATTRS, 8, "attributes", &st->n_attrs));
        if (!(st->attrs = alloc_array((size_t)st->n_attrs, sizeof *st->attrs)))
            return dc_error(DC_ERR_NOMEM, "%s: %s", r->what, r->where);
        for (int k = 0; k < st->n_attrs; k++) {
            snprintf(r->where, sizeof r->where, "step %d attribute %d", i, k);
            DC_TRY(parse_attr(r, &st->attrs[k]));
        }
    }
    return DC_OK;
}

static dc_status parse_io(reader *r, dc_plan_io **list, int *count, const char *kind)
{
    uint64_t n;
    snprintf(r->where, sizeof r->where, "%s list", kind);
    DC_TRY(get_u64(r, &n));
    DC_TRY(get_count(r, n, DC_PLAN_MAX_IO, 8, kind, count));
    if (!(*list = alloc_array((size_t)*count, sizeof **list)))
        return dc_error(DC_ERR_NOMEM, "%s: %d %ss", r->what, *count, kind);
    for (int i = 0; i < *count; i++) {
        snprintf(r->where, sizeof r->where, "%s %d", kind, i);
        DC_TRY(get_str(r, &(*list)[i].name));
        DC_TRY(get_i32(r, &(*list)[i].buffer));
    }
    return DC_OK;
}

static dc_status parse_header(const uint8_t *d, size_t size, const char *what, size_t *body_size)
{
    if (size < 8 || memcmp(d, PLAN_MAGIC, 8) != 0)
        return dc_error(DC_ERR_PARSE, "%s: not a dinoc plan (no \"%s\" magic)", what, PLAN_MAGIC);
    reader r = {.data = d, .pos = 8, .end = size < HEADER_BYTES ? size : HEADER_BYTES, .what = what};
    snprintf(r.where, sizeof r.where, "the header");
    uint32_t version, flags, crc, reserved;
    uint64_t body;
    DC_TRY(get_u32(&r, &version));
    if (version != DC_PLAN_FORMAT_VERSION)
        return dc_error(DC_ERR_PARSE, "%s: format version %u, this dinoc reads %d", what, version,
                        DC_PLAN_FORMAT_VERSION);
    DC_TRY(get_u32(&r, &flags));
    DC_TRY(get_u64(&r, &body));
    DC_TRY(get_u32(&r, &crc));
    DC_TRY(get_u32(&r, &reserved));
    if (flags != 0 || reserved != 0)
        return dc_error(DC_ERR_PARSE, "%s: unknown header flags 0x%x/0x%x", what, flags, reserved);
    if (body > size - HEADER_BYTES)
        return dc_error(DC_ERR_PARSE, "%s: truncated: the header announces %llu body bytes, %zu are there",
                        what, (unsigned long long)body, size - HEADER_BYTES);
    if (body < size - HEADER_BYTES)
        return dc_error(DC_ERR_PARSE, "%s: %zu bytes of trailing garbage after the plan", what,
                        size - HEADER_BYTES - (size_t)body);
    uint32_t actual = crc32_update(0, d + HEADER_BYTES, (size_t)body);
    if (actual != crc)
        return dc_error(DC_ERR_PARSE, "%s: checksum mismatch (stored %08x, computed %08x): the file is corrupted",
                        what, crc, actual);
    *body_size = (size_t)body;
    return DC_OK;
}

static dc_status parse_body(reader *r, size_t body_end, dc_plan *p)
{
    DC_TRY(enter_section(r, body_end, 0));
    snprintf(r->where, sizeof r->where, "the producer");
    DC_TRY(get_str(r, &p->producer));
    DC_TRY(leave_section(r, 0));

    DC_TRY(enter_section(r, body_end, 7));
    snprintf(r->where, sizeof r->where, "the recipe");
    DC_TRY(get_str(r, &p->recipe));
    DC_TRY(leave_section(r, 7));

    DC_TRY(enter_section(r, body_end, 1));
    snprintf(r->where, sizeof r->where, "the region sizes");
    for (int i = 0; i < 3; i++) {
        DC_TRY(get_u64(r, &p->region_bytes[i]));
        if (p->region_bytes[i] > DC_PLAN_MAX_REGION_BYTES)
            return dc_error(DC_ERR_PARSE, "%s: region %s of %llu bytes (limit %llu GiB)", r->what,
                            region_names[i], (unsigned long long)p->region_bytes[i],
                            (unsigned long long)(DC_PLAN_MAX_REGION_BYTES >> 30));
    }
    DC_TRY(leave_section(r, 1));

    DC_TRY(enter_section(r, body_end, 2));
    DC_TRY(parse_buffers(r, p));
    DC_TRY(leave_section(r, 2));

    DC_TRY(enter_section(r, body_end, 3));
    DC_TRY(parse_steps(r, p));
    DC_TRY(leave_section(r, 3));

    DC_TRY(enter_section(r, body_end, 4));
    DC_TRY(parse_io(r, &p->inputs, &p->n_inputs, "input"));
    DC_TRY(parse_io(r, &p->outputs, &p->n_outputs, "output"));
    DC_TRY(leave_section(r, 4));

    DC_TRY(enter_section(r, body_end, 5));
    size_t len = r->end - r->pos;
    if (len != p->region_bytes[DC_REGION_CONST])
        return dc_error(DC_ERR_PARSE, "%s: %zu constant bytes for a CONST region of %llu", r->what,
                        len, (unsigned long long)p->region_bytes[DC_REGION_CONST]);
    if (len) {
        if (!(p->constants = malloc(len)))
            return dc_error(DC_ERR_NOMEM, "%s: %zu constant bytes", r->what, len);
        memcpy(p->constants, r->data + r->pos, len);
        r->pos += len;
    }
    DC_TRY(leave_section(r, 5));

    DC_TRY(enter_section(r, body_end, 6));
    len = r->end - r->pos;
    if (len != 0 && len != p->region_bytes[DC_REGION_STATE])
        return dc_error(DC_ERR_PARSE, "%s: %zu initial state bytes for a STATE region of %llu",
                        r->what, len, (unsigned long long)p->region_bytes[DC_REGION_STATE]);
    if (len) {
        if (!(p->state_init = malloc(len)))
            return dc_error(DC_ERR_NOMEM, "%s: %zu state bytes", r->what, len);
        memcpy(p->state_init, r->data + r->pos, len);
        r->pos += len;
    }
    DC_TRY(leave_section(r, 6));
    if (r->pos != body_end)
        return dc_error(DC_ERR_PARSE, "%s: %zu bytes after the last section", r->what,
                        body_end - r->pos);
    return DC_OK;
}

dc_status dc_plan_parse(const void *data, size_t size, const char *what, dc_plan **out)
{
    *out = NULL;
    if (!what)
        what = "plan";
    if (!data && size)
        return dc_error(DC_ERR_INVALID, "%s: no data", what);
    size_t body = 0;
    DC_TRY(parse_header(data, size, what, &body));
    dc_plan *p = calloc(1, sizeof *p);
    if (!p)
        return dc_error(DC_ERR_NOMEM, "%s: plan", what);
    reader r = {.data = data, .pos = HEADER_BYTES, .end = HEADER_BYTES + body, .what = what};
    dc_status s = parse_body(&r, HEADER_BYTES + body, p);
    if (s == DC_OK)
        s = dc_plan_validate(p, what);
    if (s != DC_OK) {
        dc_plan_destroy(p);
        return s;
    }
    *out = p;
    return DC_OK;
}

dc_status dc_plan_read(const char *path, dc_plan **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dc_error(DC_ERR_IO, "%s: cannot open: %m", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dc_error(DC_ERR_IO, "%s: not a regular file", path);
    }
    /* Three full regions of constants is far beyond any real plan. */
    uint64_t limit = 2 * DC_PLAN_MAX_REGION_BYTES;
    if ((uint64_t)st.st_size > limit) {
        close(fd);
        return dc_error(DC_ERR_NOMEM, "%s: %lld bytes is larger than any plan can be", path,
                        (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return dc_error(DC_ERR_NOMEM, "%s: %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0) {
            free(data);
            close(fd);
            return dc_error(DC_ERR_IO, "%s: read failed: %m", path);
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    dc_status s = dc_plan_parse(data, got, path, out);
    free(data);
    return s;
}

void dc_plan_release_contents(dc_plan *p)
{
    free(p->constants);
    free(p->state_init);
    p->constants = p->state_init = NULL;
    p->contents_released = true;
}

void dc_plan_destroy(dc_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->buffers && i < p->n_buffers; i++)
        free(p->buffers[i].name);
    free(p->buffers);
    for (int i = 0; p->steps && i < p->n_steps; i++) {
        dc_plan_step *st = &p->steps[i];
        free(st->kernel);
        free(st->op_type);
        free(st->node);
        free(st->args);
        for (int k = 0; st->attrs && k < st->n_attrs; k++) {
            free(st->attrs[k].name);
            free(st->attrs[k].s);
            free(st->attrs[k].ints);
            free(st->attrs[k].floats);
        }
        free(st->attrs);
    }
    free(p->steps);
    for (int i = 0; p->inputs && i < p->n_inputs; i++)
        free(p->inputs[i].name);
    for (int i = 0; p->outputs && i < p->n_outputs; i++)
        free(p->outputs[i].name);
    free(p->inputs);
    free(p->outputs);
    free(p->constants);
    free(p->state_init);
    free(p->producer);
    free(p->recipe);
    free(p);
}

/* ---------------------------------------------------------------- attributes */

const dc_plan_attr *dc_step_attr(const dc_plan_step *step, const char *name)
{
    for (int i = 0; step && i < step->n_attrs; i++)
        if (step->attrs[i].name && strcmp(step->attrs[i].name, name) == 0)
            return &step->attrs[i];
    return NULL;
}

int64_t dc_step_int(const dc_plan_step *step, const char *name, int64_t dflt)
{
    const dc_plan_attr *a = dc_step_attr(step, name);
    if (!a)
        return dflt;
    if (a->type == DC_PLAN_ATTR_INT)
        return a->i;
    if (a->type == DC_PLAN_ATTR_INTS && a->n == 1)
        return a->ints[0];
    return dflt;
}

float dc_step_float(const dc_plan_step *step, const char *name, float dflt)
{
    const dc_plan_attr *a = dc_step_attr(step, name);
    if (!a)
        return dflt;
    if (a->type == DC_PLAN_ATTR_FLOAT)
        return a->f;
    if (a->type == DC_PLAN_ATTR_INT)
        return (float)a->i;
    if (a->type == DC_PLAN_ATTR_FLOATS && a->n == 1)
        return a->floats[0];
    return dflt;
}

const char *dc_step_string(const dc_plan_step *step, const char *name, const char *dflt)
{
    const dc_plan_attr *a = dc_step_attr(step, name);
    return a && a->type == DC_PLAN_ATTR_STRING ? a->s : dflt;
}

const int64_t *dc_step_ints(const dc_plan_step *step, const char *name, int *count)
{
    const dc_plan_attr *a = dc_step_attr(step, name);
    if (a && a->type == DC_PLAN_ATTR_INTS) {
        if (count)
            *count = a->n;
        return a->n ? a->ints : NULL;
    }
    if (a && a->type == DC_PLAN_ATTR_INT) { /* a single int reads as a one-element list */
        if (count)
            *count = 1;
        return &a->i;
    }
    if (count)
        *count = 0;
    return NULL;
}

const float *dc_step_floats(const dc_plan_step *step, const char *name, int *count)
{
    const dc_plan_attr *a = dc_step_attr(step, name);
    if (a && a->type == DC_PLAN_ATTR_FLOATS) {
        if (count)
            *count = a->n;
        return a->n ? a->floats : NULL;
    }
    if (a && a->type == DC_PLAN_ATTR_FLOAT) {
        if (count)
            *count = 1;
        return &a->f;
    }
    if (count)
        *count = 0;
    return NULL;
}
