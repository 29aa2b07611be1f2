/* The projection head and the DINO / iBOT / KoLeo losses (graphs/heads.c,
 * graphs/losses.c):
 *   - the reference values of graphs/DINOV2.md §9, through the
 *     reference interpreter and through the compiled plan (real kernels);
 *   - Sinkhorn-Knopp against the official iteration written out in C;
 *   - float64 finite-difference checks of every loss and of the head;
 *   - parity with PyTorch (Lightly's modules, tests/models/heads_losses_reference.py):
 *     losses within 1e-5 relative, gradients within 1e-4. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "dc_npy.h"
#include "ema.h"
#include "heads.h"
#include "interpret.h"
#include "losses.h"
#include "pipeline.h"
#include "run_model.h"
#include "test_util.h"

#define MODELS DINOC_SOURCE_DIR "/tests/models/"

enum { MAX_IO = 16 };

/* ---- tensors ----------------------------------------------------------------- */

/* A tensor of `dtype` (f32 or f64) holding `data` (doubles; NULL = zeros). */
static dc_tensor *make(dc_dtype dtype, int rank, const int64_t *dims, const double *data)
{
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, dtype, rank, dims));
    for (uint64_t i = 0; t && data && i < dc_tensor_numel(t); i++) {
        if (dtype == DC_F64)
            ((double *)t->data)[i] = data[i];
        else
            ((float *)t->data)[i] = (float)data[i];
    }
    return t;
}

static dc_tensor *scalar_f32(double v) { return make(DC_F32, 0, NULL, &v); }

static dc_tensor *load_npy(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, MODELS "hl_%s.npy", name);
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_npy_load(path, &t));
    return t;
}

/* max |got − want| / max |want| over a whole tensor. */
static double relative_error(const dc_tensor *got, const dc_tensor *want)
{
    if (!got || !want || dc_tensor_numel(got) != dc_tensor_numel(want))
        return INFINITY;
    double diff = 0, scale = 1e-30;
    for (uint64_t i = 0; i < dc_tensor_numel(want); i++) {
        double a = dc_tensor_get_f64(got, i), b = dc_tensor_get_f64(want, i);
        diff = isnan(a) ? INFINITY : fmax(diff, fabs(a - b));
        scale = fmax(scale, fabs(b));
    }
    return diff / scale;
}

static void expect_relative(const char *what, const dc_tensor *got, const dc_tensor *want,
                            double tol)
{
    double err = relative_error(got, want);
    if (!(err <= tol))
        fprintf(stderr, "\n    %s: relative error %.3g (tolerance %.1g)\n", what, err, tol);
    CU_ASSERT(err <= tol);
}

static void expect_value(const char *what, const dc_tensor *got, uint64_t i, double want,
                         double tol)
{
    double v = got ? dc_tensor_get_f64(got, i) : NAN;
    if (!(fabs(v - want) <= tol))
        fprintf(stderr, "\n    %s[%llu]: %.9g, expected %.9g\n", what, (unsigned long long)i, v,
                want);
    CU_ASSERT(fabs(v - want) <= tol);
}

/* ---- running a graph both ways ------------------------------------------------ */

/* A graph whose data comes in through inputs (so lowering cannot fold it). */
typedef struct graph_run {
    dc_graph *g;
    dc_named_tensor in[MAX_IO];
    int n_in;
} graph_run;

/* A graph input named `name` holding `t` (taken). */
static dc_value *feed(graph_run *r, const char *name, dc_tensor *t)
{
    dc_value *v = t ? dc_input(r->g, name, t->dtype, t->rank, t->dims) : NULL;
    r->in[r->n_in++] = (dc_named_tensor){v ? v->name : name, t};
    return v;
}

/* Runs r->g with the reference interpreter (outs[0]) and then compiled by
 * dc_pipeline_compile and run by the runtime's kernels (outs[1]); every output both ways.
 * Frees the inputs and the graph. */
static void run_twice(graph_run *r, dc_tensor *outs[2][MAX_IO])
{
    dc_graph *g = r->g;
    memset(outs, 0, 2 * MAX_IO * sizeof outs[0][0]);
    DC_ASSERT_OK(dc_build_status(g));
    DC_ASSERT_OK(dc_graph_verify(g));
    int n_out = g->n_outputs;
    CU_ASSERT_FATAL(n_out <= MAX_IO);
    dc_tensor *ins[MAX_IO];
    for (int i = 0; i < r->n_in; i++)
        ins[i] = r->in[i].tensor;
    DC_ASSERT_OK(dc_interpret(g, ins, r->n_in, outs[0]));
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    if (plan) {
        dc_tensor **got = NULL;
        int n_got = 0;
        DC_ASSERT_OK(dc_run_plan(plan, r->in, r->n_in, NULL, NULL, &got, &n_got));
        CU_ASSERT_EQUAL(n_got, n_out);
        for (int i = 0; i < n_got && i < MAX_IO; i++)
            outs[1][i] = got[i];
        free(got);
        dc_plan_destroy(plan);
    }
    for (int i = 0; i < r->n_in; i++)
        dc_tensor_destroy(r->in[i].tensor);
    dc_graph_destroy(g);
}

static void free_outs(dc_tensor *outs[2][MAX_IO])
{
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < MAX_IO; i++)
            dc_tensor_destroy(outs[w][i]);
}

static const char *const way[2] = {"interpreter", "compiled"};

/* How close a reference value must come: the interpreter computes in doubles
 * from f32 data; the compiled plan runs oneDNN's f32 kernels, whose Log (also
 * inside LogSoftmax) is only good to about 2e-6 relative in oneDNN 2.6. */
static double ref_tol(int k, double want)
{
    return k == 0 ? 2e-7 * fmax(1, fabs(want)) : 1e-5 * fmax(1e-2, fabs(want));
}

/* The value that state `s` takes after the step (the EMA node's output). */
static dc_value *next_value(dc_graph *g, dc_value *s)
{
    const dc_state_update *u = dc_graph_state_update(g, s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    return u->next;
}

/* ---- reference values (DINOV2.md §9) ------------------------------------------------------ */

/* K=2, τ_t=0.1, τ_s=0.2, center 0, masks [[T,F],[T,F]], [[F,F],[F,T]],
 * [[F,F],[F,F]]: image 0 has 2 masked tokens, image 1 one, image 2 none, so
 * w = (1/2, 1/2, 1) over n_images = 3 → 0.405698 (0.405698463). Padded to M = 5 with two
 * junk rows of weight 0, which must change neither the loss nor the center. */
static void test_ibot_reference(void)
{
    for (int padded = 0; padded < 2; padded++) {
        const int m = padded ? 5 : 3;
        const double teacher[] = {.1, .2, .3, .4, .5, .6, 7, -3, 100, 100};
        const double student[] = {.7, .8, .9, 1.0, 1.1, 1.2, -5, 9, 100, -100};
        const double weights[] = {0.5, 0.5, 1.0, 0, 0};
        const int64_t tk[] = {m, 2}, wk[] = {m}, ck[] = {1, 2};
        graph_run r = {.g = dc_graph_create("ibot_reference")};
        dc_value *t = feed(&r, "teacher", make(DC_F32, 2, tk, teacher));
        dc_value *s = feed(&r, "student", make(DC_F32, 2, tk, student));
        dc_value *w = feed(&r, "weights", make(DC_F32, 1, wk, weights));
        dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.1));
        dc_value *c = dc_state(r.g, "ibot_center", make(DC_F32, 2, ck, NULL));
        DC_ASSERT_OK(dc_output(r.g, dc_ibot_loss(r.g, t, s, c, w, tau, 0.2, 3)));
        DC_ASSERT_OK(dc_ibot_center_update(r.g, c, t, w, 0.9f));
        DC_ASSERT_OK(dc_output(r.g, next_value(r.g, c)));
        dc_tensor *outs[2][MAX_IO];
        run_twice(&r, outs);
        for (int k = 0; k < 2; k++) {
            expect_value(way[k], outs[k][0], 0, 0.405698463, ref_tol(k, 0.4057));
            /* 0.1 · mean of the three real teacher rows (0.3, 0.4). */
            expect_value(way[k], outs[k][1], 0, 0.03, 5e-8);
            expect_value(way[k], outs[k][1], 1, 0.04, 5e-8);
        }
        free_outs(outs);
    }
}

/* A step in which no token is masked leaves the iBOT center unchanged. */
static void test_ibot_center_without_masks(void)
{
    const int64_t tk[] = {2, 3}, wk[] = {2}, ck[] = {1, 3};
    const double teacher[] = {1, 2, 3, 4, 5, 6}, zero_w[] = {0, 0}, center[] = {0.5, -1, 2};
    graph_run r = {.g = dc_graph_create("ibot_center_empty")};
    dc_value *t = feed(&r, "teacher", make(DC_F32, 2, tk, teacher));
    dc_value *w = feed(&r, "weights", make(DC_F32, 1, wk, zero_w));
    dc_value *c = dc_state(r.g, "ibot_center", make(DC_F32, 2, ck, center));
    DC_ASSERT_OK(dc_ibot_center_update(r.g, c, t, w, 0.9f));
    DC_ASSERT_OK(dc_output(r.g, next_value(r.g, c)));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++)
            expect_value(way[k], outs[k][0], (uint64_t)i, center[i], 0);
    free_outs(outs);
}

static void test_koleo_reference(void)
{
    static const double one[] = {1.0}, opposite[] = {0, 1, 0, -1}, orthogonal[] = {0, 1, 1, 0},
                        six[] = {0, 1, 1, 0, 1, 1, -1, 0, 0, -1, -1, -1};
    const struct {
        const double *x;
        int n, d;
        double want;
    } cases[] = {
        {one, 1, 1, -log(2e-8)}, /* 17.7275: a sample is its own neighbour */
        {opposite, 2, 2, -log(2.0)},
        {orthogonal, 2, 2, -log(sqrt(2.0))},
        {six, 6, 2, 0.267399985}, /* Lightly's 0.2674 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t dims[] = {cases[c].n, cases[c].d};
        graph_run r = {.g = dc_graph_create("koleo_reference")};
        dc_value *x = feed(&r, "x", make(DC_F32, 2, dims, cases[c].x));
        DC_ASSERT_OK(dc_output(r.g, dc_koleo_loss(r.g, x)));
        dc_tensor *outs[2][MAX_IO];
        run_twice(&r, outs);
        for (int k = 0; k < 2; k++)
            expect_value(way[k], outs[k][0], 0, cases[c].want, ref_tol(k, cases[c].want));
        free_outs(outs);
    }
}

/* −(1/n) Σ ln(‖x̂_i − x̂_n(i) + eps‖ + eps) in double, n(i) the nearest row. */
static double koleo_double(const float *x, int n, int d)
{
    double xh[8][3], sum = 0;
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int k = 0; k < d; k++)
            norm += (double)x[i * d + k] * x[i * d + k];
        for (int k = 0; k < d; k++)
            xh[i][k] = x[i * d + k] / fmax(sqrt(norm), 1e-8);
    }
    for (int i = 0; i < n; i++) {
        double best = INFINITY;
        for (int j = 0; j < n; j++) {
            double dist = 0;
            for (int k = 0; k < d && j != i; k++)
                dist += (xh[i][k] - xh[j][k] + 1e-8) * (xh[i][k] - xh[j][k] + 1e-8);
            if (j != i && sqrt(dist) < best)
                best = sqrt(dist);
        }
        sum += log(best + 1e-8);
    }
    return -sum / n;
}

/* Rows 1e-4 apart, as the cls tokens of a batch are early in training: their
 * f32 cosines all round to ~1, so a neighbour chosen by the largest cosine is
 * mostly the first row, not the nearest (KoLeo then comes out ~1 too low). */
static void test_koleo_nearly_equal_rows(void)
{
    const double z[] = {0, 1e-4, 3e-4, -2e-4, 7e-4, -6e-4};
    enum { N = 6, D = 3 };
    double x[N * D];
    float xf[N * D];
    for (int i = 0; i < N; i++) {
        x[i * D] = 0.6, x[i * D + 1] = 0.8, x[i * D + 2] = z[i];
        for (int k = 0; k < D; k++)
            xf[i * D + k] = (float)x[i * D + k];
    }
    const double want = koleo_double(xf, N, D); /* ≈ 8.9: −ln of 1e-4..2e-4 */
    const int64_t dims[] = {N, D};
    graph_run r = {.g = dc_graph_create("koleo_near")};
    dc_value *v = feed(&r, "x", make(DC_F32, 2, dims, x));
    DC_ASSERT_OK(dc_output(r.g, dc_koleo_loss(r.g, v)));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    for (int k = 0; k < 2; k++)
        expect_value(way[k], outs[k][0], 0, want, 0.02);
    free_outs(outs);
}

/* Two teacher views, three student views (one local), B=2, K=3, c=0,
 * τ_t=0.04, τ_s=0.1: N_terms = 4, L = 2.06787 (2.067874152); the center afterwards is
 * 0.1 · mean of the four teacher rows = [0.0375, 0.0375, 0.025]. */
static void test_dino_reference(void)
{
    const double teacher[] = {1, 0, 0, 0, 1, 0, /* T0 */ 0, 0, 1, .5, .5, 0 /* T1 */};
    const double student[] = {.2, .1, 0, 0, .3, .1,   /* S0 */
                              .1, .1, .1, .4, 0, .2,  /* S1 */
                              0, 0, .5, .3, .3, .3};  /* S2 (local) */
    const int64_t tk[] = {4, 3}, sk[] = {6, 3}, ck[] = {1, 3};
    graph_run r = {.g = dc_graph_create("dino_reference")};
    dc_value *t = feed(&r, "teacher", make(DC_F32, 2, tk, teacher));
    dc_value *s = feed(&r, "student", make(DC_F32, 2, sk, student));
    dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.04));
    dc_value *c = dc_state(r.g, "dino_center", make(DC_F32, 2, ck, NULL));
    DC_ASSERT_OK(dc_output(r.g, dc_dino_loss(r.g, t, s, c, tau, 0.1, 2, 1)));
    DC_ASSERT_OK(dc_add_center_update(r.g, c, t, 0.9f));
    DC_ASSERT_OK(dc_output(r.g, next_value(r.g, c)));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    const double center[] = {0.0375, 0.0375, 0.025};
    for (int k = 0; k < 2; k++) {
        expect_value(way[k], outs[k][0], 0, 2.067874152, ref_tol(k, 2.07));
        for (int i = 0; i < 3; i++)
            expect_value(way[k], outs[k][1], (uint64_t)i, center[i], 5e-8);
    }
    free_outs(outs);
}

/* ---- Sinkhorn-Knopp ------------------------------------------------------------- */

/* The official SinkhornKnoppTeacher on one process, in doubles:
 * Q = exp(T/τ)ᵀ [K, R] normalised as written there. p [R, K]. */
static void sinkhorn_official(const double *t, int rows, int k, double temp, int iterations,
                              double *p)
{
    double *q = malloc(sizeof(double) * (size_t)(rows * k)), sum = 0;
    for (int j = 0; j < k; j++)
        for (int b = 0; b < rows; b++)
            sum += q[j * rows + b] = exp(t[b * k + j] / temp);
    for (int i = 0; i < rows * k; i++)
        q[i] /= sum;
    for (int it = 0; it < iterations; it++) {
        for (int j = 0; j < k; j++) { /* each prototype: total 1/K */
            double row = 0;
            for (int b = 0; b < rows; b++)
                row += q[j * rows + b];
            for (int b = 0; b < rows; b++)
                q[j * rows + b] /= row * k;
        }
        for (int b = 0; b < rows; b++) { /* each sample: total 1/R */
            double col = 0;
            for (int j = 0; j < k; j++)
                col += q[j * rows + b];
            for (int j = 0; j < k; j++)
                q[j * rows + b] /= col * rows;
        }
    }
    for (int b = 0; b < rows; b++)
        for (int j = 0; j < k; j++)
            p[b * k + j] = q[j * rows + b] * rows;
    free(q);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform(double lo, double hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (double)(rng_state >> 11) * 0x1p-53;
}

/* The log-domain graph equals the official iteration (1 and 3 iterations);
 * padding rows (weight 0) do not change the real rows' result; logits far
 * past exp's range (T/τ = 250) stay finite and every row sums to 1. */
static void test_sinkhorn_knopp(void)
{
    enum { R = 6, K = 5, PAD = 2 };
    double t[(R + PAD) * K], want[R * K];
    for (int i = 0; i < (R + PAD) * K; i++)
        t[i] = uniform(-0.5, 0.5);
    for (int iterations = 1; iterations <= 3; iterations += 2) {
        sinkhorn_official(t, R, K, 0.1, iterations, want);
        const int64_t tk[] = {R, K}, pk[] = {R + PAD, K}, wk[] = {R + PAD};
        double weights[R + PAD];
        for (int i = 0; i < R + PAD; i++)
            weights[i] = i < R ? 0.25 : 0;
        graph_run r = {.g = dc_graph_create("sinkhorn")};
        dc_value *tv = feed(&r, "teacher", make(DC_F32, 2, tk, t));
        dc_value *pv = feed(&r, "teacher_padded", make(DC_F32, 2, pk, t));
        dc_value *wv = feed(&r, "weights", make(DC_F32, 1, wk, weights));
        dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.1));
        DC_ASSERT_OK(dc_output(r.g, dc_sinkhorn_knopp(r.g, tv, tau, iterations)));
        DC_ASSERT_OK(dc_output(r.g, dc_sinkhorn_knopp_rows(r.g, pv, wv, tau, iterations)));
        dc_tensor *outs[2][MAX_IO];
        run_twice(&r, outs);
        for (int k = 0; k < 2; k++)
            for (int o = 0; o < 2; o++)
                for (int i = 0; i < R * K; i++)
                    expect_value(way[k], outs[k][o], (uint64_t)i, want[i], 2e-6);
        free_outs(outs);
    }

    /* Logits of ±10 at τ = 0.04: exp(250) overflows f32 in the official code. */
    const int64_t tk[] = {R, K};
    double big[R * K];
    for (int i = 0; i < R * K; i++)
        big[i] = uniform(-10, 10);
    graph_run r = {.g = dc_graph_create("sinkhorn_big")};
    dc_value *tv = feed(&r, "teacher", make(DC_F32, 2, tk, big));
    dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.04));
    DC_ASSERT_OK(dc_output(r.g, dc_sinkhorn_knopp(r.g, tv, tau, 3)));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    for (int k = 0; k < 2; k++) {
        for (int b = 0; b < R && outs[k][0]; b++) {
            double row = 0;
            for (int j = 0; j < K; j++)
                row += dc_tensor_get_f64(outs[k][0], (uint64_t)(b * K + j));
            CU_ASSERT(isfinite(row) && fabs(row - 1) < 1e-5);
        }
    }
    free_outs(outs);
}

/* ---- finite differences (float64, interpreter) ------------------------------------ */

enum { FD_MAX = 10 };

typedef struct fd_case {
    dc_graph *g;
    dc_value *wrt[FD_MAX]; /* f64 initializers to differentiate */
    int n_wrt;
} fd_case;

static dc_tensor *random_f64(int rank, const int64_t *dims, double lo, double hi)
{
    dc_tensor *t = make(DC_F64, rank, dims, NULL);
    for (uint64_t i = 0; t && i < dc_tensor_numel(t); i++)
        ((double *)t->data)[i] = uniform(lo, hi);
    return t;
}

static dc_value *fd_param(fd_case *c, const char *name, int rank, const int64_t *dims, double lo,
                          double hi)
{
    dc_value *v = dc_param(c->g, name, random_f64(rank, dims, lo, hi));
    CU_ASSERT_FATAL(c->n_wrt < FD_MAX);
    c->wrt[c->n_wrt++] = v;
    return v;
}

static dc_value *fd_const(fd_case *c, int rank, const int64_t *dims, double lo, double hi)
{
    return dc_param(c->g, dc_graph_unique_name(c->g, "c"), random_f64(rank, dims, lo, hi));
}

static double fd_eval(dc_graph *g)
{
    dc_tensor *out[1] = {NULL};
    dc_status s = dc_interpret(g, NULL, 0, out);
    if (s != DC_OK)
        fprintf(stderr, "\n    interpret: %s\n", dc_error_message());
    double v = s == DC_OK ? dc_tensor_get_f64(out[0], 0) : NAN;
    dc_tensor_destroy(out[0]);
    return v;
}

/* Autodiff's gradients of `loss` against central differences (h = 1e-6) for
 * every element of every wrt value: |a − b| ≤ 1e-7 + 1e-5·|b|. The loss must
 * be the graph's only output so far. Returns the gradients (caller frees) in
 * grads[i] when grads is not NULL. Destroys the graph. */
static void fd_check(fd_case *c, dc_value *loss, dc_tensor **grads)
{
    dc_graph *g = c->g;
    DC_ASSERT_OK(dc_output(g, loss));
    DC_ASSERT_OK(dc_build_status(g));
    if (dc_build_status(g) != DC_OK) {
        dc_graph_destroy(g);
        return;
    }
    double *fd[FD_MAX];
    for (int p = 0; p < c->n_wrt; p++) {
        dc_tensor *t = c->wrt[p]->constant;
        double *x = t->data, h = 1e-6;
        fd[p] = calloc(dc_tensor_numel(t), sizeof(double));
        for (uint64_t i = 0; i < dc_tensor_numel(t); i++) {
            double saved = x[i];
            x[i] = saved + h;
            double up = fd_eval(g);
            x[i] = saved - h;
            double down = fd_eval(g);
            x[i] = saved;
            fd[p][i] = (up - down) / (2 * h);
        }
    }
    dc_value *dv[FD_MAX] = {NULL};
    DC_ASSERT_OK(dc_autodiff(g, loss, c->wrt, c->n_wrt, dv));
    for (int p = 0; p < c->n_wrt; p++) {
        CU_ASSERT_PTR_NOT_NULL(dv[p]);
        DC_ASSERT_OK(dc_output(g, dv[p]));
    }
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_tensor *out[1 + FD_MAX] = {NULL};
    DC_ASSERT_OK(dc_interpret(g, NULL, 0, out));
    for (int p = 0; p < c->n_wrt && out[1 + p]; p++) {
        const dc_tensor *got = out[1 + p];
        CU_ASSERT_EQUAL(dc_tensor_numel(got), dc_tensor_numel(c->wrt[p]->constant));
        for (uint64_t i = 0; i < dc_tensor_numel(got); i++) {
            double a = dc_tensor_get_f64(got, i), b = fd[p][i];
            if (!(fabs(a - b) <= 1e-7 + 1e-5 * fabs(b))) {
                fprintf(stderr, "\n    %s: d/d%s[%llu]: autodiff %.9g, finite difference %.9g\n",
                        g->name, c->wrt[p]->name, (unsigned long long)i, a, b);
                CU_FAIL("gradient differs from finite differences");
                break;
            }
        }
    }
    for (int p = 0; p < c->n_wrt; p++) {
        free(fd[p]);
        if (grads) {
            grads[p] = out[1 + p];
            out[1 + p] = NULL;
        }
    }
    for (int i = 0; i < 1 + c->n_wrt; i++)
        dc_tensor_destroy(out[i]);
    dc_graph_destroy(g);
}

/* An f64 head with random parameters (all of them differentiated). */
static dc_head fd_head(fd_case *c, int in, int hidden, int bottleneck, int k)
{
    dc_head h = {.cfg = {hidden, bottleneck, k}, .in_dim = in};
    const int64_t w0[] = {hidden, in}, w2[] = {hidden, hidden}, w4[] = {bottleneck, hidden};
    const int64_t b0[] = {hidden}, b4[] = {bottleneck}, gk[] = {k, 1}, vk[] = {k, bottleneck};
    h.weight[0] = fd_param(c, "layers.0.weight", 2, w0, -0.6, 0.6);
    h.bias[0] = fd_param(c, "layers.0.bias", 1, b0, -0.2, 0.2);
    h.weight[1] = fd_param(c, "layers.2.weight", 2, w2, -0.6, 0.6);
    h.bias[1] = fd_param(c, "layers.2.bias", 1, b0, -0.2, 0.2);
    h.weight[2] = fd_param(c, "layers.4.weight", 2, w4, -0.6, 0.6);
    h.bias[2] = fd_param(c, "layers.4.bias", 1, b4, -0.2, 0.2);
    h.weight_g = fd_param(c, "last_layer.weight_g", 2, gk, 0.5, 1.5);
    h.weight_v = fd_param(c, "last_layer.weight_v", 2, vk, -1, 1);
    return h;
}

/* loss = Σ head(x) ⊙ R, w.r.t. x and all eight parameters. */
static void test_head_gradients(void)
{
    enum { N = 3, IN = 4, HIDDEN = 6, BOTTLENECK = 3, K = 5 };
    fd_case c = {.g = dc_graph_create("head_fd")};
    dc_head h = fd_head(&c, IN, HIDDEN, BOTTLENECK, K);
    const int64_t xk[] = {N, IN}, yk[] = {N, K};
    dc_value *x = fd_param(&c, "x", 2, xk, -1, 1);
    dc_value *y = dc_head_forward(c.g, &h, x);
    dc_value *loss = dc_reduce(c.g, "ReduceSum", dc_mul(c.g, y, fd_const(&c, 2, yk, -1, 1)), NULL,
                               0, false);
    fd_check(&c, loss, NULL);
}

/* DINO with mean centering, B=2, two local views, K=5: d/d student logits. */
static void test_dino_gradients(void)
{
    enum { B = 2, NL = 2, K = 5 };
    fd_case c = {.g = dc_graph_create("dino_fd")};
    const int64_t tk[] = {2 * B, K}, sk[] = {(2 + NL) * B, K}, ck[] = {1, K};
    dc_value *t = fd_const(&c, 2, tk, -1, 1), *center = fd_const(&c, 2, ck, -0.2, 0.2);
    dc_value *s = fd_param(&c, "student", 2, sk, -1, 1);
    dc_value *tau = dc_scalar(c.g, DC_F64, 0.04);
    dc_tensor *grad[1] = {NULL};
    const dc_tensor *tt = t->constant, *st = s->constant, *ct = center->constant;
    /* Keep copies: fd_check destroys the graph. */
    dc_tensor *tcopy, *scopy, *ccopy;
    DC_ASSERT_OK(dc_tensor_clone(&tcopy, tt));
    DC_ASSERT_OK(dc_tensor_clone(&scopy, st));
    DC_ASSERT_OK(dc_tensor_clone(&ccopy, ct));
    fd_check(&c, dc_dino_loss(c.g, t, s, center, tau, 0.1, B, NL), grad);
    /* The closed form of DINOV2.md §3.1:
     *   dL/dS_s[b] = (n_s·Q_s[b] − Σ_{t paired with s} P_t[b]) / (N_terms·B·τ_s). */
    const double *T = tcopy->data, *S = scopy->data, *C = ccopy->data;
    const int n_terms = 2 * (2 + NL) - 2;
    for (int v = 0; v < 2 + NL && grad[0]; v++)
        for (int b = 0; b < B; b++) {
            double p[2][K], q[K], zt[2] = {0, 0}, zs = 0;
            for (int tv = 0; tv < 2; tv++)
                for (int j = 0; j < K; j++)
                    zt[tv] += p[tv][j] = exp((T[(tv * B + b) * K + j] - C[j]) / 0.04);
            for (int j = 0; j < K; j++)
                zs += q[j] = exp(S[(v * B + b) * K + j] / 0.1);
            for (int j = 0; j < K; j++) {
                double paired = 0;
                int n_s = 0;
                for (int tv = 0; tv < 2; tv++)
                    if (tv != v) {
                        paired += p[tv][j] / zt[tv];
                        n_s++;
                    }
                double want = (n_s * q[j] / zs - paired) / (n_terms * B * 0.1);
                expect_value("dino closed form", grad[0], (uint64_t)((v * B + b) * K + j), want,
                             1e-9);
            }
        }
    dc_tensor_destroy(grad[0]);
    dc_tensor_destroy(tcopy);
    dc_tensor_destroy(scopy);
    dc_tensor_destroy(ccopy);
}

/* DINO on Sinkhorn-Knopp targets (the official ViT-g recipe), no local views. */
static void test_dino_sinkhorn_gradients(void)
{
    enum { B = 3, K = 4 };
    fd_case c = {.g = dc_graph_create("dino_sinkhorn_fd")};
    const int64_t tk[] = {2 * B, K};
    dc_value *t = fd_const(&c, 2, tk, -1, 1), *s = fd_param(&c, "student", 2, tk, -1, 1);
    dc_value *p = dc_sinkhorn_knopp(c.g, t, dc_scalar(c.g, DC_F64, 0.07), 3);
    fd_check(&c, dc_dino_loss_probs(c.g, p, s, 0.1, B, 0), NULL);
}

/* iBOT with two padding rows: their gradient is exactly 0. */
static void test_ibot_gradients(void)
{
    enum { M = 7, K = 5 };
    fd_case c = {.g = dc_graph_create("ibot_fd")};
    const int64_t mk[] = {M, K}, ck[] = {1, K}, wk[] = {M};
    const double w[M] = {0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0};
    dc_value *t = fd_const(&c, 2, mk, -1, 1), *center = fd_const(&c, 2, ck, -0.2, 0.2);
    dc_value *s = fd_param(&c, "student", 2, mk, -1, 1);
    dc_value *wv = dc_param(c.g, "weights", make(DC_F64, 1, wk, w));
    dc_value *tau = dc_scalar(c.g, DC_F64, 0.05);
    dc_tensor *grad[1] = {NULL};
    fd_check(&c, dc_ibot_loss(c.g, t, s, center, wv, tau, 0.1, 4), grad);
    for (int i = 5 * K; grad[0] && i < M * K; i++)
        CU_ASSERT_EQUAL(dc_tensor_get_f64(grad[0], (uint64_t)i), 0.0);
    dc_tensor_destroy(grad[0]);
}

/* KoLeo w.r.t. x, the nearest neighbours held fixed. */
static void test_koleo_gradients(void)
{
    fd_case c = {.g = dc_graph_create("koleo_fd")};
    const int64_t xk[] = {6, 4};
    dc_value *x = fd_param(&c, "x", 2, xk, -1, 1);
    fd_check(&c, dc_koleo_loss(c.g, x), NULL);
}

/* A student head feeding the DINO loss: the gradient reaches g and v. */
static void test_head_into_dino_gradients(void)
{
    enum { B = 2, NL = 1, IN = 3, HIDDEN = 4, BOTTLENECK = 3, K = 4 };
    fd_case c = {.g = dc_graph_create("head_dino_fd")};
    dc_head h = fd_head(&c, IN, HIDDEN, BOTTLENECK, K);
    const int64_t xk[] = {(2 + NL) * B, IN}, tk[] = {2 * B, K}, ck[] = {1, K};
    dc_value *x = fd_const(&c, 2, xk, -1, 1), *t = fd_const(&c, 2, tk, -1, 1);
    dc_value *center = fd_const(&c, 2, ck, -0.1, 0.1);
    dc_value *logits = dc_head_forward(c.g, &h, x);
    fd_check(&c, dc_dino_loss(c.g, t, logits, center, dc_scalar(c.g, DC_F64, 0.04), 0.1, B, NL),
             NULL);
}

/* ---- the head's declaration ------------------------------------------------------ */

static void test_head_declare(void)
{
    dc_graph *g = dc_graph_create("head_declare");
    const dc_head_config cfg = {.hidden_dim = 64, .bottleneck_dim = 16, .output_dim = 100};
    dc_head *h = NULL, *h2 = NULL, *h3 = NULL;
    DC_ASSERT_OK(dc_head_declare(g, &cfg, 32, "student.dino_head.", 7, &h));
    DC_ASSERT_OK(dc_head_declare(g, &cfg, 32, "teacher.dino_head.", 7, &h2));
    DC_ASSERT_OK(dc_head_declare(g, &cfg, 32, "other.", 8, &h3));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h3);
    static const char *const names[] = {
        "student.dino_head.layers.0.weight", "student.dino_head.layers.0.bias",
        "student.dino_head.layers.2.weight", "student.dino_head.layers.2.bias",
        "student.dino_head.layers.4.weight", "student.dino_head.layers.4.bias",
        "student.dino_head.last_layer.weight_g", "student.dino_head.last_layer.weight_v"};
    const int64_t shapes[][2] = {{64, 32}, {64, 0}, {64, 64}, {64, 0},
                                 {16, 64}, {16, 0}, {100, 1}, {100, 16}};
    dc_value *p[DC_HEAD_N_PARAMS], *p2[DC_HEAD_N_PARAMS], *p3[DC_HEAD_N_PARAMS];
    CU_ASSERT_EQUAL(dc_head_parameters(h, p), DC_HEAD_N_PARAMS);
    dc_head_parameters(h2, p2);
    dc_head_parameters(h3, p3);
    for (int i = 0; i < DC_HEAD_N_PARAMS; i++) {
        CU_ASSERT_STRING_EQUAL(p[i]->name, names[i]);
        CU_ASSERT(p[i]->is_state && p[i]->is_initializer);
        CU_ASSERT_EQUAL(p[i]->type.dtype, DC_F32);
        CU_ASSERT_EQUAL(p[i]->type.rank, shapes[i][1] ? 2 : 1);
        CU_ASSERT_EQUAL(p[i]->type.dims[0].size, shapes[i][0]);
        if (shapes[i][1])
            CU_ASSERT_EQUAL(p[i]->type.dims[1].size, shapes[i][1]);
        /* The same seed gives the same numbers; another seed other ones. */
        const dc_tensor *a = p[i]->constant, *b = p2[i]->constant, *o = p3[i]->constant;
        CU_ASSERT(memcmp(a->data, b->data, a->nbytes) == 0);
        if ((i % 2 == 0 && i < 6) || i == 7) /* weights and v are random */
            CU_ASSERT(memcmp(a->data, o->data, a->nbytes) != 0);
    }
    /* Linear weights: trunc_normal(0, 0.02); biases 0; g = 1; v ~ U(±1/√16). */
    for (int i = 0; i < 3; i++) {
        const dc_tensor *w = h->weight[i]->constant;
        double sum = 0, sq = 0, n = (double)dc_tensor_numel(w);
        for (uint64_t e = 0; e < dc_tensor_numel(w); e++) {
            double v = ((const float *)w->data)[e];
            sum += v;
            sq += v * v;
        }
        double mean = sum / n, std = sqrt(sq / n - mean * mean);
        CU_ASSERT(fabs(mean) < 0.003);
        CU_ASSERT(fabs(std - 0.02) < 0.002);
        const dc_tensor *b = h->bias[i]->constant;
        for (uint64_t e = 0; e < dc_tensor_numel(b); e++)
            CU_ASSERT_EQUAL(((const float *)b->data)[e], 0.0f);
    }
    const dc_tensor *gt = h->weight_g->constant, *vt = h->weight_v->constant;
    for (uint64_t e = 0; e < dc_tensor_numel(gt); e++)
        CU_ASSERT_EQUAL(((const float *)gt->data)[e], 1.0f);
    double vmax = 0, vsum = 0;
    for (uint64_t e = 0; e < dc_tensor_numel(vt); e++) {
        double v = ((const float *)vt->data)[e];
        vmax = fmax(vmax, fabs(v));
        vsum += v;
    }
    CU_ASSERT(vmax <= 0.25 && vmax > 0.24);
    CU_ASSERT(fabs(vsum / (double)dc_tensor_numel(vt)) < 0.02);

    /* Forward: [N, 32] -> [N, 100]; a wrong input width names the head. */
    const int64_t xk[] = {5, 32}, bad[] = {5, 31};
    dc_value *y = dc_head_forward(g, h, dc_input(g, "x", DC_F32, 2, xk));
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(y->type.rank, 2);
    CU_ASSERT_EQUAL(y->type.dims[0].size, 5);
    CU_ASSERT_EQUAL(y->type.dims[1].size, 100);
    CU_ASSERT_PTR_NULL(dc_head_forward(g, h, dc_input(g, "x_bad", DC_F32, 2, bad)));
    CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_SHAPE);
    CU_ASSERT(strstr(dc_error_message(), "student.dino_head.layers.0.weight") != NULL);
    dc_graph_destroy(g);
}

/* Shape errors name the loss and the tensor, and stick to the graph. */
static void test_loss_shape_errors(void)
{
    dc_graph *g = dc_graph_create("loss_errors");
    const int64_t tk[] = {4, 3}, sk[] = {5, 3}, ck[] = {1, 3};
    dc_value *t = dc_input(g, "t", DC_F32, 2, tk), *s = dc_input(g, "s", DC_F32, 2, sk);
    dc_value *c = dc_input(g, "c", DC_F32, 2, ck), *tau = dc_input(g, "tau", DC_F32, 0, NULL);
    CU_ASSERT_PTR_NULL(dc_dino_loss(g, t, s, c, tau, 0.1, 2, 1)); /* 5 rows, not 6 */
    CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_SHAPE);
    CU_ASSERT(strstr(dc_error_message(), "DINO loss") && strstr(dc_error_message(), "'s'"));
    CU_ASSERT_PTR_NULL(dc_koleo_loss(g, t)); /* sticky: nothing more is built */
    dc_graph_destroy(g);
}

/* ---- parity with PyTorch ------------------------------------------------------------ */

/* Loss and gradients of a graph on f32 inputs, interpreter and compiled, against
 * the torch dump: loss within 1e-5 relative, each gradient within 1e-4. */
static void expect_torch(const char *what, dc_tensor *outs[2][MAX_IO], const char *loss_file,
                         const char *const *grad_files, int n_grads)
{
    dc_tensor *want = load_npy(loss_file);
    char label[128];
    for (int k = 0; k < 2; k++) {
        snprintf(label, sizeof label, "%s loss (%s)", what, way[k]);
        expect_relative(label, outs[k][0], want, 1e-5);
    }
    dc_tensor_destroy(want);
    for (int i = 0; i < n_grads; i++) {
        want = load_npy(grad_files[i]);
        for (int k = 0; k < 2; k++) {
            snprintf(label, sizeof label, "%s %s (%s)", what, grad_files[i], way[k]);
            expect_relative(label, outs[k][1 + i], want, 1e-4);
        }
        dc_tensor_destroy(want);
    }
}

/* Differentiates `loss` w.r.t. wrt[] and makes loss, gradients (and `extra`,
 * may be NULL) the graph's outputs. */
static void add_loss_and_gradients(dc_graph *g, dc_value *loss, dc_value *const *wrt, int n,
                                   dc_value *extra)
{
    DC_ASSERT_OK(dc_build_status(g));
    DC_ASSERT_OK(dc_output(g, loss));
    dc_value *grads[FD_MAX] = {NULL};
    DC_ASSERT_OK(dc_autodiff(g, loss, wrt, n, grads));
    for (int i = 0; i < n; i++)
        DC_ASSERT_OK(dc_output(g, grads[i]));
    if (extra)
        DC_ASSERT_OK(dc_output(g, extra));
}

static void test_head_matches_torch(void)
{
    static const char *const params[] = {"layers.0.weight", "layers.0.bias", "layers.2.weight",
                                         "layers.2.bias", "layers.4.weight", "layers.4.bias",
                                         "last_layer.weight_g", "last_layer.weight_v"};
    graph_run r = {.g = dc_graph_create("head_torch")};
    dc_head h = {.in_dim = 8, .cfg = {16, 6, 10}};
    dc_value *wrt[1 + DC_HEAD_N_PARAMS], *p[DC_HEAD_N_PARAMS];
    char file[64];
    for (int i = 0; i < DC_HEAD_N_PARAMS; i++) {
        snprintf(file, sizeof file, "head_%s", params[i]);
        p[i] = dc_state(r.g, params[i], load_npy(file));
    }
    h.weight[0] = p[0], h.bias[0] = p[1], h.weight[1] = p[2], h.bias[1] = p[3];
    h.weight[2] = p[4], h.bias[2] = p[5], h.weight_g = p[6], h.weight_v = p[7];
    dc_value *x = feed(&r, "x", load_npy("head_x")), *rr = feed(&r, "r", load_npy("head_r"));
    dc_value *y = dc_head_forward(r.g, &h, x);
    dc_value *loss = dc_reduce(r.g, "ReduceSum", dc_mul(r.g, y, rr), NULL, 0, false);
    wrt[0] = x;
    for (int i = 0; i < DC_HEAD_N_PARAMS; i++)
        wrt[1 + i] = p[i];
    add_loss_and_gradients(r.g, loss, wrt, 1 + DC_HEAD_N_PARAMS, y);
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    static const char *const grads[] = {
        "head_grad_x", "head_grad_layers.0.weight", "head_grad_layers.0.bias",
        "head_grad_layers.2.weight", "head_grad_layers.2.bias", "head_grad_layers.4.weight",
        "head_grad_layers.4.bias", "head_grad_last_layer.weight_g",
        "head_grad_last_layer.weight_v"};
    expect_torch("head", outs, "head_loss", grads, 9);
    dc_tensor *want = load_npy("head_out");
    for (int k = 0; k < 2; k++)
        expect_relative("head output", outs[k][10], want, 1e-5);
    dc_tensor_destroy(want);
    free_outs(outs);
}

static void test_dino_matches_torch(void)
{
    enum { B = 3, NL = 2 };
    graph_run r = {.g = dc_graph_create("dino_torch")};
    dc_value *t = feed(&r, "teacher", load_npy("dino_teacher"));
    dc_value *s = feed(&r, "student", load_npy("dino_student"));
    dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.05));
    dc_value *c = dc_state(r.g, "dino_center", load_npy("dino_center"));
    dc_value *loss = dc_dino_loss(r.g, t, s, c, tau, 0.1, B, NL);
    DC_ASSERT_OK(dc_add_center_update(r.g, c, t, 0.9f));
    add_loss_and_gradients(r.g, loss, &s, 1, next_value(r.g, c));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    static const char *const grads[] = {"dino_grad_student"};
    expect_torch("DINO", outs, "dino_loss", grads, 1);
    dc_tensor *want = load_npy("dino_center_after");
    for (int k = 0; k < 2; k++)
        expect_relative("DINO center", outs[k][2], want, 1e-6);
    dc_tensor_destroy(want);
    free_outs(outs);
}

/* Lightly's rows, padded by two junk rows of weight 0 as the assembly does. */
static void test_ibot_matches_torch(void)
{
    enum { PAD = 2 };
    dc_tensor *t = load_npy("ibot_teacher"), *s = load_npy("ibot_student");
    dc_tensor *w = load_npy("ibot_weights"), *mask = load_npy("ibot_mask");
    const int64_t m = t->dims[0], k = t->dims[1], n_images = mask->dims[0];
    /* The weights as the caller computes them: 1/n_i of the token's image. */
    int64_t per_image = mask->dims[1] * mask->dims[2], row = 0;
    for (int64_t i = 0; i < n_images; i++) {
        int64_t n = 0;
        for (int64_t e = 0; e < per_image; e++)
            n += dc_tensor_get_i64(mask, (uint64_t)(i * per_image + e)) != 0;
        for (int64_t j = 0; j < n; j++, row++)
            expect_value("iBOT weight", w, (uint64_t)row, 1.0 / (double)n, 1e-7);
    }
    CU_ASSERT_EQUAL(row, m);
    const int64_t pk[] = {m + PAD, k}, wk[] = {m + PAD};
    dc_tensor *tp = make(DC_F32, 2, pk, NULL), *sp = make(DC_F32, 2, pk, NULL);
    dc_tensor *wp = make(DC_F32, 1, wk, NULL);
    memcpy(tp->data, t->data, t->nbytes);
    memcpy(sp->data, s->data, s->nbytes);
    memcpy(wp->data, w->data, w->nbytes);
    for (int64_t e = m * k; e < (m + PAD) * k; e++) {
        ((float *)tp->data)[e] = (float)(e % 7) - 3.0f;
        ((float *)sp->data)[e] = 5.0f - (float)(e % 5);
    }
    dc_tensor_destroy(t);
    dc_tensor_destroy(s);
    dc_tensor_destroy(w);
    dc_tensor_destroy(mask);

    graph_run r = {.g = dc_graph_create("ibot_torch")};
    dc_value *tv = feed(&r, "teacher", tp), *sv = feed(&r, "student", sp);
    dc_value *wv = feed(&r, "weights", wp), *tau = feed(&r, "teacher_temp", scalar_f32(0.06));
    dc_value *c = dc_state(r.g, "ibot_center", load_npy("ibot_center"));
    dc_value *loss = dc_ibot_loss(r.g, tv, sv, c, wv, tau, 0.1, (int)n_images);
    DC_ASSERT_OK(dc_ibot_center_update(r.g, c, tv, wv, 0.9f));
    add_loss_and_gradients(r.g, loss, &sv, 1, next_value(r.g, c));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    /* Compare the real rows of the gradient; the padding rows must be 0. */
    dc_tensor *want = load_npy("ibot_loss");
    for (int kk = 0; kk < 2; kk++)
        expect_relative("iBOT loss", outs[kk][0], want, 1e-5);
    dc_tensor_destroy(want);
    want = load_npy("ibot_grad_student");
    for (int kk = 0; kk < 2; kk++) {
        dc_tensor *got = outs[kk][1];
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        for (int64_t e = m * k; e < (m + PAD) * k; e++)
            CU_ASSERT_EQUAL(dc_tensor_get_f64(got, (uint64_t)e), 0.0);
        got->dims[0] = m; /* view the real rows only */
        expect_relative("iBOT grad_student", got, want, 1e-4);
        got->dims[0] = m + PAD;
    }
    dc_tensor_destroy(want);
    want = load_npy("ibot_center_after");
    for (int kk = 0; kk < 2; kk++)
        expect_relative("iBOT center", outs[kk][2], want, 1e-6);
    dc_tensor_destroy(want);
    free_outs(outs);
}

static void test_koleo_matches_torch(void)
{
    graph_run r = {.g = dc_graph_create("koleo_torch")};
    dc_value *x = feed(&r, "x", load_npy("koleo_x"));
    add_loss_and_gradients(r.g, dc_koleo_loss(r.g, x), &x, 1, NULL);
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    static const char *const grads[] = {"koleo_grad_x"};
    expect_torch("KoLeo", outs, "koleo_loss", grads, 1);
    free_outs(outs);
}

static void test_sinkhorn_matches_torch(void)
{
    graph_run r = {.g = dc_graph_create("sinkhorn_torch")};
    dc_value *t = feed(&r, "teacher", load_npy("sk_teacher"));
    dc_value *tau = feed(&r, "teacher_temp", scalar_f32(0.07));
    DC_ASSERT_OK(dc_output(r.g, dc_sinkhorn_knopp(r.g, t, tau, 3)));
    dc_tensor *outs[2][MAX_IO];
    run_twice(&r, outs);
    dc_tensor *want = load_npy("sk_probs");
    for (int k = 0; k < 2; k++)
        expect_relative("Sinkhorn-Knopp", outs[k][0], want, 1e-5);
    dc_tensor_destroy(want);
    free_outs(outs);
}

void register_graphs_heads_losses(void)
{
    static const dc_test_case tests[] = {
        {"iBOT reference value and center", test_ibot_reference},
        {"iBOT center without masked tokens", test_ibot_center_without_masks},
        {"KoLeo reference values", test_koleo_reference},
        {"KoLeo nearest of nearly equal rows", test_koleo_nearly_equal_rows},
        {"DINO reference value and center", test_dino_reference},
        {"Sinkhorn-Knopp = official iteration", test_sinkhorn_knopp},
        {"head declaration and init", test_head_declare},
        {"loss shape errors", test_loss_shape_errors},
        {"head gradients (f64 finite differences)", test_head_gradients},
        {"DINO gradients and closed form", test_dino_gradients},
        {"DINO on Sinkhorn-Knopp gradients", test_dino_sinkhorn_gradients},
        {"iBOT gradients with padding", test_ibot_gradients},
        {"KoLeo gradients", test_koleo_gradients},
        {"head into DINO gradients", test_head_into_dino_gradients},
        {"head matches PyTorch", test_head_matches_torch},
        {"DINO matches PyTorch", test_dino_matches_torch},
        {"iBOT matches PyTorch", test_ibot_matches_torch},
        {"KoLeo matches PyTorch", test_koleo_matches_torch},
        {"Sinkhorn-Knopp matches PyTorch", test_sinkhorn_matches_torch},
        {NULL, NULL},
    };
    dc_add_suite("graphs_heads_losses", tests);
}
