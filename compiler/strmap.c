#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    const char *key;
    void *value;
} entry;

struct dc_strmap {
    entry *slots;
    size_t cap, count; /* cap is a power of two */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

dc_strmap *dc_strmap_create(void)
{
    dc_strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void dc_strmap_destroy(dc_strmap *m)
{
    if (m)
        free(m->slots);
    free(m);
}

static entry *find_slot(entry *slots, size_t cap, const char *key)
{
    for (size_t i = hash(key) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!slots[i].key || strcmp(slots[i].key, key) == 0)
            return &slots[i];
}

void *dc_strmap_get(const dc_strmap *m, const char *key)
{
    entry *e = find_slot(m->slots, m->cap, key);
    return e->key ? e->value : NULL;
}

bool dc_strmap_put(dc_strmap *m, const char *key, void *value)
{
    if (2 * (m->count + 1) > m->cap) { /* keep the load factor under 1/2 */
        size_t ncap = m->cap * 2;
        entry *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return false;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key)
                *find_slot(ns, ncap, m->slots[i].key) = m->slots[i];
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    entry *e = find_slot(m->slots, m->cap, key);
    if (!e->key)
        m->count++;
    e->key = key;
    e->value = value;
    return true;
}
