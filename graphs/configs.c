/* The named configs (graphs/DINOV2.md §7) and the field table that drives
 * overrides and printing, so a field is described once. */
#include "configs.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vit.h"

typedef enum { F_INT, F_FLOAT, F_BOOL, F_ENUM } field_kind;

/* The values of the enum fields, by their C value (NULL-terminated). */
static const char *const centering_names[] = {"mean", "sinkhorn", NULL};
static const char *const knn_features_names[] = {"cls", "patch", "both", NULL};
_Static_assert(sizeof(dc_centering) == sizeof(int) && sizeof(dc_knn_features) == sizeof(int),
               "enum fields are stored as int");

static const struct field {
    const char *name;
    field_kind kind;
    size_t offset;
    const char *const *names; /* F_ENUM: the value names */
} fields[] = {
#define FIELD(name, kind, member) {name, kind, offsetof(dc_dinov2_config, member), NULL}
#define ENUM_FIELD(name, member, names) {name, F_ENUM, offsetof(dc_dinov2_config, member), names}
    FIELD("vit.image_size", F_INT, vit.image_size),
    FIELD("vit.patch_size", F_INT, vit.patch_size),
    FIELD("vit.in_chans", F_INT, vit.in_chans),
    FIELD("vit.embed_dim", F_INT, vit.embed_dim),
    FIELD("vit.depth", F_INT, vit.depth),
    FIELD("vit.num_heads", F_INT, vit.num_heads),
    FIELD("vit.mlp_ratio", F_FLOAT, vit.mlp_ratio),
    FIELD("vit.swiglu", F_BOOL, vit.swiglu),
    FIELD("vit.n_registers", F_INT, vit.n_registers),
    FIELD("vit.layerscale_init", F_FLOAT, vit.layerscale_init),
    FIELD("vit.ln_eps", F_FLOAT, vit.ln_eps),
    FIELD("vit.drop_path", F_FLOAT, vit.drop_path),
    FIELD("vit.interpolate_offset", F_FLOAT, vit.interpolate_offset),
    FIELD("head.hidden_dim", F_INT, head.hidden_dim),
    FIELD("head.bottleneck_dim", F_INT, head.bottleneck_dim),
    FIELD("head.output_dim", F_INT, head.output_dim),
    FIELD("ibot_separate_head", F_BOOL, ibot_separate_head),
    FIELD("teacher_heads_copied", F_BOOL, teacher_heads_copied),
    FIELD("batch_size", F_INT, batch_size),
    FIELD("n_local_views", F_INT, n_local_views),
    FIELD("local_crop_size", F_INT, local_crop_size),
    FIELD("global_crop_scale_min", F_FLOAT, global_crop_scale[0]),
    FIELD("global_crop_scale_max", F_FLOAT, global_crop_scale[1]),
    FIELD("local_crop_scale_min", F_FLOAT, local_crop_scale[0]),
    FIELD("local_crop_scale_max", F_FLOAT, local_crop_scale[1]),
    FIELD("hflip_prob", F_FLOAT, hflip_prob),
    FIELD("color_jitter_prob", F_FLOAT, color_jitter_prob),
    FIELD("color_jitter_brightness", F_FLOAT, color_jitter[0]),
    FIELD("color_jitter_contrast", F_FLOAT, color_jitter[1]),
    FIELD("color_jitter_saturation", F_FLOAT, color_jitter[2]),
    FIELD("color_jitter_hue", F_FLOAT, color_jitter[3]),
    FIELD("grayscale_prob", F_FLOAT, grayscale_prob),
    FIELD("blur_prob_global0", F_FLOAT, blur_prob[0]),
    FIELD("blur_prob_global1", F_FLOAT, blur_prob[1]),
    FIELD("blur_prob_local", F_FLOAT, blur_prob[2]),
    FIELD("blur_sigma_global0_min", F_FLOAT, blur_sigma[0][0]),
    FIELD("blur_sigma_global0_max", F_FLOAT, blur_sigma[0][1]),
    FIELD("blur_sigma_global1_min", F_FLOAT, blur_sigma[1][0]),
    FIELD("blur_sigma_global1_max", F_FLOAT, blur_sigma[1][1]),
    FIELD("blur_sigma_local_min", F_FLOAT, blur_sigma[2][0]),
    FIELD("blur_sigma_local_max", F_FLOAT, blur_sigma[2][1]),
    FIELD("solarize_prob", F_FLOAT, solarize_prob),
    FIELD("student_temp", F_FLOAT, student_temp),
    FIELD("teacher_temp", F_FLOAT, teacher_temp),
    FIELD("warmup_teacher_temp", F_FLOAT, warmup_teacher_temp),
    FIELD("warmup_teacher_temp_epochs", F_INT, warmup_teacher_temp_epochs),
    FIELD("center_momentum", F_FLOAT, center_momentum),
    ENUM_FIELD("centering", centering, centering_names),
    FIELD("koleo_weight", F_FLOAT, koleo_weight),
    FIELD("ibot_weight", F_FLOAT, ibot_weight),
    FIELD("mask_ratio_min", F_FLOAT, mask_ratio[0]),
    FIELD("mask_ratio_max", F_FLOAT, mask_ratio[1]),
    FIELD("mask_probability", F_FLOAT, mask_probability),
    FIELD("lr", F_FLOAT, lr),
    FIELD("min_lr", F_FLOAT, min_lr),
    FIELD("warmup_epochs", F_INT, warmup_epochs),
    FIELD("weight_decay", F_FLOAT, weight_decay),
    FIELD("weight_decay_end", F_FLOAT, weight_decay_end),
    FIELD("momentum_teacher", F_FLOAT, momentum_teacher),
    FIELD("momentum_teacher_end", F_FLOAT, momentum_teacher_end),
    FIELD("layerwise_decay", F_FLOAT, layerwise_decay),
    FIELD("patch_embed_lr_mult", F_FLOAT, patch_embed_lr_mult),
    FIELD("clip_grad", F_FLOAT, clip_grad),
    FIELD("clip_grad_per_module", F_BOOL, clip_grad_per_module),
    FIELD("freeze_last_layer_epochs", F_INT, freeze_last_layer_epochs),
    FIELD("wd_on_all_params", F_BOOL, wd_on_all_params),
    FIELD("epochs", F_INT, epochs),
    FIELD("epoch_length", F_INT, epoch_length),
    FIELD("grad_accum_steps", F_INT, grad_accum_steps),
    FIELD("optimizer_sharding", F_BOOL, optimizer_sharding),
    FIELD("masks_per_slice", F_BOOL, masks_per_slice),
    FIELD("allreduce_bucket_mb", F_FLOAT, allreduce_bucket_mb),
    ENUM_FIELD("knn_features", knn_features, knn_features_names),
#undef FIELD
#undef ENUM_FIELD
};
enum { N_FIELDS = sizeof fields / sizeof fields[0] };

/* The Lightly example's recipe (§5, §6) on ViT-S/16, its quirks kept:
 * the last-layer freeze never happens (§7.2) and weight decay applies to
 * every parameter, biases and norms included. */
static void lightly_example(dc_dinov2_config *c)
{
    *c = (dc_dinov2_config){
        .name = "lightly-example",
        .quirks = "kept from Lightly's example (graphs/DINOV2.md §7.2): the last-layer freeze is a no-op "
                  "(freeze_last_layer_epochs = 0); weight decay applies to every parameter, biases "
                  "and norms included (wd_on_all_params); teacher heads start independent of the "
                  "student's (teacher_heads_copied = false); the lr is constant",
        .head = {2048, 256, 65536},
        .batch_size = 64, .n_local_views = 8, .local_crop_size = 96,
        .global_crop_scale = {0.32f, 1.0f}, .local_crop_scale = {0.05f, 0.32f},
        .hflip_prob = 0.5f, .color_jitter_prob = 0.8f, .color_jitter = {0.4f, 0.4f, 0.2f, 0.1f},
        .grayscale_prob = 0.2f, .blur_prob = {1.0f, 0.1f, 0.5f},
        .blur_sigma = {{0.1f, 2.0f}, {0.1f, 2.0f}, {0.1f, 2.0f}}, .solarize_prob = 0.2f,
        .student_temp = 0.1f, .teacher_temp = 0.07f, .warmup_teacher_temp = 0.04f,
        .warmup_teacher_temp_epochs = 30, .center_momentum = 0.9f, .centering = DC_CENTERING_MEAN,
        .koleo_weight = 0.1f, .ibot_weight = 1.0f, .mask_ratio = {0.1f, 0.5f},
        .mask_probability = 0.5f,
        .lr = 1e-3f, .min_lr = 1e-3f, .warmup_epochs = 0,
        .weight_decay = 0.04f, .weight_decay_end = 0.4f,
        .momentum_teacher = 0.992f, .momentum_teacher_end = 1.0f,
        .layerwise_decay = 1.0f, .patch_embed_lr_mult = 1.0f, .clip_grad = 0.0f,
        .freeze_last_layer_epochs = 0, /* Lightly's freeze is a no-op (§7.2) */
        .wd_on_all_params = true, .epochs = 50, .knn_features = DC_KNN_BOTH,
        .grad_accum_steps = 1, .allreduce_bucket_mb = 25.0f,
    };
    dc_vit_preset("vit-s/16", &c->vit);
    c->vit.drop_path = 0.1f;
}

static void lightly_benchmark(dc_dinov2_config *c)
{
    lightly_example(c);
    c->name = "lightly-benchmark";
    c->quirks = NULL;
    dc_vit_preset("vit-b/16", &c->vit);
    c->vit.drop_path = 0.1f;
    c->batch_size = 128;
    c->lr = 0.004f * 0.35355339f; /* 0.004 · √(128/1024) */
    c->min_lr = 1e-6f;
    c->warmup_epochs = 10;
    c->layerwise_decay = 0.9f;
    c->patch_embed_lr_mult = 0.2f;
    c->clip_grad = 3.0f;
    c->freeze_last_layer_epochs = 1;
    c->wd_on_all_params = false;
    c->epochs = 100;
}

/* facebookresearch/dinov2 ssl_default_config (DINOV2.md §7.1): ViT-L/16, heads copied,
 * and the official code's own rules where they differ from Lightly's. */
static void official(dc_dinov2_config *c)
{
    lightly_benchmark(c);
    c->name = "official";
    c->quirks = "kept from the official dinov2 code: gradients are clipped per student module "
                "(backbone, DINO head, iBOT head each to clip_grad, three clip_grad_norm_ calls: "
                "clip_grad_per_module); the pos-embed of a local crop's h x h grid is resized by the "
                "scale factor (h + 0.1) / grid, not to the size h (vit.interpolate_offset = 0.1); an "
                "epoch is 1250 iterations whatever the dataset (OFFICIAL_EPOCH_LENGTH: "
                "epoch_length); Gaussian blur runs with probabilities 0.0 / 0.9 / 0.5 (global 0, "
                "global 1, local), not the nominal 1.0 / 0.1 / 0.5, because its RandomApply "
                "receives 1 - p (dinov2 PR #411: blur_prob_*)";
    dc_vit_preset("vit-l/16", &c->vit);
    c->vit.drop_path = 0.3f;
    c->vit.interpolate_offset = 0.1f;
    c->batch_size = 64;
    c->lr = 0.004f * 0.25f; /* 0.004 · √(64/1024) */
    c->teacher_heads_copied = true;
    c->clip_grad_per_module = true;
    c->blur_prob[0] = 0.0f;
    c->blur_prob[1] = 0.9f;
    c->blur_prob[2] = 0.5f;
    c->epoch_length = 1250;
}

/* The default run, found by tools/sweep.py (README): about ten minutes on two
 * cores for 28×28 grey images. Patch 7 (a 4×4 grid, 2×2 for the 14-pixel
 * local crops) costs half a patch-4 step, so twice the steps fit, and learns
 * more per minute. LayerScale starts at 1: at 1e-5 the blocks add almost
 * nothing, the teacher's cls output is the same for every image, centering
 * removes it and the DINO targets are uniform (collapse at ln K). Teacher
 * heads copied from the student and a teacher temperature of 0.04 throughout
 * give sharp targets from the start. No blur (Lightly's σ up to 2 pixels is
 * a quarter of a 28-pixel image) and no solarization: the sweep measured no
 * gain from them on these images; no drop-path for a model this small trained
 * this briefly. */
static void fashion_mnist(dc_dinov2_config *c)
{
    lightly_example(c);
    c->name = "fashion-mnist";
    c->quirks = NULL;
    c->vit = (dc_vit_config){.image_size = 28, .patch_size = 7, .in_chans = 1, .embed_dim = 64,
                             .depth = 4, .num_heads = 4, .mlp_ratio = 4, .layerscale_init = 1.0f,
                             .ln_eps = 1e-6f, .drop_path = 0.0f};
    c->head = (dc_head_config){256, 64, 1024};
    c->teacher_heads_copied = true;
    c->batch_size = 64;
    c->n_local_views = 4;
    c->local_crop_size = 14;
    c->global_crop_scale[0] = 0.5f;
    c->local_crop_scale[0] = 0.2f;
    c->local_crop_scale[1] = 0.5f;
    c->blur_prob[0] = c->blur_prob[1] = c->blur_prob[2] = 0.0f;
    c->solarize_prob = 0.0f;
    c->teacher_temp = c->warmup_teacher_temp = 0.04f;
    c->lr = 1e-3f;
    c->min_lr = 1e-5f;
    c->warmup_epochs = 1;
    c->wd_on_all_params = false;
    c->freeze_last_layer_epochs = 1;
    c->warmup_teacher_temp_epochs = 1;
    /* 30 epochs of 140 steps: 4200 steps of 64 images (4.5 passes over the
     * training set), 400-500 images/s on two cores with the fused kernels, so
     * about ten minutes; warm-up and the last-layer freeze take the first
     * thirtieth. k-NN was still rising at 1400 steps (79.5%); 4200 reach 82.9%. */
    c->epochs = 30;
    c->epoch_length = 140;
}

/* The same recipe five times longer (within an hour on two cores): 21,000 steps,
 * about 22 passes over the training set; k-NN 87.7%, above raw pixels (85.7%). */
static void fashion_mnist_long(dc_dinov2_config *c)
{
    fashion_mnist(c);
    c->name = "fashion-mnist-long";
    c->epochs = 150; /* 21,000 steps: ~45 minutes at the default's quiet rate */
}

/* Small configs for tests (each a few milliseconds per step). */
static void test_tiny(dc_dinov2_config *c)
{
    lightly_example(c);
    c->name = "test-tiny";
    c->quirks = NULL;
    c->vit = (dc_vit_config){.image_size = 16, .patch_size = 4, .in_chans = 3, .embed_dim = 32,
                             .depth = 2, .num_heads = 2, .mlp_ratio = 2, .layerscale_init = 1e-5f,
                             .ln_eps = 1e-6f, .drop_path = 0.1f};
    c->head = (dc_head_config){48, 16, 64};
    c->batch_size = 2;
    c->n_local_views = 2;
    c->local_crop_size = 8;
    c->ibot_separate_head = true;
}

static void test_sinkhorn(dc_dinov2_config *c)
{
    test_tiny(c);
    c->name = "test-sinkhorn";
    c->vit.n_registers = 2;
    c->vit.drop_path = 0.0f;
    c->ibot_separate_head = false;
    c->teacher_heads_copied = true;
    c->centering = DC_CENTERING_SINKHORN;
}

static const struct {
    const char *name;
    void (*fill)(dc_dinov2_config *);
} named[] = {
    {"lightly-example", lightly_example}, {"lightly-benchmark", lightly_benchmark},
    {"official", official},               {"fashion-mnist", fashion_mnist},
    {"fashion-mnist-long", fashion_mnist_long},
    {"test-tiny", test_tiny},             {"test-sinkhorn", test_sinkhorn},
};
enum { N_NAMED = sizeof named / sizeof named[0] };

const char *const *dc_config_names(void)
{
    static const char *names[N_NAMED + 1];
    for (int i = 0; i < N_NAMED; i++)
        names[i] = named[i].name;
    return names;
}

dc_status dc_config_named(const char *name, dc_dinov2_config *out)
{
    for (int i = 0; i < N_NAMED; i++)
        if (strcmp(named[i].name, name) == 0) {
            named[i].fill(out);
            return DC_OK;
        }
    char list[256] = "";
    for (int i = 0; i < N_NAMED; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", named[i].name);
    return dc_error(DC_ERR_INVALID, "unknown config '%s' (known: %s)", name, list);
}

dc_status dc_config_override(dc_dinov2_config *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return dc_error(DC_ERR_INVALID, "override '%s': expected FIELD=VALUE", assignment);
    size_t len = (size_t)(eq - assignment);
    const char *value = eq + 1;
    for (int i = 0; i < N_FIELDS; i++) {
        if (strlen(fields[i].name) != len || strncmp(fields[i].name, assignment, len) != 0)
            continue;
        void *at = (char *)c + fields[i].offset;
        char *end = NULL;
        switch (fields[i].kind) {
        case F_INT: {
            long v = strtol(value, &end, 10);
            if (*value && !*end && v >= 0 && v <= 1 << 30) {
                *(int *)at = (int)v;
                return DC_OK;
            }
            break;
        }
        case F_FLOAT: {
            float v = strtof(value, &end);
            if (*value && !*end) {
                *(float *)at = v;
                return DC_OK;
            }
            break;
        }
        case F_BOOL:
            if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "false") || !strcmp(value, "0")) {
                *(bool *)at = !strcmp(value, "true") || !strcmp(value, "1");
                return DC_OK;
            }
            break;
        case F_ENUM:
            for (int v = 0; fields[i].names[v]; v++)
                if (!strcmp(value, fields[i].names[v])) {
                    *(int *)at = v;
                    return DC_OK;
                }
            break;
        }
        char choices[128] = "";
        for (int v = 0; fields[i].kind == F_ENUM && fields[i].names[v]; v++)
            snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s",
                     v ? "/" : "one of ", fields[i].names[v]);
        return dc_error(DC_ERR_INVALID, "override '%s': '%s' is not a valid %s", assignment, value,
                        fields[i].kind == F_INT     ? "non-negative integer"
                        : fields[i].kind == F_FLOAT ? "number"
                        : fields[i].kind == F_BOOL  ? "boolean (true/false)"
                                                    : choices);
    }
    return dc_error(DC_ERR_INVALID, "override '%s': no field '%.*s' (see `dinoc config NAME`)",
                    assignment, (int)len, assignment);
}

dc_status dc_config_validate(const dc_dinov2_config *c)
{
    const dc_vit_config *v = &c->vit;
#define REQUIRE(cond, ...)                               \
    do {                                                 \
        if (!(cond))                                     \
            return dc_error(DC_ERR_INVALID, __VA_ARGS__); \
    } while (0)
    REQUIRE(v->patch_size > 0 && v->image_size > 0 && v->image_size % v->patch_size == 0,
            "config '%s': vit.image_size %d is not a multiple of vit.patch_size %d", c->name,
            v->image_size, v->patch_size);
    REQUIRE(c->n_local_views == 0 || (c->local_crop_size > 0 && c->local_crop_size % v->patch_size == 0),
            "config '%s': local_crop_size %d is not a multiple of vit.patch_size %d", c->name,
            c->local_crop_size, v->patch_size);
    REQUIRE(v->num_heads > 0 && v->embed_dim > 0 && v->embed_dim % v->num_heads == 0,
            "config '%s': vit.embed_dim %d is not divisible by vit.num_heads %d", c->name,
            v->embed_dim, v->num_heads);
    REQUIRE(v->depth > 0 && v->in_chans > 0 && v->mlp_ratio > 0,
            "config '%s': vit.depth, vit.in_chans and vit.mlp_ratio must be positive", c->name);
    REQUIRE(v->drop_path >= 0 && v->drop_path < 1, "config '%s': vit.drop_path %g is not in [0, 1)",
            c->name, v->drop_path);
    REQUIRE(c->head.hidden_dim > 0 && c->head.bottleneck_dim > 0 && c->head.output_dim > 1,
            "config '%s': head dims must be positive (output_dim > 1)", c->name);
    REQUIRE(c->batch_size >= 2, "config '%s': batch_size %d; KoLeo needs at least 2 images (its "
            "nearest neighbour is another image)", c->name, c->batch_size);
    REQUIRE(c->student_temp > 0 && c->teacher_temp > 0 && c->warmup_teacher_temp > 0,
            "config '%s': temperatures must be positive", c->name);
    REQUIRE(c->mask_ratio[0] >= 0 && c->mask_ratio[0] <= c->mask_ratio[1] && c->mask_ratio[1] < 1,
            "config '%s': mask_ratio [%g, %g] must satisfy 0 <= min <= max < 1", c->name,
            c->mask_ratio[0], c->mask_ratio[1]);
    REQUIRE(c->epochs > 0, "config '%s': epochs must be positive", c->name);
    REQUIRE(v->interpolate_offset >= 0 && v->interpolate_offset < 1,
            "config '%s': vit.interpolate_offset %g is not in [0, 1)", c->name, v->interpolate_offset);
    REQUIRE(c->clip_grad >= 0, "config '%s': clip_grad %g is negative", c->name, c->clip_grad);
    REQUIRE(c->grad_accum_steps >= 1 && c->batch_size % c->grad_accum_steps == 0,
            "config '%s': grad_accum_steps %d must be >= 1 and divide batch_size %d", c->name,
            c->grad_accum_steps, c->batch_size);
    REQUIRE(c->allreduce_bucket_mb > 0, "config '%s': allreduce_bucket_mb %g must be positive",
            c->name, c->allreduce_bucket_mb);
    /* The augmentation's ranges, named as the fields are (the batcher checks them again). */
    const struct {
        const char *name;
        float p;
    } probs[] = {{"hflip_prob", c->hflip_prob},         {"color_jitter_prob", c->color_jitter_prob},
                 {"grayscale_prob", c->grayscale_prob}, {"blur_prob_global0", c->blur_prob[0]},
                 {"blur_prob_global1", c->blur_prob[1]}, {"blur_prob_local", c->blur_prob[2]},
                 {"solarize_prob", c->solarize_prob}};
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
        REQUIRE(probs[i].p >= 0 && probs[i].p <= 1, "config '%s': %s %g is not in [0, 1]", c->name,
                probs[i].name, probs[i].p);
    static const char *const jitter[4] = {"brightness", "contrast", "saturation", "hue"};
    for (int i = 0; i < 4; i++)
        REQUIRE(c->color_jitter[i] >= 0 && c->color_jitter[i] <= (i == 3 ? 0.5f : 100.0f),
                "config '%s': color_jitter_%s %g is not in [0, %s]", c->name, jitter[i],
                c->color_jitter[i], i == 3 ? "0.5" : "100");
    static const char *const view[3] = {"global0", "global1", "local"};
    for (int v = 0; v < 3; v++)
        REQUIRE(c->blur_prob[v] == 0 || (c->blur_sigma[v][0] > 0 &&
                                          c->blur_sigma[v][0] <= c->blur_sigma[v][1] &&
                                          c->blur_sigma[v][1] <= 100),
                "config '%s': blur_sigma_%s (%g, %g) must satisfy 0 < min <= max <= 100", c->name,
                view[v], c->blur_sigma[v][0], c->blur_sigma[v][1]);
#undef REQUIRE
    return DC_OK;
}

/* The shortest of %.6g..%.9g that reads back as the same float, so a
 * checkpoint's config text restores the config exactly and stays readable. */
static void print_float(FILE *out, float v)
{
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtof(buf, NULL) == v)
            break;
    }
    fprintf(out, "%s\n", buf);
}

void dc_config_print(const dc_dinov2_config *c, FILE *out)
{
    if (c->quirks)
        fprintf(out, "# note: %s\n", c->quirks);
    fprintf(out, "name = %s\n", c->name);
    for (int i = 0; i < N_FIELDS; i++) {
        const void *at = (const char *)c + fields[i].offset;
        fprintf(out, "%s = ", fields[i].name);
        switch (fields[i].kind) {
        case F_INT: fprintf(out, "%d\n", *(const int *)at); break;
        case F_FLOAT: print_float(out, *(const float *)at); break;
        case F_BOOL: fprintf(out, "%s\n", *(const bool *)at ? "true" : "false"); break;
        case F_ENUM: fprintf(out, "%s\n", fields[i].names[*(const int *)at]); break;
        }
    }
}

char *dc_config_text(const dc_dinov2_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    dc_config_print(c, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* One line of config text as "field=value" in buf; *has is false for blank and comment lines. */
static dc_status config_line(const char *line, size_t len, int line_no, char *buf, size_t size,
                             bool *has)
{
    *has = false;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t start = strspn(line, " \t");
    if (start >= len || line[start] == '#')
        return DC_OK;
    const char *key = line + start, *end = line + len;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (!eq)
        return dc_error(DC_ERR_PARSE, "config text line %d: expected 'field = value', found '%.*s'",
                        line_no, (int)(end - key), key);
    size_t klen = (size_t)(eq - key);
    while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t'))
        klen--;
    const char *value = eq + 1;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    size_t vlen = (size_t)(end - value);
    if (klen + vlen + 2 > size)
        return dc_error(DC_ERR_PARSE, "config text line %d: line too long", line_no);
    memcpy(buf, key, klen);
    buf[klen] = '=';
    memcpy(buf + klen + 1, value, vlen);
    buf[klen + 1 + vlen] = '\0';
    *has = true;
    return DC_OK;
}

dc_status dc_config_from_text(const char *text, dc_dinov2_config *out)
{
    /* Two passes: the name first (wherever its line is), then the overrides. */
    for (int pass = 0; pass < 2; pass++) {
        bool named_seen = false;
        int line_no = 0;
        for (const char *line = text; *line;) {
            size_t len = strcspn(line, "\n");
            char buf[256];
            bool has;
            DC_TRY(config_line(line, len, ++line_no, buf, sizeof buf, &has));
            line += len + (line[len] == '\n');
            if (!has)
                continue;
            bool is_name = strncmp(buf, "name=", 5) == 0;
            dc_status s = DC_OK;
            if (is_name && pass == 0) {
                if (named_seen)
                    return dc_error(DC_ERR_PARSE, "config text line %d: a second 'name' line", line_no);
                named_seen = true;
                s = dc_config_named(buf + 5, out);
            } else if (!is_name && pass == 1) {
                s = dc_config_override(out, buf);
            }
            if (s != DC_OK)
                return dc_error_context(s, "config text line %d", line_no);
        }
        if (pass == 0 && !named_seen)
            return dc_error(DC_ERR_PARSE, "config text: no 'name = CONFIG' line");
    }
    return dc_config_validate(out);
}

dc_status dc_config_of_checkpoint(const dc_safetensors *ckpt, dc_dinov2_config *out)
{
    const char *text = dc_safetensors_meta(ckpt, "config");
    if (!text)
        return dc_error(DC_ERR_INVALID,
                        "no \"config\" metadata (not a checkpoint of `dinoc train`?)");
    return dc_config_from_text(text, out);
}

void dc_config_normalization(const dc_dinov2_config *c, float mean[3], float std[3])
{
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    for (int i = 0; i < 3; i++) {
        mean[i] = i < c->vit.in_chans ? imagenet_mean[i] : 0.0f;
        std[i] = i < c->vit.in_chans ? imagenet_std[i] : 1.0f;
    }
    if (c->vit.in_chans == 1) {
        mean[0] = 0.2860f;
        std[0] = 0.3530f;
    }
}
