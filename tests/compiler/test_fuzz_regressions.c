/* Inputs the ONNX loader fuzzer (tests/fuzz/fuzz_onnx_load.c) found, and a few
 * hand-made ones of the same kind. Each is fed to dc_onnx_load_buffer (and the
 * DC_ONNX_NO_CHECK variant) the way the fuzz target does: the loader must return
 * a graph or an error with a one-line message, never crash, leak or allocate
 * absurdly (the suite runs under ASan+UBSan in the sanitizer tree). A graph that
 * loads must print, save, and load again from its saved bytes.
 *
 * To add a case: minimise the crash input (fuzz_onnx_load -minimize_crash=1
 * -runs=100000 crash-...), dump it with `xxd -i`, and add it to `cases` with
 * what went wrong and where it was fixed. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "onnx_io.h"
#include "test_util.h"

/* Whether the loader must refuse the input, or may do either. */
enum expect { MUST_FAIL, MAY_LOAD };

typedef struct fuzz_case {
    const char *name; /* what the input exercises / what the bug was */
    const unsigned char *data;
    size_t size;
    enum expect expect;
} fuzz_case;

#define CASE(name, bytes, expect) {name, bytes, sizeof bytes, expect}

/* ---- hand-made inputs ------------------------------------------------------ */

static const unsigned char empty_model[1] = {0}; /* used with size 0 below */

/* Not protobuf: a field tag with wire type 7. */
static const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x07, 0x41, 0x42};

/* ModelProto.graph (field 7, length-delimited) claiming 2^31 bytes. */
static const unsigned char huge_length[] = {0x3a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x0a, 0x00};

/* ir_version 8, opset 17, and a graph with one node "Abs(x)->y" but neither
 * input nor output declared: dangling value "x". */
static const unsigned char dangling_input[] = {
    0x08, 0x08,                                     /* ir_version = 8 */
    0x3a, 0x0f,                                     /* graph, 15 bytes */
    0x0a, 0x0b,                                     /*   node, 11 bytes */
    0x0a, 0x01, 'x',                                /*     input "x" */
    0x12, 0x01, 'y',                                /*     output "y" */
    0x22, 0x03, 'A', 'b', 's',                      /*     op_type "Abs" */
    0x12, 0x00,                                     /*   name "" */
    0x42, 0x02, 0x10, 0x11,                         /* opset_import { version 17 } */
};

/* Identity(x)->y where x and y are f32[-5]: a negative dim_value. */
static const unsigned char negative_dim[] = {
    0x08, 0x08, 0x3a, 0x49, 0x0a, 0x10, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x22, 0x08, 0x49,
    0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x12, 0x01, 0x67, 0x5a, 0x18, 0x0a, 0x01, 0x78,
    0x12, 0x13, 0x0a, 0x11, 0x08, 0x01, 0x12, 0x0d, 0x0a, 0x0b, 0x08, 0xfb, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x62, 0x18, 0x0a, 0x01, 0x79, 0x12, 0x13, 0x0a, 0x11,
    0x08, 0x01, 0x12, 0x0d, 0x0a, 0x0b, 0x08, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x01, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

/* ---- fuzzer finds ----------------------------------------------------------- */

/* Identity(s)->y with a scalar (rank 0) float initializer s = 1.0.
 * Found at once from the seed shape_chain.onnx: dc_tensor_create did
 * memcpy(t->dims, dims = NULL, 0) for rank 0 (UBSan nonnull-attribute), via
 * dc_onnx_tensor_from_proto (compiler/onnx_tensor.c) passing dims = NULL.
 * Fixed in runtime/dc_tensor.c (copy the dims only when rank > 0). */
static const unsigned char scalar_initializer[] = {
    0x08, 0x08, 0x3a, 0x2f, 0x0a, 0x10, 0x0a, 0x01, 0x73, 0x12, 0x01, 0x79, 0x22, 0x08, 0x49,
    0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x12, 0x01, 0x67, 0x2a, 0x0b, 0x10, 0x01, 0x22,
    0x04, 0x00, 0x00, 0x80, 0x3f, 0x42, 0x01, 0x73, 0x62, 0x0b, 0x0a, 0x01, 0x79, 0x12, 0x06,
    0x0a, 0x04, 0x08, 0x01, 0x12, 0x00, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

/* Constant(value_string="hi")->c_s (unused) and Constant(value_float=1)->y.
 * Found from the seed constants.onnx: the loader accepts the string Constant,
 * the exporter writes value_info c_s: STRING, and the saved bytes no longer
 * load ("value 'c_s': string tensors are not supported"): `dinoc convert`
 * wrote a file `dinoc inspect` refused. Fixed in the Constant op
 * (compiler/ops): string values are refused at the first load. */
static const unsigned char string_constant[] = {
    0x08, 0x08, 0x3a, 0x5e, 0x0a, 0x26, 0x12, 0x03, 0x63, 0x5f, 0x73, 0x22, 0x08, 0x43, 0x6f,
    0x6e, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x2a, 0x15, 0x0a, 0x0c, 0x76, 0x61, 0x6c, 0x75, 0x65,
    0x5f, 0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x22, 0x02, 0x68, 0x69, 0xa0, 0x01, 0x03, 0x0a,
    0x24, 0x12, 0x01, 0x79, 0x22, 0x08, 0x43, 0x6f, 0x6e, 0x73, 0x74, 0x61, 0x6e, 0x74, 0x2a,
    0x15, 0x0a, 0x0b, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x5f, 0x66, 0x6c, 0x6f, 0x61, 0x74, 0x15,
    0x00, 0x00, 0x80, 0x3f, 0xa0, 0x01, 0x01, 0x12, 0x01, 0x67, 0x62, 0x0b, 0x0a, 0x01, 0x79,
    0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x12, 0x00, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

static const fuzz_case cases[] = {
    {"empty input", empty_model, 0, MUST_FAIL},
    CASE("not protobuf", garbage, MUST_FAIL),
    CASE("length field past the end", huge_length, MUST_FAIL),
    CASE("node input never defined", dangling_input, MUST_FAIL),
    CASE("negative dim_value", negative_dim, MUST_FAIL),
    /* Fuzzer finds, oldest first. */
    CASE("scalar initializer (memcpy from NULL dims)", scalar_initializer, MAY_LOAD),
    CASE("string Constant: saved model does not load", string_constant, MAY_LOAD),
};

/* ---- the checks ------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void fail_msg(int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    CU_assertImplementation(CU_FALSE, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

static void check_message(const fuzz_case *c, const char *how)
{
    const char *msg = dc_error_message();
    if (!msg || !msg[0])
        fail_msg(__LINE__, "%s: %s failed with an empty message", c->name, how);
    else if (strchr(msg, '\n'))
        fail_msg(__LINE__, "%s: %s message is not one line: %s", c->name, how, msg);
}

static void check_case(const fuzz_case *c)
{
    /* A private copy, so ASan sees reads past the end of the input. */
    void *copy = malloc(c->size ? c->size : 1);
    memcpy(copy, c->data, c->size);

    dc_graph *g = NULL;
    dc_status s = dc_onnx_load_buffer(copy, c->size, NULL, &g);
    if (s == DC_OK) {
        if (c->expect == MUST_FAIL)
            fail_msg(__LINE__, "%s: loaded, expected an error", c->name);
        dc_graph_print(g, devnull());
        dc_graph_print_dot(g, devnull());
        void *saved = NULL;
        size_t saved_size = 0;
        if (dc_onnx_save_buffer(g, &saved, &saved_size) != DC_OK) {
            fail_msg(__LINE__, "%s: loads but does not save: %s", c->name, dc_error_message());
        } else {
            dc_graph *again = NULL;
            if (dc_onnx_load_buffer(saved, saved_size, NULL, &again) != DC_OK)
                fail_msg(__LINE__, "%s: saved bytes do not load: %s", c->name,
                         dc_error_message());
            else
                dc_graph_destroy(again);
            free(saved);
        }
        dc_graph_destroy(g);
    } else {
        check_message(c, "load");
        g = NULL;
        if (dc_onnx_load_buffer_ex(copy, c->size, NULL, DC_ONNX_NO_CHECK, &g) == DC_OK) {
            dc_graph_print(g, devnull());
            dc_graph_print_dot(g, devnull());
            dc_graph_destroy(g);
        } else {
            check_message(c, "load (no check)");
        }
    }
    free(copy);
}

static void test_fuzz_cases(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    CU_PASS("every case returned");
}

/* Every prefix of a valid model: truncation anywhere is an error, not a crash. */
static void test_truncated_model(void)
{
    static const char path[] = "/usr/share/libonnx-testdata/data/node/"
                               "test_layer_normalization_4d_axis1_expanded/model.onnx";
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg(__LINE__, "%s missing; install libonnx-testdata", path);
        return;
    }
    static unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t len = 0; len < n; len++) {
        fuzz_case c = {"a prefix of test_layer_normalization_4d_axis1_expanded", buf, len,
                       MAY_LOAD};
        check_case(&c);
    }
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer(buf, n, NULL, &g));
    if (g)
        dc_graph_destroy(g);
}

void register_compiler_fuzz_regressions(void)
{
    static const dc_test_case tests[] = {
        {"fuzzer finds and malformed inputs", test_fuzz_cases},
        {"every prefix of a valid model", test_truncated_model},
        {NULL, NULL},
    };
    dc_add_suite("compiler_fuzz_regressions", tests);
}
