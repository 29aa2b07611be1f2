/* The oneDNN kernels (dnnl.*): each runs a hand-built one-step plan through
 * dc_session on random inputs and is compared with a naive double-precision
 * loop here; check() refusals (types, broadcasts oneDNN cannot do, layouts
 * with only a reference implementation) and error messages are tested too.
 * `DINOC_BENCH=1 dinoc_tests runtime_dnnl_kernels` also times the ViT-S/16
 * qkv MatMul (not a timed test: it only prints). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dc_kernel.h"
#include "dc_session.h"
#include "kernels/dnnl_util.h"
#include "kernels/kernel_context.h"
#include "test_util.h"

/* ------------------------------------------------------------ plan builder */

enum { TP_MAX_BUFS = 12, TP_MAX_ATTRS = 10, TP_MAX_INTS = 8 };

typedef struct tp {
    dc_plan plan;
    dc_plan_buffer bufs[TP_MAX_BUFS];
    float *host[TP_MAX_BUFS]; /* inputs: the data given; outputs: read back by tp_run */
    char names[TP_MAX_BUFS][16];
    dc_plan_step step;
    int32_t args[TP_MAX_BUFS];
    int n_in, n_out;
    dc_plan_attr attrs[TP_MAX_ATTRS];
    int64_t ints[TP_MAX_ATTRS][TP_MAX_INTS];
    dc_session *session;
} tp;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(float lo, float hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

static void tp_init(tp *t, const char *kernel, const char *op)
{
    memset(t, 0, sizeof *t);
    t->step.kernel = (char *)kernel;
    t->step.op_type = (char *)op;
    t->step.node = "n0";
}

static int64_t numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

static int tp_buf(tp *t, dc_dtype dtype, int rank, const int64_t *dims, dc_region region)
{
    int i = t->plan.n_buffers++;
    dc_plan_buffer *b = &t->bufs[i];
    snprintf(t->names[i], sizeof t->names[i], "b%d", i);
    b->name = t->names[i];
    b->dtype = dtype;
    b->rank = rank;
    if (rank)
        memcpy(b->dims, dims, sizeof(int64_t) * (size_t)rank);
    b->region = region;
    b->nbytes = (uint64_t)numel(rank, dims) * dc_dtype_size(dtype);
    uint64_t *size = &t->plan.region_bytes[region];
    b->offset = (*size + DC_PLAN_ALIGN - 1) / DC_PLAN_ALIGN * DC_PLAN_ALIGN;
    *size = b->offset + b->nbytes;
    return i;
}

/* An input in `region` with uniform random values in [lo, hi). */
static int tp_in_range(tp *t, int rank, const int64_t *dims, dc_region region, float lo, float hi)
{
    int i = tp_buf(t, DC_F32, rank, dims, region);
    int64_t n = numel(rank, dims);
    t->host[i] = malloc(sizeof(float) * (size_t)n);
    for (int64_t k = 0; k < n; k++)
        t->host[i][k] = frand(lo, hi);
    t->args[t->n_in++] = i;
    return i;
}

static int tp_in(tp *t, int rank, const int64_t *dims)
{
    return tp_in_range(t, rank, dims, DC_REGION_ARENA, -1.0f, 1.0f);
}

/* An input of another type: for check() only, no data. */
static int tp_in_typed(tp *t, dc_dtype dtype, int rank, const int64_t *dims)
{
    int i = tp_buf(t, dtype, rank, dims, DC_REGION_ARENA);
    t->args[t->n_in++] = i;
    return i;
}

static void tp_in_none(tp *t) { t->args[t->n_in++] = -1; }

static int tp_out(tp *t, int rank, const int64_t *dims)
{
    int i = tp_buf(t, DC_F32, rank, dims, DC_REGION_ARENA);
    t->args[t->n_in + t->n_out++] = i;
    return i;
}

static void tp_out_none(tp *t) { t->args[t->n_in + t->n_out++] = -1; }

static dc_plan_attr *tp_attr(tp *t, const char *name, dc_plan_attr_type type)
{
    dc_plan_attr *a = &t->attrs[t->step.n_attrs++];
    a->name = (char *)name;
    a->type = type;
    return a;
}

static void tp_int(tp *t, const char *name, int64_t v) { tp_attr(t, name, DC_PLAN_ATTR_INT)->i = v; }
static void tp_float(tp *t, const char *name, float v) { tp_attr(t, name, DC_PLAN_ATTR_FLOAT)->f = v; }
static void tp_str(tp *t, const char *name, const char *v)
{
    tp_attr(t, name, DC_PLAN_ATTR_STRING)->s = (char *)v;
}
static void tp_ints(tp *t, const char *name, int n, const int64_t *v)
{
    int k = t->step.n_attrs;
    dc_plan_attr *a = tp_attr(t, name, DC_PLAN_ATTR_INTS);
    memcpy(t->ints[k], v, sizeof(int64_t) * (size_t)n);
    a->n = n;
    a->ints = t->ints[k];
}

static void tp_finish(tp *t)
{
    t->step.n_inputs = t->n_in;
    t->step.n_outputs = t->n_out;
    t->step.args = t->args;
    t->step.attrs = t->step.n_attrs ? t->attrs : NULL;
    t->plan.buffers = t->bufs;
    t->plan.steps = &t->step;
    t->plan.n_steps = 1;
}

/* check() as the compiler calls it: no data, no context. */
static dc_status tp_check(tp *t)
{
    tp_finish(t);
    const dc_plan_buffer *bufs[TP_MAX_BUFS] = {NULL};
    void *data[TP_MAX_BUFS] = {NULL};
    for (int i = 0; i < t->n_in + t->n_out; i++)
        bufs[i] = t->args[i] >= 0 ? &t->bufs[t->args[i]] : NULL;
    dc_kernel_args a = {&t->step, bufs, bufs + t->n_in, data, data + t->n_in, NULL};
    const dc_kernel *k = dc_kernel_find(t->step.kernel);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    return k->check(&a);
}

/* Creates the session (CONST inputs go in as constants, the others are
 * copied into their buffers), runs it `runs` times and reads the outputs. */
static dc_status tp_run_n(tp *t, int runs)
{
    tp_finish(t);
    void *consts = NULL;
    if (t->plan.region_bytes[DC_REGION_CONST]) {
        consts = calloc(1, (size_t)t->plan.region_bytes[DC_REGION_CONST]);
        for (int i = 0; i < t->plan.n_buffers; i++)
            if (t->bufs[i].region == DC_REGION_CONST && t->host[i])
                memcpy((char *)consts + t->bufs[i].offset, t->host[i], t->bufs[i].nbytes);
    }
    t->plan.constants = consts;
    dc_status s = dc_session_create(&t->plan, 2, &t->session);
    free(consts);
    t->plan.constants = NULL;
    if (s != DC_OK)
        return s;
    for (int i = 0; i < t->n_in; i++) {
        int b = t->args[i];
        if (b >= 0 && t->bufs[b].region != DC_REGION_CONST)
            memcpy(dc_session_buffer(t->session, b), t->host[b], t->bufs[b].nbytes);
    }
    for (int r = 0; r < runs && s == DC_OK; r++)
        s = dc_session_run(t->session);
    for (int i = 0; i < t->n_out && s == DC_OK; i++) {
        int b = t->args[t->n_in + i];
        if (b < 0)
            continue;
        t->host[b] = malloc(t->bufs[b].nbytes);
        memcpy(t->host[b], dc_session_buffer(t->session, b), t->bufs[b].nbytes);
    }
    return s;
}

static dc_status tp_run(tp *t) { return tp_run_n(t, 1); }

static void tp_free(tp *t)
{
    dc_session_destroy(t->session);
    for (int i = 0; i < TP_MAX_BUFS; i++)
        free(t->host[i]);
    memset(t, 0, sizeof *t);
}

/* |got - ref| <= rtol * mag + 1e-6 with mag = |ref|, or the sum of the
 * magnitudes of the terms (|a||b| over K for products) when given. */
static int close_all(const char *what, const float *got, const double *ref, const double *mag,
                     int64_t n, double rtol)
{
    for (int64_t i = 0; i < n; i++) {
        double m = mag ? mag[i] : fabs(ref[i]);
        double err = fabs((double)got[i] - ref[i]);
        if (!(err <= rtol * m + 1e-6)) {
            fprintf(stderr, "\n    %s: element %lld: got %.8g, expected %.8g (tolerance %.3g)\n",
                    what, (long long)i, got[i], ref[i], rtol * m + 1e-6);
            return 0;
        }
    }
    return 1;
}

/* Row-major offsets of index `idx` (of shape `out`) into a broadcast operand
 * of rank `r` (right-aligned). */
static int64_t bcast_offset(int ro, const int64_t *out, const int64_t *idx, int r,
                            const int64_t *dims)
{
    int64_t off = 0;
    for (int i = 0; i < r; i++) {
        int oi = ro - r + i;
        off = off * dims[i] + (dims[i] == 1 ? 0 : idx[oi]);
    }
    (void)out;
    return off;
}

static void unravel(int64_t flat, int r, const int64_t *dims, int64_t *idx)
{
    for (int i = r - 1; i >= 0; i--) {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
}

/* ------------------------------------------------------------ MatMul */

/* numpy matmul in double: A [..., M, K] x B [..., K, N] with 1-D rules. */
static void ref_matmul(const float *A, int ra, const int64_t *adims, const float *B, int rb,
                       const int64_t *bdims, double *Y, double *mag)
{
    int64_t ad[10], bd[10];
    int pa = ra == 1 ? 2 : ra, pb = rb == 1 ? 2 : rb;
    if (ra == 1)
        ad[0] = 1, ad[1] = adims[0];
    else
        memcpy(ad, adims, sizeof(int64_t) * (size_t)ra);
    if (rb == 1)
        bd[0] = bdims[0], bd[1] = 1;
    else
        memcpy(bd, bdims, sizeof(int64_t) * (size_t)rb);
    int r = pa > pb ? pa : pb;
    int64_t batch[10];
    int nb = r - 2;
    for (int i = 0; i < nb; i++) {
        int64_t x = i - (r - pa) >= 0 ? ad[i - (r - pa)] : 1;
        int64_t y = i - (r - pb) >= 0 ? bd[i - (r - pb)] : 1;
        batch[i] = x == 1 ? y : x;
    }
    int64_t M = ad[pa - 2], K = ad[pa - 1], N = bd[pb - 1];
    int64_t nbatch = numel(nb, batch), idx[10];
    for (int64_t bi = 0; bi < nbatch; bi++) {
        unravel(bi, nb, batch, idx);
        int64_t aoff = bcast_offset(nb, batch, idx, pa - 2, ad) * M * K;
        int64_t boff = bcast_offset(nb, batch, idx, pb - 2, bd) * K * N;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0, sm = 0;
                for (int64_t k = 0; k < K; k++) {
                    double p = (double)A[aoff + m * K + k] * B[boff + k * N + n];
                    s += p;
                    sm += fabs(p);
                }
                Y[(bi * M + m) * N + n] = s;
                mag[(bi * M + m) * N + n] = sm;
            }
    }
}

static void run_matmul_case(int ra, const int64_t *ad, int rb, const int64_t *bd, int ry,
                            const int64_t *yd)
{
    tp t;
    tp_init(&t, "dnnl.MatMul", "MatMul");
    int a = tp_in(&t, ra, ad), b = tp_in(&t, rb, bd), y = tp_out(&t, ry, yd);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        int64_t n = numel(ry, yd);
        double *ref = malloc(sizeof(double) * (size_t)n), *mag = malloc(sizeof(double) * (size_t)n);
        ref_matmul(t.host[a], ra, ad, t.host[b], rb, bd, ref, mag);
        CU_ASSERT(close_all("MatMul", t.host[y], ref, mag, n, 1e-5));
        free(ref);
        free(mag);
    }
    tp_free(&t);
}

static void test_matmul(void)
{
    /* 2-D */
    run_matmul_case(2, (int64_t[]){5, 7}, 2, (int64_t[]){7, 3}, 2, (int64_t[]){5, 3});
    /* weights without batch: folded into one GEMM */
    run_matmul_case(4, (int64_t[]){2, 3, 4, 6}, 2, (int64_t[]){6, 5}, 4, (int64_t[]){2, 3, 4, 5});
    /* batch broadcasting on both sides, and rank padding */
    run_matmul_case(4, (int64_t[]){2, 1, 4, 6}, 3, (int64_t[]){3, 6, 5}, 4,
                    (int64_t[]){2, 3, 4, 5});
    /* attention-like: same batch */
    run_matmul_case(3, (int64_t[]){6, 9, 8}, 3, (int64_t[]){6, 8, 9}, 3, (int64_t[]){6, 9, 9});
    /* A without batch, B batched */
    run_matmul_case(2, (int64_t[]){4, 6}, 3, (int64_t[]){3, 6, 5}, 3, (int64_t[]){3, 4, 5});
    /* 1-D operands */
    run_matmul_case(1, (int64_t[]){6}, 3, (int64_t[]){2, 6, 5}, 2, (int64_t[]){2, 5});
    run_matmul_case(3, (int64_t[]){2, 4, 6}, 1, (int64_t[]){6}, 2, (int64_t[]){2, 4});
    run_matmul_case(1, (int64_t[]){6}, 1, (int64_t[]){6}, 0, NULL);
}

static void test_matmul_refusals(void)
{
    tp t;
    tp_init(&t, "dnnl.MatMul", "MatMul");
    tp_in_typed(&t, DC_I32, 2, (int64_t[]){2, 3});
    tp_in_typed(&t, DC_I32, 2, (int64_t[]){3, 4});
    tp_out(&t, 2, (int64_t[]){2, 4});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "int32"));
    tp_free(&t);

    /* A plan whose Y disagrees is a shape error naming the node. */
    tp_init(&t, "dnnl.MatMul", "MatMul");
    tp_in(&t, 2, (int64_t[]){2, 3});
    tp_in(&t, 2, (int64_t[]){3, 4});
    tp_out(&t, 2, (int64_t[]){2, 5});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "node 'n0' (dnnl.MatMul)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "[2,5]"));
    tp_free(&t);
}

/* ------------------------------------------------------------ Gemm */

static void run_gemm_case(int64_t M, int64_t K, int64_t N, int ta, int tb, float alpha, float beta,
                          int crank, const int64_t *cdims, dc_region wregion)
{
    tp t;
    tp_init(&t, "dnnl.Gemm", "Gemm");
    int64_t adims[2] = {ta ? K : M, ta ? M : K}, bdims[2] = {tb ? N : K, tb ? K : N};
    int a = tp_in(&t, 2, adims);
    int b = tp_in_range(&t, 2, bdims, wregion, -1.0f, 1.0f);
    int c = -1;
    if (crank >= 0)
        c = tp_in_range(&t, crank, cdims, wregion, -1.0f, 1.0f);
    int y = tp_out(&t, 2, (int64_t[]){M, N});
    if (ta)
        tp_int(&t, "transA", 1);
    if (tb)
        tp_int(&t, "transB", 1);
    if (alpha != 1.0f)
        tp_float(&t, "alpha", alpha);
    if (beta != 1.0f)
        tp_float(&t, "beta", beta);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        double *ref = malloc(sizeof(double) * (size_t)(M * N));
        double *mag = malloc(sizeof(double) * (size_t)(M * N));
        const float *A = t.host[a], *B = t.host[b];
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0, sm = 0;
                for (int64_t k = 0; k < K; k++) {
                    double p = (double)A[ta ? k * M + m : m * K + k] * B[tb ? n * K + k : k * N + n];
                    s += p;
                    sm += fabs(p);
                }
                double cv = 0;
                if (c >= 0) {
                    int64_t cd[2] = {1, 1};
                    for (int i = 0; i < crank; i++)
                        cd[2 - crank + i] = cdims[i];
                    cv = t.host[c][(cd[0] == 1 ? 0 : m) * cd[1] + (cd[1] == 1 ? 0 : n)];
                }
                ref[m * N + n] = alpha * s + beta * cv;
                mag[m * N + n] = fabs(alpha) * sm + fabs(beta * cv);
            }
        CU_ASSERT(close_all("Gemm", t.host[y], ref, mag, M * N, 1e-5));
        free(ref);
        free(mag);
    }
    tp_free(&t);
}

static void test_gemm(void)
{
    /* the classifier head: bias [N], alpha = beta = 1 (matmul bias) */
    run_gemm_case(5, 12, 7, 0, 1, 1.0f, 1.0f, 1, (int64_t[]){7}, DC_REGION_CONST);
    /* transposed A and B, full C, alpha and beta (binary + linear post-ops) */
    run_gemm_case(6, 9, 4, 1, 1, 0.5f, 2.0f, 2, (int64_t[]){6, 4}, DC_REGION_ARENA);
    run_gemm_case(6, 9, 4, 1, 0, 1.0f, 1.0f, 2, (int64_t[]){6, 4}, DC_REGION_STATE);
    /* scalar-like C and a [1, N] C with alpha != beta */
    run_gemm_case(3, 5, 8, 0, 0, 1.0f, 0.25f, 1, (int64_t[]){1}, DC_REGION_ARENA);
    run_gemm_case(3, 5, 8, 0, 0, 2.0f, 1.0f, 2, (int64_t[]){1, 8}, DC_REGION_ARENA);
    /* alpha == beta != 1 with a bias vector: bias scaled with the output */
    run_gemm_case(3, 5, 8, 0, 1, 0.5f, 0.5f, 1, (int64_t[]){8}, DC_REGION_ARENA);
    /* no C, and beta = 0 ignores C */
    run_gemm_case(4, 3, 2, 1, 0, 3.0f, 1.0f, -1, NULL, DC_REGION_ARENA);
    run_gemm_case(4, 3, 2, 0, 0, 1.0f, 0.0f, 2, (int64_t[]){4, 2}, DC_REGION_ARENA);
}

static void test_gemm_refusals(void)
{
    /* C of [M, 1]: oneDNN 2.6 has only ref:any for that post-op broadcast. */
    tp t;
    tp_init(&t, "dnnl.Gemm", "Gemm");
    tp_in(&t, 2, (int64_t[]){4, 3});
    tp_in(&t, 2, (int64_t[]){3, 5});
    tp_in(&t, 2, (int64_t[]){4, 1});
    tp_out(&t, 2, (int64_t[]){4, 5});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "ref"));
    tp_free(&t);
}

/* ------------------------------------------------------------ Conv */

typedef struct conv_case {
    int64_t n, c, h, w, o, kh, kw;
    int64_t stride[2], pads[4], dil[2], group;
    const char *auto_pad;
    int bias;
    dc_region wregion;
    int one_d; /* as a 1-D conv [N, C, W] (h = kh = 1; the W entries of the attributes) */
} conv_case;

static void run_conv_case(const conv_case *cc, int runs)
{
    int64_t sh = cc->stride[0] ? cc->stride[0] : 1, sw = cc->stride[1] ? cc->stride[1] : 1;
    int64_t dh = cc->dil[0] ? cc->dil[0] : 1, dw = cc->dil[1] ? cc->dil[1] : 1;
    int64_t g = cc->group ? cc->group : 1;
    int64_t pt = cc->pads[0], pl = cc->pads[1], pb = cc->pads[2], pr = cc->pads[3];
    int64_t keh = (cc->kh - 1) * dh + 1, kew = (cc->kw - 1) * dw + 1;
    if (cc->auto_pad && strcmp(cc->auto_pad, "SAME_UPPER") == 0) {
        int64_t oh = (cc->h + sh - 1) / sh, ow = (cc->w + sw - 1) / sw;
        int64_t th = (oh - 1) * sh + keh - cc->h, tw = (ow - 1) * sw + kew - cc->w;
        th = th < 0 ? 0 : th, tw = tw < 0 ? 0 : tw;
        pt = th / 2, pb = th - pt, pl = tw / 2, pr = tw - pl;
    }
    int64_t oh = (cc->h + pt + pb - keh) / sh + 1, ow = (cc->w + pl + pr - kew) / sw + 1;
    tp t;
    tp_init(&t, "dnnl.Conv", "Conv");
    int x, w, y, b;
    if (cc->one_d) {
        x = tp_in(&t, 3, (int64_t[]){cc->n, cc->c, cc->w});
        w = tp_in_range(&t, 3, (int64_t[]){cc->o, cc->c / g, cc->kw}, cc->wregion, -1, 1);
        b = cc->bias ? tp_in_range(&t, 1, (int64_t[]){cc->o}, cc->wregion, -1, 1) : -1;
        y = tp_out(&t, 3, (int64_t[]){cc->n, cc->o, ow});
        tp_ints(&t, "kernel_shape", 1, &cc->kw);
        tp_ints(&t, "strides", 1, &cc->stride[1]);
        tp_ints(&t, "dilations", 1, &cc->dil[1]);
        tp_ints(&t, "pads", 2, (int64_t[]){cc->pads[1], cc->pads[3]});
    } else {
        x = tp_in(&t, 4, (int64_t[]){cc->n, cc->c, cc->h, cc->w});
        w = tp_in_range(&t, 4, (int64_t[]){cc->o, cc->c / g, cc->kh, cc->kw}, cc->wregion, -1, 1);
        b = cc->bias ? tp_in_range(&t, 1, (int64_t[]){cc->o}, cc->wregion, -1, 1) : -1;
        y = tp_out(&t, 4, (int64_t[]){cc->n, cc->o, oh, ow});
        tp_ints(&t, "kernel_shape", 2, (int64_t[]){cc->kh, cc->kw});
        if (cc->stride[0])
            tp_ints(&t, "strides", 2, cc->stride);
        if (cc->dil[0])
            tp_ints(&t, "dilations", 2, cc->dil);
        if (cc->auto_pad)
            tp_str(&t, "auto_pad", cc->auto_pad);
        else
            tp_ints(&t, "pads", 4, cc->pads);
    }
    if (g > 1)
        tp_int(&t, "group", g);
    DC_ASSERT_OK(tp_run_n(&t, runs));
    if (t.host[y]) {
        int64_t n_out = cc->n * cc->o * oh * ow, cg = cc->c / g, og = cc->o / g;
        double *ref = malloc(sizeof(double) * (size_t)n_out);
        double *mag = malloc(sizeof(double) * (size_t)n_out);
        const float *X = t.host[x], *W = t.host[w];
        for (int64_t n = 0; n < cc->n; n++)
            for (int64_t o = 0; o < cc->o; o++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        double s = b >= 0 ? t.host[b][o] : 0, sm = fabs(s);
                        int64_t gi = o / og;
                        for (int64_t c = 0; c < cg; c++)
                            for (int64_t ki = 0; ki < cc->kh; ki++)
                                for (int64_t kj = 0; kj < cc->kw; kj++) {
                                    int64_t hi = i * sh - pt + ki * dh, wj = j * sw - pl + kj * dw;
                                    if (hi < 0 || hi >= cc->h || wj < 0 || wj >= cc->w)
                                        continue;
                                    double p = (double)X[((n * cc->c + gi * cg + c) * cc->h + hi) *
                                                             cc->w + wj] *
                                               W[((o * cg + c) * cc->kh + ki) * cc->kw + kj];
                                    s += p;
                                    sm += fabs(p);
                                }
                        int64_t k = ((n * cc->o + o) * oh + i) * ow + j;
                        ref[k] = s;
                        mag[k] = sm;
                    }
        CU_ASSERT(close_all("Conv", t.host[y], ref, mag, n_out, 1e-5));
        free(ref);
        free(mag);
    }
    tp_free(&t);
}

static void test_conv(void)
{
    /* patch embedding: kernel = stride = 16, no pad, CONST weights, run twice */
    run_conv_case(&(conv_case){2, 3, 32, 48, 8, 16, 16, {16, 16}, {0}, {0}, 0, NULL, 1,
                               DC_REGION_CONST, 0},
                  2);
    /* padding, stride 2, no bias, weights in STATE */
    run_conv_case(&(conv_case){1, 3, 9, 11, 4, 3, 3, {2, 2}, {1, 1, 1, 1}, {0}, 0, NULL, 0,
                               DC_REGION_STATE, 0},
                  1);
    /* asymmetric pads, dilation 2 */
    run_conv_case(&(conv_case){2, 2, 10, 9, 5, 3, 2, {1, 2}, {2, 0, 1, 1}, {2, 1}, 0, NULL, 1,
                               DC_REGION_ARENA, 0},
                  1);
    /* auto_pad SAME_UPPER */
    run_conv_case(&(conv_case){1, 4, 7, 7, 6, 3, 3, {2, 2}, {0}, {0}, 0, "SAME_UPPER", 1,
                               DC_REGION_CONST, 0},
                  1);
    /* groups */
    run_conv_case(&(conv_case){2, 4, 6, 6, 6, 3, 3, {1, 1}, {1, 1, 1, 1}, {0}, 2, NULL, 1,
                               DC_REGION_CONST, 0},
                  1);
    /* 1-D: stride 2, dilation 3, asymmetric pads */
    run_conv_case(&(conv_case){2, 3, 1, 20, 4, 1, 3, {1, 2}, {0, 2, 0, 1}, {1, 3}, 0, NULL, 1,
                               DC_REGION_ARENA, 1},
                  1);
    /* 1x1: oneDNN may want blocked weights (reordered once, CONST) or take
     * oihw as given, depending on the CPU; both must give the same output */
    run_conv_case(&(conv_case){1, 16, 12, 12, 32, 1, 1, {1, 1}, {0}, {0}, 0, NULL, 1,
                               DC_REGION_CONST, 0},
                  3);
}

/* Weights in STATE change between runs (training); the output must follow. */
static void test_conv_state_weights_follow_updates(void)
{
    tp t;
    tp_init(&t, "dnnl.Conv", "Conv");
    int64_t xd[4] = {1, 8, 6, 6}, wd[4] = {16, 8, 3, 3};
    int x = tp_in(&t, 4, xd);
    int w = tp_in_range(&t, 4, wd, DC_REGION_STATE, -1, 1);
    int y = tp_out(&t, 4, (int64_t[]){1, 16, 4, 4});
    DC_ASSERT_OK(tp_run(&t));
    if (!t.host[y]) {
        tp_free(&t);
        return;
    }
    float *wbuf = dc_session_buffer(t.session, w);
    for (int64_t i = 0; i < numel(4, wd); i++)
        wbuf[i] = 2.0f * t.host[w][i];
    DC_ASSERT_OK(dc_session_run(t.session));
    const float *y2 = dc_session_buffer(t.session, y);
    double *ref = malloc(sizeof(double) * 256);
    for (int i = 0; i < 256; i++)
        ref[i] = 2.0 * t.host[y][i];
    CU_ASSERT(close_all("Conv after a weight update", y2, ref, NULL, 256, 1e-5));
    free(ref);
    (void)x;
    tp_free(&t);
}

/* ------------------------------------------------------------ LayerNormalization */

static void run_layernorm_case(int rank, const int64_t *dims, int64_t axis, int with_bias,
                               int want_mean, int want_inv, float eps)
{
    int64_t ax = axis < 0 ? axis + rank : axis;
    int64_t T = numel((int)ax, dims), C = numel(rank - (int)ax, dims + ax);
    int64_t sdims[DC_MAX_RANK], stat_dims[DC_MAX_RANK];
    for (int i = 0; i < rank; i++)
        stat_dims[i] = i < ax ? dims[i] : 1;
    memcpy(sdims, dims + ax, sizeof(int64_t) * (size_t)(rank - ax));
    tp t;
    tp_init(&t, "dnnl.LayerNormalization", "LayerNormalization");
    int x = tp_in_range(&t, rank, dims, DC_REGION_ARENA, -2.0f, 3.0f);
    int s = tp_in_range(&t, rank - (int)ax, sdims, DC_REGION_CONST, 0.5f, 1.5f);
    int b = with_bias ? tp_in_range(&t, rank - (int)ax, sdims, DC_REGION_CONST, -1, 1) : -1;
    if (!with_bias)
        tp_in_none(&t);
    int y = tp_out(&t, rank, dims);
    int m = -1, inv = -1;
    if (want_mean || want_inv) {
        if (want_mean)
            m = tp_out(&t, rank, stat_dims);
        else
            tp_out_none(&t);
    }
    if (want_inv)
        inv = tp_out(&t, rank, stat_dims);
    tp_int(&t, "axis", axis);
    tp_float(&t, "epsilon", eps);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        double *ry = malloc(sizeof(double) * (size_t)(T * C));
        double *rm = malloc(sizeof(double) * (size_t)T), *ri = malloc(sizeof(double) * (size_t)T);
        const float *X = t.host[x];
        for (int64_t i = 0; i < T; i++) {
            double mean = 0, var = 0;
            for (int64_t c = 0; c < C; c++)
                mean += X[i * C + c];
            mean /= (double)C;
            for (int64_t c = 0; c < C; c++)
                var += (X[i * C + c] - mean) * (X[i * C + c] - mean);
            var /= (double)C;
            double is = 1.0 / sqrt(var + eps);
            rm[i] = mean;
            ri[i] = is;
            for (int64_t c = 0; c < C; c++)
                ry[i * C + c] =
                    (X[i * C + c] - mean) * is * t.host[s][c] + (b >= 0 ? t.host[b][c] : 0.0);
        }
        /* Normalised values are O(1): compare relative to max(1, |ref|). */
        double *mag = malloc(sizeof(double) * (size_t)(T * C));
        for (int64_t i = 0; i < T * C; i++)
            mag[i] = fmax(1.0, fabs(ry[i]));
        CU_ASSERT(close_all("LayerNorm Y", t.host[y], ry, mag, T * C, 1e-5));
        if (m >= 0)
            CU_ASSERT(close_all("LayerNorm Mean", t.host[m], rm, NULL, T, 1e-5));
        if (inv >= 0)
            CU_ASSERT(close_all("LayerNorm InvStdDev", t.host[inv], ri, NULL, T, 1e-5));
        free(ry);
        free(rm);
        free(ri);
        free(mag);
    }
    tp_free(&t);
}

static void test_layernorm(void)
{
    /* ViT: [B, tokens, C] over the last axis, with bias, Mean and InvStdDev */
    run_layernorm_case(3, (int64_t[]){3, 5, 64}, -1, 1, 1, 1, 1e-6f);
    /* over two trailing axes, no bias, no statistics */
    run_layernorm_case(3, (int64_t[]){4, 3, 10}, 1, 0, 0, 0, 1e-5f);
    /* only InvStdDev requested (Mean omitted), axis 0 (one row) */
    run_layernorm_case(2, (int64_t[]){6, 7}, 0, 1, 0, 1, 1e-3f);
    /* only Mean requested */
    run_layernorm_case(2, (int64_t[]){9, 32}, -1, 0, 1, 0, 1e-5f);
}

/* ------------------------------------------------------------ Softmax, LogSoftmax */

static void run_softmax_case(const char *kernel, const char *op, int rank, const int64_t *dims,
                             int64_t axis)
{
    int is_log = strcmp(op, "LogSoftmax") == 0;
    int64_t ax = axis < 0 ? axis + rank : axis;
    int64_t outer = numel((int)ax, dims), D = dims[ax],
            inner = numel(rank - (int)ax - 1, dims + ax + 1);
    tp t;
    tp_init(&t, kernel, op);
    int x = tp_in_range(&t, rank, dims, DC_REGION_ARENA, -5.0f, 5.0f);
    int y = tp_out(&t, rank, dims);
    tp_int(&t, "axis", axis);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        int64_t n = outer * D * inner;
        double *ref = malloc(sizeof(double) * (size_t)n), *mag = malloc(sizeof(double) * (size_t)n);
        const float *X = t.host[x];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t d = 0; d < D; d++)
                    mx = fmax(mx, X[(o * D + d) * inner + i]);
                for (int64_t d = 0; d < D; d++)
                    sum += exp(X[(o * D + d) * inner + i] - mx);
                for (int64_t d = 0; d < D; d++) {
                    int64_t k = (o * D + d) * inner + i;
                    double v = X[k] - mx;
                    ref[k] = is_log ? v - log(sum) : exp(v) / sum;
                    mag[k] = is_log ? fmax(1.0, fabs(ref[k])) : fabs(ref[k]);
                }
            }
        CU_ASSERT(close_all(op, t.host[y], ref, mag, n, 1e-5));
        free(ref);
        free(mag);
    }
    tp_free(&t);
}

static void test_softmax(void)
{
    run_softmax_case("dnnl.Softmax", "Softmax", 3, (int64_t[]){4, 7, 33}, -1);
    run_softmax_case("dnnl.Softmax", "Softmax", 2, (int64_t[]){3, 197}, 1);
    run_softmax_case("dnnl.Softmax", "Softmax", 4, (int64_t[]){2, 3, 5, 1}, 2); /* trailing 1 */
    run_softmax_case("dnnl.LogSoftmax", "LogSoftmax", 2, (int64_t[]){5, 40}, -1);
    run_softmax_case("dnnl.LogSoftmax", "LogSoftmax", 3, (int64_t[]){3, 4, 50}, 2);

    /* A middle axis has only oneDNN's reference kernel: refused for c.Softmax. */
    tp t;
    tp_init(&t, "dnnl.Softmax", "Softmax");
    tp_in(&t, 3, (int64_t[]){4, 7, 33});
    tp_out(&t, 3, (int64_t[]){4, 7, 33});
    tp_int(&t, "axis", 1);
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "ref:any"));
    tp_free(&t);
}

/* ------------------------------------------------------------ eltwise */

static double ref_unary(const char *op, double x)
{
    if (!strcmp(op, "Relu"))
        return x > 0 ? x : 0;
    if (!strcmp(op, "Tanh"))
        return tanh(x);
    if (!strcmp(op, "Sigmoid"))
        return 1.0 / (1.0 + exp(-x));
    if (!strcmp(op, "Exp"))
        return exp(x);
    if (!strcmp(op, "Log"))
        return log(x);
    if (!strcmp(op, "Sqrt"))
        return sqrt(x);
    if (!strcmp(op, "Abs"))
        return fabs(x);
    if (!strcmp(op, "Neg"))
        return -x;
    if (!strcmp(op, "Reciprocal"))
        return 1.0 / x;
    return NAN;
}

static void test_eltwise(void)
{
    static const struct {
        const char *op;
        float lo, hi;
    } cases[] = {
        {"Relu", -3, 3}, {"Tanh", -4, 4},   {"Sigmoid", -8, 8}, {"Exp", -10, 5},
        {"Log", 0.01f, 50}, {"Sqrt", 0, 100}, {"Abs", -3, 3},   {"Neg", -3, 3},
        {"Reciprocal", -4, 4},
    };
    int64_t dims[3] = {3, 5, 37};
    int64_t n = numel(3, dims);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char kernel[32];
        snprintf(kernel, sizeof kernel, "dnnl.%s", cases[c].op);
        tp t;
        tp_init(&t, kernel, cases[c].op);
        int x = tp_in_range(&t, 3, dims, DC_REGION_ARENA, cases[c].lo, cases[c].hi);
        int y = tp_out(&t, 3, dims);
        DC_ASSERT_OK(tp_run(&t));
        if (t.host[y]) {
            double ref[3 * 5 * 37], mag[3 * 5 * 37];
            /* log is ill-conditioned near 1 in relative terms (oneDNN's
             * polynomial is ~3e-6 off there in absolute terms): compare on
             * the scale max(1, |log x|). */
            int absolute = strcmp(cases[c].op, "Log") == 0;
            for (int64_t i = 0; i < n; i++) {
                ref[i] = ref_unary(cases[c].op, t.host[x][i]);
                mag[i] = absolute ? fmax(1.0, fabs(ref[i])) : fabs(ref[i]);
            }
            CU_ASSERT(close_all(cases[c].op, t.host[y], ref, mag, n, 1e-5));
        }
        tp_free(&t);
    }
}

/* ------------------------------------------------------------ binary */

static void run_binary_case(const char *op, int ra, const int64_t *ad, int rb, const int64_t *bd,
                            int ry, const int64_t *yd)
{
    char kernel[32];
    snprintf(kernel, sizeof kernel, "dnnl.%s", op);
    tp t;
    tp_init(&t, kernel, op);
    int a = tp_in(&t, ra, ad);
    int b = tp_in_range(&t, rb, bd, DC_REGION_ARENA, 0.5f, 2.0f); /* divisor away from 0 */
    int y = tp_out(&t, ry, yd);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        int64_t n = numel(ry, yd), idx[DC_MAX_RANK];
        double *ref = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            unravel(i, ry, yd, idx);
            double u = t.host[a][bcast_offset(ry, yd, idx, ra, ad)];
            double v = t.host[b][bcast_offset(ry, yd, idx, rb, bd)];
            ref[i] = !strcmp(op, "Add") ? u + v : !strcmp(op, "Sub") ? u - v
                     : !strcmp(op, "Mul") ? u * v : u / v;
        }
        CU_ASSERT(close_all(op, t.host[y], ref, NULL, n, 1e-5));
        free(ref);
    }
    tp_free(&t);
}

static void test_binary(void)
{
    /* bias add of a Linear layer: [B, T, C] + [C] */
    run_binary_case("Add", 3, (int64_t[]){2, 3, 16}, 1, (int64_t[]){16}, 3, (int64_t[]){2, 3, 16});
    run_binary_case("Mul", 3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){3, 1}, 3, (int64_t[]){2, 3, 4});
    run_binary_case("Sub", 3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 1, 4}, 3,
                    (int64_t[]){2, 3, 4});
    run_binary_case("Div", 3, (int64_t[]){2, 3, 4}, 1, (int64_t[]){1}, 3, (int64_t[]){2, 3, 4});
    run_binary_case("Div", 2, (int64_t[]){5, 6}, 2, (int64_t[]){5, 6}, 2, (int64_t[]){5, 6});
    /* first operand broadcast: swapped for commutative ops */
    run_binary_case("Add", 3, (int64_t[]){2, 1, 4}, 3, (int64_t[]){2, 3, 4}, 3,
                    (int64_t[]){2, 3, 4});
    run_binary_case("Mul", 1, (int64_t[]){4}, 3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 3, 4});
    /* scalars */
    run_binary_case("Sub", 0, NULL, 0, NULL, 0, NULL);
}

static void test_binary_refusals(void)
{
    /* Sub with a broadcast first operand: not commutative, so c.Sub. */
    tp t;
    tp_init(&t, "dnnl.Sub", "Sub");
    tp_in(&t, 1, (int64_t[]){4});
    tp_in(&t, 3, (int64_t[]){2, 3, 4});
    tp_out(&t, 3, (int64_t[]){2, 3, 4});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "broadcast"));
    tp_free(&t);

    /* int32 inputs */
    tp_init(&t, "dnnl.Add", "Add");
    tp_in_typed(&t, DC_I32, 1, (int64_t[]){4});
    tp_in_typed(&t, DC_I32, 1, (int64_t[]){4});
    tp_out(&t, 1, (int64_t[]){4});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    tp_free(&t);

    /* shapes that do not broadcast are a plan error, not a fallback */
    tp_init(&t, "dnnl.Mul", "Mul");
    tp_in(&t, 1, (int64_t[]){4});
    tp_in(&t, 1, (int64_t[]){3});
    tp_out(&t, 1, (int64_t[]){4});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_SHAPE);
    tp_free(&t);
}

/* ------------------------------------------------------------ reductions */

static void run_reduce_case(const char *op, int rank, const int64_t *dims, int n_axes,
                            const int64_t *axes, int keepdims)
{
    char kernel[32];
    snprintf(kernel, sizeof kernel, "dnnl.%s", op);
    int red[DC_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++)
        red[i] = n_axes == 0;
    for (int i = 0; i < n_axes; i++)
        red[axes[i] < 0 ? axes[i] + rank : axes[i]] = 1;
    int64_t yd[DC_MAX_RANK], kd[DC_MAX_RANK];
    int ry = 0;
    for (int i = 0; i < rank; i++) {
        kd[i] = red[i] ? 1 : dims[i];
        if (!red[i] || keepdims)
            yd[ry++] = kd[i];
    }
    tp t;
    tp_init(&t, kernel, op);
    int x = tp_in(&t, rank, dims);
    int y = tp_out(&t, ry, yd);
    if (n_axes)
        tp_ints(&t, "axes", n_axes, axes);
    tp_int(&t, "keepdims", keepdims);
    DC_ASSERT_OK(tp_run(&t));
    if (t.host[y]) {
        int64_t n = numel(rank, dims), ny = numel(rank, kd), idx[DC_MAX_RANK];
        double *ref = malloc(sizeof(double) * (size_t)ny), *mag = calloc((size_t)ny, sizeof(double));
        int64_t *cnt = calloc((size_t)ny, sizeof(int64_t));
        for (int64_t i = 0; i < ny; i++)
            ref[i] = !strcmp(op, "ReduceMax") ? -INFINITY : !strcmp(op, "ReduceMin") ? INFINITY : 0;
        for (int64_t i = 0; i < n; i++) {
            unravel(i, rank, dims, idx);
            int64_t o = bcast_offset(rank, dims, idx, rank, kd);
            double v = t.host[x][i];
            if (!strcmp(op, "ReduceMax"))
                ref[o] = fmax(ref[o], v);
            else if (!strcmp(op, "ReduceMin"))
                ref[o] = fmin(ref[o], v);
            else
                ref[o] += v;
            mag[o] += fabs(v);
            cnt[o]++;
        }
        for (int64_t i = 0; i < ny; i++) {
            if (!strcmp(op, "ReduceMean"))
                ref[i] /= (double)cnt[i], mag[i] /= (double)cnt[i];
            if (!strcmp(op, "ReduceMax") || !strcmp(op, "ReduceMin"))
                mag[i] = fabs(ref[i]);
        }
        CU_ASSERT(close_all(op, t.host[y], ref, mag, ny, 1e-5));
        free(ref);
        free(mag);
        free(cnt);
    }
    tp_free(&t);
}

static void test_reduce(void)
{
    run_reduce_case("ReduceSum", 3, (int64_t[]){4, 5, 6}, 1, (int64_t[]){-1}, 1);
    run_reduce_case("ReduceMean", 3, (int64_t[]){4, 5, 6}, 2, (int64_t[]){1, 2}, 0);
    run_reduce_case("ReduceMax", 3, (int64_t[]){3, 1, 7}, 0, NULL, 0);
    run_reduce_case("ReduceMin", 3, (int64_t[]){2, 3, 8}, 1, (int64_t[]){2}, 0);
    run_reduce_case("ReduceMean", 4, (int64_t[]){2, 3, 1, 5}, 2, (int64_t[]){1, 3}, 1);
}

static void test_reduce_refusals(void)
{
    /* An outer axis has only ref:any in oneDNN 2.6. */
    tp t;
    tp_init(&t, "dnnl.ReduceSum", "ReduceSum");
    tp_in(&t, 2, (int64_t[]){4, 5});
    tp_out(&t, 2, (int64_t[]){1, 5});
    tp_ints(&t, "axes", 1, (int64_t[]){0});
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "ref"));
    tp_free(&t);

    /* noop_with_empty_axes: an identity */
    tp_init(&t, "dnnl.ReduceMean", "ReduceMean");
    tp_in(&t, 2, (int64_t[]){4, 5});
    tp_out(&t, 2, (int64_t[]){4, 5});
    tp_int(&t, "noop_with_empty_axes", 1);
    CU_ASSERT_EQUAL(tp_check(&t), DC_ERR_UNSUPPORTED);
    tp_free(&t);
}

/* ------------------------------------------------------------ table, direct use, describe */

static void test_table_and_describe(void)
{
    static const char *const ops[] = {
        "MatMul", "Gemm", "Conv", "LayerNormalization", "Softmax", "LogSoftmax", "Relu", "Tanh",
        "Sigmoid", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Add", "Sub", "Mul", "Div",
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "dnnl.%s", ops[i]);
        const dc_kernel *k = dc_kernel_find(name);
        CU_ASSERT_PTR_NOT_NULL(k);
        if (k)
            CU_ASSERT_STRING_EQUAL(k->op_type, ops[i]);
        /* the fast path comes first among the candidates */
        const dc_kernel *cand[4];
        CU_ASSERT(dc_kernel_candidates(ops[i], cand, 4) >= 1);
        CU_ASSERT_PTR_EQUAL(cand[0], k);
    }

    /* prepare/run/release by hand, as a session does, and the implementation name */
    tp t;
    tp_init(&t, "dnnl.MatMul", "MatMul");
    tp_in(&t, 2, (int64_t[]){8, 16});
    tp_in(&t, 2, (int64_t[]){16, 4});
    tp_out(&t, 2, (int64_t[]){8, 4});
    tp_finish(&t);
    dc_kernel_context *ctx;
    DC_ASSERT_OK(dc_kernel_context_create(2, &ctx));
    float y[32];
    const dc_plan_buffer *bufs[3] = {&t.bufs[0], &t.bufs[1], &t.bufs[2]};
    void *data[3] = {t.host[0], t.host[1], y};
    dc_kernel_args a = {&t.step, bufs, bufs + 2, data, data + 2, ctx};
    const dc_kernel *k = dc_kernel_find("dnnl.MatMul");
    void *state = NULL;
    DC_ASSERT_OK(k->check(&a));
    DC_ASSERT_OK(k->prepare(&a, &state));
    if (state) {
        DC_ASSERT_OK(k->run(state));
        /* Which oneDNN implementation runs depends on the CPU (gemm:jit on
         * AVX2, brg:avx512_core on AVX-512, ...): only require that one is
         * named and that it is not oneDNN's reference code, which prepare refuses. */
        const char *impl = dc_dnnl_describe(state);
        CU_ASSERT(impl[0] != '\0');
        CU_ASSERT(strncmp(impl, "ref", 3) != 0);
        double ref[32], mag[32];
        ref_matmul(t.host[0], 2, t.bufs[0].dims, t.host[1], 2, t.bufs[1].dims, ref, mag);
        CU_ASSERT(close_all("MatMul direct", y, ref, mag, 32, 1e-5));
        k->release(state);
    }
    dc_kernel_context_destroy(ctx);
    tp_free(&t);
}

/* The primitives of one context share one scratchpad (kernel_context.h):
 * after a later prepare grew it (so it moved), a primitive prepared before
 * still runs right, on the new block (a stale pointer would be a read of
 * freed memory under ASan). Whether a given MatMul needs a scratchpad at all
 * depends on the oneDNN implementation, so the bound is checked, not a size. */
static void test_shared_scratchpad(void)
{
    tp t;
    tp_init(&t, "dnnl.MatMul", "MatMul");
    tp_in(&t, 3, (int64_t[]){4, 24, 96});
    tp_in(&t, 2, (int64_t[]){96, 40});
    tp_out(&t, 3, (int64_t[]){4, 24, 40});
    tp_finish(&t);
    dc_kernel_context *ctx;
    DC_ASSERT_OK(dc_kernel_context_create(2, &ctx));
    enum { N = 4 * 24 * 40 };
    float *y = calloc(N, sizeof *y);
    double *ref = calloc(N, sizeof *ref), *mag = calloc(N, sizeof *mag);
    const dc_plan_buffer *bufs[3] = {&t.bufs[0], &t.bufs[1], &t.bufs[2]};
    void *data[3] = {t.host[0], t.host[1], y};
    dc_kernel_args a = {&t.step, bufs, bufs + 2, data, data + 2, ctx};
    const dc_kernel *k = dc_kernel_find("dnnl.MatMul");
    void *state = NULL;
    DC_ASSERT_OK(k->prepare(&a, &state));
    size_t own = ctx->scratchpad_sum;
    CU_ASSERT(ctx->scratchpad_bytes >= own);
    void *before = ctx->scratchpad;
    DC_ASSERT_OK(dc_kernel_context_reserve_scratchpad(ctx, ctx->scratchpad_bytes + (1 << 20)));
    CU_ASSERT(ctx->scratchpad != before);
    CU_ASSERT(ctx->scratchpad_bytes >= own + (1 << 20));
    if (state && y && ref && mag) {
        DC_ASSERT_OK(k->run(state));
        ref_matmul(t.host[0], 3, t.bufs[0].dims, t.host[1], 2, t.bufs[1].dims, ref, mag);
        CU_ASSERT(close_all("MatMul after the scratchpad moved", y, ref, mag, N, 1e-5));
        k->release(state);
    }
    free(y);
    free(ref);
    free(mag);
    dc_kernel_context_destroy(ctx);
    tp_free(&t);
}

/* ------------------------------------------------------------ micro-benchmark */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void bench_matmul(const char *what, int ra, const int64_t *ad, const int64_t *bd, int ry,
                         const int64_t *yd)
{
    enum { ITERS = 20 };
    tp t;
    tp_init(&t, "dnnl.MatMul", "MatMul");
    tp_in(&t, ra, ad);
    tp_in_range(&t, 2, bd, DC_REGION_CONST, -1, 1);
    tp_out(&t, ry, yd);
    DC_ASSERT_OK(tp_run_n(&t, 3)); /* warm-up */
    double ms[ITERS];
    for (int i = 0; i < ITERS && t.session; i++) {
        double t0 = now_ms();
        DC_ASSERT_OK(dc_session_run(t.session));
        ms[i] = now_ms() - t0;
    }
    qsort(ms, ITERS, sizeof ms[0], cmp_double);
    double flop = 2.0 * (double)numel(ra - 1, ad) * (double)bd[0] * (double)bd[1];
    printf("\n    bench %s: min %.2f ms, median %.2f ms, %.1f GFLOP/s (2 threads) ", what, ms[0],
           ms[ITERS / 2], flop / ms[0] * 1e-6);
    tp_free(&t);
}

static void test_bench(void)
{
    if (!getenv("DINOC_BENCH"))
        return;
    bench_matmul("MatMul [6304,384]x[384,1152]", 2, (int64_t[]){32 * 197, 384},
                 (int64_t[]){384, 1152}, 2, (int64_t[]){32 * 197, 1152});
    bench_matmul("MatMul [32,197,384]x[384,1152]", 3, (int64_t[]){32, 197, 384},
                 (int64_t[]){384, 1152}, 3, (int64_t[]){32, 197, 1152});
}

void register_runtime_dnnl_kernels(void)
{
    static const dc_test_case tests[] = {
        {"MatMul: 2-D, batched, broadcast, 1-D operands", test_matmul},
        {"MatMul: int32 refused, wrong output is a shape error", test_matmul_refusals},
        {"Gemm: transposes, alpha, beta, bias and C broadcasts", test_gemm},
        {"Gemm: C of [M,1] refused (ref only)", test_gemm_refusals},
        {"Conv: patch embedding, pads, dilation, SAME_UPPER, groups", test_conv},
        {"Conv: STATE weights updated between runs", test_conv_state_weights_follow_updates},
        {"LayerNormalization: Y, Mean, InvStdDev", test_layernorm},
        {"Softmax and LogSoftmax; middle axis refused", test_softmax},
        {"eltwise: Relu .. Reciprocal", test_eltwise},
        {"binary: Add/Sub/Mul/Div with broadcasting", test_binary},
        {"binary: refusals", test_binary_refusals},
        {"Reduce{Sum,Mean,Max,Min}", test_reduce},
        {"Reduce: refusals", test_reduce_refusals},
        {"kernel table, direct prepare/run, describe", test_table_and_describe},
        {"one scratchpad shared, re-pointed when it grows", test_shared_scratchpad},
        {"bench (DINOC_BENCH=1)", test_bench},
        {NULL, NULL},
    };
    dc_add_suite("runtime_dnnl_kernels", tests);
}
