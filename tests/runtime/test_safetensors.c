/* safetensors checkpoints: round trips, a file read back by Python, bad files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc_safetensors.h"
#include "test_util.h"

static dc_tensor *ramp(const char *name, dc_dtype dtype, int rank, const int64_t *dims)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, name, dtype, rank, dims));
    for (size_t i = 0; i < t->nbytes; i++)
        ((uint8_t *)t->data)[i] = (uint8_t)(i * 7 + 3);
    return t;
}

static void test_round_trip_and_python(void)
{
    const int64_t d2[] = {2, 3}, d1[] = {5};
    dc_tensor *t[] = {ramp("student.backbone.cls_token", DC_F32, 2, d2), ramp("step", DC_I64, 0, NULL),
                      ramp("mask", DC_U8, 1, d1)};
    const char *keys[] = {"dinoc.config", "step"}, *values[] = {"fashion-mnist", "12"};
    char path[] = "/tmp/dinoc_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    DC_ASSERT_OK(dc_safetensors_save(path, t, 3, keys, values, 2));
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(st->n_tensors, 3);
    for (int i = 0; i < 3; i++) {
        const dc_tensor *back = dc_safetensors_get(st, t[i]->name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(back);
        CU_ASSERT_EQUAL(back->dtype, t[i]->dtype);
        CU_ASSERT_EQUAL(back->rank, t[i]->rank);
        CU_ASSERT_EQUAL(memcmp(back->data, t[i]->data, t[i]->nbytes), 0);
    }
    CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(st, "step"), "12");
    /* The layout as the format defines it, read independently of our parser. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,struct,numpy as np; b=open('%s','rb').read(); "
             "n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); e=h['student.backbone.cls_token']; "
             "a=np.frombuffer(b[8+n+e['data_offsets'][0]:8+n+e['data_offsets'][1]],np.float32).reshape(e['shape']); "
             "assert e['dtype']=='F32' and a.shape==(2,3) and n%%8==0 and h['__metadata__']['dinoc.config']=='fashion-mnist'\"",
             path);
    CU_ASSERT_EQUAL(system(cmd), 0);
    dc_safetensors_destroy(st);
    for (int i = 0; i < 3; i++)
        dc_tensor_destroy(t[i]);
    unlink(path);
}

static void expect_error(const char *bytes, size_t n, dc_status status, const char *substr)
{
    dc_safetensors *st = NULL;
    CU_ASSERT_EQUAL(dc_safetensors_parse(bytes, n, "ckpt", &st), status);
    CU_ASSERT_PTR_NULL(st);
    if (!strstr(dc_error_message(), substr))
        fprintf(stderr, "\n    message was: %s\n", dc_error_message());
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), substr));
}

/* A file with header `json` and `data_len` data bytes. */
static char *file_with(const char *json, size_t data_len, size_t *n)
{
    size_t h = strlen(json);
    char *b = calloc(8 + h + data_len, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    *n = 8 + h + data_len;
    return b;
}

static void test_bad_files(void)
{
    size_t n;
    expect_error("abc", 3, DC_ERR_PARSE, "too short");
    char *b = file_with("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &n);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_parse(b, n, "ckpt", &st));
    dc_safetensors_destroy(st);
    for (size_t cut = 0; cut < n; cut++) { /* every truncation is an error, never a crash */
        dc_safetensors *t = NULL;
        CU_ASSERT_NOT_EQUAL(dc_safetensors_parse(b, cut, "ckpt", &t), DC_OK);
    }
    free(b);
    b = file_with("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, &n);
    expect_error(b, n, DC_ERR_PARSE, "tensor 'w': data_offsets [0, 8] do not hold 12 bytes");
    free(b);
    b = file_with("{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776],\"data_offsets\":[0,8]}}", 8, &n);
    expect_error(b, n, DC_ERR_NOMEM, "tensor 'w'");
    free(b);
    b = file_with("{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, &n);
    expect_error(b, n, DC_ERR_UNSUPPORTED, "dtype 'C64'");
    free(b);
    b = file_with("[1, 2]", 0, &n);
    expect_error(b, n, DC_ERR_PARSE, "not a JSON object");
    free(b);
    const char huge[8] = {0, 0, 0, 0, 0, 0, 0, 0x40};
    expect_error(huge, 8, DC_ERR_PARSE, "truncated?");
    CU_ASSERT_EQUAL(dc_safetensors_load("/nonexistent.safetensors", &st), DC_ERR_IO);
}

/* json-c cut names at an escaped NUL: two tensors "a\u0000x" and
 * "a\u0000y" loaded as one tensor "a", metadata "v\u0000w" as "v". An
 * escaped backslash before "u0000" is no NUL. */
static void test_nul_in_names(void)
{
    size_t n;
    char *b = file_with("{\"a\\u0000x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"a\\u0000y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, &n);
    expect_error(b, n, DC_ERR_PARSE, "NUL character");
    free(b);
    b = file_with("{\"__metadata__\":{\"k\":\"v\\u0000w\"}}", 0, &n);
    expect_error(b, n, DC_ERR_PARSE, "NUL character");
    free(b);
    b = file_with("{\"__metadata__\":{\"k\":\"v\\\\u0000w\"}}", 0, &n);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_parse(b, n, "ckpt", &st));
    if (st)
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(st, "k"), "v\\u0000w");
    dc_safetensors_destroy(st);
    free(b);
}

static void test_failed_save_keeps_old_file(void)
{
    const int64_t d[] = {4};
    dc_tensor *good = ramp("w", DC_F32, 1, d), *bad = ramp("c", DC_C64, 1, d);
    char path[] = "/tmp/dinoc_st_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    DC_ASSERT_OK(dc_safetensors_save(path, &good, 1, NULL, NULL, 0));
    CU_ASSERT_EQUAL(dc_safetensors_save(path, &bad, 1, NULL, NULL, 0), DC_ERR_UNSUPPORTED);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    CU_ASSERT_PTR_NOT_NULL(st ? dc_safetensors_get(st, "w") : NULL);
    dc_safetensors_destroy(st);
    CU_ASSERT_EQUAL(dc_safetensors_save("/nonexistent/dir/x.safetensors", &good, 1, NULL, NULL, 0),
                    DC_ERR_IO);
    dc_tensor_destroy(good);
    dc_tensor_destroy(bad);
    unlink(path);
}

void register_runtime_safetensors(void)
{
    static const dc_test_case tests[] = {
        {"round trip, read back by Python", test_round_trip_and_python},
        {"truncated and malformed files are errors", test_bad_files},
        {"a NUL in a name or metadata is an error", test_nul_in_names},
        {"a failed save leaves the previous file", test_failed_save_keeps_old_file},
        {NULL, NULL},
    };
    dc_add_suite("runtime_safetensors", tests);
}
