/* The ViT backbone graph (graphs/vit.c) against PyTorch and its definition:
 *   - the bicubic pos-embed matrix matches torch's F.interpolate(bicubic,
 *     align_corners=False, antialias=False) for several grid sizes;
 *   - two small backbones (3-channel GELU with a register and LayerScale;
 *     1-channel SwiGLU without LayerScale), each run on masked global crops
 *     with drop-path and on smaller local crops (bicubic pos-embed) with
 *     shared parameters, match torch's outputs within 1e-5 and the gradients
 *     of Σ out ⊙ R w.r.t. every parameter within 1e-4 relative, in the
 *     reference interpreter and in the compiled plan;
 *   - parameter counts (vit-s/16: 21,675,264 with the mask token), names,
 *     initialisation, and errors on bad configurations and inputs.
 * Reference data: tests/models/vit_reference.py -> tests/models/vit_ref/. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "builder.h"
#include "dc_npy.h"
#include "interpret.h"
#include "pipeline.h"
#include "run_model.h"
#include "test_util.h"
#include "vit.h"

#define REF DINOC_SOURCE_DIR "/tests/models/vit_ref/"
#define PREFIX "student.backbone."

static dc_tensor *load_ref(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, REF "%s%s%s.npy", dir, *dir ? "/" : "", name);
    dc_tensor *t = NULL;
    DC_ASSERT_OK(dc_npy_load(path, &t));
    return t;
}

static bool same_shape(const dc_tensor *a, int rank, const int64_t *dims)
{
    if (a->rank != rank)
        return false;
    for (int i = 0; i < rank; i++)
        if (a->dims[i] != dims[i])
            return false;
    return true;
}

/* max |got − want|, and that divided by max |want|. */
static double max_abs_diff(const dc_tensor *got, const dc_tensor *want, double *relative)
{
    double diff = 0, scale = 1e-30;
    const float *a = got->data, *b = want->data;
    for (uint64_t i = 0; i < dc_tensor_numel(want); i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    if (relative)
        *relative = diff / scale;
    return diff;
}

/* ---- bicubic matrix ------------------------------------------------------------------- */

static void test_bicubic_matches_torch(void)
{
    static const int sizes[][4] = {{8, 8, 6, 6}, {7, 7, 3, 3}, {6, 6, 4, 4}, {4, 4, 7, 7},
                                   {6, 6, 5, 3}, {3, 5, 8, 2}, {14, 1, 6, 1}, {37, 1, 24, 1},
                                   {16, 1, 7, 1}, {2, 1, 9, 1}, {9, 1, 1, 1}};
    double worst = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int *s = sizes[i];
        char name[64];
        snprintf(name, sizeof name, "bicubic_%dx%d_%dx%d", s[0], s[1], s[2], s[3]);
        dc_tensor *want = load_ref("", name), *got = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);
        DC_ASSERT_OK(dc_bicubic_matrix(s[0], s[1], s[2], s[3], &got));
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        const int64_t dims[] = {(int64_t)s[2] * s[3], (int64_t)s[0] * s[1]};
        CU_ASSERT_FATAL(same_shape(got, 2, dims) && same_shape(want, 2, dims));
        double d = max_abs_diff(got, want, NULL);
        if (!(d < 2e-6))
            fprintf(stderr, "\n    %s: max |dinoc - torch| = %.3g\n", name, d);
        CU_ASSERT(d < 2e-6);
        worst = fmax(worst, d);
        /* Rows sum to 1 (partition of unity). */
        for (int64_t r = 0; r < dims[0]; r++) {
            double sum = 0;
            for (int64_t c = 0; c < dims[1]; c++)
                sum += ((const float *)got->data)[r * dims[1] + c];
            CU_ASSERT(fabs(sum - 1) < 1e-5);
        }
        dc_tensor_destroy(want);
        dc_tensor_destroy(got);
    }
    printf("\n    bicubic matrices: max |dinoc - torch| = %.3g over %zu grids ", worst,
           sizeof sizes / sizeof sizes[0]);
    /* The official resize: scale_factor (h + 0.1) / grid, grid -> (h, w). */
    static const int offset_sizes[][3] = {{14, 6, 6}, {4, 2, 2}, {6, 4, 4}, {7, 3, 5},
                                          {16, 7, 7}, {4, 7, 7}, {2, 9, 9}, {37, 24, 24}};
    worst = 0;
    for (size_t i = 0; i < sizeof offset_sizes / sizeof offset_sizes[0]; i++) {
        const int *s = offset_sizes[i];
        char name[64];
        snprintf(name, sizeof name, "bicubic_offset_%dx%d_%dx%d", s[0], s[0], s[1], s[2]);
        dc_tensor *want = load_ref("", name), *got = NULL, *by_size = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(want);
        DC_ASSERT_OK(dc_pos_embed_resize_matrix(s[0], s[1], s[2], 0.1f, &got));
        DC_ASSERT_OK(dc_bicubic_matrix(s[0], s[0], s[1], s[2], &by_size));
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        const int64_t dims[] = {(int64_t)s[1] * s[2], (int64_t)s[0] * s[0]};
        CU_ASSERT_FATAL(same_shape(got, 2, dims) && same_shape(want, 2, dims));
        double d = max_abs_diff(got, want, NULL);
        if (!(d < 2e-6))
            fprintf(stderr, "\n    %s: max |dinoc - torch| = %.3g\n", name, d);
        CU_ASSERT(d < 2e-6);
        worst = fmax(worst, d);
        /* Not the size-based matrix: the two rules differ by 0.025 to 0.32 here. */
        CU_ASSERT(max_abs_diff(by_size, want, NULL) > 1e-2);
        dc_tensor_destroy(want);
        dc_tensor_destroy(got);
        dc_tensor_destroy(by_size);
    }
    printf("\n    offset matrices: max |dinoc - torch| = %.3g over %zu grids ", worst,
           sizeof offset_sizes / sizeof offset_sizes[0]);
    /* An offset that scales past the target is refused, as the official assert. */
    dc_tensor *past = NULL;
    CU_ASSERT_EQUAL(dc_pos_embed_resize_matrix(4, 2, 2, 1.5f, &past), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "does not give 2x2") != NULL);
    CU_ASSERT_PTR_NULL(past);
    /* The identity grid gives the identity matrix. */
    dc_tensor *id;
    DC_ASSERT_OK(dc_bicubic_matrix(5, 5, 5, 5, &id));
    for (int r = 0; r < 25; r++)
        for (int c = 0; c < 25; c++)
            CU_ASSERT(((const float *)id->data)[r * 25 + c] == (r == c ? 1.0f : 0.0f));
    dc_tensor_destroy(id);
    dc_tensor *bad = NULL;
    CU_ASSERT_EQUAL(dc_bicubic_matrix(0, 5, 3, 3, &bad), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(bad);
}

/* ---- parity with torch ---------------------------------------------------------------- */

typedef struct vit_case {
    const char *name;
    dc_vit_config cfg;
    int local;       /* local crop size */
    bool local_keep; /* drop-path on the local pass too */
    int n_params;    /* torch's named_parameters count */
} vit_case;

static const vit_case case_a = {
    "a",
    {.image_size = 24, .patch_size = 4, .in_chans = 3, .embed_dim = 16, .depth = 2,
     .num_heads = 2, .mlp_ratio = 4, .swiglu = false, .n_registers = 1,
     .layerscale_init = 1e-5f, .ln_eps = 1e-6f, .drop_path = 0.25f, .interpolate_offset = 0.1f},
    16, true, 36};
static const vit_case case_b = {
    "b",
    {.image_size = 28, .patch_size = 4, .in_chans = 1, .embed_dim = 8, .depth = 2,
     .num_heads = 2, .mlp_ratio = 4, .swiglu = true, .n_registers = 0, .layerscale_init = 0,
     .ln_eps = 1e-6f, .drop_path = 0.25f},
    12, false, 31};

/* R[i] = float32(sin(0.7·i + 0.3)), as vit_reference.py makes it. */
static dc_value *weights_like(dc_graph *g, const dc_value *v)
{
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < v->type.rank; i++)
        dims[i] = v->type.dims[i].size;
    dc_tensor *t;
    DC_ASSERT_OK(dc_tensor_create(&t, NULL, DC_F32, v->type.rank, dims));
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++)
        ((float *)t->data)[i] = (float)sin(0.7 * (double)i + 0.3);
    return dc_param(g, dc_graph_unique_name(g, "r"), t);
}

typedef struct parity {
    dc_graph *g;
    int n_params;
    dc_value *const *params;
    dc_named_tensor inputs[5];
    int n_inputs;
    int n_outputs; /* out_global, out_local, loss, then one gradient per parameter */
} parity;

static dc_value *input_like(dc_graph *g, parity *p, const char *case_name, const char *name)
{
    dc_tensor *t = load_ref(case_name, name);
    if (!t)
        return NULL;
    p->inputs[p->n_inputs++] = (dc_named_tensor){name, t};
    return dc_input(g, name, t->dtype, t->rank, t->dims);
}

/* Declares the backbone, loads torch's parameters into its state, runs it on
 * global (masked, drop-path) and local crops, and differentiates Σ out ⊙ R. */
static bool build_parity(const vit_case *vc, parity *p)
{
    memset(p, 0, sizeof *p);
    dc_graph *g = p->g = dc_graph_create("vit_parity");
    dc_value *xg = input_like(g, p, vc->name, "x_global");
    dc_value *xl = input_like(g, p, vc->name, "x_local");
    dc_value *mask = input_like(g, p, vc->name, "mask");
    dc_value *keep_g = input_like(g, p, vc->name, "keep_global");
    dc_value *keep_l = vc->local_keep ? input_like(g, p, vc->name, "keep_local") : NULL;
    dc_vit *vit = NULL;
    DC_ASSERT_OK(dc_vit_declare(g, &vc->cfg, PREFIX, 42, &vit));
    if (!vit)
        return false;
    p->n_params = dc_vit_params(vit, &p->params);
    CU_ASSERT_EQUAL(p->n_params, vc->n_params);
    for (int i = 0; i < p->n_params; i++) {
        dc_value *v = p->params[i];
        CU_ASSERT_FATAL(strncmp(v->name, PREFIX, strlen(PREFIX)) == 0);
        dc_tensor *want = load_ref(vc->name, v->name + strlen(PREFIX));
        if (!want)
            return false;
        bool ok = v->is_state && same_shape(want, v->constant->rank, v->constant->dims);
        if (!ok)
            fprintf(stderr, "\n    %s: shape differs from torch's\n", v->name);
        CU_ASSERT(ok);
        if (ok)
            memcpy(v->constant->data, want->data, want->nbytes);
        dc_tensor_destroy(want);
    }
    dc_value *out_g = dc_vit_forward(g, vit, xg, mask, keep_g);
    dc_value *out_l = dc_vit_forward(g, vit, xl, NULL, keep_l);
    dc_value *loss = dc_add(g, dc_reduce(g, "ReduceSum", dc_mul(g, out_g, weights_like(g, out_g)),
                                         NULL, 0, false),
                            dc_reduce(g, "ReduceSum", dc_mul(g, out_l, weights_like(g, out_l)),
                                      NULL, 0, false));
    DC_ASSERT_OK(dc_output(g, out_g));
    DC_ASSERT_OK(dc_output(g, out_l));
    DC_ASSERT_OK(dc_output(g, loss));
    DC_ASSERT_OK(dc_build_status(g));
    if (dc_build_status(g) != DC_OK)
        return false;
    dc_value *grads[64] = {NULL};
    CU_ASSERT_FATAL(p->n_params <= 64);
    DC_ASSERT_OK(dc_autodiff(g, loss, p->params, p->n_params, grads));
    for (int i = 0; i < p->n_params; i++) {
        CU_ASSERT_PTR_NOT_NULL(grads[i]); /* every parameter reaches the loss */
        if (!grads[i])
            return false;
        DC_ASSERT_OK(dc_output(g, grads[i]));
    }
    p->n_outputs = 3 + p->n_params;
    DC_ASSERT_OK(dc_graph_verify(g));
    return dc_build_status(g) == DC_OK;
}

static void free_parity(parity *p)
{
    for (int i = 0; i < p->n_inputs; i++)
        dc_tensor_destroy(p->inputs[i].tensor);
    dc_graph_destroy(p->g);
}

/* Compares out[0..1] and the gradients with torch's; names come from `names`
 * (the parameter names, captured before lowering changes the graph). */
static void check_against_torch(const vit_case *vc, const char *how, dc_tensor **out,
                                char names[][96], int n_params)
{
    static const char *const fwd[] = {"out_global", "out_local"};
    double worst_fwd = 0, worst_grad = 0;
    for (int i = 0; i < 2; i++) {
        dc_tensor *want = load_ref(vc->name, fwd[i]);
        CU_ASSERT_FATAL(want && same_shape(out[i], want->rank, want->dims));
        double d = max_abs_diff(out[i], want, NULL);
        if (!(d < 1e-5))
            fprintf(stderr, "\n    case %s (%s) %s: max |dinoc - torch| = %.3g\n", vc->name, how,
                    fwd[i], d);
        CU_ASSERT(d < 1e-5);
        worst_fwd = fmax(worst_fwd, d);
        dc_tensor_destroy(want);
    }
    for (int i = 0; i < n_params; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", names[i] + strlen(PREFIX));
        dc_tensor *want = load_ref(vc->name, name);
        dc_tensor *got = out[3 + i];
        CU_ASSERT_FATAL(want && same_shape(got, want->rank, want->dims));
        double rel;
        max_abs_diff(got, want, &rel);
        if (!(rel < 1e-4))
            fprintf(stderr, "\n    case %s (%s) d loss / d %s: relative error %.3g\n", vc->name,
                    how, names[i], rel);
        CU_ASSERT(rel < 1e-4);
        worst_grad = fmax(worst_grad, rel);
        dc_tensor_destroy(want);
    }
    printf("\n    case %s, %s: forward max abs err %.2g, gradients max rel err %.2g (%d params) ",
           vc->name, how, worst_fwd, worst_grad, n_params);
}

static void run_interpreted(const vit_case *vc)
{
    parity p;
    bool built = build_parity(vc, &p);
    CU_ASSERT_FATAL(built);
    dc_tensor *in[5], *out[3 + 64] = {NULL};
    for (int i = 0; i < p.n_inputs; i++)
        in[i] = p.inputs[i].tensor;
    char names[64][96];
    for (int i = 0; i < p.n_params; i++)
        snprintf(names[i], sizeof names[i], "%s", p.params[i]->name);
    DC_ASSERT_OK(dc_interpret(p.g, in, p.n_inputs, out));
    if (out[0])
        check_against_torch(vc, "interpreter", out, names, p.n_params);
    for (int i = 0; i < p.n_outputs; i++)
        dc_tensor_destroy(out[i]);
    free_parity(&p);
}

static void run_compiled(const vit_case *vc)
{
    parity p;
    bool built = build_parity(vc, &p);
    CU_ASSERT_FATAL(built);
    char names[64][96];
    for (int i = 0; i < p.n_params; i++)
        snprintf(names[i], sizeof names[i], "%s", p.params[i]->name);
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(p.g, NULL, &plan));
    if (plan) {
        dc_tensor **out = NULL;
        int n_out = 0;
        DC_ASSERT_OK(dc_run_plan(plan, p.inputs, p.n_inputs, NULL, NULL, &out, &n_out));
        CU_ASSERT_EQUAL(n_out, p.n_outputs);
        if (out && n_out == p.n_outputs)
            check_against_torch(vc, "compiled plan", out, names, p.n_params);
        dc_tensors_free(out, n_out);
        dc_plan_destroy(plan);
    }
    free_parity(&p);
}

static void test_gelu_registers_interpreted(void) { run_interpreted(&case_a); }
static void test_swiglu_interpreted(void) { run_interpreted(&case_b); }
static void test_gelu_registers_compiled(void) { run_compiled(&case_a); }
static void test_swiglu_compiled(void) { run_compiled(&case_b); }

/* ---- sizes, names, initialisation ------------------------------------------------------- */

static int64_t declared_elements(const dc_vit *vit)
{
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += (int64_t)dc_tensor_numel(params[i]->constant);
    return total;
}

static void test_param_counts(void)
{
    dc_vit_config c;
    DC_ASSERT_OK(dc_vit_preset("vit-s/16", &c));
    int64_t counted = dc_vit_param_count(&c);
    dc_graph *g = dc_graph_create("vits16");
    dc_vit *vit = NULL;
    DC_ASSERT_OK(dc_vit_declare(g, &c, "", 0, &vit));
    CU_ASSERT_PTR_NOT_NULL_FATAL(vit);
    int64_t declared = declared_elements(vit);
    printf("\n    vit-s/16: %lld parameters declared (%lld counted), mask token included ",
           (long long)declared, (long long)counted);
    CU_ASSERT_EQUAL(declared, 21675264);
    CU_ASSERT_EQUAL(counted, 21675264);
    dc_graph_destroy(g);

    /* timm's totals (vit_*_patch16_224, no LayerScale) minus the 1000-class
     * head, plus two LayerScale vectors per block and the mask token. */
    static const struct { const char *name; int64_t params, dim, depth; } known[] = {
        {"vit-ti/16", 5717416 - 193000, 192, 12},
        {"vit-s16", 22050664 - 385000, 384, 12},
        {"vit-b/16", 86567656 - 769000, 768, 12},
        {"vit-l/16", 304326632 - 1025000, 1024, 24},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        DC_ASSERT_OK(dc_vit_preset(known[i].name, &c));
        CU_ASSERT_EQUAL(dc_vit_param_count(&c),
                        known[i].params + 2 * known[i].depth * known[i].dim + known[i].dim);
    }
    /* vit-g/14: official SwiGLU width 4096, fc1 packs both branches; at the
     * released 518 px (37x37 grid) it has timm's/the official 1136.48 M. */
    DC_ASSERT_OK(dc_vit_preset("vit-g/14", &c));
    CU_ASSERT(c.swiglu && c.embed_dim == 1536 && c.depth == 40 && c.num_heads == 24 &&
              c.patch_size == 14);
    CU_ASSERT_EQUAL(dc_vit_mlp_hidden(&c), 4096);
    printf("\n    vit-g/14 at 224 px: %lld parameters ", (long long)dc_vit_param_count(&c));
    c.image_size = 518;
    CU_ASSERT(llabs(dc_vit_param_count(&c) - 1136480000LL) < 5000);
    CU_ASSERT_EQUAL(dc_vit_preset("vit-h/14", &c), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "vit-s/16") != NULL);

    /* Small configs: declared = counted, with and without registers/SwiGLU/LayerScale. */
    const vit_case *cases[] = {&case_a, &case_b};
    for (int i = 0; i < 2; i++) {
        g = dc_graph_create("count");
        DC_ASSERT_OK(dc_vit_declare(g, &cases[i]->cfg, "t.", 1, &vit));
        CU_ASSERT_EQUAL(declared_elements(vit), dc_vit_param_count(&cases[i]->cfg));
        dc_graph_destroy(g);
    }
}

static const dc_value *param_named(const dc_vit *vit, const char *name)
{
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    for (int i = 0; i < n; i++)
        if (strcmp(params[i]->name, name) == 0)
            return params[i];
    return NULL;
}

static void stats(const dc_value *v, double *mean, double *std, double *maxabs)
{
    const float *p = v->constant->data;
    uint64_t n = dc_tensor_numel(v->constant);
    double s = 0, s2 = 0, m = 0;
    for (uint64_t i = 0; i < n; i++) {
        s += p[i];
        s2 += (double)p[i] * p[i];
        m = fmax(m, fabs(p[i]));
    }
    *mean = s / n;
    *std = sqrt(s2 / n - *mean * *mean);
    *maxabs = m;
}

static bool all_equal(const dc_value *v, float x)
{
    const float *p = v->constant->data;
    for (uint64_t i = 0; i < dc_tensor_numel(v->constant); i++)
        if (p[i] != x)
            return false;
    return true;
}

static void test_names_and_init(void)
{
    dc_vit_config c;
    DC_ASSERT_OK(dc_vit_preset("vit-test/4", &c));
    c.embed_dim = 64; /* enough elements for statistics */
    c.n_registers = 2;
    dc_graph *g = dc_graph_create("init");
    dc_vit *s = NULL, *t = NULL, *other = NULL;
    DC_ASSERT_OK(dc_vit_declare(g, &c, "student.backbone.", 5, &s));
    DC_ASSERT_OK(dc_vit_declare(g, &c, "teacher.backbone.", 5, &t));
    DC_ASSERT_OK(dc_vit_declare(g, &c, "other.", 6, &other));
    CU_ASSERT_FATAL(s && t && other);
    CU_ASSERT(dc_vit_get_config(s)->embed_dim == 64);

    dc_value *const *ps, *const *pt;
    int n = dc_vit_params(s, &ps);
    CU_ASSERT_EQUAL(dc_vit_params(t, &pt), n);
    /* Registers: the official DinoVisionTransformer's state-dict order and names. */
    CU_ASSERT_STRING_EQUAL(ps[0]->name, "student.backbone.cls_token");
    CU_ASSERT_STRING_EQUAL(ps[1]->name, "student.backbone.pos_embed");
    CU_ASSERT_STRING_EQUAL(ps[2]->name, "student.backbone.register_tokens");
    CU_ASSERT_STRING_EQUAL(ps[3]->name, "student.backbone.mask_token");
    CU_ASSERT_EQUAL(ps[3]->type.rank, 2); /* (1, D) */
    CU_ASSERT_STRING_EQUAL(ps[n - 1]->name, "student.backbone.norm.bias");
    static const char *const expected[] = {
        "pos_embed", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias",
        "blocks.1.norm1.weight", "blocks.1.attn.qkv.weight", "blocks.1.attn.qkv.bias",
        "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias", "blocks.1.ls1.gamma",
        "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.bias",
        "blocks.1.ls2.gamma", "norm.weight"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "student.backbone.%s", expected[i]);
        const dc_value *v = param_named(s, name);
        CU_ASSERT_PTR_NOT_NULL(v);
        if (!v)
            fprintf(stderr, "\n    missing parameter %s\n", name);
        else
            CU_ASSERT(v->is_state && v->is_initializer);
    }
    /* The same seed under another prefix gives the same values (teacher = copy of
     * student); another seed gives others. */
    for (int i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(ps[i]->constant->nbytes, pt[i]->constant->nbytes);
        CU_ASSERT(memcmp(ps[i]->constant->data, pt[i]->constant->data, ps[i]->constant->nbytes) == 0);
    }
    const dc_value *q_s = param_named(s, "student.backbone.blocks.0.attn.qkv.weight");
    const dc_value *q_o = param_named(other, "other.blocks.0.attn.qkv.weight");
    CU_ASSERT(memcmp(q_s->constant->data, q_o->constant->data, q_s->constant->nbytes) != 0);
    /* Distinct parameters get distinct streams. */
    const dc_value *q_1 = param_named(s, "student.backbone.blocks.1.attn.qkv.weight");
    CU_ASSERT(memcmp(q_s->constant->data, q_1->constant->data, q_s->constant->nbytes) != 0);

    double mean, std, maxabs;
    /* qkv: xavier_uniform (192, 64): bound √(6/256), std bound/√3. */
    double bound = sqrt(6.0 / (64 + 192));
    stats(q_s, &mean, &std, &maxabs);
    CU_ASSERT(maxabs <= bound && maxabs > 0.98 * bound);
    CU_ASSERT(fabs(std - bound / sqrt(3.0)) < 0.03 * bound);
    CU_ASSERT(fabs(mean) < 0.02 * bound);
    /* Patch embedding: xavier on (64, 3·4·4), bias U(±1/√48). */
    stats(param_named(s, "student.backbone.patch_embed.proj.weight"), &mean, &std, &maxabs);
    bound = sqrt(6.0 / (48 + 64));
    CU_ASSERT(maxabs <= bound && maxabs > 0.95 * bound);
    stats(param_named(s, "student.backbone.patch_embed.proj.bias"), &mean, &std, &maxabs);
    CU_ASSERT(maxabs <= 1 / sqrt(48.0) && maxabs > 0.5 / sqrt(48.0));
    /* cls N(0, 0.02) (64 values), pos trunc_normal(0.02) (65·64 values). */
    stats(param_named(s, "student.backbone.cls_token"), &mean, &std, &maxabs);
    CU_ASSERT(std > 0.014 && std < 0.026);
    stats(param_named(s, "student.backbone.pos_embed"), &mean, &std, &maxabs);
    CU_ASSERT(fabs(std - 0.02) < 0.001 && fabs(mean) < 0.001);
    stats(param_named(s, "student.backbone.register_tokens"), &mean, &std, &maxabs);
    CU_ASSERT(maxabs > 0 && maxabs < 1e-5);
    CU_ASSERT(all_equal(param_named(s, "student.backbone.mask_token"), 0.0f));
    CU_ASSERT(all_equal(param_named(s, "student.backbone.blocks.0.attn.qkv.bias"), 0.0f));
    CU_ASSERT(all_equal(param_named(s, "student.backbone.blocks.1.mlp.fc2.bias"), 0.0f));
    CU_ASSERT(all_equal(param_named(s, "student.backbone.blocks.0.norm1.weight"), 1.0f));
    CU_ASSERT(all_equal(param_named(s, "student.backbone.norm.bias"), 0.0f));
    CU_ASSERT(all_equal(param_named(s, "student.backbone.blocks.1.ls2.gamma"), 1e-5f));
    dc_graph_destroy(g);
}

/* The two layouts' names: timm's without registers (Lightly's mask token
 * (1, 1, D), SwiGLUPacked fc1/fc2), the official one with registers
 * (register_tokens, mask token (1, D), SwiGLU w12/w3). */
static void test_layout_names(void)
{
    for (int registers = 0; registers <= 1; registers++) {
        dc_vit_config c;
        DC_ASSERT_OK(dc_vit_preset("vit-test/4", &c));
        c.swiglu = true;
        c.n_registers = registers;
        dc_graph *g = dc_graph_create("layout");
        dc_vit *vit = NULL;
        DC_ASSERT_OK(dc_vit_declare(g, &c, "b.", 1, &vit));
        CU_ASSERT_PTR_NOT_NULL_FATAL(vit);
        dc_value *const *ps;
        int n = dc_vit_params(vit, &ps);
        const char *const timm[] = {"b.cls_token", "b.pos_embed", "b.mask_token"};
        const char *const official[] = {"b.cls_token", "b.pos_embed", "b.register_tokens",
                                        "b.mask_token"};
        const char *const *want = registers ? official : timm;
        int n_want = registers ? 4 : 3;
        CU_ASSERT_FATAL(n > n_want);
        for (int i = 0; i < n_want; i++)
            CU_ASSERT_STRING_EQUAL(ps[i]->name, want[i]);
        const dc_value *mask = param_named(vit, "b.mask_token");
        CU_ASSERT_EQUAL(mask->type.rank, registers ? 2 : 3);
        const char *w_in = registers ? "b.blocks.0.mlp.w12.weight" : "b.blocks.0.mlp.fc1.weight";
        const char *w_out = registers ? "b.blocks.1.mlp.w3.bias" : "b.blocks.1.mlp.fc2.bias";
        CU_ASSERT_PTR_NOT_NULL(param_named(vit, w_in));
        CU_ASSERT_PTR_NOT_NULL(param_named(vit, w_out));
        dc_graph_destroy(g);
    }
}

/* ---- errors ------------------------------------------------------------------------------ */

static void test_bad_configs_and_inputs(void)
{
    dc_vit_config c, bad;
    DC_ASSERT_OK(dc_vit_preset("vit-test/4", &c));
    dc_vit *vit = (dc_vit *)1;

    bad = c;
    bad.embed_dim = 30; /* 2 heads: fine; 4 heads: not */
    bad.num_heads = 4;
    dc_graph *g = dc_graph_create("bad");
    CU_ASSERT_EQUAL(dc_vit_declare(g, &bad, "s.", 0, &vit), DC_ERR_INVALID);
    CU_ASSERT_PTR_NULL(vit);
    CU_ASSERT(strstr(dc_error_message(), "embed_dim 30 is not a multiple of num_heads 4") != NULL);
    CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_INVALID); /* sticky */
    CU_ASSERT_PTR_NULL(dc_vit_forward(g, NULL, NULL, NULL, NULL));
    dc_graph_destroy(g);

    bad = c;
    bad.image_size = 30;
    CU_ASSERT_EQUAL(dc_vit_check_config(&bad), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "image_size 30 is not a multiple of patch_size 4") != NULL);
    bad = c;
    bad.patch_size = 0;
    CU_ASSERT_EQUAL(dc_vit_check_config(&bad), DC_ERR_INVALID);
    CU_ASSERT(strstr(dc_error_message(), "patch_size = 0") != NULL);
    bad = c;
    bad.mlp_ratio = 0;
    CU_ASSERT_EQUAL(dc_vit_check_config(&bad), DC_ERR_INVALID);
    bad = c;
    bad.drop_path = 1;
    CU_ASSERT_EQUAL(dc_vit_check_config(&bad), DC_ERR_INVALID);
    bad = c;
    bad.n_registers = -1;
    CU_ASSERT_EQUAL(dc_vit_check_config(&bad), DC_ERR_INVALID);
    CU_ASSERT_EQUAL(dc_vit_check_config(NULL), DC_ERR_INVALID);
    CU_ASSERT_EQUAL(dc_vit_param_count(&bad), -1);

    /* Inputs: wrong channels, a size that is not a multiple of the patch, a
     * mask or drop-path tensor of the wrong shape. Each is an error naming
     * the input, and the graph stays usable for nothing else (sticky). */
    struct { int64_t x[4]; int64_t mask[2]; int64_t keep[3]; const char *says; } inputs[] = {
        {{2, 1, 32, 32}, {0}, {0}, "expected f32[B, 3, H, W]"},
        {{2, 3, 30, 32}, {0}, {0}, "multiples of the patch size 4"},
        {{2, 3, 32, 32}, {2, 63}, {0}, "mask 'mask' is f32[2,63], expected f32[2,64]"},
        {{2, 3, 32, 32}, {0}, {2, 2, 3}, "expected f32[2,2,2]"},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        g = dc_graph_create("bad_input");
        DC_ASSERT_OK(dc_vit_declare(g, &c, "s.", 0, &vit));
        dc_value *x = dc_input(g, "x", DC_F32, 4, inputs[i].x);
        dc_value *mask = inputs[i].mask[0] ? dc_input(g, "mask", DC_F32, 2, inputs[i].mask) : NULL;
        dc_value *keep = inputs[i].keep[0] ? dc_input(g, "keep", DC_F32, 3, inputs[i].keep) : NULL;
        CU_ASSERT_PTR_NULL(dc_vit_forward(g, vit, x, mask, keep));
        CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_SHAPE);
        if (!strstr(dc_error_message(), inputs[i].says))
            fprintf(stderr, "\n    message '%s' lacks '%s'\n", dc_error_message(), inputs[i].says);
        CU_ASSERT(strstr(dc_error_message(), inputs[i].says) != NULL);
        dc_graph_destroy(g);
    }

    /* A well-formed call: token count 1 + R + h·w, at the native grid and another. */
    g = dc_graph_create("shapes");
    c.n_registers = 3;
    DC_ASSERT_OK(dc_vit_declare(g, &c, "s.", 0, &vit));
    const int64_t xg[] = {2, 3, 32, 32}, xl[] = {5, 3, 12, 20};
    dc_value *yg = dc_vit_forward(g, vit, dc_input(g, "xg", DC_F32, 4, xg), NULL, NULL);
    dc_value *yl = dc_vit_forward(g, vit, dc_input(g, "xl", DC_F32, 4, xl), NULL, NULL);
    DC_ASSERT_OK(dc_build_status(g));
    CU_ASSERT_FATAL(yg && yl);
    CU_ASSERT(yg->type.rank == 3 && yg->type.dims[0].size == 2 && yg->type.dims[1].size == 1 + 3 + 64 &&
              yg->type.dims[2].size == 32);
    CU_ASSERT(yl->type.dims[0].size == 5 && yl->type.dims[1].size == 1 + 3 + 15);
    dc_graph_destroy(g);
}

/* The student of the Lightly recipe: vit-s/16 on 224 px masked global crops
 * and 96 px local crops (grid 6: resized pos-embed), differentiated; shapes
 * only (nothing runs), so the real-size graph is checked cheaply. */
static void test_vits16_student_graph(void)
{
    dc_vit_config c;
    DC_ASSERT_OK(dc_vit_preset("vit-s/16", &c));
    dc_graph *g = dc_graph_create("vits16_student");
    dc_vit *vit = NULL;
    DC_ASSERT_OK(dc_vit_declare(g, &c, "student.backbone.", 0, &vit));
    CU_ASSERT_PTR_NOT_NULL_FATAL(vit);
    const int64_t xg[] = {4, 3, 224, 224}, xl[] = {16, 3, 96, 96}, mk[] = {4, 196};
    const int64_t kg[] = {12, 2, 4}, kl[] = {12, 2, 16};
    dc_value *yg = dc_vit_forward(g, vit, dc_input(g, "global", DC_F32, 4, xg),
                                  dc_input(g, "mask", DC_F32, 2, mk),
                                  dc_input(g, "keep_global", DC_F32, 3, kg));
    dc_value *yl = dc_vit_forward(g, vit, dc_input(g, "local", DC_F32, 4, xl), NULL,
                                  dc_input(g, "keep_local", DC_F32, 3, kl));
    DC_ASSERT_OK(dc_build_status(g));
    CU_ASSERT_FATAL(yg && yl);
    CU_ASSERT(yg->type.dims[0].size == 4 && yg->type.dims[1].size == 197 &&
              yg->type.dims[2].size == 384);
    CU_ASSERT(yl->type.dims[0].size == 16 && yl->type.dims[1].size == 37);
    /* One resize matrix [36, 196], shared by name. */
    dc_value *m = dc_graph_find_value(g, "pos_embed_bicubic_14x14_to_6x6");
    CU_ASSERT(m && m->is_initializer && !m->is_state && m->type.dims[0].size == 36 &&
              m->type.dims[1].size == 196);
    dc_value *loss = dc_add(g, dc_reduce(g, "ReduceSum", yg, NULL, 0, false),
                            dc_reduce(g, "ReduceSum", yl, NULL, 0, false));
    DC_ASSERT_OK(dc_output(g, loss));
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    dc_value *grads[256] = {NULL};
    CU_ASSERT_FATAL(n == 5 + 12 * 14 + 2 && n <= 256);
    DC_ASSERT_OK(dc_autodiff(g, loss, params, n, grads));
    for (int i = 0; i < n; i++)
        CU_ASSERT(grads[i] && grads[i]->type.rank == params[i]->type.rank);
    DC_ASSERT_OK(dc_graph_verify(g));
    dc_graph_destroy(g);
}

void register_graphs_vit(void)
{
    static const dc_test_case tests[] = {
        {"bicubic pos-embed matrix matches torch", test_bicubic_matches_torch},
        {"official-layout GELU ViT with a register and offset resize matches torch (interpreter)", test_gelu_registers_interpreted},
        {"SwiGLU ViT without LayerScale matches torch (interpreter)", test_swiglu_interpreted},
        {"official-layout GELU ViT with a register and offset resize matches torch (compiled plan)", test_gelu_registers_compiled},
        {"SwiGLU ViT without LayerScale matches torch (compiled plan)", test_swiglu_compiled},
        {"parameter counts: vit-s/16 = 21,675,264 and timm's others", test_param_counts},
        {"names, declaration order and initialisation", test_names_and_init},
        {"timm's layout without registers, the official one with them", test_layout_names},
        {"vit-s/16 student graph (224 + 96 px) builds and differentiates", test_vits16_student_graph},
        {"bad configurations and inputs are errors", test_bad_configs_and_inputs},
        {NULL, NULL},
    };
    dc_add_suite("graphs_vit", tests);
}
