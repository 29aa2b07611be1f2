/* The artifact format: round trips, validation, and every kind of corruption
 * (truncation at each byte, bad magic/version/checksum, offsets outside their
 * region, absurd counts) being an error with a message, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc_plan.h"
#include "dc_session.h"
#include "test_util.h"

enum { HEADER = 32 };

/* zlib's CRC-32, to re-seal deliberately corrupted bodies so that the
 * parser's own checks (not the checksum) must catch them. */
static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Rewrites body size and checksum for a buffer of `size` bytes. */
static void reseal(uint8_t *d, size_t size)
{
    put_le(d + 16, size - HEADER, 8);
    put_le(d + 24, crc32_ref(d + HEADER, size - HEADER), 4);
}

static char *xstrdup(const char *s)
{
    char *r = malloc(strlen(s) + 1);
    strcpy(r, s);
    return r;
}

/* x f32[2,3] (ARENA @0) + w f32[3] (CONST @0) -> y f32[2,3] (ARENA @0x140),
 * one c.Add step carrying one attribute of every kind (Add ignores them). */
static dc_plan *small_plan(void)
{
    dc_plan *p = calloc(1, sizeof *p);
    p->region_bytes[DC_REGION_ARENA] = 0x1c0;
    p->region_bytes[DC_REGION_CONST] = 64;
    p->constants = calloc(1, 64);
    const float w[3] = {10, 20, 30};
    memcpy(p->constants, w, sizeof w);
    p->n_buffers = 3;
    p->buffers = calloc(3, sizeof *p->buffers);
    const char *names[3] = {"x", "w", "y"};
    const int64_t dims[3][2] = {{2, 3}, {3, 0}, {2, 3}};
    const int ranks[3] = {2, 1, 2};
    const uint64_t offsets[3] = {0, 0, 0x140};
    const dc_region regions[3] = {DC_REGION_ARENA, DC_REGION_CONST, DC_REGION_ARENA};
    for (int i = 0; i < 3; i++) {
        dc_plan_buffer *b = &p->buffers[i];
        b->name = xstrdup(names[i]);
        b->dtype = DC_F32;
        b->rank = ranks[i];
        memcpy(b->dims, dims[i], sizeof dims[i]);
        b->region = regions[i];
        b->offset = offsets[i];
        b->nbytes = ranks[i] == 2 ? 24 : 12;
    }
    p->n_steps = 1;
    p->steps = calloc(1, sizeof *p->steps);
    dc_plan_step *s = &p->steps[0];
    s->kernel = xstrdup("c.Add");
    s->op_type = xstrdup("Add");
    s->node = xstrdup("add0");
    s->n_inputs = 2;
    s->n_outputs = 1;
    s->args = calloc(3, sizeof *s->args);
    s->args[0] = 0;
    s->args[1] = 1;
    s->args[2] = 2;
    s->n_attrs = 5;
    s->attrs = calloc(5, sizeof *s->attrs);
    s->attrs[0] = (dc_plan_attr){.name = xstrdup("i"), .type = DC_PLAN_ATTR_INT, .i = -7};
    s->attrs[1] = (dc_plan_attr){.name = xstrdup("f"), .type = DC_PLAN_ATTR_FLOAT, .f = 0.25f};
    s->attrs[2] = (dc_plan_attr){.name = xstrdup("s"), .type = DC_PLAN_ATTR_STRING, .s = xstrdup("half_pixel")};
    s->attrs[3] = (dc_plan_attr){.name = xstrdup("is"), .type = DC_PLAN_ATTR_INTS, .n = 3};
    s->attrs[3].ints = calloc(3, sizeof(int64_t));
    s->attrs[3].ints[0] = 1;
    s->attrs[3].ints[1] = -2;
    s->attrs[3].ints[2] = INT64_MAX;
    s->attrs[4] = (dc_plan_attr){.name = xstrdup("fs"), .type = DC_PLAN_ATTR_FLOATS, .n = 2};
    s->attrs[4].floats = calloc(2, sizeof(float));
    s->attrs[4].floats[0] = 1.5f;
    s->attrs[4].floats[1] = -3.0f;
    p->n_inputs = p->n_outputs = 1;
    p->inputs = calloc(1, sizeof *p->inputs);
    p->outputs = calloc(1, sizeof *p->outputs);
    p->inputs[0] = (dc_plan_io){xstrdup("x"), 0};
    p->outputs[0] = (dc_plan_io){xstrdup("y"), 2};
    p->producer = xstrdup("test_plan");
    return p;
}

static void tmp_path(char *buf, size_t cap, const char *leaf)
{
    snprintf(buf, cap, "/tmp/dinoc_test_plan_%d_%s", (int)getpid(), leaf);
}

/* The serialized bytes of small_plan(). */
static uint8_t *small_plan_bytes(size_t *size)
{
    char path[256];
    tmp_path(path, sizeof path, "bytes.dnc");
    dc_plan *p = small_plan();
    DC_ASSERT_OK(dc_plan_write(p, path));
    dc_plan_destroy(p);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(*size);
    CU_ASSERT_EQUAL(fread(d, 1, *size, f), *size);
    fclose(f);
    unlink(path);
    return d;
}

/* dc_plan_serialize gives the bytes dc_plan_write writes, and they parse back. */
static void test_serialize(void)
{
    size_t file_size, size;
    uint8_t *file = small_plan_bytes(&file_size);
    dc_plan *p = small_plan(), *back = NULL;
    void *data;
    DC_ASSERT_OK(dc_plan_serialize(p, "memory", &data, &size));
    CU_ASSERT_EQUAL(size, file_size);
    CU_ASSERT(size == file_size && memcmp(data, file, size) == 0);
    DC_ASSERT_OK(dc_plan_parse(data, size, "memory", &back));
    CU_ASSERT_EQUAL(back->n_steps, p->n_steps);
    CU_ASSERT_EQUAL(back->n_buffers, p->n_buffers);
    dc_plan_destroy(back);
    free(data);
    dc_plan_destroy(p);
    free(file);
}

/* Offset of the payload of section `tag` (after its 16-byte header). */
static size_t section(const uint8_t *d, size_t size, const char *tag)
{
    for (size_t i = HEADER; i + 4 <= size; i++)
        if (memcmp(d + i, tag, 4) == 0)
            return i + 16;
    CU_FAIL("section not found");
    return 0;
}

/* Replaces the only occurrence of u64 `from` in the body by `to`. */
static void patch_u64(uint8_t *d, size_t size, uint64_t from, uint64_t to)
{
    uint8_t pat[8];
    put_le(pat, from, 8);
    size_t at = 0;
    int found = 0;
    for (size_t i = HEADER; i + 8 <= size; i++)
        if (memcmp(d + i, pat, 8) == 0) {
            at = i;
            found++;
        }
    CU_ASSERT_EQUAL_FATAL(found, 1);
    put_le(d + at, to, 8);
}

static dc_status parse_expect(const uint8_t *d, size_t size, dc_status want, const char *msg)
{
    dc_plan *p = (dc_plan *)1;
    dc_status s = dc_plan_parse(d, size, "artifact.dnc", &p);
    CU_ASSERT_EQUAL(s, want);
    CU_ASSERT_PTR_NULL(p);
    if (msg && !strstr(dc_error_message(), msg)) {
        fprintf(stderr, "\n    expected '%s' in: %s\n", msg, dc_error_message());
        CU_FAIL("message");
    }
    if (s == DC_OK)
        dc_plan_destroy(p);
    return s;
}

static void test_round_trip(void)
{
    char path[256], tmp[300];
    tmp_path(path, sizeof path, "rt.dnc");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    dc_plan *p = small_plan(), *q;
    p->recipe = xstrdup("lr = 0.5\nconfig:\nname = x\n");
    DC_ASSERT_OK(dc_plan_write(p, path));
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0); /* renamed into place */
    DC_ASSERT_OK(dc_plan_read(path, &q));
    unlink(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_STRING_EQUAL(q->producer, "test_plan");
    CU_ASSERT_STRING_EQUAL(q->recipe, p->recipe);
    for (int r = 0; r < 3; r++)
        CU_ASSERT_EQUAL(q->region_bytes[r], p->region_bytes[r]);
    CU_ASSERT_EQUAL(memcmp(q->constants, p->constants, 64), 0);
    CU_ASSERT_EQUAL_FATAL(q->n_buffers, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(q->buffers[i].name, p->buffers[i].name);
        CU_ASSERT_EQUAL(q->buffers[i].dtype, p->buffers[i].dtype);
        CU_ASSERT_EQUAL(q->buffers[i].rank, p->buffers[i].rank);
        CU_ASSERT_EQUAL(q->buffers[i].dims[0], p->buffers[i].dims[0]);
        CU_ASSERT_EQUAL(q->buffers[i].region, p->buffers[i].region);
        CU_ASSERT_EQUAL(q->buffers[i].offset, p->buffers[i].offset);
        CU_ASSERT_EQUAL(q->buffers[i].nbytes, p->buffers[i].nbytes);
    }
    const dc_plan_step *s = &q->steps[0];
    CU_ASSERT_STRING_EQUAL(s->kernel, "c.Add");
    CU_ASSERT_STRING_EQUAL(s->op_type, "Add");
    CU_ASSERT_STRING_EQUAL(s->node, "add0");
    CU_ASSERT_EQUAL(s->args[2], 2);
    CU_ASSERT_EQUAL(dc_step_int(s, "i", 0), -7);
    CU_ASSERT_EQUAL(dc_step_float(s, "f", 0), 0.25f);
    CU_ASSERT_STRING_EQUAL(dc_step_string(s, "s", ""), "half_pixel");
    int n = 0;
    const int64_t *is = dc_step_ints(s, "is", &n);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_EQUAL(is[1], -2);
    CU_ASSERT_EQUAL(is[2], INT64_MAX);
    const float *fs = dc_step_floats(s, "fs", &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_EQUAL(fs[1], -3.0f);
    CU_ASSERT_STRING_EQUAL(q->inputs[0].name, "x");
    CU_ASSERT_EQUAL(q->outputs[0].buffer, 2);

    /* And it runs: y = x + w. */
    dc_session *sess;
    DC_ASSERT_OK(dc_session_create(q, 1, &sess));
    dc_tensor *x, *y;
    DC_ASSERT_OK(dc_tensor_create(&x, "x", DC_F32, 2, (int64_t[]){2, 3}));
    for (int i = 0; i < 6; i++)
        ((float *)x->data)[i] = (float)i;
    DC_ASSERT_OK(dc_session_set_input(sess, "x", x));
    DC_ASSERT_OK(dc_session_run(sess));
    DC_ASSERT_OK(dc_session_get_output(sess, 0, &y));
    CU_ASSERT_STRING_EQUAL(y->name, "y");
    CU_ASSERT_EQUAL(((float *)y->data)[4], 24.0f);
    dc_tensor_destroy(x);
    dc_tensor_destroy(y);
    dc_session_destroy(sess);
    dc_plan_destroy(p);
    dc_plan_destroy(q);
}

/* A session keeps running once the plan's initial contents are released; the
 * plan then refuses to start another session or to be written, with a reason. */
static void test_release_contents(void)
{
    dc_plan *p = small_plan();
    dc_session *sess, *again = NULL;
    DC_ASSERT_OK(dc_session_create(p, 1, &sess));
    dc_plan_release_contents(p);
    CU_ASSERT_PTR_NULL(p->constants);
    dc_tensor *x, *y;
    DC_ASSERT_OK(dc_tensor_create(&x, "x", DC_F32, 2, (int64_t[]){2, 3}));
    for (int i = 0; i < 6; i++)
        ((float *)x->data)[i] = (float)i;
    DC_ASSERT_OK(dc_session_set_input(sess, "x", x));
    DC_ASSERT_OK(dc_session_run(sess));
    DC_ASSERT_OK(dc_session_get_output(sess, 0, &y));
    CU_ASSERT_EQUAL(((float *)y->data)[4], 24.0f); /* 4 + w[1] from the session's CONST */
    CU_ASSERT_EQUAL(dc_session_create(p, 1, &again), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(again);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "released"));
    char path[256];
    tmp_path(path, sizeof path, "released.dnc");
    CU_ASSERT_EQUAL(dc_plan_write(p, path), DC_ERR_INVALID);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    dc_tensor_destroy(x);
    dc_tensor_destroy(y);
    dc_session_destroy(sess);
    dc_plan_destroy(p);
}

static void test_getter_defaults(void)
{
    dc_plan *p = small_plan();
    const dc_plan_step *s = &p->steps[0];
    int n = 5;
    CU_ASSERT_PTR_NULL(dc_step_attr(s, "missing"));
    CU_ASSERT_EQUAL(dc_step_int(s, "missing", 42), 42);
    CU_ASSERT_EQUAL(dc_step_int(s, "s", 42), 42); /* wrong kind: default */
    CU_ASSERT_EQUAL(dc_step_float(s, "missing", 1.5f), 1.5f);
    CU_ASSERT_STRING_EQUAL(dc_step_string(s, "missing", "dflt"), "dflt");
    CU_ASSERT_PTR_NULL(dc_step_ints(s, "missing", &n));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(dc_step_floats(s, "i", &n));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(dc_step_float(s, "i", 0), -7.0f); /* an int reads as a float */
    dc_plan_destroy(p);
    dc_plan_destroy(NULL);
}

static void test_truncation_everywhere(void)
{
    size_t size;
    uint8_t *d = small_plan_bytes(&size);
    dc_plan *p;
    DC_ASSERT_OK(dc_plan_parse(d, size, "artifact.dnc", &p));
    dc_plan_destroy(p);
    uint8_t *copy = malloc(size);
    for (size_t len = 0; len < size; len++) {
        /* As cut: the header check fails. */
        CU_ASSERT_EQUAL(dc_plan_parse(d, len, "artifact.dnc", &p), DC_ERR_PARSE);
        CU_ASSERT_PTR_NULL(p);
        /* Cut and re-sealed: the section and item parsers must catch it. */
        if (len >= HEADER) {
            memcpy(copy, d, len);
            reseal(copy, len);
            dc_status s = dc_plan_parse(copy, len, "artifact.dnc", &p);
            CU_ASSERT_NOT_EQUAL(s, DC_OK);
            CU_ASSERT_PTR_NULL(p);
        }
    }
    CU_ASSERT_EQUAL(dc_plan_parse(d, 100, "artifact.dnc", &p), DC_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "artifact.dnc: truncated"));
    /* A cut inside the steps section names the step. */
    size_t steps = section(d, size, "STEP");
    memcpy(copy, d, steps + 40);
    put_le(copy + steps - 8, 40, 8); /* the section claims only what is left */
    reseal(copy, steps + 40);
    parse_expect(copy, steps + 40, DC_ERR_PARSE, "truncated at step 0");
    free(copy);
    free(d);
}

static void test_header_corruption(void)
{
    size_t size;
    uint8_t *d = small_plan_bytes(&size);
    d[0] = 'X';
    parse_expect(d, size, DC_ERR_PARSE, "not a dinoc plan");
    d[0] = 'D';
    put_le(d + 8, 7, 4);
    parse_expect(d, size, DC_ERR_PARSE, "artifact.dnc: format version 7, this dinoc reads 2");
    put_le(d + 8, DC_PLAN_FORMAT_VERSION, 4);
    put_le(d + 12, 1, 4);
    parse_expect(d, size, DC_ERR_PARSE, "flags");
    put_le(d + 12, 0, 4);
    d[size - 70] ^= 0x40; /* any body byte */
    parse_expect(d, size, DC_ERR_PARSE, "checksum mismatch");
    d[size - 70] ^= 0x40;
    uint8_t *longer = calloc(1, size + 3);
    memcpy(longer, d, size);
    parse_expect(longer, size + 3, DC_ERR_PARSE, "trailing garbage");
    put_le(d + 16, (uint64_t)1 << 40, 8);
    parse_expect(d, size, DC_ERR_PARSE, "truncated");
    parse_expect(NULL, 0, DC_ERR_PARSE, "not a dinoc plan");
    free(longer);
    free(d);
}

static void test_offsets_outside_regions(void)
{
    size_t size;
    uint8_t *d = small_plan_bytes(&size);
    uint8_t *c = malloc(size);
    memcpy(c, d, size);
    patch_u64(c, size, 0x140, 0x1b0); /* y's 24 bytes end past ARENA's 0x1c0 */
    reseal(c, size);
    parse_expect(c, size, DC_ERR_INVALID, "buffer 2 'y': bytes 432..456 lie outside region ARENA of 448 bytes");
    memcpy(c, d, size);
    patch_u64(c, size, 0x140, UINT64_MAX - 8); /* offset + nbytes overflows */
    reseal(c, size);
    parse_expect(c, size, DC_ERR_INVALID, "outside region ARENA");
    memcpy(c, d, size);
    patch_u64(c, size, 0x1c0, (uint64_t)1 << 50); /* a region larger than any tensor */
    reseal(c, size);
    parse_expect(c, size, DC_ERR_PARSE, "region ARENA");
    free(c);
    free(d);
}

static void test_huge_counts(void)
{
    size_t size;
    uint8_t *d = small_plan_bytes(&size);
    uint8_t *c = malloc(size);
    const char *tags[] = {"BUFS", "STEP", "IOSG"};
    const char *msgs[] = {"1099511627776 buffers", "1099511627776 steps", "1099511627776 input"};
    for (int i = 0; i < 3; i++) {
        memcpy(c, d, size);
        put_le(c + section(c, size, tags[i]), (uint64_t)1 << 40, 8);
        reseal(c, size);
        parse_expect(c, size, DC_ERR_PARSE, msgs[i]);
        /* Below the limit but above what the bytes can hold. */
        memcpy(c, d, size);
        put_le(c + section(c, size, tags[i]), 1000, 8);
        reseal(c, size);
        parse_expect(c, size, DC_ERR_PARSE, "truncated");
    }
    /* A string longer than the limit, and a section longer than the body. */
    memcpy(c, d, size);
    put_le(c + section(c, size, "PROD"), 0x7fffffff, 4);
    reseal(c, size);
    parse_expect(c, size, DC_ERR_PARSE, "string of 2147483647 bytes");
    memcpy(c, d, size);
    put_le(c + section(c, size, "REGN") - 8, 1 << 20, 8);
    reseal(c, size);
    parse_expect(c, size, DC_ERR_PARSE, "truncated at section REGN");
    /* Step fields: argument count, attribute count. */
    memcpy(c, d, size);
    size_t st = section(c, size, "STEP") + 8;
    st += 4 + 5 + 4 + 3 + 4 + 4; /* "c.Add", "Add", "add0" */
    put_le(c + st, 0xffffffffu, 4);
    reseal(c, size);
    parse_expect(c, size, DC_ERR_PARSE, "inputs and");
    memcpy(c, d, size);
    put_le(c + st + 8 + 12, 0x40000000u, 4);
    reseal(c, size);
    parse_expect(c, size, DC_ERR_PARSE, "attributes (limit");
    memcpy(c, d, size);
    put_le(c + st + 8, 77, 4); /* input 0 is buffer 77 */
    reseal(c, size);
    parse_expect(c, size, DC_ERR_INVALID, "input 0 is buffer 77");
    free(c);
    free(d);
}

static void test_validation(void)
{
    char path[256];
    tmp_path(path, sizeof path, "invalid.dnc");
    dc_plan *p = small_plan();
    p->buffers[2].nbytes = 20;
    CU_ASSERT_EQUAL(dc_plan_write(p, path), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "buffer 2 'y': 20 bytes, but 6 elements of float32 need 24"));
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* nothing written */
    p->buffers[2].nbytes = 24;
    p->buffers[2].dtype = DC_STRING;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->buffers[2].dtype = DC_F32;
    p->buffers[2].rank = 9;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->buffers[2].rank = 2;
    p->buffers[2].dims[0] = -2;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->buffers[2].dims[0] = 2;
    p->buffers[2].offset = 0x142;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "not a multiple of 4"));
    p->buffers[2].offset = 0x140;
    p->steps[0].args[1] = -2;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->steps[0].args[1] = 1;
    free(p->steps[0].attrs[1].name);
    p->steps[0].attrs[1].name = xstrdup("i");
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "attribute 'i' given twice"));
    free(p->steps[0].attrs[1].name);
    p->steps[0].attrs[1].name = xstrdup("f");
    p->outputs[0].buffer = 3;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->outputs[0].buffer = 2;
    free(p->outputs[0].name);
    p->outputs[0].name = xstrdup("");
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    free(p->outputs[0].name);
    p->outputs[0].name = xstrdup("y");
    p->steps[0].attrs[0].type = (dc_plan_attr_type)9;
    CU_ASSERT_EQUAL(dc_plan_validate(p, "p"), DC_ERR_INVALID);
    p->steps[0].attrs[0].type = DC_PLAN_ATTR_INT;
    DC_ASSERT_OK(dc_plan_validate(p, "p"));
    /* Writing where no file can be created is an I/O error. */
    CU_ASSERT_EQUAL(dc_plan_write(p, "/nonexistent-dir/x.dnc"), DC_ERR_IO);
    dc_plan *q = (dc_plan *)1;
    CU_ASSERT_EQUAL(dc_plan_read("/nonexistent-dir/x.dnc", &q), DC_ERR_IO);
    CU_ASSERT_PTR_NULL(q);
    dc_plan_destroy(p);
}

static void test_session_kernel_errors(void)
{
    dc_plan *p = small_plan();
    dc_session *s = (dc_session *)1;
    free(p->steps[0].kernel);
    p->steps[0].kernel = xstrdup("c.NoSuchOp");
    CU_ASSERT_EQUAL(dc_session_create(p, 1, &s), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "step 0 'add0' (c.NoSuchOp): unknown kernel 'c.NoSuchOp'"));
    free(p->steps[0].kernel);
    p->steps[0].kernel = xstrdup("c.Sub");
    CU_ASSERT_EQUAL(dc_session_create(p, 1, &s), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "runs Sub, not Add"));
    free(p->steps[0].kernel);
    p->steps[0].kernel = xstrdup("c.Add");
    p->buffers[1].dims[0] = 2; /* w f32[2] does not broadcast with x f32[2,3] */
    p->buffers[1].nbytes = 8;
    CU_ASSERT_EQUAL(dc_session_create(p, 1, &s), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "step 0 'add0' (c.Add)"));
    dc_plan_destroy(p);
}

/* x f32[1,1,4,4] (ARENA @0) * w f32[1,1,2,2] (CONST @0) -> y f32[1,1,3,3]
 * (ARENA @64), one Conv step on `kernel` with pads `pad` on every side. */
static dc_plan *conv_plan(const char *kernel, int64_t pad)
{
    dc_plan *p = calloc(1, sizeof *p);
    p->region_bytes[DC_REGION_ARENA] = 128;
    p->region_bytes[DC_REGION_CONST] = 64;
    p->constants = calloc(1, 64);
    p->n_buffers = 3;
    p->buffers = calloc(3, sizeof *p->buffers);
    const char *names[3] = {"x", "w", "y"};
    const int64_t side[3] = {4, 2, 3};
    const uint64_t offsets[3] = {0, 0, 64};
    for (int i = 0; i < 3; i++)
        p->buffers[i] = (dc_plan_buffer){.name = xstrdup(names[i]), .dtype = DC_F32, .rank = 4,
                                         .dims = {1, 1, side[i], side[i]},
                                         .region = i == 1 ? DC_REGION_CONST : DC_REGION_ARENA,
                                         .offset = offsets[i],
                                         .nbytes = (uint64_t)(side[i] * side[i]) * 4};
    p->n_steps = 1;
    p->steps = calloc(1, sizeof *p->steps);
    dc_plan_step *s = &p->steps[0];
    *s = (dc_plan_step){.kernel = xstrdup(kernel), .op_type = xstrdup("Conv"), .node = xstrdup("conv0"),
                        .n_inputs = 2, .n_outputs = 1, .n_attrs = 1};
    s->args = calloc(3, sizeof *s->args);
    s->args[1] = 1, s->args[2] = 2;
    s->attrs = calloc(1, sizeof *s->attrs);
    s->attrs[0] = (dc_plan_attr){.name = xstrdup("pads"), .type = DC_PLAN_ATTR_INTS, .n = 4};
    s->attrs[0].ints = calloc(4, sizeof(int64_t));
    for (int i = 0; i < 4; i++)
        s->attrs[0].ints[i] = pad;
    p->producer = xstrdup("test_plan");
    return p;
}

/* A [rows, 3] · B [3, 4] + bias [4] -> Y as one dnnl.MatMulBias step; Y is
 * [2, 4], or rank 0 when y_scalar. */
static dc_plan *matmul_bias_plan(int64_t rows, bool y_scalar)
{
    dc_plan *p = calloc(1, sizeof *p);
    p->region_bytes[DC_REGION_ARENA] = 128;
    p->region_bytes[DC_REGION_CONST] = 128;
    p->constants = calloc(1, 128);
    p->n_buffers = 4;
    p->buffers = calloc(4, sizeof *p->buffers);
    const char *names[4] = {"a", "b", "bias", "y"};
    const int ranks[4] = {2, 2, 1, y_scalar ? 0 : 2};
    const int64_t dims[4][2] = {{rows, 3}, {3, 4}, {4}, {2, 4}};
    const dc_region regions[4] = {DC_REGION_ARENA, DC_REGION_CONST, DC_REGION_CONST, DC_REGION_ARENA};
    const uint64_t offsets[4] = {0, 0, 64, 64}, nbytes[4] = {(uint64_t)rows * 12, 48, 16, 32};
    for (int i = 0; i < 4; i++)
        p->buffers[i] = (dc_plan_buffer){.name = xstrdup(names[i]), .dtype = DC_F32, .rank = ranks[i],
                                         .dims = {dims[i][0], dims[i][1]}, .region = regions[i],
                                         .offset = offsets[i], .nbytes = y_scalar && i == 3 ? 4 : nbytes[i]};
    p->n_steps = 1;
    p->steps = calloc(1, sizeof *p->steps);
    dc_plan_step *s = &p->steps[0];
    *s = (dc_plan_step){.kernel = xstrdup("dnnl.MatMulBias"), .op_type = xstrdup("MatMulBias"),
                        .node = xstrdup("fc"), .n_inputs = 3, .n_outputs = 1};
    s->args = calloc(4, sizeof *s->args);
    for (int i = 0; i < 4; i++)
        s->args[i] = i;
    p->producer = xstrdup("test_plan");
    return p;
}

/* Inputs fuzz_plan_load found (tests/fuzz): each must be an error, not a plan
 * that writes back to other bytes or a kernel that overflows. */
static void test_fuzz_regressions(void)
{
    size_t size;
    uint8_t *d = small_plan_bytes(&size);
    /* The u32 after buffer 0's region was ignored: a plan with garbage
     * there parsed, and wrote back with a 0. Buffer 0 is "x", rank 2:
     * name (4 + 1), dtype, rank, dims (16), region, then the field. */
    size_t pad = section(d, size, "BUFS") + 8 + 5 + 4 + 4 + 16 + 4;
    put_le(d + pad, 0x2a, 4);
    reseal(d, size);
    parse_expect(d, size, DC_ERR_PARSE, "buffer 0 'x': reserved field after the region is 0x2a");
    free(d);

    /* Conv pads near 2^62: the output size overflowed int64 in the kernels'
     * checks (UBSan). Each conv kernel refuses them now. */
    const char *kernels[] = {"c.Conv", "dnnl.Conv"};
    for (int k = 0; k < 2; k++) {
        dc_plan *p = conv_plan(kernels[k], 0);
        dc_session *sess = NULL;
        DC_ASSERT_OK(dc_session_create(p, 1, &sess)); /* the plan itself is fine */
        dc_session_destroy(sess);
        p->steps[0].attrs[0].ints[0] = (int64_t)1 << 62;
        p->steps[0].attrs[0].ints[2] = (int64_t)1 << 62;
        CU_ASSERT_NOT_EQUAL(dc_session_create(p, 1, &sess), DC_OK);
        if (!strstr(dc_error_message(), "below 2^31"))
            fprintf(stderr, "\n    %s: %s\n", kernels[k], dc_error_message());
        CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "below 2^31"));
        dc_plan_destroy(p);
    }
    /* dnnl.MatMulBias read Y's last dim of a rank-0 Y (index -1), and took
     * its rows from Y alone, so an A with fewer rows was read past its end. */
    const struct { int64_t rows; bool y_scalar; } bad[] = {{2, true}, {1, false}};
    for (int i = 0; i < 3; i++) {
        dc_plan *p = matmul_bias_plan(i < 2 ? bad[i].rows : 2, i < 2 && bad[i].y_scalar);
        dc_session *sess = NULL;
        dc_status st = dc_session_create(p, 1, &sess);
        /* the third, well-formed plan is accepted */
        CU_ASSERT_EQUAL(st, i < 2 ? DC_ERR_SHAPE : DC_OK);
        dc_session_destroy(sess);
        dc_plan_destroy(p);
    }
    /* An empty tensor's other dims multiplied past int64 in kernels that
     * take the product of a part of the shape: they are bounded too. */
    uint64_t numel;
    const int64_t empty_huge[4] = {0, 1, (int64_t)1 << 33, (int64_t)1 << 33};
    CU_ASSERT_EQUAL(dc_shape_numel(4, empty_huge, DC_F32, &numel), DC_ERR_NOMEM);
    const int64_t empty[4] = {0, 3, 1 << 10, 1 << 10};
    DC_ASSERT_OK(dc_shape_numel(4, empty, DC_F32, &numel));
    CU_ASSERT_EQUAL(numel, 0);
}

static void test_kernel_table(void)
{
    const dc_kernel *k = dc_kernel_find("c.MatMul");
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_STRING_EQUAL(k->op_type, "MatMul");
    CU_ASSERT_PTR_NULL(dc_kernel_find("c.Nope"));
    CU_ASSERT_PTR_NULL(dc_kernel_find(NULL));
    const dc_kernel *cands[8];
    int n = dc_kernel_candidates("MatMul", cands, 8);
    CU_ASSERT(n >= 1);
    /* The C kernel comes last: oneDNN (when there) is preferred. */
    CU_ASSERT_STRING_EQUAL(cands[n < 8 ? n - 1 : 7]->name, "c.MatMul");
    CU_ASSERT_EQUAL(dc_kernel_candidates("NoSuchOp", cands, 8), 0);
    const char *ops[] = {"Add", "Conv", "Resize", "LayerNormalization", "Cast", "Gather", "ConstantOfShape"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        CU_ASSERT(dc_kernel_candidates(ops[i], NULL, 0) >= 1);
}

void register_runtime_plan(void)
{
    static const dc_test_case tests[] = {
        {"round_trip", test_round_trip},
        {"serialize", test_serialize},
        {"release_contents", test_release_contents},
        {"getter_defaults", test_getter_defaults},
        {"truncation_everywhere", test_truncation_everywhere},
        {"header_corruption", test_header_corruption},
        {"offsets_outside_regions", test_offsets_outside_regions},
        {"huge_counts", test_huge_counts},
        {"validation", test_validation},
        {"session_kernel_errors", test_session_kernel_errors},
        {"kernel_table", test_kernel_table},
        {"fuzz_regressions", test_fuzz_regressions},
        {NULL, NULL},
    };
    dc_add_suite("runtime_plan", tests);
}
