/* c.MatMulBias (ai.dinoc): Y = act(A · B' + bias), the fallback of
 * dnnl.MatMulBias. A [..., M, K] f32 (batch folded into M), B [K, N] or, with
 * transB, [N, K] (copied transposed into scratch at each run), bias [N] ->
 * Y [..., M, N]. activation: "", Relu, Tanh, Sigmoid, Gelu (erf). */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

typedef enum act_kind { ACT_NONE, ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_GELU } act_kind;

typedef struct mmb_state {
    int64_t M, K, N;
    int trans_b;
    act_kind act;
    c_mm_fn mm;
    const float *a, *b, *bias;
    float *y, *bt; /* bt: B transposed to [K, N] when transB */
} mmb_state;

static dc_status mmb_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    mmb_state *st = state;
    DC_TRY(c_arity(a, 3, 3, 1, 1));
    const dc_plan_buffer *A = a->in[0], *B = a->in[1], *C = a->in[2], *Y = a->out[0];
    for (int i = 0; i < 3; i++)
        DC_TRY(C_EXPECT_DTYPE(a->in[i], "input", DC_F32));
    DC_TRY(C_EXPECT_DTYPE(Y, "output", DC_F32));
    st->trans_b = dc_step_int(a->step, "transB", 0) != 0;
    const char *act = dc_step_string(a->step, "activation", "");
    static const char *const names[] = {"", "Relu", "Tanh", "Sigmoid", "Gelu"};
    st->act = (act_kind)-1;
    for (int i = 0; i < 5; i++)
        if (strcmp(act, names[i]) == 0)
            st->act = (act_kind)i;
    if ((int)st->act < 0)
        return dc_error(DC_ERR_UNSUPPORTED, "activation '%s'", act);
    if (A->rank < 2 || B->rank != 2 || C->rank != 1 || Y->rank != A->rank)
        return dc_error(DC_ERR_SHAPE, "expected A [..., M, K], B 2-D, bias 1-D, Y like A; found %s, "
                        "%s, %s, %s", C_TYPE_STR(A), C_TYPE_STR(B), C_TYPE_STR(C), C_TYPE_STR(Y));
    st->K = A->dims[A->rank - 1];
    st->N = st->trans_b ? B->dims[0] : B->dims[1];
    if ((st->trans_b ? B->dims[1] : B->dims[0]) != st->K || C->dims[0] != st->N ||
        Y->dims[Y->rank - 1] != st->N ||
        memcmp(Y->dims, A->dims, sizeof(int64_t) * (size_t)(A->rank - 1)) != 0)
        return dc_error(DC_ERR_SHAPE, "%s x %s%s + %s does not give %s", C_TYPE_STR(A),
                        C_TYPE_STR(B), st->trans_b ? "^T" : "", C_TYPE_STR(C), C_TYPE_STR(Y));
    st->M = st->N ? c_numel(Y) / st->N : 0;
    st->mm = c_mm_for(DC_F32);
    st->a = c_in_data(a, 0);
    st->b = c_in_data(a, 1);
    st->bias = c_in_data(a, 2);
    st->y = c_out_data(a, 0);
    if (st->trans_b && st->y && !(st->bt = c_alloc((size_t)(st->K * st->N) * sizeof(float))))
        return dc_error(DC_ERR_NOMEM, "MatMulBias scratch");
    return DC_OK;
}

static inline float activate(act_kind act, float x)
{
    switch (act) {
    case ACT_RELU: return x < 0 ? 0 : x;
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return c_sigmoid_f32(x);
    case ACT_GELU: return 0.5f * x * (1.0f + c_erf_f32(x * 0.70710678118654752f));
    default: return x;
    }
}

static dc_status mmb_run(void *state)
{
    mmb_state *st = state;
    const float *b = st->b;
    if (st->trans_b) {
#pragma omp parallel for if (st->K * st->N > C_PAR_MIN)
        for (int64_t k = 0; k < st->K; k++)
            for (int64_t n = 0; n < st->N; n++)
                st->bt[k * st->N + n] = st->b[n * st->K + k];
        b = st->bt;
    }
    int64_t zero = 0;
    c_mm_job job = {.M = st->M, .N = st->N, .K = st->K, .batch = 1, .a = (const char *)st->a,
                    .b = (const char *)b, .c = (char *)st->y, .aoff = &zero, .boff = &zero};
    st->mm(&job);
#pragma omp parallel for if (st->M * st->N > C_PAR_MIN)
    for (int64_t m = 0; m < st->M; m++)
        for (int64_t n = 0; n < st->N; n++)
            st->y[m * st->N + n] = activate(st->act, st->y[m * st->N + n] + st->bias[n]);
    return DC_OK;
}

static void mmb_release(void *state)
{
    free(((mmb_state *)state)->bt);
}

C_KERNEL(MatMulBias, .state_size = sizeof(mmb_state), .setup = mmb_setup, .run = mmb_run,
         .release = mmb_release);
