/* Generated Softmax, LogSoftmax and LayerNormalization kernels against the
 * c.* kernels: rows of 1, odd and long lengths, an axis followed by size-1
 * dims, LayerNorm with and without bias and saved statistics, in place;
 * ReduceSum/ReduceMean over any axes (separated ones too), ArgMax/ArgMin. */
#include <stdint.h>

#include "codegen_test_util.h"

static int64_t numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}

static void compare_all(const cgt_so *so, const dc_plan *p, uint64_t *rng, int in_place)
{
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        int n = st->n_inputs + st->n_outputs;
        void *gen[8], *ref[8];
        for (int a = 0; a < n; a++) {
            int64_t m = numel(&p->buffers[st->args[a]]);
            gen[a] = malloc((size_t)m * sizeof(float));
            ref[a] = malloc((size_t)m * sizeof(float));
            float scale = cgt_uniform(rng, 0.5f, 30.0f);
            for (int64_t j = 0; j < m; j++)
                ((float *)gen[a])[j] = ((float *)ref[a])[j] = scale * cgt_uniform(rng, -1, 1);
        }
        cgt_run_oracle(p, i, ref);
        void *out = gen[st->n_inputs];
        if (in_place)
            gen[st->n_inputs] = gen[0];
        cgt_run_generated(so, p, i, gen, 1 + i % 3);
        for (int a = st->n_inputs; a < n; a++) {
            char what[96];
            snprintf(what, sizeof what, "step %d %s output %d", i, st->op_type, a - st->n_inputs);
            CU_ASSERT_EQUAL(cgt_compare(gen[a], ref[a], numel(&p->buffers[st->args[a]]), 1e-5,
                                        what), 0);
        }
        gen[st->n_inputs] = out;
        for (int a = 0; a < n; a++) {
            free(gen[a]);
            free(ref[a]);
        }
    }
}

static void test_row_kernels(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 99;
    static const int64_t lens[] = {1, 7, 16, 37, 1001};
    for (int t = 0; targets[t]; t++) {
        for (int in_place = 0; in_place < 2; in_place++) {
            dc_plan *p = cgt_plan();
            for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
                int64_t d[3] = {3 + (int64_t)k, lens[k], 1};
                /* Along the last real axis, along a middle one (columns: 5 and
                 * 19 of them, vector blocks and tail columns). */
                int64_t mid[3] = {2, lens[k], 5}, first[2] = {lens[k], 19};
                for (int lg = 0; lg < 2; lg++) {
                    int a[2] = {cgt_buffer(p, DC_F32, 3, d), cgt_buffer(p, DC_F32, 3, d)};
                    cgt_attr_int(cgt_step(p, lg ? "LogSoftmax" : "Softmax", 1, 1, a), "axis", 1);
                    int b[2] = {cgt_buffer(p, DC_F32, 3, mid), cgt_buffer(p, DC_F32, 3, mid)};
                    cgt_attr_int(cgt_step(p, lg ? "LogSoftmax" : "Softmax", 1, 1, b), "axis", -2);
                    int c[2] = {cgt_buffer(p, DC_F32, 2, first), cgt_buffer(p, DC_F32, 2, first)};
                    cgt_attr_int(cgt_step(p, lg ? "LogSoftmax" : "Softmax", 1, 1, c), "axis", 0);
                }
                int64_t x[3] = {2, 3 + (int64_t)k, lens[k]}, g[1] = {lens[k]}, s[3] = {2, x[1], 1};
                int full = k % 2, n_in = full ? 3 : 2, n_out = full ? 3 : 1;
                int a[6] = {cgt_buffer(p, DC_F32, 3, x), cgt_buffer(p, DC_F32, 1, g)};
                if (full)
                    a[2] = cgt_buffer(p, DC_F32, 1, g);
                a[n_in] = cgt_buffer(p, DC_F32, 3, x);
                if (full) {
                    a[n_in + 1] = cgt_buffer(p, DC_F32, 3, s);
                    a[n_in + 2] = cgt_buffer(p, DC_F32, 3, s);
                }
                dc_plan_step *st = cgt_step(p, "LayerNormalization", n_in, n_out, a);
                cgt_attr_int(st, "axis", -1);
                cgt_attr_float(st, "epsilon", 1e-6f);
            }
            int n_generated;
            cgt_so so = {0};
            if (cgt_generate(p, targets[t], &so, &n_generated)) {
                CU_ASSERT_EQUAL(n_generated, p->n_steps);
                compare_all(&so, p, &rng, in_place);
            }
            cgt_unload(&so);
            dc_plan_destroy(p);
        }
    }
}

/* The heads' soft cross-entropy: loss and gradient, rows of 1 to 65536 logits. */
static void test_cross_entropy(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 5;
    static const int64_t ks[] = {1, 5, 16, 1000, 65536 + 3};
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        int64_t one[1] = {1};
        int tau = cgt_buffer(p, DC_F32, 0, one);
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            int64_t sk[2] = {3, ks[k]}, r[1] = {3};
            int grad = k != 2;
            int a[5] = {cgt_buffer(p, DC_F32, 2, sk), cgt_buffer(p, DC_F32, 2, sk), tau,
                        cgt_buffer(p, DC_F32, 1, r), grad ? cgt_buffer(p, DC_F32, 2, sk) : -1};
            cgt_step(p, "CrossEntropySoft", 3, 1 + grad, a);
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_step *st = &p->steps[i];
                int64_t n = numel(&p->buffers[st->args[0]]), R = 3;
                float *s = malloc((size_t)n * 4), *q = malloc((size_t)n * 4);
                float *g[2] = {malloc((size_t)n * 4), malloc((size_t)n * 4)}, l[2][3];
                float temp = i % 2 ? 0.04f : 0.1f;
                for (int64_t j = 0; j < n; j++) {
                    s[j] = cgt_uniform(&rng, -2.0f, 2.0f);
                    q[j] = cgt_uniform(&rng, 0.0f, 2.0f / (float)(n / R));
                }
                void *ref[5] = {s, q, &temp, l[0], g[0]}, *gen[5] = {s, q, &temp, l[1], g[1]};
                cgt_run_oracle(p, i, ref);
                cgt_run_generated(&so, p, i, gen, 2);
                char what[64];
                snprintf(what, sizeof what, "CrossEntropySoft K=%lld", (long long)(n / R));
                CU_ASSERT_EQUAL(cgt_compare(l[1], l[0], R, 1e-5, what), 0);
                if (st->n_outputs == 2)
                    CU_ASSERT_EQUAL(cgt_compare(g[1], g[0], n, 1e-5, what), 0);
                free(s);
                free(q);
                free(g[0]);
                free(g[1]);
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* Attention and AttentionGrad: products by sgemm, the rows generated, the
 * scores in the thread's scratch; odd token counts, one head, head dims below
 * and above a vector, with and without the logsumexp output. */
static void test_attention(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 23;
    static const int64_t cases[][4] = {{2, 5, 1, 3}, {1, 17, 3, 8}, {2, 50, 2, 16},
                                       {1, 1, 2, 4}, {3, 37, 4, 24}};
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int64_t B = cases[c][0], N = cases[c][1], H = cases[c][2], D = H * cases[c][3];
            int64_t qkv[3] = {B, N, 3 * D}, o[3] = {B, N, D}, lse[3] = {B, H, N};
            int fw[3] = {cgt_buffer(p, DC_F32, 3, qkv), cgt_buffer(p, DC_F32, 3, o),
                         c % 2 ? -1 : cgt_buffer(p, DC_F32, 3, lse)};
            dc_plan_step *st = cgt_step(p, "Attention", 1, 2, fw);
            cgt_attr_int(st, "num_heads", H);
            cgt_attr_float(st, "scale", 1.0f / sqrtf((float)cases[c][3]));
            int bw[5] = {cgt_buffer(p, DC_F32, 3, o), fw[0], fw[1], cgt_buffer(p, DC_F32, 3, lse),
                         cgt_buffer(p, DC_F32, 3, qkv)};
            st = cgt_step(p, "AttentionGrad", 4, 1, bw);
            cgt_attr_int(st, "num_heads", H);
            cgt_attr_float(st, "scale", 1.0f / sqrtf((float)cases[c][3]));
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i += 2) {
                const dc_plan_step *fst = &p->steps[i], *bst = &p->steps[i + 1];
                CU_ASSERT(dc_step_int(fst, "llvm_scratch", 0) > 0);
                int64_t nq = numel(&p->buffers[fst->args[0]]), no = numel(&p->buffers[fst->args[1]]);
                int64_t nl = numel(&p->buffers[bst->args[3]]);
                float *x = malloc((size_t)nq * 4), *dout = malloc((size_t)no * 4);
                float *out[2] = {malloc((size_t)no * 4), malloc((size_t)no * 4)};
                float *l[2] = {malloc((size_t)nl * 4), malloc((size_t)nl * 4)};
                float *dx[2] = {malloc((size_t)nq * 4), malloc((size_t)nq * 4)};
                for (int64_t j = 0; j < nq; j++)
                    x[j] = cgt_uniform(&rng, -2.0f, 2.0f);
                for (int64_t j = 0; j < no; j++)
                    dout[j] = cgt_uniform(&rng, -1.0f, 1.0f);
                bool has_lse = fst->args[2] >= 0;
                for (int k = 0; k < 2; k++) {
                    void *fa[3] = {x, out[k], has_lse ? l[k] : NULL};
                    if (k == 0)
                        cgt_run_oracle(p, i, fa);
                    else
                        cgt_run_generated(&so, p, i, fa, 2);
                }
                char what[80];
                snprintf(what, sizeof what, "Attention %s", p->buffers[fst->args[0]].name);
                CU_ASSERT_EQUAL(cgt_compare(out[1], out[0], no, 2e-5, what), 0);
                if (has_lse)
                    CU_ASSERT_EQUAL(cgt_compare(l[1], l[0], nl, 2e-5, what), 0);
                float *lse_in = l[0];
                if (!has_lse) {
                    /* The backward's LSE by hand: log Σ_j exp(s·q_r·k_j), in
                     * double (these cases have at most 64 tokens). */
                    const dc_plan_buffer *qb = &p->buffers[fst->args[0]];
                    int64_t B = qb->dims[0], N = qb->dims[1], D = qb->dims[2] / 3;
                    int64_t H = dc_step_int(fst, "num_heads", 1), hd = D / H;
                    double s = dc_step_float(fst, "scale", 1.0f);
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t h = 0; h < H; h++)
                            for (int64_t r = 0; r < N; r++) {
                                double m = -INFINITY, sum = 0, sc[64];
                                for (int64_t j = 0; j < N; j++) {
                                    double acc = 0;
                                    for (int64_t e = 0; e < hd; e++)
                                        acc += (double)x[(b * N + r) * 3 * D + h * hd + e] *
                                               x[(b * N + j) * 3 * D + D + h * hd + e];
                                    sc[j] = s * acc;
                                    m = fmax(m, sc[j]);
                                }
                                for (int64_t j = 0; j < N; j++)
                                    sum += exp(sc[j] - m);
                                lse_in[(b * H + h) * N + r] = (float)(m + log(sum));
                            }
                }
                for (int k = 0; k < 2; k++) {
                    void *ba[5] = {dout, x, out[0], lse_in, dx[k]};
                    if (k == 0)
                        cgt_run_oracle(p, i + 1, ba);
                    else
                        cgt_run_generated(&so, p, i + 1, ba, 3);
                }
                snprintf(what, sizeof what, "AttentionGrad %s", p->buffers[fst->args[0]].name);
                CU_ASSERT_EQUAL(cgt_compare(dx[1], dx[0], nq, 2e-5, what), 0);
                free(x);
                free(dout);
                for (int k = 0; k < 2; k++) {
                    free(out[k]);
                    free(l[k]);
                    free(dx[k]);
                }
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* LayerNormGrad: dX by rows, dScale and dB by column blocks (vector blocks
 * and single tail columns), with and without the forward's statistics. */
static void test_layer_norm_grad(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 17;
    static const int64_t ds[] = {1, 13, 48, 385};
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
            for (int stats = 0; stats < 2; stats++) {
                int64_t x[3] = {2, 5 + (int64_t)k, ds[k]}, g[1] = {ds[k]}, s[3] = {2, x[1], 1};
                int a[8] = {cgt_buffer(p, DC_F32, 3, x), cgt_buffer(p, DC_F32, 3, x),
                            cgt_buffer(p, DC_F32, 1, g)}, n = 3;
                if (stats) {
                    a[n++] = cgt_buffer(p, DC_F32, 3, s);
                    a[n++] = cgt_buffer(p, DC_F32, 3, s);
                }
                int n_in = n;
                a[n++] = cgt_buffer(p, DC_F32, 3, x);
                if (stats) {
                    a[n++] = k == 1 ? -1 : cgt_buffer(p, DC_F32, 1, g);
                    a[n++] = cgt_buffer(p, DC_F32, 1, g);
                }
                dc_plan_step *st = cgt_step(p, "LayerNormGrad", n_in, n - n_in, a);
                cgt_attr_int(st, "axis", 2);
                cgt_attr_float(st, "epsilon", 1e-5f);
            }
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_step *st = &p->steps[i];
                int n = st->n_inputs + st->n_outputs;
                void *gen[8] = {0}, *ref[8] = {0};
                for (int a = 0; a < n; a++) {
                    if (st->args[a] < 0)
                        continue;
                    int64_t m = numel(&p->buffers[st->args[a]]);
                    gen[a] = malloc((size_t)m * 4);
                    ref[a] = malloc((size_t)m * 4);
                    for (int64_t j = 0; j < m; j++) /* a stats input (index 4): 1/σ > 0 */
                        ((float *)gen[a])[j] = ((float *)ref[a])[j] =
                            a == 4 ? cgt_uniform(&rng, 0.5f, 2.0f) : cgt_uniform(&rng, -2, 2);
                }
                cgt_run_oracle(p, i, ref);
                cgt_run_generated(&so, p, i, gen, 3);
                for (int a = st->n_inputs; a < n; a++) {
                    if (st->args[a] < 0)
                        continue;
                    char what[64];
                    snprintf(what, sizeof what, "LayerNormGrad step %d output %d", i,
                             a - st->n_inputs);
                    CU_ASSERT_EQUAL(cgt_compare(gen[a], ref[a], numel(&p->buffers[st->args[a]]),
                                                2e-5, what), 0);
                }
                for (int a = 0; a < n; a++) {
                    free(gen[a]);
                    free(ref[a]);
                }
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* ReduceSum and ReduceMean: leading, trailing and middle axes, size-1 dims,
 * keepdims on and off, all axes. */
static void test_reduce_axes(void)
{
    static const struct {
        int rank;
        int64_t dims[4];
        int n_axes;
        int64_t axes[3];
        int keep;
    } cases[] = {
        {3, {6, 7, 37}, 2, {0, 1}, 0}, {3, {6, 7, 37}, 1, {2}, 1},   {3, {6, 7, 37}, 1, {-2}, 0},
        {4, {1, 5, 1, 9}, 2, {0, 3}, 1}, {2, {3, 16}, 0, {0}, 0},     {2, {1000, 3}, 1, {0}, 0},
        {3, {2, 1, 33}, 1, {1}, 0},     {1, {4099}, 1, {0}, 1},
        /* reduced axes separated by kept ones */
        {3, {3, 4, 5}, 2, {0, 2}, 0},   {4, {3, 5, 4, 7}, 2, {1, 3}, 1},
        {4, {3, 5, 4, 19}, 2, {0, 2}, 0}, {4, {2, 6, 3, 17}, 3, {0, 1, 3}, 0},
        {4, {5, 1, 3, 1}, 2, {0, 2}, 1},
    };
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 31;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            for (int mean = 0; mean < 2; mean++) {
                int64_t ydims[4];
                int yr = 0;
                for (int d = 0; d < cases[c].rank; d++) {
                    bool red = cases[c].n_axes == 0;
                    for (int i = 0; i < cases[c].n_axes; i++)
                        red = red || cases[c].axes[i] == d ||
                              cases[c].axes[i] + cases[c].rank == d;
                    if (!red || cases[c].keep)
                        ydims[yr++] = red ? 1 : cases[c].dims[d];
                }
                int a[2] = {cgt_buffer(p, DC_F32, cases[c].rank, cases[c].dims),
                            cgt_buffer(p, DC_F32, yr, ydims)};
                dc_plan_step *st = cgt_step(p, mean ? "ReduceMean" : "ReduceSum", 1, 1, a);
                if (cases[c].n_axes)
                    cgt_attr_ints(st, "axes", cases[c].n_axes, cases[c].axes);
                cgt_attr_int(st, "keepdims", cases[c].keep);
            }
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            compare_all(&so, p, &rng, 0);
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* ArgMax and ArgMin along every kind of axis (a row, columns in vector
 * blocks and tails), f32, f64, i32 and u8, first or last index, with ties
 * and NaNs: the same int64 indices as the c.* kernels. */
static void test_argmax(void)
{
    static const struct {
        int rank;
        int64_t dims[3];
        int axis;
    } cases[] = {
        {2, {7, 13}, 1}, {3, {5, 37, 19}, 1}, {1, {40}, 0}, {3, {3, 1, 9}, -1}, {3, {6, 4, 33}, 0},
    };
    static const dc_dtype types[] = {DC_F32, DC_F64, DC_I32, DC_U8};
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 5;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int k = 0; k < 8; k++) {
                int rank = cases[c].rank, axis = cases[c].axis < 0 ? cases[c].axis + rank
                                                                   : cases[c].axis;
                int64_t y[3];
                memcpy(y, cases[c].dims, sizeof y);
                y[axis] = 1;
                int a[2] = {cgt_buffer(p, types[k % 4], rank, cases[c].dims),
                            cgt_buffer(p, DC_I64, rank, y)};
                dc_plan_step *st = cgt_step(p, k % 2 ? "ArgMin" : "ArgMax", 1, 1, a);
                cgt_attr_int(st, "axis", cases[c].axis);
                cgt_attr_int(st, "select_last_index", k / 4);
            }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_buffer *X = &p->buffers[p->steps[i].args[0]];
                const dc_plan_buffer *Y = &p->buffers[p->steps[i].args[1]];
                int64_t n = numel(X), m = numel(Y);
                void *x = malloc((size_t)n * 8);
                int64_t *ref = malloc((size_t)m * 8), *gen = malloc((size_t)m * 8);
                for (int64_t j = 0; j < n; j++) {
                    int v = (int)(cgt_rand(&rng) % 9);
                    bool nan = cgt_rand(&rng) % 50 == 0;
                    if (X->dtype == DC_F32)
                        ((float *)x)[j] = nan ? NAN : (float)v - 4.5f;
                    else if (X->dtype == DC_F64)
                        ((double *)x)[j] = nan ? NAN : v * 0.25;
                    else if (X->dtype == DC_I32)
                        ((int32_t *)x)[j] = v - 4;
                    else
                        ((uint8_t *)x)[j] = (uint8_t)(v * 31);
                }
                cgt_run_oracle(p, i, (void *[]){x, ref});
                cgt_run_generated(&so, p, i, (void *[]){x, gen}, 1 + i % 3);
                CU_ASSERT(memcmp(ref, gen, (size_t)m * 8) == 0);
                if (memcmp(ref, gen, (size_t)m * 8) != 0)
                    fprintf(stderr, "\n    step %d %s on %s differs", i, p->steps[i].op_type,
                            dc_dtype_name(X->dtype));
                free(x);
                free(ref);
                free(gen);
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

static void test_row_refusals(void)
{
    dc_plan *p = cgt_plan();
    int64_t d[2] = {4, 6}, g[1] = {3};
    int x = cgt_buffer(p, DC_F32, 2, d), y = cgt_buffer(p, DC_F32, 2, d);
    int gs = cgt_buffer(p, DC_F32, 1, g), x64 = cgt_buffer(p, DC_F64, 2, d);
    cgt_attr_int(cgt_step(p, "Softmax", 1, 1, (const int[]){x64, x64}), "axis", 0);
    cgt_attr_int(cgt_step(p, "LayerNormalization", 2, 1, (const int[]){x, gs, y}), "axis", 1);
    int64_t d3[3] = {3, 4, 5};
    int x3 = cgt_buffer(p, DC_F32, 3, d3);
    dc_plan_step *st = cgt_step(p, "ReduceSum", 1, 1, (const int[]){x3, x3});
    cgt_attr_int(st, "noop_with_empty_axes", 1);
    CU_ASSERT(cgt_refused(p, 0, "f32"));
    CU_ASSERT(cgt_refused(p, 1, "broadcasting"));
    CU_ASSERT(cgt_refused(p, 2, "copy"));
    dc_plan_destroy(p);
}

void register_codegen_reduce(void)
{
    static const dc_test_case tests[] = {
        {"row_kernels", test_row_kernels},
        {"cross_entropy", test_cross_entropy},
        {"layer_norm_grad", test_layer_norm_grad},
        {"attention", test_attention},
        {"reduce_axes", test_reduce_axes},
        {"argmax", test_argmax},
        {"row_refusals", test_row_refusals},
        {NULL, NULL},
    };
    dc_add_suite("codegen_reduce", tests);
}
