/* Generated AdamW, AdamWGroup and EMA kernels against the c.* kernels:
 * tensors of odd sizes (a scalar, a tail that is not a multiple of 16, one
 * larger than a tile), several step counts, weight decay on and off, outputs
 * separate from and over the state they replace. */
#include <stdint.h>

#include "codegen_test_util.h"

enum { MAX_ARGS = 40 };

static int64_t numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}

/* Runs step i both ways on the same random data (second moments >= 0,
 * step count `t`); `alias[a]` >= 0 makes argument a share argument alias[a]'s
 * array (an update in place). */
static void compare_step(const cgt_so *so, const dc_plan *p, int i, int64_t t, const int *alias,
                         uint64_t *rng)
{
    const dc_plan_step *st = &p->steps[i];
    int n = st->n_inputs + st->n_outputs;
    void *gen[MAX_ARGS], *ref[MAX_ARGS];
    bool adam = strncmp(st->op_type, "AdamW", 5) == 0;
    int group = strcmp(st->op_type, "AdamWGroup") == 0;
    for (int a = 0; a < n; a++) {
        const dc_plan_buffer *b = &p->buffers[st->args[a]];
        int64_t m = numel(b);
        if (alias[a] >= 0) {
            gen[a] = gen[alias[a]];
            ref[a] = ref[alias[a]];
            continue;
        }
        gen[a] = malloc((size_t)m * dc_dtype_size(b->dtype));
        ref[a] = malloc((size_t)m * dc_dtype_size(b->dtype));
        if (b->dtype == DC_I64) {
            *(int64_t *)gen[a] = *(int64_t *)ref[a] = t;
            continue;
        }
        /* AdamW's v (4th of each quadruple) is a second moment: >= 0. */
        int quad = group ? a - 3 : a;
        bool moment2 = adam && a < st->n_inputs && quad >= 0 && quad % 4 == 3;
        for (int64_t j = 0; j < m; j++) {
            float v = cgt_uniform(rng, -1.0f, 1.0f);
            ((float *)gen[a])[j] = ((float *)ref[a])[j] = moment2 ? fabsf(v) : v;
        }
    }
    cgt_run_oracle(p, i, ref);
    cgt_run_generated(so, p, i, gen, 3);
    for (int a = st->n_inputs; a < n; a++) {
        char what[96];
        snprintf(what, sizeof what, "step %d %s t=%lld output %d", i, st->op_type, (long long)t,
                 a - st->n_inputs);
        CU_ASSERT_EQUAL(cgt_compare(gen[a], ref[a], numel(&p->buffers[st->args[a]]), 1e-6, what),
                        0);
    }
    for (int a = 0; a < n; a++)
        if (alias[a] < 0) {
            free(gen[a]);
            free(ref[a]);
        }
}

static void test_training_updates(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 4242;
    for (int tg = 0; targets[tg]; tg++) {
        dc_plan *p = cgt_plan();
        int64_t one[1] = {1}, shapes[3][2] = {{37, 1}, {5, 3331}, {1, 1}};
        int lr = cgt_buffer(p, DC_F32, 0, one), wd = cgt_buffer(p, DC_F32, 0, one);
        int step = cgt_buffer(p, DC_I64, 1, one), mom = cgt_buffer(p, DC_F32, 0, one);
        /* AdamWGroup over three tensors, with lr_scale and decay 0 and 1. */
        for (int decay = 0; decay < 2; decay++) {
            int args[3 + 12 + 9] = {lr, wd, step};
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 4; j++)
                    args[3 + 4 * k + j] = cgt_buffer(p, DC_F32, 2, shapes[k]);
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 3; j++)
                    args[15 + 3 * k + j] = cgt_buffer(p, DC_F32, 2, shapes[k]);
            dc_plan_step *st = cgt_step(p, "AdamWGroup", 15, 9, args);
            cgt_attr_float(st, "lr_scale", 0.25f);
            cgt_attr_int(st, "decay", decay);
            cgt_attr_float(st, "beta2", 0.95f);
        }
        /* AdamW on one tensor; EMA over three pairs. */
        int64_t big[1] = {20000 + 7};
        int aw[10];
        for (int j = 0; j < 4; j++)
            aw[j] = cgt_buffer(p, DC_F32, 1, big);
        aw[4] = lr;
        aw[5] = wd;
        aw[6] = step;
        for (int j = 7; j < 10; j++)
            aw[j] = cgt_buffer(p, DC_F32, 1, big);
        cgt_step(p, "AdamW", 7, 3, aw);
        int ema[10] = {mom};
        for (int k = 0; k < 3; k++) {
            ema[1 + 2 * k] = ema[2 + 2 * k] = cgt_buffer(p, DC_F32, 2, shapes[k]);
            ema[2 + 2 * k] = cgt_buffer(p, DC_F32, 2, shapes[k]);
            ema[7 + k] = cgt_buffer(p, DC_F32, 2, shapes[k]);
        }
        cgt_step(p, "EMA", 7, 3, ema);
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[tg], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, 4);
            CU_ASSERT_EQUAL(dc_step_int(&p->steps[0], "llvm_extent", 0), 1 + 3 + 1);
            int separate[MAX_ARGS], group_in_place[MAX_ARGS], adamw_in_place[MAX_ARGS],
                ema_in_place[MAX_ARGS];
            for (int a = 0; a < MAX_ARGS; a++)
                separate[a] = group_in_place[a] = adamw_in_place[a] = ema_in_place[a] = -1;
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 3; j++) /* p', m', v' over p, m, v */
                    group_in_place[15 + 3 * k + j] = 3 + 4 * k + (j == 0 ? 0 : j + 1);
            adamw_in_place[7] = 0;
            adamw_in_place[8] = 2;
            adamw_in_place[9] = 3;
            for (int k = 0; k < 3; k++)
                ema_in_place[7 + k] = 1 + 2 * k;
            static const int64_t steps[] = {1, 7, 1000};
            for (int s = 0; s < 3; s++) {
                compare_step(&so, p, 0, steps[s], separate, &rng);
                compare_step(&so, p, 1, steps[s], s == 1 ? group_in_place : separate, &rng);
                compare_step(&so, p, 2, steps[s], s == 2 ? adamw_in_place : separate, &rng);
            }
            compare_step(&so, p, 3, 0, separate, &rng);
            compare_step(&so, p, 3, 0, ema_in_place, &rng);
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* A step count below 1 cannot be reported by a generated kernel: it writes NaN. */
static void test_adamw_bad_step(void)
{
    dc_plan *p = cgt_plan();
    int64_t one[1] = {1}, d[1] = {19};
    int args[10];
    for (int j = 0; j < 4; j++)
        args[j] = cgt_buffer(p, DC_F32, 1, d);
    args[4] = cgt_buffer(p, DC_F32, 0, one);
    args[5] = cgt_buffer(p, DC_F32, 0, one);
    args[6] = cgt_buffer(p, DC_I64, 1, one);
    for (int j = 7; j < 10; j++)
        args[j] = cgt_buffer(p, DC_F32, 1, d);
    cgt_step(p, "AdamW", 7, 3, args);
    int n_generated;
    cgt_so so = {0};
    if (cgt_generate(p, "x86-64-v2", &so, &n_generated)) {
        float x[4][19] = {{0}}, out[3][19], lr = 0.1f, wd = 0.0f;
        int64_t t = 0;
        void *data[10] = {x[0], x[1], x[2], x[3], &lr, &wd, &t, out[0], out[1], out[2]};
        cgt_run_generated(&so, p, 0, data, 1);
        CU_ASSERT(isnan(out[0][0]) && isnan(out[0][18]));
    }
    cgt_unload(&so);
    dc_plan_destroy(p);
}

void register_codegen_training(void)
{
    static const dc_test_case tests[] = {
        {"training_updates", test_training_updates},
        {"adamw_bad_step", test_adamw_bad_step},
        {NULL, NULL},
    };
    dc_add_suite("codegen_training", tests);
}
