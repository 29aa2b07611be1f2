/* .npy files: round trips, numpy-written files, and malformed input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc_npy.h"
#include "test_util.h"

static void test_round_trip(void)
{
    int64_t dims[] = {2, 3, 4};
    dc_tensor *t, *back;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 3, dims));
    for (int i = 0; i < 24; i++)
        ((float *)t->data)[i] = (float)i * 0.5f - 3.0f;
    char path[] = "/tmp/dinoc_npy_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    DC_ASSERT_OK(dc_npy_save(t, path));
    DC_ASSERT_OK(dc_npy_load(path, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(back->dtype, DC_F32);
    CU_ASSERT_EQUAL(back->rank, 3);
    CU_ASSERT_EQUAL(back->dims[2], 4);
    CU_ASSERT_EQUAL(memcmp(back->data, t->data, t->nbytes), 0);
    /* numpy itself reads what we wrote (python3-numpy is a test dependency). */
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as n; a=n.load('%s'); "
             "assert a.shape==(2,3,4) and a.dtype==n.float32 and a[1,2,3]==8.5\"", path);
    CU_ASSERT_EQUAL(system(cmd), 0);
    unlink(path);
    dc_tensor_destroy(t);
    dc_tensor_destroy(back);
}

static void test_scalar_and_bool(void)
{
    const char scalar[] = "\x93NUMPY\x01\x00\x3c\x00"
                          "{'descr': '<i8', 'fortran_order': False, 'shape': (), }    \n"
                          "\x07\x00\x00\x00\x00\x00\x00\x00";
    dc_tensor *t;
    DC_ASSERT_OK(dc_npy_parse(scalar, sizeof scalar - 1, "scalar", &t));
    CU_ASSERT_EQUAL(t->rank, 0);
    CU_ASSERT_EQUAL(dc_tensor_get_i64(t, 0), 7);
    dc_tensor_destroy(t);
    const char flags[] = "\x93NUMPY\x01\x00\x3c\x00"
                         "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }  \n"
                         "\x01\x00\x01";
    DC_ASSERT_OK(dc_npy_parse(flags, sizeof flags - 1, "flags", &t));
    CU_ASSERT_EQUAL(t->dtype, DC_BOOL);
    CU_ASSERT_EQUAL(t->dims[0], 3);
    dc_tensor_destroy(t);
}

static void expect_error(const char *bytes, size_t size, dc_status status, const char *substr)
{
    dc_tensor *t = NULL;
    CU_ASSERT_EQUAL(dc_npy_parse(bytes, size, "x.npy", &t), status);
    CU_ASSERT_PTR_NULL(t);
    if (!strstr(dc_error_message(), substr))
        fprintf(stderr, "\n    message was: %s\n", dc_error_message());
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), substr));
}

static void test_malformed(void)
{
    expect_error("hello", 5, DC_ERR_PARSE, "x.npy: not a .npy file");
    const char truncated[] = "\x93NUMPY\x01\x00\xff\x00{'descr'";
    expect_error(truncated, sizeof truncated - 1, DC_ERR_PARSE, "truncated .npy header");
    const char fortran[] = "\x93NUMPY\x01\x00\x38\x00"
                           "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }";
    expect_error(fortran, sizeof fortran - 1, DC_ERR_UNSUPPORTED, "Fortran-ordered");
    const char short_data[] = "\x93NUMPY\x01\x00\x39\x00"
                              "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\x00\x00";
    expect_error(short_data, sizeof short_data - 1, DC_ERR_PARSE, "needs 16 bytes of data, file has 2");
    const char huge[] = "\x93NUMPY\x01\x00\x45\x00"
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }";
    expect_error(huge, sizeof huge - 1, DC_ERR_NOMEM, "x.npy: tensor of more than");
    const char object[] = "\x93NUMPY\x01\x00\x38\x00"
                          "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }";
    expect_error(object, sizeof object - 1, DC_ERR_UNSUPPORTED, "dtype '|O' is not supported");
    dc_tensor *t;
    CU_ASSERT_EQUAL(dc_npy_load("/nonexistent/x.npy", &t), DC_ERR_IO);
}

void register_runtime_npy(void)
{
    static const dc_test_case tests[] = {
        {"save and load round trip, read by numpy", test_round_trip},
        {"scalars and bools", test_scalar_and_bool},
        {"malformed files are errors", test_malformed},
        {NULL, NULL},
    };
    dc_add_suite("runtime_npy", tests);
}
