/* k-NN evaluation (graphs/knn.h): the weighted vote on hand-made features
 * with known answers, the evaluation transform, the config text round trip,
 * raw-pixel k-NN on a slice of Fashion-MNIST, and the whole path from a
 * checkpoint written with dc_safetensors_save, with its errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone_features.h"
#include "builder.h"
#include "configs.h"
#include "dc_safetensors.h"
#include "dinov2_step.h"
#include "export.h"
#include "interpret.h"
#include "knn.h"
#include "test_checkpoints.h"
#include "test_util.h"
#include "vit.h"

#define FASHION_MNIST "/usr/share/datasets/fashion-mnist"

/* ---- the vote --------------------------------------------------------------------------- */

/* Unit vectors at angle a (degrees) in 2-D. */
static void at_angle(float *v, double a)
{
    v[0] = (float)cos(a * M_PI / 180);
    v[1] = (float)sin(a * M_PI / 180);
}

static void test_vote_clusters(void)
{
    /* Three classes around 0°, 120° and 240°; each test point sits near one. */
    float train[12 * 2], test[6 * 2];
    int labels[12], pred[6];
    for (int i = 0; i < 12; i++) {
        labels[i] = i % 3;
        at_angle(train + 2 * i, 120.0 * (i % 3) + (i / 3 - 1.5) * 8);
    }
    const double test_angles[6] = {5, 115, 250, 355, 130, 235};
    const int want[6] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 6; i++)
        at_angle(test + 2 * i, test_angles[i]);
    DC_ASSERT_OK(dc_knn_classify(train, labels, 12, test, 6, 2, 3, 4, 0.07f, 1, pred));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(pred[i], want[i]);
    /* k larger than the train set: every image votes, the closest still dominate. */
    DC_ASSERT_OK(dc_knn_classify(train, labels, 12, test, 6, 2, 3, 100, 0.07f, 2, pred));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(pred[i], want[i]);
}

static void test_vote_weights(void)
{
    /* One very close neighbour of class 0 (sim 0.99) against two of class 1 at
     * sim 0.5: exp(0.99/0.07) ≈ 1.4e6 > 2·exp(0.5/0.07) ≈ 2.5e3, so class 0
     * wins at T = 0.07 though class 1 has the majority; at T = 10 the weights
     * are nearly equal and the majority wins. */
    float train[3 * 2], test[2] = {1, 0};
    int labels[3] = {0, 1, 1}, pred[1];
    at_angle(train, acos(0.99) * 180 / M_PI);
    at_angle(train + 2, acos(0.5) * 180 / M_PI);
    at_angle(train + 4, -acos(0.5) * 180 / M_PI);
    DC_ASSERT_OK(dc_knn_classify(train, labels, 3, test, 1, 2, 2, 3, 0.07f, 1, pred));
    CU_ASSERT_EQUAL(pred[0], 0);
    DC_ASSERT_OK(dc_knn_classify(train, labels, 3, test, 1, 2, 2, 3, 10.0f, 1, pred));
    CU_ASSERT_EQUAL(pred[0], 1);
    /* k = 1: the nearest alone. */
    DC_ASSERT_OK(dc_knn_classify(train, labels, 3, test, 1, 2, 2, 1, 10.0f, 1, pred));
    CU_ASSERT_EQUAL(pred[0], 0);
    /* A tie goes to the smaller class; an unknown class is an error. */
    int tie_labels[3] = {1, 0, 0};
    float same[3 * 2] = {1, 0, 1, 0, 0, 1};
    DC_ASSERT_OK(dc_knn_classify(same, tie_labels, 3, test, 1, 2, 2, 2, 0.07f, 1, pred));
    CU_ASSERT_EQUAL(pred[0], 0);
    labels[2] = 5;
    CU_ASSERT_EQUAL(dc_knn_classify(train, labels, 3, test, 1, 2, 2, 3, 0.07f, 1, pred),
                    DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "label 5"));
}

/* Many rows through several similarity chunks agree with a direct loop. */
static void test_vote_matches_brute_force(void)
{
    enum { N = 3000, M = 1500, D = 24, C = 7, K = 20 };
    float *train = malloc(sizeof(float) * N * D), *test = malloc(sizeof(float) * M * D);
    int *labels = malloc(sizeof(int) * N), *pred = malloc(sizeof(int) * M);
    CU_ASSERT_FATAL(train && test && labels && pred);
    unsigned seed = 7;
    for (int i = 0; i < N * D; i++)
        train[i] = (float)rand_r(&seed) / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < M * D; i++)
        test[i] = (float)rand_r(&seed) / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < N; i++)
        labels[i] = (int)(rand_r(&seed) % C);
    dc_knn_normalize(train, N, D);
    dc_knn_normalize(test, M, D);
    double norm = 0;
    for (int j = 0; j < D; j++)
        norm += (double)train[j] * train[j];
    CU_ASSERT_DOUBLE_EQUAL(norm, 1.0, 1e-5);
    DC_ASSERT_OK(dc_knn_classify(train, labels, N, test, M, D, C, K, 0.07f, 0, pred));
    int agree = 0;
    double sims[N];
    for (int r = 0; r < M; r++) {
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int j = 0; j < D; j++)
                s += (double)test[r * D + j] * train[i * D + j];
            sims[i] = s;
        }
        double votes[C] = {0};
        for (int t = 0; t < K; t++) {
            int best = -1;
            for (int i = 0; i < N; i++)
                if (sims[i] > -2 && (best < 0 || sims[i] > sims[best]))
                    best = i;
            votes[labels[best]] += exp(sims[best] / 0.07);
            sims[best] = -3;
        }
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (votes[c] > votes[arg])
                arg = c;
        agree += arg == pred[r];
    }
    /* float vs double similarities may swap a near-tie now and then */
    CU_ASSERT(agree >= M - 3);
    free(train);
    free(test);
    free(labels);
    free(pred);
}

/* ---- the transform ------------------------------------------------------------------------- */

static void test_preprocess(void)
{
    const float mean[3] = {0.5f, 0.25f, 0}, std[3] = {0.5f, 0.25f, 1};
    /* Native size: a copy, scaled and normalised. */
    uint8_t grey[4] = {0, 255, 51, 102};
    dc_image g = {2, 2, 1, grey};
    float out[3 * 64];
    DC_ASSERT_OK(dc_knn_preprocess(&g, 1, 2, mean, std, out));
    CU_ASSERT_DOUBLE_EQUAL(out[0], -1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(out[2], (0.2 - 0.5) / 0.5, 1e-6);
    /* Grey to 3 channels replicates; the centre square of a 2x4 image. */
    uint8_t wide[8] = {9, 0, 255, 9, 9, 255, 0, 9};
    dc_image w = {2, 4, 1, wide};
    DC_ASSERT_OK(dc_knn_preprocess(&w, 3, 2, mean, std, out));
    CU_ASSERT_DOUBLE_EQUAL(out[0], -1.0, 1e-6);               /* channel 0, (0, 0) = 0 */
    CU_ASSERT_DOUBLE_EQUAL(out[4 + 1], (1 - 0.25) / 0.25, 1e-5); /* channel 1, (0, 1) = 255 */
    CU_ASSERT_DOUBLE_EQUAL(out[8 + 2], 1.0, 1e-6);             /* channel 2, (1, 0) = 255 */
    /* RGB to grey is the luma; resampling keeps a constant image constant. */
    uint8_t rgb[5 * 5 * 3];
    for (int i = 0; i < 25; i++) {
        rgb[3 * i] = 200;
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = 50;
    }
    dc_image c = {5, 5, 3, rgb};
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    double luma = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255;
    for (int size = 3; size <= 4; size++) { /* shrinking, then growing */
        DC_ASSERT_OK(dc_knn_preprocess(&c, 1, size, zero, one, out));
        for (int i = 0; i < size * size; i++)
            CU_ASSERT_DOUBLE_EQUAL(out[i], luma, 1e-5);
    }
    /* A ramp stays monotone when upscaled. */
    uint8_t ramp[4 * 4];
    for (int i = 0; i < 16; i++)
        ramp[i] = (uint8_t)(60 * (i % 4));
    dc_image r = {4, 4, 1, ramp};
    DC_ASSERT_OK(dc_knn_preprocess(&r, 1, 7, zero, one, out));
    for (int x = 1; x < 7; x++)
        CU_ASSERT(out[3 * 7 + x] >= out[3 * 7 + x - 1] - 1e-6);
    dc_image bad = {2, 2, 5, grey};
    CU_ASSERT_EQUAL(dc_knn_preprocess(&bad, 1, 2, mean, std, out), DC_ERR_INVALID);
}

/* ---- the config text ------------------------------------------------------------------------ */

static void test_config_text(void)
{
    dc_dinov2_config c, back;
    const char *ov[] = {"vit.in_chans=1", "vit.image_size=28", "vit.patch_size=7", "local_crop_size=14",
                        "centering=sinkhorn", "batch_size=7"};
    DC_ASSERT_OK(dc_config_named("test-tiny", &c));
    for (int i = 0; i < 6; i++)
        DC_ASSERT_OK(dc_config_override(&c, ov[i]));
    char *text = dc_config_text(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    DC_ASSERT_OK(dc_config_from_text(text, &back));
    char *again = dc_config_text(&back);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_STRING_EQUAL(text, again);
    CU_ASSERT_EQUAL(back.vit.patch_size, 7);
    CU_ASSERT_EQUAL(back.centering, DC_CENTERING_SINKHORN);
    free(text);
    free(again);
    /* Order, comments, spaces and CRLF do not matter; errors give the line. */
    DC_ASSERT_OK(dc_config_from_text("# a comment\r\nvit.depth=3\n\n  name =  fashion-mnist \r\n", &back));
    CU_ASSERT_EQUAL(back.vit.depth, 3);
    CU_ASSERT_EQUAL(back.vit.in_chans, 1);
    CU_ASSERT_EQUAL(dc_config_from_text("vit.depth = 3\n", &back), DC_ERR_PARSE);
    CU_ASSERT_EQUAL(dc_config_from_text("name = test-tiny\nvit.nope = 3\n", &back), DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "line 2"));
    CU_ASSERT_EQUAL(dc_config_from_text("name = test-tiny\nvit.patch_size = 5\n", &back), DC_ERR_INVALID);
    float mean[3], std[3];
    dc_config_normalization(&c, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(mean[0], 0.2860, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(std[0], 0.3530, 1e-6);
    DC_ASSERT_OK(dc_config_named("lightly-example", &c));
    dc_config_normalization(&c, mean, std);
    CU_ASSERT_DOUBLE_EQUAL(mean[2], 0.406, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(std[1], 0.224, 1e-6);
}

/* ---- on data ---------------------------------------------------------------------------------- */

static void test_raw_pixels_fashion_mnist(void)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named("fashion-mnist", &c));
    dc_knn_options opt = {.config = &c, .max_train = 1000, .max_test = 500, .batch_size = 128};
    dc_knn_result r;
    DC_ASSERT_OK(dc_knn_evaluate_opts(NULL, FASHION_MNIST, FASHION_MNIST, &opt, &r));
    CU_ASSERT_EQUAL(r.n_train, 1000);
    CU_ASSERT_EQUAL(r.n_test, 500);
    CU_ASSERT_EQUAL(r.top1, -1);
    printf("\n    raw pixels %.3f, random backbone %.3f (1000 train, 500 test) ", r.top1_raw,
           r.top1_random);
    CU_ASSERT(r.top1_raw > 0.65 && r.top1_raw <= 1); /* chance is 0.1 */
    /* An untrained backbone: its accuracy depends on the init (printed), only its range is fixed. */
    CU_ASSERT(r.top1_random >= 0 && r.top1_random <= 1);
}

/* A checkpoint of test-tiny on 28 px grey images: the teacher backbone (seed
 * 1, LayerScale 1), a student tensor the evaluation must ignore, and the metadata. `drop`
 * leaves one tensor out; `bad_shape` writes one with a wrong shape. */
static char *write_checkpoint(const char *dir, const char *file, const char *drop, const char *bad_shape,
                              bool with_config)
{
    dc_dinov2_config c;
    const char *ov[] = {"vit.in_chans=1", "vit.image_size=28", "vit.patch_size=7", "local_crop_size=14"};
    if (dc_dinov2_config_load("test-tiny", ov, 4, &c) != DC_OK) {
        fprintf(stderr, "\n    %s\n", dc_error_message());
        return NULL;
    }
    dc_graph *g = dc_graph_create("ckpt");
    dc_vit *vit = NULL;
    if (dc_vit_declare(g, &c.vit, "teacher.backbone.", 1, &vit) != DC_OK) {
        dc_graph_destroy(g);
        return NULL;
    }
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    dc_tensor *ts[64];
    int nt = 0;
    for (int i = 0; i < n && nt < 62; i++) {
        if (drop && strcmp(params[i]->name, drop) == 0)
            continue;
        dc_tensor *t = params[i]->constant;
        if (bad_shape && strcmp(params[i]->name, bad_shape) == 0) {
            int64_t d[1] = {(int64_t)dc_tensor_numel(t) + 1};
            dc_tensor_create(&ts[nt], t->name, DC_F32, 1, d);
        } else {
            dc_tensor_clone(&ts[nt], t);
            /* LayerScale as training leaves it, not at its 1e-5 start, so the
             * cls token sees the image */
            size_t len = strlen(params[i]->name);
            if (ts[nt] && len > 6 && strcmp(params[i]->name + len - 6, ".gamma") == 0)
                for (uint64_t j = 0; j < dc_tensor_numel(ts[nt]); j++)
                    ((float *)ts[nt]->data)[j] = 1.0f;
        }
        if (ts[nt]) {
            free(ts[nt]->name);
            ts[nt]->name = strdup(params[i]->name);
            nt++;
        }
    }
    int64_t d[2] = {3, 3};
    dc_tensor_create(&ts[nt++], "student.backbone.extra", DC_F32, 2, d);
    char *text = dc_config_text(&c);
    const char *keys[2] = {"config", "step"}, *values[2] = {text, "1234"};
    size_t len = strlen(dir) + strlen(file) + 2;
    char *path = malloc(len);
    snprintf(path, len, "%s/%s", dir, file);
    dc_status s = dc_safetensors_save(path, ts, nt, keys, values, with_config ? 2 : 0);
    for (int i = 0; i < nt; i++)
        dc_tensor_destroy(ts[i]);
    free(text);
    dc_graph_destroy(g);
    if (s != DC_OK) {
        fprintf(stderr, "\n    %s\n", dc_error_message());
        free(path);
        return NULL;
    }
    return path;
}

/* For the other suites that need a small trained-looking checkpoint
 * (test_checkpoints.h). */
char *test_knn_checkpoint(const char *dir, const char *file)
{
    return write_checkpoint(dir, file, NULL, NULL, true);
}

static void test_checkpoint(void)
{
    char dir[] = "/tmp/dinoc_knn_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char *good = write_checkpoint(dir, "good.safetensors", NULL, NULL, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    dc_knn_options opt = {.baselines = true, .max_train = 400, .max_test = 100, .batch_size = 64,
                          .threads = 2};
    dc_knn_result r;
    DC_ASSERT_OK(dc_knn_evaluate_opts(good, FASHION_MNIST, FASHION_MNIST, &opt, &r));
    printf("\n    tiny checkpoint %.3f, raw %.3f, random %.3f ", r.top1, r.top1_raw, r.top1_random);
    CU_ASSERT(r.top1 >= 0 && r.top1 <= 1);
    CU_ASSERT(r.top1_raw >= 0 && r.top1_raw <= 1);
    CU_ASSERT(r.top1_random >= 0 && r.top1_random <= 1);
    /* Random weights with LayerScale 1 still see the image: well above chance
     * (0.1), unlike the 1e-5 start of the random baseline. */
    CU_ASSERT(r.top1 > 0.3);
    CU_ASSERT_EQUAL(r.n_train, 400);
    CU_ASSERT_EQUAL(r.n_test, 100);
    /* The mean patch token and cls ‖ mean patch: twice the width for both. */
    for (int f = DC_KNN_PATCH; f <= DC_KNN_BOTH; f++) {
        dc_knn_options fo = opt;
        fo.baselines = false;
        fo.features_given = true;
        fo.features = (dc_knn_features)f;
        DC_ASSERT_OK(dc_knn_evaluate_opts(good, FASHION_MNIST, FASHION_MNIST, &fo, &r));
        printf("%s %.3f ", dc_knn_features_name(r.features), r.top1);
        CU_ASSERT_EQUAL((int)r.features, f);
        CU_ASSERT(r.top1 > 0.3 && r.top1 <= 1);
        CU_ASSERT(r.images_per_second > 0 && r.images_per_cpu_second > 0);
    }
    /* Without baselines they stay -1; the defaults' entry point runs too. */
    opt.baselines = false;
    DC_ASSERT_OK(dc_knn_evaluate_opts(good, FASHION_MNIST, FASHION_MNIST, &opt, &r));
    CU_ASSERT(r.top1 >= 0 && r.top1_raw == -1 && r.top1_random == -1);

    struct {
        const char *file, *drop, *bad;
        bool config;
        dc_status want;
        const char *says;
    } bad[] = {
        {"missing.safetensors", "teacher.backbone.blocks.1.mlp.fc2.weight", NULL, true, DC_ERR_INVALID,
         "'teacher.backbone.blocks.1.mlp.fc2.weight' is missing"},
        {"shape.safetensors", NULL, "teacher.backbone.norm.weight", true, DC_ERR_SHAPE,
         "'teacher.backbone.norm.weight': expected f32[32], found f32[33]"},
        {"noconfig.safetensors", NULL, NULL, false, DC_ERR_INVALID, "no \"config\" metadata"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = write_checkpoint(dir, bad[i].file, bad[i].drop, bad[i].bad, bad[i].config);
        CU_ASSERT_PTR_NOT_NULL_FATAL(path);
        CU_ASSERT_EQUAL(dc_knn_evaluate(path, FASHION_MNIST, FASHION_MNIST, false, 1, &r), bad[i].want);
        if (!strstr(dc_error_message(), bad[i].says))
            fprintf(stderr, "\n    unexpected message: %s\n", dc_error_message());
        CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), bad[i].says));
        CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), path));
        unlink(path);
        free(path);
    }
    /* The mask token is not needed without masks. */
    char *no_mask = write_checkpoint(dir, "nomask.safetensors", "teacher.backbone.mask_token", NULL, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(no_mask);
    opt.max_train = 50;
    opt.max_test = 20;
    DC_ASSERT_OK(dc_knn_evaluate_opts(no_mask, FASHION_MNIST, FASHION_MNIST, &opt, &r));
    unlink(no_mask);
    free(no_mask);
    /* A missing file, a missing dataset. */
    CU_ASSERT_EQUAL(dc_knn_evaluate("/nonexistent/ckpt.safetensors", FASHION_MNIST, FASHION_MNIST,
                                    false, 1, &r), DC_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "/nonexistent/ckpt.safetensors"));
    CU_ASSERT_NOT_EQUAL(dc_knn_evaluate(good, "/nonexistent/data", "/nonexistent/data", false, 1, &r),
                        DC_OK);
    unlink(good);
    free(good);
    rmdir(dir);
}

/* Every output of the compiled feature extractor against the exported
 * backbone (cls and patch tokens) run by the reference interpreter. */
static void test_backbone_outputs(void)
{
    char dir[] = "/tmp/dinoc_knn_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char *path = write_checkpoint(dir, "feat.safetensors", NULL, NULL, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    enum { B = 3 };
    dc_graph *g = NULL;
    dc_export_options eo = {.batch = B, .outputs = DC_EXPORT_BOTH};
    DC_ASSERT_OK(dc_export_graph(path, &eo, &g));
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_from_text(dc_safetensors_meta(st, "config"), &c));
    int64_t D = c.vit.embed_dim, N = (c.vit.image_size / c.vit.patch_size) * (c.vit.image_size / c.vit.patch_size);
    int64_t xd[4] = {B, c.vit.in_chans, c.vit.image_size, c.vit.image_size};
    dc_tensor *x = NULL, *ref[2] = {NULL, NULL};
    DC_ASSERT_OK(dc_tensor_create(&x, "images", DC_F32, 4, xd));
    float *xv = x->data;
    for (uint64_t i = 0; i < dc_tensor_numel(x); i++)
        xv[i] = (float)sin(0.37 * (double)i) * 1.5f;
    DC_ASSERT_OK(dc_interpret(g, &x, 1, ref));
    const float *cls = ref[0]->data, *patch = ref[1]->data; /* [B, D], [B, N, D] */
    for (int what = DC_BACKBONE_CLS; what <= DC_BACKBONE_PATCH_TOKENS; what++) {
        dc_backbone_features f;
        DC_ASSERT_OK(dc_backbone_features_create(&c, st, path, "teacher.backbone.", B,
                                                 (dc_backbone_output)what, 1, &f));
        memcpy(f.images, xv, dc_tensor_numel(x) * sizeof(float));
        DC_ASSERT_OK(dc_backbone_features_run(&f));
        double worst = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < f.per_image; j++) {
                double want;
                if (what == DC_BACKBONE_PATCH_TOKENS) {
                    want = patch[b * N * D + j];
                } else if (what == DC_BACKBONE_CLS || (what == DC_BACKBONE_CLS_PATCH_MEAN && j < D)) {
                    want = cls[b * D + j];
                } else {
                    int64_t d = j % D;
                    want = 0;
                    for (int64_t t = 0; t < N; t++)
                        want += patch[(b * N + t) * D + d];
                    want /= (double)N;
                }
                double err = fabs(f.out[b * f.per_image + j] - want);
                worst = err > worst ? err : worst;
            }
        CU_ASSERT_EQUAL(f.per_image, what == DC_BACKBONE_PATCH_TOKENS ? N * D
                                     : what == DC_BACKBONE_CLS_PATCH_MEAN ? 2 * D : D);
        CU_ASSERT(worst < 1e-4);
        if (worst >= 1e-4)
            fprintf(stderr, "\n    output %d: max error %g\n", what, worst);
        dc_backbone_features_destroy(&f);
    }
    dc_tensor_destroy(x);
    dc_tensor_destroy(ref[0]);
    dc_tensor_destroy(ref[1]);
    dc_graph_destroy(g);
    dc_safetensors_destroy(st);
    unlink(path);
    free(path);
    rmdir(dir);
}

void register_graphs_knn(void)
{
    static const dc_test_case tests[] = {
        {"vote on three clusters", test_vote_clusters},
        {"vote weights exp(sim/T)", test_vote_weights},
        {"vote = brute force over chunks", test_vote_matches_brute_force},
        {"evaluation transform", test_preprocess},
        {"config text round trip", test_config_text},
        {"raw pixels on Fashion-MNIST", test_raw_pixels_fashion_mnist},
        {"checkpoint path and errors", test_checkpoint},
        {"backbone features = exported backbone", test_backbone_outputs},
        {NULL, NULL},
    };
    dc_add_suite("graphs_knn", tests);
}
