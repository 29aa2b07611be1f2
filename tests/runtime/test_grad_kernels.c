/* The runtime kernels of the gradient ops (c.ScatterAdd, c./dnnl.ConvGradInput,
 * c./dnnl.ConvGradWeight, c.ResizeGrad) against their reference kernels on
 * random data: each case is one node built with the builder, whose reference
 * kernel gives the expected output and whose lowered attributes
 * (dc_lower_attrs, what a compiled plan carries) drive a one-step plan run
 * through a session with the kernel named. Then whole gradient graphs are
 * compiled with dc_pipeline_compile and compared with the reference interpreter.
 * `DINOC_BENCH=1 dinoc_tests runtime_grad_kernels` also times ScatterAdd on
 * the iBOT shape against the one-hot matmul it replaced (only prints). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "dc_kernel.h"
#include "dc_session.h"
#include "interpret.h"
#include "lower.h"
#include "pipeline.h"
#include "lower_attrs.h"
#include "op_registry.h"
#include "run_model.h"
#include "test_util.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

static double uniform(double lo, double hi)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng >> 11) * 0x1p-53;
}

/* A tensor of random values in [-1, 1] (floats) or of `ints` (integers). */
static dc_tensor *tensor(dc_dtype t, int rank, const int64_t *dims, const int64_t *ints)
{
    dc_tensor *x = NULL;
    DC_ASSERT_OK(dc_tensor_create(&x, NULL, t, rank, dims));
    for (uint64_t i = 0; x && i < dc_tensor_numel(x); i++)
        switch (t) {
        case DC_F32: ((float *)x->data)[i] = (float)uniform(-1, 1); break;
        case DC_F64: ((double *)x->data)[i] = uniform(-1, 1); break;
        case DC_I32: ((int32_t *)x->data)[i] = (int32_t)ints[i]; break;
        case DC_I64: ((int64_t *)x->data)[i] = ints[i]; break;
        default: break;
        }
    return x;
}

static char *dup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

/* A one-step plan running node `n` of `g` with `kernel`; its inputs in0..,
 * its output out0 (typed like n's output 0). dc_plan_destroy frees it. */
static dc_plan *one_step_plan(const dc_graph *g, const dc_node *n, const char *kernel)
{
    dc_plan *p = calloc(1, sizeof *p);
    int nb = n->n_inputs + 1;
    p->buffers = calloc((size_t)nb, sizeof *p->buffers);
    p->steps = calloc(1, sizeof *p->steps);
    p->inputs = calloc((size_t)n->n_inputs, sizeof *p->inputs);
    p->outputs = calloc(1, sizeof *p->outputs);
    dc_plan_step *st = &p->steps[0];
    st->args = malloc((size_t)nb * sizeof *st->args);
    uint64_t off = 0;
    for (int i = 0; i < nb; i++) {
        const dc_value *v = i < n->n_inputs ? n->inputs[i] : n->outputs[0];
        dc_plan_buffer *b = &p->buffers[i];
        char name[16];
        snprintf(name, sizeof name, i < n->n_inputs ? "in%d" : "out%d", i < n->n_inputs ? i : 0);
        b->name = dup(name);
        b->dtype = v->type.dtype;
        b->rank = v->type.rank;
        uint64_t numel = 1;
        for (int d = 0; d < b->rank; d++)
            numel *= (uint64_t)(b->dims[d] = v->type.dims[d].size);
        b->nbytes = numel * dc_dtype_size(b->dtype);
        b->region = DC_REGION_ARENA;
        b->offset = off;
        off += (b->nbytes + 63) / 64 * 64;
        st->args[i] = i;
        if (i < n->n_inputs)
            p->inputs[i] = (dc_plan_io){dup(name), i};
        else
            p->outputs[0] = (dc_plan_io){dup(name), i};
    }
    p->region_bytes[DC_REGION_ARENA] = off;
    p->n_buffers = nb;
    p->n_steps = 1;
    p->n_inputs = n->n_inputs;
    p->n_outputs = 1;
    st->kernel = dup(kernel);
    st->op_type = dup(n->op_type);
    st->node = dup(n->name);
    st->n_inputs = n->n_inputs;
    st->n_outputs = 1;
    DC_ASSERT_OK(dc_lower_attrs(g, n, st));
    return p;
}

/* Runs `kernel` on node n with `inputs`; *out receives output 0. */
static dc_status run_kernel(const dc_graph *g, const dc_node *n, const char *kernel,
                            dc_tensor *const *inputs, dc_tensor **out)
{
    *out = NULL;
    dc_plan *p = one_step_plan(g, n, kernel);
    dc_session *s = NULL;
    dc_status st = dc_session_create(p, 2, &s);
    for (int i = 0; i < n->n_inputs && st == DC_OK; i++)
        st = dc_session_set_input(s, p->inputs[i].name, inputs[i]);
    if (st == DC_OK)
        st = dc_session_run(s);
    if (st == DC_OK)
        st = dc_session_get_output(s, 0, out);
    dc_session_destroy(s);
    dc_plan_destroy(p);
    return st;
}

/* Largest |got - want| / (1 + |want|) over all elements. */
static double worst_error(const dc_tensor *got, const dc_tensor *want)
{
    double worst = 0;
    if (!got || dc_tensor_numel(got) != dc_tensor_numel(want))
        return INFINITY;
    for (uint64_t i = 0; i < dc_tensor_numel(got); i++) {
        double a = dc_tensor_get_f64(got, i), b = dc_tensor_get_f64(want, i);
        double e = fabs(a - b) / (1 + fabs(b));
        if (!(e <= worst))
            worst = e;
    }
    return worst;
}

/* Compares `kernel` on node n (inputs `inputs`) with n's reference kernel. */
static void check_kernel(const dc_graph *g, const dc_node *n, const char *kernel,
                         dc_tensor *const *inputs, const char *what)
{
    dc_tensor *want[1] = {NULL}, *got = NULL;
    DC_ASSERT_OK(n->schema->reference(n, dc_graph_opset(g, n->domain), inputs, want));
    dc_status s = run_kernel(g, n, kernel, inputs, &got);
    if (s != DC_OK)
        fprintf(stderr, "\n    %s on %s: %s\n", kernel, what, dc_error_message());
    CU_ASSERT_EQUAL(s, DC_OK);
    double tol = n->outputs[0]->type.dtype == DC_F64 ? 1e-12 : 2e-5;
    double err = s == DC_OK ? worst_error(got, want[0]) : 0;
    if (!(err <= tol))
        fprintf(stderr, "\n    %s on %s: error %g (tolerance %g)\n", kernel, what, err, tol);
    CU_ASSERT(err <= tol);
    dc_tensor_destroy(want[0]);
    dc_tensor_destroy(got);
}

static dc_graph *graph(void)
{
    dc_graph *g = dc_graph_create("grad_kernels");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    return g;
}

static dc_value *input_of(dc_graph *g, const dc_tensor *t)
{
    return dc_input(g, dc_graph_unique_name(g, "in"), t->dtype, t->rank, t->dims);
}

/* ------------------------------------------------------------ ScatterAdd */

typedef struct scatter_case {
    int rank;
    int64_t like[4];
    int axis;
    int idx_rank;
    int64_t idx_dims[2];
} scatter_case;

/* like [like], indices [idx_dims] with values in [-n, n) including repeats,
 * updates Gather-shaped: c.ScatterAdd against the reference, f32 and f64,
 * i32 and i64 indices. */
static void check_scatter(const scatter_case *c, dc_dtype t, dc_dtype it)
{
    int64_t n = c->like[c->axis], count = c->idx_rank == 1 ? c->idx_dims[0]
                                                           : c->idx_dims[0] * c->idx_dims[1];
    int64_t *vals = malloc((size_t)count * sizeof *vals);
    for (int64_t j = 0; j < count; j++) /* every third repeats an earlier one */
        vals[j] = j % 3 == 2 ? vals[j / 2] : (int64_t)floor(uniform(-(double)n, (double)n));
    int64_t udims[DC_MAX_RANK];
    int ur = 0;
    for (int d = 0; d < c->rank; d++) {
        for (int j = 0; d == c->axis && j < c->idx_rank; j++)
            udims[ur++] = c->idx_dims[j];
        if (d != c->axis)
            udims[ur++] = c->like[d];
    }
    dc_tensor *ins[] = {tensor(t, c->rank, c->like, NULL), tensor(it, c->idx_rank, c->idx_dims, vals),
                        tensor(t, ur, udims, NULL)};
    dc_graph *g = graph();
    dc_value *in[] = {input_of(g, ins[0]), input_of(g, ins[1]), input_of(g, ins[2])};
    dc_node *node = dc_node_begin(g, "ScatterAdd", "ai.dinoc", in, 3, 1);
    DC_ASSERT_OK(dc_node_set_int(node, g, "axis", c->axis - (c->axis == c->rank - 1 ? c->rank : 0)));
    CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, node));
    check_kernel(g, node, "c.ScatterAdd", ins, "ScatterAdd");
    dc_graph_destroy(g);
    for (int i = 0; i < 3; i++)
        dc_tensor_destroy(ins[i]);
    free(vals);
}

static void test_scatter_add(void)
{
    static const scatter_case cases[] = {
        {2, {64, 48}, 0, 1, {40}},           /* iBOT: rows of [B·N, D] */
        {2, {1024, 384}, 0, 1, {700}},       /* large enough for row ranges on threads */
        {3, {3, 7, 5}, 1, 2, {2, 4}},        /* middle axis, 2-D indices */
        {3, {8, 5, 6}, 2, 1, {9}},           /* last axis (given as -1), many slabs */
        {1, {7}, 0, 1, {12}},
        {2, {4, 3}, 0, 1, {0}},              /* no indices: zeros */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_scatter(&cases[i], DC_F32, DC_I64);
        check_scatter(&cases[i], DC_F64, DC_I32);
    }
}

/* An index out of range is a clean run-time error, not a write out of bounds. */
static void test_scatter_add_bad_index(void)
{
    const int64_t like[] = {4, 2}, idx_dims[] = {3}, vals[] = {1, 4, 0}, upd[] = {3, 2};
    dc_tensor *ins[] = {tensor(DC_F32, 2, like, NULL), tensor(DC_I64, 1, idx_dims, vals),
                        tensor(DC_F32, 2, upd, NULL)};
    dc_graph *g = graph();
    dc_value *in[] = {input_of(g, ins[0]), input_of(g, ins[1]), input_of(g, ins[2])};
    dc_node *node = dc_node_begin(g, "ScatterAdd", "ai.dinoc", in, 3, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, node));
    dc_tensor *out = NULL;
    CU_ASSERT_EQUAL(run_kernel(g, node, "c.ScatterAdd", ins, &out), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "index 4"));
    dc_tensor *ref[1] = {NULL};
    CU_ASSERT_EQUAL(node->schema->reference(node, 1, ins, ref), DC_ERR_INVALID);
    dc_tensor_destroy(ref[0]);
    dc_tensor_destroy(out);
    dc_graph_destroy(g);
    for (int i = 0; i < 3; i++)
        dc_tensor_destroy(ins[i]);
}

/* ------------------------------------------------------------ ConvGrad* */

typedef struct conv_case {
    const char *name;
    int rank;
    int64_t x[5], w[5];
    int64_t strides[3], dilations[3], pads[6], group;
} conv_case;

static const conv_case conv_cases[] = {
    {"2-D strided padded dilated grouped", 4, {2, 4, 9, 8}, {6, 2, 3, 2}, {2, 1}, {1, 2},
     {1, 0, 0, 1}, 2},
    {"2-D 3x3 pad 1 (ResNet-like)", 4, {2, 8, 10, 10}, {16, 8, 3, 3}, {1, 1}, {1, 1},
     {1, 1, 1, 1}, 1},
    {"2-D stride 2, unread remainder", 4, {1, 3, 8, 9}, {5, 3, 3, 3}, {2, 2}, {1, 1},
     {0, 0, 0, 0}, 1},
    {"2-D depthwise", 4, {2, 6, 7, 7}, {6, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 6},
    {"1-D", 3, {3, 4, 17}, {5, 4, 3}, {2}, {2}, {1, 2}, 1},
    {"3-D grouped", 5, {1, 4, 5, 4, 6}, {4, 2, 2, 3, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 0, 1, 1}, 2},
    {"2-D patch embedding", 4, {2, 3, 16, 16}, {8, 3, 4, 4}, {4, 4}, {1, 1}, {0, 0, 0, 0}, 1},
};

/* ConvGradInput(dy, w) and ConvGradWeight(dy, x) of one geometry, built the
 * way the gradient rule builds them, on `kernels` (c. and dnnl.). */
static void check_conv(const conv_case *c, dc_dtype t, const char *backend)
{
    int sp = c->rank - 2;
    int64_t ydims[5] = {c->x[0], c->w[0]};
    for (int i = 0; i < sp; i++) {
        int64_t span = (c->w[2 + i] - 1) * c->dilations[i] + 1;
        ydims[2 + i] = (c->x[2 + i] + c->pads[i] + c->pads[sp + i] - span) / c->strides[i] + 1;
    }
    dc_tensor *dy = tensor(t, c->rank, ydims, NULL), *x = tensor(t, c->rank, c->x, NULL);
    dc_tensor *w = tensor(t, c->rank, c->w, NULL);
    for (int variant = 0; variant < 2; variant++) {
        const char *op = variant == 0 ? "ConvGradInput" : "ConvGradWeight";
        dc_tensor *ins[] = {dy, variant == 0 ? w : x};
        dc_graph *g = graph();
        dc_value *in[] = {input_of(g, ins[0]), input_of(g, ins[1])};
        dc_node *n = dc_node_begin(g, op, "ai.dinoc", in, 2, 1);
        DC_ASSERT_OK(dc_node_set_ints(n, g, variant == 0 ? "x_shape" : "w_shape",
                                      variant == 0 ? c->x : c->w, c->rank));
        DC_ASSERT_OK(dc_node_set_ints(n, g, "strides", c->strides, sp));
        DC_ASSERT_OK(dc_node_set_ints(n, g, "dilations", c->dilations, sp));
        DC_ASSERT_OK(dc_node_set_ints(n, g, "pads", c->pads, 2 * sp));
        DC_ASSERT_OK(dc_node_set_int(n, g, "group", c->group));
        CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, n));
        char kernel[64], what[128];
        snprintf(kernel, sizeof kernel, "%s.%s", backend, op);
        snprintf(what, sizeof what, "%s %s", c->name, dc_dtype_name(t));
        check_kernel(g, n, kernel, ins, what);
        dc_graph_destroy(g);
    }
    dc_tensor_destroy(dy);
    dc_tensor_destroy(x);
    dc_tensor_destroy(w);
}

static void test_conv_grad_c(void)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        check_conv(&conv_cases[i], DC_F32, "c");
        check_conv(&conv_cases[i], DC_F64, "c");
    }
}

static void test_conv_grad_dnnl(void)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        check_conv(&conv_cases[i], DC_F32, "dnnl");
}

/* ------------------------------------------------------------ ResizeGrad */

/* ResizeGrad as the Resize gradient rule states it, on c.ResizeGrad. */
static void check_resize_grad(const char *mode, const char *coord, const char *nearest,
                              int exclude, int rank, const int64_t *x, const int64_t *y,
                              const float *scales, dc_dtype t)
{
    static const float roi[] = {0, 0, 0.1f, -0.2f, 1, 1, 0.8f, 1.1f};
    dc_tensor *ins[] = {tensor(t, rank, y, NULL), tensor(t, rank, x, NULL)};
    dc_graph *g = graph();
    dc_value *in[] = {input_of(g, ins[0]), input_of(g, ins[1])};
    dc_node *n = dc_node_begin(g, "ResizeGrad", "ai.dinoc", in, 2, 1);
    DC_ASSERT_OK(dc_node_set_string(n, g, "mode", mode));
    DC_ASSERT_OK(dc_node_set_string(n, g, "coordinate_transformation_mode", coord));
    DC_ASSERT_OK(dc_node_set_string(n, g, "nearest_mode", nearest));
    DC_ASSERT_OK(dc_node_set_int(n, g, "exclude_outside", exclude));
    DC_ASSERT_OK(dc_node_set_float(n, g, "extrapolation_value", 0.5f));
    if (scales)
        DC_ASSERT_OK(dc_node_set_floats(n, g, "scales", scales, rank));
    if (strcmp(coord, "tf_crop_and_resize") == 0)
        DC_ASSERT_OK(dc_node_set_floats(n, g, "roi", rank == 4 ? roi : (const float[]){0.1f, -0.2f, 0.8f, 1.1f}, 2 * rank));
    CU_ASSERT_PTR_NOT_NULL_FATAL(dc_node_finish(g, n));
    char what[160];
    snprintf(what, sizeof what, "ResizeGrad %s %s %s %s", mode, coord, nearest, dc_dtype_name(t));
    check_kernel(g, n, "c.ResizeGrad", ins, what);
    dc_graph_destroy(g);
    dc_tensor_destroy(ins[0]);
    dc_tensor_destroy(ins[1]);
}

static void test_resize_grad(void)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_crop_and_resize",
                                         "tf_half_pixel_for_nn"};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const int64_t x4[] = {2, 3, 6, 7}, y4[] = {2, 3, 10, 4}, x2[] = {5, 9}, y2[] = {12, 9};
    const float s4[] = {1, 1, 1.75f, 0.6f};
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 6; k++)
            for (int e = 0; e < 2; e++) {
                dc_dtype t = (m + k + e) % 2 ? DC_F64 : DC_F32;
                check_resize_grad(modes[m], coords[k], nearest[(k + e) % 4], e, 4, x4, y4, s4, t);
                check_resize_grad(modes[m], coords[k], nearest[k % 4], e, 2, x2, y2, NULL, t);
            }
    /* A length-1 output axis (pytorch_half_pixel reads coordinate 0 there). */
    const int64_t y1[] = {1, 4};
    check_resize_grad("cubic", "pytorch_half_pixel", "floor", 0, 2, x2, y1, NULL, DC_F64);
    check_resize_grad("linear", "align_corners", "floor", 0, 2, x2, y1, NULL, DC_F32);
    /* DINOv2's positional embedding: a bicubic resize of a [1, D, 4, 4] grid to 6x6 by sizes. */
    const int64_t pe_x[] = {1, 16, 4, 4}, pe_y[] = {1, 16, 6, 6};
    check_resize_grad("cubic", "half_pixel", "floor", 0, 4, pe_x, pe_y, NULL, DC_F32);
}

/* ------------------------------------------------------------ whole graphs */

/* Compiles g (outputs: loss, then gradients) and compares every output of a
 * run with the reference interpreter's. */
static void check_compiled(dc_graph *g, dc_named_tensor *inputs, int n_inputs)
{
    int n_out = g->n_outputs;
    dc_tensor **want = calloc((size_t)n_out, sizeof *want);
    dc_tensor *in[4] = {NULL};
    for (int i = 0; i < n_inputs; i++)
        in[i] = inputs[i].tensor;
    DC_ASSERT_OK(dc_interpret(g, in, n_inputs, want));
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_tensor **got = NULL;
    int n_got = 0;
    if (plan)
        DC_ASSERT_OK(dc_run_plan(plan, inputs, n_inputs, NULL, NULL, &got, &n_got));
    CU_ASSERT_EQUAL(n_got, n_out);
    for (int i = 0; i < n_got && i < n_out; i++) {
        double err = worst_error(got[i], want[i]);
        if (!(err < 1e-4))
            fprintf(stderr, "\n    %s output %d: error %g\n", g->name, i, err);
        CU_ASSERT(err < 1e-4);
    }
    for (int i = 0; i < n_out; i++)
        dc_tensor_destroy(want[i]);
    free(want);
    for (int i = 0; i < n_got; i++)
        dc_tensor_destroy(got[i]);
    free(got);
    dc_plan_destroy(plan);
}

/* loss = Σ tanh(y) over y = op(x...); d loss / d params as extra outputs. */
static void add_loss_and_grads(dc_graph *g, dc_value *y, dc_value **params, int n)
{
    dc_value *loss = dc_reduce(g, "ReduceSum", dc_unary(g, "Tanh", y), NULL, 0, false);
    DC_ASSERT_OK(dc_output(g, loss));
    dc_value *grads[4];
    DC_ASSERT_OK(dc_autodiff(g, loss, params, n, grads));
    for (int i = 0; i < n; i++)
        DC_ASSERT_OK(dc_output(g, grads[i]));
}

/* The iBOT pattern, Conv with strides and groups, and a bicubic Resize, each
 * differentiated and compiled (the plan picks dnnl./c. kernels as it would). */
static void test_compiled_gradients(void)
{
    /* Gather of masked tokens by indices fed at run time. */
    const int64_t tok[] = {48, 16}, nidx[] = {20};
    int64_t vals[20];
    for (int j = 0; j < 20; j++)
        vals[j] = (j * 7) % 48 - (j % 4 == 0 ? 48 : 0);
    dc_graph *g = dc_graph_create("ibot_gather");
    dc_value *x = dc_param(g, "tokens", tensor(DC_F32, 2, tok, NULL));
    dc_value *idx = dc_input(g, "mask_idx", DC_I64, 1, nidx);
    add_loss_and_grads(g, dc_gather(g, x, idx, 0), &x, 1);
    dc_named_tensor in = {"mask_idx", tensor(DC_I64, 1, nidx, vals)};
    check_compiled(g, &in, 1);
    dc_tensor_destroy(in.tensor);
    dc_graph_destroy(g);

    /* A strided, padded, grouped Conv with bias. */
    const int64_t xd[] = {2, 4, 9, 9}, wd[] = {6, 2, 3, 3}, bd[] = {6}, st[] = {2, 2},
                  pads[] = {1, 1, 0, 0};
    g = dc_graph_create("conv_grads");
    dc_value *p[] = {dc_param(g, "x", tensor(DC_F32, 4, xd, NULL)),
                     dc_param(g, "w", tensor(DC_F32, 4, wd, NULL)),
                     dc_param(g, "b", tensor(DC_F32, 1, bd, NULL))};
    dc_node *n = dc_node_begin(g, "Conv", "", p, 3, 1);
    DC_ASSERT_OK(dc_node_set_ints(n, g, "strides", st, 2));
    DC_ASSERT_OK(dc_node_set_ints(n, g, "pads", pads, 4));
    DC_ASSERT_OK(dc_node_set_int(n, g, "group", 2));
    add_loss_and_grads(g, dc_node_finish(g, n), p, 3);
    check_compiled(g, NULL, 0);
    dc_graph_destroy(g);

    /* DINOv2's positional-embedding interpolation: bicubic, by scales. */
    const int64_t pe[] = {1, 8, 4, 4};
    const float sc[] = {1, 1, 1.5f, 1.5f};
    g = dc_graph_create("resize_grads");
    dc_value *pos = dc_param(g, "pos_embed", tensor(DC_F32, 4, pe, NULL));
    int64_t four[] = {4};
    dc_tensor *scales;
    DC_ASSERT_OK(dc_tensor_create(&scales, NULL, DC_F32, 1, four));
    memcpy(scales->data, sc, sizeof sc);
    dc_value *rin[] = {pos, NULL, dc_param(g, "scales", scales)};
    n = dc_node_begin(g, "Resize", "", rin, 3, 1);
    DC_ASSERT_OK(dc_node_set_string(n, g, "mode", "cubic"));
    add_loss_and_grads(g, dc_node_finish(g, n), &pos, 1);
    check_compiled(g, NULL, 0);
    dc_graph_destroy(g);
}

/* ------------------------------------------------------------ benchmark */

/* Median of 9 runs of a compiled graph on `threads` threads, in ms. */
static double time_plan(dc_graph *g, dc_named_tensor *in, int n_in, int threads)
{
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_run_options opt = {.threads = threads, .repeat = 9};
    dc_tensor **out = NULL;
    int n_out = 0;
    DC_ASSERT_OK(dc_run_plan(plan, in, n_in, NULL, &opt, &out, &n_out));
    for (int i = 0; i < n_out; i++)
        dc_tensor_destroy(out[i]);
    free(out);
    dc_plan_destroy(plan);
    return opt.median_ms;
}

/* The ScatterAdd path against the one-hot matmul the Gather gradient used to
 * build for constant indices: dx = (dyᵀ H)ᵀ with H [M, B·N] one-hot. Prints only. */
static void test_bench_scatter(void)
{
    if (!getenv("DINOC_BENCH"))
        return;
    const int64_t rows = 64 * 196, d = 384, m = 64 * 98; /* ViT-S/16, batch 64, half masked */
    int64_t ydims[] = {m, d}, xdims[] = {rows, d}, idims[] = {m};
    int64_t *vals = malloc((size_t)m * sizeof *vals);
    for (int64_t j = 0; j < m; j++)
        vals[j] = (j * 2 + (j % 3 == 0)) % rows;
    dc_graph *g = dc_graph_create("scatter");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *in[] = {dc_input(g, "x", DC_F32, 2, xdims), dc_input(g, "idx", DC_I64, 1, idims),
                      dc_input(g, "dy", DC_F32, 2, ydims)};
    dc_node *n = dc_node_begin(g, "ScatterAdd", "ai.dinoc", in, 3, 1);
    DC_ASSERT_OK(dc_output(g, dc_node_finish(g, n)));
    dc_named_tensor inputs[] = {{"x", tensor(DC_F32, 2, xdims, NULL)},
                                {"idx", tensor(DC_I64, 1, idims, vals)},
                                {"dy", tensor(DC_F32, 2, ydims, NULL)}};
    double scatter = time_plan(g, inputs, 3, 0), scatter1 = time_plan(g, inputs, 3, 1);
    dc_graph_destroy(g);

    /* The one-hot form, on a smaller problem (it is quadratic): 1/8 of the rows and indices. */
    int64_t r8 = rows / 8, m8 = m / 8, hdims[] = {m8, r8}, y8[] = {m8, d};
    dc_tensor *hot;
    DC_ASSERT_OK(dc_tensor_create(&hot, NULL, DC_F32, 2, hdims));
    for (int64_t j = 0; j < m8; j++)
        ((float *)hot->data)[j * r8 + vals[j] % r8] = 1;
    g = dc_graph_create("onehot");
    dc_value *dy = dc_input(g, "dy", DC_F32, 2, y8);
    int64_t t[] = {1, 0};
    dc_value *dx = dc_transpose(g, dc_matmul(g, dc_transpose(g, dy, t, 2), dc_param(g, "h", hot)), t, 2);
    DC_ASSERT_OK(dc_output(g, dx));
    dc_named_tensor in8 = {"dy", tensor(DC_F32, 2, y8, NULL)};
    double onehot = time_plan(g, &in8, 1, 0);
    dc_graph_destroy(g);
    printf("\n    ScatterAdd [%lld,%lld] <- %lld rows: %.3f ms (1 thread: %.3f ms); one-hot matmul "
           "on 1/8 of it ([%lld,%lld] <- %lld rows): %.3f ms\n", (long long)rows, (long long)d,
           (long long)m, scatter, scatter1, (long long)r8, (long long)d, (long long)m8, onehot);
    for (int i = 0; i < 3; i++)
        dc_tensor_destroy(inputs[i].tensor);
    dc_tensor_destroy(in8.tensor);
    free(vals);
}

void register_runtime_grad_kernels(void)
{
    static const dc_test_case tests[] = {
        {"c.ScatterAdd = reference (axes, repeats, negatives, f32/f64, i32/i64)", test_scatter_add},
        {"c.ScatterAdd: index out of range is an error", test_scatter_add_bad_index},
        {"c.ConvGradInput/Weight = reference", test_conv_grad_c},
        {"dnnl.ConvGradInput/Weight = reference", test_conv_grad_dnnl},
        {"c.ResizeGrad = reference (every mode and coordinate mode)", test_resize_grad},
        {"compiled gradients of Gather, Conv, Resize = interpreter", test_compiled_gradients},
        {"benchmark: ScatterAdd vs one-hot matmul (DINOC_BENCH=1)", test_bench_scatter},
        {NULL, NULL},
    };
    dc_add_suite("runtime_grad_kernels", tests);
}
