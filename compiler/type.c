/* Value types: construction, comparison and printing. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"

dc_type dc_type_make(dc_dtype dtype, int rank, const int64_t *dims)
{
    dc_type t = {.dtype = dtype, .rank = rank};
    for (int i = 0; i < rank && i < DC_MAX_RANK; i++)
        t.dims[i].size = dims[i];
    return t;
}

dc_type dc_type_unknown(dc_dtype dtype)
{
    dc_type t = {.dtype = dtype, .rank = -1};
    return t;
}

bool dc_type_is_static(const dc_type *t)
{
    if (t->rank < 0)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i].size < 0)
            return false;
    return true;
}

bool dc_dim_equal(dc_dim a, dc_dim b)
{
    if (a.size >= 0 || b.size >= 0)
        return a.size == b.size;
    return a.param && b.param && strcmp(a.param, b.param) == 0;
}

int64_t dc_type_numel(const dc_type *t)
{
    if (!dc_type_is_static(t))
        return -1;
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
        dims[i] = t->dims[i].size;
    uint64_t n;
    if (dc_shape_numel(t->rank, dims, DC_U8, &n) != DC_OK)
        return -1;
    return (int64_t)n;
}

const char *dc_type_str(const dc_type *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", dc_dtype_short_name(t->dtype));
    if (t->rank < 0) {
        snprintf(buf + (used < size ? used : size), used < size ? size - used : 0, "[?]");
        return buf;
    }
    for (int i = 0; i <= t->rank && used < size; i++) {
        const char *sep = i == 0 ? "[" : ",";
        if (i == t->rank)
            used += (size_t)snprintf(buf + used, size - used, "%s]", i == 0 ? "[" : "");
        else if (t->dims[i].size >= 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, sep, t->dims[i].size);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%s", sep,
                                     t->dims[i].param ? t->dims[i].param : "?");
    }
    return buf;
}
