/* libFuzzer target for the compiled-artifact loader (runtime/dc_plan.c).
 *
 * Each input is the bytes of a .dnc file. dc_plan_parse must turn any bytes
 * into a plan that satisfies dc_plan_validate or a status with a message: no
 * crash, leak, hang or allocation the input does not justify (dc_plan.h).
 * The bytes are tried as they are (magic, version, size and checksum checks),
 * then with the header's body size and CRC-32 made right, so that mutations
 * of the body reach the section decoder instead of failing the checksum.
 *
 * A plan that parses must also be written (dc_plan_write) and read back to
 * the same bytes, and, when its regions are small (a fuzzed plan may claim a
 * terabyte), become a session (`dinoc run`'s path: every step's kernel checks
 * its buffers) that runs once on zeroed inputs without touching memory
 * outside its regions.
 *
 * How to build and run: tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dc_plan.h"
#include "dc_session.h"
#include "dc_status.h"
#include "fuzz_scratch.h"

enum { HEADER_BYTES = 32 };
/* Sessions are built for plans whose regions sum to at most this (their
 * kernels then also finish quickly). */
#define SESSION_LIMIT ((uint64_t)1 << 20)

static uint8_t *read_all(const char *path, size_t *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *size = (size_t)n;
    return b;
}

/* A parsed plan writes and reads back to the same bytes. */
static void roundtrip(const dc_plan *p, const uint8_t *data, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/plan.dnc", fuzz_scratch());
    if (dc_plan_write(p, path) != DC_OK) {
        fprintf(stderr, "fuzz_plan_load: a parsed plan failed to write: %s\n", dc_error_message());
        abort();
    }
    size_t n;
    uint8_t *again = read_all(path, &n);
    if (!again || n != size || memcmp(again, data, size) != 0) {
        fprintf(stderr, "fuzz_plan_load: a parsed plan of %zu bytes wrote %zu other bytes\n", size, n);
        abort();
    }
    free(again);
}

static void try_plan(const uint8_t *data, size_t size)
{
    dc_plan *p = NULL;
    if (dc_plan_parse(data, size, "fuzz.dnc", &p) != DC_OK)
        return;
    roundtrip(p, data, size);
    uint64_t total = p->region_bytes[0] + p->region_bytes[1] + p->region_bytes[2];
    dc_session *s = NULL;
    if (total <= SESSION_LIMIT && dc_session_create(p, 1, &s) == DC_OK) {
        (void)dc_session_run(s);
        dc_session_destroy(s);
    }
    dc_plan_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_plan(data, size);
    if (size < HEADER_BYTES || memcmp(data, "DINOCPLN", 8) != 0)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    uint64_t body = size - HEADER_BYTES;
    uint32_t crc = (uint32_t)crc32(0, fixed + HEADER_BYTES, (uInt)body);
    for (int i = 0; i < 8; i++)
        fixed[16 + i] = (uint8_t)(body >> (8 * i));
    for (int i = 0; i < 4; i++)
        fixed[24 + i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed, data, size) != 0)
        try_plan(fixed, size);
    free(fixed);
    return 0;
}
