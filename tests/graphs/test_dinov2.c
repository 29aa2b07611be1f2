/* One DINOv2 training step (graphs/dinov2.c through dc_dinov2_step,
 * tools/driver/dinov2_step.h) against PyTorch (tests/models/dinov2_reference.py):
 * same initial parameters and batch, then
 *   - the four loss terms within 1e-5 relative;
 *   - d loss / d every student parameter within 1e-4 (max |diff| / max |want|);
 *   - every parameter after AdamW and the teacher EMA, the AdamW moments,
 *     within 1e-4; the centers within 1e-5; optimizer.step exactly;
 *   - no tensor missing and none extra.
 * Cases (tests/models/dinov2_ref/<case>/): "test-tiny" (mean centering,
 * separate iBOT head, drop-path), "test-sinkhorn" (Sinkhorn-Knopp, registers,
 * shared head), "test-tiny-bm" (test-tiny with the overrides in its
 * overrides.txt: layer-wise lr decay, patch-embed lr multiplier, weight-decay
 * groups, binding gradient clipping; an init with AdamW moments at step 3),
 * "test-tiny-module-clip" and "test-sinkhorn-module-clip" (the same with the
 * official rules as overrides: clipping per student module at a norm that
 * binds for one module only, the offset pos-embed resize; separate and shared
 * heads), and "official-tiny" / "official-tiny-separate": `dinoc step --config
 * official` with small shapes, registers, SwiGLU, Sinkhorn-Knopp and
 * drop-path 0.3 against an independent float64 implementation of the official
 * code's step (tests/models/dinov2_official_reference.py: per-module
 * clip_grad_norm_, interpolate_offset, efficient stochastic depth; a shared
 * head, and separate heads at step 4).
 *
 * Also: the step for a slice of the batch (accumulators, all-reduce,
 * sharding), and where a 2-process step's all-reduce buckets sit in its plan.
 *
 * One exemption: the attention's key bias (the middle third of qkv.bias) has
 * an exactly zero gradient (softmax over the keys is shift invariant), so in
 * float32 it is round-off of ~1e-9 — the size of AdamW's eps. On a first step
 * (zero moments) AdamW turns that into an update of any size up to lr, of
 * either sign, in dinoc as in PyTorch. There the updated key biases are only
 * held to |diff| <= lr (student) and (1 − momentum)·lr more (teacher). */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "compile_step.h"
#include "configs.h"
#include "dc_safetensors.h"
#include "dinov2.h"
#include "dinov2_step.h"
#include "pipeline.h"
#include "test_util.h"

#define REF_DIR DINOC_SOURCE_DIR "/tests/models/dinov2_ref/"

enum { MAX_OVERRIDES = 24 };

static const double LOSS_TOL = 1e-5, TENSOR_TOL = 1e-4, CENTER_TOL = 1e-5;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int same_shape(const dc_tensor *a, const dc_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

/* max |got − want| / max |want| over elements [begin, end) of a float tensor. */
static double relative_error(const dc_tensor *got, const dc_tensor *want, uint64_t begin,
                             uint64_t end, double *max_abs_diff)
{
    double diff = 0, scale = 0;
    for (uint64_t i = begin; i < end; i++) {
        double w = dc_tensor_get_f64(want, i), d = fabs(dc_tensor_get_f64(got, i) - w);
        diff = d > diff || isnan(d) ? d : diff;
        scale = fabs(w) > scale ? fabs(w) : scale;
    }
    if (max_abs_diff)
        *max_abs_diff = diff;
    return scale > 0 ? diff / scale : diff;
}

static double batch_scalar(const dc_safetensors *batch, const char *name)
{
    const dc_tensor *t = dc_safetensors_get(batch, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return dc_tensor_get_f64(t, 0);
}

/* Compares one expected tensor with dinoc's; returns 1 when it matches. */
static int check_tensor(const char *cas, const char *file, const dc_tensor *want,
                        const dc_safetensors *got_file, const dc_safetensors *batch,
                        int first_step)
{
    const dc_tensor *got = dc_safetensors_get(got_file, want->name);
    if (!got) {
        fprintf(stderr, "\n    %s %s: '%s' missing from dinoc's output", cas, file, want->name);
        return 0;
    }
    if (!same_shape(got, want)) {
        fprintf(stderr, "\n    %s %s: '%s' has another type or shape", cas, file, want->name);
        return 0;
    }
    uint64_t n = dc_tensor_numel(want);
    if (want->dtype == DC_I64) {
        for (uint64_t i = 0; i < n; i++)
            if (dc_tensor_get_i64(got, i) != dc_tensor_get_i64(want, i)) {
                fprintf(stderr, "\n    %s %s: '%s' = %lld, expected %lld", cas, file, want->name,
                        (long long)dc_tensor_get_i64(got, i), (long long)dc_tensor_get_i64(want, i));
                return 0;
            }
        return 1;
    }
    int center = !strcmp(want->name, "dino_center") || !strcmp(want->name, "ibot_center");
    double tol = center ? CENTER_TOL : TENSOR_TOL, err;
    int ok = 1;
    if (first_step && ends_with(want->name, "attn.qkv.bias") && strstr(file, "state")) {
        /* [q | k | v]: the key bias is the exempted middle third (top comment). */
        uint64_t d = n / 3;
        double lr = batch_scalar(batch, "lr"), m = batch_scalar(batch, "momentum");
        double bound = strncmp(want->name, "teacher.", 8) == 0 ? (1 - m) * lr : lr;
        double k_diff, q_diff, v_diff, wmax = 0;
        relative_error(got, want, d, 2 * d, &k_diff);
        if (!(k_diff <= bound * (1 + 1e-3) + 1e-7)) {
            fprintf(stderr, "\n    %s %s: '%s' key bias moved by %.3g, more than %.3g", cas, file,
                    want->name, k_diff, bound);
            ok = 0;
        }
        relative_error(got, want, 0, d, &q_diff);
        relative_error(got, want, 2 * d, n, &v_diff);
        for (uint64_t i = 0; i < n; i++)
            wmax = fmax(wmax, fabs(dc_tensor_get_f64(want, i)));
        err = fmax(q_diff, v_diff) / (wmax > 0 ? wmax : 1);
    } else {
        err = relative_error(got, want, 0, n, NULL);
    }
    if (!(err <= tol)) {
        fprintf(stderr, "\n    %s %s: '%s' differs by %.3g (relative to its max; tolerance %g)",
                cas, file, want->name, err, tol);
        ok = 0;
    }
    return ok;
}

/* Every tensor of `file` in the expected directory against dinoc's output. */
static void check_file(const char *cas, const char *file, const char *got_dir,
                       const dc_safetensors *batch, int first_step)
{
    char path[1024];
    dc_safetensors *want = NULL, *got = NULL;
    snprintf(path, sizeof path, REF_DIR "%s/%s", cas, file);
    DC_ASSERT_OK(dc_safetensors_load(path, &want));
    snprintf(path, sizeof path, "%s/%s", got_dir, file);
    DC_ASSERT_OK(dc_safetensors_load(path, &got));
    if (!want || !got) {
        dc_safetensors_destroy(want);
        dc_safetensors_destroy(got);
        return;
    }
    int bad = 0;
    for (int i = 0; i < want->n_tensors; i++)
        bad += !check_tensor(cas, file, want->tensors[i], got, batch, first_step);
    for (int i = 0; i < got->n_tensors; i++)
        if (!dc_safetensors_get(want, got->tensors[i]->name)) {
            fprintf(stderr, "\n    %s %s: unexpected tensor '%s'", cas, file, got->tensors[i]->name);
            bad++;
        }
    CU_ASSERT_EQUAL(bad, 0);
    dc_safetensors_destroy(want);
    dc_safetensors_destroy(got);
}

static void check_losses(const char *cas, const char *got_dir)
{
    char path[1024];
    snprintf(path, sizeof path, REF_DIR "%s/losses.json", cas);
    json_object *want = json_object_from_file(path);
    snprintf(path, sizeof path, "%s/losses.json", got_dir);
    json_object *got = json_object_from_file(path);
    CU_ASSERT_PTR_NOT_NULL(want);
    CU_ASSERT_PTR_NOT_NULL(got);
    const char *terms[] = {"loss", "dino_loss", "ibot_loss", "koleo_loss"};
    for (int i = 0; want && got && i < 4; i++) {
        json_object *w, *g;
        if (!json_object_object_get_ex(want, terms[i], &w) ||
            !json_object_object_get_ex(got, terms[i], &g)) {
            fprintf(stderr, "\n    %s: loss term '%s' missing", cas, terms[i]);
            CU_FAIL("loss term missing");
            continue;
        }
        double wv = json_object_get_double(w), gv = json_object_get_double(g);
        double rel = fabs(gv - wv) / fmax(fabs(wv), 1e-30);
        if (!(rel <= LOSS_TOL))
            fprintf(stderr, "\n    %s: %s = %.8g, expected %.8g (relative %.3g)", cas, terms[i], gv,
                    wv, rel);
        CU_ASSERT(rel <= LOSS_TOL);
    }
    json_object_put(want);
    json_object_put(got);
}

/* overrides.txt: one FIELD=VALUE a line (absent: none). Returns the count. */
static int read_overrides(const char *cas, char lines[][128], const char *ptrs[])
{
    char path[1024];
    snprintf(path, sizeof path, REF_DIR "%s/overrides.txt", cas);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < MAX_OVERRIDES && fgets(lines[n], 128, f)) {
        lines[n][strcspn(lines[n], "\r\n")] = 0;
        if (lines[n][0]) {
            ptrs[n] = lines[n];
            n++;
        }
    }
    if (f)
        fclose(f);
    return n;
}

/* The config's step compiled ahead of time into dir/step<suffix> (".so":
 * generated kernels, ".dnc": a plan file), as `dinoc compile --config` does. */
static dc_status compile_ahead(const char *config, const char *const *overrides, int n,
                               const char *dir, const char *suffix, char *path, size_t cap)
{
    dc_plan *plan;
    DC_TRY(dc_dinov2_compile_step(config, overrides, n, 1, &(dc_pipeline_options){0}, &plan));
    snprintf(path, cap, "%s/step%s", dir, suffix);
    dc_status s = strcmp(suffix, ".so") == 0
                      ? dc_codegen_write_artifact(plan, &(dc_codegen_options){0}, path, &(int){0})
                      : dc_plan_write(plan, path);
    dc_plan_destroy(plan);
    return s;
}

/* The step of `config` (compiled_suffix NULL), or of it compiled ahead of
 * time: then the same state and losses, no gradients out, and overrides
 * refused. */
static void run_case_as(const char *cas, const char *config, const char *compiled_suffix)
{
    char lines[MAX_OVERRIDES][128], init[1024], batch_path[1024], dir[] = "/tmp/dinoc_dinov2_XXXXXX";
    char step_path[1100] = "";
    const char *overrides[MAX_OVERRIDES];
    int n = read_overrides(cas, lines, overrides);
    snprintf(init, sizeof init, REF_DIR "%s/init.safetensors", cas);
    snprintf(batch_path, sizeof batch_path, REF_DIR "%s/batch.safetensors", cas);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    dc_status s;
    if (compiled_suffix) {
        DC_ASSERT_OK(s = compile_ahead(config, overrides, n, dir, compiled_suffix, step_path,
                                       sizeof step_path));
        const char *one[] = {"lr=0.5"};
        CU_ASSERT_EQUAL(dc_dinov2_step(step_path, one, 1, init, batch_path, dir, NULL),
                        DC_ERR_INVALID);
        CU_ASSERT(strstr(dc_error_message(), "recompile") != NULL);
        if (s == DC_OK)
            s = dc_dinov2_step(step_path, NULL, 0, init, batch_path, dir, NULL);
    } else {
        s = dc_dinov2_step(config, overrides, n, init, batch_path, dir, NULL);
    }
    DC_ASSERT_OK(s);
    dc_safetensors *batch = NULL, *expected_state = NULL;
    DC_ASSERT_OK(dc_safetensors_load(batch_path, &batch));
    char path[1024];
    snprintf(path, sizeof path, REF_DIR "%s/state.safetensors", cas);
    DC_ASSERT_OK(dc_safetensors_load(path, &expected_state));
    if (s == DC_OK && batch && expected_state) {
        const dc_tensor *step = dc_safetensors_get(expected_state, "optimizer.step");
        int first_step = step && dc_tensor_get_i64(step, 0) == 1;
        check_losses(cas, dir);
        snprintf(path, sizeof path, "%s/gradients.safetensors", dir);
        if (compiled_suffix) {
            CU_ASSERT(access(path, F_OK) != 0);
        } else {
            check_file(cas, "gradients.safetensors", dir, batch, first_step);
        }
        check_file(cas, "state.safetensors", dir, batch, first_step);
    }
    dc_safetensors_destroy(batch);
    dc_safetensors_destroy(expected_state);
    const char *files[] = {"losses.json", "gradients.safetensors", "state.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (step_path[0])
        unlink(step_path);
    rmdir(dir);
}

static void run_case(const char *cas, const char *config) { run_case_as(cas, config, NULL); }

static void test_tiny(void) { run_case("test-tiny", "test-tiny"); }
static void test_sinkhorn(void) { run_case("test-sinkhorn", "test-sinkhorn"); }

/* The reference batches pad ibot_index and ibot_weight to the official code's
 * bound (16 rows for test-tiny) and the step cuts them to its own M (12: 2 masked
 * views of 16 patches, below 0.3 and 0.5 of them): a masked row past M is refused. */
static void test_masked_rows_past_bound(void)
{
    const char *names[] = {"global_views", "local_views", "mask", "ibot_index", "ibot_weight",
                           "keep_global", "keep_local", "teacher_temp", "lr", "last_layer_lr",
                           "weight_decay", "momentum"};
    enum { N_NAMES = sizeof names / sizeof *names };
    dc_safetensors *batch;
    DC_ASSERT_OK(dc_safetensors_load(REF_DIR "test-tiny/batch.safetensors", &batch));
    CU_ASSERT_PTR_NOT_NULL_FATAL(batch);
    dc_tensor copies[N_NAMES], *ptrs[N_NAMES];
    float weight[64];
    for (int i = 0; i < N_NAMES; i++) {
        const dc_tensor *t = dc_safetensors_get(batch, names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        copies[i] = *t;
        ptrs[i] = &copies[i];
    }
    const dc_tensor *w = dc_safetensors_get(batch, "ibot_weight");
    CU_ASSERT_EQUAL_FATAL(w->dims[0], 16);
    memcpy(weight, w->data, w->nbytes);
    CU_ASSERT_EQUAL(weight[12], 0.0f);
    weight[12] = 0.5f; /* a 13th masked row */
    copies[4].data = weight;
    char dir[] = "/tmp/dinoc_masked_rows_XXXXXX", path[64], init[1024];
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    snprintf(init, sizeof init, REF_DIR "test-tiny/init.safetensors");
    DC_ASSERT_OK(dc_safetensors_save(path, ptrs, N_NAMES, NULL, NULL, 0));
    const char *lines[MAX_OVERRIDES];
    char storage[MAX_OVERRIDES][128];
    int n = read_overrides("test-tiny", storage, lines);
    CU_ASSERT_EQUAL(dc_dinov2_step("test-tiny", lines, n, init, path, dir, NULL), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "bound M = 12"));
    dc_safetensors_destroy(batch);
    unlink(path);
    rmdir(dir);
}
static void test_tiny_bm(void) { run_case("test-tiny-bm", "test-tiny"); }
static void test_tiny_module_clip(void) { run_case("test-tiny-module-clip", "test-tiny"); }
static void test_sinkhorn_module_clip(void) { run_case("test-sinkhorn-module-clip", "test-sinkhorn"); }
static void test_official(void) { run_case("official-tiny", "official"); }
/* Compiled ahead of time: a shared object of generated kernels given AdamW
 * moments at step 3, and a plan file. */
static void test_tiny_bm_compiled(void) { run_case_as("test-tiny-bm", "test-tiny", ".so"); }
static void test_sinkhorn_compiled(void) { run_case_as("test-sinkhorn", "test-sinkhorn", ".dnc"); }
static void test_official_separate(void) { run_case("official-tiny-separate", "official"); }

/* `official` takes the official code's rules, Lightly's configs keep theirs,
 * and the official ones are printed as a note. */
static void test_official_rules(void)
{
    dc_dinov2_config o, lb, ex;
    DC_ASSERT_OK(dc_config_named("official", &o));
    DC_ASSERT_OK(dc_config_named("lightly-benchmark", &lb));
    DC_ASSERT_OK(dc_config_named("lightly-example", &ex));
    CU_ASSERT(o.clip_grad_per_module && o.clip_grad == 3.0f);
    CU_ASSERT(o.vit.interpolate_offset == 0.1f);
    CU_ASSERT_EQUAL(o.epoch_length, 1250);
    CU_ASSERT(o.blur_prob[0] == 0.0f && o.blur_prob[1] == 0.9f && o.blur_prob[2] == 0.5f);
    for (const dc_dinov2_config *l = &lb; l; l = l == &lb ? &ex : NULL) {
        CU_ASSERT(!l->clip_grad_per_module && l->vit.interpolate_offset == 0.0f);
        CU_ASSERT_EQUAL(l->epoch_length, 0);
        CU_ASSERT(l->blur_prob[0] == 1.0f && l->blur_prob[1] == 0.1f && l->blur_prob[2] == 0.5f);
    }
    char *text = dc_config_text(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    const char *says[] = {"# note: kept from the official dinov2 code", "clip_grad_per_module",
                          "(h + 0.1) / grid", "1250 iterations", "0.0 / 0.9 / 0.5",
                          "\nclip_grad_per_module = true\n", "\nvit.interpolate_offset = 0.1\n"};
    for (size_t i = 0; i < sizeof says / sizeof *says; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(text, says[i]));
    /* The fields read back from the printed text (checkpoints store it). */
    dc_dinov2_config back;
    DC_ASSERT_OK(dc_config_from_text(text, &back));
    CU_ASSERT(back.clip_grad_per_module && back.vit.interpolate_offset == 0.1f);
    free(text);
    DC_ASSERT_OK(dc_config_override(&lb, "clip_grad_per_module=true"));
    DC_ASSERT_OK(dc_config_override(&lb, "vit.interpolate_offset=0.1"));
    CU_ASSERT(lb.clip_grad_per_module && lb.vit.interpolate_offset == 0.1f);
    DC_ASSERT_OK(dc_config_override(&lb, "vit.interpolate_offset=1.5"));
    CU_ASSERT_EQUAL(dc_config_validate(&lb), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "vit.interpolate_offset 1.5 is not in [0, 1)") != NULL);
}

/* The step for a slice of the batch (dinov2.h): slice-sized inputs and M,
 * an accumulator per trained parameter and center statistic, AllReduce steps
 * over the processes, the statistics no longer outputs; the whole-batch step
 * has none of it. */
static void count_slicing(const dc_graph *g, int *reduce, int *accum, int *gather)
{
    *reduce = *accum = *gather = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        *reduce += strcmp(g->nodes[i]->op_type, "AllReduce") == 0 ||
                   strcmp(g->nodes[i]->op_type, "AllReduceStart") == 0;
        *gather += strcmp(g->nodes[i]->op_type, "AllGather") == 0;
    }
    for (int i = 0; i < g->n_initializers; i++) {
        const char *n = g->initializers[i]->name;
        *accum += strlen(n) > 6 && strcmp(n + strlen(n) - 6, ".accum") == 0;
    }
}

static void test_slices(void)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named("test-tiny", &c));
    c.batch_size = 4;
    dc_dinov2_slices whole = {0}, sliced = {.world_size = 2, .accum_steps = 2},
                     sharded = {.world_size = 2, .accum_steps = 1, .shard_optimizer = true};
    /* 16 patches; 4 of the 8 views masked, at ratios below linspace(0.1, 0.5, 5)[1:]:
     * at most 3, 4, 6 and 8 patches (not 4 × 8). */
    CU_ASSERT_EQUAL(dc_dinov2_max_masked_slice(&c, whole), 3 + 4 + 6 + 8);
    CU_ASSERT_EQUAL(dc_dinov2_max_masked_slice(&c, sliced), 6 + 8); /* 1 image: the 2 largest */
    /* Masks per slice: floor(2·b·p) masked views in each (b = 1, 2). */
    c.masks_per_slice = true;
    CU_ASSERT_EQUAL(dc_dinov2_max_masked_slice(&c, sliced), 8);     /* linspace(0.1, 0.5, 2) */
    CU_ASSERT_EQUAL(dc_dinov2_max_masked_slice(&c, sharded), 4 + 8); /* linspace(0.1, 0.5, 3) */
    CU_ASSERT_EQUAL(dc_dinov2_max_masked_slice(&c, whole), 3 + 4 + 6 + 8);
    c.masks_per_slice = false;
    dc_graph *g[3] = {NULL, NULL, NULL};
    const dc_dinov2_slices which[3] = {whole, sliced, sharded};
    int reduce[3], accum[3], gather[3], params = 0;
    for (int k = 0; k < 3; k++) {
        dc_dinov2_options o = {.training = true, .seed = 1, .slices = which[k]};
        DC_ASSERT_OK(dc_dinov2_build(&c, &o, &g[k]));
        if (!g[k])
            return;
        count_slicing(g[k], &reduce[k], &accum[k], &gather[k]);
    }
    for (int i = 0; i < g[0]->n_initializers; i++)
        params += strstr(g[0]->initializers[i]->name, ".exp_avg_sq") != NULL;
    CU_ASSERT(reduce[0] == 0 && accum[0] == 0 && gather[0] == 0);
    CU_ASSERT(reduce[1] >= 1 && accum[1] == params + 3 && gather[1] == 0);
    CU_ASSERT(reduce[2] >= 1 && accum[2] == 0 && gather[2] == 1);
    const dc_value *global = dc_graph_find_value(g[1], "global_views");
    CU_ASSERT(global && global->type.dims[0].size == 2); /* one image of 4, two views */
    CU_ASSERT_PTR_NOT_NULL(dc_graph_find_value(g[1], "accumulate"));
    CU_ASSERT_PTR_NULL(dc_graph_find_value(g[0], "accumulate"));
    for (int i = 0; i < g[1]->n_outputs; i++)
        CU_ASSERT(strstr(g[1]->outputs[i]->name, "center_batch") == NULL);
    /* Rank 0 of 2 keeps about half the moments. */
    int moments_sharded = 0;
    for (int i = 0; i < g[2]->n_initializers; i++)
        moments_sharded += strstr(g[2]->initializers[i]->name, ".exp_avg_sq") != NULL;
    CU_ASSERT(moments_sharded > 0 && moments_sharded < params);
    for (int k = 0; k < 3; k++)
        dc_graph_destroy(g[k]);
}

/* Whether plan buffers a and b share bytes. */
static bool share_bytes(const dc_plan *p, int a, int b)
{
    const dc_plan_buffer *x = &p->buffers[a], *y = &p->buffers[b];
    return x->region == y->region && x->nbytes && y->nbytes && x->offset < y->offset + y->nbytes &&
           y->offset < x->offset + x->nbytes;
}

/* Whether step s has an argument in [first, end) sharing bytes with one of
 * step t's arguments in [tfirst, tend). */
static bool args_share(const dc_plan *p, int s, int first, int end, int t, int tfirst, int tend)
{
    const dc_plan_step *a = &p->steps[s], *b = &p->steps[t];
    for (int i = first; i < end; i++)
        for (int k = tfirst; k < tend; k++)
            if (a->args[i] >= 0 && b->args[k] >= 0 && share_bytes(p, a->args[i], b->args[k]))
                return true;
    return false;
}

/* Where an all-reduce bucket sits in a compiled plan: its start and wait,
 * the last step before the start that writes one of its inputs, the first
 * after the wait that reads one of its sums, and how many steps in between
 * touched the bucket's bytes (none may: MPI owns them). */
typedef struct bucket_place {
    int start, wait, last_writer, first_reader, trespassers;
} bucket_place;

static int bucket_places(const dc_plan *p, bucket_place *out, int max)
{
    int n = 0;
    for (int s = 0; s < p->n_steps && n < max; s++) {
        const dc_plan_step *st = &p->steps[s];
        if (strcmp(st->op_type, "AllReduceStart") != 0)
            continue;
        bucket_place b = {.start = s, .wait = -1, .last_writer = -1, .first_reader = p->n_steps};
        int bucket = st->args[st->n_inputs];
        for (int i = s - 1; i >= 0 && b.last_writer < 0; i--)
            if (args_share(p, i, p->steps[i].n_inputs, p->steps[i].n_inputs + p->steps[i].n_outputs,
                           s, 0, st->n_inputs))
                b.last_writer = i;
        for (int w = s + 1; w < p->n_steps && b.wait < 0; w++) {
            const dc_plan_step *ws = &p->steps[w];
            if (strcmp(ws->op_type, "AllReduceWait") == 0 && ws->args[0] == bucket)
                b.wait = w;
            else
                for (int a = 0; a < ws->n_inputs + ws->n_outputs; a++)
                    b.trespassers += ws->args[a] >= 0 && share_bytes(p, ws->args[a], bucket);
        }
        const dc_plan_step *ws = b.wait >= 0 ? &p->steps[b.wait] : NULL;
        for (int i = b.wait + 1; ws && i < p->n_steps && b.first_reader == p->n_steps; i++)
            if (args_share(p, i, 0, p->steps[i].n_inputs, b.wait, 1, 1 + ws->n_outputs))
                b.first_reader = i;
        out[n++] = b;
    }
    return n;
}

/* Rank 0's plan of a step over 2 processes without accumulation. */
static dc_plan *two_process_plan(const char *config, float bucket_mb, bool shard)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named(config, &c));
    c.allreduce_bucket_mb = bucket_mb;
    dc_dinov2_slices slices = {.world_size = 2, .accum_steps = 1, .shard_optimizer = shard};
    dc_dinov2_options o = {.seed = 1, .slices = slices};
    dc_graph *g = NULL;
    DC_ASSERT_OK(dc_dinov2_build(&c, &o, &g));
    dc_dinov2_training t = {.config = &c, .slices = slices};
    dc_graph_transform step = {dc_dinov2_add_training, &t};
    dc_plan *plan = NULL;
    if (g)
        DC_ASSERT_OK(dc_pipeline_compile(g, &(dc_pipeline_options){.training = &step}, &plan));
    dc_graph_destroy(g);
    return plan;
}

/* Checks every bucket of the plan and prints where they sit; returns how many
 * start before the last gradient is written (the backward is still running). */
static int check_buckets(const dc_plan *p, const char *what, int *n_buckets)
{
    bucket_place b[64];
    int n = p ? bucket_places(p, b, 64) : 0, early = 0, done = -1;
    for (int k = 0; k < n; k++)
        done = b[k].last_writer > done ? b[k].last_writer : done;
    fprintf(stderr, "\n    %s: %d steps, the last gradient written at step %d;", what,
            p ? p->n_steps : 0, done);
    for (int k = 0; k < n; k++) {
        fprintf(stderr, "\n      bucket %d: start %d (last input written at %d), wait %d (first reader %d)",
                k, b[k].start, b[k].last_writer, b[k].wait, b[k].first_reader);
        early += b[k].start < done;
        CU_ASSERT(b[k].last_writer >= 0 && b[k].last_writer < b[k].start);
        for (int i = b[k].last_writer + 1; i < b[k].start; i++) /* right after it, or after other starts */
            CU_ASSERT_STRING_EQUAL(p->steps[i].op_type, "AllReduceStart");
        CU_ASSERT(b[k].start < b[k].wait && b[k].wait < b[k].first_reader &&
                  b[k].first_reader < p->n_steps);
        for (int i = b[k].wait + 1; i < b[k].first_reader; i++)
            CU_ASSERT_STRING_EQUAL(p->steps[i].op_type, "AllReduceWait");
        CU_ASSERT_EQUAL(b[k].trespassers, 0);
    }
    *n_buckets = n;
    return early;
}

/* The 2-process step's all-reduce overlaps the backward: with buckets of
 * 20 KB the test-tiny gradients make several, made from the last parameters
 * to the first, and all but the last start before the backward ends; each
 * waits just before the first step that reads its sums, and no step in
 * between touches a bucket's bytes. The same holds with a sharded optimizer;
 * fashion-mnist's positions (buckets of 25 MB, the first of 1 MB) are printed. */
static void test_overlapped_all_reduce(void)
{
    int n = 0;
    for (int shard = 0; shard < 2; shard++) {
        dc_plan *p = two_process_plan("test-tiny", 0.02f, shard);
        int early = check_buckets(p, shard ? "test-tiny, 20 KB buckets, sharded" : "test-tiny, 20 KB buckets", &n);
        CU_ASSERT(n >= 2);
        CU_ASSERT(early >= n - 1);
        dc_plan_destroy(p);
    }
    dc_plan *p = two_process_plan("fashion-mnist", 25.0f, false);
    check_buckets(p, "fashion-mnist, 2 processes", &n);
    CU_ASSERT(n >= 1);
    dc_plan_destroy(p);
}

void register_graphs_dinov2(void)
{
    static const dc_test_case tests[] = {
        {"test-tiny step matches torch (mean centering, iBOT head, drop-path)", test_tiny},
        {"test-sinkhorn step matches torch (Sinkhorn-Knopp, registers, shared head)", test_sinkhorn},
        {"a batch padded past the step's masked-row bound fits it; a masked row past it is refused",
         test_masked_rows_past_bound},
        {"test-tiny with benchmark optimiser overrides, step 4, matches torch", test_tiny_bm},
        {"test-tiny with per-module clipping and offset resize, step 4, matches torch",
         test_tiny_module_clip},
        {"test-sinkhorn with per-module clipping (shared head) and offset resize matches torch",
         test_sinkhorn_module_clip},
        {"official (registers, SwiGLU, Sinkhorn, shared head) matches the official step",
         test_official},
        {"official with separate heads, step 4, matches the official step", test_official_separate},
        {"test-tiny-bm compiled ahead of time to a shared object (dinoc step STEP.so) matches "
         "torch", test_tiny_bm_compiled},
        {"test-sinkhorn compiled ahead of time to a plan file matches torch",
         test_sinkhorn_compiled},
        {"official takes the official rules and prints them as a note", test_official_rules},
        {"a step for a slice of the batch: accumulators, AllReduce, sharding", test_slices},
        {"the 2-process step's all-reduce buckets start in the backward, wait before readers",
         test_overlapped_all_reduce},
        {NULL, NULL},
    };
    dc_add_suite("graphs_dinov2", tests);
}
