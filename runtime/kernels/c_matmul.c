/* MatMul and Gemm.
 *
 *   MatMul: A[..., M, K] x B[..., K, N] -> Y[broadcast(...), M, N]
 *           (numpy rules: a 1-D A is [1, K] and a 1-D B is [K, 1], the
 *           added dimension dropped from Y)
 *   Gemm:   A[M, K] (or [K, M] with transA), B[K, N] (or [N, K] with transB),
 *           optional C broadcastable to [M, N]
 *           -> Y[M, N] = alpha * A' B' + beta * C
 *
 * Types: f32, f64 (f16, bf16 through f32), i32, i64, u32, u64 (wrapping).
 * One blocked row-major core: 4 rows of Y at a time, K in blocks of 256 and
 * N in blocks of 512, the innermost loop running along a row of B and Y so
 * that it vectorises; the parallel loop covers batches and row blocks. */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

enum { RB = 4, KB = 256, JB = 512 };


#define MM_CORE(S, T, MULADD)                                                               \
    static void mm_##S(const c_mm_job *j)                                                     \
    {                                                                                       \
        int64_t M = j->M, N = j->N, K = j->K, rblocks = (M + RB - 1) / RB;                  \
        int64_t tasks = j->batch * rblocks;                                                 \
        _Pragma("omp parallel for schedule(static) if (j->batch * M * N * K > (1 << 18))") \
        for (int64_t t = 0; t < tasks; t++) {                                               \
            int64_t bi = t / rblocks, i0 = t % rblocks * RB;                                \
            int64_t i1 = i0 + RB < M ? i0 + RB : M;                                         \
            const T *A = (const T *)j->a + j->aoff[bi];                                     \
            const T *B = (const T *)j->b + j->boff[bi];                                     \
            T *C = (T *)j->c + bi * M * N;                                                  \
            for (int64_t j0 = 0; j0 < N; j0 += JB) {                                        \
                int64_t jn = j0 + JB < N ? JB : N - j0;                                     \
                for (int64_t i = i0; i < i1; i++)                                           \
                    memset(C + i * N + j0, 0, (size_t)jn * sizeof(T));                      \
                for (int64_t k0 = 0; k0 < K; k0 += KB) {                                    \
                    int64_t k1 = k0 + KB < K ? k0 + KB : K;                                 \
                    if (i1 - i0 == RB) { /* four rows share each load of B */               \
                        T *restrict c0 = C + i0 * N + j0, *restrict c1 = c0 + N;            \
                        T *restrict c2 = c1 + N, *restrict c3 = c2 + N;                     \
                        for (int64_t k = k0; k < k1; k++) {                                 \
                            const T a0 = A[i0 * K + k], a1 = A[(i0 + 1) * K + k];           \
                            const T a2 = A[(i0 + 2) * K + k], a3 = A[(i0 + 3) * K + k];     \
                            const T *restrict b = B + k * N + j0;                           \
                            _Pragma("omp simd")                                             \
                            for (int64_t x = 0; x < jn; x++) {                              \
                                c0[x] = MULADD(T, c0[x], a0, b[x]);                         \
                                c1[x] = MULADD(T, c1[x], a1, b[x]);                         \
                                c2[x] = MULADD(T, c2[x], a2, b[x]);                         \
                                c3[x] = MULADD(T, c3[x], a3, b[x]);                         \
                            }                                                               \
                        }                                                                   \
                        continue;                                                           \
                    }                                                                       \
                    for (int64_t i = i0; i < i1; i++) {                                     \
                        T *restrict c = C + i * N + j0;                                     \
                        for (int64_t k = k0; k < k1; k++) {                                 \
                            const T a = A[i * K + k];                                       \
                            const T *restrict b = B + k * N + j0;                           \
                            _Pragma("omp simd")                                             \
                            for (int64_t x = 0; x < jn; x++)                                \
                                c[x] = MULADD(T, c[x], a, b[x]);                            \
                        }                                                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

#define MULADD_FLOAT(T, c, a, b) ((c) + (a) * (b))
#define MULADD_INT(T, c, a, b) ((T)((uint64_t)(c) + (uint64_t)(a) * (uint64_t)(b)))
MM_CORE(f32, float, MULADD_FLOAT)
MM_CORE(f64, double, MULADD_FLOAT)
MM_CORE(i32, int32_t, MULADD_INT)
MM_CORE(i64, int64_t, MULADD_INT)
MM_CORE(u32, uint32_t, MULADD_INT)
MM_CORE(u64, uint64_t, MULADD_INT)

c_mm_fn c_mm_for(dc_dtype t)
{
    switch (t) {
    case DC_F32: return mm_f32;
    case DC_F64: return mm_f64;
    case DC_I32: return mm_i32;
    case DC_I64: return mm_i64;
    case DC_U32: return mm_u32;
    case DC_U64: return mm_u64;
    default: return NULL;
    }
}

/* ------------------------------------------------------------ MatMul */

typedef struct matmul_state {
    c_mm_fn fn;
    c_mm_job job;
    int64_t *offs;      /* aoff then boff, batch entries each */
    char *scratch;      /* result when Y overlaps an input */
    char *y;
    size_t ybytes;
} matmul_state;

static dc_status matmul_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    matmul_state *st = state;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *Y = a->out[0];
    DC_TRY(c_same_dtype(B, "input B", A, "input A"));
    if (!(st->fn = c_mm_for(A->dtype)))
        return dc_error(DC_ERR_UNSUPPORTED, "inputs of element type %s are not supported",
                        dc_dtype_name(A->dtype));
    if (A->rank < 1 || B->rank < 1)
        return dc_error(DC_ERR_SHAPE, "MatMul of a scalar (%s x %s)", C_TYPE_STR(A), C_TYPE_STR(B));
    int64_t M = A->rank == 1 ? 1 : A->dims[A->rank - 2], K = A->dims[A->rank - 1];
    int64_t KB_ = B->rank == 1 ? B->dims[0] : B->dims[B->rank - 2];
    int64_t N = B->rank == 1 ? 1 : B->dims[B->rank - 1];
    if (K != KB_)
        return dc_error(DC_ERR_SHAPE, "inner dimensions differ: %s x %s", C_TYPE_STR(A),
                        C_TYPE_STR(B));
    /* Batch shapes as buffers, so the broadcasting helper checks and walks them. */
    dc_plan_buffer ba = {.dtype = A->dtype, .rank = A->rank > 2 ? A->rank - 2 : 0};
    dc_plan_buffer bb = {.dtype = A->dtype, .rank = B->rank > 2 ? B->rank - 2 : 0};
    memcpy(ba.dims, A->dims, (size_t)ba.rank * sizeof(int64_t));
    memcpy(bb.dims, B->dims, (size_t)bb.rank * sizeof(int64_t));
    dc_plan_buffer by = {.dtype = A->dtype, .rank = ba.rank > bb.rank ? ba.rank : bb.rank};
    for (int d = 0; d < by.rank; d++) {
        int ia = d - (by.rank - ba.rank), ib = d - (by.rank - bb.rank);
        int64_t da = ia >= 0 ? ba.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return dc_error(DC_ERR_SHAPE, "batch dimensions do not broadcast: %s x %s",
                            C_TYPE_STR(A), C_TYPE_STR(B));
        by.dims[d] = da == 1 ? db : da;
    }
    int64_t want[DC_MAX_RANK + 2];
    int wr = by.rank;
    memcpy(want, by.dims, (size_t)by.rank * sizeof(int64_t));
    if (A->rank > 1)
        want[wr++] = M;
    if (B->rank > 1)
        want[wr++] = N;
    DC_TRY(c_expect_shape(Y, "output", A->dtype, wr, want));

    c_bcast bc;
    const dc_plan_buffer *ins[2] = {&ba, &bb};
    DC_TRY(c_bcast_init(&bc, 2, ins, &by, 0));
    st->job = (c_mm_job){.M = M, .N = N, .K = K, .batch = bc.numel};
    if (!a->in_data)
        return DC_OK;
    if (!(st->offs = malloc((size_t)(2 * bc.numel + 1) * sizeof(int64_t))))
        return dc_error(DC_ERR_NOMEM, "MatMul batch table");
    for (int64_t r = 0; r < bc.outer; r++) {
        int64_t off[C_BCAST_MAX_IN];
        c_bcast_row(&bc, r, off);
        for (int64_t i = 0; i < bc.inner; i++) {
            int64_t t = r * bc.inner + i;
            st->offs[t] = (off[0] + i * bc.strides[0][bc.rank - 1]) * M * K;
            st->offs[bc.numel + t] = (off[1] + i * bc.strides[1][bc.rank - 1]) * K * N;
        }
    }
    st->job.aoff = st->offs;
    st->job.boff = st->offs + bc.numel;
    st->job.a = c_in_data(a, 0);
    st->job.b = c_in_data(a, 1);
    st->y = c_out_data(a, 0);
    st->ybytes = Y->nbytes;
    st->job.c = st->y;
    if (c_overlaps(st->y, Y->nbytes, st->job.a, A->nbytes) ||
        c_overlaps(st->y, Y->nbytes, st->job.b, B->nbytes)) {
        if (!(st->scratch = c_alloc(Y->nbytes)))
            return dc_error(DC_ERR_NOMEM, "MatMul result copy");
        st->job.c = st->scratch;
    }
    return DC_OK;
}

static dc_status matmul_run(void *state)
{
    matmul_state *st = state;
    st->fn(&st->job);
    if (st->scratch)
        memcpy(st->y, st->scratch, st->ybytes);
    return DC_OK;
}

static void matmul_release(void *state)
{
    matmul_state *st = state;
    free(st->offs);
    free(st->scratch);
}

C_KERNEL(MatMul, .state_size = sizeof(matmul_state), .setup = matmul_setup, .run = matmul_run,
         .release = matmul_release, .half_via_f32 = 1);

/* ------------------------------------------------------------ Gemm */

typedef struct gemm_state {
    c_mm_fn fn;
    c_mm_job job;
    int64_t zero;            /* the batch offset table of one batch */
    dc_dtype dtype;
    float alpha, beta;
    int trans_a, trans_b, has_c;
    c_strided pack_a, pack_b; /* transposed operands into scratch */
    const char *a, *b, *c;
    char *y, *pa, *pb, *result;
    c_bcast cb;              /* C broadcast to [M, N] */
} gemm_state;

static dc_status gemm_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    gemm_state *st = state;
    DC_TRY(c_arity(a, 2, 3, 1, 1));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *C = c_in(a, 2), *Y = a->out[0];
    DC_TRY(c_same_dtype(B, "input B", A, "input A"));
    if (!(st->fn = c_mm_for(A->dtype)))
        return dc_error(DC_ERR_UNSUPPORTED, "inputs of element type %s are not supported",
                        dc_dtype_name(A->dtype));
    if (A->rank != 2 || B->rank != 2)
        return dc_error(DC_ERR_SHAPE, "Gemm needs 2-D inputs, got %s and %s", C_TYPE_STR(A),
                        C_TYPE_STR(B));
    st->dtype = A->dtype;
    st->trans_a = dc_step_int(a->step, "transA", 0) != 0;
    st->trans_b = dc_step_int(a->step, "transB", 0) != 0;
    st->alpha = dc_step_float(a->step, "alpha", 1.0f);
    st->beta = dc_step_float(a->step, "beta", 1.0f);
    int64_t M = A->dims[st->trans_a], K = A->dims[!st->trans_a];
    int64_t K2 = B->dims[st->trans_b], N = B->dims[!st->trans_b];
    if (K != K2)
        return dc_error(DC_ERR_SHAPE, "inner dimensions differ: %s%s x %s%s", C_TYPE_STR(A),
                        st->trans_a ? "^T" : "", C_TYPE_STR(B), st->trans_b ? "^T" : "");
    int64_t want[2] = {M, N};
    DC_TRY(c_expect_shape(Y, "output", A->dtype, 2, want));
    st->has_c = C != NULL;
    if (C) {
        DC_TRY(c_same_dtype(C, "input C", A, "input A"));
        const dc_plan_buffer *ins[1] = {C};
        DC_TRY(c_bcast_init(&st->cb, 1, ins, Y, 1)); /* unidirectional */
    }
    st->job = (c_mm_job){.M = M, .N = N, .K = K, .batch = 1, .aoff = &st->zero, .boff = &st->zero};
    size_t es = dc_dtype_size(A->dtype);
    /* A' = A^T reads A[K, M] with strides {1, M}; B' = B^T reads B[N, K] with {1, K}. */
    int64_t ta[2] = {1, M}, tb[2] = {1, K};
    int64_t da[2] = {M, K}, db[2] = {K, N};
    c_strided_init(&st->pack_a, 2, da, ta, 0, es);
    c_strided_init(&st->pack_b, 2, db, tb, 0, es);
    if (!a->in_data)
        return DC_OK;
    st->a = c_in_data(a, 0);
    st->b = c_in_data(a, 1);
    st->c = c_in_data(a, 2);
    st->y = c_out_data(a, 0);
    st->job.a = st->a;
    st->job.b = st->b;
    st->job.c = st->y;
    if (st->trans_a && !(st->pa = c_alloc(A->nbytes)))
        return dc_error(DC_ERR_NOMEM, "Gemm packing");
    if (st->trans_b && !(st->pb = c_alloc(B->nbytes)))
        return dc_error(DC_ERR_NOMEM, "Gemm packing");
    if (st->pa)
        st->job.a = st->pa;
    if (st->pb)
        st->job.b = st->pb;
    if (c_overlaps(st->y, Y->nbytes, st->a, A->nbytes) ||
        c_overlaps(st->y, Y->nbytes, st->b, B->nbytes) ||
        (C && c_overlaps(st->y, Y->nbytes, st->c, C->nbytes))) {
        if (!(st->result = c_alloc(Y->nbytes)))
            return dc_error(DC_ERR_NOMEM, "Gemm result copy");
        st->job.c = st->result;
    }
    return DC_OK;
}

/* Y = alpha * R + beta * C over one broadcast row. */
#define GEMM_EPILOGUE(T, CONV)                                                  \
    do {                                                                        \
        const T *restrict r = (const T *)st->job.c + out;                       \
        T *restrict y = (T *)st->y + out;                                       \
        const T *restrict c = st->has_c ? (const T *)st->c + off[0] : NULL;    \
        for (int64_t i = 0; i < n; i++) {                                       \
            double v = (double)st->alpha * (double)r[i];                        \
            if (c)                                                              \
                v += (double)st->beta * (double)c[i * sc];                      \
            y[i] = (T)CONV(v);                                                  \
        }                                                                       \
    } while (0)
#define AS_IS(v) (v)

static void gemm_row(const void *ctx, const int64_t *off, int64_t out, int64_t n)
{
    const gemm_state *st = ctx;
    int64_t sc = st->has_c ? st->cb.strides[0][st->cb.rank - 1] : 0;
    switch (st->dtype) {
    case DC_F32: { /* the float path stays in float so that it vectorises */
        const float *restrict r = (const float *)st->job.c + out;
        float *restrict y = (float *)st->y + out;
        float al = st->alpha, be = st->beta;
        if (st->has_c) {
            const float *restrict c = (const float *)st->c + off[0];
            for (int64_t i = 0; i < n; i++)
                y[i] = al * r[i] + be * c[i * sc];
        } else {
            for (int64_t i = 0; i < n; i++)
                y[i] = al * r[i];
        }
        break;
    }
    case DC_F64: GEMM_EPILOGUE(double, AS_IS); break;
    case DC_I32: GEMM_EPILOGUE(int32_t, c_f64_to_i32); break;
    case DC_I64: GEMM_EPILOGUE(int64_t, c_f64_to_i64); break;
    case DC_U32: GEMM_EPILOGUE(uint32_t, c_f64_to_i64); break;
    case DC_U64: GEMM_EPILOGUE(uint64_t, c_f64_to_u64); break;
    default: break;
    }
}

static dc_status gemm_run(void *state)
{
    gemm_state *st = state;
    if (st->pa)
        c_strided_copy(&st->pack_a, st->a, st->pa);
    if (st->pb)
        c_strided_copy(&st->pack_b, st->b, st->pb);
    st->fn(&st->job);
    int plain = st->alpha == 1.0f && (!st->has_c || st->beta == 0.0f);
    if (plain && st->job.c != st->y) {
        memcpy(st->y, st->job.c, (size_t)(st->job.M * st->job.N) * dc_dtype_size(st->dtype));
    } else if (!plain) {
        /* Walk Y as C's broadcast; without C, as one plain row per Y row. */
        if (st->has_c) {
            c_bcast_run(&st->cb, gemm_row, st);
        } else {
            int64_t zero = 0;
            for (int64_t i = 0; i < st->job.M; i++)
                gemm_row(st, &zero, i * st->job.N, st->job.N);
        }
    }
    return DC_OK;
}

static void gemm_release(void *state)
{
    gemm_state *st = state;
    free(st->pa);
    free(st->pb);
    free(st->result);
}

C_KERNEL(Gemm, .state_size = sizeof(gemm_state), .setup = gemm_setup, .run = gemm_run,
         .release = gemm_release, .half_via_f32 = 1);
