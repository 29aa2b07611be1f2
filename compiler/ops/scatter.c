/* ScatterAdd (domain ai.dinoc): the adjoint of Gather, so Gather's gradient
 * works for indices known only at run time (the iBOT loss gathers the masked
 * patch tokens of [B·N, D] by data-dependent indices on axis 0).
 *
 *   ScatterAdd(like[d0..dr-1], indices[i0..iq-1], updates) -> out, {axis = 0}
 *   updates: d0..d(axis-1), i0..iq-1, d(axis+1)..d(r-1) (Gather's output shape)
 *   out:     like's shape and element type; zeros except
 *            out[o, indices[j], e] += updates[o, j, e]
 *
 * Only like's type is read, never its data. Duplicate indices add; negative
 * ones count from the end; one out of range is a run-time error (an error of
 * shape inference when the indices are compile-time constants). */
#include <inttypes.h>

#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

/* Known constant indices lie in [-dim, dim-1]. */
static dc_status check_indices(const dc_node *n, int axis)
{
    const dc_type *like = &n->inputs[0]->type;
    const dc_tensor *c = n->inputs[1]->constant;
    int64_t dim = like->dims[axis].size;
    for (uint64_t j = 0; j < dc_tensor_numel(c); j++) {
        int64_t i = dc_tensor_get_i64(c, j);
        if (i < -dim || i >= dim)
            return dc_error(DC_ERR_SHAPE, "ScatterAdd: index %" PRId64 " out of range for axis %d of %s",
                            i, axis, dc_ts(like));
    }
    return DC_OK;
}

/* updates must be shaped like Gather(like, indices, axis)'s output. */
static dc_status check_updates(const dc_node *n, int axis)
{
    const dc_type *like = &n->inputs[0]->type, *idx = &n->inputs[1]->type;
    const dc_type *upd = &n->inputs[2]->type;
    int rank = like->rank - 1 + idx->rank;
    if (rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "ScatterAdd: like %s with indices %s gives rank %d, more than %d",
                        dc_ts(like), dc_ts(idx), rank, DC_MAX_RANK);
    dc_type want = dc_type_ranked(like->dtype, rank);
    int r = 0;
    for (int d = 0; d < like->rank; d++) {
        for (int j = 0; d == axis && j < idx->rank; j++)
            want.dims[r++] = idx->dims[j];
        if (d != axis)
            want.dims[r++] = like->dims[d];
    }
    bool fits = upd->rank == rank;
    for (int d = 0; fits && d < rank; d++)
        fits = !dc_dim_known(want.dims[d]) || !dc_dim_known(upd->dims[d]) ||
               want.dims[d].size == upd->dims[d].size;
    if (!fits)
        return dc_error(DC_ERR_SHAPE, "ScatterAdd: updates must be %s (like %s, indices %s, axis %d), found %s",
                        dc_shape_s(&want), dc_ts(like), dc_ts(idx), axis, dc_ts(upd));
    return DC_OK;
}

static dc_status infer_scatter_add(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *like = &n->inputs[0]->type, *idx = &n->inputs[1]->type;
    const dc_type *upd = &n->inputs[2]->type;
    DC_TRY(dc_need_integer(n, idx, "indices"));
    DC_TRY(dc_same_dtype(n, like, upd));
    int64_t axis64;
    DC_TRY(dc_attr_i(n, "axis", 0, &axis64));
    dc_type out = *like;
    if (out.dtype == DC_UNDEFINED)
        out.dtype = upd->dtype;
    n->outputs[0]->type = out;
    if (like->rank < 0)
        return DC_OK;
    int axis;
    DC_TRY(dc_norm_axis(n, axis64, like->rank, &axis));
    if (idx->rank >= 0 && upd->rank >= 0)
        DC_TRY(check_updates(n, axis));
    if (dc_dim_known(like->dims[axis]) && dc_foldable(n->inputs[1]))
        DC_TRY(check_indices(n, axis));
    return DC_OK;
}

const dc_op_schema dc_op_ScatterAdd = {
    .name = "ScatterAdd", .domain = "ai.dinoc",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_scatter_add,
    .reference = dc_ref_ScatterAdd,
    .gradient = dc_grad_ScatterAdd,
};
