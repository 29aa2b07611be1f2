/* Reference ScatterAdd (compiler/ops/scatter.c): Gather's adjoint. */
#include <inttypes.h>
#include <stdlib.h>

#include "reference/ref_util.h"

/* like[d0..dr-1] (float or integer; only its shape and type are read),
 * indices[i0..iq-1] (integers in [-d(axis), d(axis)-1]),
 * updates[d0..d(axis-1), i0..iq-1, d(axis+1)..d(r-1)] (like's type)
 * -> out[d0..dr-1] = 0, then out[o, indices[j], e] += updates[o, j, e].
 * Floats are summed in double (in index order) and rounded once; integers
 * wrap. An index out of range is an error. */
dc_status dc_ref_ScatterAdd(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *like = inputs[0], *idx = inputs[1], *upd = inputs[2];
    DC_TRY(ref_need_kind(node, like, "like", REF_KINDS_NUMBER));
    DC_TRY(ref_need_kind(node, idx, "indices", REF_KINDS_INT));
    DC_TRY(ref_same_dtype(node, like, upd));
    int64_t axis64;
    DC_TRY(dc_attr_i(node, "axis", 0, &axis64));
    int a;
    DC_TRY(ref_axis(node, axis64, like->rank, &a));
    /* updates must have Gather(like, indices)'s shape. */
    int64_t want[DC_MAX_RANK];
    int rank = like->rank - 1 + idx->rank, r = 0;
    bool fits = rank <= DC_MAX_RANK && upd->rank == rank;
    for (int k = 0; fits && k < like->rank; k++) {
        for (int j = 0; k == a && j < idx->rank; j++)
            want[r++] = idx->dims[j];
        if (k != a)
            want[r++] = like->dims[k];
    }
    for (int k = 0; fits && k < rank; k++)
        fits = want[k] == upd->dims[k];
    if (!fits)
        return dc_error(DC_ERR_SHAPE, "ScatterAdd: updates %s do not fit like %s, indices %s, axis %d",
                        ref_shape_str(upd->rank, upd->dims), ref_shape_str(like->rank, like->dims),
                        ref_shape_str(idx->rank, idx->dims), a);
    int64_t outer = ref_span(like->dims, 0, a), dim = like->dims[a];
    int64_t inner = ref_span(like->dims, a + 1, like->rank);
    int64_t count = (int64_t)dc_tensor_numel(idx);
    for (int64_t j = 0; j < count; j++) {
        int64_t i = ref_get_int(idx, j);
        if (i < -dim || i >= dim)
            return dc_error(DC_ERR_INVALID, "ScatterAdd: index %" PRId64 " (element %" PRId64
                            ") out of range for axis %d of %s", i, j, a,
                            ref_shape_str(like->rank, like->dims));
    }
    DC_TRY(ref_new_output(node, outputs, 0, like->dtype, like->rank, like->dims));
    dc_tensor *out = outputs[0];
    int64_t numel = (int64_t)dc_tensor_numel(out);
    bool is_float = ref_kind_of(like->dtype) == REF_FLOAT;
    double *sum = is_float ? calloc((size_t)numel + 1, sizeof *sum) : NULL;
    if (is_float && !sum)
        return dc_error(DC_ERR_NOMEM, "ScatterAdd: %" PRId64 " accumulators", numel);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < count; j++) {
            int64_t i = ref_get_int(idx, j);
            i = i < 0 ? i + dim : i;
            for (int64_t e = 0; e < inner; e++) {
                int64_t at = (o * dim + i) * inner + e, from = (o * count + j) * inner + e;
                if (is_float)
                    sum[at] += ref_get(upd, from);
                else /* unsigned wrap-around is the two's complement sum */
                    ref_set_int(out, at, (int64_t)((uint64_t)ref_get_int(out, at) +
                                                   (uint64_t)ref_get_int(upd, from)));
            }
        }
    for (int64_t k = 0; is_float && k < numel; k++)
        ref_set(out, k, sum[k]);
    free(sum);
    return DC_OK;
}
