/* Training graphs against PyTorch and against their formulas:
 *   - `dinoc grad`'s path: gradients of a torch-exported model (LayerNorm,
 *     erf-GELU, softmax attention, residuals, a weight shared by two
 *     branches) match torch's within 1e-4 relative;
 *   - ten AdamW steps with weight decay, two param groups and gradient
 *     clipping match torch's parameters within 1e-4, with one global norm and
 *     with two clip groups (two clip_grad_norm_ calls);
 *   - clip groups as IR: golden text of a small graph, and the errors;
 *   - the EMA and center updates, and the AdamW kernels, match their formulas.
 * The reference data comes from tests/models/export_grad_model.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "dc_npy.h"
#include "ema.h"
#include "interpret.h"
#include "onnx_io.h"
#include "pass_test_util.h"
#include "pipeline.h"
#include "run_model.h"
#include "test_util.h"
#include "training.h"

#define MODELS DINOC_SOURCE_DIR "/tests/models/"

static const char *const params[] = {"shared", "norm.weight", "norm.bias", "qkv.weight",
                                     "proj.weight", "proj.bias", "fc.weight", "fc.bias"};
enum { N_PARAMS = sizeof params / sizeof params[0] };

static dc_tensor *load_npy(const char *prefix, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, MODELS "%s%s.npy", prefix, name);
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_npy_load(path, &t));
    return t;
}

/* max |got − want| / max |want|, the relative error of a whole tensor. */
static double relative_error(const dc_tensor *got, const void *got_data, const dc_tensor *want)
{
    double diff = 0, scale = 1e-12;
    const float *a = got_data, *b = want->data;
    for (uint64_t i = 0; i < dc_tensor_numel(want); i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    (void)got;
    return diff / scale;
}

static void load_inputs(dc_named_tensor in[2])
{
    in[0] = (dc_named_tensor){"x", load_npy("grad_", "x")};
    in[1] = (dc_named_tensor){"target", load_npy("grad_", "target")};
}

typedef struct grad_ctx {
    bool reached[N_PARAMS];
} grad_ctx;

static dc_status gradient_outputs(dc_graph *g, void *ctx)
{
    return dc_add_gradient_outputs(g, "loss", params, N_PARAMS, ((grad_ctx *)ctx)->reached);
}

static void test_gradients_match_torch(void)
{
    grad_ctx ctx = {{false}};
    dc_graph_transform t = {gradient_outputs, &ctx};
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_compile_onnx(MODELS "grad_model.onnx", NULL, 0, NULL, &(dc_pipeline_options){.training = &t}, &plan));
    CU_ASSERT_PTR_NOT_NULL_FATAL(plan);
    dc_named_tensor in[2];
    load_inputs(in);
    dc_tensor **out = NULL;
    int n_out = 0;
    DC_ASSERT_OK(dc_run_plan(plan, in, 2, NULL, NULL, &out, &n_out));
    CU_ASSERT_EQUAL_FATAL(n_out, 1 + N_PARAMS);
    for (int i = 0; i < N_PARAMS; i++) {
        CU_ASSERT(ctx.reached[i]);
        dc_tensor *want = load_npy("grad_", params[i]);
        CU_ASSERT_EQUAL(dc_tensor_numel(out[1 + i]), dc_tensor_numel(want));
        double err = relative_error(out[1 + i], out[1 + i]->data, want);
        if (!(err < 1e-4))
            fprintf(stderr, "\n    d loss / d %s: relative error %.3g\n", params[i], err);
        CU_ASSERT(err < 1e-4);
        dc_tensor_destroy(want);
    }
    dc_tensors_free(out, n_out);
    dc_tensor_destroy(in[0].tensor);
    dc_tensor_destroy(in[1].tensor);
    dc_plan_destroy(plan);
}

/* The settings of export_grad_model.py: lr 0.05, weight decay 0.1, biases and
 * norm parameters at half the lr without decay, clipping at 0.5. */
static const dc_param_group groups[] = {{"*bias", 0.5f, false, NULL}, {"norm*", 0.5f, false, NULL}};

/* ... and as two clip sets: norm, qkv and proj at 0.2, the rest at 0.3. */
static const dc_clip_group clip_sets[] = {{"[nqp]*", 0.2f}, {"*", 0.3f}};

typedef struct adamw_case {
    dc_adamw_options adamw;
    const char *golden; /* prefix of the torch results */
    int n_trained;
} adamw_case;

static dc_status training_step(dc_graph *g, void *ctx)
{
    adamw_case *c = ctx;
    dc_train_options opt = {.loss = "loss", .adamw = c->adamw};
    return dc_make_training_step(g, &opt, &c->n_trained);
}

static int buffer_named(const dc_plan *p, const char *name)
{
    for (int i = 0; i < p->n_buffers; i++)
        if (p->buffers[i].region == DC_REGION_STATE && strcmp(p->buffers[i].name, name) == 0)
            return i;
    return -1;
}

static dc_tensor *scalar(float v)
{
    dc_tensor *t;
    dc_tensor_create(&t, NULL, DC_F32, 0, NULL);
    *(float *)t->data = v;
    return t;
}

static void adamw_steps_match_torch(adamw_case *c)
{
    dc_graph_transform t = {training_step, c};
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_compile_onnx(MODELS "grad_model.onnx", NULL, 0, NULL, &(dc_pipeline_options){.training = &t}, &plan));
    CU_ASSERT_PTR_NOT_NULL_FATAL(plan);
    CU_ASSERT_EQUAL(c->n_trained, N_PARAMS);
    dc_session *sess;
    DC_ASSERT_OK(dc_session_create(plan, 1, &sess));
    dc_named_tensor in[2];
    load_inputs(in);
    dc_tensor *lr = scalar(0.05f), *wd = scalar(0.1f), *losses = load_npy(c->golden, "losses");
    DC_ASSERT_OK(dc_session_set_input(sess, "x", in[0].tensor));
    DC_ASSERT_OK(dc_session_set_input(sess, "target", in[1].tensor));
    DC_ASSERT_OK(dc_session_set_input(sess, "lr", lr));
    DC_ASSERT_OK(dc_session_set_input(sess, "weight_decay", wd));
    for (int step = 0; step < 10; step++) {
        DC_ASSERT_OK(dc_session_run(sess));
        dc_tensor *loss;
        DC_ASSERT_OK(dc_session_get_output(sess, 0, &loss));
        double want = ((const float *)losses->data)[step], got = dc_tensor_get_f64(loss, 0);
        if (!(fabs(got - want) <= 1e-4 * fabs(want)))
            fprintf(stderr, "\n    %s step %d: loss %.7g, torch %.7g\n", c->golden, step + 1, got, want);
        CU_ASSERT(fabs(got - want) <= 1e-4 * fabs(want));
        dc_tensor_destroy(loss);
    }
    for (int i = 0; i < N_PARAMS; i++) {
        int b = buffer_named(plan, params[i]);
        CU_ASSERT_FATAL(b >= 0);
        dc_tensor *want = load_npy(c->golden, params[i]);
        double err = relative_error(want, dc_session_buffer(sess, b), want);
        if (!(err < 1e-4))
            fprintf(stderr, "\n    %s%s after 10 steps: relative error %.3g\n", c->golden, params[i], err);
        CU_ASSERT(err < 1e-4);
        dc_tensor_destroy(want);
    }
    dc_tensor_destroy(lr);
    dc_tensor_destroy(wd);
    dc_tensor_destroy(losses);
    dc_tensor_destroy(in[0].tensor);
    dc_tensor_destroy(in[1].tensor);
    dc_session_destroy(sess);
    dc_plan_destroy(plan);
}

static void test_adamw_steps_match_torch(void)
{
    adamw_case c = {.adamw = {.clip_norm = 0.5f, .groups = groups, .n_groups = 2},
                    .golden = "adamw_"};
    adamw_steps_match_torch(&c);
}

static void test_adamw_clip_sets_match_torch(void)
{
    adamw_case c = {.adamw = {.groups = groups, .n_groups = 2, .clip_groups = clip_sets,
                              .n_clip_groups = 2},
                    .golden = "clipsets_"};
    adamw_steps_match_torch(&c);
}

/* Two parameters clipped as one set, a third exempt (max_norm 0), as IR. */
static void test_clip_groups_ir(void)
{
    dc_graph *g = dc_graph_create("clip");
    const int64_t d[] = {2};
    dc_value *p[3], *gr[3];
    const char *names[] = {"a.w", "a.b", "c"};
    for (int i = 0; i < 3; i++) {
        dc_tensor *t;
        DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 1, d));
        p[i] = dc_state(g, names[i], t);
        char gname[16];
        snprintf(gname, sizeof gname, "g%d", i);
        gr[i] = dc_input(g, gname, DC_F32, 1, d);
    }
    const dc_clip_group sets[] = {{"a.*", 1.5f}, {"c", 0}};
    dc_adamw_options opt = {.clip_groups = sets, .n_clip_groups = 2};
    DC_ASSERT_OK(dc_add_adamw(g, p, gr, 3, &opt));
    DC_ASSERT_OK(dc_graph_verify(g));
    /* One norm over g0 and g1, min(1, 1.5 / (norm + 1e-6)) as (1 + c − |1 − c|)/2,
     * scaling both; g2 goes to AdamW as it is. */
    EXPECT_TEXT(g,
        "graph clip (ir 8, opset 17, ai.dinoc 1)\n"
        "  input  g0: f32[2]\n"
        "  input  g1: f32[2]\n"
        "  input  g2: f32[2]\n"
        "  input  lr: f32[]\n"
        "  input  weight_decay: f32[]\n"
        "  init   a.w = <f32[2] {0, 0}>\n"
        "  init   a.b = <f32[2] {0, 0}>\n"
        "  init   c = <f32[2] {0, 0}>\n"
        "  init   const_12 = <f32[] {1e-06}>\n"
        "  init   const_15 = <f32[] {1.5}>\n"
        "  init   const_18 = <f32[] {1}>\n"
        "  init   const_27 = <f32[] {0.5}>\n"
        "  init   optimizer.step = <i64[] {0}>\n"
        "  init   const_34 = <i64[] {1}>\n"
        "  init   a.w.exp_avg = <f32[2] {0, 0}>\n"
        "  init   a.w.exp_avg_sq = <f32[2] {0, 0}>\n"
        "  init   a.b.exp_avg = <f32[2] {0, 0}>\n"
        "  init   a.b.exp_avg_sq = <f32[2] {0, 0}>\n"
        "  init   c.exp_avg = <f32[2] {0, 0}>\n"
        "  init   c.exp_avg_sq = <f32[2] {0, 0}>\n"
        "  t_1: f32[2] = Mul(g0, g0)  # Mul_0\n"
        "  t_3: f32[] = ReduceSum(t_1) {keepdims=0}  # ReduceSum_2\n"
        "  t_5: f32[2] = Mul(g1, g1)  # Mul_4\n"
        "  t_7: f32[] = ReduceSum(t_5) {keepdims=0}  # ReduceSum_6\n"
        "  t_9: f32[] = Add(t_3, t_7)  # Add_8\n"
        "  t_11: f32[] = Sqrt(t_9)  # Sqrt_10\n"
        "  t_14: f32[] = Add(t_11, const_12)  # Add_13\n"
        "  t_17: f32[] = Div(const_15, t_14)  # Div_16\n"
        "  t_20: f32[] = Sub(const_18, t_17)  # Sub_19\n"
        "  t_22: f32[] = Abs(t_20)  # Abs_21\n"
        "  t_24: f32[] = Add(const_18, t_17)  # Add_23\n"
        "  t_26: f32[] = Sub(t_24, t_22)  # Sub_25\n"
        "  t_29: f32[] = Mul(t_26, const_27)  # Mul_28\n"
        "  t_31: f32[2] = Mul(g0, t_29)  # Mul_30\n"
        "  t_33: f32[2] = Mul(g1, t_29)  # Mul_32\n"
        "  t_36: i64[] = Add(optimizer.step, const_34)  # Add_35\n"
        "  t_38: f32[2], t_39: f32[2], t_40: f32[2] = ai.dinoc.AdamW(a.w, t_31, a.w.exp_avg, a.w.exp_avg_sq, lr, weight_decay, t_36) {beta1=0.9, beta2=0.999, epsilon=1e-08, lr_scale=1, decay=1}  # AdamW_37\n"
        "  t_42: f32[2], t_43: f32[2], t_44: f32[2] = ai.dinoc.AdamW(a.b, t_33, a.b.exp_avg, a.b.exp_avg_sq, lr, weight_decay, t_36) {beta1=0.9, beta2=0.999, epsilon=1e-08, lr_scale=1, decay=1}  # AdamW_41\n"
        "  t_46: f32[2], t_47: f32[2], t_48: f32[2] = ai.dinoc.AdamW(c, g2, c.exp_avg, c.exp_avg_sq, lr, weight_decay, t_36) {beta1=0.9, beta2=0.999, epsilon=1e-08, lr_scale=1, decay=1}  # AdamW_45\n",
        "AdamW with clip groups");
    dc_graph_destroy(g);

    /* clip_norm and clip groups together, and a negative norm, are errors. */
    g = dc_graph_create("clip_errors");
    for (int i = 0; i < 3; i++) {
        dc_tensor *t;
        DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, 1, d));
        p[i] = dc_state(g, names[i], t);
        gr[i] = dc_input(g, names[i][0] == 'c' ? "gc" : i ? "gb" : "ga", DC_F32, 1, d);
    }
    opt.clip_norm = 3;
    CU_ASSERT_EQUAL(dc_add_adamw(g, p, gr, 3, &opt), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "not both") != NULL);
    const dc_clip_group negative[] = {{"*", -1}};
    dc_adamw_options bad = {.clip_groups = negative, .n_clip_groups = 1};
    CU_ASSERT_EQUAL(dc_add_adamw(g, p, gr, 3, &bad), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "clip group 0 ('*'): max_norm -1") != NULL);
    dc_graph_destroy(g);
}

/* A teacher t ← m·t + (1 − m)·s and a center c ← 0.9·c + 0.1·mean_rows(x),
 * run for three steps with different momenta, against the formulas. */
static void test_ema_and_center_updates(void)
{
    enum { K = 3, ROWS = 4 };
    dc_graph *g = dc_graph_create("ema");
    const int64_t tk[] = {K}, ck[] = {1, K}, xk[] = {ROWS, K};
    dc_value *m = dc_input(g, "momentum", DC_F32, 0, NULL);
    dc_value *s = dc_input(g, "student", DC_F32, 1, tk);
    dc_value *x = dc_input(g, "x", DC_F32, 2, xk);
    dc_tensor *t0, *c0;
    DC_ASSERT_OK(dc_tensor_create(&t0, NULL, DC_F32, 1, tk));
    DC_ASSERT_OK(dc_tensor_create(&c0, NULL, DC_F32, 2, ck));
    for (int i = 0; i < K; i++)
        ((float *)t0->data)[i] = (float)i;
    dc_value *teacher = dc_state(g, "teacher", t0), *center = dc_state(g, "center", c0);
    DC_ASSERT_OK(dc_add_ema(g, m, &teacher, &s, 1));
    DC_ASSERT_OK(dc_add_center_update(g, center, x, 0.9f));
    DC_ASSERT_OK(dc_output(g, dc_reduce(g, "ReduceSum", x, NULL, 0, false)));
    DC_ASSERT_OK(dc_graph_verify(g));

    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    CU_ASSERT_PTR_NOT_NULL_FATAL(plan);
    dc_session *sess;
    DC_ASSERT_OK(dc_session_create(plan, 1, &sess));
    double want_t[K] = {0, 1, 2}, want_c[K] = {0};
    const float momenta[] = {0.9f, 0.5f, 0.996f};
    dc_tensor *st, *xt;
    DC_ASSERT_OK(dc_tensor_create(&st, NULL, DC_F32, 1, tk));
    DC_ASSERT_OK(dc_tensor_create(&xt, NULL, DC_F32, 2, xk));
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < K; i++)
            ((float *)st->data)[i] = (float)(10 * step + i);
        for (int i = 0; i < ROWS * K; i++)
            ((float *)xt->data)[i] = (float)((i * 7 + step) % 5) - 2.0f;
        dc_tensor *mt = scalar(momenta[step]);
        DC_ASSERT_OK(dc_session_set_input(sess, "momentum", mt));
        DC_ASSERT_OK(dc_session_set_input(sess, "student", st));
        DC_ASSERT_OK(dc_session_set_input(sess, "x", xt));
        DC_ASSERT_OK(dc_session_run(sess));
        dc_tensor_destroy(mt);
        for (int k = 0; k < K; k++) {
            double mean = 0;
            for (int r = 0; r < ROWS; r++)
                mean += ((float *)xt->data)[r * K + k] / (double)ROWS;
            want_t[k] = momenta[step] * want_t[k] + (1 - momenta[step]) * ((float *)st->data)[k];
            want_c[k] = 0.9 * want_c[k] + 0.1 * mean;
        }
    }
    const float *got_t = dc_session_buffer(sess, buffer_named(plan, "teacher"));
    const float *got_c = dc_session_buffer(sess, buffer_named(plan, "center"));
    for (int k = 0; k < K; k++) {
        CU_ASSERT_DOUBLE_EQUAL(got_t[k], want_t[k], 1e-5 * (1 + fabs(want_t[k])));
        CU_ASSERT_DOUBLE_EQUAL(got_c[k], want_c[k], 1e-6);
    }
    dc_tensor_destroy(st);
    dc_tensor_destroy(xt);
    dc_session_destroy(sess);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

/* One AdamW node: the reference kernel (interpreter) and the runtime kernel
 * agree with the formula written out here, at step 3 with weight decay. */
static void test_adamw_kernels_match_formula(void)
{
    enum { N = 5 };
    const int64_t d[] = {N};
    dc_graph *g = dc_graph_create("adamw");
    dc_value *in[7];
    const char *names[] = {"p", "g", "m", "v"};
    for (int i = 0; i < 4; i++)
        in[i] = dc_input(g, names[i], DC_F32, 1, d);
    in[4] = dc_input(g, "lr", DC_F32, 0, NULL);
    in[5] = dc_input(g, "wd", DC_F32, 0, NULL);
    in[6] = dc_input(g, "step", DC_I64, 0, NULL);
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_node *node = dc_node_begin(g, "AdamW", "ai.dinoc", in, 7, 3);
    DC_ASSERT_OK(dc_node_set_float(node, g, "lr_scale", 0.5f));
    dc_node_finish(g, node);
    for (int i = 0; i < 3; i++)
        DC_ASSERT_OK(dc_output(g, node->outputs[i]));
    DC_ASSERT_OK(dc_build_status(g));

    dc_tensor *data[7];
    for (int i = 0; i < 4; i++) {
        DC_ASSERT_OK(dc_tensor_create(&data[i], names[i], DC_F32, 1, d));
        for (int k = 0; k < N; k++)
            ((float *)data[i]->data)[k] = i == 3 ? 0.01f * (k + 1) : 0.3f * (k - 2) + 0.1f * i;
    }
    data[4] = scalar(0.01f);
    data[5] = scalar(0.05f);
    DC_ASSERT_OK(dc_tensor_create(&data[6], NULL, DC_I64, 0, NULL));
    *(int64_t *)data[6]->data = 3;
    dc_tensor *ref[3] = {NULL};
    DC_ASSERT_OK(dc_interpret(g, data, 7, ref));
    dc_named_tensor named[7];
    const char *all[] = {"p", "g", "m", "v", "lr", "wd", "step"};
    for (int i = 0; i < 7; i++)
        named[i] = (dc_named_tensor){all[i], data[i]};
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_tensor **run = NULL;
    int n_run = 0;
    DC_ASSERT_OK(dc_run_plan(plan, named, 7, NULL, NULL, &run, &n_run));
    CU_ASSERT_EQUAL_FATAL(n_run, 3);
    for (int k = 0; k < N; k++) {
        double p = ((float *)data[0]->data)[k], gr = ((float *)data[1]->data)[k];
        double m = 0.9 * ((float *)data[2]->data)[k] + 0.1 * gr;
        double v = 0.999 * ((float *)data[3]->data)[k] + 0.001 * gr * gr;
        double lr = 0.01 * 0.5, t = 3;
        p = p * (1 - lr * 0.05) - lr / (1 - pow(0.9, t)) * m / (sqrt(v) / sqrt(1 - pow(0.999, t)) + 1e-8);
        const double want[3] = {p, m, v};
        for (int o = 0; o < 3; o++) {
            CU_ASSERT_DOUBLE_EQUAL(dc_tensor_get_f64(ref[o], k), want[o], 1e-6);
            CU_ASSERT_DOUBLE_EQUAL(dc_tensor_get_f64(run[o], k), want[o], 1e-6);
        }
    }
    for (int i = 0; i < 3; i++)
        dc_tensor_destroy(ref[i]);
    for (int i = 0; i < 7; i++)
        dc_tensor_destroy(data[i]);
    dc_tensors_free(run, n_run);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

/* Training state survives ONNX export and import (metadata), and no import-time
 * inference folds a value computed from it. */
static void test_state_round_trips_through_onnx(void)
{
    dc_graph *g = dc_graph_create("counter");
    dc_tensor *zero;
    DC_ASSERT_OK(dc_tensor_create(&zero, NULL, DC_I64, 0, NULL));
    dc_value *count = dc_state(g, "count", zero);
    dc_value *next = dc_add(g, count, dc_scalar(g, DC_I64, 1));
    DC_ASSERT_OK(dc_graph_add_state_update(g, count, next));
    DC_ASSERT_OK(dc_output(g, next));
    void *bytes = NULL;
    size_t size = 0;
    DC_ASSERT_OK(dc_onnx_save_buffer(g, &bytes, &size));
    dc_graph *back = NULL;
    DC_ASSERT_OK(dc_onnx_load_buffer(bytes, size, NULL, &back));
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(back->n_state_updates, 1);
    const dc_value *c = dc_graph_find_value(back, "count");
    CU_ASSERT(c && c->is_state);
    CU_ASSERT_PTR_NULL(dc_graph_find_value(back, next->name)->constant); /* not folded */
    CU_ASSERT_PTR_NULL(dc_graph_metadata(back, DC_ONNX_STATE_UPDATE_PREFIX "count"));
    free(bytes);
    dc_graph_destroy(back);
    dc_graph_destroy(g);
}

void register_pass_training(void)
{
    static const dc_test_case tests[] = {
        {"gradients of a torch-exported model match torch", test_gradients_match_torch},
        {"ten AdamW steps with groups and clipping match torch", test_adamw_steps_match_torch},
        {"ten AdamW steps clipping two sets apart match torch", test_adamw_clip_sets_match_torch},
        {"clip groups as IR, and their errors", test_clip_groups_ir},
        {"EMA and center updates follow their formulas", test_ema_and_center_updates},
        {"AdamW reference and runtime kernels follow the formula", test_adamw_kernels_match_formula},
        {"training state round-trips through ONNX", test_state_round_trips_through_onnx},
        {NULL, NULL},
    };
    dc_add_suite("pass_training", tests);
}
