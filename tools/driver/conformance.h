/* The ONNX backend node tests as dinoc's conformance suite (libonnx-testdata).
 *
 * Each test folder holds model.onnx and test_data_set_0/{input_K,output_K}.pb.
 * A test is compiled in memory for its inputs (specialize.h: inputs such as
 * Reshape's shape are bound), run once, and each output compared with the
 * expected one: element types and shapes must match; floats within
 * |got - expected| <= 1e-5 + 1e-4 |expected| (NaN equals NaN), integers and
 * bools exactly. A test whose model uses an op or a type dinoc does not
 * support is skipped with the reason; any other error is a failure. */
#ifndef DC_CONFORMANCE_H
#define DC_CONFORMANCE_H

#include <stdbool.h>
#include <stdio.h>

#include "dc_status.h"

#define DC_CONFORMANCE_DIR "/usr/share/libonnx-testdata/data/node"

typedef enum dc_conformance_outcome {
    DC_CONFORMANCE_PASS,
    DC_CONFORMANCE_FAIL,
    DC_CONFORMANCE_SKIP,
} dc_conformance_outcome;

typedef struct dc_conformance_test {
    char *name;   /* the folder: "test_matmul_2d" */
    char *op;     /* the op under test; an `_expanded` test counts for its op */
    dc_conformance_outcome outcome;
    char *detail; /* why it failed (the first mismatch) or was skipped; NULL if passed */
} dc_conformance_test;

typedef struct dc_conformance_report {
    dc_conformance_test *tests; /* in folder-name order */
    int n_tests;
    int passed, failed, skipped;
} dc_conformance_report;

typedef struct dc_conformance_options {
    const char *dir;    /* NULL: DC_CONFORMANCE_DIR */
    const char *filter; /* only folders whose name contains it; NULL: all */
    int threads;        /* for the runtime; <= 0: every core */
} dc_conformance_options;

/* Runs every selected test. Fails only when the folder cannot be listed or
 * memory runs out; a test's own errors are its outcome. */
dc_status dc_conformance_run(const dc_conformance_options *opt, dc_conformance_report **out);

/* One line per failure and skip (with `verbose`, per pass too), the counts
 * per op, then "N passed, M failed, K skipped" as the last line. */
void dc_conformance_print(const dc_conformance_report *r, FILE *out, bool verbose);

const dc_conformance_test *dc_conformance_find(const dc_conformance_report *r, const char *name);
void dc_conformance_report_destroy(dc_conformance_report *r);

#endif
