/* Bump allocator for graph-lifetime objects (names, nodes, values, attributes).
 * Everything allocated from an arena is freed at once by dc_arena_destroy. */
#ifndef DC_ARENA_H
#define DC_ARENA_H

#include <stddef.h>

typedef struct dc_arena dc_arena;

dc_arena *dc_arena_create(void);
void dc_arena_destroy(dc_arena *a);
/* Zero-filled, 16-byte aligned; NULL only when memory is exhausted. */
void *dc_arena_alloc(dc_arena *a, size_t size);
/* Copies of a NUL-terminated string / of `len` bytes (NUL-terminated too). */
char *dc_arena_strdup(dc_arena *a, const char *s);
char *dc_arena_memdup(dc_arena *a, const void *p, size_t len);
/* Grows an arena-owned array of `elem` bytes to hold at least `need` entries.
 * *cap is the current capacity; the old contents are copied. */
void *dc_arena_grow(dc_arena *a, void *array, size_t elem, int *cap, int need);

#endif
