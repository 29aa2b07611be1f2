/* libFuzzer target for what the artifact loader checks after dlopen
 * (runtime/dc_artifact.c): the data a shared object exports and its ELF
 * headers. dlopen itself runs the object's code and is not fuzzed: the unit
 * tests (tests/runtime/test_artifact.c) give it truncated, non-ELF, incomplete
 * and wrong-ABI objects.
 *
 * Each input is the exports in fuzz_artifact_input.h's layout. They go through
 * dc_artifact_check_exports, the loader's own validation, with this CPU's
 * feature probe: ABI string, target, feature list, plan size against its
 * array, the plan (dc_plan_parse) and every llvm.* step's binding. A plan
 * whose bytes start with the .dnc magic is tried again with its header's body
 * size and CRC-32 made right, so mutations reach the sections. A plan that
 * passes must satisfy dc_plan_validate. The whole input is also given to
 * dc_artifact_check_elf as if it were the file.
 *
 * How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dc_artifact.h"
#include "dc_plan.h"
#include "fuzz_artifact_input.h"

enum { HEADER_BYTES = 32 };

static void check(const dc_artifact_exports *e)
{
    dc_plan *p = NULL;
    if (dc_artifact_check_exports(e, "fuzz.so", NULL, &p) != DC_OK) {
        if (p) {
            fprintf(stderr, "fuzz_artifact_load: a refused artifact left a plan\n");
            abort();
        }
        if (strchr(dc_error_message(), '\n')) {
            fprintf(stderr, "fuzz_artifact_load: a message of more than one line: %s\n",
                    dc_error_message());
            abort();
        }
        return;
    }
    if (dc_plan_validate(p, "fuzz.so") != DC_OK) {
        fprintf(stderr, "fuzz_artifact_load: an accepted plan is invalid: %s\n", dc_error_message());
        abort();
    }
    dc_plan_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)dc_artifact_check_elf(data, size, "fuzz.so");
    dc_artifact_exports e;
    if (!fuzz_artifact_split(data, size, &e))
        return 0;
    check(&e);
    size_t n = (size_t)e.plan_capacity;
    if (n < HEADER_BYTES || memcmp(e.plan, "DINOCPLN", 8) != 0)
        return 0;
    uint8_t *fixed = malloc(n);
    if (!fixed)
        return 0;
    memcpy(fixed, e.plan, n);
    uint64_t body = n - HEADER_BYTES;
    uint32_t crc = (uint32_t)crc32(0, fixed + HEADER_BYTES, (uInt)body);
    for (int i = 0; i < 8; i++)
        fixed[16 + i] = (uint8_t)(body >> (8 * i));
    for (int i = 0; i < 4; i++)
        fixed[24 + i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed, e.plan, n) != 0) {
        e.plan = fixed;
        e.plan_size = n;
        check(&e);
    }
    free(fixed);
    return 0;
}
