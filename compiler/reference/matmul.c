/* MatMul and Gemm reference kernels: triple loops, accumulating in double for
 * floats and exactly (wrapping) for integers. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "reference/ref_util.h"

/* A[..., M, K] x B[..., K, N] -> Y[batch..., M, N] (numpy matmul). A 1-D A is
 * [1, K] with M dropped from Y, a 1-D B is [K, 1] with N dropped; the batch
 * dims (all but the last two) broadcast. */
dc_status dc_ref_MatMul(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                        dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *a = inputs[0], *b = inputs[1];
    DC_TRY(ref_need_kind(node, a, "A", REF_KINDS_NUMBER));
    DC_TRY(ref_same_dtype(node, a, b));
    if (a->rank == 0 || b->rank == 0)
        return dc_error(DC_ERR_SHAPE, "MatMul: inputs must have rank >= 1: A is %s, B is %s",
                        ref_shape_str(a->rank, a->dims), ref_shape_str(b->rank, b->dims));
    int64_t M = a->rank > 1 ? a->dims[a->rank - 2] : 1, K = a->dims[a->rank - 1];
    int64_t K_b = b->rank > 1 ? b->dims[b->rank - 2] : b->dims[0];
    int64_t N = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    if (K != K_b)
        return dc_error(DC_ERR_SHAPE, "MatMul: inner dimensions differ: A is %s, B is %s",
                        ref_shape_str(a->rank, a->dims), ref_shape_str(b->rank, b->dims));

    /* The batch parts as shapes of their own, each step one matrix. */
    dc_tensor a_batch = {.rank = a->rank > 2 ? a->rank - 2 : 0};
    dc_tensor b_batch = {.rank = b->rank > 2 ? b->rank - 2 : 0};
    memcpy(a_batch.dims, a->dims, (size_t)a_batch.rank * sizeof a->dims[0]);
    memcpy(b_batch.dims, b->dims, (size_t)b_batch.rank * sizeof b->dims[0]);
    dc_tensor *const batches[2] = {&a_batch, &b_batch};
    int batch_rank;
    int64_t dims[DC_MAX_RANK];
    DC_TRY(ref_broadcast_shape(node, batches, 2, &batch_rank, dims));
    int rank = batch_rank;
    if (a->rank > 1)
        dims[rank++] = M;
    if (b->rank > 1)
        dims[rank++] = N;
    DC_TRY(ref_new_output(node, outputs, 0, a->dtype, rank, dims));
    dc_tensor *y = outputs[0];

    int64_t a_strides[DC_MAX_RANK], b_strides[DC_MAX_RANK];
    ref_broadcast_strides(&a_batch, batch_rank, batch_rank - a_batch.rank, a_strides);
    ref_broadcast_strides(&b_batch, batch_rank, batch_rank - b_batch.rank, b_strides);
    for (int k = 0; k < batch_rank; k++) {
        a_strides[k] *= M * K;
        b_strides[k] *= K * N;
    }
    ref_iter it;
    ref_iter_init(&it, batch_rank, dims);
    int ia = ref_iter_add(&it, 0, a_strides), ib = ref_iter_add(&it, 0, b_strides);
    bool exact = ref_kind_of(a->dtype) != REF_FLOAT;
    int64_t y_base = 0;
    for (bool more = ref_iter_begin(&it); more; more = ref_iter_next(&it), y_base += M * N) {
        int64_t a0 = it.offset[ia], b0 = it.offset[ib];
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                uint64_t acc_int = 0;
                for (int64_t k = 0; k < K; k++) {
                    int64_t ai = a0 + m * K + k, bi = b0 + k * N + n;
                    if (exact)
                        acc_int += (uint64_t)ref_get_int(a, ai) * (uint64_t)ref_get_int(b, bi);
                    else
                        acc += ref_get(a, ai) * ref_get(b, bi);
                }
                if (exact)
                    ref_set_int(y, y_base + m * N + n, (int64_t)acc_int);
                else
                    ref_set(y, y_base + m * N + n, acc);
            }
    }
    return DC_OK;
}

/* A[M, K] ([K, M] with transA), B[K, N] ([N, K] with transB), C optional
 * (required before opset 11) broadcasting to [M, N] ->
 * Y[M, N] = alpha * A' B' + beta * C. Before opset 7, C must be [M, N] unless
 * broadcast=1. Integer types with integral alpha and beta are exact. */
dc_status dc_ref_Gemm(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                      dc_tensor **outputs)
{
    const dc_tensor *a = inputs[0], *b = inputs[1], *c = node->n_inputs > 2 ? inputs[2] : NULL;
    DC_TRY(ref_need_kind(node, a, "A", REF_KINDS_NUMBER));
    DC_TRY(ref_same_dtype(node, a, b));
    if (c)
        DC_TRY(ref_same_dtype(node, a, c));
    if (!c && opset < 11)
        return dc_error(DC_ERR_INVALID, "Gemm: opset %" PRId64 " needs input C", opset);
    if (a->rank != 2 || b->rank != 2)
        return dc_error(DC_ERR_SHAPE, "Gemm: A and B must be 2-D: A is %s, B is %s",
                        ref_shape_str(a->rank, a->dims), ref_shape_str(b->rank, b->dims));
    int64_t trans_a, trans_b, broadcast;
    float alpha, beta;
    DC_TRY(dc_attr_i(node, "transA", 0, &trans_a));
    DC_TRY(dc_attr_i(node, "transB", 0, &trans_b));
    DC_TRY(dc_attr_f(node, "alpha", 1.0f, &alpha));
    DC_TRY(dc_attr_f(node, "beta", 1.0f, &beta));
    DC_TRY(dc_attr_i(node, "broadcast", 0, &broadcast));
    int64_t M = a->dims[trans_a ? 1 : 0], K = a->dims[trans_a ? 0 : 1];
    int64_t K_b = b->dims[trans_b ? 1 : 0], N = b->dims[trans_b ? 0 : 1];
    if (K != K_b)
        return dc_error(DC_ERR_SHAPE, "Gemm: inner dimensions differ: A is %s (transA=%d), B is %s (transB=%d)",
                        ref_shape_str(2, a->dims), trans_a != 0, ref_shape_str(2, b->dims),
                        trans_b != 0);
    int64_t dims[2] = {M, N};
    int64_t c_strides[2] = {0, 0};
    if (c) {
        bool ok = c->rank <= 2;
        for (int j = 0; ok && j < c->rank; j++) {
            int64_t want = dims[j + 2 - c->rank];
            ok = c->dims[j] == want || (c->dims[j] == 1 && (opset >= 7 || broadcast));
        }
        if (ok && opset < 7 && !broadcast)
            ok = c->rank == 2;
        if (!ok)
            return dc_error(DC_ERR_SHAPE, "Gemm: C %s does not broadcast to [%" PRId64 ",%" PRId64 "]",
                            ref_shape_str(c->rank, c->dims), M, N);
        ref_broadcast_strides(c, 2, 2 - c->rank, c_strides);
    }
    DC_TRY(ref_new_output(node, outputs, 0, a->dtype, 2, dims));
    dc_tensor *y = outputs[0];
    /* Element (i, j) of A' and B'. */
    int64_t a_row = trans_a ? 1 : K, a_col = trans_a ? M : 1;
    int64_t b_row = trans_b ? 1 : N, b_col = trans_b ? K : 1;
    bool exact = ref_kind_of(a->dtype) != REF_FLOAT && alpha == floorf(alpha) &&
                 beta == floorf(beta) && fabsf(alpha) < 0x1p62f && fabsf(beta) < 0x1p62f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0;
            uint64_t acc_int = 0;
            for (int64_t k = 0; k < K; k++) {
                int64_t ai = m * a_row + k * a_col, bi = k * b_row + n * b_col;
                if (exact)
                    acc_int += (uint64_t)ref_get_int(a, ai) * (uint64_t)ref_get_int(b, bi);
                else
                    acc += ref_get(a, ai) * ref_get(b, bi);
            }
            int64_t ci = m * c_strides[0] + n * c_strides[1];
            if (exact) {
                uint64_t r = (uint64_t)(int64_t)alpha * acc_int;
                if (c)
                    r += (uint64_t)(int64_t)beta * (uint64_t)ref_get_int(c, ci);
                ref_set_int(y, m * N + n, (int64_t)r);
            } else {
                double r = (double)alpha * acc + (c ? (double)beta * ref_get(c, ci) : 0.0);
                ref_set(y, m * N + n, r);
            }
        }
    return DC_OK;
}
