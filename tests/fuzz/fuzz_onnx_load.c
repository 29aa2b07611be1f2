/* libFuzzer target for the ONNX loader (compiler/onnx_import.c).
 *
 * Each input is the bytes of a .onnx file. The loader must turn any bytes into
 * either a graph or a status with a message: no crash, leak, hang or allocation
 * the input does not justify (onnx_io.h). A graph that loads must also print
 * (text and Graphviz), save, and load again from its own saved bytes (ARCHITECTURE.md,
 * conventions: any graph prints, exports and re-imports as ONNX). A model that fails
 * the full load is tried again with DC_ONNX_NO_CHECK, the path `dinoc inspect`
 * style tools take, and that unverified graph must print too.
 *
 * DINOC_FUZZ_ROUNDTRIP=0 in the environment keeps going when a saved graph
 * fails to load again (a known round-trip bug would otherwise stop every run
 * at once); memory errors stay fatal.
 *
 * How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_status.h"
#include "ir.h"
#include "onnx_io.h"

static FILE *devnull(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

static int roundtrip_fatal(void)
{
    static int fatal = -1;
    if (fatal < 0) {
        const char *e = getenv("DINOC_FUZZ_ROUNDTRIP");
        fatal = !(e && strcmp(e, "0") == 0);
    }
    return fatal;
}

static void print_graph(const dc_graph *g)
{
    FILE *out = devnull();
    if (!out)
        return;
    dc_graph_print(g, out);
    dc_graph_print_dot(g, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_graph *g = NULL;
    if (dc_onnx_load_buffer(data, size, NULL, &g) != DC_OK) {
        /* Structurally valid but unverifiable models still build an IR. */
        if (dc_onnx_load_buffer_ex(data, size, NULL, DC_ONNX_NO_CHECK, &g) == DC_OK) {
            print_graph(g);
            dc_graph_destroy(g);
        }
        return 0;
    }
    print_graph(g);

    void *saved = NULL;
    size_t saved_size = 0;
    if (dc_onnx_save_buffer(g, &saved, &saved_size) != DC_OK) {
        if (roundtrip_fatal()) {
            fprintf(stderr, "fuzz_onnx_load: a loaded graph failed to save: %s\n",
                    dc_error_message());
            abort();
        }
    } else {
        dc_graph *again = NULL;
        if (dc_onnx_load_buffer(saved, saved_size, NULL, &again) != DC_OK) {
            if (roundtrip_fatal()) {
                fprintf(stderr, "fuzz_onnx_load: a saved graph failed to load again: %s\n",
                        dc_error_message());
                abort();
            }
        } else {
            dc_graph_destroy(again);
        }
        free(saved);
    }
    dc_graph_destroy(g);
    return 0;
}
