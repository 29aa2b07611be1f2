/* CrossEntropySoft (domain ai.dinoc): the DINO and iBOT cross-entropy of a
 * student against soft teacher targets, one row at a time, so that no
 * [rows, K] log-probability tensor exists for the whole batch.
 *
 *   CrossEntropySoft(S[R, K], P[R, K], τ[] or [1]) -> L[R], G[R, K] (optional)
 *   L[r] = −Σ_k P[r,k] · log_softmax(S[r] / τ)[k]
 *        = ΣP[r] · logsumexp(S[r] / τ) − Σ_k P[r,k] · S[r,k] / τ
 *   G[r] = ∂L[r]/∂S[r] = (ΣP[r] · softmax(S[r] / τ) − P[r]) / τ
 *
 * Rows of P need not sum to 1 (DINO sums the teacher views that pair with a
 * student view). G is what the backward needs (dS = dL[r] · G[r]): computing
 * it in the forward keeps one [R, K] tensor alive until the backward instead
 * of S and P both; a graph that is not differentiated leaves it out. The
 * kernel reads a row of S before writing that row of G, so G could take S's
 * bytes; the memory plan's in-place rule covers output 0 only. τ is a
 * tensor of S's element type, not an attribute, so f64 graphs keep it exact. */
#include "gradients/grad_util.h"
#include "ops/infer_util.h"
#include "reference/reference.h"

static dc_status infer_cross_entropy(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    (void)opset;
    const dc_type *s = &n->inputs[0]->type, *p = &n->inputs[1]->type;
    DC_TRY(dc_need_float(n, s, "student logits"));
    DC_TRY(dc_same_dtype(n, s, p));
    const dc_type *tau = &n->inputs[2]->type;
    DC_TRY(dc_same_dtype(n, s, tau));
    if (tau->rank > 1 || (tau->rank == 1 && dc_dim_known(tau->dims[0]) && tau->dims[0].size != 1))
        return dc_error(DC_ERR_SHAPE, "CrossEntropySoft: temperature must be a scalar, found %s",
                        dc_ts(tau));
    if ((s->rank >= 0 && s->rank != 2) || (p->rank >= 0 && p->rank != 2))
        return dc_error(DC_ERR_SHAPE, "CrossEntropySoft: logits and targets must be [R, K], found %s and %s",
                        dc_ts(s), dc_ts(p));
    for (int d = 0; s->rank == 2 && p->rank == 2 && d < 2; d++)
        if (dc_dim_known(s->dims[d]) && dc_dim_known(p->dims[d]) && s->dims[d].size != p->dims[d].size)
            return dc_error(DC_ERR_SHAPE, "CrossEntropySoft: targets %s do not match logits %s",
                            dc_ts(p), dc_ts(s));
    dc_type rows = dc_type_ranked(s->dtype, 1);
    if (s->rank == 2)
        rows.dims[0] = s->dims[0];
    n->outputs[0]->type = rows;
    if (n->n_outputs > 1 && n->outputs[1])
        n->outputs[1]->type = *s;
    return DC_OK;
}

const dc_op_schema dc_op_CrossEntropySoft = {
    .name = "CrossEntropySoft", .domain = "ai.dinoc",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 2,
    .infer = infer_cross_entropy,
    .reference = dc_ref_CrossEntropySoft,
    .gradient = dc_grad_CrossEntropySoft,
};
