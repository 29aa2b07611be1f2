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

/* Binds one (param, grad, m, v) quadruple at input `first` and its
 * (param', m', v') at output `out`, with lr, weight_decay, step at `sc`. */
static dc_status adamw_bind(const dc_kernel_args *a, int first, int sc, int out, adamw_state *st)
{
    const dc_plan_buffer *P = a->in[first];
    DC_TRY(C_EXPECT_DTYPE(P, "param", DC_F32));
    for (int i = 1; i < 4; i++)
        if (a->in[first + i]->dtype != DC_F32 || !c_same_shape(a->in[first + i], P))
            return dc_error(DC_ERR_SHAPE, "input %d is %s, expected the parameter's %s", first + i,
                            C_TYPE_STR(a->in[first + i]), C_TYPE_STR(P));
    for (int i = 0; i < 3; i++)
        if (c_numel(a->in[sc + i]) != 1 || a->in[sc + i]->dtype != (i == 2 ? DC_I64 : DC_F32))
            return dc_error(DC_ERR_SHAPE, "input %d must be a %s scalar, found %s", sc + i,
                            i == 2 ? "int64" : "float", C_TYPE_STR(a->in[sc + i]));
    for (int i = 0; i < 3; i++)
        if (!c_out(a, out + i) || !c_same_shape(c_out(a, out + i), P))
            return dc_error(DC_ERR_SHAPE, "output %d must have the parameter's shape %s", out + i,
                            C_TYPE_STR(P));
    st->n = c_numel(P);
    st->beta1 = dc_step_float(a->step, "beta1", 0.9f);
    st->beta2 = dc_step_float(a->step, "beta2", 0.999f);
    st->eps = dc_step_float(a->step, "epsilon", 1e-8f);
    st->lr_scale = dc_step_float(a->step, "lr_scale", 1.0f);
    st->decay = dc_step_int(a->step, "decay", 1) != 0;
    st->node = a->step->node;
    st->p = c_in_data(a, first);
    st->g = c_in_data(a, first + 1);
    st->m = c_in_data(a, first + 2);
    st->v = c_in_data(a, first + 3);
    st->lr = c_in_data(a, sc);
    st->wd = c_in_data(a, sc + 1);
    st->step = c_in_data(a, sc + 2);
    st->p_out = c_out_data(a, out);
    st->m_out = c_out_data(a, out + 1);
    st->v_out = c_out_data(a, out + 2);
    return DC_OK;
}

static dc_status adamw_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    DC_TRY(c_arity(a, 7, 7, 3, 3));
    return adamw_bind(a, 0, 4, 0, state);
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

/* ---- AdamWGroup: (lr, weight_decay, step, p1, g1, m1, v1, ...) -> (p1', m1', v1', ...) ----
 * The AdamW above over every tensor of one param group in one step. */

typedef struct adamw_group_state {
    int n;
    adamw_state *each;
} adamw_group_state;

static dc_status adamw_group_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    adamw_group_state *st = state;
    int n_in = a->step->n_inputs, n_out = a->step->n_outputs;
    if (n_in < 7 || (n_in - 3) % 4 != 0 || n_out != (n_in - 3) / 4 * 3)
        return dc_error(DC_ERR_INVALID, "AdamWGroup: %d inputs and %d outputs, expected 3 + 4n "
                        "and 3n", n_in, n_out);
    st->n = (n_in - 3) / 4;
    if (!(st->each = calloc((size_t)st->n, sizeof *st->each)))
        return dc_error(DC_ERR_NOMEM, "AdamWGroup: %d tensors", st->n);
    for (int k = 0; k < st->n; k++)
        DC_TRY(adamw_bind(a, 3 + 4 * k, 0, 3 * k, &st->each[k]));
    return DC_OK;
}

static dc_status adamw_group_run(void *state)
{
    const adamw_group_state *st = state;
    for (int k = 0; k < st->n; k++)
        DC_TRY(adamw_run(&st->each[k]));
    return DC_OK;
}

static void adamw_group_release(void *state)
{
    free(((adamw_group_state *)state)->each);
}

C_KERNEL(AdamWGroup, .state_size = sizeof(adamw_group_state), .setup = adamw_group_setup,
         .run = adamw_group_run, .release = adamw_group_release);

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

/* The teacher's parameters, the student's and the EMA's outputs (written
 * over the teacher's state) lie in the STATE region in the same order, each
 * at the next DC_PLAN_ALIGN boundary. Pairs whose three arrays all continue
 * where the previous pair's end (after the same padding) merge into one span,
 * so the update is a few loops over the flat state instead of one per tensor.
 * The padding in between is zero in both and stays zero. */
static void coalesce_pairs(ema_state *st)
{
    if (!st->n_pairs || !st->pairs[0].a) /* check: no data */
        return;
    int spans = 0;
    for (int k = 0; k < st->n_pairs; k++) {
        ema_pair *cur = &st->pairs[k];
        if (spans) {
            ema_pair *span = &st->pairs[spans - 1];
            int64_t align = DC_PLAN_ALIGN / (int64_t)sizeof(float);
            int64_t padded = (span->n + align - 1) / align * align;
            if (cur->a == span->a + padded && cur->b == span->b + padded &&
                cur->out == span->out + padded) {
                span->n = padded + cur->n;
                continue;
            }
        }
        st->pairs[spans++] = *cur;
    }
    st->n_pairs = spans;
}

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
    coalesce_pairs(st);
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
