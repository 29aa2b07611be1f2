/* String -> pointer hash map (open addressing), for name lookups in a graph.
 * Keys are not copied: they must outlive the map (graph names live in the arena). */
#ifndef DC_STRMAP_H
#define DC_STRMAP_H

#include <stdbool.h>

typedef struct dc_strmap dc_strmap;

dc_strmap *dc_strmap_create(void);
void dc_strmap_destroy(dc_strmap *m);
void *dc_strmap_get(const dc_strmap *m, const char *key);
/* Inserts or replaces; false only when memory is exhausted. */
bool dc_strmap_put(dc_strmap *m, const char *key, void *value);

#endif
