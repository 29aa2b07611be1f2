/* The input layout of fuzz_artifact_load: what a shared-object artifact
 * exports, flattened into one byte string (make_fuzz_seeds writes seeds in it):
 *
 *   u16 A, A bytes   dinoc_artifact_abi (its symbol's bytes, NUL included or not)
 *   u16 T, T bytes   dinoc_artifact_target
 *   u16 F, F bytes   dinoc_artifact_cpu_features
 *   u64 S            dinoc_artifact_plan_size (the declared size)
 *   the rest         dinoc_artifact_plan (the array: its length is the symbol's size)
 *
 * Integers are little-endian. A string's length is the size its symbol would
 * have, so a string without its NUL inside it is a case the loader meets. */
#ifndef FUZZ_ARTIFACT_INPUT_H
#define FUZZ_ARTIFACT_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dc_artifact.h"

static inline uint64_t fuzz_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Splits `data` into exports pointing into it; 0 when it is too short. */
static inline int fuzz_artifact_split(const uint8_t *data, size_t size, dc_artifact_exports *e)
{
    const void **ptr[3] = {&e->abi, &e->target, &e->cpu_features};
    uint64_t *len[3] = {&e->abi_size, &e->target_size, &e->cpu_features_size};
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        if (size - at < 2)
            return 0;
        uint64_t n = fuzz_le(data + at, 2);
        at += 2;
        if (size - at < n)
            return 0;
        *ptr[i] = data + at;
        *len[i] = n;
        at += (size_t)n;
    }
    if (size - at < 8)
        return 0;
    e->plan_size = fuzz_le(data + at, 8);
    at += 8;
    e->plan = data + at;
    e->plan_capacity = size - at;
    return 1;
}

/* Writes the layout for NUL-terminated strings and `plan` of `n` bytes. */
static inline int fuzz_artifact_write(FILE *f, const char *abi, const char *target,
                                      const char *features, const void *plan, size_t n)
{
    const char *s[3] = {abi, target, features};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(s[i]) + 1;
        uint8_t le[2] = {(uint8_t)l, (uint8_t)(l >> 8)};
        if (fwrite(le, 1, 2, f) != 2 || fwrite(s[i], 1, l, f) != l)
            return 0;
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)n >> (8 * i));
    return fwrite(le, 1, 8, f) == 8 && fwrite(plan, 1, n, f) == n;
}

#endif
