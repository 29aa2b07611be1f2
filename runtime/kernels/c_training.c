/* The training-state kernels: AdamW and EMA over f32 tensors. Outputs may be
 * the very buffers of the state they update (the planner runs them in place):
 * each element is read before it is written, so aliasing is safe. */
#include <math.h>
#include <stdlib.h>

#include "kernels/c_util.h"

/* ---- AdamW: (param, grad, m, v, lr, weight_decay, step) -> (param', m', v') ---- */

typedef struct adamw_state {
    float *p, *m, *v, *p_out, *m_out, *v_out;
    const float *g, *lr, *wd;
    const int64_t *step;
    int64_t n;
    float beta1, beta2, eps, lr_scale;
    int decay;
    const char *node;
} adamw_state;

static dc_status adamw_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    adamw_state *st = state;
    DC_TRY(c_arity(a, 7, 7, 3, 3));
    const dc_plan_buffer *P = a->in[0];
    DC_TRY(C_EXPECT_DTYPE(P, "param", DC_F32));
    for (int i = 1; i < 4; i++)
        if (a->in[i]->dtype != DC_F32 || !c_same_shape(a->in[i], P))
            return dc_error(DC_ERR_SHAPE, "input %d is %s, expected the parameter's %s", i,
                            C_TYPE_STR(a->in[i]), C_TYPE_STR(P));
    for (int i = 4; i < 7; i++)
        if (c_numel(a->in[i]) != 1 || a->in[i]->dtype != (i == 6 ? DC_I64 : DC_F32))
            return dc_error(DC_ERR_SHAPE, "input %d must be a %s scalar, found %s", i,
                            i == 6 ? "int64" : "float", C_TYPE_STR(a->in[i]));
    st->n = c_numel(P);
    st->beta1 = dc_step_float(a->step, "beta1", 0.9f);
    st->beta2 = dc_step_float(a->step, "beta2", 0.999f);
    st->eps = dc_step_float(a->step, "epsilon", 1e-8f);
    st->lr_scale = dc_step_float(a->step, "lr_scale", 1.0f);
    st->decay = dc_step_int(a->step, "decay", 1) != 0;
    st->node = a->step->node;
    st->p = c_in_data(a, 0);
    st->g = c_in_data(a, 1);
    st->m = c_in_data(a, 2);
    st->v = c_in_data(a, 3);
    st->lr = c_in_data(a, 4);
    st->wd = c_in_data(a, 5);
    st->step = c_in_data(a, 6);
    st->p_out = c_out_data(a, 0);
    st->m_out = c_out_data(a, 1);
    st->v_out = c_out_data(a, 2);
    return DC_OK;
}

/* PyTorch's order of operations (torch.optim.AdamW, single tensor):
 *   p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²
 *   p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps) */
static dc_status adamw_run(void *state)
{
    const adamw_state *st = state;
    int64_t t = *st->step;
    if (t < 1)
        return dc_error(DC_ERR_INVALID, "AdamW '%s': step %lld, expected >= 1", st->node,
                        (long long)t);
    const float lr = *st->lr * st->lr_scale, wd = st->decay ? *st->wd : 0.0f;
    const float b1 = st->beta1, b2 = st->beta2, eps = st->eps;
    const float shrink = 1.0f - lr * wd;
    const float step_size = (float)(lr / (1.0 - pow(b1, (double)t)));
    const float bias2_sqrt = (float)sqrt(1.0 - pow(b2, (double)t));
#pragma omp parallel for simd if (st->n > C_PAR_MIN)
    for (int64_t i = 0; i < st->n; i++) {
        float g = st->g[i];
        float m = b1 * st->m[i] + (1.0f - b1) * g;
        float v = b2 * st->v[i] + (1.0f - b2) * g * g;
        float denom = sqrtf(v) / bias2_sqrt + eps;
        st->p_out[i] = st->p[i] * shrink - step_size * m / denom;
        st->m_out[i] = m;
        st->v_out[i] = v;
    }
    return DC_OK;
}

C_KERNEL(AdamW, .state_size = sizeof(adamw_state), .setup = adamw_setup, .run = adamw_run);

/* ---- EMA: (momentum, a1, b1, a2, b2, ...) -> (a1', a2', ...), a' = m·a + (1−m)·b ---- */

typedef struct ema_pair {
    const float *a, *b;
    float *out;
    int64_t n;
} ema_pair;

typedef struct ema_state {
    const float *momentum;
    int n_pairs;
    ema_pair *pairs;
} ema_state;

static dc_status ema_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    ema_state *st = state;
    int pairs = a->step->n_outputs;
    if (pairs < 1 || a->step->n_inputs != 1 + 2 * pairs)
        return dc_error(DC_ERR_INVALID, "EMA: %d inputs and %d outputs, expected 1 + 2n and n",
                        a->step->n_inputs, pairs);
    if (c_numel(a->in[0]) != 1 || a->in[0]->dtype != DC_F32)
        return dc_error(DC_ERR_SHAPE, "momentum must be a float scalar, found %s",
                        C_TYPE_STR(a->in[0]));
    st->momentum = c_in_data(a, 0);
    st->n_pairs = pairs;
    st->pairs = c_alloc((size_t)pairs * sizeof *st->pairs);
    if (!st->pairs)
        return dc_error(DC_ERR_NOMEM, "EMA: %d pairs", pairs);
    for (int k = 0; k < pairs; k++) {
        const dc_plan_buffer *A = a->in[1 + 2 * k], *B = a->in[2 + 2 * k], *Y = a->out[k];
        DC_TRY(C_EXPECT_DTYPE(A, "state", DC_F32));
        if (B->dtype != DC_F32 || !c_same_shape(A, B) || !c_same_shape(A, Y))
            return dc_error(DC_ERR_SHAPE, "pair %d: %s and %s differ", k, C_TYPE_STR(A),
                            C_TYPE_STR(B));
        st->pairs[k].a = c_in_data(a, 1 + 2 * k);
        st->pairs[k].b = c_in_data(a, 2 + 2 * k);
        st->pairs[k].out = c_out_data(a, k);
        st->pairs[k].n = c_numel(A);
    }
    return DC_OK;
}

static dc_status ema_run(void *state)
{
    const ema_state *st = state;
    const float m = *st->momentum;
    for (int k = 0; k < st->n_pairs; k++) {
        const float *a = st->pairs[k].a, *b = st->pairs[k].b;
        float *out = st->pairs[k].out;
        int64_t n = st->pairs[k].n;
#pragma omp parallel for simd if (n > C_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            out[i] = m * a[i] + (1.0f - m) * b[i];
    }
    return DC_OK;
}

static void ema_release(void *state)
{
    free(((ema_state *)state)->pairs);
}

C_KERNEL(EMA, .state_size = sizeof(ema_state), .setup = ema_setup, .run = ema_run,
         .release = ema_release);
