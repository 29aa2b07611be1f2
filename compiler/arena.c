#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocks form a singly-linked list; large requests get a block of their own. */
typedef struct block {
    struct block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} block;

struct dc_arena {
    block *head;
};

enum { BLOCK_SIZE = 64 * 1024 };

dc_arena *dc_arena_create(void) { return calloc(1, sizeof(dc_arena)); }

void dc_arena_destroy(dc_arena *a)
{
    if (!a)
        return;
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void *dc_arena_alloc(dc_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > BLOCK_SIZE / 4 ? size : BLOCK_SIZE;
        if (cap > SIZE_MAX - sizeof(block))
            return NULL;
        block *nb = malloc(sizeof(block) + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->size = cap;
        if (b && cap != BLOCK_SIZE) {
            /* A dedicated big block goes behind the current one so the
             * current block's free space stays usable. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *dc_arena_memdup(dc_arena *a, const void *p, size_t len)
{
    char *s = dc_arena_alloc(a, len + 1);
    if (s && len)
        memcpy(s, p, len);
    return s;
}

char *dc_arena_strdup(dc_arena *a, const char *s)
{
    return s ? dc_arena_memdup(a, s, strlen(s)) : NULL;
}

void *dc_arena_grow(dc_arena *a, void *array, size_t elem, int *cap, int need)
{
    if (need <= *cap)
        return array;
    int ncap = *cap ? *cap : 4;
    while (ncap < need)
        ncap *= 2;
    void *p = dc_arena_alloc(a, (size_t)ncap * elem);
    if (!p)
        return NULL;
    if (array)
        memcpy(p, array, (size_t)*cap * elem);
    *cap = ncap;
    return p;
}
