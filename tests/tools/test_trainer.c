/* The training loop (tools/train/trainer.h, `dinoc train`) on the test-tiny config
 * with one channel, over a synthetic IDX folder the suite writes:
 *   - the schedules against Lightly's formulas (graphs/DINOV2.md §5.3) at known points;
 *   - a run interrupted after an epoch and resumed gives the same losses,
 *     schedule values and final state, bit for bit, as an uninterrupted one;
 *     during the frozen first epoch the heads' last layers do not move;
 *   - the backbones of a checkpoint load into the timm-style ViT with
 *     load_state_dict(strict=True) (tests/models/load_checkpoint.py, skipped
 *     without python3-torch);
 *   - bad input: missing or corrupt data, a checkpoint of another config (the
 *     error names the tensor, or the field), an existing checkpoint without
 *     --resume, a full disk while checkpointing (RLIMIT_FSIZE on the dinoc
 *     process: the previous checkpoint survives);
 *   - `dinoc train` stops on SIGTERM/SIGINT with a checkpoint and exit
 *     143/130, and after kill -9 the last complete checkpoint loads and resumes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "configs.h"
#include "dc_safetensors.h"
#include "dinov2.h"
#include "dinov2_step.h"
#include "test_util.h"
#include "train_config.h"

static char root[64];
static char data_dir[128];

enum { N_IMAGES = 32, IMAGE = 16 };

/* Also used by the suite's init, outside any test: no CUnit assertions. */
static int write_file(const char *dir, const char *name, const void *a, size_t na, const void *b,
                      size_t nb)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(a, 1, na, f) == na && fwrite(b, 1, nb, f) == nb;
    return fclose(f) == 0 && ok;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* IDX images (train split) of simple shapes, `n` of them, the last `cut`
 * bytes missing. Returns 0 when a file could not be written. */
static int write_idx(const char *dir, int n, size_t cut)
{
    mkdir(dir, 0777);
    uint8_t head[16], lhead[8];
    be32(head, 0x803), be32(head + 4, (uint32_t)n), be32(head + 8, IMAGE), be32(head + 12, IMAGE);
    be32(lhead, 0x801), be32(lhead + 4, (uint32_t)n);
    size_t size = (size_t)n * IMAGE * IMAGE;
    uint8_t *px = malloc(size), *labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        labels[i] = (uint8_t)(i % 4);
        for (int y = 0; y < IMAGE; y++)
            for (int x = 0; x < IMAGE; x++) {
                int v = (i % 4 == 0)   ? (x + y) * 8                           /* gradient */
                        : (i % 4 == 1) ? ((x / 4 + y / 4) % 2) * 255           /* checkers */
                        : (i % 4 == 2) ? (abs(x - 8) + abs(y - 8) < 3 + i % 5) * 255 /* diamond */
                                       : (y % 4 < 2) * 200;                    /* stripes */
                px[(size_t)i * IMAGE * IMAGE + (size_t)y * IMAGE + (size_t)x] =
                    (uint8_t)((v + 13 * i) % 256);
            }
    }
    int ok = write_file(dir, "train-images-idx3-ubyte", head, sizeof head, px, size - cut) &&
             write_file(dir, "train-labels-idx1-ubyte", lhead, sizeof lhead, labels, (size_t)n);
    free(px);
    free(labels);
    return ok;
}

static int suite_init(void)
{
    snprintf(root, sizeof root, "/tmp/dinoc_trainer_XXXXXX");
    if (!mkdtemp(root))
        return 1;
    snprintf(data_dir, sizeof data_dir, "%s/idx", root);
    return write_idx(data_dir, N_IMAGES, 0) ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}

/* test-tiny on one channel, three steps an epoch: warm-up, the last-layer
 * freeze and the teacher-temperature warm-up all one epoch long. */
static const char *const tiny_overrides[] = {
    "vit.in_chans=1", "epoch_length=3", "warmup_epochs=1", "min_lr=1e-5",
    "freeze_last_layer_epochs=1", "warmup_teacher_temp_epochs=1",
};
enum { N_TINY = sizeof tiny_overrides / sizeof tiny_overrides[0] };

static dc_train_options tiny_options(const char *out)
{
    return (dc_train_options){
        .config = "test-tiny", .overrides = tiny_overrides, .n_overrides = N_TINY,
        .data = data_dir, .steps = 8, .out_dir = out, .threads = 1, .seed = 3, .seed_set = true,
        .progress = DC_PROGRESS_NONE, .version = "test",
    };
}

static void path_in(char *out, size_t cap, const char *dir, const char *file)
{
    snprintf(out, cap, "%s/%s", dir, file);
}

/* ---- schedules ---- */

static void check_close(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want)))
        fprintf(stderr, "\n    %s = %.12g, expected %.12g", what, got, want);
    CU_ASSERT(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want));
}

static void test_schedules(void)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named("lightly-benchmark", &c));
    c.lr = 1e-3f, c.min_lr = 1e-6f, c.warmup_epochs = 2, c.freeze_last_layer_epochs = 1;
    c.warmup_teacher_temp_epochs = 3;
    /* 10 steps an epoch, 101 in all: warm-up 20 steps, then a cosine over 81
     * whose midpoint (step 20 + 40) is exactly halfway. */
    const int64_t spe = 10, total = 101;
    double lr = (double)c.lr, min_lr = (double)c.min_lr;
    dc_train_recipe rc; /* what the loop sees of the config */
    DC_ASSERT_OK(dc_train_recipe_from_config(&c, &rc));
    dc_schedule s0 = dc_train_schedule(&rc, 0, total, spe);
    check_close(s0.lr, lr / 20, "lr(0)");
    check_close(s0.last_layer_lr, 0, "last_layer_lr(0)");
    check_close(s0.weight_decay, (double)c.weight_decay, "wd(0)");
    check_close(s0.teacher_temp, (double)c.warmup_teacher_temp, "teacher_temp(0)");
    check_close(s0.momentum, (double)c.momentum_teacher, "momentum(0)");
    check_close(dc_train_schedule(&rc, 9, total, spe).last_layer_lr, 0, "last_layer_lr(9)");
    dc_schedule s10 = dc_train_schedule(&rc, 10, total, spe);
    check_close(s10.last_layer_lr, s10.lr, "last_layer_lr(10)");
    check_close(s10.lr, lr * 11 / 20, "lr(10)");
    check_close(dc_train_schedule(&rc, 19, total, spe).lr, lr, "lr(19)");
    check_close(dc_train_schedule(&rc, 20, total, spe).lr, lr, "lr(20)");
    check_close(dc_train_schedule(&rc, 60, total, spe).lr, (lr + min_lr) / 2, "lr(60)");
    dc_schedule s15 = dc_train_schedule(&rc, 15, total, spe);
    check_close(s15.teacher_temp,
                (double)c.warmup_teacher_temp + 0.5 * ((double)c.teacher_temp - (double)c.warmup_teacher_temp),
                "teacher_temp(15)");
    check_close(dc_train_schedule(&rc, 30, total, spe).teacher_temp, (double)c.teacher_temp,
                "teacher_temp(30)");
    dc_schedule s50 = dc_train_schedule(&rc, 50, total, spe);
    check_close(s50.weight_decay, ((double)c.weight_decay + (double)c.weight_decay_end) / 2, "wd(50)");
    check_close(s50.momentum, ((double)c.momentum_teacher + (double)c.momentum_teacher_end) / 2,
                "momentum(50)");
    dc_schedule last = dc_train_schedule(&rc, total - 1, total, spe);
    check_close(last.lr, min_lr, "lr(last)");
    check_close(last.weight_decay, (double)c.weight_decay_end, "wd(last)");
    check_close(last.momentum, (double)c.momentum_teacher_end, "momentum(last)");
    check_close(dc_cosine_schedule(0, 1, 2, 3), 3, "cosine over one step");
    check_close(dc_cosine_schedule(3, 7, 2, 3), 2.5, "cosine midpoint");
    dc_train_recipe_clear(&rc);
}

/* ---- the augmentation fields ---- */

/* Sum of |differences| between neighbouring pixels of an S×S plane: blur lowers it. */
static double total_variation(const float *p, int S)
{
    double tv = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            if (x + 1 < S)
                tv += fabs((double)p[y * S + x + 1] - p[y * S + x]);
            if (y + 1 < S)
                tv += fabs((double)p[(y + 1) * S + x] - p[y * S + x]);
        }
    return tv;
}

/* The config's augmentation fields are what the batcher gets: Lightly's
 * recipe has DINOTransform's values (dc_batch_spec_defaults), an override of
 * each field lands in its place, and blur_prob_global0=0 leaves view 0 sharp. */
static void test_augmentation_fields(void)
{
    dc_dinov2_config c;
    dc_batch_spec lightly, spec;
    dc_batch_spec_defaults(&lightly);
    DC_ASSERT_OK(dc_config_named("lightly-example", &c));
    dc_train_batch_spec(&c, &spec);
    CU_ASSERT_EQUAL(spec.hflip_prob, lightly.hflip_prob);
    CU_ASSERT_EQUAL(spec.jitter_prob, lightly.jitter_prob);
    CU_ASSERT_EQUAL(memcmp(spec.jitter, lightly.jitter, sizeof spec.jitter), 0);
    CU_ASSERT_EQUAL(spec.gray_prob, lightly.gray_prob);
    CU_ASSERT_EQUAL(memcmp(spec.blur_prob, lightly.blur_prob, sizeof spec.blur_prob), 0);
    CU_ASSERT_EQUAL(memcmp(spec.blur_sigma, lightly.blur_sigma, sizeof spec.blur_sigma), 0);
    CU_ASSERT_EQUAL(spec.solarize_prob, lightly.solarize_prob);

    const char *overrides[] = {"hflip_prob=0.11", "color_jitter_prob=0.12",
                               "color_jitter_brightness=0.13", "color_jitter_contrast=0.14",
                               "color_jitter_saturation=0.15", "color_jitter_hue=0.16",
                               "grayscale_prob=0.17", "blur_prob_global0=0.18",
                               "blur_prob_global1=0.19", "blur_prob_local=0.2",
                               "blur_sigma_global0_min=0.21", "blur_sigma_global0_max=0.22",
                               "blur_sigma_global1_min=0.23", "blur_sigma_global1_max=0.24",
                               "blur_sigma_local_min=0.25", "blur_sigma_local_max=0.26",
                               "solarize_prob=0.27"};
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++)
        DC_ASSERT_OK(dc_config_override(&c, overrides[i]));
    DC_ASSERT_OK(dc_config_validate(&c));
    dc_train_batch_spec(&c, &spec);
    const float got[] = {spec.hflip_prob,       spec.jitter_prob,      spec.jitter[0],
                         spec.jitter[1],        spec.jitter[2],        spec.jitter[3],
                         spec.gray_prob,        spec.blur_prob[0],     spec.blur_prob[1],
                         spec.blur_prob[2],     spec.blur_sigma[0][0], spec.blur_sigma[0][1],
                         spec.blur_sigma[1][0], spec.blur_sigma[1][1], spec.blur_sigma[2][0],
                         spec.blur_sigma[2][1], spec.solarize_prob};
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        CU_ASSERT_DOUBLE_EQUAL(got[i], 0.11 + 0.01 * (double)i, 1e-6);
    DC_ASSERT_OK(dc_batch_spec_check(&spec));
    CU_ASSERT_EQUAL(dc_config_override(&c, "blur_prob_local=1.5"), DC_OK);
    CU_ASSERT_EQUAL(dc_config_validate(&c), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "blur_prob_local"));

    /* View 0 of a checkerboard of 4-pixel squares, always blurred with sigma
     * >= 1.5, then with blur_prob_global0=0: the same crop, sharp. */
    uint8_t px[28 * 28];
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            px[y * 28 + x] = ((x / 4 + y / 4) % 2) ? 230 : 20;
    dc_image img = {28, 28, 1, px};
    float blurred[28 * 28], sharp[28 * 28];
    DC_ASSERT_OK(dc_config_named("fashion-mnist", &c));
    DC_ASSERT_OK(dc_config_override(&c, "blur_prob_global0=1"));
    DC_ASSERT_OK(dc_config_override(&c, "blur_sigma_global0_min=1.5"));
    dc_train_batch_spec(&c, &spec);
    DC_ASSERT_OK(dc_augment_view(&img, &spec, 0, 42, blurred));
    DC_ASSERT_OK(dc_config_override(&c, "blur_prob_global0=0"));
    dc_train_batch_spec(&c, &spec);
    DC_ASSERT_OK(dc_augment_view(&img, &spec, 0, 42, sharp));
    double tv_blurred = total_variation(blurred, 28), tv_sharp = total_variation(sharp, 28);
    CU_ASSERT(tv_sharp > 1.5 * tv_blurred);
}

/* ---- resume ---- */

/* metrics.csv rows without the last column (the measured images/s). */
static char *metrics_without_rate(const char *dir, int *rows)
{
    char path[256], line[1024];
    path_in(path, sizeof path, dir, "metrics.csv");
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    *rows = -1; /* the header */
    while (f && fgets(line, sizeof line, f)) {
        char *comma = strrchr(line, ',');
        if (comma)
            *comma = 0;
        fprintf(mem, "%s\n", line);
        (*rows)++;
    }
    if (f)
        fclose(f);
    fclose(mem);
    return buf;
}

static dc_safetensors *load_checkpoint(const char *dir)
{
    char path[256];
    path_in(path, sizeof path, dir, "checkpoint.safetensors");
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    return st;
}

static int same_bytes(const dc_tensor *a, const dc_tensor *b)
{
    return a && b && a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0;
}

/* The initial value of a parameter (the graph's initializer for seed 3). */
static dc_tensor *initial_value(const char *name)
{
    dc_dinov2_config c;
    if (dc_dinov2_config_load("test-tiny", tiny_overrides, N_TINY, &c) != DC_OK)
        return NULL;
    dc_dinov2_options o = {.training = true, .seed = 3};
    dc_graph *g;
    if (dc_dinov2_build(&c, &o, &g) != DC_OK)
        return NULL;
    dc_value *v = dc_graph_find_value(g, name);
    dc_tensor *t = NULL;
    if (v && v->constant)
        dc_tensor_clone(&t, v->constant);
    dc_graph_destroy(g);
    return t;
}

static const char *const last_layers[] = {"student.dino_head.last_layer.weight_v",
                                          "student.dino_head.last_layer.weight_g",
                                          "student.ibot_head.last_layer.weight_v"};

static void test_resume_exact(void)
{
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/whole", root);
    snprintf(b, sizeof b, "%s/resumed", root);
    dc_train_result ra, rb;
    dc_train_options o = tiny_options(a);
    DC_ASSERT_OK(dc_train(&o, &ra));
    CU_ASSERT_EQUAL(ra.steps_done, 8);
    CU_ASSERT_FALSE(ra.interrupted);

    /* Interrupted at the end of the first (frozen) epoch... */
    o = tiny_options(b);
    o.stop_after_step = 3;
    DC_ASSERT_OK(dc_train(&o, &rb));
    CU_ASSERT_TRUE(rb.interrupted);
    CU_ASSERT_EQUAL(rb.steps_done, 3);
    dc_safetensors *mid = load_checkpoint(b);
    if (mid) {
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(mid, "step"), "3");
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(mid, "epoch"), "1");
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(mid, "total_steps"), "8");
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(mid, "seed"), "3");
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(mid, "dinoc_version"), "test");
        CU_ASSERT_PTR_NOT_NULL(strstr(dc_safetensors_meta(mid, "config"), "name = test-tiny\n"));
        CU_ASSERT_PTR_NOT_NULL(dc_safetensors_get(mid, "optimizer.step"));
        CU_ASSERT_PTR_NOT_NULL(dc_safetensors_get(mid, "dino_center"));
        CU_ASSERT_PTR_NOT_NULL(dc_safetensors_get(mid, "student.backbone.blocks.0.attn.qkv.weight.exp_avg_sq"));
        CU_ASSERT_EQUAL(dc_tensor_get_i64(dc_safetensors_get(mid, "optimizer.step"), 0), 3);
        /* last_layer_lr = 0 during epoch 0: the heads' last layers have not
         * moved (AdamW's decay is lr·wd, 0 too), while the layers before have. */
        for (size_t i = 0; i < sizeof last_layers / sizeof *last_layers; i++) {
            dc_tensor *init = initial_value(last_layers[i]);
            CU_ASSERT_TRUE(same_bytes(dc_safetensors_get(mid, last_layers[i]), init));
            dc_tensor_destroy(init);
        }
        dc_tensor *init = initial_value("student.dino_head.layers.0.weight");
        CU_ASSERT_FALSE(same_bytes(dc_safetensors_get(mid, "student.dino_head.layers.0.weight"), init));
        dc_tensor_destroy(init);
    }
    dc_safetensors_destroy(mid);

    /* ... a row of a step after the checkpoint (a kill -9 between the row and
     * the next checkpoint) must be dropped on resume ... */
    char path[256];
    path_in(path, sizeof path, b, "metrics.csv");
    FILE *f = fopen(path, "a");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "3,1,1,1,1,1,99,99,99,99,1\n");
    fclose(f);

    /* ... and resumed with only --resume: config, seed, data and length come
     * from the checkpoint. */
    dc_train_options r = {.out_dir = b, .resume = true, .threads = 1,
                          .progress = DC_PROGRESS_NONE, .version = "test"};
    DC_ASSERT_OK(dc_train(&r, &rb));
    CU_ASSERT_EQUAL(rb.steps_done, 8);
    CU_ASSERT_FALSE(rb.interrupted);
    CU_ASSERT_EQUAL(rb.loss, ra.loss);

    int rows_a, rows_b;
    char *ma = metrics_without_rate(a, &rows_a), *mb = metrics_without_rate(b, &rows_b);
    CU_ASSERT_EQUAL(rows_a, 8);
    CU_ASSERT_EQUAL(rows_b, 8);
    CU_ASSERT_STRING_EQUAL(ma, mb);
    if (strcmp(ma, mb) != 0)
        fprintf(stderr, "\n    uninterrupted:\n%s    resumed:\n%s", ma, mb);
    free(ma);
    free(mb);

    dc_safetensors *fa = load_checkpoint(a), *fb = load_checkpoint(b);
    if (fa && fb) {
        CU_ASSERT_EQUAL(fa->n_tensors, fb->n_tensors);
        int differ = 0;
        for (int i = 0; i < fa->n_tensors; i++)
            if (!same_bytes(fa->tensors[i], dc_safetensors_get(fb, fa->tensors[i]->name))) {
                fprintf(stderr, "\n    '%s' differs after resuming", fa->tensors[i]->name);
                differ++;
            }
        CU_ASSERT_EQUAL(differ, 0);
        /* After the frozen epoch the last layer trains. */
        dc_tensor *init = initial_value(last_layers[0]);
        CU_ASSERT_FALSE(same_bytes(dc_safetensors_get(fa, last_layers[0]), init));
        dc_tensor_destroy(init);
    }
    dc_safetensors_destroy(fa);
    dc_safetensors_destroy(fb);
}

/* ---- the checkpoint in PyTorch ---- */

/* Runs load_checkpoint.py on the checkpoint in dir; its log goes to stderr on failure. */
static void load_in_torch(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/models/load_checkpoint.py %s/checkpoint.safetensors "
             "> %s/torch.log 2>&1", DINOC_SOURCE_DIR, dir, root);
    int status = system(cmd);
    if (status != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/torch.log >&2", root);
        CU_ASSERT_EQUAL(system(cmd), 0);
    }
    CU_ASSERT_EQUAL(status, 0);
}

/* Without registers the backbones load into timm's ViT; with registers (and
 * SwiGLU, the offset resize) into the official DinoVisionTransformer. */
static void test_load_in_torch(void)
{
    static const char *const official_overrides[] = {
        "vit.in_chans=1", "epoch_length=3", "vit.swiglu=true", "vit.interpolate_offset=0.1",
    };
    char dir[128], official_dir[128];
    snprintf(dir, sizeof dir, "%s/torch", root);
    snprintf(official_dir, sizeof official_dir, "%s/torch_registers", root);
    dc_train_options o = tiny_options(dir);
    o.steps = 2;
    dc_train_result r;
    DC_ASSERT_OK(dc_train(&o, &r));
    o = tiny_options(official_dir);
    o.config = "test-sinkhorn"; /* 2 registers */
    o.overrides = official_overrides;
    o.n_overrides = sizeof official_overrides / sizeof *official_overrides;
    o.steps = 2;
    DC_ASSERT_OK(dc_train(&o, &r));
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n    (python3-torch missing: load_checkpoint.py skipped)");
        return;
    }
    load_in_torch(dir);
    load_in_torch(official_dir);
}

/* ---- plot ---- */

static void test_plot(void)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "\n    (gnuplot missing: losses.png not checked)");
        return;
    }
    char dir[128], png[256];
    snprintf(dir, sizeof dir, "%s/plot", root);
    dc_train_options o = tiny_options(dir);
    o.steps = 3;
    o.plot = true;
    dc_train_result r;
    DC_ASSERT_OK(dc_train(&o, &r));
    path_in(png, sizeof png, dir, "losses.png");
    CU_ASSERT_STRING_EQUAL(r.plot, png);
    unsigned char magic[8] = {0};
    FILE *f = fopen(png, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fread(magic, 1, 8, f), 8);
    fclose(f);
    CU_ASSERT_EQUAL(memcmp(magic, "\x89PNG\r\n\x1a\n", 8), 0);
    CU_ASSERT(fabs(r.ln_k - log(64.0)) < 1e-12); /* test-tiny's K */
}

/* ---- bad input ---- */

static void expect_error(const dc_train_options *o, const char *needle)
{
    dc_train_result r;
    dc_status s = dc_train(o, &r);
    CU_ASSERT_NOT_EQUAL(s, DC_OK);
    const char *msg = dc_error_message();
    if (s == DC_OK || !strstr(msg, needle))
        fprintf(stderr, "\n    expected an error with '%s', got: %s", needle, s == DC_OK ? "success" : msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, needle));
}

static void test_bad_input(void)
{
    char dir[128], bad_data[128];
    snprintf(dir, sizeof dir, "%s/bad", root);
    dc_train_options o = tiny_options(dir);
    o.data = "/nonexistent/dinoc-data";
    expect_error(&o, "/nonexistent/dinoc-data");

    snprintf(bad_data, sizeof bad_data, "%s/truncated", root);
    CU_ASSERT_TRUE(write_idx(bad_data, N_IMAGES, 100));
    o.data = bad_data;
    expect_error(&o, "train-images-idx3-ubyte");

    /* A checkpoint of 2 steps, then resumes that do not fit it. */
    o = tiny_options(dir);
    o.steps = 2;
    dc_train_result r;
    DC_ASSERT_OK(dc_train(&o, &r));
    o.resume = true;
    const char *wider[N_TINY + 1];
    memcpy(wider, tiny_overrides, sizeof tiny_overrides);
    wider[N_TINY] = "vit.embed_dim=16";
    o.overrides = wider;
    o.n_overrides = N_TINY + 1;
    expect_error(&o, "tensor 'teacher.backbone.cls_token'");
    wider[N_TINY] = "lr=0.5";
    expect_error(&o, "lr = 0.5");
    /* The failed resumes left the checkpoint as it was. */
    dc_safetensors *st = load_checkpoint(dir);
    if (st)
        CU_ASSERT_STRING_EQUAL(dc_safetensors_meta(st, "step"), "2");
    dc_safetensors_destroy(st);

    o = tiny_options(dir);
    expect_error(&o, "--resume");
    char empty[128];
    snprintf(empty, sizeof empty, "%s/empty", root);
    o = tiny_options(empty);
    o.resume = true;
    expect_error(&o, "no checkpoint to resume");
}

/* ---- the dinoc process: full disk, signals, kill -9 ---- */

/* Starts `dinoc train` on the tiny setup with extra arguments; stdout and
 * stderr go to out/log.txt. `fsize` > 0 limits the size of any file it writes. */
static pid_t spawn_train(const char *out, const char *const *extra, int n_extra, rlim_t fsize)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = DINOC_BINARY;
    argv[n++] = "train";
    argv[n++] = "--config";
    argv[n++] = "test-tiny";
    for (int i = 0; i < N_TINY; i++)
        argv[n++] = tiny_overrides[i];
    argv[n++] = "--data";
    argv[n++] = data_dir;
    argv[n++] = "--out";
    argv[n++] = out;
    argv[n++] = "--threads";
    argv[n++] = "1";
    argv[n++] = "--seed";
    argv[n++] = "3";
    argv[n++] = "--no-plot";
    argv[n++] = "--no-knn";
    for (int i = 0; i < n_extra; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    mkdir(out, 0777);
    char log[256];
    path_in(log, sizeof log, out, "log.txt");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fsize > 0) {
            struct rlimit rl = {fsize, fsize};
            signal(SIGXFSZ, SIG_IGN); /* write() fails with EFBIG instead, like ENOSPC */
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execv(DINOC_BINARY, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int metrics_rows(const char *dir)
{
    int rows;
    free(metrics_without_rate(dir, &rows));
    return rows;
}

/* Waits until metrics.csv has at least `rows` rows (30 s at most). */
static int wait_rows(const char *dir, int rows)
{
    for (int i = 0; i < 3000; i++) {
        if (metrics_rows(dir) >= rows)
            return 1;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return 0;
}

static const char *meta_step(const char *dir, char *buf, size_t cap)
{
    dc_safetensors *st = load_checkpoint(dir);
    snprintf(buf, cap, "%s", st && dc_safetensors_meta(st, "step") ? dc_safetensors_meta(st, "step") : "");
    dc_safetensors_destroy(st);
    return buf;
}

static void test_full_disk(void)
{
    char dir[128], tmp[256], step[32];
    snprintf(dir, sizeof dir, "%s/full", root);
    const char *first[] = {"--steps", "8", "--checkpoint-every", "3"};
    pid_t pid = spawn_train(dir, first, 4, 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 0);
    /* Rerun the whole length on a "disk" with room for metrics.csv but not
     * for a checkpoint: the first checkpoint fails, the run stops with an
     * error, and the previous checkpoint (step 8) is untouched. */
    const char *again[] = {"--resume", "--steps", "12", "--checkpoint-every", "1"};
    pid = spawn_train(dir, again, 5, 64 << 10);
    CU_ASSERT_EQUAL(wait_exit(pid), 1);
    CU_ASSERT_STRING_EQUAL(meta_step(dir, step, sizeof step), "8");
    path_in(tmp, sizeof tmp, dir, "checkpoint.safetensors.tmp");
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0); /* the partial file is removed */
    char cmd[320];
    snprintf(cmd, sizeof cmd, "grep -q 'checkpoint at step 9 not written' %s/log.txt", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_signals(void)
{
    char dir[128], step[32];
    snprintf(dir, sizeof dir, "%s/signals", root);
    /* A long run (a checkpoint only at the end, or on a signal). */
    const char *args[] = {"--steps", "1000000", "--progress", "none"};
    pid_t pid = spawn_train(dir, args, 4, 0);
    CU_ASSERT_TRUE(wait_rows(dir, 3));
    kill(pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_exit(pid), 143);
    int rows = metrics_rows(dir);
    char want[32];
    snprintf(want, sizeof want, "%d", rows);
    CU_ASSERT_STRING_EQUAL(meta_step(dir, step, sizeof step), want);

    const char *resume[] = {"--resume", "--progress", "none"};
    pid = spawn_train(dir, resume, 3, 0);
    CU_ASSERT_TRUE(wait_rows(dir, rows + 3));
    kill(pid, SIGINT);
    CU_ASSERT_EQUAL(wait_exit(pid), 130);
    int rows2 = metrics_rows(dir);
    CU_ASSERT(rows2 >= rows + 3);
    snprintf(want, sizeof want, "%d", rows2);
    CU_ASSERT_STRING_EQUAL(meta_step(dir, step, sizeof step), want);

    /* kill -9 while checkpointing every step: whatever the moment, the
     * checkpoint is the last complete one and resumes. */
    const char *every[] = {"--resume", "--progress", "none", "--checkpoint-every", "1"};
    pid = spawn_train(dir, every, 5, 0);
    CU_ASSERT_TRUE(wait_rows(dir, rows2 + 5));
    kill(pid, SIGKILL);
    CU_ASSERT_EQUAL(wait_exit(pid), 128 + SIGKILL);
    long done = atol(meta_step(dir, step, sizeof step));
    CU_ASSERT(done >= rows2 + 4);
    dc_train_options o = {.out_dir = dir, .resume = true, .threads = 1, .progress = DC_PROGRESS_NONE,
                          .stop_after_step = done + 2};
    dc_train_result r;
    DC_ASSERT_OK(dc_train(&o, &r));
    CU_ASSERT_EQUAL(r.steps_done, done + 2);
    CU_ASSERT_EQUAL(metrics_rows(dir), done + 2);
}

/* A resume on a disk with no room for the new metrics.csv: the rows of the
 * run so far must survive. metrics.csv used to be truncated first and then
 * rewritten, so this failure (or a kill -9 at that moment) left it cut short,
 * and every later resume kept only what was left. */
static void test_metrics_rewrite_keeps_rows(void)
{
    char dir[128], tmp[256];
    snprintf(dir, sizeof dir, "%s/metrics_full", root);
    const char *first[] = {"--steps", "8", "--progress", "none"};
    CU_ASSERT_EQUAL(wait_exit(spawn_train(dir, first, 4, 0)), 0);
    int rows;
    char *before = metrics_without_rate(dir, &rows);
    CU_ASSERT_EQUAL(rows, 8);
    /* 512 bytes hold the header and a few rows, not all eight. */
    const char *again[] = {"--resume", "--steps", "12", "--progress", "none"};
    CU_ASSERT_EQUAL(wait_exit(spawn_train(dir, again, 5, 512)), 1);
    char *after = metrics_without_rate(dir, &rows);
    CU_ASSERT_EQUAL(rows, 8);
    CU_ASSERT_STRING_EQUAL(before, after);
    path_in(tmp, sizeof tmp, dir, "metrics.csv.tmp");
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    free(before);
    free(after);
}

/* ---- kill -9 at random moments ---- */

typedef struct kill_stats {
    int kills, during_write, without_checkpoint;
} kill_stats;

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The lines of a metrics.csv without the images/s column, complete lines
 * only; *torn tells whether the last line lacked its newline. */
static int metrics_lines(const char *dir, char lines[][160], int cap, int *torn)
{
    char path[256], line[1024];
    path_in(path, sizeof path, dir, "metrics.csv");
    FILE *f = fopen(path, "r");
    int n = 0;
    *torn = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) {
            *torn = 1;
            break;
        }
        char *comma = strrchr(line, ',');
        if (comma && n > 0) /* rows: drop the rate; the header stays whole */
            *comma = 0;
        if (n < cap)
            snprintf(lines[n], 160, "%.159s", line);
        n++;
    }
    if (f)
        fclose(f);
    return n;
}

/* Every file of a run folder after a kill: the checkpoint loads (all the
 * tensors of a complete one, a step within the run), metrics.csv is the
 * header then complete rows, each equal to the uninterrupted run's row of
 * that step, at least up to the checkpoint's step; nothing else is there
 * but log.txt and the temporary files of writes that were cut. */
static void check_run_folder(const char *dir, char ref[][160], int ref_lines, int n_tensors,
                             kill_stats *ks)
{
    char path[256];
    long step = 0;
    path_in(path, sizeof path, dir, "checkpoint.safetensors");
    if (access(path, F_OK) == 0) {
        dc_safetensors *st = load_checkpoint(dir);
        CU_ASSERT_PTR_NOT_NULL(st);
        if (st) {
            CU_ASSERT_EQUAL(st->n_tensors, n_tensors);
            const char *m = dc_safetensors_meta(st, "step");
            step = m ? atol(m) : -1;
            CU_ASSERT(step >= 1 && step <= ref_lines - 1);
        }
        dc_safetensors_destroy(st);
    } else {
        ks->without_checkpoint++;
    }
    static char lines[256][160];
    int torn, n = metrics_lines(dir, lines, 256, &torn);
    CU_ASSERT_FALSE(torn);
    CU_ASSERT(n <= ref_lines);
    if (n > 0 || step > 0)
        CU_ASSERT(n - 1 >= step); /* the rows reach the checkpoint */
    for (int i = 0; i < n && i < ref_lines; i++)
        if (strcmp(lines[i], ref[i]) != 0) {
            fprintf(stderr, "\n    metrics.csv line %d after a kill: '%s', uninterrupted: '%s'", i,
                    lines[i], ref[i]);
            CU_FAIL("metrics.csv row");
            break;
        }
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int tmp = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
            tmp |= strcmp(name, "checkpoint.safetensors.tmp") == 0;
            continue;
        }
        bool known = name[0] == '.' || strcmp(name, "checkpoint.safetensors") == 0 ||
                     strcmp(name, "metrics.csv") == 0 || strcmp(name, "log.txt") == 0;
        if (!known)
            fprintf(stderr, "\n    unexpected file in the run folder: %s", name);
        CU_ASSERT_TRUE(known);
    }
    closedir(d);
    ks->during_write += tmp;
}

/* Whole files equal, byte for byte. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* The inode of DIR/metrics.csv (0: none). A run replaces the file when it
 * has set up and is about to train. */
static ino_t metrics_inode(const char *dir)
{
    char path[256];
    struct stat st;
    path_in(path, sizeof path, dir, "metrics.csv");
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void sleep_seconds(double s)
{
    nanosleep(&(struct timespec){(time_t)s, (long)((s - (double)(time_t)s) * 1e9)}, NULL);
}

/* Waits until the run has replaced metrics.csv and logged `rows` rows (it
 * has set up and trained a step); returns 0 with its exit status in *status
 * when it ended first. */
static int wait_training(pid_t pid, const char *dir, ino_t before, int rows, int *status)
{
    for (int i = 0; i < 60000; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return 0;
        }
        if (metrics_inode(dir) != before && metrics_rows(dir) >= rows)
            return 1;
        sleep_seconds(0.001);
    }
    return 1;
}

/* The step of the folder's checkpoint, 0 without one. */
static int checkpoint_step(const char *dir)
{
    char path[256];
    path_in(path, sizeof path, dir, "checkpoint.safetensors");
    if (access(path, F_OK) != 0)
        return 0;
    char step[32];
    return atoi(meta_step(dir, step, sizeof step));
}

/* `dinoc train` killed with SIGKILL at random moments, each time resumed
 * with --resume (or started again when no checkpoint was written yet), then
 * run to the end. A quarter of the kills land while it sets up (loading,
 * compiling, the first step), the others once it has trained a step, while
 * it trains and writes a checkpoint after every step, so many land inside a
 * checkpoint write. After every kill the folder
 * holds only whole files (check_run_folder); at the end the checkpoint is the
 * uninterrupted run's, byte for byte (same tensors, same metadata: a resumed
 * step sees the same batch, schedule values and state, so every float is
 * identical), and so are the logged rows. DINOC_KILL_TEST_KILLS (default 3)
 * sets the number of kills, DINOC_KILL_TEST_SEED the random moments (else the
 * clock; the seed is printed when something fails). */
static void test_kill_resume(void)
{
    const int kills = env_int("DINOC_KILL_TEST_KILLS", 3);
    const unsigned first_seed = (unsigned)env_int("DINOC_KILL_TEST_SEED", (int)time(NULL));
    unsigned seed = first_seed;
    const int steps = kills < 4 ? 12 : 3 * kills;
    char ref[128], dir[128], steps_arg[16], a[256], b[256];
    snprintf(ref, sizeof ref, "%s/kill_reference", root);
    snprintf(dir, sizeof dir, "%s/kill_resumed", root);
    snprintf(steps_arg, sizeof steps_arg, "%d", steps);
    const char *fresh[] = {"--steps", steps_arg, "--checkpoint-every", "1", "--progress", "none"};
    const char *resume[] = {"--resume", "--checkpoint-every", "1", "--progress", "none"};

    /* The uninterrupted run, timed: setting up and the first step, then the
     * others. */
    double t0 = seconds_now();
    int status = -1;
    pid_t pid = spawn_train(ref, fresh, 6, 0);
    CU_ASSERT_TRUE(wait_training(pid, ref, 0, 1, &status));
    double t_setup = seconds_now() - t0;
    CU_ASSERT_EQUAL_FATAL(status == -1 ? wait_exit(pid) : status, 0);
    double t_step = (seconds_now() - t0 - t_setup) / (steps - 1);
    static char ref_lines[256][160];
    int torn, n_ref = metrics_lines(ref, ref_lines, 256, &torn);
    CU_ASSERT_EQUAL_FATAL(n_ref, steps + 1);
    dc_safetensors *final_ref = load_checkpoint(ref);
    CU_ASSERT_PTR_NOT_NULL_FATAL(final_ref);
    int n_tensors = final_ref->n_tensors;
    dc_safetensors_destroy(final_ref);

    kill_stats ks = {0};
    int failures_before = (int)CU_get_number_of_failures(), starting = 0;
    path_in(a, sizeof a, dir, "checkpoint.safetensors");
    for (int k = 0; k < kills; k++) {
        ino_t before = metrics_inode(dir);
        int start = checkpoint_step(dir);
        pid = start ? spawn_train(dir, resume, 5, 0) : spawn_train(dir, fresh, 6, 0);
        status = -1;
        double u = (double)rand_r(&seed) / RAND_MAX;
        if (rand_r(&seed) % 4 == 0) {
            sleep_seconds(u * t_setup);
            starting++;
        } else if (wait_training(pid, dir, before, start + 1, &status)) {
            /* one step and on average (steps/kills - 1) / 2 more: the kills
             * spread over the run and leave about half of it to the end */
            sleep_seconds(u * t_step * (steps / kills - 1));
        }
        if (status == -1) {
            kill(pid, SIGKILL);
            status = wait_exit(pid);
        }
        if (status == 0)
            break; /* it finished first */
        CU_ASSERT_EQUAL(status, 128 + SIGKILL);
        ks.kills++;
        check_run_folder(dir, ref_lines, n_ref, n_tensors, &ks);
    }
    pid = checkpoint_step(dir) ? spawn_train(dir, resume, 5, 0) : spawn_train(dir, fresh, 6, 0);
    CU_ASSERT_EQUAL(wait_exit(pid), 0);

    path_in(b, sizeof b, ref, "checkpoint.safetensors");
    CU_ASSERT_TRUE(same_file(a, b));
    static char lines[256][160];
    int n = metrics_lines(dir, lines, 256, &torn);
    CU_ASSERT_EQUAL(n, n_ref);
    for (int i = 0; i < n && i < n_ref; i++)
        CU_ASSERT_STRING_EQUAL(lines[i], ref_lines[i]);
    char tmp[256];
    path_in(tmp, sizeof tmp, dir, "checkpoint.safetensors.tmp");
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    path_in(tmp, sizeof tmp, dir, "metrics.csv.tmp");
    CU_ASSERT_NOT_EQUAL(access(tmp, F_OK), 0);
    if (kills > 3 || (int)CU_get_number_of_failures() != failures_before)
        fprintf(stderr, "\n    kill test (seed %u): %d steps, set-up %.2f s, %.3f s a step; %d kills "
                "(%d aimed at the set-up), %d inside a checkpoint write, %d before the first "
                "checkpoint", first_seed, steps, t_setup, t_step, ks.kills, starting,
                ks.during_write, ks.without_checkpoint);
}

/* ---- collapse ---- */

/* The watch on made-up terms: a sign counts after a whole window past the
 * warm-up, a break restarts it, NaN similarity never counts. */
static void test_collapse_watch(void)
{
    dc_collapse_watch w;
    double lnk = log(64.0);
    dc_collapse_init(&w, lnk, 100, 5); /* window max(10, 100/20) = 10, from step 5 */
    CU_ASSERT_EQUAL(w.window, 10);
    int64_t step = 0, first = -1;
    for (; step < 40 && first < 0; step++) {
        /* DINO at ln K (within 1%) from the start, a break at step 8 */
        double dino = step == 8 ? 0.9 * lnk : lnk * 1.009;
        if (dc_collapse_update(&w, step, dino, 1.0, NAN))
            first = step;
    }
    CU_ASSERT_EQUAL(first, 18); /* held on steps 9..18 */
    CU_ASSERT_EQUAL(w.signs, DC_COLLAPSE_DINO);
    CU_ASSERT_EQUAL(w.step, 18);
    CU_ASSERT_EQUAL(w.reached_since[0], 9);
    CU_ASSERT(isnan(w.similarity));
    char tag[96], why[2048];
    dc_collapse_tag(&w, tag, sizeof tag);
    CU_ASSERT_STRING_EQUAL(tag, "collapse: DINO uniform");
    dc_collapse_explain(&w, "  ", why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "  collapse: the DINO term stayed within 1% of ln K = 4.1589 "
                                       "from step 10 on for 10 steps or more (and still does)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "vit.layerscale_init"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "teacher_temp"));
    /* Later signs add to the first; the step of the first stays. */
    for (int i = 0; i < 10; i++)
        dc_collapse_update(&w, step++, 2.0, lnk, 0.995);
    CU_ASSERT_EQUAL(w.signs, DC_COLLAPSE_DINO | DC_COLLAPSE_IBOT | DC_COLLAPSE_CONSTANT);
    CU_ASSERT_EQUAL(w.step, 18);
    dc_collapse_explain(&w, "", why, sizeof why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "(not at the last step)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "the iBOT term"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "0.9950 at the last step"));
    /* Healthy terms and a similarity just under the bound: nothing. */
    dc_collapse_init(&w, lnk, 1000, 0);
    CU_ASSERT_EQUAL(w.window, 50);
    for (int64_t s = 0; s < 200; s++)
        CU_ASSERT_EQUAL(dc_collapse_update(&w, s, lnk * 0.98, lnk * 1.02, 0.9899), 0);
    CU_ASSERT_EQUAL(w.signs, 0);
    dc_collapse_tag(&w, tag, sizeof tag);
    CU_ASSERT_STRING_EQUAL(tag, "");
}

/* Two short runs: temperatures of 100 make the teacher's and the student's
 * softmax flat, so DINO sits at ln K from the first step (and LayerScale
 * 1e-5 leaves the teacher's cls tokens alike): detected one window after the
 * warm-up, and --stop-on-collapse ends the run there with a checkpoint. With
 * LayerScale 1 and the recipe's temperatures nothing is reported. */
static void test_collapse_training(void)
{
    char dir[128], step[32];
    snprintf(dir, sizeof dir, "%s/collapse", root);
    const char *flat[N_TINY + 3];
    memcpy(flat, tiny_overrides, sizeof tiny_overrides);
    flat[N_TINY] = "teacher_temp=100";
    flat[N_TINY + 1] = "warmup_teacher_temp=100";
    flat[N_TINY + 2] = "student_temp=100";
    dc_train_options o = tiny_options(dir);
    o.overrides = flat;
    o.n_overrides = N_TINY + 3;
    o.steps = 30;
    o.stop_on_collapse = true;
    dc_train_result r;
    DC_ASSERT_OK(dc_train(&o, &r));
    CU_ASSERT(r.collapse & DC_COLLAPSE_DINO);
    CU_ASSERT(r.collapse & DC_COLLAPSE_CONSTANT);
    CU_ASSERT(r.teacher_similarity > 0.99 && r.teacher_similarity <= 1.0001);
    CU_ASSERT_TRUE(r.stopped_on_collapse);
    CU_ASSERT_EQUAL(r.collapse_step, 13); /* warm-up 3 steps, then a window of 10 */
    CU_ASSERT_EQUAL(r.steps_done, 13);
    CU_ASSERT_STRING_EQUAL(meta_step(dir, step, sizeof step), "13");
    CU_ASSERT_EQUAL(metrics_rows(dir), 13);

    snprintf(dir, sizeof dir, "%s/healthy", root);
    const char *healthy[N_TINY + 1];
    memcpy(healthy, tiny_overrides, sizeof tiny_overrides);
    healthy[N_TINY] = "vit.layerscale_init=1";
    o = tiny_options(dir);
    o.overrides = healthy;
    o.n_overrides = N_TINY + 1;
    o.steps = 30;
    o.stop_on_collapse = true;
    DC_ASSERT_OK(dc_train(&o, &r));
    CU_ASSERT_EQUAL(r.collapse, 0);
    CU_ASSERT_FALSE(r.stopped_on_collapse);
    CU_ASSERT_EQUAL(r.steps_done, 30);
    CU_ASSERT(r.teacher_similarity >= -1 && r.teacher_similarity < 0.99);
}

void register_graphs_trainer(void)
{
    CU_pSuite s = CU_add_suite("graphs_trainer", suite_init, suite_cleanup);
    CU_add_test(s, "schedules", test_schedules);
    CU_add_test(s, "augmentation_fields", test_augmentation_fields);
    CU_add_test(s, "resume_exact", test_resume_exact);
    CU_add_test(s, "load_in_torch", test_load_in_torch);
    CU_add_test(s, "plot", test_plot);
    CU_add_test(s, "bad_input", test_bad_input);
    CU_add_test(s, "full_disk", test_full_disk);
    CU_add_test(s, "signals", test_signals);
    CU_add_test(s, "metrics_rewrite_keeps_rows", test_metrics_rewrite_keeps_rows);
    CU_add_test(s, "kill_resume", test_kill_resume);
    CU_add_test(s, "collapse_watch", test_collapse_watch);
    CU_add_test(s, "collapse_training", test_collapse_training);
}
