/* c.ScatterAdd (ai.dinoc): Gather's adjoint, f32 and f64.
 *
 *   like[pre..., n, post...] (only its shape), indices[I...] (i32 or i64),
 *   updates[pre..., I..., post...] -> out[pre..., n, post...]
 *   out = 0; out[o, indices[j], e] += updates[o, j, e]   (o: pre, e: post)
 *
 * Deterministic: each output element belongs to exactly one task, which adds
 * its updates in index order, so the result does not depend on the thread
 * count. A task is one `pre` slab, or, when there are fewer slabs than
 * threads (the iBOT case: axis 0 of [B·N, D], one slab), a range of
 * destination rows of a slab: it zeroes those rows (contiguous memory) and
 * adds every update whose index falls in its range, skipping the others.
 * Cutting the `post` dims into column blocks instead was measured slower:
 * every thread then walks every row with half-row strides. */
#include <omp.h>
#include <string.h>

#include "c_util.h"

typedef struct scatter_state {
    dc_dtype dtype;
    int64_t outer, n, count, inner; /* pre, axis length, number of indices, post */
    int i64;
    const void *idx;
    const char *upd;
    char *out;
} scatter_state;

static dc_status scatter_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    scatter_state *st = state;
    DC_TRY(c_arity(a, 3, 3, 1, 1));
    const dc_plan_buffer *L = a->in[0], *I = a->in[1], *U = a->in[2], *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(L, "like", DC_F32, DC_F64));
    DC_TRY(C_EXPECT_DTYPE(I, "indices", DC_I32, DC_I64));
    DC_TRY(c_same_dtype(U, "updates", L, "like"));
    DC_TRY(c_expect_shape(Y, "output", L->dtype, L->rank, L->dims));
    if (L->rank == 0)
        return dc_error(DC_ERR_SHAPE, "like is a scalar");
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", 0), L->rank, "axis", &axis));
    if (L->rank - 1 + I->rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "updates rank above %d", DC_MAX_RANK);
    int64_t want[DC_MAX_RANK];
    int wr = 0;
    st->outer = st->inner = 1;
    for (int d = 0; d < axis; d++) {
        want[wr++] = L->dims[d];
        st->outer *= L->dims[d];
    }
    for (int d = 0; d < I->rank; d++)
        want[wr++] = I->dims[d];
    for (int d = axis + 1; d < L->rank; d++) {
        want[wr++] = L->dims[d];
        st->inner *= L->dims[d];
    }
    DC_TRY(c_expect_shape(U, "updates", L->dtype, wr, want));
    st->dtype = L->dtype;
    st->n = L->dims[axis];
    st->count = c_numel(I);
    st->i64 = I->dtype == DC_I64;
    st->idx = c_in_data(a, 1);
    st->upd = c_in_data(a, 2);
    st->out = c_out_data(a, 0);
    if (a->in_data && c_overlaps(st->out, Y->nbytes, st->upd, U->nbytes))
        return dc_error(DC_ERR_INVALID, "output shares memory with updates");
    return DC_OK;
}

static inline int64_t scatter_index(const scatter_state *st, int64_t j)
{
    return st->i64 ? ((const int64_t *)st->idx)[j] : ((const int32_t *)st->idx)[j];
}

/* One task: destination rows [r0, r1) of slab o. */
#define SCATTER_TASK(T)                                                                   \
    static void scatter_task_##T(const scatter_state *st, int64_t o, int64_t r0, int64_t r1) \
    {                                                                                     \
        T *dst = (T *)st->out + o * st->n * st->inner;                                    \
        const T *src = (const T *)st->upd + o * st->count * st->inner;                    \
        memset(dst + r0 * st->inner, 0, (size_t)((r1 - r0) * st->inner) * sizeof(T));    \
        for (int64_t j = 0; j < st->count; j++) {                                         \
            int64_t i = scatter_index(st, j);                                             \
            i = i < 0 ? i + st->n : i;                                                    \
            if (i < r0 || i >= r1)                                                        \
                continue;                                                                 \
            T *restrict d = dst + i * st->inner;                                          \
            const T *restrict s = src + j * st->inner;                                    \
            _Pragma("omp simd")                                                           \
            for (int64_t e = 0; e < st->inner; e++)                                       \
                d[e] += s[e];                                                             \
        }                                                                                 \
    }
SCATTER_TASK(float)
SCATTER_TASK(double)

static dc_status scatter_run(void *state)
{
    scatter_state *st = state;
    /* Check every index before writing anything, so a bad one is a clean error. */
    for (int64_t j = 0; j < st->count; j++) {
        int64_t i = scatter_index(st, j);
        if (i < -st->n || i >= st->n)
            return dc_error(DC_ERR_INVALID, "index %lld (indices element %lld) out of range [%lld, %lld)",
                            (long long)i, (long long)j, (long long)-st->n, (long long)st->n);
    }
    if (st->outer == 0 || st->n == 0 || st->inner == 0)
        return DC_OK;
    int64_t work = st->outer * (st->n + st->count) * st->inner;
    int threads = work > 4 * C_PAR_MIN ? omp_get_max_threads() : 1;
    /* Row ranges only when the slabs alone cannot keep the threads busy. */
    int64_t ranges = st->outer >= threads ? 1 : (threads + st->outer - 1) / st->outer;
    ranges = ranges < st->n ? ranges : st->n;
    int64_t tasks = st->outer * ranges;
    int is_f32 = st->dtype == DC_F32;
#pragma omp parallel for schedule(static) if (threads > 1 && tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / ranges, k = t % ranges;
        int64_t r0 = st->n * k / ranges, r1 = st->n * (k + 1) / ranges;
        if (is_f32)
            scatter_task_float(st, o, r0, r1);
        else
            scatter_task_double(st, o, r0, r1);
    }
    return DC_OK;
}

C_KERNEL(ScatterAdd, .state_size = sizeof(scatter_state), .setup = scatter_setup,
         .run = scatter_run);
