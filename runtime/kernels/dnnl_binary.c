/* dnnl.Add, dnnl.Sub, dnnl.Mul, dnnl.Div: oneDNN binary, f32, numpy broadcasting.
 *
 *   A [*a] op B [*b] -> Y [broadcast(a, b)]
 * oneDNN broadcasts only its second source: A must already have Y's shape.
 * For Add and Mul a broadcast A swaps with a full-shape B; Sub and Div with
 * a broadcast A are refused (c.* runs them). Dims are collapsed first (size-1
 * dims dropped, neighbours with the same broadcast pattern merged), so
 * [64,197,384] + [384] is [12608,384] + [1,384], a case the jit:uni kernel
 * covers; layouts where oneDNN has only ref:any are refused by check. */
#include <string.h>

#include "dnnl_util.h"

static dc_status binary_common(const dc_kernel_args *a, dc_dnnl_state *st, dnnl_alg_kind_t alg,
                               bool commutative)
{
    DC_TRY(dc_dnnl_check_args(a, 2, 2, 1, 1, DC_MAX_RANK));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *Y = a->out[0];
    char b1[96], b2[96], b3[96];
    int r = Y->rank;
    if (A->rank > r || B->rank > r)
        return dc_dnnl_shape_error(a, "input rank above the output's");
    int64_t ad[DC_MAX_RANK] = {0}, bd[DC_MAX_RANK] = {0};
    for (int i = 0; i < r; i++) {
        ad[i] = i < r - A->rank ? 1 : A->dims[i - (r - A->rank)];
        bd[i] = i < r - B->rank ? 1 : B->dims[i - (r - B->rank)];
        int64_t y = ad[i] == 1 ? bd[i] : ad[i];
        if ((ad[i] != 1 && bd[i] != 1 && ad[i] != bd[i]) || y != Y->dims[i])
            return dc_dnnl_shape_error(a, "%s and %s do not broadcast to %s",
                                       dc_dnnl_dims_str(b1, sizeof b1, A->rank, A->dims),
                                       dc_dnnl_dims_str(b2, sizeof b2, B->rank, B->dims),
                                       dc_dnnl_dims_str(b3, sizeof b3, Y->rank, Y->dims));
    }
    bool a_full = memcmp(ad, Y->dims, sizeof(int64_t) * (size_t)r) == 0;
    bool b_full = memcmp(bd, Y->dims, sizeof(int64_t) * (size_t)r) == 0;
    bool swap = false;
    if (!a_full) {
        if (!commutative || !b_full)
            return dc_dnnl_refuse(a, "first operand %s is broadcast; oneDNN broadcasts only "
                                  "the second",
                                  dc_dnnl_dims_str(b1, sizeof b1, A->rank, A->dims));
        swap = true;
    }
    const int64_t *src1 = swap ? ad : bd;
    /* Collapse: drop size-1 dims of Y, merge runs with the same src1 pattern. */
    int64_t yc[DC_MAX_RANK], sc[DC_MAX_RANK];
    int rc = 0;
    bool prev_bcast = false;
    for (int i = 0; i < r; i++) {
        if (Y->dims[i] == 1)
            continue;
        bool bcast = src1[i] == 1;
        if (rc > 0 && bcast == prev_bcast) {
            yc[rc - 1] *= Y->dims[i];
        } else {
            yc[rc++] = Y->dims[i];
            prev_bcast = bcast;
        }
        sc[rc - 1] = bcast ? 1 : yc[rc - 1];
    }
    if (rc == 0)
        yc[0] = sc[0] = 1, rc = 1;
    dnnl_memory_desc_t ymd, smd;
    DC_TRY(dc_dnnl_md(a, &ymd, rc, yc, NULL));
    DC_TRY(dc_dnnl_md(a, &smd, rc, sc, NULL));
    dnnl_binary_desc_t d;
    DC_DNNL_TRY(a, dnnl_binary_desc_init(&d, alg, &ymd, &smd, &ymd));
    dnnl_primitive_desc_t pd;
    DC_TRY(dc_dnnl_pd(a, &d, NULL, "binary", &pd));
    dc_dnnl_bind binds[] = {
        {DNNL_ARG_SRC_0, st ? a->in_data[swap ? 1 : 0] : NULL, NULL},
        {DNNL_ARG_SRC_1, st ? a->in_data[swap ? 0 : 1] : NULL, NULL},
        {DNNL_ARG_DST, st ? a->out_data[0] : NULL, NULL},
    };
    return dc_dnnl_add(a, st, pd, binds, 3, false);
}

#define BINARY(OP, ALG, COMMUTATIVE)                                               \
    static dc_status OP##_build(const dc_kernel_args *a, dc_dnnl_state *st)       \
    {                                                                              \
        return binary_common(a, st, ALG, COMMUTATIVE);                             \
    }                                                                              \
    DC_DNNL_KERNEL(dc_kernel_dnnl_##OP, "dnnl." #OP, #OP, OP##_build)

BINARY(Add, dnnl_binary_add, true)
BINARY(Sub, dnnl_binary_sub, false)
BINARY(Mul, dnnl_binary_mul, true)
BINARY(Div, dnnl_binary_div, false)
