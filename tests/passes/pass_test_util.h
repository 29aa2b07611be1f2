/* Helpers for the pass tests: the graph as text (for golden comparisons) and
 * numerical equivalence through the reference interpreter. */
#ifndef DC_PASS_TEST_UTIL_H
#define DC_PASS_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interpret.h"
#include "ir.h"
#include "test_util.h"

/* dc_graph_print into a malloc'd string. */
static inline char *graph_text(const dc_graph *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    dc_graph_print(g, f);
    fclose(f);
    return text;
}

/* Asserts that g prints as `golden`; shows both when not. */
static inline void expect_text(const dc_graph *g, const char *golden, const char *what, int line)
{
    char *text = graph_text(g);
    bool same = text && strcmp(text, golden) == 0;
    if (!same)
        fprintf(stderr, "\n---- %s (line %d): expected\n%s---- got\n%s----\n", what, line, golden,
                text ? text : "(null)");
    CU_assertImplementation(same, (unsigned)line, what, __FILE__, "", CU_FALSE);
    free(text);
}
#define EXPECT_TEXT(g, golden, what) expect_text(g, golden, what, __LINE__)

/* Random inputs for every non-initializer graph input (static types only):
 * floats uniform in [-1, 1), integers in [0, 4), bools alternating. */
static inline int random_inputs(const dc_graph *g, unsigned seed, dc_tensor **ins, int max)
{
    int n = 0;
    uint64_t state = seed * 2654435761u + 1;
    for (int i = 0; i < g->n_inputs && n < max; i++) {
        const dc_value *v = g->inputs[i];
        if (v->is_initializer)
            continue;
        int64_t dims[DC_MAX_RANK];
        for (int k = 0; k < v->type.rank; k++)
            dims[k] = v->type.dims[k].size;
        dc_tensor *t = NULL;
        DC_ASSERT_OK(dc_tensor_create(&t, v->name, v->type.dtype, v->type.rank, dims));
        for (uint64_t e = 0; t && e < dc_tensor_numel(t); e++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            double u = (double)(state >> 11) * 0x1p-53;
            switch (t->dtype) {
            case DC_F32: ((float *)t->data)[e] = (float)(2 * u - 1); break;
            case DC_F64: ((double *)t->data)[e] = 2 * u - 1; break;
            case DC_I64: ((int64_t *)t->data)[e] = (int64_t)(4 * u); break;
            case DC_I32: ((int32_t *)t->data)[e] = (int32_t)(4 * u); break;
            case DC_BOOL: ((uint8_t *)t->data)[e] = e % 2; break;
            default: break;
            }
        }
        ins[n++] = t;
    }
    return n;
}

/* Largest |a - b| / max(1, |b|) over two tensors of one shape; INFINITY when
 * the types or shapes differ. */
static inline double max_rel_diff(const dc_tensor *a, const dc_tensor *b)
{
    if (!a || !b || a->dtype != b->dtype || a->rank != b->rank ||
        memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0)
        return INFINITY;
    double worst = 0;
    for (uint64_t i = 0; i < dc_tensor_numel(a); i++) {
        double x = dc_tensor_get_f64(a, i), y = dc_tensor_get_f64(b, i);
        double d = fabs(x - y) / (fabs(y) > 1 ? fabs(y) : 1);
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

/* Runs g on `ins` into outs (g->n_outputs tensors). */
static inline dc_status run_graph(const dc_graph *g, dc_tensor **ins, int n_ins, dc_tensor **outs)
{
    return dc_interpret(g, ins, n_ins, outs);
}

static inline void free_tensors(dc_tensor **ts, int n)
{
    for (int i = 0; i < n; i++) {
        dc_tensor_destroy(ts[i]);
        ts[i] = NULL;
    }
}

#endif
